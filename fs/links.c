/* links.c — the symlink an `ln -s` restore answers with (write_ops.c).
 *
 * The kernel expects a symlink back from a FUSE symlink request (it refuses
 * any other type with EIO), but what the restore made is a disk or an
 * instance directory. So the answer is a symlink node of its own, pointing
 * where the caller's link pointed (the source), with zero entry and
 * attribute timeouts; the name is invalidated right after the answer, and
 * the next lookup or listing shows the new resource's directory from the
 * store. These nodes live only in this process, in a small ring: an inode
 * in [CF_INO_LINKS_BASE, CF_INO_JOBS_BASE) with sub CF_SUB_SOURCE, far above
 * any base the store hands out. One the ring has dropped is ESTALE. */
#include "fs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

enum { LINKS = 64 };

static struct {
	pthread_mutex_t lock;
	uint64_t next; /* counts up from 1 */
	struct {
		uint64_t ino;
		time_t at;
		char target[CF_PATH_MAX];
	} slot[LINKS];
} L = {.lock = PTHREAD_MUTEX_INITIALIZER};

bool cf_links_owns(uint64_t ino)
{
	uint64_t b = CF_INO_BASE(ino);
	return b >= CF_INO_LINKS_BASE && b < CF_INO_JOBS_BASE && CF_INO_SUB(ino) == CF_SUB_SOURCE;
}

static void fill(uint64_t ino, const char *target, time_t at, struct cf_stat *out)
{
	memset(out, 0, sizeof *out);
	out->ino = ino;
	out->mode = S_IFLNK | 0777;
	out->nlink = 1;
	out->size = strlen(target);
	out->mtime = out->ctime = at;
}

void cf_links_add(const char *target, struct cf_stat *out)
{
	pthread_mutex_lock(&L.lock);
	uint64_t n = ++L.next;
	uint64_t ino = CF_INO(CF_INO_LINKS_BASE + n, CF_SUB_SOURCE);
	size_t i = n % LINKS;
	L.slot[i].ino = ino;
	L.slot[i].at = time(NULL);
	snprintf(L.slot[i].target, sizeof L.slot[i].target, "%s", target);
	fill(ino, L.slot[i].target, L.slot[i].at, out);
	pthread_mutex_unlock(&L.lock);
}

static int find(uint64_t ino, struct cf_stat *st, char *buf, size_t size)
{
	int rc = -ESTALE;
	pthread_mutex_lock(&L.lock);
	for (size_t i = 0; i < LINKS; i++)
		if (L.slot[i].ino == ino) {
			if (st)
				fill(ino, L.slot[i].target, L.slot[i].at, st);
			if (buf)
				snprintf(buf, size, "%s", L.slot[i].target);
			rc = 0;
			break;
		}
	pthread_mutex_unlock(&L.lock);
	return rc;
}

int cf_links_getattr(uint64_t ino, struct cf_stat *out)
{
	return find(ino, out, NULL, 0);
}

int cf_links_readlink(uint64_t ino, char *buf, size_t size)
{
	return find(ino, NULL, buf, size);
}
