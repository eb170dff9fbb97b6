/* store.c — what of the LMDB cache is not yet in a file of its own
 * (store_int.h lists them). */
#include "store_int.h"
#include "pathset.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Point reads on the DUPSORT tables need a cursor: in a read transaction
 * of the thread's rtx, its own for the table (kept, renewed lazily: an open
 * is a malloc and a close a free, on every lookup); otherwise a temporary
 * one, closed by put_cursor. Never held across a call into the store, so
 * nested reads may share it. */
enum { GC_DIRS, GC_PATHS, GC_N };
static int get_cursor(struct cf_store *s, MDB_txn *txn, int which, MDB_cursor **c);
static void put_cursor(struct cf_store *s, MDB_txn *txn, int which, MDB_cursor *c);

int store_get_dirent(struct cf_store *s, MDB_txn *txn, uint64_t parent, const char *name,
		     size_t len, struct cf_dirent *d)
{
	MDB_cursor *c;
	int rc = get_cursor(s, txn, GC_DIRS, &c);
	if (rc)
		return rc;
	rc = dirent_at(c, parent, name, len, d);
	put_cursor(s, txn, GC_DIRS, c);
	return rc;
}

/* A node's parent inode and name (the name copied into name[CF_NAME_MAX]). */
int store_get_node(struct cf_store *s, MDB_txn *txn, uint64_t base, uint64_t *parent, char *name,
		   size_t *len)
{
	MDB_val k = {8, &base}, v;
	int rc = mdb_get(txn, s->dbi[DB_NODES], &k, &v);
	if (rc)
		return lmdb_err(rc, "read a node");
	if (v.mv_size < 8 || v.mv_size > 8 + CF_NAME_MAX) {
		cf_err("store: a node record of %zu bytes", v.mv_size);
		return -EIO;
	}
	memcpy(parent, v.mv_data, 8);
	*len = v.mv_size - 8;
	memcpy(name, (const char *) v.mv_data + 8, *len);
	return 0;
}

/* The directory entry of inode ino's node (ino 1 is the root, key (0, "")). */
int store_node_dirent(struct cf_store *s, MDB_txn *txn, uint64_t ino, struct cf_dirent *d,
		      uint64_t *parent, char *name, size_t *nlen)
{
	uint64_t p = 0;
	size_t n = 0;
	char tmp[CF_NAME_MAX];
	tmp[0] = '\0'; /* the root has no name: get_dirent reads none of it */
	char *nm = name ? name : tmp;
	if (ino != CF_INO_ROOT) {
		uint64_t base = CF_INO_BASE(ino);
		if (base <= CF_INO_CONTROL_BASE)
			return -ENOENT;
		int rc = store_get_node(s, txn, base, &p, nm, &n);
		if (rc)
			return rc;
	}
	if (parent)
		*parent = p;
	if (nlen)
		*nlen = n;
	return store_get_dirent(s, txn, p, nm, n, d);
}

int store_get_rec(struct cf_store *s, MDB_txn *txn, uint64_t base, struct rec *c)
{
	MDB_val k = {8, &base}, v;
	int rc = mdb_get(txn, s->dbi[DB_RES], &k, &v);
	if (rc)
		return lmdb_err(rc, "read a resource");
	return store_rec_decode(v.mv_data, v.mv_size, c);
}

int store_path_get(struct cf_store *s, MDB_txn *txn, const char *path, size_t len, uint64_t *base)
{
	MDB_val k, v;
	MDB_cursor *c;
	const char *name;
	size_t nlen;
	if (path_key(s, path, len, &k, &name, &nlen))
		return -ENOENT;
	int rc = get_cursor(s, txn, GC_PATHS, &c);
	if (rc)
		return rc;
	rc = dup_seek(c, &k, name, nlen, &v, "read a path");
	if (!rc)
		rc = path_base(&v, base);
	put_cursor(s, txn, GC_PATHS, c);
	return rc;
}

/* ------------------------------------------------------------- read side */

/* trim_tick's count of this thread (store_int.h). */
_Thread_local unsigned store_trim_ticks;

/* One read transaction per thread and store, reset between calls. `depth`
 * lets a callback call back into the store on the same thread. */
struct rtx {
	struct rtx *next; /* registry of every live rtx, for close and exit */
	struct cf_store *s;
	MDB_txn *txn;
	MDB_cursor *cur; /* on dirs, renewed lazily */
	bool cur_live;
	MDB_cursor *gc[GC_N]; /* get_cursor's, renewed lazily */
	bool gc_live[GC_N];
	int depth;
};

/* Process-wide, so a thread-exit destructor never touches a closed store:
 * it frees its rtx only if the registry still holds it. */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rtx *reg_head;

static void rtx_release(struct rtx *t)
{
	if (t->cur)
		mdb_cursor_close(t->cur);
	for (int i = 0; i < GC_N; i++)
		if (t->gc[i])
			mdb_cursor_close(t->gc[i]);
	mdb_txn_abort(t->txn);
	free(t);
}

void store_rtx_destroy(void *v)
{
	pthread_mutex_lock(&reg_lock);
	for (struct rtx **pp = &reg_head; *pp; pp = &(*pp)->next) {
		if (*pp == v) {
			struct rtx *t = *pp;
			*pp = t->next;
			rtx_release(t);
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

void store_readers_close(struct cf_store *s)
{
	pthread_mutex_lock(&reg_lock);
	for (struct rtx **pp = &reg_head; *pp;) {
		struct rtx *t = *pp;
		if (t->s == s) {
			*pp = t->next;
			rtx_release(t);
		} else {
			pp = &t->next;
		}
	}
	pthread_mutex_unlock(&reg_lock);
}

static int rbegin(struct cf_store *s, struct rtx **out)
{
	struct rtx *t = pthread_getspecific(s->key);
	int rc;
	if (t && t->depth > 0) {
		t->depth++;
		*out = t;
		return 0;
	}
	if (!t) {
		t = calloc(1, sizeof *t);
		if (!t)
			return -ENOMEM;
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &t->txn);
		if (rc) {
			free(t);
			return lmdb_err(rc, "begin a read transaction");
		}
		t->s = s;
		if (pthread_setspecific(s->key, t)) {
			mdb_txn_abort(t->txn);
			free(t);
			return -ENOMEM;
		}
		pthread_mutex_lock(&reg_lock);
		t->next = reg_head;
		reg_head = t;
		pthread_mutex_unlock(&reg_lock);
	} else {
		rc = mdb_txn_renew(t->txn);
		if (rc)
			return lmdb_err(rc, "renew a read transaction");
	}
	t->cur_live = false;
	t->depth = 1;
	*out = t;
	return 0;
}

static void rend(struct rtx *t)
{
	if (--t->depth == 0) {
		mdb_txn_reset(t->txn);
		t->cur_live = false;
		for (int i = 0; i < GC_N; i++)
			t->gc_live[i] = false;
		trim_tick(t->txn);
	}
}

static const int gc_db[GC_N] = {[GC_DIRS] = DB_DIRS, [GC_PATHS] = DB_PATHS};

static int get_cursor(struct cf_store *s, MDB_txn *txn, int which, MDB_cursor **c)
{
	struct rtx *t = pthread_getspecific(s->key);
	if (!t || t->depth <= 0 || t->txn != txn)
		return open_cursor(txn, s->dbi[gc_db[which]], c);
	int rc = 0;
	if (!t->gc[which])
		rc = mdb_cursor_open(txn, s->dbi[gc_db[which]], &t->gc[which]);
	else if (!t->gc_live[which])
		rc = mdb_cursor_renew(txn, t->gc[which]);
	if (rc)
		return lmdb_err(rc, "open a cursor");
	t->gc_live[which] = true;
	*c = t->gc[which];
	return 0;
}

static void put_cursor(struct cf_store *s, MDB_txn *txn, int which, MDB_cursor *c)
{
	struct rtx *t = pthread_getspecific(s->key);
	if (!t || t->depth <= 0 || t->txn != txn || c != t->gc[which])
		mdb_cursor_close(c);
}

/* A cursor on dirs: the thread's own, or a temporary one when nested (the
 * outer call may be iterating the shared one). */
static int rcursor(struct rtx *t, MDB_cursor **c, bool *temp)
{
	int rc;
	*temp = t->depth > 1;
	if (*temp) {
		rc = mdb_cursor_open(t->txn, t->s->dbi[DB_DIRS], c);
		return rc ? lmdb_err(rc, "open a cursor") : 0;
	}
	if (!t->cur)
		rc = mdb_cursor_open(t->txn, t->s->dbi[DB_DIRS], &t->cur);
	else if (!t->cur_live)
		rc = mdb_cursor_renew(t->txn, t->cur);
	else
		rc = 0;
	if (rc)
		return lmdb_err(rc, "open a cursor");
	t->cur_live = true;
	*c = t->cur;
	return 0;
}

static void stat_dirent(const struct cf_dirent *d, uint64_t ino, struct cf_stat *st)
{
	st->ino = ino;
	st->mode = S_IFDIR | 0755;
	st->nlink = 2;
	bool res = d->type != CF_NODE_CONTAINER;
	st->size = res ? d->size : 0;
	st->blocks = res ? d->blocks : 0;
	st->mtime = d->mtime;
	st->mtime_ns = d->mtime_ns;
	st->ctime = d->ctime;
	st->flags = res ? d->flags & CF_DIRENT_PROTECTED : 0;
}

static void stat_file(const struct cf_dirent *d, uint64_t ino, uint32_t mode, uint64_t size,
		      struct cf_stat *st)
{
	st->ino = ino;
	st->mode = mode;
	st->nlink = mode == (S_IFDIR | 0755) ? 2 : 1;
	st->size = size;
	st->blocks = 0;
	st->mtime = d->mtime;
	st->mtime_ns = d->mtime_ns;
	st->ctime = d->ctime;
	st->flags = d->flags & CF_DIRENT_PROTECTED;
}

static bool is_resource(const struct cf_dirent *d)
{
	return d->type == CF_NODE_RESOURCE || d->type == CF_NODE_ALIAS;
}

/* Attributes of node `sub` of the resource directory d (sub != 0). */
static int stat_sub(struct cf_store *s, MDB_txn *txn, const struct cf_dirent *d, unsigned sub,
		    struct cf_stat *st)
{
	uint64_t ino = CF_INO(d->base, (d->type == CF_NODE_ALIAS ? CF_SUB_ALIAS : 0) | sub);
	bool primary = d->type == CF_NODE_RESOURCE;
	if (!is_resource(d))
		return -ENOENT;
	switch (sub) {
	case CF_SUB_STATUS:
		stat_file(d, ino, S_IFREG | 0444, (uint64_t) d->status_len + 1, st);
		return 0;
	case CF_SUB_JSON:
		stat_file(d, ino, S_IFREG | 0444, d->json_len, st);
		return 0;
	case CF_SUB_SOURCE:
		if (!d->source_len)
			return -ENOENT;
		stat_file(d, ino, S_IFLNK | 0777, 3ull * d->depth + d->source_len, st);
		return 0;
	case CF_SUB_SNAPSHOTS:
	case CF_SUB_CLONES: {
		enum cf_kind want = sub == CF_SUB_SNAPSHOTS ? CF_KIND_DISK : CF_KIND_INSTANCE;
		if (!primary || d->kind != want)
			return -ENOENT;
		struct subtime t;
		int rc = get_subtime(s, txn, ino, &t);
		if (rc < 0)
			return rc;
		stat_file(d, ino, S_IFDIR | 0755, 0, st);
		if (rc == 0) { /* empty: the resource's creation time, not 1970 */
			t.mtime = d->mtime;
			t.ns = d->mtime_ns;
		}
		st->mtime = st->ctime = t.mtime;
		st->mtime_ns = t.ns;
		return 0;
	}
	case CF_SUB_DISKS:
		if (!primary || d->kind != CF_KIND_INSTANCE)
			return -ENOENT;
		stat_file(d, ino, S_IFDIR | 0755, 0, st);
		return 0;
	default:
		break;
	}
	if (sub < CF_SUB_DISK_LINK0 || !primary || d->kind != CF_KIND_INSTANCE ||
	    sub - CF_SUB_DISK_LINK0 >= d->nlinks)
		return -ENOENT;
	struct rec c;
	int rc = store_get_rec(s, txn, d->base, &c);
	if (rc)
		return rc;
	const unsigned char *p = c.links;
	struct sv l = {NULL, 0};
	unsigned i = sub - CF_SUB_DISK_LINK0;
	if (i >= c.nlinks)
		return -ENOENT;
	for (unsigned j = 0; j <= i; j++)
		l = link_next(&p);
	stat_file(d, ino, S_IFLNK | 0777, 3ull * (d->depth + 1) + l.n, st);
	return 0;
}

/* The synthetic entries of a resource directory, in name order. */
static const struct {
	const char *name;
	unsigned sub;
} res_entries[] = {
    {"clones", CF_SUB_CLONES},	     {"disks", CF_SUB_DISKS},	{"resource.json", CF_SUB_JSON},
    {"snapshots", CF_SUB_SNAPSHOTS}, {"source", CF_SUB_SOURCE}, {"status", CF_SUB_STATUS},
};

/* The entry of any node but the root: a container's or a resource's own
 * entry, or for an alias node the view of its alias. *sub: the node inside
 * the resource, without CF_SUB_ALIAS. */
static int node_view(struct cf_store *s, MDB_txn *txn, uint64_t ino, struct cf_dirent *d,
		     unsigned *sub)
{
	*sub = CF_SUB_NODE(CF_INO_SUB(ino));
	if (CF_INO_SUB(ino) >= CF_SUB_ALIAS && *sub > CF_SUB_SOURCE)
		return -ENOENT;
	int rc = store_node_dirent(s, txn, CF_INO(CF_INO_BASE(ino), 0), d, NULL, NULL, NULL);
	if (rc || CF_INO_SUB(ino) < CF_SUB_ALIAS)
		return rc;
	return store_alias_view(s, txn, d, 0, 0, NULL);
}

/* Alias `name` in directory `sub` of the source whose base is src_base. */
static int alias_get(struct cf_store *s, MDB_txn *txn, uint64_t src_base, unsigned sub,
		     const char *name, size_t len, struct cf_dirent *d)
{
	uint64_t cbase;
	const char *coll = alias_coll(sub);
	int rc = store_path_get(s, txn, coll, strlen(coll), &cbase);
	if (!rc)
		rc = store_get_dirent(s, txn, CF_INO(cbase, 0), name, len, d);
	if (!rc)
		rc = store_alias_view(s, txn, d, sub, src_base, NULL);
	return rc;
}

/* alias_each for readdir: the caller's fn with each alias's attributes. */
struct alias_ls {
	cf_dir_fn fn;
	void *ctx;
};
static int alias_ls_fn(void *ctx, struct sv name, struct cf_dirent *d)
{
	struct alias_ls *ls = ctx;
	struct cf_stat st;
	stat_dirent(d, CF_INO(d->base, CF_SUB_ALIAS), &st);
	return ls->fn(ls->ctx, name.p, name.n, &st);
}

static int lookup_in(struct cf_store *s, MDB_txn *txn, uint64_t parent, const char *name,
		     size_t len, struct cf_stat *out)
{
	struct cf_dirent d, pd;
	unsigned sub;
	int rc;
	if (!len)
		return -ENOENT;
	if (len > CF_NAME_MAX)
		return -ENAMETOOLONG;
	bool top = parent == CF_INO_ROOT || parent == CF_INO_TRASH;
	if (top || CF_INO_SUB(parent) == CF_SUB_DIR) {
		/* The common case, a member of a container: one get. */
		rc = store_get_dirent(s, txn, parent, name, len, &d);
		if (rc == 0) {
			stat_dirent(&d, CF_INO(d.base, 0), out);
			return 0;
		}
		if (rc != -ENOENT || top)
			return rc;
	}
	if ((rc = node_view(s, txn, parent, &pd, &sub)))
		return rc;
	if (sub == CF_SUB_DIR) {
		if (!is_resource(&pd))
			return -ENOENT;
		for (size_t i = 0; i < sizeof res_entries / sizeof *res_entries; i++)
			if (strlen(res_entries[i].name) == len &&
			    !memcmp(res_entries[i].name, name, len))
				return stat_sub(s, txn, &pd, res_entries[i].sub, out);
		return -ENOENT;
	}
	struct cf_stat pst;
	rc = stat_sub(s, txn, &pd, sub, &pst); /* does the parent exist? */
	if (rc)
		return rc;
	if ((pst.mode & S_IFMT) != S_IFDIR)
		return -ENOTDIR;
	if (sub == CF_SUB_SNAPSHOTS || sub == CF_SUB_CLONES) {
		if ((rc = alias_get(s, txn, pd.base, sub, name, len, &d)))
			return rc;
		stat_dirent(&d, CF_INO(d.base, CF_SUB_ALIAS), out);
		return 0;
	}
	/* disks/ of an instance */
	struct rec c;
	rc = store_get_rec(s, txn, pd.base, &c);
	if (rc)
		return rc;
	const unsigned char *p = c.links;
	for (unsigned i = 0; i < c.nlinks; i++) {
		struct sv l = link_next(&p);
		size_t nl;
		const char *ln = last_component(l.p, l.n, &nl);
		if (nl == len && !memcmp(ln, name, len))
			return stat_sub(s, txn, &pd, CF_SUB_DISK_LINK0 + i, out);
	}
	return -ENOENT;
}

int cf_store_lookup(struct cf_store *s, uint64_t parent, const char *name, struct cf_stat *out)
{
	struct rtx *t;
	if (!s || !name || !out)
		return -EINVAL;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	rc = lookup_in(s, t->txn, parent, name, strlen(name), out);
	rend(t);
	return rc;
}

static int getattr_in(struct cf_store *s, MDB_txn *txn, uint64_t ino, struct cf_stat *out)
{
	struct cf_dirent d;
	unsigned sub = CF_SUB_DIR;
	int rc = ino == CF_INO_ROOT ? store_node_dirent(s, txn, ino, &d, NULL, NULL, NULL)
				    : node_view(s, txn, ino, &d, &sub);
	if (rc)
		return rc;
	if (sub == CF_SUB_DIR) {
		stat_dirent(&d, ino, out);
		return 0;
	}
	return stat_sub(s, txn, &d, sub, out);
}

int cf_store_getattr(struct cf_store *s, uint64_t ino, struct cf_stat *out)
{
	struct rtx *t;
	if (!s || !out)
		return -EINVAL;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	rc = getattr_in(s, t->txn, ino, out);
	rend(t);
	return rc;
}

/* Every entry stored under `ino` in dirs, in name order; with after, only
 * those whose names sort after it. */
static int readdir_range(struct rtx *t, uint64_t ino, const char *after, size_t alen, cf_dir_fn fn,
			 void *ctx)
{
	MDB_cursor *c;
	bool temp;
	int rc = rcursor(t, &c, &temp);
	if (rc)
		return rc;
	MDB_val v;
	struct sv name;
	struct cf_dirent d;
	struct cf_stat st;
	bool first = true;
	if (after) {
		/* The first duplicate at or past "after\0": after itself (skipped),
		 * or, when it is gone, the first name past it. */
		unsigned char vb[CF_NAME_MAX + 1];
		MDB_val k = {8, &ino};
		if (alen > CF_NAME_MAX) {
			rc = -EINVAL;
			goto out;
		}
		memcpy(vb, after, alen);
		vb[alen] = '\0';
		v = (MDB_val){alen + 1, vb};
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
		if (rc == 0 && v.mv_size > alen && !memcmp(v.mv_data, after, alen) &&
		    ((const char *) v.mv_data)[alen] == '\0')
			rc = dir_step(c, &ino, &v, false);
		first = false;
	}
	for (rc = first ? dir_step(c, &ino, &v, true) : rc; rc == 0;
	     rc = dir_step(c, &ino, &v, false)) {
		if ((rc = dirent_split(&v, &name, &d)))
			goto out;
		stat_dirent(&d, CF_INO(d.base, 0), &st);
		if (fn(ctx, name.p, name.n, &st))
			break;
	}
	if (rc == MDB_NOTFOUND)
		rc = 0;
	else if (rc)
		rc = lmdb_err(rc, "list a directory");
out:
	if (temp)
		mdb_cursor_close(c);
	return rc;
}

static int readdir_in(struct rtx *t, uint64_t ino, const char *after, size_t alen, bool *resumable,
		      cf_dir_fn fn, void *ctx)
{
	*resumable = false;
	struct cf_store *s = t->s;
	struct cf_dirent d;
	struct cf_stat st;
	unsigned sub = CF_INO_SUB(ino);
	int rc;
	if (ino == CF_INO_ROOT || ino == CF_INO_TRASH) {
		*resumable = true;
		return readdir_range(t, ino, after, alen, fn, ctx);
	}
	if ((rc = node_view(s, t->txn, ino, &d, &sub)))
		return rc;
	if (sub == CF_SUB_DIR && d.type == CF_NODE_CONTAINER) {
		*resumable = true;
		return readdir_range(t, ino, after, alen, fn, ctx);
	}
	if (after && sub != CF_SUB_SNAPSHOTS && sub != CF_SUB_CLONES)
		return -EINVAL; /* not resumable: the caller was told so */
	if (sub == CF_SUB_DIR) {
		for (size_t i = 0; i < sizeof res_entries / sizeof *res_entries; i++) {
			rc = stat_sub(s, t->txn, &d, res_entries[i].sub, &st);
			if (rc == -ENOENT)
				continue;
			if (rc)
				return rc;
			if (fn(ctx, res_entries[i].name, strlen(res_entries[i].name), &st))
				break;
		}
		return 0;
	}
	rc = stat_sub(s, t->txn, &d, sub, &st);
	if (rc)
		return rc;
	if ((st.mode & S_IFMT) != S_IFDIR)
		return -ENOTDIR;
	if (sub == CF_SUB_SNAPSHOTS || sub == CF_SUB_CLONES) {
		struct alias_ls ls = {fn, ctx};
		*resumable = true;
		return store_alias_each(s, t->txn, d.base, sub, after, alen, alias_ls_fn, &ls);
	}
	struct rec c;
	if ((rc = store_get_rec(s, t->txn, d.base, &c)))
		return rc;
	const unsigned char *p = c.links;
	for (unsigned i = 0; i < c.nlinks; i++) {
		struct sv l = link_next(&p);
		size_t nl;
		const char *ln = last_component(l.p, l.n, &nl);
		stat_file(&d, CF_INO(d.base, CF_SUB_DISK_LINK0 + i), S_IFLNK | 0777,
			  3ull * (d.depth + 1) + l.n, &st);
		if (fn(ctx, ln, nl, &st))
			break;
	}
	return 0;
}

int cf_store_readdir_after(struct cf_store *s, uint64_t ino, const char *after, size_t alen,
			   bool *resumable, cf_dir_fn fn, void *ctx)
{
	struct rtx *t;
	bool dummy;
	if (!s || !fn)
		return -EINVAL;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	rc = readdir_in(t, ino, after, alen, resumable ? resumable : &dummy, fn, ctx);
	rend(t);
	return rc;
}

int cf_store_readdir(struct cf_store *s, uint64_t ino, cf_dir_fn fn, void *ctx)
{
	return cf_store_readdir_after(s, ino, NULL, 0, NULL, fn, ctx);
}

static int fmt_link(char *buf, size_t size, unsigned ups, struct sv target)
{
	size_t n = 3 * (size_t) ups + target.n;
	if (n + 1 > size)
		return -ENAMETOOLONG;
	for (unsigned i = 0; i < ups; i++)
		memcpy(buf + 3 * i, "../", 3);
	memcpy(buf + 3 * (size_t) ups, target.p, target.n);
	buf[n] = '\0';
	return (int) n;
}

int cf_store_readlink(struct cf_store *s, uint64_t ino, char *buf, size_t size)
{
	struct rtx *t;
	struct cf_dirent d;
	struct rec c;
	unsigned sub = CF_SUB_NODE(CF_INO_SUB(ino));
	if (!s || !buf)
		return -EINVAL;
	if (ino == CF_INO_ROOT || sub == CF_SUB_DIR)
		return -EINVAL;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	struct cf_stat st;
	rc = node_view(s, t->txn, ino, &d, &sub);
	if (!rc)
		rc = stat_sub(s, t->txn, &d, sub, &st);
	if (!rc && (st.mode & S_IFMT) != S_IFLNK)
		rc = -EINVAL;
	if (!rc)
		rc = store_get_rec(s, t->txn, d.base, &c);
	if (!rc && sub == CF_SUB_SOURCE) {
		rc = fmt_link(buf, size, d.depth, c.source);
	} else if (!rc) {
		const unsigned char *p = c.links;
		struct sv l = {NULL, 0};
		unsigned i = sub - CF_SUB_DISK_LINK0;
		if (i >= c.nlinks)
			rc = -ENOENT;
		for (unsigned j = 0; !rc && j <= i; j++)
			l = link_next(&p);
		if (!rc)
			rc = fmt_link(buf, size, d.depth + 1, l);
	}
	rend(t);
	return rc;
}

/* resource.json of node ino: its record says where (read in a transaction
 * of its own), the file is read after it. A hash that does not match means
 * a compaction moved the document since: read the record again, once. */
static int read_doc(struct cf_store *s, uint64_t ino, char **data, size_t *len)
{
	for (int attempt = 0;; attempt++) {
		struct rtx *t;
		struct cf_dirent d;
		struct rec c;
		unsigned sub;
		memset(&c, 0, sizeof c);
		int rc = rbegin(s, &t);
		if (rc)
			return rc;
		rc = node_view(s, t->txn, ino, &d, &sub);
		if (!rc)
			rc = store_get_rec(s, t->txn, d.base, &c);
		uint64_t ref = c.doc_ref, hash = c.raw_hash;
		size_t n = rc ? 0 : c.doc_len;
		rend(t);
		if (rc)
			return rc;
		char *buf = malloc(n ? n : 1);
		if (!buf)
			return -ENOMEM;
		if (!hash || (!cf_docs_read(s->docs, DOC_FILE(ref), DOC_OFF(ref), buf, n) &&
			      (cf_hash64(buf, n) | 1) == hash)) {
			*data = buf;
			*len = hash ? n : 0;
			return 0;
		}
		free(buf);
		if (attempt > 0) {
			cf_err("store: the resource.json of inode %llu (%zu bytes at %llu of "
			       "docs.%d) is missing or damaged",
			       (unsigned long long) ino, n, (unsigned long long) DOC_OFF(ref),
			       DOC_FILE(ref));
			return -EIO;
		}
	}
}

int cf_store_read(struct cf_store *s, uint64_t ino, char **data, size_t *len)
{
	struct rtx *t;
	struct cf_dirent d;
	unsigned sub = CF_SUB_NODE(CF_INO_SUB(ino));
	if (!s || !data || !len)
		return -EINVAL;
	*data = NULL;
	*len = 0;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	struct cf_stat st;
	if (ino == CF_INO_ROOT || sub == CF_SUB_DIR) {
		rc = getattr_in(s, t->txn, ino, &st);
		rend(t);
		return rc ? rc : -EISDIR;
	}
	rc = node_view(s, t->txn, ino, &d, &sub);
	if (!rc)
		rc = stat_sub(s, t->txn, &d, sub, &st);
	if (rc)
		goto out;
	if ((st.mode & S_IFMT) == S_IFDIR) {
		rc = -EISDIR;
	} else if (sub == CF_SUB_STATUS) {
		struct rec c;
		if ((rc = store_get_rec(s, t->txn, d.base, &c)))
			goto out;
		*data = malloc(c.status.n + 1);
		if (!*data) {
			rc = -ENOMEM;
			goto out;
		}
		if (c.status.n)
			memcpy(*data, c.status.p, c.status.n);
		(*data)[c.status.n] = '\n';
		*len = c.status.n + 1;
	} else if (sub == CF_SUB_JSON) {
		rend(t);
		return read_doc(s, ino, data, len);
	} else {
		rc = -EINVAL; /* a symlink */
	}
out:
	rend(t);
	return rc;
}

/* The decoded record of the resource that directory ino shows. */
static int res_of(struct cf_store *s, MDB_txn *txn, uint64_t ino, struct rec *c)
{
	struct cf_dirent d;
	unsigned sub;
	if (ino == CF_INO_ROOT)
		return -ENOENT;
	/* A resource's own node is keyed by its base in res, and a record there
	 * means a resource: remove_member deletes it with the entry. One B-tree
	 * lookup instead of three (node, entry, record) for every xattr request;
	 * only an alias needs its view. */
	if (CF_INO_SUB(ino) < CF_SUB_ALIAS)
		return store_get_rec(s, txn, CF_INO_BASE(ino), c);
	uint64_t dir = CF_INO(CF_INO_BASE(ino), CF_SUB_ALIAS);
	int rc = node_view(s, txn, dir, &d, &sub);
	if (rc)
		return rc;
	if (!is_resource(&d))
		return -ENOENT;
	return store_get_rec(s, txn, d.base, c);
}

int cf_store_labels_view(struct cf_store *s, uint64_t ino, cf_labels_fn fn, void *ctx)
{
	struct rtx *t;
	struct rec c;
	if (!s || !fn)
		return -EINVAL;
	if (CF_SUB_NODE(CF_INO_SUB(ino)) != CF_SUB_DIR)
		return -ENOENT;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	rc = res_of(s, t->txn, ino, &c);
	if (!rc)
		rc = fn(ctx, c.labels.n ? c.labels.p : "", c.labels.n, c.nlabels);
	rend(t);
	return rc;
}

struct labels_copy {
	char **blob;
	size_t *len, *n;
};

static int copy_labels(void *ctx, const char *blob, size_t len, size_t n)
{
	struct labels_copy *lc = ctx;
	*lc->blob = malloc(len ? len : 1);
	if (!*lc->blob)
		return -ENOMEM;
	memcpy(*lc->blob, blob, len);
	*lc->len = len;
	*lc->n = n;
	return 0;
}

int cf_store_labels(struct cf_store *s, uint64_t ino, char **blob, size_t *len, size_t *n)
{
	if (!s || !blob || !len || !n)
		return -EINVAL;
	*blob = NULL;
	*len = *n = 0;
	return cf_store_labels_view(s, ino, copy_labels, &(struct labels_copy){blob, len, n});
}

int cf_store_resource(struct cf_store *s, uint64_t ino, struct cf_resource *out)
{
	struct rtx *t;
	struct rec c;
	if (!s || !out)
		return -EINVAL;
	memset(out, 0, sizeof *out);
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	rc = res_of(s, t->txn, ino, &c);
	if (!rc)
		rc = store_rec_to_resource(&c, out);
	rend(t);
	return rc;
}

int cf_store_ino_of_path(struct cf_store *s, const char *path, uint64_t *ino)
{
	struct rtx *t;
	struct cf_stat st;
	if (!s || !path || !ino)
		return -EINVAL;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	uint64_t cur = CF_INO_ROOT;
	const char *p = path;
	if (in_trash(path, strlen(path))) {
		cur = CF_INO_TRASH;
		p += 5;
	}
	while (*p) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t) (slash - p) : strlen(p);
		if (n) {
			rc = lookup_in(s, t->txn, cur, p, n, &st);
			if (rc)
				break;
			cur = st.ino;
		}
		p += n + (slash ? 1 : 0);
	}
	rend(t);
	if (!rc)
		*ino = cur;
	return rc == -ENOTDIR ? -ENOENT : rc;
}

int cf_store_foreach_resource(struct cf_store *s, cf_res_fn fn, void *ctx)
{
	struct rtx *t;
	MDB_cursor *c;
	if (!s || !fn)
		return -EINVAL;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	int mrc = mdb_cursor_open(t->txn, s->dbi[DB_RES], &c);
	if (mrc) {
		rend(t);
		return lmdb_err(mrc, "open a cursor");
	}
	MDB_val k, v;
	char path[CF_PATH_MAX];
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		trim_tick(t->txn);
		struct rec rc_;
		struct cf_resource r;
		if (store_rec_decode(v.mv_data, v.mv_size, &rc_))
			continue; /* logged; one bad record does not hide the rest */
		if ((rc = store_rec_to_resource(&rc_, &r)))
			break;
		int stop = 0;
		if (cf_resource_path(r.kind, r.scope, r.name, path, sizeof path) >= 0)
			stop = fn(ctx, path, &r);
		cf_resource_clear(&r);
		if (stop)
			break;
	}
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = lmdb_err(mrc, "list resources");
	mdb_cursor_close(c);
	rend(t);
	return rc;
}

/* Put component [p, p + n) (and a '/' after it unless it is the last one)
 * in front of the path being built backwards in buf[*at..]. */
static int prepend(char *buf, size_t *at, const char *p, size_t n, bool last)
{
	if (n + !last > *at)
		return -ENAMETOOLONG;
	if (!last)
		buf[--*at] = '/';
	*at -= n;
	memcpy(buf + *at, p, n);
	return 0;
}

/* The path of node `base`, from the nodes chain up to the root or the
 * trash. */
int store_node_path(struct cf_store *s, MDB_txn *txn, uint64_t base, char *out, size_t size)
{
	char tmp[CF_PATH_MAX + 32];
	char name[CF_NAME_MAX];
	size_t at = sizeof tmp, nlen;
	uint64_t parent;
	int rc;
	for (int hop = 0;; hop++) {
		if (hop > 16) {
			cf_err("store: node %llu is not below the root", (unsigned long long) base);
			return -EIO;
		}
		if ((rc = store_get_node(s, txn, base, &parent, name, &nlen)) ||
		    (rc = prepend(tmp, &at, name, nlen, hop == 0)))
			return rc;
		if (parent == CF_INO_ROOT)
			break;
		if (parent == CF_INO_TRASH) {
			if ((rc = prepend(tmp, &at, "trash", 5, false)))
				return rc;
			break;
		}
		if (CF_INO_SUB(parent) != CF_SUB_DIR ||
		    CF_INO_BASE(parent) <= CF_INO_CONTROL_BASE) {
			cf_err("store: node %llu has parent %llu", (unsigned long long) base,
			       (unsigned long long) parent);
			return -EIO;
		}
		base = CF_INO_BASE(parent);
	}
	size_t len = sizeof tmp - at;
	if (len + 1 > size)
		return -ENAMETOOLONG;
	memcpy(out, tmp + at, len);
	out[len] = '\0';
	return (int) len;
}

int cf_store_path_of(struct cf_store *s, uint64_t ino, char *buf, size_t size, unsigned *sub)
{
	struct rtx *t;
	struct cf_stat st;
	if (!s || !buf)
		return -EINVAL;
	if (ino == CF_INO_ROOT || ino == CF_INO_TRASH) {
		/* Directories themselves: sub is CF_SUB_DIR, whatever their
		 * low bits say. */
		const char *p = ino == CF_INO_ROOT ? "" : "trash";
		size_t n = strlen(p);
		if (n + 1 > size)
			return -ENAMETOOLONG;
		memcpy(buf, p, n + 1);
		if (sub)
			*sub = CF_SUB_DIR;
		return (int) n;
	}
	if (CF_INO_BASE(ino) <= CF_INO_CONTROL_BASE)
		return -ENOENT;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	rc = getattr_in(s, t->txn, ino, &st); /* the node exists now, sub included */
	if (!rc && CF_INO_SUB(ino) >= CF_SUB_ALIAS)
		rc = store_alias_path(s, t->txn, CF_INO_BASE(ino), buf, size);
	else if (!rc)
		rc = store_node_path(s, t->txn, CF_INO_BASE(ino), buf, size);
	rend(t);
	if (rc >= 0 && sub)
		*sub = CF_SUB_NODE(CF_INO_SUB(ino));
	return rc;
}

int cf_store_dependents(struct cf_store *s, const char *path, cf_path_fn fn, void *ctx)
{
	struct rtx *t;
	MDB_cursor *c;
	if (!s || !path || !fn || !*path)
		return -EINVAL;
	size_t plen = strlen(path);
	if (plen > (size_t) mdb_env_get_maxkeysize(s->env))
		return 0; /* no index key can be it */
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	/* Its own cursor: fn may call back into the store. */
	if ((rc = open_cursor(t->txn, s->dbi[DB_BYSRC], &c))) {
		rend(t);
		return rc;
	}
	MDB_val k = {plen, (void *) path}, v;
	int mrc;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		const char *p = v.mv_data;
		size_t n = v.mv_size;
		if (n && *p == BYSRC_ORIGIN)
			p++, n--;
		if (n && fn(ctx, p, n))
			break;
	}
	if (mrc && mrc != MDB_NOTFOUND)
		rc = lmdb_err(mrc, "read the source index");
	mdb_cursor_close(c);
	rend(t);
	return rc;
}

/* The collections whose members can be trashed, and their trash containers. */
static const char *const trash_colls[] = {"global/snapshots", "global/images",
					  "global/machineImages"};

int cf_store_foreach_trashed(struct cf_store *s, cf_res_fn fn, void *ctx)
{
	struct rtx *t;
	MDB_cursor *c = NULL;
	char path[CF_PATH_MAX];
	if (!s || !fn)
		return -EINVAL;
	int rc = rbegin(s, &t), mrc = 0, stop = 0;
	if (rc)
		return rc;
	for (size_t i = 0; !rc && !stop && i < sizeof trash_colls / sizeof *trash_colls; i++) {
		uint64_t base;
		int n = snprintf(path, sizeof path, "trash/%s", trash_colls[i]);
		rc = store_path_get(s, t->txn, path, (size_t) n, &base);
		if (rc) {
			rc = rc == -ENOENT ? 0 : rc;
			continue;
		}
		/* Its own cursor: fn may call back into the store. */
		if (!c && (mrc = mdb_cursor_open(t->txn, s->dbi[DB_DIRS], &c))) {
			rc = lmdb_err(mrc, "open a cursor");
			break;
		}
		uint64_t dir = CF_INO(base, 0);
		MDB_val v;
		size_t clen = strlen(trash_colls[i]);
		for (mrc = dir_step(c, &dir, &v, true); mrc == 0 && !stop;
		     mrc = dir_step(c, &dir, &v, false)) {
			struct cf_dirent d;
			struct sv name;
			struct rec rec;
			struct cf_resource r;
			if (dirent_split(&v, &name, &d) || d.type != CF_NODE_RESOURCE ||
			    clen + 1 + name.n >= sizeof path ||
			    store_get_rec(s, t->txn, d.base, &rec))
				continue; /* logged; one bad entry does not hide the rest */
			if ((rc = store_rec_to_resource(&rec, &r)))
				break;
			memcpy(path, trash_colls[i], clen);
			path[clen] = '/';
			memcpy(path + clen + 1, name.p, name.n);
			path[clen + 1 + name.n] = '\0';
			stop = fn(ctx, path, &r);
			cf_resource_clear(&r);
		}
		if (!rc && mrc && mrc != MDB_NOTFOUND)
			rc = lmdb_err(mrc, "list the trash");
	}
	if (c)
		mdb_cursor_close(c);
	rend(t);
	return rc;
}

int cf_store_get_sync_state(struct cf_store *s, enum cf_listing l, struct cf_sync_state *out)
{
	struct rtx *t;
	char kb[32];
	MDB_val k, v;
	if (!s || !out || (unsigned) l >= CF_LIST__COUNT)
		return -EINVAL;
	memset(out, 0, sizeof *out);
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	sync_key(l, kb, sizeof kb, &k);
	int mrc = mdb_get(t->txn, s->dbi[DB_META], &k, &v);
	if (mrc == MDB_NOTFOUND) {
		rc = 0;
	} else if (mrc) {
		rc = lmdb_err(mrc, "read sync state");
	} else if (v.mv_size != sizeof *out) {
		cf_err("store: sync state of %zu bytes, expected %zu", v.mv_size, sizeof *out);
		rc = -EIO;
	} else {
		memcpy(out, v.mv_data, sizeof *out);
		out->last_error[sizeof out->last_error - 1] = '\0';
	}
	rend(t);
	return rc;
}

/* Every node of a resource directory whose attributes or contents follow
 * its record. */
static int note_resource(struct cf_wtxn *w, uint64_t base)
{
	static const unsigned subs[] = {CF_SUB_DIR, CF_SUB_STATUS, CF_SUB_JSON, CF_SUB_SOURCE};
	for (size_t i = 0; i < sizeof subs / sizeof *subs; i++) {
		int rc = note_inode(w, CF_INO(base, subs[i]));
		if (rc)
			return rc;
	}
	return 0;
}

static struct bcache_slot *bcache_slot(struct cf_store *s, const char *path, size_t len)
{
	if (!s->bcache || len >= BCACHE_PATH)
		return NULL;
	return &s->bcache[cf_hash64(path, len) & (BCACHE_SLOTS - 1)];
}

/* The base of path, or a new one (*created) whose node is `name` in
 * directory `parent`: a search in the path's directory, then a put. */
static int get_or_new_base(struct cf_wtxn *w, const char *path, size_t len, uint64_t parent,
			   const char *name, size_t nlen, uint64_t *base, bool *created)
{
	unsigned char nv[8 + CF_NAME_MAX];
	uint64_t b = w->next_base;
	MDB_cursor *c;
	MDB_val k, v;
	const char *pn;
	size_t pnl;
	int rc;
	*created = false;
	if (nlen > CF_NAME_MAX || path_key(w->s, path, len, &k, &pn, &pnl))
		return -ENAMETOOLONG;
	if ((rc = open_cursor(w->txn, w->s->dbi[DB_PATHS], &c)))
		return rc;
	rc = dup_seek(c, &k, pn, pnl, &v, "read a path");
	if (rc == 0)
		rc = path_base(&v, base);
	if (rc != -ENOENT) {
		mdb_cursor_close(c);
		return rc;
	}
	memcpy(nv, pn, pnl);
	nv[pnl] = '\0';
	memcpy(nv + pnl + 1, &b, 8);
	v = (MDB_val){pnl + 9, nv};
	rc = mdb_cursor_put(c, &k, &v, MDB_NODUPDATA);
	mdb_cursor_close(c);
	if (rc)
		return lmdb_err(rc, "record a path");
	w->writes++;
	*created = true;
	memcpy(nv, &parent, 8);
	memcpy(nv + 8, name, nlen);
	k = (MDB_val){8, &b};
	v = (MDB_val){8 + nlen, nv};
	/* Bases only grow, so a new node always goes at the end. */
	if ((rc = store_wput(w, DB_NODES, &k, &v, MDB_APPEND, "record a node")))
		return rc;
	w->next_base = b + 1;
	w->next_base_dirty = true;
	*base = b;
	return 0;
}

/* The inode of the directory holding path: the root, CF_INO_TRASH, or a
 * container or resource (sub 0). */
static int parent_ino(struct cf_wtxn *w, const char *path, size_t len, uint64_t *pino, int depth)
{
	const char *slash = memrchr(path, '/', len);
	if (!slash) {
		*pino = CF_INO_ROOT;
		return 0;
	}
	size_t plen = (size_t) (slash - path);
	if (plen == 5 && in_trash(path, plen)) {
		*pino = CF_INO_TRASH; /* "trash" itself is not a node */
		return 0;
	}
	uint64_t b;
	int rc = store_resolve(w, path, plen, &b, depth + 1);
	if (rc)
		return rc;
	*pino = CF_INO(b, CF_SUB_DIR);
	return 0;
}

/* The base of path, allocated (with its ancestors') when new. */
int store_resolve(struct cf_wtxn *w, const char *path, size_t len, uint64_t *base, int depth)
{
	struct bcache_slot *c = bcache_slot(w->s, path, len);
	bool created;
	if (c && c->base && c->len == len && !memcmp(c->path, path, len)) {
		*base = c->base;
		return 0;
	}
	int rc = store_path_get(w->s, w->txn, path, len, base);
	if (rc == -ENOENT) {
		if (depth > 8 || !len)
			return -EINVAL;
		uint64_t pino;
		if ((rc = parent_ino(w, path, len, &pino, depth)))
			return rc;
		size_t nlen;
		const char *name = last_component(path, len, &nlen);
		rc = get_or_new_base(w, path, len, pino, name, nlen, base, &created);
	}
	if (!rc && c) {
		c->base = *base;
		c->len = (uint32_t) len;
		memcpy(c->path, path, len);
	}
	return rc;
}

/* Write entry `name` of directory parent (replacing the one there). */
int store_put_dirent(struct cf_wtxn *w, uint64_t parent, const char *name, size_t nlen,
		     const struct cf_dirent *d)
{
	unsigned char vb[CF_NAME_MAX + 1 + sizeof *d];
	MDB_cursor *c;
	MDB_val k = {8, &parent}, v;
	if (nlen > CF_NAME_MAX)
		return -ENAMETOOLONG;
	int rc = open_cursor(w->txn, w->s->dbi[DB_DIRS], &c);
	if (rc)
		return rc;
	rc = dup_seek(c, &k, name, nlen, &v, "read a directory entry");
	/* A duplicate is replaced by deleting it: its bytes are the sort key. */
	if (!rc && (rc = mdb_cursor_del(c, 0)))
		rc = lmdb_err(rc, "replace a directory entry");
	else if (rc == -ENOENT)
		rc = 0;
	if (!rc) {
		memcpy(vb, name, nlen);
		vb[nlen] = '\0';
		memcpy(vb + nlen + 1, d, sizeof *d);
		v = (MDB_val){nlen + 1 + sizeof *d, vb};
		if ((rc = mdb_cursor_put(c, &k, &v, 0)))
			rc = lmdb_err(rc, "write a directory entry");
		else
			w->writes++;
	}
	mdb_cursor_close(c);
	return rc;
}

/* Remove entry `name` of directory parent: 1, 0 when it was not there, or
 * an error. */
int store_del_dirent(struct cf_wtxn *w, uint64_t parent, const char *name, size_t nlen,
		     const char *what)
{
	MDB_cursor *c;
	MDB_val k = {8, &parent}, v;
	int rc = open_cursor(w->txn, w->s->dbi[DB_DIRS], &c);
	if (rc)
		return rc;
	rc = dup_seek(c, &k, name, nlen, &v, what);
	if (!rc) {
		if ((rc = mdb_cursor_del(c, 0)))
			rc = lmdb_err(rc, what);
		else {
			w->writes++;
			rc = 1;
		}
	} else if (rc == -ENOENT) {
		rc = 0;
	}
	mdb_cursor_close(c);
	return rc;
}

/* Make sure container `path` exists (its parent must). */
int store_ensure_container(struct cf_wtxn *w, const char *path, size_t len)
{
	uint64_t base, pino;
	struct cf_dirent d;
	size_t nlen;
	const char *name = last_component(path, len, &nlen);
	int rc;
	if ((rc = store_resolve(w, path, len, &base, 0)) ||
	    (rc = parent_ino(w, path, len, &pino, 0)))
		return rc;
	rc = store_get_dirent(w->s, w->txn, pino, name, nlen, &d);
	if (rc != -ENOENT)
		return rc;
	container_init(&d, w->now);
	d.base = base;
	/* Components from the mount root: the trash is in .clonefs/. */
	d.depth = components(path, len) + (in_trash(path, len) ? 1 : 0);
	if ((rc = store_put_dirent(w, pino, name, nlen, &d)))
		return rc;
	return note_entry(w, pino, name, nlen);
}

/* "zones/Z" or "regions/R" with its collections. */
static int ensure_scope_path(struct cf_wtxn *w, const char *scope)
{
	char p[CF_PATH_MAX];
	size_t len = strlen(scope);
	bool zone = !strncmp(scope, "zones/", 6);
	int rc;
	if (!strcmp(w->last_scope, scope))
		return 0;
	if (!zone && strncmp(scope, "regions/", 8))
		return -EINVAL;
	const char *name = scope + (zone ? 6 : 8);
	if (!cf_name_is_safe(name, strlen(name)) || len + 16 >= sizeof p)
		return -EINVAL;
	if ((rc = store_ensure_container(w, zone ? "zones" : "regions", zone ? 5 : 7)) ||
	    (rc = store_ensure_container(w, scope, len)))
		return rc;
	const char *colls[] = {"disks", zone ? "instances" : NULL};
	for (size_t i = 0; i < 2 && colls[i]; i++) {
		int n = snprintf(p, sizeof p, "%s/%s", scope, colls[i]);
		if ((rc = store_ensure_container(w, p, (size_t) n)))
			return rc;
	}
	snprintf(w->last_scope, sizeof w->last_scope, "%s", scope);
	return 0;
}

int cf_store_ensure_scope(struct cf_wtxn *w, enum cf_kind kind, const char *name)
{
	char scope[CF_PATH_MAX];
	if (!w || !name || (kind != CF_KIND_ZONE && kind != CF_KIND_REGION))
		return -EINVAL;
	if (!cf_name_is_safe(name, strlen(name)))
		return -EINVAL;
	snprintf(scope, sizeof scope, "%s/%s", kind == CF_KIND_ZONE ? "zones" : "regions", name);
	return ensure_scope_path(w, scope);
}

/* bysrc: MDB_DUPSORT, the key a source's path, a duplicate per dependent:
 * its path, after a BYSRC_ORIGIN byte when the key is its origin (i 1)
 * rather than its source (i 0). */
static int bysrc_kv(struct cf_wtxn *w, struct sv src, int i, const char *path, size_t plen,
		    unsigned char *vb, MDB_val *k, MDB_val *v)
{
	size_t max = (size_t) mdb_env_get_maxkeysize(w->s->env);
	if (src.n > max || plen + (size_t) i > max)
		return -ENAMETOOLONG;
	*k = (MDB_val){src.n, (void *) src.p};
	vb[0] = BYSRC_ORIGIN;
	memcpy(vb + i, path, plen);
	*v = (MDB_val){plen + (size_t) i, vb};
	return 0;
}

/* Keep bysrc entries want[i] => path exactly (the old ones were had[i]). */
static int update_bysrc(struct cf_wtxn *w, const char *path, size_t plen, struct sv had[2],
			struct sv want[2])
{
	unsigned char vb[CF_PATH_MAX + 1];
	MDB_val k, v;
	int rc;
	if (plen >= CF_PATH_MAX)
		return -ENAMETOOLONG;
	for (int i = 0; i < 2; i++) {
		if (sv_eq(had[i], want[i]))
			continue;
		if (had[i].n && !bysrc_kv(w, had[i], i, path, plen, vb, &k, &v)) {
			rc = mdb_del(w->txn, w->s->dbi[DB_BYSRC], &k, &v);
			if (rc && rc != MDB_NOTFOUND)
				return lmdb_err(rc, "update the source index");
			if (!rc)
				w->writes++;
		}
		if (!want[i].n)
			continue;
		if ((rc = bysrc_kv(w, want[i], i, path, plen, vb, &k, &v)))
			return rc;
		rc = mdb_put(w->txn, w->s->dbi[DB_BYSRC], &k, &v, MDB_NODUPDATA);
		if (rc && rc != MDB_KEYEXIST)
			return lmdb_err(rc, "update the source index");
		if (!rc)
			w->writes++;
	}
	return 0;
}

static size_t slen0(const char *s)
{
	return s ? strlen(s) : 0;
}

static bool has_label(const struct cf_resource *r, const char *key)
{
	for (size_t i = 0; i < r->nlabels; i++)
		if (r->labels[i].key && !strcmp(r->labels[i].key, key))
			return true;
	return false;
}

/* Point node `base` at entry `name` of directory `parent` (it moved). */
static int put_node(struct cf_wtxn *w, uint64_t base, uint64_t parent, const char *name,
		    size_t nlen)
{
	unsigned char nv[8 + CF_NAME_MAX];
	memcpy(nv, &parent, 8);
	memcpy(nv + 8, name, nlen);
	MDB_val k = {8, &base}, v = {8 + nlen, nv};
	return store_wput(w, DB_NODES, &k, &v, 0, "move a node");
}

/* Remove entry `name` of container `parent`, reporting it (the container's
 * mtime is recomputed at commit). */
static int drop_entry(struct cf_wtxn *w, uint64_t parent, const char *name, size_t nlen)
{
	int rc = store_del_dirent(w, parent, name, nlen, "remove a directory entry");
	if (rc <= 0)
		return rc;
	if ((rc = note_entry(w, parent, name, nlen)))
		return rc;
	return mark_recompute(w, parent);
}

/* Find the current entry of resource `path` (name in collection cino),
 * whose entry belongs in tino (cino, or its trash container): in tino (the
 * common case, one get), in the collection when moving into the trash, or,
 * for a path already known, where its node says (leaving the trash). Sets
 * *have_old with od and *oino, *base and *fresh (a path seen for the first
 * time, whose node now points at tino), *node_parent (where its node points)
 * and *stale (a damaged entry elsewhere, to remove; 0 = none). */
static int locate(struct cf_wtxn *w, const char *path, size_t plen, uint64_t cino, uint64_t tino,
		  const char *name, size_t nlen, struct cf_dirent *od, bool *have_old,
		  uint64_t *oino, uint64_t *base, bool *fresh, uint64_t *node_parent,
		  uint64_t *stale)
{
	char nm[CF_NAME_MAX];
	size_t nn;
	uint64_t where[2] = {tino, cino};
	int rc;
	*have_old = *fresh = false;
	*stale = 0;
	/* A damaged entry (-EIO, logged) is overwritten where it belongs and
	 * removed elsewhere: the writer repairs. */
	for (int i = 0; i < (tino == cino ? 1 : 2) && !*have_old; i++) {
		rc = store_get_dirent(w->s, w->txn, where[i], name, nlen, od);
		if (rc && rc != -ENOENT && rc != -EIO)
			return rc;
		*have_old = rc == 0 && od->type == CF_NODE_RESOURCE;
		*oino = where[i];
		if (i > 0 && rc == -EIO)
			*stale = where[i];
	}
	if (*have_old) {
		*base = od->base;
		*node_parent = *oino;
		return 0;
	}
	if ((rc = get_or_new_base(w, path, plen, tino, name, nlen, base, fresh)))
		return rc;
	*node_parent = tino;
	if (*fresh)
		return 0;
	/* Known, and not where we looked: removed (its node still points
	 * where it was), or leaving the trash. */
	if ((rc = store_get_node(w->s, w->txn, *base, node_parent, nm, &nn)))
		return rc;
	if (*node_parent == cino || *node_parent == tino || CF_INO_SUB(*node_parent) != CF_SUB_DIR)
		return 0;
	rc = store_get_dirent(w->s, w->txn, *node_parent, name, nlen, od);
	if (rc && rc != -ENOENT && rc != -EIO)
		return rc;
	*have_old = rc == 0 && od->type == CF_NODE_RESOURCE && od->base == *base;
	*oino = *node_parent;
	if (rc == -EIO)
		*stale = *node_parent;
	return 0;
}

int cf_store_upsert(struct cf_wtxn *w, const struct cf_resource *r, bool *changed)
{
	char path[CF_PATH_MAX];
	char old_src[CF_PATH_MAX], old_org[CF_PATH_MAX];
	uint64_t cbase, base;
	struct cf_dirent od, nd;
	unsigned nlinks;
	bool protect;
	int rc;

	if (changed)
		*changed = false;
	if (!w || !w->txn || !r)
		return -EINVAL;
	uint64_t writes0 = w->writes;
	if (r->kind == CF_KIND_ZONE || r->kind == CF_KIND_REGION) {
		rc = cf_store_ensure_scope(w, r->kind, r->name);
		goto out;
	}
	int plen = cf_resource_path(r->kind, r->scope, r->name, path, sizeof path);
	if (plen < 0)
		return plen;
	/* Everything that can refuse a resource is checked before the first
	 * write, so a refused one leaves the transaction usable. */
	size_t nlen = strlen(r->name), clen = (size_t) plen - nlen - 1;
	size_t maxkey = (size_t) mdb_env_get_maxkeysize(w->s->env);
	size_t ssrc = slen0(r->source), sorg = slen0(r->origin);
	if (r->raw_len > CF_RAW_MAX || slen0(r->status) > 0xffff || ssrc >= CF_PATH_MAX ||
	    sorg >= CF_PATH_MAX)
		return -EINVAL;
	if ((size_t) plen > maxkey || (ssrc && ssrc + 1 + (size_t) plen > maxkey) ||
	    (sorg && sorg + 1 + (size_t) plen > maxkey) || (ssrc && ssrc + 11 + nlen > maxkey))
		return -ENAMETOOLONG;
	if ((rc = store_rec_encode(&w->rec, r, w->s->protect, &nlinks, &protect)))
		return rc;
	struct rec nrec;
	if ((rc = store_rec_decode(w->rec.p, w->rec.len, &nrec)))
		return rc;
	bool global = !strcmp(r->scope, "global");
	if (!global && (rc = ensure_scope_path(w, r->scope)))
		return rc;
	/* Paths never go away, so the collection's base can be remembered. */
	if (clen == w->coll_len && !memcmp(path, w->coll_path, clen)) {
		cbase = w->coll_base;
	} else {
		if ((rc = store_resolve(w, path, clen, &cbase, 0)))
			return rc;
		memcpy(w->coll_path, path, clen);
		w->coll_len = clen;
		w->coll_base = cbase;
	}
	uint64_t cino = CF_INO(cbase, 0), tino = cino;
	/* The label puts a global resource in the trash instead. */
	bool trash = global && has_label(r, CF_TRASH_LABEL);
	if (trash) {
		char tpath[CF_PATH_MAX + 8];
		uint64_t tbase;
		int tn = snprintf(tpath, sizeof tpath, "trash/%.*s", (int) clen, path);
		if ((rc = store_resolve(w, tpath, (size_t) tn, &tbase, 0)))
			return rc;
		tino = CF_INO(tbase, 0);
	}
	/* The entry holds the base: one search when the resource is known. A
	 * path seen for the first time has no record or document yet: the
	 * lookups for them are skipped (the first sync's cost). */
	bool have_old, fresh;
	uint64_t oino = 0, node_parent = 0, stale = 0;
	if ((rc = locate(w, path, (size_t) plen, cino, tino, r->name, nlen, &od, &have_old, &oino,
			 &base, &fresh, &node_parent, &stale)))
		return rc;
	bool moved = have_old && oino != tino;
	/* A page read before the write path stored or removed this resource
	 * is older than what the store holds: it must not undo it. */
	if (w->fetched && !fresh && recent_at(w->s, base) >= w->fetched) {
		cf_debug("store: %s: the page was read before a write to it; left as it is", path);
		rc = 0;
		goto out;
	}

	memset(&nd, 0, sizeof nd);
	nd.base = base;
	nd.mtime = r->created;
	nd.mtime_ns = r->created_ns;
	nd.size = r->size_bytes;
	nd.blocks = r->stored_bytes / 512 + (r->stored_bytes % 512 != 0);
	nd.json_len = r->raw ? (uint32_t) r->raw_len : 0;
	nd.status_len = (uint16_t) slen0(r->status);
	nd.source_len = (uint16_t) slen0(r->source);
	nd.nlinks = (uint16_t) nlinks;
	nd.type = CF_NODE_RESOURCE;
	nd.kind = (uint8_t) r->kind;
	nd.flags = (protect ? CF_DIRENT_PROTECTED : 0) | (trash ? DIRENT_TRASHED : 0);
	/* Components of the path from the mount root to the resource (for
	 * relative symlinks): global/snapshots/S, zones/Z/disks/D,
	 * .clonefs/trash/global/snapshots/S. */
	nd.depth = trash ? 5 : global ? 3 : 4;

	nd.ctime = have_old ? od.ctime : r->created;

	/* The old record: equal bytes mean nothing to write. */
	MDB_val k = {8, &base}, v;
	bool rec_same = false, have_rec = false, raw_same = false;
	uint64_t old_ref = 0, ref = 0;
	uint32_t old_len = 0;
	struct sv had[2] = {{NULL, 0}, {NULL, 0}};
	int mrc = fresh ? MDB_NOTFOUND : mdb_get(w->txn, w->s->dbi[DB_RES], &k, &v);
	if (mrc && mrc != MDB_NOTFOUND)
		return lmdb_err(mrc, "read a resource");
	if (!mrc) {
		struct rec orec;
		/* Equal bytes but for where the document is: nothing changed (the
		 * record holds the document's hash and length). */
		const unsigned char *ob = v.mv_data, *nb = (const unsigned char *) w->rec.p;
		size_t tail = REC_DOC_REF + 8;
		rec_same = v.mv_size == w->rec.len && w->rec.len >= tail &&
			   !memcmp(ob, nb, REC_DOC_REF) &&
			   !memcmp(ob + tail, nb + tail, w->rec.len - tail);
		raw_same = rec_same;
		/* A damaged record (logged) is simply rewritten. */
		have_rec = !rec_same && store_rec_decode(v.mv_data, v.mv_size, &orec) == 0;
		if (have_rec) {
			raw_same = orec.raw_hash == nrec.raw_hash && orec.doc_len == nrec.doc_len;
			if (orec.raw_hash) {
				old_ref = orec.doc_ref;
				old_len = orec.doc_len;
			}
			if (have_old &&
			    (!sv_eq(orec.status, nrec.status) || orec.nlabels != nrec.nlabels ||
			     !sv_eq(orec.labels, nrec.labels)))
				nd.ctime = w->now;
			/* Copied: the puts below may move the pages they point into. */
			memcpy(old_src, orec.source.p, orec.source.n);
			memcpy(old_org, orec.origin.p, orec.origin.n);
			had[0] = (struct sv){old_src, orec.source.n};
			had[1] = (struct sv){old_org, orec.origin.n};
		}
	}
	bool dirent_same = have_old && !moved && !memcmp(&od, &nd, sizeof nd);
	bool want_raw = r->raw && r->raw_len;

	if (rec_same && dirent_same && !stale)
		goto out;

	if (!rec_same) {
		/* The same document stays where it is; a new one is appended and
		 * the old one becomes garbage for the compaction. */
		if (raw_same)
			ref = old_ref;
		else if (want_raw && (rc = doc_append(w, r->raw, r->raw_len, &ref)))
			return rc;
		if (!raw_same && old_len)
			doc_drop(w, old_ref, old_len);
		memcpy(w->rec.p + REC_DOC_REF, &ref, 8);
		k = (MDB_val){8, &base};
		v = (MDB_val){w->rec.len, w->rec.p};
		/* A fresh base is the largest key there is: append. */
		if ((rc =
			 store_wput(w, DB_RES, &k, &v, fresh ? MDB_APPEND : 0, "write a resource")))
			return rc;
	}
	/* Into or out of the trash: the entry leaves its old directory (whose
	 * mtime is recomputed) and the node follows; the inode stays. */
	if (stale && (rc = drop_entry(w, stale, r->name, nlen)) < 0)
		return rc;
	if (moved && (rc = drop_entry(w, oino, r->name, nlen)) < 0)
		return rc;
	if (!dirent_same && (rc = store_put_dirent(w, tino, r->name, nlen, &nd)))
		return rc;
	if (node_parent != tino && (rc = put_node(w, base, tino, r->name, nlen)))
		return rc;
	if (!have_old || moved)
		rc = note_entry(w, tino, r->name, nlen);
	if (!rc && have_old)
		rc = note_resource(w, base);
	if (rc)
		return rc;
	if (!have_old || moved || od.mtime != nd.mtime || od.mtime_ns != nd.mtime_ns) {
		if ((rc = store_bump(w, tino, nd.mtime, nd.mtime_ns)))
			return rc;
		if (have_old && !moved && newer(od.mtime, od.mtime_ns, nd.mtime, nd.mtime_ns) &&
		    (rc = mark_recompute(w, tino)))
			return rc;
	}

	/* Lineage index and the alias under the source. A trashed resource
	 * keeps its index entries (it still exists) but has no alias. */
	struct sv want[2] = {{r->source, slen0(r->source)}, {r->origin, slen0(r->origin)}};
	if (!rec_same && (rc = update_bysrc(w, path, (size_t) plen, had, want)))
		return rc;
	if (rec_same) {
		had[0] = want[0];
		had[1] = want[1];
	}
	bool was_trashed = have_old && oino != cino;
	unsigned old_sub = !have_old || was_trashed ? 0 : store_alias_sub(r->kind, had[0]);
	unsigned new_sub = trash ? 0 : store_alias_sub(r->kind, want[0]);
	bool kept = old_sub && old_sub == new_sub && sv_eq(had[0], want[0]);
	if (old_sub && !kept && (rc = store_remove_alias(w, had[0], old_sub, r->name, nlen)))
		return rc;
	if (new_sub && (rc = store_show_alias(w, r->source, want[0].n, new_sub, r->name, nlen, &nd,
					      kept ? &od : NULL, !raw_same)))
		return rc;
	if (!w->fetched)
		store_recent_note(w->s, base, r->kind);
	rc = 0;
out:
	if (!rc && changed)
		*changed = w->writes != writes0;
	return rc;
}

/* Remove member `name` (a resource) of container cino, whose path is path;
 * note: the write path removes it (remembered, see struct recent). */
int store_remove_member(struct cf_wtxn *w, const char *path, size_t plen, uint64_t cino,
			const char *name, size_t nlen, bool note)
{
	struct cf_dirent d;
	struct rec c;
	char src[CF_PATH_MAX], org[CF_PATH_MAX];
	struct sv had[2] = {{NULL, 0}, {NULL, 0}}, none[2] = {{NULL, 0}, {NULL, 0}};
	MDB_val k;
	enum cf_kind kind = CF_KIND_NONE;
	int rc = store_get_dirent(w->s, w->txn, cino, name, nlen, &d);
	if (rc)
		return rc;
	if (d.type != CF_NODE_RESOURCE)
		return -EINVAL;
	uint64_t base = d.base;
	if (store_get_rec(w->s, w->txn, base, &c) == 0) {
		memcpy(src, c.source.p, c.source.n);
		memcpy(org, c.origin.p, c.origin.n);
		had[0] = (struct sv){src, c.source.n};
		had[1] = (struct sv){org, c.origin.n};
		kind = (enum cf_kind) c.kind;
		if (c.raw_hash)
			doc_drop(w, c.doc_ref, c.doc_len);
	}
	if ((rc = update_bysrc(w, path, plen, had, none)))
		return rc;
	unsigned sub = d.flags & DIRENT_TRASHED ? 0 : store_alias_sub(kind, had[0]);
	if (sub && (rc = store_remove_alias(w, had[0], sub, name, nlen)))
		return rc;
	k = (MDB_val){8, &base};
	if ((rc = store_wdel(w, DB_RES, &k, "remove a resource")) < 0)
		return rc;
	if ((rc = store_del_dirent(w, cino, name, nlen, "remove a directory entry")) < 0)
		return rc;
	if ((rc = note_entry(w, cino, name, nlen)))
		return rc;
	if (note) {
		if (kind == CF_KIND_NONE)
			cf_path_parse(path, &kind, NULL, 0, NULL, 0);
		store_recent_note(w->s, base, kind);
	}
	return mark_recompute(w, cino);
}

int cf_store_remove(struct cf_wtxn *w, const char *path)
{
	char name[CF_NAME_MAX + 1];
	uint64_t cbase;
	if (!w || !w->txn || !path)
		return -EINVAL;
	if (cf_path_parse(path, NULL, NULL, 0, name, sizeof name))
		return -EINVAL;
	size_t plen = strlen(path), nlen = strlen(name), clen = plen - nlen - 1;
	int rc = store_path_get(w->s, w->txn, path, clen, &cbase);
	if (rc)
		return rc;
	rc = store_remove_member(w, path, plen, CF_INO(cbase, 0), name, nlen, !w->fetched);
	if (rc != -ENOENT || strncmp(path, "global/", 7))
		return rc;
	/* Not in its collection: perhaps in the trash. */
	char tpath[CF_PATH_MAX + 8];
	int tn = snprintf(tpath, sizeof tpath, "trash/%.*s", (int) clen, path);
	if ((size_t) tn >= sizeof tpath || store_path_get(w->s, w->txn, tpath, (size_t) tn, &cbase))
		return -ENOENT;
	return store_remove_member(w, path, plen, CF_INO(cbase, 0), name, nlen, !w->fetched);
}
