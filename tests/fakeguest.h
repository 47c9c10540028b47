/* SPDX-License-Identifier: MIT */
/*
 * An in-process fake upcall guest for the test suites: it speaks the guest
 * side of the wire protocol (hybrid-vsock handshake, service byte, CONNECT
 * message, one reply per request), checks every request against the
 * specification, and misbehaves on demand.
 *
 * Settings (behavior, result, index, delay) are read when a connection
 * starts (for the handshake behaviors) or when a request arrives (for the
 * reply), so changing them affects the next connection or request, never a
 * reply already being prepared.
 */
#ifndef _FAKEGUEST_H
#define _FAKEGUEST_H

#include <stdint.h>

#include <upcall/wire.h>

struct fake_guest;

enum fg_behavior {
	FG_OK,			/* answer every request correctly */
	FG_PIECES,		/* like FG_OK, every byte sent one at a time */
	FG_SILENT,		/* read requests, never answer */
	FG_GARBAGE,		/* answer with 1024 pseudo-random bytes */
	FG_EOF_MID_REPLY,	/* 100 bytes of a valid reply, then close */
	FG_BAD_MAGIC,		/* valid reply but magic 0xdeadbeef */
	FG_WRONG_TYPE,		/* valid reply but msg_type = request's + 1 */
	FG_BIG_SIZE,		/* valid reply but msg_size = 2000 */
	FG_REFUSE,		/* hybrid: answer "ERR no listener\n", close */
	FG_REFUSE_NOLF,		/* hybrid: close without answering */
	FG_BAD_CONNECT,		/* CONNECT message with msg_type 1 */
	FG_BAD_CONNECT_MAGIC,	/* CONNECT message with a bad magic */
	FG_NO_CONNECT,		/* after the service byte, stay mute */
	FG_CLOSE_AFTER_CONNECT,	/* send the CONNECT message, then close */
	FG_BEHAVIOR_MAX,
};

/*
 * Listen on a Unix socket at @path (unlinked first) and serve every
 * connection in its own thread.  @hybrid 1: each connection starts with the
 * hybrid-vsock text handshake; 0: it starts at the service byte.  @path
 * NULL: no listener, only fg_serve_fd().  Returns NULL on error (errno set).
 */
struct fake_guest *fg_new(const char *path, int hybrid);

/* Serve a connected stream fd (no text handshake); the guest owns @fd. */
int fg_serve_fd(struct fake_guest *fg, int fd);

void fg_set_behavior(struct fake_guest *fg, enum fg_behavior b);
/*
 * The result of every reply.  CPU replies carry a 4-byte body with
 * @cpu_index (<0: the request's count), or, with FG_INDEX_NONE, no body at
 * all (msg_size 0, as a Dragonball guest answers a failure).
 */
#define FG_INDEX_NONE INT32_MIN
void fg_set_result(struct fake_guest *fg, int32_t result, int32_t cpu_index);
/* Wait this long before each reply. */
void fg_set_delay_ms(struct fake_guest *fg, unsigned int ms);
/*
 * The GET_INFO extension: answer with @info (copied), or, with @info NULL,
 * answer -1 with no body as a Dragonball guest does.  The default is an
 * info version UPCALL_INFO_VERSION x86_64 guest serving types 1..8 with
 * 128 MiB memory blocks and CPU mode HOTADD.
 */
void fg_set_info(struct fake_guest *fg, const struct upcall_info_reply *info);
/* The GET_INFO body it answers with (also while GET_INFO is off). */
void fg_get_info(struct fake_guest *fg, struct upcall_info_reply *info);

unsigned int fg_requests(struct fake_guest *fg);	/* well-formed requests */
unsigned int fg_violations(struct fake_guest *fg);	/* spec violations seen */
unsigned int fg_connections(struct fake_guest *fg);	/* connections served */
unsigned int fg_last_port(struct fake_guest *fg);	/* of the last CONNECT line */
/* The last request's bytes, well-formed or not: 0, or -ENOENT if none. */
int fg_last_request(struct fake_guest *fg, uint8_t buf[UPCALL_MSG_SIZE]);

/*
 * Write one whole, well-formed reply (type ADD_PCI, result 0) to every live
 * connection that has finished its handshake, unasked; wait up to a second
 * for one to get there.  Returns how many connections it was written to.
 */
int fg_send_unsolicited(struct fake_guest *fg);

/* Shut down every live connection (a guest reboot); keep listening. */
void fg_drop_connections(struct fake_guest *fg);

/* Stop everything, join every thread, close every fd, unlink the path. */
void fg_free(struct fake_guest *fg);

/* "ok", "eof-mid-reply", ... and back; NULL / -1 when unknown. */
const char *fg_behavior_name(enum fg_behavior b);
int fg_behavior_from_name(const char *name);

#endif /* _FAKEGUEST_H */
