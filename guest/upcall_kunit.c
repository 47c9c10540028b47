// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the server's pure code (upcall_validate.c): the request
 * validator for both CPU layouts, the memory range rules, the overlap
 * test that ADD_MEM, DEL_MEM and ADD_MMIO decide by, and the x86_64 CPU
 * slot arithmetic.  Part of the server when CONFIG_UPCALL_GUEST_KUNIT_TEST
 * is set (in a tree) or UPCALL_KUNIT=1 (out of tree, against a kernel with
 * CONFIG_KUNIT): the suite "upcall" runs at boot or when the module loads.
 */
#include <kunit/test.h>
#include <linux/kernel.h>
#include <linux/limits.h>
#include <linux/sizes.h>
#include <linux/string.h>

#include "upcall_validate.h"

#define X86	UPCALL_GUEST_ARCH_X86_64
#define ARM64	UPCALL_GUEST_ARCH_AARCH64
#define HDR	sizeof(struct upcall_msg_header)
#define NONE	UPCALL_CPU_ID_NONE
#define END64(size)	(0ull - (size))	/* a range of @size ending at 2^64 */

static void put32(u8 *p, u32 v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
}

static void put64(u8 *p, u64 v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

/* A zeroed request message of @type with a body of @size. */
static u8 *msg_new(struct kunit *test, u32 type, u32 size)
{
	u8 *m = kunit_kzalloc(test, UPCALL_MSG_SIZE, GFP_KERNEL);

	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, m);
	put32(m + offsetof(struct upcall_msg_header, magic_version),
	      UPCALL_MAGIC_VERSION);
	put32(m + offsetof(struct upcall_msg_header, msg_size), size);
	put32(m + offsetof(struct upcall_msg_header, msg_type), type);
	return m;
}

static int check(u32 arch, const u8 *m)
{
	struct upcall_req req;

	return upcall_validate_request_arch(arch, m, UPCALL_MSG_SIZE, &req);
}

static void header_test(struct kunit *test)
{
	struct upcall_req req;
	u8 *m = msg_new(test, UPCALL_MSG_GET_INFO, 0);

	KUNIT_EXPECT_EQ(test, check(X86, m), 0);
	KUNIT_EXPECT_EQ(test, check(ARM64, m), 0);
	KUNIT_EXPECT_EQ(test, upcall_validate_request_arch(X86, m, UPCALL_MSG_SIZE - 1, &req),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, upcall_validate_request_arch(X86, NULL, UPCALL_MSG_SIZE, &req),
			-EINVAL);

	/* Padding after the body, flags, size and magic. */
	m[UPCALL_MSG_SIZE - 1] = 1;
	KUNIT_EXPECT_EQ(test, check(X86, m), -EINVAL);
	m[UPCALL_MSG_SIZE - 1] = 0;
	put32(m + offsetof(struct upcall_msg_header, msg_flags), 1);
	KUNIT_EXPECT_EQ(test, check(X86, m), -EINVAL);
	put32(m + offsetof(struct upcall_msg_header, msg_flags), 0);
	put32(m + offsetof(struct upcall_msg_header, msg_size), 4);
	KUNIT_EXPECT_EQ(test, check(X86, m), -EINVAL);
	put32(m + offsetof(struct upcall_msg_header, msg_size), 0);
	put32(m, UPCALL_MAGIC_VERSION + 1);
	KUNIT_EXPECT_EQ(test, upcall_validate_request_arch(X86, m, UPCALL_MSG_SIZE, &req),
			-EINVAL);
	/* Even a bad message has its type read, to be echoed. */
	KUNIT_EXPECT_EQ(test, req.type, (u32)UPCALL_MSG_GET_INFO);

	/* Unknown types, CONNECT among them (it travels guest to host). */
	m = msg_new(test, 0x1234, 0);
	KUNIT_EXPECT_EQ(test, upcall_validate_request_arch(X86, m, UPCALL_MSG_SIZE, &req),
			-ENOMSG);
	KUNIT_EXPECT_EQ(test, req.type, 0x1234u);
	m = msg_new(test, UPCALL_MSG_CONNECT, 0);
	KUNIT_EXPECT_EQ(test, check(X86, m), -ENOMSG);
}

/* An x86_64 CPU request of @count APIC ids @ids. */
static u8 *cpu_x86(struct kunit *test, u32 type, const u8 *ids, u8 count)
{
	u8 *m = msg_new(test, type, sizeof(struct upcall_cpu_request_x86));
	u8 *b = m + HDR;

	b[offsetof(struct upcall_cpu_request_x86, count)] = count;
	b[offsetof(struct upcall_cpu_request_x86, apic_ver)] = UPCALL_APIC_VERSION_DEFAULT;
	memcpy(b + offsetof(struct upcall_cpu_request_x86, apic_ids), ids, count);
	return m;
}

static void cpu_x86_test(struct kunit *test)
{
	static const u8 one[] = { 1 }, two[] = { 3, 1 }, dup[] = { 2, 2 },
			bcast[] = { 0xff };
	struct upcall_req req;
	u8 all[UPCALL_CPU_MAX_COUNT];
	unsigned int i;
	u8 *m;

	m = cpu_x86(test, UPCALL_MSG_ADD_CPU, one, 1);
	KUNIT_EXPECT_EQ(test, upcall_validate_request_arch(X86, m, UPCALL_MSG_SIZE, &req), 0);
	KUNIT_EXPECT_EQ(test, req.size, (u32)sizeof(struct upcall_cpu_request_x86));
	KUNIT_EXPECT_PTR_EQ(test, req.body, (const u8 *)m + HDR);
	KUNIT_EXPECT_EQ(test, check(X86, cpu_x86(test, UPCALL_MSG_DEL_CPU, two, 2)), 0);
	for (i = 0; i < ARRAY_SIZE(all); i++)
		all[i] = i;
	KUNIT_EXPECT_EQ(test, check(X86, cpu_x86(test, UPCALL_MSG_ADD_CPU, all, 255)), 0);

	KUNIT_EXPECT_EQ(test, check(X86, cpu_x86(test, UPCALL_MSG_ADD_CPU, one, 0)), -EINVAL);
	KUNIT_EXPECT_EQ(test, check(X86, cpu_x86(test, UPCALL_MSG_ADD_CPU, dup, 2)), -EINVAL);
	KUNIT_EXPECT_EQ(test, check(X86, cpu_x86(test, UPCALL_MSG_DEL_CPU, bcast, 1)), -EINVAL);
	/* An id past the count must be 0. */
	m = cpu_x86(test, UPCALL_MSG_ADD_CPU, two, 2);
	m[HDR] = 1;
	KUNIT_EXPECT_EQ(test, check(X86, m), -EINVAL);
	/* The arm64 layout's size is not an x86_64 CPU request. */
	m = msg_new(test, UPCALL_MSG_ADD_CPU, sizeof(struct upcall_cpu_request_arm64));
	m[HDR] = 1;
	KUNIT_EXPECT_EQ(test, check(X86, m), -EINVAL);
}

static void cpu_arm64_test(struct kunit *test)
{
	u32 size = sizeof(struct upcall_cpu_request_arm64);
	u8 *m;

	KUNIT_EXPECT_EQ(test, upcall_request_size_arch(ARM64, UPCALL_MSG_ADD_CPU), 1);
	m = msg_new(test, UPCALL_MSG_ADD_CPU, size);
	m[HDR] = 2;
	KUNIT_EXPECT_EQ(test, check(ARM64, m), 0);
	m[HDR] = 255;
	KUNIT_EXPECT_EQ(test, check(ARM64, m), 0);
	m[HDR] = 0;
	KUNIT_EXPECT_EQ(test, check(ARM64, m), -EINVAL);
	/* Whatever follows the one-byte body is padding. */
	m[HDR] = 1;
	m[HDR + 1] = 1;
	KUNIT_EXPECT_EQ(test, check(ARM64, m), -EINVAL);
	/* The x86_64 layout's size is not an arm64 CPU request. */
	KUNIT_EXPECT_EQ(test, check(ARM64, cpu_x86(test, UPCALL_MSG_DEL_CPU, m + HDR, 1)),
			-EINVAL);
	/* No layout for an unknown architecture; other requests still pass. */
	m = msg_new(test, UPCALL_MSG_ADD_CPU, size);
	m[HDR] = 1;
	KUNIT_EXPECT_EQ(test, check(UPCALL_GUEST_ARCH_UNKNOWN, m), -EINVAL);
	KUNIT_EXPECT_EQ(test, check(UPCALL_GUEST_ARCH_UNKNOWN,
				    msg_new(test, UPCALL_MSG_GET_INFO, 0)), 0);
}

static u8 *mem_msg(struct kunit *test, u32 type, u64 addr, u64 size, u32 flags)
{
	u8 *m = msg_new(test, type, sizeof(struct upcall_mem_request));

	put64(m + HDR + offsetof(struct upcall_mem_request, addr), addr);
	put64(m + HDR + offsetof(struct upcall_mem_request, size), size);
	put32(m + HDR + offsetof(struct upcall_mem_request, flags), flags);
	return m;
}

static void mem_test(struct kunit *test)
{
	const u64 block = SZ_128M;

	KUNIT_EXPECT_EQ(test, check(X86, mem_msg(test, UPCALL_MSG_ADD_MEM, SZ_4G, block, 0)), 0);
	KUNIT_EXPECT_EQ(test, check(X86, mem_msg(test, UPCALL_MSG_ADD_MEM, SZ_4G, block,
						 UPCALL_MEM_F_MOVABLE)), 0);
	KUNIT_EXPECT_EQ(test, check(X86, mem_msg(test, UPCALL_MSG_ADD_MEM, SZ_4G, block, 2)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, check(X86, mem_msg(test, UPCALL_MSG_DEL_MEM, SZ_4G, 0, 0)),
			-EINVAL);
	/* Ending at 2^64 is fine; one byte more wraps. */
	KUNIT_EXPECT_EQ(test, check(ARM64, mem_msg(test, UPCALL_MSG_DEL_MEM, END64(block),
						   block, 0)), 0);
	KUNIT_EXPECT_EQ(test, check(ARM64, mem_msg(test, UPCALL_MSG_DEL_MEM, END64(block) + 1,
						   block, 0)), -EINVAL);

	KUNIT_EXPECT_EQ(test, upcall_validate_mem_range(SZ_4G, 2 * block, block), 0);
	KUNIT_EXPECT_EQ(test, upcall_validate_mem_range(END64(block), block, block), 0);
	KUNIT_EXPECT_EQ(test, upcall_validate_mem_range(SZ_4G + SZ_2M, block, block), -EINVAL);
	KUNIT_EXPECT_EQ(test, upcall_validate_mem_range(SZ_4G, block + SZ_2M, block), -EINVAL);
	KUNIT_EXPECT_EQ(test, upcall_validate_mem_range(SZ_4G, 0, block), -EINVAL);
	KUNIT_EXPECT_EQ(test, upcall_validate_mem_range(END64(block), 2 * block, block),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, upcall_validate_mem_range(SZ_4G, block, 0), -EINVAL);
	KUNIT_EXPECT_EQ(test, upcall_validate_mem_range(SZ_4G, block, 3 * SZ_64M), -EINVAL);
}

static u8 *mmio_msg(struct kunit *test, u32 type, u64 base, u64 size, u32 irq)
{
	u8 *m = msg_new(test, type, sizeof(struct upcall_mmio_request));

	put64(m + HDR + offsetof(struct upcall_mmio_request, mmio_base), base);
	put64(m + HDR + offsetof(struct upcall_mmio_request, mmio_size), size);
	put32(m + HDR + offsetof(struct upcall_mmio_request, mmio_irq), irq);
	return m;
}

static void mmio_test(struct kunit *test)
{
	const u64 base = 0xd0000000;
	u8 *m;

	KUNIT_EXPECT_EQ(test, check(X86, mmio_msg(test, UPCALL_MSG_ADD_MMIO, base, SZ_4K, 5)), 0);
	KUNIT_EXPECT_EQ(test, check(X86, mmio_msg(test, UPCALL_MSG_DEL_MMIO, base, 0x100, 5)), 0);
	KUNIT_EXPECT_EQ(test, check(X86, mmio_msg(test, UPCALL_MSG_ADD_MMIO, base, 0xff, 5)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, check(X86, mmio_msg(test, UPCALL_MSG_ADD_MMIO, base + 2, SZ_4K, 5)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, check(X86, mmio_msg(test, UPCALL_MSG_ADD_MMIO, END64(0x100) + 4,
						  0x100, 5)), -EINVAL);
	/* IRQ 0: the timer on x86_64, the first GIC SPI on arm64. */
	KUNIT_EXPECT_EQ(test, check(X86, mmio_msg(test, UPCALL_MSG_ADD_MMIO, base, SZ_4K, 0)),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, check(ARM64, mmio_msg(test, UPCALL_MSG_ADD_MMIO, base, SZ_4K, 0)),
			0);
	m = mmio_msg(test, UPCALL_MSG_ADD_MMIO, base, SZ_4K, 5);
	put32(m + HDR + offsetof(struct upcall_mmio_request, pad), 1);
	KUNIT_EXPECT_EQ(test, check(X86, m), -EINVAL);
}

static void pci_test(struct kunit *test)
{
	u8 *m = msg_new(test, UPCALL_MSG_ADD_PCI, sizeof(struct upcall_pci_request));

	m[HDR + offsetof(struct upcall_pci_request, devfn)] = 3 << 3;
	KUNIT_EXPECT_EQ(test, check(X86, m), 0);
	/* ADD_PCI scans a slot: function 0; DEL_PCI takes any function. */
	m[HDR + offsetof(struct upcall_pci_request, devfn)] = 3 << 3 | 1;
	KUNIT_EXPECT_EQ(test, check(X86, m), -EINVAL);
	put32(m + offsetof(struct upcall_msg_header, msg_type), UPCALL_MSG_DEL_PCI);
	KUNIT_EXPECT_EQ(test, check(X86, m), 0);
}

static void overlap_test(struct kunit *test)
{
	KUNIT_EXPECT_EQ(test, upcall_ranges_overlap(0x1000, 0x1000, 0x1000, 0x1000), 1);
	KUNIT_EXPECT_EQ(test, upcall_ranges_overlap(0x1000, 0x1000, 0x1fff, 1), 1);
	KUNIT_EXPECT_EQ(test, upcall_ranges_overlap(0x1800, 0x100, 0x1000, 0x1000), 1);
	KUNIT_EXPECT_EQ(test, upcall_ranges_overlap(0x1000, 0x1000, 0x800, 0x1000), 1);
	/* Adjacent ranges do not overlap, on either side. */
	KUNIT_EXPECT_EQ(test, upcall_ranges_overlap(0x1000, 0x1000, 0x2000, 0x1000), 0);
	KUNIT_EXPECT_EQ(test, upcall_ranges_overlap(0x2000, 0x1000, 0x1000, 0x1000), 0);
	/* Ranges that end at 2^64, where an exclusive end would wrap to 0. */
	KUNIT_EXPECT_EQ(test, upcall_ranges_overlap(END64(SZ_4K), SZ_4K, END64(1), 1), 1);
	KUNIT_EXPECT_EQ(test, upcall_ranges_overlap(END64(SZ_8K), SZ_4K, END64(SZ_4K), SZ_4K),
			0);
	KUNIT_EXPECT_EQ(test, upcall_ranges_overlap(0, SZ_4K, END64(SZ_4K), SZ_4K), 0);
	KUNIT_EXPECT_EQ(test, upcall_ranges_overlap(1, U64_MAX, END64(1), 1), 1);
	KUNIT_EXPECT_EQ(test, upcall_ranges_overlap(0, U64_MAX, END64(1), 1), 0);
}

static void cpu_room_test(struct kunit *test)
{
	/* CPU 0 present; a pristine slot; a slot kept for APIC id 3. */
	const struct upcall_cpu_slot slots[] = {
		{ .apic = 0, .known = { NONE, NONE } },
		{ .apic = NONE, .known = { NONE, NONE } },
		{ .apic = NONE, .known = { 3, NONE } },
	};
	/* The same, the slot known by its ACPI id. */
	const struct upcall_cpu_slot acpi[] = {
		{ .apic = 0, .known = { NONE, NONE } },
		{ .apic = NONE, .known = { NONE, NONE } },
		{ .apic = NONE, .known = { NONE, 3 } },
	};
	static const u8 r3[] = { 3 }, r5[] = { 5 }, r35[] = { 3, 5 },
			r56[] = { 5, 6 }, r035[] = { 0, 3, 5 };

	KUNIT_EXPECT_EQ(test, upcall_cpu_room(slots, 3, r3, 1), 0);
	KUNIT_EXPECT_EQ(test, upcall_cpu_room(slots, 3, r5, 1), 0);
	KUNIT_EXPECT_EQ(test, upcall_cpu_room(slots, 3, r35, 2), 0);
	/* A present CPU's id takes no slot. */
	KUNIT_EXPECT_EQ(test, upcall_cpu_room(slots, 3, r035, 3), 0);
	/* Two free slots, but only one may take a new APIC id. */
	KUNIT_EXPECT_EQ(test, upcall_cpu_room(slots, 3, r56, 2), -ENOSPC);
	KUNIT_EXPECT_EQ(test, upcall_cpu_room(acpi, 3, r35, 2), 0);
	KUNIT_EXPECT_EQ(test, upcall_cpu_room(acpi, 3, r56, 2), -ENOSPC);
	/* No free slot at all. */
	KUNIT_EXPECT_EQ(test, upcall_cpu_room(slots, 1, r5, 1), -ENOSPC);
	KUNIT_EXPECT_EQ(test, upcall_cpu_room(slots, 1, r035, 1), 0);
	/* A slot kept for one APIC id takes no other. */
	KUNIT_EXPECT_EQ(test, upcall_cpu_room(slots + 2, 1, r3, 1), 0);
	KUNIT_EXPECT_EQ(test, upcall_cpu_room(slots + 2, 1, r5, 1), -ENOSPC);
}

static struct kunit_case upcall_cases[] = {
	KUNIT_CASE(header_test),
	KUNIT_CASE(cpu_x86_test),
	KUNIT_CASE(cpu_arm64_test),
	KUNIT_CASE(mem_test),
	KUNIT_CASE(mmio_test),
	KUNIT_CASE(pci_test),
	KUNIT_CASE(overlap_test),
	KUNIT_CASE(cpu_room_test),
	{}
};

static struct kunit_suite upcall_suite = {
	.name = "upcall",
	.test_cases = upcall_cases,
};
kunit_test_suite(upcall_suite);
