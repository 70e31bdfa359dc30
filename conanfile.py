# Conan 2 recipe for mmkit, a header-only C++20 library.
#
#   conan create . --build=missing              package it and run test_package
#   conan install . -c user.mmkit:tests=True    a checkout's dependencies, with
#                                               doctest, for building the tests
#
# The package holds the headers and the licence; CMakeDeps writes the CMake
# package (find_package(mmkit) and the target mmkit::mmkit, as mmkit's own
# install does) and PkgConfigDeps an mmkit.pc. One package serves every
# configuration: package_id() clears the settings, which exist only so that
# validate() can check the consumer's compiler and C++ standard.
#
# Boost: mmkit's VAD tree includes Boost.Intrusive, which is headers only,
# so the package needs boost::headers and nothing else. The recipe does not
# set boost's options: a consumer that wants no compiled Boost at all says
# `-o boost/*:header_only=True` itself.
#
# Not run where it was written (that machine had no Conan and no network);
# written against the Conan 2 reference.
import os

from conan import ConanFile
from conan.errors import ConanInvalidConfiguration
from conan.tools.build import check_min_cppstd
from conan.tools.cmake import CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy
from conan.tools.scm import Version

required_conan_version = ">=2.0"


class MmkitConan(ConanFile):
    name = "mmkit"
    version = "0.1.0"
    license = "MIT"
    description = ("Header-only C++20 address-space and pager primitives "
                   "modelled on the Windows NT memory manager")
    topics = ("memory-manager", "page-tables", "emulation", "forensics",
              "freestanding", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    exports_sources = "include/*", "LICENSE"
    no_copy_source = True

    # The compilers mmkit is built and tested with (README, "What mmkit is").
    # Older ones may work; they are refused rather than promised.
    _minimum_compilers = {"gcc": "12", "clang": "14"}

    @property
    def _with_tests(self):
        return self.conf.get("user.mmkit:tests", default=False, check_type=bool)

    def layout(self):
        cmake_layout(self)

    def requirements(self):
        # A header-library's requirements are transitive_headers (and libs)
        # by default; spelled out because every consumer compiles
        # <boost/intrusive/avltree.hpp> through mmkit's headers.
        self.requires("boost/[>=1.74 <2]", transitive_headers=True)

    def build_requirements(self):
        # The test suite's framework, for a developer's `conan install .`
        # of a checkout; a consumer of the package never gets it.
        if self._with_tests:
            self.test_requires("doctest/[>=2.4.9 <3]")

    def validate(self):
        check_min_cppstd(self, "20")
        compiler = str(self.settings.get_safe("compiler"))
        if compiler == "msvc":
            raise ConanInvalidConfiguration(
                f"{self.ref} uses GCC/Clang builtins (__builtin_memcpy, "
                "__builtin_trap) and is not tested with MSVC")
        if self.settings.get_safe("os") == "Windows":
            raise ConanInvalidConfiguration(
                f"{self.ref}: the hosted headers (host_memory, image_memory) "
                "need POSIX mmap; Windows hosts are not supported")
        minimum = self._minimum_compilers.get(compiler)
        version = self.settings.get_safe("compiler.version")
        if minimum and version and Version(version) < minimum:
            raise ConanInvalidConfiguration(
                f"{self.ref} needs {compiler} >= {minimum} (the oldest tested)")
        if not minimum:
            self.output.warning(
                f"{self.ref} is not tested with {compiler}; it needs C++20 "
                "concepts and GCC/Clang builtins")

    def generate(self):
        # Only for a developer's build of the checkout: the package itself
        # builds nothing.
        deps = CMakeDeps(self)
        deps.generate()
        tc = CMakeToolchain(self)
        tc.cache_variables["MMKIT_BUILD_TESTS"] = self._with_tests
        tc.cache_variables["MMKIT_BUILD_EXAMPLES"] = False
        tc.cache_variables["MMKIT_BUILD_BENCHMARKS"] = False
        tc.cache_variables["MMKIT_BUILD_TOOLS"] = False
        tc.generate()

    def package(self):
        copy(self, "LICENSE", self.source_folder,
             os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"),
             os.path.join(self.package_folder, "include"))

    def package_id(self):
        self.info.clear()

    def package_info(self):
        # What CMakeDeps writes: mmkit-config.cmake with the target
        # mmkit::mmkit (the same name mmkit's own install exports), which
        # links the one component, mmkit::headers, which links
        # Boost::headers.
        self.cpp_info.set_property("cmake_file_name", "mmkit")
        self.cpp_info.set_property("cmake_target_name", "mmkit::mmkit")
        self.cpp_info.set_property("pkg_config_name", "mmkit")
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []

        headers = self.cpp_info.components["headers"]
        headers.set_property("cmake_target_name", "mmkit::headers")
        headers.set_property("pkg_config_name", "mmkit-headers")
        headers.includedirs = ["include"]
        headers.bindirs = []
        headers.libdirs = []
        headers.requires = ["boost::headers"]
