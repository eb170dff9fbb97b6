/* report.h — the figures of .clonefs/report.html and .clonefs/report.json, computed from one
 * pass over the store: ages, spend, what the policy's prune rules would allow now (a dry run:
 * nothing here acts), lineage against max_depth and max_per_source, the resources missing a
 * required label, and the store's side of the mount's health (listings, trash).
 *
 * Everything is aggregated: at 100,000 snapshots the figures are a few hundred rows. Lists of
 * paths stop at CF_REPORT_LIST_MAX entries and say how many more there are. The renderers
 * (the daemon's, fs/report_*.c) read the struct and never the store, so the HTML and the JSON
 * show the same numbers. Every string in it came from the API or a label: escape it. */
#ifndef CLONEFS_REPORT_H
#define CLONEFS_REPORT_H

#include "model.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_policy;
struct cf_provider;

enum {
	CF_REPORT_LIST_MAX = 20, /* paths or rows per list, then "and K more" */
	CF_REPORT_AGES = 4,	 /* days (< 1 week), weeks (< 30 days), months (< 1 year), older */
	CF_REPORT_DEPTHS = 8,	 /* lineage depths 0..6, then 7 and deeper */
	CF_REPORT_OWNERS = 8,	 /* owners stacked in the age histogram, then "other owners" */
	CF_REPORT_LINES = 4,	 /* the policy's ages drawn on it */
};

/* The upper bounds of the age buckets, in seconds (the last is open). */
extern const int64_t cf_report_age_bounds[CF_REPORT_AGES - 1];
/* "days", "weeks", "months", "older" */
extern const char *const cf_report_age_names[CF_REPORT_AGES];

/* One row of a tally: a label value or a source path (NULL: resources without one). */
struct cf_report_row {
	const char *name;
	uint64_t count, stored;
	uint64_t age[CF_REPORT_AGES];
};

/* The first rows of a tally, largest first; `more` rows more, whose sums are in rest. */
struct cf_report_list {
	struct cf_report_row *rows;
	size_t n;
	uint64_t more;
	struct cf_report_row rest;
};

/* Would be pruned, per source (NULL: copies without a source): copies outside the trash,
 * how many the policy would let an rmdir take now and their stored bytes, and why the rest
 * are kept (the first rule that holds each, in the policy's order). */
struct cf_report_prune {
	const char *source;
	uint64_t copies, prunable, bytes;
	uint64_t protect, young, keep_last, busy;
};

/* One line of the lineage tree, in pre-order: level 0 is a source (an original, or a copy
 * whose own source is gone), level n+1 what was made from a level-n line. `more` > 0 makes
 * it an "and K more" line under the previous level-1 parent instead. */
struct cf_report_tree {
	const char *path;
	enum cf_kind kind;
	unsigned level, depth;
	uint64_t clones;      /* copies made from it, outside the trash (max_per_source) */
	uint64_t descendants; /* everything below it */
	bool at_quota;	      /* clones of one kind >= max_per_source: the next mkdir is EDQUOT */
	bool over_depth;      /* depth > max_depth (made before the policy said so) */
	uint64_t more;
};

/* A path with what the section says of it: the missing labels (Unlabeled), the
 * clonefs-delete-at time (trash: 0 when the value is not one clonefs wrote). */
struct cf_report_path {
	const char *path;
	enum cf_kind kind;
	const char *detail; /* missing labels, or the trash label's value */
	int64_t at;
	uint64_t stored;
	bool ours; /* trash: this mount labelled it */
};

struct cf_report {
	int64_t now;
	/* the policy the figures were computed with */
	const char *group_by, *protect_label;
	unsigned max_depth, max_per_source, min_age_seconds, keep_last, grace_seconds;
	char **required;
	size_t n_required;

	uint64_t resources, count[CF_KIND__COUNT], stored[CF_KIND__COUNT], total_stored;

	/* Age: snapshots, images and machine images outside the trash, stacked by owner, and
	 * the policy's ages drawn as lines (prune.min_age_seconds and
	 * restore.max_age_seconds, when set). */
	struct cf_report_list age;
	uint64_t age_total[CF_REPORT_AGES], aged;
	struct cf_report_line {
		const char *key;  /* "prune.min_age_seconds" */
		const char *what; /* "nothing younger is pruned" */
		int64_t seconds;
	} lines[CF_REPORT_LINES];
	size_t nlines;

	/* Spend: stored bytes of every resource, the trash's included (still billed). Every
	 * stored figure here is as du counts it: in 512-byte blocks, rounded up. */
	struct cf_report_list by_owner, by_group, by_source;

	/* Would be pruned. */
	struct cf_report_prune *prune;
	size_t nprune;
	uint64_t prune_more;
	struct cf_report_prune prune_total;

	/* Lineage. */
	struct cf_report_tree *tree;
	size_t ntree;
	uint64_t roots, roots_more, depth_count[CF_REPORT_DEPTHS], over_depth, at_quota;
	unsigned deepest;

	/* Unlabeled (outside the trash), by kind. */
	uint64_t unlabeled[CF_KIND__COUNT], unlabeled_total;
	struct cf_report_path *unl;
	size_t nunl;
	uint64_t unl_more;

	/* Health: the listings and the trash. */
	struct cf_sync_state sync[CF_LIST__COUNT];
	int sync_rc[CF_LIST__COUNT];	  /* 0, -ENOENT never listed, or the read's error */
	int64_t newest_sync, oldest_sync; /* last complete listings (0: some never completed) */
	struct cf_report_path *trash;
	size_t ntrash;
	uint64_t trash_count, trash_stored, trash_more;

	struct cf_report_priv *priv; /* the strings the pointers above point into */
};

struct cf_report_config {
	struct cf_store *store;
	const struct cf_policy *policy;
	const struct cf_provider *provider; /* reads a status word (may be NULL) */
	const char *mount_id;		    /* this mount's, to tell its trash (may be NULL) */
	int64_t now;			    /* UTC seconds */
};

/* Compute the figures. 0, -ENOMEM, or the store's error. */
int cf_report_build(const struct cf_report_config *cfg, struct cf_report **out);
void cf_report_free(struct cf_report *r);

#endif
