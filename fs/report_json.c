/* report_json.c — .clonefs/report.json: every figure of report.html, as numbers for scripts
 * (bytes in bytes, times in UTC epoch seconds, ages in seconds). The same cf_report feeds
 * both, so they always agree. */
#include "report_files.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static void row_json(FILE *f, const struct cf_report_row *r, bool ages)
{
	fputs("{\"name\": ", f);
	rf_json(f, r->name);
	fprintf(f, ", \"count\": %" PRIu64 ", \"stored_bytes\": %" PRIu64, r->count, r->stored);
	if (ages) {
		fputs(", \"ages\": [", f);
		for (int i = 0; i < CF_REPORT_AGES; i++)
			fprintf(f, "%s%" PRIu64, i ? ", " : "", r->age[i]);
		fputs("]", f);
	}
	fputs("}", f);
}

/* {"rows": [...], "more": K, "rest": {...}}: rest sums the K rows left out. */
static void list_json(FILE *f, const struct cf_report_list *l, bool ages)
{
	fputs("{\"rows\": [", f);
	for (size_t i = 0; i < l->n; i++) {
		fputs(i ? ",\n      " : "\n      ", f);
		row_json(f, &l->rows[i], ages);
	}
	fprintf(f, "], \"more\": %" PRIu64 ", \"rest\": ", l->more);
	struct cf_report_row rest = l->rest;
	rest.name = NULL;
	row_json(f, &rest, ages);
	fputs("}", f);
}

static void prune_json(FILE *f, const struct cf_report_prune *p)
{
	fputs("{\"source\": ", f);
	rf_json(f, p->source);
	fprintf(f,
		", \"copies\": %" PRIu64 ", \"prunable\": %" PRIu64 ", \"prunable_bytes\": %" PRIu64
		", \"kept\": {\"protected\": %" PRIu64 ", \"min_age\": %" PRIu64
		", \"keep_last\": %" PRIu64 ", \"in_use\": %" PRIu64 "}}",
		p->copies, p->prunable, p->bytes, p->protect, p->young, p->keep_last, p->busy);
}

static void path_json(FILE *f, const struct cf_report_path *p, bool trash)
{
	fputs("{\"path\": ", f);
	rf_json(f, p->path);
	fputs(", \"kind\": ", f);
	rf_json(f, cf_kind_name(p->kind));
	fprintf(f, ", \"stored_bytes\": %" PRIu64, p->stored);
	if (trash) {
		fputs(", \"clonefs-delete-at\": ", f);
		rf_json(f, p->detail);
		if (p->at)
			fprintf(f, ", \"delete_at\": %" PRId64, p->at);
		else
			fputs(", \"delete_at\": null", f);
		fprintf(f, ", \"ours\": %s}", p->ours ? "true" : "false");
	} else {
		fputs(", \"missing\": ", f);
		rf_json(f, p->detail);
		fputs("}", f);
	}
}

int report_render_json(FILE *f, const struct cf_report *r, const struct report_daemon *d)
{
	fputs("{\n  \"project\": ", f);
	rf_json(f, d->project);
	fprintf(f, ",\n  \"version\": ");
	rf_json(f, d->version);
	fprintf(f, ",\n  \"generated\": %" PRId64 ",\n  \"store_generation\": %" PRIu64,
		d->generated, d->generation);
	fprintf(f,
		",\n  \"sync\": {\"newest_complete\": %" PRId64 ", \"oldest_complete\": %" PRId64
		"}",
		r->newest_sync, r->oldest_sync);
	fputs(",\n  \"policy\": {\"report.group_by\": ", f);
	rf_json(f, r->group_by);
	fputs(", \"prune.protect_label\": ", f);
	rf_json(f, r->protect_label);
	fprintf(f,
		", \"prune.min_age_seconds\": %u, \"prune.keep_last\": %u, "
		"\"prune.grace_seconds\": %u, \"clone.max_depth\": %u, "
		"\"clone.max_per_source\": %u, \"labels.required\": [",
		r->min_age_seconds, r->keep_last, r->grace_seconds, r->max_depth,
		r->max_per_source);
	for (size_t i = 0; i < r->n_required; i++) {
		fputs(i ? ", " : "", f);
		rf_json(f, r->required[i]);
	}
	fprintf(f,
		"]},\n  \"totals\": {\"resources\": %" PRIu64 ", \"stored_bytes\": %" PRIu64
		", \"by_kind\": {",
		r->resources, r->total_stored);
	for (int k = CF_KIND_SNAPSHOT, first = 1; k < CF_KIND_ZONE; k++, first = 0) {
		fputs(first ? "" : ", ", f);
		rf_json(f, cf_kind_name((enum cf_kind) k));
		fprintf(f, ": {\"count\": %" PRIu64 ", \"stored_bytes\": %" PRIu64 "}", r->count[k],
			r->stored[k]);
	}
	fputs("}},\n", f);

	/* Age */
	fputs("  \"age\": {\"buckets\": [", f);
	for (int i = 0; i < CF_REPORT_AGES; i++)
		fprintf(f, "%s\"%s\"", i ? ", " : "", cf_report_age_names[i]);
	fputs("], \"upper_bounds_seconds\": [", f);
	for (int i = 0; i < CF_REPORT_AGES - 1; i++)
		fprintf(f, "%s%" PRId64, i ? ", " : "", cf_report_age_bounds[i]);
	fprintf(f, ", null], \"count\": %" PRIu64 ", \"total\": [", r->aged);
	for (int i = 0; i < CF_REPORT_AGES; i++)
		fprintf(f, "%s%" PRIu64, i ? ", " : "", r->age_total[i]);
	fputs("],\n    \"lines\": [", f);
	for (size_t i = 0; i < r->nlines; i++) {
		fputs(i ? ", {\"key\": " : "{\"key\": ", f);
		rf_json(f, r->lines[i].key);
		fprintf(f, ", \"seconds\": %" PRId64 "}", r->lines[i].seconds);
	}
	fputs("],\n    \"by_owner\": ", f);
	list_json(f, &r->age, true);
	fputs("},\n", f);

	/* Spend */
	fputs("  \"spend\": {\"by_owner\": ", f);
	list_json(f, &r->by_owner, false);
	fputs(",\n    \"group_by\": ", f);
	rf_json(f, r->group_by);
	fputs(", \"by_group\": ", f);
	list_json(f, &r->by_group, false);
	fputs(",\n    \"top_sources\": ", f);
	list_json(f, &r->by_source, false);
	fputs("},\n", f);

	/* Would be pruned */
	fputs("  \"would_prune\": {\"total\": ", f);
	prune_json(f, &r->prune_total);
	fputs(",\n    \"sources\": [", f);
	for (size_t i = 0; i < r->nprune; i++) {
		fputs(i ? ",\n      " : "\n      ", f);
		prune_json(f, &r->prune[i]);
	}
	fprintf(f, "], \"more\": %" PRIu64 "},\n", r->prune_more);

	/* Lineage */
	fprintf(f,
		"  \"lineage\": {\"sources\": %" PRIu64 ", \"more\": %" PRIu64
		", \"over_max_depth\": %" PRIu64 ", \"at_max_per_source\": %" PRIu64
		", \"deepest\": %u, \"by_depth\": [",
		r->roots, r->roots_more, r->over_depth, r->at_quota, r->deepest);
	for (int i = 0; i < CF_REPORT_DEPTHS; i++)
		fprintf(f, "%s%" PRIu64, i ? ", " : "", r->depth_count[i]);
	fputs("],\n    \"tree\": [", f);
	for (size_t i = 0; i < r->ntree; i++) {
		const struct cf_report_tree *t = &r->tree[i];
		fputs(i ? ",\n      " : "\n      ", f);
		if (t->more) {
			fprintf(f, "{\"level\": %u, \"more\": %" PRIu64 "}", t->level, t->more);
			continue;
		}
		fputs("{\"path\": ", f);
		rf_json(f, t->path);
		fputs(", \"kind\": ", f);
		rf_json(f, cf_kind_name(t->kind));
		fprintf(f,
			", \"level\": %u, \"depth\": %u, \"copies\": %" PRIu64
			", \"below\": %" PRIu64 ", \"at_max_per_source\": %s, "
			"\"over_max_depth\": %s}",
			t->level, t->depth, t->clones, t->descendants,
			t->at_quota ? "true" : "false", t->over_depth ? "true" : "false");
	}
	fputs("]},\n", f);

	/* Unlabeled */
	fprintf(f, "  \"unlabeled\": {\"count\": %" PRIu64 ", \"by_kind\": {", r->unlabeled_total);
	for (int k = CF_KIND_SNAPSHOT, first = 1; k < CF_KIND_ZONE; k++, first = 0) {
		fputs(first ? "" : ", ", f);
		rf_json(f, cf_kind_name((enum cf_kind) k));
		fprintf(f, ": %" PRIu64, r->unlabeled[k]);
	}
	fputs("},\n    \"paths\": [", f);
	for (size_t i = 0; i < r->nunl; i++) {
		fputs(i ? ",\n      " : "\n      ", f);
		path_json(f, &r->unl[i], false);
	}
	fprintf(f, "], \"more\": %" PRIu64 "},\n", r->unl_more);

	/* Health */
	fprintf(f, "  \"health\": {\"api_reachable\": %s, \"read_only\": %s",
		d->api_reachable ? "true" : "false", d->read_only ? "true" : "false");
	if (d->have_engine)
		fprintf(f,
			", \"breaker\": {\"deletions_last_minute\": %u, \"max_per_minute\": %u}, "
			"\"reaper\": {\"passes\": %lu, \"held\": %zu, \"not_ours\": %zu}",
			d->breaker_recent, d->breaker_max, d->reaper_passes, d->held, d->not_ours);
	if (d->have_http)
		fprintf(f, ", \"http\": {\"requests\": %lu, \"retries\": %lu, \"failures\": %lu}",
			d->requests, d->retries, d->failures);
	fputs(",\n    \"listings\": {", f);
	for (int l = 0; l < CF_LIST__COUNT; l++) {
		const struct cf_sync_state *s = &r->sync[l];
		fputs(l ? ",\n      " : "\n      ", f);
		rf_json(f, cf_listing_name((enum cf_listing) l));
		fprintf(f, ": {\"count\": %" PRIu64 ", \"last_complete\": ", s->count);
		if (s->last_complete)
			fprintf(f, "%" PRId64, s->last_complete);
		else
			fputs("null", f);
		fputs(", \"last_attempt\": ", f);
		if (s->last_attempt)
			fprintf(f, "%" PRId64, s->last_attempt);
		else
			fputs("null", f);
		fputs(", \"last_error\": ", f);
		if (r->sync_rc[l] && r->sync_rc[l] != -ENOENT)
			rf_json(f, strerror(-r->sync_rc[l]));
		else
			rf_json(f, s->last_error[0] ? s->last_error : NULL);
		fputs("}", f);
	}
	fprintf(f,
		"},\n    \"trash\": {\"count\": %" PRIu64 ", \"stored_bytes\": %" PRIu64
		", \"grace_seconds\": %u, \"entries\": [",
		r->trash_count, r->trash_stored, r->grace_seconds);
	for (size_t i = 0; i < r->ntrash; i++) {
		fputs(i ? ",\n      " : "\n      ", f);
		path_json(f, &r->trash[i], true);
	}
	fprintf(f, "], \"more\": %" PRIu64 "}}\n}\n", r->trash_more);
	return ferror(f) ? -EIO : 0;
}
