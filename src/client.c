/*
 * client.c - owners and the client registry: who owns a REMOTE segment
 * or writes a put, and the Mooncake clients whose heartbeats keep their
 * segments mounted (mooncake-rpc(7), LIVENESS).
 *
 * The registry is a short list under its own mutex: a few clients, each
 * pinging once a second, so a scan costs less than a hash would. Only
 * mounts and registrations add entries; a ping of an unknown id records
 * nothing, so pings with made-up ids cannot grow it.
 */
#include "autoconfig.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "store_int.h"
#include "uuid.h"

#define CLIENT_TTL_DEFAULT_MS 10000

struct mc_client {
	struct mc_client *next;
	char id[MC_ID_LEN + 1];
	uint64_t seen_ms; /* last mount, registration or ping */
};

/* ---------------------------------------------------------------- owners */

bool mc_owner_eq(const struct mc_owner *a, const struct mc_owner *b)
{
	enum mc_owner_kind ka = a ? a->kind : MC_OWNER_SELF;
	enum mc_owner_kind kb = b ? b->kind : MC_OWNER_SELF;

	if (ka != kb)
		return false;
	return ka == MC_OWNER_SELF || !strcmp(a->id, b->id);
}

int mc_owner_client(struct mc_owner *o, const char *uuid)
{
	char low[MC_ID_LEN + 1];
	size_t n = uuid ? strlen(uuid) : 0;

	if (n != MC_ID_LEN)
		return -EINVAL;
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)uuid[i]);
	if (!mc_uuid_valid(low))
		return -EINVAL;
	memset(o, 0, sizeof(*o));
	o->kind = MC_OWNER_CLIENT;
	memcpy(o->id, low, sizeof(low));
	return 0;
}

const char *owner_text(const struct mc_owner *o, char *buf, size_t len)
{
	switch (o ? o->kind : MC_OWNER_SELF) {
	case MC_OWNER_CLIENT:
		snprintf(buf, len, "client:%s", o->id);
		break;
	case MC_OWNER_NODE:
		snprintf(buf, len, "node:%s", o->id);
		break;
	default:
		snprintf(buf, len, "%s", "");
	}
	return buf;
}

/* -------------------------------------------------------------- registry */

static uint64_t client_ttl(const struct mc_store *s)
{
	return s->o.client_ttl_ms ? s->o.client_ttl_ms : CLIENT_TTL_DEFAULT_MS;
}

/* The entry of @id, or NULL; client_lock held. */
static struct mc_client *client_find_locked(struct mc_store *s, const char *id)
{
	for (struct mc_client *c = s->clients; c; c = c->next)
		if (!strcmp(c->id, id))
			return c;
	return NULL;
}

int client_touch(struct mc_store *s, const struct mc_owner *o)
{
	struct mc_client *c;
	uint64_t now = store_now(s);

	pthread_mutex_lock(&s->client_lock);
	c = client_find_locked(s, o->id);
	if (!c) {
		c = calloc(1, sizeof(*c));
		if (!c) {
			pthread_mutex_unlock(&s->client_lock);
			return -ENOMEM;
		}
		memcpy(c->id, o->id, sizeof(c->id));
		c->next = s->clients;
		s->clients = c;
		mc_info("client: '%s' is known", c->id);
	}
	c->seen_ms = now;
	pthread_mutex_unlock(&s->client_lock);
	return 0;
}

int mc_client_register(struct mc_store *s, const char *uuid)
{
	struct mc_owner o;

	if (s->link)
		return fac_client_register(s, uuid);
	if (mc_owner_client(&o, uuid))
		return -EINVAL;
	return client_touch(s, &o);
}

int mc_client_ping(struct mc_store *s, const char *uuid)
{
	struct mc_owner o;
	struct mc_client *c;

	if (s->link)
		return fac_client_ping(s, uuid);
	mc_series_add(s->c.ping, 1);
	if (mc_owner_client(&o, uuid)) {
		mc_series_add(s->c.ping_fail, 1);
		return -EINVAL;
	}
	pthread_mutex_lock(&s->client_lock);
	c = client_find_locked(s, o.id);
	if (c)
		c->seen_ms = store_now(s);
	pthread_mutex_unlock(&s->client_lock);
	return c ? MC_CLIENT_OK : MC_CLIENT_NEED_REMOUNT;
}

size_t mc_client_count(struct mc_store *s)
{
	size_t n = 0;

	if (s->link)
		return fac_client_count(s);
	pthread_mutex_lock(&s->client_lock);
	for (struct mc_client *c = s->clients; c; c = c->next)
		n++;
	pthread_mutex_unlock(&s->client_lock);
	return n;
}

/* The ids of the listed segments @o owns (malloc'd; *n of them). */
static char (*owned_segments(struct mc_store *s, const struct mc_owner *o,
			     size_t *n))[MC_ID_LEN + 1]
{
	char(*ids)[MC_ID_LEN + 1];

	*n = 0;
	pthread_rwlock_rdlock(&s->seg_lock);
	ids = calloc(s->nsegs ? s->nsegs : 1, sizeof(*ids));
	for (size_t i = 0; ids && i < s->nsegs; i++)
		if (mc_owner_eq(&s->segs[i]->owner, o))
			memcpy(ids[(*n)++], s->segs[i]->id, sizeof(*ids));
	pthread_rwlock_unlock(&s->seg_lock);
	return ids;
}

/* A client is gone: its segments go at once, its open puts are revoked. */
static void client_gone(struct mc_store *s, struct mc_client *c)
{
	struct mc_owner o = {.kind = MC_OWNER_CLIENT};
	size_t n, puts;
	char(*ids)[MC_ID_LEN + 1];

	memcpy(o.id, c->id, sizeof(c->id));
	ids = owned_segments(s, &o, &n);
	if (n) {
		const char **v = calloc(n, sizeof(*v));

		for (size_t i = 0; v && i < n; i++)
			v[i] = ids[i];
		if (v) {
			struct mc_unmount_req req = {.ids = v, .n = n};

			/* One by one would count the same; at once is one
			 * pass over the index per segment either way. */
			mc_segment_unmount(s, &req, NULL, NULL, NULL);
		}
		free(v);
	}
	free(ids);
	puts = put_revoke_writer(s, &o);
	mc_info("client: '%s' sent no ping for %llu ms: gone, %zu segment(s) "
		"unmounted, %zu open put(s) revoked",
		c->id, (unsigned long long)client_ttl(s), n, puts);
}

void client_expire(struct mc_store *s, uint64_t now)
{
	uint64_t ttl = client_ttl(s);

	/*
	 * The lock is held while a gone client's segments go, so that a
	 * remount racing with its expiry (client_touch, before it lists
	 * its segment) waits, and never has its new segment taken too.
	 * Nothing under an unmount takes the registry's lock.
	 */
	pthread_mutex_lock(&s->client_lock);
	for (struct mc_client **pp = &s->clients; *pp;) {
		struct mc_client *c = *pp;

		if (now < c->seen_ms || now - c->seen_ms <= ttl) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		client_gone(s, c);
		free(c);
	}
	pthread_mutex_unlock(&s->client_lock);
}

void client_free_all(struct mc_store *s)
{
	while (s->clients) {
		struct mc_client *next = s->clients->next;

		free(s->clients);
		s->clients = next;
	}
}
