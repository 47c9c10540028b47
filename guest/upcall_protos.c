// SPDX-License-Identifier: GPL-2.0
/*
 * Build-time check, compiled and never linked: the prototypes upcall.h
 * re-declares for symbols the kernel exports but declares only in private
 * headers must agree with the kernel's own.  Kbuild passes each private
 * header that the tree has (a kernel tree, or UPCALL_KSRC= out of tree;
 * Debian's linux-headers packages carry neither); a prototype that drifted
 * is then a "conflicting types" error here rather than a bad call at run
 * time.
 */
#include "upcall.h"

#ifdef UPCALL_PRIVATE_PCI_H
/* drivers/pci/pci.h: pci_hp_add_bridge() */
#include UPCALL_PRIVATE_PCI_H
#endif

/*
 * kernel/rcu/rcu.h: rcu_expedite_gp(), rcu_unexpedite_gp().  Tiny RCU
 * defines both inline there, as upcall.h does: nothing to compare.  The
 * header defines static variables for RCU's own files.
 */
#if defined(UPCALL_PRIVATE_RCU_H) && !defined(CONFIG_TINY_RCU)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-variable"
#include UPCALL_PRIVATE_RCU_H
#pragma GCC diagnostic pop
#endif
