# CTest check of packaging/vcpkg (vcpkg itself cannot be fetched here): installs the source tree
# with the options the portfile passes and checks the layout the portfile's fixups expect.
#   cmake -DSOURCE_DIR=... -DWORK_DIR=... -DVERSION=<CMake's version> -DGENERATOR=...
#         -DCXX=... -P check_vcpkg_layout.cmake
cmake_minimum_required(VERSION 3.14)
set(port "${SOURCE_DIR}/packaging/vcpkg/ports/safetensors")
file(READ "${port}/portfile.cmake" portfile)
file(READ "${port}/vcpkg.json" manifest)

function(fail msg)
  message(FATAL_ERROR "vcpkg port: ${msg}")
endfunction()

# The manifest's name and version agree with CMake's.
if(NOT manifest MATCHES "\"name\": \"safetensors\"")
  fail("vcpkg.json name is not safetensors")
endif()
if(NOT manifest MATCHES "\"version\": \"([0-9.]+)\"" OR NOT CMAKE_MATCH_1 STREQUAL VERSION)
  fail("vcpkg.json version '${CMAKE_MATCH_1}' != CMake's '${VERSION}'")
endif()
if(NOT manifest MATCHES "\"nlohmann-json\"")
  fail("vcpkg.json does not depend on nlohmann-json")
endif()

# The options and the config path, as the portfile passes them.
if(NOT portfile MATCHES "set\\(SAFETENSORS_PORT_OPTIONS([^)]*)\\)")
  fail("no SAFETENSORS_PORT_OPTIONS in portfile.cmake")
endif()
string(REGEX REPLACE "[ \t\r\n]+" ";" options "${CMAKE_MATCH_1}")
list(REMOVE_ITEM options "")
if(NOT portfile MATCHES "vcpkg_cmake_config_fixup\\(CONFIG_PATH ([^ )]+)\\)")
  fail("no vcpkg_cmake_config_fixup(CONFIG_PATH ...)")
endif()
set(config_path "${CMAKE_MATCH_1}")
foreach(needed "set(VCPKG_BUILD_TYPE release)" "vcpkg_fixup_pkgconfig()" "vcpkg_install_copyright(")
  string(FIND "${portfile}" "${needed}" at)
  if(at EQUAL -1)
    fail("portfile.cmake lacks ${needed}")
  endif()
endforeach()

# vcpkg_cmake_configure + vcpkg_cmake_install, release only.
set(pkgs "${WORK_DIR}/packages")
file(REMOVE_RECURSE "${WORK_DIR}")
execute_process(COMMAND "${CMAKE_COMMAND}" -S "${SOURCE_DIR}" -B "${WORK_DIR}/build" -G "${GENERATOR}"
                  "-DCMAKE_CXX_COMPILER=${CXX}" -DCMAKE_BUILD_TYPE=Release
                  "-DCMAKE_INSTALL_PREFIX=${pkgs}" ${options}
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  fail("configure with the port's options failed")
endif()
execute_process(COMMAND "${CMAKE_COMMAND}" --build "${WORK_DIR}/build" --target install
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  fail("install failed")
endif()

# The layout: header, CMake package where CONFIG_PATH says, pkg-config file where
# vcpkg_fixup_pkgconfig looks, nothing architecture-specific (header-only), license.
foreach(f include/safetensors/safetensors.hpp include/safetensors/parts/basics.hpp
          ${config_path}/safetensorsConfig.cmake ${config_path}/safetensorsConfigVersion.cmake
          ${config_path}/safetensorsTargets.cmake share/pkgconfig/safetensors.pc
          share/doc/safetensors/LICENSE)
  if(NOT EXISTS "${pkgs}/${f}")
    fail("${f} not installed")
  endif()
endforeach()
foreach(d lib bin debug)
  if(EXISTS "${pkgs}/${d}")
    fail("a header-only port installs nothing under ${d}/")
  endif()
endforeach()
# Relocatable: no absolute path of the install prefix or the source/build trees in the files.
file(GLOB_RECURSE installed "${pkgs}/share/*.cmake" "${pkgs}/share/*.pc")
foreach(f IN LISTS installed)
  file(READ "${f}" text)
  foreach(p "${pkgs}" "${SOURCE_DIR}" "${WORK_DIR}")
    string(FIND "${text}" "${p}" at)
    if(NOT at EQUAL -1)
      fail("${f} contains the absolute path ${p}")
    endif()
  endforeach()
endforeach()
message(STATUS "vcpkg port layout ok (options: ${options}; CONFIG_PATH ${config_path})")
