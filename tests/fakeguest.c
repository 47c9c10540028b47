// SPDX-License-Identifier: MIT
/*
 * A fake upcall guest: the guest side of the wire protocol, written from the
 * specification (not from the library), strict about what it receives and
 * able to misbehave on purpose.
 *
 * Threads: one accepts, one serves each connection.  A connection thread
 * owns its fd and closes it itself, under fg->lock, so other threads may
 * shutdown() or write to any fd they find >= 0 while holding the lock.
 * Every blocking read also polls an eventfd that fg_free() raises.
 */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fakeguest.h"

#define FG_LINE_MAX		64
#define FG_PIECE_PAUSE_NS	2000
#define FG_EOF_AFTER		100
#define FG_BAD_MAGIC_VALUE	0xdeadbeefu
#define FG_BIG_SIZE_VALUE	2000u
#define FG_HDR			sizeof(struct upcall_msg_header)

struct fg_conn {
	struct fake_guest *fg;
	struct fg_conn *next;
	pthread_t thread;
	int fd;			/* -1 once closed; changed under fg->lock */
	bool hybrid;
	bool ready;		/* CONNECT message sent */
	bool done;		/* the thread has returned */
};

struct fg_settings {
	enum fg_behavior behavior;
	int32_t result;
	int32_t cpu_index;
	unsigned int delay_ms;
	bool info_on;
	struct upcall_info_reply info;
};

struct fake_guest {
	pthread_mutex_t lock;
	char *path;
	int lfd;
	int stopfd;
	bool hybrid;
	bool stopping;
	bool bound;		/* the socket file is ours to unlink */
	bool has_acceptor;
	pthread_t acceptor;
	struct fg_conn *conns;

	struct fg_settings set;
	uint64_t rng;

	unsigned int requests, violations, connections, last_port;
	bool have_last;
	uint8_t last[UPCALL_MSG_SIZE];
};

static const char *const behavior_names[FG_BEHAVIOR_MAX] = {
	[FG_OK] = "ok",
	[FG_PIECES] = "pieces",
	[FG_SILENT] = "silent",
	[FG_GARBAGE] = "garbage",
	[FG_EOF_MID_REPLY] = "eof-mid-reply",
	[FG_BAD_MAGIC] = "bad-magic",
	[FG_WRONG_TYPE] = "wrong-type",
	[FG_BIG_SIZE] = "big-size",
	[FG_REFUSE] = "refuse",
	[FG_REFUSE_NOLF] = "refuse-nolf",
	[FG_BAD_CONNECT] = "bad-connect",
	[FG_BAD_CONNECT_MAGIC] = "bad-connect-magic",
	[FG_NO_CONNECT] = "no-connect",
	[FG_CLOSE_AFTER_CONNECT] = "close-after-connect",
};

const char *fg_behavior_name(enum fg_behavior b)
{
	if ((unsigned int)b >= FG_BEHAVIOR_MAX)
		return NULL;
	return behavior_names[b];
}

/* "eof-mid-reply", also spelt "eof_mid_reply" or "EOF_MID_REPLY". */
static bool fg_name_eq(const char *name, const char *want)
{
	for (; *name && *want; name++, want++) {
		char c = *name == '_' ? '-' : *name;

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != *want)
			return false;
	}
	return *name == *want;
}

int fg_behavior_from_name(const char *name)
{
	int i;

	for (i = 0; name && i < FG_BEHAVIOR_MAX; i++)
		if (fg_name_eq(name, behavior_names[i]))
			return i;
	return -1;
}

/* ------------------------------------------------------------ helpers */

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void fg_snapshot(struct fake_guest *fg, struct fg_settings *st)
{
	pthread_mutex_lock(&fg->lock);
	*st = fg->set;
	pthread_mutex_unlock(&fg->lock);
}

static void fg_count(struct fake_guest *fg, unsigned int *counter)
{
	pthread_mutex_lock(&fg->lock);
	(*counter)++;
	pthread_mutex_unlock(&fg->lock);
}

__attribute__((format(printf, 2, 3)))
static void fg_violation(struct fake_guest *fg, const char *fmt, ...)
{
	va_list ap;

	fputs("fake-guest: protocol violation: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fg_count(fg, &fg->violations);
}

/* 1: @fd is readable (or hung up), 0: the guest is stopping, -1: error. */
static int fg_wait_readable(struct fake_guest *fg, int fd)
{
	struct pollfd p[2] = {
		{ .fd = fd, .events = POLLIN },
		{ .fd = fg->stopfd, .events = POLLIN },
	};

	for (;;) {
		int r = poll(p, 2, -1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (p[1].revents)
			return 0;
		if (p[0].revents)
			return 1;
	}
}

/* Read exactly @len bytes, in as many pieces as they come: 0 or -1. */
static int fg_read_full(struct fake_guest *fg, int fd, void *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n;

		if (fg_wait_readable(fg, fd) <= 0)
			return -1;
		n = recv(fd, (char *)buf + off, len - off, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return -1;	/* EOF or reset: the client left */
		off += (size_t)n;
	}
	return 0;
}

static void fg_pause(void)
{
	struct timespec ts = { 0, FG_PIECE_PAUSE_NS };

	nanosleep(&ts, NULL);
}

static int fg_send(int fd, const void *buf, size_t len, bool pieces)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, pieces ? 1 : len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
		if (pieces && len > 0)
			fg_pause();
	}
	return 0;
}

/* Sleep @ms unless the guest stops first: 0, or -1 when stopping. */
static int fg_sleep(struct fake_guest *fg, unsigned int ms)
{
	struct pollfd p = { .fd = fg->stopfd, .events = POLLIN };
	int r;

	do
		r = poll(&p, 1, (int)ms);
	while (r < 0 && errno == EINTR);
	return r == 0 ? 0 : -1;
}

static uint64_t fg_random(struct fake_guest *fg)
{
	uint64_t x;

	pthread_mutex_lock(&fg->lock);
	x = fg->rng;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	fg->rng = x;
	pthread_mutex_unlock(&fg->lock);
	return x;
}

/* --------------------------------------------------------- handshake */

/* Read one line, byte by byte, so nothing after the '\n' is taken. */
static int fg_read_line(struct fake_guest *fg, int fd, char *line, size_t size)
{
	size_t n = 0;

	for (;;) {
		char c;

		if (fg_read_full(fg, fd, &c, 1) < 0)
			return -1;
		if (n + 1 >= size) {
			fg_violation(fg, "hybrid line longer than %zu bytes",
				     size - 1);
			return -1;
		}
		line[n++] = c;
		if (c == '\n')
			break;
	}
	line[n] = '\0';
	return 0;
}

/* "CONNECT <port>\n", the port in decimal, nothing else. */
static int fg_parse_connect_line(const char *line, unsigned int *port)
{
	const char *p = line + strlen("CONNECT ");
	unsigned long v = 0;

	if (strncmp(line, "CONNECT ", strlen("CONNECT ")) != 0)
		return -1;
	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > UINT32_MAX)
			return -1;
	}
	if (strcmp(p, "\n") != 0)
		return -1;
	*port = (unsigned int)v;
	return 0;
}

/* The hybrid-vsock text exchange: 0 to go on, -1 to close. */
static int fg_hybrid(struct fg_conn *c, const struct fg_settings *st)
{
	struct fake_guest *fg = c->fg;
	static const char ok[] = "OK 1073741824\n";
	static const char err[] = "ERR no listener\n";
	char line[FG_LINE_MAX + 1];
	unsigned int port;

	if (fg_read_line(fg, c->fd, line, sizeof(line)) < 0)
		return -1;
	if (fg_parse_connect_line(line, &port) < 0) {
		fg_violation(fg, "bad hybrid line \"%.*s\"",
			     (int)strcspn(line, "\n"), line);
		return -1;
	}
	pthread_mutex_lock(&fg->lock);
	fg->last_port = port;
	pthread_mutex_unlock(&fg->lock);

	if (st->behavior == FG_REFUSE_NOLF)
		return -1;
	if (st->behavior == FG_REFUSE) {
		fg_send(c->fd, err, strlen(err), false);
		return -1;
	}
	return fg_send(c->fd, ok, strlen(ok), st->behavior == FG_PIECES);
}

/* Stay mute until the client leaves or the guest stops. */
static void fg_mute(struct fg_conn *c)
{
	uint8_t buf[UPCALL_MSG_SIZE];

	for (;;) {
		ssize_t n;

		if (fg_wait_readable(c->fg, c->fd) <= 0)
			return;
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return;
		fg_violation(c->fg, "%zd bytes sent before CONNECT", n);
	}
}

/* Service byte and CONNECT message: 0 to serve requests, -1 to close. */
static int fg_greet(struct fg_conn *c, const struct fg_settings *st)
{
	struct fake_guest *fg = c->fg;
	uint8_t msg[UPCALL_MSG_SIZE] = { 0 };
	uint8_t svc;

	if (fg_read_full(fg, c->fd, &svc, 1) < 0)
		return -1;
	if (svc != UPCALL_SERVICE_DEVMGR) {
		fg_violation(fg, "service byte 0x%02x", svc);
		return -1;
	}
	switch (st->behavior) {
	case FG_NO_CONNECT:
		fg_mute(c);
		return -1;
	case FG_REFUSE:
	case FG_REFUSE_NOLF:
		return -1;	/* no listener behind a plain connection */
	default:
		break;
	}
	put32(msg, st->behavior == FG_BAD_CONNECT_MAGIC ? 0x444D0200u :
							  UPCALL_MAGIC_VERSION);
	put32(msg + 8, st->behavior == FG_BAD_CONNECT ? UPCALL_MSG_ADD_CPU :
							UPCALL_MSG_CONNECT);
	if (fg_send(c->fd, msg, sizeof(msg), st->behavior == FG_PIECES) < 0)
		return -1;
	if (st->behavior == FG_CLOSE_AFTER_CONNECT)
		return -1;
	pthread_mutex_lock(&fg->lock);
	c->ready = true;
	pthread_mutex_unlock(&fg->lock);
	return 0;
}

/* ----------------------------------------------------------- requests */

static bool fg_check_cpu(struct fake_guest *fg, const uint8_t *b,
			 uint32_t size)
{
	const struct upcall_cpu_request_x86 *x = (const void *)b;
	unsigned int i;

	if (size == sizeof(struct upcall_cpu_request_arm64)) {
		if (b[0] == 0) {
			fg_violation(fg, "arm64 cpu count 0");
			return false;
		}
		return true;
	}
	if (size != sizeof(*x)) {
		fg_violation(fg, "cpu request msg_size %u", size);
		return false;
	}
	if (x->count == 0) {
		fg_violation(fg, "x86 cpu count 0");
		return false;
	}
	for (i = x->count; i < sizeof(x->apic_ids); i++) {
		if (x->apic_ids[i]) {
			fg_violation(fg, "apic_ids[%u] = %u beyond count %u", i,
				     x->apic_ids[i], x->count);
			return false;
		}
	}
	return true;
}

static bool fg_check_size(struct fake_guest *fg, uint32_t type, uint32_t size,
			  uint32_t want)
{
	if (size == want)
		return true;
	fg_violation(fg, "msg_type %u with msg_size %u, want %u", type, size,
		     want);
	return false;
}

/* The body of a request of a known @type: true if it follows the spec. */
static bool fg_check_body(struct fake_guest *fg, uint32_t type, uint32_t size,
			  const uint8_t *b)
{
	switch (type) {
	case UPCALL_MSG_ADD_CPU:
	case UPCALL_MSG_DEL_CPU:
		return fg_check_cpu(fg, b, size);
	case UPCALL_MSG_ADD_MEM:
	case UPCALL_MSG_DEL_MEM:
		if (!fg_check_size(fg, type, size, 24))
			return false;
		if (get32(b + 20) & ~UPCALL_MEM_F_MOVABLE) {
			fg_violation(fg, "mem flags 0x%x", get32(b + 20));
			return false;
		}
		return true;
	case UPCALL_MSG_ADD_MMIO:
	case UPCALL_MSG_DEL_MMIO:
		if (!fg_check_size(fg, type, size, 24))
			return false;
		if (get32(b + 20)) {
			fg_violation(fg, "mmio padding 0x%x", get32(b + 20));
			return false;
		}
		return true;
	case UPCALL_MSG_ADD_PCI:
	case UPCALL_MSG_DEL_PCI:
		return fg_check_size(fg, type, size, 2);
	case UPCALL_MSG_GET_INFO:
		return fg_check_size(fg, type, size, 0);
	default:
		fg_violation(fg, "msg_type %u", type);
		return false;
	}
}

static bool fg_check_request(struct fake_guest *fg, const uint8_t *m)
{
	uint32_t magic = get32(m), size = get32(m + 4);
	uint32_t type = get32(m + 8), flags = get32(m + 12);
	size_t end, i;

	if (magic != UPCALL_MAGIC_VERSION) {
		fg_violation(fg, "magic 0x%08x", magic);
		return false;
	}
	if (flags) {
		fg_violation(fg, "msg_flags 0x%x", flags);
		return false;
	}
	if (!fg_check_body(fg, type, size, m + FG_HDR))
		return false;
	end = FG_HDR + size;
	for (i = end; i < UPCALL_MSG_SIZE; i++) {
		if (m[i]) {
			fg_violation(fg, "byte %zu of padding is 0x%02x", i, m[i]);
			return false;
		}
	}
	return true;
}

static void fg_record(struct fake_guest *fg, const uint8_t *m, bool ok)
{
	pthread_mutex_lock(&fg->lock);
	memcpy(fg->last, m, UPCALL_MSG_SIZE);
	fg->have_last = true;
	if (ok)
		fg->requests++;
	pthread_mutex_unlock(&fg->lock);
}

/* The correct answer to @req under @st. */
static void fg_build_reply(uint8_t *m, const uint8_t *req,
			   const struct fg_settings *st)
{
	uint32_t type = get32(req + 8);
	int32_t result = st->result;
	uint32_t size = 0;
	uint8_t *body = m + sizeof(struct upcall_reply_header);

	memset(m, 0, UPCALL_MSG_SIZE);
	if ((type == UPCALL_MSG_ADD_CPU || type == UPCALL_MSG_DEL_CPU) &&
	    st->cpu_index != FG_INDEX_NONE) {
		uint8_t count = req[FG_HDR];

		put32(body, st->cpu_index < 0 ? count : (uint32_t)st->cpu_index);
		size = sizeof(struct upcall_cpu_reply);
	} else if (type == UPCALL_MSG_GET_INFO && !st->info_on) {
		result = -1;	/* what a Dragonball guest says */
	} else if (type == UPCALL_MSG_GET_INFO && result == 0) {
		memcpy(body, &st->info, sizeof(st->info));
		size = sizeof(st->info);
	}
	put32(m, UPCALL_MAGIC_VERSION);
	put32(m + 4, size);
	put32(m + 8, type);
	put32(m + 16, (uint32_t)result);
}

/* Answer one request: 0 to go on, -1 to close the connection. */
static int fg_reply(struct fg_conn *c, const uint8_t *req,
		    const struct fg_settings *st)
{
	uint8_t m[UPCALL_MSG_SIZE];
	size_t i;

	fg_build_reply(m, req, st);
	switch (st->behavior) {
	case FG_GARBAGE:
		for (i = 0; i < sizeof(m); i += sizeof(uint64_t)) {
			uint64_t r = fg_random(c->fg);

			memcpy(m + i, &r, sizeof(r));
		}
		if (get32(m) == UPCALL_MAGIC_VERSION)
			m[0] ^= 0xff;
		break;
	case FG_EOF_MID_REPLY:
		fg_send(c->fd, m, FG_EOF_AFTER, false);
		return -1;
	case FG_BAD_MAGIC:
		put32(m, FG_BAD_MAGIC_VALUE);
		break;
	case FG_WRONG_TYPE:
		put32(m + 8, get32(req + 8) + 1);
		break;
	case FG_BIG_SIZE:
		put32(m + 4, FG_BIG_SIZE_VALUE);
		break;
	default:
		break;
	}
	return fg_send(c->fd, m, sizeof(m), st->behavior == FG_PIECES);
}

static void fg_serve_requests(struct fg_conn *c)
{
	struct fake_guest *fg = c->fg;
	uint8_t req[UPCALL_MSG_SIZE];
	struct fg_settings st;

	for (;;) {
		if (fg_read_full(fg, c->fd, req, sizeof(req)) < 0)
			return;
		/* Settings first: once a request is counted, its reply is fixed. */
		fg_snapshot(fg, &st);
		fg_record(fg, req, fg_check_request(fg, req));
		if (st.behavior == FG_SILENT)
			continue;
		if (st.delay_ms && fg_sleep(fg, st.delay_ms) < 0)
			return;
		if (fg_reply(c, req, &st) < 0)
			return;
	}
}

/* -------------------------------------------------------- connections */

static void *fg_conn_main(void *arg)
{
	struct fg_conn *c = arg;
	struct fake_guest *fg = c->fg;
	struct fg_settings st;

	/* Keep FG_PIECES' pauses tiny. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
	fg_snapshot(fg, &st);
	if ((!c->hybrid || fg_hybrid(c, &st) == 0) && fg_greet(c, &st) == 0)
		fg_serve_requests(c);

	pthread_mutex_lock(&fg->lock);
	close(c->fd);
	c->fd = -1;
	c->ready = false;
	c->done = true;
	pthread_mutex_unlock(&fg->lock);
	return NULL;
}

/* Join and free the connections whose thread has returned. */
static void fg_reap(struct fake_guest *fg)
{
	struct fg_conn **pp, *dead = NULL, *c;

	pthread_mutex_lock(&fg->lock);
	for (pp = &fg->conns; (c = *pp);) {
		if (!c->done) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		c->next = dead;
		dead = c;
	}
	pthread_mutex_unlock(&fg->lock);
	while ((c = dead)) {
		dead = c->next;
		pthread_join(c->thread, NULL);
		free(c);
	}
}

static int fg_start_conn(struct fake_guest *fg, int fd, bool hybrid)
{
	struct fg_conn *c = calloc(1, sizeof(*c));
	int r;

	if (!c)
		return -ENOMEM;
	c->fg = fg;
	c->fd = fd;
	c->hybrid = hybrid;
	pthread_mutex_lock(&fg->lock);
	if (fg->stopping) {
		r = -ESHUTDOWN;
		goto fail;
	}
	r = -pthread_create(&c->thread, NULL, fg_conn_main, c);
	if (r < 0)
		goto fail;
	c->next = fg->conns;
	fg->conns = c;
	fg->connections++;
	pthread_mutex_unlock(&fg->lock);
	return 0;
fail:
	pthread_mutex_unlock(&fg->lock);
	free(c);
	return r;
}

static void *fg_accept_main(void *arg)
{
	struct fake_guest *fg = arg;

	for (;;) {
		int fd;

		if (fg_wait_readable(fg, fg->lfd) <= 0)
			return NULL;
		fd = accept4(fg->lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == EAGAIN ||
			    errno == ECONNABORTED)
				continue;
			return NULL;
		}
		fg_reap(fg);
		if (fg_start_conn(fg, fd, fg->hybrid) < 0)
			close(fd);
	}
}

int fg_serve_fd(struct fake_guest *fg, int fd)
{
	int r;

	if (!fg || fd < 0)
		return -EINVAL;
	fg_reap(fg);
	r = fg_start_conn(fg, fd, false);
	if (r < 0)
		close(fd);
	return r;
}

static int fg_listen(struct fake_guest *fg, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa.sun_path, path);
	fg->path = strdup(path);
	if (!fg->path)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	fg->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fg->lfd < 0)
		return -1;
	if (bind(fg->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	fg->bound = true;
	if (listen(fg->lfd, 64) < 0)
		return -1;
	errno = pthread_create(&fg->acceptor, NULL, fg_accept_main, fg);
	if (errno)
		return -1;
	fg->has_acceptor = true;
	return 0;
}

static void fg_default_info(struct upcall_info_reply *info)
{
	memset(info, 0, sizeof(*info));
	info->version = htole32(UPCALL_INFO_VERSION);
	info->ops = htole32(0x1feu);	/* types 1..8 */
	info->mem_block_size = htole64(0x8000000u);
	info->cpus_possible = htole32(8);
	info->cpus_present = htole32(1);
	info->cpus_online = htole32(1);
	info->mem_policy = htole32(UPCALL_MEM_POLICY_ONLINE_MOVABLE);
	info->cpu_mode = htole32(UPCALL_CPU_MODE_HOTADD);
	info->arch = htole32(UPCALL_GUEST_ARCH_X86_64);
}

struct fake_guest *fg_new(const char *path, int hybrid)
{
	struct fake_guest *fg = calloc(1, sizeof(*fg));
	int err;

	if (!fg)
		return NULL;
	pthread_mutex_init(&fg->lock, NULL);
	fg->lfd = -1;
	fg->hybrid = hybrid != 0;
	fg->set.behavior = FG_OK;
	fg->set.cpu_index = -1;
	fg->set.info_on = true;
	fg_default_info(&fg->set.info);
	fg->rng = 0x9e3779b97f4a7c15ull;
	fg->stopfd = eventfd(0, EFD_CLOEXEC);
	if (fg->stopfd < 0)
		goto fail;
	if (path && fg_listen(fg, path) < 0)
		goto fail;
	return fg;
fail:
	err = errno;
	fg_free(fg);
	errno = err;
	return NULL;
}

void fg_free(struct fake_guest *fg)
{
	uint64_t one = 1;
	struct fg_conn *c;

	if (!fg)
		return;
	pthread_mutex_lock(&fg->lock);
	fg->stopping = true;
	pthread_mutex_unlock(&fg->lock);
	if (fg->stopfd >= 0 && write(fg->stopfd, &one, sizeof(one)) < 0)
		perror("fake-guest: eventfd");
	if (fg->has_acceptor)
		pthread_join(fg->acceptor, NULL);
	/* A thread blocked in send() does not poll: unblock it too. */
	fg_drop_connections(fg);
	while ((c = fg->conns)) {
		fg->conns = c->next;
		pthread_join(c->thread, NULL);
		free(c);
	}
	if (fg->lfd >= 0)
		close(fg->lfd);
	if (fg->stopfd >= 0)
		close(fg->stopfd);
	if (fg->bound)
		unlink(fg->path);
	free(fg->path);
	pthread_mutex_destroy(&fg->lock);
	free(fg);
}

void fg_drop_connections(struct fake_guest *fg)
{
	struct fg_conn *c;

	pthread_mutex_lock(&fg->lock);
	for (c = fg->conns; c; c = c->next)
		if (c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
	pthread_mutex_unlock(&fg->lock);
}

/*
 * A connection is marked ready just after its CONNECT message went out, so
 * the client may see it first: wait a little for one.
 */
int fg_send_unsolicited(struct fake_guest *fg)
{
	uint8_t m[UPCALL_MSG_SIZE] = { 0 };
	struct fg_conn *c;
	int n = 0, tries;

	put32(m, UPCALL_MAGIC_VERSION);
	put32(m + 8, UPCALL_MSG_ADD_PCI);
	for (tries = 0; n == 0 && tries < 1000; tries++) {
		if (tries)
			fg_sleep(fg, 1);
		pthread_mutex_lock(&fg->lock);
		for (c = fg->conns; c; c = c->next)
			if (c->fd >= 0 && c->ready &&
			    send(c->fd, m, sizeof(m), MSG_NOSIGNAL | MSG_DONTWAIT) ==
				    (ssize_t)sizeof(m))
				n++;
		pthread_mutex_unlock(&fg->lock);
	}
	return n;
}

/* ----------------------------------------------------- settings, stats */

void fg_set_behavior(struct fake_guest *fg, enum fg_behavior b)
{
	pthread_mutex_lock(&fg->lock);
	fg->set.behavior = b;
	pthread_mutex_unlock(&fg->lock);
}

void fg_set_result(struct fake_guest *fg, int32_t result, int32_t cpu_index)
{
	pthread_mutex_lock(&fg->lock);
	fg->set.result = result;
	fg->set.cpu_index = cpu_index;
	pthread_mutex_unlock(&fg->lock);
}

void fg_set_delay_ms(struct fake_guest *fg, unsigned int ms)
{
	pthread_mutex_lock(&fg->lock);
	fg->set.delay_ms = ms;
	pthread_mutex_unlock(&fg->lock);
}

void fg_set_info(struct fake_guest *fg, const struct upcall_info_reply *info)
{
	pthread_mutex_lock(&fg->lock);
	fg->set.info_on = info != NULL;
	if (info)
		fg->set.info = *info;
	pthread_mutex_unlock(&fg->lock);
}

void fg_get_info(struct fake_guest *fg, struct upcall_info_reply *info)
{
	pthread_mutex_lock(&fg->lock);
	*info = fg->set.info;
	pthread_mutex_unlock(&fg->lock);
}

static unsigned int fg_get(struct fake_guest *fg, const unsigned int *v)
{
	unsigned int r;

	pthread_mutex_lock(&fg->lock);
	r = *v;
	pthread_mutex_unlock(&fg->lock);
	return r;
}

unsigned int fg_requests(struct fake_guest *fg)
{
	return fg_get(fg, &fg->requests);
}

unsigned int fg_violations(struct fake_guest *fg)
{
	return fg_get(fg, &fg->violations);
}

unsigned int fg_connections(struct fake_guest *fg)
{
	return fg_get(fg, &fg->connections);
}

unsigned int fg_last_port(struct fake_guest *fg)
{
	return fg_get(fg, &fg->last_port);
}

int fg_last_request(struct fake_guest *fg, uint8_t buf[UPCALL_MSG_SIZE])
{
	int r = -ENOENT;

	pthread_mutex_lock(&fg->lock);
	if (fg->have_last) {
		memcpy(buf, fg->last, UPCALL_MSG_SIZE);
		r = 0;
	}
	pthread_mutex_unlock(&fg->lock);
	return r;
}
