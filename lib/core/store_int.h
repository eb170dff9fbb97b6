/* store_int.h — what the store's files share, private to lib/store*.c: the
 * store and write-transaction structs, the table layout and the small table
 * helpers (static inline: lookups, getattr and readdir run through them, and
 * they were inlined there before the store was split into files).
 *
 *   store_env.c    environment and schema: open, close, the protect label
 *   store_rec.c    the resource record codec (store_rec.h; pure, no LMDB)
 *   store_read.c   per-thread read transactions and cursors, point reads of
 *                  the tables, and every read call of store.h
 *   store_alias.c  aliases: a snapshot under its disk's snapshots/, a machine
 *                  image under its instance's clones/
 *   store_txn.c    write transactions: begin, commit, abort, change reporting,
 *                  container mtimes, the documents' compaction, the write
 *                  path's memory of recent writes
 *   store_write.c  the tree's writes: paths and bases, entries, scopes, the
 *                  by-source index, upsert and remove
 *   store_sweep.c  the sweep after a complete listing
 *   store_names.c  preferred names (prefs): which resource of a collection
 *                  holds a name several prefer
 *   store_byid.c   the id index (byid), written in key order after a listing
 *   store_byid_spill.c  a long listing's waiting id changes, in sorted runs on disk
 *
 * The tables and the inode scheme are described in store.h. Choices made
 * across the store's files, and why:
 *
 *  - MDB_NOSYNC | MDB_NOMETASYNC: commits are not fsync'ed. Everything here
 *    can be rebuilt from the API, and a crash of the process loses nothing
 *    (committed pages are in the page cache). Only a crash of the OS can
 *    lose pages, and then LMDB's meta page may point at pages that never
 *    reached the disk. So open marks the environment "in use" together with
 *    the kernel's boot id and syncs that mark; close clears it and syncs. A
 *    mark left by another boot means the system went down while we were
 *    open, and the cache is moved aside and rebuilt instead of being
 *    trusted. (The journal, which needs durability, must mdb_env_sync.)
 *  - resource.json documents are not in LMDB but appended to DIR/docs.0 or
 *    DIR/docs.1 (docs.h says why), and a resource's record says where its
 *    document is, with its length and hash: the tree and its documents
 *    commit together. A transaction writes its documents before it
 *    commits, so the tree never names a document that is not there;
 *    struct docs_state below says how the files are compacted. A cache
 *    whose tree is new starts with empty document files.
 *  - dirs, paths and bysrc are MDB_DUPSORT tables (table access, below):
 *    a listing arriving in name order is appended, and LMDB fills the
 *    pages.
 *  - The map is 16 GiB of address space: sparse, the file only grows as
 *    needed. Growing it at run time would need every reader thread stopped,
 *    so a full map is -ENOSPC with a log line rather than a silent stall.
 *  - MDB_NOTLS: FUSE worker threads each keep one read transaction that is
 *    reset after every call and renewed by the next one (no allocation, no
 *    lock), found through a pthread key of the store.
 *  - Resource files (status, resource.json, source, snapshots/, ...) are
 *    never stored: they are synthesised from the resource's directory entry.
 *  - Container mtimes are raised incrementally by upserts, and recomputed by
 *    a scan only for containers that lost a member (at commit).
 *  - An alias (a snapshot under its disk's snapshots/) is not stored: it
 *    shows its primary's entry under an inode of its own (store.h), so it
 *    carries the same st_blocks, `du -s zones/Z/disks/D/snapshots` tells
 *    what that disk's snapshots cost, and `du` over the whole mount counts
 *    such snapshots twice (the inodes differ by design). Storing each alias
 *    (its path, node and entry) had been a third of the cache.
 *  - A new resource's ctime is its creation time, so ctimes do not all jump
 *    to "now" when a cache is rebuilt; later label or status changes set it
 *    to the time of the sync that saw them.
 *  - A container that holds no resource (directly or below) is "vacant": its
 *    mtime is the time the store created it (kept in the dirent's `size`,
 *    which a container does not report), not 1970, so `find -mtime +30`
 *    does not flag an empty `regions/` as stale. A vacant container does not
 *    count towards its parent's mtime: `global` follows its newest snapshot
 *    even while `global/images` is empty and new. An empty snapshots/ or
 *    clones/ has its disk's or instance's creation time.
 *  - The trash: a snapshot, image or machine image carrying CF_TRASH_LABEL
 *    is listed under trash/global/{snapshots,images,machineImages} instead
 *    of its collection. Path "trash" is not a node: CF_INO_TRASH (a fixed
 *    inode of the daemon's .clonefs/) directly holds the container
 *    "trash/global". A trashed resource keeps its path in `paths`
 *    ("global/snapshots/S"), hence its base and inode; only its dirent
 *    (flagged DIRENT_TRASHED) and its `nodes` parent move, and it shows no
 *    alias under its source until it leaves the trash. Disks and instances
 *    are never trashed.
 */

#ifndef CLONEFS_STORE_INT_H
#define CLONEFS_STORE_INT_H

#include "store.h"
#include "store_rec.h"
#include "store_byid_spill.h"
#include "docs.h"
#include "hash.h"
#include "layout.h"
#include "log.h"
#include "maptrim.h"
#include "u64set.h"

#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

_Static_assert(sizeof(size_t) == 8, "the store needs 64-bit integer keys and a 16 GiB map");
_Static_assert(sizeof(struct cf_dirent) == 64, "cf_dirent is compared with memcmp: no padding");

enum {
	DB_META,
	DB_PATHS,
	DB_NODES,
	DB_DIRS,
	DB_RES,
	DB_BYSRC,
	DB_SUBT,
	DB_BYID,
	DB_PREFS,
	DB__COUNT
};

/* The writer's memory of path -> base for short paths (collections, source
 * disks): a page of snapshots names the same few disks again and again. A
 * base never changes once committed; the cache is cleared when a write
 * transaction is aborted, since bases it allocated are then undone. */
enum { BCACHE_SLOTS = 1024, BCACHE_PATH = 96 };
struct bcache_slot {
	uint64_t base; /* 0: empty */
	uint32_t len;
	char path[BCACHE_PATH];
};

/* What the write path (not a listing) stored or removed, and when: base ->
 * CLOCK_MONOTONIC ms and the listing that covers its kind. A listing that
 * began before such a write may have been read before it, so its pages must
 * not undo the write and its sweep must not remove the resource (store.h,
 * cf_store_wfetched and cf_store_sweep). An entry is forgotten when its
 * listing's sweep has run: every later listing begins after it. Only touched
 * under the store's wlock, and only by a commit: a transaction keeps its
 * notes and forgets (struct cf_wtxn) until it commits, and an abort drops
 * them, as it drops what they were about (its bases may be handed out
 * again). */
struct recent_slot {
	uint64_t base; /* 0: empty */
	int64_t ms;
	uint8_t listing;
};
struct recent {
	struct recent_slot *slot;
	size_t cap, n;
};

/* The document files' state, meta "docs", committed with the tree. A
 * document is referenced as (file << 63) | offset, with its length and hash,
 * from its resource's record. New documents are appended to file `cur` at
 * end[cur]. Bytes past end[] were written by a transaction that did not
 * commit and are overwritten. live[i] counts the bytes of file i that
 * records still reference; when the rest (replaced and removed documents)
 * outgrows them, the store compacts: cur switches to the other (empty) file,
 * and each write transaction moves up to DOCS_STEP documents across, in base
 * order from `walk`, until none is left in the old file, which the next
 * transaction empties. The state is read from meta by every write
 * transaction, under LMDB's write lock: the write path and the sync write
 * from different threads. Readers never wait: a reader whose record pointed into a file
 * since emptied or rewritten finds a hash that does not match and reads the
 * record again. */
struct docs_state {
	uint8_t cur, compacting;
	uint8_t truncate; /* the other file is unused and may be emptied */
	uint8_t pad[5];
	uint64_t end[2];
	uint64_t live[2];
	uint64_t walk; /* compacting: the next base to look at */
};
#define DOC_FILE(ref) ((int) ((ref) >> 63))
#define DOC_OFF(ref)  ((ref) & ~(UINT64_C(1) << 63))
enum { DOCS_STEP = 1000, DOCS_STEP_BYTES = 1 << 20 };
/* A resource directory's synthetic entries (resource.json, status, source,
 * the two views, the attached disks); an alias collection's path and "/". */
enum { RES_ENTRIES = 6, ALIAS_COLL_MAX = 128 };
#define DOCS_SLACK ((uint64_t) 32 << 20) /* garbage tolerated beyond live bytes */

/* The id index's changes waiting for the end of a listing (store_byid.c):
 * op[0..n), their ids in ids; slot: index + 1 of each id's newest change,
 * open addressing; mark, ids_mark: how much of them is committed (an abort
 * goes back there); owed: the meta key "byid_owed" is committed; runs: the
 * batches before these, sorted on disk (store_byid_spill.h). */
struct byid_defer {
	struct byid_op *op;
	size_t n, cap, mark;
	struct buf ids;
	size_t ids_mark;
	uint32_t *slot;
	size_t nslot;
	bool owed;
	struct byid_runs runs; /* earlier batches of the listing, spilled */
};

struct cf_store {
	MDB_env *env;
	MDB_dbi dbi[DB__COUNT];
	struct cf_docs *docs; /* DIR/docs.0 and docs.1: resource.json documents */
	pthread_key_t key;    /* -> struct rtx of the calling thread */
	char *dir;
	/* Held by the writer from cf_store_wbegin to the end of its commit or
	 * abort, around LMDB's write lock: the sync, the engine, the change feed
	 * and FUSE's write path each write from their own thread, and what the
	 * writer keeps here is also touched before LMDB's lock is taken and after
	 * it is released (an abort must clear the path cache of the bases it
	 * undid before the next writer can look there). */
	pthread_mutex_t wlock;
	struct bcache_slot *bcache; /* writer only (wlock) */
	struct recent recent;	    /* writer only (wlock) */
	struct byid_defer byid;	    /* writer only (wlock) */
	struct cf_maptrim *trim;    /* of LMDB's map (maptrim.h) */
	/* The policy's protect label: a resource carrying it gets CF_DIRENT_PROTECTED when
	 * its record is written (the writer only; cf_store_set_protect_label). */
	char protect[CF_LABEL_KEY_MAX + 1];
	/* From the layout (layout.h), at open: the synthetic entries of a resource
	 * directory in name order, and the collection each view lists. */
	struct res_entry {
		const char *name;
		size_t len;
		unsigned sub;
	} entries[RES_ENTRIES];
	char alias_coll[2][ALIAS_COLL_MAX];
};

/* Internal dirent flags (stat reports only CF_DIRENT_PROTECTED).
 * DIRENT_VACANT: a container with no resource below it. Its mtime is then its
 * birth, the time the store created it, kept in the dirent's size field.
 * DIRENT_TRASHED: a resource listed in the trash; it shows no alias. */
#define DIRENT_VACANT  (UINT32_C(1) << 31)
#define DIRENT_TRASHED (UINT32_C(1) << 30)
_Static_assert(!((DIRENT_VACANT | DIRENT_TRASHED) & CF_DIRENT_PROTECTED), "flag bits overlap");
_Static_assert(CF_SUB_DISK_LINK0 + CF_LINKS_MAX <= CF_SUB_ALIAS, "alias subs meet disk links");

/* Before a bysrc duplicate whose key is the dependent's origin rather than
 * its source: a source's dependents are then one run in path order, which is
 * what an alias directory lists. */
#define BYSRC_ORIGIN '\xff'

/* An LMDB return code as a negative errno (0 for MDB_SUCCESS), with a log
 * line for a failure. Plain static, as it was before the store was split: the
 * compiler decides in each file whether to inline it. (Declared inline, it
 * changed GCC's inlining of the read paths' helpers and led
 * -Wmaybe-uninitialized astray in rbegin's callers.) */
__attribute__((unused)) static int lmdb_err(int rc, const char *what)
{
	switch (rc) {
	case MDB_SUCCESS:
		return 0;
	case MDB_NOTFOUND:
		return -ENOENT;
	case MDB_MAP_FULL:
	case MDB_TXN_FULL:
		cf_err("store: %s: %s (the cache is full)", what, mdb_strerror(rc));
		return -ENOSPC;
	case ENOMEM:
		return -ENOMEM;
	default:
		cf_err("store: %s: %s", what, mdb_strerror(rc));
		return -EIO;
	}
}

static inline bool newer(int64_t a, uint32_t ans, int64_t b, uint32_t bns)
{
	return a > b || (a == b && ans > bns);
}

static inline const char *last_component(const char *p, size_t len, size_t *nlen)
{
	const char *slash = memrchr(p, '/', len);
	const char *name = slash ? slash + 1 : p;
	*nlen = len - (size_t) (name - p);
	return name;
}

static inline unsigned components(const char *p, size_t len)
{
	if (!len)
		return 0;
	unsigned n = 1;
	for (size_t i = 0; i < len; i++)
		n += p[i] == '/';
	return n;
}

/* Whether path[0..len) lies under CF_INO_TRASH ("trash" or "trash/..."). */
static inline bool in_trash(const char *path, size_t len)
{
	return len >= 5 && !memcmp(path, "trash", 5) && (len == 5 || path[5] == '/');
}

/* -------------------------------------------------------- table access */

/* dirs, paths and bysrc are MDB_DUPSORT tables with one key per directory
 * (or source) and one duplicate per member, and duplicates sort by bytes.
 * A listing arrives in name order, so its entries are appended to their
 * directory's own sub-tree, whose pages LMDB then fills (a split at the end
 * of a page leaves the old page full). In a flat table keyed by (directory,
 * name) the same inserts land in the middle of the table, every split
 * halves a page, and the tables ended half empty: twice the file, and twice
 * the pages a sync maps into the daemon. The directory is also stored once
 * instead of in every key.
 *
 * A duplicate holds the member's name, a NUL, then its value: a NUL sorts
 * before every byte of a name, so duplicates sort by name, and a search for
 * "name\0" (MDB_GET_BOTH_RANGE) lands on the member if it is there. */

/* Split a duplicate "name\0value" whose value has vsize bytes. */
static inline int dup_split(const MDB_val *v, size_t vsize, struct sv *name, const void **value,
			    const char *what)
{
	const char *p = v->mv_data;
	const char *nul = v->mv_size > vsize ? memchr(p, '\0', v->mv_size - vsize) : NULL;
	if (!nul || (size_t) (nul - p) + 1 + vsize != v->mv_size) {
		cf_err("store: %s of %zu bytes is damaged", what, v->mv_size);
		return -EIO;
	}
	name->p = p;
	name->n = (size_t) (nul - p);
	*value = nul + 1;
	return 0;
}

/* Position c on member `name` of key k: 0 (*v is the duplicate), -ENOENT,
 * or an error. */
static inline int dup_seek(MDB_cursor *c, MDB_val *k, const char *name, size_t len, MDB_val *v,
			   const char *what)
{
	unsigned char vb[CF_NAME_MAX + 1];
	if (len > CF_NAME_MAX)
		return -ENOENT;
	memcpy(vb, name, len);
	vb[len] = '\0';
	*v = (MDB_val){len + 1, vb};
	int rc = mdb_cursor_get(c, k, v, MDB_GET_BOTH_RANGE);
	if (rc)
		return lmdb_err(rc, what);
	if (v->mv_size <= len || memcmp(v->mv_data, name, len) ||
	    ((const char *) v->mv_data)[len] != '\0')
		return -ENOENT;
	return 0;
}

static inline int open_cursor(MDB_txn *txn, MDB_dbi dbi, MDB_cursor **c)
{
	int rc = mdb_cursor_open(txn, dbi, c);
	return rc ? lmdb_err(rc, "open a cursor") : 0;
}

/* A dirs duplicate: the entry's name and struct cf_dirent. */
static inline int dirent_split(const MDB_val *v, struct sv *name, struct cf_dirent *d)
{
	const void *p;
	int rc = dup_split(v, sizeof *d, name, &p, "a directory entry");
	if (!rc)
		memcpy(d, p, sizeof *d);
	return rc;
}

/* Every this many steps of a walk or reads on a thread, the map's resident
 * budget is checked (maptrim.h: a pread of /proc/self/statm, microseconds). A
 * walk over a million entries, a sweep or an inventory, touches the whole map
 * within one transaction, so a check per transaction is not enough; a trim
 * in the middle of one is safe (its dirty pages are its own memory, and the
 * map's pages come back from the page cache as they were). */
enum { TRIM_EVERY = 4096 };

extern _Thread_local unsigned store_trim_ticks;

static inline void trim_tick(MDB_txn *txn)
{
	if (++store_trim_ticks < TRIM_EVERY)
		return;
	store_trim_ticks = 0;
	struct cf_store *s = mdb_env_get_userctx(mdb_txn_env(txn));
	if (s)
		cf_maptrim_check(s->trim);
}

/* The first (first) or next entry of directory *dir under c: 0, MDB_NOTFOUND
 * past the last, or an LMDB error. */
static inline int dir_step(MDB_cursor *c, uint64_t *dir, MDB_val *v, bool first)
{
	MDB_val k = {8, dir};
	trim_tick(mdb_cursor_txn(c));
	return mdb_cursor_get(c, &k, v, first ? MDB_SET_KEY : MDB_NEXT_DUP);
}

/* Entry `name` of directory parent, through c (a cursor on dirs). */
static inline int dirent_at(MDB_cursor *c, uint64_t parent, const char *name, size_t len,
			    struct cf_dirent *d)
{
	MDB_val k = {8, &parent}, v;
	struct sv nm;
	int rc = dup_seek(c, &k, name, len, &v, "read a directory entry");
	return rc ? rc : dirent_split(&v, &nm, d);
}

/* Point reads (store_read.c): a directory entry, a node's parent and name,
 * the entry of inode ino's node (ino 1 is the root), a resource's record, the
 * base of a path. In a reader's transaction they use its cursors. */
int store_get_dirent(struct cf_store *s, MDB_txn *txn, uint64_t parent, const char *name,
		     size_t len, struct cf_dirent *d);
int store_node_dirent(struct cf_store *s, MDB_txn *txn, uint64_t ino, struct cf_dirent *d,
		      uint64_t *parent, char *name, size_t *nlen);
int store_path_get(struct cf_store *s, MDB_txn *txn, const char *path, size_t len, uint64_t *base);
/* The path of node `base`, from the nodes chain up to the root or the
 * trash. */
int store_node_path(struct cf_store *s, MDB_txn *txn, uint64_t base, char *out, size_t size);
/* The thread-exit destructor of a reader's transaction, and closing every
 * reader's of s (cf_store_close: the readers must be done). */
void store_rtx_destroy(void *v);
void store_readers_close(struct cf_store *s);

/* A node's parent inode and name (the name copied into name[CF_NAME_MAX]). */
static inline int get_node(struct cf_store *s, MDB_txn *txn, uint64_t base, uint64_t *parent,
			   char *name, size_t *len)
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

static inline int get_rec(struct cf_store *s, MDB_txn *txn, uint64_t base, struct rec *c)
{
	MDB_val k = {8, &base}, v;
	int rc = mdb_get(txn, s->dbi[DB_RES], &k, &v);
	if (rc)
		return lmdb_err(rc, "read a resource");
	return store_rec_decode(v.mv_data, v.mv_size, c);
}

struct subtime {
	int64_t mtime;
	uint32_t ns;
	uint32_t pad;
};

/* 1 when the directory has a time (it has members), 0 when not (t zeroed). */
static inline int get_subtime(struct cf_store *s, MDB_txn *txn, uint64_t ino, struct subtime *t)
{
	MDB_val k = {8, &ino}, v;
	memset(t, 0, sizeof *t);
	int rc = mdb_get(txn, s->dbi[DB_SUBT], &k, &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return lmdb_err(rc, "read a directory time");
	if (v.mv_size != sizeof *t) {
		cf_err("store: a directory time of %zu bytes", v.mv_size);
		return -EIO;
	}
	memcpy(t, v.mv_data, sizeof *t);
	return 1;
}

/* paths: the key is the path's directory with its '/' ("global/snapshots/";
 * "/" for a top-level name), the duplicate "name\0" and the base. */
static inline int path_key(struct cf_store *s, const char *path, size_t len, MDB_val *k,
			   const char **name, size_t *nlen)
{
	const char *slash = len ? memrchr(path, '/', len) : NULL;
	if (slash) {
		*k = (MDB_val){(size_t) (slash - path) + 1, (void *) path};
		*name = slash + 1;
	} else {
		*k = (MDB_val){1, (void *) "/"};
		*name = path;
	}
	*nlen = len - (size_t) (*name - path);
	if (!*nlen || *nlen > CF_NAME_MAX || k->mv_size > (size_t) mdb_env_get_maxkeysize(s->env))
		return -ENAMETOOLONG;
	return 0;
}

/* The base in a paths duplicate under c's position. */
static inline int path_base(const MDB_val *v, uint64_t *base)
{
	struct sv nm;
	const void *p;
	int rc = dup_split(v, 8, &nm, &p, "a path record");
	if (!rc)
		memcpy(base, p, 8);
	return rc;
}

/* ---- aliases (store_alias.c) */

/* The collection of the resources an alias directory `sub` lists; room for
 * either name and its "/" (the by-source index's value prefix). */
static inline const char *alias_coll(const struct cf_store *s, unsigned sub)
{
	return s->alias_coll[sub - CF_SUB_SNAPSHOTS];
}

/* The layout's view that directory `sub` (CF_SUB_SNAPSHOTS or CF_SUB_CLONES) is. */
static inline const struct cf_layout_view *sub_view(unsigned sub)
{
	return &cf_layout()->views[sub - CF_SUB_SNAPSHOTS];
}

/* Whether path[0..len) is a resource path of kind k. */
static inline bool path_is_kind(const char *path, size_t len, enum cf_kind k)
{
	char tmp[CF_PATH_MAX];
	enum cf_kind got;
	if (len >= sizeof tmp)
		return false;
	memcpy(tmp, path, len);
	tmp[len] = '\0';
	return !cf_path_parse(tmp, &got, NULL, 0, NULL, 0) && got == k;
}

/* The sub-directory of a source that lists a resource of kind k made from it
 * (a disk's snapshots/, an instance's clones/), or 0 when it has no alias. */
static inline unsigned alias_sub(enum cf_kind k, struct sv source)
{
	if (!source.n)
		return 0;
	for (unsigned sub = CF_SUB_SNAPSHOTS; sub <= CF_SUB_CLONES; sub++)
		if (k == sub_view(sub)->kind &&
		    path_is_kind(source.p, source.n, sub_view(sub)->source))
			return sub;
	return 0;
}

/* Turn primary entry d into the view of its alias: -ENOENT when it has none
 * (trashed, no source, a kind without aliases) or, with want_sub, not under
 * that sub-directory of the source whose base is src_base. *src (may be
 * NULL) receives the source's path (valid for the transaction). */
int store_alias_view(struct cf_store *s, MDB_txn *txn, struct cf_dirent *d, unsigned want_sub,
		     uint64_t src_base, struct sv *src);
/* Call fn for each alias in directory `sub` of the source whose base is
 * src_base, in name order (after `after` when given); fn returns nonzero to
 * stop. */
typedef int (*alias_fn)(void *ctx, struct sv name, struct cf_dirent *d);
int store_alias_each(struct cf_store *s, MDB_txn *txn, uint64_t src_base, unsigned sub,
		     const char *after, size_t alen, alias_fn fn, void *ctx);
/* The path of alias node base: SOURCE/snapshots/NAME or SOURCE/clones/NAME. */
int store_alias_path(struct cf_store *s, MDB_txn *txn, uint64_t base, char *out, size_t size);

/* ---- write transactions (store_txn.c, store_write.c) */

struct change {
	uint64_t ino; /* entry: the parent */
	size_t off;   /* entry: name in names */
	uint32_t len;
	bool entry;
};

struct cf_wtxn {
	struct cf_store *s;
	MDB_txn *txn;
	struct docs_state ds; /* the documents' state as this transaction leaves it */
	bool ds_dirty;
	struct buf dbuf; /* documents to append at ds.end[ds.cur] before commit */
	uint64_t next_base;
	bool next_base_dirty;
	int64_t now;
	int64_t fetched;  /* a listing page's: when it was read (0: the write path's) */
	uint64_t writes;  /* puts and deletes so far: "did anything change" */
	bool byid_settle; /* a listing ends here: the id index catches up (store_byid.c) */
	bool byid_flush;  /* it does, after this transaction commits */
	struct buf rec;	  /* the record being built */
	struct buf tmp;	  /* sweep: names to remove */
	struct change *ch;
	size_t nch, capch;
	struct buf names;	    /* names of entry changes */
	struct cf_u64set reported;  /* inodes already in ch */
	struct cf_u64set recompute; /* containers that lost a member */
	uint64_t bump_ino;	    /* the last container raised, and its mtime: */
	int64_t bump_mtime;	    /* most upserts of a page land in one container */
	uint32_t bump_ns;
	/* Container mtimes to raise at commit, each once, however many members
	 * arrived: a page of snapshots lands in global/snapshots and in the
	 * snapshots/ of a few disks, and raising as they come would rewrite
	 * those containers and their ancestors for every member. */
	struct pending_bump {
		uint64_t ino;
		int64_t mt;
		uint32_t ns;
	} bumps[32];
	size_t nbumps;
	/* The write path's notes and the sweeps' forgets (struct recent), kept
	 * until commit: applied then (the forgets first; a forget drops the
	 * notes of its listing made before it), dropped by an abort. */
	struct recent_slot *notes;
	size_t nnotes, capnotes;
	uint32_t forget;	      /* bit l: listing l swept */
	char last_scope[CF_PATH_MAX]; /* the last scope ensured */
	char coll_path[CF_PATH_MAX];  /* the last collection resolved */
	size_t coll_len;
	uint64_t coll_base;
};

/* Append a document to the current file (written at commit); its ref. */
static inline int doc_append(struct cf_wtxn *w, const char *doc, size_t len, uint64_t *ref)
{
	int c = w->ds.cur;
	uint64_t off = w->ds.end[c] + w->dbuf.len;
	if (off + len >= (UINT64_C(1) << 63))
		return -ENOSPC;
	if (buf_add(&w->dbuf, doc, len))
		return -ENOMEM;
	*ref = ((uint64_t) c << 63) | off;
	w->ds.live[c] += len;
	w->ds_dirty = true;
	w->writes++;
	return 0;
}

/* A record no longer references document (ref, len). */
static inline void doc_drop(struct cf_wtxn *w, uint64_t ref, uint32_t len)
{
	uint64_t *live = &w->ds.live[DOC_FILE(ref)];
	*live = *live > len ? *live - len : 0;
	w->ds_dirty = true;
}

int store_wput(struct cf_wtxn *w, int db, MDB_val *k, MDB_val *v, unsigned flags, const char *what);
/* 1 when something was deleted, 0 when it was not there. */
int store_wdel(struct cf_wtxn *w, int db, MDB_val *k, const char *what);
/* Report a change after commit (an entry of directory ino, or inode ino). */
int store_note_change(struct cf_wtxn *w, uint64_t ino, const char *name, size_t len, bool entry);

static inline int note_entry(struct cf_wtxn *w, uint64_t parent, const char *name, size_t len)
{
	return store_note_change(w, parent, name, len, true);
}

static inline int note_inode(struct cf_wtxn *w, uint64_t ino)
{
	return store_note_change(w, ino, NULL, 0, false);
}

static inline int mark_recompute(struct cf_wtxn *w, uint64_t ino)
{
	int rc = cf_u64set_add(&w->recompute, ino);
	return rc < 0 ? rc : 0;
}

/* A member of container ino was created at (mt, ns): raise its mtime and its
 * ancestors', at commit (store_txn.c). */
int store_bump(struct cf_wtxn *w, uint64_t ino, int64_t mt, uint32_t ns);

static inline struct recent_slot *recent_find(const struct recent *r, uint64_t base)
{
	if (!r->cap)
		return NULL;
	for (size_t j = (size_t) cf_hash64(&base, 8) & (r->cap - 1);; j = (j + 1) & (r->cap - 1)) {
		if (r->slot[j].base == base || !r->slot[j].base)
			return &r->slot[j];
	}
}

/* When the write path last wrote base (CLOCK_MONOTONIC ms), or INT64_MIN:
 * in a commit before w, or in w itself. */
int64_t recent_at(const struct cf_wtxn *w, uint64_t base);
/* Whether anything is remembered (recent_at may say more than INT64_MIN). */
static inline bool recent_any(const struct cf_wtxn *w)
{
	return w->s->recent.n || w->nnotes;
}

/* Remember that the write path wrote (or removed) base, of kind k, now: at
 * w's commit. */
void store_recent_note(struct cf_wtxn *w, uint64_t base, enum cf_kind k);
/* After listing l's sweep: every later listing of l begins after these (at
 * w's commit). */
void store_recent_forget(struct cf_wtxn *w, enum cf_listing l);

static inline void container_init(struct cf_dirent *d, int64_t now)
{
	memset(d, 0, sizeof *d);
	d->type = CF_NODE_CONTAINER;
	d->kind = CF_KIND_NONE;
	d->size = (uint64_t) (now > 0 ? now : 0);
	d->mtime = d->ctime = (int64_t) d->size;
	d->flags = DIRENT_VACANT;
}

/* Write entry `name` of directory parent (replacing the one there). */
int store_put_dirent(struct cf_wtxn *w, uint64_t parent, const char *name, size_t nlen,
		     const struct cf_dirent *d);
/* Remove entry `name` of directory parent: 1, 0 when it was not there, or
 * an error. */
int store_del_dirent(struct cf_wtxn *w, uint64_t parent, const char *name, size_t nlen,
		     const char *what);
/* The base of path, allocated (with its ancestors') when new. */
int store_resolve(struct cf_wtxn *w, const char *path, size_t len, uint64_t *base, int depth);
/* Make sure container `path` exists (its parent must). */
int store_ensure_container(struct cf_wtxn *w, const char *path, size_t len);
/* Remove member `name` (a resource) of container cino, whose path is path;
 * note: the write path removes it (remembered, see struct recent). */
int store_remove_member(struct cf_wtxn *w, const char *path, size_t plen, uint64_t cino,
			const char *name, size_t nlen, bool note);
/* The alias `name` left directory `sub` of source (store_alias.c). */
int store_remove_alias(struct cf_wtxn *w, struct sv source, unsigned sub, const char *name,
		       size_t nlen);
/* The alias of resource nd->base (od: its entry before, when it already had
 * this alias) shows in directory `sub` of its source (store_alias.c). */
int store_show_alias(struct cf_wtxn *w, const char *source, size_t slen, unsigned sub,
		     const char *name, size_t nlen, const struct cf_dirent *nd,
		     const struct cf_dirent *od, bool raw_changed);

/* ---- the id index (store_byid.c) and preferred names (store_names.c)
 *
 * byid: cookie(id) (8 bytes, big-endian) ++ id ++ '\0' ++ u8 kind -> base, for
 * every resource with an id, in the order of its listing cookies, so a listing
 * resumes past any cookie (.clonefs/by-id/ lists it; kinds sharing an id show the first) (a
 * resource's identity in the cloud: .clonefs/by-id/, and how a resource whose entry name follows
 * its preferred name is found again when that name changes). A listing's changes to it wait in
 * memory until the listing ends (store_byid.c says why). prefs: collection path ++ '\0' ++
 * preferred name => one claim per resource preferring it: u64 created + 2^63 and u32 ns big-endian,
 * then the id, so that the first duplicate is the oldest claim (creation time, then id) and holds
 * the name. Only the API's data decides: every host shows the same. */

/* A byid key's first 8 bytes: a listing cookie, big-endian. */
enum { CF_BYID_KEY_MAX = 8 + CF_ID_MAX + 2 };
void store_byid_prefix(uint64_t cookie, unsigned char out[8]);
/* The writer's (under wlock: its changes still waiting count): the base of
 * the resource of kind k with this id, or -ENOENT. */
int store_byid_get(struct cf_store *s, MDB_txn *txn, enum cf_kind k, const char *id, size_t n,
		   uint64_t *base);
int store_byid_put(struct cf_wtxn *w, enum cf_kind k, const char *id, size_t n, uint64_t base);
/* Remove the entry of (k, id) when it still names base. */
int store_byid_del(struct cf_wtxn *w, enum cf_kind k, const char *id, size_t n, uint64_t base);
/* cf_store_wcommit's, before LMDB's commit: write what waits when it is time. */
int store_byid_commit(struct cf_wtxn *w);
/* After LMDB's commit, before wlock is released: the waiting changes are
 * written in transactions of their own when it is time, and noted in w. */
void store_byid_committed(struct cf_wtxn *w);
/* An abort (under wlock): this transaction's changes are forgotten. */
void store_byid_aborted(struct cf_store *s);
/* At open: repair the table if the last run ended with changes waiting. */
int store_byid_open(struct cf_store *s);
/* At close: write what waits (else the next open repairs). */
int store_byid_close(struct cf_store *s);
void store_byid_free(struct cf_store *s);
/* Before resource r is written: the entry name it gets (its name_pref when
 * it holds it, else its id), into name (CF_NAME_MAX + 1); its claim is
 * recorded (and a claim of its old preferred name dropped), a resource
 * shown under that name that does not hold it is moved to its id, and r's
 * own entry under another name is removed. */
int store_choose_name(struct cf_wtxn *w, const struct cf_resource *r, char *name);
/* Where the store chooses names, a provider names another resource (a
 * source, an origin, a link) by its id path, COLL/ID, the one path it can
 * know: the path it is listed under now, into out: 1 when that differs, 0
 * when path stays as it is (not an id the store holds). */
int store_current_path(struct cf_wtxn *w, const char *path, char *out, size_t size);
/* cf_store_upsert of a resource with a preferred name (store_write.c). */
int store_upsert_named(struct cf_wtxn *w, const struct cf_resource *r);
/* Drop the claim (and the byid entry) of the resource in record c at base:
 * it is being removed. coll: its collection's path. */
int store_names_forget(struct cf_wtxn *w, const struct rec *c, uint64_t base);

static inline void sync_key(enum cf_listing l, char *buf, size_t size, MDB_val *k)
{
	int n = snprintf(buf, size, "sync/%s", cf_listing_name(l));
	k->mv_size = (size_t) n;
	k->mv_data = buf;
}

static inline MDB_val meta_key(const char *name)
{
	return (MDB_val){strlen(name), (void *) name};
}

#endif
