/*
 * guard.c - the HTTP workers' deadlines and their watchdog (guard.h).
 *
 * Why a signal: civetweb hands its workers no socket descriptor and no
 * deadline but its request_timeout_ms, which bounds each silence rather
 * than a head's or a body's whole time (a client that sends one byte
 * every few seconds keeps its worker for as long as it likes). A signal
 * whose handler does nothing makes the worker's poll(2) return EINTR,
 * which civetweb treats as a failed read: the head or body is given up
 * and the connection closed, and no other code runs in between.
 */
#include "autoconfig.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "guard.h"

#define NS 1000000000LL

#define STATE(w)	 ((enum guard_state)((w)&0xff))
#define GEN(w)		 ((w) >> 8)
#define WORD(gen, state) (((gen) << 8) | (uint64_t)(state))

struct guard {
	struct guard_slot *slots;
	unsigned n;
	_Atomic unsigned used;
	int64_t header_ns;
	_Atomic bool draining, stopping;
	bool stop;
	pthread_mutex_t lock; /* stop, with cond: the watchdog's sleep */
	pthread_cond_t cond;
	pthread_t thread;
};

/* One past the FUSE loop's stop signal (fs/fs.c). */
static int guard_signal(void)
{
	return SIGRTMIN + 5;
}

static void on_guard_signal(int sig)
{
	(void)sig; /* the EINTR is the point */
}

int64_t guard_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

/* ----------------------------------------------------------- the rule */

/* The body bytes a rate of WEB_GUARD_MIN_RATE asks for after @ns. */
static uint64_t min_bytes(int64_t ns)
{
	return ns <= 0 ? 0
		       : (uint64_t)(ns / 1000000) * WEB_GUARD_MIN_RATE / 1000;
}

enum guard_verdict guard_judge(enum guard_state state, int64_t now,
			       int64_t since, uint64_t got, uint64_t ask,
			       bool pokeable, unsigned served, bool begun,
			       int64_t seen_at, int64_t header_ns,
			       bool draining, bool stopping)
{
	if (stopping && (state == GUARD_HEAD || state == GUARD_BODY))
		return GUARD_KILL;
	if (state == GUARD_HEAD) {
		/* between requests while draining: nothing is under way
		 * (a head that has begun is, as on a new connection) */
		if (draining && served > 0 && !begun)
			return GUARD_KILL;
		return now - since >= header_ns ? GUARD_KILL : GUARD_LET;
	}
	if (state != GUARD_BODY || now - since <= header_ns)
		return GUARD_LET;
	if (!pokeable) {
		/* the read under way is credited as if it were complete */
		return got + ask < min_bytes(now - since) ? GUARD_KILL
							  : GUARD_LET;
	}
	/*
	 * @got is exact when the read began (the watchdog saw it begin at
	 * @seen_at, within a tick): judge the average at that moment, and
	 * poke a read that lasts a second so that a newer moment comes.
	 */
	if (seen_at - since > header_ns && got < min_bytes(seen_at - since))
		return GUARD_KILL;
	return now - seen_at >= NS ? GUARD_POKE : GUARD_LET;
}

/* --------------------------------------------------------- the worker */

/*
 * Moves the slot to @to whatever the watchdog does: while it signals,
 * wait; after it signalled, make one system call so that the signal,
 * already pending, is delivered here and not in a later poll(2).
 */
static int move(struct guard_slot *s, enum guard_state to)
{
	uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);

	for (;;) {
		enum guard_state st = STATE(w);
		int rc = 0;

		if (st == GUARD_SIGNALING) {
			sched_yield();
			w = atomic_load_explicit(&s->word,
						 memory_order_acquire);
			continue;
		}
		if (st == GUARD_KILLED || st == GUARD_POKED) {
			sched_yield();
			rc = st == GUARD_KILLED ? -ETIMEDOUT : -EINTR;
		}
		if (atomic_compare_exchange_weak_explicit(
			    &s->word, &w, WORD(GEN(w) + 1, to),
			    memory_order_acq_rel, memory_order_acquire))
			return rc;
	}
}

void guard_wait_head(struct guard_slot *s, int64_t now, bool new_conn)
{
	unsigned served =
		atomic_load_explicit(&s->served, memory_order_relaxed);

	atomic_store_explicit(&s->served, new_conn ? 0 : served + 1,
			      memory_order_relaxed);
	atomic_store_explicit(&s->since, now, memory_order_relaxed);
	atomic_store_explicit(&s->begun, false, memory_order_relaxed);
	move(s, GUARD_HEAD);
}

/*
 * Once per head: the new generation makes a watchdog that judged the
 * idle wait fail its compare-and-swap, and one that loads the new word
 * sees @begun (published by the same release).
 */
void guard_head_begun(struct guard_slot *s)
{
	uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);

	if (STATE(w) != GUARD_HEAD ||
	    atomic_load_explicit(&s->begun, memory_order_relaxed))
		return;
	atomic_store_explicit(&s->begun, true, memory_order_relaxed);
	atomic_compare_exchange_strong_explicit(
		&s->word, &w, WORD(GEN(w) + 1, GUARD_HEAD),
		memory_order_acq_rel, memory_order_acquire);
}

void guard_wait_body(struct guard_slot *s, int64_t since, uint64_t got,
		     uint64_t ask, bool pokeable)
{
	atomic_store_explicit(&s->since, since, memory_order_relaxed);
	atomic_store_explicit(&s->got, got, memory_order_relaxed);
	atomic_store_explicit(&s->ask, ask, memory_order_relaxed);
	atomic_store_explicit(&s->pokeable, pokeable, memory_order_relaxed);
	move(s, GUARD_BODY);
}

int guard_done(struct guard_slot *s, bool idle)
{
	return move(s, idle ? GUARD_IDLE : GUARD_BUSY);
}

/* ------------------------------------------------------- the watchdog */

/*
 * Signals the worker of @s, whose word was @w (HEAD, BODY, or a signal
 * that did not take), and leaves it in @to; nothing when the worker has
 * moved on meanwhile.
 */
static void signal_slot(struct guard_slot *s, uint64_t w, enum guard_state to)
{
	if (!atomic_compare_exchange_strong_explicit(
		    &s->word, &w, WORD(GEN(w) + 1, GUARD_SIGNALING),
		    memory_order_acq_rel, memory_order_acquire))
		return;
	pthread_kill(s->tid, guard_signal());
	atomic_store_explicit(&s->word, WORD(GEN(w) + 2, to),
			      memory_order_release);
}

static void watch_slot(struct guard *g, struct guard_slot *s, int64_t now)
{
	uint64_t w = atomic_load_explicit(&s->word, memory_order_acquire);
	enum guard_state st = STATE(w);
	enum guard_verdict v;

	if (w != s->seen_word) {
		s->seen_word = w;
		s->seen_at = now;
	}
	/*
	 * A signal that came while the worker was not inside poll(2)
	 * (between two reads of a trickle, say) was taken and did nothing:
	 * the worker polls on, the slot still says it was told. Tell it
	 * again, until it leaves.
	 */
	if (st == GUARD_KILLED || st == GUARD_POKED) {
		if (now - s->seen_at >= 2 * WEB_GUARD_TICK_MS * 1000000LL)
			signal_slot(s, w, st);
		return;
	}
	if (st != GUARD_HEAD && st != GUARD_BODY)
		return;
	v = guard_judge(
		st, now, atomic_load_explicit(&s->since, memory_order_relaxed),
		atomic_load_explicit(&s->got, memory_order_relaxed),
		atomic_load_explicit(&s->ask, memory_order_relaxed),
		atomic_load_explicit(&s->pokeable, memory_order_relaxed),
		atomic_load_explicit(&s->served, memory_order_relaxed),
		atomic_load_explicit(&s->begun, memory_order_relaxed),
		s->seen_at, g->header_ns,
		atomic_load_explicit(&g->draining, memory_order_relaxed),
		atomic_load_explicit(&g->stopping, memory_order_relaxed));
	/* a worker that moved on since the load keeps its new wait */
	if (v != GUARD_LET)
		signal_slot(s, w, v == GUARD_KILL ? GUARD_KILLED : GUARD_POKED);
}

static void *watch(void *arg)
{
	struct guard *g = arg;

	pthread_mutex_lock(&g->lock);
	while (!g->stop) {
		struct timespec ts;
		int64_t now;
		unsigned n;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += WEB_GUARD_TICK_MS * 1000000L;
		if (ts.tv_nsec >= NS) {
			ts.tv_sec++;
			ts.tv_nsec -= NS;
		}
		pthread_cond_timedwait(&g->cond, &g->lock, &ts);
		if (g->stop)
			break;
		pthread_mutex_unlock(&g->lock);
		now = guard_now();
		n = atomic_load_explicit(&g->used, memory_order_acquire);
		for (unsigned i = 0; i < n && i < g->n; i++)
			watch_slot(g, &g->slots[i], now);
		pthread_mutex_lock(&g->lock);
	}
	pthread_mutex_unlock(&g->lock);
	return NULL;
}

/* ---------------------------------------------------------- lifetime */

struct guard *guard_new(unsigned nslots, uint64_t header_ms)
{
	struct guard *g = calloc(1, sizeof(*g));
	struct sigaction sa;
	pthread_condattr_t ca;
	int r;

	if (!g)
		return NULL;
	/* (a struct guard_slot's size is a multiple of its alignment) */
	g->slots = aligned_alloc(_Alignof(struct guard_slot),
				 (nslots ? nslots : 1) * sizeof(*g->slots));
	if (!g->slots) {
		free(g);
		errno = ENOMEM;
		return NULL;
	}
	memset(g->slots, 0, (nslots ? nslots : 1) * sizeof(*g->slots));
	g->n = nslots;
	g->header_ns = (int64_t)header_ms * 1000000;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_guard_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(guard_signal(), &sa, NULL);
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->cond, &ca);
	pthread_condattr_destroy(&ca);
	r = pthread_create(&g->thread, NULL, watch, g);
	if (r) {
		pthread_cond_destroy(&g->cond);
		pthread_mutex_destroy(&g->lock);
		free(g->slots);
		free(g);
		errno = r;
		return NULL;
	}
	return g;
}

void guard_free(struct guard *g)
{
	if (!g)
		return;
	pthread_mutex_lock(&g->lock);
	g->stop = true;
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->cond);
	pthread_mutex_destroy(&g->lock);
	free(g->slots);
	free(g);
}

struct guard_slot *guard_claim(struct guard *g)
{
	unsigned i = atomic_load_explicit(&g->used, memory_order_relaxed);
	struct guard_slot *s;

	do {
		if (i >= g->n)
			return NULL;
	} while (!atomic_compare_exchange_weak_explicit(&g->used, &i, i + 1,
							memory_order_acq_rel,
							memory_order_relaxed));
	s = &g->slots[i];
	s->tid = pthread_self();
	atomic_store_explicit(&s->word, WORD(1, GUARD_IDLE),
			      memory_order_release);
	guard_listen(g);
	return s;
}

void guard_listen(struct guard *g)
{
	sigset_t set;

	(void)g;
	/* whatever the thread that started civetweb blocked */
	sigemptyset(&set);
	sigaddset(&set, guard_signal());
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

void guard_interrupt(pthread_t tid)
{
	pthread_kill(tid, guard_signal());
}

void guard_drain(struct guard *g)
{
	atomic_store(&g->draining, true);
}

void guard_stop(struct guard *g)
{
	atomic_store(&g->stopping, true);
	/* now rather than at the next tick */
	pthread_mutex_lock(&g->lock);
	pthread_cond_signal(&g->cond);
	pthread_mutex_unlock(&g->lock);
}

unsigned guard_busy(struct guard *g)
{
	unsigned n = atomic_load_explicit(&g->used, memory_order_acquire),
		 busy = 0;

	for (unsigned i = 0; i < n && i < g->n; i++) {
		uint64_t w = atomic_load_explicit(&g->slots[i].word,
						  memory_order_acquire);

		busy += STATE(w) != GUARD_IDLE;
	}
	return busy;
}
