// SPDX-License-Identifier: MIT
// The public headers must compile as C++11 with -pedantic.
#include <upcall/upcall.h>
#include <upcall/wire.h>

int main()
{
	static_assert(sizeof(upcall_msg) == UPCALL_MSG_SIZE, "message size");
	upcall_ctx *ctx = nullptr;

	(void)ctx;
	return upcall_version() != nullptr ? 0 : 1;
}
