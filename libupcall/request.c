// SPDX-License-Identifier: MIT
/*
 * Requests: the handle of one device-manager call.
 *
 * While pending, a request is held by the library (the "hold", one of its
 * references) in its session's queue, in flight, or on the context's done
 * list; the hold goes once its callback has run.  When the caller drops its
 * last reference before completion, the request is cancelled silently.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "libupcall-private.h"

/*
 * Freed requests are kept on their context for the next submissions: a
 * steady stream of requests then costs no malloc(3) and free(3) each.
 * Not under AddressSanitizer, which must see every request freed.
 */
#define REQ_CACHE_MAX 16u

/* Lock held.  A zeroed request, from the cache if it has one. */
static upcall_request *request_alloc_locked(upcall_ctx *ctx)
{
	upcall_request *req = ctx->req_cache;

	if (!req)
		return calloc(1, sizeof(*req));
	ctx->req_cache = (upcall_request *)req->node.next;
	ctx->n_req_cache--;
	memset(req, 0, sizeof(*req));
	return req;
}

/* Lock held.  Keep @req for reuse; false if the cache is full. */
static bool request_recycle_locked(upcall_ctx *ctx, upcall_request *req)
{
#if defined(__SANITIZE_ADDRESS__)
	(void)ctx;
	(void)req;
	return false;
#else
	if (ctx->n_req_cache >= REQ_CACHE_MAX)
		return false;
	req->node.next = (struct ulist *)ctx->req_cache;
	ctx->req_cache = req;
	ctx->n_req_cache++;
	return true;
#endif
}

/* The context is going away: no lock needed. */
void request_cache_free(upcall_ctx *ctx)
{
	while (ctx->req_cache) {
		upcall_request *req = ctx->req_cache;

		ctx->req_cache = (upcall_request *)req->node.next;
		free(req);
	}
	ctx->n_req_cache = 0;
}

static void request_timer_fn(struct utimer *t)
{
	upcall_request *req = container_of(t, upcall_request, timer);
	upcall_session *s = req->session;
	bool inflight = req->phase == REQ_INFLIGHT;

	request_abort(req, -ETIMEDOUT);
	/* The guest may still answer; only a new connection is in a known state. */
	if (inflight)
		session_fail(s, -ETIMEDOUT);
}

int request_timeout_arm(upcall_request *req, uint64_t usec)
{
	uint64_t deadline = usec == UINT64_MAX ? UINT64_MAX :
						 usec_add(req->submitted, usec);

	return ctx_timer_add(req->ctx, &req->timer, deadline);
}

int request_submit(upcall_session *s, uint32_t type, const void *body,
		   size_t len, uint32_t count, upcall_request_fn cb,
		   void *userdata, upcall_request **ret)
{
	upcall_ctx *ctx = s->ctx;
	upcall_request *req;
	int r;

	pthread_mutex_lock(&ctx->lock);
	if (s->phase == PHASE_IDLE || s->phase == PHASE_CLOSED) {
		pthread_mutex_unlock(&ctx->lock);
		return -ENOTCONN;
	}
	req = request_alloc_locked(ctx);
	if (!req) {
		pthread_mutex_unlock(&ctx->lock);
		return -ENOMEM;
	}
	req->n_ref = ret ? 2 : 1;
	req->held = true;
	req->floating = !ret;
	req->type = type;
	req->body_len = (uint32_t)len;
	if (len)
		memcpy(req->body, body, len);
	req->count = count;
	req->cb = cb;
	req->userdata = userdata;
	ulist_init(&req->node);
	utimer_init(&req->timer, request_timer_fn);
	req->ctx = ctx;
	req->session = s;
	req->submitted = now_usec();
	req->phase = REQ_QUEUED;
	r = request_timeout_arm(req, s->request_timeout);
	if (r < 0) {
		if (!request_recycle_locked(ctx, req))
			free(req);
		pthread_mutex_unlock(&ctx->lock);
		return r;
	}
	upcall_ctx_ref(ctx);
	ulist_add_tail(&s->queue, &req->node);
	ctx->n_pending++;
	ulog_dbg(ctx, "session %p: request %p type %u queued", (void *)s,
		 (void *)req, type);
	session_kick(s);
	pthread_mutex_unlock(&ctx->lock);
	if (ret)
		*ret = req;
	return 0;
}

/* Lock held.  Hand the request to the processing thread for its callback. */
void request_complete(upcall_request *req, int status)
{
	upcall_ctx *ctx = req->ctx;

	ctx_timer_del(ctx, &req->timer);
	req->phase = REQ_DONE;
	/* Last: a reader that sees the status sees the answer (no lock). */
	__atomic_store_n(&req->status, status, __ATOMIC_RELEASE);
	req->session = NULL;
	ctx->n_pending--;
	ulist_add_tail(&ctx->done, &req->node);
	ctx_wake(ctx);
}

/* Lock held.  Complete a pending request without an answer. */
void request_abort(upcall_request *req, int err)
{
	upcall_session *s = req->session;

	if (req->phase == REQ_DONE)
		return;
	if (req->phase == REQ_QUEUED)
		ulist_del(&req->node);
	else if (s->inflight == req)
		s->inflight = NULL;
	request_complete(req, err);
}

/*
 * Lock held.  A request already sent will still be answered: the session
 * discards that answer (bounded by the request's deadline) before sending
 * the next one, so replies stay matched to requests.
 */
static void request_cancel_locked(upcall_request *req)
{
	upcall_session *s = req->session;

	if (req->phase == REQ_INFLIGHT) {
		s->discard_reply = true;
		s->discard_type = req->type;
		if (utimer_armed(&req->timer))
			ctx_timer_add(req->ctx, &s->timer, req->timer.deadline);
	}
	request_abort(req, -ECANCELED);
}

/* Lock not held.  The last reference went. */
void request_free(upcall_request *req)
{
	upcall_ctx *ctx = req->ctx;
	bool kept;

	if (req->destroy)
		req->destroy(req->userdata);
	pthread_mutex_lock(&ctx->lock);
	kept = request_recycle_locked(ctx, req);
	pthread_mutex_unlock(&ctx->lock);
	if (!kept)
		free(req);
	upcall_ctx_unref(ctx);
}

/*
 * Lock held, and dropped here.  When @freeit (the last reference went),
 * recycle @req under the same lock unless a destroy function must run
 * first, else free it.
 */
static void request_unlock_put(upcall_ctx *ctx, upcall_request *req,
			       bool freeit)
{
	bool kept = freeit && !req->destroy && request_recycle_locked(ctx, req);

	pthread_mutex_unlock(&ctx->lock);
	if (kept)
		upcall_ctx_unref(ctx);
	else if (freeit)
		request_free(req);
}

/* Lock not held.  Run the callback, then release the library's hold. */
void request_dispatch(upcall_request *req)
{
	upcall_ctx *ctx = req->ctx;

	/* Both are frozen once the request is done. */
	if (req->cb && !req->silent)
		req->cb(req, req->status < 0 ? req->status : 0, req->userdata);
	pthread_mutex_lock(&ctx->lock);
	req->held = false;
	request_unlock_put(ctx, req, --req->n_ref == 0);
}

UPCALL_EXPORT upcall_request *upcall_request_ref(upcall_request *req)
{
	if (!req)
		return NULL;
	pthread_mutex_lock(&req->ctx->lock);
	req->n_ref++;
	pthread_mutex_unlock(&req->ctx->lock);
	return req;
}

UPCALL_EXPORT upcall_request *upcall_request_unref(upcall_request *req)
{
	upcall_ctx *ctx;
	bool freeit;

	if (!req)
		return NULL;
	ctx = req->ctx;
	pthread_mutex_lock(&ctx->lock);
	freeit = --req->n_ref == 0;
	if (req->n_ref == 1 && req->held && !req->floating &&
	    req->phase != REQ_DONE) {
		req->silent = true;
		request_cancel_locked(req);
	}
	request_unlock_put(ctx, req, freeit);
	return NULL;
}

UPCALL_EXPORT int upcall_request_cancel(upcall_request *req)
{
	int r = 0;

	if (!req)
		return -EINVAL;
	pthread_mutex_lock(&req->ctx->lock);
	if (req->phase == REQ_DONE)
		r = -EALREADY;
	else
		request_cancel_locked(req);
	pthread_mutex_unlock(&req->ctx->lock);
	return r;
}

UPCALL_EXPORT int upcall_request_set_timeout(upcall_request *req,
					     uint64_t usec)
{
	int r;

	if (!req || usec == 0)
		return -EINVAL;
	pthread_mutex_lock(&req->ctx->lock);
	r = req->phase == REQ_DONE ? -EALREADY : request_timeout_arm(req, usec);
	pthread_mutex_unlock(&req->ctx->lock);
	return r;
}

UPCALL_EXPORT int upcall_request_set_destroy_fn(upcall_request *req,
					       upcall_destroy_fn fn)
{
	if (!req)
		return -EINVAL;
	pthread_mutex_lock(&req->ctx->lock);
	req->destroy = fn;
	pthread_mutex_unlock(&req->ctx->lock);
	return 0;
}

UPCALL_EXPORT int upcall_request_set_floating(upcall_request *req, int floating)
{
	if (!req)
		return -EINVAL;
	pthread_mutex_lock(&req->ctx->lock);
	req->floating = floating != 0;
	pthread_mutex_unlock(&req->ctx->lock);
	return 0;
}

UPCALL_EXPORT int upcall_request_get_floating(upcall_request *req)
{
	int r;

	if (!req)
		return -EINVAL;
	pthread_mutex_lock(&req->ctx->lock);
	r = req->floating;
	pthread_mutex_unlock(&req->ctx->lock);
	return r;
}

UPCALL_EXPORT void *upcall_request_get_userdata(upcall_request *req)
{
	return req ? req->userdata : NULL;
}

UPCALL_EXPORT int upcall_request_get_type(upcall_request *req)
{
	return req ? (int)req->type : -EINVAL;
}

/*
 * Set once, after everything it vouches for: a completed request is
 * frozen, so its getters need no lock (they are called in every callback).
 */
UPCALL_EXPORT int upcall_request_get_status(upcall_request *req)
{
	if (!req)
		return -EINVAL;
	return __atomic_load_n(&req->status, __ATOMIC_ACQUIRE);
}

/* The answer's fields, once there is one. */
static int request_answered(upcall_request *req)
{
	int st = upcall_request_get_status(req);

	if (st == 0)
		return -EAGAIN;
	return st == 1 ? 0 : -ENODATA;
}

UPCALL_EXPORT int upcall_request_get_result(upcall_request *req, int *result)
{
	int r;

	if (!req || !result)
		return -EINVAL;
	r = request_answered(req);
	if (r == 0)
		*result = req->result;
	return r;
}

UPCALL_EXPORT int upcall_request_get_cpu_index(upcall_request *req,
					       uint32_t *index)
{
	int r;

	if (!req || !index)
		return -EINVAL;
	if (req->type != UPCALL_MSG_ADD_CPU && req->type != UPCALL_MSG_DEL_CPU)
		return -ENODATA;
	r = request_answered(req);
	if (r < 0)
		return r;
	/* A Dragonball guest sends no index (msg_size 0) when it fails. */
	if (req->reply_size < sizeof(struct upcall_cpu_reply))
		return -ENODATA;
	*index = get_le32(req->reply);
	return 0;
}

/* upcall_info.arch hands the guest's word on as an upcall_arch. */
_Static_assert((int)UPCALL_GUEST_ARCH_X86_64 == (int)UPCALL_ARCH_X86_64 &&
	       (int)UPCALL_GUEST_ARCH_AARCH64 == (int)UPCALL_ARCH_AARCH64,
	       "enum upcall_guest_arch must match upcall_arch");

UPCALL_EXPORT int upcall_request_get_info(upcall_request *req,
					  upcall_info *info)
{
	const struct upcall_info_reply *w;
	int r;

	if (!req || !info || req->type != UPCALL_MSG_GET_INFO)
		return -EINVAL;
	r = request_answered(req);
	if (r < 0)
		return r;
	/* -1 is how a guest without the extension (Dragonball) says "unknown". */
	if (req->result == -1)
		return -EOPNOTSUPP;
	if (req->result < 0)
		return req->result;
	w = (const struct upcall_info_reply *)req->reply;
	memset(info, 0, sizeof(*info));
	info->version = le32toh(w->version);
	info->ops = le32toh(w->ops);
	info->mem_block_size = le64toh(w->mem_block_size);
	info->cpus_possible = le32toh(w->cpus_possible);
	info->cpus_present = le32toh(w->cpus_present);
	info->cpus_online = le32toh(w->cpus_online);
	info->mem_policy = le32toh(w->mem_policy);
	/* 0 from a guest before info version 0x0101: UPCALL_CPU_MODE_UNKNOWN. */
	info->cpu_mode = le32toh(w->cpu_mode);
	/* A guest before info version 0x0102 sends 0: UPCALL_GUEST_ARCH_UNKNOWN. */
	info->arch = le32toh(w->arch);
	return 0;
}

static bool request_done(void *arg)
{
	return ((upcall_request *)arg)->phase == REQ_DONE;
}

UPCALL_EXPORT int upcall_request_wait(upcall_request *req,
				      uint64_t timeout_usec)
{
	if (!req)
		return -EINVAL;
	return ctx_drive(req->ctx, request_done, req, timeout_usec);
}
