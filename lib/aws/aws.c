/* aws.c — the AWS EC2/EBS provider (provider.h): listings, single
 * resources, clones (CreateSnapshot, CreateImage), deletions, power, tags.
 *
 * AWS has no operation objects: a write's "operation" is the resource it
 * acts on, polled until its state says done (a snapshot pending ->
 * completed, an instance stopping -> stopped). op->name is the id, op->scope
 * the word for what is awaited ("snapshot", "image", "stop", "start", or
 * "done" for calls that finish in their answer).
 *
 * Exactly once: CreateSnapshot and CreateImage take no client token, so the
 * caller's request id travels as the tag clonefs-request=ID in the create
 * call's own TagSpecification. A create whose outcome is unknown (no answer,
 * or a 5xx that is no throttle) is remembered; before it is sent again the
 * provider looks the tag up, repeating the lookup for a while, since a new
 * resource may be missing from Describe for some seconds (EC2 is eventually
 * consistent). A create the caller says may have been sent before
 * (cf_create_req.maybe_sent: a job resumed after a crash, when this memory
 * was lost) is looked for the same way. A duplicate AMI name is the second
 * guard: the AMI of that name carrying our request tag is ours. */
#include "aws.h"
#include "aws_query.h"
#include "aws_xml.h"
#include "deadline.h"
#include "http.h"
#include "layout.h"
#include "log.h"
#include "stop.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUEST_TAG "clonefs-request"
/* How long a snapshot or AMI being made may be missing from Describe's
 * answers (EC2 is eventually consistent) before it counts as gone: deleted
 * while it was pending. */
#define UNSEEN_MS 15000
#define UNSEEN	  "not listed since "

enum {
	UNKNOWN_MAX = 64,	 /* creates with an unknown outcome remembered */
	LOOKUP_MS = 8000,	 /* how long a remembered create's tag is looked for: a few
				  * times EC2's usual consistency delay */
	DESCRIBE_MS = 5000,	 /* the time one lookup is given past the window */
	LOOKUP_OWN_MAX = 3,	 /* lost sends of one request whose lookup runs on its own
				  * time, not the write's (find_request) */
	AMI_SNAPSHOTS_MAX = 128, /* block device mappings of one AMI we follow */
	LABEL_CHANGES = 8,	 /* changes one plan may ask for */
	ID_MAX = 32,
};

struct aws {
	struct cf_provider pub;
	struct cf_aws_client *client;
	pthread_mutex_t lock;
	/* creates with an unknown outcome, under lock: the request id, when
	 * the last send's answer was lost (the lookup's window starts there)
	 * and how many sends were lost */
	struct unknown {
		char rid[37];
		int64_t since;
		unsigned lost;
	} unknown[UNKNOWN_MAX];
	unsigned next_unknown;
	char zone[40]; /* -o zone=: where restores go ("": their source's zone) */
};

struct cf_aws_client *cf_aws_client_of(struct cf_provider *p)
{
	return ((struct aws *) p->impl)->client;
}

const char *cf_aws_zone_of(struct cf_provider *p)
{
	return ((struct aws *) p->impl)->zone;
}

int cf_aws_set_zone(struct cf_provider *p, const char *zone)
{
	struct aws *a = p->impl;
	if (!zone || strlen(zone) >= sizeof a->zone)
		return -EINVAL;
	snprintf(a->zone, sizeof a->zone, "%s", zone);
	return 0;
}

/* ---- one call (aws_query.h) ---- */

/* A request's parameters as the ops build them: keys and values, the
 * formatted ones owned; handed to aws_query in order. */
struct aws_params {
	struct {
		char key[48];
		const char *value;
	} p[160];
	char *owned[160];
	size_t n, nowned;
	bool overflow;
};

static void aws_params_add(struct aws_params *ps, const char *key, const char *value)
{
	if (ps->n >= sizeof ps->p / sizeof ps->p[0] || strlen(key) >= sizeof ps->p[0].key ||
	    !value) {
		ps->overflow = true;
		return;
	}
	snprintf(ps->p[ps->n].key, sizeof ps->p[ps->n].key, "%s", key);
	ps->p[ps->n++].value = value;
}

static void aws_params_addf(struct aws_params *ps, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void aws_params_addf(struct aws_params *ps, const char *key, const char *fmt, ...)
{
	char *v = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (n < 0 || ps->nowned >= sizeof ps->owned / sizeof ps->owned[0]) {
		if (n >= 0)
			free(v);
		ps->overflow = true;
		return;
	}
	ps->owned[ps->nowned++] = v;
	aws_params_add(ps, key, v);
}

static void aws_params_free(struct aws_params *ps)
{
	for (size_t i = 0; i < ps->nowned; i++)
		free(ps->owned[i]);
	ps->nowned = ps->n = 0;
}

void cf_aws_seterr(struct cf_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	memset(err, 0, sizeof *err);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	err->errnum = errnum;
}

/* A 2xx whose body could not be read (cut short, garbage) is worth asking
 * again: every call here is a read or repeats harmlessly (a create looks its
 * request tag up first). */
static void unreadable_is_transient(int rc, struct cf_error *err)
{
	if (rc == -EPROTO &&
	    (err->http_status == 0 || (err->http_status >= 200 && err->http_status < 300))) {
		err->errnum = -EPROTO;
		err->retryable = true;
	}
}

/* One action with the answer read by h (NULL: only checked to be XML);
 * token: NextToken. 0 or the errno with err filled (aws_query). */
/* call, and what it cost (a listing page's requests and bytes): into
 * cost's counts when cost is not NULL, whatever the outcome. */
static int call_cost(struct cf_aws_client *c, const char *action, const struct aws_params *ps,
		     const struct cf_aws_xml_handler *h, const char *token, bool no_retry,
		     struct cf_error *err, struct cf_aws_result *cost)
{
	struct cf_aws_params qp = {0};
	if (ps->overflow) {
		cf_aws_seterr(err, -EINVAL, "%s: too many or too long parameters", action);
		return -EINVAL;
	}
	for (size_t i = 0; i < ps->n; i++)
		cf_aws_param(&qp, ps->p[i].value, "%s", ps->p[i].key);
	struct cf_aws_request rq = {.action = action,
				    .params = &qp,
				    .next_token = token,
				    .answer = h,
				    .no_retry = no_retry};
	memset(err, 0, sizeof *err);
	struct cf_aws_result res = {0};
	int rc = cf_aws_call(c, &rq, &res, err);
	if (cost) {
		cost->attempts += res.attempts;
		cost->bytes += res.bytes;
	}
	cf_aws_result_clear(&res);
	cf_aws_params_clear(&qp);
	unreadable_is_transient(rc, err);
	return rc;
}

static int call(struct cf_aws_client *c, const char *action, const struct aws_params *ps,
		const struct cf_aws_xml_handler *h, const char *token, bool no_retry,
		struct cf_error *err)
{
	return call_cost(c, action, ps, h, token, no_retry, err, NULL);
}

/* ---- the request ids whose create may have happened ---- */

static void unknown_add(struct aws *a, const char *rid)
{
	pthread_mutex_lock(&a->lock);
	struct unknown *u = NULL;
	for (int i = 0; i < UNKNOWN_MAX && !u; i++)
		if (!strcmp(a->unknown[i].rid, rid))
			u = &a->unknown[i];
	if (!u) {
		u = &a->unknown[a->next_unknown];
		a->next_unknown = (a->next_unknown + 1) % UNKNOWN_MAX;
		snprintf(u->rid, sizeof u->rid, "%s", rid);
		u->lost = 0;
	}
	/* a send lost again: a new window, from now */
	u->since = cf_mono_ms();
	u->lost++;
	pthread_mutex_unlock(&a->lock);
}

/* Whether rid's outcome is unknown; then *since and *lost (when not NULL)
 * say when its last send was lost and how many were. drop: forget it (the
 * create was found or accepted). */
static bool unknown_get(struct aws *a, const char *rid, bool drop, int64_t *since, unsigned *lost)
{
	bool there = false;
	pthread_mutex_lock(&a->lock);
	for (int i = 0; i < UNKNOWN_MAX && !there; i++)
		if (!strcmp(a->unknown[i].rid, rid)) {
			there = true;
			if (since)
				*since = a->unknown[i].since;
			if (lost)
				*lost = a->unknown[i].lost;
			if (drop)
				a->unknown[i].rid[0] = '\0';
		}
	pthread_mutex_unlock(&a->lock);
	return there;
}

static bool unknown_has(struct aws *a, const char *rid, bool drop)
{
	return unknown_get(a, rid, drop, NULL, NULL);
}

/* ---- describing ---- */

struct listing {
	enum cf_kind kind;
	const char *action;
	const char *id_param; /* "SnapshotId" */
	int page_size;	      /* MaxResults (each action's own bounds) */
	bool owner_self;
};

static const struct listing *listing_of(enum cf_kind k)
{
	static const struct listing snap = {CF_KIND_SNAPSHOT, "DescribeSnapshots", "SnapshotId",
					    1000, true};
	static const struct listing ami = {CF_KIND_MACHINE_IMAGE, "DescribeImages", "ImageId", 1000,
					   true};
	static const struct listing vol = {CF_KIND_DISK, "DescribeVolumes", "VolumeId", 500, false};
	static const struct listing inst = {CF_KIND_INSTANCE, "DescribeInstances", "InstanceId",
					    1000, false};
	switch (k) {
	case CF_KIND_SNAPSHOT:
		return &snap;
	case CF_KIND_MACHINE_IMAGE:
		return &ami;
	case CF_KIND_DISK:
		return &vol;
	case CF_KIND_INSTANCE:
		return &inst;
	default:
		return NULL;
	}
}

/* Instances that exist: every state but terminated. */
static void not_terminated(struct aws_params *ps, int filter)
{
	static const char *const live[] = {"pending", "running", "shutting-down", "stopping",
					   "stopped"};
	char key[48];
	snprintf(key, sizeof key, "Filter.%d.Name", filter);
	aws_params_add(ps, key, "instance-state-name");
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof key, "Filter.%d.Value.%d", filter, i + 1);
		aws_params_add(ps, key, live[i]);
	}
}

/* One Describe page of kind k: by ids (id != NULL), else by one filter
 * (fname = fvalue) when given, else all; decoded into out. */
static int describe(struct aws *a, enum cf_kind k, const char *id, const char *fname,
		    const char *fvalue, const char *token, struct cf_page *out,
		    struct cf_error *err)
{
	const struct listing *li = listing_of(k);
	struct aws_params ps = {0};
	int filter = 1;
	memset(out, 0, sizeof *out);
	if (li->owner_self)
		aws_params_add(&ps, "Owner.1", "self");
	if (id) {
		char key[48];
		snprintf(key, sizeof key, "%s.1", li->id_param);
		aws_params_add(&ps, key, id);
	} else {
		/* DescribeVolumes refuses MaxResults beside ids; with filters
		 * every Describe pages */
		aws_params_addf(&ps, "MaxResults", "%d", li->page_size);
	}
	if (fname) {
		aws_params_add(&ps, "Filter.1.Name", fname);
		aws_params_add(&ps, "Filter.1.Value.1", fvalue);
		filter = 2;
	}
	if (k == CF_KIND_INSTANCE && !id)
		not_terminated(&ps, filter);
	struct cf_aws_page_reader pr;
	if (cf_aws_page_reader_init(&pr, k, out)) {
		aws_params_free(&ps);
		return -EINVAL;
	}
	struct cf_aws_result cost = {0};
	int rc = call_cost(a->client, li->action, &ps, &pr.h, token, false, err, &cost);
	aws_params_free(&ps);
	if (rc) {
		free(pr.token);
		cf_page_clear(out);
		return rc;
	}
	rc = cf_aws_page_reader_end(&pr, 0, NULL, err);
	/* what the page cost, for the sync's pass line and metrics */
	out->requests = cost.attempts;
	out->bytes = cost.bytes;
	unreadable_is_transient(rc, err);
	if (rc && err->message[0]) {
		char m[sizeof err->message];
		snprintf(m, sizeof m, "%s: %.480s", li->action, err->message);
		memcpy(err->message, m, sizeof m);
	}
	return rc;
}

/* Every resource of kind k with filter fname = fvalue, page after page
 * (a filtered page may be short, even empty, and still not the last): fn
 * is called on each; its nonzero return stops the walk and is returned. */
static int each_match(struct aws *a, enum cf_kind k, const char *fname, const char *fvalue,
		      int (*fn)(void *ctx, struct cf_resource *r), void *ctx, struct cf_error *err)
{
	char *token = NULL;
	int rc = 0;
	for (int pages = 0; pages < 100000 && !rc; pages++) {
		struct cf_page pg;
		rc = describe(a, k, NULL, fname, fvalue, token, &pg, err);
		free(token);
		token = NULL;
		if (rc)
			break;
		for (size_t i = 0; i < pg.n && !rc; i++)
			rc = fn(ctx, &pg.items[i]);
		if (!rc && pg.next_token && !(token = strdup(pg.next_token)))
			rc = -ENOMEM;
		cf_page_clear(&pg);
		if (!token)
			break;
	}
	free(token);
	return rc;
}

/* A page in the order of the entry names the store will choose (the Name
 * tag, else the id). EC2 pages in id order, so the names of a page land all
 * over the store's name-keyed tables; in name order each insert's search
 * follows the last one's path down the same pages (about 8 % less CPU for a
 * first sync of 100,000 snapshots). Which resource holds a name does not
 * depend on the order (store_names.c). */
static int by_entry(const void *a, const void *b)
{
	const struct cf_resource *x = a, *y = b;
	return strcmp(x->name_pref ? x->name_pref : x->id, y->name_pref ? y->name_pref : y->id);
}

static int aws_list_page(struct cf_provider *p, enum cf_listing which, const char *token,
			 struct cf_page *out, struct cf_error *err)
{
	struct aws *a = p->impl;
	struct cf_error scratch;
	enum cf_kind k;
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	memset(out, 0, sizeof *out);
	switch (which) {
	case CF_LIST_SNAPSHOTS:
		k = CF_KIND_SNAPSHOT;
		break;
	case CF_LIST_MACHINE_IMAGES:
		k = CF_KIND_MACHINE_IMAGE;
		break;
	case CF_LIST_DISKS:
		k = CF_KIND_DISK;
		break;
	case CF_LIST_INSTANCES:
		k = CF_KIND_INSTANCE;
		break;
	default:
		return 0; /* nothing of that kind on AWS: an empty, complete listing */
	}
	int rc = describe(a, k, NULL, NULL, NULL, token && *token ? token : NULL, out, err);
	if (!rc && out->n > 1)
		qsort(out->items, out->n, sizeof *out->items, by_entry);
	return rc;
}

/* The one resource of kind k whose entry is `name`: by id when name is one,
 * else by its Name tag (an AMI: its name) where the oldest holder keeps it,
 * as the core names them. -ENOENT when none. */
static int find(struct aws *a, enum cf_kind k, const char *name, struct cf_resource *out,
		struct cf_error *err)
{
	bool by_id = cf_aws_id_of_kind(k, name, strlen(name));
	char *token = NULL;
	struct cf_resource best = {0};
	int rc = 0;
	memset(out, 0, sizeof *out);
	for (int pages = 0; pages < 1000; pages++) {
		struct cf_page pg;
		rc = describe(a, k, by_id ? name : NULL,
			      by_id			   ? NULL
			      : k == CF_KIND_MACHINE_IMAGE ? "name"
							   : "tag:Name",
			      name, token, &pg, err);
		free(token);
		token = NULL;
		if (rc)
			break;
		for (size_t i = 0; i < pg.n; i++) {
			struct cf_resource *r = &pg.items[i];
			if (by_id && strcmp(r->id, name))
				continue;
			if (!best.id || r->created < best.created ||
			    (r->created == best.created && strcmp(r->id, best.id) < 0)) {
				cf_resource_clear(&best);
				best = *r;
				memset(r, 0, sizeof *r);
			}
		}
		if (pg.next_token && !(token = strdup(pg.next_token)))
			rc = -ENOMEM;
		cf_page_clear(&pg);
		if (rc || !token)
			break;
	}
	free(token);
	if (rc == -ENOENT || (!rc && !best.id)) {
		cf_resource_clear(&best);
		cf_aws_seterr(err, -ENOENT, "%s %s does not exist", cf_kind_name(k), name);
		return -ENOENT;
	}
	if (rc) {
		cf_resource_clear(&best);
		return rc;
	}
	*out = best;
	return 0;
}

static int aws_get(struct cf_provider *p, const char *path, struct cf_resource *out,
		   struct cf_error *err)
{
	struct aws *a = p->impl;
	struct cf_error scratch;
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1];
	enum cf_kind k;
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	memset(out, 0, sizeof *out);
	if (!path || cf_path_parse(path, &k, scope, sizeof scope, name, sizeof name) ||
	    !listing_of(k)) {
		cf_aws_seterr(err, -EINVAL, "not a resource path");
		return -EINVAL;
	}
	/* name stays the id, name_pref the Name: the store decides the entry */
	return find(a, k, name, out, err);
}

/* The id of the resource at path, of a kind in `kind`. */
static int resolve(struct aws *a, const char *path, enum cf_kind want, char id[ID_MAX],
		   struct cf_resource *keep, struct cf_error *err)
{
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1];
	enum cf_kind k;
	struct cf_resource r;
	if (!path || cf_path_parse(path, &k, scope, sizeof scope, name, sizeof name) || k != want) {
		cf_aws_seterr(err, -EINVAL, "%.200s: not %s path", path ? path : "(null)",
			      cf_kind_name(want));
		return -EINVAL;
	}
	int rc = find(a, k, name, &r, err);
	if (rc)
		return rc;
	if (strlen(r.id) >= ID_MAX) {
		cf_resource_clear(&r);
		cf_aws_seterr(err, -EPROTO, "%s: id too long", path);
		return -EPROTO;
	}
	strcpy(id, r.id);
	if (keep)
		*keep = r;
	else
		cf_resource_clear(&r);
	return 0;
}

/* ---- operations ---- */

static int set_op(struct cf_operation *op, const char *id, const char *what, const char *status,
		  bool done)
{
	memset(op, 0, sizeof *op);
	op->name = strdup(id);
	op->scope = strdup(what);
	op->status = strdup(status ? status : "pending");
	op->done = done;
	if (!op->name || !op->scope || !op->status) {
		cf_operation_clear(op);
		return -ENOMEM;
	}
	return 0;
}

static int aws_op_poll(struct cf_provider *p, struct cf_operation *op, bool wait,
		       struct cf_error *err)
{
	struct aws *a = p->impl;
	struct cf_error scratch;
	struct cf_resource r;
	enum cf_kind k;
	(void) wait; /* EC2 has no server-side wait */
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if (!op || !op->name || !op->scope) {
		cf_aws_seterr(err, -EINVAL, "op_poll: no operation");
		return -EINVAL;
	}
	if (!strcmp(op->scope, "done")) {
		op->done = true;
		return 0;
	}
	if (!strcmp(op->scope, "snapshot"))
		k = CF_KIND_SNAPSHOT;
	else if (!strcmp(op->scope, "image"))
		k = CF_KIND_MACHINE_IMAGE;
	else if (!strcmp(op->scope, "volume"))
		k = CF_KIND_DISK; /* a restore: creating -> available */
	else if (!strcmp(op->scope, "stop") || !strcmp(op->scope, "start") ||
		 !strcmp(op->scope, "launch"))
		k = CF_KIND_INSTANCE;
	else {
		cf_aws_seterr(err, -EINVAL, "op_poll: unknown operation kind");
		return -EINVAL;
	}
	if (!cf_aws_id_of_kind(k, op->name, strlen(op->name))) {
		cf_aws_seterr(err, -EINVAL, "op_poll: not an id");
		return -EINVAL;
	}
	bool launch = !strcmp(op->scope, "launch"); /* a restore: pending -> running */
	int rc = find(a, k, op->name, &r, err);
	if (rc == -ENOENT && (k != CF_KIND_INSTANCE || launch)) {
		/* Just made, Describe may not show it yet (eventual consistency):
		 * op->status keeps when it was first missing; past UNSEEN_MS it
		 * is gone (deleted while pending), and the operation failed. */
		long long since = 0, now = (long long) cf_mono_ms();
		if (!op->status || sscanf(op->status, UNSEEN "%lld", &since) != 1) {
			char buf[64];
			snprintf(buf, sizeof buf, UNSEEN "%lld", now);
			char *st = strdup(buf);
			if (!st)
				return -ENOMEM;
			free(op->status);
			op->status = st;
			since = now;
		}
		if (now - since < UNSEEN_MS) {
			cf_debug("aws: %s %s not visible yet", op->scope, op->name);
			return 0;
		}
		op->done = op->failed = true;
		cf_aws_seterr(&op->err, -ENOENT, "%s %s is gone (not listed for %d s)", op->scope,
			      op->name, UNSEEN_MS / 1000);
		return 0;
	}
	if (rc == -ENOENT) {
		op->done = op->failed = true;
		cf_aws_seterr(&op->err, -ENOENT, "instance %s is gone", op->name);
		return 0;
	}
	if (rc)
		return rc;
	enum cf_state st = cf_aws_state(k, r.status);
	char *status = strdup(r.status ? r.status : "");
	cf_resource_clear(&r);
	if (!status)
		return -ENOMEM;
	free(op->status);
	op->status = status;
	bool stop = !strcmp(op->scope, "stop"), start = !strcmp(op->scope, "start") || launch;
	if (stop || start) {
		if (st == (stop ? CF_STATE_STOPPED : CF_STATE_RUNNING))
			op->done = true;
		else if (st == CF_STATE_DELETING) {
			op->done = op->failed = true;
			cf_aws_seterr(&op->err, -ENOENT, "instance %s is %s", op->name, status);
		}
		return 0;
	}
	if (st == CF_STATE_READY) {
		op->done = true;
	} else if (st == CF_STATE_FAILED || st == CF_STATE_DELETING) {
		op->done = op->failed = true;
		cf_aws_seterr(&op->err, -EIO, "%s %s is %s", op->scope, op->name, status);
	}
	return 0;
}

/* ---- create ---- */

/* The resource of kind k carrying our request tag, if Describe shows one. */
struct tagged {
	char *id, *status;
};

static int on_tagged(void *ctx, struct cf_resource *r)
{
	struct tagged *t = ctx;
	if (strlen(r->id) >= ID_MAX)
		return 0;
	strcpy(t->id, r->id);
	snprintf(t->status, 32, "%s", r->status ? r->status : "");
	return 1;
}

static int lookup_request(struct aws *a, enum cf_kind k, const char *rid, char id[ID_MAX],
			  char status[32], struct cf_error *err)
{
	struct tagged t = {id, status};
	int rc = each_match(a, k, "tag:" REQUEST_TAG, rid, on_tagged, &t, err);
	return rc == 1 ? 0 : rc ? rc : -ENOENT;
}

/* Look the request tag up. A create whose last send was lost is looked for
 * until LOOKUP_MS after that loss: only a Describe asked at the window's
 * end that still does not show it makes -ENOENT (sent again). The window
 * is the request's, not the call's: a lookup cut short by a fault (the
 * caller repeats the create) goes on where it stopped.
 *
 * The window is the lookup's own time, not the write's: waiting for EC2 to
 * become consistent is not the API failing to answer, and under load (a
 * slow Describe, a faulty one repeated) it could outlast the write's
 * deadline, failing a mkdir the API would have carried out. So for the
 * first LOOKUP_OWN_MAX lost sends of a request, the thread's deadline is
 * lifted to the window's end (plus DESCRIBE_MS for the last lookup) while
 * it runs, and then set back moved on by the time the API spent answering
 * (the time up to the last answered lookup), as the engine does for a
 * flush command's time. A write whose sends keep being lost still ends:
 * after that many, the window runs within the write's deadline, and when
 * the deadline comes first the answer is -EAGAIN (still unknown), never
 * -ENOENT, which would send the create a second time. */
static int find_request(struct aws *a, enum cf_kind k, const char *rid, char id[ID_MAX],
			char status[32], struct cf_error *err)
{
	int64_t since = 0;
	unsigned lost = 0;
	if (!unknown_get(a, rid, false, &since, &lost))
		return lookup_request(a, k, rid, id, status, err);
	int64_t until = since + LOOKUP_MS, deadline = cf_http_deadline();
	int64_t t0 = cf_mono_ms(), answered = t0;
	bool own = deadline && lost <= LOOKUP_OWN_MAX;
	if (own && deadline < until + DESCRIBE_MS)
		cf_http_set_deadline(until + DESCRIBE_MS);
	unsigned delay = 250;
	int rc;
	for (;;) {
		int64_t asked = cf_mono_ms();
		rc = lookup_request(a, k, rid, id, status, err);
		if (rc == 0 || rc == -ENOENT)
			answered = cf_mono_ms();
		if (rc != -ENOENT || asked >= until)
			break;
		int64_t now = cf_mono_ms(), dl = cf_http_deadline(), left = until - now;
		/* the last lookup asked at the window's end, not later */
		unsigned wait = left <= 0 ? 0 : left < (int64_t) delay ? (unsigned) left : delay;
		if (dl && now + wait + DESCRIBE_MS > dl) {
			cf_aws_seterr(err, -EAGAIN,
				      "request %s: its create may have been made and Describe does "
				      "not show it yet; looking again later",
				      rid);
			err->retryable = true;
			rc = -EAGAIN;
			break;
		}
		if (cf_stop_sleep_current(wait)) {
			/* an unmount: still unknown, never -ENOENT (a second create) */
			cf_aws_seterr(err, -EAGAIN,
				      "request %s: not shown by Describe yet and the mount is "
				      "stopping; looking again later",
				      rid);
			err->retryable = true;
			rc = -EAGAIN;
			break;
		}
		if (delay < 2000)
			delay *= 2;
	}
	if (own)
		cf_http_set_deadline(deadline + (answered - t0));
	return rc;
}

static void add_tags(struct aws_params *ps, int spec, const char *type,
		     const struct cf_create_req *req, bool with_name, const char *source_id)
{
	char key[48];
	int t = 1;
	snprintf(key, sizeof key, "TagSpecification.%d.ResourceType", spec);
	aws_params_add(ps, key, type);
#define TAG(k, v)                                                                                  \
	do {                                                                                       \
		snprintf(key, sizeof key, "TagSpecification.%d.Tag.%d.Key", spec, t);              \
		aws_params_add(ps, key, k);                                                        \
		snprintf(key, sizeof key, "TagSpecification.%d.Tag.%d.Value", spec, t);            \
		aws_params_add(ps, key, v);                                                        \
		t++;                                                                               \
	} while (0)
	if (with_name)
		TAG("Name", req->name);
	for (size_t i = 0; i < req->nlabels; i++)
		if (strcmp(req->labels[i].key, "Name") && strcmp(req->labels[i].key, REQUEST_TAG) &&
		    strcmp(req->labels[i].key, CF_AWS_SOURCE_TAG))
			TAG(req->labels[i].key, req->labels[i].value);
	TAG(REQUEST_TAG, req->request_id);
	if (source_id)
		TAG(CF_AWS_SOURCE_TAG, source_id);
#undef TAG
}

/* The id (and status) in a create's answer: <snapshotId> or <imageId>. */
struct created {
	const char *field;
	char id[ID_MAX];
	char status[32];
};

static int on_created(void *ctx, const char *path, const char *text, size_t len)
{
	struct created *c = ctx;
	if (!strcmp(path, c->field) && len < ID_MAX && strlen(text) == len)
		memcpy(c->id, text, len + 1);
	else if (!strcmp(path, "status") && len < sizeof c->status && strlen(text) == len)
		memcpy(c->status, text, len + 1);
	return 0;
}

static bool throttled(const struct cf_error *err)
{
	return strstr(err->reason, "Limit") || strstr(err->reason, "Throttl") ||
	       strstr(err->reason, "SlowDown");
}

static int check_req(const struct cf_create_req *req, struct cf_error *err)
{
	char ex[64];
	if (!req || (req->kind != CF_KIND_SNAPSHOT && req->kind != CF_KIND_MACHINE_IMAGE)) {
		cf_aws_seterr(err, -EINVAL, "create: only snapshots and AMIs are made");
		return -EINVAL;
	}
	if (!req->name || !cf_aws_name_usable(req->name, strlen(req->name))) {
		cf_aws_seterr(err, -EINVAL, "create: not a usable name");
		return -EINVAL;
	}
	if (req->kind == CF_KIND_MACHINE_IMAGE &&
	    !cf_aws_ami_name_valid(req->name, strlen(req->name))) {
		snprintf(ex, sizeof ex, "%.40s", req->name);
		cf_aws_seterr(err, -EINVAL,
			      "create: \"%s\" is no AMI name (3-128 letters, digits and ( ) [ ] "
			      "space . / - ' @ _)",
			      ex);
		return -EINVAL;
	}
	/* Name, the request tag and (an AMI's) the source tag besides the labels. */
	return cf_aws_check_req_tags("create", req->request_id, req->labels, req->nlabels, 3, err);
}

static int aws_create(struct cf_provider *p, const struct cf_create_req *req,
		      struct cf_operation *op, struct cf_error *err)
{
	struct aws *a = p->impl;
	struct cf_error scratch;
	struct aws_params ps = {0};
	char src[ID_MAX], id[ID_MAX], status[32];
	int rc;
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	memset(op, 0, sizeof *op);
	if ((rc = check_req(req, err)))
		return rc;
	bool snap = req->kind == CF_KIND_SNAPSHOT;
	const char *what = snap ? "snapshot" : "image";

	/* A resumed job's create may have left before a crash, and its
	 * snapshot may still be missing from Describe: its outcome is unknown,
	 * from now (when it was sent is not known, so the window is at least
	 * the real one). Once: a repeat of the call goes on in that window. */
	if (req->maybe_sent && !unknown_has(a, req->request_id, false)) {
		cf_info("aws: %s %s: request %s may have been sent before (a resumed job): "
			"looking for it for up to %d s before sending",
			what, req->name, req->request_id, LOOKUP_MS / 1000);
		unknown_add(a, req->request_id);
	}
	/* Made already (a repeat after a lost answer or a crash)? */
	rc = find_request(a, req->kind, req->request_id, id, status, err);
	if (!rc) {
		cf_info("aws: %s %s: request %s was made already: %s", what, req->name,
			req->request_id, id);
		unknown_has(a, req->request_id, true);
		return set_op(op, id, what, status, false);
	}
	if (rc != -ENOENT)
		return rc;
	if (unknown_has(a, req->request_id, false))
		cf_warn("aws: %s %s: request %s: an earlier create's outcome was unknown and "
			"Describe does not show it after %d s: sending it again",
			what, req->name, req->request_id, LOOKUP_MS / 1000);
	memset(err, 0, sizeof *err);
	if ((rc = resolve(a, req->source, snap ? CF_KIND_DISK : CF_KIND_INSTANCE, src, NULL, err)))
		return rc;
	if (snap) {
		aws_params_add(&ps, "VolumeId", src);
		aws_params_addf(&ps, "Description", "clonefs: %s of %s", req->name, src);
		add_tags(&ps, 1, "snapshot", req, true, NULL);
	} else {
		aws_params_add(&ps, "InstanceId", src);
		aws_params_add(&ps, "Name", req->name);
		aws_params_addf(&ps, "Description", "clonefs: %s of %s", req->name, src);
		/* never reboot: crash-consistent, or the instance is stopped
		 * already (stop mode) */
		aws_params_add(&ps, "NoReboot", "true");
		add_tags(&ps, 1, "image", req, false, src);
		add_tags(&ps, 2, "snapshot", req, false, NULL);
	}
	struct created c = {.field = snap ? "snapshotId" : "imageId"};
	struct cf_aws_xml_handler h = {.text = on_created, .ctx = &c};
	const char *action = snap ? "CreateSnapshot" : "CreateImage";
	cf_debug("aws: %s %s of %s, request %s", action, req->name, src, req->request_id);
	rc = call(a->client, action, &ps, &h, NULL, true, err);
	aws_params_free(&ps);
	if (rc && rc != -EPROTO) {
		if (!err->http_status || (err->http_status >= 500 && !throttled(err))) {
			/* it may have been made: look before sending again */
			unknown_add(a, req->request_id);
			err->retryable = true;
			err->errnum = -EAGAIN;
			return -EAGAIN;
		}
		if (!snap && !strcmp(err->reason, "InvalidAMIName.Duplicate")) {
			/* the second guard: is the AMI of that name ours? */
			struct cf_resource r;
			struct cf_error e2 = {0};
			if (!find(a, CF_KIND_MACHINE_IMAGE, req->name, &r, &e2)) {
				bool ours = false;
				for (size_t i = 0; i < r.nlabels; i++)
					ours =
					    ours || (!strcmp(r.labels[i].key, REQUEST_TAG) &&
						     !strcmp(r.labels[i].value, req->request_id));
				if (ours) {
					rc = set_op(op, r.id, what, r.status, false);
					cf_resource_clear(&r);
					unknown_has(a, req->request_id, true);
					return rc;
				}
				cf_resource_clear(&r);
			}
		}
		return rc;
	}
	if (rc || !cf_aws_id_of_kind(req->kind, c.id, strlen(c.id))) {
		/* accepted, but the answer is unreadable: found by its tag */
		unknown_add(a, req->request_id);
		cf_aws_seterr(err, -EAGAIN, "%s: unusable answer; outcome unknown", action);
		err->http_status = 200;
		err->retryable = true;
		return -EAGAIN;
	}
	unknown_has(a, req->request_id, true);
	cf_info("aws: %s %s: %s", action, req->name, c.id);
	return set_op(op, c.id, what, c.status[0] ? c.status : "pending", false);
}

/* ---- remove ---- */

static int delete_snapshot(struct aws *a, const char *id, struct cf_error *err)
{
	struct aws_params ps = {0};
	aws_params_add(&ps, "SnapshotId", id);
	int rc = call(a->client, "DeleteSnapshot", &ps, NULL, NULL, false, err);
	aws_params_free(&ps);
	if (rc == -ENOENT)
		return 0; /* gone already: what was asked (a repeat after a lost answer) */
	if (rc && (strstr(err->reason, "Lock") || strstr(err->message, "locked"))) {
		err->errnum = -EPERM;
		return -EPERM; /* a snapshot lock (governance or compliance) */
	}
	return rc;
}

/* Whether an AMI other than image_id uses snapshot snap_id. */
static int on_user(void *ctx, struct cf_resource *r)
{
	return strcmp(r->id, (const char *) ctx) ? 1 : 0;
}

static int used_elsewhere(struct aws *a, const char *snap_id, const char *image_id, bool *used,
			  struct cf_error *err)
{
	int rc = each_match(a, CF_KIND_MACHINE_IMAGE, "block-device-mapping.snapshot-id", snap_id,
			    on_user, (void *) image_id, err);
	*used = rc == 1;
	return rc == 1 ? 0 : rc;
}

static bool backup_owned(const struct cf_resource *r)
{
	for (size_t i = 0; i < r->nlabels; i++)
		if (!strncmp(r->labels[i].key, "aws:backup:", 11))
			return true;
	return false;
}

static int remove_image(struct aws *a, const char *path, const char *id, struct cf_error *err)
{
	struct aws_params ps = {0};
	struct cf_aws_image_reader ir;
	size_t n = 0;
	char(*snaps)[32] = calloc(AMI_SNAPSHOTS_MAX, 32);
	if (!snaps)
		return -ENOMEM;
	/* its snapshots first: once deregistered, nothing names them */
	cf_aws_image_reader_init(&ir, id, snaps, AMI_SNAPSHOTS_MAX, &n);
	aws_params_add(&ps, "ImageId.1", id);
	int rc = call(a->client, "DescribeImages", &ps, &ir.h, NULL, false, err);
	aws_params_free(&ps);
	if (!rc && !ir.found) {
		rc = -ENOENT;
		cf_aws_seterr(err, rc, "DescribeImages %s: the AMI is not in the answer", id);
	}
	if (rc) {
		free(snaps);
		return rc;
	}
	aws_params_add(&ps, "ImageId", id);
	rc = call(a->client, "DeregisterImage", &ps, NULL, NULL, false, err);
	aws_params_free(&ps);
	if (rc && rc != -ENOENT) {
		free(snaps);
		return rc;
	}
	cf_info("aws: %s: AMI %s deregistered; %zu snapshots of it", path, id, n);
	for (size_t i = 0; i < n; i++) {
		struct cf_error e2 = {0};
		bool used = false;
		int src = used_elsewhere(a, snaps[i], id, &used, &e2);
		if (!src && used) {
			cf_info("aws: %s: snapshot %s kept: another AMI uses it", path, snaps[i]);
			continue;
		}
		if (!src)
			src = delete_snapshot(a, snaps[i], &e2);
		if (src)
			cf_warn("aws: %s: snapshot %s of the deregistered AMI %s was not deleted: "
				"%s",
				path, snaps[i], id, e2.message);
		else
			cf_info("aws: %s: snapshot %s deleted", path, snaps[i]);
	}
	free(snaps);
	return 0;
}

static int aws_in_use(struct cf_provider *p, const char *path, struct cf_error *err)
{
	struct aws *a = p->impl;
	struct cf_error scratch;
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1], id[ID_MAX];
	enum cf_kind k;
	bool used = false;
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if (!path || cf_path_parse(path, &k, scope, sizeof scope, name, sizeof name)) {
		cf_aws_seterr(err, -EINVAL, "not a resource path");
		return -EINVAL;
	}
	if (k != CF_KIND_SNAPSHOT)
		return 0; /* an AMI's users are instances, which never block its deregistration */
	int rc = resolve(a, path, k, id, NULL, err);
	if (!rc)
		rc = used_elsewhere(a, id, "", &used, err); /* "": any AMI */
	if (!rc && used) {
		cf_aws_seterr(err, -EBUSY,
			      "%s: snapshot %s is used by an AMI (deregister the AMI first)", path,
			      id);
		return -EBUSY;
	}
	return rc;
}

static int aws_remove(struct cf_provider *p, const char *path, const char *request_id,
		      struct cf_operation *op, struct cf_error *err)
{
	struct aws *a = p->impl;
	struct cf_error scratch;
	struct cf_resource r = {0};
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1], id[ID_MAX];
	enum cf_kind k;
	(void) request_id; /* a deletion is its own guard: gone is gone */
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	memset(op, 0, sizeof *op);
	if (!path || cf_path_parse(path, &k, scope, sizeof scope, name, sizeof name)) {
		cf_aws_seterr(err, -EINVAL, "not a resource path");
		return -EINVAL;
	}
	if (k != CF_KIND_SNAPSHOT && k != CF_KIND_MACHINE_IMAGE) {
		cf_aws_seterr(err, -EPERM, "%s: clonefs deletes only snapshots and AMIs", path);
		return -EPERM;
	}
	int rc = resolve(a, path, k, id, &r, err);
	if (rc)
		return rc;
	if (backup_owned(&r)) {
		cf_resource_clear(&r);
		cf_aws_seterr(err, -EPERM,
			      "%s: AWS Backup owns %s (its aws:backup: tags); delete it "
			      "there",
			      path, id);
		return -EPERM;
	}
	cf_resource_clear(&r);
	if (k == CF_KIND_SNAPSHOT)
		rc = delete_snapshot(a, id, err);
	else
		rc = remove_image(a, path, id, err);
	if (rc)
		return rc;
	return set_op(op, id, "done", "deleted", true);
}

/* ---- power ---- */

static int aws_power(struct cf_provider *p, const char *instance_path, bool start,
		     const char *request_id, struct cf_operation *op, struct cf_error *err)
{
	struct aws *a = p->impl;
	struct cf_error scratch;
	struct aws_params ps = {0};
	char id[ID_MAX];
	(void) request_id; /* StopInstances and StartInstances repeat harmlessly */
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	memset(op, 0, sizeof *op);
	int rc = resolve(a, instance_path, CF_KIND_INSTANCE, id, NULL, err);
	if (rc)
		return rc;
	aws_params_add(&ps, "InstanceId.1", id);
	rc = call(a->client, start ? "StartInstances" : "StopInstances", &ps, NULL, NULL, false,
		  err);
	aws_params_free(&ps);
	if (rc)
		return rc;
	return set_op(op, id, start ? "start" : "stop", start ? "pending" : "stopping", false);
}

/* ---- tags ---- */

static const char *resource_id_of(struct aws *a, const char *path, char id[ID_MAX],
				  struct cf_resource *r, struct cf_error *err, int *rc)
{
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1];
	enum cf_kind k;
	if (!path || cf_path_parse(path, &k, scope, sizeof scope, name, sizeof name) ||
	    !listing_of(k)) {
		cf_aws_seterr(err, -EINVAL, "not a resource path");
		*rc = -EINVAL;
		return NULL;
	}
	*rc = resolve(a, path, k, id, r, err);
	return *rc ? NULL : id;
}

/* CreateTags of set[] and DeleteTags of del[] (each with the value it had,
 * so a value another writer changed since is not removed). */
static int write_tags(struct aws *a, const char *id, const struct cf_label_change *ch, size_t n,
		      const struct cf_resource *now, struct cf_error *err)
{
	struct aws_params cs = {0}, ds = {0};
	char key[48];
	int nc = 0, nd = 0, rc = 0;
	aws_params_add(&cs, "ResourceId.1", id);
	aws_params_add(&ds, "ResourceId.1", id);
	for (size_t i = 0; i < n; i++) {
		if (ch[i].value) {
			nc++;
			snprintf(key, sizeof key, "Tag.%d.Key", nc);
			aws_params_add(&cs, key, ch[i].key);
			snprintf(key, sizeof key, "Tag.%d.Value", nc);
			aws_params_add(&cs, key, ch[i].value);
			continue;
		}
		const char *old = NULL;
		for (size_t j = 0; j < now->nlabels && !old; j++)
			if (!strcmp(now->labels[j].key, ch[i].key))
				old = now->labels[j].value;
		if (!old)
			continue; /* not there: nothing to remove */
		nd++;
		snprintf(key, sizeof key, "Tag.%d.Key", nd);
		aws_params_add(&ds, key, ch[i].key);
		snprintf(key, sizeof key, "Tag.%d.Value", nd);
		aws_params_add(&ds, key, old);
	}
	if (nc)
		rc = call(a->client, "CreateTags", &cs, NULL, NULL, false, err);
	if (!rc && nd)
		rc = call(a->client, "DeleteTags", &ds, NULL, NULL, false, err);
	aws_params_free(&cs);
	aws_params_free(&ds);
	return rc;
}

/* How many tags the resource has once ch is applied. */
static size_t tags_after(const struct cf_resource *r, const struct cf_label_change *ch, size_t n)
{
	size_t count = r->nlabels;
	for (size_t i = 0; i < n; i++) {
		bool had = false;
		for (size_t j = 0; j < r->nlabels && !had; j++)
			had = !strcmp(r->labels[j].key, ch[i].key);
		if (ch[i].value && !had)
			count++;
		else if (!ch[i].value && had)
			count--;
	}
	return count;
}

static int aws_change_labels(struct cf_provider *p, const char *path, cf_label_plan_fn plan,
			     void *ctx, struct cf_operation *op, struct cf_error *err)
{
	struct aws *a = p->impl;
	struct cf_error scratch;
	struct cf_resource r = {0};
	struct cf_label_change ch[LABEL_CHANGES];
	char id[ID_MAX];
	size_t n = 0;
	int rc;
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	memset(op, 0, sizeof *op);
	if (!resource_id_of(a, path, id, &r, err, &rc))
		return rc;
	rc = plan(ctx, &r, ch, LABEL_CHANGES, &n);
	if (rc || !n || n > LABEL_CHANGES) {
		cf_resource_clear(&r);
		return rc ? rc : n ? -EINVAL : 0;
	}
	for (size_t i = 0; i < n; i++) {
		if (!ch[i].key || !cf_aws_tag_key_writable(ch[i].key, strlen(ch[i].key)) ||
		    (ch[i].value && !cf_aws_tag_value_valid(ch[i].value, strlen(ch[i].value)))) {
			cf_resource_clear(&r);
			cf_aws_seterr(err, -EINVAL, "%s: not a tag EC2 takes (aws: is AWS's)",
				      path);
			return -EINVAL;
		}
	}
	if (tags_after(&r, ch, n) > CF_AWS_TAGS_MAX) {
		cf_resource_clear(&r);
		cf_aws_seterr(err, -ENOSPC, "%s: EC2 keeps at most %d tags", path, CF_AWS_TAGS_MAX);
		return -ENOSPC;
	}
	rc = write_tags(a, id, ch, n, &r, err);
	cf_resource_clear(&r);
	if (rc)
		return rc;
	return set_op(op, id, "done", "done", true);
}

/* The whole set, as GCE's setLabels takes it: the differences from the tags
 * now, written per key (no fingerprint on AWS). */
static int aws_set_labels(struct cf_provider *p, const char *path, const struct cf_label *labels,
			  size_t n, const char *fingerprint, const char *request_id,
			  struct cf_operation *op, struct cf_error *err)
{
	struct aws *a = p->impl;
	struct cf_error scratch;
	struct cf_resource r = {0};
	char id[ID_MAX];
	int rc;
	(void) fingerprint, (void) request_id;
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	memset(op, 0, sizeof *op);
	if (n > CF_AWS_TAGS_MAX) {
		cf_aws_seterr(err, -ENOSPC, "%s: EC2 keeps at most %d tags", path, CF_AWS_TAGS_MAX);
		return -ENOSPC;
	}
	if (!resource_id_of(a, path, id, &r, err, &rc))
		return rc;
	struct cf_label_change *ch = calloc(n + r.nlabels + 1, sizeof *ch);
	size_t m = 0;
	if (!ch) {
		cf_resource_clear(&r);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		const char *old = NULL;
		for (size_t j = 0; j < r.nlabels && !old; j++)
			if (!strcmp(r.labels[j].key, labels[i].key))
				old = r.labels[j].value;
		if (!old || strcmp(old, labels[i].value))
			ch[m++] = (struct cf_label_change){labels[i].key, labels[i].value};
	}
	for (size_t j = 0; j < r.nlabels; j++) {
		bool kept = !strncmp(r.labels[j].key, "aws:", 4);
		for (size_t i = 0; i < n && !kept; i++)
			kept = !strcmp(r.labels[j].key, labels[i].key);
		if (!kept)
			ch[m++] = (struct cf_label_change){r.labels[j].key, NULL};
	}
	rc = m ? write_tags(a, id, ch, m, &r, err) : 0;
	free(ch);
	cf_resource_clear(&r);
	if (rc)
		return rc;
	return set_op(op, id, "done", "done", true);
}

static void aws_destroy(struct cf_provider *p)
{
	if (!p)
		return;
	struct aws *a = p->impl;
	pthread_mutex_destroy(&a->lock);
	free(a);
}

static const struct cf_provider_ops aws_ops = {
    .name = "aws",
    .layout = &cf_aws_layout,
    .list_page = aws_list_page,
    .get = aws_get,
    .destroy = aws_destroy,
    .create = aws_create,
    .remove = aws_remove,
    .in_use = aws_in_use,
    .power = aws_power,
    .set_labels = aws_set_labels,
    .change_labels = aws_change_labels,
    .restore = cf_aws_restore,
    .op_poll = aws_op_poll,
    .state = cf_aws_state,
    .text_valid = cf_aws_text_valid,
    /* crash as is; stop around the create; no guest flush on EBS (the
     * policy's clone.flush_command / thaw_command stand in for it) */
    .consistency = CF_CAP_CRASH | CF_CAP_STOP,
    .label_bytes_max = 256 * 4,
};

int cf_aws_new(struct cf_aws_client *client, struct cf_provider **out)
{
	*out = NULL;
	if (!client) {
		cf_err("aws: the provider needs a Query client");
		return -EINVAL;
	}
	struct aws *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	a->client = client;
	pthread_mutex_init(&a->lock, NULL);
	a->pub.ops = &aws_ops;
	a->pub.impl = a;
	*out = &a->pub;
	return 0;
}
