/* gce.c — the Compute Engine provider: requests for listings and single
 * resources, and the decoders from the API's JSON to struct cf_resource.
 *
 * Nothing the API sends is trusted. A name must be a valid GCE name and a
 * safe directory entry, or the item is skipped with a log line naming the
 * listing and a printable excerpt; any other odd field is dropped on its own
 * (with a debug or warning line) and the resource is kept. A page whose
 * shape is wrong (not JSON, `items` of the wrong type) fails the listing with
 * -EPROTO, so the sync removes nothing on the strength of it. */
#include "gce.h"
#include "auth.h"
#include "http.h"
#include "log.h"
#include "names.h"
#include "timefmt.h"

#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	URL_MAX = 4096,
	TOKEN_MAX = 8192,      /* an access token */
	PAGE_TOKEN_MAX = 8192, /* a nextPageToken */
	STATUS_MAX = 32,
	FINGERPRINT_MAX = 128,
	OP_NAME_MAX = 128, /* an operation's name */
	SKIP_LOG_MAX = 20, /* skip warnings per page; the rest are counted */
	PAGE_SIZE = 500,
};

/* ---- the kinds and listings ---- */

struct field {
	const char *name;
	enum cf_kind kind; /* what the URL in it must point at */
};

static const struct kind_spec {
	const char *api_kind; /* the documents' `kind` */
	const char *size_gb;  /* logical size in GiB */
	const char *stored;   /* bytes stored / billed */
	struct field source;  /* what it was made from */
	const char *source_id;
	struct field origin[3]; /* lineage, the first present wins */
	bool scoped;		/* lives in a zone or region */
} specs[CF_KIND__COUNT] = {
    [CF_KIND_SNAPSHOT] = {"compute#snapshot",
			  "diskSizeGb",
			  "storageBytes",
			  {"sourceDisk", CF_KIND_DISK},
			  "sourceDiskId"},
    [CF_KIND_IMAGE] = {"compute#image",
		       "diskSizeGb",
		       "archiveSizeBytes",
		       {"sourceDisk", CF_KIND_DISK},
		       "sourceDiskId",
		       {{"sourceSnapshot", CF_KIND_SNAPSHOT}, {"sourceImage", CF_KIND_IMAGE}}},
    [CF_KIND_MACHINE_IMAGE] = {"compute#machineImage",
			       NULL,
			       "totalStorageBytes",
			       {"sourceInstance", CF_KIND_INSTANCE}},
    [CF_KIND_DISK] = {"compute#disk",
		      "sizeGb",
		      NULL,
		      {NULL},
		      NULL,
		      {{"sourceSnapshot", CF_KIND_SNAPSHOT},
		       {"sourceImage", CF_KIND_IMAGE},
		       {"sourceDisk", CF_KIND_DISK}},
		      true},
    [CF_KIND_INSTANCE] = {"compute#instance",
			  NULL,
			  NULL,
			  {NULL},
			  NULL,
			  {{"sourceMachineImage", CF_KIND_MACHINE_IMAGE}},
			  true},
    [CF_KIND_ZONE] = {"compute#zone"},
    [CF_KIND_REGION] = {"compute#region"},
};

static const struct listing_spec {
	const char *name;  /* for log lines */
	const char *url;   /* below projects/P/ */
	const char *field; /* aggregated: the list inside each scope */
	enum cf_kind kind;
} listings[CF_LIST__COUNT] = {
    [CF_LIST_ZONES] = {"zones", "zones", NULL, CF_KIND_ZONE},
    [CF_LIST_REGIONS] = {"regions", "regions", NULL, CF_KIND_REGION},
    [CF_LIST_DISKS] = {"disks", "aggregated/disks", "disks", CF_KIND_DISK},
    [CF_LIST_INSTANCES] = {"instances", "aggregated/instances", "instances", CF_KIND_INSTANCE},
    [CF_LIST_SNAPSHOTS] = {"snapshots", "global/snapshots", NULL, CF_KIND_SNAPSHOT},
    [CF_LIST_IMAGES] = {"images", "global/images", NULL, CF_KIND_IMAGE},
    [CF_LIST_MACHINE_IMAGES] = {"machineImages", "global/machineImages", NULL,
				CF_KIND_MACHINE_IMAGE},
};

/* ---- small helpers for untrusted text ---- */

static bool printable_ascii(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

/* A printable excerpt of untrusted text for a log line: at most 40 bytes,
 * anything but printable ASCII (and '"', '\\') shown as '?', the length
 * when cut. */
static void excerpt(const char *s, size_t len, char *out, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < len && i < 40 && n + 1 < size; i++)
		out[n++] = s[i] >= 0x20 && s[i] <= 0x7e && s[i] != '"' && s[i] != '\\' ? s[i] : '?';
	out[n] = '\0';
	if (len > 40)
		snprintf(out + n, size - n, "...(%zu bytes)", len);
}

/* Copy untrusted text into a fixed buffer as one printable line, cut at a
 * UTF-8 character boundary. */
static void one_line(char *dst, size_t size, const char *s, size_t len)
{
	size_t n = len < size - 1 ? len : size - 1;
	while (n > 0 && n < len && ((unsigned char) s[n] & 0xc0) == 0x80)
		n--;
	for (size_t i = 0; i < n; i++)
		dst[i] = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	dst[n] = '\0';
}

static void seterr(struct cf_error *err, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void seterr(struct cf_error *err, int status, const char *fmt, ...)
{
	va_list ap;
	memset(err, 0, sizeof *err);
	err->http_status = status;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

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

static char *dup_n(const char *s, size_t len)
{
	char *d = malloc(len + 1);
	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

/* An int64 the API writes as a decimal string (or, oddly, a JSON integer),
 * non-negative. */
static int j_u64(json_t *v, uint64_t *out)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0)
			return -EINVAL;
		*out = (uint64_t) i;
		return 0;
	}
	if (!json_is_string(v))
		return -EINVAL;
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	uint64_t x = 0;
	if (len == 0 || len > 20)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		unsigned d = (unsigned) (s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return -EINVAL;
		x = x * 10 + d;
	}
	*out = x;
	return 0;
}

/* An id as a decimal string: digits (a leading '-' when allowed), at most
 * 20 of them, or a JSON integer. NULL when it is neither. */
static char *id_string(json_t *v, bool allow_negative, bool *oom)
{
	char buf[32];
	const char *s;
	size_t len;
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);
		if (i < 0 && !allow_negative)
			return NULL;
		snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, i);
		s = buf;
		len = strlen(buf);
	} else if (json_is_string(v)) {
		s = json_string_value(v);
		len = json_string_length(v);
		size_t i = allow_negative && len > 1 && s[0] == '-' ? 1 : 0;
		if (len - i == 0 || len - i > 20)
			return NULL;
		for (; i < len; i++)
			if (s[i] < '0' || s[i] > '9')
				return NULL;
	} else {
		return NULL;
	}
	char *d = dup_n(s, len);
	if (!d)
		*oom = true;
	return d;
}

/* ---- URLs ---- */

/* The part of a resource URL after "projects/P/", or NULL. */
static const char *project_rest(const char *url)
{
	static const char *const versions[] = {"/compute/v1/", "/compute/beta/", "/compute/alpha/"};
	const char *p = url;
	size_t len = strlen(url);

	/* Nothing a selfLink holds: no query, fragment, escapes or spaces. */
	if (len == 0 || len > URL_MAX)
		return NULL;
	for (size_t i = 0; i < len; i++)
		if (url[i] <= 0x20 || url[i] >= 0x7f || strchr("?#%\\", url[i]))
			return NULL;

	if (!strncmp(p, "https://", 8) || !strncmp(p, "http://", 7)) {
		p = strstr(p, "://") + 3;
		const char *slash = strchr(p, '/');
		if (!slash || slash == p)
			return NULL;
		p = slash;
		size_t i;
		for (i = 0; i < sizeof versions / sizeof versions[0]; i++)
			if (!strncmp(p, versions[i], strlen(versions[i])))
				break;
		if (i == sizeof versions / sizeof versions[0])
			return NULL;
		p += strlen(versions[i]);
	}
	if (strncmp(p, "projects/", 9))
		return NULL;
	p += 9;
	const char *end = strchr(p, '/');
	if (!end || !cf_name_is_safe(p, (size_t) (end - p)))
		return NULL;
	return end + 1;
}

int cf_gce_path_from_url(const char *url, char *buf, size_t size)
{
	const char *rest = url ? project_rest(url) : NULL;
	if (!rest || cf_path_parse(rest, NULL, NULL, 0, NULL, 0))
		return -EINVAL;
	size_t len = strlen(rest);
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(buf, rest, len + 1);
	return 0;
}

/* "zones/Z" or "regions/R" with a valid GCE name, nothing more. */
static bool scope_valid(const char *s)
{
	const char *name = !strncmp(s, "zones/", 6)	? s + 6
			   : !strncmp(s, "regions/", 8) ? s + 8
							: NULL;
	return name && cf_gce_name_valid(name, strlen(name));
}

int cf_gce_scope_from_url(const char *url, char *buf, size_t size)
{
	const char *rest = url ? project_rest(url) : NULL;
	if (!rest || !scope_valid(rest))
		return -EINVAL;
	size_t len = strlen(rest);
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(buf, rest, len + 1);
	return 0;
}

static bool present(json_t *v)
{
	return v && !json_is_null(v);
}

/* The path of a URL that must name a resource of kind k, or NULL (*oom
 * set when that is why). */
static char *url_path(json_t *v, enum cf_kind k, bool *oom)
{
	char path[CF_PATH_MAX];
	enum cf_kind got;
	const char *s = json_string_value(v);
	if (!s || memchr(s, '\0', json_string_length(v)) ||
	    cf_gce_path_from_url(s, path, sizeof path) ||
	    cf_path_parse(path, &got, NULL, 0, NULL, 0) || got != k)
		return NULL;
	char *d = strdup(path);
	if (!d)
		*oom = true;
	return d;
}

/* A URL field: its path, or NULL (with a debug line) when absent or
 * unusable. */
static char *url_field(json_t *item, const char *field, enum cf_kind k, const char *what, bool *oom)
{
	json_t *v = json_object_get(item, field);
	if (!present(v))
		return NULL;
	char *d = url_path(v, k, oom);
	if (!d && !*oom)
		cf_debug("gce: %s: %s is not a %s URL, ignored", what, field, cf_kind_name(k));
	return d;
}

/* ---- decoding one resource ---- */

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cf_label *) a)->key, ((const struct cf_label *) b)->key);
}

static bool label_text_ok(const char *s, size_t len, size_t max)
{
	if (len > max || memchr(s, '\0', len))
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* Labels: an object of string -> string. A label that is not a string, too
 * long, or past the 64th is dropped; the rest are kept, sorted by key. One
 * warning per resource says how many were dropped and why. */
static int decode_labels(json_t *item, struct cf_resource *r, const char *what)
{
	json_t *labels = json_object_get(item, "labels");
	const char *key, *first_why = NULL;
	char first_key[80] = "";
	json_t *v;
	size_t dropped = 0;

	if (!present(labels))
		return 0;
	if (!json_is_object(labels)) {
		cf_warn("gce: %s: labels is not an object, ignored", what);
		return 0;
	}
	size_t n = json_object_size(labels);
	r->labels = calloc(n < CF_LABELS_MAX ? n : CF_LABELS_MAX, sizeof *r->labels);
	if (n && !r->labels)
		return -ENOMEM;
	json_object_foreach(labels, key, v)
	{
		size_t klen = strlen(key), vlen = json_string_length(v);
		const char *why = NULL;
		if (klen == 0 || !label_text_ok(key, klen, CF_LABEL_KEY_MAX))
			why = "bad key";
		else if (!json_is_string(v))
			why = "value not a string";
		else if (!label_text_ok(json_string_value(v), vlen, CF_LABEL_VALUE_MAX))
			why = "bad or too long value";
		else if (r->nlabels == CF_LABELS_MAX)
			why = "more than 64 labels";
		if (why) {
			if (!dropped++) {
				first_why = why;
				excerpt(key, klen, first_key, sizeof first_key);
			}
			continue;
		}
		struct cf_label *l = &r->labels[r->nlabels];
		l->key = dup_n(key, klen);
		l->value = dup_n(json_string_value(v), vlen);
		if (!l->key || !l->value) {
			free(l->key);
			free(l->value);
			l->key = l->value = NULL;
			return -ENOMEM;
		}
		r->nlabels++;
	}
	if (dropped)
		cf_warn("gce: %s: dropped %zu label(s), first \"%s\": %s", what, dropped, first_key,
			first_why);
	qsort(r->labels, r->nlabels, sizeof *r->labels, label_cmp);
	return 0;
}

static int add_link(struct cf_resource *r, char *path)
{
	if (!r->links) {
		r->links = calloc(CF_LINKS_MAX, sizeof *r->links);
		if (!r->links) {
			free(path);
			return -ENOMEM;
		}
	}
	r->links[r->nlinks++] = path;
	return 0;
}

/* Disk users[] (instance URLs) or instance disks[].source (disk URLs). */
static int decode_links(json_t *item, struct cf_resource *r, const char *what)
{
	bool instance = r->kind == CF_KIND_INSTANCE;
	const char *field = instance ? "disks" : "users";
	json_t *list = json_object_get(item, field), *e;
	size_t i, bad = 0, over = 0;
	bool oom = false;

	if (!present(list))
		return 0;
	if (!json_is_array(list)) {
		cf_debug("gce: %s: %s is not a list, ignored", what, field);
		return 0;
	}
	json_array_foreach(list, i, e)
	{
		char *p = instance ? url_path(json_object_get(e, "source"), CF_KIND_DISK, &oom)
				   : url_path(e, CF_KIND_INSTANCE, &oom);
		if (oom)
			return -ENOMEM;
		if (!p)
			bad++;
		else if (r->nlinks == CF_LINKS_MAX)
			over++, free(p);
		else if (add_link(r, p))
			return -ENOMEM;
	}
	if (bad || over)
		cf_debug("gce: %s: %zu unusable and %zu excess %s entries ignored", what, bad, over,
			 field);
	return 0;
}

static void decode_sizes(json_t *item, const struct kind_spec *ks, struct cf_resource *r,
			 const char *what)
{
	uint64_t v;
	json_t *f;
	if (ks->size_gb && present(f = json_object_get(item, ks->size_gb))) {
		if (j_u64(f, &v) || v > (UINT64_MAX >> 30))
			cf_debug("gce: %s: %s unusable, size 0", what, ks->size_gb);
		else
			r->size_bytes = v << 30;
	}
	if (ks->stored && present(f = json_object_get(item, ks->stored))) {
		if (j_u64(f, &v))
			cf_debug("gce: %s: %s unusable, 0", what, ks->stored);
		else
			r->stored_bytes = v;
	}
}

/* Which scope the item lives in; a zonal/regional one's own zone or region
 * must agree with the listing's scope key. */
static int decode_scope(json_t *item, const struct kind_spec *ks, const char *hint, char *scope,
			size_t size, char *why, size_t why_size)
{
	if (!ks->scoped) {
		snprintf(scope, size, "global");
		return 0;
	}
	const char *field = present(json_object_get(item, "zone"))     ? "zone"
			    : present(json_object_get(item, "region")) ? "region"
								       : NULL;
	if (field) {
		const char *s = jstr(item, field, NULL);
		if (!s || cf_gce_scope_from_url(s, scope, size)) {
			snprintf(why, why_size, "its %s is not a %s URL", field, field);
			return -EINVAL;
		}
		if (hint && strcmp(scope, hint)) {
			snprintf(why, why_size, "it says %s but was listed under %s", scope, hint);
			return -EINVAL;
		}
		return 0;
	}
	if (!hint || !scope_valid(hint) || strlen(hint) >= size) {
		snprintf(why, why_size, "no zone or region");
		return -EINVAL;
	}
	memcpy(scope, hint, strlen(hint) + 1);
	return 0;
}

static enum cf_kind kind_of_api(const char *api_kind)
{
	for (int k = 1; api_kind && k < CF_KIND__COUNT; k++)
		if (specs[k].api_kind && !strcmp(specs[k].api_kind, api_kind))
			return (enum cf_kind) k;
	return CF_KIND_NONE;
}

/* The fields every kind has: id, status, creation time, fingerprint. */
static int decode_common(json_t *item, struct cf_resource *r, const char *what)
{
	bool oom = false;
	json_t *v;
	const char *s;
	size_t len;

	if (present(v = json_object_get(item, "id")) && !(r->id = id_string(v, false, &oom))) {
		if (oom)
			return -ENOMEM;
		cf_debug("gce: %s: id unusable, ignored", what);
	}
	if (present(v = json_object_get(item, "status"))) {
		s = jstr(item, "status", &len);
		if (s && len > 0 && len <= STATUS_MAX && printable_ascii(s, len)) {
			if (!(r->status = dup_n(s, len)))
				return -ENOMEM;
		} else {
			cf_debug("gce: %s: status unusable, ignored", what);
		}
	}
	if ((s = jstr(item, "creationTimestamp", NULL))) {
		if (cf_time_parse(s, &r->created, &r->created_ns)) {
			r->created = 0;
			r->created_ns = 0;
			cf_debug("gce: %s: creationTimestamp unusable, time 0", what);
		}
	} else {
		cf_debug("gce: %s: no creationTimestamp, time 0", what);
	}
	if ((s = jstr(item, "labelFingerprint", &len))) {
		if (len > 0 && len <= FINGERPRINT_MAX && printable_ascii(s, len) &&
		    !strchr(s, ' ')) {
			if (!(r->fingerprint = dup_n(s, len)))
				return -ENOMEM;
		} else {
			cf_debug("gce: %s: labelFingerprint unusable, ignored", what);
		}
	}
	return 0;
}

/* source, source_id, origin, links. */
static int decode_lineage(json_t *item, const struct kind_spec *ks, struct cf_resource *r,
			  const char *what)
{
	bool oom = false;
	json_t *v;
	if (ks->source.name) {
		r->source = url_field(item, ks->source.name, ks->source.kind, what, &oom);
		if (oom)
			return -ENOMEM;
	}
	if (ks->source_id && present(v = json_object_get(item, ks->source_id)) &&
	    !(r->source_id = id_string(v, true, &oom))) {
		if (oom)
			return -ENOMEM;
		cf_debug("gce: %s: %s unusable, ignored", what, ks->source_id);
	}
	for (int i = 0; i < 3 && ks->origin[i].name && !r->origin; i++) {
		r->origin = url_field(item, ks->origin[i].name, ks->origin[i].kind, what, &oom);
		if (oom)
			return -ENOMEM;
	}
	if (r->kind == CF_KIND_DISK || r->kind == CF_KIND_INSTANCE)
		return decode_links(item, r, what);
	return 0;
}

int cf_gce_decode_resource(json_t *item, enum cf_kind kind, const char *scope_hint,
			   struct cf_resource *out, char *why, size_t why_size)
{
	char scope[CF_PATH_MAX], what[CF_PATH_MAX + 16], ex[80];
	const char *name, *api_kind;
	size_t nlen;
	int rc;

	memset(out, 0, sizeof *out);
	if (why_size)
		why[0] = '\0';
	if (!json_is_object(item)) {
		snprintf(why, why_size, "not a JSON object");
		return -EINVAL;
	}
	api_kind = jstr(item, "kind", NULL);
	if (kind == CF_KIND_NONE) {
		kind = kind_of_api(api_kind);
		if (kind == CF_KIND_NONE) {
			snprintf(why, why_size, "no known kind");
			return -EINVAL;
		}
	} else if (kind <= CF_KIND_NONE || kind >= CF_KIND__COUNT) {
		snprintf(why, why_size, "no known kind");
		return -EINVAL;
	} else if (api_kind && strcmp(api_kind, specs[kind].api_kind)) {
		excerpt(api_kind, strlen(api_kind), ex, sizeof ex);
		snprintf(why, why_size, "kind \"%s\" where %s was expected", ex,
			 specs[kind].api_kind);
		return -EINVAL;
	}
	const struct kind_spec *ks = &specs[kind];

	json_t *nv = json_object_get(item, "name");
	name = jstr(item, "name", &nlen);
	if (!nv) {
		snprintf(why, why_size, "no name");
		return -EINVAL;
	}
	if (!name) {
		snprintf(why, why_size, "name is not a string");
		return -EINVAL;
	}
	if (!cf_gce_name_valid(name, nlen) || !cf_name_is_safe(name, nlen)) {
		excerpt(name, nlen, ex, sizeof ex);
		snprintf(why, why_size, "name \"%s\" is not a valid resource name", ex);
		return -EINVAL;
	}
	if ((rc = decode_scope(item, ks, scope_hint, scope, sizeof scope, what, sizeof what))) {
		snprintf(why, why_size, "%s %s: %s", cf_kind_name(kind), name, what);
		return rc;
	}
	if (kind == CF_KIND_ZONE || kind == CF_KIND_REGION)
		snprintf(what, sizeof what, "%ss/%s", cf_kind_name(kind), name);
	else if (cf_resource_path(kind, scope, name, what, sizeof what) < 0) {
		snprintf(why, why_size, "%s %s cannot live in %s", cf_kind_name(kind), name, scope);
		return -EINVAL;
	}

	out->kind = kind;
	if (!(out->scope = strdup(scope)) || !(out->name = dup_n(name, nlen)))
		goto oom;
	decode_sizes(item, ks, out, what);
	if (decode_common(item, out, what) || decode_labels(item, out, what) ||
	    decode_lineage(item, ks, out, what))
		goto oom;

	/* resource.json: the document re-serialised compactly. One larger than
	 * CF_RAW_MAX is not kept, but the resource is: hiding a real snapshot
	 * because of an oversized description would hide it from every prune. */
	out->raw = json_dumps(item, JSON_COMPACT);
	if (!out->raw)
		goto oom;
	out->raw_len = strlen(out->raw);
	if (out->raw_len > CF_RAW_MAX) {
		cf_warn(
		    "gce: %s: document of %zu bytes is larger than %d, resource.json left empty",
		    what, out->raw_len, CF_RAW_MAX);
		free(out->raw);
		out->raw = NULL;
		out->raw_len = 0;
	}
	return 0;
oom:
	cf_resource_clear(out);
	snprintf(why, why_size, "out of memory");
	return -ENOMEM;
}

/* ---- decoding a page ---- */

struct page_ctx {
	struct cf_page *page;
	size_t cap;
	const struct listing_spec *ls;
};

static void skip(struct page_ctx *c, const char *why)
{
	if (c->page->skipped++ < SKIP_LOG_MAX)
		cf_warn("gce: listing %s: skipped an item: %s", c->ls->name, why);
	else if (c->page->skipped == SKIP_LOG_MAX + 1)
		cf_warn("gce: listing %s: more items skipped on this page, not logged one by one",
			c->ls->name);
}

static int add_item(struct page_ctx *c, json_t *item, const char *hint)
{
	struct cf_page *p = c->page;
	char why[256];
	if (p->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct cf_resource *items = realloc(p->items, cap * sizeof *items);
		if (!items)
			return -ENOMEM;
		p->items = items;
		c->cap = cap;
	}
	int rc = cf_gce_decode_resource(item, c->ls->kind, hint, &p->items[p->n], why, sizeof why);
	if (rc == -EINVAL)
		skip(c, why);
	else if (rc == 0)
		p->n++;
	return rc == -ENOMEM ? rc : 0;
}

static int add_scope(struct cf_page *p, const char *scope)
{
	char **s = realloc(p->scopes, (p->nscopes + 1) * sizeof *s);
	if (!s)
		return -ENOMEM;
	p->scopes = s;
	if (!(s[p->nscopes] = strdup(scope)))
		return -ENOMEM;
	p->nscopes++;
	return 0;
}

static int decode_aggregated(struct page_ctx *c, json_t *items, struct cf_error *err)
{
	const char *key;
	json_t *scoped;
	char ex[80];
	json_object_foreach(items, key, scoped)
	{
		excerpt(key, strlen(key), ex, sizeof ex);
		if (!json_is_object(scoped)) {
			seterr(err, 200, "listing %s: scope \"%s\" is not an object", c->ls->name,
			       ex);
			return -EPROTO;
		}
		json_t *list = json_object_get(scoped, c->ls->field), *e;
		if (present(list) && !json_is_array(list)) {
			seterr(err, 200, "listing %s: %s of scope \"%s\" is not a list",
			       c->ls->name, c->ls->field, ex);
			return -EPROTO;
		}
		size_t n = json_array_size(list), i;
		if (!scope_valid(key)) {
			/* Its items cannot be placed; the store could not hold them either,
			 * so skipping them removes nothing that was shown. */
			if (n) {
				char why[160];
				snprintf(why, sizeof why, "scope \"%s\" is not a zone or region",
					 ex);
				for (i = 0; i < n; i++)
					skip(c, why);
			} else {
				cf_debug("gce: listing %s: scope \"%s\" ignored", c->ls->name, ex);
			}
			continue;
		}
		if (add_scope(c->page, key))
			return -ENOMEM;
		json_array_foreach(list, i, e)
		{
			if (add_item(c, e, key))
				return -ENOMEM;
		}
	}
	return 0;
}

int cf_gce_decode_page(const char *body, size_t len, enum cf_listing l, struct cf_page *out,
		       struct cf_error *err)
{
	struct cf_error scratch;
	json_error_t je;
	int rc = 0;

	memset(out, 0, sizeof *out);
	if (!err)
		err = &scratch;
	if ((unsigned) l >= CF_LIST__COUNT || !body) {
		seterr(err, 0, "no such listing");
		return -EINVAL;
	}
	struct page_ctx c = {.page = out, .ls = &listings[l]};
	json_t *root = json_loadb(body, len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		char ex[80];
		excerpt(je.text, strlen(je.text), ex, sizeof ex);
		seterr(err, 200, "listing %s: the answer is not valid JSON (%s, at byte %d)",
		       c.ls->name, ex, je.position);
		return -EPROTO;
	}
	if (!json_is_object(root)) {
		seterr(err, 200, "listing %s: the answer is not a JSON object", c.ls->name);
		rc = -EPROTO;
		goto out;
	}

	json_t *tok = json_object_get(root, "nextPageToken");
	if (present(tok)) {
		const char *t = json_string_value(tok);
		size_t tl = json_string_length(tok);
		if (!t || tl > PAGE_TOKEN_MAX || !printable_ascii(t, tl)) {
			seterr(err, 200, "listing %s: nextPageToken is unusable", c.ls->name);
			rc = -EPROTO;
			goto out;
		}
		if (tl && !(out->next_token = dup_n(t, tl)))
			goto oom;
	}

	json_t *unreach = json_object_get(root, "unreachables");
	if (json_array_size(unreach) > 0) {
		const char *first = json_string_value(json_array_get(unreach, 0));
		char ex[80] = "?";
		if (first)
			excerpt(first, strlen(first), ex, sizeof ex);
		seterr(err, 200, "listing %s: %zu scope(s) unreachable (first: %s)", c.ls->name,
		       json_array_size(unreach), ex);
		rc = -EAGAIN;
		goto out;
	}

	json_t *items = json_object_get(root, "items");
	if (!present(items))
		goto out;
	if (c.ls->field) {
		if (!json_is_object(items)) {
			seterr(err, 200, "listing %s: items is not an object of scopes",
			       c.ls->name);
			rc = -EPROTO;
			goto out;
		}
		rc = decode_aggregated(&c, items, err);
		if (rc == -ENOMEM)
			goto oom;
	} else {
		size_t i;
		json_t *e;
		if (!json_is_array(items)) {
			seterr(err, 200, "listing %s: items is not a list", c.ls->name);
			rc = -EPROTO;
			goto out;
		}
		json_array_foreach(items, i, e)
		{
			if (add_item(&c, e, NULL))
				goto oom;
		}
	}
out:
	json_decref(root);
	if (rc)
		cf_page_clear(out);
	return rc;
oom:
	seterr(err, 0, "listing %s: out of memory", c.ls->name);
	rc = -ENOMEM;
	goto out;
}

/* ---- errors ---- */

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
		if (reason && rlen < sizeof err->reason && printable_ascii(reason, rlen) &&
		    !strpbrk(reason, " \"\\"))
			memcpy(err->reason, reason, rlen + 1);
		if (!(msg = jstr(e, "message", &mlen)))
			msg = jstr(first, "message", &mlen);
	}
	if (msg && mlen)
		one_line(err->message, sizeof err->message, msg, mlen);
	else
		snprintf(err->message, sizeof err->message, "%s",
			 json_is_object(e) ? "no message" : "no API error body");
	json_decref(root);
}

/* ---- operations ---- */

/* An operation's name: it goes back into the poll URL (escaped), so
 * printable ASCII without '/', and a safe entry name. The API's are like
 * "operation-1715000000000-5f0c3e1a2b3c4-12345678-9abcdef0". */
static bool op_name_valid(const char *s, size_t len)
{
	return len > 0 && len <= OP_NAME_MAX && printable_ascii(s, len) && !memchr(s, '/', len) &&
	       !memchr(s, ' ', len) && cf_name_is_safe(s, len);
}

/* An API code or reason copied into err->reason: printable, no spaces or
 * quotes, short enough; anything else leaves it empty. */
static void set_reason(struct cf_error *err, const char *s, size_t len)
{
	if (s && len > 0 && len < sizeof err->reason && printable_ascii(s, len) &&
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
		one_line(err->message, sizeof err->message, msg, len);
	else
		snprintf(err->message, sizeof err->message, "the operation failed (no message)");
	if (n > 1) {
		size_t used = strlen(err->message);
		snprintf(err->message + used, sizeof err->message - used, " (and %zu more errors)",
			 n - 1);
	}
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
		seterr(err, 200, "the answer is not a JSON object");
		return -EPROTO;
	}
	if ((s = jstr(doc, "kind", &len)) && strcmp(s, "compute#operation")) {
		excerpt(s, len, ex, sizeof ex);
		seterr(err, 200, "the answer is a \"%s\", not a compute#operation", ex);
		return -EPROTO;
	}
	if (json_object_get(doc, "kind") && !s) {
		seterr(err, 200, "the answer's kind is not a string");
		return -EPROTO;
	}
	s = jstr(doc, "name", &len);
	if (!s || !op_name_valid(s, len)) {
		seterr(err, 200, "the operation has no usable name");
		return -EPROTO;
	}
	if (!(op->name = dup_n(s, len)))
		goto oom;
	s = jstr(doc, "status", &len);
	if (!s || !len || len > STATUS_MAX || !printable_ascii(s, len) || strchr(s, ' ')) {
		seterr(err, 200, "operation %s: no usable status", op->name);
		goto proto;
	}
	if (!(op->status = dup_n(s, len)))
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
			seterr(err, 200, "operation %s: its %s is not a %s URL", op->name, field,
			       field);
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
	seterr(err, 0, "out of memory");
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

/* "GET global/snapshots: HTTP 403 forbidden: " before the API's message;
 * what does not fit is cut from the end. */
static void prefix_message(struct cf_error *err, const char *method, const char *what)
{
	char msg[sizeof err->message];
	memcpy(msg, err->message, sizeof msg);
	int n = snprintf(err->message, sizeof err->message, "%s %.200s: HTTP %d%s%s: ", method,
			 what, err->http_status, err->reason[0] ? " " : "", err->reason);
	if (n > 0 && (size_t) n < sizeof err->message)
		one_line(err->message + n, sizeof err->message - (size_t) n, msg, strlen(msg));
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
		seterr(err, 0, "out of memory");
		return -ENOMEM;
	}
	for (int tries = 0;; tries++) {
		rc = cf_auth_token(g->auth, tok, TOKEN_MAX);
		if (rc) {
			seterr(err, 0, "%s %s: no access token (%s)", method, what, strerror(-rc));
			break;
		}
		struct cf_http_request req = {.method = method,
					      .url = url,
					      .bearer = tok,
					      .body = body,
					      .no_retry = no_retry};
		rc = cf_http_do(g->http, &req, resp);
		explicit_bzero(tok, TOKEN_MAX);
		if (rc) {
			seterr(err, 0, "%s %s: %s", method, what, resp->error);
			if (is_transport_transient(rc))
				rc = cf_errno_from_error(err);
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
		rc = cf_errno_from_error(err);
		cf_http_response_clear(resp);
		break;
	}
	explicit_bzero(tok, TOKEN_MAX);
	free(tok);
	return rc;
}

static int gce_list_page(struct cf_provider *p, enum cf_listing which, const char *token,
			 struct cf_page *out, struct cf_error *err)
{
	struct gce *g = p->impl;
	struct cf_error scratch;
	struct cf_http_response resp;
	char url[URL_MAX];
	size_t pos;
	int rc;

	memset(out, 0, sizeof *out);
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if ((unsigned) which >= CF_LIST__COUNT) {
		seterr(err, 0, "no such listing");
		return -EINVAL;
	}
	const struct listing_spec *ls = &listings[which];
	/* prettyPrint=false (a Google API system parameter) drops the default
	 * indentation; items stay whole (no `fields=`): each is a resource.json. */
	int n = snprintf(url, sizeof url, "%s%s?maxResults=%d&prettyPrint=false%s", g->base,
			 ls->url, PAGE_SIZE, token && *token ? "&pageToken=" : "");
	pos = (size_t) n;
	if (n < 0 || (size_t) n >= sizeof url ||
	    (token && append_escaped(url, sizeof url, &pos, token, false))) {
		seterr(err, 0, "listing %s: URL too long", ls->name);
		return -ENAMETOOLONG;
	}
	rc = call(g, "GET", url, ls->url, NULL, false, &resp, err);
	if (rc)
		return rc;
	rc = cf_gce_decode_page(resp.body, resp.body_len, which, out, err);
	cf_http_response_clear(&resp);
	return rc;
}

static int gce_get(struct cf_provider *p, const char *path, struct cf_resource *out,
		   struct cf_error *err)
{
	struct gce *g = p->impl;
	struct cf_error scratch;
	struct cf_http_response resp;
	char url[URL_MAX], scope[CF_PATH_MAX], name[CF_NAME_MAX + 1], why[256];
	enum cf_kind kind;
	json_error_t je;
	int rc;

	memset(out, 0, sizeof *out);
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	if (!path || cf_path_parse(path, &kind, scope, sizeof scope, name, sizeof name)) {
		seterr(err, 0, "not a resource path");
		return -EINVAL;
	}
	size_t pos = strlen(g->base);
	memcpy(url, g->base, pos + 1);
	if (append_escaped(url, sizeof url, &pos, path, true) ||
	    pos + sizeof "?prettyPrint=false" > sizeof url) {
		seterr(err, 0, "%s: URL too long", path);
		return -ENAMETOOLONG;
	}
	memcpy(url + pos, "?prettyPrint=false", sizeof "?prettyPrint=false");
	rc = call(g, "GET", url, path, NULL, false, &resp, err);
	if (rc)
		return rc;
	json_t *root =
	    json_loadb(resp.body, resp.body_len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &je);
	cf_http_response_clear(&resp);
	if (!root) {
		seterr(err, 200, "GET %s: the answer is not valid JSON (at byte %d)", path,
		       je.position);
		return -EPROTO;
	}
	rc = cf_gce_decode_resource(root, kind, scope, out, why, sizeof why);
	json_decref(root);
	if (rc == -EINVAL) {
		seterr(err, 200, "GET %s: unusable answer: %s", path, why);
		return -EPROTO;
	}
	if (rc) {
		seterr(err, 0, "GET %s: %s", path, why);
		return rc;
	}
	if (strcmp(out->name, name) || strcmp(out->scope, scope)) {
		cf_resource_clear(out);
		seterr(err, 200, "GET %s: the answer describes another resource", path);
		return -EPROTO;
	}
	return 0;
}

/* ---- write calls ---- */

/* A URL below the project, built piece by piece; the first piece that does
 * not fit sets rc. */
struct url {
	char buf[URL_MAX];
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
		excerpt(path ? path : "(null)", path ? strlen(path) : 6, ex, sizeof ex);
		seterr(err, 0, "\"%s\" is not a resource path", ex);
		return -EINVAL;
	}
	if (!(kinds & (1u << k))) {
		seterr(err, 0, "%s: not %s", path, want);
		return -EINVAL;
	}
	if (!cf_gce_name_valid(name, strlen(name)) ||
	    (strcmp(scope, "global") && !scope_valid(scope))) {
		seterr(err, 0, "%s: not a valid Compute Engine name", path);
		return -EINVAL;
	}
	*kind = k;
	return 0;
}

/* The labels as a JSON object, each key and value checked against the
 * provider's rules; -EINVAL with the first offender named. */
static int labels_json(const struct cf_label *labels, size_t n, json_t **out, struct cf_error *err)
{
	char ex[80];
	*out = NULL;
	if (n && !labels) {
		seterr(err, 0, "%zu labels missing", n);
		return -EINVAL;
	}
	if (n > CF_LABELS_MAX) {
		seterr(err, 0, "%zu labels: at most %d are allowed", n, CF_LABELS_MAX);
		return -EINVAL;
	}
	json_t *o = json_object();
	if (!o)
		goto oom;
	for (size_t i = 0; i < n; i++) {
		const char *k = labels[i].key, *v = labels[i].value;
		if (!k || !cf_label_key_valid(k, strlen(k))) {
			excerpt(k ? k : "(null)", k ? strlen(k) : 6, ex, sizeof ex);
			seterr(err, 0,
			       "label key \"%s\" is not valid (lower-case letter first, then "
			       "[a-z0-9_-], at most 63)",
			       ex);
			goto inval;
		}
		if (!v || !cf_label_value_valid(v, strlen(v))) {
			excerpt(v ? v : "(null)", v ? strlen(v) : 6, ex, sizeof ex);
			seterr(err, 0,
			       "label %s: value \"%s\" is not valid ([a-z0-9_-], at most 63)", k,
			       ex);
			goto inval;
		}
		if (json_object_get(o, k)) {
			seterr(err, 0, "label %s given twice", k);
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
	seterr(err, 0, "out of memory");
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
		seterr(err, 0, "%s %s: URL too long", method, what);
		return -ENAMETOOLONG;
	}
	if (body) {
		text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(body);
		if (!text) {
			seterr(err, 0, "out of memory");
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
		seterr(err, 0, "out of memory");
		return rc;
	}
	if (rc) {
		/* The API answered 2xx, so it may well have acted: the outcome is
		 * unknown, and repeating with the same request id finds out. */
		seterr(err, 200, "%s %s: unusable answer (%.200s); outcome unknown", method, what,
		       why.message);
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
		excerpt(request_id, strlen(request_id), ex, sizeof ex);
	seterr(err, 0, "%s: request id \"%s\" is not a UUID", what, request_id ? ex : "(null)");
	return -EINVAL;
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
		seterr(err, 0, "create: only snapshots and machine images are made");
		return -EINVAL;
	}
	bool snap = req->kind == CF_KIND_SNAPSHOT;
	if (!req->name || !cf_gce_name_valid(req->name, strlen(req->name))) {
		char ex[80];
		excerpt(req->name ? req->name : "(null)", req->name ? strlen(req->name) : 6, ex,
			sizeof ex);
		seterr(err, 0,
		       "create: \"%s\" is not a valid Compute Engine name (lower-case, at most 63)",
		       ex);
		return -EINVAL;
	}
	if ((rc = write_target(req->source, 1u << (snap ? CF_KIND_DISK : CF_KIND_INSTANCE),
			       snap ? "a disk" : "an instance", &sk, err)) ||
	    (rc = need_request_id(req->request_id, req->name, err)) ||
	    (rc = labels_json(req->labels, req->nlabels, &labels, err)))
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
	seterr(err, 0, "out of memory");
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
		seterr(err, 0, "%s: clonefs deletes only snapshots, images and machine images",
		       path);
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
	if (!flen || flen > FINGERPRINT_MAX || !printable_ascii(fingerprint, flen) ||
	    strchr(fingerprint, ' ')) {
		seterr(err, 0, "%s: no usable label fingerprint", path);
		return -EINVAL;
	}
	/* The global kinds' setLabels take no requestId (the fingerprint is
	 * their guard); disks' and instances' do. A request id given is still
	 * checked, so a wrong one is caught whatever the kind. */
	bool scoped = k == CF_KIND_DISK || k == CF_KIND_INSTANCE;
	if (request_id && (rc = need_request_id(request_id, path, err)))
		return rc;
	if ((rc = labels_json(labels, n, &lj, err)))
		return rc;
	if (!(body = json_object())) {
		json_decref(lj);
		seterr(err, 0, "out of memory");
		return -ENOMEM;
	}
	if (json_object_set_new(body, "labels", lj) ||
	    json_object_set_new(body, "labelFingerprint", json_string(fingerprint))) {
		json_decref(body);
		seterr(err, 0, "out of memory");
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
	    (strcmp(op->scope, "global") && !scope_valid(op->scope))) {
		seterr(err, 0, "op_poll: the operation has no valid name and scope");
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
		seterr(err, 0, "%s %s: URL too long", method, what);
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
		seterr(err, 200, "%s %s: the answer is not valid JSON (at byte %d)", method, what,
		       je.position);
		return -EPROTO;
	}
	struct cf_error why;
	rc = cf_gce_decode_operation(root, &got, &why);
	json_decref(root);
	if (rc == -ENOMEM) {
		seterr(err, 0, "out of memory");
		return rc;
	}
	if (rc) {
		seterr(err, 200, "%s %s: unusable answer: %.300s", method, what, why.message);
		return -EPROTO;
	}
	if (strcmp(got.name, op->name) || strcmp(got.scope, op->scope)) {
		cf_operation_clear(&got);
		seterr(err, 200, "%s %s: the answer describes another operation", method, what);
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
    .list_page = gce_list_page,
    .get = gce_get,
    .destroy = gce_destroy,
    .create = gce_create,
    .remove = gce_remove,
    .power = gce_power,
    .set_labels = gce_set_labels,
    .op_poll = gce_op_poll,
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
	    strlen(ep) > URL_MAX / 2 || strpbrk(ep, "?# \t\r\n")) {
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
