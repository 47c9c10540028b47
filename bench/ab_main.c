// SPDX-License-Identifier: MIT
/*
 * bench/ab_rt.sh's driver: P1's raw baseline and two builds of libupcall
 * (a and b) in one process, interleaved round by round against the same
 * in-process fake guest, so that a library change can be measured at the
 * few-per-cent level that separate processes on a shared machine blur.
 *
 *   ab_rt [ROUNDS [ITERS]]       (default 15 rounds x 20000 round trips)
 */
#define _GNU_SOURCE
#include <pthread.h>

#include "bench-common.h"

void a_setup(const char *path);
double a_run(unsigned int iters);
void b_setup(const char *path);
double b_run(unsigned int iters);

static int lfd;
static char path[108];

static double raw_run(int fd, unsigned int iters)
{
	uint8_t req[MSG], rep[MSG];
	uint64_t t0 = bench_now_ns();
	unsigned int i;

	make_cpu_request(req);
	for (i = 0; i < iters; i++)
		if (write_all(fd, req, MSG) < 0 || read_all(fd, rep, MSG) < 0)
			bench_die("raw", EPROTO);
	return (double)(bench_now_ns() - t0) / 1000.0 / iters;
}

int main(int argc, char **argv)
{
	unsigned int rounds = argc > 1 ? (unsigned int)atoi(argv[1]) : 15;
	unsigned int iters = argc > 2 ? (unsigned int)atoi(argv[2]) : 20000;
	static const char *const name[3] = { "raw", "a", "b" };
	double r[3][64], m0;
	unsigned int k;
	uint8_t msg[MSG];
	pthread_t t;
	int raw, j;
	char c;

	if (rounds < 1 || rounds > 64 || iters < 1)
		bench_die("ROUNDS 1..64, ITERS >= 1", EINVAL);
	bench_pin_client();
	lfd = listen_unix(path, sizeof(path), "ab");
	if (pthread_create(&t, NULL, bench_accept_thread,
			   (void *)(intptr_t)lfd))
		bench_die("pthread_create", errno);
	raw = connect_unix_blocking(path);
	write_all(raw, "CONNECT 219\n", 12);
	do {
		if (read(raw, &c, 1) != 1)
			bench_die("raw handshake", EPROTO);
	} while (c != '\n');
	c = UPCALL_SERVICE_DEVMGR;
	if (write_all(raw, &c, 1) < 0 || read_all(raw, msg, MSG) < 0)
		bench_die("raw handshake", EPROTO);
	a_setup(path);
	b_setup(path);
	a_run(iters / 10 + 1);
	b_run(iters / 10 + 1);
	raw_run(raw, iters / 10 + 1);

	printf("round        raw          a          b     a/raw   b/raw     b/a\n");
	for (k = 0; k < rounds; k++) {
		for (j = 0; j < 3; j++) {
			int w = (int)((k + (unsigned int)j) % 3);

			r[w][k] = w == 0 ? raw_run(raw, iters) : w == 1 ? a_run(iters) : b_run(iters);
		}
		printf("%5u %10.2f %10.2f %10.2f   %.3f   %.3f   %.3f\n", k + 1, r[0][k], r[1][k],
		       r[2][k], r[1][k] / r[0][k], r[2][k] / r[0][k], r[2][k] / r[1][k]);
	}
	m0 = median(r[0], (int)rounds);
	printf("median");
	for (j = 0; j < 3; j++)
		printf(" %10.2f", median(r[j], (int)rounds));
	printf("   %.3f   %.3f   %.3f\n", median(r[1], (int)rounds) / m0,
	       median(r[2], (int)rounds) / m0, median(r[2], (int)rounds) / median(r[1], (int)rounds));
	printf("(%s: libupcall build a, %s: build b; us per round trip; P1 target lib/raw <= 1.15)\n",
	       name[1], name[2]);
	unlink(path);
	return 0;
}
