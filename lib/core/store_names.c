/* store_names.c — the entry names chosen from the API's data (prefs).
 *
 * A provider may give a resource a preferred name besides its id (AWS: the
 * Name tag). Several resources of one collection may prefer the same name;
 * the oldest (creation time, then id) holds it and the others are listed by
 * id. Each preferring resource's claim is kept in prefs, so the holder is
 * the first duplicate of the name's key, whatever order the pages came in:
 * a newer resource that took the name first is moved to its id when the
 * older one arrives. A holder that goes away leaves the name to the next in
 * line, which takes it when it is next written (the next sync). Everything
 * here reads only what the API said, so every host shows the same tree.
 * store_int.h describes the two tables. */
#include "store_int.h"

#include <stdlib.h>

/* ---- prefs ---- */

struct claim {
	unsigned char b[12 + CF_ID_MAX];
	size_t n;
};

static void claim_of(int64_t created, uint32_t ns, const char *id, size_t n, struct claim *c)
{
	uint64_t t = (uint64_t) created ^ (UINT64_C(1) << 63);
	for (int i = 0; i < 8; i++)
		c->b[i] = (unsigned char) (t >> (56 - 8 * i));
	for (int i = 0; i < 4; i++)
		c->b[8 + i] = (unsigned char) (ns >> (24 - 8 * i));
	memcpy(c->b + 12, id, n);
	c->n = 12 + n;
}

/* The key of name `pref` in collection coll. */
static int pref_key(struct cf_store *s, const char *coll, size_t clen, const char *pref, size_t pn,
		    char *kb, size_t size, MDB_val *k)
{
	size_t n = clen + 1 + pn;
	if (n > size || n > (size_t) mdb_env_get_maxkeysize(s->env))
		return -ENAMETOOLONG;
	memcpy(kb, coll, clen);
	kb[clen] = '\0';
	memcpy(kb + clen + 1, pref, pn);
	*k = (MDB_val){n, kb};
	return 0;
}

/* Record claim c of key k. known: it was recorded before (the resource's
 * stored record makes the same claim), so it is looked up first: LMDB's put
 * copies the page it lands on before it finds the claim there, and a sync
 * that found nothing new would rewrite every page of prefs. */
static int pref_add(struct cf_wtxn *w, MDB_val *k, const struct claim *c, bool known)
{
	MDB_val v = {c->n, (void *) c->b};
	if (known) {
		MDB_cursor *cur;
		MDB_val kk = *k, vv = v;
		int rc = open_cursor(w->txn, w->s->dbi[DB_PREFS], &cur);
		if (rc)
			return rc;
		rc = mdb_cursor_get(cur, &kk, &vv, MDB_GET_BOTH);
		mdb_cursor_close(cur);
		if (!rc)
			return 0;
		if (rc != MDB_NOTFOUND)
			return lmdb_err(rc, "read a preferred name");
	}
	int rc = mdb_put(w->txn, w->s->dbi[DB_PREFS], k, &v, MDB_NODUPDATA);
	if (rc == MDB_KEYEXIST)
		return 0;
	if (rc)
		return lmdb_err(rc, "record a preferred name");
	w->writes++;
	return 0;
}

static int pref_del(struct cf_wtxn *w, MDB_val *k, const struct claim *c)
{
	MDB_val v = {c->n, (void *) c->b};
	int rc = mdb_del(w->txn, w->s->dbi[DB_PREFS], k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return lmdb_err(rc, "drop a preferred name");
	w->writes++;
	return 0;
}

/* Whether claim c is the first (oldest) of key k. */
static int pref_holds(struct cf_wtxn *w, MDB_val *k, const struct claim *c)
{
	MDB_val v;
	int rc = mdb_get(w->txn, w->s->dbi[DB_PREFS], k, &v);
	if (rc)
		return lmdb_err(rc, "read a preferred name");
	return v.mv_size == c->n && !memcmp(v.mv_data, c->b, c->n);
}

/* What a record says about its names, copied out of LMDB's memory. */
struct named {
	enum cf_kind kind;
	char id[CF_ID_MAX], pref[CF_NAME_MAX + 1], shown[CF_NAME_MAX + 1];
	char coll[CF_PATH_MAX];
	size_t idn, pn, clen;
	struct claim claim;
};

static int named_of(const struct rec *c, struct named *o)
{
	char num[24], scope[CF_PATH_MAX];
	struct sv id = store_rec_id(c, num);
	memset(o, 0, sizeof *o);
	o->kind = (enum cf_kind) c->kind;
	if (id.n >= CF_ID_MAX || c->name_pref.n > CF_NAME_MAX || c->name.n > CF_NAME_MAX ||
	    c->scope.n >= sizeof scope)
		return -EIO;
	memcpy(o->id, id.p, id.n);
	o->idn = id.n;
	memcpy(o->pref, c->name_pref.p, c->name_pref.n);
	o->pn = c->name_pref.n;
	memcpy(o->shown, c->name.p, c->name.n);
	memcpy(scope, c->scope.p, c->scope.n);
	scope[c->scope.n] = '\0';
	int n = cf_collection_path(o->kind, scope, o->coll, sizeof o->coll);
	if (n < 0)
		return n;
	o->clen = (size_t) n;
	claim_of(c->created, c->created_ns, o->id, o->idn, &o->claim);
	return 0;
}

int store_names_forget(struct cf_wtxn *w, const struct rec *c, uint64_t base)
{
	struct named o;
	char kb[CF_PATH_MAX + CF_NAME_MAX + 2];
	MDB_val k;
	if (named_of(c, &o))
		return 0; /* nothing this file could have indexed */
	int rc = store_byid_del(w, o.kind, o.id, o.idn, base);
	if (rc || !o.pn || pref_key(w->s, o.coll, o.clen, o.pref, o.pn, kb, sizeof kb, &k))
		return rc;
	return pref_del(w, &k, &o.claim);
}

/* The document of record c, copied into a heap buffer (this transaction's
 * own new documents are still in w->dbuf). */
static int doc_copy(struct cf_wtxn *w, const struct rec *c, char **raw, size_t *len)
{
	*raw = NULL;
	*len = 0;
	if (!c->raw_hash || !c->doc_len)
		return 0;
	char *p = malloc(c->doc_len);
	if (!p)
		return -ENOMEM;
	int f = DOC_FILE(c->doc_ref);
	uint64_t off = DOC_OFF(c->doc_ref);
	if (f == w->ds.cur && off >= w->ds.end[f] && off - w->ds.end[f] + c->doc_len <= w->dbuf.len)
		memcpy(p, w->dbuf.p + (off - w->ds.end[f]), c->doc_len);
	else if (cf_docs_read(w->s->docs, f, off, p, c->doc_len) ||
		 (cf_hash64(p, c->doc_len) | 1) != c->raw_hash) {
		free(p);
		return 0; /* shown without its document until the next sync */
	}
	*raw = p;
	*len = c->doc_len;
	return 0;
}

/* The resource shown as coll/name does not hold that name (the one with id
 * holder_id does): list it by its id instead, from its record and document. */
static int evict(struct cf_wtxn *w, const char *coll, size_t clen, const char *name,
		 const char *holder_id)
{
	char path[CF_PATH_MAX];
	uint64_t base;
	struct rec c;
	struct named o;
	struct cf_resource moved;
	int n = snprintf(path, sizeof path, "%.*s/%s", (int) clen, coll, name);
	if (n < 0 || (size_t) n >= sizeof path)
		return 0;
	int rc = store_path_get(w->s, w->txn, path, (size_t) n, &base);
	if (rc == -ENOENT)
		return 0;
	if (rc || (rc = get_rec(w->s, w->txn, base, &c)) == -ENOENT)
		return rc == -ENOENT ? 0 : rc;
	if (rc || named_of(&c, &o))
		return rc;
	if (!strcmp(o.id, holder_id))
		return 0; /* the holder itself */
	if (!o.idn) {
		/* The write path's entry for a clone it asked for, before the API
		 * showed it (no id yet): the resource it stood for replaces it. */
		rc = cf_store_remove(w, path);
		return rc < 0 ? rc : 0;
	}
	if ((rc = store_rec_to_resource(&c, &moved)))
		return rc;
	if ((rc = doc_copy(w, &c, &moved.raw, &moved.raw_len)) ||
	    (rc = cf_store_remove(w, path)) < 0) {
		cf_resource_clear(&moved);
		return rc;
	}
	cf_debug("store: %s: the name goes to an older resource; id %s is listed by its id", path,
		 o.id);
	rc = store_upsert_named(w, &moved);
	cf_resource_clear(&moved);
	return rc;
}

int store_choose_name(struct cf_wtxn *w, const struct cf_resource *r, char *name)
{
	char kb[CF_PATH_MAX + CF_NAME_MAX + 2], coll[CF_PATH_MAX], path[CF_PATH_MAX];
	struct claim mine;
	struct named old;
	uint64_t obase;
	MDB_val k;
	size_t idn = r->id ? strlen(r->id) : 0;
	size_t pn = r->name_pref ? strlen(r->name_pref) : 0;
	/* The id is the name of last resort: it must be one. */
	if (!idn || idn >= CF_ID_MAX || !cf_name_is_safe(r->id, idn) || !r->scope)
		return -EINVAL;
	int cl = cf_collection_path(r->kind, r->scope, coll, sizeof coll);
	if (cl < 0)
		return cl;
	bool usable = pn && cf_name_is_safe(r->name_pref, pn) &&
		      !pref_key(w->s, coll, (size_t) cl, r->name_pref, pn, kb, sizeof kb, &k);
	/* Never another resource's id, which is its name of last resort (the
	 * provider keeps id-shaped names out; this is the store's own guard). */
	if (usable && !store_byid_get(w->s, w->txn, r->kind, r->name_pref, pn, &obase))
		usable = false;
	claim_of(r->created, r->created_ns, r->id, idn, &mine);

	/* As stored now, found by its id. */
	bool have = false;
	struct rec c;
	int rc = store_byid_get(w->s, w->txn, r->kind, r->id, idn, &obase);
	if (!rc && !(rc = get_rec(w->s, w->txn, obase, &c)) && !named_of(&c, &old))
		have = true;
	else if (rc && rc != -ENOENT)
		return rc;
	/* A claim it no longer makes goes. */
	bool same_claim = have && old.pn && usable && old.pn == pn &&
			  !memcmp(old.pref, r->name_pref, pn) && old.claim.n == mine.n &&
			  !memcmp(old.claim.b, mine.b, mine.n);
	if (have && old.pn && !same_claim) {
		MDB_val ok;
		char okb[sizeof kb];
		if (!pref_key(w->s, old.coll, old.clen, old.pref, old.pn, okb, sizeof okb, &ok) &&
		    (rc = pref_del(w, &ok, &old.claim)))
			return rc;
	}
	int holds = 0;
	if (usable &&
	    ((rc = pref_add(w, &k, &mine, same_claim)) || (holds = pref_holds(w, &k, &mine)) < 0))
		return rc ? rc : holds;
	const char *want = holds ? r->name_pref : r->id;
	/* Its entry under another name goes (the name it had stays free for
	 * the next in line, at its next write). */
	if (have && strcmp(old.shown, want)) {
		int n = snprintf(path, sizeof path, "%s/%s", old.coll, old.shown);
		if (n > 0 && (size_t) n < sizeof path && (rc = cf_store_remove(w, path)) < 0 &&
		    rc != -ENOENT)
			return rc;
		/* removing it dropped its claim: it still makes it */
		if (usable && (rc = pref_add(w, &k, &mine, false)))
			return rc;
	}
	/* A newer resource that took the name first gives it up. Not when it
	 * is shown there already: coll/want is its own path then (one base per
	 * path), and evict would only find it (every unchanged sync, for each
	 * resource). */
	bool shown_there = have && !strcmp(old.shown, want) && old.clen == (size_t) cl &&
			   !memcmp(old.coll, coll, old.clen) && old.idn == idn &&
			   !memcmp(old.id, r->id, idn);
	if (holds && !shown_there && (rc = evict(w, coll, (size_t) cl, want, r->id)))
		return rc;
	memcpy(name, want, strlen(want) + 1);
	return 0;
}

int store_current_path(struct cf_wtxn *w, const char *path, char *out, size_t size)
{
	enum cf_kind k;
	char name[CF_NAME_MAX + 1];
	uint64_t base;
	if (!path || cf_path_parse(path, &k, NULL, 0, name, sizeof name) ||
	    store_byid_get(w->s, w->txn, k, name, strlen(name), &base))
		return 0;
	int n = store_node_path(w->s, w->txn, base, out, size);
	if (n <= 0)
		return 0;
	if (in_trash(out, (size_t) n)) /* its path is its collection's */
		memmove(out, out + 6, (size_t) n - 5);
	return strcmp(out, path) != 0;
}
