# Mixing the modes fails to link, never silently (docs/design.md#separate-compilation): the
# translation units of tests/separate/ (separate-compilation mode, exceptions on) link with the
# implementation unit src/safetensors.cpp built with exceptions (case 0), and not with the one
# built with -fno-exceptions (case 1), whose definitions live in safetensors::v1_noexcept_lib:
# the linker names the missing safetensors::v1_lib functions.
#   cmake -DCXX=<compiler> -DUSER=<objects> -DIMPL=<objects> -DIMPL_NOEXCEPT=<objects>
#         [-DFLAGS=<compile and link flags>] -DWORK_DIR=<dir> -P link_modes.cmake
# (object lists separated by '|').
cmake_minimum_required(VERSION 3.14)
foreach(v CXX USER IMPL IMPL_NOEXCEPT WORK_DIR)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "link_modes.cmake: -D${v}=... is required")
  endif()
endforeach()
foreach(v USER IMPL IMPL_NOEXCEPT)
  string(REPLACE "|" ";" ${v} "${${v}}")
endforeach()
separate_arguments(flags UNIX_COMMAND "${FLAGS}")
file(MAKE_DIRECTORY "${WORK_DIR}")
foreach(case 0 1)
  if(case EQUAL 0)
    set(impl ${IMPL})
  else()
    set(impl ${IMPL_NOEXCEPT})
  endif()
  execute_process(COMMAND "${CXX}" ${flags} ${USER} ${impl} -pthread -o "${WORK_DIR}/mixed${case}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(case EQUAL 0)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "case 0 (one mode) does not link:\n${out}${err}")
    endif()
    message(STATUS "case 0 links")
  elseif(rc EQUAL 0)
    message(FATAL_ERROR "case 1 (an implementation unit without exceptions) links, but must not")
  elseif(NOT "${out}${err}" MATCHES "safetensors::v1_lib::|_ZN11safetensors6v1_lib")
    message(FATAL_ERROR "case 1 fails to link for another reason than the missing "
                        "safetensors::v1_lib definitions:\n${out}${err}")
  else()
    message(STATUS "case 1 does not link, as it must")
  endif()
endforeach()
