// SPDX-License-Identifier: MIT
/* The wire format's numbers, error strings and the version. */
#include <stddef.h>

#include "check_common.h"

START_TEST(test_constants)
{
	ck_assert_uint_eq(UPCALL_MSG_SIZE, 1024);
	ck_assert_uint_eq(UPCALL_MAGIC_VERSION, 0x444D0100u);
	ck_assert_uint_eq(UPCALL_DEFAULT_PORT, 219);
	ck_assert_uint_eq(UPCALL_SERVICE_DEVMGR, 0x64);
	ck_assert_uint_eq(UPCALL_CPU_MAX_COUNT, 255);
	ck_assert_uint_eq(UPCALL_APIC_VERSION_DEFAULT, 0x14);
	ck_assert_uint_eq(UPCALL_MEM_F_MOVABLE, 1);
	ck_assert_uint_eq(UPCALL_MSG_BODY_MAX, 1008);
	ck_assert_uint_eq(UPCALL_REPLY_BODY_MAX, 1004);

	ck_assert_int_eq(UPCALL_MSG_CONNECT, 0);
	ck_assert_int_eq(UPCALL_MSG_ADD_CPU, 1);
	ck_assert_int_eq(UPCALL_MSG_DEL_CPU, 2);
	ck_assert_int_eq(UPCALL_MSG_ADD_MEM, 3);
	ck_assert_int_eq(UPCALL_MSG_DEL_MEM, 4);
	ck_assert_int_eq(UPCALL_MSG_ADD_MMIO, 5);
	ck_assert_int_eq(UPCALL_MSG_DEL_MMIO, 6);
	ck_assert_int_eq(UPCALL_MSG_ADD_PCI, 7);
	ck_assert_int_eq(UPCALL_MSG_DEL_PCI, 8);

	ck_assert_uint_eq(UPCALL_INFO_VERSION, 0x0102);
	ck_assert_uint_eq(UPCALL_CPU_MODE_UNKNOWN, 0);
	ck_assert_uint_eq(UPCALL_CPU_MODE_NONE, 1);
	ck_assert_uint_eq(UPCALL_CPU_MODE_HOTADD, 2);
	ck_assert_uint_eq(UPCALL_CPU_MODE_PARKED, 3);
	ck_assert_uint_eq(UPCALL_GUEST_ARCH_UNKNOWN, 0);
	ck_assert_uint_eq(UPCALL_GUEST_ARCH_X86_64, 1);
	ck_assert_uint_eq(UPCALL_GUEST_ARCH_AARCH64, 2);
	/* upcall_info.arch is an upcall_arch where the guest says. */
	ck_assert_uint_eq(UPCALL_GUEST_ARCH_X86_64, UPCALL_ARCH_X86_64);
	ck_assert_uint_eq(UPCALL_GUEST_ARCH_AARCH64, UPCALL_ARCH_AARCH64);
}
END_TEST

START_TEST(test_sizes)
{
	ck_assert_uint_eq(sizeof(struct upcall_msg_header), 16);
	ck_assert_uint_eq(offsetof(struct upcall_msg_header, magic_version), 0);
	ck_assert_uint_eq(offsetof(struct upcall_msg_header, msg_size), 4);
	ck_assert_uint_eq(offsetof(struct upcall_msg_header, msg_type), 8);
	ck_assert_uint_eq(offsetof(struct upcall_msg_header, msg_flags), 12);

	ck_assert_uint_eq(sizeof(struct upcall_cpu_request_x86), 258);
	ck_assert_uint_eq(offsetof(struct upcall_cpu_request_x86, count), 0);
	ck_assert_uint_eq(offsetof(struct upcall_cpu_request_x86, apic_ver), 1);
	ck_assert_uint_eq(offsetof(struct upcall_cpu_request_x86, apic_ids), 2);
	ck_assert_uint_eq(sizeof(((struct upcall_cpu_request_x86 *)0)->apic_ids), 256);
	ck_assert_uint_eq(sizeof(struct upcall_cpu_request_arm64), 1);
	ck_assert_uint_eq(sizeof(struct upcall_cpu_reply), 4);

	ck_assert_uint_eq(sizeof(struct upcall_mmio_request), 24);
	ck_assert_uint_eq(offsetof(struct upcall_mmio_request, mmio_base), 0);
	ck_assert_uint_eq(offsetof(struct upcall_mmio_request, mmio_size), 8);
	ck_assert_uint_eq(offsetof(struct upcall_mmio_request, mmio_irq), 16);
	ck_assert_uint_eq(offsetof(struct upcall_mmio_request, pad), 20);

	ck_assert_uint_eq(sizeof(struct upcall_pci_request), 2);
	ck_assert_uint_eq(offsetof(struct upcall_pci_request, busno), 0);
	ck_assert_uint_eq(offsetof(struct upcall_pci_request, devfn), 1);

	ck_assert_uint_eq(sizeof(struct upcall_mem_request), 24);
	ck_assert_uint_eq(offsetof(struct upcall_mem_request, addr), 0);
	ck_assert_uint_eq(offsetof(struct upcall_mem_request, size), 8);
	ck_assert_uint_eq(offsetof(struct upcall_mem_request, node), 16);
	ck_assert_uint_eq(offsetof(struct upcall_mem_request, flags), 20);

	ck_assert_uint_eq(sizeof(struct upcall_info_reply), 64);
	ck_assert_uint_eq(offsetof(struct upcall_info_reply, ops), 4);
	ck_assert_uint_eq(offsetof(struct upcall_info_reply, mem_block_size), 8);
	ck_assert_uint_eq(offsetof(struct upcall_info_reply, cpus_possible), 16);
	ck_assert_uint_eq(offsetof(struct upcall_info_reply, mem_policy), 28);
	ck_assert_uint_eq(offsetof(struct upcall_info_reply, cpu_mode), 32);
	ck_assert_uint_eq(offsetof(struct upcall_info_reply, arch), 36);
	ck_assert_uint_eq(offsetof(struct upcall_info_reply, reserved), 40);
	ck_assert_uint_eq(sizeof(((struct upcall_info_reply *)0)->reserved), 24);
	/* The spec counts from the start of the message. */
	ck_assert_uint_eq(sizeof(struct upcall_reply_header) +
			  offsetof(struct upcall_info_reply, cpu_mode), 52);
	ck_assert_uint_eq(sizeof(struct upcall_reply_header) +
			  offsetof(struct upcall_info_reply, arch), 56);

	/*
	 * The public struct: cpu_mode took reserved[0], arch the next word,
	 * nothing else moved.
	 */
	ck_assert_uint_eq(sizeof(upcall_info), 64);
	ck_assert_uint_eq(offsetof(upcall_info, mem_block_size), 8);
	ck_assert_uint_eq(offsetof(upcall_info, cpus_possible), 16);
	ck_assert_uint_eq(offsetof(upcall_info, mem_policy), 28);
	ck_assert_uint_eq(offsetof(upcall_info, cpu_mode), 32);
	ck_assert_uint_eq(offsetof(upcall_info, arch), 36);
	ck_assert_uint_eq(offsetof(upcall_info, reserved), 40);
	ck_assert_uint_eq(sizeof(((upcall_info *)0)->reserved), 24);

	ck_assert_uint_eq(sizeof(struct upcall_reply_header), 20);
	ck_assert_uint_eq(offsetof(struct upcall_reply_header, result), 16);
	ck_assert_uint_eq(sizeof(struct upcall_msg), 1024);
	ck_assert_uint_eq(offsetof(struct upcall_msg, body), 16);
}
END_TEST

/* The structs lay out little-endian bytes exactly as the spec draws them. */
START_TEST(test_byte_layout)
{
	struct upcall_msg_header h = {
		.magic_version = UPCALL_MAGIC_VERSION,
		.msg_size = 258,
		.msg_type = UPCALL_MSG_ADD_CPU,
	};
	static const uint8_t want[16] = {
		0x00, 0x01, 0x4d, 0x44, 0x02, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
	};
	uint8_t got[16];

	/* The library targets little-endian hosts; so does this test. */
	memcpy(got, &h, sizeof(got));
	ck_assert_mem_eq(got, want, sizeof(want));
	/* 'D' 'M' as the high bytes, version 1.0 below. */
	ck_assert_uint_eq(UPCALL_MAGIC_VERSION >> 24, 'D');
	ck_assert_uint_eq((UPCALL_MAGIC_VERSION >> 16) & 0xff, 'M');
}
END_TEST

static const int lib_codes[] = {
	EPROTO, ECONNRESET, ECONNREFUSED, ETIMEDOUT, ECANCELED, ESHUTDOWN,
	ENOTCONN, EINVAL, ENOMEM, EBUSY, EALREADY, ENODATA, EAGAIN,
	EOPNOTSUPP, ENAMETOOLONG, ESRCH, EDEADLK, ENOENT, EAFNOSUPPORT,
};

START_TEST(test_strerror_library_codes)
{
	size_t i;

	for (i = 0; i < sizeof(lib_codes) / sizeof(lib_codes[0]); i++) {
		int e = lib_codes[i];
		const char *neg = upcall_strerror(-e), *pos = upcall_strerror(e);

		ck_assert_ptr_nonnull(neg);
		ck_assert_ptr_nonnull(pos);
		ck_assert_msg(strlen(neg) > 0, "empty text for %d", e);
		ck_assert_str_eq(neg, pos);
		ck_assert_str_ne(neg, upcall_strerror(0));
	}
	/* The library's own codes are told apart. */
	ck_assert_str_ne(upcall_strerror(-EPROTO), upcall_strerror(-ETIMEDOUT));
	ck_assert_str_ne(upcall_strerror(-ECONNRESET), upcall_strerror(-ESHUTDOWN));
	ck_assert_str_ne(upcall_strerror(-ESHUTDOWN), upcall_strerror(-ENOTCONN));
	ck_assert_str_ne(upcall_strerror(-ECANCELED), upcall_strerror(-ETIMEDOUT));
	ck_assert_str_eq(upcall_strerror(-EINVAL), upcall_strerror(EINVAL));
}
END_TEST

START_TEST(test_strerror_odd_numbers)
{
	static const int odd[] = {
		0, 1, 4095, 4096, 100000, -100000, INT_MAX, -INT_MAX, INT_MIN,
	};
	size_t i;

	for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
		const char *s = upcall_strerror(odd[i]);

		ck_assert_msg(s != NULL && *s, "no text for %d", odd[i]);
	}
	/* Not an errno: the same text whatever the number. */
	ck_assert_str_eq(upcall_strerror(100000), upcall_strerror(INT_MAX));
}
END_TEST

START_TEST(test_errno_name)
{
	ck_assert_str_eq(upcall_errno_name(-EINVAL), "EINVAL");
	ck_assert_str_eq(upcall_errno_name(EINVAL), "EINVAL");
	ck_assert_str_eq(upcall_errno_name(-EPROTO), "EPROTO");
	ck_assert_str_eq(upcall_errno_name(-ETIMEDOUT), "ETIMEDOUT");
	ck_assert_str_eq(upcall_errno_name(-ECONNRESET), "ECONNRESET");
	ck_assert_str_eq(upcall_errno_name(-ECANCELED), "ECANCELED");
	ck_assert_str_eq(upcall_errno_name(-ESHUTDOWN), "ESHUTDOWN");
	ck_assert_str_eq(upcall_errno_name(-ENOTCONN), "ENOTCONN");
	ck_assert_str_eq(upcall_errno_name(ENOMEM), "ENOMEM");

	ck_assert_ptr_null(upcall_errno_name(0));
	ck_assert_ptr_null(upcall_errno_name(4096));
	ck_assert_ptr_null(upcall_errno_name(100000));
	ck_assert_ptr_null(upcall_errno_name(-100000));
	ck_assert_ptr_null(upcall_errno_name(INT_MAX));
	ck_assert_ptr_null(upcall_errno_name(-INT_MAX));
	ck_assert_ptr_null(upcall_errno_name(INT_MIN));
}
END_TEST

START_TEST(test_version)
{
	char want[64];
	const char *v = upcall_version();

	snprintf(want, sizeof(want), "%d.%d.%d", UPCALL_VERSION_MAJOR,
		 UPCALL_VERSION_MINOR, UPCALL_VERSION_MICRO);
	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, want);
	ck_assert_ptr_eq(upcall_version(), v);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("wire");

	tcase_add_test(tc, test_constants);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_byte_layout);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_strerror_library_codes);
	tcase_add_test(tc, test_strerror_odd_numbers);
	tcase_add_test(tc, test_errno_name);
	tcase_add_test(tc, test_version);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tc_run_suite(proto_suite());
}
