// SPDX-License-Identifier: MIT
//! Synchronous calls against the fake guest: connect, every request type,
//! guest errors, transport errors, timeouts.

mod common;

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use common::{connect, FakeGuest};
use upcall::{errno, msg, Arch, Context, Cpus, ErrorKind, Op, State};

#[test]
fn connect_and_state() {
    let fg = FakeGuest::start(&[]);
    let ctx = Context::new().unwrap();
    let s = ctx.session().unwrap();
    assert_eq!(s.state().unwrap(), State::Idle);
    s.set_arch(Arch::X86_64).unwrap();
    assert_eq!(s.arch().unwrap(), Arch::X86_64);
    s.set_connect_timeout(Duration::from_secs(2)).unwrap();
    s.set_apic_version(0x14).unwrap();
    // AF_VSOCK only: a hybrid-vsock session ignores it.
    s.set_privileged_port(true).unwrap();
    s.set_port(219).unwrap();
    s.open_unix(&fg.path).unwrap();
    s.wait_ready(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(s.state().unwrap(), State::Ready);
    // Options fixed at open are refused now.
    assert_eq!(s.set_arch(Arch::Aarch64).unwrap_err().errno(), errno::EBUSY);
    assert_eq!(s.set_privileged_port(false).unwrap_err().errno(), errno::EBUSY);
    assert_eq!(s.open_unix(&fg.path).unwrap_err().errno(), errno::EBUSY);
    assert!(format!("{:?}", s).contains("Ready"));
    s.close().unwrap();
    s.close().unwrap();
    assert_eq!(s.state().unwrap(), State::Closed);
    let e = s.pci_add(0, 8).unwrap_err();
    assert_eq!(
        (e.errno(), e.kind()),
        (errno::ENOTCONN, ErrorKind::Transport)
    );
    let c = fg.finish();
    assert_eq!((c.connections, c.violations), (1, 0));
}

#[test]
fn every_request_type_x86_64() {
    let fg = FakeGuest::start(&[]);
    let (_ctx, s) = connect(&fg);
    assert_eq!(s.cpu_add(Cpus::ApicIds(&[1, 2, 3])).unwrap(), 3);
    assert_eq!(s.cpu_del(Cpus::ApicIds(&[3])).unwrap(), 1);
    s.mmio_add(0xd000_0000, 0x1000, 5).unwrap();
    s.mmio_del(0xd000_0000, 0x1000, 5).unwrap();
    s.mem_add(0x1_0000_0000, 128 << 20, 0, upcall::MEM_F_MOVABLE)
        .unwrap();
    s.mem_del(0x1_0000_0000, 128 << 20).unwrap();
    s.pci_add(1, 0).unwrap();
    s.pci_del(1, 0).unwrap();
    let info = s.get_info().unwrap();
    assert_eq!(info.version, upcall::sys::UPCALL_INFO_VERSION);
    for t in &[
        msg::ADD_CPU,
        msg::DEL_CPU,
        msg::ADD_MEM,
        msg::DEL_MEM,
        msg::ADD_MMIO,
        msg::DEL_MMIO,
        msg::ADD_PCI,
        msg::DEL_PCI,
    ] {
        assert!(info.serves(*t), "type {} not served: {:?}", t, info);
    }
    assert_eq!(info.mem_block_size, 128 << 20);
    assert_eq!(info.mem_policy, upcall::MEM_POLICY_ONLINE_MOVABLE);
    assert_eq!(info.cpu_mode, upcall::CPU_MODE_HOTADD);
    assert_eq!(info.arch, upcall::GUEST_ARCH_X86_64);
    assert_eq!(info.session_arch(), Some(Arch::X86_64));

    // The generic form, with a per-call timeout.
    let r = s
        .call(
            Op::PciAdd { bus: 0, devfn: 8 },
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    assert_eq!(
        (r.msg_type, r.cpu_index, r.info),
        (msg::ADD_PCI, None, None)
    );
    let r = s.call(Op::CpuAdd(Cpus::ApicIds(&[7])), None).unwrap();
    assert_eq!((r.msg_type, r.cpu_index), (msg::ADD_CPU, Some(1)));
    let c = fg.finish();
    assert_eq!((c.requests, c.violations), (11, 0));
}

#[test]
fn every_request_type_aarch64() {
    let fg = FakeGuest::start(&[]);
    let ctx = Context::new().unwrap();
    let s = ctx.session().unwrap();
    s.set_arch(Arch::Aarch64).unwrap();
    s.open_unix(&fg.path).unwrap();
    s.wait_ready(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(s.cpu_add(Cpus::Count(2)).unwrap(), 2);
    assert_eq!(s.cpu_del(Cpus::Count(1)).unwrap(), 1);
    // APIC ids mean nothing to an aarch64 guest: refused before sending.
    let e = s.cpu_add(Cpus::ApicIds(&[1])).unwrap_err();
    assert_eq!((e.errno(), e.kind()), (errno::EINVAL, ErrorKind::Transport));
    s.mmio_add(0x0a00_0000, 0x200, 40).unwrap();
    s.pci_add(0, 8).unwrap();
    s.get_info().unwrap();
    let c = fg.finish();
    assert_eq!((c.requests, c.violations), (5, 0));
}

#[test]
fn bad_arguments_are_refused_locally() {
    let fg = FakeGuest::start(&[]);
    let (_ctx, s) = connect(&fg);
    for op in &[
        Op::CpuAdd(Cpus::ApicIds(&[])),
        Op::CpuAdd(Cpus::Count(3)), // a count for an x86_64 guest
        Op::CpuDel(Cpus::ApicIds(&[0u8; 256])),
        Op::MmioAdd {
            base: 0,
            size: 0,
            irq: 5,
        },
        Op::MmioAdd {
            base: u64::MAX,
            size: 2,
            irq: 5,
        },
        Op::MemAdd {
            addr: 0,
            size: 1 << 27,
            node: 0,
            flags: 0x80,
        },
    ] {
        let e = s.call(*op, None).unwrap_err();
        assert_eq!(
            (e.errno(), e.kind()),
            (errno::EINVAL, ErrorKind::Transport),
            "{:?}",
            op
        );
    }
    let c = fg.finish();
    assert_eq!((c.requests, c.violations), (0, 0));
}

#[test]
fn guest_error_is_kind_guest() {
    let fg = FakeGuest::start(&["--result", "-22"]);
    let (_ctx, s) = connect(&fg);
    let e = s.pci_add(0, 8).unwrap_err();
    assert_eq!(e.errno(), 22);
    assert_eq!(e.kind(), ErrorKind::Guest);
    assert!(e.is_guest());
    assert_eq!(e.name(), Some("EINVAL"));
    assert_eq!(e.to_string(), "guest refused: Invalid argument (EINVAL)");
    let io: std::io::Error = e.into();
    assert_eq!(io.raw_os_error(), Some(22));
    for op in &[
        Op::CpuAdd(Cpus::ApicIds(&[1])),
        Op::CpuDel(Cpus::ApicIds(&[1])),
        Op::MmioAdd {
            base: 0x1000,
            size: 0x1000,
            irq: 5,
        },
        Op::MmioDel {
            base: 0x1000,
            size: 0x1000,
            irq: 5,
        },
        Op::MemAdd {
            addr: 0,
            size: 1 << 27,
            node: 0,
            flags: 0,
        },
        Op::MemDel {
            addr: 0,
            size: 1 << 27,
        },
        Op::PciDel { bus: 0, devfn: 8 },
        Op::GetInfo,
    ] {
        let e = s.call(*op, None).unwrap_err();
        assert_eq!((e.errno(), e.kind()), (22, ErrorKind::Guest), "{:?}", op);
    }
    // The session survives guest errors.
    assert_eq!(s.state().unwrap(), State::Ready);
    assert_eq!(fg.finish().violations, 0);
}

#[test]
fn partial_cpu_failure_reports_the_index() {
    let fg = FakeGuest::start(&["--result", "-16", "--index", "1"]);
    let (_ctx, s) = connect(&fg);
    let e = s.cpu_add(Cpus::ApicIds(&[1, 2, 3])).unwrap_err();
    assert_eq!(
        (e.errno(), e.kind(), e.cpu_index()),
        (errno::EBUSY, ErrorKind::Guest, Some(1))
    );
    assert!(e.to_string().ends_with("at CPU index 1"), "{}", e);
}

#[test]
fn get_info_cpu_mode() {
    for (args, version, mode) in [
        (&["--cpu-mode", "none"][..], 0x102, upcall::CPU_MODE_NONE),
        (
            &["--cpu-mode", "parked"][..],
            0x102,
            upcall::CPU_MODE_PARKED,
        ),
        (&["--cpu-mode", "7"][..], 0x102, 7),
        // A guest of info version 1.0 has 0 there: it does not say.
        (
            &["--info-version", "0x0100", "--cpu-mode", "0"][..],
            0x100,
            upcall::CPU_MODE_UNKNOWN,
        ),
    ] {
        let fg = FakeGuest::start(args);
        let (_ctx, s) = connect(&fg);
        let info = s.get_info().unwrap();
        assert_eq!((info.version, info.cpu_mode), (version, mode), "{:?}", args);
    }
}

#[test]
fn get_info_arch() {
    for (args, version, arch, session_arch) in [
        (
            &["--arch", "x86_64"][..],
            0x102,
            upcall::GUEST_ARCH_X86_64,
            Some(Arch::X86_64),
        ),
        (
            &["--arch", "aarch64"][..],
            0x102,
            upcall::GUEST_ARCH_AARCH64,
            Some(Arch::Aarch64),
        ),
        (&["--arch", "9"][..], 0x102, 9, None),
        // A guest of info version 1.1 has 0 there: it does not say.
        (
            &["--info-version", "0x0101", "--arch", "0"][..],
            0x101,
            upcall::GUEST_ARCH_UNKNOWN,
            None,
        ),
    ] {
        let fg = FakeGuest::start(args);
        let (_ctx, s) = connect(&fg);
        let info = s.get_info().unwrap();
        assert_eq!((info.version, info.arch), (version, arch), "{:?}", args);
        assert_eq!(info.session_arch(), session_arch, "{:?}", args);
        // The session keeps the arch it was given: the caller decides.
        assert_eq!(s.arch().unwrap(), Arch::X86_64);
    }
}

#[test]
fn get_info_arch_opens_a_session() {
    let fg = FakeGuest::start(&["--arch", "aarch64"]);
    let (ctx, s) = connect(&fg);
    let arch = s.get_info().unwrap().session_arch().unwrap();
    let s = ctx.session().unwrap();
    s.set_arch(arch).unwrap();
    s.open_unix(&fg.path).unwrap();
    s.wait_ready(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(s.arch().unwrap(), Arch::Aarch64);
    assert_eq!(s.cpu_add(Cpus::Count(2)).unwrap(), 2);
}

#[test]
fn guest_without_get_info() {
    let fg = FakeGuest::start(&["--no-info"]);
    let (_ctx, s) = connect(&fg);
    let e = s.get_info().unwrap_err();
    assert_eq!((e.errno(), e.kind()), (errno::EOPNOTSUPP, ErrorKind::Guest));
    // Everything else still works.
    s.pci_add(0, 8).unwrap();
}

#[test]
fn timeout_of_a_silent_guest() {
    let fg = FakeGuest::start(&["--behavior", "silent"]);
    let (_ctx, s) = connect(&fg);
    s.set_request_timeout(Some(Duration::from_millis(150)))
        .unwrap();
    let t = Instant::now();
    let e = s.cpu_add(Cpus::ApicIds(&[1])).unwrap_err();
    assert_eq!(
        (e.errno(), e.kind()),
        (errno::ETIMEDOUT, ErrorKind::Transport)
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(140) && took < Duration::from_secs(5),
        "{:?}",
        took
    );

    // A per-call timeout overrides the session's.
    s.set_request_timeout(None).unwrap();
    s.wait_ready(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let e = s
        .call(Op::GetInfo, Some(Duration::from_millis(50)))
        .unwrap_err();
    assert_eq!(e.errno(), errno::ETIMEDOUT);
    assert!(t.elapsed() < Duration::from_secs(5));
}

#[test]
fn protocol_breakers_are_transport_errors() {
    for &(behavior, err) in &[
        ("garbage", errno::EPROTO),
        ("bad-magic", errno::EPROTO),
        ("wrong-type", errno::EPROTO),
        ("big-size", errno::EPROTO),
        ("eof-mid-reply", errno::ECONNRESET),
    ] {
        let fg = FakeGuest::start(&["--behavior", behavior]);
        let (_ctx, s) = connect(&fg);
        let e = s.pci_add(0, 8).unwrap_err();
        assert_eq!(
            (e.errno(), e.kind()),
            (err, ErrorKind::Transport),
            "{}",
            behavior
        );
    }
}

#[test]
fn pieces_are_reassembled() {
    let fg = FakeGuest::start(&["--behavior", "pieces"]);
    let (_ctx, s) = connect(&fg);
    assert_eq!(s.cpu_add(Cpus::ApicIds(&[4, 5])).unwrap(), 2);
    assert_eq!(
        s.get_info().unwrap().version,
        upcall::sys::UPCALL_INFO_VERSION
    );
}

#[test]
fn refused_connection_closes_without_reconnect() {
    let fg = FakeGuest::start(&["--behavior", "refuse"]);
    let ctx = Context::new().unwrap();
    let s = ctx.session().unwrap();
    s.set_reconnect(false, Duration::from_millis(10), Duration::from_millis(10))
        .unwrap();
    s.set_connect_timeout(Duration::from_millis(200)).unwrap();
    // Either refused at once or while waiting.
    let e = s
        .open_unix(&fg.path)
        .and_then(|_| s.wait_ready(Some(Duration::from_secs(5))))
        .unwrap_err();
    assert_eq!(
        (e.errno(), e.kind()),
        (errno::ECONNREFUSED, ErrorKind::Transport)
    );
    assert_eq!(s.state().unwrap(), State::Closed);
}

#[test]
fn open_on_a_connected_fd() {
    let fg = FakeGuest::start(&["--plain"]);
    let ctx = Context::new().unwrap();
    let s = ctx.session().unwrap();
    s.set_arch(Arch::X86_64).unwrap();
    s.open_fd(UnixStream::connect(&fg.path).unwrap()).unwrap();
    s.wait_ready(Some(Duration::from_secs(10))).unwrap();
    assert_eq!(s.cpu_add(Cpus::ApicIds(&[9])).unwrap(), 1);
    // A second open is refused, and that fd is closed, not leaked.
    let e = s
        .open_fd(UnixStream::connect(&fg.path).unwrap())
        .unwrap_err();
    assert_eq!(e.errno(), errno::EBUSY);
}

#[test]
fn open_unix_rejects_bad_paths() {
    let ctx = Context::new().unwrap();
    let s = ctx.session().unwrap();
    assert_eq!(s.open_unix("a\0b").unwrap_err().errno(), errno::EINVAL);
    let long = "x".repeat(200);
    assert_eq!(s.open_unix(&long).unwrap_err().errno(), errno::ENAMETOOLONG);
    // Not opened: the sync calls say so.
    assert_eq!(s.pci_add(0, 8).unwrap_err().errno(), errno::ENOTCONN);
}
