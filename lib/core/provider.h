/* provider.h — the one small interface every cloud implements.
 *
 * The sync and the write engine (clones, prunes, labels, its journal) talk to
 * a cloud only through these calls; the filesystem layer never sees a
 * provider's wire format. GCE (lib/gce/) is the first implementation, found
 * through lib/registry.c; AWS EC2/EBS is shaped for:
 * ids apart from names, XML answers, idempotency through a tag.
 *
 * Every call returns 0 or a negative errno and, on failure, fills `err` (when
 * not NULL) with a one-line reason fit for the log (never a secret). */
#ifndef CLONEFS_PROVIDER_H
#define CLONEFS_PROVIDER_H

#include "model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_http;
struct cf_auth;

/* A reason for the log, and what the API said, for one failed call. */
struct cf_error {
	int http_status;   /* 0 when no HTTP answer arrived */
	char reason[64];   /* API reason ("notFound", "resourceInUseByAnotherResource") or "" */
	char message[512]; /* one line, printable, no secrets */
	/* The provider's reading of the failure (0/false when it did not classify
	 * it). errnum: what it means to a shell, a negative errno; always set for
	 * an operation's error (cf_operation.err), where no return value carries
	 * it. retryable: repeating the same request may succeed (no answer, the
	 * API busy or failing). source_unhealthy: the failure is the source's
	 * health (a guest that could not flush), not the request's fault. */
	int errnum;
	bool retryable;
	bool source_unhealthy;
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
	/* what the page cost (list_query fills them; 0 when not known): the
	 * requests made and the bytes received on the wire for them */
	unsigned requests;
	uint64_t bytes;
	/* the items are compact (cf_list_query.compact): only what tells a
	 * change, not whole resources (raw is not their resource.json) */
	bool compact;
};

/* What a listing asks for (list_query). */
struct cf_list_query {
	/* Only the fields that tell a change (the provider's `unchanged` reads
	 * them) and what names the resource; the provider may answer whole
	 * resources instead (page.compact false), e.g. for a short listing. */
	bool compact;
	/* When nids > 0: only the resources with these provider ids, whole (at
	 * most ids_max of them); a resource gone since is simply not returned. */
	const char *const *ids;
	size_t nids;
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
	/* a create with this request id may have been sent before (a resumed
	 * job): look for it patiently before sending */
	bool maybe_sent;
};

/* What to restore: see cf_provider_ops.restore. */
struct cf_restore_req {
	enum cf_kind kind; /* CF_KIND_DISK or CF_KIND_INSTANCE */
	const char *scope; /* where the new resource goes ("zones/Z") */
	const char *name;
	const char
	    *source; /* a snapshot or image path (a disk), a machine image path (an instance) */
	uint64_t size_bytes; /* a disk's size, at least the source's; 0: the source's own */
	const struct cf_label *labels;
	size_t nlabels;
	const char *request_id;
};

/* A fresh random UUID (version 4) for request ids, into buf[37]. */
int cf_uuid4(char buf[37]);

struct cf_provider;

/* ---- states, names, labels, capabilities (the engine's neutral words) ---- */

/* A resource's state as the engine judges it. The provider maps its own
 * status words to it (cf_provider_ops.state); the `status` file and the store
 * keep the provider's word, and the state is derived from it when needed, so
 * the store's records do not change. */
enum cf_state {
	CF_STATE_NONE = 0, /* the resource reports no status */
	CF_STATE_OTHER,	   /* a status the provider does not map */
	CF_STATE_READY,	   /* a snapshot, image or disk that can be used */
	CF_STATE_CREATING,
	CF_STATE_FAILED,
	CF_STATE_DELETING,
	CF_STATE_STARTING, /* an instance on its way up */
	CF_STATE_RUNNING,
	CF_STATE_STOPPING,
	CF_STATE_STOPPED,
	CF_STATE_SUSPENDED,
	CF_STATE__COUNT
};

/* "ready", "running", ... */
const char *cf_state_name(enum cf_state s);

/* The neutral mapping, for a provider without a `state` call: the status
 * compared, ignoring case, with the names above; NULL is CF_STATE_NONE. */
enum cf_state cf_state_from_word(const char *status);

/* What the provider is asked to judge as text a caller writes. */
enum cf_text {
	CF_TEXT_NAME,	     /* a new resource's name (mkdir) */
	CF_TEXT_LABEL_KEY,   /* a label key */
	CF_TEXT_LABEL_VALUE, /* a label value */
};

/* The consistency modes a provider can make a clone with (its `consistency`
 * bits): bit N is policy.h's enum cf_consistency value N. A mkdir asking for
 * a mode the provider lacks is refused with EOPNOTSUPP. */
enum {
	CF_CAP_CRASH = 1u << 0, /* a snapshot of the disk as it is */
	CF_CAP_FLUSH = 1u << 1, /* the guest flushes first (GCE: guestFlush) */
	CF_CAP_STOP = 1u << 2,	/* the instance is stopped around it */
};

/* One change to a resource's labels: set key to value, or remove key
 * (value NULL). */
struct cf_label_change {
	const char *key;
	const char *value;
};

/* The caller's decision on a resource's labels as the API shows them now
 * (change_labels calls it after each fresh read): 0 with the changes to make
 * in ch[0..*n) (*n <= the capacity it was given; 0 = nothing to write), or a
 * negative errno that ends the call with that answer (-ESTALE: not the
 * resource the caller meant; -EEXIST, -ENODATA: the xattr rules). */
typedef int (*cf_label_plan_fn)(void *ctx, const struct cf_resource *now,
				struct cf_label_change *ch, size_t cap, size_t *n);

/* The most bytes a label key or value may take in any provider (256
 * characters of up to 4 bytes): the bound of a provider's label_bytes_max. */
enum { CF_LABEL_TEXT_BYTES_MAX = 1024 };

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

	/* ---- rules and capabilities. Pure functions of their arguments (no
	 * provider pointer: a wrapper copying the ops, fs/metrics.c's, passes
	 * them on unchanged). Each is optional: NULL takes the neutral default
	 * named beside it. ---- */

	/* The state a status word means (NULL: cf_state_from_word). */
	enum cf_state (*state)(enum cf_kind kind, const char *status);
	/* Whether text a caller writes is acceptable as `what`; when it is not
	 * and rule is not NULL, *rule is the rule in one line for the refusal
	 * ("1-63 characters, ..."). NULL: cf_text_valid_default. */
	bool (*text_valid)(enum cf_text what, const char *s, size_t len, const char **rule);
	/* Apply a few label changes to path with the provider's own concurrency
	 * control: read the resource, ask plan, write the changes; when another
	 * writer got there first, read again and ask plan again (GCE: the label
	 * fingerprint, a 412 re-read and merged, at most 10 tries within the
	 * write's deadline, jittered; AWS: CreateTags/DeleteTags). 0 with *op to
	 * follow (op->name NULL when plan asked for nothing); plan's errno as it
	 * gave it; -ENOENT when the resource is gone; -ENOSPC when the changes
	 * exceed the provider's label count; -EBUSY when writers kept colliding
	 * until the tries or the deadline ran out. Optional: NULL means the
	 * engine cannot change labels (EOPNOTSUPP). */
	int (*change_labels)(struct cf_provider *p, const char *path, cf_label_plan_fn plan,
			     void *ctx, struct cf_operation *op, struct cf_error *err);

	/* A restore: a new disk from a snapshot or an image, or a new instance
	 * from a machine image (with the disks it saved), labels set in the
	 * create call; like create, it returns once the API accepted it, and
	 * the request id makes a repeat return the first operation (GCE:
	 * disks.insert with sourceSnapshot / sourceImage, instances.insert with
	 * sourceMachineImage; AWS: CreateVolume from a SnapshotId, RunInstances
	 * from an AMI, the request id as ClientToken). Optional: NULL means the
	 * provider cannot restore (EOPNOTSUPP). */
	int (*restore)(struct cf_provider *p, const struct cf_restore_req *req,
		       struct cf_operation *op, struct cf_error *err);
	/* ---- cheaper listings (optional; NULL: every pass lists whole
	 * resources with list_page). ---- */
	/* One page of listing `which` as q asks (q NULL: as list_page). */
	int (*list_query)(struct cf_provider *p, enum cf_listing which,
			  const struct cf_list_query *q, const char *token, struct cf_page *out,
			  struct cf_error *err);
	/* Whether a compact item shows nothing new against the stored record of
	 * the same path: the provider's change token (GCE: id, status, label
	 * fingerprint, and the sizes and links the tree shows). A pure function;
	 * false when unsure, so the sync fetches the whole resource. */
	bool (*unchanged)(const struct cf_resource *compact, const struct cf_resource *stored);
	/* The most ids one list_query may carry (0: 1). */
	size_t ids_max;

	/* Whether the cloud holds path in use by something the tree does not show
	 * as made from it (AWS: an AMI whose block device mapping names a
	 * snapshot, which DeleteSnapshot would refuse): 0 when free, -EBUSY with
	 * the reason in err when in use, another errno when the API could not
	 * say. Asked on every prune's fresh read, before anything is written, so
	 * a prune through the trash is refused as a direct one would be.
	 * Optional: NULL, only what the tree shows counts. */
	int (*in_use)(struct cf_provider *p, const char *path, struct cf_error *err);

	/* CF_CAP_* bits; 0 means crash-consistent only. */
	unsigned consistency;
	/* The most bytes a label value it takes can have, what the filesystem
	 * refuses before asking (GCE: 63 characters of up to 4 bytes); 0, or
	 * more than CF_LABEL_TEXT_BYTES_MAX, means CF_LABEL_TEXT_BYTES_MAX. */
	size_t label_bytes_max;
};

/* ---- the tree a provider shows (layout.h): static data, known before
 * the provider is built, since a read-only mount opens the store first; the
 * daemon installs the registered kind's (registry.h) with cf_layout_use
 * before the store opens. ---- */
struct cf_layout;

struct cf_provider {
	const struct cf_provider_ops *ops;
	void *impl;
};

/* The provider's calls above with their neutral defaults (provider.c). */
enum cf_state cf_provider_state(const struct cf_provider *p, enum cf_kind kind, const char *status);
bool cf_provider_text_valid(const struct cf_provider *p, enum cf_text what, const char *s,
			    size_t len, const char **rule);
unsigned cf_provider_consistency(const struct cf_provider *p);
size_t cf_provider_label_bytes_max(const struct cf_provider *p);

/* The neutral text rule: a name is a safe directory entry (cf_name_is_safe)
 * of at most 63 bytes; a label key or value is sane text (names.h). */
bool cf_text_valid_default(enum cf_text what, const char *s, size_t len, const char **rule);

#endif
