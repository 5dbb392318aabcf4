# The dependency fallback (cmake/SafetensorsDependency.cmake) on a machine without nlohmann_json
# and doctest packages (CMAKE_DISABLE_FIND_PACKAGE_<name>), offline.
#   cmake -DMODE=<project|download> -DSOURCE_DIR=<safetensors sources> -DWORK_DIR=<scratch dir>
#         -DCXX=<compiler> -DCXX_ID=<compiler id> -DGENERATOR=<cmake generator>
#         -DJSON_INCLUDE=<dirs> -DDOCTEST_INCLUDE=<dirs> [-DJSON_INSTALLED=<bool>]
#         -P dependency_fallback.cmake
# MODE project: this project itself, configured with FETCHCONTENT_SOURCE_DIR_{NLOHMANN_JSON,DOCTEST}
#   pointing at local source trees (tests/consumers/local_dependencies.cmake); the compile commands
#   must take both from those trees as system include directories, and one translation unit of the
#   library is built (with the project's -Werror).
# MODE download: the download step itself (what FETCHCONTENT_SOURCE_DIR_* skips), from a local
#   archive (file:// URL, checked hash), through both branches: CMake >= 3.24 (FIND_PACKAGE_ARGS)
#   and 3.14 to 3.23 (find_package(QUIET) first; simulated by setting CMAKE_VERSION in the test
#   project). With JSON_INSTALLED, the same call without CMAKE_DISABLE_FIND_PACKAGE must take the
#   installed package instead.
cmake_minimum_required(VERSION 3.14)
foreach(v MODE SOURCE_DIR WORK_DIR CXX CXX_ID GENERATOR JSON_INCLUDE DOCTEST_INCLUDE)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "dependency_fallback.cmake: -D${v}=... is required")
  endif()
endforeach()
include("${CMAKE_CURRENT_LIST_DIR}/local_dependencies.cmake")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "${out}\nfailed (${rc}): ${cmd}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

function(expect_in text what)
  string(FIND "${text}" "${what}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${ARGN}: '${what}' not found")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(deps "${WORK_DIR}/deps")
local_dependency_tree(nlohmann_json "${deps}/nlohmann_json" "${JSON_INCLUDE}")
local_dependency_tree(doctest "${deps}/doctest" "${DOCTEST_INCLUDE}")

if(MODE STREQUAL "project")
  set(build "${WORK_DIR}/build")
  run("${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${build}" -G "${GENERATOR}" --no-warn-unused-cli
      "-DCMAKE_CXX_COMPILER=${CXX}" -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON
      -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON -DCMAKE_DISABLE_FIND_PACKAGE_doctest=ON
      "-DFETCHCONTENT_SOURCE_DIR_NLOHMANN_JSON=${deps}/nlohmann_json"
      "-DFETCHCONTENT_SOURCE_DIR_DOCTEST=${deps}/doctest"
      -DFETCHCONTENT_FULLY_DISCONNECTED=ON)  # never the network, whatever happens
  message("${out}")
  expect_in("${out}" "nlohmann_json >= 3.11 is not installed: using the copy in ${deps}/nlohmann_json"
            "configure output")
  expect_in("${out}" "doctest >= 2.4 is not installed: using the copy in ${deps}/doctest"
            "configure output")
  if(EXISTS "${build}/compile_commands.json")  # Makefile and Ninja generators
    file(READ "${build}/compile_commands.json" commands)
    set(system "")
    if(NOT CXX_ID STREQUAL "MSVC")
      set(system "-isystem ")  # SYSTEM: the copies' headers are not under the project's -Werror
    endif()
    expect_in("${commands}" "${system}${deps}/nlohmann_json/include " "compile_commands.json")
    expect_in("${commands}" "${system}${deps}/doctest " "compile_commands.json")
  elseif(GENERATOR MATCHES "Makefiles|Ninja")
    message(FATAL_ERROR "no compile_commands.json")
  endif()
  run("${CMAKE_COMMAND}" --build "${build}" --target safetensors_self_contained)
  message(STATUS "dependency fallback ok: the project configures and builds on local copies")
elseif(MODE STREQUAL "download")
  # The archive as a release would be: the tree under one top-level directory.
  file(RENAME "${deps}/nlohmann_json" "${deps}/json")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E tar cJf "${WORK_DIR}/json.tar.xz" json
                WORKING_DIRECTORY "${deps}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cannot make json.tar.xz")
  endif()
  file(SHA256 "${WORK_DIR}/json.tar.xz" hash)
  file(WRITE "${WORK_DIR}/src/CMakeLists.txt"
"cmake_minimum_required(VERSION 3.14...3.25)
project(dependency_download LANGUAGES NONE)
if(LEGACY)
  set(CMAKE_VERSION 3.23.0)  # the find_package(QUIET)-then-FetchContent branch
endif()
list(APPEND CMAKE_MODULE_PATH \"${SOURCE_DIR}/cmake\")
include(SafetensorsDependency)
safetensors_dependency(nlohmann_json TARGET nlohmann_json::nlohmann_json VERSION 3.11
  URL \"file://${WORK_DIR}/json.tar.xz\" URL_HASH SHA256=${hash})
get_target_property(imported nlohmann_json::nlohmann_json IMPORTED)
get_target_property(system nlohmann_json::nlohmann_json INTERFACE_SYSTEM_INCLUDE_DIRECTORIES)
message(STATUS \"result: imported=\${imported} system=\${system}\")
")
  set(cases modern-disabled legacy-disabled)
  if(JSON_INSTALLED)
    list(APPEND cases modern-installed legacy-installed)
  endif()
  foreach(name IN LISTS cases)
    string(REGEX REPLACE "-.*" "" branch "${name}")
    string(REGEX REPLACE ".*-" "" package "${name}")
    set(args -S "${WORK_DIR}/src" -B "${WORK_DIR}/${name}" -G "${GENERATOR}" --no-warn-unused-cli)
    if(branch STREQUAL "legacy")
      list(APPEND args -DLEGACY=ON)
    endif()
    if(package STREQUAL "disabled")
      list(APPEND args -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON)
    endif()
    run("${CMAKE_COMMAND}" ${args})
    message("${name}:\n${out}")
    if(package STREQUAL "disabled")
      set(src "${WORK_DIR}/${name}/_deps/nlohmann_json-src")
      expect_in("${out}" "result: imported=FALSE system=$<BUILD_INTERFACE:${src}/include>" ${name})
    else()
      expect_in("${out}" "result: imported=TRUE system=system-NOTFOUND" ${name})
    endif()
  endforeach()
  message(STATUS "dependency download ok: ${cases}")
else()
  message(FATAL_ERROR "unknown MODE '${MODE}'")
endif()
