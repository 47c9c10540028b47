// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the guest module's request validation,
 * guest/upcall_validate.c, compiled for user space (the same file the
 * module builds; -Iguest -Iguest/include).
 *
 * The validator may be stricter than the specification (alignment, IRQ 0,
 * PCI function numbers are policy that changes), so the checks are the
 * ones that must hold whatever the policy:
 *  1. a message of exactly the input's length: anything but 1024 bytes is
 *     refused, and ASan catches a read past the end;
 *  2. the input zero-padded or truncated to 1024 bytes, so most inputs reach
 *     the body checks:
 *     - soundness: an accepted request meets every rule wire-protocol.md
 *       states (magic, known type, flags 0, msg_size of its type, a CPU
 *       count of 1..255 with unused ids 0, memory flags only bit 0, a
 *       window that is not empty and does not wrap);
 *     - the header's contract: -ENOMSG exactly for a good magic with an
 *       unknown type; otherwise 0 exactly when header, zero padding and
 *       upcall_validate_body_arch() all agree; an accepted request points at its
 *       body with the size its type demands; the type is always echoed;
 *  3. upcall_validate_body_arch() on a heap copy of exactly the body size the
 *     input names, so a check that reads past the body is caught;
 *  4. upcall_validate_mem_range(), where the validator has it: an accepted
 *     range is non-empty, does not wrap and is block aligned.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"

#include "upcall_validate.h"


static uint64_t le64(const uint8_t *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Weak: older validators do not have it. */
int upcall_validate_mem_range(__u64 addr, __u64 size, __u64 block) __attribute__((weak));

/* ---- the specification's rules (x86_64 guest) ---- */

static int spec_size(uint32_t type)
{
	switch (type) {
	case 1: case 2:
		return 258;		/* struct cpu_request_x86 */
	case 3: case 4: case 5: case 6:
		return 24;		/* mem / mmio request */
	case 7: case 8:
		return 2;		/* pci request */
	case 0x100:
		return 0;		/* GET_INFO */
	default:
		return -1;
	}
}

/* A window [base, base + size - 1]: not empty, not past 2^64. */
static int spec_range(uint64_t base, uint64_t size)
{
	return size != 0 && (unsigned __int128)base + size - 1 <= UINT64_MAX;
}

/* Necessary conditions on a body of the right size. */
static int spec_body(uint32_t type, const uint8_t *b)
{
	unsigned int i, count;

	switch (type) {
	case 1: case 2:
		count = b[0];
		if (count == 0)
			return 0;
		for (i = count; i < 256; i++)	/* "rest 0" */
			if (b[2 + i])
				return 0;
		return 1;
	case 3: case 4:
		return (le32(b + 20) & ~1u) == 0 && spec_range(le64(b), le64(b + 8));
	case 5: case 6:
		return spec_range(le64(b), le64(b + 8));
	default:
		return 1;
	}
}

static int header_ok(const uint8_t *m)
{
	int want = spec_size(le32(m + 8));

	return le32(m) == 0x444D0100u && want >= 0 && le32(m + 12) == 0 &&
	       le32(m + 4) == (uint32_t)want;
}

static int padding_zero(const uint8_t *m)
{
	unsigned int i;

	for (i = 16 + (unsigned int)spec_size(le32(m + 8)); i < 1024; i++)
		if (m[i])
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The rules above are the x86_64 layout, checked on any host. */
#define X86	UPCALL_GUEST_ARCH_X86_64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t msg[UPCALL_MSG_SIZE];
	struct upcall_req req;
	int r, want;

	/* 1. The exact input: only a 1024-byte message can be valid. */
	memset(&req, 0x5a, sizeof(req));
	r = upcall_validate_request_arch(X86, data, size, &req);
	if (size != UPCALL_MSG_SIZE)
		CHECK(r == -EINVAL);

	/* 2. Padded to a whole message. */
	memset(msg, 0, sizeof(msg));
	memcpy(msg, data, size < sizeof(msg) ? size : sizeof(msg));
	memset(&req, 0x5a, sizeof(req));
	r = upcall_validate_request_arch(X86, msg, sizeof(msg), &req);
	CHECK(r == 0 || r == -EINVAL || r == -ENOMSG);
	CHECK(req.type == le32(msg + 8));	/* echoed even when refused */
	CHECK((r == -ENOMSG) == (le32(msg) == 0x444D0100u && spec_size(req.type) < 0));
	if (r == 0) {
		/* Soundness: nothing the specification rules out gets through. */
		CHECK(header_ok(msg));
		CHECK(spec_body(req.type, msg + 16));
		CHECK(req.body == msg + sizeof(struct upcall_msg_header));
		CHECK((int)req.size == upcall_request_size_arch(X86, req.type));
		CHECK((int)req.size == spec_size(req.type));
	}
	if (r != -ENOMSG && header_ok(msg)) {
		int body = upcall_validate_body_arch(X86, req.type, msg + 16, le32(msg + 4));

		CHECK((r == 0) == (padding_zero(msg) && body == 0));
	} else if (r != -ENOMSG) {
		CHECK(r == -EINVAL);
	}

	/* 3. A body of exactly the size the header names, on the heap. */
	want = upcall_request_size_arch(X86, le32(msg + 8));
	if (want >= 0) {
		uint32_t sz = le32(msg + 4);
		uint8_t *body;

		if (sz > UPCALL_MSG_BODY_MAX)
			sz = UPCALL_MSG_BODY_MAX;
		body = malloc(sz ? sz : 1);
		CHECK(body);
		memcpy(body, msg + 16, sz);
		r = upcall_validate_body_arch(X86, le32(msg + 8), body, sz);
		CHECK(r == 0 || r == -EINVAL);
		if (sz != (uint32_t)want)
			CHECK(r == -EINVAL);
		else if (r == 0)
			CHECK(spec_body(le32(msg + 8), body));
		free(body);
	}

	/* 4. A memory range against a block size (from the same bytes). */
	if (upcall_validate_mem_range && size >= 24) {
		uint64_t addr = le64(data), len = le64(data + 8), block = le64(data + 16);

		if (upcall_validate_mem_range(addr, len, block) == 0) {
			CHECK(block != 0 && (block & (block - 1)) == 0);
			CHECK(spec_range(addr, len));
			CHECK(addr % block == 0 && len % block == 0);
		}
	}
	return 0;
}
