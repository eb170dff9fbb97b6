/* read_ops.c — the low-level FUSE operations that read (and the access(2) answer).
 *
 * Every answer comes from the LMDB cache (store.h) in a short read transaction: nothing here
 * waits for the network. The kernel is told to cache hard, as fusefloor does: hour-long entry
 * and attribute timeouts, readdirplus, cached readdir and kept page caches; the sync's change
 * sink (main.c) invalidates exactly what changed, so long timeouts stay correct.
 *
 * Readdir is stateless: the offset the kernel hands back is a cookie the store resumes from
 * (a node's base, or a name's hash in a small listing; cf_store_readdir_cookie), never an
 * index into something that changes, so no handle is kept and, where the kernel offers it
 * (FUSE_CAP_NO_OPENDIR_SUPPORT), opendir answers ENOSYS: the kernel then opens directories
 * itself and keeps their listings until the sync invalidates them (notify.c).
 *
 * Writes go to write_ops.c; on a read-only mount they answer EROFS with a line in the log. The
 * kernel mount itself is not MS_RDONLY and, unless -o default_permissions is given, the kernel
 * checks no modes: every write of every caller reaches the daemon, whose policy decides and
 * logs, and access(2) is answered here from the same policy (ro_access). The modes stat shows
 * (-o uid=, gid=, umask=) are what the kernel checks with -o default_permissions. Only user.*
 * extended attributes exist; every other namespace answers EOPNOTSUPP, never ENOSYS, which
 * would switch xattrs off mount-wide. */
#include "fs.h"

#include "log.h"
#include "model.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static struct cf_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* A node's name for the log: its path in the mount ("/global/snapshots/S[/name]"), or
 * "ino N[/name]" when the cache cannot say (it may be what failed). Error paths only. */
const char *cf_fs_node_name(const struct cf_fs *fs, char *buf, size_t size, uint64_t ino,
			    const char *name)
{
	char path[CF_PATH_MAX] = "";
	int n = ino == CF_INO_ROOT   ? 0
		: ino == CF_INO_JOBS ? snprintf(path, sizeof path, "jobs")
				     : cf_store_path_of(fs->store, ino, path, sizeof path, NULL);
	/* the trash answers "trash": it lives under .clonefs/ */
	const char *pre = n > 0 && control_owns(ino) ? ".clonefs/" : "";
	const char *sep = name && n > 0 ? "/" : "";
	if (n >= 0)
		snprintf(buf, size, "/%s%s%s%s", pre, path, sep, name ? name : "");
	else
		snprintf(buf, size, "ino %" PRIu64 "%s%s", ino, name ? "/" : "", name ? name : "");
	return buf;
}

/* Answer a failed store or control call. Missing names and wrong types are ordinary answers;
 * anything else is a cache failure: logged with its reason and answered EIO (ENOMEM as is). */
static void reply_store_err(fuse_req_t req, const char *op, uint64_t ino, const char *name, int rc)
{
	char where[CF_PATH_MAX + CF_NAME_MAX + 48];
	int err = rc < 0 ? -rc : EIO;
	switch (err) {
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case ENAMETOOLONG:
		break;
	case ENOMEM:
		cf_log_refusal(cf_fs_node_name(fs_of(req), where, sizeof where, ino, name), ENOMEM,
			       "%s: out of memory", op);
		break;
	default:
		cf_log_refusal(cf_fs_node_name(fs_of(req), where, sizeof where, ino, name), EIO,
			       "%s: reading the cache failed: %s (%d)", op, strerror(err), rc);
		err = EIO;
		break;
	}
	fuse_reply_err(req, err);
}

/* struct cf_stat -> struct stat. Every node shows the owner and group of -o uid= / gid= (the
 * mounting user's by default); directories 0777 and files 0444 less -o umask= (022), and
 * nothing on a read-only mount or of a resource carrying the policy's protect label has a
 * write bit (symlinks keep 0777, as every symlink has). */
static void fill_stat(const struct cf_fs *fs, const struct cf_stat *cs, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = cs->ino;
	st->st_mode = cs->mode;
	if (!S_ISLNK(cs->mode)) {
		mode_t perm = S_ISDIR(cs->mode) ? 0777 : cs->mode & 0777;
		perm &= ~fs->umask;
		if (fs->read_only || (cs->flags & CF_DIRENT_PROTECTED))
			perm &= ~(mode_t) 0222;
		st->st_mode = (cs->mode & S_IFMT) | perm;
	}
	st->st_nlink = cs->nlink ? cs->nlink : 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	/* A cache written before sizes were clamped may hold more than an off_t. */
	st->st_size = (off_t) (cs->size > CF_SIZE_MAX ? CF_SIZE_MAX : cs->size);
	st->st_blocks =
	    (blkcnt_t) (cs->blocks > CF_SIZE_MAX / 512 ? CF_SIZE_MAX / 512 : cs->blocks);
	/* The control files are read with direct_io: every read(2) is a round trip, and stdio
	 * (jq, awk, Python) sizes its reads by st_blksize. 4 KiB made jq over a 24 MB
	 * inventory.jsonl 6,000 round trips and twice as slow as over a local copy; 128 KiB is
	 * FUSE's largest read. */
	st->st_blksize = control_owns(cs->ino) && CF_INO_SUB(cs->ino) != 0 ? 128 << 10 : 4096;
	st->st_mtim.tv_sec = cs->mtime;
	st->st_mtim.tv_nsec = cs->mtime_ns;
	st->st_atim = st->st_mtim;
	st->st_ctim.tv_sec = cs->ctime;
}

/* The control files change on every read: their attributes are not cached. */
static double attr_timeout(const struct cf_fs *fs, uint64_t ino)
{
	return (control_owns(ino) && CF_INO_SUB(ino) != 0) || cf_links_owns(ino) ? 0 : fs->timeout;
}

void cf_fs_fill_entry(const struct cf_fs *fs, const struct cf_stat *cs, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof *e);
	e->ino = cs->ino;
	e->generation = 1;
	e->entry_timeout = control_volatile(cs->ino) ? 0 : fs->timeout;
	e->attr_timeout = attr_timeout(fs, cs->ino);
	fill_stat(fs, cs, &e->attr);
}

/* The root exists even in a cache that has never been filled. */
static void root_stat(const struct cf_fs *fs, struct cf_stat *cs)
{
	memset(cs, 0, sizeof *cs);
	cs->ino = CF_INO_ROOT;
	cs->mode = S_IFDIR | 0755;
	cs->nlink = 2;
	cs->mtime = cs->ctime = fs->mounted_at;
}

static int node_getattr(struct cf_fs *fs, uint64_t ino, struct cf_stat *cs)
{
	int rc;
	if (control_owns(ino))
		return control_getattr(fs, ino, cs);
	if (cf_links_owns(ino))
		return cf_links_getattr(ino, cs);
	rc = cf_store_getattr(fs->store, ino, cs);
	if (rc == -ENOENT && ino == CF_INO_ROOT) {
		root_stat(fs, cs);
		rc = 0;
	}
	return rc;
}

/* The kernel opens directories without asking (FUSE_CAP_NO_OPENDIR_SUPPORT, set by ro_init):
 * opendir answers ENOSYS once and is never sent again, nor releasedir. */
static bool no_opendir;

/* ---- lookup, getattr, forget ---- */

static void ro_init(void *userdata, struct fuse_conn_info *conn)
{
	(void) userdata;
	/* Symlink targets (source, disks/N) go into the page cache like file contents. */
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	/* Directories need no handle (readdir is stateless): the kernel may open them itself,
	 * with no opendir or releasedir round trip, and keep their listings (Linux >= 5.1).
	 * Files keep their open: it is connection-wide, and .clonefs/ files are made there. */
	if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
		no_opendir = true;
	}
	/* Nothing here has ACLs to ask about. */
	conn->want &= ~FUSE_CAP_POSIX_ACL;
}

static void ro_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cf_fs *fs = fs_of(req);
	struct fuse_entry_param e;
	struct cf_stat cs;
	int rc;

	cf_notify_dir_seen(parent);
	if (control_owns(parent) || (parent == CF_INO_ROOT && strcmp(name, ".clonefs") == 0))
		rc = control_lookup(fs, parent, name, &cs);
	else
		rc = cf_store_lookup(fs->store, parent, name, &cs);
	if (rc == -ENOENT) {
		/* A negative entry: the kernel remembers the miss until the sync reports the
		 * name appeared (inval_entry) or neg_timeout passes. */
		memset(&e, 0, sizeof e);
		e.entry_timeout = parent == CF_INO_JOBS ? 0 : fs->neg_timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (rc < 0) {
		reply_store_err(req, "lookup", parent, name, rc);
		return;
	}
	cf_fs_fill_entry(fs, &cs, &e);
	fuse_reply_entry(req, &e);
}

static void ro_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cf_fs *fs = fs_of(req);
	struct cf_stat cs;
	struct stat st;
	int rc;
	(void) fi;

	rc = node_getattr(fs, ino, &cs);
	if (rc < 0) {
		reply_store_err(req, "getattr", ino, NULL, rc);
		return;
	}
	fill_stat(fs, &cs, &st);
	fuse_reply_attr(req, &st, attr_timeout(fs, ino));
}

/* Inode numbers are stable and nothing is kept per inode: lookup counts need no bookkeeping. */
static void ro_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void) ino;
	(void) nlookup;
	fuse_reply_none(req);
}

static void ro_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void) count;
	(void) forgets;
	fuse_reply_none(req);
}

/* ---- directories ---- */

/* Every open file handle, so that those the kernel never released (the mount went away while
 * one was open, or its RELEASE was still in flight: the kernel sends it asynchronously after
 * close returns) are freed at destroy, and a leak check finds nothing. Directories have none. */
struct handle {
	struct handle *prev, *next;
};
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static struct handle handles = {&handles, &handles};

static void handle_add(struct handle *h)
{
	pthread_mutex_lock(&handles_lock);
	h->next = handles.next;
	h->prev = &handles;
	handles.next->prev = h;
	handles.next = h;
	pthread_mutex_unlock(&handles_lock);
}

static void handle_del(struct handle *h)
{
	pthread_mutex_lock(&handles_lock);
	h->prev->next = h->next;
	h->next->prev = h->prev;
	pthread_mutex_unlock(&handles_lock);
}

/* A listing keeps nothing between readdir calls: the offset of each entry is a cookie the
 * listing resumes right after. "." is 1, ".." 2, the root's ".clonefs" (its last entry) 3; the
 * store's entries carry the store's cookies (cf_store_readdir_cookie, >= 16: a node's base, or
 * a name's hash in a small listing), and so do the daemon's .clonefs/ and jobs/ (name hashes,
 * sorted). So a name present throughout a listing is listed exactly once, through any sync or
 * write between the calls, and with no handle the kernel need not open the directory. */
enum { OFF_DOT = 1, OFF_DOTDOT = 2, OFF_CONTROL = 3 };

struct dir_fill {
	fuse_req_t req;
	struct cf_fs *fs;
	char *buf;
	size_t size, used;
	bool plus;
	bool full; /* an entry did not fit: the listing goes on in the next call */
};

static int fill_entry(void *ctx, const char *name, size_t len, const struct cf_stat *cs,
		      uint64_t cookie)
{
	struct dir_fill *f = ctx;
	char cname[CF_NAME_MAX + 1]; /* fuse_add_direntry wants a C string */
	size_t n;
	if (len > CF_NAME_MAX)
		return 0; /* the store never holds one: skip rather than truncate */
	memcpy(cname, name, len);
	cname[len] = '\0';
	if (f->plus) {
		struct fuse_entry_param e;
		cf_fs_fill_entry(f->fs, cs, &e);
		if (cookie == OFF_DOT || cookie == OFF_DOTDOT)
			e.ino = 0; /* "." and "..": no entry, no lookup count */
		n = fuse_add_direntry_plus(f->req, f->buf + f->used, f->size - f->used, cname, &e,
					   (off_t) cookie);
	} else {
		struct stat st = {.st_ino = cs->ino, .st_mode = cs->mode};
		n = fuse_add_direntry(f->req, f->buf + f->used, f->size - f->used, cname, &st,
				      (off_t) cookie);
	}
	if (n > f->size - f->used) {
		f->full = true;
		return 1;
	}
	f->used += n;
	return 0;
}

/* .clonefs/ and jobs/: the daemon's own entries, sorted by their names' cookies. */
struct ctl_ent {
	uint64_t cookie;
	struct cf_stat st;
	char name[32]; /* the longest control name or job id */
	size_t len;
};
struct ctl_list {
	struct ctl_ent *v;
	size_t n, cap;
	int err;
};

static int ctl_collect(void *ctx, const char *name, size_t len, const struct cf_stat *st)
{
	struct ctl_list *l = ctx;
	if (len >= sizeof l->v->name)
		return 0; /* none is as long */
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		struct ctl_ent *v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			l->err = -ENOMEM;
			return 1;
		}
		l->v = v;
		l->cap = cap;
	}
	struct ctl_ent *e = &l->v[l->n++];
	e->cookie = cf_dir_name_cookie(name, len);
	e->st = *st;
	memcpy(e->name, name, len);
	e->len = len;
	return 0;
}

static int ctl_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct ctl_ent *) a)->cookie, y = ((const struct ctl_ent *) b)->cookie;
	return x < y ? -1 : x > y;
}

static int control_fill(struct cf_fs *fs, uint64_t ino, uint64_t cookie, struct dir_fill *f)
{
	struct ctl_list l = {0};
	int rc = control_readdir(fs, ino, ctl_collect, &l);
	if (!rc)
		rc = l.err;
	if (!rc && cookie && cookie < CF_DIR_COOKIE_SMALL)
		rc = -EINVAL; /* not a cookie this listing gives */
	if (!rc && l.n) {
		qsort(l.v, l.n, sizeof *l.v, ctl_cmp);
		for (size_t i = 0; i < l.n; i++)
			if (l.v[i].cookie > cookie &&
			    fill_entry(f, l.v[i].name, l.v[i].len, &l.v[i].st, l.v[i].cookie))
				break;
	}
	free(l.v);
	return rc;
}

static void ro_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void) ino;
	if (no_opendir) {
		fuse_reply_err(req, ENOSYS); /* the kernel opens directories itself from now on */
		return;
	}
	/* A kernel without FUSE_CAP_NO_OPENDIR_SUPPORT: a handle with nothing in it, and the
	 * flags the kernel takes by default when it opens a directory itself. The jobs come and
	 * go, and its listing is cached all the same: jobs_stat's mtime changes on every stat,
	 * which makes the kernel drop the listing at every rewind. */
	fi->fh = 0;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void serve_dir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct cf_fs *fs = fs_of(req);
	struct dir_fill f = {.req = req, .fs = fs, .size = size, .plus = plus};
	uint64_t cookie = off < 0 ? 0 : (uint64_t) off;
	struct cf_stat self;
	int rc;

	/* Before the store is read: changes from now on invalidate what the kernel learns. */
	cf_notify_dir_seen(ino);
	rc = node_getattr(fs, ino, &self);
	if (rc == 0 && !S_ISDIR(self.mode))
		rc = -ENOTDIR;
	if (rc == 0 && !(f.buf = malloc(size)))
		rc = -ENOMEM;
	/* ".." carries the directory's own inode: the kernel answers ".." itself, and the store
	 * has no inode -> parent call. */
	if (rc == 0 && cookie < OFF_DOT)
		fill_entry(&f, ".", 1, &self, OFF_DOT);
	if (rc == 0 && cookie < OFF_DOTDOT && !f.full)
		fill_entry(&f, "..", 2, &self, OFF_DOTDOT);
	if (rc == 0 && !f.full && cookie != OFF_CONTROL) {
		uint64_t from = cookie <= OFF_CONTROL ? 0 : cookie;
		/* the trash and by-id/ are the store's, in cookie order there */
		if (control_owns(ino) && ino != CF_INO_TRASH && ino != CF_INO_BYID) {
			rc = control_fill(fs, ino, from, &f);
		} else {
			rc = cf_store_readdir_cookie(fs->store, ino, from, fill_entry, &f);
			if (rc == -ENOENT && ino == CF_INO_ROOT)
				rc = 0; /* an empty cache */
			/* .clonefs follows the root's last entry */
			if (rc == 0 && ino == CF_INO_ROOT && !f.full) {
				struct cf_stat ctl;
				control_root_entry(fs, &ctl);
				fill_entry(&f, ".clonefs", 8, &ctl, OFF_CONTROL);
			}
		}
	}
	if (rc == -EINVAL) {
		/* an offset no listing gave (a seekdir to a made-up place) */
		free(f.buf);
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (rc < 0) {
		free(f.buf);
		reply_store_err(req, plus ? "readdirplus" : "readdir", ino, NULL, rc);
		return;
	}
	fuse_reply_buf(req, f.buf, f.used);
	free(f.buf);
}

static void ro_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void) fi;
	serve_dir(req, ino, size, off, false);
}

static void ro_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void) fi;
	serve_dir(req, ino, size, off, true);
}

static void ro_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void) ino;
	(void) fi;
	fuse_reply_err(req, 0);
}
/* ---- files and symlinks ---- */

/* An open file: its whole contents, read once at open so every read of it agrees; a large
 * control file's are in an unlinked file instead (fd, control_read). */
struct file_buf {
	struct handle h; /* first: a handle is its file */
	char *data;
	size_t len;
	int fd;
};

static void file_free(struct file_buf *fb)
{
	handle_del(&fb->h);
	free(fb->data);
	if (fb->fd >= 0)
		close(fb->fd);
	free(fb);
}

static void ro_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cf_fs *fs = fs_of(req);
	struct file_buf *fb;
	char *data = NULL;
	size_t len = 0;
	int rc, fd = -1;

	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		wo_refuse(req, "open for writing", ino, NULL);
		return;
	}
	if (control_owns(ino)) {
		rc = control_read(fs, ino, &data, &len, &fd);
		fi->direct_io = 1; /* st_size is 0: read until EOF, never from the cache */
	} else {
		rc = cf_store_read(fs->store, ino, &data, &len);
		fi->keep_cache = 1; /* the sync's inval_inode drops it when the file changes */
	}
	if (rc < 0) {
		reply_store_err(req, "open", ino, NULL, rc);
		return;
	}
	fb = malloc(sizeof *fb);
	if (!fb) {
		free(data);
		if (fd >= 0)
			close(fd);
		cf_log_refusal("open", ENOMEM, "out of memory");
		fuse_reply_err(req, ENOMEM);
		return;
	}
	fb->data = data;
	fb->len = len;
	fb->fd = fd;
	handle_add(&fb->h);
	fi->fh = (uintptr_t) fb;
	if (fuse_reply_open(req, fi) != 0)
		file_free(fb); /* interrupted: no release will come */
}

/* Whether the store's contents of file ino are no longer those fb took at its open (a record
 * the store cannot read any more counts as changed). Reads reach the daemon only for pages the
 * kernel does not hold, so this costs a store read per page fetched, not per read(2). */
static bool opened_before_a_change(struct cf_fs *fs, fuse_ino_t ino, const struct file_buf *fb)
{
	char *now = NULL;
	size_t len = 0;
	bool changed = cf_store_read(fs->store, ino, &now, &len) != 0 || len != fb->len ||
		       (len && memcmp(now, fb->data, len) != 0);
	free(now);
	return changed;
}

static void ro_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	const struct file_buf *fb = (const struct file_buf *) (uintptr_t) fi->fh;
	size_t start, n;
	char *copy;
	/* The kernel keeps what this read gives (keep_cache) for every later open. If the record
	 * changed after this file was opened, the change's invalidation may already have passed,
	 * and the old copy would stay cached: served as promised, then invalidated again. */
	bool stale = !control_owns(ino) && opened_before_a_change(fs_of(req), ino, fb);

	if (off < 0 || (uint64_t) off >= fb->len) {
		fuse_reply_buf(req, NULL, 0);
		if (stale)
			cf_notify_inode(ino);
		return;
	}
	start = (size_t) off;
	n = fb->len - start < size ? fb->len - start : size;
	/* Reply from a private copy: once the kernel has the answer, the reader may close the
	 * file and another thread free fb (release) while this one is still returning from
	 * writev, which AddressSanitizer checks after the call. A read is at most max_read. */
	copy = malloc(n ? n : 1);
	if (!copy) {
		cf_log_refusal("read", ENOMEM, "out of memory");
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fb->fd < 0) {
		memcpy(copy, fb->data + start, n);
	} else {
		for (size_t got = 0; got < n;) {
			ssize_t r = pread(fb->fd, copy + got, n - got, (off_t) (start + got));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				int e = r < 0 ? errno : EIO;
				free(copy);
				cf_log_refusal("read", e, "reading a generated file back: %s",
					       strerror(e));
				fuse_reply_err(req, EIO);
				return;
			}
			got += (size_t) r;
		}
	}
	fuse_reply_buf(req, copy, n);
	free(copy);
	if (stale) /* after the reply: the kernel has put the pages in its cache by now */
		cf_notify_inode(ino);
}

static void ro_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct file_buf *fb = (struct file_buf *) (uintptr_t) fi->fh;
	(void) ino;
	if (fb)
		file_free(fb);
	fuse_reply_err(req, 0);
}

static void ro_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cf_fs *fs = fs_of(req);
	char target[PATH_MAX];
	int rc = cf_links_owns(ino) ? cf_links_readlink(ino, target, sizeof target)
				    : cf_store_readlink(fs->store, ino, target, sizeof target);
	if (rc < 0) {
		reply_store_err(req, "readlink", ino, NULL, rc);
		return;
	}
	fuse_reply_readlink(req, target);
}

/* ---- extended attributes: user.KEY = the label KEY ---- */

/* The xattr size protocol: size 0 asks for the length, a short buffer is ERANGE. */
static void reply_xattr_value(fuse_req_t req, const char *v, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, len);
}

/* Only resource directories carry labels: the root, .clonefs/, files and symlinks never do. */
static bool may_have_labels(uint64_t ino)
{
	return ino != CF_INO_ROOT && !control_owns(ino) &&
	       CF_SUB_NODE(CF_INO_SUB(ino)) == CF_SUB_DIR; /* an alias's too */
}

/* The labels are read where LMDB keeps them and the reply is made from
 * there, inside the read transaction: no copy, no allocation for getxattr. */
struct xattr_req {
	fuse_req_t req;
	const char *key; /* getxattr's name without "user."; NULL for listxattr */
	size_t size;
};

/* Reply for a label blob "key\0value\0...": the value of x->key (ENODATA
 * when absent), or the list of names. Always replies; returns 0. */
static int reply_labels(void *ctx, const char *blob, size_t len, size_t n)
{
	struct xattr_req *x = ctx;
	char stackbuf[1024], *list = stackbuf;
	size_t used = 0;
	/* listxattr: "user.KEY\0" per label, at most len + 5 bytes per label. */
	if (!x->key && len + 5 * n + 1 > sizeof stackbuf && !(list = malloc(len + 5 * n + 1))) {
		cf_log_refusal("listxattr", ENOMEM, "out of memory");
		fuse_reply_err(x->req, ENOMEM);
		return 0;
	}
	for (size_t off = 0, i = 0; i < n && off < len; i++) {
		const char *k = blob + off;
		size_t klen = strnlen(k, len - off);
		if (off + klen + 1 > len)
			break;
		const char *v = k + klen + 1;
		size_t vlen = strnlen(v, len - off - klen - 1);
		if (x->key && strcmp(k, x->key) == 0) {
			reply_xattr_value(x->req, v, vlen, x->size);
			return 0;
		}
		if (!x->key) {
			memcpy(list + used, "user.", 5);
			memcpy(list + used + 5, k, klen + 1);
			used += 5 + klen + 1;
		}
		off += klen + 1 + vlen + 1;
	}
	if (x->key)
		fuse_reply_err(x->req, ENODATA);
	else
		reply_xattr_value(x->req, list, used, x->size);
	if (list != stackbuf)
		free(list);
	return 0;
}

/* Answer from ino's labels: only resource directories have any (a
 * container's -ENOENT from the store is none as well). */
static void xattr_reply(fuse_req_t req, fuse_ino_t ino, const char *op, const char *name,
			struct xattr_req *x)
{
	struct cf_fs *fs = fs_of(req);
	int rc =
	    may_have_labels(ino) ? cf_store_labels_view(fs->store, ino, reply_labels, x) : -ENOENT;
	if (rc == -ENOENT)
		rc = reply_labels(x, "", 0, 0);
	if (rc < 0)
		reply_store_err(req, op, ino, name, rc);
}

static void ro_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	/* Only user.* is ours: EOPNOTSUPP lets ls and getfattr stop asking for
	 * security.selinux and ACLs on this device; a missing label is ENODATA. */
	if (strncmp(name, "user.", 5) != 0) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	xattr_reply(req, ino, "getxattr", name, &(struct xattr_req){req, name + 5, size});
}

static void ro_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	xattr_reply(req, ino, "listxattr", NULL, &(struct xattr_req){req, NULL, size});
}

/* ---- writes: write_ops.c (the engine), EROFS on a read-only mount ---- */

static void ro_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void) attr;
	(void) to_set;
	(void) fi;
	wo_refuse(req, "setattr", ino, NULL);
}

static void ro_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void) mode;
	(void) rdev;
	wo_refuse(req, "mknod", parent, name);
}

static void ro_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	wo_symlink(req, link, parent, name); /* a restore */
}

static void ro_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void) ino;
	wo_refuse(req, "link", newparent, newname);
}

static void ro_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void) mode;
	(void) fi;
	wo_refuse(req, "create", parent, name);
}

static void ro_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void) buf;
	(void) size;
	(void) off;
	(void) fi;
	wo_refuse(req, "write", ino, NULL);
}

/* access(2), faccessat(2), test -w, chdir. The kernel asks only without default_permissions,
 * and then for every caller, root included: reading and searching are everyone's (as the
 * modes always said), files are never executable, and W_OK is whether the policy lets this
 * caller make the write that node takes (wo_may_write). A query is not a refusal: nothing is
 * logged. */
static void ro_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	struct cf_fs *fs = fs_of(req);
	struct cf_stat cs;
	int rc = node_getattr(fs, ino, &cs);
	if (rc < 0) {
		reply_store_err(req, "access", ino, NULL, rc);
		return;
	}
	if ((mask & X_OK) && !S_ISDIR(cs.mode))
		rc = -EACCES;
	else if (mask & W_OK)
		rc = wo_may_write(req, ino, &cs);
	fuse_reply_err(req, rc < 0 ? -rc : 0);
}

/* ---- the filesystem as a whole ---- */

static void ro_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct cf_fs *fs = fs_of(req);
	struct statvfs sv;
	struct cf_stat root;
	(void) ino;

	memset(&sv, 0, sizeof sv);
	sv.f_bsize = 4096;
	sv.f_frsize = 512; /* st_blocks units: f_blocks is the root's stored bytes / 512 */
	sv.f_namemax = CF_NAME_MAX;
	sv.f_flag = ST_RDONLY;
	if (cf_store_getattr(fs->store, CF_INO_ROOT, &root) == 0)
		sv.f_blocks = root.blocks;
	fuse_reply_statfs(req, &sv);
}

/* The session ends: free the handles the kernel did not release. A plain FUSE mount gets no
 * DESTROY from the kernel, so this runs from fuse_session_destroy, after the session loop has
 * joined its workers: no release can race it. */
static void ro_destroy(void *userdata)
{
	(void) userdata;
	for (;;) {
		pthread_mutex_lock(&handles_lock);
		struct handle *h = handles.next != &handles ? handles.next : NULL;
		pthread_mutex_unlock(&handles_lock);
		if (!h)
			break;
		file_free((struct file_buf *) h);
	}
}

const struct fuse_lowlevel_ops cf_read_ops = {
    .init = ro_init,
    .destroy = ro_destroy,
    .lookup = ro_lookup,
    .forget = ro_forget,
    .forget_multi = ro_forget_multi,
    .getattr = ro_getattr,
    .access = ro_access,
    .setattr = ro_setattr,
    .readlink = ro_readlink,
    .mknod = ro_mknod,
    .mkdir = wo_mkdir,
    .unlink = wo_unlink,
    .rmdir = wo_rmdir,
    .symlink = ro_symlink,
    .rename = wo_rename,
    .link = ro_link,
    .open = ro_open,
    .read = ro_read,
    .write = ro_write,
    .release = ro_release,
    .opendir = ro_opendir,
    .readdir = ro_readdir,
    .readdirplus = ro_readdirplus,
    .releasedir = ro_releasedir,
    .statfs = ro_statfs,
    .setxattr = wo_setxattr,
    .getxattr = ro_getxattr,
    .listxattr = ro_listxattr,
    .removexattr = wo_removexattr,
    .create = ro_create,
};
