/* restore.h — ln -s into a collection: a disk from a snapshot or an image,
 * an instance from a machine image, with the checks of the policy's restore
 * section (SEMANTICS.md, Restore). The job lives in restore.c; it is
 * journaled, and resumed after a crash, like a clone. */
#ifndef CLONEFS_RESTORE_H
#define CLONEFS_RESTORE_H

#include "engine.h"

#include <stddef.h>
#include <stdint.h>

/* The project-relative path a symlink's target names: link (as the caller
 * wrote it) relative to the directory dir (project-relative, "" the root),
 * or absolute inside the mount at mountpoint. A clone shown under its
 * source (zones/Z/disks/D/snapshots/S) names its own path
 * (global/snapshots/S). -EINVAL, with the reason in why, for anything that
 * is not a resource path of the mount. */
int cf_restore_resolve(const char *mountpoint, const char *dir, const char *link, char *out,
		       size_t size, char *why, size_t whysize);

/* symlink(link, parent/name): restore. 0 once the API accepted it (with
 * wait_ready, once it is READY or RUNNING); the new resource's directory is
 * in the store then. Refusals are logged with their reason: EINVAL (not a
 * copy of this mount, or a collection where that kind cannot be made, a bad
 * name), EEXIST, EACCES (restore.allow_*), EPERM (age, consistency, a source
 * in the trash), ESTALE (the source was re-created since the mount showed
 * it), ENOENT (gone), EMLINK / EDQUOT (depth, quota), EAGAIN. */
int cf_engine_symlink(struct cf_engine *e, const struct cf_caller *c, const char *link,
		      uint64_t parent, const char *name);

#endif
