/* gce.h — the Compute Engine provider: its constructor and registration, and
 * the pieces below the provider interface that are worth calling on their
 * own: resource URLs to paths, and the decoders from the API's JSON to the
 * model. The unit tests drive them directly; the rest of clonefs reaches the
 * provider through the registry (registry.h: the gce:PROJECT source). */
#ifndef CLONEFS_GCE_H
#define CLONEFS_GCE_H

#include "model.h"
#include "provider.h"

#include <stdbool.h>
#include <stddef.h>

struct json_t; /* jansson's json_t */
struct cf_http;
struct cf_auth;
struct cf_provider_kind;

/* The Compute Engine provider. endpoint ends in "/compute/v1/". The provider
 * keeps pointers to http and auth, which must outlive it. */
struct cf_gce_config {
	const char *endpoint;
	const char *project;
	struct cf_http *http;
	struct cf_auth *auth;
};
int cf_gce_new(const struct cf_gce_config *cfg, struct cf_provider **out);

/* The gce:PROJECT mount source (gce_source.c), for the registry. */
extern const struct cf_provider_kind cf_gce_kind;

/* The tree a project shows (gce_layout.c): global/snapshots, zones/Z/disks,
 * ... (layout.h). */
struct cf_layout;
extern const struct cf_layout cf_gce_layout;

/* ---- what the API accepts from a caller (gce_names.c, where the rules are
 * spelled out, international characters included) ---- */

/* A resource name: [a-z]([-a-z0-9]{0,61}[a-z0-9])?. */
bool cf_gce_name_valid(const char *s, size_t len);
/* A label key and a label value: lowercase letters (international ones too),
 * digits, _ and -, at most 63 characters; a key starts with a letter. */
bool cf_gce_label_key_valid(const char *s, size_t len);
bool cf_gce_label_value_valid(const char *s, size_t len);
/* The three as the provider's `text_valid` (provider.h), with the rule for a
 * refusal; also the kind's, for the policy file (registry.h). */
bool cf_gce_text_valid(enum cf_text what, const char *s, size_t len, const char **rule);

/* A resource URL as the API writes it (selfLink, sourceDisk, users[], ...)
 * to the project-relative path ("zones/Z/disks/D"), validated with
 * cf_path_parse. Accepted: "https://ANY-HOST/compute/{v1,beta,alpha}/projects/
 * P/PATH" (http too) and a bare "projects/P/PATH". The project P is not
 * compared with ours: a disk made from another project's image names that
 * image's path. 0, -EINVAL for anything else, -ENAMETOOLONG when buf is too
 * small. */
int cf_gce_path_from_url(const char *url, char *buf, size_t size);

/* The same for a scope URL (a disk's `zone` / `region` field): "zones/Z" or
 * "regions/R", Z and R valid GCE names. */
int cf_gce_scope_from_url(const char *url, char *buf, size_t size);

/* One API document, text[0..len), into out (zeroed first; cleared again on
 * failure). kind CF_KIND_NONE takes the kind from the item's `kind` field;
 * otherwise a `kind` field naming another kind is refused. scope_hint: the
 * aggregated listing's scope key, or the scope of the path asked for; a
 * disk's or instance's own zone/region must agree with it. out->raw is the
 * document's own bytes. 0, or -EINVAL with a one-line reason in why (not
 * JSON, or an item to skip), or -ENOMEM. */
int cf_gce_decode_resource(const char *text, size_t len, enum cf_kind kind, const char *scope_hint,
			   struct cf_resource *out, char *why, size_t why_size);

/* One page of listing l from a 200 answer's body into out (zeroed first).
 * Items that cannot be decoded are counted in out->skipped and logged.
 * -EPROTO with err filled when the body is not a JSON object, `items` or a
 * scope's list has the wrong type, or the page token is unusable; -EAGAIN
 * when an aggregated page says scopes were unreachable (a partial listing
 * must not look complete). On failure out is left empty. */
int cf_gce_decode_page(const char *body, size_t len, enum cf_listing l, struct cf_page *out,
		       struct cf_error *err);

/* A non-2xx answer's body ({"error":{"code","message","errors":[{"reason"}]}})
 * into err; a body that is not such an envelope still gives a message. */
void cf_gce_decode_error(long status, const char *body, size_t len, struct cf_error *err);

/* Map an API failure (reason first, HTTP status second) to the negative
 * errno the filesystem answers. cf_gce_decode_error and the operation decoder
 * put it in err->errnum themselves. */
int cf_gce_errno(const struct cf_error *e);

/* A compute#operation document (every write's answer, and op_poll's) into
 * op (zeroed first): name, status, done, scope from `zone` / `region`
 * ("global" when neither), target from `targetLink` (the path; for a
 * createSnapshot the API names the disk, not the snapshot; NULL when
 * unusable). DONE with an `error` block (or an httpErrorStatusCode >= 400)
 * sets op->failed and op->err: reason = errors[0].code, message =
 * errors[0].message (else httpErrorMessage), http_status =
 * httpErrorStatusCode (0 when absent). 0; -EPROTO with err filled when the
 * document has no usable name, status or scope (op left empty); -ENOMEM. */
int cf_gce_decode_operation(struct json_t *doc, struct cf_operation *op, struct cf_error *err);

/* ---- the change feed (gce_feed.c) ---- */

struct cf_feed_source;
struct cf_feed_change;
/* A Cloud Asset Inventory feed read from a Pub/Sub subscription
 * ("projects/P/subscriptions/S") at endpoint (ends in '/', e.g.
 * "https://pubsub.googleapis.com/"), with the provider's credentials; project:
 * the mount's, the only one whose assets are applied. auth must outlive it. */
struct cf_gce_feed_config {
	const char *endpoint;
	const char *subscription;
	const char *project;
	struct cf_auth *auth;
};
int cf_gce_feed_new(const struct cf_gce_feed_config *cfg, struct cf_feed_source **out);

/* One TemporalAsset (a feed message's data, JSON) into ch: path, update time,
 * deleted, and the resource unless deleted. An asset outside project, of a
 * kind the tree does not show, with a resource that is not its path or
 * without a usable time sets ch->ignore with the reason in why. 0, or
 * -ENOMEM. */
int cf_gce_decode_asset(const char *text, size_t len, const char *project,
			struct cf_feed_change *ch, char *why, size_t why_size);

#endif
