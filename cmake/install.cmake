# Install rules: headers, the exported target mmkit::mmkit, a CMake package
# (mmkitConfig.cmake + version file) and a pkg-config file.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(MMKIT_CMAKE_INSTALL_DIR "${CMAKE_INSTALL_DATADIR}/cmake/mmkit"
  CACHE STRING "Where mmkitConfig.cmake is installed (relative to the prefix)")

if(MMKIT_USE_FILE_SETS)
  install(TARGETS mmkit
    EXPORT mmkitTargets
    FILE_SET HEADERS DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  # CMake 3.22: the same headers, listed in CMakeLists.txt.
  install(TARGETS mmkit EXPORT mmkitTargets)
  foreach(header IN LISTS MMKIT_ALL_HEADERS)
    string(REPLACE "include/" "" relative "${header}")
    get_filename_component(dir "${relative}" DIRECTORY)
    install(FILES "${header}"
      DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/${dir}")
  endforeach()
endif()

install(EXPORT mmkitTargets
  NAMESPACE mmkit::
  DESTINATION "${MMKIT_CMAKE_INSTALL_DIR}")

configure_package_config_file(
  "${PROJECT_SOURCE_DIR}/cmake/mmkitConfig.cmake.in"
  "${PROJECT_BINARY_DIR}/mmkitConfig.cmake"
  INSTALL_DESTINATION "${MMKIT_CMAKE_INSTALL_DIR}")

# A header-only package works for any architecture; a consumer accepts any
# 0.1.x when it asks for 0.1.
write_basic_package_version_file(
  "${PROJECT_BINARY_DIR}/mmkitConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion
  ARCH_INDEPENDENT)

install(FILES
  "${PROJECT_BINARY_DIR}/mmkitConfig.cmake"
  "${PROJECT_BINARY_DIR}/mmkitConfigVersion.cmake"
  DESTINATION "${MMKIT_CMAKE_INSTALL_DIR}")

configure_file("${PROJECT_SOURCE_DIR}/cmake/mmkit.pc.in"
  "${PROJECT_BINARY_DIR}/mmkit.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/mmkit.pc"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/pkgconfig")

install(FILES "${PROJECT_SOURCE_DIR}/LICENSE"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/mmkit")
