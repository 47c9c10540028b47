// SPDX-License-Identifier: MIT
//! Drop order: any handle may go first; nothing leaks, nothing is freed
//! twice, and closures are dropped exactly once.

mod common;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{connect, counter, eventually, get, open, DropGuard, FakeGuest};
use upcall::{errno, Context, Cpus, ErrorKind, Op, Reply, Result};

const LONG: Option<Duration> = Some(Duration::from_secs(10));

type Slot = Arc<Mutex<Vec<Result<Reply>>>>;

fn recorder(
    out: &Slot,
    drops: &Arc<std::sync::atomic::AtomicUsize>,
) -> impl FnOnce(Result<Reply>) + Send + 'static {
    let out = out.clone();
    let guard = DropGuard(drops.clone());
    move |r| {
        let _keep = &guard;
        out.lock().unwrap().push(r);
    }
}

fn errnos(out: &Slot) -> Vec<i32> {
    out.lock()
        .unwrap()
        .iter()
        .map(|r| r.as_ref().err().map_or(0, |e| e.errno()))
        .collect()
}

#[test]
fn context_dropped_before_session() {
    let fg = FakeGuest::start(&[]);
    let (ctx, s) = connect(&fg);
    drop(ctx);
    assert_eq!(s.cpu_add(Cpus::ApicIds(&[1])).unwrap(), 1);
    // The session still reaches its context.
    let ctx = s.context();
    ctx.start_thread().unwrap();
    drop(ctx);
    assert_eq!(
        s.get_info().unwrap().version,
        upcall::sys::UPCALL_INFO_VERSION
    );
    drop(s);
    assert_eq!(fg.finish().violations, 0);
}

#[test]
fn request_outlives_session_and_context() {
    let fg = FakeGuest::start(&["--delay-ms", "30"]);
    let (ctx, s) = connect(&fg);
    let (out, drops) = (Arc::new(Mutex::new(Vec::new())), counter());
    let req = s
        .submit_with(Op::PciAdd { bus: 0, devfn: 8 }, recorder(&out, &drops))
        .unwrap();
    drop(ctx);
    // The session's drop closes it: the pending request completes with
    // ESHUTDOWN, its callback runs when the context is next processed.
    drop(s);
    req.wait(LONG).unwrap();
    let e = req.outcome().unwrap().unwrap_err();
    assert_eq!(
        (e.errno(), e.kind()),
        (errno::ESHUTDOWN, ErrorKind::Transport)
    );
    // The request is done; its callback waits for the context to be
    // processed (or for the last handle to go).
    req.context().run(LONG).unwrap();
    assert_eq!(errnos(&out), vec![errno::ESHUTDOWN]);
    assert_eq!(get(&drops), 1);
    drop(req);
    assert_eq!(get(&drops), 1);
}

#[test]
fn completed_request_outlives_everything() {
    let fg = FakeGuest::start(&[]);
    let (ctx, s) = connect(&fg);
    let req = s.submit(Op::CpuAdd(Cpus::ApicIds(&[4, 5]))).unwrap();
    req.wait(LONG).unwrap();
    drop(s);
    drop(ctx);
    drop(fg);
    assert_eq!(req.outcome().unwrap().unwrap().cpu_index, Some(2));
    let again = req.clone();
    drop(req);
    assert!(again.is_done());
}

#[test]
fn last_handle_drop_runs_the_pending_callbacks() {
    // Nobody processes this context: the last handle's drop does.
    let fg = FakeGuest::start(&["--behavior", "silent"]);
    let (ctx, s) = connect(&fg);
    let (out, drops) = (Arc::new(Mutex::new(Vec::new())), counter());
    let kept = s.submit_with(Op::GetInfo, recorder(&out, &drops)).unwrap();
    let dropped = s.submit_with(Op::GetInfo, recorder(&out, &drops)).unwrap();
    s.submit_detached(Op::GetInfo, recorder(&out, &drops))
        .unwrap();
    drop(dropped); // cancelled silently: closure dropped, never called
    drop(s);
    drop(ctx);
    // `kept` holds the context: nothing ran yet on this thread's behalf
    // but what the drops did.  Its own drop is the last.
    drop(kept);
    let mut got = errnos(&out);
    got.sort_unstable();
    assert_eq!(got, vec![errno::ESHUTDOWN, errno::ESHUTDOWN]);
    assert_eq!(get(&drops), 3);
}

#[test]
fn session_dropped_while_library_thread_runs() {
    let fg = FakeGuest::start(&["--behavior", "silent"]);
    let (ctx, s) = connect(&fg);
    ctx.start_thread().unwrap();
    let (out, drops) = (Arc::new(Mutex::new(Vec::new())), counter());
    s.submit_detached(Op::GetInfo, recorder(&out, &drops))
        .unwrap();
    let req = s.submit_with(Op::GetInfo, recorder(&out, &drops)).unwrap();
    drop(s);
    assert!(eventually(Duration::from_secs(5), || get(&drops) == 2));
    assert_eq!(errnos(&out), vec![errno::ESHUTDOWN, errno::ESHUTDOWN]);
    drop(ctx);
    assert_eq!(
        req.outcome().unwrap().unwrap_err().errno(),
        errno::ESHUTDOWN
    );
    drop(req); // the last handle; the library thread stops
}

#[test]
fn closures_holding_handles_are_released() {
    // A closure that owns a session and a context: they go when it runs.
    let fg = FakeGuest::start(&[]);
    let (ctx, s) = connect(&fg);
    ctx.start_thread().unwrap();
    let drops = counter();
    let guard = DropGuard(drops.clone());
    let (s2, ctx2) = (s.clone(), ctx.clone());
    s.submit_detached(Op::GetInfo, move |_| {
        let _keep = (&guard, &s2, &ctx2);
    })
    .unwrap();
    drop(s);
    drop(ctx);
    // The last handles are inside the closure, on the library thread: the
    // library thread frees the context itself once the closure is gone.
    assert!(eventually(Duration::from_secs(5), || get(&drops) == 1));
}

#[test]
fn many_contexts_come_and_go() {
    let fg = FakeGuest::start(&[]);
    for i in 0..50 {
        let ctx = Context::new().unwrap();
        if i % 2 == 0 {
            ctx.start_thread().unwrap();
        }
        let s = open(&ctx, &fg);
        let drops = counter();
        let g = DropGuard(drops.clone());
        let req = s
            .submit_with(Op::PciAdd { bus: 0, devfn: 8 }, move |_| drop(g))
            .unwrap();
        match i % 3 {
            0 => drop((req, s, ctx)),
            1 => drop((ctx, s, req)),
            _ => drop((s, req, ctx)),
        }
        assert!(eventually(Duration::from_secs(5), || drops
            .load(Ordering::SeqCst)
            == 1));
    }
    assert_eq!(fg.finish().violations, 0);
}
