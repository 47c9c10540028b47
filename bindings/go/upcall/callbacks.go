// SPDX-License-Identifier: MIT

package upcall

/*
#cgo pkg-config: libupcall
#include <stdint.h>
#include <upcall/upcall.h>
#include "shim.h"
*/
import "C"

import (
	"runtime/cgo"
	"sync"
	"sync/atomic"
)

// Completions: each request's userdata is a runtime/cgo.Handle of its
// *pending.  shim.c's completion callback calls goUpcallComplete, which only
// sends the status on the pending's buffered channel; shim.c's destroy
// callback, run when libupcall frees the request, deletes the handle.  So a
// handle lives exactly as long as its request, whoever drops the request
// last.

// pending is one submitted request, as the completion callback sees it.
type pending struct {
	done chan int // the callback's error argument; buffered, one value
}

// liveHandles counts the cgo.Handles of requests not freed yet (tests).
var liveHandles int64

func newPendingHandle(p *pending) cgo.Handle {
	atomic.AddInt64(&liveHandles, 1)
	return cgo.NewHandle(p)
}

func deleteHandle(h cgo.Handle) {
	h.Delete()
	atomic.AddInt64(&liveHandles, -1)
}

//export goUpcallComplete
func goUpcallComplete(h C.uintptr_t, status C.int) {
	p := cgo.Handle(h).Value().(*pending)
	select {
	case p.done <- int(status):
	default: // called once per request; never blocks the processing thread
	}
}

//export goUpcallDestroy
func goUpcallDestroy(h C.uintptr_t) {
	deleteHandle(cgo.Handle(h))
}

// State and log callbacks have no destroy callback, and one may already be
// running when the Go side turns it off, so their userdata is an id in this
// registry rather than a cgo.Handle: an id that is gone is ignored, where a
// deleted Handle would panic.
var registry struct {
	sync.Mutex
	next uintptr
	m    map[uintptr]interface{}
}

func register(v interface{}) uintptr {
	registry.Lock()
	defer registry.Unlock()
	if registry.m == nil {
		registry.m = make(map[uintptr]interface{})
	}
	registry.next++
	registry.m[registry.next] = v
	return registry.next
}

func unregister(id uintptr) {
	registry.Lock()
	delete(registry.m, id)
	registry.Unlock()
}

func lookup(id uintptr) interface{} {
	registry.Lock()
	defer registry.Unlock()
	return registry.m[id]
}

func registered() int {
	registry.Lock()
	defer registry.Unlock()
	return len(registry.m)
}

//export goUpcallState
func goUpcallState(id C.uintptr_t, state C.int, err C.int) {
	if s, ok := lookup(uintptr(id)).(*sessionCore); ok {
		s.setState(State(state), int(err))
	}
}

//export goUpcallLog
func goUpcallLog(id C.uintptr_t, priority C.int, msg *C.char) {
	if c, ok := lookup(uintptr(id)).(*ctxCore); ok && c.logFn != nil {
		c.logFn(int(priority), C.GoString(msg))
	}
}
