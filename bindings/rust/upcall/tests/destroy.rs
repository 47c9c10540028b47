// SPDX-License-Identifier: MIT
//! The state callback and libupcall 1.1's session destroy callback: the
//! closure sees the states, and is dropped exactly once, when replaced or
//! when libupcall frees the session.  `make check-valgrind` runs this file
//! under valgrind: nothing may leak.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{counter, eventually, get, DropGuard, FakeGuest};
use upcall::{Arch, Context, Cpus, State};

const ENOENT: i32 = 2; // Linux

const LONG: Option<Duration> = Some(Duration::from_secs(10));

#[test]
fn state_fn_sees_the_states_and_is_dropped_once() {
    let fg = FakeGuest::start(&[]);
    let ctx = Context::new().unwrap();
    let s = ctx.session().unwrap();
    s.set_arch(Arch::X86_64).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let drops = counter();
    let (out, guard) = (seen.clone(), DropGuard(drops.clone()));
    s.set_state_fn(move |st, err| {
        let _keep = &guard;
        out.lock().unwrap().push((st, err.map(|e| e.errno())));
    });
    s.open_unix(&fg.path).unwrap();
    s.wait_ready(LONG).unwrap();
    assert_eq!(s.cpu_add(Cpus::ApicIds(&[1])).unwrap(), 1);
    let clone = s.clone();
    drop(s);
    assert_eq!(get(&drops), 0, "a handle is left: the closure stays");
    clone.close().unwrap();
    ctx.run(LONG).unwrap();
    drop(clone);
    // The last handle is gone: libupcall frees the session once its
    // queued events are delivered, on this thread's next processing.
    ctx.process().unwrap();
    assert!(eventually(Duration::from_secs(5), || get(&drops) == 1));
    drop(ctx);
    assert_eq!(get(&drops), 1);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.first(), Some(&(State::Connecting, None)), "{:?}", seen);
    assert!(seen.contains(&(State::Ready, None)), "{:?}", seen);
    assert_eq!(seen.last().map(|s| s.0), Some(State::Closed), "{:?}", seen);
    assert_eq!(fg.finish().violations, 0);
}

#[test]
fn replaced_and_cleared_state_fns_are_dropped_at_once() {
    let ctx = Context::new().unwrap();
    let s = ctx.session().unwrap();
    let drops = counter();
    for _ in 0..3 {
        let g = DropGuard(drops.clone());
        s.set_state_fn(move |_, _| {
            let _keep = &g;
        });
    }
    assert_eq!(get(&drops), 2);
    s.clear_state_fn();
    assert_eq!(get(&drops), 3);
    drop(s);
    drop(ctx);
    assert_eq!(get(&drops), 3);
}

#[test]
fn a_failed_connection_is_reported_with_its_error() {
    let ctx = Context::new().unwrap();
    let s = ctx.session().unwrap();
    s.set_reconnect(false, Duration::from_millis(1), Duration::from_millis(1))
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    s.set_state_fn(move |st, err| out.lock().unwrap().push((st, err.map(|e| e.errno()))));
    let missing = common::temp_path("none.sock");
    match s.open_unix(&missing) {
        Ok(()) => {
            let _ = s.wait_ready(LONG);
        }
        Err(e) => assert_eq!(e.errno(), ENOENT),
    }
    ctx.run(LONG).unwrap();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen.last(),
        Some(&(State::Closed, Some(ENOENT))),
        "{:?}",
        seen
    );
}

#[test]
fn many_sessions_each_closure_dropped_once() {
    let fg = FakeGuest::start(&[]);
    let drops = counter();
    for i in 0..20 {
        let ctx = Context::new().unwrap();
        if i % 2 == 0 {
            ctx.start_thread().unwrap();
        }
        let s = ctx.session().unwrap();
        s.set_arch(Arch::X86_64).unwrap();
        let g = DropGuard(drops.clone());
        s.set_state_fn(move |_, _| {
            let _keep = &g;
        });
        s.open_unix(&fg.path).unwrap();
        s.wait_ready(LONG).unwrap();
        s.pci_add(0, 8).unwrap();
        if i % 3 == 0 {
            drop((ctx, s));
        } else {
            drop((s, ctx));
        }
        assert!(
            eventually(Duration::from_secs(5), || get(&drops) == i + 1),
            "session {}: {} closures dropped",
            i,
            get(&drops)
        );
    }
    assert_eq!(fg.finish().violations, 0);
}

#[test]
fn log_fn_gets_messages_and_is_dropped_once_with_the_context() {
    let fg = FakeGuest::start(&[]);
    let msgs = Arc::new(Mutex::new(Vec::new()));
    let drops = counter();
    let (out, guard) = (msgs.clone(), DropGuard(drops.clone()));
    let ctx = Context::with_log(7, move |prio, msg| {
        let _keep = &guard;
        out.lock().unwrap().push(format!("<{}>{}", prio, msg));
    })
    .unwrap();
    let s = common::open(&ctx, &fg);
    s.get_info().unwrap();
    let s2 = s.clone();
    drop((s, ctx));
    assert_eq!(get(&drops), 0, "a session keeps the context");
    drop(s2);
    assert_eq!(get(&drops), 1);
    let msgs = msgs.lock().unwrap();
    assert!(
        msgs.iter()
            .any(|m| m.starts_with("<7>") && !m.contains('%')),
        "no formatted debug message: {:?}",
        *msgs
    );
}
