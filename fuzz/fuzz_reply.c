// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for libupcall's pure parsers (libupcall/proto.c, built
 * into this binary: the functions are hidden in the .so):
 * proto_parse_hybrid_line(), proto_check_connect(), proto_parse_reply(),
 * and proto_encode().
 *
 * The input is a byte stream as a guest would send it, read the way the
 * library reads it: the hybrid answer line byte by byte (at most
 * HYBRID_LINE_MAX bytes, no NUL), then the 1024-byte CONNECT message, then
 * 1024-byte replies, each parsed as the answer to a request type taken
 * from a schedule.  Every verdict is checked against a reference model
 * written from the specification (differential), and every accepted reply
 * against the parser's own promises (body inside the message, size within
 * the body room, result a negative errno or 0).
 *
 * Input: byte 0: bit 7 hybrid line first, bits 0-2 schedule length L;
 * bytes 1..L: request types (index into types[] below, modulo 9); the rest:
 * the stream.  fuzz/gen-corpus.py writes seeds in this format.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-common.h"

#include "libupcall-private.h"

static const uint32_t types[] = {
	UPCALL_MSG_ADD_CPU,  UPCALL_MSG_DEL_CPU, UPCALL_MSG_ADD_MEM,
	UPCALL_MSG_DEL_MEM,  UPCALL_MSG_ADD_MMIO, UPCALL_MSG_DEL_MMIO,
	UPCALL_MSG_ADD_PCI,  UPCALL_MSG_DEL_PCI, UPCALL_MSG_GET_INFO,
};
#define N_TYPES (sizeof(types) / sizeof(types[0]))


/* ---- the reference model, from wire-protocol.md and proto.c's contract */

static int ref_hybrid(const char *line)
{
	/* "OK " (or a bare "OK" line) joins; anything else is a refusal. */
	return line[0] == 'O' && line[1] == 'K' &&
	       (line[2] == ' ' || line[2] == '\n' || line[2] == '\0') ? 0 : -1;
}

static int ref_connect(const uint8_t *m)
{
	return le32(m) == 0x444D0100u && le32(m + 4) == 0 && le32(m + 8) == 0 &&
	       le32(m + 12) == 0 ? 0 : -1;
}

static int ref_reply(const uint8_t *m, uint32_t type)
{
	uint32_t size = le32(m + 4);
	int64_t result = (int32_t)le32(m + 16);
	uint32_t need = 0;

	if (le32(m) != 0x444D0100u || le32(m + 8) != type)
		return -1;
	if (size > 1024 - 20)		/* the body must fit after the result */
		return -1;
	if (result > 0 || result < -4095)	/* 0 or a negative errno */
		return -1;
	if (type == 1 || type == 2)
		need = 4;		/* struct cpu_reply */
	else if (type == 0x100)
		need = 64;		/* struct upcall_info_reply */
	return result == 0 && size < need ? -1 : 0;
}

/* ---- the library's line reader, as transport_read_line() bounds it */

/* Consume the hybrid line; returns bytes used, or 0 if the stream ends. */
static size_t read_line(const uint8_t *d, size_t n, char *line, int *verdict)
{
	size_t i, len = 0;

	for (i = 0; i < n; i++) {
		char c = (char)d[i];

		if (len >= HYBRID_LINE_MAX || c == '\0') {
			*verdict = -EPROTO;
			return i + 1;
		}
		line[len++] = c;
		if (c == '\n') {
			line[len] = '\0';
			*verdict = 0;
			return i + 1;
		}
	}
	return 0;
}

static void check_encode(const uint8_t *src, size_t avail, uint32_t type)
{
	uint8_t msg[UPCALL_MSG_SIZE];
	size_t len = avail < REQUEST_BODY_MAX ? avail : REQUEST_BODY_MAX;
	size_t i;

	memset(msg, 0xa5, sizeof(msg));
	proto_encode(msg, type, src, len);
	CHECK(le32(msg) == UPCALL_MAGIC_VERSION);
	CHECK(le32(msg + 4) == len);
	CHECK(le32(msg + 8) == type);
	CHECK(le32(msg + 12) == 0);
	CHECK(memcmp(msg + 16, src, len) == 0);
	for (i = 16 + len; i < sizeof(msg); i++)
		CHECK(msg[i] == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *sched, *p;
	size_t n_sched, n, k;
	int hybrid;

	if (size < 1)
		return 0;
	hybrid = data[0] & 0x80;
	n_sched = data[0] & 7;
	if (size < 1 + n_sched)
		return 0;
	sched = data + 1;
	p = data + 1 + n_sched;
	n = size - 1 - n_sched;

	if (hybrid) {
		char line[HYBRID_LINE_MAX + 1];
		int verdict = 0;
		size_t used = read_line(p, n, line, &verdict);

		if (used == 0)
			return 0;	/* EOF before '\n': the library refuses */
		if (verdict == 0) {
			int r = proto_parse_hybrid_line(line);

			CHECK(r == 0 || r == -ECONNREFUSED);
			CHECK((r == 0) == (ref_hybrid(line) == 0));
			if (r < 0)
				return 0;
		} else {
			return 0;
		}
		p += used;
		n -= used;
	}

	/* The CONNECT message, then replies; the library reads exactly 1024. */
	if (n < UPCALL_MSG_SIZE)
		return 0;
	{
		int r = proto_check_connect(p);

		CHECK(r == 0 || r == -EPROTO);
		CHECK((r == 0) == (ref_connect(p) == 0));
		if (r < 0)
			return 0;
	}
	p += UPCALL_MSG_SIZE;
	n -= UPCALL_MSG_SIZE;

	for (k = 0; n >= UPCALL_MSG_SIZE; k++) {
		uint32_t type = n_sched ? types[sched[k % n_sched] % N_TYPES] :
					  UPCALL_MSG_ADD_CPU;
		struct proto_reply rep;
		int r;

		memset(&rep, 0x5a, sizeof(rep));
		r = proto_parse_reply(p, type, &rep);
		CHECK(r == 0 || r == -EPROTO);
		CHECK((r == 0) == (ref_reply(p, type) == 0));
		if (r == 0) {
			CHECK(rep.result <= 0 && rep.result >= -4095);
			CHECK(rep.body_size <= UPCALL_REPLY_BODY_MAX);
			CHECK(rep.body == p + sizeof(struct upcall_reply_header));
			/* The body the caller may read lies inside the message. */
			CHECK(rep.body + rep.body_size <= p + UPCALL_MSG_SIZE);
		} else {
			break;	/* the library drops the connection here */
		}
		check_encode(p, n, type);
		p += UPCALL_MSG_SIZE;
		n -= UPCALL_MSG_SIZE;
	}
	return 0;
}
