// SPDX-License-Identifier: MIT
/*
 * Requests: every message type byte for byte against the specification,
 * results, ordering, timeouts, cancellation, lifetimes, sync helpers,
 * threads, argument checks.
 *
 * The expected messages are built here by hand from the specification's
 * tables (little-endian, header then body then zeros), never with the
 * library's encoder.
 */
#include "check_common.h"

static struct tenv E;

static void setup(void)
{
	tenv_init(&E, 1);
}

static void teardown(void)
{
	tenv_fini(&E);
}

/* ------------------------------------------------ expected wire bytes */

static void le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void le64(uint8_t *p, uint64_t v)
{
	le32(p, (uint32_t)v);
	le32(p + 4, (uint32_t)(v >> 32));
}

/* Header {0x444D0100, size, type, 0}, zeros to 1024. */
static uint8_t *msg(uint8_t m[1024], uint32_t size, uint32_t type)
{
	memset(m, 0, 1024);
	le32(m, 0x444D0100u);
	le32(m + 4, size);
	le32(m + 8, type);
	return m + 16;
}

/* The guest received exactly @want as its last message. */
static void expect_last(struct fake_guest *fg, const uint8_t want[1024])
{
	uint8_t got[1024];
	int i;

	ck_assert_int_eq(fg_last_request(fg, got), 0);
	for (i = 0; i < 1024; i++)
		ck_assert_msg(got[i] == want[i],
			      "byte %d: got 0x%02x, want 0x%02x", i, got[i],
			      want[i]);
	ck_assert_uint_eq(fg_violations(fg), 0);
}

/* Wait for @t and check the guest answered @result. */
static void expect_answer(struct tc_req *t, int result)
{
	tc_req_wait(E.ctx, t);
	ck_assert_msg(t->error == 0, "error %s", upcall_strerror(t->error));
	ck_assert_int_eq(t->status, 1);
	ck_assert_int_eq(t->result_r, 0);
	ck_assert_int_eq(t->result, result);
}

/* ------------------------------------------------------- byte exact */

START_TEST(test_cpu_add_x86)
{
	static const uint8_t ids[] = { 1, 2, 3, 200 };
	struct tc_req t = { 0 };
	uint8_t want[1024], *b;

	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, ids, 4, tc_req_cb, &t, NULL), 0);
	expect_answer(&t, 0);
	ck_assert_int_eq(t.index_r, 0);
	ck_assert_uint_eq(t.index, 4);

	b = msg(want, 258, 1);
	b[0] = 4;
	b[1] = 0x14;
	b[2] = 1;
	b[3] = 2;
	b[4] = 3;
	b[5] = 200;
	expect_last(E.fg, want);
}
END_TEST

START_TEST(test_cpu_del_x86_255)
{
	uint8_t ids[255], want[1024], *b;
	struct tc_req t = { 0 };
	int i;

	for (i = 0; i < 255; i++)
		ids[i] = (uint8_t)(255 - i);
	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_cpu_del(E.s, ids, 255, tc_req_cb, &t, NULL), 0);
	expect_answer(&t, 0);
	ck_assert_uint_eq(t.index, 255);

	b = msg(want, 258, 2);
	b[0] = 255;
	b[1] = 0x14;
	for (i = 0; i < 255; i++)
		b[2 + i] = (uint8_t)(255 - i);
	expect_last(E.fg, want);
}
END_TEST

START_TEST(test_apic_version)
{
	static const uint8_t id = 7;
	struct tc_req t = { 0 };
	uint8_t want[1024], *b;

	ck_assert_int_eq(upcall_session_set_apic_version(E.s, 0x15), 0);
	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, &id, 1, tc_req_cb, &t, NULL), 0);
	expect_answer(&t, 0);
	b = msg(want, 258, 1);
	b[0] = 1;
	b[1] = 0x15;
	b[2] = 7;
	expect_last(E.fg, want);
}
END_TEST

START_TEST(test_cpu_aarch64)
{
	struct tc_req t1 = { 0 }, t2 = { 0 };
	uint8_t want[1024], *b;

	ck_assert_int_eq(upcall_session_set_arch(E.s, UPCALL_ARCH_AARCH64), 0);
	ck_assert_int_eq(upcall_session_get_arch(E.s), UPCALL_ARCH_AARCH64);
	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, NULL, 3, tc_req_cb, &t1, NULL), 0);
	expect_answer(&t1, 0);
	ck_assert_int_eq(t1.index_r, 0);
	ck_assert_uint_eq(t1.index, 3);
	b = msg(want, 1, 1);
	b[0] = 3;
	expect_last(E.fg, want);

	fg_set_result(E.fg, 0, 6);
	ck_assert_int_eq(upcall_devmgr_cpu_del(E.s, NULL, 255, tc_req_cb, &t2, NULL), 0);
	expect_answer(&t2, 0);
	ck_assert_uint_eq(t2.index, 6);
	b = msg(want, 1, 2);
	b[0] = 255;
	expect_last(E.fg, want);
}
END_TEST

START_TEST(test_mmio)
{
	struct tc_req t1 = { 0 }, t2 = { 0 };
	uint8_t want[1024], *b;

	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_mmio_add(E.s, 0xd0000000u, 0x1000, 5,
						tc_req_cb, &t1, NULL), 0);
	expect_answer(&t1, 0);
	ck_assert_int_eq(t1.index_r, -ENODATA);
	b = msg(want, 24, 5);
	le64(b, 0xd0000000u);
	le64(b + 8, 0x1000);
	le32(b + 16, 5);
	expect_last(E.fg, want);

	ck_assert_int_eq(upcall_devmgr_mmio_del(E.s, 0x123456789abcd000ull, 0x200,
						0xfedcba98u, tc_req_cb, &t2, NULL), 0);
	expect_answer(&t2, 0);
	b = msg(want, 24, 6);
	le64(b, 0x123456789abcd000ull);
	le64(b + 8, 0x200);
	le32(b + 16, 0xfedcba98u);
	expect_last(E.fg, want);
}
END_TEST

START_TEST(test_mem)
{
	struct tc_req t1 = { 0 }, t2 = { 0 };
	uint8_t want[1024], *b;

	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_mem_add(E.s, 0x100000000ull, 0x8000000, 1,
					       UPCALL_MEM_F_MOVABLE, tc_req_cb,
					       &t1, NULL), 0);
	expect_answer(&t1, 0);
	b = msg(want, 24, 3);
	le64(b, 0x100000000ull);
	le64(b + 8, 0x8000000);
	le32(b + 16, 1);
	le32(b + 20, 1);
	expect_last(E.fg, want);

	ck_assert_int_eq(upcall_devmgr_mem_del(E.s, 0x180000000ull, 0x10000000,
					       tc_req_cb, &t2, NULL), 0);
	expect_answer(&t2, 0);
	b = msg(want, 24, 4);
	le64(b, 0x180000000ull);
	le64(b + 8, 0x10000000);
	expect_last(E.fg, want);
}
END_TEST

START_TEST(test_mem_add_not_movable)
{
	struct tc_req t = { 0 };
	uint8_t want[1024], *b;

	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_mem_add(E.s, 0x100000000ull, 0x8000000, 0,
					       0, tc_req_cb, &t, NULL), 0);
	expect_answer(&t, 0);
	b = msg(want, 24, 3);
	le64(b, 0x100000000ull);
	le64(b + 8, 0x8000000);
	expect_last(E.fg, want);
}
END_TEST

START_TEST(test_pci)
{
	struct tc_req t1 = { 0 }, t2 = { 0 };
	uint8_t want[1024], *b;

	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 1, 0x08, tc_req_cb, &t1, NULL), 0);
	expect_answer(&t1, 0);
	b = msg(want, 2, 7);
	b[0] = 1;
	b[1] = 0x08;
	expect_last(E.fg, want);

	ck_assert_int_eq(upcall_devmgr_pci_del(E.s, 0xff, 0xff, tc_req_cb, &t2, NULL), 0);
	expect_answer(&t2, 0);
	b = msg(want, 2, 8);
	b[0] = 0xff;
	b[1] = 0xff;
	expect_last(E.fg, want);
}
END_TEST

START_TEST(test_get_info)
{
	struct upcall_info_reply w;
	upcall_request *req = NULL;
	upcall_info info;
	uint8_t want[1024];
	int i;

	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_get_info(E.s, NULL, NULL, &req), 0);
	ck_assert_int_eq(upcall_request_wait(req, TC_LONG_MS * TC_MSEC), 0);
	msg(want, 0, 0x100);
	expect_last(E.fg, want);
	memset(&info, 0xaa, sizeof(info));
	ck_assert_int_eq(upcall_request_get_info(req, &info), 0);
	ck_assert_uint_eq(info.version, UPCALL_INFO_VERSION);
	ck_assert_uint_eq(info.ops, 0x1fe);
	ck_assert_uint_eq(info.mem_block_size, 0x8000000);
	ck_assert_uint_eq(info.cpus_possible, 8);
	ck_assert_uint_eq(info.cpus_present, 1);
	ck_assert_uint_eq(info.cpus_online, 1);
	ck_assert_uint_eq(info.mem_policy, UPCALL_MEM_POLICY_ONLINE_MOVABLE);
	ck_assert_uint_eq(info.cpu_mode, UPCALL_CPU_MODE_HOTADD);
	ck_assert_uint_eq(info.arch, UPCALL_GUEST_ARCH_X86_64);
	for (i = 0; i < 6; i++)
		ck_assert_uint_eq(info.reserved[i], 0);
	upcall_request_unref(req);

	/* Other values travel too. */
	memset(&w, 0, sizeof(w));
	w.version = 0x0103;
	w.ops = 0x1e;
	w.mem_block_size = 0x40000000ull << 4;
	w.cpus_possible = 240;
	w.cpus_present = 17;
	w.cpus_online = 16;
	w.mem_policy = UPCALL_MEM_POLICY_UNKNOWN;
	w.cpu_mode = UPCALL_CPU_MODE_PARKED;
	w.arch = UPCALL_GUEST_ARCH_AARCH64;
	/* A later guest's fields are not ours to pass on. */
	memset(w.reserved, 0xff, sizeof(w.reserved));
	fg_set_info(E.fg, &w);
	ck_assert_int_eq(upcall_devmgr_get_info_sync(E.s, 0, NULL, &info), 0);
	ck_assert_uint_eq(info.version, 0x103);
	ck_assert_uint_eq(info.ops, 0x1e);
	ck_assert_uint_eq(info.mem_block_size, 0x400000000ull);
	ck_assert_uint_eq(info.cpus_possible, 240);
	ck_assert_uint_eq(info.cpus_present, 17);
	ck_assert_uint_eq(info.cpus_online, 16);
	ck_assert_uint_eq(info.mem_policy, 0xffffffffu);
	ck_assert_uint_eq(info.cpu_mode, UPCALL_CPU_MODE_PARKED);
	ck_assert_uint_eq(info.arch, UPCALL_GUEST_ARCH_AARCH64);
	/* The guest's arch is the session's to choose: nothing changes it. */
	ck_assert_int_eq(upcall_session_get_arch(E.s), UPCALL_ARCH_X86_64);
	for (i = 0; i < 6; i++)
		ck_assert_uint_eq(info.reserved[i], 0);

	/* A mode or arch this library does not know is passed on as it is. */
	w.cpu_mode = 0x1234;
	w.arch = 0x5678;
	fg_set_info(E.fg, &w);
	ck_assert_int_eq(upcall_devmgr_get_info_sync(E.s, 0, NULL, &info), 0);
	ck_assert_uint_eq(info.cpu_mode, 0x1234);
	ck_assert_uint_eq(info.arch, 0x5678);
}
END_TEST

/*
 * Older guests have 0 where the later fields are, and each reads as
 * unknown: 1.1 has no arch, 1.0 neither arch nor cpu_mode.
 */
static const struct {
	uint32_t version;
	bool has_cpu_mode;
} older_guests[] = {
	{ 0x0101, true },
	{ 0x0100, false },
};

START_TEST(test_get_info_older)
{
	struct upcall_info_reply w;
	upcall_info info;
	int result = 1;
	bool has_cpu_mode = older_guests[_i].has_cpu_mode;

	fg_get_info(E.fg, &w);
	w.version = older_guests[_i].version;
	if (!has_cpu_mode)
		w.cpu_mode = 0;
	w.arch = 0;
	fg_set_info(E.fg, &w);
	tenv_open(&E);
	memset(&info, 0xaa, sizeof(info));
	ck_assert_int_eq(upcall_devmgr_get_info_sync(E.s, 0, &result, &info), 0);
	ck_assert_int_eq(result, 0);
	ck_assert_uint_eq(info.version, older_guests[_i].version);
	ck_assert_uint_eq(info.ops, 0x1fe);
	ck_assert_uint_eq(info.mem_policy, UPCALL_MEM_POLICY_ONLINE_MOVABLE);
	ck_assert_uint_eq(info.cpu_mode, has_cpu_mode ? UPCALL_CPU_MODE_HOTADD :
							UPCALL_CPU_MODE_UNKNOWN);
	ck_assert_uint_eq(info.arch, UPCALL_GUEST_ARCH_UNKNOWN);
	ck_assert_uint_eq(info.reserved[0], 0);
}
END_TEST

/* A Dragonball guest answers -1 to a type it does not know. */
START_TEST(test_get_info_unsupported)
{
	upcall_request *req = NULL;
	upcall_info info;
	int result = 0;

	fg_set_info(E.fg, NULL);
	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_get_info(E.s, NULL, NULL, &req), 0);
	ck_assert_int_eq(upcall_request_wait(req, TC_LONG_MS * TC_MSEC), 0);
	ck_assert_int_eq(upcall_request_get_status(req), 1);
	ck_assert_int_eq(upcall_request_get_result(req, &result), 0);
	ck_assert_int_eq(result, -1);
	ck_assert_int_eq(upcall_request_get_info(req, &info), -EOPNOTSUPP);
	upcall_request_unref(req);
	ck_assert_int_eq(upcall_devmgr_get_info_sync(E.s, 0, NULL, &info),
			 -EOPNOTSUPP);
	/* With @result, the return value is the transport's alone. */
	ck_assert_int_eq(upcall_devmgr_get_info_sync(E.s, 0, &result, &info), 0);
	ck_assert_int_eq(result, -EOPNOTSUPP);

	/* A guest that knows GET_INFO but fails it: its error. */
	fg_set_info(E.fg, &(struct upcall_info_reply){ .version = 0x100 });
	fg_set_result(E.fg, -EIO, -1);
	ck_assert_int_eq(upcall_devmgr_get_info_sync(E.s, 0, NULL, &info), -EIO);
	result = 0;
	ck_assert_int_eq(upcall_devmgr_get_info_sync(E.s, 0, &result, &info), 0);
	ck_assert_int_eq(result, -EIO);
	/* The session is fine all along. */
	ck_assert_int_eq(E.st.n, 2);
}
END_TEST

/* ------------------------------------------------------ guest results */

START_TEST(test_guest_error)
{
	static const uint8_t ids[] = { 4, 5 };
	struct tc_req t1 = { 0 }, t2 = { 0 }, t3 = { 0 };

	tenv_open(&E);
	fg_set_result(E.fg, -EINVAL, -1);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t1, NULL), 0);
	expect_answer(&t1, -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mmio_add(E.s, 0xd0000000u, 0x1000, 5,
						tc_req_cb, &t2, NULL), 0);
	expect_answer(&t2, -EINVAL);

	/* A guest that reports where it stopped. */
	fg_set_result(E.fg, -EEXIST, 1);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, ids, 2, tc_req_cb, &t3, NULL), 0);
	expect_answer(&t3, -EEXIST);
	ck_assert_int_eq(t3.index_r, 0);
	ck_assert_uint_eq(t3.index, 1);
	/* Errors of the guest are no errors of the session. */
	ck_assert_int_eq(upcall_session_get_state(E.s), UPCALL_SESSION_READY);
	ck_assert_int_eq(E.st.n, 2);
}
END_TEST

/* Dragonball answers a failed CPU request with no body: no index then. */
START_TEST(test_cpu_failure_without_index)
{
	static const uint8_t ids[] = { 1, 2, 3 };
	struct tc_req t = { 0 };

	tenv_open(&E);
	fg_set_result(E.fg, -EINVAL, FG_INDEX_NONE);
	ck_assert_int_eq(upcall_devmgr_cpu_del(E.s, ids, 3, tc_req_cb, &t, NULL), 0);
	expect_answer(&t, -EINVAL);
	ck_assert_int_eq(t.index_r, -ENODATA);
}
END_TEST

START_TEST(test_cpu_index_partial)
{
	static const uint8_t ids[] = { 10, 11, 12, 13, 14 };
	uint32_t index = 99;
	int result = 0;

	tenv_open(&E);
	fg_set_result(E.fg, -ENOSPC, 3);
	ck_assert_int_eq(upcall_devmgr_cpu_add_sync(E.s, ids, 5, 0, &result, &index), 0);
	ck_assert_int_eq(result, -ENOSPC);
	ck_assert_uint_eq(index, 3);
	index = 99;
	ck_assert_int_eq(upcall_devmgr_cpu_add_sync(E.s, ids, 5, 0, NULL, &index),
			 -ENOSPC);
	ck_assert_uint_eq(index, 3);
}
END_TEST

/* ---------------------------------------------------------- ordering */

#define MANY 1000

struct order_rec {
	int n;
	int order[MANY];
	int errors;
};

struct order_item {
	struct order_rec *rec;
	int i;
};

static void order_cb(upcall_request *req, int error, void *userdata)
{
	struct order_item *it = userdata;
	int result = 1;

	if (error || upcall_request_get_result(req, &result) < 0 || result)
		it->rec->errors++;
	if (it->rec->n < MANY)
		it->rec->order[it->rec->n] = it->i;
	it->rec->n++;
}

/* Submit request @i of a mixed stream: four types, four reply shapes. */
static int submit_mixed(upcall_session *s, int i, upcall_request_fn cb,
			void *userdata, upcall_request **ret)
{
	uint8_t id = (uint8_t)(1 + i % 200);

	switch (i % 4) {
	case 0:
		return upcall_devmgr_pci_add(s, (uint8_t)i, (uint8_t)(i >> 8), cb,
					     userdata, ret);
	case 1:
		return upcall_devmgr_mmio_add(s, 0xd0000000u + 0x1000u * (unsigned)i,
					      0x1000, 5, cb, userdata, ret);
	case 2:
		return upcall_devmgr_cpu_add(s, &id, 1, cb, userdata, ret);
	default:
		return upcall_devmgr_mem_del(s, 0x100000000ull * (unsigned)(i + 1),
					     0x8000000, cb, userdata, ret);
	}
}

START_TEST(test_many_in_order)
{
	struct order_rec *rec = calloc(1, sizeof(*rec));
	struct order_item *items = calloc(MANY, sizeof(*items));
	int i, n, errors, first_wrong = -1;

	ck_assert_ptr_nonnull(rec);
	ck_assert_ptr_nonnull(items);
	ck_assert_int_eq(upcall_session_set_request_timeout(E.s, 60000 * TC_MSEC), 0);
	tenv_open(&E);
	for (i = 0; i < MANY; i++) {
		items[i].rec = rec;
		items[i].i = i;
		ck_assert_int_eq(submit_mixed(E.s, i, order_cb, &items[i], NULL), 0);
	}
	ck_assert_int_eq(upcall_ctx_run(E.ctx, 60000 * TC_MSEC), 0);
	n = rec->n;
	errors = rec->errors;
	for (i = 0; i < MANY && i < n; i++)
		if (rec->order[i] != i && first_wrong < 0)
			first_wrong = i;
	free(items);
	free(rec);
	ck_assert_int_eq(n, MANY);
	ck_assert_int_eq(errors, 0);
	ck_assert_msg(first_wrong < 0, "callback %d out of order", first_wrong);
	ck_assert_uint_eq(fg_requests(E.fg), MANY);
	ck_assert_uint_eq(fg_violations(E.fg), 0);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
}
END_TEST

/* ---------------------------------------------------------- timeouts */

START_TEST(test_request_timeout)
{
	struct tc_req t = { 0 };
	uint64_t start;

	tenv_open(&E);
	fg_set_behavior(E.fg, FG_SILENT);
	ck_assert_int_eq(upcall_session_set_request_timeout(E.s, 30 * TC_MSEC), 0);
	start = tc_now_usec();
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t, NULL), 0);
	tc_req_wait(E.ctx, &t);
	ck_assert_uint_ge(tc_now_usec() - start, 29 * TC_MSEC);
	ck_assert_int_eq(t.error, -ETIMEDOUT);
	ck_assert_int_eq(t.status, -ETIMEDOUT);
	ck_assert_int_eq(t.result_r, -ENODATA);

	/* The connection is in an unknown state: it is replaced. */
	ck_assert(tc_run_until_seen(E.ctx, &E.st, UPCALL_SESSION_READY, 2, TC_LONG_MS));
	ck_assert_int_eq(tc_states_error(&E.st, UPCALL_SESSION_RECONNECTING, 0),
			 -ETIMEDOUT);
	fg_set_behavior(E.fg, FG_OK);
	ck_assert_int_eq(upcall_session_set_request_timeout(E.s, 3000 * TC_MSEC), 0);
	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t, NULL), 0);
	expect_answer(&t, 0);
	ck_assert_uint_eq(fg_connections(E.fg), 2);
}
END_TEST

/* A request queued behind a slow one times out where it waits. */
START_TEST(test_queued_timeout)
{
	struct tc_req t1 = { 0 }, t2 = { 0 };
	upcall_request *r2 = NULL;

	tenv_open(&E);
	fg_set_delay_ms(E.fg, 60);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t1, NULL), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 9, tc_req_cb, &t2, &r2), 0);
	ck_assert_int_eq(upcall_request_set_timeout(r2, 10 * TC_MSEC), 0);
	tc_req_wait(E.ctx, &t2);
	ck_assert_int_eq(t2.error, -ETIMEDOUT);
	ck_assert_int_eq(t1.done, 0);
	expect_answer(&t1, 0);
	/* Never sent, so no reconnect. */
	ck_assert_uint_eq(fg_requests(E.fg), 1);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
	ck_assert_int_eq(E.st.n, 2);
	upcall_request_unref(r2);
}
END_TEST

START_TEST(test_set_timeout)
{
	struct tc_req t = { 0 };
	upcall_request *req = NULL;
	uint64_t start;

	tenv_open(&E);
	fg_set_behavior(E.fg, FG_SILENT);
	start = tc_now_usec();
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t, &req), 0);
	ck_assert_int_eq(upcall_request_set_timeout(req, 0), -EINVAL);
	ck_assert_int_eq(upcall_request_set_timeout(req, 20 * TC_MSEC), 0);
	tc_req_wait(E.ctx, &t);
	ck_assert_int_eq(t.error, -ETIMEDOUT);
	ck_assert_uint_ge(tc_now_usec() - start, 19 * TC_MSEC);
	ck_assert_uint_lt(tc_now_usec() - start, 2000 * TC_MSEC);
	ck_assert_int_eq(upcall_request_set_timeout(req, 20 * TC_MSEC), -EALREADY);
	upcall_request_unref(req);
}
END_TEST

/* A deadline already past when it is set fires at once. */
START_TEST(test_set_timeout_past)
{
	struct tc_req t = { 0 };
	upcall_request *req = NULL;

	tenv_open(&E);
	fg_set_behavior(E.fg, FG_SILENT);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t, &req), 0);
	tc_run_for(E.ctx, 15);
	ck_assert_int_eq(t.done, 0);
	ck_assert_int_eq(upcall_request_set_timeout(req, 5 * TC_MSEC), 0);
	ck_assert(tc_run_until_flag(E.ctx, &t.done, 500));
	ck_assert_int_eq(t.error, -ETIMEDOUT);
	upcall_request_unref(req);
}
END_TEST

/*
 * UINT64_MAX: no timeout, whatever the session's default.  (Timers only
 * fire while the context is processed, so setting it right after the
 * submission is no race.)
 */
START_TEST(test_set_timeout_infinite)
{
	struct tc_req t = { 0 };
	upcall_request *req = NULL;

	tenv_open(&E);
	fg_set_delay_ms(E.fg, 50);
	ck_assert_int_eq(upcall_session_set_request_timeout(E.s, 10 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t, &req), 0);
	ck_assert_int_eq(upcall_request_set_timeout(req, UINT64_MAX), 0);
	expect_answer(&t, 0);
	upcall_request_unref(req);

	/* And the session-wide setting of UINT64_MAX. */
	ck_assert_int_eq(upcall_session_set_request_timeout(E.s, UINT64_MAX), 0);
	memset(&t, 0, sizeof(t));
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &t, NULL), 0);
	expect_answer(&t, 0);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
}
END_TEST

/* ------------------------------------------------------ cancellation */

START_TEST(test_cancel_queued)
{
	static const uint8_t id = 9;
	struct tc_req a = { 0 }, b = { 0 }, c = { 0 };
	upcall_request *ra = NULL, *rb = NULL, *rc = NULL;
	int seq = 0;
	uint8_t want[1024], *body;

	a.seq = b.seq = c.seq = &seq;
	tenv_open(&E);
	fg_set_delay_ms(E.fg, 30);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, tc_req_cb, &a, &ra), 0);
	ck_assert_int_eq(upcall_devmgr_mmio_add(E.s, 0xd0000000u, 0x1000, 5,
						tc_req_cb, &b, &rb), 0);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, &id, 1, tc_req_cb, &c, &rc), 0);
	ck_assert_int_eq(upcall_request_cancel(rb), 0);
	ck_assert_int_eq(upcall_request_get_status(rb), -ECANCELED);
	ck_assert_int_eq(upcall_request_cancel(rb), -EALREADY);
	ck_assert_int_eq(upcall_request_set_timeout(rb, TC_MSEC), -EALREADY);

	tc_req_wait(E.ctx, &c);
	ck_assert_int_eq(a.done + b.done + c.done, 3);
	ck_assert_int_eq(b.error, -ECANCELED);
	ck_assert_int_eq(b.result_r, -ENODATA);
	ck_assert_int_eq(b.order, 0);
	ck_assert_int_eq(a.error, 0);
	ck_assert_int_eq(a.order, 1);
	ck_assert_int_eq(c.error, 0);
	ck_assert_int_eq(c.order, 2);
	ck_assert_uint_eq(fg_requests(E.fg), 2);
	body = msg(want, 258, 1);
	body[0] = 1;
	body[1] = 0x14;
	body[2] = 9;
	expect_last(E.fg, want);
	upcall_request_unref(ra);
	upcall_request_unref(rb);
	upcall_request_unref(rc);
}
END_TEST

/*
 * Cancel the request in flight: its late reply is discarded and the next
 * request gets its own reply.  The guest's result changes between the two,
 * and the types differ, so a mismatched reply could not go unnoticed.
 */
START_TEST(test_cancel_inflight)
{
	struct tc_req a = { 0 }, b = { 0 };
	upcall_request *ra = NULL;

	tenv_open(&E);
	fg_set_delay_ms(E.fg, 80);
	ck_assert_int_eq(upcall_devmgr_mmio_add(E.s, 0xd0000000u, 0x1000, 5,
						tc_req_cb, &a, &ra), 0);
	ck_assert(tc_run_until_fg_requests(E.ctx, E.fg, 1, TC_LONG_MS));
	fg_set_result(E.fg, -ENODEV, -1);
	fg_set_delay_ms(E.fg, 0);
	ck_assert_int_eq(upcall_request_cancel(ra), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 3, 0x10, tc_req_cb, &b, NULL), 0);
	tc_req_wait(E.ctx, &a);
	ck_assert_int_eq(a.error, -ECANCELED);
	expect_answer(&b, -ENODEV);
	ck_assert_uint_eq(fg_requests(E.fg), 2);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
	ck_assert_int_eq(E.st.n, 2);
	upcall_request_unref(ra);
}
END_TEST

static void count_destroy(void *userdata)
{
	__atomic_fetch_add((int *)userdata, 1, __ATOMIC_ACQ_REL);
}

struct cb_counter {
	int calls;
	int *destroyed;
};

static void counting_cb(upcall_request *req, int error, void *userdata)
{
	struct cb_counter *c = userdata;

	c->calls++;
}

static void counting_destroy(void *userdata)
{
	struct cb_counter *c = userdata;

	count_destroy(c->destroyed);
}

/* Dropping the last reference while pending: no callback, destroy runs. */
START_TEST(test_unref_pending)
{
	int destroyed = 0;
	struct cb_counter ca = { 0, &destroyed }, cb = { 0, &destroyed };
	upcall_request *ra = NULL, *rb = NULL;
	struct tc_req t = { 0 };

	tenv_open(&E);
	fg_set_delay_ms(E.fg, 80);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, counting_cb, &ca, &ra), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 9, counting_cb, &cb, &rb), 0);
	ck_assert_int_eq(upcall_request_set_destroy_fn(ra, counting_destroy), 0);
	ck_assert_int_eq(upcall_request_set_destroy_fn(rb, counting_destroy), 0);
	ck_assert(tc_run_until_fg_requests(E.ctx, E.fg, 1, TC_LONG_MS));
	ck_assert_ptr_null(upcall_request_unref(ra));	/* in flight */
	ck_assert_ptr_null(upcall_request_unref(rb));	/* queued */
	ck_assert(tc_run_until_count(E.ctx, &destroyed, 2, TC_LONG_MS));

	/* The late reply to the first is discarded; the session goes on. */
	fg_set_delay_ms(E.fg, 0);
	ck_assert_int_eq(upcall_devmgr_mmio_add(E.s, 0xd0000000u, 0x1000, 5,
						tc_req_cb, &t, NULL), 0);
	expect_answer(&t, 0);
	ck_assert_int_eq(ca.calls, 0);
	ck_assert_int_eq(cb.calls, 0);
	ck_assert_int_eq(destroyed, 2);
	ck_assert_uint_eq(fg_requests(E.fg), 2);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
}
END_TEST

/* A reference kept past completion; destroy runs at the last unref. */
START_TEST(test_ref_lifetime)
{
	int destroyed = 0, result = 1;
	upcall_request *req = NULL;

	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, NULL, &destroyed, &req), 0);
	ck_assert_int_eq(upcall_request_set_destroy_fn(req, count_destroy), 0);
	ck_assert_ptr_eq(upcall_request_get_userdata(req), &destroyed);
	ck_assert_int_eq(upcall_request_get_type(req), UPCALL_MSG_ADD_PCI);
	ck_assert_int_eq(upcall_request_wait(req, TC_LONG_MS * TC_MSEC), 0);
	ck_assert_ptr_eq(upcall_request_ref(req), req);
	ck_assert_ptr_null(upcall_request_unref(req));
	tc_drain(E.ctx);
	ck_assert_int_eq(destroyed, 0);
	ck_assert_int_eq(upcall_request_get_status(req), 1);
	ck_assert_int_eq(upcall_request_get_result(req, &result), 0);
	ck_assert_int_eq(result, 0);
	ck_assert_ptr_null(upcall_request_unref(req));
	ck_assert_int_eq(destroyed, 1);
}
END_TEST

/* -------------------------------------------------- floating requests */

static void set_destroy_cb(upcall_request *req, int error, void *userdata)
{
	struct cb_counter *c = userdata;

	c->calls++;
	if (error)
		c->calls += 100;
	upcall_request_set_destroy_fn(req, counting_destroy);
}

START_TEST(test_floating)
{
	int destroyed = 0;
	struct cb_counter c = { 0, &destroyed };

	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, set_destroy_cb, &c, NULL), 0);
	ck_assert(tc_run_until_count(E.ctx, &destroyed, 1, TC_LONG_MS));
	ck_assert_int_eq(c.calls, 1);

	/* No callback at all: it still goes out and is freed. */
	ck_assert_int_eq(upcall_devmgr_mmio_add(E.s, 0xd0000000u, 0x1000, 5, NULL,
						NULL, NULL), 0);
	ck_assert_int_eq(upcall_ctx_run(E.ctx, TC_LONG_MS * TC_MSEC), 0);
	ck_assert_uint_eq(fg_requests(E.fg), 2);

	/* Floating requests pending at close complete with -ESHUTDOWN. */
	fg_set_behavior(E.fg, FG_SILENT);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, set_destroy_cb, &c, NULL), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 9, set_destroy_cb, &c, NULL), 0);
	upcall_session_close(E.s);
	ck_assert(tc_run_until_count(E.ctx, &destroyed, 3, TC_LONG_MS));
	ck_assert_int_eq(c.calls, 1 + 2 * 101);
}
END_TEST

/*
 * upcall_request_set_floating(): a held request made floating survives its
 * owner's unref (the callback runs, then destroy), one made owned again
 * is cancelled silently by it, as any other.
 */
START_TEST(test_set_floating)
{
	int destroyed = 0;
	struct cb_counter ca = { 0, &destroyed }, cb = { 0, &destroyed };
	upcall_request *ra = NULL, *rb = NULL;

	tenv_open(&E);
	fg_set_delay_ms(E.fg, 50);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, counting_cb, &ca, &ra), 0);
	ck_assert_int_eq(upcall_request_get_floating(ra), 0);
	ck_assert_int_eq(upcall_request_set_destroy_fn(ra, counting_destroy), 0);
	ck_assert_int_eq(upcall_request_set_floating(ra, 1), 0);
	ck_assert_int_eq(upcall_request_get_floating(ra), 1);
	ck_assert_ptr_null(upcall_request_unref(ra));
	ck_assert(tc_run_until_count(E.ctx, &destroyed, 1, TC_LONG_MS));
	ck_assert_int_eq(ca.calls, 1);

	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 9, counting_cb, &cb, &rb), 0);
	ck_assert_int_eq(upcall_request_set_destroy_fn(rb, counting_destroy), 0);
	ck_assert_int_eq(upcall_request_set_floating(rb, 1), 0);
	ck_assert_int_eq(upcall_request_set_floating(rb, 0), 0);
	ck_assert_int_eq(upcall_request_get_floating(rb), 0);
	ck_assert_ptr_null(upcall_request_unref(rb));
	ck_assert(tc_run_until_count(E.ctx, &destroyed, 2, TC_LONG_MS));
	tc_run_for(E.ctx, 100);
	ck_assert_int_eq(cb.calls, 0);

	/* Submitted with ret NULL: floating from the start. */
	ck_assert_int_eq(upcall_request_set_floating(NULL, 1), -EINVAL);
	ck_assert_int_eq(upcall_request_get_floating(NULL), -EINVAL);
}
END_TEST

/* ------------------------------------------------------ sync helpers */

START_TEST(test_sync)
{
	static const uint8_t ids[] = { 1, 2 };
	uint32_t index = 0;
	int result = 1;

	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_pci_add_sync(E.s, 0, 8, 0, NULL), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add_sync(E.s, 0, 8, 0, &result), 0);
	ck_assert_int_eq(result, 0);
	ck_assert_int_eq(upcall_devmgr_pci_del_sync(E.s, 0, 8, 0, NULL), 0);
	ck_assert_int_eq(upcall_devmgr_mmio_add_sync(E.s, 0xd0000000u, 0x1000, 5, 0,
						     NULL), 0);
	ck_assert_int_eq(upcall_devmgr_mmio_del_sync(E.s, 0xd0000000u, 0x1000, 5,
						     TC_LONG_MS * TC_MSEC, NULL), 0);
	ck_assert_int_eq(upcall_devmgr_mem_add_sync(E.s, 0x100000000ull, 0x8000000,
						    0, 1, 0, NULL), 0);
	ck_assert_int_eq(upcall_devmgr_mem_del_sync(E.s, 0x100000000ull, 0x8000000,
						    0, NULL), 0);
	ck_assert_int_eq(upcall_devmgr_cpu_add_sync(E.s, ids, 2, 0, &result, &index), 0);
	ck_assert_int_eq(result, 0);
	ck_assert_uint_eq(index, 2);
	ck_assert_int_eq(upcall_devmgr_cpu_del_sync(E.s, ids, 1, 0, NULL, NULL), 0);
	ck_assert_uint_eq(fg_requests(E.fg), 9);

	/* The guest's error: folded into the return, or kept apart. */
	fg_set_result(E.fg, -ENODEV, -1);
	ck_assert_int_eq(upcall_devmgr_pci_add_sync(E.s, 1, 8, 0, NULL), -ENODEV);
	result = 0;
	ck_assert_int_eq(upcall_devmgr_pci_add_sync(E.s, 1, 8, 0, &result), 0);
	ck_assert_int_eq(result, -ENODEV);
	ck_assert_int_eq(upcall_devmgr_mmio_add_sync(E.s, 0xd0000000u, 0x1000, 5, 0,
						     NULL), -ENODEV);
	ck_assert_int_eq(upcall_devmgr_mem_del_sync(E.s, 0x100000000ull, 0x8000000,
						    0, &result), 0);
	ck_assert_int_eq(result, -ENODEV);

	/* Bad arguments fail before anything is sent. */
	ck_assert_int_eq(upcall_devmgr_cpu_add_sync(E.s, NULL, 1, 0, &result, NULL),
			 -EINVAL);
	ck_assert_uint_eq(fg_requests(E.fg), 13);

	/* No answer in time: a transport error, @result untouched. */
	fg_set_behavior(E.fg, FG_SILENT);
	result = 12345;
	ck_assert_int_eq(upcall_devmgr_pci_add_sync(E.s, 0, 8, 20 * TC_MSEC, &result),
			 -ETIMEDOUT);
	ck_assert_int_eq(result, 12345);

	upcall_session_close(E.s);
	ck_assert_int_eq(upcall_devmgr_pci_add_sync(E.s, 0, 8, 0, &result), -ENOTCONN);
}
END_TEST

/* A sync helper's timeout covers the connect too. */
START_TEST(test_sync_while_connecting)
{
	int result = 1;

	fg_set_behavior(E.fg, FG_NO_CONNECT);
	ck_assert_int_eq(upcall_session_set_connect_timeout(E.s, 10000 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	ck_assert_int_eq(upcall_devmgr_pci_add_sync(E.s, 0, 8, 20 * TC_MSEC, &result),
			 -ETIMEDOUT);
	ck_assert_int_eq(result, 1);
}
END_TEST

START_TEST(test_request_wait)
{
	static const uint8_t id = 1;
	upcall_request *req = NULL;
	uint32_t index;
	int result;

	tenv_open(&E);
	fg_set_delay_ms(E.fg, 30);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, &id, 1, NULL, NULL, &req), 0);
	ck_assert_int_eq(upcall_request_get_status(req), 0);
	ck_assert_int_eq(upcall_request_get_result(req, &result), -EAGAIN);
	ck_assert_int_eq(upcall_request_get_cpu_index(req, &index), -EAGAIN);
	ck_assert_int_eq(upcall_request_wait(req, 5 * TC_MSEC), -ETIMEDOUT);
	ck_assert_int_eq(upcall_request_get_status(req), 0);
	ck_assert_int_eq(upcall_request_wait(req, TC_LONG_MS * TC_MSEC), 0);
	ck_assert_int_eq(upcall_request_get_status(req), 1);
	ck_assert_int_eq(upcall_request_get_cpu_index(req, &index), 0);
	ck_assert_uint_eq(index, 1);
	ck_assert_int_eq(upcall_request_wait(req, 0), 0);
	upcall_request_unref(req);

	/* Completed without an answer. */
	fg_set_behavior(E.fg, FG_SILENT);
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, NULL, NULL, &req), 0);
	ck_assert_int_eq(upcall_request_cancel(req), 0);
	ck_assert_int_eq(upcall_request_wait(req, 0), 0);
	ck_assert_int_eq(upcall_request_get_status(req), -ECANCELED);
	ck_assert_int_eq(upcall_request_get_result(req, &result), -ENODATA);
	upcall_request_unref(req);
}
END_TEST

/* ------------------------------------------------------- callbacks */

struct chain {
	upcall_session *s;
	upcall_request *first;
	struct tc_req second;
	int first_calls;
};

/* From a callback: drop our own handle and submit the next request. */
static void chain_cb(upcall_request *req, int error, void *userdata)
{
	struct chain *c = userdata;

	c->first_calls++;
	ck_assert_ptr_eq(req, c->first);
	c->first = upcall_request_unref(c->first);
	ck_assert_int_eq(upcall_devmgr_pci_del(c->s, 0, 8, tc_req_cb, &c->second,
					       NULL), 0);
	ck_assert_int_eq(upcall_request_get_type(req), UPCALL_MSG_ADD_PCI);
}

START_TEST(test_callback_reentry)
{
	struct chain c = { 0 };

	tenv_open(&E);
	c.s = E.s;
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, chain_cb, &c, &c.first), 0);
	tc_req_wait(E.ctx, &c.second);
	ck_assert_int_eq(c.first_calls, 1);
	ck_assert_int_eq(c.second.error, 0);
	ck_assert_ptr_null(c.first);
	ck_assert_uint_eq(fg_requests(E.fg), 2);
}
END_TEST

START_TEST(test_getters)
{
	static const uint8_t id = 1;
	upcall_request *req = NULL;
	upcall_info info;
	uint32_t index;
	int x, result;

	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_mmio_add(E.s, 0xd0000000u, 0x1000, 5, NULL,
						&x, &req), 0);
	ck_assert_ptr_eq(upcall_request_get_userdata(req), &x);
	ck_assert_int_eq(upcall_request_get_type(req), UPCALL_MSG_ADD_MMIO);
	ck_assert_int_eq(upcall_request_wait(req, TC_LONG_MS * TC_MSEC), 0);
	ck_assert_int_eq(upcall_request_get_result(req, NULL), -EINVAL);
	ck_assert_int_eq(upcall_request_get_cpu_index(req, NULL), -EINVAL);
	ck_assert_int_eq(upcall_request_get_cpu_index(req, &index), -ENODATA);
	ck_assert_int_eq(upcall_request_get_info(req, &info), -EINVAL);
	ck_assert_int_eq(upcall_request_get_result(req, &result), 0);
	upcall_request_unref(req);

	ck_assert_int_eq(upcall_devmgr_cpu_del(E.s, &id, 1, NULL, NULL, &req), 0);
	ck_assert_int_eq(upcall_request_get_type(req), UPCALL_MSG_DEL_CPU);
	ck_assert_ptr_null(upcall_request_get_userdata(req));
	ck_assert_int_eq(upcall_request_get_info(req, NULL), -EINVAL);
	upcall_request_unref(req);
	ck_assert_int_eq(upcall_devmgr_get_info(E.s, NULL, NULL, &req), 0);
	ck_assert_int_eq(upcall_request_get_type(req), UPCALL_MSG_GET_INFO);
	ck_assert_int_eq(upcall_request_get_info(req, &info), -EAGAIN);
	upcall_request_unref(req);
}
END_TEST

/* ------------------------------------------------------ concurrency */

#define THREADS 4
#define PER_THREAD 250

struct worker {
	upcall_session *s;
	int id;
	int next;		/* index of the next callback expected */
	int out_of_order;
	int failed;
	int *total;
	struct worker_item {
		struct worker *w;
		int i;
	} items[PER_THREAD];
	upcall_request *reqs[PER_THREAD];
};

static void worker_cb(upcall_request *req, int error, void *userdata)
{
	struct worker_item *it = userdata;
	struct worker *w = it->w;
	int result = 1;

	if (it->i != w->next)
		w->out_of_order++;
	w->next = it->i + 1;
	if (error || upcall_request_get_result(req, &result) < 0 || result)
		w->failed++;
	__atomic_fetch_add(w->total, 1, __ATOMIC_ACQ_REL);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		w->items[i].w = w;
		w->items[i].i = i;
		if (submit_mixed(w->s, w->id * PER_THREAD + i, worker_cb,
				 &w->items[i], &w->reqs[i]) < 0)
			w->failed += 1000;
	}
	for (i = 0; i < PER_THREAD; i++) {
		if (upcall_request_wait(w->reqs[i], 60000 * TC_MSEC) < 0 ||
		    upcall_request_get_status(w->reqs[i]) != 1)
			w->failed += 1000;
		upcall_request_unref(w->reqs[i]);
	}
	return NULL;
}

START_TEST(test_concurrent_submitters)
{
	struct worker *w = calloc(THREADS, sizeof(*w));
	pthread_t th[THREADS];
	int i, total = 0, failed = 0, disorder = 0, missing = 0;

	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(upcall_session_set_request_timeout(E.s, 60000 * TC_MSEC), 0);
	ck_assert_int_eq(upcall_ctx_start_thread(E.ctx), 0);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	ck_assert_int_eq(upcall_session_wait_ready(E.s, TC_LONG_MS * TC_MSEC), 0);
	for (i = 0; i < THREADS; i++) {
		w[i].s = E.s;
		w[i].id = i;
		w[i].total = &total;
		ck_assert_int_eq(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	ck_assert_int_eq(upcall_ctx_stop_thread(E.ctx), 0);
	for (i = 0; i < THREADS; i++) {
		failed += w[i].failed;
		disorder += w[i].out_of_order;
		missing += PER_THREAD - w[i].next;
	}
	free(w);
	ck_assert_int_eq(total, THREADS * PER_THREAD);
	ck_assert_int_eq(failed, 0);
	ck_assert_int_eq(disorder, 0);
	ck_assert_int_eq(missing, 0);
	ck_assert_uint_eq(fg_requests(E.fg), THREADS * PER_THREAD);
	ck_assert_uint_eq(fg_violations(E.fg), 0);
	ck_assert_uint_eq(fg_connections(E.fg), 1);
}
END_TEST

#define SYNC_CALLS 100
#define SYNC_SLOW_USEC (500 * TC_MSEC)

/*
 * Sync helpers from several threads.  Each call is a round trip of well
 * under a millisecond (tens under valgrind); one that takes 500 ms was not
 * woken when its request completed and slept until some timer fired.
 */
static void *sync_worker(void *arg)
{
	struct worker *w = arg;
	int i, result;

	for (i = 0; i < SYNC_CALLS; i++) {
		uint64_t start = tc_now_usec();

		if (upcall_devmgr_pci_add_sync(w->s, (uint8_t)w->id, (uint8_t)i,
					       0, &result) < 0 || result)
			w->failed++;
		if (tc_now_usec() - start > SYNC_SLOW_USEC)
			w->out_of_order++;
	}
	return NULL;
}

static void run_sync_workers(int lib_thread)
{
	struct worker *w = calloc(THREADS, sizeof(*w));
	pthread_t th[THREADS];
	int i, failed = 0, slow = 0;

	ck_assert_ptr_nonnull(w);
	ck_assert_int_eq(upcall_session_set_request_timeout(E.s, 20000 * TC_MSEC), 0);
	if (lib_thread)
		ck_assert_int_eq(upcall_ctx_start_thread(E.ctx), 0);
	ck_assert_int_eq(upcall_session_open_unix(E.s, E.d.path), 0);
	for (i = 0; i < THREADS; i++) {
		w[i].s = E.s;
		w[i].id = i;
		ck_assert_int_eq(pthread_create(&th[i], NULL, sync_worker, &w[i]), 0);
	}
	for (i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	for (i = 0; i < THREADS; i++) {
		failed += w[i].failed;
		slow += w[i].out_of_order;
	}
	free(w);
	ck_assert_int_eq(failed, 0);
	ck_assert_msg(slow == 0, "%d calls slept > 500 ms after completion", slow);
	ck_assert_uint_eq(fg_requests(E.fg), THREADS * SYNC_CALLS);
}

/* ... while the library thread processes. */
START_TEST(test_concurrent_sync)
{
	run_sync_workers(1);
}
END_TEST

/* ... each thread processing in turn, no library thread. */
START_TEST(test_concurrent_sync_no_thread)
{
	run_sync_workers(0);
}
END_TEST

/* ------------------------------------------------ argument checking */

START_TEST(test_bad_arguments)
{
	uint8_t ids[256], m[1024];
	upcall_request *req = NULL;

	memset(ids, 1, sizeof(ids));
	/* Never opened: nothing can be submitted. */
	ck_assert_int_eq(upcall_devmgr_pci_add(E.s, 0, 8, NULL, NULL, NULL), -ENOTCONN);
	tenv_open(&E);

	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, ids, 0, NULL, NULL, &req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, ids, 256, NULL, NULL, &req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, ids, SIZE_MAX, NULL, NULL, &req),
			 -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, NULL, 1, NULL, NULL, &req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_del(E.s, ids, 0, NULL, NULL, &req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_del(E.s, ids, 256, NULL, NULL, &req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_del(E.s, NULL, 2, NULL, NULL, &req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mmio_add(E.s, 0xd0000000u, 0, 5, NULL, NULL,
						&req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mmio_del(E.s, 0xd0000000u, 0, 5, NULL, NULL,
						&req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mmio_add(E.s, UINT64_MAX, 2, 5, NULL, NULL,
						&req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mem_add(E.s, 0x100000000ull, 0, 0, 0, NULL,
					       NULL, &req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mem_del(E.s, 0x100000000ull, 0, NULL, NULL,
					       &req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mem_add(E.s, 0x100000000ull, 0x8000000, 0, 2,
					       NULL, NULL, &req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mem_add(E.s, 0x100000000ull, 0x8000000, 0,
					       0x80000000u, NULL, NULL, &req), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_mem_add(E.s, UINT64_MAX - 10, 0x8000000, 0, 0,
					       NULL, NULL, &req), -EINVAL);
	ck_assert_ptr_null(req);

	/* Nothing was queued, nothing was sent. */
	ck_assert_int_eq(upcall_ctx_run(E.ctx, 100 * TC_MSEC), 0);
	tc_run_for(E.ctx, 10);
	ck_assert_uint_eq(fg_requests(E.fg), 0);
	ck_assert_uint_eq(fg_violations(E.fg), 0);
	ck_assert_int_eq(fg_last_request(E.fg, m), -ENOENT);
}
END_TEST

START_TEST(test_bad_arguments_aarch64)
{
	static const uint8_t ids[1] = { 1 };
	uint8_t m[1024];

	ck_assert_int_eq(upcall_session_set_arch(E.s, UPCALL_ARCH_AARCH64), 0);
	tenv_open(&E);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, ids, 1, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_del(E.s, ids, 1, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, NULL, 0, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_devmgr_cpu_add(E.s, NULL, 256, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(upcall_ctx_run(E.ctx, 100 * TC_MSEC), 0);
	tc_run_for(E.ctx, 10);
	ck_assert_uint_eq(fg_requests(E.fg), 0);
	ck_assert_int_eq(fg_last_request(E.fg, m), -ENOENT);
}
END_TEST

static Suite *request_suite(void)
{
	Suite *s = suite_create("request");
	TCase *tc = tcase_create("wire");

	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cpu_add_x86);
	tcase_add_test(tc, test_cpu_del_x86_255);
	tcase_add_test(tc, test_apic_version);
	tcase_add_test(tc, test_cpu_aarch64);
	tcase_add_test(tc, test_mmio);
	tcase_add_test(tc, test_mem);
	tcase_add_test(tc, test_mem_add_not_movable);
	tcase_add_test(tc, test_pci);
	tcase_add_test(tc, test_get_info);
	tcase_add_loop_test(tc, test_get_info_older, 0,
			    (int)(sizeof(older_guests) / sizeof(older_guests[0])));
	tcase_add_test(tc, test_get_info_unsupported);
	suite_add_tcase(s, tc);

	tc = tcase_create("result");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_guest_error);
	tcase_add_test(tc, test_cpu_failure_without_index);
	tcase_add_test(tc, test_cpu_index_partial);
	tcase_add_test(tc, test_many_in_order);
	tcase_add_test(tc, test_getters);
	suite_add_tcase(s, tc);

	tc = tcase_create("timeout");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_request_timeout);
	tcase_add_test(tc, test_queued_timeout);
	tcase_add_test(tc, test_set_timeout);
	tcase_add_test(tc, test_set_timeout_past);
	tcase_add_test(tc, test_set_timeout_infinite);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifetime");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cancel_queued);
	tcase_add_test(tc, test_cancel_inflight);
	tcase_add_test(tc, test_unref_pending);
	tcase_add_test(tc, test_ref_lifetime);
	tcase_add_test(tc, test_floating);
	tcase_add_test(tc, test_set_floating);
	tcase_add_test(tc, test_callback_reentry);
	suite_add_tcase(s, tc);

	tc = tcase_create("sync");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_sync);
	tcase_add_test(tc, test_sync_while_connecting);
	tcase_add_test(tc, test_request_wait);
	suite_add_tcase(s, tc);

	tc = tcase_create("threads");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_concurrent_submitters);
	tcase_add_test(tc, test_concurrent_sync);
	tcase_add_test(tc, test_concurrent_sync_no_thread);
	suite_add_tcase(s, tc);

	tc = tcase_create("arguments");
	tc_tcase_setup(tc);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_bad_arguments_aarch64);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tc_run_suite(request_suite());
}
