# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# The guest kernels of the test bed: Debian's kernel packages of a series,
# unpacked into the cache, and the guest module built against them.
# Sourced by boot-guest and check-module-matrix, which set `cache` and
# define msg and die.
#
#   6.1    bookworm                 built with the host's gcc
#   6.12   bookworm-security        built with the host's gcc
#   7.x    trixie-backports         built in a trixie chroot (its headers
#                                   want trixie's gcc and libc)
#   6.1-builtin, 6.12-builtin       built here from Debian's linux-source
#                                   with the server built in, no modules
#
# Each series comes for amd64 and arm64 (the flavour names the
# architecture: amd64, cloud-amd64, arm64, cloud-arm64).  arm64 modules are
# cross-built: Debian's arm64 headers with the host's linux-kbuild tools of
# the same version and gcc-aarch64-linux-gnu (in the chroot for 7.x).
#
# Everything is cached by what it is made from: a kernel's packages by
# their version, the chroot by the package list it is made of, a module
# by the hash of guest/ and the kernel it is for.

# What the trixie chroot is made of; its cache key.
readonly TRIXIE_PKGS=gcc,make,libc6-dev,bc,bison,flex,libelf-dev,libssl-dev,dwarves,xz-utils
readonly TRIXIE_MIRROR=http://deb.debian.org/debian

# kernel_series_ok SERIES: 6.1, 6.12, 7.x (the newest 7), or 7.N; or
# 6.1-builtin, 6.12-builtin (kernel_builtin)
kernel_series_ok() {
	[[ $1 =~ ^(6\.1|6\.12|7\.x|7\.[0-9]+|6\.1-builtin|6\.12-builtin)$ ]]
}

# kernel_is_builtin SERIES: whether SERIES is a kernel with the server
# built in
kernel_is_builtin() {
	[[ $1 == *-builtin ]]
}

# kernel_in_trixie SERIES: whether SERIES comes from trixie (the chroot)
kernel_in_trixie() {
	[[ $1 == 7.* ]]
}

# The trixie chroot, made once: sets TRIXIE_ROOT.
trixie_root() {
	local key tmp
	key=$(echo "trixie $TRIXIE_PKGS backports" | sha256sum | cut -c1-12)
	TRIXIE_ROOT=$cache/trixie-$key
	[ -f "$TRIXIE_ROOT/.done" ] && return 0
	[ "$(id -u)" -eq 0 ] || die "making the trixie chroot for 7.x kernels needs root"
	command -v debootstrap >/dev/null || die "debootstrap is missing (apt-get install debootstrap)"
	msg "making a trixie chroot for 7.x kernels (debootstrap, a few minutes)"
	rm -rf "$TRIXIE_ROOT"
	tmp=$(mktemp -d "$cache/tmp.XXXXXX")
	chmod 755 "$tmp"
	debootstrap --variant=minbase --include="$TRIXIE_PKGS" trixie "$tmp/root" \
		"$TRIXIE_MIRROR" >"$tmp/debootstrap.log" 2>&1 ||
		{ tail -20 "$tmp/debootstrap.log" >&2; die "debootstrap trixie failed (log: $tmp)"; }
	echo "deb $TRIXIE_MIRROR trixie-backports main" \
		>"$tmp/root/etc/apt/sources.list.d/backports.list"
	chroot "$tmp/root" apt-get update -qq >"$tmp/update.log" 2>&1 ||
		{ tail -20 "$tmp/update.log" >&2; die "apt-get update in the trixie chroot failed"; }
	mv "$tmp/root" "$TRIXIE_ROOT"
	rm -rf "$tmp"
	touch "$TRIXIE_ROOT/.done"
}

# The trixie chroot, able to cross-build arm64 modules (arm64 package
# lists, gcc-aarch64-linux-gnu): added to it once.
trixie_cross() {
	trixie_root
	[ -f "$TRIXIE_ROOT/.cross-arm64" ] && return 0
	msg "adding the arm64 cross compiler to the trixie chroot"
	{
		chroot "$TRIXIE_ROOT" dpkg --add-architecture arm64 &&
			chroot "$TRIXIE_ROOT" apt-get update -qq &&
			chroot "$TRIXIE_ROOT" env DEBIAN_FRONTEND=noninteractive \
				apt-get install -y -qq --no-install-recommends gcc-aarch64-linux-gnu
	} >"$TRIXIE_ROOT/cross.log" 2>&1 ||
		{ tail -20 "$TRIXIE_ROOT/cross.log" >&2; die "cannot add gcc-aarch64-linux-gnu to the trixie chroot"; }
	touch "$TRIXIE_ROOT/.cross-arm64"
}

# kernel_arch KVER: the Debian architecture of a kernel release
kernel_arch() {
	case $1 in
	*-arm64) echo arm64 ;;
	*) echo amd64 ;;
	esac
}

# kernel_flavourless KVER: KVER without its flavour (6.1.0-57, 6.12.118+deb12)
kernel_flavourless() {
	sed -E 's/-(cloud-)?(amd64|arm64)$//' <<<"$1"
}

# in_trixie CMD...: run CMD in the chroot, with /proc (objtool needs it)
# mounted in a private mount namespace that ends with the command
in_trixie() {
	unshare --mount --propagation private sh -c \
		'mount --bind /proc "$0/proc" && exec chroot "$0" "$@"' "$TRIXIE_ROOT" "$@"
}

# kernel_apt SERIES CMD...: apt-cache or apt-get for SERIES' suite
kernel_apt() {
	local series=$1
	shift
	if kernel_in_trixie "$series"; then
		trixie_root
		chroot "$TRIXIE_ROOT" "$@"
	else
		"$@"
	fi
}

# kernel_newest SERIES RE: the highest version (group 1 of RE, an ERE for
# a whole headers package name) that SERIES' package lists know
kernel_newest() {
	kernel_apt "$1" apt-cache search --names-only "$2" 2>/dev/null |
		awk '{ print $1 }' | sed -E "s/$2/\\1/" | sort -V | tail -1
}

# kernel_resolve SERIES [FLAVOUR]: the newest Debian kernel release of
# SERIES (FLAVOUR amd64, the default, cloud-amd64, arm64 or cloud-arm64);
# sets KVER
kernel_resolve() {
	local series=$1 flavour=${2:-amd64} re
	kernel_series_ok "$series" || die "unknown kernel series '$series' (6.1, 6.12, 7.x or 7.N)"
	case $series in
	6.1) re='6\.1\.0-[0-9]+' ;;
	6.12) re='6\.12\.[0-9]+\+deb12' ;;
	7.x) re='7\.[0-9]+\.[0-9]+\+deb13' ;;
	7.*) re="${series//./\\.}\\.[0-9]+\\+deb13" ;;
	esac
	re="^linux-headers-($re-$flavour)\$"
	# Made here, not in the command substitutions below.
	if kernel_in_trixie "$series"; then
		trixie_root
		[[ $flavour != *arm64 ]] || trixie_cross
	fi
	KVER=$(kernel_newest "$series" "$re")
	if [ -z "$KVER" ] && [ "$(id -u)" -eq 0 ]; then
		kernel_apt "$series" apt-get update -qq >/dev/null 2>&1 || true
		KVER=$(kernel_newest "$series" "$re")
	fi
	[ -n "$KVER" ] || die "no Debian kernel of series $series ($flavour) in the package lists"
}

# kernel_download SERIES DIR PACKAGE...: fetch .debs into DIR (for 7.x
# by the chroot's apt, into a directory inside it first)
kernel_download() {
	local series=$1 dir=$2 at host_at
	shift 2
	at=$dir
	host_at=$dir
	if kernel_in_trixie "$series"; then
		trixie_root
		at=/tmp/dl.$$
		host_at=$TRIXIE_ROOT$at
		rm -rf "$host_at"
		mkdir -p "$host_at"
	fi
	chmod 777 "$host_at" # apt-get download drops privileges to _apt
	kernel_apt "$series" sh -c 'cd "$0" && apt-get download -q "$@"' "$at" "$@" \
		>"$dir/download.log" 2>&1 ||
		{ cat "$dir/download.log" >&2; die "cannot download $*"; }
	if [ "$host_at" != "$dir" ]; then
		mv "$host_at"/*.deb "$dir/"
		rm -rf "$host_at"
	fi
}

# kernel_image SERIES KVER: vmlinuz, config and modules (decompressed:
# the guest's busybox insmod takes plain .ko files) in $cache/kernel-KVER
kernel_image() {
	local series=$1 kver=$2 kroot=$cache/kernel-$2 tmp f
	[ -f "$kroot/.done" ] && return 0
	msg "downloading linux-image-$kver"
	rm -rf "$kroot"
	tmp=$(mktemp -d "$cache/tmp.XXXXXX")
	# From 7.x Debian splits the image into binary, modules and base
	# packages under /usr/lib/modules; the image package depends on them.
	local arch pkgs=() p
	arch=$(kernel_arch "$kver")
	if [ "$arch" = arm64 ] && kernel_in_trixie "$series"; then trixie_cross; fi
	for p in linux-image linux-binary linux-modules linux-base; do
		kernel_apt "$series" apt-cache show "$p-$kver:$arch" >/dev/null 2>&1 &&
			pkgs+=("$p-$kver:$arch")
	done
	kernel_download "$series" "$tmp" "${pkgs[@]}"
	for f in "$tmp"/*.deb; do dpkg -x "$f" "$tmp/x"; done
	local mods=$tmp/x/lib/modules
	[ -d "$tmp/x/usr/lib/modules/$kver" ] && mods=$tmp/x/usr/lib/modules
	mkdir -p "$kroot/lib"
	for f in "$tmp/x/boot/vmlinuz-$kver" "$mods/$kver/vmlinuz"; do
		[ -f "$f" ] && mv "$f" "$kroot/vmlinuz"
	done
	for f in "$tmp/x/boot/config-$kver" "$mods/$kver/config"; do
		[ -f "$f" ] && mv "$f" "$kroot/config"
	done
	[ -f "$kroot/vmlinuz" ] || die "linux-image-$kver: no vmlinuz found"
	mv "$mods" "$kroot/lib/modules"
	rm -rf "$tmp"
	while IFS= read -r -d '' f; do
		case $f in
		*.xz) xz -d "$f" ;;
		*.zst) zstd -q -d --rm "$f" ;;
		esac
	done < <(find "$kroot/lib/modules" -name '*.ko.xz' -print0 -o -name '*.ko.zst' -print0)
	# The package leaves modules.dep to its postinst; make it here.
	if command -v depmod >/dev/null; then
		depmod -b "$kroot" "$kver"
	else
		busybox depmod -b "$kroot" "$kver"
	fi
	touch "$kroot/.done"
}

# kernel_headers SERIES KVER: the headers to build modules against,
# unpacked (not installed: that would pull in the kernel image); sets KDIR
# (a path inside the chroot for 7.x)
kernel_headers() {
	local series=$1 kver=$2 root tmp common kbuild arch f
	arch=$(kernel_arch "$kver")
	common=$(kernel_flavourless "$kver")-common
	# The build tools run here: the host's (or chroot's) architecture
	kbuild=linux-kbuild-$(kernel_flavourless "$kver")
	# 6.1's kbuild package is per series: linux-kbuild-6.1
	[[ $kver == 6.1.0-* ]] && kbuild=linux-kbuild-6.1
	if kernel_in_trixie "$series"; then
		trixie_root
		root=$TRIXIE_ROOT
		KDIR=/usr/src/linux-headers-$kver
		[ -f "$root/usr/src/.done-$kver" ] && return 0
	else
		root=$cache/headers-$kver
		KDIR=$root/usr/src/linux-headers-$kver
		[ -f "$root/.done" ] && return 0
		rm -rf "$root"
	fi
	msg "downloading linux-headers-$kver"
	tmp=$(mktemp -d "$cache/tmp.XXXXXX")
	kernel_download "$series" "$tmp" "linux-headers-$kver:$arch" "linux-headers-$common" "$kbuild"
	for f in "$tmp"/*.deb; do dpkg -x "$f" "$root"; done
	rm -rf "$tmp"
	if kernel_in_trixie "$series"; then
		touch "$root/usr/src/.done-$kver"
	else
		# Its Makefile includes the common half by absolute path.
		sed -i "s|^include /usr/src/|include $root/usr/src/|" "$KDIR/Makefile"
		touch "$root/.done"
	fi
}

# kernel_sources DIR: the files of an out-of-tree module source in DIR,
# symlinks followed, build products left out (NUL-separated, sorted)
kernel_sources() {
	(cd "$1" && find -L . -type f \( -name '*.[ch]' -o -name Kbuild -o -name Makefile \) \
		! -name '*.mod.c' -print0 | LC_ALL=C sort -z)
}

# kernel_module SERIES KVER NAME SRCDIR [MAKE ARGS...]: NAME.ko built for
# KVER from a copy of SRCDIR's sources (symlinks resolved, as DKMS gets
# them); sets MODULE_KO and MODULE_LOG (the build's output).  Built once
# per source and kernel; with MAKE ARGS (W=1) always built.
kernel_module() {
	local series=$1 kver=$2 name=$3 src=$4 key dir host_dir
	shift 4
	kernel_headers "$series" "$kver"
	key=$( (cd "$src" && kernel_sources . | xargs -0 cat; echo "$kver $*"
		[ -z "${MODULE_KSRC:-}" ] || find "$MODULE_KSRC" -type f -print0 |
			sort -z | xargs -0 cat) |
		sha256sum | cut -c1-16)
	MODULE_KO=$cache/modules/$name-$kver-$key.ko
	MODULE_LOG=$cache/modules/$name-$kver-$key.log
	[ $# -eq 0 ] && [ -f "$MODULE_KO" ] && return 0
	mkdir -p "$cache/modules"
	if kernel_in_trixie "$series"; then
		dir=/build/$name-$kver.$$
		host_dir=$TRIXIE_ROOT$dir
	else
		dir=$cache/build-$name-$kver.$$
		host_dir=$dir
	fi
	rm -rf "$host_dir"
	mkdir -p "$host_dir"
	kernel_sources "$src" | (cd "$src" && cpio -0 -pdmL --quiet "$host_dir")
	local rc=0 cross=() ksrc=()
	# MODULE_KSRC: a partial kernel source tree whose private headers the
	# build reads (guest/Kbuild's UPCALL_KSRC), copied in so that a
	# chroot build sees it too
	if [ -n "${MODULE_KSRC:-}" ]; then
		cp -r "$MODULE_KSRC" "$host_dir/.ksrc"
		ksrc=(UPCALL_KSRC="$dir/.ksrc")
	fi
	[ "$(kernel_arch "$kver")" = arm64 ] && cross=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
	if kernel_in_trixie "$series"; then
		in_trixie make -C "$KDIR" M="$dir" "${cross[@]}" "${ksrc[@]}" "$@" modules >"$MODULE_LOG" 2>&1 || rc=$?
	else
		make -C "$KDIR" M="$dir" "${cross[@]}" "${ksrc[@]}" "$@" modules >"$MODULE_LOG" 2>&1 || rc=$?
	fi
	[ $rc -eq 0 ] && mv "$host_dir/$name.ko" "$MODULE_KO"
	rm -rf "$host_dir"
	return $rc
}

# kernel_module_cpu_mode KO: the vCPU mode upcall.ko was built with:
# hotadd where it imports arch_register_cpu (guest/upcall_compat.h),
# parked elsewhere (arm64 always).  grep reads all of nm's output: with pipefail, an
# early exit (grep -q) would fail the pipeline now and then.
kernel_module_cpu_mode() {
	if nm -u "$1" | grep -w arch_register_cpu >/dev/null; then
		echo hotadd
	else
		echo parked
	fi
}

# kernel_pkg_version SERIES PKG: the candidate version of PKG in SERIES'
# package lists, or nothing
kernel_pkg_version() {
	kernel_apt "$1" apt-cache show --no-all-versions "$2" 2>/dev/null |
		sed -n 's/^Version: //p'
}

# kernel_source_pkg SERIES: Debian's kernel source package of SERIES and
# its version: sets SRC_PKG (linux-source-N.M) and SRC_VER
kernel_source_pkg() {
	local series=${1%-builtin} n
	n=$series
	if [[ $series == 7.* ]]; then
		kernel_resolve "$series"
		n=$(sed -E 's/^([0-9]+\.[0-9]+).*/\1/' <<<"$KVER")
	fi
	SRC_PKG=linux-source-$n
	SRC_VER=$(kernel_pkg_version "$series" "$SRC_PKG")
	if [ -z "$SRC_VER" ] && [ "$(id -u)" -eq 0 ]; then
		kernel_apt "$series" apt-get update -qq >/dev/null 2>&1 || true
		SRC_VER=$(kernel_pkg_version "$series" "$SRC_PKG")
	fi
	[ -n "$SRC_VER" ] || die "no $SRC_PKG in the package lists"
}

# kernel_source SERIES DIR [PATH...]: unpack Debian's kernel source of
# SERIES (only PATHs of it, if given) into DIR/linux-source-N.M
kernel_source() {
	local series=$1 dir=$2 tmp
	shift 2
	kernel_source_pkg "$series"
	tmp=$(mktemp -d "$cache/tmp.XXXXXX")
	kernel_download "${series%-builtin}" "$tmp" "$SRC_PKG=$SRC_VER"
	dpkg-deb --fsys-tarfile "$tmp"/"$SRC_PKG"_*.deb |
		tar -xOf - "./usr/src/$SRC_PKG.tar.xz" |
		tar -xJf - -C "$dir" "${@/#/$SRC_PKG/}" ||
		die "cannot unpack $SRC_PKG $SRC_VER"
	rm -rf "$tmp"
}

# kernel_builtin SERIES: a kernel built from Debian's linux-source-N (N:
# SERIES without -builtin) patched by guest/scripts/create-patch.sh, with
# x86_64_defconfig + kvm_guest.config + guest/upcall.config +
# tests/vm/builtin.config + tests/vm/kunit.config: the server and its
# KUnit suite built in, CONFIG_MODULES unset.
# Sets BUILTIN_DIR, which holds bzImage, config, release (the kernel
# release) and build.log (its last line: the seconds the build took).
# Built once per source version, patch, fragments and compiler.
kernel_builtin() {
	local series=${1%-builtin} vm top_dir patch ver key tmp tree out t f
	vm=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	top_dir=$(cd "$vm/../.." && pwd)
	[[ $series == 6.1 || $series == 6.12 ]] ||
		die "no built-in kernel for series '$series' (6.1 or 6.12)"
	kernel_source_pkg "$series"
	ver=$SRC_VER
	patch=$("$top_dir/guest/scripts/create-patch.sh") ||
		die "guest/scripts/create-patch.sh failed"
	key=$( (echo "linux-source-$series $ver"; echo "$patch"
		cat "$top_dir/guest/upcall.config" "$vm/builtin.config" "$vm/kunit.config"
		gcc --version | head -1) | sha256sum | cut -c1-16)
	BUILTIN_DIR=$cache/builtin-$series-$key
	[ -f "$BUILTIN_DIR/.done" ] && return 0

	msg "building Linux $ver with the server built in (no modules; 12-18 min on 2 cores, once)"
	tmp=$(mktemp -d "$cache/tmp.XXXXXX")
	kernel_source "$series" "$tmp"
	tree=$tmp/linux-source-$series
	out=$tmp/out
	echo "$patch" | (cd "$tree" && patch -p1 --fuzz 0 -s) ||
		die "the generated patch does not apply to linux-source-$series $ver"
	t=$SECONDS
	{
		make -C "$tree" O="$out" x86_64_defconfig &&
			"$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
				"$tree/kernel/configs/kvm_guest.config" \
				"$top_dir/guest/upcall.config" "$vm/builtin.config" \
				"$vm/kunit.config" &&
			make -C "$tree" O="$out" olddefconfig
	} >"$tmp/config.log" 2>&1 ||
		{ tail -20 "$tmp/config.log" >&2; die "configuring linux-source-$series failed"; }
	# What the fragments turn on must be on: a dependency they miss would
	# drop it silently.
	while IFS= read -r f; do
		grep -qxF "$f" "$out/.config" ||
			die "linux-source-$series: $f requested but not in the final config (log: $tmp/config.log)"
	done < <(cat "$top_dir/guest/upcall.config" "$vm/builtin.config" "$vm/kunit.config" |
		grep -E '^CONFIG_[A-Z0-9_]+=y$')
	! grep -q '^CONFIG_MODULES=y' "$out/.config" || die "linux-source-$series: CONFIG_MODULES is still set"
	make -C "$tree" O="$out" -j"$(nproc)" bzImage >"$tmp/build.log" 2>&1 ||
		{ tail -30 "$tmp/build.log" >&2; die "building linux-source-$series failed (log: $tmp/build.log)"; }
	# The server's own code builds without a warning, in a tree as out of it
	if grep -E '^([^ :]*/)?drivers/virt/upcall/[^ :]+:[0-9]+(:[0-9]+)?: (warning|error):' \
		"$tmp/build.log" >&2; then
		die "linux-source-$series: warnings in drivers/virt/upcall (log: $tmp/build.log)"
	fi
	echo "built in $((SECONDS - t)) s on $(nproc) CPUs" >>"$tmp/build.log"
	rm -rf "$BUILTIN_DIR"
	mkdir -p "$BUILTIN_DIR"
	mv "$out/arch/x86/boot/bzImage" "$BUILTIN_DIR/bzImage"
	mv "$out/.config" "$BUILTIN_DIR/config"
	mv "$out/include/config/kernel.release" "$BUILTIN_DIR/release"
	mv "$tmp/config.log" "$tmp/build.log" "$BUILTIN_DIR/"
	rm -rf "$tmp"
	touch "$BUILTIN_DIR/.done"
	msg "built $(cat "$BUILTIN_DIR/release") in $((SECONDS - t)) s"
}

# kernel_builtin_arm64 SERIES: compile the built-in server for arm64 in
# Debian's linux-source of SERIES (6.1 or 6.12) patched by
# create-patch.sh: arm64 defconfig + guest/upcall.config + kunit.config
# (the server's KUnit suite compiles too), then only
# drivers/virt/upcall/ (and what it needs), cross-built; a warning there
# fails.  Sets BUILTIN_LOG.  Done once per source version, patch, fragment
# and cross compiler (a marker in the cache); returns non-zero on failure.
kernel_builtin_arm64() {
	local series=${1%-builtin} vm top_dir patch key tmp tree out t f done_file
	vm=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	top_dir=$(cd "$vm/../.." && pwd)
	[[ $series == 6.1 || $series == 6.12 ]] ||
		die "no built-in arm64 check for series '$series' (6.1 or 6.12)"
	kernel_source_pkg "$series"
	patch=$("$top_dir/guest/scripts/create-patch.sh") ||
		die "guest/scripts/create-patch.sh failed"
	key=$( (echo "linux-source-$series $SRC_VER arm64"; echo "$patch"
		cat "$top_dir/guest/upcall.config" "$vm/kunit.config"
		aarch64-linux-gnu-gcc --version | head -1) | sha256sum | cut -c1-16)
	done_file=$cache/builtin-arm64-$series-$key.log
	BUILTIN_LOG=$done_file
	[ -f "$done_file" ] && return 0

	msg "compiling the built-in server for arm64 in linux-source-$series (a few minutes, once)"
	tmp=$(mktemp -d "$cache/tmp.XXXXXX")
	BUILTIN_LOG=$tmp/build.log
	kernel_source "$series" "$tmp"
	tree=$tmp/linux-source-$series
	out=$tmp/out
	echo "$patch" | (cd "$tree" && patch -p1 --fuzz 0 -s) ||
		{ echo "the patch does not apply" >"$BUILTIN_LOG"; return 1; }
	t=$SECONDS
	local mk=(make -C "$tree" O="$out" ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
	if ! {
		"${mk[@]}" defconfig &&
			"$tree/scripts/kconfig/merge_config.sh" -m -O "$out" "$out/.config" \
				"$top_dir/guest/upcall.config" "$vm/kunit.config" &&
			"${mk[@]}" olddefconfig &&
			grep -qx 'CONFIG_UPCALL_GUEST=y' "$out/.config" &&
			grep -qx 'CONFIG_UPCALL_GUEST_KUNIT_TEST=y' "$out/.config" &&
			"${mk[@]}" -j"$(nproc)" drivers/virt/upcall/
	} >"$BUILTIN_LOG" 2>&1; then
		return 1
	fi
	[ -f "$out/drivers/virt/upcall/built-in.a" ] || return 1
	if grep -E '^([^ :]*/)?drivers/virt/upcall/[^ :]+:[0-9]+(:[0-9]+)?: (warning|error):' \
		"$BUILTIN_LOG" >&2; then
		return 1
	fi
	echo "compiled in $((SECONDS - t)) s on $(nproc) CPUs" >>"$BUILTIN_LOG"
	mv "$BUILTIN_LOG" "$done_file"
	BUILTIN_LOG=$done_file
	rm -rf "$tmp"
}
