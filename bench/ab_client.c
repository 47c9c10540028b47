// SPDX-License-Identifier: MIT
/*
 * One side of bench/ab_rt.sh: P1's "lib" client (async request, the
 * context's fd in the caller's epoll, upcall_ctx_process() until 0) against
 * one build of libupcall whose symbols carry the prefix V_ (compiled twice,
 * -DV=a and -DV=b, so that two builds of the library live in one process).
 */
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>

#include <upcall/upcall.h>

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
#define U(f) CAT(V, CAT(_, f))

int U(upcall_ctx_new)(upcall_ctx **ret);
int U(upcall_session_new)(upcall_ctx *ctx, upcall_session **ret);
int U(upcall_session_open_unix)(upcall_session *s, const char *path);
int U(upcall_session_wait_ready)(upcall_session *s, uint64_t usec);
int U(upcall_ctx_get_fd)(upcall_ctx *ctx);
int U(upcall_ctx_process)(upcall_ctx *ctx);
int U(upcall_devmgr_cpu_add)(upcall_session *s, const uint8_t *ids, size_t n,
			      upcall_request_fn cb, void *userdata, upcall_request **ret);
int U(upcall_request_get_result)(upcall_request *req, int *result);
void CAT(V, _setup)(const char *path);
double CAT(V, _run)(unsigned int iters);

static upcall_ctx *ctx;
static upcall_session *sess;
static int ep;

static void cb(upcall_request *req, int error, void *userdata)
{
	int r = -1;

	if (error || U(upcall_request_get_result)(req, &r) || r)
		abort();
	*(bool *)userdata = true;
}

void CAT(V, _setup)(const char *path)
{
	struct epoll_event ev = { .events = EPOLLIN };

	if (U(upcall_ctx_new)(&ctx) || U(upcall_session_new)(ctx, &sess) ||
	    U(upcall_session_open_unix)(sess, path) ||
	    U(upcall_session_wait_ready)(sess, 5000000))
		abort();
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, U(upcall_ctx_get_fd)(ctx), &ev) < 0)
		abort();
}

double CAT(V, _run)(unsigned int iters)
{
	static const uint8_t ids[] = { 1 };
	struct timespec a, b;
	unsigned int i;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (i = 0; i < iters; i++) {
		bool done = false;

		if (U(upcall_devmgr_cpu_add)(sess, ids, 1, cb, &done, NULL))
			abort();
		while (!done) {
			struct epoll_event ev;

			epoll_wait(ep, &ev, 1, -1);
			while (U(upcall_ctx_process)(ctx) > 0)
				;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) /
	       1000.0 / iters;
}
