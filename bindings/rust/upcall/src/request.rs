// SPDX-License-Identifier: MIT
//! [`Request`]: the handle of one device-manager call, and its outcome.

use std::fmt;
use std::os::raw::{c_int, c_void};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::NonNull;
use std::sync::Arc;
use std::time::Duration;

use upcall_sys as sys;

use crate::context::{Context, CtxInner};
use crate::error::{check, Error, Result};
use crate::session::Arch;
use crate::usec_or_forever;

/// What a guest serves, from GET_INFO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    /// Protocol version, major << 8 | minor.
    pub version: u32,
    /// Bit n set: message type n is served (see [`Info::serves`]).
    pub ops: u32,
    /// Memory block size in bytes; 0 without memory hotplug.
    pub mem_block_size: u64,
    /// vCPUs the guest can ever have.
    pub cpus_possible: u32,
    /// vCPUs it knows of.
    pub cpus_present: u32,
    /// vCPUs running.
    pub cpus_online: u32,
    /// Memory online policy, a `MEM_POLICY_*` value.
    pub mem_policy: u32,
    /// vCPU mode, a `CPU_MODE_*` value: what the VMM must do before
    /// `cpu_add`.  `CPU_MODE_UNKNOWN` from a guest before info version
    /// 0x0101.
    pub cpu_mode: u32,
    /// The guest's wire format, a `GUEST_ARCH_*` value (see
    /// [`Info::session_arch`]).  `GUEST_ARCH_UNKNOWN` from a guest before
    /// info version 0x0102.
    pub arch: u32,
}

impl Info {
    /// Whether the guest serves message type `msg_type` (a [`msg`](crate::msg)
    /// constant).
    pub fn serves(&self, msg_type: u32) -> bool {
        msg_type < 32 && self.ops & (1 << msg_type) != 0
    }

    /// The [`Arch`] to give [`Session::set_arch`](crate::Session::set_arch)
    /// for this guest; `None` where it does not say.
    pub fn session_arch(&self) -> Option<Arch> {
        match self.arch {
            sys::UPCALL_GUEST_ARCH_X86_64 => Some(Arch::X86_64),
            sys::UPCALL_GUEST_ARCH_AARCH64 => Some(Arch::Aarch64),
            _ => None,
        }
    }
}

impl From<sys::upcall_info> for Info {
    fn from(i: sys::upcall_info) -> Info {
        Info {
            version: i.version,
            ops: i.ops,
            mem_block_size: i.mem_block_size,
            cpus_possible: i.cpus_possible,
            cpus_present: i.cpus_present,
            cpus_online: i.cpus_online,
            mem_policy: i.mem_policy,
            cpu_mode: i.cpu_mode,
            arch: i.arch,
        }
    }
}

/// A successful answer of the guest (its result was 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// The message type, a [`msg`](crate::msg) constant.
    pub msg_type: u32,
    /// CPU requests: the guest's reply index (the count when all were
    /// done), if it sent one.
    pub cpu_index: Option<u32>,
    /// GET_INFO: what the guest serves.
    pub info: Option<Info>,
}

/// The handle of one submitted request.
///
/// Dropping the last handle before the request completes cancels it
/// silently (its callback, if any, is dropped uncalled).  Cloning takes
/// another C reference.  `Send` and `Sync`: every libupcall request
/// function may be called from any thread.  A request keeps its context
/// alive, and may outlive its session.
#[must_use = "dropping a Request cancels it"]
pub struct Request {
    raw: NonNull<sys::upcall_request>,
    _ctx: Arc<CtxInner>,
}

// SAFETY: see the type's documentation and CtxInner's.
unsafe impl Send for Request {}
unsafe impl Sync for Request {}

impl Request {
    /// # Safety
    /// `raw` is a request and the caller's reference on it passes to the
    /// new handle; `ctx` is its context.
    pub(crate) unsafe fn from_raw(raw: *mut sys::upcall_request, ctx: Arc<CtxInner>) -> Request {
        Request {
            raw: NonNull::new(raw).expect("libupcall returned a NULL request"),
            _ctx: ctx,
        }
    }

    fn raw(&self) -> *mut sys::upcall_request {
        self.raw.as_ptr()
    }

    /// The C request, for calls this crate does not wrap.  No reference is
    /// transferred: it is valid while `self` is.
    pub fn as_ptr(&self) -> *mut sys::upcall_request {
        self.raw()
    }

    /// The context of the request, for processing it once its session
    /// and other handles are gone.
    pub fn context(&self) -> Context {
        Context {
            inner: self._ctx.clone(),
        }
    }

    /// The message type, a [`msg`](crate::msg) constant.
    pub fn msg_type(&self) -> u32 {
        // SAFETY: valid request.
        unsafe { sys::upcall_request_get_type(self.raw()) as u32 }
    }

    /// Cancel: it completes with `ECANCELED` (a callback is called with
    /// that).  `EALREADY` if it has completed.  A request already sent is
    /// answered all the same; the answer is discarded.
    pub fn cancel(&self) -> Result<()> {
        // SAFETY: valid request.
        check(unsafe { sys::upcall_request_cancel(self.raw()) }).map(drop)
    }

    /// Change the timeout, counted from submission; `None` for none.
    /// `EALREADY` if it has completed.
    pub fn set_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        // SAFETY: valid request.
        check(unsafe { sys::upcall_request_set_timeout(self.raw(), usec_or_forever(timeout)) })
            .map(drop)
    }

    /// Wait until it has completed, processing the context on this thread
    /// unless another thread does.  `ETIMEDOUT` if `timeout` passes first
    /// (it stays pending); `EDEADLK` from a callback.
    pub fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        // SAFETY: valid request.
        check(unsafe { sys::upcall_request_wait(self.raw(), usec_or_forever(timeout)) }).map(drop)
    }

    /// Whether it has completed.
    pub fn is_done(&self) -> bool {
        // SAFETY: valid request.
        unsafe { sys::upcall_request_get_status(self.raw()) != 0 }
    }

    /// The outcome, `None` while pending: the guest's answer, or why there
    /// was none.
    pub fn outcome(&self) -> Option<Result<Reply>> {
        // SAFETY: valid request.
        unsafe { outcome(self.raw()) }
    }
}

/// The outcome of a request, `None` while pending.
///
/// # Safety
/// `req` is a valid request.
unsafe fn outcome(req: *mut sys::upcall_request) -> Option<Result<Reply>> {
    let status = sys::upcall_request_get_status(req);
    if status == 0 {
        return None;
    }
    if status < 0 {
        return Some(Err(Error::transport(status)));
    }
    let mut result: c_int = 0;
    let r = sys::upcall_request_get_result(req, &mut result);
    if r < 0 {
        return Some(Err(Error::transport(r)));
    }
    let mut index = 0u32;
    let cpu_index = if sys::upcall_request_get_cpu_index(req, &mut index) == 0 {
        Some(index)
    } else {
        None
    };
    let msg_type = sys::upcall_request_get_type(req) as u32;
    if result != 0 {
        // As upcall_request_get_info(): -1 is how a guest without the
        // extension says it does not know GET_INFO.
        if msg_type == sys::UPCALL_MSG_GET_INFO && result == -1 {
            result = -sys::errno::EOPNOTSUPP;
        }
        return Some(Err(Error::guest(result, cpu_index)));
    }
    let mut info = None;
    if msg_type == sys::UPCALL_MSG_GET_INFO {
        let mut raw = sys::upcall_info::default();
        let r = sys::upcall_request_get_info(req, &mut raw);
        if r < 0 {
            return Some(Err(Error::transport(r)));
        }
        info = Some(Info::from(raw));
    }
    Some(Ok(Reply {
        msg_type,
        cpu_index,
        info,
    }))
}

/// The outcome handed to a completion callback.
///
/// # Safety
/// `req` is the completed request of the callback.
unsafe fn completed(req: *mut sys::upcall_request, error: c_int) -> Result<Reply> {
    if error < 0 {
        return Err(Error::transport(error));
    }
    outcome(req).unwrap_or_else(|| Err(Error::transport(-sys::errno::EAGAIN)))
}

/// Run Rust code called from C: a panic cannot unwind into C.
pub(crate) fn no_unwind<R, F: FnOnce() -> R>(f: F) -> R {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            eprintln!("upcall: a callback panicked; aborting (it cannot unwind into libupcall)");
            std::process::abort();
        }
    }
}

/// Completion trampoline of [`Session::submit_with`](crate::Session::submit_with).
/// `data` is a `Box<Option<F>>` owned by the request (freed by
/// [`destroy::<F>`]); the closure is taken out and called.
pub(crate) unsafe extern "C" fn complete<F>(
    req: *mut sys::upcall_request,
    error: c_int,
    data: *mut c_void,
) where
    F: FnOnce(Result<Reply>) + Send + 'static,
{
    // Only this callback and then the destroy function, both on the
    // processing thread and one after the other, touch `data`.
    let slot = &mut *(data as *mut Option<F>);
    if let Some(f) = slot.take() {
        let outcome = completed(req, error);
        no_unwind(move || f(outcome));
    }
}

/// Destroy function of [`Session::submit_with`](crate::Session::submit_with):
/// frees the box, and the closure if it was never called.
pub(crate) unsafe extern "C" fn destroy<F>(data: *mut c_void)
where
    F: FnOnce(Result<Reply>) + Send + 'static,
{
    let slot = Box::from_raw(data as *mut Option<F>);
    no_unwind(move || drop(slot));
}

/// Completion trampoline of a floating request
/// ([`Session::submit_detached`](crate::Session::submit_detached)): `data`
/// is a `Box<F>`, called and freed here, the only time it runs.
pub(crate) unsafe extern "C" fn complete_once<F>(
    req: *mut sys::upcall_request,
    error: c_int,
    data: *mut c_void,
) where
    F: FnOnce(Result<Reply>) + Send + 'static,
{
    let f = Box::from_raw(data as *mut F);
    let outcome = completed(req, error);
    no_unwind(move || f(outcome));
}

impl Clone for Request {
    fn clone(&self) -> Request {
        // SAFETY: valid request; the new reference is the clone's.
        unsafe { sys::upcall_request_ref(self.raw()) };
        Request {
            raw: self.raw,
            _ctx: self._ctx.clone(),
        }
    }
}

impl Drop for Request {
    fn drop(&mut self) {
        // SAFETY: our reference, dropped once.  The last one before
        // completion cancels silently.
        unsafe { sys::upcall_request_unref(self.raw()) };
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("raw", &self.raw())
            .field("msg_type", &self.msg_type())
            .field("outcome", &self.outcome())
            .finish()
    }
}
