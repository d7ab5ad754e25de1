/*
 * rpc_load.c - load on the master RPC as Mooncake clients make it, for
 * bench/run.sh (section rpc):
 *
 *   rpc_load query HOST PORT CONNS SECONDS KEY
 *   rpc_load exist HOST PORT CONNS SECONDS KEY
 *       GetReplicaList (or ExistKey) of KEY on CONNS connections, one
 *       request in flight on each, from one thread (as wrk -t1 -cN
 *       loads HTTP)
 *   rpc_load put HOST PORT CONNS SECONDS SIZE
 *       CONNS clients without memory of their own, each in a loop:
 *       PutStart of a new key, a WRITE of SIZE bytes over the transfer
 *       port the descriptor names (TE's framing, v2, a pooled
 *       connection), PutEnd, and a Remove of its previous key (so the
 *       store holds one value per client, as an overwrite would)
 *
 * Prints "MODE OPS ops/s ERRORS errors" on one line; exits 1 when no
 * operation succeeded.
 */
#include "autoconfig.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h" /* xfer/: TE's framing */
#include "rpc.h"

#define CONNS_MAX 64

static const char *host;
static unsigned port;
static double seconds;
static _Atomic unsigned long ops, errors;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct rpc_client *connect_or_die(void)
{
	char err[256];
	struct rpc_client *c =
		rpc_client_connect(host, port, 10000, err, sizeof(err));

	if (!c) {
		fprintf(stderr, "rpc_load: %s\n", err);
		exit(1);
	}
	return c;
}

/* Query or exist: n connections, one request in flight on each. */
static void small_calls(enum rpc_call_id id, unsigned n, const char *key)
{
	struct rpc_client *c[CONNS_MAX];
	struct rpc_key_req q = {{key, strlen(key)}, RPC_STR("default")};
	struct rpc_arena a = {0};
	uint32_t seq[CONNS_MAX];
	double end;

	for (unsigned i = 0; i < n; i++)
		c[i] = connect_or_die();
	end = now() + seconds;
	while (now() < end) {
		for (unsigned i = 0; i < n; i++)
			if (rpc_client_send(c[i], id, &q, 0, &seq[i]))
				exit(1);
		for (unsigned i = 0; i < n; i++) {
			union {
				struct rpc_exp_replica_list l;
				struct rpc_exp_bool b;
			} r;
			char err[128];

			if (rpc_client_recv(c[i], id, seq[i], &r, &a, err,
					    sizeof(err)) ||
			    r.l.err)
				errors++;
			else
				ops++;
		}
		rpc_arena_reset(&a);
	}
	for (unsigned i = 0; i < n; i++)
		rpc_client_close(c[i]);
	rpc_arena_release(&a);
}

struct putter {
	pthread_t th;
	unsigned idx;
	uint64_t size;
};

/* "HOST:PORT" of a descriptor into a transfer target (host copied). */
static int target_of(const struct rpc_str *ep, char *h, size_t hl,
		     struct xfer_target *t)
{
	const char *colon = memrchr(ep->p, ':', ep->len);

	if (!colon || (size_t)(colon - ep->p) >= hl)
		return -1;
	memcpy(h, ep->p, (size_t)(colon - ep->p));
	h[colon - ep->p] = '\0';
	t->host = h;
	t->port = (unsigned)atoi(colon + 1);
	t->version = 2;
	return 0;
}

static void *put_loop(void *arg)
{
	struct putter *p = arg;
	struct rpc_client *c = connect_or_die();
	struct xfer_client *x = xfer_client_new(NULL);
	struct rpc_arena a = {0};
	unsigned char *buf = malloc(p->size);
	char key[64], prev[64] = "", client[37], h[256];
	struct rpc_uuid id = {{0}};
	unsigned long n = 0;
	double end = now() + seconds;

	memset(buf, 'x', p->size);
	id.b[0] = (unsigned char)p->idx;
	id.b[6] = 0x40;
	id.b[8] = 0x80;
	rpc_uuid_format(&id, client);
	while (now() < end) {
		struct rpc_put_start_req ps = {.client_id = id,
					       .slice_length = p->size,
					       .config = {.replica_num = 1},
					       .tenant_id = RPC_STR("default")};
		struct rpc_exp_replicas r;
		struct rpc_put_end_req pe = {.client_id = id,
					     .tenant_id = RPC_STR("default")};
		struct rpc_exp_void v;
		struct xfer_target t;
		char err[128];
		bool ok;

		snprintf(key, sizeof(key), "rpcload-%u-%lu", p->idx, n++);
		ps.key = (struct rpc_str){key, strlen(key)};
		pe.meta.key = ps.key;
		ok = !rpc_client_call(c, RPC_PUT_START, &ps, &r, &a, err,
				      sizeof(err)) &&
		     !r.err && r.v.n >= 1;
		for (size_t i = 0; ok && i < r.v.n; i++)
			ok = !target_of(&r.v.v[i].loc.u.memory.endpoint, h,
					sizeof(h), &t) &&
			     !xfer_client_write(x, &t,
						r.v.v[i].loc.u.memory.addr, buf,
						p->size, NULL);
		ok = ok &&
		     !rpc_client_call(c, RPC_PUT_END, &pe, &v, &a, err,
				      sizeof(err)) &&
		     !v.err;
		if (ok && prev[0]) {
			struct rpc_remove_req rq = {
				{prev, strlen(prev)}, true, RPC_STR("default")};

			ok = !rpc_client_call(c, RPC_REMOVE, &rq, &v, &a, err,
					      sizeof(err)) &&
			     !v.err;
		}
		if (ok) {
			ops++;
			snprintf(prev, sizeof(prev), "%s", key);
		} else {
			errors++;
		}
		rpc_arena_reset(&a);
	}
	free(buf);
	rpc_arena_release(&a);
	xfer_client_free(x);
	rpc_client_close(c);
	return NULL;
}

int main(int argc, char **argv)
{
	struct putter p[CONNS_MAX];
	unsigned n;
	double t0;

	if (argc != 7) {
		fprintf(stderr, "usage: rpc_load query|exist|put HOST PORT "
				"CONNS SECONDS KEY|SIZE\n");
		return 2;
	}
	host = argv[2];
	port = (unsigned)atoi(argv[3]);
	n = (unsigned)atoi(argv[4]);
	seconds = atof(argv[5]);
	if (n < 1 || n > CONNS_MAX || seconds <= 0)
		return 2;
	t0 = now();
	if (!strcmp(argv[1], "query")) {
		small_calls(RPC_GET_REPLICA_LIST, n, argv[6]);
	} else if (!strcmp(argv[1], "exist")) {
		small_calls(RPC_EXIST_KEY, n, argv[6]);
	} else if (!strcmp(argv[1], "put")) {
		for (unsigned i = 0; i < n; i++) {
			p[i].idx = i;
			p[i].size = strtoull(argv[6], NULL, 10);
			pthread_create(&p[i].th, NULL, put_loop, &p[i]);
		}
		for (unsigned i = 0; i < n; i++)
			pthread_join(p[i].th, NULL);
	} else {
		return 2;
	}
	printf("%s %.0f ops/s %lu errors\n", argv[1],
	       (double)ops / (now() - t0), (unsigned long)errors);
	return ops ? 0 : 1;
}
