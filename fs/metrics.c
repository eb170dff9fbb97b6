/* metrics.c — the daemon's own counters and the two operator files computed from the store:
 *
 *   .clonefs/metrics    Prometheus text exposition format (version 0.0.4), every series with
 *                       a `project` label so several mounts' files can sit side by side in
 *                       node_exporter's textfile directory
 *   .clonefs/unlabeled  the path of every resource that lacks a label the policy requires
 *
 * Both are generated at open from one pass over the store, like inventory.jsonl. The counters
 * they add come from three places: a decorator around the provider (listing times, failed
 * calls by reason), the sync's progress callback, and lib/'s own getters (http, engine, the
 * log's refusals by errno). */
#include "metrics.h"

#include "engine.h"
#include "feed.h"
#include "http.h"
#include "layout.h"
#include "log.h"
#include "options.h"
#include "policy.h"
#include "provider.h"
#include "store.h"
#include "sync.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { MAX_API_ERRORS = 64, MAX_STATUSES = 96 };

struct listing_stats {
	double start;	   /* CLOCK_MONOTONIC seconds when its first page was asked for */
	double last_page;  /* when its last page arrived */
	double duration;   /* the last complete listing's, < 0 = none yet */
	uint64_t done;	   /* resources listed so far in the running listing */
	uint64_t estimate; /* the previous complete count, from the store (0 = unknown) */
	unsigned long errors, pages;
	/* API traffic of the listing, every page (compact, full and the
	 * fetches of what changed): requests and bytes received */
	uint64_t requests, bytes, compact_pages, fetch_pages;
	bool printed; /* the first pass showed its progress on stderr */
};

struct api_error {
	char call[16];
	int status;
	char reason[64];
	unsigned long n;
};

static struct {
	pthread_mutex_t lock;
	bool foreground;
	unsigned pass;
	bool started_any;
	enum cf_listing last_started;
	bool active;
	enum cf_listing cur;
	double last_print;
	struct listing_stats l[CF_LIST__COUNT];
	struct api_error errs[MAX_API_ERRORS];
	size_t nerrs;
	unsigned long errs_other; /* failures that found the table full */
} M = {.lock = PTHREAD_MUTEX_INITIALIZER};

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

void cf_metrics_init(struct cf_store *store, bool foreground)
{
	pthread_mutex_lock(&M.lock);
	M.foreground = foreground;
	for (int l = 0; l < CF_LIST__COUNT; l++) {
		struct cf_sync_state st;
		M.l[l].duration = -1;
		if (store && cf_store_get_sync_state(store, (enum cf_listing) l, &st) == 0 &&
		    st.last_complete)
			M.l[l].estimate = st.count;
	}
	pthread_mutex_unlock(&M.lock);
}

/* ---- the provider decorator ---- */

struct wrap {
	struct cf_provider pub;
	struct cf_provider_ops ops;
	struct cf_provider *inner;
};

/* Keep an API reason as a label value can show it: letters, digits, '_', '.', '-'. */
static void copy_reason(char *dst, size_t size, const char *src)
{
	size_t i = 0;
	for (; src && src[i] && i + 1 < size; i++) {
		char c = src[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
		dst[i] = ok ? c : '_';
	}
	dst[i] = '\0';
}

/* One failed provider call. Lock held. */
static void count_error(const char *call, const struct cf_error *err)
{
	char reason[64];
	int status = err ? err->http_status : 0;
	copy_reason(reason, sizeof reason, err ? err->reason : NULL);
	for (size_t i = 0; i < M.nerrs; i++) {
		struct api_error *e = &M.errs[i];
		if (e->status == status && !strcmp(e->call, call) && !strcmp(e->reason, reason)) {
			e->n++;
			return;
		}
	}
	if (M.nerrs == MAX_API_ERRORS) {
		M.errs_other++;
		return;
	}
	struct api_error *e = &M.errs[M.nerrs++];
	snprintf(e->call, sizeof e->call, "%s", call);
	e->status = status;
	memcpy(e->reason, reason, sizeof e->reason);
	e->n = 1;
}

static int counted(const char *call, int rc, const struct cf_error *err)
{
	if (rc) {
		pthread_mutex_lock(&M.lock);
		count_error(call, err);
		pthread_mutex_unlock(&M.lock);
	}
	return rc;
}

#define INNER(p) (((struct wrap *) (p)->impl)->inner)

/* One page of a listing, either call; q NULL for list_page. A fetch of
 * what a compact page showed changed (q->nids) is part of its listing, not
 * the start of one. */
static int w_list(struct cf_provider *p, enum cf_listing which, const struct cf_list_query *q,
		  const char *token, struct cf_page *out, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local;
	unsigned l = (unsigned) which;
	bool fetch = q && q->nids;
	if (!err) {
		memset(&local, 0, sizeof local);
		err = &local;
	}
	if (!token && !fetch && l < CF_LIST__COUNT) {
		pthread_mutex_lock(&M.lock);
		/* The sync walks the listings in a fixed order: one that does not come after
		 * the last one started begins a new pass. */
		if (!M.started_any || which <= M.last_started)
			M.pass++;
		M.started_any = true;
		M.last_started = which;
		M.l[l].start = mono_now();
		M.l[l].done = 0;
		M.active = true;
		M.cur = which;
		if (M.pass == 1 && which == 0)
			M.last_print = M.l[l].start; /* nothing shown in the first second */
		pthread_mutex_unlock(&M.lock);
	}
	int rc = q ? in->ops->list_query(in, which, q, token, out, err)
		   : in->ops->list_page(in, which, token, out, err);
	if (l < CF_LIST__COUNT) {
		pthread_mutex_lock(&M.lock);
		M.l[l].requests += rc ? 1 : (out->requests ? out->requests : 1);
		M.l[l].bytes += rc ? 0 : out->bytes;
		if (rc) {
			M.l[l].errors++;
			count_error("list", err);
			if (M.cur == which)
				M.active = false;
		} else {
			M.l[l].pages++;
			M.l[l].compact_pages += out->compact;
			M.l[l].fetch_pages += fetch;
			if (!out->next_token && !fetch)
				M.l[l].last_page = mono_now();
		}
		pthread_mutex_unlock(&M.lock);
	}
	return rc;
}

static int w_list_page(struct cf_provider *p, enum cf_listing which, const char *token,
		       struct cf_page *out, struct cf_error *err)
{
	return w_list(p, which, NULL, token, out, err);
}

static int w_list_query(struct cf_provider *p, enum cf_listing which, const struct cf_list_query *q,
			const char *token, struct cf_page *out, struct cf_error *err)
{
	static const struct cf_list_query whole = {0};
	return w_list(p, which, q ? q : &whole, token, out, err);
}

static int w_get(struct cf_provider *p, const char *path, struct cf_resource *out,
		 struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local = {0};
	int rc = in->ops->get(in, path, out, err ? err : &local);
	return counted("get", rc, err ? err : &local);
}

static int w_create(struct cf_provider *p, const struct cf_create_req *req, struct cf_operation *op,
		    struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local = {0};
	int rc = in->ops->create(in, req, op, err ? err : &local);
	return counted("create", rc, err ? err : &local);
}

static int w_in_use(struct cf_provider *p, const char *path, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local = {0};
	int rc = in->ops->in_use(in, path, err ? err : &local);
	/* "in use" is the answer asked for, not an API error */
	return rc == -EBUSY ? rc : counted("in_use", rc, err ? err : &local);
}

static int w_restore(struct cf_provider *p, const struct cf_restore_req *req,
		     struct cf_operation *op, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local = {0};
	int rc = in->ops->restore(in, req, op, err ? err : &local);
	return counted("restore", rc, err ? err : &local);
}

static int w_remove(struct cf_provider *p, const char *path, const char *request_id,
		    struct cf_operation *op, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local = {0};
	int rc = in->ops->remove(in, path, request_id, op, err ? err : &local);
	return counted("delete", rc, err ? err : &local);
}

static int w_power(struct cf_provider *p, const char *instance_path, bool start,
		   const char *request_id, struct cf_operation *op, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local = {0};
	int rc = in->ops->power(in, instance_path, start, request_id, op, err ? err : &local);
	return counted(start ? "start" : "stop", rc, err ? err : &local);
}

static int w_set_labels(struct cf_provider *p, const char *path, const struct cf_label *labels,
			size_t n, const char *fingerprint, const char *request_id,
			struct cf_operation *op, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local = {0};
	int rc = in->ops->set_labels(in, path, labels, n, fingerprint, request_id, op,
				     err ? err : &local);
	return counted("set_labels", rc, err ? err : &local);
}

/* One label change: a failure counts as set_labels's, unless the caller's
 * plan ended it (EEXIST, ENODATA, ESTALE: its answer, not the API's). */
struct plan_wrap {
	cf_label_plan_fn plan;
	void *ctx;
	bool ended; /* the plan asked for no write */
};

static int w_plan(void *ctx, const struct cf_resource *now, struct cf_label_change *ch, size_t cap,
		  size_t *n)
{
	struct plan_wrap *pw = ctx;
	int rc = pw->plan(pw->ctx, now, ch, cap, n);
	pw->ended = rc || !*n;
	return rc;
}

static int w_change_labels(struct cf_provider *p, const char *path, cf_label_plan_fn plan,
			   void *ctx, struct cf_operation *op, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local = {0};
	struct plan_wrap pw = {.plan = plan, .ctx = ctx};
	int rc = in->ops->change_labels(in, path, w_plan, &pw, op, err ? err : &local);
	if (pw.ended)
		return rc; /* the caller's answer, not an API error */
	return counted("set_labels", rc, err ? err : &local);
}

static int w_op_poll(struct cf_provider *p, struct cf_operation *op, bool wait,
		     struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local = {0};
	int rc = in->ops->op_poll(in, op, wait, err ? err : &local);
	return counted("operation", rc, err ? err : &local);
}

static void w_destroy(struct cf_provider *p)
{
	struct wrap *w = p->impl;
	if (w->inner->ops->destroy)
		w->inner->ops->destroy(w->inner);
	free(w);
}

int cf_metrics_wrap_provider(struct cf_provider **p)
{
	const struct cf_provider_ops *o = (*p)->ops;
	struct wrap *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->inner = *p;
	w->ops = *o; /* the name, and NULL where the inner provider has no call */
	w->ops.list_page = o->list_page ? w_list_page : NULL;
	w->ops.list_query = o->list_query ? w_list_query : NULL;
	w->ops.get = o->get ? w_get : NULL;
	w->ops.create = o->create ? w_create : NULL;
	w->ops.remove = o->remove ? w_remove : NULL;
	w->ops.restore = o->restore ? w_restore : NULL;
	w->ops.in_use = o->in_use ? w_in_use : NULL;
	w->ops.power = o->power ? w_power : NULL;
	w->ops.set_labels = o->set_labels ? w_set_labels : NULL;
	w->ops.change_labels = o->change_labels ? w_change_labels : NULL;
	w->ops.op_poll = o->op_poll ? w_op_poll : NULL;
	w->ops.destroy = w_destroy;
	w->pub.ops = &w->ops;
	w->pub.impl = w;
	*p = &w->pub;
	return 0;
}

/* ---- the sync's progress ---- */

/* 1234567 -> "1,234,567" */
static const char *grouped(uint64_t v, char buf[32])
{
	char digits[24];
	int n = snprintf(digits, sizeof digits, "%" PRIu64, v), j = 0;
	for (int i = 0; i < n; i++) {
		if (i && (n - i) % 3 == 0)
			buf[j++] = ',';
		buf[j++] = digits[i];
	}
	buf[j] = '\0';
	return buf;
}

void cf_metrics_sync_progress(enum cf_listing which, uint64_t done, bool complete)
{
	char line[160] = "", a[32], b[32];
	unsigned l = (unsigned) which;
	if (l >= CF_LIST__COUNT)
		return;
	pthread_mutex_lock(&M.lock);
	struct listing_stats *s = &M.l[l];
	double now = mono_now();
	s->done = done;
	if (complete) {
		/* The zones and regions listings are swept (and reported complete) at the end
		 * of the pass: their time is up to their last page. */
		double end =
		    (which == CF_LIST_ZONES || which == CF_LIST_REGIONS) && s->last_page >= s->start
			? s->last_page
			: now;
		s->duration = s->start > 0 ? end - s->start : -1;
		s->estimate = done;
		if (M.cur == which)
			M.active = false;
		if (s->printed && M.foreground)
			snprintf(line, sizeof line, "first sync: %s %s, complete in %.1f s",
				 cf_listing_name(which), grouped(done, a), s->duration);
		s->printed = false;
	} else {
		M.cur = which;
		M.active = true;
		if (M.foreground && M.pass == 1 && now - M.last_print >= 1.0) {
			M.last_print = now;
			s->printed = true;
			if (s->estimate)
				snprintf(line, sizeof line, "first sync: %s %s / ~%s",
					 cf_listing_name(which), grouped(done, a),
					 grouped(s->estimate, b));
			else
				snprintf(line, sizeof line, "first sync: %s %s",
					 cf_listing_name(which), grouped(done, a));
		}
	}
	pthread_mutex_unlock(&M.lock);
	if (line[0])
		cf_info("%s", line);
}

void cf_metrics_get_progress(struct cf_progress *out)
{
	pthread_mutex_lock(&M.lock);
	out->active = M.active;
	out->listing = M.cur;
	out->done = M.l[M.cur].done;
	out->estimate = M.l[M.cur].estimate;
	out->pass = M.pass;
	pthread_mutex_unlock(&M.lock);
}

/* ---- one pass over the store ---- */

static const int64_t age_bounds[] = {86400, 7 * 86400, 30 * 86400, 90 * 86400, 365 * 86400};
#define N_BOUNDS (sizeof age_bounds / sizeof age_bounds[0])

struct kind_acc {
	uint64_t count, size, stored, unlabeled, trash, trash_stored;
	int64_t newest, oldest;
	uint64_t aged, buckets[N_BOUNDS];
	double age_sum;
};

struct status_acc {
	enum cf_kind kind;
	char status[32];
	uint64_t n;
};

struct census {
	const struct cf_policy *policy;
	int64_t now;
	struct kind_acc k[CF_KIND__COUNT];
	struct status_acc st[MAX_STATUSES + CF_KIND__COUNT];
	size_t nst;
	int64_t next_delete; /* the earliest clonefs-delete-at, 0 = none */
};

static const char *label_of(const struct cf_resource *r, const char *key)
{
	for (size_t i = 0; i < r->nlabels; i++)
		if (r->labels[i].key && !strcmp(r->labels[i].key, key))
			return r->labels[i].value ? r->labels[i].value : "";
	return NULL;
}

static bool is_clone_kind(enum cf_kind k)
{
	return k == CF_KIND_SNAPSHOT || k == CF_KIND_IMAGE || k == CF_KIND_MACHINE_IMAGE;
}

/* Count one resource under (kind, status). Past MAX_STATUSES distinct pairs the rest count
 * as status OTHER of their kind (room for one per kind is kept), so the totals stay right. */
static void count_status(struct census *c, enum cf_kind kind, const char *status)
{
	char s[32];
	snprintf(s, sizeof s, "%s", status && *status ? status : "UNKNOWN");
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < c->nst; i++)
			if (c->st[i].kind == kind && !strcmp(c->st[i].status, s)) {
				c->st[i].n++;
				return;
			}
		if (c->nst < MAX_STATUSES || pass == 1)
			break;
		snprintf(s, sizeof s, "OTHER");
	}
	struct status_acc *a = &c->st[c->nst++];
	a->kind = kind;
	memcpy(a->status, s, sizeof s);
	a->n = 1;
}

static int census_one(void *ctx, const char *path, const struct cf_resource *r)
{
	struct census *c = ctx;
	char missing[256];
	(void) path;
	if ((unsigned) r->kind >= CF_KIND__COUNT)
		return 0;
	struct kind_acc *k = &c->k[r->kind];
	k->count++;
	k->size += r->size_bytes;
	k->stored += r->stored_bytes;
	count_status(c, r->kind, r->status);
	const char *del = label_of(r, CF_TRASH_LABEL);
	if (del) {
		int64_t at = strtoll(del, NULL, 10);
		k->trash++;
		k->trash_stored += r->stored_bytes;
		if (at > 0 && (!c->next_delete || at < c->next_delete))
			c->next_delete = at;
	} else if (c->policy && cf_policy_missing_labels(c->policy, r, missing, sizeof missing)) {
		k->unlabeled++;
	}
	if (is_clone_kind(r->kind) && r->created > 0) {
		int64_t age = c->now > r->created ? c->now - r->created : 0;
		if (!k->newest || r->created > k->newest)
			k->newest = r->created;
		if (!k->oldest || r->created < k->oldest)
			k->oldest = r->created;
		k->aged++;
		k->age_sum += (double) age;
		for (size_t i = 0; i < N_BOUNDS; i++)
			if (age <= age_bounds[i])
				k->buckets[i]++;
	}
	return 0;
}

/* ---- the exposition format ---- */

struct out {
	FILE *f;
	const char *project;
};

/* A label value: backslash, double quote and newline escaped. */
static void put_value(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '\\')
			fputs("\\\\", f);
		else if (*s == '"')
			fputs("\\\"", f);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void family(struct out *o, const char *name, const char *type, const char *help)
{
	fprintf(o->f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{project="P"[,k1="v1"[,k2="v2"[,k3="v3"]]]} — up to three more labels; value as text */
static void series(struct out *o, const char *name, const char *k1, const char *v1, const char *k2,
		   const char *v2, const char *k3, const char *v3, const char *value)
{
	fprintf(o->f, "%s{project=\"", name);
	put_value(o->f, o->project);
	fputc('"', o->f);
	const char *kv[3][2] = {{k1, v1}, {k2, v2}, {k3, v3}};
	for (int i = 0; i < 3; i++) {
		if (!kv[i][0])
			continue;
		fprintf(o->f, ",%s=\"", kv[i][0]);
		put_value(o->f, kv[i][1]);
		fputc('"', o->f);
	}
	fprintf(o->f, "} %s\n", value);
}

static const char *u64s(uint64_t v, char buf[32])
{
	snprintf(buf, 32, "%" PRIu64, v);
	return buf;
}

static const char *dbls(double v, char buf[32])
{
	if (isinf(v))
		snprintf(buf, 32, "%s", v > 0 ? "+Inf" : "-Inf");
	else
		snprintf(buf, 32, "%.3f", v);
	return buf;
}

static void per_kind(struct out *o, const struct census *c, const char *name, const char *type,
		     const char *help, size_t field, bool clone_kinds_only)
{
	char v[32];
	family(o, name, type, help);
	for (int k = CF_KIND_SNAPSHOT; k < CF_KIND_ZONE; k++) {
		if (clone_kinds_only && !is_clone_kind((enum cf_kind) k))
			continue;
		const uint64_t *val = (const uint64_t *) ((const char *) &c->k[k] + field);
		series(o, name, "kind", cf_kind_name((enum cf_kind) k), NULL, NULL, NULL, NULL,
		       u64s(*val, v));
	}
}

/* The change feed's counters, when one is configured: what it received, stored,
 * acknowledged and held, and whether the mount reads it or polls. */
static void feed_metrics(struct cf_fs *fs, struct out *o)
{
	static const char *const states[] = {"feed", "behind", "polling"};
	struct cf_feed_stats fst;
	char v[32];
	if (!fs->feed)
		return;
	cf_feed_get_stats(fs->feed, &fst);
	const struct {
		const char *name, *help;
		uint64_t value;
	} counters[] = {
	    {"clonefs_feed_messages_total",
	     "Messages the change feed delivered (duplicates and redeliveries included).",
	     fst.messages},
	    {"clonefs_feed_applied_total", "Changes from the feed stored in the cache.",
	     fst.applied},
	    {"clonefs_feed_stale_total",
	     "Changes from the feed not newer than what the cache holds (a duplicate, a "
	     "redelivery, an older change coming late): acknowledged, not stored.",
	     fst.stale},
	    {"clonefs_feed_ignored_total",
	     "Messages not for this mount or not decodable: acknowledged, not stored.",
	     fst.ignored},
	    {"clonefs_feed_acknowledged_total", "Messages acknowledged (the acknowledge answered).",
	     fst.acked},
	    {"clonefs_feed_ack_failures_total",
	     "Acknowledge calls that failed (their messages come again).", fst.ack_failures},
	    {"clonefs_feed_hold_extensions_total",
	     "Calls that extended the hold on messages still being applied.", fst.extends},
	    {"clonefs_feed_hold_extension_failures_total", "Hold extensions that failed.",
	     fst.extend_failures},
	    {"clonefs_feed_pulls_total", "Pulls that answered (with messages or none).", fst.pulls},
	    {"clonefs_feed_pull_failures_total", "Pulls that failed.", fst.pull_failures},
	};
	for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++) {
		family(o, counters[i].name, "counter", counters[i].help);
		series(o, counters[i].name, NULL, NULL, NULL, NULL, NULL, NULL,
		       u64s(counters[i].value, v));
	}
	/* feed: the feed is read, the listing only the safety net; behind: its
	 * messages lag over feed_lag_max; polling: it is gone or failing */
	const char *now = !fst.polling			 ? "feed"
			  : !strcmp(fst.state, "behind") ? "behind"
							 : "polling";
	family(o, "clonefs_feed_state", "gauge",
	       "1 for what keeps the mount current now: feed (the change feed), behind (the "
	       "feed lags over feed_lag_max: listings at sync_interval) or polling (the feed "
	       "is gone or failing: listings at sync_interval).");
	for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
		series(o, "clonefs_feed_state", "state", states[i], NULL, NULL, NULL, NULL,
		       strcmp(states[i], now) ? "0" : "1");
	family(o, "clonefs_feed_lag_seconds", "gauge",
	       "Seconds the oldest message of the latest pull had waited since it was published "
	       "(0 after a pull that delivered none, except while behind: the last measured).");
	series(o, "clonefs_feed_lag_seconds", NULL, NULL, NULL, NULL, NULL, NULL,
	       dbls((double) fst.lag_ms / 1000.0, v));
}

/* The errnos of SEMANTICS.md's tables (and the two xattr answers), always shown. */
static const int table_errnos[] = {EINVAL, EEXIST, EACCES, EPERM,   EHOSTDOWN,	EMLINK,	  EDQUOT,
				   EBUSY,  EAGAIN, EROFS,  ENODATA, EOPNOTSUPP, ENOTEMPTY};

int cf_metrics_text(struct cf_fs *fs, char **data, size_t *len)
{
	struct census *c = calloc(1, sizeof *c);
	struct out o = {.project = fs->opt->project};
	char v[32], v2[32];
	size_t size = 0;
	if (!c)
		return -ENOMEM;
	c->policy = fs->policy;
	c->now = time(NULL);
	int rc = cf_store_foreach_resource(fs->store, census_one, c);
	if (rc < 0 && rc != -ENOENT) {
		free(c);
		return rc;
	}
	o.f = open_memstream(data, &size);
	if (!o.f) {
		free(c);
		return -ENOMEM;
	}

	family(&o, "clonefs_info", "gauge", "Always 1: the mounted project and clonefs's version.");
	fprintf(o.f, "clonefs_info{project=\"");
	put_value(o.f, o.project);
	fprintf(o.f, "\",version=\"%s\",mode=\"%s\"} 1\n", CLONEFS_VERSION,
		fs->read_only ? "ro" : "rw");
	family(&o, "clonefs_start_time_seconds", "gauge",
	       "When this daemon mounted the project, UTC seconds since the epoch.");
	series(&o, "clonefs_start_time_seconds", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s((uint64_t) fs->mounted_at, v));

	/* ---- the inventory ---- */
	family(&o, "clonefs_resources", "gauge",
	       "Resources in the cache, by kind and the provider's status.");
	for (int k = CF_KIND_SNAPSHOT; k < CF_KIND_ZONE; k++)
		for (size_t i = 0; i < c->nst; i++)
			if (c->st[i].kind == (enum cf_kind) k)
				series(&o, "clonefs_resources", "kind",
				       cf_kind_name((enum cf_kind) k), "status", c->st[i].status,
				       NULL, NULL, u64s(c->st[i].n, v));
	per_kind(&o, c, "clonefs_stored_bytes", "gauge",
		 "Bytes stored and billed (storageBytes; images: archiveSizeBytes; machine "
		 "images: totalStorageBytes), by kind: du's number.",
		 offsetof(struct kind_acc, stored), false);
	per_kind(&o, c, "clonefs_size_bytes", "gauge",
		 "Logical size in bytes (diskSizeGb x 2^30), by kind: ls -l's number.",
		 offsetof(struct kind_acc, size), false);

	family(&o, "clonefs_age_seconds", "histogram",
	       "Age of snapshots, images and machine images (now minus creation time), in "
	       "buckets of 1, 7, 30, 90 and 365 days.");
	for (int k = CF_KIND_SNAPSHOT; k < CF_KIND_ZONE; k++) {
		const struct kind_acc *a = &c->k[k];
		const char *kn = cf_kind_name((enum cf_kind) k);
		if (!is_clone_kind((enum cf_kind) k))
			continue;
		for (size_t i = 0; i < N_BOUNDS; i++)
			series(&o, "clonefs_age_seconds_bucket", "kind", kn, "le",
			       u64s((uint64_t) age_bounds[i], v2), NULL, NULL,
			       u64s(a->buckets[i], v));
		series(&o, "clonefs_age_seconds_bucket", "kind", kn, "le", "+Inf", NULL, NULL,
		       u64s(a->aged, v));
		series(&o, "clonefs_age_seconds_sum", "kind", kn, NULL, NULL, NULL, NULL,
		       dbls(a->age_sum, v));
		series(&o, "clonefs_age_seconds_count", "kind", kn, NULL, NULL, NULL, NULL,
		       u64s(a->aged, v));
	}
	family(&o, "clonefs_newest_creation_timestamp_seconds", "gauge",
	       "Creation time of the newest snapshot, image or machine image, UTC seconds "
	       "(absent when there is none): alert on time() minus this.");
	for (int k = CF_KIND_SNAPSHOT; k < CF_KIND_ZONE; k++)
		if (is_clone_kind((enum cf_kind) k) && c->k[k].newest)
			series(&o, "clonefs_newest_creation_timestamp_seconds", "kind",
			       cf_kind_name((enum cf_kind) k), NULL, NULL, NULL, NULL,
			       u64s((uint64_t) c->k[k].newest, v));
	family(&o, "clonefs_oldest_creation_timestamp_seconds", "gauge",
	       "Creation time of the oldest snapshot, image or machine image, UTC seconds "
	       "(absent when there is none).");
	for (int k = CF_KIND_SNAPSHOT; k < CF_KIND_ZONE; k++)
		if (is_clone_kind((enum cf_kind) k) && c->k[k].oldest)
			series(&o, "clonefs_oldest_creation_timestamp_seconds", "kind",
			       cf_kind_name((enum cf_kind) k), NULL, NULL, NULL, NULL,
			       u64s((uint64_t) c->k[k].oldest, v));
	per_kind(&o, c, "clonefs_unlabeled_resources", "gauge",
		 "Resources (outside the trash) missing a label the policy's labels.required "
		 "names: .clonefs/unlabeled lists them.",
		 offsetof(struct kind_acc, unlabeled), false);
	per_kind(&o, c, "clonefs_trash_resources", "gauge",
		 "Deletions pending: resources in .clonefs/trash waiting for their grace period.",
		 offsetof(struct kind_acc, trash), true);
	per_kind(&o, c, "clonefs_trash_stored_bytes", "gauge",
		 "Bytes still stored by resources in .clonefs/trash.",
		 offsetof(struct kind_acc, trash_stored), true);
	if (c->next_delete) {
		family(&o, "clonefs_trash_next_deletion_timestamp_seconds", "gauge",
		       "When the next grace period in .clonefs/trash ends, UTC seconds.");
		series(&o, "clonefs_trash_next_deletion_timestamp_seconds", NULL, NULL, NULL, NULL,
		       NULL, NULL, u64s((uint64_t) c->next_delete, v));
	}

	/* ---- the sync ---- */
	struct cf_sync_state st[CF_LIST__COUNT];
	struct listing_stats ls[CF_LIST__COUNT];
	unsigned pass;
	for (int l = 0; l < CF_LIST__COUNT; l++)
		if (cf_store_get_sync_state(fs->store, (enum cf_listing) l, &st[l]))
			memset(&st[l], 0, sizeof st[l]);
	pthread_mutex_lock(&M.lock);
	memcpy(ls, M.l, sizeof ls);
	pass = M.pass;
	pthread_mutex_unlock(&M.lock);

	family(&o, "clonefs_api_reachable", "gauge",
	       "1 when a listing completed in this daemon and the API answered the sync's "
	       "latest request.");
	series(&o, "clonefs_api_reachable", NULL, NULL, NULL, NULL, NULL, NULL,
	       atomic_load(&fs->listed) && fs->sync && cf_sync_api_reachable(fs->sync) ? "1" : "0");
	family(&o, "clonefs_sync_passes_total", "counter",
	       "Sync passes started by this daemon (every listing once per pass).");
	series(&o, "clonefs_sync_passes_total", NULL, NULL, NULL, NULL, NULL, NULL, u64s(pass, v));
#define PER_LISTING(name, type, help, expr)                                                        \
	do {                                                                                       \
		family(&o, name, type, help);                                                      \
		for (int l = 0; l < CF_LIST__COUNT; l++)                                           \
			if (cf_listing_used((enum cf_listing) l))                                  \
				series(&o, name, "collection",                                     \
				       cf_listing_name((enum cf_listing) l), NULL, NULL, NULL,     \
				       NULL, (expr));                                              \
	} while (0)
	PER_LISTING("clonefs_sync_resources", "gauge",
		    "Resources the last complete listing of a collection returned.",
		    u64s(st[l].count, v));
	PER_LISTING(
	    "clonefs_sync_last_complete_timestamp_seconds", "gauge",
	    "When the last complete listing of a collection ended, UTC seconds (0 = never).",
	    u64s((uint64_t) st[l].last_complete, v));
	PER_LISTING(
	    "clonefs_sync_age_seconds", "gauge",
	    "Seconds since the last complete listing of a collection (+Inf = never): how "
	    "stale the mount may be.",
	    dbls(st[l].last_complete
		     ? (double) (c->now > st[l].last_complete ? c->now - st[l].last_complete : 0)
		     : INFINITY,
		 v));
	PER_LISTING(
	    "clonefs_sync_failing", "gauge",
	    "1 when the latest listing of a collection failed (.clonefs/status has the error).",
	    st[l].last_error[0] ? "1" : "0");
	PER_LISTING(
	    "clonefs_sync_errors_total", "counter",
	    "Listings of a collection that failed in this daemon (nothing is removed then).",
	    u64s(ls[l].errors, v));
	PER_LISTING("clonefs_sync_requests_total", "counter",
		    "API requests made for a listing in this daemon: its pages, compact or whole, "
		    "and the fetches of what a compact page showed changed.",
		    u64s(ls[l].requests, v));
	PER_LISTING("clonefs_sync_received_bytes_total", "counter",
		    "Bytes received for a listing's requests in this daemon, as on the wire "
		    "(compressed when the API compressed them).",
		    u64s(ls[l].bytes, v));
	PER_LISTING("clonefs_sync_pages_total", "counter",
		    "Pages of a listing received in this daemon: whole, compact (below) and "
		    "fetched (below); whole = total - compact - fetched.",
		    u64s(ls[l].pages, v));
	PER_LISTING("clonefs_sync_compact_pages_total", "counter",
		    "Pages of a listing that asked only for what tells a change.",
		    u64s(ls[l].compact_pages, v));
	PER_LISTING("clonefs_sync_fetch_pages_total", "counter",
		    "Pages fetched whole because a compact page showed them new or changed.",
		    u64s(ls[l].fetch_pages, v));
	family(&o, "clonefs_sync_duration_seconds", "gauge",
	       "How long the last complete listing of a collection took in this daemon "
	       "(absent until one completed).");
	for (int l = 0; l < CF_LIST__COUNT; l++)
		if (ls[l].duration >= 0)
			series(&o, "clonefs_sync_duration_seconds", "collection",
			       cf_listing_name((enum cf_listing) l), NULL, NULL, NULL, NULL,
			       dbls(ls[l].duration, v));
#undef PER_LISTING

	/* ---- the API ---- */
	struct cf_http_stats hs = {0};
	if (fs->http)
		cf_http_get_stats(fs->http, &hs);
	family(&o, "clonefs_api_requests_total", "counter",
	       "HTTP requests made (each counted once, however many tries it took).");
	series(&o, "clonefs_api_requests_total", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(hs.requests, v));
	family(&o, "clonefs_api_retries_total", "counter",
	       "Retries after a 429, a 5xx or a connection error (with backoff and jitter).");
	series(&o, "clonefs_api_retries_total", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(hs.retries, v));
	family(&o, "clonefs_api_failures_total", "counter",
	       "Requests that got no usable answer after every retry.");
	series(&o, "clonefs_api_failures_total", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(hs.failures, v));
	family(&o, "clonefs_api_received_bytes_total", "counter", "Response bytes received.");
	series(&o, "clonefs_api_received_bytes_total", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(hs.bytes_in, v));
	family(&o, "clonefs_api_wire_bytes_total", "counter",
	       "Response bytes as they came over the wire (compressed when the API compressed "
	       "them).");
	series(&o, "clonefs_api_wire_bytes_total", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(hs.wire_in, v));
	family(&o, "clonefs_api_backoff_waits_total", "counter",
	       "Requests held back by the shared backoff after a 429 (every caller waits "
	       "together, honouring Retry-After).");
	series(&o, "clonefs_api_backoff_waits_total", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(hs.held, v));
	family(&o, "clonefs_api_errors_total", "counter",
	       "Provider calls that failed, by call, HTTP status (0 = no answer) and the API's "
	       "reason.");
	pthread_mutex_lock(&M.lock);
	for (size_t i = 0; i < M.nerrs; i++) {
		char code[16];
		snprintf(code, sizeof code, "%d", M.errs[i].status);
		series(&o, "clonefs_api_errors_total", "call", M.errs[i].call, "code", code,
		       "reason", M.errs[i].reason, u64s(M.errs[i].n, v));
	}
	if (M.errs_other)
		series(&o, "clonefs_api_errors_total", "call", "other", "code", "0", "reason",
		       "other", u64s(M.errs_other, v));
	pthread_mutex_unlock(&M.lock);

	feed_metrics(fs, &o);

	/* ---- the write path ---- */
	struct cf_engine_stats es = {0};
	if (fs->engine)
		cf_engine_get_stats(fs->engine, &es);
	family(&o, "clonefs_operations_pending", "gauge",
	       "Clone jobs the engine is carrying out now (stop, snapshot, start, ...).");
	series(&o, "clonefs_operations_pending", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(es.jobs_pending, v));
	family(&o, "clonefs_clones_started_total", "counter", "Clones (mkdir) started.");
	series(&o, "clonefs_clones_started_total", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(es.clones_started, v));
	family(&o, "clonefs_clones_failed_total", "counter", "Clones that failed in the cloud.");
	series(&o, "clonefs_clones_failed_total", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(es.clones_failed, v));
	family(&o, "clonefs_restores_total", "counter", "Restores (ln -s) started.");
	series(&o, "clonefs_restores_total", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(es.restores, v));
	family(&o, "clonefs_restores_failed_total", "counter",
	       "Restores refused by the API or failed in the cloud.");
	series(&o, "clonefs_restores_failed_total", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(es.restores_failed, v));
	family(&o, "clonefs_restores_old_copies_total", "counter",
	       "Restores started from copies older than 30 days.");
	series(&o, "clonefs_restores_old_copies_total", NULL, NULL, NULL, NULL, NULL, NULL,
	       u64s(es.restores_old, v));
	family(&o, "clonefs_prunes_total", "counter", "Prunes (rmdir) accepted.");
	series(&o, "clonefs_prunes_total", NULL, NULL, NULL, NULL, NULL, NULL, u64s(es.prunes, v));
	family(&o, "clonefs_refusals_total", "counter",
	       "Requests refused with an errno (each also a line in .clonefs/log), by errno.");
	for (size_t i = 0; i < sizeof table_errnos / sizeof table_errnos[0]; i++)
		series(&o, "clonefs_refusals_total", "errno", cf_log_errno_name(table_errnos[i]),
		       NULL, NULL, NULL, NULL, u64s(cf_log_refusal_count(table_errnos[i]), v));
	for (int e = 1; e < CF_LOG_ERRNO_MAX; e++) {
		bool listed = false;
		for (size_t i = 0; i < sizeof table_errnos / sizeof table_errnos[0]; i++)
			listed |= table_errnos[i] == e;
		unsigned long n = cf_log_refusal_count(e);
		if (listed || !n)
			continue;
		char name[16];
		const char *nm = cf_log_errno_name(e);
		if (!strcmp(nm, "E?")) {
			snprintf(name, sizeof name, "E%d", e);
			nm = name;
		}
		series(&o, "clonefs_refusals_total", "errno", nm, NULL, NULL, NULL, NULL,
		       u64s(n, v));
	}

	free(c);
	if (fclose(o.f) != 0) {
		free(*data);
		*data = NULL;
		return -ENOMEM;
	}
	*len = size;
	return 0;
}

/* ---- .clonefs/unlabeled ---- */

struct unlabeled {
	FILE *f;
	const struct cf_policy *policy;
};

static int unlabeled_one(void *ctx, const char *path, const struct cf_resource *r)
{
	struct unlabeled *u = ctx;
	char missing[256];
	if (label_of(r, CF_TRASH_LABEL))
		return 0; /* on its way out: nothing to follow up */
	if (cf_policy_missing_labels(u->policy, r, missing, sizeof missing) > 0) {
		fputs(path, u->f);
		fputc('\n', u->f);
	}
	return 0;
}

int cf_metrics_unlabeled(struct cf_fs *fs, char **data, size_t *len)
{
	struct unlabeled u = {.policy = fs->policy};
	size_t size = 0;
	*data = NULL;
	u.f = open_memstream(data, &size);
	if (!u.f)
		return -ENOMEM;
	int rc = u.policy ? cf_store_foreach_resource(fs->store, unlabeled_one, &u) : 0;
	if (fclose(u.f) != 0) {
		free(*data);
		*data = NULL;
		return -ENOMEM;
	}
	if (rc < 0 && rc != -ENOENT) {
		free(*data);
		*data = NULL;
		return rc;
	}
	*len = size;
	return 0;
}
