// SPDX-License-Identifier: MIT
/*
 * Encoders and parsers of the device-manager wire format.  Pure functions
 * over byte buffers: everything the guest sends passes through here and
 * nothing here trusts it.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "libupcall-private.h"

static void put_le32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

/* Body size a successful reply of @type must have. */
static uint32_t proto_reply_min(uint32_t type)
{
	switch (type) {
	case UPCALL_MSG_ADD_CPU:
	case UPCALL_MSG_DEL_CPU:
		return sizeof(struct upcall_cpu_reply);
	case UPCALL_MSG_GET_INFO:
		return sizeof(struct upcall_info_reply);
	default:
		return 0;
	}
}

void proto_encode(uint8_t msg[UPCALL_MSG_SIZE], uint32_t type,
		  const void *body, size_t len)
{
	memset(msg, 0, UPCALL_MSG_SIZE);
	put_le32(msg + offsetof(struct upcall_msg_header, magic_version),
		 UPCALL_MAGIC_VERSION);
	put_le32(msg + offsetof(struct upcall_msg_header, msg_size), (uint32_t)len);
	put_le32(msg + offsetof(struct upcall_msg_header, msg_type), type);
	memcpy(msg + sizeof(struct upcall_msg_header), body, len);
}

/* The guest's session start: all four header fields are fixed. */
int proto_check_connect(const uint8_t msg[UPCALL_MSG_SIZE])
{
	if (get_le32(msg + offsetof(struct upcall_msg_header, magic_version)) !=
	    UPCALL_MAGIC_VERSION)
		return -EPROTO;
	if (get_le32(msg + offsetof(struct upcall_msg_header, msg_size)) != 0)
		return -EPROTO;
	if (get_le32(msg + offsetof(struct upcall_msg_header, msg_type)) !=
	    UPCALL_MSG_CONNECT)
		return -EPROTO;
	if (get_le32(msg + offsetof(struct upcall_msg_header, msg_flags)) != 0)
		return -EPROTO;
	return 0;
}

/*
 * A reply must answer @type, carry a body that fits, and a result that is
 * 0 or a negative errno.  Whether the body means anything is the caller's
 * business: a Dragonball guest leaves it stale on failure (msg_size 0).
 */
int proto_parse_reply(const uint8_t msg[UPCALL_MSG_SIZE], uint32_t type,
		      struct proto_reply *reply)
{
	uint32_t size;
	int32_t res;

	if (get_le32(msg + offsetof(struct upcall_msg_header, magic_version)) !=
	    UPCALL_MAGIC_VERSION)
		return -EPROTO;
	if (get_le32(msg + offsetof(struct upcall_msg_header, msg_type)) != type)
		return -EPROTO;
	size = get_le32(msg + offsetof(struct upcall_msg_header, msg_size));
	if (size > UPCALL_REPLY_BODY_MAX)
		return -EPROTO;
	res = (int32_t)get_le32(msg + offsetof(struct upcall_reply_header, result));
	if (res > 0 || res < -4095)
		return -EPROTO;
	/* A success must carry the body its type promises. */
	if (res == 0 && size < proto_reply_min(type))
		return -EPROTO;
	reply->result = res;
	reply->body_size = size;
	reply->body = msg + sizeof(struct upcall_reply_header);
	return 0;
}

/* The hybrid-vsock answer: "OK <anything>" joins the stream. */
int proto_parse_hybrid_line(const char *line)
{
	if (strncmp(line, "OK", 2) != 0)
		return -ECONNREFUSED;
	if (line[2] != ' ' && line[2] != '\n' && line[2] != '\0')
		return -ECONNREFUSED;
	return 0;
}
