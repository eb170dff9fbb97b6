/* sync.h — keeps the LMDB cache true to the cloud.
 *
 * A background thread lists every collection (paginated, aggregated for
 * zonal kinds), upserts each page in one write transaction, and after a
 * complete listing removes what the listing no longer returned. A listing
 * that fails part-way removes nothing and records the error in the sync
 * state. Every change is reported to the change sink after commit. Between
 * full reconciliations a pass may be compact: the provider lists only what
 * tells a change and the sync fetches whole what changed (sync.c). */
#ifndef CLONEFS_SYNC_H
#define CLONEFS_SYNC_H

#include "provider.h"
#include "store.h"

#include <stdbool.h>

struct cf_sync;

struct cf_sync_config {
	struct cf_store *store;
	struct cf_provider *provider;
	struct cf_change_sink sink; /* may have NULL callbacks */
	unsigned interval;	    /* seconds between passes */
	/* seconds between full reconciliations: the passes between them are
	 * compact (what tells a change, whole resources only for what changed)
	 * when the provider can; 0 = every pass full */
	unsigned reconcile;
	/* ms after the first pass to the second (then `interval` between
	 * passes): this mount's phase, cf_sync_offset_ms; 0 = none */
	unsigned offset_ms;
	/* progress of a listing, for the first sync's display (may be NULL):
	 * listing, resources so far, and whether the listing completed */
	void (*progress)(void *ctx, enum cf_listing l, uint64_t done, bool complete);
	void *progress_ctx;
};

/* Start the sync thread; the first pass starts at once. */
int cf_sync_start(const struct cf_sync_config *cfg, struct cf_sync **out);
/* Run one full pass now, in the calling thread (tests, `sync` requests).
 * Returns 0 when every listing completed, else the first listing's error. */
int cf_sync_run_once(struct cf_sync *s);
/* Ask the thread for a pass as soon as possible (e.g. after a write). */
void cf_sync_kick(struct cf_sync *s);
/* Passes from now on every `seconds` (a change feed switches between its
 * long safety net and the mount's interval); now: start one at once. */
void cf_sync_set_interval(struct cf_sync *s, unsigned seconds, bool now);
/* Whether the API answered the most recent request. */
bool cf_sync_api_reachable(struct cf_sync *s);
/* The sync's decision on one compact item at `path` (sync.c, the compact
 * pass): true when the store's record shows the same (the provider's
 * `unchanged`), false when it must be fetched whole. For tests. */
bool cf_sync_compact_unchanged(struct cf_store *st, const struct cf_provider *p,
			       const struct cf_resource *item, const char *path);
/* The random phase in [0, interval) s, in ms: the wait after the first pass. */
unsigned cf_sync_offset_ms(unsigned interval);
/* Stop the thread (finishing or abandoning the current page) and free. */
void cf_sync_stop(struct cf_sync *s);

#endif
