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

/*
 * The hotplug back ends.  Each *_ops() returns the GET_INFO bits
 * (BIT(msg_type)) of the requests it serves on this kernel; a request
 * whose bit is clear is answered -EOPNOTSUPP.  The add/del functions run
 * under upcall_hotplug_mutex, which also guards each back end's record of
 * what it added.
 */

/*
 * vCPU hotplug (upcall_cpu.c); index: x86_64, the first APIC id not done;
 * arm64, the online count before the request plus or minus those done.
 */
u32 upcall_cpu_ops(void);
/* The enum upcall_cpu_mode GET_INFO reports. */
u32 upcall_cpu_mode(void);
int upcall_cpu_add(const struct upcall_req *req, u32 *index);
int upcall_cpu_del(const struct upcall_req *req, u32 *index);
int upcall_cpu_init(void);
void upcall_cpu_exit(void);

/* Memory hotplug (upcall_mem.c). */
u32 upcall_mem_ops(void);
int upcall_mem_add(const struct upcall_req *req);
int upcall_mem_del(const struct upcall_req *req);
/* The guest's auto-online policy, an enum upcall_mem_policy value. */
u32 upcall_mem_policy(void);
int upcall_mem_init(void);
void upcall_mem_exit(void);

/* virtio-mmio devices (upcall_mmio.c). */
u32 upcall_mmio_ops(void);
int upcall_mmio_add(const struct upcall_req *req);
int upcall_mmio_del(const struct upcall_req *req);
int upcall_mmio_init(void);
void upcall_mmio_exit(void);

/* PCI devices (upcall_pci.c); exit forgets what ADD_PCI added. */
u32 upcall_pci_ops(void);
int upcall_pci_add(const struct upcall_req *req);
int upcall_pci_del(const struct upcall_req *req);
void upcall_pci_exit(void);

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
