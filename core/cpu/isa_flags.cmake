# Compile options of the CPU engine's kernels, included by sparsa_core_target()
# for each core target (${name}). Instruction-set variants are chosen at run
# time inside the kernel sources (function multi-versioning); here only the
# optimization level: the register-tiled loops need full vectorization.
set_source_files_properties(
  "${CMAKE_CURRENT_SOURCE_DIR}/cpu/attention.c"
  PROPERTIES COMPILE_OPTIONS "-O3")
