// SPDX-License-Identifier: MIT
/*
 * tb-host: the host-side helper of the VM test bed.
 *
 *   tb-host exec [-t SECS] TCP_PORT COMMAND
 *       Run COMMAND (one string, for /bin/sh -c) through the guest's execd
 *       reached at 127.0.0.1:TCP_PORT; print its stdout+stderr; exit with
 *       its status.  Exit 255 if the exec server cannot be reached or the
 *       reply breaks off, 124 on timeout.
 *
 *   tb-host probe [-t SECS] [-H MSECS] [-q] SOCKET [VSOCK_PORT]
 *       One hybrid-vsock attempt through the Unix socket SOCKET: write
 *       "CONNECT <port>\n" (219 by default), expect a line "OK ...", write
 *       the service byte 'd', expect the 1024-byte device-manager CONNECT
 *       message {0x444D0100, 0, 0, 0}.  -H keeps the session open that
 *       long before closing (to test concurrent sessions).  Exit 0 when
 *       all of it worked, 1 otherwise (with the reason on stderr).
 *
 *   tb-host qmp [-t SECS] QMP_SOCKET JSON...
 *       Connect to a QMP socket, negotiate capabilities, send each JSON
 *       command in turn and print its response line (events are skipped).
 *       Exit 0 if every command returned, 1 if one answered an error or
 *       the monitor could not be reached.  Talking QMP from a program of
 *       our own, rather than piping into socat, avoids the race where the
 *       monitor sees EOF before it has run the last command.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>

#include "tb-util.h"

#define PROG "tb-host"

static void on_alarm(int sig)
{
	static const char msg[] = PROG ": timed out\n";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0) {
		/* nothing left to do */
	}
	_exit(124);
}

static void arm_timeout(unsigned int secs)
{
	if (!secs)
		return;
	signal(SIGALRM, on_alarm);
	alarm(secs);
}

static int cmd_exec(int argc, char **argv)
{
	struct sockaddr_in addr = { .sin_family = AF_INET };
	unsigned char hdr[5], lenbuf[4];
	unsigned int timeout = 0;
	unsigned long port;
	const char *cmd;
	size_t len;
	int opt, fd;

	while ((opt = getopt(argc, argv, "+t:")) != -1) {
		if (opt != 't')
			goto usage;
		timeout = (unsigned int)strtoul(optarg, NULL, 10);
	}
	if (optind != argc - 2)
		goto usage;
	port = strtoul(argv[optind], NULL, 10);
	cmd = argv[optind + 1];
	len = strlen(cmd);
	if (!port || port > 65535 || len > TB_EXEC_MAX_CMD)
		goto usage;
	arm_timeout(timeout);

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		tb_log(PROG, "cannot reach the guest's exec server at 127.0.0.1:%lu: %s",
		       port, strerror(errno));
		return 255;
	}
	tb_put_le32(lenbuf, (uint32_t)len);
	if (tb_write_full(fd, lenbuf, 4) < 0 || tb_write_full(fd, cmd, len) < 0) {
		tb_log(PROG, "sending the command: %s", strerror(errno));
		return 255;
	}
	for (;;) {
		static char buf[65536];
		ssize_t r = tb_read_full(fd, hdr, sizeof(hdr));
		uint32_t flen;

		if (r != (ssize_t)sizeof(hdr))
			break;
		flen = tb_get_le32(hdr + 1);
		if (hdr[0] == TB_FRAME_EXIT && flen == 4) {
			if (tb_read_full(fd, lenbuf, 4) != 4)
				break;
			return (int)(tb_get_le32(lenbuf) & 0xff);
		}
		if (hdr[0] != TB_FRAME_OUTPUT)
			break;
		while (flen) {
			size_t n = flen < sizeof(buf) ? flen : sizeof(buf);

			if (tb_read_full(fd, buf, n) != (ssize_t)n)
				goto broken;
			if (tb_write_full(1, buf, n) < 0)
				return 255;
			flen -= (uint32_t)n;
		}
	}
broken:
	tb_log(PROG, "the guest's exec server closed without an exit status");
	return 255;
usage:
	fprintf(stderr, "usage: %s exec [-t SECS] TCP_PORT COMMAND\n", PROG);
	return 2;
}

/* strerror, but a receive timeout (SO_RCVTIMEO) reads as one */
static const char *errstr(int e)
{
	return e == EAGAIN || e == EWOULDBLOCK ? "timed out" : strerror(e);
}

static int probe_fail(int quiet, const char *what, const char *detail)
{
	if (!quiet)
		fprintf(stderr, "%s: probe: %s: %s\n", PROG, what, detail);
	return 1;
}

static int cmd_probe(int argc, char **argv)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	unsigned char msg[TB_DM_MSG_SIZE];
	unsigned int timeout = 10, hold_ms = 0, vport = 219;
	char line[128], req[32];
	struct timeval tv;
	size_t n = 0;
	int opt, fd, quiet = 0;
	ssize_t r;

	while ((opt = getopt(argc, argv, "+t:H:q")) != -1) {
		switch (opt) {
		case 't':
			timeout = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'H':
			hold_ms = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'q':
			quiet = 1;
			break;
		default:
			goto usage;
		}
	}
	if (optind != argc - 1 && optind != argc - 2)
		goto usage;
	if (strlen(argv[optind]) >= sizeof(addr.sun_path))
		goto usage;
	strcpy(addr.sun_path, argv[optind]);
	if (optind == argc - 2)
		vport = (unsigned int)strtoul(argv[optind + 1], NULL, 10);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		return probe_fail(quiet, "connect", strerror(errno));
	tv = (struct timeval){ .tv_sec = timeout };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));

	snprintf(req, sizeof(req), "CONNECT %u\n", vport);
	if (tb_write_full(fd, req, strlen(req)) < 0)
		return probe_fail(quiet, "write", strerror(errno));
	/* The reply line, one byte at a time: nothing after it is ours. */
	while (n < sizeof(line) - 1) {
		r = read(fd, line + n, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return probe_fail(quiet, "reading the reply", errstr(errno));
		if (r == 0)
			return probe_fail(quiet, "closed without OK", "nothing listening (yet?)");
		if (line[n++] == '\n')
			break;
	}
	line[n] = '\0';
	if (strncmp(line, "OK ", 3) != 0 || line[n - 1] != '\n')
		return probe_fail(quiet, "unexpected reply", line);
	line[n - 1] = '\0';

	if (tb_write_full(fd, "d", 1) < 0)
		return probe_fail(quiet, "write", strerror(errno));
	r = tb_read_full(fd, msg, sizeof(msg));
	if (r != (ssize_t)sizeof(msg))
		return probe_fail(quiet, "no 1024-byte CONNECT message",
				  r == 0 ? "EOF" : errstr(errno));
	if (tb_get_le32(msg) != TB_DM_MAGIC || tb_get_le32(msg + 4) ||
	    tb_get_le32(msg + 8) || tb_get_le32(msg + 12))
		return probe_fail(quiet, "CONNECT message", "bad header");
	if (!quiet)
		printf("%s; CONNECT message ok\n", line);
	fflush(stdout);
	if (hold_ms) {
		struct timespec ts = { hold_ms / 1000, (long)(hold_ms % 1000) * 1000000 };

		nanosleep(&ts, NULL);
	}
	close(fd);
	return 0;
usage:
	fprintf(stderr, "usage: %s probe [-t SECS] [-H MSECS] [-q] SOCKET [VSOCK_PORT]\n",
		PROG);
	return 2;
}

/* Read one line (without "\r\n") into buf; returns 0, or -1 on EOF/error. */
static int read_line(int fd, char *buf, size_t size)
{
	size_t n = 0;

	for (;;) {
		char c;
		ssize_t r = read(fd, &c, 1);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (c == '\n')
			break;
		if (n < size - 1)
			buf[n++] = c;
	}
	if (n && buf[n - 1] == '\r')
		n--;
	buf[n] = '\0';
	return 0;
}

/* The next line that is not an asynchronous event. */
static int read_response(int fd, char *buf, size_t size)
{
	do {
		if (read_line(fd, buf, size) < 0)
			return -1;
	} while (strstr(buf, "\"event\"") && !strstr(buf, "\"return\""));
	return 0;
}

static int cmd_qmp(int argc, char **argv)
{
	static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	static char line[1 << 20];
	unsigned int timeout = 10;
	int opt, fd, i, status = 0;

	while ((opt = getopt(argc, argv, "+t:")) != -1) {
		if (opt != 't')
			goto usage;
		timeout = (unsigned int)strtoul(optarg, NULL, 10);
	}
	if (optind > argc - 2 || strlen(argv[optind]) >= sizeof(addr.sun_path))
		goto usage;
	strcpy(addr.sun_path, argv[optind]);
	arm_timeout(timeout);

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		tb_log(PROG, "qmp: connect %s: %s", addr.sun_path, strerror(errno));
		return 1;
	}
	if (read_line(fd, line, sizeof(line)) < 0 || !strstr(line, "\"QMP\"")) {
		tb_log(PROG, "qmp: no greeting");
		return 1;
	}
	if (tb_write_full(fd, caps, sizeof(caps) - 1) < 0 ||
	    read_response(fd, line, sizeof(line)) < 0 ||
	    strncmp(line, "{\"return\"", 9) != 0) {
		tb_log(PROG, "qmp: capabilities negotiation failed");
		return 1;
	}
	for (i = optind + 1; i < argc; i++) {
		if (tb_write_full(fd, argv[i], strlen(argv[i])) < 0 ||
		    tb_write_full(fd, "\n", 1) < 0 ||
		    read_response(fd, line, sizeof(line)) < 0) {
			tb_log(PROG, "qmp: no response to %s", argv[i]);
			return 1;
		}
		printf("%s\n", line);
		if (strncmp(line, "{\"return\"", 9) != 0)
			status = 1;
	}
	close(fd);
	return status;
usage:
	fprintf(stderr, "usage: %s qmp [-t SECS] QMP_SOCKET JSON...\n", PROG);
	return 2;
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc >= 2 && !strcmp(argv[1], "exec"))
		return cmd_exec(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "probe"))
		return cmd_probe(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "qmp"))
		return cmd_qmp(argc - 1, argv + 1);
	fprintf(stderr, "usage: %s exec|probe|qmp ...\n", PROG);
	return 2;
}
