# Compiles tests/compile_fail/<NAME>.cpp once per case: CASE=0 must compile, CASE=1..CASES must
# not, and each failure's diagnostics must match EXPECT (so that an unrelated error, such as a
# missing include, cannot pass).
#   cmake -DCXX=<compiler> -DSOURCE=<file.cpp> -DCASES=<n> -DEXPECT=<regex>
#         -DINCLUDES=<dir;dir> -DSTD=<17|20> -P check.cmake
cmake_minimum_required(VERSION 3.14)
foreach(v CXX SOURCE CASES EXPECT INCLUDES STD)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "check.cmake: -D${v}=... is required")
  endif()
endforeach()
set(flags "-std=c++${STD}" -fsyntax-only)
foreach(dir IN LISTS INCLUDES)
  list(APPEND flags "-I${dir}")
endforeach()
foreach(case RANGE 0 ${CASES})
  execute_process(COMMAND "${CXX}" ${flags} "-DCASE=${case}" "${SOURCE}"
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(case EQUAL 0)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "case 0 (the correct use) does not compile:\n${err}")
    endif()
    message(STATUS "case 0 compiles")
  elseif(rc EQUAL 0)
    message(FATAL_ERROR "case ${case} compiles, but must not")
  elseif(NOT err MATCHES "${EXPECT}")
    message(FATAL_ERROR "case ${case} fails for another reason than expected (${EXPECT}):\n${err}")
  else()
    message(STATUS "case ${case} does not compile, as it must")
  endif()
endforeach()
