# The examples, one per use case (examples/*.cpp), each run by CTest and checked for both its exit
# code and its output (tests/expect_output.cmake, included before this file by
# tests/CMakeLists.txt). Each example writes into its own directory, emptied before every run.

set(_safetensors_examples_out "${CMAKE_CURRENT_BINARY_DIR}/examples")
file(MAKE_DIRECTORY "${_safetensors_examples_out}")

# _safetensors_example_test(<name> <regex> <target> [<arg>...]): runs the example <target> with
# the arguments, in a test named example_<name>; its output directory is ${out}/<name>.
function(_safetensors_example_test name expect target)
  safetensors_output_test(NAME example_${name} EXPECT "${expect}"
    CLEAN "${_safetensors_examples_out}/${name}" COMMAND "$<TARGET_FILE:${target}>" ${ARGN})
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
# 8. Load the CLI's demo model in one call (load_tensors), every tensor as floats.
_safetensors_example_test(load_model
  "encoder.layer.0.bias: F32 \\[4\\] 1 2 -0.5 0.25.*encoder.layer.0.weight: F32 \\[2, 3\\] -1 -0.5 0 0.5 1 1.5.*step: F32 \\[\\] 42.*loaded 6 tensors"
  safetensors-load-model "${CMAKE_CURRENT_BINARY_DIR}/quickstart/demo.safetensors")
set_tests_properties(example_load_model PROPERTIES FIXTURES_REQUIRED demo_model)
# 9. Load a BF16 checkpoint (two shards) into float buffers with load(), with progress.
_safetensors_example_test(load_to_float
  "wrote 2 shards of BF16\nloaded 25%\nloaded 50%\nloaded 75%\nloaded 100%\nloaded 4 tensors: 65536 bytes read, 131072 bytes of float written, 16 chunks\nlayers.3.weight\\[100\\] = 0.100098 \\(0.1 in BF16\\), \\[8191\\] = 8.1875\n"
  safetensors-load-to-float "${_safetensors_examples_out}/load_to_float")
# 10. Convert a checkpoint's F32 tensors to BF16 in a stream (the CLI's demo model: its F32 weight
# of 24 bytes becomes 12; the other five tensors are copied).
_safetensors_example_test(convert_checkpoint
  "converted 6 tensors to .*convert_checkpoint.bf16.safetensors: 45 -> 33 tensor bytes in 1 load\n"
  safetensors-convert-checkpoint "${CMAKE_CURRENT_BINARY_DIR}/quickstart/demo.safetensors"
  "${_safetensors_examples_out}/convert_checkpoint.bf16.safetensors" BF16)
set_tests_properties(example_convert_checkpoint PROPERTIES FIXTURES_REQUIRED demo_model)
# 11. Tensor-parallel loading across processes (examples/mpi_tensor_parallel.cpp, built when MPI
# is found), under mpiexec on 2 ranks: each loads half of every sliced weight (3 MiB of 6) and the
# replicated norms; rank 0 checks the gathered slices. Label distributed. As root in a container,
# Open MPI needs --allow-run-as-root, --oversubscribe (fewer cores than ranks), no shared-memory
# single-copy mechanism (no ptrace rights) and the single-node launcher (no ssh); under the
# sanitize preset, LeakSanitizer would report Open MPI's own allocations at exit.
if(TARGET safetensors-mpi-tensor-parallel AND MPIEXEC_EXECUTABLE)
  execute_process(COMMAND "${MPIEXEC_EXECUTABLE}" --version OUTPUT_VARIABLE _safetensors_mpiexec
                  ERROR_QUIET)
  set(_safetensors_mpiexec_flags)
  if(_safetensors_mpiexec MATCHES "Open MPI|OpenRTE")
    set(_safetensors_mpiexec_flags --allow-run-as-root --oversubscribe)
  endif()
  safetensors_output_test(NAME example_mpi_tensor_parallel
    EXPECT "rank 0/2: read 3147776 tensor bytes = 3145728 of the 6291456 sliced-weight bytes.*rank 1/2: read 3147776 tensor bytes = 3145728 .*rank 0 gathered 14 tensors from 2 ranks: byte-identical"
    CLEAN "${_safetensors_examples_out}/mpi_tensor_parallel"
    COMMAND "${MPIEXEC_EXECUTABLE}" ${MPIEXEC_NUMPROC_FLAG} 2 ${_safetensors_mpiexec_flags}
      ${MPIEXEC_PREFLAGS} "$<TARGET_FILE:safetensors-mpi-tensor-parallel>" ${MPIEXEC_POSTFLAGS}
      "${_safetensors_examples_out}/mpi_tensor_parallel")
  set_tests_properties(example_mpi_tensor_parallel PROPERTIES LABELS distributed TIMEOUT 120
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMPI_MCA_btl_vader_single_copy_mechanism=none;OMPI_MCA_plm=isolated;ASAN_OPTIONS=detect_leaks=0")
endif()
