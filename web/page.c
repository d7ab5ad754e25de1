/*
 * page.c - the status page (page.h).
 */
#include "autoconfig.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "mooncake.h"
#include "page.h"
#include "route.h"
#include "size.h"

void web_html_escape(struct mc_buf *b, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t l;

		switch (c) {
		case '&':
			mc_buf_adds(b, "&amp;");
			i++;
			continue;
		case '<':
			mc_buf_adds(b, "&lt;");
			i++;
			continue;
		case '>':
			mc_buf_adds(b, "&gt;");
			i++;
			continue;
		case '"':
			mc_buf_adds(b, "&quot;");
			i++;
			continue;
		case '\'':
			mc_buf_adds(b, "&#39;");
			i++;
			continue;
		default:
			break;
		}
		if ((c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
			mc_buf_adds(b, "\xef\xbf\xbd");
			i++;
			continue;
		}
		l = mc_utf8_len(s + i, n - i);
		if (l == 0) {
			mc_buf_adds(b, "\xef\xbf\xbd");
			i++;
			continue;
		}
		mc_buf_add(b, s + i, l);
		i += l;
	}
}

static void esc(struct mc_buf *b, const char *s)
{
	if (s)
		web_html_escape(b, s, strlen(s));
}

/* "16.00 MB" with the exact count of bytes in a tooltip. */
static void bytes(struct mc_buf *b, uint64_t n)
{
	char h[32];

	mc_buf_addf(b, "<span title=\"%llu bytes\">%s</span>",
		    (unsigned long long)n, mc_size_human(n, h, sizeof(h)));
}

static double pct(uint64_t used, uint64_t cap)
{
	return cap ? 100.0 * (double)used / (double)cap : 0;
}

/* A usage bar: an inline SVG, 0..100 %, red past the eviction watermark. */
static void bar(struct mc_buf *b, uint64_t used, uint64_t cap, double warn,
		unsigned width)
{
	double p = pct(used, cap), w = (double)width * p / 100.0;

	mc_buf_addf(
		b,
		"<svg class=\"bar\" width=\"%u\" height=\"14\" "
		"role=\"img\" aria-label=\"%.1f%% used\">"
		"<rect class=\"bar-bg\" width=\"%u\" height=\"14\" rx=\"2\"/>"
		"<rect class=\"bar-fill%s\" width=\"%.1f\" height=\"14\" "
		"rx=\"2\"/></svg> <span class=\"pct\">%.1f%%</span>",
		width, p, width, p >= warn ? " hot" : "", w, p);
}

static const char css[] =
	"body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;"
	"margin:0;color:#1b1f24;background:#f6f7f9}"
	"header{background:#24292f;color:#fff;padding:14px 24px}"
	"header h1{margin:0;font-size:20px}header p{margin:4px 0 0;"
	"color:#c9d1d9}header a{color:#9ecbff}"
	"main{padding:8px 24px 24px;max-width:1400px}"
	"section{background:#fff;border:1px solid "
	"#d0d7de;border-radius:6px;overflow-x:auto;"
	"padding:12px 16px;margin:16px 0}"
	"h2{font-size:16px;margin:0 0 8px}"
	"table{border-collapse:collapse;width:100%}"
	"th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eaeef2;"
	"vertical-align:middle}"
	"td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;"
	"white-space:nowrap}"
	"td:nth-child(3){white-space:nowrap}"
	"code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}"
	"dl.figures{display:flex;flex-wrap:wrap;gap:8px 32px;margin:0}"
	"dl.figures div{min-width:120px}dt{color:#57606a;font-size:12px}"
	"dd{margin:0;font-size:20px;font-variant-numeric:tabular-nums}"
	".bar-bg{fill:#eaeef2}.bar-fill{fill:#2da44e}.bar-fill.hot{fill:#"
	"cf222e}"
	".pct{font-variant-numeric:tabular-nums;color:#57606a}"
	"tr.draining td{background:#fff8c5}"
	".state-draining{color:#9a6700;font-weight:600}"
	".state-ok{color:#1a7f37}"
	"svg.hist rect.col{fill:#0969da}svg.hist text{font:11px system-ui,"
	"sans-serif;fill:#57606a}svg.hist text.n{fill:#1b1f24}"
	".bad{color:#cf222e;font-weight:600}.muted{color:#57606a}"
	"ul.routes{columns:3 260px;margin:0;padding-left:18px}"
	"footer{color:#57606a;font-size:12px;padding:0 24px 16px}";

static void head(struct mc_buf *b, const struct web_page_info *pi)
{
	mc_buf_adds(b, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
		       "<meta charset=\"utf-8\">"
		       "<meta name=\"viewport\" content=\"width=device-width, "
		       "initial-scale=1\"><title>mooncaked on ");
	esc(b, pi && pi->hostname ? pi->hostname : "localhost");
	mc_buf_adds(b, "</title><style>");
	mc_buf_adds(b, css);
	mc_buf_adds(b, "</style></head><body>\n");
}

static void uptime(struct mc_buf *b, time_t started)
{
	long long s = (long long)difftime(time(NULL), started);

	if (s < 0)
		s = 0;
	if (s >= 86400)
		mc_buf_addf(b, "%lld d %lld h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		mc_buf_addf(b, "%lld h %lld min", s / 3600, s % 3600 / 60);
	else if (s >= 60)
		mc_buf_addf(b, "%lld min %lld s", s / 60, s % 60);
	else
		mc_buf_addf(b, "%lld s", s);
}

static void banner(struct mc_buf *b, const struct web_page_info *pi)
{
	mc_buf_adds(b, "<header><h1>mooncaked</h1><p>");
	if (pi) {
		mc_buf_adds(b, "version ");
		esc(b, pi->version);
		mc_buf_adds(b, " &middot; host <code>");
		esc(b, pi->hostname);
		mc_buf_adds(b, "</code>");
		if (pi->transfer) {
			mc_buf_adds(b, " &middot; transfer port <code>");
			esc(b, pi->transfer);
			mc_buf_adds(b, "</code>");
		}
		mc_buf_adds(b, " &middot; control tree ");
		if (pi->mountpoint) {
			mc_buf_adds(b, "<code>");
			esc(b, pi->mountpoint);
			mc_buf_adds(b, "</code>");
		} else {
			mc_buf_adds(b, "off");
		}
		if (pi->started) {
			mc_buf_adds(b, " &middot; up ");
			uptime(b, pi->started);
		}
	}
	mc_buf_adds(b, " &middot; <a href=\"/health\">/health</a></p>"
		       "</header>\n<main>\n");
}

struct seg_walk {
	struct mc_buf *b;
	double warn;
	size_t n, draining;
};

static int seg_row(const struct mc_seg_info *si, void *arg)
{
	struct seg_walk *w = arg;
	struct mc_buf *b = w->b;
	bool dr = si->state == MC_SEG_DRAINING;

	w->n++;
	w->draining += dr;
	mc_buf_addf(b, "<tr id=\"seg-%s\"%s><td><code>%s</code></td><td>",
		    si->id, dr ? " class=\"draining\"" : "", si->id);
	esc(b, si->name);
	mc_buf_adds(b, "</td><td>");
	bar(b, si->used, si->size, w->warn, 140);
	mc_buf_adds(b, "</td><td class=\"num used\">");
	bytes(b, si->used);
	mc_buf_adds(b, "</td><td class=\"num size\">");
	bytes(b, si->size);
	if (dr)
		mc_buf_addf(b,
			    "</td><td class=\"state-draining\">draining, "
			    "goes in %llu s",
			    (unsigned long long)((si->drain_ms + 999) / 1000));
	else
		mc_buf_adds(b, "</td><td class=\"state-ok\">ok");
	mc_buf_adds(b, "</td><td><code>");
	esc(b, si->source);
	mc_buf_adds(b, "</code></td><td><code>");
	esc(b, si->endpoint);
	mc_buf_adds(b, "</code></td><td>");
	esc(b, si->protocol);
	mc_buf_adds(b, "</td><td>");
	esc(b, si->location);
	mc_buf_adds(b, "</td></tr>\n");
	return 0;
}

static void segments(struct mc_store *s, struct mc_buf *b, double warn,
		     struct seg_walk *w)
{
	mc_buf_adds(b, "<section id=\"segments\"><h2>Segments</h2>"
		       "<table><thead><tr><th>id</th><th>name</th><th>use</th>"
		       "<th class=\"num\">used</th><th class=\"num\">size</th>"
		       "<th>state</th><th>source</th><th>endpoint</th>"
		       "<th>protocol</th><th>location</th></tr></thead>"
		       "<tbody>\n");
	*w = (struct seg_walk){.b = b, .warn = warn};
	mc_segment_foreach(s, seg_row, w);
	mc_buf_adds(b, "</tbody></table>");
	if (!w->n)
		mc_buf_adds(b, "<p class=\"muted\">No segment is mounted: "
			       "POST /api/mount, or write a spec to "
			       "ctl/mount.</p>");
	mc_buf_adds(b, "</section>\n");
}

static void figure(struct mc_buf *b, const char *id, const char *label)
{
	mc_buf_addf(b, "<div id=\"%s\"><dt>%s</dt><dd>", id, label);
}

static void store_figures(struct mc_store *s, struct mc_buf *b, double warn,
			  size_t nseg, size_t draining)
{
	struct mc_usage u;

	mc_store_usage(s, &u);
	mc_buf_adds(b, "<section id=\"store\"><h2>Store</h2>"
		       "<dl class=\"figures\">");
	figure(b, "keys", "keys");
	mc_buf_addu(b, u.keys);
	mc_buf_adds(b, "</dd></div>");
	figure(b, "used", "used");
	bytes(b, u.used);
	mc_buf_adds(b, "</dd></div>");
	figure(b, "capacity", "capacity");
	bytes(b, u.capacity);
	mc_buf_adds(b, "</dd></div>");
	figure(b, "nsegments", "segments");
	mc_buf_addf(b, "%zu", nseg);
	if (draining)
		mc_buf_addf(b,
			    " <span class=\"state-draining\">(%zu "
			    "draining)</span>",
			    draining);
	mc_buf_adds(b, "</dd></div>");
	figure(b, "pending", "puts in flight");
	mc_buf_addu(b, u.pending_puts);
	mc_buf_adds(b, "</dd></div></dl><p>");
	bar(b, u.used, u.capacity, warn, 480);
	mc_buf_addf(b,
		    " <span class=\"muted\">eviction starts above %.0f%%"
		    "</span></p></section>\n",
		    warn);
}

/* Upper bounds of the value-size classes, as people read them. */
static void class_label(struct mc_buf *b, double le, double prev)
{
	char h[32];

	if (isinf(le))
		mc_buf_addf(b, "&gt; %s",
			    mc_size_human((uint64_t)prev, h, sizeof(h)));
	else
		mc_buf_addf(b, "&#8804; %s",
			    mc_size_human((uint64_t)le, h, sizeof(h)));
}

static void histogram(struct mc_store *s, struct mc_buf *b)
{
	struct mc_value_sizes vs;
	const unsigned n = MC_VALUE_SIZE_CLASSES, colw = 96, h = 140;
	uint64_t max = 0, total = 0;

	mc_store_value_sizes(s, &vs);
	for (unsigned i = 0; i < n; i++) {
		max = vs.count[i] > max ? vs.count[i] : max;
		total += vs.count[i];
	}
	mc_buf_addf(b,
		    "<section id=\"sizes\"><h2>Value sizes</h2>"
		    "<p class=\"muted\">%llu values put since start, by "
		    "size (master_value_size_bytes)</p>"
		    "<svg class=\"hist\" width=\"%u\" height=\"%u\" "
		    "viewBox=\"0 0 %u %u\" role=\"img\" "
		    "aria-label=\"value-size histogram\">",
		    (unsigned long long)total, n * colw, h + 40, n * colw,
		    h + 40);
	for (unsigned i = 0; i < n; i++) {
		double bh =
			max ? (double)h * (double)vs.count[i] / (double)max : 0;
		double x = i * colw + 12, y = 16 + h - bh;

		mc_buf_addf(b,
			    "<g class=\"class\" data-count=\"%llu\">"
			    "<rect class=\"col\" x=\"%.0f\" y=\"%.1f\" "
			    "width=\"%u\" height=\"%.1f\"><title>",
			    (unsigned long long)vs.count[i], x, y, colw - 24,
			    bh);
		class_label(b, vs.le[i], i ? vs.le[i - 1] : 0);
		mc_buf_addf(b,
			    ": %llu</title></rect>"
			    "<text class=\"n\" x=\"%.0f\" y=\"%.1f\" "
			    "text-anchor=\"middle\">%llu</text>"
			    "<text x=\"%.0f\" y=\"%u\" "
			    "text-anchor=\"middle\">",
			    (unsigned long long)vs.count[i],
			    x + (colw - 24) / 2.0, y - 4,
			    (unsigned long long)vs.count[i],
			    x + (colw - 24) / 2.0, h + 34);
		class_label(b, vs.le[i], i ? vs.le[i - 1] : 0);
		mc_buf_adds(b, "</text></g>");
	}
	mc_buf_adds(b, "</svg></section>\n");
}

static void rate(struct mc_buf *b, uint64_t n, double span, bool bad)
{
	mc_buf_addf(b, "<td class=\"num%s\">%llu</td><td class=\"num%s\">",
		    bad && n ? " bad" : "", (unsigned long long)n,
		    bad && n ? " bad" : "");
	if (span > 0)
		mc_buf_addf(b, "%.2f/s", (double)n / span);
	else
		mc_buf_adds(b, "&ndash;");
	mc_buf_adds(b, "</td>");
}

static void recent(struct mc_store *s, struct mc_buf *b)
{
	struct mc_recent r;
	char h[32];

	mc_store_recent(s, &r);
	mc_buf_addf(b,
		    "<section id=\"recent\"><h2>Last minute</h2>"
		    "<p class=\"muted\">over the last %.0f s</p><table>"
		    "<thead><tr><th>operation</th>"
		    "<th class=\"num\">requests</th><th class=\"num\">rate"
		    "</th><th class=\"num\">failures</th>"
		    "<th class=\"num\">rate</th></tr></thead><tbody>\n",
		    r.span_s);
	for (unsigned i = 0; i < MC_NOPS; i++) {
		mc_buf_addf(b, "<tr id=\"op-%s\"><td>%s</td>", mc_op_name(i),
			    mc_op_name(i));
		rate(b, r.requests[i], r.span_s, false);
		rate(b, r.failures[i], r.span_s, true);
		mc_buf_adds(b, "</tr>\n");
	}
	mc_buf_addf(b,
		    "</tbody></table><p id=\"evictions\">Evictions: "
		    "%llu runs, %llu keys, %s evicted.</p></section>\n",
		    (unsigned long long)r.evictions,
		    (unsigned long long)r.evicted_keys,
		    mc_size_human(r.evicted_bytes, h, sizeof(h)));
}

/* GET routes that need a query parameter: shown, not linked. */
static const struct {
	const char *path, *query;
} needs_query[] = {
	{"/query_key", "?key=KEY"},
	{"/batch_query_keys", "?keys=KEY1,KEY2"},
	{"/query_segment", "?segment=NAME"},
	{"/metadata", "?key=KEY"},
};

static void endpoints(struct mc_store *s, struct mc_buf *b)
{
	mc_buf_adds(b, "<section id=\"endpoints\"><h2>Endpoints</h2>"
		       "<ul class=\"routes\">");
	for (size_t i = 0; i < web_nroutes; i++) {
		const struct web_route *rt = &web_routes[i];
		const char *q = NULL;
		char m[64];

		if (!web_route_on(rt, s))
			continue; /* a feature that is off */

		for (size_t j = 0;
		     j < sizeof(needs_query) / sizeof(needs_query[0]); j++)
			if (!strcmp(rt->pattern, needs_query[j].path))
				q = needs_query[j].query;
		web_method_allow(rt->methods, m, sizeof(m));
		mc_buf_adds(b, "<li>");
		esc(b, m);
		mc_buf_adds(b, " ");
		if ((rt->methods & WEB_M_GET) && !rt->prefix && !q) {
			mc_buf_adds(b, "<a href=\"");
			esc(b, rt->pattern);
			mc_buf_adds(b, "\"><code>");
			esc(b, rt->pattern);
			mc_buf_adds(b, "</code></a>");
		} else {
			mc_buf_adds(b, "<code>");
			esc(b, rt->label);
			esc(b, q);
			mc_buf_adds(b, "</code>");
		}
		mc_buf_adds(b, "</li>");
	}
	mc_buf_adds(b, "</ul><p class=\"muted\">Every route, body and status: "
		       "mooncake-http(7).</p></section>\n");
}

/* Cluster mode: the nodes and who leads (mooncake-cluster(7)). */
static void cluster(struct mc_store *s, struct mc_buf *b)
{
	struct mc_cluster_info ci;

	if (mc_cluster_info(s, &ci) < 0) {
		mc_cluster_info_release(&ci);
		return;
	}
	mc_buf_adds(b, "<section id=\"cluster\"><h2>Cluster</h2><p>");
	mc_buf_adds(b, "cluster <code>");
	esc(b, ci.name);
	mc_buf_adds(b, "</code> &middot; ");
	if (ci.leader[0]) {
		mc_buf_addf(b, "term %llu &middot; leader <code>",
			    (unsigned long long)ci.term);
		esc(b, ci.leader);
		mc_buf_adds(b, ci.serving ? "</code>"
					  : "</code> <span class=\"bad\">"
					    "(rebuilding its index)</span>");
	} else {
		mc_buf_adds(b, "<span class=\"bad\" id=\"no-leader\">no "
			       "leader: metadata operations answer 503 "
			       "NO_LEADER</span>");
	}
	mc_buf_adds(b, " &middot; this node <code>");
	esc(b, ci.self);
	mc_buf_adds(b, "</code></p><table><thead><tr><th>node</th><th>role"
		       "</th><th>hostname</th><th>HTTP</th><th>transfer</th>"
		       "<th class=\"num\">segments</th></tr></thead><tbody>\n");
	for (size_t i = 0; i < ci.n; i++) {
		const struct mc_cluster_node *n = &ci.nodes[i];

		mc_buf_adds(b, "<tr class=\"node\"><td><code>");
		esc(b, n->id);
		mc_buf_adds(b, n->leader ? "</code></td><td class=\"leader\">"
					   "leader"
					 : "</code></td><td>follower");
		mc_buf_adds(b, "</td><td>");
		esc(b, n->hostname);
		mc_buf_adds(b, "</td><td><a href=\"http://");
		esc(b, n->http);
		mc_buf_adds(b, "/\"><code>");
		esc(b, n->http);
		mc_buf_adds(b, "</code></a></td><td><code>");
		esc(b, n->transfer);
		mc_buf_addf(b, "</code></td><td class=\"num\">%llu</td></tr>\n",
			    (unsigned long long)n->segments);
	}
	mc_buf_adds(b, "</tbody></table></section>\n");
	mc_cluster_info_release(&ci);
}

void web_page_render(struct mc_store *s, const struct web_page_info *pi,
		     struct mc_buf *b)
{
	const struct mc_store_opts *o = mc_store_get_opts(s);
	double warn = 100.0 * o->high_watermark;
	struct mc_buf segs = {0};
	struct seg_walk w;

	head(b, pi);
	banner(b, pi);
	cluster(s, b);
	/* the figures above the table count what the table walked */
	segments(s, &segs, warn, &w);
	store_figures(s, b, warn, w.n, w.draining);
	mc_buf_add(b, segs.data, segs.len);
	mc_buf_release(&segs);
	histogram(s, b);
	recent(s, b);
	endpoints(s, b);
	mc_buf_adds(b, "</main><footer>This page reads the segment table and "
		       "the counters, never the keys. Prometheus: "
		       "<a href=\"/metrics\">/metrics</a>.</footer>"
		       "</body></html>\n");
}

void web_api_status(struct web_req *r)
{
	web_page_render(r->s, web_api_state_page(r->api), r->out);
	web_resp_send(r, 200, WEB_CT_HTML);
}
