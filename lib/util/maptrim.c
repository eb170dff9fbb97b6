/* maptrim.c — trim a shared file mapping's resident pages past a budget
 * (see maptrim.h for why). */
#include "maptrim.h"

#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct cf_maptrim {
	void *addr;
	size_t len;
	size_t budget;
	long page;
	int statm; /* /proc/self/statm, or -1: then never trimmed */
	atomic_bool busy;
	_Atomic uint64_t count;
};

/* The largest mapping of the file (dev, ino) in /proc/self/maps. */
static int find_mapping(dev_t dev, ino_t ino, void **addr, size_t *len)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	char line[4096 + 128];
	*len = 0;
	while (fgets(line, sizeof line, f)) {
		unsigned long long lo, hi, off, inode;
		unsigned maj, min;
		char perms[8];
		if (sscanf(line, "%llx-%llx %7s %llx %x:%x %llu", &lo, &hi, perms, &off, &maj, &min,
			   &inode) != 7)
			continue;
		if (inode != (unsigned long long) ino || makedev(maj, min) != dev || hi <= lo ||
		    hi - lo <= *len)
			continue;
		*addr = (void *) (uintptr_t) lo;
		*len = (size_t) (hi - lo);
	}
	fclose(f);
	return *len ? 0 : -ENOENT;
}

int cf_maptrim_new(const char *path, size_t budget, struct cf_maptrim **out)
{
	struct stat st;
	void *addr = NULL;
	size_t len = 0;
	*out = NULL;
	if (stat(path, &st))
		return -errno;
	int rc = find_mapping(st.st_dev, st.st_ino, &addr, &len);
	if (rc)
		return rc;
	struct cf_maptrim *t = calloc(1, sizeof *t);
	if (!t)
		return -ENOMEM;
	t->addr = addr;
	t->len = len;
	t->budget = budget;
	t->page = sysconf(_SC_PAGESIZE);
	t->statm = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
	if (t->statm < 0)
		cf_warn("store: cannot read /proc/self/statm (%s): the cache's mapping is never "
			"trimmed, and the daemon's RSS grows with data.mdb",
			strerror(errno));
	*out = t;
	return 0;
}

void cf_maptrim_free(struct cf_maptrim *t)
{
	if (!t)
		return;
	if (t->statm >= 0)
		close(t->statm);
	free(t);
}

/* Resident file-backed and shared memory of this process, in bytes; -1 when unknown. */
static long long resident_shared(struct cf_maptrim *t)
{
	char buf[128];
	ssize_t n = pread(t->statm, buf, sizeof buf - 1, 0);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	unsigned long long size, resident, shared;
	if (sscanf(buf, "%llu %llu %llu", &size, &resident, &shared) != 3)
		return -1;
	return (long long) (shared * (unsigned long long) t->page);
}

bool cf_maptrim_check(struct cf_maptrim *t)
{
	if (!t || !t->len)
		return false;
	/* One checker at a time (the others have nothing to add); statm is only
	 * touched by the one. */
	if (atomic_exchange(&t->busy, true))
		return false;
	bool trimmed = false;
	long long rss = t->statm < 0 ? -1 : resident_shared(t);
	if (rss >= 0 && (unsigned long long) rss > t->budget) {
		if (madvise(t->addr, t->len, MADV_DONTNEED) == 0) {
			atomic_fetch_add(&t->count, 1);
			trimmed = true;
		} else {
			cf_warn("store: cannot trim the cache's mapping (%s): the daemon's RSS "
				"grows with data.mdb",
				strerror(errno));
			close(t->statm);
			t->statm = -1;
		}
	}
	atomic_store(&t->busy, false);
	return trimmed;
}

uint64_t cf_maptrim_count(const struct cf_maptrim *t)
{
	return t ? atomic_load(&((struct cf_maptrim *) t)->count) : 0;
}
