/* store_byid.c — the id index (byid), and how it follows a listing.
 *
 * byid's keys begin with a hash cookie (store_int.h), so the ids of one
 * listing page land on as many leaves as the page has resources. Written
 * page by page, every page's commit copied about that many leaves: at a
 * million snapshots the first sync wrote 6.4 GB, three quarters of it for
 * this index. So a listing page's changes to the index wait in memory (the
 * writer's, under wlock) and are written in key order, each leaf once, at
 * the end of the listing. Every BYID_DEFER_MAX of them go to a sorted run on
 * disk (store_byid_spill.h), merged with the rest at the end. Until then:
 *  - the writer's own lookups see them (store_byid_get looks here first);
 *  - .clonefs/by-id/ does not list them yet (its readers read the table);
 *  - a meta key, "byid_owed", committed with the first deferred change and
 *    deleted with the last, says the table may lag the records: an open that
 *    finds it (the process died in between) repairs the table from them.
 * Any writer's change to the index waits while others do, so that the
 * order of changes to one id is kept. */
#include "store_int.h"

#include "hash.h"

#include <stdlib.h>

/* About 6 MB of ids and changes in memory at most; then they are spilled. */
enum { BYID_DEFER_MAX = 131072 };

struct byid_op {
	uint64_t cookie;
	uint64_t base; /* its value; ignored for a delete */
	uint32_t off;  /* the id, in ids */
	uint8_t len;
	uint8_t kind;
	uint8_t del;
};

/* ---- keys ---- */

void store_byid_prefix(uint64_t cookie, unsigned char out[8])
{
	for (int i = 7; i >= 0; i--, cookie >>= 8)
		out[i] = (unsigned char) cookie;
}

/* The key: the id's listing cookie (cf_dir_name_cookie, big-endian) ++ id ++ "\0" ++ kind.
 * The cookie first puts .clonefs/by-id/ in cookie order, so a listing resumes after any
 * cookie it gave with no state kept (fs/read_ops.c's stateless readdir). */
static bool id_ok(const char *id, size_t n)
{
	return id && n && n < CF_ID_MAX && !memchr(id, '\0', n);
}

static MDB_val make_key(uint64_t cookie, enum cf_kind k, const char *id, size_t n,
			unsigned char *kb)
{
	store_byid_prefix(cookie, kb);
	memcpy(kb + 8, id, n);
	kb[8 + n] = '\0';
	kb[8 + n + 1] = (unsigned char) k;
	return (MDB_val){8 + n + 2, kb};
}

/* ---- the changes waiting (struct byid_defer, the writer's) ---- */

static const char *op_id(const struct byid_defer *d, const struct byid_op *o)
{
	return (const char *) d->ids.p + o->off;
}

static size_t slot_of(enum cf_kind k, const char *id, size_t n, size_t mask)
{
	return (size_t) (cf_hash64(id, n) ^ ((uint64_t) k * 0x9e3779b97f4a7c15ull)) & mask;
}

/* The newest change of (k, id), or NULL. */
static const struct byid_op *pending(const struct byid_defer *d, enum cf_kind k, const char *id,
				     size_t n)
{
	if (!d->n)
		return NULL;
	size_t mask = d->nslot - 1;
	for (size_t i = slot_of(k, id, n, mask); d->slot[i]; i = (i + 1) & mask) {
		const struct byid_op *o = &d->op[d->slot[i] - 1];
		if (o->kind == k && o->len == n && !memcmp(op_id(d, o), id, n))
			return o;
	}
	return NULL;
}

/* Index op[i] as its id's newest change (the table has room). */
static void slot_put(struct byid_defer *d, size_t i)
{
	const struct byid_op *o = &d->op[i];
	size_t mask = d->nslot - 1;
	size_t s = slot_of(o->kind, op_id(d, o), o->len, mask);
	for (; d->slot[s]; s = (s + 1) & mask) {
		const struct byid_op *p = &d->op[d->slot[s] - 1];
		if (p->kind == o->kind && p->len == o->len &&
		    !memcmp(op_id(d, p), op_id(d, o), o->len))
			break;
	}
	d->slot[s] = (uint32_t) i + 1;
}

/* The slots again, for op[0..n) in order, in a table of nslot (a power of two > 2n). */
static int rehash(struct byid_defer *d, size_t nslot)
{
	if (nslot != d->nslot) {
		uint32_t *s = calloc(nslot, sizeof *s);
		if (!s)
			return -ENOMEM;
		free(d->slot);
		d->slot = s;
		d->nslot = nslot;
	} else if (d->slot) {
		memset(d->slot, 0, nslot * sizeof *d->slot);
	}
	for (size_t i = 0; i < d->n; i++)
		slot_put(d, i);
	return 0;
}

static int defer_add(struct cf_wtxn *w, enum cf_kind k, const char *id, size_t n, uint64_t base,
		     bool del)
{
	struct byid_defer *d = &w->s->byid;
	if (d->n == d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 1024;
		struct byid_op *op = realloc(d->op, cap * sizeof *op);
		if (!op)
			return -ENOMEM;
		d->op = op;
		d->cap = cap;
	}
	if (2 * (d->n + 1) > d->nslot) {
		size_t nslot = d->nslot ? d->nslot : 2048;
		while (2 * (d->n + 1) > nslot)
			nslot *= 2;
		int rc = rehash(d, nslot);
		if (rc)
			return rc;
	}
	if (d->ids.len + n > UINT32_MAX || buf_add(&d->ids, id, n))
		return -ENOMEM;
	d->op[d->n] = (struct byid_op){.cookie = cf_dir_name_cookie(id, n),
				       .base = base,
				       .off = (uint32_t) (d->ids.len - n),
				       .len = (uint8_t) n,
				       .kind = (uint8_t) k,
				       .del = del};
	slot_put(d, d->n++);
	return 0;
}

/* Does this write wait with the others? A listing page's does; any other
 * writer's while changes wait (one id's changes stay in order). */
static bool deferring(const struct cf_wtxn *w)
{
	return w->fetched || w->s->byid.n || w->s->byid.runs.n;
}

/* ---- the index's calls ---- */

int store_byid_get(struct cf_store *s, MDB_txn *txn, enum cf_kind k, const char *id, size_t n,
		   uint64_t *base)
{
	unsigned char kb[CF_BYID_KEY_MAX];
	MDB_val key, v;
	if (!id_ok(id, n))
		return -ENOENT;
	const struct byid_op *o = pending(&s->byid, k, id, n);
	if (o) {
		if (o->del)
			return -ENOENT;
		*base = o->base;
		return 0;
	}
	uint64_t cookie = cf_dir_name_cookie(id, n);
	int rc;
	if (s->byid.runs.n) {
		struct byid_rec x;
		rc = byid_runs_find(&s->byid.runs, k, id, n, cookie, &x);
		if (rc == 0 && x.del)
			return -ENOENT;
		if (rc == 0)
			*base = x.base;
		if (rc != -ENOENT)
			return rc;
	}
	key = make_key(cookie, k, id, n, kb);
	rc = mdb_get(txn, s->dbi[DB_BYID], &key, &v);
	if (rc)
		return lmdb_err(rc, "read the id index");
	if (v.mv_size != 8) {
		cf_err("store: an id index entry of %zu bytes", v.mv_size);
		return -EIO;
	}
	memcpy(base, v.mv_data, 8);
	return 0;
}

int store_byid_put(struct cf_wtxn *w, enum cf_kind k, const char *id, size_t n, uint64_t base)
{
	unsigned char kb[CF_BYID_KEY_MAX];
	if (!id_ok(id, n))
		return 0; /* no id, or one too long to be one: not indexed */
	if (deferring(w))
		return defer_add(w, k, id, n, base, false);
	MDB_val key = make_key(cf_dir_name_cookie(id, n), k, id, n, kb), v = {8, &base};
	int rc = store_wput(w, DB_BYID, &key, &v, 0, "write the id index");
	/* .clonefs/by-id/ID now names another node */
	return rc ? rc : note_entry(w, CF_INO_BYID, id, n);
}

int store_byid_del(struct cf_wtxn *w, enum cf_kind k, const char *id, size_t n, uint64_t base)
{
	unsigned char kb[CF_BYID_KEY_MAX];
	uint64_t cur;
	int rc = store_byid_get(w->s, w->txn, k, id, n, &cur);
	if (rc == -ENOENT || (!rc && cur != base))
		return 0; /* another resource's now */
	if (rc)
		return rc;
	if (deferring(w))
		return defer_add(w, k, id, n, base, true);
	MDB_val key = make_key(cf_dir_name_cookie(id, n), k, id, n, kb);
	rc = store_wdel(w, DB_BYID, &key, "update the id index");
	return rc < 0 ? rc : note_entry(w, CF_INO_BYID, id, n);
}

/* ---- writing the changes ---- */

static MDB_val owed_key(void)
{
	return meta_key("byid_owed");
}

/* Key order, then age, for qsort_r. */
static int op_cmp(const void *a, const void *b, void *ctx)
{
	const struct byid_defer *d = ctx;
	const struct byid_op *x = &d->op[*(const uint32_t *) a], *y = &d->op[*(const uint32_t *) b];
	int c = byid_key_cmp(x->cookie, op_id(d, x), x->len, x->kind, y->cookie, op_id(d, y),
			     y->len, y->kind);
	return c ? c : x < y ? -1 : x > y;
}

/* The waiting changes' indexes in key order (malloc'd), or NULL. */
static uint32_t *sorted(const struct byid_defer *d)
{
	uint32_t *order = malloc((d->n ? d->n : 1) * sizeof *order);
	if (!order)
		return NULL;
	for (size_t i = 0; i < d->n; i++)
		order[i] = (uint32_t) i;
	qsort_r(order, d->n, sizeof *order, op_cmp, (void *) d);
	return order;
}

/* From order[i] on, the first change that is its id's newest. */
static size_t next_newest(const struct byid_defer *d, const uint32_t *order, size_t i)
{
	for (; i < d->n; i++) {
		const struct byid_op *o = &d->op[order[i]];
		if (pending(d, o->kind, op_id(d, o), o->len) == o)
			break;
	}
	return i;
}

/* Write one change into the table. */
static int apply(struct cf_wtxn *w, uint64_t cookie, unsigned kind, const char *id, size_t len,
		 uint64_t base, bool del)
{
	unsigned char kb[CF_BYID_KEY_MAX];
	MDB_val key = make_key(cookie, (enum cf_kind) kind, id, len, kb), v = {8, &base};
	int rc = del ? store_wdel(w, DB_BYID, &key, "update the id index")
		     : store_wput(w, DB_BYID, &key, &v, 0, "write the id index");
	return rc < 0 ? rc : note_entry(w, CF_INO_BYID, id, len);
}

/* Each id's newest change, of the spilled runs and of those in memory, into
 * the table in key order, CHUNK changes per transaction: LMDB keeps every
 * page a transaction dirtied in a pool of its own for good (mdb_dpage_free),
 * so one transaction over a million-entry index would leave the daemon
 * ~70 MB larger. A chunk that fails leaves every change waiting (written
 * again later: a put or delete twice is once) and "byid_owed" set, which
 * only the last chunk deletes. Under wlock, after w's commit; the entries
 * are noted in w's changes, reported next. */
static int flush(struct cf_wtxn *w)
{
	enum { CHUNK = 4096 };
	struct cf_store *s = w->s;
	struct byid_defer *d = &s->byid;
	struct byid_merge *m = NULL;
	struct byid_rec sp; /* the runs' next change, when have */
	int have = 0, rc = 0;
	uint32_t *order = sorted(d);
	if (!order)
		return -ENOMEM;
	if (d->runs.n && !(rc = byid_merge_open(&d->runs, &m)) &&
	    (have = byid_merge_next(m, &sp)) < 0)
		rc = have;
	size_t i = next_newest(d, order, 0);
	while (!rc && (have || i < d->n)) {
		int mrc = mdb_txn_begin(s->env, NULL, 0, &w->txn);
		if (mrc) {
			w->txn = NULL;
			rc = lmdb_err(mrc, "begin a write transaction");
			break;
		}
		for (size_t k = 0; !rc && k < CHUNK && (have || i < d->n); k++) {
			const struct byid_op *o = i < d->n ? &d->op[order[i]] : NULL;
			/* of one key, the change in memory is the newer */
			int c = !have ? 1
				: !o  ? -1
				      : byid_key_cmp(sp.cookie, sp.id, sp.len, sp.kind, o->cookie,
						     op_id(d, o), o->len, o->kind);
			rc = c < 0 ? apply(w, sp.cookie, sp.kind, sp.id, sp.len, sp.base, sp.del)
				   : apply(w, o->cookie, o->kind, op_id(d, o), o->len, o->base,
					   o->del);
			if (!rc && c <= 0 && (have = byid_merge_next(m, &sp)) < 0)
				rc = have;
			if (c >= 0)
				i = next_newest(d, order, i + 1);
		}
		MDB_val k = owed_key();
		if (!rc && !have && i >= d->n)
			rc = store_wdel(w, DB_META, &k, "settle the id index");
		if (rc < 0) {
			mdb_txn_abort(w->txn);
		} else if ((mrc = mdb_txn_commit(w->txn))) {
			rc = lmdb_err(mrc, "commit");
		} else {
			rc = 0;
		}
		w->txn = NULL;
		/* each chunk reads its part of the map: at a million, ~70 MB in all */
		cf_maptrim_check(s->trim);
	}
	byid_merge_close(m);
	free(order);
	return rc;
}

/* The changes in memory, as one more sorted run on disk. */
static int spill(struct cf_wtxn *w)
{
	struct byid_defer *d = &w->s->byid;
	uint32_t *order = sorted(d);
	if (!order)
		return -ENOMEM;
	int rc = byid_run_begin(&d->runs, w->s->dir);
	for (size_t i = next_newest(d, order, 0); !rc && i < d->n;
	     i = next_newest(d, order, i + 1)) {
		const struct byid_op *o = &d->op[order[i]];
		struct byid_rec x = {.cookie = o->cookie,
				     .base = o->base,
				     .kind = o->kind,
				     .del = o->del,
				     .len = o->len};
		memcpy(x.id, op_id(d, o), o->len);
		rc = byid_run_add(&d->runs, &x);
	}
	if (!rc)
		rc = byid_run_end(&d->runs);
	if (rc)
		byid_run_cancel(&d->runs);
	free(order);
	return rc;
}

static void clear_batch(struct byid_defer *d)
{
	d->n = d->mark = d->ids.len = d->ids_mark = 0;
	if (d->slot)
		memset(d->slot, 0, d->nslot * sizeof *d->slot);
}

int store_byid_commit(struct cf_wtxn *w)
{
	struct byid_defer *d = &w->s->byid;
	static char one[] = "1";
	MDB_val k = owed_key(), v = {1, one};
	if (!d->n && !d->runs.n)
		return 0;
	w->byid_flush = w->byid_settle || d->n >= BYID_DEFER_MAX;
	return d->owed ? 0 : store_wput(w, DB_META, &k, &v, 0, "note the id index's lag");
}

void store_byid_committed(struct cf_wtxn *w)
{
	struct byid_defer *d = &w->s->byid;
	d->owed = d->n > 0 || d->runs.n > 0;
	d->mark = d->n;
	d->ids_mark = d->ids.len;
	if (!w->byid_flush)
		return;
	int rc = 0;
	if (!w->byid_settle) {
		if (!(rc = spill(w))) {
			clear_batch(d); /* on disk now; the table still lags: owed */
			return;
		}
		cf_warn("store: the id index's waiting changes cannot be set aside (%s): "
			"writing them now",
			strerror(-rc));
	}
	if ((rc = flush(w))) {
		cf_warn("store: the id index is not written (%s): it is tried again at the "
			"listing's end, or repaired at the next open",
			strerror(-rc));
	} else if (w->byid_settle) {
		store_byid_free(w->s); /* the listing is over: its memory too */
	} else {
		clear_batch(d);
		byid_runs_free(&d->runs);
		d->owed = false;
	}
}

void store_byid_aborted(struct cf_store *s)
{
	struct byid_defer *d = &s->byid;
	if (d->n == d->mark)
		return;
	d->n = d->mark;
	d->ids.len = d->ids_mark;
	if (rehash(d, d->nslot)) /* same size: no allocation, cannot fail */
		d->n = 0;
}

void store_byid_free(struct cf_store *s)
{
	byid_runs_free(&s->byid.runs);
	free(s->byid.op);
	free(s->byid.ids.p);
	free(s->byid.slot);
	memset(&s->byid, 0, sizeof s->byid);
}

/* ---- after a crash: the table from the records ---- */

/* The record at base names (k, id). */
static bool names_it(struct cf_store *s, MDB_txn *txn, uint64_t base, const MDB_val *key)
{
	struct rec c;
	char num[24];
	if (get_rec(s, txn, base, &c))
		return false;
	struct sv id = store_rec_id(&c, num);
	const unsigned char *kb = key->mv_data;
	return key->mv_size == 8 + id.n + 2 && !memcmp(kb + 8, id.p, id.n) &&
	       kb[8 + id.n] == '\0' && kb[8 + id.n + 1] == c.kind;
}

/* Put the id of every record from base *from on that the table lacks, up to
 * CHUNK of them; *from: where to go on, UINT64_MAX at the end. */
static int put_missing(struct cf_wtxn *w, uint64_t *from, size_t *put)
{
	enum { CHUNK = 4096 };
	struct cf_store *s = w->s;
	MDB_cursor *c;
	MDB_val k = {8, from}, v;
	size_t n = 0;
	int rc = open_cursor(w->txn, s->dbi[DB_RES], &c), mrc;
	if (rc)
		return rc;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); mrc == 0 && n < CHUNK;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct rec r;
		char num[24];
		unsigned char kb[CF_BYID_KEY_MAX];
		uint64_t base, cur;
		if (k.mv_size != 8 || store_rec_decode(v.mv_data, v.mv_size, &r))
			continue; /* damaged (logged): rewritten by the next sync */
		memcpy(&base, k.mv_data, 8);
		struct sv id = store_rec_id(&r, num);
		if (!id_ok(id.p, id.n) ||
		    !store_byid_get(s, w->txn, (enum cf_kind) r.kind, id.p, id.n, &cur))
			continue; /* not to be indexed, or indexed already */
		MDB_val key = make_key(cf_dir_name_cookie(id.p, id.n), (enum cf_kind) r.kind, id.p,
				       id.n, kb),
			val = {8, &base};
		if ((rc = store_wput(w, DB_BYID, &key, &val, 0, "repair the id index")))
			break;
		n++;
		*from = base + 1;
	}
	mdb_cursor_close(c);
	*put += n;
	if (!rc && mrc == MDB_NOTFOUND)
		*from = UINT64_MAX;
	else if (!rc && mrc)
		rc = lmdb_err(mrc, "repair the id index");
	return rc;
}

/* Entries whose record no longer says so go, and every record's id the
 * table lacks is put, in transactions of a few thousand (flush says why). */
static int repair(struct cf_store *s)
{
	struct cf_wtxn *w;
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t dropped = 0, put = 0;
	uint64_t from = 0;
	int rc = cf_store_wbegin(s, &w), mrc;
	if (rc)
		return rc;
	if ((rc = open_cursor(w->txn, s->dbi[DB_BYID], &c)))
		goto out;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		uint64_t base = 0;
		if (v.mv_size == 8)
			memcpy(&base, v.mv_data, 8);
		if (v.mv_size == 8 && names_it(s, w->txn, base, &k))
			continue;
		if ((mrc = mdb_cursor_del(c, 0)))
			break;
		dropped++;
	}
	mdb_cursor_close(c);
	if (mrc != MDB_NOTFOUND) {
		rc = lmdb_err(mrc, "repair the id index");
		goto out;
	}
	while (!(rc = put_missing(w, &from, &put)) && from != UINT64_MAX)
		if ((rc = cf_store_wcommit(w, NULL)) || (rc = cf_store_wbegin(s, &w)))
			return rc;
	if (rc)
		goto out;
	k = owed_key();
	if ((rc = store_wdel(w, DB_META, &k, "settle the id index")) < 0)
		goto out;
	cf_info("store: the id index lagged its records (the last run ended mid-listing): %zu "
		"entries dropped, %zu added",
		dropped, put);
	return cf_store_wcommit(w, NULL);
out:
	cf_store_wabort(w);
	return rc;
}

int store_byid_open(struct cf_store *s)
{
	MDB_txn *txn;
	MDB_val k = owed_key(), v;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return lmdb_err(rc, "begin a read transaction");
	rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return 0;
	return rc ? lmdb_err(rc, "read the id index's state") : repair(s);
}

int store_byid_close(struct cf_store *s)
{
	struct cf_wtxn *w;
	if (!s->byid.n && !s->byid.runs.n)
		return 0;
	int rc = cf_store_wbegin(s, &w);
	if (rc)
		return rc;
	w->byid_settle = true;
	return cf_store_wcommit(w, NULL);
}
