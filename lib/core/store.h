/* store.h — the LMDB cache: every resource, the tree the mount shows, stable
 * inode numbers, the by-source index and sync metadata.
 *
 * Writers from several threads (the sync, the engine, the change feed, FUSE's
 * write path), one write transaction at a time: cf_store_wbegin waits for the
 * one in progress. Many readers (FUSE threads), which never block: each read
 * call runs in a short read-only transaction (reused per thread with
 * mdb_txn_reset / mdb_txn_renew).
 *
 * ## Inode numbers
 * Every path ever seen gets a 56-bit "base" from a counter kept in LMDB
 * (table `paths`: path -> base), so inode numbers survive remounts. A node's
 * inode is (base << 8) | sub, where sub names the node inside a resource:
 *
 *   sub 0  the directory itself (resource or container)
 *   sub 1  status         sub 2  resource.json      sub 3  source (symlink)
 *   sub 4  snapshots/ (disks)     sub 5  clones/ (instances)
 *   sub 6  disks/ (instances)     sub 16+i  disks/ entry i (symlink)
 *   sub 7  .clonefs/by-id/ID (symlink to the resource)
 *   sub 0xf0 | s  the node s (0..3) of the resource's alias (below)
 *
 * so the files of a resource cost nothing to store. Inode 1 is the root
 * (FUSE_ROOT_ID); base 1 (inodes 256..511) is reserved for .clonefs/, which
 * the daemon serves itself. Real bases start at 2.
 *
 * ## Tables
 *   meta    "schema" -> u32, "next_base" -> u64, "sync/<listing>" -> status,
 *           "protect_label" -> the label key the PROTECTED flags were computed with
 *   paths   directory of the path ++ "/" => name ++ "\0" ++ base
 *           (never removed: a path keeps its inode forever)
 *   nodes   base -> { parent inode, name }                (for getattr by inode)
 *   dirs    parent inode => name ++ "\0" ++ struct cf_dirent
 *           a directory's listing is one run of duplicates, attributes inline
 *   res     base of a resource -> labels, status, source, links, ids
 *   bysrc   source path => resource path (lineage, quotas); an origin's
 *           dependents carry a 0xff byte before the path
 *   subtimes inode of a disk's snapshots/ or an instance's clones/ -> mtime
 *   byid    cookie(id) ++ id ++ "\0" ++ u8 kind -> base (.clonefs/by-id/, in cookie order)
 *   prefs   collection ++ "\0" ++ preferred name => claim (store_names.c)
 * (=> : MDB_DUPSORT, one duplicate per member). resource.json documents are
 * in DIR/docs.0 and DIR/docs.1 (docs.h), found through the resource's record.
 *
 * A snapshot appears twice: global/snapshots/S (its primary node) and
 * zones/Z/disks/D/snapshots/S (its alias, with the same attributes). Nothing
 * is stored for the alias: the disk's snapshots/ lists the disk's run of
 * bysrc, and the alias's inodes are the primary's base with CF_SUB_ALIAS.
 * A machine image under its instance's clones/ likewise. */
#ifndef CLONEFS_STORE_H
#define CLONEFS_STORE_H

#include "model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CF_STORE_SCHEMA 8

enum {
	CF_INO_ROOT = 1,
	CF_INO_CONTROL_BASE = 1, /* .clonefs/ is base 1: inode 256 and up */
	CF_SUB_DIR = 0,
	CF_SUB_STATUS = 1,
	CF_SUB_JSON = 2,
	CF_SUB_SOURCE = 3,
	CF_SUB_SNAPSHOTS = 4,
	CF_SUB_CLONES = 5,
	CF_SUB_DISKS = 6,
	/* .clonefs/by-id/ID: a symlink to the resource with that id */
	CF_SUB_BYID = 7,
	CF_SUB_DISK_LINK0 = 16,
	/* An alias's nodes: CF_SUB_ALIAS | sub, sub one of DIR, STATUS, JSON,
	 * SOURCE. Only snapshots and machine images have aliases, and they have
	 * no disk links. */
	CF_SUB_ALIAS = 0xf0,
	/* .clonefs/trash/: a fixed inode in the control range whose listing
	 * the store keeps (the daemon answers its attributes, the store its
	 * entries): trash/global/snapshots/NAME, trash/global/images/NAME,
	 * trash/global/machineImages/NAME. */
	CF_INO_TRASH = (CF_INO_CONTROL_BASE << 8) | 0x80,
	/* .clonefs/by-id/: the same arrangement; its entries are every
	 * resource's id, each a symlink (the resource's inode with CF_SUB_BYID)
	 * to where the resource is now, relative ("../../snapshots/web"). */
	CF_INO_BYID = (CF_INO_CONTROL_BASE << 8) | 0x81,
};

/* The label that puts a resource in the trash: its value is the UTC epoch
 * second after which any mount deletes it (the grace period). */
#define CF_TRASH_LABEL	  "clonefs-delete-at"
#define CF_INO(base, sub) (((uint64_t) (base) << 8) | (uint64_t) (sub))
#define CF_INO_BASE(ino)  ((uint64_t) (ino) >> 8)
#define CF_INO_SUB(ino)	  ((unsigned) ((ino) &0xff))
/* The node inside a resource a sub names, an alias's or the primary's. */
#define CF_SUB_NODE(sub) ((sub) >= CF_SUB_ALIAS ? (sub) -CF_SUB_ALIAS : (sub))

/* What a directory entry stores, ready to copy into a struct stat. */
enum cf_node_type { CF_NODE_CONTAINER = 1, CF_NODE_RESOURCE = 2, CF_NODE_ALIAS = 3 };
enum { CF_DIRENT_PROTECTED = 1 << 0 /* carries the protect label */ };

struct cf_dirent {
	uint64_t base;	 /* this node's base; its inode is CF_INO(base, 0) (an alias
			  * shown from it: CF_INO(base, CF_SUB_ALIAS)) */
	int64_t mtime;	 /* creation time; a container: its newest member's
			  * (empty containers below it do not count), or
			  * when it holds no resource, the time in `size` */
	int64_t ctime;	 /* when clonefs last saw labels or status change */
	uint64_t size;	 /* logical bytes; a container: the UTC second the store
			  * created it, its mtime while no resource is below it
			  * (st_size says 0) */
	uint64_t blocks; /* stored bytes / 512 */
	uint32_t mtime_ns;
	uint32_t json_len;   /* length of resource.json */
	uint16_t status_len; /* length of the status line without '\n' */
	uint16_t source_len; /* length of the source path, 0 = no source link */
	uint16_t nlinks;     /* instance: attached disks */
	uint8_t type;	     /* enum cf_node_type */
	uint8_t kind;	     /* enum cf_kind (containers: CF_KIND_NONE) */
	uint32_t flags;	     /* CF_DIRENT_* */
	uint32_t depth;	     /* path components of the directory holding it (for
			      * relative symlink targets) */
};

/* Attributes of one node as the filesystem reports them. */
struct cf_stat {
	uint64_t ino;
	uint32_t mode; /* S_IFDIR | 0755, S_IFREG | 0444, S_IFLNK | 0777 */
	uint32_t nlink;
	uint64_t size;
	uint64_t blocks;
	int64_t mtime;
	uint32_t mtime_ns;
	int64_t ctime;
	uint32_t flags; /* CF_DIRENT_* of the resource a node belongs to (0 for
			 * containers): the daemon clears write bits when protected */
};

struct cf_store;

/* Open (creating) the environment in directory `dir` (created 0700 if
 * missing). A cache written under another schema version, or that cannot be
 * read, is moved aside and rebuilt empty, with a log line: never misread. */
int cf_store_open(const char *dir, struct cf_store **out);
void cf_store_close(struct cf_store *s);

/* The label that protects a resource (the policy's prune.protect_label): a resource carrying it
 * has CF_DIRENT_PROTECTED, which the daemon shows as no write bits. Call after open and before
 * any write (the writer reads it without a lock). A cache whose flags were computed with
 * another key (kept in meta "protect_label") is re-flagged now, in one pass over the
 * resources, so the modes are right before the first sync. Default: "keep". */
#define CF_STORE_PROTECT_DEFAULT "keep"
int cf_store_set_protect_label(struct cf_store *s, const char *key);

/* ---- read side: every call is safe from any thread, never blocks ---- */

/* A number that changes with every committed write (LMDB's last transaction id): what was
 * computed from the store at one generation still holds while it is unchanged. */
uint64_t cf_store_generation(struct cf_store *s);

int cf_store_lookup(struct cf_store *s, uint64_t parent, const char *name, struct cf_stat *out);
int cf_store_getattr(struct cf_store *s, uint64_t ino, struct cf_stat *out);

/* Call fn for every entry of directory ino, in name order, from one read
 * transaction (a consistent snapshot). fn returns nonzero to stop early.
 * The name is not NUL-terminated. -ENOTDIR / -ENOENT as appropriate. */
typedef int (*cf_dir_fn)(void *ctx, const char *name, size_t len, const struct cf_stat *st);
int cf_store_readdir(struct cf_store *s, uint64_t ino, cf_dir_fn fn, void *ctx);

/* The same, resumable: only the entries whose names sort (bytewise) after
 * `after` (alen bytes; NULL: from the first). *resumable says whether this
 * directory can be listed so (the root, the trash, containers, and a
 * resource's snapshots/ and clones/, which can grow as large); for one that
 * cannot (a resource's own few entries, an instance's disks/), after must be
 * NULL (else -EINVAL) and the whole listing is given. Each call is its own transaction:
 * a listing in several calls sees each name once, and a name added or
 * removed between calls may or may not appear, as readdir(3) allows. */
int cf_store_readdir_after(struct cf_store *s, uint64_t ino, const char *after, size_t alen,
			   bool *resumable, cf_dir_fn fn, void *ctx);

/* The same with nothing kept between calls (readdir without opendir): each
 * entry comes with a cookie, >= CF_DIR_COOKIE_MIN, and a listing given
 * `cookie` resumes right after the entry that had it (0: from the first).
 * A name present throughout a listing made of several calls is listed
 * exactly once, whatever was added or removed in between. In a listing the
 * store keeps in name order (see resumable above) the cookie is the entry's
 * node base + CF_DIR_COOKIE_MIN, resumed after the node's name (a node
 * keeps its base and name forever, even once removed); in a small one (a
 * resource's entries, an instance's disks/) it is cf_dir_name_cookie and
 * the entries come in cookie order. A cookie the listing never gave:
 * -EINVAL. */
enum { CF_DIR_COOKIE_MIN = 16 };
#define CF_DIR_COOKIE_SMALL ((uint64_t) 1 << 60) /* every small listing's cookie has it */
typedef int (*cf_dirc_fn)(void *ctx, const char *name, size_t len, const struct cf_stat *st,
			  uint64_t cookie);
int cf_store_readdir_cookie(struct cf_store *s, uint64_t ino, uint64_t cookie, cf_dirc_fn fn,
			    void *ctx);
/* The cookie of a name in a small listing: CF_DIR_COOKIE_SMALL | a 60-bit hash
 * (so never a base's cookie), and two names of
 * one small directory (a few hundred at most) collide with odds below
 * 2^-40; sorting by it makes any listing of distinct names resumable. */
uint64_t cf_dir_name_cookie(const char *name, size_t len);

/* The symlink target of ino into buf (NUL-terminated); returns its length. */
int cf_store_readlink(struct cf_store *s, uint64_t ino, char *buf, size_t size);

/* The contents of a file node (status line with '\n', resource.json) in a
 * malloc'd buffer the caller frees. */
int cf_store_read(struct cf_store *s, uint64_t ino, char **data, size_t *len);

/* Labels of the resource shown by ino (any of its nodes' inode with sub 0),
 * as "key\0value\0key\0value\0..." in a malloc'd buffer; *n = label count.
 * -ENOENT when ino is not a resource directory. */
int cf_store_labels(struct cf_store *s, uint64_t ino, char **blob, size_t *len, size_t *n);

/* The same without a copy: fn sees the labels where they are stored, valid
 * only during the call, and its return is returned. */
typedef int (*cf_labels_fn)(void *ctx, const char *blob, size_t len, size_t n);
int cf_store_labels_view(struct cf_store *s, uint64_t ino, cf_labels_fn fn, void *ctx);

/* The resource a node shows, decoded back (labels, source, links, status,
 * ids; raw left NULL). For the write path and policy decisions. */
int cf_store_resource(struct cf_store *s, uint64_t ino, struct cf_resource *out);

/* The inode of a project-relative path ("" is the root; "trash/..." starts
 * at CF_INO_TRASH), -ENOENT if absent. */
int cf_store_ino_of_path(struct cf_store *s, const char *path, uint64_t *ino);

/* Every resource, for .clonefs/inventory.jsonl: fn gets its path and the
 * decoded resource (raw NULL) from one read transaction. */
typedef int (*cf_res_fn)(void *ctx, const char *path, const struct cf_resource *r);
int cf_store_foreach_resource(struct cf_store *s, cf_res_fn fn, void *ctx);

/* For a pass that links resources to what names them (the report's lineage),
 * from one read transaction: src gets every path some resource names as its
 * source or origin (the by-source index's keys, each once, in byte order;
 * not NUL-terminated), then fn every resource as cf_store_foreach_resource
 * gives it, with its base (CF_INO(base, 0) is its directory). */
typedef int (*cf_path_fn)(void *ctx, const char *path, size_t len);
typedef int (*cf_res_base_fn)(void *ctx, uint64_t base, const char *path,
			      const struct cf_resource *r);
int cf_store_foreach_linked(struct cf_store *s, cf_path_fn src, cf_res_base_fn fn, void *ctx);

/* The project-relative path of the node ino shows: a resource directory
 * ("global/snapshots/S"; for an alias node the alias path
 * "zones/Z/disks/D/snapshots/S"), a container ("global/snapshots",
 * "zones/Z"), or a trash entry ("trash/global/snapshots/S"). Sub-nodes
 * (status, snapshots/, ...) answer their resource directory's path; *sub
 * (may be NULL) receives CF_SUB_NODE(CF_INO_SUB(ino)) (CF_SUB_DIR for the root, "", and
 * CF_INO_TRASH, "trash"). Returns the length; -ENOENT for a node not there
 * now and for the daemon's other .clonefs/ inodes, -ENAMETOOLONG when the
 * path and its NUL do not fit. */
int cf_store_path_of(struct cf_store *s, uint64_t ino, char *buf, size_t size, unsigned *sub);

/* What depends on path: every resource whose source or origin is path
 * (images and disks made from a snapshot, machine images of an instance,
 * snapshots of a disk), through the by-source index. fn gets each
 * dependent's path (not NUL-terminated), those of a source in path order,
 * then those of an origin; trashed ones included (they still exist in the
 * cloud). */
int cf_store_dependents(struct cf_store *s, const char *path, cf_path_fn fn, void *ctx);

/* Every resource in the trash (label CF_TRASH_LABEL), with its decoded
 * resource (raw NULL), from one read transaction. The path fn gets is the
 * resource's own ("global/snapshots/S", what cf_store_remove takes); its
 * entry is "trash/" + that path. Only snapshots, images and machine images
 * are ever trashed: a disk or instance carrying the label stays listed. */
int cf_store_foreach_trashed(struct cf_store *s, cf_res_fn fn, void *ctx);

/* ---- sync metadata ---- */

struct cf_sync_state {
	int64_t last_complete; /* UTC seconds of the last complete listing, 0 = never */
	int64_t last_attempt;
	uint64_t count;	      /* resources the last complete listing held */
	char last_error[256]; /* "" when the last attempt succeeded */
};
int cf_store_get_sync_state(struct cf_store *s, enum cf_listing l, struct cf_sync_state *out);

/* ---- write side: any thread; one transaction at a time (cf_store_wbegin waits for
 * the one in progress, so a thread must not begin a second before ending its first).
 * A transaction is used by the thread that began it, and ended by it. ---- */

/* What a write changed, reported after commit so the daemon can invalidate
 * the kernel's cache: an entry `name` of directory `parent` appeared or went
 * away (inval_entry + inval_inode(parent)), or a node's attributes or
 * contents changed (inval_inode). */
struct cf_change_sink {
	void (*entry)(void *ctx, uint64_t parent, const char *name, size_t len);
	void (*inode)(void *ctx, uint64_t ino);
	void *ctx;
	/* Optional: called once after all of a commit's changes were reported,
	 * from the same thread, so a sink can deliver them as one batch. */
	void (*done)(void *ctx);
};

struct cf_wtxn;
int cf_store_wbegin(struct cf_store *s, struct cf_wtxn **out);
/* Commit and then report every change to sink (may be NULL). */
int cf_store_wcommit(struct cf_wtxn *w, const struct cf_change_sink *sink);
void cf_store_wabort(struct cf_wtxn *w);

/* Insert or update one resource and its alias / container nodes. Writes
 * nothing when nothing changed. *changed (may be NULL) tells whether it did.
 * -EINVAL / -ENAMETOOLONG refuse the resource before anything is written
 * (the transaction stays usable); after any other error, abort it. */
int cf_store_upsert(struct cf_wtxn *w, const struct cf_resource *r, bool *changed);

/* Make sure a zone or region directory (with its collection directories)
 * exists. */
int cf_store_ensure_scope(struct cf_wtxn *w, enum cf_kind kind, const char *name);

/* Remove one resource (by path) with its aliases and index entries. */
int cf_store_remove(struct cf_wtxn *w, const char *path);

/* After a complete listing: remove every resource of that listing whose path
 * is not in `seen` (a cf_pathset filled during the listing with the paths
 * cf_resource_path builds; for zones and regions "zones/Z", "regions/R": an
 * unseen one goes only when it is empty). A resource the write path stored
 * at or after `since` (cf_store_clock_ms when the listing began) stays: the
 * listing may have been read before it existed (mkdir's CREATING entry).
 * Returns the number removed, or a negative errno. Container mtimes are
 * recomputed at commit. */
struct cf_pathset;
int cf_store_sweep(struct cf_wtxn *w, enum cf_listing l, const struct cf_pathset *seen,
		   int64_t since);

/* This transaction applies a listing page read from the API from fetched_ms
 * (cf_store_clock_ms) on: its upserts leave alone a resource that the write
 * path (any transaction without this call) stored or removed at or after
 * that time, since the page is older than what the store holds. */
void cf_store_wfetched(struct cf_wtxn *w, int64_t fetched_ms);
/* CLOCK_MONOTONIC in milliseconds: the clock of since and fetched_ms. */
int64_t cf_store_clock_ms(void);

int cf_store_put_sync_state(struct cf_wtxn *w, enum cf_listing l, const struct cf_sync_state *st);

#endif
