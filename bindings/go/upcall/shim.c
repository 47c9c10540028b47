// SPDX-License-Identifier: MIT
/*
 * Callbacks of libupcall, forwarded to exported Go functions.  They never
 * block: the Go side only sends on a buffered channel or stores a state.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include <upcall/upcall.h>

#include "shim.h"
#include "_cgo_export.h"

void upcallgo_on_complete(upcall_request *req, int error, void *userdata)
{
	(void)req;
	goUpcallComplete((uintptr_t)userdata, error);
}

void upcallgo_on_destroy(void *userdata)
{
	goUpcallDestroy((uintptr_t)userdata);
}

static void on_state_destroy(void *userdata)
{
	goUpcallStateDestroy((uintptr_t)userdata);
}

static void on_log_destroy(void *userdata)
{
	goUpcallLogDestroy((uintptr_t)userdata);
}

static void on_state(upcall_session *session, upcall_session_state state,
		     int error, void *userdata)
{
	(void)session;
	goUpcallState((uintptr_t)userdata, (int)state, error);
}

static void on_log(upcall_ctx *ctx, int priority, const char *file, int line,
		   const char *fn, const char *format, va_list args,
		   void *userdata)
{
	char msg[512];

	(void)ctx;
	(void)file;
	(void)line;
	(void)fn;
	vsnprintf(msg, sizeof(msg), format, args);
	goUpcallLog((uintptr_t)userdata, priority, msg);
}

/*
 * The destroy callback first: once the userdata is set, a failure could
 * leave a handle nobody deletes.  Both calls fail only with -EINVAL, for
 * an object the caller does not have.
 */
int upcallgo_set_state_fn(uintptr_t session, uintptr_t handle)
{
	upcall_session *s = (upcall_session *)session;
	int r;

	r = upcall_session_set_destroy_fn(s, on_state_destroy);
	if (r < 0)
		return r;
	return upcall_session_set_state_fn(s, on_state, (void *)handle);
}

int upcallgo_set_log_fn(uintptr_t ctx, uintptr_t handle)
{
	upcall_ctx *c = (upcall_ctx *)ctx;
	int r;

	r = upcall_ctx_set_log_destroy_fn(c, on_log_destroy);
	if (r < 0)
		return r;
	return upcall_ctx_set_log_fn(c, on_log, (void *)handle);
}
