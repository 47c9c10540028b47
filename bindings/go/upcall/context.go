// SPDX-License-Identifier: MIT

package upcall

/*
#cgo pkg-config: libupcall
#include <stdint.h>
#include "shim.h"
*/
import "C"

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/upcall/upcall/bindings/go/internal/cupcall"
)

// Version is the version of the libupcall loaded at run time, e.g. "1.0.0".
func Version() string { return cupcall.Upcall_version() }

// A Context owns one libupcall context: its epoll fd and any number of
// sessions.  A goroutine of the Context processes it (I/O, timeouts,
// completions); it is idle in the Go runtime's poller between events, so a
// Context costs no OS thread.  All methods are safe for concurrent use.
//
// Close it when done; an unreachable Context is closed by a finalizer, but
// not before every Session on it is unreachable too.
type Context struct {
	core *ctxCore
}

// ctxCore is what the processing goroutine and the sessions refer to, so
// that the Context itself can become unreachable and be finalized.
type ctxCore struct {
	ptr   cupcall.Struct_SS_upcall_ctx
	file  *os.File      // a dup of the epoll fd, in the Go runtime's poller
	ended chan struct{} // closed when the processing goroutine returns
	logFn func(priority int, msg string)

	mu       sync.Mutex
	closed   bool
	sessions map[*sessionCore]struct{}
}

// ContextOption configures NewContext.
type ContextOption func(*ctxCore)

// WithLog passes libupcall's log messages up to priority (a syslog
// priority: 3 errors, the default without this option, .. 7 debug) to fn.
// fn runs on whatever goroutine is in the library at the time, with a
// library lock held: it must return quickly and must not call this package.
func WithLog(priority int, fn func(priority int, msg string)) ContextOption {
	return func(c *ctxCore) {
		c.logFn = fn
		cupcall.Upcall_ctx_set_log_priority(c.ptr, priority)
	}
}

// NewContext creates a context and starts its processing goroutine.
func NewContext(opts ...ContextOption) (*Context, error) {
	var p uintptr

	if r := cupcall.Upcall_ctx_new(&p); r < 0 {
		return nil, errnoErr("context-new", r)
	}
	c := &ctxCore{
		ptr:      cupcall.SwigcptrStruct_SS_upcall_ctx(p),
		ended:    make(chan struct{}),
		sessions: make(map[*sessionCore]struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	if c.logFn != nil {
		// The context owns the handle: its log destroy callback deletes it.
		h := newLogHandle(c.logFn)
		if r := C.upcallgo_set_log_fn(C.uintptr_t(p), C.uintptr_t(h)); r < 0 {
			releaseHandle(C.uintptr_t(h), &liveLogHandles)
			c.release()
			return nil, errnoErr("context-new", int(r))
		}
	}
	if err := c.startLoop(); err != nil {
		c.release()
		return nil, err
	}
	atomic.AddInt64(&liveContexts, 1)
	ctx := &Context{core: c}
	runtime.SetFinalizer(ctx, (*Context).Close)
	return ctx, nil
}

// startLoop hands a duplicate of the epoll fd to the Go runtime's poller.
// The fd is readable whenever the context has work, a timeout expiry
// included, so the goroutine needs no timer of its own.
func (c *ctxCore) startLoop() error {
	fd := cupcall.Upcall_ctx_get_fd(c.ptr)
	if fd < 0 {
		return errnoErr("context-new", fd)
	}
	dup, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd),
		syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return &Error{Op: "context-new", Errno: e}
	}
	// O_NONBLOCK makes os.NewFile register the fd with the poller; it does
	// not change epoll_wait(2), which the library calls with timeout 0.
	if err := syscall.SetNonblock(int(dup), true); err != nil {
		syscall.Close(int(dup))
		return &Error{Op: "context-new", Errno: err.(syscall.Errno)}
	}
	c.file = os.NewFile(dup, "upcall-context")
	rc, err := c.file.SyscallConn()
	if err != nil {
		c.file.Close()
		return &Error{Op: "context-new", Errno: syscall.EINVAL, detail: err.Error()}
	}
	go c.loop(rc)
	return nil
}

// loop processes the context each time its fd becomes readable, until the
// file is closed.  The poller is edge-triggered, so each round processes
// until nothing is left.
func (c *ctxCore) loop(rc syscall.RawConn) {
	defer close(c.ended)
	for {
		err := rc.Read(func(uintptr) bool {
			for cupcall.Upcall_ctx_process(c.ptr) > 0 {
			}
			return false // wait for the next event
		})
		if err != nil {
			return // the file was closed: Close is under way
		}
	}
}

// Close closes every session of the context (their pending requests fail
// with ESHUTDOWN), stops the processing goroutine and frees the context.
// Sessions already handed out stay valid objects whose calls fail with
// ENOTCONN.  Close is idempotent and returns nil.
func (ctx *Context) Close() error {
	runtime.SetFinalizer(ctx, nil)
	ctx.core.close()
	return nil
}

func (c *ctxCore) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	sessions := c.sessions
	c.sessions = nil
	c.mu.Unlock()

	for s := range sessions {
		s.close()
	}
	// Closing the file wakes the goroutine; wait until it no longer
	// processes, then deliver what is left (the ESHUTDOWN completions) on
	// this goroutine: nothing is pending once every session is closed.
	c.file.Close()
	<-c.ended
	cupcall.Upcall_ctx_run(c.ptr, 5_000_000)
	c.release()
	atomic.AddInt64(&liveContexts, -1)
}

// liveContexts counts contexts not closed yet (tests).
var liveContexts int64

// release drops the Go side's reference; C requests still held by callers
// keep the C context alive until they are dropped.  When libupcall frees
// it, its log destroy callback deletes the log function's handle.
func (c *ctxCore) release() {
	cupcall.Upcall_ctx_unref(c.ptr)
}

// addSession registers a session core; false if the context is closed.
func (c *ctxCore) addSession(s *sessionCore) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.sessions[s] = struct{}{}
	return true
}

func (c *ctxCore) removeSession(s *sessionCore) {
	c.mu.Lock()
	if c.sessions != nil {
		delete(c.sessions, s)
	}
	c.mu.Unlock()
}
