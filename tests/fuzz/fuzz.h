/* fuzz.h — what every libFuzzer target here shares: quiet logging, and the
 * promises a decoded resource keeps whatever the API sent (a name that is
 * one safe directory entry, paths that parse back into the layout, labels
 * within the provider's rules). A broken promise aborts, which libFuzzer
 * reports as a crash with the input that caused it. */
#ifndef CLONEFS_FUZZ_H
#define CLONEFS_FUZZ_H

#include "gce.h"
#include "layout.h"
#include "provider.h"
#include "json.h"
#include "log.h"
#include "model.h"
#include "names.h"
#include "provider.h"

#include <errno.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(cond)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz: %s:%d: broken promise: %s\n", __FILE__, __LINE__,   \
				#cond);                                                            \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static inline void fuzz_quiet(void)
{
	static int done;
	if (!done) {
		cf_log_init("fuzz", 0, 0, CF_LOG_ERR); /* no stderr, no syslog */
		cf_layout_use(&cf_gce_layout);
		done = 1;
	}
}

/* A NUL-terminated copy of the input, for the decoders that take strings. */
static inline char *fuzz_string(const unsigned char *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* No component of a project-relative path is "", "." or "..": it cannot
 * leave the mount. */
static inline void fuzz_check_path(const char *p)
{
	FUZZ_ASSERT(p && *p && *p != '/');
	for (const char *c = p; c;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t) (slash - c) : strlen(c);
		FUZZ_ASSERT(n > 0 && !(n == 1 && c[0] == '.') &&
			    !(n == 2 && c[0] == '.' && c[1] == '.'));
		c = slash ? slash + 1 : NULL;
	}
}

static inline void fuzz_check_resource_path(const char *p)
{
	enum cf_kind k;
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1];
	fuzz_check_path(p);
	FUZZ_ASSERT(cf_path_parse(p, &k, scope, sizeof scope, name, sizeof name) == 0);
}

/* The promises of a decoded resource. */
static inline void fuzz_check_resource(const struct cf_resource *r)
{
	char path[CF_PATH_MAX];
	FUZZ_ASSERT(r->kind > CF_KIND_NONE && r->kind < CF_KIND__COUNT);
	FUZZ_ASSERT(r->name && cf_name_is_safe(r->name, strlen(r->name)));
	FUZZ_ASSERT(r->scope);
	if (r->kind != CF_KIND_ZONE && r->kind != CF_KIND_REGION) {
		int n = cf_resource_path(r->kind, r->scope, r->name, path, sizeof path);
		FUZZ_ASSERT(n > 0);
		fuzz_check_resource_path(path);
	}
	if (r->source)
		fuzz_check_resource_path(r->source);
	if (r->origin)
		fuzz_check_resource_path(r->origin);
	FUZZ_ASSERT(r->nlinks <= CF_LINKS_MAX);
	for (size_t i = 0; i < r->nlinks; i++)
		fuzz_check_resource_path(r->links[i]);
	FUZZ_ASSERT(r->nlabels <= CF_LABELS_MAX);
	for (size_t i = 0; i < r->nlabels; i++) {
		const struct cf_label *l = &r->labels[i];
		FUZZ_ASSERT(l->key && l->value);
		/* printable (an xattr name "user.KEY" and its value), within the limits */
		size_t kl = strlen(l->key), vl = strlen(l->value);
		FUZZ_ASSERT(kl > 0 && kl <= CF_LABEL_BYTES_MAX && vl <= CF_LABEL_BYTES_MAX);
		FUZZ_ASSERT(cf_label_text_sane(l->key, kl, true) &&
			    cf_label_text_sane(l->value, vl, false));
		for (size_t j = 0; j < kl; j++)
			FUZZ_ASSERT((unsigned char) l->key[j] >= 0x20 && l->key[j] != 0x7f);
	}
	FUZZ_ASSERT(!r->raw || r->raw_len <= CF_RAW_MAX);
	/* resource.json, with its metadata values hidden, is still one JSON document */
	if (r->raw) {
		struct cf_json rj;
		char rwhy[160];
		int prc = cf_json_parse(&rj, r->raw, r->raw_len, rwhy, sizeof rwhy);
		FUZZ_ASSERT(prc == 0 || prc == -ENOMEM);
		if (prc == 0)
			cf_json_free(&rj);
	}
}

/* A decoded page: refused whole (err filled, nothing kept), or every item,
 * scope and the token kept its promises. */
static inline void fuzz_check_page(const struct cf_page *p, int rc, const struct cf_error *err)
{
	FUZZ_ASSERT(rc == 0 || rc == -EPROTO || rc == -EAGAIN || rc == -ENOMEM);
	if (rc) {
		FUZZ_ASSERT(p->n == 0 && !p->items && !p->next_token && !p->nscopes);
		FUZZ_ASSERT(err->message[0] && !strchr(err->message, '\n'));
		return;
	}
	for (size_t i = 0; i < p->n; i++)
		fuzz_check_resource(&p->items[i]);
	for (const char *t = p->next_token; t && *t; t++)
		FUZZ_ASSERT(*t >= 0x20 && *t < 0x7f);
	for (size_t i = 0; i < p->nscopes; i++) {
		const char *s = p->scopes[i];
		FUZZ_ASSERT(!strncmp(s, "zones/", 6) || !strncmp(s, "regions/", 8));
		fuzz_check_path(s);
		FUZZ_ASSERT(!strchr(strchr(s, '/') + 1, '/'));
	}
}

#endif
