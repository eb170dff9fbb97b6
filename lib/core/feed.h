/* feed.h — a change feed: the cloud pushes each change of a resource, and the
 * cache takes it at once, instead of waiting for the next listing.
 *
 * A provider that can deliver changes (GCE: a Cloud Asset Inventory feed
 * read from a Pub/Sub subscription) gives a struct cf_feed_source; its
 * messages arrive decoded into the neutral struct cf_feed_change, and the
 * feed thread here applies them through cf_sync_apply, the one entry point
 * that knows how to order them. Delivery is at least once and in any order:
 *   - every change carries the time the cloud made it (update_us); the newest
 *     time applied to a path is kept (struct cf_feed_clock), and a change not
 *     newer than that is stale: acknowledged, never stored;
 *   - a change is acknowledged only after its transaction committed, so a
 *     crash before that gets it delivered again;
 *   - the full listing stays as the safety net, at a long interval while the
 *     feed works, at the mount's sync_interval while it does not (the
 *     subscription is gone, or the feed is behind).
 * Between the two writers: a feed change is a write-path change to the
 * store (no cf_store_wfetched), so a listing page read before it does not
 * undo it (store.h). */
#ifndef CLONEFS_FEED_H
#define CLONEFS_FEED_H

#include "provider.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_sync;

/* One change as the provider decoded it. */
struct cf_feed_change {
	char *ack_id;	    /* the provider's handle to acknowledge it (always set) */
	int64_t update_us;  /* when the cloud made the change, UTC microseconds */
	int64_t publish_us; /* when the cloud sent it (the lag), 0 = unknown */
	bool deleted;
	/* Not for this mount (another project, a kind the tree does not show,
	 * a document that does not decode): acknowledged and counted, never
	 * stored. The provider logged why. */
	bool ignore;
	char *path;		/* the resource's path (cf_resource_path), unless ignore */
	struct cf_resource res; /* the resource as it is now, unless deleted or ignore */
};

struct cf_feed_batch {
	struct cf_feed_change *items;
	size_t n;
};
void cf_feed_batch_clear(struct cf_feed_batch *b);

/* A provider's feed. Every call returns 0 or a negative errno with err
 * filled (provider.h). */
struct cf_feed_source;
struct cf_feed_source_ops {
	/* Up to max changes, waiting a bounded time (seconds) when there are none:
	 * 0 with out->n possibly 0. -ENOENT: the feed is gone (its subscription
	 * was deleted); -EACCES: not allowed to read it. */
	int (*pull)(struct cf_feed_source *f, size_t max, struct cf_feed_batch *out,
		    struct cf_error *err);
	/* These changes are stored: never deliver them again. */
	int (*ack)(struct cf_feed_source *f, const char *const *ack_ids, size_t n,
		   struct cf_error *err);
	/* Still working on these: do not deliver them again for `seconds`. */
	int (*extend)(struct cf_feed_source *f, const char *const *ack_ids, size_t n,
		      unsigned seconds, struct cf_error *err);
	/* Requests made and bytes received so far (status, the bench). */
	void (*traffic)(struct cf_feed_source *f, unsigned long *requests, unsigned long *bytes);
	void (*destroy)(struct cf_feed_source *f);
};
struct cf_feed_source {
	const struct cf_feed_source_ops *ops;
	const char *name; /* what it reads, for the log and status */
	void *impl;
};

/* ---- ordering: the newest change time applied, per path ---- */

struct cf_feed_clock;
struct cf_feed_clock *cf_feed_clock_new(void);
void cf_feed_clock_free(struct cf_feed_clock *c);
/* The time the feed started (UTC microseconds): a change made before it to a
 * path the clock does not know is stale once the listing of its kind has
 * completed since (that listing read it). */
void cf_feed_clock_baseline(struct cf_feed_clock *c, int64_t us);
/* The newest time applied to path, 0 when none. */
int64_t cf_feed_clock_get(const struct cf_feed_clock *c, const char *path);
int cf_feed_clock_put(struct cf_feed_clock *c, const char *path, int64_t us);

/* Apply one change to the store in its own transaction, the changes
 * reported to sink (may be NULL) after commit: 1 when stored (a deletion of
 * what the cache does not hold counts: the cache agrees), 0 when stale
 * (a change at or after its update time was applied already, or the
 * baseline's listing read it), -EAGAIN when it is older than the baseline
 * and that listing has not completed yet (deliver it again later), -EINVAL /
 * -ENAMETOOLONG when the store refuses it (nothing written), another
 * negative errno when the store failed (nothing written: deliver it again). */
int cf_sync_apply(struct cf_store *store, struct cf_feed_clock *clock,
		  const struct cf_change_sink *sink, const struct cf_feed_change *ch);

/* ---- the feed thread ---- */

struct cf_feed_config {
	struct cf_store *store;
	struct cf_feed_source *source; /* owned by the caller */
	struct cf_sync *sync;	       /* the safety net, its interval switched here */
	struct cf_change_sink sink;
	unsigned full_interval; /* seconds between full listings while the feed works */
	unsigned poll_interval; /* seconds between full listings when it does not */
	unsigned behind_s;	/* a lag above this is "behind": poll until it recovers
				 * (0 = 300 s) */
};

struct cf_feed_stats {
	uint64_t messages, applied, stale, ignored, errors;
	uint64_t acked;		  /* changes acknowledged (acknowledge calls that answered) */
	uint64_t ack_failures;	  /* acknowledge calls that failed (their changes come again) */
	uint64_t extends;	  /* hold extensions that answered (one per call) */
	uint64_t extend_failures; /* hold extensions that failed */
	uint64_t pulls, pull_failures;
	int64_t lag_ms;	   /* now - publish time of the newest pull's oldest message */
	int64_t last_pull; /* UTC seconds of the last pull that answered, 0 = none */
	unsigned long requests, bytes;
	const char *state;    /* "starting", "ok", "behind", "gone", "failing" */
	bool polling;	      /* the full listing runs at poll_interval now */
	char last_error[256]; /* "" when none */
};

struct cf_feed;
int cf_feed_start(const struct cf_feed_config *cfg, struct cf_feed **out);
void cf_feed_get_stats(struct cf_feed *f, struct cf_feed_stats *out);
/* Stop the thread (after the pull in flight returns) and free. */
void cf_feed_stop(struct cf_feed *f);

#endif
