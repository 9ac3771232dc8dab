# Warnings, sanitizers and precompiled headers shared by every strata target.

function(strata_warnings target)
  if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow=local
                                             -Wno-unused-parameter)
  endif()
endfunction()

if(STRATA_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

function(strata_torch_pch target)
  if(STRATA_PCH)
    target_precompile_headers(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src/pch_torch.hpp)
  endif()
endfunction()

function(strata_torch_pch_reuse target)
  if(STRATA_PCH)
    target_precompile_headers(${target} REUSE_FROM strata)
  endif()
endfunction()
