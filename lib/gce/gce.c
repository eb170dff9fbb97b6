/* gce.c — the Compute Engine provider: the requests (listings, single
 * resources, clones, deletions, power, labels), the operations they start
 * and the API's error envelopes. The documents themselves are decoded in
 * gce_decode.c.
 *
 * Operations and errors are small and rare, so they are read with jansson,
 * which also builds the request bodies. */
#include "gce.h"
#include "gce_auth.h"
#include "gce_priv.h"
#include "deadline.h"
#include "http.h"
#include "log.h"
#include "names.h"
#include "stop.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	TOKEN_MAX = 8192,  /* an access token */
	OP_NAME_MAX = 128, /* an operation's name */
	PAGE_SIZE = 500,
};

/* A string member: NULL when absent, not a string, or holding a NUL. */
static const char *jstr(json_t *o, const char *key, size_t *len)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v))
		return NULL;
	const char *s = json_string_value(v);
	size_t l = json_string_length(v);
	if (memchr(s, '\0', l))
		return NULL;
	if (len)
		*len = l;
	return s;
}

static bool present(json_t *v)
{
	return v && !json_is_null(v);
}

/* ---- errors ---- */

/* What a Compute Engine failure means to a shell: the API's error (reason
 * first, HTTP status second) mapped to an errno in one table, the way sshfs
 * maps SFTP status codes.
 *
 * The API's `errors[].reason` values, most specific first. A 412
 * (conditionNotMet: a stale labelFingerprint) is EAGAIN here, and a shell
 * prints "Resource temporarily unavailable", which is what happened; the
 * provider's set_labels answers it -ESTALE itself (gce_set_labels) so that its
 * caller knows to re-read the fingerprint, merge and try again. */
static const struct {
	const char *reason;
	int err;
} by_reason[] = {
    {"notFound", ENOENT},
    {"alreadyExists", EEXIST},
    {"resourceInUseByAnotherResource", EBUSY},
    {"resourceNotReady", EBUSY},
    {"invalid", EINVAL},
    {"badRequest", EINVAL},
    {"invalidParameter", EINVAL},
    {"invalidArgument", EINVAL},
    {"forbidden", EACCES},
    {"insufficientPermissions", EACCES},
    {"accessNotConfigured", EACCES},
    {"required", EACCES},
    {"authError", EACCES},
    {"rateLimitExceeded", EAGAIN},
    {"userRateLimitExceeded", EAGAIN},
    {"quotaExceeded", EAGAIN},
    {"conditionNotMet", EAGAIN},
    {"backendError", EAGAIN},
    {"internalError", EAGAIN},
};

static int by_status(long status)
{
	switch (status) {
	case 400:
		return EINVAL;
	case 401:
	case 403:
		return EACCES;
	case 404:
		return ENOENT;
	case 409:
		return EEXIST;
	case 412: /* conditionNotMet, see above */
	case 429:
		return EAGAIN;
	case 0: /* no answer: the API is unreachable */
		return EAGAIN;
	default:
		if (status >= 500 && status <= 599)
			return EAGAIN;
		return EIO;
	}
}

int cf_gce_errno(const struct cf_error *e)
{
	if (!e)
		return -EIO;
	for (size_t i = 0; e->reason[0] && i < sizeof by_reason / sizeof by_reason[0]; i++)
		if (!strcmp(e->reason, by_reason[i].reason))
			return -by_reason[i].err;
	return -by_status(e->http_status);
}

/* The provider's reading of err (provider.h): its errno, and whether the same
 * request may succeed when repeated (no answer, 429, 5xx). */
static void classify(struct cf_error *err)
{
	int st = err->http_status;
	err->errnum = cf_gce_errno(err);
	err->retryable = err->errnum == -EAGAIN && (st == 0 || st == 429 || st >= 500);
}

void cf_gce_decode_error(long status, const char *body, size_t len, struct cf_error *err)
{
	memset(err, 0, sizeof *err);
	err->http_status = (int) status;
	json_t *root = body && len ? json_loadb(body, len, JSON_ALLOW_NUL, NULL) : NULL;
	json_t *e = json_object_get(root, "error");
	const char *msg = NULL, *reason;
	size_t mlen = 0, rlen;
	if (json_is_object(e)) {
		json_t *first = json_array_get(json_object_get(e, "errors"), 0);
		reason = jstr(first, "reason", &rlen);
		if (reason && rlen < sizeof err->reason && cf_gce_printable(reason, rlen) &&
		    !strpbrk(reason, " \"\\"))
			memcpy(err->reason, reason, rlen + 1);
		if (!(msg = jstr(e, "message", &mlen)))
			msg = jstr(first, "message", &mlen);
	}
	if (msg && mlen)
		cf_gce_one_line(err->message, sizeof err->message, msg, mlen);
	else
		snprintf(err->message, sizeof err->message, "%s",
			 json_is_object(e) ? "no message" : "no API error body");
	json_decref(root);
	classify(err);
}

/* ---- operations ---- */

/* An operation's name: it goes back into the poll URL (escaped), so
 * printable ASCII without '/', and a safe entry name. The API's are like
 * "operation-1715000000000-5f0c3e1a2b3c4-12345678-9abcdef0". */
static bool op_name_valid(const char *s, size_t len)
{
	return len > 0 && len <= OP_NAME_MAX && cf_gce_printable(s, len) && !memchr(s, '/', len) &&
	       !memchr(s, ' ', len) && cf_name_is_safe(s, len);
}

/* An API code or reason copied into err->reason: printable, no spaces or
 * quotes, short enough; anything else leaves it empty. */
static void set_reason(struct cf_error *err, const char *s, size_t len)
{
	if (s && len > 0 && len < sizeof err->reason && cf_gce_printable(s, len) &&
	    !strpbrk(s, " \"\\"))
		memcpy(err->reason, s, len + 1);
}

/* The error of a DONE operation: errors[0] {code, message}, the HTTP status
 * and message the API puts beside them. */
static void decode_op_error(json_t *doc, json_t *e, struct cf_error *err)
{
	json_t *errors = json_object_get(e, "errors"), *hsc;
	json_t *first = json_array_get(errors, 0);
	const char *msg;
	size_t len, n = json_array_size(errors);

	memset(err, 0, sizeof *err);
	hsc = json_object_get(doc, "httpErrorStatusCode");
	if (json_is_integer(hsc) && json_integer_value(hsc) >= 100 &&
	    json_integer_value(hsc) <= 599)
		err->http_status = (int) json_integer_value(hsc);
	msg = jstr(first, "code", &len);
	set_reason(err, msg, len);
	if (!(msg = jstr(first, "message", &len)) || !len)
		msg = jstr(doc, "httpErrorMessage", &len);
	if (msg && len)
		cf_gce_one_line(err->message, sizeof err->message, msg, len);
	else
		snprintf(err->message, sizeof err->message, "the operation failed (no message)");
	if (n > 1) {
		size_t used = strlen(err->message);
		snprintf(err->message + used, sizeof err->message - used, " (and %zu more errors)",
			 n - 1);
	}
	classify(err);
	/* A guest flush that failed (a guestFlush snapshot whose guest agent
	 * could not quiesce) is the source's health, not the request's fault. */
	if (strstr(err->reason, "FLUSH") || strstr(err->message, "flush"))
		err->source_unhealthy = true;
}

int cf_gce_decode_operation(json_t *doc, struct cf_operation *op, struct cf_error *err)
{
	struct cf_error scratch;
	char scope[CF_PATH_MAX], path[CF_PATH_MAX], ex[80];
	const char *s, *field;
	size_t len;

	memset(op, 0, sizeof *op);
	if (!err)
		err = &scratch;
	if (!json_is_object(doc)) {
		cf_gce_seterr(err, 200, "the answer is not a JSON object");
		return -EPROTO;
	}
	if ((s = jstr(doc, "kind", &len)) && strcmp(s, "compute#operation")) {
		cf_gce_excerpt(s, len, ex, sizeof ex);
		cf_gce_seterr(err, 200, "the answer is a \"%s\", not a compute#operation", ex);
		return -EPROTO;
	}
	if (json_object_get(doc, "kind") && !s) {
		cf_gce_seterr(err, 200, "the answer's kind is not a string");
		return -EPROTO;
	}
	s = jstr(doc, "name", &len);
	if (!s || !op_name_valid(s, len)) {
		cf_gce_seterr(err, 200, "the operation has no usable name");
		return -EPROTO;
	}
	if (!(op->name = cf_gce_dup(s, len)))
		goto oom;
	s = jstr(doc, "status", &len);
	if (!s || !len || len > GCE_STATUS_MAX || !cf_gce_printable(s, len) || strchr(s, ' ')) {
		cf_gce_seterr(err, 200, "operation %s: no usable status", op->name);
		goto proto;
	}
	if (!(op->status = cf_gce_dup(s, len)))
		goto oom;
	op->done = !strcmp(op->status, "DONE");

	/* where it lives: its zone, its region, or neither (global) */
	field = present(json_object_get(doc, "zone"))	  ? "zone"
		: present(json_object_get(doc, "region")) ? "region"
							  : NULL;
	if (field) {
		s = jstr(doc, field, NULL);
		if (!s || cf_gce_scope_from_url(s, scope, sizeof scope) ||
		    strncmp(scope, field, strlen(field))) {
			cf_gce_seterr(err, 200, "operation %s: its %s is not a %s URL", op->name,
				      field, field);
			goto proto;
		}
	} else {
		snprintf(scope, sizeof scope, "global");
	}
	if (!(op->scope = strdup(scope)))
		goto oom;

	/* what it acts on (for createSnapshot: the disk, as the API says) */
	if (present(json_object_get(doc, "targetLink"))) {
		s = jstr(doc, "targetLink", NULL);
		if (s && !cf_gce_path_from_url(s, path, sizeof path)) {
			if (!(op->target = strdup(path)))
				goto oom;
		} else {
			cf_debug("gce: operation %s: targetLink unusable, ignored", op->name);
		}
	}

	/* DONE with an error block (or an HTTP error status) is a failure; a
	 * malformed block still is: a failed clone must never look done. */
	json_t *e = json_object_get(doc, "error"),
	       *hsc = json_object_get(doc, "httpErrorStatusCode");
	bool http_failed = json_is_integer(hsc) && json_integer_value(hsc) >= 400;
	if (op->done && (present(e) || http_failed)) {
		op->failed = true;
		decode_op_error(doc, e, &op->err);
	} else if (present(e)) {
		cf_debug("gce: operation %s: error block while %s, ignored until DONE", op->name,
			 op->status);
	}
	return 0;
proto:
	cf_operation_clear(op);
	return -EPROTO;
oom:
	cf_operation_clear(op);
	cf_gce_seterr(err, 0, "out of memory");
	return -ENOMEM;
}

/* ---- the provider ---- */

struct gce {
	struct cf_provider pub;
	char *base;    /* ENDPOINT/projects/PROJECT/ */
	char *project; /* for partial URLs in request bodies */
	struct cf_http *http;
	struct cf_auth *auth;
};

static bool project_valid(const char *p)
{
	size_t len = strlen(p);
	if (len == 0 || len > 100)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
		      strchr("-.:", p[i])))
			return false;
	return true;
}

/* Append s percent-encoding everything but RFC 3986's unreserved characters
 * (and '/', when keep_slash). */
static int append_escaped(char *buf, size_t size, size_t *pos, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char) *s;
		bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
			     (ch >= '0' && ch <= '9') || strchr("-._~", ch) ||
			     (keep_slash && ch == '/');
		if (*pos + (plain ? 1 : 3) >= size)
			return -ENAMETOOLONG;
		if (plain) {
			buf[(*pos)++] = (char) ch;
		} else {
			buf[(*pos)++] = '%';
			buf[(*pos)++] = hex[ch >> 4];
			buf[(*pos)++] = hex[ch & 15];
		}
	}
	buf[*pos] = '\0';
	return 0;
}

/* Append s as it is. */
static int append_literal(char *buf, size_t size, size_t *pos, const char *s)
{
	size_t n = strlen(s);
	if (*pos + n >= size)
		return -ENAMETOOLONG;
	memcpy(buf + *pos, s, n + 1);
	*pos += n;
	return 0;
}

/* "GET global/snapshots: HTTP 403 forbidden: " before the API's message;
 * what does not fit is cut from the end. */
static void prefix_message(struct cf_error *err, const char *method, const char *what)
{
	char msg[sizeof err->message];
	memcpy(msg, err->message, sizeof msg);
	int n = snprintf(err->message, sizeof err->message, "%s %.200s: HTTP %d%s%s: ", method,
			 what, err->http_status, err->reason[0] ? " " : "", err->reason);
	if (n > 0 && (size_t) n < sizeof err->message)
		cf_gce_one_line(err->message + n, sizeof err->message - (size_t) n, msg,
				strlen(msg));
}

static bool is_transport_transient(int rc)
{
	return rc != -EFBIG && rc != -EPERM && rc != -EINVAL && rc != -ENOMEM;
}

/* One authorised call. 2xx: 0 with resp filled. A 401 drops the cached
 * token and tries once more with a fresh one. Any other status: the API's
 * error in err and its errno. No answer: the transport's reason in err and
 * -EAGAIN (the API is unreachable), unless retrying could not help. */
static int call(struct gce *g, const char *method, const char *url, const char *what,
		const char *body, bool no_retry, struct cf_http_response *resp,
		struct cf_error *err)
{
	char *tok = malloc(TOKEN_MAX);
	int rc;
	if (!tok) {
		cf_gce_seterr(err, 0, "out of memory");
		return -ENOMEM;
	}
	for (int tries = 0;; tries++) {
		rc = cf_auth_token(g->auth, tok, TOKEN_MAX);
		if (rc) {
			cf_gce_seterr(err, 0, "%s %s: no access token (%s)", method, what,
				      strerror(-rc));
			break;
		}
		/* Compute Engine takes an OAuth 2 bearer token, JSON bodies. */
		struct cf_http_request req = {.method = method,
					      .url = url,
					      .signer = {cf_http_sign_bearer, tok},
					      .body = body,
					      .content_type = body ? "application/json" : NULL,
					      .no_retry = no_retry};
		rc = cf_http_do(g->http, &req, resp);
		explicit_bzero(tok, TOKEN_MAX);
		if (rc) {
			cf_gce_seterr(err, 0, "%s %s: %s", method, what, resp->error);
			if (is_transport_transient(rc)) {
				classify(err);
				rc = err->errnum;
			}
			break;
		}
		if (resp->status == 401 && tries == 0) {
			cf_info("gce: %s %s: 401, fetching a fresh access token", method, what);
			cf_auth_invalidate(g->auth);
			cf_http_response_clear(resp);
			continue;
		}
		if (resp->status >= 200 && resp->status < 300)
			break;
		cf_gce_decode_error(resp->status, resp->body, resp->body_len, err);
		prefix_message(err, method, what);
		rc = err->errnum;
		cf_http_response_clear(resp);
		break;
	}
	explicit_bzero(tok, TOKEN_MAX);
	free(tok);
	return rc;
}

/* The partial response (`fields`, a Google API system parameter) a compact
 * listing asks for: what names a resource and what tells a change of what
 * the tree shows (gce_unchanged), nothing else. Zones and regions are few
 * and always listed whole (NULL). Not asked: creationTimestamp, sources,
 * diskSizeGb of snapshots and images (fixed for the life of the id). */
static const char *const compact_fields[CF_LIST__COUNT] = {
    [CF_LIST_SNAPSHOTS] = "items(id,name,status,labelFingerprint,storageBytes),nextPageToken",
    [CF_LIST_IMAGES] = "items(id,name,status,labelFingerprint),nextPageToken",
    [CF_LIST_MACHINE_IMAGES] =
	"items(id,name,status,labelFingerprint,totalStorageBytes),nextPageToken",
    [CF_LIST_DISKS] = "items/*/disks(id,name,status,labelFingerprint,sizeGb,users),"
		      "nextPageToken,unreachables",
    [CF_LIST_INSTANCES] = "items/*/instances(id,name,status,labelFingerprint,disks/source),"
			  "nextPageToken,unreachables",
};

enum { IDS_MAX = 50 }; /* ids in one filter: about 2,300 bytes of URL */

/* A provider id fit for a filter: 1-20 digits. */
static bool id_valid(const char *id)
{
	size_t n = id ? strlen(id) : 0;
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++)
		if (id[i] < '0' || id[i] > '9')
			return false;
	return true;
}

/* The filter that lists only these ids: "(id = 1) OR (id = 2)" (AIP-160). */
static int ids_filter(const struct cf_list_query *q, char *buf, size_t size)
{
	size_t pos = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < q->nids; i++) {
		if (!id_valid(q->ids[i]))
			return -EINVAL;
		int n = snprintf(buf + pos, size - pos, "%s(id = %s)", i ? " OR " : "", q->ids[i]);
		if (n < 0 || (size_t) n >= size - pos)
			return -ENAMETOOLONG;
		pos += (size_t) n;
	}
	return 0;
}

static int gce_list_query(struct cf_provider *p, enum cf_listing which,
			  const struct cf_list_query *q, const char *token, struct cf_page *out,
			  struct cf_error *err)
{
	struct gce *g = p->impl;
	struct cf_error scratch;
	struct cf_http_response resp;
	char url[GCE_URL_MAX], filter[IDS_MAX * 32];
	size_t pos;
	int rc;

	memset(out, 0, sizeof *out);
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if ((unsigned) which >= CF_LIST__COUNT) {
		cf_gce_seterr(err, 0, "no such listing");
		return -EINVAL;
	}
	if (q && q->nids && (q->nids > IDS_MAX || !q->ids)) {
		cf_gce_seterr(err, 0, "listing %s: too many ids", cf_listing_name(which));
		return -EINVAL;
	}
	if (q && q->nids && ids_filter(q, filter, sizeof filter)) {
		cf_gce_seterr(err, 0, "listing %s: an id is not a Compute Engine id",
			      cf_listing_name(which));
		return -EINVAL;
	}
	const char *lurl = cf_gce_listing_url(which);
	const char *fields = q && q->compact && !q->nids ? compact_fields[which] : NULL;
	/* prettyPrint=false (a Google API system parameter) drops the default
	 * indentation; without `fields=` items stay whole: each is a resource.json. */
	int n = snprintf(url, sizeof url, "%s%s?maxResults=%d&prettyPrint=false", g->base, lurl,
			 PAGE_SIZE);
	pos = (size_t) n;
	bool long_url = n < 0 || (size_t) n >= sizeof url;
	if (!long_url && fields)
		long_url = append_literal(url, sizeof url, &pos, "&fields=") ||
			   append_escaped(url, sizeof url, &pos, fields, false);
	if (!long_url && q && q->nids)
		long_url = append_literal(url, sizeof url, &pos, "&filter=") ||
			   append_escaped(url, sizeof url, &pos, filter, false);
	if (!long_url && token && *token)
		long_url = append_literal(url, sizeof url, &pos, "&pageToken=") ||
			   append_escaped(url, sizeof url, &pos, token, false);
	if (long_url) {
		cf_gce_seterr(err, 0, "listing %s: URL too long", cf_listing_name(which));
		return -ENAMETOOLONG;
	}
	rc = call(g, "GET", url, lurl, NULL, false, &resp, err);
	if (rc)
		return rc;
	rc = cf_gce_decode_page(resp.body, resp.body_len, which, out, err);
	out->requests = 1;
	out->bytes = resp.wire_bytes ? resp.wire_bytes : resp.body_len;
	out->compact = !rc && fields;
	cf_http_response_clear(&resp);
	return rc;
}

static int gce_list_page(struct cf_provider *p, enum cf_listing which, const char *token,
			 struct cf_page *out, struct cf_error *err)
{
	return gce_list_query(p, which, NULL, token, out, err);
}

/* Two link lists hold the same paths (the store keeps its own order). */
static bool same_links(const struct cf_resource *a, const struct cf_resource *b)
{
	if (a->nlinks != b->nlinks)
		return false;
	for (size_t i = 0; i < a->nlinks; i++) {
		size_t j = 0;
		while (j < b->nlinks && strcmp(a->links[i], b->links[j]))
			j++;
		if (j == b->nlinks)
			return false;
	}
	return true;
}

static bool same_str(const char *a, const char *b)
{
	return a && b ? !strcmp(a, b) : a == b;
}

/* The change token of compact_fields: the same id (not a resource deleted
 * and made again under its name), status and label fingerprint (which every
 * label change changes, by any writer), and what else of the tree can change
 * for the kind: storage bytes, a disk's size and users, an instance's disks. */
static bool gce_unchanged(const struct cf_resource *c, const struct cf_resource *st)
{
	if (!c || !st || c->kind != st->kind || !c->id || !same_str(c->id, st->id) ||
	    !c->fingerprint || !same_str(c->fingerprint, st->fingerprint) ||
	    !same_str(c->status, st->status) || !same_str(c->scope, st->scope))
		return false;
	switch (c->kind) {
	case CF_KIND_SNAPSHOT:
	case CF_KIND_MACHINE_IMAGE:
		return c->stored_bytes == st->stored_bytes;
	case CF_KIND_DISK:
		return c->size_bytes == st->size_bytes && same_links(c, st);
	case CF_KIND_INSTANCE:
		return same_links(c, st);
	default:
		return true;
	}
}

static int gce_get(struct cf_provider *p, const char *path, struct cf_resource *out,
		   struct cf_error *err)
{
	struct gce *g = p->impl;
	struct cf_error scratch;
	struct cf_http_response resp;
	char url[GCE_URL_MAX], scope[CF_PATH_MAX], name[CF_NAME_MAX + 1], why[256];
	enum cf_kind kind;
	int rc;

	memset(out, 0, sizeof *out);
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if (!path || cf_path_parse(path, &kind, scope, sizeof scope, name, sizeof name)) {
		cf_gce_seterr(err, 0, "not a resource path");
		return -EINVAL;
	}
	size_t pos = strlen(g->base);
	memcpy(url, g->base, pos + 1);
	if (append_escaped(url, sizeof url, &pos, path, true) ||
	    pos + sizeof "?prettyPrint=false" > sizeof url) {
		cf_gce_seterr(err, 0, "%s: URL too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(url + pos, "?prettyPrint=false", sizeof "?prettyPrint=false");
	rc = call(g, "GET", url, path, NULL, false, &resp, err);
	if (rc)
		return rc;
	rc = cf_gce_decode_resource(resp.body, resp.body_len, kind, scope, out, why, sizeof why);
	cf_http_response_clear(&resp);
	if (rc == -EINVAL) {
		cf_gce_seterr(err, 200, "GET %s: unusable answer: %s", path, why);
		return -EPROTO;
	}
	if (rc) {
		cf_gce_seterr(err, 0, "GET %s: %s", path, why);
		return rc;
	}
	if (strcmp(out->name, name) || strcmp(out->scope, scope)) {
		cf_resource_clear(out);
		cf_gce_seterr(err, 200, "GET %s: the answer describes another resource", path);
		return -EPROTO;
	}
	return 0;
}

/* ---- write calls ---- */

/* A URL below the project, built piece by piece; the first piece that does
 * not fit sets rc. */
struct url {
	char buf[GCE_URL_MAX];
	size_t pos;
	bool query;
	int rc;
};

static void u_init(struct url *u, const char *base)
{
	u->pos = strlen(base);
	u->query = false;
	u->rc = u->pos < sizeof u->buf ? 0 : -ENAMETOOLONG;
	if (!u->rc)
		memcpy(u->buf, base, u->pos + 1);
}

/* A path (validated already; escaped all the same, '/' kept). */
static void u_path(struct url *u, const char *path)
{
	if (!u->rc)
		u->rc = append_escaped(u->buf, sizeof u->buf, &u->pos, path, true);
}

/* "&key=value" (or "?key=value" first), the value escaped. */
static void u_param(struct url *u, const char *key, const char *value)
{
	if (u->rc)
		return;
	size_t klen = strlen(key);
	if (u->pos + klen + 2 >= sizeof u->buf) {
		u->rc = -ENAMETOOLONG;
		return;
	}
	u->buf[u->pos++] = u->query ? '&' : '?';
	memcpy(u->buf + u->pos, key, klen);
	u->pos += klen;
	u->buf[u->pos++] = '=';
	u->buf[u->pos] = '\0';
	u->query = true;
	u->rc = append_escaped(u->buf, sizeof u->buf, &u->pos, value, false);
}

/* A request id: a UUID (any version), 8-4-4-4-12 hex digits, not all zero
 * (the API refuses the nil UUID). */
static bool request_id_valid(const char *s)
{
	bool nonzero = false;
	if (!s || strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdefABCDEF", s[i]) || !s[i]) {
			return false;
		} else if (s[i] != '0') {
			nonzero = true;
		}
	}
	return nonzero;
}

/* A resource path for a write: one of the layout's paths, of a kind in
 * `kinds` (a bit per cf_kind; `want` names them for the message), whose
 * scope and name are valid GCE names. */
static int write_target(const char *path, unsigned kinds, const char *want, enum cf_kind *kind,
			struct cf_error *err)
{
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1], ex[80];
	enum cf_kind k;
	if (!path || cf_path_parse(path, &k, scope, sizeof scope, name, sizeof name)) {
		cf_gce_excerpt(path ? path : "(null)", path ? strlen(path) : 6, ex, sizeof ex);
		cf_gce_seterr(err, 0, "\"%s\" is not a resource path", ex);
		return -EINVAL;
	}
	if (!(kinds & (1u << k))) {
		cf_gce_seterr(err, 0, "%s: not %s", path, want);
		return -EINVAL;
	}
	if (!cf_gce_name_valid(name, strlen(name)) ||
	    (strcmp(scope, "global") && !cf_gce_scope_valid(scope))) {
		cf_gce_seterr(err, 0, "%s: not a valid Compute Engine name", path);
		return -EINVAL;
	}
	*kind = k;
	return 0;
}

/* The labels as a JSON object; -EINVAL with the first offender named. `strict`
 * (create: labels clonefs composes) checks each key and value against the
 * provider's rules. setLabels sends a resource's labels back with one changed:
 * the caller checked that one; the rest are what the API holds, and are only
 * checked to be text (a label the API accepted, e.g. owner=jörg, must never
 * make every later label write on that resource fail). */
static int labels_json(const struct cf_label *labels, size_t n, bool strict, json_t **out,
		       struct cf_error *err)
{
	char ex[80];
	*out = NULL;
	if (n && !labels) {
		cf_gce_seterr(err, 0, "%zu labels missing", n);
		return -EINVAL;
	}
	if (n > CF_LABELS_MAX) {
		cf_gce_seterr(err, 0, "%zu labels: at most %d are allowed", n, CF_LABELS_MAX);
		return -EINVAL;
	}
	json_t *o = json_object();
	if (!o)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const char *k = labels[i].key, *v = labels[i].value;
		if (!k || !(strict ? cf_gce_label_key_valid(k, strlen(k))
				   : cf_label_text_sane(k, strlen(k), true))) {
			cf_gce_excerpt(k ? k : "(null)", k ? strlen(k) : 6, ex, sizeof ex);
			cf_gce_seterr(
			    err, 0,
			    "label key \"%s\" is not valid (a lowercase letter first, then "
			    "lowercase letters, digits, _ and -, at most 63 characters)",
			    ex);
			goto inval;
		}
		if (!v || !(strict ? cf_gce_label_value_valid(v, strlen(v))
				   : cf_label_text_sane(v, strlen(v), false))) {
			cf_gce_excerpt(v ? v : "(null)", v ? strlen(v) : 6, ex, sizeof ex);
			cf_gce_seterr(err, 0,
				      "label %s: value \"%s\" is not valid (lowercase letters, "
				      "digits, _ and -, at most 63 characters)",
				      k, ex);
			goto inval;
		}
		if (json_object_get(o, k)) {
			cf_gce_seterr(err, 0, "label %s given twice", k);
			goto inval;
		}
		if (json_object_set_new(o, k, json_string(v)))
			goto oom;
	}
	*out = o;
	return 0;
inval:
	json_decref(o);
	return -EINVAL;
oom:
	json_decref(o);
	cf_gce_seterr(err, 0, "out of memory");
	return -ENOMEM;
}

/* Send one write and decode the Operation it answers into op. body may be
 * NULL; it is consumed. request_id: what was sent (NULL when none), checked
 * against the answer's clientOperationId when the API gives one. */
static int write_call(struct gce *g, const char *method, struct url *u, const char *what,
		      json_t *body, const char *request_id, struct cf_operation *op,
		      struct cf_error *err)
{
	struct cf_http_response resp;
	char *text = NULL;
	json_error_t je;
	int rc;

	if (u->rc) {
		json_decref(body);
		cf_gce_seterr(err, 0, "%s %s: URL too long", method, what);
		return -ENAMETOOLONG;
	}
	if (body) {
		text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(body);
		if (!text) {
			cf_gce_seterr(err, 0, "out of memory");
			return -ENOMEM;
		}
	}
	cf_debug("gce: %s %s%s%s", method, what, request_id ? " requestId=" : "",
		 request_id ? request_id : "");
	/* Retried by the http layer on 429, 5xx and lost answers: the request
	 * id (or, for a global setLabels, the fingerprint) makes a repeat
	 * harmless. */
	rc = call(g, method, u->buf, what, text, false, &resp, err);
	free(text);
	if (rc)
		return rc;
	json_t *root =
	    json_loadb(resp.body, resp.body_len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	cf_http_response_clear(&resp);
	struct cf_error why;
	rc = root ? cf_gce_decode_operation(root, op, &why) : -EPROTO;
	if (!root)
		snprintf(why.message, sizeof why.message, "not valid JSON (at byte %d)",
			 je.position);
	const char *cid = root ? jstr(root, "clientOperationId", NULL) : NULL;
	if (!rc && request_id && cid && strcasecmp(cid, request_id)) {
		cf_operation_clear(op);
		snprintf(why.message, sizeof why.message,
			 "its clientOperationId is not the requestId sent");
		rc = -EPROTO;
	}
	json_decref(root);
	if (rc == -ENOMEM) {
		cf_gce_seterr(err, 0, "out of memory");
		return rc;
	}
	if (rc) {
		/* The API answered 2xx, so it may well have acted: the outcome is
		 * unknown, and repeating with the same request id finds out. */
		cf_gce_seterr(err, 200, "%s %s: unusable answer (%.200s); outcome unknown", method,
			      what, why.message);
		return -EAGAIN;
	}
	cf_debug("gce: %s %s: operation %s %s", method, what, op->name, op->status);
	return 0;
}

static int need_request_id(const char *request_id, const char *what, struct cf_error *err)
{
	char ex[80];
	if (request_id_valid(request_id))
		return 0;
	if (request_id)
		cf_gce_excerpt(request_id, strlen(request_id), ex, sizeof ex);
	cf_gce_seterr(err, 0, "%s: request id \"%s\" is not a UUID", what,
		      request_id ? ex : "(null)");
	return -EINVAL;
}

/* What a create and a restore check alike (`what` leads the messages): the
 * new resource's name, its source (of a kind in `kinds`, `want` naming them:
 * its kind into *sk), the request id, and the labels, as *labels (the
 * caller's) on success. */
static int check_write_req(const char *what, const char *name, const char *source, unsigned kinds,
			   const char *want, const char *request_id, const struct cf_label *labels,
			   size_t nlabels, enum cf_kind *sk, json_t **labels_out,
			   struct cf_error *err)
{
	int rc;
	if (!name || !cf_gce_name_valid(name, strlen(name))) {
		char ex[80];
		cf_gce_excerpt(name ? name : "(null)", name ? strlen(name) : 6, ex, sizeof ex);
		cf_gce_seterr(
		    err, 0,
		    "%s: \"%s\" is not a valid Compute Engine name (lower-case, at most 63)", what,
		    ex);
		return -EINVAL;
	}
	if ((rc = write_target(source, kinds, want, sk, err)) ||
	    (rc = need_request_id(request_id, name, err)))
		return rc;
	return labels_json(labels, nlabels, true, labels_out, err);
}

static int gce_create(struct cf_provider *p, const struct cf_create_req *req,
		      struct cf_operation *op, struct cf_error *err)
{
	struct gce *g = p->impl;
	struct cf_error scratch;
	struct url u;
	char what[CF_PATH_MAX + 32], partial[CF_PATH_MAX + 128];
	enum cf_kind sk;
	json_t *body, *labels;
	int rc;

	memset(op, 0, sizeof *op);
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if (!req || (req->kind != CF_KIND_SNAPSHOT && req->kind != CF_KIND_MACHINE_IMAGE)) {
		cf_gce_seterr(err, 0, "create: only snapshots and machine images are made");
		return -EINVAL;
	}
	bool snap = req->kind == CF_KIND_SNAPSHOT;
	if ((rc = check_write_req("create", req->name, req->source,
				  1u << (snap ? CF_KIND_DISK : CF_KIND_INSTANCE),
				  snap ? "a disk" : "an instance", req->request_id, req->labels,
				  req->nlabels, &sk, &labels, err)))
		return rc;

	if (!(body = json_object())) {
		json_decref(labels);
		goto oom;
	}
	if (json_object_set_new(body, "name", json_string(req->name)) ||
	    json_object_set_new(body, "labels", labels))
		goto oom;
	u_init(&u, g->base);
	if (snap) {
		/* disks.createSnapshot takes guestFlush as a query parameter;
		 * regionDisks.createSnapshot does not, so there it is the
		 * Snapshot's own (input-only) guestFlush field. */
		snprintf(what, sizeof what, "%s/createSnapshot", req->source);
		u_path(&u, what);
		if (!strncmp(req->source, "zones/", 6))
			u_param(&u, "guestFlush", req->guest_flush ? "true" : "false");
		else if (json_object_set_new(body, "guestFlush", json_boolean(req->guest_flush)))
			goto oom;
	} else {
		/* machineImages.insert: sourceInstance is a required query
		 * parameter and a field of the MachineImage; both get the same
		 * partial URL. */
		snprintf(partial, sizeof partial, "projects/%s/%s", g->project, req->source);
		u_path(&u, "global/machineImages");
		snprintf(what, sizeof what, "global/machineImages");
		u_param(&u, "sourceInstance", partial);
		if (json_object_set_new(body, "sourceInstance", json_string(partial)) ||
		    json_object_set_new(body, "guestFlush", json_boolean(req->guest_flush)))
			goto oom;
	}
	u_param(&u, "requestId", req->request_id);
	u_param(&u, "prettyPrint", "false");
	return write_call(g, "POST", &u, what, body, req->request_id, op, err);
oom:
	json_decref(body);
	cf_gce_seterr(err, 0, "out of memory");
	return -ENOMEM;
}

/* A restore: disks.insert (regionDisks.insert) with sourceSnapshot or
 * sourceImage in the Disk, or instances.insert with sourceMachineImage in
 * the Instance; sizeGb only when asked for (the API refuses one smaller
 * than the source's). */
static int gce_restore(struct cf_provider *p, const struct cf_restore_req *req,
		       struct cf_operation *op, struct cf_error *err)
{
	struct gce *g = p->impl;
	struct cf_error scratch;
	struct url u;
	char what[CF_PATH_MAX + 32], partial[CF_PATH_MAX + 128];
	enum cf_kind sk;
	json_t *body = NULL, *labels;
	int rc;

	memset(op, 0, sizeof *op);
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if (!req || (req->kind != CF_KIND_DISK && req->kind != CF_KIND_INSTANCE)) {
		cf_gce_seterr(err, 0, "restore: only disks and instances are restored");
		return -EINVAL;
	}
	bool disk = req->kind == CF_KIND_DISK;
	unsigned kinds =
	    disk ? (1u << CF_KIND_SNAPSHOT) | (1u << CF_KIND_IMAGE) : 1u << CF_KIND_MACHINE_IMAGE;
	if ((rc = check_write_req("restore", req->name, req->source, kinds,
				  disk ? "a snapshot or an image" : "a machine image",
				  req->request_id, req->labels, req->nlabels, &sk, &labels, err)))
		return rc;
	if (!req->scope || !cf_gce_scope_valid(req->scope) || strncmp(req->scope, "zones/", 6)) {
		/* a regional disk needs its replicaZones, which are not clonefs's to choose */
		json_decref(labels);
		cf_gce_seterr(err, 0,
			      "restore %s: not a zone (a regional disk needs replica zones, which "
			      "clonefs does not choose: restore into a zone's disks/)",
			      req->name);
		return -EINVAL;
	}
	if (!(body = json_object())) {
		json_decref(labels);
		goto oom;
	}
	snprintf(partial, sizeof partial, "projects/%s/%s", g->project, req->source);
	if (json_object_set_new(body, "name", json_string(req->name)) ||
	    json_object_set_new(body, "labels", labels))
		goto oom;
	const char *field = !disk		     ? "sourceMachineImage"
			    : sk == CF_KIND_SNAPSHOT ? "sourceSnapshot"
						     : "sourceImage";
	if (json_object_set_new(body, field, json_string(partial)))
		goto oom;
	if (disk && req->size_bytes) {
		/* whole GB, rounded up: never smaller than asked */
		uint64_t gb = (req->size_bytes + (1ull << 30) - 1) >> 30;
		char n[24];
		snprintf(n, sizeof n, "%llu", (unsigned long long) gb);
		if (json_object_set_new(body, "sizeGb", json_string(n)))
			goto oom;
	}
	snprintf(what, sizeof what, "%s/%s", req->scope, disk ? "disks" : "instances");
	u_init(&u, g->base);
	u_path(&u, what);
	u_param(&u, "requestId", req->request_id);
	u_param(&u, "prettyPrint", "false");
	return write_call(g, "POST", &u, what, body, req->request_id, op, err);
oom:
	json_decref(body);
	cf_gce_seterr(err, 0, "out of memory");
	return -ENOMEM;
}

static int gce_remove(struct cf_provider *p, const char *path, const char *request_id,
		      struct cf_operation *op, struct cf_error *err)
{
	struct gce *g = p->impl;
	struct cf_error scratch;
	enum cf_kind k;
	struct url u;
	int rc;

	memset(op, 0, sizeof *op);
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if ((rc = write_target(path, ~0u, "a resource", &k, err)))
		return rc;
	if (k != CF_KIND_SNAPSHOT && k != CF_KIND_IMAGE && k != CF_KIND_MACHINE_IMAGE) {
		cf_gce_seterr(
		    err, 0, "%s: clonefs deletes only snapshots, images and machine images", path);
		return -EPERM;
	}
	if ((rc = need_request_id(request_id, path, err)))
		return rc;
	u_init(&u, g->base);
	u_path(&u, path);
	u_param(&u, "requestId", request_id);
	u_param(&u, "prettyPrint", "false");
	return write_call(g, "DELETE", &u, path, NULL, request_id, op, err);
}

static int gce_power(struct cf_provider *p, const char *instance_path, bool start,
		     const char *request_id, struct cf_operation *op, struct cf_error *err)
{
	struct gce *g = p->impl;
	struct cf_error scratch;
	enum cf_kind k;
	struct url u;
	char what[CF_PATH_MAX + 8];
	int rc;

	memset(op, 0, sizeof *op);
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if ((rc = write_target(instance_path, 1u << CF_KIND_INSTANCE, "an instance", &k, err)) ||
	    (rc = need_request_id(request_id, instance_path, err)))
		return rc;
	snprintf(what, sizeof what, "%s/%s", instance_path, start ? "start" : "stop");
	u_init(&u, g->base);
	u_path(&u, what);
	u_param(&u, "requestId", request_id);
	u_param(&u, "prettyPrint", "false");
	return write_call(g, "POST", &u, what, NULL, request_id, op, err);
}

static int gce_set_labels(struct cf_provider *p, const char *path, const struct cf_label *labels,
			  size_t n, const char *fingerprint, const char *request_id,
			  struct cf_operation *op, struct cf_error *err)
{
	struct gce *g = p->impl;
	struct cf_error scratch;
	enum cf_kind k;
	struct url u;
	char what[CF_PATH_MAX + 16];
	json_t *body, *lj;
	int rc;

	memset(op, 0, sizeof *op);
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if ((rc = write_target(path,
			       1u << CF_KIND_SNAPSHOT | 1u << CF_KIND_IMAGE |
				   1u << CF_KIND_MACHINE_IMAGE | 1u << CF_KIND_DISK |
				   1u << CF_KIND_INSTANCE,
			       "a labelled resource", &k, err)))
		return rc;
	size_t flen = fingerprint ? strlen(fingerprint) : 0;
	if (!flen || flen > GCE_FINGERPRINT_MAX || !cf_gce_printable(fingerprint, flen) ||
	    strchr(fingerprint, ' ')) {
		cf_gce_seterr(err, 0, "%s: no usable label fingerprint", path);
		return -EINVAL;
	}
	/* The global kinds' setLabels take no requestId (the fingerprint is
	 * their guard); disks' and instances' do. A request id given is still
	 * checked, so a wrong one is caught whatever the kind. */
	bool scoped = k == CF_KIND_DISK || k == CF_KIND_INSTANCE;
	if (request_id && (rc = need_request_id(request_id, path, err)))
		return rc;
	if ((rc = labels_json(labels, n, false, &lj, err)))
		return rc;
	if (!(body = json_object())) {
		json_decref(lj);
		cf_gce_seterr(err, 0, "out of memory");
		return -ENOMEM;
	}
	if (json_object_set_new(body, "labels", lj) ||
	    json_object_set_new(body, "labelFingerprint", json_string(fingerprint))) {
		json_decref(body);
		cf_gce_seterr(err, 0, "out of memory");
		return -ENOMEM;
	}
	snprintf(what, sizeof what, "%s/setLabels", path);
	u_init(&u, g->base);
	u_path(&u, what);
	if (scoped && request_id)
		u_param(&u, "requestId", request_id);
	u_param(&u, "prettyPrint", "false");
	rc = write_call(g, "POST", &u, what, body, scoped ? request_id : NULL, op, err);
	if (rc && err->http_status && err->http_status != 200 &&
	    (err->http_status == 412 || !strcmp(err->reason, "conditionNotMet"))) {
		/* conditionNotMet: the fingerprint is stale (or this very call was
		 * applied, its answer lost and the retry refused). Re-read. */
		return -ESTALE;
	}
	return rc;
}

/* ---- label changes: the fingerprint's read, merge and retry ---- */

/* A delay in [cap/2, cap]: writers that collided do not collide again. */
static unsigned label_jitter(unsigned cap)
{
	static __thread unsigned seed;
	if (!seed)
		seed = (unsigned) cf_mono_ms() ^ (unsigned) (uintptr_t) &seed;
	return cap / 2 + (unsigned) rand_r(&seed) % (cap / 2 + 1);
}

/* r's labels with ch[0..n) applied, into a new array (the strings are r's
 * and ch's: free only the array). -ENOSPC past the API's label count. */
static int merge_labels(const struct cf_resource *r, const struct cf_label_change *ch, size_t n,
			struct cf_label **out, size_t *count, struct cf_error *err)
{
	struct cf_label *l = calloc(r->nlabels + n + 1, sizeof *l);
	size_t m = 0;
	if (!l) {
		cf_gce_seterr(err, 0, "out of memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->nlabels; i++) {
		bool changed = false;
		for (size_t j = 0; j < n && !changed; j++)
			changed = !strcmp(r->labels[i].key, ch[j].key);
		if (!changed)
			l[m++] = r->labels[i];
	}
	for (size_t j = 0; j < n; j++) {
		if (!ch[j].value)
			continue;
		if (m >= CF_LABELS_MAX) {
			free(l);
			cf_gce_seterr(err, 0, "it already has %d labels, the provider's limit",
				      CF_LABELS_MAX);
			return -ENOSPC;
		}
		l[m].key = (char *) ch[j].key;
		l[m].value = (char *) ch[j].value;
		m++;
	}
	*out = l;
	*count = m;
	return 0;
}

enum {
	LABEL_TRIES = 10,  /* fingerprint conflicts before giving up (SEMANTICS.md) */
	LABEL_CHANGES = 8, /* changes one plan may ask for */
};

/* setLabels replaces the whole set, guarded by the fingerprint of the set
 * it was computed from: read, plan, merge, send; a 412 (another writer
 * changed the labels since the read) reads again and plans again, after a
 * jittered pause that grows, at most LABEL_TRIES times and never past the
 * write's deadline. No request id: the fingerprint makes a repeat harmless
 * (one whose first try was applied and its answer lost is a 412: re-read). */
static int gce_change_labels(struct cf_provider *p, const char *path, cf_label_plan_fn plan,
			     void *ctx, struct cf_operation *op, struct cf_error *err)
{
	struct cf_error scratch;
	if (!err)
		err = &scratch;
	memset(op, 0, sizeof *op);
	for (int attempt = 0; attempt < LABEL_TRIES; attempt++) {
		struct cf_resource r = {0};
		struct cf_label_change ch[LABEL_CHANGES];
		struct cf_label *l = NULL;
		size_t n = 0, m = 0;
		memset(err, 0, sizeof *err);
		int rc = gce_get(p, path, &r, err);
		if (rc)
			return rc;
		rc = plan(ctx, &r, ch, LABEL_CHANGES, &n);
		if (rc || !n || n > LABEL_CHANGES) {
			/* the caller's answer (its -ESTALE is not a conflict) */
			cf_resource_clear(&r);
			return rc ? rc : n ? -EINVAL : 0;
		}
		rc = merge_labels(&r, ch, n, &l, &m, err);
		if (!rc)
			rc = gce_set_labels(p, path, l, m, r.fingerprint, NULL, op, err);
		free(l);
		cf_resource_clear(&r);
		if (rc != -ESTALE)
			return rc;
		cf_debug("gce: %s: label fingerprint changed under us, re-reading (try %d)", path,
			 attempt + 1);
		/* Hosts racing for one resource: spread them out. */
		unsigned delay = label_jitter(20u << (attempt < 7 ? attempt : 7));
		int64_t deadline = cf_http_deadline();
		if (deadline && cf_mono_ms() + delay >= deadline)
			break;
		if (cf_stop_sleep_current(delay)) {
			/* an unmount: nothing was changed; the caller repeats later */
			cf_gce_seterr(err, 412,
				      "labels changed under us and the mount is stopping; not "
				      "tried again now");
			err->errnum = -EAGAIN;
			err->retryable = true;
			return -EAGAIN;
		}
	}
	cf_gce_seterr(err, 412,
		      "labels kept changing under us (fingerprint conflicts until the write's time "
		      "ran out, at most %d tries)",
		      LABEL_TRIES);
	return -ESTALE;
}

static int gce_op_poll(struct cf_provider *p, struct cf_operation *op, bool wait,
		       struct cf_error *err)
{
	struct gce *g = p->impl;
	struct cf_error scratch;
	struct cf_http_response resp;
	struct cf_operation got;
	struct url u;
	char what[CF_PATH_MAX + 160];
	json_error_t je;
	int rc;

	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if (!op || !op->name || !op_name_valid(op->name, strlen(op->name)) || !op->scope ||
	    (strcmp(op->scope, "global") && !cf_gce_scope_valid(op->scope))) {
		cf_gce_seterr(err, 0, "op_poll: the operation has no valid name and scope");
		return -EINVAL;
	}
	const char *method = wait ? "POST" : "GET";
	snprintf(what, sizeof what, "%s/operations/%s%s", op->scope, op->name, wait ? "/wait" : "");
	u_init(&u, g->base);
	u_path(&u, op->scope);
	u_path(&u, "/operations/");
	u_path(&u, op->name);
	if (wait)
		u_path(&u, "/wait");
	u_param(&u, "prettyPrint", "false");
	if (u.rc) {
		cf_gce_seterr(err, 0, "%s %s: URL too long", method, what);
		return -ENAMETOOLONG;
	}
	/* A read (wait only waits): retried freely. operations.wait may hold
	 * the answer up to about 2 minutes, so it needs an http timeout longer
	 * than that (the layer's default is 30 s: a longer wait ends as a
	 * timeout, retried, then -EAGAIN). */
	rc = call(g, method, u.buf, what, NULL, false, &resp, err);
	if (rc)
		return rc;
	json_t *root =
	    json_loadb(resp.body, resp.body_len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	cf_http_response_clear(&resp);
	if (!root) {
		cf_gce_seterr(err, 200, "%s %s: the answer is not valid JSON (at byte %d)", method,
			      what, je.position);
		return -EPROTO;
	}
	struct cf_error why;
	rc = cf_gce_decode_operation(root, &got, &why);
	json_decref(root);
	if (rc == -ENOMEM) {
		cf_gce_seterr(err, 0, "out of memory");
		return rc;
	}
	if (rc) {
		cf_gce_seterr(err, 200, "%s %s: unusable answer: %.300s", method, what,
			      why.message);
		return -EPROTO;
	}
	if (strcmp(got.name, op->name) || strcmp(got.scope, op->scope)) {
		cf_operation_clear(&got);
		cf_gce_seterr(err, 200, "%s %s: the answer describes another operation", method,
			      what);
		return -EPROTO;
	}
	cf_operation_clear(op);
	*op = got;
	return 0;
}

static void gce_destroy(struct cf_provider *p)
{
	if (!p)
		return;
	struct gce *g = p->impl;
	free(g->base);
	free(g->project);
	free(g);
}

static const struct cf_provider_ops gce_ops = {
    .name = "gce",
    .layout = &cf_gce_layout,
    .list_page = gce_list_page,
    .list_query = gce_list_query,
    .unchanged = gce_unchanged,
    .ids_max = IDS_MAX,
    .get = gce_get,
    .destroy = gce_destroy,
    .create = gce_create,
    .remove = gce_remove,
    .restore = gce_restore,
    .power = gce_power,
    .set_labels = gce_set_labels,
    .change_labels = gce_change_labels,
    .op_poll = gce_op_poll,
    .state = cf_gce_state,
    .text_valid = cf_gce_text_valid,
    /* crash; flush through guestFlush; stop by stopping the instance */
    .consistency = CF_CAP_CRASH | CF_CAP_FLUSH | CF_CAP_STOP,
    .label_bytes_max = CF_LABEL_BYTES_MAX,
};

int cf_gce_new(const struct cf_gce_config *cfg, struct cf_provider **out)
{
	*out = NULL;
	if (!cfg || !cfg->http || !cfg->auth) {
		cf_err("gce: provider needs http and auth");
		return -EINVAL;
	}
	const char *ep = cfg->endpoint;
	if (!ep || (strncmp(ep, "https://", 8) && strncmp(ep, "http://", 7)) ||
	    strlen(ep) > GCE_URL_MAX / 2 || strpbrk(ep, "?# \t\r\n")) {
		cf_err("gce: endpoint must be an http(s) URL like "
		       "https://compute.googleapis.com/compute/v1/");
		return -EINVAL;
	}
	if (!cfg->project || !project_valid(cfg->project)) {
		cf_err("gce: project id must be 1-100 characters of [a-z0-9.:-]");
		return -EINVAL;
	}
	struct gce *g = calloc(1, sizeof *g);
	size_t eplen = strlen(ep);
	bool slash = eplen && ep[eplen - 1] == '/';
	if (!g || asprintf(&g->base, "%s%sprojects/%s/", ep, slash ? "" : "/", cfg->project) < 0) {
		free(g);
		return -ENOMEM;
	}
	if (!(g->project = strdup(cfg->project))) {
		free(g->base);
		free(g);
		return -ENOMEM;
	}
	g->http = cfg->http;
	g->auth = cfg->auth;
	g->pub.ops = &gce_ops;
	g->pub.impl = g;
	*out = &g->pub;
	return 0;
}
