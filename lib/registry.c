/* registry.c — the table of provider kinds (registry.h): a mount source's
 * scheme to the kind that builds its provider. */
#include "registry.h"

#include "aws.h"
#include "gce.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The first is the default, for a mount named without a SCHEME: source. */
static const struct cf_provider_kind *const kinds[] = {
    &cf_gce_kind,
    &cf_aws_kind,
};

const struct cf_provider_kind *cf_registry_by_source(const char *source, const char **rest)
{
	const char *colon = source ? strchr(source, ':') : NULL;
	if (!colon)
		return NULL;
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
		size_t n = strlen(kinds[i]->scheme);
		if ((size_t) (colon - source) == n && !memcmp(source, kinds[i]->scheme, n)) {
			if (rest)
				*rest = colon + 1;
			return kinds[i];
		}
	}
	return NULL;
}

const struct cf_provider_kind *cf_registry_default(void)
{
	return kinds[0];
}

static bool takes(const struct cf_provider_kind *k, const char *key, size_t len)
{
	for (const char *const *o = k->keys; o && *o; o++)
		if (strlen(*o) == len && !memcmp(*o, key, len))
			return true;
	return false;
}

bool cf_registry_takes(const char *key, size_t len)
{
	for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
		if (takes(kinds[i], key, len))
			return true;
	return false;
}

bool cf_registry_kind_takes(const struct cf_provider_kind *k, const char *key)
{
	return takes(k, key, strlen(key));
}

int cf_source_new(const struct cf_provider_kind *k, const char *scope_arg, const struct cf_kv *opts,
		  size_t n, bool read_only, struct cf_source **out, char *why, size_t why_size)
{
	*out = NULL;
	why[0] = '\0';
	struct cf_source *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->kind = k;
	int rc = k->configure(s, scope_arg, opts, n, read_only, why, why_size);
	if (rc) {
		cf_source_free(s);
		return rc;
	}
	*out = s;
	return 0;
}

char *cf_path_absolute(const char *path)
{
	char cwd[PATH_MAX];
	char *out;
	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof cwd))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

const char *cf_source_credentials(const struct cf_source *s)
{
	return s && s->kind->credentials ? s->kind->credentials(s) : NULL;
}

void cf_source_free(struct cf_source *s)
{
	if (!s)
		return;
	if (s->kind && s->kind->free)
		s->kind->free(s);
	free(s->scope);
	free(s->endpoint);
	free(s->cache_name);
	free(s);
}
