# safetensors_write_pkgconfig(<output .pc> <pkgconfig install dir> <include install dir>
#                             [<lib install dir>])
# Writes a relocatable safetensors.pc: the prefix is found from the .pc file's own location
# (${pcfiledir}), so the installed tree can be moved. Header-only: Cflags for the include
# directory, and Libs: -pthread for the threads load() starts (the CMake target's Threads::Threads).
function(safetensors_write_pkgconfig out pcdir incdir)
  if(IS_ABSOLUTE "${pcdir}")
    message(FATAL_ERROR "safetensors: the pkg-config directory must be relative to the prefix: ${pcdir}")
  endif()
  # Relative path from <prefix>/<pcdir> back to <prefix>, computed on a dummy absolute prefix.
  set(_root "/safetensors-pc-root")
  file(RELATIVE_PATH SAFETENSORS_PC_PREFIX_FROM_PCDIR "${_root}/${pcdir}" "${_root}")
  string(REGEX REPLACE "/$" "" SAFETENSORS_PC_PREFIX_FROM_PCDIR "${SAFETENSORS_PC_PREFIX_FROM_PCDIR}")
  if(SAFETENSORS_PC_PREFIX_FROM_PCDIR STREQUAL "")
    set(SAFETENSORS_PC_PREFIX_FROM_PCDIR ".")
  endif()
  if(IS_ABSOLUTE "${incdir}")
    set(SAFETENSORS_PC_INCLUDEDIR "${incdir}")
  else()
    set(SAFETENSORS_PC_INCLUDEDIR "\${prefix}/${incdir}")
  endif()
  configure_file("${PROJECT_SOURCE_DIR}/cmake/safetensors.pc.in" "${out}" @ONLY)
  # With a lib directory, also safetensors_compiled.pc next to it: the separate-compilation mode
  # (-DSAFETENSORS_HEADER_ONLY=0 and the static library of safetensors::safetensors_compiled).
  if(ARGC GREATER 3)
    if(IS_ABSOLUTE "${ARGV3}")
      set(SAFETENSORS_PC_LIBDIR "${ARGV3}")
    else()
      set(SAFETENSORS_PC_LIBDIR "\${prefix}/${ARGV3}")
    endif()
    get_filename_component(_dir "${out}" DIRECTORY)
    configure_file("${PROJECT_SOURCE_DIR}/cmake/safetensors_compiled.pc.in"
                   "${_dir}/safetensors_compiled.pc" @ONLY)
  endif()
endfunction()
