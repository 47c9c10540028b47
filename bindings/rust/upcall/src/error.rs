// SPDX-License-Identifier: MIT
//! [`Error`]: an errno, and whether the guest or the way to it failed.

use std::ffi::CStr;
use std::fmt;
use std::io;
use std::os::raw::c_int;

use upcall_sys as sys;

/// Who said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The guest answered the request with an error: [`Error::errno`] is
    /// its result, negated.  The session is fine.
    Guest,
    /// There was no answer, or the library refused the call: a timeout
    /// (`ETIMEDOUT`), a cancellation (`ECANCELED`), a dropped connection
    /// (`ECONNRESET`), a guest that broke the protocol (`EPROTO`), a closed
    /// session (`ESHUTDOWN`, `ENOTCONN`), a bad argument (`EINVAL`), ...
    Transport,
}

/// A libupcall error: a positive errno and its [`ErrorKind`].
///
/// Compare [`Error::errno`] with the constants of [`crate::errno`].
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Error {
    errno: i32,
    kind: ErrorKind,
    cpu_index: Option<u32>,
}

/// `Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error of `kind` with `errno` (its sign is ignored).
    pub fn new(kind: ErrorKind, errno: i32) -> Error {
        Error {
            errno: positive(errno),
            kind,
            cpu_index: None,
        }
    }

    /// From a libupcall return value (a negative errno).
    pub(crate) fn transport(code: c_int) -> Error {
        Error::new(ErrorKind::Transport, code)
    }

    /// From the guest's result (a negative errno; anything but 0 is an
    /// error, even a positive number from a confused guest).
    pub(crate) fn guest(result: i32, cpu_index: Option<u32>) -> Error {
        Error {
            errno: positive(result),
            kind: ErrorKind::Guest,
            cpu_index,
        }
    }

    /// The errno, always positive, e.g. `errno::ETIMEDOUT`.
    pub fn errno(&self) -> i32 {
        self.errno
    }

    /// Whether the guest refused or the request never got an answer.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether this is the guest's answer.
    pub fn is_guest(&self) -> bool {
        self.kind == ErrorKind::Guest
    }

    /// For a CPU request the guest refused: the first APIC id (x86_64) or
    /// CPU (aarch64) it did not act on, when the guest reports it (a
    /// Dragonball guest does not).
    pub fn cpu_index(&self) -> Option<u32> {
        self.cpu_index
    }

    /// The errno's symbolic name, e.g. `"ETIMEDOUT"`.
    pub fn name(&self) -> Option<&'static str> {
        // SAFETY: a static string or NULL.
        unsafe { static_str(sys::upcall_errno_name(self.errno)) }
    }

    /// libupcall's description of the errno (`upcall_strerror()`).
    pub fn message(&self) -> &'static str {
        // SAFETY: a static string, never NULL.
        unsafe { static_str(sys::upcall_strerror(self.errno)) }.unwrap_or("Unknown error")
    }
}

fn positive(errno: i32) -> i32 {
    if errno < 0 {
        errno.saturating_neg()
    } else {
        errno
    }
}

/// # Safety
/// `p` is NULL or a NUL-terminated string that lives forever.
pub(crate) unsafe fn static_str(p: *const std::os::raw::c_char) -> Option<&'static str> {
    if p.is_null() {
        None
    } else {
        CStr::from_ptr(p).to_str().ok()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.kind == ErrorKind::Guest {
            f.write_str("guest refused: ")?;
            if self.errno == sys::errno::EPERM {
                // What a Dragonball guest answers to a type it does not know.
                f.write_str("unknown operation or ")?;
            }
        }
        f.write_str(self.message())?;
        if let Some(name) = self.name() {
            write!(f, " ({})", name)?;
        }
        if let Some(i) = self.cpu_index {
            write!(f, " at CPU index {}", i)?;
        }
        Ok(())
    }
}

/// `Error { kind: Transport, errno: ETIMEDOUT (110), cpu_index: None }`.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Errno(i32, Option<&'static str>);
        impl fmt::Debug for Errno {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self.1 {
                    Some(name) => write!(f, "{} ({})", name, self.0),
                    None => write!(f, "{}", self.0),
                }
            }
        }
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("errno", &Errno(self.errno, self.name()))
            .field("cpu_index", &self.cpu_index)
            .finish()
    }
}

impl std::error::Error for Error {}

/// The errno becomes the `io::Error`'s raw OS error; the kind is lost.
impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        io::Error::from_raw_os_error(e.errno)
    }
}

/// `r` if it is no error, else the error.
pub(crate) fn check(r: c_int) -> Result<c_int> {
    if r < 0 {
        Err(Error::transport(r))
    } else {
        Ok(r)
    }
}
