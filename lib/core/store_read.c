/* store_read.c — the read side: one read transaction per thread (reset
 * between calls, renewed by the next), its cursors, the point reads of the
 * tables, and every read call of store.h (lookup, getattr, readdir, readlink,
 * read, labels, paths, dependents, the trash). */
#include "store_int.h"

#include <stdlib.h>
#include <sys/stat.h>

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
		int rc = get_node(s, txn, base, &p, nm, &n);
		if (rc)
			return rc;
	}
	if (parent)
		*parent = p;
	if (nlen)
		*nlen = n;
	return store_get_dirent(s, txn, p, nm, n, d);
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

static inline int rbegin(struct cf_store *s, struct rtx **out)
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

/* The target of .clonefs/by-id/ID for the resource at base, relative to
 * .clonefs/by-id/ ("../../snapshots/web", "../trash/snapshots/old"): its
 * length, -ENOENT when the resource has no id (a clone the API does not show
 * yet). */
static int byid_target(struct cf_store *s, MDB_txn *txn, uint64_t base, char *buf, size_t size)
{
	struct rec c;
	char num[24];
	int rc = get_rec(s, txn, base, &c);
	if (rc)
		return rc;
	if (!store_rec_id(&c, num).n)
		return -ENOENT;
	if (size < 6)
		return -ENAMETOOLONG;
	int n = store_node_path(s, txn, base, buf + 6, size - 6);
	if (n < 0)
		return n;
	bool trash = in_trash(buf + 6, (size_t) n);
	size_t up = trash ? 3 : 6; /* the trash is in .clonefs/ */
	memmove(buf + up, buf + 6, (size_t) n + 1);
	memcpy(buf, "../../", up);
	return (int) up + n;
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
		enum cf_kind want = sub_view(sub)->source;
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
	case CF_SUB_BYID: {
		char target[CF_PATH_MAX + 8];
		int n = primary ? byid_target(s, txn, d->base, target, sizeof target) : -ENOENT;
		if (n < 0)
			return n;
		stat_file(d, ino, S_IFLNK | 0777, (uint64_t) n, st);
		st->flags = 0;
		return 0;
	}
	default:
		break;
	}
	if (sub < CF_SUB_DISK_LINK0 || !primary || d->kind != CF_KIND_INSTANCE ||
	    sub - CF_SUB_DISK_LINK0 >= d->nlinks)
		return -ENOENT;
	struct rec c;
	int rc = get_rec(s, txn, d->base, &c);
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
	const char *coll = alias_coll(s, sub);
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

/* The first byid entry at or past `id`'s, of any kind. */
static int byid_seek(MDB_cursor *c, const char *id, size_t len, MDB_val *k, MDB_val *v)
{
	unsigned char kb[CF_BYID_KEY_MAX];
	if (len >= CF_ID_MAX)
		len = CF_ID_MAX - 1; /* no id is longer: from where such a one would be */
	store_byid_prefix(cf_dir_name_cookie(id, len), kb);
	memcpy(kb + 8, id, len);
	kb[8 + len] = '\0';
	*k = (MDB_val){8 + len + 1, kb};
	return mdb_cursor_get(c, k, v, MDB_SET_RANGE);
}

/* The first byid entry whose cookie is past `cookie` (0: the first of all). */
static int byid_seek_past(MDB_cursor *c, uint64_t cookie, MDB_val *k, MDB_val *v)
{
	unsigned char kb[8];
	if (!cookie)
		return mdb_cursor_get(c, k, v, MDB_FIRST);
	if (cookie == UINT64_MAX)
		return MDB_NOTFOUND;
	store_byid_prefix(cookie + 1, kb);
	*k = (MDB_val){8, kb};
	return mdb_cursor_get(c, k, v, MDB_SET_RANGE);
}

/* A byid key's id length (the id at key + 8), or 0 for a damaged key. */
static size_t byid_id(const MDB_val *k)
{
	if (k->mv_size < 8 + 2)
		return 0;
	const char *id = (const char *) k->mv_data + 8;
	const char *nul = memchr(id, '\0', k->mv_size - 8);
	return nul && (size_t) (nul - id) + 8 + 2 == k->mv_size ? (size_t) (nul - id) : 0;
}

static uint64_t byid_cookie(const MDB_val *k)
{
	const unsigned char *p = k->mv_data;
	uint64_t c = 0;
	for (int i = 0; i < 8; i++)
		c = c << 8 | p[i];
	return c;
}

/* The link of the resource at base (from the index, base v), as by-id/ shows it. */
static int byid_stat(struct cf_store *s, MDB_txn *txn, const MDB_val *v, struct cf_stat *out)
{
	struct cf_dirent d;
	uint64_t base;
	if (v->mv_size != 8)
		return -EIO;
	memcpy(&base, v->mv_data, 8);
	int rc = store_node_dirent(s, txn, CF_INO(base, 0), &d, NULL, NULL, NULL);
	return rc ? rc : stat_sub(s, txn, &d, CF_SUB_BYID, out);
}

static int byid_lookup(struct cf_store *s, MDB_txn *txn, const char *name, size_t len,
		       struct cf_stat *out)
{
	MDB_cursor *c;
	MDB_val k, v;
	int rc = open_cursor(txn, s->dbi[DB_BYID], &c);
	if (rc)
		return rc;
	rc = len < CF_ID_MAX ? byid_seek(c, name, len, &k, &v) : MDB_NOTFOUND;
	if (rc == 0 && (byid_id(&k) != len || memcmp((const char *) k.mv_data + 8, name, len)))
		rc = MDB_NOTFOUND;
	rc = rc ? lmdb_err(rc, "read the id index") : byid_stat(s, txn, &v, out);
	mdb_cursor_close(c);
	return rc;
}

/* .clonefs/by-id/ in cookie order, each id once, past `cookie`; fn gets each entry's. */
static int byid_readdir(struct cf_store *s, MDB_txn *txn, uint64_t cookie, cf_dirc_fn fn, void *ctx)
{
	MDB_cursor *c;
	MDB_val k, v;
	struct cf_stat st;
	uint64_t lastc = 0;
	int rc = open_cursor(txn, s->dbi[DB_BYID], &c);
	if (rc)
		return rc;
	for (rc = byid_seek_past(c, cookie, &k, &v); rc == 0;
	     rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		trim_tick(txn);
		size_t n = byid_id(&k);
		uint64_t kc = n ? byid_cookie(&k) : 0;
		/* damaged; one id of two kinds, or two ids of one cookie (a 60-bit hash:
		 * as rare as in any small listing): shown once, as a cookie must be unique */
		if (!n || kc == lastc)
			continue;
		lastc = kc;
		if (byid_stat(s, txn, &v, &st))
			continue; /* not there now (a write in flight): not listed */
		if (fn(ctx, (const char *) k.mv_data + 8, n, &st, kc))
			break;
	}
	mdb_cursor_close(c);
	return rc == MDB_NOTFOUND || rc == 0 ? 0 : lmdb_err(rc, "list the id index");
}

/* byid_readdir for a cf_dir_fn (cf_store_readdir_after's callers). */
struct byid_plain {
	cf_dir_fn fn;
	void *ctx;
};

static int byid_plain_fn(void *ctx, const char *name, size_t len, const struct cf_stat *st,
			 uint64_t cookie)
{
	struct byid_plain *p = ctx;
	(void) cookie;
	return p->fn(p->ctx, name, len, st);
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
	if (parent == CF_INO_BYID)
		return byid_lookup(s, txn, name, len, out);
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
		for (size_t i = 0; i < RES_ENTRIES; i++)
			if (s->entries[i].len == len && !memcmp(s->entries[i].name, name, len))
				return stat_sub(s, txn, &pd, s->entries[i].sub, out);
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
	rc = get_rec(s, txn, pd.base, &c);
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
	if (ino == CF_INO_BYID) {
		struct byid_plain p = {fn, ctx};
		*resumable = true;
		return byid_readdir(s, t->txn, after ? cf_dir_name_cookie(after, alen) : 0,
				    byid_plain_fn, &p);
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
		for (size_t i = 0; i < RES_ENTRIES; i++) {
			const struct res_entry *e = &s->entries[i];
			rc = stat_sub(s, t->txn, &d, e->sub, &st);
			if (rc == -ENOENT)
				continue;
			if (rc)
				return rc;
			if (fn(ctx, e->name, e->len, &st))
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
	if ((rc = get_rec(s, t->txn, d.base, &c)))
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

uint64_t cf_dir_name_cookie(const char *name, size_t len)
{
	return CF_DIR_COOKIE_SMALL | (cf_hash64(name, len) >> 4);
}

/* cf_store_readdir_cookie: a listing the store keeps in name order is passed
 * through with its bases as cookies; a small one is collected here, then
 * sorted by cookie and given from past the caller's. */
struct cookie_ent {
	uint64_t cookie;
	struct cf_stat st;
	size_t len;
	char name[CF_NAME_MAX];
};
struct cookie_ls {
	cf_dirc_fn fn;
	void *ctx;
	uint64_t cookie;
	bool resumable; /* set by readdir_in before the first entry */
	struct cookie_ent *ents;
	size_t n, cap;
	int err;
};

static int cookie_entry(void *ctx, const char *name, size_t len, const struct cf_stat *st)
{
	struct cookie_ls *ls = ctx;
	if (ls->resumable) {
		if (ls->cookie >= CF_DIR_COOKIE_SMALL) { /* a small listing's cookie: not ours */
			ls->err = -EINVAL;
			return 1;
		}
		return ls->fn(ls->ctx, name, len, st, CF_INO_BASE(st->ino) + CF_DIR_COOKIE_MIN);
	}
	if (len > CF_NAME_MAX) {
		ls->err = -EIO;
		return 1;
	}
	if (ls->n == ls->cap) {
		size_t cap = ls->cap ? 2 * ls->cap : 8;
		struct cookie_ent *e = realloc(ls->ents, cap * sizeof *e);
		if (!e) {
			ls->err = -ENOMEM;
			return 1;
		}
		ls->ents = e;
		ls->cap = cap;
	}
	struct cookie_ent *e = &ls->ents[ls->n++];
	e->cookie = cf_dir_name_cookie(name, len);
	e->st = *st;
	e->len = len;
	memcpy(e->name, name, len);
	return 0;
}

static int cookie_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct cookie_ent *) a)->cookie;
	uint64_t y = ((const struct cookie_ent *) b)->cookie;
	return x < y ? -1 : x > y;
}

int cf_store_readdir_cookie(struct cf_store *s, uint64_t ino, uint64_t cookie, cf_dirc_fn fn,
			    void *ctx)
{
	struct rtx *t;
	struct cookie_ls ls = {.fn = fn, .ctx = ctx, .cookie = cookie};
	char after[CF_NAME_MAX];
	size_t alen = 0;
	uint64_t parent;
	if (!s || !fn || (cookie && cookie < CF_DIR_COOKIE_MIN))
		return -EINVAL;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	if (ino == CF_INO_BYID) { /* in cookie order in the store itself */
		rc = cookie && cookie < CF_DIR_COOKIE_SMALL
			 ? -EINVAL
			 : byid_readdir(s, t->txn, cookie, fn, ctx);
		rend(t);
		return rc;
	}
	/* A base's cookie: resume after the name its node has (kept when it is
	 * removed or moves to the trash). */
	if (cookie && cookie < CF_DIR_COOKIE_SMALL) {
		rc = get_node(s, t->txn, cookie - CF_DIR_COOKIE_MIN, &parent, after, &alen);
		if (rc == -ENOENT)
			rc = -EINVAL;
	}
	if (!rc)
		rc = readdir_in(t, ino, cookie && cookie < CF_DIR_COOKIE_SMALL ? after : NULL, alen,
				&ls.resumable, cookie_entry, &ls);
	rend(t);
	if (!rc)
		rc = ls.err;
	if (!rc && !ls.resumable && ls.n) {
		qsort(ls.ents, ls.n, sizeof *ls.ents, cookie_cmp);
		for (size_t i = 0; i < ls.n; i++) {
			struct cookie_ent *e = &ls.ents[i];
			if (e->cookie > cookie && fn(ctx, e->name, e->len, &e->st, e->cookie))
				break;
		}
	}
	free(ls.ents);
	return rc;
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
		rc = get_rec(s, t->txn, d.base, &c);
	if (!rc && sub == CF_SUB_SOURCE) {
		rc = fmt_link(buf, size, d.depth, c.source);
	} else if (!rc && sub == CF_SUB_BYID) {
		rc = byid_target(s, t->txn, d.base, buf, size);
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
			rc = get_rec(s, t->txn, d.base, &c);
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
		if ((rc = get_rec(s, t->txn, d.base, &c)))
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
		return get_rec(s, txn, CF_INO_BASE(ino), c);
	uint64_t dir = CF_INO(CF_INO_BASE(ino), CF_SUB_ALIAS);
	int rc = node_view(s, txn, dir, &d, &sub);
	if (rc)
		return rc;
	if (!is_resource(&d))
		return -ENOENT;
	return get_rec(s, txn, d.base, c);
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

/* Every resource in base order under txn: fn gets its base, path and decoded self. */
static int walk_resources(struct cf_store *s, MDB_txn *txn, cf_res_base_fn fn, void *ctx)
{
	MDB_cursor *c;
	int rc = 0, mrc = mdb_cursor_open(txn, s->dbi[DB_RES], &c);
	if (mrc)
		return lmdb_err(mrc, "open a cursor");
	MDB_val k, v;
	char path[CF_PATH_MAX];
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		trim_tick(txn);
		struct rec rc_;
		struct cf_resource r;
		uint64_t base;
		if (k.mv_size != 8 || store_rec_decode(v.mv_data, v.mv_size, &rc_))
			continue; /* logged; one bad record does not hide the rest */
		memcpy(&base, k.mv_data, 8);
		if ((rc = store_rec_to_resource(&rc_, &r)))
			break;
		int stop = 0;
		if (cf_resource_path(r.kind, r.scope, r.name, path, sizeof path) >= 0)
			stop = fn(ctx, base, path, &r);
		cf_resource_clear(&r);
		if (stop)
			break;
	}
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = lmdb_err(mrc, "list resources");
	mdb_cursor_close(c);
	return rc;
}

struct plain_res {
	cf_res_fn fn;
	void *ctx;
};

static int plain_res_fn(void *ctx, uint64_t base, const char *path, const struct cf_resource *r)
{
	const struct plain_res *p = ctx;
	(void) base;
	return p->fn(p->ctx, path, r);
}

int cf_store_foreach_resource(struct cf_store *s, cf_res_fn fn, void *ctx)
{
	struct rtx *t;
	struct plain_res p = {fn, ctx};
	if (!s || !fn)
		return -EINVAL;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	rc = walk_resources(s, t->txn, plain_res_fn, &p);
	rend(t);
	return rc;
}

/* The by-source index's keys, each once. */
static int walk_sources(struct cf_store *s, MDB_txn *txn, cf_path_fn fn, void *ctx)
{
	MDB_cursor *c;
	MDB_val k, v;
	int mrc = mdb_cursor_open(txn, s->dbi[DB_BYSRC], &c);
	if (mrc)
		return lmdb_err(mrc, "open a cursor");
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT_NODUP)) {
		trim_tick(txn);
		if (k.mv_size && k.mv_size < CF_PATH_MAX && !memchr(k.mv_data, '\0', k.mv_size) &&
		    fn(ctx, k.mv_data, k.mv_size))
			break;
	}
	mdb_cursor_close(c);
	return mrc && mrc != MDB_NOTFOUND ? lmdb_err(mrc, "list the source index") : 0;
}

int cf_store_foreach_linked(struct cf_store *s, cf_path_fn src, cf_res_base_fn fn, void *ctx)
{
	struct rtx *t;
	if (!s || !src || !fn)
		return -EINVAL;
	int rc = rbegin(s, &t);
	if (rc)
		return rc;
	if (!(rc = walk_sources(s, t->txn, src, ctx)))
		rc = walk_resources(s, t->txn, fn, ctx);
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
		if ((rc = get_node(s, txn, base, &parent, name, &nlen)) ||
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

int cf_store_foreach_trashed(struct cf_store *s, cf_res_fn fn, void *ctx)
{
	struct rtx *t;
	MDB_cursor *c = NULL;
	char path[CF_PATH_MAX];
	if (!s || !fn)
		return -EINVAL;
	char coll[CF_PATH_MAX];
	int rc = rbegin(s, &t), mrc = 0, stop = 0;
	if (rc)
		return rc;
	/* The trash container of each collection whose members can be trashed. */
	for (int k = 1; !rc && !stop && k < CF_KIND__COUNT; k++) {
		uint64_t base;
		const char *home = cf_kind_home((enum cf_kind) k);
		if (!cf_kind_trashable((enum cf_kind) k) || !home)
			continue;
		cf_collection_path((enum cf_kind) k, home, coll, sizeof coll);
		int n = snprintf(path, sizeof path, "trash/%s", coll);
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
		size_t clen = strlen(coll);
		for (mrc = dir_step(c, &dir, &v, true); mrc == 0 && !stop;
		     mrc = dir_step(c, &dir, &v, false)) {
			struct cf_dirent d;
			struct sv name;
			struct rec rec;
			struct cf_resource r;
			if (dirent_split(&v, &name, &d) || d.type != CF_NODE_RESOURCE ||
			    clen + 1 + name.n >= sizeof path || get_rec(s, t->txn, d.base, &rec))
				continue; /* logged; one bad entry does not hide the rest */
			if ((rc = store_rec_to_resource(&rec, &r)))
				break;
			memcpy(path, coll, clen);
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
