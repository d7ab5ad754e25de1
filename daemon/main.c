/*
 * main.c - the composition root: the only file that knows every door.
 *
 * It reads the configuration, builds the store, mounts the default
 * segment, opens the transfer port, the HTTP server and the FUSE tree,
 * announces them on stdout (and to systemd, when it started us), and
 * waits for SIGINT or SIGTERM to take them down in reverse order; SIGHUP
 * re-reads the configuration. Exit status: 0 after a signal, 1 when
 * something could not start, 2 on a bad configuration.
 */
#include "autoconfig.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <pthread.h>
#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "cc.h"
#include "config.h"
#include "fs.h"
#include "metrics.h"
#include "node.h"
#include "log.h"
#include "loop.h"
#include "mooncake.h"
#include "page.h"
#include "serve.h"
#include "web.h"
#include "xfer.h"

#define EXIT_START  1
#define EXIT_CONFIG 2
#define TOKEN_MAX   4096

/*
 * Reads the bearer token: the file's bytes without surrounding blanks,
 * since editors and `echo` leave a final newline. Returns a malloc'd
 * token, or NULL with the reason in @why.
 */
static char *read_token(const char *path, char *why, size_t whylen)
{
	char buf[TOKEN_MAX + 2], *start, *end, *tok;
	ssize_t n;
	size_t len = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, whylen,
			 "invalid value '%s' for 'auth_token_file': "
			 "cannot read it: %s",
			 path, strerror(errno));
		return NULL;
	}
	while (len < sizeof(buf) - 1) {
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(why, whylen,
				 "invalid value '%s' for 'auth_token_file': "
				 "cannot read it: %s",
				 path, strerror(errno));
			close(fd);
			return NULL;
		}
		if (n == 0)
			break;
		len += n;
	}
	close(fd);
	if (len > TOKEN_MAX) {
		snprintf(why, whylen,
			 "invalid value '%s' for 'auth_token_file': the file "
			 "is larger than %d bytes",
			 path, TOKEN_MAX);
		return NULL;
	}
	buf[len] = '\0';
	start = buf;
	while (*start == ' ' || *start == '\t' || *start == '\r' ||
	       *start == '\n')
		start++;
	end = buf + len;
	while (end > start && (end[-1] == ' ' || end[-1] == '\t' ||
			       end[-1] == '\r' || end[-1] == '\n'))
		end--;
	*end = '\0';
	if (start == end) {
		snprintf(why, whylen,
			 "invalid value '%s' for 'auth_token_file': the file "
			 "holds no token",
			 path);
		return NULL;
	}
	/* what an Authorization header can carry: visible ASCII only */
	for (const char *c = start; c < end; c++) {
		if ((unsigned char)*c > ' ' && (unsigned char)*c < 0x7f)
			continue;
		snprintf(why, whylen,
			 "invalid value '%s' for 'auth_token_file': the token "
			 "holds %s at byte %zu, which no client can send",
			 path,
			 !*c			    ? "a NUL"
			 : *c == ' '		    ? "a space"
			 : (unsigned char)*c < 0x80 ? "a control byte"
						    : "a non-ASCII byte",
			 (size_t)(c - start));
		explicit_bzero(buf, sizeof(buf));
		return NULL;
	}
	tok = strdup(start);
	explicit_bzero(buf, sizeof(buf));
	if (!tok)
		snprintf(why, whylen,
			 "invalid value '%s' for 'auth_token_file': "
			 "cannot read it: %s",
			 path, strerror(ENOMEM));
	return tok;
}

static void free_token(char *tok)
{
	if (tok) {
		explicit_bzero(tok, strlen(tok));
		free(tok);
	}
}

/* One announce line, flushed: tests and scripts read them as they come. */
static void announce(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void announce(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/*
 * A failed start's one line, "mooncaked: ..." (mooncaked(8), EXIT
 * STATUS), at the journal's error priority when stderr is the journal.
 */
static void fail_line(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void fail_line(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%smooncaked: ", mc_log_journal_tag(MC_LOG_ERROR));
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

/*
 * Signals are taken synchronously by the main thread: block them before
 * any thread exists so every thread inherits the mask, and a SIGINT never
 * lands inside a civetweb or FUSE worker.
 */
static void block_signals(sigset_t *wait_set)
{
	sigset_t block;

	/*
	 * A shell starts background jobs with SIGINT ignored, and an
	 * ignored signal never reaches sigwait: take the defaults back.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, NULL);
	sigemptyset(wait_set);
	sigaddset(wait_set, SIGINT);
	sigaddset(wait_set, SIGTERM);
	sigaddset(wait_set, SIGHUP);
	/* a peer that goes away must cost a write error, not the process */
	signal(SIGPIPE, SIG_IGN);
}

static int wait_for_signal(const sigset_t *set)
{
	int sig = 0;

	while (sigwait(set, &sig) != 0)
		;
	return sig;
}

/*
 * Tells systemd (Type=notify) what the daemon is doing; nothing when
 * NOTIFY_SOCKET is unset or the daemon was built without libsystemd.
 */
static void notify(const char *state)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

struct reload {
	const struct mc_config *old;
	int refused;
};

/* mc_config_diff's callback: the keys a running daemon cannot take. */
static void refuse_change(const char *key, const char *from, const char *to,
			  void *arg)
{
	struct reload *rl = arg;

	if (!strcmp(key, "log_level") || !strcmp(key, "auth_token_file"))
		return;
	rl->refused++;
	/* the configuration is the file with the options over it, and a
	 * key without a value is the daemon's default */
	mc_warn("daemon: reload: '%s' cannot change while running (%s now, "
		"keeping %s)",
		key, strcmp(to, "(none)") ? to : "the default",
		strcmp(from, "(none)") ? from : "the default");
}

/*
 * Logs the lines mc_config_parse_args wrote for a person at start-up
 * ("mooncaked: warning: ...", "mooncaked: invalid ..."), one log line
 * each; returns the last one (the error, when parsing failed).
 */
static const char *log_parse_lines(char *text, char *last, size_t lastlen)
{
	char *line, *save = NULL;

	last[0] = '\0';
	for (line = strtok_r(text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(line, "mooncaked: ", 11))
			line += 11;
		if (!strncmp(line, "warning: ", 9))
			mc_warn("config: %s", line + 9);
		snprintf(last, lastlen, "%s", line);
	}
	return last;
}

/*
 * Parses the command line into @c, holding what it says for a person in
 * *@msgs (malloc'd, free() it) until the caller knows how to log it;
 * --help and --version go to @out, or into *@msgs too when @out is NULL.
 */
static int parse_held(struct mc_config *c, int argc, char **argv, FILE *out,
		      char **msgs)
{
	size_t len = 0;
	FILE *f;
	int r;

	*msgs = NULL;
	f = open_memstream(msgs, &len);
	if (!f)
		mc_oom();
	r = mc_config_parse_args(c, argc, argv, out ? out : f, f);
	fclose(f);
	return r;
}

/* The cluster this daemon is a node of, once it is one (any thread). */
static struct mc_node *_Atomic cluster_node;

/* Two names of one machine: equal, or both this machine's. */
static bool same_host(const char *a, const char *b)
{
	return !strcmp(a, b) ||
	       (xfer_host_is_local(a) && xfer_host_is_local(b));
}

/*
 * The transfer port's xfer_set_store_port: another node's transfer
 * port is the store's own memory, never a client's.
 */
static bool node_transfer_port(void *arg, const char *host, unsigned port)
{
	struct mc_node *n = atomic_load(&cluster_node);

	(void)arg;
	return n && mc_node_has_transfer(n, host, port, same_host);
}

/* The metadata server's mc_meta_set_foreign: another node's names. */
static bool node_publishes(void *arg, const char *name, size_t n)
{
	struct mc_node *node = atomic_load(&cluster_node);

	(void)arg;
	return node && mc_node_publishes(node, name, n);
}

/*
 * --unmount-stale: a tree a killed daemon left mounted (answering
 * ENOTCONN) is detached; a live daemon's tree, or no mount, is left as
 * it is. For a service manager to run after the daemon and everything
 * in its group were killed at once, watchdog included (mooncaked(8),
 * RUNNING AS A SERVICE). The exit status: 0, or 1 when a dead mount
 * could not be detached.
 */
static int unmount_stale(const struct mc_config *c)
{
	struct mc_err e = {0};
	int r;

	if (!c->enable_fuse || !c->mountpoint)
		return EXIT_SUCCESS;
	r = fs_check_mountpoint(c->mountpoint, &e);
	if (r == 0 || r == -EBUSY || r == -ENOTDIR || r == -ENOTEMPTY)
		return EXIT_SUCCESS; /* none dead there (logged when there was)
				      */
	fail_line("%s\n", e.msg);
	return EXIT_FAILURE;
}

/*
 * SIGHUP: the configuration again, from the same command line (which
 * reads --config's file first, options override it). The log level and
 * the auth token take effect at once; any other setting that differs is
 * reported and keeps its running value (mooncaked(8), SIGNALS). A file
 * that does not parse, holds a bad value, or a token file that cannot be
 * read changes nothing, and one line says why.
 */
static void reload(int argc, char **argv, struct mc_config *cur, struct web *w,
		   struct mc_node *node, char **token)
{
	struct mc_config nc;
	struct reload rl = {.old = cur};
	char *msgs, last[512], why[512];
	char *tok = NULL;
	int r;

	mc_info("daemon: SIGHUP: re-reading %s",
		cur->config_file ? cur->config_file : "the command line");
	mc_config_init(&nc);
	r = parse_held(&nc, argc, argv, NULL, &msgs);
	log_parse_lines(msgs, last, sizeof(last));
	free(msgs);
	if (r) {
		mc_error("daemon: reload: %s; nothing changed",
			 last[0] ? last : "bad configuration");
		goto out;
	}
	if (nc.auth_token_file) {
		tok = read_token(nc.auth_token_file, why, sizeof(why));
		if (!tok) {
			mc_error("daemon: reload: %s; nothing changed", why);
			goto out;
		}
	}
	mc_config_diff(cur, &nc, refuse_change, &rl);
	if (nc.log_level != cur->log_level) {
		mc_log_set_level(nc.log_level);
		mc_info("daemon: reload: log level %s (was %s)",
			mc_log_level_name(nc.log_level),
			mc_log_level_name(cur->log_level));
		cur->log_level = nc.log_level;
	}
	if (!tok != !*token || (tok && strcmp(tok, *token))) {
		r = web_set_token(w, tok);
		/* the other nodes get the new one as this node's requests
		 * carry it (mooncake-cluster(7): one token for the cluster) */
		if (!r && node)
			r = mc_node_set_token(node, tok);
		if (r) {
			mc_error("daemon: reload: cannot set the auth token: "
				 "%s; nothing else changed",
				 strerror(-r));
			goto out;
		}
		mc_info("daemon: reload: %s",
			!tok	 ? "no auth token: mutating requests are open"
			: *token ? "the auth token changed"
				 : "mutating requests now need the auth token");
		free_token(*token);
		*token = tok;
		tok = NULL;
	}
	free(cur->auth_token_file);
	cur->auth_token_file =
		nc.auth_token_file ? strdup(nc.auth_token_file) : NULL;
	mc_info("daemon: reloaded%s", rl.refused ? " (see above for what "
						   "keeps its value)"
						 : "");
out:
	free_token(tok);
	mc_config_release(&nc);
}

/*
 * Every open HTTP connection holds a descriptor, and the HTTP door keeps
 * a worker for each of up to WEB_THREADS connections (mooncake-http(7),
 * LIMITS): the usual soft limit of 1024 would refuse connections long
 * before. Take the hard limit (up to 64 Ki), and say so when even that
 * leaves too few.
 */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want = WEB_THREADS + 1024;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return;
	if (rl.rlim_cur < rl.rlim_max && rl.rlim_cur < 65536) {
		rl.rlim_cur = rl.rlim_max < 65536 ? rl.rlim_max : 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	/* the HTTP door keeps its own; the others share what is left */
	if (rl.rlim_cur < want)
		mc_warn("daemon: only %llu file descriptors (ulimit -n), fewer "
			"than the %llu wanted: the transfer port and the "
			"master "
			"RPC get fewer connections",
			(unsigned long long)rl.rlim_cur,
			(unsigned long long)want);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The graceful part of a stop (mooncaked(8), SIGNALS): the HTTP door
 * stops listening at once, and requests being read or answered finish
 * for up to @timeout_ms; a second SIGINT or SIGTERM ends the wait. The
 * door has no count of connections accepted but not yet given a worker
 * (only when every worker is busy), so "none open" must hold twice.
 */
static void drain(struct web *w, uint64_t timeout_ms)
{
	struct timespec step = {0, 20 * 1000 * 1000};
	int64_t end = now_ms() + (int64_t)timeout_ms;
	unsigned busy, calm = 0;
	sigset_t stop;

	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	web_drain(w);
	while (calm < 2) {
		busy = web_busy(w);
		calm = busy ? 0 : calm + 1;
		if (busy && now_ms() >= end) {
			mc_warn("daemon: %u HTTP connection(s) still open "
				"after "
				"--shutdown-timeout: closing them",
				busy);
			return;
		}
		if (sigtimedwait(&stop, NULL, &step) > 0) {
			mc_warn("daemon: a second signal: not waiting for %u "
				"HTTP connection(s)",
				busy);
			return;
		}
	}
}

int main(int argc, char **argv)
{
	struct mc_config cfg;
	struct mc_store_opts so;
	struct xfer_opts xo;
	struct web_opts wo;
	char http_cc[MC_NET_CC_MAX], ccmsg[320];
	struct web_page_info page;
	struct fs_opts fo;
	struct xfer *x = NULL;
	struct rpc_door *rd = NULL;
	struct mc_store *s = NULL;
	struct mc_metrics *reg = NULL;
	struct mc_node *node = NULL;
	struct mc_store_opts mo;
	const char *advertise = NULL;
	char ep[300];
	struct web *w = NULL;
	struct fs *f = NULL;
	char *token = NULL;
	struct mc_err err = {0};
	sigset_t wait_set;
	char *msgs;
	int r, sig, status = EXIT_START;

	mc_config_init(&cfg);
	/*
	 * What parsing says for a person is held until the log level is
	 * known: an error is printed as it is (exit 2), warnings become
	 * log lines like those of a reload ("WARN config: ...").
	 */
	r = parse_held(&cfg, argc, argv, stdout, &msgs);
	if (r) {
		char last[512];

		/* the warnings as log lines, then the one failed-start line */
		log_parse_lines(msgs, last, sizeof(last));
		if (r < 0 && last[0])
			fail_line("%s\n", last);
		free(msgs);
		mc_config_release(&cfg);
		if (r > 0 && (fflush(stdout) || ferror(stdout))) {
			/* --help or --version that did not reach its reader */
			fail_line("cannot write to standard output: %s\n",
				  strerror(errno ? errno : EIO));
			return EXIT_FAILURE;
		}
		return r > 0 ? EXIT_SUCCESS : EXIT_CONFIG;
	}
	mc_log_set_level(cfg.log_level);
	{
		char last[512];

		log_parse_lines(msgs, last, sizeof(last));
		free(msgs);
	}
	if (cfg.unmount_stale) {
		r = unmount_stale(&cfg);
		mc_config_release(&cfg);
		return r;
	}
	if (cfg.auth_token_file) {
		char why[512];

		token = read_token(cfg.auth_token_file, why, sizeof(why));
		if (!token) {
			fail_line("%s\n", why);
			status = EXIT_CONFIG;
			goto out_config;
		}
	}
	/*
	 * A mount point that cannot take the tree is a configuration error
	 * (exit 2), told before anything starts: over a live daemon's tree
	 * the new one would hide it.
	 */
	if (cfg.enable_fuse) {
		char real[PATH_MAX];

		/* a link to a directory: the directory (mooncaked(8)) */
		if (fs_resolve_mountpoint(cfg.mountpoint, real, sizeof(real)) &&
		    mc_config_set(&cfg, "mountpoint", real, &err) < 0)
			mc_oom();
	}
	if (cfg.enable_fuse && fs_check_mountpoint(cfg.mountpoint, &err) < 0) {
		fail_line("%s\n", err.msg);
		status = EXIT_CONFIG;
		goto out_config;
	}
	block_signals(&wait_set);
	raise_fd_limit();
	/* the HTTP door's connections, and some for the rest */
	mc_net_fd_reserve(WEB_THREADS + 256);

	mc_store_opts_default(&so);
	so.replica_num = cfg.replicas;
	so.lease_ttl_ms = cfg.lease_ttl_ms;
	so.high_watermark = cfg.high_watermark;
	so.evict_ratio = cfg.evict_ratio;
	so.max_value = cfg.max_body;
	so.put_timeout_ms = cfg.put_timeout_ms;
	so.max_segment_size = cfg.max_segment_size;
	so.populate = cfg.populate;
	so.hostname = cfg.hostname;
	so.protocol = cfg.protocol;
	so.client_ttl_ms = (uint64_t)cfg.client_ttl_s * 1000;
	so.no_metadata = !cfg.http_metadata;
	so.metadata_cluster_id = cfg.metadata_cluster_id;

	/*
	 * Cluster mode: the other nodes reach this one at --advertise (its
	 * HTTP and transfer endpoints carry it), which must be an address
	 * they can dial, not a wildcard.
	 */
	if (cfg.etcd) {
		advertise = cfg.advertise ? cfg.advertise : cfg.http_host;
		if (!strcmp(advertise, "0.0.0.0") || !strcmp(advertise, "::") ||
		    !strcmp(advertise, "[::]")) {
			fail_line("invalid value '%s' for "
				  "'--advertise': other nodes cannot dial a "
				  "wildcard address (give --advertise HOST)\n",
				  advertise);
			status = EXIT_CONFIG;
			goto out_config;
		}
		mo = so; /* the master's options, as this node would run it */
		so.owner_only = true;
		reg = mc_metrics_new();
		if (!reg) {
			fail_line("out of memory\n");
			goto out_config;
		}
	}
	/* checked before anything starts, as the transfer port's is */
	if (mc_net_cc_choose(cfg.http_cc, "--http-congestion",
			     "http_congestion", http_cc, ccmsg,
			     sizeof(ccmsg))) {
		fail_line("%s\n", ccmsg);
		status = EXIT_CONFIG;
		goto out_config;
	}
	if (ccmsg[0])
		mc_info("http: %s", ccmsg);
	/*
	 * The transfer port listens where HTTP does unless told otherwise:
	 * never wider than asked.
	 */
	xo = (struct xfer_opts){
		.host = cfg.transfer_host ? cfg.transfer_host : cfg.http_host,
		.port = cfg.transfer_port,
		.hostname = advertise ? advertise : cfg.hostname,
		.protocol = cfg.protocol,
		.device = cfg.device,
		.congestion = cfg.transfer_cc,
	};
	err.msg[0] = '\0';
	x = xfer_new(&xo, &so, &err);
	if (!x) {
		/* a device list or congestion control that cannot be */
		if (errno == EINVAL)
			status = EXIT_CONFIG;
		fail_line("cannot set up the transfer port: "
			  "%s\n",
			  err.msg);
		goto out_config;
	}
	s = mc_store_new(&so, reg);
	if (!s) {
		fail_line("cannot create the store: %s\n", strerror(errno));
		goto out_xfer;
	}
	if (cfg.etcd && mc_store_meta(s))
		mc_meta_set_foreign(mc_store_meta(s), node_publishes, NULL);
	if (cfg.segment_size) {
		struct mc_mount_req req = {.size = cfg.segment_size};
		struct mc_mount_result res = {0};
		struct mc_err merr = {0};

		r = mc_segment_mount(s, &req, &res, &merr);
		if (r == -EOPNOTSUPP) {
			/* rdma without a device: said, and the daemon serves */
			mc_warn("daemon: the default segment of %llu bytes is "
				"not mounted: %s",
				(unsigned long long)cfg.segment_size, merr.msg);
		} else if (r) {
			fail_line("cannot mount the default "
				  "segment of %llu bytes: %s\n",
				  (unsigned long long)cfg.segment_size,
				  merr.msg[0] ? merr.msg : strerror(-r));
			goto out_store;
		}
		free(res.ids);
	}
	err.msg[0] = '\0';
	xfer_set_store_port(x, node_transfer_port, NULL);
	r = xfer_start(x, s, &err);
	if (r) {
		fail_line("cannot start the transfer port: "
			  "%s\n",
			  err.msg[0] ? err.msg : strerror(-r));
		goto out_store;
	}
	/* Peers reach the port by the endpoint it advertises: say when not. */
	err.msg[0] = '\0';
	if (xfer_check_endpoint(x, &err))
		mc_warn("transfer: %s", err.msg);

	/*
	 * The link goes in before any door can call the store: from here
	 * on every metadata operation is the cluster's (NO_LEADER until a
	 * leader serves). The default segment is this node's own, and
	 * reaches the leader in this node's report.
	 */
	if (cfg.etcd) {
		struct mc_node_opts no = {
			.etcd = cfg.etcd,
			.cluster = cfg.cluster,
			.hostname = cfg.hostname,
			.ttl_ms = (unsigned)cfg.node_ttl_ms,
			.token = token,
			.master = &mo,
			.metrics = reg,
		};

		err.msg[0] = '\0';
		node = mc_node_new(&no, s, &err);
		if (!node) {
			fail_line("cannot join the cluster: %s\n", err.msg);
			goto out_listener;
		}
	}

	/* The master RPC listens where HTTP does (mooncake-rpc(7)). */
	if (cfg.rpc_port) {
		/* a frame has what an HTTP head has before its rate counts */
		struct rpc_door_opts ro = {.host = cfg.http_host,
					   .port = cfg.rpc_port,
					   .grace_ms = cfg.header_timeout_ms};

		err.msg[0] = '\0';
		rd = rpc_door_start(s, &ro, &err);
		if (!rd) {
			fail_line("cannot start the master RPC: %s\n", err.msg);
			goto out_node;
		}
	}

	page = (struct web_page_info){
		.version = MC_VERSION,
		.hostname = cfg.hostname,
		.transfer = xfer_endpoint(x),
		.mountpoint = cfg.enable_fuse ? cfg.mountpoint : NULL,
		.started = time(NULL),
	};
	wo = (struct web_opts){
		.host = cfg.http_host,
		.port = cfg.http_port,
		.auth_token = token,
		.max_body = cfg.max_body,
		.header_ms = cfg.header_timeout_ms,
		.congestion = http_cc, /* chosen above: not again */
		.page = &page,
	};
	err.msg[0] = '\0';
	w = web_start(s, &wo, &err);
	if (!w) {
		fail_line("cannot start the HTTP server: %s\n", err.msg);
		goto out_rpc;
	}
	if (cfg.enable_fuse) {
		fo = (struct fs_opts){
			.mountpoint = cfg.mountpoint,
			.allow_other = cfg.allow_other,
		};
		err.msg[0] = '\0';
		f = fs_start(s, &fo, &err);
		if (!f) {
			fail_line("cannot mount the control "
				  "filesystem on '%s': %s\n",
				  cfg.mountpoint, err.msg);
			goto out_web;
		}
	}

	if (strchr(cfg.http_host, ':'))
		announce("mooncaked: http http://[%s]:%u/\n", cfg.http_host,
			 web_port(w));
	else
		announce("mooncaked: http http://%s:%u/\n", cfg.http_host,
			 web_port(w));
	announce("mooncaked: transfer %s\n", xfer_endpoint(x));
	if (rd)
		announce(strchr(cfg.http_host, ':') ? "mooncaked: rpc [%s]:%u\n"
						    : "mooncaked: rpc %s:%u\n",
			 cfg.http_host, rpc_door_port(rd));
	if (f)
		announce("mooncaked: fuse %s\n", cfg.mountpoint);
	if (node) {
		char tep[300];

		snprintf(ep, sizeof(ep),
			 strchr(advertise, ':') ? "[%s]:%u" : "%s:%u",
			 advertise, web_port(w));
		snprintf(tep, sizeof(tep), "%s", xfer_endpoint(x));
		err.msg[0] = '\0';
		if (mc_node_start(node, ep, tep, &err)) {
			fail_line("cannot join the cluster: %s\n", err.msg);
			goto out_fs;
		}
		atomic_store(&cluster_node, node);
		announce("mooncaked: cluster %s node %s etcd %s\n", cfg.cluster,
			 mc_node_id(node), cfg.etcd);
	}
	/* ready means /health answers 200 */
	web_set_ready(w, true);
	announce("mooncaked: ready\n");
	/* every door is up: HTTP, the transfer port, the master RPC, the
	 * control tree */
	notify("READY=1\nSTATUS=serving");

	while ((sig = wait_for_signal(&wait_set)) == SIGHUP) {
		notify("RELOADING=1");
		reload(argc, argv, &cfg, w, node, &token);
		notify("READY=1\nSTATUS=serving");
	}
	notify("STOPPING=1");
	mc_info("daemon: stopping on %s", sig == SIGINT ? "SIGINT" : "SIGTERM");
	/* /health says 503 while requests under way finish */
	drain(w, cfg.shutdown_timeout_ms);
	status = EXIT_SUCCESS;

out_fs:
	if (f)
		fs_stop(f);
out_web:
	web_stop(w);
out_rpc:
	rpc_door_stop(rd);
out_node:
	/*
	 * No door calls the link any more: the node leaves (its lease is
	 * revoked, so the others unmount its memory and elect at once),
	 * while the transfer port still serves what they read meanwhile.
	 */
	atomic_store(&cluster_node, NULL);
	mc_node_stop(node);
out_listener:
	/*
	 * The listener touches the store, so it stops first; the transport
	 * itself outlives the store, whose unmounts call its unregister hook.
	 */
	xfer_stop(x);
out_store:
	mc_store_free(s);
out_xfer:
	xfer_free(x);
	if (reg)
		mc_metrics_free(reg);
out_config:
	free_token(token);
	mc_config_release(&cfg);
	return status;
}
