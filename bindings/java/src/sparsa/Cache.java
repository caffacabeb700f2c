package sparsa;

import java.nio.file.Path;
import sparsa.capi.SWIGTYPE_p_sparsa_cache;
import sparsa.capi.SWIGTYPE_p_sparsa_cache_entry;
import sparsa.capi.SparsaCapi;
import sparsa.capi.SparsaCapiConstants;

/**
 * Estimated masks keyed by (layer, step, tag), estimator and shape, reused
 * across steps, saved to and loaded from files. Thread-safe.
 */
public final class Cache extends NativeHandle<SWIGTYPE_p_sparsa_cache> {
  /** A lease on one entry: its mask stays valid until {@link #close()}. */
  public static final class Entry extends NativeHandle<SWIGTYPE_p_sparsa_cache_entry> {
    Entry(SWIGTYPE_p_sparsa_cache_entry ptr) {
      super(ptr);
    }

    /** The entry's mask, owned by the entry: do not use it after closing the entry. */
    public Mask mask() {
      return new Mask(SparsaCapi.cache_entry_mask(handle()), false);
    }

    @Override
    void destroy(SWIGTYPE_p_sparsa_cache_entry ptr) {
      SparsaCapi.cache_entry_release(ptr);
    }
  }

  /** Counters of a cache. */
  public static final class Stats {
    public final long hits;
    public final long misses;
    public final long entries;

    Stats(long hits, long misses, long entries) {
      this.hits = hits;
      this.misses = misses;
      this.entries = entries;
    }
  }

  /** refreshEvery 0: never re-estimate; byteBudget 0: unlimited. */
  public Cache(Context ctx, int refreshEvery, long byteBudget) {
    super(SparsaCapi.cache_create(ctx.handle(), refreshEvery, byteBudget, 1));
  }

  /** The entry for this request, estimated from q and k on a miss. */
  public Entry acquire(Estimator est, Tensor q, Tensor k, int layer, long step, long tag) {
    SWIGTYPE_p_sparsa_cache cache = handle();
    return est.withNative(q, k, (e, problem) ->
        new Entry(SparsaCapi.cache_acquire(cache, layer, step, tag, e, problem, q.data, k.data)));
  }

  /** The entry if one is cached and fresh, else null; builds nothing. */
  public Entry lookup(Estimator est, Tensor q, Tensor k, int layer, long step, long tag) {
    SWIGTYPE_p_sparsa_cache cache = handle();
    SWIGTYPE_p_sparsa_cache_entry ptr = est.withNative(q, k, (e, problem) ->
        SparsaCapi.cache_lookup(cache, layer, step, tag, e, problem));
    return ptr == null ? null : new Entry(ptr);
  }

  public Stats stats() {
    SWIGTYPE_p_sparsa_cache c = handle();
    return new Stats(SparsaCapi.cache_stat(c, SparsaCapiConstants.SPARSA_BIND_STAT_HITS),
        SparsaCapi.cache_stat(c, SparsaCapiConstants.SPARSA_BIND_STAT_MISSES),
        SparsaCapi.cache_stat(c, SparsaCapiConstants.SPARSA_BIND_STAT_ENTRIES));
  }

  public void save(Path path) {
    SparsaCapi.cache_save(handle(), path.toString());
  }

  /** Adds the entries of a file written by {@link #save}. */
  public void load(Path path) {
    SparsaCapi.cache_load(handle(), path.toString());
  }

  @Override
  void destroy(SWIGTYPE_p_sparsa_cache ptr) {
    SparsaCapi.cache_destroy(ptr);
  }
}
