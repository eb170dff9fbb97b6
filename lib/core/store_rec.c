/* store_rec.c — the resource record codec: a cf_resource to the bytes of its
 * record in table res and back. Pure functions, no LMDB (store_rec.h). */
#include "store_rec.h"
#include "hash.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

enum { REC_VERSION = 4, MAX_STR = CF_PATH_MAX };

struct rd {
	const unsigned char *p, *end;
	bool bad;
};

static const unsigned char *rd_take(struct rd *r, size_t n)
{
	if (r->bad || (size_t) (r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	const unsigned char *p = r->p;
	r->p += n;
	return p;
}

#define RD_NUM(name, type)                                                                         \
	static type name(struct rd *r)                                                             \
	{                                                                                          \
		type v = 0;                                                                        \
		const unsigned char *p = rd_take(r, sizeof v);                                     \
		if (p)                                                                             \
			memcpy(&v, p, sizeof v);                                                   \
		return v;                                                                          \
	}
RD_NUM(rd_u8, uint8_t)
RD_NUM(rd_u16, uint16_t)
RD_NUM(rd_u32, uint32_t)
RD_NUM(rd_u64, uint64_t)
RD_NUM(rd_i64, int64_t)

/* The length field of a string stored as a number (a u64 follows). */
#define NUM_STR 0x8008

/* A string; with isnum, one stored as a number sets *isnum and *v and reads
 * as empty. */
static struct sv rd_str(struct rd *r, bool *isnum, uint64_t *v)
{
	struct sv s = {NULL, rd_u16(r)};
	if (s.n == NUM_STR && isnum) {
		*v = rd_u64(r);
		*isnum = true;
		s.n = 0;
		return s;
	}
	s.p = (const char *) rd_take(r, s.n);
	if (!s.p)
		s.n = 0;
	return s;
}

int store_rec_decode(const void *data, size_t size, struct rec *out)
{
	struct rd r = {data, (const unsigned char *) data + size, false};
	memset(out, 0, sizeof *out);
	if (rd_u8(&r) != REC_VERSION)
		goto bad;
	out->kind = rd_u8(&r);
	out->created = rd_i64(&r);
	out->created_ns = rd_u32(&r);
	out->size = rd_u64(&r);
	out->stored = rd_u64(&r);
	out->raw_hash = rd_u64(&r);
	out->doc_ref = rd_u64(&r);
	out->doc_len = rd_u32(&r);
	struct sv *strs[] = {&out->scope,     &out->name,	 &out->id,
			     &out->status,    &out->fingerprint, &out->source,
			     &out->source_id, &out->origin,	 &out->name_pref};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
		int num = strs[i] == &out->id ? 0 : strs[i] == &out->source_id ? 1 : -1;
		*strs[i] = num < 0 ? rd_str(&r, NULL, NULL)
				   : rd_str(&r, &out->isnum[num], &out->numv[num]);
	}
	out->nlinks = rd_u16(&r);
	out->links = r.p;
	for (unsigned i = 0; i < out->nlinks && !r.bad; i++)
		rd_str(&r, NULL, NULL);
	out->nlabels = rd_u16(&r);
	out->labels.n = rd_u32(&r);
	out->labels.p = (const char *) rd_take(&r, out->labels.n);
	if (r.bad || r.p != r.end || out->nlinks > CF_LINKS_MAX || out->nlabels > CF_LABELS_MAX ||
	    (!out->raw_hash && out->doc_len) || out->doc_len > CF_RAW_MAX)
		goto bad;
	size_t nul = 0;
	for (size_t i = 0; i < out->labels.n; i++)
		nul += out->labels.p[i] == '\0';
	if (nul != 2 * (size_t) out->nlabels ||
	    (out->labels.n && out->labels.p[out->labels.n - 1] != '\0'))
		goto bad;
	return 0;
bad:
	cf_err("store: a resource record of %zu bytes is damaged", size);
	return -EIO;
}

_Static_assert(MAX_STR < NUM_STR, "a string's length is never NUM_STR");

/* Whether s is a decimal number that formats back to itself (no sign, no
 * leading zero), and its value. */
static bool canonical_u64(const char *s, uint64_t *v)
{
	size_t n = s ? strlen(s) : 0;
	if (!n || n > 20 || (s[0] == '0' && n > 1))
		return false;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		unsigned d = (unsigned) (s[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

/* A string (with num, as a number when it is one). */
static int put_str(struct buf *b, const char *s, bool num)
{
	size_t n = s ? strlen(s) : 0;
	uint16_t n16 = (uint16_t) n;
	uint64_t v;
	if (n > MAX_STR)
		return -EINVAL;
	if (num && canonical_u64(s, &v)) {
		n16 = NUM_STR;
		return buf_add(b, &n16, 2) || buf_add(b, &v, 8) ? -ENOMEM : 0;
	}
	if (buf_add(b, &n16, 2) || buf_add(b, s, n))
		return -ENOMEM;
	return 0;
}

static int cmp_str(const char *a, const char *b)
{
	return strcmp(a ? a : "", b ? b : "");
}

static const char *link_name(const char *link)
{
	const char *slash = strrchr(link, '/');
	return slash ? slash + 1 : link;
}

int store_rec_encode(struct buf *b, const struct cf_resource *r, const char *protect_key,
		     unsigned *nlinks, bool *protect)
{
	unsigned lab[CF_LABELS_MAX], lnk[CF_LINKS_MAX];
	size_t nlab = 0, nlnk = 0;
	int rc;

	b->len = 0;
	if (r->nlabels > CF_LABELS_MAX || r->nlinks > CF_LINKS_MAX)
		return -EINVAL;
	/* Insertion sorts: at most 64 labels and 128 links. */
	for (size_t i = 0; i < r->nlabels; i++) {
		if (!r->labels[i].key || !*r->labels[i].key)
			continue;
		size_t j = nlab;
		while (j > 0 && cmp_str(r->labels[lab[j - 1]].key, r->labels[i].key) > 0) {
			lab[j] = lab[j - 1];
			j--;
		}
		if (j > 0 && !cmp_str(r->labels[lab[j - 1]].key, r->labels[i].key)) {
			memmove(lab + j, lab + j + 1, (nlab - j) * sizeof *lab);
			continue; /* duplicate key: the first one wins */
		}
		lab[j] = (unsigned) i;
		nlab++;
	}
	for (size_t i = 0; i < r->nlinks; i++) {
		if (!r->links[i] || !*r->links[i])
			continue;
		const char *ni = link_name(r->links[i]);
		size_t j = nlnk;
		while (j > 0 && strcmp(link_name(r->links[lnk[j - 1]]), ni) > 0) {
			lnk[j] = lnk[j - 1];
			j--;
		}
		if (j > 0 && !strcmp(link_name(r->links[lnk[j - 1]]), ni)) {
			memmove(lnk + j, lnk + j + 1, (nlnk - j) * sizeof *lnk);
			continue; /* two disks of one name: one entry */
		}
		lnk[j] = (unsigned) i;
		nlnk++;
	}

	uint8_t ver = REC_VERSION, kind = (uint8_t) r->kind;
	/* The document's hash makes an equal record mean an equal document: a
	 * resync compares records only and never reads resource.json back. */
	uint64_t raw_hash = r->raw && r->raw_len ? cf_hash64(r->raw, r->raw_len) | 1 : 0;
	uint64_t doc_ref = 0; /* set by the caller, at REC_DOC_REF */
	uint32_t doc_len = raw_hash ? (uint32_t) r->raw_len : 0;
	if (buf_add(b, &ver, 1) || buf_add(b, &kind, 1) || buf_add(b, &r->created, 8) ||
	    buf_add(b, &r->created_ns, 4) || buf_add(b, &r->size_bytes, 8) ||
	    buf_add(b, &r->stored_bytes, 8) || buf_add(b, &raw_hash, 8) ||
	    buf_add(b, &doc_ref, 8) || buf_add(b, &doc_len, 4))
		return -ENOMEM;
	const char *strs[] = {r->scope,	 r->name,      r->id,	  r->status,   r->fingerprint,
			      r->source, r->source_id, r->origin, r->name_pref};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++)
		if ((rc = put_str(b, strs[i], i == 2 || i == 6))) /* id, source_id */
			return rc;
	uint16_t n16 = (uint16_t) nlnk;
	if (buf_add(b, &n16, 2))
		return -ENOMEM;
	for (size_t i = 0; i < nlnk; i++)
		if ((rc = put_str(b, r->links[lnk[i]], false)))
			return rc;
	n16 = (uint16_t) nlab;
	size_t at = b->len + 2;
	uint32_t blen = 0;
	if (buf_add(b, &n16, 2) || buf_add(b, &blen, 4))
		return -ENOMEM;
	*protect = false;
	for (size_t i = 0; i < nlab; i++) {
		const struct cf_label *l = &r->labels[lab[i]];
		const char *v = l->value ? l->value : "";
		if (strlen(l->key) > MAX_STR || strlen(v) > MAX_STR)
			return -EINVAL;
		if (buf_add(b, l->key, strlen(l->key) + 1) || buf_add(b, v, strlen(v) + 1))
			return -ENOMEM;
		if (!strcmp(l->key, protect_key))
			*protect = true;
	}
	blen = (uint32_t) (b->len - at - 4);
	memcpy(b->p + at, &blen, 4);
	*nlinks = (unsigned) nlnk;
	return 0;
}

static char *sv_dup(struct sv s)
{
	return s.n ? strndup(s.p, s.n) : NULL;
}

/* Field i (0 id, 1 source_id) of c as a string: formatted into num when it
 * was stored as a number. */
static struct sv rec_num(const struct rec *c, int i, struct sv s, char num[24])
{
	if (!c->isnum[i])
		return s;
	int n = snprintf(num, 24, "%" PRIu64, c->numv[i]);
	return (struct sv){num, n > 0 ? (size_t) n : 0};
}

struct sv store_rec_id(const struct rec *c, char num[24])
{
	return rec_num(c, 0, c->id, num);
}

int store_rec_to_resource(const struct rec *c, struct cf_resource *out)
{
	char num[2][24];
	memset(out, 0, sizeof *out);
	out->kind = (enum cf_kind) c->kind;
	out->created = c->created;
	out->created_ns = c->created_ns;
	out->size_bytes = c->size;
	out->stored_bytes = c->stored;
	struct {
		char **dst;
		struct sv src;
	} strs[] = {{&out->scope, c->scope},
		    {&out->name, c->name},
		    {&out->id, rec_num(c, 0, c->id, num[0])},
		    {&out->status, c->status},
		    {&out->fingerprint, c->fingerprint},
		    {&out->source, c->source},
		    {&out->source_id, rec_num(c, 1, c->source_id, num[1])},
		    {&out->origin, c->origin},
		    {&out->name_pref, c->name_pref}};
	for (size_t i = 0; i < sizeof strs / sizeof *strs; i++) {
		*strs[i].dst = sv_dup(strs[i].src);
		if (strs[i].src.n && !*strs[i].dst)
			goto nomem;
	}
	/* Every resource has a scope: an empty one is the root scope (""). */
	if (!out->scope && !(out->scope = strdup("")))
		goto nomem;
	if (c->nlinks) {
		out->links = calloc(c->nlinks, sizeof *out->links);
		if (!out->links)
			goto nomem;
		const unsigned char *p = c->links;
		for (unsigned i = 0; i < c->nlinks; i++) {
			struct sv l = link_next(&p);
			out->links[i] = strndup(l.p, l.n);
			if (!out->links[i])
				goto nomem;
			out->nlinks++;
		}
	}
	if (c->nlabels) {
		out->labels = calloc(c->nlabels, sizeof *out->labels);
		if (!out->labels)
			goto nomem;
		const char *p = c->labels.p;
		for (unsigned i = 0; i < c->nlabels; i++) {
			struct cf_label *l = &out->labels[i];
			l->key = strdup(p);
			p += strlen(p) + 1;
			l->value = strdup(p);
			p += strlen(p) + 1;
			out->nlabels++;
			if (!l->key || !l->value)
				goto nomem;
		}
	}
	return 0;
nomem:
	cf_resource_clear(out);
	return -ENOMEM;
}

bool store_blob_has_key(struct sv labels, unsigned n, const char *key)
{
	const char *p = labels.p, *end = labels.p + labels.n;
	for (unsigned i = 0; p && i < n && p < end; i++) {
		size_t kl = strnlen(p, (size_t) (end - p));
		if (p + kl >= end)
			break;
		if (!strcmp(p, key))
			return true;
		p += kl + 1;
		p += strnlen(p, (size_t) (end - p)) + 1;
	}
	return false;
}
