# Offline stand-ins for the nlohmann_json and doctest source archives that
# cmake/SafetensorsDependency.cmake falls back to: minimal CMake projects with the real projects'
# target names (an INTERFACE library and its namespaced ALIAS) over headers copied from the copy
# the calling build uses. Included by run_consumer.cmake and dependency_fallback.cmake.
#
#   local_dependency_tree(<name> <dir> <include dirs>)
#     name: nlohmann_json (<dir>/include/nlohmann/*, like json.tar.xz) or doctest
#     (<dir>/doctest/doctest.h, like the doctest repository); the headers are looked up in
#     <include dirs> (a list, e.g. the INTERFACE_INCLUDE_DIRECTORIES of the found package).
function(local_dependency_tree name dir include_dirs)
  if(name STREQUAL "nlohmann_json")
    set(header nlohmann/json.hpp)
    set(copy nlohmann)
    set(include_subdir include)
  elseif(name STREQUAL "doctest")
    set(header doctest/doctest.h)
    set(copy doctest)
    set(include_subdir "")
  else()
    message(FATAL_ERROR "local_dependency_tree: unknown dependency '${name}'")
  endif()
  set(from "")
  foreach(d IN LISTS include_dirs)
    if(EXISTS "${d}/${header}")
      set(from "${d}")
      break()
    endif()
  endforeach()
  if(from STREQUAL "")
    message(FATAL_ERROR "local_dependency_tree: no ${header} in '${include_dirs}'")
  endif()
  file(REMOVE_RECURSE "${dir}")
  file(COPY "${from}/${copy}" DESTINATION "${dir}/${include_subdir}")
  set(inc "\${CMAKE_CURRENT_SOURCE_DIR}")
  if(include_subdir)
    string(APPEND inc "/${include_subdir}")
  endif()
  file(WRITE "${dir}/CMakeLists.txt"
"cmake_minimum_required(VERSION 3.14)
project(${name} LANGUAGES NONE)
add_library(${name} INTERFACE)
add_library(${name}::${name} ALIAS ${name})
target_include_directories(${name} INTERFACE \"$<BUILD_INTERFACE:${inc}>\")
")
endfunction()
