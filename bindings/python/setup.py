# SPDX-License-Identifier: MIT
"""The extension upcall._upcall, built by SWIG from upcall.i (setuptools runs
swig on .i sources) against the libupcall pkg-config finds.  Everything
else is in pyproject.toml."""

import os
import shlex
import subprocess

from setuptools import Extension, setup


def pkg_config(*args):
    pc = os.environ.get("PKG_CONFIG", "pkg-config")
    try:
        out = subprocess.run([pc, *args, "libupcall"], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        raise SystemExit(f"upcall: pkg-config libupcall failed ({e}): "
                         "install libupcall (libupcall-dev) or set "
                         "PKG_CONFIG_PATH") from None
    return shlex.split(out)


cflags = pkg_config("--cflags")
libs = pkg_config("--libs")
incdirs = [f[2:] for f in cflags if f.startswith("-I")]
libdirs = [f[2:] for f in libs if f.startswith("-L")]

ext = Extension(
    "upcall._upcall",
    sources=["upcall.i"],
    # -noproxy: no SWIG proxy module, the package imports the extension.
    swig_opts=["-threads", "-noproxy"] + [f"-I{d}" for d in incdirs],
    include_dirs=incdirs,
    library_dirs=libdirs,
    libraries=[f[2:] for f in libs if f.startswith("-l")],
    # A libupcall outside the loader's path (a --prefix install) is found
    # at run time too.
    runtime_library_dirs=libdirs,
    extra_compile_args=["-fvisibility=hidden", "-fno-strict-aliasing",
                        "-Wno-unused-function"],
)

setup(ext_modules=[ext])
