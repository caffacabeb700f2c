package sparsa;

import sparsa.capi.SWIGTYPE_p_sparsa_context;
import sparsa.capi.SparsaCapi;
import sparsa.capi.SparsaCapiConstants;

/**
 * An engine context; every mask and plan belongs to one. Close it after the
 * masks and plans made from it.
 *
 * <p>Java passes host memory (direct buffers), so its contexts are CPU
 * contexts; device memory is reached from Python or the C API.
 */
public final class Context extends NativeHandle<SWIGTYPE_p_sparsa_context> {
  /** Compute engines reachable with host buffers. */
  public enum Engine {
    CPU(SparsaCapiConstants.SPARSA_ENGINE_CPU);

    final int code;

    Engine(int code) {
      this.code = code;
    }
  }

  /** A CPU context. */
  public Context() {
    this(Engine.CPU, 0);
  }

  /** A context of an engine and device (0 for the CPU). */
  public Context(Engine engine, int device) {
    super(SparsaCapi.context_create(engine.code, device));
  }

  /** Worker threads used by execute calls. */
  public int numThreads() {
    return SparsaCapi.context_num_threads(handle());
  }

  /** Sets the worker threads (1 to 1024; 0 restores the default). */
  public void setNumThreads(int n) {
    SparsaCapi.context_set_num_threads(handle(), n);
  }

  /**
   * The kernels this context runs: the CPU instruction-set path ("amxbf16", "avx512bf16",
   * "avx512", "avx2", "generic"; the environment variable SPARSA_CPU_ISA picks one) or the CUDA
   * device code ("sm_90a", "sm_80").
   */
  public String kernelPath() {
    return SparsaCapi.context_kernel_path(handle());
  }

  @Override
  void destroy(SWIGTYPE_p_sparsa_context ptr) {
    SparsaCapi.context_destroy(ptr);
  }
}
