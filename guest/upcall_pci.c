// SPDX-License-Identifier: GPL-2.0
/*
 * PCI devices for the device manager (ADD_PCI, DEL_PCI), segment 0.
 *
 * The VMM has put a device into a slot (or is about to take it out) and no
 * hotplug controller of the guest acts on it: ACPI's is masked, pciehp is
 * not bound.  ADD_PCI does what pciehp does when a card appears: scan the
 * slot, assign the new devices' BARs (QEMU leaves them unprogrammed, so
 * only claiming them as Dragonball's guest does is not enough), then add
 * the devices so their drivers bind.  BARs the VMM did program are kept
 * where they are when the bridge window has room for them.  A device whose
 * BARs cannot all be placed is taken out again before any driver sees it.
 * DEL_PCI stops and removes the device, or the whole slot for function 0,
 * as pciehp and acpiphp do on removal.
 *
 * DEL_PCI removes only what ADD_PCI added (the devices it found in the
 * slot, and what sits behind them) unless the pci_remove_any parameter
 * says otherwise: a peer that may talk to the server should not be able to
 * take the guest's boot disk or its vsock device away.  Dragonball's guest
 * removes any device.
 *
 * Everything runs under pci_lock_rescan_remove(), the lock that the PCI
 * core's own rescan and removal take, and uses exported functions only.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bits.h>
#include <linux/kernel.h>

#include "upcall.h"
#include "upcall_validate.h"

#ifdef UPCALL_HAVE_PCI_BACKEND

#include <linux/ioport.h>
#include <linux/list.h>
#include <linux/lockdep.h>
#include <linux/moduleparam.h>
#include <linux/pci.h>
#include <linux/slab.h>

static bool pci_remove_any;
module_param(pci_remove_any, bool, 0644);
MODULE_PARM_DESC(pci_remove_any,
		 "DEL_PCI may remove any PCI device, not only those ADD_PCI added (Dragonball's behaviour; default off)");

/* A device ADD_PCI added, referenced; on pci_added, under upcall_hotplug_mutex. */
struct pci_added {
	struct list_head node;
	struct pci_dev *dev;
};
static LIST_HEAD(pci_added);

static struct pci_added *pci_added_find(struct pci_dev *dev)
{
	struct pci_added *a;

	list_for_each_entry(a, &pci_added, node)
		if (a->dev == dev)
			return a;
	return NULL;
}

/* Whether ADD_PCI added @dev, or the bridge it sits behind. */
static bool pci_is_ours(struct pci_dev *dev)
{
	for (; dev; dev = pci_upstream_bridge(dev))
		if (pci_added_find(dev))
			return true;
	return false;
}

static void pci_added_free(struct pci_added *a)
{
	list_del(&a->node);
	pci_dev_put(a->dev);
	kfree(a);
}

/* Record the devices after @mark on @bus in @list; -ENOMEM undoes it. */
static int pci_record_new(struct pci_bus *bus, struct list_head *mark,
			  struct list_head *list)
{
	struct pci_dev *dev = list_entry(mark, struct pci_dev, bus_list);
	struct pci_added *a, *tmp;

	list_for_each_entry_continue(dev, &bus->devices, bus_list) {
		a = kzalloc(sizeof(*a), GFP_KERNEL);
		if (!a)
			goto undo;
		a->dev = pci_dev_get(dev);
		list_add_tail(&a->node, list);
	}
	return 0;
undo:
	list_for_each_entry_safe(a, tmp, list, node)
		pci_added_free(a);
	return -ENOMEM;
}

static void pci_req(const struct upcall_req *req, u8 *busno, u8 *devfn)
{
	const struct upcall_pci_request *r = (const void *)req->body;

	*busno = r->busno;
	*devfn = r->devfn;
}

struct pci_bars {
	unsigned int count;
	bool assigned;		/* count only the BARs that have space */
};

static int pci_count_bars(struct pci_dev *dev, void *data)
{
	struct pci_bars *bars = data;
	int i;

	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		struct resource *r = &dev->resource[i];

		if (!(r->flags & (IORESOURCE_IO | IORESOURCE_MEM)))
			continue;
		/* An assigned BAR sits in its bridge window. */
		if (bars->assigned && !r->parent)
			continue;
		bars->count++;
	}
	return 0;
}

/*
 * BARs of the devices after @mark on @bus and of everything below them.
 * A failed assignment clears a BAR's flags, so counting the BARs that
 * want space before, and those that got it after, tells whether all did.
 */
static unsigned int pci_new_bars(struct pci_bus *bus, struct list_head *mark,
				 bool assigned)
{
	struct pci_bars bars = { .assigned = assigned };
	struct pci_dev *dev = list_entry(mark, struct pci_dev, bus_list);

	list_for_each_entry_continue(dev, &bus->devices, bus_list) {
		pci_count_bars(dev, &bars);
		if (dev->subordinate)
			pci_walk_bus(dev->subordinate, pci_count_bars, &bars);
	}
	return bars.count;
}

/* Keep the BARs the VMM programmed, where the bridge window allows it. */
static void pci_claim_programmed(struct pci_dev *dev)
{
	int i;

	for (i = 0; i < PCI_STD_NUM_BARS; i++) {
		struct resource *r = &dev->resource[i];

		if (!(r->flags & (IORESOURCE_IO | IORESOURCE_MEM)) ||
		    (r->flags & IORESOURCE_UNSET) || r->parent || !r->start)
			continue;
		/* On failure the BAR is marked unset and assigned below. */
		pci_claim_resource(dev, i);
	}
}

/* @dev was removed: forget it (a removed device behind a bridge never was recorded). */
static void pci_del_record(struct pci_dev *dev)
{
	struct pci_added *a = pci_added_find(dev);

	if (a)
		pci_added_free(a);
}

/* Take out the devices after @mark, last first. */
static void pci_remove_new(struct pci_bus *bus, struct list_head *mark)
{
	struct pci_dev *dev, *prev;

	list_for_each_entry_safe_reverse(dev, prev, &bus->devices, bus_list) {
		if (&dev->bus_list == mark)
			break;
		pci_stop_and_remove_bus_device(dev);
	}
}

static int pci_add(const struct upcall_req *req, u32 *index)
{
	LIST_HEAD(added);
	struct list_head *mark;
	struct pci_bus *bus;
	struct pci_dev *dev;
	unsigned int want;
	u8 busno, devfn;
	int ret = 0;

	lockdep_assert_held(&upcall_hotplug_mutex);
	pci_req(req, &busno, &devfn);

	pci_lock_rescan_remove();
	bus = pci_find_bus(0, busno);
	if (!bus) {
		pr_info_ratelimited("ADD_PCI: no PCI bus %02x\n", busno);
		ret = -ENODEV;
		goto out;
	}
	dev = pci_get_slot(bus, devfn);
	if (dev) {
		pr_info_ratelimited("ADD_PCI: %s is there already\n",
				    pci_name(dev));
		pci_dev_put(dev);
		ret = -EEXIST;
		goto out;
	}

	/* New devices are appended to the bus's list: remember its end. */
	mark = bus->devices.prev;
	if (!pci_scan_slot(bus, devfn)) {
		pr_info_ratelimited("ADD_PCI: nothing in slot %02x:%02x\n",
				    busno, PCI_SLOT(devfn));
		ret = -ENODEV;
		goto out;
	}

	dev = list_entry(mark, struct pci_dev, bus_list);
	list_for_each_entry_continue(dev, &bus->devices, bus_list) {
		pci_claim_programmed(dev);
		if (pci_is_bridge(dev))
			pci_hp_add_bridge(dev);
	}

	want = pci_new_bars(bus, mark, false);
	if (bus->self)
		pci_assign_unassigned_bridge_resources(bus->self);
	else
		pci_assign_unassigned_bus_resources(bus);
	if (pci_new_bars(bus, mark, true) != want) {
		pr_warn_ratelimited("ADD_PCI: no room for the BARs of %02x:%02x, taking it out\n",
				    busno, PCI_SLOT(devfn));
		pci_remove_new(bus, mark);
		ret = -ENOSPC;
		goto out;
	}
	pcie_bus_configure_settings(bus);
	/* Recorded before the drivers see them, so nothing is left unrecorded */
	ret = pci_record_new(bus, mark, &added);
	if (ret) {
		pci_remove_new(bus, mark);
		goto out;
	}
	list_splice_tail(&added, &pci_added);

	pci_bus_add_devices(bus);
	dev = list_entry(mark, struct pci_dev, bus_list);
	list_for_each_entry_continue(dev, &bus->devices, bus_list)
		pci_info(dev, "added by upcall\n");
out:
	pci_unlock_rescan_remove();
	return ret;
}

static int pci_del(const struct upcall_req *req, u32 *index)
{
	struct pci_dev *dev, *d, *prev;
	struct pci_bus *bus;
	u8 busno, devfn;

	lockdep_assert_held(&upcall_hotplug_mutex);
	pci_req(req, &busno, &devfn);

	pci_lock_rescan_remove();
	dev = pci_get_domain_bus_and_slot(0, busno, devfn);
	if (!dev) {
		pci_unlock_rescan_remove();
		pr_info_ratelimited("DEL_PCI: no device 0000:%02x:%02x.%x\n",
				    busno, PCI_SLOT(devfn), PCI_FUNC(devfn));
		return -ENODEV;
	}
	if (!pci_remove_any && !pci_is_ours(dev)) {
		pci_dev_put(dev);
		pci_unlock_rescan_remove();
		pr_info_ratelimited("DEL_PCI: 0000:%02x:%02x.%x was not added by upcall (pci_remove_any=0)\n",
				    busno, PCI_SLOT(devfn), PCI_FUNC(devfn));
		return -EPERM;
	}

	if (PCI_FUNC(devfn)) {
		pci_info(dev, "removing, by upcall\n");
		pci_stop_and_remove_bus_device(dev);
		pci_del_record(dev);
	} else {
		/* Function 0 stands for the slot: all its functions go. */
		bus = dev->bus;
		list_for_each_entry_safe_reverse(d, prev, &bus->devices,
						 bus_list) {
			if (PCI_SLOT(d->devfn) != PCI_SLOT(devfn))
				continue;
			pci_info(d, "removing, by upcall\n");
			pci_stop_and_remove_bus_device(d);
			pci_del_record(d);
		}
	}
	pci_dev_put(dev);
	pci_unlock_rescan_remove();
	return 0;
}

/* Devices ADD_PCI added stay on unload; only the record goes. */
static void pci_backend_exit(void)
{
	struct pci_added *a, *tmp;

	mutex_lock(&upcall_hotplug_mutex);
	list_for_each_entry_safe(a, tmp, &pci_added, node)
		pci_added_free(a);
	mutex_unlock(&upcall_hotplug_mutex);
}

/* Served where the guest has PCI at all (microvm, for one, may not). */
static u32 pci_served(void)
{
	if (!pci_find_next_bus(NULL))
		return 0;
	return BIT(UPCALL_MSG_ADD_PCI) | BIT(UPCALL_MSG_DEL_PCI);
}

const struct upcall_backend upcall_pci_backend = {
	.name = "PCI",
	.add_type = UPCALL_MSG_ADD_PCI,
	.del_type = UPCALL_MSG_DEL_PCI,
	.served = pci_served,
	.add = pci_add,
	.del = pci_del,
	.exit = pci_backend_exit,
};

#endif /* UPCALL_HAVE_PCI_BACKEND */
