/* test_aws_xml.c — the bounded XML reader: an EC2 page read item by item
 * (tags nested as items of their own), the text outside the items with its
 * path, entities decoded, and every refusal: DOCTYPE (the billion laughs),
 * depth, text, element and item-size limits, broken and empty documents, a
 * callback that stops the parse; and an item as JSON, byte for byte what
 * jansson made of it before (the reference below), so stored documents do
 * not change. */
#include "aws_xml.h"
#include "check.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>

static const char page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<DescribeSnapshotsResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\n"
    "  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>\n"
    "  <snapshotSet>\n"
    "    <item>\n"
    "      <snapshotId>snap-1234567890abcdef0</snapshotId>\n"
    "      <volumeId>vol-1</volumeId>\n"
    "      <status>completed</status>\n"
    "      <description>a &amp; b &lt;c&gt; &#x41;&#66;</description>\n"
    "      <tagSet>\n"
    "        <item><key>Name</key><value>web-1</value></item>\n"
    "        <item><key>team</key><value>  spaced  </value></item>\n"
    "      </tagSet>\n"
    "    </item>\n"
    "    <item><snapshotId>snap-2</snapshotId><volumeSize>8</volumeSize></item>\n"
    "    <item><snapshotId>snap-3</snapshotId><tagSet/></item>\n"
    "  </snapshotSet>\n"
    "  <nextToken>tok+/=</nextToken>\n"
    "</DescribeSnapshotsResponse>\n";

struct got {
	int items, stop_at;
	char ids[3][64], name[64], team[64], desc[64], next[64], reqid[64], paths[512];
	int tags;
};

static int on_item(void *ctx, const struct cf_aws_xml_node *it)
{
	struct got *g = ctx;
	if (g->items < 3)
		snprintf(g->ids[g->items], sizeof g->ids[0], "%s",
			 cf_aws_xml_get(it, "snapshotId") ? cf_aws_xml_get(it, "snapshotId") : "?");
	g->items++;
	const char *d = cf_aws_xml_get(it, "description");
	if (d)
		snprintf(g->desc, sizeof g->desc, "%s", d);
	for (const struct cf_aws_xml_node *t =
		 cf_aws_xml_child(cf_aws_xml_child(it, "tagSet"), "item");
	     t; t = t->next) {
		const char *k = cf_aws_xml_get(t, "key"), *v = cf_aws_xml_get(t, "value");
		g->tags++;
		CHECK(t->parent && !strcmp(t->parent->name, "tagSet"));
		if (k && v && !strcmp(k, "Name"))
			snprintf(g->name, sizeof g->name, "%s", v);
		if (k && v && !strcmp(k, "team"))
			snprintf(g->team, sizeof g->team, "%s", v);
	}
	return g->stop_at && g->items == g->stop_at ? -ECANCELED : 0;
}

static int on_text(void *ctx, const char *path, const char *text, size_t len)
{
	struct got *g = ctx;
	size_t l = strlen(g->paths);
	snprintf(g->paths + l, sizeof g->paths - l, "%s;", path);
	if (!strcmp(path, "nextToken"))
		snprintf(g->next, sizeof g->next, "%.*s", (int) len, text);
	if (!strcmp(path, "requestId"))
		snprintf(g->reqid, sizeof g->reqid, "%.*s", (int) len, text);
	return 0;
}

static int parse(const char *doc, const struct cf_aws_xml_limits *lim, struct got *g, char *why,
		 size_t ws)
{
	char root[64];
	struct cf_aws_xml_handler h = {"snapshotSet/item", on_item, on_text, g, root, sizeof root};
	return cf_aws_xml_parse(doc, strlen(doc), lim, &h, why, ws);
}

static void test_page(void)
{
	struct got g = {0};
	char why[256], root[64];
	struct cf_aws_xml_handler h = {"snapshotSet/item", on_item, on_text, &g, root, sizeof root};
	CHECK_EQ_INT(cf_aws_xml_parse(page, strlen(page), NULL, &h, why, sizeof why), 0);
	CHECK_EQ_STR(root, "DescribeSnapshotsResponse");
	CHECK_EQ_INT(g.items, 3);
	CHECK_EQ_STR(g.ids[0], "snap-1234567890abcdef0");
	CHECK_EQ_STR(g.ids[1], "snap-2");
	CHECK_EQ_STR(g.ids[2], "snap-3");
	CHECK_EQ_INT(g.tags, 2);
	CHECK_EQ_STR(g.name, "web-1");
	CHECK_EQ_STR(g.team, "  spaced  "); /* never trimmed */
	CHECK_EQ_STR(g.desc, "a & b <c> AB");
	CHECK_EQ_STR(g.next, "tok+/=");
	CHECK_EQ_STR(g.reqid, "59dbff89-35bd-4eac-99ed-be587EXAMPLE");
	/* the items' elements are not text callbacks; the others are, children first */
	CHECK_EQ_STR(g.paths, "requestId;snapshotSet;nextToken;;");

	/* a callback's error stops the parse and comes back */
	struct got s = {.stop_at = 2};
	CHECK_EQ_INT(parse(page, NULL, &s, why, sizeof why), -ECANCELED);
	CHECK_EQ_INT(s.items, 2);
	CHECK_EQ_STR(s.next, "");

	/* no item path: everything is text */
	struct got t = {0};
	struct cf_aws_xml_handler ht = {NULL, NULL, on_text, &t, NULL, 0};
	CHECK_EQ_INT(cf_aws_xml_parse(page, strlen(page), NULL, &ht, why, sizeof why), 0);
	CHECK(strstr(t.paths, "snapshotSet/item/tagSet/item/key;"));
	CHECK_EQ_INT(t.items, 0);
}

static void test_get(void)
{
	struct got g = {0};
	char why[256];
	CHECK_EQ_INT(parse("<R><snapshotSet><item><a><b>x</b></a><c/></item></snapshotSet></R>",
			   NULL, &g, why, sizeof why),
		     0);
	CHECK_EQ_INT(g.items, 1);
	CHECK(cf_aws_xml_get(NULL, "a") == NULL);
	CHECK(cf_aws_xml_child(NULL, "a") == NULL);
}

static const char laughs[] =
    "<?xml version=\"1.0\"?>\n"
    "<!DOCTYPE lolz [<!ENTITY lol \"lol\">"
    "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]>\n"
    "<R><snapshotSet><item><snapshotId>&lol2;</snapshotId></item></snapshotSet></R>";

static void test_refusals(void)
{
	struct got g = {0};
	char why[256], big[4096];

	CHECK_EQ_INT(parse(laughs, NULL, &g, why, sizeof why), -EINVAL);
	CHECK(strstr(why, "DOCTYPE"));
	CHECK_EQ_INT(g.items, 0);
	CHECK_EQ_INT(
	    parse("<!DOCTYPE R SYSTEM \"file:///etc/passwd\"><R/>", NULL, &g, why, sizeof why),
	    -EINVAL);
	CHECK_EQ_INT(parse("<R><a>&undefined;</a></R>", NULL, &g, why, sizeof why), -EINVAL);

	CHECK_EQ_INT(parse("", NULL, &g, why, sizeof why), -EINVAL);
	CHECK_EQ_INT(parse("<R><a></R>", NULL, &g, why, sizeof why), -EINVAL);
	CHECK(strstr(why, "not well-formed") && strstr(why, "line"));
	CHECK_EQ_INT(parse("<R><snapshotSet><item><x>1</x>", NULL, &g, why, sizeof why), -EINVAL);
	CHECK_EQ_INT(parse("{\"json\": true}", NULL, &g, why, sizeof why), -EINVAL);
	CHECK_EQ_INT(parse("<R/><R/>", NULL, &g, why, sizeof why), -EINVAL);

	/* depth */
	struct cf_aws_xml_limits lim = {.max_depth = 4};
	CHECK_EQ_INT(parse("<a><b><c><d/></c></b></a>", &lim, &g, why, sizeof why), 0);
	CHECK_EQ_INT(parse("<a><b><c><d><e/></d></c></b></a>", &lim, &g, why, sizeof why), -E2BIG);
	strcpy(big, "");
	for (int i = 0; i < 100; i++)
		strcat(big, "<a>");
	CHECK_EQ_INT(parse(big, NULL, &g, why, sizeof why), -E2BIG); /* default 32, before EOF */

	/* text, including text split across expat's calls by entities */
	lim = (struct cf_aws_xml_limits){.max_text = 8};
	CHECK_EQ_INT(parse("<R><a>12345678</a></R>", &lim, &g, why, sizeof why), 0);
	CHECK_EQ_INT(parse("<R><a>1234&amp;5678</a></R>", &lim, &g, why, sizeof why), -E2BIG);
	CHECK(strstr(why, "text"));

	/* elements in the document */
	lim = (struct cf_aws_xml_limits){.max_elements = 3};
	CHECK_EQ_INT(parse("<R><a/><b/></R>", &lim, &g, why, sizeof why), 0);
	CHECK_EQ_INT(parse("<R><a/><b/><c/></R>", &lim, &g, why, sizeof why), -E2BIG);

	/* nodes in one item */
	lim = (struct cf_aws_xml_limits){.max_item_nodes = 3};
	g = (struct got){0};
	CHECK_EQ_INT(parse("<R><snapshotSet><item><a/><b/></item><item><a/><b/></item>"
			   "</snapshotSet></R>",
			   &lim, &g, why, sizeof why),
		     0);
	CHECK_EQ_INT(g.items, 2);
	CHECK_EQ_INT(parse("<R><snapshotSet><item><a/><b/><c/></item></snapshotSet></R>", &lim, &g,
			   why, sizeof why),
		     -E2BIG);
}

/* Many items of many nodes: the arenas grow and are reused, pointers stay right. */
static void test_many(void)
{
	size_t cap = 1 << 20, n = 0;
	char *doc = malloc(cap);
	n += (size_t) snprintf(doc + n, cap - n, "<R><snapshotSet>");
	for (int i = 0; i < 500; i++) {
		n += (size_t) snprintf(doc + n, cap - n,
				       "<item><snapshotId>snap-%d</snapshotId><tagSet>", i);
		for (int j = 0; j < (i % 50); j++)
			n += (size_t) snprintf(doc + n, cap - n,
					       "<item><key>k%d</key><value>v%d</value></item>", j,
					       j);
		n += (size_t) snprintf(doc + n, cap - n, "</tagSet></item>");
	}
	snprintf(doc + n, cap - n, "</snapshotSet></R>");
	struct got g = {0};
	char why[256];
	CHECK_EQ_INT(parse(doc, NULL, &g, why, sizeof why), 0);
	CHECK_EQ_INT(g.items, 500);
	int want = 0;
	for (int i = 0; i < 500; i++)
		want += i % 50;
	CHECK_EQ_INT(g.tags, want);
	free(doc);
}

/* ---- an item as JSON ---- */

/* The reference: the decoder's former jansson tree, dumped. */
static json_t *ref_tree(const struct cf_aws_xml_node *n)
{
	if (!n->child)
		return json_stringn(n->text, n->text_len);
	bool items = true;
	for (const struct cf_aws_xml_node *c = n->child; c; c = c->next)
		items = items && !strcmp(c->name, "item");
	json_t *out = items ? json_array() : json_object();
	for (const struct cf_aws_xml_node *c = n->child; out && c; c = c->next) {
		json_t *v = ref_tree(c);
		/* the _new calls take v even when they fail (the decoder's
		 * version freed it twice then: on a name expat never gives) */
		if (!v || (items ? json_array_append_new(out, v)
				 : json_object_set_new(out, c->name, v))) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

static char *ref_json(const struct cf_aws_xml_node *n)
{
	json_t *j = ref_tree(n);
	char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	json_decref(j);
	return s;
}

struct same {
	int items, differ;
	size_t max;	 /* 0: no bound */
	char first[512]; /* the first item's JSON */
};

static int on_same(void *ctx, const struct cf_aws_xml_node *it)
{
	struct same *sm = ctx;
	size_t len = 0;
	char *want = ref_json(it);
	char *got = cf_aws_xml_json(it, sm->max ? sm->max : 1 << 20, &len);
	if (want && sm->max && strlen(want) > sm->max) {
		free(want);
		want = NULL; /* the former bound: longer is refused */
	}
	if (!want != !got || (got && (strcmp(want, got) || len != strlen(got)))) {
		sm->differ++;
		fprintf(stderr, "item %d: jansson %s\n         mine    %s\n", sm->items,
			want ? want : "(null)", got ? got : "(null)");
	}
	if (!sm->items)
		snprintf(sm->first, sizeof sm->first, "%s", got ? got : "(null)");
	sm->items++;
	free(want);
	free(got);
	return 0;
}

static struct same same_as_jansson(const char *doc, size_t max)
{
	struct same sm = {.max = max};
	char why[256];
	struct cf_aws_xml_handler h = {"s/item", on_same, NULL, &sm, NULL, 0};
	CHECK_EQ_INT(cf_aws_xml_parse(doc, strlen(doc), NULL, &h, why, sizeof why), 0);
	CHECK_EQ_INT(sm.differ, 0);
	return sm;
}

static void test_json(void)
{
	/* the page above: tags an array, the item an object */
	struct same sm = {0};
	char why[256], doc[8192];
	struct cf_aws_xml_handler h = {"snapshotSet/item", on_same, NULL, &sm, NULL, 0};
	CHECK_EQ_INT(cf_aws_xml_parse(page, strlen(page), NULL, &h, why, sizeof why), 0);
	CHECK_EQ_INT(sm.items, 3);
	CHECK_EQ_INT(sm.differ, 0);
	CHECK(strstr(sm.first, "\"tagSet\":[{\"key\":\"Name\",\"value\":\"web-1\"},"));
	CHECK(strstr(sm.first, "\"description\":\"a & b <c> AB\""));

	/* escapes: quotes, backslash, controls, DEL, two-, three- and
	 * four-byte characters (a UTF-16 pair), a character reference */
	sm = same_as_jansson("<R><s><item><a>q\"b\\s/&#9;&#10;&#13;\x7f</a>"
			     "<b>\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80&#x1F600;</b>"
			     "<c>\xef\xbf\xbd</c><d></d><e/></item></s></R>",
			     0);
	CHECK_EQ_STR(sm.first, "{\"a\":\"q\\\"b\\\\s/\\t\\n\\r\x7f\","
			       "\"b\":\"\\u00E9\\u20AC\\uD83D\\uDE00\\uD83D\\uDE00\","
			       "\"c\":\"\\uFFFD\",\"d\":\"\",\"e\":\"\"}");

	/* a name repeated: its first place, its last value; items beside
	 * other names make an object; an element's own text beside children
	 * is dropped; nested arrays */
	sm = same_as_jansson("<R><s><item><a>1</a><b>2</b><a>3</a><item>i</item><c>x<d>y</d></c>"
			     "<e><item><item>n</item></item><item/></e><b>4</b></item></s></R>",
			     0);
	CHECK_EQ_STR(sm.first, "{\"a\":\"3\",\"b\":\"4\",\"item\":\"i\",\"c\":{\"d\":\"y\"},"
			       "\"e\":[[\"n\"],\"\"]}");

	/* many members (sorted, not scanned), repeated names among them */
	size_t n = (size_t) snprintf(doc, sizeof doc, "<R><s><item>");
	for (int i = 0; i < 300; i++)
		n += (size_t) snprintf(doc + n, sizeof doc - n, "<k%d>%d</k%d>", i % 37, i, i % 37);
	snprintf(doc + n, sizeof doc - n, "</item></s></R>");
	sm = same_as_jansson(doc, 0);
	CHECK(strstr(sm.first, "{\"k0\":\"296\",\"k1\":\"297\","));

	/* the bound: exactly max is kept, one byte more is refused */
	sm = same_as_jansson("<R><s><item><a>12</a></item></s></R>", 10); /* {"a":"12"} */
	CHECK_EQ_STR(sm.first, "{\"a\":\"12\"}");
	sm = same_as_jansson("<R><s><item><a>123</a></item></s></R>", 10);
	CHECK_EQ_STR(sm.first, "(null)");

	/* text expat never hands over, in a tree made by hand: invalid UTF-8
	 * (a lone continuation byte, an overlong form, a surrogate, past
	 * U+10FFFF, cut short) is refused as jansson refused it; NUL escaped */
	static const struct {
		const char *text;
		size_t len;
	} bad[] = {{"a\x80", 2},	{"\xc0\xaf", 2},	 {"\xe0\x80\xaf", 3},
		   {"\xed\xa0\x80", 3}, {"\xf4\x90\x80\x80", 4}, {"\xe2\x82", 2},
		   {"a\0b", 3}};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		struct cf_aws_xml_node leaf = {
		    .name = "v", .text = bad[i].text, .text_len = bad[i].len};
		struct cf_aws_xml_node item = {.name = "item", .text = "", .child = &leaf};
		leaf.parent = &item;
		char *want = ref_json(&item), *got = cf_aws_xml_json(&item, 1 << 20, NULL);
		CHECK(!want == !got);
		CHECK(!want || !got || !strcmp(want, got));
		free(want);
		free(got);
	}
	struct cf_aws_xml_node leaf = {.name = "v", .text = "a\0b", .text_len = 3};
	char *got = cf_aws_xml_json(&leaf, 1 << 20, NULL);
	CHECK_EQ_STR(got, "\"a\\u0000b\"");
	free(got);
	/* a member's name that is not UTF-8 */
	struct cf_aws_xml_node bad_member = {.name = "\xff", .text = "x", .text_len = 1};
	struct cf_aws_xml_node holder = {.name = "item", .text = "", .child = &bad_member};
	char *want = ref_json(&holder);
	CHECK(want == NULL);
	CHECK(cf_aws_xml_json(&holder, 1 << 20, NULL) == NULL);
	free(want);
	CHECK(cf_aws_xml_json(NULL, 1 << 20, NULL) == NULL);
}

int main(void)
{
	test_page();
	test_get();
	test_refusals();
	test_many();
	test_json();
	return check_summary();
}
