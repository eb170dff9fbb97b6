/* fake_provider.c — the in-memory cloud of fake_provider.h. Everything is
 * under one lock; the hook runs outside it. Operations are kept forever (a
 * test makes few), so a request id repeated at any time finds its own. */
#include "fake_provider.h"
#include "layout.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct fp_res {
	char path[CF_PATH_MAX];
	struct cf_resource r;
};

struct fp_oper {
	char name[32];
	char scope[64];
	char target[CF_PATH_MAX];
	char rid[40];
	enum fp_op kind;
	unsigned left; /* steps until DONE; 0: DONE */
	unsigned steps;
	bool failed;
	struct cf_error err;
};

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int fp_res_copy(struct cf_resource *d, const struct cf_resource *s)
{
	memset(d, 0, sizeof *d);
	d->kind = s->kind;
	d->scope = dup_or_null(s->scope);
	d->name = dup_or_null(s->name);
	d->name_pref = dup_or_null(s->name_pref);
	d->id = dup_or_null(s->id);
	d->status = dup_or_null(s->status);
	d->created = s->created;
	d->created_ns = s->created_ns;
	d->size_bytes = s->size_bytes;
	d->stored_bytes = s->stored_bytes;
	d->fingerprint = dup_or_null(s->fingerprint);
	d->source = dup_or_null(s->source);
	d->source_id = dup_or_null(s->source_id);
	d->origin = dup_or_null(s->origin);
	if (s->nlabels) {
		d->labels = calloc(s->nlabels, sizeof *d->labels);
		for (size_t i = 0; d->labels && i < s->nlabels; i++) {
			d->labels[i].key = strdup(s->labels[i].key);
			d->labels[i].value = strdup(s->labels[i].value);
		}
		d->nlabels = d->labels ? s->nlabels : 0;
	}
	if (s->nlinks) {
		d->links = calloc(s->nlinks, sizeof *d->links);
		for (size_t i = 0; d->links && i < s->nlinks; i++)
			d->links[i] = strdup(s->links[i]);
		d->nlinks = d->links ? s->nlinks : 0;
	}
	if (s->raw) {
		d->raw = malloc(s->raw_len + 1);
		if (d->raw) {
			memcpy(d->raw, s->raw, s->raw_len);
			d->raw[s->raw_len] = '\0';
			d->raw_len = s->raw_len;
		}
	}
	return 0;
}

static const struct cf_provider_ops fp_ops;

void fp_init(struct fake_provider *f)
{
	memset(f, 0, sizeof *f);
	f->own_ops = fp_ops;
	f->p.ops = &f->own_ops;
	f->p.impl = f;
	pthread_mutex_init(&f->lock, NULL);
	f->op_steps = 2;
	f->page_size = 500;
	f->next_id = 1000;
}

void fp_destroy(struct fake_provider *f)
{
	for (size_t i = 0; i < f->nres; i++)
		cf_resource_clear(&f->res[i].r);
	free(f->res);
	free(f->ops);
	pthread_mutex_destroy(&f->lock);
	memset(f, 0, sizeof *f);
}

void fp_set_consistency(struct fake_provider *f, unsigned caps)
{
	f->own_ops.consistency = caps;
}

void fp_lock(struct fake_provider *f)
{
	pthread_mutex_lock(&f->lock);
}

void fp_unlock(struct fake_provider *f)
{
	pthread_mutex_unlock(&f->lock);
}

void fp_clone(struct fake_provider *d, struct fake_provider *s)
{
	fp_init(d);
	fp_lock(s);
	d->op_steps = s->op_steps;
	d->page_size = s->page_size;
	d->next_id = s->next_id;
	memcpy(d->started, s->started, sizeof d->started);
	memcpy(d->done, s->done, sizeof d->done);
	memcpy(d->last_rid, s->last_rid, sizeof d->last_rid);
	d->res = calloc(s->nres + 1, sizeof *d->res);
	for (size_t i = 0; i < s->nres; i++) {
		memcpy(d->res[i].path, s->res[i].path, sizeof d->res[i].path);
		fp_res_copy(&d->res[i].r, &s->res[i].r);
	}
	d->nres = d->capres = s->nres;
	d->ops = calloc(s->nops + 1, sizeof *d->ops);
	if (s->nops) /* s->ops is NULL before the first operation */
		memcpy(d->ops, s->ops, s->nops * sizeof *d->ops);
	d->nops = d->capops = s->nops;
	fp_unlock(s);
}

/* With a name label, a resource's value of it: its preferred name. */
static const char *name_of(const struct fake_provider *f, const struct cf_resource *r)
{
	for (size_t i = 0; f->name_label && i < r->nlabels; i++)
		if (!strcmp(r->labels[i].key, f->name_label))
			return r->labels[i].value;
	return NULL;
}

static struct fp_res *find_res(struct fake_provider *f, const char *path)
{
	char p[CF_PATH_MAX];
	for (size_t i = 0; i < f->nres; i++) {
		/* with a name label, a resource is known by its id path and by
		 * the path its label names (as an API finds one by its id, or by
		 * a filter on the label) */
		const struct cf_resource *r = &f->res[i].r;
		const char *n = f->name_label ? name_of(f, r) : NULL;
		if (!f->name_label
			? !strcmp(f->res[i].path, path)
			: (n && cf_resource_path(r->kind, r->scope, n, p, sizeof p) > 0 &&
			   !strcmp(p, path)) ||
			      (r->id &&
			       cf_resource_path(r->kind, r->scope, r->id, p, sizeof p) > 0 &&
			       !strcmp(p, path)))
			return &f->res[i];
	}
	return NULL;
}

/* A copy as the API shows it: with a name label, its value is the name the
 * provider would rather show (model.h's name_pref). */
static int fp_show(struct fake_provider *f, struct cf_resource *d, const struct cf_resource *s)
{
	int rc = fp_res_copy(d, s);
	const char *n = rc ? NULL : name_of(f, s);
	if (n && !(d->name_pref = strdup(n)))
		rc = -ENOMEM;
	return rc;
}

struct cf_resource *fp_find(struct fake_provider *f, const char *path)
{
	struct fp_res *r = find_res(f, path);
	return r ? &r->r : NULL;
}

static void new_fingerprint(struct fake_provider *f, struct cf_resource *r)
{
	char fp[32];
	snprintf(fp, sizeof fp, "fp-%llu", (unsigned long long) f->next_id++);
	free(r->fingerprint);
	r->fingerprint = strdup(fp);
}

struct cf_resource *fp_add(struct fake_provider *f, enum cf_kind kind, const char *scope,
			   const char *name, const char *status, int64_t created)
{
	char path[CF_PATH_MAX];
	if (kind == CF_KIND_ZONE || kind == CF_KIND_REGION)
		snprintf(path, sizeof path, "%s/%s", kind == CF_KIND_ZONE ? "zones" : "regions",
			 name);
	else if (cf_resource_path(kind, scope, name, path, sizeof path) < 0)
		return NULL;
	if (f->nres == f->capres) {
		size_t cap = f->capres ? f->capres * 2 : 16;
		struct fp_res *n = realloc(f->res, cap * sizeof *n);
		if (!n)
			return NULL;
		f->res = n;
		f->capres = cap;
	}
	struct fp_res *e = &f->res[f->nres++];
	memset(e, 0, sizeof *e);
	snprintf(e->path, sizeof e->path, "%s", path);
	struct cf_resource *r = &e->r;
	char id[32];
	snprintf(id, sizeof id, "%llu", (unsigned long long) f->next_id++);
	r->kind = kind;
	r->scope = dup_or_null(scope);
	r->name = strdup(name);
	r->id = strdup(id);
	r->status = strdup(status ? status : "READY");
	r->created = created;
	r->raw = strdup("{}");
	r->raw_len = 2;
	new_fingerprint(f, r);
	return r;
}

int fp_remove(struct fake_provider *f, const char *path)
{
	struct fp_res *e = find_res(f, path);
	if (!e)
		return -ENOENT;
	cf_resource_clear(&e->r);
	size_t i = (size_t) (e - f->res);
	memmove(&f->res[i], &f->res[i + 1], (f->nres - i - 1) * sizeof *f->res);
	f->nres--;
	return 0;
}

void fp_remove_kind(struct fake_provider *f, enum cf_kind kind)
{
	size_t n = 0;
	for (size_t i = 0; i < f->nres; i++) {
		if (f->res[i].r.kind == kind)
			cf_resource_clear(&f->res[i].r);
		else if (n++ != i)
			f->res[n - 1] = f->res[i];
	}
	f->nres = n;
}

static void put_label(struct cf_resource *r, const char *key, const char *value)
{
	for (size_t i = 0; i < r->nlabels; i++)
		if (!strcmp(r->labels[i].key, key)) {
			if (value) {
				free(r->labels[i].value);
				r->labels[i].value = strdup(value);
			} else {
				free(r->labels[i].key);
				free(r->labels[i].value);
				r->labels[i] = r->labels[--r->nlabels];
			}
			return;
		}
	if (!value)
		return;
	struct cf_label *l = realloc(r->labels, (r->nlabels + 1) * sizeof *l);
	if (!l)
		return;
	r->labels = l;
	l[r->nlabels].key = strdup(key);
	l[r->nlabels].value = strdup(value);
	r->nlabels++;
}

void fp_set_label(struct fake_provider *f, const char *path, const char *key, const char *value)
{
	fp_lock(f);
	struct cf_resource *r = fp_find(f, path);
	if (r) {
		put_label(r, key, value);
		new_fingerprint(f, r);
	}
	fp_unlock(f);
}

void fp_recreate(struct fake_provider *f, const char *path)
{
	fp_lock(f);
	struct cf_resource *r = fp_find(f, path);
	if (r) {
		char id[32];
		snprintf(id, sizeof id, "%llu", (unsigned long long) f->next_id++);
		free(r->id);
		r->id = strdup(id);
		new_fingerprint(f, r);
	}
	fp_unlock(f);
}

void fp_status(struct fake_provider *f, const char *path, char *buf, size_t size)
{
	fp_lock(f);
	struct cf_resource *r = fp_find(f, path);
	snprintf(buf, size, "%s", r && r->status ? r->status : "");
	fp_unlock(f);
}

void fp_label(struct fake_provider *f, const char *path, const char *key, char *buf, size_t size)
{
	fp_lock(f);
	struct cf_resource *r = fp_find(f, path);
	const char *v = NULL;
	for (size_t i = 0; r && i < r->nlabels; i++)
		if (!strcmp(r->labels[i].key, key))
			v = r->labels[i].value;
	snprintf(buf, size, "%s", v ? v : "");
	fp_unlock(f);
}

bool fp_exists(struct fake_provider *f, const char *path)
{
	fp_lock(f);
	bool ok = fp_find(f, path) != NULL;
	fp_unlock(f);
	return ok;
}

void fp_fail(struct fake_provider *f, const struct fp_fail *spec)
{
	fp_lock(f);
	if (f->nfails < sizeof f->fails / sizeof f->fails[0]) {
		f->fails[f->nfails] = *spec;
		f->fail_seen[f->nfails] = 0;
		f->nfails++;
	}
	fp_unlock(f);
}

void fp_clear_fails(struct fake_provider *f)
{
	fp_lock(f);
	f->nfails = 0;
	f->nop_fails = 0;
	fp_unlock(f);
}

void fp_fail_next_op(struct fake_provider *f, enum fp_op op, int http, const char *reason,
		     const char *message)
{
	fp_lock(f);
	if (f->nop_fails < sizeof f->op_fails / sizeof f->op_fails[0]) {
		f->op_fails[f->nop_fails].op = op;
		f->op_fails[f->nop_fails].http = http;
		snprintf(f->op_fails[f->nop_fails].reason, sizeof f->op_fails[0].reason, "%s",
			 reason ? reason : "");
		snprintf(f->op_fails[f->nop_fails].message, sizeof f->op_fails[0].message, "%s",
			 message ? message : "");
		f->nop_fails++;
	}
	fp_unlock(f);
}

/* Under the lock: the scripted failure for this call, if one fires. */
static const struct fp_fail *scripted(struct fake_provider *f, enum fp_op op, const char *path,
				      int listing, int page)
{
	for (size_t i = 0; i < f->nfails; i++) {
		const struct fp_fail *s = &f->fails[i];
		if (s->op != FP_ANY && s->op != op)
			continue;
		if (op == FP_LIST && ((s->listing >= 0 && s->listing != listing) ||
				      (s->page >= 0 && s->page != page)))
			continue;
		if (s->path && (!path || strcmp(s->path, path)))
			continue;
		unsigned seen = ++f->fail_seen[i];
		unsigned nth = s->nth ? s->nth : 1;
		if (seen >= nth && (!s->times || seen < nth + s->times))
			return s;
	}
	return NULL;
}

static int fail_with(const struct fp_fail *s, struct cf_error *err)
{
	if (err) {
		memset(err, 0, sizeof *err);
		err->http_status = s->http;
		snprintf(err->reason, sizeof err->reason, "%s", s->reason ? s->reason : "");
		snprintf(err->message, sizeof err->message, "%s",
			 s->message ? s->message : "scripted failure");
	}
	return s->err ? s->err : -EIO;
}

static int api_error(struct cf_error *err, int rc, int http, const char *reason, const char *fmt,
		     const char *arg)
{
	if (err) {
		memset(err, 0, sizeof *err);
		err->http_status = http;
		snprintf(err->reason, sizeof err->reason, "%s", reason);
		snprintf(err->message, sizeof err->message, fmt, arg);
	}
	return rc;
}

static int hook(struct fake_provider *f, enum fp_op op, const char *path, bool after,
		struct cf_error *err)
{
	if (!f->hook || !f->hook(f->hook_ctx, op, path, after))
		return 0;
	if (err) {
		memset(err, 0, sizeof *err);
		snprintf(err->message, sizeof err->message, "crashed");
	}
	return -EIO;
}

/* ---- listings ---- */

static enum cf_kind kind_of_listing(enum cf_listing l)
{
	switch (l) {
	case CF_LIST_ZONES:
		return CF_KIND_ZONE;
	case CF_LIST_REGIONS:
		return CF_KIND_REGION;
	case CF_LIST_DISKS:
		return CF_KIND_DISK;
	case CF_LIST_INSTANCES:
		return CF_KIND_INSTANCE;
	case CF_LIST_SNAPSHOTS:
		return CF_KIND_SNAPSHOT;
	case CF_LIST_IMAGES:
		return CF_KIND_IMAGE;
	case CF_LIST_MACHINE_IMAGES:
		return CF_KIND_MACHINE_IMAGE;
	default:
		return CF_KIND_NONE;
	}
}

static void add_scope(struct cf_page *out, const char *scope, size_t cap)
{
	if (!scope || out->nscopes >= cap)
		return;
	for (size_t i = 0; i < out->nscopes; i++)
		if (!strcmp(out->scopes[i], scope))
			return;
	out->scopes[out->nscopes++] = strdup(scope);
}

/* Whether r is one of the ids q asks for. */
static bool asked_id(const struct cf_list_query *q, const struct cf_resource *r)
{
	for (size_t i = 0; i < q->nids; i++)
		if (r->id && !strcmp(q->ids[i], r->id))
			return true;
	return false;
}

/* A compact item: what names it and its change token, nothing else. */
static int compact_copy(struct cf_resource *d, const struct cf_resource *s)
{
	memset(d, 0, sizeof *d);
	d->kind = s->kind;
	d->scope = dup_or_null(s->scope);
	d->name = dup_or_null(s->name);
	d->id = dup_or_null(s->id);
	d->status = dup_or_null(s->status);
	d->fingerprint = dup_or_null(s->fingerprint);
	return 0;
}

static int fp_list_query(struct cf_provider *pp, enum cf_listing which,
			 const struct cf_list_query *q, const char *token, struct cf_page *out,
			 struct cf_error *err);

static int fp_list(struct cf_provider *pp, enum cf_listing which, const char *token,
		   struct cf_page *out, struct cf_error *err)
{
	return fp_list_query(pp, which, NULL, token, out, err);
}

/* The change token: the same id, status and label fingerprint. */
static bool fp_unchanged(const struct cf_resource *c, const struct cf_resource *st)
{
	return c->id && st->id && !strcmp(c->id, st->id) && c->fingerprint && st->fingerprint &&
	       !strcmp(c->fingerprint, st->fingerprint) && c->status && st->status &&
	       !strcmp(c->status, st->status);
}

static int fp_list_query(struct cf_provider *pp, enum cf_listing which,
			 const struct cf_list_query *q, const char *token, struct cf_page *out,
			 struct cf_error *err)
{
	struct fake_provider *f = pp->impl;
	bool by_id = q && q->nids, compact = q && q->compact && !by_id;
	if (by_id) {
		atomic_fetch_add(&f->id_fetches, 1);
		atomic_fetch_add(&f->ids_fetched, (int) q->nids);
	} else if (compact && !token) {
		atomic_fetch_add(&f->compact_listings, 1);
	}
	int page = token ? atoi(token) : 0;
	memset(out, 0, sizeof *out);
	atomic_fetch_add(&f->calls[FP_LIST], 1);
	if (f->slow_ms)
		usleep((useconds_t) f->slow_ms * 1000);
	atomic_fetch_add(&f->pages, 1);
	if ((int) which >= 0 && which < CF_LIST__COUNT) {
		atomic_fetch_add(&f->served[which], 1);
		if (!token && !by_id)
			atomic_fetch_add(&f->asked[which], 1);
	}
	if (!token && !by_id)
		atomic_fetch_add(&f->first_pages, 1);
	fp_lock(f);
	int rc = 0;
	const struct fp_fail *s = scripted(f, FP_LIST, NULL, (int) which, page);
	if (s) {
		rc = fail_with(s, err);
		goto out;
	}
	enum cf_kind k = kind_of_listing(which);
	size_t ps = (size_t) (f->page_size > 0 ? f->page_size : 500);
	out->items = calloc(ps + 1, sizeof *out->items);
	bool aggregated = which == CF_LIST_DISKS || which == CF_LIST_INSTANCES;
	size_t cap = f->nscopes + ps;
	if (aggregated)
		out->scopes = calloc(cap + 1, sizeof *out->scopes);
	if (aggregated && page == 0 && !by_id)
		for (size_t i = 0; i < f->nscopes; i++)
			add_scope(out, f->scopes[i], cap);
	size_t seen = 0, from = (size_t) page * ps;
	bool more = false;
	out->compact = compact;
	out->requests = 1;
	for (size_t i = 0; i < f->nres; i++) {
		if (f->res[i].r.kind != k || (by_id && !asked_id(q, &f->res[i].r)))
			continue;
		if (seen >= from + ps) {
			more = true;
			break;
		}
		if (seen++ < from)
			continue;
		if (compact)
			compact_copy(&out->items[out->n++], &f->res[i].r);
		else
			fp_show(f, &out->items[out->n++], &f->res[i].r);
		if (aggregated)
			add_scope(out, f->res[i].r.scope, cap);
	}
	if (which == CF_LIST_SNAPSHOTS && f->repeat_token && page == 1 && f->repeats < 20) {
		/* A broken API: the same token again. Bounded, so that a sync
		 * without the guard completes (and fails the test) instead of
		 * hanging it. */
		f->repeats++;
		out->next_token = strdup(token);
	} else if (more) {
		char next[16];
		snprintf(next, sizeof next, "%d", page + 1);
		out->next_token = strdup(next);
	}
out:
	fp_unlock(f);
	return rc;
}

/* ---- operations ---- */

/* Under the lock: the operation a write with this request id started. */
static struct fp_oper *by_rid(struct fake_provider *f, enum fp_op kind, const char *rid)
{
	for (size_t i = 0; rid && *rid && i < f->nops; i++)
		if (f->ops[i].kind == kind && !strcmp(f->ops[i].rid, rid))
			return &f->ops[i];
	return NULL;
}

static void set_status(struct cf_resource *r, const char *st)
{
	free(r->status);
	r->status = strdup(st);
}

/* One step of op on: at DONE its effect. */
static void advance(struct fake_provider *f, struct fp_oper *o)
{
	if (!o->left)
		return;
	if (--o->left)
		return;
	struct cf_resource *r = fp_find(f, o->target);
	switch (o->kind) {
	case FP_CREATE:
		if (o->failed)
			fp_remove(f, o->target);
		else if (r)
			set_status(r, "READY");
		break;
	case FP_REMOVE:
		if (o->failed) {
			if (r)
				set_status(r, "READY");
		} else {
			fp_remove(f, o->target);
		}
		break;
	case FP_RESTORE:
		if (o->failed)
			fp_remove(f, o->target);
		else if (r)
			set_status(r, r->kind == CF_KIND_INSTANCE ? "RUNNING" : "READY");
		break;
	case FP_STOP:
		if (r)
			set_status(r, o->failed ? "RUNNING" : "TERMINATED");
		break;
	case FP_START:
		if (r)
			set_status(r, o->failed ? "TERMINATED" : "RUNNING");
		break;
	default:
		break;
	}
	if (!o->failed)
		f->done[o->kind]++;
}

static void fill_op(const struct fp_oper *o, struct cf_operation *op)
{
	cf_operation_clear(op);
	memset(op, 0, sizeof *op);
	op->name = strdup(o->name);
	op->scope = strdup(o->scope);
	op->target = strdup(o->target);
	op->done = o->left == 0;
	op->status = strdup(op->done ? "DONE" : o->left == o->steps ? "PENDING" : "RUNNING");
	op->failed = op->done && o->failed;
	if (op->failed)
		op->err = o->err;
}

/* Under the lock: a new operation on target. */
static struct fp_oper *new_op(struct fake_provider *f, enum fp_op kind, const char *target,
			      const char *rid)
{
	if (f->nops == f->capops) {
		size_t cap = f->capops ? f->capops * 2 : 16;
		struct fp_oper *n = realloc(f->ops, cap * sizeof *n);
		if (!n)
			return NULL;
		f->ops = n;
		f->capops = cap;
	}
	struct fp_oper *o = &f->ops[f->nops++];
	memset(o, 0, sizeof *o);
	snprintf(o->name, sizeof o->name, "operation-%llu", (unsigned long long) f->next_id++);
	snprintf(o->scope, sizeof o->scope, "%s", "global");
	snprintf(o->target, sizeof o->target, "%s", target);
	snprintf(o->rid, sizeof o->rid, "%s", rid ? rid : "");
	o->kind = kind;
	o->steps = o->left = f->op_steps ? f->op_steps : 1;
	for (size_t i = 0; i < f->nop_fails; i++)
		if (f->op_fails[i].op == kind) {
			o->failed = true;
			o->err.http_status = f->op_fails[i].http;
			snprintf(o->err.reason, sizeof o->err.reason, "%s", f->op_fails[i].reason);
			snprintf(o->err.message, sizeof o->err.message, "%s",
				 f->op_fails[i].message);
			memmove(&f->op_fails[i], &f->op_fails[i + 1],
				(f->nop_fails - i - 1) * sizeof f->op_fails[0]);
			f->nop_fails--;
			break;
		}
	f->started[kind]++;
	snprintf(f->last_rid[kind], sizeof f->last_rid[kind], "%s", rid ? rid : "");
	return o;
}

/* The common frame of every call but list: count, hook, scripted failure
 * before; act (under the lock); scripted failure after (the answer lost),
 * hook. act returns 0 or a negative errno with err filled. */
typedef int (*act_fn)(struct fake_provider *f, void *ctx, struct cf_error *err);

static int call(struct fake_provider *f, enum fp_op op, const char *path, act_fn act, void *ctx,
		struct cf_error *err)
{
	atomic_fetch_add(&f->calls[op], 1);
	fp_lock(f);
	snprintf(f->last_path[op], sizeof f->last_path[op], "%s", path ? path : "");
	fp_unlock(f);
	int rc = hook(f, op, path, false, err);
	if (rc)
		return rc;
	fp_lock(f);
	const struct fp_fail *s = scripted(f, op, path, -1, -1);
	if (s && !s->after) {
		rc = fail_with(s, err);
		fp_unlock(f);
		return rc;
	}
	rc = act(f, ctx, err);
	if (s && !rc)
		rc = fail_with(s, err);
	fp_unlock(f);
	if (!rc)
		rc = hook(f, op, path, true, err);
	return rc;
}

struct get_ctx {
	const char *path;
	struct cf_resource *out;
};

static int act_get(struct fake_provider *f, void *ctx, struct cf_error *err)
{
	struct get_ctx *g = ctx;
	/* The cloud moves on while one watches: an operation on it steps on. */
	for (size_t i = 0; i < f->nops; i++)
		if (!strcmp(f->ops[i].target, g->path))
			advance(f, &f->ops[i]);
	struct cf_resource *r = fp_find(f, g->path);
	if (!r)
		return api_error(err, -ENOENT, 404, "notFound",
				 "The resource '%.200s' was not found", g->path);
	cf_resource_clear(g->out);
	return fp_show(f, g->out, r);
}

static int fp_get(struct cf_provider *pp, const char *path, struct cf_resource *out,
		  struct cf_error *err)
{
	struct get_ctx g = {path, out};
	int rc = call(pp->impl, FP_GET, path, act_get, &g, err);
	if (rc)
		cf_resource_clear(out); /* an answer lost: nothing to show */
	return rc;
}

struct create_ctx {
	const struct cf_create_req *req;
	struct cf_operation *op;
};

static int act_create(struct fake_provider *f, void *ctx, struct cf_error *err)
{
	struct create_ctx *c = ctx;
	const struct cf_create_req *q = c->req;
	char path[CF_PATH_MAX];
	struct fp_oper *o = by_rid(f, FP_CREATE, q->request_id);
	if (o) {
		fill_op(o, c->op);
		return 0;
	}
	const char *home = cf_kind_home(q->kind);
	if (!home || cf_resource_path(q->kind, home, q->name, path, sizeof path) < 0)
		return api_error(err, -EINVAL, 400, "invalid", "Invalid name '%.200s'", q->name);
	if (fp_find(f, path))
		return api_error(err, -EEXIST, 409, "alreadyExists",
				 "The resource '%.200s' already exists", path);
	struct cf_resource *src = fp_find(f, q->source);
	if (!src)
		return api_error(err, -ENOENT, 404, "notFound",
				 "The resource '%.200s' was not found", q->source);
	struct cf_resource *r = fp_add(f, q->kind, home, q->name, "CREATING", time(NULL));
	if (!r)
		return -ENOMEM;
	r->source = strdup(q->source);
	for (size_t i = 0; i < q->nlabels; i++)
		put_label(r, q->labels[i].key, q->labels[i].value);
	o = new_op(f, FP_CREATE, path, q->request_id);
	if (!o)
		return -ENOMEM;
	fill_op(o, c->op);
	return 0;
}

static int fp_create(struct cf_provider *pp, const struct cf_create_req *req,
		     struct cf_operation *op, struct cf_error *err)
{
	struct create_ctx c = {req, op};
	if (req->guest_flush)
		atomic_fetch_add(&((struct fake_provider *) pp->impl)->guest_flushes, 1);
	if (req->maybe_sent)
		atomic_fetch_add(&((struct fake_provider *) pp->impl)->maybe_sent, 1);
	int rc = call(pp->impl, FP_CREATE, req->source, act_create, &c, err);
	if (rc)
		cf_operation_clear(op);
	return rc;
}

struct restore_ctx {
	const struct cf_restore_req *req;
	struct cf_operation *op;
};

static int act_restore(struct fake_provider *f, void *ctx, struct cf_error *err)
{
	struct restore_ctx *c = ctx;
	const struct cf_restore_req *q = c->req;
	char path[CF_PATH_MAX];
	struct fp_oper *o = by_rid(f, FP_RESTORE, q->request_id);
	if (o) {
		fill_op(o, c->op);
		return 0;
	}
	if (cf_resource_path(q->kind, q->scope, q->name, path, sizeof path) < 0)
		return api_error(err, -EINVAL, 400, "invalid", "Invalid name '%.200s'", q->name);
	if (fp_find(f, path))
		return api_error(err, -EEXIST, 409, "alreadyExists",
				 "The resource '%.200s' already exists", path);
	if (!fp_find(f, q->source))
		return api_error(err, -ENOENT, 404, "notFound",
				 "The resource '%.200s' was not found", q->source);
	struct cf_resource *r =
	    fp_add(f, q->kind, q->scope, q->name,
		   q->kind == CF_KIND_INSTANCE ? "PROVISIONING" : "CREATING", time(NULL));
	if (!r)
		return -ENOMEM;
	r->origin = strdup(q->source);
	for (size_t i = 0; i < q->nlabels; i++)
		put_label(r, q->labels[i].key, q->labels[i].value);
	o = new_op(f, FP_RESTORE, path, q->request_id);
	if (!o)
		return -ENOMEM;
	fill_op(o, c->op);
	return 0;
}

static int fp_restore(struct cf_provider *pp, const struct cf_restore_req *req,
		      struct cf_operation *op, struct cf_error *err)
{
	struct restore_ctx c = {req, op};
	int rc = call(pp->impl, FP_RESTORE, req->source, act_restore, &c, err);
	if (rc)
		cf_operation_clear(op);
	return rc;
}

struct write_ctx {
	enum fp_op kind;
	const char *path, *rid;
	struct cf_operation *op;
	const struct cf_label *labels;
	size_t n;
	const char *fingerprint;
};

static int act_write(struct fake_provider *f, void *ctx, struct cf_error *err)
{
	struct write_ctx *w = ctx;
	struct fp_oper *o = by_rid(f, w->kind, w->rid);
	if (o) {
		fill_op(o, w->op);
		return 0;
	}
	struct cf_resource *r = fp_find(f, w->path);
	if (!r)
		return api_error(err, -ENOENT, 404, "notFound",
				 "The resource '%.200s' was not found", w->path);
	switch (w->kind) {
	case FP_REMOVE:
		set_status(r, "DELETING");
		break;
	case FP_STOP:
		set_status(r, "STOPPING");
		break;
	case FP_START:
		set_status(r, "STAGING");
		break;
	case FP_SET_LABELS:
		if (!w->fingerprint || !r->fingerprint || strcmp(w->fingerprint, r->fingerprint))
			return api_error(err, -ESTALE, 412, "conditionNotMet",
					 "Labels fingerprint either invalid or resource labels "
					 "have changed (%.200s)",
					 w->path);
		for (size_t i = 0; i < r->nlabels; i++) {
			free(r->labels[i].key);
			free(r->labels[i].value);
		}
		free(r->labels);
		r->labels = NULL;
		r->nlabels = 0;
		for (size_t i = 0; i < w->n; i++)
			put_label(r, w->labels[i].key, w->labels[i].value);
		new_fingerprint(f, r);
		break;
	default:
		break;
	}
	o = new_op(f, w->kind, w->path, w->rid);
	if (!o)
		return -ENOMEM;
	fill_op(o, w->op);
	return 0;
}

static int fp_remove_op(struct cf_provider *pp, const char *path, const char *request_id,
			struct cf_operation *op, struct cf_error *err)
{
	struct write_ctx w = {.kind = FP_REMOVE, .path = path, .rid = request_id, .op = op};
	int rc = call(pp->impl, FP_REMOVE, path, act_write, &w, err);
	if (rc)
		cf_operation_clear(op);
	return rc;
}

static int fp_power(struct cf_provider *pp, const char *path, bool start, const char *request_id,
		    struct cf_operation *op, struct cf_error *err)
{
	struct write_ctx w = {
	    .kind = start ? FP_START : FP_STOP, .path = path, .rid = request_id, .op = op};
	int rc = call(pp->impl, w.kind, path, act_write, &w, err);
	if (rc)
		cf_operation_clear(op);
	return rc;
}

static int fp_set_labels(struct cf_provider *pp, const char *path, const struct cf_label *labels,
			 size_t n, const char *fingerprint, const char *request_id,
			 struct cf_operation *op, struct cf_error *err)
{
	struct write_ctx w = {.kind = FP_SET_LABELS,
			      .path = path,
			      .rid = request_id,
			      .op = op,
			      .labels = labels,
			      .n = n,
			      .fingerprint = fingerprint};
	int rc = call(pp->impl, FP_SET_LABELS, path, act_write, &w, err);
	if (rc)
		cf_operation_clear(op);
	return rc;
}

/* The fake speaks GCE's status words; as neutral states (provider.h). */
static enum cf_state fp_state(enum cf_kind kind, const char *status)
{
	(void) kind;
	static const struct {
		const char *word;
		enum cf_state state;
	} map[] = {
	    {"READY", CF_STATE_READY},	       {"CREATING", CF_STATE_CREATING},
	    {"UPLOADING", CF_STATE_CREATING},  {"FAILED", CF_STATE_FAILED},
	    {"DELETING", CF_STATE_DELETING},   {"PROVISIONING", CF_STATE_STARTING},
	    {"STAGING", CF_STATE_STARTING},    {"RUNNING", CF_STATE_RUNNING},
	    {"STOPPING", CF_STATE_STOPPING},   {"SUSPENDING", CF_STATE_STOPPING},
	    {"TERMINATED", CF_STATE_STOPPED},  {"STOPPED", CF_STATE_STOPPED},
	    {"SUSPENDED", CF_STATE_SUSPENDED},
	};
	if (!status)
		return CF_STATE_NONE;
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (!strcmp(status, map[i].word))
			return map[i].state;
	return CF_STATE_OTHER;
}

/* As GCE's: read, ask plan, merge, write with the fingerprint of the read;
 * a stale fingerprint reads and plans again (at most 10 tries). */
static int fp_change_labels(struct cf_provider *pp, const char *path, cf_label_plan_fn plan,
			    void *ctx, struct cf_operation *op, struct cf_error *err)
{
	memset(op, 0, sizeof *op);
	for (int attempt = 0; attempt < 10; attempt++) {
		struct cf_resource r = {0};
		struct cf_label_change ch[8];
		size_t n = 0, m = 0;
		int rc = fp_get(pp, path, &r, err);
		if (rc)
			return rc;
		rc = plan(ctx, &r, ch, 8, &n);
		if (rc || !n) {
			cf_resource_clear(&r);
			return rc;
		}
		struct cf_label *l = calloc(r.nlabels + n + 1, sizeof *l);
		if (!l) {
			cf_resource_clear(&r);
			return -ENOMEM;
		}
		for (size_t i = 0; i < r.nlabels; i++) {
			bool changed = false;
			for (size_t j = 0; j < n; j++)
				changed |= !strcmp(r.labels[i].key, ch[j].key);
			if (!changed)
				l[m++] = r.labels[i];
		}
		for (size_t j = 0; j < n; j++)
			if (ch[j].value) {
				l[m].key = (char *) ch[j].key;
				l[m].value = (char *) ch[j].value;
				m++;
			}
		rc = fp_set_labels(pp, path, l, m, r.fingerprint, NULL, op, err);
		free(l);
		cf_resource_clear(&r);
		if (rc != -ESTALE)
			return rc;
	}
	return -ESTALE;
}

static int act_poll(struct fake_provider *f, void *ctx, struct cf_error *err)
{
	struct cf_operation *op = ctx;
	for (size_t i = 0; op->name && i < f->nops; i++)
		if (!strcmp(f->ops[i].name, op->name)) {
			advance(f, &f->ops[i]);
			fill_op(&f->ops[i], op);
			return 0;
		}
	return api_error(err, -ENOENT, 404, "notFound", "The operation '%.200s' was not found",
			 op->name ? op->name : "?");
}

static int fp_poll(struct cf_provider *pp, struct cf_operation *op, bool wait, struct cf_error *err)
{
	(void) wait;
	return call(pp->impl, FP_POLL, op->name, act_poll, op, err);
}

static void fp_destroy_op(struct cf_provider *pp)
{
	(void) pp; /* the test owns it: fp_destroy */
}

static const struct cf_provider_ops fp_ops = {
    .name = "fake",
    .list_page = fp_list,
    .list_query = fp_list_query,
    .unchanged = fp_unchanged,
    .ids_max = 4,
    .get = fp_get,
    .destroy = fp_destroy_op,
    .create = fp_create,
    .restore = fp_restore,
    .remove = fp_remove_op,
    .power = fp_power,
    .set_labels = fp_set_labels,
    .change_labels = fp_change_labels,
    .op_poll = fp_poll,
    .state = fp_state,
    .consistency = CF_CAP_CRASH | CF_CAP_FLUSH | CF_CAP_STOP,
};

int fp_seed_store(struct fake_provider *f, struct cf_store *st)
{
	struct cf_wtxn *w;
	int rc = cf_store_wbegin(st, &w);
	if (rc)
		return rc;
	fp_lock(f);
	for (size_t i = 0; i < f->nres && !rc; i++) {
		const struct cf_resource *r = &f->res[i].r;
		if (r->kind == CF_KIND_ZONE || r->kind == CF_KIND_REGION)
			rc = cf_store_ensure_scope(w, r->kind, r->name);
		else
			rc = cf_store_upsert(w, r, NULL);
	}
	fp_unlock(f);
	if (rc) {
		cf_store_wabort(w);
		return rc;
	}
	return cf_store_wcommit(w, NULL);
}
