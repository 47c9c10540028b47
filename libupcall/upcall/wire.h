/* SPDX-License-Identifier: MIT */
/**
 * @file wire.h
 * @brief upcall wire format: the byte-level contract between a VMM
 * (libupcall) and a guest server (the upcall kernel module, or a Dragonball
 * guest kernel).
 *
 * This header is shared verbatim by the library (user space) and the guest
 * kernel module, so it uses only <linux/types.h> fixed-width types and no
 * libc.  All multi-byte fields are little-endian on the wire.
 *
 * See docs/protocol.md and the project's wire-protocol specification.
 */
#ifndef _UPCALL_WIRE_H
#define _UPCALL_WIRE_H

#include <linux/types.h>

/** @cond INTERNAL */
#ifdef __cplusplus
#define UPCALL_WIRE_ASSERT(expr, msg) static_assert(expr, msg)
#else
#define UPCALL_WIRE_ASSERT(expr, msg) _Static_assert(expr, msg)
#endif
/** @endcond */

/** Default vsock port of the guest server (0xDB). */
#define UPCALL_DEFAULT_PORT		219u
/** Service byte selecting the device-manager service. */
#define UPCALL_SERVICE_DEVMGR		'd'
/** Seconds a guest server waits for the service byte. */
#define UPCALL_SERVICE_TIMEOUT_SEC	10
/** Every device-manager message, both directions, is exactly this long. */
#define UPCALL_MSG_SIZE			1024u
/** 'D' 'M', protocol version 1.0. */
#define UPCALL_MAGIC_VERSION		0x444D0100u

/** Device-manager message types (header field msg_type). */
enum upcall_msg_type {
	UPCALL_MSG_CONNECT	= 0,	/**< guest -> VMM, session start */
	UPCALL_MSG_ADD_CPU	= 1,	/**< add vCPUs */
	UPCALL_MSG_DEL_CPU	= 2,	/**< remove vCPUs */
	UPCALL_MSG_ADD_MEM	= 3,	/**< extension (reserved by Dragonball) */
	UPCALL_MSG_DEL_MEM	= 4,	/**< extension (reserved by Dragonball) */
	UPCALL_MSG_ADD_MMIO	= 5,	/**< add a virtio-mmio device */
	UPCALL_MSG_DEL_MMIO	= 6,	/**< remove a virtio-mmio device */
	UPCALL_MSG_ADD_PCI	= 7,	/**< scan and add a PCI device */
	UPCALL_MSG_DEL_PCI	= 8,	/**< remove a PCI device */
	UPCALL_MSG_GET_INFO	= 0x100,	/**< extension: capability query */
};

/** Header of every message. */
struct upcall_msg_header {
	__le32 magic_version;	/**< UPCALL_MAGIC_VERSION */
	__le32 msg_size;	/**< size of the body that follows */
	__le32 msg_type;	/**< enum upcall_msg_type */
	__le32 msg_flags;	/**< 0 */
};

/** Maximum number of vCPUs in one x86_64 CPU request. */
#define UPCALL_CPU_MAX_COUNT		255u
/** APIC version Dragonball sends for new x86_64 vCPUs. */
#define UPCALL_APIC_VERSION_DEFAULT	0x14u

/** ADD_CPU / DEL_CPU body for an x86_64 guest (msg_size 258). */
struct upcall_cpu_request_x86 {
	__u8 count;		/**< 1..255 */
	__u8 apic_ver;		/**< APIC version for new CPUs */
	__u8 apic_ids[256];	/**< first `count` entries used, rest 0 */
};

/** ADD_CPU / DEL_CPU body for an arm64 guest (msg_size 1). */
struct upcall_cpu_request_arm64 {
	__u8 count;		/**< number of vCPUs, 1..255 */
};

/** CPU reply body (msg_size 4). */
struct upcall_cpu_reply {
	__le32 index;		/**< first entry not done; == count on success */
};

/** ADD_MMIO / DEL_MMIO body (msg_size 24). */
struct upcall_mmio_request {
	__le64 mmio_base;	/**< guest-physical base of the register window */
	__le64 mmio_size;	/**< size of the window, > 0 */
	__le32 mmio_irq;	/**< the device's interrupt */
	__le32 pad;		/**< 0 */
};

/** ADD_PCI / DEL_PCI body (msg_size 2), PCI segment 0. */
struct upcall_pci_request {
	__u8 busno;		/**< bus number */
	__u8 devfn;		/**< (slot << 3) | function */
};

/** Flag of struct upcall_mem_request: online the range as movable. */
#define UPCALL_MEM_F_MOVABLE		0x1u

/** ADD_MEM / DEL_MEM body (msg_size 24); an upcall extension. */
struct upcall_mem_request {
	__le64 addr;		/**< guest-physical, block aligned */
	__le64 size;		/**< multiple of the memory block size */
	__le32 node;		/**< NUMA node */
	__le32 flags;		/**< UPCALL_MEM_F_* */
};

/** Protocol version reported by GET_INFO: major << 8 | minor. */
#define UPCALL_INFO_VERSION		0x0102u

/** GET_INFO memory online policy (the guest's auto_online_blocks). */
enum upcall_mem_policy {
	UPCALL_MEM_POLICY_OFFLINE	 = 0,	/**< "offline" */
	UPCALL_MEM_POLICY_ONLINE	 = 1,	/**< "online" */
	UPCALL_MEM_POLICY_ONLINE_KERNEL	 = 2,	/**< "online_kernel" */
	UPCALL_MEM_POLICY_ONLINE_MOVABLE = 3,	/**< "online_movable" */
	UPCALL_MEM_POLICY_UNKNOWN	 = 0xffffffff, /**< unknown */
};

/**
 * GET_INFO vCPU mode: which vCPUs ADD_CPU can bring online, and so what the
 * VMM must do first.  Reported from info version 0x0101 on.
 */
enum upcall_cpu_mode {
	/** Not reported: a guest before info version 0x0101. */
	UPCALL_CPU_MODE_UNKNOWN	= 0,
	/** No CPU operations (ADD_CPU and DEL_CPU answer -EOPNOTSUPP). */
	UPCALL_CPU_MODE_NONE	= 1,
	/**
	 * True hot-add: the VMM creates a vCPU, then ADD_CPU maps its APIC id
	 * to a new logical CPU and onlines it; DEL_CPU offlines and unmaps it
	 * before the VMM destroys the vCPU.  Parked vCPUs work too.
	 */
	UPCALL_CPU_MODE_HOTADD	= 2,
	/**
	 * Parked vCPUs: the VMM creates every vCPU the guest may have at boot
	 * and boots it with `maxcpus=` (the vCPUs to start with); ADD_CPU
	 * onlines present vCPUs, DEL_CPU offlines them (they stay present).
	 */
	UPCALL_CPU_MODE_PARKED	= 3,
};

/**
 * GET_INFO guest architecture: the CPU request format the guest takes
 * (the session's upcall_arch must match it).  Reported from info version
 * 0x0102 on; the values are libupcall's UPCALL_ARCH_*.
 */
enum upcall_guest_arch {
	/** Not reported: a guest before info version 0x0102. */
	UPCALL_GUEST_ARCH_UNKNOWN	= 0,
	/** x86_64: CPU requests carry APIC ids. */
	UPCALL_GUEST_ARCH_X86_64	= 1,
	/** aarch64: CPU requests carry a count. */
	UPCALL_GUEST_ARCH_AARCH64	= 2,
};

/**
 * GET_INFO reply body (msg_size 64); the request has no body (msg_size 0).
 * An extension: a Dragonball guest answers -1 (unknown type).
 */
struct upcall_info_reply {
	__le32 version;		/**< UPCALL_INFO_VERSION */
	__le32 ops;		/**< bit n set: msg_type n is served (1..8) */
	__le64 mem_block_size;	/**< bytes; 0 if memory hotplug is off */
	__le32 cpus_possible;	/**< vCPUs the guest can ever have */
	__le32 cpus_present;	/**< vCPUs it knows of */
	__le32 cpus_online;	/**< vCPUs running */
	__le32 mem_policy;	/**< enum upcall_mem_policy */
	__le32 cpu_mode;	/**< enum upcall_cpu_mode (info version 0x0101) */
	__le32 arch;		/**< enum upcall_guest_arch (info version 0x0102) */
	__le32 reserved[6];	/**< 0 */
};

/** Start of every reply: the header and the guest's result. */
struct upcall_reply_header {
	struct upcall_msg_header hdr;	/**< msg_type: the request's type */
	__le32 result;		/**< 0 or a negative errno (s32) */
};

/** Room for a body after the header. */
#define UPCALL_MSG_BODY_MAX	(UPCALL_MSG_SIZE - sizeof(struct upcall_msg_header))
/** Room for a body after the reply header. */
#define UPCALL_REPLY_BODY_MAX	(UPCALL_MSG_SIZE - sizeof(struct upcall_reply_header))

/** One whole message, as it travels. */
struct upcall_msg {
	struct upcall_msg_header hdr;	/**< the header */
	/** The body, zero-padded. */
	__u8 body[UPCALL_MSG_SIZE - sizeof(struct upcall_msg_header)];
};

/* Every size and offset below is fixed by the specification. */
/** @cond INTERNAL */
UPCALL_WIRE_ASSERT(sizeof(struct upcall_msg_header) == 16, "header size");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_msg_header, msg_size) == 4, "msg_size offset");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_msg_header, msg_type) == 8, "msg_type offset");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_msg_header, msg_flags) == 12, "msg_flags offset");
UPCALL_WIRE_ASSERT(sizeof(struct upcall_cpu_request_x86) == 258, "x86 cpu request size");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_cpu_request_x86, apic_ver) == 1, "apic_ver offset");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_cpu_request_x86, apic_ids) == 2, "apic_ids offset");
UPCALL_WIRE_ASSERT(sizeof(struct upcall_cpu_request_arm64) == 1, "arm64 cpu request size");
UPCALL_WIRE_ASSERT(sizeof(struct upcall_cpu_reply) == 4, "cpu reply size");
UPCALL_WIRE_ASSERT(sizeof(struct upcall_mmio_request) == 24, "mmio request size");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_mmio_request, mmio_size) == 8, "mmio_size offset");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_mmio_request, mmio_irq) == 16, "mmio_irq offset");
UPCALL_WIRE_ASSERT(sizeof(struct upcall_pci_request) == 2, "pci request size");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_pci_request, devfn) == 1, "devfn offset");
UPCALL_WIRE_ASSERT(sizeof(struct upcall_mem_request) == 24, "mem request size");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_mem_request, size) == 8, "mem size offset");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_mem_request, node) == 16, "mem node offset");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_mem_request, flags) == 20, "mem flags offset");
UPCALL_WIRE_ASSERT(sizeof(struct upcall_info_reply) == 64, "info reply size");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_info_reply, mem_block_size) == 8, "info block size offset");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_info_reply, mem_policy) == 28, "info mem_policy offset");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_info_reply, cpu_mode) == 32, "info cpu_mode offset");
UPCALL_WIRE_ASSERT(__builtin_offsetof(struct upcall_info_reply, arch) == 36, "info arch offset");
UPCALL_WIRE_ASSERT(sizeof(struct upcall_reply_header) == 20, "reply header size");
UPCALL_WIRE_ASSERT(sizeof(struct upcall_msg) == UPCALL_MSG_SIZE, "message size");
/** @endcond */

#endif /* _UPCALL_WIRE_H */
