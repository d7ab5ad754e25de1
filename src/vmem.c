/*
 * vmem.c - size-class lists over 2 MiB chunks, cached per thread.
 *
 * A free object's first word links it to the next one of its list. A
 * thread keeps two lists per class: @head, where gets and puts happen,
 * and @full, one whole batch kept aside; so a thread that only frees
 * (or only allocates) moves whole batches to (from) the depot in O(1),
 * without walking a list of cold objects. In the depot a batch's first
 * object also holds the next batch (second word) and its length (third),
 * hence VMEM_MIN.
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "vmem.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define VMEM_VALGRIND 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define VMEM_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VMEM_ASAN 1
#endif
#endif

#define VMEM_STEP 8u
#define VMEM_MIN  24u /* three words: the depot's batch header */
#define NCLASS	  (VMEM_MAX / VMEM_STEP)
#define BATCH	  32u
#define CHUNK	  (2u << 20)

struct cache {
	void *head[NCLASS], *full[NCLASS];
	unsigned n[NCLASS]; /* on head */
	bool keyed;	    /* the exit destructor is set for this thread */
};

struct depot {
	pthread_mutex_t lock;
	void *batches; /* linked through their first object's second word */
} __attribute__((aligned(64)));

static __thread struct cache tc;
static struct depot depot[NCLASS];
static pthread_mutex_t carve_lock = PTHREAD_MUTEX_INITIALIZER;
static char *carve_at, *carve_end;
static pthread_key_t exit_key;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool plain; /* malloc and free only: see vmem.h */

static inline void *next_of(void *p)
{
	return *(void **)p;
}

static inline void set_next(void *p, void *n)
{
	*(void **)p = n;
}

static void depot_push(unsigned c, void *batch, unsigned n)
{
	struct depot *d = &depot[c];

	((uintptr_t *)batch)[2] = n;
	pthread_mutex_lock(&d->lock);
	((void **)batch)[1] = d->batches;
	d->batches = batch;
	pthread_mutex_unlock(&d->lock);
}

/* A thread ends: its lists are the next threads'. */
static void cache_release(void *arg)
{
	struct cache *t = arg;

	for (unsigned c = 0; c < NCLASS; c++) {
		if (t->head[c])
			depot_push(c, t->head[c], t->n[c]);
		if (t->full[c])
			depot_push(c, t->full[c], BATCH);
		t->head[c] = t->full[c] = NULL;
		t->n[c] = 0;
	}
	t->keyed = false;
}

static void setup(void)
{
	for (unsigned c = 0; c < NCLASS; c++)
		pthread_mutex_init(&depot[c].lock, NULL);
#if defined(VMEM_ASAN)
	plain = true;
#elif defined(VMEM_VALGRIND)
	plain = RUNNING_ON_VALGRIND;
#endif
	if (!plain && pthread_key_create(&exit_key, cache_release))
		plain = true; /* no way to hand a thread's lists on */
}

/* A new chunk, 2 MiB aligned so that it can be one huge page. */
static char *chunk_new(void)
{
	char *m = mmap(NULL, 2 * CHUNK, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (m == MAP_FAILED)
		return NULL;
	a = ((uintptr_t)m + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1);
	if ((char *)a > m)
		munmap(m, (char *)a - m);
	munmap((char *)a + CHUNK, m + CHUNK - (char *)a);
	madvise((void *)a, CHUNK, MADV_HUGEPAGE);
	return (char *)a;
}

/* A new batch of class @c cut from the chunks, or NULL. */
static void *carve(unsigned c)
{
	size_t sz = (c + 1) * VMEM_STEP, len = BATCH * sz;
	char *p;

	pthread_mutex_lock(&carve_lock);
	if ((size_t)(carve_end - carve_at) < len) {
		/* the old chunk's tail (under a batch) is left unused */
		char *m = chunk_new();

		if (!m) {
			pthread_mutex_unlock(&carve_lock);
			return NULL;
		}
		carve_at = m;
		carve_end = m + CHUNK;
	}
	p = carve_at;
	carve_at += len;
	pthread_mutex_unlock(&carve_lock);
	for (unsigned i = 0; i + 1 < BATCH; i++)
		set_next(p + i * sz, p + (i + 1) * sz);
	set_next(p + (BATCH - 1) * sz, NULL);
	return p;
}

/* Fills the empty head list of class @c: false when out of memory. */
static bool refill(unsigned c)
{
	struct depot *d = &depot[c];
	void *b;

	if (!tc.keyed) {
		pthread_setspecific(exit_key, &tc);
		tc.keyed = true;
	}
	if (tc.full[c]) {
		tc.head[c] = tc.full[c];
		tc.full[c] = NULL;
		tc.n[c] = BATCH;
		return true;
	}
	pthread_mutex_lock(&d->lock);
	b = d->batches;
	if (b)
		d->batches = ((void **)b)[1];
	pthread_mutex_unlock(&d->lock);
	if (b) {
		tc.n[c] = (unsigned)((uintptr_t *)b)[2];
	} else {
		b = carve(c);
		if (!b)
			return false;
		tc.n[c] = BATCH;
	}
	tc.head[c] = b;
	return true;
}

static inline unsigned class_of(size_t n)
{
	if (n < VMEM_MIN)
		n = VMEM_MIN;
	return (unsigned)((n + VMEM_STEP - 1) / VMEM_STEP - 1);
}

void *vmem_get(size_t n)
{
	unsigned c;
	void *p;

	pthread_once(&once, setup);
	if (plain || n > VMEM_MAX)
		return malloc(n);
	c = class_of(n);
	if (!tc.head[c] && !refill(c))
		return NULL;
	p = tc.head[c];
	tc.head[c] = next_of(p);
	tc.n[c]--;
	return p;
}

void vmem_put(void *p, size_t n)
{
	unsigned c;

	if (!p)
		return;
	/* a put follows a get, which ran setup */
	if (plain || n > VMEM_MAX) {
		free(p);
		return;
	}
	c = class_of(n);
	if (!tc.keyed) {
		pthread_setspecific(exit_key, &tc);
		tc.keyed = true;
	}
	if (tc.n[c] == BATCH) {
		/* a whole batch aside; the one aside before goes on */
		if (tc.full[c])
			depot_push(c, tc.full[c], BATCH);
		tc.full[c] = tc.head[c];
		tc.head[c] = NULL;
		tc.n[c] = 0;
	}
	set_next(p, tc.head[c]);
	tc.head[c] = p;
	tc.n[c]++;
}
