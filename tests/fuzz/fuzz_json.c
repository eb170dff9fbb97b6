/* fuzz_json.c — lib/util/json.c against jansson (json_loadb with
 * JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY, the strictness
 * json.h promises): both accept or both refuse, except where json.h says they
 * differ — jansson refuses a number beyond int64 or a double (we accept it,
 * and then the same text with every number made 0 must please jansson), and
 * we refuse containers nested deeper than CF_JSON_DEPTH_MAX (jansson allows
 * 2048 values) — and jansson's lexer drops a NUL byte that follows a number
 * or a literal ("1\0" pleases it), which we refuse. When both accept, the trees agree node by node:
 * types, member counts, decoded strings, integers, every key found by cf_json_get, and every span
 * inside the text and (when short) parsing back to the same value. A refusal is -EPROTO with a
 * one-line printable reason. */
#include "fuzz.h"
#include "json.h"

#include <jansson.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

#define FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY)

/* Containers nested in v, v included. */
static int depth_of(json_t *v)
{
	int max = 0;
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			int d = depth_of(json_array_get(v, i));
			max = d > max ? d : max;
		}
		return max + 1;
	}
	if (json_is_object(v)) {
		const char *k;
		json_t *m;
		json_object_foreach(v, k, m)
		{
			int d = depth_of(m);
			max = d > max ? d : max;
		}
		return max + 1;
	}
	return 0;
}

static enum cf_jtype type_of(json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return CF_J_OBJECT;
	case JSON_ARRAY:
		return CF_J_ARRAY;
	case JSON_STRING:
		return CF_J_STRING;
	case JSON_INTEGER:
	case JSON_REAL:
		return CF_J_NUMBER;
	case JSON_TRUE:
		return CF_J_TRUE;
	case JSON_FALSE:
		return CF_J_FALSE;
	case JSON_NULL:
		return CF_J_NULL;
	}
	return CF_J_ABSENT;
}

/* The node's span: inside the text, starting and ending as its type says. */
static void check_span(const struct cf_json *j, int v)
{
	size_t len;
	const char *s = cf_json_span(j, v, &len);
	FUZZ_ASSERT(s && len > 0 && s >= j->text && s + len <= j->text + j->len);
	FUZZ_ASSERT(j->nodes[v].next > (uint32_t) v && j->nodes[v].next <= j->n);
	switch (cf_json_type(j, v)) {
	case CF_J_STRING:
		FUZZ_ASSERT(len >= 2 && s[0] == '"' && s[len - 1] == '"');
		break;
	case CF_J_ARRAY:
		FUZZ_ASSERT(len >= 2 && s[0] == '[' && s[len - 1] == ']');
		break;
	case CF_J_OBJECT:
		FUZZ_ASSERT(len >= 2 && s[0] == '{' && s[len - 1] == '}');
		break;
	case CF_J_NULL:
		FUZZ_ASSERT(len == 4 && !memcmp(s, "null", 4));
		break;
	case CF_J_TRUE:
		FUZZ_ASSERT(len == 4 && !memcmp(s, "true", 4));
		break;
	case CF_J_FALSE:
		FUZZ_ASSERT(len == 5 && !memcmp(s, "false", 5));
		break;
	case CF_J_NUMBER:
		FUZZ_ASSERT(s[0] == '-' || (s[0] >= '0' && s[0] <= '9'));
		FUZZ_ASSERT(s[len - 1] >= '0' && s[len - 1] <= '9');
		break;
	default:
		FUZZ_ASSERT(0);
	}
}

/* String node v decodes to what jansson holds. */
static void check_string(struct cf_json *j, int v, const char *want, size_t want_len)
{
	size_t len;
	const char *s = cf_json_str(j, v, &len);
	FUZZ_ASSERT(s && len == want_len && !memcmp(s, want, len) && s[len] == '\0');
	FUZZ_ASSERT(cf_json_str_eq(j, v, want, want_len));
	if (want_len)
		FUZZ_ASSERT(!cf_json_str_eq(j, v, want, want_len - 1));
}

static void compare(struct cf_json *j, int v, json_t *jv)
{
	check_span(j, v);
	FUZZ_ASSERT(cf_json_type(j, v) == type_of(jv));
	size_t slen;
	const char *span = cf_json_span(j, v, &slen);
	if (slen <= 512) {
		/* the span alone is the same value */
		json_error_t je;
		json_t *again = json_loadb(span, slen, FLAGS, &je);
		FUZZ_ASSERT(again && json_equal(again, jv));
		json_decref(again);
	}
	int64_t x;
	switch (json_typeof(jv)) {
	case JSON_STRING:
		check_string(j, v, json_string_value(jv), json_string_length(jv));
		break;
	case JSON_INTEGER:
		FUZZ_ASSERT(cf_json_int(j, v, &x) == 0 && x == json_integer_value(jv));
		break;
	case JSON_REAL:
		FUZZ_ASSERT(cf_json_int(j, v, &x) == -EINVAL);
		break;
	case JSON_ARRAY: {
		size_t i = 0;
		FUZZ_ASSERT(cf_json_count(j, v) == json_array_size(jv));
		for (int e = cf_json_first(j, v); e >= 0; e = cf_json_next(j, v, e), i++) {
			FUZZ_ASSERT(i < json_array_size(jv));
			compare(j, e, json_array_get(jv, i));
		}
		FUZZ_ASSERT(i == json_array_size(jv));
		break;
	}
	case JSON_OBJECT: {
		size_t i = 0;
		FUZZ_ASSERT(cf_json_count(j, v) == json_object_size(jv));
		for (int k = cf_json_first(j, v); k >= 0; k = cf_json_next(j, v, k), i++) {
			size_t klen;
			check_span(j, k);
			FUZZ_ASSERT(cf_json_type(j, k) == CF_J_STRING);
			const char *key = cf_json_str(j, k, &klen);
			FUZZ_ASSERT(key && strlen(key) == klen); /* no NUL in a key */
			json_t *m = json_object_getn(jv, key, klen);
			FUZZ_ASSERT(m);
			FUZZ_ASSERT(cf_json_get(j, v, key) == k + 1);
			compare(j, k + 1, m);
		}
		FUZZ_ASSERT(i == json_object_size(jv));
		break;
	}
	default:
		break;
	}
}

/* The text with every number node replaced by 0. */
static char *zero_numbers(const struct cf_json *j, size_t *len)
{
	char *out = malloc(j->len + 1);
	size_t o = 0, from = 0;
	if (!out)
		abort();
	for (uint32_t v = 0; v < j->n; v++) {
		if (j->nodes[v].type != CF_J_NUMBER)
			continue;
		memcpy(out + o, j->text + from, j->nodes[v].start - from);
		o += j->nodes[v].start - from;
		out[o++] = '0';
		from = j->nodes[v].start + j->nodes[v].len;
	}
	memcpy(out + o, j->text + from, j->len - from);
	*len = o + j->len - from;
	return out;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	const char *text = (const char *) data;
	struct cf_json j;
	char why[256];
	json_error_t je;

	fuzz_quiet();
	int rc = cf_json_parse(&j, text, size, why, sizeof why);
	json_t *jv = json_loadb(text, size, FLAGS, &je);

	if (rc) {
		FUZZ_ASSERT(rc == -EPROTO);
		FUZZ_ASSERT(!j.nodes && !j.n && !j.arena);
		FUZZ_ASSERT(strstr(why, " at byte "));
		for (const char *c = why; *c; c++)
			FUZZ_ASSERT(*c >= 0x20 && *c < 0x7f);
		/* the same verdict without a reason, or with a tiny buffer */
		char tiny[4];
		FUZZ_ASSERT(cf_json_parse(&j, text, size, NULL, 0) == rc);
		FUZZ_ASSERT(cf_json_parse(&j, text, size, tiny, sizeof tiny) == rc);
		FUZZ_ASSERT(strlen(tiny) < sizeof tiny);
		if (jv) {
			/* only a depth jansson allows and we do not, or a NUL byte
			 * right after a number or a literal, which jansson's lexer
			 * drops when it puts the byte back: without NULs we agree */
			int deep = depth_of(jv) > CF_JSON_DEPTH_MAX;
			if (memchr(text, '\0', size)) {
				size_t n = 0;
				char *s = malloc(size);
				if (!s)
					abort();
				for (size_t i = 0; i < size; i++)
					if (text[i])
						s[n++] = text[i];
				rc = cf_json_parse(&j, s, n, why, sizeof why);
				if (rc && !deep)
					fprintf(stderr,
						"fuzz_json: jansson accepts, we refuse: %s\n", why);
				FUZZ_ASSERT(rc == 0 || (deep && strstr(why, "nested deeper")));
				cf_json_free(&j);
				free(s);
			} else {
				if (!deep)
					fprintf(stderr,
						"fuzz_json: jansson accepts, we refuse: %s\n", why);
				FUZZ_ASSERT(deep && strstr(why, "nested deeper"));
			}
		}
		json_decref(jv);
		cf_json_free(&j);
		return 0;
	}

	FUZZ_ASSERT(j.n > 0 && j.nodes[0].next == j.n);
	if (!jv) {
		/* only a number jansson cannot hold: without numbers it agrees */
		if (!strstr(je.text, "too big") && !strstr(je.text, "overflow"))
			fprintf(stderr, "fuzz_json: we accept, jansson refuses: %s\n", je.text);
		FUZZ_ASSERT(strstr(je.text, "too big") || strstr(je.text, "overflow"));
		size_t zlen;
		char *zeroed = zero_numbers(&j, &zlen);
		jv = json_loadb(zeroed, zlen, FLAGS, &je);
		if (!jv)
			fprintf(stderr, "fuzz_json: numbers zeroed, jansson refuses: %s\n",
				je.text);
		FUZZ_ASSERT(jv);
		json_decref(jv);
		struct cf_json z;
		FUZZ_ASSERT(cf_json_parse(&z, zeroed, zlen, why, sizeof why) == 0);
		FUZZ_ASSERT(z.n == j.n);
		cf_json_free(&z);
		free(zeroed);
		cf_json_free(&j);
		return 0;
	}

	compare(&j, 0, jv);
	/* the document's span is the text without its surrounding space */
	size_t len;
	const char *s = cf_json_span(&j, 0, &len);
	for (const char *c = text; c < s; c++)
		FUZZ_ASSERT(*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r');
	for (const char *c = s + len; c < text + size; c++)
		FUZZ_ASSERT(*c == ' ' || *c == '\t' || *c == '\n' || *c == '\r');
	/* any index is safe */
	FUZZ_ASSERT(cf_json_type(&j, (int) j.n) == CF_J_ABSENT);
	FUZZ_ASSERT(cf_json_type(&j, -1) == CF_J_ABSENT);
	json_decref(jv);
	cf_json_free(&j);
	FUZZ_ASSERT(!j.nodes && !j.arena);
	return 0;
}
