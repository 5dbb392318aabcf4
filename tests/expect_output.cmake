# Tests that check a program's output check its exit code too: CTest's PASS_REGULAR_EXPRESSION
# alone ignores the exit code, so a program that prints the right line and then fails would pass.
# Every such test runs through this file instead. Included (by tests/CMakeLists.txt), it defines
#
#   safetensors_output_test(NAME <name> EXPECT <regex> [CLEAN <dir>] COMMAND <program> [<arg>...])
#
# (<program> may be a target); run as a script, it is the runner of one test:
#
#   cmake -DEXPECT=<regex> [-DCLEAN=<dir>] -P tests/expect_output.cmake -- <program> [<arg>...]
#
# removes CLEAN (so that every run starts from nothing), runs the program, and fails unless it
# exits with 0 and its standard output matches EXPECT. The runner's own tests (below) give it
# programs made with
#
#   cmake -DPRINT=<text> -DEXIT=<0|1> -P tests/expect_output.cmake
#
# which prints <text> on standard output and exits with EXIT.

if(CMAKE_SCRIPT_MODE_FILE)
  if(DEFINED PRINT)
    execute_process(COMMAND "${CMAKE_COMMAND}" -E echo "${PRINT}")
    if(NOT "${EXIT}" STREQUAL "0")
      message(FATAL_ERROR "exiting with a failure after printing '${PRINT}', as asked")
    endif()
    return()
  endif()
  set(_command)
  set(_separator_seen OFF)
  math(EXPR _last "${CMAKE_ARGC} - 1")
  foreach(_i RANGE ${_last})
    if(_separator_seen)
      string(REPLACE ";" "\\;" _arg "${CMAKE_ARGV${_i}}")  # one argument, even with a `;`
      list(APPEND _command "${_arg}")
    elseif("${CMAKE_ARGV${_i}}" STREQUAL "--")
      set(_separator_seen ON)
    endif()
  endforeach()
  if(NOT _command OR NOT DEFINED EXPECT)
    message(FATAL_ERROR
      "usage: cmake -DEXPECT=<regex> [-DCLEAN=<dir>] -P expect_output.cmake -- <program> [<arg>...]")
  endif()
  if(CLEAN)
    file(REMOVE_RECURSE "${CLEAN}")
  endif()
  execute_process(COMMAND ${_command} RESULT_VARIABLE _rc OUTPUT_VARIABLE _out ERROR_VARIABLE _err)
  message("${_out}${_err}")
  string(REPLACE ";" " " _shown "${_command}")
  if(NOT "${_rc}" STREQUAL "0")
    message(FATAL_ERROR "${_shown}: exited with ${_rc}, not 0")
  endif()
  if(NOT "${_out}" MATCHES "${EXPECT}")
    message(FATAL_ERROR "${_shown}: the output does not match ${EXPECT}")
  endif()
  return()
endif()

set(_safetensors_output_runner "${CMAKE_CURRENT_LIST_FILE}")

function(safetensors_output_test)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "NAME;EXPECT;CLEAN" "COMMAND")
  if(NOT arg_NAME OR NOT DEFINED arg_EXPECT OR NOT arg_COMMAND OR arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR
      "safetensors_output_test(NAME <name> EXPECT <regex> [CLEAN <dir>] COMMAND <program> ...)")
  endif()
  list(GET arg_COMMAND 0 program)
  list(REMOVE_AT arg_COMMAND 0)
  if(TARGET "${program}")
    set(program "$<TARGET_FILE:${program}>")
  endif()
  set(clean)
  if(arg_CLEAN)
    set(clean "-DCLEAN=${arg_CLEAN}")
  endif()
  add_test(NAME ${arg_NAME}
    COMMAND "${CMAKE_COMMAND}" "-DEXPECT=${arg_EXPECT}" ${clean} -P "${_safetensors_output_runner}"
      -- "${program}" ${arg_COMMAND})
endfunction()

# The runner itself: it passes a program that exits with 0 and prints the text, and fails one
# that prints the text and exits with 1, and one that exits with 0 and prints something else.
safetensors_output_test(NAME output_test_runner_passes EXPECT "^runner ok"
  COMMAND "${CMAKE_COMMAND}" "-DPRINT=runner ok" -DEXIT=0 -P "${_safetensors_output_runner}")
safetensors_output_test(NAME output_test_runner_fails_on_exit_code EXPECT "^runner ok"
  COMMAND "${CMAKE_COMMAND}" "-DPRINT=runner ok" -DEXIT=1 -P "${_safetensors_output_runner}")
safetensors_output_test(NAME output_test_runner_fails_on_output EXPECT "^runner ok"
  COMMAND "${CMAKE_COMMAND}" "-DPRINT=something else" -DEXIT=0 -P "${_safetensors_output_runner}")
set_tests_properties(output_test_runner_fails_on_exit_code output_test_runner_fails_on_output
                     PROPERTIES WILL_FAIL TRUE)
