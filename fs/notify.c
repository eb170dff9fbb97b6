/* notify.c — kernel cache invalidations, delivered by a thread of their own.
 *
 * Store writes report what changed (an entry appeared or went, a node's
 * attributes changed); the kernel must hear of it through
 * fuse_lowlevel_notify_inval_entry / _inval_inode. Those calls take the
 * directory's inode lock in the kernel, and a FUSE request such as mkdir
 * holds that very lock until it is answered: invalidating from inside the
 * request that caused the change would deadlock. So the sink only queues,
 * and this thread delivers, after the request has been answered.
 *
 * Each call is a write(2) to /dev/fuse, and a first sync of 100,000
 * snapshots reports 200,000 entries (each snapshot and its alias under its
 * disk). So the thread takes the whole queue at once and:
 *  - invalidates each inode once per batch, however many of its entries
 *    changed (a directory's listing and attributes are one invalidation);
 *  - skips inval_entry under a directory the kernel was never told anything
 *    about: the kernel holds a dentry, positive or negative, only for a name
 *    some reply gave it (a lookup, a readdirplus entry, a mkdir or rename
 *    answer). Those replies mark their directory here *before* reading the
 *    store, so a reply that raced a change either is invalidated or read the
 *    changed store. A directory once marked stays marked;
 *  - holds back inval_entry under a directory with a mkdir, rmdir or rename
 *    of ours in flight (cf_notify_dir_busy) until it is answered: the kernel
 *    holds that directory's lock until then, so the call would only wait,
 *    and if the daemon is killed meanwhile it waits forever (the request is
 *    never answered, and the process cannot exit while this thread is in
 *    the kernel: a zombie and a hung mkdir until the connection is aborted;
 *    a stop-mode clone keeps its mkdir waiting for seconds). */
#include "fs.h"

#include "hash.h"
#include "log.h"
#include "u64set.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct note {
	struct note *next;
	uint64_t ino;
	size_t len; /* > 0: an entry `name` of directory ino */
	char name[];
};

/* Directories with an operation of ours in flight, each with a count. More
 * at once than this (never: each holds a FUSE worker thread) go untracked,
 * which is what every directory was before. */
enum { BUSY_SLOTS = 64 };

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct note *head, **tail;
	bool stop, running;
	pthread_t thread;
	struct cf_fs *fs;
	struct {
		uint64_t ino;
		unsigned n;
	} busy[BUSY_SLOTS];
	bool recheck; /* a directory stopped being busy */
} Q = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

void cf_notify_dir_busy(uint64_t dir, bool busy)
{
	pthread_mutex_lock(&Q.lock);
	size_t free_slot = BUSY_SLOTS;
	for (size_t i = 0; i < BUSY_SLOTS; i++) {
		if (Q.busy[i].n && Q.busy[i].ino == dir) {
			if (busy) {
				Q.busy[i].n++;
			} else if (--Q.busy[i].n == 0) {
				Q.recheck = true;
				pthread_cond_signal(&Q.cond);
			}
			pthread_mutex_unlock(&Q.lock);
			return;
		}
		if (!Q.busy[i].n && free_slot == BUSY_SLOTS)
			free_slot = i;
	}
	if (busy && free_slot < BUSY_SLOTS)
		Q.busy[free_slot] = (typeof(Q.busy[0])){dir, 1};
	pthread_mutex_unlock(&Q.lock);
}

/* With Q.lock held. */
static bool dir_busy(uint64_t dir)
{
	for (size_t i = 0; i < BUSY_SLOTS; i++)
		if (Q.busy[i].n && Q.busy[i].ino == dir)
			return true;
	return false;
}

/* ---- directories under which the kernel may hold dentries ---- */

/* Open addressing over inode + 1 (0 = empty), insert-only, lock-free: FUSE
 * worker threads mark, the notify thread reads. Full (more directories than
 * this were ever looked into) means "assume every directory": correct, only
 * slower. The array is in .bss: only the pages of slots in use are touched. */
enum { SEEN_SLOTS = 1 << 15, SEEN_PROBES = 64 };
static _Atomic uint64_t seen[SEEN_SLOTS];
static atomic_bool seen_full;

void cf_notify_dir_seen(uint64_t dir)
{
	/* Full: every directory counts as seen, and probing a full table would
	 * read SEEN_PROBES cache lines on every readdir and lookup. */
	if (atomic_load(&seen_full))
		return;
	uint64_t key = dir + 1;
	size_t i = (size_t) cf_hash64(&dir, sizeof dir) & (SEEN_SLOTS - 1);
	for (int n = 0; n < SEEN_PROBES; n++, i = (i + 1) & (SEEN_SLOTS - 1)) {
		uint64_t v = atomic_load(&seen[i]);
		if (v == key)
			return;
		if (v == 0) {
			if (atomic_compare_exchange_strong(&seen[i], &v, key) || v == key)
				return;
		}
	}
	atomic_store(&seen_full, true);
}

static bool dir_seen(uint64_t dir)
{
	if (atomic_load(&seen_full))
		return true;
	uint64_t key = dir + 1;
	size_t i = (size_t) cf_hash64(&dir, sizeof dir) & (SEEN_SLOTS - 1);
	for (int n = 0; n < SEEN_PROBES; n++, i = (i + 1) & (SEEN_SLOTS - 1)) {
		uint64_t v = atomic_load(&seen[i]);
		if (v == key)
			return true;
		if (v == 0)
			return false;
	}
	return false;
}

/* ---- the queue ---- */

/* A commit's changes, gathered by the committing thread until the sink's
 * `done` hands them over as one batch: one wake-up of the notify thread and
 * one invalidation per directory per commit, not per change. */
static __thread struct note *pend_head, **pend_tail; /* pend_tail NULL: empty */

static void push(uint64_t ino, const char *name, size_t len)
{
	struct note *n = malloc(sizeof *n + len + 1);
	if (!n) {
		cf_warn("out of memory queueing a cache invalidation for inode %llu",
			(unsigned long long) ino);
		return;
	}
	n->next = NULL;
	n->ino = ino;
	n->len = len;
	if (len)
		memcpy(n->name, name, len);
	n->name[len] = '\0';
	*(pend_tail ? pend_tail : &pend_head) = n;
	pend_tail = &n->next;
}

static void free_notes(struct note *n)
{
	while (n) {
		struct note *next = n->next;
		free(n);
		n = next;
	}
}

/* Hand this thread's gathered changes to the notify thread. */
static void flush(void)
{
	struct note *batch = pend_head;
	if (!batch)
		return;
	struct note **last = pend_tail;
	pend_head = NULL;
	pend_tail = NULL;
	pthread_mutex_lock(&Q.lock);
	if (Q.stop) {
		pthread_mutex_unlock(&Q.lock);
		free_notes(batch);
		return;
	}
	bool was_empty = !Q.head;
	*Q.tail = batch;
	Q.tail = last;
	/* The thread takes the whole queue when it wakes. */
	if (was_empty)
		pthread_cond_signal(&Q.cond);
	pthread_mutex_unlock(&Q.lock);
}

static void note_rc(const char *what, uint64_t ino, int rc)
{
	/* -ENOENT: the kernel had nothing cached; -ENOTCONN: before INIT or after unmount. */
	if (rc == 0 || rc == -ENOENT || rc == -ENOTCONN || rc == -ENODEV)
		return;
	cf_debug("%s(%llu) failed: %s", what, (unsigned long long) ino, strerror(-rc));
}

static void inval_inode(struct fuse_session *se, uint64_t ino)
{
	note_rc("inval_inode", ino, fuse_lowlevel_notify_inval_inode(se, ino, 0, 0));
}

/* One batch: entries first, then each inode once (a directory's listing and
 * attributes, a resource and the files it synthesises). */
static void deliver(struct cf_fs *fs, struct note *batch)
{
	struct fuse_session *se = fs->se;
	struct cf_u64set done = {0}; /* inodes invalidated: each once */
	for (struct note *n = batch; n && !atomic_load(&fs->stopping); n = n->next) {
		if (n->len && dir_seen(n->ino))
			note_rc("inval_entry", n->ino,
				fuse_lowlevel_notify_inval_entry(se, n->ino, n->name, n->len));
	}
	for (struct note *n = batch; n && !atomic_load(&fs->stopping); n = n->next) {
		if (cf_u64set_add(&done, n->ino) != 0)
			inval_inode(se, n->ino);
		/* A resource that changed may have changed its files (status,
		 * resource.json, source), whose pages the kernel keeps (keep_cache,
		 * cached symlinks). The parent of an entry is a directory: its
		 * listing and attributes are all that changed. */
		if (!n->len && n->ino != CF_INO_ROOT &&
		    CF_SUB_NODE(CF_INO_SUB(n->ino)) == CF_SUB_DIR)
			for (unsigned sub = CF_SUB_STATUS; sub <= CF_SUB_SOURCE; sub++)
				if (cf_u64set_add(&done, n->ino | sub) != 0)
					inval_inode(se, n->ino | sub);
		/* An instance's disks/ lists its links, whose listing the kernel keeps like any
		 * other: dropped with the resource's record, and, when the kernel holds it, the
		 * cached targets of its first links too. */
		if (!n->len && n->ino != CF_INO_ROOT && CF_INO_SUB(n->ino) == CF_SUB_DIR &&
		    !control_owns(n->ino) && cf_u64set_add(&done, n->ino | CF_SUB_DISKS) != 0 &&
		    fuse_lowlevel_notify_inval_inode(se, n->ino | CF_SUB_DISKS, 0, 0) == 0)
			for (unsigned sub = CF_SUB_DISK_LINK0; sub < CF_SUB_DISK_LINK0 + 16; sub++)
				inval_inode(se, n->ino | sub);
	}
	cf_u64set_free(&done);
}

static void *notify_thread(void *arg)
{
	struct note *held = NULL; /* entries under busy directories, in order */
	(void) arg;
	pthread_mutex_lock(&Q.lock);
	for (;;) {
		while (!Q.head && !Q.stop && !(Q.recheck && held))
			pthread_cond_wait(&Q.cond, &Q.lock);
		if (!Q.head && Q.stop)
			break; /* stopping and drained: what is held goes unsaid */
		/* What was held first, then the new batch; what is still under a
		 * busy directory is held again. */
		struct note *batch = held, **bt = &batch, **ht = &held;
		while (*bt)
			bt = &(*bt)->next;
		*bt = Q.head;
		Q.head = NULL;
		Q.tail = &Q.head;
		Q.recheck = false;
		held = NULL;
		for (struct note **pp = &batch; *pp;) {
			struct note *n = *pp;
			if (n->len && dir_busy(n->ino)) {
				*pp = n->next;
				n->next = NULL;
				*ht = n;
				ht = &n->next;
			} else {
				pp = &n->next;
			}
		}
		pthread_mutex_unlock(&Q.lock);
		if (batch && !atomic_load(&Q.fs->stopping))
			deliver(Q.fs, batch);
		free_notes(batch);
		pthread_mutex_lock(&Q.lock);
	}
	pthread_mutex_unlock(&Q.lock);
	free_notes(held);
	return NULL;
}

static void sink_entry(void *ctx, uint64_t parent, const char *name, size_t len)
{
	(void) ctx;
	if (len)
		push(parent, name, len);
}

static void sink_inode(void *ctx, uint64_t ino)
{
	(void) ctx;
	push(ino, NULL, 0);
}

static void sink_done(void *ctx)
{
	(void) ctx;
	flush();
}

void cf_notify_entry(uint64_t dir, const char *name)
{
	push(dir, name, strlen(name));
	push(dir, NULL, 0);
	flush();
}

void cf_notify_inode(uint64_t ino)
{
	push(ino, NULL, 0);
	flush();
}

int cf_notify_start(struct cf_fs *fs, struct cf_change_sink *sink)
{
	Q.fs = fs;
	Q.head = NULL;
	Q.tail = &Q.head;
	Q.stop = false;
	int rc = pthread_create(&Q.thread, NULL, notify_thread, NULL);
	if (rc)
		return -rc;
	Q.running = true;
	sink->entry = sink_entry;
	sink->inode = sink_inode;
	sink->done = sink_done;
	sink->ctx = fs;
	return 0;
}

void cf_notify_stop(void)
{
	if (!Q.running)
		return;
	pthread_mutex_lock(&Q.lock);
	Q.stop = true;
	pthread_cond_signal(&Q.cond);
	pthread_mutex_unlock(&Q.lock);
	pthread_join(Q.thread, NULL);
	Q.running = false;
}
