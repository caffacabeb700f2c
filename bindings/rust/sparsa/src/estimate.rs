//! Masks estimated from q and k at run time, and per-head pattern configs
//! found offline and kept in files.

use std::ffi::CString;
use std::path::Path;
use std::ptr;

use sparsa_sys as sys;

use crate::context::Context;
use crate::error::{argument, check, Result};
use crate::mask::Mask;
use crate::problem::problem;
use crate::tensor::{Element, Tensor};

/// An estimator's scoring method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    PooledBlocks,
    Antidiagonal,
    VerticalSlash,
}

/// How an estimator keeps candidates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Selection {
    /// A fixed number per row.
    TopK(i32),
    /// The fewest whose cumulative score reaches the mass.
    Threshold(f32),
}

/// Settings of a run-time estimator. Fields left `None` keep the method's
/// defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimator {
    pub method: Method,
    pub blocks: Option<(i32, i32)>,
    pub selection: Option<Selection>,
    pub stride: Option<i32>,
    pub last_q: Option<i32>,
    pub keep_sink_blocks: Option<i32>,
    pub keep_diagonal: Option<bool>,
    pub causal: Option<bool>,
}

impl Estimator {
    pub fn new(method: Method) -> Estimator {
        Estimator {
            method,
            blocks: None,
            selection: None,
            stride: None,
            last_q: None,
            keep_sink_blocks: None,
            keep_diagonal: None,
            causal: None,
        }
    }

    /// The library's struct: its defaults for the method, then these settings.
    pub(crate) fn raw(&self) -> Result<sys::sparsa_estimator> {
        let method = match self.method {
            Method::PooledBlocks => sys::sparsa_estimator_method_SPARSA_ESTIMATOR_POOLED_BLOCKS,
            Method::Antidiagonal => sys::sparsa_estimator_method_SPARSA_ESTIMATOR_ANTIDIAGONAL,
            Method::VerticalSlash => sys::sparsa_estimator_method_SPARSA_ESTIMATOR_VERTICAL_SLASH,
        };
        // SAFETY: initialized by the library before any field is set.
        let mut e: sys::sparsa_estimator = unsafe { std::mem::zeroed() };
        check(unsafe { sys::sparsa_estimator_init(&mut e, method) })?;
        if let Some((bq, bkv)) = self.blocks {
            e.block_q = bq;
            e.block_kv = bkv;
        }
        match self.selection {
            Some(Selection::TopK(k)) => {
                e.selection = sys::sparsa_selection_SPARSA_SELECT_TOP_K;
                e.top_k = k;
            }
            Some(Selection::Threshold(mass)) => {
                e.selection = sys::sparsa_selection_SPARSA_SELECT_THRESHOLD;
                e.threshold = mass;
            }
            None => {}
        }
        e.stride = self.stride.unwrap_or(e.stride);
        e.last_q = self.last_q.unwrap_or(e.last_q);
        e.keep_sink_blocks = self.keep_sink_blocks.unwrap_or(e.keep_sink_blocks);
        e.keep_diagonal = self.keep_diagonal.map_or(e.keep_diagonal, i32::from);
        e.causal = self.causal.map_or(e.causal, i32::from);
        Ok(e)
    }

    /// A mask estimated from q and k.
    pub fn estimate<'c, T: Element>(&self, ctx: &'c Context, q: &Tensor<T>, k: &Tensor<T>) -> Result<Mask<'c>> {
        let est = self.raw()?;
        let p = qk_problem(q, k)?;
        let mut raw = ptr::null_mut();
        // SAFETY: q and k match the problem's layouts; both structs initialized.
        check(unsafe { sys::sparsa_mask_estimate(ctx.raw(), &est, &p, q.ptr(), k.ptr(), &mut raw) })?;
        Ok(Mask::own(raw))
    }
}

/// The problem an estimator, a search or a cache reads: q and k as given;
/// v and out are not read, so they take k's and q's layouts.
pub(crate) fn qk_problem<T: Element>(q: &Tensor<T>, k: &Tensor<T>) -> Result<sys::sparsa_problem> {
    problem(T::DTYPE, &q.layout(), &k.layout(), &k.layout(), None)
}

pub(crate) fn c_path(path: &Path) -> Result<CString> {
    let text = path.to_str().ok_or_else(|| crate::Error::Argument(format!("path {:?} is not UTF-8", path)))?;
    CString::new(text).or_else(|_| argument(format!("path {:?} holds a NUL byte", path)))
}

/// Per-head patterns found by the offline search, kept in files.
#[derive(Debug)]
pub struct PatternConfig {
    raw: *mut sys::sparsa_pattern_config,
}

// SAFETY: immutable once made.
unsafe impl Send for PatternConfig {}
unsafe impl Sync for PatternConfig {}

impl PatternConfig {
    /// Per head, the cheapest pattern capturing `target_mass` of q and k's attention.
    pub fn search<T: Element>(
        ctx: &Context,
        q: &Tensor<T>,
        k: &Tensor<T>,
        target_mass: f32,
        blocks: (i32, i32),
        causal: bool,
    ) -> Result<PatternConfig> {
        // SAFETY: initialized by the library before any field is set.
        let mut opts: sys::sparsa_search_options = unsafe { std::mem::zeroed() };
        check(unsafe { sys::sparsa_search_options_init(&mut opts) })?;
        opts.target_mass = target_mass;
        opts.block_q = blocks.0;
        opts.block_kv = blocks.1;
        opts.causal = causal as i32;
        let p = qk_problem(q, k)?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::sparsa_pattern_search(ctx.raw(), &opts, &p, q.ptr(), k.ptr(), &mut raw) })?;
        Ok(PatternConfig { raw })
    }

    /// Reads a file written by `save`.
    pub fn load(path: &Path) -> Result<PatternConfig> {
        let path = c_path(path)?;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::sparsa_pattern_config_load(path.as_ptr(), &mut raw) })?;
        Ok(PatternConfig { raw })
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let path = c_path(path)?;
        check(unsafe { sys::sparsa_pattern_config_save(self.raw, path.as_ptr()) })
    }

    pub fn num_heads(&self) -> Result<i32> {
        let mut n = 0;
        check(unsafe { sys::sparsa_pattern_config_num_heads(self.raw, &mut n) })?;
        Ok(n)
    }

    /// The sparsa_head_kind value of one head.
    pub fn head_kind(&self, head: i32) -> Result<u32> {
        // SAFETY: struct_size set as the library asks.
        let mut info: sys::sparsa_head_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<sys::sparsa_head_info>() as u32;
        check(unsafe { sys::sparsa_pattern_config_get_head(self.raw, head, &mut info) })?;
        Ok(info.kind)
    }

    /// One pattern per head at these lengths.
    pub fn mask<'c>(&self, ctx: &'c Context, q_len: i64, kv_len: i64) -> Result<Mask<'c>> {
        let mut raw = ptr::null_mut();
        check(unsafe { sys::sparsa_pattern_config_create_mask(ctx.raw(), self.raw, q_len, kv_len, &mut raw) })?;
        Ok(Mask::own(raw))
    }
}

impl Drop for PatternConfig {
    fn drop(&mut self) {
        // SAFETY: owned.
        unsafe { sys::sparsa_pattern_config_destroy(self.raw) }
    }
}
