/* SPDX-License-Identifier: GPL-2.0 */
/*
 * upcall guest server: the kernel interfaces that moved between the
 * kernels the module supports (6.1 to 7.x).  Everything that depends on
 * the kernel's version or configuration lives here, so the rest of the
 * code is written against one API.
 *
 * A version number would lie (distribution kernels backport, and what a
 * module may call is what the kernel exports), so Kbuild tests the kernel
 * itself and passes UPCALL_HAVE_* (see Kbuild).  Should a change ever be
 * found that no header or export shows, a LINUX_VERSION_CODE check goes
 * here, and nowhere else.
 */
#ifndef _UPCALL_COMPAT_H
#define _UPCALL_COMPAT_H

#include <linux/irqnr.h>
#include <linux/net.h>
#include <linux/socket.h>

/*
 * True vCPU hot-add needs acpi_map_cpu() and arch_register_cpu(); the
 * latter is exported only until 6.7 (6.8 moved x86 to
 * GENERIC_CPU_DEVICES, and 6.9 fixed x86 CPU numbers at boot), so Kbuild
 * looks for it in Module.symvers.  Without it the module onlines and
 * offlines vCPUs that were present at boot (UPCALL_CPU_MODE_PARKED).
 *
 * Built into the kernel (MODULE undefined) the server may call what is
 * not exported: arch_register_cpu() exists on every kernel with CPU
 * hotplug, so the built-in server always hot-adds.  This is the one place
 * where the two builds differ (guest/README.md, "Built in").
 */
#ifndef MODULE
#define UPCALL_HAVE_ARCH_REGISTER_CPU 1
#endif
#if defined(CONFIG_X86_64) && defined(CONFIG_ACPI_HOTPLUG_CPU) && \
	defined(UPCALL_HAVE_ARCH_REGISTER_CPU)
#define UPCALL_CPU_HOTADD 1
#endif

/* The highest interrupt number plus one: a variable until 6.12. */
static inline unsigned int upcall_nr_irqs(void)
{
#ifdef UPCALL_HAVE_IRQ_GET_NR_IRQS
	return irq_get_nr_irqs();
#else
	return nr_irqs;
#endif
}

/* 6.19 gave proto_ops->bind a struct sockaddr_unsized. */
static inline int upcall_kernel_bind(struct socket *sock, void *addr,
				     int addrlen)
{
#ifdef UPCALL_HAVE_SOCKADDR_UNSIZED
	return kernel_bind(sock, (struct sockaddr_unsized *)addr, addrlen);
#else
	return kernel_bind(sock, (struct sockaddr *)addr, addrlen);
#endif
}

#endif /* _UPCALL_COMPAT_H */
