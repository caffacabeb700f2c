package sparsa

import (
	"runtime"

	"sparsa/internal/capi"
)

// Cache holds estimated masks keyed by (layer, step, tag), estimator and
// shape, reused across steps and saved to files. Safe for concurrent use.
type Cache struct {
	ptr capi.Struct_SS_sparsa_cache
}

// CacheKey identifies a request: the layer and tag are identity, the step
// drives the reuse policy.
type CacheKey struct {
	Layer int
	Step  int64
	Tag   int64
}

// CacheEntry is a lease on one entry; its mask stays valid until Close.
type CacheEntry struct {
	ptr capi.Struct_SS_sparsa_cache_entry
}

// CacheStats are a cache's counters.
type CacheStats struct {
	Hits, Misses, Entries int64
}

// NewCache makes a cache; refreshEvery 0 never re-estimates, byteBudget 0
// is unlimited.
func NewCache(ctx *Context, refreshEvery int, byteBudget int64) (*Cache, error) {
	c, err := ctx.handle()
	if err != nil {
		return nil, err
	}
	var ptr capi.Struct_SS_sparsa_cache
	if err := call(func() { ptr = capi.Cache_create(c, refreshEvery, byteBudget, 1) }); err != nil {
		return nil, err
	}
	return &Cache{ptr: ptr}, nil
}

func (c *Cache) handle() (capi.Struct_SS_sparsa_cache, error) {
	if c == nil || c.ptr == nil {
		return nil, closedError("Cache")
	}
	return c.ptr, nil
}

// Acquire returns the entry for a request, estimated from q and k on a miss.
func (c *Cache) Acquire(est *Estimator, q, k Tensor, key CacheKey) (*CacheEntry, error) {
	h, err := c.handle()
	if err != nil {
		return nil, err
	}
	var ptr capi.Struct_SS_sparsa_cache_entry
	err = est.withNative(q, k, func(e capi.Struct_SS_sparsa_estimator, p capi.Sparsa_problem) {
		ptr = capi.Cache_acquire(h, key.Layer, key.Step, key.Tag, e, p, q.ptr, k.ptr)
	})
	runtime.KeepAlive([]any{q.owner, k.owner})
	if err != nil {
		return nil, err
	}
	return &CacheEntry{ptr: ptr}, nil
}

// Lookup returns the entry if one is cached and fresh, else nil; it builds
// nothing (q and k give only shapes and layouts).
func (c *Cache) Lookup(est *Estimator, q, k Tensor, key CacheKey) (*CacheEntry, error) {
	h, err := c.handle()
	if err != nil {
		return nil, err
	}
	var ptr capi.Struct_SS_sparsa_cache_entry
	err = est.withNative(q, k, func(e capi.Struct_SS_sparsa_estimator, p capi.Sparsa_problem) {
		ptr = capi.Cache_lookup(h, key.Layer, key.Step, key.Tag, e, p)
	})
	if err != nil || ptr.Swigcptr() == 0 {
		return nil, err
	}
	return &CacheEntry{ptr: ptr}, nil
}

// Stats are the cache's counters.
func (c *Cache) Stats() (CacheStats, error) {
	h, err := c.handle()
	if err != nil {
		return CacheStats{}, err
	}
	var s CacheStats
	err = call(func() {
		s.Hits = capi.Cache_stat(h, capi.SPARSA_BIND_STAT_HITS)
		s.Misses = capi.Cache_stat(h, capi.SPARSA_BIND_STAT_MISSES)
		s.Entries = capi.Cache_stat(h, capi.SPARSA_BIND_STAT_ENTRIES)
	})
	return s, err
}

// Save writes every entry to a file.
func (c *Cache) Save(path string) error {
	h, err := c.handle()
	if err != nil {
		return err
	}
	return call(func() { capi.Cache_save(h, path) })
}

// Load adds the entries of a file written by Save.
func (c *Cache) Load(path string) error {
	h, err := c.handle()
	if err != nil {
		return err
	}
	return call(func() { capi.Cache_load(h, path) })
}

// Close releases the cache (leases still held stay valid); closing twice
// is a no-op.
func (c *Cache) Close() error {
	if c != nil && c.ptr != nil {
		capi.Cache_destroy(c.ptr)
		c.ptr = nil
	}
	return nil
}

// Mask is the entry's mask, owned by the entry: do not use it after
// closing the entry.
func (e *CacheEntry) Mask() (*Mask, error) {
	if e == nil || e.ptr == nil {
		return nil, closedError("CacheEntry")
	}
	var ptr capi.Struct_SS_sparsa_mask
	if err := call(func() { ptr = capi.Cache_entry_mask(e.ptr) }); err != nil {
		return nil, err
	}
	return &Mask{ptr: ptr, owned: false}, nil
}

// Close ends the lease; closing twice is a no-op.
func (e *CacheEntry) Close() error {
	if e != nil && e.ptr != nil {
		capi.Cache_entry_release(e.ptr)
		e.ptr = nil
	}
	return nil
}
