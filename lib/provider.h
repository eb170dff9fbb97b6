/* provider.h — the one small interface every cloud implements.
 *
 * The sync engine and (later) the clone/prune journal talk to a cloud only
 * through these calls; the filesystem layer never sees a provider's wire
 * format. GCE (gce.c) is the first implementation; AWS EC2/EBS is shaped for:
 * ids apart from names, XML answers, idempotency through a tag.
 *
 * Every call returns 0 or a negative errno and, on failure, fills `err` (when
 * not NULL) with a one-line reason fit for the log (never a secret). */
#ifndef CLONEFS_PROVIDER_H
#define CLONEFS_PROVIDER_H

#include "model.h"

#include <stdbool.h>
#include <stddef.h>

struct cf_http;
struct cf_auth;

/* A reason for the log, and what the API said, for one failed call. */
struct cf_error {
	int http_status;   /* 0 when no HTTP answer arrived */
	char reason[64];   /* API reason ("notFound", "resourceInUseByAnotherResource") or "" */
	char message[512]; /* one line, printable, no secrets */
};

/* One page of a listing. Resources that could not be decoded are not in
 * `items`: they are counted in `skipped` and each got a log line. */
struct cf_page {
	struct cf_resource *items;
	size_t n;
	size_t skipped;
	char *next_token; /* NULL on the last page */
	/* for aggregated listings: the scopes the page named (even empty ones),
	 * so a zone with no disks still gets its directory */
	char **scopes;
	size_t nscopes;
};

void cf_page_clear(struct cf_page *p);

/* An asynchronous cloud operation (GCE: compute#operation). */
struct cf_operation {
	char *name;
	char *scope;  /* where to poll it: "global", "zones/Z", "regions/R" */
	char *status; /* PENDING, RUNNING, DONE */
	char *target; /* project-relative path of the resource it acts on */
	bool done;
	bool failed;	     /* DONE with an error block */
	struct cf_error err; /* the operation's error when failed */
};

void cf_operation_clear(struct cf_operation *op);

/* What to create: see cf_provider_ops.create. */
struct cf_create_req {
	enum cf_kind kind; /* CF_KIND_SNAPSHOT or CF_KIND_MACHINE_IMAGE */
	const char *name;
	const char *source; /* disk path or instance path */
	bool guest_flush;   /* application-consistent (GCE guestFlush) */
	const struct cf_label *labels;
	size_t nlabels;
	const char *request_id;
};

/* A fresh random UUID (version 4) for request ids, into buf[37]. */
int cf_uuid4(char buf[37]);

struct cf_provider;

struct cf_provider_ops {
	const char *name;		/* "gce" */
	const struct cf_layout *layout; /* its tree (layout.h) */
	/* One page of a listing; token NULL for the first page. */
	int (*list_page)(struct cf_provider *p, enum cf_listing which, const char *token,
			 struct cf_page *out, struct cf_error *err);
	/* One resource by path; -ENOENT when the API says it does not exist. */
	int (*get)(struct cf_provider *p, const char *path, struct cf_resource *out,
		   struct cf_error *err);
	void (*destroy)(struct cf_provider *p);
	/* ---- write calls. Each returns once the API accepted the request,
	 * with the operation to poll in *op; request_id is the idempotency key
	 * (GCE requestId, a UUID): the same id returns the same operation, so a
	 * call repeated after a crash or a lost answer never acts twice. ---- */

	/* A clone: a snapshot of a disk (req->kind CF_KIND_SNAPSHOT, source =
	 * disk path) or a machine image of an instance (CF_KIND_MACHINE_IMAGE,
	 * source = instance path), labels set atomically in the create call. */
	int (*create)(struct cf_provider *p, const struct cf_create_req *req,
		      struct cf_operation *op, struct cf_error *err);
	/* Delete a snapshot, image or machine image by path. */
	int (*remove)(struct cf_provider *p, const char *path, const char *request_id,
		      struct cf_operation *op, struct cf_error *err);
	/* Stop (start = false) or start an instance. */
	int (*power)(struct cf_provider *p, const char *instance_path, bool start,
		     const char *request_id, struct cf_operation *op, struct cf_error *err);
	/* Replace the labels of any resource, guarded by its label fingerprint:
	 * a stale fingerprint is -ESTALE (HTTP 412 conditionNotMet) so the
	 * caller re-reads, merges and retries. */
	int (*set_labels)(struct cf_provider *p, const char *path, const struct cf_label *labels,
			  size_t n, const char *fingerprint, const char *request_id,
			  struct cf_operation *op, struct cf_error *err);
	/* Refresh op (name and scope set) from the API; wait = use the API's
	 * bounded server-side wait (GCE operations.wait) instead of a plain get.
	 * When the operation is DONE with an error, op->failed is set and op->err
	 * holds the API's message. */
	int (*op_poll)(struct cf_provider *p, struct cf_operation *op, bool wait,
		       struct cf_error *err);
};

/* ---- the tree a provider shows (layout.h): static data, known before
 * the provider is built, since a read-only mount opens the store first; the
 * daemon installs it with cf_layout_use before the store opens. ---- */
struct cf_layout;
extern const struct cf_layout cf_gce_layout; /* lib/gce_layout.c */

struct cf_provider {
	const struct cf_provider_ops *ops;
	void *impl;
};

/* Map an API failure to the errno the filesystem answers (errmap.c). */
int cf_errno_from_error(const struct cf_error *e);

#endif
