/* feed_apply.c — one change from a feed into the store, in the order the
 * cloud made them: the per-path clock of the newest change applied, and
 * cf_sync_apply (feed.h).
 *
 * The clock lives in memory. After a restart it starts empty, with a
 * baseline: the time the feed started. A change made before that, to a
 * resource the clock does not know, is older than what this mount's first
 * listing read (every page of it was read after the baseline), so once that
 * listing has completed the change is stale; before, it waits (-EAGAIN: not
 * acknowledged, so delivered again): applied now, it could overwrite a newer
 * state a page already read, which that listing would then keep. */
#include "feed.h"
#include "hash.h"
#include "layout.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct clock_slot {
	char *path; /* NULL: empty */
	int64_t us;
};

struct cf_feed_clock {
	struct clock_slot *slot;
	size_t cap, n;	  /* cap a power of two, n * 2 <= cap */
	int64_t baseline; /* UTC microseconds, 0 = none (cf_feed_clock_baseline) */
	int64_t newest;	  /* the newest time put */
};

/* Past this many paths, those not changed for an hour are forgotten and the
 * baseline moves up to that hour: a change older than it then waits for a
 * listing completed since (the safety net runs hourly), as after a restart. */
enum { CLOCK_KEEP = 1 << 16 };
#define CLOCK_FORGET_US ((int64_t) 3600 * 1000000)

void cf_feed_batch_clear(struct cf_feed_batch *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < b->n; i++) {
		free(b->items[i].ack_id);
		free(b->items[i].path);
		cf_resource_clear(&b->items[i].res);
	}
	free(b->items);
	b->items = NULL;
	b->n = 0;
}

struct cf_feed_clock *cf_feed_clock_new(void)
{
	return calloc(1, sizeof(struct cf_feed_clock));
}

void cf_feed_clock_free(struct cf_feed_clock *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->cap; i++)
		free(c->slot[i].path);
	free(c->slot);
	free(c);
}

static struct clock_slot *find(const struct cf_feed_clock *c, const char *path)
{
	size_t i = (size_t) cf_hash64(path, strlen(path)) & (c->cap - 1);
	while (c->slot[i].path && strcmp(c->slot[i].path, path))
		i = (i + 1) & (c->cap - 1);
	return &c->slot[i];
}

void cf_feed_clock_baseline(struct cf_feed_clock *c, int64_t us)
{
	if (c)
		c->baseline = us;
}

/* Whether the listing of kind completed since the baseline: then it read
 * every change made before the baseline. The sync state keeps whole
 * seconds: a listing that completed in the baseline's second counts (one of
 * the daemon before, ended in the very second this one started, would too). */
static bool listed_since(struct cf_store *store, enum cf_kind kind, int64_t baseline_us)
{
	struct cf_sync_state st;
	int l = cf_kind_listing(kind);
	return l >= 0 && !cf_store_get_sync_state(store, (enum cf_listing) l, &st) &&
	       st.last_complete >= baseline_us / 1000000;
}

int64_t cf_feed_clock_get(const struct cf_feed_clock *c, const char *path)
{
	if (!c || !c->cap || !path)
		return 0;
	const struct clock_slot *s = find(c, path);
	return s->path ? s->us : 0;
}

/* Rebuild into cap slots, without the paths older than cutoff (freed). */
static int rebuild(struct cf_feed_clock *c, size_t cap, int64_t cutoff)
{
	struct cf_feed_clock nc = *c;
	if (!(nc.slot = calloc(cap, sizeof *nc.slot)))
		return -ENOMEM;
	nc.cap = cap;
	nc.n = 0;
	for (size_t i = 0; i < c->cap; i++) {
		if (!c->slot[i].path)
			continue;
		if (c->slot[i].us < cutoff) {
			free(c->slot[i].path);
			continue;
		}
		*find(&nc, c->slot[i].path) = c->slot[i];
		nc.n++;
	}
	free(c->slot);
	*c = nc;
	return 0;
}

int cf_feed_clock_put(struct cf_feed_clock *c, const char *path, int64_t us)
{
	if (!c || !path)
		return -EINVAL;
	if (us > c->newest)
		c->newest = us;
	if (c->n >= CLOCK_KEEP && !cf_feed_clock_get(c, path)) {
		int64_t cutoff = c->newest - CLOCK_FORGET_US;
		/* at most once a minute of the cloud's time: a rebuild is a pass */
		if (cutoff > c->baseline + 60 * 1000000 && !rebuild(c, c->cap, cutoff))
			c->baseline = cutoff;
	}
	if ((c->n + 1) * 2 > c->cap && rebuild(c, c->cap ? c->cap * 2 : 64, INT64_MIN))
		return -ENOMEM;
	struct clock_slot *s = find(c, path);
	if (!s->path) {
		if (!(s->path = strdup(path)))
			return -ENOMEM;
		c->n++;
	}
	s->us = us;
	return 0;
}

/* A zone or region the resource lives in gets its directory first, as a
 * listing's aggregated page would make it. */
static int ensure_scope(struct cf_wtxn *w, const char *scope)
{
	const struct cf_layout *lay = cf_layout();
	int st = cf_scope_type(scope, strlen(scope));
	if (st < 0 || lay->scopes[st].kind == CF_KIND_NONE)
		return 0; /* a fixed scope ("global"): always there */
	return cf_store_ensure_scope(w, lay->scopes[st].kind,
				     scope + strlen(lay->scopes[st].dir) + 1);
}

int cf_sync_apply(struct cf_store *store, struct cf_feed_clock *clock,
		  const struct cf_change_sink *sink, const struct cf_feed_change *ch)
{
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1], path[CF_PATH_MAX];
	enum cf_kind kind;
	struct cf_wtxn *w;
	if (!store || !clock || !ch || ch->ignore || !ch->path || ch->update_us <= 0)
		return -EINVAL;
	if (cf_path_parse(ch->path, &kind, scope, sizeof scope, name, sizeof name))
		return -EINVAL;
	/* What the change says it is must be where it says it is. */
	if (!ch->deleted &&
	    (ch->res.kind != kind || !ch->res.scope || !ch->res.name ||
	     cf_resource_path(ch->res.kind, ch->res.scope, ch->res.name, path, sizeof path) < 0 ||
	     strcmp(path, ch->path)))
		return -EINVAL;
	int64_t known = cf_feed_clock_get(clock, ch->path);
	if (known && ch->update_us <= known)
		return 0;
	if (!known && ch->update_us < clock->baseline)
		return listed_since(store, kind, clock->baseline) ? 0 : -EAGAIN;
	int rc = cf_store_wbegin(store, &w);
	if (rc)
		return rc;
	if (ch->deleted) {
		rc = cf_store_remove(w, ch->path);
		if (rc == -ENOENT) { /* not in the cache: it agrees already */
			cf_store_wabort(w);
			rc = 0;
			goto done;
		}
	} else if (!(rc = ensure_scope(w, scope))) {
		rc = cf_store_upsert(w, &ch->res, NULL);
	}
	if (rc) {
		cf_store_wabort(w);
		return rc;
	}
	if ((rc = cf_store_wcommit(w, sink)))
		return rc;
done:
	if (cf_feed_clock_put(clock, ch->path, ch->update_us))
		cf_warn("feed: out of memory remembering the time of %s", ch->path);
	return 1;
}
