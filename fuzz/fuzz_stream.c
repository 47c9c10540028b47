// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for libupcall's incremental reader: a real session
 * (the in-tree libupcall's sources, public API only) talks to a "guest"
 * whose bytes are the fuzzer's input, written in pieces of fuzzer-chosen
 * sizes, with the session processed between pieces.
 *
 * The session's socket is in memory: libupcall's sources are built with
 * fuzz-io.h force-included, which sends the socket calls of session.c and
 * transport.c (socket, connect, getsockopt, fcntl, send, recv, close) to
 * the fake below, with the semantics of a Unix stream socket (EOF; a reset,
 * ECONNRESET after the queued data, when the guest closes with data of
 * ours unread; EPIPE on sending to a closed guest).  The context is made
 * once and reused, in io_fn mode (upcall_ctx_set_io_fn()): the harness is
 * the caller's poller, level-triggered like epoll, and calls
 * upcall_session_process() while the socket is ready.  An input costs no
 * syscall, so the harness runs many times faster than with a socketpair;
 * the real sockets are fault_inject's job.
 *
 * Input:
 *   byte 0   bit 0: hybrid-vsock transport (upcall_session_open_unix(); the
 *            stream starts with the "OK ..." line), else an fd handed in
 *            (upcall_session_open_fd()); bits 1-3: requests submitted up
 *            front (0..7); bit 4: aarch64 wire format; bit 5: cancel
 *            request 0 after the first piece; bit 6: drop request 1's
 *            handle after the second piece; bit 7: close the stream with
 *            an abortive reset (data of ours left unread on the guest side)
 *            instead of EOF
 *   bytes 1..N  the requests' types (index into types[], modulo 9)
 *   next byte   piece-size seed: bits 0-2 pick the largest piece
 *               (1, 3, 17, 100, 1000, 1024, 1500, 4096 bytes), the rest
 *               seed the generator of sizes
 *   the rest    the guest's byte stream
 *
 * Checked: no crash, leak or sanitizer report; every request whose handle
 * is kept completes exactly once, with 0 (then a result in [-4095, 0]) or a
 * transport error the API documents; the session ends CLOSED once the
 * stream ends; processing never spins (the session does not stay ready
 * without making progress); the context is left with nothing to do.
 */
#define FUZZ_IO_IMPL
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <upcall/upcall.h>
#include <upcall/wire.h>

#include "fuzz-common.h"
#include "fuzz-io.h"

#define MAX_REQ 7
#define SPIN_LIMIT 10000

/*
 * ASan's quarantine: 16 MiB, not 256.  An input frees a few KiB, so a
 * use-after-free still lands in quarantine thousands of inputs later, and
 * the harness no longer faults in fresh pages for every session it makes
 * (a third of its time with the default).  ASAN_OPTIONS overrides it.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "quarantine_size_mb=16";
}

static const uint32_t types[] = {
	UPCALL_MSG_ADD_CPU,  UPCALL_MSG_DEL_CPU, UPCALL_MSG_ADD_MEM,
	UPCALL_MSG_DEL_MEM,  UPCALL_MSG_ADD_MMIO, UPCALL_MSG_DEL_MMIO,
	UPCALL_MSG_ADD_PCI,  UPCALL_MSG_DEL_PCI, UPCALL_MSG_GET_INFO,
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

static const size_t piece_max[8] = { 1, 3, 17, 100, 1000, 1024, 1500, 4096 };

/*
 * The one in-memory stream socket.  Its fd number is a real fd (/dev/null,
 * kept open), so no real fd the context passes through can collide.
 */
static struct {
	int fd;
	bool open;		/* the library holds it */
	bool guest_closed;
	bool reset_pending;	/* closed with our data unread: ECONNRESET once */
	const uint8_t *in;	/* guest -> library: in[in_off, in_len) queued */
	size_t in_off, in_len;
	size_t unread;		/* library -> guest, not drained by the guest */
	uint32_t events;	/* as the library asked through the io_fn */
	bool registered;
} sk = { .fd = -1 };

static bool is_sk(int fd)
{
	return sk.open && fd == sk.fd;
}

int fuzz_io_socket(int domain, int type, int protocol)
{
	(void)domain;
	(void)type;
	(void)protocol;
	CHECK(!sk.open);
	sk.open = true;
	return sk.fd;
}

int fuzz_io_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	(void)addr;
	(void)len;
	CHECK(is_sk(fd));
	return 0;	/* AF_UNIX: a listener with room accepts at once */
}

int fuzz_io_getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	if (!is_sk(fd))
		return getsockopt(fd, level, name, val, len);
	CHECK(level == SOL_SOCKET && *len == sizeof(int));
	*(int *)val = name == SO_TYPE ? SOCK_STREAM : 0;
	return 0;
}

int fuzz_io_fcntl(int fd, int cmd, ...)
{
	va_list ap;
	long arg;

	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (!is_sk(fd))
		return fcntl(fd, cmd, arg);
	return cmd == F_GETFL ? O_RDWR : 0;
}

ssize_t fuzz_io_send(int fd, const void *buf, size_t len, int flags)
{
	(void)buf;
	(void)flags;
	CHECK(is_sk(fd));
	if (sk.guest_closed) {
		errno = EPIPE;
		return -1;
	}
	sk.unread += len;
	return (ssize_t)len;
}

ssize_t fuzz_io_recv(int fd, void *buf, size_t len, int flags)
{
	size_t n = sk.in_len - sk.in_off;

	(void)flags;
	CHECK(is_sk(fd));
	if (n > 0) {
		if (n > len)
			n = len;
		memcpy(buf, sk.in + sk.in_off, n);
		sk.in_off += n;
		return (ssize_t)n;
	}
	if (sk.reset_pending) {
		sk.reset_pending = false;
		errno = ECONNRESET;
		return -1;
	}
	if (sk.guest_closed)
		return 0;
	errno = EAGAIN;
	return -1;
}

int fuzz_io_close(int fd)
{
	if (!is_sk(fd))
		return close(fd);
	CHECK(!sk.registered);	/* the library says DEL before close */
	sk.open = false;
	return 0;
}

static int io_fn(upcall_session *s, int fd, upcall_io_op op, uint32_t events,
		 void *userdata)
{
	(void)s;
	(void)userdata;
	CHECK(is_sk(fd));
	switch (op) {
	case UPCALL_IO_ADD:
		CHECK(!sk.registered);
		sk.registered = true;
		break;
	case UPCALL_IO_MOD:
		CHECK(sk.registered);
		break;
	case UPCALL_IO_DEL:
		CHECK(sk.registered);
		sk.registered = false;
		events = 0;
		break;
	default:
		CHECK(!"unknown io op");
	}
	sk.events = events;
	return 0;
}

/* What epoll would report for the library's socket (level-triggered). */
static bool sk_ready(void)
{
	if (!sk.registered)
		return false;
	if (sk.guest_closed)
		return true;	/* EPOLLHUP, whatever was asked */
	if ((sk.events & EPOLLIN) && sk.in_off < sk.in_len)
		return true;
	return sk.events & EPOLLOUT;
}

struct req_state {
	upcall_request *req;
	int calls;
	int error;
	int calls_at_drop;	/* when the handle was dropped, or -1 */
};

static void req_cb(upcall_request *req, int error, void *userdata)
{
	struct req_state *st = userdata;

	(void)req;
	st->calls++;
	st->error = error;
}

static int submit(upcall_session *s, uint32_t type, bool arm, struct req_state *st)
{
	static const uint8_t ids[] = { 1 };
	const uint8_t *p = arm ? NULL : ids;

	switch (type) {
	case UPCALL_MSG_ADD_CPU:
		return upcall_devmgr_cpu_add(s, p, 1, req_cb, st, &st->req);
	case UPCALL_MSG_DEL_CPU:
		return upcall_devmgr_cpu_del(s, p, 1, req_cb, st, &st->req);
	case UPCALL_MSG_ADD_MEM:
		return upcall_devmgr_mem_add(s, 1ull << 32, 128ull << 20, 0,
					     UPCALL_MEM_F_MOVABLE, req_cb, st, &st->req);
	case UPCALL_MSG_DEL_MEM:
		return upcall_devmgr_mem_del(s, 1ull << 32, 128ull << 20, req_cb, st,
					     &st->req);
	case UPCALL_MSG_ADD_MMIO:
		return upcall_devmgr_mmio_add(s, 0xfeb00e00, 0x200, 12, req_cb, st,
					      &st->req);
	case UPCALL_MSG_DEL_MMIO:
		return upcall_devmgr_mmio_del(s, 0xfeb00e00, 0x200, 12, req_cb, st,
					      &st->req);
	case UPCALL_MSG_ADD_PCI:
		return upcall_devmgr_pci_add(s, 1, 0, req_cb, st, &st->req);
	case UPCALL_MSG_DEL_PCI:
		return upcall_devmgr_pci_del(s, 1, 0, req_cb, st, &st->req);
	default:
		return upcall_devmgr_get_info(s, req_cb, st, &st->req);
	}
}

/* The caller's event loop: process the session while its socket is ready. */
static void process(upcall_session *s)
{
	int i, r = 0;

	for (i = 0; i < SPIN_LIMIT; i++) {
		if (!sk_ready() && r == 0)
			return;
		r = upcall_session_process(s);
		CHECK(r >= 0);
	}
	CHECK(!"the session stays ready without making progress");
}

/*
 * The session is gone and everything it carried was dispatched by
 * upcall_session_process(): the context must have nothing left to do, no
 * callback queued and no timer armed.  (Asked without a syscall: the
 * context's eventfd, written once when the first session opened, is never
 * drained, so later wake-ups cost nothing either.)
 */
static void ctx_check_idle(upcall_ctx *ctx)
{
	uint64_t t;

	CHECK(upcall_ctx_get_timeout(ctx, &t) == 0);
	CHECK(t == UINT64_MAX);
}

static upcall_ctx *ctx_get(void)
{
	static upcall_ctx *ctx;

	if (!ctx) {
		sk.fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		CHECK(sk.fd >= 0);
		CHECK(upcall_ctx_new(&ctx) == 0);
		CHECK(upcall_ctx_set_io_fn(ctx, io_fn, NULL) == 0);
	}
	return ctx;
}

static bool error_ok(int e)
{
	return e == 0 || e == -ECONNRESET || e == -EPROTO || e == -ESHUTDOWN ||
	       e == -ECANCELED || e == -ECONNREFUSED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct req_state st[MAX_REQ];
	upcall_ctx *ctx;
	upcall_session *s = NULL;
	const uint8_t *stream;
	size_t n_stream, pmax;
	unsigned int n_req, i, piece = 0;
	uint32_t rng;
	bool hybrid, arm, abortive;
	int r;

	if (size < 2)
		return 0;
	hybrid = data[0] & 1;
	n_req = (data[0] >> 1) & 7;
	arm = data[0] & 0x10;
	abortive = data[0] & 0x80;
	if (size < 2 + n_req)
		return 0;
	pmax = piece_max[data[1 + n_req] & 7];
	rng = 0x9e3779b9u ^ data[1 + n_req];
	stream = data + 2 + n_req;
	n_stream = size - 2 - n_req;

	ctx = ctx_get();
	sk.guest_closed = sk.reset_pending = false;
	sk.in = stream;
	sk.in_off = sk.in_len = 0;
	sk.unread = 0;

	CHECK(upcall_session_new(ctx, &s) == 0);
	CHECK(upcall_session_set_arch(s, arm ? UPCALL_ARCH_AARCH64 : UPCALL_ARCH_X86_64) == 0);
	CHECK(upcall_session_set_reconnect(s, 0, 0, 0) == 0);
	if (hybrid) {
		CHECK(upcall_session_open_unix(s, "/fuzz/in-memory.sock") == 0);
	} else {
		CHECK(fuzz_io_socket(AF_UNIX, SOCK_STREAM, 0) == sk.fd);
		CHECK(upcall_session_open_fd(s, sk.fd) == 0);
	}

	memset(st, 0, sizeof(st));
	for (i = 0; i < n_req; i++) {
		st[i].calls_at_drop = -1;
		r = submit(s, types[data[1 + i] % N_TYPES], arm, &st[i]);
		CHECK(r == 0);
	}

	while (sk.in_len < n_stream) {
		size_t len;

		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		len = 1 + rng % pmax;
		if (len > n_stream - sk.in_len)
			len = n_stream - sk.in_len;
		process(s);
		/* The library closed its end: the rest is never read. */
		if (!sk.open)
			break;
		sk.in_len += len;
		if (!abortive)
			sk.unread = 0;	/* the guest reads what we sent */
		process(s);
		if (piece == 0 && (data[0] & 0x20) && n_req > 0)
			upcall_request_cancel(st[0].req);
		if (piece == 1 && (data[0] & 0x40) && n_req > 1) {
			st[1].calls_at_drop = st[1].calls;
			st[1].req = upcall_request_unref(st[1].req);
		}
		piece++;
	}

	/* The stream ends: EOF, or a reset when data is left unread. */
	process(s);
	sk.guest_closed = true;
	sk.reset_pending = sk.unread > 0;
	process(s);
	CHECK(upcall_session_get_state(s) == UPCALL_SESSION_CLOSED);
	CHECK(!sk.open && !sk.registered);

	for (i = 0; i < n_req; i++) {
		int result, status;
		uint32_t index;
		upcall_info info;

		if (!st[i].req) {
			/* Dropped before completion: silent from then on. */
			CHECK(st[i].calls == st[i].calls_at_drop);
			continue;
		}
		CHECK(st[i].calls == 1);
		CHECK(error_ok(st[i].error));
		status = upcall_request_get_status(st[i].req);
		CHECK(status == 1 || status == st[i].error);
		CHECK((status == 1) == (st[i].error == 0));
		r = upcall_request_get_result(st[i].req, &result);
		if (status == 1) {
			CHECK(r == 0);
			CHECK(result <= 0 && result >= -4095);
		} else {
			CHECK(r == -ENODATA);
		}
		r = upcall_request_get_cpu_index(st[i].req, &index);
		CHECK(r == 0 || r == -ENODATA);
		if (upcall_request_get_type(st[i].req) == UPCALL_MSG_GET_INFO) {
			r = upcall_request_get_info(st[i].req, &info);
			CHECK(r <= 0);
		}
		upcall_request_unref(st[i].req);
	}
	upcall_session_unref(s);
	ctx_check_idle(ctx);
	return 0;
}
