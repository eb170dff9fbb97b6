/* report.c — the figures of .clonefs/report (report.h), from one pass over the store.
 *
 * The pass keeps one small record per resource, its strings interned once (the paths some
 * resource names as its source or origin, label values), then everything else is arithmetic
 * over those records:
 * tallies by owner, group and source; the prune dry run per (source, kind), which orders a
 * source's copies newest first to count each one's newer READY siblings and then asks the
 * policy's own cf_policy_may_prune, as an rmdir would (the cache's view: rmdir reads the
 * API again before it acts); the lineage tree from every source / origin link. A resource's
 * own path is not kept: the store names every linked path first (cf_store_foreach_linked),
 * so a resource is linked by looking its path up, and the few paths the tree shows that
 * nothing links are read again by base. At a million snapshots the pass holds ~60 MB (it
 * held ~140 MB when every path was interned). Nothing here writes to the store or the
 * cloud. */
#include "report.h"

#include "hash.h"
#include "policy.h"
#include "provider.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const int64_t cf_report_age_bounds[CF_REPORT_AGES - 1] = {7 * 86400, 30 * 86400, 365 * 86400};
const char *const cf_report_age_names[CF_REPORT_AGES] = {"days", "weeks", "months", "older"};

#define NONE UINT32_MAX
enum { MAX_LEVEL = 12, CHILDREN_SHOWN = 5, TREE_ITEMS_MAX = 400 };

/* ---- interned strings: id -> text, text -> id ---- */

struct strtab {
	char *arena;
	size_t used, cap;
	uint32_t *off; /* id -> offset in arena */
	uint32_t n, nalloc;
	uint32_t *slots; /* open addressing: id + 1, 0 empty */
	size_t nslots;
	bool oom;
};

static const char *st_str(const struct strtab *t, uint32_t id)
{
	return id == NONE ? NULL : t->arena + t->off[id];
}

static bool st_grow_slots(struct strtab *t)
{
	size_t ns = t->nslots ? t->nslots * 2 : 1024;
	uint32_t *s = calloc(ns, sizeof *s);
	if (!s)
		return false;
	for (uint32_t id = 0; id < t->n; id++) {
		const char *str = t->arena + t->off[id];
		size_t i = cf_hash64(str, strlen(str)) & (ns - 1);
		while (s[i])
			i = (i + 1) & (ns - 1);
		s[i] = id + 1;
	}
	free(t->slots);
	t->slots = s;
	t->nslots = ns;
	return true;
}

/* The slot of s: its id + 1, or the empty slot where it would go. */
static size_t st_slot(const struct strtab *t, const char *s, size_t len)
{
	size_t i = cf_hash64(s, len) & (t->nslots - 1);
	for (; t->slots[i]; i = (i + 1) & (t->nslots - 1))
		if (!strcmp(t->arena + t->off[t->slots[i] - 1], s))
			break;
	return i;
}

/* The id of s when it is interned, else NONE. */
static uint32_t st_find(const struct strtab *t, const char *s)
{
	if (!s || !t->nslots)
		return NONE;
	size_t i = st_slot(t, s, strlen(s));
	return t->slots[i] ? t->slots[i] - 1 : NONE;
}

/* The id of s (NULL: NONE), added when new; NONE when out of memory (t->oom set). */
static uint32_t st_id(struct strtab *t, const char *s)
{
	if (!s || t->oom)
		return NONE;
	size_t len = strlen(s);
	if ((t->n + 1) * 2 > t->nslots && !st_grow_slots(t))
		goto oom;
	size_t i = st_slot(t, s, len);
	if (t->slots[i])
		return t->slots[i] - 1;
	if (t->used + len + 1 > UINT32_MAX)
		goto oom; /* offsets are 32-bit: 4 GB of distinct strings is not a project */
	if (t->n == t->nalloc) {
		uint32_t na = t->nalloc ? t->nalloc * 2 : 1024;
		uint32_t *o = realloc(t->off, na * sizeof *o);
		if (!o)
			goto oom;
		t->off = o;
		t->nalloc = na;
	}
	if (t->used + len + 1 > t->cap) {
		size_t nc = t->cap ? t->cap : 1 << 16;
		while (nc < t->used + len + 1)
			nc *= 2;
		char *a = realloc(t->arena, nc);
		if (!a)
			goto oom;
		t->arena = a;
		t->cap = nc;
	}
	memcpy(t->arena + t->used, s, len + 1);
	t->off[t->n] = (uint32_t) t->used;
	t->used += len + 1;
	t->slots[i] = t->n + 1;
	return t->n++;
oom:
	t->oom = true;
	return NONE;
}

/* ---- per-resource records ---- */

enum {
	N_TRASHED = 1 << 0,
	N_PROTECTED = 1 << 1,
	N_READY = 1 << 2,    /* READY, or no status at all (the engine's is_ready) */
	N_STEP = 1 << 3,     /* its lineage parent is its source: one level deeper */
	N_AT_QUOTA = 1 << 4, /* clones of one kind >= max_per_source (after the pass) */
	N_LINKED = 1 << 5, /* the node of its sid (after the pass; of two at one path, the last) */
};

/* One per resource: 56 bytes, a million of them in every pass at that size. */
struct node {
	uint64_t base; /* its directory's inode base: where the tree shows it, its path */
	int64_t created;
	uint64_t stored;
	uint32_t created_ns;
	uint32_t sid;		 /* its path's string id when something names it, else NONE */
	uint32_t parent, source; /* string ids */
	uint32_t up;		 /* after the pass: the parent's node index, NONE */
	int16_t label_depth;	 /* clonefs-depth, -1 when absent */
	int16_t depth;		 /* after the pass: -1 not yet known, -2 being computed */
	uint8_t kind, flags;
};

/* Of a node something names (by its sid), in the lineage. */
struct par {
	uint32_t first, nkids; /* children in kids[first..] */
	uint32_t desc, clones;
};

struct cf_report_priv {
	struct strtab st;
	char **owned; /* strdup'd details */
	size_t nowned;
};

struct tally {
	uint32_t *row_of; /* string id -> row + 1 */
	size_t nrow_of;
	struct cf_report_row *rows;
	uint32_t *ids; /* row -> string id */
	size_t n, cap;
	struct cf_report_row none; /* resources without the label */
	bool none_used;
};

struct build {
	const struct cf_report_config *cfg;
	struct cf_report *rep;
	struct strtab *st;
	struct node *nodes;
	size_t n, cap;
	struct par *par; /* by sid (lineage) */
	uint8_t *is_ref; /* string id -> named as a source or origin (grown at the end) */
	uint32_t *ref_ids;
	size_t nref, refcap;
	struct tally owner, group, source;
	uint64_t unl_seen;
	int err;
};

static struct cf_report_row *tally_row(struct tally *t, uint32_t id)
{
	if (id == NONE) {
		t->none_used = true;
		return &t->none;
	}
	if (id >= t->nrow_of) {
		size_t nn = t->nrow_of ? t->nrow_of : 256;
		while (nn <= id)
			nn *= 2;
		uint32_t *r = realloc(t->row_of, nn * sizeof *r);
		if (!r)
			return NULL;
		memset(r + t->nrow_of, 0, (nn - t->nrow_of) * sizeof *r);
		t->row_of = r;
		t->nrow_of = nn;
	}
	if (!t->row_of[id]) {
		if (t->n == t->cap) {
			size_t nc = t->cap ? t->cap * 2 : 64;
			struct cf_report_row *rows = realloc(t->rows, nc * sizeof *rows);
			if (!rows)
				return NULL;
			t->rows = rows;
			uint32_t *ids = realloc(t->ids, nc * sizeof *ids);
			if (!ids)
				return NULL;
			t->ids = ids;
			t->cap = nc;
		}
		memset(&t->rows[t->n], 0, sizeof t->rows[t->n]);
		t->ids[t->n] = id;
		t->row_of[id] = (uint32_t) ++t->n;
	}
	return &t->rows[t->row_of[id] - 1];
}

static void tally_free(struct tally *t)
{
	free(t->row_of);
	free(t->rows);
	free(t->ids);
}

static const char *label_of(const struct cf_resource *r, const char *key)
{
	for (size_t i = 0; key && i < r->nlabels; i++)
		if (r->labels[i].key && !strcmp(r->labels[i].key, key))
			return r->labels[i].value ? r->labels[i].value : "";
	return NULL;
}

static bool clone_kind(enum cf_kind k)
{
	return k == CF_KIND_SNAPSHOT || k == CF_KIND_IMAGE || k == CF_KIND_MACHINE_IMAGE;
}

static int age_bucket(int64_t age)
{
	for (int i = 0; i < CF_REPORT_AGES - 1; i++)
		if (age < cf_report_age_bounds[i])
			return i;
	return CF_REPORT_AGES - 1;
}

static char *own(struct build *b, const char *s)
{
	struct cf_report_priv *p = b->rep->priv;
	char *d = strdup(s ? s : "");
	char **o = d ? realloc(p->owned, (p->nowned + 1) * sizeof *o) : NULL;
	if (!o) {
		free(d);
		b->err = -ENOMEM;
		return NULL;
	}
	p->owned = o;
	o[p->nowned++] = d;
	return d;
}

static void add_ref(struct build *b, const char *path)
{
	uint32_t id = st_id(b->st, path);
	if (id == NONE)
		return;
	if (b->nref == b->refcap) {
		size_t nc = b->refcap ? b->refcap * 2 : 1024;
		uint32_t *r = realloc(b->ref_ids, nc * sizeof *r);
		if (!r) {
			b->err = -ENOMEM;
			return;
		}
		b->ref_ids = r;
		b->refcap = nc;
	}
	b->ref_ids[b->nref++] = id;
}

/* ---- the pass ---- */

/* A path something names: interned before the resources come (cf_store_foreach_linked). */
static int linked(void *ctx, const char *path, size_t len)
{
	struct build *b = ctx;
	char buf[CF_PATH_MAX];
	if (len >= sizeof buf)
		return 0;
	memcpy(buf, path, len);
	buf[len] = '\0';
	if (st_id(b->st, buf) == NONE) {
		b->err = -ENOMEM;
		return 1;
	}
	return 0;
}

static int one(void *ctx, uint64_t base, const char *path, const struct cf_resource *r)
{
	struct build *b = ctx;
	struct cf_report *rep = b->rep;
	const struct cf_policy *p = b->cfg->policy;
	if ((unsigned) r->kind >= CF_KIND__COUNT || r->kind == CF_KIND_NONE)
		return 0;
	if (b->n == b->cap) {
		size_t nc = b->cap ? b->cap * 2 : 4096;
		struct node *nn = realloc(b->nodes, nc * sizeof *nn);
		if (!nn) {
			b->err = -ENOMEM;
			return 1;
		}
		b->nodes = nn;
		b->cap = nc;
	}
	struct node *n = &b->nodes[b->n];
	memset(n, 0, sizeof *n);
	n->kind = (uint8_t) r->kind;
	n->created = r->created;
	n->created_ns = r->created_ns;
	/* stored bytes as du counts them: st_blocks is the stored bytes in 512-byte blocks,
	 * rounded up (store_write.c) */
	uint64_t stored = r->stored_bytes / 512 * 512 + (r->stored_bytes % 512 ? 512 : 0);
	n->stored = stored;
	n->base = base;
	n->sid = st_find(b->st, path);
	n->source = st_id(b->st, r->source);
	uint32_t owner = st_id(b->st, label_of(r, "owner"));
	uint32_t group = st_id(b->st, label_of(r, p->report.group_by));
	n->label_depth = -1;
	const char *ld = label_of(r, "clonefs-depth");
	if (ld && *ld) {
		char *end;
		unsigned long v = strtoul(ld, &end, 10);
		if (!*end && v < 1000)
			n->label_depth = (int16_t) v;
	}
	/* The lineage parent, as the engine's depth_of walks it. */
	const char *up = NULL;
	if (r->kind == CF_KIND_SNAPSHOT || r->kind == CF_KIND_MACHINE_IMAGE)
		up = r->source, n->flags |= N_STEP;
	else if (r->kind == CF_KIND_IMAGE)
		up = r->origin ? r->origin : r->source, n->flags |= r->origin ? 0 : N_STEP;
	else if (r->kind == CF_KIND_DISK || r->kind == CF_KIND_INSTANCE)
		up = r->origin;
	n->parent = st_id(b->st, up);
	/* Whatever names a resource as its source or origin keeps it from a prune (EBUSY). */
	if (r->source)
		add_ref(b, r->source);
	if (r->origin)
		add_ref(b, r->origin);
	bool trashed = clone_kind(r->kind) && label_of(r, CF_TRASH_LABEL);
	if (trashed)
		n->flags |= N_TRASHED;
	if (label_of(r, p->prune.protect_label))
		n->flags |= N_PROTECTED;
	enum cf_state s = cf_provider_state(b->cfg->provider, r->kind, r->status);
	if (s == CF_STATE_NONE || s == CF_STATE_READY)
		n->flags |= N_READY;
	if (b->st->oom) {
		b->err = -ENOMEM;
		return 1;
	}
	b->n++;

	rep->resources++;
	rep->count[r->kind]++;
	rep->stored[r->kind] += stored;
	rep->total_stored += stored;

	/* Spend: every resource, the trash's too (billed until deleted). */
	struct cf_report_row *ro = tally_row(&b->owner, owner);
	struct cf_report_row *rg = tally_row(&b->group, group);
	struct cf_report_row *rs = clone_kind(r->kind) ? tally_row(&b->source, n->source) : NULL;
	if (!ro || !rg || (clone_kind(r->kind) && !rs)) {
		b->err = -ENOMEM;
		return 1;
	}
	ro->count++, ro->stored += stored;
	rg->count++, rg->stored += stored;
	if (rs)
		rs->count++, rs->stored += stored;

	if (trashed) {
		rep->trash_count++;
		rep->trash_stored += stored;
		if (rep->ntrash < CF_REPORT_LIST_MAX) {
			struct cf_report_path *t = &rep->trash[rep->ntrash];
			const char *v = label_of(r, CF_TRASH_LABEL);
			char mid[CF_MOUNT_ID_LEN + 1], rid[CF_LABEL_VALUE_MAX + 1];
			int64_t at = 0;
			if (cf_trash_value_parse(v, &at, mid, rid, sizeof rid) == 0)
				t->ours = b->cfg->mount_id && !strcmp(mid, b->cfg->mount_id);
			else
				at = 0;
			t->kind = r->kind;
			t->at = at;
			t->stored = stored;
			t->detail = own(b, v);
			t->path = own(b, path);
			rep->ntrash++;
		} else {
			rep->trash_more++;
		}
		return b->err ? 1 : 0;
	}

	/* Age: the copies, stacked by owner. */
	if (clone_kind(r->kind)) {
		int64_t age =
		    r->created > 0 && b->cfg->now > r->created ? b->cfg->now - r->created : 0;
		int bk = age_bucket(age);
		rep->aged++;
		rep->age_total[bk]++;
		ro->age[bk]++;
	}

	/* Unlabeled. */
	char missing[256];
	if (cf_policy_missing_labels(p, r, missing, sizeof missing) > 0) {
		rep->unlabeled[r->kind]++;
		rep->unlabeled_total++;
		if (rep->nunl < CF_REPORT_LIST_MAX) {
			struct cf_report_path *u = &rep->unl[rep->nunl++];
			u->kind = r->kind;
			u->stored = stored;
			u->detail = own(b, missing);
			u->path = own(b, path);
		} else {
			rep->unl_more++;
		}
	}
	return b->err ? 1 : 0;
}

/* ---- tallies into lists ---- */

static int row_cmp(const void *a, const void *b)
{
	const struct cf_report_row *x = a, *y = b;
	if (x->stored != y->stored)
		return x->stored < y->stored ? 1 : -1;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static int count_cmp(const void *a, const void *b)
{
	const struct cf_report_row *x = a, *y = b;
	uint64_t cx = 0, cy = 0;
	for (int i = 0; i < CF_REPORT_AGES; i++)
		cx += x->age[i], cy += y->age[i];
	if (cx != cy)
		return cx < cy ? 1 : -1;
	return strcmp(x->name ? x->name : "", y->name ? y->name : "");
}

static void add_row(struct cf_report_row *to, const struct cf_report_row *r)
{
	to->count += r->count;
	to->stored += r->stored;
	for (int i = 0; i < CF_REPORT_AGES; i++)
		to->age[i] += r->age[i];
}

/* The tally's rows (the "no label" one included, name NULL), largest first (by_age: the most
 * copies in the histogram), the first max of them kept, the rest summed. */
static int to_list(struct build *b, struct tally *t, struct cf_report_list *out, size_t max,
		   bool by_age)
{
	size_t n = t->n + (t->none_used ? 1 : 0);
	struct cf_report_row *all = calloc(n ? n : 1, sizeof *all);
	if (!all)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		all[i] = t->rows[i];
		all[i].name = st_str(b->st, t->ids[i]);
	}
	if (t->none_used)
		all[t->n] = t->none; /* name NULL */
	size_t used = 0;
	if (by_age) { /* only the rows with copies in the histogram */
		for (size_t i = 0; i < n; i++) {
			uint64_t c = 0;
			for (int k = 0; k < CF_REPORT_AGES; k++)
				c += all[i].age[k];
			if (c)
				all[used++] = all[i];
		}
		n = used;
	}
	qsort(all, n, sizeof *all, by_age ? count_cmp : row_cmp);
	memset(out, 0, sizeof *out);
	out->rows = all;
	out->n = n < max ? n : max;
	for (size_t i = out->n; i < n; i++) {
		add_row(&out->rest, &all[i]);
		out->more++;
	}
	return 0;
}

/* ---- the prune dry run ---- */

/* By source, kind, then newest first. */
static int prune_cmp(const void *a, const void *b, void *ctx)
{
	const struct node *nodes = ctx;
	const struct node *x = &nodes[*(const uint32_t *) a];
	const struct node *y = &nodes[*(const uint32_t *) b];
	if (x->source != y->source)
		return x->source < y->source ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	if (x->created_ns != y->created_ns)
		return x->created_ns > y->created_ns ? -1 : 1;
	return 0;
}

static int prune_row_cmp(const void *a, const void *b)
{
	const struct cf_report_prune *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes < y->bytes ? 1 : -1;
	if (x->prunable != y->prunable)
		return x->prunable < y->prunable ? 1 : -1;
	if (x->copies != y->copies)
		return x->copies < y->copies ? 1 : -1;
	return strcmp(x->source ? x->source : "", y->source ? y->source : "");
}

static void prune_add(struct cf_report_prune *to, const struct cf_report_prune *r)
{
	to->copies += r->copies;
	to->prunable += r->prunable;
	to->bytes += r->bytes;
	to->protect += r->protect;
	to->young += r->young;
	to->keep_last += r->keep_last;
	to->busy += r->busy;
}

/* One copy: what cf_policy_may_prune says, then whether anything was made from it. */
static void judge(struct build *b, const struct node *n, size_t newer, size_t siblings,
		  struct cf_report_prune *row)
{
	const struct cf_policy *p = b->cfg->policy;
	struct cf_label prot = {p->prune.protect_label, (char *) ""};
	struct cf_resource r = {0};
	r.kind = (enum cf_kind) n->kind;
	r.created = n->created;
	r.created_ns = n->created_ns;
	r.source = (char *) st_str(b->st, n->source);
	if (n->flags & N_PROTECTED) {
		r.labels = &prot;
		r.nlabels = 1;
	}
	char why[512];
	row->copies++;
	if (cf_policy_may_prune(p, &r, (n->flags & N_READY) != 0, b->cfg->now, newer, siblings, why,
				sizeof why)) {
		/* Which rule held it, in the policy's order (the decision is the policy's). */
		if (n->flags & N_PROTECTED)
			row->protect++;
		else if (p->prune.min_age_seconds && n->created > 0 &&
			 b->cfg->now - n->created < (int64_t) p->prune.min_age_seconds)
			row->young++;
		else
			row->keep_last++;
		return;
	}
	if (n->sid != NONE && b->is_ref[n->sid]) {
		row->busy++;
		return;
	}
	row->prunable++;
	row->bytes += n->stored;
}

static int prune_dry_run(struct build *b)
{
	struct cf_report *rep = b->rep;
	uint32_t *idx = malloc((b->n ? b->n : 1) * sizeof *idx);
	size_t m = 0;
	if (!idx)
		return -ENOMEM;
	for (size_t i = 0; i < b->n; i++)
		if (clone_kind((enum cf_kind) b->nodes[i].kind) && !(b->nodes[i].flags & N_TRASHED))
			idx[m++] = (uint32_t) i;
	qsort_r(idx, m, sizeof *idx, prune_cmp, b->nodes);
	struct cf_report_prune *rows = NULL;
	size_t nrows = 0, cap = 0;
	for (size_t g = 0; g < m;) {
		const struct node *first = &b->nodes[idx[g]];
		size_t end = g;
		while (end < m && b->nodes[idx[end]].source == first->source &&
		       b->nodes[idx[end]].kind == first->kind)
			end++;
		/* one row per source: kinds of the same source share it */
		if (!nrows || rows[nrows - 1].source != st_str(b->st, first->source)) {
			if (nrows == cap) {
				cap = cap ? cap * 2 : 256;
				struct cf_report_prune *nr = realloc(rows, cap * sizeof *nr);
				if (!nr) {
					free(rows);
					free(idx);
					return -ENOMEM;
				}
				rows = nr;
			}
			memset(&rows[nrows], 0, sizeof rows[nrows]);
			rows[nrows++].source = st_str(b->st, first->source);
		}
		size_t ready = 0;
		for (size_t i = g; i < end; i++)
			ready += (b->nodes[idx[i]].flags & N_READY) != 0;
		/* newer: READY siblings strictly newer (equal times are not newer) */
		size_t ready_before = 0, run_start_ready = 0;
		for (size_t i = g; i < end; i++) {
			const struct node *n = &b->nodes[idx[i]];
			if (i == g || n->created != b->nodes[idx[i - 1]].created ||
			    n->created_ns != b->nodes[idx[i - 1]].created_ns)
				run_start_ready = ready_before;
			size_t siblings = ready + ((n->flags & N_READY) ? 0 : 1);
			judge(b, n, run_start_ready, siblings, &rows[nrows - 1]);
			ready_before += (n->flags & N_READY) != 0;
		}
		g = end;
	}
	free(idx);
	for (size_t i = 0; i < nrows; i++)
		prune_add(&rep->prune_total, &rows[i]);
	qsort(rows, nrows, sizeof *rows, prune_row_cmp);
	rep->prune = rows;
	rep->nprune = nrows < CF_REPORT_LIST_MAX ? nrows : CF_REPORT_LIST_MAX;
	rep->prune_more = nrows - rep->nprune;
	return 0;
}

/* ---- lineage ---- */

static const struct par no_par;

/* The lineage counts of node n (nothing for a node nothing names). */
static const struct par *par_of(const struct build *b, const struct node *n)
{
	return (n->flags & N_LINKED) ? &b->par[n->sid] : &no_par;
}

/* Depth as the engine's depth_of computes it, memoised; a cycle stops where it closes. */
static int depth_of(struct build *b, uint32_t i, int hops)
{
	struct node *n = &b->nodes[i];
	if (n->depth >= 0)
		return n->depth;
	if (n->depth == -2 || hops > 64)
		return n->label_depth > 0 ? n->label_depth : 0;
	n->depth = -2;
	int d = n->label_depth > 0 ? n->label_depth : 0;
	int step = (n->flags & N_STEP) ? 1 : 0;
	if (n->up != NONE) {
		int ud = depth_of(b, n->up, hops + 1) + step;
		if (ud > d)
			d = ud;
	} else if (n->parent != NONE && step && d == 0) {
		d = step; /* made from something the cache does not hold: at least one */
	}
	n->depth = (int16_t) (d < INT16_MAX ? d : INT16_MAX);
	return n->depth;
}

static uint32_t count_desc(struct build *b, const uint32_t *kids, uint32_t i, int level)
{
	const struct node *n = &b->nodes[i];
	if (level > MAX_LEVEL || !(n->flags & N_LINKED))
		return 0;
	struct par *p = &b->par[n->sid];
	uint64_t d = 0;
	for (uint32_t k = 0; k < p->nkids; k++)
		d += 1 + count_desc(b, kids, kids[p->first + k], level + 1);
	p->desc = d < UINT32_MAX ? (uint32_t) d : UINT32_MAX;
	return p->desc;
}

static int kid_cmp(const void *a, const void *c, void *ctx)
{
	const struct build *b = ctx;
	const struct node *x = &b->nodes[*(const uint32_t *) a];
	const struct node *y = &b->nodes[*(const uint32_t *) c];
	uint32_t dx = par_of(b, x)->desc, dy = par_of(b, y)->desc;
	bool fx = (x->flags & N_AT_QUOTA) || dx, fy = (y->flags & N_AT_QUOTA) || dy;
	if (fx != fy)
		return fx ? -1 : 1;
	if (dx != dy)
		return dx < dy ? 1 : -1;
	if (x->created != y->created)
		return x->created > y->created ? -1 : 1;
	return 0;
}

static bool flagged(const struct build *b, const struct node *n)
{
	return (n->flags & N_AT_QUOTA) || n->depth > (int) b->rep->max_depth;
}

/* Roots: at quota first, then the most below them, then in path order. */
static int root_cmp(const void *a, const void *c, void *ctx)
{
	const struct build *b = ctx;
	const struct node *x = &b->nodes[*(const uint32_t *) a];
	const struct node *y = &b->nodes[*(const uint32_t *) c];
	bool qx = x->flags & N_AT_QUOTA, qy = y->flags & N_AT_QUOTA;
	uint32_t dx = par_of(b, x)->desc, dy = par_of(b, y)->desc;
	if (qx != qy)
		return qx ? -1 : 1;
	if (dx != dy)
		return dx < dy ? 1 : -1;
	return strcmp(st_str(b->st, x->sid), st_str(b->st, y->sid));
}

static int tree_push(struct build *b, size_t *cap, const struct cf_report_tree *t)
{
	struct cf_report *rep = b->rep;
	if (rep->ntree == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct cf_report_tree *nt = realloc(rep->tree, nc * sizeof *nt);
		if (!nt)
			return -ENOMEM;
		rep->tree = nt;
		*cap = nc;
	}
	rep->tree[rep->ntree++] = *t;
	return 0;
}

/* The path of node n: the linked one's interned, another's read again by its base
 * (NULL when it went away since the pass; out of memory sets b->err). */
static const char *path_of(struct build *b, const struct node *n)
{
	struct cf_resource r;
	char path[CF_PATH_MAX];
	if (n->sid != NONE)
		return st_str(b->st, n->sid);
	if (cf_store_resource(b->cfg->store, CF_INO(n->base, 0), &r))
		return NULL;
	int len = cf_resource_path(r.kind, r.scope, r.name, path, sizeof path);
	cf_resource_clear(&r);
	return len < 0 ? NULL : own(b, path);
}

static int tree_emit(struct build *b, const uint32_t *kids, uint32_t i, unsigned level, size_t *cap)
{
	const struct node *n = &b->nodes[i];
	const struct par *p = par_of(b, n);
	struct cf_report_tree t = {
	    .path = path_of(b, n),
	    .kind = (enum cf_kind) n->kind,
	    .level = level,
	    .depth = (unsigned) n->depth,
	    .clones = p->clones,
	    .descendants = p->desc,
	    .at_quota = (n->flags & N_AT_QUOTA) != 0,
	    .over_depth = n->depth > (int) b->rep->max_depth,
	};
	if (b->err)
		return b->err;
	if (!t.path)
		return 0; /* removed since the pass (a leaf: only linked nodes have children) */
	int rc = tree_push(b, cap, &t);
	if (rc || level >= MAX_LEVEL)
		return rc;
	uint32_t shown = 0;
	for (uint32_t k = 0; k < p->nkids; k++) {
		if (shown == CHILDREN_SHOWN || b->rep->ntree >= TREE_ITEMS_MAX) {
			struct cf_report_tree more = {.level = level + 1, .more = p->nkids - k};
			return tree_push(b, cap, &more);
		}
		if ((rc = tree_emit(b, kids, kids[p->first + k], level + 1, cap)))
			return rc;
		shown++;
	}
	return 0;
}

static int lineage(struct build *b)
{
	struct cf_report *rep = b->rep;
	uint32_t *node_of = malloc((b->st->n ? b->st->n : 1) * sizeof *node_of);
	uint32_t *kids = malloc((b->n ? b->n : 1) * sizeof *kids);
	uint32_t *roots = NULL;
	int rc = 0;
	b->par = calloc(b->st->n ? b->st->n : 1, sizeof *b->par);
	if (!node_of || !kids || !b->par) {
		rc = -ENOMEM;
		goto out;
	}
	for (uint32_t s = 0; s < b->st->n; s++)
		node_of[s] = NONE;
	for (size_t i = 0; i < b->n; i++)
		if (b->nodes[i].sid != NONE)
			node_of[b->nodes[i].sid] = (uint32_t) i;
	for (uint32_t s = 0; s < b->st->n; s++)
		if (node_of[s] != NONE)
			b->nodes[node_of[s]].flags |= N_LINKED;
	for (size_t i = 0; i < b->n; i++) {
		struct node *n = &b->nodes[i];
		n->up = n->parent == NONE ? NONE : node_of[n->parent];
		if (n->up == i)
			n->up = NONE;
		n->depth = -1;
		if (n->up != NONE)
			b->par[b->nodes[n->up].sid].nkids++;
	}
	/* Each linked node's children, together in kids. */
	uint32_t at = 0, nroots = 0;
	for (uint32_t s = 0; s < b->st->n; s++) {
		b->par[s].first = at;
		at += b->par[s].nkids;
		b->par[s].nkids = 0;
	}
	for (size_t i = 0; i < b->n; i++) {
		const struct node *n = &b->nodes[i];
		if (n->up == NONE)
			continue;
		struct par *u = &b->par[b->nodes[n->up].sid];
		kids[u->first + u->nkids++] = (uint32_t) i;
	}
	/* per parent the clones of each kind outside the trash (max_per_source) */
	for (uint32_t s = 0; s < b->st->n; s++) {
		struct par *u = &b->par[s];
		uint64_t k[CF_KIND__COUNT] = {0};
		bool at_quota = false;
		if (!u->nkids)
			continue;
		nroots += b->nodes[node_of[s]].up == NONE;
		for (uint32_t j = 0; j < u->nkids; j++) {
			const struct node *c = &b->nodes[kids[u->first + j]];
			if (clone_kind((enum cf_kind) c->kind) && !(c->flags & N_TRASHED) &&
			    (c->flags & N_STEP)) {
				k[c->kind]++;
				u->clones++;
			}
		}
		for (int kk = 0; kk < CF_KIND__COUNT; kk++)
			if (k[kk] && k[kk] >= rep->max_per_source)
				at_quota = true;
		if (at_quota)
			b->nodes[node_of[s]].flags |= N_AT_QUOTA;
		rep->at_quota += at_quota;
	}
	for (size_t i = 0; i < b->n; i++) {
		int d = depth_of(b, (uint32_t) i, 0);
		rep->depth_count[d < CF_REPORT_DEPTHS - 1 ? d : CF_REPORT_DEPTHS - 1]++;
		if ((unsigned) d > rep->deepest)
			rep->deepest = (unsigned) d;
		if (d > (int) rep->max_depth)
			rep->over_depth++;
	}
	/* Roots: what has copies below it and no parent the cache holds. */
	if (!(roots = malloc((nroots ? nroots : 1) * sizeof *roots))) {
		rc = -ENOMEM;
		goto out;
	}
	nroots = 0;
	for (uint32_t s = 0; s < b->st->n; s++) {
		if (!b->par[s].nkids || b->nodes[node_of[s]].up != NONE)
			continue;
		count_desc(b, kids, node_of[s], 0);
		roots[nroots++] = node_of[s];
	}
	for (uint32_t s = 0; s < b->st->n; s++)
		if (b->par[s].nkids > 1)
			qsort_r(kids + b->par[s].first, b->par[s].nkids, sizeof *kids, kid_cmp, b);
	qsort_r(roots, nroots, sizeof *roots, root_cmp, b);
	/* the flagged ones first, whatever their size: they are what the section is for */
	size_t nf = 0;
	for (size_t i = 0; i < nroots; i++) {
		const struct par *p = par_of(b, &b->nodes[roots[i]]);
		bool f = flagged(b, &b->nodes[roots[i]]);
		for (uint32_t j = 0; !f && j < p->nkids; j++)
			f = flagged(b, &b->nodes[kids[p->first + j]]);
		if (f) {
			uint32_t r = roots[i];
			memmove(roots + nf + 1, roots + nf, (i - nf) * sizeof *roots);
			roots[nf++] = r;
		}
	}
	rep->roots = nroots;
	size_t cap = 0, shown = nroots < CF_REPORT_LIST_MAX ? nroots : CF_REPORT_LIST_MAX;
	for (size_t i = 0; !rc && i < shown; i++)
		rc = tree_emit(b, kids, roots[i], 0, &cap);
	rep->roots_more = nroots - shown;
out:
	free(node_of);
	free(kids);
	free(roots);
	return rc;
}

/* ---- the build ---- */

int cf_report_build(const struct cf_report_config *cfg, struct cf_report **out)
{
	struct cf_report *rep = calloc(1, sizeof *rep);
	struct build b = {.cfg = cfg, .rep = rep};
	const struct cf_policy *p = cfg->policy;
	int rc = 0;
	if (!rep || !p)
		goto nomem;
	rep->priv = calloc(1, sizeof *rep->priv);
	rep->unl = calloc(CF_REPORT_LIST_MAX, sizeof *rep->unl);
	rep->trash = calloc(CF_REPORT_LIST_MAX, sizeof *rep->trash);
	if (!rep->priv || !rep->unl || !rep->trash)
		goto nomem;
	b.st = &rep->priv->st;
	rep->now = cfg->now;
	rep->group_by = p->report.group_by;
	rep->protect_label = p->prune.protect_label;
	rep->max_depth = p->clone.max_depth;
	rep->max_per_source = p->clone.max_per_source;
	rep->min_age_seconds = p->prune.min_age_seconds;
	if (p->prune.min_age_seconds)
		rep->lines[rep->nlines++] = (struct cf_report_line){
		    "prune.min_age_seconds", "nothing younger is pruned", p->prune.min_age_seconds};
	if (p->restore.max_age_seconds && rep->nlines < CF_REPORT_LINES)
		rep->lines[rep->nlines++] = (struct cf_report_line){
		    "restore.max_age_seconds", "older needs the approval label to be restored",
		    p->restore.max_age_seconds};
	rep->keep_last = p->prune.keep_last;
	rep->grace_seconds = p->prune.grace_seconds;
	rep->required = p->labels.required;
	rep->n_required = p->labels.n_required;

	rc = cf_store_foreach_linked(cfg->store, linked, one, &b);
	if (rc == -ENOENT)
		rc = 0;
	if (!rc)
		rc = b.err;
	if (rc)
		goto fail;
	/* is_ref by string id, now that the table is complete */
	b.is_ref = calloc(b.st->n ? b.st->n : 1, 1);
	if (!b.is_ref)
		goto nomem;
	for (size_t i = 0; i < b.nref; i++)
		b.is_ref[b.ref_ids[i]] = 1;

	if ((rc = to_list(&b, &b.owner, &rep->age, CF_REPORT_OWNERS, true)) ||
	    (rc = to_list(&b, &b.owner, &rep->by_owner, CF_REPORT_LIST_MAX, false)) ||
	    (rc = to_list(&b, &b.group, &rep->by_group, CF_REPORT_LIST_MAX, false)) ||
	    (rc = to_list(&b, &b.source, &rep->by_source, CF_REPORT_LIST_MAX, false)) ||
	    (rc = prune_dry_run(&b)) || (rc = lineage(&b)))
		goto fail;

	for (int l = 0; l < CF_LIST__COUNT; l++) {
		rep->sync_rc[l] =
		    cf_store_get_sync_state(cfg->store, (enum cf_listing) l, &rep->sync[l]);
		if (rep->sync_rc[l])
			memset(&rep->sync[l], 0, sizeof rep->sync[l]);
		rep->sync[l].last_error[sizeof rep->sync[l].last_error - 1] = '\0';
		int64_t t = rep->sync[l].last_complete;
		if (t > rep->newest_sync)
			rep->newest_sync = t;
		if (l == 0 || t < rep->oldest_sync)
			rep->oldest_sync = t;
	}
	goto done;
nomem:
	rc = -ENOMEM;
fail:
	cf_report_free(rep);
	rep = NULL;
done:
	free(b.nodes);
	free(b.par);
	free(b.is_ref);
	free(b.ref_ids);
	tally_free(&b.owner);
	tally_free(&b.group);
	tally_free(&b.source);
	*out = rep;
	return rc;
}

void cf_report_free(struct cf_report *r)
{
	if (!r)
		return;
	if (r->priv) {
		free(r->priv->st.arena);
		free(r->priv->st.off);
		free(r->priv->st.slots);
		for (size_t i = 0; i < r->priv->nowned; i++)
			free(r->priv->owned[i]);
		free(r->priv->owned);
		free(r->priv);
	}
	free(r->age.rows);
	free(r->by_owner.rows);
	free(r->by_group.rows);
	free(r->by_source.rows);
	free(r->prune);
	free(r->tree);
	free(r->unl);
	free(r->trash);
	free(r);
}
