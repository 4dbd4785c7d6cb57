# eddy_library(NAME <name> [SHARED] SRCS ... [DEPS ...] [PUBLIC_DEPS ...])
# Makes target eddy_<name> with alias eddy::<name>; static unless SHARED. Libraries that job
# plugins (.so) link are SHARED so that the engine and every plugin use one copy of their
# code and globals (protobuf descriptors may be registered only once per process). Our warnings (-Werror) apply to our
# targets only; dependencies are linked through their imported targets.
function(eddy_target_options target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-missing-field-initializers)
endfunction()

function(eddy_library)
  cmake_parse_arguments(ARG "SHARED" "NAME" "SRCS;DEPS;PUBLIC_DEPS" ${ARGN})
  set(target eddy_${ARG_NAME})
  if(ARG_SHARED)
    add_library(${target} SHARED ${ARG_SRCS})
  else()
    add_library(${target} STATIC ${ARG_SRCS})
  endif()
  add_library(eddy::${ARG_NAME} ALIAS ${target})
  # Headers are included by path from the source root ("common/status.h") and generated
  # protobuf headers from the build root ("common/proto/job.pb.h"); installed, both live
  # under <prefix>/include (cmake/install.cmake).
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}> $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}>
    $<INSTALL_INTERFACE:include>)
  target_link_libraries(${target} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_DEPS})
  set_target_properties(${target} PROPERTIES POSITION_INDEPENDENT_CODE ON)
  eddy_target_options(${target})
endfunction()

# eddy_executable(NAME <binary> SRCS ... DEPS ...)
function(eddy_executable)
  cmake_parse_arguments(ARG "" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  eddy_target_options(${ARG_NAME})
endfunction()

# eddy_test(NAME <name> SRCS ... DEPS ... [LABELS ...] [TIMEOUT s])
function(eddy_test)
  cmake_parse_arguments(ARG "" "NAME;TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SRCS})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  target_compile_definitions(${ARG_NAME} PRIVATE EDDY_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  set_target_properties(${ARG_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  eddy_target_options(${ARG_NAME})
  include(GoogleTest)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  gtest_discover_tests(${ARG_NAME}
    PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
               ENVIRONMENT "EDDY_BIN_DIR=${CMAKE_BINARY_DIR}/bin"
    DISCOVERY_TIMEOUT 60)
endfunction()
