#!/usr/bin/env bash
# layering.sh - the rules of the tree that the compiler cannot see (the
# per-target include paths of Makefile.am enforce the rest: a core file
# that includes a door's header does not build). HACKING explains them.
#
#   every .c includes "autoconfig.h" before anything else;
#   only web/web.c includes <civetweb.h>, only fs/fs.c includes <fuse.h>;
#   the core (src/) uses no socket calls: sockets belong to the doors;
#   the scripts a person runs by name (.ci/run) are executable.
set -u
cd "${top_srcdir:-.}" || exit 1
fail=0
bad() { echo "FAIL: $*"; fail=$((fail + 1)); }

# Outside a git checkout (a tarball), every .c below the top.
files=$(git ls-files '*.c' 2>/dev/null)
[ -n "$files" ] || files=$(find . -name '*.c' -not -path './autom4te.cache/*' | sed 's|^\./||')
[ -n "$files" ] || { echo "no C files found"; exit 1; }
for f in $files; do
	first=$(grep -m1 '^#include' "$f")
	[ "$first" = '#include "autoconfig.h"' ] || bad "$f: first include is '$first', not \"autoconfig.h\""
	case $f in
	web/web.c | bench/*) ;;
	*) grep -q '^#include <civetweb.h>' "$f" && bad "$f includes <civetweb.h> (only web/web.c may)" ;;
	esac
	case $f in
	fs/fs.c | bench/*) ;;
	*) grep -q '^#include <fuse' "$f" && bad "$f includes <fuse.h> (only fs/fs.c may)" ;;
	esac
	case $f in
	src/*) grep -qE '^#include <(sys/socket|netinet/|netdb|sys/epoll)' "$f" &&
		bad "$f (the core) includes a socket header" ;;
	esac
done
n=$(echo "$files" | wc -w)
# In git the mode that a fresh clone gets; outside (a tarball) the file's.
for x in .ci/run bootstrap; do
	mode=$(git ls-files -s "$x" 2>/dev/null | cut -d' ' -f1)
	if [ -n "$mode" ]; then
		[ "$mode" = 100755 ] || bad "$x is mode $mode in git, not executable"
	elif [ -e "$x" ]; then
		[ -x "$x" ] || bad "$x is not executable"
	fi
done
echo "layering: $n C files checked, $fail problems"
[ "$fail" -eq 0 ]
