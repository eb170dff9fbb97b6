/* test_sync.c — the sync engine against a fake provider that serves canned
 * pages: pagination, the sweep after a complete listing, a listing failing
 * on its second page (nothing removed, the error recorded; a 5xx, a 429 or
 * no answer ends the pass, a 4xx does not), a provider that repeats a page
 * token, API reachability, aggregated scopes, change reports, and a stop
 * that is prompt even in the middle of a slow listing. */
#include "gce.h"
#include "layout.h"
#include "provider.h"
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
	int nsnaps;			   /* snapshots s-0 .. s-(nsnaps-1), disk d-(i%3) */
	int first_snap;			   /* ... starting at this index */
	int page_size;			   /* items per page */
	int fail_listing;		   /* this listing fails on its second page (-1: none) */
	int fail_http;			   /* with this HTTP status (0: no answer at all) */
	int slow_ms;			   /* sleep before each page */
	bool down;			   /* no answer to anything */
	bool repeat_token;		   /* snapshots: page 2 hands back the token it was given */
	int repeats;			   /* ... how often it did (it gives up after 20) */
	atomic_int pages;		   /* pages served */
	atomic_int first_pages;		   /* first pages served (one per listing per pass) */
	atomic_int asked[CF_LIST__COUNT];  /* first pages asked for, per listing */
	atomic_int served[CF_LIST__COUNT]; /* pages asked for, per listing */
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
	if ((int) which >= 0 && which < CF_LIST__COUNT) {
		atomic_fetch_add(&f->served[which], 1);
		if (!token)
			atomic_fetch_add(&f->asked[which], 1);
	}
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
		if (f->repeat_token && page == 1 && f->repeats < 20) {
			/* A broken API: the same token again. Bounded, so that a
			 * sync without the guard completes (and fails the test)
			 * instead of hanging it. */
			f->repeats++;
			out->next_token = strdup(token);
		} else if (to > from + f->page_size) {
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

/* Set every listing's last_attempt to 1, a time no pass writes, so that a
 * check of last_attempt sees what the next pass did, not an earlier one. */
static void mark_attempts(struct cf_store *st)
{
	struct cf_wtxn *w;
	CHECK_EQ_INT(cf_store_wbegin(st, &w), 0);
	for (int l = 0; l < CF_LIST__COUNT; l++) {
		struct cf_sync_state ss;
		CHECK_EQ_INT(cf_store_get_sync_state(st, (enum cf_listing) l, &ss), 0);
		ss.last_attempt = 1;
		CHECK_EQ_INT(cf_store_put_sync_state(w, (enum cf_listing) l, &ss), 0);
	}
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
}

static void count_asked(struct fake *f, int *asked)
{
	for (int l = 0; l < CF_LIST__COUNT; l++)
		asked[l] = atomic_load(&f->asked[l]);
}

/* The snapshots listing fails on its second page with HTTP `http`, in a pass
 * run now: nothing is removed, the error is recorded with the time of this
 * attempt, and the pass ends there (`cut`: a 5xx or a 429) or goes on to
 * the listings after it (a 4xx). Every value checked was written by this
 * pass (mark_attempts) or counted during it. */
static void fail_on_page_2(struct fake *f, struct cf_store *st, struct cf_sync *sy, int http,
			   bool cut)
{
	struct cf_sync_state before, ss;
	int asked[CF_LIST__COUNT];
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_SNAPSHOTS, &before), 0);
	int listed = ls_count(st, "global/snapshots");
	mark_attempts(st);
	pthread_mutex_lock(&f->lock);
	f->first_snap = 10; /* would remove s-005..s-009 if it completed */
	f->nsnaps = 15;
	f->fail_listing = CF_LIST_SNAPSHOTS;
	f->fail_http = http;
	pthread_mutex_unlock(&f->lock);
	count_asked(f, asked);
	CHECK_EQ_INT(cf_sync_run_once(sy), -EIO);
	CHECK_EQ_INT(ls_count(st, "global/snapshots"), listed);
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_SNAPSHOTS, &ss), 0);
	CHECK(strstr(ss.last_error, "backend error on page 2") != NULL);
	char code[16];
	snprintf(code, sizeof code, "HTTP %d", http);
	CHECK(strstr(ss.last_error, code) != NULL);
	CHECK_EQ_INT(ss.last_complete, before.last_complete);
	CHECK_EQ_INT(ss.count, before.count);
	CHECK(ss.last_attempt > 1);
	CHECK(cf_sync_api_reachable(sy)); /* an HTTP answer came */
	/* The listings before it were asked once, and completed. */
	for (int l = 0; l <= CF_LIST_SNAPSHOTS; l++)
		CHECK_EQ_INT(atomic_load(&f->asked[l]) - asked[l], 1);
	for (int l = CF_LIST_DISKS; l < CF_LIST_SNAPSHOTS; l++) {
		CHECK_EQ_INT(cf_store_get_sync_state(st, (enum cf_listing) l, &ss), 0);
		CHECK(ss.last_attempt > 1);
		CHECK_EQ_STR(ss.last_error, "");
	}
	/* The ones after it: not asked at all when the pass is cut, asked and
	 * completed when it is not. */
	for (int l = CF_LIST_SNAPSHOTS + 1; l < CF_LIST__COUNT; l++) {
		CHECK_EQ_INT(atomic_load(&f->asked[l]) - asked[l], cut ? 0 : 1);
		CHECK_EQ_INT(cf_store_get_sync_state(st, (enum cf_listing) l, &ss), 0);
		CHECK_EQ_INT(ss.last_attempt > 1, !cut);
		CHECK_EQ_STR(ss.last_error, "");
	}
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

	/* Snapshots fail on page 2: nothing removed, the error recorded. A 503
	 * or a 429 (after every retry) ends the pass; a 4xx does not
	 * (SEMANTICS.md "When the API misbehaves"). */
	CHECK_EQ_INT(ls_count(st, "global/snapshots"), 20);
	fail_on_page_2(&f, st, sy, 503, true);
	fail_on_page_2(&f, st, sy, 429, true);
	fail_on_page_2(&f, st, sy, 403, false);
	CHECK_EQ_INT(ls_count(st, "global/snapshots"), 20);

	/* No answer at all: unreachable; the cache keeps serving, and the pass
	 * ends at the first listing. */
	int asked[CF_LIST__COUNT];
	count_asked(&f, asked);
	pthread_mutex_lock(&f.lock);
	f.down = true;
	pthread_mutex_unlock(&f.lock);
	CHECK_EQ_INT(cf_sync_run_once(sy), -EHOSTUNREACH);
	CHECK_EQ_INT(atomic_load(&f.asked[CF_LIST_ZONES]) - asked[CF_LIST_ZONES], 1);
	for (int l = CF_LIST_ZONES + 1; l < CF_LIST__COUNT; l++)
		CHECK_EQ_INT(atomic_load(&f.asked[l]) - asked[l], 0);
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

/* A provider that hands back the page token it was given would keep the
 * listing going forever: the sync stops it with an error, removes nothing,
 * and goes on with the other listings. */
static void test_repeated_token(void)
{
	struct fake f;
	struct cf_store *st;
	struct cf_sync *sy;
	struct cf_sync_state before, ss;
	char dir[300];
	snprintf(dir, sizeof dir, "%s/repeat", tmpdir);
	fake_init(&f);
	CHECK_EQ_INT(cf_store_open(dir, &st), 0);
	struct cf_sync_config cfg = {.store = st, .provider = &f.p, .interval = 3600};
	CHECK_EQ_INT(cf_sync_start(&cfg, &sy), 0);
	CHECK(wait_first_pass(&f, 1));
	CHECK_EQ_INT(cf_sync_run_once(sy), 0);
	CHECK_EQ_INT(ls_count(st, "global/snapshots"), 25);
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_SNAPSHOTS, &before), 0);
	mark_attempts(st);

	int served = atomic_load(&f.served[CF_LIST_SNAPSHOTS]);
	int asked_images = atomic_load(&f.asked[CF_LIST_IMAGES]);
	pthread_mutex_lock(&f.lock);
	f.repeat_token = true;
	f.first_snap = 10; /* s-010..s-024: a completed listing would remove s-000..s-009 */
	f.nsnaps = 15;
	pthread_mutex_unlock(&f.lock);
	CHECK_EQ_INT(cf_sync_run_once(sy), -EPROTO);
	/* Page 1, then page 2 with its token repeated: no third request. */
	CHECK_EQ_INT(atomic_load(&f.served[CF_LIST_SNAPSHOTS]) - served, 2);
	CHECK_EQ_INT(ls_count(st, "global/snapshots"), 25);
	uint64_t ino;
	CHECK_EQ_INT(cf_store_ino_of_path(st, "global/snapshots/s-000", &ino), 0);
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_SNAPSHOTS, &ss), 0);
	CHECK(strstr(ss.last_error, "repeated a page token") != NULL);
	CHECK_EQ_INT(ss.last_complete, before.last_complete);
	CHECK_EQ_INT(ss.count, 25);
	CHECK(ss.last_attempt > 1);
	/* Not an outage: the pass goes on. */
	CHECK_EQ_INT(atomic_load(&f.asked[CF_LIST_IMAGES]) - asked_images, 1);
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_IMAGES, &ss), 0);
	CHECK(ss.last_attempt > 1);
	CHECK_EQ_STR(ss.last_error, "");

	cf_sync_stop(sy);
	cf_store_close(st);
	pthread_mutex_destroy(&f.lock);
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
	cf_layout_use(&cf_gce_layout);
	cf_log_init("test_sync", 0, 1, CF_LOG_WARN);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/clonefs-test-sync-%d", (int) getpid());
	mkdir(tmpdir, 0700);
	test_passes();
	test_repeated_token();
	test_prompt_stop();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return check_summary();
}
