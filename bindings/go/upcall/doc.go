// SPDX-License-Identifier: MIT

// Package upcall drives a guest's upcall device manager from a VMM: hot-add
// and remove vCPUs, memory, virtio-mmio and PCI devices over the upcall
// protocol.  It wraps libupcall (https://github.com/upcall/upcall).
//
//	ctx, err := upcall.NewContext()
//	...
//	defer ctx.Close()
//	s, err := ctx.OpenUnix("/run/vm/vsock.sock", upcall.WithArch(upcall.ArchX86_64))
//	...
//	defer s.Close()
//	idx, err := s.CPUAdd(context.Background(), []uint8{1})
//
// # Processing
//
// Each Context processes its libupcall context on one goroutine of its
// own, which sleeps in the Go runtime's network poller on (a duplicate of)
// the context's epoll fd; the fd becomes readable on I/O, on a completion
// and on a timeout expiry.  libupcall's completion callback is a C function
// in this package's shim that hands a runtime/cgo.Handle to an exported Go
// function, which sends the status on the waiting call's buffered channel
// and returns: callbacks never block that goroutine, and no callback passes
// through SWIG.  The handle is deleted by the request's destroy callback,
// so it lives exactly as long as the C request.
//
// # Calls
//
// Every device-manager call blocks until the guest answers and takes a
// context.Context.  A deadline earlier than the session's request timeout
// becomes the request's timeout in libupcall; when the context ends first
// the request is cancelled (upcall_request_cancel).  Such a call returns an
// *Error with Errno ETIMEDOUT or ECANCELED that also matches
// context.DeadlineExceeded or context.Canceled with errors.Is.  A guest
// that answers before the cancellation takes effect wins: the call then
// reports the guest's answer.  Calls may be made from any number of
// goroutines; the session sends them to the guest one at a time, in order.
//
// # Errors
//
// Errors are *Error values: Op names the call, Errno (what Unwrap returns,
// so errors.Is(err, syscall.EINVAL) works) the error, and Guest tells a
// refusal by the guest (its result) from a failure of the transport or the
// library (EPROTO, ECONNRESET, ETIMEDOUT, ESHUTDOWN, ENOTCONN, ...).
//
// # Lifetimes
//
// Close a Session, then its Context; the other order works too (closing a
// Context closes its sessions).  Finalizers close what becomes unreachable
// without Close, as a backstop.
package upcall
