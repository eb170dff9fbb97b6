/* store_env.c — the store's LMDB environment and schema: open (a cache of
 * another schema, damaged, or left open by a crashed system is moved aside and
 * rebuilt), the skeleton tree, the protect label's flags, and close. */
#include "store_int.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAP_SIZE ((size_t) 16 << 30)
/* Past this much file-backed resident memory (the map's pages and the
 * libraries' code, about 8 MB), the map's pages are unmapped from the
 * process (maptrim.h): data.mdb is 41 MB at 100,000 snapshots, and never
 * trimmed there; at a million it is 400 MB. */
#define MAP_RESIDENT_BUDGET ((size_t) 64 << 20)
enum { MAX_READERS = 256, MAX_DBS = 16 };

static const struct {
	const char *name;
	unsigned flags;
} db_spec[DB__COUNT] = {
    [DB_META] = {"meta", 0},
    [DB_PATHS] = {"paths", MDB_DUPSORT},
    [DB_NODES] = {"nodes", MDB_INTEGERKEY},
    [DB_DIRS] = {"dirs", MDB_DUPSORT | MDB_INTEGERKEY},
    [DB_RES] = {"res", MDB_INTEGERKEY},
    [DB_BYSRC] = {"bysrc", MDB_DUPSORT},
    [DB_SUBT] = {"subtimes", MDB_INTEGERKEY},
    [DB_BYID] = {"byid", 0},
    [DB_PREFS] = {"prefs", MDB_DUPSORT},
};

static bool is_lmdb_code(int rc)
{
	return rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE;
}

/* ------------------------------------------------------- open and close */

/* The kernel's boot id, "" when unknown (then a crash is never suspected). */
static void boot_id(char *buf, size_t size)
{
	buf[0] = '\0';
	FILE *f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!f)
		return;
	if (fgets(buf, (int) size, f))
		buf[strcspn(buf, "\n")] = '\0';
	fclose(f);
}

static int set_in_use(struct cf_store *s, bool in_use)
{
	struct cf_wtxn *w;
	char id[64];
	uint8_t flag = in_use;
	int rc = cf_store_wbegin(s, &w);
	if (rc)
		return rc;
	boot_id(id, sizeof id);
	MDB_val k = meta_key("in_use"), v = {1, &flag};
	rc = store_wput(w, DB_META, &k, &v, 0, "mark the cache");
	k = meta_key("boot_id");
	v = (MDB_val){strlen(id), id};
	if (!rc && in_use)
		rc = store_wput(w, DB_META, &k, &v, 0, "mark the cache");
	if (rc) {
		cf_store_wabort(w);
		return rc;
	}
	if ((rc = cf_store_wcommit(w, NULL)))
		return rc;
	/* The one place durability matters: the mark must be on disk before
	 * any unsynced commit can be. */
	rc = mdb_env_sync(s->env, 1);
	return rc ? lmdb_err(rc, "sync the cache") : 0;
}

/* The document files and their state; emptied when the tree is new. 1 (the
 * reason in why) when a file is shorter than the tree says: it cannot be
 * trusted. */
static int docs_open(struct cf_store *s, MDB_txn *txn, bool empty, char *why, size_t whylen)
{
	MDB_val k = meta_key("docs"), v;
	struct docs_state ds;
	int rc = cf_docs_open(s->dir, empty, &s->docs);
	if (rc)
		return rc;
	memset(&ds, 0, sizeof ds);
	rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND || empty)
		return 0;
	if (rc)
		return lmdb_err(rc, "read the documents' state");
	if (v.mv_size != sizeof ds) {
		snprintf(why, whylen, "its documents' state has %zu bytes", v.mv_size);
		return 1;
	}
	memcpy(&ds, v.mv_data, sizeof ds);
	for (int i = 0; i < 2; i++) {
		uint64_t size;
		if ((rc = cf_docs_size(s->docs, i, &size)))
			return rc;
		if (size < ds.end[i]) {
			snprintf(why, whylen, "docs.%d has %llu bytes, the tree says %llu", i,
				 (unsigned long long) size, (unsigned long long) ds.end[i]);
			return 1;
		}
	}
	if (ds.cur > 1) {
		snprintf(why, whylen, "its documents' state names file %u", ds.cur);
		return 1;
	}
	return 0;
}

/* Open the environments and check them. 0, a negative errno, or 1 when the
 * cache cannot be trusted (the reason in why). */
static int env_open(struct cf_store *s, char *why, size_t whylen)
{
	MDB_txn *txn = NULL;
	MDB_val k, v;
	bool fresh = false;
	int rc = mdb_env_create(&s->env);
	if (rc)
		return lmdb_err(rc, "create the environment");
	mdb_env_set_userctx(s->env, s); /* for trim_tick */
	mdb_env_set_maxdbs(s->env, MAX_DBS);
	mdb_env_set_mapsize(s->env, MAP_SIZE);
	mdb_env_set_maxreaders(s->env, MAX_READERS);
	rc = mdb_env_open(s->env, s->dir, MDB_NOTLS | MDB_NORDAHEAD | MDB_NOSYNC | MDB_NOMETASYNC,
			  0600);
	if (rc)
		goto fail;
	int dead = 0;
	mdb_reader_check(s->env, &dead); /* slots of crashed processes */
	if ((rc = mdb_txn_begin(s->env, NULL, 0, &txn)))
		goto fail;
	/* meta first: a cache of another schema can hold tables of other flags,
	 * which LMDB would refuse to open (MDB_INCOMPATIBLE). */
	for (int i = 0; i < DB__COUNT; i++) {
		if ((rc = mdb_dbi_open(txn, db_spec[i].name, db_spec[i].flags | MDB_CREATE,
				       &s->dbi[i])))
			goto fail;
		if (i != DB_META)
			continue;
		k = meta_key("schema");
		uint32_t schema = 0;
		if (mdb_get(txn, s->dbi[DB_META], &k, &v) == 0 &&
		    (v.mv_size != 4 ||
		     (memcpy(&schema, v.mv_data, 4), schema != CF_STORE_SCHEMA))) {
			snprintf(why, whylen, "its schema is %u, this clonefs uses %u", schema,
				 CF_STORE_SCHEMA);
			goto bad;
		}
	}
	k = meta_key("schema");
	rc = mdb_get(txn, s->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		MDB_stat st;
		if ((rc = mdb_stat(txn, s->dbi[DB_PATHS], &st)))
			goto fail;
		if (st.ms_entries) {
			snprintf(why, whylen, "it holds data but no schema version");
			goto bad;
		}
		fresh = true;
	} else if (rc) {
		goto fail;
	} else {
		uint32_t schema = 0;
		if (v.mv_size == 4)
			memcpy(&schema, v.mv_data, 4);
		if (v.mv_size != 4 || schema != CF_STORE_SCHEMA) {
			snprintf(why, whylen, "its schema is %u, this clonefs uses %u", schema,
				 CF_STORE_SCHEMA);
			goto bad;
		}
	}
	k = meta_key("in_use");
	if (mdb_get(txn, s->dbi[DB_META], &k, &v) == 0 && v.mv_size == 1 &&
	    *(const uint8_t *) v.mv_data) {
		char id[64];
		boot_id(id, sizeof id);
		k = meta_key("boot_id");
		bool same = mdb_get(txn, s->dbi[DB_META], &k, &v) == 0 && v.mv_size == strlen(id) &&
			    !memcmp(v.mv_data, id, v.mv_size);
		if (!same) {
			snprintf(
			    why, whylen,
			    "it was open when the system went down (unsynced pages may be lost)");
			goto bad;
		}
	}
	uint32_t schema = CF_STORE_SCHEMA;
	k = meta_key("schema");
	v = (MDB_val){4, &schema};
	if ((rc = mdb_put(txn, s->dbi[DB_META], &k, &v, 0)))
		goto fail;
	if ((rc = docs_open(s, txn, fresh, why, whylen))) {
		mdb_txn_abort(txn);
		mdb_env_close(s->env);
		s->env = NULL;
		cf_docs_close(s->docs);
		s->docs = NULL;
		return rc;
	}
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc) {
		cf_docs_close(s->docs);
		s->docs = NULL;
		goto fail;
	}
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(s->env);
	s->env = NULL;
	if (is_lmdb_code(rc) || rc == EINVAL) {
		snprintf(why, whylen, "%s", mdb_strerror(rc));
		return 1;
	}
	cf_err("store: cannot open the cache in %s: %s", s->dir, mdb_strerror(rc));
	return rc > 0 ? -rc : -EIO;
bad:
	mdb_txn_abort(txn);
	mdb_env_close(s->env);
	s->env = NULL;
	return 1;
}

/* data.mdb, lock.mdb and the documents become *.bad-<epoch>: kept for a
 * post-mortem. */
static int move_aside(const char *dir, const char *why)
{
	/* docs.mdb: the documents of caches of schema 3 and before */
	static const char *const files[] = {"data.mdb", "lock.mdb", "docs.0",
					    "docs.1",	"docs.mdb", "docs.mdb-lock"};
	long now = (long) time(NULL);
	for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
		char from[4096], to[4096 + 64];
		if (snprintf(from, sizeof from, "%s/%s", dir, files[i]) >= (int) sizeof from)
			return -ENAMETOOLONG;
		if (access(from, F_OK))
			continue;
		for (int n = 0; n < 100; n++) {
			if (n)
				snprintf(to, sizeof to, "%s.bad-%ld.%d", from, now, n);
			else
				snprintf(to, sizeof to, "%s.bad-%ld", from, now);
			if (access(to, F_OK))
				break;
		}
		if (rename(from, to)) {
			int e = errno;
			cf_err("store: cannot move %s aside: %s", from, strerror(e));
			return -e;
		}
	}
	cf_warn("store: the cache in %s was moved aside and will be rebuilt: %s", dir, why);
	return 0;
}

/* The layout's fixed part, in this order (a new cache's first bases): every
 * scope type's directory, the collections of the fixed scopes, then their
 * trash containers. Named scopes come with their resources. */
static int init_containers(struct cf_wtxn *w, const struct cf_layout *l)
{
	char p[CF_PATH_MAX];
	int rc = 0;
	/* The root scope ("") is the mount root: its collections (and their
	 * trash containers) sit directly under the root (and the trash). */
	for (unsigned i = 0; !rc && i < l->nscopes; i++)
		if (*l->scopes[i].dir)
			rc = store_ensure_container(w, l->scopes[i].dir, strlen(l->scopes[i].dir));
	for (int trash = 0; trash < 2; trash++)
		for (unsigned i = 0; !rc && i < l->nscopes; i++) {
			const char *dir = l->scopes[i].dir;
			if (l->scopes[i].kind != CF_KIND_NONE)
				continue;
			int n = snprintf(p, sizeof p, "trash/%s", dir);
			if (trash && *dir && (rc = store_ensure_container(w, p, (size_t) n)))
				break;
			for (int k = 1; !rc && k < CF_KIND__COUNT; k++) {
				const struct cf_layout_kind *lk = &l->kinds[k];
				if (!lk->collection || !(lk->scopes & (1u << i)) ||
				    (trash && !lk->trashable))
					continue;
				n = snprintf(p, sizeof p, "%s%s%s%s", trash ? "trash/" : "", dir,
					     *dir ? "/" : "", lk->collection);
				rc = store_ensure_container(w, p, (size_t) n);
			}
		}
	return rc;
}

/* What the reads take from the layout: a resource directory's entries in
 * name order, and the collection each view lists. */
static int init_layout(struct cf_store *s, const struct cf_layout *l)
{
	const struct res_entry e[RES_ENTRIES] = {
	    {"resource.json", 0, CF_SUB_JSON},	 {"source", 0, CF_SUB_SOURCE},
	    {"status", 0, CF_SUB_STATUS},	 {l->views[0].dir, 0, CF_SUB_SNAPSHOTS},
	    {l->views[1].dir, 0, CF_SUB_CLONES}, {l->links_dir, 0, CF_SUB_DISKS},
	};
	for (size_t i = 0; i < RES_ENTRIES; i++) {
		size_t j = i;
		if (!e[i].name || !cf_name_is_safe(e[i].name, strlen(e[i].name)))
			return -EINVAL;
		for (; j > 0 && strcmp(s->entries[j - 1].name, e[i].name) > 0; j--)
			s->entries[j] = s->entries[j - 1];
		if (j > 0 && !strcmp(s->entries[j - 1].name, e[i].name))
			return -EINVAL; /* two entries of one name */
		s->entries[j] = e[i];
		s->entries[j].len = strlen(e[i].name);
	}
	for (int v = 0; v < 2; v++) {
		enum cf_kind k = l->views[v].kind;
		const char *home = cf_kind_home(k);
		if (!home || !cf_kind_collection(k) || !cf_kind_collection(l->views[v].source))
			return -EINVAL;
		int n = cf_collection_path(k, home, s->alias_coll[v], ALIAS_COLL_MAX - 1);
		if (n < 0)
			return -EINVAL; /* and room for its "/" */
	}
	return 0;
}

static int init_tree(struct cf_store *s)
{
	const struct cf_layout *l = cf_layout();
	struct cf_wtxn *w;
	struct cf_dirent d;
	int rc = cf_store_wbegin(s, &w);
	if (rc)
		return rc;
	rc = store_get_dirent(s, w->txn, 0, "", 0, &d);
	if (rc == -ENOENT) {
		container_init(&d, w->now);
		rc = store_put_dirent(w, 0, "", 0, &d);
	}
	if (!rc)
		rc = init_containers(w, l);
	if (rc) {
		cf_store_wabort(w);
		return rc;
	}
	return cf_store_wcommit(w, NULL);
}

int cf_store_open(const char *dir, struct cf_store **out)
{
	char why[256];
	int rc;
	if (!dir || !out)
		return -EINVAL;
	*out = NULL;
	if (mkdir(dir, 0700) && errno != EEXIST) {
		rc = -errno;
		cf_err("store: cannot create %s: %s", dir, strerror(-rc));
		return rc;
	}
	struct cf_store *s = calloc(1, sizeof *s);
	if (!s || !(s->dir = strdup(dir))) {
		free(s);
		return -ENOMEM;
	}
	s->wlock = (pthread_mutex_t) PTHREAD_MUTEX_INITIALIZER; /* nothing to destroy (Linux) */
	memcpy(s->protect, CF_STORE_PROTECT_DEFAULT, sizeof CF_STORE_PROTECT_DEFAULT);
	/* The tree is the provider's (layout.h), installed before the store opens. */
	if (!cf_layout() || init_layout(s, cf_layout())) {
		cf_err("store: %s", cf_layout() ? "the provider's layout is inconsistent"
						: "no provider layout installed");
		free(s->dir);
		free(s);
		return -EINVAL;
	}
	for (int attempt = 0;; attempt++) {
		rc = env_open(s, why, sizeof why);
		if (rc <= 0)
			break;
		if (attempt > 0) {
			cf_err("store: a new cache in %s cannot be opened: %s", dir, why);
			rc = -EIO;
			break;
		}
		if ((rc = move_aside(dir, why)))
			break;
	}
	if (rc) {
		free(s->dir);
		free(s);
		return rc;
	}
	if (pthread_key_create(&s->key, store_rtx_destroy)) {
		cf_docs_close(s->docs);
		mdb_env_close(s->env);
		free(s->dir);
		free(s);
		return -EAGAIN;
	}
	if ((rc = init_tree(s)) || (rc = set_in_use(s, true)) || (rc = store_byid_open(s))) {
		pthread_key_delete(s->key);
		cf_docs_close(s->docs);
		mdb_env_close(s->env);
		free(s->dir);
		free(s);
		return rc;
	}
	char data[PATH_MAX];
	if (snprintf(data, sizeof data, "%s/data.mdb", s->dir) >= (int) sizeof data ||
	    (rc = cf_maptrim_new(data, MAP_RESIDENT_BUDGET, &s->trim)))
		cf_warn("store: cannot find LMDB's map of %s (%s): it is never trimmed, and the "
			"daemon's RSS grows with data.mdb",
			data, strerror(rc < 0 ? -rc : ENAMETOOLONG));
	*out = s;
	return 0;
}

/* Set every resource's CF_DIRENT_PROTECTED from its record and label key: one pass, when
 * the key differs from the one the cache's flags were computed with (meta "protect_label";
 * "keep" for caches that predate it). */
static int reflag(struct cf_store *s, const char *key)
{
	struct cf_wtxn *w;
	MDB_cursor *c = NULL;
	MDB_val k = meta_key("protect_label"), v;
	size_t changed = 0;
	int rc = cf_store_wbegin(s, &w);
	if (rc)
		return rc;
	int mrc = mdb_get(w->txn, s->dbi[DB_META], &k, &v);
	const char *had = CF_STORE_PROTECT_DEFAULT;
	size_t hlen = strlen(had);
	if (mrc == 0) {
		had = v.mv_data;
		hlen = v.mv_size;
	} else if (mrc != MDB_NOTFOUND) {
		rc = lmdb_err(mrc, "read the protect label");
		goto out;
	}
	if (hlen == strlen(key) && !memcmp(had, key, hlen)) {
		cf_store_wabort(w);
		return 0;
	}
	if ((rc = open_cursor(w->txn, s->dbi[DB_RES], &c)))
		goto out;
	for (mrc = mdb_cursor_get(c, &k, &v, MDB_FIRST); mrc == 0;
	     mrc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		struct rec r;
		struct cf_dirent d;
		uint64_t base, parent;
		char name[CF_NAME_MAX + 1];
		size_t nlen;
		if (k.mv_size != 8 || store_rec_decode(v.mv_data, v.mv_size, &r))
			continue; /* damaged (logged): rewritten by the next sync */
		memcpy(&base, k.mv_data, 8);
		uint32_t want =
		    store_blob_has_key(r.labels, r.nlabels, key) ? CF_DIRENT_PROTECTED : 0;
		if (get_node(s, w->txn, base, &parent, name, &nlen) ||
		    store_get_dirent(s, w->txn, parent, name, nlen, &d) || d.base != base ||
		    (d.flags & CF_DIRENT_PROTECTED) == want)
			continue;
		d.flags = (d.flags & ~(uint32_t) CF_DIRENT_PROTECTED) | want;
		/* put_dirent writes through a cursor of its own; ours stays valid on DB_RES */
		if ((rc = store_put_dirent(w, parent, name, nlen, &d)))
			goto out;
		changed++;
	}
	if (mrc != MDB_NOTFOUND) {
		rc = lmdb_err(mrc, "walk the resources");
		goto out;
	}
	mdb_cursor_close(c);
	c = NULL;
	k = meta_key("protect_label");
	v = (MDB_val){strlen(key), (void *) key};
	if ((rc = store_wput(w, DB_META, &k, &v, 0, "write the protect label")))
		goto out;
	if (changed)
		cf_info("store: the protect label is now \"%s\": %zu resources changed their "
			"write bits",
			key, changed);
	return cf_store_wcommit(w, NULL);
out:
	if (c)
		mdb_cursor_close(c);
	cf_store_wabort(w);
	return rc;
}

int cf_store_set_protect_label(struct cf_store *s, const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (!s || !n || n >= sizeof s->protect)
		return -EINVAL;
	memcpy(s->protect, key, n + 1);
	return reflag(s, key);
}

/* Any thread, any time: mdb_env_info reads the newer of LMDB's two meta pages (in the
 * read-only map; a commit rewrites the older one with pwrite, then the lock file's txnid)
 * and env fields set at open; it writes nothing shared and takes no lock or reader slot.
 * Read before what is computed from the store: a value older than the data only costs a
 * recomputation. */
uint64_t cf_store_generation(struct cf_store *s)
{
	MDB_envinfo info;
	if (!s || mdb_env_info(s->env, &info))
		return 0;
	return (uint64_t) info.me_last_txnid;
}

void cf_store_close(struct cf_store *s)
{
	if (!s)
		return;
	if (store_byid_close(s))
		cf_warn("store: the id index's last changes are not written: the next open "
			"repairs it");
	store_byid_free(s);
	/* Readers must be done; their transactions go with the store. */
	store_readers_close(s);
	pthread_key_delete(s->key);
	/* The documents reach the disk before the mark says the cache was closed
	 * cleanly (set_in_use syncs the tree). */
	if (cf_docs_sync(s->docs) == 0)
		set_in_use(s, false);
	cf_docs_close(s->docs);
	cf_maptrim_free(s->trim); /* after set_in_use's commit, which checks it */
	mdb_env_close(s->env);
	pthread_mutex_destroy(&s->wlock);
	free(s->bcache);
	free(s->recent.slot);
	free(s->dir);
	free(s);
}
