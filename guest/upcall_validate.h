/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pure checks of device-manager requests, before any kernel call, and the
 * pure arithmetic the operations decide by.
 *
 * This file and upcall_validate.c build both in the kernel module and in
 * user space (a fuzzer links them with clang), so they use only the
 * <linux/types.h> types, errno values and no kernel or libc calls.
 * A user-space build needs -Iguest/include for <upcall/wire.h>.
 */
#ifndef _UPCALL_VALIDATE_H
#define _UPCALL_VALIDATE_H

#ifdef __KERNEL__
#include <linux/errno.h>
#include <linux/types.h>
#else
#include <errno.h>
#include <stddef.h>
#include <linux/types.h>
#endif

#include <upcall/wire.h>

/*
 * The CPU request layout and ADD_MMIO's IRQ numbers follow the guest's
 * architecture, not the host's: x86_64 names APIC ids and IRQ 0 is its
 * timer; arm64 only gives a count, and its IRQ 0 is the first GIC SPI, a
 * device's.  The checks take the architecture (UPCALL_GUEST_ARCH_*) so
 * that both layouts can be tested on either; the server uses its own.
 */
#if defined(__aarch64__)
#define UPCALL_VALIDATE_ARCH	UPCALL_GUEST_ARCH_AARCH64
#else
#define UPCALL_VALIDATE_ARCH	UPCALL_GUEST_ARCH_X86_64
#endif

/* APIC id 0xff is the xAPIC broadcast id; firmware never assigns it. */
#define UPCALL_APIC_ID_BROADCAST	0xffu

/* A virtio-mmio window holds at least the register block, 0x000..0x0ff. */
#define UPCALL_MMIO_MIN_SIZE		0x100u
/* ... and starts where 32-bit registers are naturally aligned. */
#define UPCALL_MMIO_ALIGN		4u

/* A request that passed upcall_validate_request(). */
struct upcall_req {
	__u32 type;		/* enum upcall_msg_type */
	__u32 size;		/* body size, as the header says */
	const __u8 *body;	/* points into the checked message */
};

/**
 * upcall_validate_request_arch() - check one whole request message
 * @arch: the guest's architecture, UPCALL_GUEST_ARCH_X86_64 or _AARCH64
 * @msg: the message as received
 * @len: its length; anything but UPCALL_MSG_SIZE is refused
 * @req: filled with the type (always, so that it can be echoed), the body
 *	 size and a pointer to the body
 *
 * Return: 0 when the request is well formed; -ENOMSG when the magic is
 * right but msg_type names no request this server knows (the device
 * manager answers that with Dragonball's -1); -EINVAL for anything else
 * wrong: magic, flags, msg_size, nonzero padding, a malformed body, or a
 * CPU request for an architecture with no CPU layout.
 */
int upcall_validate_request_arch(__u32 arch, const void *msg, size_t len,
				 struct upcall_req *req);

/**
 * upcall_validate_body_arch() - per-type checks of a body whose size is right
 * @arch: the guest's architecture
 * @type: a known msg_type
 * @body: the body, @size bytes
 * @size: the body size
 *
 * Return: 0 or -EINVAL.
 */
int upcall_validate_body_arch(__u32 arch, __u32 type, const __u8 *body,
			      __u32 size);

/*
 * The body size a request of @type must carry on @arch, -ENOMSG if the
 * type is unknown, -EINVAL for a CPU request on an unknown architecture.
 */
int upcall_request_size_arch(__u32 arch, __u32 type);

/* The same, for the architecture this code is built for. */
static inline int upcall_validate_request(const void *msg, size_t len,
					  struct upcall_req *req)
{
	return upcall_validate_request_arch(UPCALL_VALIDATE_ARCH, msg, len, req);
}

static inline int upcall_validate_body(__u32 type, const __u8 *body, __u32 size)
{
	return upcall_validate_body_arch(UPCALL_VALIDATE_ARCH, type, body, size);
}

static inline int upcall_request_size(__u32 type)
{
	return upcall_request_size_arch(UPCALL_VALIDATE_ARCH, type);
}

/**
 * upcall_validate_mem_range() - check a memory range against a block size
 * @addr: guest-physical start
 * @size: bytes
 * @block: the guest's memory block size, a power of two
 *
 * Return: 0 when the range is non-empty, does not wrap and starts and ends
 * on block boundaries; -EINVAL otherwise.
 */
int upcall_validate_mem_range(__u64 addr, __u64 size, __u64 block);

/**
 * upcall_ranges_overlap() - whether two address ranges share a byte
 * @a: the first range's start
 * @a_size: its size, not 0
 * @b: the second range's start
 * @b_size: its size, not 0
 *
 * Ends are compared inclusive, so a range may end at 2^64; neither may
 * wrap (upcall_validate_request() refuses requests whose range does).
 *
 * Return: 1 if they overlap, 0 if not (adjacent ranges do not).
 */
int upcall_ranges_overlap(__u64 a, __u64 a_size, __u64 b, __u64 b_size);

/* No CPU, or no id: a free slot that was never used. */
#define UPCALL_CPU_ID_NONE	0xffffffffu

/**
 * struct upcall_cpu_slot - one logical CPU slot of an x86_64 guest
 * @apic: the APIC id of the CPU present in this slot, or UPCALL_CPU_ID_NONE
 *	  when the slot is free
 * @known: for a free slot, the ids the kernel would give it back to (the
 *	   APIC id its CPU had, its ACPI id); UPCALL_CPU_ID_NONE for none.  A
 *	   free slot with neither is pristine: any new APIC id can take it.
 *
 * x86 binds an APIC id to a logical CPU slot for good the first time it
 * maps it, so a removed vCPU's slot is kept for its APIC id, and a new
 * APIC id needs a pristine slot.
 */
struct upcall_cpu_slot {
	__u32 apic;
	__u32 known[2];
};

/**
 * upcall_cpu_room() - whether free slots can take an ADD_CPU's new vCPUs
 * @slots: every possible CPU slot
 * @nslots: how many
 * @apic_ids: the request's APIC ids (validated: no duplicates)
 * @count: how many
 *
 * An id that a present CPU has needs no slot; one that a free slot knows
 * gets that slot back; any other needs a pristine slot.
 *
 * Return: 0, or -ENOSPC when the free or the pristine slots are too few.
 */
int upcall_cpu_room(const struct upcall_cpu_slot *slots, unsigned int nslots,
		    const __u8 *apic_ids, unsigned int count);

#endif /* _UPCALL_VALIDATE_H */
