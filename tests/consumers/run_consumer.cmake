# Builds one consumer project the way a user would, then runs it on a model file.
#   cmake -DKIND=<kind> -DSOURCE_DIR=<safetensors sources> -DBINARY_DIR=<safetensors build tree>
#         -DWORK_DIR=<scratch dir> -DCXX=<compiler> -DGENERATOR=<cmake generator> -DMODEL=<file>
#         -DEXPECT=<regex the program's output must match> [-DJSON_INCLUDE=<dirs>]
#         -P run_consumer.cmake
# KIND: find_package (a real install into WORK_DIR/prefix), find_package_compiled (the same,
# linking safetensors::safetensors_compiled: the separate-compilation mode), build_tree (safetensors_DIR=<build
# tree>, no install), add_subdirectory, fetchcontent (offline: FETCHCONTENT_SOURCE_DIR_SAFETENSORS),
# pkg-config (install + pkg-config --cflags), copy (only the header, with -I and -Werror),
# fetchcontent_without_json (fetchcontent on a machine without an nlohmann_json package, which
# safetensors then fetches too: offline, FETCHCONTENT_SOURCE_DIR_NLOHMANN_JSON points at a local
# source tree made from the headers in JSON_INCLUDE by local_dependencies.cmake),
# fetchcontent_archive (the snippet's download path, offline: its URL replaced by a file:// URL of
# a release-like archive of SOURCE_DIR; configuring must print no CMake warning, such as
# CMP0135's about the archive's timestamps).
cmake_minimum_required(VERSION 3.14)
foreach(v KIND SOURCE_DIR BINARY_DIR WORK_DIR CXX GENERATOR MODEL EXPECT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_consumer.cmake: -D${v}=... is required")
  endif()
endforeach()
set(here "${CMAKE_CURRENT_LIST_DIR}")

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "failed (${rc}): ${cmd}")
  endif()
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
set(src "${WORK_DIR}/src")
set(build "${WORK_DIR}/build")
set(prefix "${WORK_DIR}/prefix")
set(project_dir "${KIND}")
if(KIND STREQUAL "build_tree")
  set(project_dir "find_package")
elseif(KIND STREQUAL "fetchcontent_without_json" OR KIND STREQUAL "fetchcontent_archive")
  set(project_dir "fetchcontent")
endif()
if(NOT IS_DIRECTORY "${here}/${project_dir}")
  message(FATAL_ERROR "unknown KIND '${KIND}'")
endif()
file(COPY "${here}/${project_dir}/" "${here}/main.cpp" DESTINATION "${src}")

if(KIND MATCHES "^find_package" OR KIND STREQUAL "pkg-config")
  run("${CMAKE_COMMAND}" --install "${BINARY_DIR}" --prefix "${prefix}")
endif()
if(KIND STREQUAL "add_subdirectory")
  # What a user vendors: the library's CMake project, without its tests and examples.
  foreach(f CMakeLists.txt LICENSE cmake include src)
    file(COPY "${SOURCE_DIR}/${f}" DESTINATION "${src}/third_party/safetensors")
  endforeach()
endif()
if(KIND STREQUAL "fetchcontent_archive")
  # A release archive as a user downloads it: one top directory holding the library's project.
  set(release "${WORK_DIR}/archive/safetensors-cpp-1.0.0")
  foreach(f CMakeLists.txt LICENSE cmake include src)
    file(COPY "${SOURCE_DIR}/${f}" DESTINATION "${release}")
  endforeach()
  set(archive "${WORK_DIR}/safetensors-cpp-1.0.0.tar.gz")
  execute_process(COMMAND "${CMAKE_COMMAND}" -E tar czf "${archive}" safetensors-cpp-1.0.0
                  WORKING_DIRECTORY "${WORK_DIR}/archive" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cannot pack ${archive}")
  endif()
  file(READ "${src}/CMakeLists.txt" text)
  string(REGEX REPLACE "URL https://[^ )]*" "URL file://${archive}" patched "${text}")
  if(patched STREQUAL text)
    message(FATAL_ERROR "no URL to replace in the fetchcontent snippet")
  endif()
  file(WRITE "${src}/CMakeLists.txt" "${patched}")
endif()
if(KIND STREQUAL "copy")
  # The one generated file (docs/design.md#the-header-in-parts), as a user copies it.
  file(COPY "${SOURCE_DIR}/single_include/safetensors/safetensors.hpp"
       DESTINATION "${src}/third_party/include/safetensors")
endif()

set(exe "${build}/list_tensors")
if(EXISTS "${src}/CMakeLists.txt")
  set(args -S "${src}" -B "${build}" -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX}"
           -DCMAKE_BUILD_TYPE=Debug -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON)
  if(KIND MATCHES "^find_package")
    list(APPEND args "-DCMAKE_PREFIX_PATH=${prefix}")
    set(expected_dir "${prefix}/share/cmake/safetensors")
  elseif(KIND STREQUAL "build_tree")
    list(APPEND args "-Dsafetensors_DIR=${BINARY_DIR}")
    set(expected_dir "${BINARY_DIR}")
  elseif(KIND MATCHES "^fetchcontent" AND NOT KIND STREQUAL "fetchcontent_archive")
    # Offline: the standard override points FetchContent at a local source tree.
    list(APPEND args "-DFETCHCONTENT_SOURCE_DIR_SAFETENSORS=${SOURCE_DIR}"
                     -DFETCHCONTENT_FULLY_DISCONNECTED=ON)
  endif()
  if(KIND STREQUAL "fetchcontent_without_json")
    include("${here}/local_dependencies.cmake")
    local_dependency_tree(nlohmann_json "${WORK_DIR}/nlohmann_json" "${JSON_INCLUDE}")
    list(APPEND args --no-warn-unused-cli -DCMAKE_DISABLE_FIND_PACKAGE_nlohmann_json=ON
                     "-DFETCHCONTENT_SOURCE_DIR_NLOHMANN_JSON=${WORK_DIR}/nlohmann_json")
    execute_process(COMMAND "${CMAKE_COMMAND}" ${args} RESULT_VARIABLE rc OUTPUT_VARIABLE out)
    message("${out}")
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "configure failed (${rc})")
    endif()
    # The copy safetensors fell back to, not a package found elsewhere on the machine.
    string(FIND "${out}" "using the copy in ${WORK_DIR}/nlohmann_json" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "safetensors did not fall back to ${WORK_DIR}/nlohmann_json")
    endif()
  elseif(KIND STREQUAL "fetchcontent_archive")
    execute_process(COMMAND "${CMAKE_COMMAND}" -Wdev ${args} RESULT_VARIABLE rc
                    OUTPUT_VARIABLE out ERROR_VARIABLE err)
    message("${out}${err}")
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "configure failed (${rc})")
    endif()
    if(err MATCHES "CMake Warning")
      message(FATAL_ERROR "configuring the snippet as written prints a warning:\n${err}")
    endif()
  else()
    run("${CMAKE_COMMAND}" ${args})
  endif()
  run("${CMAKE_COMMAND}" --build "${build}")
  if(DEFINED expected_dir)
    # The package must come from where this test put it, not from anywhere else on the machine.
    file(STRINGS "${build}/CMakeCache.txt" found REGEX "^safetensors_DIR:")
    string(REGEX REPLACE "^[^=]*=" "" found "${found}")
    get_filename_component(found "${found}" REALPATH)
    get_filename_component(expected_dir "${expected_dir}" REALPATH)
    if(NOT found STREQUAL expected_dir)
      message(FATAL_ERROR "safetensors_DIR is '${found}', expected '${expected_dir}'")
    endif()
  endif()
else()
  # A shell recipe: run the README's command with `c++` being the compiler under test.
  file(MAKE_DIRECTORY "${WORK_DIR}/bin")
  file(WRITE "${WORK_DIR}/tmp/c++" "#!/bin/sh\nexec \"${CXX}\" \"$@\"\n")
  file(COPY "${WORK_DIR}/tmp/c++" DESTINATION "${WORK_DIR}/bin"
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
  set(ENV{PATH} "${WORK_DIR}/bin:$ENV{PATH}")
  if(KIND STREQUAL "pkg-config")
    set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
  endif()
  execute_process(COMMAND sh -ex build.sh WORKING_DIRECTORY "${src}" RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "build.sh failed (${rc})")
  endif()
  set(exe "${src}/list_tensors")
  if(KIND STREQUAL "copy")
    # The copied header under stricter warnings than the README's command, with every lazily
    # compiled template instantiated (tests/consumers/instantiate_all.cpp).
    set(strict -std=c++17 -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow
               -Wold-style-cast -Wdouble-promotion -Wnull-dereference -Werror)
    if(CXX_ID STREQUAL "GNU")
      list(APPEND strict -Wuseless-cast)
    endif()
    run("${CXX}" ${strict} -I "${src}/third_party/include" -c
        "${here}/instantiate_all.cpp" -o "${WORK_DIR}/instantiate_all.o")
  endif()
endif()

execute_process(COMMAND "${exe}" "${MODEL}" RESULT_VARIABLE rc OUTPUT_VARIABLE out)
message("${out}")
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "list_tensors failed (${rc})")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "list_tensors output does not match '${EXPECT}'")
endif()
