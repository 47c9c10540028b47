// SPDX-License-Identifier: MIT
/*
 * mmio-announce: a test-bed-only kernel module that announces one
 * virtio-mmio transport to the guest, as `virtio_mmio.device=SIZE@BASE:IRQ`
 * would if Debian's kernel had CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES.
 *
 * The microvm test guest boots with acpi=off and auto-kernel-cmdline=off,
 * so it discovers no virtio-mmio device at all; the bed uses this module
 * for its own network device only (the host<->guest path), and leaves the
 * other transports for the upcall module's ADD_MMIO to announce.
 *
 *   insmod mmio-announce.ko base=0xfeb00c00 size=0x200 irq=11
 */
#include <linux/err.h>
#include <linux/ioport.h>
#include <linux/module.h>
#include <linux/platform_device.h>

static unsigned long base;
module_param(base, ulong, 0444);
MODULE_PARM_DESC(base, "physical base of the virtio-mmio window");

static unsigned long size = 0x200;
module_param(size, ulong, 0444);
MODULE_PARM_DESC(size, "size of the window (default 0x200)");

static unsigned int irq;
module_param(irq, uint, 0444);
MODULE_PARM_DESC(irq, "the transport's interrupt (GSI)");

static struct platform_device *pdev;

static int __init mmio_announce_init(void)
{
	struct resource res[2] = {
		DEFINE_RES_MEM(base, size),
		DEFINE_RES_IRQ(irq),
	};
	struct platform_device_info info = {
		.name = "virtio-mmio",
		.id = PLATFORM_DEVID_AUTO,
		.res = res,
		.num_res = ARRAY_SIZE(res),
	};

	if (!base || !size || !irq || base + size < base)
		return -EINVAL;
	pdev = platform_device_register_full(&info);
	if (IS_ERR(pdev))
		return PTR_ERR(pdev);
	pr_info("mmio-announce: virtio-mmio at 0x%lx size 0x%lx irq %u\n",
		base, size, irq);
	return 0;
}

static void __exit mmio_announce_exit(void)
{
	platform_device_unregister(pdev);
}

module_init(mmio_announce_init);
module_exit(mmio_announce_exit);
MODULE_DESCRIPTION("upcall test bed: announce one virtio-mmio transport");
MODULE_LICENSE("Dual MIT/GPL");
