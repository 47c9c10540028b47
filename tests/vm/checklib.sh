# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared by the VM checks: results, and the ways to reach a guest.
# The caller sets `sock` (a booted guest's socket) before using them.

vm_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
. "$vm_here/../lib.sh"

passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok   - $*"; }
nok() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check DESCRIPTION COMMAND...
	local what=$1
	shift
	if "$@"; then ok "$what"; else nok "$what"; fi
}
summary() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

gx() { "$vm_here/guest-exec" -t 120 "$sock" -- "$@"; }
qmp() { "$sock.run/tb-host" qmp "$sock.qmp" "$@"; }
raw() { "$vm_here/upcall-raw" "$sock" "$@"; }
cli() { "$UPCALL_BUILD/tools/upcall" --socket "$sock" --timeout 60000 "$@"; }

# The guest's kernel log must hold no sign of a kernel bug.
dmesg_clean() { ! gx dmesg | grep -E 'WARNING:|BUG:|Oops|Call Trace|general protection'; }
# Unevictable kernel memory that a leak would grow, in kB.
kmem() { gx "awk '/^(Slab|Percpu|VmallocUsed):/ { s += \$2 } END { print s }' /proc/meminfo"; }

# raw_op NAME ARG... RESULT: one well-formed request by upcall-raw, which
# checks the whole reply header (the msg_type echoed, msg_size, flags,
# zeros after the body), not only what libupcall needs of it
raw_op() {
	local out
	out=$(raw op "$@" 2>&1) || true
	if [[ $out == "ok "* ]]; then ok "raw $*: the reply header"; else
		nok "raw $*: ${out#bad }"; fi
}

# expect_refusal DESCRIPTION ERRNO-NAME CLI-ARGS...: exit 1 naming the errno
expect_refusal() {
	local what=$1 name=$2 out rc=0
	shift 2
	out=$(cli "$@" 2>&1) || rc=$?
	if [ $rc -eq 1 ] && grep -q "$name" <<<"$out"; then ok "$what"; else
		nok "$what (exit $rc: $out)"; fi
}
