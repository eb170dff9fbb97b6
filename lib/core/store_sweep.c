/* store_sweep.c — after a complete listing, remove what the cloud no longer
 * has (cf_store_sweep): the unseen resources of the listing's collections, and
 * for zones and regions the unseen scopes that are empty. */
#include "store_int.h"
#include "pathset.h"

typedef bool (*name_filter)(void *ctx, struct sv name, uint8_t type);

/* Names of the entries of directory ino into b as (u16 len, bytes, u8
 * type), in *count; with keep, only those it returns true for (a sweep of a
 * million snapshots that are all still there copies none of them). */

static int list_names_if(struct cf_wtxn *w, uint64_t ino, struct buf *b, size_t *count,
			 name_filter keep, void *kctx)
{
	MDB_cursor *c;
	int rc = open_cursor(w->txn, w->s->dbi[DB_DIRS], &c);
	if (rc)
		return rc;
	b->len = 0;
	*count = 0;
	MDB_val v;
	struct sv name;
	struct cf_dirent d;
	for (rc = dir_step(c, &ino, &v, true); rc == 0; rc = dir_step(c, &ino, &v, false)) {
		if (dirent_split(&v, &name, &d) || (keep && !keep(kctx, name, d.type)))
			continue;
		uint16_t n = (uint16_t) name.n;
		if (buf_add(b, &n, 2) || buf_add(b, name.p, n) || buf_add(b, &d.type, 1)) {
			mdb_cursor_close(c);
			return -ENOMEM;
		}
		(*count)++;
	}
	mdb_cursor_close(c);
	return rc && rc != MDB_NOTFOUND ? lmdb_err(rc, "list a directory") : 0;
}

static int list_names(struct cf_wtxn *w, uint64_t ino, struct buf *b, size_t *count)
{
	return list_names_if(w, ino, b, count, NULL, NULL);
}

/* Iterate the names list_names produced. */
static const unsigned char *names_next(const unsigned char *p, struct sv *name, uint8_t *type)
{
	uint16_t n;
	memcpy(&n, p, 2);
	name->p = (const char *) p + 2;
	name->n = n;
	*type = p[2 + n];
	return p + 3 + n;
}

/* sweep_dir's filter: a resource whose path cpath/NAME the listing did not return. */
struct unseen {
	const struct cf_pathset *seen;
	const char *cpath;
	size_t clen;
};

static bool unseen_keep(void *ctx, struct sv name, uint8_t type)
{
	const struct unseen *u = ctx;
	char path[CF_PATH_MAX];
	if (type != CF_NODE_RESOURCE || u->clen + 1 + name.n >= sizeof path)
		return false;
	memcpy(path, u->cpath, u->clen);
	path[u->clen] = '/';
	memcpy(path + u->clen + 1, name.p, name.n);
	path[u->clen + 1 + name.n] = '\0';
	return !cf_pathset_has(u->seen, path, u->clen + 1 + name.n);
}

/* Where the store chooses entry names (layout.h's pref_names): whether the
 * unseen entry `name` of cino is a resource the listing returned all the
 * same. The sync knows such a resource by its id path (cpath/ID), since a
 * page cannot know which name it holds, and a newer namesake may have been
 * moved to its id after its own page was applied. 1: seen, keep it. */
static int seen_by_id(struct cf_wtxn *w, uint64_t cino, struct sv name, const char *cpath,
		      size_t clen, const struct cf_pathset *seen)
{
	struct cf_dirent d;
	struct rec c;
	char num[24], path[CF_PATH_MAX];
	if (!cf_layout()->pref_names)
		return 0;
	int rc = store_get_dirent(w->s, w->txn, cino, name.p, name.n, &d);
	if (rc || d.type != CF_NODE_RESOURCE || get_rec(w->s, w->txn, d.base, &c))
		return rc == -ENOENT ? 0 : rc;
	struct sv id = store_rec_id(&c, num);
	if (!id.n || clen + 1 + id.n >= sizeof path)
		return 0;
	memcpy(path, cpath, clen);
	path[clen] = '/';
	memcpy(path + clen + 1, id.p, id.n);
	return cf_pathset_has(seen, path, clen + 1 + id.n);
}

/* Remove every resource listed in container `lpath` whose path (`cpath`/NAME:
 * its collection's, also for the trash) is not in seen, unless the write path
 * wrote it at or after `since` (the listing may have been read before it
 * existed). */
static int sweep_dir(struct cf_wtxn *w, const char *lpath, const char *cpath,
		     const struct cf_pathset *seen, int64_t since)
{
	uint64_t cbase;
	size_t clen = strlen(cpath), count, removed = 0;
	char path[CF_PATH_MAX];
	int rc = store_path_get(w->s, w->txn, lpath, strlen(lpath), &cbase);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	uint64_t cino = CF_INO(cbase, 0);
	struct unseen u = {seen, cpath, clen};
	if ((rc = list_names_if(w, cino, &w->tmp, &count, unseen_keep, &u)))
		return rc;
	const unsigned char *p = w->tmp.p;
	for (size_t i = 0; i < count; i++) {
		struct sv name;
		uint8_t type;
		p = names_next(p, &name, &type);
		memcpy(path, cpath, clen);
		path[clen] = '/';
		memcpy(path + clen + 1, name.p, name.n);
		path[clen + 1 + name.n] = '\0';
		struct cf_dirent d;
		if (recent_any(w) && !store_get_dirent(w->s, w->txn, cino, name.p, name.n, &d) &&
		    recent_at(w, d.base) >= since) {
			cf_debug("store: %s: written after the listing began; kept", path);
			continue;
		}
		if ((rc = seen_by_id(w, cino, name, cpath, clen, seen)) < 0)
			return rc;
		if (rc)
			continue;
		if ((rc = store_remove_member(w, path, clen + 1 + name.n, cino, name.p, name.n,
					      false)) < 0)
			return rc;
		removed++;
	}
	return (int) removed;
}

/* Sweep collection `cpath`; with trash, its trash container too. */
static int sweep_coll(struct cf_wtxn *w, const char *cpath, bool trash,
		      const struct cf_pathset *seen, int64_t since)
{
	char tpath[CF_PATH_MAX + 8];
	int a = sweep_dir(w, cpath, cpath, seen, since);
	if (a < 0 || !trash)
		return a;
	snprintf(tpath, sizeof tpath, "trash/%s", cpath);
	int b = sweep_dir(w, tpath, cpath, seen, since);
	return b < 0 ? b : a + b;
}

/* Whether directory ino has no entry. */
static int dir_empty(struct cf_wtxn *w, uint64_t ino)
{
	MDB_cursor *c;
	MDB_val v;
	int rc = open_cursor(w->txn, w->s->dbi[DB_DIRS], &c);
	if (rc)
		return rc;
	rc = dir_step(c, &ino, &v, true);
	mdb_cursor_close(c);
	if (rc && rc != MDB_NOTFOUND)
		return lmdb_err(rc, "scan a directory");
	return rc == MDB_NOTFOUND;
}

/* The scope directories under a named scope type's directory ("zones"). */
static int scope_names(struct cf_wtxn *w, const char *top, struct buf *b, size_t *count)
{
	uint64_t base;
	int rc = store_path_get(w->s, w->txn, top, strlen(top), &base);
	if (rc) {
		*count = 0;
		return rc == -ENOENT ? 0 : rc;
	}
	return list_names(w, CF_INO(base, 0), b, count);
}

/* zones/Z (or regions/R) not seen and without members goes away. */
static int sweep_scopes(struct cf_wtxn *w, const char *top, const struct cf_pathset *seen)
{
	struct buf scopes = {0}, kids = {0};
	size_t count, nkids, removed = 0;
	char path[CF_PATH_MAX];
	uint64_t tbase, zbase;
	int rc = scope_names(w, top, &scopes, &count);
	if (rc || !count)
		goto out;
	if ((rc = store_path_get(w->s, w->txn, top, strlen(top), &tbase)))
		goto out;
	const unsigned char *p = scopes.p;
	for (size_t i = 0; i < count; i++) {
		struct sv name;
		uint8_t type;
		p = names_next(p, &name, &type);
		int n = snprintf(path, sizeof path, "%s/%.*s", top, (int) name.n, name.p);
		if (type != CF_NODE_CONTAINER || cf_pathset_has(seen, path, (size_t) n))
			continue;
		if ((rc = store_path_get(w->s, w->txn, path, (size_t) n, &zbase)) ||
		    (rc = list_names(w, CF_INO(zbase, 0), &kids, &nkids)))
			goto out;
		/* Empty only when every collection in it is. */
		bool empty = true;
		const unsigned char *q = kids.p;
		for (size_t j = 0; j < nkids && empty; j++) {
			struct sv kid;
			uint8_t ktype;
			uint64_t kbase;
			q = names_next(q, &kid, &ktype);
			char kpath[CF_PATH_MAX];
			int kn = snprintf(kpath, sizeof kpath, "%s/%.*s", path, (int) kid.n, kid.p);
			if (ktype != CF_NODE_CONTAINER) {
				empty = false;
				break;
			}
			if ((rc = store_path_get(w->s, w->txn, kpath, (size_t) kn, &kbase)) ||
			    (rc = dir_empty(w, CF_INO(kbase, 0))) < 0)
				goto out;
			empty = rc == 1;
		}
		if (!empty)
			continue;
		q = kids.p;
		for (size_t j = 0; j < nkids; j++) {
			struct sv kid;
			uint8_t ktype;
			q = names_next(q, &kid, &ktype);
			if ((rc = store_del_dirent(w, CF_INO(zbase, 0), kid.p, kid.n,
						   "remove a collection")) < 0)
				goto out;
		}
		if ((rc = store_del_dirent(w, CF_INO(tbase, 0), name.p, name.n, "remove a scope")) <
			0 ||
		    (rc = note_entry(w, CF_INO(tbase, 0), name.p, name.n)) ||
		    (rc = mark_recompute(w, CF_INO(tbase, 0))))
			goto out;
		w->last_scope[0] = '\0';
		removed++;
	}
	rc = 0;
out:
	free(scopes.p);
	free(kids.p);
	return rc < 0 ? rc : (int) removed;
}

/* Sweep collection `coll` of every scope under top ("zones"). */
static int sweep_scoped(struct cf_wtxn *w, const char *top, const char *coll,
			const struct cf_pathset *seen, int64_t since)
{
	struct buf scopes = {0};
	size_t count;
	int total = 0;
	char path[CF_PATH_MAX];
	int rc = scope_names(w, top, &scopes, &count);
	const unsigned char *p = scopes.p;
	for (size_t i = 0; !rc && i < count; i++) {
		struct sv name;
		uint8_t type;
		p = names_next(p, &name, &type);
		snprintf(path, sizeof path, "%s/%.*s/%s", top, (int) name.n, name.p, coll);
		rc = sweep_coll(w, path, false, seen, since);
		if (rc > 0) {
			total += rc;
			rc = 0;
		}
	}
	free(scopes.p);
	return rc < 0 ? rc : total;
}

/* What listing l covers, from the layout: its collections in fixed scopes
 * (and their trash), in every scope of a named type, or a type's scopes. */
static int sweep(struct cf_wtxn *w, enum cf_listing l, const struct cf_pathset *seen, int64_t since)
{
	const struct cf_layout *lay = cf_layout();
	struct cf_layout_coll cs[CF_LAYOUT_SCOPES_MAX * CF_KIND__COUNT];
	unsigned n =
	    (unsigned) l < CF_LIST__COUNT ? cf_layout_sweep_of(l, cs, sizeof cs / sizeof *cs) : 0;
	char path[CF_PATH_MAX];
	int total = 0;
	if (!n)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		const struct cf_layout_scope *sc = &lay->scopes[cs[i].scope];
		const char *coll = cf_kind_collection(cs[i].kind);
		int rc;
		if (cs[i].kind == CF_KIND_NONE) {
			rc = sweep_scopes(w, sc->dir, seen);
		} else if (sc->kind != CF_KIND_NONE) {
			rc = sweep_scoped(w, sc->dir, coll, seen, since);
		} else {
			cf_collection_path(cs[i].kind, sc->dir, path, sizeof path);
			rc = sweep_coll(w, path, cf_kind_trashable(cs[i].kind), seen, since);
		}
		if (rc < 0)
			return rc;
		total += rc;
	}
	return total;
}

int cf_store_sweep(struct cf_wtxn *w, enum cf_listing l, const struct cf_pathset *seen,
		   int64_t since)
{
	if (!w || !w->txn || !seen)
		return -EINVAL;
	int rc = sweep(w, l, seen, since);
	/* Every later listing of l begins after the writes remembered so far. */
	if (rc >= 0)
		store_recent_forget(w, l);
	return rc;
}
