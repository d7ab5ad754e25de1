#!/bin/bash
# tests/san/build.sh KIND [make arguments...] - configure and build the
# tree once more in build/KIND with a sanitizer's flags, leaving the
# normal build alone. KIND is asan (ASan + UBSan + LSan, gcc), tsan
# (ThreadSanitizer, gcc) or fuzz (clang, libFuzzer's coverage, ASan +
# UBSan). The make arguments (targets, variables) are run there.
#
# Why a copy and not a plain VPATH build: the source tree is configured
# in place (./bootstrap), and automake refuses a VPATH build of a
# configured tree. So the tracked files (plus the generated configure
# and Makefile.in) are copied to build/KIND/src with their times, and
# configured there; a rebuild recompiles only what changed.
#
# Warnings are not errors here: the normal build gates them, and gcc at
# -O1 with a sanitizer warns of things it cannot see through (a variable
# set on the only path that reads it).
set -euo pipefail
kind=$1
shift
top=$(cd "$(dirname "$0")/../.." && pwd)
dir=$top/build/$kind
src=$dir/src
mkdir -p "$src"

case $kind in
asan)
	cc=gcc
	flags="-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined"
	ldflags="-fsanitize=address,undefined"
	extra="--enable-check --disable-werror"
	;;
tsan)
	cc=gcc
	flags="-g -O1 -fsanitize=thread"
	ldflags="-fsanitize=thread"
	extra="--enable-check --disable-werror"
	;;
fuzz)
	cc=clang
	flags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined"
	ldflags="-fsanitize=address,undefined"
	extra="--disable-check --disable-werror"
	flags="$flags -DFUZZ_LIBFUZZER"
	;;
*)
	echo "build.sh: unknown kind '$kind' (asan, tsan, fuzz)" >&2
	exit 2
	;;
esac

# The tracked files and what autoreconf generated, with their times.
cd "$top"
{
	if git rev-parse --git-dir >/dev/null 2>&1; then
		git ls-files --cached --others --exclude-standard
	else
		find . -path ./build -prune -o -type f -print
	fi
	ls configure Makefile.in aclocal.m4 autoconfig.h.in
	find build-aux m4 -type f 2>/dev/null
} | sort -u | while read -r f; do [ -e "$f" ] && printf '%s\n' "$f"; done |
	tar -cf - -T - | tar -xpf - -C "$src" 2>/dev/null || true
# configure checks the flags it gets: (re)configure when they changed or
# configure did.
stamp="$cc|$flags|$ldflags|$extra"
if [ ! -f "$src/config.status" ] || [ "$(cat "$dir/flags" 2>/dev/null)" != "$stamp" ] ||
	[ "$src/configure" -nt "$src/config.status" ]; then
	(cd "$src" && ./configure -q CC="$cc" CFLAGS="$flags" LDFLAGS="$ldflags" $extra)
	echo "$stamp" >"$dir/flags"
fi
cd "$src"
make -j2 "$@"
