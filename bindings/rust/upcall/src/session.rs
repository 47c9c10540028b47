// SPDX-License-Identifier: MIT
//! [`Session`]: one guest, and the requests sent to it.

use std::ffi::CString;
use std::fmt;
use std::os::raw::c_int;
use std::os::raw::c_void;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::{FromRawFd, IntoRawFd};
use std::path::Path;
use std::ptr::{self, NonNull};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use upcall_sys as sys;

use crate::context::{Context, CtxInner};
use crate::error::{check, Error, Result};
use crate::request::{self, Info, Reply, Request};
use crate::{usec, usec_or_forever};

/// The guest's wire format (it depends on the guest, not the host).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Arch {
    /// CPU requests carry APIC ids ([`Cpus::ApicIds`]).
    X86_64,
    /// CPU requests carry a count ([`Cpus::Count`]).
    Aarch64,
}

/// The life of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Created, not opened yet.
    Idle,
    /// First connection under way.
    Connecting,
    /// The guest said CONNECT: requests go out.
    Ready,
    /// Dropped; backing off or connecting again.
    Reconnecting,
    /// Closed for good.
    Closed,
}

impl State {
    fn from_raw(s: i32) -> Option<State> {
        Some(match s {
            sys::UPCALL_SESSION_IDLE => State::Idle,
            sys::UPCALL_SESSION_CONNECTING => State::Connecting,
            sys::UPCALL_SESSION_READY => State::Ready,
            sys::UPCALL_SESSION_RECONNECTING => State::Reconnecting,
            sys::UPCALL_SESSION_CLOSED => State::Closed,
            _ => return None,
        })
    }
}

/// The vCPUs of a CPU request, in the session's [`Arch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cpus<'a> {
    /// x86_64: the APIC ids, 1 to 255 of them.
    ApicIds(&'a [u8]),
    /// aarch64: how many vCPUs (the guest picks which), 1 to 255.
    Count(u8),
}

impl<'a> Cpus<'a> {
    fn raw(&self) -> (*const u8, usize) {
        match *self {
            Cpus::ApicIds(ids) => (ids.as_ptr(), ids.len()),
            Cpus::Count(n) => (ptr::null(), n as usize),
        }
    }

    fn count(&self) -> u32 {
        self.raw().1 as u32
    }
}

/// One device-manager operation.  Arguments are copied when it is
/// submitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op<'a> {
    /// Hot-add vCPUs.
    CpuAdd(Cpus<'a>),
    /// Hot-remove vCPUs.
    CpuDel(Cpus<'a>),
    /// Add a virtio-mmio device.
    MmioAdd {
        /// Base of the register window.
        base: u64,
        /// Size of the window (> 0), usually 0x1000.
        size: u64,
        /// The device's interrupt.
        irq: u32,
    },
    /// Remove a virtio-mmio device, matched by all three fields.
    MmioDel {
        /// Base of the register window.
        base: u64,
        /// Size of the window.
        size: u64,
        /// The device's interrupt.
        irq: u32,
    },
    /// Add guest memory (an extension; a Dragonball guest answers -1).
    MemAdd {
        /// Guest-physical start, aligned to the guest's block size.
        addr: u64,
        /// Bytes (> 0), a multiple of the block size.
        size: u64,
        /// NUMA node.
        node: u32,
        /// [`MEM_F_MOVABLE`](crate::MEM_F_MOVABLE) or 0.
        flags: u32,
    },
    /// Remove guest memory (an extension).
    MemDel {
        /// Guest-physical start.
        addr: u64,
        /// Bytes.
        size: u64,
    },
    /// Scan and add a PCI device (segment 0).
    PciAdd {
        /// Bus number.
        bus: u8,
        /// `(slot << 3) | function`.
        devfn: u8,
    },
    /// Stop and remove a PCI device.
    PciDel {
        /// Bus number.
        bus: u8,
        /// `(slot << 3) | function`.
        devfn: u8,
    },
    /// Ask what the guest serves (an extension).
    GetInfo,
}

/// A connection to one guest's upcall server, reconnected as needed.
///
/// Create it, set options, open it; then submit requests.  Cheap to clone
/// (a C reference each); the last clone's drop closes the session, and its
/// pending requests complete with `ESHUTDOWN`.  A session keeps its context
/// alive.  `Send` and `Sync`: every libupcall session function may be
/// called from any thread.
pub struct Session {
    raw: NonNull<sys::upcall_session>,
    ctx: Arc<CtxInner>,
    state_fn: Arc<StateSlot>,
}

/// A state callback set by [`Session::set_state_fn`].
type StateFn = Box<dyn FnMut(State, Option<Error>) + Send + 'static>;

/// The state callback's userdata, one per C session: the C session holds
/// one `Arc` (released by its destroy callback, libupcall 1.1, after the
/// last state event), every Rust handle of the session another.
struct StateSlot {
    f: Mutex<Option<StateFn>>,
}

impl StateSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<StateFn>> {
        // A panicking callback aborts (no_unwind): no poisoned data.
        self.f.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// State callback of every session: runs the closure in its slot, if any.
/// The closure is taken out while it runs, so it may replace itself (or
/// call anything else) without a deadlock.
unsafe extern "C" fn state_trampoline(
    _session: *mut sys::upcall_session,
    state: sys::upcall_session_state,
    error: c_int,
    data: *mut c_void,
) {
    // SAFETY: the Arc the C session holds, released only by state_destroy.
    let slot = &*(data as *const StateSlot);
    let taken = slot.lock().take();
    if let Some(mut f) = taken {
        let state = State::from_raw(state).unwrap_or(State::Closed);
        let error = if error < 0 {
            Some(Error::transport(error))
        } else {
            None
        };
        request::no_unwind(|| f(state, error));
        let mut g = slot.lock();
        if g.is_none() {
            *g = Some(f);
        } else {
            drop(g); // replaced meanwhile: the new one stays
            request::no_unwind(move || drop(f));
        }
    }
}

/// Destroy callback of every session: drops the C session's `Arc`, and
/// with it the closure if no Rust handle is left.
unsafe extern "C" fn state_destroy(data: *mut c_void) {
    if data.is_null() {
        return;
    }
    // SAFETY: from Arc::into_raw in Session::new, released once.
    let slot = Arc::from_raw(data as *const StateSlot);
    request::no_unwind(move || drop(slot));
}

// SAFETY: see the type's documentation and CtxInner's.
unsafe impl Send for Session {}
unsafe impl Sync for Session {}

impl Session {
    /// A new, idle session on `ctx`.
    pub fn new(ctx: &Context) -> Result<Session> {
        let mut raw = ptr::null_mut();
        // SAFETY: valid context and out-pointer.
        check(unsafe { sys::upcall_session_new(ctx.inner.raw.as_ptr(), &mut raw) })?;
        let session = Session {
            raw: NonNull::new(raw).expect("upcall_session_new returned NULL"),
            ctx: ctx.inner.clone(),
            state_fn: Arc::new(StateSlot {
                f: Mutex::new(None),
            }),
        };
        // The destroy callback first: from then on whatever userdata is set
        // is released when libupcall frees the session.
        let data = Arc::into_raw(session.state_fn.clone()) as *mut c_void;
        // SAFETY: valid session; state_trampoline and state_destroy take
        // what `data` is.
        let r = unsafe {
            let r = sys::upcall_session_set_destroy_fn(raw, Some(state_destroy));
            if r < 0 {
                r
            } else {
                sys::upcall_session_set_state_fn(raw, Some(state_trampoline), data)
            }
        };
        if r < 0 {
            // SAFETY: libupcall did not take it.
            drop(unsafe { Arc::from_raw(data as *const StateSlot) });
            return Err(Error::transport(r));
        }
        Ok(session)
    }

    /// Call `f` with each state the session enters, and the error that
    /// made it leave READY or fail to connect, on the thread that
    /// processes the context; it replaces the callback set before.  The
    /// closure is dropped when replaced ([`clear_state_fn`](Session::clear_state_fn))
    /// or when libupcall frees the session (after its last state event:
    /// its destroy callback), exactly once.  A panic in `f` aborts the
    /// process.  Since libupcall 1.1: before it, `f` could not be freed
    /// safely, and callers polled [`state`](Session::state).
    pub fn set_state_fn<F>(&self, f: F)
    where
        F: FnMut(State, Option<Error>) + Send + 'static,
    {
        let old = self.state_fn.lock().replace(Box::new(f));
        drop(old);
    }

    /// Remove the state callback set by [`set_state_fn`](Session::set_state_fn).
    pub fn clear_state_fn(&self) {
        let old = self.state_fn.lock().take();
        drop(old);
    }

    fn raw(&self) -> *mut sys::upcall_session {
        self.raw.as_ptr()
    }

    /// The C session, for calls this crate does not wrap.  No reference is
    /// transferred: it is valid while `self` is.
    pub fn as_ptr(&self) -> *mut sys::upcall_session {
        self.raw()
    }

    /// The context this session belongs to.
    pub fn context(&self) -> Context {
        Context {
            inner: self.ctx.clone(),
        }
    }

    /// Choose the guest's wire format (default: the host's architecture).
    /// Only before the session is opened (`EBUSY` after).
    pub fn set_arch(&self, arch: Arch) -> Result<()> {
        let a = match arch {
            Arch::X86_64 => sys::UPCALL_ARCH_X86_64,
            Arch::Aarch64 => sys::UPCALL_ARCH_AARCH64,
        };
        // SAFETY: valid session.
        check(unsafe { sys::upcall_session_set_arch(self.raw(), a) }).map(drop)
    }

    /// The guest's wire format.
    pub fn arch(&self) -> Result<Arch> {
        // SAFETY: valid session.
        match check(unsafe { sys::upcall_session_get_arch(self.raw()) })? {
            sys::UPCALL_ARCH_AARCH64 => Ok(Arch::Aarch64),
            _ => Ok(Arch::X86_64),
        }
    }

    /// The guest server's vsock port (default 219).  Only before opening.
    pub fn set_port(&self, port: u32) -> Result<()> {
        // SAFETY: valid session.
        check(unsafe { sys::upcall_session_set_port(self.raw(), port) }).map(drop)
    }

    /// Limit of each connection attempt (default 5 s; must be > 0).
    pub fn set_connect_timeout(&self, timeout: Duration) -> Result<()> {
        // SAFETY: valid session.
        check(unsafe { sys::upcall_session_set_connect_timeout(self.raw(), usec(timeout)) })
            .map(drop)
    }

    /// Default timeout of requests submitted from now on, counted from
    /// submission (default 30 s); `None` for none.
    pub fn set_request_timeout(&self, timeout: Option<Duration>) -> Result<()> {
        // SAFETY: valid session.
        check(unsafe {
            sys::upcall_session_set_request_timeout(self.raw(), usec_or_forever(timeout))
        })
        .map(drop)
    }

    /// Reconnect policy: after a failure wait `min`, doubling up to `max`;
    /// with `enable` false the session closes instead.  Default: enabled,
    /// 100 ms to 5 s.
    pub fn set_reconnect(&self, enable: bool, min: Duration, max: Duration) -> Result<()> {
        // SAFETY: valid session.
        check(unsafe {
            sys::upcall_session_set_reconnect(self.raw(), enable as i32, usec(min), usec(max))
        })
        .map(drop)
    }

    /// APIC version sent with x86_64 CPU requests (default 0x14).  Only
    /// before opening.
    pub fn set_apic_version(&self, apic_ver: u8) -> Result<()> {
        // SAFETY: valid session.
        check(unsafe { sys::upcall_session_set_apic_version(self.raw(), apic_ver) }).map(drop)
    }

    /// Connect AF_VSOCK sessions from a port below 1024 (the highest free
    /// one from 1023 down), for a guest that accepts only such peers (the
    /// upcall guest module's `secure_port`); needs CAP_NET_BIND_SERVICE.
    /// No effect on other transports.  Only before opening.  Since
    /// libupcall 1.1.
    pub fn set_privileged_port(&self, enable: bool) -> Result<()> {
        // SAFETY: valid session.
        check(unsafe { sys::upcall_session_set_privileged_port(self.raw(), enable as i32) })
            .map(drop)
    }

    /// Open on a hybrid-vsock Unix socket (Firecracker, Cloud Hypervisor,
    /// Dragonball).  Connecting goes on in the background; see
    /// [`wait_ready`](Session::wait_ready).
    pub fn open_unix<P: AsRef<Path>>(&self, path: P) -> Result<()> {
        let path = CString::new(path.as_ref().as_os_str().as_bytes())
            .map_err(|_| Error::transport(-sys::errno::EINVAL))?;
        // SAFETY: valid session and string.
        check(unsafe { sys::upcall_session_open_unix(self.raw(), path.as_ptr()) }).map(drop)
    }

    /// Open on AF_VSOCK, the guest's context id.
    pub fn open_vsock(&self, cid: u32) -> Result<()> {
        // SAFETY: valid session.
        check(unsafe { sys::upcall_session_open_vsock(self.raw(), cid) }).map(drop)
    }

    /// Open on an already-connected stream socket, which the session then
    /// owns (also when this fails).  No text handshake, no reconnect.
    pub fn open_fd<F: IntoRawFd>(&self, fd: F) -> Result<()> {
        let fd = fd.into_raw_fd();
        // SAFETY: valid session; the fd is ours to give.
        let r = unsafe { sys::upcall_session_open_fd(self.raw(), fd) };
        if r == -sys::errno::EBUSY {
            // Refused before libupcall took it: close it here.
            // SAFETY: we still own it.
            drop(unsafe { std::fs::File::from_raw_fd(fd) });
        }
        check(r).map(drop)
    }

    /// Close for good: pending requests complete with `ESHUTDOWN`, new ones
    /// are refused with `ENOTCONN`.  Idempotent.
    pub fn close(&self) -> Result<()> {
        // SAFETY: valid session.
        check(unsafe { sys::upcall_session_close(self.raw()) }).map(drop)
    }

    /// The current state.
    pub fn state(&self) -> Result<State> {
        // SAFETY: valid session.
        let s = check(unsafe { sys::upcall_session_get_state(self.raw()) })?;
        State::from_raw(s).ok_or_else(|| Error::transport(-sys::errno::EPROTO))
    }

    /// Block until the session is ready (`Ok`), closed (the error that
    /// closed it) or `timeout` passes (`ETIMEDOUT`); processes the context
    /// on this thread unless another thread does.
    pub fn wait_ready(&self, timeout: Option<Duration>) -> Result<()> {
        // SAFETY: valid session.
        check(unsafe { sys::upcall_session_wait_ready(self.raw(), usec_or_forever(timeout)) })
            .map(drop)
    }

    // ------------------------------------------------------- asynchronous

    /// Submit `op`; follow it with the returned [`Request`] (wait for it,
    /// read its outcome).  Dropping the request before it completes
    /// cancels it.
    pub fn submit(&self, op: Op<'_>) -> Result<Request> {
        let mut req = ptr::null_mut();
        // SAFETY: valid session and out-pointer, no callback.
        check(unsafe { submit_raw(self.raw(), &op, None, ptr::null_mut(), &mut req) })?;
        // SAFETY: submission gave us one reference.
        Ok(unsafe { Request::from_raw(req, self.ctx.clone()) })
    }

    /// Submit `op`; `callback` gets its outcome on the thread that
    /// processes the context, exactly once, unless the returned
    /// [`Request`] is dropped before completion: then the request is
    /// cancelled silently and `callback` is dropped uncalled (when the
    /// context is next processed, or by the drop of its last handle).
    /// Either way it is dropped exactly once: the box holding it is the
    /// request's userdata, freed by its destroy callback.  If submission
    /// fails, it is dropped before this returns.
    ///
    /// A panic in `callback` aborts the process: it cannot unwind into C.
    pub fn submit_with<F>(&self, op: Op<'_>, callback: F) -> Result<Request>
    where
        F: FnOnce(Result<Reply>) + Send + 'static,
    {
        let data = Box::into_raw(Box::new(Some(callback))) as *mut c_void;
        let mut req = ptr::null_mut();
        // SAFETY: valid session and out-pointer; `data` is what
        // request::complete::<F> expects.
        let r = unsafe {
            submit_raw(
                self.raw(),
                &op,
                Some(request::complete::<F>),
                data,
                &mut req,
            )
        };
        if r < 0 {
            // Not submitted: libupcall never saw `data`.
            // SAFETY: from Box::into_raw above, not freed.
            drop(unsafe { Box::from_raw(data as *mut Option<F>) });
            return Err(Error::transport(r));
        }
        // The callback may already have run on a library thread; the
        // request, which we hold, cannot be freed before this, so the
        // destroy function always gets to free `data`.
        // SAFETY: valid request; `data` is what request::destroy::<F> expects.
        unsafe { sys::upcall_request_set_destroy_fn(req, Some(request::destroy::<F>)) };
        // SAFETY: submission gave us one reference.
        Ok(unsafe { Request::from_raw(req, self.ctx.clone()) })
    }

    /// Submit `op` with no handle to keep (a floating request): `callback`
    /// is called exactly once, on the thread that processes the context,
    /// and freed after.  It cannot be cancelled; closing the session
    /// completes it with `ESHUTDOWN`.
    pub fn submit_detached<F>(&self, op: Op<'_>, callback: F) -> Result<()>
    where
        F: FnOnce(Result<Reply>) + Send + 'static,
    {
        let data = Box::into_raw(Box::new(callback)) as *mut c_void;
        // SAFETY: valid session; `data` is what request::complete_once::<F>
        // expects, and a floating request's callback always runs once.
        let r = unsafe {
            submit_raw(
                self.raw(),
                &op,
                Some(request::complete_once::<F>),
                data,
                ptr::null_mut(),
            )
        };
        if r < 0 {
            // SAFETY: from Box::into_raw above, not freed.
            drop(unsafe { Box::from_raw(data as *mut F) });
            return Err(Error::transport(r));
        }
        Ok(())
    }

    // -------------------------------------------------------- synchronous

    /// Submit `op` and wait for its outcome, processing the context on
    /// this thread unless another thread does.  `timeout` bounds the
    /// request, counted from now (`None`: the session's request timeout).
    /// Must not be called from a callback (`EDEADLK`).
    pub fn call(&self, op: Op<'_>, timeout: Option<Duration>) -> Result<Reply> {
        let req = self.submit(op)?;
        if let Some(t) = timeout {
            // EALREADY if it completed already: fine.
            let _ = req.set_timeout(Some(t.max(Duration::from_micros(1))));
        }
        req.wait(None)?;
        req.outcome()
            .unwrap_or_else(|| Err(Error::transport(-sys::errno::EAGAIN)))
    }

    fn call_cpus(&self, op: Op<'_>, cpus: Cpus<'_>) -> Result<u32> {
        let reply = self.call(op, None)?;
        Ok(reply.cpu_index.unwrap_or_else(|| cpus.count()))
    }

    /// Hot-add vCPUs and wait.  Returns the guest's CPU index: the number
    /// of vCPUs acted on (all of them on success).
    pub fn cpu_add(&self, cpus: Cpus<'_>) -> Result<u32> {
        self.call_cpus(Op::CpuAdd(cpus), cpus)
    }

    /// Hot-remove vCPUs and wait; see [`cpu_add`](Session::cpu_add).
    pub fn cpu_del(&self, cpus: Cpus<'_>) -> Result<u32> {
        self.call_cpus(Op::CpuDel(cpus), cpus)
    }

    /// Add a virtio-mmio device and wait.
    pub fn mmio_add(&self, base: u64, size: u64, irq: u32) -> Result<()> {
        self.call(Op::MmioAdd { base, size, irq }, None).map(drop)
    }

    /// Remove a virtio-mmio device and wait.
    pub fn mmio_del(&self, base: u64, size: u64, irq: u32) -> Result<()> {
        self.call(Op::MmioDel { base, size, irq }, None).map(drop)
    }

    /// Add guest memory and wait.
    pub fn mem_add(&self, addr: u64, size: u64, node: u32, flags: u32) -> Result<()> {
        self.call(
            Op::MemAdd {
                addr,
                size,
                node,
                flags,
            },
            None,
        )
        .map(drop)
    }

    /// Remove guest memory and wait.
    pub fn mem_del(&self, addr: u64, size: u64) -> Result<()> {
        self.call(Op::MemDel { addr, size }, None).map(drop)
    }

    /// Add a PCI device and wait.
    pub fn pci_add(&self, bus: u8, devfn: u8) -> Result<()> {
        self.call(Op::PciAdd { bus, devfn }, None).map(drop)
    }

    /// Remove a PCI device and wait.
    pub fn pci_del(&self, bus: u8, devfn: u8) -> Result<()> {
        self.call(Op::PciDel { bus, devfn }, None).map(drop)
    }

    /// Ask the guest what it serves and wait.  A guest without the
    /// extension (Dragonball) gives a [`Guest`](crate::ErrorKind::Guest)
    /// error `EOPNOTSUPP`.
    pub fn get_info(&self) -> Result<Info> {
        let reply = self.call(Op::GetInfo, None)?;
        reply
            .info
            .ok_or_else(|| Error::transport(-sys::errno::ENODATA))
    }
}

/// Submit `op` on `s` with libupcall's arguments.
///
/// # Safety
/// `s` is a valid session; `cb` and `data` match; `ret` is NULL or valid.
unsafe fn submit_raw(
    s: *mut sys::upcall_session,
    op: &Op<'_>,
    cb: sys::upcall_request_fn,
    data: *mut c_void,
    ret: *mut *mut sys::upcall_request,
) -> i32 {
    match *op {
        Op::CpuAdd(c) => {
            let (ids, n) = c.raw();
            sys::upcall_devmgr_cpu_add(s, ids, n, cb, data, ret)
        }
        Op::CpuDel(c) => {
            let (ids, n) = c.raw();
            sys::upcall_devmgr_cpu_del(s, ids, n, cb, data, ret)
        }
        Op::MmioAdd { base, size, irq } => {
            sys::upcall_devmgr_mmio_add(s, base, size, irq, cb, data, ret)
        }
        Op::MmioDel { base, size, irq } => {
            sys::upcall_devmgr_mmio_del(s, base, size, irq, cb, data, ret)
        }
        Op::MemAdd {
            addr,
            size,
            node,
            flags,
        } => sys::upcall_devmgr_mem_add(s, addr, size, node, flags, cb, data, ret),
        Op::MemDel { addr, size } => sys::upcall_devmgr_mem_del(s, addr, size, cb, data, ret),
        Op::PciAdd { bus, devfn } => sys::upcall_devmgr_pci_add(s, bus, devfn, cb, data, ret),
        Op::PciDel { bus, devfn } => sys::upcall_devmgr_pci_del(s, bus, devfn, cb, data, ret),
        Op::GetInfo => sys::upcall_devmgr_get_info(s, cb, data, ret),
    }
}

impl Clone for Session {
    fn clone(&self) -> Session {
        // SAFETY: valid session; the new reference is the clone's.
        unsafe { sys::upcall_session_ref(self.raw()) };
        Session {
            raw: self.raw,
            ctx: self.ctx.clone(),
            state_fn: self.state_fn.clone(),
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        // SAFETY: our reference, dropped once.  Then `ctx` drops, maybe
        // the context's last handle (see CtxInner's drop).
        unsafe { sys::upcall_session_unref(self.raw()) };
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("raw", &self.raw())
            .field("state", &self.state().ok())
            .finish()
    }
}
