/* SPDX-License-Identifier: MIT */
/*
 * fuzz_stream only: force-included (-include) when libupcall's sources are
 * built into the harness, so that the calls the session and the transport
 * make on a session's socket go to fuzz_stream.c's in-memory stream
 * instead of the kernel.  The library's code is compiled unchanged; the
 * harness passes every other fd (the context's epoll, eventfd and timerfd)
 * through to the real call.  Never part of libupcall.so.
 */
#ifndef FUZZ_IO_H
#define FUZZ_IO_H

#include <fcntl.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <unistd.h>

int fuzz_io_socket(int domain, int type, int protocol);
int fuzz_io_connect(int fd, const struct sockaddr *addr, socklen_t len);
int fuzz_io_getsockopt(int fd, int level, int name, void *val, socklen_t *len);
int fuzz_io_fcntl(int fd, int cmd, ...);
ssize_t fuzz_io_send(int fd, const void *buf, size_t len, int flags);
ssize_t fuzz_io_recv(int fd, void *buf, size_t len, int flags);
int fuzz_io_close(int fd);

/* Defined by the harness, which implements them. */
#ifndef FUZZ_IO_IMPL
#define socket fuzz_io_socket
#define connect fuzz_io_connect
#define getsockopt fuzz_io_getsockopt
#define fcntl fuzz_io_fcntl
#define send fuzz_io_send
#define recv fuzz_io_recv
#define close fuzz_io_close
#endif

#endif /* FUZZ_IO_H */
