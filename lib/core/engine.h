/* engine.h — every write the mount accepts, decided by the policy and
 * carried out through the provider, journaled so a crash never acts twice.
 *
 * The daemon calls these with the caller's identity and the inodes the
 * kernel named; the engine answers 0 or a negative errno and, for every
 * refusal, has already logged one line with the path and the reason
 * (cf_log_refusal: .clonefs/log and syslog). Nothing here knows FUSE.
 *
 *   mkdir   DISK/snapshots/NAME      a consistent snapshot of the disk
 *           INSTANCE/clones/NAME     a machine image of the instance
 *   rmdir   a snapshot, image or machine image: prune (through the grace
 *           period: labelled clonefs-delete-at and moved to the trash);
 *           inside .clonefs/trash: delete now. Always read fresh first: the
 *           id must be the one the mount showed (else ESTALE), and the
 *           policy is judged on the fresh record
 *   unlink  status / resource.json / source of a prunable resource: accepted,
 *           changes nothing (so `rm -r` reaches the rmdir, which decides)
 *   rename  .clonefs/trash/COLL/NAME -> COLL/NAME: restore
 *   labels  set / remove one label, with the fingerprint, retried on 412
 *
 * A background thread resumes unfinished clone jobs from the journal (after
 * a crash: on start), follows accepted clones to READY, restarts instances a
 * stop-mode clone stopped, and deletes trashed resources whose grace period
 * has passed — only those this mount labelled, each read fresh just before
 * (SEMANTICS.md, Pruning). */
#ifndef CLONEFS_ENGINE_H
#define CLONEFS_ENGINE_H

#include "journal.h"
#include "policy.h"
#include "provider.h"
#include "store.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct cf_engine_config {
	struct cf_store *store;
	struct cf_provider *provider;
	const struct cf_policy *policy;
	struct cf_journal *journal;
	struct cf_change_sink sink;  /* invalidations for store writes */
	bool wait_ready;	     /* mkdir returns only once the clone is READY */
	unsigned op_timeout_seconds; /* how long to follow one operation (default 600) */
	unsigned poll_ms;	     /* first poll interval of an operation (default 100) */
	const char *mountpoint;	     /* for the health command's CLONEFS_SOURCE */
	/* This mount's identity (CF_MOUNT_ID_LEN hex digits, from
	 * cf_engine_load_mount_id), written into every trash label; the reaper
	 * deletes only what carries it. Copied. */
	const char *mount_id;
};

/* struct cf_caller, who asks: policy.h */

struct cf_engine;

int cf_engine_new(const struct cf_engine_config *cfg, struct cf_engine **out);
/* Stop the background thread (unfinished jobs stay in the journal) and free. */
void cf_engine_free(struct cf_engine *e);

int cf_engine_mkdir(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
		    const char *name, struct cf_stat *out);
int cf_engine_rmdir(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
		    const char *name);
int cf_engine_unlink(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
		     const char *name);
int cf_engine_rename(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
		     const char *name, uint64_t newparent, const char *newname);

enum { CF_LABEL_CREATE = 1, CF_LABEL_REPLACE = 2 }; /* as XATTR_CREATE / _REPLACE */
/* Set label key (without "user.") of the resource shown by ino. */
int cf_engine_set_label(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			const char *key, const char *value, size_t len, int flags);
int cf_engine_remove_label(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			   const char *key);
/* The most bytes a label value may have for this mount's provider: the
 * filesystem refuses a longer one before asking. */
size_t cf_engine_label_bytes_max(struct cf_engine *e);

/* ---- the unfinished clone and restore jobs (.clonefs/jobs) ----
 * A clone job stays in the journal until it ended: its create followed to
 * its end and the instances it stopped running again; a restore job (ln -s,
 * restore.h) until its resource was made (and its after command ran). */

/* Cancel clone job id (`rm .clonefs/jobs/ID`; shown is that path, for the
 * log): recorded durably; the job's runner (or the background thread) gives
 * it up at its next step, starting the instances it may have stopped. A job
 * whose create was accepted, or that only restarts its instances, cannot be
 * cancelled, nor is a restore job: -EBUSY. -ENOENT when there is no such
 * job; -EACCES for a caller the policy does not let clone. */
int cf_engine_cancel_job(struct cf_engine *e, const struct cf_caller *c, uint64_t id,
			 const char *shown);

/* Every clone and restore job's id, in the order they were planned; fn
 * returns nonzero to stop. Needs only the journal (a read-only mount lists
 * them too). */
typedef int (*cf_jobs_fn)(void *ctx, uint64_t id);
int cf_jobs_each(struct cf_journal *j, cf_jobs_fn fn, void *ctx);
/* Job id as one line of JSON (malloc'd, ending in a newline): id, type
 * ("clone" or "restore"), source, target, step, age (seconds since it was
 * planned), created, consistency (a restore's: its copy's), stop (the
 * instances it stops; none for a restore), user, accepted, cancelled, error. */
int cf_jobs_describe(struct cf_journal *j, uint64_t id, char **line, size_t *len);

/* Run the background work once, now (tests): resume jobs, reap the trash. */
void cf_engine_tick(struct cf_engine *e);

/* This mount's identity: DIR/mount-id (DIR the mount's cache directory),
 * created with a random value on the first start and read on every later
 * one, so a restarted mount keeps reaping its own trash. -EINVAL (logged)
 * when the file holds anything else. */
int cf_engine_load_mount_id(const char *dir, char out[CF_MOUNT_ID_LEN + 1]);
const char *cf_engine_mount_id(struct cf_engine *e);

/* What the reaper's latest pass left in the trash and why: each resource's
 * path ("global/snapshots/S"), its clonefs-delete-at value, whether another
 * mount (or no clonefs) wrote it, and the reason. Returns how many passes
 * the reaper has completed. fn may be NULL. */
typedef void (*cf_held_fn)(void *ctx, const char *path, const char *value, bool not_ours,
			   const char *reason);
unsigned long cf_engine_foreach_held(struct cf_engine *e, cf_held_fn fn, void *ctx);

/* Counters for status and metrics. */
struct cf_engine_stats {
	unsigned long clones_started, clones_failed, prunes, refusals, jobs_pending;
	unsigned long restores, restores_old, restores_failed; /* old: a copy > 30 days old */
};
void cf_engine_get_stats(struct cf_engine *e, struct cf_engine_stats *out);
/* The deletion rate breaker: deletions in the last minute, and the most it allows. */
void cf_engine_breaker(struct cf_engine *e, unsigned *recent, unsigned *max);

#endif
