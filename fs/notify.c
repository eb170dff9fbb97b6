/* notify.c — kernel cache invalidations, delivered by a thread of their own.
 *
 * Store writes report what changed (an entry appeared or went, a node's
 * attributes changed); the kernel must hear of it through
 * fuse_lowlevel_notify_inval_entry / _inval_inode. Those calls take the
 * directory's inode lock in the kernel, and a FUSE request such as mkdir
 * holds that very lock until it is answered: invalidating from inside the
 * request that caused the change would deadlock. So the sink only queues,
 * and this thread delivers, after the request has been answered. */
#include "fs.h"

#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct note {
	struct note *next;
	uint64_t ino;
	size_t len; /* > 0: an entry `name` of directory ino */
	char name[];
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct note *head, **tail;
	bool stop, running;
	pthread_t thread;
	struct cf_fs *fs;
} Q = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

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
	pthread_mutex_lock(&Q.lock);
	if (Q.stop) {
		pthread_mutex_unlock(&Q.lock);
		free(n);
		return;
	}
	*Q.tail = n;
	Q.tail = &n->next;
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

static void deliver(struct cf_fs *fs, const struct note *n)
{
	struct fuse_session *se = fs->se;
	if (n->len) {
		note_rc("inval_entry", n->ino,
			fuse_lowlevel_notify_inval_entry(se, n->ino, n->name, n->len));
		/* The parent's listing (cache_readdir) and attributes changed too. */
		note_rc("inval_inode", n->ino, fuse_lowlevel_notify_inval_inode(se, n->ino, 0, 0));
		return;
	}
	note_rc("inval_inode", n->ino, fuse_lowlevel_notify_inval_inode(se, n->ino, 0, 0));
	/* A resource that changed may have changed its files (status, resource.json,
	 * source), whose pages the kernel keeps (keep_cache, cached symlinks). */
	if (n->ino != CF_INO_ROOT && CF_INO_SUB(n->ino) == CF_SUB_DIR)
		for (unsigned sub = CF_SUB_STATUS; sub <= CF_SUB_SOURCE; sub++)
			note_rc("inval_inode", n->ino | sub,
				fuse_lowlevel_notify_inval_inode(se, n->ino | sub, 0, 0));
}

static void *notify_thread(void *arg)
{
	(void) arg;
	pthread_mutex_lock(&Q.lock);
	for (;;) {
		while (!Q.head && !Q.stop)
			pthread_cond_wait(&Q.cond, &Q.lock);
		if (!Q.head)
			break; /* stopping and drained */
		struct note *n = Q.head;
		Q.head = n->next;
		if (!Q.head)
			Q.tail = &Q.head;
		pthread_mutex_unlock(&Q.lock);
		if (!atomic_load(&Q.fs->stopping))
			deliver(Q.fs, n);
		free(n);
		pthread_mutex_lock(&Q.lock);
	}
	pthread_mutex_unlock(&Q.lock);
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
