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

// State and log callbacks: the userdata is a cgo.Handle too, of the
// session's *sessionCore or of the context's log function, and the
// session's (or context's) destroy callback deletes it when libupcall frees
// the C object, after the last callback that could be given it.  So a
// callback never finds its handle deleted, the Go side never has to turn
// a callback off, and no global table keeps anything: once the C object is
// gone its Go side is garbage.

// liveStateHandles and liveLogHandles count the handles of C sessions and
// contexts not freed yet; doubleDestroys counts destroy callbacks called
// for a handle already released (tests: it must stay 0).
var liveStateHandles, liveLogHandles, doubleDestroys int64

func releaseHandle(h C.uintptr_t, live *int64) {
	if h == 0 { // set_destroy_fn succeeded, set_*_fn did not
		return
	}
	if atomic.AddInt64(live, -1) < 0 {
		atomic.AddInt64(&doubleDestroys, 1)
	}
	cgo.Handle(h).Delete() // panics if deleted before: never twice
}

func newStateHandle(s *sessionCore) cgo.Handle {
	atomic.AddInt64(&liveStateHandles, 1)
	return cgo.NewHandle(s)
}

func newLogHandle(fn func(priority int, msg string)) cgo.Handle {
	atomic.AddInt64(&liveLogHandles, 1)
	return cgo.NewHandle(fn)
}

//export goUpcallState
func goUpcallState(h C.uintptr_t, state C.int, err C.int) {
	cgo.Handle(h).Value().(*sessionCore).setState(State(state), int(err))
}

//export goUpcallStateDestroy
func goUpcallStateDestroy(h C.uintptr_t) { releaseHandle(h, &liveStateHandles) }

//export goUpcallLog
func goUpcallLog(h C.uintptr_t, priority C.int, msg *C.char) {
	cgo.Handle(h).Value().(func(int, string))(int(priority), C.GoString(msg))
}

//export goUpcallLogDestroy
func goUpcallLogDestroy(h C.uintptr_t) { releaseHandle(h, &liveLogHandles) }
