/* engine.c — the write path: clone, prune, label, restore (see engine.h).
 *
 * A clone is a job in the journal, a small state machine whose every
 * transition is written (fsync'd) before the request it leads to is sent:
 *
 *   stop -> wait_stopped -> create -> wait_created -> start -> wait_started -> done
 *
 * (crash and flush modes start at `create` and have nothing to start).
 * Every request carries a request id fixed when the job was planned, so a
 * step repeated after a crash or a lost answer returns the operation the
 * first attempt started. Once an instance was stopped, `start` always runs,
 * even when the snapshot failed: a stopped instance is never left behind. */
#include "engine.h"

#include "health.h"
#include "http.h"
#include "log.h"
#include "names.h"
#include "timefmt.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	LABEL_RETRIES = 10,
	MAX_DEPTH_WALK = 16,
	MAX_OWNED = 64,
	/* A write from the mount gives up, EAGAIN, once the API has given no
	 * useful answer for this long (DESIGN.md: within 60 s, never hangs). */
	WRITE_BUDGET_MS = 30000,
	BACKGROUND_TRIES = 4, /* transient failures repeated by the background thread */
};

struct cf_engine {
	struct cf_engine_config cfg;
	struct cf_breaker *breaker;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock; /* stop, kick, owned, stats */
	pthread_cond_t cond;
	/* Held from a job's journal entry to its owner's claim (mkdir), and by
	 * the background's claim: a job is never run by two threads. */
	pthread_mutex_t plan_lock;
	bool stop, kick;
	uint64_t owned[MAX_OWNED]; /* jobs a thread is running now */
	struct cf_engine_stats stats;
};

/* ---- small helpers ---- */

static int64_t now_s(void)
{
	return (int64_t) time(NULL);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- how long a write from the mount may wait for the API ----
 *
 * Every request a FUSE thread makes for a write runs under the thread's
 * http deadline (http.h): WRITE_BUDGET_MS from the start of the write, moved
 * on by every useful answer. A write the API keeps answering (a stop-mode
 * clone, mkdir_wait=ready) takes as long as its operations do; one that
 * cannot reach the API answers EAGAIN once the budget is spent. The
 * background thread has no deadline: it keeps to the op timeout and a few
 * tries, and what it does not finish stays in the journal. */
static void budget_start(void)
{
	cf_http_set_deadline(mono_ms() + WRITE_BUDGET_MS);
}

static void budget_renew(void)
{
	if (cf_http_deadline())
		budget_start();
}

static void budget_end(void)
{
	cf_http_set_deadline(0);
}

/* Whether a failed call may simply be repeated: no answer at all, the API's
 * 5xx or 429, or a 2xx that could not be read. Every write carries its
 * request id (or, for labels, the fingerprint), so a repeat never acts twice:
 * the API hands back the operation the first try started. */
static bool transient(int rc, const struct cf_error *err)
{
	if (rc != -EAGAIN && rc != -EPROTO && rc != -ETIMEDOUT && rc != -ECONNREFUSED &&
	    rc != -EHOSTUNREACH && rc != -ECONNRESET)
		return false;
	int st = err ? err->http_status : 0;
	return st == 0 || (st >= 200 && st < 300) || st == 429 || st >= 500;
}

/* A delay in [cap/2, cap]: writers that collided do not collide again. */
static unsigned jitter(unsigned cap)
{
	static __thread unsigned seed;
	if (!seed)
		seed = (unsigned) mono_ms() ^ (unsigned) (uintptr_t) &seed;
	return cap / 2 + (unsigned) rand_r(&seed) % (cap / 2 + 1);
}

/* Before repeating a transient failure (*tries counts them): wait a
 * jittered, growing delay. False when the write's deadline would pass first,
 * or, without a deadline, after BACKGROUND_TRIES. */
static bool again(int rc, const struct cf_error *err, unsigned *tries, const char *what)
{
	if (!transient(rc, err))
		return false;
	unsigned delay = jitter(250u << (*tries < 5 ? *tries : 5));
	int64_t deadline = cf_http_deadline();
	if (deadline ? mono_ms() + delay >= deadline : *tries + 1 >= BACKGROUND_TRIES)
		return false;
	(*tries)++;
	cf_debug("%s: %s; trying again in %u ms (try %u)", what,
		 err && err->message[0] ? err->message : strerror(-rc), delay, *tries + 1);
	sleep_ms(delay);
	return true;
}

/* The provider's calls, repeated while transient (see again); a success
 * moves the write's deadline on. */
static int api_get(struct cf_engine *e, const char *path, struct cf_resource *out,
		   struct cf_error *err)
{
	unsigned tries = 0;
	int rc;
	do {
		memset(err, 0, sizeof *err);
		rc = e->cfg.provider->ops->get(e->cfg.provider, path, out, err);
	} while (rc && again(rc, err, &tries, path));
	if (!rc)
		budget_renew();
	return rc;
}

static int api_create(struct cf_engine *e, const struct cf_create_req *req, struct cf_operation *op,
		      struct cf_error *err)
{
	unsigned tries = 0;
	int rc;
	do {
		memset(err, 0, sizeof *err);
		rc = e->cfg.provider->ops->create(e->cfg.provider, req, op, err);
	} while (rc && again(rc, err, &tries, req->name));
	if (!rc)
		budget_renew();
	return rc;
}

static int api_remove(struct cf_engine *e, const char *path, const char *rid,
		      struct cf_operation *op, struct cf_error *err)
{
	unsigned tries = 0;
	int rc;
	do {
		memset(err, 0, sizeof *err);
		rc = e->cfg.provider->ops->remove(e->cfg.provider, path, rid, op, err);
	} while (rc && again(rc, err, &tries, path));
	if (!rc)
		budget_renew();
	return rc;
}

static int api_power(struct cf_engine *e, const char *path, bool start, const char *rid,
		     struct cf_operation *op, struct cf_error *err)
{
	unsigned tries = 0;
	int rc;
	do {
		memset(err, 0, sizeof *err);
		rc = e->cfg.provider->ops->power(e->cfg.provider, path, start, rid, op, err);
	} while (rc && again(rc, err, &tries, path));
	if (!rc)
		budget_renew();
	return rc;
}

/* Log a refusal, count it, and return err (negative). */
static int refuse(struct cf_engine *e, const char *path, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int refuse(struct cf_engine *e, const char *path, int err, const char *fmt, ...)
{
	char why[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	cf_log_refusal(path, err, "%s", why);
	pthread_mutex_lock(&e->lock);
	e->stats.refusals++;
	pthread_mutex_unlock(&e->lock);
	return err < 0 ? err : -err;
}

static const char *label_of(const struct cf_resource *r, const char *key)
{
	for (size_t i = 0; r && i < r->nlabels; i++)
		if (!strcmp(r->labels[i].key, key))
			return r->labels[i].value;
	return NULL;
}

static bool owned_take(struct cf_engine *e, uint64_t id)
{
	bool ok = false;
	pthread_mutex_lock(&e->lock);
	int free_slot = -1;
	for (int i = 0; i < MAX_OWNED; i++) {
		if (e->owned[i] == id)
			goto out;
		if (!e->owned[i] && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0) {
		e->owned[free_slot] = id;
		ok = true;
	}
out:
	pthread_mutex_unlock(&e->lock);
	return ok;
}

/* The placeholder slot `from` becomes job `to`'s. */
static void owned_rename(struct cf_engine *e, uint64_t from, uint64_t to)
{
	pthread_mutex_lock(&e->lock);
	for (int i = 0; i < MAX_OWNED; i++)
		if (e->owned[i] == from) {
			e->owned[i] = to;
			break;
		}
	pthread_mutex_unlock(&e->lock);
}

static void owned_drop(struct cf_engine *e, uint64_t id)
{
	pthread_mutex_lock(&e->lock);
	for (int i = 0; i < MAX_OWNED; i++)
		if (e->owned[i] == id)
			e->owned[i] = 0;
	pthread_mutex_unlock(&e->lock);
}

static void kick_sync(struct cf_engine *e)
{
	if (e->cfg.sync)
		cf_sync_kick(e->cfg.sync);
}

/* ---- the store: what the API now says about one resource ---- */

static int store_put(struct cf_engine *e, const struct cf_resource *r)
{
	struct cf_wtxn *w;
	int rc = cf_store_wbegin(e->cfg.store, &w);
	if (rc)
		return rc;
	rc = cf_store_upsert(w, r, NULL);
	if (rc) {
		cf_store_wabort(w);
		return rc;
	}
	return cf_store_wcommit(w, &e->cfg.sink);
}

static int store_drop(struct cf_engine *e, const char *path)
{
	struct cf_wtxn *w;
	int rc = cf_store_wbegin(e->cfg.store, &w);
	if (rc)
		return rc;
	rc = cf_store_remove(w, path);
	if (rc && rc != -ENOENT) {
		cf_store_wabort(w);
		return rc;
	}
	return cf_store_wcommit(w, &e->cfg.sink);
}

/* Fetch path from the API into *out and the store. -ENOENT removes it. */
static int refresh(struct cf_engine *e, const char *path, struct cf_resource *out)
{
	struct cf_resource r = {0};
	struct cf_error err = {0};
	int rc = api_get(e, path, &r, &err);
	if (rc == -ENOENT) {
		store_drop(e, path);
		return rc;
	}
	if (rc) {
		cf_warn("%s: could not read it back from the API: %s", path,
			err.message[0] ? err.message : strerror(-rc));
		return rc;
	}
	int src = store_put(e, &r);
	if (src)
		cf_warn("%s: could not store it: %s", path, strerror(-src));
	if (out)
		*out = r;
	else
		cf_resource_clear(&r);
	return 0;
}

/* The resource at a project path, from the store. */
static int stored(struct cf_engine *e, const char *path, struct cf_resource *out)
{
	uint64_t ino;
	int rc = cf_store_ino_of_path(e->cfg.store, path, &ino);
	if (rc)
		return rc;
	return cf_store_resource(e->cfg.store, ino, out);
}

/* ---- lineage ---- */

/* Clone depth of a resource: originals are 0; a snapshot or machine image
 * of a depth-d resource is d+1; a disk made from a snapshot or image, an
 * instance made from a machine image, has its origin's depth. The
 * clonefs-depth provenance label counts too, so depth survives when the
 * lineage fields (or the resources they name) are gone. */
static unsigned depth_of(struct cf_engine *e, const struct cf_resource *r, int hops)
{
	unsigned d = 0;
	const char *l = label_of(r, "clonefs-depth");
	if (l) {
		char *end;
		unsigned long v = strtoul(l, &end, 10);
		if (*l && !*end && v < 1000)
			d = (unsigned) v;
	}
	if (hops >= MAX_DEPTH_WALK)
		return d;
	const char *up = NULL;
	unsigned step = 0;
	switch (r->kind) {
	case CF_KIND_SNAPSHOT:
	case CF_KIND_MACHINE_IMAGE:
		up = r->source;
		step = 1;
		break;
	case CF_KIND_IMAGE:
		up = r->origin ? r->origin : r->source;
		step = r->origin ? 0 : 1;
		break;
	case CF_KIND_DISK:
	case CF_KIND_INSTANCE:
		up = r->origin;
		break;
	default:
		break;
	}
	if (up) {
		struct cf_resource u = {0};
		if (!stored(e, up, &u)) {
			unsigned ud = depth_of(e, &u, hops + 1) + step;
			if (ud > d)
				d = ud;
			cf_resource_clear(&u);
		} else if (step && d == 0) {
			d = step; /* made from something we cannot see: at least one */
		}
	}
	return d;
}

struct dep_scan {
	struct cf_engine *e;
	enum cf_kind want; /* count only this kind (NONE: any) */
	bool skip_trashed;
	size_t n;
	char first[CF_PATH_MAX];
	/* keep_last: newer siblings than `created` */
	int64_t created;
	uint32_t created_ns;
	size_t newer;
	const char *self;
};

static int dep_fn(void *ctx, const char *path, size_t len)
{
	struct dep_scan *d = ctx;
	char p[CF_PATH_MAX];
	if (len >= sizeof p)
		return 0;
	memcpy(p, path, len);
	p[len] = '\0';
	if (d->self && !strcmp(p, d->self))
		return 0;
	struct cf_resource r = {0};
	if (stored(d->e, p, &r))
		return 0; /* gone already */
	if ((d->want == CF_KIND_NONE || r.kind == d->want) &&
	    !(d->skip_trashed && label_of(&r, CF_TRASH_LABEL))) {
		if (!d->n)
			snprintf(d->first, sizeof d->first, "%s", p);
		d->n++;
		if (r.created > d->created ||
		    (r.created == d->created && r.created_ns > d->created_ns))
			d->newer++;
	}
	cf_resource_clear(&r);
	return 0;
}

/* ---- operations ---- */

/* Follow op until DONE or the timeout. 0 when it finished without error;
 * the operation's errno (with its message logged for path) when it failed;
 * -EAGAIN on timeout, or once the API has stopped answering for the rest of
 * a write's budget (the operation goes on in the cloud; a journaled job
 * picks it up again). */
static int follow(struct cf_engine *e, struct cf_operation *op, const char *path, const char *what)
{
	int64_t deadline = now_ms() + (int64_t) e->cfg.op_timeout_seconds * 1000;
	unsigned delay = e->cfg.poll_ms;
	char last[256] = "";
	while (!op->done) {
		if (now_ms() > deadline) {
			cf_log_refusal(path, EAGAIN, "%s: operation %s still %s after %u s", what,
				       op->name ? op->name : "?", op->status ? op->status : "?",
				       e->cfg.op_timeout_seconds);
			return -EAGAIN;
		}
		int64_t budget = cf_http_deadline();
		if (budget && mono_ms() + (int64_t) delay >= budget) {
			cf_log_refusal(
			    path, EAGAIN,
			    "%s: the API stopped answering while operation %s was %s (%s); "
			    "it goes on in the cloud",
			    what, op->name ? op->name : "?", op->status ? op->status : "?",
			    last[0] ? last : "no answer");
			return -EAGAIN;
		}
		sleep_ms(delay);
		if (delay < 2000)
			delay = delay * 3 / 2 + 1;
		struct cf_error err = {0};
		int rc = e->cfg.provider->ops->op_poll(e->cfg.provider, op, false, &err);
		if (rc && !transient(rc, &err)) {
			cf_log_refusal(path, -rc, "%s: polling operation %s: %s", what,
				       op->name ? op->name : "?", err.message);
			return rc;
		}
		if (rc)
			snprintf(last, sizeof last, "%.255s",
				 err.message[0] ? err.message : strerror(-rc));
		else
			budget_renew();
	}
	if (op->failed) {
		int rc = cf_errno_from_error(&op->err);
		/* A guest flush that failed is the source's health, not our input. */
		if (strstr(op->err.reason, "FLUSH") || strstr(op->err.message, "flush"))
			rc = -EHOSTDOWN;
		cf_log_refusal(path, -rc, "%s failed in the cloud: %s%s%s", what, op->err.message,
			       op->err.reason[0] ? " " : "", op->err.reason);
		return rc;
	}
	return 0;
}

/* Record op in job under key so a resumed job polls the same operation. */
static void job_set_op(json_t *job, const char *key, const struct cf_operation *op)
{
	json_t *ops = json_object_get(job, "ops");
	if (!ops) {
		ops = json_object();
		json_object_set_new(job, "ops", ops);
	}
	json_object_set_new(ops, key,
			    json_pack("{s:s, s:s}", "name", op->name ? op->name : "", "scope",
				      op->scope ? op->scope : "global"));
}

static bool job_get_op(json_t *job, const char *key, struct cf_operation *op)
{
	json_t *o = json_object_get(json_object_get(job, "ops"), key);
	const char *name = json_string_value(json_object_get(o, "name"));
	const char *scope = json_string_value(json_object_get(o, "scope"));
	if (!name || !*name || !scope)
		return false;
	memset(op, 0, sizeof *op);
	op->name = strdup(name);
	op->scope = strdup(scope);
	return op->name && op->scope;
}

static const char *jstr(json_t *job, const char *key)
{
	const char *s = json_string_value(json_object_get(job, key));
	return s ? s : "";
}

static void job_fail(json_t *job, int rc, const char *msg)
{
	if (json_object_get(job, "error"))
		return; /* the first failure is the one that matters */
	json_object_set_new(job, "error", json_pack("{s:i, s:s}", "errno", -rc, "message", msg));
}

/* Where a job's target lives. */
static void job_target(json_t *job, char *buf, size_t size)
{
	enum cf_kind k =
	    strcmp(jstr(job, "kind"), "machineImage") ? CF_KIND_SNAPSHOT : CF_KIND_MACHINE_IMAGE;
	if (cf_resource_path(k, "global", jstr(job, "name"), buf, size) < 0)
		snprintf(buf, size, "global/?");
}

/* Wait until every instance in `list` reports `want` (after its operation). */
static int await_instances(struct cf_engine *e, json_t *list, const char *want, const char *what)
{
	int64_t deadline = now_ms() + (int64_t) e->cfg.op_timeout_seconds * 1000;
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		const char *path = json_string_value(v);
		unsigned delay = e->cfg.poll_ms;
		for (;;) {
			struct cf_resource r = {0};
			int rc = refresh(e, path, &r);
			bool ok = !rc && r.status && !strcmp(r.status, want);
			char status[40];
			snprintf(status, sizeof status, "%s", r.status ? r.status : "?");
			cf_resource_clear(&r);
			if (ok)
				break;
			if (rc == -ENOENT)
				return refuse(e, path, ENOENT, "%s: the instance is gone", what);
			if (now_ms() > deadline)
				return refuse(e, path, EAGAIN, "%s: still %s, not %s, after %u s",
					      what, status, want, e->cfg.op_timeout_seconds);
			sleep_ms(delay);
			if (delay < 2000)
				delay = delay * 3 / 2 + 1;
		}
	}
	return 0;
}

/* Send stop or start for every instance of the job (each with its own
 * request id), then follow each operation. */
static int power_all(struct cf_engine *e, json_t *job, bool start)
{
	json_t *list = json_object_get(job, "stop");
	json_t *rids = json_object_get(json_object_get(job, "rid"), start ? "start" : "stop");
	const char *verb = start ? "start" : "stop";
	size_t i;
	json_t *v;
	int first = 0;
	json_array_foreach(list, i, v)
	{
		const char *path = json_string_value(v);
		const char *rid = json_string_value(json_array_get(rids, i));
		struct cf_operation op = {0};
		struct cf_error err = {0};
		char key[32], what[64];
		snprintf(key, sizeof key, "%s:%zu", verb, i);
		snprintf(what, sizeof what, "%s of the instance for a stop-mode clone", verb);
		if (!job_get_op(job, key, &op)) {
			int rc = api_power(e, path, start, rid, &op, &err);
			if (rc) {
				cf_operation_clear(&op);
				if (!first)
					first = refuse(e, path, -rc, "%s: %s", what, err.message);
				continue;
			}
			job_set_op(job, key, &op);
		}
		int rc = follow(e, &op, path, what);
		cf_operation_clear(&op);
		if (rc && !first)
			first = rc;
	}
	return first;
}

/* Whether every instance of the job has its start operation recorded. */
static bool starts_sent(json_t *job)
{
	struct cf_operation op;
	size_t n = json_array_size(json_object_get(job, "stop"));
	for (size_t i = 0; i < n; i++) {
		char key[32];
		snprintf(key, sizeof key, "start:%zu", i);
		if (!job_get_op(job, key, &op))
			return false;
		cf_operation_clear(&op);
	}
	return true;
}

/* The restart of a stop-mode clone's instances must wait for a later round
 * of the background thread: keep the job (at its step) and answer with the
 * clone's own result, which the restart does not change. */
static int restart_pending(struct cf_engine *e, uint64_t id, json_t *job)
{
	cf_journal_put(e->cfg.journal, id, job);
	json_t *err = json_object_get(job, "error");
	return err ? -(int) json_integer_value(json_object_get(err, "errno")) : 0;
}

/* Wait until every instance the job stopped is RUNNING. One that is still
 * stopped once its start operation ended (it failed, or the instance was
 * stopped again) gets a new start request with a new request id (the old
 * one would only hand back the old operation), sent by a later round after
 * a growing pause: the step goes back to "start" and this returns -EAGAIN.
 * -EAGAIN too when the op timeout passes with the instance still on its way. */
static int await_started(struct cf_engine *e, json_t *job)
{
	const char *what = "start after a stop-mode clone";
	int64_t deadline = now_ms() + (int64_t) e->cfg.op_timeout_seconds * 1000;
	json_t *list = json_object_get(job, "stop");
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		const char *path = json_string_value(v);
		unsigned delay = e->cfg.poll_ms;
		for (;;) {
			struct cf_resource r = {0};
			int rc = refresh(e, path, &r);
			char status[40];
			snprintf(status, sizeof status, "%s", r.status ? r.status : "?");
			cf_resource_clear(&r);
			if (!rc && !strcmp(status, "RUNNING"))
				break;
			if (rc == -ENOENT) {
				refuse(e, path, ENOENT, "%s: the instance is gone", what);
				break;
			}
			bool stopped =
			    !rc && (!strcmp(status, "TERMINATED") || !strcmp(status, "STOPPED") ||
				    !strcmp(status, "SUSPENDED"));
			if (stopped) {
				char key[32];
				struct cf_operation op = {0};
				struct cf_error err = {0};
				snprintf(key, sizeof key, "start:%zu", i);
				/* Its start still running, or no telling now: wait. Ended,
				 * never sent, or gone from the API: start again. */
				bool pending = false;
				if (job_get_op(job, key, &op)) {
					int prc = e->cfg.provider->ops->op_poll(e->cfg.provider,
										&op, false, &err);
					pending = prc ? prc != -ENOENT : !op.done;
				}
				if (op.failed)
					cf_log_refusal(path, EAGAIN,
						       "%s: the start failed in the cloud: %s",
						       what, op.err.message);
				cf_operation_clear(&op);
				if (!pending) {
					json_int_t tries = json_integer_value(json_object_get(
							       job, "start_tries")) +
							   1;
					int64_t pause = tries < 6 ? (int64_t) 5 << tries : 300;
					char rid[37];
					cf_uuid4(rid);
					json_array_set_new(
					    json_object_get(json_object_get(job, "rid"), "start"),
					    i, json_string(rid));
					json_object_del(json_object_get(job, "ops"), key);
					json_object_set_new(job, "start_tries",
							    json_integer(tries));
					json_object_set_new(job, "not_before",
							    json_integer(now_s() + pause));
					json_object_set_new(job, "step", json_string("start"));
					cf_log_refusal(
					    path, EAGAIN,
					    "%s: the instance is %s; starting it again in %lld s "
					    "(try %lld)",
					    what, status, (long long) pause, (long long) tries + 1);
					return -EAGAIN;
				}
			}
			if (now_ms() > deadline) {
				refuse(e, path, EAGAIN, "%s: still %s, not RUNNING, after %u s",
				       what, status, e->cfg.op_timeout_seconds);
				return -EAGAIN;
			}
			sleep_ms(delay);
			if (delay < 2000)
				delay = delay * 3 / 2 + 1;
		}
	}
	return 0;
}

/* Run job from its recorded step. With until_accepted, return as soon as
 * the create was accepted (mkdir's answer); the rest is the background
 * thread's. Every transition is journaled before the next request. */
static int run_job(struct cf_engine *e, uint64_t id, json_t *job, bool until_accepted)
{
	char target[CF_PATH_MAX];
	job_target(job, target, sizeof target);
	const char *source = jstr(job, "source");
	int result = 0;
	for (;;) {
		const char *step = jstr(job, "step");
		const char *next = NULL;
		int rc = 0;
		if (!strcmp(step, "stop")) {
			rc = power_all(e, job, false);
			if (rc)
				job_fail(job, rc, "stopping the instance failed");
			next = rc ? "start" : "wait_stopped";
		} else if (!strcmp(step, "wait_stopped")) {
			rc = await_instances(e, json_object_get(job, "stop"), "TERMINATED",
					     "stop for a stop-mode clone");
			if (rc)
				job_fail(job, rc, "the instance did not stop");
			next = rc ? "start" : "create";
		} else if (!strcmp(step, "create")) {
			struct cf_operation op = {0};
			struct cf_error err = {0};
			struct cf_create_req req = {0};
			json_t *labels = json_object_get(job, "labels");
			size_t n = json_object_size(labels), i = 0;
			struct cf_label *l = calloc(n + 1, sizeof *l);
			const char *k;
			json_t *v;
			json_object_foreach(labels, k, v)
			{
				l[i].key = (char *) k;
				l[i].value = (char *) json_string_value(v);
				i++;
			}
			req.kind = strcmp(jstr(job, "kind"), "machineImage")
				       ? CF_KIND_SNAPSHOT
				       : CF_KIND_MACHINE_IMAGE;
			req.name = jstr(job, "name");
			req.source = source;
			req.guest_flush = !strcmp(jstr(job, "consistency"), "flush");
			req.labels = l;
			req.nlabels = i;
			req.request_id = json_string_value(
			    json_object_get(json_object_get(job, "rid"), "create"));
			rc = api_create(e, &req, &op, &err);
			free(l);
			if (rc) {
				char msg[600];
				snprintf(msg, sizeof msg, "create: %s", err.message);
				job_fail(job, rc, msg);
				refuse(e, target, -rc, "the clone was not accepted: %s",
				       err.message[0] ? err.message : strerror(-rc));
			} else {
				job_set_op(job, "create", &op);
				json_object_set_new(job, "accepted", json_true());
			}
			cf_operation_clear(&op);
			next =
			    rc ? (json_array_size(json_object_get(job, "stop")) ? "start" : "done")
			       : "wait_created";
		} else if (!strcmp(step, "wait_created")) {
			struct cf_operation op = {0};
			if (job_get_op(job, "create", &op))
				rc = follow(e, &op, target, "the clone");
			cf_operation_clear(&op);
			if (rc)
				job_fail(job, rc, "the clone's operation failed");
			/* the new resource as the API now shows it (a failed one is
			 * gone, and so is its provisional directory) */
			refresh(e, target, NULL);
			next = json_array_size(json_object_get(job, "stop")) ? "start" : "done";
		} else if (!strcmp(step, "start")) {
			/* A restart is never given up: what cannot be done now stays
			 * in the journal for the background thread's next round. It
			 * is not the clone's failure: the clone's result stands. */
			json_t *nb = json_object_get(job, "not_before");
			if (nb && json_integer_value(nb) > now_s())
				return restart_pending(e, id, job);
			rc = power_all(e, job, true);
			if (!starts_sent(job))
				return restart_pending(e, id, job);
			next = "wait_started";
		} else if (!strcmp(step, "wait_started")) {
			rc = await_started(e, job);
			if (rc == -EAGAIN)
				return restart_pending(e, id, job);
			next = "done";
		} else if (!strcmp(step, "done")) {
			json_t *err = json_object_get(job, "error");
			if (err) {
				result = -(int) json_integer_value(json_object_get(err, "errno"));
				pthread_mutex_lock(&e->lock);
				e->stats.clones_failed++;
				pthread_mutex_unlock(&e->lock);
			}
			cf_journal_del(e->cfg.journal, id);
			kick_sync(e);
			return result ? result : 0;
		} else {
			cf_err("journal: job %" PRIu64 " has an unknown step \"%s\"; dropped", id,
			       step);
			cf_journal_del(e->cfg.journal, id);
			return -EIO;
		}
		json_object_set_new(job, "step", json_string(next));
		int jrc = cf_journal_put(e->cfg.journal, id, job);
		if (jrc) {
			/* Without the journal we must not send: stop here, retry later. */
			cf_err("journal: cannot record job %" PRIu64 ": %s", id, strerror(-jrc));
			return -EAGAIN;
		}
		if (until_accepted) {
			json_t *err = json_object_get(job, "error");
			if (!strcmp(next, "wait_created"))
				return 0;
			if (err && !json_is_true(json_object_get(job, "accepted")) &&
			    (!strcmp(next, "done") || !strcmp(next, "start"))) {
				/* refused before anything was created: say so now,
				 * and let the thread restart what was stopped */
				if (!strcmp(next, "done")) {
					cf_journal_del(e->cfg.journal, id);
					pthread_mutex_lock(&e->lock);
					e->stats.clones_failed++;
					pthread_mutex_unlock(&e->lock);
				}
				return -(int) json_integer_value(json_object_get(err, "errno"));
			}
		}
	}
}

/* ---- mkdir: plan a clone ---- */

/* The source's health: an instance RUNNING; a disk's attached instances
 * RUNNING, or the disk READY when nothing uses it; then the policy's
 * health command. */
static int check_health(struct cf_engine *e, const char *src_path, const struct cf_resource *src,
			const char *target, const char *consistency)
{
	const struct cf_policy *p = e->cfg.policy;
	if (p->clone.require_healthy) {
		if (src->kind == CF_KIND_INSTANCE) {
			if (!src->status || strcmp(src->status, "RUNNING"))
				return refuse(e, target, EHOSTDOWN,
					      "source %s is %s, not RUNNING: clone only a working "
					      "system",
					      src_path,
					      src->status ? src->status : "of unknown status");
		} else if (src->nlinks == 0) {
			if (!src->status || strcmp(src->status, "READY"))
				return refuse(e, target, EHOSTDOWN,
					      "source disk %s is %s, not READY", src_path,
					      src->status ? src->status : "?");
		} else {
			for (size_t i = 0; i < src->nlinks; i++) {
				struct cf_resource u = {0};
				struct cf_error err = {0};
				int rc = api_get(e, src->links[i], &u, &err);
				if (rc && rc != -ENOENT)
					return refuse(e, target, EAGAIN,
						      "cannot check attached instance %s: %s",
						      src->links[i],
						      err.message[0] ? err.message : strerror(-rc));
				bool ok = !rc && u.status && !strcmp(u.status, "RUNNING");
				char st[40];
				snprintf(st, sizeof st, "%s", u.status ? u.status : "missing");
				cf_resource_clear(&u);
				if (!ok)
					return refuse(e, target, EHOSTDOWN,
						      "disk %s is attached to %s, which is %s, not "
						      "RUNNING",
						      src_path, src->links[i], st);
			}
		}
	}
	if (p->clone.health_command) {
		char why[512], where[CF_PATH_MAX + 256];
		snprintf(where, sizeof where, "%s%s%s", e->cfg.mountpoint ? e->cfg.mountpoint : "",
			 e->cfg.mountpoint ? "/" : "", src_path);
		int64_t t0 = mono_ms(), deadline = cf_http_deadline();
		int rc = cf_health_run((const char *const *) p->clone.health_command,
				       p->clone.health_timeout_seconds, where, src->raw,
				       consistency, why, sizeof why);
		/* The command's own time (health_timeout_seconds bounds it) is not
		 * time the API failed to answer. */
		if (deadline)
			cf_http_set_deadline(deadline + (mono_ms() - t0));
		if (rc)
			return refuse(e, target, EHOSTDOWN, "%s", why);
	}
	return 0;
}

static json_t *labels_to_json(const struct cf_label *l, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, l[i].key, json_string(l[i].value));
	return o;
}

static json_t *uuids(size_t n)
{
	json_t *a = json_array();
	char id[37];
	for (size_t i = 0; i < n; i++) {
		cf_uuid4(id);
		json_array_append_new(a, json_string(id));
	}
	return a;
}

/* The directory that stands for the clone while the cloud makes it. */
static int put_provisional(struct cf_engine *e, enum cf_kind kind, const char *name,
			   const char *src_path, const struct cf_label *l, size_t n)
{
	struct cf_resource r = {0};
	r.kind = kind;
	r.scope = (char *) "global";
	r.name = (char *) name;
	r.status = (char *) "CREATING";
	r.created = now_s();
	r.source = (char *) src_path;
	r.labels = (struct cf_label *) l;
	r.nlabels = n;
	return store_put(e, &r);
}

static int engine_mkdir(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
			const char *name, struct cf_stat *out)
{
	const struct cf_policy *p = e->cfg.policy;
	char ppath[CF_PATH_MAX], target[CF_PATH_MAX], why[512];
	unsigned sub = 0;
	int rc = cf_store_path_of(e->cfg.store, parent, ppath, sizeof ppath, &sub);
	if (rc < 0)
		return refuse(e, name, ENOENT, "mkdir: the parent directory is gone");
	enum cf_kind kind;
	if (sub == CF_SUB_SNAPSHOTS)
		kind = CF_KIND_SNAPSHOT;
	else if (sub == CF_SUB_CLONES)
		kind = CF_KIND_MACHINE_IMAGE;
	else
		return refuse(e, ppath, EPERM,
			      "mkdir %s: clones are made in a disk's snapshots/ or an instance's "
			      "clones/ directory",
			      name);
	const char *kname = kind == CF_KIND_SNAPSHOT ? "snapshots" : "clones";
	char shown[CF_PATH_MAX + 300];
	snprintf(shown, sizeof shown, "%s/%s/%s", ppath, kname, name);
	if (!cf_gce_name_valid(name, strlen(name)))
		return refuse(e, shown, EINVAL,
			      "not a valid name: 1-63 characters, lower-case letters, digits and "
			      "'-', starting with a letter, not ending with '-'");
	if (cf_resource_path(kind, "global", name, target, sizeof target) < 0)
		return refuse(e, shown, EINVAL, "not a valid name");
	struct cf_resource existing = {0};
	if (!stored(e, target, &existing)) {
		cf_resource_clear(&existing);
		return refuse(e, shown, EEXIST, "%s already exists", target);
	}
	rc = cf_policy_may_clone_caller(p, c->uid, c->gid, c->groups, c->ngroups, why, sizeof why);
	if (rc)
		return refuse(e, shown, rc, "%s", why);

	/* The source as the API says it is now: health is not a cache question. */
	struct cf_resource src = {0};
	struct cf_error err = {0};
	rc = api_get(e, ppath, &src, &err);
	if (rc == -ENOENT)
		return refuse(e, shown, ENOENT, "the source %s no longer exists", ppath);
	if (rc)
		return refuse(e, shown, EAGAIN, "cannot read the source %s from the API: %s", ppath,
			      err.message[0] ? err.message : strerror(-rc));
	store_put(e, &src);

	enum cf_consistency cons;
	json_t *job = NULL;
	struct cf_label *labels = NULL;
	size_t nlabels = 0;
	if ((rc = cf_policy_may_clone_source(p, &src, why, sizeof why)) ||
	    (rc = cf_policy_consistency(p, &src, &cons, why, sizeof why))) {
		rc = refuse(e, shown, rc, "%s", why);
		goto out;
	}
	unsigned depth = depth_of(e, &src, 0) + 1;
	if ((rc = cf_policy_check_depth(p, depth, why, sizeof why))) {
		rc = refuse(e, shown, rc, "%s", why);
		goto out;
	}
	struct dep_scan ds = {.e = e, .want = kind, .skip_trashed = true};
	cf_store_dependents(e->cfg.store, ppath, dep_fn, &ds);
	if ((rc = cf_policy_check_quota(p, ds.n, why, sizeof why))) {
		rc = refuse(e, shown, rc, "%s", why);
		goto out;
	}
	if ((rc = check_health(e, ppath, &src, shown, cf_consistency_name(cons))))
		goto out;
	if ((rc = cf_policy_clone_labels(p, &src, ppath, cons, depth, c->user, now_s(), &labels,
					 &nlabels, why, sizeof why))) {
		rc = refuse(e, shown, rc, "%s", why);
		goto out;
	}

	/* Plan: which instances to stop, one request id per request. */
	json_t *stop = json_array();
	if (cons == CF_CONS_STOP) {
		if (kind == CF_KIND_MACHINE_IMAGE)
			json_array_append_new(stop, json_string(ppath));
		else
			for (size_t i = 0; i < src.nlinks; i++)
				json_array_append_new(stop, json_string(src.links[i]));
	}
	char rid[37];
	cf_uuid4(rid);
	size_t nstop = json_array_size(stop);
	job = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:{s:s, s:o, s:o}, s:s, s:I}", "type",
			"clone", "kind", kind == CF_KIND_SNAPSHOT ? "snapshot" : "machineImage",
			"name", name, "source", ppath, "consistency", cf_consistency_name(cons),
			"labels", labels_to_json(labels, nlabels), "stop", stop, "rid", "create",
			rid, "stop", uuids(nstop), "start", uuids(nstop), "step",
			nstop ? "stop" : "create", "user", c->user ? c->user : "", "created",
			(json_int_t) now_s());
	uint64_t id = 0;
	/* Claimed before the background thread can see it in the journal: a
	 * slot is reserved (with a placeholder no job id reaches) and then
	 * given the id, under plan_lock, which the background's claim takes. */
	pthread_mutex_lock(&e->plan_lock);
	if (!owned_take(e, UINT64_MAX)) {
		pthread_mutex_unlock(&e->plan_lock);
		rc = refuse(e, shown, EAGAIN, "%d clones are in flight already; try again later",
			    MAX_OWNED);
		goto out;
	}
	if (!job || (rc = cf_journal_add(e->cfg.journal, job, &id))) {
		owned_drop(e, UINT64_MAX);
		pthread_mutex_unlock(&e->plan_lock);
		rc = refuse(e, shown, EAGAIN, "cannot write the operation journal: %s",
			    strerror(rc ? -rc : ENOMEM));
		goto out;
	}
	owned_rename(e, UINT64_MAX, id);
	pthread_mutex_unlock(&e->plan_lock);
	cf_info("%s: clone %s of %s (%s, depth %u) by %s, job %" PRIu64, shown, target, ppath,
		cf_consistency_name(cons), depth, c->user ? c->user : "?", id);
	pthread_mutex_lock(&e->lock);
	e->stats.clones_started++;
	pthread_mutex_unlock(&e->lock);

	rc = run_job(e, id, job, !e->cfg.wait_ready);
	/* Accepted: the directory is there at once, CREATING until the sync or
	 * the job sees it READY. With wait_ready the job already followed it to
	 * the end and stored what the API says. */
	if (rc == 0 && !e->cfg.wait_ready)
		put_provisional(e, kind, name, ppath, labels, nlabels);
	owned_drop(e, id);
	if (rc == 0) {
		pthread_mutex_lock(&e->lock);
		e->kick = true;
		pthread_cond_signal(&e->cond);
		pthread_mutex_unlock(&e->lock);
		uint64_t ino;
		char alias[CF_PATH_MAX + 300];
		snprintf(alias, sizeof alias, "%s/%s/%s", ppath, kname, name);
		if (out && (cf_store_ino_of_path(e->cfg.store, alias, &ino) ||
			    cf_store_getattr(e->cfg.store, ino, out)))
			rc = refuse(e, shown, EAGAIN,
				    "the clone was accepted but is not in the cache yet; it "
				    "appears after the next sync");
	}
out:
	json_decref(job);
	cf_labels_free(labels, nlabels);
	cf_resource_clear(&src);
	return rc;
}

/* ---- labels ---- */

/* Read-modify-write one label with the fingerprint, re-reading and merging
 * on 412 (bounded). value NULL removes it. */
static int label_update(struct cf_engine *e, const char *path, const char *shown, const char *key,
			const char *value, int flags)
{
	for (int attempt = 0; attempt < LABEL_RETRIES; attempt++) {
		struct cf_resource r = {0};
		struct cf_error err = {0};
		int rc = api_get(e, path, &r, &err);
		if (rc == -ENOENT)
			return refuse(e, shown, ENOENT, "the resource no longer exists");
		if (rc)
			return refuse(e, shown, EAGAIN, "cannot read its labels from the API: %s",
				      err.message[0] ? err.message : strerror(-rc));
		const char *have = label_of(&r, key);
		if ((flags & CF_LABEL_CREATE) && have) {
			cf_resource_clear(&r);
			return -EEXIST; /* an answer, not a refusal to log */
		}
		if (((flags & CF_LABEL_REPLACE) || !value) && !have) {
			cf_resource_clear(&r);
			return -ENODATA;
		}
		if (value && have && !strcmp(have, value)) {
			store_put(e, &r);
			cf_resource_clear(&r);
			return 0;
		}
		size_t n = 0;
		struct cf_label *l = calloc(r.nlabels + 1, sizeof *l);
		if (!l) {
			cf_resource_clear(&r);
			return -ENOMEM;
		}
		for (size_t i = 0; i < r.nlabels; i++)
			if (strcmp(r.labels[i].key, key))
				l[n++] = r.labels[i];
		if (value) {
			if (n >= CF_LABELS_MAX) {
				free(l);
				cf_resource_clear(&r);
				return refuse(e, shown, ENOSPC,
					      "it already has %d labels, the provider's limit",
					      CF_LABELS_MAX);
			}
			l[n].key = (char *) key;
			l[n].value = (char *) value;
			n++;
		}
		struct cf_operation op = {0};
		/* No request id: the fingerprint makes a repeat harmless (one whose
		 * first try was applied and its answer lost is a 412: re-read). */
		unsigned tries = 0;
		do {
			memset(&err, 0, sizeof err);
			rc = e->cfg.provider->ops->set_labels(e->cfg.provider, path, l, n,
							      r.fingerprint, NULL, &op, &err);
		} while (rc && rc != -ESTALE && again(rc, &err, &tries, path));
		if (!rc)
			budget_renew();
		free(l);
		cf_resource_clear(&r);
		if (rc == -ESTALE) {
			cf_operation_clear(&op);
			cf_debug("%s: label fingerprint changed under us, re-reading (try %d)",
				 path, attempt + 1);
			/* Hosts racing for one resource: spread them out. */
			unsigned delay = jitter(20u << (attempt < 7 ? attempt : 7));
			int64_t deadline = cf_http_deadline();
			if (deadline && mono_ms() + delay >= deadline)
				break;
			sleep_ms(delay);
			continue;
		}
		if (rc) {
			cf_operation_clear(&op);
			return refuse(e, shown, rc == -EINVAL ? EINVAL : -rc, "setting labels: %s",
				      err.message[0] ? err.message : strerror(-rc));
		}
		rc = follow(e, &op, shown, "setLabels");
		cf_operation_clear(&op);
		if (rc)
			return rc;
		refresh(e, path, NULL);
		kick_sync(e);
		return 0;
	}
	return refuse(e, shown, EAGAIN,
		      "labels kept changing under us (fingerprint conflicts until the write's time "
		      "ran out, at most %d tries)",
		      LABEL_RETRIES);
}

/* The resource an inode shows, its primary path and the path to log. */
static int resolve(struct cf_engine *e, uint64_t ino, struct cf_resource *r, char *path,
		   size_t size, char *shown, size_t shown_size)
{
	unsigned sub = 0;
	if (cf_store_path_of(e->cfg.store, ino, shown, shown_size, &sub) < 0)
		snprintf(shown, shown_size, "inode %" PRIu64, ino);
	if (sub != CF_SUB_DIR)
		return -ENOTSUP;
	int rc = cf_store_resource(e->cfg.store, ino, r);
	if (rc)
		return rc;
	if (cf_resource_path(r->kind, r->scope, r->name, path, size) < 0) {
		cf_resource_clear(r);
		return -EIO;
	}
	return 0;
}

static int engine_set_label(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			    const char *key, const char *value, size_t len, int flags)
{
	(void) c;
	struct cf_resource r = {0};
	char path[CF_PATH_MAX], shown[CF_PATH_MAX];
	int rc = resolve(e, ino, &r, path, sizeof path, shown, sizeof shown);
	if (rc == -ENOTSUP || rc == -ENOENT)
		return refuse(e, shown, EPERM, "labels belong to resource directories only");
	if (rc)
		return rc;
	cf_resource_clear(&r);
	/* Only the key and value the caller writes are judged by the provider's rules
	 * (names.h); the resource's other labels go back as the API holds them. */
	if (!cf_label_key_valid(key, strlen(key)))
		return refuse(e, shown, EINVAL,
			      "label key \"%.64s\" is not valid: a lowercase letter first, then "
			      "lowercase letters (international ones too), digits, _ and -, at "
			      "most 63 characters",
			      key);
	if (!strcmp(key, CF_TRASH_LABEL))
		return refuse(e, shown, EPERM,
			      "%s is clonefs's own: rmdir puts a resource in "
			      "the trash, mv takes it out",
			      CF_TRASH_LABEL);
	if (len > CF_LABEL_BYTES_MAX || memchr(value, '\0', len) ||
	    !cf_label_value_valid(value, len))
		return refuse(e, shown, EINVAL,
			      "label value for %s is not valid: lowercase letters (international "
			      "ones too), digits, _ and -, at most 63 characters (never changed "
			      "silently)",
			      key);
	char v[CF_LABEL_BYTES_MAX + 1];
	memcpy(v, value, len);
	v[len] = '\0';
	return label_update(e, path, shown, key, v, flags);
}

static int engine_remove_label(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			       const char *key)
{
	(void) c;
	struct cf_resource r = {0};
	char path[CF_PATH_MAX], shown[CF_PATH_MAX];
	int rc = resolve(e, ino, &r, path, sizeof path, shown, sizeof shown);
	if (rc == -ENOTSUP || rc == -ENOENT)
		return -ENODATA;
	if (rc)
		return rc;
	bool have = label_of(&r, key) != NULL;
	cf_resource_clear(&r);
	if (!have)
		return -ENODATA;
	if (!strcmp(key, CF_TRASH_LABEL))
		return refuse(e, shown, EPERM, "mv the entry out of .clonefs/trash to restore it");
	return label_update(e, path, shown, key, NULL, 0);
}

/* ---- prune ---- */

static bool prunable(enum cf_kind k)
{
	return k == CF_KIND_SNAPSHOT || k == CF_KIND_IMAGE || k == CF_KIND_MACHINE_IMAGE;
}

/* Delete in the cloud now and wait for the answer: what the mount reports
 * is what the API did. */
static int delete_now(struct cf_engine *e, const char *path, const char *shown)
{
	char rid[37];
	struct cf_operation op = {0};
	struct cf_error err = {0};
	cf_uuid4(rid);
	int rc = api_remove(e, path, rid, &op, &err);
	if (rc == -ENOENT) {
		store_drop(e, path);
		return 0; /* already gone: the goal holds */
	}
	if (rc) {
		cf_operation_clear(&op);
		return refuse(e, shown, -rc, "delete refused by the API: %s",
			      err.message[0] ? err.message : strerror(-rc));
	}
	rc = follow(e, &op, shown, "delete");
	cf_operation_clear(&op);
	if (rc)
		return rc;
	store_drop(e, path);
	pthread_mutex_lock(&e->lock);
	e->stats.prunes++;
	pthread_mutex_unlock(&e->lock);
	cf_info("%s: deleted", path);
	kick_sync(e);
	return 0;
}

static int engine_rmdir(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
			const char *name)
{
	const struct cf_policy *p = e->cfg.policy;
	struct cf_stat st;
	char ppath[CF_PATH_MAX], path[CF_PATH_MAX], shown[CF_PATH_MAX + 300], why[512];
	if (cf_store_path_of(e->cfg.store, parent, ppath, sizeof ppath, NULL) < 0)
		snprintf(ppath, sizeof ppath, "inode %" PRIu64, parent);
	snprintf(shown, sizeof shown, "%s%s%s", ppath, *ppath ? "/" : "", name);
	int rc = cf_store_lookup(e->cfg.store, parent, name, &st);
	if (rc)
		return rc;
	struct cf_resource r = {0};
	char dummy[CF_PATH_MAX];
	rc = resolve(e, st.ino, &r, path, sizeof path, dummy, sizeof dummy);
	if (rc)
		return refuse(e, shown, EPERM,
			      "not a resource: only snapshots, images and "
			      "machine images are pruned");
	bool in_trash = !strncmp(ppath, "trash/", 6);
	if (!prunable(r.kind)) {
		cf_resource_clear(&r);
		return refuse(e, shown, EPERM, "clonefs never deletes disks or instances");
	}
	if ((rc = cf_policy_may_clone_caller(p, c->uid, c->gid, c->groups, c->ngroups, why,
					     sizeof why))) {
		cf_resource_clear(&r);
		return refuse(e, shown, rc, "not allowed to prune: %s", why);
	}
	/* siblings of the same source, for keep_last */
	struct dep_scan sib = {.e = e,
			       .want = r.kind,
			       .skip_trashed = true,
			       .created = r.created,
			       .created_ns = r.created_ns,
			       .self = path};
	if (r.source)
		cf_store_dependents(e->cfg.store, r.source, dep_fn, &sib);
	if ((rc = cf_policy_may_prune(p, &r, now_s(), sib.newer, sib.n + 1, why, sizeof why))) {
		cf_resource_clear(&r);
		return refuse(e, shown, rc, "%s", why);
	}
	struct dep_scan deps = {.e = e, .want = CF_KIND_NONE};
	cf_store_dependents(e->cfg.store, path, dep_fn, &deps);
	if (deps.n) {
		cf_resource_clear(&r);
		return refuse(e, shown, EBUSY, "%zu resource%s made from it (%s%s)", deps.n,
			      deps.n == 1 ? " is" : "s are", deps.first, deps.n > 1 ? ", ..." : "");
	}
	cf_resource_clear(&r);
	if (cf_breaker_take(e->breaker, now_ms()))
		return refuse(e, shown, EAGAIN,
			      "more than %u deletions in the last minute (prune.max_per_minute): "
			      "the breaker against rm -rf and runaway scripts is open",
			      p->prune.max_per_minute);
	if (in_trash || p->prune.grace_seconds == 0)
		return delete_now(e, path, shown);
	char at[24];
	snprintf(at, sizeof at, "%lld", (long long) (now_s() + p->prune.grace_seconds));
	rc = label_update(e, path, shown, CF_TRASH_LABEL, at, 0);
	if (!rc)
		cf_info("%s: in .clonefs/trash/%s until %s (grace %u s); mv it back to keep it",
			shown, path, at, p->prune.grace_seconds);
	return rc;
}

int cf_engine_unlink(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
		     const char *name)
{
	(void) c;
	struct cf_resource r = {0};
	char path[CF_PATH_MAX], shown[CF_PATH_MAX];
	int rc = resolve(e, parent, &r, path, sizeof path, shown, sizeof shown);
	bool ok =
	    !rc && prunable(r.kind) &&
	    (!strcmp(name, "status") || !strcmp(name, "resource.json") || !strcmp(name, "source"));
	if (!rc)
		cf_resource_clear(&r);
	if (ok)
		return 0; /* rm -r on its way to the rmdir, which decides */
	return refuse(e, shown, EPERM, "unlink %s: only rmdir prunes; files cannot be removed",
		      name);
}

static int engine_rename(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
			 const char *name, uint64_t newparent, const char *newname)
{
	char from[CF_PATH_MAX], to[CF_PATH_MAX], shown[CF_PATH_MAX + 300];
	if (cf_store_path_of(e->cfg.store, parent, from, sizeof from, NULL) < 0 ||
	    cf_store_path_of(e->cfg.store, newparent, to, sizeof to, NULL) < 0)
		return -ENOENT;
	snprintf(shown, sizeof shown, "%s/%s", from, name);
	if (strncmp(from, "trash/", 6) || strcmp(from + 6, to) || strcmp(name, newname))
		return refuse(e, shown, EPERM,
			      "rename: only restoring from .clonefs/trash/COLLECTION/NAME to "
			      "COLLECTION/NAME is supported");
	struct cf_stat st;
	int rc = cf_store_lookup(e->cfg.store, parent, name, &st);
	if (rc)
		return rc;
	struct cf_resource r = {0};
	char path[CF_PATH_MAX], dummy[CF_PATH_MAX];
	if ((rc = resolve(e, st.ino, &r, path, sizeof path, dummy, sizeof dummy)))
		return rc;
	cf_resource_clear(&r);
	(void) c;
	rc = label_update(e, path, shown, CF_TRASH_LABEL, NULL, 0);
	if (!rc)
		cf_info("%s: restored from the trash", path);
	return rc;
}

/* ---- the writes the mount asks for, each within its budget ---- */

int cf_engine_mkdir(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
		    const char *name, struct cf_stat *out)
{
	budget_start();
	int rc = engine_mkdir(e, c, parent, name, out);
	budget_end();
	return rc;
}

int cf_engine_rmdir(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
		    const char *name)
{
	budget_start();
	int rc = engine_rmdir(e, c, parent, name);
	budget_end();
	return rc;
}

int cf_engine_rename(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
		     const char *name, uint64_t newparent, const char *newname)
{
	budget_start();
	int rc = engine_rename(e, c, parent, name, newparent, newname);
	budget_end();
	return rc;
}

int cf_engine_set_label(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			const char *key, const char *value, size_t len, int flags)
{
	budget_start();
	int rc = engine_set_label(e, c, ino, key, value, len, flags);
	budget_end();
	return rc;
}

int cf_engine_remove_label(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			   const char *key)
{
	budget_start();
	int rc = engine_remove_label(e, c, ino, key);
	budget_end();
	return rc;
}

/* ---- background: resume jobs, reap the trash ---- */

static int resume_fn(void *ctx, uint64_t id, json_t *job)
{
	struct cf_engine *e = ctx;
	if (strcmp(jstr(job, "type"), "clone")) {
		cf_warn("journal: job %" PRIu64 " of unknown type \"%s\" dropped", id,
			jstr(job, "type"));
		cf_journal_del(e->cfg.journal, id);
		return 0;
	}
	pthread_mutex_lock(&e->plan_lock);
	bool taken = owned_take(e, id);
	pthread_mutex_unlock(&e->plan_lock);
	if (!taken)
		return 0; /* a FUSE thread is running it right now */
	/* The copy foreach made may be older than the job: another thread may
	 * have run it on (or to its end) since. */
	json_t *mine = NULL;
	if (cf_journal_get(e->cfg.journal, id, &mine) == 0) {
		run_job(e, id, mine, false);
		json_decref(mine);
	}
	owned_drop(e, id);
	pthread_mutex_lock(&e->lock);
	bool stop = e->stop;
	pthread_mutex_unlock(&e->lock);
	return stop;
}

struct reap {
	char (*paths)[CF_PATH_MAX];
	size_t n, cap;
};

static int reap_fn(void *ctx, const char *path, const struct cf_resource *r)
{
	struct reap *rp = ctx;
	const char *at = label_of(r, CF_TRASH_LABEL);
	char *end;
	long long when = at ? strtoll(at, &end, 10) : 0;
	if (!at || *end || when > now_s())
		return 0;
	if (rp->n == rp->cap) {
		size_t cap = rp->cap ? rp->cap * 2 : 16;
		void *np = realloc(rp->paths, cap * sizeof *rp->paths);
		if (!np)
			return 1;
		rp->paths = np;
		rp->cap = cap;
	}
	snprintf(rp->paths[rp->n++], CF_PATH_MAX, "%s", path);
	return 0;
}

void cf_engine_tick(struct cf_engine *e)
{
	cf_journal_foreach(e->cfg.journal, resume_fn, e);
	struct reap rp = {0};
	cf_store_foreach_trashed(e->cfg.store, reap_fn, &rp);
	for (size_t i = 0; i < rp.n; i++) {
		char shown[CF_PATH_MAX + 16];
		snprintf(shown, sizeof shown, "trash/%s", rp.paths[i]);
		cf_info("%s: grace period over, deleting", rp.paths[i]);
		delete_now(e, rp.paths[i], shown);
	}
	free(rp.paths);
}

static void *engine_thread(void *arg)
{
	struct cf_engine *e = arg;
	pthread_mutex_lock(&e->lock);
	while (!e->stop) {
		pthread_mutex_unlock(&e->lock);
		cf_engine_tick(e);
		pthread_mutex_lock(&e->lock);
		if (e->stop)
			break;
		if (!e->kick) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_sec += 2;
			pthread_cond_timedwait(&e->cond, &e->lock, &ts);
		}
		e->kick = false;
	}
	pthread_mutex_unlock(&e->lock);
	return NULL;
}

int cf_engine_new(const struct cf_engine_config *cfg, struct cf_engine **out)
{
	if (!cfg->store || !cfg->provider || !cfg->policy || !cfg->journal)
		return -EINVAL;
	const struct cf_provider_ops *o = cfg->provider->ops;
	if (!o->create || !o->remove || !o->power || !o->set_labels || !o->op_poll || !o->get)
		return -ENOTSUP;
	struct cf_engine *e = calloc(1, sizeof *e);
	if (!e)
		return -ENOMEM;
	e->cfg = *cfg;
	if (!e->cfg.op_timeout_seconds)
		e->cfg.op_timeout_seconds = 600;
	if (!e->cfg.poll_ms)
		e->cfg.poll_ms = 100;
	e->breaker = cf_breaker_new(cfg->policy->prune.max_per_minute);
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->plan_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!e->breaker || pthread_create(&e->thread, NULL, engine_thread, e)) {
		cf_breaker_free(e->breaker);
		free(e);
		return -ENOMEM;
	}
	e->running = true;
	*out = e;
	return 0;
}

void cf_engine_free(struct cf_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->lock);
	e->stop = true;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	if (e->running)
		pthread_join(e->thread, NULL);
	cf_breaker_free(e->breaker);
	pthread_cond_destroy(&e->cond);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->plan_lock);
	free(e);
}

void cf_engine_get_stats(struct cf_engine *e, struct cf_engine_stats *out)
{
	pthread_mutex_lock(&e->lock);
	*out = e->stats;
	size_t owned = 0;
	for (int i = 0; i < MAX_OWNED; i++)
		owned += e->owned[i] != 0;
	out->jobs_pending = owned;
	pthread_mutex_unlock(&e->lock);
}
