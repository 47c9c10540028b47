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
	"runtime"
	"syscall"
	"time"
	"unsafe"

	"github.com/upcall/upcall/bindings/go/internal/cupcall"
)

// result is a completed request, until release.
type result struct {
	req    cupcall.Struct_SS_upcall_request
	status int // the completion callback's error: 0 (answered) or -errno
}

// release drops the last reference; libupcall then frees the request and
// its destroy callback deletes the cgo.Handle.
func (r *result) release() { cupcall.Upcall_request_unref(r.req) }

// timeoutFor returns the timeout to set on a request submitted now when
// ctx's deadline comes before the session's own request timeout.
func (s *sessionCore) timeoutFor(ctx context.Context) (uint64, bool) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	left := time.Until(dl)
	if s.requestTimeout > 0 && left >= s.requestTimeout {
		return 0, false
	}
	if left < 0 {
		left = 0
	}
	return uint64(left / time.Microsecond), true
}

// submitFn submits one request with libupcall's upcall_devmgr_*(): the
// operation's own arguments are in the closure, the callback, its
// userdata and the out-parameter are given.
type submitFn func(s *C.upcall_session, cb C.upcall_request_fn, ud unsafe.Pointer,
	ret **C.upcall_request) C.int

// call submits one request and waits for its completion.  When ctx ends
// first the request is cancelled (upcall_request_cancel), and the call
// still waits for the completion that follows at once, so a returned call
// never leaves anything behind in the library.  On success the caller
// reads the reply and releases the result.
func (sess *Session) call(ctx context.Context, op string, submit submitFn) (*result, error) {
	if err := ctx.Err(); err != nil {
		return nil, ctxError(op, err)
	}
	s := sess.core
	p := &pending{done: make(chan int, 1)}
	h := newPendingHandle(p)
	timeout, fromCtx := s.timeoutFor(ctx)

	var req *C.upcall_request
	s.mu.RLock()
	r := -C.int(syscall.ENOTCONN)
	if !s.closed {
		// The callbacks go to libupcall directly: shim.c only forwards
		// them to Go.  Our reference keeps the request alive until the
		// destroy callback is set, so it cannot be missed even if the
		// request completed already.
		r = submit(C.upcallgo_session(C.uintptr_t(s.ptr.Swigcptr())),
			C.upcall_request_fn(C.upcallgo_on_complete),
			C.upcallgo_userdata(C.uintptr_t(h)), &req)
		if r >= 0 {
			C.upcall_request_set_destroy_fn(req, C.upcall_destroy_fn(C.upcallgo_on_destroy))
		}
	}
	s.mu.RUnlock()
	runtime.KeepAlive(sess)
	if r < 0 {
		deleteHandle(h) // no request, no destroy callback
		return nil, errnoErr(op, int(r))
	}
	res := &result{req: cupcall.SwigcptrStruct_SS_upcall_request(uintptr(unsafe.Pointer(req)))}
	if fromCtx {
		cupcall.Upcall_request_set_timeout(res.req, timeout) // -EALREADY is fine
	}

	var ctxErr error
	select {
	case res.status = <-p.done:
	case <-ctx.Done():
		ctxErr = ctx.Err()
		cupcall.Upcall_request_cancel(res.req) // -EALREADY: it just completed
		res.status = <-p.done
	}
	if res.status == 0 {
		return res, nil
	}

	// No answer.
	res.release()
	e := &Error{Op: op, Errno: syscall.Errno(-res.status)}
	switch {
	case e.Errno == syscall.ETIMEDOUT && fromCtx:
		e.ctxErr = context.DeadlineExceeded
	case e.Errno == syscall.ECANCELED && ctxErr != nil:
		e = ctxError(op, ctxErr)
	case e.Errno == syscall.ETIMEDOUT && ctxErr == context.DeadlineExceeded:
		e.ctxErr = ctxErr
	}
	return nil, e
}

// guestResult is the guest's answer: nil or its error.
func (r *result) guestResult(op string) error {
	var v int32
	if cupcall.Upcall_request_get_result(r.req, &v) < 0 || v >= 0 {
		return nil
	}
	return &Error{Op: op, Errno: syscall.Errno(-v), Guest: true}
}

// simple runs a call whose reply has nothing but the result.
func (sess *Session) simple(ctx context.Context, op string, submit submitFn) error {
	res, err := sess.call(ctx, op, submit)
	if err != nil {
		return err
	}
	defer res.release()
	return res.guestResult(op)
}

// cpuFn is upcall_devmgr_cpu_add or _del.
type cpuFn func(s *C.upcall_session, ids *C.uint8_t, n C.size_t, cb C.upcall_request_fn,
	ud unsafe.Pointer, ret **C.upcall_request) C.int

// cpu runs a CPU call; the index is -1 when the reply carried none.
func (sess *Session) cpu(ctx context.Context, op string, fn cpuFn, ids []uint8, n int) (int, error) {
	if n < 0 || n > maxCPUs {
		n = 0 // libupcall refuses it with EINVAL
	}
	var idp *C.uint8_t
	if len(ids) > 0 {
		idp = (*C.uint8_t)(unsafe.Pointer(&ids[0])) // copied at submission
	}
	res, err := sess.call(ctx, op, func(s *C.upcall_session, cb C.upcall_request_fn,
		ud unsafe.Pointer, ret **C.upcall_request) C.int {
		return fn(s, idp, C.size_t(n), cb, ud, ret)
	})
	if err != nil {
		return -1, err
	}
	defer res.release()
	index := -1
	var v uint32
	if cupcall.Upcall_request_get_cpu_index(res.req, &v) == 0 {
		index = int(v)
	}
	return index, res.guestResult(op)
}

const maxCPUs = 255 // most vCPUs in one request

func cpuAdd(s *C.upcall_session, ids *C.uint8_t, n C.size_t, cb C.upcall_request_fn,
	ud unsafe.Pointer, ret **C.upcall_request) C.int {
	return C.upcall_devmgr_cpu_add(s, ids, n, cb, ud, ret)
}

func cpuDel(s *C.upcall_session, ids *C.uint8_t, n C.size_t, cb C.upcall_request_fn,
	ud unsafe.Pointer, ret **C.upcall_request) C.int {
	return C.upcall_devmgr_cpu_del(s, ids, n, cb, ud, ret)
}

// CPUAdd hot-adds the x86_64 vCPUs with these APIC ids (1 to 255 of them)
// and returns the guest's index: the first entry not acted on, len(ids)
// when all succeeded.  A guest that refuses may still report where it
// stopped; index is -1 when the reply carried none.
func (sess *Session) CPUAdd(ctx context.Context, apicIDs []uint8) (index int, err error) {
	return sess.cpu(ctx, "cpu-add", cpuAdd, apicIDs, len(apicIDs))
}

// CPUDel hot-removes x86_64 vCPUs; see CPUAdd.
func (sess *Session) CPUDel(ctx context.Context, apicIDs []uint8) (index int, err error) {
	return sess.cpu(ctx, "cpu-del", cpuDel, apicIDs, len(apicIDs))
}

// CPUAddCount hot-adds n vCPUs (1 to 255) of an aarch64 guest, whose CPU
// requests carry a count; see CPUAdd for the index.
func (sess *Session) CPUAddCount(ctx context.Context, n int) (index int, err error) {
	return sess.cpu(ctx, "cpu-add", cpuAdd, nil, n)
}

// CPUDelCount hot-removes n vCPUs of an aarch64 guest; see CPUAddCount.
func (sess *Session) CPUDelCount(ctx context.Context, n int) (index int, err error) {
	return sess.cpu(ctx, "cpu-del", cpuDel, nil, n)
}

// MMIOAdd adds the virtio-mmio device at base (size bytes, > 0) with irq.
func (sess *Session) MMIOAdd(ctx context.Context, base, size uint64, irq uint32) error {
	return sess.simple(ctx, "mmio-add", func(s *C.upcall_session, cb C.upcall_request_fn,
		ud unsafe.Pointer, ret **C.upcall_request) C.int {
		return C.upcall_devmgr_mmio_add(s, C.uint64_t(base), C.uint64_t(size), C.uint32_t(irq), cb, ud, ret)
	})
}

// MMIODel removes a virtio-mmio device; arguments as MMIOAdd.
func (sess *Session) MMIODel(ctx context.Context, base, size uint64, irq uint32) error {
	return sess.simple(ctx, "mmio-del", func(s *C.upcall_session, cb C.upcall_request_fn,
		ud unsafe.Pointer, ret **C.upcall_request) C.int {
		return C.upcall_devmgr_mmio_del(s, C.uint64_t(base), C.uint64_t(size), C.uint32_t(irq), cb, ud, ret)
	})
}

// MemAdd adds guest memory at the guest-physical addr, size bytes, on NUMA
// node (an upcall extension: a Dragonball guest answers -1, which matches
// ErrNotSupported).
func (sess *Session) MemAdd(ctx context.Context, addr, size uint64, node uint32, flags MemFlags) error {
	return sess.simple(ctx, "mem-add", func(s *C.upcall_session, cb C.upcall_request_fn,
		ud unsafe.Pointer, ret **C.upcall_request) C.int {
		return C.upcall_devmgr_mem_add(s, C.uint64_t(addr), C.uint64_t(size), C.uint32_t(node),
			C.uint32_t(flags), cb, ud, ret)
	})
}

// MemDel removes guest memory (an upcall extension).
func (sess *Session) MemDel(ctx context.Context, addr, size uint64) error {
	return sess.simple(ctx, "mem-del", func(s *C.upcall_session, cb C.upcall_request_fn,
		ud unsafe.Pointer, ret **C.upcall_request) C.int {
		return C.upcall_devmgr_mem_del(s, C.uint64_t(addr), C.uint64_t(size), cb, ud, ret)
	})
}

// PCIAdd scans and adds the PCI device at bus, devfn (slot<<3 | function),
// segment 0.
func (sess *Session) PCIAdd(ctx context.Context, bus, devfn uint8) error {
	return sess.simple(ctx, "pci-add", func(s *C.upcall_session, cb C.upcall_request_fn,
		ud unsafe.Pointer, ret **C.upcall_request) C.int {
		return C.upcall_devmgr_pci_add(s, C.uint8_t(bus), C.uint8_t(devfn), cb, ud, ret)
	})
}

// PCIDel stops and removes a PCI device.
func (sess *Session) PCIDel(ctx context.Context, bus, devfn uint8) error {
	return sess.simple(ctx, "pci-del", func(s *C.upcall_session, cb C.upcall_request_fn,
		ud unsafe.Pointer, ret **C.upcall_request) C.int {
		return C.upcall_devmgr_pci_del(s, C.uint8_t(bus), C.uint8_t(devfn), cb, ud, ret)
	})
}

// Info asks the guest what it serves (GET_INFO, an upcall extension).  A
// guest without the extension (Dragonball) gives an error that matches
// ErrNotSupported; that says nothing against the session.
func (sess *Session) Info(ctx context.Context) (*Info, error) {
	res, err := sess.call(ctx, "info", func(s *C.upcall_session, cb C.upcall_request_fn,
		ud unsafe.Pointer, ret **C.upcall_request) C.int {
		return C.upcall_devmgr_get_info(s, cb, ud, ret)
	})
	if err != nil {
		return nil, err
	}
	defer res.release()
	var v int32
	if cupcall.Upcall_request_get_result(res.req, &v) == 0 && v < 0 {
		if v == -1 { // what a guest without the extension answers
			v = -int32(syscall.EOPNOTSUPP)
		}
		return nil, &Error{Op: "info", Errno: syscall.Errno(-v), Guest: true}
	}
	var ci cupcall.Info
	if r := cupcall.Upcall_request_get_info(res.req, &ci); r < 0 {
		return nil, errnoErr("info", r)
	}
	return &Info{
		Version:      ci.Version,
		Ops:          ci.Ops,
		MemBlockSize: ci.MemBlockSize,
		CPUsPossible: ci.CpusPossible,
		CPUsPresent:  ci.CpusPresent,
		CPUsOnline:   ci.CpusOnline,
		MemPolicy:    MemPolicy(ci.MemPolicy),
		CPUMode:      CPUMode(ci.CpuMode),
		Arch:         Arch(ci.Arch),
	}, nil
}
