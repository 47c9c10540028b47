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

#include <upcall/upcall.h>

/*
 * The completion and destroy callbacks of every request, passed to
 * libupcall's upcall_devmgr_*() by the Go code itself; their userdata is
 * the request's cgo.Handle.
 */
void upcallgo_on_complete(upcall_request *req, int error, void *userdata);
void upcallgo_on_destroy(void *userdata);

/* Go holds libupcall's objects as uintptr_t (SWIG's handles): back to C. */
static inline upcall_session *upcallgo_session(uintptr_t p)
{
	return (upcall_session *)p;
}

/* A cgo.Handle as userdata (no Go pointer: an integer). */
static inline void *upcallgo_userdata(uintptr_t h)
{
	return (void *)h;
}

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
