// SPDX-License-Identifier: MIT
/*
 * The three ways to a guest's upcall port: a hybrid-vsock Unix socket, an
 * AF_VSOCK socket, or an fd handed in.  All I/O is non-blocking; a return of
 * -EAGAIN means "wait for epoll".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "libupcall-private.h"

static int connect_unix(upcall_session *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	/* Checked at open time, so it fits. */
	memcpy(sa.sun_path, s->path, strlen(s->path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS) {
		int r = -errno;

		close(fd);
		/* A full backlog is as good as "not listening" for a retry. */
		return r == -EAGAIN ? -ECONNREFUSED : r;
	}
	s->fd = fd;
	return 0;
}

/* Bind @fd to the highest free vsock port in 512..1023. */
static int bind_privileged_vsock(int fd)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = VMADDR_CID_ANY,
	};

	for (sa.svm_port = 1023; sa.svm_port >= 512; sa.svm_port--) {
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return 0;
		if (errno != EADDRINUSE)
			return -errno;
	}
	return -EADDRINUSE;
}

static int connect_vsock(upcall_session *s)
{
	struct sockaddr_vm sa = {
		.svm_family = AF_VSOCK,
		.svm_cid = s->cid,
		.svm_port = s->port,
	};
	int fd, r;

	fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (s->privileged_port) {
		r = bind_privileged_vsock(fd);
		if (r < 0) {
			close(fd);
			return r;
		}
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	s->fd = fd;
	return 0;
}

/* Start a connection; the session waits for EPOLLOUT to learn the outcome. */
int transport_connect(upcall_session *s)
{
	switch (s->kind) {
	case TRANSPORT_UNIX:
		return connect_unix(s);
	case TRANSPORT_VSOCK:
		return connect_vsock(s);
	default:
		return -ENOTCONN;	/* an fd handed in is not ours to redo */
	}
}

/* The non-blocking connect is done: 0, or why it failed. */
int transport_connect_finish(upcall_session *s)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return -errno;
	if (err == EINPROGRESS || err == EALREADY)
		return -EAGAIN;
	return -err;
}

int transport_flush(upcall_session *s)
{
	while (s->tx_off < s->tx_len) {
		ssize_t n = send(s->fd, s->tx + s->tx_off, s->tx_len - s->tx_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		s->tx_off += (size_t)n;
	}
	s->tx_off = s->tx_len = 0;
	return 0;
}

/*
 * Read the hybrid answer one byte at a time: the stream belongs to the guest
 * right after the '\n', so not one byte more may be taken.  The partial line
 * lives in s->rx between calls.
 */
int transport_read_line(upcall_session *s, char *line, size_t size)
{
	for (;;) {
		char c;
		ssize_t n = recv(s->fd, &c, 1, MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -EAGAIN;
			return -errno;
		}
		if (n == 0)
			return -ECONNREFUSED;	/* closed: no listener */
		if (s->rx_len >= size - 1 || c == '\0')
			return -EPROTO;
		s->rx[s->rx_len++] = (uint8_t)c;
		if (c == '\n') {
			memcpy(line, s->rx, s->rx_len);
			line[s->rx_len] = '\0';
			s->rx_len = 0;
			return 0;
		}
	}
}

/* >0 bytes read, -EAGAIN, -ECONNRESET on EOF, or another -errno. */
ssize_t transport_read(upcall_session *s, void *buf, size_t len)
{
	for (;;) {
		ssize_t n = recv(s->fd, buf, len, MSG_DONTWAIT);

		if (n > 0)
			return n;
		if (n == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return -EAGAIN;
		return -errno;
	}
}
