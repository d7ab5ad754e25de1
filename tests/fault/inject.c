/*
 * inject.c - an LD_PRELOAD shim that makes system calls and malloc fail,
 * for the fault-injection tests (tests/faults.sh).
 *
 *   MC_FAULT=read,write,accept,mmap,malloc,ftruncate   which calls fail
 *   MC_FAULT_EVERY=N     every Nth call of each (default 5)
 *   MC_FAULT_ARM=PATH    faults only while PATH exists (looked at every
 *                        20 ms at most), so the daemon starts cleanly
 *                        and the test checks afterwards without faults
 *   MC_FAULT_LOG=PATH    one line per injected fault ("read 17")
 *   MC_FAULT_MALLOC_MIN=BYTES  only allocations this large fail
 *                        (default 65536: the daemon's value and request
 *                        buffers, not every small string of a library)
 *
 * malloc is never failed for libfuse itself: when its request loop
 * ends on a failed allocation, a request another worker has already
 * read is dropped unanswered and the kernel waits for that answer
 * forever (libfuse 3.14, fuse_loop_mt.c). The daemon starts the loop
 * again (fs/fs.c), so later requests are served, but the dropped one
 * cannot be answered from outside libfuse: tests/ROBUSTNESS.md lists it.
 *
 * Built with -DINJECT_NO_MALLOC (inject-nomalloc.so) it leaves malloc
 * alone: a sanitizer's allocator cannot have another malloc in front of
 * it, so make check-asan runs the other faults with that one.
 *
 * read and write cover the socket calls too (recv, send, sendmsg,
 * readv, writev) and touch sockets only: a failed read of /dev/fuse or
 * of a file would test libfuse and the C library, not the daemon. The
 * errors are what a real failure gives: ECONNRESET and EPIPE on
 * sockets, EMFILE for accept, ENOMEM for mmap and malloc, ENOSPC for
 * ftruncate.
 */
#include "autoconfig.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

enum { F_READ, F_WRITE, F_ACCEPT, F_MMAP, F_MALLOC, F_FTRUNCATE, F_N };
static const char *const fname[F_N] = {"read", "write",	 "accept",
				       "mmap", "malloc", "ftruncate"};

static unsigned mask, every = 5;
static size_t malloc_min = 65536;
static const char *arm_path;
static int log_fd = -1;
static atomic_uint calls[F_N];
static atomic_int armed_cache;
static atomic_llong armed_at_ns;

__attribute__((constructor)) static void init(void)
{
	const char *m = getenv("MC_FAULT"), *e = getenv("MC_FAULT_EVERY");
	const char *l = getenv("MC_FAULT_LOG"),
		   *mm = getenv("MC_FAULT_MALLOC_MIN");

	for (int i = 0; m && i < F_N; i++)
		if (strstr(m, fname[i]))
			mask |= 1u << i;
	if (e && atoi(e) > 0)
		every = (unsigned)atoi(e);
	if (mm)
		malloc_min = (size_t)atoll(mm);
	arm_path = getenv("MC_FAULT_ARM");
	if (l)
		log_fd = (int)syscall(SYS_open, l,
				      O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
				      0644);
}

static int armed(void)
{
	struct timespec t;
	long long now;

	if (!arm_path)
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &t);
	now = t.tv_sec * 1000000000ll + t.tv_nsec;
	if (now - atomic_load(&armed_at_ns) > 20000000ll) {
		atomic_store(&armed_cache,
			     syscall(SYS_access, arm_path, F_OK) == 0);
		atomic_store(&armed_at_ns, now);
	}
	return atomic_load(&armed_cache);
}

static int is_sock(int fd)
{
	int type;
	socklen_t l = sizeof(type);

	return syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &l) == 0;
}

/* Whether this call of @f fails (and it is logged). */
static int fail(int f)
{
	char line[32];
	int n;

	if (!(mask & (1u << f)) || !armed())
		return 0;
	if ((atomic_fetch_add(&calls[f], 1) + 1) % every)
		return 0;
	n = snprintf(line, sizeof(line), "%s\n", fname[f]);
	if (log_fd >= 0)
		(void)syscall(SYS_write, log_fd, line, (size_t)n);
	return 1;
}

#define NEXT(ret, name, ...)                                                   \
	static ret (*next)(__VA_ARGS__);                                       \
	if (!next)                                                             \
	next = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

ssize_t read(int fd, void *b, size_t n)
{
	NEXT(ssize_t, "read", int, void *, size_t);
	if ((mask & 1u << F_READ) && is_sock(fd) && fail(F_READ))
		return errno = ECONNRESET, -1;
	return next(fd, b, n);
}

ssize_t recv(int fd, void *b, size_t n, int fl)
{
	NEXT(ssize_t, "recv", int, void *, size_t, int);
	if (fail(F_READ))
		return errno = ECONNRESET, -1;
	return next(fd, b, n, fl);
}

ssize_t readv(int fd, const struct iovec *v, int n)
{
	NEXT(ssize_t, "readv", int, const struct iovec *, int);
	if ((mask & 1u << F_READ) && is_sock(fd) && fail(F_READ))
		return errno = ECONNRESET, -1;
	return next(fd, v, n);
}

ssize_t write(int fd, const void *b, size_t n)
{
	NEXT(ssize_t, "write", int, const void *, size_t);
	if ((mask & 1u << F_WRITE) && is_sock(fd) && fail(F_WRITE))
		return errno = EPIPE, -1;
	return next(fd, b, n);
}

ssize_t send(int fd, const void *b, size_t n, int fl)
{
	NEXT(ssize_t, "send", int, const void *, size_t, int);
	if (fail(F_WRITE))
		return errno = EPIPE, -1;
	return next(fd, b, n, fl);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int fl)
{
	NEXT(ssize_t, "sendmsg", int, const struct msghdr *, int);
	if (fail(F_WRITE))
		return errno = EPIPE, -1;
	return next(fd, m, fl);
}

ssize_t writev(int fd, const struct iovec *v, int n)
{
	NEXT(ssize_t, "writev", int, const struct iovec *, int);
	if ((mask & 1u << F_WRITE) && is_sock(fd) && fail(F_WRITE))
		return errno = EPIPE, -1;
	return next(fd, v, n);
}

int accept(int fd, struct sockaddr *a, socklen_t *l)
{
	NEXT(int, "accept", int, struct sockaddr *, socklen_t *);
	if (fail(F_ACCEPT))
		return errno = EMFILE, -1;
	return next(fd, a, l);
}

int accept4(int fd, struct sockaddr *a, socklen_t *l, int fl)
{
	NEXT(int, "accept4", int, struct sockaddr *, socklen_t *, int);
	if (fail(F_ACCEPT))
		return errno = EMFILE, -1;
	return next(fd, a, l, fl);
}

void *mmap(void *a, size_t n, int prot, int fl, int fd, off_t off)
{
	NEXT(void *, "mmap", void *, size_t, int, int, int, off_t);
	/* Only the store's own mappings (segments are >= 16 MiB), not the
	 * loader's or the C library's. */
	if (n >= (16u << 20) && fail(F_MMAP))
		return errno = ENOMEM, MAP_FAILED;
	return next(a, n, prot, fl, fd, off);
}

int ftruncate(int fd, off_t len)
{
	NEXT(int, "ftruncate", int, off_t);
	if (fail(F_FTRUNCATE))
		return errno = ENOSPC, -1;
	return next(fd, len);
}

#ifndef INJECT_NO_MALLOC
/* dlsym may allocate: those few bytes come from here. */
static _Alignas(16) char boot[4096];
static atomic_size_t boot_used;
static __thread int resolving;
static void *(*next_malloc)(size_t);
static void (*next_free)(void *);

static void resolve(void)
{
	resolving = 1;
	next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	resolving = 0;
}

/* Whether @ret, a return address, lies in libfuse3. */
static int from_libfuse(void *ret)
{
	Dl_info info;

	return dladdr(ret, &info) && info.dli_fname &&
	       strstr(info.dli_fname, "libfuse3");
}

/*
 * The next malloc and free (the C library's, or ASan's when the daemon
 * carries it) so that each block goes back where it came from.
 */
void *malloc(size_t n)
{
	if (!next_malloc) {
		if (resolving) {
			size_t at =
				atomic_fetch_add(&boot_used, (n + 15) & ~15ul);

			return at + n <= sizeof(boot) ? boot + at : NULL;
		}
		resolve();
	}
	if (n >= malloc_min && (mask & 1u << F_MALLOC) &&
	    !from_libfuse(__builtin_return_address(0)) && fail(F_MALLOC))
		return errno = ENOMEM, NULL;
	return next_malloc(n);
}

void free(void *p)
{
	if (!p || ((char *)p >= boot && (char *)p < boot + sizeof(boot)))
		return;
	if (!next_free) {
		if (resolving)
			return; /* a block of dlsym's own: kept */
		resolve();
	}
	next_free(p);
}
#endif
