/* test_sync.c — the sync engine against a fake provider that serves canned
 * pages: pagination, the sweep after a complete listing, a listing failing
 * on its second page (nothing removed, the error recorded; a 5xx, a 429 or
 * no answer ends the pass, a 4xx does not), a provider that repeats a page
 * token, API reachability, aggregated scopes, change reports, and a stop
 * that is prompt even in the middle of a slow listing. The cloud is the
 * shared fake (fake_provider.h), its listing failures scripted. */
#include "gce.h"
#include "layout.h"
#include "provider.h"
#include "check.h"
#include "fake_provider.h"
#include "log.h"
#include "sync.h"
#include "toy_root_layout.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The cloud: zones z1 and z2, region r1, disks d-0..d-2 in z1 (the disks
 * listing also names the empty zone z3 and the region), and snapshots
 * s-FIRST.. of disk d-(i%3), ten to a page. */
static void set_snaps(struct fake_provider *f, int first, int n)
{
	fp_remove_kind(f, CF_KIND_SNAPSHOT);
	for (int i = first; i < first + n; i++) {
		char name[16], src[64];
		snprintf(name, sizeof name, "s-%03d", i);
		snprintf(src, sizeof src, "zones/z1/disks/d-%d", i % 3);
		struct cf_resource *r =
		    fp_add(f, CF_KIND_SNAPSHOT, "global", name, "READY", 1000 + i);
		r->source = strdup(src);
	}
}

static void fake_init(struct fake_provider *f)
{
	fp_init(f);
	f->page_size = 10;
	fp_add(f, CF_KIND_ZONE, NULL, "z1", "UP", 0);
	fp_add(f, CF_KIND_ZONE, NULL, "z2", "UP", 0);
	fp_add(f, CF_KIND_REGION, NULL, "r1", "UP", 0);
	f->scopes[0] = "zones/z1";
	f->scopes[1] = "zones/z3";
	f->scopes[2] = "regions/r1";
	f->nscopes = 3;
	for (int i = 0; i < 3; i++) {
		char name[16];
		snprintf(name, sizeof name, "d-%d", i);
		fp_add(f, CF_KIND_DISK, "zones/z1", name, "READY", 100 + i);
	}
	set_snaps(f, 0, 25);
}

/* The snapshots listing fails on its second page with HTTP http (0: no
 * answer at all), on every pass until the scripts are cleared. */
static void fail_page_2(struct fake_provider *f, int http)
{
	fp_clear_fails(f);
	struct fp_fail s = {.op = FP_LIST,
			    .listing = CF_LIST_SNAPSHOTS,
			    .page = 1,
			    .err = http ? -EIO : -EHOSTUNREACH,
			    .http = http,
			    .message = "backend error on page 2"};
	fp_fail(f, &s);
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
static bool wait_first_pass(struct fake_provider *f, int passes)
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

static void count_asked(struct fake_provider *f, int *asked)
{
	for (int l = 0; l < CF_LIST__COUNT; l++)
		asked[l] = atomic_load(&f->asked[l]);
}

/* The snapshots listing fails on its second page with HTTP `http`, in a pass
 * run now: nothing is removed, the error is recorded with the time of this
 * attempt, and the pass ends there (`cut`: a 5xx or a 429) or goes on to
 * the listings after it (a 4xx). Every value checked was written by this
 * pass (mark_attempts) or counted during it. */
static void fail_on_page_2(struct fake_provider *f, struct cf_store *st, struct cf_sync *sy,
			   int http, bool cut)
{
	struct cf_sync_state before, ss;
	int asked[CF_LIST__COUNT];
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_SNAPSHOTS, &before), 0);
	int listed = ls_count(st, "global/snapshots");
	mark_attempts(st);
	fp_lock(f);
	set_snaps(f, 10, 15); /* would remove s-005..s-009 if it completed */
	fp_unlock(f);
	fail_page_2(f, http);
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
	struct fake_provider f;
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
	fp_lock(&f);
	set_snaps(&f, 5, 20);
	fp_unlock(&f);
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
	struct fp_fail down = {
	    .op = FP_ANY, .err = -EHOSTUNREACH, .http = 0, .message = "connection refused"};
	fp_fail(&f, &down);
	CHECK_EQ_INT(cf_sync_run_once(sy), -EHOSTUNREACH);
	CHECK_EQ_INT(atomic_load(&f.asked[CF_LIST_ZONES]) - asked[CF_LIST_ZONES], 1);
	for (int l = CF_LIST_ZONES + 1; l < CF_LIST__COUNT; l++)
		CHECK_EQ_INT(atomic_load(&f.asked[l]) - asked[l], 0);
	CHECK(!cf_sync_api_reachable(sy));
	CHECK_EQ_INT(ls_count(st, "global/snapshots"), 20);
	CHECK_EQ_INT(ls_count(st, "zones"), 3);
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_ZONES, &ss), 0);
	CHECK_EQ_STR(ss.last_error, "connection refused");

	/* Recovery: the next complete listing sweeps and clears the error. */
	fp_clear_fails(&f);
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
	fp_destroy(&f);
	CHECK_EQ_STR(cf_listing_name(CF_LIST_MACHINE_IMAGES), "machineImages");
	CHECK_EQ_STR(cf_listing_name(CF_LIST_DISKS), "disks");
	CHECK_EQ_STR(cf_listing_name((enum cf_listing) 99), "unknown");
}

/* A provider that hands back the page token it was given would keep the
 * listing going forever: the sync stops it with an error, removes nothing,
 * and goes on with the other listings. */
static void test_repeated_token(void)
{
	struct fake_provider f;
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
	fp_lock(&f);
	f.repeat_token = true;
	set_snaps(&f, 10, 15); /* s-010..s-024: a completed listing would remove s-000..s-009 */
	fp_unlock(&f);
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
	fp_destroy(&f);
}

static void test_prompt_stop(void)
{
	struct fake_provider f;
	struct cf_store *st;
	struct cf_sync *sy;
	char dir[300];
	snprintf(dir, sizeof dir, "%s/stop", tmpdir);
	fake_init(&f);
	set_snaps(&f, 0, 100000); /* 10,000 pages of 10 */
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
	fp_lock(&f);
	set_snaps(&f, 0, 5);
	f.slow_ms = 0;
	fp_unlock(&f);
	CHECK_EQ_INT(cf_sync_start(&cfg, &sy), 0);
	int start = atomic_load(&f.first_pages);
	for (int i = 0; i < 1000 && atomic_load(&f.first_pages) < start + CF_LIST__COUNT; i++)
		usleep(5000);
	usleep(50000);
	t0 = now_s();
	cf_sync_stop(sy);
	CHECK(now_s() - t0 < 0.5);
	cf_store_close(st);
	fp_destroy(&f);
}

/* A tree with its collections at the root (toy_root_layout.h): the
 * listings the layout does not name (zones, regions) are never asked for,
 * the others fill snapshots/ and volumes/ at the top and their sweep
 * removes what the cloud no longer has. */
static void test_root_tree(void)
{
	struct fake_provider f;
	struct cf_store *st;
	struct cf_sync *sy;
	char dir[300];
	CHECK_EQ_INT(cf_layout_use(&toy_root_layout), 0);
	snprintf(dir, sizeof dir, "%s/root", tmpdir);
	fp_init(&f);
	f.page_size = 3;
	/* listed by id in this tree: ids that read as names */
	struct cf_resource *r = fp_add(&f, CF_KIND_DISK, "", "v1", "READY", 100);
	free(r->id);
	r->id = strdup("v1");
	for (int i = 0; i < 7; i++) {
		char name[16];
		snprintf(name, sizeof name, "s-%d", i);
		r = fp_add(&f, CF_KIND_SNAPSHOT, "", name, "READY", 1000 + i);
		r->source = strdup("volumes/v1");
		free(r->id);
		r->id = strdup(name);
	}
	CHECK_EQ_INT(cf_store_open(dir, &st), 0);
	struct cf_sync_config cfg = {.store = st, .provider = &f.p, .interval = 3600};
	CHECK_EQ_INT(cf_sync_start(&cfg, &sy), 0);
	CHECK_EQ_INT(cf_sync_run_once(sy), 0);
	CHECK_EQ_INT(ls_count(st, "snapshots"), 7);
	CHECK_EQ_INT(ls_count(st, "volumes"), 1);
	CHECK_EQ_INT(ls_count(st, "volumes/v1/snapshots"), 7);
	CHECK_EQ_INT(ls_count(st, ""), 4); /* images, instances, snapshots, volumes */
	CHECK_EQ_INT(atomic_load(&f.asked[CF_LIST_ZONES]), 0);
	CHECK_EQ_INT(atomic_load(&f.asked[CF_LIST_REGIONS]), 0);
	CHECK_EQ_INT(atomic_load(&f.asked[CF_LIST_IMAGES]), 0);
	struct cf_sync_state ss;
	CHECK_EQ_INT(cf_store_get_sync_state(st, CF_LIST_SNAPSHOTS, &ss), 0);
	CHECK_EQ_INT(ss.count, 7);
	CHECK_EQ_STR(ss.last_error, "");
	fp_lock(&f);
	fp_remove(&f, "snapshots/s-3");
	fp_unlock(&f);
	CHECK_EQ_INT(cf_sync_run_once(sy), 0);
	CHECK_EQ_INT(ls_count(st, "snapshots"), 6);
	CHECK_EQ_INT(ls_count(st, "volumes/v1/snapshots"), 6);
	uint64_t ino;
	CHECK_EQ_INT(cf_store_ino_of_path(st, "snapshots/s-3", &ino), -ENOENT);
	cf_sync_stop(sy);
	cf_store_close(st);
	fp_destroy(&f);
	CHECK_EQ_INT(cf_layout_use(&cf_gce_layout), 0);
}

static bool listed(struct cf_store *st, const char *path)
{
	uint64_t ino;
	return cf_store_ino_of_path(st, path, &ino) == 0;
}

/* Names from the API's data (toy_root_layout.h's pref_names), through
 * listings of one item a page: the newer of two namesakes comes first and
 * takes the name, the older one's page takes it back; the sweep keeps both;
 * a Name changed in the cloud moves the entry at the next sync; a deleted
 * holder's name goes to the next in line by the sync after the one that
 * saw it go. */
static void test_preferred_names(void)
{
	struct fake_provider f;
	struct cf_store *st;
	struct cf_sync *sy;
	char dir[300];
	CHECK_EQ_INT(cf_layout_use(&toy_root_layout), 0);
	snprintf(dir, sizeof dir, "%s/names", tmpdir);
	fp_init(&f);
	f.page_size = 1;
	const char *ids[] = {"snap-new", "snap-old", "snap-other"};
	const int64_t made[] = {2000, 1000, 1500};
	const char *prefs[] = {"web", "web", "db"};
	for (int i = 0; i < 3; i++) {
		struct cf_resource *r = fp_add(&f, CF_KIND_SNAPSHOT, "", ids[i], "READY", made[i]);
		free(r->id);
		r->id = strdup(ids[i]);
		r->name_pref = strdup(prefs[i]);
	}
	/* no preferred name, and a name that is not its id: listed by its id */
	struct cf_resource *plain = fp_add(&f, CF_KIND_SNAPSHOT, "", "plain", "READY", 3000);
	free(plain->id);
	plain->id = strdup("snap-plain");
	CHECK_EQ_INT(cf_store_open(dir, &st), 0);
	struct cf_sync_config cfg = {.store = st, .provider = &f.p, .interval = 3600};
	CHECK_EQ_INT(cf_sync_start(&cfg, &sy), 0);
	CHECK_EQ_INT(cf_sync_run_once(sy), 0);
	CHECK_EQ_INT(ls_count(st, "snapshots"), 4);
	CHECK(listed(st, "snapshots/web") && listed(st, "snapshots/snap-new") &&
	      listed(st, "snapshots/db") && listed(st, "snapshots/snap-plain"));
	CHECK_EQ_INT(cf_sync_run_once(sy), 0); /* stable */
	CHECK_EQ_INT(ls_count(st, "snapshots"), 4);
	CHECK(listed(st, "snapshots/web") && listed(st, "snapshots/snap-new") &&
	      listed(st, "snapshots/snap-plain"));
	fp_lock(&f);
	fp_remove(&f, "snapshots/plain");
	fp_unlock(&f);

	/* renamed in the cloud: db -> www */
	fp_lock(&f);
	struct cf_resource *o = fp_find(&f, "snapshots/snap-other");
	free(o->name_pref);
	o->name_pref = strdup("www");
	fp_unlock(&f);
	CHECK_EQ_INT(cf_sync_run_once(sy), 0);
	CHECK(listed(st, "snapshots/www") && !listed(st, "snapshots/db"));
	CHECK_EQ_INT(ls_count(st, "snapshots"), 3);

	/* the holder of "web" deleted */
	fp_lock(&f);
	fp_remove(&f, "snapshots/snap-old");
	fp_unlock(&f);
	CHECK_EQ_INT(cf_sync_run_once(sy), 0);
	CHECK_EQ_INT(ls_count(st, "snapshots"), 2);
	CHECK_EQ_INT(cf_sync_run_once(sy), 0);
	CHECK(listed(st, "snapshots/web") && !listed(st, "snapshots/snap-new"));
	CHECK_EQ_INT(ls_count(st, "snapshots"), 2);
	cf_sync_stop(sy);
	cf_store_close(st);
	fp_destroy(&f);
	CHECK_EQ_INT(cf_layout_use(&cf_gce_layout), 0);
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
	test_root_tree();
	test_preferred_names();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return check_summary();
}
