/* store_write.c — the tree's writes: paths and their bases, directory
 * entries, scope and collection containers, the by-source index, and a
 * resource's upsert and remove. */
#include "store_int.h"

#include <stdlib.h>

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
	if ((rc = get_node(w->s, w->txn, *base, node_parent, nm, &nn)))
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
	unsigned old_sub = !have_old || was_trashed ? 0 : alias_sub(r->kind, had[0]);
	unsigned new_sub = trash ? 0 : alias_sub(r->kind, want[0]);
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
	if (get_rec(w->s, w->txn, base, &c) == 0) {
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
	unsigned sub = d.flags & DIRENT_TRASHED ? 0 : alias_sub(kind, had[0]);
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
