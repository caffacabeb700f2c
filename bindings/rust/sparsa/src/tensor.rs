//! Tensors: [batch, seq, heads, dim] views of slices with element strides
//! over (batch, seq, heads); the head dim is contiguous.

use sparsa_sys as sys;

use crate::error::{argument, Result};

/// An element type of q, k, v and out.
pub trait Element: Copy {
    #[doc(hidden)]
    const DTYPE: sys::sparsa_dtype;
}

impl Element for f32 {
    const DTYPE: sys::sparsa_dtype = sys::sparsa_dtype_SPARSA_DTYPE_F32;
}

/// An IEEE binary16 value, as its bits.
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct F16(pub u16);

impl Element for F16 {
    const DTYPE: sys::sparsa_dtype = sys::sparsa_dtype_SPARSA_DTYPE_F16;
}

/// A bfloat16 value, as its bits (the upper half of a binary32).
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bf16(pub u16);

impl Element for Bf16 {
    const DTYPE: sys::sparsa_dtype = sys::sparsa_dtype_SPARSA_DTYPE_BF16;
}

/// Shape [batch, seq, heads, dim] and element strides over (batch, seq, heads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub shape: [usize; 4],
    pub strides: [usize; 3],
}

impl Layout {
    /// The packed (BSHD) layout of a shape.
    pub fn packed(shape: [usize; 4]) -> Layout {
        Layout { shape, strides: [shape[1] * shape[2] * shape[3], shape[2] * shape[3], shape[3]] }
    }

    /// Elements from the first to one past the last, checked for overflow.
    fn extent(&self) -> Option<usize> {
        let mut extent = 1usize;
        for a in 0..4 {
            let stride = if a < 3 { self.strides[a] } else { 1 };
            let span = self.shape[a].checked_sub(1)?.checked_mul(stride)?;
            extent = extent.checked_add(span)?;
        }
        Some(extent)
    }

    fn check(&self, len: usize) -> Result<()> {
        match self.extent() {
            Some(extent) if self.shape.iter().all(|&s| s >= 1) && extent <= len => Ok(()),
            _ => argument(format!(
                "tensor of shape {:?} and strides {:?} does not fit its slice of {} elements",
                self.shape, self.strides, len
            )),
        }
    }

    /// Whether every element has its own offset, judged by nesting: taken
    /// by increasing stride, each axis steps past all the smaller ones span.
    /// Packed, padded and permuted layouts are; a stride of 0, or heads
    /// closer than their width, are not (nor are exotic interleavings that
    /// happen to be apart without nesting).
    fn apart(&self) -> bool {
        let mut axes = [(self.strides[0], self.shape[0]), (self.strides[1], self.shape[1]),
                        (self.strides[2], self.shape[2]), (1, self.shape[3])];
        axes.sort_by_key(|&(stride, _)| stride);
        let mut span = 1usize; // offsets [0, span) covered so far
        for (stride, extent) in axes {
            if extent <= 1 {
                continue;
            }
            if stride < span {
                return false;
            }
            span += stride * (extent - 1); // bounded: check() ran first
        }
        true
    }

    pub(crate) fn strides_i64(&self) -> [i64; 3] {
        [self.strides[0] as i64, self.strides[1] as i64, self.strides[2] as i64]
    }
}

/// A read-only tensor over a slice (q, k, v, or a partial output to merge).
#[derive(Clone, Copy, Debug)]
pub struct Tensor<'a, T: Element> {
    data: &'a [T],
    layout: Layout,
}

impl<'a, T: Element> Tensor<'a, T> {
    /// A packed tensor.
    pub fn new(data: &'a [T], shape: [usize; 4]) -> Result<Self> {
        Self::with_layout(data, Layout::packed(shape))
    }

    /// A tensor with explicit strides (BHSD storage, interleaved q/k/v, padding).
    pub fn with_layout(data: &'a [T], layout: Layout) -> Result<Self> {
        layout.check(data.len())?;
        Ok(Tensor { data, layout })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Element (b, s, h, d).
    pub fn at(&self, b: usize, s: usize, h: usize, d: usize) -> T {
        self.data[offset(&self.layout, b, s, h, d)]
    }

    pub(crate) fn ptr(&self) -> *const std::os::raw::c_void {
        self.data.as_ptr().cast()
    }
}

/// A writable tensor over a slice (an output).
#[derive(Debug)]
pub struct TensorMut<'a, T: Element> {
    data: &'a mut [T],
    layout: Layout,
}

impl<'a, T: Element> TensorMut<'a, T> {
    /// A packed tensor.
    pub fn new(data: &'a mut [T], shape: [usize; 4]) -> Result<Self> {
        Self::with_layout(data, Layout::packed(shape))
    }

    /// A tensor with explicit strides, which must keep its elements apart:
    /// an engine writes an output from many threads.
    pub fn with_layout(data: &'a mut [T], layout: Layout) -> Result<Self> {
        layout.check(data.len())?;
        if !layout.apart() {
            return argument(format!(
                "output of shape {:?} and strides {:?}: two elements share an address; \
                 an output must not overlap itself",
                layout.shape, layout.strides
            ));
        }
        Ok(TensorMut { data, layout })
    }

    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Element (b, s, h, d).
    pub fn at(&self, b: usize, s: usize, h: usize, d: usize) -> T {
        self.data[offset(&self.layout, b, s, h, d)]
    }

    /// A read-only view of the same data.
    pub fn as_tensor(&self) -> Tensor<'_, T> {
        Tensor { data: self.data, layout: self.layout }
    }

    pub(crate) fn ptr(&mut self) -> *mut std::os::raw::c_void {
        self.data.as_mut_ptr().cast()
    }
}

fn offset(l: &Layout, b: usize, s: usize, h: usize, d: usize) -> usize {
    assert!(b < l.shape[0] && s < l.shape[1] && h < l.shape[2] && d < l.shape[3], "index outside {:?}", l.shape);
    b * l.strides[0] + s * l.strides[1] + h * l.strides[2] + d
}

/// Checks a packed [batch, heads, q_len] lse slice.
pub(crate) fn check_lse(len: usize, batch: usize, heads: usize, q_len: usize) -> Result<()> {
    let need = batch * heads * q_len;
    if len < need {
        return argument(format!("lse needs {} floats ([{}, {}, {}]), has {}", need, batch, heads, q_len, len));
    }
    Ok(())
}
