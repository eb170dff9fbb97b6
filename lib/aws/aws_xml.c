/* aws_xml.c — the bounded streaming XML reader (aws_xml.h) on expat.
 *
 * One pass, no document tree: a stack of the open elements' path and text,
 * and, while inside an item, that item's nodes in two arenas (nodes, chars)
 * addressed by index so that growing them moves nothing a pointer holds; the
 * pointers of the public tree are set once the item is closed. The arenas
 * are reused from item to item, so a page costs a few allocations. */
#include "aws_xml.h"

#include <errno.h>
#include <expat.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { NONE = UINT32_MAX };

struct bnode {
	uint32_t name, text; /* offsets into chars */
	uint32_t parent, child, last, next;
	size_t text_len;
};

struct st {
	XML_Parser p;
	const struct cf_aws_xml_handler *h;
	struct cf_aws_xml_limits lim;
	int rc;
	char *why;
	size_t why_size;
	unsigned depth; /* the root is 1 */
	size_t elements;
	char *path; /* below the root, NUL-terminated */
	size_t path_len, path_cap;
	size_t *path_mark, *text_mark; /* per depth: lengths before the element */
	char *text;		       /* the open elements' text, one after another */
	size_t text_len, text_cap;
	size_t item_path_len;
	unsigned item_depth; /* 0: not inside an item */
	struct bnode *nodes;
	size_t nn, ncap;
	char *chars;
	size_t nc, ccap;
	uint32_t cur;
	struct cf_aws_xml_node *out;
	size_t outcap;
};

static void fail(struct st *s, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(struct st *s, int rc, const char *fmt, ...)
{
	if (s->rc)
		return;
	s->rc = rc;
	if (s->why && s->why_size) {
		char msg[160];
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(msg, sizeof msg, fmt, ap);
		va_end(ap);
		snprintf(s->why, s->why_size, "%s (line %lu)", msg,
			 (unsigned long) XML_GetCurrentLineNumber(s->p));
	}
	XML_StopParser(s->p, XML_FALSE);
}

/* Room for need more bytes (plus a NUL) in *buf. */
static bool grow(char **buf, size_t *cap, size_t len, size_t need)
{
	if (len + need + 1 <= *cap)
		return true;
	if (need > SIZE_MAX / 4 - len)
		return false;
	size_t c = *cap ? *cap : 256;
	while (c < len + need + 1)
		c *= 2;
	char *b = realloc(*buf, c);
	if (!b)
		return false;
	*buf = b;
	*cap = c;
	return true;
}

/* A copy of n bytes into the item's chars, NUL-terminated: its offset. */
static bool arena_str(struct st *s, const char *p, size_t n, uint32_t *off)
{
	if (s->nc + n + 1 > UINT32_MAX || !grow(&s->chars, &s->ccap, s->nc, n))
		return false;
	memcpy(s->chars + s->nc, p, n);
	s->chars[s->nc + n] = '\0';
	*off = (uint32_t) s->nc;
	s->nc += n + 1;
	return true;
}

static bool add_node(struct st *s, const char *name)
{
	if (s->nn >= s->lim.max_item_nodes) {
		fail(s, -E2BIG, "an item of more than %zu elements", s->lim.max_item_nodes);
		return false;
	}
	if (s->nn == s->ncap) {
		size_t c = s->ncap ? s->ncap * 2 : 64;
		struct bnode *n = realloc(s->nodes, c * sizeof *n);
		if (!n)
			goto oom;
		s->nodes = n;
		s->ncap = c;
	}
	struct bnode *b = &s->nodes[s->nn];
	*b = (struct bnode){
	    .parent = s->nn ? s->cur : NONE, .child = NONE, .last = NONE, .next = NONE};
	if (!arena_str(s, name, strlen(name), &b->name))
		goto oom;
	if (s->nn) {
		struct bnode *p = &s->nodes[s->cur];
		if (p->last == NONE)
			p->child = (uint32_t) s->nn;
		else
			s->nodes[p->last].next = (uint32_t) s->nn;
		p->last = (uint32_t) s->nn;
	}
	s->cur = (uint32_t) s->nn++;
	return true;
oom:
	fail(s, -ENOMEM, "out of memory");
	return false;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
	struct st *s = ud;
	(void) attrs;
	if (s->rc)
		return;
	if (++s->elements > s->lim.max_elements) {
		fail(s, -E2BIG, "more than %zu elements", s->lim.max_elements);
		return;
	}
	if (s->depth + 1 > s->lim.max_depth) {
		fail(s, -E2BIG, "elements nested deeper than %u", s->lim.max_depth);
		return;
	}
	unsigned d = ++s->depth;
	size_t nl = strlen(name);
	s->path_mark[d] = s->path_len;
	s->text_mark[d] = s->text_len;
	if (d == 1) {
		if (s->h->root && s->h->root_size)
			snprintf(s->h->root, s->h->root_size, "%s", name);
	} else {
		if (!grow(&s->path, &s->path_cap, s->path_len, nl + 1)) {
			fail(s, -ENOMEM, "out of memory");
			return;
		}
		if (s->path_len)
			s->path[s->path_len++] = '/';
		memcpy(s->path + s->path_len, name, nl + 1);
		s->path_len += nl;
	}
	if (s->item_depth) {
		add_node(s, name);
	} else if (s->h->item_path && s->path_len == s->item_path_len &&
		   !memcmp(s->path, s->h->item_path, s->path_len) && d > 1) {
		s->item_depth = d;
		s->nn = s->nc = 0;
		add_node(s, name);
	}
}

static void XMLCALL on_chars(void *ud, const XML_Char *t, int len)
{
	struct st *s = ud;
	if (s->rc || len <= 0 || !s->depth)
		return;
	if (s->text_len - s->text_mark[s->depth] + (size_t) len > s->lim.max_text) {
		fail(s, -E2BIG, "an element's text longer than %zu bytes", s->lim.max_text);
		return;
	}
	if (!grow(&s->text, &s->text_cap, s->text_len, (size_t) len)) {
		fail(s, -ENOMEM, "out of memory");
		return;
	}
	memcpy(s->text + s->text_len, t, (size_t) len);
	s->text_len += (size_t) len;
}

/* The item's tree with pointers, for its callback. */
static int hand_item(struct st *s)
{
	if (s->outcap < s->nn) {
		free(s->out);
		s->out = malloc(s->nn * sizeof *s->out);
		s->outcap = s->out ? s->nn : 0;
		if (!s->out)
			return -ENOMEM;
	}
	for (size_t i = 0; i < s->nn; i++) {
		const struct bnode *b = &s->nodes[i];
		s->out[i] = (struct cf_aws_xml_node){
		    .name = s->chars + b->name,
		    .text = s->chars + b->text,
		    .text_len = b->text_len,
		    .parent = b->parent == NONE ? NULL : &s->out[b->parent],
		    .child = b->child == NONE ? NULL : &s->out[b->child],
		    .next = b->next == NONE ? NULL : &s->out[b->next]};
	}
	return s->h->item(s->h->ctx, &s->out[0]);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
	struct st *s = ud;
	(void) name;
	if (s->rc || !s->depth)
		return;
	unsigned d = s->depth;
	const char *t = s->text + s->text_mark[d];
	size_t tl = s->text_len - s->text_mark[d];
	int rc = 0;
	if (!grow(&s->text, &s->text_cap, s->text_len, 0)) {
		fail(s, -ENOMEM, "out of memory");
		return;
	}
	t = s->text + s->text_mark[d];
	s->text[s->text_len] = '\0';
	if (s->item_depth) {
		struct bnode *b = &s->nodes[s->cur];
		if (!arena_str(s, t, tl, &b->text)) {
			fail(s, -ENOMEM, "out of memory");
			return;
		}
		b = &s->nodes[s->cur];
		b->text_len = tl;
		s->cur = b->parent;
		if (d == s->item_depth) {
			s->item_depth = 0;
			rc = s->h->item ? hand_item(s) : 0;
		}
	} else if (s->h->text) {
		rc = s->h->text(s->h->ctx, s->path ? s->path : "", t, tl);
	}
	if (rc) {
		s->rc = rc;
		XML_StopParser(s->p, XML_FALSE);
		return;
	}
	s->text_len = s->text_mark[d];
	s->path_len = s->path_mark[d];
	if (s->path)
		s->path[s->path_len] = '\0';
	s->depth--;
}

/* No DTD: no entity can be declared, hence none expanded. */
static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
			       const XML_Char *pubid, int has_internal_subset)
{
	(void) name;
	(void) sysid;
	(void) pubid;
	(void) has_internal_subset;
	fail(ud, -EINVAL, "a document with a DOCTYPE is refused (no DTD, no entities)");
}

static void XMLCALL on_entity(void *ud, const XML_Char *name, int pe, const XML_Char *value, int vl,
			      const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
			      const XML_Char *notation)
{
	(void) name, (void) pe, (void) value, (void) vl, (void) base, (void) sysid, (void) pubid,
	    (void) notation;
	fail(ud, -EINVAL, "an entity declaration is refused");
}

int cf_aws_xml_parse(const char *doc, size_t len, const struct cf_aws_xml_limits *lim,
		     const struct cf_aws_xml_handler *h, char *why, size_t why_size)
{
	struct st s = {.h = h, .why = why, .why_size = why_size};
	if (why && why_size)
		why[0] = '\0';
	if (h->root && h->root_size)
		h->root[0] = '\0';
	if (lim)
		s.lim = *lim;
	if (!s.lim.max_depth)
		s.lim.max_depth = 32;
	if (!s.lim.max_text)
		s.lim.max_text = 256 << 10;
	if (!s.lim.max_elements)
		s.lim.max_elements = 4000000;
	if (!s.lim.max_item_nodes)
		s.lim.max_item_nodes = 4096;
	if (s.lim.max_item_nodes > UINT32_MAX - 1)
		s.lim.max_item_nodes = UINT32_MAX - 1;
	if (!doc || !len || len > (size_t) INT32_MAX) {
		if (why && why_size)
			snprintf(why, why_size, !doc || !len ? "an empty document" : "too large");
		return !doc || !len ? -EINVAL : -E2BIG;
	}
	s.item_path_len = h->item_path ? strlen(h->item_path) : 0;
	s.path_mark = calloc(s.lim.max_depth + 2, sizeof *s.path_mark);
	s.text_mark = calloc(s.lim.max_depth + 2, sizeof *s.text_mark);
	/* UTF-8 whatever the document claims: EC2 writes nothing else */
	s.p = XML_ParserCreate("UTF-8");
	int rc = 0;
	if (!s.path_mark || !s.text_mark || !s.p) {
		rc = -ENOMEM;
		goto out;
	}
	XML_SetUserData(s.p, &s);
	XML_SetElementHandler(s.p, on_start, on_end);
	XML_SetCharacterDataHandler(s.p, on_chars);
	XML_SetStartDoctypeDeclHandler(s.p, on_doctype);
	XML_SetEntityDeclHandler(s.p, on_entity);
	XML_SetParamEntityParsing(s.p, XML_PARAM_ENTITY_PARSING_NEVER);
	if (XML_Parse(s.p, doc, (int) len, XML_TRUE) != XML_STATUS_OK) {
		rc = s.rc;
		if (!rc) {
			rc = -EINVAL;
			if (why && why_size)
				snprintf(why, why_size, "not well-formed XML: %s (line %lu)",
					 XML_ErrorString(XML_GetErrorCode(s.p)),
					 (unsigned long) XML_GetCurrentLineNumber(s.p));
		}
	} else {
		rc = s.rc;
	}
out:
	if (s.p)
		XML_ParserFree(s.p);
	free(s.path_mark);
	free(s.text_mark);
	free(s.path);
	free(s.text);
	free(s.nodes);
	free(s.chars);
	free(s.out);
	return rc;
}

const struct cf_aws_xml_node *cf_aws_xml_child(const struct cf_aws_xml_node *n, const char *name)
{
	for (const struct cf_aws_xml_node *c = n ? n->child : NULL; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

const char *cf_aws_xml_get(const struct cf_aws_xml_node *n, const char *path)
{
	while (n && path && *path) {
		const char *slash = strchr(path, '/');
		size_t l = slash ? (size_t) (slash - path) : strlen(path);
		const struct cf_aws_xml_node *c = n->child;
		while (c && (strncmp(c->name, path, l) || c->name[l]))
			c = c->next;
		n = c;
		path = slash ? slash + 1 : path + l;
	}
	return n ? n->text : NULL;
}
