#!/bin/sh
# SPDX-License-Identifier: MIT
# Build the upcall._upcall extension in place, against the in-tree library
# (run `make` at the top first), so the tests run without installing:
#
#   cd bindings/python && ./build.sh && \
#       LD_LIBRARY_PATH=../../libupcall/.libs python3 -m pytest -q tests
#
# Environment: PYTHON (default python3), CC (default cc), SWIG (default swig),
# CFLAGS (extra flags, e.g. for a sanitizer build).  The autotools build
# (./configure --enable-python) does the same with libtool.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
PYTHON=${PYTHON:-python3}
CC=${CC:-cc}
SWIG=${SWIG:-swig}

py_inc=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
py_ext=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')

if [ ! -e "$top/libupcall/.libs/libupcall.so" ]; then
	echo "build.sh: $top/libupcall/.libs/libupcall.so missing: run make at the top" >&2
	exit 1
fi

obj="$here/.build"
mkdir -p "$obj"
# -noproxy: no SWIG proxy module; the package imports the extension itself.
"$SWIG" -python -threads -noproxy -I"$top/libupcall" \
	-o "$obj/upcall_wrap.c" "$here/upcall.i"
# SWIG's generated code is not warning-clean under -Wextra; keep -Wall.
# shellcheck disable=SC2086
"$CC" -shared -fPIC -O2 -g -Wall -Wno-unused-function ${CFLAGS:-} \
	-I"$top/libupcall" -I"$py_inc" \
	-o "$here/upcall/_upcall$py_ext" "$obj/upcall_wrap.c" \
	-L"$top/libupcall/.libs" -lupcall
echo "built $here/upcall/_upcall$py_ext"
