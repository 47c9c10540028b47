// SPDX-License-Identifier: MIT
//! Raw declarations of libupcall's C API (`<upcall/upcall.h>`) and the
//! constants of `<upcall/wire.h>` a caller needs.
//!
//! Written by hand from the headers of libupcall 1.1 (no bindgen, no
//! crates).  `make check` (tests/check-rust-sys.sh) compiles them, turned
//! back into C, against the headers: a function, type, constant or
//! `upcall_info` field that drifts from the C fails the build's tests.  Every function returns 0 (or a positive value where the header
//! says so) or a negative errno; see `upcall.h` for ownership and threading,
//! and the `upcall` crate for a safe interface.
#![allow(non_camel_case_types)]

use std::marker::{PhantomData, PhantomPinned};
// std::os::raw rather than core::ffi: the latter's c_int is Rust 1.64.
pub use std::os::raw::{c_char, c_int, c_void};

macro_rules! opaque {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[repr(C)]
        pub struct $name {
            _data: [u8; 0],
            // Neither Send, Sync nor Unpin: only ever behind a pointer.
            _marker: PhantomData<(*mut u8, PhantomPinned)>,
        }
    };
}

opaque!(
    /// A context: one epoll fd, its sessions, timers and callbacks.
    upcall_ctx
);
opaque!(
    /// A connection to one guest's upcall server.
    upcall_session
);
opaque!(
    /// One device-manager request.
    upcall_request
);

// ------------------------------------------------------------- upcall.h

/// Major version of the headers these declarations follow.
pub const UPCALL_VERSION_MAJOR: u32 = 1;
/// Minor version of the headers these declarations follow.
pub const UPCALL_VERSION_MINOR: u32 = 1;
/// Micro version of the headers these declarations follow.
pub const UPCALL_VERSION_MICRO: u32 = 0;

/// `enum upcall_arch`: the guest's wire format.
pub type upcall_arch = c_int;
/// CPU requests carry APIC ids.
pub const UPCALL_ARCH_X86_64: upcall_arch = 1;
/// CPU requests carry a count.
pub const UPCALL_ARCH_AARCH64: upcall_arch = 2;

/// `enum upcall_session_state`.
pub type upcall_session_state = c_int;
/// Created, not opened yet.
pub const UPCALL_SESSION_IDLE: upcall_session_state = 0;
/// First connection under way.
pub const UPCALL_SESSION_CONNECTING: upcall_session_state = 1;
/// The guest said CONNECT.
pub const UPCALL_SESSION_READY: upcall_session_state = 2;
/// Dropped; backing off or connecting again.
pub const UPCALL_SESSION_RECONNECTING: upcall_session_state = 3;
/// Closed for good.
pub const UPCALL_SESSION_CLOSED: upcall_session_state = 4;

/// A `va_list` as a function argument: an opaque pointer, which is how
/// x86_64 and aarch64 pass one (an array that decays to a pointer, and a
/// composite larger than 16 bytes passed by reference).
pub type va_list = *mut c_void;

/// `upcall_log_fn`.
pub type upcall_log_fn = Option<
    unsafe extern "C" fn(
        ctx: *mut upcall_ctx,
        priority: c_int,
        file: *const c_char,
        line: c_int,
        func: *const c_char,
        format: *const c_char,
        args: va_list,
        userdata: *mut c_void,
    ),
>;

/// `upcall_session_state_fn`.
pub type upcall_session_state_fn = Option<
    unsafe extern "C" fn(
        session: *mut upcall_session,
        state: upcall_session_state,
        error: c_int,
        userdata: *mut c_void,
    ),
>;

/// `upcall_request_fn`: completion callback.
pub type upcall_request_fn =
    Option<unsafe extern "C" fn(req: *mut upcall_request, error: c_int, userdata: *mut c_void)>;

/// `upcall_destroy_fn`: releases the userdata of a request, of a session's
/// state callback or of a context's log callback.
pub type upcall_destroy_fn = Option<unsafe extern "C" fn(userdata: *mut c_void)>;

/// `enum upcall_io_op`: the values of `EPOLL_CTL_*`.
pub type upcall_io_op = c_int;
/// Start watching the fd.
pub const UPCALL_IO_ADD: upcall_io_op = 1;
/// Stop: the fd is about to be closed.
pub const UPCALL_IO_DEL: upcall_io_op = 2;
/// Watch the fd for other events.
pub const UPCALL_IO_MOD: upcall_io_op = 3;

/// `upcall_io_fn`: keep the caller's poller in step with a session's
/// socket.  Runs with the context's lock held: it must not call libupcall.
pub type upcall_io_fn = Option<
    unsafe extern "C" fn(
        session: *mut upcall_session,
        fd: c_int,
        op: upcall_io_op,
        events: u32,
        userdata: *mut c_void,
    ) -> c_int,
>;

/// `struct upcall_info`: what a guest serves, from GET_INFO.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct upcall_info {
    /// Protocol version, major << 8 | minor.
    pub version: u32,
    /// Bit n set: message type n is served.
    pub ops: u32,
    /// Bytes; 0 without memory hotplug.
    pub mem_block_size: u64,
    /// vCPUs the guest can ever have.
    pub cpus_possible: u32,
    /// vCPUs it knows of.
    pub cpus_present: u32,
    /// vCPUs running.
    pub cpus_online: u32,
    /// `UPCALL_MEM_POLICY_*`.
    pub mem_policy: u32,
    /// `UPCALL_CPU_MODE_*`.
    pub cpu_mode: u32,
    /// `UPCALL_GUEST_ARCH_*`.
    pub arch: u32,
    /// 0; room to grow.
    pub reserved: [u32; 6],
}

extern "C" {
    pub fn upcall_version() -> *const c_char;
    pub fn upcall_strerror(err: c_int) -> *const c_char;
    pub fn upcall_errno_name(err: c_int) -> *const c_char;

    pub fn upcall_ctx_new(ret: *mut *mut upcall_ctx) -> c_int;
    pub fn upcall_ctx_ref(ctx: *mut upcall_ctx) -> *mut upcall_ctx;
    pub fn upcall_ctx_unref(ctx: *mut upcall_ctx) -> *mut upcall_ctx;
    pub fn upcall_ctx_set_log_fn(
        ctx: *mut upcall_ctx,
        f: upcall_log_fn,
        userdata: *mut c_void,
    ) -> c_int;
    /// Since libupcall 1.1.
    pub fn upcall_ctx_set_log_destroy_fn(ctx: *mut upcall_ctx, f: upcall_destroy_fn) -> c_int;
    pub fn upcall_ctx_set_log_priority(ctx: *mut upcall_ctx, priority: c_int) -> c_int;
    pub fn upcall_ctx_get_fd(ctx: *mut upcall_ctx) -> c_int;
    pub fn upcall_ctx_get_events(ctx: *mut upcall_ctx) -> c_int;
    pub fn upcall_ctx_get_timeout(ctx: *mut upcall_ctx, usec: *mut u64) -> c_int;
    pub fn upcall_ctx_process(ctx: *mut upcall_ctx) -> c_int;
    pub fn upcall_ctx_wait(ctx: *mut upcall_ctx, timeout_usec: u64) -> c_int;
    pub fn upcall_ctx_run(ctx: *mut upcall_ctx, timeout_usec: u64) -> c_int;
    pub fn upcall_ctx_start_thread(ctx: *mut upcall_ctx) -> c_int;
    pub fn upcall_ctx_stop_thread(ctx: *mut upcall_ctx) -> c_int;
    pub fn upcall_ctx_set_io_fn(
        ctx: *mut upcall_ctx,
        func: upcall_io_fn,
        userdata: *mut c_void,
    ) -> c_int;
    pub fn upcall_session_process(session: *mut upcall_session) -> c_int;

    pub fn upcall_session_new(ctx: *mut upcall_ctx, ret: *mut *mut upcall_session) -> c_int;
    pub fn upcall_session_ref(session: *mut upcall_session) -> *mut upcall_session;
    pub fn upcall_session_unref(session: *mut upcall_session) -> *mut upcall_session;
    pub fn upcall_session_set_arch(session: *mut upcall_session, arch: upcall_arch) -> c_int;
    pub fn upcall_session_get_arch(session: *mut upcall_session) -> c_int;
    pub fn upcall_session_set_port(session: *mut upcall_session, port: u32) -> c_int;
    pub fn upcall_session_set_connect_timeout(session: *mut upcall_session, usec: u64) -> c_int;
    pub fn upcall_session_set_request_timeout(session: *mut upcall_session, usec: u64) -> c_int;
    pub fn upcall_session_set_reconnect(
        session: *mut upcall_session,
        enable: c_int,
        min_usec: u64,
        max_usec: u64,
    ) -> c_int;
    pub fn upcall_session_set_apic_version(session: *mut upcall_session, apic_ver: u8) -> c_int;
    /// Since libupcall 1.1.
    pub fn upcall_session_set_privileged_port(session: *mut upcall_session, enable: c_int)
        -> c_int;
    pub fn upcall_session_set_state_fn(
        session: *mut upcall_session,
        f: upcall_session_state_fn,
        userdata: *mut c_void,
    ) -> c_int;
    /// Since libupcall 1.1.
    pub fn upcall_session_set_destroy_fn(
        session: *mut upcall_session,
        f: upcall_destroy_fn,
    ) -> c_int;
    pub fn upcall_session_set_userdata(
        session: *mut upcall_session,
        userdata: *mut c_void,
    ) -> c_int;
    pub fn upcall_session_get_userdata(session: *mut upcall_session) -> *mut c_void;
    pub fn upcall_session_open_unix(session: *mut upcall_session, path: *const c_char) -> c_int;
    pub fn upcall_session_open_vsock(session: *mut upcall_session, cid: u32) -> c_int;
    pub fn upcall_session_open_fd(session: *mut upcall_session, fd: c_int) -> c_int;
    pub fn upcall_session_close(session: *mut upcall_session) -> c_int;
    pub fn upcall_session_get_state(session: *mut upcall_session) -> c_int;
    pub fn upcall_session_wait_ready(session: *mut upcall_session, timeout_usec: u64) -> c_int;
    pub fn upcall_session_get_ctx(session: *mut upcall_session) -> *mut upcall_ctx;

    pub fn upcall_request_ref(req: *mut upcall_request) -> *mut upcall_request;
    pub fn upcall_request_unref(req: *mut upcall_request) -> *mut upcall_request;
    pub fn upcall_request_cancel(req: *mut upcall_request) -> c_int;
    pub fn upcall_request_set_timeout(req: *mut upcall_request, usec: u64) -> c_int;
    pub fn upcall_request_set_destroy_fn(req: *mut upcall_request, f: upcall_destroy_fn) -> c_int;
    /// Since libupcall 1.1.
    pub fn upcall_request_set_floating(req: *mut upcall_request, floating: c_int) -> c_int;
    /// Since libupcall 1.1.
    pub fn upcall_request_get_floating(req: *mut upcall_request) -> c_int;
    pub fn upcall_request_get_userdata(req: *mut upcall_request) -> *mut c_void;
    pub fn upcall_request_get_type(req: *mut upcall_request) -> c_int;
    pub fn upcall_request_get_status(req: *mut upcall_request) -> c_int;
    pub fn upcall_request_get_result(req: *mut upcall_request, result: *mut c_int) -> c_int;
    pub fn upcall_request_get_cpu_index(req: *mut upcall_request, index: *mut u32) -> c_int;
    pub fn upcall_request_get_info(req: *mut upcall_request, info: *mut upcall_info) -> c_int;
    pub fn upcall_request_wait(req: *mut upcall_request, timeout_usec: u64) -> c_int;

    pub fn upcall_devmgr_cpu_add(
        session: *mut upcall_session,
        ids: *const u8,
        n: usize,
        cb: upcall_request_fn,
        userdata: *mut c_void,
        ret: *mut *mut upcall_request,
    ) -> c_int;
    pub fn upcall_devmgr_cpu_del(
        session: *mut upcall_session,
        ids: *const u8,
        n: usize,
        cb: upcall_request_fn,
        userdata: *mut c_void,
        ret: *mut *mut upcall_request,
    ) -> c_int;
    pub fn upcall_devmgr_mmio_add(
        session: *mut upcall_session,
        base: u64,
        size: u64,
        irq: u32,
        cb: upcall_request_fn,
        userdata: *mut c_void,
        ret: *mut *mut upcall_request,
    ) -> c_int;
    pub fn upcall_devmgr_mmio_del(
        session: *mut upcall_session,
        base: u64,
        size: u64,
        irq: u32,
        cb: upcall_request_fn,
        userdata: *mut c_void,
        ret: *mut *mut upcall_request,
    ) -> c_int;
    pub fn upcall_devmgr_mem_add(
        session: *mut upcall_session,
        addr: u64,
        size: u64,
        node: u32,
        flags: u32,
        cb: upcall_request_fn,
        userdata: *mut c_void,
        ret: *mut *mut upcall_request,
    ) -> c_int;
    pub fn upcall_devmgr_mem_del(
        session: *mut upcall_session,
        addr: u64,
        size: u64,
        cb: upcall_request_fn,
        userdata: *mut c_void,
        ret: *mut *mut upcall_request,
    ) -> c_int;
    pub fn upcall_devmgr_pci_add(
        session: *mut upcall_session,
        bus: u8,
        devfn: u8,
        cb: upcall_request_fn,
        userdata: *mut c_void,
        ret: *mut *mut upcall_request,
    ) -> c_int;
    pub fn upcall_devmgr_pci_del(
        session: *mut upcall_session,
        bus: u8,
        devfn: u8,
        cb: upcall_request_fn,
        userdata: *mut c_void,
        ret: *mut *mut upcall_request,
    ) -> c_int;
    pub fn upcall_devmgr_get_info(
        session: *mut upcall_session,
        cb: upcall_request_fn,
        userdata: *mut c_void,
        ret: *mut *mut upcall_request,
    ) -> c_int;

    pub fn upcall_devmgr_cpu_add_sync(
        session: *mut upcall_session,
        ids: *const u8,
        n: usize,
        timeout_usec: u64,
        result: *mut c_int,
        index: *mut u32,
    ) -> c_int;
    pub fn upcall_devmgr_cpu_del_sync(
        session: *mut upcall_session,
        ids: *const u8,
        n: usize,
        timeout_usec: u64,
        result: *mut c_int,
        index: *mut u32,
    ) -> c_int;
    pub fn upcall_devmgr_mmio_add_sync(
        session: *mut upcall_session,
        base: u64,
        size: u64,
        irq: u32,
        timeout_usec: u64,
        result: *mut c_int,
    ) -> c_int;
    pub fn upcall_devmgr_mmio_del_sync(
        session: *mut upcall_session,
        base: u64,
        size: u64,
        irq: u32,
        timeout_usec: u64,
        result: *mut c_int,
    ) -> c_int;
    pub fn upcall_devmgr_mem_add_sync(
        session: *mut upcall_session,
        addr: u64,
        size: u64,
        node: u32,
        flags: u32,
        timeout_usec: u64,
        result: *mut c_int,
    ) -> c_int;
    pub fn upcall_devmgr_mem_del_sync(
        session: *mut upcall_session,
        addr: u64,
        size: u64,
        timeout_usec: u64,
        result: *mut c_int,
    ) -> c_int;
    pub fn upcall_devmgr_pci_add_sync(
        session: *mut upcall_session,
        bus: u8,
        devfn: u8,
        timeout_usec: u64,
        result: *mut c_int,
    ) -> c_int;
    pub fn upcall_devmgr_pci_del_sync(
        session: *mut upcall_session,
        bus: u8,
        devfn: u8,
        timeout_usec: u64,
        result: *mut c_int,
    ) -> c_int;
    pub fn upcall_devmgr_get_info_sync(
        session: *mut upcall_session,
        timeout_usec: u64,
        result: *mut c_int,
        info: *mut upcall_info,
    ) -> c_int;
}

// --------------------------------------------------------------- wire.h

/// Default vsock port of the guest server (0xDB).
pub const UPCALL_DEFAULT_PORT: u32 = 219;
/// Service byte selecting the device-manager service.
pub const UPCALL_SERVICE_DEVMGR: u8 = b'd';
/// Every device-manager message, both directions, is exactly this long.
pub const UPCALL_MSG_SIZE: usize = 1024;
/// 'D' 'M', protocol version 1.0.
pub const UPCALL_MAGIC_VERSION: u32 = 0x444D_0100;

/// `enum upcall_msg_type`: device-manager message types.
pub type upcall_msg_type = u32;
pub const UPCALL_MSG_CONNECT: upcall_msg_type = 0;
pub const UPCALL_MSG_ADD_CPU: upcall_msg_type = 1;
pub const UPCALL_MSG_DEL_CPU: upcall_msg_type = 2;
/// Extension (reserved by Dragonball).
pub const UPCALL_MSG_ADD_MEM: upcall_msg_type = 3;
/// Extension (reserved by Dragonball).
pub const UPCALL_MSG_DEL_MEM: upcall_msg_type = 4;
pub const UPCALL_MSG_ADD_MMIO: upcall_msg_type = 5;
pub const UPCALL_MSG_DEL_MMIO: upcall_msg_type = 6;
pub const UPCALL_MSG_ADD_PCI: upcall_msg_type = 7;
pub const UPCALL_MSG_DEL_PCI: upcall_msg_type = 8;
/// Extension: capability query.
pub const UPCALL_MSG_GET_INFO: upcall_msg_type = 0x100;

/// Maximum number of vCPUs in one x86_64 CPU request.
pub const UPCALL_CPU_MAX_COUNT: u32 = 255;
/// APIC version Dragonball sends for new x86_64 vCPUs.
pub const UPCALL_APIC_VERSION_DEFAULT: u8 = 0x14;
/// Memory request flag: online the range as movable.
pub const UPCALL_MEM_F_MOVABLE: u32 = 0x1;
/// Protocol version reported by GET_INFO: major << 8 | minor.
pub const UPCALL_INFO_VERSION: u32 = 0x0102;

/// `enum upcall_mem_policy` (GET_INFO).
pub type upcall_mem_policy = u32;
pub const UPCALL_MEM_POLICY_OFFLINE: upcall_mem_policy = 0;
pub const UPCALL_MEM_POLICY_ONLINE: upcall_mem_policy = 1;
pub const UPCALL_MEM_POLICY_ONLINE_KERNEL: upcall_mem_policy = 2;
pub const UPCALL_MEM_POLICY_ONLINE_MOVABLE: upcall_mem_policy = 3;
pub const UPCALL_MEM_POLICY_UNKNOWN: upcall_mem_policy = 0xffff_ffff;

/// `enum upcall_cpu_mode` (GET_INFO from info version 0x0101 on): which
/// vCPUs ADD_CPU can bring online, and so what the VMM must do first.
pub type upcall_cpu_mode = u32;
/// Not reported: a guest before info version 0x0101.
pub const UPCALL_CPU_MODE_UNKNOWN: upcall_cpu_mode = 0;
/// No CPU operations (ADD_CPU and DEL_CPU answer -EOPNOTSUPP).
pub const UPCALL_CPU_MODE_NONE: upcall_cpu_mode = 1;
/// True hot-add: the VMM creates a vCPU, then ADD_CPU maps and onlines it;
/// DEL_CPU offlines and unmaps it before the VMM destroys the vCPU.
pub const UPCALL_CPU_MODE_HOTADD: upcall_cpu_mode = 2;
/// Parked vCPUs: the VMM creates every vCPU at boot and boots the guest
/// with `maxcpus=`; ADD_CPU onlines present vCPUs, DEL_CPU offlines them.
pub const UPCALL_CPU_MODE_PARKED: upcall_cpu_mode = 3;

/// `enum upcall_guest_arch` (GET_INFO from info version 0x0102 on): the
/// guest's wire format; the values are `UPCALL_ARCH_*`'s.
pub type upcall_guest_arch = u32;
/// Not reported: a guest before info version 0x0102.
pub const UPCALL_GUEST_ARCH_UNKNOWN: upcall_guest_arch = 0;
/// x86_64: CPU requests carry APIC ids.
pub const UPCALL_GUEST_ARCH_X86_64: upcall_guest_arch = 1;
/// aarch64: CPU requests carry a count.
pub const UPCALL_GUEST_ARCH_AARCH64: upcall_guest_arch = 2;

/// Linux errno values libupcall returns (the asm-generic numbering, which
/// x86, arm, arm64, riscv, powerpc, s390 and loongarch share; libupcall is
/// Linux-only).  Declared here because this crate depends on no `libc`.
pub mod errno {
    use super::c_int;
    pub const EPERM: c_int = 1;
    pub const ESRCH: c_int = 3;
    pub const EINTR: c_int = 4;
    pub const EAGAIN: c_int = 11;
    pub const ENOMEM: c_int = 12;
    pub const EBUSY: c_int = 16;
    pub const EEXIST: c_int = 17;
    pub const ENODEV: c_int = 19;
    pub const EINVAL: c_int = 22;
    pub const EDEADLK: c_int = 35;
    pub const ENAMETOOLONG: c_int = 36;
    pub const ENODATA: c_int = 61;
    pub const EPROTO: c_int = 71;
    pub const EOPNOTSUPP: c_int = 95;
    pub const ECONNRESET: c_int = 104;
    pub const ENOTCONN: c_int = 107;
    pub const ESHUTDOWN: c_int = 108;
    pub const ETIMEDOUT: c_int = 110;
    pub const ECONNREFUSED: c_int = 111;
    pub const EALREADY: c_int = 114;
    pub const ECANCELED: c_int = 125;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::mem::{align_of, size_of};

    #[test]
    fn info_layout() {
        assert_eq!(size_of::<upcall_info>(), 64);
        assert_eq!(align_of::<upcall_info>(), 8);
        let i = upcall_info::default();
        let base = &i as *const _ as usize;
        assert_eq!(&i.mem_block_size as *const _ as usize - base, 8);
        assert_eq!(&i.cpus_possible as *const _ as usize - base, 16);
        assert_eq!(&i.mem_policy as *const _ as usize - base, 28);
        assert_eq!(&i.cpu_mode as *const _ as usize - base, 32);
        assert_eq!(&i.arch as *const _ as usize - base, 36);
        assert_eq!(&i.reserved as *const _ as usize - base, 40);
    }

    #[test]
    fn guest_arch_is_upcall_arch() {
        assert_eq!(UPCALL_GUEST_ARCH_X86_64, UPCALL_ARCH_X86_64 as u32);
        assert_eq!(UPCALL_GUEST_ARCH_AARCH64, UPCALL_ARCH_AARCH64 as u32);
    }

    #[test]
    fn version_matches_headers() {
        let v = unsafe { CStr::from_ptr(upcall_version()) };
        let v = v.to_str().unwrap();
        let major: u32 = v.split('.').next().unwrap().parse().unwrap();
        assert_eq!(major, UPCALL_VERSION_MAJOR, "libupcall {}", v);
    }

    /// The library names each errno: proof that these numbers are the
    /// target's.
    #[test]
    fn errno_values_are_the_targets() {
        use errno::*;
        let all = [
            (EPERM, "EPERM"),
            (ESRCH, "ESRCH"),
            (EINTR, "EINTR"),
            (EAGAIN, "EAGAIN"),
            (ENOMEM, "ENOMEM"),
            (EBUSY, "EBUSY"),
            (EEXIST, "EEXIST"),
            (ENODEV, "ENODEV"),
            (EINVAL, "EINVAL"),
            (EDEADLK, "EDEADLK"),
            (ENAMETOOLONG, "ENAMETOOLONG"),
            (ENODATA, "ENODATA"),
            (EPROTO, "EPROTO"),
            (EOPNOTSUPP, "EOPNOTSUPP"),
            (ECONNRESET, "ECONNRESET"),
            (ENOTCONN, "ENOTCONN"),
            (ESHUTDOWN, "ESHUTDOWN"),
            (ETIMEDOUT, "ETIMEDOUT"),
            (ECONNREFUSED, "ECONNREFUSED"),
            (EALREADY, "EALREADY"),
            (ECANCELED, "ECANCELED"),
        ];
        for &(num, name) in all.iter() {
            let p = unsafe { upcall_errno_name(-num) };
            assert!(!p.is_null(), "{} has no name", num);
            let got = unsafe { CStr::from_ptr(p) }.to_str().unwrap();
            assert_eq!(got, name);
        }
    }

    #[test]
    fn ctx_roundtrip() {
        let mut ctx = std::ptr::null_mut();
        assert_eq!(unsafe { upcall_ctx_new(&mut ctx) }, 0);
        assert!(unsafe { upcall_ctx_get_fd(ctx) } >= 0);
        assert!(unsafe { upcall_ctx_unref(ctx) }.is_null());
        assert_eq!(
            unsafe { upcall_ctx_new(std::ptr::null_mut()) },
            -errno::EINVAL
        );
    }
}
