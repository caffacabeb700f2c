//! Head-specific sparse attention through the sparsa C library.
//!
//! Handles own their library object and release it when dropped; borrows
//! tie masks, plans and caches to the context they were made from, so a
//! handle can never be used after it is released or outlive its context.
//! Tensors are views of slices ([`Tensor`], [`TensorMut`]) read and written
//! in place.
//!
//! ```no_run
//! use sparsa::{Context, Mask, Pattern, Tensor, TensorMut};
//! # fn main() -> sparsa::Result<()> {
//! let (q, k, v) = (vec![0f32; 256 * 4 * 64], vec![0f32; 256 * 4 * 64], vec![0f32; 256 * 4 * 64]);
//! let mut out = vec![0f32; 256 * 4 * 64];
//! let ctx = Context::cpu()?;
//! let mask = Mask::new(&ctx, &[&Pattern::sink_window(4, 64)?], 256, 256, 64, 64)?;
//! sparsa::attention(&ctx, &Tensor::new(&q, [1, 256, 4, 64])?, &Tensor::new(&k, [1, 256, 4, 64])?,
//!                   &Tensor::new(&v, [1, 256, 4, 64])?, Some(&mask),
//!                   &mut TensorMut::new(&mut out, [1, 256, 4, 64])?, None)?;
//! # Ok(()) }
//! ```

//! A released handle cannot be used: dropping it moves it, so a later use
//! does not compile, and a context cannot be dropped while a mask (or plan,
//! or cache) made from it is alive. These two do not compile:
//!
//! ```compile_fail
//! # fn main() -> sparsa::Result<()> {
//! let ctx = sparsa::Context::cpu()?;
//! let mask = sparsa::Mask::new(&ctx, &[&sparsa::Pattern::causal()?], 64, 64, 16, 16)?;
//! drop(mask);
//! let _ = mask.density(None)?; // use after release
//! # Ok(()) }
//! ```
//! ```compile_fail
//! # fn main() -> sparsa::Result<()> {
//! let ctx = sparsa::Context::cpu()?;
//! let mask = sparsa::Mask::new(&ctx, &[&sparsa::Pattern::causal()?], 64, 64, 16, 16)?;
//! drop(ctx);
//! let _ = mask.density(None)?; // the context is gone
//! # Ok(()) }
//! ```
//! while the same lines in a valid order do:
//!
//! ```
//! # fn main() -> sparsa::Result<()> {
//! let ctx = sparsa::Context::cpu()?;
//! let mask = sparsa::Mask::new(&ctx, &[&sparsa::Pattern::causal()?], 64, 64, 16, 16)?;
//! let _ = mask.density(None)?;
//! drop(mask);
//! drop(ctx);
//! # Ok(()) }
//! ```

mod cache;
mod context;
mod error;
mod estimate;
mod mask;
mod pattern;
mod plan;
mod problem;
mod tensor;

pub use cache::{Cache, CacheEntry, CacheKey, CacheStats};
pub use context::{Context, Engine};
pub use error::{Error, Result, Status};
pub use estimate::{Estimator, Method, PatternConfig, Selection};
pub use mask::{Alignment, Bsr, Mask};
pub use pattern::Pattern;
pub use plan::{attention, merge_states, Plan};
pub use tensor::{Bf16, Element, Layout, Tensor, TensorMut, F16};

/// The loaded library's version, "MAJOR.MINOR.PATCH".
pub fn version() -> String {
    // SAFETY: a static NUL-terminated string.
    unsafe { std::ffi::CStr::from_ptr(sparsa_sys::sparsa_version_string()) }
        .to_string_lossy()
        .into_owned()
}
