// SPDX-License-Identifier: MIT
/*
 * A session: one guest, one connection at a time, reconnected with backoff.
 *
 *   open -> CONNECTING -> [HYBRID: "CONNECT p\n" / "OK"] -> GREETING: 'd',
 *   the guest's CONNECT message -> READY -> (drop) -> BACKOFF -> CONNECTING
 *
 * Exactly one request is in flight per connection; the rest wait in order.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "libupcall-private.h"

#define DEFAULT_CONNECT_TIMEOUT	(5 * 1000000ull)
#define DEFAULT_REQUEST_TIMEOUT	(30 * 1000000ull)
#define DEFAULT_BACKOFF_MIN	(100 * 1000ull)
#define DEFAULT_BACKOFF_MAX	(5 * 1000000ull)

static const char *const state_names[] = {
	[UPCALL_SESSION_IDLE] = "idle",
	[UPCALL_SESSION_CONNECTING] = "connecting",
	[UPCALL_SESSION_READY] = "ready",
	[UPCALL_SESSION_RECONNECTING] = "reconnecting",
	[UPCALL_SESSION_CLOSED] = "closed",
};

static void session_timer_fn(struct utimer *t);
static void session_start_connect(upcall_session *s);

UPCALL_EXPORT int upcall_session_new(upcall_ctx *ctx, upcall_session **ret)
{
	upcall_session *s;

	if (!ctx || !ret)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->n_ref = 1;
	s->ctx = upcall_ctx_ref(ctx);
	pthread_mutex_lock(&ctx->lock);
	ctx->n_sessions++;
	pthread_mutex_unlock(&ctx->lock);
#ifdef __aarch64__
	s->arch = UPCALL_ARCH_AARCH64;
#else
	s->arch = UPCALL_ARCH_X86_64;
#endif
	s->port = UPCALL_DEFAULT_PORT;
	s->connect_timeout = DEFAULT_CONNECT_TIMEOUT;
	s->request_timeout = DEFAULT_REQUEST_TIMEOUT;
	s->reconnect = true;
	s->backoff_min = s->backoff = DEFAULT_BACKOFF_MIN;
	s->backoff_max = DEFAULT_BACKOFF_MAX;
	s->apic_ver = UPCALL_APIC_VERSION_DEFAULT;
	s->fd = -1;
	s->phase = PHASE_IDLE;
	s->state = UPCALL_SESSION_IDLE;
	utimer_init(&s->timer, session_timer_fn);
	ulist_init(&s->queue);
	ulist_init(&s->state_node);
	ulist_init(&s->io_node);
	*ret = s;
	return 0;
}

UPCALL_EXPORT upcall_session *upcall_session_ref(upcall_session *s)
{
	if (!s)
		return NULL;
	pthread_mutex_lock(&s->ctx->lock);
	s->n_ref++;
	pthread_mutex_unlock(&s->ctx->lock);
	return s;
}

/*
 * Watch the socket for @events, 0 for not at all: in the context's epoll,
 * or through the caller's I/O callback (upcall_ctx_set_io_fn()).
 */
static int session_poll_set(upcall_session *s, uint32_t events)
{
	upcall_ctx *ctx = s->ctx;
	upcall_io_op op;
	int r;

	if (events == s->epoll_events)
		return 0;
	op = !s->epoll_events ? UPCALL_IO_ADD :
	     events ? UPCALL_IO_MOD : UPCALL_IO_DEL;
	if (!ctx->io_fn) {
		r = ctx_epoll_ctl(ctx, (int)op, s->fd, events, s);
		if (op == UPCALL_IO_DEL)
			r = 0;
	} else {
		r = ctx->io_fn(s, s->fd, op, events, ctx->io_data);
		if (op == UPCALL_IO_DEL) {
			r = 0;
			ulist_del(&s->io_node);
			ctx->n_io--;
		} else if (r >= 0 && op == UPCALL_IO_ADD) {
			ulist_add_tail(&ctx->io_list, &s->io_node);
			ctx->n_io++;
		}
		ctx_io_changed(ctx);
	}
	if (r < 0)
		return r;
	s->epoll_events = events;
	return 0;
}

static void session_close_fd(upcall_session *s)
{
	if (s->fd < 0)
		return;
	session_poll_set(s, 0);
	close(s->fd);
	s->fd = -1;
	s->rx_len = s->tx_len = s->tx_off = 0;
	s->discard_reply = false;
}

static void session_abort_all(upcall_session *s, int inflight_err, int err)
{
	if (s->inflight)
		request_abort(s->inflight, inflight_err);
	while (!ulist_empty(&s->queue))
		request_abort(container_of(s->queue.next, upcall_request, node),
			      err);
}

/* Closed for good: nothing pending survives. */
static void session_teardown(upcall_session *s, int err)
{
	session_close_fd(s);
	ctx_timer_del(s->ctx, &s->timer);
	session_abort_all(s, err, err);
	s->phase = PHASE_CLOSED;
}

void session_unref_locked(upcall_session *s, bool *freeit)
{
	*freeit = false;
	if (--s->n_ref > 0)
		return;
	session_teardown(s, -ESHUTDOWN);
	*freeit = true;
}

/*
 * The last reference went, so no state event is queued and no state
 * callback runs: the state callback's userdata is released here, once.
 */
void session_free(upcall_session *s)
{
	upcall_ctx *ctx = s->ctx;

	if (s->state_destroy)
		s->state_destroy(s->state_data);
	pthread_mutex_lock(&ctx->lock);
	ctx->n_sessions--;
	pthread_mutex_unlock(&ctx->lock);
	free(s->path);
	free(s);
	upcall_ctx_unref(ctx);
}

UPCALL_EXPORT upcall_session *upcall_session_unref(upcall_session *s)
{
	bool freeit;

	if (!s)
		return NULL;
	pthread_mutex_lock(&s->ctx->lock);
	session_unref_locked(s, &freeit);
	pthread_mutex_unlock(&s->ctx->lock);
	if (freeit)
		session_free(s);
	return NULL;
}

/*
 * Queue a state event for dispatch.  A session with events waiting holds a
 * reference, so it outlives its owner's unref until they are delivered.
 * Overflowing events coalesce into the latest.
 */
void session_set_state(upcall_session *s, upcall_session_state st, int err)
{
	if (s->state == st)
		return;
	ulog_dbg(s->ctx, "session %p: %s -> %s (%s)", (void *)s,
		 state_names[s->state], state_names[st], upcall_strerror(err));
	s->state = st;
	pthread_cond_broadcast(&s->ctx->cond);
	if (s->n_ref == 0)
		return;
	if (s->n_events == SESSION_EVENTS_MAX)
		s->n_events--;
	s->events[s->n_events++] = (struct session_event){ st, err };
	if (s->n_events == 1) {
		s->n_ref++;
		ulist_add_tail(&s->ctx->state_q, &s->state_node);
		ctx_wake(s->ctx);
	}
}

/* The connection is gone: fail what it carried, then back off or close. */
void session_fail(upcall_session *s, int err)
{
	bool was_ready = s->phase == PHASE_READY;
	uint64_t delay;

	if (s->phase == PHASE_IDLE || s->phase == PHASE_CLOSED ||
	    s->phase == PHASE_BACKOFF)
		return;
	ulog_dbg(s->ctx, "session %p: connection lost: %s", (void *)s,
		 upcall_strerror(err));
	session_close_fd(s);
	ctx_timer_del(s->ctx, &s->timer);
	s->last_error = err;
	if (was_ready)
		session_abort_all(s, err, -ECONNRESET);

	if (!s->reconnect || s->kind == TRANSPORT_FD) {
		session_abort_all(s, err, err);
		s->phase = PHASE_CLOSED;
		session_set_state(s, UPCALL_SESSION_CLOSED, err);
		return;
	}
	delay = s->backoff;
	s->backoff = s->backoff > s->backoff_max / 2 ? s->backoff_max :
						       s->backoff * 2;
	s->phase = PHASE_BACKOFF;
	if (ctx_timer_add(s->ctx, &s->timer, usec_add(now_usec(), delay)) < 0) {
		session_teardown(s, -ENOMEM);
		session_set_state(s, UPCALL_SESSION_CLOSED, -ENOMEM);
		return;
	}
	session_set_state(s, UPCALL_SESSION_RECONNECTING, err);
}

static void session_update_epoll(upcall_session *s)
{
	uint32_t want = EPOLLIN;
	int r;

	if (s->phase == PHASE_CONNECTING || s->tx_len > 0)
		want |= EPOLLOUT;
	r = session_poll_set(s, want);
	if (r < 0)
		session_fail(s, r);
}

static void session_queue_tx(upcall_session *s, const void *buf, size_t len)
{
	memcpy(s->tx, buf, len);
	s->tx_len = len;
	s->tx_off = 0;
}

/* Send what is queued; false if the session failed. */
static bool session_flush(upcall_session *s)
{
	int r = transport_flush(s);

	if (r < 0 && r != -EAGAIN) {
		session_fail(s, r);
		return false;
	}
	session_update_epoll(s);
	return s->fd >= 0;
}

/* Send the oldest queued request if the connection is free. */
void session_kick(upcall_session *s)
{
	upcall_request *req;

	if (s->phase != PHASE_READY || s->inflight || s->discard_reply ||
	    ulist_empty(&s->queue))
		return;
	req = container_of(s->queue.next, upcall_request, node);
	ulist_del(&req->node);
	req->phase = REQ_INFLIGHT;
	s->inflight = req;
	proto_encode(s->tx, req->type, req->body, req->body_len);
	s->tx_len = UPCALL_MSG_SIZE;
	s->tx_off = 0;
	session_flush(s);
}

static void session_greet(upcall_session *s)
{
	const uint8_t svc = UPCALL_SERVICE_DEVMGR;

	s->phase = PHASE_GREETING;
	s->rx_len = 0;
	session_queue_tx(s, &svc, 1);
	session_flush(s);
}

static void session_connected(upcall_session *s)
{
	char line[32];
	int n;

	if (s->kind != TRANSPORT_UNIX) {
		session_greet(s);
		return;
	}
	n = snprintf(line, sizeof(line), "CONNECT %u\n", s->port);
	s->phase = PHASE_HYBRID;
	s->rx_len = 0;
	session_queue_tx(s, line, (size_t)n);
	session_flush(s);
}

static void session_ready(upcall_session *s)
{
	ctx_timer_del(s->ctx, &s->timer);
	s->phase = PHASE_READY;
	s->rx_len = 0;
	s->backoff = s->backoff_min;
	s->last_error = 0;
	session_set_state(s, UPCALL_SESSION_READY, 0);
	session_kick(s);
}

static void session_on_reply(upcall_session *s)
{
	upcall_request *req = s->inflight;
	uint32_t type = req ? req->type : s->discard_type;
	struct proto_reply rep;

	if (proto_parse_reply(s->rx, type, &rep) < 0) {
		ulog_err(s->ctx, "session %p: malformed reply to type %u",
			 (void *)s, type);
		session_fail(s, -EPROTO);
		return;
	}
	if (!req) {
		/* The answer to a cancelled request: drop it, go on. */
		s->discard_reply = false;
		ctx_timer_del(s->ctx, &s->timer);
	} else {
		req->result = rep.result;
		req->reply_size = rep.body_size < sizeof(req->reply) ?
				  rep.body_size : sizeof(req->reply);
		memcpy(req->reply, rep.body, req->reply_size);
		s->inflight = NULL;
		request_complete(req, 1);
	}
	session_kick(s);
}

/* Fill s->rx up to a whole message; true when it holds one. */
static bool session_read_msg(upcall_session *s)
{
	while (s->rx_len < UPCALL_MSG_SIZE) {
		ssize_t n = transport_read(s, s->rx + s->rx_len,
					   UPCALL_MSG_SIZE - s->rx_len);

		if (n == -EAGAIN)
			return false;
		if (n < 0) {
			session_fail(s, (int)n);
			return false;
		}
		s->rx_len += (size_t)n;
	}
	s->rx_len = 0;
	return true;
}

static void session_read_ready(upcall_session *s)
{
	if (!s->inflight && !s->discard_reply) {
		uint8_t c;
		ssize_t n = transport_read(s, &c, 1);

		/* Nothing was asked: any byte is a broken guest. */
		if (n != -EAGAIN)
			session_fail(s, n > 0 ? -EPROTO : (int)n);
		return;
	}
	/* One reply at most: epoll reports whatever follows it. */
	if (session_read_msg(s))
		session_on_reply(s);
}

static void session_read(upcall_session *s)
{
	char line[HYBRID_LINE_MAX + 1];
	int r;

	switch (s->phase) {
	case PHASE_HYBRID:
		r = transport_read_line(s, line, sizeof(line));
		if (r == -EAGAIN)
			return;
		if (r == 0)
			r = proto_parse_hybrid_line(line);
		if (r < 0) {
			session_fail(s, r);
			return;
		}
		session_greet(s);
		if (s->phase != PHASE_GREETING)
			return;
		/* The CONNECT message may be there already. */
		__attribute__((fallthrough));
	case PHASE_GREETING:
		if (s->tx_len > 0 || !session_read_msg(s))
			return;
		if (proto_check_connect(s->rx) < 0) {
			ulog_err(s->ctx, "session %p: bad CONNECT message",
				 (void *)s);
			session_fail(s, -EPROTO);
			return;
		}
		session_ready(s);
		__attribute__((fallthrough));
	case PHASE_READY:
		session_read_ready(s);
		return;
	default:
		return;
	}
}

/*
 * epoll's flags are only hints: a batch may carry events of a socket that
 * was closed and replaced in the same batch, so every decision rests on the
 * result of a syscall on the current fd.
 */
void session_io(upcall_session *s)
{
	int r;

	if (s->fd < 0)
		return;
	if (s->phase == PHASE_CONNECTING) {
		r = transport_connect_finish(s);
		if (r == -EAGAIN)
			return;
		if (r < 0) {
			session_fail(s, r);
			return;
		}
		session_connected(s);
		if (s->fd < 0)
			return;
	}
	if (s->tx_len > 0 && !session_flush(s))
		return;
	session_read(s);
}

static void session_start_connect(upcall_session *s)
{
	int r;

	s->rx_len = s->tx_len = s->tx_off = 0;
	s->discard_reply = false;
	if (s->kind != TRANSPORT_FD) {
		r = transport_connect(s);
		if (r < 0)
			goto fail;
	}
	r = session_poll_set(s, EPOLLIN | EPOLLOUT);
	if (r < 0)
		goto fail;
	s->phase = PHASE_CONNECTING;
	r = ctx_timer_add(s->ctx, &s->timer,
			  usec_add(now_usec(), s->connect_timeout));
	if (r < 0)
		goto fail;
	return;
fail:
	/* session_fail() only acts on a live attempt. */
	s->phase = PHASE_CONNECTING;
	session_fail(s, r);
}

static void session_timer_fn(struct utimer *t)
{
	upcall_session *s = container_of(t, upcall_session, timer);

	if (s->phase == PHASE_BACKOFF) {
		ulog_dbg(s->ctx, "session %p: reconnecting", (void *)s);
		session_start_connect(s);
		return;
	}
	/* A connect attempt, or a cancelled request's reply, took too long. */
	session_fail(s, -ETIMEDOUT);
}

/* Run @fn on an unopened session with the lock held. */
#define SESSION_SET(s, cond, ...)					\
	do {								\
		int _r = 0;						\
		if (!(s) || !(cond))					\
			return -EINVAL;					\
		pthread_mutex_lock(&(s)->ctx->lock);			\
		if ((s)->phase != PHASE_IDLE)				\
			_r = -EBUSY;					\
		else							\
			__VA_ARGS__;					\
		pthread_mutex_unlock(&(s)->ctx->lock);			\
		return _r;						\
	} while (0)

/* Options that may change at any time. */
#define SESSION_SET_ANYTIME(s, cond, ...)				\
	do {								\
		if (!(s) || !(cond))					\
			return -EINVAL;					\
		pthread_mutex_lock(&(s)->ctx->lock);			\
		__VA_ARGS__;						\
		pthread_mutex_unlock(&(s)->ctx->lock);			\
		return 0;						\
	} while (0)

UPCALL_EXPORT int upcall_session_set_arch(upcall_session *s, upcall_arch arch)
{
	SESSION_SET(s, arch == UPCALL_ARCH_X86_64 || arch == UPCALL_ARCH_AARCH64,
		    s->arch = arch);
}

UPCALL_EXPORT int upcall_session_get_arch(upcall_session *s)
{
	return s ? (int)s->arch : -EINVAL;
}

UPCALL_EXPORT int upcall_session_set_port(upcall_session *s, uint32_t port)
{
	SESSION_SET(s, port > 0, s->port = port);
}

UPCALL_EXPORT int upcall_session_set_connect_timeout(upcall_session *s,
						     uint64_t usec)
{
	SESSION_SET_ANYTIME(s, usec > 0, s->connect_timeout = usec);
}

UPCALL_EXPORT int upcall_session_set_request_timeout(upcall_session *s,
						     uint64_t usec)
{
	SESSION_SET_ANYTIME(s, usec > 0, s->request_timeout = usec);
}

UPCALL_EXPORT int upcall_session_set_reconnect(upcall_session *s, int enable,
					       uint64_t min_usec,
					       uint64_t max_usec)
{
	SESSION_SET_ANYTIME(s, !enable || (min_usec > 0 && max_usec >= min_usec),
			    s->reconnect = enable;
			    if (enable) {
				    s->backoff_min = s->backoff = min_usec;
				    s->backoff_max = max_usec;
			    });
}

UPCALL_EXPORT int upcall_session_set_apic_version(upcall_session *s,
						  uint8_t apic_ver)
{
	SESSION_SET(s, true, s->apic_ver = apic_ver);
}

UPCALL_EXPORT int upcall_session_set_privileged_port(upcall_session *s,
						     int enable)
{
	SESSION_SET(s, true, s->privileged_port = enable != 0);
}

UPCALL_EXPORT int upcall_session_set_state_fn(upcall_session *s,
					      upcall_session_state_fn fn,
					      void *userdata)
{
	SESSION_SET_ANYTIME(s, true, s->state_fn = fn; s->state_data = userdata);
}

UPCALL_EXPORT int upcall_session_set_destroy_fn(upcall_session *s,
						upcall_destroy_fn fn)
{
	SESSION_SET_ANYTIME(s, true, s->state_destroy = fn);
}

UPCALL_EXPORT int upcall_session_set_userdata(upcall_session *s, void *userdata)
{
	SESSION_SET_ANYTIME(s, true, s->userdata = userdata);
}

UPCALL_EXPORT void *upcall_session_get_userdata(upcall_session *s)
{
	return s ? s->userdata : NULL;
}

UPCALL_EXPORT upcall_ctx *upcall_session_get_ctx(upcall_session *s)
{
	return s ? s->ctx : NULL;
}

static int session_open(upcall_session *s, enum transport_kind kind,
			char *path, uint32_t cid, int fd)
{
	int r;

	pthread_mutex_lock(&s->ctx->lock);
	if (s->phase != PHASE_IDLE) {
		pthread_mutex_unlock(&s->ctx->lock);
		free(path);
		return -EBUSY;
	}
	s->kind = kind;
	s->path = path;
	s->cid = cid;
	s->fd = fd;
	session_set_state(s, UPCALL_SESSION_CONNECTING, 0);
	session_start_connect(s);
	/* Closed already (no reconnect possible): say why now, not later. */
	r = s->phase == PHASE_CLOSED ? s->last_error : 0;
	pthread_mutex_unlock(&s->ctx->lock);
	return r;
}

UPCALL_EXPORT int upcall_session_open_unix(upcall_session *s, const char *path)
{
	struct sockaddr_un sa;
	char *p;

	if (!s || !path || !*path)
		return -EINVAL;
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	p = strdup(path);
	if (!p)
		return -ENOMEM;
	return session_open(s, TRANSPORT_UNIX, p, 0, -1);
}

UPCALL_EXPORT int upcall_session_open_vsock(upcall_session *s, uint32_t cid)
{
	if (!s)
		return -EINVAL;
	return session_open(s, TRANSPORT_VSOCK, NULL, cid, -1);
}

/* The fd handed in is ours and unusable: close both it and the session. */
static int session_refuse_fd(upcall_session *s, int fd, int err)
{
	close(fd);
	pthread_mutex_lock(&s->ctx->lock);
	s->phase = PHASE_CLOSED;
	s->last_error = err;
	session_set_state(s, UPCALL_SESSION_CLOSED, err);
	pthread_mutex_unlock(&s->ctx->lock);
	return err;
}

UPCALL_EXPORT int upcall_session_open_fd(upcall_session *s, int fd)
{
	socklen_t len = sizeof(int);
	int type, fl;

	if (!s || fd < 0)
		return -EINVAL;
	if (upcall_session_get_state(s) != UPCALL_SESSION_IDLE)
		return -EBUSY;
	/* From here on the fd is ours, also when we refuse it. */
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0)
		return session_refuse_fd(s, fd, -errno);
	if (type != SOCK_STREAM)
		return session_refuse_fd(s, fd, -EPROTOTYPE);
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return session_refuse_fd(s, fd, -errno);
	return session_open(s, TRANSPORT_FD, NULL, 0, fd);
}

UPCALL_EXPORT int upcall_session_close(upcall_session *s)
{
	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->ctx->lock);
	if (s->phase != PHASE_CLOSED) {
		session_teardown(s, -ESHUTDOWN);
		s->last_error = -ESHUTDOWN;
		session_set_state(s, UPCALL_SESSION_CLOSED, 0);
	}
	pthread_mutex_unlock(&s->ctx->lock);
	return 0;
}

UPCALL_EXPORT int upcall_session_get_state(upcall_session *s)
{
	int st;

	if (!s)
		return -EINVAL;
	pthread_mutex_lock(&s->ctx->lock);
	st = (int)s->state;
	pthread_mutex_unlock(&s->ctx->lock);
	return st;
}

static bool session_settled(void *arg)
{
	upcall_session *s = arg;

	return s->state == UPCALL_SESSION_READY ||
	       s->state == UPCALL_SESSION_CLOSED ||
	       s->state == UPCALL_SESSION_IDLE;
}

UPCALL_EXPORT int upcall_session_wait_ready(upcall_session *s,
					    uint64_t timeout_usec)
{
	int r;

	if (!s)
		return -EINVAL;
	r = ctx_drive(s->ctx, session_settled, s, timeout_usec);
	if (r < 0)
		return r;
	pthread_mutex_lock(&s->ctx->lock);
	if (s->state == UPCALL_SESSION_READY)
		r = 0;
	else if (s->state == UPCALL_SESSION_IDLE)
		r = -ENOTCONN;
	else
		r = s->last_error ? s->last_error : -ESHUTDOWN;
	pthread_mutex_unlock(&s->ctx->lock);
	return r;
}
