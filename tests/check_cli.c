// SPDX-License-Identifier: MIT
/*
 * The upcall CLI as a user sees it: the built program ($UPCALL_CLI) run
 * against the fake-guest program ($FAKE_GUEST), checking exit status,
 * stdout and stderr for every command and every way of failing.
 *
 * Each test case gets a temporary directory, each test its own socket in
 * it.  The guest is killed and reaped by the test's teardown or, when a
 * failed assertion or Check's timeout ends a forked test early, through
 * PR_SET_PDEATHSIG.
 */
#include <check.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GUEST_READY_MS	5000
#define CLI_LIMIT_MS	15000
#define ARGV_MAX	300

static const char *cli_path;
static const char *guest_path;

static char tmpdir[64];
static char sock_path[160];
static char guest_log[160];
static pid_t guest_pid = -1;
static int guest_out = -1;

struct cli {
	pid_t pid;
	int out_fd;
	int err_fd;
	double start;
};

struct result {
	int status;		/* exit status, or 128 + signal */
	char out[4096];
	char err[16384];
	double secs;
};

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------ */
/* The fake guest                                                      */
/* ------------------------------------------------------------------ */

static void remove_tree(const char *dir)
{
	struct dirent *de;
	char path[512];
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static void guest_stop(void)
{
	int i;

	if (guest_pid > 0) {
		kill(guest_pid, SIGTERM);
		for (i = 0; i < 200; i++) {
			if (waitpid(guest_pid, NULL, WNOHANG) != 0)
				break;
			usleep(10000);
		}
		if (i == 200) {
			kill(guest_pid, SIGKILL);
			waitpid(guest_pid, NULL, 0);
		}
		guest_pid = -1;
	}
	if (guest_out >= 0) {
		close(guest_out);
		guest_out = -1;
	}
}

/*
 * One directory per test case, made and removed by the runner process (an
 * unchecked fixture), so that it goes even when a failed assertion ends a
 * forked test with _exit().  PR_SET_PDEATHSIG then takes the guest along.
 */
static void tcase_setup(void)
{
	const char *tmp = getenv("TMPDIR");

	/* sun_path is short: keep the directory near the root. */
	if (!tmp || !*tmp || strlen(tmp) > 32)
		tmp = "/tmp";
	snprintf(tmpdir, sizeof(tmpdir), "%s/upcall-cli.XXXXXX", tmp);
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(EXIT_FAILURE);
	}
}

static void tcase_teardown(void)
{
	remove_tree(tmpdir);
}

/* Each test its own socket, also with CK_FORK=no. */
static void setup(void)
{
	static unsigned int n;

	snprintf(sock_path, sizeof(sock_path), "%s/vsock-%d-%u.sock", tmpdir,
		 (int)getpid(), n);
	snprintf(guest_log, sizeof(guest_log), "%s/guest-%d-%u.log", tmpdir,
		 (int)getpid(), n);
	n++;
}

static void teardown(void)
{
	guest_stop();
	unlink(sock_path);
	unlink(guest_log);
}

/*
 * Stop the guest and check its closing report: no request of the CLI broke
 * the specification, and it got @requests well-formed ones (-1: any).
 */
static void guest_finish(int requests)
{
	unsigned int conns, reqs, viol;
	char buf[4096], *line;
	ssize_t n;
	int fd;

	guest_stop();
	fd = open(guest_log, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	line = strstr(buf, "fake-guest: ");
	while (line && sscanf(line, "fake-guest: %u connections, %u requests, "
				    "%u violations", &conns, &reqs, &viol) != 3)
		line = strstr(line + 1, "fake-guest: ");
	ck_assert_msg(line, "no report from the fake guest: %s", buf);
	ck_assert_msg(viol == 0, "the CLI broke the protocol: %s", buf);
	if (requests >= 0)
		ck_assert_uint_eq(reqs, (unsigned int)requests);
}

/* Wait for the guest's "ready" line. */
static void guest_wait_ready(void)
{
	double deadline = now_sec() + GUEST_READY_MS / 1000.0;
	char buf[256];
	size_t len = 0;

	while (!memchr(buf, '\n', len)) {
		struct pollfd p = { .fd = guest_out, .events = POLLIN };
		int left = (int)((deadline - now_sec()) * 1000);
		ssize_t n;

		ck_assert_msg(left > 0, "fake guest not ready in time");
		if (poll(&p, 1, left) <= 0)
			continue;
		n = read(guest_out, buf + len, sizeof(buf) - 1 - len);
		ck_assert_msg(n > 0, "fake guest exited before it was ready");
		len += (size_t)n;
		ck_assert_uint_lt(len, sizeof(buf) - 1);
	}
	buf[len] = '\0';
	ck_assert_msg(!strncmp(buf, "ready\n", 6), "fake guest said '%s'", buf);
}

/* Start the fake guest on sock_path with extra arguments (NULL-terminated). */
static void guest_start(const char *const *extra)
{
	const char *argv[32] = { guest_path, "--socket", sock_path };
	pid_t parent = getpid();
	int fds[2];
	int n = 3;
	int log;

	while (extra && *extra && n < 31)
		argv[n++] = *extra++;
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(fds, O_CLOEXEC), 0);
	log = open(guest_log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(log, 0);
	guest_pid = fork();
	ck_assert_int_ge(guest_pid, 0);
	if (guest_pid == 0) {
		/* Never outlive the test, whatever ends it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(fds[1], STDOUT_FILENO);
		dup2(log, STDERR_FILENO);
		execv(guest_path, (char *const *)argv);
		_exit(127);
	}
	close(fds[1]);
	close(log);
	guest_out = fds[0];
	guest_wait_ready();
}

/* ------------------------------------------------------------------ */
/* The CLI                                                             */
/* ------------------------------------------------------------------ */

/* Run the CLI with @args (NULL-terminated); @fd, if >= 0, becomes fd 3. */
static void cli_spawn(struct cli *c, const char *const *args, int fd)
{
	const char *argv[ARGV_MAX + 2] = { cli_path };
	int out[2], err[2];
	int n = 1;

	while (*args && n <= ARGV_MAX)
		argv[n++] = *args++;
	argv[n] = NULL;
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(err, O_CLOEXEC), 0);
	c->start = now_sec();
	c->pid = fork();
	ck_assert_int_ge(c->pid, 0);
	if (c->pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		if (fd >= 0 && fd != 3)
			dup2(fd, 3);
		else if (fd == 3)
			fcntl(fd, F_SETFD, 0);
		execv(cli_path, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	close(err[1]);
	c->out_fd = out[0];
	c->err_fd = err[0];
}

static void append(int fd, char *buf, size_t size, size_t *len, bool *open)
{
	char tmp[4096];
	ssize_t n = read(fd, tmp, sizeof(tmp));
	size_t k;

	if (n <= 0) {
		if (n == 0 || errno != EINTR)
			*open = false;
		return;
	}
	k = (size_t)n < size - 1 - *len ? (size_t)n : size - 1 - *len;
	memcpy(buf + *len, tmp, k);
	*len += k;
	buf[*len] = '\0';
}

/* Collect the output and the exit status; a hung CLI fails the test. */
static void cli_collect(struct cli *c, struct result *r)
{
	double deadline = c->start + CLI_LIMIT_MS / 1000.0;
	bool out_open = true, err_open = true;
	size_t out_len = 0, err_len = 0;
	int st;

	memset(r, 0, sizeof(*r));
	while (out_open || err_open) {
		struct pollfd p[2] = {
			{ .fd = out_open ? c->out_fd : -1, .events = POLLIN },
			{ .fd = err_open ? c->err_fd : -1, .events = POLLIN },
		};
		int left = (int)((deadline - now_sec()) * 1000);

		if (left <= 0) {
			kill(c->pid, SIGKILL);
			waitpid(c->pid, NULL, 0);
			ck_abort_msg("the CLI hung");
		}
		if (poll(p, 2, left) <= 0)
			continue;
		if (p[0].revents)
			append(c->out_fd, r->out, sizeof(r->out), &out_len,
			       &out_open);
		if (p[1].revents)
			append(c->err_fd, r->err, sizeof(r->err), &err_len,
			       &err_open);
	}
	close(c->out_fd);
	close(c->err_fd);
	ck_assert_int_eq(waitpid(c->pid, &st, 0), c->pid);
	r->secs = now_sec() - c->start;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void run_cli_fd(struct result *r, const char *const *args, int fd)
{
	struct cli c;

	cli_spawn(&c, args, fd);
	cli_collect(&c, r);
}

static void run_cli(struct result *r, const char *const *args)
{
	run_cli_fd(r, args, -1);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define GUEST(...) guest_start(ARGS(__VA_ARGS__))

static void expect(const struct result *r, int status)
{
	ck_assert_msg(r->status == status,
		      "exit status %d, expected %d\nstdout: %s\nstderr: %s",
		      r->status, status, r->out, r->err);
}

/* Exit 0, exactly @line on stdout, nothing on stderr. */
static void expect_done(const struct result *r, const char *line)
{
	expect(r, 0);
	ck_assert_str_eq(r->out, line);
	ck_assert_str_eq(r->err, "");
}

static void expect_usage(const struct result *r)
{
	expect(r, 2);
	ck_assert_str_eq(r->out, "");
	ck_assert_msg(!strncmp(r->err, "upcall: ", 8), "stderr: %s", r->err);
	ck_assert_ptr_nonnull(strstr(r->err, "Usage:"));
	/* The reason comes first, on one line. */
	ck_assert_ptr_nonnull(strchr(r->err, '\n'));
	ck_assert_msg(strstr(r->err, "Usage:") > strchr(r->err, '\n'),
		      "stderr: %s", r->err);
}

static void expect_err(const struct result *r, int status, const char *text)
{
	expect(r, status);
	ck_assert_str_eq(r->out, "");
	ck_assert_msg(strstr(r->err, text), "'%s' not in stderr: %s", text,
		      r->err);
}

/* ------------------------------------------------------------------ */
/* Success                                                             */
/* ------------------------------------------------------------------ */

START_TEST(test_cpu_add)
{
	struct result r;

	GUEST("--index", "2");
	run_cli(&r, ARGS("--socket", sock_path, "cpu-add", "1", "0x2"));
	expect_done(&r, "cpu-add: done (index 2)\n");
	guest_finish(1);
}
END_TEST

START_TEST(test_cpu_del)
{
	struct result r;

	GUEST("--index", "3");
	run_cli(&r, ARGS("--socket", sock_path, "cpu-del", "5", "6", "7"));
	expect_done(&r, "cpu-del: done (index 3)\n");
	guest_finish(1);
}
END_TEST

START_TEST(test_cpu_add_arm64)
{
	struct result r;

	GUEST("--index", "4");
	run_cli(&r, ARGS("--socket", sock_path, "--arch", "aarch64",
			 "cpu-add", "2"));
	expect_done(&r, "cpu-add: done (index 4)\n");
	guest_finish(1);
}
END_TEST

START_TEST(test_mmio)
{
	struct result r;

	GUEST(NULL);
	run_cli(&r, ARGS("--socket", sock_path, "mmio-add", "0xd0000000",
			 "4K", "5"));
	expect_done(&r, "mmio-add: done\n");
	run_cli(&r, ARGS("--socket", sock_path, "mmio-del", "0xd0000000",
			 "0x1000", "5"));
	expect_done(&r, "mmio-del: done\n");
	guest_finish(2);
}
END_TEST

START_TEST(test_mem)
{
	struct result r;

	GUEST(NULL);
	run_cli(&r, ARGS("--socket", sock_path, "mem-add", "0x100000000",
			 "128M"));
	expect_done(&r, "mem-add: done\n");
	run_cli(&r, ARGS("--socket", sock_path, "mem-add", "--movable", "4G",
			 "--node", "1", "1g"));
	expect_done(&r, "mem-add: done\n");
	run_cli(&r, ARGS("--socket", sock_path, "mem-del", "4G", "1G"));
	expect_done(&r, "mem-del: done\n");
	guest_finish(3);
}
END_TEST

START_TEST(test_pci)
{
	struct result r;

	GUEST(NULL);
	run_cli(&r, ARGS("--socket", sock_path, "pci-add", "0", "1f.7"));
	expect_done(&r, "pci-add: done\n");
	run_cli(&r, ARGS("--socket", sock_path, "pci-del", "0x1", "8"));
	expect_done(&r, "pci-del: done\n");
	guest_finish(2);
}
END_TEST

START_TEST(test_verbose)
{
	struct result r;

	GUEST(NULL);
	run_cli(&r, ARGS("--socket", sock_path, "-v", "pci-add", "0", "8"));
	expect(&r, 0);
	ck_assert_str_eq(r.out, "pci-add: done\n");
	ck_assert_msg(r.err[0] != '\0', "-v printed no debug log");
	guest_finish(1);
}
END_TEST

/* --fd: a stream the caller connected, no hybrid handshake. */
START_TEST(test_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct result r;
	int fd;

	GUEST("--plain");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	strcpy(sa.sun_path, sock_path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	run_cli_fd(&r, ARGS("--fd", "3", "pci-add", "0", "8"), fd);
	close(fd);
	expect_done(&r, "pci-add: done\n");
	guest_finish(1);
}
END_TEST

/* A guest that starts listening after the CLI is retried, not refused. */
START_TEST(test_guest_late)
{
	struct result r;
	struct cli c;

	cli_spawn(&c, ARGS("--socket", sock_path, "--timeout", "3000",
			   "pci-add", "0", "8"), -1);
	usleep(300 * 1000);
	GUEST(NULL);
	cli_collect(&c, &r);
	expect_done(&r, "pci-add: done\n");
	guest_finish(1);
}
END_TEST

START_TEST(test_help)
{
	struct result r;

	run_cli(&r, ARGS("--help"));
	expect(&r, 0);
	ck_assert_ptr_nonnull(strstr(r.out, "Usage"));
	ck_assert_str_eq(r.err, "");
	run_cli(&r, ARGS("--version"));
	expect(&r, 0);
	ck_assert_msg(!strncmp(r.out, "upcall ", 7), "stdout: %s", r.out);
	ck_assert_str_eq(r.err, "");
}
END_TEST

/* ------------------------------------------------------------------ */
/* The guest refuses                                                   */
/* ------------------------------------------------------------------ */

/* The whole output: scripts grep its lines (tests/vm, bench). */
START_TEST(test_info)
{
	struct result r;

	GUEST(NULL);
	run_cli(&r, ARGS("--socket", sock_path, "info"));
	expect_done(&r, "version: 1.2\n"
		    "operations: cpu-add cpu-del mem-add mem-del mmio-add mmio-del pci-add pci-del\n"
		    "cpus: possible 8, present 1, online 1\n"
		    "cpu mode: hotadd\n"
		    "arch: x86_64\n"
		    "memory block size: 0x8000000\n"
		    "memory online policy: online_movable\n");
	guest_finish(1);
}
END_TEST

/* Each CPU mode by name; a 1.0 guest does not say, nor does a later one. */
START_TEST(test_info_cpu_mode)
{
	static const struct {
		const char *arg, *line;
	} modes[] = {
		{ "none", "\ncpu mode: none\n" },
		{ "hotadd", "\ncpu mode: hotadd\n" },
		{ "parked", "\ncpu mode: parked\n" },
		{ "unknown", "\ncpu mode: unknown\n" },
		{ "4", "\ncpu mode: unknown\n" },
	};
	struct result r;
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		GUEST("--cpu-mode", modes[i].arg);
		run_cli(&r, ARGS("--socket", sock_path, "info"));
		expect(&r, 0);
		ck_assert_msg(strstr(r.out, modes[i].line), "%s: %s",
			      modes[i].arg, r.out);
		guest_finish(1);
	}

	GUEST("--info-version", "0x0100", "--cpu-mode", "0");
	run_cli(&r, ARGS("--socket", sock_path, "info"));
	expect(&r, 0);
	ck_assert_msg(!strncmp(r.out, "version: 1.0\n", 13), "%s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "\ncpu mode: unknown\n"));
	guest_finish(1);
}
END_TEST

/*
 * The guest's architecture, and a warning naming the --arch to use where
 * the session's is another; the command still succeeds.
 */
START_TEST(test_info_arch)
{
	static const struct {
		const char *guest, *cli, *line, *warning;
	} cases[] = {
		{ "x86_64", "x86_64", "\narch: x86_64\n", NULL },
		{ "aarch64", "aarch64", "\narch: aarch64\n", NULL },
		{ "aarch64", "arm64", "\narch: aarch64\n", NULL },
		{ "aarch64", "x86_64", "\narch: aarch64\n",
		  "upcall: info: warning: the guest is aarch64 but --arch is x86_64: use --arch aarch64\n" },
		{ "x86_64", "aarch64", "\narch: x86_64\n",
		  "upcall: info: warning: the guest is x86_64 but --arch is aarch64: use --arch x86_64\n" },
		/* A value of a later guest: nothing to suggest. */
		{ "9", "x86_64", "\narch: unknown\n", NULL },
		{ "unknown", "aarch64", "\narch: unknown\n", NULL },
	};
	struct result r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		GUEST("--arch", cases[i].guest);
		run_cli(&r, ARGS("--socket", sock_path, "--arch", cases[i].cli,
				 "info"));
		expect(&r, 0);
		ck_assert_msg(strstr(r.out, cases[i].line), "%s: %s",
			      cases[i].guest, r.out);
		ck_assert_str_eq(r.err, cases[i].warning ? cases[i].warning : "");
		guest_finish(1);
	}

	/* A guest of info version 1.1 does not say: no warning either. */
	GUEST("--info-version", "0x0101", "--arch", "0");
	run_cli(&r, ARGS("--socket", sock_path, "--arch", "aarch64", "info"));
	expect(&r, 0);
	ck_assert_msg(!strncmp(r.out, "version: 1.1\n", 13), "%s", r.out);
	ck_assert_ptr_nonnull(strstr(r.out, "\ncpu mode: hotadd\narch: unknown\n"));
	ck_assert_str_eq(r.err, "");
	guest_finish(1);
}
END_TEST

/* A Dragonball guest answers GET_INFO with -1: "not supported", no error. */
START_TEST(test_info_unsupported)
{
	struct result r;

	GUEST("--no-info");
	run_cli(&r, ARGS("--socket", sock_path, "info"));
	expect_done(&r, "info: not supported by this guest (no GET_INFO; a Dragonball guest?)\n");
	guest_finish(1);
}
END_TEST

START_TEST(test_refused_cpu)
{
	struct result r;

	GUEST("--result", "-22", "--index", "1");
	run_cli(&r, ARGS("--socket", sock_path, "cpu-add", "7", "9", "4"));
	expect_err(&r, 1, "upcall: cpu-add: guest refused: EINVAL: Invalid argument");
	/* Where the guest stopped, when it says so. */
	ck_assert_ptr_nonnull(strstr(r.err, "index 1, APIC id 9"));
	guest_finish(1);
}
END_TEST

START_TEST(test_refused_pci)
{
	struct result r;

	GUEST("--result", "-19");
	run_cli(&r, ARGS("--socket", sock_path, "pci-del", "0", "8"));
	expect_err(&r, 1, "upcall: pci-del: guest refused: ENODEV: No such device");
	guest_finish(1);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Usage errors                                                        */
/* ------------------------------------------------------------------ */

#define NOSOCK "/nonexistent/upcall.sock"

/* Each must be refused before any connection is tried. */
static const char *const *const usage_cases[] = {
	ARGS("--socket", NOSOCK, "frobnicate"),
	ARGS("--socket", NOSOCK, "cpu-add", "12x"),
	ARGS("--socket", NOSOCK, "cpu-add", "256"),
	ARGS("--socket", NOSOCK, "cpu-add", "-1"),
	ARGS("--socket", NOSOCK, "cpu-add", " 1"),
	ARGS("--socket", NOSOCK, "cpu-add", "0x"),
	ARGS("--socket", NOSOCK, "cpu-add", "0x0x1"),
	ARGS("--socket", NOSOCK, "cpu-add", ""),
	ARGS("--socket", NOSOCK, "cpu-add"),
	ARGS("--socket", NOSOCK, "mmio-add", "0x1000", "4K"),
	ARGS("--socket", NOSOCK, "mmio-add", "0", "0", "5"),
	ARGS("--socket", NOSOCK, "mmio-add", "0", "4K", "0x100000000"),
	ARGS("--socket", NOSOCK, "mmio-add", "0xfffffffffffff000", "8K", "5"),
	ARGS("--socket", NOSOCK, "pci-add", "0"),
	ARGS("--socket", NOSOCK, "info", "1"),
	ARGS("--socket", NOSOCK, "info", "--movable"),
	ARGS("--socket", NOSOCK, "pci-add", "0", "8", "9"),
	ARGS("--socket", NOSOCK, "pci-add", "256", "0"),
	ARGS("--socket", NOSOCK, "pci-add", "0", "20.0"),
	ARGS("--socket", NOSOCK, "pci-add", "0", "1f.8"),
	ARGS("--socket", NOSOCK, "pci-add", "0", "1f."),
	ARGS("--socket", NOSOCK, "--vsock", "3", "pci-add", "0", "8"),
	ARGS("--fd", "3", "--socket", NOSOCK, "pci-add", "0", "8"),
	ARGS("--socket", NOSOCK, "--socket", NOSOCK, "pci-add", "0", "8"),
	ARGS("--socket", NOSOCK, "--arch", "sparc", "cpu-add", "1"),
	ARGS("--socket", NOSOCK, "--arch", "aarch64", "cpu-add", "0"),
	ARGS("--socket", NOSOCK, "--arch", "aarch64", "cpu-add", "1", "2"),
	ARGS("--socket", NOSOCK, "mem-add", "0", "99999999999T"),
	ARGS("--socket", NOSOCK, "mem-add", "0", "16Q"),
	ARGS("--socket", NOSOCK, "mem-add", "0", "1G", "--node"),
	ARGS("--socket", NOSOCK, "mem-add", "0", "1G", "--node", "4294967296"),
	ARGS("--socket", NOSOCK, "mem-add", "0", "1G", "--bogus"),
	ARGS("--socket", NOSOCK, "mem-add", "0"),
	ARGS("--socket", NOSOCK, "mem-del", "0", "128M", "--movable"),
	ARGS("--socket", NOSOCK, "mem-del", "0", "128M", "--node", "1"),
	ARGS("--socket", NOSOCK, "--timeout", "0", "pci-add", "0", "8"),
	ARGS("--socket", NOSOCK, "--timeout", "-5", "pci-add", "0", "8"),
	ARGS("--socket", NOSOCK, "--timeout", "1s", "pci-add", "0", "8"),
	ARGS("--socket", NOSOCK, "--port", "0", "pci-add", "0", "8"),
	ARGS("--socket", NOSOCK, "--apic-version", "256", "cpu-add", "1"),
	ARGS("--socket", NOSOCK, "--privileged-port", "pci-add", "0", "8"),
	ARGS("--fd", "3", "--privileged-port", "pci-add", "0", "8"),
	ARGS("--vsock", "3", "--privileged-port=1", "pci-add", "0", "8"),
	ARGS("--socket", NOSOCK, "pci-add", "0", "8", "-v"),
	ARGS("--socket", NOSOCK, "pci-add", "0", "8", "--json"),
	ARGS("--socket", NOSOCK, "pci-add", "-1", "8"),
	ARGS("--socket", NOSOCK, "pci-add", "--", "0"),
	ARGS("--socket", NOSOCK, "mem-add", "0", "1G", "--movable=1"),
	ARGS("--socket", NOSOCK, "mem-add", "0", "1G", "--node=x"),
	ARGS("--socket", NOSOCK, "--json=1", "info"),
	ARGS("--socket", NOSOCK, "batch"),
	ARGS("--socket", NOSOCK, "batch", ""),
	ARGS("--socket", NOSOCK, "batch", "a", "b"),
	ARGS("--socket", NOSOCK, "batch", "--keep", "--bogus", "a"),
	ARGS("--socket", NOSOCK, "info", "--keep-going"),
	ARGS("--vsock", "x", "pci-add", "0", "8"),
	ARGS("--vsock", "3:", "pci-add", "0", "8"),
	ARGS("--vsock", "3:7", "--port", "8", "pci-add", "0", "8"),
	ARGS("--fd", "-1", "pci-add", "0", "8"),
	ARGS("--socket", "", "pci-add", "0", "8"),
	ARGS("pci-add", "0", "8"),
	ARGS("--socket"),
	ARGS("--bogus"),
	ARGS("-x"),
	ARGS("--socket", NOSOCK),
	ARGS("--", "pci-add", "0", "8"),
	ARGS("-"),
	ARGS(""),
};

START_TEST(test_usage)
{
	struct result r;

	run_cli(&r, usage_cases[_i]);
	expect_usage(&r);
	ck_assert_double_lt(r.secs, 2.0);
}
END_TEST

START_TEST(test_usage_no_args)
{
	struct result r;

	run_cli(&r, (const char *const[]){ NULL });
	expect_usage(&r);
}
END_TEST

START_TEST(test_usage_too_many_ids)
{
	const char *argv[262] = { "--socket", sock_path, "--timeout", "200",
				  "cpu-add" };
	char ids[256][4];
	struct result r;
	unsigned int i;

	for (i = 0; i < 256; i++) {
		snprintf(ids[i], sizeof(ids[i]), "%u", i & 0xffu);
		argv[5 + i] = ids[i];
	}
	argv[5 + 256] = NULL;
	run_cli(&r, argv);
	expect_usage(&r);

	/* 255 is the most one request carries: accepted, then no guest. */
	argv[5 + 255] = NULL;
	run_cli(&r, argv);
	expect_err(&r, 3, "upcall: cpu-add: ETIMEDOUT");
}
END_TEST

/* ------------------------------------------------------------------ */
/* --json: each object parsed and held to upcall(1)'s schema           */
/* ------------------------------------------------------------------ */

/*
 * A strict little JSON reader: every value of one object, by path
 * ("op", "args.apic_ids", "info.ops[1]"), as its raw text.
 */
#define JV_MAX 64

struct jdoc {
	int n;
	char path[JV_MAX][48];
	char raw[JV_MAX][512];
};

struct jp {
	const char *p;
	struct jdoc *d;
};

static void jws(struct jp *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')
		j->p++;
}

static bool jvalue(struct jp *j, const char *path);

static bool jstring(struct jp *j)
{
	if (*j->p++ != '"')
		return false;
	while (*j->p != '"') {
		unsigned char ch = (unsigned char)*j->p;

		if (ch < 0x20)
			return false;
		if (ch == '\\') {
			j->p++;
			if (*j->p == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!isxdigit((unsigned char)j->p[i]))
						return false;
				j->p += 4;
			} else if (!strchr("\"\\/bfnrt", *j->p) || !*j->p) {
				return false;
			}
		}
		j->p++;
	}
	j->p++;
	return true;
}

static bool jnumber(struct jp *j)
{
	const char *s = j->p;

	if (*j->p == '-')
		j->p++;
	if (*j->p == '0')
		j->p++;
	else if (isdigit((unsigned char)*j->p))
		while (isdigit((unsigned char)*j->p))
			j->p++;
	else
		return false;
	if (*j->p == '.' || *j->p == 'e' || *j->p == 'E')
		return false;	/* the schema has integers only */
	return j->p > s;
}

static bool jcontainer(struct jp *j, const char *path, char open, char close)
{
	char sub[48];
	int i = 0;

	j->p++;
	jws(j);
	if (*j->p == close) {
		j->p++;
		return true;
	}
	for (;;) {
		jws(j);
		if (open == '{') {
			const char *k = j->p + 1;

			if (!jstring(j))
				return false;
			snprintf(sub, sizeof(sub), "%s%s%.*s", path,
				 *path ? "." : "", (int)(j->p - 1 - k), k);
			/* No key twice. */
			for (int m = 0; m < j->d->n; m++)
				if (!strcmp(j->d->path[m], sub))
					return false;
			jws(j);
			if (*j->p++ != ':')
				return false;
		} else {
			snprintf(sub, sizeof(sub), "%s[%d]", path, i++);
		}
		if (!jvalue(j, sub))
			return false;
		jws(j);
		if (*j->p == close) {
			j->p++;
			return true;
		}
		if (*j->p++ != ',')
			return false;
	}
}

static bool jvalue(struct jp *j, const char *path)
{
	const char *start;
	int slot;
	bool ok;

	jws(j);
	start = j->p;
	if (j->d->n == JV_MAX)
		return false;
	slot = j->d->n++;
	snprintf(j->d->path[slot], sizeof(j->d->path[slot]), "%s", path);
	if (*j->p == '{')
		ok = jcontainer(j, path, '{', '}');
	else if (*j->p == '[')
		ok = jcontainer(j, path, '[', ']');
	else if (*j->p == '"')
		ok = jstring(j);
	else if (!strncmp(j->p, "true", 4) || !strncmp(j->p, "null", 4))
		ok = (j->p += 4, true);
	else if (!strncmp(j->p, "false", 5))
		ok = (j->p += 5, true);
	else
		ok = jnumber(j);
	snprintf(j->d->raw[slot], sizeof(j->d->raw[slot]), "%.*s",
		 (int)(j->p - start), start);
	return ok;
}

/* One line of stdout, @line 0-based, as a JSON object; fails the test if not. */
static void jparse(struct jdoc *d, const char *out, int line)
{
	const char *s = out, *nl;
	char buf[4096];
	struct jp j = { .d = d };

	while (line-- > 0) {
		s = strchr(s, '\n');
		ck_assert_msg(s, "no JSON line %d in: %s", line, out);
		s++;
	}
	nl = strchr(s, '\n');
	ck_assert_msg(nl, "JSON not ended by a newline: %s", out);
	snprintf(buf, sizeof(buf), "%.*s", (int)(nl - s), s);
	memset(d, 0, sizeof(*d));
	j.p = buf;
	ck_assert_msg(*buf == '{' && jvalue(&j, "") && !*j.p,
		      "not one JSON object: '%s' (at '%s')", buf, j.p);
}

static const char *jget(const struct jdoc *d, const char *path)
{
	for (int i = 0; i < d->n; i++)
		if (!strcmp(d->path[i], path))
			return d->raw[i];
	return NULL;
}

#define JEQ(d, path, want) do {						\
	const char *_v = jget(d, path);					\
	ck_assert_msg(_v && !strcmp(_v, want), "%s: %s, expected %s",	\
		      path, _v ? _v : "(absent)", want);		\
} while (0)

/* The object's own keys, in order, exactly @keys (space-separated). */
static void jkeys(const struct jdoc *d, const char *prefix, const char *keys)
{
	char got[512] = "";
	size_t plen = strlen(prefix);

	for (int i = 0; i < d->n; i++) {
		const char *p = d->path[i];

		if (plen && (strncmp(p, prefix, plen) || p[plen] != '.'))
			continue;
		p += plen ? plen + 1 : 0;
		if (!*p || strchr(p, '.') || strchr(p, '['))
			continue;
		if (*got)
			strcat(got, " ");
		strcat(got, p);
	}
	ck_assert_msg(!strcmp(got, keys), "%s keys '%s', expected '%s'",
		      *prefix ? prefix : "top-level", got, keys);
}

/* time_us: an integer, and no more than the whole run took. */
static void jtime(const struct jdoc *d, const struct result *r)
{
	const char *t = jget(d, "time_us");
	char *end;
	double us;

	ck_assert_ptr_nonnull(t);
	us = strtod(t, &end);
	ck_assert_msg(*end == '\0' && us >= 0 && us <= r->secs * 1e6,
		      "time_us %s (the run took %f s)", t, r->secs);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

START_TEST(test_json_cpu)
{
	struct jdoc d;
	struct result r;

	GUEST("--index", "2");
	run_cli(&r, ARGS("--socket", sock_path, "--json", "cpu-add", "1",
			 "0x2"));
	expect(&r, 0);
	ck_assert_str_eq(r.err, "");
	ck_assert_int_eq(count_lines(r.out), 1);
	jparse(&d, r.out, 0);
	jkeys(&d, "", "op args status result errno message index time_us");
	JEQ(&d, "op", "\"cpu-add\"");
	jkeys(&d, "args", "apic_ids");
	JEQ(&d, "args.apic_ids", "[1,2]");
	JEQ(&d, "status", "\"done\"");
	JEQ(&d, "result", "\"OK\"");
	JEQ(&d, "errno", "0");
	JEQ(&d, "index", "2");
	jtime(&d, &r);

	run_cli(&r, ARGS("--socket", sock_path, "--arch", "aarch64", "--json",
			 "cpu-del", "3"));
	expect(&r, 0);
	jparse(&d, r.out, 0);
	JEQ(&d, "op", "\"cpu-del\"");
	JEQ(&d, "args", "{\"count\":3}");
	JEQ(&d, "index", "2");
	guest_finish(2);
}
END_TEST

START_TEST(test_json_devices)
{
	struct jdoc d;
	struct result r;

	GUEST(NULL);
	run_cli(&r, ARGS("--socket", sock_path, "--json", "mmio-add",
			 "0xd0000000", "4K", "5"));
	expect(&r, 0);
	jparse(&d, r.out, 0);
	jkeys(&d, "", "op args status result errno message time_us");
	JEQ(&d, "op", "\"mmio-add\"");
	JEQ(&d, "args", "{\"base\":3489660928,\"size\":4096,\"irq\":5}");

	run_cli(&r, ARGS("--socket", sock_path, "--json", "mem-add", "4G",
			 "128M", "--node", "1", "--movable"));
	expect(&r, 0);
	jparse(&d, r.out, 0);
	JEQ(&d, "op", "\"mem-add\"");
	JEQ(&d, "args", "{\"addr\":4294967296,\"size\":134217728,\"node\":1,\"movable\":true}");

	run_cli(&r, ARGS("--socket", sock_path, "--json", "mem-del",
			 "0xffffffffffffffff", "1"));
	expect(&r, 0);
	jparse(&d, r.out, 0);
	/* Exact 64-bit integers, never rounded through a double. */
	JEQ(&d, "args", "{\"addr\":18446744073709551615,\"size\":1}");

	run_cli(&r, ARGS("--socket", sock_path, "--json", "pci-del", "0",
			 "1f.7"));
	expect(&r, 0);
	jparse(&d, r.out, 0);
	JEQ(&d, "op", "\"pci-del\"");
	JEQ(&d, "args", "{\"bus\":0,\"devfn\":255}");
	JEQ(&d, "status", "\"done\"");
	guest_finish(4);
}
END_TEST

START_TEST(test_json_info)
{
	struct jdoc d;
	struct result r;

	GUEST(NULL);
	run_cli(&r, ARGS("--socket", sock_path, "--json", "info"));
	expect(&r, 0);
	ck_assert_str_eq(r.err, "");
	jparse(&d, r.out, 0);
	jkeys(&d, "", "op args status result errno message info time_us");
	JEQ(&d, "args", "{}");
	jkeys(&d, "info", "supported version ops cpus_possible cpus_present "
			  "cpus_online cpu_mode arch mem_block_size mem_policy");
	JEQ(&d, "info.supported", "true");
	JEQ(&d, "info.version", "\"1.2\"");
	JEQ(&d, "info.ops", "[\"cpu-add\",\"cpu-del\",\"mem-add\",\"mem-del\","
			    "\"mmio-add\",\"mmio-del\",\"pci-add\",\"pci-del\"]");
	JEQ(&d, "info.cpus_possible", "8");
	JEQ(&d, "info.cpus_present", "1");
	JEQ(&d, "info.cpus_online", "1");
	JEQ(&d, "info.cpu_mode", "\"hotadd\"");
	JEQ(&d, "info.arch", "\"x86_64\"");
	JEQ(&d, "info.mem_block_size", "134217728");
	JEQ(&d, "info.mem_policy", "\"online_movable\"");
	guest_finish(1);

	/* A Dragonball guest: no error, and it says so. */
	GUEST("--no-info");
	run_cli(&r, ARGS("--socket", sock_path, "--json", "info"));
	expect(&r, 0);
	jparse(&d, r.out, 0);
	JEQ(&d, "status", "\"done\"");
	JEQ(&d, "result", "\"EOPNOTSUPP\"");
	JEQ(&d, "info", "{\"supported\":false}");
	guest_finish(1);
}
END_TEST

START_TEST(test_json_refused)
{
	struct jdoc d;
	struct result r;

	GUEST("--result", "-22", "--index", "1");
	run_cli(&r, ARGS("--socket", sock_path, "--json", "cpu-add", "7",
			 "9"));
	expect(&r, 1);
	/* Standard error still tells a human. */
	ck_assert_ptr_nonnull(strstr(r.err, "guest refused: EINVAL"));
	jparse(&d, r.out, 0);
	JEQ(&d, "status", "\"refused\"");
	JEQ(&d, "result", "\"EINVAL\"");
	JEQ(&d, "errno", "-22");
	JEQ(&d, "message", "\"Invalid argument\"");
	JEQ(&d, "index", "1");
	guest_finish(1);
}
END_TEST

START_TEST(test_json_transport)
{
	struct jdoc d;
	struct result r;

	run_cli(&r, ARGS("--socket", sock_path, "--timeout", "200", "--json",
			 "pci-add", "0", "8"));
	expect(&r, 3);
	ck_assert_ptr_nonnull(strstr(r.err, "ETIMEDOUT"));
	jparse(&d, r.out, 0);
	JEQ(&d, "status", "\"failed\"");
	JEQ(&d, "result", "\"ETIMEDOUT\"");
	JEQ(&d, "errno", "-110");
}
END_TEST

/* A usage error is text on stderr and nothing on stdout, --json or not. */
START_TEST(test_json_usage)
{
	struct result r;

	run_cli(&r, ARGS("--socket", NOSOCK, "--json", "pci-add", "0"));
	expect_usage(&r);
}
END_TEST

/* ------------------------------------------------------------------ */
/* batch                                                               */
/* ------------------------------------------------------------------ */

static const char *write_batch(const char *text)
{
	static char path[200];
	FILE *f;

	snprintf(path, sizeof(path), "%s.batch", sock_path);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* The guest's report: @conns connections and @reqs requests. */
static void guest_finish_conns(int requests, unsigned int conns)
{
	char buf[4096], want[64];
	ssize_t n;
	int fd;

	guest_finish(requests);
	fd = open(guest_log, O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	snprintf(want, sizeof(want), "fake-guest: %u connections, ", conns);
	ck_assert_msg(strstr(buf, want), "not '%s': %s", want, buf);
}

static const char batch_ok[] =
	"# hot-plug a disk and two vCPUs\n"
	"\n"
	"pci-add 0 1f.7\n"
	"   cpu-add 1 2   # two at once\n"
	"mem-add 4G 128M --movable\n"
	"\tmmio-add 0xd0000000 4K 5\n";

START_TEST(test_batch)
{
	struct result r;
	const char *f;

	GUEST(NULL);
	f = write_batch(batch_ok);
	run_cli(&r, ARGS("--socket", sock_path, "batch", f));
	expect(&r, 0);
	ck_assert_str_eq(r.err, "");
	{
		char want[1024];

		snprintf(want, sizeof(want),
			 "%s:3: pci-add: done\n"
			 "%s:4: cpu-add: done (index 2)\n"
			 "%s:5: mem-add: done\n"
			 "%s:6: mmio-add: done\n", f, f, f, f);
		ck_assert_str_eq(r.out, want);
	}
	/* All four over one connection. */
	guest_finish_conns(4, 1);
}
END_TEST

START_TEST(test_batch_json_stdin)
{
	struct jdoc d;
	struct result r;
	struct cli c;
	int fds[2];
	int saved;

	GUEST(NULL);
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], batch_ok, strlen(batch_ok)),
			 (ssize_t)strlen(batch_ok));
	close(fds[1]);
	/* The CLI inherits its stdin from here: the pipe, for this run. */
	saved = dup(STDIN_FILENO);
	ck_assert_int_ge(saved, 0);
	ck_assert_int_ge(dup2(fds[0], STDIN_FILENO), 0);
	close(fds[0]);
	cli_spawn(&c, ARGS("--socket", sock_path, "--json", "batch", "-"), -1);
	dup2(saved, STDIN_FILENO);
	close(saved);
	cli_collect(&c, &r);
	expect(&r, 0);
	ck_assert_str_eq(r.err, "");
	ck_assert_int_eq(count_lines(r.out), 4);
	jparse(&d, r.out, 0);
	jkeys(&d, "", "line op args status result errno message time_us");
	JEQ(&d, "line", "3");
	JEQ(&d, "op", "\"pci-add\"");
	JEQ(&d, "args", "{\"bus\":0,\"devfn\":255}");
	jparse(&d, r.out, 1);
	JEQ(&d, "line", "4");
	JEQ(&d, "args.apic_ids", "[1,2]");
	JEQ(&d, "index", "2");
	jparse(&d, r.out, 2);
	JEQ(&d, "line", "5");
	JEQ(&d, "args.movable", "true");
	jparse(&d, r.out, 3);
	JEQ(&d, "line", "6");
	JEQ(&d, "op", "\"mmio-add\"");
	JEQ(&d, "status", "\"done\"");
	guest_finish_conns(4, 1);
}
END_TEST

/*
 * The guest refuses everything but GET_INFO, which it does not know (no
 * error): line 2 fails, line 3 is not sent; with --keep-going it is.
 */
static const char batch_fail[] = "info\npci-add 0 8\ninfo\n";

START_TEST(test_batch_stop)
{
	struct result r;
	const char *f;

	GUEST("--no-info", "--result", "-19");
	f = write_batch(batch_fail);
	run_cli(&r, ARGS("--socket", sock_path, "batch", f));
	expect(&r, 1);
	ck_assert_ptr_nonnull(strstr(r.out, ":1: info: not supported"));
	ck_assert_ptr_null(strstr(r.out, ":3:"));
	ck_assert_ptr_nonnull(strstr(r.err, ":2: pci-add: guest refused: ENODEV"));
	ck_assert_ptr_nonnull(strstr(r.err, "stopped at "));
	guest_finish_conns(2, 1);
}
END_TEST

START_TEST(test_batch_keep_going)
{
	struct jdoc d;
	struct result r;
	const char *f;

	GUEST("--no-info", "--result", "-19");
	f = write_batch(batch_fail);
	run_cli(&r, ARGS("--socket", sock_path, "--json", "batch",
			 "--keep-going", f));
	/* The first failure's status. */
	expect(&r, 1);
	ck_assert_ptr_null(strstr(r.err, "stopped at "));
	ck_assert_int_eq(count_lines(r.out), 3);
	jparse(&d, r.out, 0);
	JEQ(&d, "line", "1");
	JEQ(&d, "status", "\"done\"");
	jparse(&d, r.out, 1);
	JEQ(&d, "line", "2");
	JEQ(&d, "status", "\"refused\"");
	JEQ(&d, "result", "\"ENODEV\"");
	jparse(&d, r.out, 2);
	JEQ(&d, "line", "3");
	JEQ(&d, "op", "\"info\"");
	guest_finish_conns(3, 1);
}
END_TEST

/* Nothing is sent when any line is wrong; each wrong line is named. */
START_TEST(test_batch_malformed)
{
	static const struct {
		const char *text, *error;
	} cases[] = {
		{ "pci-add 0 8\npci-add 0x100 0\n", ":2: BUS '0x100' is out of range" },
		{ "pci-add 0 8\n\nfrobnicate\n", ":3: unknown command 'frobnicate'" },
		{ "# c\npci-add 0\n", ":2: pci-add: missing arguments" },
		{ "mem-add 0 1G --bogus\n", ":1: mem-add: unknown or ambiguous option '--bogus'" },
		{ "pci-add 0 8 -v\n", ":1: pci-add: option '-v' must come before the command" },
		{ "--json info\n", ":1: option '--json': upcall's own options go on its command line" },
		{ "batch x\n", ":1: batch: a batch file cannot run another" },
		{ "info\ncpu-add 1 1\n", ":2: cpu-add: APIC id 1 given twice" },
	};
	struct result r;
	size_t i;

	GUEST(NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *f = write_batch(cases[i].text);
		char want[512];

		run_cli(&r, ARGS("--socket", sock_path, "--json", "batch", f));
		expect(&r, 2);
		ck_assert_str_eq(r.out, "");
		snprintf(want, sizeof(want), "upcall: %s%s", f, cases[i].error);
		ck_assert_msg(strstr(r.err, want), "'%s' not in: %s", want,
			      r.err);
		ck_assert_ptr_nonnull(strstr(r.err, "nothing was sent"));
	}
	guest_finish_conns(0, 0);
}
END_TEST

START_TEST(test_batch_no_file)
{
	struct result r;
	char path[200];

	snprintf(path, sizeof(path), "%s.none", sock_path);
	run_cli(&r, ARGS("--socket", sock_path, "batch", path));
	expect(&r, 2);
	ck_assert_str_eq(r.out, "");
	ck_assert_ptr_nonnull(strstr(r.err, "cannot open"));
}
END_TEST

/* The session never comes up: the first line fails, the rest are not run. */
START_TEST(test_batch_no_guest)
{
	struct result r;
	const char *f;

	f = write_batch("pci-add 0 8\npci-del 0 8\n");
	run_cli(&r, ARGS("--socket", sock_path, "--timeout", "200", "batch",
			 f));
	expect(&r, 3);
	ck_assert_ptr_nonnull(strstr(r.err, ":1: pci-add: ETIMEDOUT"));
	ck_assert_ptr_nonnull(strstr(r.err, "stopped at "));
}
END_TEST

/* ------------------------------------------------------------------ */
/* Transport, protocol and timeout errors                              */
/* ------------------------------------------------------------------ */

START_TEST(test_no_socket)
{
	struct result r;

	run_cli(&r, ARGS("--socket", sock_path, "--timeout", "300",
			 "cpu-add", "1"));
	expect_err(&r, 3, "upcall: cpu-add: ETIMEDOUT");
	ck_assert_ptr_nonnull(strstr(r.err, "ENOENT"));
	ck_assert_double_lt(r.secs, 1.5);
}
END_TEST

START_TEST(test_bad_fd)
{
	struct result r;

	run_cli(&r, ARGS("--fd", "1000", "pci-add", "0", "8"));
	expect_err(&r, 3, "upcall: pci-add: EBADF");
}
END_TEST

START_TEST(test_silent)
{
	struct result r;

	GUEST("--behavior", "silent");
	run_cli(&r, ARGS("--socket", sock_path, "--timeout", "300",
			 "mmio-add", "0xd0000000", "4K", "5"));
	expect_err(&r, 3, "upcall: mmio-add: ETIMEDOUT: ");
	ck_assert_double_lt(r.secs, 1.2);
	ck_assert_double_ge(r.secs, 0.25);
	guest_finish(1);
}
END_TEST

/* A guest that breaks the protocol is not retried until the deadline. */
START_TEST(test_garbage)
{
	struct result r;

	GUEST("--behavior", "garbage");
	run_cli(&r, ARGS("--socket", sock_path, "pci-add", "0", "8"));
	expect_err(&r, 3, "upcall: pci-add: EPROTO: ");
	ck_assert_double_lt(r.secs, 2.0);
	guest_finish(-1);
}
END_TEST

START_TEST(test_refuse)
{
	struct result r;

	GUEST("--behavior", "refuse");
	run_cli(&r, ARGS("--socket", sock_path, "--timeout", "300",
			 "cpu-del", "1"));
	expect_err(&r, 3, "upcall: cpu-del: ETIMEDOUT: ");
	ck_assert_double_lt(r.secs, 1.2);
	guest_finish(0);
}
END_TEST

/* Every misbehaviour is exit 3 within the deadline, with an errno name. */
static const char *const bad_guests[] = {
	"silent", "garbage", "eof-mid-reply", "bad-magic", "wrong-type",
	"big-size", "refuse", "refuse-nolf", "bad-connect",
	"bad-connect-magic", "no-connect", "close-after-connect",
};

START_TEST(test_bad_guest)
{
	struct result r;

	GUEST("--behavior", bad_guests[_i]);
	run_cli(&r, ARGS("--socket", sock_path, "--timeout", "300",
			 "cpu-add", "1"));
	expect_err(&r, 3, "upcall: cpu-add: E");
	ck_assert_double_lt(r.secs, 1.2);
	guest_finish(-1);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *cli_suite(void)
{
	Suite *s = suite_create("cli");
	TCase *tc;

	tc = tcase_create("success");
	tcase_add_unchecked_fixture(tc, tcase_setup, tcase_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_cpu_add);
	tcase_add_test(tc, test_cpu_del);
	tcase_add_test(tc, test_cpu_add_arm64);
	tcase_add_test(tc, test_mmio);
	tcase_add_test(tc, test_mem);
	tcase_add_test(tc, test_pci);
	tcase_add_test(tc, test_verbose);
	tcase_add_test(tc, test_fd);
	tcase_add_test(tc, test_guest_late);
	tcase_add_test(tc, test_help);
	tcase_add_test(tc, test_info);
	tcase_add_test(tc, test_info_cpu_mode);
	tcase_add_test(tc, test_info_arch);
	tcase_add_test(tc, test_info_unsupported);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_add_unchecked_fixture(tc, tcase_setup, tcase_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_refused_cpu);
	tcase_add_test(tc, test_refused_pci);
	suite_add_tcase(s, tc);

	tc = tcase_create("usage");
	tcase_add_unchecked_fixture(tc, tcase_setup, tcase_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_loop_test(tc, test_usage, 0,
			    sizeof(usage_cases) / sizeof(usage_cases[0]));
	tcase_add_test(tc, test_usage_no_args);
	tcase_add_test(tc, test_usage_too_many_ids);
	suite_add_tcase(s, tc);

	tc = tcase_create("json");
	tcase_add_unchecked_fixture(tc, tcase_setup, tcase_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_json_cpu);
	tcase_add_test(tc, test_json_devices);
	tcase_add_test(tc, test_json_info);
	tcase_add_test(tc, test_json_refused);
	tcase_add_test(tc, test_json_transport);
	tcase_add_test(tc, test_json_usage);
	suite_add_tcase(s, tc);

	tc = tcase_create("batch");
	tcase_add_unchecked_fixture(tc, tcase_setup, tcase_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_batch);
	tcase_add_test(tc, test_batch_json_stdin);
	tcase_add_test(tc, test_batch_stop);
	tcase_add_test(tc, test_batch_keep_going);
	tcase_add_test(tc, test_batch_malformed);
	tcase_add_test(tc, test_batch_no_file);
	tcase_add_test(tc, test_batch_no_guest);
	suite_add_tcase(s, tc);

	tc = tcase_create("transport");
	tcase_add_unchecked_fixture(tc, tcase_setup, tcase_teardown);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 10);
	tcase_add_test(tc, test_no_socket);
	tcase_add_test(tc, test_bad_fd);
	tcase_add_test(tc, test_silent);
	tcase_add_test(tc, test_garbage);
	tcase_add_test(tc, test_refuse);
	tcase_add_loop_test(tc, test_bad_guest, 0,
			    sizeof(bad_guests) / sizeof(bad_guests[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	cli_path = getenv("UPCALL_CLI");
	guest_path = getenv("FAKE_GUEST");
	if (!cli_path || !*cli_path || !guest_path || !*guest_path) {
		fprintf(stderr, "UPCALL_CLI or FAKE_GUEST not set: skipped\n");
		return 77;
	}
	sr = srunner_create(cli_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
