// SPDX-License-Identifier: MIT

package upcall

/*
#cgo pkg-config: libupcall
#include <upcall/upcall.h>
#include <upcall/wire.h>
*/
import "C"

import "fmt"

// Arch is the guest's wire format, which depends on the guest, not the host.
// Info.Arch is the one the guest reports (from info version 0x0102 on).
type Arch int

const (
	// ArchUnknown is Info.Arch of a guest that does not say (one before
	// info version 0x0102); WithArch(ArchUnknown) keeps the default, the
	// host's.
	ArchUnknown Arch = C.UPCALL_GUEST_ARCH_UNKNOWN
	ArchX86_64  Arch = C.UPCALL_ARCH_X86_64  // CPU requests carry APIC ids
	ArchAarch64 Arch = C.UPCALL_ARCH_AARCH64 // CPU requests carry a count
)

func (a Arch) String() string {
	switch a {
	case ArchUnknown:
		return "unknown"
	case ArchX86_64:
		return "x86_64"
	case ArchAarch64:
		return "aarch64"
	}
	return fmt.Sprintf("Arch(%d)", int(a))
}

// State is the life of a session.
type State int

const (
	StateIdle         State = C.UPCALL_SESSION_IDLE         // not opened (never seen through this package)
	StateConnecting   State = C.UPCALL_SESSION_CONNECTING   // first connection under way
	StateReady        State = C.UPCALL_SESSION_READY        // the guest said CONNECT
	StateReconnecting State = C.UPCALL_SESSION_RECONNECTING // dropped; backing off or connecting again
	StateClosed       State = C.UPCALL_SESSION_CLOSED       // closed for good
)

func (s State) String() string {
	switch s {
	case StateIdle:
		return "idle"
	case StateConnecting:
		return "connecting"
	case StateReady:
		return "ready"
	case StateReconnecting:
		return "reconnecting"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// MsgType is a device-manager message type; Info.Ops has bit n set when
// the guest serves type n.
type MsgType uint32

const (
	MsgAddCPU  MsgType = C.UPCALL_MSG_ADD_CPU
	MsgDelCPU  MsgType = C.UPCALL_MSG_DEL_CPU
	MsgAddMem  MsgType = C.UPCALL_MSG_ADD_MEM
	MsgDelMem  MsgType = C.UPCALL_MSG_DEL_MEM
	MsgAddMMIO MsgType = C.UPCALL_MSG_ADD_MMIO
	MsgDelMMIO MsgType = C.UPCALL_MSG_DEL_MMIO
	MsgAddPCI  MsgType = C.UPCALL_MSG_ADD_PCI
	MsgDelPCI  MsgType = C.UPCALL_MSG_DEL_PCI
	MsgGetInfo MsgType = C.UPCALL_MSG_GET_INFO
)

// MemFlags are the flags of Session.MemAdd.
type MemFlags uint32

// MemMovable onlines the added memory as movable.
const MemMovable MemFlags = C.UPCALL_MEM_F_MOVABLE

// MemPolicy is how the guest onlines new memory (its auto_online_blocks).
type MemPolicy uint32

const (
	MemPolicyOffline       MemPolicy = C.UPCALL_MEM_POLICY_OFFLINE
	MemPolicyOnline        MemPolicy = C.UPCALL_MEM_POLICY_ONLINE
	MemPolicyOnlineKernel  MemPolicy = C.UPCALL_MEM_POLICY_ONLINE_KERNEL
	MemPolicyOnlineMovable MemPolicy = C.UPCALL_MEM_POLICY_ONLINE_MOVABLE
	MemPolicyUnknown       MemPolicy = C.UPCALL_MEM_POLICY_UNKNOWN
)

// CPUMode is which vCPUs CPUAdd can bring online, and so what the VMM must
// do first (GET_INFO from info version 0x0101 on).
type CPUMode uint32

const (
	// CPUModeUnknown: not reported, a guest before info version 0x0101.
	CPUModeUnknown CPUMode = C.UPCALL_CPU_MODE_UNKNOWN
	// CPUModeNone: no CPU operations (they fail with EOPNOTSUPP).
	CPUModeNone CPUMode = C.UPCALL_CPU_MODE_NONE
	// CPUModeHotAdd: true hot-add; the VMM creates a vCPU, then CPUAdd
	// onlines it, and CPUDel offlines it before the VMM destroys it.
	CPUModeHotAdd CPUMode = C.UPCALL_CPU_MODE_HOTADD
	// CPUModeParked: the VMM creates every vCPU at boot and boots the
	// guest with maxcpus=; CPUAdd onlines present vCPUs, CPUDel offlines
	// them (they stay present).
	CPUModeParked CPUMode = C.UPCALL_CPU_MODE_PARKED
)

func (m CPUMode) String() string {
	switch m {
	case CPUModeUnknown:
		return "unknown"
	case CPUModeNone:
		return "none"
	case CPUModeHotAdd:
		return "hotadd"
	case CPUModeParked:
		return "parked"
	}
	return fmt.Sprintf("CPUMode(%d)", uint32(m))
}

// Info is what a guest serves, from the GET_INFO extension.
type Info struct {
	Version      uint32 // protocol version, major<<8 | minor
	Ops          uint32 // bit n set: message type n is served
	MemBlockSize uint64 // bytes; 0 without memory hot-plug
	CPUsPossible uint32 // vCPUs the guest can ever have
	CPUsPresent  uint32 // vCPUs it knows of
	CPUsOnline   uint32 // vCPUs running
	MemPolicy    MemPolicy
	CPUMode      CPUMode // CPUModeUnknown from a guest before info version 0x0101
	Arch         Arch    // the guest's wire format; ArchUnknown before info version 0x0102
}

// Serves reports whether the guest serves message type t.
func (i *Info) Serves(t MsgType) bool {
	return t < 32 && i.Ops&(1<<t) != 0
}
