"""CTest check of packaging/conan (Conan itself is not installable here): loads the recipe with a
minimal stand-in for the conan modules and checks names, version, requirements and C++17.
Usage: python3 check_conan.py <recipe dir> <expected version>"""
import ast
import os
import sys
import types

recipe_dir, expected_version = sys.argv[1], sys.argv[2]
calls = {"requires": [], "min_cppstd": []}


class ConanFile:
    def requires(self, ref, **kwargs):
        calls["requires"].append((ref, kwargs))


class Settings(dict):
    def get_safe(self, key):
        return self.get(key)


class CppInfo:
    def __init__(self):
        self.props = {}
        self.requires = []

    def set_property(self, key, value):
        self.props[key] = value


def module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def load(_conanfile, path):
    with open(path, encoding="utf-8") as f:
        return f.read()


module("conan", ConanFile=ConanFile)
module("conan.errors", ConanInvalidConfiguration=Exception)
module("conan.tools")
module("conan.tools.build", check_min_cppstd=lambda cf, v: calls["min_cppstd"].append(str(v)),
       can_run=lambda cf: True)
module("conan.tools.files", copy=lambda *a, **k: None, load=load)
module("conan.tools.layout", basic_layout=lambda *a, **k: None)
module("conan.tools.cmake", CMake=object, cmake_layout=lambda *a, **k: None)

for f in ("conanfile.py", os.path.join("test_package", "conanfile.py")):
    with open(os.path.join(recipe_dir, f), encoding="utf-8") as src:
        ast.parse(src.read(), f)  # both files parse

namespace = {}
path = os.path.join(recipe_dir, "conanfile.py")
with open(path, encoding="utf-8") as src:
    exec(compile(src.read(), path, "exec"), namespace)
recipe_class = next(v for v in namespace.values()
                    if isinstance(v, type) and issubclass(v, ConanFile) and v is not ConanFile)
r = recipe_class()
r.recipe_folder = os.path.abspath(recipe_dir)
r.settings = Settings({"compiler": "gcc", "compiler.cppstd": "17"})
r.cpp_info = CppInfo()
r.set_version()
r.requirements()
r.validate()
r.package_info()

errors = []
def expect(cond, what):
    if not cond:
        errors.append(what)

expect(r.name == "safetensors", "name is %r" % r.name)
expect(r.version == expected_version, "version %r != CMake's %r" % (r.version, expected_version))
expect(r.package_type == "header-library", "package_type is %r" % r.package_type)
expect(r.license == "MIT", "license is %r" % r.license)
json = [(ref, kw) for ref, kw in calls["requires"] if ref.startswith("nlohmann_json/")]
expect(len(json) == 1 and json[0][0].startswith("nlohmann_json/3.11."), "requires %r" % calls["requires"])
expect(json and json[0][1].get("transitive_headers") is True, "nlohmann_json not transitive_headers")
expect(calls["min_cppstd"] == ["17"], "validate() checks cppstd %r" % calls["min_cppstd"])
expect(r.cpp_info.props.get("cmake_file_name") == "safetensors", "cmake_file_name")
expect(r.cpp_info.props.get("cmake_target_name") == "safetensors::safetensors", "cmake_target_name")
expect(r.cpp_info.props.get("pkg_config_name") == "safetensors", "pkg_config_name")
expect(r.cpp_info.bindirs == [] and r.cpp_info.libdirs == [], "header-only: no bin/lib dirs")
if errors:
    print("conan recipe: " + "; ".join(errors))
    sys.exit(1)
print("conan recipe ok: safetensors/%s" % r.version)
