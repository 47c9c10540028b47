// SPDX-License-Identifier: MIT
//! The asynchronous API: callbacks, request handles, cancellation, the
//! closure's lifetime, the library thread and event-loop embedding.

mod common;

use std::os::raw::{c_int, c_short, c_ulong};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{connect, counter, eventually, get, DropGuard, FakeGuest};
use upcall::{errno, msg, Cpus, ErrorKind, Op, Reply, Result};

const LONG: Option<Duration> = Some(Duration::from_secs(10));

/// A callback that counts its calls, remembers the outcome and holds a
/// drop-counting guard.
fn tracked(
    calls: &Arc<AtomicUsize>,
    drops: &Arc<AtomicUsize>,
    out: &Arc<Mutex<Option<Result<Reply>>>>,
) -> impl FnOnce(Result<Reply>) + Send + 'static {
    let guard = DropGuard(drops.clone());
    let calls = calls.clone();
    let out = out.clone();
    move |r| {
        let _keep = &guard;
        calls.fetch_add(1, Ordering::SeqCst);
        *out.lock().unwrap() = Some(r);
    }
}

fn slot() -> Arc<Mutex<Option<Result<Reply>>>> {
    Arc::new(Mutex::new(None))
}

#[test]
fn callbacks_for_every_type() {
    let fg = FakeGuest::start(&[]);
    let (ctx, s) = connect(&fg);
    let ops = [
        (Op::CpuAdd(Cpus::ApicIds(&[1, 2])), msg::ADD_CPU),
        (Op::CpuDel(Cpus::ApicIds(&[2])), msg::DEL_CPU),
        (
            Op::MmioAdd {
                base: 0xd000_0000,
                size: 0x1000,
                irq: 5,
            },
            msg::ADD_MMIO,
        ),
        (
            Op::MmioDel {
                base: 0xd000_0000,
                size: 0x1000,
                irq: 5,
            },
            msg::DEL_MMIO,
        ),
        (
            Op::MemAdd {
                addr: 1 << 32,
                size: 1 << 27,
                node: 0,
                flags: 0,
            },
            msg::ADD_MEM,
        ),
        (
            Op::MemDel {
                addr: 1 << 32,
                size: 1 << 27,
            },
            msg::DEL_MEM,
        ),
        (Op::PciAdd { bus: 1, devfn: 0 }, msg::ADD_PCI),
        (Op::PciDel { bus: 1, devfn: 0 }, msg::DEL_PCI),
        (Op::GetInfo, msg::GET_INFO),
    ];
    let (tx, rx) = mpsc::channel();
    let mut reqs = Vec::new();
    for (i, (op, _)) in ops.iter().enumerate() {
        let tx = tx.clone();
        reqs.push(
            s.submit_with(*op, move |r| tx.send((i, r)).unwrap())
                .unwrap(),
        );
    }
    drop(tx);
    ctx.run(LONG).unwrap();
    let got: Vec<(usize, Result<Reply>)> = rx.iter().collect();
    assert_eq!(got.len(), ops.len());
    for (k, (i, r)) in got.into_iter().enumerate() {
        assert_eq!(k, i, "callbacks run in submission order");
        let reply = r.unwrap();
        assert_eq!(reply.msg_type, ops[i].1);
        assert_eq!(reqs[i].msg_type(), ops[i].1);
        assert_eq!(reqs[i].outcome(), Some(Ok(reply)));
    }
    assert_eq!(got_cpu_index(&reqs[0]), Some(2));
    assert!(reqs[8].outcome().unwrap().unwrap().info.is_some());
    drop(reqs);
    assert_eq!(fg.finish().violations, 0);
}

fn got_cpu_index(req: &upcall::Request) -> Option<u32> {
    req.outcome().unwrap().unwrap().cpu_index
}

#[test]
fn guest_error_reaches_the_callback() {
    let fg = FakeGuest::start(&["--result", "-22"]);
    let (ctx, s) = connect(&fg);
    let (calls, drops, out) = (counter(), counter(), slot());
    let req = s
        .submit_with(
            Op::PciAdd { bus: 0, devfn: 8 },
            tracked(&calls, &drops, &out),
        )
        .unwrap();
    req.wait(LONG).unwrap();
    ctx.run(LONG).unwrap();
    let e = out.lock().unwrap().take().unwrap().unwrap_err();
    assert_eq!((e.errno(), e.kind()), (22, ErrorKind::Guest));
    assert_eq!((get(&calls), get(&drops)), (1, 1));
}

#[test]
fn submit_then_wait_without_callback() {
    let fg = FakeGuest::start(&["--delay-ms", "50"]);
    let (_ctx, s) = connect(&fg);
    let req = s.submit(Op::CpuAdd(Cpus::ApicIds(&[1, 2, 3]))).unwrap();
    assert!(!req.is_done());
    assert_eq!(req.outcome(), None);
    req.wait(LONG).unwrap();
    assert!(req.is_done());
    let reply = req.outcome().unwrap().unwrap();
    assert_eq!((reply.msg_type, reply.cpu_index), (msg::ADD_CPU, Some(3)));
    assert_eq!(req.cancel().unwrap_err().errno(), errno::EALREADY);
    assert_eq!(req.set_timeout(None).unwrap_err().errno(), errno::EALREADY);
}

#[test]
fn request_wait_can_time_out_and_request_timeout_can_change() {
    let fg = FakeGuest::start(&["--behavior", "silent"]);
    let (_ctx, s) = connect(&fg);
    let req = s.submit(Op::GetInfo).unwrap();
    let e = req.wait(Some(Duration::from_millis(30))).unwrap_err();
    assert_eq!(e.errno(), errno::ETIMEDOUT);
    assert_eq!(req.outcome(), None, "still pending after the wait ran out");
    req.set_timeout(Some(Duration::from_millis(60))).unwrap();
    req.wait(LONG).unwrap();
    let e = req.outcome().unwrap().unwrap_err();
    assert_eq!(
        (e.errno(), e.kind()),
        (errno::ETIMEDOUT, ErrorKind::Transport)
    );
}

#[test]
fn cancel_calls_back_with_ecanceled() {
    let fg = FakeGuest::start(&["--behavior", "silent"]);
    let (ctx, s) = connect(&fg);
    let (calls, drops, out) = (counter(), counter(), slot());
    // One in flight, one queued behind it.
    let inflight = s
        .submit_with(
            Op::PciAdd { bus: 0, devfn: 8 },
            tracked(&calls, &drops, &out),
        )
        .unwrap();
    let (calls2, drops2, out2) = (counter(), counter(), slot());
    let queued = s
        .submit_with(Op::GetInfo, tracked(&calls2, &drops2, &out2))
        .unwrap();
    ctx.process().unwrap();
    queued.cancel().unwrap();
    inflight.cancel().unwrap();
    ctx.run(LONG).unwrap();
    for (calls, drops, out) in &[(&calls, &drops, &out), (&calls2, &drops2, &out2)] {
        assert_eq!((get(calls), get(drops)), (1, 1));
        let e = out.lock().unwrap().take().unwrap().unwrap_err();
        assert_eq!(
            (e.errno(), e.kind()),
            (errno::ECANCELED, ErrorKind::Transport)
        );
    }
    assert_eq!(
        inflight.outcome().unwrap().unwrap_err().errno(),
        errno::ECANCELED
    );
    assert_eq!(inflight.cancel().unwrap_err().errno(), errno::EALREADY);
    drop((inflight, queued));
    assert_eq!((get(&drops), get(&drops2)), (1, 1), "freed exactly once");
}

#[test]
fn dropping_a_pending_request_drops_its_closure_uncalled() {
    let fg = FakeGuest::start(&["--behavior", "silent"]);
    let (ctx, s) = connect(&fg);
    let (calls, drops, out) = (counter(), counter(), slot());
    let a = s
        .submit_with(
            Op::PciAdd { bus: 0, devfn: 8 },
            tracked(&calls, &drops, &out),
        )
        .unwrap();
    let b = s
        .submit_with(
            Op::PciAdd { bus: 0, devfn: 16 },
            tracked(&calls, &drops, &out),
        )
        .unwrap();
    ctx.process().unwrap();
    drop(a); // in flight
    drop(b); // queued
    ctx.run(LONG).unwrap();
    assert_eq!(get(&calls), 0, "no callback for a dropped request");
    assert_eq!(get(&drops), 2, "each closure freed once");
    assert!(out.lock().unwrap().is_none());
    // The session goes on: the next request is answered once the guest
    // misbehaves no more... here it stays silent, so it times out.
    s.set_request_timeout(Some(Duration::from_millis(30)))
        .unwrap();
    assert_eq!(s.pci_add(0, 24).unwrap_err().errno(), errno::ETIMEDOUT);
    assert_eq!(get(&drops), 2);
}

#[test]
fn dropping_a_pending_request_with_the_library_thread() {
    let fg = FakeGuest::start(&["--behavior", "silent"]);
    let (ctx, s) = connect(&fg);
    ctx.start_thread().unwrap();
    let (calls, drops, out) = (counter(), counter(), slot());
    let req = s
        .submit_with(Op::GetInfo, tracked(&calls, &drops, &out))
        .unwrap();
    drop(req);
    assert!(eventually(Duration::from_secs(5), || get(&drops) == 1));
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!((get(&calls), get(&drops)), (0, 1));
}

#[test]
fn a_cloned_request_is_cancelled_only_by_its_last_drop() {
    let fg = FakeGuest::start(&["--delay-ms", "100"]);
    let (ctx, s) = connect(&fg);
    let (calls, drops, out) = (counter(), counter(), slot());
    let req = s
        .submit_with(Op::GetInfo, tracked(&calls, &drops, &out))
        .unwrap();
    let clone = req.clone();
    drop(req);
    ctx.run(LONG).unwrap();
    assert_eq!((get(&calls), get(&drops)), (1, 1));
    assert!(clone.outcome().unwrap().is_ok());
}

#[test]
fn completed_closure_is_freed_once() {
    let fg = FakeGuest::start(&[]);
    let (ctx, s) = connect(&fg);
    let (calls, drops, out) = (counter(), counter(), slot());
    let req = s
        .submit_with(
            Op::CpuAdd(Cpus::ApicIds(&[1])),
            tracked(&calls, &drops, &out),
        )
        .unwrap();
    ctx.run(LONG).unwrap();
    assert_eq!((get(&calls), get(&drops)), (1, 1));
    drop(req);
    ctx.run(LONG).unwrap();
    assert_eq!((get(&calls), get(&drops)), (1, 1));
    assert_eq!(
        out.lock().unwrap().take().unwrap().unwrap().cpu_index,
        Some(1)
    );
}

#[test]
fn failed_submission_frees_the_closure() {
    let fg = FakeGuest::start(&[]);
    let (_ctx, s) = connect(&fg);
    let (calls, drops, out) = (counter(), counter(), slot());
    let e = s
        .submit_with(
            Op::CpuAdd(Cpus::ApicIds(&[])),
            tracked(&calls, &drops, &out),
        )
        .unwrap_err();
    assert_eq!(e.errno(), errno::EINVAL);
    assert_eq!((get(&calls), get(&drops)), (0, 1));
    s.close().unwrap();
    let e = s
        .submit_with(Op::GetInfo, tracked(&calls, &drops, &out))
        .unwrap_err();
    assert_eq!(e.errno(), errno::ENOTCONN);
    let e = s
        .submit_detached(Op::GetInfo, tracked(&calls, &drops, &out))
        .unwrap_err();
    assert_eq!(e.errno(), errno::ENOTCONN);
    assert_eq!((get(&calls), get(&drops)), (0, 3));
}

#[test]
fn detached_requests_call_back_once() {
    let fg = FakeGuest::start(&[]);
    let (ctx, s) = connect(&fg);
    let (calls, drops, out) = (counter(), counter(), slot());
    s.submit_detached(
        Op::PciAdd { bus: 0, devfn: 8 },
        tracked(&calls, &drops, &out),
    )
    .unwrap();
    ctx.run(LONG).unwrap();
    assert_eq!((get(&calls), get(&drops)), (1, 1));
    assert_eq!(
        out.lock().unwrap().take().unwrap().unwrap().msg_type,
        msg::ADD_PCI
    );
}

#[test]
fn closing_the_session_completes_detached_requests() {
    let fg = FakeGuest::start(&["--behavior", "silent"]);
    let (ctx, s) = connect(&fg);
    let (calls, drops, out) = (counter(), counter(), slot());
    s.submit_detached(Op::GetInfo, tracked(&calls, &drops, &out))
        .unwrap();
    s.close().unwrap();
    ctx.run(LONG).unwrap();
    assert_eq!((get(&calls), get(&drops)), (1, 1));
    let e = out.lock().unwrap().take().unwrap().unwrap_err();
    assert_eq!(
        (e.errno(), e.kind()),
        (errno::ESHUTDOWN, ErrorKind::Transport)
    );
}

trait ErrOr {
    fn unwrap_err_or(self, ok: i32) -> i32;
}

impl ErrOr for std::result::Result<(), i32> {
    fn unwrap_err_or(self, ok: i32) -> i32 {
        self.err().unwrap_or(ok)
    }
}

#[test]
fn callbacks_may_submit_but_not_block() {
    let fg = FakeGuest::start(&[]);
    let (ctx, s) = connect(&fg);
    ctx.start_thread().unwrap();
    let (tx, rx) = mpsc::channel();
    let s2 = s.clone();
    // No asserts inside callbacks: a panic there aborts the process.
    let req = s
        .submit_with(Op::GetInfo, move |r| {
            tx.send(("first", r.is_ok() as i32)).unwrap();
            // A blocking call here would wait for this very thread.
            let e = s2.pci_add(0, 8).map_err(|e| e.errno());
            tx.send(("blocking", e.unwrap_err_or(0))).unwrap();
            let tx2 = tx.clone();
            let r = s2.submit_detached(Op::CpuAdd(Cpus::ApicIds(&[3])), move |r| {
                let index = r.ok().and_then(|r| r.cpu_index).map_or(-1, |i| i as i32);
                tx2.send(("chained", index)).unwrap();
            });
            tx.send(("submitted", r.is_ok() as i32)).unwrap();
            let e = s2.context().stop_thread().map_err(|e| e.errno());
            tx.send(("stop_thread", e.unwrap_err_or(0))).unwrap();
        })
        .unwrap();
    let t = Duration::from_secs(10);
    let got: Vec<(&str, i32)> = (0..5).map(|_| rx.recv_timeout(t).unwrap()).collect();
    assert_eq!(
        got,
        vec![
            ("first", 1),
            ("blocking", errno::EDEADLK),
            ("submitted", 1),
            ("stop_thread", errno::EDEADLK),
            ("chained", 1),
        ]
    );
    drop(req);
}

#[test]
fn library_thread_controls() {
    let fg = FakeGuest::start(&[]);
    let (ctx, s) = connect(&fg);
    ctx.start_thread().unwrap();
    assert_eq!(ctx.start_thread().unwrap_err().errno(), errno::EALREADY);
    assert_eq!(ctx.process().unwrap_err().errno(), errno::EBUSY);
    // Sync calls wait for the thread to do the work.
    assert_eq!(s.cpu_add(Cpus::ApicIds(&[1])).unwrap(), 1);
    ctx.stop_thread().unwrap();
    assert_eq!(ctx.stop_thread().unwrap_err().errno(), errno::ESRCH);
    // And without it, on this thread.
    assert_eq!(s.cpu_add(Cpus::ApicIds(&[2])).unwrap(), 1);
    ctx.start_thread().unwrap();
    // The last handle's drop stops it.
}

#[test]
fn stopping_the_thread_right_after_a_call_is_prompt() {
    // A stop asked for while the thread still processes the round that
    // answered the call must not wait for some later event.
    let fg = FakeGuest::start(&[]);
    let (ctx, s) = connect(&fg);
    for round in 0..300 {
        ctx.start_thread().unwrap();
        s.pci_add(0, 8).unwrap();
        let t = std::time::Instant::now();
        ctx.stop_thread().unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "round {}: stop took {:?}",
            round,
            t.elapsed()
        );
    }
}

#[repr(C)]
struct PollFd {
    fd: c_int,
    events: c_short,
    revents: c_short,
}

extern "C" {
    fn poll(fds: *mut PollFd, nfds: c_ulong, timeout: c_int) -> c_int;
}

#[test]
fn embedded_in_a_poll_loop() {
    let fg = FakeGuest::start(&["--delay-ms", "5"]);
    let (ctx, s) = connect(&fg);
    let done = counter();
    let results = Arc::new(Mutex::new(Vec::new()));
    let mut reqs = Vec::new();
    for i in 0..20u8 {
        let done = done.clone();
        let results = results.clone();
        reqs.push(
            s.submit_with(Op::CpuAdd(Cpus::ApicIds(&[i + 1])), move |r| {
                results.lock().unwrap().push(r.map(|r| r.cpu_index));
                done.fetch_add(1, Ordering::SeqCst);
            })
            .unwrap(),
        );
    }
    // One request that only a timer can end.
    let timed = s.submit(Op::GetInfo).unwrap();
    timed.set_timeout(Some(Duration::from_millis(1))).unwrap();

    let mut rounds = 0;
    while get(&done) < 20 || !timed.is_done() {
        rounds += 1;
        assert!(rounds < 10_000, "the loop does not converge");
        let timeout = match ctx.timeout().unwrap() {
            None => 1000,
            Some(d) => d.as_millis().min(1000) as c_int,
        };
        let mut p = PollFd {
            fd: ctx.as_raw_fd(),
            events: ctx.events().unwrap(),
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { poll(&mut p, 1, timeout) };
        assert!(n >= 0);
        while ctx.process().unwrap() {}
    }
    assert_eq!(
        timed.outcome().unwrap().unwrap_err().errno(),
        errno::ETIMEDOUT
    );
    assert_eq!(*results.lock().unwrap(), vec![Ok(Some(1)); 20]);
    drop(reqs);
}
