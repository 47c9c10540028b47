/* SPDX-License-Identifier: MIT */
/*
 * SWIG interface for the Go binding's low-level package, cupcall.
 *
 *   swig -go -cgo -intgosize 64 -module cupcall -I<libupcall> \
 *        -outdir internal/cupcall -o internal/cupcall/cupcall_wrap.c upcall.i
 *
 * Only the plain calls are wrapped.  Everything that takes a C callback
 * (completion, destroy, state, log) is %ignore'd here: the idiomatic package
 * submits requests through its own small C shim (shim.c), whose callbacks
 * are exported Go functions, so no callback ever goes through SWIG.  The
 * blocking helpers are left out too: the Go package processes the context
 * on its own goroutine and must be the only one that does.
 */
%module cupcall

%{
#include <upcall/upcall.h>

_Static_assert(sizeof(upcall_info) == 64, "upcall_info layout");
_Static_assert(__builtin_offsetof(upcall_info, mem_block_size) == 8, "mem_block_size");
_Static_assert(__builtin_offsetof(upcall_info, cpus_possible) == 16, "cpus_possible");
_Static_assert(__builtin_offsetof(upcall_info, mem_policy) == 28, "mem_policy");
_Static_assert(__builtin_offsetof(upcall_info, cpu_mode) == 32, "cpu_mode");
_Static_assert(__builtin_offsetof(upcall_info, arch) == 36, "arch");
_Static_assert(__builtin_offsetof(upcall_info, reserved) == 40, "reserved");
%}

/* In-tree the Makefile points PKG_CONFIG_PATH at libupcall-uninstalled.pc. */
%insert(cgo_comment_typedefs) %{
#cgo pkg-config: libupcall
%}

%include <stdint.i>

/* Out-parameters: plain Go pointers to memory without Go pointers in it. */
%define UPCALL_OUT(CTYPE, GOTYPE)
%typemap(gotype) CTYPE "GOTYPE"
%typemap(in) CTYPE %{ $1 = ($1_ltype)$input; %}
%enddef

/* A new object comes back as a raw address; cupcall.Swigcptr... wraps it. */
UPCALL_OUT(upcall_ctx **ret, *uintptr)
UPCALL_OUT(upcall_session **ret, *uintptr)
UPCALL_OUT(int *result, *int32)
UPCALL_OUT(uint32_t *index, *uint32)
UPCALL_OUT(uint64_t *usec, *uint64)
UPCALL_OUT(upcall_info *info, *Info)

%insert(go_header) %{
// Info has the layout of struct upcall_info (checked on both sides).
type Info struct {
	Version      uint32
	Ops          uint32
	MemBlockSize uint64
	CpusPossible uint32
	CpusPresent  uint32
	CpusOnline   uint32
	MemPolicy    uint32
	CpuMode      uint32
	Arch         uint32
	Reserved     [6]uint32
}

var _ [unsafe.Sizeof(Info{}) - 64]byte
var _ [64 - unsafe.Sizeof(Info{})]byte
var _ [unsafe.Offsetof(Info{}.CpuMode) - 32]byte
var _ [32 - unsafe.Offsetof(Info{}.CpuMode)]byte
var _ [unsafe.Offsetof(Info{}.Arch) - 36]byte
var _ [36 - unsafe.Offsetof(Info{}.Arch)]byte
var _ [unsafe.Offsetof(Info{}.Reserved) - 40]byte
var _ [40 - unsafe.Offsetof(Info{}.Reserved)]byte
%}

%ignore upcall_info;

/* Callbacks: see shim.c. */
%ignore upcall_log_fn;
%ignore upcall_session_state_fn;
%ignore upcall_request_fn;
%ignore upcall_destroy_fn;
%ignore upcall_ctx_set_log_fn;
/* The caller-polls-the-sockets mode: a C loop's tool (its callback runs
 * with the context's lock held, which no binding's runtime can honour). */
%ignore upcall_ctx_set_io_fn;
%ignore upcall_session_process;
%ignore upcall_session_set_state_fn;
%ignore upcall_session_set_userdata;
%ignore upcall_session_get_userdata;
%ignore upcall_request_set_destroy_fn;
%ignore upcall_request_get_userdata;
%ignore upcall_devmgr_cpu_add;
%ignore upcall_devmgr_cpu_del;
%ignore upcall_devmgr_mmio_add;
%ignore upcall_devmgr_mmio_del;
%ignore upcall_devmgr_mem_add;
%ignore upcall_devmgr_mem_del;
%ignore upcall_devmgr_pci_add;
%ignore upcall_devmgr_pci_del;
%ignore upcall_devmgr_get_info;

/*
 * Blocking helpers: the Go package processes the context itself.
 * upcall_ctx_run() stays: Close() flushes with it once that goroutine ended.
 */
%ignore upcall_ctx_wait;
%ignore upcall_ctx_start_thread;
%ignore upcall_ctx_stop_thread;
%ignore upcall_session_wait_ready;
%ignore upcall_request_wait;
%ignore upcall_devmgr_cpu_add_sync;
%ignore upcall_devmgr_cpu_del_sync;
%ignore upcall_devmgr_mmio_add_sync;
%ignore upcall_devmgr_mmio_del_sync;
%ignore upcall_devmgr_mem_add_sync;
%ignore upcall_devmgr_mem_del_sync;
%ignore upcall_devmgr_pci_add_sync;
%ignore upcall_devmgr_pci_del_sync;
%ignore upcall_devmgr_get_info_sync;

%include <upcall/upcall.h>
