# CTest: safetensors-cli starts without libcurl (docs/cli.md#start-up). ldd lists every shared
# library loaded before main, the dependencies' dependencies included; libcurl must not be one.
#   cmake -DLDD=<ldd> -DPROGRAM=<safetensors-cli> -P no_libcurl_at_startup.cmake
execute_process(COMMAND "${LDD}" "${PROGRAM}" OUTPUT_VARIABLE out ERROR_VARIABLE err
                RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT out MATCHES "libc\\.so")
  message(FATAL_ERROR "ldd ${PROGRAM} failed (${rc}): ${out}${err}")
endif()
if(out MATCHES "libcurl")
  message(FATAL_ERROR "${PROGRAM} loads libcurl at start-up:\n${out}")
endif()
message(STATUS "no libcurl among the libraries ${PROGRAM} loads at start-up:\n${out}")
