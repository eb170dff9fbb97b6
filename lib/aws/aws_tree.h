/* aws_tree.h — one EC2 answer as a small element tree (aws_tree.c), for the
 * decoders in aws_decode.c and the AMI's snapshots in aws.c: expat builds it
 * with hard limits (depth, elements, text), no DTD, no entities beyond XML's
 * five. Names are local names as EC2 writes them (its default namespace is
 * not a prefix). Not for use outside the provider. */
#ifndef CLONEFS_AWS_TREE_H
#define CLONEFS_AWS_TREE_H

#include <stdbool.h>
#include <stddef.h>

struct aws_node {
	char *name;
	char *text; /* the element's own character data, NUL-terminated, "" when none */
	size_t tlen;
	struct aws_node *parent, *first, *last, *next;
};

enum {
	AWS_TREE_DEPTH_MAX = 32,
	AWS_TREE_TEXT_MAX = 1 << 20, /* bytes of text in one element */
	AWS_TREE_NODES_MAX = 4 << 20,
};

/* Parse body[0..len) into *root. 0; -EPROTO with a one-line reason in why
 * (not XML, a DTD, too deep, too much); -ENOMEM. */
int aws_tree_parse(const char *body, size_t len, struct aws_node **root, char *why,
		   size_t why_size);
void aws_tree_free(struct aws_node *n);

/* The first child named name, or NULL (n may be NULL). */
const struct aws_node *aws_child(const struct aws_node *n, const char *name);
/* The next sibling after c with c's name, or NULL. */
const struct aws_node *aws_next_same(const struct aws_node *c);
/* A child's text (NULL when there is no such child); *len its length. */
const char *aws_text(const struct aws_node *n, const char *name, size_t *len);

/* The element as JSON text (compact; an element whose children are all
 * "item" is an array, one with children an object, a leaf a string), for a
 * resource's raw document. NULL when out of memory or larger than max. */
char *aws_tree_json(const struct aws_node *n, size_t max, size_t *len);

#endif
