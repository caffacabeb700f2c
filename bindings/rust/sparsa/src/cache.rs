//! The mask cache: estimated masks reused across steps and layers, saved
//! to and loaded from files.

use std::marker::PhantomData;
use std::path::Path;
use std::ptr;

use sparsa_sys as sys;

use crate::context::Context;
use crate::error::{check, Result};
use crate::estimate::{c_path, qk_problem, Estimator};
use crate::mask::Mask;
use crate::tensor::{Element, Tensor};

/// A request's key: layer and tag are identity; step drives the reuse policy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheKey {
    pub layer: i32,
    pub step: i64,
    pub tag: u64,
}

/// A cache's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
}

/// Estimated masks keyed by (layer, step, tag), estimator and shape;
/// thread-safe. Borrows its context.
#[derive(Debug)]
pub struct Cache<'c> {
    raw: *mut sys::sparsa_cache,
    _ctx: PhantomData<&'c Context>,
}

// SAFETY: the library makes every cache call thread-safe.
unsafe impl Send for Cache<'_> {}
unsafe impl Sync for Cache<'_> {}

/// A lease on one entry; its mask lives as long as the lease.
#[derive(Debug)]
pub struct CacheEntry<'a> {
    raw: *mut sys::sparsa_cache_entry,
    _cache: PhantomData<&'a ()>,
}

fn key(k: CacheKey) -> Result<sys::sparsa_cache_key> {
    // SAFETY: initialized by the library before any field is set.
    let mut raw: sys::sparsa_cache_key = unsafe { std::mem::zeroed() };
    check(unsafe { sys::sparsa_cache_key_init(&mut raw) })?;
    raw.layer = k.layer;
    raw.step = k.step;
    raw.settings_tag = k.tag;
    Ok(raw)
}

impl<'c> Cache<'c> {
    /// `refresh_every` 0 never re-estimates; `byte_budget` 0 is unlimited.
    pub fn new(ctx: &'c Context, refresh_every: i32, byte_budget: u64) -> Result<Cache<'c>> {
        // SAFETY: initialized by the library before any field is set.
        let mut opts: sys::sparsa_cache_options = unsafe { std::mem::zeroed() };
        check(unsafe { sys::sparsa_cache_options_init(&mut opts) })?;
        opts.refresh_every = refresh_every;
        opts.byte_budget = byte_budget;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::sparsa_cache_create(ctx.raw(), &opts, &mut raw) })?;
        Ok(Cache { raw, _ctx: PhantomData })
    }

    /// The entry for a request, estimated from q and k on a miss.
    pub fn acquire<T: Element>(&self, est: &Estimator, q: &Tensor<T>, k: &Tensor<T>, at: CacheKey) -> Result<CacheEntry<'_>> {
        let (e, p, kk) = (est.raw()?, qk_problem(q, k)?, key(at)?);
        let mut raw = ptr::null_mut();
        // SAFETY: q and k match the problem; all structs initialized.
        check(unsafe { sys::sparsa_cache_acquire(self.raw, &kk, &e, &p, q.ptr(), k.ptr(), &mut raw) })?;
        Ok(CacheEntry { raw, _cache: PhantomData })
    }

    /// The entry if one is cached and fresh; builds nothing (q and k give
    /// only shapes and layouts).
    pub fn lookup<T: Element>(&self, est: &Estimator, q: &Tensor<T>, k: &Tensor<T>, at: CacheKey) -> Result<Option<CacheEntry<'_>>> {
        let (e, p, kk) = (est.raw()?, qk_problem(q, k)?, key(at)?);
        let mut raw = ptr::null_mut();
        check(unsafe { sys::sparsa_cache_lookup(self.raw, &kk, &e, &p, &mut raw) })?;
        Ok(if raw.is_null() { None } else { Some(CacheEntry { raw, _cache: PhantomData }) })
    }

    pub fn stats(&self) -> Result<CacheStats> {
        // SAFETY: struct_size set as the library asks.
        let mut s: sys::sparsa_cache_stats = unsafe { std::mem::zeroed() };
        s.struct_size = std::mem::size_of::<sys::sparsa_cache_stats>() as u32;
        check(unsafe { sys::sparsa_cache_get_stats(self.raw, &mut s) })?;
        Ok(CacheStats { hits: s.hits, misses: s.misses, entries: s.entries })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let path = c_path(path)?;
        check(unsafe { sys::sparsa_cache_save(self.raw, path.as_ptr()) })
    }

    /// Adds the entries of a file written by `save`.
    pub fn load(&self, path: &Path) -> Result<()> {
        let path = c_path(path)?;
        check(unsafe { sys::sparsa_cache_load(self.raw, path.as_ptr()) })
    }
}

impl Drop for Cache<'_> {
    fn drop(&mut self) {
        // SAFETY: owned; leases borrow the cache, so none is left.
        unsafe { sys::sparsa_cache_destroy(self.raw) }
    }
}

impl CacheEntry<'_> {
    /// The entry's mask, valid while the lease is held.
    pub fn mask(&self) -> Result<Mask<'_>> {
        let mut raw = ptr::null();
        check(unsafe { sys::sparsa_cache_entry_get_mask(self.raw, &mut raw) })?;
        Ok(Mask::borrowed(raw as *mut sys::sparsa_mask))
    }
}

impl Drop for CacheEntry<'_> {
    fn drop(&mut self) {
        // SAFETY: owned lease.
        unsafe { sys::sparsa_cache_entry_release(self.raw) }
    }
}
