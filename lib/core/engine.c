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
 * even when the snapshot failed: a stopped instance is never left behind.
 * Before its create is accepted a job may be given up (cancelled through
 * .clonefs/jobs, expired, or its source failing a re-check when resumed):
 * it then goes to `start` if a stop may have left, else it ends. */
#include "engine.h"

#include "engine_int.h"
#include "health.h"
#include "layout.h"
#include "deadline.h"
#include "log.h"
#include "retry_provider.h"
#include "stop.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	LABEL_RETRIES = 10,
	MAX_DEPTH_WALK = 16,
	MAX_OWNED = 64,
	/* An rmdir refused ESTALE is refused again for this long: the kernel
	 * repeats an rmdir that failed ESTALE at once (retry_estale), and that
	 * repeat must not act on the entry the refusal has just refreshed. */
	STALE_MEMO = 16,
	STALE_MEMO_MS = 2000,
};

/* Something in the trash the reaper leaves alone, and why (status, log). */
enum held_kind { HELD_NOT_OURS = 1, HELD_ID, HELD_POLICY };
struct held {
	char path[CF_PATH_MAX]; /* the resource's path ("global/snapshots/S") */
	char value[CF_LABEL_VALUE_MAX + 1];
	enum held_kind kind;
	char reason[384];
};

struct cf_engine {
	struct cf_engine_config cfg;
	struct cf_provider *api; /* cfg.provider, retrying (retry_provider.h) */
	struct cf_breaker *breaker;
	pthread_t thread;
	bool running;
	pthread_mutex_t lock; /* stop, kick, owned, stats */
	pthread_cond_t cond;
	/* Raised once, when stop is set: a job's waits (engine_sleep) and the
	 * retry layer's pauses (e->api's, again()) end at once. Apart from
	 * cond, whose wake-ups are the thread's alone. */
	struct cf_stop stopper;
	/* Held from a job's journal entry to its owner's claim (mkdir), and by
	 * the background's claim: a job is never run by two threads. */
	pthread_mutex_t plan_lock;
	bool stop, kick;
	uint64_t owned[MAX_OWNED]; /* jobs a thread is running now */
	struct cf_engine_stats stats;
	struct {
		char path[CF_PATH_MAX];
		int64_t at;		    /* mono_ms; 0 = free */
	} stale[STALE_MEMO];		    /* under lock */
	char mount_id[CF_MOUNT_ID_LEN + 1]; /* written into trash labels */
	pthread_mutex_t held_lock;	    /* held, nheld, reaper_passes */
	struct held *held;		    /* the reaper's latest pass left these */
	size_t nheld;
	unsigned long reaper_passes;
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

/* Wait ms milliseconds between two looks at the cloud, or less: -EINTR as
 * soon as the engine is stopping. A job's wait that ends so leaves the job
 * in the journal at its step, to resume at the next mount as after a crash;
 * an unmount never waits for an operation in the cloud. */
static int engine_sleep(struct cf_engine *e, unsigned ms)
{
	return cf_stop_sleep(&e->stopper, ms);
}

/* ---- the API ----
 *
 * e->api is the provider behind the retrying decorator (retry_provider.h):
 * get, create, remove, power and set_labels repeat a transient failure
 * within the write's budget (a FUSE thread's: CF_WRITE_BUDGET_MS from the
 * start of the write, moved on by every useful answer) or, in the
 * background thread, a few times; what the background does not finish
 * stays in the journal. e->cfg.provider is the provider itself, for what is
 * not repeated (polling an operation, the read-back after an accepted
 * clone). The names below are the decorator's rules, as this file uses them. */
static void budget_renew(void)
{
	cf_write_budget_renew();
}

static bool transient(int rc, const struct cf_error *err)
{
	return cf_retry_transient(rc, err);
}

static unsigned jitter(unsigned cap)
{
	return cf_retry_jitter(cap);
}

static bool again(struct cf_engine *e, int rc, const struct cf_error *err, unsigned *tries,
		  const char *what)
{
	return cf_retry_again(rc, err, tries, what, &e->stopper);
}

/* The path the provider is given for a resource the mount shows at path:
 * where the store chooses names (layout.h's pref_names), its id path
 * (COLL/ID), the one the cloud knows it by, when the store holds its id; else
 * path itself (a clone the API does not show yet: the provider finds it by
 * the name it was made with). */
static const char *api_path(struct cf_engine *e, const char *path, char *buf, size_t size)
{
	struct cf_resource r = {0};
	uint64_t ino;
	if (!cf_layout()->pref_names || !path || cf_store_ino_of_path(e->cfg.store, path, &ino) ||
	    cf_store_resource(e->cfg.store, ino, &r))
		return path;
	int n = r.id && *r.id ? cf_resource_path(r.kind, r.scope, r.id, buf, size) : -1;
	cf_resource_clear(&r);
	return n > 0 ? buf : path;
}

/* The other way: the path the mount shows for a path the API gave (a fresh
 * record's source, "volumes/vol-0123..." where the store chooses names), found
 * through the id index; else path itself. */
static const char *shown_path(struct cf_engine *e, const char *path, char *buf, size_t size)
{
	enum cf_kind k;
	char id[CF_NAME_MAX + 1];
	struct cf_stat st;
	unsigned sub;
	if (!cf_layout()->pref_names || !path || cf_path_parse(path, &k, NULL, 0, id, sizeof id) ||
	    cf_store_lookup(e->cfg.store, CF_INO_BYID, id, &st) ||
	    cf_store_path_of(e->cfg.store, st.ino, buf, size, &sub) <= 0)
		return path;
	return buf;
}

static int api_get(struct cf_engine *e, const char *path, struct cf_resource *out,
		   struct cf_error *err)
{
	char p[CF_PATH_MAX];
	return e->api->ops->get(e->api, api_path(e, path, p, sizeof p), out, err);
}

static int api_create(struct cf_engine *e, const struct cf_create_req *req, struct cf_operation *op,
		      struct cf_error *err)
{
	char p[CF_PATH_MAX];
	struct cf_create_req q = *req;
	q.source = api_path(e, req->source, p, sizeof p);
	return e->api->ops->create(e->api, &q, op, err);
}

static int api_remove(struct cf_engine *e, const char *path, const char *rid,
		      struct cf_operation *op, struct cf_error *err)
{
	char p[CF_PATH_MAX];
	return e->api->ops->remove(e->api, api_path(e, path, p, sizeof p), rid, op, err);
}

static int api_power(struct cf_engine *e, const char *path, bool start, const char *rid,
		     struct cf_operation *op, struct cf_error *err)
{
	char p[CF_PATH_MAX];
	return e->api->ops->power(e->api, api_path(e, path, p, sizeof p), start, rid, op, err);
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

/* ---- the store: what the API now says about one resource ----
 *
 * A write reads back what it changed (refresh) and shows that at once; it
 * kicks no listing pass: at 100,000 snapshots a pass is some 200 requests,
 * and the next periodic pass (or the feed) brings what others changed. */

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

/* The resource at a project path, from the store: listed in its
 * collection, or in the trash (a trashed resource still exists). */
static int stored(struct cf_engine *e, const char *path, struct cf_resource *out)
{
	uint64_t ino;
	char tp[CF_PATH_MAX + 8];
	int rc = cf_store_ino_of_path(e->cfg.store, path, &ino);
	if (rc == -ENOENT && snprintf(tp, sizeof tp, "trash/%s", path) < (int) sizeof tp)
		rc = cf_store_ino_of_path(e->cfg.store, tp, &ino);
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
	bool ready_only; /* count only READY ones (keep_last) */
	bool collect;	 /* keep the newer ones' paths (keep_last, checked fresh) */
	char (*paths)[CF_PATH_MAX];
	size_t npaths, cap;
	size_t n;
	char first[CF_PATH_MAX];
	/* keep_last: newer siblings than `created` */
	int64_t created;
	uint32_t created_ns;
	size_t newer;
	const char *self;
};

/* A resource's state in the engine's words: the provider reads its own
 * status word (provider.h); the store keeps only the word. */
static enum cf_state state_of(struct cf_engine *e, const struct cf_resource *r)
{
	return cf_provider_state(e->cfg.provider, r->kind, r->status);
}

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
	    !(d->skip_trashed && label_of(&r, CF_TRASH_LABEL)) &&
	    !(d->ready_only && r.status && state_of(d->e, &r) != CF_STATE_READY)) {
		if (!d->n)
			snprintf(d->first, sizeof d->first, "%s", p);
		d->n++;
		if (r.created > d->created ||
		    (r.created == d->created && r.created_ns > d->created_ns)) {
			d->newer++;
			if (d->collect && d->npaths == d->cap) {
				size_t cap = d->cap ? d->cap * 2 : 8;
				void *np = realloc(d->paths, cap * sizeof *d->paths);
				if (np) {
					d->paths = np;
					d->cap = cap;
				}
			}
			if (d->collect && d->npaths < d->cap)
				memcpy(d->paths[d->npaths++], p, len + 1);
		}
	}
	cf_resource_clear(&r);
	return 0;
}

/* ---- operations ---- */

/* Follow op until DONE or the timeout. 0 when it finished without error;
 * the operation's errno (with its message logged for path) when it failed,
 * -ENOENT when the operation or what it acts on is gone; -EAGAIN on
 * timeout, or once the API has stopped answering for the rest of a write's
 * budget (the operation goes on in the cloud; a journaled job picks it up
 * again); -EINTR when the engine is stopping (the same, at the next mount). */
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
		if (budget && cf_mono_ms() + (int64_t) delay >= budget) {
			cf_log_refusal(
			    path, EAGAIN,
			    "%s: the API stopped answering while operation %s was %s (%s); "
			    "it goes on in the cloud",
			    what, op->name ? op->name : "?", op->status ? op->status : "?",
			    last[0] ? last : "no answer");
			return -EAGAIN;
		}
		if (engine_sleep(e, delay))
			return -EINTR;
		if (delay < 2000)
			delay = delay * 3 / 2 + 1;
		struct cf_error err = {0};
		int rc = e->cfg.provider->ops->op_poll(e->cfg.provider, op, false, &err);
		if (rc == -ENOENT) {
			cf_log_refusal(path, ENOENT,
				       "%s: operation %s is gone, or what it acts on: %s", what,
				       op->name ? op->name : "?",
				       err.message[0] ? err.message : strerror(ENOENT));
			return rc;
		}
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
		int rc = op->err.errnum < 0 ? op->err.errnum : -EIO;
		/* A failure the provider calls the source's health (GCE: a guest
		 * flush that failed) is not our input. */
		if (op->err.source_unhealthy)
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
	/* an operation without a scope runs in the layout's first fixed scope */
	const char *scope = op->scope ? op->scope : cf_kind_home(CF_KIND_NONE);
	json_t *ops = json_object_get(job, "ops");
	if (!ops) {
		ops = json_object();
		json_object_set_new(job, "ops", ops);
	}
	json_object_set_new(
	    ops, key,
	    json_pack("{s:s, s:s}", "name", op->name ? op->name : "", "scope", scope ? scope : ""));
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
	const char *home = cf_kind_home(k);
	if (cf_resource_path(k, home, jstr(job, "name"), buf, size) < 0)
		snprintf(buf, size, "%s/?", home ? home : "");
}

/* Wait until every instance in `list` is in state `want` (after its operation). */
static int await_instances(struct cf_engine *e, json_t *list, enum cf_state want, const char *what)
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
			bool ok = !rc && r.status && state_of(e, &r) == want;
			char status[40];
			snprintf(status, sizeof status, "%s", r.status ? r.status : "?");
			cf_resource_clear(&r);
			if (ok)
				break;
			if (rc == -ENOENT)
				return refuse(e, path, ENOENT, "%s: the instance is gone", what);
			if (now_ms() > deadline)
				return refuse(e, path, EAGAIN, "%s: still %s, not %s, after %u s",
					      what, status, cf_state_name(want),
					      e->cfg.op_timeout_seconds);
			if (engine_sleep(e, delay))
				return -EINTR;
			if (delay < 2000)
				delay = delay * 3 / 2 + 1;
		}
	}
	return 0;
}

/* Send stop or start for every instance of the job (each with its own
 * request id), then follow each operation. Before the first stop leaves,
 * the job records (durably) that one may have: a job given up before its
 * first cloud step starts its instances again only if a stop may have left
 * (may_have_stopped). Each operation the API accepted is journaled at once,
 * so a resumed job follows it instead of asking again. */
static int power_all(struct cf_engine *e, uint64_t id, json_t *job, bool start)
{
	json_t *list = json_object_get(job, "stop");
	json_t *rids = json_object_get(json_object_get(job, "rid"), start ? "start" : "stop");
	const char *verb = start ? "start" : "stop";
	size_t i;
	json_t *v;
	int first = 0;
	if (!start && !json_is_true(json_object_get(job, "stop_sent"))) {
		json_object_set_new(job, "stop_sent", json_true());
		int jrc = cf_journal_put(e->cfg.journal, id, job);
		if (jrc) {
			cf_err("journal: cannot record job %" PRIu64 ": %s", id, strerror(-jrc));
			return -EAGAIN;
		}
	}
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
			cf_journal_put(e->cfg.journal, id, job); /* logs its own failure */
		}
		int rc = follow(e, &op, path, what);
		cf_operation_clear(&op);
		if (rc == -EINTR)
			return rc; /* the engine is stopping: the rest at the next mount */
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
			enum cf_state st = rc ? CF_STATE_NONE : state_of(e, &r);
			cf_resource_clear(&r);
			if (!rc && st == CF_STATE_RUNNING)
				break;
			if (rc == -ENOENT) {
				refuse(e, path, ENOENT, "%s: the instance is gone", what);
				break;
			}
			bool stopped = !rc && (st == CF_STATE_STOPPED || st == CF_STATE_SUSPENDED);
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
				refuse(e, path, EAGAIN, "%s: still %s, not running, after %u s",
				       what, status, e->cfg.op_timeout_seconds);
				return -EAGAIN;
			}
			if (engine_sleep(e, delay))
				return -EINTR;
			if (delay < 2000)
				delay = delay * 3 / 2 + 1;
		}
	}
	return 0;
}

/* ---- giving up a job before its first cloud step ----
 *
 * A job that was not accepted yet (at stop, wait_stopped, or create without
 * acceptance) is given up when it was cancelled (.clonefs/jobs), and, when
 * the background thread resumes it (its mkdir has long been answered), when
 * it is older than clone.job_max_age_seconds or its source fails the checks
 * a mkdir would make now. It then starts the instances it may have stopped,
 * or, when no stop can have left, ends at once. */

static int check_health(struct cf_engine *e, const char *src_path, const struct cf_resource *src,
			const char *target, const char *consistency);

/* Whether the create of the job was not accepted yet. */
static bool before_accepted(json_t *job)
{
	const char *step = jstr(job, "step");
	return !json_is_true(json_object_get(job, "accepted")) &&
	       (!strcmp(step, "stop") || !strcmp(step, "wait_stopped") || !strcmp(step, "flush") ||
		!strcmp(step, "create"));
}

/* Whether a stop request of the job may have left. A job planned without
 * "stop_sent" (by an older version) may have sent one at step stop too. */
static bool may_have_stopped(json_t *job)
{
	if (!json_array_size(json_object_get(job, "stop")))
		return false;
	return strcmp(jstr(job, "step"), "stop") ||
	       !json_is_false(json_object_get(job, "stop_sent"));
}

/* Whether the API accepted a stop of the job (its operation is journaled). */
static bool stop_accepted(json_t *job)
{
	const char *k;
	json_t *v;
	json_object_foreach(json_object_get(job, "ops"), k, v)
	{
		if (!strncmp(k, "stop:", 5))
			return true;
	}
	return false;
}

/* Seconds since the job was planned (a job without the time: as old as can be). */
static int64_t job_age(json_t *job)
{
	json_t *c = json_object_get(job, "created");
	if (!json_is_integer(c))
		return INT64_MAX;
	int64_t age = now_s() - (int64_t) json_integer_value(c);
	return age < 0 ? 0 : age;
}

/* Whether a stop of the job may already have taken effect: one may have
 * left (its answer lost to a crash) and an instance it stops is not
 * RUNNING now. -EAGAIN when the API cannot tell. */
static int stop_took_effect(struct cf_engine *e, json_t *job)
{
	if (!json_is_true(json_object_get(job, "stop_sent")))
		return 0;
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(job, "stop"), i, v)
	{
		struct cf_resource r = {0};
		struct cf_error err = {0};
		int rc = api_get(e, json_string_value(v), &r, &err);
		bool running = !rc && state_of(e, &r) == CF_STATE_RUNNING;
		cf_resource_clear(&r);
		if (rc && rc != -ENOENT)
			return -EAGAIN;
		if (!rc && !running)
			return 1;
	}
	return 0;
}

/* A resumed stop-mode job, before it goes on: its source as the API says it
 * is now must still pass the policy's source rules and still want a stop,
 * and, before its stop (none accepted, none that may have taken effect),
 * pass the health checks a mkdir makes: a stopping instance cannot, so at
 * wait_stopped, or once a stop may have reached it, only the rules are
 * checked. 0 when it may go on, -EAGAIN when that cannot be told now, else
 * the errno and in why the reason it may not. */
static int recheck_source(struct cf_engine *e, json_t *job, const char *target, bool health,
			  char *why, size_t size)
{
	const struct cf_policy *p = e->cfg.policy;
	const char *source = jstr(job, "source");
	struct cf_resource src = {0};
	struct cf_error err = {0};
	char pwhy[512];
	enum cf_consistency cons;
	int rc = api_get(e, source, &src, &err);
	if (rc == -ENOENT) {
		snprintf(why, size, "cancelled: its source %s no longer exists", source);
		store_drop(e, source);
		return rc;
	}
	if (rc) {
		cf_warn(
		    "%s: cannot re-check the source %s of a resumed clone: %s; trying again later",
		    target, source, err.message[0] ? err.message : strerror(-rc));
		return -EAGAIN;
	}
	store_put(e, &src);
	if ((rc = cf_policy_may_clone_source(p, &src, pwhy, sizeof pwhy)) ||
	    (rc = cf_policy_consistency(p, &src, &cons, pwhy, sizeof pwhy))) {
		snprintf(why, size, "cancelled on its re-check: %s", pwhy);
	} else if (cons != CF_CONS_STOP) {
		rc = -EPERM;
		snprintf(why, size, "cancelled on its re-check: the source's consistency is now %s",
			 cf_consistency_name(cons));
	} else if (health && (rc = stop_took_effect(e, job)) != 0) {
		if (rc < 0)
			cf_warn(
			    "%s: cannot read the instances of a resumed clone; trying again later",
			    target);
		else
			rc = 0; /* its stop goes on: repeated with its request id */
	} else if (health && (rc = check_health(e, source, &src, target, "stop"))) {
		if (rc == -EAGAIN)
			goto out;
		snprintf(why, size,
			 "cancelled on its re-check before the stop: the source is not healthy "
			 "(%s, logged above)",
			 cf_log_errno_name(-rc));
	}
out:
	cf_resource_clear(&src);
	return rc;
}

/* Whether to give the job up now (see above): 0, or the errno and in why
 * the reason; -EAGAIN: keep it as it is and try later. `resumed`: the
 * background thread's first round of the job. */
static int give_up(struct cf_engine *e, json_t *job, const char *target, bool resumed, char *why,
		   size_t size)
{
	json_t *cancel = json_object_get(json_object_get(job, "marks"), "cancel");
	if (cancel) {
		snprintf(why, size, "cancelled by %s (uid %lld) through .clonefs/jobs",
			 jstr(cancel, "user"),
			 (long long) json_integer_value(json_object_get(cancel, "uid")));
		return -ECANCELED;
	}
	if (!resumed)
		return 0;
	unsigned max = e->cfg.policy->clone.job_max_age_seconds;
	if (job_age(job) >= (int64_t) max) {
		snprintf(why, size,
			 "expired: it never got past its first cloud step, and "
			 "clone.job_max_age_seconds is %u",
			 max);
		return -ETIMEDOUT;
	}
	const char *step = jstr(job, "step");
	if (strcmp(step, "stop") && strcmp(step, "wait_stopped"))
		return 0;
	return recheck_source(e, job, target, !strcmp(step, "stop") && !stop_accepted(job), why,
			      size);
}

/* Whether the job may have run its flush command and owes the thaw. */
static bool thaw_due(json_t *job)
{
	return json_is_true(json_object_get(job, "thaw_due"));
}

/* Run the policy's flush or thaw command (clone.flush_command,
 * clone.thaw_command; none set: nothing to run) the way the health command
 * runs: the source's path in the mount and its resource.json (the cache's,
 * stored when the mkdir read it) in the environment, the same timeout. */
static int run_hook(struct cf_engine *e, json_t *job, bool thaw, char *why, size_t size)
{
	const struct cf_policy *p = e->cfg.policy;
	char *const *argv = thaw ? p->clone.thaw_command : p->clone.flush_command;
	if (!argv)
		return 0;
	const char *source = jstr(job, "source");
	char where[CF_PATH_MAX + 256];
	snprintf(where, sizeof where, "%s%s%s", e->cfg.mountpoint ? e->cfg.mountpoint : "",
		 e->cfg.mountpoint ? "/" : "", source);
	char *doc = NULL, *json = NULL;
	size_t len = 0;
	uint64_t ino;
	if (!cf_store_ino_of_path(e->cfg.store, source, &ino) &&
	    !cf_store_read(e->cfg.store, CF_INO(CF_INO_BASE(ino), CF_SUB_JSON), &doc, &len) &&
	    (json = malloc(len + 1))) {
		memcpy(json, doc, len);
		json[len] = '\0';
	}
	free(doc);
	int64_t t0 = cf_mono_ms(), deadline = cf_http_deadline();
	int rc = cf_command_run(thaw ? "thaw command" : "flush command", (const char *const *) argv,
				p->clone.health_timeout_seconds, where, json,
				jstr(job, "consistency"), why, size);
	/* The command's own time is not time the API failed to answer. */
	if (deadline)
		cf_http_set_deadline(deadline + (cf_mono_ms() - t0));
	free(json);
	return rc;
}

/* Run job from its recorded step. With until_accepted, return as soon as
 * the create was accepted (mkdir's answer); the rest is the background
 * thread's. Every transition is journaled before the next request. Between
 * steps, a job not accepted yet may be given up (give_up). `resumed`: the job
 * comes from the journal, not from its mkdir's plan a moment ago. */
static int run_job(struct cf_engine *e, uint64_t id, json_t *job, bool until_accepted, bool resumed)
{
	char target[CF_PATH_MAX];
	job_target(job, target, sizeof target);
	const char *source = jstr(job, "source");
	int result = 0;
	bool first = true;
	/* The step create is journaled before its request leaves, and left only
	 * once it was answered: a job found in the journal at that step may have
	 * sent its create already (a crash, an unmount, a journal write that
	 * failed after the answer), and the provider must not take a request
	 * that its cloud does not show yet for one never sent (the request id
	 * alone does not make every cloud's create idempotent). A job that
	 * reaches the step in this run has sent nothing yet. */
	bool maybe_sent = resumed && !strcmp(jstr(job, "step"), "create");
	for (;;) {
		const char *step = jstr(job, "step");
		const char *next = NULL;
		int rc = 0;
		if (before_accepted(job)) {
			char why[700];
			int grc = give_up(e, job, target, first && resumed, why, sizeof why);
			if (grc == -EAGAIN)
				return grc; /* the source could not be re-checked now */
			if (grc) {
				bool restart = may_have_stopped(job);
				cf_warn("job %" PRIu64
					": clone %s of %s, at step %s, %lld s old: %s; %s",
					id, target, source, step, (long long) job_age(job), why,
					restart ? "starting the instances it may have stopped"
					: maybe_sent
					    ? "dropped (its create may have been sent before "
					      "a restart: a clone it made is listed with its "
					      "labels)"
					    : "nothing was sent; dropped");
				job_fail(job, -ECANCELED, why);
				/* A flush command may have run: thaw before anything else. */
				next = thaw_due(job) ? "thaw" : restart ? "start" : "done";
			}
		}
		first = false;
		if (next) {
			/* given up: straight to its start (or its end) */
		} else if (!strcmp(step, "stop")) {
			rc = power_all(e, id, job, false);
			if (rc)
				job_fail(job, rc, "stopping the instance failed");
			next = rc ? "start" : "wait_stopped";
		} else if (!strcmp(step, "wait_stopped")) {
			rc = await_instances(e, json_object_get(job, "stop"), CF_STATE_STOPPED,
					     "stop for a stop-mode clone");
			if (rc)
				job_fail(job, rc, "the instance did not stop");
			next = rc ? "start" : "create";
		} else if (!strcmp(step, "flush")) {
			/* Journaled first: from here on a crash or a give-up thaws. */
			json_object_set_new(job, "thaw_due", json_true());
			int jrc = cf_journal_put(e->cfg.journal, id, job);
			if (jrc) {
				cf_err("journal: cannot record job %" PRIu64 ": %s", id,
				       strerror(-jrc));
				return -EAGAIN;
			}
			char why[700];
			rc = run_hook(e, job, false, why, sizeof why);
			if (rc) {
				job_fail(job, rc, why);
				refuse(e, target, -rc,
				       "%s; nothing was sent, the thaw command runs", why);
			}
			next = rc ? "thaw" : "create";
		} else if (!strcmp(step, "thaw")) {
			/* After the create was accepted or refused (or the job was given
			 * up): a frozen source must never stay frozen. Its failure is
			 * logged; the clone's own result stands. */
			char why[700];
			rc = run_hook(e, job, true, why, sizeof why);
			if (rc)
				cf_err("job %" PRIu64 ": %s: %s; the source %s may still be frozen",
				       id, target, why, source);
			json_object_set_new(job, "thaw_due", json_false());
			rc = 0;
			next = json_is_true(json_object_get(job, "accepted"))  ? "wait_created"
			       : json_array_size(json_object_get(job, "stop")) ? "start"
									       : "done";
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
			/* The provider's own flush when it has one; else the policy's
			 * flush and thaw commands are the flush (steps flush, thaw). */
			req.guest_flush = !strcmp(jstr(job, "consistency"), "flush") &&
					  (cf_provider_consistency(e->cfg.provider) & CF_CAP_FLUSH);
			req.labels = l;
			req.nlabels = i;
			req.request_id = json_string_value(
			    json_object_get(json_object_get(job, "rid"), "create"));
			req.maybe_sent = maybe_sent;
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
			next = thaw_due(job) ? "thaw"
			       : rc ? (json_array_size(json_object_get(job, "stop")) ? "start"
										     : "done")
				    : "wait_created";
		} else if (!strcmp(step, "wait_created")) {
			struct cf_operation op = {0};
			if (job_get_op(job, "create", &op))
				rc = follow(e, &op, target, "the clone");
			cf_operation_clear(&op);
			if (rc == -EINTR)
				goto interrupted;
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
			rc = power_all(e, id, job, true);
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
			return result ? result : 0;
		} else {
			cf_err("journal: job %" PRIu64 " has an unknown step \"%s\"; dropped", id,
			       step);
			cf_journal_del(e->cfg.journal, id);
			return -EIO;
		}
		if (rc == -EINTR) {
		interrupted:
			/* A wait ended by the unmount: the journal keeps the job at
			 * this step (what this step changed in memory is dropped),
			 * and the next mount resumes it, as after a crash. */
			cf_info("job %" PRIu64 ": clone %s of %s left at step %s: the mount is "
				"ending; the next mount resumes it",
				id, target, source, step);
			return -EAGAIN;
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
			if (state_of(e, src) != CF_STATE_RUNNING)
				return refuse(e, target, EHOSTDOWN,
					      "source %s is %s, not running: clone only a working "
					      "system",
					      src_path,
					      src->status ? src->status : "of unknown status");
		} else if (src->nlinks == 0) {
			if (state_of(e, src) != CF_STATE_READY)
				return refuse(e, target, EHOSTDOWN,
					      "source disk %s is %s, not ready", src_path,
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
				bool ok = !rc && state_of(e, &u) == CF_STATE_RUNNING;
				char st[40];
				snprintf(st, sizeof st, "%s", u.status ? u.status : "missing");
				cf_resource_clear(&u);
				if (!ok)
					return refuse(e, target, EHOSTDOWN,
						      "disk %s is attached to %s, which is %s, not "
						      "running",
						      src_path, src->links[i], st);
			}
		}
	}
	if (p->clone.health_command) {
		char why[512], where[CF_PATH_MAX + 256];
		snprintf(where, sizeof where, "%s%s%s", e->cfg.mountpoint ? e->cfg.mountpoint : "",
			 e->cfg.mountpoint ? "/" : "", src_path);
		int64_t t0 = cf_mono_ms(), deadline = cf_http_deadline();
		int rc = cf_health_run((const char *const *) p->clone.health_command,
				       p->clone.health_timeout_seconds, where, src->raw,
				       consistency, why, sizeof why);
		/* The command's own time (health_timeout_seconds bounds it) is not
		 * time the API failed to answer. */
		if (deadline)
			cf_http_set_deadline(deadline + (cf_mono_ms() - t0));
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
	r.scope = (char *) cf_kind_home(kind); /* a clone lives in its kind's fixed scope */
	r.name = (char *) name;
	r.status = (char *) "CREATING";
	r.created = now_s();
	r.source = (char *) src_path;
	r.labels = (struct cf_label *) l;
	r.nlabels = n;
	return store_put(e, &r);
}

/* The accepted clone's entry: the API's own record, id included, when the
 * API shows it already, so that a later rmdir or setfattr can require that
 * id; else a provisional one (no id: labels may be set on it, a prune reads
 * it again first) until the API shows it. */
static void store_accepted(struct cf_engine *e, enum cf_kind kind, const char *name,
			   const char *target, const char *src_path, const struct cf_label *l,
			   size_t n)
{
	struct cf_resource r = {0};
	struct cf_error err = {0};
	if (e->cfg.provider->ops->get(e->cfg.provider, target, &r, &err) == 0 && r.id &&
	    r.kind == kind) {
		store_put(e, &r);
		cf_resource_clear(&r);
		return;
	}
	cf_resource_clear(&r);
	put_provisional(e, kind, name, src_path, l, n);
}

/* Set the layout's name label to name in the labels *l (n of them, heap). */
static int set_name_label(struct cf_label **l, size_t *n, const char *name)
{
	const char *key = cf_layout()->name_label;
	size_t i = 0;
	while (i < *n && strcmp((*l)[i].key, key))
		i++;
	if (i == *n) {
		struct cf_label *m = realloc(*l, (*n + 1) * sizeof *m);
		if (!m)
			return -ENOMEM;
		*l = m;
		m[i].key = strdup(key);
		m[i].value = NULL;
		(*n)++;
		if (!m[i].key)
			return -ENOMEM;
	}
	free((*l)[i].value);
	(*l)[i].value = strdup(name);
	return (*l)[i].value ? 0 : -ENOMEM;
}

/* "a" or "an" before a kind's name, for a refusal that reads as English. */
static const char *article(const char *word)
{
	return word[0] && strchr("aeiouAEIOU", word[0]) ? "an" : "a";
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
	const struct cf_layout_view *views = cf_layout()->views;
	if (sub != CF_SUB_SNAPSHOTS && sub != CF_SUB_CLONES) {
		const char *s0 = cf_kind_name(views[0].source), *s1 = cf_kind_name(views[1].source);
		return refuse(e, ppath, EPERM,
			      "mkdir %s: clones are made in %s %s's %s/ or %s %s's %s/ directory",
			      name, article(s0), s0, views[0].dir, article(s1), s1, views[1].dir);
	}
	/* The view is the layout's (layout.h): what it makes, and its name. */
	enum cf_kind kind = views[sub - CF_SUB_SNAPSHOTS].kind;
	const char *kname = views[sub - CF_SUB_SNAPSHOTS].dir;
	char shown[CF_PATH_MAX + 300];
	snprintf(shown, sizeof shown, "%s/%s/%s", ppath, kname, name);
	const char *rule = "";
	if (!cf_provider_text_valid(e->cfg.provider, CF_TEXT_NAME, name, strlen(name), &rule))
		return refuse(e, shown, EINVAL, "not a valid name: %s", rule);
	if (cf_resource_path(kind, cf_kind_home(kind), name, target, sizeof target) < 0)
		return refuse(e, shown, EINVAL, "not a valid name");
	struct cf_resource existing = {0};
	if (!stored(e, target, &existing)) {
		cf_resource_clear(&existing);
		return refuse(e, shown, EEXIST, "%s already exists", target);
	}
	rc = cf_policy_may(p, CF_RIGHT_CLONE, c, why, sizeof why);
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
	/* Restored from a replicated system's copy and not confirmed in sync
	 * yet (restore.c): not a source, as an unhealthy one is not. */
	if (label_of(&src, CF_RESYNC_LABEL)) {
		rc = refuse(e, shown, EHOSTDOWN,
			    "the source %s was restored from a copy of a replicated system and "
			    "its resync is not confirmed (label %s=%s): clone it once it is in "
			    "sync (setfattr -x user.%s on it confirms)",
			    ppath, CF_RESYNC_LABEL, label_of(&src, CF_RESYNC_LABEL),
			    CF_RESYNC_LABEL);
		goto out;
	}
	/* A mode this provider cannot make (provider.h's CF_CAP_* bits follow
	 * enum cf_consistency): refused, naming the setting that chose it. */
	bool by_label = label_of(&src, "clone-consistency") != NULL;
	/* Flush mode through the policy's commands: on a provider without a
	 * flush of its own they are the flush; never a silent crash-consistent
	 * clone instead. */
	bool hooks = cons == CF_CONS_FLUSH && (p->clone.flush_command || p->clone.thaw_command);
	if (cons == CF_CONS_FLUSH && !(cf_provider_consistency(e->cfg.provider) & CF_CAP_FLUSH) &&
	    !p->clone.flush_command) {
		rc = refuse(e, shown, EOPNOTSUPP,
			    "the %s provider has no flush of its own: set the policy's "
			    "clone.flush_command (and clone.thaw_command) to flush the source, or "
			    "change %s",
			    e->cfg.provider->ops->name ? e->cfg.provider->ops->name : "cloud",
			    by_label ? "the source's clone-consistency label"
				     : "the policy's clone.consistency");
		goto out;
	}
	if (cons != CF_CONS_FLUSH && !(cf_provider_consistency(e->cfg.provider) & (1u << cons))) {
		rc = refuse(e, shown, EOPNOTSUPP,
			    "the %s provider cannot make a %s-consistent clone: change %s",
			    e->cfg.provider->ops->name ? e->cfg.provider->ops->name : "cloud",
			    cf_consistency_name(cons),
			    by_label ? "the source's clone-consistency label"
				     : "the policy's clone.consistency");
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
	/* Where the provider names resources by a label, the new one is named
	 * by it: the name goes in the create request itself. */
	if (cf_layout()->name_label && (rc = set_name_label(&labels, &nlabels, name))) {
		rc = refuse(e, shown, -rc, "out of memory");
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
	job = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:{s:s, s:o, s:o}, s:s, s:s, s:I}",
			"type", "clone", "kind",
			kind == CF_KIND_SNAPSHOT ? "snapshot" : "machineImage", "name", name,
			"source", ppath, "consistency", cf_consistency_name(cons), "labels",
			labels_to_json(labels, nlabels), "stop", stop, "rid", "create", rid, "stop",
			uuids(nstop), "start", uuids(nstop), "step",
			nstop	? "stop"
			: hooks ? "flush"
				: "create",
			"user", c->user ? c->user : "", "created", (json_int_t) now_s());
	/* no stop request has left yet (power_all sets it before the first) */
	if (job)
		json_object_set_new(job, "stop_sent", json_false());
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

	rc = run_job(e, id, job, !e->cfg.wait_ready, false);
	/* Accepted: the directory is there at once, CREATING until the sync or
	 * the job sees it READY. With wait_ready the job already followed it to
	 * the end and stored what the API says. */
	if (rc == 0 && !e->cfg.wait_ready)
		store_accepted(e, kind, name, target, ppath, labels, nlabels);
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

/* A write to path was refused ESTALE just now (see STALE_MEMO_MS): the
 * kernel's repeat of that rmdir, setxattr or rename is refused too. */
static void stale_note(struct cf_engine *e, const char *path)
{
	int64_t now = cf_mono_ms();
	pthread_mutex_lock(&e->lock);
	int slot = 0;
	for (int i = 0; i < STALE_MEMO; i++) {
		if (!strcmp(e->stale[i].path, path) || now - e->stale[i].at >= STALE_MEMO_MS) {
			slot = i;
			break;
		}
		if (e->stale[i].at < e->stale[slot].at)
			slot = i;
	}
	snprintf(e->stale[slot].path, sizeof e->stale[slot].path, "%s", path);
	e->stale[slot].at = now;
	pthread_mutex_unlock(&e->lock);
}

static bool stale_recent(struct cf_engine *e, const char *path)
{
	int64_t now = cf_mono_ms();
	bool hit = false;
	pthread_mutex_lock(&e->lock);
	for (int i = 0; i < STALE_MEMO && !hit; i++)
		hit = e->stale[i].at && now - e->stale[i].at < STALE_MEMO_MS &&
		      !strcmp(e->stale[i].path, path);
	pthread_mutex_unlock(&e->lock);
	return hit;
}

static int refuse_stale_repeat(struct cf_engine *e, const char *shown)
{
	return refuse(e, shown, ESTALE,
		      "refused as stale a moment ago and shown again since: look at the entry "
		      "before repeating the write");
}

/* A label write the API accepted: follow its operation, then show the API's
 * labels. */
static int label_written(struct cf_engine *e, struct cf_operation *op, const char *path,
			 const char *shown)
{
	budget_renew();
	int rc = follow(e, op, shown, "setting labels");
	cf_operation_clear(op);
	if (rc)
		return rc;
	refresh(e, path, NULL);
	return 0;
}

/* What label_update decides on each fresh read the provider makes. */
struct label_plan {
	struct cf_engine *e;
	const char *path, *shown, *want_id, *key, *value;
	int flags;
	bool answered;	/* plan's own answer (logged already when a refusal) */
	unsigned plans; /* reads the provider made and planned on, this call */
};

/* The engine's rules on the resource as the API shows it now: the id the
 * mount showed (ESTALE otherwise), XATTR_CREATE / _REPLACE, and nothing to
 * write when the label already has the value. The provider calls it again
 * after every conflict, so each try judges what it will change. */
static int plan_label(void *ctx, const struct cf_resource *r, struct cf_label_change *ch,
		      size_t cap, size_t *n)
{
	struct label_plan *lp = ctx;
	struct cf_engine *e = lp->e;
	budget_renew(); /* an answer from the API */
	lp->plans++;
	*n = 0;
	lp->answered = true;
	if (lp->want_id && *lp->want_id && (!r->id || strcmp(r->id, lp->want_id))) {
		/* Deleted and re-created under the same name: its labels are not
		 * the ones the caller saw. Show the new one, change nothing. (An
		 * entry without an id is a clone this mount's create made a moment
		 * ago, before the API showed it: the name is all there is.) */
		store_put(e, r);
		stale_note(e, lp->path);
		return refuse(e, lp->shown, ESTALE,
			      "the API's %s is id %s, not id %s that the mount showed: "
			      "labels not changed; the entry now shows the API's resource",
			      lp->path, r->id ? r->id : "(none)", lp->want_id);
	}
	const char *have = label_of(r, lp->key);
	if ((lp->flags & CF_LABEL_CREATE) && have)
		return -EEXIST; /* an answer, not a refusal to log */
	if (((lp->flags & CF_LABEL_REPLACE) || !lp->value) && !have)
		return -ENODATA;
	if (lp->value && have && !strcmp(have, lp->value)) {
		store_put(e, r);
		return 0;
	}
	if (cap < 1)
		return -ENOMEM;
	ch[0].key = lp->key;
	ch[0].value = lp->value;
	*n = 1;
	lp->answered = false; /* what follows is the provider's */
	return 0;
}

/* Set (value) or remove (NULL) one label: the provider applies the change
 * with its own concurrency control (GCE: the fingerprint, re-read and merged
 * on 412, at most 10 tries within the write's budget, jittered), asking
 * plan_label on each read. */
static int label_update_to(struct cf_engine *e, const char *path, const char *readback,
			   const char *shown, const char *want_id, const char *key,
			   const char *value, int flags);

static int label_update(struct cf_engine *e, const char *path, const char *shown,
			const char *want_id, const char *key, const char *value, int flags)
{
	return label_update_to(e, path, path, shown, want_id, key, value, flags);
}

/* The same, the resource read back from `readback` after the write: where a
 * write of the name label moves it. */
static int label_update_to(struct cf_engine *e, const char *path, const char *readback,
			   const char *shown, const char *want_id, const char *key,
			   const char *value, int flags)
{
	const struct cf_provider_ops *o = e->cfg.provider->ops;
	if (!o->change_labels)
		return refuse(e, shown, EOPNOTSUPP, "the %s provider cannot change labels",
			      o->name ? o->name : "cloud");
	struct label_plan lp = {.e = e,
				.path = path,
				.shown = shown,
				.want_id = want_id,
				.key = key,
				.value = value,
				.flags = flags};
	struct cf_operation op = {0};
	struct cf_error err = {0};
	unsigned tries = 0;
	int rc;
	do {
		cf_operation_clear(&op);
		memset(&err, 0, sizeof err);
		lp.answered = false;
		lp.plans = 0;
		char ap[CF_PATH_MAX];
		rc = o->change_labels(e->cfg.provider, api_path(e, path, ap, sizeof ap), plan_label,
				      &lp, &op, &err);
	} while (rc && !lp.answered && rc != -ESTALE && again(e, rc, &err, &tries, path));
	if (rc && lp.answered) {
		cf_operation_clear(&op);
		return rc; /* plan_label's answer */
	}
	if (rc == -ENOENT) {
		cf_operation_clear(&op);
		return refuse(e, shown, ENOENT, "the resource no longer exists");
	}
	if (rc && !lp.plans) {
		cf_operation_clear(&op);
		return refuse(e, shown, EAGAIN, "cannot read its labels from the API: %s",
			      err.message[0] ? err.message : strerror(-rc));
	}
	if (rc == -ESTALE) {
		cf_operation_clear(&op);
		return refuse(e, shown, EAGAIN, "%s",
			      err.message[0] ? err.message
					     : "labels kept changing under us (fingerprint "
					       "conflicts)");
	}
	if (rc) {
		cf_operation_clear(&op);
		return refuse(e, shown, -rc, "setting labels: %s",
			      err.message[0] ? err.message : strerror(-rc));
	}
	if (!op.name) {
		cf_operation_clear(&op);
		return 0; /* nothing to write: plan_label said so */
	}
	return label_written(e, &op, readback, shown);
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

/* Who may change label key: the labels the policy reads take the prune
 * right, the rest the label right (policy.h). */
static int may_label(struct cf_engine *e, const struct cf_caller *c, const char *shown,
		     const char *key, const char *op)
{
	char why[512];
	enum cf_right right = cf_policy_label_right(e->cfg.policy, key);
	int rc = cf_policy_may(e->cfg.policy, right, c, why, sizeof why);
	if (rc)
		return refuse(e, shown, rc, "%s label %s: %s%s", op, key, why,
			      right == CF_RIGHT_PRUNE ? " (the policy reads this label: changing "
							"it takes the prune right)"
						      : "");
	return 0;
}

/* A new value of the name label for resource r: a valid, unlisted name. */
static int check_rename(struct cf_engine *e, const struct cf_resource *r, const char *shown,
			const char *value, size_t len)
{
	char name[CF_NAME_MAX + 1], target[CF_PATH_MAX];
	const char *rule = "";
	if (len > CF_NAME_MAX || memchr(value, '\0', len) || !cf_name_is_safe(value, len) ||
	    !cf_provider_text_valid(e->cfg.provider, CF_TEXT_NAME, value, len, &rule))
		return refuse(e, shown, EINVAL, "%s: not a valid name%s%s", cf_layout()->name_label,
			      *rule ? ": " : "", rule);
	memcpy(name, value, len);
	name[len] = '\0';
	if (r->name && !strcmp(r->name, name))
		return 0; /* its own name */
	struct cf_resource other = {0};
	if (cf_resource_path(r->kind, r->scope, name, target, sizeof target) < 0)
		return refuse(e, shown, EINVAL, "%s: not a valid name", cf_layout()->name_label);
	if (!stored(e, target, &other)) {
		bool self = other.id && r->id && !strcmp(other.id, r->id);
		cf_resource_clear(&other);
		if (!self)
			return refuse(e, shown, EEXIST, "%s: %s is listed already",
				      cf_layout()->name_label, target);
	}
	return 0;
}

static int engine_set_label(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			    const char *key, const char *value, size_t len, int flags)
{
	struct cf_resource r = {0};
	char path[CF_PATH_MAX], shown[CF_PATH_MAX];
	int rc = resolve(e, ino, &r, path, sizeof path, shown, sizeof shown);
	if (rc == -ENOTSUP || rc == -ENOENT)
		return refuse(e, shown, EPERM, "labels belong to resource directories only");
	if (rc)
		return rc;
	char want[CF_ID_MAX];
	snprintf(want, sizeof want, "%s", r.id ? r.id : "");
	/* The name label names the entry: its new value must be a name the
	 * collection does not list already (the entry moves once it is set). */
	bool naming = cf_layout()->name_label && !strcmp(key, cf_layout()->name_label);
	char moved[CF_PATH_MAX] = "";
	rc = naming ? check_rename(e, &r, shown, value, len) : 0;
	/* read back where the new name lists it */
	if (naming && !rc)
		snprintf(moved, sizeof moved, "%.*s/%.*s",
			 (int) (strlen(path) - strlen(r.name) - 1), path, (int) len, value);
	cf_resource_clear(&r);
	if (rc)
		return rc;
	if (stale_recent(e, path))
		return refuse_stale_repeat(e, shown);
	/* Only the key and value the caller writes are judged by the provider's rules
	 * (provider.h's text_valid); the resource's other labels go back as the API
	 * holds them. */
	const char *rule = "";
	if (!cf_provider_text_valid(e->cfg.provider, CF_TEXT_LABEL_KEY, key, strlen(key), &rule))
		return refuse(e, shown, EINVAL, "label key \"%.64s\" is not valid: %s", key, rule);
	if (!strcmp(key, CF_TRASH_LABEL))
		return refuse(e, shown, EPERM,
			      "%s is clonefs's own: rmdir puts a resource in "
			      "the trash, mv takes it out",
			      CF_TRASH_LABEL);
	if ((rc = may_label(e, c, shown, key, "set")))
		return rc;
	if (len > cf_provider_label_bytes_max(e->cfg.provider))
		return refuse(e, shown, EINVAL,
			      "label value for %s is not valid: %zu bytes (never changed silently)",
			      key, len);
	if (memchr(value, '\0', len) ||
	    !cf_provider_text_valid(e->cfg.provider, CF_TEXT_LABEL_VALUE, value, len, &rule))
		return refuse(e, shown, EINVAL,
			      "label value for %s is not valid: %s (never changed silently)", key,
			      rule);
	char v[CF_LABEL_TEXT_BYTES_MAX + 1];
	memcpy(v, value, len);
	v[len] = '\0';
	return label_update_to(e, path, *moved ? moved : path, shown, want, key, v, flags);
}

static int engine_remove_label(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			       const char *key)
{
	struct cf_resource r = {0};
	char path[CF_PATH_MAX], shown[CF_PATH_MAX];
	int rc = resolve(e, ino, &r, path, sizeof path, shown, sizeof shown);
	if (rc == -ENOTSUP || rc == -ENOENT)
		return -ENODATA;
	if (rc)
		return rc;
	bool have = label_of(&r, key) != NULL;
	char want[CF_ID_MAX];
	snprintf(want, sizeof want, "%s", r.id ? r.id : "");
	/* Without its name label a resource is listed by its id: read back there. */
	char moved[CF_PATH_MAX] = "";
	if (cf_layout()->name_label && !strcmp(key, cf_layout()->name_label) && *want)
		cf_resource_path(r.kind, r.scope, want, moved, sizeof moved);
	cf_resource_clear(&r);
	if (!have)
		return -ENODATA;
	if (!strcmp(key, CF_TRASH_LABEL))
		return refuse(e, shown, EPERM, "mv the entry out of .clonefs/trash to restore it");
	if (!strcmp(key, CF_RESYNC_LABEL))
		return cf_restore_confirm_resync(e, c, ino); /* and records who confirmed it */
	if ((rc = may_label(e, c, shown, key, "remove")))
		return rc;
	if (stale_recent(e, path))
		return refuse_stale_repeat(e, shown);
	return label_update_to(e, path, *moved ? moved : path, shown, want, key, NULL, 0);
}

/* ---- prune ----
 *
 * Nothing is deleted on the strength of the cache (SEMANTICS.md, "Pruning:
 * what is checked before anything is deleted"). Every prune — rmdir, rmdir
 * inside the trash, the reaper — reads the resource fresh from the API just
 * before it acts, requires the id the mount showed (the reaper: the id its
 * trash label recorded), judges the policy on that fresh record, and only
 * then takes a breaker slot and sends the request. The delete itself is by
 * name (the API has no condition on a delete): the window between the read
 * and the delete is one round trip. */

static bool prunable(enum cf_kind k)
{
	return k == CF_KIND_SNAPSHOT || k == CF_KIND_IMAGE || k == CF_KIND_MACHINE_IMAGE;
}

/* Ready, or of no status at all (a resource that reports none is usable). */
static bool is_ready(struct cf_engine *e, const struct cf_resource *r)
{
	enum cf_state st = state_of(e, r);
	return st == CF_STATE_NONE || st == CF_STATE_READY;
}

static bool newer_than(const struct cf_resource *a, const struct cf_resource *b)
{
	return a->created > b->created ||
	       (a->created == b->created && a->created_ns > b->created_ns);
}

/* Of the newer READY siblings the cache shows, read them from the API until
 * `want` are confirmed READY, out of the trash, of the same source and newer
 * than r: keep_last never rests on a sibling that is gone or not READY now.
 * The number confirmed, or a negative errno when the API could not say. */
static long confirm_newer(struct cf_engine *e, const struct cf_resource *r,
			  const struct dep_scan *sib, size_t want)
{
	size_t ok = 0;
	for (size_t i = 0; i < sib->npaths && ok < want; i++) {
		struct cf_resource s = {0};
		struct cf_error err = {0};
		int rc = api_get(e, sib->paths[i], &s, &err);
		if (rc == -ENOENT) {
			store_drop(e, sib->paths[i]);
			continue;
		}
		if (rc)
			return rc;
		if (s.kind == r->kind && is_ready(e, &s) && !label_of(&s, CF_TRASH_LABEL) &&
		    s.source && !strcmp(s.source, r->source) && newer_than(&s, r))
			ok++;
		else
			store_put(e, &s); /* the cache was behind: show what the API says */
		cf_resource_clear(&s);
	}
	return (long) ok;
}

/* The policy on r (protect label, min age, keep_last over READY siblings,
 * dependents): 0, or -EPERM / -EBUSY / -EAGAIN with the reason in why.
 * fresh: r was just read from the API, and the siblings keep_last counts
 * on are read again too; otherwise everything is the cache's (the reaper's
 * first look, which never deletes by itself). */
static int prune_check(struct cf_engine *e, const struct cf_resource *r, const char *path,
		       bool fresh, char *why, size_t whysize)
{
	const struct cf_policy *p = e->cfg.policy;
	struct dep_scan sib = {.e = e,
			       .want = r->kind,
			       .skip_trashed = true,
			       .ready_only = true,
			       .collect = fresh,
			       .created = r->created,
			       .created_ns = r->created_ns,
			       .self = path};
	/* r is the API's: its source in the API's words, the index in the mount's */
	char src[CF_PATH_MAX];
	if (r->source)
		cf_store_dependents(e->cfg.store, shown_path(e, r->source, src, sizeof src), dep_fn,
				    &sib);
	size_t newer = sib.newer;
	if (fresh && r->source && p->prune.keep_last && is_ready(e, r) &&
	    newer >= p->prune.keep_last) {
		long ok = confirm_newer(e, r, &sib, p->prune.keep_last);
		if (ok < 0) {
			free(sib.paths);
			snprintf(why, whysize,
				 "cannot read its newer siblings from the API to check "
				 "prune.keep_last (nothing was sent): %s",
				 strerror((int) -ok));
			return -EAGAIN;
		}
		newer = (size_t) ok;
	}
	free(sib.paths);
	int rc = cf_policy_may_prune(p, r, is_ready(e, r), now_s(), newer, sib.n + 1, why, whysize);
	if (rc)
		return rc;
	struct dep_scan deps = {.e = e, .want = CF_KIND_NONE};
	cf_store_dependents(e->cfg.store, path, dep_fn, &deps);
	if (deps.n) {
		snprintf(why, whysize, "%zu resource%s made from it (%.256s%s)", deps.n,
			 deps.n == 1 ? " is" : "s are", deps.first, deps.n > 1 ? ", ..." : "");
		return -EBUSY;
	}
	/* what the cloud holds it for, beyond the tree (a fresh look only) */
	if (fresh && e->api->ops->in_use) {
		char p2[CF_PATH_MAX];
		struct cf_error err = {0};
		int rc = e->api->ops->in_use(e->api, api_path(e, path, p2, sizeof p2), &err);
		if (rc == -EBUSY) {
			snprintf(why, whysize, "%.400s", err.message);
			return -EBUSY;
		}
		if (rc) {
			snprintf(why, whysize,
				 "cannot ask the API whether anything uses it (nothing was sent): "
				 "%.300s",
				 err.message[0] ? err.message : strerror(-rc));
			return -EAGAIN;
		}
	}
	return 0;
}

static int breaker_take(struct cf_engine *e, int64_t *taken)
{
	*taken = now_ms();
	return cf_breaker_take(e->breaker, *taken);
}

/* A request that failed: its breaker slot goes back when the API answered
 * that it did nothing (a 4xx: not found, a stale fingerprint, invalid) or
 * it was refused before it was sent. One that may have reached the API (no
 * answer, a 5xx) keeps its slot. */
static void breaker_settle(struct cf_engine *e, int64_t taken, int rc, const struct cf_error *err)
{
	int st = err->http_status;
	if (rc && ((st >= 400 && st < 500) || (st == 0 && !transient(rc, err))))
		cf_breaker_refund(e->breaker, taken);
}

static int breaker_open(struct cf_engine *e, const char *shown)
{
	return refuse(e, shown, EAGAIN,
		      "more than %u deletions in the last minute (prune.max_per_minute): "
		      "the breaker against rm -rf and runaway scripts is open",
		      e->cfg.policy->prune.max_per_minute);
}

/* Delete in the cloud now and wait for the answer: what the mount reports
 * is what the API did. The caller has read it fresh, checked it and taken
 * the breaker slot `taken`. */
static int delete_now(struct cf_engine *e, const char *path, const char *shown, int64_t taken)
{
	char rid[37];
	struct cf_operation op = {0};
	struct cf_error err = {0};
	cf_uuid4(rid);
	int rc = api_remove(e, path, rid, &op, &err);
	if (rc)
		breaker_settle(e, taken, rc, &err);
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
	return 0;
}

/* Label the fresh record f for the trash with value, guarded by the
 * fingerprint f was read with. 1 when the labels changed since (412): read
 * again and judge again. */
static int send_trash_label(struct cf_engine *e, const char *path, const char *shown,
			    const struct cf_resource *f, const char *value, int64_t taken)
{
	size_t n = 0;
	struct cf_label *l = calloc(f->nlabels + 1, sizeof *l);
	if (!l) {
		cf_breaker_refund(e->breaker, taken);
		return -ENOMEM;
	}
	for (size_t i = 0; i < f->nlabels; i++)
		if (strcmp(f->labels[i].key, CF_TRASH_LABEL))
			l[n++] = f->labels[i];
	if (n >= CF_LABELS_MAX) {
		free(l);
		cf_breaker_refund(e->breaker, taken);
		return refuse(e, shown, ENOSPC,
			      "it already has %d labels, the provider's limit: no room for %s",
			      CF_LABELS_MAX, CF_TRASH_LABEL);
	}
	l[n].key = (char *) CF_TRASH_LABEL;
	l[n].value = (char *) value;
	n++;
	struct cf_operation op = {0};
	struct cf_error err = {0};
	int rc = e->api->ops->set_labels(e->api, path, l, n, f->fingerprint, NULL, &op, &err);
	free(l);
	if (rc) {
		cf_operation_clear(&op);
		breaker_settle(e, taken, rc, &err);
		if (rc == -ESTALE)
			return 1;
		if (rc == -ENOENT) {
			store_drop(e, path);
			return 0;
		}
		return refuse(e, shown, rc == -EINVAL ? EINVAL : -rc, "setting %s: %s",
			      CF_TRASH_LABEL, err.message[0] ? err.message : strerror(-rc));
	}
	return label_written(e, &op, path, shown);
}

/* Prune the resource at path that the mount showed with id want_id: read
 * it fresh, require that id, judge the policy on it, take a breaker slot,
 * then delete it (now) or label it for the trash. in_trash: the mount
 * showed it in the trash, and it must still be there. */
static int prune_fresh(struct cf_engine *e, const char *path, const char *shown,
		       const char *want_id, bool in_trash, bool now)
{
	const struct cf_policy *p = e->cfg.policy;
	char why[512];
	for (int attempt = 0; attempt < LABEL_RETRIES; attempt++) {
		struct cf_resource f = {0};
		struct cf_error err = {0};
		int rc = api_get(e, path, &f, &err);
		if (rc == -ENOENT) {
			store_drop(e, path);
			cf_info("%s: already gone from the API, nothing to prune", shown);
			return 0;
		}
		if (rc)
			return refuse(e, shown, transient(rc, &err) ? EAGAIN : -rc,
				      "cannot read it from the API before pruning (nothing was "
				      "sent): %s",
				      err.message[0] ? err.message : strerror(-rc));
		if (!f.id || strcmp(f.id, want_id)) {
			store_put(e, &f);
			stale_note(e, path);
			rc = refuse(
			    e, shown, ESTALE,
			    "the API's %s is id %s, not id %s that the mount showed (deleted "
			    "and re-created?): nothing done; the entry now shows the API's "
			    "resource, look at it and rmdir again to prune that one",
			    path, f.id ? f.id : "(none)", want_id);
			cf_resource_clear(&f);
			return rc;
		}
		if (in_trash && !label_of(&f, CF_TRASH_LABEL)) {
			store_put(e, &f);
			stale_note(e, path);
			cf_resource_clear(&f);
			return refuse(e, shown, ESTALE,
				      "no longer in the trash in the API (restored elsewhere): not "
				      "deleted");
		}
		if ((rc = prune_check(e, &f, path, true, why, sizeof why))) {
			store_put(e, &f);
			cf_resource_clear(&f);
			return refuse(e, shown, rc, "%s", why);
		}
		char value[CF_LABEL_VALUE_MAX + 1] = "";
		if (!now && cf_trash_value_format(now_s() + p->prune.grace_seconds, e->mount_id,
						  f.id, value, sizeof value)) {
			rc = refuse(e, shown, EINVAL,
				    "its id %.64s cannot be recorded in a %s label value", f.id,
				    CF_TRASH_LABEL);
			cf_resource_clear(&f);
			return rc;
		}
		int64_t taken;
		if (breaker_take(e, &taken)) {
			cf_resource_clear(&f);
			return breaker_open(e, shown);
		}
		rc = now ? delete_now(e, path, shown, taken)
			 : send_trash_label(e, path, shown, &f, value, taken);
		cf_resource_clear(&f);
		if (rc != 1) {
			if (!rc && !now)
				cf_info(
				    "%s: in .clonefs/trash/%s until %s (grace %u s); mv it back "
				    "to keep it",
				    shown, path, value, p->prune.grace_seconds);
			return rc;
		}
		/* The labels changed since the read: read again, judge again. */
		cf_debug("%s: label fingerprint changed under us, re-reading (try %d)", path,
			 attempt + 1);
		unsigned delay = jitter(20u << (attempt < 7 ? attempt : 7));
		int64_t deadline = cf_http_deadline();
		if (deadline && cf_mono_ms() + delay >= deadline)
			break;
		if (engine_sleep(e, delay)) /* an unmount does not wait for it */
			return refuse(e, shown, EAGAIN,
				      "labels changed under us, and the mount is stopping");
	}
	return refuse(e, shown, EAGAIN,
		      "labels kept changing under us (fingerprint conflicts until the write's time "
		      "ran out, at most %d tries)",
		      LABEL_RETRIES);
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
	if ((rc = cf_policy_may(p, CF_RIGHT_PRUNE, c, why, sizeof why))) {
		cf_resource_clear(&r);
		return refuse(e, shown, rc, "%s", why);
	}
	if (stale_recent(e, path)) {
		cf_resource_clear(&r);
		return refuse_stale_repeat(e, shown);
	}
	if (!r.id || !*r.id) {
		cf_resource_clear(&r);
		refresh(e, path, NULL);
		stale_note(e, path);
		return refuse(e, shown, ESTALE,
			      "the mount holds no id for it, so it cannot tell which resource it "
			      "showed (never deleted by name alone): read again from the API, "
			      "rmdir again");
	}
	char *want = strdup(r.id);
	cf_resource_clear(&r);
	if (!want)
		return -ENOMEM;
	rc = prune_fresh(e, path, shown, want, in_trash, in_trash || p->prune.grace_seconds == 0);
	free(want);
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
	char want[CF_ID_MAX];
	snprintf(want, sizeof want, "%s", r.id ? r.id : "");
	cf_resource_clear(&r);
	char why[512];
	if ((rc = cf_policy_may(e->cfg.policy, CF_RIGHT_PRUNE, c, why, sizeof why)))
		return refuse(e, shown, rc, "restore: %s", why);
	if (stale_recent(e, path))
		return refuse_stale_repeat(e, shown);
	rc = label_update(e, path, shown, want, CF_TRASH_LABEL, NULL, 0);
	if (!rc)
		cf_info("%s: restored from the trash", path);
	return rc;
}

/* ---- the writes the mount asks for, each within its budget ---- */

int cf_engine_mkdir(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
		    const char *name, struct cf_stat *out)
{
	cf_write_budget_start();
	int rc = engine_mkdir(e, c, parent, name, out);
	cf_write_budget_end();
	return rc;
}

int cf_engine_rmdir(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
		    const char *name)
{
	cf_write_budget_start();
	int rc = engine_rmdir(e, c, parent, name);
	cf_write_budget_end();
	return rc;
}

int cf_engine_rename(struct cf_engine *e, const struct cf_caller *c, uint64_t parent,
		     const char *name, uint64_t newparent, const char *newname)
{
	cf_write_budget_start();
	int rc = engine_rename(e, c, parent, name, newparent, newname);
	cf_write_budget_end();
	return rc;
}

size_t cf_engine_label_bytes_max(struct cf_engine *e)
{
	return cf_provider_label_bytes_max(e->cfg.provider);
}

int cf_engine_set_label(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			const char *key, const char *value, size_t len, int flags)
{
	cf_write_budget_start();
	int rc = engine_set_label(e, c, ino, key, value, len, flags);
	cf_write_budget_end();
	return rc;
}

int cf_engine_remove_label(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			   const char *key)
{
	cf_write_budget_start();
	int rc = engine_remove_label(e, c, ino, key);
	cf_write_budget_end();
	return rc;
}

/* ---- the unfinished clone jobs: .clonefs/jobs ---- */

struct cancel_req {
	const struct cf_caller *c;
	bool taken; /* no thread is running the job: this one holds it */
	char why[200];
	char desc[CF_PATH_MAX + 400]; /* the job, for the log line */
};

/* In the journal's transaction: record the cancel, or say why it cannot be. */
static int cancel_fn(void *ctx, json_t *job)
{
	struct cancel_req *cr = ctx;
	char target[CF_PATH_MAX];
	if (!strcmp(jstr(job, "type"), "restore")) {
		/* listed with the clone jobs, but its create leaves while ln -s
		 * waits, and what follows only watches the new resource appear */
		cf_restore_job_target(job, target, sizeof target);
		snprintf(cr->desc, sizeof cr->desc, "restore %s from %s, at step %s, %lld s old",
			 target, jstr(job, "source"), jstr(job, "step"), (long long) job_age(job));
		snprintf(cr->why, sizeof cr->why,
			 "a restore is never cancelled: its create is sent by ln -s itself, and "
			 "the job then only follows the new resource to its end");
		return -EBUSY;
	}
	if (strcmp(jstr(job, "type"), "clone"))
		return -ENOENT;
	job_target(job, target, sizeof target);
	const char *step = jstr(job, "step");
	snprintf(cr->desc, sizeof cr->desc, "clone %s of %s, at step %s, %lld s old", target,
		 jstr(job, "source"), step, (long long) job_age(job));
	json_t *marks = json_object_get(job, "marks");
	if (json_object_get(marks, "cancel"))
		return 1; /* cancelled already: nothing to add */
	if (!before_accepted(job)) {
		snprintf(cr->why, sizeof cr->why, "%s",
			 json_is_true(json_object_get(job, "accepted"))
			     ? "the clone was accepted already: it is followed to its end (rmdir "
			       "the clone to prune it)"
			     : "it only starts the instances it stopped now, which is never "
			       "cancelled");
		return -EBUSY;
	}
	if (!strcmp(step, "create") && !cr->taken) {
		snprintf(cr->why, sizeof cr->why,
			 "its create is being sent right now; once accepted, rmdir the clone");
		return -EBUSY;
	}
	if (!json_is_object(marks)) {
		marks = json_object();
		json_object_set_new(job, "marks", marks);
	}
	json_object_set_new(marks, "cancel",
			    json_pack("{s:I, s:I, s:s}", "at", (json_int_t) now_s(), "uid",
				      (json_int_t) cr->c->uid, "user",
				      cr->c->user ? cr->c->user : ""));
	return 0;
}

int cf_engine_cancel_job(struct cf_engine *e, const struct cf_caller *c, uint64_t id,
			 const char *shown)
{
	char why[512];
	int rc = cf_policy_may(e->cfg.policy, CF_RIGHT_CLONE, c, why, sizeof why);
	if (rc)
		return refuse(e, shown, rc, "not allowed to cancel a clone job: %s", why);
	/* Hold the job while the cancel is recorded, when no thread runs it:
	 * then none can start it (and send its create) meanwhile. A thread that
	 * runs it now sees the cancel between its steps (the journal keeps the
	 * mark when it writes its older copy: cf_journal_put). */
	struct cancel_req cr = {.c = c};
	pthread_mutex_lock(&e->plan_lock);
	cr.taken = owned_take(e, id);
	pthread_mutex_unlock(&e->plan_lock);
	rc = cf_journal_update(e->cfg.journal, id, cancel_fn, &cr);
	if (cr.taken)
		owned_drop(e, id);
	if (rc == -ENOENT)
		return rc;
	if (rc == -EBUSY)
		return refuse(e, shown, EBUSY, "job %" PRIu64 " (%s) cannot be cancelled: %s", id,
			      cr.desc, cr.why);
	if (rc)
		return refuse(e, shown, EIO, "job %" PRIu64 ": recording the cancel failed: %s", id,
			      strerror(-rc));
	cf_warn("job %" PRIu64 " (%s): cancel requested by %s (uid %u) through .clonefs/jobs", id,
		cr.desc, c->user ? c->user : "?", (unsigned) c->uid);
	pthread_mutex_lock(&e->lock);
	e->kick = true;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
	return 0;
}

struct jobs_walk {
	cf_jobs_fn fn;
	void *ctx;
};

static int jobs_walk_fn(void *ctx, uint64_t id, json_t *job)
{
	struct jobs_walk *w = ctx;
	if (strcmp(jstr(job, "type"), "clone") && strcmp(jstr(job, "type"), "restore"))
		return 0;
	return w->fn(w->ctx, id);
}

int cf_jobs_each(struct cf_journal *j, cf_jobs_fn fn, void *ctx)
{
	struct jobs_walk w = {fn, ctx};
	return cf_journal_foreach(j, jobs_walk_fn, &w);
}

int cf_jobs_describe(struct cf_journal *j, uint64_t id, char **line, size_t *len)
{
	json_t *job = NULL;
	int rc = cf_journal_get(j, id, &job);
	if (rc)
		return rc;
	bool restore = !strcmp(jstr(job, "type"), "restore"); /* restore.c's */
	if (strcmp(jstr(job, "type"), "clone") && !restore) {
		json_decref(job);
		return -ENOENT;
	}
	char target[CF_PATH_MAX], created[32] = "";
	if (restore)
		cf_restore_job_target(job, target, sizeof target);
	else
		job_target(job, target, sizeof target);
	/* a restore's consistency is its copy's (the label it inherits) */
	const char *cons = restore ? json_string_value(json_object_get(
					 json_object_get(job, "labels"), "clonefs-consistency"))
				   : jstr(job, "consistency");
	json_t *c = json_object_get(job, "created");
	if (json_is_integer(c))
		cf_time_format((int64_t) json_integer_value(c), created, sizeof created);
	int64_t age = job_age(job);
	json_t *stop = json_object_get(job, "stop");
	json_t *err = json_object_get(job, "error");
	json_t *d = json_pack(
	    "{s:I, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:o, s:s, s:b, s:b, s:o}", "id",
	    (json_int_t) id, "type", restore ? "restore" : "clone", "source", jstr(job, "source"),
	    "target", target, "step", jstr(job, "step"), "age",
	    (json_int_t) (age == INT64_MAX ? -1 : age), "created", created, "consistency",
	    cons ? cons : "", "stop", json_is_array(stop) ? json_deep_copy(stop) : json_array(),
	    "user", jstr(job, "user"), "accepted", json_is_true(json_object_get(job, "accepted")),
	    "cancelled", json_object_get(json_object_get(job, "marks"), "cancel") != NULL, "error",
	    err ? json_string(jstr(err, "message")) : json_null());
	json_decref(job);
	char *text = d ? json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	json_decref(d);
	if (!text)
		return -ENOMEM;
	size_t n = strlen(text);
	char *t = realloc(text, n + 2);
	if (!t) {
		free(text);
		return -ENOMEM;
	}
	t[n] = '\n';
	t[n + 1] = '\0';
	*line = t;
	*len = n + 1;
	return 0;
}

/* ---- background: resume jobs, reap the trash ---- */

static int resume_fn(void *ctx, uint64_t id, json_t *job)
{
	struct cf_engine *e = ctx;
	bool restore = !strcmp(jstr(job, "type"), "restore"); /* restore.c's */
	if (strcmp(jstr(job, "type"), "clone") && !restore) {
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
		if (restore)
			cf_restore_run_job(e, id, mine, false, true);
		else
			run_job(e, id, mine, false, true);
		json_decref(mine);
	}
	owned_drop(e, id);
	pthread_mutex_lock(&e->lock);
	bool stop = e->stop;
	pthread_mutex_unlock(&e->lock);
	return stop;
}

/* ---- the reaper: trashed resources whose grace period is over ----
 *
 * A pass looks at every trashed resource the cache shows. A label value this
 * mount did not write (another mount's, a hand-set or malformed one, a bare
 * epoch from an older clonefs) is never acted on: it is reported once in the
 * log and listed in .clonefs/status. Of this mount's own labels whose time
 * is past, each is read fresh just before its delete and deleted only if the
 * fresh record still carries the same value, its id is the labelled one,
 * the policy allows it now and the breaker has room (else it waits for a
 * later pass). A restore anywhere removes the label, so it always wins. */

struct reap_due {
	char path[CF_PATH_MAX];
	char value[CF_LABEL_VALUE_MAX + 1];
	char rid[CF_LABEL_VALUE_MAX + 1];
};

struct reap {
	struct cf_engine *e;
	int64_t now;
	struct held *held;
	size_t nheld, capheld;
	struct reap_due *due;
	size_t ndue, capdue;
};

static int grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 16;
	void *na = realloc(*arr, nc * elem);
	if (!na)
		return -ENOMEM;
	*arr = na;
	*cap = nc;
	return 0;
}

static void hold(struct reap *rp, const char *path, const char *value, enum held_kind kind,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void hold(struct reap *rp, const char *path, const char *value, enum held_kind kind,
		 const char *fmt, ...)
{
	if (grow((void **) &rp->held, &rp->capheld, rp->nheld, sizeof *rp->held))
		return;
	struct held *h = &rp->held[rp->nheld++];
	snprintf(h->path, sizeof h->path, "%s", path);
	snprintf(h->value, sizeof h->value, "%s", value);
	h->kind = kind;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(h->reason, sizeof h->reason, fmt, ap);
	va_end(ap);
}

/* From the cache, in its read transaction: sort each trashed resource into
 * not ours / not due / labelled for another id / due. */
static int reap_fn(void *ctx, const char *path, const struct cf_resource *r)
{
	struct reap *rp = ctx;
	const char *v = label_of(r, CF_TRASH_LABEL);
	int64_t at;
	char mid[CF_MOUNT_ID_LEN + 1], rid[CF_LABEL_VALUE_MAX + 1];
	if (!v)
		return 0;
	if (cf_trash_value_parse(v, &at, mid, rid, sizeof rid)) {
		hold(rp, path, v, HELD_NOT_OURS,
		     "%s=%s was not written by this mount (not a value clonefs writes: "
		     "EPOCH-MOUNTID-ID); never deleted by the reaper: mv it out of the trash or "
		     "rmdir it there",
		     CF_TRASH_LABEL, v);
		return 0;
	}
	if (strcmp(mid, rp->e->mount_id)) {
		hold(rp, path, v, HELD_NOT_OURS,
		     "%s=%s was not written by this mount (mount %s; this one is %s); never "
		     "deleted by the reaper here",
		     CF_TRASH_LABEL, v, mid, rp->e->mount_id);
		return 0;
	}
	if (at > rp->now)
		return 0;
	if (!r->id || strcmp(r->id, rid)) {
		hold(rp, path, v, HELD_ID,
		     "%s=%s was set on id %s, this resource is id %s; never deleted by the reaper",
		     CF_TRASH_LABEL, v, rid, r->id ? r->id : "(none)");
		return 0;
	}
	if (grow((void **) &rp->due, &rp->capdue, rp->ndue, sizeof *rp->due))
		return 1;
	struct reap_due *d = &rp->due[rp->ndue++];
	snprintf(d->path, sizeof d->path, "%s", path);
	snprintf(d->value, sizeof d->value, "%s", v);
	snprintf(d->rid, sizeof d->rid, "%s", rid);
	return 0;
}

static bool stopping(struct cf_engine *e)
{
	pthread_mutex_lock(&e->lock);
	bool stop = e->stop;
	pthread_mutex_unlock(&e->lock);
	return stop;
}

/* One due entry: judged on the cache, then on a fresh read, then deleted.
 * False when the breaker is full (the rest waits for a later pass). */
static bool reap_one(struct reap *rp, const struct reap_due *d)
{
	struct cf_engine *e = rp->e;
	char shown[CF_PATH_MAX + 32], why[512];
	snprintf(shown, sizeof shown, ".clonefs/trash/%s", d->path);
	struct cf_resource r = {0};
	if (stored(e, d->path, &r))
		return true;
	const char *v = label_of(&r, CF_TRASH_LABEL);
	bool same = v && !strcmp(v, d->value);
	int rc = same ? prune_check(e, &r, d->path, false, why, sizeof why) : 0;
	cf_resource_clear(&r);
	if (!same)
		return true; /* changed since the listing: the next pass sees it */
	if (rc) {
		hold(rp, d->path, d->value, HELD_POLICY, "the policy keeps it now: %s", why);
		return true;
	}
	struct cf_resource f = {0};
	struct cf_error err = {0};
	rc = api_get(e, d->path, &f, &err);
	if (rc == -ENOENT) {
		store_drop(e, d->path);
		return true;
	}
	if (rc) {
		cf_debug("%s: cannot read it before deleting, left for a later pass: %s", shown,
			 err.message[0] ? err.message : strerror(-rc));
		return true;
	}
	bool ok = false;
	const char *fv = label_of(&f, CF_TRASH_LABEL);
	if (!fv)
		cf_info("%s: no longer in the trash in the API (restored elsewhere): not deleted",
			shown);
	else if (strcmp(fv, d->value))
		cf_info("%s: relabelled %s=%s in the API meanwhile: not deleted now", shown,
			CF_TRASH_LABEL, fv);
	else if (!f.id || strcmp(f.id, d->rid))
		hold(rp, d->path, d->value, HELD_ID,
		     "%s=%s was set on id %s, the API's resource is now id %s; never deleted by "
		     "the reaper",
		     CF_TRASH_LABEL, d->value, d->rid, f.id ? f.id : "(none)");
	else if ((rc = prune_check(e, &f, d->path, true, why, sizeof why)))
		hold(rp, d->path, d->value, HELD_POLICY, "the policy keeps it now: %s", why);
	else
		ok = true;
	if (!ok) {
		store_put(e, &f); /* the mount shows what the API says */
		cf_resource_clear(&f);
		return true;
	}
	cf_resource_clear(&f);
	int64_t taken;
	if (breaker_take(e, &taken)) {
		cf_debug("%s: grace period over, but the breaker is full: left for a later pass",
			 shown);
		return false;
	}
	cf_info("%s: grace period over (%s=%s), deleting", shown, CF_TRASH_LABEL, d->value);
	delete_now(e, d->path, shown, taken);
	return true;
}

static int held_cmp(const void *x, const void *y)
{
	const struct held *a = x, *b = y;
	int c = strcmp(a->path, b->path);
	if (!c)
		c = strcmp(a->value, b->value);
	return c ? c : (int) a->kind - (int) b->kind;
}

static void reap(struct cf_engine *e)
{
	struct reap rp = {.e = e, .now = now_s()};
	cf_store_foreach_trashed(e->cfg.store, reap_fn, &rp);
	for (size_t i = 0; i < rp.ndue && !stopping(e); i++)
		if (!reap_one(&rp, &rp.due[i]))
			break;
	free(rp.due);
	/* Report what is newly left alone, once while it stays so (both lists
	 * sorted: thousands of foreign entries cost a log line each once). */
	if (rp.nheld)
		qsort(rp.held, rp.nheld, sizeof *rp.held, held_cmp);
	pthread_mutex_lock(&e->held_lock);
	struct held *old = e->held;
	size_t nold = e->nheld;
	pthread_mutex_unlock(&e->held_lock);
	for (size_t i = 0; i < rp.nheld; i++) {
		if (!old || !bsearch(&rp.held[i], old, nold, sizeof *old, held_cmp)) {
			char shown[CF_PATH_MAX + 32];
			snprintf(shown, sizeof shown, ".clonefs/trash/%s", rp.held[i].path);
			refuse(e, shown, EPERM, "the reaper leaves it: %s", rp.held[i].reason);
		}
	}
	pthread_mutex_lock(&e->held_lock);
	e->held = rp.held;
	e->nheld = rp.nheld;
	e->reaper_passes++;
	pthread_mutex_unlock(&e->held_lock);
	free(old);
}

void cf_engine_tick(struct cf_engine *e)
{
	cf_journal_foreach(e->cfg.journal, resume_fn, e);
	reap(e);
}

unsigned long cf_engine_foreach_held(struct cf_engine *e, cf_held_fn fn, void *ctx)
{
	pthread_mutex_lock(&e->held_lock);
	for (size_t i = 0; fn && i < e->nheld; i++)
		fn(ctx, e->held[i].path, e->held[i].value, e->held[i].kind == HELD_NOT_OURS,
		   e->held[i].reason);
	unsigned long passes = e->reaper_passes;
	pthread_mutex_unlock(&e->held_lock);
	return passes;
}

const char *cf_engine_mount_id(struct cf_engine *e)
{
	return e->mount_id;
}

int cf_engine_load_mount_id(const char *dir, char out[CF_MOUNT_ID_LEN + 1])
{
	char path[CF_PATH_MAX], tmp[CF_PATH_MAX + 32];
	if (snprintf(path, sizeof path, "%s/mount-id", dir) >= (int) sizeof path)
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long) getpid());
	for (int round = 0; round < 2; round++) {
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			struct stat st;
			char buf[64];
			ssize_t n = -1;
			if (!fstat(fd, &st) && S_ISREG(st.st_mode))
				n = read(fd, buf, sizeof buf - 1);
			close(fd);
			if (n >= 0) {
				buf[n] = '\0';
				if (n > 0 && buf[n - 1] == '\n')
					buf[n - 1] = '\0';
			}
			if (n < 0 || !cf_mount_id_valid(buf)) {
				cf_err(
				    "%s: not a mount identity (a regular file holding %d lowercase "
				    "hex digits); remove it to make a new one (this mount's trash "
				    "labels then count as another mount's)",
				    path, CF_MOUNT_ID_LEN);
				return -EINVAL;
			}
			memcpy(out, buf, CF_MOUNT_ID_LEN + 1);
			return 0;
		}
		if (errno != ENOENT)
			return -errno;
		unsigned char rnd[CF_MOUNT_ID_LEN / 2];
		if (getrandom(rnd, sizeof rnd, 0) != (ssize_t) sizeof rnd)
			return -EIO;
		char id[CF_MOUNT_ID_LEN + 2];
		for (size_t i = 0; i < sizeof rnd; i++)
			snprintf(id + 2 * i, 3, "%02x", rnd[i]);
		id[CF_MOUNT_ID_LEN] = '\n';
		id[CF_MOUNT_ID_LEN + 1] = '\0';
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		int rc = write(fd, id, CF_MOUNT_ID_LEN + 1) == CF_MOUNT_ID_LEN + 1 && !fsync(fd)
			     ? 0
			     : -EIO;
		close(fd);
		/* link, not rename: a racing first start keeps the one that won */
		if (!rc && link(tmp, path) && errno != EEXIST)
			rc = -errno;
		unlink(tmp);
		if (rc)
			return rc;
	}
	return -EIO;
}

static void *engine_thread(void *arg)
{
	struct cf_engine *e = arg;
	/* the HTTP layer's and the provider's own pauses end on an unmount too */
	cf_stop_set_current(&e->stopper);
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
	cf_stop_set_current(NULL);
	return NULL;
}

int cf_engine_new(const struct cf_engine_config *cfg, struct cf_engine **out)
{
	if (!cfg->store || !cfg->provider || !cfg->policy || !cfg->journal ||
	    !cf_mount_id_valid(cfg->mount_id))
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
	memcpy(e->mount_id, cfg->mount_id, sizeof e->mount_id);
	e->cfg.mount_id = e->mount_id;
	e->breaker = cf_breaker_new(cfg->policy->prune.max_per_minute);
	if (cf_stop_init(&e->stopper)) {
		cf_breaker_free(e->breaker);
		free(e);
		return -ENOMEM;
	}
	if (cf_retry_provider_new(cfg->provider, &e->stopper, &e->api)) {
		cf_breaker_free(e->breaker);
		cf_stop_destroy(&e->stopper);
		free(e);
		return -ENOMEM;
	}
	pthread_mutex_init(&e->lock, NULL);
	pthread_mutex_init(&e->held_lock, NULL);
	pthread_mutex_init(&e->plan_lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (!e->breaker || pthread_create(&e->thread, NULL, engine_thread, e)) {
		cf_breaker_free(e->breaker);
		cf_retry_provider_free(e->api);
		cf_stop_destroy(&e->stopper);
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
	cf_stop_raise(&e->stopper);
	if (e->running)
		pthread_join(e->thread, NULL);
	cf_breaker_free(e->breaker);
	cf_retry_provider_free(e->api);
	pthread_cond_destroy(&e->cond);
	cf_stop_destroy(&e->stopper);
	pthread_mutex_destroy(&e->lock);
	pthread_mutex_destroy(&e->plan_lock);
	pthread_mutex_destroy(&e->held_lock);
	free(e->held);
	free(e);
}

void cf_engine_breaker(struct cf_engine *e, unsigned *recent, unsigned *max)
{
	*recent = cf_breaker_recent(e->breaker, now_ms());
	*max = e->cfg.policy->prune.max_per_minute;
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

/* ---- the services other parts of the engine use (engine_int.h) ---- */

const struct cf_engine_config *cf_eng_cfg(struct cf_engine *e)
{
	return &e->cfg;
}

struct cf_provider *cf_eng_api(struct cf_engine *e)
{
	return e->api;
}

int cf_eng_refuse(struct cf_engine *e, const char *path, int err, const char *fmt, ...)
{
	char why[768];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	return refuse(e, path, err, "%s", why);
}

int cf_eng_follow(struct cf_engine *e, struct cf_operation *op, const char *path, const char *what)
{
	return follow(e, op, path, what);
}

int cf_eng_store_put(struct cf_engine *e, const struct cf_resource *r)
{
	return store_put(e, r);
}

int cf_eng_refresh(struct cf_engine *e, const char *path, struct cf_resource *out)
{
	return refresh(e, path, out);
}

int cf_eng_stored(struct cf_engine *e, const char *path, struct cf_resource *out)
{
	return stored(e, path, out);
}

unsigned cf_eng_depth(struct cf_engine *e, const struct cf_resource *r)
{
	return depth_of(e, r, 0);
}

size_t cf_eng_descendants(struct cf_engine *e, const char *path, char *first, size_t size)
{
	struct dep_scan ds = {.e = e, .want = CF_KIND_NONE, .skip_trashed = true};
	cf_store_dependents(e->cfg.store, path, dep_fn, &ds);
	if (first && size)
		snprintf(first, size, "%s", ds.first);
	return ds.n;
}

enum cf_state cf_eng_state(struct cf_engine *e, const struct cf_resource *r)
{
	return state_of(e, r);
}

void cf_eng_job_set_op(json_t *job, const char *key, const struct cf_operation *op)
{
	job_set_op(job, key, op);
}

bool cf_eng_job_get_op(json_t *job, const char *key, struct cf_operation *op)
{
	return job_get_op(job, key, op);
}

void cf_eng_job_fail(json_t *job, int rc, const char *msg)
{
	job_fail(job, rc, msg);
}

int cf_eng_plan(struct cf_engine *e, json_t *job, const char *shown, uint64_t *id)
{
	int rc;
	pthread_mutex_lock(&e->plan_lock);
	if (!owned_take(e, UINT64_MAX)) {
		pthread_mutex_unlock(&e->plan_lock);
		return refuse(e, shown, EAGAIN, "%d jobs are in flight already; try again later",
			      MAX_OWNED);
	}
	if (!job || (rc = cf_journal_add(e->cfg.journal, job, id))) {
		owned_drop(e, UINT64_MAX);
		pthread_mutex_unlock(&e->plan_lock);
		return refuse(e, shown, EAGAIN, "cannot write the operation journal: %s",
			      strerror(job ? -rc : ENOMEM));
	}
	owned_rename(e, UINT64_MAX, *id);
	pthread_mutex_unlock(&e->plan_lock);
	return 0;
}

void cf_eng_release(struct cf_engine *e, uint64_t id)
{
	owned_drop(e, id);
}

void cf_eng_kick(struct cf_engine *e)
{
	pthread_mutex_lock(&e->lock);
	e->kick = true;
	pthread_cond_signal(&e->cond);
	pthread_mutex_unlock(&e->lock);
}

void cf_eng_count_restore(struct cf_engine *e, bool planned, bool old, bool failed)
{
	pthread_mutex_lock(&e->lock);
	e->stats.restores += planned;
	e->stats.restores_old += planned && old;
	e->stats.restores_failed += failed;
	pthread_mutex_unlock(&e->lock);
}

int cf_eng_label_target(struct cf_engine *e, const struct cf_caller *c, uint64_t ino,
			const char *key, char *path, size_t psize, char *want_id, size_t isize,
			char *shown, size_t ssize)
{
	struct cf_resource r = {0};
	int rc = resolve(e, ino, &r, path, psize, shown, ssize);
	if (rc == -ENOTSUP || rc == -ENOENT)
		return -ENODATA;
	if (rc)
		return rc;
	snprintf(want_id, isize, "%s", r.id ? r.id : "");
	cf_resource_clear(&r);
	if ((rc = may_label(e, c, shown, key, "remove")))
		return rc;
	if (stale_recent(e, path))
		return refuse_stale_repeat(e, shown);
	return 0;
}
