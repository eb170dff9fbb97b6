/* docs.c — I/O on the two document files (docs.h): open, pwrite, pread,
 * truncate, sync. Nothing here is mapped into memory. */
#include "docs.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct cf_docs {
	int fd[2];
	char path[2][4096];
};

int cf_docs_open(const char *dir, bool empty, struct cf_docs **out)
{
	struct cf_docs *d = calloc(1, sizeof *d);
	if (!d)
		return -ENOMEM;
	d->fd[0] = d->fd[1] = -1;
	for (int i = 0; i < 2; i++) {
		if (snprintf(d->path[i], sizeof d->path[i], "%s/docs.%d", dir, i) >=
		    (int) sizeof d->path[i]) {
			cf_docs_close(d);
			return -ENAMETOOLONG;
		}
		int flags = O_RDWR | O_CREAT | O_CLOEXEC | (empty ? O_TRUNC : 0);
		d->fd[i] = open(d->path[i], flags, 0600);
		if (d->fd[i] < 0) {
			int e = errno;
			cf_err("store: cannot open %s: %s", d->path[i], strerror(e));
			cf_docs_close(d);
			return -e;
		}
	}
	*out = d;
	return 0;
}

void cf_docs_close(struct cf_docs *d)
{
	if (!d)
		return;
	for (int i = 0; i < 2; i++)
		if (d->fd[i] >= 0)
			close(d->fd[i]);
	free(d);
}

int cf_docs_size(struct cf_docs *d, int i, uint64_t *size)
{
	struct stat st;
	if (fstat(d->fd[i], &st)) {
		int e = errno;
		cf_err("store: cannot stat %s: %s", d->path[i], strerror(e));
		return -e;
	}
	*size = (uint64_t) st.st_size;
	return 0;
}

int cf_docs_write(struct cf_docs *d, int i, uint64_t off, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = pwrite(d->fd[i], c, n, (off_t) off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? errno : EIO;
			cf_err("store: cannot write %s at %llu: %s", d->path[i],
			       (unsigned long long) off, strerror(e));
			return e == ENOSPC ? -ENOSPC : -EIO;
		}
		c += w;
		off += (uint64_t) w;
		n -= (size_t) w;
	}
	return 0;
}

int cf_docs_read(struct cf_docs *d, int i, uint64_t off, void *p, size_t n)
{
	char *c = p;
	while (n) {
		ssize_t r = pread(d->fd[i], c, n, (off_t) off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cf_err("store: cannot read %s at %llu: %s", d->path[i],
			       (unsigned long long) off, strerror(errno));
			return -EIO;
		}
		if (r == 0)
			return -EIO; /* shorter than the record says */
		c += r;
		off += (uint64_t) r;
		n -= (size_t) r;
	}
	return 0;
}

int cf_docs_truncate(struct cf_docs *d, int i)
{
	if (ftruncate(d->fd[i], 0)) {
		int e = errno;
		cf_err("store: cannot empty %s: %s", d->path[i], strerror(e));
		return -e;
	}
	return 0;
}

int cf_docs_sync(struct cf_docs *d)
{
	for (int i = 0; i < 2; i++) {
		if (fdatasync(d->fd[i])) {
			int e = errno;
			cf_err("store: cannot sync %s: %s", d->path[i], strerror(e));
			return -e;
		}
	}
	return 0;
}
