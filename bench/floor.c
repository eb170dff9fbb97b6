/* floor — the fastest a FUSE server can show clonefs's global/snapshots tree on this machine.
 *
 * An in-memory, low-level FUSE server that lays out one snapshot inventory exactly as clonefs
 * does, read from a TSV file that scripts/bench writes from the same seed the emulator serves:
 *
 *   <mnt>/global/snapshots/<name>/                mtime = creation time, st_size = diskSizeGb <<
 * 30, st_blocks = storageBytes / 512, labels as user.* <mnt>/global/snapshots/<name>/status
 * "READY\n" <mnt>/global/snapshots/<name>/resource.json   the resource's JSON
 *   <mnt>/global/snapshots/<name>/source          symlink to ../../../zones/Z/disks/D
 *
 * It does nothing but answer: the whole inventory sits in one buffer, a name is found through one
 * hash probe, every other answer is computed from the inode number (no store, no locks, no I/O).
 * Hour-long entry and attribute timeouts, readdirplus, cached readdir, kept page cache, cached
 * symlinks, EOPNOTSUPP for every xattr namespace but user. (so ls and getfattr stop asking),
 * ENODATA for a missing label. What it costs is FUSE's own price per request, so it is the floor
 * under any FUSE implementation of this tree — what clonefs is measured against in one run.
 * It is not a filesystem anyone should use: it is read-only and never changes.
 *
 * With -k the kernel opens directories and files itself (FUSE_CAP_NO_OPENDIR_SUPPORT and
 * FUSE_CAP_NO_OPEN_SUPPORT, Linux >= 5.1): opendir and open answer ENOSYS once and are never
 * sent again, nor releasedir and release, and the kernel keeps listings and pages as it would
 * with cache_readdir and keep_cache. Its readdir needs no handle (the offset is an index into
 * a list that never changes), so this is the fastest server possible, what scripts/bench calls
 * "floor"; without -k it is the floor of issue 6, "floor-open".
 *
 * Adapted from ../shared/bench/fusefloor.c (same approach, clonefs's real layout and data).
 *
 * Input, one snapshot per line, tab-separated, no header:
 *   name  mtime(SECONDS[.NANOSECONDS])  size_bytes  stored_bytes  status  labels(k=v,k=v or empty)
 *   source_target  resource_json
 *
 * build: cc -O2 -o floor floor.c $(pkg-config --cflags --libs fuse3)
 * run:   floor [-s] [-k] [-d] TSV MOUNTPOINT (foreground; fusermount3 -u MOUNTPOINT ends it)
 *        -s single-threaded, -k the kernel opens (above), -d libfuse debug output */
/* 3.14's API, as clonefs uses: below 3.12, fuse_session_loop_mt() is the 3.2 entry point, which
 * reads the config as the old {clone_fd, max_idle_threads} struct; handed a fuse_loop_cfg_create()
 * config it sees max_idle_threads = 0 and creates and destroys a thread for every request —
 * ../shared/bench/fusefloor.c (FUSE_USE_VERSION 35) pays that on every round trip. */
#define FUSE_USE_VERSION FUSE_MAKE_VERSION(3, 14)
#include <fuse_lowlevel.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { ROOT = 1, GLOBAL = 2, SNAPS = 3, FIRST = 16 };
enum { K_DIR, K_STATUS, K_JSON, K_SOURCE, K_COUNT }; /* ino = FIRST + K_COUNT * i + kind */
static const char *const child_name[K_COUNT] = {NULL, "status", "resource.json", "source"};
static const int child_order[K_COUNT - 1] = {K_JSON, K_SOURCE, K_STATUS}; /* name order */
static const double TTL = 3600;

struct label {
	const char *name; /* "user.<key>" */
	const char *value;
	size_t value_len;
};

struct snap {
	const char *name;
	struct timespec mtime;
	uint64_t size, stored;
	char *status; /* with its newline */
	size_t status_len;
	const char *source;
	const char *json; /* as the API sent it: no newline of its own, like clonefs's */
	size_t json_len;
	struct label *labels;
	unsigned n_labels;
	char *xattr_list; /* "user.a\0user.b\0" for listxattr */
	size_t xattr_list_len;
};

static struct snap *snaps;
static size_t n_snaps;
static uint32_t *slots; /* open-addressing hash of names: index + 1, 0 = empty */
static size_t n_slots;
static struct timespec newest, started;
static int kernel_opens; /* -k, and the kernel offers it */

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	while (*s)
		h = (h ^ (unsigned char) *s++) * 1099511628211ull;
	return h;
}

static long find_snap(const char *name)
{
	for (size_t j = hash(name) & (n_slots - 1); slots[j]; j = (j + 1) & (n_slots - 1))
		if (!strcmp(snaps[slots[j] - 1].name, name))
			return (long) slots[j] - 1;
	return -1;
}

static size_t snap_of(fuse_ino_t ino)
{
	return (ino - FIRST) / K_COUNT;
}
static int kind_of(fuse_ino_t ino)
{
	return (int) ((ino - FIRST) % K_COUNT);
}
static int is_snap_dir(fuse_ino_t ino)
{
	return ino >= FIRST && kind_of(ino) == K_DIR;
}

static void fill(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ino;
	st->st_mode = S_IFDIR | 0555; /* read-only mount: no write bits */
	st->st_nlink =
	    2; /* as clonefs: every directory, whatever it holds (readdir gives d_type) */
	st->st_blksize = 4096;
	st->st_mtim = st->st_atim = newest;
	st->st_ctim = started;
	if (ino < FIRST)
		return;
	const struct snap *s = &snaps[snap_of(ino)];
	st->st_mtim = st->st_atim = s->mtime;
	switch (kind_of(ino)) {
	case K_DIR:
		st->st_size = (off_t) s->size;
		st->st_blocks = (blkcnt_t) ((s->stored + 511) / 512);
		break;
	case K_STATUS:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t) s->status_len;
		break;
	case K_JSON:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = (off_t) s->json_len;
		break;
	case K_SOURCE:
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t) strlen(s->source);
		break;
	}
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e = {.ino = ino, .attr_timeout = TTL, .entry_timeout = TTL};
	fill(ino, &e.attr);
	fuse_reply_entry(req, &e);
}

static void fl_init(void *userdata, struct fuse_conn_info *conn)
{
	(void) userdata;
	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (kernel_opens && (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) &&
	    (conn->capable & FUSE_CAP_NO_OPEN_SUPPORT))
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT | FUSE_CAP_NO_OPEN_SUPPORT;
	else
		kernel_opens = 0;
}

static void fl_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	long i;
	if (parent == ROOT && !strcmp(name, "global"))
		return reply_entry(req, GLOBAL);
	if (parent == GLOBAL && !strcmp(name, "snapshots"))
		return reply_entry(req, SNAPS);
	if (parent == SNAPS && (i = find_snap(name)) >= 0)
		return reply_entry(req, FIRST + K_COUNT * (fuse_ino_t) i);
	if (is_snap_dir(parent))
		for (int k = K_STATUS; k < K_COUNT; k++)
			if (!strcmp(name, child_name[k]))
				return reply_entry(req, parent + k);
	fuse_reply_err(req, ENOENT);
}

static void fl_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	(void) fi;
	fill(ino, &st);
	fuse_reply_attr(req, &st, TTL);
}

static void fl_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void) ino;
	if (kernel_opens)
		return (void) fuse_reply_err(req, ENOSYS);
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* The i-th entry of directory ino after "." and "..", or 0 past the end. */
static fuse_ino_t nth(fuse_ino_t ino, size_t i, const char **name)
{
	if (ino == ROOT && i == 0)
		return *name = "global", GLOBAL;
	if (ino == GLOBAL && i == 0)
		return *name = "snapshots", SNAPS;
	if (ino == SNAPS && i < n_snaps)
		return *name = snaps[i].name, FIRST + K_COUNT * i;
	if (is_snap_dir(ino) && i < K_COUNT - 1)
		return *name = child_name[child_order[i]], ino + (fuse_ino_t) child_order[i];
	return 0;
}

static fuse_ino_t parent_of(fuse_ino_t ino)
{
	return ino == SNAPS ? GLOBAL : ino < FIRST ? ROOT : SNAPS;
}

static void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	char *buf = malloc(size);
	size_t used = 0;
	if (!buf)
		return (void) fuse_reply_err(req, ENOMEM);
	for (off_t o = off;; o++) {
		struct fuse_entry_param e = {.attr_timeout = TTL, .entry_timeout = TTL};
		const char *name;
		if (o < 2) { /* "." and "..": the kernel ignores their attributes */
			name = o == 0 ? "." : "..";
			e.attr.st_ino = o == 0 ? ino : parent_of(ino);
			e.attr.st_mode = S_IFDIR;
		} else if ((e.ino = nth(ino, (size_t) o - 2, &name))) {
			fill(e.ino, &e.attr);
		} else {
			break;
		}
		size_t n =
		    plus ? fuse_add_direntry_plus(req, buf + used, size - used, name, &e, o + 1)
			 : fuse_add_direntry(req, buf + used, size - used, name, &e.attr, o + 1);
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void fl_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void) fi;
	readdir_common(req, ino, size, off, 0);
}

static void fl_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void) fi;
	readdir_common(req, ino, size, off, 1);
}

static void fl_readlink(fuse_req_t req, fuse_ino_t ino)
{
	if (ino < FIRST || kind_of(ino) != K_SOURCE)
		return (void) fuse_reply_err(req, EINVAL);
	fuse_reply_readlink(req, snaps[snap_of(ino)].source);
}

static void fl_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (ino < FIRST || kind_of(ino) == K_DIR)
		return (void) fuse_reply_err(req, EISDIR);
	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return (void) fuse_reply_err(req, EROFS);
	if (kernel_opens) /* default_permissions: the kernel refuses writes on its own */
		return (void) fuse_reply_err(req, ENOSYS);
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

static void fl_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void) fi;
	const struct snap *s = &snaps[snap_of(ino)];
	const char *p = kind_of(ino) == K_STATUS ? s->status : s->json;
	size_t len = kind_of(ino) == K_STATUS ? s->status_len : s->json_len;
	if (off < 0 || (size_t) off >= len)
		return (void) fuse_reply_buf(req, NULL, 0);
	fuse_reply_buf(req, p + off, len - (size_t) off < size ? len - (size_t) off : size);
}

static void reply_value(fuse_req_t req, const char *v, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, v, len);
}

/* Only user.* (labels) is ours. EOPNOTSUPP for every other namespace lets ls and getfattr
 * remember, per device, that there are no ACLs or security contexts to ask for; ENOSYS would
 * instead switch every xattr off for the whole mount. A missing label is ENODATA. */
static void fl_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	if (strncmp(name, "user.", 5))
		return (void) fuse_reply_err(req, EOPNOTSUPP);
	if (is_snap_dir(ino)) {
		const struct snap *s = &snaps[snap_of(ino)];
		for (unsigned k = 0; k < s->n_labels; k++)
			if (!strcmp(name, s->labels[k].name))
				return reply_value(req, s->labels[k].value, s->labels[k].value_len,
						   size);
	}
	fuse_reply_err(req, ENODATA);
}

static void fl_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	if (is_snap_dir(ino))
		reply_value(req, snaps[snap_of(ino)].xattr_list, snaps[snap_of(ino)].xattr_list_len,
			    size);
	else
		reply_value(req, "", 0, size);
}

static const struct fuse_lowlevel_ops ops = {
    .init = fl_init,
    .lookup = fl_lookup,
    .getattr = fl_getattr,
    .opendir = fl_opendir,
    .readdir = fl_readdir,
    .readdirplus = fl_readdirplus,
    .readlink = fl_readlink,
    .open = fl_open,
    .read = fl_read,
    .getxattr = fl_getxattr,
    .listxattr = fl_listxattr,
};

/* ---- input ---- */

static void die(const char *what, size_t line)
{
	fprintf(stderr, "floor: line %zu: %s\n", line, what);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p) {
		fprintf(stderr, "floor: out of memory\n");
		exit(1);
	}
	return p;
}

static void parse_labels(struct snap *s, char *text, size_t line)
{
	s->n_labels = 0;
	s->labels = NULL;
	s->xattr_list = NULL;
	s->xattr_list_len = 0;
	if (!*text)
		return;
	unsigned n = 1;
	for (const char *p = text; *p; p++)
		n += *p == ',';
	s->labels = xmalloc(n * sizeof *s->labels);
	s->xattr_list = xmalloc(strlen(text) + 6 * n + 1);
	for (char *tok = strtok(text, ","); tok; tok = strtok(NULL, ",")) {
		char *eq = strchr(tok, '=');
		if (!eq || eq == tok)
			die("a label is not key=value", line);
		*eq = '\0';
		struct label *l = &s->labels[s->n_labels++];
		char *nm = s->xattr_list + s->xattr_list_len;
		s->xattr_list_len += (size_t) sprintf(nm, "user.%s", tok) + 1;
		l->name = nm;
		l->value = eq + 1;
		l->value_len = strlen(eq + 1);
	}
}

static void parse_mtime(const char *text, struct timespec *ts, size_t line)
{
	char *end;
	ts->tv_sec = strtoll(text, &end, 10);
	ts->tv_nsec = 0;
	if (*end == '.') {
		long scale = 100000000;
		for (const char *p = end + 1; *p >= '0' && *p <= '9'; p++, scale /= 10)
			ts->tv_nsec += (*p - '0') * scale;
	} else if (*end) {
		die("mtime is not SECONDS[.FRACTION]", line);
	}
}

static void load(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		perror(path);
		exit(1);
	}
	size_t cap = 1 << 20, len = 0;
	char *buf = xmalloc(cap);
	for (size_t got; (got = fread(buf + len, 1, cap - len - 1, f)) > 0;)
		if ((len += got) + 1 == cap)
			if (!(buf = realloc(buf, cap *= 2)))
				die("out of memory", 0);
	fclose(f);
	if (len && buf[len - 1] != '\n')
		buf[len++] = '\n';
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		n_snaps += buf[i] == '\n';
	snaps = xmalloc(n_snaps * sizeof *snaps);
	n_slots = 16;
	while (n_slots < 2 * n_snaps)
		n_slots *= 2;
	slots = calloc(n_slots, sizeof *slots);
	if (!slots)
		die("out of memory", 0);

	char *p = buf;
	for (size_t i = 0; i < n_snaps; i++) {
		char *col[8];
		char *nl = strchr(p, '\n');
		for (int c = 0; c < 8; c++) {
			col[c] = p;
			char *tab = c < 7 ? memchr(p, '\t', (size_t) (nl - p)) : NULL;
			if (c < 7 && !tab)
				die("expected 8 tab-separated columns", i + 1);
			if (tab)
				*tab = '\0', p = tab + 1;
		}
		p = nl + 1;
		struct snap *s = &snaps[i];
		s->name = col[0];
		if (!*s->name || strchr(s->name, '/'))
			die("bad name", i + 1);
		parse_mtime(col[1], &s->mtime, i + 1);
		s->size = strtoull(col[2], NULL, 10);
		s->stored = strtoull(col[3], NULL, 10);
		s->status_len = strlen(col[4]) + 1;
		s->status = xmalloc(s->status_len + 1);
		sprintf(s->status, "%s\n", col[4]);
		parse_labels(s, col[5], i + 1);
		s->source = col[6];
		s->json = col[7];
		s->json_len = (size_t) (nl - col[7]);
		if (s->mtime.tv_sec > newest.tv_sec ||
		    (s->mtime.tv_sec == newest.tv_sec && s->mtime.tv_nsec > newest.tv_nsec))
			newest = s->mtime;
		size_t j = hash(s->name) & (n_slots - 1);
		while (slots[j]) {
			if (!strcmp(snaps[slots[j] - 1].name, s->name))
				die("duplicate name", i + 1);
			j = (j + 1) & (n_slots - 1);
		}
		slots[j] = (uint32_t) i + 1;
	}
}

int main(int argc, char **argv)
{
	int single = 0, debug = 0, a = 1;
	for (; a < argc && argv[a][0] == '-'; a++) {
		if (!strcmp(argv[a], "-s"))
			single = 1;
		else if (!strcmp(argv[a], "-d"))
			debug = 1;
		else if (!strcmp(argv[a], "-k"))
			kernel_opens = 1;
		else
			break;
	}
	if (argc - a != 2) {
		fprintf(stderr, "usage: %s [-s] [-k] [-d] TSV MOUNTPOINT\n", argv[0]);
		return 2;
	}
	clock_gettime(CLOCK_REALTIME, &started);
	load(argv[a]);

	/* Mounted read-write, as clonefs and shared/bench/fusefloor.c are: on a read-only
	 * (MS_RDONLY) mount the kernel skips the atime invalidation after every uncached
	 * readdir (fuse_invalidate_atime), so the first stat of each directory after its first
	 * listing costs a GETATTR on clonefs's mount and nothing on a "ro" floor: 100,000 round
	 * trips in a first `du -s` after a first recursive `find`. */
	static char opt_o[] = "-o", opt_d[] = "-d",
		    mount_opts[] = "fsname=clonefs-floor,subtype=floor,default_permissions";
	char *fargv[] = {argv[0], opt_o, mount_opts, debug ? opt_d : NULL, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(debug ? 4 : 3, fargv);
	struct fuse_session *se = fuse_session_new(&args, &ops, sizeof ops, NULL);
	if (!se)
		return 1;
	if (fuse_set_signal_handlers(se) || fuse_session_mount(se, argv[a + 1])) {
		fuse_session_destroy(se);
		return 1;
	}
	fprintf(stderr, "floor: %zu snapshots on %s%s\n", n_snaps, argv[a + 1],
		kernel_opens ? " (the kernel opens, if it can)" : "");
	int rc;
	if (single) {
		rc = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		fuse_loop_cfg_set_clone_fd(cfg, 1); /* as clonefs: one /dev/fuse fd per worker */
		rc = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	fuse_session_unmount(se);
	fuse_remove_signal_handlers(se);
	fuse_session_destroy(se);
	return rc ? 1 : 0;
}
