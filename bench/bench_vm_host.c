// SPDX-License-Identifier: MIT
/*
 * P3, P5 and P6's host side: the timed steps of a hot-add, each measured here with
 * CLOCK_MONOTONIC around exactly the step (connections are set up first and
 * not timed: a VMM keeps its QMP monitor, its upcall session and its agent
 * channel open).  bench/bench_vm.sh drives it.
 *
 *   bench_vm_host upcall-cpu SOCK add|del APICID...
 *       libupcall ADD_CPU/DEL_CPU of up to 8 vCPUs in one request on the
 *       hybrid socket: "total_us=T result=R index=I"
 *   bench_vm_host upcall-mem SOCK ADDR SIZE [AGENTPORT FIRST N]
 *       libupcall ADD_MEM, then (if given) the agent onlines the blocks:
 *       "total_us=T add_us=A result=R [agent=...]"
 *   bench_vm_host upcall-mem-del SOCK ADDR SIZE
 *       libupcall DEL_MEM: "total_us=T result=R"
 *   bench_vm_host acpi-cpu QMP SOCK AGENTPORT ID COREID [ID COREID]...
 *       QMP device_add of each vCPU, then the agent onlines them (Kata's
 *       order: device_add, then the agent call):
 *       "total_us=T device_add_us=D agent=ok CPU WAIT_US WRITE_US"
 *   bench_vm_host acpi-mem QMP SOCK AGENTPORT ID ADDR SIZE FIRST N [wait]
 *       object-add memory-backend-ram (not timed), device_add pc-dimm, then
 *       the agent onlines the blocks (with "wait": waits until the guest's
 *       policy has onlined them): "total_us=T device_add_us=D agent=..."
 *   bench_vm_host acpi-mem-del QMP ID
 *       QMP device_del of pc-dimm ID until QEMU's DEVICE_DELETED (the guest
 *       offlined and ejected it), then object-del m-ID (not timed):
 *       "total_us=T"
 *   bench_vm_host vmem QMP SOCK AGENTPORT ID SIZE FIRST N
 *       qom-set of virtio-mem device ID's requested-size to SIZE, then the
 *       agent waits until memory blocks FIRST..FIRST+N-1 are online (SIZE
 *       above 0) or none of them is (SIZE 0): "total_us=T qom_us=Q agent=..."
 *   bench_vm_host agent-ping SOCK AGENTPORT [N]
 *       exit 0 once the agent answers; with N, the median of N ping
 *       round trips: "rtt_us=R"
 *   bench_vm_host upcall-rtt SOCK N
 *       the median of N GET_INFO round trips on one session: "rtt_us=R"
 *   bench_vm_host qmp QMP JSON [EVENT]
 *       one command; with EVENT, also wait (20 s) for that event:
 *       "total_us=T" and the reply line
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <upcall/upcall.h>
#include <upcall/wire.h>

/* Adding or removing gigabytes takes the guest seconds under TCG. */
#define REQ_TIMEOUT_US 180000000

static void die(const char *what, int err)
{
	fprintf(stderr, "bench_vm_host: %s: %s\n", what, strerror(err < 0 ? -err : err));
	exit(1);
}

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int unix_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(sa.sun_path))
		die(path, fd < 0 ? errno : ENAMETOOLONG);
	strcpy(sa.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		die(path, errno);
	return fd;
}

/* One line (without the newline), waiting at most @ms; -1 on EOF/timeout. */
static int read_line(int fd, char *buf, size_t size, int ms)
{
	long long end = now_us() + (long long)ms * 1000;
	size_t n = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = end - now_us();
		char c;

		if (left <= 0 || poll(&p, 1, (int)(left / 1000) + 1) <= 0)
			return -1;
		if (read(fd, &c, 1) != 1)
			return -1;
		if (c == '\n') {
			if (n && buf[n - 1] == '\r')
				n--;
			buf[n] = '\0';
			return 0;
		}
		if (n + 1 < size)
			buf[n++] = c;
	}
}

static void send_str(int fd, const char *s)
{
	if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		die("write", errno);
}

/* ---- QMP ---- */

static int qmp_open(const char *path)
{
	char line[4096];
	int fd = unix_connect(path);

	if (read_line(fd, line, sizeof(line), 5000) < 0)	/* greeting */
		die("QMP greeting", ETIMEDOUT);
	send_str(fd, "{\"execute\":\"qmp_capabilities\"}\n");
	do {
		if (read_line(fd, line, sizeof(line), 5000) < 0)
			die("QMP capabilities", ETIMEDOUT);
	} while (!strstr(line, "\"return\""));
	return fd;
}

/* Send @cmd, wait for its return (events skipped); exit on an error. */
static void qmp_cmd(int fd, const char *cmd, char *reply, size_t size)
{
	send_str(fd, cmd);
	send_str(fd, "\n");
	for (;;) {
		if (read_line(fd, reply, size, 20000) < 0)
			die("QMP reply", ETIMEDOUT);
		if (strstr(reply, "\"error\"")) {
			fprintf(stderr, "bench_vm_host: QMP: %s -> %s\n", cmd, reply);
			exit(1);
		}
		if (strstr(reply, "\"return\""))
			return;
	}
}

static void qmp_wait_event(int fd, const char *event, int ms)
{
	char line[4096], want[128];

	snprintf(want, sizeof(want), "\"event\": \"%s\"", event);
	for (;;) {
		if (read_line(fd, line, sizeof(line), ms) < 0)
			die(event, ETIMEDOUT);
		if (strstr(line, want))
			return;
	}
}

/* ---- the agent, through the bed's hybrid socket ---- */

static int agent_open(const char *sock, const char *port)
{
	char line[128];
	int fd = unix_connect(sock);

	snprintf(line, sizeof(line), "CONNECT %s\n", port);
	send_str(fd, line);
	if (read_line(fd, line, sizeof(line), 5000) < 0 || strncmp(line, "OK", 2))
		die("agent: no OK (is vm_agent running?)", ECONNREFUSED);
	send_str(fd, "ping\n");
	if (read_line(fd, line, sizeof(line), 5000) < 0 || strcmp(line, "pong"))
		die("agent: no pong", EPROTO);
	return fd;
}

static void agent_call(int fd, const char *req, char *reply, size_t size)
{
	send_str(fd, req);
	if (read_line(fd, reply, size, 130000) < 0)
		die("agent reply", ETIMEDOUT);
	if (strncmp(reply, "ok ", 3)) {
		fprintf(stderr, "bench_vm_host: agent: %s\n", reply);
		exit(1);
	}
}

/* ---- upcall ---- */

static upcall_session *upcall_open(const char *sock, upcall_ctx **ctx)
{
	upcall_session *s;
	int r;

	if ((r = upcall_ctx_new(ctx)) < 0 || (r = upcall_session_new(*ctx, &s)) < 0)
		die("libupcall", r);
	upcall_session_set_arch(s, UPCALL_ARCH_X86_64);
	upcall_session_set_reconnect(s, 0, 0, 0);
	if ((r = upcall_session_open_unix(s, sock)) < 0 ||
	    (r = upcall_session_wait_ready(s, 20000000)) < 0)
		die("upcall session", r);
	return s;
}

static int cmd_upcall_cpu(int argc, char **argv)
{
	uint8_t ids[8];
	size_t n = 0;
	upcall_ctx *ctx;
	upcall_session *s;
	int result = 1, r, i;
	uint32_t index = 0;
	long long t0, t1;

	for (i = 4; i < argc; i++)
		ids[n++] = (uint8_t)atoi(argv[i]);
	s = upcall_open(argv[2], &ctx);
	t0 = now_us();
	if (!strcmp(argv[3], "add"))
		r = upcall_devmgr_cpu_add_sync(s, ids, n, REQ_TIMEOUT_US, &result, &index);
	else
		r = upcall_devmgr_cpu_del_sync(s, ids, n, REQ_TIMEOUT_US, &result, &index);
	t1 = now_us();
	if (r < 0)
		die("upcall cpu request", r);
	printf("total_us=%lld result=%d index=%u\n", t1 - t0, result, index);
	upcall_session_unref(s);
	upcall_ctx_unref(ctx);
	return result ? 1 : 0;
}

static int cmd_upcall_mem(int argc, char **argv)
{
	upcall_ctx *ctx;
	upcall_session *s = upcall_open(argv[2], &ctx);
	uint64_t addr = strtoull(argv[3], NULL, 0), size = strtoull(argv[4], NULL, 0);
	char req[64], reply[256] = "";
	int afd = -1, result = 1, r;
	long long t0, t1;

	if (argc >= 8)
		afd = agent_open(argv[2], argv[5]);
	t0 = now_us();
	r = upcall_devmgr_mem_add_sync(s, addr, size, 0, UPCALL_MEM_F_MOVABLE, REQ_TIMEOUT_US,
				       &result);
	t1 = now_us();
	if (r < 0)
		die("upcall ADD_MEM", r);
	/*
	 * The module answers once the blocks are online, so the timed part
	 * ends here.  The agent, untimed, checks that they are ("memwait"
	 * never writes: memory the module left offline is an error).
	 */
	if (result == 0 && afd >= 0) {
		snprintf(req, sizeof(req), "memwait %s %s\n", argv[6], argv[7]);
		agent_call(afd, req, reply, sizeof(reply));
		if (strncmp(reply, "ok", 2))
			die("ADD_MEM answered but the memory is not online", EIO);
	}
	printf("total_us=%lld add_us=%lld result=%d agent=%s\n", t1 - t0, t1 - t0, result,
	       reply);
	upcall_session_unref(s);
	upcall_ctx_unref(ctx);
	return result ? 1 : 0;
}

static int cmd_upcall_mem_del(char **argv)
{
	upcall_ctx *ctx;
	upcall_session *s = upcall_open(argv[2], &ctx);
	int result = 1, r;
	long long t0 = now_us();

	r = upcall_devmgr_mem_del_sync(s, strtoull(argv[3], NULL, 0),
				       strtoull(argv[4], NULL, 0), REQ_TIMEOUT_US, &result);
	if (r < 0)
		die("upcall DEL_MEM", r);
	printf("total_us=%lld result=%d\n", now_us() - t0, result);
	upcall_session_unref(s);
	upcall_ctx_unref(ctx);
	return result ? 1 : 0;
}

static int cmd_acpi_cpu(int argc, char **argv)
{
	char cmd[512], reply[4096], ans[256], req[32];
	int q = qmp_open(argv[2]), a = agent_open(argv[3], argv[4]), i;
	long long t0, t1, t2;

	snprintf(req, sizeof(req), "cpu %d\n", (argc - 5) / 2);
	t0 = now_us();
	for (i = 5; i + 1 < argc; i += 2) {
		snprintf(cmd, sizeof(cmd),
			 "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"max-x86_64-cpu\","
			 "\"id\":\"%s\",\"socket-id\":0,\"core-id\":%s,\"thread-id\":0}}",
			 argv[i], argv[i + 1]);
		qmp_cmd(q, cmd, reply, sizeof(reply));
	}
	t1 = now_us();
	agent_call(a, req, ans, sizeof(ans));
	t2 = now_us();
	printf("total_us=%lld device_add_us=%lld agent=%s\n", t2 - t0, t1 - t0, ans);
	return 0;
}

/*
 * One timed step: the QMP command, then the agent's request; prints
 * "total_us=T WHAT=Q agent=...", Q the QMP command's part.
 */
static void qmp_then_agent(int q, int a, const char *cmd, const char *req, const char *what)
{
	char reply[4096], ans[256];
	long long t0, t1, t2;

	t0 = now_us();
	qmp_cmd(q, cmd, reply, sizeof(reply));
	t1 = now_us();
	agent_call(a, req, ans, sizeof(ans));
	t2 = now_us();
	printf("total_us=%lld %s=%lld agent=%s\n", t2 - t0, what, t1 - t0, ans);
}

static int cmd_acpi_mem(char **argv)
{
	char cmd[512], reply[4096], req[64];
	int q = qmp_open(argv[2]), a = agent_open(argv[3], argv[4]);

	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"object-add\",\"arguments\":{\"qom-type\":\"memory-backend-ram\","
		 "\"id\":\"m-%s\",\"size\":%s}}", argv[5], argv[7]);
	qmp_cmd(q, cmd, reply, sizeof(reply));
	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"device_add\",\"arguments\":{\"driver\":\"pc-dimm\","
		 "\"id\":\"%s\",\"memdev\":\"m-%s\",\"addr\":%s}}", argv[5], argv[5], argv[6]);
	snprintf(req, sizeof(req), "%s %s %s\n", argv[10] ? "memwait" : "mem", argv[8],
		 argv[9]);
	qmp_then_agent(q, a, cmd, req, "device_add_us");
	return 0;
}

static int cmd_acpi_mem_del(char **argv)
{
	char cmd[512], reply[4096];
	int q = qmp_open(argv[2]);
	long long t0, t1;

	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"%s\"}}", argv[3]);
	t0 = now_us();
	qmp_cmd(q, cmd, reply, sizeof(reply));
	qmp_wait_event(q, "DEVICE_DELETED", REQ_TIMEOUT_US / 1000);
	t1 = now_us();
	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"object-del\",\"arguments\":{\"id\":\"m-%s\"}}", argv[3]);
	qmp_cmd(q, cmd, reply, sizeof(reply));
	printf("total_us=%lld\n", t1 - t0);
	return 0;
}

static int cmd_vmem(char **argv)
{
	char cmd[512], req[64];
	int q = qmp_open(argv[2]), a = agent_open(argv[3], argv[4]);
	unsigned long long size = strtoull(argv[6], NULL, 0);

	snprintf(cmd, sizeof(cmd),
		 "{\"execute\":\"qom-set\",\"arguments\":{\"path\":\"%s\","
		 "\"property\":\"requested-size\",\"value\":%llu}}", argv[5], size);
	snprintf(req, sizeof(req), "%s %s %s\n", size ? "memwait" : "memgone", argv[7],
		 argv[8]);
	qmp_then_agent(q, a, cmd, req, "qom_us");
	return 0;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static long long median_ll(long long *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_ll);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int cmd_agent_rtt(char **argv)
{
	int fd = agent_open(argv[2], argv[3]), n = atoi(argv[4]), i;
	long long v[256];
	char line[64];

	if (n < 1 || n > 256)
		die("N: 1..256", EINVAL);
	for (i = 0; i < n; i++) {
		long long t0 = now_us();

		send_str(fd, "ping\n");
		if (read_line(fd, line, sizeof(line), 5000) < 0)
			die("agent ping", ETIMEDOUT);
		v[i] = now_us() - t0;
	}
	printf("rtt_us=%lld\n", median_ll(v, n));
	return 0;
}

static int cmd_upcall_rtt(char **argv)
{
	upcall_ctx *ctx;
	upcall_session *s = upcall_open(argv[2], &ctx);
	int n = atoi(argv[3]), i, r;
	long long v[256];
	upcall_info info;

	if (n < 1 || n > 256)
		die("N: 1..256", EINVAL);
	for (i = 0; i < n; i++) {
		long long t0 = now_us();

		r = upcall_devmgr_get_info_sync(s, 10000000, NULL, &info);
		if (r < 0)
			die("GET_INFO", r);
		v[i] = now_us() - t0;
	}
	printf("rtt_us=%lld\n", median_ll(v, n));
	upcall_session_unref(s);
	upcall_ctx_unref(ctx);
	return 0;
}

static int cmd_qmp(int argc, char **argv)
{
	char reply[4096];
	int q = qmp_open(argv[2]);
	long long t0 = now_us();

	qmp_cmd(q, argv[3], reply, sizeof(reply));
	if (argc > 4)
		qmp_wait_event(q, argv[4], 20000);
	printf("total_us=%lld %s\n", now_us() - t0, reply);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && argc <= 12 && !strcmp(argv[1], "upcall-cpu"))
		return cmd_upcall_cpu(argc, argv);
	if ((argc == 5 || argc == 8) && !strcmp(argv[1], "upcall-mem"))
		return cmd_upcall_mem(argc, argv);
	if (argc == 5 && !strcmp(argv[1], "upcall-mem-del"))
		return cmd_upcall_mem_del(argv);
	if (argc >= 7 && argc % 2 == 1 && !strcmp(argv[1], "acpi-cpu"))
		return cmd_acpi_cpu(argc, argv);
	if (argc == 4 && !strcmp(argv[1], "acpi-mem-del"))
		return cmd_acpi_mem_del(argv);
	if (argc == 9 && !strcmp(argv[1], "vmem"))
		return cmd_vmem(argv);
	if ((argc == 10 || argc == 11) && !strcmp(argv[1], "acpi-mem"))
		return cmd_acpi_mem(argv);
	if (argc == 5 && !strcmp(argv[1], "agent-ping"))
		return cmd_agent_rtt(argv);
	if (argc == 4 && !strcmp(argv[1], "upcall-rtt"))
		return cmd_upcall_rtt(argv);
	if (argc == 4 && !strcmp(argv[1], "agent-ping"))
		return agent_open(argv[2], argv[3]) >= 0 ? 0 : 1;
	if ((argc == 4 || argc == 5) && !strcmp(argv[1], "qmp"))
		return cmd_qmp(argc, argv);
	fprintf(stderr, "usage: see the comment at the top of bench/bench_vm_host.c\n");
	return 2;
}
