/* journal.h — the operation journal: every step of a clone or prune is
 * written here, durably, before it is sent to the cloud.
 *
 * It is an LMDB environment of its own (DIR/journal/), apart from the
 * resource cache, because the two want opposite durability: the cache can
 * always be rebuilt from the API and is written without fsync, while a
 * journal entry must be on disk before the request it describes leaves,
 * so that a daemon killed at any moment resumes with the same request ids
 * and never acts twice.
 *
 * A job is a JSON object (its shape is the engine's business); the journal
 * stores it under a 64-bit id in insertion order. Thread-safe. */
#ifndef CLONEFS_JOURNAL_H
#define CLONEFS_JOURNAL_H

#include <jansson.h>
#include <stdint.h>

struct cf_journal;

/* Open (creating) DIR/journal. A journal that cannot be read is moved aside
 * with a log line (its jobs are then lost: said loudly, never misread). */
int cf_journal_open(const char *dir, struct cf_journal **out);
void cf_journal_close(struct cf_journal *j);

/* Store a new job durably; *id receives its id. */
int cf_journal_add(struct cf_journal *j, json_t *job, uint64_t *id);
/* Replace job id durably. -ENOENT when it is gone.
 *
 * A job's "marks" member (an object) holds what another thread recorded on
 * the job while its runner held an older copy (a cancel): a put never drops
 * a mark. Marks in the stored job that `job` lacks are kept, and copied into
 * `job` too, so its runner sees them after its next put. */
int cf_journal_put(struct cf_journal *j, uint64_t id, json_t *job);
/* Read-modify-write job id in one transaction: fn gets the stored job and
 * may change it; it returns 0 to store it, > 0 to leave it as it was, or a
 * negative errno (returned). -ENOENT when the job is gone. */
typedef int (*cf_job_update_fn)(void *ctx, json_t *job);
int cf_journal_update(struct cf_journal *j, uint64_t id, cf_job_update_fn fn, void *ctx);
/* A copy of job id (caller decrefs). */
int cf_journal_get(struct cf_journal *j, uint64_t id, json_t **job);
/* Forget job id (it finished). */
int cf_journal_del(struct cf_journal *j, uint64_t id);

/* Every job in id order; fn gets a borrowed object and returns nonzero to
 * stop. Jobs that do not parse are reported with a log line and skipped. */
typedef int (*cf_job_fn)(void *ctx, uint64_t id, json_t *job);
int cf_journal_foreach(struct cf_journal *j, cf_job_fn fn, void *ctx);

#endif
