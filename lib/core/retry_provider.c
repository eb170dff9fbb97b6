/* retry_provider.c — the retrying decorator and the write budget
 * (retry_provider.h). Every write carries its request id (or, for labels,
 * the fingerprint), so a repeat never acts twice: the API hands back the
 * operation the first try started. */
#include "retry_provider.h"

#include "deadline.h"
#include "log.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cf_write_budget_start(void)
{
	cf_http_set_deadline(cf_mono_ms() + CF_WRITE_BUDGET_MS);
}

void cf_write_budget_renew(void)
{
	if (cf_http_deadline())
		cf_write_budget_start();
}

void cf_write_budget_end(void)
{
	cf_http_set_deadline(0);
}

bool cf_retry_transient(int rc, const struct cf_error *err)
{
	/* The provider's own reading, when it gave one (provider.h); else what
	 * the errno and the HTTP status say. */
	if (err && err->errnum)
		return err->retryable;
	if (rc != -EAGAIN && rc != -EPROTO && rc != -ETIMEDOUT && rc != -ECONNREFUSED &&
	    rc != -EHOSTUNREACH && rc != -ECONNRESET)
		return false;
	int st = err ? err->http_status : 0;
	return st == 0 || (st >= 200 && st < 300) || st == 429 || st >= 500;
}

unsigned cf_retry_jitter(unsigned cap)
{
	static __thread unsigned seed;
	if (!seed)
		seed = (unsigned) cf_mono_ms() ^ (unsigned) (uintptr_t) &seed;
	return cap / 2 + (unsigned) rand_r(&seed) % (cap / 2 + 1);
}

bool cf_retry_again(int rc, const struct cf_error *err, unsigned *tries, const char *what,
		    struct cf_stop *stop)
{
	if (!cf_retry_transient(rc, err) || (stop && cf_stop_raised(stop)))
		return false;
	unsigned delay = cf_retry_jitter(250u << (*tries < 5 ? *tries : 5));
	int64_t deadline = cf_http_deadline();
	if (deadline ? cf_mono_ms() + delay >= deadline : *tries + 1 >= CF_BACKGROUND_TRIES)
		return false;
	(*tries)++;
	cf_debug("%s: %s; trying again in %u ms (try %u)", what,
		 err && err->message[0] ? err->message : strerror(-rc), delay, *tries + 1);
	/* an unmount does not wait for the pause: the call ends with its failure */
	return cf_stop_sleep(stop, delay) == 0;
}

/* ---- the decorator ---- */

struct retry {
	struct cf_provider pub;
	struct cf_provider_ops ops;
	struct cf_provider *inner;
	struct cf_stop *stop; /* the owner's (NULL: none) */
};

#define INNER(p) (((struct retry *) (p)->impl)->inner)
#define STOP(p)	 (((struct retry *) (p)->impl)->stop)

/* Repeat CALL (an expression assigning rc, err non-NULL) while transient;
 * a success moves the write's deadline on. */
#define RETRYING(what, CALL)                                                                       \
	do {                                                                                       \
		unsigned tries_ = 0;                                                               \
		do {                                                                               \
			memset(err, 0, sizeof *err);                                               \
			CALL;                                                                      \
		} while (rc && cf_retry_again(rc, err, &tries_, what, STOP(p)));                   \
		if (!rc)                                                                           \
			cf_write_budget_renew();                                                   \
	} while (0)

static int r_list_page(struct cf_provider *p, enum cf_listing which, const char *token,
		       struct cf_page *out, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	return in->ops->list_page(in, which, token, out, err);
}

static int r_list_query(struct cf_provider *p, enum cf_listing which, const struct cf_list_query *q,
			const char *token, struct cf_page *out, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	return in->ops->list_query(in, which, q, token, out, err);
}

static int r_get(struct cf_provider *p, const char *path, struct cf_resource *out,
		 struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local;
	int rc;
	if (!err)
		err = &local;
	RETRYING(path, rc = in->ops->get(in, path, out, err));
	return rc;
}

static int r_create(struct cf_provider *p, const struct cf_create_req *req, struct cf_operation *op,
		    struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local;
	int rc;
	if (!err)
		err = &local;
	RETRYING(req->name, rc = in->ops->create(in, req, op, err));
	return rc;
}

static int r_in_use(struct cf_provider *p, const char *path, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local;
	int rc;
	if (!err)
		err = &local;
	RETRYING(path, rc = in->ops->in_use(in, path, err));
	return rc;
}

static int r_restore(struct cf_provider *p, const struct cf_restore_req *req,
		     struct cf_operation *op, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local;
	int rc;
	if (!err)
		err = &local;
	RETRYING(req->name, rc = in->ops->restore(in, req, op, err));
	return rc;
}

static int r_remove(struct cf_provider *p, const char *path, const char *request_id,
		    struct cf_operation *op, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local;
	int rc;
	if (!err)
		err = &local;
	RETRYING(path, rc = in->ops->remove(in, path, request_id, op, err));
	return rc;
}

static int r_power(struct cf_provider *p, const char *path, bool start, const char *request_id,
		   struct cf_operation *op, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local;
	int rc;
	if (!err)
		err = &local;
	RETRYING(path, rc = in->ops->power(in, path, start, request_id, op, err));
	return rc;
}

/* A stale fingerprint (-ESTALE) is never transient: the caller re-reads. */
static int r_set_labels(struct cf_provider *p, const char *path, const struct cf_label *labels,
			size_t n, const char *fingerprint, const char *request_id,
			struct cf_operation *op, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	struct cf_error local;
	int rc;
	if (!err)
		err = &local;
	RETRYING(path,
		 rc = in->ops->set_labels(in, path, labels, n, fingerprint, request_id, op, err));
	return rc;
}

/* Passed on as it is: the call has its own concurrency control, and its
 * caller repeats what is transient (engine.c's label_update). */
static int r_change_labels(struct cf_provider *p, const char *path, cf_label_plan_fn plan,
			   void *ctx, struct cf_operation *op, struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	return in->ops->change_labels(in, path, plan, ctx, op, err);
}

static int r_op_poll(struct cf_provider *p, struct cf_operation *op, bool wait,
		     struct cf_error *err)
{
	struct cf_provider *in = INNER(p);
	return in->ops->op_poll(in, op, wait, err);
}

static void r_destroy(struct cf_provider *p)
{
	free(p->impl); /* the inner provider is its owner's */
}

int cf_retry_provider_new(struct cf_provider *inner, struct cf_stop *stop, struct cf_provider **out)
{
	const struct cf_provider_ops *o = inner->ops;
	struct retry *r = calloc(1, sizeof *r);
	if (!r)
		return -ENOMEM;
	r->inner = inner;
	r->stop = stop;
	r->ops = *o; /* the name, and NULL where the inner provider has no call */
	r->ops.list_page = o->list_page ? r_list_page : NULL;
	r->ops.list_query = o->list_query ? r_list_query : NULL;
	r->ops.get = o->get ? r_get : NULL;
	r->ops.create = o->create ? r_create : NULL;
	r->ops.remove = o->remove ? r_remove : NULL;
	r->ops.restore = o->restore ? r_restore : NULL;
	r->ops.in_use = o->in_use ? r_in_use : NULL;
	r->ops.power = o->power ? r_power : NULL;
	r->ops.set_labels = o->set_labels ? r_set_labels : NULL;
	r->ops.change_labels = o->change_labels ? r_change_labels : NULL;
	r->ops.op_poll = o->op_poll ? r_op_poll : NULL;
	r->ops.destroy = r_destroy;
	r->pub.ops = &r->ops;
	r->pub.impl = r;
	*out = &r->pub;
	return 0;
}

void cf_retry_provider_free(struct cf_provider *p)
{
	if (p)
		r_destroy(p);
}
