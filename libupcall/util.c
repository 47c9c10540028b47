// SPDX-License-Identifier: MIT
/* Time arithmetic, error strings and the version. */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "libupcall-private.h"

uint64_t now_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Saturating: UINT64_MAX stays "never". */
uint64_t usec_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

UPCALL_EXPORT const char *upcall_version(void)
{
	return PACKAGE_VERSION;
}

/* Codes whose libc text would mislead someone reading a VMM's log. */
static const struct {
	int err;
	const char *msg;
} upcall_errors[] = {
	{ EPROTO, "Guest broke the upcall protocol" },
	{ ECONNRESET, "Connection to the guest was reset" },
	{ ECONNREFUSED, "Guest upcall server is not listening" },
	{ ETIMEDOUT, "Timed out waiting for the guest" },
	{ ECANCELED, "Request cancelled" },
	{ ESHUTDOWN, "Session closed" },
	{ ENOTCONN, "Session is closed" },
};

/* |err|, or -1 for INT_MIN, which has no positive twin (and is no errno). */
static int errno_abs(int err)
{
	if (err == INT_MIN)
		return -1;
	return err < 0 ? -err : err;
}

UPCALL_EXPORT const char *upcall_strerror(int err)
{
	const char *s;
	size_t i;

	err = errno_abs(err);
	if (err < 0)
		return "Unknown error";
	if (err == 0)
		return "Success";
	for (i = 0; i < sizeof(upcall_errors) / sizeof(upcall_errors[0]); i++)
		if (upcall_errors[i].err == err)
			return upcall_errors[i].msg;
	s = strerrordesc_np(err);
	return s ? s : "Unknown error";
}

UPCALL_EXPORT const char *upcall_errno_name(int err)
{
	err = errno_abs(err);
	if (err <= 0)
		return NULL;
	return strerrorname_np(err);
}
