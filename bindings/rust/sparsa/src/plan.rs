//! Plans and execution; merging partial results.

use std::ptr;

use sparsa_sys as sys;

use crate::context::Context;
use crate::error::{argument, check, Result};
use crate::mask::Mask;
use crate::problem::{problem, to_i32};
use crate::tensor::{check_lse, Element, Layout, Tensor, TensorMut};

/// A validated problem and mask with the engine's schedule; immutable, so
/// `execute` may run from many threads at once with distinct outputs. It
/// fixes the dtype and the layouts of q, k, v and out, which `execute`
/// checks. lse, when wanted, is a packed f32 [batch, heads, q_len] slice.
#[derive(Debug)]
pub struct Plan<'c> {
    raw: *mut sys::sparsa_plan,
    dtype: sys::sparsa_dtype,
    layouts: [Layout; 4],
    _ctx: std::marker::PhantomData<&'c Context>,
}

// SAFETY: immutable; the library allows concurrent execute calls.
unsafe impl Send for Plan<'_> {}
unsafe impl Sync for Plan<'_> {}

impl<'c> Plan<'c> {
    /// A plan for these layouts; `mask` None means dense attention.
    pub fn new<T: Element>(
        ctx: &'c Context,
        q: &Tensor<T>,
        k: &Tensor<T>,
        v: &Tensor<T>,
        out: &TensorMut<T>,
        mask: Option<&Mask>,
    ) -> Result<Plan<'c>> {
        let layouts = [q.layout(), k.layout(), v.layout(), out.layout()];
        let p = problem(T::DTYPE, &layouts[0], &layouts[1], &layouts[2], Some(&layouts[3]))?;
        let mut raw = ptr::null_mut();
        let mask = mask.map_or(ptr::null(), |m| m.raw());
        // SAFETY: a live context and mask, an initialized problem (copied).
        check(unsafe { sys::sparsa_plan_create(ctx.raw(), &p, mask, &mut raw) })?;
        Ok(Plan { raw, dtype: T::DTYPE, layouts, _ctx: std::marker::PhantomData })
    }

    /// Block products computed over the batch.
    pub fn num_blocks(&self) -> Result<i64> {
        let mut n = 0;
        check(unsafe { sys::sparsa_plan_num_blocks(self.raw, &mut n) })?;
        Ok(n)
    }

    /// Attention into `out`; `lse` may be None.
    pub fn execute<T: Element>(
        &self,
        q: &Tensor<T>,
        k: &Tensor<T>,
        v: &Tensor<T>,
        out: &mut TensorMut<T>,
        lse: Option<&mut [f32]>,
    ) -> Result<()> {
        if T::DTYPE != self.dtype {
            return argument("element type differs from the planned one".into());
        }
        let given = [q.layout(), k.layout(), v.layout(), out.layout()];
        for (name, (a, b)) in ["q", "k", "v", "out"].iter().zip(self.layouts.iter().zip(given.iter())) {
            if a != b {
                return argument(format!("{}: layout {:?} differs from the planned {:?}", name, b, a));
            }
        }
        let o = out.layout();
        let lse_ptr = match lse {
            Some(l) => {
                check_lse(l.len(), o.shape[0], o.shape[2], o.shape[1])?;
                l.as_mut_ptr()
            }
            None => ptr::null_mut(),
        };
        // SAFETY: every buffer was checked against the planned layout; the
        // borrows keep them alive and out exclusive for the call.
        check(unsafe { sys::sparsa_execute(self.raw, q.ptr(), k.ptr(), v.ptr(), out.ptr(), lse_ptr, ptr::null_mut(), 0) })
    }
}

impl Drop for Plan<'_> {
    fn drop(&mut self) {
        // SAFETY: owned; no execute can run (they borrow self).
        unsafe { sys::sparsa_plan_destroy(self.raw) }
    }
}

/// Plan, execute, release: attention into `out` (`mask` None: dense).
pub fn attention<T: Element>(
    ctx: &Context,
    q: &Tensor<T>,
    k: &Tensor<T>,
    v: &Tensor<T>,
    mask: Option<&Mask>,
    out: &mut TensorMut<T>,
    lse: Option<&mut [f32]>,
) -> Result<()> {
    Plan::new(ctx, q, k, v, out, mask)?.execute(q, k, v, out, lse)
}

/// Combines two partial results over disjoint keys by their log-sum-exp.
/// The three outputs share one layout; lse slices are packed
/// [batch, heads, q_len].
pub fn merge_states<T: Element>(
    ctx: &Context,
    out_a: &Tensor<T>,
    lse_a: &[f32],
    out_b: &Tensor<T>,
    lse_b: &[f32],
    out: &mut TensorMut<T>,
    lse: Option<&mut [f32]>,
) -> Result<()> {
    let l = out_a.layout();
    if out_b.layout() != l || out.layout() != l {
        return argument("merge_states: outputs differ in shape or strides".into());
    }
    let [batch, q_len, heads, dim] = l.shape;
    check_lse(lse_a.len(), batch, heads, q_len)?;
    check_lse(lse_b.len(), batch, heads, q_len)?;
    let lse_ptr = match lse {
        Some(s) => {
            check_lse(s.len(), batch, heads, q_len)?;
            s.as_mut_ptr()
        }
        None => ptr::null_mut(),
    };
    // SAFETY: initialized by the library; only the output side describes
    // merged states.
    let mut p: sys::sparsa_problem = unsafe { std::mem::zeroed() };
    check(unsafe { sys::sparsa_problem_init(&mut p) })?;
    p.dtype = T::DTYPE;
    p.batch = to_i32("batch", batch)?;
    p.q_heads = to_i32("heads", heads)?;
    p.kv_heads = p.q_heads;
    p.head_dim = to_i32("head dim", dim)?;
    p.v_head_dim = p.head_dim;
    p.q_len = q_len as i64;
    p.kv_len = 1;
    p.o_stride = l.strides_i64();
    // SAFETY: buffers checked above; out is exclusive.
    check(unsafe {
        sys::sparsa_merge_states(ctx.raw(), &p, out_a.ptr(), lse_a.as_ptr(), out_b.ptr(), lse_b.as_ptr(), out.ptr(), lse_ptr)
    })
}
