/* test_store_byid.c — the id index during a listing (lib/core/store_byid.c):
 * a listing page's changes wait and are written when the listing ends; the
 * write path's changes meanwhile keep their order; an abort forgets its own;
 * a run that dies with changes waiting is repaired at the next open; and
 * past BYID_DEFER_MAX changes of one long listing they wait on disk, where
 * the writer still finds them, or, with no file to spill to, go to the table
 * at once. */
#include "gce.h"
#include "check.h"
#include "layout.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

static char tmpdir[256];

static void fresh_dir(char *out, size_t size, const char *name)
{
	char cmd[600];
	snprintf(out, size, "%s/%s", tmpdir, name);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", out);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", out);
}

/* Snapshot global/snapshots/NAME with this id (stack strings: upsert copies). */
static struct cf_resource snap(const char *name, const char *id)
{
	return (struct cf_resource){.kind = CF_KIND_SNAPSHOT,
				    .scope = (char *) "global",
				    .name = (char *) name,
				    .id = (char *) id,
				    .status = (char *) "READY",
				    .created = 1700000000,
				    .fingerprint = (char *) "fp=="};
}

/* One listing page's transaction (fetched now), or the write path's (fetched 0). */
static int write_txn(struct cf_store *s, bool page, const struct cf_resource *put, size_t n,
		     const char *remove, bool commit)
{
	struct cf_wtxn *w;
	int rc = cf_store_wbegin(s, &w);
	if (rc)
		return rc;
	if (page)
		cf_store_wfetched(w, (int64_t) time(NULL) * 1000);
	for (size_t i = 0; !rc && i < n; i++)
		rc = cf_store_upsert(w, &put[i], NULL);
	if (!rc && remove)
		rc = cf_store_remove(w, remove);
	if (rc || !commit) {
		cf_store_wabort(w);
		return rc;
	}
	return cf_store_wcommit(w, NULL);
}

struct heard {
	char ids[512];
};

static void on_entry(void *ctx, uint64_t parent, const char *name, size_t len)
{
	struct heard *h = ctx;
	size_t used = strlen(h->ids);
	if (parent == CF_INO_BYID)
		snprintf(h->ids + used, sizeof h->ids - used, "%.*s,", (int) len, name);
}

/* The listing of snapshots ends: its state is recorded (the id index catches up). */
static int listing_ends(struct cf_store *s, struct heard *h)
{
	struct cf_wtxn *w;
	struct cf_sync_state st = {.last_complete = 1, .last_attempt = 1};
	struct cf_change_sink sink = {on_entry, NULL, h, NULL};
	int rc = cf_store_wbegin(s, &w);
	if (rc)
		return rc;
	if ((rc = cf_store_put_sync_state(w, CF_LIST_SNAPSHOTS, &st))) {
		cf_store_wabort(w);
		return rc;
	}
	return cf_store_wcommit(w, &sink);
}

static int count(const char *s, const char *what)
{
	int n = 0;
	for (const char *p = s; (p = strstr(p, what)); p++)
		n++;
	return n;
}

static bool indexed(struct cf_store *s, const char *id)
{
	struct cf_stat st;
	return cf_store_lookup(s, CF_INO_BYID, id, &st) == 0;
}

static bool shown(struct cf_store *s, const char *name)
{
	char path[CF_PATH_MAX];
	uint64_t ino;
	snprintf(path, sizeof path, "global/snapshots/%s", name);
	return cf_store_ino_of_path(s, path, &ino) == 0;
}

static void test_listing_then_settle(void)
{
	char dir[512];
	struct cf_store *s;
	struct heard h = {{0}};
	fresh_dir(dir, sizeof dir, "settle");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	struct cf_resource old = snap("old", "900");
	CHECK_EQ_INT(write_txn(s, false, &old, 1, NULL, true), 0);
	CHECK(indexed(s, "900")); /* no listing: written at once */

	struct cf_resource page[] = {snap("a", "1001"), snap("b", "1002"), snap("c", "1003")};
	CHECK_EQ_INT(write_txn(s, true, page, 3, NULL, true), 0);
	CHECK(shown(s, "a") && shown(s, "c"));
	CHECK(!indexed(s, "1001")); /* waits for the listing's end */
	/* The write path meanwhile: b goes, old goes, d comes, all in order
	 * behind the page's (b's removal finds its waiting entry). */
	struct cf_resource d = snap("d", "1004");
	CHECK_EQ_INT(write_txn(s, false, &d, 1, "global/snapshots/b", true), 0);
	CHECK_EQ_INT(write_txn(s, false, NULL, 0, "global/snapshots/old", true), 0);
	CHECK(!indexed(s, "1004"));
	/* a listing page's id taken back by another resource before the end */
	struct cf_resource e = snap("e", "1003");
	CHECK_EQ_INT(write_txn(s, true, &e, 1, "global/snapshots/c", true), 0);

	CHECK_EQ_INT(listing_ends(s, &h), 0);
	CHECK(indexed(s, "1001") && indexed(s, "1003") && indexed(s, "1004"));
	CHECK(!indexed(s, "1002") && !indexed(s, "900"));
	char link[CF_PATH_MAX];
	struct cf_stat st;
	CHECK_EQ_INT(cf_store_lookup(s, CF_INO_BYID, "1003", &st), 0);
	CHECK(cf_store_readlink(s, st.ino, link, sizeof link) > 0);
	CHECK_EQ_STR(link, "../../global/snapshots/e");
	/* the kernel hears of each id once, in key order, with the commit that shows it */
	CHECK(strstr(h.ids, "1001,") && strstr(h.ids, "1002,") && strstr(h.ids, "900,"));
	CHECK_EQ_INT(count(h.ids, "1003,"), 1);
	cf_store_close(s);
}

static void test_abort_forgets(void)
{
	char dir[512];
	struct cf_store *s;
	struct heard h = {{0}};
	fresh_dir(dir, sizeof dir, "abort");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	struct cf_resource a = snap("a", "2001"), b = snap("b", "2002");
	CHECK_EQ_INT(write_txn(s, true, &a, 1, NULL, true), 0);
	CHECK_EQ_INT(write_txn(s, true, &b, 1, "global/snapshots/a", false), 0); /* aborted */
	CHECK_EQ_INT(listing_ends(s, &h), 0);
	CHECK(indexed(s, "2001"));  /* its removal was undone */
	CHECK(!indexed(s, "2002")); /* and b never came */
	CHECK(!shown(s, "b"));
	CHECK(!strstr(h.ids, "2002"));
	cf_store_close(s);
}

/* Snapshots s<i>, id i, for i in [first, first + n): listing pages of 500. */
static int put_many(struct cf_store *s, int first, int n)
{
	enum { PAGE = 500 };
	static struct cf_resource page[PAGE];
	static char names[PAGE][16], ids[PAGE][16];
	int bad = 0;
	for (int i = first; i < first + n; i += PAGE) {
		int m = first + n - i < PAGE ? first + n - i : PAGE;
		for (int j = 0; j < m; j++) {
			snprintf(names[j], sizeof names[j], "s%d", i + j);
			snprintf(ids[j], sizeof ids[j], "%d", i + j);
			page[j] = snap(names[j], ids[j]);
		}
		bad += write_txn(s, true, page, (size_t) m, NULL, true) != 0;
	}
	return bad;
}

/* Entries of the store's table `name` (read behind its back, closed), -1 on error. */
static long table_entries(const char *dir, const char *name)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_stat st;
	long n = -1;
	if (mdb_env_create(&env))
		return -1;
	mdb_env_set_maxdbs(env, 16);
	mdb_env_set_mapsize(env, (size_t) 16 << 30); /* the store's */
	if (!mdb_env_open(env, dir, MDB_RDONLY, 0600) &&
	    !mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) {
		if (!mdb_dbi_open(txn, name, 0, &dbi) && !mdb_stat(txn, dbi, &st))
			n = (long) st.ms_entries;
		mdb_txn_abort(txn);
	}
	mdb_env_close(env);
	return n;
}

/* A process that dies with changes waiting: the next open repairs the table. */
static void test_crash_repaired(void)
{
	char dir[512];
	struct cf_store *s;
	fresh_dir(dir, sizeof dir, "crash");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	struct cf_resource old = snap("old", "3001");
	CHECK_EQ_INT(write_txn(s, false, &old, 1, NULL, true), 0);
	cf_store_close(s);
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		struct cf_resource page[] = {snap("a", "3002"), snap("b", "3003")};
		/* more than one repair transaction's worth */
		if (cf_store_open(dir, &s) || write_txn(s, true, page, 2, NULL, true) ||
		    put_many(s, 500000, 5000) ||
		    write_txn(s, false, NULL, 0, "global/snapshots/old", true))
			_exit(1);
		if (indexed(s, "3002"))
			_exit(2);
		raise(SIGKILL); /* died, nothing closed (nor a leak check run, under valgrind) */
	}
	int status = 0;
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK_EQ_INT(table_entries(dir, "byid"), 1); /* old's, of a removed resource */
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK(indexed(s, "3002") && indexed(s, "3003"));
	CHECK(indexed(s, "500000") && indexed(s, "504999"));
	CHECK(!shown(s, "old"));
	cf_store_close(s);
	CHECK_EQ_INT(table_entries(dir, "byid"), 5002); /* old's dropped */
	/* A clean close writes what waits: nothing to repair. */
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	struct cf_resource c = snap("c", "3004");
	CHECK_EQ_INT(write_txn(s, true, &c, 1, NULL, true), 0);
	CHECK(!indexed(s, "3004"));
	cf_store_close(s);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK(indexed(s, "3004"));
	cf_store_close(s);
}

/* One long listing: past 131,072 changes they wait on disk, in sorted runs,
 * and the writer still finds them; the table is written once, at the end. */
static void test_long_listing(void)
{
	char dir[512];
	struct cf_store *s;
	fresh_dir(dir, sizeof dir, "long");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_INT(put_many(s, 100000, 140000), 0);
	CHECK(!indexed(s, "100000") && !indexed(s, "239999")); /* the table lags */
	/* a spilled id taken by a newer resource: the newer change wins at the end */
	struct cf_resource moved = snap("moved", "100001");
	CHECK_EQ_INT(write_txn(s, true, &moved, 1, NULL, true), 0);
	CHECK(shown(s, "moved"));
	/* the writer's own lookup finds a spilled id: its removal drops it */
	CHECK_EQ_INT(write_txn(s, false, NULL, 0, "global/snapshots/s100002", true), 0);
	struct heard h = {{0}};
	CHECK_EQ_INT(listing_ends(s, &h), 0);
	CHECK(indexed(s, "100000") && indexed(s, "100001") && indexed(s, "239999"));
	CHECK(!indexed(s, "100002"));
	struct cf_stat st;
	CHECK_EQ_INT(cf_store_lookup(s, CF_INO_BYID, "100001", &st), 0);
	char target[CF_PATH_MAX];
	int n = cf_store_readlink(s, st.ino, target, sizeof target);
	CHECK(n > 0 && strstr(target, "/moved"));
	cf_store_close(s);
	CHECK_EQ_INT(table_entries(dir, "byid"), 139999);
}

/* A spill with nowhere to go (no file descriptor left for its file): the
 * changes waiting are written to the table at once instead, and none is lost. */
static void test_spill_refused(void)
{
	char dir[512];
	struct cf_store *s;
	struct rlimit old, low;
	fresh_dir(dir, sizeof dir, "refused");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	/* the lowest free descriptor (open takes it, whatever is open below): the limit
	 * leaves none */
	int next = open("/dev/null", O_RDONLY | O_CLOEXEC);
	CHECK(next >= 0);
	close(next);
	CHECK_EQ_INT(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t) next;
	CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &low), 0);
	int fd = open("/dev/null", O_RDONLY);
	CHECK(fd < 0 && errno == EMFILE); /* the limit holds */
	CHECK_EQ_INT(put_many(s, 100000, 140000), 0);
	CHECK_EQ_INT(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* the first BYID_DEFER_MAX (and the page that crossed it) are in the table */
	CHECK(indexed(s, "100000") && indexed(s, "231499"));
	CHECK(!indexed(s, "231500") && !indexed(s, "239999")); /* the rest still wait */
	CHECK_EQ_INT(write_txn(s, false, NULL, 0, "global/snapshots/s100002", true), 0);
	struct heard h = {{0}};
	CHECK_EQ_INT(listing_ends(s, &h), 0);
	CHECK(indexed(s, "100000") && indexed(s, "231500") && indexed(s, "239999"));
	CHECK(!indexed(s, "100002")); /* removed after it was written: gone */
	cf_store_close(s);
	CHECK_EQ_INT(table_entries(dir, "byid"), 139999);
}

int main(void)
{
	cf_layout_use(&cf_gce_layout);
	cf_log_init("test_store_byid", 0, 1, CF_LOG_WARN);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/clonefs-test-byid-%d", (int) getpid());
	mkdir(tmpdir, 0700);
	test_listing_then_settle();
	test_abort_forgets();
	test_crash_repaired();
	test_long_listing();
	test_spill_refused();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return check_summary();
}
