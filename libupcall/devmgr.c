// SPDX-License-Identifier: MIT
/*
 * Device-manager calls: check the caller's arguments, build the request
 * body in wire format, and submit.  The _sync helpers are the async calls
 * plus upcall_request_wait(), nothing more.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "libupcall-private.h"

static int cpu_submit(upcall_session *s, uint32_t type, const uint8_t *ids,
		      size_t n, upcall_request_fn cb, void *userdata,
		      upcall_request **ret)
{
	struct upcall_cpu_request_x86 x86;
	struct upcall_cpu_request_arm64 arm;

	if (!s || n == 0 || n > UPCALL_CPU_MAX_COUNT)
		return -EINVAL;
	if (s->arch == UPCALL_ARCH_AARCH64) {
		if (ids)
			return -EINVAL;
		arm.count = (uint8_t)n;
		return request_submit(s, type, &arm, sizeof(arm), (uint32_t)n,
				      cb, userdata, ret);
	}
	if (!ids)
		return -EINVAL;
	memset(&x86, 0, sizeof(x86));
	x86.count = (uint8_t)n;
	x86.apic_ver = s->apic_ver;
	memcpy(x86.apic_ids, ids, n);
	return request_submit(s, type, &x86, sizeof(x86), (uint32_t)n, cb,
			      userdata, ret);
}

UPCALL_EXPORT int upcall_devmgr_cpu_add(upcall_session *s, const uint8_t *ids,
					size_t n, upcall_request_fn cb,
					void *userdata, upcall_request **ret)
{
	return cpu_submit(s, UPCALL_MSG_ADD_CPU, ids, n, cb, userdata, ret);
}

UPCALL_EXPORT int upcall_devmgr_cpu_del(upcall_session *s, const uint8_t *ids,
					size_t n, upcall_request_fn cb,
					void *userdata, upcall_request **ret)
{
	return cpu_submit(s, UPCALL_MSG_DEL_CPU, ids, n, cb, userdata, ret);
}

static int mmio_submit(upcall_session *s, uint32_t type, uint64_t base,
		       uint64_t size, uint32_t irq, upcall_request_fn cb,
		       void *userdata, upcall_request **ret)
{
	struct upcall_mmio_request m = {
		.mmio_base = htole64(base),
		.mmio_size = htole64(size),
		.mmio_irq = htole32(irq),
	};

	if (!s || size == 0 || base > UINT64_MAX - (size - 1))
		return -EINVAL;
	return request_submit(s, type, &m, sizeof(m), 0, cb, userdata, ret);
}

UPCALL_EXPORT int upcall_devmgr_mmio_add(upcall_session *s, uint64_t base,
					 uint64_t size, uint32_t irq,
					 upcall_request_fn cb, void *userdata,
					 upcall_request **ret)
{
	return mmio_submit(s, UPCALL_MSG_ADD_MMIO, base, size, irq, cb,
			   userdata, ret);
}

UPCALL_EXPORT int upcall_devmgr_mmio_del(upcall_session *s, uint64_t base,
					 uint64_t size, uint32_t irq,
					 upcall_request_fn cb, void *userdata,
					 upcall_request **ret)
{
	return mmio_submit(s, UPCALL_MSG_DEL_MMIO, base, size, irq, cb,
			   userdata, ret);
}

static int mem_submit(upcall_session *s, uint32_t type, uint64_t addr,
		      uint64_t size, uint32_t node, uint32_t flags,
		      upcall_request_fn cb, void *userdata,
		      upcall_request **ret)
{
	struct upcall_mem_request m = {
		.addr = htole64(addr),
		.size = htole64(size),
		.node = htole32(node),
		.flags = htole32(flags),
	};

	if (!s || size == 0 || addr > UINT64_MAX - (size - 1) ||
	    (flags & ~UPCALL_MEM_F_MOVABLE))
		return -EINVAL;
	return request_submit(s, type, &m, sizeof(m), 0, cb, userdata, ret);
}

UPCALL_EXPORT int upcall_devmgr_mem_add(upcall_session *s, uint64_t addr,
					uint64_t size, uint32_t node,
					uint32_t flags, upcall_request_fn cb,
					void *userdata, upcall_request **ret)
{
	return mem_submit(s, UPCALL_MSG_ADD_MEM, addr, size, node, flags, cb,
			  userdata, ret);
}

UPCALL_EXPORT int upcall_devmgr_mem_del(upcall_session *s, uint64_t addr,
					uint64_t size, upcall_request_fn cb,
					void *userdata, upcall_request **ret)
{
	return mem_submit(s, UPCALL_MSG_DEL_MEM, addr, size, 0, 0, cb,
			  userdata, ret);
}

static int pci_submit(upcall_session *s, uint32_t type, uint8_t bus,
		      uint8_t devfn, upcall_request_fn cb, void *userdata,
		      upcall_request **ret)
{
	struct upcall_pci_request p = { .busno = bus, .devfn = devfn };

	if (!s)
		return -EINVAL;
	return request_submit(s, type, &p, sizeof(p), 0, cb, userdata, ret);
}

UPCALL_EXPORT int upcall_devmgr_pci_add(upcall_session *s, uint8_t bus,
					uint8_t devfn, upcall_request_fn cb,
					void *userdata, upcall_request **ret)
{
	return pci_submit(s, UPCALL_MSG_ADD_PCI, bus, devfn, cb, userdata, ret);
}

UPCALL_EXPORT int upcall_devmgr_pci_del(upcall_session *s, uint8_t bus,
					uint8_t devfn, upcall_request_fn cb,
					void *userdata, upcall_request **ret)
{
	return pci_submit(s, UPCALL_MSG_DEL_PCI, bus, devfn, cb, userdata, ret);
}

UPCALL_EXPORT int upcall_devmgr_get_info(upcall_session *s,
					 upcall_request_fn cb, void *userdata,
					 upcall_request **ret)
{
	if (!s)
		return -EINVAL;
	return request_submit(s, UPCALL_MSG_GET_INFO, NULL, 0, 0, cb, userdata,
			      ret);
}

/* Wait for a request just submitted: 1 once the guest answered, or -errno. */
static int sync_wait(upcall_request *req, uint64_t timeout_usec)
{
	int r;

	if (timeout_usec)
		upcall_request_set_timeout(req, timeout_usec);
	r = upcall_request_wait(req, UINT64_MAX);
	return r < 0 ? r : upcall_request_get_status(req);
}

/*
 * Turn a submission's outcome into the _sync convention (see upcall.h).
 * The guest's word is its result, or for GET_INFO (@info) what
 * upcall_request_get_info() makes of the answer.
 */
static int sync_finish(int r, upcall_request *req, uint64_t timeout_usec,
		       int *result, uint32_t *index, upcall_info *info)
{
	int res;

	if (r < 0)
		return r;
	r = sync_wait(req, timeout_usec);
	if (r == 1) {
		if (info)
			res = upcall_request_get_info(req, info);
		else
			upcall_request_get_result(req, &res);
		if (index)
			upcall_request_get_cpu_index(req, index);
		if (result)
			*result = res;
		r = result ? 0 : res;
	}
	upcall_request_unref(req);
	return r;
}

UPCALL_EXPORT int upcall_devmgr_cpu_add_sync(upcall_session *s,
					     const uint8_t *ids, size_t n,
					     uint64_t timeout_usec, int *result,
					     uint32_t *index)
{
	upcall_request *req = NULL;
	int r = upcall_devmgr_cpu_add(s, ids, n, NULL, NULL, &req);

	return sync_finish(r, req, timeout_usec, result, index, NULL);
}

UPCALL_EXPORT int upcall_devmgr_cpu_del_sync(upcall_session *s,
					     const uint8_t *ids, size_t n,
					     uint64_t timeout_usec, int *result,
					     uint32_t *index)
{
	upcall_request *req = NULL;
	int r = upcall_devmgr_cpu_del(s, ids, n, NULL, NULL, &req);

	return sync_finish(r, req, timeout_usec, result, index, NULL);
}

UPCALL_EXPORT int upcall_devmgr_mmio_add_sync(upcall_session *s, uint64_t base,
					      uint64_t size, uint32_t irq,
					      uint64_t timeout_usec, int *result)
{
	upcall_request *req = NULL;
	int r = upcall_devmgr_mmio_add(s, base, size, irq, NULL, NULL, &req);

	return sync_finish(r, req, timeout_usec, result, NULL, NULL);
}

UPCALL_EXPORT int upcall_devmgr_mmio_del_sync(upcall_session *s, uint64_t base,
					      uint64_t size, uint32_t irq,
					      uint64_t timeout_usec, int *result)
{
	upcall_request *req = NULL;
	int r = upcall_devmgr_mmio_del(s, base, size, irq, NULL, NULL, &req);

	return sync_finish(r, req, timeout_usec, result, NULL, NULL);
}

UPCALL_EXPORT int upcall_devmgr_mem_add_sync(upcall_session *s, uint64_t addr,
					     uint64_t size, uint32_t node,
					     uint32_t flags, uint64_t timeout_usec,
					     int *result)
{
	upcall_request *req = NULL;
	int r = upcall_devmgr_mem_add(s, addr, size, node, flags, NULL, NULL,
				      &req);

	return sync_finish(r, req, timeout_usec, result, NULL, NULL);
}

UPCALL_EXPORT int upcall_devmgr_mem_del_sync(upcall_session *s, uint64_t addr,
					     uint64_t size, uint64_t timeout_usec,
					     int *result)
{
	upcall_request *req = NULL;
	int r = upcall_devmgr_mem_del(s, addr, size, NULL, NULL, &req);

	return sync_finish(r, req, timeout_usec, result, NULL, NULL);
}

UPCALL_EXPORT int upcall_devmgr_pci_add_sync(upcall_session *s, uint8_t bus,
					     uint8_t devfn, uint64_t timeout_usec,
					     int *result)
{
	upcall_request *req = NULL;
	int r = upcall_devmgr_pci_add(s, bus, devfn, NULL, NULL, &req);

	return sync_finish(r, req, timeout_usec, result, NULL, NULL);
}

UPCALL_EXPORT int upcall_devmgr_pci_del_sync(upcall_session *s, uint8_t bus,
					     uint8_t devfn, uint64_t timeout_usec,
					     int *result)
{
	upcall_request *req = NULL;
	int r = upcall_devmgr_pci_del(s, bus, devfn, NULL, NULL, &req);

	return sync_finish(r, req, timeout_usec, result, NULL, NULL);
}

UPCALL_EXPORT int upcall_devmgr_get_info_sync(upcall_session *s,
					      uint64_t timeout_usec,
					      int *result, upcall_info *info)
{
	upcall_request *req = NULL;
	int r;

	if (!info)
		return -EINVAL;
	r = upcall_devmgr_get_info(s, NULL, NULL, &req);
	return sync_finish(r, req, timeout_usec, result, NULL, info);
}
