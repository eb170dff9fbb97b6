/* json.c — the reader json.h describes: one pass over the text that checks
 * all of it and appends one node per value, so the sync can read a 350 KB
 * listing page without the thousands of small allocations a DOM makes.
 *
 * The pass is a loop over a state (value, key, after a value, close) with an
 * explicit stack of the open containers, not recursion: the depth of a
 * hostile answer costs a bounded array, never the C stack. Strings are
 * scanned eight bytes at a time; only the bytes that need a decision (a
 * quote, a backslash, a control character, anything not ASCII) leave that
 * loop. An object's keys are checked for duplicates when it closes, when
 * they are all known and still in the cache.
 *
 * What is accepted is what jansson's json_loadb accepts with
 * JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY (tests/fuzz/
 * fuzz_json.c holds the two side by side) — a key holding "\u0000" is
 * refused as jansson does — with three differences: numbers are only
 * checked against the grammar (jansson refuses integers beyond int64 and
 * reals beyond a double; cf_json_int refuses them when asked), containers
 * nest CF_JSON_DEPTH_MAX deep, not jansson's 2048 values, and a NUL byte
 * right after a number or a literal is refused (jansson's lexer drops it
 * when it puts that byte back: it accepts "1\0"). */
#include "json.h"
#include "hash.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cf_jnode.flags */
enum {
	F_ESCAPES = 1, /* a string holding a backslash: decode before comparing */
	F_NUL = 2,     /* a string holding "\u0000" */
	F_REAL = 4,    /* a number with a fraction or an exponent */
};

/* Decoded strings: chunks chained from the newest, never moved or resized,
 * so a pointer cf_json_str returned stays valid until cf_json_free. */
struct cf_jarena {
	struct cf_jarena *next;
	size_t used, cap;
	char data[];
};

/* One key while an object's keys are checked for duplicates: its decoded
 * bytes (in the text, or in the parser's scratch buffer when escaped). */
struct key {
	const char *s;
	size_t len;
	uint32_t node;
};

struct parser {
	const unsigned char *text;
	size_t len;
	struct cf_jnode *nodes;
	size_t cap;
	char *why;
	size_t why_size;
	/* scratch for check_keys, kept across objects, freed at the end */
	struct key *keys;
	size_t keys_cap;
	char *dec;
	size_t dec_cap;
	uint32_t *table;
	size_t table_cap;
};

#if defined(__GNUC__)
#define LIKELY(x)   __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define LIKELY(x)   (x)
#define UNLIKELY(x) (x)
#endif

/* A one-line reason ending with the byte offset. The message is ours; of the
 * input it names at most one printable ASCII character or a hex byte. */
static int fail(struct parser *ps, const unsigned char *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct parser *ps, const unsigned char *at, const char *fmt, ...)
{
	char msg[160];
	va_list ap;
	if (!ps->why || !ps->why_size)
		return -EPROTO;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(ps->why, ps->why_size, "%s at byte %zu", msg, (size_t) (at - ps->text));
	return -EPROTO;
}

static int fail_nomem(struct parser *ps)
{
	if (ps->why && ps->why_size)
		snprintf(ps->why, ps->why_size, "out of memory");
	return -ENOMEM;
}

/* What stands at `at`, for a refusal: a printable character, or its hex. */
static int fail_unexpected(struct parser *ps, const unsigned char *at, const char *what)
{
	if (at == ps->text + ps->len)
		return fail(ps, at, "%s, not the end of the text", what);
	if (at == ps->text && ps->len >= 3 && !memcmp(at, "\xef\xbb\xbf", 3))
		return fail(ps, at, "a byte order mark (not allowed)");
	if (*at > 0x20 && *at < 0x7f)
		return fail(ps, at, "%s, not '%c'", what, *at);
	return fail(ps, at, "%s, not byte 0x%02x", what, *at);
}

static int is_digit(unsigned c)
{
	return c - '0' < 10;
}

static int hex_digit(unsigned c)
{
	if (c - '0' < 10)
		return (int) (c - '0');
	c |= 0x20;
	if (c - 'a' < 6)
		return (int) (c - 'a' + 10);
	return -1;
}

/* Four hex digits at p (which has at least four bytes), or -1. */
static long hex4(const unsigned char *p)
{
	int a = hex_digit(p[0]), b = hex_digit(p[1]), c = hex_digit(p[2]), d = hex_digit(p[3]);
	if ((a | b | c | d) < 0)
		return -1;
	return (long) a << 12 | b << 8 | c << 4 | d;
}

/* The end of one valid UTF-8 sequence starting at p (a byte >= 0x80), or
 * NULL: no overlong form, no encoded surrogate, nothing above U+10FFFF
 * (Unicode's table 3-7, byte by byte). */
static const unsigned char *utf8_next(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0], lo = 0x80, hi = 0xbf;
	size_t avail = (size_t) (end - p);
	if (c < 0xc2)
		return NULL; /* a continuation byte, or an overlong 2-byte lead */
	if (c < 0xe0)
		return avail >= 2 && (p[1] & 0xc0) == 0x80 ? p + 2 : NULL;
	if (c < 0xf0) {
		if (c == 0xe0)
			lo = 0xa0; /* overlong */
		else if (c == 0xed)
			hi = 0x9f; /* a surrogate */
		if (avail < 3 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80)
			return NULL;
		return p + 3;
	}
	if (c < 0xf5) {
		if (c == 0xf0)
			lo = 0x90; /* overlong */
		else if (c == 0xf4)
			hi = 0x8f; /* above U+10FFFF */
		if (avail < 4 || p[1] < lo || p[1] > hi || (p[2] & 0xc0) != 0x80 ||
		    (p[3] & 0xc0) != 0x80)
			return NULL;
		return p + 4;
	}
	return NULL;
}

/* Eight bytes at a time: a word with 0x80 set in the bytes that are '"',
 * '\\', below 0x20 or at least 0x80. A subtraction borrows only past a byte
 * that is itself flagged, so the lowest flagged byte is exact (the ones
 * above it may be false alarms, which the byte-wise code below sorts out). */
#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
static inline uint64_t special_bytes(uint64_t w)
{
	uint64_t quote = (w ^ (ONES * '"')) - ONES;	 /* 0x80 where a byte is '"' */
	uint64_t backslash = (w ^ (ONES * '\\')) - ONES; /* where one is '\\' */
	uint64_t control = w - ONES * 0x20;		 /* where one is below 0x20 */
	/* a byte >= 0x80 has its own 0x80, and is flagged whatever the rest */
	return (quote | backslash | control | w) & HIGHS;
}

static inline int needs_attention(unsigned c)
{
	return c == '"' || c == '\\' || c < 0x20 || c >= 0x80;
}

/* The string whose opening quote is at p: the byte after its closing quote,
 * or NULL with the reason in ps. *flags gets F_ESCAPES, F_NUL. */
static const unsigned char *scan_string(struct parser *ps, const unsigned char *p,
					const unsigned char *end, uint8_t *flags, int *rc)
{
	const unsigned char *open = p++;
	for (;;) {
		while (LIKELY(end - p >= 8)) {
			uint64_t w;
			memcpy(&w, p, 8);
			uint64_t m = special_bytes(w);
			if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
				p += __builtin_ctzll(m) >> 3;
#else
				while (!needs_attention(*p))
					p++;
#endif
				goto attention;
			}
			p += 8;
		}
		while (p < end && !needs_attention(*p))
			p++;
		if (p == end) {
			*rc = fail(ps, open, "unterminated string");
			return NULL;
		}
	attention:
		if (LIKELY(*p == '"'))
			return p + 1;
		if (*p == '\\') {
			const unsigned char *esc = p;
			*flags |= F_ESCAPES;
			if (end - p < 2) {
				*rc = fail(ps, open, "unterminated string");
				return NULL;
			}
			switch (p[1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				p += 2;
				continue;
			case 'u':
				break;
			default:
				if (p[1] > 0x20 && p[1] < 0x7f)
					*rc =
					    fail(ps, esc, "invalid escape \\%c in a string", p[1]);
				else
					*rc = fail(ps, esc, "invalid escape in a string");
				return NULL;
			}
			long u = end - p >= 6 ? hex4(p + 2) : -1;
			if (u < 0) {
				*rc = fail(ps, esc,
					   "invalid \\u escape (four hex digits) in a string");
				return NULL;
			}
			p += 6;
			if (u >= 0xd800 && u <= 0xdbff) {
				/* a high surrogate: the low one must follow at once */
				long lo =
				    end - p >= 6 && p[0] == '\\' && p[1] == 'u' ? hex4(p + 2) : -1;
				if (lo < 0xdc00 || lo > 0xdfff) {
					*rc = fail(ps, esc,
						   "unpaired surrogate \\u%04lX in a string", u);
					return NULL;
				}
				p += 6;
			} else if (u >= 0xdc00 && u <= 0xdfff) {
				*rc = fail(ps, esc, "unpaired surrogate \\u%04lX in a string", u);
				return NULL;
			} else if (u == 0) {
				*flags |= F_NUL;
			}
			continue;
		}
		if (*p < 0x20) {
			*rc = fail(ps, p, "control character 0x%02x in a string", *p);
			return NULL;
		}
		const unsigned char *q = utf8_next(p, end);
		if (!q) {
			*rc = fail(ps, p, "invalid UTF-8 in a string");
			return NULL;
		}
		p = q;
	}
}

/* Decode the (validated) inside of a string, s[0..n) without its quotes,
 * into out, which has room for n bytes: escapes never grow. Its length. */
static size_t decode(const unsigned char *s, size_t n, char *out)
{
	const unsigned char *end = s + n;
	char *o = out;
	while (s < end) {
		const unsigned char *bs = memchr(s, '\\', (size_t) (end - s));
		size_t plain = (size_t) ((bs ? bs : end) - s);
		memcpy(o, s, plain);
		o += plain;
		s += plain;
		if (!bs)
			break;
		unsigned long u;
		switch (s[1]) {
		case 'b':
			*o++ = '\b';
			s += 2;
			continue;
		case 'f':
			*o++ = '\f';
			s += 2;
			continue;
		case 'n':
			*o++ = '\n';
			s += 2;
			continue;
		case 'r':
			*o++ = '\r';
			s += 2;
			continue;
		case 't':
			*o++ = '\t';
			s += 2;
			continue;
		case 'u':
			u = (unsigned long) hex4(s + 2);
			s += 6;
			if (u >= 0xd800 && u <= 0xdbff) {
				u = 0x10000 + ((u - 0xd800) << 10) +
				    ((unsigned long) hex4(s + 2) - 0xdc00);
				s += 6;
			}
			break;
		default: /* '"', '\\', '/' */
			*o++ = (char) s[1];
			s += 2;
			continue;
		}
		if (u < 0x80) {
			*o++ = (char) u;
		} else if (u < 0x800) {
			*o++ = (char) (0xc0 | u >> 6);
			*o++ = (char) (0x80 | (u & 0x3f));
		} else if (u < 0x10000) {
			*o++ = (char) (0xe0 | u >> 12);
			*o++ = (char) (0x80 | (u >> 6 & 0x3f));
			*o++ = (char) (0x80 | (u & 0x3f));
		} else {
			*o++ = (char) (0xf0 | u >> 18);
			*o++ = (char) (0x80 | (u >> 12 & 0x3f));
			*o++ = (char) (0x80 | (u >> 6 & 0x3f));
			*o++ = (char) (0x80 | (u & 0x3f));
		}
	}
	return (size_t) (o - out);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
	size_t c = *cap ? *cap : 16;
	while (c < need)
		c *= 2;
	void *q = realloc(*p, c * size);
	if (!q)
		return -ENOMEM;
	*p = q;
	*cap = c;
	return 0;
}

/* A duplicate: name it when it is short printable ASCII, else only where. */
static int fail_duplicate(struct parser *ps, const struct key *k)
{
	const unsigned char *at = ps->text + ps->nodes[k->node].start;
	if (k->len > 40)
		return fail(ps, at, "duplicate key");
	for (size_t i = 0; i < k->len; i++)
		if ((unsigned char) k->s[i] < 0x20 || (unsigned char) k->s[i] > 0x7e ||
		    k->s[i] == '"' || k->s[i] == '\\')
			return fail(ps, at, "duplicate key");
	return fail(ps, at, "duplicate key \"%.*s\"", (int) k->len, k->s);
}

/* No two keys of object obj (just closed) equal after decoding: pairwise
 * when it has few (most objects, where a hash costs more than it saves), a
 * table when it has many. */
static int check_keys(struct parser *ps, uint32_t obj)
{
	const struct cf_jnode *nodes = ps->nodes;
	uint32_t end = nodes[obj].next;
	size_t count = 0, escaped = 0;
	for (uint32_t k = obj + 1; k < end; k = nodes[k + 1].next) {
		if (count == ps->keys_cap &&
		    grow((void **) &ps->keys, &ps->keys_cap, count + 1, sizeof *ps->keys))
			return fail_nomem(ps);
		struct key *key = &ps->keys[count++];
		key->s = (const char *) ps->text + nodes[k].start + 1;
		key->len = nodes[k].len - 2;
		key->node = k;
		if (nodes[k].flags & F_ESCAPES)
			escaped += key->len;
	}
	struct key *keys = ps->keys;
	if (count < 2)
		return 0;
	if (escaped) {
		/* rare: decode the escaped keys into one buffer, sized first so
		 * the pointers into it stay put */
		if (escaped > ps->dec_cap && grow((void **) &ps->dec, &ps->dec_cap, escaped, 1))
			return fail_nomem(ps);
		char *o = ps->dec;
		for (size_t i = 0; i < count; i++) {
			if (!(nodes[keys[i].node].flags & F_ESCAPES))
				continue;
			size_t n = decode((const unsigned char *) keys[i].s, keys[i].len, o);
			keys[i].s = o;
			keys[i].len = n;
			o += n;
		}
	}
	if (count <= 16) {
		for (size_t i = 1; i < count; i++)
			for (size_t k = 0; k < i; k++)
				if (keys[i].len == keys[k].len &&
				    !memcmp(keys[i].s, keys[k].s, keys[i].len))
					return fail_duplicate(ps, &keys[i]);
		return 0;
	}
	size_t size = 64;
	while (size < 2 * count)
		size *= 2;
	if (size > ps->table_cap &&
	    grow((void **) &ps->table, &ps->table_cap, size, sizeof *ps->table))
		return fail_nomem(ps);
	uint32_t *table = ps->table;
	memset(table, 0, size * sizeof *table);
	for (size_t i = 0; i < count; i++) {
		size_t h = (size_t) cf_hash64(keys[i].s, keys[i].len) & (size - 1);
		for (; table[h]; h = (h + 1) & (size - 1)) {
			const struct key *o = &keys[table[h] - 1];
			if (o->len == keys[i].len && !memcmp(o->s, keys[i].s, o->len))
				return fail_duplicate(ps, &keys[i]);
		}
		table[h] = (uint32_t) i + 1;
	}
	return 0;
}

static inline int is_space(unsigned c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

#define SKIP_SPACE()                                                                               \
	do {                                                                                       \
		while (p < end && UNLIKELY(*p <= ' ') && is_space(*p))                             \
			p++;                                                                       \
	} while (0)

/* A new node for the value starting at p, at the end of the array; its
 * index in v. */
#define NEW_NODE(t)                                                                                \
	do {                                                                                       \
		if (UNLIKELY(n == cap)) {                                                          \
			if (grow((void **) &ps->nodes, &ps->cap, n + 1, sizeof *nodes))            \
				return fail_nomem(ps);                                             \
			nodes = ps->nodes;                                                         \
			cap = ps->cap;                                                             \
		}                                                                                  \
		v = n++;                                                                           \
		nodes[v].type = (t);                                                               \
		nodes[v].flags = 0;                                                                \
		nodes[v].spare = 0;                                                                \
		nodes[v].start = (uint32_t) (p - text);                                            \
		nodes[v].next = n;                                                                 \
	} while (0)

/* The pass: on success the node count, else a negative errno. */
static long parse(struct parser *ps)
{
	const unsigned char *const text = ps->text, *const end = text + ps->len;
	const unsigned char *p = text, *q;
	struct cf_jnode *nodes = ps->nodes;
	size_t cap = ps->cap;
	uint32_t n = 0, v;
	/* the open containers: node index << 1 | 1 for an object */
	uint32_t stack[CF_JSON_DEPTH_MAX];
	int depth = 0, rc = 0;
	uint32_t top;

value:
	SKIP_SPACE();
	if (UNLIKELY(p == end)) {
		if (n == 0)
			return fail(ps, p, "no value (an empty text)");
		return fail(ps, p, "a value expected, not the end of the text");
	}
	switch (*p) {
	case '"':
		NEW_NODE(CF_J_STRING);
		q = scan_string(ps, p, end, &nodes[v].flags, &rc);
		if (!q)
			return rc;
		nodes[v].len = (uint32_t) (q - p);
		p = q;
		goto after;
	case '{':
	case '[':
		NEW_NODE(*p == '{' ? CF_J_OBJECT : CF_J_ARRAY);
		if (UNLIKELY(depth == CF_JSON_DEPTH_MAX))
			return fail(ps, p, "containers nested deeper than %d", CF_JSON_DEPTH_MAX);
		stack[depth++] = v << 1 | (*p == '{');
		p++;
		SKIP_SPACE();
		if (p < end && *p == (nodes[v].type == CF_J_OBJECT ? '}' : ']')) {
			p++;
			goto close;
		}
		if (nodes[v].type == CF_J_OBJECT)
			goto key;
		goto value;
	case '-':
	case '0':
	case '1':
	case '2':
	case '3':
	case '4':
	case '5':
	case '6':
	case '7':
	case '8':
	case '9':
		NEW_NODE(CF_J_NUMBER);
		q = p;
		if (*q == '-')
			q++;
		if (q < end && *q == '0') {
			q++;
			if (q < end && is_digit(*q))
				return fail(ps, p, "a number with a leading zero");
		} else if (q < end && is_digit(*q)) {
			do
				q++;
			while (q < end && is_digit(*q));
		} else {
			return fail(ps, q, "a digit expected after '-'");
		}
		if (q < end && *q == '.') {
			nodes[v].flags = F_REAL;
			if (++q == end || !is_digit(*q))
				return fail(ps, q, "a digit expected after '.' in a number");
			do
				q++;
			while (q < end && is_digit(*q));
		}
		if (q < end && (*q | 0x20) == 'e') {
			nodes[v].flags = F_REAL;
			if (++q < end && (*q == '+' || *q == '-'))
				q++;
			if (q == end || !is_digit(*q))
				return fail(ps, q, "a digit expected in a number's exponent");
			do
				q++;
			while (q < end && is_digit(*q));
		}
		nodes[v].len = (uint32_t) (q - p);
		p = q;
		goto after;
	case 't':
		if (end - p < 4 || memcmp(p, "true", 4))
			return fail_unexpected(ps, p, "a value expected");
		NEW_NODE(CF_J_TRUE);
		nodes[v].len = 4;
		p += 4;
		goto after;
	case 'f':
		if (end - p < 5 || memcmp(p, "false", 5))
			return fail_unexpected(ps, p, "a value expected");
		NEW_NODE(CF_J_FALSE);
		nodes[v].len = 5;
		p += 5;
		goto after;
	case 'n':
		if (end - p < 4 || memcmp(p, "null", 4))
			return fail_unexpected(ps, p, "a value expected");
		NEW_NODE(CF_J_NULL);
		nodes[v].len = 4;
		p += 4;
		goto after;
	default:
		return fail_unexpected(ps, p, "a value expected");
	}

key:
	/* p is past '{' or ',' and any space */
	if (UNLIKELY(p == end || *p != '"'))
		return fail_unexpected(ps, p, "a string (a key) expected");
	NEW_NODE(CF_J_STRING);
	q = scan_string(ps, p, end, &nodes[v].flags, &rc);
	if (!q)
		return rc;
	if (UNLIKELY(nodes[v].flags & F_NUL)) /* jansson refuses it too */
		return fail(ps, p, "a key holding \\u0000");
	nodes[v].len = (uint32_t) (q - p);
	p = q;
	SKIP_SPACE();
	if (UNLIKELY(p == end || *p != ':'))
		return fail_unexpected(ps, p, "':' expected after a key");
	p++;
	goto value;

after:
	/* p is past a complete value */
	SKIP_SPACE();
	if (UNLIKELY(depth == 0)) {
		if (p != end)
			return fail_unexpected(ps, p,
					       "the end of the text expected after the value");
		return n;
	}
	top = stack[depth - 1];
	if (UNLIKELY(p == end))
		return fail(ps, text + nodes[top >> 1].start, "unterminated %s",
			    top & 1 ? "object" : "array");
	if (top & 1) {
		if (LIKELY(*p == ',')) {
			p++;
			SKIP_SPACE();
			goto key;
		}
		if (*p == '}') {
			p++;
			goto close;
		}
		return fail_unexpected(ps, p, "',' or '}' expected in an object");
	}
	if (LIKELY(*p == ',')) {
		p++;
		goto value;
	}
	if (*p == ']') {
		p++;
		goto close;
	}
	return fail_unexpected(ps, p, "',' or ']' expected in an array");

close:
	/* p is past the closing bracket of the innermost container */
	top = stack[--depth];
	v = top >> 1;
	nodes[v].len = (uint32_t) (p - text) - nodes[v].start;
	nodes[v].next = n;
	if ((top & 1) && n - v > 3) { /* an object with two members or more */
		rc = check_keys(ps, v);
		if (rc)
			return rc;
	}
	goto after;
}

int cf_json_parse(struct cf_json *j, const char *text, size_t len, char *why, size_t why_size)
{
	struct parser ps = {
	    .text = (const unsigned char *) text,
	    .len = len,
	    .why = why,
	    .why_size = why_size,
	};
	memset(j, 0, sizeof *j);
	if (why && why_size)
		why[0] = '\0';
	if (len > CF_JSON_TEXT_MAX) {
		if (why && why_size)
			snprintf(why, why_size, "a text of %zu bytes, more than %d", len,
				 CF_JSON_TEXT_MAX);
		return -E2BIG;
	}
	if (!text && len)
		return -EINVAL;
	if (!text)
		ps.text = (const unsigned char *) "";
	/* a listing page holds about one value per 16 bytes: one allocation
	 * usually, a few doublings at worst */
	ps.cap = len / 8 + 16;
	ps.nodes = malloc(ps.cap * sizeof *ps.nodes);
	long rc = ps.nodes ? parse(&ps) : fail_nomem(&ps);
	free(ps.keys);
	free(ps.dec);
	free(ps.table);
	if (rc < 0) {
		free(ps.nodes);
		return (int) rc;
	}
	j->text = text;
	j->len = len;
	j->nodes = ps.nodes;
	j->n = (uint32_t) rc;
	j->cap = (uint32_t) ps.cap;
	return 0;
}

void cf_json_free(struct cf_json *j)
{
	if (!j)
		return;
	free(j->nodes);
	for (struct cf_jarena *a = j->arena, *next; a; a = next) {
		next = a->next;
		free(a);
	}
	memset(j, 0, sizeof *j);
}

static inline const struct cf_jnode *node(const struct cf_json *j, int v)
{
	return j && v >= 0 && (uint32_t) v < j->n ? &j->nodes[v] : NULL;
}

enum cf_jtype cf_json_type(const struct cf_json *j, int v)
{
	const struct cf_jnode *x = node(j, v);
	return x ? (enum cf_jtype) x->type : CF_J_ABSENT;
}

bool cf_json_present(const struct cf_json *j, int v)
{
	enum cf_jtype t = cf_json_type(j, v);
	return t != CF_J_ABSENT && t != CF_J_NULL;
}

/* Decoded string v equals s[0..n), one escape at a time, nothing stored. */
static bool str_eq(const struct cf_json *j, const struct cf_jnode *x, const char *s, size_t n)
{
	const unsigned char *r = (const unsigned char *) j->text + x->start + 1;
	size_t rlen = x->len - 2;
	if (!(x->flags & F_ESCAPES))
		return rlen == n && (!n || !memcmp(r, s, n));
	if (n > rlen)
		return false; /* escapes only shrink */
	const unsigned char *end = r + rlen;
	size_t at = 0;
	while (r < end) {
		const unsigned char *bs = memchr(r, '\\', (size_t) (end - r));
		size_t plain = (size_t) ((bs ? bs : end) - r);
		if (plain > n - at || memcmp(r, s + at, plain))
			return false;
		at += plain;
		r += plain;
		if (!bs)
			break;
		/* one escape (a surrogate pair is two): at most 12 bytes of
		 * text, at most 4 decoded; the text was validated */
		char buf[4];
		size_t elen = 2;
		if (r[1] == 'u') {
			long u = hex4(r + 2);
			elen = u >= 0xd800 && u <= 0xdbff ? 12 : 6;
		}
		size_t dlen = decode(r, elen, buf);
		if (dlen > n - at || memcmp(buf, s + at, dlen))
			return false;
		at += dlen;
		r += elen;
	}
	return at == n;
}

bool cf_json_str_eq(const struct cf_json *j, int v, const char *s, size_t n)
{
	const struct cf_jnode *x = node(j, v);
	if (!x || x->type != CF_J_STRING || (!s && n))
		return false;
	return str_eq(j, x, s, n);
}

int cf_json_get(const struct cf_json *j, int obj, const char *key)
{
	const struct cf_jnode *o = node(j, obj);
	if (!o || o->type != CF_J_OBJECT || !key)
		return -1;
	size_t n = strlen(key);
	const struct cf_jnode *nodes = j->nodes;
	for (uint32_t k = (uint32_t) obj + 1; k < o->next; k = nodes[k + 1].next)
		if (str_eq(j, &nodes[k], key, n))
			return (int) k + 1;
	return -1;
}

size_t cf_json_count(const struct cf_json *j, int v)
{
	const struct cf_jnode *x = node(j, v);
	size_t count = 0;
	if (!x || (x->type != CF_J_ARRAY && x->type != CF_J_OBJECT))
		return 0;
	uint32_t step = x->type == CF_J_OBJECT; /* an object steps over its values */
	for (uint32_t k = (uint32_t) v + 1; k < x->next; k = j->nodes[k + step].next)
		count++;
	return count;
}

int cf_json_first(const struct cf_json *j, int v)
{
	const struct cf_jnode *x = node(j, v);
	if (!x || (x->type != CF_J_ARRAY && x->type != CF_J_OBJECT) || x->next == (uint32_t) v + 1)
		return -1;
	return v + 1;
}

int cf_json_next(const struct cf_json *j, int container, int at)
{
	const struct cf_jnode *x = node(j, container);
	if (!x || (x->type != CF_J_ARRAY && x->type != CF_J_OBJECT) || at <= container ||
	    (uint32_t) at >= x->next)
		return -1;
	uint32_t step = x->type == CF_J_OBJECT;
	if ((uint32_t) at + step >= x->next)
		return -1;
	uint32_t next = j->nodes[(uint32_t) at + step].next;
	return next < x->next ? (int) next : -1;
}

/* Room for n bytes in the arena: a new chunk when the newest is full, each
 * twice the last up to 1 MB, never moved. */
static char *arena_alloc(struct cf_json *j, size_t n)
{
	struct cf_jarena *a = j->arena;
	if (!a || a->cap - a->used < n) {
		size_t cap = a ? a->cap * 2 : 4096;
		if (cap > (1u << 20))
			cap = 1u << 20;
		if (cap < n)
			cap = n;
		struct cf_jarena *b = malloc(sizeof *b + cap);
		if (!b)
			return NULL;
		b->next = a;
		b->used = 0;
		b->cap = cap;
		j->arena = a = b;
	}
	char *s = a->data + a->used;
	a->used += n;
	return s;
}

const char *cf_json_str(struct cf_json *j, int v, size_t *len)
{
	const struct cf_jnode *x = node(j, v);
	if (!x || x->type != CF_J_STRING) {
		if (len)
			*len = 0;
		return NULL;
	}
	const unsigned char *r = (const unsigned char *) j->text + x->start + 1;
	size_t rlen = x->len - 2, n = rlen;
	char *s = arena_alloc(j, rlen + 1);
	if (!s) {
		if (len)
			*len = SIZE_MAX;
		return NULL;
	}
	if (x->flags & F_ESCAPES) {
		n = decode(r, rlen, s);
		j->arena->used -= rlen - n; /* give back what the escapes saved */
	} else {
		memcpy(s, r, rlen);
	}
	s[n] = '\0';
	if (len)
		*len = n;
	return s;
}

const char *cf_json_span(const struct cf_json *j, int v, size_t *len)
{
	const struct cf_jnode *x = node(j, v);
	if (len)
		*len = x ? x->len : 0;
	return x ? j->text + x->start : NULL;
}

int cf_json_int(const struct cf_json *j, int v, int64_t *out)
{
	const struct cf_jnode *x = node(j, v);
	if (!x || x->type != CF_J_NUMBER || (x->flags & F_REAL))
		return -EINVAL;
	const unsigned char *p = (const unsigned char *) j->text + x->start, *end = p + x->len;
	bool neg = *p == '-';
	p += neg;
	/* the magnitude, against INT64_MAX or (negative) its successor */
	uint64_t limit = neg ? (uint64_t) INT64_MAX + 1 : (uint64_t) INT64_MAX, m = 0;
	for (; p < end; p++) {
		unsigned d = *p - '0';
		if (d > 9 || m > (limit - d) / 10)
			return -EINVAL;
		m = m * 10 + d;
	}
	if (out)
		*out =
		    neg ? (m == (uint64_t) INT64_MAX + 1 ? INT64_MIN : -(int64_t) m) : (int64_t) m;
	return 0;
}
