// SPDX-License-Identifier: MIT
//! Hot-add vCPUs to a guest: `hotplug SOCKET APIC_ID...` (hybrid vsock).
//! The example of README.md.

use std::sync::mpsc;
use std::time::Duration;

use upcall::{Context, Cpus, Op};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let socket = args.next().ok_or("usage: hotplug SOCKET APIC_ID...")?;
    let ids = args.map(|a| a.parse()).collect::<Result<Vec<u8>, _>>()?;

    let ctx = Context::new()?;
    let session = ctx.session()?;
    session.set_request_timeout(Some(Duration::from_secs(10)))?;
    session.open_unix(&socket)?;
    session.wait_ready(Some(Duration::from_secs(5)))?;

    // Synchronous: each call returns the guest's answer.
    let info = session.get_info()?;
    println!(
        "guest: {} of {} vCPUs online",
        info.cpus_online, info.cpus_possible
    );

    // Asynchronous: a library thread runs the callback.
    ctx.start_thread()?;
    let (tx, rx) = mpsc::channel();
    let request = session.submit_with(Op::CpuAdd(Cpus::ApicIds(&ids)), move |outcome| {
        let _ = tx.send(outcome);
    })?;
    match rx.recv()? {
        Ok(reply) => println!("added {} vCPUs", reply.cpu_index.unwrap_or(0)),
        Err(e) if e.is_guest() => println!("{}", e), // "guest refused: ..."
        Err(e) => return Err(e.into()),
    }
    drop(request); // before completion, this would have cancelled it
    Ok(())
}
