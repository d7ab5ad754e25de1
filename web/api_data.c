/*
 * api_data.c - the data routes of the store REST API (mooncake-http(7), STORE
 * REST API: DATA) and the two-phase put (section 6).
 *
 * A raw PUT with a Content-Length is read straight into the replica
 * buffer of a local put (mc_put_begin, web_req_read, mc_put_commit), so a
 * value crosses memory once on its way in; GET answers from the
 * reference's bytes without a copy for large values. On a cluster node
 * (mc_store_pipes) a value on its way to or from another node may stay
 * in a pipe between the two sockets (splice(2)) and never cross it.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <json-c/json.h>

#include "api.h"
#include "parse.h"
#include "render.h"
#include "status.h"

struct json_object *web_api_body_json(struct web_req *r)
{
	struct mc_err e = {0};
	struct json_object *o;
	int rc = web_req_body(r, r->scratch);

	if (rc < 0) {
		web_resp_body_error(r, rc);
		return NULL;
	}
	o = web_json_parse_object(r->scratch->data, r->scratch->len, &e);
	if (!o)
		web_resp_error(r, 400, e.msg);
	return o;
}

int web_api_parse_force(const char *query, bool *force)
{
	static const char *const yes[] = {"true", "1", "yes"};
	static const char *const no[] = {"false", "0", "no"};
	char v[8];
	size_t n;
	const char *raw = web_query_raw(query, "force", &n);
	ssize_t dn;

	*force = false;
	if (!raw)
		return 0;
	if (n >= sizeof(v))
		return -EINVAL;
	dn = web_pct_decode(raw, n, v, true);
	if (dn < 0)
		return -EINVAL;
	v[dn] = '\0';
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		if (strcasecmp(v, yes[i]) == 0)
			return *force = true, 0;
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		if (strcasecmp(v, no[i]) == 0)
			return 0;
	return -EINVAL;
}

/* Decodes r->arg into @key (room for MC_KEY_MAX): the length, or -1 after
 * answering 400. */
static ssize_t path_key(struct web_req *r, char *key)
{
	struct mc_err e = {0};

	if (web_key_decode(r->arg, r->arg_len, r->scratch, &e)) {
		web_resp_error(r, 400, e.msg);
		return -1;
	}
	memcpy(key, r->scratch->data, r->scratch->len);
	return (ssize_t)r->scratch->len;
}

static void not_found(struct web_req *r)
{
	web_resp_error(r, 404, "Key not found");
}

void web_api_put_json(struct web_req *r)
{
	struct json_object *o = web_api_body_json(r);
	const char *key, *val;
	size_t klen, vlen;
	struct mc_err e = {0};
	int rk, rv, rc;

	if (!o)
		return;
	rk = web_json_string(o, "key", &key, &klen, &e);
	rv = rk == -EINVAL ? 0 : web_json_string(o, "value", &val, &vlen, &e);
	if (rk == -EINVAL || rv == -EINVAL) {
		web_resp_error(r, 400, e.msg);
	} else if (rk || rv || klen == 0 || vlen == 0) {
		web_resp_error(r, 400, "Missing key or value");
	} else if (web_key_check(key, klen, &e)) {
		web_resp_error(r, 400, e.msg);
	} else if ((rc = mc_put(r->s, key, klen, val, vlen, &e)) < 0) {
		web_resp_errno(r, rc, &e, "Put failed");
	} else {
		web_resp_success(r);
	}
	json_object_put(o);
}

/* A body of unknown length (chunked): gathered, then one mc_put. */
static void put_gathered(struct web_req *r, const char *key, size_t klen)
{
	struct mc_err e = {0};
	int rc = web_req_body(r, r->scratch);

	if (rc < 0)
		web_resp_body_error(r, rc);
	else if (r->scratch->len == 0)
		web_resp_error(r, 400, "Missing key or value");
	else if ((rc = mc_put(r->s, key, klen, r->scratch->data,
			      r->scratch->len, &e)) < 0)
		web_resp_errno(r, rc, &e, "Put failed");
	else
		web_resp_success(r);
}

/*
 * The end of a body read that may have gone into pipe @pfd (pfd[0] < 0:
 * none taken) with its buffer @dst of @size bytes. A body whose last
 * bytes are in the pipe: the count of those before them (in @dst); one
 * whose pipe filled before its end: the pipe's bytes are read into
 * their place in @dst, the pipe given back, and 0 (pfd[0] is then -1);
 * without @dst (a failed read) the pipe is given back. <0: the pipe
 * would not give its bytes back.
 */
static int64_t piped_end(struct web_req *r, int pfd[2], char *dst,
			 uint64_t size)
{
	uint64_t at, n;

	if (pfd[0] < 0)
		return 0;
	r->io->read_pipe_end(r->conn, &at, &n);
	if (dst && n && at + n == size)
		return (int64_t)at;
	for (uint64_t got = 0; dst && got < n;) {
		ssize_t k = read(pfd[0], dst + at + got, n - got);

		if (k <= 0)
			return -EIO;
		got += (uint64_t)k;
	}
	r->io->pipe_give(r->conn, pfd, dst || !n);
	pfd[0] = pfd[1] = -1;
	return 0;
}

/*
 * The bytes a streamed put takes per read: each piece goes on to the
 * replica's node before the next is read, so that the two hops overlap
 * (bench/RESULTS.md: 64 KiB pieces did best; a whole 1 MiB value in one
 * piece is the store-and-forward this replaces).
 */
#define STREAM_PIECE (64u << 10)

/* Hands @n bytes at @mem (from pipe @pfd when @mem is NULL) to put @p. */
static int stream_feed(struct mc_put *p, const char *mem, uint64_t n, int pfd,
		       struct mc_err *e)
{
	return n ? mc_put_stream_feed(p, mem, n, pfd, e) : 0;
}

/*
 * The body of a put whose bytes go on to their replica's node while they
 * arrive (mc_put_stream): read in pieces into pipe @pfd, spliced from the
 * client's socket, or into @dst when the connection had them already or
 * the pipe filled (read_pipe_end tells which: the piece's first @at bytes
 * in memory, then @n in the pipe, then the rest in memory again), each
 * handed over in order before the next piece is read.
 */
static void put_streamed(struct web_req *r, struct mc_put *p, uint64_t size,
			 char *dst, int pfd[2])
{
	struct mc_err e = {0};
	uint64_t done = 0;
	int rc = 0;

	while (done < size) {
		uint64_t want = size - done, at, n;
		char *b = dst + done;
		int64_t got;

		if (want > STREAM_PIECE)
			want = STREAM_PIECE;
		r->io->read_pipe_begin(r->conn, pfd[1], b);
		got = web_req_read(r, b, want);
		r->io->read_pipe_end(r->conn, &at, &n);
		if (got <= 0) {
			r->io->pipe_give(r->conn, pfd, false);
			mc_put_abort(p);
			web_resp_body_error(r, got < 0 ? (int)got : -EIO);
			return;
		}
		if (!n)
			at = (uint64_t)got;
		rc = stream_feed(p, b, at, -1, &e);
		if (!rc)
			rc = stream_feed(p, NULL, n, pfd[0], &e);
		if (!rc)
			rc = stream_feed(p, b + at + n, (uint64_t)got - at - n,
					 -1, &e);
		if (rc)
			break;
		done += (uint64_t)got;
	}
	r->io->pipe_give(r->conn, pfd, rc == 0);
	if (rc) {
		mc_put_abort(p);
		web_resp_errno(r, rc, &e, "Put failed");
	} else if ((rc = mc_put_commit(p, true, &e)) < 0) {
		web_resp_errno(r, rc, &e, "Put failed");
	} else {
		web_resp_success(r);
	}
}

void web_api_put_raw(struct web_req *r)
{
	char key[MC_KEY_MAX];
	ssize_t klen = path_key(r, key);
	struct mc_put *p;
	struct mc_err e = {0};
	uint64_t size, done = 0;
	int pfd[2] = {-1, -1};
	char *dst;
	int64_t rc;

	if (klen < 0)
		return;
	if (r->chunked) {
		put_gathered(r, key, (size_t)klen);
		return;
	}
	if (r->content_length <= 0) {
		web_resp_error(r, 400, "Missing key or value");
		return;
	}
	size = (uint64_t)r->content_length;
	if (size > r->max_body) {
		web_resp_error(r, 413, "Request body too large");
		return;
	}
	rc = mc_put_begin(r->s, key, (size_t)klen, size, &p, &e);
	if (rc < 0) {
		web_resp_errno(r, rc, &e, "Put failed");
		return;
	}
	dst = mc_put_buffer(p, 0);
	/*
	 * A put whose bytes go to other nodes at the commit: the body may
	 * stay in a pipe from the client's socket on (a cluster node's
	 * door then touches none of it).
	 */
	if (mc_store_pipes(r->s) && r->io->pipe_take &&
	    r->io->pipe_take(r->conn, pfd) == 0) {
		rc = mc_put_stream(p, &e);
		if (rc < 0) {
			r->io->pipe_give(r->conn, pfd, true);
			web_resp_errno(r, (int)rc, &e, "Put failed");
			return;
		}
		if (rc == 1) {
			put_streamed(r, p, size, dst, pfd);
			return;
		}
		r->io->read_pipe_begin(r->conn, pfd[1], dst);
	}
	while (done < size) {
		int64_t got = web_req_read(r, dst + done, size - done);

		if (got <= 0) {
			piped_end(r, pfd, NULL, 0);
			mc_put_abort(p);
			web_resp_body_error(r, got < 0 ? (int)got : -EIO);
			return;
		}
		done += (uint64_t)got;
	}
	rc = piped_end(r, pfd, dst, size);
	if (rc >= 0)
		rc = pfd[0] >= 0
			     ? mc_put_commit_pipe(p, (uint64_t)rc, pfd[0], &e)
			     : mc_put_commit(p, true, &e);
	else
		mc_put_abort(p);
	if (pfd[0] >= 0)
		r->io->pipe_give(r->conn, pfd, rc == 0);
	if (rc < 0)
		web_resp_errno(r, rc, &e, "Put failed");
	else
		web_resp_success(r);
}

/* The answer to a get: mc_get's @rc and reference @ref. */
static void get_answer(struct web_req *r, int rc, struct mc_ref *ref)
{
	if (rc == -ENOENT) {
		not_found(r);
		return;
	}
	if (rc == -EREMOTEIO) {
		web_resp_error(r, 409, mc_code_name(MC_REMOTE_ONLY));
		return;
	}
	if (rc < 0) {
		web_resp_errno(r, rc, NULL, "Get failed");
		return;
	}
	web_resp_send_bytes(r, 200, WEB_CT_BYTES, mc_ref_data(ref),
			    mc_ref_size(ref));
	mc_ref_release(ref);
}

/*
 * A get whose value may come through pipe @pfd, lent by the connection
 * (mc_get_pipe: a cluster node's value read from another node), and
 * leave through it to the client's socket: this door then touches none
 * of its bytes. The answer begins only once the whole value is in the
 * pipe, so a read that fails is still answered with an error, never
 * with a short 200. A value the pipe cannot hold is read into memory.
 */
static void get_piped(struct web_req *r, const char *key, size_t klen,
		      int pfd[2])
{
	struct mc_ref *ref = NULL;
	uint64_t size = 0;
	int room = fcntl(pfd[1], F_GETPIPE_SZ);
	int held = -1;
	int rc = mc_get_pipe(r->s, key, klen, pfd,
			     room > 0 ? (uint64_t)room : 0, &ref, &size);

	if (rc == 1) {
		rc = web_resp_send_pipe(r, 200, WEB_CT_BYTES, pfd[0], size);
		r->io->pipe_give(r->conn, pfd, rc == 0);
		return;
	}
	/* a read through it that failed may have left bytes in it */
	if (ioctl(pfd[0], FIONREAD, &held))
		held = -1;
	r->io->pipe_give(r->conn, pfd, held == 0);
	get_answer(r, rc, ref);
}

void web_api_get(struct web_req *r)
{
	char key[MC_KEY_MAX];
	ssize_t klen = path_key(r, key);
	struct mc_ref *ref;
	uint64_t size;
	int pfd[2];
	int rc;

	if (klen < 0)
		return;
	if (r->head) {
		/* a stat: no GetReplicaList counted, no bytes touched */
		rc = mc_stat(r->s, key, (size_t)klen, &size);
		if (rc == -ENOENT)
			not_found(r);
		else if (rc < 0)
			web_resp_errno(r, rc, NULL, "Get failed");
		else
			web_resp_send_bytes(r, 200, WEB_CT_BYTES, NULL, size);
		return;
	}
	if (mc_store_pipes(r->s) && r->io->pipe_take && r->io->write_pipe &&
	    r->io->pipe_take(r->conn, pfd) == 0) {
		get_piped(r, key, (size_t)klen, pfd);
		return;
	}
	rc = mc_get(r->s, key, (size_t)klen, &ref);
	get_answer(r, rc, ref);
}

void web_api_exist(struct web_req *r)
{
	char key[MC_KEY_MAX];
	ssize_t klen = path_key(r, key);
	int rc;

	if (klen < 0)
		return;
	rc = mc_exist(r->s, key, (size_t)klen);
	if (rc < 0) {
		web_resp_errno(r, rc, NULL, "Exist failed");
		return;
	}
	mc_buf_adds(r->out, rc ? "{\"exists\": true}" : "{\"exists\": false}");
	web_resp_send(r, 200, WEB_CT_JSON);
}

void web_api_remove(struct web_req *r)
{
	char key[MC_KEY_MAX];
	ssize_t klen = path_key(r, key);
	struct mc_err e = {0};
	bool force;
	int rc;

	if (klen < 0)
		return;
	if (web_api_parse_force(r->query, &force)) {
		web_resp_error(r, 400, "Invalid force, must be true or false");
		return;
	}
	rc = mc_remove(r->s, key, (size_t)klen, force, &e);
	if (rc == -ENOENT) {
		not_found(r);
	} else if (rc == -EBUSY) {
		/* why, and for how long: a person waits or forces */
		snprintf(r->why, sizeof(r->why),
			 "%.200s; remove it then, or with ?force=true", e.msg);
		mc_buf_reset(r->scratch);
		mc_buf_adds(r->scratch, "\"message\":");
		mc_buf_add_json_str(r->scratch, r->why, strlen(r->why));
		mc_buf_addch(r->scratch, '\0');
		web_resp_error_extra(r, 409, mc_code_name(MC_OBJECT_HAS_LEASE),
				     r->scratch->data);
	} else if (rc < 0)
		web_resp_errno(r, rc, &e, "Remove failed");
	else
		web_resp_success(r);
}

void web_api_remove_all(struct web_req *r)
{
	bool force;
	int64_t n;

	if (web_api_parse_force(r->query, &force)) {
		web_resp_error(r, 400, "Invalid force, must be true or false");
		return;
	}
	n = mc_remove_all(r->s, force);
	if (n < 0) {
		web_resp_errno(r, (int)n, NULL, "Remove failed");
		return;
	}
	mc_buf_adds(r->out, "{\"status\":\"success removed ");
	mc_buf_addu(r->out, (unsigned long long)n);
	mc_buf_adds(r->out, " keys\"}");
	web_resp_send(r, 200, WEB_CT_JSON);
}

/* ------------------------------------------------------ two-phase put */

/* The "key" of a two-phase put body: 0, or -1 after answering 400. */
static int body_key(struct web_req *r, struct json_object *o, const char **key,
		    size_t *klen)
{
	struct mc_err e = {0};
	int rc = web_json_string(o, "key", key, klen, &e);

	if (rc == -ENOENT) {
		web_resp_error(r, 400, "Missing key");
		return -1;
	}
	if (rc < 0) {
		web_resp_error(r, 400, e.msg);
		return -1;
	}
	if (web_key_check(*key, *klen, &e)) {
		web_resp_error(r, 400, e.msg);
		return -1;
	}
	return 0;
}

void web_api_put_start(struct web_req *r)
{
	struct json_object *o = web_api_body_json(r);
	const char *key;
	size_t klen;
	int64_t size;
	struct mc_put *p;
	struct mc_err e = {0};
	int rc;

	if (!o)
		return;
	if (body_key(r, o, &key, &klen))
		goto out;
	if (web_json_int(o, "size", 1, INT64_MAX, &size, &e)) {
		web_resp_error(r, 400,
			       "Invalid size, must be a positive integer");
		goto out;
	}
	rc = mc_put_start(r->s, key, klen, (uint64_t)size, &p, &e);
	if (rc == -EBUSY) {
		web_resp_error(r, 409, "A put of this key is already open");
		goto out;
	}
	if (rc < 0) {
		web_resp_errno(r, rc, &e, "Put failed");
		goto out;
	}
	/*
	 * The put stays open in the store, keyed by its key, until put_end,
	 * put_revoke or --put-timeout: this handler keeps no handle.
	 */
	mc_buf_adds(r->out, "{\"status\":\"success\",\"key\":");
	mc_buf_add_json_str(r->out, key, klen);
	mc_buf_adds(r->out, ",\"descriptors\":[");
	for (size_t i = 0; i < mc_put_ndesc(p); i++) {
		if (i)
			mc_buf_addch(r->out, ',');
		mc_render_desc(r->out, mc_put_desc(p, i));
	}
	mc_buf_adds(r->out, "]}");
	mc_put_release(p);
	web_resp_send(r, 200, WEB_CT_JSON);
out:
	json_object_put(o);
}

static void put_finish(struct web_req *r, bool end)
{
	struct json_object *o = web_api_body_json(r);
	const char *key;
	size_t klen;
	struct mc_err e = {0};
	int rc;

	if (!o)
		return;
	if (body_key(r, o, &key, &klen))
		goto out;
	rc = end ? mc_put_end(r->s, key, klen, &e)
		 : mc_put_revoke(r->s, key, klen, &e);
	if (rc == -ENOENT)
		web_resp_error(r, 404, "No open put for this key");
	else if (rc < 0)
		web_resp_errno(r, rc, &e, "Put failed");
	else
		web_resp_success(r);
out:
	json_object_put(o);
}

void web_api_put_end(struct web_req *r)
{
	put_finish(r, true);
}

void web_api_put_revoke(struct web_req *r)
{
	put_finish(r, false);
}
