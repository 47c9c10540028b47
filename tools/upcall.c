// SPDX-License-Identifier: MIT
/*
 * upcall: hot-plug vCPUs, memory and devices into a running guest from the
 * command line, through libupcall's public API only.
 *
 * Everything on the command line is checked before the guest is contacted,
 * so a typo never reaches it.  One deadline (--timeout) bounds the whole
 * run: the session reconnects while the guest's server is not listening
 * yet, and the request's timeout, counted from its submission, ends it.
 *
 * "batch" runs a file of such commands over one session, one after the
 * other, every line checked before the first is sent; --json turns each
 * request's report into one JSON object on stdout (schema: upcall(1)).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include <upcall/upcall.h>
#include <upcall/wire.h>

#include "parse.h"

#define UNUSED __attribute__((unused))

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "unknown"
#endif

enum {
	EXIT_REFUSED = 1,	/* the guest answered with an error */
	EXIT_USAGE = 2,		/* the command line is wrong */
	EXIT_TRANSPORT = 3,	/* no answer: transport, protocol, timeout */
};

#define DEFAULT_TIMEOUT_MS	10000u
/*
 * A vCPU's bring-up is the kernel's own, and under emulation it was seen
 * to take 16-28 s for a vCPU that then came online (the kernel alone
 * waits up to 10 s for a new CPU's first sign of life): a CPU command that
 * gives up sooner reports a failure the guest did not have.
 */
#define DEFAULT_CPU_TIMEOUT_MS	60000u
#define MAX_TIMEOUT_MS		UINT32_MAX	/* 49 days */
/* Per connection attempt; the overall deadline still applies. */
#define ATTEMPT_TIMEOUT_USEC	(5 * 1000000ull)
/* A CLI wants to notice a guest that comes up soon after it starts. */
#define BACKOFF_MIN_USEC	(50 * 1000ull)
#define BACKOFF_MAX_USEC	(500 * 1000ull)

enum transport { T_NONE, T_SOCKET, T_VSOCK, T_FD };

struct options {
	enum transport transport;
	const char *path;
	uint32_t cid;
	int fd;
	uint32_t port;
	bool port_set;
	uint32_t vsock_port;
	bool vsock_port_set;
	upcall_arch arch;
	uint64_t timeout_ms;
	uint8_t apic_ver;
	bool apic_set;
	bool privileged_port;
	bool verbose;
	bool json;
};

struct command;

/* A command and its checked arguments. */
struct call {
	const struct command *cmd;
	upcall_arch arch;
	uint8_t ids[UPCALL_CPU_MAX_COUNT];
	size_t n;			/* APIC ids (x86_64) or vCPU count */
	uint64_t addr;			/* BASE or ADDR */
	uint64_t size;
	uint32_t irq;
	uint32_t node;
	uint32_t flags;
	uint8_t bus;
	uint8_t devfn;
	const char *file;		/* batch: FILE, "-" for stdin */
	bool keep_going;		/* batch: run every line */
	unsigned int line;		/* of a batch file; 0 on the command line */
};

/* What became of one request. */
struct outcome {
	int err;			/* transport: 0 or -errno */
	int result;			/* the guest's: 0 or -errno */
	uint32_t index;			/* CPU replies; UINT32_MAX: none */
	bool have_info;
	upcall_info info;
	uint64_t usec;			/* from submission to the answer */
};

struct command {
	const char *name;
	const struct option *options;	/* its own, for getopt_long() */
	int (*parse)(struct call *c, int argc, char **argv);
	int (*submit)(upcall_session *s, const struct call *c,
		      uint64_t timeout_usec, struct outcome *out);
	bool cpu;
};

/* What the session went through, from its state callback. */
struct session_watch {
	bool ready;		/* it reached READY at least once */
	int last_error;		/* why the last attempt failed */
	int fatal;		/* a failure retrying cannot cure */
};

static const char usage_text[] =
"Usage: upcall (--socket PATH | --vsock CID[:PORT] | --fd N) [--arch ARCH]\n"
"              [--timeout MS] [--port PORT] [--apic-version V]\n"
"              [--privileged-port] [--json] [-v]\n"
"              COMMAND ARGS...\n"
"       upcall --help | --version\n"
"\n"
"Transport (exactly one):\n"
"  --socket PATH        the VMM's hybrid vsock Unix socket (CONNECT <port>)\n"
"  --vsock CID[:PORT]   AF_VSOCK: the guest's context id (and port)\n"
"  --fd N               an inherited, connected stream socket (taken over)\n"
"\n"
"Options:\n"
"  --arch ARCH          the guest's wire format: x86_64 or aarch64\n"
"                       (default: the host's)\n"
"  --timeout MS         limit for the whole command, connecting included\n"
"                       (default 10000; 60000 for cpu-add and cpu-del)\n"
"  --port PORT          the guest server's port (default 219)\n"
"  --apic-version V     APIC version of new x86_64 vCPUs (default 0x14)\n"
"  --privileged-port    with --vsock: connect from a port below 1024, for a\n"
"                       guest that only accepts those (needs\n"
"                       CAP_NET_BIND_SERVICE)\n"
"  --json               report each request as one JSON object on stdout\n"
"  -v, --verbose        print the library's debug messages on stderr\n"
"  -h, --help           print this help and exit\n"
"  -V, --version        print the version and exit\n"
"\n"
"Commands:\n"
"  cpu-add APIC_ID...   hot-add vCPUs (aarch64: cpu-add COUNT)\n"
"  cpu-del APIC_ID...   hot-remove vCPUs (aarch64: cpu-del COUNT)\n"
"  mmio-add BASE SIZE IRQ\n"
"                       add a virtio-mmio device\n"
"  mmio-del BASE SIZE IRQ\n"
"                       remove a virtio-mmio device\n"
"  mem-add ADDR SIZE [--node N] [--movable]\n"
"                       add guest memory\n"
"  mem-del ADDR SIZE    remove guest memory\n"
"  pci-add BUS DEVFN    add a PCI device (DEVFN may be SLOT.FN, e.g. 1f.7)\n"
"  pci-del BUS DEVFN    remove a PCI device\n"
"  info                 what the guest serves, its vCPU counts and mode,\n"
"                       architecture, memory block size and policy (an\n"
"                       upcall extension)\n"
"  batch [--keep-going] FILE|-\n"
"                       run FILE's commands (one a line, # comments) over\n"
"                       one session; stop at the first failure unless\n"
"                       --keep-going\n"
"\n"
"Numbers are decimal or 0x hex; ADDR, BASE and SIZE take a K, M, G or T\n"
"suffix (powers of 1024).\n"
"\n"
"Exit status: 0 done, 1 the guest refused, 2 usage error,\n"
"3 transport, protocol or timeout error.\n";

static void usage(FILE *f)
{
	fputs(usage_text, f);
}

/* "FILE:LINE: " while a batch file's line is parsed. */
static char where[PATH_MAX + 32];

/* Say why the command line is wrong; the caller prints the usage. */
__attribute__((format(printf, 1, 2)))
static int bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "upcall: %s", where);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return -1;
}

/* ------------------------------------------------------------------ */
/* Numbers                                                             */
/* ------------------------------------------------------------------ */

/* Parse a named number, explaining any failure. */
static int get_num(const char *what, const char *s, uint64_t min,
		   uint64_t max, bool suffix, uint64_t *ret)
{
	int r = parse_u64(s, max, suffix, ret);

	if (r == -EINVAL)
		return bad("%s '%s' is not a number", what, s);
	if (r < 0 && max == UINT64_MAX)
		return bad("%s '%s' does not fit in 64 bits", what, s);
	if (r < 0 || *ret < min)
		return bad("%s '%s' is out of range (%" PRIu64 "..%" PRIu64 ")",
			   what, s, min, max);
	return 0;
}

static int get_u32(const char *what, const char *s, uint64_t min,
		   uint64_t max, uint32_t *ret)
{
	uint64_t v;

	if (get_num(what, s, min, max, false, &v) < 0)
		return -1;
	*ret = (uint32_t)v;
	return 0;
}

static int get_u8(const char *what, const char *s, uint8_t *ret)
{
	uint64_t v;

	if (get_num(what, s, 0, UINT8_MAX, false, &v) < 0)
		return -1;
	*ret = (uint8_t)v;
	return 0;
}

/* DEVFN: a number 0..255, or SLOT.FN with a hex slot 0..1f and FN 0..7. */
static int get_devfn(const char *s, uint8_t *ret)
{
	int r = parse_devfn(s, ret);

	if (r == 0)
		return 0;
	if (!strchr(s, '.'))
		return get_u8("DEVFN", s, ret);
	if (r == -ERANGE)
		return bad("DEVFN '%s' is out of range (slot 0..1f, function 0..7)",
			   s);
	return bad("DEVFN '%s' is not a number or SLOT.FN", s);
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

static int check_argc(const struct call *c, int argc, int want,
		      const char *args)
{
	if (argc < want)
		return bad("%s: missing arguments (%s %s)", c->cmd->name,
			   c->cmd->name, args);
	if (argc > want)
		return bad("%s: too many arguments (%s %s)", c->cmd->name,
			   c->cmd->name, args);
	return 0;
}

static int parse_cpu(struct call *c, int argc, char **argv)
{
	bool seen[256] = { false };
	uint64_t v;
	int i;

	if (c->arch == UPCALL_ARCH_AARCH64) {
		if (check_argc(c, argc, 1, "COUNT") < 0 ||
		    get_num("COUNT", argv[0], 1, UPCALL_CPU_MAX_COUNT, false,
			    &v) < 0)
			return -1;
		c->n = (size_t)v;
		return 0;
	}
	if (argc == 0)
		return bad("%s: missing arguments (%s APIC_ID...)",
			   c->cmd->name, c->cmd->name);
	if (argc > (int)UPCALL_CPU_MAX_COUNT)
		return bad("%s: too many APIC ids (at most %u)", c->cmd->name,
			   UPCALL_CPU_MAX_COUNT);
	for (i = 0; i < argc; i++) {
		if (get_num("APIC id", argv[i], 0, UINT8_MAX, false, &v) < 0)
			return -1;
		if (seen[v])
			return bad("%s: APIC id %" PRIu64 " given twice",
				   c->cmd->name, v);
		seen[v] = true;
		c->ids[i] = (uint8_t)v;
	}
	c->n = (size_t)argc;
	return 0;
}

/* ADDR/BASE and SIZE: size > 0 and the range must not wrap. */
static int parse_range(struct call *c, const char *addr_name, char **argv)
{
	if (get_num(addr_name, argv[0], 0, UINT64_MAX, true, &c->addr) < 0 ||
	    get_num("SIZE", argv[1], 1, UINT64_MAX, true, &c->size) < 0)
		return -1;
	if (c->addr > UINT64_MAX - (c->size - 1))
		return bad("%s: %s + SIZE is beyond the 64-bit address space",
			   c->cmd->name, addr_name);
	return 0;
}

static int parse_mmio(struct call *c, int argc, char **argv)
{
	if (check_argc(c, argc, 3, "BASE SIZE IRQ") < 0 ||
	    parse_range(c, "BASE", argv) < 0)
		return -1;
	return get_u32("IRQ", argv[2], 0, UINT32_MAX, &c->irq);
}

static int parse_mem_del(struct call *c, int argc, char **argv)
{
	if (check_argc(c, argc, 2, "ADDR SIZE") < 0)
		return -1;
	return parse_range(c, "ADDR", argv);
}

static int parse_mem_add(struct call *c, int argc, char **argv)
{
	if (check_argc(c, argc, 2, "ADDR SIZE [--node N] [--movable]") < 0)
		return -1;
	return parse_range(c, "ADDR", argv);
}

static int parse_pci(struct call *c, int argc, char **argv)
{
	if (check_argc(c, argc, 2, "BUS DEVFN") < 0 ||
	    get_u8("BUS", argv[0], &c->bus) < 0)
		return -1;
	return get_devfn(argv[1], &c->devfn);
}

static int parse_info(struct call *c, int argc, UNUSED char **argv)
{
	return check_argc(c, argc, 0, "");
}

static int parse_batch(struct call *c, int argc, char **argv)
{
	if (check_argc(c, argc, 1, "[--keep-going] FILE|-") < 0)
		return -1;
	if (!*argv[0])
		return bad("batch: empty FILE name (use - for standard input)");
	c->file = argv[0];
	return 0;
}

static const uint8_t *cpu_ids(const struct call *c)
{
	return c->arch == UPCALL_ARCH_AARCH64 ? NULL : c->ids;
}

static int submit_cpu_add(upcall_session *s, const struct call *c,
			  uint64_t t, struct outcome *out)
{
	return upcall_devmgr_cpu_add_sync(s, cpu_ids(c), c->n, t,
					  &out->result, &out->index);
}

static int submit_cpu_del(upcall_session *s, const struct call *c,
			  uint64_t t, struct outcome *out)
{
	return upcall_devmgr_cpu_del_sync(s, cpu_ids(c), c->n, t,
					  &out->result, &out->index);
}

static int submit_mmio_add(upcall_session *s, const struct call *c,
			   uint64_t t, struct outcome *out)
{
	return upcall_devmgr_mmio_add_sync(s, c->addr, c->size, c->irq, t,
					   &out->result);
}

static int submit_mmio_del(upcall_session *s, const struct call *c,
			   uint64_t t, struct outcome *out)
{
	return upcall_devmgr_mmio_del_sync(s, c->addr, c->size, c->irq, t,
					   &out->result);
}

static int submit_mem_add(upcall_session *s, const struct call *c,
			  uint64_t t, struct outcome *out)
{
	return upcall_devmgr_mem_add_sync(s, c->addr, c->size, c->node,
					  c->flags, t, &out->result);
}

static int submit_mem_del(upcall_session *s, const struct call *c,
			  uint64_t t, struct outcome *out)
{
	return upcall_devmgr_mem_del_sync(s, c->addr, c->size, t,
					  &out->result);
}

static int submit_pci_add(upcall_session *s, const struct call *c,
			  uint64_t t, struct outcome *out)
{
	return upcall_devmgr_pci_add_sync(s, c->bus, c->devfn, t,
					  &out->result);
}

static int submit_pci_del(upcall_session *s, const struct call *c,
			  uint64_t t, struct outcome *out)
{
	return upcall_devmgr_pci_del_sync(s, c->bus, c->devfn, t,
					  &out->result);
}

/* A guest without GET_INFO (-EOPNOTSUPP) is no error: it says what it is. */
static int submit_info(upcall_session *s, UNUSED const struct call *c,
		       uint64_t t, struct outcome *out)
{
	int r;

	r = upcall_devmgr_get_info_sync(s, t, &out->result, &out->info);
	out->have_info = r == 0 && out->result == 0;
	return r;
}

static const char *const op_names[] = {
	[UPCALL_MSG_ADD_CPU] = "cpu-add",   [UPCALL_MSG_DEL_CPU] = "cpu-del",
	[UPCALL_MSG_ADD_MEM] = "mem-add",   [UPCALL_MSG_DEL_MEM] = "mem-del",
	[UPCALL_MSG_ADD_MMIO] = "mmio-add", [UPCALL_MSG_DEL_MMIO] = "mmio-del",
	[UPCALL_MSG_ADD_PCI] = "pci-add",   [UPCALL_MSG_DEL_PCI] = "pci-del",
};

static const char *mem_policy_name(uint32_t p)
{
	switch (p) {
	case UPCALL_MEM_POLICY_OFFLINE:
		return "offline";
	case UPCALL_MEM_POLICY_ONLINE:
		return "online";
	case UPCALL_MEM_POLICY_ONLINE_KERNEL:
		return "online_kernel";
	case UPCALL_MEM_POLICY_ONLINE_MOVABLE:
		return "online_movable";
	default:
		return "unknown";
	}
}

static const char *cpu_mode_name(uint32_t m)
{
	switch (m) {
	case UPCALL_CPU_MODE_NONE:
		return "none";
	case UPCALL_CPU_MODE_HOTADD:
		return "hotadd";
	case UPCALL_CPU_MODE_PARKED:
		return "parked";
	default:	/* UNKNOWN: a guest before info version 1.1 */
		return "unknown";
	}
}

/* An upcall_arch, or a guest's enum upcall_guest_arch (the same numbers). */
static const char *arch_name(uint32_t a)
{
	switch (a) {
	case UPCALL_GUEST_ARCH_X86_64:
		return "x86_64";
	case UPCALL_GUEST_ARCH_AARCH64:
		return "aarch64";
	default:	/* UNKNOWN: a guest before info version 1.2 */
		return "unknown";
	}
}

static void print_info(const char *pfx, const upcall_info *info)
{
	unsigned int t;

	printf("%sversion: %u.%u\n", pfx, info->version >> 8,
	       info->version & 0xff);
	printf("%soperations:", pfx);
	for (t = UPCALL_MSG_ADD_CPU; t <= UPCALL_MSG_DEL_PCI; t++)
		if (info->ops & (1u << t))
			printf(" %s", op_names[t]);
	printf("\n%scpus: possible %" PRIu32 ", present %" PRIu32
	       ", online %" PRIu32 "\n", pfx, info->cpus_possible,
	       info->cpus_present, info->cpus_online);
	printf("%scpu mode: %s\n", pfx, cpu_mode_name(info->cpu_mode));
	printf("%sarch: %s\n", pfx, arch_name(info->arch));
	printf("%smemory block size: 0x%" PRIx64 "\n", pfx,
	       info->mem_block_size);
	printf("%smemory online policy: %s\n", pfx,
	       mem_policy_name(info->mem_policy));
}

/*
 * CPU requests in the wrong format fail or act on the wrong vCPUs: say
 * which --arch this guest wants.  Only a warning, as the answer is right.
 */
static void warn_arch(const struct call *c, const upcall_info *info)
{
	if (info->arch != UPCALL_GUEST_ARCH_X86_64 &&
	    info->arch != UPCALL_GUEST_ARCH_AARCH64)
		return;
	if (info->arch == (uint32_t)c->arch)
		return;
	fprintf(stderr,
		"upcall: %sinfo: warning: the guest is %s but --arch is %s: use --arch %s\n",
		where, arch_name(info->arch), arch_name((uint32_t)c->arch),
		arch_name(info->arch));
}

enum {
	OPT_NODE = 0x200,
	OPT_MOVABLE,
	OPT_KEEP_GOING,
};

static const struct option no_options[] = {
	{ NULL, 0, NULL, 0 },
};

static const struct option mem_add_options[] = {
	{ "node", required_argument, NULL, OPT_NODE },
	{ "movable", no_argument, NULL, OPT_MOVABLE },
	{ NULL, 0, NULL, 0 },
};

static const struct option batch_options[] = {
	{ "keep-going", no_argument, NULL, OPT_KEEP_GOING },
	{ NULL, 0, NULL, 0 },
};

static int parse_command_option(struct call *c, int opt, const char *arg)
{
	switch (opt) {
	case OPT_NODE:
		return get_u32("NODE", arg, 0, UINT32_MAX, &c->node);
	case OPT_MOVABLE:
		c->flags |= UPCALL_MEM_F_MOVABLE;
		return 0;
	case OPT_KEEP_GOING:
		c->keep_going = true;
		return 0;
	default:
		return bad("internal error: option %d", opt);
	}
}

static const struct command commands[] = {
	{ "cpu-add", no_options, parse_cpu, submit_cpu_add, true },
	{ "cpu-del", no_options, parse_cpu, submit_cpu_del, true },
	{ "mmio-add", no_options, parse_mmio, submit_mmio_add, false },
	{ "mmio-del", no_options, parse_mmio, submit_mmio_del, false },
	{ "mem-add", mem_add_options, parse_mem_add, submit_mem_add, false },
	{ "mem-del", no_options, parse_mem_del, submit_mem_del, false },
	{ "pci-add", no_options, parse_pci, submit_pci_add, false },
	{ "pci-del", no_options, parse_pci, submit_pci_del, false },
	{ "info", no_options, parse_info, submit_info, false },
	{ "batch", batch_options, parse_batch, NULL, false },
};

static const struct command *find_command(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i].name, name))
			return &commands[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

enum {
	OPT_SOCKET = 0x100,
	OPT_VSOCK,
	OPT_FD,
	OPT_ARCH,
	OPT_TIMEOUT,
	OPT_PORT,
	OPT_APIC_VERSION,
	OPT_PRIVILEGED_PORT,
	OPT_JSON,
};

static const struct option long_options[] = {
	{ "socket", required_argument, NULL, OPT_SOCKET },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "fd", required_argument, NULL, OPT_FD },
	{ "arch", required_argument, NULL, OPT_ARCH },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "apic-version", required_argument, NULL, OPT_APIC_VERSION },
	{ "privileged-port", no_argument, NULL, OPT_PRIVILEGED_PORT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static const char *transport_name(enum transport t)
{
	switch (t) {
	case T_SOCKET:
		return "--socket";
	case T_VSOCK:
		return "--vsock";
	case T_FD:
		return "--fd";
	default:
		return "";
	}
}

static int set_transport(struct options *o, enum transport t)
{
	if (o->transport == t)
		return bad("%s given twice", transport_name(t));
	if (o->transport != T_NONE)
		return bad("%s and %s are exclusive",
			   transport_name(o->transport), transport_name(t));
	o->transport = t;
	return 0;
}

/* Ports 0 and VMADDR_PORT_ANY name no listener. */
static int get_port(const char *s, uint32_t *ret)
{
	return get_u32("PORT", s, 1, UINT32_MAX - 1, ret);
}

/* CID[:PORT]; VMADDR_CID_ANY is no guest. */
static int parse_vsock(struct options *o, const char *arg)
{
	const char *colon = strchr(arg, ':');
	char cid[32];
	size_t len = colon ? (size_t)(colon - arg) : strlen(arg);

	if (len >= sizeof(cid))
		return bad("CID '%.*s' is not a number", (int)len, arg);
	memcpy(cid, arg, len);
	cid[len] = '\0';
	if (get_u32("CID", cid, 0, UINT32_MAX - 1, &o->cid) < 0)
		return -1;
	if (!colon)
		return 0;
	o->vsock_port_set = true;
	return get_port(colon + 1, &o->vsock_port);
}

static int parse_arch(struct options *o, const char *arg)
{
	if (!strcmp(arg, "x86_64"))
		o->arch = UPCALL_ARCH_X86_64;
	else if (!strcmp(arg, "aarch64") || !strcmp(arg, "arm64"))
		o->arch = UPCALL_ARCH_AARCH64;
	else
		return bad("unknown architecture '%s' (x86_64 or aarch64)", arg);
	return 0;
}

static int parse_fd(struct options *o, const char *arg)
{
	uint32_t fd;

	if (get_u32("fd", arg, 0, INT_MAX, &fd) < 0)
		return -1;
	o->fd = (int)fd;
	return 0;
}

static int parse_one_option(struct options *o, int opt, const char *arg)
{
	uint32_t v;

	switch (opt) {
	case OPT_SOCKET:
		if (set_transport(o, T_SOCKET) < 0)
			return -1;
		if (!*arg)
			return bad("--socket needs a path");
		o->path = arg;
		return 0;
	case OPT_VSOCK:
		if (set_transport(o, T_VSOCK) < 0)
			return -1;
		return parse_vsock(o, arg);
	case OPT_FD:
		if (set_transport(o, T_FD) < 0)
			return -1;
		return parse_fd(o, arg);
	case OPT_ARCH:
		return parse_arch(o, arg);
	case OPT_TIMEOUT:
		return get_num("timeout", arg, 1, MAX_TIMEOUT_MS, false,
			       &o->timeout_ms);
	case OPT_PORT:
		o->port_set = true;
		return get_port(arg, &o->port);
	case OPT_APIC_VERSION:
		if (get_u32("APIC version", arg, 0, UINT8_MAX, &v) < 0)
			return -1;
		o->apic_ver = (uint8_t)v;
		o->apic_set = true;
		return 0;
	case OPT_PRIVILEGED_PORT:
		o->privileged_port = true;
		return 0;
	case OPT_JSON:
		o->json = true;
		return 0;
	case 'v':
		o->verbose = true;
		return 0;
	default:
		return bad("internal error: option %d", opt);
	}
}

/*
 * @elem is the argv element getopt_long() stumbled on; @cmd the command
 * whose options it was, NULL for upcall's own.
 */
static int getopt_failure(const char *cmd, int opt, const char *elem)
{
	bool is_long = !strncmp(elem, "--", 2);
	size_t len = strcspn(elem, "=");
	char pfx[64] = "";

	if (cmd)
		snprintf(pfx, sizeof(pfx), "%s: ", cmd);
	if (opt == ':' && is_long)
		return bad("%soption '%.*s' requires an argument", pfx,
			   (int)len, elem);
	if (opt == ':')
		return bad("%soption '-%c' requires an argument", pfx, optopt);
	if (is_long && optopt)
		return bad("%soption '%.*s' takes no argument", pfx, (int)len,
			   elem);
	if (is_long)
		return bad("%sunknown or ambiguous option '%s'", pfx, elem);
	return bad("%sunknown option '-%c'", pfx, optopt);
}

/* One of upcall's own options, spelled out or as its short letter. */
static bool is_upcall_option(const char *elem)
{
	const struct option *lo;
	size_t len;

	if (elem[0] != '-')
		return false;
	if (elem[1] != '-')
		return elem[1] && strchr("hvV", elem[1]) && !elem[2];
	len = strcspn(elem + 2, "=");
	for (lo = long_options; lo->name; lo++)
		if (strlen(lo->name) == len && !strncmp(lo->name, elem + 2, len))
			return true;
	return false;
}

/*
 * A command's arguments, @argv[0] its name: its own options (getopt_long,
 * anywhere after the name, "--" ends them), then its positional
 * arguments, in order, to the command's parser.
 */
static int parse_command(struct call *c, int argc, char **argv)
{
	char **pos;
	int opt, elem, n = 0;
	int r = -1;

	pos = calloc((size_t)argc, sizeof(*pos));
	if (!pos)
		return bad("out of memory");
	/* 0 starts getopt_long() afresh: each batch line is a new argv. */
	optind = 0;
	opterr = 0;
	/* "-": positional arguments come back as 1, in their order. */
	for (elem = 1;
	     (opt = getopt_long(argc, argv, "-:", c->cmd->options, NULL)) != -1;
	     elem = optind) {
		if (opt == 1) {
			pos[n++] = optarg;
			continue;
		}
		if (opt == '?' && is_upcall_option(argv[elem])) {
			bad("%s: option '%s' must come before the command",
			    c->cmd->name, argv[elem]);
			goto out;
		}
		if (opt == '?' || opt == ':') {
			getopt_failure(c->cmd->name, opt, argv[elem]);
			goto out;
		}
		if (parse_command_option(c, opt, optarg) < 0)
			goto out;
	}
	while (optind < argc)
		pos[n++] = argv[optind++];
	r = c->cmd->parse(c, n, pos);
out:
	free(pos);
	return r;
}

/* The port has two spellings; they must agree. */
static int resolve_port(struct options *o)
{
	if (!o->vsock_port_set)
		return 0;
	if (o->port_set && o->port != o->vsock_port)
		return bad("--port %" PRIu32 " contradicts --vsock CID:%" PRIu32,
			   o->port, o->vsock_port);
	o->port = o->vsock_port;
	o->port_set = true;
	return 0;
}

enum parse_outcome { PARSE_RUN, PARSE_HELP, PARSE_VERSION, PARSE_USAGE };

static enum parse_outcome parse_options(int argc, char **argv,
					struct options *o, struct call *c)
{
	const struct command *cmd;
	int opt, elem;

	/* execve() allows an empty argv; getopt_long() need not. */
	if (argc < 1) {
		bad("no command given");
		return PARSE_USAGE;
	}
	opterr = 0;
	/* optind names the element getopt_long() is about to work on. */
	for (elem = optind;
	     (opt = getopt_long(argc, argv, "+:hvV", long_options, NULL)) != -1;
	     elem = optind) {
		if (opt == 'h')
			return PARSE_HELP;
		if (opt == 'V')
			return PARSE_VERSION;
		if (opt == '?' || opt == ':') {
			getopt_failure(NULL, opt, argv[elem]);
			return PARSE_USAGE;
		}
		if (parse_one_option(o, opt, optarg) < 0)
			return PARSE_USAGE;
	}
	if (optind >= argc) {
		bad("no command given");
		return PARSE_USAGE;
	}
	cmd = find_command(argv[optind]);
	if (!cmd) {
		bad("unknown command '%s'", argv[optind]);
		return PARSE_USAGE;
	}
	if (o->transport == T_NONE) {
		bad("no transport given (--socket, --vsock or --fd)");
		return PARSE_USAGE;
	}
	if (resolve_port(o) < 0)
		return PARSE_USAGE;
	if (o->privileged_port && o->transport != T_VSOCK) {
		bad("--privileged-port goes with --vsock (a hybrid-vsock VMM picks the port)");
		return PARSE_USAGE;
	}
	c->cmd = cmd;
	c->arch = o->arch;
	if (parse_command(c, argc - optind, argv + optind) < 0)
		return PARSE_USAGE;
	return PARSE_RUN;
}

/* ------------------------------------------------------------------ */
/* Running                                                             */
/* ------------------------------------------------------------------ */

static uint64_t mono_usec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Time to @deadline, at least 1 us (0 means "default" to libupcall). */
static uint64_t remaining(uint64_t deadline)
{
	uint64_t now = mono_usec();

	return now + 1 >= deadline ? 1 : deadline - now;
}

__attribute__((format(printf, 6, 0)))
static void log_stderr(UNUSED upcall_ctx *ctx, UNUSED int priority,
		       UNUSED const char *file, UNUSED int line,
		       const char *fn, const char *format, va_list args,
		       UNUSED void *userdata)
{
	fprintf(stderr, "upcall: libupcall: %s: ", fn);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

/*
 * Worth retrying until the deadline: the VMM's socket or the guest's server
 * may simply not be there yet.  A guest that answers but breaks the
 * protocol, or a host that cannot do the transport at all, will not change.
 */
static bool connect_error_is_fatal(int err)
{
	switch (-err) {
	case EPROTO:
	case EACCES:
	case EPERM:
	case EAFNOSUPPORT:
	case EPROTONOSUPPORT:
	case ESOCKTNOSUPPORT:
	case ENOTSOCK:
	case EINVAL:
		return true;
	default:
		return false;
	}
}

static void on_state(upcall_session *s, upcall_session_state state,
		     int error, void *userdata)
{
	struct session_watch *w = userdata;

	if (state == UPCALL_SESSION_READY) {
		w->ready = true;
		w->last_error = 0;
		return;
	}
	if (!error || (state != UPCALL_SESSION_RECONNECTING &&
		       state != UPCALL_SESSION_CLOSED))
		return;
	w->last_error = error;
	if (w->fatal || !connect_error_is_fatal(error))
		return;
	/* Fails the pending request with -ESHUTDOWN; w->fatal says why. */
	w->fatal = error;
	upcall_session_close(s);
}

static void print_error(const char *cmd, const char *what, int err)
{
	const char *name = upcall_errno_name(err);

	if (name)
		fprintf(stderr, "upcall: %s%s: %s%s: %s", where, cmd, what,
			name, upcall_strerror(err));
	else
		fprintf(stderr, "upcall: %s%s: %s%d: %s", where, cmd, what,
			err, upcall_strerror(err));
}

static void report_transport(const struct call *c,
			     const struct session_watch *w, int err)
{
	const char *name;

	print_error(c->cmd->name, "", err);
	if (err == -ETIMEDOUT && !w->ready) {
		fputs(" (never connected", stderr);
		if (w->last_error) {
			name = upcall_errno_name(w->last_error);
			fprintf(stderr, "; last error: %s: %s",
				name ? name : "?",
				upcall_strerror(w->last_error));
		}
		fputc(')', stderr);
	}
	fputc('\n', stderr);
}

static void report_refusal(const struct call *c, const struct outcome *out,
			   bool have_index)
{
	print_error(c->cmd->name, "guest refused: ", out->result);
	if (have_index && c->arch == UPCALL_ARCH_X86_64 && out->index < c->n)
		fprintf(stderr, " (at index %" PRIu32 ", APIC id %u)",
			out->index, c->ids[out->index]);
	else if (have_index)
		fprintf(stderr, " (at index %" PRIu32 ")", out->index);
	else if (out->result == -1 && (c->cmd->submit == submit_mem_add ||
				       c->cmd->submit == submit_mem_del))
		fputs(" (the guest may not support memory hot-plug)", stderr);
	fputc('\n', stderr);
}

/* Standard output's "FILE:LINE: " in a batch: where minus "upcall: ". */
static void report_success(const struct call *c, const struct outcome *out,
			   bool have_index)
{
	if (out->have_info)
		print_info(where, &out->info);
	else if (c->cmd->submit == submit_info)
		printf("%sinfo: not supported by this guest (no GET_INFO; a Dragonball guest?)\n",
		       where);
	else if (have_index)
		printf("%s%s: done (index %" PRIu32 ")\n", where, c->cmd->name,
		       out->index);
	else
		printf("%s%s: done\n", where, c->cmd->name);
}

/* ------------------------------------------------------------------ */
/* JSON: one object a request, on one line (schema in upcall(1))       */
/* ------------------------------------------------------------------ */

static void json_str(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

/* "EINVAL", or the number itself where the library has no name for it. */
static void json_errno(const char *key, int err)
{
	const char *name = err ? upcall_errno_name(err) : "OK";
	char num[16];

	if (!name) {
		snprintf(num, sizeof(num), "%d", err);
		name = num;
	}
	printf(",\"%s\":", key);
	json_str(name);
}

static void json_args(const struct call *c)
{
	size_t i;

	fputs(",\"args\":{", stdout);
	if (c->cmd->cpu && c->arch == UPCALL_ARCH_AARCH64) {
		printf("\"count\":%zu", c->n);
	} else if (c->cmd->cpu) {
		fputs("\"apic_ids\":[", stdout);
		for (i = 0; i < c->n; i++)
			printf("%s%u", i ? "," : "", c->ids[i]);
		putchar(']');
	} else if (c->cmd->submit == submit_mmio_add ||
		   c->cmd->submit == submit_mmio_del) {
		printf("\"base\":%" PRIu64 ",\"size\":%" PRIu64
		       ",\"irq\":%" PRIu32, c->addr, c->size, c->irq);
	} else if (c->cmd->submit == submit_mem_add) {
		printf("\"addr\":%" PRIu64 ",\"size\":%" PRIu64
		       ",\"node\":%" PRIu32 ",\"movable\":%s", c->addr,
		       c->size, c->node,
		       c->flags & UPCALL_MEM_F_MOVABLE ? "true" : "false");
	} else if (c->cmd->submit == submit_mem_del) {
		printf("\"addr\":%" PRIu64 ",\"size\":%" PRIu64, c->addr,
		       c->size);
	} else if (c->cmd->submit == submit_pci_add ||
		   c->cmd->submit == submit_pci_del) {
		printf("\"bus\":%u,\"devfn\":%u", c->bus, c->devfn);
	}
	putchar('}');
}

static void json_info(const upcall_info *info)
{
	bool first = true;
	unsigned int t;

	printf(",\"info\":{\"supported\":true,\"version\":\"%u.%u\",\"ops\":[",
	       info->version >> 8, info->version & 0xff);
	for (t = UPCALL_MSG_ADD_CPU; t <= UPCALL_MSG_DEL_PCI; t++) {
		if (!(info->ops & (1u << t)))
			continue;
		printf("%s\"%s\"", first ? "" : ",", op_names[t]);
		first = false;
	}
	printf("],\"cpus_possible\":%" PRIu32 ",\"cpus_present\":%" PRIu32
	       ",\"cpus_online\":%" PRIu32 ",\"cpu_mode\":\"%s\""
	       ",\"arch\":\"%s\",\"mem_block_size\":%" PRIu64
	       ",\"mem_policy\":\"%s\"}", info->cpus_possible,
	       info->cpus_present, info->cpus_online,
	       cpu_mode_name(info->cpu_mode), arch_name(info->arch),
	       info->mem_block_size, mem_policy_name(info->mem_policy));
}

static const char *const status_names[] = {
	[EXIT_SUCCESS] = "done",
	[EXIT_REFUSED] = "refused",
	[EXIT_TRANSPORT] = "failed",
};

static void json_report(const struct call *c, const struct outcome *out,
			int status, bool have_index)
{
	int err = out->err ? out->err : out->result;

	putchar('{');
	if (c->line)
		printf("\"line\":%u,", c->line);
	fputs("\"op\":", stdout);
	json_str(c->cmd->name);
	json_args(c);
	printf(",\"status\":\"%s\"", status_names[status]);
	json_errno("result", err);
	printf(",\"errno\":%d,\"message\":", err);
	json_str(upcall_strerror(err));
	if (c->cmd->cpu && have_index)
		printf(",\"index\":%" PRIu32, out->index);
	else if (c->cmd->cpu)
		fputs(",\"index\":null", stdout);
	if (out->have_info)
		json_info(&out->info);
	else if (c->cmd->submit == submit_info && status == EXIT_SUCCESS)
		fputs(",\"info\":{\"supported\":false}", stdout);
	printf(",\"time_us\":%" PRIu64 "}\n", out->usec);
	fflush(stdout);
}

static int configure_session(upcall_session *s, const struct options *o,
			     uint64_t deadline, struct session_watch *w)
{
	uint64_t left = remaining(deadline);
	uint64_t attempt = left < ATTEMPT_TIMEOUT_USEC ? left :
						   ATTEMPT_TIMEOUT_USEC;
	int r;

	r = upcall_session_set_arch(s, o->arch);
	if (!r && o->port_set)
		r = upcall_session_set_port(s, o->port);
	if (!r && o->apic_set)
		r = upcall_session_set_apic_version(s, o->apic_ver);
	if (!r && o->privileged_port)
		r = upcall_session_set_privileged_port(s, 1);
	if (!r)
		r = upcall_session_set_connect_timeout(s, attempt);
	if (!r)
		r = upcall_session_set_request_timeout(s, left);
	if (!r)
		r = upcall_session_set_reconnect(s, 1, BACKOFF_MIN_USEC,
						 BACKOFF_MAX_USEC);
	if (!r)
		r = upcall_session_set_state_fn(s, on_state, w);
	return r;
}

static int open_session(upcall_session *s, const struct options *o)
{
	switch (o->transport) {
	case T_SOCKET:
		return upcall_session_open_unix(s, o->path);
	case T_VSOCK:
		return upcall_session_open_vsock(s, o->cid);
	case T_FD:
		return upcall_session_open_fd(s, o->fd);
	default:
		return -EINVAL;
	}
}

/* Let the context deliver what is queued, so every object is freed. */
static void drain(upcall_ctx *ctx)
{
	int i;

	for (i = 0; i < 1000 && upcall_ctx_process(ctx) > 0; i++)
		;
}

static int status_of(const struct call *c, const struct outcome *out)
{
	if (out->err < 0)
		return EXIT_TRANSPORT;
	if (out->result == -EOPNOTSUPP && c->cmd->submit == submit_info)
		return EXIT_SUCCESS;
	return out->result < 0 ? EXIT_REFUSED : EXIT_SUCCESS;
}

/* Say what became of a request, in text or JSON; returns the exit status. */
static int report(const struct options *o, const struct call *c,
		  const struct session_watch *w, const struct outcome *out)
{
	bool have_index = c->cmd->cpu && out->err == 0 &&
			  out->index != UINT32_MAX;
	int status = status_of(c, out);

	if (status == EXIT_TRANSPORT)
		report_transport(c, w, out->err);
	else if (status == EXIT_REFUSED)
		report_refusal(c, out, have_index);
	else if (!o->json)
		report_success(c, out, have_index);
	if (out->have_info)
		warn_arch(c, &out->info);
	if (o->json)
		json_report(c, out, status, have_index);
	return status;
}

static uint64_t call_timeout_usec(const struct options *o,
				  const struct call *c)
{
	uint64_t ms = o->timeout_ms ? o->timeout_ms :
		      c->cmd->cpu ? DEFAULT_CPU_TIMEOUT_MS :
				    DEFAULT_TIMEOUT_MS;

	return ms * 1000u;
}

/* Submit, wait, and turn the outcome into an exit status. */
static int execute(const struct options *o, upcall_session *s,
		   const struct call *c, uint64_t deadline,
		   struct session_watch *w)
{
	struct outcome out = { .index = UINT32_MAX };
	uint64_t start = mono_usec();
	int r;

	r = c->cmd->submit(s, c, remaining(deadline), &out);
	if (r == -ESHUTDOWN || r == -ENOTCONN) {
		/* The session closed; its state events say why. */
		drain(upcall_session_get_ctx(s));
		if (w->fatal || w->last_error)
			r = w->fatal ? w->fatal : w->last_error;
	}
	out.usec = mono_usec() - start;
	out.err = r < 0 ? r : 0;
	return report(o, c, w, &out);
}

/* A context and a session, configured and opening; NULL and -errno if not. */
static int start_session(const struct options *o, uint64_t deadline,
			 struct session_watch *w, upcall_session **ret)
{
	upcall_session *s = NULL;
	upcall_ctx *ctx = NULL;
	int r;

	*ret = NULL;
	r = upcall_ctx_new(&ctx);
	if (r < 0)
		return r;
	if (o->verbose) {
		upcall_ctx_set_log_fn(ctx, log_stderr, NULL);
		upcall_ctx_set_log_priority(ctx, LOG_DEBUG);
	}
	r = upcall_session_new(ctx, &s);
	if (!r)
		r = configure_session(s, o, deadline, w);
	if (!r)
		r = open_session(s, o);
	if (r < 0) {
		/* A failed session is freed by the context's next turn. */
		upcall_session_unref(s);
		drain(ctx);
		upcall_ctx_unref(ctx);
		return r;
	}
	/* The session holds its context; end_session() drains it. */
	upcall_ctx_unref(ctx);
	*ret = s;
	return 0;
}

static void end_session(upcall_session *s)
{
	upcall_ctx *ctx = upcall_ctx_ref(upcall_session_get_ctx(s));

	upcall_session_unref(s);
	drain(ctx);
	upcall_ctx_unref(ctx);
}

/* The session could not even start: report it as the call's failure. */
static int fail_call(const struct options *o, const struct call *c,
		     const struct session_watch *w, int err)
{
	struct outcome out = { .err = err, .index = UINT32_MAX };

	return report(o, c, w, &out);
}

static int run(const struct options *o, const struct call *c)
{
	uint64_t deadline = mono_usec() + call_timeout_usec(o, c);
	struct session_watch w = { 0 };
	upcall_session *s;
	int status;
	int r;

	r = start_session(o, deadline, &w, &s);
	if (r < 0)
		return fail_call(o, c, &w, r);
	status = execute(o, s, c, deadline, &w);
	end_session(s);
	return status;
}

/* ------------------------------------------------------------------ */
/* Batch                                                               */
/* ------------------------------------------------------------------ */

#define BATCH_WORDS_MAX	300	/* cpu-add's 255 ids and then some */

struct batch {
	struct call *calls;
	size_t n, alloc;
	const char *name;		/* in messages */
	unsigned int bad_lines;
};

static void set_where(const struct batch *b, unsigned int line)
{
	if (line)
		snprintf(where, sizeof(where), "%s:%u: ", b->name, line);
	else
		where[0] = '\0';
}

/* One line: 0 (a call added, or nothing to do), -1 after saying why. */
static int batch_parse_line(struct batch *b, const struct options *o,
			    char *line, unsigned int lineno)
{
	char *words[BATCH_WORDS_MAX];
	struct call *c;
	int n;

	n = parse_words(line, words, BATCH_WORDS_MAX);
	if (n == -E2BIG)
		return bad("more than %d words", BATCH_WORDS_MAX);
	if (n == 0)
		return 0;
	if (b->n == b->alloc) {
		size_t alloc = b->alloc ? 2 * b->alloc : 16;
		struct call *calls = realloc(b->calls, alloc * sizeof(*calls));

		if (!calls)
			return bad("out of memory");
		b->calls = calls;
		b->alloc = alloc;
	}
	c = &b->calls[b->n];
	memset(c, 0, sizeof(*c));
	if (words[0][0] == '-')
		return bad("option '%s': upcall's own options go on its command line",
			   words[0]);
	c->cmd = find_command(words[0]);
	if (!c->cmd)
		return bad("unknown command '%s'", words[0]);
	if (!c->cmd->submit)
		return bad("batch: a batch file cannot run another");
	c->arch = o->arch;
	c->line = lineno;
	if (parse_command(c, n, words) < 0)
		return -1;
	b->n++;
	return 0;
}

/*
 * Every line, checked before anything is sent: a typo on line 40 must not
 * leave the guest with lines 1 to 39 done.  Each bad line is named.
 */
static int batch_read(struct batch *b, const struct options *o,
		      const char *file)
{
	unsigned int lineno = 0;
	size_t size = 0;
	char *line = NULL;
	FILE *f = stdin;
	ssize_t len;
	int err = 0;

	b->name = strcmp(file, "-") ? file : "stdin";
	if (strcmp(file, "-")) {
		f = fopen(file, "re");
		if (!f)
			return bad("batch: cannot open '%s': %s", file,
				   strerror(errno));
	}
	while ((len = getline(&line, &size, f)) >= 0) {
		set_where(b, ++lineno);
		if (strlen(line) != (size_t)len)
			bad("a NUL byte in the line");
		else if (batch_parse_line(b, o, line, lineno) == 0)
			continue;
		b->bad_lines++;
	}
	if (ferror(f))
		err = errno;
	set_where(b, 0);
	free(line);
	if (f != stdin)
		fclose(f);
	if (err)
		return bad("batch: cannot read '%s': %s", b->name,
			   strerror(err));
	if (b->bad_lines)
		return bad("batch: %u bad line%s in %s: nothing was sent",
			   b->bad_lines, b->bad_lines == 1 ? "" : "s",
			   b->name);
	return 0;
}

static int run_batch(const struct options *o, const struct call *bc)
{
	struct session_watch w = { 0 };
	struct batch b = { 0 };
	upcall_session *s = NULL;
	int first = EXIT_SUCCESS;
	size_t i;
	int r;

	if (batch_read(&b, o, bc->file) < 0) {
		free(b.calls);
		return EXIT_USAGE;
	}
	for (i = 0; i < b.n; i++) {
		const struct call *c = &b.calls[i];
		uint64_t deadline = mono_usec() + call_timeout_usec(o, c);
		int status;

		set_where(&b, c->line);
		/* Connecting counts against the first line's time. */
		if (!s) {
			r = start_session(o, deadline, &w, &s);
			status = r < 0 ? fail_call(o, c, &w, r) :
					 execute(o, s, c, deadline, &w);
		} else {
			status = execute(o, s, c, deadline, &w);
		}
		if (status == EXIT_SUCCESS)
			continue;
		if (first == EXIT_SUCCESS)
			first = status;
		if (!bc->keep_going && i + 1 < b.n) {
			set_where(&b, 0);
			fprintf(stderr,
				"upcall: batch: stopped at %s:%u; %zu line%s after it not run (--keep-going runs them)\n",
				b.name, c->line, b.n - i - 1,
				b.n - i - 1 == 1 ? "" : "s");
			break;
		}
	}
	set_where(&b, 0);
	if (s)
		end_session(s);
	free(b.calls);
	return first;
}

int main(int argc, char **argv)
{
	struct options o = {
		.transport = T_NONE,
		.fd = -1,
#ifdef __aarch64__
		.arch = UPCALL_ARCH_AARCH64,
#else
		.arch = UPCALL_ARCH_X86_64,
#endif
		/* 0: the command's default, DEFAULT_(CPU_)TIMEOUT_MS */
		.timeout_ms = 0,
	};
	struct call c = { 0 };

	switch (parse_options(argc, argv, &o, &c)) {
	case PARSE_HELP:
		usage(stdout);
		return EXIT_SUCCESS;
	case PARSE_VERSION:
		printf("upcall %s (libupcall %s)\n", PACKAGE_VERSION,
		       upcall_version());
		return EXIT_SUCCESS;
	case PARSE_USAGE:
		fputc('\n', stderr);
		usage(stderr);
		return EXIT_USAGE;
	default:
		if (!c.cmd->submit)
			return run_batch(&o, &c);
		return run(&o, &c);
	}
}
