/* test_maptrim.c — trimming a shared file mapping: nothing happens under the
 * budget; past it the mapping's resident pages leave the process (its
 * file-backed RSS falls) and its contents read back unchanged; a file that
 * is not mapped is refused. */
#include "check.h"
#include "maptrim.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* This process's RssFile, in kB (-1 when unknown). */
static long rss_file_kb(void)
{
	FILE *f = fopen("/proc/self/status", "re");
	char line[256];
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "RssFile: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

int main(void)
{
	enum { SIZE = 32 << 20 };
	char path[] = "/tmp/test_maptrim.XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	CHECK_EQ_INT(ftruncate(fd, SIZE), 0);
	unsigned char *w = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(w != MAP_FAILED);
	for (size_t i = 0; i < SIZE; i += 4096)
		w[i] = (unsigned char) (i >> 12);
	CHECK_EQ_INT(msync(w, SIZE, MS_SYNC), 0);
	CHECK_EQ_INT(munmap(w, SIZE), 0);

	struct cf_maptrim *t;
	CHECK_EQ_INT(cf_maptrim_new(path, 1 << 20, &t), -ENOENT); /* not mapped yet */
	const unsigned char *m = mmap(NULL, SIZE, PROT_READ, MAP_SHARED, fd, 0);
	CHECK(m != MAP_FAILED);

	/* Under a budget it never reaches: untouched. */
	CHECK_EQ_INT(cf_maptrim_new(path, (size_t) 1 << 40, &t), 0);
	unsigned sum = 0;
	for (size_t i = 0; i < SIZE; i += 4096)
		sum += m[i];
	long before = rss_file_kb();
	CHECK(before >= SIZE / 1024);
	CHECK(!cf_maptrim_check(t));
	CHECK(rss_file_kb() >= SIZE / 1024);
	CHECK_EQ_INT(cf_maptrim_count(t), 0);
	cf_maptrim_free(t);

	/* Past a small budget: trimmed, and the pages come back as they were. */
	CHECK_EQ_INT(cf_maptrim_new(path, 1 << 20, &t), 0);
	CHECK(cf_maptrim_check(t));
	CHECK_EQ_INT(cf_maptrim_count(t), 1);
	long after = rss_file_kb();
	CHECK(after >= 0 && after < before - (SIZE / 1024) / 2);
	unsigned sum2 = 0, bad = 0;
	for (size_t i = 0; i < SIZE; i += 4096) {
		sum2 += m[i];
		bad += m[i] != (unsigned char) (i >> 12);
	}
	CHECK_EQ_INT(bad, 0);
	CHECK_EQ_INT(sum2, sum);
	cf_maptrim_free(t);

	CHECK_EQ_INT(cf_maptrim_new("/nonexistent/data.mdb", 1, &t), -ENOENT);
	CHECK(!cf_maptrim_check(NULL));
	cf_maptrim_free(NULL);
	munmap((void *) m, SIZE);
	close(fd);
	unlink(path);
	return check_summary();
}
