#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# upcall-sys's hand-written declarations (bindings/rust/upcall-sys/src/lib.rs)
# must match the C headers, so that they cannot drift.  No bindgen, no
# crates, no cargo: a Perl script turns the Rust declarations back into C
# and the C compiler judges them against <upcall/upcall.h> and
# <upcall/wire.h>:
#
#   - every `pub fn` of the extern block: its type, as a pointer, must be
#     compatible with the C function's (same return and argument types,
#     const included): __builtin_types_compatible_p;
#   - the set of those functions is exactly the library's exported set
#     (libupcall.map, which check-symbols.sh ties to the header);
#   - every callback type (`Option<unsafe extern "C" fn ...>`) is
#     compatible with the C typedef, every integer alias has its size;
#   - every literal `pub const` equals the C constant (errno values too);
#   - `upcall_info` has the C struct's size, field offsets and types.
#
# Then it proves it would notice: a copy of lib.rs with one argument type
# changed must fail.  Run by make check (top_srcdir in the environment);
# RUST_SYS=FILE checks another file, without the self-test.
set -euo pipefail

top_srcdir=${top_srcdir:-$(dirname "$0")/..}
rs=${RUST_SYS:-$top_srcdir/bindings/rust/upcall-sys/src/lib.rs}
map=$top_srcdir/libupcall/libupcall.map
CC=${CC:-cc}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Rust -> C, on stdout; the names of the Rust functions in $tmp/fns.
translate() {
	perl -e '
use strict; use warnings;
my ($file, $fns) = @ARGV;
open(my $fh, "<", $file) or die "$file: $!\n";
my $src = do { local $/; <$fh> };
$src =~ s{//[^\n]*}{}g;              # comments (no "//" in a literal here)
$src =~ s/#\[cfg\(test\)\].*//s;      # the unit tests

my %prim = (c_int => "int", c_char => "char", c_void => "void",
	c_long => "long", u8 => "uint8_t", u16 => "uint16_t",
	u32 => "uint32_t", u64 => "uint64_t", i8 => "int8_t",
	i16 => "int16_t", i32 => "int32_t", i64 => "int64_t",
	usize => "size_t", isize => "ptrdiff_t", va_list => "va_list");

sub ctype {
	my ($t) = @_;
	$t =~ s/^\s+|\s+$//g;
	if ($t =~ /^\*mut\s+(.*)$/s) { return ctype($1) . " *"; }
	if ($t =~ /^\*const\s+(.*)$/s) {
		my $in = ctype($1);
		return $in =~ /\*$/ ? "$in const *" : "const $in *";
	}
	if ($t =~ /^Option<\s*unsafe\s+extern\s+"C"\s+fn\s*\((.*)\)\s*(?:->\s*(.*?))?\s*,?\s*>$/s) {
		return fnptr($1, $2);
	}
	return $prim{$t} if exists $prim{$t};
	return $t if $t =~ /^upcall_\w+$/;
	die "check-rust-sys: no C type for Rust type \"$t\"\n";
}

# Split "a: T, b: U" at the commas outside <> and ().
sub params {
	my ($list) = @_;
	my (@out, $cur, $depth);
	($cur, $depth) = ("", 0);
	for my $c (split //, $list) {
		$depth++ if $c eq "<" || $c eq "(";
		$depth-- if $c eq ">" || $c eq ")";
		if ($c eq "," && $depth == 0) { push @out, $cur; $cur = ""; next; }
		$cur .= $c;
	}
	push @out, $cur;
	my @types;
	for my $p (@out) {
		next if $p =~ /^\s*$/;
		$p =~ /^\s*\w+\s*:\s*(.*)$/s or die "check-rust-sys: bad parameter \"$p\"\n";
		push @types, ctype($1);
	}
	return @types ? join(", ", @types) : "void";
}

sub fnptr {
	my ($args, $ret) = @_;
	my $r = defined $ret && $ret ne "" ? ctype($ret) : "void";
	return "$r (*)(" . params($args) . ")";
}

sub literal {
	my ($v) = @_;
	$v =~ s/^\s+|\s+$//g;
	return "\x27$1\x27" if $v =~ /^b\x27(.)\x27$/;
	return undef unless $v =~ /^-?(0x[0-9a-fA-F_]+|[0-9_]+)$/;
	$v =~ s/_//g;
	return $v;
}

print "#include <errno.h>\n#include <stdarg.h>\n#include <stddef.h>\n",
	"#include <stdint.h>\n#include <upcall/upcall.h>\n#include <upcall/wire.h>\n\n",
	"#define SAME(a, b, what) _Static_assert(__builtin_types_compatible_p(a, b), what)\n\n";

# Functions.
$src =~ /extern\s+"C"\s*\{(.*?)\n\}/s or die "check-rust-sys: no extern \"C\" block\n";
my $ext = $1;
$ext =~ s/#\[[^\]]*\]//g;
open(my $out, ">", $fns) or die "$fns: $!\n";
my $n = 0;
while ($ext =~ /pub\s+fn\s+(\w+)\s*\((.*?)\)\s*(?:->\s*([^;]+?))?\s*;/gs) {
	my ($name, $args, $ret) = ($1, $2, $3);
	my $t = fnptr($args, $ret);
	(my $decl = "fn $name($args)" . (defined $ret ? " -> $ret" : "")) =~ s/\s+/ /g;
	$decl =~ s/"/\\"/g;
	print "SAME(__typeof__(&$name), $t, \"$decl\");\n";
	print $out "$name\n";
	$n++;
}
close $out;
die "check-rust-sys: no function found\n" unless $n;

# Types: callbacks by compatibility, integer aliases by size.
while ($src =~ /pub\s+type\s+(upcall_\w+)\s*=\s*(.*?);/gs) {
	my ($name, $t) = ($1, $2);
	my $c = ctype($t);
	my $cname = $src =~ /\benum\s+$name\b/ || $name =~ /^upcall_(msg_type|mem_policy|cpu_mode|guest_arch)$/
		? "enum $name" : $name;
	if ($c =~ /\(\*\)/) {
		print "SAME($cname, $c, \"type $name\");\n";
	} else {
		print "_Static_assert(sizeof($cname) == sizeof($c), \"type $name: size\");\n";
	}
}

# Constants with a literal value.
while ($src =~ /pub\s+const\s+(\w+)\s*:\s*[\w:]+\s*=\s*([^;]+);/g) {
	my ($name, $v) = ($1, $2);
	my $c = literal($v);
	next unless defined $c;
	print "_Static_assert(($name) == ($c), \"const $name = $v\");\n";
}

# #[repr(C)] structs: a mirror, compared field by field.
while ($src =~ /#\[repr\(C\)\][^{]*?pub\s+struct\s+(upcall_\w+)\s*\{(.*?)\}/gs) {
	my ($name, $body) = ($1, $2);
	next if $body =~ /_data\s*:/;   # an opaque handle
	my @f;
	while ($body =~ /pub\s+(\w+)\s*:\s*([^,]+),/g) {
		my ($f, $t) = ($1, $2);
		if ($t =~ /^\[\s*(.*?)\s*;\s*(\d+)\s*\]$/) {
			push @f, [$f, ctype($1) . " $f\[$2\]"];
		} else {
			push @f, [$f, ctype($t) . " $f"];
		}
	}
	print "struct rs_$name {\n", map({ "\t$_->[1];\n" } @f), "};\n";
	print "_Static_assert(sizeof(struct rs_$name) == sizeof($name), \"struct $name: size\");\n";
	for (@f) {
		my $f = $_->[0];
		print "_Static_assert(offsetof(struct rs_$name, $f) == offsetof($name, $f), \"struct $name: offset of $f\");\n";
		print "SAME(__typeof__(((struct rs_$name *)0)->$f), __typeof__((($name *)0)->$f), \"struct $name: type of $f\");\n";
	}
}
' "$1" "$2"
}

# Compile the translation of $1; 0 if it matches the headers.
check() {
	: >"$tmp/cc.log"
	translate "$1" "$tmp/fns" >"$tmp/check.c" 2>"$tmp/cc.log" || return 2
	"$CC" -std=gnu11 -fsyntax-only -I"$top_srcdir/libupcall" "$tmp/check.c" \
		2>"$tmp/cc.log" || return 1
	# The exported functions, as check-symbols.sh reads the map.
	sed -e 's,/\*.*\*/,,g' "$map" | awk '
		/\{/ { in_node = 1 }  /^[ \t]*local:/ { in_node = 0 }
		in_node { gsub(/[ \t;]/, ""); if ($0 ~ /^upcall_[a-z0-9_]+$/) print }' |
		sort -u >"$tmp/map"
	sort -u "$tmp/fns" >"$tmp/rust"
	if ! diff -u --label libupcall.map --label upcall-sys "$tmp/map" "$tmp/rust" \
		>"$tmp/cc.log"; then
		return 1
	fi
}

rc=0
check "$rs" || rc=$?
if [ $rc -ne 0 ]; then
	echo "check-rust-sys: $rs does not match the C headers:" >&2
	grep -E 'error|^[-+]upcall' "$tmp/cc.log" | sed 's/^/  /' >&2 || cat "$tmp/cc.log" >&2
	exit 1
fi
echo "check-rust-sys: $(wc -l <"$tmp/fns") functions, the callback types, constants and upcall_info match"
[ -n "${RUST_SYS:-}" ] && exit 0

# Self-test: drift in one argument type, one constant, one missing function.
drift() {
	sed -e "$1" "$rs" >"$tmp/drift.rs"
	if cmp -s "$rs" "$tmp/drift.rs"; then
		echo "check-rust-sys: self-test: \"$1\" changed nothing" >&2; exit 1
	fi
	if check "$tmp/drift.rs"; then
		echo "check-rust-sys: self-test: drift \"$1\" not caught" >&2; exit 1
	fi
}
drift 's/upcall_session_set_port(session: \*mut upcall_session, port: u32)/upcall_session_set_port(session: *mut upcall_session, port: u64)/'
drift 's/pub const UPCALL_MSG_GET_INFO: upcall_msg_type = 0x100;/pub const UPCALL_MSG_GET_INFO: upcall_msg_type = 0x101;/'
drift '/pub fn upcall_request_get_floating/d'
drift 's/pub cpu_mode: u32,/pub cpu_mode: u16,/'
echo "check-rust-sys: self-test: 4 deliberate drifts caught"
