// SPDX-License-Identifier: MIT
/*
 * P2: N sessions (1,000 unless --sessions says) on one context, one
 * thread, against a raw baseline in the same run; bench/run.sh runs it at
 * 10, 1,000 and 10,000 (BENCH_SCALE).
 *
 *   echo         a process with one thread and one epoll: the fake guest
 *                (hybrid line, service byte, CONNECT message, then one valid
 *                1024-byte reply per 1024-byte request); one serves the
 *                library's sessions, another the raw connections (no
 *                handshake)
 *   raw          a process with N Unix stream connections to its echo; it
 *                keeps one 1024-byte request in flight on each with epoll
 *   lib          N libupcall sessions (hybrid-vsock Unix socket) on one
 *                context; the main thread runs the context's fd in its own
 *                epoll loop and the completion callback submits the next
 *                request, so each session keeps one in flight
 *
 * Four processes, so that each holds about N fds: 10,000 sessions fit a
 * 20,000-fd limit that cannot be raised.  The memory measured is the lib
 * process's alone.
 *
 * Rounds alternate raw and lib (A B A B ...) for BENCH_MSECS each; the
 * summary takes medians.  Also: time to open and handshake the sessions,
 * and the library's memory per session (RSS delta and malloc'd bytes,
 * kernel socket buffers are not in either: they are kernel memory).
 * Exit status 0 whether the targets are met or not (2 on setup failure,
 * 77 when the fd limit is too low for N and cannot be raised: N + 64 per
 * process).
 *
 *   bench_many [--sessions N] [--rounds N] [--secs S]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <malloc.h>
#include <stdbool.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <upcall/upcall.h>

#include "bench-common.h"

#define TARGET_RATE 0.7
#define TARGET_MEM 4096.0
#define MAX_FDS 65536

/* ---------------------------------------------------------- echo process */

enum conn_state { C_FREE, C_LINE, C_SVC, C_SERVING };

struct conn {
	enum conn_state st;
	uint32_t len;
	uint8_t buf[MSG];
};

static void touch(void *p, size_t len);

/* The echo process's, preallocated and touched before it serves. */
static struct conn *conns;
static int srv_ep, listen_fd;
static enum conn_state accepted_state;
static char sock_path[108], raw_path[108];

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

static void __attribute__((noreturn)) echo_serve(void)
{
	struct epoll_event ev[256];

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
					srv_add(c, accepted_state);
				continue;
			}
			srv_read(fd);
		}
	}
}

/* A child dies with the benchmark, however it ends. */
static void child_init(void)
{
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0)
		bench_die("prctl", errno);
}

/*
 * An echo process on a new listening socket (path named by @tag); its
 * connections start in @initial: C_LINE for the hybrid handshake, or
 * C_SERVING for raw request/reply.
 */
static pid_t spawn_echo(const char *tag, enum conn_state initial, char *path,
			size_t size)
{
	struct epoll_event ev = { .events = EPOLLIN };
	int lfd = listen_unix(path, size, tag);
	pid_t pid = fork();

	if (pid < 0)
		bench_die("fork", errno);
	if (pid > 0) {
		close(lfd);
		return pid;
	}
	child_init();
	bench_pin_peer();
	conns = calloc(MAX_FDS, sizeof(*conns));
	if (!conns)
		bench_die("calloc", ENOMEM);
	touch(conns, MAX_FDS * sizeof(*conns));
	fcntl(lfd, F_SETFL, O_NONBLOCK);
	listen_fd = lfd;
	accepted_state = initial;
	srv_ep = epoll_create1(EPOLL_CLOEXEC);
	ev.data.fd = lfd;
	if (srv_ep < 0 || epoll_ctl(srv_ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		bench_die("epoll", errno);
	echo_serve();
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

	raws = calloc(n, sizeof(*raws));
	if (!raws)
		bench_die("calloc", ENOMEM);
	touch(raws, n * sizeof(*raws));
	raw_ep = epoll_create1(EPOLL_CLOEXEC);
	if (raw_ep < 0)
		bench_die("epoll_create1", errno);
	for (i = 0; i < n; i++) {
		int fd = connect_unix_blocking(raw_path);

		fcntl(fd, F_SETFL, O_NONBLOCK);
		raws[i].fd = fd;
		ev.data.u32 = i;
		if (epoll_ctl(raw_ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			bench_die("epoll_ctl", errno);
	}
}

/* The raw client's process: a run of S seconds per double read from the
 * command pipe, its rate written back; EOF ends it. */
static int raw_cmd = -1, raw_res = -1;

static void spawn_raw(unsigned int n)
{
	int cmd[2], res[2];
	double secs, rate;
	pid_t pid;

	if (pipe2(cmd, O_CLOEXEC) < 0 || pipe2(res, O_CLOEXEC) < 0)
		bench_die("pipe2", errno);
	pid = fork();
	if (pid < 0)
		bench_die("fork", errno);
	if (pid > 0) {
		close(cmd[0]);
		close(res[1]);
		raw_cmd = cmd[1];
		raw_res = res[0];
		/* Its first answer says the connections are up. */
		if (read(raw_res, &rate, sizeof(rate)) != sizeof(rate))
			bench_die("raw: setup", EPIPE);
		return;
	}
	child_init();
	close(cmd[1]);
	close(res[0]);
	raw_setup(n);
	/* Once, so its pages are resident before the baseline. */
	rate = run_raw(n, 0.05);
	for (;;) {
		if (write(res[1], &rate, sizeof(rate)) != sizeof(rate))
			_exit(1);
		if (read(cmd[0], &secs, sizeof(secs)) != sizeof(secs))
			_exit(0);
		rate = run_raw(n, secs);
	}
}

static double remote_raw(double secs)
{
	double rate;

	if (write(raw_cmd, &secs, sizeof(secs)) != sizeof(secs) ||
	    read(raw_res, &rate, sizeof(rate)) != sizeof(rate))
		bench_die("raw: its process is gone", EPIPE);
	return rate;
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

/* The run's time is up: stop resubmitting, note when. */
static void lib_check_stop(uint64_t stop_at)
{
	if (stop_at && lib_running && (lib_t_end = bench_now_ns()) >= stop_at)
		lib_running = false;
}

/*
 * Run the context in the caller's epoll loop until @cond holds.  The time
 * is checked after every process() call: under steady load with thousands
 * of sessions, process() always has more to do and never returns 0.
 */
static void lib_loop(bool (*cond)(void), uint64_t stop_at)
{
	while (!cond()) {
		struct epoll_event ev;
		int r;

		if (epoll_wait(lib_ep, &ev, 1, 1000) < 0 && errno != EINTR)
			bench_die("epoll_wait", errno);
		while ((r = upcall_ctx_process(ctx)) > 0)
			lib_check_stop(stop_at);
		if (r < 0)
			bench_die("upcall_ctx_process", r);
		lib_check_stop(stop_at);
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
	pid_t echo_lib, echo_raw;
	struct mem m0, m1, m2;
	double per_rss, per_heap, per_judged;
	rlim_t need, have;
	struct epoll_event ev = { .events = EPOLLIN };
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

	/* Each process holds one fd per connection, and a few more. */
	need = (rlim_t)n + 64;
	have = raise_nofile_to(need);
	if (have < need) {
		printf("P2 at %u sessions: skipped, it needs %llu fds and the limit is %llu "
		       "(raise the hard limit: ulimit -Hn, or run as root)\n", n,
		       (unsigned long long)need, (unsigned long long)have);
		return 77;
	}
	/* Client and echo each on a core, as the scheduler places them. */
	bench_pin_default = "none";
	bench_pin_client();
	make_cpu_request(request_msg);

	/* Everything that is not the library's, allocated and touched first. */
	sessions = calloc(n, sizeof(*sessions));
	if (!sessions)
		bench_die("calloc", ENOMEM);
	touch(sessions, n * sizeof(*sessions));

	echo_lib = spawn_echo("bench-many", C_LINE, sock_path, sizeof(sock_path));
	echo_raw = spawn_echo("bench-many-raw", C_SERVING, raw_path, sizeof(raw_path));
	spawn_raw(n);

	a = upcall_ctx_new(&ctx);
	if (a < 0)
		bench_die("upcall_ctx_new", a);
	lib_ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = (uint32_t)upcall_ctx_get_events(ctx);
	if (lib_ep < 0 || epoll_ctl(lib_ep, EPOLL_CTL_ADD, upcall_ctx_get_fd(ctx), &ev) < 0)
		bench_die("epoll", errno);

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

	printf("P2: %u sessions on one context, one thread; fake guest: an echo process; CPUs: %s\n",
	       n, bench_pin_mode());
	printf("P2 open+handshake of %u sessions: %.1f ms (%.1f us per session)\n", n,
	       open_ms, open_ms * 1000 / n);
	printf("P2 memory per session after open: RSS %.0f B, malloc %.0f B\n",
	       (double)(m1.rss - m0.rss) / n, (double)(m1.heap - m0.heap) / n);
	/*
	 * RSS moves by whole pages and malloc arenas: below 1,000 sessions
	 * one page more or less is hundreds of bytes per session, so the
	 * malloc'd bytes are what is judged there; from 1,000 on, the RSS.
	 */
	per_rss = (double)(m2.rss - m0.rss) / n;
	per_heap = (double)(m2.heap - m0.heap) / n;
	per_judged = n >= 1000 ? per_rss : per_heap;
	printf("P2 memory per session with a request in flight: RSS %.0f B, "
	       "malloc %.0f B; target (%s) <= %.0f B: %s\n", per_rss, per_heap,
	       n >= 1000 ? "RSS" : "malloc, RSS is page-granular below 1,000",
	       TARGET_MEM, per_judged <= TARGET_MEM ? "PASS" : "MISS");

	printf("    %u rounds, %.1f s per run, alternating; requests per second\n", rounds, secs);
	printf("    round        raw        lib   lib/raw\n");
	for (r = 0; r < rounds; r++) {
		if (r % 2 == 0) {
			raw_rate[r] = remote_raw(secs);
			lib_rate[r] = run_lib(n, secs);
		} else {
			lib_rate[r] = run_lib(n, secs);
			raw_rate[r] = remote_raw(secs);
		}
		ratio[r] = lib_rate[r] / raw_rate[r];
		printf("    %5u %10.0f %10.0f   %.3f\n", r + 1, raw_rate[r], lib_rate[r], ratio[r]);
	}
	mr = median(raw_rate, (int)rounds);
	ml = median(lib_rate, (int)rounds);
	printf("    median %9.0f %10.0f   %.3f\n", mr, ml, median(ratio, (int)rounds));
	printf("P2 lib/raw requests per second = %.3f (ratio of medians), target >= %.2f: %s\n",
	       ml / mr, TARGET_RATE, ml / mr >= TARGET_RATE ? "PASS" : "MISS");
	/* One line for bench/run.sh's table and plot. */
	printf("P2-data sessions=%u raw=%.0f lib=%.0f ratio=%.3f rate=%s rss=%.0f "
	       "malloc=%.0f mem=%s open_us=%.1f\n", n, mr, ml, ml / mr,
	       ml / mr >= TARGET_RATE ? "PASS" : "MISS", per_rss, per_heap,
	       per_judged <= TARGET_MEM ? "PASS" : "MISS", open_ms * 1000 / n);

	for (i = 0; i < n; i++)
		upcall_session_unref(sessions[i]);
	upcall_ctx_unref(ctx);
	close(raw_cmd);
	kill(echo_lib, SIGKILL);
	kill(echo_raw, SIGKILL);
	while (wait(NULL) > 0)
		;
	unlink(sock_path);
	unlink(raw_path);
	return 0;
}
