/* SPDX-License-Identifier: MIT */
/*
 * Small helpers shared by the test bed's programs (the in-guest relay,
 * exec server and fake server, and the host-side tb-host).  Header-only so
 * each program builds from one command line with no library.
 */
#ifndef TB_UTIL_H
#define TB_UTIL_H

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

/* The exec protocol (execd in the guest, `tb-host exec` on the host).
 * Request:  u32 LE length, then that many bytes of a /bin/sh command.
 * Response: frames of u8 type, u32 LE length, payload:
 *           'o'  a chunk of the command's stdout+stderr (any bytes),
 *           'x'  4 bytes: i32 LE exit status (128+N for signal N); last.
 */
#define TB_EXEC_MAX_CMD (1u << 20)
#define TB_FRAME_OUTPUT 'o'
#define TB_FRAME_EXIT 'x'

/* The device-manager CONNECT message (wire-protocol.md 3.1). */
#define TB_DM_MAGIC 0x444D0100u
#define TB_DM_MSG_SIZE 1024

static inline void tb_put_le32(unsigned char *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static inline uint32_t tb_get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Read exactly n bytes.  Returns n, 0 on EOF before the first byte,
 * -1 with errno set on error or on EOF in the middle (errno = EPIPE). */
static inline ssize_t tb_read_full(int fd, void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = read(fd, (char *)buf + done, n - done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			if (done == 0)
				return 0;
			errno = EPIPE;
			return -1;
		}
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static inline int tb_write_full(int fd, const void *buf, size_t n)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = write(fd, (const char *)buf + done, n - done);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		done += (size_t)r;
	}
	return 0;
}

static inline void tb_log(const char *prog, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* A TCP listener on every address at PORT, or -1 (said on stderr). */
static inline int tb_listen_tcp(const char *prog, unsigned long port)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	int one = 1;
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		tb_log(prog, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(fd, 64) < 0) {
		tb_log(prog, "tcp port %lu: %s", port, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Accept on LFD forever; SERVE handles each connection in a forked child.
 * TCP connections get TCP_NODELAY (on others the option just fails).
 */
static inline __attribute__((noreturn)) void
tb_serve_forked(const char *prog, int lfd,
		void (*serve)(int fd))
{
	int one = 1;

	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		pid_t pid;

		if (c < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				usleep(10000);
			continue;
		}
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		pid = fork();
		if (pid == 0) {
			close(lfd);
			serve(c);
			_exit(0);
		}
		if (pid < 0)
			tb_log(prog, "fork: %s", strerror(errno));
		close(c);
	}
}

#endif /* TB_UTIL_H */
