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

static void on_complete(upcall_request *req, int error, void *userdata)
{
	(void)req;
	goUpcallComplete((uintptr_t)userdata, error);
}

static void on_destroy(void *userdata)
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

static int submit(upcall_session *s, int op, const uint8_t *ids,
		  const struct upcallgo_args *a, void *ud, upcall_request **req)
{
	switch (op) {
	case UPCALLGO_CPU_ADD:
		return upcall_devmgr_cpu_add(s, ids, a->n, on_complete, ud, req);
	case UPCALLGO_CPU_DEL:
		return upcall_devmgr_cpu_del(s, ids, a->n, on_complete, ud, req);
	case UPCALLGO_MMIO_ADD:
		return upcall_devmgr_mmio_add(s, a->addr, a->size, a->irq_node,
					      on_complete, ud, req);
	case UPCALLGO_MMIO_DEL:
		return upcall_devmgr_mmio_del(s, a->addr, a->size, a->irq_node,
					      on_complete, ud, req);
	case UPCALLGO_MEM_ADD:
		return upcall_devmgr_mem_add(s, a->addr, a->size, a->irq_node,
					     a->flags, on_complete, ud, req);
	case UPCALLGO_MEM_DEL:
		return upcall_devmgr_mem_del(s, a->addr, a->size, on_complete,
					     ud, req);
	case UPCALLGO_PCI_ADD:
		return upcall_devmgr_pci_add(s, a->bus, a->devfn, on_complete,
					     ud, req);
	case UPCALLGO_PCI_DEL:
		return upcall_devmgr_pci_del(s, a->bus, a->devfn, on_complete,
					     ud, req);
	case UPCALLGO_GET_INFO:
		return upcall_devmgr_get_info(s, on_complete, ud, req);
	}
	return -EINVAL;
}

int upcallgo_submit(uintptr_t session, int op, const uint8_t *ids,
		    struct upcallgo_args a, uintptr_t handle, uintptr_t *ret)
{
	upcall_request *req = NULL;
	int r;

	r = submit((upcall_session *)session, op, ids, &a, (void *)handle, &req);
	if (r < 0)
		return r;
	/*
	 * Our reference keeps the request alive until this is set, so the
	 * destroy callback cannot be missed even if it completed already.
	 */
	upcall_request_set_destroy_fn(req, on_destroy);
	*ret = (uintptr_t)req;
	return 0;
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
