// SPDX-License-Identifier: MIT
//! Many threads on one context: with the library thread, and without it
//! (the callers then take turns processing).

mod common;

use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use common::{connect, counter, FakeGuest};
use upcall::{Cpus, Op, Session};

const THREADS: usize = 8;
const CALLS: usize = 25;

fn hammer(s: &Session) {
    thread::scope(|scope| {
        for t in 0..THREADS {
            scope.spawn(move || {
                for i in 0..CALLS {
                    let id = (t * CALLS + i) as u8;
                    match i % 3 {
                        0 => assert_eq!(
                            s.cpu_add(Cpus::ApicIds(&[id, id.wrapping_add(1)])).unwrap(),
                            2
                        ),
                        1 => s.pci_add(0, id).unwrap(),
                        _ => assert_eq!(
                            s.get_info().unwrap().version,
                            upcall::sys::UPCALL_INFO_VERSION
                        ),
                    }
                }
            });
        }
    });
}

#[test]
fn eight_threads_with_the_library_thread() {
    let fg = FakeGuest::start(&[]);
    let (ctx, s) = connect(&fg);
    ctx.start_thread().unwrap();
    hammer(&s);
    drop((s, ctx));
    let c = fg.finish();
    assert_eq!((c.requests as usize, c.violations), (THREADS * CALLS, 0));
}

#[test]
fn eight_threads_taking_turns() {
    let fg = FakeGuest::start(&[]);
    let (_ctx, s) = connect(&fg);
    hammer(&s);
    let c = fg.finish();
    assert_eq!((c.requests as usize, c.violations), (THREADS * CALLS, 0));
}

#[test]
fn handles_move_between_threads() {
    let fg = FakeGuest::start(&[]);
    let (ctx, s) = connect(&fg);
    ctx.start_thread().unwrap();
    let done = counter();
    let (tx, rx) = mpsc::channel();
    // Submit on one thread, wait on another, drop on a third.
    let submitter = {
        let s = s.clone();
        let done = done.clone();
        thread::spawn(move || {
            for i in 0..THREADS as u8 {
                let done = done.clone();
                let req = s
                    .submit_with(Op::PciAdd { bus: 0, devfn: i }, move |r| {
                        if r.is_ok() {
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                    })
                    .unwrap();
                tx.send(req).unwrap();
            }
        })
    };
    let waiter = thread::spawn(move || {
        let reqs: Vec<_> = rx.iter().collect();
        for r in &reqs {
            r.wait(Some(Duration::from_secs(10))).unwrap();
            assert!(r.outcome().unwrap().is_ok());
        }
        reqs
    });
    submitter.join().unwrap();
    let reqs = waiter.join().unwrap();
    thread::spawn(move || drop(reqs)).join().unwrap();
    // Callbacks run on the library thread, maybe just after the wait.
    assert!(common::eventually(Duration::from_secs(5), || done
        .load(Ordering::SeqCst)
        == THREADS));
    drop((s, ctx));
}
