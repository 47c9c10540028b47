// SPDX-License-Identifier: GPL-2.0
/*
 * The device manager service ('d'): Dragonball's fixed-size request/reply
 * protocol, one request at a time per connection.
 *
 * Unlike Dragonball's guest, the reply buffer is zeroed for every request,
 * so no byte of an earlier reply can leak into a later one, and every
 * request is validated in full before anything acts on it.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/cpumask.h>
#include <linux/kernel.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "upcall.h"
#include "upcall_validate.h"

/* Dragonball's answer to a msg_type it does not know; kept for peers. */
#define DEVMGR_RESULT_UNKNOWN	(-1)

#define DEVMGR_REPLY_BODY(rep)	((rep) + sizeof(struct upcall_reply_header))

struct devmgr_bufs {
	u8 req[UPCALL_MSG_SIZE];
	u8 rep[UPCALL_MSG_SIZE];
};

static void devmgr_put_reply(u8 *rep, u32 type, int result, u32 size)
{
	struct upcall_reply_header *h = (struct upcall_reply_header *)rep;

	h->hdr.magic_version = cpu_to_le32(UPCALL_MAGIC_VERSION);
	h->hdr.msg_size = cpu_to_le32(size);
	h->hdr.msg_type = cpu_to_le32(type);
	h->hdr.msg_flags = 0;
	h->result = cpu_to_le32((u32)result);
}

/* The back ends this kernel has; the others' requests are -EOPNOTSUPP. */
static const struct upcall_backend *const devmgr_backends[] = {
#ifdef UPCALL_HAVE_CPU_BACKEND
	&upcall_cpu_backend,
#endif
#ifdef UPCALL_HAVE_MEM_BACKEND
	&upcall_mem_backend,
#endif
#ifdef UPCALL_HAVE_MMIO_BACKEND
	&upcall_mmio_backend,
#endif
#ifdef UPCALL_HAVE_PCI_BACKEND
	&upcall_pci_backend,
#endif
};

static u32 devmgr_backend_served(const struct upcall_backend *b)
{
	return b->served ? b->served() : BIT(b->add_type) | BIT(b->del_type);
}

/* The CPU request format this kernel takes: the VMM must speak it. */
static u32 devmgr_arch(void)
{
#if defined(CONFIG_X86_64)
	return UPCALL_GUEST_ARCH_X86_64;
#elif defined(CONFIG_ARM64)
	return UPCALL_GUEST_ARCH_AARCH64;
#else
	return UPCALL_GUEST_ARCH_UNKNOWN;
#endif
}

/*
 * GET_INFO (an upcall extension): what a guest without the back ends
 * reports, then what each back end says of itself.
 */
static int devmgr_get_info(u8 *body, u32 *size)
{
	struct upcall_info_reply info = { };
	u32 ops = 0;
	size_t i;

	info.version = cpu_to_le32(UPCALL_INFO_VERSION);
	info.cpus_possible = cpu_to_le32(num_possible_cpus());
	info.cpus_present = cpu_to_le32(num_present_cpus());
	info.cpus_online = cpu_to_le32(num_online_cpus());
	info.mem_policy = cpu_to_le32(UPCALL_MEM_POLICY_UNKNOWN);
	info.cpu_mode = cpu_to_le32(UPCALL_CPU_MODE_NONE);
	info.arch = cpu_to_le32(devmgr_arch());
	for (i = 0; i < ARRAY_SIZE(devmgr_backends); i++) {
		ops |= devmgr_backend_served(devmgr_backends[i]);
		if (devmgr_backends[i]->info)
			devmgr_backends[i]->info(&info);
	}
	info.ops = cpu_to_le32(ops);

	memcpy(body, &info, sizeof(info));
	*size = sizeof(info);
	return 0;
}

/*
 * Act on a hotplug request with @b, under upcall_hotplug_mutex.  The CPU
 * reply carries the index even on failure: it tells the VMM which vCPUs
 * were handled before the failing one, so it can roll back exactly.
 */
static int devmgr_hotplug(const struct upcall_backend *b,
			  const struct upcall_req *req, u8 *body, u32 *size)
{
	struct upcall_cpu_reply reply;
	u32 index = 0;
	int ret;

	mutex_lock(&upcall_hotplug_mutex);
	/* Unload has shut the socket: do not act when no reply can follow. */
	if (upcall_stopping())
		ret = -ESHUTDOWN;
	else if (req->type == b->add_type)
		ret = b->add(req, &index);
	else
		ret = b->del(req, &index);
	mutex_unlock(&upcall_hotplug_mutex);

	if (b->cpu_reply) {
		reply.index = cpu_to_le32(index);
		memcpy(body, &reply, sizeof(reply));
		*size = sizeof(reply);
	}
	return ret;
}

static int devmgr_dispatch(const struct upcall_req *req, u8 *body, u32 *size)
{
	const struct upcall_backend *b;
	size_t i;

	if (req->type == UPCALL_MSG_GET_INFO)
		return devmgr_get_info(body, size);
	/* (The validator answered types it does not know.) */
	for (i = 0; i < ARRAY_SIZE(devmgr_backends); i++) {
		b = devmgr_backends[i];
		if (req->type != b->add_type && req->type != b->del_type)
			continue;
		if (!(devmgr_backend_served(b) & BIT(req->type)))
			return -EOPNOTSUPP;
		return devmgr_hotplug(b, req, body, size);
	}
	/* Its back end is not compiled in: the kernel cannot do it. */
	return -EOPNOTSUPP;
}

int upcall_backends_init(void)
{
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(devmgr_backends); i++) {
		if (!devmgr_backends[i]->init)
			continue;
		ret = devmgr_backends[i]->init();
		if (ret) {
			pr_err("cannot set up the %s back end: %d\n",
			       devmgr_backends[i]->name, ret);
			while (i--)
				if (devmgr_backends[i]->exit)
					devmgr_backends[i]->exit();
			return ret;
		}
	}
	return 0;
}

/* In reverse order; virtio-mmio devices go, memory and PCI devices stay. */
void upcall_backends_exit(void)
{
	size_t i = ARRAY_SIZE(devmgr_backends);

	while (i--)
		if (devmgr_backends[i]->exit)
			devmgr_backends[i]->exit();
}

static void devmgr_process(struct upcall_conn *conn, const u8 *msg, u8 *rep)
{
	struct upcall_req req;
	u32 size = 0;
	int ret;

	memset(rep, 0, UPCALL_MSG_SIZE);

	ret = upcall_validate_request(msg, UPCALL_MSG_SIZE, &req);
	if (ret == -ENOMSG)
		ret = DEVMGR_RESULT_UNKNOWN;
	else if (!ret)
		ret = devmgr_dispatch(&req, DEVMGR_REPLY_BODY(rep), &size);

	if (ret)
		pr_info_ratelimited("cid %u: request type %u failed: %d\n",
				    conn->peer_cid, req.type, ret);

	devmgr_put_reply(rep, req.type, ret, size);
}

static int devmgr_serve(struct upcall_conn *conn)
{
	struct devmgr_bufs *b;
	int ret;

	b = kzalloc(sizeof(*b), GFP_KERNEL);
	if (!b)
		return -ENOMEM;

	/* The guest speaks first: CONNECT, {magic, 0, 0, 0} and zeros. */
	devmgr_put_reply(b->rep, UPCALL_MSG_CONNECT, 0, 0);
	ret = upcall_conn_send(conn, b->rep, UPCALL_MSG_SIZE);

	while (!ret) {
		ret = upcall_conn_recv_msg(conn, b->req, UPCALL_MSG_SIZE);
		if (ret == -ETIMEDOUT)
			pr_info_ratelimited("cid %u: request cut short for %d s, closing\n",
					    conn->peer_cid, UPCALL_SERVICE_TIMEOUT_SEC);
		if (ret)
			break;
		devmgr_process(conn, b->req, b->rep);
		ret = upcall_conn_send(conn, b->rep, UPCALL_MSG_SIZE);
	}

	kfree(b);
	/* The peer hanging up is how a session normally ends. */
	return ret == -ECONNRESET ? 0 : ret;
}

const struct upcall_service upcall_devmgr_service = {
	.id = UPCALL_SERVICE_DEVMGR,
	.name = "devmgr",
	.serve = devmgr_serve,
};
