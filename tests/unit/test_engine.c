/* test_engine.c — the write engine (engine.h) against the fake provider
 * (fake_provider.h), with a real store and journal in a temporary directory.
 *
 * - a stop-mode clone crashed at every call it makes to the cloud, before
 *   the call and after it (its answer lost), then resumed by a new engine on
 *   the journal as it was: exactly one create, one stop and one start;
 * - a transient failure is repeated with the same request id (once made),
 *   an answer (a 4xx) is not;
 * - a start that fails in the cloud is sent again, with a new request id,
 *   after the pause the journal records (not_before, start_tries);
 * - a label write that meets a 412 re-reads, merges and keeps the other
 *   writer's key;
 * - the deletion breaker (prune.max_per_minute), with a slot given back for
 *   a delete the API refused;
 * - the safety rules of pruning: rmdir reads fresh and wants the id it
 *   showed, judges the policy on the fresh record, keep_last counts READY
 *   siblings only, the reaper deletes only what this mount labelled and
 *   reads it again first; jobs expire (clone.job_max_age_seconds) and are
 *   cancelled (cf_engine_cancel_job);
 * - a create is said to have maybe been sent before (maybe_sent) only for
 *   a job resumed at its step create;
 * - the retry layer's pauses end when its stop is raised (an unmount). */
#include "gce.h"
#include "check.h"
#include "engine.h"
#include "fake_provider.h"
#include "journal.h"
#include "layout.h"
#include "log.h"
#include "restore.h"
#include "retry_provider.h"
#include "stop.h"
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

static char tmpdir[256];
static int nworld;

static const char MOUNT_ID[] = "0123456789abcdef";
static const char DISK[] = "zones/z1/disks/d1";
static const char INST[] = "zones/z1/instances/i1";
static const char SNAP[] = "global/snapshots/snap1";

/* A mount: store, journal and engine in a directory of their own. */
struct world {
	struct fake_provider *f;
	struct cf_store *st;
	struct cf_journal *j;
	struct cf_policy *pol;
	struct cf_engine *e;
	char dir[300];
};

static const struct cf_caller caller = {
    .uid = 1000, .gid = 1000, .user = "tester", .mounter = true};

/* The cloud of the clone tests: disk d1 attached to the running i1. */
static void cloud_init(struct fake_provider *f)
{
	fp_init(f);
	f->op_steps = 2;
	fp_add(f, CF_KIND_ZONE, NULL, "z1", "UP", 0);
	struct cf_resource *d = fp_add(f, CF_KIND_DISK, "zones/z1", "d1", "READY", 100);
	d->links = calloc(1, sizeof *d->links);
	d->links[0] = strdup(INST);
	d->nlinks = 1;
	d->labels = calloc(1, sizeof *d->labels);
	d->labels[0].key = strdup("owner");
	d->labels[0].value = strdup("ops");
	d->nlabels = 1;
	struct cf_resource *i = fp_add(f, CF_KIND_INSTANCE, "zones/z1", "i1", "RUNNING", 100);
	i->links = calloc(1, sizeof *i->links);
	i->links[0] = strdup(DISK);
	i->nlinks = 1;
}

/* A snapshot of d1 in the cloud, made `age` seconds ago. */
static struct cf_resource *add_snap(struct fake_provider *f, const char *name, const char *status,
				    int64_t age)
{
	struct cf_resource *r =
	    fp_add(f, CF_KIND_SNAPSHOT, "global", name, status, (int64_t) time(NULL) - age);
	r->source = strdup(DISK);
	return r;
}

/* A mount of cloud f whose cache was filled from seed (the cloud as it was
 * listed; NULL: f), with job (NULL: none) in its journal. */
static void world_open2(struct world *w, struct fake_provider *f, struct fake_provider *seed,
			const char *policy, json_t *job, uint64_t *id, unsigned op_timeout)
{
	char err[256];
	memset(w, 0, sizeof *w);
	w->f = f;
	snprintf(w->dir, sizeof w->dir, "%s/w%d", tmpdir, nworld++);
	mkdir(w->dir, 0700);
	CHECK_EQ_INT(cf_store_open(w->dir, &w->st), 0);
	CHECK_EQ_INT(cf_journal_open(w->dir, &w->j), 0);
	CHECK_EQ_INT(cf_policy_parse(policy, cf_gce_text_valid, &w->pol, err, sizeof err), 0);
	CHECK_EQ_INT(fp_seed_store(seed ? seed : f, w->st), 0);
	if (job)
		CHECK_EQ_INT(cf_journal_add(w->j, job, id), 0);
	struct cf_engine_config cfg = {.store = w->st,
				       .provider = &f->p,
				       .policy = w->pol,
				       .journal = w->j,
				       .op_timeout_seconds = op_timeout,
				       .poll_ms = 1,
				       .mount_id = MOUNT_ID};
	CHECK_EQ_INT(cf_engine_new(&cfg, &w->e), 0);
}

static void world_open(struct world *w, struct fake_provider *f, const char *policy, json_t *job,
		       uint64_t *id, unsigned op_timeout)
{
	world_open2(w, f, NULL, policy, job, id, op_timeout);
}

static void world_close(struct world *w)
{
	cf_engine_free(w->e);
	cf_journal_close(w->j);
	cf_store_close(w->st);
	cf_policy_free(w->pol);
}

static int count_fn(void *ctx, uint64_t id)
{
	(void) id;
	(*(int *) ctx)++;
	return 0;
}

static int njobs(struct cf_journal *j)
{
	int n = 0;
	cf_jobs_each(j, count_fn, &n);
	return n;
}

static int first_fn(void *ctx, uint64_t id, json_t *job)
{
	(void) id;
	json_t **out = ctx;
	*out = json_deep_copy(job);
	return 1;
}

/* A copy of the journal's first job (NULL: none). */
static json_t *first_job(struct cf_journal *j)
{
	json_t *job = NULL;
	cf_journal_foreach(j, first_fn, &job);
	return job;
}

/* Run the background work until the journal is empty (bounded): true when
 * it emptied. */
static bool drain(struct world *w, int rounds)
{
	for (int i = 0; i < rounds; i++) {
		if (!njobs(w->j))
			return true;
		cf_engine_tick(w->e);
		usleep(2000);
	}
	return !njobs(w->j);
}

static uint64_t ino_of(struct cf_store *st, const char *path)
{
	uint64_t ino = 0;
	CHECK_EQ_INT(cf_store_ino_of_path(st, path, &ino), 0);
	return ino;
}

static int mkdir_snap(struct world *w, const char *name)
{
	char parent[200];
	snprintf(parent, sizeof parent, "%s/snapshots", DISK);
	uint64_t ino = 0;
	if (cf_store_ino_of_path(w->st, parent, &ino))
		return -ENOENT;
	return cf_engine_mkdir(w->e, &caller, ino, name, NULL);
}

static const char STOP_POLICY[] =
    "{\"clone\": {\"consistency\": \"stop\", \"require_healthy\": true},"
    " \"prune\": {\"grace_seconds\": 0, \"keep_last\": 0}}";

/* ---- a crash at every call ---- */

struct crash {
	pthread_mutex_t lock;
	struct fake_provider *f;
	struct cf_journal *j;
	int at;	    /* crash at this call (0: never) */
	int at_op;  /* or at the first call of this op, before it acts (-1: never) */
	bool after; /* ... once it acted (its answer lost) */
	int n;	    /* calls seen */
	bool crashed;
	struct fake_provider *saved; /* the cloud at the crash, copied here */
	json_t *job;		     /* the journal's job at the crash (NULL: none) */
};

static int crash_hook(void *ctx, enum fp_op op, const char *path, bool after)
{
	(void) path;
	struct crash *c = ctx;
	int rc = 0;
	pthread_mutex_lock(&c->lock);
	if (c->crashed) {
		rc = 1; /* the process is dead: nothing it does reaches the cloud */
	} else if (op != FP_LIST) {
		if (!after)
			c->n++;
		if ((c->n == c->at && after == c->after) || ((int) op == c->at_op && !after)) {
			c->crashed = true;
			c->job = first_job(c->j);
			fp_clone(c->saved, c->f);
			rc = 1;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return rc;
}

/* Plan a stop-mode clone of d1 on a new mount of cloud f, crash_hook
 * watching every call: mkdir's answer. */
static int crash_run(struct crash *c, struct fake_provider *f, struct world *w)
{
	pthread_mutex_init(&c->lock, NULL);
	cloud_init(f);
	world_open(w, f, STOP_POLICY, NULL, NULL, 1);
	c->f = f;
	c->j = w->j;
	f->hook = crash_hook;
	f->hook_ctx = c;
	return mkdir_snap(w, "snap1");
}

/* A stop-mode clone of d1 crashed at call `at` (before or after it acted),
 * then resumed from the journal as the crash left it by a new engine over
 * the cloud as it was. Returns how many calls the first run made. */
static int crash_at(int at, bool after)
{
	struct fake_provider f;
	struct world w;
	struct fake_provider saved;
	struct crash c = {.f = &f, .at = at, .after = after, .at_op = -1, .saved = &saved};
	int rc = crash_run(&c, &f, &w);
	/* The rest of the job runs in the background, until it ends or crashes. */
	for (int i = 0; i < 3000; i++) {
		pthread_mutex_lock(&c.lock);
		bool crashed = c.crashed;
		pthread_mutex_unlock(&c.lock);
		if (crashed || !njobs(w.j))
			break;
		cf_engine_tick(w.e);
		usleep(1000);
	}
	world_close(&w);
	int calls = c.n;
	char status[32];
	if (!c.crashed) {
		/* past the last call: the clone simply ran to its end */
		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_INT(f.started[FP_CREATE], 1);
		CHECK_EQ_INT(f.started[FP_STOP], 1);
		CHECK_EQ_INT(f.started[FP_START], 1);
		fp_status(&f, INST, status, sizeof status);
		CHECK_EQ_STR(status, "RUNNING");
		fp_status(&f, SNAP, status, sizeof status);
		CHECK_EQ_STR(status, "READY");
		fp_destroy(&f);
		pthread_mutex_destroy(&c.lock);
		return calls;
	}
	fp_destroy(&f);
	/* After the restart: the journal as it was, the cloud as it was. */
	bool planned = c.job != NULL;
	uint64_t id;
	world_open(&w, &saved, STOP_POLICY, c.job, &id, 5);
	bool drained = drain(&w, 2000);
	if (!drained)
		fprintf(stderr, "crash at call %d (%s): the job did not end\n", at,
			after ? "after" : "before");
	CHECK(drained);
	world_close(&w);
	unsigned want = planned ? 1 : 0;
	fp_lock(&saved);
	unsigned creates = saved.started[FP_CREATE], stops = saved.started[FP_STOP],
		 starts = saved.started[FP_START], made = saved.done[FP_CREATE];
	fp_unlock(&saved);
	if (creates != want || stops != want || starts != want || made != want)
		fprintf(stderr,
			"crash at call %d (%s), job %s: %u creates (%u made), %u stops, %u "
			"starts\n",
			at, after ? "after" : "before", planned ? "planned" : "not planned",
			creates, made, stops, starts);
	CHECK_EQ_INT(creates, want);
	CHECK_EQ_INT(made, want);
	CHECK_EQ_INT(stops, want);
	CHECK_EQ_INT(starts, want);
	fp_status(&saved, INST, status, sizeof status);
	CHECK_EQ_STR(status, "RUNNING");
	CHECK_EQ_INT(fp_exists(&saved, SNAP), planned);
	fp_destroy(&saved);
	json_decref(c.job);
	pthread_mutex_destroy(&c.lock);
	return calls;
}

static void test_crash_everywhere(void)
{
	int calls = crash_at(0, false);
	fprintf(stderr, "a stop-mode clone makes %d calls to the cloud\n", calls);
	CHECK(calls >= 10);
	for (int at = 1; at <= calls; at++) {
		crash_at(at, false);
		crash_at(at, true);
	}
}

/* ---- stop-mode restart ---- */

/* A clone job ended: its instance runs, and `failed` clones failed. */
static void check_ended(struct fake_provider *f, struct world *w, unsigned long failed)
{
	char status[32];
	struct cf_engine_stats stats;
	fp_status(f, INST, status, sizeof status);
	CHECK_EQ_STR(status, "RUNNING");
	cf_engine_get_stats(w->e, &stats);
	CHECK_EQ_INT(stats.clones_failed, failed);
}

static json_t *job_now(struct cf_journal *j)
{
	return first_job(j);
}

static int rewind_fn(void *ctx, json_t *job)
{
	(void) ctx;
	json_object_set_new(job, "not_before", json_integer((json_int_t) time(NULL) - 1));
	return 0;
}

static int find_id_fn(void *ctx, uint64_t id)
{
	*(uint64_t *) ctx = id;
	return 1;
}

static void test_restart_retries(void)
{
	struct fake_provider f;
	struct world w;
	cloud_init(&f);
	world_open(&w, &f, STOP_POLICY, NULL, NULL, 5);
	/* the start fails in the cloud (DONE with an error) */
	fp_fail_next_op(&f, FP_START, 503, "ZONE_RESOURCE_POOL_EXHAUSTED",
			"the zone has no room for the instance now");
	uint64_t id = 0;
	CHECK_EQ_INT(mkdir_snap(&w, "snap1"), 0);
	cf_jobs_each(w.j, find_id_fn, &id);
	CHECK(id != 0);
	json_t *job = NULL;
	char first_rid[40] = "";
	/* Run until the journal shows the retry planned. */
	for (int i = 0; i < 2000; i++) {
		json_decref(job);
		job = job_now(w.j);
		if (!job || json_integer_value(json_object_get(job, "start_tries")) >= 1)
			break;
		cf_engine_tick(w.e);
		usleep(1000);
	}
	CHECK(job != NULL);
	int64_t now = (int64_t) time(NULL);
	const char *rid = json_string_value(
	    json_array_get(json_object_get(json_object_get(job, "rid"), "start"), 0));
	fp_lock(&f);
	snprintf(first_rid, sizeof first_rid, "%s", f.last_rid[FP_START]);
	unsigned starts = f.started[FP_START];
	fp_unlock(&f);
	CHECK_EQ_INT(starts, 1);
	CHECK_EQ_INT(json_integer_value(json_object_get(job, "start_tries")), 1);
	json_int_t nb = json_integer_value(json_object_get(job, "not_before"));
	CHECK(nb > now && nb <= now + 11); /* 5 << 1 s from now */
	CHECK_EQ_STR(json_string_value(json_object_get(job, "step")), "start");
	CHECK(rid && strcmp(rid, first_rid));	      /* a new request id */
	CHECK(json_object_get(job, "error") == NULL); /* the clone's result stands */
	char status[32], new_rid[40];
	snprintf(new_rid, sizeof new_rid, "%s", rid ? rid : "");
	fp_status(&f, INST, status, sizeof status);
	CHECK_EQ_STR(status, "TERMINATED");
	fp_status(&f, SNAP, status, sizeof status);
	CHECK_EQ_STR(status, "READY");
	json_decref(job);
	/* Before not_before: nothing is sent. */
	cf_engine_tick(w.e);
	fp_lock(&f);
	CHECK_EQ_INT(f.started[FP_START], 1);
	fp_unlock(&f);
	CHECK_EQ_INT(njobs(w.j), 1);
	/* Once it passed: the start goes again, with the new id, and the job ends. */
	CHECK_EQ_INT(cf_journal_update(w.j, id, rewind_fn, NULL), 0);
	CHECK(drain(&w, 2000));
	fp_lock(&f);
	CHECK_EQ_INT(f.started[FP_START], 2);
	CHECK_EQ_STR(f.last_rid[FP_START], new_rid);
	CHECK_EQ_INT(f.started[FP_CREATE], 1);
	CHECK_EQ_INT(f.started[FP_STOP], 1);
	fp_unlock(&f);
	check_ended(&f, &w, 0);
	world_close(&w);
	fp_destroy(&f);
}

/* ---- labels: 412, re-read, merge ---- */

struct other_writer {
	struct fake_provider *f;
	int fired;
};

/* Another host writes a label between the engine's read and its write. */
static int other_hook(void *ctx, enum fp_op op, const char *path, bool after)
{
	struct other_writer *o = ctx;
	if (op == FP_SET_LABELS && !after && !o->fired++)
		fp_set_label(o->f, path, "other", "x");
	return 0;
}

static void test_label_merge(void)
{
	struct fake_provider f;
	struct world w;
	cloud_init(&f);
	add_snap(&f, "s1", "READY", 3600);
	world_open(&w, &f, STOP_POLICY, NULL, NULL, 5);
	struct other_writer o = {.f = &f};
	f.hook = other_hook;
	f.hook_ctx = &o;
	uint64_t ino = ino_of(w.st, "global/snapshots/s1");
	CHECK_EQ_INT(cf_engine_set_label(w.e, &caller, ino, "team", "blue", 4, 0), 0);
	char v[64];
	fp_label(&f, "global/snapshots/s1", "team", v, sizeof v);
	CHECK_EQ_STR(v, "blue");
	fp_label(&f, "global/snapshots/s1", "other", v, sizeof v);
	CHECK_EQ_STR(v, "x"); /* the concurrent key survives */
	CHECK_EQ_INT(atomic_load(&f.calls[FP_SET_LABELS]), 2);
	CHECK_EQ_INT(o.fired, 2);
	/* Removing a label merges the same way. */
	o.fired = 0;
	CHECK_EQ_INT(cf_engine_remove_label(w.e, &caller, ino, "team"), 0);
	fp_label(&f, "global/snapshots/s1", "team", v, sizeof v);
	CHECK_EQ_STR(v, "");
	fp_label(&f, "global/snapshots/s1", "other", v, sizeof v);
	CHECK_EQ_STR(v, "x");
	f.hook = NULL;
	world_close(&w);
	fp_destroy(&f);
}

/* ---- the breaker ---- */

static void test_breaker(void)
{
	struct fake_provider f;
	struct world w;
	cloud_init(&f);
	for (int i = 1; i <= 4; i++) {
		char name[8];
		snprintf(name, sizeof name, "s%d", i);
		add_snap(&f, name, "READY", 3600 + i);
	}
	world_open(&w, &f,
		   "{\"prune\": {\"grace_seconds\": 0, \"keep_last\": 0, \"max_per_minute\": 2}}",
		   NULL, NULL, 5);
	uint64_t coll = ino_of(w.st, "global/snapshots");
	/* A delete the API refuses (403) gives its slot back. */
	struct fp_fail denied = {.op = FP_REMOVE,
				 .nth = 1,
				 .times = 1,
				 .err = -EACCES,
				 .http = 403,
				 .reason = "forbidden",
				 .message = "Required 'compute.snapshots.delete' permission"};
	fp_fail(&f, &denied);
	CHECK_EQ_INT(cf_engine_rmdir(w.e, &caller, coll, "s1"), -EACCES);
	CHECK(fp_exists(&f, "global/snapshots/s1"));
	CHECK_EQ_INT(cf_engine_rmdir(w.e, &caller, coll, "s2"), 0);
	CHECK_EQ_INT(cf_engine_rmdir(w.e, &caller, coll, "s3"), 0);
	CHECK(!fp_exists(&f, "global/snapshots/s2"));
	CHECK(!fp_exists(&f, "global/snapshots/s3"));
	/* Two in the minute: the third is refused before anything is sent. */
	int removes = atomic_load(&f.calls[FP_REMOVE]);
	CHECK_EQ_INT(cf_engine_rmdir(w.e, &caller, coll, "s4"), -EAGAIN);
	CHECK_EQ_INT(atomic_load(&f.calls[FP_REMOVE]), removes);
	CHECK(fp_exists(&f, "global/snapshots/s4"));
	world_close(&w);
	fp_destroy(&f);
}

/* ---- pruning: fresh read, id, policy on the fresh record, keep_last ---- */

/* A provider whose word for a ready snapshot is "available" (as EC2's is),
 * over the fake's own words: readiness is the provider's reading. */
static const struct cf_provider_ops *fake_ops;
static enum cf_state available_state(enum cf_kind kind, const char *status)
{
	if (status && !strcmp(status, "available"))
		return CF_STATE_READY;
	return fake_ops->state(kind, status);
}

static void test_prune_safety(void)
{
	struct fake_provider f;
	struct world w;
	cloud_init(&f);
	add_snap(&f, "gone-and-back", "READY", 3600);
	add_snap(&f, "protected-since", "READY", 3600);
	world_open(&w, &f, "{\"prune\": {\"grace_seconds\": 0, \"keep_last\": 0}}", NULL, NULL, 5);
	uint64_t coll = ino_of(w.st, "global/snapshots");
	char id[32];

	/* Deleted and re-created under its name since the mount showed it:
	 * ESTALE, nothing sent, and the entry now shows the new one. */
	fp_recreate(&f, "global/snapshots/gone-and-back");
	fp_lock(&f);
	snprintf(id, sizeof id, "%s", fp_find(&f, "global/snapshots/gone-and-back")->id);
	fp_unlock(&f);
	CHECK_EQ_INT(cf_engine_rmdir(w.e, &caller, coll, "gone-and-back"), -ESTALE);
	CHECK_EQ_INT(atomic_load(&f.calls[FP_REMOVE]), 0);
	CHECK(fp_exists(&f, "global/snapshots/gone-and-back"));
	struct cf_resource r = {0};
	CHECK_EQ_INT(cf_store_resource(w.st, ino_of(w.st, "global/snapshots/gone-and-back"), &r),
		     0);
	CHECK_EQ_STR(r.id, id);
	cf_resource_clear(&r);

	/* Protected in the API since the cache was filled: the policy is judged
	 * on the fresh record. */
	fp_set_label(&f, "global/snapshots/protected-since", "keep", "true");
	CHECK_EQ_INT(cf_engine_rmdir(w.e, &caller, coll, "protected-since"), -EPERM);
	CHECK_EQ_INT(atomic_load(&f.calls[FP_REMOVE]), 0);
	CHECK(fp_exists(&f, "global/snapshots/protected-since"));
	world_close(&w);
	fp_destroy(&f);

	/* keep_last = 1 counts READY siblings only, as the API says they are
	 * now: the cache shows a newer READY one, the API says it FAILED, so
	 * the older one is the newest READY and is kept. */
	cloud_init(&f);
	add_snap(&f, "older", "READY", 7200);
	add_snap(&f, "newer", "READY", 3600);
	world_open(&w, &f, "{\"prune\": {\"grace_seconds\": 0, \"keep_last\": 1}}", NULL, NULL, 5);
	coll = ino_of(w.st, "global/snapshots");
	fp_lock(&f);
	struct cf_resource *n = fp_find(&f, "global/snapshots/newer");
	free(n->status);
	n->status = strdup("FAILED");
	fp_unlock(&f);
	CHECK_EQ_INT(cf_engine_rmdir(w.e, &caller, coll, "older"), -EPERM);
	CHECK(fp_exists(&f, "global/snapshots/older"));
	/* ... and once the newer one is READY in the API, the older may go. */
	fp_lock(&f);
	n = fp_find(&f, "global/snapshots/newer");
	free(n->status);
	n->status = strdup("READY");
	fp_unlock(&f);
	CHECK_EQ_INT(fp_seed_store(&f, w.st), 0); /* a sync catches up */
	CHECK_EQ_INT(cf_engine_rmdir(w.e, &caller, coll, "older"), 0);
	CHECK(!fp_exists(&f, "global/snapshots/older"));
	world_close(&w);
	fp_destroy(&f);

	/* keep_last = 1 judges r's own readiness as the provider reads its
	 * word: the disk's only snapshot, "available" (READY to this
	 * provider), is its newest READY one and is kept; once the API says it
	 * FAILED it is none of the kept ones and may go. */
	static struct cf_provider_ops ops;
	cloud_init(&f);
	fake_ops = f.p.ops;
	ops = *f.p.ops;
	ops.state = available_state;
	f.p.ops = &ops;
	add_snap(&f, "only", "available", 3600);
	world_open(&w, &f, "{\"prune\": {\"grace_seconds\": 0, \"keep_last\": 1}}", NULL, NULL, 5);
	coll = ino_of(w.st, "global/snapshots");
	CHECK_EQ_INT(cf_engine_rmdir(w.e, &caller, coll, "only"), -EPERM);
	CHECK(fp_exists(&f, "global/snapshots/only"));
	fp_lock(&f);
	n = fp_find(&f, "global/snapshots/only");
	if (n) { /* NULL when pruned above (a failed check) */
		free(n->status);
		n->status = strdup("FAILED");
	}
	fp_unlock(&f);
	CHECK_EQ_INT(cf_engine_rmdir(w.e, &caller, coll, "only"), 0);
	CHECK(!fp_exists(&f, "global/snapshots/only"));
	world_close(&w);
	fp_destroy(&f);
}

/* ---- the reaper ---- */

static void trash(struct fake_provider *f, const char *name, int64_t at, const char *mount,
		  const char *rid)
{
	char path[128], value[CF_LABEL_VALUE_MAX + 1];
	snprintf(path, sizeof path, "global/snapshots/%s", name);
	fp_lock(f);
	struct cf_resource *r = fp_find(f, path);
	char id[32];
	snprintf(id, sizeof id, "%s", rid ? rid : r->id);
	fp_unlock(f);
	if (mount)
		CHECK_EQ_INT(cf_trash_value_format(at, mount, id, value, sizeof value), 0);
	else
		snprintf(value, sizeof value, "%lld", (long long) at);
	fp_set_label(f, path, CF_TRASH_LABEL, value);
}

struct held_seen {
	int n, not_ours;
	bool t2, t5;
};

static void held_fn(void *ctx, const char *path, const char *value, bool not_ours,
		    const char *reason)
{
	(void) value;
	(void) reason;
	struct held_seen *h = ctx;
	h->n++;
	h->not_ours += not_ours;
	if (strstr(path, "/t2"))
		h->t2 = not_ours;
	if (strstr(path, "/t5"))
		h->t5 = not_ours;
}

static void test_reaper(void)
{
	struct fake_provider f;
	struct world w;
	cloud_init(&f);
	int64_t past = (int64_t) time(NULL) - 10;
	for (int i = 1; i <= 6; i++) {
		char name[8];
		snprintf(name, sizeof name, "t%d", i);
		add_snap(&f, name, "READY", 3600 + i);
	}
	trash(&f, "t1", past, MOUNT_ID, NULL);		 /* ours, due: deleted */
	trash(&f, "t2", past, "fedcba9876543210", NULL); /* another mount's */
	trash(&f, "t3", past, MOUNT_ID, NULL);		 /* restored in the API since */
	trash(&f, "t4", past, MOUNT_ID, NULL);		 /* re-created in the API since */
	trash(&f, "t5", past, NULL, NULL);		 /* a bare epoch: not ours */
	trash(&f, "t6", past + 3600, MOUNT_ID, NULL);	 /* ours, not due yet */
	/* The cache holds the labels as listed; then the API changes behind it:
	 * t3 restored by another mount, t4 deleted and made again. */
	struct fake_provider listed;
	fp_clone(&listed, &f);
	fp_set_label(&f, "global/snapshots/t3", CF_TRASH_LABEL, NULL);
	fp_recreate(&f, "global/snapshots/t4");
	world_open2(&w, &f, &listed, "{\"prune\": {\"grace_seconds\": 60, \"keep_last\": 0}}", NULL,
		    NULL, 5);
	/* The engine's thread reaps at once (a tick beside it would be a second
	 * reaper, which the daemon never runs). */
	for (int i = 0; i < 5000 && cf_engine_foreach_held(w.e, NULL, NULL) < 1; i++)
		usleep(1000);
	CHECK(!fp_exists(&f, "global/snapshots/t1"));
	for (int i = 2; i <= 6; i++) {
		char path[64];
		snprintf(path, sizeof path, "global/snapshots/t%d", i);
		CHECK(fp_exists(&f, path));
	}
	fp_lock(&f);
	CHECK_EQ_INT(f.started[FP_REMOVE], 1);
	fp_unlock(&f);
	/* Each due one of ours was read fresh before its delete. */
	CHECK(atomic_load(&f.calls[FP_GET]) >= 3);
	struct held_seen h = {0};
	CHECK(cf_engine_foreach_held(w.e, held_fn, &h) >= 1);
	CHECK(h.t2);
	CHECK(h.t5);
	CHECK_EQ_INT(h.not_ours, 2);
	CHECK_EQ_INT(h.n, 3); /* t2, t5, and t4 (labelled for another id) */
	world_close(&w);
	fp_destroy(&listed);
	fp_destroy(&f);
}

/* ---- transient failures: repeated, never acting twice ---- */

static void test_retries(void)
{
	struct fake_provider f;
	struct world w;
	cloud_init(&f);
	world_open(&w, &f, "{\"clone\": {\"consistency\": \"crash\"}}", NULL, NULL, 5);
	/* A create whose answer was lost (a 503 after it took effect): sent
	 * again with its request id, one snapshot made. */
	struct fp_fail lost = {.op = FP_CREATE,
			       .nth = 1,
			       .times = 1,
			       .err = -EAGAIN,
			       .http = 503,
			       .message = "backend error",
			       .after = true};
	fp_fail(&f, &lost);
	CHECK_EQ_INT(mkdir_snap(&w, "snap1"), 0);
	CHECK_EQ_INT(atomic_load(&f.calls[FP_CREATE]), 2);
	fp_lock(&f);
	CHECK_EQ_INT(f.started[FP_CREATE], 1);
	fp_unlock(&f);
	/* A 403 is the API's answer: not repeated. */
	struct fp_fail denied = {.op = FP_CREATE,
				 .nth = 1,
				 .times = 1,
				 .err = -EACCES,
				 .http = 403,
				 .message = "denied"};
	fp_fail(&f, &denied);
	CHECK_EQ_INT(mkdir_snap(&w, "snap2"), -EACCES);
	CHECK_EQ_INT(atomic_load(&f.calls[FP_CREATE]), 3);
	/* A read that finds no answer is tried again, a few times. */
	struct fp_fail quiet = {.op = FP_GET,
				.path = DISK,
				.nth = 1,
				.times = 2,
				.err = -EHOSTUNREACH,
				.message = "no route to host"};
	fp_fail(&f, &quiet);
	int gets = atomic_load(&f.calls[FP_GET]);
	CHECK_EQ_INT(mkdir_snap(&w, "snap3"), 0);
	CHECK(atomic_load(&f.calls[FP_GET]) - gets >= 3);
	CHECK(drain(&w, 2000));
	CHECK(fp_exists(&f, "global/snapshots/snap3"));
	world_close(&w);
	fp_destroy(&f);
}

/* ---- giving a job up: expiry and cancel ---- */

/* A stop-mode clone of d1 planned and crashed just before its stop left:
 * the journal's job (at step stop, stop_sent) and the cloud then. */
static json_t *planned_job(struct fake_provider *saved)
{
	struct fake_provider f;
	struct world w;
	struct crash c = {.f = &f, .at_op = FP_STOP, .saved = saved};
	crash_run(&c, &f, &w);
	world_close(&w);
	fp_destroy(&f);
	pthread_mutex_destroy(&c.lock);
	CHECK(c.crashed && c.job);
	if (!c.crashed) {
		fp_init(saved);
		return NULL;
	}
	CHECK_EQ_STR(json_string_value(json_object_get(c.job, "step")), "stop");
	return c.job;
}

static void counts(struct fake_provider *f, unsigned create, unsigned stop, unsigned start)
{
	fp_lock(f);
	CHECK_EQ_INT(f->started[FP_CREATE], create);
	CHECK_EQ_INT(f->started[FP_STOP], stop);
	CHECK_EQ_INT(f->started[FP_START], start);
	fp_unlock(f);
}

static void test_expiry(void)
{
	static const char policy[] = "{\"clone\": {\"consistency\": \"stop\", "
				     "\"job_max_age_seconds\": 100}}";
	for (int sent = 0; sent <= 1; sent++) {
		struct fake_provider f;
		struct world w;
		uint64_t id;
		json_t *job = planned_job(&f);
		if (!job)
			return;
		json_object_set_new(job, "created", json_integer((json_int_t) time(NULL) - 1000));
		json_object_set_new(job, "stop_sent", json_boolean(sent));
		world_open(&w, &f, policy, job, &id, 5);
		CHECK(drain(&w, 2000));
		/* Never got past its first cloud step: given up, no create; the
		 * instance started again only when a stop may have left. */
		counts(&f, 0, 0, (unsigned) sent);
		CHECK(!fp_exists(&f, SNAP));
		check_ended(&f, &w, 1);
		world_close(&w);
		json_decref(job);
		fp_destroy(&f);
	}
	/* Young enough: resumed and carried out. */
	struct fake_provider f;
	struct world w;
	uint64_t id;
	json_t *job = planned_job(&f);
	if (!job)
		return;
	world_open(&w, &f, policy, job, &id, 5);
	CHECK(drain(&w, 2000));
	counts(&f, 1, 1, 1);
	CHECK(fp_exists(&f, SNAP));
	world_close(&w);
	json_decref(job);
	fp_destroy(&f);
}

/* The provider hears that a create may have been sent before exactly when
 * the journal says so: a job resumed at its step create (crashed as the
 * create left); never a mkdir's own job, nor one resumed before that step. */
static void test_maybe_sent(void)
{
	struct fake_provider f, saved;
	struct world w;
	uint64_t id;
	struct crash c = {.f = &f, .at_op = FP_CREATE, .saved = &saved};
	crash_run(&c, &f, &w);
	world_close(&w);
	CHECK(c.crashed && c.job);
	CHECK_EQ_INT(atomic_load(&f.calls[FP_CREATE]), 1);
	CHECK_EQ_INT(atomic_load(&f.maybe_sent), 0); /* planned a moment ago: never sent */
	fp_destroy(&f);
	pthread_mutex_destroy(&c.lock);
	if (c.job) {
		CHECK_EQ_STR(json_string_value(json_object_get(c.job, "step")), "create");
		world_open(&w, &saved, STOP_POLICY, c.job, &id, 5);
		CHECK(drain(&w, 2000));
		world_close(&w);
		CHECK_EQ_INT(atomic_load(&saved.calls[FP_CREATE]), 1);
		CHECK_EQ_INT(atomic_load(&saved.maybe_sent), 1);
		counts(&saved, 1, 1, 1); /* the stop before the crash */
		json_decref(c.job);
	}
	fp_destroy(&saved);
	/* resumed at its step stop: the create is sent in this run, for the
	 * first time */
	json_t *job = planned_job(&f);
	if (!job)
		return;
	world_open(&w, &f, STOP_POLICY, job, &id, 5);
	CHECK(drain(&w, 2000));
	world_close(&w);
	CHECK_EQ_INT(atomic_load(&f.calls[FP_CREATE]), 1);
	CHECK_EQ_INT(atomic_load(&f.maybe_sent), 0);
	counts(&f, 1, 1, 1);
	json_decref(job);
	fp_destroy(&f);
}

static void test_cancel(void)
{
	struct fake_provider f;
	struct world w;
	uint64_t id;
	json_t *job = planned_job(&f);
	if (!job)
		return;
	json_object_set_new(job, "stop_sent", json_false());
	/* The source cannot be re-checked now: the resumed job waits. */
	struct fp_fail unreadable = {
	    .op = FP_GET, .path = DISK, .err = -EIO, .http = 0, .message = "disk unreadable"};
	fp_fail(&f, &unreadable);
	world_open(&w, &f, STOP_POLICY, job, &id, 5);
	cf_engine_tick(w.e);
	CHECK_EQ_INT(njobs(w.j), 1);
	CHECK_EQ_INT(cf_engine_cancel_job(w.e, &caller, id + 1, ".clonefs/jobs/none"), -ENOENT);
	CHECK_EQ_INT(cf_engine_cancel_job(w.e, &caller, id, ".clonefs/jobs/1"), 0);
	char *line = NULL;
	size_t len = 0;
	CHECK_EQ_INT(cf_jobs_describe(w.j, id, &line, &len), 0);
	CHECK(line && strstr(line, "\"cancelled\":true"));
	free(line);
	fp_clear_fails(&f);
	CHECK(drain(&w, 2000));
	counts(&f, 0, 0, 0); /* nothing was sent, nothing to start */
	CHECK(!fp_exists(&f, SNAP));
	world_close(&w);
	json_decref(job);
	fp_destroy(&f);

	/* An accepted clone cannot be cancelled. Here its instance cannot be
	 * started again, so the job stays, accepted, at its start. */
	job = planned_job(&f);
	if (!job)
		return;
	struct fp_fail nostart = {
	    .op = FP_START, .err = -EIO, .http = 0, .message = "start refused"};
	fp_fail(&f, &nostart);
	world_open(&w, &f, STOP_POLICY, job, &id, 1);
	json_t *now = NULL;
	for (int i = 0; i < 3000; i++) {
		json_decref(now);
		now = first_job(w.j);
		if (!now || (json_is_true(json_object_get(now, "accepted")) &&
			     !strcmp(json_string_value(json_object_get(now, "step")), "start")))
			break;
		usleep(1000);
	}
	CHECK(now && json_is_true(json_object_get(now, "accepted")));
	json_decref(now);
	CHECK_EQ_INT(cf_engine_cancel_job(w.e, &caller, id, ".clonefs/jobs/1"), -EBUSY);
	world_close(&w);
	json_decref(job);
	fp_destroy(&f);
}

/* ---- restore (restore.c): ln -s into a zone's disks/ ---- */

static const char RESTORE_POLICY[] =
    "{\"clone\": {\"consistency\": \"crash\", \"require_healthy\": false, "
    "\"max_per_source\": 2},"
    " \"restore\": {\"replicated_selector\": {\"role\": \"replica\"}}}";
static const char RDISK[] = "zones/z1/disks/r1";
static const char RLINK[] = "../../../global/snapshots/snap1";

static int all_fn(void *ctx, uint64_t id, json_t *job)
{
	(void) id;
	(void) job;
	(*(int *) ctx)++;
	return 0;
}

/* Every job of the journal, of any type (njobs counts those .clonefs/jobs lists). */
static int nall(struct cf_journal *j)
{
	int n = 0;
	cf_journal_foreach(j, all_fn, &n);
	return n;
}

static bool drain_all(struct world *w, int rounds)
{
	for (int i = 0; i < rounds && nall(w->j); i++) {
		cf_engine_tick(w->e);
		usleep(1000);
	}
	return !nall(w->j);
}

static int restore(struct world *w, const char *link, const char *name)
{
	return cf_engine_symlink(w->e, &caller, link, ino_of(w->st, "zones/z1/disks"), name);
}

/* A restore of snap1 into r1, crashed at call `at` (before or after it
 * acted), resumed on the journal and the cloud as the crash left them:
 * one disk, one restore operation. The calls of the first run. */
static int restore_crash_at(int at, bool after)
{
	struct fake_provider f, saved;
	struct world w;
	struct crash c = {.f = &f, .at = at, .after = after, .at_op = -1, .saved = &saved};
	pthread_mutex_init(&c.lock, NULL);
	cloud_init(&f);
	add_snap(&f, "snap1", "READY", 60);
	world_open(&w, &f, RESTORE_POLICY, NULL, NULL, 1);
	c.j = w.j;
	f.hook = crash_hook;
	f.hook_ctx = &c;
	int rc = restore(&w, RLINK, "r1");
	for (int i = 0; i < 3000; i++) {
		pthread_mutex_lock(&c.lock);
		bool crashed = c.crashed;
		pthread_mutex_unlock(&c.lock);
		if (crashed || !nall(w.j))
			break;
		cf_engine_tick(w.e);
		usleep(1000);
	}
	world_close(&w);
	int calls = c.n;
	char status[32];
	if (!c.crashed) {
		CHECK_EQ_INT(rc, 0);
		CHECK_EQ_INT(f.started[FP_RESTORE], 1);
		fp_status(&f, RDISK, status, sizeof status);
		CHECK_EQ_STR(status, "READY");
		fp_destroy(&f);
		pthread_mutex_destroy(&c.lock);
		return calls;
	}
	fp_destroy(&f);
	bool planned = c.job != NULL;
	uint64_t id;
	world_open(&w, &saved, RESTORE_POLICY, c.job, &id, 5);
	CHECK(drain_all(&w, 2000));
	world_close(&w);
	unsigned want = planned ? 1 : 0;
	fp_lock(&saved);
	unsigned started = saved.started[FP_RESTORE], made = saved.done[FP_RESTORE];
	fp_unlock(&saved);
	if (started != want || made != want)
		fprintf(stderr, "restore crashed at call %d (%s), job %s: %u restores (%u made)\n",
			at, after ? "after" : "before", planned ? "planned" : "not planned",
			started, made);
	CHECK_EQ_INT(started, want);
	CHECK_EQ_INT(made, want);
	CHECK_EQ_INT(fp_exists(&saved, RDISK), planned);
	if (planned) {
		char from[80];
		fp_label(&saved, RDISK, "clonefs-restored-from", from, sizeof from);
		CHECK(!strncmp(from, "snap1-", 6));
	}
	fp_destroy(&saved);
	json_decref(c.job);
	pthread_mutex_destroy(&c.lock);
	return calls;
}

static void test_restore_crash_everywhere(void)
{
	int calls = restore_crash_at(0, false);
	fprintf(stderr, "a restore makes %d calls to the cloud\n", calls);
	CHECK(calls >= 3);
	for (int at = 1; at <= calls; at++) {
		restore_crash_at(at, false);
		restore_crash_at(at, true);
	}
}

static void test_restore_rules(void)
{
	struct fake_provider f;
	struct world w;
	char v[80];
	cloud_init(&f);
	add_snap(&f, "snap1", "READY", 60);
	fp_set_label(&f, SNAP, "role", "replica");
	add_snap(&f, "snap2", "READY", 60);
	world_open(&w, &f, RESTORE_POLICY, NULL, NULL, 5);
	/* not a copy, a kind that is not made from it, a taken name */
	CHECK_EQ_INT(restore(&w, "../d1", "x1"), -EINVAL);
	CHECK_EQ_INT(restore(&w, "../../../../..", "x2"), -EINVAL);
	CHECK_EQ_INT(restore(&w, "../../../global/snapshots/none", "x3"), -EINVAL);
	CHECK_EQ_INT(
	    cf_engine_symlink(w.e, &caller, RLINK, ino_of(w.st, "zones/z1/instances"), "x4"),
	    -EINVAL);
	CHECK_EQ_INT(restore(&w, RLINK, "d1"), -EEXIST);
	CHECK_EQ_INT(f.started[FP_RESTORE], 0);
	/* a replicated source: the new disk is marked */
	CHECK_EQ_INT(restore(&w, RLINK, "r1"), 0);
	CHECK(drain_all(&w, 2000));
	fp_label(&f, RDISK, "clonefs-resync", v, sizeof v);
	CHECK_EQ_STR(v, "required");
	fp_label(&f, RDISK, "clonefs-depth", v, sizeof v);
	CHECK_EQ_STR(v, "1");
	/* ... and refused as a clone source until the resync is confirmed */
	char snaps[200];
	snprintf(snaps, sizeof snaps, "%s/snapshots", RDISK);
	CHECK_EQ_INT(cf_engine_mkdir(w.e, &caller, ino_of(w.st, snaps), "early", NULL), -EHOSTDOWN);
	CHECK_EQ_INT(cf_engine_remove_label(w.e, &caller, ino_of(w.st, RDISK), "clonefs-resync"),
		     0);
	fp_label(&f, RDISK, "clonefs-resync", v, sizeof v);
	CHECK_EQ_STR(v, "");
	fp_label(&f, RDISK, "clonefs-resync-confirmed", v, sizeof v);
	CHECK(strstr(v, "tester") != NULL);
	CHECK_EQ_INT(cf_engine_mkdir(w.e, &caller, ino_of(w.st, snaps), "later", NULL), 0);
	/* an unreplicated source: no mark */
	CHECK_EQ_INT(restore(&w, "../../../global/snapshots/snap2", "r2"), 0);
	CHECK(drain_all(&w, 2000));
	fp_label(&f, "zones/z1/disks/r2", "clonefs-resync", v, sizeof v);
	CHECK_EQ_STR(v, "");
	/* max_per_source counts restored disks: snap1 has r1, one more, then no */
	CHECK_EQ_INT(restore(&w, RLINK, "r3"), 0);
	CHECK_EQ_INT(restore(&w, RLINK, "r4"), -EDQUOT);
	/* the source re-created since the mount saw it: ESTALE, nothing sent */
	unsigned before = f.started[FP_RESTORE];
	fp_recreate(&f, "global/snapshots/snap2");
	CHECK_EQ_INT(restore(&w, "../../../global/snapshots/snap2", "r5"), -ESTALE);
	CHECK_EQ_INT(f.started[FP_RESTORE], before);
	/* a transient failure of the restore call: repeated with its request id, one disk */
	struct fp_fail flaky = {.op = FP_RESTORE,
				.nth = 1,
				.times = 2,
				.err = -EAGAIN,
				.http = 503,
				.reason = "backendError",
				.message = "busy",
				.after = true};
	fp_fail(&f, &flaky);
	CHECK_EQ_INT(restore(&w, "../../../global/snapshots/snap2", "r6"), 0);
	fp_clear_fails(&f);
	CHECK(drain_all(&w, 2000));
	CHECK_EQ_INT(f.started[FP_RESTORE], before + 1);
	world_close(&w);
	fp_destroy(&f);
}

static void test_restore_resolve(void)
{
	char out[CF_PATH_MAX], why[256];
	CHECK_EQ_INT(cf_restore_resolve("/mnt/gce", "zones/z1/disks", "../../../global/images/i",
					out, sizeof out, why, sizeof why),
		     0);
	CHECK_EQ_STR(out, "global/images/i");
	CHECK_EQ_INT(cf_restore_resolve("/mnt/gce/", "zones/z1/disks",
					"/mnt/gce/global/snapshots/s", out, sizeof out, why,
					sizeof why),
		     0);
	CHECK_EQ_STR(out, "global/snapshots/s");
	/* a snapshot shown under its disk names the snapshot */
	CHECK_EQ_INT(cf_restore_resolve(NULL, "zones/z1/disks", "./d1/snapshots/s", out, sizeof out,
					why, sizeof why),
		     0);
	CHECK_EQ_STR(out, "global/snapshots/s");
	CHECK_EQ_INT(cf_restore_resolve("/mnt/gce", "zones/z1/disks",
					"/mnt/gcex/global/snapshots/s", out, sizeof out, why,
					sizeof why),
		     -EINVAL);
	CHECK_EQ_INT(cf_restore_resolve(NULL, "zones/z1/disks", "/global/snapshots/s", out,
					sizeof out, why, sizeof why),
		     -EINVAL);
	CHECK_EQ_INT(cf_restore_resolve(NULL, "zones/z1/disks", "../../../../global/snapshots/s",
					out, sizeof out, why, sizeof why),
		     -EINVAL);
	CHECK_EQ_INT(cf_restore_resolve(NULL, "zones/z1/disks", "../../../.clonefs/trash", out,
					sizeof out, why, sizeof why),
		     -EINVAL);
}

/* ---- flush mode through the policy's flush and thaw commands ---- */

static char hook_log[400];

/* Scripts that append "WHAT SOURCE CONSISTENCY" to hook_log (their
 * environment is the health command's: only PATH and CLONEFS_*). */
static void write_hooks(char *flush, char *thaw, char *bad, size_t size)
{
	snprintf(hook_log, sizeof hook_log, "%s/hooks.log", tmpdir);
	const char *names[3] = {"flush", "thaw", "badflush"};
	char *paths[3] = {flush, thaw, bad};
	for (int i = 0; i < 3; i++) {
		snprintf(paths[i], size, "%s/%s.sh", tmpdir, names[i]);
		FILE *fp = fopen(paths[i], "w");
		CHECK(fp != NULL);
		if (!fp)
			return;
		fprintf(fp,
			"#!/bin/sh\necho \"%s $CLONEFS_SOURCE $CLONEFS_CONSISTENCY "
			"${CLONEFS_SOURCE_JSON:+json}\" >> '%s'\n%s",
			names[i], hook_log, i == 2 ? "exit 3\n" : "");
		fclose(fp);
		chmod(paths[i], 0755);
	}
}

static const char *read_hooks(void)
{
	static char buf[2048];
	buf[0] = '\0';
	FILE *fp = fopen(hook_log, "r");
	if (fp) {
		size_t n = fread(buf, 1, sizeof buf - 1, fp);
		buf[n] = '\0';
		fclose(fp);
	}
	return buf;
}

/* What the log held when the create was sent. */
static char log_at_create[2048];

static int note_create(void *ctx, enum fp_op op, const char *path, bool after)
{
	(void) ctx;
	(void) path;
	if (op == FP_CREATE && !after)
		snprintf(log_at_create, sizeof log_at_create, "%s", read_hooks());
	return 0;
}

static void flush_world(struct fake_provider *f, struct world *w, unsigned caps, const char *flush,
			const char *thaw)
{
	char policy[1200];
	snprintf(policy, sizeof policy,
		 "{\"clone\": {\"consistency\": \"flush\", \"require_healthy\": true"
		 "%s%s%s%s%s%s}}",
		 flush ? ", \"flush_command\": [\"" : "", flush ? flush : "", flush ? "\"]" : "",
		 thaw ? ", \"thaw_command\": [\"" : "", thaw ? thaw : "", thaw ? "\"]" : "");
	cloud_init(f);
	fp_set_consistency(f, caps);
	f->hook = note_create;
	world_open(w, f, policy, NULL, NULL, 5);
	unlink(hook_log);
	log_at_create[0] = '\0';
}

static void test_flush_commands(void)
{
	char flush[300], thaw[300], bad[300];
	struct fake_provider f;
	struct world w;
	const unsigned no_flush = CF_CAP_CRASH | CF_CAP_STOP;
	const char both[] = "flush zones/z1/disks/d1 flush json\n"
			    "thaw zones/z1/disks/d1 flush json\n";
	write_hooks(flush, thaw, bad, sizeof flush);

	/* No flush of its own and no command: EOPNOTSUPP, nothing sent. */
	flush_world(&f, &w, no_flush, NULL, NULL);
	CHECK_EQ_INT(mkdir_snap(&w, "snap1"), -EOPNOTSUPP);
	CHECK_EQ_INT(atomic_load(&f.calls[FP_CREATE]), 0);
	CHECK_EQ_INT(njobs(w.j), 0);
	world_close(&w);
	fp_destroy(&f);
	/* A thaw command alone is no flush. */
	flush_world(&f, &w, no_flush, NULL, thaw);
	CHECK_EQ_INT(mkdir_snap(&w, "snap1"), -EOPNOTSUPP);
	CHECK_EQ_STR(read_hooks(), "");
	world_close(&w);
	fp_destroy(&f);

	/* The commands are the flush: flush before the create, thaw after it
	 * was accepted (before mkdir answers); the provider is not asked. */
	flush_world(&f, &w, no_flush, flush, thaw);
	CHECK_EQ_INT(mkdir_snap(&w, "snap1"), 0);
	CHECK_EQ_STR(log_at_create, "flush zones/z1/disks/d1 flush json\n");
	CHECK_EQ_STR(read_hooks(), both);
	CHECK_EQ_INT(atomic_load(&f.guest_flushes), 0);
	CHECK(drain(&w, 2000));
	CHECK(fp_exists(&f, SNAP));
	world_close(&w);
	fp_destroy(&f);

	/* A provider with a flush of its own keeps it, and runs them too. */
	flush_world(&f, &w, CF_CAP_CRASH | CF_CAP_FLUSH | CF_CAP_STOP, flush, thaw);
	CHECK_EQ_INT(mkdir_snap(&w, "snap1"), 0);
	CHECK_EQ_STR(read_hooks(), both);
	CHECK_EQ_INT(atomic_load(&f.guest_flushes), 1);
	world_close(&w);
	fp_destroy(&f);
	flush_world(&f, &w, CF_CAP_CRASH | CF_CAP_FLUSH | CF_CAP_STOP, NULL, NULL);
	CHECK_EQ_INT(mkdir_snap(&w, "snap1"), 0);
	CHECK_EQ_INT(atomic_load(&f.guest_flushes), 1);
	CHECK_EQ_STR(read_hooks(), "");
	world_close(&w);
	fp_destroy(&f);

	/* A create the API refuses: thawed all the same. */
	flush_world(&f, &w, no_flush, flush, thaw);
	struct fp_fail denied = {
	    .op = FP_CREATE, .nth = 1, .times = 1, .err = -EACCES, .http = 403, .message = "no"};
	fp_fail(&f, &denied);
	CHECK_EQ_INT(mkdir_snap(&w, "snap1"), -EACCES);
	CHECK_EQ_STR(read_hooks(), both);
	CHECK_EQ_INT(njobs(w.j), 0);
	world_close(&w);
	fp_destroy(&f);

	/* A flush command that fails: nothing sent, thawed, EHOSTDOWN. */
	flush_world(&f, &w, no_flush, bad, thaw);
	CHECK_EQ_INT(mkdir_snap(&w, "snap1"), -EHOSTDOWN);
	CHECK_EQ_INT(atomic_load(&f.calls[FP_CREATE]), 0);
	CHECK_EQ_STR(read_hooks(), "badflush zones/z1/disks/d1 flush json\n"
				   "thaw zones/z1/disks/d1 flush json\n");
	world_close(&w);
	fp_destroy(&f);
}

/* A crash between the flush and the create (the create never left): the
 * journal resumed by a new engine sends the create once and thaws. */
static void test_flush_crash(void)
{
	char flush[300], thaw[300], bad[300];
	struct fake_provider f, saved;
	struct world w;
	write_hooks(flush, thaw, bad, sizeof flush);
	char policy[1200];
	snprintf(policy, sizeof policy,
		 "{\"clone\": {\"consistency\": \"flush\", \"flush_command\": [\"%s\"],"
		 " \"thaw_command\": [\"%s\"]}}",
		 flush, thaw);
	struct crash c = {.f = &f, .at_op = FP_CREATE, .saved = &saved};
	pthread_mutex_init(&c.lock, NULL);
	cloud_init(&f);
	fp_set_consistency(&f, CF_CAP_CRASH);
	world_open(&w, &f, policy, NULL, NULL, 1);
	unlink(hook_log);
	c.j = w.j;
	f.hook = crash_hook;
	f.hook_ctx = &c;
	log_at_create[0] = '\0';
	/* the process "dies" at the create; what its engine does after that is
	 * not the test's (its thaw is cleared from the log below) */
	CHECK(mkdir_snap(&w, "snap1") != 0);
	world_close(&w);
	fp_destroy(&f);
	CHECK(c.crashed && c.job);
	if (!c.job)
		return;
	CHECK_EQ_STR(json_string_value(json_object_get(c.job, "step")), "create");
	CHECK(json_is_true(json_object_get(c.job, "thaw_due")));
	CHECK(!strncmp(read_hooks(), "flush zones/z1/disks/d1 flush json\n", 35));
	unlink(hook_log);
	uint64_t id;
	fp_set_consistency(&saved, CF_CAP_CRASH);
	world_open(&w, &saved, policy, c.job, &id, 5);
	CHECK(drain(&w, 2000));
	world_close(&w);
	CHECK_EQ_STR(read_hooks(), "thaw zones/z1/disks/d1 flush json\n");
	fp_lock(&saved);
	CHECK_EQ_INT(saved.started[FP_CREATE], 1);
	fp_unlock(&saved);
	CHECK(fp_exists(&saved, SNAP));
	fp_destroy(&saved);
	json_decref(c.job);
	pthread_mutex_destroy(&c.lock);
}

/* ---- a provider that names resources by a label (toy_root_layout.h) ---- */

static uint64_t ino_or0(struct cf_store *st, const char *path)
{
	uint64_t ino = 0;
	return cf_store_ino_of_path(st, path, &ino) ? 0 : ino;
}

/* mkdir NAME sets the name label in the create request and is EEXIST for a
 * listed name; setting the label renames the entry (EEXIST when the new
 * name is listed, EINVAL when it cannot be one). */
static void test_name_label(void)
{
	struct fake_provider f;
	struct world w;
	char val[64];
	CHECK_EQ_INT(cf_layout_use(&toy_root_layout), 0);
	fp_init(&f);
	f.name_label = "Name";
	struct cf_resource *v = fp_add(&f, CF_KIND_DISK, "", "vol-1", "READY", 100);
	free(v->id);
	v->id = strdup("vol-1");
	world_open(&w, &f, "{\"clone\": {\"consistency\": \"crash\", \"require_healthy\": false}}",
		   NULL, NULL, 5);
	uint64_t view = ino_or0(w.st, "volumes/vol-1/snapshots");
	CHECK(view != 0);
	CHECK_EQ_INT(cf_engine_mkdir(w.e, &caller, view, "web", NULL), 0);
	CHECK(drain(&w, 2000));
	fp_label(&f, "snapshots/web", "Name", val, sizeof val);
	CHECK_EQ_STR(val, "web");
	CHECK(ino_or0(w.st, "snapshots/web") != 0);
	CHECK(ino_or0(w.st, "volumes/vol-1/snapshots/web") != 0);
	/* a listed name */
	CHECK_EQ_INT(cf_engine_mkdir(w.e, &caller, view, "web", NULL), -EEXIST);
	fp_lock(&f);
	CHECK_EQ_INT(f.started[FP_CREATE], 1);
	fp_unlock(&f);

	/* renamed through its label: the entry moves; the provider was given
	 * the resource's id path, the one the cloud knows */
	uint64_t web = ino_or0(w.st, "snapshots/web");
	char idpath[80];
	fp_lock(&f);
	struct cf_resource *made = fp_find(&f, "snapshots/web");
	snprintf(idpath, sizeof idpath, "snapshots/%s", made && made->id ? made->id : "?");
	fp_unlock(&f);
	CHECK_EQ_INT(cf_engine_set_label(w.e, &caller, web, "Name", "db", 2, 0), 0);
	fp_lock(&f);
	CHECK_EQ_STR(f.last_path[FP_SET_LABELS], idpath);
	CHECK_EQ_STR(f.last_path[FP_CREATE], "volumes/vol-1");
	fp_unlock(&f);
	CHECK(ino_or0(w.st, "snapshots/db") != 0);
	CHECK_EQ_INT(ino_or0(w.st, "snapshots/web"), 0);
	fp_label(&f, "snapshots/db", "Name", val, sizeof val);
	CHECK_EQ_STR(val, "db");

	CHECK_EQ_INT(cf_engine_mkdir(w.e, &caller, view, "other", NULL), 0);
	CHECK(drain(&w, 2000));
	uint64_t other = ino_or0(w.st, "snapshots/other");
	CHECK(other != 0);
	CHECK_EQ_INT(cf_engine_set_label(w.e, &caller, other, "Name", "db", 2, 0), -EEXIST);
	CHECK_EQ_INT(cf_engine_set_label(w.e, &caller, other, "Name", "a/b", 3, 0), -EINVAL);
	CHECK_EQ_INT(cf_engine_set_label(w.e, &caller, other, "Name", "web", 3, 0), 0);
	CHECK(ino_or0(w.st, "snapshots/web") != 0 && !ino_or0(w.st, "snapshots/other"));
	/* its own name again: nothing to refuse */
	CHECK_EQ_INT(
	    cf_engine_set_label(w.e, &caller, ino_or0(w.st, "snapshots/web"), "Name", "web", 3, 0),
	    0);
	/* its name label removed: listed by its id */
	char id[64];
	fp_lock(&f);
	struct cf_resource *held = fp_find(&f, "snapshots/web");
	snprintf(id, sizeof id, "snapshots/%s", held && held->id ? held->id : "?");
	fp_unlock(&f);
	CHECK_EQ_INT(cf_engine_remove_label(w.e, &caller, ino_or0(w.st, "snapshots/web"), "Name"),
		     0);
	CHECK(ino_or0(w.st, id) != 0 && !ino_or0(w.st, "snapshots/web"));
	/* a label that is not the name label: no name rules */
	CHECK_EQ_INT(
	    cf_engine_set_label(w.e, &caller, ino_or0(w.st, "snapshots/db"), "owner", "db", 2, 0),
	    0);
	world_close(&w);
	fp_destroy(&f);
	CHECK_EQ_INT(cf_layout_use(&cf_gce_layout), 0);
}

struct stopped_call {
	struct cf_provider *api;
	int rc;
	int64_t took_ms;
};

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *stopped_get(void *arg)
{
	struct stopped_call *c = arg;
	struct cf_resource r = {0};
	struct cf_error err = {0};
	int64_t t0 = mono_ms();
	c->rc = c->api->ops->get(c->api, DISK, &r, &err);
	c->took_ms = mono_ms() - t0;
	cf_resource_clear(&r);
	return NULL;
}

/* The retry layer's pauses end when its stop is raised (an unmount): a call
 * whose API keeps failing returns its failure at once, not after its tries'
 * pauses (at least 875 ms without a deadline), and tries no more. */
static void test_retry_stops(void)
{
	struct fake_provider f;
	fp_init(&f);
	cloud_init(&f);
	struct fp_fail down = {
	    .op = FP_GET, .nth = 1, .err = -EAGAIN, .http = 503, .message = "backend error"};
	fp_fail(&f, &down);
	struct cf_stop stop;
	CHECK_EQ_INT(cf_stop_init(&stop), 0);
	struct stopped_call c = {0};
	CHECK_EQ_INT(cf_retry_provider_new(&f.p, &stop, &c.api), 0);
	pthread_t t;
	CHECK_EQ_INT(pthread_create(&t, NULL, stopped_get, &c), 0);
	/* raised during its first pause (125 to 250 ms after the first try) */
	while (atomic_load(&f.calls[FP_GET]) < 1)
		usleep(1000);
	usleep(20000);
	cf_stop_raise(&stop);
	pthread_join(t, NULL);
	CHECK_EQ_INT(c.rc, -EAGAIN);
	CHECK_EQ_INT(atomic_load(&f.calls[FP_GET]), 1);
	CHECK(c.took_ms < 500);
	/* raised already: one try, no pause */
	c.took_ms = -1;
	CHECK_EQ_INT(pthread_create(&t, NULL, stopped_get, &c), 0);
	pthread_join(t, NULL);
	CHECK_EQ_INT(c.rc, -EAGAIN);
	CHECK_EQ_INT(atomic_load(&f.calls[FP_GET]), 2);
	CHECK(c.took_ms < 100);
	cf_retry_provider_free(c.api);
	cf_stop_destroy(&stop);
	fp_destroy(&f);
}

int main(void)
{
	cf_layout_use(&cf_gce_layout);
	cf_log_init("test_engine", 0, 1, CF_LOG_WARN);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/clonefs-test-engine-%d", (int) getpid());
	mkdir(tmpdir, 0700);
	test_label_merge();
	test_breaker();
	test_prune_safety();
	test_restart_retries();
	test_retries();
	test_retry_stops();
	test_crash_everywhere();
	test_reaper();
	test_expiry();
	test_maybe_sent();
	test_cancel();
	test_restore_resolve();
	test_restore_rules();
	test_restore_crash_everywhere();
	test_flush_commands();
	test_flush_crash();
	test_name_label();
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", tmpdir);
	return check_summary();
}
