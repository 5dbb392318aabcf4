"""CTest check of packaging/conan. Conan itself cannot be installed here, so this runs the recipe
and its test_package under a small emulation of what `conan create packaging/conan` does with them:

1. loads conanfile.py with stand-ins for the conan modules; checks its metadata (name, version
   against CMake's, license against LICENSE, homepage/url, package_type, nlohmann_json requirement
   with transitive headers, C++17 check in validate());
2. export_sources() then package(), with a `copy` that really copies (Conan's matching rules:
   fnmatch on the path relative to src, recursive) into temporary export and package folders, the
   source folder placed as the recipe's layout() says; checks the package layout: every file of
   include/safetensors/ (the single header and parts/*.hpp), identical to the sources, and
   licenses/LICENSE, nothing else;
3. package_id(): the binary must not depend on settings (info cleared; Conan 2 does this itself for
   a header-library without package_id());
4. package_info(): CMake file and target names, pkg-config name, no bin/lib dirs, includedirs that
   exist in the package;
5. with --cmake: test_package as Conan runs it: its conanfile's requirements(), layout(), build()
   and test(), where the CMakeDeps/CMakeToolchain generators are emulated from package_info()
   (<cmake_file_name>-config.cmake defining <cmake_target_name> over the package folder, and an
   nlohmann_json config over --json-include) and CMake(self) runs the real cmake: the test program
   is configured, built and run against the package folder of step 2.

Usage: python3 check_conan.py <recipe dir> <expected version>
           [--work DIR] [--cmake CMAKE --generator GEN --cxx CXX --json-include DIR[;DIR...]]
Prints "conan recipe ok: ..." on success; exits 1 with the failed checks otherwise."""
import argparse
import ast
import filecmp
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tempfile
import types

ap = argparse.ArgumentParser()
ap.add_argument("recipe_dir")
ap.add_argument("version")
ap.add_argument("--work")
ap.add_argument("--cmake")
ap.add_argument("--generator")
ap.add_argument("--cxx")
ap.add_argument("--json-include", default="")
args = ap.parse_args()
recipe_dir = os.path.abspath(args.recipe_dir)
root = os.path.abspath(os.path.join(recipe_dir, "..", ".."))
work = os.path.abspath(args.work) if args.work else tempfile.mkdtemp(prefix="check_conan.")
shutil.rmtree(work, ignore_errors=True)
os.makedirs(work)

errors = []


def expect(cond, what):
    if not cond:
        errors.append(what)
    return cond


def finish():
    if errors:
        print("conan recipe: " + "; ".join(errors))
        sys.exit(1)


# --- Stand-ins for the conan modules ----------------------------------------------------------
calls = {"requires": [], "min_cppstd": [], "run": [], "cmake": []}


class Folders:
    def __init__(self):
        self.source = ""
        self.build = ""
        self.generators = ""


class CppInfo:
    """The defaults of Conan 2's cpp_info."""

    def __init__(self):
        self.props = {}
        self.requires = []
        self.includedirs = ["include"]
        self.libdirs = ["lib"]
        self.bindirs = ["bin"]
        self.libs = []
        self.defines = []

    def set_property(self, key, value):
        self.props[key] = value

    def get_property(self, key):
        return self.props.get(key)


class BuildInfo:
    def __init__(self):
        self.bindirs = []

    @property
    def bindir(self):
        return self.bindirs[0]


class Cpp:
    def __init__(self):
        self.build = BuildInfo()


class Info:
    def __init__(self):
        self.cleared = False

    def clear(self):
        self.cleared = True


class Settings(dict):
    def get_safe(self, key, default=None):
        return self.get(key, default)

    def __getattr__(self, key):
        return self[key]


class ConanFile:
    """The attributes and no-op default methods of conan.ConanFile that the recipes use."""
    name = None
    version = None
    package_type = None
    generators = ()
    settings = ()

    def __init__(self):
        self.folders = Folders()
        self.cpp = Cpp()
        self.cpp_info = CppInfo()
        self.info = Info()
        self.recipe_folder = None
        self.export_sources_folder = None
        self.source_folder = None
        self.build_folder = None
        self.package_folder = None
        self.generators_folder = None

    def requires(self, ref, **kwargs):
        calls["requires"].append((ref, kwargs))

    def run(self, command, env=None, **kwargs):
        calls["run"].append((command, env))
        r = subprocess.run(command, shell=True, cwd=self.build_folder,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        print(r.stdout, end="")
        if r.returncode != 0:
            raise RuntimeError("command failed (%d): %s" % (r.returncode, command))


def conan_copy(conanfile, pattern, src, dst, keep_path=True, excludes=None, ignore_case=True,
               overwrite_equal=False):
    """conan.tools.files.copy: every file under src whose path relative to src matches."""
    copied = []
    if not os.path.isdir(src):
        return copied
    for dirpath, _dirs, files in os.walk(src):
        for f in files:
            rel = os.path.relpath(os.path.join(dirpath, f), src).replace(os.sep, "/")
            cmp_rel, cmp_pat = (rel.lower(), pattern.lower()) if ignore_case else (rel, pattern)
            if not fnmatch.fnmatchcase(cmp_rel, cmp_pat):
                continue
            if excludes and any(fnmatch.fnmatchcase(rel, e) for e in excludes):
                continue
            target = os.path.join(dst, rel if keep_path else f)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(os.path.join(dirpath, f), target)
            copied.append(target)
    return copied


def conan_load(_conanfile, path, encoding="utf-8"):
    with open(path, encoding=encoding) as f:
        return f.read()


def basic_layout(conanfile, src_folder=".", build_folder=None):
    conanfile.folders.source = src_folder
    build_type = conanfile.settings.get_safe("build_type") or "Release"
    conanfile.folders.build = build_folder or ("build-" + build_type.lower())
    conanfile.folders.generators = os.path.join(conanfile.folders.build, "conan")


def cmake_layout(conanfile, src_folder=".", build_folder="build"):
    """Single-configuration generator: build/<BuildType>, binaries in the build folder."""
    build_type = conanfile.settings.get_safe("build_type") or "Release"
    conanfile.folders.source = src_folder
    conanfile.folders.build = os.path.join(build_folder, build_type)
    conanfile.folders.generators = os.path.join(conanfile.folders.build, "generators")
    conanfile.cpp.build.bindirs = ["."]


class CMake:
    """conan.tools.cmake.CMake: configure with the generated toolchain, build."""

    def __init__(self, conanfile):
        self._cf = conanfile

    def configure(self, variables=None, build_script_folder=None, cli_args=None):
        cf = self._cf
        toolchain = os.path.join(cf.generators_folder, "conan_toolchain.cmake")
        if not os.path.exists(toolchain):
            raise RuntimeError("CMake(self).configure() without the CMakeToolchain generator")
        source = os.path.join(cf.source_folder, build_script_folder or "")
        cmd = [args.cmake, "-S", source, "-B", cf.build_folder, "-G", args.generator,
               "-DCMAKE_TOOLCHAIN_FILE=" + toolchain, "-DCMAKE_BUILD_TYPE=Release",
               "-DCMAKE_CXX_COMPILER=" + args.cxx, "-DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON"]
        for k, v in (variables or {}).items():
            cmd.append("-D%s=%s" % (k, v))
        self._run(cmd + list(cli_args or []))

    def build(self, build_type=None, target=None, cli_args=None, build_tool_args=None):
        cmd = [args.cmake, "--build", self._cf.build_folder]
        if target:
            cmd += ["--target", target]
        self._run(cmd)

    @staticmethod
    def _run(cmd):
        calls["cmake"].append(cmd)
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            print(r.stdout)
            raise RuntimeError("failed (%d): %s" % (r.returncode, " ".join(cmd)))


def module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


module("conan", ConanFile=ConanFile)
module("conan.errors", ConanInvalidConfiguration=Exception, ConanException=Exception)
module("conan.tools")
module("conan.tools.build", check_min_cppstd=lambda cf, v: calls["min_cppstd"].append(str(v)),
       can_run=lambda cf: True)
module("conan.tools.files", copy=conan_copy, load=conan_load)
module("conan.tools.layout", basic_layout=basic_layout)
module("conan.tools.cmake", CMake=CMake, cmake_layout=cmake_layout)


def load_recipe(path):
    with open(path, encoding="utf-8") as src:
        text = src.read()
    ast.parse(text, path)
    namespace = {}
    exec(compile(text, path, "exec"), namespace)
    classes = [v for v in namespace.values()
               if isinstance(v, type) and issubclass(v, ConanFile) and v is not ConanFile]
    if len(classes) != 1:
        errors.append("%s defines %d ConanFile classes" % (path, len(classes)))
        finish()
    return classes[0]


def run_step(what, fn, *a):
    try:
        return fn(*a)
    except Exception as e:  # the recipe's own failure, reported as a check failure
        errors.append("%s: %s: %s" % (what, type(e).__name__, e))
        finish()


# --- 1. The recipe's metadata -----------------------------------------------------------------
recipe_class = load_recipe(os.path.join(recipe_dir, "conanfile.py"))
r = recipe_class()
r.recipe_folder = recipe_dir
r.settings = Settings({"os": "Linux", "arch": "x86_64", "compiler": "gcc",
                       "compiler.cppstd": "17", "build_type": "Release"})
if hasattr(r, "set_version"):
    run_step("set_version()", r.set_version)
run_step("requirements()", r.requirements)
run_step("validate()", r.validate)

expect(r.name == "safetensors", "name is %r" % r.name)
expect(r.version == args.version, "version %r != CMake's %r" % (r.version, args.version))
expect(r.package_type == "header-library", "package_type is %r" % r.package_type)
with open(os.path.join(root, "LICENSE"), encoding="utf-8") as f:
    license_text = f.read()
expect(r.license == "MIT" and license_text.startswith("MIT License"),
       "license is %r, LICENSE begins %r" % (r.license, license_text[:20]))
for attr in ("homepage", "url"):
    value = getattr(r, attr, None)
    expect(isinstance(value, str) and re.match(r"^https://[^\s/]+/\S+$", value or ""),
           "%s is %r, not an https URL" % (attr, value))
json_reqs = [(ref, kw) for ref, kw in calls["requires"] if ref.startswith("nlohmann_json/")]
expect(len(json_reqs) == 1 and json_reqs[0][0].startswith("nlohmann_json/3.11."),
       "requires %r" % calls["requires"])
expect(json_reqs and json_reqs[0][1].get("transitive_headers") is True,
       "nlohmann_json not transitive_headers")
expect(calls["min_cppstd"] == ["17"], "validate() checks cppstd %r" % calls["min_cppstd"])

# --- 2. export_sources(), layout(), package(): the package folder --------------------------------
r.export_sources_folder = os.path.join(work, "export_source")
run_step("export_sources()", r.export_sources)
run_step("layout()", r.layout)
r.source_folder = os.path.normpath(os.path.join(r.export_sources_folder, r.folders.source))
r.package_folder = os.path.join(work, "package")
os.makedirs(r.package_folder)
run_step("package()", r.package)

pkg = r.package_folder
headers = sorted(os.path.relpath(os.path.join(d, f), os.path.join(root, "include"))
                 for d, _, fs in os.walk(os.path.join(root, "include", "safetensors"))
                 for f in fs)
expect("safetensors/safetensors.hpp" in headers and
       any(h.startswith("safetensors/parts/") for h in headers),
       "the source tree has no include/safetensors/{safetensors.hpp,parts/*.hpp}")
packaged = sorted(os.path.relpath(os.path.join(d, f), pkg).replace(os.sep, "/")
                  for d, _, fs in os.walk(pkg) for f in fs)
wanted = sorted(["include/" + h.replace(os.sep, "/") for h in headers] + ["licenses/LICENSE"])
missing = [f for f in wanted if f not in packaged]
extra = [f for f in packaged if f not in wanted]
expect(not missing, "not in the package: %s" % ", ".join(missing))
expect(not extra, "unexpected in the package: %s" % ", ".join(extra))
for f in wanted:
    src = os.path.join(root, "LICENSE") if f == "licenses/LICENSE" else os.path.join(root, f)
    if f in packaged:
        expect(filecmp.cmp(src, os.path.join(pkg, f), shallow=False), "%s differs from %s" % (f, src))

# --- 3. package_id() ---------------------------------------------------------------------------
if "package_id" in recipe_class.__dict__:
    run_step("package_id()", r.package_id)
elif r.package_type == "header-library":
    r.info.clear()  # what Conan 2 does for a header-library without package_id()
expect(r.info.cleared, "package_id depends on settings: a header-only package must clear it")

# --- 4. package_info() -------------------------------------------------------------------------
run_step("package_info()", r.package_info)
ci = r.cpp_info
file_name = ci.props.get("cmake_file_name") or r.name
target_name = ci.props.get("cmake_target_name") or "%s::%s" % (r.name, r.name)
expect(file_name == "safetensors", "cmake_file_name is %r" % file_name)
expect(target_name == "safetensors::safetensors", "cmake_target_name is %r" % target_name)
expect(ci.props.get("pkg_config_name") == "safetensors", "pkg_config_name")
expect(ci.bindirs == [] and ci.libdirs == [], "header-only: no bin/lib dirs")
expect(ci.includedirs and all(os.path.isdir(os.path.join(pkg, d)) for d in ci.includedirs),
       "includedirs %r not in the package" % ci.includedirs)
required = {ref.split("/")[0] for ref, _ in calls["requires"]}
for req in ci.requires:
    expect(req.split("::")[0] in required, "cpp_info.requires %r is not a requirement" % req)
finish()


# --- 5. test_package, built and run against the package folder ----------------------------------
def cmake_list(paths):
    return ";".join(p.replace("\\", "/") for p in paths)


def write_generators(tp):
    """What CMakeDeps and CMakeToolchain would write, from package_info() and the package folder."""
    gen = tp.generators_folder
    os.makedirs(gen, exist_ok=True)
    if "CMakeDeps" in tp.generators:
        includes = cmake_list(os.path.join(pkg, d) for d in ci.includedirs)
        deps = sorted({req.split("::")[0] for req in ci.requires})
        text = "include(CMakeFindDependencyMacro)\n"
        for d in deps:
            text += "find_dependency(%s REQUIRED CONFIG)\n" % d
        text += ("if(NOT TARGET {t})\n  add_library({t} INTERFACE IMPORTED)\n"
                 "  set_target_properties({t} PROPERTIES\n"
                 "    INTERFACE_INCLUDE_DIRECTORIES \"{inc}\"\n"
                 "    INTERFACE_LINK_LIBRARIES \"{libs}\")\nendif()\n"
                 ).format(t=target_name, inc=includes, libs=";".join(ci.requires))
        with open(os.path.join(gen, file_name + "-config.cmake"), "w", encoding="utf-8") as f:
            f.write(text)
        with open(os.path.join(gen, file_name + "-config-version.cmake"), "w",
                  encoding="utf-8") as f:
            f.write('set(PACKAGE_VERSION "%s")\nset(PACKAGE_VERSION_COMPATIBLE TRUE)\n' % r.version)
        json_dirs = [d for d in args.json_include.split(";") if d]
        with open(os.path.join(gen, "nlohmann_json-config.cmake"), "w", encoding="utf-8") as f:
            f.write("if(NOT TARGET nlohmann_json::nlohmann_json)\n"
                    "  add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)\n"
                    "  set_target_properties(nlohmann_json::nlohmann_json PROPERTIES\n"
                    "    INTERFACE_INCLUDE_DIRECTORIES \"%s\")\nendif()\n" % cmake_list(json_dirs))
    if "CMakeToolchain" in tp.generators:
        with open(os.path.join(gen, "conan_toolchain.cmake"), "w", encoding="utf-8") as f:
            f.write('list(PREPEND CMAKE_PREFIX_PATH "%s")\n' % gen.replace("\\", "/") +
                    "set(CMAKE_FIND_PACKAGE_PREFER_CONFIG ON)\n"
                    "set(CMAKE_CXX_STANDARD 17)\nset(CMAKE_CXX_STANDARD_REQUIRED ON)\n"
                    "set(CMAKE_CXX_EXTENSIONS OFF)\n")


if args.cmake:
    tp_src = os.path.join(work, "test_package")
    shutil.copytree(os.path.join(recipe_dir, "test_package"), tp_src)
    tp_class = load_recipe(os.path.join(tp_src, "conanfile.py"))
    tp = tp_class()
    tp.settings = r.settings
    tp.tested_reference_str = "%s/%s" % (r.name, r.version)
    tp.recipe_folder = tp_src
    calls["requires"] = []
    run_step("test_package requirements()", tp.requirements)
    expect([ref for ref, _ in calls["requires"]] == [tp.tested_reference_str],
           "test_package requires %r, not the tested reference" % calls["requires"])
    run_step("test_package layout()", tp.layout)
    tp.source_folder = os.path.normpath(os.path.join(tp_src, tp.folders.source))
    tp.build_folder = os.path.join(tp_src, tp.folders.build)
    tp.generators_folder = os.path.join(tp_src, tp.folders.generators)
    os.makedirs(tp.build_folder, exist_ok=True)
    write_generators(tp)
    finish()
    run_step("test_package build()", tp.build)
    run_step("test_package test()", tp.test)
    expect(calls["run"], "test_package test() runs nothing")
    finish()
    print("conan test_package built and run against %s" % pkg)

finish()
print("conan recipe ok: safetensors/%s (package: %d headers + licenses/LICENSE)"
      % (r.version, len(headers)))
