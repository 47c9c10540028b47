// SPDX-License-Identifier: MIT
/*
 * P2: 1,000 sessions on one context, one thread, against a raw baseline in
 * the same run.
 *
 *   echo thread  one thread, one epoll: the fake guest for every connection
 *                (hybrid line, service byte, CONNECT message, then one valid
 *                1024-byte reply per 1024-byte request)
 *   raw          1,000 socketpairs; the main thread keeps one 1024-byte
 *                request in flight on each with epoll
 *   lib          1,000 libupcall sessions (hybrid-vsock Unix socket) on one
 *                context; the main thread runs the context's fd in its own
 *                epoll loop and the completion callback submits the next
 *                request, so each session keeps one in flight
 *
 * Rounds alternate raw and lib (A B A B ...) for BENCH_MSECS each; the
 * summary takes medians.  Also: time to open and handshake the sessions,
 * and the library's memory per session (RSS delta and malloc'd bytes,
 * kernel socket buffers are not in either: they are kernel memory).
 * Exit status 0 whether the targets are met or not (2 on setup failure).
 *
 *   bench_many [--sessions N] [--rounds N] [--secs S]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/epoll.h>

#include <upcall/upcall.h>

#include "bench-common.h"

#define TARGET_RATE 0.7
#define TARGET_MEM 4096.0
#define MAX_FDS 65536

/* ---------------------------------------------------------- echo thread */

enum conn_state { C_FREE, C_LINE, C_SVC, C_SERVING };

struct conn {
	enum conn_state st;
	uint32_t len;
	uint8_t buf[MSG];
};

/* Preallocated and touched before any measurement: not the library's. */
static struct conn *conns;
static int srv_ep, listen_fd;
static char sock_path[108];

static void srv_add(int fd, enum conn_state st)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };

	if (fd >= MAX_FDS)
		bench_die("too many fds", EMFILE);
	conns[fd].st = st;
	conns[fd].len = 0;
	if (epoll_ctl(srv_ep, EPOLL_CTL_ADD, fd, &ev) < 0)
		bench_die("epoll_ctl", errno);
}

static void srv_close(int fd)
{
	epoll_ctl(srv_ep, EPOLL_CTL_DEL, fd, NULL);
	close(fd);
	conns[fd].st = C_FREE;
}

/* Replies fit the socket buffer (one request in flight per connection). */
static void srv_send(int fd, const void *buf, size_t len)
{
	if (write_all(fd, buf, len) < 0)
		srv_close(fd);
}

static void srv_read(int fd)
{
	struct conn *c = &conns[fd];
	ssize_t n;

	for (;;) {
		size_t want;

		switch (c->st) {
		case C_LINE:
			want = 1;	/* the line byte by byte: nothing after it is ours */
			break;
		case C_SVC:
			want = 1;
			break;
		case C_SERVING:
			want = MSG - c->len;
			break;
		default:
			return;
		}
		n = recv(fd, c->buf + c->len, want, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			srv_close(fd);
			return;
		}
		if (n < 0)
			return;
		c->len += (uint32_t)n;
		switch (c->st) {
		case C_LINE:
			if (c->buf[c->len - 1] == '\n') {
				c->len = 0;
				c->st = C_SVC;
				srv_send(fd, hybrid_ok, sizeof(hybrid_ok) - 1);
			} else if (c->len >= 64) {
				srv_close(fd);
				return;
			}
			break;
		case C_SVC:
			c->len = 0;
			c->st = C_SERVING;
			make_connect_msg(c->buf);
			srv_send(fd, c->buf, MSG);
			break;
		case C_SERVING:
			if (c->len == MSG) {
				c->len = 0;
				make_reply_inplace(c->buf);
				srv_send(fd, c->buf, MSG);
				/* One request in flight: nothing more to read. */
				return;
			}
			break;
		default:
			return;
		}
	}
}

static void *echo_thread(void *arg)
{
	struct epoll_event ev[256];

	(void)arg;
	bench_pin_peer();
	for (;;) {
		int i, n = epoll_wait(srv_ep, ev, 256, -1);

		if (n < 0 && errno != EINTR)
			bench_die("echo: epoll_wait", errno);
		for (i = 0; i < n; i++) {
			int fd = ev[i].data.fd;

			if (fd == listen_fd) {
				int c;

				while ((c = accept4(listen_fd, NULL, NULL,
						    SOCK_CLOEXEC | SOCK_NONBLOCK)) >= 0)
					srv_add(c, C_LINE);
				continue;
			}
			srv_read(fd);
		}
	}
	return NULL;
}

/* ---------------------------------------------------------- raw client */

struct raw_pair {
	int fd;
	uint32_t len;
	uint8_t buf[MSG];
};

static struct raw_pair *raws;
static int raw_ep;
static uint8_t request_msg[MSG];

static double run_raw(unsigned int n, double secs)
{
	struct epoll_event ev[256];
	uint64_t t0, stop, t_end = 0;
	unsigned long done = 0, inflight = 0;
	bool running = true;
	unsigned int i;

	t0 = bench_now_ns();
	stop = t0 + (uint64_t)(secs * 1e9);
	for (i = 0; i < n; i++) {
		raws[i].len = 0;
		if (write_all(raws[i].fd, request_msg, MSG) < 0)
			bench_die("raw: write", errno);
		inflight++;
	}
	while (inflight > 0) {
		int k, m = epoll_wait(raw_ep, ev, 256, -1);

		if (m < 0 && errno != EINTR)
			bench_die("raw: epoll_wait", errno);
		if (running && (t_end = bench_now_ns()) >= stop)
			running = false;
		for (k = 0; k < m; k++) {
			struct raw_pair *p = &raws[ev[k].data.u32];
			ssize_t r = recv(p->fd, p->buf + p->len, MSG - p->len, MSG_DONTWAIT);

			if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR))
				bench_die("raw: recv", r == 0 ? ECONNRESET : errno);
			if (r < 0)
				continue;
			p->len += (uint32_t)r;
			if (p->len < MSG)
				continue;
			p->len = 0;
			inflight--;
			if (!running)
				continue;
			if (get_le32(p->buf + 16) != 0)
				bench_die("raw: reply", EPROTO);
			done++;
			if (write_all(p->fd, request_msg, MSG) < 0)
				bench_die("raw: write", errno);
			inflight++;
		}
	}
	return done / ((double)(t_end - t0) / 1e9);
}

static void raw_setup(unsigned int n)
{
	struct epoll_event ev = { .events = EPOLLIN };
	unsigned int i;

	raw_ep = epoll_create1(EPOLL_CLOEXEC);
	if (raw_ep < 0)
		bench_die("epoll_create1", errno);
	for (i = 0; i < n; i++) {
		int sv[2];

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			bench_die("socketpair", errno);
		raws[i].fd = sv[0];
		ev.data.u32 = i;
		if (epoll_ctl(raw_ep, EPOLL_CTL_ADD, sv[0], &ev) < 0)
			bench_die("epoll_ctl", errno);
		fcntl(sv[1], F_SETFL, O_NONBLOCK);
		srv_add(sv[1], C_SERVING);
	}
}

/* ---------------------------------------------------------- lib client */

static upcall_ctx *ctx;
static upcall_session **sessions;
static int lib_ep;
static unsigned int n_ready;
static unsigned long lib_done, lib_inflight, lib_failed;
static bool lib_running;
static uint64_t lib_t_end;
static const uint8_t apic_ids[] = { 1 };

static void state_cb(upcall_session *s, upcall_session_state st, int err, void *ud)
{
	(void)s;
	(void)err;
	(void)ud;
	if (st == UPCALL_SESSION_READY)
		n_ready++;
	else if (st == UPCALL_SESSION_RECONNECTING || st == UPCALL_SESSION_CLOSED)
		bench_die("a session dropped", err);
}

static void lib_submit(upcall_session *s);

static void req_cb(upcall_request *req, int error, void *userdata)
{
	int result = -1;

	lib_inflight--;
	if (error || upcall_request_get_result(req, &result) < 0 || result) {
		lib_failed++;
		return;
	}
	if (!lib_running)
		return;
	lib_done++;
	lib_submit(userdata);
}

static void lib_submit(upcall_session *s)
{
	int r = upcall_devmgr_cpu_add(s, apic_ids, 1, req_cb, s, NULL);

	if (r < 0)
		bench_die("upcall_devmgr_cpu_add", r);
	lib_inflight++;
}

/* Run the context in the caller's epoll loop until @cond holds. */
static void lib_loop(bool (*cond)(void), uint64_t stop_at)
{
	while (!cond()) {
		struct epoll_event ev;
		int r;

		if (epoll_wait(lib_ep, &ev, 1, 1000) < 0 && errno != EINTR)
			bench_die("epoll_wait", errno);
		while ((r = upcall_ctx_process(ctx)) > 0)
			;
		if (r < 0)
			bench_die("upcall_ctx_process", r);
		if (stop_at && lib_running && (lib_t_end = bench_now_ns()) >= stop_at)
			lib_running = false;
	}
}

static unsigned int lib_n;
static bool all_ready(void)
{
	return n_ready == lib_n;
}

static bool drained(void)
{
	return lib_inflight == 0;
}

static double run_lib(unsigned int n, double secs)
{
	uint64_t t0 = bench_now_ns();
	unsigned int i;

	lib_done = 0;
	lib_running = true;
	for (i = 0; i < n; i++)
		lib_submit(sessions[i]);
	lib_loop(drained, t0 + (uint64_t)(secs * 1e9));
	if (lib_failed)
		bench_die("requests failed", EPROTO);
	return lib_done / ((double)(lib_t_end - t0) / 1e9);
}

static double lib_open_all(unsigned int n)
{
	uint64_t t0 = bench_now_ns();
	unsigned int i;

	for (i = 0; i < n; i++) {
		upcall_session *s;
		int r = upcall_session_new(ctx, &s);

		if (r < 0)
			bench_die("upcall_session_new", r);
		upcall_session_set_arch(s, UPCALL_ARCH_X86_64);
		upcall_session_set_state_fn(s, state_cb, NULL);
		r = upcall_session_open_unix(s, sock_path);
		if (r < 0)
			bench_die("upcall_session_open_unix", r);
		sessions[i] = s;
	}
	lib_n = n;
	lib_loop(all_ready, 0);
	return (double)(bench_now_ns() - t0) / 1e6;
}

/* ---------------------------------------------------------- memory */

struct mem {
	long rss;	/* bytes */
	long heap;	/* malloc'd bytes in use */
};

static struct mem mem_now(void)
{
	struct mem m = { 0, 0 };
	long size, res;
	FILE *f = fopen("/proc/self/statm", "r");
	struct mallinfo2 mi = mallinfo2();

	if (f) {
		if (fscanf(f, "%ld %ld", &size, &res) == 2)
			m.rss = res * sysconf(_SC_PAGESIZE);
		fclose(f);
	}
	m.heap = (long)(mi.uordblks + mi.hblkhd);
	return m;
}

/* Fault every page in (a memset of calloc'd memory is optimised away). */
static void touch(void *p, size_t len)
{
	volatile char *c = p;
	size_t i;

	for (i = 0; i < len; i += 4096)
		c[i] = 0;
}

int main(int argc, char **argv)
{
	unsigned int n = env_uint("BENCH_SESSIONS", 1000);
	unsigned int rounds = env_uint("BENCH_ROUNDS", 7);
	double secs = env_uint("BENCH_MSECS", 1000) / 1000.0;
	double raw_rate[64], lib_rate[64], ratio[64], open_ms, mr, ml;
	struct mem m0, m1, m2;
	struct epoll_event ev = { .events = EPOLLIN };
	pthread_t et;
	unsigned int r, i;
	int a;

	for (a = 1; a < argc; a++) {
		if (!strcmp(argv[a], "--sessions") && a + 1 < argc)
			n = (unsigned int)atoi(argv[++a]);
		else if (!strcmp(argv[a], "--rounds") && a + 1 < argc)
			rounds = (unsigned int)atoi(argv[++a]);
		else if (!strcmp(argv[a], "--secs") && a + 1 < argc)
			secs = atof(argv[++a]);
		else {
			fprintf(stderr, "usage: %s [--sessions N] [--rounds N] [--secs S]\n",
				argv[0]);
			return 2;
		}
	}
	if (n < 1 || n > 16000 || rounds < 1 || rounds > 64 || secs <= 0)
		bench_die("--sessions 1..16000, --rounds 1..64, --secs > 0", EINVAL);

	raise_nofile();
	/* Client and echo thread each on a core, as the scheduler places them. */
	bench_pin_default = "none";
	bench_pin_client();
	make_cpu_request(request_msg);

	/* Everything that is not the library's, allocated and touched first. */
	conns = calloc(MAX_FDS, sizeof(*conns));
	raws = calloc(n, sizeof(*raws));
	sessions = calloc(n, sizeof(*sessions));
	if (!conns || !raws || !sessions)
		bench_die("calloc", ENOMEM);
	touch(conns, MAX_FDS * sizeof(*conns));
	touch(raws, n * sizeof(*raws));
	touch(sessions, n * sizeof(*sessions));

	srv_ep = epoll_create1(EPOLL_CLOEXEC);
	listen_fd = listen_unix(sock_path, sizeof(sock_path), "bench-many");
	fcntl(listen_fd, F_SETFL, O_NONBLOCK);
	ev.data.fd = listen_fd;
	if (srv_ep < 0 || epoll_ctl(srv_ep, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
		bench_die("epoll", errno);
	if (pthread_create(&et, NULL, echo_thread, NULL))
		bench_die("pthread_create", errno);
	raw_setup(n);

	a = upcall_ctx_new(&ctx);
	if (a < 0)
		bench_die("upcall_ctx_new", a);
	lib_ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = (uint32_t)upcall_ctx_get_events(ctx);
	if (lib_ep < 0 || epoll_ctl(lib_ep, EPOLL_CTL_ADD, upcall_ctx_get_fd(ctx), &ev) < 0)
		bench_die("epoll", errno);
	/* The raw path once, so its pages are resident before the baseline. */
	run_raw(n, 0.05);

	if (getenv("BENCH_DEBUG"))
		system("cat /proc/$PPID/smaps > /tmp/bench-many.smaps0");
	m0 = mem_now();
	open_ms = lib_open_all(n);
	m1 = mem_now();
	/* One request in flight on every session (sent, not yet answered). */
	for (i = 0; i < n; i++)
		lib_submit(sessions[i]);
	m2 = mem_now();
	if (getenv("BENCH_DEBUG"))
		system("cat /proc/$PPID/smaps > /tmp/bench-many.smaps1");
	lib_loop(drained, 0);

	printf("P2: %u sessions on one context, one thread; fake guest: one echo thread; CPUs: %s\n",
	       n, bench_pin_mode());
	printf("P2 open+handshake of %u sessions: %.1f ms (%.1f us per session)\n", n,
	       open_ms, open_ms * 1000 / n);
	printf("P2 memory per session after open: RSS %.0f B, malloc %.0f B\n",
	       (double)(m1.rss - m0.rss) / n, (double)(m1.heap - m0.heap) / n);
	printf("P2 memory per session with a request in flight: RSS %.0f B, "
	       "malloc %.0f B; target <= %.0f B: %s\n",
	       (double)(m2.rss - m0.rss) / n, (double)(m2.heap - m0.heap) / n, TARGET_MEM,
	       (double)(m2.rss - m0.rss) / n <= TARGET_MEM ? "PASS" : "MISS");

	printf("    %u rounds, %.1f s per run, alternating; requests per second\n", rounds, secs);
	printf("    round        raw        lib   lib/raw\n");
	for (r = 0; r < rounds; r++) {
		if (r % 2 == 0) {
			raw_rate[r] = run_raw(n, secs);
			lib_rate[r] = run_lib(n, secs);
		} else {
			lib_rate[r] = run_lib(n, secs);
			raw_rate[r] = run_raw(n, secs);
		}
		ratio[r] = lib_rate[r] / raw_rate[r];
		printf("    %5u %10.0f %10.0f   %.3f\n", r + 1, raw_rate[r], lib_rate[r], ratio[r]);
	}
	mr = median(raw_rate, (int)rounds);
	ml = median(lib_rate, (int)rounds);
	printf("    median %9.0f %10.0f   %.3f\n", mr, ml, median(ratio, (int)rounds));
	printf("P2 lib/raw requests per second = %.3f (ratio of medians), target >= %.2f: %s\n",
	       ml / mr, TARGET_RATE, ml / mr >= TARGET_RATE ? "PASS" : "MISS");

	for (i = 0; i < n; i++)
		upcall_session_unref(sessions[i]);
	upcall_ctx_unref(ctx);
	unlink(sock_path);
	return 0;
}
