// SPDX-License-Identifier: MIT

package upcall

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The tests run tests/fake-guest (FAKE_GUEST, or the build tree's) on a
// temporary socket per test; with UPCALL_VM_SOCKET set (a VM test bed
// booted with tests/vm/boot-guest) TestVM also talks to a real guest.

func fakeGuestPath() string {
	if p := os.Getenv("FAKE_GUEST"); p != "" {
		return p
	}
	return "../../../tests/fake-guest"
}

type guest struct {
	sock   string
	cmd    *exec.Cmd
	stderr bytes.Buffer
	once   sync.Once
	stats  guestStats
}

type guestStats struct{ connections, requests, violations int }

// startGuest runs a fake guest and waits for its "ready" line; the guest is
// stopped, and checked for protocol violations, when the test ends.
func startGuest(t *testing.T, args ...string) *guest {
	t.Helper()
	path := fakeGuestPath()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("fake guest: %v (build it with make tests/fake-guest, or set FAKE_GUEST)", err)
	}
	g := &guest{sock: filepath.Join(t.TempDir(), "g.sock")}
	g.cmd = exec.Command(path, append([]string{"--socket", g.sock}, args...)...)
	g.cmd.Stderr = &g.stderr
	out, err := g.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan error, 1)
	go func() {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("fake guest said %q", line)
		}
		ready <- err
	}()
	select {
	case err = <-ready:
	case <-time.After(10 * time.Second):
		err = errors.New("fake guest: no \"ready\" within 10 s")
	}
	if err != nil {
		g.cmd.Process.Kill()
		g.cmd.Wait()
		t.Fatalf("%v; stderr: %s", err, g.stderr.String())
	}
	t.Cleanup(func() {
		if s := g.stop(t); s.violations != 0 {
			t.Errorf("fake guest saw %d protocol violations: %s", s.violations, g.stderr.String())
		}
	})
	return g
}

// stop ends the guest (once) and returns what it counted.
func (g *guest) stop(t *testing.T) guestStats {
	g.once.Do(func() {
		g.cmd.Process.Signal(syscall.SIGTERM)
		g.cmd.Wait()
		s := &g.stats
		for _, line := range strings.Split(g.stderr.String(), "\n") {
			if n, _ := fmt.Sscanf(line, "fake-guest: %d connections, %d requests, %d violations",
				&s.connections, &s.requests, &s.violations); n == 3 {
				return
			}
		}
		t.Errorf("fake guest printed no summary: %q", g.stderr.String())
	})
	return g.stats
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// connect opens a ready session on the guest; both close with the test.
func connect(t *testing.T, g *guest, opts ...Option) *Session {
	t.Helper()
	ctx, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctx.Close() })
	s, err := ctx.OpenUnix(g.sock, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.WaitReady(timeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	return s
}

// wantErr checks err is an *Error with errno and guest as given.
func wantErr(t *testing.T, err error, errno syscall.Errno, guest bool) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want an *upcall.Error", err, err)
	}
	if !errors.Is(err, errno) || e.Errno != errno || e.Guest != guest {
		t.Fatalf("error %q: errno %d guest %v, want errno %d (%v) guest %v",
			err, e.Errno, e.Guest, errno, errno, guest)
	}
	return e
}

func TestMain(m *testing.M) {
	code := m.Run()
	// Everything the tests made is closed by now, by Close or by a
	// finalizer, and libupcall freed each C object and called its destroy
	// callback once: no cgo.Handle, context or session is left.
	for i := 0; i < 100 && leaks() != ""; i++ {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if l := leaks(); l != "" {
		fmt.Fprintf(os.Stderr, "FAIL: leaked after all tests: %s\n", l)
		code = 1
	}
	os.Exit(code)
}

func leaks() string {
	h, c, s := atomic.LoadInt64(&liveHandles), atomic.LoadInt64(&liveContexts),
		atomic.LoadInt64(&liveSessions)
	sh, lh, d := atomic.LoadInt64(&liveStateHandles), atomic.LoadInt64(&liveLogHandles),
		atomic.LoadInt64(&doubleDestroys)
	if h == 0 && c == 0 && s == 0 && sh == 0 && lh == 0 && d == 0 {
		return ""
	}
	return fmt.Sprintf("%d request handles, %d contexts, %d sessions, %d state handles, "+
		"%d log handles, %d destroy callbacks called twice", h, c, s, sh, lh, d)
}

func TestVersion(t *testing.T) {
	if v := Version(); !strings.HasPrefix(v, "1.") {
		t.Fatalf("Version() = %q", v)
	}
}

func TestConnect(t *testing.T) {
	g := startGuest(t)
	s := connect(t, g)
	if st := s.State(); st != StateReady {
		t.Fatalf("state %v, want ready", st)
	}
	if runtime.GOARCH == "amd64" && s.Arch() != ArchX86_64 {
		t.Fatalf("default arch %v, want the host's", s.Arch())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.State(); st != StateClosed {
		t.Fatalf("state %v after Close, want closed", st)
	}
	if n := g.stop(t).connections; n != 1 {
		t.Fatalf("guest saw %d connections, want 1", n)
	}
}

// OpenConn: a connection made by the caller, no hybrid handshake.
func TestConnectPlainConn(t *testing.T) {
	g := startGuest(t, "--plain")
	conn, err := net.Dial("unix", g.sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	s, err := ctx.OpenConn(conn.(*net.UnixConn))
	conn.Close() // the session has its own fd
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.WaitReady(timeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Info(timeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()

	_, err = ctx.OpenUnix("")
	wantErr(t, err, syscall.EINVAL, false)
	_, err = ctx.OpenUnix("/" + strings.Repeat("x", 200))
	wantErr(t, err, syscall.ENAMETOOLONG, false)
	_, err = ctx.OpenUnix("/nonexistent", WithArch(Arch(7)))
	wantErr(t, err, syscall.EINVAL, false)

	// Nobody listens, reconnect on: WaitReady keeps waiting, then says why.
	missing := filepath.Join(t.TempDir(), "none.sock")
	s, err := ctx.OpenUnix(missing, WithReconnect(10*time.Millisecond, 50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	err = s.WaitReady(timeout(t, 300*time.Millisecond))
	e := wantErr(t, err, syscall.ETIMEDOUT, false)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(e.Error(), "ENOENT") {
		t.Fatalf("WaitReady: %v, want a deadline error naming ENOENT", err)
	}
	s.Close()

	// Reconnect off: the session closes, and WaitReady says why.
	s, err = ctx.OpenUnix(missing, WithoutReconnect())
	if err == nil {
		err = s.WaitReady(timeout(t, 5*time.Second))
		s.Close()
	}
	wantErr(t, err, syscall.ENOENT, false)
}

// Every request type, against a guest that answers at once and one that
// sends its replies a byte at a time.
func TestRequestsX86(t *testing.T) {
	for _, behavior := range []string{"ok", "pieces"} {
		t.Run(behavior, func(t *testing.T) {
			g := startGuest(t, "--behavior", behavior)
			s := connect(t, g, WithArch(ArchX86_64), WithAPICVersion(0x15), WithPrivilegedPort())
			ctx := timeout(t, 20*time.Second)

			if idx, err := s.CPUAdd(ctx, []uint8{1, 2}); err != nil || idx != 2 {
				t.Fatalf("CPUAdd: %d, %v", idx, err)
			}
			if idx, err := s.CPUDel(ctx, []uint8{2}); err != nil || idx != 1 {
				t.Fatalf("CPUDel: %d, %v", idx, err)
			}
			if err := s.MMIOAdd(ctx, 0xd0000000, 0x1000, 5); err != nil {
				t.Fatalf("MMIOAdd: %v", err)
			}
			if err := s.MMIODel(ctx, 0xd0000000, 0x1000, 5); err != nil {
				t.Fatalf("MMIODel: %v", err)
			}
			if err := s.MemAdd(ctx, 1<<32, 128<<20, 0, MemMovable); err != nil {
				t.Fatalf("MemAdd: %v", err)
			}
			if err := s.MemDel(ctx, 1<<32, 128<<20); err != nil {
				t.Fatalf("MemDel: %v", err)
			}
			if err := s.PCIAdd(ctx, 1, 0x08); err != nil {
				t.Fatalf("PCIAdd: %v", err)
			}
			if err := s.PCIDel(ctx, 1, 0x08); err != nil {
				t.Fatalf("PCIDel: %v", err)
			}
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatalf("Info: %v", err)
			}
			if info.Version != 0x102 || info.MemBlockSize != 128<<20 ||
				info.MemPolicy != MemPolicyOnlineMovable || info.CPUMode != CPUModeHotAdd ||
				info.Arch != ArchX86_64 ||
				!info.Serves(MsgAddCPU) || !info.Serves(MsgDelPCI) || info.Serves(MsgGetInfo) {
				t.Fatalf("Info: %+v", *info)
			}
			if st := g.stop(t); st.requests != 9 {
				t.Fatalf("guest counted %d requests, want 9", st.requests)
			}
		})
	}
}

func TestRequestsAarch64(t *testing.T) {
	g := startGuest(t)
	s := connect(t, g, WithArch(ArchAarch64))
	ctx := timeout(t, 20*time.Second)
	if s.Arch() != ArchAarch64 {
		t.Fatalf("arch %v", s.Arch())
	}
	if idx, err := s.CPUAddCount(ctx, 3); err != nil || idx != 3 {
		t.Fatalf("CPUAddCount: %d, %v", idx, err)
	}
	if idx, err := s.CPUDelCount(ctx, 1); err != nil || idx != 1 {
		t.Fatalf("CPUDelCount: %d, %v", idx, err)
	}
	// An aarch64 request carries a count, not ids: refused before sending.
	_, err := s.CPUAdd(ctx, []uint8{1})
	wantErr(t, err, syscall.EINVAL, false)
	if err := s.MMIOAdd(ctx, 0x0a000000, 0x200, 16); err != nil {
		t.Fatalf("MMIOAdd: %v", err)
	}
	if st := g.stop(t); st.requests != 3 {
		t.Fatalf("guest counted %d requests, want 3", st.requests)
	}
}

// Bad arguments fail at submission, without a request on the wire.
func TestArgumentErrors(t *testing.T) {
	g := startGuest(t)
	s := connect(t, g, WithArch(ArchX86_64))
	ctx := timeout(t, 10*time.Second)
	_, err := s.CPUAdd(ctx, nil)
	wantErr(t, err, syscall.EINVAL, false)
	_, err = s.CPUAdd(ctx, make([]uint8, 256))
	wantErr(t, err, syscall.EINVAL, false)
	_, err = s.CPUAddCount(ctx, -1)
	wantErr(t, err, syscall.EINVAL, false)
	wantErr(t, s.MMIOAdd(ctx, 0x1000, 0, 5), syscall.EINVAL, false)
	wantErr(t, s.MemAdd(ctx, 0, 1<<20, 0, 0x80), syscall.EINVAL, false)
	wantErr(t, s.MemDel(ctx, ^uint64(0), 2), syscall.EINVAL, false)
	if st := g.stop(t); st.requests != 0 {
		t.Fatalf("guest counted %d requests, want 0", st.requests)
	}
}

// The guest refuses: Guest is true, the errno is the guest's.
func TestGuestError(t *testing.T) {
	g := startGuest(t, "--result", "-22", "--index", "1")
	s := connect(t, g)
	ctx := timeout(t, 10*time.Second)

	idx, err := s.CPUAdd(ctx, []uint8{4, 5, 6})
	e := wantErr(t, err, syscall.EINVAL, true)
	if idx != 1 {
		t.Fatalf("index %d, want 1 (where the guest stopped)", idx)
	}
	if e.Op != "cpu-add" || !strings.Contains(e.Error(), "guest refused: EINVAL") {
		t.Fatalf("error text %q", e.Error())
	}
	if errors.Is(err, ErrNotSupported) || errors.Is(err, context.Canceled) || e.Timeout() {
		t.Fatalf("%v matches more than it should", err)
	}
	wantErr(t, s.PCIDel(ctx, 0, 0x10), syscall.EINVAL, true)
	wantErr(t, s.MMIOAdd(ctx, 0xd0000000, 0x1000, 5), syscall.EINVAL, true)
	_, err = s.Info(ctx)
	wantErr(t, err, syscall.EINVAL, true)
	// A refusal is no fault of the session.
	if s.State() != StateReady {
		t.Fatalf("state %v after refusals", s.State())
	}
}

// Each CPU mode; a guest of info version 1.0 does not say.
func TestInfoCPUMode(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		version uint32
		mode    CPUMode
		name    string
	}{
		{[]string{"--cpu-mode", "none"}, 0x102, CPUModeNone, "none"},
		{[]string{"--cpu-mode", "parked"}, 0x102, CPUModeParked, "parked"},
		{[]string{"--cpu-mode", "7"}, 0x102, CPUMode(7), "CPUMode(7)"},
		{[]string{"--info-version", "0x0100", "--cpu-mode", "0"}, 0x100, CPUModeUnknown, "unknown"},
	} {
		g := startGuest(t, tc.args...)
		s := connect(t, g)
		info, err := s.Info(timeout(t, 10*time.Second))
		if err != nil {
			t.Fatalf("%v: Info: %v", tc.args, err)
		}
		if info.Version != tc.version || info.CPUMode != tc.mode || info.CPUMode.String() != tc.name {
			t.Fatalf("%v: Info: %+v", tc.args, *info)
		}
	}
}

// Each architecture; a guest of info version 1.1 does not say.
func TestInfoArch(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		version uint32
		arch    Arch
		name    string
	}{
		{[]string{"--arch", "x86_64"}, 0x102, ArchX86_64, "x86_64"},
		{[]string{"--arch", "aarch64"}, 0x102, ArchAarch64, "aarch64"},
		{[]string{"--arch", "9"}, 0x102, Arch(9), "Arch(9)"},
		{[]string{"--info-version", "0x0101", "--arch", "0"}, 0x101, ArchUnknown, "unknown"},
	} {
		g := startGuest(t, tc.args...)
		s := connect(t, g)
		info, err := s.Info(timeout(t, 10*time.Second))
		if err != nil {
			t.Fatalf("%v: Info: %v", tc.args, err)
		}
		if info.Version != tc.version || info.Arch != tc.arch || info.Arch.String() != tc.name {
			t.Fatalf("%v: Info: %+v", tc.args, *info)
		}
	}
}

// What the guest reports is what a session is opened with.
func TestInfoArchOpensASession(t *testing.T) {
	g := startGuest(t, "--arch", "aarch64")
	info, err := connect(t, g).Info(timeout(t, 10*time.Second))
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	s := connect(t, g, WithArch(info.Arch))
	if s.Arch() != ArchAarch64 {
		t.Fatalf("arch %v, want aarch64", s.Arch())
	}
	if idx, err := s.CPUAddCount(timeout(t, 10*time.Second), 2); err != nil || idx != 2 {
		t.Fatalf("CPUAddCount: %d, %v", idx, err)
	}
}

// A guest without an extension answers -1.
func TestNotSupported(t *testing.T) {
	g := startGuest(t, "--no-info")
	s := connect(t, g)
	_, err := s.Info(timeout(t, 10*time.Second))
	wantErr(t, err, syscall.EOPNOTSUPP, true)
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("%v does not match ErrNotSupported", err)
	}

	g = startGuest(t, "--result", "-1")
	s = connect(t, g)
	err = s.MemAdd(timeout(t, 10*time.Second), 1<<32, 128<<20, 0, 0)
	wantErr(t, err, syscall.EPERM, true)
	if !errors.Is(err, ErrNotSupported) {
		t.Fatalf("%v does not match ErrNotSupported", err)
	}
}

// A guest that breaks the protocol: a transport error, never a guest one.
func TestProtocolErrors(t *testing.T) {
	for behavior, errno := range map[string]syscall.Errno{
		"garbage":       syscall.EPROTO,
		"bad-magic":     syscall.EPROTO,
		"wrong-type":    syscall.EPROTO,
		"big-size":      syscall.EPROTO,
		"eof-mid-reply": syscall.ECONNRESET,
	} {
		behavior, errno := behavior, errno
		t.Run(behavior, func(t *testing.T) {
			t.Parallel()
			g := startGuest(t, "--behavior", behavior)
			s := connect(t, g)
			_, err := s.CPUAdd(timeout(t, 10*time.Second), []uint8{1})
			wantErr(t, err, errno, false)
		})
	}
}

// A silent guest: the call's context deadline becomes the request's
// timeout; the error is ETIMEDOUT and context.DeadlineExceeded at once.
func TestTimeout(t *testing.T) {
	g := startGuest(t, "--behavior", "silent")

	t.Run("context-deadline", func(t *testing.T) {
		s := connect(t, g)
		start := time.Now()
		err := s.PCIAdd(timeout(t, 200*time.Millisecond), 0, 0x08)
		took := time.Since(start)
		e := wantErr(t, err, syscall.ETIMEDOUT, false)
		if !errors.Is(err, context.DeadlineExceeded) || !e.Timeout() {
			t.Fatalf("%v: not a deadline error", err)
		}
		if took < 190*time.Millisecond || took > 3*time.Second {
			t.Fatalf("timed out after %v, want ~200ms", took)
		}
	})

	t.Run("session-timeout", func(t *testing.T) {
		s := connect(t, g, WithRequestTimeout(150*time.Millisecond))
		start := time.Now()
		// The session's timeout comes before the context's deadline.
		err := s.PCIAdd(timeout(t, time.Minute), 0, 0x08)
		took := time.Since(start)
		wantErr(t, err, syscall.ETIMEDOUT, false)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v: the context did not end it", err)
		}
		if took < 140*time.Millisecond || took > 3*time.Second {
			t.Fatalf("timed out after %v, want ~150ms", took)
		}
	})

	t.Run("expired-before", func(t *testing.T) {
		s := connect(t, g)
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		_, err := s.Info(ctx)
		wantErr(t, err, syscall.ETIMEDOUT, false)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%v: not a deadline error", err)
		}
	})
}

// Cancelling the context cancels the request; the session stays usable.
func TestCancel(t *testing.T) {
	g := startGuest(t, "--delay-ms", "400")
	s := connect(t, g)

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, err := s.CPUAdd(ctx, []uint8{1})
	took := time.Since(start)
	wantErr(t, err, syscall.ECANCELED, false)
	if !errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v: not a cancellation", err)
	}
	if took > 350*time.Millisecond {
		t.Fatalf("cancelled call returned after %v, not at once", took)
	}
	// The late answer to the cancelled request is discarded, not taken
	// for the next one's.
	if idx, err := s.CPUAdd(timeout(t, 10*time.Second), []uint8{1, 2, 3}); err != nil || idx != 3 {
		t.Fatalf("CPUAdd after a cancel: %d, %v", idx, err)
	}

	// Cancelled before the call: nothing is sent.
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, err = s.Info(ctx)
	wantErr(t, err, syscall.ECANCELED, false)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("%v: not a cancellation", err)
	}
	if st := g.stop(t); st.requests != 2 {
		t.Fatalf("guest counted %d requests, want 2", st.requests)
	}
}

// 100 goroutines share one session; the session queues their requests.
func TestConcurrency(t *testing.T) {
	g := startGuest(t)
	s := connect(t, g)
	ctx := timeout(t, 60*time.Second)
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := 0; i < 100; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var err error
			switch i % 4 {
			case 0:
				var idx int
				idx, err = s.CPUAdd(ctx, []uint8{uint8(i%254 + 1)})
				if err == nil && idx != 1 {
					err = fmt.Errorf("index %d", idx)
				}
			case 1:
				err = s.MMIOAdd(ctx, uint64(i)<<12, 0x1000, uint32(i))
			case 2:
				err = s.PCIDel(ctx, 0, uint8(i))
			case 3:
				_, err = s.Info(ctx)
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if st := g.stop(t); st.requests != 100 {
		t.Fatalf("guest counted %d requests, want 100", st.requests)
	}
}

// Closing the context first: its sessions close, pending calls fail with
// ESHUTDOWN, later calls with ENOTCONN, and nothing panics.
func TestCloseContextFirst(t *testing.T) {
	g := startGuest(t, "--behavior", "silent")
	ctx, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	s, err := ctx.OpenUnix(g.sock)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WaitReady(timeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := s.CPUAdd(context.Background(), []uint8{1})
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	ctx.Close()
	select {
	case err := <-done:
		wantErr(t, err, syscall.ESHUTDOWN, false)
	case <-time.After(5 * time.Second):
		t.Fatal("pending call not completed by Context.Close")
	}
	if s.State() != StateClosed {
		t.Fatalf("state %v", s.State())
	}
	wantErr(t, s.PCIAdd(context.Background(), 0, 8), syscall.ENOTCONN, false)
	err = s.WaitReady(context.Background())
	wantErr(t, err, syscall.ESHUTDOWN, false)
	_, err = ctx.OpenUnix(g.sock)
	wantErr(t, err, syscall.ENOTCONN, false)
	s.Close()
	s.Close()
	ctx.Close()
}

// Closing the session under a pending call and a waiting WaitReady.
func TestCloseSessionFirst(t *testing.T) {
	g := startGuest(t, "--behavior", "silent")
	s := connect(t, g)
	done := make(chan error)
	go func() {
		done <- s.MMIOAdd(context.Background(), 0xd0000000, 0x1000, 5)
	}()
	time.Sleep(100 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		wantErr(t, err, syscall.ESHUTDOWN, false)
	case <-time.After(5 * time.Second):
		t.Fatal("pending call not completed by Session.Close")
	}

	ctx, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	s, err = ctx.OpenUnix(filepath.Join(t.TempDir(), "none.sock"))
	if err != nil {
		t.Fatal(err)
	}
	go func() { done <- s.WaitReady(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	s.Close()
	select {
	case err := <-done:
		wantErr(t, err, syscall.ESHUTDOWN, false)
	case <-time.After(5 * time.Second):
		t.Fatal("WaitReady not woken by Session.Close")
	}
}

// waitFor runs the garbage collector until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if cond() {
			return
		}
		runtime.GC()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not after 200 garbage collections (%s)", what, leaks())
}

// Objects dropped without Close are closed by finalizers; a reachable
// Session keeps its Context alive.
func TestGarbageCollection(t *testing.T) {
	g := startGuest(t)
	baseC, baseS := atomic.LoadInt64(&liveContexts), atomic.LoadInt64(&liveSessions)

	// A Session whose Context is no longer referenced keeps working.
	s := func() *Session {
		ctx, err := NewContext()
		if err != nil {
			t.Fatal(err)
		}
		s, err := ctx.OpenUnix(g.sock)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}()
	for i := 0; i < 5; i++ {
		runtime.GC()
	}
	if err := s.WaitReady(timeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CPUAdd(timeout(t, 10*time.Second), []uint8{1}); err != nil {
		t.Fatal(err)
	}
	s = nil
	waitFor(t, "dropped session and context finalized", func() bool {
		return atomic.LoadInt64(&liveContexts) == baseC && atomic.LoadInt64(&liveSessions) == baseS
	})

	// Many of them, with requests done, dropped at once.
	for i := 0; i < 20; i++ {
		ctx, err := NewContext()
		if err != nil {
			t.Fatal(err)
		}
		s, err := ctx.OpenUnix(g.sock)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.PCIAdd(timeout(t, 10*time.Second), 0, uint8(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "20 dropped sessions finalized", func() bool {
		return atomic.LoadInt64(&liveContexts) == baseC && atomic.LoadInt64(&liveSessions) == baseS
	})
	waitNoHandles(t)
	// Every connection was closed: the guest can shut down cleanly.
	if st := g.stop(t); st.connections != 21 || st.requests != 21 {
		t.Fatalf("guest: %+v, want 21 connections and requests", st)
	}
}

// Handles of requests that failed, timed out or were cancelled are freed.
func TestNoHandleLeak(t *testing.T) {
	g := startGuest(t, "--behavior", "silent")
	s := connect(t, g)
	for i := 0; i < 10; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		s.PCIAdd(ctx, 0, 8)
		cancel()
		ctx, cancel = context.WithCancel(context.Background())
		time.AfterFunc(5*time.Millisecond, cancel)
		s.PCIAdd(ctx, 0, 8)
		s.CPUAdd(context.Background(), nil) // refused at submission
	}
	waitNoHandles(t)
}

// waitNoHandles waits until every request handle is deleted.  The last
// reference to a request may be the library's, dropped just after the
// completion callback returns, so a handle can outlive its call briefly.
func waitNoHandles(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for atomic.LoadInt64(&liveHandles) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d request handles alive", atomic.LoadInt64(&liveHandles))
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLog(t *testing.T) {
	g := startGuest(t)
	var mu sync.Mutex
	var msgs []string
	ctx, err := NewContext(WithLog(7, func(prio int, msg string) {
		mu.Lock()
		msgs = append(msgs, fmt.Sprintf("<%d>%s", prio, msg))
		mu.Unlock()
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	s, err := ctx.OpenUnix(g.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Info(timeout(t, 10*time.Second)); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(msgs) == 0 || !strings.Contains(strings.Join(msgs, "\n"), "<7>") {
		t.Fatalf("no debug messages logged: %q", msgs)
	}
}

// TestVM talks to a real guest on the VM test bed:
//
//	tests/vm/boot-guest /tmp/g.sock
//	UPCALL_VM_SOCKET=/tmp/g.sock make -C bindings/go check
func TestVM(t *testing.T) {
	sock := os.Getenv("UPCALL_VM_SOCKET")
	if sock == "" {
		t.Skip("UPCALL_VM_SOCKET not set (no VM test bed)")
	}
	ctx, err := NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer ctx.Close()
	s, err := ctx.OpenUnix(sock, WithArch(ArchX86_64))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := timeout(t, 120*time.Second)
	if err := s.WaitReady(c); err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(c)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest: %+v", *info)
	// The module hot-adds where the kernel lets it, else it parks.
	if !info.Serves(MsgAddCPU) || info.CPUsOnline < 1 || info.Arch != ArchX86_64 ||
		(info.CPUMode != CPUModeHotAdd && info.CPUMode != CPUModeParked) {
		t.Fatalf("info: %+v", *info)
	}
	// APIC id 0 is the boot CPU: the guest refuses, and nothing changes.
	_, err = s.CPUAdd(c, []uint8{0})
	wantErr(t, err, syscall.EINVAL, true)
	after, err := s.Info(c)
	if err != nil {
		t.Fatal(err)
	}
	if after.CPUsOnline != info.CPUsOnline {
		t.Fatalf("online vCPUs %d -> %d", info.CPUsOnline, after.CPUsOnline)
	}
}

// The destroy callbacks of libupcall 1.1 release the state and log
// handles: exactly once per C session and context, also for objects left
// to the finalizers, and then what the handles held is garbage too.
func TestDestroyCallbacks(t *testing.T) {
	g := startGuest(t)
	baseS, baseL := atomic.LoadInt64(&liveStateHandles), atomic.LoadInt64(&liveLogHandles)
	var logFreed, coreFreed int32

	func() {
		// Reachable only through the log function; big enough not to
		// share a tiny-allocator block, whose finalizers may never run.
		sentinel := new([64]byte)
		runtime.SetFinalizer(sentinel, func(*[64]byte) { atomic.StoreInt32(&logFreed, 1) })
		ctx, err := NewContext(WithLog(7, func(int, string) { runtime.KeepAlive(sentinel) }))
		if err != nil {
			t.Fatal(err)
		}
		s, err := ctx.OpenUnix(g.sock)
		if err != nil {
			t.Fatal(err)
		}
		runtime.SetFinalizer(s.core, func(*sessionCore) { atomic.AddInt32(&coreFreed, 1) })
		if atomic.LoadInt64(&liveStateHandles) != baseS+1 || atomic.LoadInt64(&liveLogHandles) != baseL+1 {
			t.Fatalf("handles after open: %s", leaks())
		}
		if _, err := s.Info(timeout(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		// Neither is closed: the finalizers do it.
	}()
	waitFor(t, "log handle released and its function collected", func() bool {
		return atomic.LoadInt64(&liveLogHandles) == baseL && atomic.LoadInt32(&logFreed) == 1
	})
	waitFor(t, "state handle released and the session collected", func() bool {
		return atomic.LoadInt64(&liveStateHandles) == baseS && atomic.LoadInt32(&coreFreed) == 1
	})

	// Closed explicitly, in both orders, and a session that failed to open.
	for i := 0; i < 10; i++ {
		ctx, err := NewContext(WithLog(3, func(int, string) {}))
		if err != nil {
			t.Fatal(err)
		}
		s, err := ctx.OpenUnix(g.sock)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ctx.OpenUnix(""); err == nil {
			t.Fatal("OpenUnix(\"\") succeeded")
		}
		if i%2 == 0 {
			s.Close()
			ctx.Close()
		} else {
			ctx.Close()
			s.Close()
		}
	}
	// Every C object is freed by now: nothing waits for a finalizer.
	if atomic.LoadInt64(&liveStateHandles) != baseS || atomic.LoadInt64(&liveLogHandles) != baseL ||
		atomic.LoadInt64(&doubleDestroys) != 0 {
		t.Fatalf("after Close: %s", leaks())
	}
}
