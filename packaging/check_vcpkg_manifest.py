"""CTest check of the vcpkg overlay port's text (vcpkg itself cannot be installed here; the layout its
portfile makes is checked by check_vcpkg_layout.cmake):

- vcpkg.json is strict JSON, as vcpkg parses it (no comments, trailing commas or duplicate keys),
  with only the fields a vcpkg manifest has; name (the port directory's), version (CMake's), license
  (LICENSE's), description, homepage, and the dependencies: nlohmann-json, and the host ports whose
  helpers portfile.cmake calls (vcpkg-cmake, vcpkg-cmake-config);
- portfile.cmake calls only the vcpkg helpers listed below and plain CMake commands (a misspelled
  helper fails here, not only in vcpkg).

Usage: python3 check_vcpkg_manifest.py <port dir> <expected version> <LICENSE file>
Prints "vcpkg manifest ok: ..." on success; exits 1 with the failed checks otherwise."""
import json
import os
import re
import sys

port_dir, expected_version, license_file = sys.argv[1:4]
port_name = os.path.basename(os.path.normpath(port_dir))
errors = []


def expect(cond, what):
    if not cond:
        errors.append(what)
    return cond


def finish():
    if errors:
        print("vcpkg port: " + "; ".join(errors))
        sys.exit(1)


# The vcpkg helpers portfile.cmake may call (check_vcpkg_layout.cmake emulates each of them), and the
# host port that provides each one (None: part of vcpkg's own scripts).
HELPERS = {
    "vcpkg_cmake_configure": "vcpkg-cmake",
    "vcpkg_cmake_install": "vcpkg-cmake",
    "vcpkg_cmake_config_fixup": "vcpkg-cmake-config",
    "vcpkg_fixup_pkgconfig": None,
    "vcpkg_install_copyright": None,
}
# The plain CMake commands it may call.
CMAKE_COMMANDS = {"set", "unset", "if", "elseif", "else", "endif", "foreach", "endforeach",
                  "file", "get_filename_component", "cmake_path", "list", "string", "message"}
MANIFEST_FIELDS = {"name", "version", "version-semver", "version-date", "version-string",
                   "port-version", "maintainers", "description", "homepage", "documentation",
                   "license", "supports", "dependencies", "default-features", "features",
                   "builtin-baseline", "overrides", "vcpkg-configuration"}
PORT_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


# --- vcpkg.json ---------------------------------------------------------------------------------
def no_duplicates(pairs):
    keys = [k for k, _ in pairs]
    dups = sorted({k for k in keys if keys.count(k) > 1})
    if dups:
        raise ValueError("duplicate keys %s" % ", ".join(dups))
    return dict(pairs)


def no_constant(name):
    raise ValueError("%s is not JSON" % name)


path = os.path.join(port_dir, "vcpkg.json")
try:
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f, object_pairs_hook=no_duplicates, parse_constant=no_constant)
except ValueError as e:  # json.JSONDecodeError is a ValueError
    errors.append("vcpkg.json is not valid JSON: %s" % e)
    finish()
if not expect(isinstance(manifest, dict), "vcpkg.json is not an object"):
    finish()

unknown = sorted(k for k in manifest if k not in MANIFEST_FIELDS and not k.startswith("$"))
expect(not unknown, "vcpkg.json has unknown fields: %s" % ", ".join(unknown))
expect(manifest.get("name") == port_name,
       "vcpkg.json name %r != the port directory's %r" % (manifest.get("name"), port_name))
versions = [k for k in ("version", "version-semver", "version-date", "version-string")
            if k in manifest]
expect(versions == ["version"], "vcpkg.json version fields: %s (wanted: version)" % versions)
expect(manifest.get("version") == expected_version,
       "vcpkg.json version %r != CMake's %r" % (manifest.get("version"), expected_version))
pv = manifest.get("port-version", 0)
expect(isinstance(pv, int) and not isinstance(pv, bool) and pv >= 0, "port-version %r" % pv)
desc = manifest.get("description")
expect((isinstance(desc, str) and desc.strip()) or
       (isinstance(desc, list) and desc and all(isinstance(d, str) and d for d in desc)),
       "description %r" % desc)
homepage = manifest.get("homepage")
expect(isinstance(homepage, str) and re.match(r"^https://[^\s/]+/\S+$", homepage),
       "homepage %r is not an https URL" % homepage)
with open(license_file, encoding="utf-8") as f:
    license_text = f.read()
expect(manifest.get("license") == "MIT" and license_text.startswith("MIT License"),
       "license %r, LICENSE begins %r" % (manifest.get("license"), license_text[:20]))

deps = {}
raw_deps = manifest.get("dependencies", [])
if expect(isinstance(raw_deps, list), "dependencies is not an array"):
    for d in raw_deps:
        if isinstance(d, str):
            d = {"name": d}
        if not expect(isinstance(d, dict) and isinstance(d.get("name"), str),
                      "dependency %r has no name" % (d,)):
            continue
        name = d["name"]
        expect(PORT_NAME.match(name), "dependency name %r" % name)
        expect(name not in deps, "dependency %s listed twice" % name)
        bad = sorted(set(d) - {"name", "host", "version>=", "features", "default-features",
                               "platform"})
        expect(not bad, "dependency %s has unknown fields %s" % (name, bad))
        if "version>=" in d:
            expect(isinstance(d["version>="], str) and
                   re.match(r"^\d+(\.\d+)*(#\d+)?$", d["version>="]),
                   "dependency %s version>= %r" % (name, d["version>="]))
        expect(isinstance(d.get("host", False), bool), "dependency %s host" % name)
        deps[name] = d
json_dep = deps.get("nlohmann-json")
expect(json_dep is not None and not json_dep.get("host", False),
       "vcpkg.json does not depend on nlohmann-json (for the target)")
if json_dep and "version>=" in json_dep:
    expect(tuple(int(x) for x in json_dep["version>="].split("#")[0].split("."))[:2] >= (3, 11),
           "nlohmann-json version>= %s is below the 3.11 CMake requires" % json_dep["version>="])

# --- portfile.cmake -----------------------------------------------------------------------------
with open(os.path.join(port_dir, "portfile.cmake"), encoding="utf-8") as f:
    portfile = f.read()
code = re.sub(r"(?m)#.*$", "", re.sub(r'"(?:[^"\\]|\\.)*"', '""', portfile))  # strings, comments
called = re.findall(r"(?m)^[ \t]*([A-Za-z_][A-Za-z0-9_]*)[ \t]*\(", code)
for c in sorted(set(called)):
    if c.lower().startswith("vcpkg_"):
        expect(c in HELPERS, "portfile.cmake calls %s(), not a vcpkg helper this port may use (%s)"
               % (c, ", ".join(sorted(HELPERS))))
    else:
        expect(c.lower() in CMAKE_COMMANDS,
               "portfile.cmake calls %s(), not one of the CMake commands it may use" % c)
for c in sorted(set(called)):
    host_port = HELPERS.get(c)
    if host_port:
        d = deps.get(host_port)
        expect(d is not None and d.get("host") is True,
               "portfile.cmake calls %s() but vcpkg.json lacks the host dependency %s"
               % (c, host_port))
expect(os.path.isfile(os.path.join(port_dir, "usage")), "no usage file")
finish()
print("vcpkg manifest ok: %s %s, helpers: %s" % (manifest["name"], manifest["version"],
                                                 ", ".join(sorted(set(called) & set(HELPERS)))))
