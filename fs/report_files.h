/* report_files.h — .clonefs/report.html and .clonefs/report.json: the daemon's side of the report.
 *
 *   report_files.c the two files' cache: generated from one cf_report (lib/core/report.h) at a
 *                  store generation, so a stat gives the true size of the text an open then
 *                  serves (a browser reads st_size bytes of a file:// URL)
 *   report_html.c  the page: HTML with inline SVG, readable without a script
 *   report_json.c  the same figures for scripts
 *   report_fmt.c   what both need: escaping for HTML and JSON, numbers for people */
#ifndef CLONEFS_FS_REPORT_FILES_H
#define CLONEFS_FS_REPORT_FILES_H

#include "fs.h"
#include "report.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* What only the daemon knows, shown in the Health section. */
struct report_daemon {
	const char *project, *version, *mount_id;
	int64_t generated;   /* UTC seconds */
	uint64_t generation; /* the store's (cf_store_generation) */
	bool api_reachable, read_only, have_engine;
	unsigned breaker_recent, breaker_max;
	unsigned long reaper_passes;
	bool have_http;
	unsigned long requests, retries, failures; /* this daemon's HTTP requests */
	size_t held, not_ours;
};

enum report_which { REPORT_HTML = 0, REPORT_JSON = 1 };

/* The size of a report file's current text (generating it when the cached one is stale):
 * what getattr shows. 0 when it cannot be generated (the reason is logged). */
uint64_t report_size(struct cf_fs *fs, enum report_which w, int64_t *mtime);
/* The cached text's size, never generating (0 before the first): what a listing shows. */
uint64_t report_cached_size(enum report_which w, int64_t *mtime);
/* A copy of the text to serve at open: the one whose size a stat just reported, else a
 * fresh one. */
int report_open(struct cf_fs *fs, enum report_which w, char **data, size_t *len);

/* The renderers: into f, from the same figures. */
int report_render_html(FILE *f, const struct cf_report *r, const struct report_daemon *d);
int report_render_json(FILE *f, const struct cf_report *r, const struct report_daemon *d);

/* ---- report_fmt.c ---- */
/* s as HTML text or attribute value: & < > " ' escaped, control characters and bytes that
 * are not UTF-8 as U+FFFD. NULL writes nothing. */
void rf_html(FILE *f, const char *s);
/* s as a JSON string, quoted (null for NULL), bad UTF-8 as \ufffd. */
void rf_json(FILE *f, const char *s);
/* 1234567 -> "1,234,567" */
const char *rf_count(uint64_t v, char buf[32]);
/* bytes as people read them: "512 B", "1.3 KiB", "10 GiB", "1.3 TiB" */
const char *rf_bytes(uint64_t v, char buf[32]);
/* seconds as people read them: "12 seconds", "5 minutes", "4 months", "2 years" */
const char *rf_span(int64_t s, char buf[32]);
/* UTC "2026-12-03 14:31 UTC", or "never" for 0 */
const char *rf_time(int64_t t, char buf[32]);

#endif
