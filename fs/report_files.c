/* report_files.c — the cache behind .clonefs/report.html and .clonefs/report.json.
 *
 * A browser opening file:///MNT/.clonefs/report.html trusts st_size: Chromium reads that
 * many bytes and shows an empty page for a size of 0. So a stat must give the true size of
 * the very text the next open serves. Both files are generated together, from one set of
 * figures, and kept: a stat (lookup, getattr) generates them when the cached texts are
 * stale — the store changed since (its generation: every sync pass writes) or they are a
 * minute old (ages and the dry run move with the clock) — and answers their size; an open
 * serves the cached text when a stat reported its size in the last HOLD_MS, so the
 * browser's stat-then-read sees one text, and otherwise the same freshness rule applies.
 * One generation at a time (the lock): two readers never build the figures twice.
 *
 * Listing .clonefs/ (readdir) shows the cached size without generating: ls stays cheap. */
#include "report_files.h"

#include "engine.h"
#include "http.h"
#include "log.h"
#include "options.h"
#include "sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { REFRESH_MS = 60000, HOLD_MS = 10000 };

static struct {
	pthread_mutex_t lock;
	bool valid;
	char *text[2];
	size_t len[2];
	uint64_t generation;
	int64_t made_ms, made_s;
	int64_t stat_ms[2]; /* when a stat last reported text[w]'s size, 0: not since made */
} C = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void held_count(void *ctx, const char *path, const char *value, bool not_ours,
		       const char *reason)
{
	size_t *n = ctx;
	(void) path;
	(void) value;
	(void) reason;
	n[0]++;
	n[1] += not_ours;
}

static int render(int (*fn)(FILE *, const struct cf_report *, const struct report_daemon *),
		  const struct cf_report *r, const struct report_daemon *d, char **text,
		  size_t *len)
{
	*text = NULL;
	*len = 0;
	FILE *f = open_memstream(text, len);
	if (!f)
		return -ENOMEM;
	int rc = fn(f, r, d);
	if (fclose(f) != 0 && !rc)
		rc = -ENOMEM;
	if (rc) {
		free(*text);
		*text = NULL;
	}
	return rc;
}

/* Build both texts at the store's generation gen. Lock held. */
static int generate(struct cf_fs *fs, uint64_t gen)
{
	struct report_daemon d = {
	    .project = fs->opt->project,
	    .version = CLONEFS_VERSION,
	    .generated = time(NULL),
	    .generation = gen,
	    .read_only = fs->read_only,
	    .api_reachable =
		atomic_load(&fs->listed) && fs->sync && cf_sync_api_reachable(fs->sync),
	};
	if (fs->http) {
		struct cf_http_stats hs;
		cf_http_get_stats(fs->http, &hs);
		d.have_http = true;
		d.requests = hs.requests;
		d.retries = hs.retries;
		d.failures = hs.failures;
	}
	if (fs->engine) {
		size_t n[2] = {0, 0};
		d.have_engine = true;
		d.mount_id = cf_engine_mount_id(fs->engine);
		d.reaper_passes = cf_engine_foreach_held(fs->engine, held_count, n);
		d.held = n[0];
		d.not_ours = n[1];
		cf_engine_breaker(fs->engine, &d.breaker_recent, &d.breaker_max);
	}
	struct cf_report_config cfg = {
	    .store = fs->store,
	    .policy = fs->policy,
	    .provider = fs->provider,
	    .mount_id = d.mount_id,
	    .now = d.generated,
	};
	struct cf_report *r = NULL;
	int rc = fs->policy ? cf_report_build(&cfg, &r) : -ENOENT;
	if (rc) {
		cf_err("report: cannot compute the figures: %s", strerror(-rc));
		return rc;
	}
	char *text[2];
	size_t len[2];
	rc = render(report_render_html, r, &d, &text[REPORT_HTML], &len[REPORT_HTML]);
	if (!rc) {
		rc = render(report_render_json, r, &d, &text[REPORT_JSON], &len[REPORT_JSON]);
		if (rc)
			free(text[REPORT_HTML]);
	}
	cf_report_free(r);
	if (rc) {
		cf_err("report: cannot render it: %s", strerror(-rc));
		return rc;
	}
	for (int w = 0; w < 2; w++) {
		free(C.text[w]);
		C.text[w] = text[w];
		C.len[w] = len[w];
		C.stat_ms[w] = 0;
	}
	C.valid = true;
	C.generation = gen;
	C.made_ms = mono_ms();
	C.made_s = d.generated;
	return 0;
}

/* Lock held: the cached texts still say what a fresh generation would. */
static bool fresh(struct cf_fs *fs, int64_t now, uint64_t *gen)
{
	*gen = cf_store_generation(fs->store);
	return C.valid && C.generation == *gen && now - C.made_ms < REFRESH_MS;
}

uint64_t report_size(struct cf_fs *fs, enum report_which w, int64_t *mtime)
{
	uint64_t gen, size = 0;
	pthread_mutex_lock(&C.lock);
	int64_t now = mono_ms();
	if (fresh(fs, now, &gen) || generate(fs, gen) == 0) {
		size = C.len[w];
		C.stat_ms[w] = now;
		*mtime = C.made_s;
	} else {
		*mtime = time(NULL);
	}
	pthread_mutex_unlock(&C.lock);
	return size;
}

uint64_t report_cached_size(enum report_which w, int64_t *mtime)
{
	pthread_mutex_lock(&C.lock);
	uint64_t size = C.valid ? C.len[w] : 0;
	if (C.valid)
		*mtime = C.made_s;
	pthread_mutex_unlock(&C.lock);
	return size;
}

int report_open(struct cf_fs *fs, enum report_which w, char **data, size_t *len)
{
	uint64_t gen;
	int rc = 0;
	*data = NULL;
	*len = 0;
	pthread_mutex_lock(&C.lock);
	int64_t now = mono_ms();
	bool stated = C.valid && C.stat_ms[w] && now - C.stat_ms[w] < HOLD_MS;
	if (!stated && !fresh(fs, now, &gen))
		rc = generate(fs, gen);
	if (!rc) {
		*data = malloc(C.len[w] ? C.len[w] : 1);
		if (*data) {
			memcpy(*data, C.text[w], C.len[w]);
			*len = C.len[w];
		} else {
			rc = -ENOMEM;
		}
	}
	pthread_mutex_unlock(&C.lock);
	return rc;
}
