/*
 * check_member.c - cluster membership (cluster/member.h) against a real
 * etcd: registration and the node set (the full list on start, joins
 * and leaves), one leader that every node agrees on with a term that
 * grows, a leader killed with SIGKILL in another process and replaced
 * after its lease, fencing while etcd is paused, etcd stopped and
 * restarted, a lease revoked under a live node (it rejoins as a new
 * incarnation), hostile values under the cluster's prefix, dead
 * endpoints, and the options.
 */
#include "autoconfig.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "check.h"
#include "etcd.h"
#include "etcd_lib.h"
#include "log.h"
#include "member.h"

static struct etcd_proc E;

static void suite_etcd_up(void)
{
	mc_log_set_level(getenv("MC_TEST_LOG") ? MC_LOG_INFO : MC_LOG_WARN);
	etcd_proc_start_or_exit(&E, "check_member");
}

static void suite_etcd_down(void)
{
	etcd_proc_destroy(&E);
}

/* --- what the callbacks saw ---------------------------------------------- */

#define MAX_LOG 128

struct seen {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char nodes[MAX_LOG][80]; /* "+id" "-id" */
	int n_nodes;
	char leader[MC_MEMBER_ID_MAX + 1]; /* last on_leader ("" none) */
	int64_t leader_term;
	int n_leader;
	bool leading;
	int64_t role_term;
	int gains, losses;
	uint64_t lost_at, gained_at;
	int64_t terms[MAX_LOG]; /* every term gained, in order */
	bool in_cb;		/* two callbacks at once would show here */
	bool overlap;
};

static void seen_init(struct seen *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
}

static void enter(struct seen *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->in_cb)
		s->overlap = true;
	s->in_cb = true;
}

static void leave(struct seen *s)
{
	s->in_cb = false;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static void on_node(void *arg, const struct mc_member_node *n, bool joined)
{
	struct seen *s = arg;

	enter(s);
	if (s->n_nodes < MAX_LOG)
		snprintf(s->nodes[s->n_nodes++], 80, "%c%s", joined ? '+' : '-',
			 n->id);
	leave(s);
}

static void on_leader(void *arg, const char *id, int64_t term)
{
	struct seen *s = arg;

	enter(s);
	snprintf(s->leader, sizeof(s->leader), "%s", id ? id : "");
	s->leader_term = term;
	s->n_leader++;
	leave(s);
}

static void on_role(void *arg, bool leader, int64_t term)
{
	struct seen *s = arg;

	enter(s);
	s->leading = leader;
	s->role_term = term;
	if (leader) {
		if (s->gains < MAX_LOG)
			s->terms[s->gains] = term;
		s->gains++;
		s->gained_at = etcd_ms_now();
	} else {
		s->losses++;
		s->lost_at = etcd_ms_now();
	}
	leave(s);
}

/* Waits (up to @ms) until @pred(s) holds; returns whether it did. */
static bool wait_for(struct seen *s, bool (*pred)(struct seen *, const void *),
		     const void *arg, unsigned ms)
{
	uint64_t end = etcd_ms_now() + ms;
	bool ok;

	pthread_mutex_lock(&s->lock);
	while (!(ok = pred(s, arg)) && etcd_ms_now() < end) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 20000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->cond, &s->lock, &ts);
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

/* the node log holds this entry (at least @count times when given) */
static bool has_node(struct seen *s, const void *arg)
{
	int n = 0;

	for (int i = 0; i < s->n_nodes; i++)
		n += !strcmp(s->nodes[i], (const char *)arg);
	return n > 0;
}

static int count_node(struct seen *s, const char *what)
{
	int n = 0;

	pthread_mutex_lock(&s->lock);
	for (int i = 0; i < s->n_nodes; i++)
		n += !strcmp(s->nodes[i], what);
	pthread_mutex_unlock(&s->lock);
	return n;
}

static bool leader_is(struct seen *s, const void *arg)
{
	return !strcmp(s->leader, (const char *)arg);
}

static bool term_is(struct seen *s, const void *arg)
{
	return s->leader_term == *(const int64_t *)arg;
}

/* Some node other than @arg leads. */
static bool leader_besides(struct seen *s, const void *arg)
{
	return s->leader[0] && strcmp(s->leader, (const char *)arg);
}

static bool is_leading(struct seen *s, const void *arg)
{
	return s->leading == (arg != NULL);
}

/* The node TTL of the tests. On this shared 2-core machine etcd now and
 * then takes half a second to answer; a 1 s lease then fences its leader,
 * as it should, and a test that expects a stable leader fails. Under
 * valgrind (MC_TEST_QUICK) every call is many times slower still, so the
 * lease is longer there, and waits are longer. */
static unsigned ttl_ms(void)
{
	return mc_test_quick() ? 6000 : 2000;
}

static unsigned slow(unsigned ms)
{
	return mc_test_quick() ? ms * 4 : ms;
}

static struct mc_member *start(const char *cluster, const char *id,
			       unsigned ttl, const char *endpoints,
			       struct seen *s)
{
	struct mc_member_opts o;
	struct mc_err err = {0, ""};
	struct mc_member *m;
	char http[64];

	mc_member_opts_default(&o);
	snprintf(http, sizeof(http), "127.0.0.1:%u", 8000 + (unsigned)id[0]);
	o.endpoints = endpoints ? endpoints : E.url;
	o.cluster = cluster;
	o.id = id;
	o.http = http;
	o.transfer = "127.0.0.1:9000";
	o.hostname = "testhost";
	o.ttl_ms = ttl;
	o.cb.on_node = on_node;
	o.cb.on_leader = on_leader;
	o.cb.on_role = on_role;
	o.cb.arg = s;
	m = mc_member_start(&o, &err);
	ck_assert_msg(m, "mc_member_start: %s", err.msg);
	return m;
}

static struct mc_etcd *raw(void)
{
	struct mc_etcd_opts o;

	mc_etcd_opts_default(&o);
	o.endpoints = E.url;
	return mc_etcd_new(&o, NULL);
}

/* Waits until cluster @name's election has @want candidates. */
static void wait_candidates(struct mc_etcd *e, const char *name, int64_t want)
{
	uint64_t t0 = etcd_ms_now();
	char pfx[128];
	int n = snprintf(pfx, sizeof(pfx), "/mooncake/%s/leader/", name);

	for (int64_t cands = 0; cands < want;) {
		struct mc_etcd_kvs r;

		ck_assert_uint_lt(etcd_ms_now() - t0, slow(5000));
		ck_assert_int_eq(mc_etcd_range(e, pfx, (size_t)n, NULL, 0,
					       MC_ETCD_PREFIX, 0, 0, &r, NULL),
				 0);
		cands = r.count;
		mc_etcd_kvs_release(&r);
		etcd_sleep_ms(10);
	}
}

/* --- options and values -------------------------------------------------- */

START_TEST(test_opts)
{
	static const struct {
		const char *cluster, *id, *http;
		unsigned ttl;
		const char *msg;
	} bad[] = {
		{"a/b", NULL, "h:1", 3000, "cluster name"},
		{"", NULL, "h:1", 3000, "cluster name"},
		{"..", NULL, "h:1", 3000, "cluster name"},
		{"c", "a/b", "h:1", 3000, "node id"},
		{"c", "x y", "h:1", 3000, "node id"},
		{"c", "", "h:1", 3000, "node id"},
		{"c", "\xc3\xa9", "h:1", 3000, "node id"},
		{"c",
		 "0123456789012345678901234567890123456789012345678901234567890"
		 "123456789",
		 "h:1", 3000, "node id"},
		{"c", NULL, NULL, 3000, "http"},
		{"c", NULL, "", 3000, "http"},
		{"c", NULL, "h:1", 999, "TTL"},
		{"c", NULL, "h:1", 3600001, "TTL"},
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mc_member_opts o;
		struct mc_err err = {0, ""};

		mc_member_opts_default(&o);
		o.endpoints = "http://127.0.0.1:1";
		o.cluster = bad[i].cluster;
		o.id = bad[i].id;
		o.http = bad[i].http;
		o.ttl_ms = bad[i].ttl;
		ck_assert_ptr_null(mc_member_start(&o, &err));
		ck_assert_msg(strstr(err.msg, bad[i].msg), "row %zu: '%s'", i,
			      err.msg);
		ck_assert_int_eq(err.code, MC_INVALID_PARAMS);
	}
	struct mc_member_opts o;
	struct mc_err err = {0, ""};

	mc_member_opts_default(&o);
	o.endpoints = "ftp://x";
	o.http = "h:1";
	ck_assert_ptr_null(mc_member_start(&o, &err));
	ck_assert_msg(strstr(err.msg, "not an http"), "%s", err.msg);
	mc_member_stop(NULL);
}
END_TEST

START_TEST(test_node_parse)
{
	static const struct {
		const char *json;
		int rc;
	} t[] = {
		{"{\"id\":\"n1\",\"http\":\"h:1\",\"transfer\":\"h:2\","
		 "\"hostname\":\"x\"}",
		 0},
		{"{\"id\":\"n1\",\"http\":\"h:1\"}", 0},
		{"{\"id\":\"n1\",\"http\":\"h:1\",\"future\":[1,2]}", 0},
		{"{\"id\":\"n2\",\"http\":\"h:1\"}", -EINVAL}, /* id mismatch */
		{"{\"http\":\"h:1\"}", -EINVAL},
		{"{\"id\":\"n1\"}", -EINVAL},
		{"{\"id\":\"n1\",\"http\":\"\"}", -EINVAL},
		{"{\"id\":\"n1\",\"http\":7}", -EINVAL},
		{"{\"id\":\"n1\",\"http\":\"h:1\",\"transfer\":null}", 0},
		{"{\"id\":\"n1\",\"http\":\"h:1\",\"hostname\":{}}", -EINVAL},
		{"{\"id\":\"n1\",\"http\":\"h\\u0000:1\"}", -EINVAL},
		{"{\"id\":\"n1\",\"http\":\"h:1\"} trailing", -EINVAL},
		{"[]", -EINVAL},
		{"", -EINVAL},
		{"null", -EINVAL},
		{"{", -EINVAL},
	};
	char big[600];

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct mc_member_node n;
		struct mc_err err = {0, ""};
		int rc = mc_member_node_parse("n1", t[i].json,
					      strlen(t[i].json), &n, &err);

		ck_assert_msg(rc == t[i].rc, "'%s': %d (%s)", t[i].json, rc,
			      err.msg);
		if (rc)
			ck_assert_msg(err.msg[0], "no message for '%s'",
				      t[i].json);
		else
			ck_assert_str_eq(n.http, "h:1");
	}
	/* a field longer than its room */
	int len = snprintf(big, sizeof(big),
			   "{\"id\":\"n1\",\"http\":\"%0300d\"}", 0);
	struct mc_member_node n;

	ck_assert_int_eq(mc_member_node_parse("n1", big, (size_t)len, &n, NULL),
			 -EINVAL);
}
END_TEST

/* --- against etcd -------------------------------------------------------- */

START_TEST(test_view_and_leader)
{
	struct seen sa, sb, sc;
	struct mc_member *a, *b, *c;
	struct mc_member_node *nodes, ln;
	struct mc_etcd *e = raw();
	struct mc_etcd_kv kv;
	size_t n;
	int64_t ta = 0, tb = 0, t = 0;

	seen_init(&sa);
	seen_init(&sb);
	seen_init(&sc);
	a = start("view", "a", ttl_ms(), NULL, &sa);
	ck_assert(wait_for(&sa, is_leading, "", slow(5000)));
	b = start("view", "b", ttl_ms(), NULL, &sb);
	ck_assert(wait_for(&sa, has_node, "+b", slow(5000)));
	ck_assert(wait_for(&sb, has_node, "+a", slow(5000)));
	ck_assert(wait_for(&sb, leader_is, "a", slow(5000)));
	/* one leader, both agree on it and its term */
	ck_assert(mc_member_is_leader_now(a, &ta));
	ck_assert(!mc_member_is_leader_now(b, &tb));
	ck_assert_int_gt(ta, 0);
	ck_assert_int_eq(tb, 0);
	ck_assert_int_eq(mc_member_leader(b, &ln, &t), 0);
	ck_assert_str_eq(ln.id, "a");
	ck_assert_str_eq(ln.http, "127.0.0.1:8097");
	ck_assert_int_eq(t, ta);
	ck_assert_int_eq(sb.leader_term, ta);
	ck_assert_int_eq(sa.role_term, ta);
	ck_assert_str_eq(mc_member_id(a), "a");

	/* the registration as etcd holds it */
	ck_assert_int_eq(
		mc_etcd_get(e, "/mooncake/view/nodes/b", 22, &kv, NULL), 0);
	ck_assert_msg(
		strstr(kv.value, "\"id\":\"b\"") &&
			strstr(kv.value, "\"http\":\"127.0.0.1:8098\"") &&
			strstr(kv.value, "\"transfer\":\"127.0.0.1:9000\"") &&
			strstr(kv.value, "\"hostname\":\"testhost\""),
		"%s", kv.value);
	ck_assert_int_gt(kv.lease, 0);
	mc_etcd_kv_release(&kv);

	/* a late node gets the full list at start, itself included */
	c = start("view", "c", ttl_ms(), NULL, &sc);
	ck_assert(wait_for(&sc, has_node, "+c", slow(5000)));
	ck_assert(wait_for(&sc, has_node, "+a", slow(100)));
	ck_assert(wait_for(&sc, has_node, "+b", slow(100)));
	ck_assert(wait_for(&sc, leader_is, "a", slow(5000)));
	ck_assert_int_eq(mc_member_nodes(c, &nodes, &n), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(nodes[0].id, "a"); /* sorted */
	ck_assert(!nodes[0].self);
	ck_assert(nodes[2].self);
	ck_assert_str_eq(nodes[2].hostname, "testhost");
	free(nodes);

	/* the leader leaves cleanly: it steps down before stop returns,
	 * the others see it go at once (not after a TTL) and the next
	 * candidate leads with a larger term */
	uint64_t t0 = etcd_ms_now();

	mc_member_stop(a);
	ck_assert_int_eq(sa.gains, 1);
	ck_assert_int_eq(sa.losses, 1);
	ck_assert(wait_for(&sb, has_node, "-a", slow(5000)));
	ck_assert(wait_for(&sc, has_node, "-a", slow(100)));
	ck_assert_uint_lt(etcd_ms_now() - t0, slow(900));
	bool b_leads = wait_for(&sb, is_leading, "", slow(5000));
	bool c_leads = !b_leads && wait_for(&sc, is_leading, "", slow(100));

	ck_assert(b_leads || c_leads);
	ck_assert(mc_member_is_leader_now(b_leads ? b : c, &t));
	ck_assert(!mc_member_is_leader_now(b_leads ? c : b, NULL));
	ck_assert_int_gt(t, ta);
	ck_assert(wait_for(&sb, leader_is, b_leads ? "b" : "c", slow(3000)));
	ck_assert(wait_for(&sc, leader_is, b_leads ? "b" : "c", slow(3000)));
	ck_assert_int_eq(sb.leader_term, t);
	ck_assert_int_eq(sc.leader_term, t);

	mc_member_stop(b);
	mc_member_stop(c);
	/* nothing left behind in etcd */
	struct mc_etcd_kvs r;

	ck_assert_int_eq(mc_etcd_range(e, "/mooncake/view/", 15, NULL, 0,
				       MC_ETCD_PREFIX, 0, 0, &r, NULL),
			 0);
	ck_assert_uint_eq(r.n, 0);
	mc_etcd_kvs_release(&r);
	ck_assert(!sa.overlap && !sb.overlap && !sc.overlap);
	mc_etcd_free(e);
}
END_TEST

/* Runs a member that leads in a child process; returns its pid once it
 * leads (its term in *@term). */
static pid_t leader_child(const char *cluster, unsigned ttl, int64_t *term)
{
	int fds[2];
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct seen s;
		struct mc_member *m;
		int64_t t = 0;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(fds[0]);
		seen_init(&s);
		m = start(cluster, "child", ttl, NULL, &s);
		while (!mc_member_is_leader_now(m, &t))
			etcd_sleep_ms(10);
		if (write(fds[1], &t, sizeof(t)) != sizeof(t))
			_exit(1);
		for (;;)
			pause();
	}
	close(fds[1]);
	ck_assert_int_eq(read(fds[0], term, sizeof(*term)), sizeof(*term));
	close(fds[0]);
	return pid;
}

START_TEST(test_leader_killed)
{
	struct seen s;
	struct mc_member *b;
	int64_t tchild = 0, t = 0;
	pid_t child = leader_child("kill", ttl_ms(), &tchild);

	seen_init(&s);
	b = start("kill", "b", ttl_ms(), NULL, &s);
	ck_assert(wait_for(&s, leader_is, "child", slow(5000)));
	ck_assert_int_eq(s.leader_term, tchild);
	ck_assert(!mc_member_is_leader_now(b, NULL));

	/* kill -9: no resign, no revoke; etcd ends the lease */
	uint64_t t0 = etcd_ms_now();

	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	ck_assert(wait_for(&s, is_leading, "", slow(5000)));
	uint64_t took = s.gained_at - t0;

	ck_assert(mc_member_is_leader_now(b, &t));
	ck_assert_int_gt(t, tchild);
	ck_assert(wait_for(&s, has_node, "-child", slow(2000)));
	ck_assert(wait_for(&s, leader_is, "b", slow(2000)));
	/* not before the child's lease (1 s) could end; soon after */
	ck_assert_uint_ge(took, ttl_ms() * 6 / 10);
	ck_assert_uint_lt(took, ttl_ms() + slow(2500));
	mc_member_stop(b);
	ck_assert_int_eq(s.losses, 1);
}
END_TEST

START_TEST(test_fencing_paused_etcd)
{
	struct etcd_proc p;
	struct seen s;
	struct mc_member *a;
	int64_t t1 = 0, t2 = 0;
	const unsigned ttl = ttl_ms();

	ck_assert_int_eq(etcd_proc_start(&p), 0);
	seen_init(&s);
	a = start("fence", "a", ttl, p.url, &s);
	ck_assert(wait_for(&s, is_leading, "", slow(5000)));
	ck_assert(wait_for(&s, leader_is, "a", slow(2000)));
	ck_assert(mc_member_is_leader_now(a, &t1));
	etcd_sleep_ms(400); /* a few keep-alives in */

	/* etcd freezes: no keep-alive answers. The leader must stop
	 * acting at its fence, 2/3 TTL after the last good keep-alive
	 * began, so before the lease could end at etcd */
	uint64_t t0 = etcd_ms_now(), off = 0;

	etcd_proc_pause(&p);
	while (etcd_ms_now() - t0 < 2 * ttl) {
		if (!mc_member_is_leader_now(a, NULL)) {
			off = etcd_ms_now() - t0;
			break;
		}
		etcd_sleep_ms(5);
	}
	ck_assert_msg(off, "still leader 3 s into an etcd freeze");
	/* the last keep-alive began at most one interval (+ its own
	 * time) before the freeze: the fence is 1000 ms after it */
	ck_assert_uint_le(off, ttl - ttl / 3 + 30);
	/* and not much earlier (valgrind slows keep-alives down) */
	if (!mc_test_quick())
		ck_assert_uint_ge(off, ttl - ttl / 3 - ttl / 6 - 200);
	ck_assert(wait_for(&s, is_leading, NULL, slow(1000)));
	ck_assert_uint_le(s.lost_at - t0, ttl - ttl / 3 + slow(200));
	/* cut off: it reports no leader, and tells */
	ck_assert(wait_for(&s, leader_is, "", slow(2000)));
	ck_assert_int_eq(mc_member_leader(a, NULL, NULL), -ENOENT);

	/* etcd back: a new reign, with a new, larger term */
	etcd_proc_resume(&p);
	ck_assert(wait_for(&s, is_leading, "", slow(8000)));
	ck_assert(mc_member_is_leader_now(a, &t2));
	ck_assert_int_gt(t2, t1);
	/* the view may first show the old key again (it is still in etcd
	 * until the node withdraws it), then the new reign */
	ck_assert(wait_for(&s, term_is, &t2, slow(3000)));
	ck_assert_str_eq(s.leader, "a");
	mc_member_stop(a);
	ck_assert_int_eq(s.gains, s.losses);
	for (int i = 1; i < s.gains; i++)
		ck_assert_int_gt(s.terms[i], s.terms[i - 1]);
	etcd_proc_destroy(&p);
}
END_TEST

START_TEST(test_etcd_restart)
{
	struct etcd_proc p;
	struct seen sa, sb;
	struct mc_member *a, *b;
	int64_t t1 = 0, t2 = 0;
	uint64_t t0;

	ck_assert_int_eq(etcd_proc_start(&p), 0);
	seen_init(&sa);
	seen_init(&sb);
	a = start("restart", "a", ttl_ms(), p.url, &sa);
	ck_assert(wait_for(&sa, is_leading, "", slow(5000)));
	b = start("restart", "b", ttl_ms(), p.url, &sb);
	ck_assert(wait_for(&sb, leader_is, "a", slow(5000)));
	ck_assert(mc_member_is_leader_now(a, &t1));

	/* etcd goes: nobody leads, everybody says so, nobody crashes */
	etcd_proc_stop(&p);
	t0 = etcd_ms_now();
	ck_assert(wait_for(&sa, is_leading, NULL, slow(2000)));
	ck_assert_uint_lt(etcd_ms_now() - t0, ttl_ms());
	ck_assert(!mc_member_is_leader_now(a, NULL));
	ck_assert(wait_for(&sb, leader_is, "", slow(3000)));
	ck_assert(wait_for(&sa, leader_is, "", slow(3000)));
	ck_assert_int_eq(mc_member_leader(b, NULL, NULL), -ENOENT);
	etcd_sleep_ms(1500);

	/* etcd back: one leader again, a new term, both registered */
	ck_assert_int_eq(etcd_proc_restart(&p), 0);
	t0 = etcd_ms_now();
	for (;;) {
		bool la = mc_member_is_leader_now(a, &t2);
		bool lb = !la && mc_member_is_leader_now(b, &t2);

		if (la || lb) {
			ck_assert(!(la && mc_member_is_leader_now(b, NULL)));
			break;
		}
		ck_assert_msg(etcd_ms_now() - t0 < slow(8000),
			      "no leader 8 s after etcd came back");
		etcd_sleep_ms(20);
	}
	ck_assert_int_gt(t2, t1);
	struct mc_member_node *nodes;
	size_t n = 0;

	for (int i = 0; i < 100 && n != 2; i++) {
		struct mc_member_node ln;

		ck_assert_int_eq(mc_member_nodes(b, &nodes, &n), 0);
		free(nodes);
		if (n == 2 && mc_member_leader(b, &ln, NULL) == 0)
			break;
		n = 0;
		etcd_sleep_ms(50);
	}
	ck_assert_uint_eq(n, 2);
	mc_member_stop(a);
	mc_member_stop(b);
	etcd_proc_destroy(&p);
}
END_TEST

/*
 * etcd comes back without its data (a fresh data directory): its
 * revisions start again, below what the viewers saw. The leader went
 * meanwhile, so another node leads in the new store: the viewers read
 * the cluster again rather than wait for revisions the new store reaches
 * only much later, and see it.
 */
START_TEST(test_etcd_lost_data)
{
	struct etcd_proc p;
	struct seen sa, sb, sc;
	struct mc_member *a, *b, *c;
	struct mc_etcd_opts o;
	struct mc_etcd *e;
	char cmd[400], want[MC_MEMBER_ID_MAX + 1];

	ck_assert_int_eq(etcd_proc_start(&p), 0);
	/* other users of etcd move its revision on */
	mc_etcd_opts_default(&o);
	o.endpoints = p.url;
	e = mc_etcd_new(&o, NULL);
	ck_assert_ptr_nonnull(e);
	for (int i = 0; i < 60; i++)
		ck_assert_int_eq(
			mc_etcd_put(e, "junk", 4, "x", 1, 0, NULL, NULL), 0);
	mc_etcd_free(e);
	seen_init(&sa);
	seen_init(&sb);
	seen_init(&sc);
	a = start("lost", "a", ttl_ms(), p.url, &sa);
	ck_assert(wait_for(&sa, is_leading, "", slow(5000)));
	b = start("lost", "b", ttl_ms(), p.url, &sb);
	c = start("lost", "c", ttl_ms(), p.url, &sc);
	ck_assert(wait_for(&sb, leader_is, "a", slow(5000)));
	ck_assert(wait_for(&sc, leader_is, "a", slow(5000)));

	etcd_proc_kill(&p);
	mc_member_stop(a);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s/data'", p.dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_int_eq(etcd_proc_restart(&p), 0);
	/* b or c leads; both say which */
	ck_assert(wait_for(&sb, leader_besides, "a", slow(10000)));
	pthread_mutex_lock(&sb.lock);
	snprintf(want, sizeof(want), "%s", sb.leader);
	pthread_mutex_unlock(&sb.lock);
	ck_assert(wait_for(&sc, leader_is, want, slow(5000)));
	mc_member_stop(b);
	mc_member_stop(c);
	etcd_proc_destroy(&p);
}
END_TEST

START_TEST(test_lease_revoked_rejoin)
{
	struct seen sa, sb;
	struct mc_member *a, *b;
	struct mc_etcd *e = raw();
	struct mc_etcd_kv kv, kv2;

	seen_init(&sa);
	seen_init(&sb);
	b = start("rejoin", "b", ttl_ms(), NULL, &sb);
	ck_assert(wait_for(&sb, is_leading, "", slow(5000)));
	a = start("rejoin", "a", ttl_ms(), NULL, &sa);
	ck_assert(wait_for(&sb, has_node, "+a", slow(5000)));
	ck_assert_int_eq(
		mc_etcd_get(e, "/mooncake/rejoin/nodes/a", 24, &kv, NULL), 0);

	/* someone revokes a's lease: a finds it gone, takes a new lease and
	 * registers again; everybody sees a leave and join again */
	ck_assert_int_eq(mc_etcd_lease_revoke(e, kv.lease, NULL), 0);
	ck_assert(wait_for(&sb, has_node, "-a", slow(3000)));
	uint64_t t0 = etcd_ms_now();

	while (count_node(&sb, "+a") < 2 && etcd_ms_now() - t0 < slow(5000))
		etcd_sleep_ms(20);
	ck_assert_int_eq(count_node(&sb, "+a"), 2);
	while (count_node(&sa, "+a") < 2 && etcd_ms_now() - t0 < slow(5000))
		etcd_sleep_ms(20);
	ck_assert_int_eq(count_node(&sa, "-a"), 1); /* it saw itself go */
	ck_assert_int_eq(count_node(&sa, "+a"), 2);
	ck_assert_int_eq(
		mc_etcd_get(e, "/mooncake/rejoin/nodes/a", 24, &kv2, NULL), 0);
	ck_assert_int_ne(kv2.lease, kv.lease);
	ck_assert_int_gt(kv2.create_revision, kv.create_revision);
	mc_etcd_kv_release(&kv2);

	/* its key deleted under a live lease: registered again */
	ck_assert_int_eq(mc_etcd_delete(e, "/mooncake/rejoin/nodes/a", 24, NULL,
					0, 0, NULL, NULL, NULL),
			 0);
	t0 = etcd_ms_now();
	while (count_node(&sb, "+a") < 3 && etcd_ms_now() - t0 < slow(3000))
		etcd_sleep_ms(20);
	ck_assert_int_eq(count_node(&sb, "+a"), 3);

	/* the leader's candidacy deleted under it: it steps down at once,
	 * and campaigns again for a new term */
	int64_t t1 = 0, t2 = 0;

	ck_assert(mc_member_is_leader_now(b, &t1));
	char key[64];
	struct mc_etcd_kvs r;

	/* a campaigns again with its new lease: wait for its key */
	wait_candidates(e, "rejoin", 2);

	ck_assert_int_eq(mc_etcd_range(e, "/mooncake/rejoin/leader/", 24, NULL,
				       0, MC_ETCD_PREFIX | MC_ETCD_SORT_CREATE,
				       1, 0, &r, NULL),
			 0);
	ck_assert_uint_eq(r.n, 1);
	ck_assert_str_eq(r.kvs[0].value, "b");
	snprintf(key, sizeof(key), "%s", r.kvs[0].key);
	mc_etcd_kvs_release(&r);
	t0 = etcd_ms_now();
	ck_assert_int_eq(mc_etcd_delete(e, key, strlen(key), NULL, 0, 0, NULL,
					NULL, NULL),
			 0);
	ck_assert(wait_for(&sb, is_leading, NULL, slow(2000)));
	ck_assert_uint_lt(sb.lost_at - t0, slow(1000));
	/* a was waiting: it leads now, with a larger term */
	ck_assert(wait_for(&sa, is_leading, "", slow(3000)));
	ck_assert(mc_member_is_leader_now(a, &t2));
	ck_assert_int_gt(t2, t1);
	mc_member_stop(a);
	mc_member_stop(b);
	mc_etcd_kv_release(&kv);
	mc_etcd_free(e);
}
END_TEST

/*
 * A leader asked to hand over (its master's versions run out) steps down
 * at once and campaigns again: alone, it leads again in a larger term;
 * beside a waiting candidate, that one leads. A request for a term it no
 * longer leads changes nothing.
 */
START_TEST(test_hand_over)
{
	struct seen sa, sb;
	struct mc_member *a, *b;
	struct mc_etcd *e = raw();
	int64_t t1 = 0, t2 = 0, t3 = 0;
	uint64_t t0;

	seen_init(&sa);
	seen_init(&sb);
	a = start("handover", "a", ttl_ms(), NULL, &sa);
	ck_assert(wait_for(&sa, is_leading, "", slow(5000)));
	ck_assert(mc_member_is_leader_now(a, &t1));
	t0 = etcd_ms_now();
	mc_member_hand_over(a, t1);
	ck_assert(!mc_member_is_leader_now(a, NULL)); /* at once */
	ck_assert(wait_for(&sa, is_leading, NULL, slow(1000)));
	ck_assert(wait_for(&sa, is_leading, "", slow(3000)));
	ck_assert(mc_member_is_leader_now(a, &t2));
	ck_assert_int_gt(t2, t1);
	ck_assert_uint_lt(sa.gained_at - t0, slow(2000));
	pthread_mutex_lock(&sa.lock);
	ck_assert_int_eq(sa.gains, 2);
	ck_assert_int_eq(sa.losses, 1);
	pthread_mutex_unlock(&sa.lock);

	mc_member_hand_over(a, t1); /* an old term: nothing happens */
	etcd_sleep_ms(200);
	ck_assert(mc_member_is_leader_now(a, &t3));
	ck_assert_int_eq(t3, t2);

	/* b waits behind a: a's hand-over makes b the leader */
	b = start("handover", "b", ttl_ms(), NULL, &sb);
	wait_candidates(e, "handover", 2); /* b's candidacy is in */
	mc_member_hand_over(a, t2);
	ck_assert(wait_for(&sb, is_leading, "", slow(3000)));
	ck_assert(mc_member_is_leader_now(b, &t3));
	ck_assert_int_gt(t3, t2);
	ck_assert(!mc_member_is_leader_now(a, NULL));
	ck_assert(!sa.overlap && !sb.overlap);
	mc_member_stop(b);
	mc_member_stop(a);
	mc_etcd_free(e);
}
END_TEST

START_TEST(test_hostile_prefix)
{
	static const struct {
		const char *key, *value;
	} junk[] = {
		{"/mooncake/junk/nodes/bad", "not json"},
		{"/mooncake/junk/nodes/x", "{\"id\":\"y\",\"http\":\"h:1\"}"},
		{"/mooncake/junk/nodes/..", "{\"id\":\"..\",\"http\":\"h:1\"}"},
		{"/mooncake/junk/nodes/a b",
		 "{\"id\":\"a b\",\"http\":\"h:1\"}"},
		{"/mooncake/junk/nodes/", "{}"},
		{"/mooncake/junk/nodes/deep/er",
		 "{\"id\":\"deep\",\"http\":\"h:1\"}"},
		{"/mooncake/junk/other", "whatever"},
		{"/mooncake/junk/nodes/big", NULL}, /* a 100 KiB value */
	};
	struct mc_etcd *e = raw();
	struct mc_member_node *nodes;
	struct seen s;
	struct mc_member *a;
	char *big = malloc(100 << 10);
	size_t n;

	memset(big, '{', 100 << 10);
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		const char *v = junk[i].value ? junk[i].value : big;
		size_t vl = junk[i].value ? strlen(v) : (100 << 10);

		ck_assert_int_eq(mc_etcd_put(e, junk[i].key,
					     strlen(junk[i].key), v, vl, 0,
					     NULL, NULL),
				 0);
	}
	seen_init(&s);
	a = start("junk", "a", ttl_ms(), NULL, &s);
	ck_assert(wait_for(&s, is_leading, "", slow(5000)));
	/* junk that arrives while watching is ignored as well */
	ck_assert_int_eq(mc_etcd_put(e, "/mooncake/junk/nodes/late", 25, "[]",
				     2, 0, NULL, NULL),
			 0);
	ck_assert_int_eq(mc_etcd_put(e, "/mooncake/junk/nodes/bad", 24,
				     "\0\xff", 2, 0, NULL, NULL),
			 0);
	/* a real node arriving later still shows */
	static const char good[] = "{\"id\":\"good\",\"http\":\"h:1\"}";

	ck_assert_int_eq(mc_etcd_put(e, "/mooncake/junk/nodes/good", 25, good,
				     strlen(good), 0, NULL, NULL),
			 0);
	ck_assert(wait_for(&s, has_node, "+good", slow(3000)));
	ck_assert_int_eq(mc_member_nodes(a, &nodes, &n), 0);
	ck_assert_uint_eq(n, 2); /* a and good */
	ck_assert_str_eq(nodes[0].id, "a");
	ck_assert_str_eq(nodes[1].id, "good");
	free(nodes);
	/* the junk did not stop the election (a fence on a starved machine
	 * may have interrupted the reign: it leads again) */
	ck_assert(wait_for(&s, is_leading, "", slow(5000)));
	mc_member_stop(a);
	ck_assert_int_eq(mc_etcd_delete(e, "/mooncake/junk/", 15, NULL, 0,
					MC_ETCD_PREFIX, NULL, NULL, NULL),
			 0);

	/* a candidate whose value is not an id: it holds the election (it
	 * is the oldest) but nobody is reported as leader */
	int64_t lease = 0;

	ck_assert_int_eq(mc_etcd_lease_grant(e, 30, 0, &lease, NULL, NULL), 0);
	ck_assert_int_eq(mc_etcd_put(e, "/mooncake/junk2/leader/1", 24, "a/b",
				     3, lease, NULL, NULL),
			 0);
	seen_init(&s);
	a = start("junk2", "a", ttl_ms(), NULL, &s);
	ck_assert(wait_for(&s, has_node, "+a", slow(5000)));
	etcd_sleep_ms(500);
	ck_assert(!mc_member_is_leader_now(a, NULL));
	ck_assert_int_eq(mc_member_leader(a, NULL, NULL), -ENOENT);
	/* once it goes, the election moves on */
	ck_assert_int_eq(mc_etcd_lease_revoke(e, lease, NULL), 0);
	ck_assert(wait_for(&s, is_leading, "", slow(5000)));
	mc_member_stop(a);
	free(big);
	mc_etcd_free(e);
}
END_TEST

START_TEST(test_dead_endpoints)
{
	struct seen s;
	struct mc_member *a;
	char eps[256];
	uint64_t t0;

	/* one dead endpoint beside the live one: no difference */
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%u,%s", etcd_free_port(),
		 E.url);
	seen_init(&s);
	a = start("dead", "a", ttl_ms(), eps, &s);
	ck_assert(wait_for(&s, is_leading, "", slow(5000)));
	ck_assert(wait_for(&s, leader_is, "a", slow(3000)));
	mc_member_stop(a);

	/* none alive: it starts, keeps trying, reports no leader, and
	 * stops in bounded time */
	snprintf(eps, sizeof(eps), "http://127.0.0.1:%u", etcd_free_port());
	seen_init(&s);
	a = start("dead", "a", ttl_ms(), eps, &s);
	etcd_sleep_ms(800);
	ck_assert(!mc_member_is_leader_now(a, NULL));
	ck_assert_int_eq(mc_member_leader(a, NULL, NULL), -ENOENT);
	ck_assert_int_eq(s.gains, 0);
	t0 = etcd_ms_now();
	mc_member_stop(a);
	ck_assert_uint_lt(etcd_ms_now() - t0, slow(2000));
}
END_TEST

/* The fence check and the leader's name, asked by many threads at once
 * (every metadata operation does) for twice the TTL: the leader keeps its
 * lease. (They used to take the lock the keeper renews under, and a loaded
 * leader's keeper lost the race to them for seconds: its lease ended.) */
struct hammer {
	struct mc_member *m;
	volatile bool stop;
	unsigned long calls, not_leader;
};

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	struct mc_member_node ld;
	unsigned long calls = 0, no = 0;

	while (!h->stop) {
		int64_t t;

		no += !mc_member_is_leader_now(h->m, &t);
		mc_member_leader(h->m, &ld, &t);
		calls++;
	}
	__atomic_add_fetch(&h->calls, calls, __ATOMIC_RELAXED);
	__atomic_add_fetch(&h->not_leader, no, __ATOMIC_RELAXED);
	return NULL;
}

START_TEST(test_hot_path_keeps_lease)
{
	struct seen sb;
	struct hammer h = {0};
	pthread_t th[6];

	seen_init(&sb);
	h.m = start("hammer", "b", ttl_ms(), NULL, &sb);
	ck_assert(wait_for(&sb, is_leading, "", slow(5000)));
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, hammer_main, &h),
				 0);
	etcd_sleep_ms(2 * ttl_ms());
	h.stop = true;
	for (int i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	ck_assert_msg(!h.not_leader && sb.leading && !sb.lost_at,
		      "the leader lost its reign under %lu fence checks "
		      "(%lu said no)",
		      h.calls, h.not_leader);
	ck_assert_int_eq(count_node(&sb, "-b"), 0);
	mc_member_stop(h.m);
}
END_TEST

/*
 * A slow etcd, between the member and the real one: each request is
 * passed on SLOW_MS after it came, and dropped when its client gave up
 * meanwhile (as etcd's gateway drops a request whose client went).
 */
static _Atomic unsigned slow_ms;

struct pump {
	int from, to;
	bool delay;
};

static void *pump_main(void *arg)
{
	struct pump *p = arg;
	char buf[65536];
	ssize_t n;

	uint64_t last = 0;

	while ((n = read(p->from, buf, sizeof(buf))) > 0) {
		/* once a request: its head and body may come apart */
		unsigned d = p->delay && etcd_ms_now() - last > 50
				     ? atomic_load(&slow_ms)
				     : 0;

		last = etcd_ms_now();

		if (d) {
			struct pollfd pf = {.fd = p->from, .events = POLLRDHUP};

			etcd_sleep_ms(d);
			if (poll(&pf, 1, 0) > 0 &&
			    (pf.revents & (POLLRDHUP | POLLHUP)))
				break; /* its client gave up */
		}
		if (write(p->to, buf, (size_t)n) != n)
			break;
	}
	shutdown(p->to, SHUT_RDWR);
	shutdown(p->from, SHUT_RDWR);
	free(p);
	return NULL;
}

struct slow_etcd {
	int lfd;
	unsigned port, to;
};

static void *slow_main(void *arg)
{
	struct slow_etcd *se = arg;
	int c;

	while ((c = accept(se->lfd, NULL, NULL)) >= 0) {
		struct sockaddr_in a = {.sin_family = AF_INET,
					.sin_port = htons((uint16_t)se->to),
					.sin_addr.s_addr =
						htonl(INADDR_LOOPBACK)};
		int u = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct pump *up = malloc(sizeof(*up)),
			    *down = malloc(sizeof(*down));
		pthread_t t;

		if (u < 0 || connect(u, (struct sockaddr *)&a, sizeof(a)) ||
		    !up || !down) {
			close(c);
			if (u >= 0)
				close(u);
			free(up);
			free(down);
			continue;
		}
		*up = (struct pump){c, u, true};
		*down = (struct pump){u, c, false};
		pthread_create(&t, NULL, pump_main, up);
		pthread_detach(t);
		pthread_create(&t, NULL, pump_main, down);
		pthread_detach(t);
	}
	return NULL;
}

/*
 * An etcd that answers later than the client's budget for one call
 * (TTL/3) but before the fence: the keep-alives wait for it, so the
 * lease lives on (a node whose lease ends rejoins empty, mooncake-
 * cluster(7)); before, each renewal was given up and the lease ended.
 */
START_TEST(test_slow_etcd_keeps_lease)
{
	static struct slow_etcd se;
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	struct mc_etcd *e = raw();
	struct mc_etcd_kv kv, kv2;
	struct mc_member *m;
	struct seen s;
	pthread_t th;
	char url[64];

	se.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_eq(bind(se.lfd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(se.lfd, 64), 0);
	getsockname(se.lfd, (struct sockaddr *)&a, &al);
	se.port = ntohs(a.sin_port);
	se.to = E.port;
	pthread_create(&th, NULL, slow_main, &se);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", se.port);

	seen_init(&s);
	m = start("slowetcd", "a", ttl_ms(), url, &s);
	ck_assert(wait_for(&s, has_node, "+a", slow(5000)));
	ck_assert_int_eq(
		mc_etcd_get(e, "/mooncake/slowetcd/nodes/a", 26, &kv, NULL), 0);
	atomic_store(&slow_ms, ttl_ms() * 2 / 5); /* past TTL/3 */
	etcd_sleep_ms(3 * ttl_ms());
	atomic_store(&slow_ms, 0);
	etcd_sleep_ms(ttl_ms() / 2);
	ck_assert_int_eq(
		mc_etcd_get(e, "/mooncake/slowetcd/nodes/a", 26, &kv2, NULL),
		0);
	ck_assert_int_eq(kv2.lease, kv.lease);
	ck_assert_int_eq(count_node(&s, "-a"), 0);
	mc_etcd_kv_release(&kv);
	mc_etcd_kv_release(&kv2);
	mc_etcd_free(e);
	mc_member_stop(m);
	shutdown(se.lfd, SHUT_RDWR);
	close(se.lfd);
	pthread_join(th, NULL);
}
END_TEST

static Suite *member_suite(void)
{
	Suite *s = suite_create("member");
	TCase *t = tcase_create("options");
	TCase *k = tcase_create("etcd");

	tcase_add_test(t, test_opts);
	tcase_add_test(t, test_node_parse);
	suite_add_tcase(s, t);

	tcase_add_unchecked_fixture(k, suite_etcd_up, suite_etcd_down);
	tcase_set_timeout(k, 40);
	tcase_add_test(k, test_view_and_leader);
	tcase_add_test(k, test_leader_killed);
	tcase_add_test(k, test_fencing_paused_etcd);
	tcase_add_test(k, test_etcd_restart);
	tcase_add_test(k, test_etcd_lost_data);
	tcase_add_test(k, test_lease_revoked_rejoin);
	tcase_add_test(k, test_hand_over);
	tcase_add_test(k, test_hostile_prefix);
	tcase_add_test(k, test_dead_endpoints);
	tcase_add_test(k, test_hot_path_keeps_lease);
	tcase_add_test(k, test_slow_etcd_keeps_lease);
	suite_add_tcase(s, k);
	return s;
}

MC_CHECK_MAIN(member_suite)
