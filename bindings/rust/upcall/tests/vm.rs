// SPDX-License-Identifier: MIT
//! Against the VM test bed (tests/vm/), where one is up: set
//! `UPCALL_VM_SOCKET` to the hybrid-vsock socket of a guest booted with
//! `tests/vm/boot-guest SOCKET` (guest/upcall.ko loaded), and run them with
//! `cargo test --test vm -- --include-ignored` (`make check-vm` here does).
//! They are ignored otherwise: the fake guest covers the rest.
//!
//! Its capabilities, the refusals the protocol defines, and one real vCPU
//! hot-add and removal (APIC id 3, created with QMP first, as
//! tests/vm/check-cpu does with ids 1 and 2), checked inside the guest.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use upcall::{errno, msg, Arch, Context, Cpus, ErrorKind, Op, Session};

const WHY: &str = "needs the VM test bed: UPCALL_VM_SOCKET=PATH, --include-ignored";

fn guest() -> (Context, Session) {
    let path = std::env::var_os("UPCALL_VM_SOCKET").expect(WHY);
    let ctx = Context::new().unwrap();
    let s = ctx.session().unwrap();
    s.set_arch(Arch::X86_64).unwrap();
    s.set_request_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    s.open_unix(&path).unwrap();
    s.wait_ready(Some(Duration::from_secs(30))).unwrap();
    (ctx, s)
}

#[test]
#[ignore = "needs the VM test bed (UPCALL_VM_SOCKET)"]
fn vm_get_info() {
    let (_ctx, s) = guest();
    let info = s.get_info().unwrap();
    eprintln!("guest: {:?}", info);
    assert_eq!(info.version >> 8, 1);
    // The bed boots x86_64 guests.
    assert_eq!(info.arch, upcall::GUEST_ARCH_X86_64, "{:?}", info);
    assert!(info.serves(msg::ADD_CPU) && info.serves(msg::DEL_CPU));
    assert!(info.cpus_online >= 1 && info.cpus_online <= info.cpus_possible);
    // The module hot-adds where the kernel lets it, else it parks.
    assert!(
        info.cpu_mode == upcall::CPU_MODE_HOTADD || info.cpu_mode == upcall::CPU_MODE_PARKED,
        "{:?}",
        info
    );
}

#[test]
#[ignore = "needs the VM test bed (UPCALL_VM_SOCKET)"]
fn vm_refusals_are_guest_errors() {
    let (ctx, s) = guest();
    // APIC id 0 is the boot CPU: in use.
    let e = s.cpu_add(Cpus::ApicIds(&[0])).unwrap_err();
    assert_eq!(
        (e.errno(), e.kind()),
        (errno::EINVAL, ErrorKind::Guest),
        "{}",
        e
    );
    // CPU 0 cannot be removed.
    let e = s.cpu_del(Cpus::ApicIds(&[0])).unwrap_err();
    assert_eq!(
        (e.errno(), e.kind()),
        (errno::EINVAL, ErrorKind::Guest),
        "{}",
        e
    );
    // The same, asynchronously, on the library thread.
    ctx.start_thread().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let req = s
        .submit_with(Op::CpuDel(Cpus::ApicIds(&[0])), move |r| {
            let _ = tx.send(r.map_err(|e| (e.errno(), e.kind())).map(drop));
        })
        .unwrap();
    let got = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(got, Err((errno::EINVAL, ErrorKind::Guest)));
    drop(req);
    // The session is still fine.
    s.get_info().unwrap();
}

/// One QMP command on SOCKET.qmp; the reply line ("return" or "error").
fn qmp(sock: &str, command: &str) -> String {
    let stream = UnixStream::connect(format!("{}.qmp", sock)).expect("QMP socket");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    let reply = |r: &mut BufReader<UnixStream>| loop {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "QMP closed");
        if line.contains("\"return\"") || line.contains("\"error\"") {
            return line;
        }
    };
    let mut greeting = String::new();
    r.read_line(&mut greeting).unwrap();
    w.write_all(b"{\"execute\":\"qmp_capabilities\"}\n")
        .unwrap();
    reply(&mut r);
    w.write_all(command.as_bytes()).unwrap();
    w.write_all(b"\n").unwrap();
    reply(&mut r)
}

/// `cat /sys/devices/system/cpu/online` in the guest.
fn guest_online(sock: &str) -> String {
    let exec = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../tests/vm/guest-exec");
    let out = Command::new(exec)
        .args([
            "-t",
            "60",
            sock,
            "--",
            "cat",
            "/sys/devices/system/cpu/online",
        ])
        .output()
        .expect("tests/vm/guest-exec");
    assert!(out.status.success(), "guest-exec: {:?}", out);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
#[ignore = "needs the VM test bed (UPCALL_VM_SOCKET)"]
fn vm_cpu_hotplug_round_trip() {
    let (_ctx, s) = guest();
    let sock = std::env::var("UPCALL_VM_SOCKET").unwrap();
    // The test bed says how its VMM makes vCPUs (SOCKET.run/vcpus): created
    // now with QMP, and the guest does not see it until asked ("hotplug"),
    // or four since boot ("boot": parked vCPUs, and hot-add on a kernel
    // that under TCG counts no vCPU absent at boot).
    let vcpus = std::fs::read_to_string(format!("{}.run/vcpus", sock)).unwrap_or_default();
    if vcpus.trim() == "hotplug" {
        let r = qmp(
            &sock,
            r#"{"execute":"device_add","arguments":{"driver":"max-x86_64-cpu","id":"rs-cpu3","socket-id":0,"core-id":3,"thread-id":0}}"#,
        );
        // "Duplicate device ID": a run before this one made it.
        assert!(
            r.contains("return") || r.contains("Duplicate"),
            "QMP: {}",
            r
        );
    }
    // Logical CPU numbers, not APIC ids: the new one is the next free.
    let before = guest_online(&sock);
    assert_eq!(s.cpu_add(Cpus::ApicIds(&[3])).unwrap(), 1);
    let during = guest_online(&sock);
    assert_ne!(during, before);
    // Added already: the guest refuses before acting.
    let e = s.cpu_add(Cpus::ApicIds(&[3])).unwrap_err();
    assert_eq!(
        (e.errno(), e.kind()),
        (errno::EINVAL, ErrorKind::Guest),
        "{}",
        e
    );
    assert_eq!(s.cpu_del(Cpus::ApicIds(&[3])).unwrap(), 1);
    assert_eq!(guest_online(&sock), before);
}
