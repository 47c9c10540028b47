// SPDX-License-Identifier: MIT
//! Find libupcall: `UPCALL_LIB_DIR` for a build tree, else `pkg-config`.
//!
//! No crates: the `pkg-config` command is run directly.  `PKG_CONFIG`
//! names another command (a cross `pkg-config`), and the usual
//! `PKG_CONFIG_PATH` / `PKG_CONFIG_LIBDIR` / `PKG_CONFIG_SYSROOT_DIR`
//! reach it through the environment.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    for var in &[
        "UPCALL_LIB_DIR",
        "PKG_CONFIG",
        "PKG_CONFIG_PATH",
        "PKG_CONFIG_LIBDIR",
        "PKG_CONFIG_SYSROOT_DIR",
    ] {
        println!("cargo:rerun-if-env-changed={}", var);
    }
    println!("cargo:rerun-if-changed=build.rs");

    if let Some(dir) = env::var_os("UPCALL_LIB_DIR") {
        let dir = absolute(Path::new(&dir));
        if !dir.join("libupcall.so").exists() {
            println!(
                "cargo:warning=UPCALL_LIB_DIR={}: no libupcall.so there (run make at the top first)",
                dir.display()
            );
        }
        println!("cargo:rustc-link-search=native={}", dir.display());
        println!("cargo:rustc-link-lib=dylib=upcall");
        // For dependents' build scripts: DEP_UPCALL_LIB_DIR.
        println!("cargo:lib_dir={}", dir.display());
        return;
    }

    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".to_string());
    let out = Command::new(&pkg_config)
        .args(["--libs", "--cflags", "libupcall"])
        .output();
    let out = match out {
        Ok(o) if o.status.success() => o,
        Ok(o) => fail(&format!(
            "`{} --libs --cflags libupcall` failed: {}",
            pkg_config,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => fail(&format!("cannot run `{}`: {}", pkg_config, e)),
    };
    let flags = String::from_utf8_lossy(&out.stdout);
    let mut linked = false;
    for flag in flags.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo:rustc-link-search=native={}", dir);
            println!("cargo:lib_dir={}", dir);
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={}", lib);
            linked |= lib == "upcall";
        }
        // -I and other compiler flags do not matter: no C is compiled.
    }
    if !linked {
        println!("cargo:rustc-link-lib=dylib=upcall");
    }
}

/// A relative `UPCALL_LIB_DIR` is taken from the workspace directory
/// (bindings/rust), where `cargo` is usually run: cargo does not tell a
/// build script the caller's directory.
fn absolute(dir: &Path) -> PathBuf {
    if dir.is_absolute() {
        return dir.to_path_buf();
    }
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let workspace = manifest.parent().unwrap_or(&manifest);
    let joined = workspace.join(dir);
    joined.canonicalize().unwrap_or(joined)
}

fn fail(why: &str) -> ! {
    eprintln!("upcall-sys: cannot find libupcall: {}", why);
    eprintln!("upcall-sys: install libupcall (its libupcall.pc must be on PKG_CONFIG_PATH),");
    eprintln!("upcall-sys: or set UPCALL_LIB_DIR to a directory holding libupcall.so");
    eprintln!("upcall-sys: (in the source tree: UPCALL_LIB_DIR=../../libupcall/.libs).");
    std::process::exit(1);
}
