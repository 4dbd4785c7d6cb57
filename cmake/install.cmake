# Install rules: `cmake --install build --prefix P` puts the engine binaries in P/bin, the
# shared libraries a job links in P/lib, their headers (plus the generated *.pb.h) in
# P/include and the package files in P/lib/cmake/Eddy, so that a project of its own can
# `find_package(Eddy)` and `eddy_add_job(...)` (cmake/README.md). Included at the end of
# the top-level CMakeLists.txt, once every target exists.
include(CMakePackageConfigHelpers)

# The libraries a job .so links (and their dependencies among ours), exported as eddy::<name>.
set(EDDY_EXPORTED_LIBS eddy_proto eddy_common eddy_fs eddy_api eddy_connectors)
set(EDDY_BINARIES eddy eddy-jobmanager eddy-taskmanager)
# Fixed layout (not GNUInstallDirs' lib/<multiarch>): bin/ and lib/ are siblings as in the
# build tree, which the relative RPATH below relies on. The include directory must match
# $<INSTALL_INTERFACE:include> in cmake/eddy_library.cmake and common/CMakeLists.txt.
set(EDDY_INSTALL_BINDIR bin)
set(EDDY_INSTALL_LIBDIR lib)
set(EDDY_INSTALL_INCLUDEDIR include)
set(EDDY_INSTALL_CMAKEDIR lib/cmake/Eddy)

foreach(lib ${EDDY_EXPORTED_LIBS})
  string(REGEX REPLACE "^eddy_" "" name ${lib})
  set_target_properties(${lib} PROPERTIES
    EXPORT_NAME ${name}              # eddy_api -> eddy::api, as inside this project
    INSTALL_RPATH "$ORIGIN")         # finds its siblings in build/lib and P/lib
  # Usage requirements that the tree gets from directory-wide settings in the top-level
  # CMakeLists.txt; a consumer of the installed package gets them from the targets. Empty
  # in-tree ($<INSTALL_INTERFACE:...>), so our own build is unchanged.
  target_compile_features(${lib} INTERFACE $<INSTALL_INTERFACE:cxx_std_20>)
  # The headers of common/rpc include Boost.Asio, whose class layouts depend on this.
  target_compile_definitions(${lib} INTERFACE $<INSTALL_INTERFACE:BOOST_ASIO_NO_DEPRECATED>)
  # Sanitized libraries need the sanitizer runtime: a job .so links it too (it then runs in
  # the sanitized binaries of the same install; the job's own code is not instrumented).
  if(EDDY_SANITIZE)
    target_link_options(${lib} INTERFACE $<INSTALL_INTERFACE:-fsanitize=address,undefined>)
  endif()
  if(EDDY_TSAN)
    target_link_options(${lib} INTERFACE $<INSTALL_INTERFACE:-fsanitize=thread>)
  endif()
endforeach()

# RPATH: the same relative one in the build tree (bin/ and lib/ are siblings there too) and
# in P, so installing copies the files unchanged. The alternative, CMake rewriting an
# absolute build RPATH at install time, pads it with a trailing ':', which makes the dynamic
# loader search the current directory. Dependencies outside the system directories (none
# with Debian packages) stay reachable through INSTALL_RPATH_USE_LINK_PATH.
set_target_properties(${EDDY_BINARIES} PROPERTIES INSTALL_RPATH "$ORIGIN/../lib")
set_target_properties(${EDDY_EXPORTED_LIBS} ${EDDY_BINARIES} PROPERTIES
  BUILD_WITH_INSTALL_RPATH ON
  INSTALL_RPATH_USE_LINK_PATH ON)

install(TARGETS ${EDDY_EXPORTED_LIBS} EXPORT EddyTargets
  LIBRARY DESTINATION ${EDDY_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${EDDY_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${EDDY_INSTALL_BINDIR})
install(TARGETS ${EDDY_BINARIES} RUNTIME DESTINATION ${EDDY_INSTALL_BINDIR})

# Headers keep their paths relative to the source root ("api/job.h"); the generated protobuf
# headers theirs relative to the build root ("common/proto/job.pb.h").
foreach(dir api common connectors)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/${dir}/ DESTINATION ${EDDY_INSTALL_INCLUDEDIR}/${dir}
          FILES_MATCHING PATTERN "*.h")
endforeach()
install(DIRECTORY ${PROJECT_BINARY_DIR}/common/proto/
        DESTINATION ${EDDY_INSTALL_INCLUDEDIR}/common/proto
        FILES_MATCHING PATTERN "*.pb.h")

install(EXPORT EddyTargets NAMESPACE eddy:: DESTINATION ${EDDY_INSTALL_CMAKEDIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/EddyConfig.cmake.in
  ${PROJECT_BINARY_DIR}/cmake/EddyConfig.cmake
  INSTALL_DESTINATION ${EDDY_INSTALL_CMAKEDIR}
  PATH_VARS EDDY_INSTALL_BINDIR)
# A job .so compiles our header templates and links our unversioned shared libraries, so it
# should be built against the Eddy release that runs it (the engine's ABI stamp check only
# catches a job API or compiler mismatch): find_package(Eddy 0.1) accepts 0.1.x only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/cmake/EddyConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES
    ${PROJECT_BINARY_DIR}/cmake/EddyConfig.cmake
    ${PROJECT_BINARY_DIR}/cmake/EddyConfigVersion.cmake
    ${PROJECT_SOURCE_DIR}/cmake/EddyJob.cmake
  DESTINATION ${EDDY_INSTALL_CMAKEDIR})
