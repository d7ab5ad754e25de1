/*
 * etcd_int.h - the etcd client's codec (etcd_codec.c), shared by the
 * client (etcd.c) and its Check suite: base64, the gateway's answers and
 * stream lines. Nothing here opens a connection. Every function returns
 * 0 or a negative errno with @err filled (-EPROTO: not etcd's JSON; the
 * others as etcd.h says).
 */
#ifndef MC_ETCD_INT_H
#define MC_ETCD_INT_H

#include <json-c/json.h>

#include "etcd.h"

/* Fills @err (when not NULL) with MC_RPC_FAIL and the message; returns
 * @ret. */
int mc_etcd_fail(struct mc_err *err, int ret, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Base64 (RFC 4648, with padding). The result is malloc'd and
 * NUL-terminated; NULL when out of memory. */
char *mc_b64_encode(const void *p, size_t n);
/* Strict decoding: -EPROTO on a character outside the alphabet, bad
 * padding or a length that is not a multiple of 4. *@out is malloc'd
 * with a NUL after the *@olen bytes. */
int mc_b64_decode(const char *s, size_t slen, char **out, size_t *olen);

/*
 * Turns an HTTP answer (@status, @body of @len bytes) of @path into a
 * JSON object (*@out, put by the caller) or an error: the gateway's
 * {"error","code","message"} becomes the errno of its gRPC code
 * (-EAGAIN for "unavailable", which callers retry); a body that is not
 * a JSON object is -EPROTO.
 */
int mc_etcd_answer(const char *path, long status, const char *body, size_t len,
		   struct json_object **out, struct mc_err *err);

/* Reads field @name of @o as an int64 (a JSON string or number); a
 * missing field or JSON null is 0 (the gateway omits zeroes). */
int mc_etcd_json_int64(struct json_object *o, const char *name, int64_t *v,
		       struct mc_err *err);

/* Reads an etcd KeyValue object (key and value in base64). */
int mc_etcd_parse_kv(struct json_object *o, struct mc_etcd_kv *kv,
		     struct mc_err *err);

/* Reads field @name of @o, base64, into a malloc'd *@p of *@n bytes
 * (NUL-terminated); a missing field is empty. */
int mc_etcd_json_bytes(struct json_object *o, const char *name, char **p,
		       size_t *n, struct mc_err *err);

/* Reads array field @field of @o (KeyValue objects) into @r. */
int mc_etcd_parse_kvs(struct json_object *o, const char *field,
		      struct mc_etcd_kvs *r, struct mc_err *err);

/* Reads the revision in @o's response header into *@rev (0 without a
 * header; -EPROTO when negative). */
int mc_etcd_header_rev(struct json_object *o, int64_t *rev, struct mc_err *err);

/* Whether boolean field @name of @o is present and true. */
bool mc_etcd_json_true(struct json_object *o, const char *name);

/*
 * What one line of a watch or observe stream says. The stream's state
 * (what it expects next) lives in struct mc_etcd_stream so that a table
 * of hostile lines can drive it without a connection.
 */
struct mc_etcd_stream {
	bool observe;	     /* an election observe stream, not a watch */
	unsigned flags;	     /* the watch's flags */
	int64_t next_rev;    /* where a reconnect resumes (0: now) */
	bool created;	     /* CREATED was delivered on this connection */
	int64_t action;	     /* the callback's last non-zero answer */
	mc_etcd_watch_fn fn; /* receives the events */
	void *arg;
	char why[256]; /* why the connection must end (empty: it need not) */
};

/*
 * Handles one line (one JSON object, no newline) of the stream: calls
 * st->fn for each event it carries and updates st. Returns 0 to read
 * on, 1 when the connection must end (st->why says why, or st->action
 * holds the callback's restart or stop), -EPROTO for a line that is not
 * etcd's (st->why has the message).
 */
int mc_etcd_stream_line(struct mc_etcd_stream *st, const char *line,
			size_t len);

/* Sets st->why from the format and returns @rc. */
int mc_etcd_stream_fail(struct mc_etcd_stream *st, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
