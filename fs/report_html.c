/* report_html.c — .clonefs/report.html: the figures of a cf_report as one self-contained page.
 *
 * HTML and inline SVG, readable with scripts off; one small inline script sorts the tables
 * when a header is clicked. The page loads nothing: its Content-Security-Policy allows no
 * source at all but its own style and that one script (by hash), so even markup that got
 * past the escaping could neither load nor run anything. Every string from the API or a
 * label goes through rf_html. The histogram's bars carry data-count (and the tables
 * data-v) with the exact numbers, for tests and for people who hover. */
#include "report_files.h"
#include "timefmt.h"

#include <errno.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

static const char sort_script[] =
    "document.querySelectorAll('table.sort th').forEach(function(th,i){"
    "th.addEventListener('click',function(){var t=th.closest('table'),b=t.tBodies[0],"
    "r=Array.from(b.rows),d=th.dataset.d=th.dataset.d==='1'?'-1':'1';"
    "r.sort(function(x,y){var a=x.cells[i].dataset.v,c=y.cells[i].dataset.v;"
    "if(a!==undefined&&c!==undefined)return (Number(a)-Number(c))*d;"
    "return x.cells[i].textContent.localeCompare(y.cells[i].textContent)*d;});"
    "r.forEach(function(e){b.appendChild(e);});});});";

static const char style[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:1100px;"
    "padding:0 1em;color:#1d2330;background:#fff}"
    "h1{font-size:1.5em;margin:0}h2{margin:1.6em 0 .4em;border-bottom:2px solid #dfe3ea;"
    "padding-bottom:.2em}header p{color:#555;margin:.3em 0}"
    "nav a{margin-right:1em}table{border-collapse:collapse;margin:.5em 0}"
    "th,td{padding:.2em .7em;text-align:left;border-bottom:1px solid #e6e8ee;"
    "vertical-align:top}th{background:#f3f5f8;cursor:pointer}td.n,th.n{text-align:right;"
    "font-variant-numeric:tabular-nums}.muted{color:#777}.warn{color:#b3261e;"
    "font-weight:600}.ok{color:#1b7a3a}.more{color:#555;font-style:italic}"
    "code{font-size:.92em;background:#f3f5f8;padding:0 .25em;border-radius:3px}"
    ".tree div{white-space:nowrap}.legend span{display:inline-block;margin-right:1em}"
    ".sw{display:inline-block;width:.9em;height:.9em;margin-right:.3em;"
    "vertical-align:-.1em}.cards{display:flex;gap:1em;flex-wrap:wrap}"
    ".card{border:1px solid #dfe3ea;border-radius:6px;padding:.5em 1em}"
    ".card b{display:block;font-size:1.3em}";

static const char *const line_colors[] = {"#b3261e", "#1f5fa8"};

static const char *const palette[] = {"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
				      "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};

/* The CSP source of the sort script: 'sha256-BASE64'. */
static void script_hash(char out[64])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	out[0] = '\0';
	if (!EVP_Digest(sort_script, strlen(sort_script), md, &n, EVP_sha256(), NULL))
		return;
	EVP_EncodeBlock((unsigned char *) out, md, (int) n);
}

/* "s" unless n is 1: "1 entry", "2 entries" need their own words */
static const char *s_(uint64_t n)
{
	return n == 1 ? "" : "s";
}

static const char *kind_plural(enum cf_kind k, uint64_t n)
{
	if (n == 1)
		return cf_kind_name(k) && k != CF_KIND_MACHINE_IMAGE ? cf_kind_name(k)
								     : "machine image";
	switch (k) {
	case CF_KIND_SNAPSHOT:
		return "snapshots";
	case CF_KIND_IMAGE:
		return "images";
	case CF_KIND_MACHINE_IMAGE:
		return "machine images";
	case CF_KIND_DISK:
		return "disks";
	case CF_KIND_INSTANCE:
		return "instances";
	default:
		return "other";
	}
}

/* A name cell: the value, or "(no LABEL label)" in grey for resources without one. */
static void name_or_none(FILE *f, const char *name, const char *none)
{
	if (name) {
		fputs("<code>", f);
		rf_html(f, name);
		fputs("</code>", f);
	} else {
		fputs("<span class=\"muted\">", f);
		rf_html(f, none);
		fputs("</span>", f);
	}
}

static void num_cell(FILE *f, uint64_t v)
{
	char b[32];
	fprintf(f, "<td class=\"n\" data-v=\"%" PRIu64 "\">%s</td>", v, rf_count(v, b));
}

static void bytes_cell(FILE *f, uint64_t v)
{
	char b[32];
	fprintf(f, "<td class=\"n\" data-v=\"%" PRIu64 "\">%s</td>", v, rf_bytes(v, b));
}

/* A bar in a table cell, its length v of max. */
static void bar_cell(FILE *f, uint64_t v, uint64_t max)
{
	double w = max ? 160.0 * (double) v / (double) max : 0;
	fprintf(f,
		"<td><svg width=\"160\" height=\"10\" role=\"img\"><rect width=\"%.1f\" "
		"height=\"10\" fill=\"#4e79a7\"/></svg></td>",
		w);
}

static void more_line(FILE *f, uint64_t more, const char *what)
{
	char b[32];
	if (more)
		fprintf(f, "<p class=\"more\">and %s more %s</p>\n", rf_count(more, b), what);
}

/* ---- header ---- */

static void header(FILE *f, const struct cf_report *r, const struct report_daemon *d)
{
	char t1[32], t2[32], t3[32], n1[32], b1[32], iso1[32] = "", iso2[32] = "";
	cf_time_format(d->generated, iso1, sizeof iso1);
	cf_time_format(r->newest_sync, iso2, sizeof iso2);
	fputs("<header><h1>clonefs report: <code>", f);
	rf_html(f, d->project);
	fputs("</code></h1>\n<p>Generated ", f);
	fprintf(f, "<time id=\"generated\" datetime=\"%s\" data-epoch=\"%" PRId64 "\">%s</time>",
		iso1, d->generated, rf_time(d->generated, t1));
	if (r->newest_sync)
		fprintf(f,
			" from the cache as of the sync completed at <time id=\"synced\" "
			"datetime=\"%s\" data-epoch=\"%" PRId64 "\">%s</time> (%s before)",
			iso2, r->newest_sync, rf_time(r->newest_sync, t2),
			rf_span(d->generated - r->newest_sync, t3));
	else
		fputs(" from a cache no sync has completed yet", f);
	fprintf(f, "; clonefs %s, store generation %" PRIu64 ".</p>\n", d->version, d->generation);
	fprintf(f,
		"<p>%s resources, %s stored (what the bill counts, as <code>du</code> does). "
		"A report, never an action: nothing here was pruned, labelled or "
		"cloned.</p></header>\n",
		rf_count(r->resources, n1), rf_bytes(r->total_stored, b1));
	fputs("<nav><a href=\"#age\">Age</a><a href=\"#spend\">Spend</a><a href=\"#prune\">Would "
	      "be pruned</a><a href=\"#lineage\">Lineage</a><a href=\"#unlabeled\">Unlabeled</a>"
	      "<a href=\"#health\">Health</a></nav>\n",
	      f);
}

/* ---- Age ---- */

/* x of an age in the histogram: each bucket a quarter, linear inside it; the last one
 * runs to five years. */
static double age_x(int64_t age, double x0, double bw)
{
	int64_t lo = 0;
	for (int i = 0; i < CF_REPORT_AGES; i++) {
		int64_t hi = i < CF_REPORT_AGES - 1 ? cf_report_age_bounds[i] : 5 * 365 * 86400;
		if (age < hi || i == CF_REPORT_AGES - 1) {
			double frac = (double) (age - lo) / (double) (hi - lo);
			if (frac > 1)
				frac = 1;
			return x0 + bw * (i + frac);
		}
		lo = hi;
	}
	return x0;
}

static const char *const age_titles[CF_REPORT_AGES] = {"under a week", "1 week to 30 days",
						       "30 days to a year", "over a year"};

static void age_section(FILE *f, const struct cf_report *r)
{
	char b[32], s[32];
	const double W = 760, H = 300, x0 = 60, y0 = 20, ph = 220, bw = (W - x0 - 20) / 4;
	uint64_t ymax = 1;
	for (int i = 0; i < CF_REPORT_AGES; i++)
		if (r->age_total[i] > ymax)
			ymax = r->age_total[i];
	fputs("<section id=\"age\"><h2>Age</h2>\n", f);
	fprintf(f,
		"<p>%s snapshots, images and machine images outside the trash, by age, stacked "
		"by their <code>owner</code> label.</p>\n",
		rf_count(r->aged, b));
	fprintf(f,
		"<svg id=\"age-histogram\" width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f "
		"%.0f\" role=\"img\" aria-label=\"age histogram\" "
		"font-family=\"system-ui,sans-serif\" font-size=\"12\">\n",
		W, H, W, H);
	/* axis and grid */
	for (int g = 0; g <= 4; g++) {
		double y = y0 + ph - ph * g / 4.0;
		fprintf(f,
			"<line x1=\"%.0f\" x2=\"%.0f\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#e6e8ee\"/>"
			"<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"end\" fill=\"#555\">%s</text>\n",
			x0, W - 20, y, y, x0 - 6, y + 4,
			rf_count((uint64_t) ((double) ymax * g / 4.0 + 0.5), b));
	}
	size_t nrows = r->age.n + (r->age.more ? 1 : 0);
	for (int i = 0; i < CF_REPORT_AGES; i++) {
		double x = x0 + bw * i + bw * 0.15, w = bw * 0.7, y = y0 + ph;
		fprintf(f, "<g class=\"bucket\" data-bucket=\"%s\" data-count=\"%" PRIu64 "\">\n",
			cf_report_age_names[i], r->age_total[i]);
		for (size_t k = 0; k < nrows; k++) {
			const struct cf_report_row *row =
			    k < r->age.n ? &r->age.rows[k] : &r->age.rest;
			uint64_t c = row->age[i];
			if (!c)
				continue;
			double h = ph * (double) c / (double) ymax;
			y -= h;
			fprintf(
			    f,
			    "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"%.1f\" fill=\"%s\" data-bucket=\"%s\" data-count=\"%" PRIu64
			    "\" data-owner=\"",
			    x, y, w, h, palette[k % 10], cf_report_age_names[i], c);
			if (k < r->age.n)
				rf_html(f, row->name ? row->name : "");
			else
				fputs("(other owners)", f);
			fprintf(f, "\"%s><title>",
				k < r->age.n && !row->name ? " data-none=\"1\"" : "");
			if (k >= r->age.n)
				fputs("other owners", f);
			else if (row->name)
				rf_html(f, row->name);
			else
				fputs("no owner label", f);
			fprintf(f, ": %s, %s</title></rect>\n", rf_count(c, b), age_titles[i]);
		}
		fprintf(
		    f,
		    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#1d2330\">%s</text>"
		    "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#555\">%s</text>"
		    "</g>\n",
		    x + w / 2, y - 4, rf_count(r->age_total[i], b), x + w / 2, y0 + ph + 18,
		    age_titles[i]);
	}
	/* the policy's lines, their labels one under the other */
	for (size_t i = 0; i < r->nlines; i++) {
		const struct cf_report_line *l = &r->lines[i];
		double x = age_x(l->seconds, x0, bw);
		fprintf(f, "<g class=\"policy-line\" data-key=\"");
		rf_html(f, l->key);
		fprintf(f,
			"\" data-seconds=\"%" PRId64 "\"><line x1=\"%.1f\" x2=\"%.1f\" y1=\"%.0f\" "
			"y2=\"%.0f\" stroke=\"%s\" stroke-width=\"2\" stroke-dasharray=\"6 4\"/>"
			"<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\" fill=\"%s\">",
			l->seconds, x, x, y0 - 6, y0 + ph + 22 + 14.0 * i, line_colors[i % 2], x,
			y0 + ph + 36 + 14.0 * i, line_colors[i % 2]);
		rf_html(f, l->key);
		fprintf(f, " %s</text></g>\n", rf_span(l->seconds, s));
	}
	fputs("</svg>\n<p class=\"legend\">", f);
	for (size_t k = 0; k < nrows; k++) {
		const struct cf_report_row *row = k < r->age.n ? &r->age.rows[k] : &r->age.rest;
		fprintf(f, "<span><i class=\"sw\" style=\"background:%s\"></i>", palette[k % 10]);
		if (k >= r->age.n)
			fprintf(f, "%s other owners", rf_count(r->age.more, b));
		else
			name_or_none(f, row->name, "no owner label");
		fputs("</span>", f);
	}
	fputs("</p>\n", f);
	for (size_t i = 0; i < r->nlines; i++) {
		fprintf(f, "<p>The %s dashed line is the policy's <code>", i % 2 ? "blue" : "red");
		rf_html(f, r->lines[i].key);
		fprintf(f, "</code> (%s): ", rf_span(r->lines[i].seconds, s));
		rf_html(f, r->lines[i].what);
		fputs(".</p>\n", f);
	}
	if (!r->min_age_seconds)
		fputs("<p class=\"muted\">The policy sets no "
		      "<code>prune.min_age_seconds</code>.</p>\n",
		      f);
	fputs("</section>\n", f);
}

/* ---- Spend ---- */

static void spend_table(FILE *f, const char *id, const char *col, const struct cf_report_list *l,
			const char *none)
{
	char b[32], c[32], d[32];
	uint64_t max = l->n ? l->rows[0].stored : 0;
	fprintf(f,
		"<table class=\"sort\" id=\"%s\"><thead><tr><th>%s</th><th class=\"n\">stored"
		"</th><th></th><th class=\"n\">resources</th></tr></thead><tbody>\n",
		id, col);
	for (size_t i = 0; i < l->n; i++) {
		fputs("<tr><td>", f);
		name_or_none(f, l->rows[i].name, none);
		fputs("</td>", f);
		bytes_cell(f, l->rows[i].stored);
		bar_cell(f, l->rows[i].stored, max);
		num_cell(f, l->rows[i].count);
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
	if (l->more)
		fprintf(f, "<p class=\"more\">and %s more, together %s in %s resources</p>\n",
			rf_count(l->more, b), rf_bytes(l->rest.stored, c),
			rf_count(l->rest.count, d));
}

static void spend_section(FILE *f, const struct cf_report *r)
{
	char b[32], c[32];
	fputs("<section id=\"spend\"><h2>Spend</h2>\n<div class=\"cards\">", f);
	for (int k = CF_KIND_SNAPSHOT; k < CF_KIND_ZONE; k++)
		if (r->count[k])
			fprintf(f, "<div class=\"card\" data-kind=\"%s\"><b>%s</b>%s %s</div>",
				cf_kind_name((enum cf_kind) k), rf_bytes(r->stored[k], b),
				rf_count(r->count[k], c),
				kind_plural((enum cf_kind) k, r->count[k]));
	fputs("</div>\n", f);
	fprintf(f,
		"<p>Stored bytes (what is billed; <code>du</code> counts the same), of every "
		"resource, the %s in the trash (%s) included: they are billed until "
		"deleted.</p>\n",
		rf_count(r->trash_count, b), rf_bytes(r->trash_stored, c));
	fputs("<h3>By owner</h3>\n", f);
	spend_table(f, "spend-owner", "owner", &r->by_owner, "no owner label");
	if (strcmp(r->group_by, "owner")) {
		fputs("<h3>By <code>", f);
		rf_html(f, r->group_by);
		fputs("</code> (the policy's <code>report.group_by</code>)</h3>\n", f);
		spend_table(f, "spend-group", r->group_by, &r->by_group, "no such label");
	}
	fputs("<h3>Top sources</h3>\n<p>Snapshots, images and machine images by the disk or "
	      "instance they were made from.</p>\n",
	      f);
	spend_table(f, "spend-source", "source", &r->by_source, "no source");
	fputs("</section>\n", f);
}

/* ---- Would be pruned ---- */

static void prune_section(FILE *f, const struct cf_report *r)
{
	char a[32], b[32], c[32];
	const struct cf_report_prune *t = &r->prune_total;
	fputs("<section id=\"prune\"><h2>Would be pruned</h2>\n", f);
	fprintf(f,
		"<p>A dry run of the policy, never an action: of <b>%s</b> copies outside the "
		"trash, the policy would let an <code>rmdir</code> take <b id=\"prune-count\" "
		"data-count=\"%" PRIu64 "\">%s</b> now, storing <b id=\"prune-bytes\" "
		"data-bytes=\"%" PRIu64 "\">%s</b>.",
		rf_count(t->copies, a), t->prunable, rf_count(t->prunable, b), t->bytes,
		rf_bytes(t->bytes, c));
	fprintf(f, " Kept: %s carrying <code>", rf_count(t->protect, a));
	rf_html(f, r->protect_label);
	fprintf(f, "</code>, %s younger than <code>prune.min_age_seconds</code> (%s), ",
		rf_count(t->young, b), rf_span(r->min_age_seconds, c));
	fprintf(f, "%s among the newest <code>prune.keep_last</code> (%u) of their source, ",
		rf_count(t->keep_last, a), r->keep_last);
	fprintf(f,
		"%s with something made from them. An <code>rmdir</code> reads the resource "
		"again from the API and judges it then.</p>\n",
		rf_count(t->busy, b));
	fputs("<table class=\"sort\" id=\"prune-table\"><thead><tr><th>source</th><th "
	      "class=\"n\">copies</th><th class=\"n\">would be pruned</th><th "
	      "class=\"n\">their bytes</th><th class=\"n\">protected</th><th class=\"n\">too "
	      "young</th><th class=\"n\">keep_last</th><th class=\"n\">in use</th></tr></thead>"
	      "<tbody>\n",
	      f);
	for (size_t i = 0; i < r->nprune; i++) {
		const struct cf_report_prune *p = &r->prune[i];
		fputs("<tr><td>", f);
		name_or_none(f, p->source, "no source");
		fputs("</td>", f);
		num_cell(f, p->copies);
		num_cell(f, p->prunable);
		bytes_cell(f, p->bytes);
		num_cell(f, p->protect);
		num_cell(f, p->young);
		num_cell(f, p->keep_last);
		num_cell(f, p->busy);
		fputs("</tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
	more_line(f, r->prune_more, "sources");
	fputs("</section>\n", f);
}

/* ---- Lineage ---- */

static void lineage_section(FILE *f, const struct cf_report *r)
{
	char a[32], b[32];
	fputs("<section id=\"lineage\"><h2>Lineage</h2>\n", f);
	fprintf(f,
		"<p>Sources, their copies and copies of copies, with each one's depth "
		"(against <code>clone.max_depth</code>, %u) and its copies (against "
		"<code>clone.max_per_source</code>, %u). <span class=\"%s\">%s resources deeper "
		"than max_depth</span>, <span class=\"%s\">%s at max_per_source</span> (their "
		"next clone is refused).</p>\n",
		r->max_depth, r->max_per_source, r->over_depth ? "warn" : "ok",
		rf_count(r->over_depth, a), r->at_quota ? "warn" : "ok", rf_count(r->at_quota, b));
	/* depth histogram */
	uint64_t m = 1;
	for (int i = 0; i < CF_REPORT_DEPTHS; i++)
		if (r->depth_count[i] > m)
			m = r->depth_count[i];
	fputs("<svg id=\"depth-histogram\" width=\"520\" height=\"150\" role=\"img\" "
	      "aria-label=\"resources by depth\" font-family=\"system-ui,sans-serif\" "
	      "font-size=\"12\">\n",
	      f);
	for (int i = 0; i < CF_REPORT_DEPTHS; i++) {
		double h = 100.0 * (double) r->depth_count[i] / (double) m, x = 20 + i * 62;
		bool over = (unsigned) i > r->max_depth;
		fprintf(
		    f,
		    "<rect class=\"depth\" data-depth=\"%d\" data-count=\"%" PRIu64 "\" "
		    "x=\"%.0f\" y=\"%.1f\" width=\"44\" height=\"%.1f\" fill=\"%s\"><title>depth "
		    "%d%s: %s</title></rect>",
		    i, r->depth_count[i], x, 115 - h, h, over ? "#e15759" : "#4e79a7", i,
		    i == CF_REPORT_DEPTHS - 1 ? " or more" : "", rf_count(r->depth_count[i], a));
		fprintf(
		    f,
		    "<text x=\"%.0f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>"
		    "<text x=\"%.0f\" y=\"132\" text-anchor=\"middle\" fill=\"#555\">%d%s</text>\n",
		    x + 22, 111 - h, rf_count(r->depth_count[i], a), x + 22, i,
		    i == CF_REPORT_DEPTHS - 1 ? "+" : "");
	}
	fprintf(f,
		"<text x=\"20\" y=\"148\" fill=\"#555\">depth (red: beyond max_depth "
		"%u)</text></svg>\n",
		r->max_depth);
	fputs("<div class=\"tree\" id=\"lineage-tree\">\n", f);
	for (size_t i = 0; i < r->ntree; i++) {
		const struct cf_report_tree *t = &r->tree[i];
		fprintf(f, "<div style=\"padding-left:%.1fem\"", 1.6 * t->level);
		if (t->more) {
			fprintf(f, " class=\"more\">and %s more</div>\n", rf_count(t->more, a));
			continue;
		}
		fprintf(f, " data-level=\"%u\" data-depth=\"%u\">%s<code>", t->level, t->depth,
			t->level ? "&#x2514; " : "");
		rf_html(f, t->path);
		fprintf(f,
			"</code> <span class=\"muted\">%s</span> depth <span class=\"%s\">%u"
			"</span>",
			cf_kind_name(t->kind), t->over_depth ? "warn" : "", t->depth);
		if (t->clones || t->at_quota)
			fprintf(f, ", <span class=\"%s\">%s cop%s%s</span>",
				t->at_quota ? "warn" : "", rf_count(t->clones, a),
				t->clones == 1 ? "y" : "ies",
				t->at_quota ? " (at max_per_source)" : "");
		if (t->descendants)
			fprintf(f, ", %s below", rf_count(t->descendants, b));
		fputs("</div>\n", f);
	}
	if (!r->ntree)
		fputs("<p class=\"muted\">Nothing was made from anything the cache holds.</p>\n",
		      f);
	fputs("</div>\n", f);
	more_line(f, r->roots_more, "sources with copies");
	fputs("</section>\n", f);
}

/* ---- Unlabeled ---- */

static void unlabeled_section(FILE *f, const struct cf_report *r)
{
	char a[32];
	fputs("<section id=\"unlabeled\"><h2>Unlabeled</h2>\n<p>Resources outside the trash "
	      "missing a label the policy's <code>labels.required</code> names (",
	      f);
	for (size_t i = 0; i < r->n_required; i++) {
		fputs(i ? ", <code>" : "<code>", f);
		rf_html(f, r->required[i]);
		fputs("</code>", f);
	}
	if (!r->n_required)
		fputs("none", f);
	fprintf(f, "): <b id=\"unlabeled-count\" data-count=\"%" PRIu64 "\">%s</b>.",
		r->unlabeled_total, rf_count(r->unlabeled_total, a));
	fputs(" <code>.clonefs/unlabeled</code> lists them all.</p>\n<div class=\"cards\">", f);
	for (int k = CF_KIND_SNAPSHOT; k < CF_KIND_ZONE; k++)
		fprintf(f,
			"<div class=\"card\" data-kind=\"%s\" data-count=\"%" PRIu64
			"\"><b>%s</b>%s</div>",
			cf_kind_name((enum cf_kind) k), r->unlabeled[k],
			rf_count(r->unlabeled[k], a),
			kind_plural((enum cf_kind) k, r->unlabeled[k]));
	fputs("</div>\n", f);
	if (r->nunl) {
		fputs("<table class=\"sort\" id=\"unlabeled-table\"><thead><tr><th>path</th>"
		      "<th>kind</th><th>missing</th></tr></thead><tbody>\n",
		      f);
		for (size_t i = 0; i < r->nunl; i++) {
			fputs("<tr><td><code>", f);
			rf_html(f, r->unl[i].path);
			fprintf(f, "</code></td><td>%s</td><td>", cf_kind_name(r->unl[i].kind));
			rf_html(f, r->unl[i].detail);
			fputs("</td></tr>\n", f);
		}
		fputs("</tbody></table>\n", f);
	}
	more_line(f, r->unl_more, "resources");
	fputs("</section>\n", f);
}

/* ---- Health ---- */

static void health_section(FILE *f, const struct cf_report *r, const struct report_daemon *d)
{
	char a[32], b[32], c[32];
	fputs("<section id=\"health\"><h2>Health of the mount</h2>\n", f);
	fprintf(f, "<p>The API is <span id=\"api\" class=\"%s\">%s</span>",
		d->api_reachable ? "ok" : "warn", d->api_reachable ? "reachable" : "not reachable");
	if (d->have_http)
		fprintf(f,
			" (%s requests since the mount, %s retried, <span class=\"%s\">%s "
			"failed</span>)",
			rf_count(d->requests, a), rf_count(d->retries, b),
			d->failures ? "warn" : "ok", rf_count(d->failures, c));
	if (d->read_only)
		fputs("; the mount is read-only", f);
	if (d->have_engine) {
		fprintf(
		    f,
		    ". Deletion breaker: <span id=\"breaker\" class=\"%s\">%u deletion%s in the "
		    "last minute of %u allowed</span>",
		    d->breaker_recent >= d->breaker_max ? "warn" : "ok", d->breaker_recent,
		    s_(d->breaker_recent), d->breaker_max);
		fprintf(f,
			". The reaper has completed %lu pass%s and leaves %zu entr%s (%zu "
			"labelled by another mount or by hand).",
			d->reaper_passes, d->reaper_passes == 1 ? "" : "es", d->held,
			d->held == 1 ? "y" : "ies", d->not_ours);
	} else {
		fputs(".", f);
	}
	fputs("</p>\n<table class=\"sort\" id=\"sync-table\"><thead><tr><th>listing</th><th "
	      "class=\"n\">resources</th><th>last complete</th><th>last attempt</th><th>last "
	      "error</th></tr></thead><tbody>\n",
	      f);
	for (int l = 0; l < CF_LIST__COUNT; l++) {
		const struct cf_sync_state *s = &r->sync[l];
		fprintf(f, "<tr data-listing=\"%s\"><td>%s</td>",
			cf_listing_name((enum cf_listing) l), cf_listing_name((enum cf_listing) l));
		num_cell(f, s->count);
		if (s->last_complete)
			fprintf(f, "<td data-v=\"%" PRId64 "\">%s (%s ago)</td>", s->last_complete,
				rf_time(s->last_complete, a),
				rf_span(r->now - s->last_complete, b));
		else
			fputs("<td data-v=\"0\" class=\"warn\">never</td>", f);
		fprintf(f, "<td data-v=\"%" PRId64 "\">%s</td><td%s>", s->last_attempt,
			rf_time(s->last_attempt, c), s->last_error[0] ? " class=\"warn\"" : "");
		if (r->sync_rc[l] && r->sync_rc[l] != -ENOENT)
			fprintf(f, "cannot read the sync state: %s", strerror(-r->sync_rc[l]));
		else
			rf_html(f, s->last_error[0] ? s->last_error : "none");
		fputs("</td></tr>\n", f);
	}
	fputs("</tbody></table>\n", f);
	fprintf(f,
		"<h3>Trash</h3>\n<p><span id=\"trash-count\" data-count=\"%" PRIu64 "\">%s</span> "
		"entr%s in <code>.clonefs/trash/</code>, storing %s; the grace period is %s "
		"(<code>prune.grace_seconds</code>). <code>mv</code> one back to keep it.</p>\n",
		r->trash_count, rf_count(r->trash_count, a), r->trash_count == 1 ? "y" : "ies",
		rf_bytes(r->trash_stored, b), rf_span(r->grace_seconds, c));
	if (r->ntrash) {
		fputs("<table class=\"sort\" id=\"trash-table\"><thead><tr><th>path</th><th "
		      "class=\"n\">stored</th><th>deleted at</th><th>by</th></tr></thead><tbody>\n",
		      f);
		for (size_t i = 0; i < r->ntrash; i++) {
			const struct cf_report_path *t = &r->trash[i];
			fputs("<tr><td><code>.clonefs/trash/", f);
			rf_html(f, t->path);
			fputs("</code></td>", f);
			bytes_cell(f, t->stored);
			if (t->at)
				fprintf(f, "<td data-v=\"%" PRId64 "\">%s (%s %s)</td>", t->at,
					rf_time(t->at, a), t->at > r->now ? "in" : "due",
					t->at > r->now ? rf_span(t->at - r->now, b) : "now");
			else {
				fputs("<td data-v=\"0\" class=\"warn\">never by this mount (", f);
				rf_html(f, t->detail);
				fputs(")</td>", f);
			}
			fprintf(f, "<td>%s</td></tr>\n",
				t->ours ? "this mount"
				: t->at ? "another mount"
					: "not clonefs");
		}
		fputs("</tbody></table>\n", f);
	}
	more_line(f, r->trash_more, "entries");
	fputs("</section>\n", f);
}

int report_render_html(FILE *f, const struct cf_report *r, const struct report_daemon *d)
{
	char hash[64];
	script_hash(hash);
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n", f);
	fprintf(f,
		"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
		"style-src 'unsafe-inline'; script-src 'sha256-%s'\">\n",
		hash);
	fputs("<meta name=\"viewport\" content=\"width=device-width\">\n<title>clonefs report: ",
	      f);
	rf_html(f, d->project);
	fprintf(f, "</title>\n<style>%s</style></head><body>\n", style);
	header(f, r, d);
	age_section(f, r);
	spend_section(f, r);
	prune_section(f, r);
	lineage_section(f, r);
	unlabeled_section(f, r);
	health_section(f, r, d);
	fprintf(f, "<script>%s</script>\n</body></html>\n", sort_script);
	return ferror(f) ? -EIO : 0;
}
