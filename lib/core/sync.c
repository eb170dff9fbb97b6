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
 * Timing uses CLOCK_MONOTONIC, so a wall-clock jump neither stalls nor
 * hurries the next pass; the times recorded in the sync state are UTC. */
#include "sync.h"
#include "layout.h"
#include "log.h"
#include "pathset.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cf_sync {
	struct cf_sync_config cfg;
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock; /* guards kick and stop, with cond */
	pthread_cond_t cond;  /* on CLOCK_MONOTONIC */
	bool kick;
	atomic_bool stop;	   /* also read between pages, without the lock */
	atomic_bool reachable;	   /* the last request got an HTTP answer */
	pthread_mutex_t pass_lock; /* one pass at a time (thread or run_once) */
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
	int failed_status; /* HTTP status of the last listing's failure, 0 = none */
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

/* One complete listing, or an error recorded for it. -ECANCELED when
 * stopped (nothing recorded: the listing was not wrong, only cut short). */
static int run_listing(struct cf_sync *s, enum cf_listing l, struct pass_stats *ps)
{
	struct cf_provider *p = s->cfg.provider;
	struct cf_pathset *seen = cf_pathset_new();
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
		rc = p->ops->list_page(p, l, token, &page, &err);
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
		rc = apply_page(s, l, &page, fetched, seen, ps, msg, sizeof msg);
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

/* Every listing once. Returns 0 when all completed, else the first error. */
static int run_pass(struct cf_sync *s)
{
	struct pass_stats ps = {0};
	int first = 0;
	pthread_mutex_lock(&s->pass_lock);
	double t0 = mono_now();
	bool cut = false;
	unsigned used = 0;
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
	for (unsigned i = 0; i < CF_LAYOUT_SCOPES_MAX; i++)
		cf_pathset_free(ps.scopes[i]);
	double ms = (mono_now() - t0) * 1e3;
	pthread_mutex_unlock(&s->pass_lock);
	if (first == -ECANCELED)
		cf_info("sync: pass stopped after %.0f ms", ms);
	else
		cf_info("sync: pass: %u of %u listings complete, %u failed; %llu resources listed, "
			"%llu changed, %llu removed, %llu skipped; %.0f ms",
			ps.complete, used, ps.failed, (unsigned long long) ps.listed,
			(unsigned long long) ps.changed, (unsigned long long) ps.removed,
			(unsigned long long) ps.skipped, ms);
	return first;
}

int cf_sync_run_once(struct cf_sync *s)
{
	return s ? run_pass(s) : -EINVAL;
}

static void *sync_main(void *arg)
{
	struct cf_sync *s = arg;
	for (;;) {
		if (atomic_load(&s->stop))
			break;
		run_pass(s);
		struct timespec until;
		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += s->cfg.interval ? s->cfg.interval : 1;
		pthread_mutex_lock(&s->lock);
		while (!s->kick && !atomic_load(&s->stop)) {
			if (pthread_cond_timedwait(&s->cond, &s->lock, &until) == ETIMEDOUT)
				break;
		}
		s->kick = false;
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

int cf_sync_start(const struct cf_sync_config *cfg, struct cf_sync **out)
{
	pthread_condattr_t ca;
	if (!cfg || !out || !cfg->store || !cfg->provider || !cfg->provider->ops ||
	    !cfg->provider->ops->list_page)
		return -EINVAL;
	struct cf_sync *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	atomic_init(&s->stop, false);
	atomic_init(&s->reachable, true); /* until a request says otherwise */
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

void cf_sync_stop(struct cf_sync *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	atomic_store(&s->stop, true);
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->thread_started)
		pthread_join(s->thread, NULL);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->pass_lock);
	free(s);
}
