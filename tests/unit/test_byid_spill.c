/* test_byid_spill.c — sorted runs of id-index changes on disk
 * (lib/core/store_byid_spill.c): a lookup finds the newest run's change of
 * a key, past any number of fences; the merge gives each key once, the
 * newest, in key order; a cancelled run is not there; a run with nowhere
 * to go and bad input end with an error, not a crash. */
#include "check.h"
#include "log.h"
#include "store_byid_spill.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct byid_rec rec(uint64_t cookie, const char *id, uint64_t base, bool del)
{
	struct byid_rec x = {.cookie = cookie, .base = base, .kind = 1, .del = del};
	x.len = (uint8_t) strlen(id);
	memcpy(x.id, id, x.len);
	return x;
}

static int run_of(struct byid_runs *r, const char *dir, const struct byid_rec *x, size_t n)
{
	int rc = byid_run_begin(r, dir);
	for (size_t i = 0; !rc && i < n; i++)
		rc = byid_run_add(r, &x[i]);
	return rc ? rc : byid_run_end(r);
}

/* base of the newest change of id (cookie c), -1 for a delete, -2 when absent. */
static long long found(struct byid_runs *r, uint64_t c, const char *id)
{
	struct byid_rec x;
	int rc = byid_runs_find(r, 1, id, strlen(id), c, &x);
	if (rc == -ENOENT)
		return -2;
	if (rc)
		return -3;
	return x.del ? -1 : (long long) x.base;
}

static void test_newest_wins(const char *dir)
{
	struct byid_runs r;
	byid_runs_init(&r);
	struct byid_rec r0[] = {rec(10, "a", 1, false), rec(20, "b", 2, false),
				rec(30, "c", 3, false)};
	struct byid_rec r1[] = {rec(20, "b", 2, true), rec(40, "d", 4, false)};
	struct byid_rec r2[] = {rec(10, "a", 5, false)};
	CHECK_EQ_INT(run_of(&r, dir, r0, 3), 0);
	CHECK_EQ_INT(run_of(&r, dir, r1, 2), 0);
	CHECK_EQ_INT(run_of(&r, dir, r2, 1), 0);
	CHECK_EQ_INT(found(&r, 10, "a"), 5);
	CHECK_EQ_INT(found(&r, 20, "b"), -1);
	CHECK_EQ_INT(found(&r, 30, "c"), 3);
	CHECK_EQ_INT(found(&r, 40, "d"), 4);
	CHECK_EQ_INT(found(&r, 50, "e"), -2);
	CHECK_EQ_INT(found(&r, 30, "cc"), -2); /* a cookie's other id */

	struct byid_merge *m;
	struct byid_rec x;
	CHECK_EQ_INT(byid_merge_open(&r, &m), 0);
	const char *want_id[] = {"a", "b", "c", "d"};
	long long want_base[] = {5, -1, 3, 4};
	int got = 0, rc;
	while ((rc = byid_merge_next(m, &x)) == 1 && got < 4) {
		CHECK(x.len == strlen(want_id[got]) && !memcmp(x.id, want_id[got], x.len));
		CHECK_EQ_INT(x.del ? -1 : (long long) x.base, want_base[got]);
		got++;
	}
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(got, 4);
	byid_merge_close(m);

	/* a cancelled run is not there */
	struct byid_rec z = rec(60, "z", 9, false);
	CHECK_EQ_INT(byid_run_begin(&r, dir), 0);
	CHECK_EQ_INT(byid_run_add(&r, &z), 0);
	byid_run_cancel(&r);
	CHECK_EQ_INT(found(&r, 60, "z"), -2);
	CHECK_EQ_INT(r.n, 3);
	byid_runs_free(&r);

	/* nowhere to put a run: an error, and nothing half made */
	char gone[160];
	snprintf(gone, sizeof gone, "%s/gone", dir);
	CHECK_EQ_INT(byid_run_begin(&r, gone), -ENOENT);
	byid_run_cancel(&r);
	CHECK_EQ_INT(r.n, 0);
	CHECK_EQ_INT(found(&r, 10, "a"), -2);
	byid_runs_free(&r);
}

/* Many records per run: every one is found past the fences, including ids
 * that share a cookie across a fence, and the merge of two interleaved runs
 * is in key order. */
static void test_fences(const char *dir)
{
	enum { N = 5000 };
	struct byid_runs r;
	byid_runs_init(&r);
	struct byid_rec *x = malloc(N * sizeof *x);
	char id[32];
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof id, "id%05d", i);
		/* pairs share a cookie: 2i and 2i+1 */
		x[i] = rec((uint64_t) (i / 2) * 2 + 2, id, (uint64_t) i + 100, false);
	}
	/* two runs, even and odd records, so that the merge interleaves them */
	struct byid_rec *ev = malloc(N * sizeof *ev), *od = malloc(N * sizeof *od);
	size_t ne = 0, no = 0;
	for (int i = 0; i < N; i++) {
		if (i % 2)
			od[no++] = x[i];
		else
			ev[ne++] = x[i];
	}
	CHECK_EQ_INT(run_of(&r, dir, ev, ne), 0);
	CHECK_EQ_INT(run_of(&r, dir, od, no), 0);
	int miss = 0;
	for (int i = 0; i < N; i++)
		miss += found(&r, x[i].cookie, x[i].id) != (long long) x[i].base;
	CHECK_EQ_INT(miss, 0);
	struct byid_merge *m;
	struct byid_rec y;
	CHECK_EQ_INT(byid_merge_open(&r, &m), 0);
	int got = 0, order = 0, rc;
	while ((rc = byid_merge_next(m, &y)) == 1) {
		if (got < N)
			order += y.base != x[got].base;
		got++;
	}
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(got, N);
	CHECK_EQ_INT(order, 0);
	byid_merge_close(m);
	byid_runs_free(&r);
	free(x);
	free(ev);
	free(od);
}

/* A run whose bytes are damaged (truncated mid-record behind its back): the
 * merge reports an error. */
static void test_damaged(const char *dir)
{
	struct byid_runs r;
	byid_runs_init(&r);
	struct byid_rec x[] = {rec(10, "a", 1, false), rec(20, "bb", 2, false)};
	CHECK_EQ_INT(run_of(&r, dir, x, 2), 0);
	CHECK_EQ_INT(ftruncate(r.fd, (off_t) (r.end - 1)), 0);
	struct byid_merge *m;
	struct byid_rec y;
	int rc = byid_merge_open(&r, &m), got = 0;
	if (!rc) {
		while ((rc = byid_merge_next(m, &y)) == 1)
			got++;
		byid_merge_close(m);
	}
	CHECK(rc < 0 && got < 2);
	/* and a lookup of the damaged record */
	CHECK(found(&r, 20, "bb") == -3);
	byid_runs_free(&r);
}

int main(void)
{
	char dir[128];
	cf_log_init("test_byid_spill", 0, 1, CF_LOG_WARN);
	snprintf(dir, sizeof dir, "/tmp/clonefs-test-spill-%d", (int) getpid());
	mkdir(dir, 0700);
	test_newest_wins(dir);
	test_fences(dir);
	test_damaged(dir);
	CHECK_EQ_INT(rmdir(dir), 0); /* the runs' file was unlinked: nothing left behind */
	return check_summary();
}
