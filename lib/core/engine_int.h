/* engine_int.h — what the engine's parts share: the services engine.c
 * offers the jobs that live in files of their own (restore.c), so that a
 * new job does not grow engine.c. Not for use outside lib/core. */
#ifndef CLONEFS_ENGINE_INT_H
#define CLONEFS_ENGINE_INT_H

#include "engine.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

const struct cf_engine_config *cf_eng_cfg(struct cf_engine *e);
/* The provider behind the retrying decorator (retry_provider.h). */
struct cf_provider *cf_eng_api(struct cf_engine *e);
/* Log a refusal for path, count it, return -err. */
int cf_eng_refuse(struct cf_engine *e, const char *path, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Follow op to its end (engine.c's follow). */
int cf_eng_follow(struct cf_engine *e, struct cf_operation *op, const char *path, const char *what);
int cf_eng_store_put(struct cf_engine *e, const struct cf_resource *r);
/* Fetch path from the API into *out (may be NULL) and the store. */
int cf_eng_refresh(struct cf_engine *e, const char *path, struct cf_resource *out);
/* The resource at a project path, from the store (its trash entry too). */
int cf_eng_stored(struct cf_engine *e, const char *path, struct cf_resource *out);
/* Clone depth of r (engine.c's depth_of). */
unsigned cf_eng_depth(struct cf_engine *e, const struct cf_resource *r);
/* How many resources not in the trash were made from path (its snapshots,
 * images, disks, instances); the first one's path into first. */
size_t cf_eng_descendants(struct cf_engine *e, const char *path, char *first, size_t size);
enum cf_state cf_eng_state(struct cf_engine *e, const struct cf_resource *r);
void cf_eng_job_set_op(json_t *job, const char *key, const struct cf_operation *op);
bool cf_eng_job_get_op(json_t *job, const char *key, struct cf_operation *op);
void cf_eng_job_fail(json_t *job, int rc, const char *msg);
/* Journal job and claim it for this thread (before the background thread
 * can see it): 0 and *id, or -EAGAIN (logged) when too many are in flight
 * or the journal cannot be written. */
int cf_eng_plan(struct cf_engine *e, json_t *job, const char *shown, uint64_t *id);
void cf_eng_release(struct cf_engine *e, uint64_t id);
/* Wake the background thread; tell the sync. */
void cf_eng_kick(struct cf_engine *e);
/* Count a restore planned (old: from a copy older than 30 days), or failed. */
void cf_eng_count_restore(struct cf_engine *e, bool planned, bool old, bool failed);
/* The label rules of engine.c for a write to resource ino by c: who may
 * change key (-EACCES, logged), and the resource's path, id and shown path. */
int cf_eng_label_target(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			const char *key, char *path, size_t psize, char *want_id, size_t isize,
			char *shown, size_t ssize);

/* ---- restore.c ---- */
/* Where restore job `job` makes its resource (for .clonefs/jobs). */
void cf_restore_job_target(json_t *job, char *buf, size_t size);
/* Run restore job id from its recorded step (resumed: the background
 * thread's first round of it); see restore.c. */
int cf_restore_run_job(struct cf_engine *e, uint64_t id, json_t *job, bool until_accepted,
		       bool resumed);
/* setfattr -x user.clonefs-resync on the resource ino: the resync is
 * confirmed (restore.c). */
int cf_restore_confirm_resync(struct cf_engine *e, const struct cf_caller *c, uint64_t ino);

#endif
