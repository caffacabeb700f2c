//! Errors: the library's status and message, or an argument the bindings
//! reject before calling the library.

use std::ffi::CStr;
use std::fmt;

use sparsa_sys as sys;

/// A status code of the library; values never change meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    InvalidArgument,
    OutOfMemory,
    Unsupported,
    NoDevice,
    Device,
    Format,
    Io,
    Version,
    Internal,
    /// A code this version of the bindings does not know (a newer library).
    Unknown(u32),
}

impl Status {
    fn from_code(code: sys::sparsa_status) -> Status {
        match code {
            sys::sparsa_status_SPARSA_ERR_INVALID_ARGUMENT => Status::InvalidArgument,
            sys::sparsa_status_SPARSA_ERR_OUT_OF_MEMORY => Status::OutOfMemory,
            sys::sparsa_status_SPARSA_ERR_UNSUPPORTED => Status::Unsupported,
            sys::sparsa_status_SPARSA_ERR_NO_DEVICE => Status::NoDevice,
            sys::sparsa_status_SPARSA_ERR_DEVICE => Status::Device,
            sys::sparsa_status_SPARSA_ERR_FORMAT => Status::Format,
            sys::sparsa_status_SPARSA_ERR_IO => Status::Io,
            sys::sparsa_status_SPARSA_ERR_VERSION => Status::Version,
            sys::sparsa_status_SPARSA_ERR_INTERNAL => Status::Internal,
            other => Status::Unknown(other),
        }
    }
}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The library refused: its status, its description and its message.
    Library { status: Status, description: String, message: String },
    /// The bindings refused an argument the library cannot see (tensor
    /// shapes that disagree, buffers too short, a path with a NUL byte).
    Argument(String),
}

impl Error {
    /// The library's status, if the library reported the error.
    pub fn status(&self) -> Option<Status> {
        match self {
            Error::Library { status, .. } => Some(*status),
            Error::Argument(_) => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Library { description, message, .. } => write!(f, "sparsa: {}: {}", description, message),
            Error::Argument(message) => write!(f, "sparsa: {}", message),
        }
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Turns a status into a Result, reading the thread-local message of the
/// call just made (the same thread, since nothing runs in between).
pub(crate) fn check(code: sys::sparsa_status) -> Result<()> {
    if code == sys::sparsa_status_SPARSA_OK {
        return Ok(());
    }
    // SAFETY: both return static or thread-local NUL-terminated strings.
    let (description, message) = unsafe {
        (
            CStr::from_ptr(sys::sparsa_status_string(code)).to_string_lossy().into_owned(),
            CStr::from_ptr(sys::sparsa_last_error()).to_string_lossy().into_owned(),
        )
    };
    Err(Error::Library { status: Status::from_code(code), description, message })
}

pub(crate) fn argument<T>(message: String) -> Result<T> {
    Err(Error::Argument(message))
}
