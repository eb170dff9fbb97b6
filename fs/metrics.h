/* metrics.h — what the daemon counts about itself, for the operator:
 *
 *   - a decorator around the provider that times each listing and counts every failed call
 *     by call, HTTP status and the API's reason (the sshfs cache_wrap() shape: one layer,
 *     one job; nothing in lib/ changes);
 *   - the sync's progress (its callback), shown on stderr during the first pass in the
 *     foreground and in .clonefs/status while a listing runs;
 *   - the text of .clonefs/metrics (Prometheus text exposition format 0.0.4) and of
 *     .clonefs/unlabeled, each computed from one pass over the store when opened.
 *
 * One mount per process: the state is process-wide. Every call is thread-safe. */
#ifndef CLONEFS_FS_METRICS_H
#define CLONEFS_FS_METRICS_H

#include "fs.h"
#include "model.h"

#include <stdbool.h>
#include <stdint.h>

struct cf_provider;

/* Set up the counters. foreground: print the first pass's progress on stderr. The store's
 * sync state gives the previous complete counts, the estimates of that display. */
void cf_metrics_init(struct cf_store *store, bool foreground);

/* Replace *p by a provider that forwards every call to it, counting as it goes. The wrapper
 * owns the original: its destroy destroys both. Returns 0 or -ENOMEM (*p unchanged). */
int cf_metrics_wrap_provider(struct cf_provider **p);

/* The sync's progress callback (struct cf_sync_config.progress), forwarded by main.c. */
void cf_metrics_sync_progress(enum cf_listing l, uint64_t done, bool complete);

/* The listing running now, for .clonefs/status. */
struct cf_progress {
	bool active; /* a listing is running */
	enum cf_listing listing;
	uint64_t done;	   /* resources listed so far */
	uint64_t estimate; /* the previous complete count, 0 = unknown */
	unsigned pass;	   /* passes started by this daemon, 1 = the first */
};
void cf_metrics_get_progress(struct cf_progress *out);

/* .clonefs/metrics and .clonefs/unlabeled, in malloc'd buffers. */
int cf_metrics_text(struct cf_fs *fs, char **data, size_t *len);
int cf_metrics_unlabeled(struct cf_fs *fs, char **data, size_t *len);

#endif
