# vcpkg overlay port for mmkit: installs the headers and the CMake package
# through mmkit's own install rules. Use it from a checkout with
#   vcpkg install mmkit --overlay-ports=<checkout>/ports
# (the source is the checkout this port sits in).
set(VCPKG_BUILD_TYPE release)  # header-only: one configuration is enough

get_filename_component(MMKIT_SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
set(SOURCE_PATH "${MMKIT_SOURCE_PATH}")

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DMMKIT_BUILD_TESTS=OFF
    -DMMKIT_BUILD_EXAMPLES=OFF
    -DMMKIT_BUILD_BENCHMARKS=OFF
    -DMMKIT_BUILD_TOOLS=OFF
    -DMMKIT_INSTALL=ON
    -DMMKIT_CMAKE_INSTALL_DIR=share/mmkit
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(PACKAGE_NAME mmkit CONFIG_PATH share/mmkit)
vcpkg_fixup_pkgconfig()

# Header-only: nothing belongs in the debug tree.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug")
file(INSTALL "${SOURCE_PATH}/LICENSE"
  DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}" RENAME copyright)
