// SPDX-License-Identifier: MIT
/* Sessions: transports, handshake failures, reconnect, close. */
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "check_common.h"

static struct tenv E;

static void setup(void)
{
	tenv_init(&E, 1);
}

static void teardown(void)
{
	tenv_fini(&E);
}

/* One PCI request, asserting the guest answered 0. */
static void request_ok(struct tenv *e)
{
	struct tc_req t = { 0 };

	ck_assert_int_eq(upcall_devmgr_pci_add(e->s, 0, 8, tc_req_cb, &t, NULL), 0);
	tc_req_wait(e->ctx, &t);
	ck_assert_msg(t.error == 0, "request failed: %s", upcall_strerror(t.error));
	ck_assert_int_eq(t.status, 1);
	ck_assert_int_eq(t.result_r, 0);
	ck_assert_int_eq(t.result, 0);
}

START_TEST(test_open_unix_ready)
{
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_IDLE);
	tenv_open(&E);
	tc_states_expect(&E.st, 2, { UPCALL_SESSION_CONNECTING, 0 },
			 { UPCALL_SESSION_READY, 0 });
	ck_assert_uint_eq(fg_connections(E.fg), 1);
	ck_assert_uint_eq(fg_violations(E.fg), 0);
	request_ok(&E);
	ck_assert_uint_eq(fg_requests(E.fg), 1);
	/* Nothing more happens on an idle, healthy session. */
	tc_run_for(E.ctx, 20);
	ck_assert_int_eq(E.st.n, 2);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
}
END_TEST

/* The hybrid CONNECT line names the default port. */
START_TEST(test_default_port)
{
	tenv_open(&E);
	ck_assert_uint_eq(fg_last_port(E.fg), 219);
}
END_TEST

START_TEST(test_set_port)
{
	ck_assert_int_eq(upcall_session_set_port(E.s, 0), -EINVAL);
	ck_assert_int_eq(upcall_session_set_port(E.s, 1234), 0);
	ck_assert_int_eq(upcall_session_set_port(E.s, 0xdb0001), 0);
	tenv_open(&E);
	ck_assert_uint_eq(fg_last_port(E.fg), 0xdb0001);
	ck_assert_uint_eq(fg_violations(E.fg), 0);
}
END_TEST

/* An fd handed in: no text handshake, and no reconnect when it drops. */
START_TEST(test_open_fd)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(fg_serve_fd(E.fg, sv[1]), 0);
	ck_assert_int_eq(upcall_session_open_fd(E.s, sv[0]), 0);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, TC_LONG_MS * TC_MSEC), 0);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 1, TC_LONG_MS));
	request_ok(&E);
	ck_assert_uint_eq(fg_violations(E.fg), 0);
	/* The fd is the session's now: non-blocking. */
	ck_assert_int_ne(fcntl(sv[0], F_GETFL) & O_NONBLOCK, 0);

	fg_drop_connections(E.fg);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_CLOSED, 1, TC_LONG_MS));
	tc_states_expect(&E.st, 3, { UPCALL_SESSION_CONNECTING, 0 },
			 { UPCALL_SESSION_READY, 0 },
			 { UPCALL_SESSION_CLOSED, -ECONNRESET });
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, NULL, NULL, NULL), -ENOTCONN);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, 0), -ECONNRESET);
}
END_TEST

/* The plain (non-hybrid) fake guest over a Unix socket, through an fd. */
START_TEST(test_open_fd_connected_unix)
{
	struct tc_dir d;
	struct fake_guest *fg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	tc_dir_init(&d);
	fg = fg_new(d.path, 0);
	ck_assert_ptr_nonnull(fg);
	strcpy(sa.sun_path, d.path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(upcall_session_open_fd(E.s, fd), 0);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, TC_LONG_MS * TC_MSEC), 0);
	request_ok(&E);
	ck_assert_uint_eq(fg_requests(fg), 1);
	ck_assert_uint_eq(fg_violations(fg), 0);
	upcall_session_close(E.s);
	fg_free(fg);
	tc_dir_fini(&d);
}
END_TEST

/* An fd that is no stream socket: refused at once, and the fd is gone. */
START_TEST(test_open_fd_unusable)
{
	char tmpl[] = "/tmp/upcall-file.XXXXXX";
	int fd = mkstemp(tmpl);

	ck_assert_int_ge(fd, 0);
	unlink(tmpl);
	ck_assert_int_eq(upcall_session_open_fd(E.s, fd), -ENOTSOCK);
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_CLOSED);
	ck_assert_int_eq(fcntl(fd, F_GETFD), -1);
	ck_assert_int_eq(errno, EBADF);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, 0), -ENOTSOCK);
}
END_TEST

static bool vsock_error_ok(int err)
{
	return err == -EAFNOSUPPORT || err == -ENODEV || err == -ECONNREFUSED ||
	       err == -ENETUNREACH || err == -ETIMEDOUT || err == -EHOSTUNREACH ||
	       err == -ECONNRESET;
}

/* A CID nobody has: fails cleanly, closes or retries by the policy. */
START_TEST(test_open_vsock_unreachable)
{
	int reconnect = _i;
	int want = reconnect ? UPCALL_SESSION_RECONNECTING : UPCALL_SESSION_CLOSED;
	int err, r;

	ck_assert_int_eq(upcall_session_set_connect_timeout(E.s, 50 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_session_set_reconnect(E.s, reconnect, 2 * TC_MSEC,
						      20 * TC_MSEC), 0);
	r = upcall_session_open_vsock(E.s, 0x7ffffff0);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, want, 1, TC_LONG_MS));
	err = tc_states_error(&E.st, want, 0);
	ck_assert_msg(vsock_error_ok(err), "unexpected error %d (%s)", err,
		      upcall_strerror(err));
	/* An attempt that failed at once closes a non-reconnecting session. */
	ck_assert(r == 0 || (!reconnect && r == err));
	ck_assert_int_eq(E.st.state[0], UPCALL_SESSION_CONNECTING);
	if (!reconnect) {
		ck_assert_int_eq(upcall_session_wait_ready(E.s, 0), err);
		ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, NULL, NULL, NULL),
				 -ENOTCONN);
	} else {
		ck_assert_int_eq(upcall_session_get_state(E.s),
				 UPCALL_SESSION_RECONNECTING);
	}
}
END_TEST

START_TEST(test_setters_busy_after_open)
{
	int sv[2];

	ck_assert_int_eq(upcall_session_set_arch(E.s, 0), -EINVAL);
	ck_assert_int_eq(upcall_session_set_arch(E.s, 3), -EINVAL);
	ck_assert_int_eq(upcall_session_get_arch(E.s), UPCALL_ARCH_X86_64);
	ck_assert_int_eq(upcall_session_set_connect_timeout(E.s, 0), -EINVAL);
	ck_assert_int_eq(upcall_session_set_request_timeout(E.s, 0), -EINVAL);
	ck_assert_int_eq(upcall_session_set_reconnect(E.s, 1, 0, 10), -EINVAL);
	ck_assert_int_eq(upcall_session_set_reconnect(E.s, 1, 10, 5), -EINVAL);
	tenv_open(&E);

	ck_assert_int_eq(upcall_session_set_arch(E.s, UPCALL_ARCH_AARCH64), -EBUSY);
	ck_assert_int_eq(upcall_session_get_arch(E.s), UPCALL_ARCH_X86_64);
	ck_assert_int_eq(upcall_session_set_port(E.s, 1000), -EBUSY);
	ck_assert_int_eq(upcall_session_set_apic_version(E.s, 0x15), -EBUSY);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), -EBUSY);
	ck_assert_int_eq(upcall_session_open_vsock(E.s, 3), -EBUSY);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(upcall_session_open_fd(E.s, sv[0]), -EBUSY);
	/* -EBUSY leaves the fd to the caller. */
	ck_assert_int_ge(fcntl(sv[0], F_GETFD), 0);
	close(sv[0]);
	close(sv[1]);

	/* These may change at any time. */
	ck_assert_int_eq(upcall_session_set_connect_timeout(E.s, 100 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_session_set_request_timeout(E.s, UINT64_MAX), 0);
	ck_assert_int_eq(upcall_session_set_reconnect(E.s, 0, 0, 0), 0);
	ck_assert_int_eq(upcall_session_set_state_fn(E.s, tc_state_fn, &E.st), 0);
	ck_assert_int_eq(upcall_session_set_userdata(E.s, &E), 0);
	ck_assert_ptr_eq(upcall_session_get_userdata(E.s), &E);
	ck_assert_ptr_eq(upcall_session_get_ctx(E.s), E.ctx);

	upcall_session_close(E.s);
	ck_assert_int_eq(upcall_session_set_port(E.s, 1000), -EBUSY);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), -EBUSY);
}
END_TEST

START_TEST(test_userdata)
{
	int x;

	ck_assert_ptr_null(upcall_session_get_userdata(E.s));
	ck_assert_int_eq(upcall_session_set_userdata(E.s, &x), 0);
	ck_assert_ptr_eq(upcall_session_get_userdata(E.s), &x);
	ck_assert_int_eq(upcall_session_set_userdata(E.s, NULL), 0);
	ck_assert_ptr_null(upcall_session_get_userdata(E.s));
}
END_TEST

START_TEST(test_wait_ready)
{
	/* Never opened: nothing to wait for. */
	ck_assert_int_eq(upcall_session_wait_ready(E.s, 10 * TC_MSEC), -ENOTCONN);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, TC_LONG_MS * TC_MSEC), 0);
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_READY);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, 0), 0);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 1, TC_LONG_MS));
}
END_TEST

START_TEST(test_wait_ready_timeout)
{
	uint64_t start;

	fg_set_behavior(E.fg, FG_NO_CONNECT);
	ck_assert_int_eq(upcall_session_set_connect_timeout(E.s, 10000 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	start = tc_now_usec();
	ck_assert_int_eq(upcall_session_wait_ready(E.s, 30 * TC_MSEC), -ETIMEDOUT);
	ck_assert_uint_ge(tc_now_usec() - start, 29 * TC_MSEC);
	ck_assert_uint_lt(tc_now_usec() - start, 2000 * TC_MSEC);
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_CONNECTING);
}
END_TEST

static const struct {
	enum fg_behavior b;
	int err;
} refuse_cases[] = {
	{ FG_REFUSE, -ECONNREFUSED },
	{ FG_REFUSE_NOLF, -ECONNREFUSED },
	{ FG_BAD_CONNECT, -EPROTO },
	{ FG_BAD_CONNECT_MAGIC, -EPROTO },
	{ FG_NO_CONNECT, -ETIMEDOUT },
};

/* A guest that will not talk, reconnect disabled: CLOSED with the reason. */
START_TEST(test_refused)
{
	int err = refuse_cases[_i].err;
	struct tc_req t = { 0 };

	fg_set_behavior(E.fg, refuse_cases[_i].b);
	ck_assert_int_eq(upcall_session_set_reconnect(E.s, 0, 0, 0), 0);
	ck_assert_int_eq(upcall_session_set_connect_timeout(E.s, 50 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	/* Submitted while connecting: it waits, then fails with the session. */
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t, NULL), 0);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_CLOSED, 1, TC_LONG_MS));
	tc_states_expect(&E.st, 2, { UPCALL_SESSION_CONNECTING, 0 },
			 { UPCALL_SESSION_CLOSED, err });
	tc_req_wait(E.ctx, &t);
	ck_assert_int_lt(t.error, 0);
	ck_assert_int_eq(t.status, t.error);
	ck_assert_int_eq(t.result_r, -ENODATA);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, 0), err);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, NULL, NULL, NULL), -ENOTCONN);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
	ck_assert_uint_eq(fg_requests(E.fg), 0);
	ck_assert_uint_eq(fg_violations(E.fg), 0);
}
END_TEST

/* A guest not listening yet, then listening: the session gets there. */
START_TEST(test_refused_then_ready)
{
	int err = refuse_cases[_i].err;

	fg_set_behavior(E.fg, refuse_cases[_i].b);
	ck_assert_int_eq(upcall_session_set_connect_timeout(E.s, 30 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_RECONNECTING, 1,
				    TC_LONG_MS));
	ck_assert_int_eq(tc_states_error(&E.st, UPCALL_SESSION_RECONNECTING, 0), err);
	ck_assert(tc_run_until_fg_connections(E.ctx, E.fg, 2, TC_LONG_MS));
	fg_set_behavior(E.fg, FG_OK);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 1, TC_LONG_MS));
	request_ok(&E);
	ck_assert_uint_eq(fg_violations(E.fg), 0);
}
END_TEST

/* Nobody listens on the path: -ENOENT, then a guest appears there. */
START_TEST(test_no_listener)
{
	fg_free(E.fg);
	E.fg = NULL;
	ck_assert_int_eq(upcall_session_set_reconnect(E.s, 0, 0, 0), 0);
	/* Failed at once, no reconnect: open says so itself. */
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), -ENOENT);
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_CLOSED);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, TC_LONG_MS * TC_MSEC), -ENOENT);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, NULL, NULL, NULL), -ENOTCONN);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_CLOSED, 1, TC_LONG_MS));
	tc_states_expect(&E.st, 2, { UPCALL_SESSION_CONNECTING, 0 },
			 { UPCALL_SESSION_CLOSED, -ENOENT });
}
END_TEST

START_TEST(test_no_listener_then_ready)
{
	fg_free(E.fg);
	E.fg = NULL;
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_RECONNECTING, 1,
				    TC_LONG_MS));
	ck_assert_int_eq(tc_states_error(&E.st, UPCALL_SESSION_RECONNECTING, 0),
			 -ENOENT);
	tc_run_for(E.ctx, 20);
	E.fg = fg_new(E.d.path, 1);
	ck_assert_ptr_nonnull(E.fg);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 1, TC_LONG_MS));
	tc_states_expect(&E.st, 3, { UPCALL_SESSION_CONNECTING, 0 },
			 { UPCALL_SESSION_RECONNECTING, -ENOENT },
			 { UPCALL_SESSION_READY, 0 });
	request_ok(&E);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
}
END_TEST

START_TEST(test_path_too_long)
{
	char path[200];

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	ck_assert_int_eq(upcall_session_open_unix(E.s, path), -ENAMETOOLONG);
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_IDLE);
	/* Still usable. */
	tenv_open(&E);
}
END_TEST

/* Submit one PCI request that the (silent) guest receives and holds. */
static void request_in_flight(struct tenv *e, struct tc_req *t)
{
	unsigned int n = fg_requests(e->fg);

	fg_set_behavior(e->fg, FG_SILENT);
	ck_assert_int_eq(upcall_devmgr_pci_add(e->s, 0, 8, tc_req_cb, t, NULL), 0);
	ck_assert(tc_run_until_fg_requests(e->ctx, e->fg, n + 1, TC_LONG_MS));
	ck_assert_int_eq(t->done, 0);
}

/* A guest reboot: the request in flight fails, the session comes back. */
START_TEST(test_reconnect_after_drop)
{
	struct tc_req t = { 0 };

	tenv_open(&E);
	request_in_flight(&E, &t);
	fg_drop_connections(E.fg);
	tc_req_wait(E.ctx, &t);
	ck_assert_int_eq(t.error, -ECONNRESET);
	ck_assert_int_eq(t.status, -ECONNRESET);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 2, TC_LONG_MS));
	tc_states_expect(&E.st, 4, { UPCALL_SESSION_CONNECTING, 0 },
			 { UPCALL_SESSION_READY, 0 },
			 { UPCALL_SESSION_RECONNECTING, -ECONNRESET },
			 { UPCALL_SESSION_READY, 0 });
	fg_set_behavior(E.fg, FG_OK);
	request_ok(&E);
	ck_assert_uint_eq(fg_connections(E.fg), 2);
	ck_assert_uint_eq(fg_violations(E.fg), 0);
}
END_TEST

/* The guest goes away entirely, then a new one listens on the same path. */
START_TEST(test_reconnect_after_restart)
{
	struct tc_req t = { 0 };

	tenv_open(&E);
	request_in_flight(&E, &t);
	fg_free(E.fg);
	E.fg = NULL;
	tc_req_wait(E.ctx, &t);
	ck_assert_int_eq(t.error, -ECONNRESET);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_RECONNECTING, 1,
				    TC_LONG_MS));
	/* A few attempts fail while nobody listens. */
	tc_run_for(E.ctx, 20);
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_RECONNECTING);
	E.fg = fg_new(E.d.path, 1);
	ck_assert_ptr_nonnull(E.fg);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 2, TC_LONG_MS));
	tc_states_expect(&E.st, 4, { UPCALL_SESSION_CONNECTING, 0 },
			 { UPCALL_SESSION_READY, 0 },
			 { UPCALL_SESSION_RECONNECTING, -ECONNRESET },
			 { UPCALL_SESSION_READY, 0 });
	request_ok(&E);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
	ck_assert_uint_eq(fg_requests(E.fg), 1);
}
END_TEST

/*
 * Backoff 5 ms doubling to 1 s.  With the guest away for 100 ms the delay
 * has grown to 160 ms; a successful connect resets it, so the next drop is
 * mended in about 5 ms.
 */
START_TEST(test_backoff_reset)
{
	uint64_t start, took;

	ck_assert_int_eq(upcall_session_set_reconnect(E.s, 1, 5 * TC_MSEC,
						      1000 * TC_MSEC), 0);
	tenv_open(&E);
	fg_free(E.fg);
	E.fg = NULL;
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_RECONNECTING, 1,
				    TC_LONG_MS));
	tc_run_for(E.ctx, 100);
	E.fg = fg_new(E.d.path, 1);
	ck_assert_ptr_nonnull(E.fg);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 2, TC_LONG_MS));

	fg_drop_connections(E.fg);
	start = tc_now_usec();
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 3, TC_LONG_MS));
	took = tc_now_usec() - start;
	ck_assert_msg(took < 120 * TC_MSEC, "reconnect took %llu us: backoff not reset",
		      (unsigned long long)took);
	ck_assert_uint_eq(fg_connections(E.fg), 2);
}
END_TEST

/* A dropped session waits min_usec before the next attempt. */
START_TEST(test_backoff_min)
{
	uint64_t start, took;

	ck_assert_int_eq(upcall_session_set_reconnect(E.s, 1, 60 * TC_MSEC,
						      1000 * TC_MSEC), 0);
	tenv_open(&E);
	fg_drop_connections(E.fg);
	start = tc_now_usec();
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 2, TC_LONG_MS));
	took = tc_now_usec() - start;
	ck_assert_msg(took >= 55 * TC_MSEC, "reconnected after %llu us",
		      (unsigned long long)took);
}
END_TEST

/* Reconnect disabled: a drop closes the session for good. */
START_TEST(test_drop_no_reconnect)
{
	tenv_open(&E);
	ck_assert_int_eq(upcall_session_set_reconnect(E.s, 0, 0, 0), 0);
	fg_drop_connections(E.fg);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_CLOSED, 1, TC_LONG_MS));
	ck_assert_int_eq(tc_states_error(&E.st, UPCALL_SESSION_CLOSED, 0), -ECONNRESET);
	tc_run_for(E.ctx, 20);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, NULL, NULL, NULL), -ENOTCONN);
}
END_TEST

START_TEST(test_close)
{
	struct tc_req t[3] = { { 0 } };
	upcall_request *req[3] = { NULL };
	int i;

	tenv_open(&E);
	fg_set_behavior(E.fg, FG_SILENT);
	for (i = 0; i < 3; i++) {
		uint64_t base = 0xd0000000u + 0x1000u * (unsigned int)i;

		ck_assert_int_eq(upcall_devmgr_mmio_add(E.s, base, 0x1000, 5,
							tc_req_cb, &t[i], &req[i]), 0);
	}
	ck_assert(tc_run_until_fg_requests(E.ctx, E.fg, 1, TC_LONG_MS));

	ck_assert_int_eq(upcall_session_close(E.s), 0);
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_CLOSED);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, NULL, NULL, NULL), -ENOTCONN);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, (const uint8_t *)"\1", 1, NULL,
					       NULL, NULL), -ENOTCONN);
	for (i = 0; i < 3; i++) {
		tc_req_wait(E.ctx, &t[i]);
		ck_assert_int_eq(t[i].error, -ESHUTDOWN);
		ck_assert_int_eq(t[i].status, -ESHUTDOWN);
		ck_assert_int_eq(t[i].result_r, -ENODATA);
		ck_assert_int_eq(upcall_request_cancel(req[i]), -EALREADY);
		upcall_request_unref(req[i]);
	}
	ck_assert_int_eq(upcall_session_close(E.s), 0);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, 0), -ESHUTDOWN);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_CLOSED, 1, TC_LONG_MS));
	ck_assert_int_eq(tc_states_seen(&E.st, UPCALL_SESSION_CLOSED), 1);
	/* No reconnect after a close. */
	tc_run_for(E.ctx, 20);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
}
END_TEST

/* Closing a session never opened. */
START_TEST(test_close_idle)
{
	ck_assert_int_eq(upcall_session_close(E.s), 0);
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_CLOSED);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), -EBUSY);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, NULL, NULL, NULL), -ENOTCONN);
}
END_TEST

/* The owner's last unref closes the session like upcall_session_close(). */
START_TEST(test_unref_closes)
{
	struct tc_req t = { 0 };

	tenv_open(&E);
	fg_set_behavior(E.fg, FG_SILENT);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t, NULL), 0);
	ck_assert(tc_run_until_fg_requests(E.ctx, E.fg, 1, TC_LONG_MS));
	E.s = upcall_session_unref(E.s);
	tc_req_wait(E.ctx, &t);
	ck_assert_int_eq(t.error, -ESHUTDOWN);
}
END_TEST

/*
 * The state callback's userdata is released once, when the session is
 * freed: after the owner's unref and the delivery of the last state event
 * (here CLOSED, queued by a close just before the unref), never before a
 * state callback that could use it; on the library thread when that
 * thread delivered the last event.
 */
struct state_owner {
	int calls, closed, destroyed, after;
	pthread_t destroyer;
};

static void owner_state_fn(upcall_session *s, upcall_session_state state,
			   int error, void *userdata)
{
	struct state_owner *o = userdata;

	if (__atomic_load_n(&o->destroyed, __ATOMIC_ACQUIRE))
		o->after++;
	o->calls++;
	if (state == UPCALL_SESSION_CLOSED)
		o->closed++;
}

static void owner_destroy(void *userdata)
{
	struct state_owner *o = userdata;

	o->destroyer = pthread_self();
	__atomic_fetch_add(&o->destroyed, 1, __ATOMIC_ACQ_REL);
}

static void destroy_after_close(int threaded)
{
	struct state_owner o = { 0 };
	upcall_session *s = NULL;
	int i;

	ck_assert_int_eq(upcall_session_new(E.ctx, &s), 0);
	ck_assert_int_eq(upcall_session_set_state_fn(s, owner_state_fn, &o), 0);
	ck_assert_int_eq(upcall_session_set_destroy_fn(s, owner_destroy), 0);
	ck_assert_int_eq(upcall_session_open_unix(s, E.d.path), 0);
	ck_assert_int_eq(upcall_session_wait_ready(s, TC_LONG_MS * TC_MSEC), 0);
	ck_assert_int_eq(upcall_session_close(s), 0);
	upcall_session_unref(s);
	ck_assert_int_eq(o.destroyed, 0);
	if (threaded) {
		ck_assert_int_eq(upcall_ctx_start_thread(E.ctx), 0);
		for (i = 0; i < 5000 && !__atomic_load_n(&o.destroyed,
							 __ATOMIC_ACQUIRE); i++)
			tc_sleep_ms(1);
		ck_assert_int_eq(upcall_ctx_stop_thread(E.ctx), 0);
	} else {
		ck_assert(tc_run_until_count(E.ctx, &o.destroyed, 1, TC_LONG_MS));
	}
	tc_drain(E.ctx);
	ck_assert_int_eq(o.destroyed, 1);
	ck_assert_int_eq(o.closed, 1);
	ck_assert_int_eq(o.after, 0);
	ck_assert(threaded != pthread_equal(o.destroyer, pthread_self()));
}

START_TEST(test_destroy_fn)
{
	struct state_owner o = { 0 };
	upcall_session *s = NULL;

	ck_assert_int_eq(upcall_session_set_destroy_fn(NULL, owner_destroy), -EINVAL);
	destroy_after_close(0);
	destroy_after_close(1);

	/* Never opened: released all the same. */
	ck_assert_int_eq(upcall_session_new(E.ctx, &s), 0);
	ck_assert_int_eq(upcall_session_set_state_fn(s, owner_state_fn, &o), 0);
	ck_assert_int_eq(upcall_session_set_destroy_fn(s, owner_destroy), 0);
	upcall_session_unref(s);
	tc_drain(E.ctx);
	ck_assert_int_eq(o.destroyed, 1);
}
END_TEST

/* Several sessions on one context, each with its own guest. */
START_TEST(test_many_sessions)
{
	enum { N = 8 };
	struct tc_dir d[N];
	struct fake_guest *fg[N];
	upcall_session *s[N];
	struct tc_req t[N][3];
	int i, k;

	memset(t, 0, sizeof(t));
	for (i = 0; i < N; i++) {
		tc_dir_init(&d[i]);
		fg[i] = fg_new(d[i].path, 1);
		ck_assert_ptr_nonnull(fg[i]);
		ck_assert_int_eq(upcall_session_new(E.ctx, &s[i]), 0);
		ck_assert_int_eq(upcall_session_set_arch(s[i], UPCALL_ARCH_X86_64), 0);
		ck_assert_int_eq(upcall_session_open_unix(s[i], d[i].path), 0);
		for (k = 0; k < 3; k++)
			ck_assert_int_eq(upcall_devmgr_pci_add(s[i], (uint8_t)i,
							       (uint8_t)k, tc_req_cb,
							       &t[i][k], NULL), 0);
	}
	ck_assert_int_eq(upcall_ctx_run(E.ctx, TC_LONG_MS * TC_MSEC), 0);
	for (i = 0; i < N; i++) {
		uint8_t m[UPCALL_MSG_SIZE];

		for (k = 0; k < 3; k++) {
			ck_assert_int_eq(t[i][k].done, 1);
			ck_assert_int_eq(t[i][k].error, 0);
		}
		ck_assert_uint_eq(fg_requests(fg[i]), 3);
		ck_assert_uint_eq(fg_violations(fg[i]), 0);
		ck_assert_int_eq(fg_last_request(fg[i], m), 0);
		ck_assert_uint_eq(m[16], i);
		ck_assert_uint_eq(m[17], 2);
		upcall_session_unref(s[i]);
	}
	tc_drain(E.ctx);
	for (i = 0; i < N; i++) {
		fg_free(fg[i]);
		tc_dir_fini(&d[i]);
	}
}
END_TEST

/* A state callback may submit; the request goes out on the new connection. */
static void submit_on_ready(upcall_session *s, upcall_session_state state,
			    int error, void *userdata)
{
	struct tc_req *t = userdata;

	if (state == UPCALL_SESSION_READY)
		ck_assert_int_eq(upcall_devmgr_pci_add(s, 0, 8, tc_req_cb, t, NULL), 0);
}

START_TEST(test_submit_from_state_fn)
{
	struct tc_req t = { 0 };

	ck_assert_int_eq(upcall_session_set_state_fn(E.s, submit_on_ready, &t), 0);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	tc_req_wait(E.ctx, &t);
	ck_assert_int_eq(t.error, 0);
	ck_assert_uint_eq(fg_requests(E.fg), 1);
}
END_TEST

static Suite *session_suite(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("open");

	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_open_unix_ready);
	tcase_add_test(tc, test_default_port);
	tcase_add_test(tc, test_set_port);
	tcase_add_test(tc, test_open_fd);
	tcase_add_test(tc, test_open_fd_connected_unix);
	tcase_add_test(tc, test_open_fd_unusable);
	tcase_add_loop_test(tc, test_open_vsock_unreachable, 0, 2);
	tcase_add_test(tc, test_setters_busy_after_open);
	tcase_add_test(tc, test_userdata);
	tcase_add_test(tc, test_wait_ready);
	tcase_add_test(tc, test_wait_ready_timeout);
	tcase_add_test(tc, test_path_too_long);
	tcase_add_test(tc, test_many_sessions);
	tcase_add_test(tc, test_submit_from_state_fn);
	tcase_add_test(tc, test_destroy_fn);
	suite_add_tcase(s, tc);

	tc = tcase_create("refuse");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_refused, 0,
			    sizeof(refuse_cases) / sizeof(refuse_cases[0]));
	tcase_add_loop_test(tc, test_refused_then_ready, 0,
			    sizeof(refuse_cases) / sizeof(refuse_cases[0]));
	tcase_add_test(tc, test_no_listener);
	tcase_add_test(tc, test_no_listener_then_ready);
	suite_add_tcase(s, tc);

	tc = tcase_create("reconnect");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reconnect_after_drop);
	tcase_add_test(tc, test_reconnect_after_restart);
	tcase_add_test(tc, test_backoff_reset);
	tcase_add_test(tc, test_backoff_min);
	tcase_add_test(tc, test_drop_no_reconnect);
	suite_add_tcase(s, tc);

	tc = tcase_create("close");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_close);
	tcase_add_test(tc, test_close_idle);
	tcase_add_test(tc, test_unref_closes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tc_run_suite(session_suite());
}
