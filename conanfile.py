# Conan 2 recipe for mmkit, a header-only library: the package holds the
# headers and the CMake package files, and its id does not depend on the
# consumer's settings.
import os

from conan import ConanFile
from conan.tools.cmake import CMake, CMakeToolchain, cmake_layout
from conan.tools.files import copy


class MmkitConan(ConanFile):
    name = "mmkit"
    version = "0.1.0"
    license = "MIT"
    description = ("Header-only C++20 address-space and pager primitives "
                   "modelled on the Windows NT memory manager")
    topics = ("memory-manager", "page-tables", "emulation", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    exports_sources = ("CMakeLists.txt", "cmake/*", "include/*", "LICENSE")
    no_copy_source = True

    def requirements(self):
        # The VAD tree is built on Boost.Intrusive; only headers are needed.
        self.requires("boost/[>=1.74]", options={"header_only": True})

    def layout(self):
        cmake_layout(self)

    def generate(self):
        tc = CMakeToolchain(self)
        tc.cache_variables["MMKIT_BUILD_TESTS"] = False
        tc.cache_variables["MMKIT_BUILD_EXAMPLES"] = False
        tc.cache_variables["MMKIT_BUILD_BENCHMARKS"] = False
        tc.cache_variables["MMKIT_BUILD_TOOLS"] = False
        tc.cache_variables["MMKIT_INSTALL"] = True
        tc.generate()

    def package(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.install()
        copy(self, "LICENSE", self.source_folder,
             os.path.join(self.package_folder, "licenses"))

    def package_id(self):
        self.info.clear()

    def package_info(self):
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.set_property("cmake_file_name", "mmkit")
        self.cpp_info.set_property("cmake_target_name", "mmkit::mmkit")
        self.cpp_info.set_property("pkg_config_name", "mmkit")
        self.cpp_info.requires = ["boost::headers"]
