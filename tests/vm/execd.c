// SPDX-License-Identifier: MIT
/*
 * execd: the test bed's in-guest command server (the guest half of
 * tests/vm/guest-exec).  Listens on TCP; per connection (one forked
 * process each, so calls run concurrently) it reads one command, runs it
 * with /bin/sh -c (stdin /dev/null, stdout and stderr into one pipe, in a
 * session of its own), streams the output and ends with the exit status.
 * The protocol is in tb-util.h.
 *
 * The reply ends when the shell exits, even if a background process it
 * started still holds the output pipe (what is already in the pipe is
 * sent).  If the client goes away first, the command's session is killed.
 *
 * Usage: execd TCP_PORT
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "tb-util.h"

#define PROG "execd"

static int send_frame(int fd, char type, const void *data, uint32_t len)
{
	unsigned char hdr[5];

	hdr[0] = (unsigned char)type;
	tb_put_le32(hdr + 1, len);
	if (tb_write_full(fd, hdr, sizeof(hdr)) < 0)
		return -1;
	return tb_write_full(fd, data, len);
}

/* Send what the pipe holds; returns 0 when the pipe is still open,
 * 1 at EOF (or error), -1 if the client is gone. */
static int pump(int pipefd, int sock)
{
	char buf[16384];

	for (;;) {
		ssize_t r = read(pipefd, buf, sizeof(buf));

		if (r > 0) {
			if (send_frame(sock, TB_FRAME_OUTPUT, buf, (uint32_t)r) < 0)
				return -1;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == EAGAIN)
			return 0;
		return 1;
	}
}

static pid_t spawn(const char *cmd, int *out)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);

		setsid();
		signal(SIGPIPE, SIG_DFL);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(p[1], 1);
		dup2(p[1], 2);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	*out = p[0];
	return pid;
}

static void serve(int sock)
{
	unsigned char lenbuf[4], st[4];
	uint32_t len;
	char *cmd;
	int pipefd = -1, pidfd, status = 0, code;
	pid_t pid;

	if (tb_read_full(sock, lenbuf, 4) != 4)
		return;
	len = tb_get_le32(lenbuf);
	if (len > TB_EXEC_MAX_CMD)
		return;
	cmd = malloc(len + 1);
	if (!cmd || (len && tb_read_full(sock, cmd, len) != (ssize_t)len))
		return;
	cmd[len] = '\0';

	pid = spawn(cmd, &pipefd);
	if (pid < 0) {
		tb_log(PROG, "spawn: %s", strerror(errno));
		return;
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	for (;;) {
		struct pollfd pfd[3] = {
			{ .fd = pipefd, .events = POLLIN },
			{ .fd = pidfd, .events = POLLIN },
			{ .fd = sock, .events = POLLIN },
		};
		int r;

		/* Without pidfd (old kernel) fall back to polling waitpid. */
		r = poll(pfd, 3, pidfd < 0 ? 50 : -1);
		if (r < 0 && errno != EINTR)
			break;
		/* The client sends nothing after the command: data, EOF or
		 * an error here all mean it is gone. */
		if (pfd[2].revents) {
			kill(-pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return;
		}
		if (pipefd >= 0 && pfd[0].revents) {
			r = pump(pipefd, sock);
			if (r < 0) {
				kill(-pid, SIGKILL);
				waitpid(pid, NULL, 0);
				return;
			}
			if (r > 0) {
				close(pipefd);
				pipefd = -1;
			}
		}
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
	}
	if (pipefd >= 0 && pump(pipefd, sock) < 0)
		return;
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		code = 128 + WTERMSIG(status);
	else
		code = 255;
	tb_put_le32(st, (uint32_t)code);
	send_frame(sock, TB_FRAME_EXIT, st, 4);
}

static void serve_child(int sock)
{
	/* The shell must see SIGCHLD at its default, or its own wait would
	 * find no children. */
	signal(SIGCHLD, SIG_DFL);
	prctl(PR_SET_CHILD_SUBREAPER, 0);
	serve(sock);
}

int main(int argc, char **argv)
{
	unsigned long port;
	int lfd;

	if (argc != 2 || !(port = strtoul(argv[1], NULL, 10)) || port > 65535) {
		fprintf(stderr, "usage: %s TCP_PORT\n", PROG);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGCHLD, SIG_IGN);
	/* Commands that leave background processes behind: reap them here
	 * rather than leave zombies to a shell script at PID 1. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	lfd = tb_listen_tcp(PROG, port);
	if (lfd < 0)
		return 1;
	tb_log(PROG, "listening on tcp port %lu", port);
	tb_serve_forked(PROG, lfd, serve_child);
}
