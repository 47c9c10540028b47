// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for libupcall's incremental reader: a real session
 * (the in-tree libupcall, public API only) talks to a "guest" whose bytes
 * are the fuzzer's input, written in pieces of fuzzer-chosen sizes, with
 * the context processed between pieces.
 *
 * Input:
 *   byte 0   bit 0: hybrid-vsock transport (a Unix listener; the stream
 *            starts with the "OK ..." line), else an fd handed in
 *            (socketpair); bits 1-3: requests submitted up front (0..7);
 *            bit 4: aarch64 wire format; bit 5: cancel request 0 after the
 *            first piece; bit 6: drop request 1's handle after the second
 *            piece; bit 7: close the stream with an abortive reset (unread
 *            data on the guest side) instead of EOF
 *   bytes 1..N  the requests' types (index into types[], modulo 9)
 *   next byte   piece-size seed: bits 0-2 pick the largest piece
 *               (1, 3, 17, 100, 1000, 1024, 1500, 4096 bytes), the rest
 *               seed the generator of sizes
 *   the rest    the guest's byte stream
 *
 * Checked: no crash, leak or sanitizer report; every request whose handle
 * is kept completes exactly once, with 0 (then a result in [-4095, 0]) or a
 * transport error the API documents; the session ends CLOSED once the
 * stream ends; processing never spins.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* accept4 */
#endif
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <upcall/upcall.h>
#include <upcall/wire.h>

#include "fuzz-common.h"

#define MAX_REQ 7
#define SPIN_LIMIT 10000

static const uint32_t types[] = {
	UPCALL_MSG_ADD_CPU,  UPCALL_MSG_DEL_CPU, UPCALL_MSG_ADD_MEM,
	UPCALL_MSG_DEL_MEM,  UPCALL_MSG_ADD_MMIO, UPCALL_MSG_DEL_MMIO,
	UPCALL_MSG_ADD_PCI,  UPCALL_MSG_DEL_PCI, UPCALL_MSG_GET_INFO,
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))

static const size_t piece_max[8] = { 1, 3, 17, 100, 1000, 1024, 1500, 4096 };

static int listen_fd = -1;
static char sock_path[108];

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

/* Whatever the library sent (line, service byte, requests): discard it. */
static void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

static void process(upcall_ctx *ctx)
{
	int i, r;

	for (i = 0; i < SPIN_LIMIT; i++) {
		r = upcall_ctx_process(ctx);
		CHECK(r >= 0);
		if (r == 0)
			return;
	}
	CHECK(!"upcall_ctx_process() never ran out of work");
}

static void setup_listener(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	snprintf(sock_path, sizeof(sock_path), "/tmp/upcall-fuzz-stream.%d.sock",
		 (int)getpid());
	unlink(sock_path);
	strcpy(sa.sun_path, sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	CHECK(listen_fd >= 0);
	CHECK(bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	CHECK(listen(listen_fd, 16) == 0);
}

static void cleanup(void)
{
	if (sock_path[0])
		unlink(sock_path);
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
	upcall_ctx *ctx = NULL;
	upcall_session *s = NULL;
	const uint8_t *stream;
	size_t n_stream, off, pmax;
	unsigned int n_req, i, piece = 0;
	uint32_t rng;
	bool hybrid, arm, abortive;
	int peer = -1, r;

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

	if (hybrid && listen_fd < 0) {
		setup_listener();
		atexit(cleanup);
	}

	CHECK(upcall_ctx_new(&ctx) == 0);
	CHECK(upcall_session_new(ctx, &s) == 0);
	CHECK(upcall_session_set_arch(s, arm ? UPCALL_ARCH_AARCH64 : UPCALL_ARCH_X86_64) == 0);
	CHECK(upcall_session_set_reconnect(s, 0, 0, 0) == 0);
	if (hybrid) {
		CHECK(upcall_session_open_unix(s, sock_path) == 0);
		peer = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		CHECK(peer >= 0);
	} else {
		int sv[2];

		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
		CHECK(upcall_session_open_fd(s, sv[0]) == 0);
		peer = sv[1];
	}
	fcntl(peer, F_SETFL, O_NONBLOCK);

	memset(st, 0, sizeof(st));
	for (i = 0; i < n_req; i++) {
		st[i].calls_at_drop = -1;
		r = submit(s, types[data[1 + i] % N_TYPES], arm, &st[i]);
		CHECK(r == 0);
	}

	for (off = 0; off < n_stream; piece++) {
		size_t len;
		ssize_t w;

		rng ^= rng << 13;
		rng ^= rng >> 17;
		rng ^= rng << 5;
		len = 1 + rng % pmax;
		if (len > n_stream - off)
			len = n_stream - off;
		process(ctx);
		w = send(peer, stream + off, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			/* The library closed its end: the rest is never read. */
			CHECK(errno == EPIPE || errno == ECONNRESET || errno == EAGAIN);
			if (errno != EAGAIN)
				break;
			w = 0;
		}
		off += (size_t)w;
		if (!abortive)
			drain(peer);
		process(ctx);
		if (piece == 0 && (data[0] & 0x20) && n_req > 0)
			upcall_request_cancel(st[0].req);
		if (piece == 1 && (data[0] & 0x40) && n_req > 1) {
			st[1].calls_at_drop = st[1].calls;
			st[1].req = upcall_request_unref(st[1].req);
		}
	}

	/* The stream ends: EOF, or a reset when data is left unread. */
	process(ctx);
	close(peer);
	process(ctx);
	CHECK(upcall_session_get_state(s) == UPCALL_SESSION_CLOSED);

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
	upcall_ctx_unref(ctx);
	return 0;
}
