//! Problems inferred from tensors. The bindings check what the library
//! cannot see (tensors agreeing with each other); head counts, lengths and
//! dims are the library's to judge, so its messages reach the caller.

use sparsa_sys as sys;

use crate::error::{argument, check, Result};
use crate::tensor::Layout;

pub(crate) fn check_agree(q: &Layout, k: &Layout, v: &Layout, out: Option<&Layout>) -> Result<()> {
    let pairs = [
        ("batch of q and k", q.shape[0], k.shape[0]),
        ("batch of k and v", k.shape[0], v.shape[0]),
        ("kv length of k and v", k.shape[1], v.shape[1]),
        ("kv heads of k and v", k.shape[2], v.shape[2]),
        ("head dim of q and k", q.shape[3], k.shape[3]),
    ];
    for (what, a, b) in pairs {
        if a != b {
            return argument(format!("{}: {} vs {}", what, a, b));
        }
    }
    if let Some(out) = out {
        let want = [q.shape[0], q.shape[1], q.shape[2], v.shape[3]];
        if out.shape != want {
            return argument(format!("out shape {:?}, want {:?}", out.shape, want));
        }
    }
    Ok(())
}

/// A library problem for these layouts (out: packed when None).
pub(crate) fn problem(dtype: sys::sparsa_dtype, q: &Layout, k: &Layout, v: &Layout, out: Option<&Layout>) -> Result<sys::sparsa_problem> {
    check_agree(q, k, v, out)?;
    // SAFETY: initialized by the library before any field is set.
    let mut p: sys::sparsa_problem = unsafe { std::mem::zeroed() };
    check(unsafe { sys::sparsa_problem_init(&mut p) })?;
    p.dtype = dtype;
    p.batch = to_i32("batch", q.shape[0])?;
    p.q_heads = to_i32("q heads", q.shape[2])?;
    p.kv_heads = to_i32("kv heads", k.shape[2])?;
    p.head_dim = to_i32("head dim", q.shape[3])?;
    p.v_head_dim = to_i32("v head dim", v.shape[3])?;
    p.q_len = q.shape[1] as i64;
    p.kv_len = k.shape[1] as i64;
    p.q_stride = q.strides_i64();
    p.k_stride = k.strides_i64();
    p.v_stride = v.strides_i64();
    if let Some(out) = out {
        p.o_stride = out.strides_i64();
    }
    Ok(p)
}

/// Counts the C API keeps in 32 bits must not wrap into valid-looking ones.
pub(crate) fn to_i32(what: &str, n: usize) -> Result<i32> {
    i32::try_from(n).or_else(|_| argument(format!("{} = {} does not fit 32 bits", what, n)))
}
