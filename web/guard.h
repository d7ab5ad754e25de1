/*
 * guard.h - deadlines for the HTTP workers (mooncake-http(7), LIMITS).
 *
 * civetweb gives each open connection a worker thread of its own, and a
 * worker waits in poll(2) for as long as its client keeps sending
 * something, however little. The guard holds one slot per worker that
 * says what the worker waits for (a request head, a body) and since
 * when; a watchdog thread looks at every slot ten times a second and
 * interrupts a worker whose client is too slow with a signal, which
 * makes the worker's poll(2) fail, so civetweb drops the connection:
 *
 *   a head not complete within the header timeout (counted from the
 *   connection's start, or the end of the previous answer on it);
 *   a body that, once the header timeout has passed since its head,
 *   arrived slower than WEB_GUARD_MIN_RATE bytes a second on average
 *   (Apache mod_reqtimeout's MinRate);
 *   while the server drains (guard_drain), a connection waiting
 *   between requests (a kept-alive one no byte of whose next request
 *   has come: one whose head has begun is read and answered).
 *
 * A body read that goes on long enough to be judged is also "poked"
 * once a second (the same signal, after which the read returns what it
 * has and the worker reads on), so that the count of bytes the watchdog
 * judges is never more than a second old. A chunked body cannot be
 * poked (civetweb would lose its place in the chunk framing), so its
 * reads are short (WEB_GUARD_CHUNKED_READ) and the watchdog credits the
 * read under way as if it had completed.
 *
 * The signal is only ever sent while the worker is between
 * guard_wait_*() and the matching guard_done(), which the watchdog and
 * the worker settle with one compare-and-swap on the slot's word (state
 * and a generation): a worker that leaves a wait as the watchdog claims
 * it waits until the signal has been delivered, so no signal reaches it
 * anywhere else. One that came between two polls of the wait does
 * nothing, so the watchdog sends it again every other tick until the
 * worker leaves the wait. The handler does nothing; the signal is
 * installed with SA_RESTART, so only poll(2)-like calls see EINTR.
 *
 * Locking: the slots are lock-free (one word each, written by the worker
 * and compare-and-swapped by the watchdog); a slot's other fields are
 * written by its worker before the word that publishes them. guard_new
 * and guard_free are not concurrent with anything.
 */
#ifndef WEB_GUARD_H
#define WEB_GUARD_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <pthread.h>

#define WEB_GUARD_MIN_RATE     1024u	  /* bytes a second */
#define WEB_GUARD_TICK_MS      100u	  /* how often the watchdog looks */
#define WEB_GUARD_CHUNKED_READ (4u << 10) /* longest read of a chunked body */

/* What a worker does (the low bits of a slot's word). */
enum guard_state {
	GUARD_IDLE,	 /* no connection */
	GUARD_HEAD,	 /* waits for a request head */
	GUARD_BUSY,	 /* runs a request: never interrupted */
	GUARD_BODY,	 /* waits in a body read */
	GUARD_SIGNALING, /* the watchdog is signalling it */
	GUARD_KILLED,	 /* was told to give up its connection */
	GUARD_POKED,	 /* was told to return from its read */
};

/*
 * One worker's slot, on cache lines of its own: a worker writes its slot
 * several times a request, and with slots packed one line held the ends
 * of two workers' slots, so two workers on two CPUs took the line from
 * each other at every request.
 */
struct guard_slot {
	_Atomic uint64_t word; /* generation << 8 | enum guard_state */
	/* published by the word: */
	_Atomic int64_t
		since; /* ns: HEAD: the wait began; BODY: the head ended */
	_Atomic uint64_t got;	 /* BODY: body bytes read before this read */
	_Atomic uint64_t ask;	 /* BODY: what this read may still bring */
	_Atomic bool pokeable;	 /* BODY: not chunked */
	_Atomic unsigned served; /* requests answered on this connection */
	_Atomic bool begun;	 /* HEAD: a byte of the head has come */
	pthread_t tid;
	/* the watchdog's own: when it first saw the current wait */
	uint64_t seen_word;
	int64_t seen_at;
} __attribute__((aligned(64)));

/* What a judge of a slot decides (guard_judge). */
enum guard_verdict { GUARD_LET, GUARD_POKE, GUARD_KILL };

struct guard;

/*
 * A guard for up to @nslots workers whose heads must be complete within
 * @header_ms; starts the watchdog. NULL with errno when it cannot
 * (ENOMEM, or pthread_create's error).
 */
struct guard *guard_new(unsigned nslots, uint64_t header_ms);
/* Stops the watchdog and frees @g; no worker may use a slot any more. */
void guard_free(struct guard *g);
/*
 * A worker thread's slot (civetweb's init_thread), NULL when every slot
 * is taken: such a worker is not guarded.
 */
struct guard_slot *guard_claim(struct guard *g);

/* From now on, connections waiting between requests are closed. */
void guard_drain(struct guard *g);
/* From now on, every worker waiting for a client is interrupted. */
void guard_stop(struct guard *g);
/*
 * For a thread that is no worker (civetweb's accept loop): let it take
 * the guard's signal (called by that thread), and send it, which ends
 * a poll(2) it is in with EINTR.
 */
void guard_listen(struct guard *g);
void guard_interrupt(pthread_t tid);
/* How many workers hold a connection (every slot not idle). */
unsigned guard_busy(struct guard *g);

/* The monotonic clock in ns. */
int64_t guard_now(void);

/*
 * The worker side. guard_wait_head: a connection begins (served = 0),
 * or an answer on it ended; the head is due @now + the header timeout.
 * guard_wait_body: a body read of @ask bytes begins; @since is when the
 * head was complete, @got the bytes read so far. guard_done: the wait
 * is over, the worker runs on (GUARD_BUSY), or with @idle has no
 * connection); returns 0, -EINTR after a poke, -ETIMEDOUT after
 * a kill (the worker then drops the request). guard_head_begun: bytes
 * of the awaited head came (a connection's reads call it); a verdict
 * the watchdog reached on the wait before is void.
 */
void guard_wait_head(struct guard_slot *s, int64_t now, bool new_conn);
void guard_wait_body(struct guard_slot *s, int64_t since, uint64_t got,
		     uint64_t ask, bool pokeable);
int guard_done(struct guard_slot *s, bool idle);
void guard_head_begun(struct guard_slot *s);

/*
 * The rule, apart from the clock and the threads (tested on its own):
 * what to do with a worker in @state at @now, given the slot's fields
 * as @since, @got, @ask, @pokeable, @served and @begun, when the watchdog first
 * saw this wait at @seen_at, with the header timeout @header_ns and
 * whether the server is @draining or @stopping.
 */
enum guard_verdict guard_judge(enum guard_state state, int64_t now,
			       int64_t since, uint64_t got, uint64_t ask,
			       bool pokeable, unsigned served, bool begun,
			       int64_t seen_at, int64_t header_ns,
			       bool draining, bool stopping);

#endif
