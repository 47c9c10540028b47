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
#include <linux/memory.h>
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

struct devmgr_op {
	u32 type;
	/* The back end's GET_INFO bits; NULL: always served. */
	u32 (*served)(void);
	/* Takes upcall_hotplug_mutex: it changes the guest's hardware. */
	bool hotplug;
	/* Returns the result; sets *size when the reply carries a body. */
	int (*handle)(const struct upcall_req *req, u8 *body, u32 *size);
	/* Instead of handle, for requests whose reply has no body. */
	int (*act)(const struct upcall_req *req);
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

/*
 * The CPU reply carries the index even on failure: it tells the VMM which
 * vCPUs were handled before the failing one, so it can roll back exactly.
 */
static int devmgr_cpu(const struct upcall_req *req, u8 *body, u32 *size)
{
	struct upcall_cpu_reply reply;
	u32 index = 0;
	int ret;

	if (req->type == UPCALL_MSG_ADD_CPU)
		ret = upcall_cpu_add(req, &index);
	else
		ret = upcall_cpu_del(req, &index);

	reply.index = cpu_to_le32(index);
	memcpy(body, &reply, sizeof(reply));
	*size = sizeof(reply);
	return ret;
}

static u64 devmgr_mem_block_size(void)
{
#ifdef CONFIG_MEMORY_HOTPLUG
	return memory_block_size_bytes();
#else
	return 0;
#endif
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

static u32 devmgr_served(void)
{
	return upcall_cpu_ops() | upcall_mem_ops() | upcall_mmio_ops() |
	       upcall_pci_ops();
}

/*
 * GET_INFO (an upcall extension).  The memory policy is the guest's
 * auto_online_blocks, which decides how memory that others hot-add (ACPI)
 * comes up; ADD_MEM onlines its memory whatever it says.
 */
static int devmgr_get_info(const struct upcall_req *req, u8 *body, u32 *size)
{
	struct upcall_info_reply info = { };

	info.version = cpu_to_le32(UPCALL_INFO_VERSION);
	info.ops = cpu_to_le32(devmgr_served());
	info.mem_block_size = cpu_to_le64(devmgr_mem_block_size());
	info.cpus_possible = cpu_to_le32(num_possible_cpus());
	info.cpus_present = cpu_to_le32(num_present_cpus());
	info.cpus_online = cpu_to_le32(num_online_cpus());
	info.mem_policy = cpu_to_le32(upcall_mem_policy());
	info.cpu_mode = cpu_to_le32(upcall_cpu_mode());
	info.arch = cpu_to_le32(devmgr_arch());

	memcpy(body, &info, sizeof(info));
	*size = sizeof(info);
	return 0;
}

#define DEVMGR_OP(t, ops, fn) \
	{ .type = (t), .served = (ops), .hotplug = true, .act = (fn) }

static const struct devmgr_op devmgr_ops[] = {
	{ .type = UPCALL_MSG_ADD_CPU, .served = upcall_cpu_ops,
	  .hotplug = true, .handle = devmgr_cpu },
	{ .type = UPCALL_MSG_DEL_CPU, .served = upcall_cpu_ops,
	  .hotplug = true, .handle = devmgr_cpu },
	DEVMGR_OP(UPCALL_MSG_ADD_MEM, upcall_mem_ops, upcall_mem_add),
	DEVMGR_OP(UPCALL_MSG_DEL_MEM, upcall_mem_ops, upcall_mem_del),
	DEVMGR_OP(UPCALL_MSG_ADD_MMIO, upcall_mmio_ops, upcall_mmio_add),
	DEVMGR_OP(UPCALL_MSG_DEL_MMIO, upcall_mmio_ops, upcall_mmio_del),
	DEVMGR_OP(UPCALL_MSG_ADD_PCI, upcall_pci_ops, upcall_pci_add),
	DEVMGR_OP(UPCALL_MSG_DEL_PCI, upcall_pci_ops, upcall_pci_del),
	{ .type = UPCALL_MSG_GET_INFO, .handle = devmgr_get_info },
};

static int devmgr_call(const struct devmgr_op *op,
		       const struct upcall_req *req, u8 *body, u32 *size)
{
	if (op->act)
		return op->act(req);
	return op->handle(req, body, size);
}

static int devmgr_dispatch(const struct upcall_req *req, u8 *body, u32 *size)
{
	const struct devmgr_op *op = NULL;
	size_t i;
	int ret;

	for (i = 0; i < ARRAY_SIZE(devmgr_ops); i++) {
		if (devmgr_ops[i].type == req->type) {
			op = &devmgr_ops[i];
			break;
		}
	}
	if (!op)
		return DEVMGR_RESULT_UNKNOWN;
	if (op->served && !(op->served() & BIT(req->type)))
		return -EOPNOTSUPP;
	if (!op->hotplug)
		return devmgr_call(op, req, body, size);

	mutex_lock(&upcall_hotplug_mutex);
	/* Unload has shut the socket: do not act when no reply can follow. */
	if (upcall_stopping())
		ret = -ESHUTDOWN;
	else
		ret = devmgr_call(op, req, body, size);
	mutex_unlock(&upcall_hotplug_mutex);
	return ret;
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
