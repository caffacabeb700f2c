"""The life cycle every sparsa handle shares: close() (idempotent), use as a
context manager, release at garbage collection, and a clear error when a
closed handle is used."""

from . import capi


class Handle:
    """Owner of one library handle."""

    _destroy = None  # staticmethod: the capi function that releases this kind of handle

    def __init__(self, ptr, *keep_alive):
        self._ptr = ptr
        # Handles this one depends on stay open (and referenced) while it lives.
        self._keep_alive = keep_alive

    @property
    def closed(self):
        return self._ptr is None

    @property
    def _handle(self):
        if self._ptr is None:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._ptr

    def close(self):
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            type(self)._destroy(ptr)
        self._keep_alive = ()

    def __enter__(self):
        self._handle  # entering a closed handle is an error too
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # During interpreter shutdown the module may already be gone.
        if getattr(self, "_ptr", None) is not None and capi is not None:
            self.close()
