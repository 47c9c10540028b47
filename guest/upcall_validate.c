// SPDX-License-Identifier: GPL-2.0
/*
 * Pure request validation for the upcall device manager, and the pure
 * arithmetic of the operations (range overlap, CPU slots).
 *
 * Nothing here calls into the kernel: the checks only look at bytes, so the
 * same file is built into the module, into its KUnit suite
 * (upcall_kunit.c) and into a user-space fuzzer.  Every
 * multi-byte field is read byte by byte as little endian, which keeps the
 * code independent of the host's endianness and of the buffer's alignment.
 */
#include "upcall_validate.h"

#define HDR_SIZE	((__u32)sizeof(struct upcall_msg_header))
#define HDR_OFF(f)	__builtin_offsetof(struct upcall_msg_header, f)

static __u32 get_le32(const __u8 *p)
{
	return (__u32)p[0] | (__u32)p[1] << 8 | (__u32)p[2] << 16 |
	       (__u32)p[3] << 24;
}

static __u64 get_le64(const __u8 *p)
{
	return (__u64)get_le32(p) | (__u64)get_le32(p + 4) << 32;
}

static int all_zero(const __u8 *p, __u32 len)
{
	__u32 i;

	for (i = 0; i < len; i++)
		if (p[i])
			return 0;
	return 1;
}

int upcall_request_size_arch(__u32 arch, __u32 type)
{
	switch (type) {
	case UPCALL_MSG_ADD_CPU:
	case UPCALL_MSG_DEL_CPU:
		if (arch == UPCALL_GUEST_ARCH_X86_64)
			return sizeof(struct upcall_cpu_request_x86);
		if (arch == UPCALL_GUEST_ARCH_AARCH64)
			return sizeof(struct upcall_cpu_request_arm64);
		return -EINVAL;
	case UPCALL_MSG_ADD_MEM:
	case UPCALL_MSG_DEL_MEM:
		return sizeof(struct upcall_mem_request);
	case UPCALL_MSG_ADD_MMIO:
	case UPCALL_MSG_DEL_MMIO:
		return sizeof(struct upcall_mmio_request);
	case UPCALL_MSG_ADD_PCI:
	case UPCALL_MSG_DEL_PCI:
		return sizeof(struct upcall_pci_request);
	case UPCALL_MSG_GET_INFO:
		return 0;
	default:
		/* CONNECT travels from the guest only, so it is unknown here. */
		return -ENOMSG;
	}
}

/* arm64: a count of vCPUs, at least one. */
static int check_cpu_arm64(const __u8 *body)
{
	return body[0] ? 0 : -EINVAL;
}

/*
 * x86_64: only the first @count APIC ids mean something; the rest must be
 * zero so that a confused peer is caught instead of half understood.  A
 * duplicate would make the guest act twice on one vCPU, and the broadcast
 * id can never name a CPU.
 */
static int check_cpu_x86(const __u8 *body)
{
	const __u8 *ids = body + __builtin_offsetof(struct upcall_cpu_request_x86,
						    apic_ids);
	__u32 seen[256 / 32] = { 0 };
	__u32 count = body[0];
	__u32 i;

	if (count == 0)
		return -EINVAL;
	if (!all_zero(ids + count, 256 - count))
		return -EINVAL;
	for (i = 0; i < count; i++) {
		__u32 id = ids[i];

		if (id == UPCALL_APIC_ID_BROADCAST)
			return -EINVAL;
		if (seen[id / 32] & (1u << (id % 32)))
			return -EINVAL;
		seen[id / 32] |= 1u << (id % 32);
	}
	return 0;
}

/* A window must be non-empty and must not wrap around the address space. */
static int check_range(__u64 base, __u64 size)
{
	if (size == 0 || base + (size - 1) < base)
		return -EINVAL;
	return 0;
}

static int check_mem(const __u8 *body)
{
	__u32 flags = get_le32(body + __builtin_offsetof(struct upcall_mem_request,
							 flags));

	if (flags & ~UPCALL_MEM_F_MOVABLE)
		return -EINVAL;
	return check_range(get_le64(body),
			   get_le64(body + __builtin_offsetof(struct upcall_mem_request,
							      size)));
}

int upcall_validate_mem_range(__u64 addr, __u64 size, __u64 block)
{
	/* memory_block_size_bytes() is always a power of two. */
	if (block == 0 || (block & (block - 1)))
		return -EINVAL;
	if (check_range(addr, size))
		return -EINVAL;
	if ((addr | size) & (block - 1))
		return -EINVAL;
	return 0;
}

/*
 * The window must hold the virtio-mmio register block the driver reads
 * (0x000..0x0ff) and its 32-bit registers must be aligned.  IRQ 0 is the
 * timer on x86 and "no interrupt" to the platform bus, never a device's;
 * on arm64 the IRQ is a GIC SPI number, and SPI 0 is one like the others.
 */
static int check_mmio(__u32 arch, const __u8 *body)
{
	__u64 base = get_le64(body);
	__u64 size = get_le64(body + __builtin_offsetof(struct upcall_mmio_request,
							mmio_size));
	__u32 irq = get_le32(body + __builtin_offsetof(struct upcall_mmio_request,
						       mmio_irq));

	if (get_le32(body + __builtin_offsetof(struct upcall_mmio_request, pad)))
		return -EINVAL;
	if (check_range(base, size))
		return -EINVAL;
	if (size < UPCALL_MMIO_MIN_SIZE || (base & (UPCALL_MMIO_ALIGN - 1)))
		return -EINVAL;
	if (irq == 0 && arch != UPCALL_GUEST_ARCH_AARCH64)
		return -EINVAL;
	return 0;
}

/*
 * ADD_PCI scans a whole slot, as a hotplug controller would, so it names
 * function 0; DEL_PCI may name any function.
 */
static int check_pci(__u32 type, const __u8 *body)
{
	__u8 devfn = body[__builtin_offsetof(struct upcall_pci_request, devfn)];

	if (type == UPCALL_MSG_ADD_PCI && (devfn & 7))
		return -EINVAL;
	return 0;
}

int upcall_validate_body_arch(__u32 arch, __u32 type, const __u8 *body,
			      __u32 size)
{
	int want = upcall_request_size_arch(arch, type);

	if (want < 0)
		return want;
	if (size != (__u32)want)
		return -EINVAL;

	switch (type) {
	case UPCALL_MSG_ADD_CPU:
	case UPCALL_MSG_DEL_CPU:
		return arch == UPCALL_GUEST_ARCH_AARCH64 ? check_cpu_arm64(body) :
							  check_cpu_x86(body);
	case UPCALL_MSG_ADD_MEM:
	case UPCALL_MSG_DEL_MEM:
		return check_mem(body);
	case UPCALL_MSG_ADD_MMIO:
	case UPCALL_MSG_DEL_MMIO:
		return check_mmio(arch, body);
	case UPCALL_MSG_ADD_PCI:
	case UPCALL_MSG_DEL_PCI:
		return check_pci(type, body);
	default:
		/* GET_INFO has no body. */
		return 0;
	}
}

int upcall_validate_request_arch(__u32 arch, const void *msg, size_t len,
				 struct upcall_req *req)
{
	const __u8 *m = msg;
	int want;

	req->type = 0;
	req->size = 0;
	req->body = NULL;
	if (!m || len != UPCALL_MSG_SIZE)
		return -EINVAL;

	/* Read the type first: even a bad message gets it echoed back. */
	req->type = get_le32(m + HDR_OFF(msg_type));
	if (get_le32(m + HDR_OFF(magic_version)) != UPCALL_MAGIC_VERSION)
		return -EINVAL;
	want = upcall_request_size_arch(arch, req->type);
	if (want < 0)
		return want;
	if (get_le32(m + HDR_OFF(msg_flags)) != 0)
		return -EINVAL;
	if (get_le32(m + HDR_OFF(msg_size)) != (__u32)want)
		return -EINVAL;

	req->size = (__u32)want;
	req->body = m + HDR_SIZE;
	if (!all_zero(req->body + req->size, UPCALL_MSG_SIZE - HDR_SIZE - req->size))
		return -EINVAL;
	return upcall_validate_body_arch(arch, req->type, req->body, req->size);
}

int upcall_ranges_overlap(__u64 a, __u64 a_size, __u64 b, __u64 b_size)
{
	return a <= b + (b_size - 1) && b <= a + (a_size - 1);
}

/* Whether a free slot would be given back to @apic. */
static int slot_knows(const struct upcall_cpu_slot *s, __u32 apic)
{
	return s->apic == UPCALL_CPU_ID_NONE &&
	       (s->known[0] == apic || s->known[1] == apic);
}

int upcall_cpu_room(const struct upcall_cpu_slot *slots, unsigned int nslots,
		    const __u8 *apic_ids, unsigned int count)
{
	unsigned int need = 0, need_pristine = 0, free = 0, pristine = 0;
	unsigned int i, s;

	for (i = 0; i < count; i++) {
		int present = 0, known = 0;

		for (s = 0; s < nslots; s++) {
			present |= slots[s].apic == apic_ids[i];
			known |= slot_knows(&slots[s], apic_ids[i]);
		}
		if (present)
			continue;
		need++;
		if (!known)
			need_pristine++;
	}
	for (s = 0; s < nslots; s++) {
		if (slots[s].apic != UPCALL_CPU_ID_NONE)
			continue;
		free++;
		if (slots[s].known[0] == UPCALL_CPU_ID_NONE &&
		    slots[s].known[1] == UPCALL_CPU_ID_NONE)
			pristine++;
	}
	return need > free || need_pristine > pristine ? -ENOSPC : 0;
}
