// SPDX-License-Identifier: MIT
/* The context: references, event-loop integration, thread, log, guards. */
#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "check_common.h"

START_TEST(test_new_ref_unref)
{
	upcall_ctx *ctx = NULL;

	ck_assert_int_eq(upcall_ctx_new(&ctx), 0);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_ptr_eq(upcall_ctx_ref(ctx), ctx);
	ck_assert_ptr_eq(upcall_ctx_ref(ctx), ctx);
	ck_assert_ptr_null(upcall_ctx_unref(ctx));
	ck_assert_ptr_null(upcall_ctx_unref(ctx));
	/* Still alive: one reference left. */
	ck_assert_int_ge(upcall_ctx_get_fd(ctx), 0);
	ck_assert_ptr_null(upcall_ctx_unref(ctx));
}
END_TEST

/* A session keeps its context alive after the caller's reference goes. */
START_TEST(test_session_holds_ctx)
{
	upcall_ctx *ctx = tc_ctx_new();
	upcall_session *s = NULL;

	ck_assert_int_eq(upcall_session_new(ctx, &s), 0);
	ck_assert_ptr_eq(upcall_session_get_ctx(s), ctx);
	ck_assert_ptr_null(upcall_ctx_unref(ctx));
	ck_assert_ptr_eq(upcall_session_get_ctx(s), ctx);
	ck_assert_int_ge(upcall_ctx_get_fd(ctx), 0);
	ck_assert_ptr_null(upcall_session_unref(s));
}
END_TEST

START_TEST(test_fd_is_epoll)
{
	upcall_ctx *ctx = tc_ctx_new();
	char path[64], target[64] = "";
	struct epoll_event ev;
	int fd = upcall_ctx_get_fd(ctx);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(upcall_ctx_get_fd(ctx), fd);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = '\0';
	ck_assert_str_eq(target, "anon_inode:[eventpoll]");
	/* Close-on-exec: a VMM forks. */
	ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
	/* Nothing pending: an epoll_wait on it times out at once. */
	ck_assert_int_eq(epoll_wait(fd, &ev, 1, 0), 0);
	ck_assert_int_eq(upcall_ctx_get_events(ctx), POLLIN);
	upcall_ctx_unref(ctx);
}
END_TEST

START_TEST(test_idle)
{
	upcall_ctx *ctx = tc_ctx_new();
	uint64_t t = 0, start;

	ck_assert_int_eq(upcall_ctx_get_timeout(ctx, &t), 0);
	ck_assert_uint_eq(t, UINT64_MAX);
	ck_assert_int_eq(upcall_ctx_process(ctx), 0);
	ck_assert_int_eq(upcall_ctx_process(ctx), 0);

	start = tc_now_usec();
	ck_assert_int_eq(upcall_ctx_wait(ctx, 5 * TC_MSEC), 0);
	ck_assert_uint_ge(tc_now_usec() - start, 4 * TC_MSEC);
	ck_assert_int_eq(upcall_ctx_wait(ctx, 0), 0);
	/* Nothing pending: run returns at once. */
	ck_assert_int_eq(upcall_ctx_run(ctx, 1000 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_ctx_get_timeout(ctx, &t), 0);
	ck_assert_uint_eq(t, UINT64_MAX);
	upcall_ctx_unref(ctx);
}
END_TEST

/* A pending request's deadline shows in get_timeout. */
START_TEST(test_timeout_deadline)
{
	struct tenv e;
	upcall_request *req = NULL;
	uint64_t t = 0, before;

	tenv_init(&e, 1);
	tenv_open(&e);
	fg_set_behavior(e.fg, FG_SILENT);
	before = tc_now_usec();
	ck_assert_int_eq(upcall_session_set_request_timeout(e.s, 500 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(e.s, 0, 8, NULL, NULL, &req), 0);
	ck_assert_int_eq(upcall_ctx_get_timeout(e.ctx, &t), 0);
	ck_assert_uint_ge(t, before + 500 * TC_MSEC);
	ck_assert_uint_le(t, tc_now_usec() + 500 * TC_MSEC);
	upcall_request_unref(req);
	tenv_fini(&e);
}
END_TEST

START_TEST(test_thread)
{
	upcall_ctx *ctx = tc_ctx_new();

	ck_assert_int_eq(upcall_ctx_stop_thread(ctx), -ESRCH);
	ck_assert_int_eq(upcall_ctx_start_thread(ctx), 0);
	ck_assert_int_eq(upcall_ctx_start_thread(ctx), -EALREADY);
	ck_assert_int_eq(upcall_ctx_process(ctx), -EBUSY);
	ck_assert_int_eq(upcall_ctx_stop_thread(ctx), 0);
	ck_assert_int_eq(upcall_ctx_stop_thread(ctx), -ESRCH);
	/* Ours again (the stop may have left a wakeup to consume). */
	ck_assert_int_ge(upcall_ctx_process(ctx), 0);
	tc_drain(ctx);
	ck_assert_int_eq(upcall_ctx_process(ctx), 0);
	/* Again, and this time the last unref stops it. */
	ck_assert_int_eq(upcall_ctx_start_thread(ctx), 0);
	ck_assert_int_eq(upcall_ctx_process(ctx), -EBUSY);
	upcall_ctx_unref(ctx);
}
END_TEST

/* Requests complete on the library thread; sync helpers wait for it. */
START_TEST(test_thread_processes)
{
	struct tenv e;
	struct tc_req t = { 0 };
	int result = 1;

	tenv_init(&e, 1);
	ck_assert_int_eq(upcall_ctx_start_thread(e.ctx), 0);
	ck_assert_int_eq(upcall_session_open_unix(e.s, e.d.path), 0);
	ck_assert_int_eq(upcall_session_wait_ready(e.s, TC_LONG_MS * TC_MSEC), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(e.s, 0, 8, tc_req_cb, &t, NULL), 0);
	ck_assert(tc_run_until_flag(e.ctx, &t.done, TC_LONG_MS));
	ck_assert_int_eq(t.error, 0);
	ck_assert_int_eq(upcall_devmgr_pci_del_sync(e.s, 0, 8, 0, &result), 0);
	ck_assert_int_eq(result, 0);
	ck_assert_int_eq(upcall_ctx_run(e.ctx, TC_LONG_MS * TC_MSEC), 0);
	ck_assert_int_eq(upcall_ctx_stop_thread(e.ctx), 0);
	tenv_fini(&e);
}
END_TEST

struct stop_watch {
	upcall_session *s;
	uint64_t stop_started;	/* 0: no stop under way */
	int end;
	int nudges;
};

/*
 * A stop that has not returned after 200 ms missed its wakeup: nudge the
 * library thread with some traffic (its reply wakes the thread) so that the
 * test fails in good time instead of hanging.
 */
static void *stop_watch_main(void *arg)
{
	struct stop_watch *w = arg;

	while (!__atomic_load_n(&w->end, __ATOMIC_ACQUIRE)) {
		uint64_t t = __atomic_load_n(&w->stop_started, __ATOMIC_ACQUIRE);

		if (t && tc_now_usec() - t > 200 * TC_MSEC &&
		    upcall_devmgr_pci_add(w->s, 0, 8, NULL, NULL, NULL) == 0)
			__atomic_fetch_add(&w->nudges, 1, __ATOMIC_ACQ_REL);
		tc_sleep_ms(50);
	}
	return NULL;
}

/* Stopping the library thread right after some traffic returns at once. */
START_TEST(test_thread_stop_promptly)
{
	struct stop_watch w = { 0 };
	struct tenv e;
	pthread_t watch;
	int i, slow = 0, result;
	uint64_t start, took, worst = 0;

	tenv_init(&e, 1);
	ck_assert_int_eq(upcall_session_open_unix(e.s, e.d.path), 0);
	ck_assert_int_eq(upcall_session_wait_ready(e.s, TC_LONG_MS * TC_MSEC), 0);
	w.s = e.s;
	ck_assert_int_eq(pthread_create(&watch, NULL, stop_watch_main, &w), 0);
	for (i = 0; i < 100 && slow < 3; i++) {
		ck_assert_int_eq(upcall_ctx_start_thread(e.ctx), 0);
		ck_assert_int_eq(upcall_devmgr_pci_add_sync(e.s, 0, 8, 0, &result), 0);
		start = tc_now_usec();
		__atomic_store_n(&w.stop_started, start, __ATOMIC_RELEASE);
		ck_assert_int_eq(upcall_ctx_stop_thread(e.ctx), 0);
		__atomic_store_n(&w.stop_started, 0, __ATOMIC_RELEASE);
		took = tc_now_usec() - start;
		slow += took > 150 * TC_MSEC;
		worst = took > worst ? took : worst;
	}
	__atomic_store_n(&w.end, 1, __ATOMIC_RELEASE);
	pthread_join(watch, NULL);
	tenv_fini(&e);
	ck_assert_msg(slow == 0, "%d of %d stops missed the wakeup (the worst took "
		      "%llu ms, %d nudges)", slow, i,
		      (unsigned long long)(worst / TC_MSEC), w.nudges);
}
END_TEST

struct drop_all {
	upcall_ctx *ctx;
	upcall_session *s;
	int done;
};

/* On the library thread: drop the caller's last references to everything. */
static void drop_all_cb(upcall_request *req, int error, void *userdata)
{
	struct drop_all *d = userdata;

	ck_assert_int_eq(error, 0);
	d->s = upcall_session_unref(d->s);
	d->ctx = upcall_ctx_unref(d->ctx);
	/* The request itself stays valid until we return. */
	ck_assert_int_eq(upcall_request_get_status(req), 1);
	__atomic_store_n(&d->done, 1, __ATOMIC_RELEASE);
}

/* The last reference dropped on the library thread frees the context. */
START_TEST(test_unref_all_in_callback)
{
	struct drop_all d = { 0 };
	struct tc_dir dir;
	struct fake_guest *fg;
	int i;

	tc_dir_init(&dir);
	fg = fg_new(dir.path, 1);
	ck_assert_ptr_nonnull(fg);
	d.ctx = tc_ctx_new();
	ck_assert_int_eq(upcall_session_new(d.ctx, &d.s), 0);
	ck_assert_int_eq(upcall_ctx_start_thread(d.ctx), 0);
	ck_assert_int_eq(upcall_session_open_unix(d.s, dir.path), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(d.s, 0, 8, drop_all_cb, &d, NULL), 0);
	for (i = 0; i < 5000 && !__atomic_load_n(&d.done, __ATOMIC_ACQUIRE); i++)
		tc_sleep_ms(1);
	ck_assert_int_eq(d.done, 1);
	/* Let the detached thread finish freeing. */
	tc_sleep_ms(20);
	fg_free(fg);
	tc_dir_fini(&dir);
}
END_TEST

struct log_rec {
	int n, bad;
	int max_prio;
};

static void log_fn(upcall_ctx *ctx, int priority, const char *file, int line,
		   const char *fn, const char *format, va_list args,
		   void *userdata)
{
	struct log_rec *l = userdata;
	char buf[512];

	if (!ctx || !file || line <= 0 || !fn || !format ||
	    priority < LOG_EMERG || priority > LOG_DEBUG)
		l->bad++;
	vsnprintf(buf, sizeof(buf), format, args);
	if (priority > l->max_prio)
		l->max_prio = priority;
	l->n++;
}

/* Connect, one request, one connection refused: the usual traffic. */
static void some_traffic(upcall_ctx *ctx)
{
	struct tc_dir d;
	struct fake_guest *fg;
	upcall_session *s = NULL, *s2 = NULL;
	int result = 1;

	tc_dir_init(&d);
	fg = fg_new(d.path, 1);
	ck_assert_ptr_nonnull(fg);
	ck_assert_int_eq(upcall_session_new(ctx, &s), 0);
	ck_assert_int_eq(upcall_session_open_unix(s, d.path), 0);
	ck_assert_int_eq(upcall_session_wait_ready(s, TC_LONG_MS * TC_MSEC), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add_sync(s, 0, 8, 0, &result), 0);

	ck_assert_int_eq(upcall_session_new(ctx, &s2), 0);
	ck_assert_int_eq(upcall_session_set_reconnect(s2, 0, 0, 0), 0);
	ck_assert_int_eq(upcall_session_open_unix(s2, "/nonexistent/upcall.sock"),
			 -ENOENT);
	ck_assert_int_lt(upcall_session_wait_ready(s2, TC_LONG_MS * TC_MSEC), 0);

	upcall_session_unref(s2);
	upcall_session_unref(s);
	tc_drain(ctx);
	fg_free(fg);
	tc_dir_fini(&d);
}

START_TEST(test_log_debug)
{
	upcall_ctx *ctx = tc_ctx_new();
	struct log_rec l = { 0 };

	ck_assert_int_eq(upcall_ctx_set_log_fn(ctx, log_fn, &l), 0);
	ck_assert_int_eq(upcall_ctx_set_log_priority(ctx, LOG_DEBUG), 0);
	some_traffic(ctx);
	ck_assert_int_gt(l.n, 0);
	ck_assert_int_eq(l.bad, 0);
	ck_assert_int_eq(l.max_prio, LOG_DEBUG);

	/* Cleared: silence. */
	l.n = 0;
	ck_assert_int_eq(upcall_ctx_set_log_fn(ctx, NULL, NULL), 0);
	some_traffic(ctx);
	ck_assert_int_eq(l.n, 0);
	upcall_ctx_unref(ctx);
}
END_TEST

/* The default priority is LOG_ERR: ordinary traffic logs nothing. */
START_TEST(test_log_default_quiet)
{
	upcall_ctx *ctx = NULL;
	struct log_rec l = { 0 };

	ck_assert_int_eq(upcall_ctx_new(&ctx), 0);
	ck_assert_int_eq(upcall_ctx_set_log_fn(ctx, log_fn, &l), 0);
	some_traffic(ctx);
	ck_assert_int_eq(l.n, 0);
	ck_assert_int_eq(upcall_ctx_set_log_priority(ctx, -1), -EINVAL);
	ck_assert_int_eq(upcall_ctx_set_log_priority(ctx, LOG_DEBUG + 1), -EINVAL);
	ck_assert_int_eq(upcall_ctx_set_log_priority(ctx, LOG_EMERG), 0);
	upcall_ctx_unref(ctx);
}
END_TEST

/*
 * The log userdata's destroy callback: once, when the context is freed,
 * which a session's reference and the library thread delay, and never
 * before a log call that could still use the data.
 */
struct log_owner {
	struct log_rec rec;
	int destroyed, logged_after;
};

static void owner_log_fn(upcall_ctx *ctx, int priority, const char *file,
			 int line, const char *fn, const char *format,
			 va_list args, void *userdata)
{
	struct log_owner *o = userdata;

	if (__atomic_load_n(&o->destroyed, __ATOMIC_ACQUIRE))
		o->logged_after++;
	log_fn(ctx, priority, file, line, fn, format, args, &o->rec);
}

static void owner_destroy(void *userdata)
{
	struct log_owner *o = userdata;

	__atomic_fetch_add(&o->destroyed, 1, __ATOMIC_ACQ_REL);
}

START_TEST(test_log_destroy)
{
	struct log_owner o = { .destroyed = 0 }, o2 = { .destroyed = 0 };
	upcall_ctx *ctx = tc_ctx_new();
	upcall_session *s = NULL;

	ck_assert_int_eq(upcall_ctx_set_log_destroy_fn(NULL, owner_destroy), -EINVAL);
	ck_assert_int_eq(upcall_ctx_set_log_fn(ctx, owner_log_fn, &o), 0);
	ck_assert_int_eq(upcall_ctx_set_log_destroy_fn(ctx, owner_destroy), 0);
	ck_assert_int_eq(upcall_ctx_set_log_priority(ctx, LOG_DEBUG), 0);
	ck_assert_int_eq(upcall_ctx_start_thread(ctx), 0);
	some_traffic(ctx);
	ck_assert_int_gt(o.rec.n, 0);
	/* A session keeps the context, and so the log data, alive. */
	ck_assert_int_eq(upcall_session_new(ctx, &s), 0);
	ck_assert_ptr_null(upcall_ctx_unref(ctx));
	ck_assert_int_eq(o.destroyed, 0);
	upcall_session_unref(s);
	ck_assert_int_eq(o.destroyed, 1);
	ck_assert_int_eq(o.logged_after, 0);

	/* Cleared before the end: nothing to release. */
	ctx = tc_ctx_new();
	ck_assert_int_eq(upcall_ctx_set_log_fn(ctx, owner_log_fn, &o2), 0);
	ck_assert_int_eq(upcall_ctx_set_log_destroy_fn(ctx, owner_destroy), 0);
	ck_assert_int_eq(upcall_ctx_set_log_destroy_fn(ctx, NULL), 0);
	upcall_ctx_unref(ctx);
	ck_assert_int_eq(o2.destroyed, 0);
}
END_TEST

/* Without a log callback the library writes nothing to stdout or stderr. */
START_TEST(test_no_output)
{
	char tmpl[] = "/tmp/upcall-out.XXXXXX";
	upcall_ctx *ctx = NULL;
	int out, save1, save2;
	struct stat stbuf;

	out = mkstemp(tmpl);
	ck_assert_int_ge(out, 0);
	unlink(tmpl);
	fflush(stdout);
	fflush(stderr);
	save1 = dup(1);
	save2 = dup(2);
	ck_assert_int_ge(save1, 0);
	ck_assert_int_ge(save2, 0);
	dup2(out, 1);
	dup2(out, 2);

	ck_assert_int_eq(upcall_ctx_new(&ctx), 0);
	some_traffic(ctx);
	upcall_ctx_unref(ctx);

	fflush(stdout);
	fflush(stderr);
	dup2(save1, 1);
	dup2(save2, 2);
	close(save1);
	close(save2);
	ck_assert_int_eq(fstat(out, &stbuf), 0);
	close(out);
	ck_assert_int_eq(stbuf.st_size, 0);
}
END_TEST

static void destroy_nop(void *p)
{
	(void)p;
}

/* Every entry point refuses NULL without crashing. */
START_TEST(test_null_args)
{
	upcall_ctx *ctx = tc_ctx_new();
	upcall_session *s = NULL;
	uint64_t u;
	uint32_t idx;
	int r;
	upcall_info info;
	const uint8_t ids[1] = { 1 };

	ck_assert_int_eq(upcall_ctx_new(NULL), -EINVAL);
	ck_assert_ptr_null(upcall_ctx_ref(NULL));
	ck_assert_ptr_null(upcall_ctx_unref(NULL));
	ck_assert_int_eq(upcall_ctx_set_log_fn(NULL, log_fn, NULL), -EINVAL);
	ck_assert_int_eq(upcall_ctx_set_log_priority(NULL, LOG_ERR), -EINVAL);
	ck_assert_int_eq(upcall_ctx_get_fd(NULL), -EINVAL);
	ck_assert_int_eq(upcall_ctx_get_events(NULL), -EINVAL);
	ck_assert_int_eq(upcall_ctx_get_timeout(NULL, &u), -EINVAL);
	ck_assert_int_eq(upcall_ctx_get_timeout(ctx, NULL), -EINVAL);
	ck_assert_int_eq(upcall_ctx_process(NULL), -EINVAL);
	ck_assert_int_eq(upcall_ctx_wait(NULL, 0), -EINVAL);
	ck_assert_int_eq(upcall_ctx_run(NULL, 0), -EINVAL);
	ck_assert_int_eq(upcall_ctx_start_thread(NULL), -EINVAL);
	ck_assert_int_eq(upcall_ctx_stop_thread(NULL), -EINVAL);

	ck_assert_int_eq(upcall_session_new(NULL, &s), -EINVAL);
	ck_assert_int_eq(upcall_session_new(ctx, NULL), -EINVAL);
	ck_assert_ptr_null(upcall_session_ref(NULL));
	ck_assert_ptr_null(upcall_session_unref(NULL));
	ck_assert_int_eq(upcall_session_set_arch(NULL, UPCALL_ARCH_X86_64), -EINVAL);
	ck_assert_int_eq(upcall_session_get_arch(NULL), -EINVAL);
	ck_assert_int_eq(upcall_session_set_port(NULL, 219), -EINVAL);
	ck_assert_int_eq(upcall_session_set_connect_timeout(NULL, 1), -EINVAL);
	ck_assert_int_eq(upcall_session_set_request_timeout(NULL, 1), -EINVAL);
	ck_assert_int_eq(upcall_session_set_reconnect(NULL, 1, 1, 2), -EINVAL);
	ck_assert_int_eq(upcall_session_set_apic_version(NULL, 0x14), -EINVAL);
	ck_assert_int_eq(upcall_session_set_state_fn(NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_session_set_userdata(NULL, NULL), -EINVAL);
	ck_assert_ptr_null(upcall_session_get_userdata(NULL));
	ck_assert_int_eq(upcall_session_open_unix(NULL, "/tmp/x"), -EINVAL);
	ck_assert_int_eq(upcall_session_open_vsock(NULL, 3), -EINVAL);
	ck_assert_int_eq(upcall_session_open_fd(NULL, -1), -EINVAL);
	ck_assert_int_eq(upcall_session_close(NULL), -EINVAL);
	ck_assert_int_eq(upcall_session_get_state(NULL), -EINVAL);
	ck_assert_int_eq(upcall_session_wait_ready(NULL, 0), -EINVAL);
	ck_assert_ptr_null(upcall_session_get_ctx(NULL));

	ck_assert_ptr_null(upcall_request_ref(NULL));
	ck_assert_ptr_null(upcall_request_unref(NULL));
	ck_assert_int_eq(upcall_request_cancel(NULL), -EINVAL);
	ck_assert_int_eq(upcall_request_set_timeout(NULL, 1), -EINVAL);
	ck_assert_int_eq(upcall_request_set_destroy_fn(NULL, destroy_nop), -EINVAL);
	ck_assert_ptr_null(upcall_request_get_userdata(NULL));
	ck_assert_int_eq(upcall_request_get_type(NULL), -EINVAL);
	ck_assert_int_eq(upcall_request_get_status(NULL), -EINVAL);
	ck_assert_int_eq(upcall_request_get_result(NULL, &r), -EINVAL);
	ck_assert_int_eq(upcall_request_get_cpu_index(NULL, &idx), -EINVAL);
	ck_assert_int_eq(upcall_request_get_info(NULL, &info), -EINVAL);
	ck_assert_int_eq(upcall_request_wait(NULL, 0), -EINVAL);

	ck_assert_int_eq(upcall_devmgr_cpu_add(NULL, ids, 1, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_del(NULL, ids, 1, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mmio_add(NULL, 0, 1, 5, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mmio_del(NULL, 0, 1, 5, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mem_add(NULL, 0, 1, 0, 0, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mem_del(NULL, 0, 1, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_pci_add(NULL, 0, 8, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_pci_del(NULL, 0, 8, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_get_info(NULL, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_add_sync(NULL, ids, 1, 0, &r, &idx), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_del_sync(NULL, ids, 1, 0, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mmio_add_sync(NULL, 0, 1, 5, 0, &r), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mmio_del_sync(NULL, 0, 1, 5, 0, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mem_add_sync(NULL, 0, 1, 0, 0, 0, &r), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mem_del_sync(NULL, 0, 1, 0, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_pci_add_sync(NULL, 0, 8, 0, &r), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_pci_del_sync(NULL, 0, 8, 0, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_get_info_sync(NULL, 0, &r, &info), -EINVAL);

	/* A real session with NULL where a pointer is required. */
	ck_assert_int_eq(upcall_session_new(ctx, &s), 0);
	ck_assert_int_eq(upcall_session_open_unix(s, NULL), -EINVAL);
	ck_assert_int_eq(upcall_session_open_unix(s, ""), -EINVAL);
	ck_assert_int_eq(upcall_session_open_fd(s, -1), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_get_info_sync(s, 0, &r, NULL), -EINVAL);
	ck_assert_int_eq(upcall_session_get_state(s), UPCALL_SESSION_IDLE);
	upcall_session_unref(s);
	upcall_ctx_unref(ctx);
}
END_TEST

static Suite *ctx_suite(void)
{
	Suite *s = suite_create("ctx");
	TCase *tc = tcase_create("ctx");

	tc_tcase_setup(tc);
	tcase_add_test(tc, test_new_ref_unref);
	tcase_add_test(tc, test_session_holds_ctx);
	tcase_add_test(tc, test_fd_is_epoll);
	tcase_add_test(tc, test_idle);
	tcase_add_test(tc, test_timeout_deadline);
	tcase_add_test(tc, test_thread);
	tcase_add_test(tc, test_thread_processes);
	tcase_add_test(tc, test_thread_stop_promptly);
	tcase_add_test(tc, test_unref_all_in_callback);
	tcase_add_test(tc, test_null_args);
	suite_add_tcase(s, tc);

	tc = tcase_create("log");
	tc_tcase_setup(tc);
	tcase_add_test(tc, test_log_debug);
	tcase_add_test(tc, test_log_default_quiet);
	tcase_add_test(tc, test_log_destroy);
	tcase_add_test(tc, test_no_output);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tc_run_suite(ctx_suite());
}
