// SPDX-License-Identifier: MIT
/*
 * The caller polls the sockets: upcall_ctx_set_io_fn() and
 * upcall_session_process().  The tests keep their own epoll set through the
 * I/O callback, and check the callback's contract on every call: one ADD
 * per fd, MODs and one DEL only for an fd that was added, every call on an
 * fd that is still open (DEL comes before close).
 */
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>

#include "check_common.h"

#define MAX_FD 4096

struct io_loop {
	pthread_mutex_t lock;
	int epfd;
	uint32_t reg[MAX_FD];		/* events | IO_REG while registered */
	int n_add, n_mod, n_del, n_refused;
	int violations;
	int fail_add;			/* errno to refuse ADDs with, or 0 */
	pthread_t loop_thread;		/* the thread running io_run_until() */
	int off_loop;			/* calls made from another thread */
};

#define IO_REG 0x80000000u

static struct io_loop L;

static void io_violation(const char *what, int fd)
{
	fprintf(stderr, "io callback: %s (fd %d)\n", what, fd);
	L.violations++;
}

static int io_cb(upcall_session *s, int fd, upcall_io_op op, uint32_t events,
		 void *userdata)
{
	struct epoll_event ev = { .events = events, .data.ptr = s };
	int r = 0;

	pthread_mutex_lock(&L.lock);
	if (userdata != &L)
		io_violation("wrong userdata", fd);
	if (fd < 0 || fd >= MAX_FD) {
		io_violation("fd out of range", fd);
		pthread_mutex_unlock(&L.lock);
		return -EBADF;
	}
	if (fcntl(fd, F_GETFD) < 0)
		io_violation("fd not open", fd);
	if (events & ~(uint32_t)(POLLIN | POLLOUT))
		io_violation("events beyond POLLIN|POLLOUT", fd);
	if (!pthread_equal(L.loop_thread, pthread_self()))
		L.off_loop++;
	switch (op) {
	case UPCALL_IO_ADD:
		if (L.reg[fd])
			io_violation("ADD of a registered fd", fd);
		if (L.fail_add) {
			L.n_refused++;
			r = -L.fail_add;
			goto out;
		}
		L.reg[fd] = events | IO_REG;
		L.n_add++;
		break;
	case UPCALL_IO_MOD:
		if (!L.reg[fd])
			io_violation("MOD of an unregistered fd", fd);
		if ((L.reg[fd] & ~IO_REG) == events)
			io_violation("MOD to the same events", fd);
		L.reg[fd] = events | IO_REG;
		L.n_mod++;
		break;
	case UPCALL_IO_DEL:
		if (!L.reg[fd])
			io_violation("DEL of an unregistered fd", fd);
		if (events)
			io_violation("DEL with events", fd);
		L.reg[fd] = 0;
		L.n_del++;
		break;
	default:
		io_violation("unknown op", fd);
		r = -EINVAL;
		goto out;
	}
	if (epoll_ctl(L.epfd, (int)op, fd, &ev) < 0) {
		io_violation("epoll_ctl failed", fd);
		r = -errno;
	}
out:
	pthread_mutex_unlock(&L.lock);
	return r;
}

static int io_registered(void)
{
	int fd, n = 0;

	pthread_mutex_lock(&L.lock);
	for (fd = 0; fd < MAX_FD; fd++)
		n += L.reg[fd] != 0;
	pthread_mutex_unlock(&L.lock);
	return n;
}

static void io_setup(void)
{
	memset(&L, 0, sizeof(L));
	pthread_mutex_init(&L.lock, NULL);
	L.epfd = epoll_create1(EPOLL_CLOEXEC);
	ck_assert_int_ge(L.epfd, 0);
	L.loop_thread = pthread_self();
}

static void io_teardown(void)
{
	ck_assert_int_eq(L.violations, 0);
	close(L.epfd);
	pthread_mutex_destroy(&L.lock);
}

/* A context in io_fn mode with the context's own fd in the test's epoll. */
static upcall_ctx *io_ctx_new(void)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	upcall_ctx *ctx = tc_ctx_new();

	ck_assert_int_eq(upcall_ctx_set_io_fn(ctx, io_cb, &L), 0);
	ck_assert_int_eq(epoll_ctl(L.epfd, EPOLL_CTL_ADD, upcall_ctx_get_fd(ctx),
				   &ev), 0);
	return ctx;
}

/*
 * The embedding the API is for: one epoll loop over the context's fd and
 * the sockets the callback handed over.  Counts the rounds that served a
 * socket and those that served the context.
 */
static int n_socket_rounds, n_ctx_rounds;

static bool io_run_until(upcall_ctx *ctx, tc_pred_fn pred, void *arg,
			 unsigned int ms)
{
	uint64_t end = tc_now_usec() + ms * TC_MSEC;

	for (;;) {
		struct epoll_event ev[16];
		int i, n, r;

		if (pred(arg))
			return true;
		if (tc_now_usec() >= end)
			return pred(arg);
		n = epoll_wait(L.epfd, ev, 16, 1);
		ck_assert_int_ge(n, 0);
		for (i = 0; i < n; i++) {
			upcall_session *s = ev[i].data.ptr;

			/* -EBUSY: a blocking call processes right now. */
			if (s) {
				n_socket_rounds++;
				r = upcall_session_process(s);
				ck_assert(r >= 0 || r == -EBUSY);
				if (r <= 0)
					continue;
			}
			n_ctx_rounds++;
			while ((r = upcall_ctx_process(ctx)) > 0)
				;
			ck_assert(r == 0 || r == -EBUSY);
		}
	}
}

static bool pred_state(void *arg)
{
	return upcall_session_get_state(arg) == UPCALL_SESSION_READY;
}

static struct tenv E;

static void env_setup(void)
{
	io_setup();
	tenv_init_on(&E, 1, io_ctx_new());
}

static void env_teardown(void)
{
	ck_assert_uint_eq(fg_violations(E.fg), 0);
	tenv_fini(&E);
	/* Every socket handed over was taken back before it was closed. */
	ck_assert_int_eq(io_registered(), 0);
	ck_assert_int_eq(L.n_add, L.n_del);
	io_teardown();
}

static void env_open(void)
{
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	ck_assert_msg(io_run_until(E.ctx, pred_state, E.s, TC_LONG_MS),
		      "session not ready");
}

/* ------------------------------------------------------------ set_io_fn */

START_TEST(test_set_io_fn)
{
	upcall_ctx *ctx = tc_ctx_new();
	upcall_session *s = NULL;

	ck_assert_int_eq(upcall_ctx_set_io_fn(NULL, io_cb, NULL), -EINVAL);
	ck_assert_int_eq(upcall_session_process(NULL), -EINVAL);
	ck_assert_int_eq(upcall_ctx_set_io_fn(ctx, io_cb, &L), 0);
	ck_assert_int_eq(upcall_ctx_set_io_fn(ctx, NULL, NULL), 0);
	ck_assert_int_eq(upcall_session_new(ctx, &s), 0);
	/* Not under a session's feet: its socket is somewhere already. */
	ck_assert_int_eq(upcall_ctx_set_io_fn(ctx, io_cb, &L), -EBUSY);
	/* A session that was never opened has nothing to process. */
	ck_assert_int_eq(upcall_session_process(s), 0);
	upcall_session_unref(s);
	ck_assert_int_eq(upcall_ctx_set_io_fn(ctx, io_cb, &L), 0);
	upcall_ctx_unref(ctx);
}
END_TEST

/* ------------------------------------------------------------ the loop */

START_TEST(test_loop_requests)
{
	enum { N = 200 };
	struct tc_req t[N];
	int i, seq = 0;

	memset(t, 0, sizeof(t));
	env_open();
	ck_assert_int_eq(L.n_add, 1);
	ck_assert_int_eq(io_registered(), 1);
	n_ctx_rounds = n_socket_rounds = 0;
	for (i = 0; i < N; i++) {
		t[i].seq = &seq;
		ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, (uint8_t)i,
						       tc_req_cb, &t[i], NULL), 0);
	}
	ck_assert_msg(io_run_until(E.ctx, tc_pred_count,
				   &(struct tc_count_arg){ &seq, N }, TC_LONG_MS),
		      "requests not done: %d", seq);
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(t[i].done, 1);
		ck_assert_int_eq(t[i].error, 0);
		ck_assert_int_eq(t[i].order, i);
	}
	ck_assert_uint_eq(fg_requests(E.fg), N);
	/* Replies came through the sockets, not the context's fd. */
	ck_assert_int_ge(n_socket_rounds, N);
	ck_assert_int_le(n_ctx_rounds, 2);
	tc_states_expect(&E.st, 2, { UPCALL_SESSION_CONNECTING, 0 },
			 { UPCALL_SESSION_READY, 0 });
}
END_TEST

/* Sent in pieces, replies too: MOD for POLLOUT while a send waits. */
START_TEST(test_loop_pieces)
{
	struct tc_req t = { 0 };

	fg_set_behavior(E.fg, FG_PIECES);
	env_open();
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, (const uint8_t[]){ 3 }, 1,
					       tc_req_cb, &t, NULL), 0);
	ck_assert(io_run_until(E.ctx, tc_pred_flag, &t.done, TC_LONG_MS));
	ck_assert_int_eq(t.error, 0);
	ck_assert_int_eq(t.result, 0);
	/* Connecting asked for POLLOUT; being ready dropped it. */
	ck_assert_int_ge(L.n_mod, 1);
}
END_TEST

/* The context alone does not serve the sockets any more. */
START_TEST(test_ctx_does_not_poll_sockets)
{
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	ck_assert_int_eq(io_registered(), 1);
	tc_run_for(E.ctx, 100);
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_CONNECTING);
	{
		struct pollfd p = { .fd = upcall_ctx_get_fd(E.ctx), .events = POLLIN };

		ck_assert_int_eq(poll(&p, 1, 0), 0);
	}
	ck_assert(io_run_until(E.ctx, pred_state, E.s, TC_LONG_MS));
}
END_TEST

/* A reconnect hands over the new socket: DEL of the old one, ADD. */
START_TEST(test_loop_reconnect)
{
	struct tc_req t = { 0 };
	int i;

	env_open();
	for (i = 0; i < 5; i++) {
		fg_drop_connections(E.fg);
		ck_assert(io_run_until(E.ctx, (tc_pred_fn)tc_pred_seen,
				       &(struct tc_seen_arg){ &E.st,
					       UPCALL_SESSION_READY, i + 2 },
				       TC_LONG_MS));
	}
	ck_assert_int_eq(L.n_add, 6);
	ck_assert_int_eq(L.n_del, 5);
	ck_assert_int_eq(io_registered(), 1);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t, NULL), 0);
	ck_assert(io_run_until(E.ctx, tc_pred_flag, &t.done, TC_LONG_MS));
	ck_assert_int_eq(t.error, 0);
}
END_TEST

/* An ADD the caller refuses is a failed connection: back off, try again. */
START_TEST(test_add_refused)
{
	L.fail_add = EMFILE;
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	ck_assert(io_run_until(E.ctx, (tc_pred_fn)tc_pred_seen,
			       &(struct tc_seen_arg){ &E.st,
				       UPCALL_SESSION_RECONNECTING, 1 },
			       TC_LONG_MS));
	ck_assert_int_eq(tc_states_error(&E.st, UPCALL_SESSION_RECONNECTING, 0),
			 -EMFILE);
	ck_assert_int_eq(io_registered(), 0);
	pthread_mutex_lock(&L.lock);
	L.fail_add = 0;
	pthread_mutex_unlock(&L.lock);
	ck_assert(io_run_until(E.ctx, pred_state, E.s, TC_LONG_MS));
	ck_assert_int_ge(L.n_refused, 1);
	ck_assert_int_eq(L.n_add, 1);
}
END_TEST

/* Without reconnect, a refused ADD closes the session at open. */
START_TEST(test_add_refused_no_reconnect)
{
	ck_assert_int_eq(upcall_session_set_reconnect(E.s, 0, 0, 0), 0);
	L.fail_add = ENOSPC;
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), -ENOSPC);
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_CLOSED);
	ck_assert_int_eq(io_registered(), 0);
}
END_TEST

/* Closing the session takes the socket back. */
START_TEST(test_close_deletes)
{
	env_open();
	ck_assert_int_eq(upcall_session_close(E.s), 0);
	ck_assert_int_eq(io_registered(), 0);
	ck_assert_int_eq(L.n_del, 1);
}
END_TEST

/* ------------------------------------------- blocking calls, the thread */

/* A blocking call polls the sockets itself: no loop runs. */
START_TEST(test_sync_without_loop)
{
	uint32_t index = 0;
	int result = 1, i;

	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, TC_LONG_MS * TC_MSEC), 0);
	for (i = 0; i < 20; i++) {
		ck_assert_int_eq(upcall_devmgr_cpu_add_sync(E.s, (const uint8_t[]){ 2 },
							    1, 0, &result, &index), 0);
		ck_assert_int_eq(result, 0);
	}
	/*
	 * And across a reconnect, which changes the socket mid-wait: a call
	 * that went out on the dropped connection fails, the next one waits
	 * for the new socket.
	 */
	fg_drop_connections(E.fg);
	for (i = 0; i < 3; i++) {
		int r = upcall_devmgr_pci_add_sync(E.s, 0, 8, TC_LONG_MS * TC_MSEC,
						   &result);

		if (r == 0)
			break;
		ck_assert_msg(r == -ECONNRESET || r == -EPIPE, "%s",
			      upcall_strerror(r));
	}
	ck_assert_int_lt(i, 3);
	ck_assert_int_eq(result, 0);
	ck_assert_int_eq(L.n_add, 2);
	ck_assert_int_eq(upcall_ctx_run(E.ctx, TC_LONG_MS * TC_MSEC), 0);
}
END_TEST

/* The library thread polls them too; the callbacks run on it. */
START_TEST(test_library_thread)
{
	enum { N = 50 };
	struct tc_req t[N];
	int i, seq = 0;

	memset(t, 0, sizeof(t));
	ck_assert_int_eq(upcall_ctx_start_thread(E.ctx), 0);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	for (i = 0; i < N; i++) {
		t[i].seq = &seq;
		ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, (uint8_t)i,
						       tc_req_cb, &t[i], NULL), 0);
	}
	ck_assert(tc_run_until_count(E.ctx, &seq, N, TC_LONG_MS));
	for (i = 0; i < N; i++)
		ck_assert_int_eq(t[i].error, 0);
	/* Meanwhile the loop's own processing is refused. */
	ck_assert_int_eq(upcall_session_process(E.s), -EBUSY);
	fg_drop_connections(E.fg);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, TC_LONG_MS * TC_MSEC), 0);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 2,
				    TC_LONG_MS));
	ck_assert_int_eq(upcall_ctx_stop_thread(E.ctx), 0);
	ck_assert_int_ge(L.off_loop, 2);
}
END_TEST

/* A blocking call on another thread while the loop runs here. */
struct sync_arg {
	upcall_session *s;
	int n, ok;
};

static void *sync_thread(void *arg)
{
	struct sync_arg *a = arg;
	int i, result;

	for (i = 0; i < a->n; i++)
		if (upcall_devmgr_pci_add_sync(a->s, 1, (uint8_t)i,
					       TC_LONG_MS * TC_MSEC, &result) == 0 &&
		    result == 0)
			__atomic_fetch_add(&a->ok, 1, __ATOMIC_RELEASE);
	return NULL;
}

static bool pred_sync_done(void *arg)
{
	struct sync_arg *a = arg;

	return __atomic_load_n(&a->ok, __ATOMIC_ACQUIRE) == a->n;
}

START_TEST(test_sync_beside_loop)
{
	struct sync_arg a = { E.s, 100, 0 };
	pthread_t th;

	env_open();
	ck_assert_int_eq(pthread_create(&th, NULL, sync_thread, &a), 0);
	ck_assert(io_run_until(E.ctx, pred_sync_done, &a, 4 * TC_LONG_MS));
	pthread_join(th, NULL);
	ck_assert_int_eq(a.ok, a.n);
}
END_TEST

/* More sockets than a blocking call's round keeps on its stack. */
START_TEST(test_sync_many_sessions)
{
	enum { N = 40 };
	upcall_session *s[N];
	int i, result;

	for (i = 0; i < N; i++) {
		s[i] = tc_session_new(E.ctx, NULL);
		ck_assert_int_eq(upcall_session_open_unix(s[i], E.d.path), 0);
	}
	ck_assert_int_eq(io_registered(), N);
	for (i = N - 1; i >= 0; i--) {
		ck_assert_int_eq(upcall_devmgr_pci_add_sync(s[i], 0, (uint8_t)i,
							    TC_LONG_MS * TC_MSEC,
							    &result), 0);
		ck_assert_int_eq(result, 0);
	}
	for (i = 0; i < N; i++)
		upcall_session_unref(s[i]);
	tc_drain(E.ctx);
	ck_assert_int_eq(io_registered(), 0);
}
END_TEST

static Suite *io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc = tcase_create("set");

	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, io_setup, io_teardown);
	tcase_add_test(tc, test_set_io_fn);
	suite_add_tcase(s, tc);

	tc = tcase_create("loop");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, env_setup, env_teardown);
	tcase_add_test(tc, test_loop_requests);
	tcase_add_test(tc, test_loop_pieces);
	tcase_add_test(tc, test_ctx_does_not_poll_sockets);
	tcase_add_test(tc, test_loop_reconnect);
	tcase_add_test(tc, test_add_refused);
	tcase_add_test(tc, test_add_refused_no_reconnect);
	tcase_add_test(tc, test_close_deletes);
	suite_add_tcase(s, tc);

	tc = tcase_create("blocking");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, env_setup, env_teardown);
	tcase_add_test(tc, test_sync_without_loop);
	tcase_add_test(tc, test_library_thread);
	tcase_add_test(tc, test_sync_beside_loop);
	tcase_add_test(tc, test_sync_many_sessions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tc_run_suite(io_suite());
}
