# safetensors_dependency(): an installed package first, FetchContent second. Used for the library's
# dependency (nlohmann_json, top-level CMakeLists.txt) and the tests' (doctest, tests/).
#
#   safetensors_dependency(<name> TARGET <target> VERSION <minimum version>
#                          URL <archive URL> URL_HASH <ALGO=hash>)
#
# <name> is both the find_package() name and the FetchContent name, so CMake's standard switches
# apply: FETCHCONTENT_SOURCE_DIR_<NAME> (a local source tree instead of the download: offline and
# air-gapped builds), CMAKE_DISABLE_FIND_PACKAGE_<name> (never use an installed package),
# FETCHCONTENT_TRY_FIND_PACKAGE_MODE=NEVER (CMake >= 3.24: same).
#
# What each CMake version does (the project supports 3.14 and later; its presets need 3.25):
#   - all versions: if <target> already exists (a parent project made it), it is used as is.
#   - 3.14 to 3.23: find_package(<name> <version> CONFIG QUIET); if that fails, FetchContent_Declare
#     + FetchContent_MakeAvailable (the download, or FETCHCONTENT_SOURCE_DIR_<NAME>).
#   - 3.24 and later: FetchContent_Declare(... FIND_PACKAGE_ARGS <version> CONFIG QUIET), so
#     FetchContent_MakeAvailable tries find_package first (and lets a dependency provider or
#     FETCHCONTENT_TRY_FIND_PACKAGE_MODE decide), then falls back to the download.
#   - all versions: the include directories of a fetched copy are made SYSTEM for its users (its
#     headers must not trip the project's -Werror), by setting INTERFACE_SYSTEM_INCLUDE_DIRECTORIES.
#     FetchContent_Declare's own SYSTEM keyword (3.25) is not used: CMake 3.25.0 and 3.25.1 forward
#     it to the download step, where it becomes a second URL entry and the configure fails
#     ("At least one entry of URL is a path"). Only keywords that ExternalProject_Add knows (URL,
#     URL_HASH) go before FIND_PACKAGE_ARGS, which comes last.
include_guard(GLOBAL)
include(FetchContent)

function(safetensors_dependency name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "TARGET;VERSION;URL;URL_HASH" "")
  foreach(key TARGET VERSION URL URL_HASH)
    if(NOT arg_${key})
      message(FATAL_ERROR "safetensors_dependency(${name}): ${key} is required")
    endif()
  endforeach()
  if(TARGET ${arg_TARGET})
    return()
  endif()

  string(TOUPPER "${name}" upper)
  set(fetch ON)
  if(CMAKE_VERSION VERSION_LESS 3.24)
    find_package(${name} ${arg_VERSION} CONFIG QUIET)
    if(${name}_FOUND)
      set(fetch OFF)
    else()
      FetchContent_Declare(${name} URL "${arg_URL}" URL_HASH "${arg_URL_HASH}")
    endif()
  else()
    FetchContent_Declare(${name} URL "${arg_URL}" URL_HASH "${arg_URL_HASH}"
      FIND_PACKAGE_ARGS ${arg_VERSION} CONFIG QUIET)
  endif()
  if(fetch)
    FetchContent_MakeAvailable(${name})
  endif()
  if(NOT TARGET ${arg_TARGET})
    message(FATAL_ERROR "safetensors: ${name} (>= ${arg_VERSION}) provides no ${arg_TARGET}")
  endif()

  get_target_property(real ${arg_TARGET} ALIASED_TARGET)
  if(NOT real)
    set(real ${arg_TARGET})
  endif()
  get_target_property(imported ${real} IMPORTED)
  if(imported)
    return()  # an installed package (found here or through FIND_PACKAGE_ARGS)
  endif()
  FetchContent_GetProperties(${name} SOURCE_DIR source_dir)
  message(STATUS "safetensors: ${name} >= ${arg_VERSION} is not installed: using the copy in "
                 "${source_dir} (FetchContent; offline: FETCHCONTENT_SOURCE_DIR_${upper})")
  get_target_property(dirs ${real} INTERFACE_INCLUDE_DIRECTORIES)
  if(dirs)
    set_property(TARGET ${real} APPEND PROPERTY INTERFACE_SYSTEM_INCLUDE_DIRECTORIES "${dirs}")
  endif()
endfunction()
