//! Patterns: token-level rules saying which keys each query sees.
//!
//! Every unsafe call below passes live handles, slices with their own
//! lengths, and valid out-pointers; the library copies arrays it is given.

use std::ptr;

use sparsa_sys as sys;

use crate::error::{argument, check, Result};

/// An immutable pattern, independent of lengths and contexts. Masks and
/// unions keep their own reference, so it may be dropped once used.
#[derive(Debug)]
pub struct Pattern {
    raw: *mut sys::sparsa_pattern,
}

// SAFETY: patterns are immutable and reference-counted by the library.
unsafe impl Send for Pattern {}
unsafe impl Sync for Pattern {}

/// Runs a constructor with an out-pointer and wraps its result.
fn make(f: impl FnOnce(*mut *mut sys::sparsa_pattern) -> sys::sparsa_status) -> Result<Pattern> {
    let mut raw = ptr::null_mut();
    check(f(&mut raw))?;
    Ok(Pattern { raw })
}

fn ptr_or_null<T>(s: &[T]) -> *const T {
    if s.is_empty() {
        ptr::null()
    } else {
        s.as_ptr()
    }
}

impl Pattern {
    /// Every key.
    pub fn dense() -> Result<Pattern> {
        make(|out| unsafe { sys::sparsa_pattern_create_dense(out) })
    }

    /// No key: the head's output is 0 and its lse -inf.
    pub fn none() -> Result<Pattern> {
        make(|out| unsafe { sys::sparsa_pattern_create_none(out) })
    }

    /// Keys at or before the aligned query position.
    pub fn causal() -> Result<Pattern> {
        make(|out| unsafe { sys::sparsa_pattern_create_causal(out) })
    }

    /// Keys with -right <= d <= left, d = aligned query position - key.
    pub fn window(left: i64, right: i64) -> Result<Pattern> {
        make(|out| unsafe { sys::sparsa_pattern_create_window(left, right, out) })
    }

    /// Causal; the first `sink` keys and the last `window` keys.
    pub fn sink_window(sink: i64, window: i64) -> Result<Pattern> {
        make(|out| unsafe { sys::sparsa_pattern_create_sink_window(sink, window, out) })
    }

    /// A window keeping every `dilation`-th distance.
    pub fn dilated(left: i64, right: i64, dilation: i64) -> Result<Pattern> {
        make(|out| unsafe { sys::sparsa_pattern_create_dilated(left, right, dilation, out) })
    }

    /// Global tokens see and are seen by every token.
    pub fn global(tokens: &[i64]) -> Result<Pattern> {
        make(|out| unsafe { sys::sparsa_pattern_create_global(ptr_or_null(tokens), tokens.len() as i64, out) })
    }

    /// Tiles in BSR form: row r lists `col_idx[row_ptr[r]..row_ptr[r + 1]]`.
    pub fn blocks_bsr(block_rows: i32, block_cols: i32, row_ptr: &[i64], col_idx: &[i32]) -> Result<Pattern> {
        match row_ptr.last() {
            None => return argument("blocks_bsr: row_ptr needs at least one entry".into()),
            Some(&end) if end < 0 || end as usize > col_idx.len() => {
                return argument(format!("blocks_bsr: row_ptr ends at {} but col_idx has {} entries", end, col_idx.len()))
            }
            _ => {}
        }
        make(|out| unsafe {
            sys::sparsa_pattern_create_blocks_bsr(
                block_rows,
                block_cols,
                row_ptr.len() as i64 - 1,
                row_ptr.as_ptr(),
                ptr_or_null(col_idx),
                out,
            )
        })
    }

    /// Tile (r, c) is listed iff `bitmap[r][c]`.
    pub fn blocks_bitmap(block_rows: i32, block_cols: i32, bitmap: &[Vec<bool>]) -> Result<Pattern> {
        let cols = bitmap.first().map_or(0, |r| r.len());
        if bitmap.iter().any(|r| r.len() != cols) {
            return argument("blocks_bitmap: rows differ in length".into());
        }
        let bytes: Vec<u8> = bitmap.iter().flatten().map(|&b| b as u8).collect();
        make(|out| unsafe {
            sys::sparsa_pattern_create_blocks_bitmap(
                block_rows,
                block_cols,
                bitmap.len() as i64,
                cols as i64,
                ptr_or_null(&bytes),
                out,
            )
        })
    }

    /// Causal; listed key columns and diagonal offsets.
    pub fn vertical_slash(columns: &[i64], offsets: &[i64]) -> Result<Pattern> {
        make(|out| unsafe {
            sys::sparsa_pattern_create_vertical_slash(
                ptr_or_null(columns),
                columns.len() as i64,
                ptr_or_null(offsets),
                offsets.len() as i64,
                out,
            )
        })
    }

    /// NATTEN-style neighborhood on a 1-D to 3-D grid, dilation 1, not causal.
    pub fn neighborhood(extent: &[i64], kernel: &[i64]) -> Result<Pattern> {
        let n = extent.len();
        if !(1..=3).contains(&n) || kernel.len() != n {
            return argument("neighborhood: 1 to 3 axes, as many kernels as extents".into());
        }
        let mut params = sys::sparsa_neighborhood {
            struct_size: std::mem::size_of::<sys::sparsa_neighborhood>() as u32,
            num_dims: n as i32,
            extent: [1; 3],
            kernel: [1; 3],
            dilation: [1; 3],
            causal: [0; 3],
            reserved: 0,
        };
        params.extent[..n].copy_from_slice(extent);
        params.kernel[..n].copy_from_slice(kernel);
        make(|out| unsafe { sys::sparsa_pattern_create_neighborhood(&params, out) })
    }

    /// A spatial band shrinking with frame distance (video).
    pub fn radial(frame_tokens: i64, window: i64, max_frames: i64) -> Result<Pattern> {
        make(|out| unsafe { sys::sparsa_pattern_create_radial(frame_tokens, window, max_frames, out) })
    }

    /// Causal; a local window plus power-of-two distances.
    pub fn power(local: i64) -> Result<Pattern> {
        make(|out| unsafe { sys::sparsa_pattern_create_power(local, out) })
    }

    /// Visible iff visible in any part.
    pub fn union(parts: &[&Pattern]) -> Result<Pattern> {
        let raw = raw_list(parts);
        make(|out| unsafe { sys::sparsa_pattern_create_union(raw.as_ptr(), raw.len() as i32, out) })
    }

    /// Visible iff visible in every part.
    pub fn intersection(parts: &[&Pattern]) -> Result<Pattern> {
        let raw = raw_list(parts);
        make(|out| unsafe { sys::sparsa_pattern_create_intersection(raw.as_ptr(), raw.len() as i32, out) })
    }

    /// The sparsa_pattern_kind value.
    pub fn kind(&self) -> Result<u32> {
        let mut kind = 0;
        check(unsafe { sys::sparsa_pattern_get_kind(self.raw, &mut kind) })?;
        Ok(kind)
    }

    /// Whether query i sees key j at these lengths (bottom-right alignment).
    pub fn is_visible(&self, q_len: i64, kv_len: i64, i: i64, j: i64) -> Result<bool> {
        let mut v = 0;
        check(unsafe { sys::sparsa_pattern_is_visible(self.raw, q_len, kv_len, 0, i, j, &mut v) })?;
        Ok(v != 0)
    }

    pub(crate) fn raw(&self) -> *const sys::sparsa_pattern {
        self.raw
    }
}

pub(crate) fn raw_list(parts: &[&Pattern]) -> Vec<*const sys::sparsa_pattern> {
    parts.iter().map(|p| p.raw()).collect()
}

impl Drop for Pattern {
    fn drop(&mut self) {
        // SAFETY: owned reference.
        unsafe { sys::sparsa_pattern_destroy(self.raw) }
    }
}
