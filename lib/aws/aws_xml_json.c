/* aws_xml_json.c — an item's XML tree (aws_xml.h) as compact JSON, for a
 * resource's raw document (resource.json is JSON on every provider).
 *
 * Written straight into one buffer: building jansson objects for each item
 * and dumping them was a third of a first sync's instructions (100,000
 * snapshots). The bytes are jansson's json_dumps(JSON_COMPACT |
 * JSON_ENSURE_ASCII) of the tree the decoder used to build, so documents
 * stored before are unchanged: the same escapes (\uXXXX upper-case, UTF-16
 * pairs past the BMP), the same UTF-8 refusals, and a name repeated among
 * an object's members keeps its first place with its last value
 * (json_object_set_new replaces in place). test_aws_xml compares the two. */
#include "aws_xml.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct out {
	char *p;
	size_t len, cap, max;
	bool fail;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->fail)
		return;
	if (n > o->max - o->len) {
		o->fail = true; /* longer than max: refused, and never grown past it */
		return;
	}
	if (o->len + n + 1 > o->cap) {
		size_t c = o->cap ? o->cap : 512;
		while (c < o->len + n + 1)
			c *= 2;
		char *p = realloc(o->p, c);
		if (!p) {
			o->fail = true;
			return;
		}
		o->p = p;
		o->cap = c;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
}

/* One code point of valid UTF-8 at s[0..n) (jansson's utf8_check_full:
 * no overlong forms, no surrogates, nothing past U+10FFFF): its length, or
 * 0 when invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned c = s[0];
	size_t len;
	uint32_t v;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, v = c & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff) || (len == 3 && v < 0x800) ||
	    (len == 4 && v < 0x10000))
		return 0;
	*cp = v;
	return len;
}

static void put_u(struct out *o, uint32_t u)
{
	static const char hex[] = "0123456789ABCDEF";
	char b[6] = {'\\', 'u', hex[u >> 12 & 15], hex[u >> 8 & 15], hex[u >> 4 & 15], hex[u & 15]};
	put(o, b, 6);
}

static void put_string(struct out *o, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *) str;
	size_t i = 0, start = 0; /* plain bytes from start, not yet written */
	put(o, "\"", 1);
	while (i < n && !o->fail) {
		unsigned c = s[i];
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			i++;
			continue;
		}
		put(o, str + start, i - start);
		uint32_t cp;
		size_t l = utf8_next(s + i, n - i, &cp);
		if (!l) {
			o->fail = true;
			return;
		}
		const char *esc = NULL;
		switch (cp) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\b':
			esc = "\\b";
			break;
		case '\f':
			esc = "\\f";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		}
		if (esc) {
			put(o, esc, 2);
		} else if (cp < 0x10000) {
			put_u(o, cp);
		} else {
			cp -= 0x10000;
			put_u(o, 0xd800 | (cp >> 10));
			put_u(o, 0xdc00 | (cp & 0x3ff));
		}
		i += l;
		start = i;
	}
	put(o, str + start, n - start);
	put(o, "\"", 1);
}

static void put_node(struct out *o, const struct cf_aws_xml_node *n);

/* Members of an object, for the names repeated among them. */
struct member {
	const struct cf_aws_xml_node *node;
	size_t index;
};

static int by_name(const void *a, const void *b)
{
	const struct member *x = a, *y = b;
	int c = strcmp(x->node->name, y->node->name);
	return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The object's members, each name once at its first place with its last
 * value. Few members (EC2's items): a scan; many (a hostile answer: up to
 * the item's node bound): sorted, so it stays O(n log n). */
static void put_object(struct out *o, const struct cf_aws_xml_node *n, size_t count)
{
	enum { SCAN_MAX = 16 };
	struct member *m = NULL;
	const struct cf_aws_xml_node **value =
	    NULL; /* by index: the value to write there, or NULL */
	if (count > SCAN_MAX) {
		m = malloc(count * sizeof *m);
		value = calloc(count, sizeof *value);
		if (!m || !value) {
			free(m);
			free(value);
			o->fail = true;
			return;
		}
		size_t i = 0;
		for (const struct cf_aws_xml_node *c = n->child; c; c = c->next, i++)
			m[i] = (struct member){c, i};
		qsort(m, count, sizeof *m, by_name);
		for (size_t a = 0, b; a < count; a = b) {
			for (b = a + 1; b < count && !strcmp(m[a].node->name, m[b].node->name); b++)
				;
			value[m[a].index] = m[b - 1].node;
		}
	}
	bool first = true;
	size_t i = 0;
	put(o, "{", 1);
	for (const struct cf_aws_xml_node *c = n->child; c && !o->fail; c = c->next, i++) {
		const struct cf_aws_xml_node *v = c;
		if (value) {
			if (!(v = value[i]))
				continue;
		} else {
			bool seen = false;
			for (const struct cf_aws_xml_node *p = n->child; p != c && !seen;
			     p = p->next)
				seen = !strcmp(p->name, c->name);
			if (seen)
				continue;
			for (const struct cf_aws_xml_node *l = c->next; l; l = l->next)
				if (!strcmp(l->name, c->name))
					v = l;
		}
		if (!first)
			put(o, ",", 1);
		first = false;
		put_string(o, c->name, strlen(c->name));
		put(o, ":", 1);
		put_node(o, v);
	}
	put(o, "}", 1);
	free(m);
	free(value);
}

/* Depth is bounded by the reader's (aws_xml.h max_depth). */
static void put_node(struct out *o, const struct cf_aws_xml_node *n)
{
	if (o->fail)
		return;
	if (!n->child) {
		if (!n->text) {
			o->fail = true;
			return;
		}
		put_string(o, n->text, n->text_len);
		return;
	}
	bool items = true;
	size_t count = 0;
	for (const struct cf_aws_xml_node *c = n->child; c; c = c->next, count++)
		items = items && !strcmp(c->name, "item");
	if (!items) {
		put_object(o, n, count);
		return;
	}
	put(o, "[", 1);
	for (const struct cf_aws_xml_node *c = n->child; c && !o->fail; c = c->next) {
		if (c != n->child)
			put(o, ",", 1);
		put_node(o, c);
	}
	put(o, "]", 1);
}

char *cf_aws_xml_json(const struct cf_aws_xml_node *n, size_t max, size_t *len)
{
	struct out o = {.max = max};
	if (!n)
		return NULL;
	put_node(&o, n);
	if (o.fail || !o.p) {
		free(o.p);
		return NULL;
	}
	o.p[o.len] = '\0';
	if (len)
		*len = o.len;
	return o.p;
}
