/* json.h — a strict, fast reader for the API's large JSON answers.
 *
 * A listing page is 350 KB of JSON and a first sync of 100,000 snapshots
 * reads 70 MB of it; a general-purpose DOM (jansson) spends more CPU there
 * than everything else the sync does. This reader makes one pass over the
 * text that validates all of it and records every value as a node in one
 * array, copying nothing: no allocation per value, strings are decoded only
 * when asked for, and a value's exact bytes (an item's resource.json) are a
 * span of the text.
 *
 * It accepts what jansson accepts with JSON_REJECT_DUPLICATES |
 * JSON_ALLOW_NUL | JSON_DECODE_ANY: RFC 8259 grammar, one value and nothing
 * but whitespace after it, valid UTF-8 (no overlong forms, no encoded
 * surrogates, nothing above U+10FFFF), escapes that pair surrogates, no
 * control character inside a string, no object with the same key twice
 * (compared after decoding). "\u0000" is allowed in a string value (a
 * decoded string may hold a NUL, so callers that want C strings check the
 * length), not in a key (as jansson). Three deliberate differences:
 * numbers are only checked against the grammar (cf_json_int converts, and
 * refuses what does not fit, where jansson refuses the whole text); at most
 * CF_JSON_DEPTH_MAX nested containers (jansson: 2048 nested values); a NUL
 * byte right after a number or a literal is refused (jansson drops it).
 *
 * Values are addressed by node index. Index 0 is the document's value; a
 * negative index means "absent" and every accessor accepts one, so lookups
 * chain without checks: cf_json_get(j, cf_json_get(j, 0, "a"), "b").
 *
 * The text must stay unchanged and alive while the document is used. A
 * document is not shared between threads while strings are decoded (the
 * arena is not locked). */
#ifndef CLONEFS_JSON_H
#define CLONEFS_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum cf_jtype {
	CF_J_ABSENT = 0, /* a negative index, or a member that is not there */
	CF_J_NULL,
	CF_J_FALSE,
	CF_J_TRUE,
	CF_J_NUMBER,
	CF_J_STRING,
	CF_J_ARRAY,
	CF_J_OBJECT,
};

enum {
	CF_JSON_DEPTH_MAX = 2000,   /* below jansson's limit: what it refuses, so do we */
	CF_JSON_TEXT_MAX = 1 << 30, /* longer texts are refused with -E2BIG */
};

/* One value. Private to json.c; here so a document can live on the stack. */
struct cf_jnode {
	uint8_t type;  /* enum cf_jtype */
	uint8_t flags; /* json.c's: e.g. a string holding escapes */
	uint16_t spare;
	uint32_t start; /* offset of its first byte (a string's opening quote) */
	uint32_t len;	/* bytes in the text, quotes and brackets included */
	uint32_t next;	/* index of the first node after this value's subtree */
};

struct cf_jarena; /* decoded strings, json.c's */

struct cf_json {
	const char *text;
	size_t len;
	struct cf_jnode *nodes;
	uint32_t n, cap;
	struct cf_jarena *arena;
};

/* Parse and validate text[0..len) into j (which need not be initialised).
 * 0; -EPROTO with a one-line reason in why ("invalid UTF-8 in a string at
 * byte 1234", "duplicate key \"name\" at byte 99", ...); -E2BIG when len >
 * CF_JSON_TEXT_MAX; -EINVAL for a NULL text; -ENOMEM. On failure j holds
 * nothing (cf_json_free is still allowed). why may be NULL. */
int cf_json_parse(struct cf_json *j, const char *text, size_t len, char *why, size_t why_size);

/* Free what the document holds (not the text). Safe on a zeroed or failed j. */
void cf_json_free(struct cf_json *j);

enum cf_jtype cf_json_type(const struct cf_json *j, int v);

/* Neither absent nor null. */
bool cf_json_present(const struct cf_json *j, int v);

/* The value of member `key` of object obj; -1 when obj is not an object or
 * has no such member. Keys are compared after decoding their escapes. */
int cf_json_get(const struct cf_json *j, int obj, const char *key);

/* Elements of an array, members of an object; 0 for anything else. It
 * walks the children: not for a loop's condition. */
size_t cf_json_count(const struct cf_json *j, int v);

/* Iteration over a container's children in text order. For an array the
 * children are its elements; for an object, its members' KEY nodes (the
 * member's value is key + 1). cf_json_first: the first child, or -1 when
 * empty or not a container; cf_json_next: the child after `at`, or -1.
 *	for (int k = cf_json_first(j, obj); k >= 0; k = cf_json_next(j, obj, k))
 *		use(cf_json_str(j, k, &len), k + 1);
 */
int cf_json_first(const struct cf_json *j, int v);
int cf_json_next(const struct cf_json *j, int container, int at);

/* A string value (or a key node), decoded, NUL-terminated, valid until
 * cf_json_free; *len (when not NULL) gets its length, which counts any
 * "\u0000" it holds. Each call copies into the arena. NULL when v is not a
 * string (*len = 0), or out of memory (*len = SIZE_MAX). */
const char *cf_json_str(struct cf_json *j, int v, size_t *len);

/* Whether string v (decoded) equals s[0..n). False when v is not a string.
 * Decodes nothing into the arena. */
bool cf_json_str_eq(const struct cf_json *j, int v, const char *s, size_t n);

/* The bytes of value v exactly as they stand in the text (a string with its
 * quotes, a container with its brackets); NULL when absent. */
const char *cf_json_span(const struct cf_json *j, int v, size_t *len);

/* An integral number (no fraction, no exponent) that fits in int64_t: 0, or
 * -EINVAL for anything else. */
int cf_json_int(const struct cf_json *j, int v, int64_t *out);

#endif
