/* model.c — kinds, collections, and the one grammar of resource paths.
 *
 * Everything that turns a name from outside into a path goes through here,
 * so the rules for what may become a directory entry live in one place. */
#include "model.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cf_resource_clear(struct cf_resource *r)
{
	if (!r)
		return;
	free(r->scope);
	free(r->name);
	free(r->id);
	free(r->status);
	free(r->fingerprint);
	for (size_t i = 0; i < r->nlabels; i++) {
		free(r->labels[i].key);
		free(r->labels[i].value);
	}
	free(r->labels);
	free(r->source);
	free(r->source_id);
	free(r->origin);
	for (size_t i = 0; i < r->nlinks; i++)
		free(r->links[i]);
	free(r->links);
	free(r->raw);
	memset(r, 0, sizeof *r);
}

static const struct {
	const char *name;
	const char *collection;
} kinds[CF_KIND__COUNT] = {
    [CF_KIND_SNAPSHOT] = {"snapshot", "snapshots"},
    [CF_KIND_IMAGE] = {"image", "images"},
    [CF_KIND_MACHINE_IMAGE] = {"machineImage", "machineImages"},
    [CF_KIND_DISK] = {"disk", "disks"},
    [CF_KIND_INSTANCE] = {"instance", "instances"},
    [CF_KIND_ZONE] = {"zone", NULL},
    [CF_KIND_REGION] = {"region", NULL},
};

const char *cf_kind_name(enum cf_kind k)
{
	return k > CF_KIND_NONE && k < CF_KIND__COUNT ? kinds[k].name : "none";
}

enum cf_kind cf_kind_from_name(const char *s)
{
	for (int k = 1; s && k < CF_KIND__COUNT; k++)
		if (!strcmp(s, kinds[k].name))
			return (enum cf_kind) k;
	return CF_KIND_NONE;
}

const char *cf_kind_collection(enum cf_kind k)
{
	return k > CF_KIND_NONE && k < CF_KIND__COUNT ? kinds[k].collection : NULL;
}

/* Length of the UTF-8 sequence starting at s (at most n bytes), or 0 when it
 * is not a valid, shortest-form, non-surrogate encoding. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t len;
	unsigned min;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2, min = 0x80;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3, min = 0x800;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4, min = 0x10000;
	else
		return 0;
	if (len > n)
		return 0;
	unsigned cp = c & (0x3f >> (len - 1));
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

int cf_name_is_safe(const char *name, size_t len)
{
	if (!name || len == 0 || len > CF_NAME_MAX)
		return 0;
	if ((len == 1 && name[0] == '.') || (len == 2 && name[0] == '.' && name[1] == '.'))
		return 0;
	const unsigned char *s = (const unsigned char *) name;
	for (size_t i = 0; i < len;) {
		if (s[i] < 0x20 || s[i] == 0x7f || s[i] == '/')
			return 0;
		size_t n = utf8_seq(s + i, len - i);
		if (!n)
			return 0;
		i += n;
	}
	return 1;
}

/* A scope: "global", "zones/NAME" or "regions/NAME" with a safe NAME. */
static bool scope_is_valid(const char *scope, enum cf_kind *scope_kind)
{
	const char *rest = NULL;
	if (!strcmp(scope, "global")) {
		*scope_kind = CF_KIND_NONE;
		return true;
	}
	if (!strncmp(scope, "zones/", 6))
		rest = scope + 6, *scope_kind = CF_KIND_ZONE;
	else if (!strncmp(scope, "regions/", 8))
		rest = scope + 8, *scope_kind = CF_KIND_REGION;
	return rest && cf_name_is_safe(rest, strlen(rest));
}

/* Which scopes a kind may live in. */
static bool kind_fits_scope(enum cf_kind k, enum cf_kind scope_kind)
{
	switch (k) {
	case CF_KIND_SNAPSHOT:
	case CF_KIND_IMAGE:
	case CF_KIND_MACHINE_IMAGE:
		return scope_kind == CF_KIND_NONE;
	case CF_KIND_DISK:
		return scope_kind == CF_KIND_ZONE || scope_kind == CF_KIND_REGION;
	case CF_KIND_INSTANCE:
		return scope_kind == CF_KIND_ZONE;
	default:
		return false;
	}
}

static const char *const listing_names[CF_LIST__COUNT] = {
    [CF_LIST_ZONES] = "zones",
    [CF_LIST_REGIONS] = "regions",
    [CF_LIST_DISKS] = "disks",
    [CF_LIST_INSTANCES] = "instances",
    [CF_LIST_SNAPSHOTS] = "snapshots",
    [CF_LIST_IMAGES] = "images",
    [CF_LIST_MACHINE_IMAGES] = "machineImages",
};

const char *cf_listing_name(enum cf_listing l)
{
	return (unsigned) l < CF_LIST__COUNT ? listing_names[l] : "unknown";
}

int cf_resource_path(enum cf_kind k, const char *scope, const char *name, char *buf, size_t size)
{
	enum cf_kind sk;
	const char *coll = cf_kind_collection(k);
	if (!coll || !scope || !name || !scope_is_valid(scope, &sk) || !kind_fits_scope(k, sk) ||
	    !cf_name_is_safe(name, strlen(name)))
		return -EINVAL;
	/* By hand rather than snprintf: the sync builds two of these per resource. */
	size_t ls = strlen(scope), lc = strlen(coll), ln = strlen(name), n = ls + lc + ln + 2;
	if (n >= size || n >= CF_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, scope, ls);
	buf[ls] = '/';
	memcpy(buf + ls + 1, coll, lc);
	buf[ls + 1 + lc] = '/';
	memcpy(buf + ls + lc + 2, name, ln + 1);
	return (int) n;
}

static int copy_out(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size)
		return -ENAMETOOLONG;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return 0;
}

int cf_path_parse(const char *path, enum cf_kind *kind, char *scope_out, size_t scope_size,
		  char *name_out, size_t name_size)
{
	if (!path)
		return -EINVAL;
	size_t plen = strlen(path);
	if (plen == 0 || plen >= CF_PATH_MAX)
		return -EINVAL;
	/* Split into at most four components: SCOPE[/SCOPENAME]/COLLECTION/NAME. */
	const char *c[5];
	size_t l[5];
	int n = 0;
	const char *p = path;
	while (n < 5) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t) (slash - p) : strlen(p);
		c[n] = p;
		l[n] = len;
		n++;
		if (!slash)
			break;
		p = slash + 1;
	}
	if (n == 5)
		return -EINVAL; /* too many components */
	const char *scope_end;
	int ci; /* index of the collection component */
	if (n == 3 && l[0] == 6 && !strncmp(c[0], "global", 6)) {
		ci = 1;
		scope_end = c[0] + l[0];
	} else if (n == 4 && ((l[0] == 5 && !strncmp(c[0], "zones", 5)) ||
			      (l[0] == 7 && !strncmp(c[0], "regions", 7)))) {
		if (!cf_name_is_safe(c[1], l[1]))
			return -EINVAL;
		ci = 2;
		scope_end = c[1] + l[1];
	} else {
		return -EINVAL;
	}
	if (!cf_name_is_safe(c[ci + 1], l[ci + 1]))
		return -EINVAL;
	enum cf_kind k = CF_KIND_NONE;
	for (int i = 1; i < CF_KIND__COUNT; i++) {
		const char *coll = kinds[i].collection;
		if (coll && strlen(coll) == l[ci] && !strncmp(coll, c[ci], l[ci]))
			k = (enum cf_kind) i;
	}
	enum cf_kind sk = ci == 1 ? CF_KIND_NONE : (c[0][0] == 'z' ? CF_KIND_ZONE : CF_KIND_REGION);
	if (k == CF_KIND_NONE || !kind_fits_scope(k, sk))
		return -EINVAL;
	if (kind)
		*kind = k;
	if (scope_out && copy_out(scope_out, scope_size, path, (size_t) (scope_end - path)))
		return -ENAMETOOLONG;
	if (name_out && copy_out(name_out, name_size, c[ci + 1], l[ci + 1]))
		return -ENAMETOOLONG;
	return 0;
}
