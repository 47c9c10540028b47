// SPDX-License-Identifier: MIT
//! [`Context`]: the epoll fd, its sessions, timers and callbacks.

use std::ffi::CStr;
use std::fmt;
use std::os::raw::{c_char, c_int, c_long, c_void};
use std::os::unix::io::{AsRawFd, RawFd};
use std::ptr::{self, NonNull};
use std::sync::Arc;
use std::time::Duration;

use upcall_sys as sys;

use crate::error::{check, Result};
use crate::session::Session;
use crate::usec_or_forever;

/// The one C reference every Rust handle of a context shares.
///
/// Contexts, sessions and requests each hold an `Arc` of it, so it drops
/// when the caller has no handle left on anything of this context.
pub(crate) struct CtxInner {
    pub(crate) raw: NonNull<sys::upcall_ctx>,
}

// SAFETY: upcall.h: "All functions may be called from any thread at any
// time, unless stated"; the reference count is atomic.  The exceptions are
// calls from inside a callback (upcall_ctx_stop_thread(), the blocking
// calls), which libupcall detects and refuses with -EDEADLK, and dropping
// the context's last reference on its library thread, which cannot happen
// from a callback here: a request holds its own reference on the context
// until after its callback and destroy function have returned, and
// upcall_ctx_process() holds one for the whole round.
unsafe impl Send for CtxInner {}
unsafe impl Sync for CtxInner {}

impl Drop for CtxInner {
    fn drop(&mut self) {
        // Nothing can process this context any more but a library thread.
        // Without one, requests that completed since the last round (a
        // session dropped with requests pending, a request handle dropped
        // before completion) would keep their closures, and through their
        // own references the context, forever.  So run one last round here,
        // on the thread dropping the last handle.  -EBUSY (a library thread
        // runs, or this is a callback) ends the loop at once.
        let raw = self.raw.as_ptr();
        for _ in 0..1000 {
            // SAFETY: we hold a reference.
            if unsafe { sys::upcall_ctx_process(raw) } <= 0 {
                break;
            }
        }
        // SAFETY: our reference, dropped once.
        unsafe { sys::upcall_ctx_unref(raw) };
    }
}

/// A libupcall context: one pollable fd for any number of sessions.
///
/// Cheap to clone (the clones share one C reference).  `Context` is `Send`
/// and `Sync` because libupcall's context is: every function may be called
/// from any thread, and only one thread processes it at a time (others get
/// `EBUSY` from [`process`](Context::process), or wait in the blocking
/// calls).
///
/// Callbacks run on whichever thread processes the context: the library
/// thread of [`start_thread`](Context::start_thread), a thread in a blocking
/// call ([`Session::call`], [`Request::wait`](crate::Request::wait), ...), or
/// the caller of [`process`](Context::process).
///
/// When the last handle of a context (a `Context`, [`Session`] or
/// [`Request`](crate::Request)) is dropped and no library thread runs, the
/// drop processes the context one last time: completion callbacks of
/// requests finished meanwhile (for example with `ESHUTDOWN` by a session's
/// drop) run there, and the closures of dropped requests are freed.
#[derive(Clone)]
pub struct Context {
    pub(crate) inner: Arc<CtxInner>,
}

impl Context {
    /// A new context (`upcall_ctx_new()`).
    pub fn new() -> Result<Context> {
        let mut raw = ptr::null_mut();
        // SAFETY: valid out-pointer.
        check(unsafe { sys::upcall_ctx_new(&mut raw) })?;
        let raw = NonNull::new(raw).expect("upcall_ctx_new returned NULL");
        Ok(Context {
            inner: Arc::new(CtxInner { raw }),
        })
    }

    fn raw(&self) -> *mut sys::upcall_ctx {
        self.inner.raw.as_ptr()
    }

    /// A new context whose log messages up to `priority` (a syslog
    /// priority: 3 errors .. 7 debug) go to `f`, formatted (at most 1023
    /// bytes).  `f` may be called from any thread that calls into the
    /// library, with a library lock held: it must return quickly and must
    /// not call this crate.  It is dropped exactly once, by the context's
    /// log destroy callback (libupcall 1.1) when the C context is freed,
    /// after the last message.  A panic in `f` aborts the process.
    pub fn with_log<F>(priority: i32, f: F) -> Result<Context>
    where
        F: Fn(i32, &str) + Send + Sync + 'static,
    {
        let ctx = Context::new()?;
        let raw = ctx.raw();
        let boxed: LogFn = Box::new(f);
        let data = Box::into_raw(Box::new(boxed)) as *mut c_void;
        // SAFETY: valid context; log_trampoline and log_destroy take what
        // `data` is.  The destroy callback first: from then on the
        // userdata is released with the context.
        let r = unsafe {
            let mut r = sys::upcall_ctx_set_log_destroy_fn(raw, Some(log_destroy));
            if r >= 0 {
                r = sys::upcall_ctx_set_log_priority(raw, priority);
            }
            if r >= 0 {
                r = sys::upcall_ctx_set_log_fn(raw, Some(log_trampoline), data);
            }
            r
        };
        if r < 0 {
            // SAFETY: libupcall did not take it (set_log_fn failed).
            drop(unsafe { Box::from_raw(data as *mut LogFn) });
            return Err(crate::error::Error::transport(r));
        }
        Ok(ctx)
    }

    /// The C context, for calls this crate does not wrap.  No reference is
    /// transferred: it is valid while `self` is.
    pub fn as_ptr(&self) -> *mut sys::upcall_ctx {
        self.raw()
    }

    /// A new session on this context; see [`Session::new`].
    pub fn session(&self) -> Result<Session> {
        Session::new(self)
    }

    /// Start a library-owned thread that processes the context; all
    /// callbacks then run on it.  `EALREADY` if it runs.
    pub fn start_thread(&self) -> Result<()> {
        // SAFETY: valid context.
        check(unsafe { sys::upcall_ctx_start_thread(self.raw()) }).map(drop)
    }

    /// Stop and join the library thread.  `ESRCH` if none runs, `EDEADLK`
    /// from one of its callbacks.  The last handle's drop stops it too.
    pub fn stop_thread(&self) -> Result<()> {
        // SAFETY: valid context.
        check(unsafe { sys::upcall_ctx_stop_thread(self.raw()) }).map(drop)
    }

    /// Do pending work without blocking: I/O, timeouts, callbacks.
    /// `Ok(true)` if work was done (call again), `Ok(false)` if there was
    /// none; `EBUSY` if another thread (or the library thread) processes it.
    pub fn process(&self) -> Result<bool> {
        // SAFETY: valid context.
        check(unsafe { sys::upcall_ctx_process(self.raw()) }).map(|n| n > 0)
    }

    /// Block until the context has work (`Ok(true)`) or `timeout` passes
    /// (`Ok(false)`); `None` waits without limit.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<bool> {
        // SAFETY: valid context.
        check(unsafe { sys::upcall_ctx_wait(self.raw(), usec_or_forever(timeout)) }).map(|n| n > 0)
    }

    /// Process until no request is pending on any session; `ETIMEDOUT` if
    /// `timeout` passes first.
    pub fn run(&self, timeout: Option<Duration>) -> Result<()> {
        // SAFETY: valid context.
        check(unsafe { sys::upcall_ctx_run(self.raw(), usec_or_forever(timeout)) }).map(drop)
    }

    /// Poll events to wait for on [`as_raw_fd`](AsRawFd::as_raw_fd):
    /// `POLLIN`.
    pub fn events(&self) -> Result<i16> {
        // SAFETY: valid context.
        check(unsafe { sys::upcall_ctx_get_events(self.raw()) }).map(|e| e as i16)
    }

    /// The earliest deadline, as an absolute `CLOCK_MONOTONIC` time in
    /// microseconds: 0 if processing is due now, `u64::MAX` for none.
    pub fn timeout_usec(&self) -> Result<u64> {
        let mut usec = 0u64;
        // SAFETY: valid context and out-pointer.
        check(unsafe { sys::upcall_ctx_get_timeout(self.raw(), &mut usec) })?;
        Ok(usec)
    }

    /// How long an event loop may sleep before it must call
    /// [`process`](Context::process): `None` for no deadline,
    /// `Some(Duration::ZERO)` if processing is due now.  Optional: the fd
    /// also becomes readable when a timeout expires.
    pub fn timeout(&self) -> Result<Option<Duration>> {
        let deadline = self.timeout_usec()?;
        if deadline == u64::MAX {
            return Ok(None);
        }
        Ok(Some(Duration::from_micros(
            deadline.saturating_sub(monotonic_usec()),
        )))
    }
}

impl AsRawFd for Context {
    /// The context's epoll fd; it stays owned by the context (do not close
    /// it).  Poll it for [`events`](Context::events), then call
    /// [`process`](Context::process) until it returns `Ok(false)`.
    fn as_raw_fd(&self) -> RawFd {
        // SAFETY: valid context; the fd lives as long as it.
        unsafe { sys::upcall_ctx_get_fd(self.raw()) }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context").field("raw", &self.raw()).finish()
    }
}

/// A log function of [`Context::with_log`].
type LogFn = Box<dyn Fn(i32, &str) + Send + Sync + 'static>;

extern "C" {
    // The C library's; a va_list passed on as the callback received it.
    fn vsnprintf(buf: *mut c_char, size: usize, format: *const c_char, args: sys::va_list)
        -> c_int;
}

/// Log callback of [`Context::with_log`]: format, then call the closure.
unsafe extern "C" fn log_trampoline(
    _ctx: *mut sys::upcall_ctx,
    priority: c_int,
    _file: *const c_char,
    _line: c_int,
    _func: *const c_char,
    format: *const c_char,
    args: sys::va_list,
    data: *mut c_void,
) {
    // SAFETY: the box with_log made, freed only by log_destroy.
    let f = &*(data as *const LogFn);
    let mut buf = [0 as c_char; 1024];
    if vsnprintf(buf.as_mut_ptr(), buf.len(), format, args) < 0 {
        return;
    }
    let msg = CStr::from_ptr(buf.as_ptr()).to_string_lossy();
    crate::request::no_unwind(|| f(priority, &msg));
}

/// Log destroy callback: frees the closure, once, with the context.
unsafe extern "C" fn log_destroy(data: *mut c_void) {
    if data.is_null() {
        return;
    }
    // SAFETY: from Box::into_raw in with_log, freed once.
    let f = Box::from_raw(data as *mut LogFn);
    crate::request::no_unwind(move || drop(f));
}

#[repr(C)]
struct Timespec {
    tv_sec: c_long,
    tv_nsec: c_long,
}

extern "C" {
    fn clock_gettime(clock: c_int, ts: *mut Timespec) -> c_int;
}

const CLOCK_MONOTONIC: c_int = 1;

/// Now on libupcall's clock.
fn monotonic_usec() -> u64 {
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { clock_gettime(CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64) * 1_000_000 + (ts.tv_nsec as u64) / 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_context_has_no_deadline() {
        let ctx = Context::new().unwrap();
        assert!(ctx.as_raw_fd() >= 0);
        assert_eq!(ctx.events().unwrap(), 1); // POLLIN
        assert_eq!(ctx.timeout_usec().unwrap(), u64::MAX);
        assert_eq!(ctx.timeout().unwrap(), None);
        assert!(!ctx.process().unwrap());
        assert!(!ctx.wait(Some(Duration::from_millis(1))).unwrap());
        ctx.run(Some(Duration::from_millis(1))).unwrap();
        assert_eq!(ctx.stop_thread().unwrap_err().errno(), sys::errno::ESRCH);
    }

    #[test]
    fn monotonic_clock_moves() {
        let a = monotonic_usec();
        std::thread::sleep(Duration::from_millis(2));
        assert!(monotonic_usec() >= a + 2000);
    }
}
