# Compile options of the CPU engine's kernels, included by sparsa_core_target()
# for each core target (${name}). Instruction-set variants are chosen at run
# time inside the kernel sources (function multi-versioning); here the
# optimization level and floating-point contraction: the register-tiled
# loops need full vectorization, and a fused multiply-add per step (where
# the clone's instruction set has one) is both faster and more accurate.
set_source_files_properties(
  "${CMAKE_CURRENT_SOURCE_DIR}/cpu/attention.c"
  PROPERTIES COMPILE_OPTIONS "-O3;-ffp-contract=fast")
