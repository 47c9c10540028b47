// SPDX-License-Identifier: MIT
/*
 * Fault injection: the fake guest breaks the stream at every byte offset of
 * the hybrid handshake + CONNECT message ("OK 1073741824\n" and 1024 bytes)
 * and of a reply (1024 bytes), in two ways:
 *   eof    the guest reads everything the library sent, writes the first
 *          K bytes and closes: the library sees a clean EOF
 *   reset  the guest leaves what the library sent unread, writes K bytes and
 *          closes: on a Unix stream socket that is an abortive close, and
 *          the library's next read fails with ECONNRESET (AF_UNIX has no
 *          SO_LINGER-0 RST; unread data on close is its reset)
 * The library must report a clean error (the session goes RECONNECTING
 * with -ECONNREFUSED or -ECONNRESET; a request cut off mid-reply completes
 * with -ECONNRESET, one queued during a failed handshake survives) and
 * recover on the next connection: READY again, and a request answered.
 *
 *   fault_inject [--io] [--stride N]   (every Nth offset; default 1 = all)
 * --io runs the same cases with the caller polling the sockets
 * (upcall_ctx_set_io_fn(): every reconnect hands over a new socket).
 * Prints one line per failure and "N passed, N failed"; exit 1 on failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <upcall/upcall.h>
#include <upcall/wire.h>

#define MSG UPCALL_MSG_SIZE
static const char ok_line[] = "OK 1073741824\n";
#define OK_LEN (sizeof(ok_line) - 1)
#define HS_LEN (OK_LEN + MSG)

enum plan_kind { PLAN_FULL, PLAN_CUT_HANDSHAKE, PLAN_CUT_REPLY };

struct plan {
	enum plan_kind kind;
	size_t cut;		/* bytes sent before the close */
	bool reset;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct plan first_plan;	/* the case's first connection */
static unsigned int conn_in_case;
static int listen_fd;
static char sock_path[108];
static uint8_t hs[HS_LEN];

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);	/* little-endian host */
}

static int read_n(int fd, void *buf, size_t n, int flags)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, flags);

		if (r <= 0)
			return -1;
		if (flags & MSG_PEEK) {
			if ((size_t)r == n)
				return 0;
			usleep(100);
			continue;
		}
		got += (size_t)r;
	}
	return 0;
}

/* Wait until the whole "CONNECT <port>\n" line is there; consume it or not. */
static int get_line(int fd, bool consume)
{
	char buf[64];

	for (;;) {
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_PEEK);

		if (r <= 0)
			return -1;
		if (memchr(buf, '\n', (size_t)r)) {
			size_t len = (size_t)((char *)memchr(buf, '\n', (size_t)r) - buf) + 1;

			return consume ? read_n(fd, buf, len, 0) : 0;
		}
		usleep(100);
	}
}

static int write_n(int fd, const void *buf, size_t n)
{
	return send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static void make_reply(const uint8_t *req, uint8_t *rep)
{
	uint32_t type;

	memcpy(&type, req + 8, 4);
	memset(rep, 0, MSG);
	put32(rep, UPCALL_MAGIC_VERSION);
	put32(rep + 8, type);
	if (type == UPCALL_MSG_ADD_CPU || type == UPCALL_MSG_DEL_CPU) {
		put32(rep + 4, 4);
		put32(rep + 20, req[16]);
	}
}

static void serve(int fd, struct plan p)
{
	uint8_t req[MSG], rep[MSG];
	char svc;

	if (p.kind == PLAN_CUT_HANDSHAKE) {
		/* Wait for the line so that "reset" always leaves it unread. */
		if (get_line(fd, !p.reset) < 0)
			goto out;
		if (p.cut <= OK_LEN || p.reset) {
			write_n(fd, hs, p.cut);
		} else {
			write_n(fd, hs, OK_LEN);
			if (read_n(fd, &svc, 1, 0) < 0)
				goto out;
			write_n(fd, hs + OK_LEN, p.cut - OK_LEN);
		}
		goto out;
	}
	if (get_line(fd, true) < 0 || write_n(fd, hs, OK_LEN) < 0 ||
	    read_n(fd, &svc, 1, 0) < 0 || write_n(fd, hs + OK_LEN, MSG) < 0)
		goto out;
	if (p.kind == PLAN_CUT_REPLY) {
		/* The request arrives: read it (eof) or leave it there (reset). */
		if (read_n(fd, req, MSG, p.reset ? MSG_PEEK : 0) < 0)
			goto out;
		make_reply(req, rep);
		write_n(fd, rep, p.cut);
		goto out;
	}
	while (read_n(fd, req, MSG, 0) == 0) {
		make_reply(req, rep);
		if (write_n(fd, rep, MSG) < 0)
			break;
	}
out:
	close(fd);
}

static void *peer_thread(void *arg)
{
	(void)arg;
	for (;;) {
		struct plan p = { PLAN_FULL, 0, false };
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		pthread_mutex_lock(&lock);
		if (conn_in_case++ == 0)
			p = first_plan;
		pthread_mutex_unlock(&lock);
		serve(fd, p);
	}
}

/* ---- the library side ---- */

#define MAX_EV 16

struct outcome {
	upcall_session_state st[MAX_EV];
	int err[MAX_EV];
	int n_ev;
	int n_ready;
	int req_calls[2];
	int req_err[2];
	int req_result[2];
};

static void state_cb(upcall_session *s, upcall_session_state st, int err, void *ud)
{
	struct outcome *o = ud;

	(void)s;
	if (o->n_ev < MAX_EV) {
		o->st[o->n_ev] = st;
		o->err[o->n_ev] = err;
	}
	o->n_ev++;
	if (st == UPCALL_SESSION_READY)
		o->n_ready++;
}

static void req_cb(upcall_request *req, int error, void *ud)
{
	struct outcome *o = upcall_session_get_userdata(ud);
	int i = upcall_request_get_type(req) == UPCALL_MSG_ADD_CPU ? 0 : 1;
	int result = 1;

	o->req_calls[i]++;
	o->req_err[i] = error;
	if (!error)
		upcall_request_get_result(req, &result);
	o->req_result[i] = result;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static bool clean(int err)
{
	return err == -ECONNRESET || err == -ECONNREFUSED;
}

/* --io: the caller's epoll set (the context's fd has data.ptr NULL). */
static int io_ep = -1;

static int io_fn(upcall_session *s, int fd, upcall_io_op op, uint32_t events,
		 void *userdata)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };

	(void)userdata;
	return epoll_ctl(io_ep, (int)op, fd, &ev) < 0 ? -errno : 0;
}

/* Wait up to 10 ms, then process what is ready. */
static void wait_and_process(upcall_ctx *ctx)
{
	struct epoll_event ev[8];
	int i, n;

	if (io_ep < 0) {
		upcall_ctx_wait(ctx, 10000);
		while (upcall_ctx_process(ctx) > 0)
			;
		return;
	}
	n = epoll_wait(io_ep, ev, 8, 10);
	for (i = 0; i < n; i++)
		if (!ev[i].data.ptr || upcall_session_process(ev[i].data.ptr) > 0)
			while (upcall_ctx_process(ctx) > 0)
				;
}

static unsigned int passed, failed;
static unsigned int err_hist[2][2][2];	/* [reply?][reset?][ECONNRESET?] */

static void fail(const char *what, struct plan *p, const char *why, struct outcome *o)
{
	int i;

	failed++;
	printf("FAIL - %s cut at %zu (%s): %s; events:", what, p->cut,
	       p->reset ? "reset" : "eof", why);
	for (i = 0; i < o->n_ev && i < MAX_EV; i++)
		printf(" %d/%s", o->st[i], upcall_errno_name(o->err[i]) ?: "0");
	printf("; request %d calls err %d result %d\n", o->req_calls[0], o->req_err[0],
	       o->req_result[0]);
}

static void run_case(upcall_ctx *ctx, struct plan p)
{
	static const uint8_t ids[] = { 1 };
	const char *what = p.kind == PLAN_CUT_HANDSHAKE ? "handshake" : "reply";
	struct outcome o;
	upcall_session *s;
	bool second_sent = false;
	uint64_t deadline = now_ms() + 5000;
	int r, i;

	memset(&o, 0, sizeof(o));
	pthread_mutex_lock(&lock);
	first_plan = p;
	conn_in_case = 0;
	pthread_mutex_unlock(&lock);

	if (upcall_session_new(ctx, &s) < 0)
		abort();
	upcall_session_set_arch(s, UPCALL_ARCH_X86_64);
	upcall_session_set_userdata(s, &o);
	upcall_session_set_state_fn(s, state_cb, &o);
	upcall_session_set_reconnect(s, 1, 1000, 1000);
	upcall_session_set_connect_timeout(s, 3000000);
	r = upcall_session_open_unix(s, sock_path);
	if (r < 0) {
		fail(what, &p, "open failed", &o);
		upcall_session_unref(s);
		return;
	}
	/* Queued while connecting: sent once the session is READY. */
	upcall_devmgr_cpu_add(s, ids, 1, req_cb, s, NULL);

	for (;;) {
		if (now_ms() > deadline) {
			fail(what, &p, "timed out", &o);
			goto out;
		}
		wait_and_process(ctx);
		if (p.kind == PLAN_CUT_HANDSHAKE && o.req_calls[0])
			break;
		if (p.kind == PLAN_CUT_REPLY && o.req_calls[0] && o.n_ready >= 2) {
			if (!second_sent) {
				upcall_devmgr_pci_add(s, 1, 0, req_cb, s, NULL);
				second_sent = true;
			}
			if (o.req_calls[1])
				break;
		}
	}

	/* Which error the drop was reported with. */
	for (i = 0; i < o.n_ev && i < MAX_EV; i++)
		if (o.st[i] == UPCALL_SESSION_RECONNECTING)
			break;
	if (i == o.n_ev || i == MAX_EV) {
		fail(what, &p, "no RECONNECTING event", &o);
		goto out;
	}
	if (!clean(o.err[i])) {
		fail(what, &p, "unclean error", &o);
		goto out;
	}
	err_hist[p.kind == PLAN_CUT_REPLY][p.reset][o.err[i] == -ECONNRESET]++;
	if (o.n_ev > MAX_EV || o.st[o.n_ev - 1] != UPCALL_SESSION_READY) {
		fail(what, &p, "not READY at the end", &o);
		goto out;
	}
	if (p.kind == PLAN_CUT_HANDSHAKE) {
		/* The request waited for a good connection and was answered. */
		if (o.req_calls[0] != 1 || o.req_err[0] != 0 || o.req_result[0] != 0) {
			fail(what, &p, "queued request not answered after reconnect", &o);
			goto out;
		}
	} else {
		if (o.req_calls[0] != 1 || o.req_err[0] != -ECONNRESET) {
			fail(what, &p, "cut request did not fail with ECONNRESET", &o);
			goto out;
		}
		if (o.req_calls[1] != 1 || o.req_err[1] != 0 || o.req_result[1] != 0) {
			fail(what, &p, "request after reconnect not answered", &o);
			goto out;
		}
	}
	passed++;
out:
	upcall_session_unref(s);
	/* Let the closed session's state events go. */
	while (upcall_ctx_process(ctx) > 0)
		;
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	unsigned int stride = 1;
	bool io = false;
	upcall_ctx *ctx;
	pthread_t t;
	size_t k;
	int reset, i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--io"))
			io = true;
		else if (!strcmp(argv[i], "--stride") && i + 1 < argc)
			stride = (unsigned int)atoi(argv[++i]);
		else
			stride = 0;
	}
	if (stride < 1) {
		fprintf(stderr, "usage: %s [--io] [--stride N]\n", argv[0]);
		return 2;
	}
	memcpy(hs, ok_line, OK_LEN);
	put32(hs + OK_LEN, UPCALL_MAGIC_VERSION);	/* CONNECT {magic, 0, 0, 0} */

	snprintf(sock_path, sizeof(sock_path), "/tmp/upcall-fault.%d.sock", (int)getpid());
	unlink(sock_path);
	strcpy(sa.sun_path, sock_path);
	listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listen_fd, 64) < 0) {
		perror("listen");
		return 2;
	}
	if (pthread_create(&t, NULL, peer_thread, NULL) || upcall_ctx_new(&ctx) < 0)
		return 2;
	if (io) {
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

		io_ep = epoll_create1(EPOLL_CLOEXEC);
		if (io_ep < 0 || upcall_ctx_set_io_fn(ctx, io_fn, NULL) < 0 ||
		    epoll_ctl(io_ep, EPOLL_CTL_ADD, upcall_ctx_get_fd(ctx), &ev) < 0)
			return 2;
		printf("mode: the caller polls the sockets (upcall_ctx_set_io_fn)\n");
	}

	for (reset = 0; reset <= 1; reset++)
		for (k = 0; k < HS_LEN; k += stride)
			run_case(ctx, (struct plan){ PLAN_CUT_HANDSHAKE, k, reset });
	for (reset = 0; reset <= 1; reset++)
		for (k = 0; k < MSG; k += stride)
			run_case(ctx, (struct plan){ PLAN_CUT_REPLY, k, reset });

	printf("handshake (%zu offsets): eof -> ECONNREFUSED %u, ECONNRESET %u; "
	       "reset -> ECONNREFUSED %u, ECONNRESET %u\n", (size_t)HS_LEN,
	       err_hist[0][0][0], err_hist[0][0][1], err_hist[0][1][0], err_hist[0][1][1]);
	printf("reply (%u offsets): eof -> ECONNREFUSED %u, ECONNRESET %u; "
	       "reset -> ECONNREFUSED %u, ECONNRESET %u\n", MSG,
	       err_hist[1][0][0], err_hist[1][0][1], err_hist[1][1][0], err_hist[1][1][1]);
	upcall_ctx_unref(ctx);
	if (io_ep >= 0)
		close(io_ep);
	unlink(sock_path);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
