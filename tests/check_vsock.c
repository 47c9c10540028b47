// SPDX-License-Identifier: MIT
/*
 * AF_VSOCK connection set-up, with the socket calls interposed: this
 * program defines socket(), bind() and connect(), which libupcall's calls
 * resolve to (a definition in the executable comes first), so that the
 * tests see every vsock bind the library makes and choose its outcome,
 * whether or not the machine has a vsock transport.  A "vsock" socket is
 * an AF_UNIX one underneath; its connect is refused.  Other sockets pass
 * through to the C library.
 */
#include <dlfcn.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

#include "check_common.h"

#define MAX_FDS 1024
/* The build hides symbols by default; these must be seen by libupcall. */
#define INTERPOSE __attribute__((visibility("default")))

/* What the fake stack does and saw; reset before each test. */
static struct {
	bool vsock_fd[MAX_FDS];
	unsigned int busy_from;		/* ports >= this are in use */
	int bind_errno;			/* bind fails with this, if set */
	unsigned int binds;		/* bind calls on vsock sockets */
	unsigned int last_port;		/* the port of the last bind that worked */
} fake;

static void fake_reset(void)
{
	memset(&fake, 0, sizeof(fake));
	fake.busy_from = 65536;
}

static bool is_vsock(int fd)
{
	return fd >= 0 && fd < MAX_FDS && fake.vsock_fd[fd];
}

INTERPOSE int socket(int domain, int type, int protocol)
{
	static int (*real)(int, int, int);
	int fd;

	if (!real)
		real = (int (*)(int, int, int))dlsym(RTLD_NEXT, "socket");
	if (domain != AF_VSOCK)
		return real(domain, type, protocol);
	fd = real(AF_UNIX, type, 0);
	if (fd >= 0 && fd < MAX_FDS)
		fake.vsock_fd[fd] = true;
	return fd;
}

INTERPOSE int bind(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);
	const struct sockaddr_vm *vm = (const struct sockaddr_vm *)addr;

	if (!real)
		real = (int (*)(int, const struct sockaddr *, socklen_t))
			dlsym(RTLD_NEXT, "bind");
	if (!is_vsock(fd))
		return real(fd, addr, len);
	fake.binds++;
	if (len < sizeof(*vm) || vm->svm_family != AF_VSOCK ||
	    vm->svm_cid != VMADDR_CID_ANY) {
		errno = EINVAL;
		return -1;
	}
	if (fake.bind_errno) {
		errno = fake.bind_errno;
		return -1;
	}
	if (vm->svm_port >= fake.busy_from) {
		errno = EADDRINUSE;
		return -1;
	}
	fake.last_port = vm->svm_port;
	return 0;
}

INTERPOSE int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	static int (*real)(int, const struct sockaddr *, socklen_t);

	if (!real)
		real = (int (*)(int, const struct sockaddr *, socklen_t))
			dlsym(RTLD_NEXT, "connect");
	if (!is_vsock(fd))
		return real(fd, addr, len);
	errno = ECONNREFUSED;
	return -1;
}

INTERPOSE int close(int fd)
{
	static int (*real)(int);

	if (!real)
		real = (int (*)(int))dlsym(RTLD_NEXT, "close");
	if (fd >= 0 && fd < MAX_FDS)
		fake.vsock_fd[fd] = false;
	return real(fd);
}

static upcall_ctx *ctx;
static upcall_session *s;

static void setup(void)
{
	fake_reset();
	ctx = tc_ctx_new();
	ck_assert_int_eq(upcall_session_new(ctx, &s), 0);
	/* One attempt: its error comes back from open. */
	ck_assert_int_eq(upcall_session_set_reconnect(s, 0, 0, 0), 0);
}

static void teardown(void)
{
	upcall_session_close(s);
	s = upcall_session_unref(s);
	/* State events not yet dispatched hold the session. */
	tc_drain(ctx);
	ctx = upcall_ctx_unref(ctx);
}

START_TEST(test_setter)
{
	ck_assert_int_eq(upcall_session_set_privileged_port(NULL, 1), -EINVAL);
	ck_assert_int_eq(upcall_session_set_privileged_port(s, 1), 0);
	ck_assert_int_eq(upcall_session_set_privileged_port(s, 0), 0);
	ck_assert_int_eq(upcall_session_open_vsock(s, 3), -ECONNREFUSED);
	ck_assert_int_eq(upcall_session_set_privileged_port(s, 1), -EBUSY);
}
END_TEST

START_TEST(test_default_binds_nothing)
{
	ck_assert_int_eq(upcall_session_open_vsock(s, 3), -ECONNREFUSED);
	ck_assert_uint_eq(fake.binds, 0);
}
END_TEST

/* With a privileged port asked for: what the fake stack does, and what the
 * library must make of it. */
static const struct {
	const char *what;
	unsigned int busy_from;		/* ports >= this are in use */
	int bind_errno;
	int open_result;		/* the connect is always refused */
	unsigned int binds;
	unsigned int last_port;		/* 0: none bound */
} bind_cases[] = {
	{ "all free: 1023", 65536, 0, -ECONNREFUSED, 1, 1023 },
	{ "1021-1023 in use: 1020", 1021, 0, -ECONNREFUSED, 4, 1020 },
	{ "all in use", 0, 0, -EADDRINUSE, 512, 0 },
	{ "no permission", 65536, EACCES, -EACCES, 1, 0 },
};

START_TEST(test_privileged_bind)
{
	int r;

	fake.busy_from = bind_cases[_i].busy_from;
	fake.bind_errno = bind_cases[_i].bind_errno;
	ck_assert_int_eq(upcall_session_set_privileged_port(s, 1), 0);
	r = upcall_session_open_vsock(s, 3);
	ck_assert_msg(r == bind_cases[_i].open_result &&
		      fake.binds == bind_cases[_i].binds &&
		      fake.last_port == bind_cases[_i].last_port,
		      "%s: open %d, %u binds, port %u", bind_cases[_i].what, r,
		      fake.binds, fake.last_port);
	/* One attempt, no reconnect: a failure closes the session. */
	ck_assert_int_eq(upcall_session_get_state(s), UPCALL_SESSION_CLOSED);
}
END_TEST

/* Only AF_VSOCK binds: a hybrid-vsock session is left alone. */
START_TEST(test_unix_unaffected)
{
	struct tc_dir d;

	tc_dir_init(&d);
	ck_assert_int_eq(upcall_session_set_privileged_port(s, 1), 0);
	ck_assert_int_eq(upcall_session_open_unix(s, d.path), -ENOENT);
	ck_assert_uint_eq(fake.binds, 0);
	tc_dir_fini(&d);
}
END_TEST

static Suite *vsock_suite(void)
{
	Suite *su = suite_create("vsock");
	TCase *tc = tcase_create("privileged_port");

	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_setter);
	tcase_add_test(tc, test_default_binds_nothing);
	tcase_add_loop_test(tc, test_privileged_bind, 0,
			    sizeof(bind_cases) / sizeof(bind_cases[0]));
	tcase_add_test(tc, test_unix_unaffected);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return tc_run_suite(vsock_suite());
}
