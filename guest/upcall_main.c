// SPDX-License-Identifier: GPL-2.0
/*
 * upcall guest server: a vsock listener that hands each connection to the
 * service named by its first byte.
 *
 * One kthread accepts; every accepted stream is served by its own work item
 * on a private unbound workqueue, so several connections are served at once
 * and module unload can wait for all of them with destroy_workqueue().
 * Nothing runs module code after upcall_exit() returns: the listener is
 * joined with kthread_stop() and the connection work is drained, so the
 * module takes no references on itself.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/net.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/socket.h>
#include <linux/uio.h>
#include <linux/vm_sockets.h>
#include <linux/wait.h>
#include <net/net_namespace.h>
#include <net/sock.h>

#include "upcall.h"
#include "upcall_compat.h"

/* Far more than a VMM needs; bounds what a flood of connects can pin. */
#define UPCALL_MAX_CONNS	64
/*
 * A burst of connects up to the cap waits in the queue instead of being
 * reset while the accept thread is not yet scheduled (a loaded or emulated
 * guest): vsock refuses a connect outright once the backlog is full.
 */
#define UPCALL_BACKLOG		UPCALL_MAX_CONNS
/* How long unload lets a request in hand finish and deliver its reply. */
#define UPCALL_UNLOAD_GRACE	(2 * HZ)
/* How long the service byte, or the rest of a begun message, may take. */
#define UPCALL_READ_TIMEOUT	(UPCALL_SERVICE_TIMEOUT_SEC * HZ)
/* How often the accept loop looks whether unload has begun. */
#define UPCALL_ACCEPT_POLL	(HZ / 5)
/* Ports below this need CAP_NET_BIND_SERVICE (vsock's LAST_RESERVED_PORT + 1) */
#define UPCALL_FIRST_UNPRIVILEGED_PORT	1024

static unsigned int upcall_port = UPCALL_DEFAULT_PORT;
static bool allow_local;
static bool secure_port;

/* Serialises all hotplug work across connections; see upcall.h. */
DEFINE_MUTEX(upcall_hotplug_mutex);

/* Live connections; upcall_unloading is only set with this mutex held. */
static DEFINE_MUTEX(upcall_conns_mutex);
static LIST_HEAD(upcall_conns);
static unsigned int upcall_nr_conns;
static DECLARE_WAIT_QUEUE_HEAD(upcall_conns_gone);
static bool upcall_unloading;

static struct workqueue_struct *upcall_wq;
static struct socket *upcall_listener;
static struct task_struct *upcall_listener_task;

static const struct upcall_service *const upcall_services[] = {
	&upcall_devmgr_service,
};

static int upcall_port_set(const char *val, const struct kernel_param *kp)
{
	unsigned int port;
	int ret;

	ret = kstrtouint(val, 0, &port);
	if (ret)
		return ret;
	if (port < 1 || port > 65535)
		return -EINVAL;
	*(unsigned int *)kp->arg = port;
	return 0;
}

static const struct kernel_param_ops upcall_port_ops = {
	.set = upcall_port_set,
	.get = param_get_uint,
};

module_param_cb(port, &upcall_port_ops, &upcall_port, 0444);
MODULE_PARM_DESC(port, "vsock port to listen on, 1..65535 (default 219)");
/* Writable by root: it decides for connections accepted from then on. */
module_param(allow_local, bool, 0644);
MODULE_PARM_DESC(allow_local,
		 "also accept peers on the local CID 1 (vsock loopback; for tests)");
/*
 * On vhost-vsock only a host process with CAP_NET_BIND_SERVICE can connect
 * from a port below 1024 (as NFS's "secure" export option relies on for
 * TCP).  Hybrid-vsock VMMs pick the port themselves: see guest/README.md.
 */
module_param(secure_port, bool, 0644);
MODULE_PARM_DESC(secure_port,
		 "only accept peers on a privileged vsock port (below 1024)");

bool upcall_stopping(void)
{
	return READ_ONCE(upcall_unloading);
}

/*
 * Read exactly @len bytes.  MSG_WAITALL asks for the whole buffer, but a
 * timeout, a shutdown or the transport may still return less, so loop.
 * Returns 0, -ECONNRESET at end of stream, or the socket's error.
 */
int upcall_conn_recv(struct upcall_conn *conn, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct kvec iov = { .iov_base = buf + done, .iov_len = len - done };
		struct msghdr msg = { };
		int n;

		n = kernel_recvmsg(conn->sock, &msg, &iov, 1, iov.iov_len,
				   MSG_WAITALL);
		if (n < 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		done += n;
	}
	return 0;
}

/* upcall_conn_recv() within @timeout jiffies: -EAGAIN when it runs out. */
static int upcall_conn_recv_within(struct upcall_conn *conn, void *buf,
				   size_t len, long timeout)
{
	struct sock *sk = conn->sock->sk;
	int ret;

	WRITE_ONCE(sk->sk_rcvtimeo, timeout);
	ret = upcall_conn_recv(conn, buf, len);
	WRITE_ONCE(sk->sk_rcvtimeo, MAX_SCHEDULE_TIMEOUT);
	return ret;
}

/*
 * Read one message.  A session may sit idle between messages for as long
 * as its peer likes, but once a message has begun, the rest must arrive
 * within UPCALL_READ_TIMEOUT: a client that sends half a request must not
 * hold a worker, and one of the UPCALL_MAX_CONNS slots, forever.  Returns
 * what upcall_conn_recv() does, or -ETIMEDOUT for a message cut short.
 */
int upcall_conn_recv_msg(struct upcall_conn *conn, void *buf, size_t len)
{
	struct kvec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { };
	int n, ret;

	n = kernel_recvmsg(conn->sock, &msg, &iov, 1, len, 0);
	if (n < 0)
		return n;
	if (n == 0)
		return -ECONNRESET;
	if ((size_t)n == len)
		return 0;

	ret = upcall_conn_recv_within(conn, buf + n, len - n,
				      UPCALL_READ_TIMEOUT);
	return ret == -EAGAIN ? -ETIMEDOUT : ret;
}

int upcall_conn_send(struct upcall_conn *conn, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		struct kvec iov = {
			.iov_base = (void *)buf + done,
			.iov_len = len - done,
		};
		/* A vanished peer must not signal the worker. */
		struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
		int n;

		n = kernel_sendmsg(conn->sock, &msg, &iov, 1, iov.iov_len);
		if (n < 0)
			return n;
		if (n == 0)
			return -EPIPE;
		done += n;
	}
	return 0;
}

static const struct upcall_service *upcall_service_find(u8 id)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(upcall_services); i++)
		if (upcall_services[i]->id == id)
			return upcall_services[i];
	return NULL;
}

static void upcall_conn_close(struct upcall_conn *conn)
{
	mutex_lock(&upcall_conns_mutex);
	list_del(&conn->node);
	WRITE_ONCE(upcall_nr_conns, upcall_nr_conns - 1);
	if (!upcall_nr_conns)
		wake_up(&upcall_conns_gone);
	mutex_unlock(&upcall_conns_mutex);

	/* Off the list, so upcall_exit() no longer touches the socket. */
	sock_release(conn->sock);
	kfree(conn);
}

static void upcall_conn_work(struct work_struct *work)
{
	struct upcall_conn *conn = container_of(work, struct upcall_conn, work);
	const struct upcall_service *svc;
	u8 id;
	int ret;

	/* One that connects and says nothing must not hold a worker. */
	ret = upcall_conn_recv_within(conn, &id, 1, UPCALL_READ_TIMEOUT);
	if (ret == -ECONNRESET) {
		/* Connect-and-close is how a VMM probes for the server. */
		pr_debug("cid %u closed before choosing a service\n",
			 conn->peer_cid);
		goto out;
	}
	if (ret) {
		pr_info_ratelimited("cid %u sent no service byte (%d), closing\n",
				    conn->peer_cid, ret);
		goto out;
	}

	svc = upcall_service_find(id);
	if (!svc) {
		pr_info_ratelimited("cid %u asked for unknown service 0x%02x, closing\n",
				    conn->peer_cid, id);
		goto out;
	}

	ret = svc->serve(conn);
	pr_debug("cid %u: %s service ended (%d)\n", conn->peer_cid, svc->name,
		 ret);
out:
	upcall_conn_close(conn);
}

/*
 * Only the host, or the guest itself when testing, may drive hotplug; with
 * secure_port, only from a privileged port.  -EPERM for a refused CID,
 * -EACCES for a refused port.
 */
static int upcall_peer_check(struct socket *sock, struct sockaddr_vm *addr)
{
	int ret;

	ret = kernel_getpeername(sock, (struct sockaddr *)addr);
	if (ret < 0)
		return ret;
	if (ret < (int)sizeof(*addr) || addr->svm_family != AF_VSOCK)
		return -EPROTO;
	if (addr->svm_cid != VMADDR_CID_HOST &&
	    !(addr->svm_cid == VMADDR_CID_LOCAL && READ_ONCE(allow_local)))
		return -EPERM;
	if (READ_ONCE(secure_port) && addr->svm_port >= UPCALL_FIRST_UNPRIVILEGED_PORT)
		return -EACCES;
	return 0;
}

static void upcall_conn_start(struct socket *sock)
{
	struct upcall_conn *conn;
	struct sockaddr_vm addr = { };
	int ret;

	ret = upcall_peer_check(sock, &addr);
	if (ret == -EPERM) {
		pr_info_ratelimited("refused connection from cid %u\n",
				    addr.svm_cid);
		goto release;
	}
	if (ret == -EACCES) {
		pr_info_ratelimited("refused connection from cid %u port %u: not a privileged port\n",
				    addr.svm_cid, addr.svm_port);
		goto release;
	}
	if (ret) {
		pr_info_ratelimited("refused connection: no peer address (%d)\n",
				    ret);
		goto release;
	}

	conn = kzalloc(sizeof(*conn), GFP_KERNEL);
	if (!conn)
		goto release;
	conn->sock = sock;
	conn->peer_cid = addr.svm_cid;
	INIT_WORK(&conn->work, upcall_conn_work);

	mutex_lock(&upcall_conns_mutex);
	if (upcall_unloading || upcall_nr_conns >= UPCALL_MAX_CONNS) {
		mutex_unlock(&upcall_conns_mutex);
		pr_info_ratelimited("too many connections, refused cid %u\n",
				    addr.svm_cid);
		kfree(conn);
		goto release;
	}
	list_add_tail(&conn->node, &upcall_conns);
	WRITE_ONCE(upcall_nr_conns, upcall_nr_conns + 1);
	queue_work(upcall_wq, &conn->work);
	mutex_unlock(&upcall_conns_mutex);
	return;

release:
	sock_release(sock);
}

/*
 * The accept loop.  Shutting down a listening vsock socket does not wake a
 * blocked accept, but vsock_accept() honours the listener's receive
 * timeout (set in upcall_listen()), so the loop looks every
 * UPCALL_ACCEPT_POLL whether unload has begun: no signal is involved.
 */
static int upcall_listener_fn(void *data)
{
	struct socket *listener = data;

	while (!kthread_should_stop() && !upcall_stopping()) {
		struct socket *sock;
		int ret;

		ret = kernel_accept(listener, &sock, 0);
		if (!ret) {
			upcall_conn_start(sock);
			continue;
		}
		if (ret == -EAGAIN)
			continue;
		if (upcall_stopping())
			break;
		/* Say why, and keep a persistent error from spinning. */
		pr_warn_ratelimited("accept failed: %d\n", ret);
		schedule_timeout_interruptible(HZ / 10);
	}
	return 0;
}

static struct socket *upcall_listen(unsigned int port)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_port = port,
		.svm_cid = VMADDR_CID_ANY,
	};
	struct socket *sock;
	int ret;

	ret = sock_create_kern(&init_net, AF_VSOCK, SOCK_STREAM, 0, &sock);
	if (ret) {
		pr_err("cannot create a vsock socket: %d\n", ret);
		return ERR_PTR(ret);
	}

	ret = upcall_kernel_bind(sock, &addr, sizeof(addr));
	if (ret) {
		pr_err("cannot bind vsock port %u: %d\n", port, ret);
		goto release;
	}

	ret = kernel_listen(sock, UPCALL_BACKLOG);
	if (ret) {
		pr_err("cannot listen on vsock port %u: %d\n", port, ret);
		goto release;
	}
	/* Bounds each accept: see upcall_listener_fn(). */
	WRITE_ONCE(sock->sk->sk_rcvtimeo, UPCALL_ACCEPT_POLL);
	return sock;

release:
	sock_release(sock);
	return ERR_PTR(ret);
}

static void upcall_listener_stop(void)
{
	mutex_lock(&upcall_conns_mutex);
	WRITE_ONCE(upcall_unloading, true);
	mutex_unlock(&upcall_conns_mutex);
	/* Returns within UPCALL_ACCEPT_POLL: the accept loop polls. */
	kthread_stop(upcall_listener_task);
	put_task_struct(upcall_listener_task);
	sock_release(upcall_listener);
}

static void upcall_conns_shutdown(enum sock_shutdown_cmd how)
{
	struct upcall_conn *conn;

	mutex_lock(&upcall_conns_mutex);
	list_for_each_entry(conn, &upcall_conns, node)
		kernel_sock_shutdown(conn->sock, how);
	mutex_unlock(&upcall_conns_mutex);
}

/*
 * Shutting down the read side ends every idle connection at once, while a
 * request in hand still gets its reply out.  What is left after the grace
 * period (a long hotplug, a peer that does not read) loses its write side
 * too, which wakes any blocked send, so unload never hangs on a peer.
 */
static void upcall_conns_stop(void)
{
	upcall_conns_shutdown(SHUT_RD);
	wait_event_timeout(upcall_conns_gone, !READ_ONCE(upcall_nr_conns),
			   UPCALL_UNLOAD_GRACE);
	upcall_conns_shutdown(SHUT_RDWR);
}

static int __init upcall_init(void)
{
	struct task_struct *task;
	int ret;

	ret = upcall_backends_init();
	if (ret)
		return ret;

	upcall_wq = alloc_workqueue("upcall", WQ_UNBOUND, 0);
	if (!upcall_wq) {
		ret = -ENOMEM;
		goto backends_exit;
	}

	upcall_listener = upcall_listen(upcall_port);
	if (IS_ERR(upcall_listener)) {
		ret = PTR_ERR(upcall_listener);
		goto destroy_wq;
	}

	task = kthread_create(upcall_listener_fn, upcall_listener, "upcall-listen");
	if (IS_ERR(task)) {
		ret = PTR_ERR(task);
		goto release;
	}
	/* Keep the task around for kthread_stop() even if it ends early. */
	get_task_struct(task);
	upcall_listener_task = task;
	wake_up_process(task);

	pr_info("listening on vsock port %u%s%s\n", upcall_port,
		allow_local ? " (local peers allowed)" : "",
		secure_port ? " (privileged peer ports only)" : "");
	return 0;

release:
	sock_release(upcall_listener);
destroy_wq:
	destroy_workqueue(upcall_wq);
backends_exit:
	upcall_backends_exit();
	return ret;
}

static void __exit upcall_exit(void)
{
	upcall_listener_stop();
	upcall_conns_stop();
	/* Drains every connection; each one frees itself. */
	destroy_workqueue(upcall_wq);
	/* Removes the virtio-mmio devices; memory and PCI devices stay. */
	upcall_backends_exit();
	pr_info("stopped\n");
}

/*
 * Built into the kernel, the server starts after every device initcall,
 * so the vsock core and its transports are registered (they initialise at
 * device level, and net/ links after drivers/).  In a module this is
 * plain module_init().
 */
late_initcall(upcall_init);
module_exit(upcall_exit);

MODULE_DESCRIPTION("upcall guest server: vsock device manager for VMM-driven hotplug");
MODULE_LICENSE("GPL");
MODULE_SOFTDEP("pre: vsock");
