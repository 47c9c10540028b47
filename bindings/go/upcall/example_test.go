// SPDX-License-Identifier: MIT

package upcall_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"syscall"
	"time"

	"github.com/upcall/upcall/bindings/go/upcall"
)

// Hot-add two vCPUs to an x86_64 guest behind a hybrid-vsock socket.
func Example() {
	ctx, err := upcall.NewContext()
	if err != nil {
		log.Fatal(err)
	}
	defer ctx.Close()

	s, err := ctx.OpenUnix("/run/vm/vsock.sock",
		upcall.WithArch(upcall.ArchX86_64),
		upcall.WithRequestTimeout(10*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if info, err := s.Info(c); err == nil {
		fmt.Printf("guest: %d of %d vCPUs online\n", info.CPUsOnline, info.CPUsPossible)
	} else if !errors.Is(err, upcall.ErrNotSupported) { // a Dragonball guest
		log.Fatal(err)
	}

	idx, err := s.CPUAdd(c, []uint8{1, 2})
	var e *upcall.Error
	switch {
	case err == nil:
		fmt.Println("vCPUs 1 and 2 added")
	case errors.As(err, &e) && e.Guest && errors.Is(err, syscall.EINVAL):
		fmt.Printf("guest refused APIC id index %d\n", idx)
	case errors.Is(err, context.DeadlineExceeded):
		fmt.Println("no answer in 30 s")
	default:
		log.Fatal(err)
	}
}
