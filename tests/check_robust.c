// SPDX-License-Identifier: MIT
/*
 * A guest that breaks the protocol: every request completes with an error
 * (never a crash, never a hang) and the session recovers once the guest
 * behaves again.  Also checks that the fake guest itself is strict.
 */
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

/* A new request now succeeds (the session may still be reconnecting). */
static void expect_recovered(struct tenv *e)
{
	struct tc_req t = { 0 };

	fg_set_behavior(e->fg, FG_OK);
	fg_set_result(e->fg, 0, -1);
	ck_assert_int_eq(upcall_session_set_request_timeout(e->s, 3000 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(e->s, 0, 8, tc_req_cb, &t, NULL), 0);
	tc_req_wait(e->ctx, &t);
	ck_assert_msg(t.error == 0, "after recovery: %s", upcall_strerror(t.error));
	ck_assert_int_eq(t.result, 0);
	ck_assert_int_eq(upcall_session_get_state(e->s), UPCALL_SESSION_READY);
	ck_assert_uint_eq(fg_violations(e->fg), 0);
}

static const struct {
	enum fg_behavior b;
	int err;
} bad_replies[] = {
	{ FG_GARBAGE, -EPROTO },
	{ FG_EOF_MID_REPLY, -ECONNRESET },
	{ FG_BAD_MAGIC, -EPROTO },
	{ FG_WRONG_TYPE, -EPROTO },
	{ FG_BIG_SIZE, -EPROTO },
	{ FG_SILENT, -ETIMEDOUT },
};

/*
 * The request in flight fails with the reason, the one queued behind it
 * with -ECONNRESET (its connection is gone), the session reconnects.
 */
START_TEST(test_bad_reply)
{
	enum fg_behavior b = bad_replies[_i].b;
	int err = bad_replies[_i].err;
	struct tc_req t1 = { 0 }, t2 = { 0 };
	upcall_request *r2 = NULL;
	static const uint8_t id = 1;

	tenv_open(&E);
	fg_set_behavior(E.fg, b);
	if (b == FG_SILENT)
		ck_assert_int_eq(upcall_session_set_request_timeout(E.s, 40 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, &id, 1, tc_req_cb, &t1, NULL), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t2, &r2), 0);
	ck_assert_int_eq(upcall_request_set_timeout(r2, 3000 * TC_MSEC), 0);
	tc_req_wait(E.ctx, &t1);
	ck_assert_msg(t1.error == err, "%s: got %s, want %s", fg_behavior_name(b),
		      upcall_errno_name(t1.error) ?: "0", upcall_errno_name(err));
	ck_assert_int_eq(t1.status, err);
	ck_assert_int_eq(t1.result_r, -ENODATA);
	ck_assert_int_eq(t1.index_r, -ENODATA);
	tc_req_wait(E.ctx, &t2);
	ck_assert_int_eq(t2.error, -ECONNRESET);

	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 2, TC_LONG_MS));
	tc_states_expect(&E.st, 4, { UPCALL_SESSION_CONNECTING, 0 },
			 { UPCALL_SESSION_READY, 0 },
			 { UPCALL_SESSION_RECONNECTING, err },
			 { UPCALL_SESSION_READY, 0 });
	expect_recovered(&E);
	ck_assert_uint_eq(fg_connections(E.fg), 2);
	upcall_request_unref(r2);
}
END_TEST

/* A result that is no errno, or a success without its body: -EPROTO. */
static const struct {
	int32_t result, index;
	int type;		/* 0: PCI request, 1: CPU request */
} bad_results[] = {
	{ 1, -1, 0 },
	{ 0x7fffffff, -1, 0 },
	{ -4096, -1, 0 },
	{ INT32_MIN, -1, 0 },
	{ 0, FG_INDEX_NONE, 1 },
};

START_TEST(test_bad_result)
{
	struct tc_req t = { 0 };
	static const uint8_t id = 1;

	tenv_open(&E);
	fg_set_result(E.fg, bad_results[_i].result, bad_results[_i].index);
	if (bad_results[_i].type)
		ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, &id, 1, tc_req_cb, &t,
						       NULL), 0);
	else
		ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t,
						       NULL), 0);
	tc_req_wait(E.ctx, &t);
	ck_assert_int_eq(t.error, -EPROTO);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 2, TC_LONG_MS));
	ck_assert_int_eq(tc_states_error(&E.st, UPCALL_SESSION_RECONNECTING, 0), -EPROTO);
	expect_recovered(&E);
}
END_TEST

/* The guest accepts, says CONNECT, hangs up; over and over. */
START_TEST(test_close_after_connect)
{
	struct tc_req t = { 0 };
	unsigned int n;

	fg_set_behavior(E.fg, FG_CLOSE_AFTER_CONNECT);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t, NULL), 0);
	tc_req_wait(E.ctx, &t);
	ck_assert_int_eq(t.error, -ECONNRESET);
	ck_assert_int_ge(tc_states_seen(&E.st, UPCALL_SESSION_READY), 1);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_RECONNECTING, 1,
				    TC_LONG_MS));
	ck_assert_int_eq(tc_states_error(&E.st, UPCALL_SESSION_RECONNECTING, 0),
			 -ECONNRESET);

	/* Behave again; once a connection has started since, it sticks. */
	fg_set_behavior(E.fg, FG_OK);
	n = fg_connections(E.fg);
	ck_assert(tc_run_until_fg_connections(E.ctx, E.fg, n + 1, TC_LONG_MS));
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY,
				    tc_states_seen(&E.st, UPCALL_SESSION_RECONNECTING) + 1,
				    TC_LONG_MS));
	expect_recovered(&E);
}
END_TEST

/* Everything the guest sends arrives one byte at a time: all succeed. */
START_TEST(test_pieces)
{
	static const uint8_t ids[] = { 1, 2, 3 };
	struct tc_req t1 = { 0 }, t2 = { 0 }, t3 = { 0 };
	upcall_info info;

	fg_set_behavior(E.fg, FG_PIECES);
	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, ids, 3, tc_req_cb, &t1, NULL), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t2, NULL), 0);
	tc_req_wait(E.ctx, &t2);
	fg_set_result(E.fg, -EBUSY, -1);
	ck_assert_int_eq(upcall_devmgr_mmio_del(E.s, 0xd0000000u, 0x1000, 5,
						tc_req_cb, &t3, NULL), 0);
	tc_req_wait(E.ctx, &t3);
	ck_assert_int_eq(t1.done + t2.done, 2);
	ck_assert_int_eq(t1.error, 0);
	ck_assert_int_eq(t1.result, 0);
	ck_assert_uint_eq(t1.index, 3);
	ck_assert_int_eq(t2.error, 0);
	ck_assert_int_eq(t2.result, 0);
	ck_assert_int_eq(t3.error, 0);
	ck_assert_int_eq(t3.result, -EBUSY);
	fg_set_result(E.fg, 0, -1);
	ck_assert_int_eq(upcall_devmgr_get_info_sync(E.s, 0, NULL, &info), 0);
	ck_assert_uint_eq(info.mem_block_size, 0x8000000);

	tc_states_expect(&E.st, 2, { UPCALL_SESSION_CONNECTING, 0 },
			 { UPCALL_SESSION_READY, 0 });
	ck_assert_uint_eq(fg_connections(E.fg), 1);
	ck_assert_uint_eq(fg_requests(E.fg), 4);
	ck_assert_uint_eq(fg_violations(E.fg), 0);
}
END_TEST

/* Bytes nobody asked for: the guest is broken, drop and reconnect. */
START_TEST(test_unsolicited)
{
	tenv_open(&E);
	ck_assert_int_eq(fg_send_unsolicited(E.fg), 1);
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 2, TC_LONG_MS));
	tc_states_expect(&E.st, 4, { UPCALL_SESSION_CONNECTING, 0 },
			 { UPCALL_SESSION_READY, 0 },
			 { UPCALL_SESSION_RECONNECTING, -EPROTO },
			 { UPCALL_SESSION_READY, 0 });
	expect_recovered(&E);
	ck_assert_uint_eq(fg_connections(E.fg), 2);
}
END_TEST

/* An early answer, then the real one: the second comes unasked. */
START_TEST(test_unsolicited_after_reply)
{
	struct tc_req t = { 0 };

	tenv_open(&E);
	fg_set_delay_ms(E.fg, 20);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t, NULL), 0);
	ck_assert(tc_run_until_fg_requests(E.ctx, E.fg, 1, TC_LONG_MS));
	/* Lands before the (delayed) real reply: it answers the request... */
	ck_assert_int_eq(fg_send_unsolicited(E.fg), 1);
	tc_req_wait(E.ctx, &t);
	ck_assert_int_eq(t.error, 0);
	/* ...and the real reply then arrives unasked. */
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 2, TC_LONG_MS));
	ck_assert_int_eq(tc_states_error(&E.st, UPCALL_SESSION_RECONNECTING, 0), -EPROTO);
	fg_set_delay_ms(E.fg, 0);
	expect_recovered(&E);
}
END_TEST

/* Guest reboot after guest reboot: each one is mended. */
START_TEST(test_handshake_drop_loop)
{
	int i;

	tenv_open(&E);
	for (i = 0; i < 5; i++) {
		fg_drop_connections(E.fg);
		ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY,
					    i + 2, TC_LONG_MS));
	}
	ck_assert_uint_eq(fg_connections(E.fg), 6);
	expect_recovered(&E);
}
END_TEST

/* ------------------------------------------- the fake guest is strict */

static int raw_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	uint8_t m[1024];
	char line[64];
	size_t n = 0;
	int fd;

	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(fd, "CONNECT 219\n", 12), 12);
	do
		ck_assert_int_eq(read(fd, line + n, 1), 1);
	while (line[n++] != '\n' && n < sizeof(line));
	ck_assert_int_eq(memcmp(line, "OK ", 3), 0);
	ck_assert_int_eq(write(fd, "d", 1), 1);
	ck_assert_int_eq(recv(fd, m, sizeof(m), MSG_WAITALL), 1024);
	ck_assert_uint_eq(m[0] | m[1] << 8 | m[2] << 16 | (uint32_t)m[3] << 24,
			  0x444D0100u);
	return fd;
}

/* Send @m, read the reply: the fake guest answers even what it rejects. */
static void raw_exchange(int fd, const uint8_t m[1024])
{
	uint8_t r[1024];

	ck_assert_int_eq(write(fd, m, 1024), 1024);
	ck_assert_int_eq(recv(fd, r, sizeof(r), MSG_WAITALL), 1024);
}

static void raw_msg(uint8_t m[1024], uint32_t size, uint32_t type)
{
	memset(m, 0, 1024);
	m[0] = 0x00;
	m[1] = 0x01;
	m[2] = 0x4d;
	m[3] = 0x44;
	m[4] = (uint8_t)size;
	m[5] = (uint8_t)(size >> 8);
	m[8] = (uint8_t)type;
	m[9] = (uint8_t)(type >> 8);
}

START_TEST(test_fake_guest_is_strict)
{
	uint8_t m[1024];
	int fd = raw_connect(E.d.path);
	unsigned int bad = 0;

	raw_msg(m, 2, 7);			/* good */
	raw_exchange(fd, m);
	ck_assert_uint_eq(fg_requests(E.fg), 1);

	raw_msg(m, 2, 7);
	m[3] = 0x45;				/* magic */
	raw_exchange(fd, m);
	bad++;
	raw_msg(m, 2, 7);
	m[12] = 1;				/* flags */
	raw_exchange(fd, m);
	bad++;
	raw_msg(m, 2, 9);			/* type */
	raw_exchange(fd, m);
	bad++;
	raw_msg(m, 3, 7);			/* size */
	raw_exchange(fd, m);
	bad++;
	raw_msg(m, 2, 7);
	m[1023] = 1;				/* padding */
	raw_exchange(fd, m);
	bad++;
	raw_msg(m, 258, 1);
	m[16] = 1;
	m[17] = 0x14;
	m[18] = 1;
	m[19] = 2;				/* apic id beyond count */
	raw_exchange(fd, m);
	bad++;
	raw_msg(m, 258, 2);			/* count 0 */
	raw_exchange(fd, m);
	bad++;
	raw_msg(m, 24, 5);
	m[36] = 1;				/* mmio padding */
	raw_exchange(fd, m);
	bad++;
	raw_msg(m, 24, 3);
	m[36] = 2;				/* mem flags */
	raw_exchange(fd, m);
	bad++;
	raw_msg(m, 1, 1);			/* arm64 count 0 */
	raw_exchange(fd, m);
	bad++;

	raw_msg(m, 1, 2);			/* arm64, good */
	m[16] = 4;
	raw_exchange(fd, m);
	raw_msg(m, 24, 4);			/* mem, movable: good */
	m[36] = 1;
	raw_exchange(fd, m);
	ck_assert_uint_eq(fg_violations(E.fg), bad);
	ck_assert_uint_eq(fg_requests(E.fg), 3);
	close(fd);
}
END_TEST

/* A bad service byte or hybrid line counts as a violation too. */
START_TEST(test_fake_guest_handshake_strict)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char c;
	int fd;

	strcpy(sa.sun_path, E.d.path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(fd, "CONNECT x\n", 10), 10);
	ck_assert_int_eq(read(fd, &c, 1), 0);
	close(fd);
	ck_assert_uint_eq(fg_violations(E.fg), 1);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(write(fd, "CONNECT 219\n", 12), 12);
	do
		ck_assert_int_eq(read(fd, &c, 1), 1);
	while (c != '\n');
	ck_assert_int_eq(write(fd, "x", 1), 1);
	ck_assert_int_eq(read(fd, &c, 1), 0);
	close(fd);
	ck_assert_uint_eq(fg_violations(E.fg), 2);
	ck_assert_uint_eq(fg_connections(E.fg), 2);
}
END_TEST

static Suite *robust_suite(void)
{
	Suite *s = suite_create("robust");
	TCase *tc = tcase_create("replies");

	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_bad_reply, 0,
			    sizeof(bad_replies) / sizeof(bad_replies[0]));
	tcase_add_loop_test(tc, test_bad_result, 0,
			    sizeof(bad_results) / sizeof(bad_results[0]));
	tcase_add_test(tc, test_close_after_connect);
	tcase_add_test(tc, test_pieces);
	tcase_add_test(tc, test_unsolicited);
	tcase_add_test(tc, test_unsolicited_after_reply);
	tcase_add_test(tc, test_handshake_drop_loop);
	suite_add_tcase(s, tc);

	tc = tcase_create("fakeguest");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_fake_guest_is_strict);
	tcase_add_test(tc, test_fake_guest_handshake_strict);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tc_run_suite(robust_suite());
}
