/* store_alias.c — aliases: a snapshot under its disk's snapshots/, a
 * machine image under its instance's clones/. Nothing is stored for them: the
 * listing is the source's run of the by-source index, the entry its
 * primary's, the inodes the primary's base with CF_SUB_ALIAS (store.h). Reads
 * here; the writers report and time an alias's directory. */
#include "store_int.h"

/* Turn primary entry d into the view of its alias: -ENOENT when it has none
 * (trashed, no source, a kind without aliases) or, with want_sub, not under
 * that sub-directory of the source whose base is src_base. *src (may be
 * NULL) receives the source's path (valid for the transaction). */
int store_alias_view(struct cf_store *s, MDB_txn *txn, struct cf_dirent *d, unsigned want_sub,
		     uint64_t src_base, struct sv *src)
{
	struct rec c;
	uint64_t b;
	if (d->type != CF_NODE_RESOURCE || (d->flags & DIRENT_TRASHED) || !d->source_len)
		return -ENOENT;
	int rc = get_rec(s, txn, d->base, &c);
	if (rc)
		return rc;
	unsigned sub = alias_sub((enum cf_kind) c.kind, c.source);
	if (!sub || (want_sub && sub != want_sub))
		return -ENOENT;
	if (want_sub &&
	    ((rc = store_path_get(s, txn, c.source.p, c.source.n, &b)) || b != src_base))
		return rc && rc != -ENOENT ? rc : -ENOENT;
	d->type = CF_NODE_ALIAS;
	d->depth = components(c.source.p, c.source.n) + 2;
	if (src)
		*src = c.source;
	return 0;
}

/* Call fn for each alias in directory `sub` of the source whose base is
 * src_base, in name order: the source's dependents in the alias's
 * collection (only a source, never an origin, puts a snapshot or a
 * machine image there) whose entries are in it (not trashed). A damaged
 * entry is logged and skipped. fn returns nonzero to stop. */
int store_alias_each(struct cf_store *s, MDB_txn *txn, uint64_t src_base, unsigned sub,
		     const char *after, size_t alen, alias_fn fn, void *ctx)
{
	char src[CF_PATH_MAX];
	char prefix[ALIAS_COLL_MAX + CF_NAME_MAX];
	uint64_t cbase;
	MDB_cursor *c, *dc;
	const char *coll = alias_coll(s, sub);
	int slen = store_node_path(s, txn, src_base, src, sizeof src);
	if (slen < 0)
		return slen;
	int rc = store_path_get(s, txn, coll, strlen(coll), &cbase);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	size_t plen = (size_t) snprintf(prefix, ALIAS_COLL_MAX, "%s/", coll);
	if (alen > CF_NAME_MAX)
		return -EINVAL;
	if (after)
		memcpy(prefix + plen, after, alen);
	unsigned depth = components(src, (size_t) slen) + 2;
	enum cf_kind kind = sub_view(sub)->kind;
	/* Cursors of its own: fn may call back into the store. */
	if ((rc = open_cursor(txn, s->dbi[DB_BYSRC], &c)))
		return rc;
	if ((rc = open_cursor(txn, s->dbi[DB_DIRS], &dc))) {
		mdb_cursor_close(c);
		return rc;
	}
	/* The dependents are "COLL/NAME" duplicates of the source's path, in name
	 * order: start at the collection's first, or at "COLL/AFTER" (skipped). */
	MDB_val k = {(size_t) slen, src}, v = {plen + (after ? alen : 0), prefix};
	int mrc;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
		if (v.mv_size <= plen || memcmp(v.mv_data, prefix, plen))
			break;
		struct sv name = {(const char *) v.mv_data + plen, v.mv_size - plen};
		if (after && name.n == alen && !memcmp(name.p, after, alen))
			continue;
		struct cf_dirent d;
		int grc = dirent_at(dc, CF_INO(cbase, 0), name.p, name.n, &d);
		if (grc == -ENOENT || grc == -EIO ||
		    (!grc && (d.type != CF_NODE_RESOURCE || d.kind != kind)))
			continue; /* trashed, or damaged (logged) */
		if ((rc = grc))
			break;
		d.type = CF_NODE_ALIAS;
		d.depth = depth;
		if (fn(ctx, name, &d))
			break;
	}
	mdb_cursor_close(c);
	mdb_cursor_close(dc);
	if (!rc && mrc && mrc != MDB_NOTFOUND)
		rc = lmdb_err(mrc, "list a source's dependents");
	return rc;
}

/* The path of alias node base: SOURCE/snapshots/NAME or SOURCE/clones/NAME. */
int store_alias_path(struct cf_store *s, MDB_txn *txn, uint64_t base, char *out, size_t size)
{
	struct cf_dirent d;
	struct sv src;
	char name[CF_NAME_MAX];
	size_t nlen;
	uint64_t parent;
	int rc = store_node_dirent(s, txn, CF_INO(base, 0), &d, &parent, name, &nlen);
	if (!rc)
		rc = store_alias_view(s, txn, &d, 0, 0, &src);
	if (rc)
		return rc;
	unsigned sub = alias_sub((enum cf_kind) d.kind, src);
	if (!sub)
		return -ENOENT;
	const char *sd = sub_view(sub)->dir;
	int n = snprintf(out, size, "%.*s/%s/%.*s", (int) src.n, src.p, sd, (int) nlen, name);
	return n < 0 ? -EIO : (size_t) n >= size ? -ENAMETOOLONG : n;
}

/* The alias `name` left directory `sub` of source: report it, and have the
 * directory's mtime recomputed. Nothing is stored for an alias. */
int store_remove_alias(struct cf_wtxn *w, struct sv source, unsigned sub, const char *name,
		       size_t nlen)
{
	uint64_t sbase;
	int rc = store_path_get(w->s, w->txn, source.p, source.n, &sbase);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	uint64_t parent = CF_INO(sbase, sub);
	if ((rc = note_entry(w, parent, name, nlen)))
		return rc;
	return mark_recompute(w, parent);
}

static int note_alias(struct cf_wtxn *w, uint64_t base)
{
	for (unsigned sub = CF_SUB_DIR; sub <= CF_SUB_SOURCE; sub++) {
		int rc = note_inode(w, CF_INO(base, CF_SUB_ALIAS | sub));
		if (rc)
			return rc;
	}
	return 0;
}

/* The alias of resource base (primary entry nd, od before when it already
 * had this alias) shows in directory `sub` of its source: report what
 * changed and keep the directory's mtime. */
int store_show_alias(struct cf_wtxn *w, const char *source, size_t slen, unsigned sub,
		     const char *name, size_t nlen, const struct cf_dirent *nd,
		     const struct cf_dirent *od, bool raw_changed)
{
	uint64_t sbase;
	int rc;
	if ((rc = store_resolve(w, source, slen, &sbase, 0)))
		return rc;
	uint64_t parent = CF_INO(sbase, sub);
	if (!od) {
		if ((rc = note_entry(w, parent, name, nlen)))
			return rc;
		return store_bump(w, parent, nd->mtime, nd->mtime_ns);
	}
	if (!memcmp(od, nd, sizeof *nd))
		return raw_changed ? note_inode(w, CF_INO(nd->base, CF_SUB_ALIAS | CF_SUB_JSON))
				   : 0;
	if ((rc = note_alias(w, nd->base)))
		return rc;
	if (od->mtime != nd->mtime || od->mtime_ns != nd->mtime_ns)
		rc = store_bump(w, parent, nd->mtime, nd->mtime_ns);
	if (!rc && newer(od->mtime, od->mtime_ns, nd->mtime, nd->mtime_ns))
		rc = mark_recompute(w, parent);
	return rc;
}
