// SPDX-License-Identifier: MIT

package upcall

/*
#cgo pkg-config: libupcall
#include <stdint.h>
#include "shim.h"
*/
import "C"

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/upcall/upcall/bindings/go/internal/cupcall"
)

// A Session is a connection to one guest's upcall server, reconnected as
// its reconnect policy says.  Requests submitted while it connects wait
// for it (their timeout runs); the session sends them one at a time, in
// order.  All methods are safe for concurrent use.
//
// Close it when done; an unreachable Session is closed by a finalizer.  A
// Session keeps its Context reachable.
type Session struct {
	core *sessionCore
	ctx  *Context
}

type sessionCore struct {
	ctx            *ctxCore
	ptr            cupcall.Struct_SS_upcall_session
	requestTimeout time.Duration // the session's default; <= 0: none

	mu     sync.RWMutex // write: close; read: calls that use ptr
	closed bool

	stateMu sync.Mutex
	state   State
	lastErr int           // of the last state event, negative errno or 0
	changed chan struct{} // closed and replaced on every state event
}

// Option configures a session before it opens.
type Option func(*sessionConfig)

type sessionConfig struct {
	arch                       Arch
	port                       int64
	apicVersion                int
	privilegedPort             bool
	connectTimeout             time.Duration
	requestTimeout             time.Duration
	reconnectSet, reconnect    bool
	reconnectMin, reconnectMax time.Duration
}

// WithArch sets the guest's wire format.  Default: the host's architecture.
func WithArch(a Arch) Option { return func(c *sessionConfig) { c.arch = a } }

// WithPort sets the guest server's vsock port (default 219); on a hybrid
// vsock socket it is the port named in "CONNECT <port>".
func WithPort(port uint32) Option {
	return func(c *sessionConfig) { c.port = int64(port) }
}

// WithConnectTimeout limits each connection attempt (default 5 s).
func WithConnectTimeout(d time.Duration) Option {
	return func(c *sessionConfig) { c.connectTimeout = d }
}

// WithRequestTimeout sets the timeout of each request, counted from its
// submission (default 30 s); d <= 0 means none.  A call's context deadline,
// when earlier, takes its place.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *sessionConfig) { c.requestTimeout = d }
}

// WithReconnect sets the reconnect back-off: min, doubling up to max
// (default 100 ms to 5 s).  Sessions on a connection handed in by
// OpenConn never reconnect.
func WithReconnect(min, max time.Duration) Option {
	return func(c *sessionConfig) {
		c.reconnectSet, c.reconnect = true, true
		c.reconnectMin, c.reconnectMax = min, max
	}
}

// WithoutReconnect closes the session when its connection fails instead.
func WithoutReconnect() Option {
	return func(c *sessionConfig) { c.reconnectSet, c.reconnect = true, false }
}

// WithAPICVersion sets the APIC version sent with x86_64 CPU requests
// (default 0x14).
func WithAPICVersion(v uint8) Option {
	return func(c *sessionConfig) { c.apicVersion = int(v) }
}

// WithPrivilegedPort connects an AF_VSOCK session from a port below 1024
// (the highest free one from 1023 down), for a guest that accepts only
// such peers (the upcall guest module's secure_port); it needs
// CAP_NET_BIND_SERVICE.  Other transports ignore it.  libupcall 1.1.
func WithPrivilegedPort() Option {
	return func(c *sessionConfig) { c.privilegedPort = true }
}

// usec converts a duration to libupcall's microseconds, d <= 0 to "none".
func usec(d time.Duration) uint64 {
	if d <= 0 {
		return math.MaxUint64
	}
	return uint64(d / time.Microsecond)
}

func (cfg *sessionConfig) apply(p cupcall.Struct_SS_upcall_session) int {
	if cfg.arch != 0 {
		if r := cupcall.Upcall_session_set_arch(p, cupcall.Enum_SS_upcall_arch(cfg.arch)); r < 0 {
			return r
		}
	}
	if cfg.port >= 0 {
		if r := cupcall.Upcall_session_set_port(p, uint(cfg.port)); r < 0 {
			return r
		}
	}
	if cfg.apicVersion >= 0 {
		if r := cupcall.Upcall_session_set_apic_version(p, byte(cfg.apicVersion)); r < 0 {
			return r
		}
	}
	if cfg.privilegedPort {
		if r := cupcall.Upcall_session_set_privileged_port(p, 1); r < 0 {
			return r
		}
	}
	if cfg.connectTimeout != 0 {
		if cfg.connectTimeout < time.Microsecond {
			return -int(syscall.EINVAL)
		}
		if r := cupcall.Upcall_session_set_connect_timeout(p, usec(cfg.connectTimeout)); r < 0 {
			return r
		}
	}
	if r := cupcall.Upcall_session_set_request_timeout(p, usec(cfg.requestTimeout)); r < 0 {
		return r
	}
	if cfg.reconnectSet {
		enable := 0
		if cfg.reconnect {
			enable = 1
		}
		r := cupcall.Upcall_session_set_reconnect(p, enable,
			uint64(cfg.reconnectMin/time.Microsecond),
			uint64(cfg.reconnectMax/time.Microsecond))
		if r < 0 {
			return r
		}
	}
	return 0
}

// OpenUnix opens a session on a hybrid-vsock Unix socket (Firecracker,
// Cloud Hypervisor, Dragonball): connect, "CONNECT <port>\n", "OK ...".
// It returns once connecting has started; see Session.WaitReady.
func (ctx *Context) OpenUnix(path string, opts ...Option) (*Session, error) {
	return ctx.open("open-unix", opts, nil, func(p cupcall.Struct_SS_upcall_session) int {
		return cupcall.Upcall_session_open_unix(p, path)
	})
}

// OpenVsock opens a session on AF_VSOCK to the guest with context id cid.
func (ctx *Context) OpenVsock(cid uint32, opts ...Option) (*Session, error) {
	return ctx.open("open-vsock", opts, nil, func(p cupcall.Struct_SS_upcall_session) int {
		return cupcall.Upcall_session_open_vsock(p, uint(cid))
	})
}

// OpenConn opens a session on an already connected stream socket, such as
// a *net.UnixConn or an *os.File: no text handshake, no reconnect.  The
// session uses a duplicate of its fd; the caller may close conn at once.
func (ctx *Context) OpenConn(conn syscall.Conn, opts ...Option) (*Session, error) {
	rc, err := conn.SyscallConn()
	if err != nil {
		return nil, &Error{Op: "open-fd", Errno: syscall.EINVAL, detail: err.Error()}
	}
	fd := -1
	var errno syscall.Errno
	err = rc.Control(func(f uintptr) {
		r, _, e := syscall.Syscall(syscall.SYS_FCNTL, f, syscall.F_DUPFD_CLOEXEC, 0)
		fd, errno = int(r), e
	})
	if err != nil {
		return nil, &Error{Op: "open-fd", Errno: syscall.EBADF, detail: err.Error()}
	}
	if errno != 0 {
		return nil, &Error{Op: "open-fd", Errno: errno}
	}
	return ctx.open("open-fd", opts, func() { syscall.Close(fd) },
		func(p cupcall.Struct_SS_upcall_session) int {
			return cupcall.Upcall_session_open_fd(p, fd)
		})
}

// open creates, configures and opens a session; unopened runs if it fails
// before openFn is called (openFn owns what it is given).
func (ctx *Context) open(op string, opts []Option, unopened func(),
	openFn func(cupcall.Struct_SS_upcall_session) int) (*Session, error) {
	cfg := sessionConfig{port: -1, apicVersion: -1, requestTimeout: 30 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	c := ctx.core
	fail := func(r int) (*Session, error) {
		if unopened != nil {
			unopened()
		}
		return nil, errnoErr(op, r)
	}

	// The context stays locked until the session is registered, so Close
	// either sees it or is seen by us, and never frees the C context under
	// upcall_session_new().
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fail(-int(syscall.ENOTCONN))
	}
	var raw uintptr
	if r := cupcall.Upcall_session_new(c.ptr, &raw); r < 0 {
		return fail(r)
	}
	p := cupcall.SwigcptrStruct_SS_upcall_session(raw)
	if r := cfg.apply(p); r < 0 {
		cupcall.Upcall_session_unref(p)
		return fail(r)
	}
	s := &sessionCore{
		ctx:            c,
		ptr:            p,
		requestTimeout: cfg.requestTimeout,
		state:          StateConnecting,
		changed:        make(chan struct{}),
	}
	// The C session owns the handle from here: its destroy callback
	// deletes it when libupcall frees the session, whichever way it goes.
	h := newStateHandle(s)
	if r := C.upcallgo_set_state_fn(C.uintptr_t(raw), C.uintptr_t(h)); r < 0 {
		releaseHandle(C.uintptr_t(h), &liveStateHandles)
		cupcall.Upcall_session_unref(p)
		return fail(int(r))
	}
	if r := openFn(p); r < 0 {
		cupcall.Upcall_session_unref(p)
		return nil, errnoErr(op, r)
	}
	c.sessions[s] = struct{}{}
	atomic.AddInt64(&liveSessions, 1)
	sess := &Session{core: s, ctx: ctx}
	runtime.SetFinalizer(sess, (*Session).Close)
	return sess, nil
}

// setState records a state event (from the state callback, or Close).
func (s *sessionCore) setState(st State, err int) {
	s.stateMu.Lock()
	defer s.stateMu.Unlock()
	if s.state == StateClosed {
		return
	}
	s.state = st
	s.lastErr = err
	close(s.changed)
	s.changed = make(chan struct{})
}

// Close closes the session: its pending requests fail with ESHUTDOWN, new
// ones with ENOTCONN.  Idempotent; returns nil.
func (sess *Session) Close() error {
	runtime.SetFinalizer(sess, nil)
	sess.core.close()
	return nil
}

func (s *sessionCore) close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	// Closed here first: the state events libupcall still delivers to s,
	// its own CLOSED among them, are then ignored (WaitReady says
	// ESHUTDOWN, not the 0 of that event).  The session's destroy callback
	// deletes the handle after the last of them.
	s.setState(StateClosed, -int(syscall.ESHUTDOWN))
	cupcall.Upcall_session_close(s.ptr)
	cupcall.Upcall_session_unref(s.ptr)
	s.mu.Unlock()

	s.ctx.removeSession(s)
	atomic.AddInt64(&liveSessions, -1)
}

// liveSessions counts sessions not closed yet (tests).
var liveSessions int64

// State is the session's current state.
func (sess *Session) State() State {
	s := sess.core
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return StateClosed
	}
	return State(cupcall.Upcall_session_get_state(s.ptr))
}

// Arch is the session's wire format.
func (sess *Session) Arch() Arch {
	s := sess.core
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return 0
	}
	return Arch(cupcall.Upcall_session_get_arch(s.ptr))
}

// WaitReady waits until the session is ready.  It fails when the session
// closes (with the error that closed it) or ctx ends (then the error says
// the last connection error, if any).  While the session reconnects it
// keeps waiting: a guest that is not up yet is no error.
func (sess *Session) WaitReady(ctx context.Context) error {
	s := sess.core
	defer runtime.KeepAlive(sess)
	for {
		s.stateMu.Lock()
		st, lastErr, changed := s.state, s.lastErr, s.changed
		s.stateMu.Unlock()
		switch st {
		case StateReady:
			return nil
		case StateClosed:
			if lastErr == 0 {
				lastErr = -int(syscall.ENOTCONN)
			}
			return errnoErr("connect", lastErr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			e := ctxError("connect", ctx.Err())
			if lastErr != 0 {
				e.detail = "last error: " + cupcall.Upcall_errno_name(lastErr) +
					": " + cupcall.Upcall_strerror(lastErr)
			}
			return e
		}
	}
}

// ctxError is the error of a call its context ended before it went out.
func ctxError(op string, err error) *Error {
	e := &Error{Op: op, Errno: syscall.ECANCELED, ctxErr: err}
	if err == context.DeadlineExceeded {
		e.Errno = syscall.ETIMEDOUT
	}
	return e
}
