/* test_pathset.c — the set of paths a listing returned: membership by
 * length (the sweep asks with names straight from LMDB, not NUL-terminated),
 * duplicates counted once, one name under several directories or none,
 * growth far past the first table, and NULLs. */
#include "check.h"
#include "pathset.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	struct cf_pathset *ps = cf_pathset_new();
	CHECK(ps != NULL);
	CHECK_EQ_INT(cf_pathset_count(ps), 0);
	CHECK(!cf_pathset_has(ps, "global/snapshots/a", 18));

	CHECK_EQ_INT(cf_pathset_add(ps, "global/snapshots/a"), 0);
	CHECK_EQ_INT(cf_pathset_add(ps, "global/snapshots/a"), 0);
	CHECK_EQ_INT(cf_pathset_count(ps), 1);
	CHECK(cf_pathset_has(ps, "global/snapshots/a", 18));
	/* A prefix or an extension is another path. */
	CHECK(!cf_pathset_has(ps, "global/snapshots/", 17));
	CHECK(!cf_pathset_has(ps, "global/snapshots/ab", 19));
	/* Asked by length: the bytes after it do not matter. */
	CHECK(cf_pathset_has(ps, "global/snapshots/a/status", 18));
	CHECK_EQ_INT(cf_pathset_add(ps, ""), 0);
	CHECK(cf_pathset_has(ps, "", 0));
	CHECK(cf_pathset_has(ps, "x", 0));

	/* The directory part is kept once per listing: the same name under
	 * another directory, or under none, is another path. */
	CHECK_EQ_INT(cf_pathset_add(ps, "zones/b/disks/d1"), 0);
	CHECK(!cf_pathset_has(ps, "zones/a/disks/d1", 16));
	CHECK(!cf_pathset_has(ps, "d1", 2));
	CHECK(!cf_pathset_has(ps, "zones/b/disks", 13));
	CHECK_EQ_INT(cf_pathset_add(ps, "d1"), 0);
	CHECK(cf_pathset_has(ps, "d1", 2));
	CHECK(cf_pathset_has(ps, "zones/b/disks/d1", 16));
	CHECK(!cf_pathset_has(ps, "/d1", 3));
	CHECK_EQ_INT(cf_pathset_count(ps), 4);
	/* A NUL inside the asked length is no stored path. */
	CHECK(!cf_pathset_has(ps, "d1\0x", 4));

	/* Many: the table and the arena grow many times over. */
	enum { N = 200000 };
	char path[64];
	for (int i = 0; i < N; i++) {
		snprintf(path, sizeof path, "zones/z%d/disks/disk-%d", i % 7, i);
		if (cf_pathset_add(ps, path))
			CHECK(0);
	}
	CHECK_EQ_INT(cf_pathset_count(ps), N + 4);
	int missing = 0, extra = 0;
	for (int i = 0; i < N; i++) {
		int n = snprintf(path, sizeof path, "zones/z%d/disks/disk-%d", i % 7, i);
		missing += !cf_pathset_has(ps, path, (size_t) n);
		n = snprintf(path, sizeof path, "zones/z%d/disks/disk-%d", (i + 1) % 7, i);
		extra += cf_pathset_has(ps, path, (size_t) n);
	}
	CHECK_EQ_INT(missing, 0);
	CHECK_EQ_INT(extra, 0);
	CHECK(cf_pathset_has(ps, "global/snapshots/a", 18));

	/* NULLs are refused, not crashed on. */
	CHECK_EQ_INT(cf_pathset_add(NULL, "x"), -22);
	CHECK_EQ_INT(cf_pathset_add(ps, NULL), -22);
	CHECK(!cf_pathset_has(NULL, "x", 1));
	CHECK_EQ_INT(cf_pathset_count(NULL), 0);
	cf_pathset_free(ps);
	cf_pathset_free(NULL);
	return check_summary();
}
