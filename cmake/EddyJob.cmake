# eddy_add_job(<name> SRCS <files...> [OUTPUT_DIR <dir>])
# Builds a job library <name>.so (a MODULE: dlopen-ed by eddy run and TaskManagers) from
# sources that define EDDY_JOB(...). Inside this project it lands in build/examples/; in
# your own project (find_package(Eddy)) in ${CMAKE_BINARY_DIR} unless OUTPUT_DIR is given.
function(eddy_add_job name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIR" "SRCS" ${ARGN})
  if(NOT ARG_SRCS)
    message(FATAL_ERROR "eddy_add_job(${name}): SRCS is required")
  endif()
  add_library(${name} MODULE ${ARG_SRCS})
  target_link_libraries(${name} PRIVATE eddy::api eddy::connectors)
  if(NOT ARG_OUTPUT_DIR)
    if(TARGET eddy_common)
      set(ARG_OUTPUT_DIR ${PROJECT_BINARY_DIR}/examples)
    else()
      set(ARG_OUTPUT_DIR ${CMAKE_BINARY_DIR})
    endif()
  endif()
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIR}
    CXX_VISIBILITY_PRESET hidden
    CXX_STANDARD 20)
  if(COMMAND eddy_target_options)
    eddy_target_options(${name})
  endif()
endfunction()
