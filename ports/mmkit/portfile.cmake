# vcpkg port for mmkit, a header-only library: fetches a release archive
# from GitHub and installs the headers, the CMake package (mmkitConfig.cmake,
# target mmkit::mmkit) and mmkit.pc through mmkit's own install rules.
#
#   vcpkg install mmkit --overlay-ports=<checkout>/ports
#
# Whoever cuts a release fills in the three placeholders below (ports/README.md
# says how): the repository the release is published under, the tag (REF
# follows "version" in vcpkg.json: tag v0.1.0 for 0.1.0), and the SHA512 of
# GitHub's archive of that tag. With SHA512 0, vcpkg downloads the archive,
# refuses it and prints the hash it found ("Actual hash: ...").
set(VCPKG_BUILD_TYPE release)  # header-only: one configuration is enough

vcpkg_from_github(
  OUT_SOURCE_PATH SOURCE_PATH
  REPO OWNER/mmkit  # placeholder: the GitHub owner/name of the release
  REF "v${VERSION}"
  SHA512 0          # placeholder: sha512sum of the archive of REF
  HEAD_REF main
)

# Only the library: no tests, examples, benchmarks or mmkit-translate, so the
# port needs nothing but a compiler and the Boost headers.
vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DMMKIT_BUILD_TESTS=OFF
    -DMMKIT_BUILD_EXAMPLES=OFF
    -DMMKIT_BUILD_BENCHMARKS=OFF
    -DMMKIT_BUILD_TOOLS=OFF
    -DMMKIT_BUILD_DOCS=OFF
    -DMMKIT_INSTALL=ON
    -DMMKIT_CMAKE_INSTALL_DIR=share/mmkit
)
vcpkg_cmake_install()
# mmkitConfig.cmake calls find_dependency(Boost 1.74 CONFIG) and links
# Boost::headers: vcpkg.json's boost-headers brings both (BoostConfig.cmake
# through boost-cmake), boost-intrusive the headers mmkit includes.
vcpkg_cmake_config_fixup(PACKAGE_NAME mmkit CONFIG_PATH share/mmkit)
vcpkg_fixup_pkgconfig()

# Header-only: nothing belongs in the debug tree, and the licence mmkit's
# install puts under share/doc goes where vcpkg wants it.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/share/doc")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
