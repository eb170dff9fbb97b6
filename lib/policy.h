/* policy.h — the policy file and every allow / refuse decision it drives.
 *
 * Each decision returns 0 (allowed) or the negative errno of DESIGN.md's
 * table, and writes a one-line reason an operator can act on into `why`.
 * The daemon logs the reason with the refusal; nothing here logs itself.
 *
 * The file is JSON; an unknown key or a wrong type is an error at load time
 * that names the key ("clone.max_depth: expected an integer >= 0"). */
#ifndef CLONEFS_POLICY_H
#define CLONEFS_POLICY_H

#include "model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum cf_consistency { CF_CONS_CRASH = 0, CF_CONS_FLUSH, CF_CONS_STOP };

struct cf_policy {
	struct {
		enum cf_consistency consistency;
		bool require_healthy;
		char **health_command; /* argv, NULL-terminated; NULL = none */
		unsigned health_timeout_seconds;
		bool uids_set, gids_set, sources_set;
		uid_t *allow_uids;
		size_t n_allow_uids;
		gid_t *allow_gids;
		size_t n_allow_gids;
		struct cf_label *allow_sources; /* label selector: all must match */
		size_t n_allow_sources;
		unsigned max_depth;
		unsigned max_per_source;
		char **inherit_labels;
		size_t n_inherit_labels;
		struct cf_label *labels; /* fixed labels every clone gets */
		size_t n_labels;
		/* A clone job resumed from the journal that never got past its
		 * first cloud step is given up once this old (its "created"). */
		unsigned job_max_age_seconds;
	} clone;
	struct {
		unsigned grace_seconds;
		char *protect_label;
		unsigned min_age_seconds;
		unsigned keep_last;
		unsigned max_per_minute;
	} prune;
	struct {
		char **required;
		size_t n_required;
	} labels;
};

/* The defaults of DESIGN.md / the README. */
int cf_policy_defaults(struct cf_policy **out);
/* Load a policy file: keys not given keep their defaults. -EINVAL (with the
 * key and the problem in err), -ENOENT, -EACCES... */
int cf_policy_load(const char *path, struct cf_policy **out, char *err, size_t errsize);
/* Parse from a string (the loader and the unit tests). */
int cf_policy_parse(const char *json, struct cf_policy **out, char *err, size_t errsize);
void cf_policy_free(struct cf_policy *p);
/* The effective policy as pretty JSON (malloc'd), for .clonefs/policy. */
char *cf_policy_to_json(const struct cf_policy *p);

const char *cf_consistency_name(enum cf_consistency c);
int cf_consistency_from_name(const char *s, enum cf_consistency *out);

/* ---- clone decisions ---- */

/* The caller's uid / gid (and supplementary groups) are allowed. -EACCES */
int cf_policy_may_clone_caller(const struct cf_policy *p, uid_t uid, gid_t gid, const gid_t *groups,
			       size_t ngroups, char *why, size_t whysize);
/* The source's labels satisfy allow_sources. -EPERM */
int cf_policy_may_clone_source(const struct cf_policy *p, const struct cf_resource *src, char *why,
			       size_t whysize);
/* The consistency for this source: its `clone-consistency` label, else the
 * policy's. -EINVAL when the label holds something else. */
int cf_policy_consistency(const struct cf_policy *p, const struct cf_resource *src,
			  enum cf_consistency *out, char *why, size_t whysize);
/* A clone at depth `depth` (source depth + 1) is within max_depth. -EMLINK */
int cf_policy_check_depth(const struct cf_policy *p, unsigned depth, char *why, size_t whysize);
/* The source has `existing` clones; one more is allowed. -EDQUOT */
int cf_policy_check_quota(const struct cf_policy *p, size_t existing, char *why, size_t whysize);

/* The labels a new clone carries, set atomically in the create call: the
 * source's labels named in inherit_labels, the policy's fixed labels, then
 * the provenance labels clonefs-source, clonefs-depth, clonefs-consistency,
 * clonefs-created-by, clonefs-created (UTC), each value mapped into the
 * provider's alphabet. -ENOSPC beyond 64 labels. */
int cf_policy_clone_labels(const struct cf_policy *p, const struct cf_resource *src,
			   const char *src_path, enum cf_consistency c, unsigned depth,
			   const char *user, int64_t now, struct cf_label **out, size_t *n,
			   char *why, size_t whysize);
void cf_labels_free(struct cf_label *l, size_t n);

/* ---- prune decisions ---- */

/* May `r` be pruned now? Refused (-EPERM) when it carries the protect label,
 * is younger than min_age_seconds, or is one of the newest keep_last of its
 * source: `newer_siblings` is how many resources of the same source are
 * newer than r, `siblings` how many there are in all (r included). */
int cf_policy_may_prune(const struct cf_policy *p, const struct cf_resource *r, int64_t now,
			size_t newer_siblings, size_t siblings, char *why, size_t whysize);

/* The deletion rate breaker: at most max_per_minute deletions in any
 * 60-second window. cf_breaker_take records one and returns 0, or -EAGAIN
 * without recording when the window is full. Thread-safe. */
struct cf_breaker;
struct cf_breaker *cf_breaker_new(unsigned max_per_minute);
int cf_breaker_take(struct cf_breaker *b, int64_t now_ms);
void cf_breaker_free(struct cf_breaker *b);

/* Labels the policy requires that r lacks, comma-separated into buf; 0 when
 * none is missing, else the number missing. */
int cf_policy_missing_labels(const struct cf_policy *p, const struct cf_resource *r, char *buf,
			     size_t size);

#endif
