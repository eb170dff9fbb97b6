/* gce_decode.c — the Compute Engine API's documents into the model: one
 * resource (a GET's answer, or an item of a listing) and one listing page,
 * plain or aggregated, and the resource URLs inside them.
 *
 * Pages are read with lib/util/json.c, not jansson: a first sync of 100,000
 * snapshots is 70 MB of JSON, and a general-purpose DOM spent more CPU on it
 * than everything else the sync does. An item's resource.json is its exact
 * bytes in the answer, not a re-serialisation.
 *
 * Nothing the API sends is trusted. A name must be a valid GCE name and a
 * safe directory entry, or the item is skipped with a log line naming the
 * listing and a printable excerpt; any other odd field is dropped on its own
 * (with a debug or warning line) and the resource is kept. A page whose
 * shape is wrong (not JSON, `items` of the wrong type) fails the listing with
 * -EPROTO, so the sync removes nothing on the strength of it. */
#include "gce.h"
#include "gce_priv.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "timefmt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	PAGE_TOKEN_MAX = 8192, /* a nextPageToken */
	SKIP_LOG_MAX = 20,     /* skip warnings per page; the rest are counted */
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
	const char *url;   /* below projects/P/ */
	const char *field; /* aggregated: the list inside each scope */
	enum cf_kind kind;
} listings[CF_LIST__COUNT] = {
    [CF_LIST_ZONES] = {"zones", NULL, CF_KIND_ZONE},
    [CF_LIST_REGIONS] = {"regions", NULL, CF_KIND_REGION},
    [CF_LIST_DISKS] = {"aggregated/disks", "disks", CF_KIND_DISK},
    [CF_LIST_INSTANCES] = {"aggregated/instances", "instances", CF_KIND_INSTANCE},
    [CF_LIST_SNAPSHOTS] = {"global/snapshots", NULL, CF_KIND_SNAPSHOT},
    [CF_LIST_IMAGES] = {"global/images", NULL, CF_KIND_IMAGE},
    [CF_LIST_MACHINE_IMAGES] = {"global/machineImages", NULL, CF_KIND_MACHINE_IMAGE},
};

const char *cf_gce_listing_url(enum cf_listing l)
{
	return (unsigned) l < CF_LIST__COUNT ? listings[l].url : NULL;
}

/* ---- untrusted text ---- */

bool cf_gce_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x20 || s[i] > 0x7e)
			return false;
	return true;
}

void cf_gce_excerpt(const char *s, size_t len, char *out, size_t size)
{
	size_t n = 0;
	for (size_t i = 0; i < len && i < 40 && n + 1 < size; i++)
		out[n++] = s[i] >= 0x20 && s[i] <= 0x7e && s[i] != '"' && s[i] != '\\' ? s[i] : '?';
	out[n] = '\0';
	if (len > 40)
		snprintf(out + n, size - n, "...(%zu bytes)", len);
}

void cf_gce_one_line(char *dst, size_t size, const char *s, size_t len)
{
	size_t n = len < size - 1 ? len : size - 1;
	while (n > 0 && n < len && ((unsigned char) s[n] & 0xc0) == 0x80)
		n--;
	for (size_t i = 0; i < n; i++)
		dst[i] = (unsigned char) s[i] < 0x20 || s[i] == 0x7f ? ' ' : s[i];
	dst[n] = '\0';
}

void cf_gce_seterr(struct cf_error *err, int status, const char *fmt, ...)
{
	va_list ap;
	memset(err, 0, sizeof *err);
	err->http_status = status;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
}

char *cf_gce_dup(const char *s, size_t len)
{
	char *d = malloc(len + 1);
	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

/* ---- URLs ---- */

/* The part of a resource URL after "projects/P/", or NULL. */
static const char *project_rest(const char *url)
{
	static const char *const versions[] = {"/compute/v1/", "/compute/beta/", "/compute/alpha/"};
	const char *p = url;
	size_t len = strlen(url);

	/* Nothing a selfLink holds: no query, fragment, escapes or spaces. (Compared
	 * here, not with strchr: a call per character was most of a first sync's
	 * cost of reading a snapshot's sourceDisk.) */
	if (len == 0 || len > GCE_URL_MAX)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char) url[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == '?' || ch == '#' || ch == '%' || ch == '\\')
			return NULL;
	}

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

/* rest into buf: 0, or -ENAMETOOLONG. */
static int copy_rest(const char *rest, char *buf, size_t size)
{
	size_t len = strlen(rest);
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(buf, rest, len + 1);
	return 0;
}

/* cf_gce_path_from_url, and the path's kind into *kind (may be NULL): one
 * parse of the path for both. */
static int path_from_url(const char *url, char *buf, size_t size, enum cf_kind *kind)
{
	const char *rest = url ? project_rest(url) : NULL;
	if (!rest || cf_path_parse(rest, kind, NULL, 0, NULL, 0))
		return -EINVAL;
	return copy_rest(rest, buf, size);
}

int cf_gce_path_from_url(const char *url, char *buf, size_t size)
{
	return path_from_url(url, buf, size, NULL);
}

bool cf_gce_scope_valid(const char *s)
{
	const char *name = !strncmp(s, "zones/", 6)	? s + 6
			   : !strncmp(s, "regions/", 8) ? s + 8
							: NULL;
	return name && cf_gce_name_valid(name, strlen(name));
}

int cf_gce_scope_from_url(const char *url, char *buf, size_t size)
{
	const char *rest = url ? project_rest(url) : NULL;
	if (!rest || !cf_gce_scope_valid(rest))
		return -EINVAL;
	return copy_rest(rest, buf, size);
}

/* ---- fields of one document ---- */

/* Decoding one item: the document, the resource's path for log lines, and
 * whether memory ran out on the way (a field that could not be decoded for
 * want of memory must fail the item, not look absent). */
struct dctx {
	struct cf_json *j;
	const char *what;
	bool oom;
	/* The item's members, found once (index_members): a dozen are asked for
	 * by name, and cf_json_get walks the members from the first for each, a
	 * call per member passed (a twentieth of a first sync's instructions). */
	int item;	   /* the object indexed; -1: none */
	struct mkey *keys; /* its members in order, nkeys of them */
	size_t nkeys;
};

struct mkey {
	const char *p; /* the key's text between its quotes */
	size_t n;
	int value;
	bool esc; /* written with escapes: compared decoded (cf_json_str_eq) */
};

#define MKEYS_MAX 64 /* an item with more members is looked into with cf_json_get */

static bool present(const struct dctx *c, int v)
{
	return cf_json_present(c->j, v);
}

/* Index the members of object obj into keys (room for MKEYS_MAX). */
static void index_members(struct dctx *c, int obj, struct mkey *keys)
{
	size_t n = 0;
	c->item = -1;
	for (int k = cf_json_first(c->j, obj); k >= 0; k = cf_json_next(c->j, obj, k)) {
		size_t len;
		const char *p = cf_json_span(c->j, k, &len);
		if (n == MKEYS_MAX || !p || len < 2)
			return;
		keys[n] = (struct mkey){p + 1, len - 2, k + 1, memchr(p, '\\', len) != NULL};
		n++;
	}
	c->item = obj;
	c->keys = keys;
	c->nkeys = n;
}

/* The value of obj's member `key`, or -1 (as cf_json_get: the parser refuses
 * duplicate keys, so the first is the one). */
static int member(const struct dctx *c, int obj, const char *key)
{
	if (obj != c->item || obj < 0)
		return cf_json_get(c->j, obj, key);
	size_t n = strlen(key);
	for (size_t i = 0; i < c->nkeys; i++) {
		const struct mkey *m = &c->keys[i];
		if (m->esc ? cf_json_str_eq(c->j, m->value - 1, key, n)
			   : m->n == n && !memcmp(m->p, key, n))
			return m->value;
	}
	return -1;
}

/* A string value: NULL when absent, not a string, or holding a NUL. */
static const char *vstr(struct dctx *c, int v, size_t *len)
{
	size_t l;
	if (cf_json_type(c->j, v) != CF_J_STRING)
		return NULL;
	const char *s = cf_json_str(c->j, v, &l);
	if (!s) {
		c->oom = true;
		return NULL;
	}
	if (memchr(s, '\0', l))
		return NULL;
	if (len)
		*len = l;
	return s;
}

static const char *jstr(struct dctx *c, int obj, const char *key, size_t *len)
{
	return vstr(c, member(c, obj, key), len);
}

/* Decimal digits, at most 20 of them, into a uint64 without overflow. */
static int digits_u64(const char *s, size_t len, uint64_t *out)
{
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

/* An int64 the API writes as a decimal string (or, oddly, a JSON integer),
 * non-negative. */
static int j_u64(struct dctx *c, int v, uint64_t *out)
{
	if (cf_json_type(c->j, v) == CF_J_NUMBER) {
		int64_t i;
		if (cf_json_int(c->j, v, &i) || i < 0)
			return -EINVAL;
		*out = (uint64_t) i;
		return 0;
	}
	size_t len;
	const char *s = vstr(c, v, &len);
	return s ? digits_u64(s, len, out) : -EINVAL;
}

/* An id as a decimal string: digits (a leading '-' when allowed), at most
 * 20 of them, or a JSON integer. NULL when it is neither (c->oom set when
 * memory is why). */
static char *id_string(struct dctx *c, int v, bool allow_negative)
{
	char buf[32];
	const char *s;
	size_t len;
	if (cf_json_type(c->j, v) == CF_J_NUMBER) {
		int64_t i;
		if (cf_json_int(c->j, v, &i) || (i < 0 && !allow_negative))
			return NULL;
		len = (size_t) snprintf(buf, sizeof buf, "%" PRId64, i);
		s = buf;
	} else {
		if (!(s = vstr(c, v, &len)))
			return NULL;
		size_t i = allow_negative && len > 1 && s[0] == '-' ? 1 : 0;
		if (len - i == 0 || len - i > 20)
			return NULL;
		for (; i < len; i++)
			if (s[i] < '0' || s[i] > '9')
				return NULL;
	}
	char *d = cf_gce_dup(s, len);
	if (!d)
		c->oom = true;
	return d;
}

/* The path of a URL that must name a resource of kind k, or NULL. */
static char *url_path(struct dctx *c, int v, enum cf_kind k)
{
	char path[CF_PATH_MAX];
	enum cf_kind got;
	const char *s = vstr(c, v, NULL);
	if (!s || path_from_url(s, path, sizeof path, &got) || got != k)
		return NULL;
	char *d = strdup(path);
	if (!d)
		c->oom = true;
	return d;
}

/* A URL field: its path, or NULL (with a debug line) when absent or
 * unusable. */
static char *url_field(struct dctx *c, int item, const char *field, enum cf_kind k)
{
	int v = member(c, item, field);
	if (!present(c, v))
		return NULL;
	char *d = url_path(c, v, k);
	if (!d && !c->oom)
		cf_debug("gce: %s: %s is not a %s URL, ignored", c->what, field, cf_kind_name(k));
	return d;
}

/* ---- resource.json without secrets ---- */

/* An instance's metadata items (startup scripts, ssh keys, passwords put there
 * by hand) are readable by every local user who can read the mount, and the
 * cache keeps them on disk. Their values are replaced, their keys kept, before
 * the document goes anywhere: in metadata.items[] of an instance, and in
 * (source)instanceProperties.metadata.items[] of a machine image. */
static const char REDACTED[] = "\"(hidden by clonefs)\"";

struct spans {
	size_t (*at)[2]; /* offset and length in the document */
	size_t n, cap;
	bool oom;
};

static void span_add(struct spans *sp, const char *base, const char *p, size_t len)
{
	if (sp->n == sp->cap) {
		size_t cap = sp->cap ? sp->cap * 2 : 8;
		void *np = realloc(sp->at, cap * sizeof *sp->at);
		if (!np) {
			sp->oom = true;
			return;
		}
		sp->at = np;
		sp->cap = cap;
	}
	sp->at[sp->n][0] = (size_t) (p - base);
	sp->at[sp->n][1] = len;
	sp->n++;
}

static bool key_is(const struct cf_json *j, int k, const char *s)
{
	return cf_json_str_eq(j, k, s, strlen(s));
}

/* Which member name the redaction looks for key k is: REDACT_METADATA
 * ("metadata"), REDACT_PROPERTIES ("instanceProperties" or
 * "sourceInstanceProperties") or REDACT_NONE. Asked of every member of every
 * item, so from the key's own bytes p[0..n) (between its quotes) where it has
 * no escape (esc): a memcmp at most; the names are 8 characters or more and an
 * escape only lengthens a key, so a shorter one, most of them, is none of them. */
enum redact_key { REDACT_NONE, REDACT_METADATA, REDACT_PROPERTIES };

static enum redact_key redact_name(const struct cf_json *j, int k, const char *p, size_t n,
				   bool esc)
{
	static const char meta[] = "metadata", props[] = "instanceProperties",
			  sprops[] = "sourceInstanceProperties";
	if (n < sizeof meta - 1)
		return REDACT_NONE;
	if (esc)
		return key_is(j, k, meta)			     ? REDACT_METADATA
		       : key_is(j, k, props) || key_is(j, k, sprops) ? REDACT_PROPERTIES
								     : REDACT_NONE;
	if (n == sizeof meta - 1 && !memcmp(p, meta, n))
		return REDACT_METADATA;
	if ((n == sizeof props - 1 && !memcmp(p, props, n)) ||
	    (n == sizeof sprops - 1 && !memcmp(p, sprops, n)))
		return REDACT_PROPERTIES;
	return REDACT_NONE;
}

static enum redact_key redact_key(const struct cf_json *j, int k)
{
	size_t len;
	const char *p = cf_json_span(j, k, &len);
	if (!p || len < 2 || cf_json_type(j, k) != CF_J_STRING)
		return REDACT_NONE;
	return redact_name(j, k, p + 1, len - 2, len >= 10 && memchr(p, '\\', len));
}

/* Every member of every items[] element but "key", in the value md of a
 * member called "metadata". */
static void metadata_values(const struct cf_json *j, int md, const char *base, struct spans *sp)
{
	if (cf_json_type(j, md) != CF_J_OBJECT)
		return;
	for (int k = cf_json_first(j, md); k >= 0; k = cf_json_next(j, md, k)) {
		if (!key_is(j, k, "items") || cf_json_type(j, k + 1) != CF_J_ARRAY)
			continue;
		for (int e = cf_json_first(j, k + 1); e >= 0; e = cf_json_next(j, k + 1, e)) {
			if (cf_json_type(j, e) != CF_J_OBJECT)
				continue;
			for (int f = cf_json_first(j, e); f >= 0; f = cf_json_next(j, e, f)) {
				size_t len;
				const char *p = cf_json_span(j, f + 1, &len);
				if (p && !key_is(j, f, "key"))
					span_add(sp, base, p, len);
			}
		}
	}
}

static void metadata_spans(const struct cf_json *j, const struct dctx *c, int obj, bool props,
			   const char *base, struct spans *sp);

/* What a member whose value is v holds to hide, rk saying what its name is. */
static void member_spans(const struct cf_json *j, enum redact_key rk, int v, bool props,
			 const char *base, struct spans *sp)
{
	if (rk == REDACT_METADATA)
		metadata_values(j, v, base, sp);
	else if (rk == REDACT_PROPERTIES && props && cf_json_type(j, v) == CF_J_OBJECT)
		metadata_spans(j, NULL, v, false, base, sp);
}

/* The values to hide in object obj: those of each member called "metadata"
 * (duplicates too: a reader may take any of them); at the top (props), also
 * those of the metadata of each instanceProperties and
 * sourceInstanceProperties member (a machine image's copies of an
 * instance's). One pass over obj's members: those decode_item indexed
 * (index_members, in c) when obj is its item. */
static void metadata_spans(const struct cf_json *j, const struct dctx *c, int obj, bool props,
			   const char *base, struct spans *sp)
{
	if (c && obj == c->item && obj >= 0) {
		for (size_t i = 0; i < c->nkeys; i++) {
			const struct mkey *m = &c->keys[i];
			member_spans(j, redact_name(j, m->value - 1, m->p, m->n, m->esc), m->value,
				     props, base, sp);
		}
		return;
	}
	for (int m = cf_json_first(j, obj); m >= 0; m = cf_json_next(j, obj, m))
		member_spans(j, redact_key(j, m), m + 1, props, base, sp);
}

static int span_cmp(const void *a, const void *b)
{
	const size_t *x = a, *y = b;
	return x[0] < y[0] ? -1 : x[0] > y[0];
}

/* A copy of the document (raw, len: item's span) with the metadata values
 * replaced: 0, -ENOMEM, or -EFBIG when the copy would pass CF_RAW_MAX. */
static int redacted_copy(const struct dctx *c, int item, const char *raw, size_t len, char **out,
			 size_t *out_len)
{
	struct spans sp = {0};
	metadata_spans(c->j, c, item, true, raw, &sp);
	if (sp.oom) {
		free(sp.at);
		return -ENOMEM;
	}
	if (sp.n)
		qsort(sp.at, sp.n, sizeof *sp.at, span_cmp);
	size_t size = len + 1;
	for (size_t i = 0; i < sp.n; i++)
		size += sizeof REDACTED - 1;
	char *buf = malloc(size);
	if (!buf) {
		free(sp.at);
		return -ENOMEM;
	}
	size_t n = 0, from = 0;
	for (size_t i = 0; i < sp.n; i++) {
		if (sp.at[i][0] < from)
			continue; /* inside one already replaced (cannot happen: values do not nest)
				   */
		memcpy(buf + n, raw + from, sp.at[i][0] - from);
		n += sp.at[i][0] - from;
		memcpy(buf + n, REDACTED, sizeof REDACTED - 1);
		n += sizeof REDACTED - 1;
		from = sp.at[i][0] + sp.at[i][1];
	}
	memcpy(buf + n, raw + from, len - from);
	n += len - from;
	buf[n] = '\0';
	free(sp.at);
	if (n > CF_RAW_MAX) {
		explicit_bzero(buf, n);
		free(buf);
		return -EFBIG;
	}
	*out = buf;
	*out_len = n;
	return 0;
}

/* ---- decoding one resource ---- */

static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cf_label *) a)->key, ((const struct cf_label *) b)->key);
}

/* Labels: an object of string -> string. A label that is not a string, too
 * long, or past the 64th is dropped; the rest are kept, sorted by key. One
 * warning per resource says how many were dropped and why. */
static int decode_labels(struct dctx *c, int item, struct cf_resource *r)
{
	int labels = member(c, item, "labels");
	const char *first_why = NULL;
	char first_key[80] = "";
	size_t dropped = 0;

	if (!present(c, labels))
		return 0;
	if (cf_json_type(c->j, labels) != CF_J_OBJECT) {
		cf_warn("gce: %s: labels is not an object, ignored", c->what);
		return 0;
	}
	size_t n = cf_json_count(c->j, labels);
	r->labels = calloc(n < CF_LABELS_MAX ? n : CF_LABELS_MAX, sizeof *r->labels);
	if (n && !r->labels)
		return -ENOMEM;
	for (int k = cf_json_first(c->j, labels); k >= 0; k = cf_json_next(c->j, labels, k)) {
		size_t klen, vlen = 0;
		const char *key = cf_json_str(c->j, k, &klen), *val = NULL, *why = NULL;
		if (!key)
			return -ENOMEM;
		/* Characters, not bytes: 63 international characters take up to
		 * CF_LABEL_BYTES_MAX, and a label the API holds and we dropped would be
		 * erased by the next label write (setLabels sends the whole set back). */
		if (!cf_label_text_sane(key, klen, true))
			why = "bad key";
		else if (cf_json_type(c->j, k + 1) != CF_J_STRING)
			why = "value not a string";
		else if (!(val = cf_json_str(c->j, k + 1, &vlen)))
			return -ENOMEM;
		else if (!cf_label_text_sane(val, vlen, false))
			why = "bad or too long value";
		else if (r->nlabels == CF_LABELS_MAX)
			why = "more than 64 labels";
		if (why) {
			if (!dropped++) {
				first_why = why;
				cf_gce_excerpt(key, klen, first_key, sizeof first_key);
			}
			continue;
		}
		struct cf_label *l = &r->labels[r->nlabels];
		l->key = cf_gce_dup(key, klen);
		l->value = cf_gce_dup(val, vlen);
		if (!l->key || !l->value) {
			free(l->key);
			free(l->value);
			l->key = l->value = NULL;
			return -ENOMEM;
		}
		r->nlabels++;
	}
	if (dropped)
		cf_warn("gce: %s: dropped %zu label(s), first \"%s\": %s", c->what, dropped,
			first_key, first_why);
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
static int decode_links(struct dctx *c, int item, struct cf_resource *r)
{
	bool instance = r->kind == CF_KIND_INSTANCE;
	const char *field = instance ? "disks" : "users";
	int list = member(c, item, field);
	size_t bad = 0, over = 0;

	if (!present(c, list))
		return 0;
	if (cf_json_type(c->j, list) != CF_J_ARRAY) {
		cf_debug("gce: %s: %s is not a list, ignored", c->what, field);
		return 0;
	}
	for (int e = cf_json_first(c->j, list); e >= 0; e = cf_json_next(c->j, list, e)) {
		char *p = instance ? url_path(c, member(c, e, "source"), CF_KIND_DISK)
				   : url_path(c, e, CF_KIND_INSTANCE);
		if (c->oom)
			return -ENOMEM;
		if (!p)
			bad++;
		else if (r->nlinks == CF_LINKS_MAX)
			over++, free(p);
		else if (add_link(r, p))
			return -ENOMEM;
	}
	if (bad || over)
		cf_debug("gce: %s: %zu unusable and %zu excess %s entries ignored", c->what, bad,
			 over, field);
	return 0;
}

/* A size the API writes as a decimal string (or a JSON integer): clamped to
 * CF_SIZE_MAX (model.h) when it is larger, however many digits it has, so an
 * absurd size is shown as a large one instead of overflowing into a negative
 * off_t. `shift` scales it (30 for GiB). -EINVAL when it is not a number. */
static int j_size(struct dctx *c, int v, unsigned shift, uint64_t *out)
{
	uint64_t x;
	size_t len;
	const char *s;
	if (j_u64(c, v, &x) == 0) {
		*out = x > (CF_SIZE_MAX >> shift) ? CF_SIZE_MAX : x << shift;
		return 0;
	}
	if (cf_json_type(c->j, v) != CF_J_STRING || !(s = vstr(c, v, &len)) || !len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
	*out = CF_SIZE_MAX; /* digits beyond uint64 */
	return 0;
}

static void decode_sizes(struct dctx *c, int item, const struct kind_spec *ks,
			 struct cf_resource *r)
{
	uint64_t v;
	int f;
	if (ks->size_gb && present(c, f = member(c, item, ks->size_gb))) {
		if (j_size(c, f, 30, &v))
			cf_debug("gce: %s: %s unusable, size 0", c->what, ks->size_gb);
		else
			r->size_bytes = v;
	}
	if (ks->stored && present(c, f = member(c, item, ks->stored))) {
		if (j_size(c, f, 0, &v))
			cf_debug("gce: %s: %s unusable, 0", c->what, ks->stored);
		else
			r->stored_bytes = v;
	}
}

/* Which scope the item lives in; a zonal/regional one's own zone or region
 * must agree with the listing's scope key. */
static int decode_scope(struct dctx *c, int item, const struct kind_spec *ks, const char *hint,
			char *scope, size_t size, char *why, size_t why_size)
{
	if (!ks->scoped) {
		snprintf(scope, size, "global");
		return 0;
	}
	const char *field = present(c, member(c, item, "zone"))	    ? "zone"
			    : present(c, member(c, item, "region")) ? "region"
								    : NULL;
	if (field) {
		const char *s = jstr(c, item, field, NULL);
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
	if (!hint || !cf_gce_scope_valid(hint) || strlen(hint) >= size) {
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
static int decode_common(struct dctx *c, int item, struct cf_resource *r)
{
	const char *s;
	size_t len;
	int v;

	if (present(c, v = member(c, item, "id")) && !(r->id = id_string(c, v, false))) {
		if (c->oom)
			return -ENOMEM;
		cf_debug("gce: %s: id unusable, ignored", c->what);
	}
	if (present(c, member(c, item, "status"))) {
		s = jstr(c, item, "status", &len);
		if (s && len > 0 && len <= GCE_STATUS_MAX && cf_gce_printable(s, len)) {
			if (!(r->status = cf_gce_dup(s, len)))
				return -ENOMEM;
		} else {
			cf_debug("gce: %s: status unusable, ignored", c->what);
		}
	}
	if ((s = jstr(c, item, "creationTimestamp", NULL))) {
		if (cf_time_parse(s, &r->created, &r->created_ns)) {
			r->created = 0;
			r->created_ns = 0;
			cf_debug("gce: %s: creationTimestamp unusable, time 0", c->what);
		}
	} else {
		cf_debug("gce: %s: no creationTimestamp, time 0", c->what);
	}
	if ((s = jstr(c, item, "labelFingerprint", &len))) {
		if (len > 0 && len <= GCE_FINGERPRINT_MAX && cf_gce_printable(s, len) &&
		    !strchr(s, ' ')) {
			if (!(r->fingerprint = cf_gce_dup(s, len)))
				return -ENOMEM;
		} else {
			cf_debug("gce: %s: labelFingerprint unusable, ignored", c->what);
		}
	}
	return c->oom ? -ENOMEM : 0;
}

/* source, source_id, origin, links. */
static int decode_lineage(struct dctx *c, int item, const struct kind_spec *ks,
			  struct cf_resource *r)
{
	int v;
	if (ks->source.name) {
		r->source = url_field(c, item, ks->source.name, ks->source.kind);
		if (c->oom)
			return -ENOMEM;
	}
	if (ks->source_id && present(c, v = member(c, item, ks->source_id)) &&
	    !(r->source_id = id_string(c, v, true))) {
		if (c->oom)
			return -ENOMEM;
		cf_debug("gce: %s: %s unusable, ignored", c->what, ks->source_id);
	}
	for (int i = 0; i < 3 && ks->origin[i].name && !r->origin; i++) {
		r->origin = url_field(c, item, ks->origin[i].name, ks->origin[i].kind);
		if (c->oom)
			return -ENOMEM;
	}
	if (r->kind == CF_KIND_DISK || r->kind == CF_KIND_INSTANCE)
		return decode_links(c, item, r);
	return 0;
}

/* Item `item` of document j into out: see cf_gce_decode_resource. */
static int decode_item(struct cf_json *j, int item, enum cf_kind kind, const char *scope_hint,
		       struct cf_resource *out, char *why, size_t why_size)
{
	char scope[CF_PATH_MAX], what[CF_PATH_MAX + 16], ex[80];
	struct mkey keys[MKEYS_MAX];
	struct dctx c = {.j = j, .what = what, .item = -1};
	const char *name, *api_kind;
	size_t nlen, klen = 0;
	int rc;

	memset(out, 0, sizeof *out);
	if (why_size)
		why[0] = '\0';
	if (cf_json_type(j, item) != CF_J_OBJECT) {
		snprintf(why, why_size, "not a JSON object");
		return -EINVAL;
	}
	index_members(&c, item, keys);
	api_kind = jstr(&c, item, "kind", &klen);
	if (c.oom)
		goto oom;
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
		cf_gce_excerpt(api_kind, klen, ex, sizeof ex);
		snprintf(why, why_size, "kind \"%s\" where %s was expected", ex,
			 specs[kind].api_kind);
		return -EINVAL;
	}
	const struct kind_spec *ks = &specs[kind];

	int nv = member(&c, item, "name");
	name = vstr(&c, nv, &nlen);
	if (c.oom)
		goto oom;
	if (nv < 0) {
		snprintf(why, why_size, "no name");
		return -EINVAL;
	}
	if (!name) {
		snprintf(why, why_size, "name is not a string");
		return -EINVAL;
	}
	if (!cf_gce_name_valid(name, nlen) || !cf_name_is_safe(name, nlen)) {
		cf_gce_excerpt(name, nlen, ex, sizeof ex);
		snprintf(why, why_size, "name \"%s\" is not a valid resource name", ex);
		return -EINVAL;
	}
	if ((rc = decode_scope(&c, item, ks, scope_hint, scope, sizeof scope, what, sizeof what))) {
		if (c.oom)
			goto oom;
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
	if (!(out->scope = strdup(scope)) || !(out->name = cf_gce_dup(name, nlen)))
		goto oom;
	decode_sizes(&c, item, ks, out);
	if (decode_common(&c, item, out) || decode_labels(&c, item, out) ||
	    decode_lineage(&c, item, ks, out) || c.oom)
		goto oom;

	/* resource.json: the document's own bytes, metadata values hidden. One larger
	 * than CF_RAW_MAX is not kept, but the resource is: hiding a real snapshot
	 * because of an oversized description would hide it from every prune. */
	size_t rlen;
	const char *raw = cf_json_span(j, item, &rlen);
	if (rlen > CF_RAW_MAX) {
		cf_warn(
		    "gce: %s: document of %zu bytes is larger than %d, resource.json left empty",
		    what, rlen, CF_RAW_MAX);
	} else if ((rc = redacted_copy(&c, item, raw, rlen, &out->raw, &out->raw_len))) {
		if (rc == -ENOMEM)
			goto oom;
		cf_warn("gce: %s: document with its metadata hidden is larger than %d, "
			"resource.json left empty",
			what, CF_RAW_MAX);
	}
	return 0;
oom:
	cf_resource_clear(out);
	snprintf(why, why_size, "out of memory");
	return -ENOMEM;
}

int cf_gce_decode_resource(const char *text, size_t len, enum cf_kind kind, const char *scope_hint,
			   struct cf_resource *out, char *why, size_t why_size)
{
	struct cf_json j;
	char jwhy[160];
	memset(out, 0, sizeof *out);
	int rc = text ? cf_json_parse(&j, text, len, jwhy, sizeof jwhy) : -EINVAL;
	if (rc == -ENOMEM) {
		snprintf(why, why_size, "out of memory");
		return rc;
	}
	if (rc) {
		snprintf(why, why_size, "not valid JSON: %s", text ? jwhy : "no text");
		return -EINVAL;
	}
	rc = decode_item(&j, 0, kind, scope_hint, out, why, why_size);
	cf_json_free(&j);
	return rc;
}

/* ---- decoding a page ---- */

struct page_ctx {
	struct cf_json *j;
	struct cf_page *page;
	size_t cap;
	const struct listing_spec *ls;
	const char *name; /* the listing's, for log lines */
};

static void skip(struct page_ctx *c, const char *why)
{
	if (c->page->skipped++ < SKIP_LOG_MAX)
		cf_warn("gce: listing %s: skipped an item: %s", c->name, why);
	else if (c->page->skipped == SKIP_LOG_MAX + 1)
		cf_warn("gce: listing %s: more items skipped on this page, not logged one by one",
			c->name);
}

static int add_item(struct page_ctx *c, int item, const char *hint)
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
	int rc = decode_item(c->j, item, c->ls->kind, hint, &p->items[p->n], why, sizeof why);
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

static int decode_aggregated(struct page_ctx *c, int items, struct cf_error *err)
{
	struct cf_json *j = c->j;
	char ex[80];
	for (int k = cf_json_first(j, items); k >= 0; k = cf_json_next(j, items, k)) {
		size_t klen;
		const char *key = cf_json_str(j, k, &klen);
		int scoped = k + 1;
		if (!key)
			return -ENOMEM;
		cf_gce_excerpt(key, klen, ex, sizeof ex);
		if (cf_json_type(j, scoped) != CF_J_OBJECT) {
			cf_gce_seterr(err, 200, "listing %s: scope \"%s\" is not an object",
				      c->name, ex);
			return -EPROTO;
		}
		int list = cf_json_get(j, scoped, c->ls->field);
		if (cf_json_present(j, list) && cf_json_type(j, list) != CF_J_ARRAY) {
			cf_gce_seterr(err, 200, "listing %s: %s of scope \"%s\" is not a list",
				      c->name, c->ls->field, ex);
			return -EPROTO;
		}
		size_t n = cf_json_count(j, list);
		if (memchr(key, '\0', klen) || !cf_gce_scope_valid(key)) {
			/* Its items cannot be placed; the store could not hold them either,
			 * so skipping them removes nothing that was shown. */
			if (n) {
				char why[160];
				snprintf(why, sizeof why, "scope \"%s\" is not a zone or region",
					 ex);
				for (size_t i = 0; i < n; i++)
					skip(c, why);
			} else {
				cf_debug("gce: listing %s: scope \"%s\" ignored", c->name, ex);
			}
			continue;
		}
		if (add_scope(c->page, key))
			return -ENOMEM;
		for (int e = cf_json_first(j, list); e >= 0; e = cf_json_next(j, list, e))
			if (add_item(c, e, key))
				return -ENOMEM;
	}
	return 0;
}

int cf_gce_decode_page(const char *body, size_t len, enum cf_listing l, struct cf_page *out,
		       struct cf_error *err)
{
	struct cf_error scratch;
	struct cf_json j;
	char why[160];
	int rc = 0;

	memset(out, 0, sizeof *out);
	if (!err)
		err = &scratch;
	if ((unsigned) l >= CF_LIST__COUNT || !body) {
		cf_gce_seterr(err, 0, "no such listing");
		return -EINVAL;
	}
	struct page_ctx c = {.j = &j, .page = out, .ls = &listings[l], .name = cf_listing_name(l)};
	rc = cf_json_parse(&j, body, len, why, sizeof why);
	if (rc == -ENOMEM) {
		cf_gce_seterr(err, 0, "listing %s: out of memory", c.name);
		return rc;
	}
	if (rc) {
		cf_gce_seterr(err, 200, "listing %s: the answer is not valid JSON (%s)", c.name,
			      why);
		return -EPROTO;
	}
	if (cf_json_type(&j, 0) != CF_J_OBJECT) {
		cf_gce_seterr(err, 200, "listing %s: the answer is not a JSON object", c.name);
		rc = -EPROTO;
		goto out;
	}

	int tok = cf_json_get(&j, 0, "nextPageToken");
	if (cf_json_present(&j, tok)) {
		size_t tl = 0;
		const char *t =
		    cf_json_type(&j, tok) == CF_J_STRING ? cf_json_str(&j, tok, &tl) : NULL;
		if (!t && tl == SIZE_MAX)
			goto oom;
		if (!t || tl > PAGE_TOKEN_MAX || !cf_gce_printable(t, tl)) {
			cf_gce_seterr(err, 200, "listing %s: nextPageToken is unusable", c.name);
			rc = -EPROTO;
			goto out;
		}
		if (tl && !(out->next_token = cf_gce_dup(t, tl)))
			goto oom;
	}

	int unreach = cf_json_get(&j, 0, "unreachables");
	if (cf_json_type(&j, unreach) == CF_J_ARRAY && cf_json_count(&j, unreach) > 0) {
		int first = cf_json_first(&j, unreach);
		size_t fl = 0;
		const char *f =
		    cf_json_type(&j, first) == CF_J_STRING ? cf_json_str(&j, first, &fl) : NULL;
		char ex[80] = "?";
		if (f)
			cf_gce_excerpt(f, fl, ex, sizeof ex);
		cf_gce_seterr(err, 200, "listing %s: %zu scope(s) unreachable (first: %s)", c.name,
			      cf_json_count(&j, unreach), ex);
		rc = -EAGAIN;
		goto out;
	}

	int items = cf_json_get(&j, 0, "items");
	if (!cf_json_present(&j, items))
		goto out;
	if (c.ls->field) {
		if (cf_json_type(&j, items) != CF_J_OBJECT) {
			cf_gce_seterr(err, 200, "listing %s: items is not an object of scopes",
				      c.name);
			rc = -EPROTO;
			goto out;
		}
		rc = decode_aggregated(&c, items, err);
		if (rc == -ENOMEM)
			goto oom;
	} else {
		if (cf_json_type(&j, items) != CF_J_ARRAY) {
			cf_gce_seterr(err, 200, "listing %s: items is not a list", c.name);
			rc = -EPROTO;
			goto out;
		}
		for (int e = cf_json_first(&j, items); e >= 0; e = cf_json_next(&j, items, e))
			if (add_item(&c, e, NULL))
				goto oom;
	}
out:
	cf_json_free(&j);
	if (rc)
		cf_page_clear(out);
	return rc;
oom:
	cf_gce_seterr(err, 0, "listing %s: out of memory", c.name);
	rc = -ENOMEM;
	goto out;
}

/* ---- statuses (the rules for what a caller writes: gce_names.c) ---- */

/* The API's status words (snapshots, images, machine images, disks,
 * instances) in the engine's neutral states. */
enum cf_state cf_gce_state(enum cf_kind kind, const char *status)
{
	static const struct {
		const char *word;
		enum cf_state state;
	} words[] = {
	    {"READY", CF_STATE_READY},	       {"CREATING", CF_STATE_CREATING},
	    {"UPLOADING", CF_STATE_CREATING},  {"PENDING", CF_STATE_CREATING},
	    {"RESTORING", CF_STATE_CREATING},  {"FAILED", CF_STATE_FAILED},
	    {"DELETING", CF_STATE_DELETING},   {"PROVISIONING", CF_STATE_STARTING},
	    {"STAGING", CF_STATE_STARTING},    {"REPAIRING", CF_STATE_STARTING},
	    {"RUNNING", CF_STATE_RUNNING},     {"STOPPING", CF_STATE_STOPPING},
	    {"SUSPENDING", CF_STATE_STOPPING}, {"TERMINATED", CF_STATE_STOPPED},
	    {"STOPPED", CF_STATE_STOPPED},     {"SUSPENDED", CF_STATE_SUSPENDED},
	};
	(void) kind; /* the words mean the same in every kind */
	if (!status)
		return CF_STATE_NONE;
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (!strcmp(status, words[i].word))
			return words[i].state;
	return CF_STATE_OTHER;
}
