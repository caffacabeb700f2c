"""Contexts: one engine (the CPU, or one CUDA device and stream)."""

from . import capi
from ._handle import Handle

_ENGINES = {"cpu": capi.SPARSA_ENGINE_CPU, "cuda": capi.SPARSA_ENGINE_CUDA}


class Context(Handle):
    """An engine context; every mask and plan belongs to one.

    >>> with sparsa.Context() as ctx: ...
    """

    _destroy = staticmethod(capi.context_destroy)

    def __init__(self, engine="cpu", device=0, num_threads=None):
        if engine not in _ENGINES:
            raise ValueError(f"engine must be one of {sorted(_ENGINES)}, got {engine!r}")
        super().__init__(capi.context_create(_ENGINES[engine], device))
        self.engine = engine
        self.device_index = device
        if num_threads is not None:
            self.num_threads = num_threads

    @property
    def device(self):
        """Where this context's tensors live: "cpu" or "cuda"."""
        return self.engine

    @property
    def num_threads(self):
        return capi.context_num_threads(self._handle)

    @num_threads.setter
    def num_threads(self, n):
        capi.context_set_num_threads(self._handle, n)

    @property
    def kernel_path(self):
        """The kernels this context runs: the CPU instruction-set path
        ("amxbf16", "avx512bf16", "avx512", "avx2", "generic"; SPARSA_CPU_ISA picks
        one) or the CUDA device code ("sm_90a", "sm_80")."""
        return capi.context_kernel_path(self._handle)

    def set_stream(self, stream):
        """Queue device work on a CUDA stream, given as its handle (an int,
        e.g. torch.cuda.current_stream().cuda_stream); 0 is the default."""
        capi.context_set_stream(self._handle, int(stream))

    def synchronize(self):
        capi.context_synchronize(self._handle)

    def __repr__(self):
        state = "closed" if self.closed else f"{self.engine}:{self.device_index}"
        return f"<sparsa.Context {state}>"
