/* fs.h — state the daemon's parts share: the open store and sync, the FUSE session, the
 * options, and the calls read_ops.c makes into control.c for the .clonefs/ directory.
 *
 * One struct cf_fs per mount, set up by main.c and handed to every FUSE callback as the
 * session's userdata. Nothing in it changes after the session loop starts, except `stopping`. */
#ifndef CLONEFS_FS_H
#define CLONEFS_FS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "store.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#ifndef CLONEFS_VERSION
#define CLONEFS_VERSION "unknown"
#endif

struct cf_options;
struct cf_sync;
struct cf_feed;
struct cf_feed_source;
struct cf_http;
struct cf_provider;
struct cf_engine;
struct cf_journal;
struct cf_policy;

struct cf_fs {
	const struct cf_options *opt;
	struct cf_store *store;
	struct cf_sync *sync; /* NULL until the sync thread started */
	struct cf_http *http;
	struct cf_provider *provider;
	struct cf_policy *policy;
	struct cf_journal *journal;
	struct cf_engine *engine; /* NULL on a read-only mount */
	struct fuse_session *se;
	uid_t uid;	    /* the owner stat shows: -o uid=, else the mounting user */
	gid_t gid;	    /* -o gid=, else the mounting user's group */
	mode_t umask;	    /* -o umask=: cleared from the modes stat shows (022) */
	uid_t mounter;	    /* the daemon's uid: with no allow lists, it and root may write */
	bool read_only;	    /* -o ro: no write bits, writes are EROFS */
	double timeout;	    /* kernel entry / attribute cache, seconds */
	double neg_timeout; /* how long the kernel may remember a missing name */
	time_t mounted_at;
	atomic_bool stopping; /* set when the session loop ended: no more notifications */
	atomic_bool listed;   /* a listing completed since this daemon started */

	/* The provider's change feed (feed.h), NULL when none; its thread. */
	struct cf_feed_source *feed_src;
	struct cf_feed *feed;
};

/* ---- fs/read_ops.c ---- */
extern const struct fuse_lowlevel_ops cf_read_ops;

/* A node's path in the mount for log lines ("ino N" when the cache cannot say). */
const char *cf_fs_node_name(const struct cf_fs *fs, char *buf, size_t size, uint64_t ino,
			    const char *name);

/* Fill a reply entry for a node (read_ops.c: timeouts, ownership, write bits). */
void cf_fs_fill_entry(const struct cf_fs *fs, const struct cf_stat *cs, struct fuse_entry_param *e);

/* ---- fs/write_ops.c: writes, answered by the engine ---- */
/* access(2) of W_OK on node ino (attributes cs) for the caller of req: 0, -EACCES when the
 * policy refuses the write that node takes (a clone in snapshots/ or clones/, a prune or
 * restore in a collection or the trash, a label on a resource), -EROFS on a read-only mount. */
int wo_may_write(fuse_req_t req, uint64_t ino, const struct cf_stat *cs);
void wo_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void wo_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void wo_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void wo_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags);
void wo_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		 int flags);
void wo_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
void wo_refuse(fuse_req_t req, const char *op, uint64_t ino, const char *name);

/* ln -s: a restore (restore.h), answered with a symlink node of links.c. */
void wo_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name);

/* ---- fs/links.c: the symlink nodes a restore answers with ---- */
#define CF_INO_LINKS_BASE ((uint64_t) 1 << 53)
bool cf_links_owns(uint64_t ino);
/* A new node pointing at target (what the caller's link said), into *out. */
void cf_links_add(const char *target, struct cf_stat *out);
/* -ESTALE for a node no longer kept. */
int cf_links_getattr(uint64_t ino, struct cf_stat *out);
int cf_links_readlink(uint64_t ino, char *buf, size_t size);

/* ---- fs/notify.c: kernel invalidations from a thread of their own ---- */
int cf_notify_start(struct cf_fs *fs, struct cf_change_sink *sink);
void cf_notify_stop(void);
/* The kernel is about to be told of names in directory dir (a lookup's answer, positive or
 * negative, a readdirplus entry, a mkdir or rename): from now on it may hold dentries there,
 * which changes must invalidate. Call before reading the store for the reply. */
void cf_notify_dir_seen(uint64_t dir);
/* A mkdir, rmdir or rename of ours in directory dir begins (busy) or has been
 * answered: entry invalidations under it wait until then (notify.c). */
void cf_notify_dir_busy(uint64_t dir, bool busy);
/* Invalidate entry name of dir (and dir's listing) soon, once dir is not busy. */
void cf_notify_entry(uint64_t dir, const char *name);
/* Invalidate inode ino's cached attributes and pages soon (a FUSE reply gave it old ones). */
void cf_notify_inode(uint64_t ino);

/* ---- fs/control.c: the .clonefs/ directory (inode base 1) ---- */

/* .clonefs/jobs/ (a fixed inode of the control range) and its files, one per unfinished clone
 * job, named by the job's id: job N is inode CF_INO(CF_INO_JOBS_BASE + N, 1), far above any
 * base the store hands out (they count up from 2). Sub 1, as the other control files: their
 * attributes are never cached. */
#define CF_INO_JOBS	 CF_INO(CF_INO_CONTROL_BASE, 7)
#define CF_INO_JOBS_BASE ((uint64_t) 1 << 54)
static inline bool control_is_job(uint64_t ino)
{
	return CF_INO_BASE(ino) >= CF_INO_JOBS_BASE && CF_INO_SUB(ino) == 1;
}

/* Whether ino is .clonefs/ or one of its files. */
static inline bool control_owns(uint64_t ino)
{
	return (ino != CF_INO_ROOT && CF_INO_BASE(ino) == CF_INO_CONTROL_BASE) ||
	       control_is_job(ino);
}
/* Entries that come and go (the jobs): the kernel must not remember them, nor their absence. */
static inline bool control_volatile(uint64_t ino)
{
	return ino == CF_INO_JOBS || control_is_job(ino);
}
/* The attributes of `.clonefs` itself, as the root directory lists it. */
void control_root_entry(struct cf_fs *fs, struct cf_stat *out);
/* lookup in the root (only ".clonefs") or in .clonefs/; -ENOENT when absent. */
int control_lookup(struct cf_fs *fs, uint64_t parent, const char *name, struct cf_stat *out);
int control_getattr(struct cf_fs *fs, uint64_t ino, struct cf_stat *out);
/* List .clonefs/ ("." and ".." are the caller's); -ENOTDIR for its files. */
int control_readdir(struct cf_fs *fs, uint64_t ino, cf_dir_fn fn, void *ctx);
/* Generate a file's contents now: into a malloc'd buffer (*fd -1), or, for a text that
 * outgrows CONTROL_SPILL bytes, into an unlinked file in the cache directory (*fd >= 0,
 * *data NULL) that the caller reads with pread and closes. *len is the text's length.
 * -EISDIR for the directory. */
int control_read(struct cf_fs *fs, uint64_t ino, char **data, size_t *len, int *fd);
struct cf_caller;
/* unlink in .clonefs/jobs/: cancel that job (cf_engine_cancel_job). */
int control_cancel_job(struct cf_fs *fs, const struct cf_caller *c, const char *name);

#endif
