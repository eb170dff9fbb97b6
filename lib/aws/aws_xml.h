/* aws_xml.h — a bounded streaming XML reader on expat, shaped for EC2's
 * answers: every element at one path (a listing's "snapshotSet/item") is
 * built into a small tree and handed over on its close, one at a time, and
 * every other element's text (nextToken, requestId) goes to a callback with
 * its path. Nothing of a page is kept once handed over.
 *
 * Paths are element names joined by '/', from below the root element:
 * "<DescribeSnapshotsResponse><snapshotSet><item>" is "snapshotSet/item".
 * Namespaces are not processed: names are as written (EC2 declares only a
 * default namespace).
 *
 * Bounded: nesting depth, one element's text, the elements of the document and
 * of one item; a document with a DOCTYPE (hence any entity declaration) is
 * refused, so no entity is ever expanded. Text is handed over exactly as
 * written (entities and character references decoded), never trimmed. */
#ifndef CLONEFS_AWS_XML_H
#define CLONEFS_AWS_XML_H

#include <stdbool.h>
#include <stddef.h>

/* 0 fields take the defaults. */
struct cf_aws_xml_limits {
	unsigned max_depth;    /* default 32 */
	size_t max_text;       /* one element's text, default 256 KiB */
	size_t max_elements;   /* in the document, default 4,000,000 */
	size_t max_item_nodes; /* in one item's tree, default 4096 */
};

/* One element of an item's tree. Valid only during the item callback. */
struct cf_aws_xml_node {
	const char *name;
	const char *text; /* its own text, NUL-terminated (may hold a NUL: use text_len) */
	size_t text_len;
	const struct cf_aws_xml_node *parent, *child, *next; /* first child, next sibling */
};

struct cf_aws_xml_handler {
	/* Each element at this path becomes a tree for item(); NULL: none. */
	const char *item_path;
	int (*item)(void *ctx, const struct cf_aws_xml_node *item);
	/* Every element outside the items, on its close (children first), with
	 * its text and its path ("" for the root); may be NULL. */
	int (*text)(void *ctx, const char *path, const char *text, size_t len);
	void *ctx;
	/* The root element's name is copied here when given ("" if none). */
	char *root;
	size_t root_size;
};

/* Parse doc[0..len). A callback's nonzero return stops the parse and is
 * returned. -EINVAL with the reason (and line) in why when the document is
 * not well-formed XML, has a DOCTYPE, or is empty; -E2BIG when it exceeds a
 * limit; -ENOMEM. lim may be NULL. */
int cf_aws_xml_parse(const char *doc, size_t len, const struct cf_aws_xml_limits *lim,
		     const struct cf_aws_xml_handler *h, char *why, size_t why_size);

/* The first child of n named name, or NULL (n may be NULL). */
const struct cf_aws_xml_node *cf_aws_xml_child(const struct cf_aws_xml_node *n, const char *name);
/* The text of the descendant at path ("tagSet", "state", "a/b"), or NULL
 * when absent (n may be NULL). */
const char *cf_aws_xml_get(const struct cf_aws_xml_node *n, const char *path);

/* The tree at n as compact JSON in ASCII (aws_xml_json.c): an element whose
 * children are all "item" is an array, one with children an object (a name
 * repeated among them: its last value, at its first place), a leaf its text
 * as a string. A new NUL-terminated string of *len <= max bytes; NULL when
 * it would be longer, when a name or text is not valid UTF-8, or out of
 * memory. */
char *cf_aws_xml_json(const struct cf_aws_xml_node *n, size_t max, size_t *len);

#endif
