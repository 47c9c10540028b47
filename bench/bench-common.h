/* SPDX-License-Identifier: MIT */
/*
 * Shared pieces of the libupcall benchmarks: clocks, statistics, and the
 * guest side of the wire protocol as a fast fake (hybrid "CONNECT <port>"
 * line, the service byte, the CONNECT message, then one valid reply per
 * request).  Header-only so that each benchmark is one translation unit.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <upcall/wire.h>

#define MSG UPCALL_MSG_SIZE

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void bench_die(const char *what, int err)
{
	fprintf(stderr, "bench: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(2);
}

static inline void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* The guest's session start: {magic, 0, CONNECT, 0}, zero padded. */
static inline void make_connect_msg(uint8_t msg[MSG])
{
	memset(msg, 0, MSG);
	put_le32(msg, UPCALL_MAGIC_VERSION);
}

/* An x86_64 ADD_CPU request for APIC id 1, as libupcall encodes it. */
static inline void make_cpu_request(uint8_t msg[MSG])
{
	memset(msg, 0, MSG);
	put_le32(msg, UPCALL_MAGIC_VERSION);
	put_le32(msg + 4, sizeof(struct upcall_cpu_request_x86));
	put_le32(msg + 8, UPCALL_MSG_ADD_CPU);
	msg[16] = 1;				/* count */
	msg[17] = UPCALL_APIC_VERSION_DEFAULT;	/* apic_ver */
	msg[18] = 1;				/* apic_ids[0] */
}

/*
 * Turn a request in @buf into its reply, in place: result 0 and the body
 * its type promises (a CPU reply carries the index, GET_INFO 64 bytes).
 * Everything past the reply body is zeroed so the reply is exact.
 */
static inline void make_reply_inplace(uint8_t buf[MSG])
{
	uint32_t type = get_le32(buf + 8);
	uint32_t size = 0;
	uint8_t count = buf[16];

	memset(buf + 16, 0, MSG - 16);
	if (type == UPCALL_MSG_ADD_CPU || type == UPCALL_MSG_DEL_CPU) {
		size = 4;
		put_le32(buf + 20, count);	/* all done */
	} else if (type == UPCALL_MSG_GET_INFO) {
		size = sizeof(struct upcall_info_reply);
		put_le32(buf + 20, UPCALL_INFO_VERSION);
	}
	put_le32(buf, UPCALL_MAGIC_VERSION);
	put_le32(buf + 4, size);
	put_le32(buf + 12, 0);
}

static inline int write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* 0, -errno, or -ECONNRESET on EOF. */
static inline int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n == 0)
			return -ECONNRESET;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Read "CONNECT <port>\n" byte by byte, as a hybrid-vsock backend does. */
static inline int read_connect_line(int fd)
{
	char line[64];
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r <= 0)
			return -1;
		if (n + 1 >= sizeof(line))
			return -1;
		line[n++] = c;
		if (c == '\n')
			break;
	}
	line[n] = '\0';
	return strncmp(line, "CONNECT ", 8) == 0 ? 0 : -1;
}

static const char hybrid_ok[] = "OK 1073741824\n";

/*
 * Blocking guest side of one connection: hybrid line (if @hybrid), service
 * byte, CONNECT message, then echo every 1024-byte request as a valid reply
 * until EOF.  The raw baselines talk to this very loop.
 */
static inline void serve_blocking(int fd, int hybrid)
{
	uint8_t buf[MSG];
	char svc;

	if (hybrid) {
		if (read_connect_line(fd) < 0 ||
		    write_all(fd, hybrid_ok, sizeof(hybrid_ok) - 1) < 0)
			goto out;
	}
	if (read_all(fd, &svc, 1) < 0 || svc != UPCALL_SERVICE_DEVMGR)
		goto out;
	make_connect_msg(buf);
	if (write_all(fd, buf, MSG) < 0)
		goto out;
	while (read_all(fd, buf, MSG) == 0) {
		make_reply_inplace(buf);
		if (write_all(fd, buf, MSG) < 0)
			break;
	}
out:
	close(fd);
}

/* A listening Unix socket at a fresh path in /tmp (written to @path). */
static inline int listen_unix(char *path, size_t size, const char *tag)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	snprintf(path, size, "/tmp/upcall-%s.%d.sock", tag, (int)getpid());
	if (strlen(path) >= sizeof(sa.sun_path))
		bench_die("socket path", ENAMETOOLONG);
	unlink(path);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		bench_die("socket", errno);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		bench_die("bind", errno);
	if (listen(fd, 4096) < 0)
		bench_die("listen", errno);
	return fd;
}

static inline int connect_unix_blocking(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0)
		bench_die("socket", errno);
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		bench_die("connect", errno);
	return fd;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static inline double median(const double *v, int n)
{
	double *t = malloc(sizeof(double) * (size_t)n);
	double m;

	if (!t)
		bench_die("malloc", ENOMEM);
	memcpy(t, v, sizeof(double) * (size_t)n);
	qsort(t, (size_t)n, sizeof(double), cmp_double);
	m = n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
	free(t);
	return m;
}

/*
 * Raise the soft fd limit to at least want (the hard one too where the
 * process may, as root can up to fs.nr_open), else as far as the hard
 * limit goes.  Returns the soft limit now in force.
 */
static inline rlim_t raise_nofile_to(rlim_t want)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_max < want) {
		struct rlimit up = { want, want };

		if (!setrlimit(RLIMIT_NOFILE, &up))
			return want;
	}
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur;
}

static inline void raise_nofile(void)
{
	raise_nofile_to(0);
}

/*
 * CPU placement of the client and the fake guest (BENCH_PIN; the default
 * is the benchmark's bench_pin_default):
 *   same  every thread on one CPU: a wake-up is a context switch
 *         on that CPU, no cross-CPU IPI, so runs are repeatable on a small
 *         shared VM (where an IPI costs a VM exit and doubles a round trip)
 *   split client on one CPU, fake guest on another
 *   none  the scheduler decides (noisy: 14 or 30 us per raw round trip)
 * bench_pin_client() is called by main() before any thread starts (threads
 * inherit it); bench_pin_peer() by each fake-guest thread.
 */
static int bench_cpu_a = -1, bench_cpu_b = -1;
static const char *bench_pin_default = "same";

static inline const char *bench_pin_mode(void)
{
	const char *m = getenv("BENCH_PIN");

	return m && *m ? m : bench_pin_default;
}

static inline void pin_to(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static inline void bench_pin_client(void)
{
	const char *m = bench_pin_mode();
	cpu_set_t set;
	int i, n = 0, cpus[2] = { -1, -1 };

	if (!strcmp(m, "none") || sched_getaffinity(0, sizeof(set), &set) < 0)
		return;
	for (i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			cpus[n++] = i;
	bench_cpu_a = cpus[0];
	bench_cpu_b = !strcmp(m, "split") && n == 2 ? cpus[1] : cpus[0];
	pin_to(bench_cpu_a);
}

static inline void bench_pin_peer(void)
{
	pin_to(bench_cpu_b);
}

static inline unsigned int env_uint(const char *name, unsigned int def)
{
	const char *v = getenv(name);

	return v && *v ? (unsigned int)strtoul(v, NULL, 10) : def;
}

/* The fake guest: one blocking thread per connection... */
static inline void *bench_serve_thread(void *arg)
{
	bench_pin_peer();
	serve_blocking((int)(intptr_t)arg, 1);
	return NULL;
}

/* ...accepted on the listening socket (intptr_t)ARG until it is closed. */
static inline void *bench_accept_thread(void *arg)
{
	int lfd = (int)(intptr_t)arg;

	for (;;) {
		pthread_t t;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return NULL;
		}
		if (pthread_create(&t, NULL, bench_serve_thread,
				   (void *)(intptr_t)fd))
			bench_die("pthread_create", errno);
		pthread_detach(t);
	}
}

#endif /* BENCH_COMMON_H */
