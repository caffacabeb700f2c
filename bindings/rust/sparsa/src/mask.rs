//! Masks: one pattern per head applied at given lengths and block sizes.

use std::marker::PhantomData;
use std::ptr;

use sparsa_sys as sys;

use crate::context::Context;
use crate::error::{check, Result};
use crate::pattern::{raw_list, Pattern};

/// Where relative patterns put the diagonal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alignment {
    BottomRight,
    TopLeft,
}

/// One head's blocks; columns sorted within each row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bsr {
    pub row_ptr: Vec<i64>,
    pub col_idx: Vec<i32>,
    pub is_full: Vec<bool>,
}

/// Which (query block, key block) pairs each head computes; immutable.
/// Borrows its owner (a context, or the cache entry holding it).
#[derive(Debug)]
pub struct Mask<'a> {
    raw: *mut sys::sparsa_mask,
    owned: bool, // false for a cache entry's mask
    _owner: PhantomData<&'a ()>,
}

// SAFETY: masks are immutable; the library allows reads from any thread.
unsafe impl Send for Mask<'_> {}
unsafe impl Sync for Mask<'_> {}

impl<'a> Mask<'a> {
    /// One pattern per query head (or one for all), bottom-right aligned.
    pub fn new(ctx: &'a Context, per_head: &[&Pattern], q_len: i64, kv_len: i64, block_q: i32, block_kv: i32) -> Result<Mask<'a>> {
        Mask::with_alignment(ctx, per_head, q_len, kv_len, block_q, block_kv, Alignment::BottomRight)
    }

    pub fn with_alignment(
        ctx: &'a Context,
        per_head: &[&Pattern],
        q_len: i64,
        kv_len: i64,
        block_q: i32,
        block_kv: i32,
        alignment: Alignment,
    ) -> Result<Mask<'a>> {
        let patterns = raw_list(per_head);
        // SAFETY: desc is initialized by the library, then given valid fields.
        let mut desc: sys::sparsa_mask_desc = unsafe { std::mem::zeroed() };
        check(unsafe { sys::sparsa_mask_desc_init(&mut desc) })?;
        desc.num_heads = patterns.len() as i32;
        desc.patterns = patterns.as_ptr();
        desc.q_len = q_len;
        desc.kv_len = kv_len;
        desc.block_q = block_q;
        desc.block_kv = block_kv;
        desc.alignment = match alignment {
            Alignment::BottomRight => sys::sparsa_alignment_SPARSA_ALIGN_BOTTOM_RIGHT,
            Alignment::TopLeft => sys::sparsa_alignment_SPARSA_ALIGN_TOP_LEFT,
        };
        let mut raw = ptr::null_mut();
        check(unsafe { sys::sparsa_mask_create(ctx.raw(), &desc, &mut raw) })?;
        Ok(Mask::own(raw))
    }

    pub(crate) fn own(raw: *mut sys::sparsa_mask) -> Mask<'a> {
        Mask { raw, owned: true, _owner: PhantomData }
    }

    pub(crate) fn borrowed(raw: *mut sys::sparsa_mask) -> Mask<'a> {
        Mask { raw, owned: false, _owner: PhantomData }
    }

    fn info(&self) -> Result<sys::sparsa_mask_info> {
        // SAFETY: struct_size set as the library asks; a live mask.
        let mut info: sys::sparsa_mask_info = unsafe { std::mem::zeroed() };
        info.struct_size = std::mem::size_of::<sys::sparsa_mask_info>() as u32;
        check(unsafe { sys::sparsa_mask_get_info(self.raw, &mut info) })?;
        Ok(info)
    }

    /// Heads with their own pattern (1: shared by all).
    pub fn num_heads(&self) -> Result<i32> {
        Ok(self.info()?.num_heads)
    }

    /// Fraction of block pairs computed (`None`: the mean over heads).
    pub fn density(&self, head: Option<i32>) -> Result<f64> {
        let mut d = 0.0;
        check(unsafe { sys::sparsa_mask_density(self.raw, head.unwrap_or(-1), &mut d) })?;
        Ok(d)
    }

    /// One head's block structure.
    pub fn export_bsr(&self, head: i32) -> Result<Bsr> {
        let rows = self.info()?.num_q_blocks as usize;
        let mut n = 0i64;
        // SAFETY: the first call only counts; the second gets arrays of that size.
        check(unsafe { sys::sparsa_mask_export_bsr(self.raw, head, ptr::null_mut(), ptr::null_mut(), ptr::null_mut(), 0, &mut n) })?;
        let mut row_ptr = vec![0i64; rows + 1];
        let mut col_idx = vec![0i32; n as usize + 1];
        let mut full = vec![0u8; n as usize + 1];
        check(unsafe {
            sys::sparsa_mask_export_bsr(self.raw, head, row_ptr.as_mut_ptr(), col_idx.as_mut_ptr(), full.as_mut_ptr(), n + 1, &mut n)
        })?;
        col_idx.truncate(n as usize);
        full.truncate(n as usize);
        Ok(Bsr { row_ptr, col_idx, is_full: full.into_iter().map(|b| b != 0).collect() })
    }

    pub(crate) fn raw(&self) -> *const sys::sparsa_mask {
        self.raw
    }
}

impl Drop for Mask<'_> {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: owned reference; plans keep their own.
            unsafe { sys::sparsa_mask_destroy(self.raw) }
        }
    }
}
