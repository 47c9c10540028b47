// SPDX-License-Identifier: MIT
/*
 * SWIG interface of the `upcall._upcall` extension: libupcall's functions,
 * close to C, for the pure-Python layer in upcall/__init__.py (which is what
 * users import).  This module is private: its pointers are borrowed handles
 * whose references the Python layer takes and drops explicitly.
 *
 * Conventions of the wrapped functions:
 *   - Functions return the C return value (0/positive or -errno); trailing
 *     out-parameters (`**ret`, `*result`, `*index`, `*usec`, `*info`) are
 *     appended, so `r, ctx = upcall_ctx_new()`.
 *   - `(const uint8_t *ids, size_t n)` is one argument: a bytes-like object
 *     of APIC ids, or an int (a count, ids NULL, for aarch64 guests).
 *   - `(upcall_request_fn cb, void *userdata, upcall_request **ret)` is one
 *     argument: a callable or None.  The callable is the request's userdata
 *     (one reference, dropped by the request's destroy callback) and is
 *     called as callable(req, error) through a C trampoline.
 *   - Every call releases the GIL (swig -threads), so a thread blocked in
 *     libupcall never holds it, and the library's processing thread can
 *     always take it to run a callback.  The trampolines take the GIL only
 *     where libupcall holds no lock of its own, so the lock order is
 *     always GIL, then library lock (a submission's argout takes one
 *     briefly, GIL held) and cannot deadlock.
 *   - An exception raised by a callback is re-raised by the wrapped call
 *     that dispatched it (upcall_ctx_process(), and the waits)
 *     on the same thread; the first one wins, later ones and those raised
 *     on a thread with no such call (the library thread) are reported with
 *     sys.unraisablehook.
 *
 * The log callback is not wrapped as such: libupcall calls it with a library
 * lock held, where taking the GIL would invert the lock order above (and
 * Python code may drop the last reference of a binding object and so
 * re-enter the library).  pyu_ctx_log_start() installs a C callback that
 * only formats each message into a ring of the context's own (its log
 * userdata, freed by upcall_ctx_set_log_destroy_fn() with the context);
 * the Python layer drains it with pyu_log_drain() into `logging`.
 */
%module(package="upcall", docstring="libupcall, wrapped by SWIG (private: use the upcall package)") _upcall

%{
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <upcall/upcall.h>
#include <upcall/wire.h>

/* ------------------------------------------------ callback exceptions */

/*
 * Per thread: how deep in wrapped calls that may dispatch callbacks, and the
 * first exception a callback raised there.  Only touched with the GIL held.
 */
static __thread int pyu_catch_depth;
#if PY_VERSION_HEX >= 0x030C0000
static __thread PyObject *pyu_exc;
#else
static __thread PyObject *pyu_exc_type, *pyu_exc_value, *pyu_exc_tb;
#endif

static void pyu_catch_begin(void)
{
	pyu_catch_depth++;
}

/* Leave a dispatching call: 1 with the stored exception set, else 0. */
static int pyu_catch_end(void)
{
	if (--pyu_catch_depth > 0)
		return 0;
#if PY_VERSION_HEX >= 0x030C0000
	if (!pyu_exc)
		return 0;
	PyErr_SetRaisedException(pyu_exc);
	pyu_exc = NULL;
#else
	if (!pyu_exc_type)
		return 0;
	PyErr_Restore(pyu_exc_type, pyu_exc_value, pyu_exc_tb);
	pyu_exc_type = pyu_exc_value = pyu_exc_tb = NULL;
#endif
	return 1;
}

/* GIL held, an exception set by a callback: keep it or report it. */
static void pyu_callback_failed(PyObject *where)
{
#if PY_VERSION_HEX >= 0x030C0000
	if (pyu_catch_depth > 0 && !pyu_exc) {
		pyu_exc = PyErr_GetRaisedException();
		return;
	}
#else
	if (pyu_catch_depth > 0 && !pyu_exc_type) {
		PyErr_Fetch(&pyu_exc_type, &pyu_exc_value, &pyu_exc_tb);
		PyErr_NormalizeException(&pyu_exc_type, &pyu_exc_value, &pyu_exc_tb);
		if (pyu_exc_tb && pyu_exc_value)
			PyException_SetTraceback(pyu_exc_value, pyu_exc_tb);
		return;
	}
#endif
	PyErr_WriteUnraisable(where);
}

/*
 * A callback may arrive on the library thread while the interpreter shuts
 * down; taking the GIL then would hang or kill that thread.  The package
 * stops library threads at exit; this is the last guard.
 */
static int pyu_python_gone(void)
{
#if PY_VERSION_HEX >= 0x030D0000
	return !Py_IsInitialized() || Py_IsFinalizing();
#else
	return !Py_IsInitialized() || _Py_IsFinalizing();
#endif
}

/* ---------------------------------------------------------- requests */

static swig_type_info *pyu_request_type(void);

/* The upcall_request_fn of every request submitted with a callable. */
static void pyu_request_cb(upcall_request *req, int error, void *userdata)
{
	PyObject *fn = userdata, *preq, *res;
	PyGILState_STATE g;

	if (pyu_python_gone())
		return;
	g = PyGILState_Ensure();
	preq = SWIG_NewPointerObj(req, pyu_request_type(), 0);
	res = preq ? PyObject_CallFunction(fn, "Oi", preq, error) : NULL;
	Py_XDECREF(preq);
	if (res)
		Py_DECREF(res);
	else
		pyu_callback_failed(fn);
	PyGILState_Release(g);
}

/* The destroy callback of a request's and a session's callable: drop the
 * reference libupcall held. */
static void pyu_request_destroy(void *userdata)
{
	PyGILState_STATE g;

	if (pyu_python_gone())
		return;		/* leak rather than touch a dying interpreter */
	g = PyGILState_Ensure();
	Py_DECREF((PyObject *)userdata);
	PyGILState_Release(g);
}

/* ---------------------------------------------------------- sessions */

/*
 * A session's state callback gets a Python callable as userdata, with one
 * reference that the session's destroy callback drops when libupcall frees
 * the session (after its last queued state event), so the callable can
 * never be called after it was released.
 */
static void pyu_state_cb(upcall_session *s, upcall_session_state state,
			 int error, void *userdata)
{
	PyObject *fn = userdata, *res;
	PyGILState_STATE g;

	(void)s;
	if (pyu_python_gone())
		return;
	g = PyGILState_Ensure();
	res = PyObject_CallFunction(fn, "ii", (int)state, error);
	if (res)
		Py_DECREF(res);
	else
		pyu_callback_failed(fn);
	PyGILState_Release(g);
}

/* -------------------------------------------------------------- log */

#define PYU_LOG_SLOTS 256

/* A context's log userdata: a ring of formatted messages. */
struct pyu_log {
	pthread_mutex_t lock;
	unsigned int head, n;
	unsigned long dropped;
	struct {
		int prio;
		char msg[240];
	} slot[PYU_LOG_SLOTS];
};

/* How many rings the destroy callback freed (the tests count them). */
static unsigned long pyu_logs_freed;

/* Library lock held, GIL maybe not: touch nothing of Python's. */
static void pyu_log_cb(upcall_ctx *ctx, int priority, const char *file,
		       int line, const char *fn, const char *format,
		       va_list args, void *userdata)
{
	struct pyu_log *l = userdata;
	unsigned int i;

	(void)ctx; (void)file; (void)line; (void)fn;
	pthread_mutex_lock(&l->lock);
	if (l->n == PYU_LOG_SLOTS) {
		l->dropped++;
	} else {
		i = (l->head + l->n++) % PYU_LOG_SLOTS;
		l->slot[i].prio = priority;
		vsnprintf(l->slot[i].msg, sizeof(l->slot[i].msg), format, args);
	}
	pthread_mutex_unlock(&l->lock);
}

/* The log destroy callback: the context is gone, so is every log call. */
static void pyu_log_free(void *userdata)
{
	struct pyu_log *l = userdata;

	pthread_mutex_destroy(&l->lock);
	free(l);
	__atomic_add_fetch(&pyu_logs_freed, 1, __ATOMIC_RELAXED);
}
%}

%include <stdint.i>

/* ------------------------------------------------------------ typemaps */

/* Results by out-parameter are appended to the return value. */
%define PYU_OUT_HANDLE(TYPE)
%typemap(in, numinputs=0) TYPE **ret (TYPE *tmp = NULL) {
	$1 = &tmp;
}
%typemap(argout) TYPE **ret {
	$result = SWIG_Python_AppendOutput($result,
		*$1 ? SWIG_NewPointerObj(*$1, $*1_descriptor, 0) : SWIG_Py_Void());
}
%enddef
PYU_OUT_HANDLE(upcall_ctx)
PYU_OUT_HANDLE(upcall_session)

%typemap(in, numinputs=0) int *result (int tmp = 0) {
	$1 = &tmp;
}
%typemap(argout) int *result {
	$result = SWIG_Python_AppendOutput($result, PyLong_FromLong(*$1));
}
%typemap(in, numinputs=0) uint32_t *index (uint32_t tmp = UINT32_MAX) {
	$1 = &tmp;
}
%typemap(argout) uint32_t *index {
	$result = SWIG_Python_AppendOutput($result, PyLong_FromUnsignedLong(*$1));
}
%typemap(in, numinputs=0) uint64_t *usec (uint64_t tmp = 0) {
	$1 = &tmp;
}
%typemap(argout) uint64_t *usec {
	$result = SWIG_Python_AppendOutput($result,
					   PyLong_FromUnsignedLongLong(*$1));
}

/* struct upcall_info comes back as a dict (all zero when not filled). */
%typemap(in, numinputs=0) upcall_info *info (upcall_info tmp) {
	memset(&tmp, 0, sizeof(tmp));
	$1 = &tmp;
}
%typemap(argout) upcall_info *info {
	PyObject *d = Py_BuildValue("{s:k,s:k,s:K,s:k,s:k,s:k,s:k,s:k,s:k}",
		"version", (unsigned long)$1->version,
		"ops", (unsigned long)$1->ops,
		"mem_block_size", (unsigned long long)$1->mem_block_size,
		"cpus_possible", (unsigned long)$1->cpus_possible,
		"cpus_present", (unsigned long)$1->cpus_present,
		"cpus_online", (unsigned long)$1->cpus_online,
		"mem_policy", (unsigned long)$1->mem_policy,
		"cpu_mode", (unsigned long)$1->cpu_mode,
		"arch", (unsigned long)$1->arch);
	if (!d)
		SWIG_fail;
	$result = SWIG_Python_AppendOutput($result, d);
}

/* (ids, n): bytes-like APIC ids (x86_64), or an int count (aarch64). */
%typemap(in) (const uint8_t *ids, size_t n) (Py_buffer view, int have_view = 0) {
	if (PyLong_Check($input)) {
		$1 = NULL;
		$2 = PyLong_AsSize_t($input);
		if ($2 == (size_t)-1 && PyErr_Occurred())
			SWIG_fail;
	} else {
		if (PyObject_GetBuffer($input, &view, PyBUF_SIMPLE) < 0)
			SWIG_fail;
		have_view = 1;
		$1 = ($1_ltype)view.buf;
		$2 = (size_t)view.len;
	}
}
%typemap(freearg) (const uint8_t *ids, size_t n) {
	if (have_view$argnum)
		PyBuffer_Release(&view$argnum);
}

/*
 * (cb, userdata, ret): a callable or None in, the request handle out.  The
 * callable goes to the request as userdata with one reference, which its
 * destroy callback drops; if submission fails, no request exists and the
 * reference is dropped here.  The handle is never floating: a floating
 * request could not get its destroy callback.
 */
%typemap(in) (upcall_request_fn cb, void *userdata, upcall_request **ret)
	     (upcall_request *req = NULL) {
	if ($input == Py_None) {
		$1 = NULL;
		$2 = NULL;
	} else if (PyCallable_Check($input)) {
		$1 = pyu_request_cb;
		$2 = $input;
	} else {
		SWIG_exception_fail(SWIG_TypeError,
				    "the callback must be callable or None");
	}
	Py_XINCREF((PyObject *)$2);
	$3 = &req;
}
%typemap(argout) (upcall_request_fn cb, void *userdata, upcall_request **ret) {
	if (result < 0) {
		Py_XDECREF((PyObject *)$2);
		$result = SWIG_Python_AppendOutput($result, SWIG_Py_Void());
	} else {
		if ($2)
			upcall_request_set_destroy_fn(*$3, pyu_request_destroy);
		$result = SWIG_Python_AppendOutput($result,
			SWIG_NewPointerObj(*$3, $*3_descriptor, 0));
	}
}

/* ------------------------------------------- calls that run callbacks */

%define PYU_DISPATCHES(FN)
%exception FN {
	pyu_catch_begin();
	$action
	if (pyu_catch_end())
		SWIG_fail;
}
%enddef
PYU_DISPATCHES(upcall_ctx_process)
PYU_DISPATCHES(upcall_ctx_run)
PYU_DISPATCHES(upcall_session_wait_ready)
PYU_DISPATCHES(upcall_request_wait)

/* ------------------------------------------------------------ the API */

/* Wrapped by hand below, or meaningless in Python (void * userdata). */
%ignore upcall_ctx_set_log_fn;
%ignore upcall_ctx_set_log_destroy_fn;
/* The caller-polls-the-sockets mode: a C loop's tool (its callback runs
 * with the context's lock held, which no binding's runtime can honour). */
%ignore upcall_ctx_set_io_fn;
%ignore upcall_session_process;
%ignore upcall_session_set_state_fn;
%ignore upcall_session_set_userdata;
%ignore upcall_session_get_userdata;
%ignore upcall_session_get_ctx;
%ignore upcall_request_set_destroy_fn;
%ignore upcall_request_get_userdata;
%ignore upcall_info;
/* Blocking helpers: the Python layer waits on the request itself. */
%rename("$ignore", regexmatch$name="^upcall_devmgr_.*_sync$") "";
/* The state userdata is released by pyu_session_watch()'s destroy callback;
 * the request's floating flag is set, never read. */
%ignore upcall_session_set_destroy_fn;
%ignore upcall_request_get_floating;

%include "upcall/upcall.h"

/* Constants of <upcall/wire.h> the Python layer names. */
%constant unsigned long long UPCALL_TIMEOUT_INFINITY = UINT64_MAX;
%constant unsigned int UPCALL_DEFAULT_PORT = UPCALL_DEFAULT_PORT;
%constant unsigned int UPCALL_CPU_MAX_COUNT = UPCALL_CPU_MAX_COUNT;
%constant unsigned int UPCALL_MEM_F_MOVABLE = UPCALL_MEM_F_MOVABLE;
%constant int UPCALL_MSG_ADD_CPU = UPCALL_MSG_ADD_CPU;
%constant int UPCALL_MSG_DEL_CPU = UPCALL_MSG_DEL_CPU;
%constant int UPCALL_MSG_ADD_MEM = UPCALL_MSG_ADD_MEM;
%constant int UPCALL_MSG_DEL_MEM = UPCALL_MSG_DEL_MEM;
%constant int UPCALL_MSG_ADD_MMIO = UPCALL_MSG_ADD_MMIO;
%constant int UPCALL_MSG_DEL_MMIO = UPCALL_MSG_DEL_MMIO;
%constant int UPCALL_MSG_ADD_PCI = UPCALL_MSG_ADD_PCI;
%constant int UPCALL_MSG_DEL_PCI = UPCALL_MSG_DEL_PCI;
%constant int UPCALL_MSG_GET_INFO = UPCALL_MSG_GET_INFO;
%constant unsigned int UPCALL_MEM_POLICY_OFFLINE = UPCALL_MEM_POLICY_OFFLINE;
%constant unsigned int UPCALL_MEM_POLICY_ONLINE = UPCALL_MEM_POLICY_ONLINE;
%constant unsigned int UPCALL_MEM_POLICY_ONLINE_KERNEL = UPCALL_MEM_POLICY_ONLINE_KERNEL;
%constant unsigned int UPCALL_MEM_POLICY_ONLINE_MOVABLE = UPCALL_MEM_POLICY_ONLINE_MOVABLE;
%constant unsigned int UPCALL_MEM_POLICY_UNKNOWN = UPCALL_MEM_POLICY_UNKNOWN;
%constant unsigned int UPCALL_CPU_MODE_UNKNOWN = UPCALL_CPU_MODE_UNKNOWN;
%constant unsigned int UPCALL_CPU_MODE_NONE = UPCALL_CPU_MODE_NONE;
%constant unsigned int UPCALL_CPU_MODE_HOTADD = UPCALL_CPU_MODE_HOTADD;
%constant unsigned int UPCALL_CPU_MODE_PARKED = UPCALL_CPU_MODE_PARKED;
%constant unsigned int UPCALL_GUEST_ARCH_UNKNOWN = UPCALL_GUEST_ARCH_UNKNOWN;

/* ------------------------------------------------- helpers for Python */

%{
static swig_type_info *pyu_request_type(void)
{
	return SWIGTYPE_p_upcall_request;
}
%}

/* It manipulates a Python object: it keeps the GIL. */
%nothread pyu_session_watch;

%inline %{
/*
 * Route a session's state events to a callable, called as fn(state, error);
 * set once, when the session is made (replacing the userdata would not
 * release the old one).  The session's destroy callback drops the
 * reference taken here.
 */
static int pyu_session_watch(upcall_session *session, PyObject *fn)
{
	int r;

	if (!PyCallable_Check(fn))
		return -EINVAL;
	r = upcall_session_set_destroy_fn(session, pyu_request_destroy);
	if (r < 0)
		return r;
	Py_INCREF(fn);
	r = upcall_session_set_state_fn(session, pyu_state_cb, fn);
	if (r < 0)
		Py_DECREF(fn);
	return r;
}
%}

/* Python objects: they keep the GIL (only the ring's own lock is taken). */
%nothread pyu_log_drain;
%nothread pyu_logs_freed_count;

%inline %{
struct pyu_log;

/*
 * Capture a context's log, messages up to @priority, into a ring released
 * with the context by its log destroy callback; once per context.  Returns
 * the ring for pyu_log_drain() (valid while the context lives), or None.
 */
static struct pyu_log *pyu_ctx_log_start(upcall_ctx *ctx, int priority)
{
	struct pyu_log *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	pthread_mutex_init(&l->lock, NULL);
	if (upcall_ctx_set_log_priority(ctx, priority) < 0 ||
	    upcall_ctx_set_log_destroy_fn(ctx, pyu_log_free) < 0)
		goto fail;
	if (upcall_ctx_set_log_fn(ctx, pyu_log_cb, l) < 0) {
		upcall_ctx_set_log_destroy_fn(ctx, NULL);
		goto fail;
	}
	return l;
fail:
	pthread_mutex_destroy(&l->lock);
	free(l);
	return NULL;
}

/* The messages logged since the last call, as [(priority, message)]. */
static PyObject *pyu_log_drain(struct pyu_log *l)
{
	PyObject *list = PyList_New(0), *item;
	unsigned int i;
	int ok = list != NULL;

	if (!l)
		return list;
	pthread_mutex_lock(&l->lock);
	for (; l->n > 0 && ok; l->n--, l->head = (l->head + 1) % PYU_LOG_SLOTS) {
		i = l->head;
		item = Py_BuildValue("(is)", l->slot[i].prio, l->slot[i].msg);
		ok = item && PyList_Append(list, item) == 0;
		Py_XDECREF(item);
	}
	if (ok && l->dropped) {
		item = Py_BuildValue("(is)", 4, "log messages dropped: the ring was full");
		ok = item && PyList_Append(list, item) == 0;
		Py_XDECREF(item);
		l->dropped = 0;
	}
	pthread_mutex_unlock(&l->lock);
	if (!ok)
		Py_CLEAR(list);
	return list;
}

static unsigned long pyu_logs_freed_count(void)
{
	return __atomic_load_n(&pyu_logs_freed, __ATOMIC_RELAXED);
}
%}
