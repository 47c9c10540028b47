// SPDX-License-Identifier: MIT
/*
 * P3's guest agent: what Kata's agent does for the ACPI path, onlining
 * hot-added vCPUs and memory blocks, as a long-running process reached over
 * vsock (the test bed's relay forwards "CONNECT <port>" from the host's
 * hybrid socket to it, the same way as to the upcall module's port 219).
 *
 * It waits for the kernel's uevents (NETLINK_KOBJECT_UEVENT, as udev does)
 * rather than polling sysfs on a timer, so the ACPI path is measured at its
 * best: Kata's agent polls every 50 ms instead.  Built static on the host
 * and copied into the guest by bench/bench_vm.sh.
 *
 *   vm_agent PORT
 * Requests, one line each:
 *   cpu [K]         K times (1 if not given): wait (10 s at most) until a
 *                   present CPU is offline, online it: "ok CPU WAIT_US
 *                   WRITE_US", CPU the last one, the times summed
 *   mem FIRST N     wait until memory blocks FIRST..FIRST+N-1 exist and
 *                   online each (online_movable): "ok N WAIT_US WRITE_US"
 *   memwait FIRST N wait until those blocks are online (the guest's policy
 *                   or driver onlines them): "ok N WAIT_US 0"
 *   memgone FIRST N wait until none of those blocks is online (removed, or
 *                   offline): "ok N WAIT_US 0"
 *   ping            "pong"
 * WAIT_US: from the request to the moment the device was there; WRITE_US:
 * the sysfs writes that online it (the kernel's own online step).  Memory
 * waits give up after 120 s (gigabytes take seconds under TCG), CPU ones
 * after 10 s.  Errors: "err MESSAGE".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/vm_sockets.h>

static int uevent_fd = -1;

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

/* Wait for the next uevent (drained) or @ms. */
static void wait_event(int ms)
{
	struct pollfd p = { .fd = uevent_fd, .events = POLLIN };
	char buf[8192];

	if (poll(&p, 1, ms) > 0)
		while (recv(uevent_fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
}

/* The first present, offline CPU, or -1. */
static int offline_cpu(void)
{
	char path[64], buf[8];
	int cpu;

	for (cpu = 1; cpu < 256; cpu++) {
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
		if (read_file(path, buf, sizeof(buf)) == 0 && buf[0] == '0')
			return cpu;
	}
	return -1;
}

#define MEM_WAIT_US 120000000LL

static void do_cpu(FILE *out, long k)
{
	long long wait_us = 0, write_us = 0;
	char path[64];
	int cpu = -1;
	long i;

	for (i = 0; i < k; i++) {
		long long t0 = now_us(), t1;

		while ((cpu = offline_cpu()) < 0) {
			if (now_us() - t0 > 10000000) {
				fprintf(out, "err no offline CPU appeared (%ld of %ld onlined)\n",
					i, k);
				return;
			}
			/* Events wake us at once; the timeout guards a lost one. */
			wait_event(100);
		}
		t1 = now_us();
		snprintf(path, sizeof(path), "/sys/devices/system/cpu/cpu%d/online", cpu);
		if (write_file(path, "1") < 0) {
			fprintf(out, "err online cpu%d: %s\n", cpu, strerror(errno));
			return;
		}
		wait_us += t1 - t0;
		write_us += now_us() - t1;
	}
	fprintf(out, "ok %d %lld %lld\n", cpu, wait_us, write_us);
}

static int blocks_present(long first, long n)
{
	char path[96];
	long i;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%ld/state",
			 first + i);
		if (access(path, F_OK) < 0)
			return 0;
	}
	return 1;
}

static void do_mem(FILE *out, long first, long n)
{
	long long t0 = now_us(), t1, t2;
	char path[96], buf[32];
	long i;

	while (!blocks_present(first, n)) {
		if (now_us() - t0 > MEM_WAIT_US) {
			fprintf(out, "err memory blocks did not appear\n");
			return;
		}
		wait_event(100);
	}
	t1 = now_us();
	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%ld/state",
			 first + i);
		if (read_file(path, buf, sizeof(buf)) == 0 && !strncmp(buf, "online", 6))
			continue;	/* the guest's policy onlined it already */
		if (write_file(path, "online_movable") < 0) {
			int err = errno;

			/* The guest's policy may have onlined it meanwhile. */
			if (read_file(path, buf, sizeof(buf)) == 0 && !strncmp(buf, "online", 6))
				continue;
			fprintf(out, "err online memory%ld: %s\n", first + i, strerror(err));
			return;
		}
	}
	t2 = now_us();
	fprintf(out, "ok %ld %lld %lld\n", n, t1 - t0, t2 - t1);
}

/* How many of the blocks are online. */
static long blocks_online(long first, long n)
{
	char path[96], buf[32];
	long i, on = 0;

	for (i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%ld/state",
			 first + i);
		if (read_file(path, buf, sizeof(buf)) == 0 && !strncmp(buf, "online", 6))
			on++;
	}
	return on;
}

static void do_memwait(FILE *out, long first, long n)
{
	long long t0 = now_us();

	while (blocks_online(first, n) < n) {
		if (now_us() - t0 > MEM_WAIT_US) {
			fprintf(out, "err memory blocks did not come online\n");
			return;
		}
		/* The "online" uevent wakes us; the timeout guards a lost one. */
		wait_event(100);
	}
	fprintf(out, "ok %ld %lld 0\n", n, now_us() - t0);
}

static void do_memgone(FILE *out, long first, long n)
{
	long long t0 = now_us();

	while (blocks_online(first, n) > 0) {
		if (now_us() - t0 > MEM_WAIT_US) {
			fprintf(out, "err memory blocks are still online\n");
			return;
		}
		/* "offline" and "remove" uevents wake us. */
		wait_event(100);
	}
	fprintf(out, "ok %ld %lld 0\n", n, now_us() - t0);
}

static void serve(int fd)
{
	FILE *in = fdopen(fd, "r"), *out = fdopen(dup(fd), "w");
	char line[128];

	if (!in || !out)
		return;
	setvbuf(out, NULL, _IONBF, 0);
	while (fgets(line, sizeof(line), in)) {
		long first, n;

		wait_event(0);	/* forget old events */
		if (!strcmp(line, "cpu\n"))
			do_cpu(out, 1);
		else if (sscanf(line, "cpu %ld", &n) == 1 && n > 0 && n <= 64)
			do_cpu(out, n);
		else if (sscanf(line, "memgone %ld %ld", &first, &n) == 2 && n > 0)
			do_memgone(out, first, n);
		else if (sscanf(line, "memwait %ld %ld", &first, &n) == 2 && n > 0)
			do_memwait(out, first, n);
		else if (sscanf(line, "mem %ld %ld", &first, &n) == 2 && n > 0)
			do_mem(out, first, n);
		else if (!strcmp(line, "ping\n"))
			fprintf(out, "pong\n");
		else
			fprintf(out, "err unknown request\n");
	}
	fclose(in);
	fclose(out);
}

int main(int argc, char **argv)
{
	struct sockaddr_vm sa = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY };
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_groups = 1 };
	int lfd;

	if (argc != 2) {
		fprintf(stderr, "usage: %s PORT\n", argv[0]);
		return 2;
	}
	sa.svm_port = (unsigned int)atoi(argv[1]);
	uevent_fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
	if (uevent_fd < 0 || bind(uevent_fd, (struct sockaddr *)&nl, sizeof(nl)) < 0) {
		perror("uevent socket");
		return 1;
	}
	lfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 4) < 0) {
		perror("vsock listen");
		return 1;
	}
	for (;;) {
		int fd = accept(lfd, NULL, NULL);

		if (fd < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		serve(fd);
	}
}
