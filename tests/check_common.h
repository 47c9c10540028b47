/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the Check suites.  All static inline, so a suite pays
 * only for what it uses.
 *
 *   tc_now_usec()          CLOCK_MONOTONIC in microseconds
 *   struct tc_dir          a private directory (mkdtemp) and a socket path
 *   tc_tcase_setup()       per test case: time limit, a root for those dirs
 *   tc_run_until()         process a context until a predicate holds, or a
 *                          wall-clock limit passes (works with the library
 *                          thread running too)
 *   struct tc_states       a session state callback that records every call
 *   struct tc_req          a completion callback that records what it saw
 *   struct tenv            fake guest + context + session on a temp path,
 *                          with short timeouts and fast reconnects
 *   tc_run_suite()         run a suite the way every main() does
 *
 * Set UPCALL_TEST_DEBUG=1 to get the library's debug log on stderr.
 */
#ifndef _CHECK_COMMON_H
#define _CHECK_COMMON_H

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <upcall/upcall.h>
#include <upcall/wire.h>

#include "fakeguest.h"

#define TC_MSEC 1000ull			/* microseconds per millisecond */
#define TC_LONG_MS 5000u		/* "should be quick": generous for valgrind */
#define TC_TIMEOUT_SEC 60		/* per test, for Check */

static inline uint64_t tc_now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static inline void tc_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------ temp socket path */

struct tc_dir {
	char dir[96];
	char path[128];		/* dir/guest.sock, not created */
};

/*
 * A root directory per test case, made and removed by the parent process
 * (an unchecked fixture), so that a test that fails, and in fork mode exits
 * at once without its teardown, leaves nothing behind.  Forked tests see
 * the parent's root; tests of a test case without it use TMPDIR.
 */
static inline char *tc_root(void)
{
	static char root[64];

	return root;
}

static inline void tc_root_setup(void)
{
	const char *tmp = getenv("TMPDIR");
	char *root = tc_root();

	/* sun_path is short: keep the directory near the root. */
	if (!tmp || strlen(tmp) > 24)
		tmp = "/tmp";
	snprintf(root, 64, "%s/upcall-test.XXXXXX", tmp);
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		root[0] = '\0';
	}
}

static inline int tc_rm(const char *path, const struct stat *st, int flag,
			struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static inline void tc_root_teardown(void)
{
	char *root = tc_root();

	if (root[0])
		nftw(root, tc_rm, 8, FTW_DEPTH | FTW_PHYS);
	root[0] = '\0';
}

/* Every test case: generous time limit (valgrind), the root directory. */
static inline void tc_tcase_setup(TCase *tc)
{
	tcase_set_timeout(tc, TC_TIMEOUT_SEC);
	tcase_add_unchecked_fixture(tc, tc_root_setup, tc_root_teardown);
}

static inline void tc_dir_init(struct tc_dir *d)
{
	const char *tmp = getenv("TMPDIR");
	size_t n;

	if (tc_root()[0])
		snprintf(d->dir, sizeof(d->dir), "%s/t.XXXXXX", tc_root());
	else
		snprintf(d->dir, sizeof(d->dir), "%s/upcall-test.XXXXXX",
			 tmp && strlen(tmp) <= 24 ? tmp : "/tmp");
	ck_assert_msg(mkdtemp(d->dir) != NULL, "mkdtemp: %s", strerror(errno));
	n = strlen(d->dir);
	memcpy(d->path, d->dir, n);
	memcpy(d->path + n, "/guest.sock", sizeof("/guest.sock"));
}

static inline void tc_dir_fini(struct tc_dir *d)
{
	if (!d->dir[0])
		return;
	unlink(d->path);
	rmdir(d->dir);
	d->dir[0] = '\0';
}

/* ------------------------------------------------------------ processing */

typedef bool (*tc_pred_fn)(void *arg);

/*
 * Process @ctx on this thread until @pred(@arg) holds or @ms pass; returns
 * whether it holds.  While a library thread owns the context, just poll.
 * @pred is checked at least every millisecond, so it may watch the fake
 * guest as well as the library.
 */
static inline bool tc_run_until(upcall_ctx *ctx, tc_pred_fn pred, void *arg,
				unsigned int ms)
{
	uint64_t end = tc_now_usec() + ms * TC_MSEC;

	for (;;) {
		uint64_t now, left;
		int r;

		if (pred(arg))
			return true;
		r = upcall_ctx_process(ctx);
		ck_assert_msg(r >= 0 || r == -EBUSY, "upcall_ctx_process: %s",
			      upcall_strerror(r));
		if (r > 0)
			continue;
		now = tc_now_usec();
		if (now >= end)
			return pred(arg);
		left = end - now < TC_MSEC ? end - now : TC_MSEC;
		if (r == -EBUSY)
			usleep((useconds_t)left);
		else
			upcall_ctx_wait(ctx, left);
	}
}

static inline bool tc_pred_flag(void *arg)
{
	return __atomic_load_n((const int *)arg, __ATOMIC_ACQUIRE) != 0;
}

/* Run until *@flag (an int written with __atomic or by this thread) != 0. */
static inline bool tc_run_until_flag(upcall_ctx *ctx, const int *flag,
				     unsigned int ms)
{
	return tc_run_until(ctx, tc_pred_flag, (void *)flag, ms);
}

struct tc_count_arg {
	const int *count;
	int want;
};

static inline bool tc_pred_count(void *arg)
{
	const struct tc_count_arg *a = arg;

	return __atomic_load_n(a->count, __ATOMIC_ACQUIRE) >= a->want;
}

/* Run until *@count >= @want. */
static inline bool tc_run_until_count(upcall_ctx *ctx, const int *count,
				      int want, unsigned int ms)
{
	struct tc_count_arg a = { count, want };

	return tc_run_until(ctx, tc_pred_count, &a, ms);
}

struct tc_fg_arg {
	struct fake_guest *fg;
	unsigned int (*get)(struct fake_guest *fg);
	unsigned int want;
};

static inline bool tc_pred_fg(void *arg)
{
	const struct tc_fg_arg *a = arg;

	return a->get(a->fg) >= a->want;
}

/* Run until the fake guest has received @n well-formed requests. */
static inline bool tc_run_until_fg_requests(upcall_ctx *ctx,
					    struct fake_guest *fg,
					    unsigned int n, unsigned int ms)
{
	struct tc_fg_arg a = { fg, fg_requests, n };

	return tc_run_until(ctx, tc_pred_fg, &a, ms);
}

/* Run until the fake guest has accepted @n connections. */
static inline bool tc_run_until_fg_connections(upcall_ctx *ctx,
					       struct fake_guest *fg,
					       unsigned int n, unsigned int ms)
{
	struct tc_fg_arg a = { fg, fg_connections, n };

	return tc_run_until(ctx, tc_pred_fg, &a, ms);
}

/* Process for @ms whatever happens (to see that nothing does). */
static inline void tc_run_for(upcall_ctx *ctx, unsigned int ms)
{
	static const int never;

	tc_run_until_flag(ctx, &never, ms);
}

/* Process until nothing is left to do right now. */
static inline void tc_drain(upcall_ctx *ctx)
{
	while (upcall_ctx_process(ctx) > 0)
		;
}

/* ----------------------------------------------------- state recording */

#define TC_MAX_STATES 64

struct tc_states {
	pthread_mutex_t lock;
	int n;				/* calls, may exceed TC_MAX_STATES */
	int state[TC_MAX_STATES];
	int error[TC_MAX_STATES];
};

static inline void tc_states_init(struct tc_states *st)
{
	memset(st, 0, sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
}

static inline void tc_state_fn(upcall_session *s, upcall_session_state state,
			       int error, void *userdata)
{
	struct tc_states *st = userdata;

	(void)s;
	pthread_mutex_lock(&st->lock);
	if (st->n < TC_MAX_STATES) {
		st->state[st->n] = (int)state;
		st->error[st->n] = error;
	}
	st->n++;
	pthread_mutex_unlock(&st->lock);
}

/* How many times the callback reported @state. */
static inline int tc_states_seen(struct tc_states *st, int state)
{
	int i, n = 0;

	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->n && i < TC_MAX_STATES; i++)
		n += st->state[i] == state;
	pthread_mutex_unlock(&st->lock);
	return n;
}

/* The error reported with the @nth (0-based) report of @state, or 1. */
static inline int tc_states_error(struct tc_states *st, int state, int nth)
{
	int i, r = 1;

	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->n && i < TC_MAX_STATES; i++) {
		if (st->state[i] == state && nth-- == 0) {
			r = st->error[i];
			break;
		}
	}
	pthread_mutex_unlock(&st->lock);
	return r;
}

static inline void tc_states_print(struct tc_states *st, char *buf, size_t size)
{
	size_t off = 0;
	int i;

	buf[0] = '\0';
	pthread_mutex_lock(&st->lock);
	for (i = 0; i < st->n && i < TC_MAX_STATES && off < size; i++)
		off += (size_t)snprintf(buf + off, size - off, "%s%d(%s)",
					i ? " " : "", st->state[i],
					upcall_errno_name(st->error[i]) ?: "0");
	pthread_mutex_unlock(&st->lock);
}

/* Assert that the recorded states are exactly the @n given, errors too. */
#define tc_states_expect(rec, count, ...)				\
	do {								\
		const int _want[][2] = { __VA_ARGS__ };			\
		char _buf[512];						\
		int _i;							\
		tc_states_print(rec, _buf, sizeof(_buf));		\
		pthread_mutex_lock(&(rec)->lock);			\
		ck_assert_msg((rec)->n == (count), "states: %s", _buf);	\
		for (_i = 0; _i < (count); _i++)			\
			ck_assert_msg((rec)->state[_i] == _want[_i][0] &&\
				      (rec)->error[_i] == _want[_i][1],	\
				      "states: %s", _buf);		\
		pthread_mutex_unlock(&(rec)->lock);			\
	} while (0)

struct tc_seen_arg {
	struct tc_states *st;
	int state, want;
};

static inline bool tc_pred_seen(void *arg)
{
	struct tc_seen_arg *a = arg;

	return tc_states_seen(a->st, a->state) >= a->want;
}

/* Run until the state callback has reported @state @want times. */
static inline bool tc_run_until_seen(upcall_ctx *ctx, struct tc_states *st,
				     int state, int want, unsigned int ms)
{
	struct tc_seen_arg a = { st, state, want };

	return tc_run_until(ctx, tc_pred_seen, &a, ms);
}

/* --------------------------------------------------- request recording */

struct tc_req {
	int done;		/* callback calls; set last, with release */
	int error;		/* as passed to the callback */
	int status;		/* upcall_request_get_status() in the callback */
	int result_r, result;	/* upcall_request_get_result() in the callback */
	int index_r;		/* upcall_request_get_cpu_index() ... */
	uint32_t index;
	int order;		/* value of *seq when called, if seq is set */
	int *seq;		/* shared completion counter, or NULL */
};

static inline void tc_req_cb(upcall_request *req, int error, void *userdata)
{
	struct tc_req *t = userdata;

	ck_assert_ptr_eq(upcall_request_get_userdata(req), userdata);
	t->error = error;
	t->status = upcall_request_get_status(req);
	t->result = INT_MIN;
	t->result_r = upcall_request_get_result(req, &t->result);
	t->index_r = upcall_request_get_cpu_index(req, &t->index);
	if (t->seq)
		t->order = __atomic_fetch_add(t->seq, 1, __ATOMIC_ACQ_REL);
	__atomic_fetch_add(&t->done, 1, __ATOMIC_RELEASE);
}

/* Run until @t's callback has run; assert it did. */
#define tc_req_wait(ctx, t)						\
	ck_assert_msg(tc_run_until_flag(ctx, &(t)->done, TC_LONG_MS),	\
		      "request callback not called")

/* ------------------------------------------------------ the environment */

struct tenv {
	struct tc_dir d;
	struct fake_guest *fg;
	upcall_ctx *ctx;
	upcall_session *s;
	struct tc_states st;
};

static inline void tc_log_stderr(upcall_ctx *ctx, int priority,
				 const char *file, int line, const char *fn,
				 const char *format, va_list args,
				 void *userdata)
{
	(void)ctx;
	(void)userdata;
	fprintf(stderr, "libupcall <%d> %s:%d %s: ", priority, file, line, fn);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

/* A context as the tests like it: debug log on request. */
static inline upcall_ctx *tc_ctx_new(void)
{
	upcall_ctx *ctx = NULL;

	ck_assert_int_eq(upcall_ctx_new(&ctx), 0);
	ck_assert_ptr_nonnull(ctx);
	if (getenv("UPCALL_TEST_DEBUG")) {
		upcall_ctx_set_log_fn(ctx, tc_log_stderr, NULL);
		upcall_ctx_set_log_priority(ctx, LOG_DEBUG);
	}
	return ctx;
}

/*
 * An x86_64 session on @ctx with short timeouts and fast reconnects, not
 * opened yet; its states recorded in @st unless NULL.
 */
static inline upcall_session *tc_session_new(upcall_ctx *ctx,
					     struct tc_states *st)
{
	upcall_session *s = NULL;

	ck_assert_int_eq(upcall_session_new(ctx, &s), 0);
	ck_assert_int_eq(upcall_session_set_arch(s, UPCALL_ARCH_X86_64), 0);
	ck_assert_int_eq(upcall_session_set_connect_timeout(s, 1000 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_session_set_request_timeout(s, 3000 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_session_set_reconnect(s, 1, 2 * TC_MSEC,
						      20 * TC_MSEC), 0);
	if (st)
		ck_assert_int_eq(upcall_session_set_state_fn(s, tc_state_fn, st), 0);
	return s;
}

/*
 * A fake guest listening on a fresh path (hybrid or not), the context @ctx
 * (the environment owns it), and a tc_session_new() session on it.
 */
static inline void tenv_init_on(struct tenv *e, int hybrid, upcall_ctx *ctx)
{
	memset(e, 0, sizeof(*e));
	tc_states_init(&e->st);
	tc_dir_init(&e->d);
	e->fg = fg_new(e->d.path, hybrid);
	ck_assert_msg(e->fg != NULL, "fg_new: %s", strerror(errno));
	e->ctx = ctx;
	e->s = tc_session_new(ctx, &e->st);
}

/* The same on a fresh context. */
static inline void tenv_init(struct tenv *e, int hybrid)
{
	tenv_init_on(e, hybrid, tc_ctx_new());
}

/* Open on the fake guest's socket and run until READY. */
static inline void tenv_open(struct tenv *e)
{
	ck_assert_int_eq(upcall_session_open_unix(e->s, e->d.path), 0);
	ck_assert_msg(tc_run_until_seen(e->ctx, &e->st, UPCALL_SESSION_READY, 1,
					TC_LONG_MS), "session not ready");
	ck_assert_int_eq(upcall_session_get_state(e->s), UPCALL_SESSION_READY);
}

/* Close, dispatch what is left, free everything. */
static inline void tenv_fini(struct tenv *e)
{
	if (e->s)
		upcall_session_close(e->s);
	if (e->ctx) {
		upcall_ctx_stop_thread(e->ctx);
		tc_drain(e->ctx);
	}
	e->s = upcall_session_unref(e->s);
	if (e->ctx)
		tc_drain(e->ctx);
	e->ctx = upcall_ctx_unref(e->ctx);
	fg_free(e->fg);
	e->fg = NULL;
	tc_dir_fini(&e->d);
	pthread_mutex_destroy(&e->st.lock);
}

/* --------------------------------------------------------------- runner */

static inline int tc_run_suite(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif /* _CHECK_COMMON_H */
