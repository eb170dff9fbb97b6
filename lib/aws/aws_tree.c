/* aws_tree.c — an EC2 answer as a small element tree (aws_tree.h).
 *
 * EC2's Describe answers are a few levels of <xSet><item>...</item></xSet>;
 * a tree per answer keeps the decoders short and each field's absence
 * explicit. expat reads it; every limit is checked while reading, so a
 * hostile answer costs at most the limits, and a DOCTYPE (the door to entity
 * expansion) ends the parse. */
#include "aws_tree.h"

#include <errno.h>
#include <expat.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct build {
	XML_Parser p;
	struct aws_node *root, *cur;
	unsigned depth;
	size_t nodes;
	int rc;
	char why[160];
};

static void stop(struct build *b, int rc, const char *why)
{
	if (!b->rc) {
		b->rc = rc;
		snprintf(b->why, sizeof b->why, "%s", why);
	}
	XML_StopParser(b->p, XML_FALSE);
}

static void on_start(void *ctx, const XML_Char *name, const XML_Char **attrs)
{
	struct build *b = ctx;
	(void) attrs;
	if (b->rc)
		return;
	if (++b->depth > AWS_TREE_DEPTH_MAX) {
		stop(b, -EPROTO, "elements nested too deep");
		return;
	}
	if (++b->nodes > AWS_TREE_NODES_MAX) {
		stop(b, -EPROTO, "too many elements");
		return;
	}
	struct aws_node *n = calloc(1, sizeof *n);
	if (!n || !(n->name = strdup(name))) {
		free(n);
		stop(b, -ENOMEM, "out of memory");
		return;
	}
	n->parent = b->cur;
	if (!b->cur) {
		if (b->root) {
			aws_tree_free(n);
			stop(b, -EPROTO, "two root elements");
			return;
		}
		b->root = n;
	} else if (b->cur->last) {
		b->cur->last->next = n;
		b->cur->last = n;
	} else {
		b->cur->first = b->cur->last = n;
	}
	b->cur = n;
}

static void on_end(void *ctx, const XML_Char *name)
{
	struct build *b = ctx;
	(void) name;
	if (b->rc || !b->cur)
		return;
	b->depth--;
	b->cur = b->cur->parent;
}

static void on_text(void *ctx, const XML_Char *s, int len)
{
	struct build *b = ctx;
	struct aws_node *n = b->cur;
	if (b->rc || !n || len <= 0)
		return;
	if (n->first) /* whitespace between children: not the element's text */
		return;
	if (n->tlen + (size_t) len > AWS_TREE_TEXT_MAX) {
		stop(b, -EPROTO, "an element's text is too long");
		return;
	}
	char *t = realloc(n->text, n->tlen + (size_t) len + 1);
	if (!t) {
		stop(b, -ENOMEM, "out of memory");
		return;
	}
	memcpy(t + n->tlen, s, (size_t) len);
	n->tlen += (size_t) len;
	t[n->tlen] = '\0';
	n->text = t;
}

static void on_doctype(void *ctx, const XML_Char *name, const XML_Char *sysid,
		       const XML_Char *pubid, int has_internal)
{
	(void) name, (void) sysid, (void) pubid, (void) has_internal;
	stop(ctx, -EPROTO, "a DOCTYPE (EC2 sends none)");
}

static void on_entity(void *ctx, const XML_Char *name, int pe, const XML_Char *value, int vlen,
		      const XML_Char *base, const XML_Char *sysid, const XML_Char *pubid,
		      const XML_Char *notation)
{
	(void) name, (void) pe, (void) value, (void) vlen, (void) base, (void) sysid, (void) pubid,
	    (void) notation;
	stop(ctx, -EPROTO, "an entity declaration");
}

/* Give every node a text, "" when it had none, so callers need not ask. */
static int fill_text(struct aws_node *n)
{
	for (; n; n = n->next) {
		if (!n->text && !(n->text = calloc(1, 1)))
			return -ENOMEM;
		if (n->first && fill_text(n->first))
			return -ENOMEM;
	}
	return 0;
}

int aws_tree_parse(const char *body, size_t len, struct aws_node **root, char *why, size_t why_size)
{
	struct build b = {0};
	*root = NULL;
	if (!body || !len || len > (size_t) 1 << 30) {
		snprintf(why, why_size, "an empty answer");
		return -EPROTO;
	}
	if (!(b.p = XML_ParserCreate("UTF-8"))) {
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	XML_SetUserData(b.p, &b);
	XML_SetElementHandler(b.p, on_start, on_end);
	XML_SetCharacterDataHandler(b.p, on_text);
	XML_SetStartDoctypeDeclHandler(b.p, on_doctype);
	XML_SetEntityDeclHandler(b.p, on_entity);
	enum XML_Status st = XML_Parse(b.p, body, (int) len, XML_TRUE);
	if (st != XML_STATUS_OK && !b.rc)
		snprintf(b.why, sizeof b.why, "not XML: %s at line %lu",
			 XML_ErrorString(XML_GetErrorCode(b.p)),
			 (unsigned long) XML_GetCurrentLineNumber(b.p));
	int rc = b.rc ? b.rc : st != XML_STATUS_OK ? -EPROTO : 0;
	XML_ParserFree(b.p);
	if (!rc && !b.root) {
		snprintf(b.why, sizeof b.why, "no element");
		rc = -EPROTO;
	}
	if (!rc && fill_text(b.root)) {
		snprintf(b.why, sizeof b.why, "out of memory");
		rc = -ENOMEM;
	}
	if (rc) {
		aws_tree_free(b.root);
		snprintf(why, why_size, "%s", b.why);
		return rc;
	}
	*root = b.root;
	return 0;
}

void aws_tree_free(struct aws_node *n)
{
	while (n) {
		struct aws_node *next = n->next;
		aws_tree_free(n->first);
		free(n->name);
		free(n->text);
		free(n);
		n = next;
	}
}

const struct aws_node *aws_child(const struct aws_node *n, const char *name)
{
	for (const struct aws_node *c = n ? n->first : NULL; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

const struct aws_node *aws_next_same(const struct aws_node *c)
{
	for (const struct aws_node *s = c ? c->next : NULL; s; s = s->next)
		if (!strcmp(s->name, c->name))
			return s;
	return NULL;
}

const char *aws_text(const struct aws_node *n, const char *name, size_t *len)
{
	const struct aws_node *c = aws_child(n, name);
	if (!c)
		return NULL;
	if (len)
		*len = c->tlen;
	return c->text;
}

static json_t *to_json(const struct aws_node *n)
{
	if (!n->first)
		return json_stringn(n->text, n->tlen);
	bool items = true;
	for (const struct aws_node *c = n->first; c; c = c->next)
		items = items && !strcmp(c->name, "item");
	json_t *out = items ? json_array() : json_object();
	for (const struct aws_node *c = n->first; out && c; c = c->next) {
		json_t *v = to_json(c);
		if (!v || (items ? json_array_append_new(out, v)
				 : json_object_set_new(out, c->name, v))) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

char *aws_tree_json(const struct aws_node *n, size_t max, size_t *len)
{
	json_t *j = to_json(n);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(j);
	if (s && strlen(s) > max) {
		free(s);
		return NULL;
	}
	if (s && len)
		*len = strlen(s);
	return s;
}
