// SPDX-License-Identifier: MIT
//! Safe Rust binding of libupcall: a VMM hot-plugs vCPUs, memory and
//! devices into a guest over the upcall protocol.
//!
//! Three handles, each a reference on the C object it wraps:
//!
//! * [`Context`]: one pollable fd for any number of sessions.  Drive it
//!   with a library thread ([`Context::start_thread`]), from your event
//!   loop ([`AsRawFd`](std::os::unix::io::AsRawFd), [`Context::timeout`],
//!   [`Context::process`]), or let the blocking calls drive it.
//! * [`Session`]: one guest; reconnects on its own.
//! * [`Request`]: one submitted operation; dropping it before it completes
//!   cancels it.
//!
//! Errors are [`Error`]: a positive errno, and whether the guest refused
//! ([`ErrorKind::Guest`]) or there was no answer ([`ErrorKind::Transport`]).
//!
//! ```no_run
//! use std::time::Duration;
//! use upcall::{Context, Cpus};
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let ctx = Context::new()?;
//!     let session = ctx.session()?;
//!     session.set_request_timeout(Some(Duration::from_secs(10)))?;
//!     session.open_unix("/run/vm/vsock.sock")?;
//!     session.wait_ready(Some(Duration::from_secs(5)))?;
//!     let done = session.cpu_add(Cpus::ApicIds(&[1, 2]))?;
//!     println!("{} vCPUs added", done);
//!     Ok(())
//! }
//! ```

#![warn(missing_docs)]

mod context;
mod error;
mod request;
mod session;

use std::time::Duration;

pub use upcall_sys as sys;

pub use crate::context::Context;
pub use crate::error::{Error, ErrorKind, Result};
pub use crate::request::{Info, Reply, Request};
pub use crate::session::{Arch, Cpus, Op, Session, State};

/// The errno values libupcall reports (Linux numbering).
pub use upcall_sys::errno;

/// Device-manager message types, as in [`Reply::msg_type`] and
/// [`Info::serves`].
pub mod msg {
    use upcall_sys as sys;
    /// Hot-add vCPUs.
    pub const ADD_CPU: u32 = sys::UPCALL_MSG_ADD_CPU;
    /// Hot-remove vCPUs.
    pub const DEL_CPU: u32 = sys::UPCALL_MSG_DEL_CPU;
    /// Add memory (extension).
    pub const ADD_MEM: u32 = sys::UPCALL_MSG_ADD_MEM;
    /// Remove memory (extension).
    pub const DEL_MEM: u32 = sys::UPCALL_MSG_DEL_MEM;
    /// Add a virtio-mmio device.
    pub const ADD_MMIO: u32 = sys::UPCALL_MSG_ADD_MMIO;
    /// Remove a virtio-mmio device.
    pub const DEL_MMIO: u32 = sys::UPCALL_MSG_DEL_MMIO;
    /// Add a PCI device.
    pub const ADD_PCI: u32 = sys::UPCALL_MSG_ADD_PCI;
    /// Remove a PCI device.
    pub const DEL_PCI: u32 = sys::UPCALL_MSG_DEL_PCI;
    /// Capability query (extension).
    pub const GET_INFO: u32 = sys::UPCALL_MSG_GET_INFO;
}

/// Memory request flag: online the range as movable.
pub const MEM_F_MOVABLE: u32 = sys::UPCALL_MEM_F_MOVABLE;
/// Memory policy of [`Info::mem_policy`]: added memory stays offline.
pub const MEM_POLICY_OFFLINE: u32 = sys::UPCALL_MEM_POLICY_OFFLINE;
/// Memory policy: onlined.
pub const MEM_POLICY_ONLINE: u32 = sys::UPCALL_MEM_POLICY_ONLINE;
/// Memory policy: onlined to the kernel zone.
pub const MEM_POLICY_ONLINE_KERNEL: u32 = sys::UPCALL_MEM_POLICY_ONLINE_KERNEL;
/// Memory policy: onlined movable.
pub const MEM_POLICY_ONLINE_MOVABLE: u32 = sys::UPCALL_MEM_POLICY_ONLINE_MOVABLE;
/// Memory policy: the guest cannot tell.
pub const MEM_POLICY_UNKNOWN: u32 = sys::UPCALL_MEM_POLICY_UNKNOWN;
/// vCPU mode of [`Info::cpu_mode`]: not reported (a guest before info
/// version 0x0101).
pub const CPU_MODE_UNKNOWN: u32 = sys::UPCALL_CPU_MODE_UNKNOWN;
/// vCPU mode: no CPU operations (they fail with `EOPNOTSUPP`).
pub const CPU_MODE_NONE: u32 = sys::UPCALL_CPU_MODE_NONE;
/// vCPU mode: true hot-add; the VMM creates a vCPU, then `cpu_add` onlines
/// it, and `cpu_del` offlines it before the VMM destroys it.
pub const CPU_MODE_HOTADD: u32 = sys::UPCALL_CPU_MODE_HOTADD;
/// vCPU mode: parked vCPUs; the VMM creates every vCPU at boot and boots
/// the guest with `maxcpus=`, `cpu_add` onlines present vCPUs and `cpu_del`
/// offlines them (they stay present).
pub const CPU_MODE_PARKED: u32 = sys::UPCALL_CPU_MODE_PARKED;
/// Guest architecture of [`Info::arch`]: not reported (a guest before info
/// version 0x0102).
pub const GUEST_ARCH_UNKNOWN: u32 = sys::UPCALL_GUEST_ARCH_UNKNOWN;
/// Guest architecture: x86_64, CPU requests carry APIC ids
/// ([`Arch::X86_64`]).
pub const GUEST_ARCH_X86_64: u32 = sys::UPCALL_GUEST_ARCH_X86_64;
/// Guest architecture: aarch64, CPU requests carry a count
/// ([`Arch::Aarch64`]).
pub const GUEST_ARCH_AARCH64: u32 = sys::UPCALL_GUEST_ARCH_AARCH64;

/// The version of the libupcall in use, e.g. `"1.0.0"`.
pub fn version() -> &'static str {
    // SAFETY: a static string.
    unsafe { error::static_str(sys::upcall_version()) }.unwrap_or("")
}

/// Microseconds, saturating below `u64::MAX` (which means "never").
pub(crate) fn usec(d: Duration) -> u64 {
    let us = d.as_micros();
    if us >= u64::MAX as u128 {
        u64::MAX - 1
    } else {
        us as u64
    }
}

/// Microseconds, `None` as libupcall's "never" (`u64::MAX`).
pub(crate) fn usec_or_forever(d: Option<Duration>) -> u64 {
    d.map_or(u64::MAX, usec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(usec(Duration::from_millis(3)), 3000);
        assert_eq!(usec(Duration::from_secs(u64::MAX)), u64::MAX - 1);
        assert_eq!(usec_or_forever(None), u64::MAX);
    }

    #[test]
    fn version_is_1() {
        assert!(version().starts_with("1."), "{}", version());
    }

    #[test]
    fn error_display_and_io() {
        let e = Error::new(ErrorKind::Guest, -errno::EINVAL);
        assert_eq!(e.errno(), errno::EINVAL);
        assert_eq!(e.name(), Some("EINVAL"));
        assert!(e.to_string().starts_with("guest refused: "), "{}", e);
        assert!(e.to_string().ends_with("(EINVAL)"), "{}", e);
        let t = Error::new(ErrorKind::Transport, errno::ETIMEDOUT);
        assert_eq!(t.to_string(), "Timed out waiting for the guest (ETIMEDOUT)");
        assert_eq!(
            format!("{:?}", t),
            "Error { kind: Transport, errno: ETIMEDOUT (110), cpu_index: None }"
        );
        let io: std::io::Error = t.into();
        assert_eq!(io.raw_os_error(), Some(errno::ETIMEDOUT));
        assert_eq!(io.kind(), std::io::ErrorKind::TimedOut);
    }

    #[test]
    fn info_cpu_mode() {
        let i = Info::from(sys::upcall_info {
            cpu_mode: CPU_MODE_PARKED,
            reserved: [0xffff_ffff; 6],
            ..Default::default()
        });
        assert_eq!(i.cpu_mode, CPU_MODE_PARKED);
        assert_eq!(
            Info::from(sys::upcall_info::default()).cpu_mode,
            CPU_MODE_UNKNOWN
        );
    }

    #[test]
    fn info_arch() {
        let i = Info::from(sys::upcall_info {
            arch: GUEST_ARCH_AARCH64,
            reserved: [0xffff_ffff; 6],
            ..Default::default()
        });
        assert_eq!(i.arch, GUEST_ARCH_AARCH64);
        assert_eq!(i.session_arch(), Some(Arch::Aarch64));
        let i = Info::from(sys::upcall_info {
            arch: GUEST_ARCH_X86_64,
            ..Default::default()
        });
        assert_eq!(i.session_arch(), Some(Arch::X86_64));
        // A guest before info version 0x0102, and a value of a later one.
        let i = Info::from(sys::upcall_info::default());
        assert_eq!((i.arch, i.session_arch()), (GUEST_ARCH_UNKNOWN, None));
        let i = Info::from(sys::upcall_info {
            arch: 9,
            ..Default::default()
        });
        assert_eq!((i.arch, i.session_arch()), (9, None));
    }

    #[test]
    fn info_serves() {
        let i = Info::from(sys::upcall_info {
            ops: 0b1_1110,
            ..Default::default()
        });
        assert!(i.serves(msg::ADD_CPU) && i.serves(msg::DEL_MEM));
        assert!(!i.serves(msg::ADD_MMIO) && !i.serves(msg::GET_INFO));
    }

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn handles_are_send_and_sync() {
        assert_send_sync::<Context>();
        assert_send_sync::<Session>();
        assert_send_sync::<Request>();
        assert_send_sync::<Error>();
    }
}
