/* xml_speed.c — how fast lib/aws/aws_xml.c reads an EC2 listing page: a
 * DescribeSnapshots answer of 1,000 items (the API's largest page), each with
 * the fields EC2 writes and three tags, made here so the figure needs no
 * emulator. The page is read `rounds` times (default 100) with an item
 * callback that looks up what a decoder would (id, volume, state, times,
 * sizes, every tag); the best of five passes is printed in MB/s, beside
 * expat alone with no handlers (the floor) and, when libxml2 was found at
 * configure time, libxml2's tree (xmlReadMemory) walked for the same fields.
 * Not a test: run it by hand,
 *	ninja -C build/release xml_speed && build/release/xml_speed [ROUNDS] */
#include "aws_xml.h"

#include <expat.h>
#ifdef HAVE_LIBXML2
#include <libxml/parser.h>
#include <libxml/tree.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static char *make_page(size_t items, size_t *len)
{
	size_t cap = items * 1500 + 512, n = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	n += (size_t) snprintf(
	    s + n, cap - n,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<DescribeSnapshotsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
	    "    <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>\n"
	    "    <snapshotSet>\n");
	for (size_t i = 0; i < items; i++)
		n += (size_t) snprintf(
		    s + n, cap - n,
		    "        <item>\n"
		    "            <snapshotId>snap-%017zx</snapshotId>\n"
		    "            <volumeId>vol-%017zx</volumeId>\n"
		    "            <status>completed</status>\n"
		    "            <startTime>2026-11-%02zuT10:%02zu:00.000Z</startTime>\n"
		    "            <progress>100%%</progress>\n"
		    "            <ownerId>111122223333</ownerId>\n"
		    "            <volumeSize>%zu</volumeSize>\n"
		    "            <description>Created by CreateImage(i-%017zx) for "
		    "ami-%017zx</description>\n"
		    "            <encrypted>false</encrypted>\n"
		    "            <storageTier>standard</storageTier>\n"
		    "            <fullSnapshotSizeInBytes>%zu</fullSnapshotSizeInBytes>\n"
		    "            <tagSet>\n"
		    "                <item><key>Name</key><value>db-%06zu</value></item>\n"
		    "                <item><key>team</key><value>storage</value></item>\n"
		    "                <item><key>clonefs-request</key>"
		    "<value>6f1c0c6e-4f4b-4d7e-9a43-%012zx</value></item>\n"
		    "            </tagSet>\n"
		    "        </item>\n",
		    i, i / 3, i % 28 + 1, i % 60, 8 + i % 100, i, i, (i + 1) * 1048576, i, i);
	n += (size_t) snprintf(s + n, cap - n,
			       "    </snapshotSet>\n"
			       "    <nextToken>eyJ2IjoiMiIsImMiOiJ0b2tlbiJ9</nextToken>\n"
			       "</DescribeSnapshotsResponse>\n");
	*len = n;
	return s;
}

static size_t sink;

static int on_item(void *ctx, const struct cf_aws_xml_node *it)
{
	(void) ctx;
	static const char *const fields[] = {
	    "snapshotId", "volumeId",	 "status",   "startTime",
	    "volumeSize", "description", "progress", "fullSnapshotSizeInBytes"};
	for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		const char *v = cf_aws_xml_get(it, fields[i]);
		sink += v ? strlen(v) : 0;
	}
	for (const struct cf_aws_xml_node *t =
		 cf_aws_xml_child(cf_aws_xml_child(it, "tagSet"), "item");
	     t; t = t->next) {
		const char *k = cf_aws_xml_get(t, "key"), *v = cf_aws_xml_get(t, "value");
		sink += (k ? strlen(k) : 0) + (v ? strlen(v) : 0);
	}
	return 0;
}

static int on_text(void *ctx, const char *path, const char *text, size_t len)
{
	(void) ctx;
	(void) text;
	sink += len + strlen(path);
	return 0;
}

#ifdef HAVE_LIBXML2
/* The same lookups on libxml2's tree: the alternative to a streaming reader. */
static const xmlChar *child_text(xmlNode *n, const char *name, xmlNode **out)
{
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !strcmp((const char *) c->name, name)) {
			if (out)
				*out = c;
			return c->children && c->children->type == XML_TEXT_NODE
				   ? c->children->content
				   : (const xmlChar *) "";
		}
	return NULL;
}

static int libxml2_page(const char *page, size_t len)
{
	static const char *const fields[] = {
	    "snapshotId", "volumeId",	 "status",   "startTime",
	    "volumeSize", "description", "progress", "fullSnapshotSizeInBytes"};
	xmlDoc *doc =
	    xmlReadMemory(page, (int) len, NULL, NULL, XML_PARSE_NONET | XML_PARSE_NOBLANKS);
	if (!doc)
		return -1;
	xmlNode *set = NULL;
	child_text(xmlDocGetRootElement(doc), "snapshotSet", &set);
	for (xmlNode *it = set ? set->children : NULL; it; it = it->next) {
		if (it->type != XML_ELEMENT_NODE)
			continue;
		for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
			const xmlChar *v = child_text(it, fields[i], NULL);
			sink += v ? strlen((const char *) v) : 0;
		}
		xmlNode *tags = NULL;
		child_text(it, "tagSet", &tags);
		for (xmlNode *t = tags ? tags->children : NULL; t; t = t->next) {
			const xmlChar *k = child_text(t, "key", NULL),
				      *v = child_text(t, "value", NULL);
			sink +=
			    (k ? strlen((const char *) k) : 0) + (v ? strlen((const char *) v) : 0);
		}
	}
	xmlFreeDoc(doc);
	return 0;
}
#endif

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 100;
	size_t len;
	char *page = make_page(1000, &len);
	if (!page || rounds <= 0)
		return 1;
	struct cf_aws_xml_handler h = {"snapshotSet/item", on_item, on_text, NULL, NULL, 0};
	double best = 1e9, floor = 1e9, tree = 1e9;
	char why[256];
	for (int pass = 0; pass < 5; pass++) {
		double t0 = now_s();
		for (int r = 0; r < rounds; r++)
			if (cf_aws_xml_parse(page, len, NULL, &h, why, sizeof why)) {
				fprintf(stderr, "xml_speed: %s\n", why);
				return 1;
			}
		double t1 = now_s();
		for (int r = 0; r < rounds; r++) {
			XML_Parser p = XML_ParserCreate("UTF-8");
			if (XML_Parse(p, page, (int) len, XML_TRUE) != XML_STATUS_OK)
				return 1;
			XML_ParserFree(p);
		}
		double t2 = now_s();
		if (t1 - t0 < best)
			best = t1 - t0;
		if (t2 - t1 < floor)
			floor = t2 - t1;
#ifdef HAVE_LIBXML2
		for (int r = 0; r < rounds; r++)
			if (libxml2_page(page, len))
				return 1;
		double t3 = now_s();
		if (t3 - t2 < tree)
			tree = t3 - t2;
#endif
	}
	double mb = (double) len * rounds / 1e6;
	printf("page: 1000 items, %zu bytes, %d rounds\n", len, rounds);
	printf("aws_xml (items as trees, every field looked up): %.0f MB/s, %.2f ms a page\n",
	       mb / best, best * 1000 / rounds);
	printf("expat alone, no handlers:                        %.0f MB/s, %.2f ms a page\n",
	       mb / floor, floor * 1000 / rounds);
#ifdef HAVE_LIBXML2
	printf("libxml2's tree (xmlReadMemory), same lookups:    %.0f MB/s, %.2f ms a page\n",
	       mb / tree, tree * 1000 / rounds);
#else
	(void) tree;
#endif
	return sink == 0;
}
