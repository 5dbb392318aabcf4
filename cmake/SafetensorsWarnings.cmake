# safetensors_target_warnings(<target>)
# Adds the project's warning flags to one of the project's own (non-INTERFACE) targets;
# -Werror / /WX only when SAFETENSORS_WERROR is ON. Never used on the library target itself.
function(safetensors_target_warnings tgt)
  if(MSVC) # cl and clang-cl; /utf-8: the sources are UTF-8 whatever the system's code page
    target_compile_options(${tgt} PRIVATE /W4 /permissive- /utf-8)
    if(SAFETENSORS_WERROR)
      target_compile_options(${tgt} PRIVATE /WX)
    endif()
  elseif(CMAKE_CXX_COMPILER_ID MATCHES "^(GNU|Clang|AppleClang)$")
    target_compile_options(${tgt} PRIVATE
      -Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow)
    if(SAFETENSORS_WERROR)
      target_compile_options(${tgt} PRIVATE -Werror)
    endif()
  endif()
endfunction()
