// SPDX-License-Identifier: MIT
//! The fake guest (tests/fake-guest of the C tree) as a child process, and
//! helpers shared by the tests.
#![allow(dead_code)]

use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::os::raw::c_int;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use upcall::{Arch, Context, Session};

extern "C" {
    fn kill(pid: c_int, sig: c_int) -> c_int;
}
const SIGTERM: c_int = 15;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique path in the temporary directory.
pub fn temp_path(what: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    std::env::temp_dir().join(format!("upcall-rs-{}-{}-{}", std::process::id(), n, what))
}

/// `FAKE_GUEST`, or tests/fake-guest of the source tree this crate is in.
pub fn fake_guest_program() -> PathBuf {
    if let Some(p) = std::env::var_os("FAKE_GUEST") {
        return PathBuf::from(p);
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../..");
    root.join("tests/fake-guest")
}

/// What the fake guest counted, from its last stderr line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub connections: u32,
    pub requests: u32,
    pub violations: u32,
}

pub struct FakeGuest {
    child: Option<Child>,
    pub path: PathBuf,
    log: PathBuf,
}

impl FakeGuest {
    /// Start a fake guest with these options (besides --socket) and wait
    /// for its "ready".
    pub fn start(args: &[&str]) -> FakeGuest {
        let prog = fake_guest_program();
        assert!(
            prog.exists(),
            "{} missing: run `make tests/fake-guest` at the top of the tree, or set FAKE_GUEST",
            prog.display()
        );
        let path = temp_path("guest.sock");
        let log = path.with_extension("log");
        let mut child = Command::new(&prog)
            .arg("--socket")
            .arg(&path)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(File::create(&log).expect("fake-guest log"))
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {}", prog.display(), e));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("fake-guest stdout");
        assert_eq!(line.trim(), "ready", "fake-guest {:?} did not start", args);
        FakeGuest {
            child: Some(child),
            path,
            log,
        }
    }

    /// Stop it (SIGTERM) and return what it counted.
    pub fn finish(mut self) -> Counts {
        self.stop();
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let mut c = Counts::default();
        for line in text.lines() {
            // "fake-guest: 1 connections, 3 requests, 0 violations"
            let words: Vec<&str> = line.split([' ', ',']).collect();
            if words.len() >= 2 && line.ends_with(" violations") {
                let nums: Vec<u32> = words.iter().filter_map(|w| w.parse().ok()).collect();
                if nums.len() == 3 {
                    c = Counts {
                        connections: nums[0],
                        requests: nums[1],
                        violations: nums[2],
                    };
                }
            }
        }
        if c.violations != 0 {
            eprintln!("{}", text);
        }
        c
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: plain syscall on our child's pid.
            unsafe { kill(child.id() as c_int, SIGTERM) };
            let _ = child.wait();
        }
    }
}

impl Drop for FakeGuest {
    fn drop(&mut self) {
        self.stop();
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_file(&self.log);
    }
}

/// A context and a ready x86_64 session on `fg`.
pub fn connect(fg: &FakeGuest) -> (Context, Session) {
    let ctx = Context::new().expect("context");
    let s = open(&ctx, fg);
    (ctx, s)
}

/// A ready x86_64 session on `fg`.
pub fn open(ctx: &Context, fg: &FakeGuest) -> Session {
    let s = ctx.session().expect("session");
    s.set_arch(Arch::X86_64).unwrap();
    s.open_unix(&fg.path).expect("open_unix");
    s.wait_ready(Some(Duration::from_secs(10)))
        .expect("wait_ready");
    s
}

/// Counts its drops: proof that a closure was freed, and only once.
pub struct DropGuard(pub Arc<AtomicUsize>);

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

pub fn counter() -> Arc<AtomicUsize> {
    Arc::new(AtomicUsize::new(0))
}

pub fn get(c: &Arc<AtomicUsize>) -> usize {
    c.load(Ordering::SeqCst)
}

/// Poll `cond` until it holds or `limit` passes.
pub fn eventually<F: FnMut() -> bool>(limit: Duration, mut cond: F) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}
