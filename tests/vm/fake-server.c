// SPDX-License-Identifier: MIT
/*
 * fake-server: a user-space stand-in for the guest module, used by the
 * test bed only when guest/ has no module source (or with --fake-server),
 * so the bed can be tested on its own.  Listens on AF_VSOCK (any CID) on
 * port 219 and does the start of a device-manager session
 * (wire-protocol.md 2 and 3.1): waits up to 10 s for the service byte,
 * closes on anything but 'd', sends the 1024-byte CONNECT message; then
 * answers every well-formed request with result -EOPNOTSUPP (msg_size 0).
 *
 * Usage: fake-server [VSOCK_PORT]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/vm_sockets.h>

#include "tb-util.h"

#define PROG "fake-server"

static void put_header(unsigned char *m, uint32_t size, uint32_t type)
{
	memset(m, 0, TB_DM_MSG_SIZE);
	tb_put_le32(m, TB_DM_MAGIC);
	tb_put_le32(m + 4, size);
	tb_put_le32(m + 8, type);
	tb_put_le32(m + 12, 0);
}

static void serve(int fd)
{
	struct timeval tv = { .tv_sec = 10 };
	unsigned char msg[TB_DM_MSG_SIZE];
	char svc;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (tb_read_full(fd, &svc, 1) != 1 || svc != 'd')
		return;
	tv.tv_sec = 0;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	put_header(msg, 0, 0);
	if (tb_write_full(fd, msg, sizeof(msg)) < 0)
		return;
	while (tb_read_full(fd, msg, sizeof(msg)) == sizeof(msg)) {
		uint32_t type = tb_get_le32(msg + 8);

		if (tb_get_le32(msg) != TB_DM_MAGIC)
			return;
		put_header(msg, 0, type);
		tb_put_le32(msg + 16, (uint32_t)-EOPNOTSUPP);
		if (tb_write_full(fd, msg, sizeof(msg)) < 0)
			return;
	}
}

static void kmsg(const char *line)
{
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		tb_write_full(fd, line, strlen(line));
		close(fd);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_vm addr = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
		.svm_port = 219,
	};
	char line[96];
	int lfd;

	if (argc > 2) {
		fprintf(stderr, "usage: %s [VSOCK_PORT]\n", PROG);
		return 2;
	}
	if (argc == 2)
		addr.svm_port = (unsigned int)strtoul(argv[1], NULL, 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN);

	lfd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(lfd, 64) < 0) {
		tb_log(PROG, "vsock port %u: %s", addr.svm_port, strerror(errno));
		return 1;
	}
	snprintf(line, sizeof(line),
		 "fake-server: listening on vsock port %u (stand-in, no module)\n",
		 addr.svm_port);
	kmsg(line);

	tb_serve_forked(PROG, lfd, serve);
}
