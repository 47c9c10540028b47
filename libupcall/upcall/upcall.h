/* SPDX-License-Identifier: MIT */
/**
 * @file upcall.h
 * @brief libupcall: drive a guest's upcall device manager from a VMM.
 *
 * Objects and lifetimes
 * ---------------------
 * Three reference-counted objects: a context (@ref upcall_ctx) owns one epoll
 * fd and any number of sessions; a session (@ref upcall_session) is one
 * connection to one guest's upcall server, reconnected as needed; a request
 * (@ref upcall_request) is one device-manager call.  Every `_new` and every
 * submission returns one reference owned by the caller; `_ref` adds one,
 * `_unref` drops one and always returns NULL (NULL is accepted).
 *
 * Errors
 * ------
 * Every function that can fail returns 0 (or a positive value where stated)
 * on success and a negative errno on failure; errno is never the channel.
 * upcall_strerror() describes a code.
 *
 * Threading
 * ---------
 * All functions may be called from any thread at any time, unless stated.
 * Completion and state callbacks run on the thread that processes the
 * context (upcall_ctx_process(), the sync helpers, or the library thread
 * started by upcall_ctx_start_thread()), never with a library lock held, so
 * a callback may call any function, including submitting and unref'ing.
 */
#ifndef _UPCALL_UPCALL_H
#define _UPCALL_UPCALL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Major version of the headers this program was built with. */
#define UPCALL_VERSION_MAJOR 1
/** Minor version of the headers this program was built with. */
#define UPCALL_VERSION_MINOR 1
/** Micro version of the headers this program was built with. */
#define UPCALL_VERSION_MICRO 0

/**
 * @brief Version of the library at run time.
 * @return A static string such as "1.0.0"; never free it.
 */
const char *upcall_version(void);

/**
 * @brief Describe an error code returned by libupcall.
 * @param err A negative (or positive) errno.
 * @return A static, thread-safe string; never NULL, never free it.
 */
const char *upcall_strerror(int err);

/**
 * @brief Symbolic name of an errno, e.g. "EINVAL".
 * @param err A negative (or positive) errno.
 * @return A static string, or NULL for a number that is no errno.
 */
const char *upcall_errno_name(int err);

/** @brief A context: one epoll fd, its sessions, timers and callbacks. */
typedef struct upcall_ctx upcall_ctx;
/** @brief A connection to one guest's upcall server. */
typedef struct upcall_session upcall_session;
/** @brief One device-manager request. */
typedef struct upcall_request upcall_request;

/**
 * @brief Releases a userdata pointer when the object that holds it is freed
 * (upcall_request_set_destroy_fn(), upcall_session_set_destroy_fn(),
 * upcall_ctx_set_log_destroy_fn()): called exactly once, after the last
 * callback that could be given the pointer has returned, on the thread that
 * drops the last reference.  It must not call back into the object.
 * @param userdata The pointer, as set when the object is freed.
 */
typedef void (*upcall_destroy_fn)(void *userdata);

/* ------------------------------------------------------------------ */
/* Context                                                             */
/* ------------------------------------------------------------------ */

/**
 * @brief Log callback.
 * @param ctx The context that logs.
 * @param priority A syslog priority (LOG_ERR .. LOG_DEBUG).
 * @param file Source file of the message.
 * @param line Source line.
 * @param fn Function name.
 * @param format printf-style format.
 * @param args Arguments for @p format.
 * @param userdata As given to upcall_ctx_set_log_fn().
 *
 * May be called from any thread that calls into the library, with a
 * library lock held: it must not call back into libupcall.
 */
typedef void (*upcall_log_fn)(upcall_ctx *ctx, int priority, const char *file,
			      int line, const char *fn, const char *format,
			      va_list args, void *userdata);

/**
 * @brief Create a context.
 * @param ret On success, the new context (one reference, caller owns it).
 * @return 0, or -ENOMEM, -EMFILE and other errors of epoll_create1(2).
 */
int upcall_ctx_new(upcall_ctx **ret);

/**
 * @brief Take a reference on a context.
 * @param ctx A context, or NULL.
 * @return @p ctx.
 */
upcall_ctx *upcall_ctx_ref(upcall_ctx *ctx);

/**
 * @brief Drop a reference on a context.
 *
 * Each session holds a reference to its context, so the context lives until
 * its sessions are gone.  The last reference stops and joins the library
 * thread; dropped from a callback on that thread, it lets the thread end
 * and free the context once the callback returns.
 * @param ctx A context, or NULL.
 * @return NULL.
 */
upcall_ctx *upcall_ctx_unref(upcall_ctx *ctx);

/**
 * @brief Set or clear the log callback.  The library writes nothing to
 * stdout or stderr; without a callback it logs nothing.
 * @param ctx The context.
 * @param fn The callback, or NULL to stop logging.
 * @param userdata Passed to @p fn.
 * @return 0 or -EINVAL.
 */
int upcall_ctx_set_log_fn(upcall_ctx *ctx, upcall_log_fn fn, void *userdata);

/**
 * @brief Set a callback that releases the log callback's userdata.
 *
 * Called once, with the userdata set by upcall_ctx_set_log_fn() at that
 * time, when the context is freed (its last reference dropped, the library
 * thread joined): no log callback runs after it.  Replacing the userdata
 * by upcall_ctx_set_log_fn() does not release the old one.
 * @param ctx The context.
 * @param fn The callback, or NULL (the default).
 * @return 0 or -EINVAL.
 * @since 1.1
 */
int upcall_ctx_set_log_destroy_fn(upcall_ctx *ctx, upcall_destroy_fn fn);

/**
 * @brief Set the highest syslog priority passed to the log callback.
 * @param ctx The context.
 * @param priority LOG_EMERG (0) .. LOG_DEBUG (7); the default is LOG_ERR.
 * @return 0 or -EINVAL.
 */
int upcall_ctx_set_log_priority(upcall_ctx *ctx, int priority);

/**
 * @brief The context's pollable fd (an epoll fd).
 *
 * Poll it for the events of upcall_ctx_get_events(); when ready, call
 * upcall_ctx_process() until it returns 0.  The fd also becomes readable
 * when a timeout expires, so honouring upcall_ctx_get_timeout() is optional.
 * With an I/O callback (upcall_ctx_set_io_fn()) the sessions' sockets are
 * not behind this fd: it reports timeouts and work queued by other threads.
 * @param ctx The context.
 * @return The fd (owned by the context, do not close it), or -EINVAL.
 */
int upcall_ctx_get_fd(upcall_ctx *ctx);

/**
 * @brief Poll events to wait for on upcall_ctx_get_fd().
 * @param ctx The context.
 * @return POLLIN, or -EINVAL.
 */
int upcall_ctx_get_events(upcall_ctx *ctx);

/**
 * @brief The earliest deadline the context must be processed at.
 * @param ctx The context.
 * @param usec On success, an absolute CLOCK_MONOTONIC time in microseconds,
 *             0 if processing is due now, or UINT64_MAX for none.
 * @return 0 or -EINVAL.
 */
int upcall_ctx_get_timeout(upcall_ctx *ctx, uint64_t *usec);

/**
 * @brief Do pending work without blocking: I/O, timeouts, callbacks.
 *
 * Only one thread processes a context at a time.
 * @param ctx The context.
 * @return >0 if more work may be pending (call again), 0 when the context
 *         is idle (wait for its fd), -EBUSY if another thread is processing
 *         the context (or a library thread runs), another negative errno.
 */
int upcall_ctx_process(upcall_ctx *ctx);

/**
 * @brief Block until the context has work or @p timeout_usec passes.
 *
 * It waits on upcall_ctx_get_fd(): with an I/O callback, the sockets are
 * the caller's to wait for.
 * @param ctx The context.
 * @param timeout_usec Relative time in microseconds; UINT64_MAX waits
 *        without limit.
 * @return >0 if there is work, 0 on timeout, -EINTR, or another -errno.
 */
int upcall_ctx_wait(upcall_ctx *ctx, uint64_t timeout_usec);

/**
 * @brief Process the context until no request is pending on any session.
 * @param ctx The context.
 * @param timeout_usec Relative limit in microseconds; UINT64_MAX for none.
 * @return 0 when idle, -ETIMEDOUT, -EBUSY if another thread processes the
 *         context, or another -errno.
 */
int upcall_ctx_run(upcall_ctx *ctx, uint64_t timeout_usec);

/**
 * @brief Start a library-owned thread that processes the context.
 *
 * All callbacks then run on that thread, and upcall_ctx_process() returns
 * -EBUSY from any other.
 * @param ctx The context.
 * @return 0, -EALREADY if it runs, or an error from pthread_create(3).
 */
int upcall_ctx_start_thread(upcall_ctx *ctx);

/**
 * @brief Stop and join the library thread; callbacks already dispatched
 * have returned when this returns.  Must not be called from a callback.
 * @param ctx The context.
 * @return 0, -ESRCH if no thread runs, -EDEADLK from the thread itself.
 */
int upcall_ctx_stop_thread(upcall_ctx *ctx);

/**
 * @name Polling the sessions' sockets directly
 *
 * By default a context nests every session's socket in its own epoll fd,
 * and a caller waits on that one fd.  A latency-critical caller, or one
 * whose event loop is not epoll, may instead have the sockets themselves:
 * with an I/O callback set, the library tells the caller which socket to
 * watch for which events whenever that changes (a connect, a reconnect, a
 * send that must wait for room), and the caller passes each event to
 * upcall_session_process().  That saves the nested wake-up and one
 * epoll_wait(2) per event.  The context's fd stays: the caller still waits
 * on it and calls upcall_ctx_process() for timeouts and for work queued by
 * other threads.  Blocking calls and the library thread keep working; they
 * poll the sockets themselves (one poll(2) over all of them per round).
 * @{
 */

/** @brief What an I/O callback does with a socket; equal to EPOLL_CTL_*. */
typedef enum upcall_io_op {
	UPCALL_IO_ADD = 1,	/**< start watching @p fd */
	UPCALL_IO_DEL = 2,	/**< stop: @p fd is about to be closed */
	UPCALL_IO_MOD = 3,	/**< watch @p fd for other events */
} upcall_io_op;

/**
 * @brief I/O callback: keep the caller's poller in step with a socket.
 *
 * Called synchronously, with the context's lock held, on whichever thread
 * caused the change (opening a session, submitting a request, processing,
 * closing), and before the socket is used or closed.  It must only update
 * the caller's poller (epoll_ctl(2) or its own poll set): not block and not
 * call libupcall.  Each fd gets one ADD, then MODs, then one DEL, which
 * comes before close(2), so an fd number reused later starts with an ADD.
 * @param session The session owning the socket; pass it to
 *        upcall_session_process() when @p fd is ready.
 * @param fd The socket.
 * @param op ADD, MOD or DEL.
 * @param events POLLIN and/or POLLOUT (the same bits as EPOLLIN and
 *        EPOLLOUT); 0 with DEL.  Level-triggered.
 * @param userdata As given to upcall_ctx_set_io_fn().
 * @return 0, or a negative errno for a failed ADD or MOD: the session then
 *         treats its connection as lost (and reconnects if it may).
 */
typedef int (*upcall_io_fn)(upcall_session *session, int fd, upcall_io_op op,
			    uint32_t events, void *userdata);

/**
 * @brief Have the caller poll the sessions' sockets (see above).
 * @param ctx The context; no session may have been created on it yet.
 * @param fn The I/O callback, or NULL to go back to the nested epoll fd.
 * @param userdata Passed to @p fn.
 * @return 0, -EINVAL, or -EBUSY if the context has sessions.
 */
int upcall_ctx_set_io_fn(upcall_ctx *ctx, upcall_io_fn fn, void *userdata);

/**
 * @brief Handle readiness of a session's socket, without blocking.
 *
 * Reads and sends what the socket allows, then runs the callbacks that are
 * due, like upcall_ctx_process().  Spurious calls are harmless: the events
 * are only hints, and what is still ready is reported again by a
 * level-triggered poller.
 * The caller must hold a reference on @p session while it may pass it
 * here (its poller can still return an event of a DEL'd socket).
 * @param session The session.
 * @return >0 if more work may be pending (call upcall_ctx_process()), 0,
 *         -EBUSY if another thread is processing the context (or the
 *         library thread runs), another negative errno.
 */
int upcall_session_process(upcall_session *session);

/** @} */

/* ------------------------------------------------------------------ */
/* Session                                                             */
/* ------------------------------------------------------------------ */

/**
 * @brief Wire format of the guest (it depends on the guest, not the host).
 * A guest of info version 0x0102 on reports its own in upcall_info.arch.
 */
typedef enum upcall_arch {
	UPCALL_ARCH_X86_64 = 1,		/**< CPU requests carry APIC ids */
	UPCALL_ARCH_AARCH64 = 2,	/**< CPU requests carry a count */
} upcall_arch;

/** @brief Life of a session, reported to the state callback. */
typedef enum upcall_session_state {
	UPCALL_SESSION_IDLE = 0,	 /**< created, not opened yet */
	UPCALL_SESSION_CONNECTING = 1,	 /**< first connection under way */
	UPCALL_SESSION_READY = 2,	 /**< the guest said CONNECT */
	UPCALL_SESSION_RECONNECTING = 3, /**< dropped; backing off or connecting again */
	UPCALL_SESSION_CLOSED = 4,	 /**< closed for good */
} upcall_session_state;

/**
 * @brief State callback.
 * @param session The session.
 * @param state The new state.
 * @param error Why the session left READY or failed to connect (a negative
 *        errno), or 0.
 * @param userdata As given to upcall_session_set_state_fn().
 */
typedef void (*upcall_session_state_fn)(upcall_session *session,
					upcall_session_state state, int error,
					void *userdata);

/**
 * @brief Create a session on a context; set options, then open it.
 * @param ctx The context (the session takes a reference on it).
 * @param ret On success, the session (one reference, caller owns it).
 * @return 0, -EINVAL or -ENOMEM.
 */
int upcall_session_new(upcall_ctx *ctx, upcall_session **ret);

/**
 * @brief Take a reference on a session.
 * @param session A session, or NULL.
 * @return @p session.
 */
upcall_session *upcall_session_ref(upcall_session *session);

/**
 * @brief Drop a reference.  The last one closes the session as
 * upcall_session_close() does.
 * @param session A session, or NULL.
 * @return NULL.
 */
upcall_session *upcall_session_unref(upcall_session *session);

/**
 * @brief Choose the guest's wire format.  Default: the host's architecture.
 * Only before the session is opened.
 * @param session The session.
 * @param arch UPCALL_ARCH_X86_64 or UPCALL_ARCH_AARCH64.
 * @return 0, -EINVAL, or -EBUSY once opened.
 */
int upcall_session_set_arch(upcall_session *session, upcall_arch arch);

/**
 * @brief The guest's wire format.
 * @param session The session.
 * @return The architecture (an upcall_arch), or -EINVAL.
 */
int upcall_session_get_arch(upcall_session *session);

/**
 * @brief The guest server's vsock port (default 219); for the hybrid
 * transport it is the port named in `CONNECT <port>`.
 * Only before the session is opened.
 * @param session The session.
 * @param port The port, > 0.
 * @return 0, -EINVAL, or -EBUSY once opened.
 */
int upcall_session_set_port(upcall_session *session, uint32_t port);

/**
 * @brief Limit each connection attempt: connect, the hybrid handshake and
 * the guest's CONNECT message.  Default 5 s.
 * @param session The session.
 * @param usec Microseconds, > 0.
 * @return 0 or -EINVAL.
 */
int upcall_session_set_connect_timeout(upcall_session *session, uint64_t usec);

/**
 * @brief Default timeout of requests submitted from now on, counted from
 * submission.  Default 30 s; UINT64_MAX for none.
 * @param session The session.
 * @param usec Microseconds, > 0, or UINT64_MAX.
 * @return 0 or -EINVAL.
 */
int upcall_session_set_request_timeout(upcall_session *session, uint64_t usec);

/**
 * @brief Reconnect policy.  When a connection attempt fails or a ready
 * connection drops, the session waits @p min_usec, doubling up to
 * @p max_usec on each further failure, and tries again, without limit;
 * the delay resets after a successful connect.  With @p enable 0 the
 * session closes instead.  Default: enabled, 100 ms to 5 s.  A session on
 * an fd handed in by the caller cannot reconnect.
 * @param session The session.
 * @param enable Nonzero to reconnect, 0 to close on the first failure.
 * @param min_usec First delay, > 0 (ignored when @p enable is 0).
 * @param max_usec Longest delay, >= @p min_usec (ignored when @p enable
 *        is 0).
 * @return 0 or -EINVAL.
 */
int upcall_session_set_reconnect(upcall_session *session, int enable,
				 uint64_t min_usec, uint64_t max_usec);

/**
 * @brief APIC version sent with x86_64 CPU requests.  Default 0x14.
 * Only before the session is opened.
 * @param session The session.
 * @param apic_ver The APIC version byte.
 * @return 0, -EINVAL, or -EBUSY once opened.
 */
int upcall_session_set_apic_version(upcall_session *session, uint8_t apic_ver);

/**
 * @brief Connect from a privileged vsock port: before each connection
 * attempt of a session opened with upcall_session_open_vsock(), bind the
 * highest free local port from 1023 down to 512.  For guests that accept
 * only peers on such a port (the upcall guest module's `secure_port`),
 * which on vhost-vsock only a process with CAP_NET_BIND_SERVICE can use;
 * without it the attempt fails with -EACCES, and with every port taken,
 * -EADDRINUSE.  No effect on other transports (a hybrid-vsock VMM picks
 * the port).  Default off.  Only before the session is opened.
 * @param session The session.
 * @param enable Nonzero to bind a privileged port.
 * @return 0, -EINVAL, or -EBUSY once opened.
 * @since 1.1
 */
int upcall_session_set_privileged_port(upcall_session *session, int enable);

/**
 * @brief Set the state callback.
 * @param session The session.
 * @param fn Callback, or NULL.
 * @param userdata Passed to @p fn.
 * @return 0 or -EINVAL.
 */
int upcall_session_set_state_fn(upcall_session *session,
				upcall_session_state_fn fn, void *userdata);

/**
 * @brief Set a callback that releases the state callback's userdata.
 *
 * Called once, with the userdata set by upcall_session_set_state_fn() at
 * that time, when the session is freed: after its last reference is
 * dropped and every state event queued for it has been delivered, so no
 * state callback runs after it.  Replacing the userdata by
 * upcall_session_set_state_fn() does not release the old one.  (The
 * pointer of upcall_session_set_userdata() is the caller's alone.)
 * @param session The session.
 * @param fn The callback, or NULL (the default).
 * @return 0 or -EINVAL.
 * @since 1.1
 */
int upcall_session_set_destroy_fn(upcall_session *session,
				  upcall_destroy_fn fn);

/**
 * @brief Attach opaque user data to the session.
 * @param session The session.
 * @param userdata Any pointer; the library never dereferences it.
 * @return 0 or -EINVAL.
 */
int upcall_session_set_userdata(upcall_session *session, void *userdata);

/**
 * @brief User data set by upcall_session_set_userdata().
 * @param session The session.
 * @return The pointer, or NULL.
 */
void *upcall_session_get_userdata(upcall_session *session);

/**
 * @brief Open on a hybrid-vsock Unix socket (Firecracker, Cloud Hypervisor,
 * Dragonball): connect, send `CONNECT <port>\n`, expect `OK ...`.
 * Connecting continues asynchronously; a failed attempt is retried as the
 * reconnect policy says, or, with reconnect disabled, closes the session
 * (an attempt that fails at once is then returned here).
 * @param session A session never opened.
 * @param path The VMM's vsock socket path.
 * @return 0, -EINVAL, -ENAMETOOLONG, -EBUSY if already opened, -ENOMEM.
 */
int upcall_session_open_unix(upcall_session *session, const char *path);

/**
 * @brief Open on AF_VSOCK (guest CID, port).
 * @param session A session never opened.
 * @param cid The guest's context id.
 * @return 0, -EINVAL, -EBUSY, -ENOMEM.
 */
int upcall_session_open_vsock(upcall_session *session, uint32_t cid);

/**
 * @brief Open on an already-connected stream fd, which the session then
 * owns (it is closed with the session, also when this fails with anything
 * but -EINVAL or -EBUSY).  No text handshake; no reconnect.
 * @param session A session never opened.
 * @param fd A connected SOCK_STREAM socket.
 * @return 0, -EINVAL (bad arguments), -EBUSY, or why the fd cannot be
 *         used: -ENOTSOCK, -EPROTOTYPE (not SOCK_STREAM), -EBADF, or an
 *         error of fcntl(2) or epoll_ctl(2); the session is then CLOSED.
 */
int upcall_session_open_fd(upcall_session *session, int fd);

/**
 * @brief Close the session: pending requests complete with -ESHUTDOWN and
 * new ones are refused with -ENOTCONN.  Idempotent.
 * @param session The session.
 * @return 0 or -EINVAL.
 */
int upcall_session_close(upcall_session *session);

/**
 * @brief Current state.
 * @param session The session.
 * @return An upcall_session_state, or -EINVAL.
 */
int upcall_session_get_state(upcall_session *session);

/**
 * @brief Block until the session is READY or CLOSED, processing the context
 * on this thread (or waiting for the thread that does).
 * @param session The session.
 * @param timeout_usec Relative limit; UINT64_MAX for none.
 * @return 0 when ready, -ETIMEDOUT, or the error that closed the session.
 */
int upcall_session_wait_ready(upcall_session *session, uint64_t timeout_usec);

/**
 * @brief The context a session belongs to (no new reference).
 * @param session The session.
 * @return The context, or NULL.
 */
upcall_ctx *upcall_session_get_ctx(upcall_session *session);

/* ------------------------------------------------------------------ */
/* Requests                                                            */
/* ------------------------------------------------------------------ */

/**
 * @brief Completion callback, called exactly once per request unless the
 * request was dropped before completion.
 * @param req The request (valid during the call; take a reference to keep
 *        it longer).
 * @param error 0 if the guest answered (then upcall_request_get_result()
 *        gives its result), otherwise why it did not: -ETIMEDOUT,
 *        -ECANCELED, -ECONNRESET (the connection dropped), -EPROTO (the
 *        guest broke the protocol), -ESHUTDOWN (session closed), or, on a
 *        session without reconnect whose connection attempt failed, the
 *        reason (e.g. -ECONNREFUSED, -ENOENT).
 * @param userdata As given at submission.
 */
typedef void (*upcall_request_fn)(upcall_request *req, int error,
				  void *userdata);

/**
 * @brief Take a reference on a request.
 * @param req A request, or NULL.
 * @return @p req.
 */
upcall_request *upcall_request_ref(upcall_request *req);

/**
 * @brief Drop a reference.  Dropping the caller's last reference before
 * completion cancels the request silently: its callback is not called
 * (the destroy callback is).
 * @param req A request, or NULL.
 * @return NULL.
 */
upcall_request *upcall_request_unref(upcall_request *req);

/**
 * @brief Cancel a pending request: it completes with -ECANCELED.  A request
 * already sent is answered by the guest all the same; the answer is
 * discarded.
 * @param req The request.
 * @return 0, -EALREADY if it has completed, -EINVAL.
 */
int upcall_request_cancel(upcall_request *req);

/**
 * @brief Change the request's timeout, counted from its submission.
 * @param req A pending request.
 * @param usec Microseconds; UINT64_MAX for none.
 * @return 0, -EALREADY if it has completed, -EINVAL.
 */
int upcall_request_set_timeout(upcall_request *req, uint64_t usec);

/**
 * @brief Set a callback that frees the userdata when the request is freed.
 * @param req The request.
 * @param fn Called with the request's userdata when the request is freed,
 *        or NULL.
 * @return 0 or -EINVAL.
 */
int upcall_request_set_destroy_fn(upcall_request *req, upcall_destroy_fn fn);

/**
 * @brief Make the request floating, or not.
 *
 * A floating request belongs to its session until its callback has
 * returned: dropping the caller's reference no longer cancels it, so a
 * caller that wanted a handle only to set a timeout or a destroy callback
 * can drop it at once.  A request submitted with @p ret NULL is floating
 * from the start.
 * @param req The request.
 * @param floating Nonzero: floating; 0: owned by its references again
 *        (the caller must hold one).
 * @return 0 or -EINVAL.
 * @since 1.1
 */
int upcall_request_set_floating(upcall_request *req, int floating);

/**
 * @brief Whether the request is floating.
 * @param req The request.
 * @return 1, 0, or -EINVAL.
 * @since 1.1
 */
int upcall_request_get_floating(upcall_request *req);

/**
 * @brief The userdata given at submission.
 * @param req The request.
 * @return The pointer, or NULL.
 */
void *upcall_request_get_userdata(upcall_request *req);

/**
 * @brief The message type (UPCALL_MSG_* of <upcall/wire.h>).
 * @param req The request.
 * @return The type, or -EINVAL.
 */
int upcall_request_get_type(upcall_request *req);

/**
 * @brief Whether and how the request completed.
 * @param req The request.
 * @return 1 if the guest answered, a negative errno if it completed without
 *         an answer (as passed to the callback), 0 while pending.
 */
int upcall_request_get_status(upcall_request *req);

/**
 * @brief The guest's result.
 * @param req The request.
 * @param result On success, 0 or the guest's negative errno (-1 is what a
 *        guest answers to an operation it does not know).
 * @return 0, -EAGAIN while pending, -ENODATA if there was no answer.
 */
int upcall_request_get_result(upcall_request *req, int *result);

/**
 * @brief The CPU reply index: the first APIC id (x86_64) or CPU (aarch64)
 * not acted on; the count when all succeeded.  Also given on failure by
 * guests that report where they stopped (a Dragonball guest does not).
 * @param req The request.
 * @param index On success, the index.
 * @return 0, -EAGAIN while pending, -ENODATA if there was no answer, the
 *         reply carried no index, or the request is no CPU request.
 */
int upcall_request_get_cpu_index(upcall_request *req, uint32_t *index);

/** @brief What a guest serves, from the GET_INFO extension. */
typedef struct upcall_info {
	uint32_t version;	  /**< protocol version, major << 8 | minor */
	uint32_t ops;		  /**< bit n set: message type n is served */
	uint64_t mem_block_size;  /**< bytes; 0 without memory hotplug */
	uint32_t cpus_possible;	  /**< vCPUs the guest can ever have */
	uint32_t cpus_present;	  /**< vCPUs it knows of */
	uint32_t cpus_online;	  /**< vCPUs running */
	uint32_t mem_policy;	  /**< enum upcall_mem_policy of <upcall/wire.h> */
	uint32_t cpu_mode;	  /**< enum upcall_cpu_mode of <upcall/wire.h> */
	uint32_t arch;		  /**< enum upcall_guest_arch of <upcall/wire.h> */
	uint32_t reserved[6];	  /**< 0; room to grow */
} upcall_info;

/**
 * @brief The guest's capabilities, from a completed GET_INFO request.
 *
 * A guest older than info version 0x0101 does not report its vCPU mode:
 * its @c cpu_mode reads as UPCALL_CPU_MODE_UNKNOWN (0).  One older than
 * 0x0102 does not report its architecture: its @c arch reads as
 * UPCALL_GUEST_ARCH_UNKNOWN (0).  Otherwise @c arch is an ::upcall_arch
 * value (the same numbers), the one upcall_session_set_arch() must be
 * given for the guest's CPU requests.
 * @param req A request of upcall_devmgr_get_info().
 * @param info Filled on success.
 * @return 0, -EOPNOTSUPP if the guest does not know GET_INFO (a Dragonball
 *         guest), the guest's error, -EAGAIN while pending, -ENODATA if
 *         there was no answer, -EINVAL.
 */
int upcall_request_get_info(upcall_request *req, upcall_info *info);

/* ------------------------------------------------------------------ */
/* Device manager: asynchronous                                        */
/* ------------------------------------------------------------------ */

/**
 * @name Device manager: asynchronous
 *
 * Each call queues one request on the session and returns at once.  The
 * session keeps one request in flight per connection, as the protocol
 * demands, and sends the rest in order.  Requests submitted while the
 * session is connecting wait for it (their timeout runs).  When a ready
 * connection drops (a guest reboot), every pending request fails with
 * -ECONNRESET, the unsent ones too: they were meant for the guest as it
 * was, and the caller decides what to ask of the new one.  @p cb may be
 * NULL.  With @p ret NULL the request is floating: owned by the session,
 * it cannot be cancelled and is freed after its callback.  Returns 0,
 * -EINVAL for bad arguments, -ENOTCONN on a closed session, -ENOMEM.
 * @{
 */

/**
 * @brief Hot-add vCPUs.
 * @param session The session.
 * @param ids x86_64: the APIC ids (1..255 of them); aarch64: must be NULL.
 * @param n x86_64: the number of @p ids; aarch64: the number of vCPUs.
 * @param cb Completion callback, or NULL.
 * @param userdata Passed to @p cb.
 * @param ret The request handle, or NULL for a floating request.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_cpu_add(upcall_session *session, const uint8_t *ids,
			  size_t n, upcall_request_fn cb, void *userdata,
			  upcall_request **ret);

/**
 * @brief Hot-remove vCPUs.
 * @param session The session.
 * @param ids x86_64: the APIC ids (1..255 of them); aarch64: must be NULL.
 * @param n x86_64: the number of @p ids; aarch64: the number of vCPUs.
 * @param cb Completion callback, or NULL.
 * @param userdata Passed to @p cb.
 * @param ret The request handle, or NULL for a floating request.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_cpu_del(upcall_session *session, const uint8_t *ids,
			  size_t n, upcall_request_fn cb, void *userdata,
			  upcall_request **ret);

/**
 * @brief Add a virtio-mmio device.
 * @param session The session.
 * @param base Base of the register window.
 * @param size Size of the window (> 0).
 * @param irq The device's interrupt.
 * @param cb Completion callback, or NULL.
 * @param userdata Passed to @p cb.
 * @param ret The request handle, or NULL for a floating request.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_mmio_add(upcall_session *session, uint64_t base,
			   uint64_t size, uint32_t irq, upcall_request_fn cb,
			   void *userdata, upcall_request **ret);

/**
 * @brief Remove a virtio-mmio device added by upcall_devmgr_mmio_add().
 * @param session The session.
 * @param base Base of the register window.
 * @param size Size of the window (> 0).
 * @param irq The device's interrupt.
 * @param cb Completion callback, or NULL.
 * @param userdata Passed to @p cb.
 * @param ret The request handle, or NULL for a floating request.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_mmio_del(upcall_session *session, uint64_t base,
			   uint64_t size, uint32_t irq, upcall_request_fn cb,
			   void *userdata, upcall_request **ret);

/**
 * @brief Add guest memory (an upcall extension; Dragonball guests answer -1).
 * @param session The session.
 * @param addr Guest-physical start.
 * @param size Bytes (> 0).
 * @param node NUMA node.
 * @param flags UPCALL_MEM_F_MOVABLE or 0.
 * @param cb Completion callback, or NULL.
 * @param userdata Passed to @p cb.
 * @param ret The request handle, or NULL for a floating request.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_mem_add(upcall_session *session, uint64_t addr,
			  uint64_t size, uint32_t node, uint32_t flags,
			  upcall_request_fn cb, void *userdata,
			  upcall_request **ret);

/**
 * @brief Remove guest memory (an upcall extension).
 * @param session The session.
 * @param addr Guest-physical start.
 * @param size Bytes (> 0).
 * @param cb Completion callback, or NULL.
 * @param userdata Passed to @p cb.
 * @param ret The request handle, or NULL for a floating request.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_mem_del(upcall_session *session, uint64_t addr,
			  uint64_t size, upcall_request_fn cb, void *userdata,
			  upcall_request **ret);

/**
 * @brief Scan and add a PCI device (segment 0).
 * @param session The session.
 * @param bus Bus number.
 * @param devfn Device and function, (slot << 3) | function.
 * @param cb Completion callback, or NULL.
 * @param userdata Passed to @p cb.
 * @param ret The request handle, or NULL for a floating request.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_pci_add(upcall_session *session, uint8_t bus, uint8_t devfn,
			  upcall_request_fn cb, void *userdata,
			  upcall_request **ret);

/**
 * @brief Stop and remove a PCI device.
 * @param session The session.
 * @param bus Bus number.
 * @param devfn Device and function, (slot << 3) | function.
 * @param cb Completion callback, or NULL.
 * @param userdata Passed to @p cb.
 * @param ret The request handle, or NULL for a floating request.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_pci_del(upcall_session *session, uint8_t bus, uint8_t devfn,
			  upcall_request_fn cb, void *userdata,
			  upcall_request **ret);

/**
 * @brief Ask the guest what it serves (GET_INFO, an upcall extension).
 * @param session The session.
 * @param cb Completion callback, or NULL.
 * @param userdata Passed to @p cb.
 * @param ret The request handle, or NULL for a floating request.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_get_info(upcall_session *session, upcall_request_fn cb,
			   void *userdata, upcall_request **ret);

/** @} */

/* ------------------------------------------------------------------ */
/* Device manager: synchronous helpers                                 */
/* ------------------------------------------------------------------ */

/**
 * @name Device manager: synchronous helpers
 *
 * Each helper submits the asynchronous request and waits for it, processing
 * the context on the calling thread (or waiting for the thread that does).
 * @p timeout_usec bounds the wait, connecting included (0: the session's
 * request timeout).  If @p result is non-NULL it receives the guest's result
 * and the return value is only about the transport: 0 when the guest
 * answered, else a negative errno.  If @p result is NULL a guest error is
 * returned as the return value.  Must not be called from a callback.
 * @{
 */

/**
 * @brief Hot-add vCPUs and wait.
 * @param session The session.
 * @param ids As for upcall_devmgr_cpu_add().
 * @param n As for upcall_devmgr_cpu_add().
 * @param timeout_usec Wait limit, 0 for the session's request timeout.
 * @param result The guest's result, or NULL (see above).
 * @param index The CPU reply index, or NULL.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_cpu_add_sync(upcall_session *session, const uint8_t *ids,
			       size_t n, uint64_t timeout_usec, int *result,
			       uint32_t *index);

/**
 * @brief Hot-remove vCPUs and wait; see upcall_devmgr_cpu_add_sync().
 * @param session The session.
 * @param ids As for upcall_devmgr_cpu_del().
 * @param n As for upcall_devmgr_cpu_del().
 * @param timeout_usec Wait limit, 0 for the session's request timeout.
 * @param result The guest's result, or NULL (see above).
 * @param index The CPU reply index, or NULL.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_cpu_del_sync(upcall_session *session, const uint8_t *ids,
			       size_t n, uint64_t timeout_usec, int *result,
			       uint32_t *index);

/**
 * @brief Add a virtio-mmio device and wait.
 * @param session The session.
 * @param base As for upcall_devmgr_mmio_add().
 * @param size As for upcall_devmgr_mmio_add().
 * @param irq As for upcall_devmgr_mmio_add().
 * @param timeout_usec Wait limit, 0 for the session's request timeout.
 * @param result The guest's result, or NULL (see above).
 * @return 0 or a negative errno.
 */
int upcall_devmgr_mmio_add_sync(upcall_session *session, uint64_t base,
				uint64_t size, uint32_t irq,
				uint64_t timeout_usec, int *result);

/**
 * @brief Remove a virtio-mmio device and wait.
 * @param session The session.
 * @param base As for upcall_devmgr_mmio_del().
 * @param size As for upcall_devmgr_mmio_del().
 * @param irq As for upcall_devmgr_mmio_del().
 * @param timeout_usec Wait limit, 0 for the session's request timeout.
 * @param result The guest's result, or NULL (see above).
 * @return 0 or a negative errno.
 */
int upcall_devmgr_mmio_del_sync(upcall_session *session, uint64_t base,
				uint64_t size, uint32_t irq,
				uint64_t timeout_usec, int *result);

/**
 * @brief Add guest memory and wait.
 * @param session The session.
 * @param addr As for upcall_devmgr_mem_add().
 * @param size As for upcall_devmgr_mem_add().
 * @param node As for upcall_devmgr_mem_add().
 * @param flags As for upcall_devmgr_mem_add().
 * @param timeout_usec Wait limit, 0 for the session's request timeout.
 * @param result The guest's result, or NULL (see above).
 * @return 0 or a negative errno.
 */
int upcall_devmgr_mem_add_sync(upcall_session *session, uint64_t addr,
			       uint64_t size, uint32_t node, uint32_t flags,
			       uint64_t timeout_usec, int *result);

/**
 * @brief Remove guest memory and wait.
 * @param session The session.
 * @param addr As for upcall_devmgr_mem_del().
 * @param size As for upcall_devmgr_mem_del().
 * @param timeout_usec Wait limit, 0 for the session's request timeout.
 * @param result The guest's result, or NULL (see above).
 * @return 0 or a negative errno.
 */
int upcall_devmgr_mem_del_sync(upcall_session *session, uint64_t addr,
			       uint64_t size, uint64_t timeout_usec,
			       int *result);

/**
 * @brief Add a PCI device and wait.
 * @param session The session.
 * @param bus As for upcall_devmgr_pci_add().
 * @param devfn As for upcall_devmgr_pci_add().
 * @param timeout_usec Wait limit, 0 for the session's request timeout.
 * @param result The guest's result, or NULL (see above).
 * @return 0 or a negative errno.
 */
int upcall_devmgr_pci_add_sync(upcall_session *session, uint8_t bus,
			       uint8_t devfn, uint64_t timeout_usec,
			       int *result);

/**
 * @brief Remove a PCI device and wait.
 * @param session The session.
 * @param bus As for upcall_devmgr_pci_del().
 * @param devfn As for upcall_devmgr_pci_del().
 * @param timeout_usec Wait limit, 0 for the session's request timeout.
 * @param result The guest's result, or NULL (see above).
 * @return 0 or a negative errno.
 */
int upcall_devmgr_pci_del_sync(upcall_session *session, uint8_t bus,
			       uint8_t devfn, uint64_t timeout_usec,
			       int *result);

/**
 * @brief Query the guest's capabilities and wait.
 * @param session The session.
 * @param timeout_usec Wait limit, 0 for the session's request timeout.
 * @param result The guest's result, or NULL (see above): 0 when @p info
 *        was filled, -EOPNOTSUPP for a guest without the extension (a
 *        Dragonball guest: not an error of the session), else the guest's
 *        error.
 * @param info Filled when the guest's result is 0.
 * @return 0 or a negative errno.
 */
int upcall_devmgr_get_info_sync(upcall_session *session,
				uint64_t timeout_usec, int *result,
				upcall_info *info);

/** @} */

/**
 * @brief Wait for a request to complete, processing the context on this
 * thread (or waiting for the thread that does).  Must not be called from
 * a callback.
 * @param req The request.
 * @param timeout_usec Relative limit; UINT64_MAX for none.
 * @return 0 when it has completed (see upcall_request_get_status()),
 *         -ETIMEDOUT if the wait ran out first (the request stays pending).
 */
int upcall_request_wait(upcall_request *req, uint64_t timeout_usec);

#ifdef __cplusplus
}
#endif

#endif /* _UPCALL_UPCALL_H */
