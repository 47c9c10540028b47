// SPDX-License-Identifier: MIT
/*
 * P1: round trip of one device-manager request (ADD_CPU, one APIC id)
 * through libupcall to a fast in-process fake guest over a hybrid-vsock
 * Unix socket, against a raw blocking 1024-byte ping-pong with the same
 * echoing peer over the same kind of socket.
 *
 * Variants, each on its own connection to the same peer code:
 *   raw        write 1024, blocking read 1024 (information)
 *   raw-epoll  the same, but epoll_wait before each read: the floor of
 *              any client that waits in an event loop, and so the
 *              baseline the targets are judged against (one epoll_wait
 *              per request costs more on some hosts than on others)
 *   lib        libupcall async: submit, the context's fd in the caller's
 *              own epoll loop, upcall_ctx_process() until 0 (the default
 *              path; target <= 1.15 x raw-epoll)
 *   lib-io     libupcall async, the caller polls the session's socket
 *              (upcall_ctx_set_io_fn()): the socket and the context's fd
 *              in the caller's epoll, upcall_session_process() on the
 *              socket's events (the latency path; target <= 1.05 x
 *              raw-epoll)
 *   lib-sync   upcall_devmgr_cpu_add_sync() (information)
 *
 * Interleaved: every round runs each variant once (rotating the order),
 * and the summary takes medians over rounds.  Benchmarks report; the exit
 * status is 0 whether the target is met or not (2 on a setup failure).
 *
 *   bench_rt [--rounds N] [--iters N] [--only VARIANT]
 * --only runs one variant (for profiling with callgrind).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdbool.h>
#include <sys/epoll.h>

#include <upcall/upcall.h>

#include "bench-common.h"

/* Targets, against raw-epoll: the caller-polled and the nested-fd path. */
#define TARGET_IO	1.05
#define TARGET_NESTED	1.15

enum { V_RAW, V_RAW_EPOLL, V_LIB, V_LIB_IO, V_LIB_SYNC, V_MAX };
static const char *const vname[V_MAX] = { "raw", "raw-epoll", "lib", "lib-io",
					  "lib-sync" };

static int listen_fd;
static char sock_path[108];

/* A raw client: the same hybrid handshake the library does, by hand. */
static int raw_connect(void)
{
	int fd = connect_unix_blocking(sock_path);
	uint8_t msg[MSG];
	char c;

	if (write_all(fd, "CONNECT 219\n", 12) < 0)
		bench_die("raw: CONNECT", errno);
	do {
		if (read(fd, &c, 1) != 1)
			bench_die("raw: OK line", EPROTO);
	} while (c != '\n');
	c = UPCALL_SERVICE_DEVMGR;
	if (write_all(fd, &c, 1) < 0 || read_all(fd, msg, MSG) < 0)
		bench_die("raw: greeting", EPROTO);
	return fd;
}

struct raw_client {
	int fd;
	int ep;		/* for raw-epoll */
};

static unsigned int run_raw(struct raw_client *c, unsigned int iters, bool use_epoll)
{
	uint8_t req[MSG], rep[MSG];
	unsigned int i, bad = 0;

	make_cpu_request(req);
	for (i = 0; i < iters; i++) {
		size_t got = 0;

		if (write_all(c->fd, req, MSG) < 0)
			bench_die("raw: write", errno);
		while (got < MSG) {
			ssize_t n;

			if (use_epoll) {
				struct epoll_event ev;

				if (epoll_wait(c->ep, &ev, 1, -1) < 0 && errno != EINTR)
					bench_die("epoll_wait", errno);
			}
			n = read(c->fd, rep + got, MSG - got);
			if (n <= 0)
				bench_die("raw: read", n < 0 ? errno : ECONNRESET);
			got += (size_t)n;
		}
		if (get_le32(rep + 16) != 0)
			bad++;
	}
	return bad;
}

struct lib_client {
	upcall_ctx *ctx;
	upcall_session *s;
	int ep;
};

struct lib_done {
	bool done;
	int error;
};

static void lib_cb(upcall_request *req, int error, void *userdata)
{
	struct lib_done *d = userdata;
	int result = -1;
	uint32_t index = 0;

	if (error == 0 && (upcall_request_get_result(req, &result) < 0 || result != 0 ||
			   upcall_request_get_cpu_index(req, &index) < 0 || index != 1))
		error = -EPROTO;
	d->error = error;
	d->done = true;
}

/*
 * One loop for both: an event with a session is its socket (lib-io), the
 * context's fd has none.
 */
static unsigned int run_lib(struct lib_client *c, unsigned int iters)
{
	static const uint8_t ids[] = { 1 };
	unsigned int i, bad = 0;

	for (i = 0; i < iters; i++) {
		struct lib_done d = { false, 0 };
		int r = upcall_devmgr_cpu_add(c->s, ids, 1, lib_cb, &d, NULL);

		if (r < 0)
			bench_die("upcall_devmgr_cpu_add", r);
		while (!d.done) {
			struct epoll_event ev;
			int n = epoll_wait(c->ep, &ev, 1, -1);

			if (n < 0 && errno != EINTR)
				bench_die("epoll_wait", errno);
			r = 0;
			if (n > 0 && ev.data.ptr)
				r = upcall_session_process(ev.data.ptr);
			else if (n > 0)
				r = 1;
			if (r > 0)
				while ((r = upcall_ctx_process(c->ctx)) > 0)
					;
			if (r < 0)
				bench_die("upcall_ctx_process", r);
		}
		if (d.error)
			bad++;
	}
	return bad;
}

static unsigned int run_lib_sync(struct lib_client *c, unsigned int iters)
{
	static const uint8_t ids[] = { 1 };
	unsigned int i, bad = 0;

	for (i = 0; i < iters; i++) {
		int result = -1;
		uint32_t index = 0;
		int r = upcall_devmgr_cpu_add_sync(c->s, ids, 1, 0, &result, &index);

		if (r < 0 || result != 0 || index != 1)
			bad++;
	}
	return bad;
}

static int lib_io_fn(upcall_session *s, int fd, upcall_io_op op,
		     uint32_t events, void *userdata)
{
	struct lib_client *c = userdata;
	struct epoll_event ev = { .events = events, .data.ptr = s };

	return epoll_ctl(c->ep, (int)op, fd, &ev) < 0 ? -errno : 0;
}

static void lib_open(struct lib_client *c, bool io)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int r;

	c->ep = epoll_create1(EPOLL_CLOEXEC);
	if (c->ep < 0)
		bench_die("epoll", errno);
	r = upcall_ctx_new(&c->ctx);
	if (r < 0)
		bench_die("upcall_ctx_new", r);
	if (io && (r = upcall_ctx_set_io_fn(c->ctx, lib_io_fn, c)) < 0)
		bench_die("upcall_ctx_set_io_fn", r);
	r = upcall_session_new(c->ctx, &c->s);
	if (r < 0)
		bench_die("upcall_session_new", r);
	upcall_session_set_arch(c->s, UPCALL_ARCH_X86_64);
	r = upcall_session_open_unix(c->s, sock_path);
	if (r < 0)
		bench_die("upcall_session_open_unix", r);
	r = upcall_session_wait_ready(c->s, 5000000);
	if (r < 0)
		bench_die("upcall_session_wait_ready", r);
	ev.events = (uint32_t)upcall_ctx_get_events(c->ctx);
	if (epoll_ctl(c->ep, EPOLL_CTL_ADD, upcall_ctx_get_fd(c->ctx), &ev) < 0)
		bench_die("epoll", errno);
}

static void lib_close(struct lib_client *c)
{
	upcall_session_unref(c->s);
	upcall_ctx_unref(c->ctx);
	close(c->ep);
}

/* One timed run of variant @v: microseconds per round trip. */
static double run_variant(int v, struct raw_client *raw, struct raw_client *rawe,
			  struct lib_client *lib, struct lib_client *libio,
			  unsigned int iters)
{
	uint64_t t0 = bench_now_ns();
	unsigned int bad = 0;

	switch (v) {
	case V_RAW:
		bad = run_raw(raw, iters, false);
		break;
	case V_RAW_EPOLL:
		bad = run_raw(rawe, iters, true);
		break;
	case V_LIB:
		bad = run_lib(lib, iters);
		break;
	case V_LIB_IO:
		bad = run_lib(libio, iters);
		break;
	case V_LIB_SYNC:
		bad = run_lib_sync(lib, iters);
		break;
	}
	if (bad) {
		fprintf(stderr, "bench: %s: %u requests failed\n", vname[v], bad);
		exit(2);
	}
	return (double)(bench_now_ns() - t0) / 1000.0 / iters;
}

int main(int argc, char **argv)
{
	unsigned int rounds = env_uint("BENCH_ROUNDS", 9);
	unsigned int iters = env_uint("BENCH_ITERS", 20000);
	struct raw_client raw, rawe;
	struct lib_client lib, libio;
	struct epoll_event ev = { .events = EPOLLIN };
	double res[V_MAX][64], ratio[64], med[V_MAX], rmed;
	int only = -1, i;
	unsigned int r;
	pthread_t at;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
			rounds = (unsigned int)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--iters") && i + 1 < argc) {
			iters = (unsigned int)atoi(argv[++i]);
		} else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
			const char *n = argv[++i];

			for (only = 0; only < V_MAX && strcmp(n, vname[only]); only++)
				;
			if (only == V_MAX)
				bench_die("--only: raw, raw-epoll, lib, lib-io or lib-sync",
					  EINVAL);
		} else {
			fprintf(stderr, "usage: %s [--rounds N] [--iters N] [--only VARIANT]\n",
				argv[0]);
			return 2;
		}
	}
	if (rounds < 1 || rounds > 64 || iters < 1)
		bench_die("--rounds 1..64, --iters >= 1", EINVAL);

	raise_nofile();
	bench_pin_client();
	listen_fd = listen_unix(sock_path, sizeof(sock_path), "bench-rt");
	if (pthread_create(&at, NULL, bench_accept_thread,
			   (void *)(intptr_t)listen_fd))
		bench_die("pthread_create", errno);

	raw.fd = raw_connect();
	rawe.fd = raw_connect();
	rawe.ep = epoll_create1(EPOLL_CLOEXEC);
	if (rawe.ep < 0 || epoll_ctl(rawe.ep, EPOLL_CTL_ADD, rawe.fd, &ev) < 0)
		bench_die("epoll", errno);
	lib_open(&lib, false);
	lib_open(&libio, true);

	if (only >= 0) {
		double us = run_variant(only, &raw, &rawe, &lib, &libio, iters);

		printf("P1 %s: %u round trips, %.2f us each\n", vname[only], iters, us);
		goto out;
	}

	/* Warm up every path (page faults, caches, the peer's threads). */
	for (i = 0; i < V_MAX; i++)
		run_variant(i, &raw, &rawe, &lib, &libio, iters / 10 + 1);

	printf("P1: request round trip over a hybrid-vsock Unix socket, in-process fake guest\n");
	printf("    %u rounds x %u round trips per variant, interleaved; us per round trip;"
	       " CPUs: %s\n", rounds, iters, bench_pin_mode());
	printf("    round %10s %10s %10s %10s %10s   lib/raw lib-io/raw\n", vname[0],
	       vname[1], vname[2], vname[3], vname[4]);
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < V_MAX; i++) {
			int v = (int)((r + (unsigned int)i) % V_MAX);

			res[v][r] = run_variant(v, &raw, &rawe, &lib, &libio, iters);
		}
		ratio[r] = res[V_LIB_IO][r] / res[V_RAW][r];
		printf("    %5u %10.2f %10.2f %10.2f %10.2f %10.2f   %.3f   %.3f\n", r + 1,
		       res[0][r], res[1][r], res[2][r], res[3][r], res[4][r],
		       res[V_LIB][r] / res[V_RAW][r], ratio[r]);
	}
	for (i = 0; i < V_MAX; i++)
		med[i] = median(res[i], (int)rounds);
	rmed = median(ratio, (int)rounds);
	printf("    median %9.2f %10.2f %10.2f %10.2f %10.2f   %.3f   %.3f\n", med[0],
	       med[1], med[2], med[3], med[4], med[V_LIB] / med[V_RAW], rmed);
	printf("P1 raw-epoll/raw = %.3f (information: what one epoll_wait per request "
	       "costs on this host)\n", med[V_RAW_EPOLL] / med[V_RAW]);
	printf("P1 lib-sync/raw  = %.3f (information)\n", med[V_LIB_SYNC] / med[V_RAW]);
	printf("P1 lib/raw       = %.3f, lib-io/raw = %.3f (median of per-round "
	       "ratios %.3f) (information)\n", med[V_LIB] / med[V_RAW],
	       med[V_LIB_IO] / med[V_RAW], rmed);
	printf("P1 lib-io/raw-epoll = %.3f (the caller polls the socket), target <= %.2f: %s\n",
	       med[V_LIB_IO] / med[V_RAW_EPOLL], TARGET_IO,
	       med[V_LIB_IO] / med[V_RAW_EPOLL] <= TARGET_IO ? "PASS" : "MISS");
	printf("P1 lib/raw-epoll    = %.3f (the context's fd nested in the caller's "
	       "epoll), target <= %.2f: %s\n",
	       med[V_LIB] / med[V_RAW_EPOLL], TARGET_NESTED,
	       med[V_LIB] / med[V_RAW_EPOLL] <= TARGET_NESTED ? "PASS" : "MISS");
out:
	close(raw.fd);
	close(rawe.fd);
	lib_close(&lib);
	lib_close(&libio);
	unlink(sock_path);
	return 0;
}
