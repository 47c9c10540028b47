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
 * The request's IRQ means what it means to Dragonball's guests: on x86 a
 * Linux interrupt number (it equals the GSI for the IO-APIC's pins); on
 * arm64 a GIC SPI number as a device tree's interrupt specifier writes it
 * (INTID - 32; QEMU's virt machine gives transport n SPI 16 + n), which
 * the module maps through the interrupt controller the guest booted with,
 * edge-rising, as the device tree would have.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/kernel.h>

#include "upcall.h"
#include "upcall_compat.h"
#include "upcall_validate.h"

#ifdef UPCALL_HAVE_MMIO_BACKEND

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

struct mmio_dev {
	struct list_head node;
	struct platform_device *pdev;
	u64 base;
	u64 size;
	u32 irq;		/* as the request gave it */
	unsigned int virq;	/* the Linux interrupt */
	bool mapped;		/* virq was mapped for this device */
};

#ifdef CONFIG_X86

/* Dragonball lets hot-added devices share this interrupt. */
#define MMIO_SHARED_IRQ		5

/* The request's IRQ is the Linux interrupt; it must exist. */
static int mmio_irq_map(u32 irq, unsigned int *virq, bool *mapped)
{
	if (irq >= upcall_nr_irqs() || !irq_get_irq_data(irq)) {
		pr_info_ratelimited("ADD_MMIO: the guest has no IRQ %u\n", irq);
		return -EINVAL;
	}
	*virq = irq;
	*mapped = false;
	return 0;
}

/* Nothing was mapped. */
static void mmio_irq_unmap(unsigned int virq)
{
}

#else /* CONFIG_ARM64 */

#include <linux/acpi.h>
#include <linux/irqdomain.h>
#include <linux/of.h>
#include <linux/of_irq.h>

/* No interrupt is shared: the GIC has SPIs to spare. */
#define MMIO_SHARED_IRQ		U32_MAX

/* GIC INTIDs 32..1019 are SPIs; the device tree numbers them from 0. */
#define GIC_SPI_INTID		32u
#define GIC_SPI_COUNT		988u
/* The first cell of a GIC interrupt specifier: 0 is an SPI. */
#define GIC_SPEC_SPI		0u

/* The device tree's root interrupt controller, referenced. */
static struct device_node *mmio_gic_node(void)
{
	struct device_node *root, *gic;
	u32 cells;

	root = of_find_node_by_path("/");
	gic = root ? of_irq_find_parent(root) : NULL;
	of_node_put(root);
	if (gic && (of_property_read_u32(gic, "#interrupt-cells", &cells) ||
		    cells != 3)) {
		pr_info_ratelimited("ADD_MMIO: %pOF is not a GIC (#interrupt-cells)\n",
				    gic);
		of_node_put(gic);
		gic = NULL;
	}
	return gic;
}

#ifdef CONFIG_ACPI
/*
 * A guest booted with ACPI: the GSI is the INTID.  The mapping is shared
 * with whatever else registered that GSI, so it is never disposed of.
 */
static int mmio_irq_map_acpi(u32 irq, unsigned int *virq)
{
	int ret;

	ret = acpi_register_gsi(NULL, irq + GIC_SPI_INTID,
				ACPI_EDGE_SENSITIVE, ACPI_ACTIVE_HIGH);
	if (ret < 0) {
		pr_info_ratelimited("ADD_MMIO: cannot map GSI %u: %d\n",
				    irq + GIC_SPI_INTID, ret);
		return -EINVAL;
	}
	*virq = ret;
	return 0;
}
#else
static int mmio_irq_map_acpi(u32 irq, unsigned int *virq)
{
	return -ENODEV;
}
#endif

/*
 * Map SPI @irq edge-rising: from the device tree's GIC, or through ACPI's
 * GSI mapping on a guest booted with ACPI.  *@mapped says the mapping is
 * new, so that the device's removal disposes of it; a mapping that
 * existed before (a boot device's) is never touched.
 */
static int mmio_irq_map(u32 irq, unsigned int *virq, bool *mapped)
{
	struct of_phandle_args spec = {
		.args_count = 3,
		.args = { GIC_SPEC_SPI, irq, IRQ_TYPE_EDGE_RISING },
	};
	struct irq_domain *domain;

	if (irq >= GIC_SPI_COUNT) {
		pr_info_ratelimited("ADD_MMIO: SPI %u is beyond the GIC's\n", irq);
		return -EINVAL;
	}
	*mapped = false;
	if (!acpi_disabled)
		return mmio_irq_map_acpi(irq, virq);

	spec.np = mmio_gic_node();
	if (!spec.np) {
		pr_info_ratelimited("ADD_MMIO: no GIC in the device tree\n");
		return -ENODEV;
	}
	domain = irq_find_host(spec.np);
	*mapped = !domain || !irq_find_mapping(domain, irq + GIC_SPI_INTID);
	*virq = irq_create_of_mapping(&spec);
	of_node_put(spec.np);
	if (!*virq) {
		pr_info_ratelimited("ADD_MMIO: cannot map SPI %u\n", irq);
		return -EINVAL;
	}
	return 0;
}

/* Only device-tree mappings are ever new (*mapped). */
static void mmio_irq_unmap(unsigned int virq)
{
	irq_dispose_mapping(virq);
}

#endif /* CONFIG_X86 */

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

static int mmio_found(struct resource *res, void *arg)
{
	*(struct resource *)arg = *res;
	return 1;
}

/*
 * The window must not touch any memory resource the guest knows (RAM,
 * reserved ranges, bridge windows, BARs, what a driver has claimed: the
 * virtio-mmio driver would map someone else's registers or RAM), nor
 * another hot-added device's window, claimed or not.
 */
static int mmio_check_window(u64 base, u64 size)
{
	u64 end = base + size - 1;
	struct resource used = { };
	struct mmio_dev *d;

	if (end > iomem_resource.end) {
		pr_info_ratelimited("ADD_MMIO: %#llx-%#llx is beyond the physical address space\n",
				    base, end);
		return -EINVAL;
	}
	list_for_each_entry(d, &mmio_devs, node) {
		if (upcall_ranges_overlap(base, size, d->base, d->size)) {
			pr_info_ratelimited("ADD_MMIO: %#llx-%#llx overlaps %s\n",
					    base, end, dev_name(&d->pdev->dev));
			return -EEXIST;
		}
	}
	/*
	 * Any memory resource, claimed or not: RAM, a reserved range, a PCI
	 * bridge window or a BAR no driver has claimed yet all belong to
	 * someone else (and one the window straddles would make registering
	 * it fail with -EBUSY).
	 */
	if (walk_iomem_res_desc(IORES_DESC_NONE, IORESOURCE_MEM, base, end,
				&used, mmio_found) == 1) {
		pr_info_ratelimited("ADD_MMIO: %#llx-%#llx overlaps %pR\n",
				    base, end, &used);
		return -EEXIST;
	}
	return 0;
}

/*
 * Only IRQ 5 on x86 may be shared, and only among hot-added devices: any
 * other IRQ that a hot-added device or a driver already uses is refused.
 * @virq is @irq mapped (mmio_irq_map).  "Uses" means has requested: an
 * interrupt whose driver is not loaded yet, or requests it only when its
 * device is opened, looks free; the kernel keeps no record of who will
 * want an interrupt, so the VMM's word is taken for it.
 */
static int mmio_check_irq(u32 irq, unsigned int virq)
{
	struct mmio_dev *d;
	bool ours = false;

	list_for_each_entry(d, &mmio_devs, node)
		if (d->irq == irq)
			ours = true;
	if (irq == MMIO_SHARED_IRQ ? !ours && irq_has_action(virq) :
				     ours || irq_has_action(virq)) {
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

static int mmio_add(const struct upcall_req *req, u32 *index)
{
	struct platform_device_info info = {
		.parent = mmio_root,
		.name = MMIO_DRIVER,
		.id = PLATFORM_DEVID_AUTO,
	};
	struct resource res[2];
	struct platform_device *pdev;
	struct mmio_dev *d;
	unsigned int virq;
	bool mapped;
	u64 base, size;
	u32 irq;
	int ret;

	lockdep_assert_held(&upcall_hotplug_mutex);

	mmio_req(req, &base, &size, &irq);
	ret = mmio_check_window(base, size);
	if (ret)
		return ret;
	ret = mmio_irq_map(irq, &virq, &mapped);
	if (ret)
		return ret;
	ret = mmio_check_irq(irq, virq);
	if (ret)
		goto unmap;

	d = kzalloc(sizeof(*d), GFP_KERNEL);
	if (!d) {
		ret = -ENOMEM;
		goto unmap;
	}

	res[0] = (struct resource)DEFINE_RES_MEM(base, size);
	res[1] = (struct resource)DEFINE_RES_IRQ(virq);
	if (irq == MMIO_SHARED_IRQ)
		res[1].flags |= IORESOURCE_IRQ_SHAREABLE;
	info.res = res;
	info.num_res = ARRAY_SIZE(res);

	pdev = platform_device_register_full(&info);
	if (IS_ERR(pdev)) {
		ret = PTR_ERR(pdev);
		pr_warn_ratelimited("ADD_MMIO: cannot register a device at %#llx: %d\n",
				    base, ret);
		goto free;
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
		ret = -ENODEV;
		goto free;
	}

	d->pdev = pdev;
	d->base = base;
	d->size = size;
	d->irq = irq;
	d->virq = virq;
	d->mapped = mapped;
	list_add_tail(&d->node, &mmio_devs);
	pr_info("added %s at %#llx-%#llx, IRQ %u (Linux IRQ %u)\n",
		dev_name(&pdev->dev), base, base + size - 1, irq, virq);
	return 0;

free:
	kfree(d);
unmap:
	if (mapped)
		mmio_irq_unmap(virq);
	return ret;
}

/* Unregister a device ADD_MMIO added and forget it. */
static void mmio_remove(struct mmio_dev *d)
{
	pr_info("removing %s at %#llx\n", dev_name(&d->pdev->dev), d->base);
	list_del(&d->node);
	platform_device_unregister(d->pdev);
	if (d->mapped)
		mmio_irq_unmap(d->virq);
	kfree(d);
}

static int mmio_del(const struct upcall_req *req, u32 *index)
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

	mmio_remove(d);
	return 0;
}

static int mmio_backend_init(void)
{
	mmio_root = root_device_register("upcall");
	if (IS_ERR(mmio_root)) {
		pr_err("cannot register the upcall root device: %ld\n",
		       PTR_ERR(mmio_root));
		return PTR_ERR(mmio_root);
	}
	return 0;
}

static void mmio_backend_exit(void)
{
	struct mmio_dev *d, *tmp;

	mutex_lock(&upcall_hotplug_mutex);
	list_for_each_entry_safe(d, tmp, &mmio_devs, node)
		mmio_remove(d);
	mutex_unlock(&upcall_hotplug_mutex);

	root_device_unregister(mmio_root);
	mmio_root = NULL;
}

const struct upcall_backend upcall_mmio_backend = {
	.name = "virtio-mmio",
	.add_type = UPCALL_MSG_ADD_MMIO,
	.del_type = UPCALL_MSG_DEL_MMIO,
	.add = mmio_add,
	.del = mmio_del,
	.init = mmio_backend_init,
	.exit = mmio_backend_exit,
};

#endif /* UPCALL_HAVE_MMIO_BACKEND */
