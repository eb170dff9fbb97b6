/* fuzz_aws_xml.c — any bytes through the AWS XML reader (aws_xml) with small
 * limits, as a listing page (items as trees) and as an error envelope
 * (cf_aws_decode_error under several statuses): every item's tree is
 * consistent (parents, siblings, text NUL-terminated at its length), a
 * refusal comes with a reason, and an error always has a one-line printable
 * message, a code of letters, digits and dots, and an errno. */
#include "aws_query.h"
#include "aws_xml.h"
#include "fuzz.h"
#include "provider.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static void check_tree(const struct cf_aws_xml_node *n, const struct cf_aws_xml_node *parent,
		       unsigned depth)
{
	FUZZ_ASSERT(depth < 64);
	for (; n; n = n->next) {
		FUZZ_ASSERT(n->parent == parent);
		FUZZ_ASSERT(n->name && n->name[0]);
		FUZZ_ASSERT(n->text && n->text[n->text_len] == '\0');
		check_tree(n->child, n, depth + 1);
	}
}

static int on_item(void *ctx, const struct cf_aws_xml_node *it)
{
	(void) ctx;
	FUZZ_ASSERT(it->parent == NULL && it->next == NULL);
	FUZZ_ASSERT(!strcmp(it->name, "item"));
	check_tree(it, NULL, 0);
	(void) cf_aws_xml_get(it, "tagSet/item/key");
	return 0;
}

static int on_text(void *ctx, const char *path, const char *text, size_t len)
{
	(void) ctx;
	FUZZ_ASSERT(path && text && text[len] == '\0');
	return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	fuzz_quiet();
	char why[256], root[64];
	struct cf_aws_xml_handler h = {"snapshotSet/item", on_item, on_text, NULL, root,
				       sizeof root};
	struct cf_aws_xml_limits lim = {
	    .max_depth = 12, .max_text = 4096, .max_elements = 20000, .max_item_nodes = 200};
	int rc = cf_aws_xml_parse((const char *) data, size, &lim, &h, why, sizeof why);
	FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -E2BIG || rc == -ENOMEM);
	FUZZ_ASSERT(rc == 0 || rc == -ENOMEM || why[0]);

	static const long statuses[] = {400, 403, 404, 412, 500, 503, 302};
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
		struct cf_error err;
		char rid[80];
		cf_aws_decode_error(statuses[i], (const char *) data, size, &err, rid, sizeof rid);
		FUZZ_ASSERT(err.http_status == statuses[i]);
		FUZZ_ASSERT(memchr(err.message, '\0', sizeof err.message) && err.message[0]);
		for (const char *m = err.message; *m; m++)
			FUZZ_ASSERT((unsigned char) *m >= 0x20 && (unsigned char) *m < 0x7f);
		for (const char *r = err.reason; *r; r++)
			FUZZ_ASSERT((*r >= 'A' && *r <= 'Z') || (*r >= 'a' && *r <= 'z') ||
				    (*r >= '0' && *r <= '9') || *r == '.');
		FUZZ_ASSERT(err.errnum <= 0 && err.errnum > -4096);
		FUZZ_ASSERT(err.errnum < 0 || !strcmp(err.reason, "DryRunOperation"));
	}
	return 0;
}
