/* control.c — the .clonefs/ directory the daemon serves itself (inode base 1, store.h):
 *
 *   status           JSON: project, endpoint, whether the API answers, and per listing how
 *                    many resources it held, when it last completed (RFC 3339 and epoch
 *                    seconds), how old that is, the last attempt and the last error
 *   log              the recent warnings, errors and refusals (cf_log_recent)
 *   inventory.jsonl  one JSON object per resource: the fast path for scripts and exporters
 *   policy           the effective policy, as JSON
 *   metrics          Prometheus text format, for node_exporter's textfile collector (metrics.c)
 *   unlabeled        every resource missing a label the policy requires, one path a line
 *   trash/           resources waiting for their grace period (the store lists them)
 *   by-id/           a symlink per resource id to where it is now (the store lists them)
 *   jobs/            one read-only file per unfinished clone or restore job, named by its id,
 *                    holding one line of JSON (cf_jobs_describe); `rm jobs/ID` cancels a clone job
 *   report.html      a picture of the inventory for a browser, and report.json, its figures
 *                    (report_files.c: unlike the others, a stat already gives their true size)
 *
 * Each file is generated when it is opened, so a reader sees one consistent text, and is
 * opened with direct_io, so nothing is served from a stale page cache. A file reports the size
 * of the text its latest open generated (0 before the first): `cat` reads until EOF anyway,
 * and a reader that opens, fstats and copies st_size bytes (sendfile in Python's shutil.copy)
 * gets its whole text, where a size of 0 gave it nothing. The JSON is written by hand: it must stay
 * fast for 100,000 lines and always parse, so every string goes through one escaper that also
 * repairs bad UTF-8. */
#include "fs.h"

#include "engine.h"
#include "feed.h"
#include "http.h"
#include "layout.h"
#include "log.h"
#include "metrics.h"
#include "policy.h"
#include "model.h"
#include "options.h"
#include "store.h"
#include "sync.h"
#include "tmpfile.h"
#include "registry.h"
#include "engine.h"
#include "journal.h"
#include "report_files.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	CTL_DIR = CF_INO(CF_INO_CONTROL_BASE, 0),
	CTL_STATUS = CF_INO(CF_INO_CONTROL_BASE, 1),
	CTL_LOG = CF_INO(CF_INO_CONTROL_BASE, 2),
	CTL_INVENTORY = CF_INO(CF_INO_CONTROL_BASE, 3),
	CTL_POLICY = CF_INO(CF_INO_CONTROL_BASE, 4),
	CTL_METRICS = CF_INO(CF_INO_CONTROL_BASE, 5),
	CTL_UNLABELED = CF_INO(CF_INO_CONTROL_BASE, 6),
	/* 7 is jobs/ (fs.h) */
	CTL_REPORT_HTML = CF_INO(CF_INO_CONTROL_BASE, 8),
	CTL_REPORT_JSON = CF_INO(CF_INO_CONTROL_BASE, 9),
	CTL_RESYNC = CF_INO(CF_INO_CONTROL_BASE, 10),
};

static const struct {
	const char *name;
	uint64_t ino;
} ctl_files[] = {
    {"status", CTL_STATUS},
    {"log", CTL_LOG},
    {"inventory.jsonl", CTL_INVENTORY},
    {"policy", CTL_POLICY},
    {"metrics", CTL_METRICS},
    {"unlabeled", CTL_UNLABELED},
    {"report.html", CTL_REPORT_HTML},
    {"report.json", CTL_REPORT_JSON},
    {"resync", CTL_RESYNC},
};
#define N_CTL_FILES (sizeof ctl_files / sizeof ctl_files[0])

/* The length of each file's latest generated text, by CF_INO_SUB (1..6). */
static _Atomic uint64_t latest_len[16];

/* ---- attributes and names ---- */

static void dir_stat(struct cf_fs *fs, struct cf_stat *out)
{
	memset(out, 0, sizeof *out);
	out->ino = CTL_DIR;
	out->mode = S_IFDIR | 0755;
	out->nlink = 2;
	out->mtime = out->ctime = fs->mounted_at;
}

/* .clonefs/trash: its attributes are ours, its entries the store's. */
static void trash_stat(struct cf_fs *fs, struct cf_stat *out)
{
	dir_stat(fs, out);
	out->ino = CF_INO_TRASH;
}

static void file_stat(uint64_t ino, struct cf_stat *out)
{
	memset(out, 0, sizeof *out);
	out->ino = ino;
	out->mode = S_IFREG | 0444;
	out->nlink = 1;
	out->size = atomic_load(&latest_len[CF_INO_SUB(ino) & 15]);
	out->mtime = out->ctime = time(NULL);
}

static bool is_report(uint64_t ino)
{
	return ino == CTL_REPORT_HTML || ino == CTL_REPORT_JSON;
}

/* A report's attributes: its true size, generating the text when the cached one is stale
 * (a listing, !generate, shows the cached size). */
static void report_stat(struct cf_fs *fs, uint64_t ino, struct cf_stat *out, bool generate)
{
	enum report_which w = ino == CTL_REPORT_HTML ? REPORT_HTML : REPORT_JSON;
	int64_t mtime = time(NULL);
	file_stat(ino, out);
	out->size = generate ? report_size(fs, w, &mtime) : report_cached_size(w, &mtime);
	out->mtime = out->ctime = mtime;
}

/* A control file's attributes. The reports and the policy (which never changes while
 * mounted, and is cheap to write out) give their true size; the others that of their latest
 * open's text. */
static void ctl_stat(struct cf_fs *fs, uint64_t ino, struct cf_stat *out, bool generate)
{
	if (is_report(ino)) {
		report_stat(fs, ino, out, generate);
		return;
	}
	file_stat(ino, out);
	if (ino == CTL_POLICY && fs->policy) {
		char *js = cf_policy_to_json(fs->policy);
		if (js)
			out->size = strlen(js);
		free(js);
	}
}

/* .clonefs/jobs/: its listing changes with every job, of this daemon or of another that shares
 * the journal, and no change is reported: its mtime is now, to the nanosecond, and the kernel
 * (which asks for it at every rewind, the attributes are never cached) drops a kept listing
 * whose directory's mtime moved. */
static void jobs_stat(struct cf_fs *fs, struct cf_stat *out)
{
	struct timespec now;
	dir_stat(fs, out);
	out->ino = CF_INO_JOBS;
	clock_gettime(CLOCK_REALTIME, &now);
	out->mtime = out->ctime = now.tv_sec;
	out->mtime_ns = (uint32_t) now.tv_nsec;
}

/* A job's name: its id in decimal, as the listing writes it (no sign, no leading zero). */
static bool job_id_of(const char *name, uint64_t *id)
{
	uint64_t v = 0;
	size_t n = strlen(name);
	if (n == 0 || n > 19 || name[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (name[i] < '0' || name[i] > '9')
			return false;
		v = v * 10 + (uint64_t) (name[i] - '0');
	}
	if (v == 0 || v >= CF_INO_JOBS_BASE)
		return false;
	*id = v;
	return true;
}

/* Job id's attributes; -ENOENT when it ended (or on a mount without the journal). */
static int job_stat(struct cf_fs *fs, uint64_t id, struct cf_stat *out)
{
	char *line = NULL;
	size_t len = 0;
	if (!fs->journal)
		return -ENOENT;
	int rc = cf_jobs_describe(fs->journal, id, &line, &len);
	if (rc)
		return rc == -ENOENT ? rc : -EIO;
	free(line);
	memset(out, 0, sizeof *out);
	out->ino = CF_INO(CF_INO_JOBS_BASE + id, 1);
	out->mode = S_IFREG | 0444;
	out->nlink = 1;
	out->size = len;
	out->mtime = out->ctime = time(NULL);
	return 0;
}

void control_root_entry(struct cf_fs *fs, struct cf_stat *out)
{
	dir_stat(fs, out);
}

int control_lookup(struct cf_fs *fs, uint64_t parent, const char *name, struct cf_stat *out)
{
	if (parent == CF_INO_ROOT) {
		if (strcmp(name, ".clonefs") != 0)
			return -ENOENT;
		dir_stat(fs, out);
		return 0;
	}
	if (parent == CF_INO_TRASH || parent == CF_INO_BYID)
		return cf_store_lookup(fs->store, parent, name, out);
	if (parent == CF_INO_JOBS) {
		uint64_t id;
		return job_id_of(name, &id) ? job_stat(fs, id, out) : -ENOENT;
	}
	if (parent != CTL_DIR)
		return -ENOTDIR;
	if (!strcmp(name, "trash")) {
		trash_stat(fs, out);
		return 0;
	}
	if (!strcmp(name, "by-id")) {
		trash_stat(fs, out);
		out->ino = CF_INO_BYID;
		return 0;
	}
	if (!strcmp(name, "jobs")) {
		jobs_stat(fs, out);
		return 0;
	}
	for (size_t i = 0; i < N_CTL_FILES; i++) {
		if (strcmp(name, ctl_files[i].name) == 0) {
			ctl_stat(fs, ctl_files[i].ino, out, true);
			return 0;
		}
	}
	return -ENOENT;
}

int control_getattr(struct cf_fs *fs, uint64_t ino, struct cf_stat *out)
{
	if (ino == CTL_DIR) {
		dir_stat(fs, out);
		return 0;
	}
	if (ino == CF_INO_TRASH || ino == CF_INO_BYID) {
		trash_stat(fs, out);
		out->ino = ino;
		return 0;
	}
	if (ino == CF_INO_JOBS) {
		jobs_stat(fs, out);
		return 0;
	}
	if (control_is_job(ino))
		return job_stat(fs, CF_INO_BASE(ino) - CF_INO_JOBS_BASE, out);
	for (size_t i = 0; i < N_CTL_FILES; i++) {
		if (ino == ctl_files[i].ino) {
			ctl_stat(fs, ino, out, true);
			return 0;
		}
	}
	return -ENOENT;
}

struct jobs_list {
	struct cf_fs *fs;
	cf_dir_fn fn;
	void *ctx;
};

static int jobs_entry(void *ctx, uint64_t id)
{
	struct jobs_list *jl = ctx;
	struct cf_stat st;
	char name[24];
	if (id >= CF_INO_JOBS_BASE || job_stat(jl->fs, id, &st))
		return 0; /* ended meanwhile */
	int n = snprintf(name, sizeof name, "%" PRIu64, id);
	return jl->fn(jl->ctx, name, (size_t) n, &st);
}

int control_readdir(struct cf_fs *fs, uint64_t ino, cf_dir_fn fn, void *ctx)
{
	struct cf_stat st;
	if (ino == CF_INO_TRASH || ino == CF_INO_BYID)
		return cf_store_readdir(fs->store, ino, fn, ctx);
	if (ino == CF_INO_JOBS) {
		struct jobs_list jl = {fs, fn, ctx};
		int rc = fs->journal ? cf_jobs_each(fs->journal, jobs_entry, &jl) : 0;
		return rc < 0 ? rc : 0;
	}
	if (ino != CTL_DIR)
		return control_getattr(fs, ino, &st) == 0 ? -ENOTDIR : -ENOENT;
	for (size_t i = 0; i < N_CTL_FILES; i++) {
		ctl_stat(fs, ctl_files[i].ino, &st, false);
		if (fn(ctx, ctl_files[i].name, strlen(ctl_files[i].name), &st))
			return 0;
	}
	trash_stat(fs, &st);
	if (fn(ctx, "trash", 5, &st))
		return 0;
	st.ino = CF_INO_BYID;
	if (fn(ctx, "by-id", 5, &st))
		return 0;
	jobs_stat(fs, &st);
	fn(ctx, "jobs", 4, &st);
	return 0;
}

/* ---- a growable text buffer with a JSON string escaper ---- */

/* A text being generated. With spill_dir set, a text that outgrows CONTROL_SPILL bytes is
 * written on to an unlinked file there, a buffer at a time: inventory.jsonl is 24 MB at
 * 100,000 resources, and held whole it was a third of the daemon's peak memory. The file's
 * pages are the page cache's, which the kernel writes back and reclaims, not the daemon's. */
enum { CONTROL_SPILL = 1 << 20 };
struct jbuf {
	char *p;
	size_t len, cap;
	bool oom;
	const char *spill_dir;
	int fd;		  /* the spill file, -1 until there is one */
	uint64_t spilled; /* bytes written to it */
	int err;	  /* a failed spill (negative errno) */
};

/* Write the buffer out to the spill file. */
static bool jb_spill(struct jbuf *b)
{
	if (b->fd < 0) {
		b->fd = cf_unlinked_file(b->spill_dir, "control");
		if (b->fd < 0) {
			b->err = b->fd;
			cf_err("control: cannot create a file in %s for a large text: %s",
			       b->spill_dir, strerror(-b->err));
			return false;
		}
	}
	for (size_t at = 0; at < b->len;) {
		ssize_t w = pwrite(b->fd, b->p + at, b->len - at, (off_t) (b->spilled + at));
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			b->err = w < 0 ? -errno : -EIO;
			cf_err("control: cannot write a large text to %s: %s", b->spill_dir,
			       strerror(-b->err));
			return false;
		}
		at += (size_t) w;
	}
	b->spilled += b->len;
	b->len = 0;
	return true;
}

static bool jb_reserve(struct jbuf *b, size_t more)
{
	size_t cap;
	char *p;
	if (b->oom || b->err)
		return false;
	if (b->len + more <= b->cap)
		return true;
	if (b->spill_dir && b->len + more > CONTROL_SPILL && b->len) {
		if (!jb_spill(b))
			return false;
		if (more <= b->cap)
			return true;
	}
	cap = b->cap ? b->cap : 4096;
	while (cap < b->len + more)
		cap *= 2;
	p = realloc(b->p, cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void jb_put(struct jbuf *b, const char *s, size_t n)
{
	if (!jb_reserve(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
}

static void jb_puts(struct jbuf *b, const char *s)
{
	jb_put(b, s, strlen(s));
}

static void jb_printf(struct jbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void jb_printf(struct jbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (!jb_reserve(b, 64))
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t) n >= b->cap - b->len) {
		if (!jb_reserve(b, (size_t) n + 1))
			return;
		va_start(ap, fmt);
		vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t) n;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t len;
	uint32_t cp;
	if (s[0] < 0xc2 || s[0] > 0xf4)
		return 0;
	len = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	if (n < len)
		return 0;
	cp = s[0] & (0x7f >> len);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return len;
}

/* s as a JSON string (quoted), or null when s is NULL. Control characters are escaped and
 * bytes that are not UTF-8 become U+FFFD, so the output always parses. */
static void jb_str(struct jbuf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *) s, *run;
	size_t n;
	if (!s) {
		jb_put(b, "null", 4);
		return;
	}
	n = strlen(s);
	jb_put(b, "\"", 1);
	run = p;
	while (n > 0) {
		unsigned char c = *p;
		size_t seq;
		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			p++;
			n--;
			continue;
		}
		if (c >= 0x80 && (seq = utf8_seq(p, n)) > 0) {
			p += seq;
			n -= seq;
			continue;
		}
		jb_put(b, (const char *) run, (size_t) (p - run));
		switch (c) {
		case '"':
			jb_put(b, "\\\"", 2);
			break;
		case '\\':
			jb_put(b, "\\\\", 2);
			break;
		case '\n':
			jb_put(b, "\\n", 2);
			break;
		case '\t':
			jb_put(b, "\\t", 2);
			break;
		case '\r':
			jb_put(b, "\\r", 2);
			break;
		default:
			if (c < 0x20)
				jb_printf(b, "\\u%04x", c);
			else
				jb_put(b, "\\ufffd", 6);
			break;
		}
		p++;
		n--;
		run = p;
	}
	jb_put(b, (const char *) run, (size_t) (p - run));
	jb_put(b, "\"", 1);
}

/* A UTC RFC 3339 timestamp as a JSON string, or null for "never" (0). */
static void jb_time(struct jbuf *b, int64_t t)
{
	char buf[32];
	if (t == 0 || cf_time_format(t, buf, sizeof buf) < 0) {
		jb_put(b, "null", 4);
		return;
	}
	jb_put(b, "\"", 1);
	jb_puts(b, buf);
	jb_put(b, "\"", 1);
}

/* UTC seconds as a JSON number, or null for "never" (0): for scripts that compare times. */
static void jb_epoch(struct jbuf *b, int64_t t)
{
	if (t == 0)
		jb_put(b, "null", 4);
	else
		jb_printf(b, "%" PRId64, t);
}

static int jb_finish(struct jbuf *b, char **data, size_t *len)
{
	if (b->oom || b->err) {
		free(b->p);
		return b->err ? b->err : -ENOMEM;
	}
	*data = b->p;
	*len = b->len;
	return 0;
}

/* jb_finish for a buffer that may have spilled: the rest written out, *fd the file. */
static int jb_finish_fd(struct jbuf *b, char **data, size_t *len, int *fd)
{
	*fd = -1;
	if (b->fd >= 0 && !b->oom && !b->err && b->len)
		jb_spill(b);
	if (b->fd < 0 || b->oom || b->err) {
		if (b->fd >= 0)
			close(b->fd);
		return jb_finish(b, data, len);
	}
	free(b->p);
	*data = NULL;
	*len = (size_t) b->spilled;
	*fd = b->fd;
	return 0;
}

/* ---- the files ---- */

/* The reaper's refusals, for status: every held entry, then (second pass)
 * the paths of those another mount or no clonefs labelled. */
struct held_json {
	struct jbuf *b;
	bool not_ours_only;
	size_t n;
};

static void held_line(void *ctx, const char *path, const char *value, bool not_ours,
		      const char *reason)
{
	struct held_json *h = ctx;
	char shown[CF_PATH_MAX + 32];
	if (h->not_ours_only && !not_ours)
		return;
	snprintf(shown, sizeof shown, ".clonefs/trash/%s", path);
	jb_puts(h->b, h->n++ ? ",\n    " : "\n    ");
	if (h->not_ours_only) {
		jb_str(h->b, shown);
		return;
	}
	jb_puts(h->b, "{\"path\": ");
	jb_str(h->b, shown);
	jb_puts(h->b, ", \"clonefs-delete-at\": ");
	jb_str(h->b, value);
	jb_printf(h->b, ", \"not_ours\": %s, \"reason\": ", not_ours ? "true" : "false");
	jb_str(h->b, reason);
	jb_puts(h->b, "}");
}

static void gen_reaper(struct cf_fs *fs, struct jbuf *b)
{
	if (!fs->engine)
		return;
	/* What the reaper leaves in the trash and why (SEMANTICS.md, Pruning). */
	jb_puts(b, ",\n  \"mount_id\": ");
	jb_str(b, cf_engine_mount_id(fs->engine));
	struct held_json h = {.b = b};
	jb_puts(b, ",\n  \"trash_held\": [");
	unsigned long passes = cf_engine_foreach_held(fs->engine, held_line, &h);
	jb_puts(b, h.n ? "\n  ]" : "]");
	h = (struct held_json){.b = b, .not_ours_only = true};
	jb_puts(b, ",\n  \"trash_not_ours\": [");
	cf_engine_foreach_held(fs->engine, held_line, &h);
	jb_puts(b, h.n ? "\n  ]" : "]");
	jb_printf(b, ",\n  \"reaper_passes\": %lu", passes);
}

/* The change feed (feed.h), when one is configured. */
static void gen_feed(struct cf_fs *fs, struct jbuf *b)
{
	struct cf_feed_stats fst;
	if (!fs->feed)
		return;
	cf_feed_get_stats(fs->feed, &fst);
	jb_puts(b, ",\n  \"feed\": {\"subscription\": ");
	jb_str(b, fs->feed_src->name);
	jb_puts(b, ", \"state\": ");
	jb_str(b, fst.state);
	jb_printf(b, ", \"full_interval\": %u", fs->opt->feed_full_interval);
	jb_printf(b, ", \"lag_max\": %u", fs->opt->feed_lag_max);
	jb_printf(b, ", \"polling\": %s", fst.polling ? "true" : "false");
	jb_printf(b,
		  ", \"messages\": %" PRIu64 ", \"applied\": %" PRIu64 ", \"stale\": %" PRIu64
		  ", \"ignored\": %" PRIu64 ", \"errors\": %" PRIu64 ", \"lag_ms\": %" PRId64
		  ", \"requests\": %lu, \"bytes_in\": %lu",
		  fst.messages, fst.applied, fst.stale, fst.ignored, fst.errors, fst.lag_ms,
		  fst.requests, fst.bytes);
	/* the counters .clonefs/metrics exports as clonefs_feed_*_total (metrics.c) */
	jb_printf(b,
		  ", \"acknowledged\": %" PRIu64 ", \"ack_failures\": %" PRIu64
		  ", \"hold_extensions\": %" PRIu64 ", \"hold_extension_failures\": %" PRIu64
		  ", \"pulls\": %" PRIu64 ", \"pull_failures\": %" PRIu64 ", \"last_pull\": ",
		  fst.acked, fst.ack_failures, fst.extends, fst.extend_failures, fst.pulls,
		  fst.pull_failures);
	jb_time(b, fst.last_pull);
	jb_puts(b, ", \"last_pull_epoch\": ");
	jb_epoch(b, fst.last_pull);
	jb_puts(b, ", \"last_error\": ");
	jb_str(b, fst.last_error[0] ? fst.last_error : NULL);
	jb_puts(b, "}");
}

static int gen_status(struct cf_fs *fs, char **data, size_t *len)
{
	const struct cf_options *o = fs->opt;
	struct jbuf b = {0};
	struct cf_http_stats hs;
	struct cf_sync_state st[CF_LIST__COUNT];
	int st_rc[CF_LIST__COUNT];
	int64_t now = time(NULL);

	for (int l = 0; l < CF_LIST__COUNT; l++) {
		st_rc[l] = cf_store_get_sync_state(fs->store, (enum cf_listing) l, &st[l]);
		if (st_rc[l] == -ENOENT) {
			memset(&st[l], 0, sizeof st[l]); /* never listed */
			st_rc[l] = 0;
		}
		st[l].last_error[sizeof st[l].last_error - 1] = '\0';
	}

	jb_puts(&b, "{\n  \"project\": ");
	jb_str(&b, o->project);
	jb_puts(&b, ",\n  \"endpoint\": ");
	jb_str(&b, o->endpoint);
	/* Reachable once a listing completed in this daemon, and as long as the sync's latest
	 * request got an answer: the sync alone is optimistic until its first request (with
	 * every retry) has ended, and a remount on a dead API must say false at once. */
	jb_printf(&b, ",\n  \"api_reachable\": %s",
		  atomic_load(&fs->listed) && fs->sync && cf_sync_api_reachable(fs->sync)
		      ? "true"
		      : "false");
	jb_puts(&b, ",\n  \"cache\": ");
	jb_str(&b, o->cache_dir);
	jb_printf(&b, ",\n  \"schema\": %d", CF_STORE_SCHEMA);
	jb_puts(&b, ",\n  \"version\": ");
	jb_str(&b, CLONEFS_VERSION);
	jb_printf(&b, ",\n  \"read_only\": %s", fs->read_only ? "true" : "false");
	jb_printf(&b, ",\n  \"pid\": %ld", (long) getpid());
	jb_puts(&b, ",\n  \"mounted_at\": ");
	jb_time(&b, fs->mounted_at);
	jb_printf(&b, ",\n  \"sync_interval\": %u", o->sync_interval);
	jb_printf(&b, ",\n  \"reconcile_interval\": %u", o->reconcile);
	jb_puts(&b, ",\n  \"auth\": ");
	jb_str(&b, cf_source_credentials(o->src));
	if (fs->http) {
		cf_http_get_stats(fs->http, &hs);
		jb_printf(&b,
			  ",\n  \"http\": {\"requests\": %lu, \"retries\": %lu, \"failures\": %lu, "
			  "\"bytes_in\": %lu, \"wire_bytes_in\": %lu, \"backoff_waits\": %lu}",
			  hs.requests, hs.retries, hs.failures, hs.bytes_in, hs.wire_in, hs.held);
	}
	gen_feed(fs, &b);
	/* The listing running now: how far the (first) sync is. */
	struct cf_progress pg;
	cf_metrics_get_progress(&pg);
	jb_printf(&b, ",\n  \"passes\": %u", pg.pass);
	if (pg.active) {
		jb_puts(&b, ",\n  \"progress\": {\"listing\": ");
		jb_str(&b, cf_listing_name(pg.listing));
		jb_printf(&b, ", \"done\": %" PRIu64 ", \"estimate\": ", pg.done);
		if (pg.estimate)
			jb_printf(&b, "%" PRIu64, pg.estimate);
		else
			jb_puts(&b, "null");
		jb_printf(&b, ", \"first_pass\": %s}", pg.pass <= 1 ? "true" : "false");
	} else {
		jb_puts(&b, ",\n  \"progress\": null");
	}
	gen_reaper(fs, &b);
	if (fs->engine) { /* restores since this daemon started (restore.h) */
		struct cf_engine_stats es;
		cf_engine_get_stats(fs->engine, &es);
		jb_printf(&b,
			  ",\n  \"restores\": {\"started\": %lu, \"failed\": %lu, "
			  "\"from_copies_older_than_30_days\": %lu}",
			  es.restores, es.restores_failed, es.restores_old);
	}
	jb_puts(&b, ",\n  \"collections\": {");
	for (int l = 0, shown = 0; l < CF_LIST__COUNT; l++) {
		const struct cf_sync_state *c = &st[l];
		if (!cf_listing_used((enum cf_listing) l))
			continue; /* not in this provider's tree (layout.h) */
		jb_puts(&b, shown++ ? ",\n    " : "\n    ");
		jb_str(&b, cf_listing_name((enum cf_listing) l));
		jb_puts(&b, ": {");
		if (st_rc[l] < 0) {
			char msg[128];
			snprintf(msg, sizeof msg, "reading the sync state failed: %s",
				 strerror(-st_rc[l]));
			jb_puts(&b, "\"error\": ");
			jb_str(&b, msg);
			jb_puts(&b, "}");
			continue;
		}
		jb_printf(&b, "\"count\": %" PRIu64 ", \"last_complete\": ", c->count);
		jb_time(&b, c->last_complete);
		if (c->last_complete)
			jb_printf(&b, ", \"age_seconds\": %" PRId64,
				  now > c->last_complete ? now - c->last_complete : 0);
		else
			jb_puts(&b, ", \"age_seconds\": null");
		jb_puts(&b, ", \"last_complete_epoch\": ");
		jb_epoch(&b, c->last_complete);
		jb_puts(&b, ", \"last_attempt\": ");
		jb_time(&b, c->last_attempt);
		jb_puts(&b, ", \"last_attempt_epoch\": ");
		jb_epoch(&b, c->last_attempt);
		jb_puts(&b, ", \"last_error\": ");
		jb_str(&b, c->last_error[0] ? c->last_error : NULL);
		jb_puts(&b, "}");
	}
	jb_puts(&b, "\n  }\n}\n");
	return jb_finish(&b, data, len);
}

static int inventory_line(void *ctx, const char *path, const struct cf_resource *r)
{
	struct jbuf *b = ctx;
	jb_puts(b, "{\"path\":");
	jb_str(b, path);
	jb_puts(b, ",\"kind\":");
	jb_str(b, cf_kind_name(r->kind));
	jb_puts(b, ",\"status\":");
	jb_str(b, r->status);
	jb_puts(b, ",\"created\":");
	jb_time(b, r->created);
	jb_printf(b, ",\"size_bytes\":%" PRIu64 ",\"stored_bytes\":%" PRIu64 ",\"labels\":{",
		  r->size_bytes, r->stored_bytes);
	for (size_t i = 0; i < r->nlabels; i++) {
		if (i)
			jb_put(b, ",", 1);
		jb_str(b, r->labels[i].key ? r->labels[i].key : "");
		jb_put(b, ":", 1);
		jb_str(b, r->labels[i].value ? r->labels[i].value : "");
	}
	jb_puts(b, "},\"source\":");
	jb_str(b, r->source);
	jb_puts(b, "}\n");
	return b->oom || b->err ? 1 : 0;
}

static int gen_inventory(struct cf_fs *fs, char **data, size_t *len, int *fd)
{
	struct jbuf b = {.spill_dir = fs->opt->cache_dir, .fd = -1};
	int rc = cf_store_foreach_resource(fs->store, inventory_line, &b);
	if (rc < 0 && rc != -ENOENT && !b.oom && !b.err) {
		free(b.p);
		if (b.fd >= 0)
			close(b.fd);
		return rc;
	}
	if (!b.p && !b.oom)
		jb_reserve(&b, 1); /* an empty inventory is an empty file, not an error */
	return jb_finish_fd(&b, data, len, fd);
}

/* .clonefs/resync: the restored resources still marked clonefs-resync (restore.h), one JSON
 * line each; `setfattr -x user.clonefs-resync` on one confirms it and takes it off. */
static const char *label_in(const struct cf_resource *r, const char *key)
{
	for (size_t i = 0; i < r->nlabels; i++)
		if (r->labels[i].key && !strcmp(r->labels[i].key, key))
			return r->labels[i].value;
	return NULL;
}

static int resync_line(void *ctx, const char *path, const struct cf_resource *r)
{
	struct jbuf *b = ctx;
	const char *mark = label_in(r, "clonefs-resync");
	if (!mark)
		return 0;
	jb_puts(b, "{\"path\":");
	jb_str(b, path);
	jb_puts(b, ",\"kind\":");
	jb_str(b, cf_kind_name(r->kind));
	jb_puts(b, ",\"clonefs-resync\":");
	jb_str(b, mark);
	jb_puts(b, ",\"restored_from\":");
	jb_str(b, label_in(r, "clonefs-restored-from"));
	jb_puts(b, ",\"restored_at\":");
	jb_str(b, label_in(r, "clonefs-restored-at"));
	jb_puts(b, "}\n");
	return b->oom || b->err ? 1 : 0;
}

static int gen_resync(struct cf_fs *fs, char **data, size_t *len)
{
	struct jbuf b = {.fd = -1};
	int rc = cf_store_foreach_resource(fs->store, resync_line, &b);
	if (rc < 0 && rc != -ENOENT && !b.oom && !b.err) {
		free(b.p);
		return rc;
	}
	if (!b.p && !b.oom)
		jb_reserve(&b, 1);
	return jb_finish(&b, data, len);
}

static int generate(struct cf_fs *fs, uint64_t ino, char **data, size_t *len, int *fd);

int control_read(struct cf_fs *fs, uint64_t ino, char **data, size_t *len, int *fd)
{
	if (control_is_job(ino)) {
		*fd = -1;
		*data = NULL;
		*len = 0;
		if (!fs->journal)
			return -ENOENT;
		int rc =
		    cf_jobs_describe(fs->journal, CF_INO_BASE(ino) - CF_INO_JOBS_BASE, data, len);
		return rc == -ENOENT || rc == -ENOMEM ? rc : rc ? -EIO : 0;
	}
	if (ino == CF_INO_JOBS)
		return -EISDIR;
	int rc = generate(fs, ino, data, len, fd);
	if (rc >= 0 && !is_report(ino))
		atomic_store(&latest_len[CF_INO_SUB(ino) & 15], *len);
	return rc;
}

static int generate(struct cf_fs *fs, uint64_t ino, char **data, size_t *len, int *fd)
{
	*data = NULL;
	*len = 0;
	*fd = -1;
	switch (ino) {
	case CTL_DIR:
		return -EISDIR;
	case CTL_STATUS:
		return gen_status(fs, data, len);
	case CTL_POLICY: {
		char *js = fs->policy ? cf_policy_to_json(fs->policy) : NULL;
		if (!js)
			return -ENOMEM;
		*data = js;
		*len = strlen(js);
		return 0;
	}
	case CTL_LOG: {
		int rc = cf_log_recent(data, len);
		return rc < 0 ? rc : 0;
	}
	case CTL_INVENTORY:
		return gen_inventory(fs, data, len, fd);
	case CTL_METRICS:
		return cf_metrics_text(fs, data, len);
	case CTL_UNLABELED:
		return cf_metrics_unlabeled(fs, data, len);
	case CTL_REPORT_HTML:
		return report_open(fs, REPORT_HTML, data, len);
	case CTL_REPORT_JSON:
		return report_open(fs, REPORT_JSON, data, len);
	case CTL_RESYNC:
		return gen_resync(fs, data, len);
	default:
		return -ENOENT;
	}
}

int control_cancel_job(struct cf_fs *fs, const struct cf_caller *c, const char *name)
{
	char shown[64 + CF_NAME_MAX];
	uint64_t id;
	snprintf(shown, sizeof shown, "/.clonefs/jobs/%s", name);
	if (!job_id_of(name, &id) || !fs->journal)
		return -ENOENT;
	return cf_engine_cancel_job(fs->engine, c, id, shown);
}
