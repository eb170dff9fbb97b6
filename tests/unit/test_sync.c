/* test_sync.c — the sync engine against a fake provider that serves canned
 * pages: pagination, the sweep after a complete listing, a listing failing
 * on its second page (nothing removed, the error recorded, the other
 * listings still done), API reachability, aggregated scopes, change reports,
 * and a stop that is prompt even in the middle of a slow listing. */
#include "check.h"
#include "log.h"
#include "sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* What the fake cloud holds, and how it misbehaves. */
struct fake {
	struct cf_provider p;
	pthread_mutex_t lock;
	int nsnaps;		/* snapshots s-0 .. s-(nsnaps-1), disk d-(i%3) */
	int first_snap;		/* ... starting at this index */
	int page_size;		/* items per page */
	int fail_listing;	/* this listing fails on its second page (-1: none) */
	int fail_http;		/* with this HTTP status (0: no answer at all) */
	int slow_ms;		/* sleep before each page */
	bool down;		/* no answer to anything */
	atomic_int pages;	/* pages served */
	atomic_int first_pages; /* first pages served (one per listing per pass) */
};

static struct cf_resource res(enum cf_kind k, const char *scope, const char *name, int64_t t)
{
	struct cf_resource r = {.kind = k, .created = t};
	r.scope = scope ? strdup(scope) : NULL;
	r.name = strdup(name);
	r.status = strdup("READY");
	r.raw = strdup("{}");
	r.raw_len = 2;
	return r;
}

static int fake_list(struct cf_provider *pp, enum cf_listing which, const char *token,
		     struct cf_page *out, struct cf_error *err)
{
	struct fake *f = pp->impl;
	int page = token ? atoi(token) : 0;
	memset(out, 0, sizeof *out);
	if (f->slow_ms)
		usleep((useconds_t) f->slow_ms * 1000);
	atomic_fetch_add(&f->pages, 1);
	if (!token)
		atomic_fetch_add(&f->first_pages, 1);
	pthread_mutex_lock(&f->lock);
	int rc = 0;
	if (f->down) {
		snprintf(err->message, sizeof err->message, "connection refused");
		rc = -EHOSTUNREACH;
		goto out;
	}
	if ((int) which == f->fail_listing && page == 1) {
		err->http_status = f->fail_http;
		snprintf(err->message, sizeof err->message, "backend error on page 2");
		rc = f->fail_http ? -EIO : -EHOSTUNREACH;
		goto out;
	}
	out->items = calloc((size_t) f->page_size + 4, sizeof *out->items);
	switch (which) {
	case CF_LIST_ZONES:
		out->items[out->n++] = res(CF_KIND_ZONE, NULL, "z1", 0);
		out->items[out->n++] = res(CF_KIND_ZONE, NULL, "z2", 0);
		break;
	case CF_LIST_REGIONS:
		out->items[out->n++] = res(CF_KIND_REGION, NULL, "r1", 0);
		break;
	case CF_LIST_DISKS:
		/* aggregated: names a zone with no disks, and a region */
		out->scopes = calloc(3, sizeof *out->scopes);
		out->scopes[out->nscopes++] = strdup("zones/z1");
		out->scopes[out->nscopes++] = strdup("zones/z3");
		out->scopes[out->nscopes++] = strdup("regions/r1");
		for (int i = 0; i < 3; i++) {
			char name[16];
			snprintf(name, sizeof name, "d-%d", i);
			out->items[out->n++] = res(CF_KIND_DISK, "zones/z1", name, 100 + i);
		}
		break;
	case CF_LIST_SNAPSHOTS: {
		int from = f->first_snap + page * f->page_size;
		int to = f->first_snap + f->nsnaps;
		for (int i = from; i < to && i < from + f->page_size; i++) {
			char name[16], src[64];
			snprintf(name, sizeof name, "s-%03d", i);
			snprintf(src, sizeof src, "zones/z1/disks/d-%d", i % 3);
			out->items[out->n] = res(CF_KIND_SNAPSHOT, "global", name, 1000 + i);
			out->items[out->n].source = strdup(src);
			out->n++;
		}
		if (to > from + f->page_size) {
			char next[16];
			snprintf(next, sizeof next, "%d", page + 1);
			out->next_token = strdup(next);
		}
		break;
	}
	default:
		break; /* instances, images, machine images: empty */
	}
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static const struct cf_provider_ops fake_ops = {.name = "fake", .list_page = fake_list};

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof *f);
	f->p.ops = &fake_ops;
	f->p.impl = f;
	pthread_mutex_init(&f->lock, NULL);
	f->fail_listing = -1;
	f->page_size = 10;
	f->nsnaps = 25;
}

/* Change reports and progress, as the daemon would get them. */
struct seen {
	atomic_int entries, inodes, progress_complete;
	atomic_ullong last_done[CF_LIST__COUNT];
};

static void on_entry(void *ctx, uint64_t parent, const char *name, size_t len)
{
	(void) parent;
	(void) name;
	(void) len;
	atomic_fetch_add(&((struct seen *) ctx)->entries, 1);
}

static void on_inode(void *ctx, uint64_t ino)
{
	(void) ino;
	atomic_fetch_add(&((struct seen *) ctx)->inodes, 1);
}

static void on_progress(void *ctx, enum cf_listing l, uint64_t done, bool complete)
{
	struct seen *s = ctx;
	atomic_store(&s->last_done[l], done);
	if (complete)
		atomic_fetch_add(&s->progress_complete, 1);
}

static int count_entries(void *ctx, const char *name, size_t len, const struct cf_stat *st)
{
	(void) name;
	(void) len;
	(void) st;
	(*(int *) ctx)++;
	return 0;
}

static int ls_count(struct cf_store *s, const char *path)
{
	uint64_t ino;
	int n = 0;
	if (cf_store_ino_of_path(s, path, &ino))
		return -1;
	if (cf_store_readdir(s, ino, count_entries, &n))
		return -1;
	return n;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* Wait (bounded) until the thread's first pass has tried every listing. */
static bool wait_first_pass(struct fake *f, int passes)
{
	for (int i = 0; i < 1000; i++) {
		if (atomic_load(&f->first_pages) >= passes * CF_LIST__COUNT)
			return true;
		usleep(5000);
	}
	return false;
}

static char tmpdir[256];

static void test_passes(void)
{
	struct fake f;
	struct seen seen = {0};
	struct cf_store *st;
	struct cf_sync *sy;
	char dir[300];
	snprintf(dir, sizeof dir, "%s/passes", tmpdir);
	fake_init(&f);
	CHECK_EQ_INT(cf_store_open(dir, &st), 0);
	struct cf_sync_config cfg = {.store = st,
				     .provider = &f.p,
				     .sink = {on_entry, on_inode, &seen},
				     .interval = 3600,
				     .progress = on_progress,
				     .progress_ctx = &seen};
	CHECK_EQ_INT(cf_sync_start(&cfg, &sy), 0);
	/* The first pass starts at once, in the thread. */
	CHECK(wait_first_pass(&f, 1));
	CHECK_EQ_INT(cf_sync_run_once(sy), 0); /* waits for the thread's pass, then one more */

	/* Pagination: 25 snapshots in 3 pages. */
	CHECK_EQ_INT(ls_count(st, "global/snapshots"), 25);
	CHECK_EQ_INT(ls_count(st, "zones/z1/disks"), 3);
	CHECK_EQ_INT(ls_count(st, "zones/z1/disks/d-1/snapshots"), 8);
	CHECK_EQ_INT(ls_count(st, "zones"), 3); /* z1, z2 (listed), z3 (named) */
	CHECK_EQ_INT(ls_count(st, "regions/r1"), 1);
	CHECK_EQ_INT(atomic_load(&seen.last_done[CF_LIST_SNAPSHOTS]), 25);
	CHECK(atomic_load(&seen.progress_complete) >= CF_LIST__COUNT);
	CHECK(atomic_load(&seen.entries) > 25);
	struct cf_sync_state ss;
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_SNAPSHOTS, &ss), 0);
	CHECK_EQ_INT(ss.count, 25);
	CHECK(ss.last_complete > 0);
	CHECK_EQ_STR(ss.last_error, "");
	CHECK(cf_sync_api_reachable(sy));

	/* An idle pass changes nothing and reports nothing. */
	atomic_store(&seen.entries, 0);
	atomic_store(&seen.inodes, 0);
	CHECK_EQ_INT(cf_sync_run_once(sy), 0);
	CHECK_EQ_INT(atomic_load(&seen.entries), 0);
	CHECK_EQ_INT(atomic_load(&seen.inodes), 0);

	/* The cloud lost s-000..s-004: the sweep removes exactly those. */
	pthread_mutex_lock(&f.lock);
	f.first_snap = 5;
	f.nsnaps = 20;
	pthread_mutex_unlock(&f.lock);
	CHECK_EQ_INT(cf_sync_run_once(sy), 0);
	CHECK_EQ_INT(ls_count(st, "global/snapshots"), 20);
	uint64_t ino;
	CHECK_EQ_INT(cf_store_ino_of_path(st, "global/snapshots/s-004", &ino), -ENOENT);
	CHECK_EQ_INT(cf_store_ino_of_path(st, "global/snapshots/s-005", &ino), 0);
	CHECK_EQ_INT(atomic_load(&seen.entries) >= 10, 1); /* 5 entries + 5 aliases */
	/* z3 (named by the aggregated listing, not by the zones listing) is
	 * empty: the zones sweep removes it. Then the next disks listing names
	 * it again, so it comes back: both listings see their own truth. */
	CHECK_EQ_INT(ls_count(st, "zones"), 3);

	/* Snapshots fail on page 2: nothing removed, error recorded, the
	 * other listings still complete. */
	struct cf_sync_state before;
	cf_store_get_sync_state(st, CF_LIST_SNAPSHOTS, &before);
	pthread_mutex_lock(&f.lock);
	f.first_snap = 10; /* would remove 5 more if it completed */
	f.nsnaps = 15;
	f.fail_listing = CF_LIST_SNAPSHOTS;
	f.fail_http = 503;
	pthread_mutex_unlock(&f.lock);
	sleep(1); /* so last_attempt moves */
	CHECK_EQ_INT(cf_sync_run_once(sy), -EIO);
	CHECK_EQ_INT(ls_count(st, "global/snapshots"), 20);
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_SNAPSHOTS, &ss), 0);
	CHECK(strstr(ss.last_error, "backend error on page 2") != NULL);
	CHECK(strstr(ss.last_error, "503") != NULL);
	CHECK_EQ_INT(ss.last_complete, before.last_complete);
	CHECK_EQ_INT(ss.count, 20);
	CHECK(ss.last_attempt > before.last_attempt);
	CHECK(cf_sync_api_reachable(sy)); /* an HTTP answer came */
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_IMAGES, &ss), 0);
	CHECK_EQ_STR(ss.last_error, "");
	CHECK(ss.last_complete > 0);

	/* No answer at all: unreachable; the cache keeps serving. */
	pthread_mutex_lock(&f.lock);
	f.down = true;
	pthread_mutex_unlock(&f.lock);
	CHECK_EQ_INT(cf_sync_run_once(sy), -EHOSTUNREACH);
	CHECK(!cf_sync_api_reachable(sy));
	CHECK_EQ_INT(ls_count(st, "global/snapshots"), 20);
	CHECK_EQ_INT(ls_count(st, "zones"), 3);
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_ZONES, &ss), 0);
	CHECK_EQ_STR(ss.last_error, "connection refused");
	pthread_mutex_lock(&f.lock);
	f.down = false;
	pthread_mutex_unlock(&f.lock);

	/* Recovery: the next complete listing sweeps and clears the error. */
	pthread_mutex_lock(&f.lock);
	f.fail_listing = -1;
	pthread_mutex_unlock(&f.lock);
	CHECK_EQ_INT(cf_sync_run_once(sy), 0);
	CHECK(cf_sync_api_reachable(sy));
	CHECK_EQ_INT(ls_count(st, "global/snapshots"), 15);
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_SNAPSHOTS, &ss), 0);
	CHECK_EQ_STR(ss.last_error, "");
	CHECK_EQ_INT(ss.count, 15);

	/* A kick wakes the thread long before its hour is up. */
	int before_pages = atomic_load(&f.first_pages);
	double t0 = now_s();
	cf_sync_kick(sy);
	bool woke = false;
	for (int i = 0; i < 400 && !woke; i++) {
		woke = atomic_load(&f.first_pages) >= before_pages + CF_LIST__COUNT;
		usleep(5000);
	}
	CHECK(woke);
	CHECK(now_s() - t0 < 2.0);

	cf_sync_stop(sy);
	cf_store_close(st);
	pthread_mutex_destroy(&f.lock);
	CHECK_EQ_STR(cf_listing_name(CF_LIST_MACHINE_IMAGES), "machineImages");
	CHECK_EQ_STR(cf_listing_name(CF_LIST_DISKS), "disks");
	CHECK_EQ_STR(cf_listing_name((enum cf_listing) 99), "unknown");
}

static void test_prompt_stop(void)
{
	struct fake f;
	struct cf_store *st;
	struct cf_sync *sy;
	char dir[300];
	snprintf(dir, sizeof dir, "%s/stop", tmpdir);
	fake_init(&f);
	f.nsnaps = 100000; /* 10,000 pages of 10 */
	f.slow_ms = 20;
	CHECK_EQ_INT(cf_store_open(dir, &st), 0);
	struct cf_sync_config cfg = {.store = st, .provider = &f.p, .interval = 3600};
	CHECK_EQ_INT(cf_sync_start(&cfg, &sy), 0);
	/* Into the snapshots listing. */
	for (int i = 0; i < 1000 && atomic_load(&f.pages) < CF_LIST__COUNT; i++)
		usleep(5000);
	usleep(100000);
	double t0 = now_s();
	cf_sync_stop(sy);
	double took = now_s() - t0;
	fprintf(stderr, "stop mid-listing took %.1f ms\n", took * 1e3);
	CHECK(took < 0.5);
	/* Stopped part-way: nothing recorded as an error, nothing swept. */
	struct cf_sync_state ss;
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_SNAPSHOTS, &ss), 0);
	CHECK_EQ_STR(ss.last_error, "");
	CHECK_EQ_INT(ss.last_complete, 0);
	CHECK(ls_count(st, "global/snapshots") > 0);

	/* Stop while waiting for the next pass is prompt too. */
	f.nsnaps = 5;
	f.slow_ms = 0;
	CHECK_EQ_INT(cf_sync_start(&cfg, &sy), 0);
	int start = atomic_load(&f.first_pages);
	for (int i = 0; i < 1000 && atomic_load(&f.first_pages) < start + CF_LIST__COUNT; i++)
		usleep(5000);
	usleep(50000);
	t0 = now_s();
	cf_sync_stop(sy);
	CHECK(now_s() - t0 < 0.5);
	cf_store_close(st);
	pthread_mutex_destroy(&f.lock);
}

int main(void)
{
	cf_log_init("test_sync", 0, 1, CF_LOG_WARN);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/clonefs-test-sync-%d", (int) getpid());
	mkdir(tmpdir, 0700);
	test_passes();
	test_prompt_stop();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return check_summary();
}
