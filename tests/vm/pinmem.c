// SPDX-License-Identifier: MIT
/*
 * pinmem: hold guest memory that cannot be migrated, so that offlining the
 * memory block it sits in does not finish (the test bed's way to make a
 * DEL_MEM wait: tests/vm/check-devices).
 *
 * It allocates MIB MiB, touches every page, then vmsplice()s the pages
 * into pipes that nobody reads: each pipe buffer holds a reference to a
 * user page, and a page with a reference the kernel cannot account for is
 * not migrated, so offline_pages() retries until it is told to stop.
 * User pages are allocated movable, from ZONE_MOVABLE first, so they land
 * in memory that was onlined movable.  Prints "pinned N pages" and sleeps
 * until killed.
 *
 * Usage: pinmem MIB
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#define PIPE_BYTES (1 << 20) /* the default pipe-max-size */

int main(int argc, char **argv)
{
	long page = sysconf(_SC_PAGESIZE), mib, pinned = 0;
	size_t len, off = 0;
	char *mem;

	if (argc != 2 || (mib = strtol(argv[1], NULL, 10)) <= 0 || mib > 4096) {
		fprintf(stderr, "usage: pinmem MIB (1..4096)\n");
		return 2;
	}
	len = (size_t)mib << 20;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (mem == MAP_FAILED) {
		perror("pinmem: mmap");
		return 1;
	}
	for (size_t i = 0; i < len; i += page)
		mem[i] = 1;

	while (off < len) {
		int fds[2];
		size_t n;

		if (pipe(fds) < 0) {
			perror("pinmem: pipe");
			break;
		}
		fcntl(fds[1], F_SETPIPE_SZ, PIPE_BYTES);
		for (n = 0; n < PIPE_BYTES && off < len;) {
			struct iovec iov = { mem + off, page };
			ssize_t w = vmsplice(fds[1], &iov, 1, SPLICE_F_NONBLOCK);

			if (w <= 0)
				break;
			off += page;
			n += page;
			pinned++;
		}
		if (n == 0) {
			fprintf(stderr, "pinmem: vmsplice: %s\n", strerror(errno));
			break;
		}
	}
	printf("pinned %ld pages\n", pinned);
	fflush(stdout);
	for (;;)
		pause();
}
