// SPDX-License-Identifier: MIT

package upcall

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/upcall/upcall/bindings/go/internal/cupcall"
)

// ErrNotSupported matches (with errors.Is) a guest's answer -1, which is
// how a guest says it does not know an operation: GET_INFO or the memory
// calls on a Dragonball guest.
var ErrNotSupported = errors.New("upcall: operation not supported by the guest")

// Error is the error of every call that failed.
//
// Errno is positive and Unwrap returns it, so errors.Is(err, syscall.EINVAL)
// works.  Guest tells the two kinds apart: true when the guest answered and
// refused (Errno is its result, negated); false when the call failed before
// or without an answer (bad arguments, a closed session, a timeout, a
// cancellation, a guest that broke the protocol, a dropped connection).
//
// A call ended by its context.Context has Errno ETIMEDOUT (deadline) or
// ECANCELED (cancellation) and also matches context.DeadlineExceeded or
// context.Canceled with errors.Is.
type Error struct {
	Op    string        // the call: "cpu-add", "info", "open-unix", ...
	Errno syscall.Errno // positive
	Guest bool          // the guest's own answer, not a transport failure

	ctxErr error  // context.Canceled / DeadlineExceeded, if the context ended it
	detail string // more words for Error()
}

func (e *Error) Error() string {
	name := cupcall.Upcall_errno_name(int(e.Errno))
	if name == "" {
		name = fmt.Sprintf("errno %d", int(e.Errno))
	}
	what := ""
	if e.Guest {
		what = "guest refused: "
	}
	msg := fmt.Sprintf("upcall: %s: %s%s: %s", e.Op, what, name,
		cupcall.Upcall_strerror(int(e.Errno)))
	if e.Guest && e.Errno == 1 {
		msg += " (-1: the guest may not know this operation)"
	}
	if e.detail != "" {
		msg += " (" + e.detail + ")"
	}
	return msg
}

// Unwrap returns Errno.
func (e *Error) Unwrap() error { return e.Errno }

// Is reports whether the error is context.Canceled or
// context.DeadlineExceeded (a call its context ended), or ErrNotSupported
// (the guest answered -1, or GET_INFO is unknown to it).
func (e *Error) Is(target error) bool {
	switch target {
	case context.Canceled, context.DeadlineExceeded:
		return e.ctxErr == target
	case ErrNotSupported:
		return e.Guest && (e.Errno == 1 || e.Errno == syscall.EOPNOTSUPP)
	}
	return false
}

// Timeout reports whether the call ran out of time (its context's deadline
// or the session's request timeout), as net.Error does.
func (e *Error) Timeout() bool { return e.Errno == syscall.ETIMEDOUT }

// errnoErr makes the error of a libupcall return value r < 0.
func errnoErr(op string, r int) error {
	return &Error{Op: op, Errno: syscall.Errno(-r)}
}
