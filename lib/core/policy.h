/* policy.h — the policy file and every allow / refuse decision it drives.
 *
 * Each decision returns 0 (allowed) or the negative errno of SEMANTICS.md's
 * table, and writes a one-line reason an operator can act on into `why`.
 * The daemon logs the reason with the refusal; nothing here logs itself.
 *
 * The file is JSON; an unknown key or a wrong type is an error at load time
 * that names the key ("clone.max_depth: expected an integer >= 0"). */
#ifndef CLONEFS_POLICY_H
#define CLONEFS_POLICY_H

#include "model.h"
#include "provider.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum cf_consistency { CF_CONS_CRASH = 0, CF_CONS_FLUSH, CF_CONS_STOP };

/* Who may do something: uids and gids (primary or supplementary). A list that
 * is not set (absent or null) is no list; with neither set the section
 * defers (see cf_policy_may). */
struct cf_allow {
	bool uids_set, gids_set;
	uid_t *uids;
	size_t n_uids;
	gid_t *gids;
	size_t n_gids;
};

/* The caller of a write, as the kernel names it. */
struct cf_caller {
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups */
	size_t ngroups;
	const char *user; /* login name, for clonefs-created-by */
	bool mounter;	  /* uid is the one that mounted (the daemon's) */
};

/* The three rights a caller may hold. CLONE: mkdir in snapshots/ or clones/.
 * PRUNE: rmdir, a restore from the trash, and changing the labels the policy
 * reads. LABEL: changing any other label. */
enum cf_right { CF_RIGHT_CLONE, CF_RIGHT_PRUNE, CF_RIGHT_LABEL, CF_RIGHT_RESTORE };
/* RESTORE: ln -s into a collection, a disk or instance from a copy; its
 * lists are restore.allow_*, and when it sets neither, clone's. */

struct cf_policy {
	struct {
		enum cf_consistency consistency;
		bool require_healthy;
		char **health_command; /* argv, NULL-terminated; NULL = none */
		unsigned health_timeout_seconds;
		/* Flush mode through the source's own tools (argv, NULL = none):
		 * flush_command before the create, thaw_command after the API
		 * accepted it (or refused it), run like the health command. */
		char **flush_command;
		char **thaw_command;
		struct cf_allow allow; /* allow_uids / allow_gids: the clone right */
		bool sources_set;
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
		struct cf_allow allow; /* the prune right; unset: clone's */
	} prune;
	struct {
		char **required;
		size_t n_required;
		struct cf_allow allow; /* the label right; unset: prune's */
	} labels;
	struct {
		char *group_by; /* the label key .clonefs/report groups spend by ("owner") */
	} report;
	/* ln -s: a disk or instance from a copy (policy_restore.c). */
	struct {
		struct cf_allow allow;	  /* the restore right; unset: clone's */
		unsigned max_age_seconds; /* an older source needs approve_label; 0: any age */
		char *approve_label;	  /* default clonefs-restore-approved (prune right) */
		bool consistency_set;	  /* require_consistency given (not null) */
		enum cf_consistency require_consistency;
		bool replicated_set;
		struct cf_label *replicated_selector; /* all must match: a replicated source */
		size_t n_replicated_selector;
		char **after_command; /* argv, NULL-terminated; NULL = none */
		unsigned after_timeout_seconds;
	} restore;
};

/* The defaults of the README's policy section. */
int cf_policy_defaults(struct cf_policy **out);
/* The rule the policy's label keys and values are checked with (protect_label,
 * allow_sources, clone.labels, inherit_labels, labels.required): the mount's
 * provider kind's (registry.h's text_valid), known before any provider is
 * built, so a label the cloud would refuse stops the start rather than every
 * clone. NULL: cf_text_valid_default (provider.h). */
typedef bool (*cf_policy_text_rule)(enum cf_text what, const char *s, size_t len,
				    const char **rule);

/* Load a policy file: keys not given keep their defaults. -EINVAL (with the
 * key and the problem in err), -ENOENT, -EACCES... */
int cf_policy_load(const char *path, cf_policy_text_rule text, struct cf_policy **out, char *err,
		   size_t errsize);
/* Parse from a string (the loader and the unit tests). */
int cf_policy_parse(const char *json, cf_policy_text_rule text, struct cf_policy **out, char *err,
		    size_t errsize);
void cf_policy_free(struct cf_policy *p);
/* The effective policy as pretty JSON (malloc'd), for .clonefs/policy. */
char *cf_policy_to_json(const struct cf_policy *p);

const char *cf_consistency_name(enum cf_consistency c);
int cf_consistency_from_name(const char *s, enum cf_consistency *out);

/* ---- who may do what ---- */

/* Does caller c hold right r? The lists of the right's own section decide
 * (clone.allow_*, prune.allow_*, labels.allow_*); a section that sets
 * neither list takes the one before it (labels -> prune -> clone). When no
 * section sets one, only the mounting user and root hold the right: what
 * the kernel's modes allowed before the policy said anything. Root is
 * decided by the lists like everyone else once a list is set. -EACCES, with
 * the uid, its groups and the rule in why. */
int cf_policy_may(const struct cf_policy *p, enum cf_right r, const struct cf_caller *c, char *why,
		  size_t whysize);
/* The right changing label key takes: PRUNE for the labels the policy reads
 * (prune.protect_label, clone-consistency, the keys of clone.allow_sources,
 * every clonefs-* label), LABEL for the rest. */
enum cf_right cf_policy_label_right(const struct cf_policy *p, const char *key);
const char *cf_right_name(enum cf_right r);

/* ---- clone decisions ---- */
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
/* Add or replace label k=v in the growing array *l of *n: 0, -ENOMEM, or -ENOSPC
 * past CF_LABELS_MAX. */
int cf_labels_put(struct cf_label **l, size_t *n, const char *k, const char *v);
/* The labels every new resource is given before its provenance (a clone's, a
 * restore's): the source's inherit_labels, then the policy's fixed labels, added
 * to *l / *n with cf_labels_put. */
int cf_policy_given_labels(const struct cf_policy *p, const struct cf_resource *src,
			   struct cf_label **l, size_t *n);

/* ---- prune decisions ---- */

/* May `r` be pruned now? Refused (-EPERM) when it carries the protect label,
 * is younger than min_age_seconds, or is one of the newest keep_last READY
 * resources of its source: `newer_siblings` is how many READY resources of
 * the same source (not in the trash) are newer than r, `siblings` how many
 * READY ones there are in all (r included). `ready` is whether r itself is
 * READY, as the caller read the provider's status word (cf_provider_state:
 * READY, or no status at all); one that is not (CREATING, FAILED, ...) is
 * none of the kept ones, so keep_last does not hold it. */
int cf_policy_may_prune(const struct cf_policy *p, const struct cf_resource *r, bool ready,
			int64_t now, size_t newer_siblings, size_t siblings, char *why,
			size_t whysize);

/* The deletion rate breaker: at most max_per_minute deletions in any
 * 60-second window. cf_breaker_take records one and returns 0, or -EAGAIN
 * without recording when the window is full. A slot is taken just before a
 * delete (or trash label) request is sent, so concurrent prunes cannot
 * overshoot; cf_breaker_refund gives back the slot taken at taken_ms when
 * the request turned out not to be sent or was refused outright (nothing
 * happened in the cloud). Thread-safe. */
struct cf_breaker;
struct cf_breaker *cf_breaker_new(unsigned max_per_minute);
int cf_breaker_take(struct cf_breaker *b, int64_t now_ms);
void cf_breaker_refund(struct cf_breaker *b, int64_t taken_ms);
/* How many deletions the last 60 seconds hold (the breaker is open at max_per_minute). */
unsigned cf_breaker_recent(struct cf_breaker *b, int64_t now_ms);
void cf_breaker_free(struct cf_breaker *b);

/* ---- the trash label ----
 *
 * rmdir through the grace period labels a resource clonefs-delete-at with
 * "EPOCH-MOUNTID-ID": the UTC second after which the grace period is over,
 * the identity of the mount that labelled it (CF_MOUNT_ID_LEN lowercase hex
 * digits, random, kept in the mount's cache directory), and the id of the
 * resource it labelled. A reaper deletes only what its own mount labelled,
 * and only while the id still matches (SEMANTICS.md, Pruning). */
enum { CF_MOUNT_ID_LEN = 16 };
bool cf_mount_id_valid(const char *s);
/* Format the value into buf (at least CF_LABEL_VALUE_MAX + 1 bytes). -EINVAL
 * when the mount id is not valid, at is negative, or the resource id is not
 * 1.. characters of [a-z0-9_-] (no leading, trailing or doubled '-') fitting
 * the 63 characters of a label value. The id is the rest of the value after
 * the fixed-width mount id, so an id holding '-' (EC2's snap-HEX) parses back
 * exactly. */
int cf_trash_value_format(int64_t at, const char *mount_id, const char *rid, char *buf,
			  size_t size);
/* Parse a value written by cf_trash_value_format (any mount's). -EINVAL for
 * anything else: a bare epoch (older clonefs), a hand-set or malformed value. */
int cf_trash_value_parse(const char *v, int64_t *at, char mount_id[CF_MOUNT_ID_LEN + 1], char *rid,
			 size_t rid_size);

/* ---- restore decisions (policy_restore.c) ---- */

/* The label a restored resource carries while its resync is not confirmed. */
#define CF_RESYNC_LABEL "clonefs-resync"

/* The source's age (now - created) is within restore.max_age_seconds, or it
 * carries restore.approve_label. -EPERM with its age and the rule in why. */
int cf_policy_restore_age(const struct cf_policy *p, const struct cf_resource *src, int64_t now,
			  char *why, size_t whysize);
/* The source was made with restore.require_consistency or a stronger mode
 * (its clonefs-consistency label). -EPERM */
int cf_policy_restore_consistency(const struct cf_policy *p, const struct cf_resource *src,
				  char *why, size_t whysize);
/* The source's labels match restore.replicated_selector (all of them). */
bool cf_policy_restore_replicated(const struct cf_policy *p, const struct cf_resource *src);
/* The labels a restored resource carries: the source's labels named in
 * clone.inherit_labels, clone.labels, then clonefs-restored-from (the
 * source's name and id), clonefs-restored-at, clonefs-source-created, the
 * source's clonefs-consistency, clonefs-depth, clonefs-created-by, and
 * clonefs-resync=required when replicated. -ENOSPC beyond 64 labels. */
int cf_policy_restore_labels(const struct cf_policy *p, const struct cf_resource *src,
			     unsigned depth, bool replicated, const char *user, int64_t now,
			     struct cf_label **out, size_t *n, char *why, size_t whysize);

/* Labels the policy requires that r lacks, comma-separated into buf; 0 when
 * none is missing, else the number missing. */
int cf_policy_missing_labels(const struct cf_policy *p, const struct cf_resource *r, char *buf,
			     size_t size);

#endif
