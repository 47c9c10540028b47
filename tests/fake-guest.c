// SPDX-License-Identifier: MIT
/*
 * fake-guest: the test suites' fake upcall guest as a program, for the CLI
 * tests and demos.  It listens, prints "ready", and serves until SIGTERM or
 * SIGINT.
 */
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakeguest.h"

static void usage(FILE *f)
{
	int i;

	fputs("Usage: fake-guest --socket PATH [--plain] [--behavior NAME]\n"
	      "                  [--result N] [--index N] [--delay-ms N] [--no-info]\n"
	      "                  [--info-version N] [--cpu-mode MODE] [--arch ARCH]\n"
	      "\n"
	      "  --socket PATH    listen on this Unix socket (removed first)\n"
	      "  --plain          no hybrid-vsock handshake: start at the service byte\n"
	      "  --behavior NAME  how to (mis)behave, default ok\n"
	      "  --result N       the result of every reply, default 0\n"
	      "  --index N        the CPU reply index, default the request's count\n"
	      "  --delay-ms N     wait before each reply\n"
	      "  --no-info        answer GET_INFO with -1, as a Dragonball guest does\n"
	      "  --info-version N the GET_INFO version, default 0x0102\n"
	      "  --cpu-mode MODE  the GET_INFO CPU mode: unknown, none, hotadd (the\n"
	      "                   default), parked, or a number\n"
	      "  --arch ARCH      the GET_INFO architecture: unknown, x86_64 (the\n"
	      "                   default), aarch64, or a number\n"
	      "\nBehaviors:", f);
	for (i = 0; i < FG_BEHAVIOR_MAX; i++)
		fprintf(f, " %s", fg_behavior_name(i));
	fputc('\n', f);
}

/* A whole decimal number in [min, max], or -1 with a message. */
static int parse_num(const char *opt, const char *s, long min, long max,
		     long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max) {
		fprintf(stderr, "fake-guest: %s: invalid number \"%s\"\n", opt, s);
		return -1;
	}
	*out = v;
	return 0;
}

struct options {
	const char *socket;
	int hybrid;
	int behavior;
	long result, index, delay_ms;
	int info;
	long info_version, cpu_mode, arch;
};

static const char *const cpu_modes[] = {
	[UPCALL_CPU_MODE_UNKNOWN] = "unknown",
	[UPCALL_CPU_MODE_NONE] = "none",
	[UPCALL_CPU_MODE_HOTADD] = "hotadd",
	[UPCALL_CPU_MODE_PARKED] = "parked",
};

static const char *const arches[] = {
	[UPCALL_GUEST_ARCH_UNKNOWN] = "unknown",
	[UPCALL_GUEST_ARCH_X86_64] = "x86_64",
	[UPCALL_GUEST_ARCH_AARCH64] = "aarch64",
};

/*
 * One of @n @names (its index), or any number: a guest may report a value
 * we do not know.
 */
static int parse_name(const char *opt, const char *const *names, size_t n,
		      const char *s, long *out)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(s, names[i])) {
			*out = (long)i;
			return 0;
		}
	return parse_num(opt, s, 0, INT32_MAX, out);
}

static int parse_args(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "plain", no_argument, NULL, 'p' },
		{ "behavior", required_argument, NULL, 'b' },
		{ "result", required_argument, NULL, 'r' },
		{ "index", required_argument, NULL, 'i' },
		{ "delay-ms", required_argument, NULL, 'd' },
		{ "no-info", no_argument, NULL, 'n' },
		{ "info-version", required_argument, NULL, 'I' },
		{ "cpu-mode", required_argument, NULL, 'c' },
		{ "arch", required_argument, NULL, 'a' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	*o = (struct options){ .hybrid = 1, .behavior = FG_OK, .index = -1,
			       .info = 1, .info_version = UPCALL_INFO_VERSION,
			       .cpu_mode = UPCALL_CPU_MODE_HOTADD,
			       .arch = UPCALL_GUEST_ARCH_X86_64 };
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o->socket = optarg;
			break;
		case 'p':
			o->hybrid = 0;
			break;
		case 'b':
			o->behavior = fg_behavior_from_name(optarg);
			if (o->behavior < 0) {
				fprintf(stderr, "fake-guest: unknown behavior \"%s\"\n",
					optarg);
				return -1;
			}
			break;
		case 'r':
			if (parse_num("--result", optarg, INT32_MIN, INT32_MAX,
				      &o->result) < 0)
				return -1;
			break;
		case 'i':
			if (parse_num("--index", optarg, -1, INT32_MAX,
				      &o->index) < 0)
				return -1;
			break;
		case 'd':
			if (parse_num("--delay-ms", optarg, 0, 3600 * 1000,
				      &o->delay_ms) < 0)
				return -1;
			break;
		case 'n':
			o->info = 0;
			break;
		case 'I':
			if (parse_num("--info-version", optarg, 0, 0xffff,
				      &o->info_version) < 0)
				return -1;
			break;
		case 'c':
			if (parse_name("--cpu-mode", cpu_modes,
				       sizeof(cpu_modes) / sizeof(cpu_modes[0]),
				       optarg, &o->cpu_mode) < 0)
				return -1;
			break;
		case 'a':
			if (parse_name("--arch", arches,
				       sizeof(arches) / sizeof(arches[0]),
				       optarg, &o->arch) < 0)
				return -1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "fake-guest: unexpected argument \"%s\"\n",
			argv[optind]);
		return -1;
	}
	if (!o->socket) {
		fputs("fake-guest: --socket is required\n", stderr);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct upcall_info_reply info;
	struct fake_guest *fg;
	struct options o;
	sigset_t set;
	int sig;

	if (parse_args(argc, argv, &o) < 0) {
		fputs("Try 'fake-guest --help'.\n", stderr);
		return 2;
	}
	/* Block the signals before any thread exists, so all inherit it. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	fg = fg_new(o.socket, o.hybrid);
	if (!fg) {
		fprintf(stderr, "fake-guest: %s: %s\n", o.socket, strerror(errno));
		return 1;
	}
	fg_set_behavior(fg, (enum fg_behavior)o.behavior);
	fg_set_result(fg, (int32_t)o.result, (int32_t)o.index);
	fg_set_delay_ms(fg, (unsigned int)o.delay_ms);
	fg_get_info(fg, &info);
	info.version = htole32((uint32_t)o.info_version);
	info.cpu_mode = htole32((uint32_t)o.cpu_mode);
	info.arch = htole32((uint32_t)o.arch);
	fg_set_info(fg, o.info ? &info : NULL);

	printf("ready\n");
	fflush(stdout);
	while (sigwait(&set, &sig) != 0)
		;
	fprintf(stderr, "fake-guest: %u connections, %u requests, %u violations\n",
		fg_connections(fg), fg_requests(fg), fg_violations(fg));
	fg_free(fg);
	return 0;
}
