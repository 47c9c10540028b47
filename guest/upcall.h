/* SPDX-License-Identifier: GPL-2.0 */
/*
 * upcall guest server: internal interfaces between the listener, the
 * services and the hotplug back ends.
 */
#ifndef _UPCALL_H
#define _UPCALL_H

#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/net.h>
#include <linux/types.h>
#include <linux/workqueue.h>

#include <upcall/wire.h>

struct upcall_req;

/* One accepted vsock stream; owned by its work item once queued. */
struct upcall_conn {
	struct list_head node;		/* on the live list, under its mutex */
	struct work_struct work;
	struct socket *sock;
	u32 peer_cid;
};

int upcall_conn_recv(struct upcall_conn *conn, void *buf, size_t len);
/* One whole message: idle first, then bounded (-ETIMEDOUT). */
int upcall_conn_recv_msg(struct upcall_conn *conn, void *buf, size_t len);
int upcall_conn_send(struct upcall_conn *conn, const void *buf, size_t len);

/* True once module unload has begun: no new hotplug work may start. */
bool upcall_stopping(void);

/*
 * Every CPU, memory and device operation runs under this one mutex, so
 * that requests from concurrent connections never interleave.
 */
extern struct mutex upcall_hotplug_mutex;

/* A service, selected by the first byte a client sends. */
struct upcall_service {
	u8 id;
	const char *name;
	/* Serve @conn until the peer leaves; the caller closes it. */
	int (*serve)(struct upcall_conn *conn);
};

extern const struct upcall_service upcall_devmgr_service;

/**
 * struct upcall_backend - one kind of hardware the device manager hotplugs
 * @name: what it adds, for messages
 * @add_type: the request that adds (UPCALL_MSG_ADD_*)
 * @del_type: the request that removes (UPCALL_MSG_DEL_*)
 * @cpu_reply: its replies carry a struct upcall_cpu_reply, success or not
 * @served: the GET_INFO bits (BIT(msg_type)) of the requests it serves on
 *	this guest, which can depend on the hardware; NULL: both, always.  A
 *	request whose bit is clear is answered -EOPNOTSUPP.
 * @add: act on an add request, under upcall_hotplug_mutex, which also
 *	guards the back end's record of what it added.  @index is the CPU
 *	reply's index (@cpu_reply only).  Returns 0 or a negative errno.
 * @del: the same for a remove request
 * @info: fill the back end's fields of a GET_INFO reply (NULL: none)
 * @init: set up at load (NULL: nothing); an error fails the load
 * @exit: undo @init and forget the record at unload (NULL: nothing)
 *
 * A back end the kernel cannot support is not compiled at all: the
 * device manager leaves it out of its table (upcall_devmgr.c), and its
 * requests are answered -EOPNOTSUPP.
 */
struct upcall_backend {
	const char *name;
	u32 add_type;
	u32 del_type;
	bool cpu_reply;
	u32 (*served)(void);
	int (*add)(const struct upcall_req *req, u32 *index);
	int (*del)(const struct upcall_req *req, u32 *index);
	void (*info)(struct upcall_info_reply *info);
	int (*init)(void);
	void (*exit)(void);
};

/*
 * The back ends, each where the kernel has what it needs:
 * vCPUs (upcall_cpu.c): x86_64 by APIC id, arm64 by count;
 * memory (upcall_mem.c); virtio-mmio devices (upcall_mmio.c), where the
 * request's IRQ can be mapped; PCI devices (upcall_pci.c).
 */
#if (defined(CONFIG_X86_64) || defined(CONFIG_ARM64)) && defined(CONFIG_HOTPLUG_CPU)
#define UPCALL_HAVE_CPU_BACKEND 1
extern const struct upcall_backend upcall_cpu_backend;
#endif
#if defined(CONFIG_MEMORY_HOTPLUG) && defined(CONFIG_MEMORY_HOTREMOVE)
#define UPCALL_HAVE_MEM_BACKEND 1
extern const struct upcall_backend upcall_mem_backend;
#endif
#if (defined(CONFIG_X86) || defined(CONFIG_ARM64)) && IS_ENABLED(CONFIG_VIRTIO_MMIO)
#define UPCALL_HAVE_MMIO_BACKEND 1
extern const struct upcall_backend upcall_mmio_backend;
#endif
#if IS_ENABLED(CONFIG_PCI)
#define UPCALL_HAVE_PCI_BACKEND 1
extern const struct upcall_backend upcall_pci_backend;
#endif

/* Set up every back end (upcall_devmgr.c); undone by upcall_backends_exit(). */
int upcall_backends_init(void);
void upcall_backends_exit(void);

#if IS_ENABLED(CONFIG_PCI)
struct pci_dev;
/*
 * Exported for hotplug drivers (EXPORT_SYMBOL_GPL) but declared only in
 * the PCI core's private drivers/pci/pci.h: scans behind a hot-added bridge.
 */
int pci_hp_add_bridge(struct pci_dev *dev);
#endif

/*
 * Exported (EXPORT_SYMBOL_GPL) but declared only in RCU's private
 * kernel/rcu/rcu.h: while expedited, synchronize_rcu() acts as
 * synchronize_rcu_expedited() (unless booted with rcupdate.rcu_normal=1).
 * Tiny RCU exports neither; its grace periods need no expediting.
 */
#ifndef CONFIG_TINY_RCU
void rcu_expedite_gp(void);
void rcu_unexpedite_gp(void);
#else
static inline void rcu_expedite_gp(void) { }
static inline void rcu_unexpedite_gp(void) { }
#endif

#endif /* _UPCALL_H */
