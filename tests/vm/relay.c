// SPDX-License-Identifier: MIT
/*
 * relay: the guest half of the test bed's hybrid-vsock bridge.
 *
 * QEMU has no vsock device here (no vhost-vsock on the host), so the host
 * reaches the guest's AF_VSOCK port through user networking instead: host
 * Unix socket -> socat -> QEMU hostfwd -> this relay on TCP -> AF_VSOCK
 * loopback (CID 1) -> the guest's vsock listener.  The relay speaks the
 * host side of the hybrid-vsock handshake that Firecracker and Dragonball
 * offer: the client writes "CONNECT <port>\n"; on success the relay answers
 * "OK <local vsock port>\n" and then copies bytes both ways, passing on
 * half-closes; on failure it closes without answering.
 *
 * While the file /run/relay-privileged exists, the relay connects from a
 * privileged vsock port (1023 down to 512, the first free one), as a host
 * VMM with CAP_NET_BIND_SERVICE can: the guest module's secure_port test.
 *
 * Usage: relay [-c CID] TCP_PORT     (CID defaults to 1, VMADDR_CID_LOCAL)
 * One process per connection (fork), so connections never wait on another.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/vm_sockets.h>

#include "tb-util.h"

#define PROG "relay"
#define LINE_MAX_LEN 64
#define HANDSHAKE_TIMEOUT_MS 10000
#define BUF_SIZE 65536

static unsigned int target_cid = 1; /* VMADDR_CID_LOCAL */

/* Read the "CONNECT <port>\n" line one byte at a time, so that bytes the
 * client sends right after it (the service byte) stay in the socket for
 * the relay loop.  Returns the port, or -1. */
static long read_connect_line(int fd)
{
	char line[LINE_MAX_LEN + 1];
	size_t len = 0;
	char *end;
	unsigned long port;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;
		char c;

		if (poll(&pfd, 1, HANDSHAKE_TIMEOUT_MS) <= 0)
			return -1;
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		if (len == LINE_MAX_LEN)
			return -1;
		line[len++] = c;
	}
	if (len && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	if (strncmp(line, "CONNECT ", 8) != 0 || line[8] < '0' || line[8] > '9')
		return -1;
	errno = 0;
	port = strtoul(line + 8, &end, 10);
	if (errno || *end || port > 0xffffffffUL)
		return -1;
	return (long)port;
}

#define PRIVILEGED_FLAG "/run/relay-privileged"

/* Bind @fd to the highest free vsock port in 512..1023. */
static int bind_privileged(int fd)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY };

	for (a.svm_port = 1023; a.svm_port >= 512; a.svm_port--) {
		if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0)
			return 0;
		if (errno != EADDRINUSE)
			return -1;
	}
	return -1;
}

static int vsock_connect(unsigned int port, unsigned int *local_port)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = target_cid,
		.svm_port = port,
	};
	struct sockaddr_vm local;
	socklen_t alen = sizeof(local);
	struct timeval tv = { .tv_sec = 5 };
	int fd;

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* Best effort: an old kernel may lack the option. */
	setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW, &tv,
		   sizeof(tv));
	if ((access(PRIVILEGED_FLAG, F_OK) == 0 && bind_privileged(fd) < 0) ||
	    connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	*local_port = 0;
	if (getsockname(fd, (struct sockaddr *)&local, &alen) == 0)
		*local_port = local.svm_port;
	return fd;
}

struct pipe_dir {
	int from, to;
	char buf[BUF_SIZE];
	size_t len, off;
	int eof;      /* read side saw EOF */
	int shut;     /* shutdown(to, SHUT_WR) done */
};

/* Copy both ways until both directions have ended.  Non-blocking with a
 * buffer per direction, so a peer that stops reading only stalls its own
 * direction. */
static void relay_loop(int a, int b)
{
	static struct pipe_dir d[2];
	int i;

	d[0] = (struct pipe_dir){ .from = a, .to = b };
	d[1] = (struct pipe_dir){ .from = b, .to = a };
	fcntl(a, F_SETFL, fcntl(a, F_GETFL) | O_NONBLOCK);
	fcntl(b, F_SETFL, fcntl(b, F_GETFL) | O_NONBLOCK);

	while (!d[0].shut || !d[1].shut) {
		struct pollfd pfd[2] = { { .fd = a }, { .fd = b } };

		for (i = 0; i < 2; i++) {
			struct pollfd *in = d[i].from == a ? &pfd[0] : &pfd[1];
			struct pollfd *out = d[i].to == a ? &pfd[0] : &pfd[1];

			if (d[i].len)
				out->events |= POLLOUT;
			else if (!d[i].eof)
				in->events |= POLLIN;
		}
		/* An fd we wait on for nothing is left out: a hung-up socket
		 * would otherwise wake poll() at once, for ever. */
		for (i = 0; i < 2; i++)
			if (!pfd[i].events)
				pfd[i].fd = -1;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		if ((pfd[0].revents | pfd[1].revents) & POLLERR)
			return; /* reset: drop both */
		for (i = 0; i < 2; i++) {
			struct pipe_dir *p = &d[i];
			ssize_t r;

			if (!p->len && !p->eof) {
				r = read(p->from, p->buf, sizeof(p->buf));
				if (r > 0) {
					p->len = (size_t)r;
					p->off = 0;
				} else if (r == 0) {
					p->eof = 1;
				} else if (errno != EAGAIN && errno != EINTR) {
					return; /* reset: drop both */
				}
			}
			while (p->len) {
				r = write(p->to, p->buf + p->off, p->len);
				if (r < 0) {
					if (errno == EAGAIN || errno == EINTR)
						break;
					return;
				}
				p->off += (size_t)r;
				p->len -= (size_t)r;
			}
			if (p->eof && !p->len && !p->shut) {
				shutdown(p->to, SHUT_WR);
				p->shut = 1;
			}
		}
	}
}

static void serve(int tcp)
{
	unsigned int local_port;
	char ok[32];
	long port;
	int vs;

	port = read_connect_line(tcp);
	if (port < 0)
		return;
	vs = vsock_connect((unsigned int)port, &local_port);
	if (vs < 0) {
		tb_log(PROG, "vsock connect to %u:%ld: %s", target_cid, port,
		       strerror(errno));
		return;
	}
	snprintf(ok, sizeof(ok), "OK %u\n", local_port);
	if (tb_write_full(tcp, ok, strlen(ok)) < 0) {
		close(vs);
		return;
	}
	relay_loop(tcp, vs);
	close(vs);
}

int main(int argc, char **argv)
{
	int opt, lfd;
	unsigned long port;

	while ((opt = getopt(argc, argv, "c:")) != -1) {
		if (opt != 'c')
			goto usage;
		target_cid = (unsigned int)strtoul(optarg, NULL, 0);
	}
	if (optind != argc - 1)
		goto usage;
	port = strtoul(argv[optind], NULL, 10);
	if (!port || port > 65535)
		goto usage;

	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN); /* children reaped by the kernel */

	lfd = tb_listen_tcp(PROG, port);
	if (lfd < 0)
		return 1;
	tb_log(PROG, "tcp port %lu -> vsock cid %u", port, target_cid);
	tb_serve_forked(PROG, lfd, serve);

usage:
	fprintf(stderr, "usage: %s [-c CID] TCP_PORT\n", PROG);
	return 2;
}
