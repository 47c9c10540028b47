// SPDX-License-Identifier: GPL-2.0
/*
 * virtio-mmio devices for the device manager (ADD_MMIO, DEL_MMIO).
 *
 * Dragonball's guest patches the virtio-mmio driver with an entry point
 * for this; a stock kernel has none, and Debian's has no
 * VIRTIO_MMIO_CMDLINE_DEVICES either.  So the module registers the
 * "virtio-mmio" platform device itself, with the window as its memory
 * resource and the interrupt as its IRQ resource, and the stock driver
 * binds to it.  The devices hang below a root device of the module's own,
 * /sys/devices/upcall, and are recorded under upcall_hotplug_mutex, so that
 * DEL_MMIO only removes what ADD_MMIO added and unload removes them all.
 *
 * The IRQ is a Linux interrupt number, as on Dragonball's x86 guests (it
 * equals the GSI for the IO-APIC's pins); other architectures would need
 * Dragonball's mapping of a pin to an interrupt and are not served.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/kernel.h>

#include "upcall.h"
#include "upcall_compat.h"
#include "upcall_validate.h"

#if defined(CONFIG_X86) && IS_ENABLED(CONFIG_VIRTIO_MMIO)

#include <linux/device.h>
#include <linux/err.h>
#include <linux/interrupt.h>
#include <linux/ioport.h>
#include <linux/irq.h>
#include <linux/irqnr.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

#define MMIO_DRIVER		"virtio-mmio"
/* Dragonball lets hot-added devices share this interrupt. */
#define MMIO_SHARED_IRQ		5

struct mmio_dev {
	struct list_head node;
	struct platform_device *pdev;
	u64 base;
	u64 size;
	u32 irq;
};

/* What ADD_MMIO added; under upcall_hotplug_mutex. */
static LIST_HEAD(mmio_devs);
static struct device *mmio_root;

static void mmio_req(const struct upcall_req *req, u64 *base, u64 *size,
		     u32 *irq)
{
	const struct upcall_mmio_request *r = (const void *)req->body;

	*base = le64_to_cpu(r->mmio_base);
	*size = le64_to_cpu(r->mmio_size);
	*irq = le32_to_cpu(r->mmio_irq);
}

static int mmio_busy(struct resource *res, void *arg)
{
	*(struct resource *)arg = *res;
	return 1;
}

/*
 * The window must not touch RAM or anything a driver has claimed (the
 * virtio-mmio driver would then fail to map it, or map RAM), nor another
 * hot-added device's window, claimed or not.
 */
static int mmio_check_window(u64 base, u64 size)
{
	u64 end = base + size - 1;
	struct resource busy = { };
	struct mmio_dev *d;

	if (end > iomem_resource.end) {
		pr_info_ratelimited("ADD_MMIO: %#llx-%#llx is beyond the physical address space\n",
				    base, end);
		return -EINVAL;
	}
	list_for_each_entry(d, &mmio_devs, node) {
		if (base <= d->base + d->size - 1 && d->base <= end) {
			pr_info_ratelimited("ADD_MMIO: %#llx-%#llx overlaps %s\n",
					    base, end, dev_name(&d->pdev->dev));
			return -EEXIST;
		}
	}
	if (walk_iomem_res_desc(IORES_DESC_NONE, IORESOURCE_BUSY, base, end,
				&busy, mmio_busy) == 1) {
		pr_info_ratelimited("ADD_MMIO: %#llx-%#llx: %pR is in use\n",
				    base, end, &busy);
		return -EEXIST;
	}
	return 0;
}

/*
 * The interrupt must exist, and only IRQ 5 may be shared, and only among
 * hot-added devices: any other IRQ that a hot-added device or a driver
 * already uses is refused.
 */
static int mmio_check_irq(u32 irq)
{
	struct mmio_dev *d;
	bool ours = false;

	if (irq >= upcall_nr_irqs() || !irq_get_irq_data(irq)) {
		pr_info_ratelimited("ADD_MMIO: the guest has no IRQ %u\n", irq);
		return -EINVAL;
	}
	list_for_each_entry(d, &mmio_devs, node)
		if (d->irq == irq)
			ours = true;
	if (irq == MMIO_SHARED_IRQ ? !ours && irq_has_action(irq) :
				     ours || irq_has_action(irq)) {
		pr_info_ratelimited("ADD_MMIO: IRQ %u is in use\n", irq);
		return -EEXIST;
	}
	return 0;
}

static struct mmio_dev *mmio_find(u64 base, u64 size, u32 irq)
{
	struct mmio_dev *d;

	list_for_each_entry(d, &mmio_devs, node)
		if (d->base == base && d->size == size && d->irq == irq)
			return d;
	return NULL;
}

int upcall_mmio_add(const struct upcall_req *req)
{
	struct platform_device_info info = {
		.parent = mmio_root,
		.name = MMIO_DRIVER,
		.id = PLATFORM_DEVID_AUTO,
	};
	struct resource res[2];
	struct platform_device *pdev;
	struct mmio_dev *d;
	u64 base, size;
	u32 irq;
	int ret;

	lockdep_assert_held(&upcall_hotplug_mutex);

	mmio_req(req, &base, &size, &irq);
	ret = mmio_check_window(base, size);
	if (ret)
		return ret;
	ret = mmio_check_irq(irq);
	if (ret)
		return ret;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d)
		return -ENOMEM;

	res[0] = (struct resource)DEFINE_RES_MEM(base, size);
	res[1] = (struct resource)DEFINE_RES_IRQ(irq);
	if (irq == MMIO_SHARED_IRQ)
		res[1].flags |= IORESOURCE_IRQ_SHAREABLE;
	info.res = res;
	info.num_res = ARRAY_SIZE(res);

	pdev = platform_device_register_full(&info);
	if (IS_ERR(pdev)) {
		ret = PTR_ERR(pdev);
		pr_warn_ratelimited("ADD_MMIO: cannot register a device at %#llx: %d\n",
				    base, ret);
		kfree(d);
		return ret;
	}

	/*
	 * The driver probes at once.  If it is loaded but did not bind, it
	 * found no virtio device in the window: do not leave an empty one.
	 * (Without the driver loaded, udev loads it for the new device.)
	 */
	if (!READ_ONCE(pdev->dev.driver) &&
	    driver_find(MMIO_DRIVER, &platform_bus_type)) {
		pr_info_ratelimited("ADD_MMIO: no virtio device answers at %#llx\n",
				    base);
		platform_device_unregister(pdev);
		kfree(d);
		return -ENODEV;
	}

	d->pdev = pdev;
	d->base = base;
	d->size = size;
	d->irq = irq;
	list_add_tail(&d->node, &mmio_devs);
	pr_info("added %s at %#llx-%#llx, IRQ %u\n", dev_name(&pdev->dev),
		base, base + size - 1, irq);
	return 0;
}

int upcall_mmio_del(const struct upcall_req *req)
{
	struct mmio_dev *d;
	u64 base, size;
	u32 irq;

	lockdep_assert_held(&upcall_hotplug_mutex);

	mmio_req(req, &base, &size, &irq);
	d = mmio_find(base, size, irq);
	if (!d) {
		pr_info_ratelimited("DEL_MMIO: no device was added at %#llx+%#llx, IRQ %u\n",
				    base, size, irq);
		return -ENODEV;
	}

	pr_info("removing %s at %#llx\n", dev_name(&d->pdev->dev), base);
	list_del(&d->node);
	platform_device_unregister(d->pdev);
	kfree(d);
	return 0;
}

u32 upcall_mmio_ops(void)
{
	return BIT(UPCALL_MSG_ADD_MMIO) | BIT(UPCALL_MSG_DEL_MMIO);
}

int upcall_mmio_init(void)
{
	mmio_root = root_device_register("upcall");
	if (IS_ERR(mmio_root)) {
		pr_err("cannot register the upcall root device: %ld\n",
		       PTR_ERR(mmio_root));
		return PTR_ERR(mmio_root);
	}
	return 0;
}

void upcall_mmio_exit(void)
{
	struct mmio_dev *d, *tmp;

	mutex_lock(&upcall_hotplug_mutex);
	list_for_each_entry_safe(d, tmp, &mmio_devs, node) {
		pr_info("removing %s at %#llx\n", dev_name(&d->pdev->dev),
			d->base);
		list_del(&d->node);
		platform_device_unregister(d->pdev);
		kfree(d);
	}
	mutex_unlock(&upcall_hotplug_mutex);

	root_device_unregister(mmio_root);
	mmio_root = NULL;
}

#else /* !(CONFIG_X86 && CONFIG_VIRTIO_MMIO) */

u32 upcall_mmio_ops(void)
{
	return 0;
}

int upcall_mmio_add(const struct upcall_req *req)
{
	return -EOPNOTSUPP;
}

int upcall_mmio_del(const struct upcall_req *req)
{
	return -EOPNOTSUPP;
}

int upcall_mmio_init(void)
{
	return 0;
}

void upcall_mmio_exit(void)
{
}

#endif
