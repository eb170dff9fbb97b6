/* test_feed.c — a change feed's changes into the cache (feed.h): in the
 * order the cloud made them whatever the order they arrive in (a stale or
 * duplicate change never overwrites a newer record, a deletion is not undone
 * by an older create), a change that is not where it says refused, a
 * listing page read before a feed change not undoing it; the GCE decoder of
 * a TemporalAsset, which ignores what is not this mount's; the Pub/Sub
 * client's requests and answers, against mini_httpd.h's recording server;
 * and the feed thread against a scripted source: the hold on a batch whose
 * acknowledgement is slow is extended, and "behind" lasts through empty
 * pulls until a pull's messages come in time. */
#include "check.h"
#include "feed.h"
#include "gce.h"
#include "gce_auth.h"
#include "http.h"
#include "mini_httpd.h"
#include "layout.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[256];

static void snap(struct cf_resource *r, const char *name, const char *label)
{
	memset(r, 0, sizeof *r);
	r->kind = CF_KIND_SNAPSHOT;
	r->scope = strdup("global");
	r->name = strdup(name);
	r->status = strdup("READY");
	r->created = 1700000000;
	r->labels = calloc(1, sizeof *r->labels);
	r->labels[0].key = strdup("v");
	r->labels[0].value = strdup(label);
	r->nlabels = 1;
}

static struct cf_feed_change change(const char *name, const char *label, int64_t us)
{
	struct cf_feed_change c = {0};
	char path[128];
	snprintf(path, sizeof path, "global/snapshots/%s", name);
	c.path = strdup(path);
	c.ack_id = strdup("a");
	c.update_us = us;
	if (label)
		snap(&c.res, name, label);
	else
		c.deleted = true;
	return c;
}

static void change_clear(struct cf_feed_change *c)
{
	struct cf_feed_batch b = {c, 1};
	cf_feed_batch_clear(&b); /* frees the members, and c itself: copy first */
}

static int apply(struct cf_store *s, struct cf_feed_clock *k, const char *name, const char *label,
		 int64_t us)
{
	struct cf_feed_change *c = malloc(sizeof *c);
	*c = change(name, label, us);
	int rc = cf_sync_apply(s, k, NULL, c);
	change_clear(c);
	return rc;
}

/* The value of label v on global/snapshots/NAME, "" when absent, "-" when
 * the snapshot is not there. */
static const char *label_of(struct cf_store *s, const char *name)
{
	static char out[64];
	char path[128];
	uint64_t ino;
	struct cf_resource r;
	snprintf(path, sizeof path, "global/snapshots/%s", name);
	if (cf_store_ino_of_path(s, path, &ino) || cf_store_resource(s, ino, &r))
		return "-";
	out[0] = '\0';
	for (size_t i = 0; i < r.nlabels; i++)
		if (!strcmp(r.labels[i].key, "v"))
			snprintf(out, sizeof out, "%s", r.labels[i].value);
	cf_resource_clear(&r);
	return out;
}

static void test_ordering(void)
{
	char dir[512];
	struct cf_store *s;
	snprintf(dir, sizeof dir, "%s/order", tmpdir);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	struct cf_feed_clock *k = cf_feed_clock_new();

	CHECK_EQ_INT(apply(s, k, "a", "one", 100), 1);
	CHECK_EQ_STR(label_of(s, "a"), "one");
	CHECK_EQ_INT(apply(s, k, "a", "three", 300), 1);
	CHECK_EQ_STR(label_of(s, "a"), "three");
	/* out of order: the change made before arrives after */
	CHECK_EQ_INT(apply(s, k, "a", "two", 200), 0);
	CHECK_EQ_STR(label_of(s, "a"), "three");
	/* a duplicate */
	CHECK_EQ_INT(apply(s, k, "a", "three", 300), 0);
	CHECK_EQ_INT(cf_feed_clock_get(k, "global/snapshots/a"), 300);
	/* deleted; an older create arriving late does not bring it back */
	CHECK_EQ_INT(apply(s, k, "a", NULL, 400), 1);
	CHECK_EQ_STR(label_of(s, "a"), "-");
	CHECK_EQ_INT(apply(s, k, "a", "three", 350), 0);
	CHECK_EQ_STR(label_of(s, "a"), "-");
	/* created again later: a new resource of the same name */
	CHECK_EQ_INT(apply(s, k, "a", "again", 500), 1);
	CHECK_EQ_STR(label_of(s, "a"), "again");
	/* the deletion of what the cache never held: it agrees already */
	CHECK_EQ_INT(apply(s, k, "never", NULL, 100), 1);
	/* paths are ordered apart */
	CHECK_EQ_INT(apply(s, k, "b", "x", 50), 1);
	CHECK_EQ_STR(label_of(s, "b"), "x");

	/* not where it says it is: refused, nothing written */
	struct cf_feed_change *c = malloc(sizeof *c);
	*c = change("c", "x", 600);
	free(c->path);
	c->path = strdup("global/images/c");
	CHECK_EQ_INT(cf_sync_apply(s, k, NULL, c), -EINVAL);
	change_clear(c);
	CHECK_EQ_STR(label_of(s, "c"), "-");

	/* a listing page read before a feed change does not undo it */
	int64_t fetched = cf_store_clock_ms();
	usleep(2000);
	CHECK_EQ_INT(apply(s, k, "b", "feed", 700), 1);
	struct cf_wtxn *w;
	struct cf_resource old;
	snap(&old, "b", "listed-before");
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	cf_store_wfetched(w, fetched);
	CHECK_EQ_INT(cf_store_upsert(w, &old, NULL), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	cf_resource_clear(&old);
	CHECK_EQ_STR(label_of(s, "b"), "feed");

	/* many paths: the clock grows and keeps each one's time */
	for (int i = 0; i < 300; i++) {
		char p[64];
		snprintf(p, sizeof p, "global/snapshots/n%d", i);
		CHECK_EQ_INT(cf_feed_clock_put(k, p, 1000 + i), 0);
	}
	CHECK_EQ_INT(cf_feed_clock_get(k, "global/snapshots/n123"), 1123);
	CHECK_EQ_INT(cf_feed_clock_get(k, "global/snapshots/b"), 700);
	CHECK_EQ_INT(cf_feed_clock_get(k, "global/snapshots/none"), 0);

	cf_feed_clock_free(k);
	cf_store_close(s);
}

/* After a restart: a change made before the feed started, to a resource the
 * clock does not know, is stale once the listing of its kind completed since;
 * before that listing, it is applied. */
static void test_baseline(void)
{
	char dir[512];
	struct cf_store *s;
	struct cf_wtxn *w;
	snprintf(dir, sizeof dir, "%s/baseline", tmpdir);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	struct cf_feed_clock *k = cf_feed_clock_new();
	const int64_t start = 1700000000LL * 1000000 + 700000; /* the feed started */
	cf_feed_clock_baseline(k, start);

	/* no listing since the start: it waits for one */
	CHECK_EQ_INT(apply(s, k, "early", "old", start - 5000000), -EAGAIN);
	CHECK_EQ_STR(label_of(s, "early"), "-");
	CHECK_EQ_INT(apply(s, k, "early", "new", start + 5000000), 1);

	/* a listing completed before the start does not count */
	struct cf_sync_state before = {.last_complete = 1699999999, .last_attempt = 1699999999};
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_put_sync_state(w, CF_LIST_SNAPSHOTS, &before), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_INT(apply(s, k, "late", "x", start - 1), -EAGAIN);
	/* (in the start's own second: the state keeps whole seconds) */
	struct cf_sync_state st = {.last_complete = 1700000000, .last_attempt = 1700000000};
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_put_sync_state(w, CF_LIST_SNAPSHOTS, &st), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	/* the snapshots listing completed since: it read the older change */
	CHECK_EQ_INT(apply(s, k, "late", "older-than-the-listing", start - 1), 0);
	CHECK_EQ_STR(label_of(s, "late"), "-");
	/* a change made after the start is applied */
	CHECK_EQ_INT(apply(s, k, "late", "newer", start + 1), 1);
	CHECK_EQ_STR(label_of(s, "late"), "newer");
	/* a path the clock knows is judged by its own time */
	CHECK_EQ_INT(apply(s, k, "early", "older", start + 4000000), 0);
	CHECK_EQ_STR(label_of(s, "early"), "new");

	cf_feed_clock_free(k);
	cf_store_close(s);
}

/* Past 65536 paths, those unchanged for an hour are forgotten and the
 * baseline rises to that hour. */
static void test_clock_forgets(void)
{
	struct cf_feed_clock *k = cf_feed_clock_new();
	const int64_t t0 = 1700000000LL * 1000000, hour = 3600LL * 1000000;
	char p[64];
	for (int i = 0; i < 65536; i++) {
		snprintf(p, sizeof p, "global/snapshots/o%d", i);
		CHECK_EQ_INT(cf_feed_clock_put(k, p, t0 + i), 0);
	}
	const int64_t minute = 60LL * 1000000;
	CHECK_EQ_INT(cf_feed_clock_put(k, "global/snapshots/recent", t0 + 2 * minute), 0);
	CHECK_EQ_INT(cf_feed_clock_get(k, "global/snapshots/o5"), t0 + 5);
	CHECK_EQ_INT(cf_feed_clock_put(k, "global/snapshots/new", t0 + hour + minute), 0);
	CHECK_EQ_INT(cf_feed_clock_get(k, "global/snapshots/o5"), 0);
	CHECK_EQ_INT(cf_feed_clock_get(k, "global/snapshots/recent"), t0 + 2 * minute);
	CHECK_EQ_INT(cf_feed_clock_get(k, "global/snapshots/new"), t0 + hour + minute);
	cf_feed_clock_free(k);
}

static int decode(const char *json, struct cf_feed_change *c)
{
	char why[300];
	memset(c, 0, sizeof *c);
	int rc = cf_gce_decode_asset(json, strlen(json), "p1", c, why, sizeof why);
	if (c->ignore)
		CHECK(why[0] != '\0');
	return rc;
}

#define SNAP_DATA                                                                                  \
	"{\"kind\":\"compute#snapshot\",\"id\":\"1\",\"name\":\"s1\",\"status\":\"READY\","        \
	"\"creationTimestamp\":\"2026-01-01T00:00:00.000-08:00\",\"labels\":{\"k\":\"v\"},"        \
	"\"labelFingerprint\":\"abc\",\"diskSizeGb\":\"10\"}"

static void test_decode_asset(void)
{
	struct cf_feed_change c;
	struct cf_feed_batch b = {&c, 1};
	CHECK_EQ_INT(
	    decode(
		"{\"window\":{\"startTime\":\"2026-12-03T10:00:00.000001Z\"},"
		"\"asset\":{\"name\":\"//compute.googleapis.com/projects/p1/global/snapshots/s1\","
		"\"assetType\":\"compute.googleapis.com/Snapshot\",\"updateTime\":"
		"\"2026-12-03T10:00:00.123456Z\",\"resource\":{\"version\":\"v1\","
		"\"data\":" SNAP_DATA "}},\"priorAssetState\":\"DOES_NOT_EXIST\"}",
		&c),
	    0);
	CHECK(!c.ignore && !c.deleted);
	CHECK_EQ_STR(c.path, "global/snapshots/s1");
	CHECK_EQ_STR(c.res.name, "s1");
	CHECK_EQ_INT(c.res.nlabels, 1);
	CHECK_EQ_INT(c.update_us, 1796292000123456LL);
	c.ack_id = NULL;
	b = (struct cf_feed_batch){malloc(sizeof c), 1};
	*b.items = c;
	cf_feed_batch_clear(&b);

	/* a deletion: the name is enough; the time from the window */
	CHECK_EQ_INT(decode("{\"deleted\":true,\"window\":{\"startTime\":\"2026-12-03T10:00:01Z\"},"
			    "\"asset\":{\"name\":\"//compute.googleapis.com/projects/p1/zones/z1/"
			    "disks/d1\",\"assetType\":\"compute.googleapis.com/Disk\"}}",
			    &c),
		     0);
	CHECK(!c.ignore && c.deleted);
	CHECK_EQ_STR(c.path, "zones/z1/disks/d1");
	CHECK_EQ_INT(c.update_us, 1796292001000000LL);
	free(c.path);

	static const char *const ignored[] = {
	    /* another project */
	    "{\"asset\":{\"name\":\"//compute.googleapis.com/projects/p2/global/snapshots/s1\","
	    "\"assetType\":\"compute.googleapis.com/"
	    "Snapshot\",\"updateTime\":\"2026-12-03T10:00:00Z\","
	    "\"resource\":{\"data\":" SNAP_DATA "}}}",
	    /* a project whose name starts like ours */
	    "{\"asset\":{\"name\":\"//compute.googleapis.com/projects/p1x/global/snapshots/s1\","
	    "\"assetType\":\"compute.googleapis.com/"
	    "Snapshot\",\"updateTime\":\"2026-12-03T10:00:00Z\","
	    "\"resource\":{\"data\":" SNAP_DATA "}}}",
	    /* a kind the tree does not show */
	    "{\"asset\":{\"name\":\"//compute.googleapis.com/projects/p1/global/networks/n\","
	    "\"assetType\":\"compute.googleapis.com/"
	    "Network\",\"updateTime\":\"2026-12-03T10:00:00Z\"}}",
	    /* the type and the path disagree */
	    "{\"asset\":{\"name\":\"//compute.googleapis.com/projects/p1/global/images/s1\","
	    "\"assetType\":\"compute.googleapis.com/"
	    "Snapshot\",\"updateTime\":\"2026-12-03T10:00:00Z\","
	    "\"resource\":{\"data\":" SNAP_DATA "}}}",
	    /* a RegionDisk in a zone */
	    "{\"deleted\":true,\"asset\":{\"name\":\"//compute.googleapis.com/projects/p1/zones/z/"
	    "disks/d\",\"assetType\":\"compute.googleapis.com/RegionDisk\",\"updateTime\":"
	    "\"2026-12-03T10:00:00Z\"}}",
	    /* an unsafe path */
	    "{\"deleted\":true,\"asset\":{\"name\":\"//compute.googleapis.com/projects/p1/global/"
	    "snapshots/..\",\"assetType\":\"compute.googleapis.com/Snapshot\",\"updateTime\":"
	    "\"2026-12-03T10:00:00Z\"}}",
	    /* no time */
	    "{\"asset\":{\"name\":\"//compute.googleapis.com/projects/p1/global/snapshots/s1\","
	    "\"assetType\":\"compute.googleapis.com/Snapshot\",\"resource\":{\"data\":" SNAP_DATA
	    "}}}",
	    /* the data is another resource */
	    "{\"asset\":{\"name\":\"//compute.googleapis.com/projects/p1/global/snapshots/s2\","
	    "\"assetType\":\"compute.googleapis.com/"
	    "Snapshot\",\"updateTime\":\"2026-12-03T10:00:00Z\","
	    "\"resource\":{\"data\":" SNAP_DATA "}}}",
	    /* no data for a live asset */
	    "{\"asset\":{\"name\":\"//compute.googleapis.com/projects/p1/global/snapshots/s1\","
	    "\"assetType\":\"compute.googleapis.com/"
	    "Snapshot\",\"updateTime\":\"2026-12-03T10:00:00Z\"}}",
	    "not json",
	    "[1,2]",
	};
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++) {
		CHECK_EQ_INT(decode(ignored[i], &c), 0);
		if (!c.ignore)
			fprintf(stderr, "not ignored: #%zu\n", i);
		CHECK(c.ignore);
		free(c.path);
		cf_resource_clear(&c.res);
	}
}

static void b64(const char *in, char *out)
{
	static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(in), o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t) (unsigned char) in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t) (unsigned char) in[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char) in[i + 2];
		out[o++] = t[v >> 18 & 63];
		out[o++] = t[v >> 12 & 63];
		out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? t[v & 63] : '=';
	}
	out[o] = '\0';
}

static void test_pubsub_client(void)
{
	static char token_path[80], pull[8192], asset64[1024], welcome64[256], ep[64];
	const char *asset =
	    "{\"asset\":{\"name\":\"//compute.googleapis.com/projects/p1/global/snapshots/s1\","
	    "\"assetType\":\"compute.googleapis.com/Snapshot\",\"updateTime\":"
	    "\"2026-12-03T10:00:00Z\",\"resource\":{\"data\":" SNAP_DATA "}}}";
	struct cf_http *h;
	struct cf_auth *a;
	struct cf_feed_source *f;
	struct cf_feed_batch b;
	struct cf_error err;
	b64(asset, asset64);
	b64("You have successfully configured real time feed", welcome64);
	snprintf(pull, sizeof pull,
		 "{\"receivedMessages\":[{\"ackId\":\"ack-1\",\"message\":{\"data\":\"%s\","
		 "\"messageId\":\"1\",\"publishTime\":\"2026-12-03T10:00:00.5Z\"},"
		 "\"deliveryAttempt\":1},"
		 "{\"ackId\":\"ack-2\",\"message\":{\"data\":\"%s\",\"messageId\":\"2\"}},"
		 "{\"ackId\":\"bad\\u0001id\",\"message\":{\"data\":\"%s\"}},"
		 "{\"ackId\":\"ack-4\",\"message\":{\"data\":\"!!not base64\"}}]}",
		 asset64, welcome64, asset64);
	struct canned script[] = {
	    {200, "Content-Type: application/json\r\n", pull, false},
	    {200, "Content-Type: application/json\r\n", "{}", false},
	    {200, "Content-Type: application/json\r\n", "{}", false},
	    {200, "Content-Type: application/json\r\n", "{}", false},
	    {404, "Content-Type: application/json\r\n",
	     "{\"error\":{\"code\":404,\"message\":\"Resource not found (resource=s).\","
	     "\"status\":\"NOT_FOUND\"}}",
	     false},
	};
	if (server_start()) {
		CHECK(!"cannot start the test server");
		return;
	}
	snprintf(token_path, sizeof token_path, "/tmp/clonefs-test-feed-token-%d", (int) getpid());
	int fd = open(token_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0 && write(fd, "tok\n", 4) == 4);
	close(fd);
	struct cf_http_config hc = {
	    .max_attempts = 1, .timeout_ms = 10000, .allow_insecure_loopback = true};
	CHECK_EQ_INT(cf_http_new(&hc, &h), 0);
	CHECK_EQ_INT(cf_auth_new(&(struct cf_auth_config){.token_file = token_path, .http = h}, &a),
		     0);
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d/", S.port);
	struct cf_gce_feed_config fc = {.endpoint = ep,
					.subscription = "projects/p1/subscriptions/s",
					.project = "p1",
					.auth = a};
	CHECK_EQ_INT(cf_gce_feed_new(&fc, &f), 0);
	server_script(script, 5);

	/* a pull: the asset, the welcome string and undecodable data ignored, the
	 * message with an unusable ackId dropped */
	CHECK_EQ_INT(f->ops->pull(f, 10, &b, &err), 0);
	CHECK_EQ_STR(S.req[0].line, "POST /v1/projects/p1/subscriptions/s:pull HTTP/1.1");
	CHECK(strstr(S.req[0].body, "\"maxMessages\":10") != NULL);
	CHECK(strstr(S.req[0].body, "returnImmediately") == NULL);
	CHECK(strstr(S.req[0].head, "Bearer tok") != NULL);
	CHECK_EQ_INT(b.n, 3);
	if (b.n == 3) {
		CHECK_EQ_STR(b.items[0].ack_id, "ack-1");
		CHECK(!b.items[0].ignore);
		CHECK_EQ_STR(b.items[0].path, "global/snapshots/s1");
		CHECK_EQ_INT(b.items[0].publish_us, 1796292000500000LL);
		CHECK_EQ_STR(b.items[1].ack_id, "ack-2");
		CHECK(b.items[1].ignore);
		CHECK_EQ_STR(b.items[2].ack_id, "ack-4");
		CHECK(b.items[2].ignore);
	}
	cf_feed_batch_clear(&b);

	const char *ids[] = {"ack-1", "ack-2"};
	CHECK_EQ_INT(f->ops->ack(f, ids, 2, &err), 0);
	CHECK_EQ_STR(S.req[1].line, "POST /v1/projects/p1/subscriptions/s:acknowledge HTTP/1.1");
	CHECK(strstr(S.req[1].body, "\"ackIds\":[\"ack-1\",\"ack-2\"]") != NULL);
	CHECK_EQ_INT(f->ops->extend(f, ids, 1, 60, &err), 0);
	CHECK_EQ_STR(S.req[2].line,
		     "POST /v1/projects/p1/subscriptions/s:modifyAckDeadline HTTP/1.1");
	CHECK(strstr(S.req[2].body, "\"ackDeadlineSeconds\":60") != NULL);
	/* an empty answer: nothing to do */
	CHECK_EQ_INT(f->ops->pull(f, 10, &b, &err), 0);
	CHECK_EQ_INT(b.n, 0);
	/* the subscription is gone */
	CHECK_EQ_INT(f->ops->pull(f, 10, &b, &err), -ENOENT);
	CHECK_EQ_INT(err.http_status, 404);
	CHECK(strstr(err.message, "not found") != NULL);
	unsigned long req = 0, bytes = 0;
	f->ops->traffic(f, &req, &bytes);
	CHECK_EQ_INT(req, 5);

	f->ops->destroy(f);
	cf_auth_free(a);
	cf_http_free(h);
	server_stop();
	unlink(token_path);
}

/* ---- the feed thread, against a scripted source ---- */

struct script {
	pthread_mutex_t lock;
	int64_t publish_us; /* a message waits, published then; 0 = none */
	unsigned ack_delay_ms;
	unsigned pulls, acks, extends;
};

static int64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* One waiting message, marked ignore (never stored: the thread only
 * acknowledges it), or none after a short wait, as a pull that answers empty. */
static int s_pull(struct cf_feed_source *f, size_t max, struct cf_feed_batch *out,
		  struct cf_error *err)
{
	struct script *sc = f->impl;
	(void) max;
	(void) err;
	memset(out, 0, sizeof *out);
	pthread_mutex_lock(&sc->lock);
	int64_t pub = sc->publish_us;
	sc->publish_us = 0;
	sc->pulls++;
	pthread_mutex_unlock(&sc->lock);
	if (!pub) {
		nap_ms(20);
		return 0;
	}
	out->items = calloc(1, sizeof *out->items);
	out->items[0].ack_id = strdup("m1");
	out->items[0].publish_us = pub;
	out->items[0].update_us = pub;
	out->items[0].ignore = true;
	out->n = 1;
	return 0;
}

static int s_ack(struct cf_feed_source *f, const char *const *ids, size_t n, struct cf_error *err)
{
	struct script *sc = f->impl;
	(void) ids;
	(void) err;
	pthread_mutex_lock(&sc->lock);
	unsigned delay = sc->ack_delay_ms;
	pthread_mutex_unlock(&sc->lock);
	nap_ms(delay);
	pthread_mutex_lock(&sc->lock);
	sc->acks += (unsigned) n;
	pthread_mutex_unlock(&sc->lock);
	return 0;
}

static int s_extend(struct cf_feed_source *f, const char *const *ids, size_t n, unsigned seconds,
		    struct cf_error *err)
{
	struct script *sc = f->impl;
	(void) err;
	CHECK(n == 1 && !strcmp(ids[0], "m1") && seconds >= 10);
	pthread_mutex_lock(&sc->lock);
	sc->extends++;
	pthread_mutex_unlock(&sc->lock);
	return 0;
}

static const struct cf_feed_source_ops script_ops = {
    .pull = s_pull, .ack = s_ack, .extend = s_extend};

static unsigned script_get(struct script *sc, const unsigned *field)
{
	pthread_mutex_lock(&sc->lock);
	unsigned v = *field;
	pthread_mutex_unlock(&sc->lock);
	return v;
}

static void script_publish(struct script *sc, int64_t us, unsigned ack_delay_ms)
{
	pthread_mutex_lock(&sc->lock);
	sc->publish_us = us;
	sc->ack_delay_ms = ack_delay_ms;
	pthread_mutex_unlock(&sc->lock);
}

/* Wait (at most 20 s) until the feed's state is `state`. */
static bool wait_state(struct cf_feed *f, const char *state)
{
	struct cf_feed_stats st;
	for (int i = 0; i < 2000; i++) {
		cf_feed_get_stats(f, &st);
		if (!strcmp(st.state, state))
			return true;
		nap_ms(10);
	}
	return false;
}

static void test_feed_thread(void)
{
	char dir[300];
	struct cf_store *s;
	struct script sc = {.lock = PTHREAD_MUTEX_INITIALIZER};
	struct cf_feed_source src = {.ops = &script_ops, .name = "script", .impl = &sc};
	struct cf_feed *f;
	struct cf_feed_stats st;
	snprintf(dir, sizeof dir, "%s/thread", tmpdir);
	mkdir(dir, 0700);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	struct cf_feed_config cfg = {
	    .store = s, .source = &src, .full_interval = 3600, .poll_interval = 60, .behind_s = 2};
	CHECK_EQ_INT(cf_feed_start(&cfg, &f), 0);
	CHECK(wait_state(f, "ok"));

	/* published 10 s ago, over behind_s: behind, polling */
	script_publish(&sc, now_us() - 10 * 1000000, 0);
	CHECK(wait_state(f, "behind"));
	cf_feed_get_stats(f, &st);
	CHECK(st.polling && st.lag_ms >= 9000);
	/* pulls that deliver nothing do not end it */
	unsigned pulls = script_get(&sc, &sc.pulls);
	for (int i = 0; i < 3000 && script_get(&sc, &sc.pulls) < pulls + 5; i++)
		nap_ms(10);
	cf_feed_get_stats(f, &st);
	CHECK(!strcmp(st.state, "behind") && st.polling && st.lag_ms >= 9000);

	/* in time, its acknowledgement slower than the hold is extended after:
	 * the hold is extended while it is in flight, and it is ok again */
	script_publish(&sc, now_us(), 4600);
	CHECK(wait_state(f, "ok"));
	for (int i = 0; i < 3000 && script_get(&sc, &sc.acks) < 2; i++)
		nap_ms(10);
	cf_feed_get_stats(f, &st);
	CHECK(!st.polling && st.lag_ms < 2000);
	CHECK(script_get(&sc, &sc.extends) >= 1);
	CHECK(st.extends == script_get(&sc, &sc.extends) && st.extend_failures == 0);
	CHECK(st.acked == 2 && st.ack_failures == 0 && st.messages == 2 && st.ignored == 2);
	CHECK(st.pulls >= 7 && st.pull_failures == 0);
	cf_feed_stop(f);
	cf_store_close(s);
}

int main(void)
{
	cf_layout_use(&cf_gce_layout);
	cf_log_init("test_feed", 0, 1, CF_LOG_ERR);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/clonefs-test-feed-%d", (int) getpid());
	mkdir(tmpdir, 0700);
	test_ordering();
	test_baseline();
	test_clock_forgets();
	test_decode_asset();
	test_pubsub_client();
	test_feed_thread();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	return check_summary();
}
