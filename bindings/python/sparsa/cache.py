"""The mask cache: estimated masks reused across steps and layers, saved
to and loaded from files ("wisdom")."""

import os

from . import capi
from ._handle import Handle
from .estimate import qk_problem
from .mask import Mask

_STATS = {
    "hits": capi.SPARSA_BIND_STAT_HITS, "misses": capi.SPARSA_BIND_STAT_MISSES,
    "refreshes": capi.SPARSA_BIND_STAT_REFRESHES, "extensions": capi.SPARSA_BIND_STAT_EXTENSIONS,
    "evictions": capi.SPARSA_BIND_STAT_EVICTIONS, "entries": capi.SPARSA_BIND_STAT_ENTRIES,
    "bytes": capi.SPARSA_BIND_STAT_BYTES,
}


class _BorrowedMask(Mask):
    """A mask owned by a cache entry: closing it only drops this view."""

    _destroy = staticmethod(lambda ptr: None)


class CacheEntry(Handle):
    """A lease on one cache entry; its mask stays valid until close()."""

    _destroy = staticmethod(capi.cache_entry_release)

    @property
    def mask(self):
        return _BorrowedMask._adopt(capi.cache_entry_mask(self._handle), self)


class Cache(Handle):
    """Estimated masks keyed by (layer, step, tag), estimator and shape.

    An entry estimated at step s0 serves steps s with |s - s0| <
    refresh_every (always, with 0); byte_budget bounds it (0: unlimited).
    """

    _destroy = staticmethod(capi.cache_destroy)

    def __init__(self, ctx, refresh_every=0, byte_budget=0, build_plans=True):
        super().__init__(capi.cache_create(ctx._handle, refresh_every, byte_budget, int(bool(build_plans))),
                         ctx)
        self._ctx = ctx

    def acquire(self, estimator, q, k, *, layer=0, step=0, tag=0):
        """The entry for this request, estimated from q and k on a miss."""
        problem, tq, tk = qk_problem(self._ctx, q, k)
        with problem:
            return CacheEntry(capi.cache_acquire(self._handle, layer, step, tag, estimator._handle,
                                                 problem._handle, tq.address, tk.address), self)

    def lookup(self, estimator, q, k, *, layer=0, step=0, tag=0):
        """The entry if one is cached and fresh, else None; builds nothing
        (q and k give only shapes and layouts)."""
        problem, _, _ = qk_problem(self._ctx, q, k)
        with problem:
            ptr = capi.cache_lookup(self._handle, layer, step, tag,
                                    None if estimator is None else estimator._handle, problem._handle)
        return None if ptr is None else CacheEntry(ptr, self)

    def stats(self):
        h = self._handle
        return {name: capi.cache_stat(h, field) for name, field in _STATS.items()}

    def save(self, path):
        capi.cache_save(self._handle, os.fspath(path))

    def load(self, path):
        """Add the entries of a file saved by save()."""
        capi.cache_load(self._handle, os.fspath(path))
