/* aws_decode.c — EC2's Describe answers into the model (aws.h).
 *
 * Each item becomes a struct cf_resource keyed by its id: name = the id,
 * name_pref = the Name tag (an AMI: its name) when it is a usable entry name;
 * the store lists it under that name when it holds it (the oldest of
 * namesakes), else under its id. The Name tag is one of the labels too. Everything from the API is
 * checked before it is kept: ids by their shape, tags as text within EC2's
 * limits, sizes within CF_SIZE_MAX, times as RFC 3339. What cannot be
 * trusted is dropped with a log line: a bad tag alone, a bad item whole.
 *
 * Per kind (the EC2 API reference, 2016-11-15):
 *   snapshot  snapshotId, volumeId, status, startTime, volumeSize (GiB),
 *             fullSnapshotSizeInBytes (when the API gives it), tagSet
 *   AMI       imageId, name, imageState, creationDate, sourceInstanceId,
 *             blockDeviceMapping[].ebs.{snapshotId,volumeSize}, tagSet
 *   volume    volumeId, size (GiB), snapshotId, status, createTime,
 *             attachmentSet[].instanceId, tagSet
 *   instance  instanceId, imageId, instanceState.name, launchTime, the
 *             primary interface's (deviceIndex 0) attachment.attachTime,
 *             blockDeviceMapping[].ebs.volumeId, tagSet
 * mtime is startTime / creationDate / createTime / the primary interface's
 * attach time (launchTime is the last start, not the instance's birth). */
#include "aws.h"
#include "aws_xml.h"
#include "layout.h"
#include "log.h"
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cf_aws_xml_node xnode;

/* The next sibling after c with c's name, or NULL. */
static const xnode *next_same(const xnode *c)
{
	for (const xnode *s = c ? c->next : NULL; s; s = s->next)
		if (!strcmp(s->name, c->name))
			return s;
	return NULL;
}

/* A child's text, NULL when there is no such child or its text holds a NUL
 * (no field of EC2's does); *len its length. */
static const char *text_of(const xnode *n, const char *name, size_t *len)
{
	const xnode *c = cf_aws_xml_child(n, name);
	if (!c || !c->text || strlen(c->text) != c->text_len)
		return NULL;
	if (len)
		*len = c->text_len;
	return c->text;
}

/* Where a listing's items are: the answer's element, its set, and for
 * DescribeInstances the set inside each reservation. */
struct shape {
	const char *answer, *set, *inner;
	const char *id, *status, *word;
};

static const struct shape *shape_of(enum cf_kind k)
{
	static const struct shape snap = {
	    "DescribeSnapshotsResponse", "snapshotSet", NULL, "snapshotId", "status", "snapshot"};
	static const struct shape ami = {
	    "DescribeImagesResponse", "imagesSet", NULL, "imageId", "imageState", "AMI"};
	static const struct shape vol = {
	    "DescribeVolumesResponse", "volumeSet", NULL, "volumeId", "status", "volume"};
	static const struct shape inst = {"DescribeInstancesResponse",
					  "reservationSet",
					  "instancesSet",
					  "instanceId",
					  NULL,
					  "instance"};
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

/* A printable excerpt of untrusted text for a log line. */
static void excerpt(const char *s, size_t len, char *out, size_t size)
{
	size_t o = 0;
	for (size_t i = 0; s && i < len && o + 1 < size && i < 40; i++)
		out[o++] = s[i] >= 0x20 && s[i] < 0x7f && s[i] != '"' && s[i] != '\\' ? s[i] : '?';
	out[o] = '\0';
}

static void seterr(struct cf_error *err, const char *fmt, const char *a)
{
	memset(err, 0, sizeof *err);
	err->http_status = 200;
	snprintf(err->message, sizeof err->message, fmt, a);
	err->errnum = -EPROTO;
}

/* "volumes/ID" for an id of kind k, into a new string; NULL (not an error)
 * when s is not such an id. *oom on allocation failure. */
static char *path_of(enum cf_kind k, const char *s, size_t len, bool *oom)
{
	char buf[CF_PATH_MAX];
	if (!s || !cf_aws_id_of_kind(k, s, len) ||
	    cf_resource_path(k, cf_kind_home(k), s, buf, sizeof buf) < 0)
		return NULL;
	char *p = strdup(buf);
	if (!p)
		*oom = true;
	return p;
}

/* An unsigned decimal (no sign, no spaces) or false. */
static bool parse_u64(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	if (!s || !len || len > 20)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned) (s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

static uint64_t gib_bytes(uint64_t gib)
{
	return gib >= CF_SIZE_MAX >> 30 ? CF_SIZE_MAX : gib << 30;
}

static uint64_t cap_bytes(uint64_t b)
{
	return b > CF_SIZE_MAX ? CF_SIZE_MAX : b;
}

static bool set_time(struct cf_resource *r, const char *s)
{
	int64_t sec;
	uint32_t ns;
	if (!s || cf_time_parse(s, &sec, &ns))
		return false;
	r->created = sec;
	r->created_ns = ns;
	return true;
}

/* The tagSet into r->labels; a tag that is not text within EC2's limits is
 * left out (logged), as is one past CF_LABELS_MAX. */
static int decode_tags(const xnode *item, struct cf_resource *r, const char *id)
{
	const xnode *set = cf_aws_xml_child(item, "tagSet");
	size_t n = 0;
	for (const xnode *t = cf_aws_xml_child(set, "item"); t; t = next_same(t))
		n++;
	if (!n)
		return 0;
	if (n > CF_LABELS_MAX) {
		cf_warn("aws: %s: %zu tags, only the first %d are shown", id, n, CF_LABELS_MAX);
		n = CF_LABELS_MAX;
	}
	if (!(r->labels = calloc(n, sizeof *r->labels)))
		return -ENOMEM;
	for (const xnode *t = cf_aws_xml_child(set, "item"); t && r->nlabels < n;
	     t = next_same(t)) {
		size_t kl = 0, vl = 0;
		const char *k = text_of(t, "key", &kl), *v = text_of(t, "value", &vl);
		char ex[48];
		if (!v)
			v = "", vl = 0; /* a tag without a value is the empty value */
		if (!k || !cf_aws_tag_key_valid(k, kl) || !cf_aws_tag_value_valid(v, vl)) {
			excerpt(k, k ? kl : 0, ex, sizeof ex);
			cf_warn("aws: %s: tag \"%s\" is not text within EC2's limits, not shown",
				id, ex);
			continue;
		}
		bool dup = false;
		for (size_t i = 0; i < r->nlabels && !dup; i++)
			dup = !strcmp(r->labels[i].key, k);
		if (dup)
			continue;
		struct cf_label *l = &r->labels[r->nlabels];
		if (!(l->key = strdup(k)) || !(l->value = strdup(v))) {
			free(l->key);
			l->key = NULL;
			return -ENOMEM;
		}
		r->nlabels++;
	}
	return 0;
}

/* Append path to r->links unless it is there already or the list is full. */
static int add_link(struct cf_resource *r, char *path)
{
	for (size_t i = 0; i < r->nlinks; i++)
		if (!strcmp(r->links[i], path)) {
			free(path);
			return 0;
		}
	if (r->nlinks >= CF_LINKS_MAX) {
		free(path);
		return 0;
	}
	char **l = realloc(r->links, (r->nlinks + 1) * sizeof *l);
	if (!l) {
		free(path);
		return -ENOMEM;
	}
	r->links = l;
	r->links[r->nlinks++] = path;
	return 0;
}

static int decode_snapshot(const xnode *it, struct cf_resource *r, bool *oom)
{
	size_t l = 0;
	const char *s;
	uint64_t v;
	if ((s = text_of(it, "volumeId", &l)) && l) {
		r->source = path_of(CF_KIND_DISK, s, l, oom);
		if (cf_aws_id_of_kind(CF_KIND_DISK, s, l) && !(r->source_id = strdup(s)))
			*oom = true;
	}
	if (!set_time(r, text_of(it, "startTime", NULL)))
		return -EINVAL;
	if ((s = text_of(it, "volumeSize", &l)) && parse_u64(s, l, &v))
		r->size_bytes = gib_bytes(v);
	if ((s = text_of(it, "fullSnapshotSizeInBytes", &l)) && parse_u64(s, l, &v))
		r->stored_bytes = cap_bytes(v);
	return 0;
}

static int decode_image(const xnode *it, struct cf_resource *r, bool *oom)
{
	size_t l = 0;
	const char *s;
	uint64_t v, total = 0;
	if ((s = text_of(it, "sourceInstanceId", &l)) && l)
		r->source = path_of(CF_KIND_INSTANCE, s, l, oom);
	if (!set_time(r, text_of(it, "creationDate", NULL)))
		return -EINVAL;
	const xnode *bdm = cf_aws_xml_child(it, "blockDeviceMapping");
	for (const xnode *m = cf_aws_xml_child(bdm, "item"); m; m = next_same(m)) {
		const xnode *ebs = cf_aws_xml_child(m, "ebs");
		if ((s = text_of(ebs, "volumeSize", &l)) && parse_u64(s, l, &v) &&
		    v < CF_SIZE_MAX >> 30)
			total += v;
	}
	r->size_bytes = gib_bytes(total);
	return 0;
}

static int decode_volume(const xnode *it, struct cf_resource *r, bool *oom)
{
	size_t l = 0;
	const char *s;
	uint64_t v;
	if ((s = text_of(it, "snapshotId", &l)) && l)
		r->origin = path_of(CF_KIND_SNAPSHOT, s, l, oom);
	if (!set_time(r, text_of(it, "createTime", NULL)))
		return -EINVAL;
	if ((s = text_of(it, "size", &l)) && parse_u64(s, l, &v))
		r->size_bytes = gib_bytes(v);
	const xnode *set = cf_aws_xml_child(it, "attachmentSet");
	for (const xnode *a = cf_aws_xml_child(set, "item"); a && !*oom; a = next_same(a)) {
		char *p;
		if ((s = text_of(a, "instanceId", &l)) &&
		    (p = path_of(CF_KIND_INSTANCE, s, l, oom)) && add_link(r, p))
			*oom = true;
	}
	return 0;
}

static int decode_instance(const xnode *it, struct cf_resource *r, bool *oom)
{
	size_t l = 0;
	const char *s, *primary = NULL;
	const xnode *st = cf_aws_xml_child(it, "instanceState");
	if ((s = text_of(st, "name", &l)) && l && l < 32 && cf_name_is_safe(s, l) &&
	    !(r->status = strdup(s)))
		*oom = true;
	if ((s = text_of(it, "imageId", &l)) && l)
		r->origin = path_of(CF_KIND_MACHINE_IMAGE, s, l, oom);
	const xnode *enis = cf_aws_xml_child(it, "networkInterfaceSet");
	for (const xnode *e = cf_aws_xml_child(enis, "item"); e; e = next_same(e)) {
		const xnode *at = cf_aws_xml_child(e, "attachment");
		const char *idx = text_of(at, "deviceIndex", NULL);
		if (idx && !strcmp(idx, "0"))
			primary = text_of(at, "attachTime", NULL);
	}
	if (!set_time(r, primary) && !set_time(r, text_of(it, "launchTime", NULL)))
		return -EINVAL;
	const xnode *bdm = cf_aws_xml_child(it, "blockDeviceMapping");
	for (const xnode *m = cf_aws_xml_child(bdm, "item"); m && !*oom; m = next_same(m)) {
		char *p;
		if ((s = text_of(cf_aws_xml_child(m, "ebs"), "volumeId", &l)) &&
		    (p = path_of(CF_KIND_DISK, s, l, oom)) && add_link(r, p))
			*oom = true;
	}
	return 0;
}

/* One item. 0; -EINVAL with why (skip it); -ENOMEM. A terminated instance
 * is -ENOENT: gone on AWS, not listed. */
static int decode_item(const xnode *it, enum cf_kind k, struct cf_resource *r, char *why,
		       size_t why_size)
{
	const struct shape *sh = shape_of(k);
	size_t l = 0;
	bool oom = false;
	char ex[48];
	int rc;
	memset(r, 0, sizeof *r);
	r->kind = k;
	const char *id = text_of(it, sh->id, &l);
	if (!id || !cf_aws_id_of_kind(k, id, l)) {
		excerpt(id, id ? l : 0, ex, sizeof ex);
		snprintf(why, why_size, "%s id \"%s\" is not an EC2 %s id", sh->word, ex, sh->word);
		return -EINVAL;
	}
	if (!(r->id = strdup(id)) || !(r->name = strdup(id)) ||
	    !(r->scope = strdup(cf_kind_home(k) ? cf_kind_home(k) : "")))
		goto oom;
	if (sh->status) {
		const char *s = text_of(it, sh->status, &l);
		if (s && l && l < 32 && cf_name_is_safe(s, l) && !(r->status = strdup(s)))
			goto oom;
	}
	switch (k) {
	case CF_KIND_SNAPSHOT:
		rc = decode_snapshot(it, r, &oom);
		break;
	case CF_KIND_MACHINE_IMAGE:
		rc = decode_image(it, r, &oom);
		break;
	case CF_KIND_DISK:
		rc = decode_volume(it, r, &oom);
		break;
	default:
		rc = decode_instance(it, r, &oom);
		break;
	}
	if (oom)
		goto oom;
	if (rc) {
		snprintf(why, why_size, "%s %s has no usable creation time", sh->word, r->id);
		cf_resource_clear(r);
		return rc;
	}
	if (!r->status) {
		snprintf(why, why_size, "%s %s has no usable state", sh->word, r->id);
		cf_resource_clear(r);
		return -EINVAL;
	}
	if ((k == CF_KIND_INSTANCE && !strcmp(r->status, "terminated")) ||
	    (k == CF_KIND_MACHINE_IMAGE && !strcmp(r->status, "deregistered"))) {
		cf_resource_clear(r);
		return -ENOENT;
	}
	/* status speaks the engine's words (aws_names.c maps AWS's); AWS's own
	 * stays in the raw item (resource.json). A word without a mapping
	 * (a snapshot "recoverable", ...) is shown as AWS says it. */
	enum cf_state st = cf_aws_state(k, r->status);
	if (st != CF_STATE_OTHER && st != CF_STATE_NONE) {
		char word[16];
		const char *n = cf_state_name(st);
		size_t i;
		for (i = 0; n[i] && i + 1 < sizeof word; i++)
			word[i] = (char) toupper((unsigned char) n[i]);
		word[i] = 0;
		free(r->status);
		if (!(r->status = strdup(word)))
			goto oom;
	}
	if ((rc = decode_tags(it, r, r->id)))
		goto oom;
	/* the entry name the store prefers: an AMI's name, else the Name tag,
	 * when it is usable (aws_names.c); the store settles collisions */
	const char *pref = NULL;
	if (k == CF_KIND_MACHINE_IMAGE) {
		pref = text_of(it, "name", NULL);
	} else {
		for (size_t i = 0; i < r->nlabels && !pref; i++)
			if (!strcmp(r->labels[i].key, "Name"))
				pref = r->labels[i].value;
	}
	if (pref && cf_aws_name_usable(pref, strlen(pref)) && !(r->name_pref = strdup(pref)))
		goto oom;
	if (k == CF_KIND_MACHINE_IMAGE && !r->source) {
		/* an older answer without sourceInstanceId: the tag clonefs set */
		for (size_t i = 0; i < r->nlabels && !r->source && !oom; i++)
			if (!strcmp(r->labels[i].key, CF_AWS_SOURCE_TAG))
				r->source = path_of(CF_KIND_INSTANCE, r->labels[i].value,
						    strlen(r->labels[i].value), &oom);
		if (oom)
			goto oom;
	}
	if (!(r->raw = cf_aws_xml_json(it, CF_RAW_MAX, &r->raw_len))) {
		snprintf(why, why_size, "%s %s: its document is larger than %d bytes", sh->word,
			 r->id, CF_RAW_MAX);
		cf_resource_clear(r);
		return -EINVAL; /* (or out of memory: either way not kept) */
	}
	return 0;
oom:
	cf_resource_clear(r);
	snprintf(why, why_size, "out of memory");
	return -ENOMEM;
}

static int push(struct cf_page *out, size_t *cap, struct cf_resource *r)
{
	if (out->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct cf_resource *p = realloc(out->items, nc * sizeof *p);
		if (!p)
			return -ENOMEM;
		out->items = p;
		*cap = nc;
	}
	out->items[out->n++] = *r;
	return 0;
}

static int on_item(void *ctx, const xnode *it)
{
	struct cf_aws_page_reader *pr = ctx;
	struct cf_resource r;
	char why[256];
	int rc = decode_item(it, pr->kind, &r, why, sizeof why);
	if (rc == -ENOMEM)
		return rc;
	if (rc == -ENOENT)
		return 0;
	if (rc) {
		pr->out->skipped++;
		cf_warn("aws: skipped: %s", why);
		return 0;
	}
	if (push(pr->out, &pr->cap, &r)) {
		cf_resource_clear(&r);
		return -ENOMEM;
	}
	return 0;
}

static int on_text(void *ctx, const char *path, const char *text, size_t len)
{
	struct cf_aws_page_reader *pr = ctx;
	if (strcmp(path, "nextToken") || !len)
		return 0;
	/* It goes back in a form body, escaped; anything but printable ASCII of
	 * a sane length is not a token. */
	bool ok = len <= 4096 && !pr->token;
	for (size_t i = 0; ok && i < len; i++)
		ok = text[i] > 0x20 && text[i] < 0x7f;
	if (!ok) {
		pr->token_bad = true;
		return 0;
	}
	return (pr->token = strndup(text, len)) ? 0 : -ENOMEM;
}

int cf_aws_page_reader_init(struct cf_aws_page_reader *pr, enum cf_kind kind, struct cf_page *out)
{
	const struct shape *sh = shape_of(kind);
	memset(pr, 0, sizeof *pr);
	memset(out, 0, sizeof *out);
	if (!sh)
		return -EINVAL;
	pr->kind = kind;
	pr->out = out;
	snprintf(pr->path, sizeof pr->path, "%s/item%s%s%s", sh->set, sh->inner ? "/" : "",
		 sh->inner ? sh->inner : "", sh->inner ? "/item" : "");
	pr->h = (struct cf_aws_xml_handler){.item_path = pr->path,
					    .item = on_item,
					    .text = on_text,
					    .ctx = pr,
					    .root = pr->root,
					    .root_size = sizeof pr->root};
	return 0;
}

int cf_aws_page_reader_end(struct cf_aws_page_reader *pr, int rc, const char *why,
			   struct cf_error *err)
{
	const struct shape *sh = shape_of(pr->kind);
	struct cf_page *out = pr->out;
	if (rc == -ENOMEM) {
		seterr(err, "%s", "out of memory");
	} else if (rc) {
		if (why)
			seterr(err, "the answer is unusable: %s", why);
		rc = -EPROTO;
	} else if (strcmp(pr->root, sh->answer)) {
		char ex[48];
		excerpt(pr->root, strlen(pr->root), ex, sizeof ex);
		seterr(err, "the answer is a <%s>", ex);
		rc = -EPROTO;
	} else if (pr->token_bad) {
		seterr(err, "%s", "the answer's nextToken is unusable");
		rc = -EPROTO;
	}
	if (rc) {
		free(pr->token);
		pr->token = NULL;
		cf_page_clear(out);
		return rc;
	}
	out->next_token = pr->token;
	pr->token = NULL;
	return 0;
}

int cf_aws_decode_page(const char *body, size_t len, enum cf_kind kind, struct cf_page *out,
		       struct cf_error *err)
{
	struct cf_error scratch;
	struct cf_aws_page_reader pr;
	char why[200] = "";
	if (!err)
		err = &scratch;
	if (cf_aws_page_reader_init(&pr, kind, out)) {
		seterr(err, "%s", "no such listing");
		return -EINVAL;
	}
	int rc = cf_aws_xml_parse(body, len, NULL, &pr.h, why, sizeof why);
	return cf_aws_page_reader_end(&pr, rc, why, err);
}

static int on_image(void *ctx, const xnode *it)
{
	struct cf_aws_image_reader *sc = ctx;
	const char *id = text_of(it, "imageId", NULL);
	if (!id || strcmp(id, sc->image_id) || sc->found)
		return 0;
	sc->found = true;
	const xnode *bdm = cf_aws_xml_child(it, "blockDeviceMapping");
	for (const xnode *m = cf_aws_xml_child(bdm, "item"); m; m = next_same(m)) {
		size_t l = 0;
		const char *s = text_of(cf_aws_xml_child(m, "ebs"), "snapshotId", &l);
		if (!s || !cf_aws_id_of_kind(CF_KIND_SNAPSHOT, s, l) || *sc->n >= sc->max)
			continue;
		bool dup = false;
		for (size_t i = 0; i < *sc->n && !dup; i++)
			dup = !strcmp(sc->ids[i], s);
		if (!dup)
			memcpy(sc->ids[(*sc->n)++], s, l + 1);
	}
	return 0;
}

void cf_aws_image_reader_init(struct cf_aws_image_reader *ir, const char *image_id, char ids[][32],
			      size_t max, size_t *n)
{
	*ir = (struct cf_aws_image_reader){.image_id = image_id, .ids = ids, .max = max, .n = n};
	ir->h =
	    (struct cf_aws_xml_handler){.item_path = "imagesSet/item", .item = on_image, .ctx = ir};
	*n = 0;
}

int cf_aws_image_snapshots(const char *body, size_t len, const char *image_id, char ids[][32],
			   size_t max, size_t *n)
{
	struct cf_aws_image_reader ir;
	char why[200];
	cf_aws_image_reader_init(&ir, image_id, ids, max, n);
	int rc = cf_aws_xml_parse(body, len, NULL, &ir.h, why, sizeof why);
	if (rc)
		return rc == -ENOMEM ? rc : -EPROTO;
	return ir.found ? 0 : -ENOENT;
}
