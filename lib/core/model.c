/* model.c — kinds, collections, and the one grammar of resource paths.
 *
 * Everything that turns a name from outside into a path goes through here,
 * so the rules for what may become a directory entry live in one place. The
 * words (scopes, collections, kind names) are the installed layout's
 * (layout.h); their lengths and the scope each kind names are derived once,
 * at cf_layout_use, so building and parsing a path costs what it did. */
#include "model.h"

#include "layout.h"
#include "log.h"

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
	free(r->name_pref);
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

/* The installed layout and what is derived from it once (layout.h). */
static struct {
	const struct cf_layout *l;
	size_t dirlen[CF_LAYOUT_SCOPES_MAX];
	size_t collen[CF_KIND__COUNT];
	int named_by[CF_KIND__COUNT]; /* scope type a kind names, -1 */
	int home;		      /* the first fixed scope type, -1 */
} lay;

const struct cf_layout *cf_layout(void)
{
	return lay.l;
}

int cf_layout_use(const struct cf_layout *l)
{
	if (!l || !l->nscopes || l->nscopes > CF_LAYOUT_SCOPES_MAX)
		return -EINVAL;
	for (unsigned i = 0; i < l->nscopes; i++) {
		const struct cf_layout_scope *sc = &l->scopes[i];
		/* A fixed scope may be the mount root itself (""): its collections
		 * are then top-level directories (AWS: snapshots/, volumes/). */
		if (!sc->dir || (!*sc->dir && sc->kind != CF_KIND_NONE) || strchr(sc->dir, '/') ||
		    (sc->kind != CF_KIND_NONE && l->kinds[sc->kind].collection)) {
			cf_err("layout %s: scope %u is not a directory name", l->provider, i);
			return -EINVAL;
		}
	}
	for (int k = 1; k < CF_KIND__COUNT; k++) {
		const struct cf_layout_kind *lk = &l->kinds[k];
		bool fixed_only = true;
		for (unsigned i = 0; i < l->nscopes; i++)
			if (lk->scopes & (1u << i) && l->scopes[i].kind != CF_KIND_NONE)
				fixed_only = false;
		/* At the root, a collection must not meet the names the mount
		 * serves itself (.clonefs) or the store's trash ("trash/..."). */
		bool at_root = false;
		for (unsigned i = 0; i < l->nscopes; i++)
			if (lk->scopes & (1u << i) && !*l->scopes[i].dir)
				at_root = true;
		if (at_root && lk->collection &&
		    (!strcmp(lk->collection, "trash") || !strcmp(lk->collection, ".clonefs"))) {
			cf_err("layout %s: collection %s cannot be at the root", l->provider,
			       lk->collection);
			return -EINVAL;
		}
		if (!lk->name || (lk->collection && strchr(lk->collection, '/')) ||
		    (lk->scopes >> l->nscopes) || (lk->trashable && !fixed_only) ||
		    lk->listing >= CF_LIST__COUNT) {
			cf_err("layout %s: kind %d is inconsistent", l->provider, k);
			return -EINVAL;
		}
	}
	memset(&lay, 0, sizeof lay);
	lay.l = l;
	lay.home = -1;
	for (int k = 0; k < CF_KIND__COUNT; k++) {
		lay.collen[k] = l->kinds[k].collection ? strlen(l->kinds[k].collection) : 0;
		lay.named_by[k] = -1;
	}
	for (unsigned i = 0; i < l->nscopes; i++) {
		lay.dirlen[i] = strlen(l->scopes[i].dir);
		if (l->scopes[i].kind != CF_KIND_NONE)
			lay.named_by[l->scopes[i].kind] = (int) i;
		else if (lay.home < 0)
			lay.home = (int) i;
	}
	return 0;
}

const char *cf_kind_name(enum cf_kind k)
{
	return lay.l && k > CF_KIND_NONE && k < CF_KIND__COUNT ? lay.l->kinds[k].name : "none";
}

enum cf_kind cf_kind_from_name(const char *s)
{
	for (int k = 1; lay.l && s && k < CF_KIND__COUNT; k++)
		if (!strcmp(s, lay.l->kinds[k].name))
			return (enum cf_kind) k;
	return CF_KIND_NONE;
}

const char *cf_kind_collection(enum cf_kind k)
{
	return lay.l && k > CF_KIND_NONE && k < CF_KIND__COUNT ? lay.l->kinds[k].collection : NULL;
}

int cf_kind_listing(enum cf_kind k)
{
	return lay.l && k > CF_KIND_NONE && k < CF_KIND__COUNT ? lay.l->kinds[k].listing : -1;
}

bool cf_kind_trashable(enum cf_kind k)
{
	return lay.l && k > CF_KIND_NONE && k < CF_KIND__COUNT && lay.l->kinds[k].trashable;
}

int cf_scope_type_named_by(enum cf_kind k)
{
	return lay.l && k > CF_KIND_NONE && k < CF_KIND__COUNT ? lay.named_by[k] : -1;
}

const char *cf_kind_home(enum cf_kind k)
{
	if (!lay.l || k < CF_KIND_NONE || k >= CF_KIND__COUNT)
		return NULL;
	if (k == CF_KIND_NONE)
		return lay.home < 0 ? NULL : lay.l->scopes[lay.home].dir;
	for (unsigned i = 0; i < lay.l->nscopes; i++)
		if (lay.l->kinds[k].scopes & (1u << i) && lay.l->scopes[i].kind == CF_KIND_NONE)
			return lay.l->scopes[i].dir;
	return NULL;
}

unsigned cf_layout_sweep_of(enum cf_listing l, struct cf_layout_coll *out, unsigned max)
{
	unsigned n = 0;
	if (!lay.l)
		return 0;
	for (unsigned i = 0; i < lay.l->nscopes; i++) {
		if (lay.l->scopes[i].kind != CF_KIND_NONE && lay.l->scopes[i].listing == l &&
		    n < max)
			out[n++] = (struct cf_layout_coll){i, CF_KIND_NONE};
	}
	/* A listing's collections in each scope type, scope type by scope type. */
	for (unsigned i = 0; i < lay.l->nscopes; i++)
		for (int k = 1; k < CF_KIND__COUNT; k++)
			if (lay.l->kinds[k].collection && lay.l->kinds[k].listing == (int) l &&
			    lay.l->kinds[k].scopes & (1u << i) && n < max)
				out[n++] = (struct cf_layout_coll){i, (enum cf_kind) k};
	return n;
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

/* The scope type of scope[0..len): a fixed scope's directory, or a named
 * type's directory, '/' and a safe name; -1 otherwise. */
static int scope_type(const char *scope, size_t len)
{
	for (unsigned i = 0; lay.l && i < lay.l->nscopes; i++) {
		size_t dl = lay.dirlen[i];
		if (len < dl || memcmp(scope, lay.l->scopes[i].dir, dl))
			continue;
		if (lay.l->scopes[i].kind == CF_KIND_NONE) {
			if (len == dl)
				return (int) i;
		} else if (len > dl + 1 && scope[dl] == '/' &&
			   cf_name_is_safe(scope + dl + 1, len - dl - 1)) {
			return (int) i;
		}
	}
	return -1;
}

int cf_scope_type(const char *scope, size_t len)
{
	return scope ? scope_type(scope, len) : -1;
}

/* Whether kind k may live in scope type st. */
static bool kind_fits_scope(enum cf_kind k, int st)
{
	return st >= 0 && k > CF_KIND_NONE && k < CF_KIND__COUNT &&
	       (lay.l->kinds[k].scopes & (1u << st));
}

int cf_scope_path(enum cf_kind k, const char *name, char *buf, size_t size)
{
	int st = cf_scope_type_named_by(k);
	if (st < 0 || !name || !cf_name_is_safe(name, strlen(name)))
		return -EINVAL;
	int n = snprintf(buf, size, "%s/%s", lay.l->scopes[st].dir, name);
	return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : n;
}

enum cf_kind cf_collection_kind(const char *path, size_t len)
{
	if (!path)
		return CF_KIND_NONE;
	const char *slash = memrchr(path, '/', len);
	/* No '/': a collection of the root scope (""), when the layout has one. */
	int st = scope_type(path, slash ? (size_t) (slash - path) : 0);
	const char *c = slash ? slash + 1 : path;
	size_t cl = len - (size_t) (c - path);
	for (int k = 1; st >= 0 && k < CF_KIND__COUNT; k++)
		if (lay.l->kinds[k].collection && lay.collen[k] == cl &&
		    !memcmp(lay.l->kinds[k].collection, c, cl) &&
		    kind_fits_scope((enum cf_kind) k, st))
			return (enum cf_kind) k;
	return CF_KIND_NONE;
}

bool cf_listing_used(enum cf_listing l)
{
	return lay.l && (unsigned) l < CF_LIST__COUNT && lay.l->listings[l];
}

const char *cf_listing_name(enum cf_listing l)
{
	return lay.l && (unsigned) l < CF_LIST__COUNT && lay.l->listings[l] ? lay.l->listings[l]
									    : "unknown";
}

int cf_resource_path(enum cf_kind k, const char *scope, const char *name, char *buf, size_t size)
{
	const char *coll = cf_kind_collection(k);
	if (!coll || !scope || !name)
		return -EINVAL;
	size_t ls = strlen(scope);
	if (!kind_fits_scope(k, scope_type(scope, ls)) || !cf_name_is_safe(name, strlen(name)))
		return -EINVAL;
	/* By hand rather than snprintf: the sync builds two of these per resource.
	 * The root scope ("") adds no component and no '/'. */
	size_t sep = ls ? 1 : 0;
	size_t lc = lay.collen[k], ln = strlen(name), n = ls + sep + lc + ln + 1;
	if (n >= size || n >= CF_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(buf, scope, ls);
	if (sep)
		buf[ls] = '/';
	memcpy(buf + ls + sep, coll, lc);
	buf[ls + sep + lc] = '/';
	memcpy(buf + ls + sep + lc + 1, name, ln + 1);
	return (int) n;
}

int cf_collection_path(enum cf_kind k, const char *scope, char *buf, size_t size)
{
	const char *coll = cf_kind_collection(k);
	if (!coll || !scope)
		return -EINVAL;
	int n = snprintf(buf, size, "%s%s%s", scope, *scope ? "/" : "", coll);
	return n < 0 || (size_t) n >= size ? -ENAMETOOLONG : n;
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
	if (n == 5 || n < 2)
		return -EINVAL; /* [SCOPE[/SCOPENAME]/]COLLECTION/NAME */
	int ci = n - 2;		/* index of the collection component */
	const char *scope_end = ci ? c[ci - 1] + l[ci - 1] : path;
	int st = scope_type(path, (size_t) (scope_end - path));
	/* A fixed scope is one component (none at the root), a named one two. */
	int want = st < 0 ? -1 : lay.l->scopes[st].kind != CF_KIND_NONE ? 4 : ci ? 3 : 2;
	if (st < 0 || n != want || !cf_name_is_safe(c[ci + 1], l[ci + 1]))
		return -EINVAL;
	enum cf_kind k = CF_KIND_NONE;
	for (int i = 1; i < CF_KIND__COUNT; i++)
		if (lay.l->kinds[i].collection && lay.collen[i] == l[ci] &&
		    !memcmp(lay.l->kinds[i].collection, c[ci], l[ci]))
			k = (enum cf_kind) i;
	if (k == CF_KIND_NONE || !kind_fits_scope(k, st))
		return -EINVAL;
	if (kind)
		*kind = k;
	if (scope_out && copy_out(scope_out, scope_size, path, (size_t) (scope_end - path)))
		return -ENAMETOOLONG;
	if (name_out && copy_out(name_out, name_size, c[ci + 1], l[ci + 1]))
		return -ENAMETOOLONG;
	return 0;
}
