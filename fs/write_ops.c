/* write_ops.c — the FUSE write requests, answered by the engine (lib/core/engine.h).
 *
 * This layer only translates: who is asking (uid, gid, supplementary groups,
 * login name, whether it is the user who mounted), which inodes, and the
 * engine's errno back to the kernel. Every decision and every refusal's log
 * line is the engine's: without default_permissions the kernel checks no
 * modes, so every write of every caller reaches it. On a read-only mount every
 * write is EROFS; what has no meaning here (creating files, links, symlinks,
 * changing times or modes) is EPERM, refused early and loudly. access(2) of
 * W_OK asks the same policy (wo_may_write). */
#include "fs.h"

#include "engine.h"
#include "layout.h"
#include "log.h"

#include "policy.h"

#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

enum { MAX_GROUPS = 64 };

struct caller {
	struct cf_caller c;
	gid_t groups[MAX_GROUPS];
	gid_t *more; /* a caller in more than MAX_GROUPS groups: all of them */
	char user[64];
};

/* Who asks. The supplementary groups come from /proc (fuse_req_getgroups), all of them: a
 * group the policy allows may be the caller's 65th. When they cannot be read (the caller
 * has exited), only the primary gid counts, which can only refuse more. A uid without a
 * passwd entry is "uid-N" in clonefs-created-by. Free with caller_done. */
static void caller_of(fuse_req_t req, struct caller *out)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	const struct cf_fs *fs = fuse_req_userdata(req);
	memset(out, 0, sizeof *out);
	out->c.uid = ctx->uid;
	out->c.gid = ctx->gid;
	out->c.mounter = ctx->uid == fs->mounter;
	int n = fuse_req_getgroups(req, MAX_GROUPS, out->groups);
	out->c.groups = out->groups;
	out->c.ngroups = n > 0 ? (size_t) (n < MAX_GROUPS ? n : MAX_GROUPS) : 0;
	if (n > MAX_GROUPS && (out->more = calloc((size_t) n, sizeof *out->more))) {
		int m = fuse_req_getgroups(req, n, out->more);
		if (m > 0 && m <= n) {
			out->c.groups = out->more;
			out->c.ngroups = (size_t) m;
		}
	}
	struct passwd pw, *res = NULL;
	char buf[1024];
	if (getpwuid_r(ctx->uid, &pw, buf, sizeof buf, &res) == 0 && res)
		snprintf(out->user, sizeof out->user, "%s", res->pw_name);
	else
		snprintf(out->user, sizeof out->user, "uid-%u", (unsigned) ctx->uid);
	out->c.user = out->user;
}

static void caller_done(struct caller *c)
{
	free(c->more);
	c->more = NULL;
}

/* The collections of the kinds pruned through the trash (layout.h; GCE: global/snapshots,
 * global/images, global/machineImages) and their trash: where rmdir prunes and mv restores. */
static bool prune_collection(const char *path)
{
	if (!strncmp(path, "trash/", 6))
		path += 6;
	return cf_kind_trashable(cf_collection_kind(path, strlen(path)));
}

int wo_may_write(fuse_req_t req, uint64_t ino, const struct cf_stat *cs)
{
	struct cf_fs *fs = fuse_req_userdata(req);
	char path[CF_PATH_MAX];
	unsigned sub = 0;
	struct cf_resource r = {0};
	enum cf_right right;
	if (fs->read_only || !fs->engine || !fs->policy)
		return -EROFS;
	if (!S_ISDIR(cs->mode) || ino == CF_INO_ROOT ||
	    cf_store_path_of(fs->store, ino, path, sizeof path, &sub) < 0)
		return -EACCES;
	if (sub == CF_SUB_SNAPSHOTS || sub == CF_SUB_CLONES)
		right = CF_RIGHT_CLONE;
	else if (sub == CF_SUB_DIR && prune_collection(path))
		right = CF_RIGHT_PRUNE;
	else if (sub == CF_SUB_DIR && cf_store_resource(fs->store, ino, &r) == 0)
		right = CF_RIGHT_LABEL; /* its labels; the protect label takes more (policy.h) */
	else
		return -EACCES;
	cf_resource_clear(&r);
	struct caller c;
	caller_of(req, &c);
	int rc = cf_policy_may(fs->policy, right, &c.c, NULL, 0);
	caller_done(&c);
	/* A clone view answers for its source as well, as the cache has it: allow_sources. */
	if (!rc && right == CF_RIGHT_CLONE &&
	    !cf_store_resource(fs->store, CF_INO(CF_INO_BASE(ino), CF_SUB_DIR), &r)) {
		rc = cf_policy_may_clone_source(fs->policy, &r, NULL, 0);
		cf_resource_clear(&r);
	}
	return rc ? -EACCES : 0;
}

/* The engine cannot act here (read-only mount, or no engine): EROFS. name is an
 * entry of directory ino, or NULL when ino itself is meant (the xattr calls). */
static bool readonly(fuse_req_t req, struct cf_fs *fs, const char *op, uint64_t ino,
		     const char *name)
{
	if (!fs->read_only && fs->engine)
		return false;
	char where[CF_PATH_MAX + CF_NAME_MAX + 48];
	cf_log_refusal(cf_fs_node_name(fs, where, sizeof where, ino, name), EROFS,
		       "%s: read-only mount", op);
	fuse_reply_err(req, EROFS);
	return true;
}

static int err_of(int rc)
{
	return rc < 0 ? -rc : (rc ? rc : 0);
}

/* A clone shows in two listings (global/snapshots and its disk's snapshots/; global/machineImages
 * and its instance's clones/), and a pruned one moves to .clonefs/trash. The notify thread tells
 * the kernel of every change soon after a write; the listings this request does not hold are
 * invalidated before it is answered as well, so that `mkdir D/snapshots/N && ls global/snapshots`
 * shows N. Only listings (inval_inode takes no directory lock in the kernel), never entries
 * (inval_entry takes the directory's lock, which another write may hold while it waits for the
 * API), and never the directories this request holds (held[0], held[1]). */
struct listings {
	uint64_t ino[3];
};

/* Where the resource directory ino is listed, read before the write (a prune removes it). */
static void listings_of(struct cf_fs *fs, uint64_t ino, struct listings *out)
{
	struct cf_resource r = {0};
	uint64_t src;
	memset(out, 0, sizeof *out);
	if (cf_store_resource(fs->store, ino, &r))
		return;
	/* A kind pruned through the trash: its collection, and its trash container. */
	const char *coll = cf_kind_collection(r.kind), *home = cf_kind_home(r.kind);
	if (coll && home && r.scope && !strcmp(r.scope, home)) {
		char path[CF_PATH_MAX], tpath[CF_PATH_MAX + 8];
		cf_collection_path(r.kind, home, path, sizeof path);
		cf_store_ino_of_path(fs->store, path, &out->ino[0]);
		snprintf(tpath, sizeof tpath, "trash/%s", path);
		cf_store_ino_of_path(fs->store, tpath, &out->ino[1]);
	}
	/* The source's view that lists it (a disk's snapshots/). */
	const struct cf_layout_view *v = cf_layout()->views;
	unsigned sub = r.kind == v[0].kind   ? CF_SUB_SNAPSHOTS
		       : r.kind == v[1].kind ? CF_SUB_CLONES
					     : 0;
	if (sub && r.source && !cf_store_ino_of_path(fs->store, r.source, &src))
		out->ino[2] = CF_INO(CF_INO_BASE(src), sub);
	cf_resource_clear(&r);
}

static void inval_listings(struct cf_fs *fs, const struct listings *l, uint64_t held0,
			   uint64_t held1)
{
	for (size_t i = 0; i < sizeof l->ino / sizeof l->ino[0]; i++)
		if (l->ino[i] && l->ino[i] != held0 && l->ino[i] != held1)
			fuse_lowlevel_notify_inval_inode(fs->se, l->ino[i], 0, 0);
}

void wo_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct cf_fs *fs = fuse_req_userdata(req);
	struct caller c;
	struct cf_stat st;
	(void) mode;
	if (readonly(req, fs, "mkdir", parent, name))
		return;
	caller_of(req, &c);
	cf_notify_dir_seen(parent);	  /* the reply gives the kernel a dentry there */
	cf_notify_dir_busy(parent, true); /* the kernel holds parent's lock until we answer */
	int rc = cf_engine_mkdir(fs->engine, &c.c, parent, name, &st);
	caller_done(&c);
	if (rc) {
		fuse_reply_err(req, err_of(rc));
		cf_notify_dir_busy(parent, false);
		return;
	}
	struct listings l;
	listings_of(fs, st.ino, &l);
	inval_listings(fs, &l, parent, parent);
	struct fuse_entry_param e;
	cf_fs_fill_entry(fs, &st, &e);
	fuse_reply_entry(req, &e);
	cf_notify_dir_busy(parent, false);
}

void wo_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cf_fs *fs = fuse_req_userdata(req);
	struct caller c;
	if (readonly(req, fs, "rmdir", parent, name))
		return;
	caller_of(req, &c);
	struct cf_stat st;
	struct listings l = {{0}};
	if (cf_store_lookup(fs->store, parent, name, &st) == 0)
		listings_of(fs, st.ino, &l);
	cf_notify_dir_busy(parent, true);
	int err = err_of(cf_engine_rmdir(fs->engine, &c.c, parent, name));
	caller_done(&c);
	if (!err)
		inval_listings(fs, &l, parent, parent);
	fuse_reply_err(req, err);
	cf_notify_dir_busy(parent, false);
}

void wo_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cf_fs *fs = fuse_req_userdata(req);
	struct caller c;
	if (readonly(req, fs, "unlink", parent, name))
		return;
	caller_of(req, &c);
	int err = parent == CF_INO_JOBS /* rm .clonefs/jobs/ID: cancel that clone job */
		      ? err_of(control_cancel_job(fs, &c.c, name))
		      : err_of(cf_engine_unlink(fs->engine, &c.c, parent, name));
	caller_done(&c);
	fuse_reply_err(req, err);
}

void wo_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
	       const char *newname, unsigned int flags)
{
	struct cf_fs *fs = fuse_req_userdata(req);
	struct caller c;
	if (readonly(req, fs, "rename", parent, name))
		return;
	if (flags) {
		/* RENAME_EXCHANGE / NOREPLACE: a restore never replaces anything anyway */
		if (flags & ~(unsigned) RENAME_NOREPLACE) {
			fuse_reply_err(req, EINVAL);
			return;
		}
	}
	caller_of(req, &c);
	cf_notify_dir_seen(newparent); /* the kernel moves its dentry there */
	struct cf_stat st;
	struct listings l = {{0}};
	if (cf_store_lookup(fs->store, parent, name, &st) == 0)
		listings_of(fs, st.ino, &l);
	cf_notify_dir_busy(parent, true);
	cf_notify_dir_busy(newparent, true);
	int err = err_of(cf_engine_rename(fs->engine, &c.c, parent, name, newparent, newname));
	caller_done(&c);
	if (!err)
		inval_listings(fs, &l, parent, newparent);
	fuse_reply_err(req, err);
	cf_notify_dir_busy(newparent, false);
	cf_notify_dir_busy(parent, false);
}

void wo_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value, size_t size,
		 int flags)
{
	struct cf_fs *fs = fuse_req_userdata(req);
	struct caller c;
	if (strncmp(name, "user.", 5)) {
		fuse_reply_err(req, EOPNOTSUPP); /* only labels are ours */
		return;
	}
	if (readonly(req, fs, "setxattr", ino, NULL))
		return;
	/* More than any provider's label holds; the provider's own rules (through
	 * the engine) judge the rest. */
	size_t max = cf_engine_label_bytes_max(fs->engine);
	if (size > max) {
		cf_log_refusal(name, EINVAL, "label value of %zu bytes: at most %zu", size, max);
		fuse_reply_err(req, EINVAL);
		return;
	}
	caller_of(req, &c);
	int f = (flags & XATTR_CREATE ? CF_LABEL_CREATE : 0) |
		(flags & XATTR_REPLACE ? CF_LABEL_REPLACE : 0);
	int err = err_of(cf_engine_set_label(fs->engine, &c.c, ino, name + 5, value, size, f));
	caller_done(&c);
	/* The kernel reports a FUSE setxattr's EAGAIN to the caller as EOPNOTSUPP (seen on
	 * Linux 6.18; removexattr keeps it), which would tell setfattr that labels are not
	 * supported at all. EBUSY says the same as EAGAIN: not now, try again. */
	fuse_reply_err(req, err == EAGAIN ? EBUSY : err);
}

void wo_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct cf_fs *fs = fuse_req_userdata(req);
	struct caller c;
	if (strncmp(name, "user.", 5)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (readonly(req, fs, "removexattr", ino, NULL))
		return;
	caller_of(req, &c);
	int err = err_of(cf_engine_remove_label(fs->engine, &c.c, ino, name + 5));
	caller_done(&c);
	fuse_reply_err(req, err);
}

/* Creating files, links and symlinks, or changing a node's times and modes,
 * has no meaning in the cloud: refused with a reason. */
void wo_refuse(fuse_req_t req, const char *op, uint64_t ino, const char *name)
{
	struct cf_fs *fs = fuse_req_userdata(req);
	if (readonly(req, fs, op, ino, name))
		return;
	char where[CF_PATH_MAX + CF_NAME_MAX + 48];
	cf_log_refusal(cf_fs_node_name(fs, where, sizeof where, ino, name), EPERM,
		       "%s: clonefs shows cloud resources; only mkdir, rmdir, mv out of the "
		       "trash and labels change them",
		       op);
	fuse_reply_err(req, EPERM);
}
