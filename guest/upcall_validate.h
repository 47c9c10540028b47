/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Pure checks of one device-manager request, before any kernel call.
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
 * The CPU request layout follows the guest's architecture, not the
 * host's: x86_64 names APIC ids, arm64 only gives a count.
 */
#if defined(__aarch64__)
#define UPCALL_CPU_REQ_SIZE	((__u32)sizeof(struct upcall_cpu_request_arm64))
#else
#define UPCALL_CPU_REQ_SIZE	((__u32)sizeof(struct upcall_cpu_request_x86))
#endif

/* ADD_MMIO's IRQ 0: x86's timer, but arm64's first GIC SPI (a device's). */
#if defined(__aarch64__)
#define UPCALL_MMIO_IRQ0_OK	1
#else
#define UPCALL_MMIO_IRQ0_OK	0
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
 * upcall_validate_request() - check one whole request message
 * @msg: the message as received
 * @len: its length; anything but UPCALL_MSG_SIZE is refused
 * @req: filled with the type (always, so that it can be echoed), the body
 *	 size and a pointer to the body
 *
 * Return: 0 when the request is well formed; -ENOMSG when the magic is
 * right but msg_type names no request this server knows (the device
 * manager answers that with Dragonball's -1); -EINVAL for anything else
 * wrong: magic, flags, msg_size, nonzero padding or a malformed body.
 */
int upcall_validate_request(const void *msg, size_t len,
			    struct upcall_req *req);

/**
 * upcall_validate_body() - per-type checks of a body whose size is right
 * @type: a known msg_type
 * @body: the body, @size bytes
 * @size: the body size
 *
 * Return: 0 or -EINVAL.
 */
int upcall_validate_body(__u32 type, const __u8 *body, __u32 size);

/* The body size a request of @type must carry, or -ENOMSG if unknown. */
int upcall_request_size(__u32 type);

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

#endif /* _UPCALL_VALIDATE_H */
