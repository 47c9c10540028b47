/* SPDX-License-Identifier: MIT */
/*
 * libupcall internals.  Locking model: one mutex per context protects every
 * session and request of that context (and their reference counts); the
 * context's own reference count is atomic.  Callbacks are never invoked with
 * the lock held: completions and state changes are queued on the context and
 * dispatched by the processing thread once the lock is dropped.
 */
#ifndef _LIBUPCALL_PRIVATE_H
#define _LIBUPCALL_PRIVATE_H

#include <endian.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <syslog.h>
#include <sys/types.h>

#include "upcall/upcall.h"
#include "upcall/wire.h"

#define UPCALL_EXPORT __attribute__((visibility("default")))
#define UPCALL_USEC_INFINITY UINT64_MAX

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

/* ---- intrusive doubly-linked list ---- */
struct ulist {
	struct ulist *prev, *next;
};

static inline void ulist_init(struct ulist *l)
{
	l->prev = l->next = l;
}

static inline bool ulist_empty(const struct ulist *l)
{
	return l->next == l;
}

static inline void ulist_add_tail(struct ulist *head, struct ulist *n)
{
	n->prev = head->prev;
	n->next = head;
	head->prev->next = n;
	head->prev = n;
}

static inline void ulist_del(struct ulist *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	ulist_init(n);
}

/* Move every entry of @from to the tail of @to. */
static inline void ulist_splice_tail(struct ulist *to, struct ulist *from)
{
	if (ulist_empty(from))
		return;
	from->next->prev = to->prev;
	to->prev->next = from->next;
	from->prev->next = to;
	to->prev = from->prev;
	ulist_init(from);
}

/* ---- timers: a binary min-heap of deadlines (timer.c) ---- */
struct utimer {
	uint64_t deadline;		/* absolute CLOCK_MONOTONIC usec */
	size_t idx;			/* heap slot, SIZE_MAX when unarmed */
	void (*fn)(struct utimer *t);	/* runs with the context lock held */
};

struct utimer_heap {
	struct utimer **v;
	size_t n, cap;
};

void utimer_init(struct utimer *t, void (*fn)(struct utimer *t));
static inline bool utimer_armed(const struct utimer *t)
{
	return t->idx != SIZE_MAX;
}
int utimer_heap_add(struct utimer_heap *h, struct utimer *t);
void utimer_heap_del(struct utimer_heap *h, struct utimer *t);
struct utimer *utimer_heap_peek(const struct utimer_heap *h);
void utimer_heap_free(struct utimer_heap *h);

/* ---- context ---- */
struct upcall_ctx {
	atomic_uint n_ref;
	pthread_mutex_t lock;
	pthread_cond_t cond;		/* broadcast after each processing round */

	int epfd;
	int wakefd;			/* eventfd: completions queued off-thread, stop */
	int timerfd;			/* armed at or before the earliest deadline */
	uint64_t timerfd_armed;		/* armed deadline, UINT64_MAX when none */
	bool wake_pending;

	struct utimer_heap timers;
	struct ulist done;		/* completed requests to dispatch */
	struct ulist state_q;		/* sessions with state events to dispatch */
	unsigned int n_pending;		/* requests not yet completed */

	bool processing;		/* some thread is inside process() */
	pthread_t processor;
	bool driving;			/* a blocking call polls for everyone */
	pthread_t driver;
	bool thread_running, thread_stop, thread_frees;
	pthread_t thread;

	unsigned int n_sessions;	/* alive, for upcall_ctx_set_io_fn() */
	upcall_io_fn io_fn;		/* the caller polls the sockets */
	void *io_data;
	struct ulist io_list;		/* sessions with a socket, io_fn mode */
	unsigned int n_io;
	unsigned int io_polling;	/* threads in a poll(2) of io_list */

	upcall_request *req_cache;	/* freed requests, linked by node.next */
	unsigned int n_req_cache;

	upcall_log_fn log_fn;
	void *log_data;
	upcall_destroy_fn log_destroy;	/* releases log_data at free */
	int log_priority;
};

void ctx_log(upcall_ctx *ctx, int prio, const char *file, int line,
	     const char *fn, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));

#define ulog(ctx, prio, ...)						\
	do {								\
		if ((ctx)->log_fn && (prio) <= (ctx)->log_priority)	\
			ctx_log(ctx, prio, __FILE__, __LINE__, __func__, \
				__VA_ARGS__);				\
	} while (0)
#define ulog_dbg(ctx, ...) ulog(ctx, LOG_DEBUG, __VA_ARGS__)
#define ulog_info(ctx, ...) ulog(ctx, LOG_INFO, __VA_ARGS__)
#define ulog_err(ctx, ...) ulog(ctx, LOG_ERR, __VA_ARGS__)

uint64_t now_usec(void);
uint64_t usec_add(uint64_t a, uint64_t b);

/* Called with the lock held. */
int ctx_timer_add(upcall_ctx *ctx, struct utimer *t, uint64_t deadline);
void ctx_timer_del(upcall_ctx *ctx, struct utimer *t);
void ctx_wake(upcall_ctx *ctx);
void ctx_io_changed(upcall_ctx *ctx);
bool ctx_on_processor(upcall_ctx *ctx);
/* @op: EPOLL_CTL_*, the values of upcall_io_op. */
int ctx_epoll_ctl(upcall_ctx *ctx, int op, int fd, uint32_t events, void *ptr);

/* Drive the context until @done(arg) holds (checked with the lock held). */
int ctx_drive(upcall_ctx *ctx, bool (*done)(void *arg), void *arg,
	      uint64_t timeout_usec);

/* ---- session ---- */
enum transport_kind {
	TRANSPORT_NONE,
	TRANSPORT_UNIX,
	TRANSPORT_VSOCK,
	TRANSPORT_FD,
};

enum session_phase {
	PHASE_IDLE,		/* not opened */
	PHASE_CONNECTING,	/* non-blocking connect under way */
	PHASE_HYBRID,		/* CONNECT line sent or sending, reading "OK" */
	PHASE_GREETING,		/* service byte sent or sending, reading CONNECT */
	PHASE_READY,
	PHASE_BACKOFF,		/* waiting to reconnect */
	PHASE_CLOSED,
};

#define SESSION_EVENTS_MAX 8
#define HYBRID_LINE_MAX 64

struct session_event {
	upcall_session_state state;
	int error;
};

struct upcall_session {
	unsigned int n_ref;		/* under ctx->lock */
	upcall_ctx *ctx;

	/* options */
	upcall_arch arch;
	uint32_t port;
	uint64_t connect_timeout;
	uint64_t request_timeout;
	bool reconnect;
	uint64_t backoff_min, backoff_max, backoff;
	uint8_t apic_ver;
	bool privileged_port;		/* AF_VSOCK: bind a port below 1024 */
	upcall_session_state_fn state_fn;
	void *state_data;
	upcall_destroy_fn state_destroy;	/* releases state_data at free */
	void *userdata;

	/* transport */
	enum transport_kind kind;
	char *path;
	uint32_t cid;
	int fd;
	uint32_t epoll_events;		/* as registered; 0 when not */
	struct ulist io_node;		/* in ctx->io_list while registered */
	enum session_phase phase;
	upcall_session_state state;
	int last_error;
	struct utimer timer;		/* connect timeout, backoff, late reply */

	/* I/O */
	uint8_t tx[UPCALL_MSG_SIZE];
	size_t tx_len, tx_off;
	uint8_t rx[UPCALL_MSG_SIZE];
	size_t rx_len;

	/* requests: queue holds the unsent ones, in order */
	struct ulist queue;
	upcall_request *inflight;
	bool discard_reply;		/* a cancelled request's reply is due */
	uint32_t discard_type;

	/* state events to dispatch */
	struct ulist state_node;	/* in ctx->state_q when events pending */
	struct session_event events[SESSION_EVENTS_MAX];
	unsigned int n_events;
};

void session_kick(upcall_session *s);
void session_set_state(upcall_session *s, upcall_session_state st, int err);
void session_io(upcall_session *s);
void session_fail(upcall_session *s, int err);
void session_unref_locked(upcall_session *s, bool *freeit);
void session_free(upcall_session *s);

/* transport.c */
int transport_connect(upcall_session *s);
int transport_connect_finish(upcall_session *s);
int transport_flush(upcall_session *s);
int transport_read_line(upcall_session *s, char *line, size_t size);
ssize_t transport_read(upcall_session *s, void *buf, size_t len);

/* ---- request ---- */
enum request_phase {
	REQ_QUEUED,
	REQ_INFLIGHT,
	REQ_DONE,
};

#define REQUEST_BODY_MAX sizeof(struct upcall_cpu_request_x86)

struct upcall_request {
	unsigned int n_ref;		/* under ctx->lock, includes the hold */
	bool held;			/* the library's reference until dispatched */
	bool floating;
	bool silent;			/* dropped by its owner: no callback */
	upcall_ctx *ctx;
	upcall_session *session;	/* until completion */
	struct ulist node;		/* session->queue or ctx->done */
	struct utimer timer;
	uint64_t submitted;
	enum request_phase phase;

	uint32_t type;
	uint32_t body_len;
	uint8_t body[REQUEST_BODY_MAX];
	uint32_t count;			/* CPU requests: vCPUs asked for */

	int status;			/* 0 pending, 1 answered, <0 error */
	int32_t result;
	uint32_t reply_size;		/* bytes of reply body kept below */
	uint8_t reply[sizeof(struct upcall_info_reply)];

	upcall_request_fn cb;
	void *userdata;
	upcall_destroy_fn destroy;
};

int request_submit(upcall_session *s, uint32_t type, const void *body,
		   size_t len, uint32_t count, upcall_request_fn cb,
		   void *userdata, upcall_request **ret);
void request_complete(upcall_request *req, int status);
void request_abort(upcall_request *req, int err);
void request_dispatch(upcall_request *req);
void request_free(upcall_request *req);
void request_cache_free(upcall_ctx *ctx);
int request_timeout_arm(upcall_request *req, uint64_t usec);

/* ---- proto.c: pure encoders and parsers (fuzzed) ---- */
static inline uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

void proto_encode(uint8_t msg[UPCALL_MSG_SIZE], uint32_t type,
		  const void *body, size_t len);
int proto_check_connect(const uint8_t msg[UPCALL_MSG_SIZE]);
struct proto_reply {
	int32_t result;
	uint32_t body_size;		/* msg_size, <= UPCALL_REPLY_BODY_MAX */
	const uint8_t *body;		/* inside the message */
};

int proto_parse_reply(const uint8_t msg[UPCALL_MSG_SIZE], uint32_t type,
		      struct proto_reply *reply);
int proto_parse_hybrid_line(const char *line);

#endif /* _LIBUPCALL_PRIVATE_H */
