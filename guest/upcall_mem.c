// SPDX-License-Identifier: GPL-2.0
/*
 * Memory hotplug for the device manager (ADD_MEM, DEL_MEM; an upcall
 * extension).
 *
 * ADD_MEM hands the range to add_memory(), which makes it System RAM and
 * creates its memory blocks, and then brings every block online itself:
 * the guest's auto-online policy (Debian boots with "offline") would
 * otherwise leave the memory unused, and the kernel exports no function
 * that onlines a block.  It writes "online_movable" or "online" to the
 * block's sysfs "state" attribute, the ABI udev rules and the memory
 * hotplug documentation use: that path takes the device hotplug lock and
 * sets the zone exactly as a user-space write does.  The module reaches
 * sysfs through a private kernel mount, so it works whatever the guest has
 * mounted where.  RCU grace periods are expedited meanwhile: the memory
 * hotplug lock waits for one each time it is taken for writing.
 *
 * DEL_MEM uses offline_and_remove_memory(), which puts every block back
 * online if one of them cannot be offlined.  Offlining migrates pages away
 * and retries for as long as they stay busy, until a signal is pending; a
 * worker thread never gets one, so every offline runs in a short-lived
 * kthread that the module kills after offline_timeout seconds.
 *
 * Ranges are recorded, under upcall_hotplug_mutex, so DEL_MEM only
 * removes what ADD_MEM added.  Unload forgets the record and leaves the
 * memory in place.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/kernel.h>
#include <linux/moduleparam.h>

#include "upcall.h"
#include "upcall_validate.h"

/* Seconds an offline may take before it is given up (DEL_MEM: -EBUSY). */
static unsigned int offline_timeout = 10;

static int offline_timeout_set(const char *val, const struct kernel_param *kp)
{
	unsigned int secs;
	int ret;

	ret = kstrtouint(val, 0, &secs);
	if (ret)
		return ret;
	if (secs < 1 || secs > 3600)
		return -EINVAL;
	WRITE_ONCE(*(unsigned int *)kp->arg, secs);
	return 0;
}

static const struct kernel_param_ops offline_timeout_ops = {
	.set = offline_timeout_set,
	.get = param_get_uint,
};

module_param_cb(offline_timeout, &offline_timeout_ops, &offline_timeout, 0644);
MODULE_PARM_DESC(offline_timeout,
		 "seconds DEL_MEM may spend offlining memory, 1..3600 (default 10)");

#ifdef UPCALL_HAVE_MEM_BACKEND

#include <linux/completion.h>
#include <linux/fs.h>
#include <linux/io.h>
#include <linux/ioport.h>
#include <linux/kthread.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/math64.h>
#include <linux/memory.h>
#include <linux/memory_hotplug.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mount.h>
#include <linux/nodemask.h>
#include <linux/range.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/string.h>

#define MEM_SYSFS_DIR		"devices/system/memory"
/* lock_device_hotplug_sysfs() sleeps 5 ms per try: about 10 s in all. */
#define MEM_LOCK_TRIES		2000
#define MEM_PROBE_PATTERN	0x5a3cc3a5u

struct mem_range {
	struct list_head node;
	u64 start;
	u64 size;
};

/* What ADD_MEM added; under upcall_hotplug_mutex. */
static LIST_HEAD(mem_ranges);
/* sysfs, mounted for the module alone; NULL if that failed. */
static struct vfsmount *mem_sysfs;
/* Its devices/system/memory, held open: attributes are opened below it. */
static struct file *mem_dir;

/* An offline, run in a kthread that can be killed. */
struct mem_job {
	int (*fn)(struct mem_job *job);
	u64 start;
	u64 size;
	const char *attr;
	bool killed;
	bool stopped;
	int ret;
	struct completion done;
};

/* Open an attribute below devices/system/memory/, e.g. "memory32/state". */
static struct file *mem_attr_open(const char *attr, int flags)
{
	return file_open_root(&mem_dir->f_path, attr, flags, 0);
}

/* Read an open sysfs attribute from the start; the newline is cut off. */
static int mem_file_read(struct file *f, char *buf, size_t len)
{
	loff_t pos = 0;
	ssize_t n;

	n = kernel_read(f, buf, len - 1, &pos);
	if (n < 0)
		return n;
	buf[n] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

static int mem_attr_read(const char *attr, char *buf, size_t len)
{
	struct file *f;
	int ret;

	f = mem_attr_open(attr, O_RDONLY);
	if (IS_ERR(f))
		return PTR_ERR(f);
	ret = mem_file_read(f, buf, len);
	filp_close(f, NULL);
	return ret;
}

/*
 * Write an open sysfs attribute of a memory block.  When the device
 * hotplug lock is taken, the store sleeps 5 ms and asks for the system
 * call to be restarted by setting TIF_SIGPENDING, which a kernel thread
 * has to clear itself before it tries again.  @killed, when set, ends the
 * retries.
 */
static int mem_file_write(struct file *f, const char *val, const bool *killed)
{
	ssize_t n = -EBUSY;
	unsigned int i;

	for (i = 0; i < MEM_LOCK_TRIES; i++) {
		loff_t pos = 0;

		n = kernel_write(f, val, strlen(val), &pos);
		if (n != -ERESTARTNOINTR)
			break;
		if (!i)
			pr_debug("%pD: device hotplug lock busy, retrying\n",
				 f);
		flush_signals(current);
		n = -EBUSY;
		if (killed && READ_ONCE(*killed)) {
			n = -EINTR;
			break;
		}
	}
	return n < 0 ? n : 0;
}

static int mem_attr_write(const char *attr, const char *val,
			  const bool *killed)
{
	struct file *f;
	int ret;

	f = mem_attr_open(attr, O_WRONLY);
	if (IS_ERR(f))
		return PTR_ERR(f);
	ret = mem_file_write(f, val, killed);
	filp_close(f, NULL);
	return ret;
}

static int mem_job_thread(void *data)
{
	struct mem_job *job = data;

	/* Offlining stops when a signal is pending: let mem_job_run send one. */
	allow_signal(SIGKILL);
	job->ret = job->fn(job);
	complete(&job->done);
	return 0;
}

/* How often a waiting offline looks whether the module is being unloaded. */
#define MEM_JOB_POLL	(HZ / 10)

/*
 * Run @job->fn in a kthread and wait up to offline_timeout seconds, or
 * until the module is being unloaded (so that rmmod waits a tenth of a
 * second for a pending DEL_MEM, not up to an hour); then kill it and wait
 * for it to give up.  Returns the function's result; @job->killed tells a
 * kill, @job->stopped one for unload.  After the kill the wait is the
 * kernel's: offline_pages() and the memory block store check for a
 * pending signal between their steps.
 */
static int mem_job_run(struct mem_job *job)
{
	unsigned long deadline = jiffies + READ_ONCE(offline_timeout) * HZ;
	struct task_struct *task;

	init_completion(&job->done);
	job->killed = false;
	job->stopped = false;
	task = kthread_create(mem_job_thread, job, "upcall-mem");
	if (IS_ERR(task))
		return PTR_ERR(task);
	/* kthread_stop() below needs the task after its function returned. */
	get_task_struct(task);
	wake_up_process(task);

	while (!wait_for_completion_timeout(&job->done, MEM_JOB_POLL)) {
		job->stopped = upcall_stopping();
		if (job->stopped || time_after_eq(jiffies, deadline)) {
			WRITE_ONCE(job->killed, true);
			send_sig(SIGKILL, task, 1);
			wait_for_completion(&job->done);
			break;
		}
	}
	kthread_stop(task);
	put_task_struct(task);
	return job->ret;
}

static int mem_job_remove(struct mem_job *job)
{
	return offline_and_remove_memory(job->start, job->size);
}

static int mem_job_offline_block(struct mem_job *job)
{
	return mem_attr_write(job->attr, "offline", &job->killed);
}

/* Offline and remove a whole range, or leave it as it was. */
static int mem_remove(u64 start, u64 size)
{
	struct mem_job job = {
		.fn = mem_job_remove,
		.start = start,
		.size = size,
	};
	int ret;

	ret = mem_job_run(&job);
	if (ret && job.stopped) {
		pr_info("memory %#llx-%#llx: offline given up for unload\n",
			start, start + size - 1);
		return -ESHUTDOWN;
	}
	if (ret && job.killed) {
		pr_warn_ratelimited("memory %#llx-%#llx did not go offline within %u s\n",
				    start, start + size - 1, READ_ONCE(offline_timeout));
		return -EBUSY;
	}
	return ret;
}

/* The part of a range that is online; unreadable blocks count as online. */
static u64 mem_online_bytes(u64 start, u64 size)
{
	u64 block = memory_block_size_bytes();
	unsigned long first = div64_u64(start, block);
	unsigned long n = div64_u64(size, block);
	char attr[64], buf[32];
	unsigned long id;
	u64 online = 0;

	for (id = first; id < first + n; id++) {
		snprintf(attr, sizeof(attr), "memory%lu/state", id);
		if (mem_attr_read(attr, buf, sizeof(buf)) || strcmp(buf, "offline"))
			online += block;
	}
	return online;
}

/*
 * Offlining takes the memory away whether the rest of the guest can live
 * without it or not: short of memory, the guest kills processes and, with
 * nothing left to kill, panics (measured).  Whatever of the range is used
 * is migrated elsewhere, so afterwards the guest has what it has available
 * now minus the online part of the range.  Refuse when that would leave
 * less than 1/16 of the remaining memory available.
 */
static int mem_check_room(u64 start, u64 size)
{
	u64 online = mem_online_bytes(start, size);
	u64 avail = (u64)si_mem_available() << PAGE_SHIFT;
	u64 total = (u64)totalram_pages() << PAGE_SHIFT;
	u64 rest = total > online ? total - online : 0;

	if (avail >= online && avail - online >= rest / 16)
		return 0;
	pr_info_ratelimited("DEL_MEM: %#llx-%#llx is needed: %llu MiB available, %llu MiB would go\n",
			    start, start + size - 1, avail >> 20, online >> 20);
	return -EBUSY;
}

/*
 * Bring one new block online, in ZONE_MOVABLE if asked.  If the guest's
 * own policy onlined it already into another zone, from which it might
 * never be offlined again, move it while it is still unused.
 *
 * A new block is offline unless the policy or a udev rule got there
 * first, so the store comes first: then one open and one write is all it
 * takes, and a successful "online_movable" means ZONE_MOVABLE.  Only when
 * the store finds the block online already (-EINVAL) are its state and
 * zone read.
 */
static int mem_block_online(unsigned long id, bool movable)
{
	char state_attr[40], zones_attr[40], buf[32];
	struct mem_job job = {
		.fn = mem_job_offline_block,
		.attr = state_attr,
	};
	struct file *f;
	int ret;

	snprintf(state_attr, sizeof(state_attr), "memory%lu/state", id);
	snprintf(zones_attr, sizeof(zones_attr), "memory%lu/valid_zones", id);

	f = mem_attr_open(state_attr, O_RDWR);
	if (IS_ERR(f))
		return PTR_ERR(f);
	ret = mem_file_write(f, movable ? "online_movable" : "online", NULL);
	if (ret == -EINVAL)
		ret = mem_file_read(f, buf, sizeof(buf));
	else if (!ret)
		buf[0] = '\0';
	filp_close(f, NULL);
	/* Onlined as asked, or an error other than "online already". */
	if (ret || !buf[0])
		return ret;

	/* "going-offline": someone else is at work on it. */
	if (strcmp(buf, "online"))
		return -EBUSY;
	if (!movable)
		return 0;

	/* An online block's valid_zones is the zone it is in. */
	ret = mem_attr_read(zones_attr, buf, sizeof(buf));
	if (ret)
		return ret;
	if (!strcmp(buf, "Movable"))
		return 0;
	ret = mem_job_run(&job);
	if (ret && job.stopped)
		return -ESHUTDOWN;
	if (ret)
		return job.killed ? -EBUSY : ret;
	return mem_attr_write(state_attr, "online_movable", NULL);
}

static int mem_online(u64 start, u64 size, bool movable)
{
	u64 block = memory_block_size_bytes();
	unsigned long first = div64_u64(start, block);
	unsigned long n = div64_u64(size, block);
	unsigned long id;
	int ret;

	for (id = first; id < first + n; id++) {
		ret = mem_block_online(id, movable);
		if (ret) {
			pr_warn_ratelimited("ADD_MEM: memory%lu did not come online: %d\n",
					    id, ret);
			return ret;
		}
	}
	return 0;
}

/*
 * add_memory() onlines a new block itself when the guest's policy
 * (auto_online_blocks) says so, into the zone the kernel picks.  From
 * ZONE_NORMAL, the kernel may have put unmovable pages in the block before
 * ADD_MEM can move it to ZONE_MOVABLE, and then it can never be removed
 * (seen on Debian's 6.12, which boots with "online").  So the policy is
 * held at "offline" while add_memory() runs, and mem_online() onlines the
 * block once, into the zone asked for.  Memory that something else
 * hot-adds in that window stays offline, as the guest's udev rules or the
 * administrator may then decide.  @saved is what to put back ("" for
 * nothing).
 */
static void mem_policy_hold(char *saved, size_t len)
{
	if (mem_attr_read("auto_online_blocks", saved, len) ||
	    !strcmp(saved, "offline")) {
		saved[0] = '\0';
		return;
	}
	if (mem_attr_write("auto_online_blocks", "offline", NULL)) {
		pr_warn_ratelimited("ADD_MEM: cannot hold auto_online_blocks at offline\n");
		saved[0] = '\0';
	}
}

static void mem_policy_restore(const char *saved)
{
	if (saved[0] && mem_attr_write("auto_online_blocks", saved, NULL))
		pr_warn_ratelimited("ADD_MEM: cannot set auto_online_blocks back to %s\n",
				    saved);
}

static void mem_req(const struct upcall_req *req, u64 *start, u64 *size,
		    u32 *nid, u32 *flags)
{
	const struct upcall_mem_request *r = (const void *)req->body;

	*start = le64_to_cpu(r->addr);
	*size = le64_to_cpu(r->size);
	*nid = le32_to_cpu(r->node);
	*flags = le32_to_cpu(r->flags);
}

static struct mem_range *mem_find(u64 start, u64 size, bool *overlap)
{
	struct mem_range *r;

	*overlap = false;
	list_for_each_entry(r, &mem_ranges, node) {
		if (r->start == start && r->size == size)
			return r;
		if (upcall_ranges_overlap(start, size, r->start, r->size))
			*overlap = true;
	}
	return NULL;
}

/*
 * add_memory() believes the caller.  Memory the VMM did not back would be
 * handed out as RAM and the guest would die of it (measured: an ADD_MEM
 * at an unbacked address hangs the guest).  So write two patterns to the
 * first and the last word of every block, uncached, and read them back:
 * guest-physical space that nothing backs drops the writes.  The old
 * value is put back.
 */
static int mem_probe_word(phys_addr_t addr)
{
	void __iomem *p;
	u32 old;
	int ret = 0;

	p = ioremap(addr, sizeof(u32));
	if (!p)
		return -ENOMEM;
	old = readl(p);
	writel(MEM_PROBE_PATTERN, p);
	if (readl(p) != MEM_PROBE_PATTERN)
		ret = -ENXIO;
	writel(~MEM_PROBE_PATTERN, p);
	if (readl(p) != ~MEM_PROBE_PATTERN)
		ret = -ENXIO;
	writel(old, p);
	iounmap(p);
	return ret;
}

static int mem_probe(u64 start, u64 size)
{
	u64 block = memory_block_size_bytes();
	u64 addr;
	int ret;

	for (addr = start; addr - start < size; addr += block) {
		ret = mem_probe_word(addr);
		if (!ret)
			ret = mem_probe_word(addr + block - sizeof(u32));
		if (ret) {
			pr_info_ratelimited("ADD_MEM: no memory answers in %#llx-%#llx\n",
					    addr, addr + block - 1);
			return ret;
		}
	}
	return 0;
}

/* Everything add_memory() would refuse, or WARN about, refused first. */
static int mem_check_new(u64 start, u64 size, u32 nid)
{
	u64 end = start + size - 1;
	struct range plug;

	if (upcall_validate_mem_range(start, size, memory_block_size_bytes())) {
		pr_info_ratelimited("ADD_MEM: %#llx+%#llx is not made of %#lx-byte memory blocks\n",
				    start, size, memory_block_size_bytes());
		return -EINVAL;
	}
	if (nid >= nr_node_ids || !node_possible(nid)) {
		pr_info_ratelimited("ADD_MEM: no NUMA node %u\n", nid);
		return -EINVAL;
	}
	plug = mhp_get_pluggable_range(true);
	if (start < plug.start || end > plug.end) {
		pr_info_ratelimited("ADD_MEM: %#llx-%#llx is outside the pluggable range %#llx-%#llx\n",
				    start, end, plug.start, plug.end);
		return -EINVAL;
	}
	if (region_intersects(start, size, 0, IORES_DESC_NONE) != REGION_DISJOINT) {
		pr_info_ratelimited("ADD_MEM: %#llx-%#llx overlaps a resource in use\n",
				    start, end);
		return -EINVAL;
	}
	return mem_probe(start, size);
}

static int mem_add(const struct upcall_req *req, u32 *index)
{
	struct mem_range *range;
	u64 start, size;
	u32 nid, flags;
	char policy[32];
	bool movable;
	int ret, undo;

	lockdep_assert_held(&upcall_hotplug_mutex);

	mem_req(req, &start, &size, &nid, &flags);
	movable = flags & UPCALL_MEM_F_MOVABLE;
	ret = mem_check_new(start, size, nid);
	if (ret)
		return ret;

	range = kzalloc(sizeof(*range), GFP_KERNEL);
	if (!range)
		return -ENOMEM;
	range->start = start;
	range->size = size;

	/*
	 * add_memory() and each online take mem_hotplug_lock for writing, a
	 * per-CPU rw-semaphore whose writer first waits for an RCU grace
	 * period: 9 of the 15 ms add_memory() took in the test bed (TCG).
	 * An expedited grace period is a fraction of that, for an IPI to
	 * every CPU, which a hot-add, rare and waited for, can afford (the
	 * kernel expedites suspend and boot the same way).  A guest booted
	 * with rcupdate.rcu_normal=1 keeps normal grace periods.
	 */
	rcu_expedite_gp();
	mem_policy_hold(policy, sizeof(policy));
	ret = add_memory(nid, start, size, MHP_NONE);
	mem_policy_restore(policy);
	if (ret) {
		rcu_unexpedite_gp();
		pr_warn_ratelimited("ADD_MEM: add_memory(%#llx-%#llx) failed: %d\n",
				    start, start + size - 1, ret);
		kfree(range);
		return ret;
	}
	ret = mem_online(start, size, movable);
	rcu_unexpedite_gp();
	if (ret) {
		undo = mem_remove(start, size);
		if (undo) {
			/* Keep it on record, so that DEL_MEM can try again. */
			pr_err_ratelimited("ADD_MEM: %#llx-%#llx could not be onlined (%d) nor removed (%d)\n",
					   start, start + size - 1, ret, undo);
			list_add_tail(&range->node, &mem_ranges);
		} else {
			kfree(range);
		}
		return ret;
	}

	list_add_tail(&range->node, &mem_ranges);
	pr_info("added memory %#llx-%#llx, online%s\n", start,
		start + size - 1, movable ? " movable" : "");
	return 0;
}

static int mem_del(const struct upcall_req *req, u32 *index)
{
	struct mem_range *range;
	u64 start, size;
	u32 nid, flags;
	bool overlap;
	int ret;

	lockdep_assert_held(&upcall_hotplug_mutex);

	mem_req(req, &start, &size, &nid, &flags);
	if (upcall_validate_mem_range(start, size, memory_block_size_bytes()))
		return -EINVAL;
	range = mem_find(start, size, &overlap);
	if (!range) {
		pr_info_ratelimited("DEL_MEM: %#llx-%#llx %s\n", start,
				    start + size - 1,
				    overlap ? "is not one range ADD_MEM added" :
					      "was not added by ADD_MEM");
		return overlap ? -EINVAL : -ENODEV;
	}

	ret = mem_check_room(start, size);
	if (!ret)
		ret = mem_remove(start, size);
	if (ret) {
		pr_warn_ratelimited("DEL_MEM: %#llx-%#llx stays: %d\n", start,
				    start + size - 1, ret);
		return ret;
	}
	list_del(&range->node);
	kfree(range);
	pr_info("removed memory %#llx-%#llx\n", start, start + size - 1);
	return 0;
}

static u32 mem_policy(void)
{
	static const char *const names[] = {
		[UPCALL_MEM_POLICY_OFFLINE] = "offline",
		[UPCALL_MEM_POLICY_ONLINE] = "online",
		[UPCALL_MEM_POLICY_ONLINE_KERNEL] = "online_kernel",
		[UPCALL_MEM_POLICY_ONLINE_MOVABLE] = "online_movable",
	};
	char buf[32];
	u32 i;

	if (!mem_dir || mem_attr_read("auto_online_blocks", buf, sizeof(buf)))
		return UPCALL_MEM_POLICY_UNKNOWN;
	for (i = 0; i < ARRAY_SIZE(names); i++)
		if (!strcmp(buf, names[i]))
			return i;
	return UPCALL_MEM_POLICY_UNKNOWN;
}

static u32 mem_served(void)
{
	return mem_dir ? BIT(UPCALL_MSG_ADD_MEM) | BIT(UPCALL_MSG_DEL_MEM) : 0;
}

static int mem_backend_init(void)
{
	struct file_system_type *type;
	struct vfsmount *mnt;
	struct file *dir;

	type = get_fs_type("sysfs");
	if (!type)
		goto fail;
	mnt = vfs_kern_mount(type, SB_KERNMOUNT, type->name, NULL);
	/* put_filesystem(), which is not exported; sysfs is built in. */
	module_put(type->owner);
	if (IS_ERR(mnt))
		goto fail;
	dir = file_open_root_mnt(mnt, MEM_SYSFS_DIR, O_RDONLY | O_DIRECTORY, 0);
	if (IS_ERR(dir)) {
		kern_unmount(mnt);
		goto fail;
	}
	mem_sysfs = mnt;
	mem_dir = dir;
	return 0;

fail:
	/* Not fatal: the rest of the device manager works without it. */
	pr_warn("cannot open sysfs " MEM_SYSFS_DIR ": memory hotplug disabled\n");
	return 0;
}

static void mem_backend_exit(void)
{
	struct mem_range *r, *tmp;

	mutex_lock(&upcall_hotplug_mutex);
	list_for_each_entry_safe(r, tmp, &mem_ranges, node) {
		pr_info("leaving memory %#llx-%#llx in place\n", r->start,
			r->start + r->size - 1);
		list_del(&r->node);
		kfree(r);
	}
	mutex_unlock(&upcall_hotplug_mutex);

	if (mem_dir)
		filp_close(mem_dir, NULL);
	mem_dir = NULL;
	if (mem_sysfs)
		kern_unmount(mem_sysfs);
	mem_sysfs = NULL;
}

/*
 * GET_INFO: the block size ADD_MEM's ranges align to, and the guest's
 * auto_online_blocks, which decides how memory that others hot-add (ACPI)
 * comes up; ADD_MEM onlines its memory whatever it says.
 */
static void mem_backend_info(struct upcall_info_reply *info)
{
	info->mem_block_size = cpu_to_le64(memory_block_size_bytes());
	info->mem_policy = cpu_to_le32(mem_policy());
}

const struct upcall_backend upcall_mem_backend = {
	.name = "memory",
	.add_type = UPCALL_MSG_ADD_MEM,
	.del_type = UPCALL_MSG_DEL_MEM,
	.served = mem_served,
	.add = mem_add,
	.del = mem_del,
	.info = mem_backend_info,
	.init = mem_backend_init,
	.exit = mem_backend_exit,
};

#endif /* UPCALL_HAVE_MEM_BACKEND */
