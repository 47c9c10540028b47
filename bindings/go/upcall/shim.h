/* SPDX-License-Identifier: MIT */
/*
 * The C side of completion dispatch.  Every callback libupcall takes is one
 * of the static functions in shim.c, which hand their userdata (a Go
 * runtime/cgo.Handle, never a Go pointer) to an exported Go function; each
 * handle is deleted by the destroy callback of the object holding it.  Addresses cross as uintptr_t so that no Go code converts
 * integers to pointers.
 */
#ifndef UPCALLGO_SHIM_H
#define UPCALLGO_SHIM_H

#include <stddef.h>
#include <stdint.h>

enum upcallgo_op {
	UPCALLGO_CPU_ADD,
	UPCALLGO_CPU_DEL,
	UPCALLGO_MMIO_ADD,
	UPCALLGO_MMIO_DEL,
	UPCALLGO_MEM_ADD,
	UPCALLGO_MEM_DEL,
	UPCALLGO_PCI_ADD,
	UPCALLGO_PCI_DEL,
	UPCALLGO_GET_INFO,
};

/*
 * The arguments of every device-manager call, unused ones 0.  No pointers:
 * Go passes it by value (the APIC ids go beside it).
 */
struct upcallgo_args {
	uint64_t n;		/* CPU: count */
	uint64_t addr;		/* MMIO base, memory address */
	uint64_t size;		/* MMIO / memory size */
	uint32_t irq_node;	/* MMIO irq, memory node */
	uint32_t flags;		/* memory flags */
	uint8_t bus, devfn;	/* PCI */
};

/*
 * Submit @op on @session (@ids: the APIC ids of an x86_64 CPU call, else
 * NULL) with the completion callback and the destroy
 * callback set, userdata @handle.  On success *ret is the request (one
 * reference) and the destroy callback owns @handle; on failure the caller
 * still owns it.
 */
int upcallgo_submit(uintptr_t session, int op, const uint8_t *ids,
		    struct upcallgo_args a, uintptr_t handle, uintptr_t *ret);

/*
 * State callback with @handle as userdata, and the session's destroy
 * callback, which deletes @handle when libupcall frees the session (after
 * its last state event).  On success the session owns @handle.
 */
int upcallgo_set_state_fn(uintptr_t session, uintptr_t handle);

/*
 * Log callback with @handle as userdata, and the log destroy callback,
 * which deletes @handle when libupcall frees the context.  On success the
 * context owns @handle.
 */
int upcallgo_set_log_fn(uintptr_t ctx, uintptr_t handle);

#endif
