//! Contexts: one engine per context.

use std::ffi::CStr;
use std::ptr;

use sparsa_sys as sys;

use crate::error::{check, Result};

/// A compute engine. Rust passes host memory (slices), so its contexts are
/// CPU contexts; device memory is reached from Python or the C API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Cpu,
}

/// An engine context; masks, plans and caches borrow it, so it outlives
/// them. Released when dropped.
#[derive(Debug)]
pub struct Context {
    raw: *mut sys::sparsa_context,
}

// SAFETY: the library allows any thread to use a context for everything but
// its setters, which take &mut self here.
unsafe impl Send for Context {}
unsafe impl Sync for Context {}

impl Context {
    /// A CPU context.
    pub fn cpu() -> Result<Context> {
        Context::new(Engine::Cpu, 0)
    }

    /// A context of an engine and device (0 for the CPU).
    pub fn new(engine: Engine, device: i32) -> Result<Context> {
        let code = match engine {
            Engine::Cpu => sys::sparsa_engine_SPARSA_ENGINE_CPU,
        };
        let mut raw = ptr::null_mut();
        // SAFETY: raw is a valid out-pointer.
        check(unsafe { sys::sparsa_context_create(code, device, &mut raw) })?;
        Ok(Context { raw })
    }

    /// Worker threads of execute calls.
    pub fn num_threads(&self) -> Result<i32> {
        let mut n = 0;
        // SAFETY: a live context and a valid out-pointer.
        check(unsafe { sys::sparsa_context_get_num_threads(self.raw, &mut n) })?;
        Ok(n)
    }

    /// Sets the worker threads (1 to 1024; 0 restores the default).
    pub fn set_num_threads(&mut self, n: i32) -> Result<()> {
        // SAFETY: a live context, not shared while &mut.
        check(unsafe { sys::sparsa_context_set_num_threads(self.raw, n) })
    }

    /// The kernels this context runs: the CPU instruction-set path
    /// (`"amxbf16"`, `"avx512bf16"`, `"avx512"`, `"avx2"`, `"generic"`; the environment
    /// variable `SPARSA_CPU_ISA` picks one when the context is made).
    pub fn kernel_path(&self) -> Result<String> {
        let mut path = ptr::null();
        // SAFETY: a live context and a valid out-pointer.
        check(unsafe { sys::sparsa_context_get_kernel_path(self.raw, &mut path) })?;
        // SAFETY: on success the library wrote a NUL-terminated string with
        // static storage.
        Ok(unsafe { CStr::from_ptr(path) }.to_string_lossy().into_owned())
    }

    pub(crate) fn raw(&self) -> *mut sys::sparsa_context {
        self.raw
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: owned, and every borrower has been dropped.
        unsafe { sys::sparsa_context_destroy(self.raw) }
    }
}
