// SPDX-License-Identifier: GPL-2.0
/*
 * vCPU hotplug for the device manager (ADD_CPU, DEL_CPU): x86_64 by APIC
 * id, arm64 by count (below, after the x86_64 code).
 *
 * x86_64 has two modes, chosen by what the kernel exports (upcall_compat.h):
 *
 * - hot-add (kernels that export arch_register_cpu(), up to 6.7): the VMM
 *   has created the vCPU (or is about to destroy it); the guest has not
 *   been told by ACPI.  Adding maps the APIC id to a logical CPU with
 *   acpi_map_cpu(), registers its device and brings it up; removing does
 *   the reverse.
 * - parked (every kernel): the VMM created the vCPU at boot and the guest
 *   was booted with maxcpus=, so the CPU is present, with its device, but
 *   offline.  Adding brings it up, removing takes it down; it stays
 *   present.  On 6.8+ a module has no other way: CPU devices are
 *   registered by code it cannot call.
 *
 * In both, a present but offline CPU is simply brought online.  Only
 * exported interfaces are used, so the locks Dragonball's in-kernel server
 * takes (device hotplug lock, cpu maps) are out of reach: every request
 * runs under upcall_hotplug_mutex instead, and the window in which sysfs
 * could online a CPU that is being forgotten is closed with
 * cpu_hotplug_disable().
 *
 * Every request is checked in full before anything is done, so that a
 * refused request leaves the guest untouched and the reply's index is 0.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/kernel.h>
#include <linux/lockdep.h>

#include "upcall.h"
#include "upcall_compat.h"
#include "upcall_validate.h"

#ifdef UPCALL_HAVE_CPU_BACKEND
#ifdef CONFIG_X86_64

#include <linux/acpi.h>
#include <linux/cpu.h>
#include <linux/cpumask.h>
#include <linux/limits.h>
#include <linux/slab.h>
#include <asm/apicdef.h>
#include <asm/cpu.h>
#include <asm/smp.h>

/* The present logical CPU with this APIC id, or -ENODEV. */
static int cpu_by_apic(u32 apic)
{
	unsigned int cpu;

	for_each_present_cpu(cpu)
		if (cpu_physical_id(cpu) == apic)
			return cpu;
	return -ENODEV;
}

#ifdef UPCALL_CPU_HOTADD

#define CPU_MODE	UPCALL_CPU_MODE_HOTADD

/*
 * The kernel maps an APIC id to a logical CPU slot once and for all, in a
 * table it does not export; when it runs out of slots it WARNs.  To refuse
 * such a request instead, count the slots it has never used: a slot is
 * used when its CPU is present, has an ACPI id (acpi_map_cpu and the MADT
 * set one), or was unmapped by this module (recorded here, since a CPU
 * that came from an MP table has no ACPI id).
 */
static u16 *cpu_slot_apic;

/*
 * Whether free logical CPU slots can take the request's new APIC ids: the
 * slots as upcall_cpu_room() sees them, from the kernel's CPU masks, its
 * ACPI ids and the APIC ids this module unmapped.
 */
static int cpu_new_check(const struct upcall_cpu_request_x86 *r)
{
	struct upcall_cpu_slot *slots;
	unsigned int cpu, n = 0;
	int ret;

	slots = kmalloc_array(nr_cpu_ids, sizeof(*slots), GFP_KERNEL);
	if (!slots)
		return -ENOMEM;
	for_each_possible_cpu(cpu) {
		struct upcall_cpu_slot *s = &slots[n++];

		if (cpu_present(cpu)) {
			s->apic = cpu_physical_id(cpu);
			s->known[0] = s->known[1] = UPCALL_CPU_ID_NONE;
			continue;
		}
		s->apic = UPCALL_CPU_ID_NONE;
		s->known[0] = cpu_slot_apic[cpu] == BAD_APICID ?
			      UPCALL_CPU_ID_NONE : cpu_slot_apic[cpu];
		/* acpi_map_cpu() is always given the APIC id as ACPI id. */
		s->known[1] = cpu_acpi_id(cpu);
	}
	ret = upcall_cpu_room(slots, n, r->apic_ids, r->count);
	kfree(slots);
	if (ret)
		pr_info_ratelimited("ADD_CPU: no free CPU slot for a new APIC id\n");
	return ret;
}

/* Unregister and unmap an offline CPU; -EBUSY if it came back online. */
static int cpu_forget(unsigned int cpu)
{
	int ret = 0;

	/* Keep sysfs from onlining the CPU while its device goes away. */
	cpu_hotplug_disable();
	if (cpu_online(cpu)) {
		ret = -EBUSY;
		goto out;
	}
	if (get_cpu_device(cpu))
		arch_unregister_cpu(cpu);
	cpu_slot_apic[cpu] = cpu_physical_id(cpu);
	acpi_unmap_cpu(cpu);
out:
	cpu_hotplug_enable();
	return ret;
}

/* Map a new APIC id to a logical CPU and register its device. */
static int cpu_map(u32 apic, int *cpu)
{
	int ret;

	ret = acpi_map_cpu(NULL, apic, apic, cpu);
	if (ret)
		return ret;
	ret = arch_register_cpu(*cpu);
	if (ret)
		cpu_forget(*cpu);
	return ret;
}

static int cpu_mode_init(void)
{
	unsigned int cpu;

	cpu_slot_apic = kmalloc_array(nr_cpu_ids, sizeof(*cpu_slot_apic),
				      GFP_KERNEL);
	if (!cpu_slot_apic)
		return -ENOMEM;
	for (cpu = 0; cpu < nr_cpu_ids; cpu++)
		cpu_slot_apic[cpu] = BAD_APICID;
	return 0;
}

static void cpu_mode_exit(void)
{
	kfree(cpu_slot_apic);
	cpu_slot_apic = NULL;
}

#else /* parked vCPUs only */

#define CPU_MODE	UPCALL_CPU_MODE_PARKED

/* No new APIC ids: every vCPU must have been present since boot. */
static int cpu_new_check(const struct upcall_cpu_request_x86 *r)
{
	unsigned int i;

	for (i = 0; i < r->count; i++) {
		if (cpu_by_apic(r->apic_ids[i]) >= 0)
			continue;
		pr_info_ratelimited("ADD_CPU: no vCPU with APIC id %u was present at boot\n",
				    r->apic_ids[i]);
		return -ENODEV;
	}
	return 0;
}

/* A parked vCPU stays present, with its device, for the next ADD_CPU. */
static int cpu_forget(unsigned int cpu)
{
	return 0;
}

static int cpu_map(u32 apic, int *cpu)
{
	return -ENODEV;
}

/* Nothing to set up: no slot record. */
#define cpu_mode_init	NULL
#define cpu_mode_exit	NULL

#endif /* UPCALL_CPU_HOTADD */

static const struct upcall_cpu_request_x86 *cpu_req(const struct upcall_req *req)
{
	return (const struct upcall_cpu_request_x86 *)req->body;
}

static int cpu_add_check(const struct upcall_cpu_request_x86 *r)
{
	unsigned int i;

	for (i = 0; i < r->count; i++) {
		int c = cpu_by_apic(r->apic_ids[i]);

		/* Present but offline is fine: it is just onlined. */
		if (c >= 0 && cpu_online(c)) {
			pr_info_ratelimited("ADD_CPU: APIC id %u is CPU %d already\n",
					    r->apic_ids[i], c);
			return -EINVAL;
		}
	}
	return cpu_new_check(r);
}

static int cpu_add_one(u32 apic)
{
	bool mapped = false;
	int cpu, ret;

	cpu = cpu_by_apic(apic);
	if (cpu < 0) {
		ret = cpu_map(apic, &cpu);
		if (ret)
			return ret;
		mapped = true;
	}

	/* add_cpu() needs the CPU's device; present CPUs have one. */
	if (!get_cpu_device(cpu)) {
		ret = -ENODEV;
		goto undo;
	}

	/* add_cpu() returns 1 when the CPU is online already. */
	ret = add_cpu(cpu);
	if (ret < 0)
		goto undo;
	pr_info("added CPU %d (APIC id %u)\n", cpu, apic);
	return 0;

undo:
	/* Only undo our own mapping; a CPU that was present stays so. */
	if (mapped)
		cpu_forget(cpu);
	return ret;
}

/*
 * Check the whole request first, then apply @one to its APIC ids in order,
 * stopping at the first failure; *@index is how many were done.
 */
static int cpu_apply(const struct upcall_req *req, u32 *index,
		     int (*check)(const struct upcall_cpu_request_x86 *r),
		     int (*one)(u32 apic), const char *what)
{
	const struct upcall_cpu_request_x86 *r = cpu_req(req);
	u32 i;
	int ret;

	lockdep_assert_held(&upcall_hotplug_mutex);

	*index = 0;
	ret = check(r);
	if (ret)
		return ret;

	for (i = 0; i < r->count; i++) {
		/*
		 * Each id can take the kernel seconds: once unload has begun,
		 * stop and report how far the request got.
		 */
		if (i && upcall_stopping()) {
			ret = -ESHUTDOWN;
			break;
		}
		ret = one(r->apic_ids[i]);
		if (ret) {
			pr_warn_ratelimited("%s: APIC id %u failed: %d\n", what,
					    r->apic_ids[i], ret);
			break;
		}
	}
	*index = i;
	return ret;
}

static int cpu_add(const struct upcall_req *req, u32 *index)
{
	return cpu_apply(req, index, cpu_add_check, cpu_add_one, "ADD_CPU");
}

static int cpu_del_check(const struct upcall_cpu_request_x86 *r)
{
	unsigned int online = 0, i;

	for (i = 0; i < r->count; i++) {
		int cpu = cpu_by_apic(r->apic_ids[i]);

		if (cpu < 0) {
			pr_info_ratelimited("DEL_CPU: no CPU has APIC id %u\n",
					    r->apic_ids[i]);
			return -EINVAL;
		}
		/* The boot CPU carries the timekeeping and legacy IRQs. */
		if (cpu == 0) {
			pr_info_ratelimited("DEL_CPU: refusing the boot CPU\n");
			return -EINVAL;
		}
		if (!cpu_online(cpu))
			continue;
		/* remove_cpu() needs the CPU's device. */
		if (!get_cpu_device(cpu))
			return -EINVAL;
		online++;
	}

	if (online >= num_online_cpus()) {
		pr_info_ratelimited("DEL_CPU: refusing to remove every online CPU\n");
		return -EINVAL;
	}
	return 0;
}

static int cpu_del_one(u32 apic)
{
	int cpu, ret;

	cpu = cpu_by_apic(apic);
	if (cpu < 0)
		return cpu;

	if (cpu_online(cpu)) {
		if (!get_cpu_device(cpu))
			return -ENODEV;
		/* remove_cpu() returns 1 when the CPU is offline already. */
		ret = remove_cpu(cpu);
		if (ret < 0)
			return ret;
	}

	ret = cpu_forget(cpu);
	if (ret)
		return ret;
	pr_info("removed CPU %d (APIC id %u)\n", cpu, apic);
	return 0;
}

static int cpu_del(const struct upcall_req *req, u32 *index)
{
	return cpu_apply(req, index, cpu_del_check, cpu_del_one, "DEL_CPU");
}


#else /* CONFIG_ARM64 */

/*
 * arm64: a request carries only a count (docs/protocol.md).  The VMM
 * describes every vCPU it may give the guest at boot, in the device tree
 * or the MADT, and the guest boots with maxcpus= so that all but the first
 * stay offline: the parked mode, as Dragonball's arm64 guests work (no
 * stock arm64 kernel can add a CPU the firmware did not describe).  ADD_CPU
 * brings up the lowest-numbered parked CPUs, DEL_CPU takes down the
 * highest-numbered online ones and never CPU 0.
 *
 * The reply's index is Dragonball's: the number of CPUs online before the
 * request, plus (ADD_CPU) or minus (DEL_CPU) how many were done.  While
 * CPUs 0..n-1 are the online ones, that is the id of the first CPU not
 * acted on.  A refused request does nothing and its index is the online
 * count.
 */

#include <linux/cpu.h>
#include <linux/cpumask.h>

#define CPU_MODE	UPCALL_CPU_MODE_PARKED
/* Nothing to set up. */
#define cpu_mode_init	NULL
#define cpu_mode_exit	NULL

static unsigned int cpu_count(const struct upcall_req *req)
{
	return ((const struct upcall_cpu_request_arm64 *)req->body)->count;
}

/* A parked CPU: present since boot, offline, with its device. */
static bool cpu_parked(unsigned int cpu)
{
	return cpu_present(cpu) && !cpu_online(cpu) && get_cpu_device(cpu);
}

/* An online CPU that may go: not CPU 0, and PSCI can take it down. */
static bool cpu_removable(unsigned int cpu)
{
	return cpu && cpu_online(cpu) && cpu_is_hotpluggable(cpu);
}

/* The next parked CPU above @cpu (-1: from the start), or -1. */
static int cpu_next_parked(int cpu)
{
	while (++cpu < (int)nr_cpu_ids)
		if (cpu_parked(cpu))
			return cpu;
	return -1;
}

/* The next removable CPU below @cpu (nr_cpu_ids: from the top), or -1. */
static int cpu_prev_removable(int cpu)
{
	while (--cpu > 0)
		if (cpu_removable(cpu))
			return cpu;
	return -1;
}

/*
 * Bring @want CPUs up or down, one by one in the order @next gives them
 * from @from, with @act (add_cpu or remove_cpu: 1 means sysfs did it
 * meanwhile, which counts).  Stops at the first failure, or between two
 * CPUs once unload has begun; returns that and how many were done.
 */
static int cpu_walk(unsigned int want, int from, int (*next)(int cpu),
		    int (*act)(unsigned int cpu), const char *what,
		    const char *verb, unsigned int *done)
{
	int cpu = from, ret;

	for (*done = 0; *done < want; (*done)++) {
		cpu = next(cpu);
		if (cpu < 0)
			return -ENODEV;
		if (*done && upcall_stopping())
			return -ESHUTDOWN;
		ret = act(cpu);
		if (ret < 0) {
			pr_warn_ratelimited("%s: CPU %d failed: %d\n", what, cpu, ret);
			return ret;
		}
		pr_info("%s CPU %d\n", verb, cpu);
	}
	return 0;
}

static int cpu_add(const struct upcall_req *req, u32 *index)
{
	unsigned int want = cpu_count(req), online = num_online_cpus();
	unsigned int parked = 0, done, cpu;
	int ret;

	lockdep_assert_held(&upcall_hotplug_mutex);

	*index = online;
	for_each_present_cpu(cpu)
		if (cpu_parked(cpu))
			parked++;
	if (want > parked) {
		pr_info_ratelimited("ADD_CPU: %u vCPUs asked for, %u parked\n",
				    want, parked);
		return -ENOSPC;
	}
	ret = cpu_walk(want, -1, cpu_next_parked, add_cpu, "ADD_CPU", "added",
		       &done);
	*index = online + done;
	return ret;
}

static int cpu_del(const struct upcall_req *req, u32 *index)
{
	unsigned int want = cpu_count(req), online = num_online_cpus();
	unsigned int removable = 0, done, cpu;
	int ret;

	lockdep_assert_held(&upcall_hotplug_mutex);

	*index = online;
	if (want >= online) {
		pr_info_ratelimited("DEL_CPU: refusing to remove every online CPU\n");
		return -EINVAL;
	}
	for_each_online_cpu(cpu)
		if (cpu_removable(cpu))
			removable++;
	if (want > removable) {
		pr_info_ratelimited("DEL_CPU: %u vCPUs asked for, %u can go offline\n",
				    want, removable);
		return -EINVAL;
	}
	ret = cpu_walk(want, nr_cpu_ids, cpu_prev_removable, remove_cpu,
		       "DEL_CPU", "removed", &done);
	*index = online - done;
	return ret;
}

#endif /* CONFIG_X86_64 */

static void cpu_backend_info(struct upcall_info_reply *info)
{
	info->cpu_mode = cpu_to_le32(CPU_MODE);
}

const struct upcall_backend upcall_cpu_backend = {
	.name = "vCPU",
	.add_type = UPCALL_MSG_ADD_CPU,
	.del_type = UPCALL_MSG_DEL_CPU,
	.cpu_reply = true,
	.add = cpu_add,
	.del = cpu_del,
	.info = cpu_backend_info,
	.init = cpu_mode_init,
	.exit = cpu_mode_exit,
};

#endif /* UPCALL_HAVE_CPU_BACKEND */
