/* test_report.c — the report's figures (lib/core/report.c) over a small store: the prune dry
 * run against every rule of cf_policy_may_prune and the EBUSY rule (protect label, min_age,
 * keep_last over READY siblings only, something made from it, the trash left out), ages by
 * owner, spend, lineage depth and max_per_source, unlabeled, the trash's delete times; and
 * that computing it wrote nothing (the store's generation is unchanged). Stored bytes count
 * as du counts them: 1 byte is one 512-byte block. */
#include "check.h"
#include "gce.h"
#include "layout.h"
#include "log.h"
#include "policy.h"
#include "report.h"
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DAY	 86400
#define NOW	 1800000000LL
#define MOUNT_ID "0123456789abcdef"

static void mk(struct cf_resource *r, enum cf_kind k, const char *scope, const char *name,
	       const char *status, int64_t age_days, uint64_t stored)
{
	memset(r, 0, sizeof *r);
	r->kind = k;
	r->scope = strdup(scope);
	r->name = strdup(name);
	r->id = strdup("42");
	r->status = strdup(status);
	r->created = NOW - age_days * DAY;
	r->stored_bytes = stored;
	r->raw = strdup("{}");
	r->raw_len = 2;
}

static void label(struct cf_resource *r, const char *k, const char *v)
{
	r->labels = realloc(r->labels, (r->nlabels + 1) * sizeof *r->labels);
	r->labels[r->nlabels].key = strdup(k);
	r->labels[r->nlabels].value = strdup(v);
	r->nlabels++;
}

static void put(struct cf_store *s, struct cf_resource *r)
{
	struct cf_wtxn *w;
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_upsert(w, r, NULL), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	cf_resource_clear(r);
}

static void snap(struct cf_store *s, const char *name, const char *disk, const char *status,
		 int64_t age, uint64_t stored, const char *owner, const char *extra)
{
	struct cf_resource r;
	mk(&r, CF_KIND_SNAPSHOT, "global", name, status, age, stored);
	r.source = strdup(disk);
	if (owner)
		label(&r, "owner", owner);
	if (extra) { /* "key=value" */
		char k[64];
		const char *eq = strchr(extra, '=');
		snprintf(k, sizeof k, "%.*s", (int) (eq - extra), extra);
		label(&r, k, eq + 1);
	}
	put(s, &r);
}

static const struct cf_report_prune *row_of(const struct cf_report *r, const char *source)
{
	for (size_t i = 0; i < r->nprune; i++)
		if (r->prune[i].source && !strcmp(r->prune[i].source, source))
			return &r->prune[i];
	return NULL;
}

static const struct cf_report_row *owner_row(const struct cf_report_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if ((!name && !l->rows[i].name) ||
		    (name && l->rows[i].name && !strcmp(l->rows[i].name, name)))
			return &l->rows[i];
	return NULL;
}

/* keep_last holds only READY copies: the newest copy of a source, still
 * CREATING, is none of the kept ones (prunable), and the two READY ones
 * behind it are (keep_last 2). Its own readiness is the store's word as the
 * provider reads it; a report that took every copy as READY would keep it. */
static void test_newest_not_ready(const struct cf_policy *p, const char *dir)
{
	struct cf_store *s;
	struct cf_resource r;
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	mk(&r, CF_KIND_DISK, "zones/z", "e", "READY", 500, 1);
	put(s, &r);
	const char *E = "zones/z/disks/e";
	snap(s, "n0", E, "CREATING", 40, 1 << 20, NULL, NULL); /* prunable: not READY */
	snap(s, "n1", E, "READY", 45, 2 << 20, NULL, NULL);    /* keep_last */
	snap(s, "n2", E, "READY", 50, 4 << 20, NULL, NULL);    /* keep_last */
	struct cf_report_config cfg = {.store = s, .policy = p, .mount_id = MOUNT_ID, .now = NOW};
	struct cf_report *rep = NULL;
	CHECK_EQ_INT(cf_report_build(&cfg, &rep), 0);
	const struct cf_report_prune *e = rep ? row_of(rep, E) : NULL;
	CHECK(e != NULL);
	if (e) {
		CHECK_EQ_INT(e->copies, 3);
		CHECK_EQ_INT(e->keep_last, 2);
		CHECK_EQ_INT(e->prunable, 1);
		CHECK_EQ_INT(e->bytes, 1 << 20);
	}
	cf_report_free(rep);
	cf_store_close(s);
	char cmd[400];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

int main(void)
{
	char dir[256], dir2[300], trash[64];
	struct cf_store *s;
	struct cf_policy *p;
	char err[256];
	cf_layout_use(&cf_gce_layout);
	cf_log_init("test_report", 0, 1, CF_LOG_WARN);
	snprintf(dir, sizeof dir, "/tmp/clonefs-test-report-%d", (int) getpid());
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_INT(cf_policy_parse("{\"prune\": {\"min_age_seconds\": 2592000, \"keep_last\": 2},"
				     " \"clone\": {\"max_depth\": 1, \"max_per_source\": 3},"
				     " \"report\": {\"group_by\": \"team\"}}",
				     NULL, &p, err, sizeof err),
		     0);

	struct cf_resource r;
	mk(&r, CF_KIND_DISK, "zones/z", "d", "READY", 500, 1); /* du: one block */
	label(&r, "owner", "ops");
	put(s, &r);
	mk(&r, CF_KIND_DISK, "zones/z", "restored", "READY", 30, 0);
	r.origin = strdup("global/snapshots/s2");
	label(&r, "owner", "ops");
	put(s, &r);
	const char *D = "zones/z/disks/d";
	snap(s, "s0", D, "READY", 1, 1 << 20, "ops", "team=blue");   /* min_age */
	snap(s, "s1", D, "READY", 3, 2 << 20, NULL, NULL);	     /* min_age, unlabeled */
	snap(s, "s2", D, "READY", 40, 4 << 20, "ops", NULL);	     /* restored: EBUSY */
	snap(s, "s3", D, "READY", 50, 8 << 20, "ops", "keep=yes");   /* protected */
	snap(s, "s4", D, "READY", 60, 16 << 20, "dev", "team=blue"); /* prunable */
	snap(s, "s5", D, "CREATING", 70, 32 << 20, "dev", NULL);     /* prunable: not READY */
	snap(s, "t0", "zones/z/disks/restored", "READY", 2, 64 << 20, "ops", NULL); /* depth 2 */
	snprintf(trash, sizeof trash, "%lld-" MOUNT_ID "-42", (long long) NOW + 3600);
	mk(&r, CF_KIND_SNAPSHOT, "global", "x0", "READY", 400, 128 << 20);
	r.source = strdup(D);
	label(&r, "owner", "ops");
	label(&r, CF_TRASH_LABEL, trash);
	put(s, &r);

	uint64_t gen = cf_store_generation(s);
	CHECK(gen > 0);
	struct cf_report_config cfg = {.store = s, .policy = p, .mount_id = MOUNT_ID, .now = NOW};
	struct cf_report *rep = NULL;
	CHECK_EQ_INT(cf_report_build(&cfg, &rep), 0);
	CHECK(rep != NULL);
	CHECK_EQ_INT(cf_store_generation(s), gen); /* nothing was written */
	if (!rep)
		return check_summary();

	/* Would be pruned: per rule, in the policy's order */
	const struct cf_report_prune *d = row_of(rep, D);
	CHECK(d != NULL);
	if (d) {
		CHECK_EQ_INT(d->copies, 6); /* x0 is in the trash */
		CHECK_EQ_INT(d->young, 2);
		CHECK_EQ_INT(d->busy, 1);
		CHECK_EQ_INT(d->protect, 1);
		CHECK_EQ_INT(d->keep_last, 0);
		CHECK_EQ_INT(d->prunable, 2);
		CHECK_EQ_INT(d->bytes, (16 + 32) << 20);
	}
	CHECK_EQ_INT(rep->prune_total.copies, 7);
	CHECK_EQ_INT(rep->prune_total.prunable, 2);
	CHECK_EQ_STR(rep->prune[0].source, D); /* the most bytes first */

	/* Age: outside the trash, by owner */
	CHECK_EQ_INT(rep->aged, 7);
	CHECK_EQ_INT(rep->age_total[0], 3); /* s0, s1, t0 */
	CHECK_EQ_INT(rep->age_total[1], 0);
	CHECK_EQ_INT(rep->age_total[2], 4); /* s2..s5 */
	CHECK_EQ_INT(rep->age_total[3], 0); /* x0 is in the trash */
	const struct cf_report_row *ops = owner_row(&rep->age, "ops");
	CHECK(ops && ops->age[0] == 2 && ops->age[2] == 2);
	const struct cf_report_row *none = owner_row(&rep->age, NULL);
	CHECK(none && none->age[0] == 1);

	/* Spend: every resource, the trash included */
	const struct cf_report_row *sp = owner_row(&rep->by_owner, "ops");
	CHECK(sp && sp->stored == ((uint64_t) (1 + 4 + 8 + 64 + 128) << 20) + 512); /* + disk d */
	CHECK_EQ_STR(rep->group_by, "team");
	const struct cf_report_row *blue = owner_row(&rep->by_group, "blue");
	CHECK(blue && blue->count == 2 && blue->stored == (uint64_t) (1 + 16) << 20);
	CHECK_EQ_INT(rep->total_stored, ((uint64_t) 255 << 20) + 512);

	/* Lineage */
	CHECK_EQ_INT(rep->depth_count[0], 1);
	CHECK_EQ_INT(rep->depth_count[1], 8); /* s0..s5, x0, restored */
	CHECK_EQ_INT(rep->depth_count[2], 1); /* t0 */
	CHECK_EQ_INT(rep->over_depth, 1);
	CHECK_EQ_INT(rep->at_quota, 1); /* d: 6 outside the trash, max 3 */
	CHECK_EQ_INT(rep->roots, 1);
	CHECK(rep->ntree > 0 && !strcmp(rep->tree[0].path, D) && rep->tree[0].at_quota);
	bool t0 = false;
	for (size_t i = 0; i < rep->ntree; i++)
		if (rep->tree[i].path && !strcmp(rep->tree[i].path, "global/snapshots/t0"))
			t0 = rep->tree[i].level == 3 && rep->tree[i].depth == 2 &&
			     rep->tree[i].over_depth;
	CHECK(t0);
	/* The whole tree: linked paths and leaves (read again by base), children with the
	 * most below them first, then the newest; the sixth child as "1 more". */
	char tree[1024] = "";
	for (size_t i = 0; i < rep->ntree; i++) {
		size_t used = strlen(tree);
		snprintf(tree + used, sizeof tree - used, "%u:%s%s", rep->tree[i].level,
			 rep->tree[i].path ? rep->tree[i].path : "+",
			 i + 1 < rep->ntree ? "," : "");
	}
	CHECK_EQ_STR(tree, "0:zones/z/disks/d,1:global/snapshots/s2,2:zones/z/disks/restored,"
			   "3:global/snapshots/t0,1:global/snapshots/s0,1:global/snapshots/s1,"
			   "1:global/snapshots/s3,1:global/snapshots/s4,1:+");

	/* Unlabeled, and the trash */
	CHECK_EQ_INT(rep->unlabeled_total, 1);
	CHECK(rep->nunl == 1 && !strcmp(rep->unl[0].path, "global/snapshots/s1"));
	CHECK_EQ_INT(rep->trash_count, 1);
	CHECK(rep->ntrash == 1 && rep->trash[0].ours && rep->trash[0].at == NOW + 3600);

	cf_report_free(rep);
	snprintf(dir2, sizeof dir2, "%s-2", dir);
	test_newest_not_ready(p, dir2);
	cf_policy_free(p);
	cf_store_close(s);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
	return check_summary();
}
