// SPDX-License-Identifier: MIT
/*
 * The context: one epoll fd for every session, a timer heap mirrored by one
 * timerfd, and the queues of callbacks to dispatch once the lock is dropped.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "libupcall-private.h"

#define EPOLL_BATCH 64

/* epoll data of the two internal fds; session events carry the session. */
static char tag_wake, tag_timer;

static void timespec_from_usec(struct timespec *ts, uint64_t usec)
{
	ts->tv_sec = usec / 1000000u;
	ts->tv_nsec = (usec % 1000000u) * 1000u;
}

void ctx_log(upcall_ctx *ctx, int prio, const char *file, int line,
	     const char *fn, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ctx->log_fn(ctx, prio, file, line, fn, fmt, ap, ctx->log_data);
	va_end(ap);
}

/* The last reference went: nothing logs any more. */
static void ctx_free(upcall_ctx *ctx)
{
	if (ctx->log_destroy)
		ctx->log_destroy(ctx->log_data);
	request_cache_free(ctx);
	utimer_heap_free(&ctx->timers);
	if (ctx->timerfd >= 0)
		close(ctx->timerfd);
	if (ctx->wakefd >= 0)
		close(ctx->wakefd);
	if (ctx->epfd >= 0)
		close(ctx->epfd);
	pthread_cond_destroy(&ctx->cond);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx);
}

UPCALL_EXPORT int upcall_ctx_new(upcall_ctx **ret)
{
	pthread_condattr_t ca;
	upcall_ctx *ctx;
	int r;

	if (!ret)
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	atomic_init(&ctx->n_ref, 1);
	ctx->epfd = ctx->wakefd = ctx->timerfd = -1;
	ctx->timerfd_armed = UINT64_MAX;
	ctx->log_priority = LOG_ERR;
	ulist_init(&ctx->done);
	ulist_init(&ctx->state_q);
	ulist_init(&ctx->io_list);
	pthread_mutex_init(&ctx->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ctx->cond, &ca);
	pthread_condattr_destroy(&ca);

	ctx->epfd = epoll_create1(EPOLL_CLOEXEC);
	ctx->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ctx->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (ctx->epfd < 0 || ctx->wakefd < 0 || ctx->timerfd < 0) {
		r = -errno;
		goto fail;
	}
	r = ctx_epoll_ctl(ctx, EPOLL_CTL_ADD, ctx->wakefd, EPOLLIN, &tag_wake);
	if (r < 0)
		goto fail;
	r = ctx_epoll_ctl(ctx, EPOLL_CTL_ADD, ctx->timerfd, EPOLLIN, &tag_timer);
	if (r < 0)
		goto fail;
	*ret = ctx;
	return 0;
fail:
	ctx_free(ctx);
	return r;
}

UPCALL_EXPORT upcall_ctx *upcall_ctx_ref(upcall_ctx *ctx)
{
	if (ctx)
		atomic_fetch_add(&ctx->n_ref, 1);
	return ctx;
}

static void ctx_join_thread(upcall_ctx *ctx)
{
	pthread_mutex_lock(&ctx->lock);
	ctx->thread_stop = true;
	ctx_wake(ctx);
	pthread_mutex_unlock(&ctx->lock);
	pthread_join(ctx->thread, NULL);
	pthread_mutex_lock(&ctx->lock);
	ctx->thread_running = false;
	ctx->thread_stop = false;
	pthread_cond_broadcast(&ctx->cond);	/* waiters may process now */
	pthread_mutex_unlock(&ctx->lock);
}

UPCALL_EXPORT upcall_ctx *upcall_ctx_unref(upcall_ctx *ctx)
{
	if (!ctx || atomic_fetch_sub(&ctx->n_ref, 1) != 1)
		return NULL;
	if (ctx->thread_running) {
		if (pthread_equal(ctx->thread, pthread_self())) {
			/* The thread frees the context once its round ends. */
			ctx->thread_frees = true;
			return NULL;
		}
		ctx_join_thread(ctx);
	}
	ctx_free(ctx);
	return NULL;
}

UPCALL_EXPORT int upcall_ctx_set_log_fn(upcall_ctx *ctx, upcall_log_fn fn,
					void *userdata)
{
	if (!ctx)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	ctx->log_fn = fn;
	ctx->log_data = userdata;
	pthread_mutex_unlock(&ctx->lock);
	return 0;
}

UPCALL_EXPORT int upcall_ctx_set_log_destroy_fn(upcall_ctx *ctx,
						upcall_destroy_fn fn)
{
	if (!ctx)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	ctx->log_destroy = fn;
	pthread_mutex_unlock(&ctx->lock);
	return 0;
}

UPCALL_EXPORT int upcall_ctx_set_log_priority(upcall_ctx *ctx, int priority)
{
	if (!ctx || priority < LOG_EMERG || priority > LOG_DEBUG)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	ctx->log_priority = priority;
	pthread_mutex_unlock(&ctx->lock);
	return 0;
}

UPCALL_EXPORT int upcall_ctx_get_fd(upcall_ctx *ctx)
{
	return ctx ? ctx->epfd : -EINVAL;
}

UPCALL_EXPORT int upcall_ctx_get_events(upcall_ctx *ctx)
{
	return ctx ? POLLIN : -EINVAL;
}

static bool ctx_has_dispatch(upcall_ctx *ctx)
{
	return !ulist_empty(&ctx->done) || !ulist_empty(&ctx->state_q);
}

UPCALL_EXPORT int upcall_ctx_get_timeout(upcall_ctx *ctx, uint64_t *usec)
{
	struct utimer *t;

	if (!ctx || !usec)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	t = utimer_heap_peek(&ctx->timers);
	*usec = ctx_has_dispatch(ctx) ? 0 : t ? t->deadline : UINT64_MAX;
	pthread_mutex_unlock(&ctx->lock);
	return 0;
}

_Static_assert(UPCALL_IO_ADD == EPOLL_CTL_ADD && UPCALL_IO_DEL == EPOLL_CTL_DEL &&
	       UPCALL_IO_MOD == EPOLL_CTL_MOD, "upcall_io_op is EPOLL_CTL_*");
_Static_assert(POLLIN == EPOLLIN && POLLOUT == EPOLLOUT,
	       "the I/O callback's events are both poll and epoll bits");

int ctx_epoll_ctl(upcall_ctx *ctx, int op, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = { .events = events, .data.ptr = ptr };

	return epoll_ctl(ctx->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

bool ctx_on_processor(upcall_ctx *ctx)
{
	return ctx->processing && pthread_equal(ctx->processor, pthread_self());
}

/* Make the epoll fd readable (once until it is drained). */
static void ctx_signal(upcall_ctx *ctx)
{
	uint64_t one = 1;

	if (ctx->wake_pending)
		return;
	ctx->wake_pending = true;
	if (write(ctx->wakefd, &one, sizeof(one)) < 0)
		ctx->wake_pending = false;
}

/* Have the processing thread run the queues. */
void ctx_wake(upcall_ctx *ctx)
{
	if (!ctx_on_processor(ctx))
		ctx_signal(ctx);
}

/*
 * A socket was added, re-armed or dropped in io_fn mode: a thread polling
 * the old set (a blocking call, the library thread) must poll the new one.
 * Unlike ctx_wake(), this wakes it from the processing thread too.
 */
void ctx_io_changed(upcall_ctx *ctx)
{
	if (ctx->io_polling)
		ctx_signal(ctx);
}

UPCALL_EXPORT int upcall_ctx_set_io_fn(upcall_ctx *ctx, upcall_io_fn fn,
				       void *userdata)
{
	int r = 0;

	if (!ctx)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	if (ctx->n_sessions) {
		r = -EBUSY;
	} else {
		ctx->io_fn = fn;
		ctx->io_data = userdata;
	}
	pthread_mutex_unlock(&ctx->lock);
	return r;
}

/*
 * The timerfd is armed lazily: only when a deadline earlier than the armed
 * one appears.  A later expiry re-arms it to the heap's minimum, so steady
 * request traffic costs no timerfd syscalls at all.
 */
static void ctx_timerfd_sync(upcall_ctx *ctx)
{
	struct utimer *t = utimer_heap_peek(&ctx->timers);
	struct itimerspec its = { 0 };

	if (!t || t->deadline >= ctx->timerfd_armed)
		return;
	timespec_from_usec(&its.it_value, t->deadline);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;	/* zero would disarm */
	if (timerfd_settime(ctx->timerfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		ctx->timerfd_armed = t->deadline;
}

int ctx_timer_add(upcall_ctx *ctx, struct utimer *t, uint64_t deadline)
{
	int r;

	if (deadline == UINT64_MAX) {
		ctx_timer_del(ctx, t);
		return 0;
	}
	t->deadline = deadline;
	r = utimer_heap_add(&ctx->timers, t);
	if (r < 0)
		return r;
	ctx_timerfd_sync(ctx);
	return 0;
}

void ctx_timer_del(upcall_ctx *ctx, struct utimer *t)
{
	utimer_heap_del(&ctx->timers, t);
	t->deadline = UINT64_MAX;
}

static void ctx_run_timers(upcall_ctx *ctx)
{
	uint64_t now = now_usec();
	struct utimer *t;

	while ((t = utimer_heap_peek(&ctx->timers)) && t->deadline <= now) {
		ctx_timer_del(ctx, t);
		t->fn(t);
	}
}

static void drain_fd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) > 0)
		;
}

static int ctx_handle_events(upcall_ctx *ctx)
{
	struct epoll_event ev[EPOLL_BATCH];
	int i, n;

	n = epoll_wait(ctx->epfd, ev, EPOLL_BATCH, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		void *p = ev[i].data.ptr;

		if (p == &tag_wake) {
			drain_fd(ctx->wakefd);
			ctx->wake_pending = false;
		} else if (p == &tag_timer) {
			drain_fd(ctx->timerfd);
			ctx->timerfd_armed = UINT64_MAX;
		} else {
			session_io(p);
		}
	}
	return n;
}

/* Run the queued callbacks, lock dropped; returns how many ran. */
static int ctx_dispatch(upcall_ctx *ctx, struct ulist *done,
			struct ulist *state_q)
{
	int n = 0;

	while (!ulist_empty(state_q)) {
		upcall_session *s = container_of(state_q->next, upcall_session,
						 state_node);
		struct session_event ev[SESSION_EVENTS_MAX];
		upcall_session_state_fn fn;
		unsigned int i, k;
		bool freeit = false;
		void *data;

		pthread_mutex_lock(&ctx->lock);
		ulist_del(&s->state_node);
		k = s->n_events;
		memcpy(ev, s->events, k * sizeof(ev[0]));
		s->n_events = 0;
		fn = s->state_fn;
		data = s->state_data;
		pthread_mutex_unlock(&ctx->lock);
		for (i = 0; i < k; i++, n++)
			if (fn)
				fn(s, ev[i].state, ev[i].error, data);
		pthread_mutex_lock(&ctx->lock);
		session_unref_locked(s, &freeit);
		pthread_mutex_unlock(&ctx->lock);
		if (freeit)
			session_free(s);
	}
	while (!ulist_empty(done)) {
		upcall_request *req = container_of(done->next, upcall_request,
						   node);

		pthread_mutex_lock(&ctx->lock);
		ulist_del(&req->node);
		pthread_mutex_unlock(&ctx->lock);
		request_dispatch(req);
		n++;
	}
	return n;
}

/* Returns how many epoll events were handled, or -errno. */
static int ctx_process_locked(upcall_ctx *ctx, struct ulist *done,
			      struct ulist *state_q)
{
	int r;

	r = ctx_handle_events(ctx);
	if (r < 0)
		return r;
	ctx_run_timers(ctx);
	ctx_timerfd_sync(ctx);
	ulist_splice_tail(done, &ctx->done);
	ulist_splice_tail(state_q, &ctx->state_q);
	return r;
}

static bool ctx_may_process(upcall_ctx *ctx)
{
	if (ctx->processing)
		return false;
	return !ctx->thread_running ||
	       pthread_equal(ctx->thread, pthread_self());
}

/*
 * One round of processing: the context's epoll fd, or (@s) one session's
 * socket in io_fn mode; then the callbacks that became due.
 */
static int ctx_process(upcall_ctx *ctx, upcall_session *s)
{
	struct ulist done, state_q;
	int r = 0, n = 0;

	ulist_init(&done);
	ulist_init(&state_q);
	upcall_ctx_ref(ctx);	/* a callback may drop the last reference */
	pthread_mutex_lock(&ctx->lock);
	if (!ctx_may_process(ctx)) {
		pthread_mutex_unlock(&ctx->lock);
		upcall_ctx_unref(ctx);
		return -EBUSY;
	}
	ctx->processing = true;
	ctx->processor = pthread_self();
	if (s) {
		session_io(s);
		ulist_splice_tail(&done, &ctx->done);
		ulist_splice_tail(&state_q, &ctx->state_q);
	} else {
		r = ctx_process_locked(ctx, &done, &state_q);
	}
	pthread_mutex_unlock(&ctx->lock);

	if (r >= 0)
		n = ctx_dispatch(ctx, &done, &state_q);

	pthread_mutex_lock(&ctx->lock);
	ctx->processing = false;
	pthread_cond_broadcast(&ctx->cond);
	/*
	 * A blocking call polling on another thread may be waiting for this
	 * (a socket's I/O counts: its poll may have missed data read here).
	 */
	if ((r > 0 || n > 0 || s) && ctx->driving &&
	    !pthread_equal(ctx->driver, pthread_self()))
		ctx_wake(ctx);
	/*
	 * Call again only when work may be left: a full epoll batch, or
	 * callbacks that queued more (their completions wake nobody, since
	 * they ran on the processing thread).  Anything else makes the fd
	 * readable, so the caller's next wait returns at once; sparing it an
	 * empty round is a syscall less per request.
	 */
	if (r >= 0)
		r = r >= EPOLL_BATCH || ctx_has_dispatch(ctx) ? 1 : 0;
	pthread_mutex_unlock(&ctx->lock);
	upcall_ctx_unref(ctx);
	return r;
}

UPCALL_EXPORT int upcall_ctx_process(upcall_ctx *ctx)
{
	return ctx ? ctx_process(ctx, NULL) : -EINVAL;
}

UPCALL_EXPORT int upcall_session_process(upcall_session *s)
{
	return s ? ctx_process(s->ctx, s) : -EINVAL;
}

/* ppoll(2) with a relative timeout in microseconds, UINT64_MAX for none. */
static int poll_usec(struct pollfd *p, unsigned int n, uint64_t timeout_usec)
{
	struct timespec ts, *tsp = NULL;
	int r;

	if (timeout_usec != UINT64_MAX) {
		timespec_from_usec(&ts, timeout_usec);
		tsp = &ts;
	}
	r = ppoll(p, n, tsp, NULL);
	return r < 0 ? -errno : r;
}

static int poll_fd(int fd, uint64_t timeout_usec)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll_usec(&p, 1, timeout_usec);
}

UPCALL_EXPORT int upcall_ctx_wait(upcall_ctx *ctx, uint64_t timeout_usec)
{
	bool pending;

	if (!ctx)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	pending = ctx_has_dispatch(ctx);
	pthread_mutex_unlock(&ctx->lock);
	if (pending)
		return 1;
	return poll_fd(ctx->epfd, timeout_usec);
}

/*
 * In io_fn mode the sockets are not in the context's epoll fd, so a thread
 * that waits for the context (a blocking call, the library thread) polls
 * them itself, next to that fd.  The round holds a reference on each
 * session polled, so that its socket's readiness can still be handled
 * once the poll returns.
 */
#define IO_ROUND_STACK 16

struct io_round {
	unsigned int n;			/* sessions held */
	struct pollfd *pfd;		/* [0]: the context; [1 + i]: ss[i] */
	upcall_session **ss;
	struct pollfd pfd_stack[IO_ROUND_STACK + 1];
	upcall_session *ss_stack[IO_ROUND_STACK];
};

/* Wait for the context or any of its sockets; 0 on timeout, >0, -errno. */
static int ctx_wait_all(upcall_ctx *ctx, uint64_t timeout_usec,
			struct io_round *rd)
{
	struct ulist *it;
	bool io;
	int r;

	rd->n = 0;
	rd->pfd = rd->pfd_stack;
	rd->ss = rd->ss_stack;
	pthread_mutex_lock(&ctx->lock);
	if (ctx_has_dispatch(ctx)) {
		pthread_mutex_unlock(&ctx->lock);
		return 1;
	}
	/* Without io_fn, io_list is empty: the context's fd alone. */
	io = ctx->io_fn != NULL;
	if (ctx->n_io > IO_ROUND_STACK) {
		rd->pfd = malloc((ctx->n_io + 1) * sizeof(*rd->pfd));
		rd->ss = malloc(ctx->n_io * sizeof(*rd->ss));
		if (!rd->pfd || !rd->ss) {
			/* Degraded, not stuck: look again every 10 ms. */
			free(rd->pfd);
			free(rd->ss);
			rd->pfd = rd->pfd_stack;
			rd->ss = rd->ss_stack;
			pthread_mutex_unlock(&ctx->lock);
			return poll_fd(ctx->epfd, timeout_usec < 10000 ?
						  timeout_usec : 10000);
		}
	}
	rd->pfd[0] = (struct pollfd){ .fd = ctx->epfd, .events = POLLIN };
	for (it = ctx->io_list.next; it != &ctx->io_list; it = it->next) {
		upcall_session *s = container_of(it, upcall_session, io_node);

		s->n_ref++;
		rd->ss[rd->n] = s;
		rd->pfd[++rd->n] = (struct pollfd){
			.fd = s->fd, .events = (short)s->epoll_events };
	}
	ctx->io_polling += io;
	pthread_mutex_unlock(&ctx->lock);

	r = poll_usec(rd->pfd, rd->n + 1, timeout_usec);

	if (io) {
		pthread_mutex_lock(&ctx->lock);
		ctx->io_polling--;
		pthread_mutex_unlock(&ctx->lock);
	}
	return r;
}

/*
 * Handle the sockets a wait found ready (unless @process is false), then
 * drop the round's references.  The caller must hold a reference on the
 * context: dropping a session's may drop the context's last but one.
 */
static void ctx_wait_finish(upcall_ctx *ctx, struct io_round *rd,
			    bool process)
{
	unsigned int i;

	for (i = 0; i < rd->n; i++)
		if (process && rd->pfd[i + 1].revents)
			ctx_process(ctx, rd->ss[i]);
	for (i = 0; i < rd->n; i++)
		upcall_session_unref(rd->ss[i]);
	if (rd->pfd != rd->pfd_stack) {
		free(rd->pfd);
		free(rd->ss);
	}
	rd->n = 0;
}

/*
 * The engine of every blocking call, leader/follower style: one blocked
 * thread (the driver) polls and processes for all; the others sleep on the
 * condition variable, which every processing round broadcasts.  A thread
 * that polled on its own could sleep on after another thread consumed the
 * event that completed its request.
 */
int ctx_drive(upcall_ctx *ctx, bool (*done)(void *arg), void *arg,
	      uint64_t timeout_usec)
{
	uint64_t deadline = usec_add(now_usec(), timeout_usec);
	int r = 0;

	pthread_mutex_lock(&ctx->lock);
	for (;;) {
		uint64_t now;

		if (done(arg)) {
			r = 0;
			break;
		}
		now = now_usec();
		if (now >= deadline) {
			r = -ETIMEDOUT;
			break;
		}
		if (ctx->processing &&
		    pthread_equal(ctx->processor, pthread_self())) {
			r = -EDEADLK;	/* from a callback: it would never end */
			break;
		}
		if (ctx->driving || !ctx_may_process(ctx)) {
			struct timespec ts;

			if (deadline == UINT64_MAX) {
				pthread_cond_wait(&ctx->cond, &ctx->lock);
			} else {
				timespec_from_usec(&ts, deadline);
				pthread_cond_timedwait(&ctx->cond, &ctx->lock, &ts);
			}
			continue;
		}
		ctx->driving = true;
		ctx->driver = pthread_self();
		pthread_mutex_unlock(&ctx->lock);

		r = upcall_ctx_process(ctx);
		if (r == 0) {
			struct io_round rd;

			/* Idle now; but the round may have finished our wait. */
			pthread_mutex_lock(&ctx->lock);
			r = done(arg);
			pthread_mutex_unlock(&ctx->lock);
			if (!r) {
				r = ctx_wait_all(ctx, deadline == UINT64_MAX ?
						 UINT64_MAX : deadline - now, &rd);
				ctx_wait_finish(ctx, &rd, true);
			}
		}

		pthread_mutex_lock(&ctx->lock);
		ctx->driving = false;
		pthread_cond_broadcast(&ctx->cond);
		if (r < 0 && r != -EINTR && r != -EBUSY)
			break;
	}
	pthread_mutex_unlock(&ctx->lock);
	return r;
}

static bool ctx_idle(void *arg)
{
	upcall_ctx *ctx = arg;

	return ctx->n_pending == 0 && !ctx_has_dispatch(ctx);
}

UPCALL_EXPORT int upcall_ctx_run(upcall_ctx *ctx, uint64_t timeout_usec)
{
	if (!ctx)
		return -EINVAL;
	return ctx_drive(ctx, ctx_idle, ctx, timeout_usec);
}

/* A reference unless the count already hit zero (the owner is joining us). */
static bool ctx_ref_unless_zero(upcall_ctx *ctx)
{
	unsigned int n = atomic_load(&ctx->n_ref);

	while (n)
		if (atomic_compare_exchange_weak(&ctx->n_ref, &n, n + 1))
			return true;
	return false;
}

static void *ctx_thread_main(void *arg)
{
	upcall_ctx *ctx = arg;

	for (;;) {
		struct io_round rd;
		bool stop;

		/*
		 * Checked before every wait: a round of processing may have
		 * drained the wake-up that announced the stop.
		 */
		pthread_mutex_lock(&ctx->lock);
		stop = ctx->thread_stop;
		pthread_mutex_unlock(&ctx->lock);
		if (stop)
			return NULL;
		ctx_wait_all(ctx, UINT64_MAX, &rd);
		/* Sessions held keep a reference: this fails with none held. */
		if (!ctx_ref_unless_zero(ctx))
			return NULL;
		pthread_mutex_lock(&ctx->lock);
		stop = ctx->thread_stop;
		pthread_mutex_unlock(&ctx->lock);
		ctx_wait_finish(ctx, &rd, !stop);
		if (!stop)
			while (upcall_ctx_process(ctx) > 0)
				;
		upcall_ctx_unref(ctx);
		if (ctx->thread_frees) {
			/* The last reference went in one of our callbacks. */
			pthread_detach(pthread_self());
			ctx_free(ctx);
			return NULL;
		}
		if (stop)
			return NULL;
	}
}

UPCALL_EXPORT int upcall_ctx_start_thread(upcall_ctx *ctx)
{
	int r;

	if (!ctx)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	if (ctx->thread_running) {
		pthread_mutex_unlock(&ctx->lock);
		return -EALREADY;
	}
	ctx->thread_stop = false;
	r = -pthread_create(&ctx->thread, NULL, ctx_thread_main, ctx);
	if (r == 0)
		ctx->thread_running = true;
	pthread_mutex_unlock(&ctx->lock);
	return r;
}

UPCALL_EXPORT int upcall_ctx_stop_thread(upcall_ctx *ctx)
{
	if (!ctx)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	if (!ctx->thread_running) {
		pthread_mutex_unlock(&ctx->lock);
		return -ESRCH;
	}
	if (pthread_equal(ctx->thread, pthread_self())) {
		pthread_mutex_unlock(&ctx->lock);
		return -EDEADLK;
	}
	pthread_mutex_unlock(&ctx->lock);
	ctx_join_thread(ctx);
	return 0;
}
