# Conan 2 recipe for safetensors (header-only). From the repository root:
#   conan create packaging/conan --build=missing
import os
import re

from conan import ConanFile
from conan.tools.build import check_min_cppstd
from conan.tools.files import copy, load
from conan.tools.layout import basic_layout

required_conan_version = ">=2.0"


class SafetensorsConan(ConanFile):
    name = "safetensors"
    description = "Header-only C++17 reader and writer for the safetensors format"
    license = "MIT"
    # This library has no published repository URL yet: homepage and url both name the home of the
    # safetensors format it implements, not where this library or recipe lives. Point url at this
    # project's repository once it has one.
    homepage = "https://github.com/huggingface/safetensors"
    url = "https://github.com/huggingface/safetensors"
    topics = ("safetensors", "tensors", "machine-learning", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    no_copy_source = True

    def _root(self):
        return os.path.join(self.recipe_folder, "..", "..")

    def set_version(self):
        # The version lives once, in the header's version macros (as for CMake).
        header = load(self, os.path.join(self._root(), "include", "safetensors", "parts",
                                         "basics.hpp"))
        parts = [re.search(r"#define\s+SAFETENSORS_VERSION_%s\s+(\d+)" % p, header).group(1)
                 for p in ("MAJOR", "MINOR", "PATCH")]
        self.version = ".".join(parts)

    def export_sources(self):
        copy(self, "LICENSE", self._root(), self.export_sources_folder)
        copy(self, "*.hpp", os.path.join(self._root(), "include"),
             os.path.join(self.export_sources_folder, "include"))

    def layout(self):
        basic_layout(self, src_folder=".")

    def requirements(self):
        self.requires("nlohmann_json/3.11.3", transitive_headers=True)

    def package_id(self):
        self.info.clear()

    def validate(self):
        if self.settings.get_safe("compiler.cppstd"):
            check_min_cppstd(self, 17)

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"),
             os.path.join(self.package_folder, "include"))

    def package_info(self):
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.set_property("cmake_file_name", "safetensors")
        self.cpp_info.set_property("cmake_target_name", "safetensors::safetensors")
        self.cpp_info.set_property("pkg_config_name", "safetensors")
        self.cpp_info.requires = ["nlohmann_json::nlohmann_json"]
        # load() starts std::thread workers (docs/loading.md).
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread"]
