#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# jury-rig.sh KERNEL_TREE: for development, make KERNEL_TREE build the
# upcall guest server from this checkout: drivers/virt/upcall becomes a
# symbolic link to guest/, and drivers/virt/Kconfig and Makefile get the
# two lines create-patch.sh would add.  An edit in guest/ is then in the
# next kernel build.  Run it again after moving the checkout; undo with
# `rm drivers/virt/upcall` and `git checkout drivers/virt` (or patch -R
# with `create-patch.sh --glue`).
set -eu

guest=$(cd "$(dirname "$0")/.." && pwd)

[ $# -eq 1 ] || { echo "usage: jury-rig.sh KERNEL_TREE" >&2; exit 2; }
tree=$(cd "$1" && pwd)
[ -f "$tree/drivers/virt/Kconfig" ] && [ -f "$tree/drivers/virt/Makefile" ] ||
	{ echo "jury-rig.sh: $tree is not a kernel tree with drivers/virt" >&2; exit 1; }

link=$tree/drivers/virt/upcall
if [ -e "$link" ] && [ ! -L "$link" ]; then
	echo "jury-rig.sh: $link exists and is not a link (a patched tree?)" >&2
	exit 1
fi
ln -sfn "$guest" "$link"

if grep -q 'drivers/virt/upcall/Kconfig' "$tree/drivers/virt/Kconfig"; then
	echo "jury-rig.sh: $tree already hooks drivers/virt/upcall"
else
	"$guest/scripts/create-patch.sh" --glue | patch -d "$tree" -p1 --fuzz 0 -s
	echo "jury-rig.sh: $tree builds the server from $guest (CONFIG_UPCALL_GUEST)"
fi
