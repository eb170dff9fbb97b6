/* store_write.c — the tree's writes: paths and their bases, directory
 * entries, scope and collection containers, the by-source index, and a
 * resource's upsert and remove. */
#include "store_int.h"

#include <stdlib.h>

/* Every node of a resource directory whose attributes or contents follow
 * its record. */
static int note_resource(struct cf_wtxn *w, uint64_t base)
{
	static const unsigned subs[] = {CF_SUB_DIR, CF_SUB_STATUS, CF_SUB_JSON, CF_SUB_SOURCE,
					CF_SUB_BYID};
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

/* A named scope ("zones/Z") of type st with the collections of the kinds
 * that fit it (layout.h). */
static int ensure_scope_path(struct cf_wtxn *w, const char *scope, int st)
{
	const struct cf_layout *l = cf_layout();
	char p[CF_PATH_MAX];
	size_t len = strlen(scope);
	int rc;
	if (!strcmp(w->last_scope, scope))
		return 0;
	if (st < 0 || l->scopes[st].kind == CF_KIND_NONE || len + 1 >= sizeof p)
		return -EINVAL;
	const char *top = l->scopes[st].dir;
	if ((rc = store_ensure_container(w, top, strlen(top))) ||
	    (rc = store_ensure_container(w, scope, len)))
		return rc;
	for (int k = 1; k < CF_KIND__COUNT; k++) {
		if (!l->kinds[k].collection || !(l->kinds[k].scopes & (1u << st)))
			continue;
		int n = snprintf(p, sizeof p, "%s/%s", scope, l->kinds[k].collection);
		if (n < 0 || (size_t) n >= sizeof p)
			return -EINVAL;
		if ((rc = store_ensure_container(w, p, (size_t) n)))
			return rc;
	}
	snprintf(w->last_scope, sizeof w->last_scope, "%s", scope);
	return 0;
}

int cf_store_ensure_scope(struct cf_wtxn *w, enum cf_kind kind, const char *name)
{
	char scope[CF_PATH_MAX];
	if (!w || !name)
		return -EINVAL;
	int n = cf_scope_path(kind, name, scope, sizeof scope);
	if (n < 0)
		return -EINVAL;
	return ensure_scope_path(w, scope, cf_scope_type(scope, (size_t) n));
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

/* One upsert: the resource, its path, its new record, and the directories
 * its entry concerns. */
struct target {
	const struct cf_resource *r;
	char path[CF_PATH_MAX];
	size_t plen, nlen, clen; /* the path, its last name, its collection's path */
	unsigned nlinks;	 /* the links the record kept */
	bool protect;		 /* it carries the protect label */
	bool trash;		 /* a trashable kind carrying CF_TRASH_LABEL */
	uint64_t cino;		 /* its collection */
	uint64_t tino;		 /* where its entry belongs: cino, or its trash container */
};

/* Where the resource's current entry is (locate). */
struct located {
	struct cf_dirent od;  /* the current entry, when have_old */
	bool have_old;	      /* it has an entry (od, in directory oino) */
	uint64_t oino;	      /* the directory of od */
	uint64_t base;	      /* its base */
	bool fresh;	      /* a path seen for the first time: its node now points at tino */
	uint64_t node_parent; /* where its node points */
	uint64_t stale;	      /* a damaged entry elsewhere, to remove; 0 = none */
};

/* The record stored before this upsert, compared with the new one. */
struct old_rec {
	bool rec_same;	     /* equal bytes but for where the document is: nothing changed */
	bool raw_same;	     /* the same resource.json (its hash and length) */
	uint64_t ref;	     /* where its document is, when it had one (len > 0) */
	uint32_t len;	     /* its document's length */
	struct sv had[2];    /* its source and origin, copied into src and org */
	char oid[CF_ID_MAX]; /* its id (byid), oidn bytes */
	size_t oidn;
	char src[CF_PATH_MAX], org[CF_PATH_MAX];
};

/* Check everything that can refuse resource r, before the first write, so a
 * refused one leaves the transaction usable; and encode its record into
 * w->rec. */
static int prepare_record(struct cf_wtxn *w, const struct cf_resource *r, struct target *t)
{
	int plen = cf_resource_path(r->kind, r->scope, r->name, t->path, sizeof t->path);
	if (plen < 0)
		return plen;
	t->r = r;
	t->plen = (size_t) plen;
	t->nlen = strlen(r->name);
	t->clen = t->plen - t->nlen - 1;
	size_t maxkey = (size_t) mdb_env_get_maxkeysize(w->s->env);
	size_t ssrc = slen0(r->source), sorg = slen0(r->origin);
	if (r->raw_len > CF_RAW_MAX || slen0(r->status) > 0xffff || ssrc >= CF_PATH_MAX ||
	    sorg >= CF_PATH_MAX)
		return -EINVAL;
	if (t->plen > maxkey || (ssrc && ssrc + 1 + t->plen > maxkey) ||
	    (sorg && sorg + 1 + t->plen > maxkey) || (ssrc && ssrc + 11 + t->nlen > maxkey))
		return -ENAMETOOLONG;
	return store_rec_encode(&w->rec, r, w->s->protect, &t->nlinks, &t->protect);
}

/* The resource's collection (with its scope, made when missing) and the
 * directory its entry belongs in: the collection, or for a global resource
 * carrying CF_TRASH_LABEL, its trash container. */
static int resolve_dirs(struct cf_wtxn *w, struct target *t)
{
	uint64_t cbase;
	int rc;
	/* A fixed scope's collections are made at open; a named one comes with its resources. */
	int st = cf_scope_type(t->r->scope, strlen(t->r->scope));
	if (st >= 0 && cf_layout()->scopes[st].kind != CF_KIND_NONE &&
	    (rc = ensure_scope_path(w, t->r->scope, st)))
		return rc;
	/* Paths never go away, so the collection's base can be remembered. */
	if (t->clen == w->coll_len && !memcmp(t->path, w->coll_path, t->clen)) {
		cbase = w->coll_base;
	} else {
		if ((rc = store_resolve(w, t->path, t->clen, &cbase, 0)))
			return rc;
		memcpy(w->coll_path, t->path, t->clen);
		w->coll_len = t->clen;
		w->coll_base = cbase;
	}
	t->cino = t->tino = CF_INO(cbase, 0);
	/* The label puts a trashable resource in the trash instead. */
	t->trash = cf_kind_trashable(t->r->kind) && has_label(t->r, CF_TRASH_LABEL);
	if (t->trash) {
		char tpath[CF_PATH_MAX + 8];
		uint64_t tbase;
		int tn = snprintf(tpath, sizeof tpath, "trash/%.*s", (int) t->clen, t->path);
		if ((rc = store_resolve(w, tpath, (size_t) tn, &tbase, 0)))
			return rc;
		t->tino = CF_INO(tbase, 0);
	}
	return 0;
}

/* Find the current entry of the resource, whose entry belongs in t->tino:
 * in tino (the common case, one get), in the collection when moving into the
 * trash, or, for a path already known, where its node says (leaving the
 * trash). A path seen for the first time gets its base (loc->fresh). */
static int locate(struct cf_wtxn *w, const struct target *t, struct located *loc)
{
	char nm[CF_NAME_MAX];
	size_t nn;
	const char *name = t->r->name;
	uint64_t where[2] = {t->tino, t->cino};
	int rc;
	loc->have_old = loc->fresh = false;
	loc->oino = loc->node_parent = loc->stale = 0;
	/* A damaged entry (-EIO, logged) is overwritten where it belongs and
	 * removed elsewhere: the writer repairs. */
	for (int i = 0; i < (t->tino == t->cino ? 1 : 2) && !loc->have_old; i++) {
		rc = store_get_dirent(w->s, w->txn, where[i], name, t->nlen, &loc->od);
		if (rc && rc != -ENOENT && rc != -EIO)
			return rc;
		loc->have_old = rc == 0 && loc->od.type == CF_NODE_RESOURCE;
		loc->oino = where[i];
		if (i > 0 && rc == -EIO)
			loc->stale = where[i];
	}
	if (loc->have_old) {
		loc->base = loc->od.base;
		loc->node_parent = loc->oino;
		return 0;
	}
	if ((rc = get_or_new_base(w, t->path, t->plen, t->tino, name, t->nlen, &loc->base,
				  &loc->fresh)))
		return rc;
	loc->node_parent = t->tino;
	if (loc->fresh)
		return 0;
	/* Known, and not where we looked: removed (its node still points
	 * where it was), or leaving the trash. */
	if ((rc = get_node(w->s, w->txn, loc->base, &loc->node_parent, nm, &nn)))
		return rc;
	if (loc->node_parent == t->cino || loc->node_parent == t->tino ||
	    CF_INO_SUB(loc->node_parent) != CF_SUB_DIR)
		return 0;
	rc = store_get_dirent(w->s, w->txn, loc->node_parent, name, t->nlen, &loc->od);
	if (rc && rc != -ENOENT && rc != -EIO)
		return rc;
	loc->have_old = rc == 0 && loc->od.type == CF_NODE_RESOURCE && loc->od.base == loc->base;
	loc->oino = loc->node_parent;
	if (rc == -EIO)
		loc->stale = loc->node_parent;
	return 0;
}

/* The entry the resource gets (its ctime: the old entry's, or its creation
 * time when new; compare_record moves it when labels or status changed). */
static void new_dirent(const struct target *t, const struct located *loc, struct cf_dirent *nd)
{
	const struct cf_resource *r = t->r;
	memset(nd, 0, sizeof *nd);
	nd->base = loc->base;
	nd->mtime = r->created;
	nd->mtime_ns = r->created_ns;
	nd->size = r->size_bytes;
	nd->blocks = r->stored_bytes / 512 + (r->stored_bytes % 512 != 0);
	nd->json_len = r->raw ? (uint32_t) r->raw_len : 0;
	nd->status_len = (uint16_t) slen0(r->status);
	nd->source_len = (uint16_t) slen0(r->source);
	nd->nlinks = (uint16_t) t->nlinks;
	nd->type = CF_NODE_RESOURCE;
	nd->kind = (uint8_t) r->kind;
	nd->flags = (t->protect ? CF_DIRENT_PROTECTED : 0) | (t->trash ? DIRENT_TRASHED : 0);
	/* Components of the path from the mount root to the resource (for
	 * relative symlinks): global/snapshots/S, zones/Z/disks/D,
	 * .clonefs/trash/global/snapshots/S. */
	nd->depth = components(t->path, t->plen) + (t->trash ? 2 : 0);
	nd->ctime = loc->have_old ? loc->od.ctime : r->created;
}

/* Read the resource's stored record, if any, into o and compare it with the
 * new one (w->rec); a change of status or labels of a resource already listed sets
 * nd's ctime to now. */
static int compare_record(struct cf_wtxn *w, const struct located *loc, struct old_rec *o,
			  struct cf_dirent *nd)
{
	uint64_t base = loc->base;
	MDB_val k = {8, &base}, v;
	struct rec orec;
	o->rec_same = o->raw_same = false;
	o->ref = 0;
	o->len = 0;
	o->had[0] = o->had[1] = (struct sv){NULL, 0};
	o->oidn = 0;
	int mrc = loc->fresh ? MDB_NOTFOUND : mdb_get(w->txn, w->s->dbi[DB_RES], &k, &v);
	if (mrc && mrc != MDB_NOTFOUND)
		return lmdb_err(mrc, "read a resource");
	if (mrc)
		return 0;
	/* Equal bytes but for where the document is: nothing changed (the
	 * record holds the document's hash and length). */
	const unsigned char *ob = v.mv_data, *nb = (const unsigned char *) w->rec.p;
	size_t tail = REC_DOC_REF + 8;
	o->rec_same = v.mv_size == w->rec.len && w->rec.len >= tail &&
		      !memcmp(ob, nb, REC_DOC_REF) &&
		      !memcmp(ob + tail, nb + tail, w->rec.len - tail);
	o->raw_same = o->rec_same;
	/* A damaged record (logged) is simply rewritten. The new one is decoded
	 * only here, where a record it differs from is compared field by field
	 * (not for every resource of a first sync). */
	if (o->rec_same || store_rec_decode(v.mv_data, v.mv_size, &orec))
		return 0;
	struct rec nrec;
	int rc = store_rec_decode(w->rec.p, w->rec.len, &nrec);
	if (rc)
		return rc;
	o->raw_same = orec.raw_hash == nrec.raw_hash && orec.doc_len == nrec.doc_len;
	if (orec.raw_hash) {
		o->ref = orec.doc_ref;
		o->len = orec.doc_len;
	}
	if (loc->have_old && (!sv_eq(orec.status, nrec.status) || orec.nlabels != nrec.nlabels ||
			      !sv_eq(orec.labels, nrec.labels)))
		nd->ctime = w->now;
	/* An instance's disks/ lists its links by name, each at its index: when they change,
	 * every old name is reported (the kernel may keep a dentry that would now show the
	 * link at its index), and disks/ with them. */
	bool links_same = orec.nlinks == nrec.nlinks;
	const unsigned char *op = orec.links, *np = nrec.links;
	for (unsigned i = 0; links_same && i < orec.nlinks; i++) {
		struct sv a = link_next(&op), b = link_next(&np);
		links_same = sv_eq(a, b);
	}
	op = orec.links;
	for (unsigned i = 0; !links_same && i < orec.nlinks; i++) {
		struct sv l = link_next(&op);
		size_t nl;
		const char *ln = last_component(l.p, l.n, &nl);
		rc = note_entry(w, CF_INO(base, CF_SUB_DISKS), ln, nl);
		if (rc)
			return rc;
	}
	/* Copied: the puts that follow may move the pages they point into. */
	char num[24];
	struct sv oid = store_rec_id(&orec, num);
	if (oid.n < sizeof o->oid) {
		memcpy(o->oid, oid.p, oid.n);
		o->oidn = oid.n;
	}
	memcpy(o->src, orec.source.p, orec.source.n);
	memcpy(o->org, orec.origin.p, orec.origin.n);
	o->had[0] = (struct sv){o->src, orec.source.n};
	o->had[1] = (struct sv){o->org, orec.origin.n};
	return 0;
}

/* Write the new record (w->rec). The same document stays where it is; a new
 * one is appended and the old one becomes garbage for the compaction. */
static int write_record(struct cf_wtxn *w, const struct target *t, const struct located *loc,
			const struct old_rec *o)
{
	const struct cf_resource *r = t->r;
	uint64_t base = loc->base, ref = 0;
	int rc;
	if (o->raw_same)
		ref = o->ref;
	else if (r->raw && r->raw_len && (rc = doc_append(w, r->raw, r->raw_len, &ref)))
		return rc;
	if (!o->raw_same && o->len)
		doc_drop(w, o->ref, o->len);
	memcpy(w->rec.p + REC_DOC_REF, &ref, 8);
	MDB_val k = {8, &base}, v = {w->rec.len, w->rec.p};
	/* A fresh base is the largest key there is: append. */
	return store_wput(w, DB_RES, &k, &v, loc->fresh ? MDB_APPEND : 0, "write a resource");
}

/* Put entry nd in its directory (unless it is there as it is) and report
 * it; keep the directory's mtime. Into or out of the trash: the entry leaves
 * its old directory (whose mtime is recomputed) and the node follows; the
 * inode stays. A damaged entry elsewhere is removed. */
static int place_entry(struct cf_wtxn *w, const struct target *t, const struct located *loc,
		       const struct cf_dirent *nd, bool dirent_same)
{
	const char *name = t->r->name;
	const struct cf_dirent *od = &loc->od;
	bool moved = loc->have_old && loc->oino != t->tino;
	int rc = 0;
	if (loc->stale && (rc = drop_entry(w, loc->stale, name, t->nlen)) < 0)
		return rc;
	if (moved && (rc = drop_entry(w, loc->oino, name, t->nlen)) < 0)
		return rc;
	if (!dirent_same && (rc = store_put_dirent(w, t->tino, name, t->nlen, nd)))
		return rc;
	if (loc->node_parent != t->tino && (rc = put_node(w, loc->base, t->tino, name, t->nlen)))
		return rc;
	if (!loc->have_old || moved)
		rc = note_entry(w, t->tino, name, t->nlen);
	if (!rc && loc->have_old)
		rc = note_resource(w, loc->base);
	if (rc)
		return rc;
	if (!loc->have_old || moved || od->mtime != nd->mtime || od->mtime_ns != nd->mtime_ns) {
		if ((rc = store_bump(w, t->tino, nd->mtime, nd->mtime_ns)))
			return rc;
		if (loc->have_old && !moved &&
		    newer(od->mtime, od->mtime_ns, nd->mtime, nd->mtime_ns) &&
		    (rc = mark_recompute(w, t->tino)))
			return rc;
	}
	return 0;
}

/* The lineage index and the alias under the source. A trashed resource
 * keeps its index entries (it still exists) but has no alias. */
static int update_lineage(struct cf_wtxn *w, const struct target *t, const struct located *loc,
			  struct old_rec *o, const struct cf_dirent *nd)
{
	const struct cf_resource *r = t->r;
	struct sv want[2] = {{r->source, slen0(r->source)}, {r->origin, slen0(r->origin)}};
	int rc;
	if (!o->rec_same && (rc = update_bysrc(w, t->path, t->plen, o->had, want)))
		return rc;
	if (o->rec_same) {
		o->had[0] = want[0];
		o->had[1] = want[1];
	}
	bool was_trashed = loc->have_old && loc->oino != t->cino;
	unsigned old_sub = !loc->have_old || was_trashed ? 0 : alias_sub(r->kind, o->had[0]);
	unsigned new_sub = t->trash ? 0 : alias_sub(r->kind, want[0]);
	bool kept = old_sub && old_sub == new_sub && sv_eq(o->had[0], want[0]);
	if (old_sub && !kept && (rc = store_remove_alias(w, o->had[0], old_sub, r->name, t->nlen)))
		return rc;
	if (new_sub && (rc = store_show_alias(w, r->source, want[0].n, new_sub, r->name, t->nlen,
					      nd, kept ? &loc->od : NULL, !o->raw_same)))
		return rc;
	return 0;
}

/* The id index follows a record written at base: an id it no longer has
 * goes, a new one comes. */
static int update_byid(struct cf_wtxn *w, const struct cf_resource *r, const struct located *loc,
		       const struct old_rec *o)
{
	size_t n = r->id ? strlen(r->id) : 0;
	bool same = o->oidn && o->oidn == n && !memcmp(o->oid, r->id, n);
	int rc = 0;
	if (o->oidn && !same && (rc = store_byid_del(w, r->kind, o->oid, o->oidn, loc->base)))
		return rc;
	if (n && !same)
		rc = store_byid_put(w, r->kind, r->id, n, loc->base);
	return rc;
}

/* cf_store_upsert of a resource (not a zone or region). */
static int upsert_resource(struct cf_wtxn *w, const struct cf_resource *r)
{
	struct target t;
	struct located loc;
	struct old_rec o;
	struct cf_dirent nd;
	int rc;
	if ((rc = prepare_record(w, r, &t)) || (rc = resolve_dirs(w, &t)))
		return rc;
	/* The entry holds the base: one search when the resource is known. A
	 * path seen for the first time has no record or document yet: the
	 * lookups for them are skipped (the first sync's cost). */
	if ((rc = locate(w, &t, &loc)))
		return rc;
	/* A page read before the write path stored or removed this resource
	 * is older than what the store holds: it must not undo it. */
	if (w->fetched && !loc.fresh && recent_at(w, loc.base) >= w->fetched) {
		cf_debug("store: %s: the page was read before a write to it; left as it is",
			 t.path);
		return 0;
	}
	new_dirent(&t, &loc, &nd);
	if ((rc = compare_record(w, &loc, &o, &nd)))
		return rc;
	bool moved = loc.have_old && loc.oino != t.tino;
	bool dirent_same = loc.have_old && !moved && !memcmp(&loc.od, &nd, sizeof nd);
	if (o.rec_same && dirent_same && !loc.stale)
		return 0;
	if ((!o.rec_same && (rc = write_record(w, &t, &loc, &o))) ||
	    (!o.rec_same && (rc = update_byid(w, r, &loc, &o))) ||
	    (rc = place_entry(w, &t, &loc, &nd, dirent_same)) ||
	    (rc = update_lineage(w, &t, &loc, &o, &nd)))
		return rc;
	if (!w->fetched)
		store_recent_note(w, loc.base, r->kind);
	return 0;
}

int store_upsert_named(struct cf_wtxn *w, const struct cf_resource *r)
{
	struct target t;
	char name[CF_NAME_MAX + 1], src[CF_PATH_MAX], org[CF_PATH_MAX];
	struct cf_resource shown = *r;
	/* What it names by id path is stored where that resource is listed now:
	 * the sync lists disks and instances before what points at them, so a
	 * rename reaches their dependents' sources and aliases in the same pass. */
	if (store_current_path(w, r->source, src, sizeof src))
		shown.source = src;
	if (store_current_path(w, r->origin, org, sizeof org))
		shown.origin = org;
	char **links = NULL, *lbuf = NULL;
	if (r->nlinks && r->nlinks <= CF_LINKS_MAX) {
		links = malloc(r->nlinks * sizeof *links);
		lbuf = malloc(r->nlinks * (size_t) CF_PATH_MAX);
		if (!links || !lbuf) {
			free(links);
			free(lbuf);
			return -ENOMEM;
		}
		for (size_t i = 0; i < r->nlinks; i++) {
			char *p = lbuf + i * CF_PATH_MAX;
			links[i] =
			    store_current_path(w, r->links[i], p, CF_PATH_MAX) ? p : r->links[i];
		}
		shown.links = links;
	}
	/* Everything that can refuse it first, listed by its id: the names'
	 * tables are written before the record. */
	shown.name = r->id;
	int rc = r->id ? prepare_record(w, &shown, &t) : -EINVAL;
	if (!rc && !(rc = store_choose_name(w, r, name))) {
		shown.name = name;
		rc = upsert_resource(w, &shown);
	}
	free(links);
	free(lbuf);
	return rc;
}

int cf_store_upsert(struct cf_wtxn *w, const struct cf_resource *r, bool *changed)
{
	if (changed)
		*changed = false;
	if (!w || !w->txn || !r)
		return -EINVAL;
	uint64_t writes0 = w->writes;
	/* A resource that names a scope (a zone) is its directory. */
	int rc = cf_scope_type_named_by(r->kind) >= 0 ? cf_store_ensure_scope(w, r->kind, r->name)
		 : cf_layout()->pref_names && r->id   ? store_upsert_named(w, r)
						      : upsert_resource(w, r);
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
		if ((rc = store_names_forget(w, &c, base)))
			return rc;
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
		store_recent_note(w, base, kind);
	}
	return mark_recompute(w, cino);
}

int cf_store_remove(struct cf_wtxn *w, const char *path)
{
	char name[CF_NAME_MAX + 1];
	uint64_t cbase;
	if (!w || !w->txn || !path)
		return -EINVAL;
	enum cf_kind kind;
	if (cf_path_parse(path, &kind, NULL, 0, name, sizeof name))
		return -EINVAL;
	size_t plen = strlen(path), nlen = strlen(name), clen = plen - nlen - 1;
	int rc = store_path_get(w->s, w->txn, path, clen, &cbase);
	if (rc)
		return rc;
	rc = store_remove_member(w, path, plen, CF_INO(cbase, 0), name, nlen, !w->fetched);
	if (rc != -ENOENT || !cf_kind_trashable(kind))
		return rc;
	/* Not in its collection: perhaps in the trash. */
	char tpath[CF_PATH_MAX + 8];
	int tn = snprintf(tpath, sizeof tpath, "trash/%.*s", (int) clen, path);
	if ((size_t) tn >= sizeof tpath || store_path_get(w->s, w->txn, tpath, (size_t) tn, &cbase))
		return -ENOENT;
	return store_remove_member(w, path, plen, CF_INO(cbase, 0), name, nlen, !w->fetched);
}
