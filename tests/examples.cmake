# The examples, one per use case (examples/*.cpp), each run by CTest and checked for both its exit
# code and its output: PASS_REGULAR_EXPRESSION alone would pass a program that prints the right
# text and then fails. Included from tests/CMakeLists.txt, this file registers the tests; run as
# a script, it is the runner of one test:
#
#   cmake -DEXPECT=<regex> [-DCLEAN=<dir>] -P tests/examples.cmake -- <program> [<arg>...]
#
# removes CLEAN (so that every run starts from nothing), runs the program (arguments cannot hold
# a `;`: CMake would split them there), and fails unless it exits with 0 and its standard output
# matches EXPECT.

if(CMAKE_SCRIPT_MODE_FILE)
  set(_command)
  set(_separator_seen OFF)
  math(EXPR _last "${CMAKE_ARGC} - 1")
  foreach(_i RANGE ${_last})
    if(_separator_seen)
      list(APPEND _command "${CMAKE_ARGV${_i}}")
    elseif("${CMAKE_ARGV${_i}}" STREQUAL "--")
      set(_separator_seen ON)
    endif()
  endforeach()
  if(NOT _command OR NOT DEFINED EXPECT)
    message(FATAL_ERROR "usage: cmake -DEXPECT=<regex> [-DCLEAN=<dir>] -P examples.cmake -- <program> [<arg>...]")
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

set(_safetensors_examples_runner "${CMAKE_CURRENT_LIST_FILE}")
set(_safetensors_examples_out "${CMAKE_CURRENT_BINARY_DIR}/examples")
file(MAKE_DIRECTORY "${_safetensors_examples_out}")

# _safetensors_example_test(<name> <regex> <target> [<arg>...]): runs the example <target> with
# the arguments, in a test named example_<name>; its output directory is ${out}/<name>.
function(_safetensors_example_test name expect target)
  add_test(NAME example_${name}
    COMMAND "${CMAKE_COMMAND}" "-DEXPECT=${expect}"
      "-DCLEAN=${_safetensors_examples_out}/${name}" -P "${_safetensors_examples_runner}"
      -- "$<TARGET_FILE:${target}>" ${ARGN})
endfunction()

# 1. Read a mapped file (the README's quick start), on the CLI's demo model.
_safetensors_example_test(quickstart "encoder.layer.0.weight F32 24 bytes.*first value: -1[^.0-9]"
  safetensors-quickstart "${CMAKE_CURRENT_BINARY_DIR}/quickstart/demo.safetensors")
# 2. Read without mapping, into buffers the program owns.
_safetensors_example_test(read_into_buffers
  "encoder.layer.0.bias: read 8 bytes.*encoder.layer.0.weight as float: -1 -0.5 0 0.5 1 1.5"
  safetensors-read-into-buffers "${CMAKE_CURRENT_BINARY_DIR}/quickstart/demo.safetensors")
set_tests_properties(example_quickstart example_read_into_buffers PROPERTIES
                     FIXTURES_REQUIRED demo_model)
# 3. Write a file (the README's writing example).
_safetensors_example_test(write_model "wrote .*write_model.safetensors"
  safetensors-write-model "${_safetensors_examples_out}/write_model.safetensors")
# 4. Stream a file larger than memory (8 MiB here), then verify it by reopening it.
_safetensors_example_test(stream_large_file
  "wrote and verified .*large.safetensors: 2097152 floats, 8388696 bytes"
  safetensors-stream-large-file "${_safetensors_examples_out}/stream_large_file" 8)
# 5. Save a checkpoint in three shards, open it, verify it, read a tensor.
_safetensors_example_test(sharded_checkpoint
  "wrote model-00001-of-00003.safetensors.*wrote model-00003-of-00003.safetensors.*verified 4 tensors in 3 shards.*layers.1.weight from model-00002-of-00003.safetensors: element 33 is 33[^.0-9]"
  safetensors-sharded-checkpoint "${_safetensors_examples_out}/sharded_checkpoint")
# 6. Write BF16, read it back as float.
_safetensors_example_test(bf16_to_float
  "0.1 -> BF16 -> 0.100098.*-2.5 -> BF16 -> -2.5.*element 1: bits 0x3dcd = 0.100098"
  safetensors-bf16-to-float "${_safetensors_examples_out}/bf16_to_float")
# 7. Rank 1 of 4 reads its rows of an 8 x 8 weight (one read) and its columns (eight reads).
_safetensors_example_test(tensor_parallel_slice
  "rank 1/4 rows \\[2, 4\\): 64 bytes, reads: 1, values: 20 21 22 23 24 25 26 27 30 31 .* 37[^.0-9].*rank 1/4 columns \\[2, 4\\): 64 bytes, reads: 8, values: 2 3 12 13 22 23 .* 72 73[^.0-9]"
  safetensors-tensor-parallel-slice "${_safetensors_examples_out}/tensor_parallel_slice" 1 4)
