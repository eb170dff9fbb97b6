/* store_txn.c — write transactions: begin, commit (container mtimes, the
 * documents, then the changes reported to the daemon), abort; the writers'
 * puts and change notes; the documents' compaction; the write path's memory
 * of recent writes that a listing read before them must not undo. */
#include "store_int.h"

#include <stdlib.h>
#include <time.h>

int64_t cf_store_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Rebuild into cap slots, without the entries of listing drop_listing (-1:
 * none) and those older than older_than. */
static int recent_rebuild(struct recent *r, size_t cap, int drop_listing, int64_t older_than)
{
	struct recent nr = {calloc(cap, sizeof *nr.slot), cap, 0};
	if (!nr.slot)
		return -ENOMEM;
	for (size_t i = 0; i < r->cap; i++) {
		const struct recent_slot *o = &r->slot[i];
		if (!o->base || o->listing == drop_listing || o->ms < older_than)
			continue;
		*recent_find(&nr, o->base) = *o;
		nr.n++;
	}
	free(r->slot);
	*r = nr;
	return 0;
}

/* Remember base, of listing l, written at ms (applied at commit). A failure
 * to remember costs at most a resource that flickers for one sync pass, so
 * it is logged, not returned. */
static void recent_put(struct recent *r, uint64_t base, int64_t ms, uint8_t l)
{
	if ((r->n + 1) * 2 > r->cap) {
		/* Normally a sweep forgets these long before; with every listing
		 * failing for long, the oldest (10 minutes) go first. */
		int64_t old = r->n >= 65536 ? cf_store_clock_ms() - 600000 : INT64_MIN;
		size_t cap = r->cap ? r->cap : 64;
		while ((r->n + 1) * 2 > cap)
			cap *= 2;
		if (recent_rebuild(r, cap, -1, old)) {
			cf_warn("store: out of memory remembering a write");
			return;
		}
	}
	struct recent_slot *sl = recent_find(r, base);
	if (!sl->base)
		r->n++;
	/* a base noted twice keeps its latest write */
	if (!sl->base || sl->ms <= ms)
		*sl = (struct recent_slot){base, ms, l};
}

/* Listing l's entries go (a sweep of l). */
static void recent_drop(struct recent *r, int l)
{
	if (!r->n)
		return;
	size_t keep = 0;
	for (size_t i = 0; i < r->cap; i++)
		keep += r->slot[i].base && r->slot[i].listing != l;
	if (!keep) {
		free(r->slot);
		memset(r, 0, sizeof *r);
	} else if (keep < r->n && recent_rebuild(r, r->cap, l, INT64_MIN)) {
		cf_warn("store: out of memory forgetting writes");
	}
}

void store_recent_note(struct cf_wtxn *w, uint64_t base, enum cf_kind k)
{
	/* Only the kinds with a collection: a write never stores a scope. */
	int l = cf_kind_collection(k) ? cf_kind_listing(k) : -1;
	if (l < 0 || !base)
		return;
	if (w->nnotes == w->capnotes) {
		size_t cap = w->capnotes ? w->capnotes * 2 : 8;
		struct recent_slot *n = realloc(w->notes, cap * sizeof *n);
		if (!n) {
			cf_warn("store: out of memory remembering a write");
			return;
		}
		w->notes = n;
		w->capnotes = cap;
	}
	w->notes[w->nnotes++] = (struct recent_slot){base, cf_store_clock_ms(), (uint8_t) l};
}

void store_recent_forget(struct cf_wtxn *w, enum cf_listing l)
{
	/* this transaction's own notes of l, made before the sweep, go with it */
	size_t j = 0;
	for (size_t i = 0; i < w->nnotes; i++)
		if (w->notes[i].listing != l)
			w->notes[j++] = w->notes[i];
	w->nnotes = j;
	w->forget |= UINT32_C(1) << l;
}

int64_t recent_at(const struct cf_wtxn *w, uint64_t base)
{
	const struct recent *r = &w->s->recent;
	const struct recent_slot *sl = r->n ? recent_find(r, base) : NULL;
	int64_t at = sl && sl->base ? sl->ms : INT64_MIN;
	for (size_t i = 0; i < w->nnotes; i++)
		if (w->notes[i].base == base && w->notes[i].ms > at)
			at = w->notes[i].ms;
	return at;
}

_Static_assert(CF_LIST__COUNT <= 32, "struct cf_wtxn's forget has a bit per listing");

/* At commit, under wlock: what w remembered and forgot becomes the store's. */
static void recent_apply(struct cf_wtxn *w)
{
	struct recent *r = &w->s->recent;
	for (int l = 0; l < CF_LIST__COUNT; l++)
		if (w->forget & (UINT32_C(1) << l))
			recent_drop(r, l);
	for (size_t i = 0; i < w->nnotes; i++)
		recent_put(r, w->notes[i].base, w->notes[i].ms, w->notes[i].listing);
}

int store_wput(struct cf_wtxn *w, int db, MDB_val *k, MDB_val *v, unsigned flags, const char *what)
{
	int rc = mdb_put(w->txn, w->s->dbi[db], k, v, flags);
	if (rc)
		return lmdb_err(rc, what);
	w->writes++;
	return 0;
}

/* 1 when something was deleted, 0 when it was not there. */
int store_wdel(struct cf_wtxn *w, int db, MDB_val *k, const char *what)
{
	int rc = mdb_del(w->txn, w->s->dbi[db], k, NULL);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return lmdb_err(rc, what);
	w->writes++;
	return 1;
}

int store_note_change(struct cf_wtxn *w, uint64_t ino, const char *name, size_t len, bool entry)
{
	if (!entry) {
		int rc = cf_u64set_add(&w->reported, ino);
		if (rc <= 0)
			return rc;
	}
	if (w->nch == w->capch) {
		size_t cap = w->capch ? w->capch * 2 : 64;
		struct change *ch = realloc(w->ch, cap * sizeof *ch);
		if (!ch)
			return -ENOMEM;
		w->ch = ch;
		w->capch = cap;
	}
	struct change *c = &w->ch[w->nch];
	c->ino = ino;
	c->entry = entry;
	c->off = w->names.len;
	c->len = (uint32_t) len;
	if (entry && buf_add(&w->names, name, len))
		return -ENOMEM;
	w->nch++;
	return 0;
}

/* The dirs key of a container inode (the root is (0, "")). */
static int container_key(struct cf_wtxn *w, uint64_t ino, uint64_t *parent, char *name,
			 size_t *nlen)
{
	if (ino == CF_INO_ROOT) {
		*parent = 0;
		*nlen = 0;
		return 0;
	}
	return get_node(w->s, w->txn, CF_INO_BASE(ino), parent, name, nlen);
}

static int put_subtime(struct cf_wtxn *w, uint64_t ino, int64_t mtime, uint32_t ns)
{
	struct subtime t = {mtime, ns, 0};
	MDB_val k = {8, &ino}, v = {sizeof t, &t};
	return store_wput(w, DB_SUBT, &k, &v, 0, "write a directory time");
}

/* A member of container ino was created at (mt, ns): raise the container's
 * mtime, and its ancestors', if that is newer (or they were vacant). The
 * walk ends below CF_INO_TRASH, whose attributes the daemon keeps. */
static int bump_now(struct cf_wtxn *w, uint64_t ino, int64_t mt, uint32_t ns)
{
	char name[CF_NAME_MAX];
	size_t nlen;
	uint64_t parent;
	struct cf_dirent d;
	int rc;
	if (ino == w->bump_ino && !newer(mt, ns, w->bump_mtime, w->bump_ns))
		return 0;
	uint64_t first = ino;
	while (ino && ino != CF_INO_TRASH) {
		unsigned sub = ino == CF_INO_ROOT ? 0 : CF_INO_SUB(ino);
		if (sub == CF_SUB_SNAPSHOTS || sub == CF_SUB_CLONES) {
			struct subtime t;
			if ((rc = get_subtime(w->s, w->txn, ino, &t)) < 0)
				return rc;
			if (rc && !newer(mt, ns, t.mtime, t.ns))
				return 0;
			if ((rc = put_subtime(w, ino, mt, ns)) || (rc = note_inode(w, ino)))
				return rc;
			return 0; /* a resource's own mtime is its creation time */
		}
		if ((rc = container_key(w, ino, &parent, name, &nlen)) ||
		    (rc = store_get_dirent(w->s, w->txn, parent, name, nlen, &d)))
			return rc;
		if (d.type != CF_NODE_CONTAINER)
			return 0;
		if (!(d.flags & DIRENT_VACANT) && !newer(mt, ns, d.mtime, d.mtime_ns)) {
			if (ino == first) {
				w->bump_ino = ino;
				w->bump_mtime = d.mtime;
				w->bump_ns = d.mtime_ns;
			}
			return 0;
		}
		d.mtime = d.ctime = mt;
		d.mtime_ns = ns;
		d.flags &= ~DIRENT_VACANT;
		if ((rc = store_put_dirent(w, parent, name, nlen, &d)) || (rc = note_inode(w, ino)))
			return rc;
		if (ino == first) {
			w->bump_ino = ino;
			w->bump_mtime = mt;
			w->bump_ns = ns;
		}
		ino = parent;
	}
	return 0;
}

/* bump_now, at commit (see struct cf_wtxn's bumps); at once when too many
 * containers are pending. */
int store_bump(struct cf_wtxn *w, uint64_t ino, int64_t mt, uint32_t ns)
{
	for (size_t i = 0; i < w->nbumps; i++) {
		struct pending_bump *b = &w->bumps[i];
		if (b->ino == ino) {
			if (newer(mt, ns, b->mt, b->ns)) {
				b->mt = mt;
				b->ns = ns;
			}
			return 0;
		}
	}
	if (w->nbumps == sizeof w->bumps / sizeof w->bumps[0])
		return bump_now(w, ino, mt, ns);
	w->bumps[w->nbumps++] = (struct pending_bump){ino, mt, ns};
	return 0;
}

/* Scan container ino's members and set its mtime to the newest (vacant
 * containers among them do not count; with none, it is vacant again and
 * shows its birth); then its parent's, which may have changed with it. */
struct newest {
	int64_t mt;
	uint32_t ns;
	bool any;
};
static void newest_add(struct newest *n, const struct cf_dirent *d)
{
	if (d->type == CF_NODE_CONTAINER && (d->flags & DIRENT_VACANT))
		return;
	if (!n->any || newer(d->mtime, d->mtime_ns, n->mt, n->ns)) {
		n->mt = d->mtime;
		n->ns = d->mtime_ns;
	}
	n->any = true;
}
static int newest_fn(void *ctx, struct sv name, struct cf_dirent *d)
{
	(void) name;
	newest_add(ctx, d);
	return 0;
}

/* The newest member of directory ino: its entries, or an alias directory's
 * aliases. */
static int newest_member(struct cf_wtxn *w, uint64_t ino, struct newest *n)
{
	MDB_cursor *c;
	unsigned sub = ino == CF_INO_ROOT ? 0 : CF_INO_SUB(ino);
	if (sub == CF_SUB_SNAPSHOTS || sub == CF_SUB_CLONES)
		return store_alias_each(w->s, w->txn, CF_INO_BASE(ino), sub, NULL, 0, newest_fn, n);
	int rc = open_cursor(w->txn, w->s->dbi[DB_DIRS], &c);
	if (rc)
		return rc;
	MDB_val v;
	struct sv name;
	struct cf_dirent d;
	for (rc = dir_step(c, &ino, &v, true); rc == 0; rc = dir_step(c, &ino, &v, false))
		if (!dirent_split(&v, &name, &d))
			newest_add(n, &d);
	mdb_cursor_close(c);
	return rc && rc != MDB_NOTFOUND ? lmdb_err(rc, "scan a directory") : 0;
}

static int recompute(struct cf_wtxn *w, uint64_t ino, int depth)
{
	struct newest n = {0, 0, false};
	struct cf_dirent d;
	if (ino == CF_INO_TRASH)
		return 0;
	int rc = newest_member(w, ino, &n);
	if (rc)
		return rc;
	int64_t mt = n.mt;
	uint32_t ns = n.ns;
	bool any = n.any;
	unsigned sub = ino == CF_INO_ROOT ? 0 : CF_INO_SUB(ino);
	if (sub == CF_SUB_SNAPSHOTS || sub == CF_SUB_CLONES) {
		struct subtime t;
		int had = get_subtime(w->s, w->txn, ino, &t);
		if (had < 0)
			return had;
		if (!any) { /* empty: stat shows the resource's creation time */
			MDB_val k = {8, &ino};
			if (!had)
				return 0;
			if ((rc = store_wdel(w, DB_SUBT, &k, "remove a directory time")) < 0)
				return rc;
			return note_inode(w, ino);
		}
		if (had && t.mtime == mt && t.ns == ns)
			return 0;
		if ((rc = put_subtime(w, ino, mt, ns)))
			return rc;
		return note_inode(w, ino);
	}
	char name[CF_NAME_MAX];
	size_t nlen;
	uint64_t parent;
	if ((rc = container_key(w, ino, &parent, name, &nlen)) ||
	    (rc = store_get_dirent(w->s, w->txn, parent, name, nlen, &d)))
		return rc == -ENOENT ? 0 : rc; /* the container itself went away */
	if (d.type != CF_NODE_CONTAINER)
		return 0;
	uint32_t flags = any ? d.flags & ~DIRENT_VACANT : d.flags | DIRENT_VACANT;
	if (!any) {
		mt = (int64_t) d.size;
		ns = 0;
	}
	if (d.mtime == mt && d.mtime_ns == ns && d.flags == flags)
		return 0;
	d.mtime = d.ctime = mt;
	d.mtime_ns = ns;
	d.flags = flags;
	if ((rc = store_put_dirent(w, parent, name, nlen, &d)) || (rc = note_inode(w, ino)))
		return rc;
	if (w->bump_ino == ino)
		w->bump_ino = 0;
	return parent && parent != CF_INO_TRASH && depth < 8 ? recompute(w, parent, depth + 1) : 0;
}

int cf_store_put_sync_state(struct cf_wtxn *w, enum cf_listing l, const struct cf_sync_state *st)
{
	char kb[32];
	MDB_val k, v;
	struct cf_sync_state copy;
	if (!w || !w->txn || !st || (unsigned) l >= CF_LIST__COUNT)
		return -EINVAL;
	copy = *st;
	copy.last_error[sizeof copy.last_error - 1] = '\0';
	sync_key(l, kb, sizeof kb, &k);
	v = (MDB_val){sizeof copy, &copy};
	w->byid_settle = true; /* the listing ended (or failed): the id index catches up */
	return store_wput(w, DB_META, &k, &v, 0, "write sync state");
}

static void wfree(struct cf_wtxn *w)
{
	free(w->rec.p);
	free(w->dbuf.p);
	free(w->tmp.p);
	free(w->names.p);
	free(w->ch);
	free(w->notes);
	cf_u64set_free(&w->reported);
	cf_u64set_free(&w->recompute);
	free(w);
}

/* Let the next writer in (its transaction ended), and free w. */
static void wfree_unlock(struct cf_wtxn *w)
{
	pthread_mutex_unlock(&w->s->wlock);
	wfree(w);
}

int cf_store_wbegin(struct cf_store *s, struct cf_wtxn **out)
{
	if (!s || !out)
		return -EINVAL;
	struct cf_wtxn *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->s = s;
	w->now = time(NULL);
	/* Writers come from several threads: the store's writer state is theirs
	 * one at a time, until wfree_unlock (store_int.h, wlock). */
	pthread_mutex_lock(&s->wlock);
	if (!s->bcache)
		s->bcache = calloc(BCACHE_SLOTS, sizeof *s->bcache); /* optional */
	int rc = mdb_txn_begin(s->env, NULL, 0, &w->txn);
	if (rc) {
		pthread_mutex_unlock(&s->wlock);
		free(w);
		return lmdb_err(rc, "begin a write transaction");
	}
	MDB_val k = meta_key("next_base"), v;
	rc = mdb_get(w->txn, s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		w->next_base = 2; /* base 1 is .clonefs/ */
		w->next_base_dirty = true;
	} else if (rc || v.mv_size != 8) {
		cf_err("store: next_base unreadable (%s)", rc ? mdb_strerror(rc) : "wrong size");
		mdb_txn_abort(w->txn);
		wfree_unlock(w);
		return -EIO;
	} else {
		memcpy(&w->next_base, v.mv_data, 8);
	}
	/* The documents' state, read under the write lock: another thread's
	 * commit may have changed it a moment ago. */
	k = meta_key("docs");
	rc = mdb_get(w->txn, s->dbi[DB_META], &k, &v);
	if (rc == 0 && v.mv_size == sizeof w->ds) {
		memcpy(&w->ds, v.mv_data, sizeof w->ds);
	} else if (rc != MDB_NOTFOUND) {
		cf_err("store: the documents' state is unreadable (%s)",
		       rc ? mdb_strerror(rc) : "wrong size");
		mdb_txn_abort(w->txn);
		wfree_unlock(w);
		return -EIO;
	}
	int c = w->ds.cur;
	/* A compaction ended: empty its old file now that no commit can still
	 * need it (a failure only costs disk space: end[] says it is empty). */
	if (w->ds.truncate && cf_docs_truncate(s->docs, 1 - c) == 0) {
		w->ds.truncate = 0;
		w->ds_dirty = true;
	}
	/* Before any document is appended: a compaction switches files. */
	uint64_t garbage = w->ds.end[c] > w->ds.live[c] ? w->ds.end[c] - w->ds.live[c] : 0;
	if (!w->ds.compacting && garbage > w->ds.live[c] + DOCS_SLACK) {
		cf_info("store: compacting the documents: %llu of the %llu bytes of docs.%d are "
			"still used",
			(unsigned long long) w->ds.live[c], (unsigned long long) w->ds.end[c], c);
		w->ds.cur = (uint8_t) (1 - c);
		w->ds.compacting = 1;
		w->ds.walk = 0;
		w->ds.end[1 - c] = w->ds.live[1 - c] = 0;
		w->ds_dirty = true;
	}
	*out = w;
	return 0;
}

/* One step of a compaction (struct docs_state): move up to DOCS_STEP
 * documents, in base order from ds.walk, from the old file to the current
 * one, rewriting their records in place. A document that does not read back
 * as its hash is dropped from its record (logged), so the next sync writes
 * it again. */
static int docs_compact_step(struct cf_wtxn *w)
{
	struct cf_store *s = w->s;
	int from = 1 - w->ds.cur;
	MDB_cursor *c;
	char *doc = NULL;
	size_t cap = 0, n = 0;
	uint64_t key = w->ds.walk;
	int rc = open_cursor(w->txn, s->dbi[DB_RES], &c);
	if (rc)
		return rc;
	MDB_val k = {8, &key}, v;
	int mrc;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	     mrc == 0 && n < DOCS_STEP && w->dbuf.len < DOCS_STEP_BYTES;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
		trim_tick(w->txn);
		struct rec r;
		uint64_t base, ref = 0;
		memcpy(&base, k.mv_data, 8);
		w->ds.walk = base + 1;
		if (store_rec_decode(v.mv_data, v.mv_size, &r) || !r.raw_hash ||
		    DOC_FILE(r.doc_ref) != from)
			continue;
		if (r.doc_len > cap) {
			char *p = realloc(doc, r.doc_len);
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			doc = p;
			cap = r.doc_len;
		}
		uint64_t hash = r.raw_hash;
		uint32_t len = r.doc_len;
		bool good = !cf_docs_read(s->docs, from, DOC_OFF(r.doc_ref), doc, len) &&
			    (cf_hash64(doc, len) | 1) == hash;
		doc_drop(w, r.doc_ref, len);
		if (good && (rc = doc_append(w, doc, len, &ref)))
			break;
		if (!good) {
			cf_err("store: the resource.json of base %llu is damaged; the next sync "
			       "writes it again",
			       (unsigned long long) base);
			hash = 0;
			len = 0;
		}
		w->tmp.len = 0;
		if (buf_add(&w->tmp, v.mv_data, v.mv_size)) {
			rc = -ENOMEM;
			break;
		}
		memcpy(w->tmp.p + REC_DOC_REF - 8, &hash, 8);
		memcpy(w->tmp.p + REC_DOC_REF, &ref, 8);
		memcpy(w->tmp.p + REC_DOC_REF + 8, &len, 4);
		MDB_val nv = {w->tmp.len, w->tmp.p};
		if ((mrc = mdb_cursor_put(c, &k, &nv, MDB_CURRENT))) {
			rc = lmdb_err(mrc, "move a document");
			break;
		}
	}
	mdb_cursor_close(c);
	free(doc);
	if (rc)
		return rc;
	if (mrc && mrc != MDB_NOTFOUND)
		return lmdb_err(mrc, "compact the documents");
	if (mrc == MDB_NOTFOUND) { /* every record looked at: the old file is unused */
		w->ds.compacting = 0;
		w->ds.end[from] = w->ds.live[from] = 0;
		w->ds.truncate = 1; /* by the next transaction, after this one committed */
		cf_info("store: documents compacted into docs.%d (%llu bytes)", w->ds.cur,
			(unsigned long long) (w->ds.end[w->ds.cur] + w->dbuf.len));
	}
	w->ds_dirty = true;
	return 0;
}

void cf_store_wfetched(struct cf_wtxn *w, int64_t fetched_ms)
{
	if (w)
		w->fetched = fetched_ms > 0 ? fetched_ms : 1;
}

void cf_store_wabort(struct cf_wtxn *w)
{
	if (!w)
		return;
	if (w->txn)
		mdb_txn_abort(w->txn);
	/* Its bases are undone: forget them before the next writer, which LMDB
	 * may already have let in, can look (wlock). */
	if (w->s->bcache)
		memset(w->s->bcache, 0, BCACHE_SLOTS * sizeof *w->s->bcache);
	store_byid_aborted(w->s);
	wfree_unlock(w);
}

int cf_store_wcommit(struct cf_wtxn *w, const struct cf_change_sink *sink)
{
	int rc = 0;
	if (!w)
		return -EINVAL;
	/* The id index notes that it lags, and whether it catches up after commit. */
	rc = store_byid_commit(w);
	/* Raises first: a container that also lost a member is then recomputed
	 * from all of its members, the new ones included. */
	for (size_t i = 0; !rc && i < w->nbumps; i++)
		rc = bump_now(w, w->bumps[i].ino, w->bumps[i].mt, w->bumps[i].ns);
	w->nbumps = 0;
	for (size_t i = 0; !rc && i < w->recompute.cap; i++)
		if (w->recompute.slot[i])
			rc = recompute(w, w->recompute.slot[i], 0);
	if (!rc && w->next_base_dirty) {
		MDB_val k = meta_key("next_base"), v = {8, &w->next_base};
		rc = store_wput(w, DB_META, &k, &v, 0, "write next_base");
	}
	if (!rc && w->ds.compacting)
		rc = docs_compact_step(w);
	/* The documents first: the tree must not name one that is not there. */
	int c = w->ds.cur;
	if (!rc && w->dbuf.len) {
		rc = cf_docs_write(w->s->docs, c, w->ds.end[c], w->dbuf.p, w->dbuf.len);
		w->ds.end[c] += w->dbuf.len;
	}
	if (!rc && w->ds_dirty) {
		MDB_val k = meta_key("docs"), v = {sizeof w->ds, &w->ds};
		rc = store_wput(w, DB_META, &k, &v, 0, "write the documents' state");
	}
	if (rc) {
		cf_store_wabort(w);
		return rc;
	}
	int mrc = mdb_txn_commit(w->txn);
	w->txn = NULL;
	if (mrc) {
		cf_store_wabort(w);
		return lmdb_err(mrc, "commit");
	}
	/* Committed: its writes are remembered (struct recent), before the next
	 * writer can look. */
	recent_apply(w);
	store_byid_committed(w);
	/* The next writer may begin: what this one keeps for the sink is its own. */
	pthread_mutex_unlock(&w->s->wlock);
	cf_maptrim_check(w->s->trim); /* a write transaction reads pages through the map */
	/* Only now, with the transaction visible to readers, tell the kernel. */
	for (size_t i = 0; sink && i < w->nch; i++) {
		const struct change *c = &w->ch[i];
		if (c->entry && sink->entry)
			sink->entry(sink->ctx, c->ino, (const char *) w->names.p + c->off, c->len);
		else if (!c->entry && sink->inode)
			sink->inode(sink->ctx, c->ino);
	}
	if (sink && sink->done && w->nch)
		sink->done(sink->ctx);
	wfree(w); /* unlocked above */
	return 0;
}
