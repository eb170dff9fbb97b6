/* test_json.c — lib/util/json.c: every value type, nested lookups and iteration,
 * spans that are the exact bytes of the text, escapes decoded, every kind of
 * refusal with a one-line reason, cf_json_int's bounds, accessors given any
 * index, and the same verdict as jansson on a list of tricky documents. */
#include "check.h"
#include "json.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A literal with its length, so texts may hold NUL bytes. */
#define T(s) (s), sizeof(s) - 1

static int parse(struct cf_json *j, const char *s, size_t n)
{
	char why[256];
	int rc = cf_json_parse(j, s, n, why, sizeof why);
	if (rc)
		fprintf(stderr, "  refused %.*s: %s\n", (int) n, s, why);
	return rc;
}

/* Refused with -EPROTO, a one-line printable reason that says where, and j
 * left zeroed; reason_has (when not NULL) is part of the reason. */
static void refuses_n(const char *s, size_t n, const char *reason_has)
{
	struct cf_json j;
	char why[256];
	memset(&j, 0xa5, sizeof j);
	int rc = cf_json_parse(&j, s, n, why, sizeof why);
	if (rc != -EPROTO)
		fprintf(stderr, "  accepted (%d) \"%.*s\"\n", rc, (int) n, s);
	CHECK_EQ_INT(rc, -EPROTO);
	CHECK(!j.nodes && !j.n && !j.text && !j.arena);
	CHECK(strstr(why, " at byte ") != NULL);
	for (const char *c = why; *c; c++)
		if (*c < 0x20 || *c > 0x7e) {
			CHECK(!"a reason holds a byte that is not printable ASCII");
			break;
		}
	if (reason_has && !strstr(why, reason_has)) {
		fprintf(stderr, "  reason \"%s\" lacks \"%s\"\n", why, reason_has);
		CHECK(0);
	}
	cf_json_free(&j); /* allowed after a failure */
}
#define refuses(s, why) refuses_n(T(s), why)

static void accepts_n(const char *s, size_t n)
{
	struct cf_json j;
	CHECK_EQ_INT(parse(&j, s, n), 0);
	cf_json_free(&j);
}
#define accepts(s) accepts_n(T(s))

/* The span of v is exactly want. */
static void span_is(const struct cf_json *j, int v, const char *want)
{
	size_t len = 0;
	const char *s = cf_json_span(j, v, &len);
	CHECK(s != NULL);
	if (!s || len != strlen(want) || memcmp(s, want, len)) {
		fprintf(stderr, "  span of %d is \"%.*s\", expected \"%s\"\n", v, (int) len,
			s ? s : "", want);
		CHECK(0);
	}
}

static void test_types(void)
{
	static const struct {
		const char *text;
		enum cf_jtype type;
	} scalars[] = {
	    {"null", CF_J_NULL},
	    {"true", CF_J_TRUE},
	    {"false", CF_J_FALSE},
	    {"0", CF_J_NUMBER},
	    {"-12.5e+3", CF_J_NUMBER},
	    {"\"s\"", CF_J_STRING},
	    {"[]", CF_J_ARRAY},
	    {"{}", CF_J_OBJECT},
	    {" \t\r\n1 \t\r\n", CF_J_NUMBER},
	    {"1E-2", CF_J_NUMBER},
	    {"-0", CF_J_NUMBER},
	    {"0.0", CF_J_NUMBER},
	    {"123456789012345678901234567890", CF_J_NUMBER},
	    {"1e999", CF_J_NUMBER},
	};
	for (size_t i = 0; i < sizeof scalars / sizeof scalars[0]; i++) {
		struct cf_json j;
		CHECK_EQ_INT(parse(&j, scalars[i].text, strlen(scalars[i].text)), 0);
		CHECK_EQ_INT(j.n, 1);
		CHECK_EQ_INT(cf_json_type(&j, 0), scalars[i].type);
		CHECK(cf_json_present(&j, 0) == (scalars[i].type != CF_J_NULL));
		CHECK_EQ_INT(cf_json_count(&j, 0), 0);
		CHECK_EQ_INT(cf_json_first(&j, 0), -1);
		cf_json_free(&j);
		CHECK(!j.nodes && !j.n && !j.arena && !j.text);
	}
	cf_json_free(NULL);
}

static void test_nested(void)
{
	static const char doc[] =
	    "{\"kind\":\"compute#snapshotList\", \"items\" : [ {\"name\":\"a\",\"size\":\"10\","
	    "\"labels\":{\"x\":\"1\",\"y\":\"2\"}}, {\"name\":\"b\",\"labels\":{}}, [], 7, null ],"
	    "\"next\":null, \"empty\":{}, \"t\":true}";
	struct cf_json j;
	CHECK_EQ_INT(parse(&j, T(doc)), 0);
	CHECK_EQ_INT(cf_json_type(&j, 0), CF_J_OBJECT);
	CHECK_EQ_INT(cf_json_count(&j, 0), 5);
	span_is(&j, 0, doc);

	int kind = cf_json_get(&j, 0, "kind");
	CHECK_EQ_INT(cf_json_type(&j, kind), CF_J_STRING);
	CHECK(cf_json_str_eq(&j, kind, "compute#snapshotList", 20));
	CHECK(!cf_json_str_eq(&j, kind, "compute#snapshotLis", 19));
	span_is(&j, kind, "\"compute#snapshotList\"");
	span_is(&j, kind - 1, "\"kind\"");

	int items = cf_json_get(&j, 0, "items");
	CHECK_EQ_INT(cf_json_type(&j, items), CF_J_ARRAY);
	CHECK_EQ_INT(cf_json_count(&j, items), 5);
	span_is(&j, items,
		"[ {\"name\":\"a\",\"size\":\"10\",\"labels\":{\"x\":\"1\",\"y\":\"2\"}},"
		" {\"name\":\"b\",\"labels\":{}}, [], 7, null ]");
	const char *want_items[] = {
	    "{\"name\":\"a\",\"size\":\"10\",\"labels\":{\"x\":\"1\",\"y\":\"2\"}}",
	    "{\"name\":\"b\",\"labels\":{}}", "[]", "7", "null"};
	int i = 0;
	for (int e = cf_json_first(&j, items); e >= 0; e = cf_json_next(&j, items, e), i++)
		if (i < 5)
			span_is(&j, e, want_items[i]);
	CHECK_EQ_INT(i, 5);

	int first = cf_json_first(&j, items);
	int labels = cf_json_get(&j, first, "labels");
	CHECK_EQ_INT(cf_json_count(&j, labels), 2);
	CHECK(cf_json_str_eq(&j, cf_json_get(&j, labels, "y"), "2", 1));
	/* chained lookups through absent values */
	CHECK_EQ_INT(cf_json_get(&j, cf_json_get(&j, 0, "nope"), "x"), -1);
	CHECK_EQ_INT(cf_json_get(&j, cf_json_get(&j, cf_json_get(&j, 0, "items"), "x"), "y"), -1);
	CHECK_EQ_INT(cf_json_get(&j, 0, "nam"), -1);
	CHECK_EQ_INT(cf_json_get(&j, 0, "name"), -1); /* only at its own level */
	CHECK_EQ_INT(cf_json_get(&j, 0, NULL), -1);

	/* object iteration: key nodes, values at key + 1, in text order */
	const char *keys[] = {"x", "y"}, *vals[] = {"1", "2"};
	i = 0;
	for (int k = cf_json_first(&j, labels); k >= 0; k = cf_json_next(&j, labels, k), i++) {
		size_t len;
		const char *s = cf_json_str(&j, k, &len);
		if (i < 2) {
			CHECK_EQ_STR(s, keys[i]);
			CHECK_EQ_STR(cf_json_str(&j, k + 1, NULL), vals[i]);
		}
		CHECK_EQ_INT(len, 1);
	}
	CHECK_EQ_INT(i, 2);

	/* empty containers */
	int second = cf_json_next(&j, items, first);
	int empty_obj = cf_json_get(&j, second, "labels");
	CHECK_EQ_INT(cf_json_type(&j, empty_obj), CF_J_OBJECT);
	CHECK_EQ_INT(cf_json_count(&j, empty_obj), 0);
	CHECK_EQ_INT(cf_json_first(&j, empty_obj), -1);
	span_is(&j, empty_obj, "{}");
	int empty_arr = cf_json_next(&j, items, second);
	CHECK_EQ_INT(cf_json_type(&j, empty_arr), CF_J_ARRAY);
	CHECK_EQ_INT(cf_json_count(&j, empty_arr), 0);
	CHECK_EQ_INT(cf_json_first(&j, empty_arr), -1);
	CHECK_EQ_INT(cf_json_next(&j, empty_arr, empty_arr + 1), -1);
	span_is(&j, cf_json_get(&j, 0, "empty"), "{}");

	CHECK_EQ_INT(cf_json_type(&j, cf_json_get(&j, 0, "next")), CF_J_NULL);
	CHECK(!cf_json_present(&j, cf_json_get(&j, 0, "next")));
	CHECK(cf_json_present(&j, cf_json_get(&j, 0, "t")));
	CHECK_EQ_INT(cf_json_type(&j, cf_json_get(&j, 0, "t")), CF_J_TRUE);

	/* a value's next: the first node after its subtree */
	CHECK_EQ_INT(j.nodes[0].next, j.n);
	CHECK_EQ_INT(j.nodes[items].next, cf_json_get(&j, 0, "next") - 1);
	cf_json_free(&j);
}

static void test_spans(void)
{
	static const char doc[] = " [ \"a\\\"b\" ,-1.5e3,true , false,null, {\"k\" : [ ] } ] ";
	const char *want[] = {"[ \"a\\\"b\" ,-1.5e3,true , false,null, {\"k\" : [ ] } ]",
			      "\"a\\\"b\"",
			      "-1.5e3",
			      "true",
			      "false",
			      "null",
			      "{\"k\" : [ ] }",
			      "\"k\"",
			      "[ ]"};
	struct cf_json j;
	CHECK_EQ_INT(parse(&j, T(doc)), 0);
	CHECK_EQ_INT(j.n, 9);
	for (int v = 0; v < 9 && v < (int) j.n; v++)
		span_is(&j, v, want[v]);
	/* the span points into the text itself */
	size_t len;
	CHECK(cf_json_span(&j, 1, &len) == doc + 3);
	cf_json_free(&j);
}

static void str_is(struct cf_json *j, int v, const char *want, size_t want_len)
{
	size_t len = 0;
	const char *s = cf_json_str(j, v, &len);
	CHECK(s != NULL);
	CHECK_EQ_INT(len, want_len);
	if (s && len == want_len) {
		CHECK(!memcmp(s, want, len));
		CHECK_EQ_INT(s[len], '\0');
	}
	CHECK(cf_json_str_eq(j, v, want, want_len));
	if (want_len) {
		CHECK(!cf_json_str_eq(j, v, want, want_len - 1));
		char *other = malloc(want_len);
		memcpy(other, want, want_len);
		other[want_len - 1] ^= 1;
		CHECK(!cf_json_str_eq(j, v, other, want_len));
		free(other);
	}
	char *longer = malloc(want_len + 1);
	memcpy(longer, want, want_len);
	longer[want_len] = 'x';
	CHECK(!cf_json_str_eq(j, v, longer, want_len + 1));
	free(longer);
}

static void test_strings(void)
{
	static const char doc[] = "[\"plain\", \"\", \"\\\"\\\\\\/\\b\\f\\n\\r\\t\","
				  "\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\", \"a\\u0000b\","
				  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\", \"\\u0000\","
				  "\"x\\u00e9y\\n\", \"\x7f\", \"\xf4\x8f\xbf\xbf\\uDBFF\\uDFFF\"]";
	struct cf_json j;
	CHECK_EQ_INT(parse(&j, T(doc)), 0);
	int e = cf_json_first(&j, 0);
	str_is(&j, e, T("plain"));
	e = cf_json_next(&j, 0, e);
	str_is(&j, e, T(""));
	e = cf_json_next(&j, 0, e);
	str_is(&j, e, T("\"\\/\b\f\n\r\t"));
	e = cf_json_next(&j, 0, e);
	str_is(&j, e, T("A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
	e = cf_json_next(&j, 0, e);
	str_is(&j, e, T("a\0b")); /* the NUL is kept, the length counts it */
	e = cf_json_next(&j, 0, e);
	str_is(&j, e, T("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"));
	e = cf_json_next(&j, 0, e);
	str_is(&j, e, T("\0"));
	e = cf_json_next(&j, 0, e);
	str_is(&j, e, T("x\xc3\xa9y\n"));
	e = cf_json_next(&j, 0, e);
	str_is(&j, e, T("\x7f"));
	e = cf_json_next(&j, 0, e);
	str_is(&j, e, T("\xf4\x8f\xbf\xbf\xf4\x8f\xbf\xbf"));
	CHECK_EQ_INT(cf_json_next(&j, 0, e), -1);

	/* not a string */
	size_t len = 7;
	CHECK(cf_json_str(&j, 0, &len) == NULL);
	CHECK(len != SIZE_MAX);
	CHECK(!cf_json_str_eq(&j, 0, "", 0));
	CHECK(!cf_json_str_eq(&j, cf_json_first(&j, 0), NULL, 5));
	cf_json_free(&j);

	/* keys with escapes are found by their decoded bytes */
	static const char obj[] =
	    "{\"\\u0061b\":1, \"c\\\"d\":2, \"\\u00e9\":3, \"\\ud83d\\ude00x\":4}";
	CHECK_EQ_INT(parse(&j, T(obj)), 0);
	int64_t x = 0;
	CHECK_EQ_INT(cf_json_int(&j, cf_json_get(&j, 0, "ab"), &x), 0);
	CHECK_EQ_INT(x, 1);
	CHECK_EQ_INT(cf_json_int(&j, cf_json_get(&j, 0, "c\"d"), &x), 0);
	CHECK_EQ_INT(x, 2);
	CHECK_EQ_INT(cf_json_int(&j, cf_json_get(&j, 0, "\xc3\xa9"), &x), 0);
	CHECK_EQ_INT(x, 3);
	CHECK_EQ_INT(cf_json_int(&j, cf_json_get(&j, 0, "\xf0\x9f\x98\x80x"), &x), 0);
	CHECK_EQ_INT(x, 4);
	CHECK_EQ_INT(cf_json_get(&j, 0, "\\u0061b"), -1);
	CHECK_EQ_INT(cf_json_get(&j, 0, "a"), -1);
	CHECK_EQ_INT(cf_json_get(&j, 0, "abc"), -1);
	cf_json_free(&j);
}

/* Decoded strings live in chunks that never move: pointers from early calls
 * stay valid (and unchanged) however many calls follow. */
static void test_arena(void)
{
	enum { N = 5000 };
	size_t cap = N * 64, off = 0;
	char *doc = malloc(cap);
	off += (size_t) snprintf(doc + off, cap - off, "[");
	for (int i = 0; i < N; i++)
		off += (size_t) snprintf(doc + off, cap - off, "%s\"s%d\\u00e9%0*d\"", i ? "," : "",
					 i, i % 30, 0);
	off += (size_t) snprintf(doc + off, cap - off, "]");
	struct cf_json j;
	CHECK_EQ_INT(parse(&j, doc, off), 0);
	const char **got = calloc(N, sizeof *got);
	int i = 0;
	for (int e = cf_json_first(&j, 0); e >= 0 && i < N; e = cf_json_next(&j, 0, e))
		got[i++] = cf_json_str(&j, e, NULL);
	CHECK_EQ_INT(i, N);
	int bad = 0;
	char want[64];
	for (i = 0; i < N; i++) {
		snprintf(want, sizeof want, "s%d\xc3\xa9%0*d", i, i % 30, 0);
		bad += !got[i] || strcmp(got[i], want);
	}
	CHECK_EQ_INT(bad, 0);
	/* asking again gives the same bytes (a copy or not) */
	CHECK_EQ_STR(cf_json_str(&j, 1, NULL), got[0]);
	free(got);
	cf_json_free(&j);
	free(doc);
}

static void test_refusals(void)
{
	refuses("", "empty");
	refuses(" \t\r\n", "empty");
	refuses("1 2", "end of the text expected");
	refuses("{} x", NULL);
	refuses("[1]]", NULL);
	refuses("nul", NULL);
	refuses("nulls", NULL);
	refuses("True", NULL);
	refuses("[1,]", NULL);
	refuses("{\"a\":1,}", NULL);
	refuses("[,1]", NULL);
	refuses("{,}", NULL);
	refuses("[1 2]", NULL);
	refuses("{\"a\" 1}", "':' expected");
	refuses("{\"a\":}", NULL);
	refuses("{1:2}", "key");
	refuses("{\"a\":1 \"b\":2}", NULL);
	refuses("01", "leading zero");
	refuses("-01", "leading zero");
	refuses("[00]", "leading zero");
	refuses("1.", "'.'");
	refuses("1.e5", NULL);
	refuses(".5", NULL);
	refuses("-", NULL);
	refuses("-a", NULL);
	refuses("+1", NULL);
	refuses("1e", "exponent");
	refuses("1e+", "exponent");
	refuses("0x10", NULL);
	refuses("Infinity", NULL);
	refuses("NaN", NULL);
	refuses("'a'", NULL);
	refuses("\"a\nb\"", "control character 0x0a in a string at byte 2");
	refuses("\"a\tb\"", "control character 0x09");
	refuses("\"\x01\"", "control character");
	refuses("\"a\0b\"", "control character 0x00");
	refuses("\"\\x\"", "invalid escape \\x");
	refuses("\"\\u12\"", "\\u escape");
	refuses("\"\\u12g4\"", "\\u escape");
	refuses("\"\\U0041\"", "invalid escape");
	refuses("\"\\", NULL);
	refuses("\"\\u00", NULL);
	refuses("\"\\ud800\"", "unpaired surrogate \\uD800");
	refuses("\"\\ud800x\"", "unpaired surrogate");
	refuses("\"\\ud800\\n\"", "unpaired surrogate");
	refuses("\"\\ud800\\u0041\"", "unpaired surrogate");
	refuses("\"\\ud800\\ud800\"", "unpaired surrogate");
	refuses("\"\\udc00\"", "unpaired surrogate \\uDC00");
	refuses("\"\\udfff\\ud800\"", "unpaired surrogate");
	refuses("\"\xc0\xaf\"", "invalid UTF-8 in a string at byte 1");
	refuses("\"\xc1\xbf\"", "invalid UTF-8");
	refuses("\"\xe0\x80\xaf\"", "invalid UTF-8");
	refuses("\"\xf0\x80\x80\xaf\"", "invalid UTF-8");
	refuses("\"\xed\xa0\x80\"", "invalid UTF-8");
	refuses("\"\xed\xbf\xbf\"", "invalid UTF-8");
	refuses("\"\xf4\x90\x80\x80\"", "invalid UTF-8");
	refuses("\"\xf5\x80\x80\x80\"", "invalid UTF-8");
	refuses("\"\xff\"", "invalid UTF-8");
	refuses("\"\x80\"", "invalid UTF-8");
	refuses("\"\xc3\"", "invalid UTF-8");
	refuses("\"\xc3", "invalid UTF-8");
	refuses("\"\xe2\x82\"", "invalid UTF-8");
	refuses("\"\xe2\x82", "invalid UTF-8");
	refuses("\"\xf0\x9f\x98\"", "invalid UTF-8");
	refuses("\"\xc3\x28\"", "invalid UTF-8");
	refuses("\"ok\" \xc3\xa9", NULL);
	refuses("\xc3\xa9", NULL);
	refuses("\xef\xbb\xbf{}", "byte order mark");
	refuses("\xef\xbb\xbf", "byte order mark");
	refuses("\"abc", "unterminated string at byte 0");
	refuses("\"abcdefghijklmnopqrstuvwxyz", "unterminated string");
	refuses("\"abc\\\"", "unterminated string");
	refuses("[1, 2", "unterminated array at byte 0");
	refuses("[", NULL);
	refuses("[1,", NULL);
	refuses(" {\"a\":1", "unterminated object at byte 1");
	refuses("{", NULL);
	refuses("{\"a\"", NULL);
	refuses("{\"a\":", NULL);
	refuses("]", NULL);
	refuses("}", NULL);
	refuses("1\0", NULL); /* jansson drops a NUL after a number or literal */
	refuses("[true\0]", NULL);
	refuses("\0", NULL);
	refuses("[1]\f", NULL); /* form feed is not JSON whitespace */
	refuses("\v1", NULL);
	refuses("{\"a\\u0000\":1}", "\\u0000"); /* jansson refuses NUL in a key too */
	refuses("{\"a\":1,\"a\":2}", "duplicate key \"a\" at byte 7");
	refuses("{\"a\":1,\"b\":2,\"a\":3}", "duplicate key \"a\"");
	refuses("{\"a\":1,\"\\u0061\":2}", "duplicate key \"a\" at byte 7");
	refuses("{\"\\u0061\":1,\"a\":2}", "duplicate key \"a\"");
	refuses("{\"\\u00e9\":1,\"\xc3\xa9\":2}", "duplicate key at byte"); /* not printed */
	refuses("{\"\\/\":1,\"/\":2}", "duplicate key \"/\"");
	refuses("{\"\":1,\"\":2}", "duplicate key \"\"");
	refuses("[{\"x\":{\"a\":1,\"a\":1}}]", "duplicate key");
	accepts("{\"a\":1,\"b\":{\"a\":1},\"c\":[{\"a\":1}]}"); /* another object's key */
	accepts("{\"a\":1,\"A\":1,\"a \":1,\"\\u0062\":1}");
	accepts("[\"a\", \"a\"]");

	/* refusals say where and never copy a raw byte of the text */
	refuses("[1, \xff]", "byte 0xff");
	refuses("[1, \x01]", "byte 0x01");
	refuses("[1, x]", "'x'");
}

/* Objects of more than 16 keys are checked with a table: no duplicate
 * missed (plain or escaped), none invented. */
static void test_large_objects(void)
{
	char doc[8192];
	for (int nkeys = 2; nkeys <= 300; nkeys += nkeys < 40 ? 1 : 37) {
		size_t off = 0;
		off += (size_t) snprintf(doc + off, sizeof doc - off, "{");
		for (int i = 0; i < nkeys; i++)
			off += (size_t) snprintf(doc + off, sizeof doc - off, "%s\"key%d\":%d",
						 i ? "," : "", i, i);
		size_t body = off;
		snprintf(doc + off, sizeof doc - off, "}");
		accepts_n(doc, off + 1);
		struct cf_json j;
		if (parse(&j, doc, off + 1) == 0) {
			CHECK_EQ_INT(cf_json_count(&j, 0), nkeys);
			int64_t x = -1;
			char key[32];
			snprintf(key, sizeof key, "key%d", nkeys - 1);
			CHECK_EQ_INT(cf_json_int(&j, cf_json_get(&j, 0, key), &x), 0);
			CHECK_EQ_INT(x, nkeys - 1);
			cf_json_free(&j);
		}
		/* the first key again, last */
		snprintf(doc + body, sizeof doc - body, ",\"key0\":0}");
		refuses_n(doc, strlen(doc), "duplicate key \"key0\"");
		/* a middle key again, escaped */
		snprintf(doc + body, sizeof doc - body, ",\"\\u006bey%d\":0}", nkeys / 2);
		refuses_n(doc, strlen(doc), "duplicate key");
		/* escaped but different */
		snprintf(doc + body, sizeof doc - body, ",\"\\u006bey%d\":0}", nkeys);
		accepts_n(doc, strlen(doc));
	}
}

/* depth times open, inner, depth times close, NUL-terminated */
static void nest(char *buf, int depth, const char *open, const char *inner, const char *close)
{
	size_t lo = strlen(open), li = strlen(inner), lc = strlen(close);
	for (int i = 0; i < depth; i++, buf += lo)
		memcpy(buf, open, lo);
	memcpy(buf, inner, li);
	buf += li;
	for (int i = 0; i < depth; i++, buf += lc)
		memcpy(buf, close, lc);
	*buf = '\0';
}

static void test_depth(void)
{
	char *buf = malloc(16 * (CF_JSON_DEPTH_MAX + 2));
	char *wrapped = malloc(16 * CF_JSON_DEPTH_MAX + 3);
	struct cf_json j;
	if (!buf || !wrapped)
		abort();
	nest(buf, CF_JSON_DEPTH_MAX, "[", "1", "]");
	CHECK_EQ_INT(parse(&j, buf, strlen(buf)), 0);
	CHECK_EQ_INT(j.n, CF_JSON_DEPTH_MAX + 1);
	cf_json_free(&j);
	nest(buf, CF_JSON_DEPTH_MAX, "{\"a\":", "[]", "}"); /* one container too many */
	refuses_n(buf, strlen(buf), "nested deeper than 2000");
	nest(buf, CF_JSON_DEPTH_MAX - 1, "{\"a\":", "[]", "}");
	CHECK_EQ_INT(parse(&j, buf, strlen(buf)), 0);
	cf_json_free(&j);
	nest(buf, CF_JSON_DEPTH_MAX + 1, "[", "", "]");
	refuses_n(buf, strlen(buf), "nested deeper than 2000");
	nest(buf, CF_JSON_DEPTH_MAX + 1, "[", "1", "]");
	refuses_n(buf, strlen(buf), "nested deeper");
	/* the depth is what is open: two branches of the maximum, one after the other */
	nest(buf, CF_JSON_DEPTH_MAX - 1, "[", "", "]");
	size_t half = strlen(buf);
	wrapped[0] = '[';
	memcpy(wrapped + 1, buf, half);
	wrapped[1 + half] = ',';
	memcpy(wrapped + 2 + half, buf, half);
	wrapped[2 + 2 * half] = ']';
	CHECK_EQ_INT(parse(&j, wrapped, 3 + 2 * half), 0);
	CHECK_EQ_INT(cf_json_count(&j, 0), 2);
	CHECK_EQ_INT(j.n, 1 + 2 * (CF_JSON_DEPTH_MAX - 1));
	cf_json_free(&j);
	free(wrapped);
	free(buf);
}

static void int_is(const char *text, int want_rc, int64_t want)
{
	struct cf_json j;
	int64_t x = 42;
	CHECK_EQ_INT(parse(&j, text, strlen(text)), 0);
	int rc = cf_json_int(&j, 0, &x);
	if (rc != want_rc)
		fprintf(stderr, "  cf_json_int(%s) = %d\n", text, rc);
	CHECK_EQ_INT(rc, want_rc);
	if (want_rc == 0)
		CHECK(x == want);
	else
		CHECK_EQ_INT(x, 42);
	cf_json_free(&j);
}

static void test_int(void)
{
	int_is("0", 0, 0);
	int_is("-0", 0, 0);
	int_is("7", 0, 7);
	int_is("-7", 0, -7);
	int_is("9223372036854775807", 0, INT64_MAX);
	int_is("9223372036854775808", -EINVAL, 0);
	int_is("9223372036854775817", -EINVAL, 0);
	int_is("18446744073709551616", -EINVAL, 0);
	int_is("99999999999999999999999999", -EINVAL, 0);
	int_is("-9223372036854775808", 0, INT64_MIN);
	int_is("-9223372036854775809", -EINVAL, 0);
	int_is("1e3", -EINVAL, 0);
	int_is("1E3", -EINVAL, 0);
	int_is("1.0", -EINVAL, 0);
	int_is("0.5", -EINVAL, 0);
	int_is("-1e-3", -EINVAL, 0);
	int_is("\"1\"", -EINVAL, 0);
	int_is("true", -EINVAL, 0);
	int_is("null", -EINVAL, 0);
	int_is("[1]", -EINVAL, 0);
}

/* Any index: negative, past the end, huge; and a zeroed document. */
static void test_indexes(void)
{
	struct cf_json j;
	CHECK_EQ_INT(parse(&j, T("{\"a\":[1,\"s\"]}")), 0);
	const int bad[] = {-1, -2, INT_MIN, (int) j.n, (int) j.n + 1, INT_MAX};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		int v = bad[i];
		size_t len = 5;
		int64_t x = 9;
		CHECK_EQ_INT(cf_json_type(&j, v), CF_J_ABSENT);
		CHECK(!cf_json_present(&j, v));
		CHECK_EQ_INT(cf_json_get(&j, v, "a"), -1);
		CHECK_EQ_INT(cf_json_count(&j, v), 0);
		CHECK_EQ_INT(cf_json_first(&j, v), -1);
		CHECK_EQ_INT(cf_json_next(&j, v, 0), -1);
		CHECK_EQ_INT(cf_json_next(&j, 0, v), -1);
		CHECK_EQ_INT(cf_json_next(&j, 2, v), -1);
		CHECK(cf_json_str(&j, v, &len) == NULL);
		CHECK(len != SIZE_MAX);
		CHECK(!cf_json_str_eq(&j, v, "a", 1));
		CHECK(cf_json_span(&j, v, &len) == NULL);
		CHECK_EQ_INT(len, 0);
		CHECK_EQ_INT(cf_json_int(&j, v, &x), -EINVAL);
		CHECK_EQ_INT(x, 9);
	}
	/* next with a child of another container, or the container itself */
	CHECK_EQ_INT(cf_json_next(&j, 2, 0), -1);
	CHECK_EQ_INT(cf_json_next(&j, 2, 2), -1);
	CHECK_EQ_INT(cf_json_next(&j, 2, 3), 4);
	CHECK_EQ_INT(cf_json_next(&j, 2, 4), -1);
	CHECK_EQ_INT(cf_json_next(&j, 0, 1), -1);
	CHECK_EQ_INT(cf_json_next(&j, 3, 4), -1); /* 3 is not a container */
	cf_json_free(&j);

	struct cf_json zero = {0};
	CHECK_EQ_INT(cf_json_type(&zero, 0), CF_J_ABSENT);
	CHECK_EQ_INT(cf_json_get(&zero, 0, "a"), -1);
	CHECK(cf_json_span(&zero, 0, NULL) == NULL);
	CHECK(cf_json_str(&zero, 0, NULL) == NULL);
	cf_json_free(&zero);
	cf_json_free(&zero);
}

static void test_why(void)
{
	struct cf_json j;
	char why[8];
	/* why may be NULL or tiny */
	CHECK_EQ_INT(cf_json_parse(&j, T("[1,]"), NULL, 0), -EPROTO);
	CHECK_EQ_INT(cf_json_parse(&j, T("[1,]"), why, 1), -EPROTO);
	CHECK_EQ_INT(why[0], '\0');
	CHECK_EQ_INT(cf_json_parse(&j, T("[1,]"), why, sizeof why), -EPROTO);
	CHECK_EQ_INT(strlen(why), sizeof why - 1);
	/* too long: refused before a byte is read */
	char big[256];
	CHECK_EQ_INT(cf_json_parse(&j, "[]", (size_t) CF_JSON_TEXT_MAX + 1, big, sizeof big),
		     -E2BIG);
	CHECK(!j.nodes && !j.n);
	/* a NULL text is only an empty one */
	CHECK_EQ_INT(cf_json_parse(&j, NULL, 0, big, sizeof big), -EPROTO);
	/* a long duplicate key is not printed whole */
	char doc[512];
	char key[201];
	memset(key, 'k', 200);
	key[200] = '\0';
	snprintf(doc, sizeof doc, "{\"%s\":1,\"%s\":2}", key, key);
	refuses_n(doc, strlen(doc), "duplicate key at byte 206");
}

/* The node array starts from an estimate and grows: a text of many tiny
 * values needs far more nodes than one per eight bytes. */
static void test_growth(void)
{
	enum { N = 100000 };
	char *doc = malloc(2 * N + 2);
	size_t off = 0;
	doc[off++] = '[';
	for (int i = 0; i < N; i++) {
		doc[off++] = '0';
		doc[off++] = ',';
	}
	doc[off - 1] = ']';
	struct cf_json j;
	CHECK_EQ_INT(parse(&j, doc, off), 0);
	CHECK_EQ_INT(j.n, N + 1);
	CHECK_EQ_INT(cf_json_count(&j, 0), N);
	cf_json_free(&j);
	free(doc);
}

/* The same verdict as jansson with the flags json.h names, on documents
 * where a reader is easily too lax or too strict. */
static void test_like_jansson(void)
{
	static const struct {
		const char *s;
		size_t n;
	} docs[] = {
#define D(s) {T(s)}
	    D("{}"),
	    D("[]"),
	    D("\"\""),
	    D("0"),
	    D("-0"),
	    D("-0.0e-0"),
	    D("1E+2"),
	    D("1e-400"),
	    D("[1,2,3]"),
	    D("{\"a\":{\"b\":[{}]}}"),
	    D(" \n\r\t[ \n\r\t] \n\r\t"),
	    D(""),
	    D(" "),
	    D("[1,]"),
	    D("[1 2]"),
	    D("{\"a\":1,}"),
	    D("{\"a\"}"),
	    D("{\"a\":1 , \"a\":1}"),
	    D("{\"a\":1,\"\\u0061\":1}"),
	    D("{\"a\\u0000\":1}"),
	    D("{\"\\u0000\":1}"),
	    D("[\"\\u0000\"]"),
	    D("01"),
	    D("-01"),
	    D("1."),
	    D(".1"),
	    D("-"),
	    D("--1"),
	    D("1e"),
	    D("1e+"),
	    D("1ee1"),
	    D("1.1.1"),
	    D("+1"),
	    D("0x1"),
	    D("[01]"),
	    D("[-]"),
	    D("[1e]"),
	    D("truefalse"),
	    D("true false"),
	    D("[true1]"),
	    D("nulll"),
	    D("\"\\x\""),
	    D("\"\\'\""),
	    D("\"\\u00\""),
	    D("\"\\uD834\\uDD1E\""),
	    D("\"\\uD834\""),
	    D("\"\\uDD1E\""),
	    D("\"\\uD834\\uD834\""),
	    D("\"\\uD834x\""),
	    D("\"\\uD834\\n\""),
	    D("\"\\uDBFF\\uDFFF\""),
	    D("\"\xc0\xaf\""),
	    D("\"\xc2\x80\""),
	    D("\"\xdf\xbf\""),
	    D("\"\xe0\x9f\xbf\""),
	    D("\"\xe0\xa0\x80\""),
	    D("\"\xed\x9f\xbf\""),
	    D("\"\xed\xa0\x80\""),
	    D("\"\xee\x80\x80\""),
	    D("\"\xef\xbf\xbf\""),
	    D("\"\xf0\x8f\xbf\xbf\""),
	    D("\"\xf0\x90\x80\x80\""),
	    D("\"\xf4\x8f\xbf\xbf\""),
	    D("\"\xf4\x90\x80\x80\""),
	    D("\"\xf8\x88\x80\x80\x80\""),
	    D("\"\xc3\""),
	    D("\"\xe2\x82\""),
	    D("\"\x80\""),
	    D("\"\xbf\""),
	    D("\"\xfe\""),
	    D("\"\x7f\""),
	    D("\"\x1f\""),
	    D("\"\t\""),
	    D("\"a\0\""),
	    D("[1]\0"),
	    D("\xef\xbb\xbf[]"),
	    D("\xc3\xa9"),
	    D("[\xc3\xa9]"),
	    D("[1]\f"),
	    D("\f[1]"),
	    D("\"abc"),
	    D("[\"a\",\"a\"]"),
	    D("{\"a\":[1,{\"b\":null,\"c\":false}],\"d\":\"\xe2\x82\xac\"}"),
	    D("[[[[[[[[[[]]]]]]]]]]"),
	    D("[[[[[[[[[[]]]]]]]]]"),
	    D("{\"a\":1}{"),
	    D("NaN"),
	    D("Infinity"),
	    D("-Infinity"),
	    D("'a'"),
	    D("[1,,2]"),
	    D("{\"a\"::1}"),
	    D("{:1}"),
	    D("{1:1}"),
	    D("{null:1}"),
#undef D
	};
	for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		struct cf_json j;
		json_error_t je;
		json_t *jv =
		    json_loadb(docs[i].s, docs[i].n,
			       JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
		int rc = cf_json_parse(&j, docs[i].s, docs[i].n, NULL, 0);
		if ((rc == 0) != (jv != NULL))
			fprintf(stderr, "  \"%.*s\": ours %d, jansson %s\n", (int) docs[i].n,
				docs[i].s, rc, jv ? "accepts" : je.text);
		CHECK((rc == 0) == (jv != NULL));
		json_decref(jv);
		cf_json_free(&j);
	}
}

int main(void)
{
	test_types();
	test_nested();
	test_spans();
	test_strings();
	test_arena();
	test_refusals();
	test_large_objects();
	test_depth();
	test_int();
	test_indexes();
	test_why();
	test_growth();
	test_like_jansson();
	return check_summary();
}
