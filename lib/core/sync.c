/* sync.c — the background thread that keeps the LMDB cache true to the
 * cloud.
 *
 * A pass walks the listings in a fixed order (zones and regions first, so
 * the directories exist before their members; then disks and instances
 * before the snapshots and images that point at them). Each listing is read
 * page by page; every page is applied in its own write transaction, so the
 * mount shows the first pages of a large first sync at once and a reader is
 * never blocked for long. Only a complete listing is followed by a sweep
 * (removing what the cloud no longer returned): a listing that fails part-way
 * has seen only part of the truth, so it removes nothing and records the
 * error instead. Stop is checked between pages; a page in flight is bounded
 * by the HTTP layer's timeouts.
 *
 * A pass is full (every resource whole: the first, and one every
 * `reconcile` seconds) or compact (the provider's list_query: only what
 * tells a change; whole resources fetched by id for what a compact page
 * shows new or changed): see "the compact pass" below.
 *
 * Timing uses CLOCK_MONOTONIC, so a wall-clock jump neither stalls nor
 * hurries the next pass; the times recorded in the sync state are UTC. */
#include "sync.h"
#include "layout.h"
#include "log.h"
#include "pathset.h"
#include "stop.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

struct cf_sync {
	struct cf_sync_config cfg;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock; /* guards kick and stop, with cond */
	pthread_cond_t cond;  /* on CLOCK_MONOTONIC */
	bool kick;
	atomic_bool stop;	   /* also read between pages, without the lock */
	struct cf_stop stopper;	   /* raised with stop: ends the HTTP layer's pauses */
	atomic_bool reachable;	   /* the last request got an HTTP answer */
	pthread_mutex_t pass_lock; /* one pass at a time (thread or run_once) */
	atomic_uint interval;	   /* seconds between passes (cf_sync_set_interval) */
	double last_full;	   /* mono_now() of the last full pass begun, 0 = never */
	unsigned offset_ms;	   /* this mount's phase in [0, interval): see sync_main */
};

/* One pass: counts for its log line, and the listings of named scopes
 * (layout.h; GCE: zones, regions), whose sweep waits for the end of the pass
 * so that a scope an aggregated listing named counts as seen (else such a
 * zone would be removed by the zones listing and re-created by the disks
 * listing on every pass). */
struct pass_stats {
	uint64_t listed, changed, removed, skipped;
	unsigned complete, failed;
	struct cf_pathset *scopes[CF_LAYOUT_SCOPES_MAX]; /* by scope type: complete listings */
	uint64_t scope_count[CF_LAYOUT_SCOPES_MAX];
	int64_t scope_since[CF_LAYOUT_SCOPES_MAX]; /* when those listings began */
	int failed_status;		   /* HTTP status of the last listing's failure, 0 = none */
	bool compact;			   /* a compact pass (compact_due) */
	uint64_t requests, bytes, fetched; /* API traffic; resources fetched whole */
};

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* The path a resource is known by in a listing's `seen` set (a resource
 * that names a scope, a zone, has no resource path: the scope's; where the
 * store chooses entry names (layout.h's pref_names), its id path: the sweep
 * looks it up by its id). */
static int seen_path(const struct cf_resource *r, char *buf, size_t size)
{
	if (cf_scope_type_named_by(r->kind) >= 0)
		return cf_scope_path(r->kind, r->name, buf, size);
	return cf_resource_path(r->kind, r->scope,
				cf_layout()->pref_names && r->id ? r->id : r->name, buf, size);
}

/* The scope type whose scopes listing l returns, or -1. */
static int scope_listing(enum cf_listing l)
{
	const struct cf_layout *lay = cf_layout();
	for (unsigned i = 0; i < lay->nscopes; i++)
		if (lay->scopes[i].kind != CF_KIND_NONE && lay->scopes[i].listing == l)
			return (int) i;
	return -1;
}

static const struct cf_change_sink *sink_of(const struct cf_sync *s)
{
	return s->cfg.sink.entry || s->cfg.sink.inode ? &s->cfg.sink : NULL;
}

/* A scope an aggregated page named ("zones/Z"): its type, or -EINVAL when
 * it is not a named scope of the layout. */
static int ensure_scope(struct cf_wtxn *w, const char *scope)
{
	const struct cf_layout *lay = cf_layout();
	int st = cf_scope_type(scope, strlen(scope));
	if (st < 0 || lay->scopes[st].kind == CF_KIND_NONE)
		return -EINVAL;
	int rc =
	    cf_store_ensure_scope(w, lay->scopes[st].kind, scope + strlen(lay->scopes[st].dir) + 1);
	return rc < 0 ? rc : st;
}

/* Apply one page, read from `fetched` on, in one write transaction. A
 * resource the store refuses (a name or path it cannot hold) is skipped with
 * a warning; any other failure abandons the page. What the write path stored
 * after the page was read is newer than the page, and stays (store.h). */
static int apply_page(struct cf_sync *s, enum cf_listing l, const struct cf_page *page,
		      int64_t fetched, struct cf_pathset *seen, struct pass_stats *ps, char *msg,
		      size_t msglen)
{
	struct cf_wtxn *w;
	char path[CF_PATH_MAX];
	int rc = cf_store_wbegin(s->cfg.store, &w);
	if (rc)
		goto fail;
	cf_store_wfetched(w, fetched);
	for (size_t i = 0; i < page->nscopes; i++) {
		const char *scope = page->scopes[i];
		int st = ensure_scope(w, scope);
		if (st == -EINVAL) {
			cf_warn("sync: %s: scope \"%s\" skipped", cf_listing_name(l), scope);
			continue;
		}
		if (st < 0) {
			rc = st;
			goto abort;
		}
		struct cf_pathset *named = ps->scopes[st];
		if (named && (rc = cf_pathset_add(named, scope)))
			goto abort;
	}
	for (size_t i = 0; i < page->n; i++) {
		const struct cf_resource *r = &page->items[i];
		bool changed = false;
		rc = seen_path(r, path, sizeof path);
		if (rc >= 0)
			rc = cf_store_upsert(w, r, &changed);
		if (rc == -EINVAL || rc == -ENAMETOOLONG) {
			cf_warn("sync: %s: %s \"%s\" skipped: %s", cf_listing_name(l),
				cf_kind_name(r->kind), r->name ? r->name : "?", strerror(-rc));
			ps->skipped++;
			continue;
		}
		if (rc)
			goto abort;
		if ((rc = cf_pathset_add(seen, path)))
			goto abort;
		ps->changed += changed;
	}
	rc = cf_store_wcommit(w, sink_of(s));
	if (rc)
		goto fail;
	return 0;
abort:
	cf_store_wabort(w);
fail:
	snprintf(msg, msglen, "cache: %s", strerror(-rc));
	return rc;
}

/* Record a failed listing: keep when it last completed, note the error. */
static void record_failure(struct cf_sync *s, enum cf_listing l, const char *msg)
{
	struct cf_sync_state st;
	struct cf_wtxn *w;
	if (cf_store_get_sync_state(s->cfg.store, l, &st))
		memset(&st, 0, sizeof st);
	st.last_attempt = time(NULL);
	/* Cut to fit, on a UTF-8 character boundary. */
	size_t n = strnlen(msg, sizeof st.last_error - 1);
	while (n > 0 && msg[n] && ((unsigned char) msg[n] & 0xc0) == 0x80)
		n--;
	memcpy(st.last_error, msg, n);
	st.last_error[n] = '\0';
	if (cf_store_wbegin(s->cfg.store, &w))
		return;
	if (cf_store_put_sync_state(w, l, &st))
		cf_store_wabort(w);
	else
		cf_store_wcommit(w, NULL);
}

/* After a complete listing that began at `since`: remove what it no longer
 * returned (but not what the write path stored since it began) and record
 * the success, in one transaction. */
static int finish_listing(struct cf_sync *s, enum cf_listing l, const struct cf_pathset *seen,
			  int64_t since, uint64_t count, struct pass_stats *ps, char *msg,
			  size_t msglen)
{
	struct cf_wtxn *w;
	struct cf_sync_state st = {0};
	int rc = cf_store_wbegin(s->cfg.store, &w);
	if (rc)
		goto fail;
	int removed = cf_store_sweep(w, l, seen, since);
	if (removed < 0) {
		rc = removed;
		cf_store_wabort(w);
		goto fail;
	}
	st.last_complete = st.last_attempt = time(NULL);
	st.count = count;
	if ((rc = cf_store_put_sync_state(w, l, &st))) {
		cf_store_wabort(w);
		goto fail;
	}
	if ((rc = cf_store_wcommit(w, sink_of(s))))
		goto fail;
	ps->removed += (uint64_t) removed;
	return 0;
fail:
	snprintf(msg, msglen, "cache: %s", strerror(-rc));
	return rc;
}

/* ---- the compact pass: what tells a change, whole resources only for
 * what changed (provider.h, list_query and unchanged) ---- */

/* Resources a compact page showed as new or changed, to fetch whole. */
struct want {
	char **ids, **paths; /* ids[i] NULL: no id, fetched by path */
	size_t n, cap;
};

static void want_clear(struct want *w)
{
	for (size_t i = 0; i < w->n; i++) {
		free(w->ids[i]);
		free(w->paths[i]);
	}
	free(w->ids);
	free(w->paths);
	memset(w, 0, sizeof *w);
}

static int want_add(struct want *w, const char *id, const char *path)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		char **ids = realloc(w->ids, cap * sizeof *ids);
		if (ids)
			w->ids = ids;
		char **paths = ids ? realloc(w->paths, cap * sizeof *paths) : NULL;
		if (!paths)
			return -ENOMEM;
		w->paths = paths;
		w->cap = cap;
	}
	w->ids[w->n] = id ? strdup(id) : NULL;
	w->paths[w->n] = strdup(path);
	if ((id && !w->ids[w->n]) || !w->paths[w->n]) {
		free(w->ids[w->n]);
		free(w->paths[w->n]);
		return -ENOMEM;
	}
	w->n++;
	return 0;
}

/* The sync's decision for one compact item: true when the store already
 * holds what it shows (the provider's change token agrees with the stored
 * record of the same path), false when it is new or changed and must be
 * fetched whole. A scope (zone) is never decided from a compact item. */
bool cf_sync_compact_unchanged(struct cf_store *st, const struct cf_provider *p,
			       const struct cf_resource *item, const char *path)
{
	struct cf_resource stored;
	uint64_t ino;
	if (!p->ops->unchanged || cf_scope_type_named_by(item->kind) >= 0)
		return false;
	if (cf_store_ino_of_path(st, path, &ino) || cf_store_resource(st, ino, &stored))
		return false;
	bool same = stored.kind == item->kind && p->ops->unchanged(item, &stored);
	cf_resource_clear(&stored);
	return same;
}

/* A compact page: its scopes applied as a full page's, each unchanged item
 * counted as seen, the others added to `want`. */
static int compact_page(struct cf_sync *s, enum cf_listing l, const struct cf_page *page,
			int64_t fetched, struct cf_pathset *seen, struct want *want,
			struct pass_stats *ps, char *msg, size_t msglen)
{
	char path[CF_PATH_MAX];
	struct cf_page scopes = {.scopes = page->scopes, .nscopes = page->nscopes};
	int rc = page->nscopes ? apply_page(s, l, &scopes, fetched, seen, ps, msg, msglen) : 0;
	for (size_t i = 0; !rc && i < page->n; i++) {
		const struct cf_resource *r = &page->items[i];
		if (seen_path(r, path, sizeof path) < 0) {
			ps->skipped++;
			continue;
		}
		if (cf_sync_compact_unchanged(s->cfg.store, s->cfg.provider, r, path))
			rc = cf_pathset_add(seen, path);
		else
			rc = want_add(want, r->id, path);
		if (rc)
			snprintf(msg, msglen, "out of memory");
	}
	return rc;
}

/* How many wanted resources make one fetch. */
static size_t want_batch(const struct cf_provider *p)
{
	return p->ops->ids_max ? p->ops->ids_max : 1;
}

/* Apply one fetched page (or one resource from get) as a full page. */
static int apply_fetched(struct cf_sync *s, enum cf_listing l, struct cf_page *page,
			 int64_t fetched, struct cf_pathset *seen, struct pass_stats *ps, char *msg,
			 size_t msglen)
{
	ps->requests += page->requests;
	ps->bytes += page->bytes;
	ps->fetched += page->n;
	int rc = apply_page(s, l, page, fetched, seen, ps, msg, msglen);
	cf_page_clear(page);
	return rc;
}

/* Fetch whole what `want` names and apply it: by id, ids_max to a request
 * (a listing filtered on the ids: one request where GETs would be one each,
 * the same bytes), or by path when an item had no id. A resource gone in
 * the meantime is not returned and so not seen: the sweep removes it. */
static int fetch_wanted(struct cf_sync *s, enum cf_listing l, struct want *want,
			struct cf_pathset *seen, struct pass_stats *ps, char *msg, size_t msglen)
{
	struct cf_provider *p = s->cfg.provider;
	size_t max = p->ops->ids_max ? p->ops->ids_max : 1;
	const char *ids[64];
	int rc = 0;
	if (max > sizeof ids / sizeof ids[0])
		max = sizeof ids / sizeof ids[0];
	for (size_t i = 0; !rc && i < want->n;) {
		struct cf_error err = {0};
		struct cf_page page = {0};
		int64_t fetched = cf_store_clock_ms();
		if (!want->ids[i]) {
			struct cf_resource one;
			const char *path = want->paths[i++];
			rc = p->ops->get ? p->ops->get(p, path, &one, &err) : -EOPNOTSUPP;
			if (rc == -ENOENT) {
				rc = 0; /* gone: not seen, swept */
				continue;
			}
			if (rc) {
				snprintf(msg, msglen, "fetching %s: %s", path,
					 err.message[0] ? err.message : strerror(-rc));
				ps->failed_status = err.http_status;
				break;
			}
			page.items = &one;
			page.n = 1;
			page.requests = 1;
			ps->requests += 1;
			ps->fetched += 1;
			rc = apply_page(s, l, &page, fetched, seen, ps, msg, msglen);
			cf_resource_clear(&one);
			continue;
		}
		size_t n = 0;
		while (i < want->n && want->ids[i] && n < max)
			ids[n++] = want->ids[i++];
		struct cf_list_query q = {.ids = ids, .nids = n};
		char *token = NULL;
		do {
			rc = p->ops->list_query(p, l, &q, token, &page, &err);
			free(token);
			token = NULL;
			if (rc) {
				snprintf(msg, msglen, "fetching %zu changed: %s", n,
					 err.message[0] ? err.message : strerror(-rc));
				ps->failed_status = err.http_status;
				cf_page_clear(&page);
				break;
			}
			if (page.next_token && !(token = strdup(page.next_token)))
				rc = -ENOMEM;
			if (!rc)
				rc = apply_fetched(s, l, &page, fetched, seen, ps, msg, msglen);
			cf_page_clear(&page);
		} while (!rc && token);
		free(token);
	}
	want_clear(want);
	return rc;
}

/* One complete listing, or an error recorded for it. -ECANCELED when
 * stopped (nothing recorded: the listing was not wrong, only cut short). */
static int run_listing(struct cf_sync *s, enum cf_listing l, struct pass_stats *ps)
{
	struct cf_provider *p = s->cfg.provider;
	struct cf_pathset *seen = cf_pathset_new();
	struct want want = {0};
	const struct cf_list_query compact = {.compact = true};
	char *token = NULL;
	char msg[sizeof((struct cf_error *) 0)->message + 64] = "";
	uint64_t done = 0;
	int rc = 0;
	int64_t since = cf_store_clock_ms();
	if (!seen)
		return -ENOMEM;
	for (;;) {
		struct cf_page page;
		struct cf_error err;
		if (atomic_load(&s->stop)) {
			rc = -ECANCELED;
			break;
		}
		memset(&page, 0, sizeof page);
		memset(&err, 0, sizeof err);
		int64_t fetched = cf_store_clock_ms();
		/* The listings of named scopes (zones) are few and short: whole. */
		if (ps->compact && scope_listing(l) < 0)
			rc = p->ops->list_query(p, l, &compact, token, &page, &err);
		else
			rc = p->ops->list_page(p, l, token, &page, &err);
		ps->requests += page.requests;
		ps->bytes += page.bytes;
		atomic_store(&s->reachable, rc == 0 || err.http_status != 0);
		ps->failed_status = rc ? err.http_status : 0;
		if (rc) {
			if (err.http_status)
				snprintf(msg, sizeof msg, "HTTP %d: %s", err.http_status,
					 err.message[0] ? err.message : strerror(-rc));
			else
				snprintf(msg, sizeof msg, "%s",
					 err.message[0] ? err.message : strerror(-rc));
			cf_page_clear(&page);
			break;
		}
		ps->skipped += page.skipped;
		if (page.compact) {
			rc = compact_page(s, l, &page, fetched, seen, &want, ps, msg, sizeof msg);
			/* Changes are few and spread over the pages: gathered across
			 * pages, fetched ids_max to a request, the rest at the end. */
			if (!rc && (want.n >= want_batch(p) || !page.next_token) && want.n)
				rc = fetch_wanted(s, l, &want, seen, ps, msg, sizeof msg);
		} else {
			rc = apply_page(s, l, &page, fetched, seen, ps, msg, sizeof msg);
		}
		/* A provider that hands back the token it was given would loop. */
		bool again = page.next_token && token && !strcmp(page.next_token, token);
		free(token);
		token = NULL;
		if (!rc && again) {
			snprintf(msg, sizeof msg, "the API repeated a page token");
			rc = -EPROTO;
		}
		if (!rc && page.next_token && !(token = strdup(page.next_token))) {
			snprintf(msg, sizeof msg, "out of memory");
			rc = -ENOMEM;
		}
		done += page.n;
		cf_page_clear(&page);
		if (rc)
			break;
		if (s->cfg.progress)
			s->cfg.progress(s->cfg.progress_ctx, l, done, false);
		if (!token)
			break; /* the last page */
	}
	free(token);
	want_clear(&want);
	int i = scope_listing(l);
	if (!rc && i >= 0) {
		ps->scopes[i] = seen; /* swept by finish_scopes */
		ps->scope_count[i] = cf_pathset_count(seen);
		ps->scope_since[i] = since;
		ps->listed += done;
		return 0;
	}
	if (!rc)
		rc = finish_listing(s, l, seen, since, cf_pathset_count(seen), ps, msg, sizeof msg);
	if (!rc) {
		ps->listed += done;
		ps->complete++;
		if (s->cfg.progress)
			s->cfg.progress(s->cfg.progress_ctx, l, done, true);
	} else if (rc != -ECANCELED) {
		ps->failed++;
		cf_warn("sync: listing %s failed, nothing removed: %s", cf_listing_name(l), msg);
		record_failure(s, l, msg);
	}
	cf_pathset_free(seen);
	return rc;
}

/* The deferred sweeps of the listings of named scopes, scope type by type. */
static int finish_scopes(struct cf_sync *s, struct pass_stats *ps)
{
	const struct cf_layout *lay = cf_layout();
	char msg[64];
	int first = 0;
	for (unsigned i = 0; i < lay->nscopes; i++) {
		if (!ps->scopes[i])
			continue;
		const enum cf_listing which = lay->scopes[i].listing;
		int rc = finish_listing(s, which, ps->scopes[i], ps->scope_since[i],
					ps->scope_count[i], ps, msg, sizeof msg);
		if (!rc) {
			ps->complete++;
			if (s->cfg.progress)
				s->cfg.progress(s->cfg.progress_ctx, which, ps->scope_count[i],
						true);
		} else {
			ps->failed++;
			cf_warn("sync: listing %s: %s", cf_listing_name(which), msg);
			record_failure(s, which, msg);
			if (!first)
				first = rc;
		}
	}
	return first;
}

/* Whether the pass starting at `now` may be compact: the provider can
 * (list_query and unchanged), a full pass completed before (the first sync
 * is complete, every resource whole), and the last one began less than the
 * reconciliation interval ago. The full pass is the safety net for what a
 * compact one cannot see: a field outside the change token (resource.json's
 * description, say) is fresh again at least once an interval. */
static bool compact_due(const struct cf_sync *s, double now)
{
	const struct cf_provider_ops *o = s->cfg.provider->ops;
	if (!o->list_query || !o->unchanged || !s->cfg.reconcile || s->last_full <= 0)
		return false;
	return now - s->last_full < (double) s->cfg.reconcile;
}

/* Every listing once. Returns 0 when all completed, else the first error. */
static int run_pass(struct cf_sync *s)
{
	struct pass_stats ps = {0};
	int first = 0;
	pthread_mutex_lock(&s->pass_lock);
	double t0 = mono_now();
	bool cut = false;
	unsigned used = 0;
	ps.compact = compact_due(s, t0);
	if (!ps.compact)
		s->last_full = t0;
	for (int l = 0; l < CF_LIST__COUNT && !cut; l++) {
		/* A listing the layout does not name has nothing to show (a tree
		 * without zones or regions): never asked for. */
		if (!cf_listing_used((enum cf_listing) l))
			continue;
		used++;
		int rc = run_listing(s, (enum cf_listing) l, &ps);
		if (rc && !first)
			first = rc;
		/* Stopped, no answer at all, or the API still failing (5xx, 429)
		 * after every retry: the other listings would only wait out the
		 * same timeouts and retries. */
		bool down = rc && (!atomic_load(&s->reachable) || ps.failed_status == 429 ||
				   ps.failed_status >= 500);
		cut = rc == -ECANCELED || down;
		if (down && l + 1 < CF_LIST__COUNT)
			cf_warn("sync: the API %s; the rest of this pass is skipped",
				ps.failed_status ? "keeps failing" : "did not answer");
	}
	if (!cut) {
		int rc = finish_scopes(s, &ps);
		if (rc && !first)
			first = rc;
	}
	if (cut && !ps.compact)
		s->last_full = 0; /* the reconciliation did not finish: the next pass is one */
	for (unsigned i = 0; i < CF_LAYOUT_SCOPES_MAX; i++)
		cf_pathset_free(ps.scopes[i]);
	double ms = (mono_now() - t0) * 1e3;
	pthread_mutex_unlock(&s->pass_lock);
	if (first == -ECANCELED)
		cf_info("sync: pass stopped after %.0f ms", ms);
	else
		cf_info("sync: %s pass: %u of %u listings complete, %u failed; %llu resources "
			"listed, %llu fetched whole, %llu changed, %llu removed, %llu skipped; "
			"%llu requests, %llu bytes; %.0f ms",
			ps.compact ? "compact" : "full", ps.complete, used, ps.failed,
			(unsigned long long) ps.listed, (unsigned long long) ps.fetched,
			(unsigned long long) ps.changed, (unsigned long long) ps.removed,
			(unsigned long long) ps.skipped, (unsigned long long) ps.requests,
			(unsigned long long) ps.bytes, ms);
	return first;
}

int cf_sync_run_once(struct cf_sync *s)
{
	return s ? run_pass(s) : -EINVAL;
}

static void *sync_main(void *arg)
{
	struct cf_sync *s = arg;
	cf_stop_set_current(&s->stopper); /* a pass's retry pauses end on an unmount */
	for (;;) {
		if (atomic_load(&s->stop))
			break;
		run_pass(s);
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		unsigned every = atomic_load(&s->interval);
		/* Once, after the first pass: this mount's phase, so that a fleet
		 * started together (a deploy, a reboot) does not list in lock step
		 * from then on. The first sync is not delayed (someone waits on
		 * it), and the second comes that part of the interval after it, not
		 * an interval and that part: a change still shows within one. */
		if (!s->offset_ms)
			until.tv_sec += every ? every : 1;
		else {
			until.tv_sec += s->offset_ms / 1000;
			until.tv_nsec += (long) (s->offset_ms % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			s->offset_ms = 0;
		}
		pthread_mutex_lock(&s->lock);
		while (!s->kick && !atomic_load(&s->stop)) {
			if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
				break;
		}
		s->kick = false;
		pthread_mutex_unlock(&s->lock);
	}
	cf_stop_set_current(NULL);
	return NULL;
}

/* A random phase in [0, interval) s. Random, not derived from the host or
 * the mount: machines cloned from one image share hostnames, machine ids and
 * mount points, and a phase derived from those would put them back in lock
 * step; a random one needs no identity. It is logged. */
unsigned cf_sync_offset_ms(unsigned interval)
{
	uint32_t r = 0;
	if (interval == 0 || getrandom(&r, sizeof r, 0) != (ssize_t) sizeof r)
		return 0;
	return (unsigned) ((uint64_t) r * interval * 1000u >> 32);
}

int cf_sync_start(const struct cf_sync_config *cfg, struct cf_sync **out)
{
	pthread_condattr_t ca;
	if (!cfg || !out || !cfg->store || !cfg->provider || !cfg->provider->ops ||
	    !cfg->provider->ops->list_page)
		return -EINVAL;
	struct cf_sync *s = calloc(1, sizeof *s);
	if (!s || cf_stop_init(&s->stopper)) {
		free(s);
		return -ENOMEM;
	}
	s->cfg = *cfg;
	s->offset_ms = cfg->interval && cfg->offset_ms < cfg->interval * 1000u ? cfg->offset_ms : 0;
	cf_info("sync: passes every %u s, this mount's offset %u ms (jitter), a full "
		"reconciliation every %u s",
		cfg->interval, s->offset_ms, cfg->reconcile);
	atomic_init(&s->stop, false);
	atomic_init(&s->reachable, true); /* until a request says otherwise */
	atomic_init(&s->interval, cfg->interval);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->pass_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&s->thread, NULL, sync_main, s);
	if (rc) {
		cf_err("sync: cannot start the thread: %s", strerror(rc));
		pthread_cond_destroy(&s->cond);
		pthread_mutex_destroy(&s->lock);
		pthread_mutex_destroy(&s->pass_lock);
		cf_stop_destroy(&s->stopper);
		free(s);
		return -rc;
	}
	s->thread_started = true;
	*out = s;
	return 0;
}

void cf_sync_kick(struct cf_sync *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->kick = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

bool cf_sync_api_reachable(struct cf_sync *s)
{
	return s && atomic_load(&s->reachable);
}

void cf_sync_set_interval(struct cf_sync *s, unsigned seconds, bool now)
{
	if (!s)
		return;
	atomic_store(&s->interval, seconds);
	if (now)
		cf_sync_kick(s);
}

void cf_sync_stop(struct cf_sync *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->stop, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	cf_stop_raise(&s->stopper);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	cf_stop_destroy(&s->stopper);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->pass_lock);
	free(s);
}
