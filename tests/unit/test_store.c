/* test_store.c — the LMDB cache: round trips through every read call,
 * idempotent upserts, sweep, inode stability across reopen, aliases under a
 * disk's snapshots/ and an instance's clones/, symlink targets, container
 * mtimes, rebuild of a cache of another schema or of garbage, change
 * reports after commit, and the throughput of upsert and readdir at 100,000
 * entries (printed, not asserted: machines differ). */
#include "gce.h"
#include "layout.h"
#include "provider.h"
#include "check.h"
#include "log.h"
#include "pathset.h"
#include "store.h"
#include "toy_layout.h"
#include "toy_root_layout.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

static char tmpdir[256];

static void rm_rf(const char *dir)
{
	char cmd[1024];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static void fresh_dir(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", tmpdir, name);
	rm_rf(out);
}

/* A resource built from literals (every string heap-allocated, as the
 * provider's decoder makes them). */
static void mk(struct cf_resource *r, enum cf_kind k, const char *scope, const char *name,
	       const char *status, int64_t created)
{
	memset(r, 0, sizeof *r);
	r->kind = k;
	r->scope = strdup(scope);
	r->name = strdup(name);
	r->id = strdup("1234567890");
	r->status = strdup(status);
	r->created = created;
	r->created_ns = 500;
	r->size_bytes = 10ull << 30;
	r->stored_bytes = 1000;
	r->fingerprint = strdup("fp==");
	char raw[256];
	int n = snprintf(raw, sizeof raw, "{\"name\":\"%s\",\"status\":\"%s\"}", name, status);
	r->raw = strdup(raw);
	r->raw_len = (size_t) n;
}

static void add_label(struct cf_resource *r, const char *k, const char *v)
{
	r->labels = realloc(r->labels, (r->nlabels + 1) * sizeof *r->labels);
	r->labels[r->nlabels].key = strdup(k);
	r->labels[r->nlabels].value = strdup(v);
	r->nlabels++;
}

static void add_link(struct cf_resource *r, const char *l)
{
	r->links = realloc(r->links, (r->nlinks + 1) * sizeof *r->links);
	r->links[r->nlinks++] = strdup(l);
}

static void set_str(char **p, const char *v)
{
	free(*p);
	*p = v ? strdup(v) : NULL;
}

/* Upsert one resource in its own transaction. */
static int put1(struct cf_store *s, const struct cf_resource *r, bool *changed,
		const struct cf_change_sink *sink)
{
	struct cf_wtxn *w;
	int rc = cf_store_wbegin(s, &w);
	if (rc)
		return rc;
	rc = cf_store_upsert(w, r, changed);
	if (rc) {
		cf_store_wabort(w);
		return rc;
	}
	return cf_store_wcommit(w, sink);
}

static uint64_t ino_of(struct cf_store *s, const char *path)
{
	uint64_t ino = 0;
	int rc = cf_store_ino_of_path(s, path, &ino);
	return rc ? 0 : ino;
}

/* readdir into a "name,name,..." string */
struct names {
	char buf[4096];
	size_t n;
	struct cf_stat last;
};

static int collect(void *ctx, const char *name, size_t len, const struct cf_stat *st)
{
	struct names *c = ctx;
	size_t used = strlen(c->buf);
	snprintf(c->buf + used, sizeof c->buf - used, "%s%.*s", used ? "," : "", (int) len, name);
	c->n++;
	c->last = *st;
	return 0;
}

static const char *ls(struct cf_store *s, const char *path)
{
	static struct names c;
	memset(&c, 0, sizeof c);
	uint64_t ino = ino_of(s, path);
	if (!ino)
		return "(missing)";
	int rc = cf_store_readdir(s, ino, collect, &c);
	if (rc)
		snprintf(c.buf, sizeof c.buf, "(error %d)", rc);
	return c.buf;
}

static char *read_file(struct cf_store *s, const char *path)
{
	char *data;
	size_t len;
	uint64_t ino = ino_of(s, path);
	if (!ino || cf_store_read(s, ino, &data, &len))
		return NULL;
	char *out = malloc(len + 1);
	memcpy(out, data, len);
	out[len] = '\0';
	free(data);
	return out;
}

static const char *link_of(struct cf_store *s, const char *path)
{
	static char buf[1024];
	uint64_t ino = ino_of(s, path);
	if (!ino)
		return "(missing)";
	int n = cf_store_readlink(s, ino, buf, sizeof buf);
	if (n < 0)
		snprintf(buf, sizeof buf, "(error %d)", n);
	return buf;
}

/* A change sink that records what it heard. */
struct heard {
	char entries[8192];
	uint64_t inodes[256];
	size_t ninodes;
	struct cf_store *s;
	bool committed_visible; /* the entry was visible to readers when reported */
};

static void on_entry(void *ctx, uint64_t parent, const char *name, size_t len)
{
	struct heard *h = ctx;
	size_t used = strlen(h->entries);
	snprintf(h->entries + used, sizeof h->entries - used, "%s%llu/%.*s", used ? "," : "",
		 (unsigned long long) parent, (int) len, name);
	char nm[256];
	snprintf(nm, sizeof nm, "%.*s", (int) len, name);
	struct cf_stat st;
	if (h->s && cf_store_lookup(h->s, parent, nm, &st) == 0)
		h->committed_visible = true;
}

static void on_inode(void *ctx, uint64_t ino)
{
	struct heard *h = ctx;
	if (h->ninodes < 256)
		h->inodes[h->ninodes++] = ino;
}

static bool heard_inode(const struct heard *h, uint64_t ino)
{
	for (size_t i = 0; i < h->ninodes; i++)
		if (h->inodes[i] == ino)
			return true;
	return false;
}

static void test_layout_and_round_trip(void)
{
	char dir[512];
	struct cf_store *s;
	fresh_dir(dir, sizeof dir, "rt");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);

	/* The skeleton exists from the start. */
	CHECK_EQ_STR(ls(s, ""), "global,regions,zones");
	CHECK_EQ_STR(ls(s, "global"), "images,machineImages,snapshots");
	CHECK_EQ_STR(ls(s, "zones"), "");
	struct cf_stat st;
	CHECK_EQ_INT(cf_store_getattr(s, CF_INO_ROOT, &st), 0);
	CHECK_EQ_INT(st.ino, CF_INO_ROOT);
	CHECK_EQ_INT(st.mode, S_IFDIR | 0755);

	struct cf_resource snap, disk, inst, mi;
	mk(&snap, CF_KIND_SNAPSHOT, "global", "snap-1", "READY", 1700000000);
	set_str(&snap.source, "zones/us-central1-a/disks/db-data");
	set_str(&snap.source_id, "-42");
	add_label(&snap, "team", "db");
	add_label(&snap, "env", "prod");
	snap.stored_bytes = 1025; /* 3 blocks */
	mk(&disk, CF_KIND_DISK, "zones/us-central1-a", "db-data", "READY", 1600000000);
	set_str(&disk.origin, "global/images/debian");
	mk(&inst, CF_KIND_INSTANCE, "zones/us-central1-a", "db-1", "RUNNING", 1650000000);
	add_link(&inst, "zones/us-central1-a/disks/db-data");
	add_link(&inst, "zones/us-central1-a/disks/boot");
	mk(&mi, CF_KIND_MACHINE_IMAGE, "global", "mi-1", "READY", 1710000000);
	set_str(&mi.source, "zones/us-central1-a/instances/db-1");

	bool changed = false;
	CHECK_EQ_INT(put1(s, &snap, &changed, NULL), 0);
	CHECK(changed);
	CHECK_EQ_INT(put1(s, &disk, &changed, NULL), 0);
	CHECK_EQ_INT(put1(s, &inst, &changed, NULL), 0);
	CHECK_EQ_INT(put1(s, &mi, &changed, NULL), 0);

	CHECK_EQ_STR(ls(s, "global/snapshots"), "snap-1");
	CHECK_EQ_STR(ls(s, "zones"), "us-central1-a");
	CHECK_EQ_STR(ls(s, "zones/us-central1-a"), "disks,instances");
	CHECK_EQ_STR(ls(s, "global/snapshots/snap-1"), "resource.json,source,status");
	CHECK_EQ_STR(ls(s, "zones/us-central1-a/disks/db-data"), "resource.json,snapshots,status");
	CHECK_EQ_STR(ls(s, "zones/us-central1-a/instances/db-1"),
		     "clones,disks,resource.json,status");
	CHECK_EQ_STR(ls(s, "zones/us-central1-a/instances/db-1/disks"), "boot,db-data");
	CHECK_EQ_STR(ls(s, "zones/us-central1-a/disks/db-data/snapshots"), "snap-1");
	CHECK_EQ_STR(ls(s, "zones/us-central1-a/instances/db-1/clones"), "mi-1");
	CHECK_EQ_STR(ls(s, "zones/us-central1-a/disks/db-data/snapshots/snap-1"),
		     "resource.json,source,status");

	/* Attributes. */
	uint64_t sino = ino_of(s, "global/snapshots/snap-1");
	CHECK(sino != 0);
	CHECK_EQ_INT(CF_INO_SUB(sino), 0);
	CHECK(CF_INO_BASE(sino) >= 2);
	CHECK_EQ_INT(cf_store_getattr(s, sino, &st), 0);
	CHECK_EQ_INT(st.mode, S_IFDIR | 0755);
	CHECK_EQ_INT(st.nlink, 2);
	CHECK_EQ_INT(st.size, 10ull << 30);
	CHECK_EQ_INT(st.blocks, 3);
	CHECK_EQ_INT(st.mtime, 1700000000);
	CHECK_EQ_INT(st.mtime_ns, 500);
	CHECK_EQ_INT(st.ctime, 1700000000); /* new: ctime = creation */
	struct cf_stat st2;
	CHECK_EQ_INT(cf_store_lookup(s, ino_of(s, "global/snapshots"), "snap-1", &st2), 0);
	CHECK(st.ino == st2.ino && st.mode == st2.mode && st.size == st2.size &&
	      st.blocks == st2.blocks && st.mtime == st2.mtime && st.ctime == st2.ctime &&
	      st.mtime_ns == st2.mtime_ns && st.nlink == st2.nlink && st.flags == st2.flags);

	CHECK_EQ_INT(cf_store_lookup(s, sino, "status", &st), 0);
	CHECK_EQ_INT(st.ino, CF_INO(CF_INO_BASE(sino), CF_SUB_STATUS));
	CHECK_EQ_INT(st.mode, S_IFREG | 0444);
	CHECK_EQ_INT(st.size, 6);
	CHECK_EQ_INT(st.blocks, 0);
	CHECK_EQ_INT(st.mtime, 1700000000);
	CHECK_EQ_INT(cf_store_lookup(s, sino, "resource.json", &st), 0);
	CHECK_EQ_INT(st.size, snap.raw_len);
	CHECK_EQ_INT(cf_store_lookup(s, sino, "source", &st), 0);
	CHECK_EQ_INT(st.mode, S_IFLNK | 0777);
	CHECK_EQ_INT(st.size, strlen("../../../zones/us-central1-a/disks/db-data"));
	CHECK_EQ_INT(cf_store_lookup(s, sino, "nothing", &st), -ENOENT);
	CHECK_EQ_INT(cf_store_lookup(s, sino, "snapshots", &st), -ENOENT);
	CHECK_EQ_INT(cf_store_getattr(s, CF_INO(CF_INO_BASE(sino), CF_SUB_SNAPSHOTS), &st),
		     -ENOENT);
	CHECK_EQ_INT(cf_store_getattr(s, CF_INO(CF_INO_BASE(sino), CF_SUB_JSON), &st), 0);
	CHECK_EQ_INT(st.size, snap.raw_len);
	CHECK_EQ_INT(cf_store_getattr(s, CF_INO(999999, 0), &st), -ENOENT);

	/* Containers: size and blocks 0, mtime the newest member's. */
	CHECK_EQ_INT(cf_store_getattr(s, ino_of(s, "global/snapshots"), &st), 0);
	CHECK_EQ_INT(st.size, 0);
	CHECK_EQ_INT(st.blocks, 0);
	CHECK_EQ_INT(st.mtime, 1700000000);
	CHECK_EQ_INT(cf_store_getattr(s, ino_of(s, "global"), &st), 0);
	CHECK_EQ_INT(st.mtime, 1710000000);
	CHECK_EQ_INT(cf_store_getattr(s, CF_INO_ROOT, &st), 0);
	CHECK_EQ_INT(st.mtime, 1710000000);
	CHECK_EQ_INT(cf_store_getattr(s, ino_of(s, "zones/us-central1-a"), &st), 0);
	CHECK_EQ_INT(st.mtime, 1650000000);
	CHECK_EQ_INT(
	    cf_store_getattr(s, ino_of(s, "zones/us-central1-a/disks/db-data/snapshots"), &st), 0);
	CHECK_EQ_INT(st.mtime, 1700000000);
	CHECK_EQ_INT(st.mode, S_IFDIR | 0755);

	/* Files and links. */
	char *txt = read_file(s, "global/snapshots/snap-1/status");
	CHECK_EQ_STR(txt, "READY\n");
	free(txt);
	txt = read_file(s, "global/snapshots/snap-1/resource.json");
	CHECK_EQ_STR(txt, snap.raw);
	free(txt);
	txt = read_file(s, "zones/us-central1-a/disks/db-data/snapshots/snap-1/status");
	CHECK_EQ_STR(txt, "READY\n");
	free(txt);
	char *dummy;
	size_t dlen;
	CHECK_EQ_INT(cf_store_read(s, sino, &dummy, &dlen), -EISDIR);
	CHECK_EQ_STR(link_of(s, "global/snapshots/snap-1/source"),
		     "../../../zones/us-central1-a/disks/db-data");
	CHECK_EQ_STR(link_of(s, "zones/us-central1-a/disks/db-data/snapshots/snap-1/source"),
		     "../../../../../../zones/us-central1-a/disks/db-data");
	CHECK_EQ_STR(link_of(s, "global/machineImages/mi-1/source"),
		     "../../../zones/us-central1-a/instances/db-1");
	CHECK_EQ_STR(link_of(s, "zones/us-central1-a/instances/db-1/disks/boot"),
		     "../../../../../zones/us-central1-a/disks/boot");
	CHECK_EQ_STR(link_of(s, "zones/us-central1-a/instances/db-1/disks/db-data"),
		     "../../../../../zones/us-central1-a/disks/db-data");
	uint64_t lino = ino_of(s, "zones/us-central1-a/instances/db-1/disks/boot");
	uint64_t iino = ino_of(s, "zones/us-central1-a/instances/db-1");
	CHECK_EQ_INT(lino, CF_INO(CF_INO_BASE(iino), CF_SUB_DISK_LINK0));
	CHECK_EQ_INT(cf_store_getattr(s, lino, &st), 0);
	CHECK_EQ_INT(st.size, strlen("../../../../../zones/us-central1-a/disks/boot"));
	char small[8];
	CHECK(cf_store_readlink(s, lino, small, sizeof small) < 0);

	/* The alias is its own node showing the primary. */
	uint64_t aino = ino_of(s, "zones/us-central1-a/disks/db-data/snapshots/snap-1");
	CHECK(aino != 0 && aino != sino);
	CHECK_EQ_INT(cf_store_getattr(s, aino, &st), 0);
	CHECK_EQ_INT(st.blocks, 3);
	CHECK_EQ_INT(st.mtime, 1700000000);

	/* Labels and the decoded resource, through either node. */
	char *blob;
	size_t blen, nl;
	CHECK_EQ_INT(cf_store_labels(s, aino, &blob, &blen, &nl), 0);
	CHECK_EQ_INT(nl, 2);
	CHECK_EQ_INT(blen, sizeof "env\0prod\0team\0db");
	CHECK(!memcmp(blob, "env\0prod\0team\0db\0", blen));
	free(blob);
	CHECK_EQ_INT(cf_store_labels(s, ino_of(s, "global"), &blob, &blen, &nl), -ENOENT);
	struct cf_resource back;
	CHECK_EQ_INT(cf_store_resource(s, sino, &back), 0);
	CHECK_EQ_INT(back.kind, CF_KIND_SNAPSHOT);
	CHECK_EQ_STR(back.name, "snap-1");
	CHECK_EQ_STR(back.scope, "global");
	CHECK_EQ_STR(back.status, "READY");
	CHECK_EQ_STR(back.id, "1234567890");
	CHECK_EQ_STR(back.fingerprint, "fp==");
	CHECK_EQ_STR(back.source, "zones/us-central1-a/disks/db-data");
	CHECK_EQ_STR(back.source_id, "-42");
	CHECK_EQ_INT(back.nlabels, 2);
	CHECK_EQ_STR(back.labels[0].key, "env");
	CHECK_EQ_STR(back.labels[1].value, "db");
	CHECK_EQ_INT(back.created, 1700000000);
	CHECK_EQ_INT(back.stored_bytes, 1025);
	CHECK(back.raw == NULL);
	cf_resource_clear(&back);
	CHECK_EQ_INT(cf_store_resource(s, iino, &back), 0);
	CHECK_EQ_INT(back.nlinks, 2);
	CHECK_EQ_STR(back.links[0], "zones/us-central1-a/disks/boot");
	cf_resource_clear(&back);

	/* Idempotent: the same resource again writes nothing. */
	CHECK_EQ_INT(put1(s, &snap, &changed, NULL), 0);
	CHECK(!changed);
	CHECK_EQ_INT(put1(s, &inst, &changed, NULL), 0);
	CHECK(!changed);
	/* Labels in another order are the same labels. */
	struct cf_label tmp = snap.labels[0];
	snap.labels[0] = snap.labels[1];
	snap.labels[1] = tmp;
	CHECK_EQ_INT(put1(s, &snap, &changed, NULL), 0);
	CHECK(!changed);

	/* A label change moves ctime to now and keeps mtime; the keep label
	 * protects. */
	add_label(&snap, "keep", "");
	struct heard h = {.s = s};
	struct cf_change_sink sink = {on_entry, on_inode, &h};
	time_t before = time(NULL);
	CHECK_EQ_INT(put1(s, &snap, &changed, &sink), 0);
	CHECK(changed);
	CHECK_EQ_INT(cf_store_getattr(s, sino, &st), 0);
	CHECK(st.ctime >= before);
	CHECK_EQ_INT(st.mtime, 1700000000);
	CHECK(heard_inode(&h, sino));
	CHECK(heard_inode(&h, aino));
	CHECK(heard_inode(&h, CF_INO(CF_INO_BASE(sino), CF_SUB_STATUS)));
	CHECK_EQ_STR(h.entries, "");
	int64_t ctime1 = st.ctime;
	/* A size change alone keeps ctime. */
	snap.size_bytes = 20ull << 30;
	CHECK_EQ_INT(put1(s, &snap, &changed, NULL), 0);
	CHECK(changed);
	CHECK_EQ_INT(cf_store_getattr(s, sino, &st), 0);
	CHECK_EQ_INT(st.ctime, ctime1);
	CHECK_EQ_INT(st.size, 20ull << 30);

	/* The keep label protects the resource, its alias and its files. */
	CHECK_EQ_INT(cf_store_labels(s, sino, &blob, &blen, &nl), 0);
	CHECK_EQ_INT(nl, 3);
	free(blob);
	CHECK_EQ_INT(cf_store_getattr(s, sino, &st), 0);
	CHECK_EQ_INT(st.flags, CF_DIRENT_PROTECTED);
	CHECK_EQ_INT(cf_store_getattr(s, aino, &st), 0);
	CHECK_EQ_INT(st.flags, CF_DIRENT_PROTECTED);
	CHECK_EQ_INT(cf_store_lookup(s, sino, "status", &st), 0);
	CHECK_EQ_INT(st.flags, CF_DIRENT_PROTECTED);
	CHECK_EQ_INT(cf_store_getattr(s, ino_of(s, "global/snapshots"), &st), 0);
	CHECK_EQ_INT(st.flags, 0);
	CHECK_EQ_INT(cf_store_getattr(s, iino, &st), 0);
	CHECK_EQ_INT(st.flags, 0);

	/* A status change reaches the status file. */
	set_str(&snap.status, "DELETING");
	CHECK_EQ_INT(put1(s, &snap, &changed, NULL), 0);
	txt = read_file(s, "global/snapshots/snap-1/status");
	CHECK_EQ_STR(txt, "DELETING\n");
	free(txt);
	CHECK_EQ_INT(cf_store_lookup(s, aino, "status", &st), 0);
	CHECK_EQ_INT(st.size, 9);

	/* Changing the source moves the alias. */
	set_str(&snap.source, "regions/us-central1/disks/shared");
	CHECK_EQ_INT(put1(s, &snap, &changed, NULL), 0);
	CHECK_EQ_STR(ls(s, "zones/us-central1-a/disks/db-data/snapshots"), "");
	CHECK_EQ_INT(ino_of(s, "zones/us-central1-a/disks/db-data/snapshots/snap-1"), 0);
	CHECK_EQ_INT(
	    cf_store_getattr(s, ino_of(s, "zones/us-central1-a/disks/db-data/snapshots"), &st), 0);
	CHECK_EQ_INT(st.mtime, 1600000000); /* no member left: the disk's creation time */
	/* The new source disk is not listed: its alias exists but is not
	 * reachable until it is. */
	CHECK_EQ_INT(ino_of(s, "regions/us-central1/disks/shared"), 0);
	struct cf_resource shared;
	mk(&shared, CF_KIND_DISK, "regions/us-central1", "shared", "READY", 1500000000);
	CHECK_EQ_INT(put1(s, &shared, &changed, NULL), 0);
	CHECK_EQ_STR(ls(s, "regions/us-central1/disks/shared/snapshots"), "snap-1");
	CHECK_EQ_STR(ls(s, "regions/us-central1"), "disks");

	/* Paths that are not there. */
	uint64_t ino;
	CHECK_EQ_INT(cf_store_ino_of_path(s, "global/snapshots/nope", &ino), -ENOENT);
	CHECK_EQ_INT(cf_store_ino_of_path(s, "global/snapshots/snap-1/status/x", &ino), -ENOENT);
	CHECK_EQ_INT(cf_store_ino_of_path(s, "", &ino), 0);
	CHECK_EQ_INT(ino, CF_INO_ROOT);
	CHECK_EQ_INT(cf_store_readdir(s, ino_of(s, "global/snapshots/snap-1/status"), collect,
				      &(struct names){0}),
		     -ENOTDIR);

	/* Bad input is refused, not stored. */
	struct cf_resource bad;
	mk(&bad, CF_KIND_SNAPSHOT, "global", "a/b", "READY", 1);
	CHECK_EQ_INT(put1(s, &bad, &changed, NULL), -EINVAL);
	cf_resource_clear(&bad);
	mk(&bad, CF_KIND_DISK, "global", "d", "READY", 1);
	CHECK_EQ_INT(put1(s, &bad, &changed, NULL), -EINVAL);
	cf_resource_clear(&bad);

	/* Zone resources become directories. */
	struct cf_resource zone = {.kind = CF_KIND_ZONE, .name = strdup("europe-west1-b")};
	CHECK_EQ_INT(put1(s, &zone, &changed, NULL), 0);
	CHECK(changed);
	CHECK_EQ_STR(ls(s, "zones"), "europe-west1-b,us-central1-a");
	CHECK_EQ_STR(ls(s, "zones/europe-west1-b"), "disks,instances");
	CHECK_EQ_INT(put1(s, &zone, &changed, NULL), 0);
	CHECK(!changed);
	cf_resource_clear(&zone);

	/* Inodes survive a reopen. */
	uint64_t before_inos[3] = {sino, iino, ino_of(s, "zones/us-central1-a")};
	cf_store_close(s);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_INT(ino_of(s, "global/snapshots/snap-1"), before_inos[0]);
	CHECK_EQ_INT(ino_of(s, "zones/us-central1-a/instances/db-1"), before_inos[1]);
	CHECK_EQ_INT(ino_of(s, "zones/us-central1-a"), before_inos[2]);
	CHECK_EQ_INT(put1(s, &snap, &changed, NULL), 0);
	CHECK(!changed);

	/* foreach_resource sees every resource once. */
	cf_resource_clear(&snap);
	cf_resource_clear(&disk);
	cf_resource_clear(&inst);
	cf_resource_clear(&mi);
	cf_resource_clear(&shared);
	cf_store_close(s);
}

static int count_res(void *ctx, const char *path, const struct cf_resource *r)
{
	(void) path;
	(void) r;
	(*(int *) ctx)++;
	return 0;
}

static void test_sweep_and_changes(void)
{
	char dir[512];
	struct cf_store *s;
	fresh_dir(dir, sizeof dir, "sweep");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);

	struct cf_wtxn *w;
	struct cf_resource r[4];
	const char *names[] = {"a", "b", "c", "d"};
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	for (int i = 0; i < 4; i++) {
		mk(&r[i], CF_KIND_SNAPSHOT, "global", names[i], "READY", 1000 + i);
		set_str(&r[i].source, "zones/z1/disks/d1");
		CHECK_EQ_INT(cf_store_upsert(w, &r[i], NULL), 0);
	}
	struct heard h = {.s = s};
	struct cf_change_sink sink = {on_entry, on_inode, &h};
	CHECK_EQ_INT(cf_store_wcommit(w, &sink), 0);
	uint64_t coll = ino_of(s, "global/snapshots");
	CHECK(strstr(h.entries, "/a") != NULL);
	CHECK(h.committed_visible);   /* reported after commit: readers see it */
	CHECK(heard_inode(&h, coll)); /* its mtime rose */
	int n = 0;
	CHECK_EQ_INT(cf_store_foreach_resource(s, count_res, &n), 0);
	CHECK_EQ_INT(n, 4);

	/* Sweep with b and d seen: a and c go, with their aliases. */
	struct cf_pathset *seen = cf_pathset_new();
	cf_pathset_add(seen, "global/snapshots/b");
	cf_pathset_add(seen, "global/snapshots/d");
	struct cf_stat st;
	CHECK_EQ_INT(cf_store_getattr(s, coll, &st), 0);
	CHECK_EQ_INT(st.mtime, 1003);
	memset(&h, 0, sizeof h);
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_sweep(w, CF_LIST_SNAPSHOTS, seen, INT64_MAX), 2);
	/* Nothing reported before commit. */
	CHECK_EQ_STR(h.entries, "");
	CHECK_EQ_INT(cf_store_wcommit(w, &sink), 0);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "b,d");
	char expect[256];
	snprintf(expect, sizeof expect, "%llu/a", (unsigned long long) coll);
	CHECK(strstr(h.entries, expect) != NULL);
	/* The disk is not listed, but its alias directory's entries went. */
	uint64_t dbase = 0;
	{
		/* find the disk's base through a listed disk */
		struct cf_resource d;
		mk(&d, CF_KIND_DISK, "zones/z1", "d1", "READY", 10);
		CHECK_EQ_INT(put1(s, &d, NULL, NULL), 0);
		cf_resource_clear(&d);
		dbase = CF_INO_BASE(ino_of(s, "zones/z1/disks/d1"));
	}
	CHECK_EQ_STR(ls(s, "zones/z1/disks/d1/snapshots"), "b,d");
	CHECK(strstr(h.entries, "/c") != NULL);
	snprintf(expect, sizeof expect, "%llu/c",
		 (unsigned long long) CF_INO(dbase, CF_SUB_SNAPSHOTS));
	CHECK(strstr(h.entries, expect) != NULL);
	/* The containers' mtimes follow. */
	CHECK_EQ_INT(cf_store_getattr(s, coll, &st), 0);
	CHECK_EQ_INT(st.mtime, 1003);
	n = 0;
	CHECK_EQ_INT(cf_store_foreach_resource(s, count_res, &n), 0);
	CHECK_EQ_INT(n, 3);

	/* Sweeping d too lowers the collection's mtime. */
	cf_pathset_free(seen);
	seen = cf_pathset_new();
	cf_pathset_add(seen, "global/snapshots/b");
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_sweep(w, CF_LIST_SNAPSHOTS, seen, INT64_MAX), 1);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_INT(cf_store_getattr(s, coll, &st), 0);
	CHECK_EQ_INT(st.mtime, 1001);
	CHECK_EQ_INT(cf_store_getattr(s, CF_INO(dbase, CF_SUB_SNAPSHOTS), &st), 0);
	CHECK_EQ_INT(st.mtime, 1001);

	/* A removed resource comes back with its old inode. */
	uint64_t old_a = 0;
	CHECK_EQ_INT(put1(s, &r[0], NULL, NULL), 0);
	old_a = ino_of(s, "global/snapshots/a");
	CHECK(old_a != 0);
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_remove(w, "global/snapshots/a"), 0);
	CHECK_EQ_INT(cf_store_remove(w, "global/snapshots/a"), -ENOENT);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_INT(ino_of(s, "global/snapshots/a"), 0);
	CHECK_EQ_INT(put1(s, &r[0], NULL, NULL), 0);
	CHECK_EQ_INT(ino_of(s, "global/snapshots/a"), old_a);

	/* Disks in two zones; sweep removes only the unseen one. Zones: an
	 * empty unseen zone goes, a seen one or one with members stays. */
	struct cf_resource d2, d3;
	mk(&d2, CF_KIND_DISK, "zones/z2", "x", "READY", 5);
	mk(&d3, CF_KIND_DISK, "regions/r1", "y", "READY", 6);
	CHECK_EQ_INT(put1(s, &d2, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &d3, NULL, NULL), 0);
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_ensure_scope(w, CF_KIND_ZONE, "z3"), 0);
	CHECK_EQ_INT(cf_store_ensure_scope(w, CF_KIND_ZONE, "bad/name"), -EINVAL);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_STR(ls(s, "zones"), "z1,z2,z3");
	cf_pathset_free(seen);
	seen = cf_pathset_new();
	cf_pathset_add(seen, "zones/z1/disks/d1");
	cf_pathset_add(seen, "regions/r1/disks/y");
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_sweep(w, CF_LIST_DISKS, seen, INT64_MAX), 1);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_STR(ls(s, "zones/z2/disks"), "");
	CHECK_EQ_STR(ls(s, "regions/r1/disks"), "y");
	cf_pathset_free(seen);
	seen = cf_pathset_new();
	cf_pathset_add(seen, "zones/z2");
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_sweep(w, CF_LIST_ZONES, seen, INT64_MAX), 1); /* z3; z1 has a disk */
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_STR(ls(s, "zones"), "z1,z2");
	cf_pathset_free(seen);

	/* Sync state round trip. */
	struct cf_sync_state ss = {.last_complete = 11, .last_attempt = 12, .count = 13};
	snprintf(ss.last_error, sizeof ss.last_error, "boom");
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_put_sync_state(w, CF_LIST_DISKS, &ss), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	struct cf_sync_state got;
	CHECK_EQ_INT(cf_store_get_sync_state(s, CF_LIST_DISKS, &got), 0);
	CHECK_EQ_INT(got.count, 13);
	CHECK_EQ_STR(got.last_error, "boom");
	CHECK_EQ_INT(cf_store_get_sync_state(s, CF_LIST_IMAGES, &got), 0);
	CHECK_EQ_INT(got.last_complete, 0);

	for (int i = 0; i < 4; i++)
		cf_resource_clear(&r[i]);
	cf_resource_clear(&d2);
	cf_resource_clear(&d3);
	cf_store_close(s);
}

/* ---- the trash, path_of, dependents, container births ---- */

static int64_t mtime_of(struct cf_store *s, const char *path)
{
	struct cf_stat st;
	uint64_t ino = ino_of(s, path);
	if (!ino || cf_store_getattr(s, ino, &st))
		return -1;
	return st.mtime;
}

/* cf_store_path_of into a static buffer, "(error N)" on failure. */
static const char *path_of(struct cf_store *s, uint64_t ino, unsigned *sub)
{
	static char buf[1100];
	int n = cf_store_path_of(s, ino, buf, sizeof buf, sub);
	if (n < 0)
		snprintf(buf, sizeof buf, "(error %d)", n);
	else if ((size_t) n != strlen(buf))
		snprintf(buf, sizeof buf, "(length %d)", n);
	return buf;
}

struct paths {
	char buf[4096];
	int n, stop_after; /* stop_after 0: never */
};

static int collect_path(void *ctx, const char *path, size_t len)
{
	struct paths *c = ctx;
	size_t used = strlen(c->buf);
	snprintf(c->buf + used, sizeof c->buf - used, "%s%.*s", used ? "," : "", (int) len, path);
	return ++c->n == c->stop_after;
}

static const char *deps(struct cf_store *s, const char *path)
{
	static struct paths c;
	memset(&c, 0, sizeof c);
	int rc = cf_store_dependents(s, path, collect_path, &c);
	if (rc)
		snprintf(c.buf, sizeof c.buf, "(error %d)", rc);
	return c.buf;
}

static int collect_trashed(void *ctx, const char *path, const struct cf_resource *r)
{
	struct paths *c = ctx;
	size_t used = strlen(c->buf);
	/* path, then the decoded resource's name and whether it has the label */
	bool lab = false;
	for (size_t i = 0; i < r->nlabels; i++)
		lab |= !strcmp(r->labels[i].key, CF_TRASH_LABEL);
	snprintf(c->buf + used, sizeof c->buf - used, "%s%s=%s%s", used ? "," : "", path, r->name,
		 lab ? "" : "(no label)");
	return ++c->n == c->stop_after;
}

static const char *trashed(struct cf_store *s)
{
	static struct paths c;
	memset(&c, 0, sizeof c);
	int rc = cf_store_foreach_trashed(s, collect_trashed, &c);
	if (rc)
		snprintf(c.buf, sizeof c.buf, "(error %d)", rc);
	return c.buf;
}

static bool heard_entry(const struct heard *h, uint64_t parent, const char *name)
{
	char e[300];
	snprintf(e, sizeof e, "%llu/%s", (unsigned long long) parent, name);
	size_t n = strlen(e);
	for (const char *p = h->entries; (p = strstr(p, e)); p += n)
		if ((p == h->entries || p[-1] == ',') && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

static void sweep1(struct cf_store *s, enum cf_listing l, const char *const *seen_paths, int expect,
		   const struct cf_change_sink *sink)
{
	struct cf_wtxn *w;
	struct cf_pathset *seen = cf_pathset_new();
	for (; *seen_paths; seen_paths++)
		cf_pathset_add(seen, *seen_paths);
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_sweep(w, l, seen, INT64_MAX), expect);
	CHECK_EQ_INT(cf_store_wcommit(w, sink), 0);
	cf_pathset_free(seen);
}

static void test_trash(void)
{
	char dir[512];
	struct cf_store *s;
	struct cf_stat st;
	bool changed;
	fresh_dir(dir, sizeof dir, "trash");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);

	/* The trash tree exists from the start, below CF_INO_TRASH, not the
	 * root. */
	CHECK_EQ_STR(ls(s, ""), "global,regions,zones");
	CHECK_EQ_INT(ino_of(s, "trash"), CF_INO_TRASH);
	CHECK_EQ_STR(ls(s, "trash"), "global");
	CHECK_EQ_STR(ls(s, "trash/global"), "images,machineImages,snapshots");
	CHECK_EQ_STR(ls(s, "trash/global/snapshots"), "");
	CHECK_EQ_INT(cf_store_lookup(s, CF_INO_TRASH, "global", &st), 0);
	CHECK_EQ_INT(st.ino, ino_of(s, "trash/global"));
	CHECK_EQ_INT(cf_store_lookup(s, CF_INO_TRASH, "zones", &st), -ENOENT);
	CHECK_EQ_INT(cf_store_getattr(s, CF_INO_TRASH, &st), -ENOENT); /* the daemon's */
	int64_t tbirth = mtime_of(s, "trash/global/snapshots");
	CHECK(tbirth > 0);

	struct cf_resource disk, s1, s2, inst, mi, img;
	mk(&disk, CF_KIND_DISK, "zones/z1", "d1", "READY", 500);
	mk(&s1, CF_KIND_SNAPSHOT, "global", "s1", "READY", 1000);
	set_str(&s1.source, "zones/z1/disks/d1");
	mk(&s2, CF_KIND_SNAPSHOT, "global", "s2", "READY", 2000);
	set_str(&s2.source, "zones/z1/disks/d1");
	add_label(&s2, "team", "db");
	mk(&inst, CF_KIND_INSTANCE, "zones/z1", "i1", "RUNNING", 600);
	mk(&mi, CF_KIND_MACHINE_IMAGE, "global", "m1", "READY", 900);
	set_str(&mi.source, "zones/z1/instances/i1");
	mk(&img, CF_KIND_IMAGE, "global", "g1", "READY", 800);
	set_str(&img.source, "zones/z1/disks/d1");
	const struct cf_resource *all[] = {&disk, &s1, &s2, &inst, &mi, &img};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		CHECK_EQ_INT(put1(s, all[i], NULL, NULL), 0);

	const char *apath = "zones/z1/disks/d1/snapshots/s2";
	uint64_t sino = ino_of(s, "global/snapshots/s2");
	uint64_t aino = ino_of(s, apath);
	uint64_t coll = ino_of(s, "global/snapshots");
	uint64_t tcoll = ino_of(s, "trash/global/snapshots");
	uint64_t dsnaps = CF_INO(CF_INO_BASE(ino_of(s, "zones/z1/disks/d1")), CF_SUB_SNAPSHOTS);
	CHECK(sino && aino && coll && tcoll);
	CHECK_EQ_INT(mtime_of(s, "global/snapshots"), 2000);
	CHECK_EQ_INT(mtime_of(s, "global"), 2000);
	CHECK_EQ_INT(mtime_of(s, ""), 2000);
	CHECK_EQ_INT(mtime_of(s, "zones/z1/disks/d1/snapshots"), 2000);
	CHECK_EQ_STR(trashed(s), "");

	/* The label moves s2 into the trash: same inode, gone from its
	 * collection and from its disk's snapshots/. */
	add_label(&s2, CF_TRASH_LABEL, "1800000000");
	struct heard h = {.s = s};
	struct cf_change_sink sink = {on_entry, on_inode, &h};
	CHECK_EQ_INT(put1(s, &s2, &changed, &sink), 0);
	CHECK(changed);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "s1");
	CHECK_EQ_STR(ls(s, "zones/z1/disks/d1/snapshots"), "s1");
	CHECK_EQ_STR(ls(s, "trash/global/snapshots"), "s2");
	CHECK_EQ_INT(ino_of(s, "global/snapshots/s2"), 0);
	CHECK_EQ_INT(ino_of(s, apath), 0);
	CHECK_EQ_INT(ino_of(s, "trash/global/snapshots/s2"), sino);
	CHECK_EQ_INT(cf_store_lookup(s, coll, "s2", &st), -ENOENT);
	CHECK_EQ_INT(cf_store_lookup(s, tcoll, "s2", &st), 0);
	CHECK_EQ_INT(st.ino, sino);
	CHECK_EQ_INT(st.mtime, 2000);
	CHECK_EQ_INT(cf_store_getattr(s, aino, &st), -ENOENT);
	/* Reported: out of the collection and the alias directory, into the
	 * trash, and the node itself changed. */
	CHECK(heard_entry(&h, coll, "s2"));
	CHECK(heard_entry(&h, tcoll, "s2"));
	CHECK(heard_entry(&h, dsnaps, "s2"));
	CHECK(heard_inode(&h, sino));
	CHECK(heard_inode(&h, CF_INO(CF_INO_BASE(sino), CF_SUB_SOURCE)));
	CHECK(heard_inode(&h, coll)); /* its mtime fell */
	CHECK(heard_inode(&h, dsnaps));
	CHECK(h.committed_visible);
	/* Container mtimes ignore the trashed one; the trash's follows it. */
	CHECK_EQ_INT(mtime_of(s, "global/snapshots"), 1000);
	CHECK_EQ_INT(mtime_of(s, "global"), 1000);
	CHECK_EQ_INT(mtime_of(s, ""), 1000);
	CHECK_EQ_INT(mtime_of(s, "zones/z1/disks/d1/snapshots"), 1000);
	CHECK_EQ_INT(mtime_of(s, "trash/global/snapshots"), 2000);
	CHECK_EQ_INT(mtime_of(s, "trash/global"), 2000);

	/* Every read call works on it where it is now. */
	CHECK_EQ_INT(cf_store_getattr(s, sino, &st), 0);
	CHECK_EQ_INT(st.mode, S_IFDIR | 0755);
	CHECK_EQ_INT(st.mtime, 2000);
	CHECK_EQ_STR(ls(s, "trash/global/snapshots/s2"), "resource.json,source,status");
	char *txt = read_file(s, "trash/global/snapshots/s2/status");
	CHECK_EQ_STR(txt, "READY\n");
	free(txt);
	txt = read_file(s, "trash/global/snapshots/s2/resource.json");
	CHECK_EQ_STR(txt, s2.raw);
	free(txt);
	/* .clonefs/trash/global/snapshots/s2/source: five levels up. */
	CHECK_EQ_STR(link_of(s, "trash/global/snapshots/s2/source"),
		     "../../../../../zones/z1/disks/d1");
	CHECK_EQ_INT(cf_store_lookup(s, sino, "source", &st), 0);
	CHECK_EQ_INT(st.size, strlen("../../../../../zones/z1/disks/d1"));
	char *blob;
	size_t blen, nl;
	CHECK_EQ_INT(cf_store_labels(s, sino, &blob, &blen, &nl), 0);
	CHECK_EQ_INT(nl, 2);
	CHECK(!memcmp(blob,
		      CF_TRASH_LABEL "\0"
				     "1800000000\0team\0db\0",
		      blen));
	free(blob);
	struct cf_resource back;
	CHECK_EQ_INT(cf_store_resource(s, sino, &back), 0);
	CHECK_EQ_STR(back.name, "s2");
	CHECK_EQ_STR(back.source, "zones/z1/disks/d1");
	cf_resource_clear(&back);
	unsigned sub = 99;
	CHECK_EQ_STR(path_of(s, sino, &sub), "trash/global/snapshots/s2");
	CHECK_EQ_INT(sub, CF_SUB_DIR);
	CHECK_EQ_STR(path_of(s, CF_INO(CF_INO_BASE(sino), CF_SUB_JSON), &sub),
		     "trash/global/snapshots/s2");
	CHECK_EQ_INT(sub, CF_SUB_JSON);
	CHECK_EQ_STR(trashed(s), "global/snapshots/s2=s2");
	/* Still a dependent of its disk (it exists in the cloud). */
	CHECK_EQ_STR(deps(s, "zones/z1/disks/d1"),
		     "global/images/g1,global/snapshots/s1,global/snapshots/s2");
	/* foreach_resource still sees it, under its own path. */
	int n = 0;
	CHECK_EQ_INT(cf_store_foreach_resource(s, count_res, &n), 0);
	CHECK_EQ_INT(n, 6);

	/* The same again writes nothing; a reopen keeps it where it is. */
	CHECK_EQ_INT(put1(s, &s2, &changed, NULL), 0);
	CHECK(!changed);
	cf_store_close(s);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_INT(ino_of(s, "trash/global/snapshots/s2"), sino);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "s1");
	CHECK_EQ_INT(put1(s, &s2, &changed, NULL), 0);
	CHECK(!changed);

	/* Without the label it comes back: entry, alias (its old inode) and
	 * mtimes, reported. */
	free(s2.labels[1].key);
	free(s2.labels[1].value);
	s2.nlabels = 1;
	memset(&h, 0, sizeof h);
	h.s = s;
	CHECK_EQ_INT(put1(s, &s2, &changed, &sink), 0);
	CHECK(changed);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "s1,s2");
	CHECK_EQ_STR(ls(s, "zones/z1/disks/d1/snapshots"), "s1,s2");
	CHECK_EQ_STR(ls(s, "trash/global/snapshots"), "");
	CHECK_EQ_INT(ino_of(s, "global/snapshots/s2"), sino);
	CHECK_EQ_INT(ino_of(s, apath), aino);
	CHECK_EQ_INT(ino_of(s, "trash/global/snapshots/s2"), 0);
	CHECK(heard_entry(&h, coll, "s2"));
	CHECK(heard_entry(&h, tcoll, "s2"));
	CHECK(heard_entry(&h, dsnaps, "s2"));
	CHECK(heard_inode(&h, sino));
	CHECK(heard_inode(&h, coll));
	CHECK_EQ_INT(mtime_of(s, "global/snapshots"), 2000);
	CHECK_EQ_INT(mtime_of(s, ""), 2000);
	CHECK_EQ_INT(mtime_of(s, "zones/z1/disks/d1/snapshots"), 2000);
	CHECK_EQ_INT(mtime_of(s, "trash/global/snapshots"), tbirth); /* empty again */
	CHECK_EQ_STR(link_of(s, "global/snapshots/s2/source"), "../../../zones/z1/disks/d1");
	CHECK_EQ_STR(path_of(s, sino, NULL), "global/snapshots/s2");
	CHECK_EQ_STR(trashed(s), "");

	/* A machine image and an image: out of clones/ and their collection. */
	add_label(&mi, CF_TRASH_LABEL, "1800000000");
	add_label(&img, CF_TRASH_LABEL, "1800000000");
	CHECK_EQ_INT(put1(s, &mi, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &img, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "zones/z1/instances/i1/clones"), "");
	CHECK_EQ_STR(ls(s, "global/machineImages"), "");
	CHECK_EQ_STR(ls(s, "global/images"), "");
	CHECK_EQ_STR(ls(s, "trash/global/machineImages"), "m1");
	CHECK_EQ_STR(ls(s, "trash/global/images"), "g1");
	CHECK_EQ_STR(link_of(s, "trash/global/machineImages/m1/source"),
		     "../../../../../zones/z1/instances/i1");
	/* An empty clones/ shows its instance's creation time. */
	CHECK_EQ_INT(mtime_of(s, "zones/z1/instances/i1/clones"), 600);
	CHECK_EQ_STR(trashed(s), "global/images/g1=g1,global/machineImages/m1=m1");
	struct paths one = {.stop_after = 1};
	CHECK_EQ_INT(cf_store_foreach_trashed(s, collect_trashed, &one), 0);
	CHECK_EQ_INT(one.n, 1);

	/* A disk is never trashed. */
	add_label(&disk, CF_TRASH_LABEL, "1800000000");
	CHECK_EQ_INT(put1(s, &disk, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "zones/z1/disks"), "d1");

	/* First seen already trashed: straight into the trash, no alias. */
	struct cf_resource s3;
	mk(&s3, CF_KIND_SNAPSHOT, "global", "s3", "READY", 3000);
	set_str(&s3.source, "zones/z1/disks/d1");
	add_label(&s3, CF_TRASH_LABEL, "1800000000");
	CHECK_EQ_INT(put1(s, &s3, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "s1,s2");
	CHECK_EQ_STR(ls(s, "zones/z1/disks/d1/snapshots"), "s1,s2");
	CHECK_EQ_STR(ls(s, "trash/global/snapshots"), "s3");
	uint64_t s3ino = ino_of(s, "trash/global/snapshots/s3");
	CHECK(s3ino != 0);
	CHECK_EQ_INT(cf_store_getattr(s, s3ino, &st), 0);
	CHECK_EQ_STR(path_of(s, s3ino, NULL), "trash/global/snapshots/s3");
	CHECK_EQ_INT(mtime_of(s, "global/snapshots"), 2000);

	/* A listing that no longer returns a trashed snapshot removes it from
	 * the trash (its path is still the collection's); one it returns stays. */
	memset(&h, 0, sizeof h);
	const char *seen1[] = {"global/snapshots/s1", "global/snapshots/s2", NULL};
	sweep1(s, CF_LIST_SNAPSHOTS, seen1, 1, &sink);
	CHECK_EQ_STR(ls(s, "trash/global/snapshots"), "");
	CHECK_EQ_STR(ls(s, "global/snapshots"), "s1,s2");
	CHECK(heard_entry(&h, tcoll, "s3"));
	CHECK_EQ_INT(cf_store_getattr(s, s3ino, &st), -ENOENT);
	CHECK_EQ_STR(path_of(s, s3ino, NULL), "(error -2)");
	CHECK_EQ_STR(deps(s, "zones/z1/disks/d1"),
		     "global/images/g1,global/snapshots/s1,global/snapshots/s2");
	const char *seen2[] = {"global/machineImages/m1", NULL};
	sweep1(s, CF_LIST_MACHINE_IMAGES, seen2, 0, NULL);
	CHECK_EQ_STR(ls(s, "trash/global/machineImages"), "m1");

	/* Back in the trash after removal: its old inode; cf_store_remove
	 * finds it there. */
	CHECK_EQ_INT(put1(s, &s3, NULL, NULL), 0);
	CHECK_EQ_INT(ino_of(s, "trash/global/snapshots/s3"), s3ino);
	struct cf_wtxn *w;
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_remove(w, "global/snapshots/s3"), 0);
	CHECK_EQ_INT(cf_store_remove(w, "global/snapshots/s3"), -ENOENT);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_STR(ls(s, "trash/global/snapshots"), "");
	CHECK_EQ_INT(mtime_of(s, "trash/global/snapshots"), tbirth);
	/* ... and after a removal from the trash, listed without the label:
	 * in the collection under the same inode, its node moved with it. */
	free(s3.labels[0].key);
	free(s3.labels[0].value);
	s3.nlabels = 0;
	CHECK_EQ_INT(put1(s, &s3, NULL, NULL), 0);
	CHECK_EQ_INT(ino_of(s, "global/snapshots/s3"), s3ino);
	CHECK_EQ_INT(cf_store_getattr(s, s3ino, &st), 0);
	CHECK_EQ_STR(path_of(s, s3ino, NULL), "global/snapshots/s3");
	CHECK_EQ_STR(ls(s, "zones/z1/disks/d1/snapshots"), "s1,s2,s3");
	/* ... and the other way: removed from its collection, back trashed. */
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_remove(w, "global/snapshots/s3"), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	add_label(&s3, CF_TRASH_LABEL, "1800000000");
	CHECK_EQ_INT(put1(s, &s3, NULL, NULL), 0);
	CHECK_EQ_INT(ino_of(s, "trash/global/snapshots/s3"), s3ino);
	CHECK_EQ_INT(cf_store_getattr(s, s3ino, &st), 0);
	CHECK_EQ_STR(path_of(s, s3ino, NULL), "trash/global/snapshots/s3");
	CHECK_EQ_STR(ls(s, "zones/z1/disks/d1/snapshots"), "s1,s2");

	/* Trashed and restored in one transaction: where it ends is what
	 * counts. */
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	add_label(&s1, CF_TRASH_LABEL, "1800000000");
	CHECK_EQ_INT(cf_store_upsert(w, &s1, NULL), 0);
	free(s1.labels[0].key);
	free(s1.labels[0].value);
	s1.nlabels = 0;
	CHECK_EQ_INT(cf_store_upsert(w, &s1, NULL), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "s1,s2");
	CHECK_EQ_STR(ls(s, "zones/z1/disks/d1/snapshots"), "s1,s2");
	CHECK_EQ_STR(ls(s, "trash/global/snapshots"), "s3");
	CHECK_EQ_INT(mtime_of(s, "global/snapshots"), 2000);

	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		cf_resource_clear((struct cf_resource *) all[i]);
	cf_resource_clear(&s3);
	cf_store_close(s);
}

static void test_path_of_and_dependents(void)
{
	char dir[512];
	struct cf_store *s;
	char buf[64];
	unsigned sub = 99;
	fresh_dir(dir, sizeof dir, "pathof");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);

	struct cf_resource disk, d2, snap, inst, mi;
	mk(&disk, CF_KIND_DISK, "zones/z1", "d1", "READY", 500);
	mk(&d2, CF_KIND_DISK, "regions/r1", "from-snap", "READY", 700);
	set_str(&d2.origin, "global/snapshots/s1");
	mk(&snap, CF_KIND_SNAPSHOT, "global", "s1", "READY", 600);
	set_str(&snap.source, "zones/z1/disks/d1");
	mk(&inst, CF_KIND_INSTANCE, "zones/z1", "i1", "RUNNING", 400);
	add_link(&inst, "zones/z1/disks/d1");
	mk(&mi, CF_KIND_MACHINE_IMAGE, "global", "m1", "READY", 800);
	set_str(&mi.source, "zones/z1/instances/i1");
	const struct cf_resource *all[] = {&disk, &d2, &snap, &inst, &mi};
	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		CHECK_EQ_INT(put1(s, all[i], NULL, NULL), 0);

	/* The root and the trash. */
	CHECK_EQ_INT(cf_store_path_of(s, CF_INO_ROOT, buf, sizeof buf, &sub), 0);
	CHECK_EQ_STR(buf, "");
	CHECK_EQ_INT(sub, CF_SUB_DIR);
	CHECK_EQ_INT(cf_store_path_of(s, CF_INO_TRASH, buf, sizeof buf, &sub), 5);
	CHECK_EQ_STR(buf, "trash");
	CHECK_EQ_INT(sub, CF_SUB_DIR);
	/* The rest of .clonefs/ is the daemon's. */
	CHECK_EQ_INT(cf_store_path_of(s, CF_INO(CF_INO_CONTROL_BASE, 0), buf, sizeof buf, &sub),
		     -ENOENT);
	CHECK_EQ_INT(cf_store_path_of(s, CF_INO(CF_INO_CONTROL_BASE, 2), buf, sizeof buf, &sub),
		     -ENOENT);
	CHECK_EQ_INT(cf_store_path_of(s, 0, buf, sizeof buf, &sub), -ENOENT);
	CHECK_EQ_INT(cf_store_path_of(s, CF_INO(999999, 0), buf, sizeof buf, &sub), -ENOENT);

	/* Resources, aliases, containers: each answers the path that leads
	 * to it, and that path leads back to it. */
	const char *dirs[] = {"global",
			      "global/snapshots",
			      "zones",
			      "zones/z1",
			      "zones/z1/disks",
			      "regions/r1/disks",
			      "global/snapshots/s1",
			      "global/machineImages/m1",
			      "zones/z1/disks/d1",
			      "regions/r1/disks/from-snap",
			      "zones/z1/instances/i1",
			      "zones/z1/disks/d1/snapshots/s1",
			      "zones/z1/instances/i1/clones/m1",
			      "trash/global",
			      "trash/global/machineImages"};
	for (size_t i = 0; i < sizeof dirs / sizeof *dirs; i++) {
		uint64_t ino = ino_of(s, dirs[i]);
		CHECK(ino != 0);
		sub = 99;
		CHECK_EQ_STR(path_of(s, ino, &sub), dirs[i]);
		CHECK_EQ_INT(sub, CF_SUB_DIR);
	}
	CHECK(ino_of(s, "zones/z1/disks/d1/snapshots/s1") != ino_of(s, "global/snapshots/s1"));

	/* Sub-nodes answer their resource directory, with their sub. */
	uint64_t sbase = CF_INO_BASE(ino_of(s, "global/snapshots/s1"));
	uint64_t dbase = CF_INO_BASE(ino_of(s, "zones/z1/disks/d1"));
	uint64_t ibase = CF_INO_BASE(ino_of(s, "zones/z1/instances/i1"));
	/* An alias's nodes are its primary's base with CF_SUB_ALIAS. */
	uint64_t aino = ino_of(s, "zones/z1/disks/d1/snapshots/s1");
	CHECK_EQ_INT(aino, CF_INO(sbase, CF_SUB_ALIAS));
	uint64_t abase = CF_INO_BASE(aino);
	CHECK_EQ_STR(path_of(s, CF_INO(sbase, CF_SUB_STATUS), &sub), "global/snapshots/s1");
	CHECK_EQ_INT(sub, CF_SUB_STATUS);
	CHECK_EQ_STR(path_of(s, CF_INO(sbase, CF_SUB_SOURCE), &sub), "global/snapshots/s1");
	CHECK_EQ_INT(sub, CF_SUB_SOURCE);
	CHECK_EQ_STR(path_of(s, CF_INO(abase, CF_SUB_ALIAS | CF_SUB_JSON), &sub),
		     "zones/z1/disks/d1/snapshots/s1");
	CHECK_EQ_INT(sub, CF_SUB_JSON);
	CHECK_EQ_STR(path_of(s, CF_INO(abase, CF_SUB_ALIAS | CF_SUB_SOURCE), &sub),
		     "zones/z1/disks/d1/snapshots/s1");
	CHECK_EQ_INT(sub, CF_SUB_SOURCE);
	/* No alias node beyond source/, and none of a resource without one. */
	CHECK_EQ_STR(path_of(s, CF_INO(abase, CF_SUB_ALIAS | CF_SUB_SNAPSHOTS), NULL),
		     "(error -2)");
	CHECK_EQ_STR(path_of(s, CF_INO(dbase, CF_SUB_ALIAS), NULL), "(error -2)");
	CHECK_EQ_STR(path_of(s, CF_INO(dbase, CF_SUB_SNAPSHOTS), &sub), "zones/z1/disks/d1");
	CHECK_EQ_INT(sub, CF_SUB_SNAPSHOTS);
	CHECK_EQ_STR(path_of(s, CF_INO(ibase, CF_SUB_CLONES), &sub), "zones/z1/instances/i1");
	CHECK_EQ_INT(sub, CF_SUB_CLONES);
	CHECK_EQ_STR(path_of(s, CF_INO(ibase, CF_SUB_DISKS), &sub), "zones/z1/instances/i1");
	CHECK_EQ_INT(sub, CF_SUB_DISKS);
	CHECK_EQ_STR(path_of(s, CF_INO(ibase, CF_SUB_DISK_LINK0), &sub), "zones/z1/instances/i1");
	CHECK_EQ_INT(sub, CF_SUB_DISK_LINK0);
	/* Sub-nodes a resource does not have are not there. */
	CHECK_EQ_STR(path_of(s, CF_INO(sbase, CF_SUB_SNAPSHOTS), NULL), "(error -2)");
	CHECK_EQ_STR(path_of(s, CF_INO(ibase, CF_SUB_DISK_LINK0 + 1), NULL), "(error -2)");
	CHECK_EQ_STR(path_of(s, CF_INO(dbase, CF_SUB_SOURCE), NULL), "(error -2)");
	/* A buffer too small. */
	CHECK_EQ_INT(cf_store_path_of(s, CF_INO(sbase, 0), buf, 19, NULL), -ENAMETOOLONG);
	CHECK_EQ_INT(cf_store_path_of(s, CF_INO(sbase, 0), buf, 20, NULL), 19);
	CHECK_EQ_INT(cf_store_path_of(s, CF_INO_TRASH, buf, 5, NULL), -ENAMETOOLONG);

	/* Dependents through the by-source index: snapshots of a disk, disks
	 * from a snapshot, machine images of an instance; by exact path. */
	CHECK_EQ_STR(deps(s, "zones/z1/disks/d1"), "global/snapshots/s1");
	CHECK_EQ_STR(deps(s, "global/snapshots/s1"), "regions/r1/disks/from-snap");
	CHECK_EQ_STR(deps(s, "zones/z1/instances/i1"), "global/machineImages/m1");
	CHECK_EQ_STR(deps(s, "zones/z1/disks/d"), "");
	CHECK_EQ_STR(deps(s, "zones/z1/disks/d1/x"), "");
	CHECK_EQ_STR(deps(s, "global/machineImages/m1"), "");
	CHECK_EQ_INT(cf_store_dependents(s, "", collect_path, &(struct paths){0}), -EINVAL);
	struct cf_resource s2;
	mk(&s2, CF_KIND_SNAPSHOT, "global", "s2", "READY", 650);
	set_str(&s2.source, "zones/z1/disks/d1");
	CHECK_EQ_INT(put1(s, &s2, NULL, NULL), 0);
	CHECK_EQ_STR(deps(s, "zones/z1/disks/d1"), "global/snapshots/s1,global/snapshots/s2");
	struct paths one = {.stop_after = 1};
	CHECK_EQ_INT(cf_store_dependents(s, "zones/z1/disks/d1", collect_path, &one), 0);
	CHECK_EQ_STR(one.buf, "global/snapshots/s1");
	/* A new source moves the entry. */
	set_str(&s2.source, "zones/z1/disks/other");
	CHECK_EQ_INT(put1(s, &s2, NULL, NULL), 0);
	CHECK_EQ_STR(deps(s, "zones/z1/disks/d1"), "global/snapshots/s1");
	CHECK_EQ_STR(deps(s, "zones/z1/disks/other"), "global/snapshots/s2");

	/* A disk's snapshots/ lists only snapshots made from it: not an image
	 * made from it, nor a snapshot that names it only as its origin; its
	 * dependents are all of them, sources first. */
	struct cf_resource img, so;
	mk(&img, CF_KIND_IMAGE, "global", "img-d1", "READY", 900);
	set_str(&img.source, "zones/z1/disks/d1");
	mk(&so, CF_KIND_SNAPSHOT, "global", "s-origin", "READY", 910);
	set_str(&so.origin, "zones/z1/disks/d1");
	CHECK_EQ_INT(put1(s, &img, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &so, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "zones/z1/disks/d1/snapshots"), "s1");
	CHECK_EQ_INT(ino_of(s, "zones/z1/disks/d1/snapshots/s-origin"), 0);
	CHECK_EQ_INT(ino_of(s, "zones/z1/disks/d1/snapshots/img-d1"), 0);
	CHECK_EQ_STR(deps(s, "zones/z1/disks/d1"),
		     "global/images/img-d1,global/snapshots/s1,global/snapshots/s-origin");
	cf_resource_clear(&img);
	cf_resource_clear(&so);

	for (size_t i = 0; i < sizeof all / sizeof *all; i++)
		cf_resource_clear((struct cf_resource *) all[i]);
	cf_resource_clear(&s2);
	cf_store_close(s);
}

/* An empty container shows when the store created it, not 1970, and keeps
 * that time; with members, its newest member's creation time, even when
 * that is older. */
static void test_container_births(void)
{
	char dir[512];
	struct cf_store *s;
	fresh_dir(dir, sizeof dir, "births");
	int64_t t0 = time(NULL);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	int64_t t1 = time(NULL);
	const char *empty[] = {"",	"global",  "global/snapshots", "global/images",
			       "zones", "regions", "trash/global",     "trash/global/snapshots"};
	int64_t born[sizeof empty / sizeof *empty];
	for (size_t i = 0; i < sizeof empty / sizeof *empty; i++) {
		born[i] = mtime_of(s, empty[i]);
		CHECK(born[i] >= t0 && born[i] <= t1);
	}
	struct cf_stat st;
	CHECK_EQ_INT(cf_store_getattr(s, ino_of(s, "regions"), &st), 0);
	CHECK_EQ_INT(st.ctime, st.mtime);
	CHECK_EQ_INT(st.size, 0); /* the birth is not a size */
	struct names c = {0};
	CHECK_EQ_INT(cf_store_readdir(s, CF_INO_ROOT, collect, &c), 0);
	CHECK_EQ_INT(c.last.mtime, born[4]); /* "zones" as listed */
	CHECK_EQ_INT(c.last.size, 0);

	/* Stable across a reopen a second later. */
	cf_store_close(s);
	sleep(1);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	for (size_t i = 0; i < sizeof empty / sizeof *empty; i++)
		CHECK_EQ_INT(mtime_of(s, empty[i]), born[i]);

	/* A new, empty zone is born now and does not move "zones". */
	int64_t t2 = time(NULL);
	struct cf_wtxn *w;
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_ensure_scope(w, CF_KIND_ZONE, "z9"), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK(mtime_of(s, "zones/z9") >= t2);
	CHECK(mtime_of(s, "zones/z9/disks") >= t2);
	CHECK_EQ_INT(mtime_of(s, "zones"), born[4]);

	/* A member older than the container: the container shows it, and so
	 * do its ancestors (empty siblings do not count). */
	struct cf_resource snap, disk;
	mk(&snap, CF_KIND_SNAPSHOT, "global", "old", "READY", 1000);
	CHECK_EQ_INT(put1(s, &snap, NULL, NULL), 0);
	CHECK_EQ_INT(mtime_of(s, "global/snapshots"), 1000);
	CHECK_EQ_INT(mtime_of(s, "global"), 1000);
	CHECK_EQ_INT(mtime_of(s, ""), 1000);
	CHECK_EQ_INT(mtime_of(s, "global/images"), born[3]);
	mk(&disk, CF_KIND_DISK, "zones/z9", "d", "READY", 900);
	CHECK_EQ_INT(put1(s, &disk, NULL, NULL), 0);
	CHECK_EQ_INT(mtime_of(s, "zones/z9/disks"), 900);
	CHECK_EQ_INT(mtime_of(s, "zones/z9"), 900);
	CHECK_EQ_INT(mtime_of(s, "zones"), 900);
	CHECK_EQ_INT(mtime_of(s, ""), 1000);
	/* An empty snapshots/ shows its disk's creation time. */
	CHECK_EQ_INT(mtime_of(s, "zones/z9/disks/d/snapshots"), 900);

	/* Emptied again: back to the birth, kept, and the parents follow. */
	const char *none[] = {NULL};
	struct heard h = {.s = s};
	struct cf_change_sink sink = {on_entry, on_inode, &h};
	sweep1(s, CF_LIST_SNAPSHOTS, none, 1, &sink);
	CHECK_EQ_INT(mtime_of(s, "global/snapshots"), born[2]);
	CHECK_EQ_INT(mtime_of(s, "global"), born[1]);
	CHECK_EQ_INT(mtime_of(s, ""), 900);
	CHECK(heard_inode(&h, ino_of(s, "global/snapshots")));
	CHECK(heard_inode(&h, ino_of(s, "global")));
	sweep1(s, CF_LIST_DISKS, none, 1, NULL);
	CHECK(mtime_of(s, "zones/z9/disks") >= t2);
	CHECK_EQ_INT(mtime_of(s, "zones"), born[4]);
	CHECK_EQ_INT(mtime_of(s, ""), born[0]);
	cf_store_close(s);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_INT(mtime_of(s, ""), born[0]);
	CHECK_EQ_INT(mtime_of(s, "global/snapshots"), born[2]);

	cf_resource_clear(&snap);
	cf_resource_clear(&disk);
	cf_store_close(s);
}

/* The store's environment opened behind its back, with a write transaction;
 * 0, or -1 (checked and failed) with nothing left open. */
static int open_behind(const char *dir, MDB_env **env, MDB_txn **txn)
{
	mdb_env_create(env);
	mdb_env_set_maxdbs(*env, 16);
	mdb_env_set_mapsize(*env,
			    (size_t) 16 << 30); /* the store's: valgrind cannot reserve more */
	int rc = mdb_env_open(*env, dir, 0, 0600);
	CHECK_EQ_INT(rc, 0);
	if (!rc)
		rc = mdb_txn_begin(*env, NULL, 0, txn);
	CHECK_EQ_INT(rc, 0);
	if (rc)
		mdb_env_close(*env);
	return rc ? -1 : 0;
}

/* Write meta "schema" = 0 behind the store's back. */
static void poke_schema(const char *dir, uint32_t schema)
{
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	if (open_behind(dir, &env, &txn))
		return;
	mdb_dbi_open(txn, "meta", 0, &dbi);
	MDB_val k = {6, (void *) "schema"}, v = {4, &schema};
	CHECK_EQ_INT(mdb_put(txn, dbi, &k, &v, 0), 0);
	mdb_txn_commit(txn);
	mdb_env_close(env);
}

static int count_bad(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof cmd, "ls '%s' | grep -c 'data.mdb.bad-' > '%s.count'", dir, dir);
	if (system(cmd) < 0)
		return -1;
	snprintf(cmd, sizeof cmd, "%s.count", dir);
	FILE *f = fopen(cmd, "r");
	int n = -1;
	if (f) {
		if (fscanf(f, "%d", &n) != 1)
			n = -1;
		fclose(f);
	}
	unlink(cmd);
	return n;
}

static void test_rebuild(void)
{
	char dir[512];
	struct cf_store *s;
	struct cf_resource r;
	fresh_dir(dir, sizeof dir, "rebuild");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	mk(&r, CF_KIND_SNAPSHOT, "global", "keepme", "READY", 1);
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	cf_store_close(s);

	/* Another schema: moved aside, rebuilt empty. */
	poke_schema(dir, 0);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "");
	CHECK_EQ_STR(ls(s, ""), "global,regions,zones");
	CHECK_EQ_INT(count_bad(dir), 1);
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	cf_store_close(s);

	/* Garbage in data.mdb. */
	char path[600];
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	FILE *f = fopen(path, "w");
	for (int i = 0; i < 100000; i++)
		fputc("garbage!"[i % 8], f);
	fclose(f);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "");
	CHECK_EQ_INT(count_bad(dir), 2);
	cf_store_close(s);

	/* A short, empty data.mdb. */
	f = fopen(path, "w");
	fclose(f);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_STR(ls(s, ""), "global,regions,zones");
	cf_store_close(s);

	/* An unwritable place is an error, not a rebuild. */
	CHECK(cf_store_open("/proc/clonefs-cannot-be-here", &s) < 0);
	cf_resource_clear(&r);
}

static void set_raw(struct cf_resource *r, const char *raw)
{
	free(r->raw);
	r->raw = raw ? strdup(raw) : NULL;
	r->raw_len = raw ? strlen(raw) : 0;
}

static bool exists_in(const char *dir, const char *name)
{
	char path[700];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return access(path, F_OK) == 0;
}

/* Ids are stored as numbers when they are canonical decimals, else as
 * strings: either way they read back exactly as sent. */
static void test_ids_round_trip(void)
{
	static const char *const ids[] = {"0",
					  "7",
					  "0123",
					  "-1",
					  "8521630300222839602",
					  "18446744073709551615",
					  "18446744073709551616",
					  "12a",
					  "1.5",
					  ""};
	char dir[512], name[32], path[64];
	struct cf_store *s;
	fresh_dir(dir, sizeof dir, "ids");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	for (size_t i = 0; i < sizeof ids / sizeof *ids; i++) {
		struct cf_resource r, back;
		snprintf(name, sizeof name, "id-%zu", i);
		mk(&r, CF_KIND_SNAPSHOT, "global", name, "READY", 100);
		set_str(&r.id, ids[i]);
		set_str(&r.source_id, ids[sizeof ids / sizeof *ids - 1 - i]);
		CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
		snprintf(path, sizeof path, "global/snapshots/%s", name);
		CHECK_EQ_INT(cf_store_resource(s, ino_of(s, path), &back), 0);
		CHECK_EQ_STR(back.id ? back.id : "", ids[i]);
		CHECK_EQ_STR(back.source_id ? back.source_id : "",
			     ids[sizeof ids / sizeof *ids - 1 - i]);
		bool changed = true;
		CHECK_EQ_INT(put1(s, &r, &changed, NULL), 0);
		CHECK(!changed);
		cf_resource_clear(&r);
		cf_resource_clear(&back);
	}
	cf_store_close(s);
}

/* resource.json lives in docs.0 / docs.1, referenced from the record:
 * written, replaced, removed with the resource, kept across a reopen, and
 * never outliving the tree it belongs to. */
static void test_documents(void)
{
	char dir[512], path[700];
	struct cf_store *s;
	struct cf_resource r, r2;
	bool changed;
	char *doc;
	fresh_dir(dir, sizeof dir, "docs");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK(exists_in(dir, "docs.0"));
	CHECK(exists_in(dir, "docs.1"));
	mk(&r, CF_KIND_SNAPSHOT, "global", "doc-a", "READY", 100);
	set_raw(&r, "{\"name\":\"doc-a\",\"v\":1}");
	CHECK_EQ_INT(put1(s, &r, &changed, NULL), 0);
	CHECK(changed);
	doc = read_file(s, "global/snapshots/doc-a/resource.json");
	CHECK_EQ_STR(doc ? doc : "(null)", "{\"name\":\"doc-a\",\"v\":1}");
	free(doc);
	/* the same document: nothing written */
	CHECK_EQ_INT(put1(s, &r, &changed, NULL), 0);
	CHECK(!changed);
	/* a new document of the same length: the record's hash tells */
	set_raw(&r, "{\"name\":\"doc-a\",\"v\":2}");
	CHECK_EQ_INT(put1(s, &r, &changed, NULL), 0);
	CHECK(changed);
	doc = read_file(s, "global/snapshots/doc-a/resource.json");
	CHECK_EQ_STR(doc ? doc : "(null)", "{\"name\":\"doc-a\",\"v\":2}");
	free(doc);
	cf_store_close(s);

	/* kept across a reopen */
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	doc = read_file(s, "global/snapshots/doc-a/resource.json");
	CHECK_EQ_STR(doc ? doc : "(null)", "{\"name\":\"doc-a\",\"v\":2}");
	free(doc);
	/* no document any more: an empty file */
	set_raw(&r, NULL);
	CHECK_EQ_INT(put1(s, &r, &changed, NULL), 0);
	CHECK(changed);
	doc = read_file(s, "global/snapshots/doc-a/resource.json");
	CHECK_EQ_STR(doc ? doc : "(null)", "");
	free(doc);
	set_raw(&r, "{\"name\":\"doc-a\",\"v\":3}");
	CHECK_EQ_INT(put1(s, &r, &changed, NULL), 0);
	cf_store_close(s);

	/* The tree is lost (data.mdb removed) but the document files stay: the
	 * new tree starts them empty and shows no old document. */
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	CHECK_EQ_INT(unlink(path), 0);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	mk(&r2, CF_KIND_SNAPSHOT, "global", "doc-b", "READY", 200);
	set_raw(&r2, NULL);
	CHECK_EQ_INT(put1(s, &r2, NULL, NULL), 0);
	doc = read_file(s, "global/snapshots/doc-b/resource.json");
	CHECK_EQ_STR(doc ? doc : "(null)", "");
	free(doc);
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	cf_store_close(s);

	/* A document's bytes damaged in place: reading it is -EIO (its hash),
	 * never someone else's bytes. */
	snprintf(path, sizeof path, "%s/docs.0", dir);
	FILE *f = fopen(path, "r+");
	CHECK(f != NULL);
	if (f) {
		fputs("XXXX", f);
		fclose(f);
	}
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	uint64_t ino = 0;
	CHECK_EQ_INT(cf_store_ino_of_path(s, "global/snapshots/doc-a/resource.json", &ino), 0);
	size_t dlen;
	CHECK_EQ_INT(cf_store_read(s, ino, &doc, &dlen), -EIO);
	/* the next sync's document is written again */
	set_raw(&r, "{\"name\":\"doc-a\",\"v\":4}");
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	doc = read_file(s, "global/snapshots/doc-a/resource.json");
	CHECK_EQ_STR(doc ? doc : "(null)", "{\"name\":\"doc-a\",\"v\":4}");
	free(doc);
	cf_store_close(s);

	/* A document file shorter than the tree says: the cache is moved aside
	 * and rebuilt. */
	CHECK_EQ_INT(truncate(path, 3), 0);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "");
	CHECK_EQ_INT(count_bad(dir), 1);
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	doc = read_file(s, "global/snapshots/doc-a/resource.json");
	CHECK_EQ_STR(doc ? doc : "(null)", "{\"name\":\"doc-a\",\"v\":4}");
	free(doc);
	cf_store_close(s);
	cf_resource_clear(&r);
	cf_resource_clear(&r2);
}

static uint64_t file_size(const char *dir, const char *name)
{
	char path[700];
	struct stat st;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return stat(path, &st) ? UINT64_MAX : (uint64_t) st.st_size;
}

/* Replaced documents are garbage: once there is more of it than of live
 * documents (and 32 MiB), the store moves the live ones to the other file,
 * a step per transaction, and empties the first. Every document reads
 * back the same all along. */
static void test_documents_compacted(void)
{
	enum { N = 40, BIG = 64 << 10, ROUNDS = 16 };
	char dir[512], name[32], want[64];
	struct cf_store *s;
	struct cf_resource r[N];
	char *big = malloc(BIG + 64);
	fresh_dir(dir, sizeof dir, "compact");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	/* N documents of 64 KiB rewritten ROUNDS times: 40 MiB, 2.5 MiB live */
	for (int round = 0; round < ROUNDS; round++) {
		struct cf_wtxn *w;
		CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
		for (int i = 0; i < N; i++) {
			if (round == 0) {
				snprintf(name, sizeof name, "big-%02d", i);
				mk(&r[i], CF_KIND_SNAPSHOT, "global", name, "READY", 100 + i);
			}
			int n = snprintf(big, BIG, "{\"i\":%d,\"round\":%d,\"pad\":\"", i, round);
			memset(big + n, 'a' + i % 26, BIG - n - 2);
			memcpy(big + BIG - 2, "\"}", 3);
			set_raw(&r[i], big);
			CHECK_EQ_INT(cf_store_upsert(w, &r[i], NULL), 0);
		}
		CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	}
	/* Compaction began during the rounds (garbage 35 MiB > 2.5 + 32), and
	 * the last round's documents went to docs.1. */
	CHECK(file_size(dir, "docs.0") >= (uint64_t) N * (ROUNDS - 2) * BIG);
	CHECK_EQ_INT(file_size(dir, "docs.1"), (uint64_t) N * BIG);
	/* Transactions move what is left, a bounded step each. */
	int steps = 0;
	while (file_size(dir, "docs.0") && steps < 5) {
		struct cf_wtxn *w;
		CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
		CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
		steps++;
	}
	CHECK(steps >= 1 && steps < 5);
	CHECK_EQ_INT(file_size(dir, "docs.0"), 0);
	CHECK_EQ_INT(file_size(dir, "docs.1"), (uint64_t) N * BIG);
	for (int i = 0; i < N; i++) {
		char path[96];
		snprintf(path, sizeof path, "global/snapshots/big-%02d/resource.json", i);
		char *doc = read_file(s, path);
		snprintf(want, sizeof want, "{\"i\":%d,\"round\":%d,\"pad\":\"", i, ROUNDS - 1);
		CHECK(doc && strlen(doc) == BIG && !strncmp(doc, want, strlen(want)));
		free(doc);
	}
	cf_store_close(s);
	/* and across a reopen */
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	char *doc = read_file(s, "global/snapshots/big-07/resource.json");
	snprintf(want, sizeof want, "{\"i\":7,\"round\":%d,\"pad\":\"", ROUNDS - 1);
	CHECK(doc && strlen(doc) == BIG && !strncmp(doc, want, strlen(want)));
	free(doc);
	cf_store_close(s);
	for (int i = 0; i < N; i++)
		cf_resource_clear(&r[i]);
	free(big);
}

/* Replace entry `name` of directory dir (a dirs duplicate "name\0" + struct
 * cf_dirent) by "name\0short": the right name, the wrong size. */
static int damage_dirent(MDB_txn *txn, MDB_dbi dirs, uint64_t dir, const char *name)
{
	MDB_cursor *c;
	char want[64], bad[64];
	size_t n = strlen(name);
	memcpy(want, name, n + 1);
	memcpy(bad, name, n + 1);
	memcpy(bad + n + 1, "short", 5);
	MDB_val k = {8, &dir}, v = {n + 1, want};
	int rc = mdb_cursor_open(txn, dirs, &c);
	if (!rc)
		rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE);
	if (!rc && (v.mv_size <= n || memcmp(v.mv_data, want, n + 1)))
		rc = MDB_NOTFOUND;
	if (!rc)
		rc = mdb_cursor_del(c, 0);
	v = (MDB_val){n + 6, bad};
	if (!rc)
		rc = mdb_cursor_put(c, &k, &v, 0);
	mdb_cursor_close(c);
	return rc;
}

/* A record of the wrong size in dirs is -EIO, never a crash. */
static void test_bad_records(void)
{
	char dir[512];
	struct cf_store *s;
	struct cf_resource r;
	fresh_dir(dir, sizeof dir, "badrec");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	mk(&r, CF_KIND_SNAPSHOT, "global", "victim", "READY", 1);
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	uint64_t coll = ino_of(s, "global/snapshots");
	uint64_t vino = ino_of(s, "global/snapshots/victim");
	cf_store_close(s);

	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dirs, res;
	if (open_behind(dir, &env, &txn))
		return;
	mdb_dbi_open(txn, "dirs", MDB_DUPSORT | MDB_INTEGERKEY, &dirs);
	mdb_dbi_open(txn, "res", MDB_INTEGERKEY, &res);
	CHECK_EQ_INT(damage_dirent(txn, dirs, coll, "victim"), 0);
	uint64_t base = CF_INO_BASE(vino);
	MDB_val k = {8, &base}, v;
	v = (MDB_val){3, (void *) "\x01\x02\x03"};
	CHECK_EQ_INT(mdb_put(txn, res, &k, &v, 0), 0);
	mdb_txn_commit(txn);
	mdb_env_close(env);

	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	struct cf_stat st;
	CHECK_EQ_INT(cf_store_lookup(s, coll, "victim", &st), -EIO);
	CHECK_EQ_INT(cf_store_getattr(s, vino, &st), -EIO);
	struct names c = {0};
	CHECK_EQ_INT(cf_store_readdir(s, coll, collect, &c), -EIO);
	/* An upsert repairs it. */
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	CHECK_EQ_INT(cf_store_getattr(s, vino, &st), 0);
	char *blob;
	size_t blen, nl;
	CHECK_EQ_INT(cf_store_labels(s, vino, &blob, &blen, &nl), 0);
	free(blob);
	cf_store_close(s);

	/* Damaged again, and now trashed: the damaged entry leaves the
	 * collection rather than break its listing. */
	if (open_behind(dir, &env, &txn))
		return;
	mdb_dbi_open(txn, "dirs", MDB_DUPSORT | MDB_INTEGERKEY, &dirs);
	CHECK_EQ_INT(damage_dirent(txn, dirs, coll, "victim"), 0);
	mdb_txn_commit(txn);
	mdb_env_close(env);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_INT(cf_store_readdir(s, coll, collect, &(struct names){0}), -EIO);
	add_label(&r, CF_TRASH_LABEL, "1800000000");
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "");
	CHECK_EQ_STR(ls(s, "trash/global/snapshots"), "victim");
	CHECK_EQ_INT(ino_of(s, "trash/global/snapshots/victim"), vino);
	CHECK_EQ_INT(cf_store_getattr(s, vino, &st), 0);
	cf_resource_clear(&r);
	cf_store_close(s);
}

/* Readers on several threads while the writer changes the tree: every
 * call answers consistently (no error but -ENOENT for what just went), a
 * readdir sees one committed state (every write transaction leaves exactly
 * RACE_LIVE snapshots: a listing sees that many, or none before the first,
 * in name order, each one found by its name in the same transaction), and
 * the threads' read transactions are freed when they exit. */
enum { RACE_LIVE = 50 };

struct race {
	struct cf_store *s;
	uint64_t coll;
	int stop; /* atomic */
	int errors, calls, torn;
};

/* One readdir: how many entries, the last name. */
struct race_ls {
	struct race *r;
	int n;
	char last[64];
};

static int race_entry(void *ctx, const char *name, size_t len, const struct cf_stat *st)
{
	struct race_ls *ls = ctx;
	struct race *r = ls->r;
	struct cf_stat st2;
	char nm[64];
	snprintf(nm, sizeof nm, "%.*s", (int) len, name);
	int rc = cf_store_getattr(r->s, st->ino, &st2); /* nested in the readdir's txn */
	if (rc || st2.ino != st->ino)
		__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
	/* The name leads to the same entry, in the same transaction. */
	rc = cf_store_lookup(r->s, r->coll, nm, &st2);
	if (rc || st2.ino != st->ino || (ls->n && strcmp(ls->last, nm) >= 0))
		__atomic_fetch_add(&r->torn, 1, __ATOMIC_RELAXED);
	snprintf(ls->last, sizeof ls->last, "%s", nm);
	ls->n++;
	return 0;
}

static void *race_reader(void *arg)
{
	struct race *r = arg;
	while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
		struct cf_stat st;
		struct race_ls ls = {.r = r};
		if (cf_store_readdir(r->s, r->coll, race_entry, &ls))
			__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
		if (ls.n != 0 && ls.n != RACE_LIVE)
			__atomic_fetch_add(&r->torn, 1, __ATOMIC_RELAXED);
		int rc = cf_store_lookup(r->s, r->coll, "r-0007", &st);
		if (rc && rc != -ENOENT)
			__atomic_fetch_add(&r->errors, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&r->calls, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* Two threads writing documents at once (the write path and the sync do):
 * each transaction must append after the other's, never over it. */
struct doc_writer {
	struct cf_store *s;
	int id;
	int failures;
};

static void *doc_writer(void *arg)
{
	struct doc_writer *dw = arg;
	char name[32], doc[256];
	for (int t = 0; t < 60; t++) {
		struct cf_wtxn *w;
		if (cf_store_wbegin(dw->s, &w)) {
			dw->failures++;
			continue;
		}
		for (int i = 0; i < 5; i++) {
			struct cf_resource r;
			snprintf(name, sizeof name, "w%d-%02d", dw->id, i);
			mk(&r, CF_KIND_SNAPSHOT, "global", name, "READY", 100);
			snprintf(doc, sizeof doc,
				 "{\"writer\":%d,\"i\":%d,\"t\":%d,\"pad\":\"%*s\"}", dw->id, i, t,
				 40 + (t * 7 + i) % 60, "");
			set_raw(&r, doc);
			if (cf_store_upsert(w, &r, NULL))
				dw->failures++;
			cf_resource_clear(&r);
		}
		if (cf_store_wcommit(w, NULL))
			dw->failures++;
	}
	return NULL;
}

static void test_concurrent_document_writers(void)
{
	char dir[512], path[96], want[256];
	struct cf_store *s;
	fresh_dir(dir, sizeof dir, "docwriters");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	struct doc_writer dw[2] = {{s, 0, 0}, {s, 1, 0}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, doc_writer, &dw[i]);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	CHECK_EQ_INT(dw[0].failures + dw[1].failures, 0);
	for (int id = 0; id < 2; id++) {
		for (int i = 0; i < 5; i++) {
			snprintf(path, sizeof path, "global/snapshots/w%d-%02d/resource.json", id,
				 i);
			snprintf(want, sizeof want,
				 "{\"writer\":%d,\"i\":%d,\"t\":59,\"pad\":\"%*s\"}", id, i,
				 40 + (59 * 7 + i) % 60, "");
			char *doc = read_file(s, path);
			CHECK_EQ_STR(doc ? doc : "(null)", want);
			free(doc);
		}
	}
	cf_store_close(s);
}

/* Several threads writing at once (the sync, the engine, the change feed and
 * FUSE's write path each run their own transactions): each round, every
 * writer ensures the round's new zone, stores a snapshot whose source is a
 * new disk of that zone (new paths, so new bases, which the writer's path
 * cache remembers), drops its snapshot of two rounds before, and commits or
 * aborts. A transaction that aborts undoes its bases; if the next writer
 * could still find them in the path cache it would reuse a base for a second
 * path. At the end every committed path must lead to its own node and back,
 * every document must be whole, and each commit's changes must have reached
 * its writer's sink. A reader checks meanwhile that the store's generation
 * never goes back. */
enum { CW_THREADS = 4, CW_ROUNDS = 150 };

struct cw_state {
	struct cf_store *s;
	pthread_barrier_t round;
	int stop; /* atomic */
};

struct cw_writer {
	struct cw_state *st;
	int id;
	int failures, commits, heard_commits, heard;
	bool present[CW_ROUNDS];
};

static void cw_heard(void *ctx, uint64_t parent, const char *name, size_t len)
{
	(void) parent, (void) name, (void) len;
	((struct cw_writer *) ctx)->heard++;
}

static void cw_heard_inode(void *ctx, uint64_t ino)
{
	(void) ino;
	((struct cw_writer *) ctx)->heard++;
}

static void cw_done(void *ctx)
{
	((struct cw_writer *) ctx)->heard_commits++;
}

static void cw_doc(char *doc, size_t size, int id, int round)
{
	snprintf(doc, size, "{\"writer\":%d,\"round\":%d,\"pad\":\"%*s\"}", id, round,
		 10 + (id * 31 + round * 7) % 90, "");
}

static void *cw_write(void *arg)
{
	struct cw_writer *cw = arg;
	struct cf_store *s = cw->st->s;
	const struct cf_change_sink sink = {cw_heard, cw_heard_inode, cw, cw_done};
	char zone[32], name[32], src[96], path[96], doc[160];
	for (int j = 0; j < CW_ROUNDS; j++) {
		pthread_barrier_wait(&cw->st->round); /* all start the round together */
		struct cf_wtxn *w;
		struct cf_resource r;
		if (cf_store_wbegin(s, &w)) {
			cw->failures++;
			continue;
		}
		snprintf(zone, sizeof zone, "zr%d", j);
		snprintf(name, sizeof name, "s-%d-%d", cw->id, j);
		snprintf(src, sizeof src, "zones/zr%d/disks/d%d", j, j);
		mk(&r, CF_KIND_SNAPSHOT, "global", name, "READY", 1000 + j);
		set_str(&r.source, src);
		cw_doc(doc, sizeof doc, cw->id, j);
		set_raw(&r, doc);
		int rc = cf_store_ensure_scope(w, CF_KIND_ZONE, zone);
		if (!rc)
			rc = cf_store_upsert(w, &r, NULL);
		cf_resource_clear(&r);
		if (!rc && j >= 2 && cw->present[j - 2]) {
			snprintf(path, sizeof path, "global/snapshots/s-%d-%d", cw->id, j - 2);
			rc = cf_store_remove(w, path);
		}
		if (rc) {
			cw->failures++;
			cf_store_wabort(w);
		} else if ((cw->id + j) % 3 == 0) {
			cf_store_wabort(w); /* its bases, documents and removal are undone */
		} else if (cf_store_wcommit(w, &sink)) {
			cw->failures++;
		} else {
			cw->commits++;
			cw->present[j] = true;
			if (j >= 2)
				cw->present[j - 2] = false;
		}
	}
	return NULL;
}

static void *cw_generations(void *arg)
{
	struct cw_state *st = arg;
	uint64_t last = 0;
	long bad = 0;
	while (!__atomic_load_n(&st->stop, __ATOMIC_RELAXED)) {
		uint64_t g = cf_store_generation(st->s);
		bad += g < last;
		last = g;
	}
	return (void *) bad;
}

static void test_concurrent_writers(void)
{
	char dir[512], path[96], want[160];
	struct cw_state st = {0};
	struct cw_writer cw[CW_THREADS];
	pthread_t th[CW_THREADS], gen;
	fresh_dir(dir, sizeof dir, "writers");
	CHECK_EQ_INT(cf_store_open(dir, &st.s), 0);
	uint64_t gen0 = cf_store_generation(st.s);
	CHECK_EQ_INT(pthread_barrier_init(&st.round, NULL, CW_THREADS), 0);
	CHECK_EQ_INT(pthread_create(&gen, NULL, cw_generations, &st), 0);
	for (int t = 0; t < CW_THREADS; t++) {
		cw[t] = (struct cw_writer){.st = &st, .id = t};
		CHECK_EQ_INT(pthread_create(&th[t], NULL, cw_write, &cw[t]), 0);
	}
	for (int t = 0; t < CW_THREADS; t++)
		pthread_join(th[t], NULL);
	__atomic_store_n(&st.stop, 1, __ATOMIC_RELAXED);
	void *gen_bad;
	pthread_join(gen, &gen_bad);
	pthread_barrier_destroy(&st.round);
	CHECK_EQ_INT((long) gen_bad, 0); /* the generation never went back */
	int commits = 0;
	for (int t = 0; t < CW_THREADS; t++) {
		CHECK_EQ_INT(cw[t].failures, 0);
		CHECK_EQ_INT(cw[t].heard_commits, cw[t].commits); /* each commit told its sink */
		CHECK(cw[t].heard >= cw[t].commits);
		commits += cw[t].commits;
	}
	CHECK(cf_store_generation(st.s) >= gen0 + (uint64_t) commits);
	/* Every path leads to a node of its own, and that node back to the path:
	 * a base given twice shows here. */
	struct cf_u64 {
		uint64_t ino;
	} *seen = calloc(CW_ROUNDS * (CW_THREADS + 3), sizeof *seen);
	size_t nseen = 0;
	int bad_paths = 0, bad_docs = 0, dup = 0;
	for (int j = 0; j < CW_ROUNDS; j++) {
		const char *zpaths[3];
		char zp[3][64];
		snprintf(zp[0], sizeof zp[0], "zones/zr%d", j);
		snprintf(zp[1], sizeof zp[1], "zones/zr%d/disks", j);
		snprintf(zp[2], sizeof zp[2], "zones/zr%d/instances", j);
		for (int k = 0; k < 3; k++)
			zpaths[k] = zp[k];
		bool any = false;
		for (int t = 0; t < CW_THREADS; t++)
			any |= (t + j) % 3 != 0;
		for (int k = 0; k < 3; k++) {
			uint64_t ino = ino_of(st.s, zpaths[k]);
			if (!any)
				continue;
			if (!ino || strcmp(path_of(st.s, ino, NULL), zpaths[k])) {
				if (bad_paths++ < 5)
					fprintf(stderr, "%s: inode %llu is %s\n", zpaths[k],
						(unsigned long long) ino,
						ino ? path_of(st.s, ino, NULL) : "-");
			}
			if (ino)
				seen[nseen++].ino = ino;
		}
		for (int t = 0; t < CW_THREADS; t++) {
			snprintf(path, sizeof path, "global/snapshots/s-%d-%d", t, j);
			uint64_t ino = ino_of(st.s, path);
			if (!cw[t].present[j]) {
				bad_paths += ino != 0;
				continue;
			}
			if (!ino || strcmp(path_of(st.s, ino, NULL), path)) {
				if (bad_paths++ < 5)
					fprintf(stderr, "%s: inode %llu is %s\n", path,
						(unsigned long long) ino,
						ino ? path_of(st.s, ino, NULL) : "-");
				continue;
			}
			seen[nseen++].ino = ino;
			strcat(path, "/resource.json");
			cw_doc(want, sizeof want, t, j);
			char *doc = read_file(st.s, path);
			bad_docs += !doc || strcmp(doc, want);
			free(doc);
		}
	}
	for (size_t a = 0; a < nseen; a++)
		for (size_t b = a + 1; b < nseen; b++)
			dup += seen[a].ino == seen[b].ino;
	free(seen);
	CHECK_EQ_INT(bad_paths, 0);
	CHECK_EQ_INT(bad_docs, 0);
	CHECK_EQ_INT(dup, 0);
	fprintf(stderr, "concurrent writers: %d threads, %d commits, %d rounds\n", CW_THREADS,
		commits, CW_ROUNDS);
	cf_store_close(st.s);
}

static void test_concurrent_readers(void)
{
	char dir[512];
	struct race r = {0};
	fresh_dir(dir, sizeof dir, "race");
	CHECK_EQ_INT(cf_store_open(dir, &r.s), 0);
	r.coll = ino_of(r.s, "global/snapshots");
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, race_reader, &r);
	char name[32];
	for (int round = 0; round < 30; round++) {
		struct cf_wtxn *w;
		struct cf_pathset *seen = cf_pathset_new();
		CHECK_EQ_INT(cf_store_wbegin(r.s, &w), 0);
		for (int i = 0; i < RACE_LIVE; i++) {
			struct cf_resource x;
			/* 50 distinct names of 100 (7 is prime to 100) */
			snprintf(name, sizeof name, "r-%04d", (i * 7 + round * 13) % 100);
			mk(&x, CF_KIND_SNAPSHOT, "global", name, round % 2 ? "READY" : "UPLOADING",
			   round);
			set_str(&x.source, "zones/z/disks/d");
			CHECK_EQ_INT(cf_store_upsert(w, &x, NULL), 0);
			char path[64];
			snprintf(path, sizeof path, "global/snapshots/%s", name);
			cf_pathset_add(seen, path);
			cf_resource_clear(&x);
		}
		CHECK(cf_store_sweep(w, CF_LIST_SNAPSHOTS, seen, INT64_MAX) >= 0);
		CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
		cf_pathset_free(seen);
	}
	__atomic_store_n(&r.stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL); /* their transactions go with them */
	CHECK_EQ_INT(r.errors, 0);
	CHECK_EQ_INT(r.torn, 0); /* every listing saw one committed state */
	CHECK(r.calls > 0);
	fprintf(stderr, "concurrent readers: %d calls during 30 write transactions\n", r.calls);
	cf_store_close(r.s);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static int count_entry(void *ctx, const char *name, size_t len, const struct cf_stat *st)
{
	(void) name;
	(void) len;
	(*(uint64_t *) ctx) += st->blocks + 1;
	return 0;
}

/* Upsert rs[0..n) in transactions of per_txn; print the cost. */
static void timed_upserts(struct cf_store *s, struct cf_resource *rs, int n, int per_txn,
			  const char *what)
{
	struct rusage r0, r1;
	double t0 = now_s();
	getrusage(RUSAGE_SELF, &r0);
	for (int i = 0; i < n; i += per_txn) {
		struct cf_wtxn *w;
		CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
		for (int j = i; j < i + per_txn && j < n; j++)
			if (cf_store_upsert(w, &rs[j], NULL))
				CHECK(0);
		CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	}
	getrusage(RUSAGE_SELF, &r1);
	double t1 = now_s();
	double user = (double) (r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) +
		      (double) (r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) / 1e6;
	double sys = (double) (r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) +
		     (double) (r1.ru_stime.tv_usec - r0.ru_stime.tv_usec) / 1e6;
	fprintf(stderr,
		"PERF upsert %d new snapshots, %s (%d per txn): %.3f s wall, %.3f s cpu "
		"(%.3f user, %.3f sys)\n",
		n, what, per_txn, t1 - t0, user + sys, user, sys);
}

static void test_scale(void)
{
	enum { N = 100000, PER_TXN = 500 };
	char dir[512];
	struct cf_store *s;

	/* 100,000 snapshots of 1,000 disks, with a realistic document each,
	 * in name order (how the API pages them by default) ... */
	struct cf_resource *rs = calloc(N, sizeof *rs);
	char name[64], src[128], raw[900];
	memset(raw, 'x', sizeof raw);
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "snap-%08d", i);
		mk(&rs[i], CF_KIND_SNAPSHOT, "global", name, "READY", 1600000000 + i);
		char id[24]; /* each its own, as the API's are (the id index) */
		snprintf(id, sizeof id, "%llu",
			 4200000000000000000ull + (unsigned long long) i * 7919);
		set_str(&rs[i].id, id);
		snprintf(src, sizeof src, "zones/us-central1-a/disks/disk-%04d", i % 1000);
		set_str(&rs[i].source, src);
		add_label(&rs[i], "team", "storage");
		add_label(&rs[i], "env", "prod");
		free(rs[i].raw);
		rs[i].raw = malloc(sizeof raw);
		memcpy(rs[i].raw, raw, sizeof raw);
		rs[i].raw_len = sizeof raw;
	}
	fresh_dir(dir, sizeof dir, "scale-ordered");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	timed_upserts(s, rs, N, PER_TXN, "in name order");
	cf_store_close(s);
	rm_rf(dir);

	/* ... and shuffled, the worst case: every insert lands on another
	 * page of every index. */
	uint64_t x = 88172645463325252ull; /* xorshift64, fixed seed */
	for (int i = N - 1; i > 0; i--) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int j = (int) (x % (uint64_t) (i + 1));
		struct cf_resource t = rs[i];
		rs[i] = rs[j];
		rs[j] = t;
	}
	fresh_dir(dir, sizeof dir, "scale");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	timed_upserts(s, rs, N, PER_TXN, "shuffled");
	double t0, t1, c0, c1;

	t0 = now_s();
	c0 = cpu_s();
	bool any = false;
	for (int i = 0; i < N; i += PER_TXN) {
		struct cf_wtxn *w;
		CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
		for (int j = i; j < i + PER_TXN && j < N; j++) {
			bool ch;
			cf_store_upsert(w, &rs[j], &ch);
			any |= ch;
		}
		CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	}
	t1 = now_s();
	c1 = cpu_s();
	CHECK(!any);
	fprintf(stderr, "PERF upsert %d unchanged snapshots (idle sync): %.3f s wall, %.3f s cpu\n",
		N, t1 - t0, c1 - c0);

	uint64_t coll = ino_of(s, "global/snapshots");
	for (int round = 0; round < 2; round++) {
		uint64_t sum = 0;
		t0 = now_s();
		CHECK_EQ_INT(cf_store_readdir(s, coll, count_entry, &sum), 0);
		t1 = now_s();
		CHECK_EQ_INT(sum, 3ull * N); /* 1000 bytes: 2 blocks, + 1 */
		fprintf(stderr, "PERF readdir %d entries: %.2f ms (%.2f ms per 10k)\n", N,
			(t1 - t0) * 1e3, (t1 - t0) * 1e3 / (N / 10000));
	}
	/* .clonefs/by-id/: every id, each with its link's size (the path). */
	for (int round = 0; round < 2; round++) {
		uint64_t sum = 0;
		t0 = now_s();
		CHECK_EQ_INT(cf_store_readdir(s, CF_INO_BYID, count_entry, &sum), 0);
		t1 = now_s();
		CHECK_EQ_INT(sum, (uint64_t) N); /* symlinks: no blocks */
		fprintf(stderr, "PERF readdir .clonefs/by-id, %d entries: %.2f ms\n", N,
			(t1 - t0) * 1e3);
	}
	struct cf_stat st;
	char link[256];
	t0 = now_s();
	int bad = 0;
	for (int i = 0; i < N; i++)
		bad += cf_store_lookup(s, CF_INO_BYID, rs[i].id, &st) != 0 || st.size != 36;
	t1 = now_s();
	CHECK_EQ_INT(bad, 0);
	fprintf(stderr, "PERF by-id lookup x%d: %.1f ms (%.2f us each)\n", N, (t1 - t0) * 1e3,
		(t1 - t0) * 1e6 / N);
	t0 = now_s();
	for (int i = 0; i < N; i++) /* "../../global/snapshots/snap-NNNNNNNN" */
		bad += cf_store_readlink(s, CF_INO(CF_INO_BASE(st.ino), CF_SUB_BYID), link,
					 sizeof link) != 36;
	t1 = now_s();
	CHECK_EQ_INT(bad, 0);
	fprintf(stderr, "PERF by-id readlink x%d: %.1f ms (%.2f us each)\n", N, (t1 - t0) * 1e3,
		(t1 - t0) * 1e6 / N);
	t0 = now_s();
	for (int i = 0; i < N; i++) {
		snprintf(name, sizeof name, "snap-%08d", i);
		if (cf_store_lookup(s, coll, name, &st))
			CHECK(0);
	}
	t1 = now_s();
	fprintf(stderr, "PERF lookup x%d: %.1f ms (%.2f us each)\n", N, (t1 - t0) * 1e3,
		(t1 - t0) * 1e6 / N);

	/* Sweep of everything but one. */
	struct cf_pathset *seen = cf_pathset_new();
	cf_pathset_add(seen, "global/snapshots/snap-00000000");
	t0 = now_s();
	struct cf_wtxn *w;
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_sweep(w, CF_LIST_SNAPSHOTS, seen, INT64_MAX), N - 1);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	t1 = now_s();
	fprintf(stderr, "PERF sweep of %d: %.3f s\n", N - 1, t1 - t0);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "snap-00000000");
	cf_pathset_free(seen);

	for (int i = 0; i < N; i++)
		cf_resource_clear(&rs[i]);
	free(rs);
	cf_store_close(s);
}

/* A listing page: upserts in one transaction marked as read at `fetched`. */
static void put_page(struct cf_store *s, int64_t fetched, struct cf_resource *items, size_t n,
		     struct cf_pathset *seen)
{
	struct cf_wtxn *w;
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	cf_store_wfetched(w, fetched);
	for (size_t i = 0; i < n; i++) {
		CHECK_EQ_INT(cf_store_upsert(w, &items[i], NULL), 0);
		char path[CF_PATH_MAX];
		cf_resource_path(items[i].kind, items[i].scope, items[i].name, path, sizeof path);
		if (seen)
			cf_pathset_add(seen, path);
	}
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
}

static const char *label_value(struct cf_store *s, const char *path, const char *key)
{
	static char val[64];
	char *blob;
	size_t len, n;
	val[0] = '\0';
	if (cf_store_labels(s, ino_of(s, path), &blob, &len, &n))
		return "(none)";
	for (const char *p = blob; p < blob + len; p += strlen(p) + 1) {
		const char *v = p + strlen(p) + 1;
		if (!strcmp(p, key))
			snprintf(val, sizeof val, "%s", v);
		p = v;
	}
	free(blob);
	return val;
}

/* The write path against a listing that began before it: a page read before
 * a write does not undo it, and the sweep keeps what was stored after the
 * listing began (mkdir's CREATING entry), until a later listing decides. */
static void test_write_path_vs_listing(void)
{
	char dir[512];
	struct cf_store *s;
	struct cf_resource r[3];
	struct cf_wtxn *w;
	fresh_dir(dir, sizeof dir, "writes");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	mk(&r[0], CF_KIND_SNAPSHOT, "global", "a", "READY", 1000);
	mk(&r[1], CF_KIND_SNAPSHOT, "global", "b", "READY", 1001);
	add_label(&r[1], "env", "old");
	put_page(s, cf_store_clock_ms(), r, 2, NULL);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "a,b");

	/* Listing L begins; its first (only) page is read now... */
	int64_t since = cf_store_clock_ms();
	struct cf_pathset *seen = cf_pathset_new();
	/* ...then the write path: mkdir c, relabel b, delete a. */
	mk(&r[2], CF_KIND_SNAPSHOT, "global", "c", "CREATING", 1002);
	CHECK_EQ_INT(put1(s, &r[2], NULL, NULL), 0);
	struct cf_resource b2;
	mk(&b2, CF_KIND_SNAPSHOT, "global", "b", "READY", 1001);
	add_label(&b2, "env", "new");
	CHECK_EQ_INT(put1(s, &b2, NULL, NULL), 0);
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_remove(w, "global/snapshots/a"), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "b,c");
	/* ...and the page, read before all that, is applied: a and old b. */
	put_page(s, since, r, 2, seen);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "b,c");
	CHECK_EQ_STR(label_value(s, "global/snapshots/b", "env"), "new");
	/* Its sweep keeps c, stored after the listing began. */
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_sweep(w, CF_LIST_SNAPSHOTS, seen, since), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "b,c");
	cf_pathset_free(seen);

	/* The next listing begins after those writes: what it says goes. */
	seen = cf_pathset_new();
	since = cf_store_clock_ms();
	put_page(s, since, r, 2, seen); /* a is back, b's label is "old" again */
	CHECK_EQ_STR(label_value(s, "global/snapshots/b", "env"), "old");
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_sweep(w, CF_LIST_SNAPSHOTS, seen, since), 1); /* c */
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "a,b");
	cf_pathset_free(seen);

	/* A write to another listing's kind is that listing's business. */
	struct cf_resource d;
	mk(&d, CF_KIND_DISK, "zones/z1", "d1", "READY", 900);
	since = cf_store_clock_ms();
	CHECK_EQ_INT(put1(s, &d, NULL, NULL), 0);
	seen = cf_pathset_new();
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_sweep(w, CF_LIST_DISKS, seen, since), 0);
	CHECK_EQ_INT(cf_store_sweep(w, CF_LIST_DISKS, seen, INT64_MAX), 1);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	cf_pathset_free(seen);

	for (int i = 0; i < 3; i++)
		cf_resource_clear(&r[i]);
	cf_resource_clear(&b2);
	cf_resource_clear(&d);
	cf_store_close(s);
}

/* The write path's memory of a write is part of its transaction: a write
 * that aborted stored nothing, so a page read before it is applied (else the
 * listing would wait one more pass to say what it read), and its sweep
 * removes what that write would have stored. A sweep that aborted forgets
 * nothing. */
static void test_aborted_write_not_remembered(void)
{
	char dir[512];
	struct cf_store *s;
	struct cf_resource r[2], b2, c;
	struct cf_wtxn *w;
	fresh_dir(dir, sizeof dir, "aborted");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	mk(&r[0], CF_KIND_SNAPSHOT, "global", "a", "READY", 1000);
	mk(&r[1], CF_KIND_SNAPSHOT, "global", "b", "READY", 1001);
	add_label(&r[1], "env", "old");
	put_page(s, cf_store_clock_ms(), r, 1, NULL); /* a only */

	/* A listing begins; then a write that aborts: it relabels a... */
	int64_t since = cf_store_clock_ms();
	struct cf_resource a2;
	mk(&a2, CF_KIND_SNAPSHOT, "global", "a", "READY", 1000);
	add_label(&a2, "env", "aborted");
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_upsert(w, &a2, NULL), 0);
	/* ...and stores c, under the base the next new resource gets */
	mk(&c, CF_KIND_SNAPSHOT, "global", "c", "CREATING", 1002);
	CHECK_EQ_INT(cf_store_upsert(w, &c, NULL), 0);
	cf_store_wabort(w);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "a");
	/* The page, read before: a relabeled and b new are applied as read. */
	add_label(&r[0], "env", "listed");
	struct cf_pathset *seen = cf_pathset_new();
	put_page(s, since, r, 2, seen);
	CHECK_EQ_STR(ls(s, "global/snapshots"), "a,b");
	CHECK_EQ_STR(label_value(s, "global/snapshots/a", "env"), "listed");
	CHECK_EQ_STR(label_value(s, "global/snapshots/b", "env"), "old");
	cf_pathset_free(seen);

	/* A write that commits is remembered, and a sweep that aborts forgets
	 * nothing: the next page read before that write still leaves it. */
	since = cf_store_clock_ms();
	mk(&b2, CF_KIND_SNAPSHOT, "global", "b", "READY", 1001);
	add_label(&b2, "env", "new");
	CHECK_EQ_INT(put1(s, &b2, NULL, NULL), 0);
	seen = cf_pathset_new();
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_sweep(w, CF_LIST_SNAPSHOTS, seen, INT64_MAX), 2);
	cf_store_wabort(w);
	put_page(s, since, r, 2, seen);
	CHECK_EQ_STR(label_value(s, "global/snapshots/b", "env"), "new");
	cf_pathset_free(seen);

	for (int i = 0; i < 2; i++)
		cf_resource_clear(&r[i]);
	cf_resource_clear(&a2);
	cf_resource_clear(&b2);
	cf_resource_clear(&c);
	cf_store_close(s);
}

/* collect, stopping after `max` entries. */
struct window {
	struct names c;
	size_t max;
};

static int collect_window(void *ctx, const char *name, size_t len, const struct cf_stat *st)
{
	struct window *w = ctx;
	collect(&w->c, name, len, st);
	return w->c.n >= w->max;
}

static const char *ls_after(struct cf_store *s, uint64_t ino, const char *after, size_t max,
			    bool *resumable)
{
	static struct window w;
	memset(&w, 0, sizeof w);
	w.max = max;
	int rc = cf_store_readdir_after(s, ino, after, after ? strlen(after) : 0, resumable,
					collect_window, &w);
	if (rc)
		snprintf(w.c.buf, sizeof w.c.buf, "(error %d)", rc);
	return w.c.buf;
}

/* A listing in windows (fs/read_ops.c): each resumes after a name, whether
 * or not that name is still there; a directory whose entries are not the
 * table's says so, and refuses to resume. */
static void test_readdir_after(void)
{
	static const char *const names[] = {"a", "ab", "b", "c", "d", "e"};
	char dir[512];
	struct cf_store *s;
	bool resumable = false;
	fresh_dir(dir, sizeof dir, "after");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		struct cf_resource r;
		mk(&r, CF_KIND_SNAPSHOT, "global", names[i], "READY", 100);
		CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
		cf_resource_clear(&r);
	}
	uint64_t coll = ino_of(s, "global/snapshots");
	CHECK_EQ_STR(ls_after(s, coll, NULL, 2, &resumable), "a,ab");
	CHECK(resumable);
	CHECK_EQ_STR(ls_after(s, coll, "ab", 2, &resumable), "b,c");
	CHECK_EQ_STR(ls_after(s, coll, "c", 10, &resumable), "d,e");
	CHECK_EQ_STR(ls_after(s, coll, "e", 10, &resumable), "");
	/* A name that is not (or no longer) there: the listing goes on after it. */
	CHECK_EQ_STR(ls_after(s, coll, "aa", 10, &resumable), "ab,b,c,d,e");
	CHECK_EQ_STR(ls_after(s, coll, "bb", 10, &resumable), "c,d,e");
	CHECK_EQ_STR(ls_after(s, coll, "", 10, &resumable), "a,ab,b,c,d,e");
	CHECK_EQ_STR(ls_after(s, coll, "zz", 10, &resumable), "");
	/* The root is the table's too. */
	CHECK_EQ_STR(ls_after(s, CF_INO_ROOT, NULL, 10, &resumable), "global,regions,zones");
	CHECK_EQ_STR(ls_after(s, CF_INO_ROOT, "global", 1, &resumable), "regions");
	CHECK(resumable);
	/* A resource directory lists whole, and cannot resume. */
	uint64_t a = ino_of(s, "global/snapshots/a");
	resumable = true;
	CHECK_EQ_STR(ls_after(s, a, NULL, 10, &resumable), ls(s, "global/snapshots/a"));
	CHECK(!resumable);
	CHECK_EQ_STR(ls_after(s, a, "resource.json", 10, &resumable), "(error -22)");

	/* A disk's snapshots/ resumes too: its names are its dependents in the
	 * source index, where an image of the same disk (and name) sits beside
	 * them and must not leak in. */
	static const char *const deps[] = {"x1", "x10", "x2", "x3"};
	struct cf_resource r;
	mk(&r, CF_KIND_DISK, "zones/z", "d", "READY", 100);
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	cf_resource_clear(&r);
	mk(&r, CF_KIND_IMAGE, "global", "x2", "READY", 100);
	set_str(&r.source, "zones/z/disks/d");
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	cf_resource_clear(&r);
	for (size_t i = 0; i < sizeof deps / sizeof *deps; i++) {
		mk(&r, CF_KIND_SNAPSHOT, "global", deps[i], "READY", 100);
		set_str(&r.source, "zones/z/disks/d");
		CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
		cf_resource_clear(&r);
	}
	uint64_t al = ino_of(s, "zones/z/disks/d/snapshots");
	resumable = false;
	CHECK_EQ_STR(ls_after(s, al, NULL, 2, &resumable), "x1,x10");
	CHECK(resumable);
	CHECK_EQ_STR(ls_after(s, al, "x10", 2, &resumable), "x2,x3");
	CHECK_EQ_STR(ls_after(s, al, "x1", 10, &resumable), "x10,x2,x3");
	CHECK_EQ_STR(ls_after(s, al, "x25", 10, &resumable), "x3");
	CHECK_EQ_STR(ls_after(s, al, "x3", 10, &resumable), "");
	CHECK_EQ_STR(ls_after(s, al, NULL, 10, &resumable), ls(s, "zones/z/disks/d/snapshots"));
	cf_store_close(s);
}

/* A stateless listing (fs/read_ops.c): a few entries per call, each call
 * resuming from the cookie of the last entry the one before gave. */
struct cpage {
	struct names c;
	size_t max;
	uint64_t last; /* the cookie of the last entry taken */
	uint64_t prev; /* the one before: cookies grow in a small listing */
	bool unordered;
};

static int collect_cookie(void *ctx, const char *name, size_t len, const struct cf_stat *st,
			  uint64_t cookie)
{
	struct cpage *p = ctx;
	collect(&p->c, name, len, st);
	if (cookie < CF_DIR_COOKIE_MIN)
		p->unordered = true; /* never one of the caller's */
	p->prev = p->last;
	p->last = cookie;
	return p->c.n >= p->max;
}

/* Up to max entries from cookie: "name,name" (or "(error N)"); *next the
 * cookie to go on from. */
static const char *ls_cookie(struct cf_store *s, uint64_t ino, uint64_t cookie, size_t max,
			     uint64_t *next)
{
	static struct cpage p;
	memset(&p, 0, sizeof p);
	p.max = max;
	p.last = cookie;
	int rc = cf_store_readdir_cookie(s, ino, cookie, collect_cookie, &p);
	if (rc)
		snprintf(p.c.buf, sizeof p.c.buf, "(error %d)", rc);
	if (next)
		*next = p.last;
	return p.c.buf;
}

static void put_snap(struct cf_store *s, const char *name, const char *disk)
{
	struct cf_resource r;
	mk(&r, CF_KIND_SNAPSHOT, "global", name, "READY", 100);
	if (disk)
		set_str(&r.source, disk);
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	cf_resource_clear(&r);
}

static void rm_snap(struct cf_store *s, const char *name)
{
	struct cf_wtxn *w;
	char path[64];
	snprintf(path, sizeof path, "global/snapshots/%s", name);
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_remove(w, path), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
}

/* The resume cursor: a listing resumes after the entry whose cookie it is
 * given, whether that entry is still there or not, and in a small listing
 * by the names' hashes; cookies it never gave are refused. */
static void test_readdir_cookie(void)
{
	static const char *const names[] = {"a", "ab", "b", "c", "d", "e"};
	char dir[512];
	struct cf_store *s;
	uint64_t next = 0, at_ab, at_d;
	fresh_dir(dir, sizeof dir, "cookie");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		put_snap(s, names[i], NULL);
	uint64_t coll = ino_of(s, "global/snapshots");
	CHECK_EQ_STR(ls_cookie(s, coll, 0, 2, &at_ab), "a,ab");
	CHECK_EQ_INT(at_ab, CF_INO_BASE(ino_of(s, "global/snapshots/ab")) + CF_DIR_COOKIE_MIN);
	CHECK_EQ_STR(ls_cookie(s, coll, at_ab, 2, &next), "b,c");
	CHECK_EQ_STR(ls_cookie(s, coll, next, 1, &at_d), "d");
	CHECK_EQ_STR(ls_cookie(s, coll, at_d, 10, &next), "e");
	CHECK_EQ_STR(ls_cookie(s, coll, next, 10, NULL), "");
	/* Between calls: "ab", where the listing stands, goes; "aa" (before it)
	 * and "bb" (after it) come. The listing goes on after "ab" all the same:
	 * "b" and "c" once, "bb" (new) in its place. Not by position: with an
	 * index, "aa" would push "ab" back into the next call's first place. */
	put_snap(s, "aa", NULL);
	put_snap(s, "bb", NULL);
	rm_snap(s, "ab");
	CHECK_EQ_STR(ls_cookie(s, coll, at_ab, 3, &next), "b,bb,c");
	/* "d" gone and back: it keeps its base, so its cookie. */
	rm_snap(s, "d");
	CHECK_EQ_STR(ls_cookie(s, coll, at_d, 10, NULL), "e");
	put_snap(s, "d", NULL);
	CHECK_EQ_STR(ls_cookie(s, coll, at_d, 10, NULL), "e");
	CHECK_EQ_STR(ls_cookie(s, coll, 0, 100, NULL), "a,aa,b,bb,c,d,e");
	/* The root resumes so too. */
	CHECK_EQ_STR(ls_cookie(s, CF_INO_ROOT, 0, 1, &next), "global");
	CHECK_EQ_STR(ls_cookie(s, CF_INO_ROOT, next, 10, NULL), "regions,zones");

	/* A small listing (a resource's own entries): every entry once, in
	 * cookie order, one per call; a removed entry's cookie resumes after
	 * its place. */
	uint64_t a = ino_of(s, "global/snapshots/a");
	char seen[4096] = "";
	size_t calls = 0;
	for (next = 0;; calls++) {
		const char *got = ls_cookie(s, a, next, 1, &next);
		if (!*got)
			break;
		CHECK(next >= CF_DIR_COOKIE_SMALL);
		CHECK_EQ_INT(next, cf_dir_name_cookie(got, strlen(got)));
		snprintf(seen + strlen(seen), sizeof seen - strlen(seen), "%s%s", *seen ? "," : "",
			 got);
	}
	CHECK(calls >= 2);
	/* the same names as a whole listing, in another order */
	struct names whole = {0};
	CHECK_EQ_INT(cf_store_readdir(s, a, collect, &whole), 0);
	CHECK_EQ_INT(strlen(seen), strlen(whole.buf));
	CHECK_EQ_INT(calls, whole.n);
	{
		static struct cpage p;
		memset(&p, 0, sizeof p);
		p.max = 100;
		CHECK_EQ_INT(cf_store_readdir_cookie(s, a, 0, collect_cookie, &p), 0);
		CHECK_EQ_INT(p.c.n, whole.n);
		CHECK(!p.unordered);
		uint64_t status = cf_dir_name_cookie("status", 6);
		uint64_t from = status - 1; /* just before "status": it comes first */
		const char *got = ls_cookie(s, a, from, 1, NULL);
		CHECK_EQ_STR(got, "status");
		/* a small cookie no entry has: the entries past it */
		const char *rest = ls_cookie(s, a, status, 100, NULL);
		CHECK(strstr(rest, "status") == NULL);
	}

	/* Cookies the listing never gave: refused. */
	CHECK_EQ_STR(ls_cookie(s, coll, 5, 10, NULL), "(error -22)");
	CHECK_EQ_STR(ls_cookie(s, coll, cf_dir_name_cookie("a", 1), 10, NULL), "(error -22)");
	CHECK_EQ_STR(ls_cookie(s, a, at_d, 10, NULL), "(error -22)");
	CHECK_EQ_STR(ls_cookie(s, coll, ((uint64_t) 1 << 40) + CF_DIR_COOKIE_MIN, 10, NULL),
		     "(error -22)");

	/* A disk's snapshots/ (the source index): resumes by its snapshots'
	 * bases, past one that left. */
	struct cf_resource r;
	mk(&r, CF_KIND_DISK, "zones/z", "d", "READY", 100);
	CHECK_EQ_INT(put1(s, &r, NULL, NULL), 0);
	cf_resource_clear(&r);
	put_snap(s, "x1", "zones/z/disks/d");
	put_snap(s, "x2", "zones/z/disks/d");
	put_snap(s, "x3", "zones/z/disks/d");
	uint64_t al = ino_of(s, "zones/z/disks/d/snapshots");
	CHECK_EQ_STR(ls_cookie(s, al, 0, 2, &next), "x1,x2");
	rm_snap(s, "x2");
	CHECK_EQ_STR(ls_cookie(s, al, next, 10, NULL), "x3");
	cf_store_close(s);
}

/* The promise under churn: a listing of 300 names, a few per call, while
 * every call adds one name and removes another: each name present
 * throughout is listed exactly once, and no name twice. */
static void test_readdir_cookie_churn(void)
{
	enum { POOL = 600, START = 300 };
	char dir[512], name[16];
	struct cf_store *s;
	bool present[POOL] = {false}, always[POOL], listed_twice = false;
	unsigned listed[POOL] = {0};
	unsigned seed = 12345;
	fresh_dir(dir, sizeof dir, "churn");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	for (int i = 0; i < START; i++) {
		snprintf(name, sizeof name, "s%03d", i * 2); /* every other name: room between */
		put_snap(s, name, NULL);
		present[i * 2] = true;
	}
	memcpy(always, present, sizeof always);
	uint64_t coll = ino_of(s, "global/snapshots");
	uint64_t next = 0;
	for (int round = 0; round < 1000; round++) {
		static struct cpage p;
		memset(&p, 0, sizeof p);
		p.max = 1 + (seed = seed * 1103515245 + 12345) % 5;
		p.last = next;
		CHECK_EQ_INT(cf_store_readdir_cookie(s, coll, next, collect_cookie, &p), 0);
		if (!p.c.n)
			break;
		next = p.last;
		for (char *tok = strtok(p.c.buf, ","); tok; tok = strtok(NULL, ",")) {
			int i = atoi(tok + 1);
			if (i >= 0 && i < POOL && listed[i]++)
				listed_twice = true;
		}
		/* one name comes, one goes (any, before or after where we are) */
		int add = (int) ((seed = seed * 1103515245 + 12345) % POOL);
		int del = (int) ((seed = seed * 1103515245 + 12345) % POOL);
		snprintf(name, sizeof name, "s%03d", add);
		if (!present[add]) {
			put_snap(s, name, NULL);
			present[add] = true;
		}
		if (present[del] && del != add) {
			snprintf(name, sizeof name, "s%03d", del);
			rm_snap(s, name);
			present[del] = false;
			always[del] = false;
		}
	}
	CHECK(!listed_twice);
	int missed = 0;
	for (int i = 0; i < POOL; i++)
		if (always[i] && listed[i] != 1)
			missed++;
	CHECK_EQ_INT(missed, 0);
	cf_store_close(s);
}

/* A store opened with another provider's tree (toy_layout.h) builds that
 * tree, and its writes, reads, aliases, trash and sweeps use its words. */
static void test_other_layout(void)
{
	char dir[512];
	struct cf_store *s;
	struct cf_stat st;
	CHECK_EQ_INT(cf_layout_use(&toy_layout), 0);
	fresh_dir(dir, sizeof dir, "toy");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_STR(ls(s, ""), "here,lands");
	CHECK_EQ_STR(ls(s, "here"), "amis,snaps,templates");
	CHECK_EQ_STR(ls(s, "trash/here"), "amis,snaps,templates");

	struct cf_resource vol, snap, vm, tmpl, old;
	mk(&vol, CF_KIND_DISK, "lands/a", "v1", "READY", 1600000000);
	mk(&vm, CF_KIND_INSTANCE, "lands/a", "i1", "RUNNING", 1600000001);
	add_link(&vm, "lands/a/volumes/v1");
	mk(&snap, CF_KIND_SNAPSHOT, "here", "s1", "READY", 1600000002);
	set_str(&snap.source, "lands/a/volumes/v1");
	mk(&tmpl, CF_KIND_MACHINE_IMAGE, "here", "t1", "READY", 1600000003);
	set_str(&tmpl.source, "lands/a/vms/i1");
	mk(&old, CF_KIND_SNAPSHOT, "here", "s2", "READY", 1600000004);
	set_str(&old.source, "lands/a/volumes/v1");
	add_label(&old, CF_TRASH_LABEL, "1");
	CHECK_EQ_INT(put1(s, &vol, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &vm, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &snap, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &tmpl, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &old, NULL, NULL), 0);

	CHECK_EQ_STR(ls(s, "lands"), "a");
	CHECK_EQ_STR(ls(s, "lands/a"), "vms,volumes");
	CHECK_EQ_STR(ls(s, "lands/a/volumes/v1"), "backups,resource.json,status");
	CHECK_EQ_STR(ls(s, "lands/a/volumes/v1/backups"), "s1");
	CHECK_EQ_STR(ls(s, "lands/a/vms/i1"), "copies,resource.json,status,volumes");
	CHECK_EQ_STR(ls(s, "lands/a/vms/i1/copies"), "t1");
	CHECK_EQ_STR(ls(s, "lands/a/vms/i1/volumes"), "v1");
	uint64_t v1 = ino_of(s, "lands/a/volumes/v1");
	CHECK_EQ_INT(cf_store_lookup(s, v1, "backups", &st), 0);
	CHECK_EQ_INT(st.ino, CF_INO(CF_INO_BASE(v1), CF_SUB_SNAPSHOTS));
	CHECK_EQ_INT(cf_store_lookup(s, v1, "snapshots", &st), -ENOENT);
	CHECK_EQ_STR(link_of(s, "here/snaps/s1/source"), "../../../lands/a/volumes/v1");
	CHECK_EQ_STR(link_of(s, "lands/a/volumes/v1/backups/s1/source"),
		     "../../../../../../lands/a/volumes/v1");
	CHECK_EQ_STR(ls(s, "here/snaps"), "s1");
	CHECK_EQ_STR(ls(s, "trash/here/snaps"), "s2");
	CHECK_EQ_STR(link_of(s, "trash/here/snaps/s2/source"), "../../../../../lands/a/volumes/v1");
	CHECK_EQ_STR(trashed(s), "here/snaps/s2=s2");
	char path[CF_PATH_MAX];
	unsigned sub = 0;
	CHECK(cf_store_path_of(s, ino_of(s, "lands/a/volumes/v1/backups/s1"), path, sizeof path,
			       &sub) >= 0);
	CHECK_EQ_STR(path, "lands/a/volumes/v1/backups/s1");

	/* The sweep map: the volumes listing covers every land's volumes/; the
	 * snaps listing its trash too; the lands listing the lands. */
	const char *none[] = {NULL};
	const char *s1only[] = {"here/snaps/s1", NULL};
	sweep1(s, CF_LIST_SNAPSHOTS, s1only, 1, NULL);
	CHECK_EQ_STR(ls(s, "trash/here/snaps"), "");
	sweep1(s, CF_LIST_DISKS, none, 1, NULL);
	CHECK_EQ_STR(ls(s, "lands/a/volumes"), "");
	sweep1(s, CF_LIST_INSTANCES, none, 1, NULL);
	sweep1(s, CF_LIST_ZONES, none, 1, NULL);
	CHECK_EQ_STR(ls(s, "lands"), "");
	struct cf_wtxn *w;
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_remove(w, "here/templates/t1"), 0);
	CHECK_EQ_INT(cf_store_remove(w, "global/snapshots/s1"), -EINVAL);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_STR(ls(s, "here/templates"), "");

	cf_resource_clear(&vol);
	cf_resource_clear(&vm);
	cf_resource_clear(&snap);
	cf_resource_clear(&tmpl);
	cf_resource_clear(&old);
	cf_store_close(s);
	CHECK_EQ_INT(cf_layout_use(&cf_gce_layout), 0);
}

/* A tree whose collections sit at the mount root (toy_root_layout.h: AWS's
 * snapshots/, images/, volumes/, instances/): paths, parents, inodes, the
 * root's listing, views, links, the trash, the sweep and remove all work
 * without a scope component, and the path grammar takes COLLECTION/NAME. */
static void test_root_layout(void)
{
	char dir[512], scope[64], name[64];
	struct cf_store *s;
	struct cf_stat st;
	enum cf_kind k;
	CHECK_EQ_INT(cf_layout_use(&toy_root_layout), 0);
	char p[CF_PATH_MAX];
	CHECK_EQ_INT(cf_resource_path(CF_KIND_SNAPSHOT, "", "s1", p, sizeof p), 12);
	CHECK_EQ_STR(p, "snapshots/s1");
	CHECK_EQ_INT(cf_collection_path(CF_KIND_DISK, "", p, sizeof p), 7);
	CHECK_EQ_STR(p, "volumes");
	CHECK_EQ_INT(cf_path_parse("volumes/v1", &k, scope, sizeof scope, name, sizeof name), 0);
	CHECK_EQ_INT(k, CF_KIND_DISK);
	CHECK_EQ_STR(scope, "");
	CHECK_EQ_STR(name, "v1");
	CHECK_EQ_INT(cf_path_parse("x/volumes/v1", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("volumes", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("trash/v1", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_collection_kind("images", 6), CF_KIND_MACHINE_IMAGE);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_SNAPSHOT, "global", "s1", p, sizeof p), -EINVAL);
	CHECK(!cf_listing_used(CF_LIST_ZONES) && cf_listing_used(CF_LIST_DISKS));

	fresh_dir(dir, sizeof dir, "root");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_STR(ls(s, ""), "images,instances,snapshots,volumes");
	CHECK_EQ_STR(ls(s, "trash"), "images,snapshots");

	struct cf_resource vol, snap, vm, ami, old;
	mk(&vol, CF_KIND_DISK, "", "v1", "READY", 1600000000);
	mk(&vm, CF_KIND_INSTANCE, "", "i1", "RUNNING", 1600000001);
	add_link(&vm, "volumes/v1");
	mk(&snap, CF_KIND_SNAPSHOT, "", "s1", "READY", 1600000002);
	set_str(&snap.source, "volumes/v1");
	mk(&ami, CF_KIND_MACHINE_IMAGE, "", "a1", "READY", 1600000003);
	set_str(&ami.source, "instances/i1");
	mk(&old, CF_KIND_SNAPSHOT, "", "s2", "READY", 1600000004);
	set_str(&old.source, "volumes/v1");
	add_label(&old, CF_TRASH_LABEL, "1");
	/* listed by id in this tree (pref_names): ids that read as names */
	struct cf_resource *all[] = {&vol, &vm, &snap, &ami, &old};
	for (size_t i = 0; i < 5; i++)
		set_str(&all[i]->id, all[i]->name);
	CHECK_EQ_INT(put1(s, &vol, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &vm, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &snap, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &ami, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &old, NULL, NULL), 0);

	CHECK_EQ_STR(ls(s, ""), "images,instances,snapshots,volumes");
	CHECK_EQ_STR(ls(s, "volumes"), "v1");
	CHECK_EQ_STR(ls(s, "volumes/v1"), "resource.json,snapshots,status");
	CHECK_EQ_STR(ls(s, "volumes/v1/snapshots"), "s1");
	CHECK_EQ_STR(ls(s, "instances/i1"), "images,resource.json,status,volumes");
	CHECK_EQ_STR(ls(s, "instances/i1/images"), "a1");
	CHECK_EQ_STR(link_of(s, "instances/i1/volumes/v1"), "../../../volumes/v1");
	CHECK_EQ_STR(link_of(s, "snapshots/s1/source"), "../../volumes/v1");
	CHECK_EQ_STR(link_of(s, "volumes/v1/snapshots/s1/source"), "../../../../volumes/v1");
	CHECK_EQ_STR(ls(s, "snapshots"), "s1");
	CHECK_EQ_STR(ls(s, "trash/snapshots"), "s2");
	/* .clonefs/trash/snapshots/s2/source: four levels below the root */
	CHECK_EQ_STR(link_of(s, "trash/snapshots/s2/source"), "../../../../volumes/v1");
	CHECK_EQ_STR(trashed(s), "snapshots/s2=s2");
	CHECK_EQ_INT(cf_store_lookup(s, CF_INO_ROOT, "volumes", &st), 0);
	CHECK_EQ_INT(st.ino, ino_of(s, "volumes"));
	char path[CF_PATH_MAX];
	unsigned sub = 0;
	CHECK(cf_store_path_of(s, ino_of(s, "volumes/v1/snapshots/s1"), path, sizeof path, &sub) >=
	      0);
	CHECK_EQ_STR(path, "volumes/v1/snapshots/s1");
	CHECK(cf_store_path_of(s, ino_of(s, "images"), path, sizeof path, &sub) >= 0);
	CHECK_EQ_STR(path, "images");
	CHECK(cf_store_path_of(s, ino_of(s, "trash/snapshots/s2"), path, sizeof path, &sub) >= 0);
	CHECK_EQ_STR(path, "trash/snapshots/s2");
	struct cf_resource back;
	CHECK_EQ_INT(cf_store_resource(s, ino_of(s, "snapshots/s1"), &back), 0);
	CHECK_EQ_STR(back.scope, "");
	cf_resource_clear(&back);

	/* Inodes survive a reopen. */
	uint64_t v1 = ino_of(s, "volumes/v1");
	cf_store_close(s);
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_INT(ino_of(s, "volumes/v1"), v1);

	const char *none[] = {NULL};
	const char *s1only[] = {"snapshots/s1", NULL};
	sweep1(s, CF_LIST_SNAPSHOTS, s1only, 1, NULL);
	CHECK_EQ_STR(ls(s, "trash/snapshots"), "");
	CHECK_EQ_STR(ls(s, "snapshots"), "s1");
	sweep1(s, CF_LIST_DISKS, none, 1, NULL);
	CHECK_EQ_STR(ls(s, "volumes"), "");
	CHECK_EQ_STR(ls(s, ""), "images,instances,snapshots,volumes");
	struct cf_wtxn *w;
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_remove(w, "images/a1"), 0);
	CHECK_EQ_INT(cf_store_remove(w, "global/snapshots/s1"), -EINVAL);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_STR(ls(s, "images"), "");
	CHECK_EQ_STR(ls(s, "instances/i1/images"), "");

	cf_resource_clear(&vol);
	cf_resource_clear(&vm);
	cf_resource_clear(&snap);
	cf_resource_clear(&ami);
	cf_resource_clear(&old);
	cf_store_close(s);
	CHECK_EQ_INT(cf_layout_use(&cf_gce_layout), 0);
}

/* What this process has written to files so far (/proc/self/io wchar). */
static unsigned long long bytes_written(void)
{
	unsigned long long n = 0;
	char line[128];
	FILE *f = fopen("/proc/self/io", "re");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "wchar: %llu", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/* A resource of the root tree listed by id unless it holds its preferred name. */
static void mkn(struct cf_resource *r, const char *id, const char *pref, int64_t created)
{
	mk(r, CF_KIND_SNAPSHOT, "", id, "READY", created);
	set_str(&r->id, id);
	set_str(&r->name_pref, pref);
}

static const char *id_at(struct cf_store *s, const char *path)
{
	static char buf[64];
	struct cf_resource r;
	uint64_t ino = ino_of(s, path);
	if (!ino || cf_store_resource(s, ino, &r))
		return "(missing)";
	snprintf(buf, sizeof buf, "%s", r.id ? r.id : "(none)");
	cf_resource_clear(&r);
	return buf;
}

/* Preferred names (model.h's name_pref): the oldest resource preferring a
 * name holds it whatever order the pages come in, the others are listed by
 * id; a rename moves the entry, a holder's removal frees the name for the
 * next in line at its next write; unsafe names and names that are another
 * resource's id are never used; the sweep knows such resources by id. */
static void test_preferred_names(void)
{
	char dir[512];
	struct cf_store *s;
	struct cf_resource a, b, c, x, u;
	CHECK_EQ_INT(cf_layout_use(&toy_root_layout), 0);
	mkn(&a, "snap-a", "web", 1000);
	mkn(&b, "snap-b", "web", 2000);
	mkn(&c, "snap-0", "web", 1000); /* as old as a: the smaller id wins */
	for (int order = 0; order < 2; order++) {
		char name[32];
		snprintf(name, sizeof name, "names%d", order);
		fresh_dir(dir, sizeof dir, name);
		CHECK_EQ_INT(cf_store_open(dir, &s), 0);
		struct cf_wtxn *w;
		CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
		CHECK_EQ_INT(cf_store_upsert(w, order ? &b : &a, NULL), 0);
		CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
		CHECK_EQ_STR(ls(s, "snapshots"), "web");
		/* the other one in the same transaction (a page) */
		CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
		CHECK_EQ_INT(cf_store_upsert(w, order ? &a : &b, NULL), 0);
		CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
		CHECK_EQ_STR(ls(s, "snapshots"), "snap-b,web");
		CHECK_EQ_STR(id_at(s, "snapshots/web"), "snap-a");
		CHECK_EQ_STR(id_at(s, "snapshots/snap-b"), "snap-b");
		/* the moved one keeps its document */
		char *doc = read_file(s, "snapshots/snap-b/resource.json");
		CHECK(doc && strstr(doc, "\"name\":\"snap-b\""));
		free(doc);
		/* upserting again changes nothing, and writes nothing (LMDB's
		 * put of a claim already there would copy its page first: a
		 * sync that found nothing new rewrote all of prefs) */
		bool changed = true;
		unsigned long long w0 = bytes_written();
		CHECK_EQ_INT(put1(s, &a, &changed, NULL), 0);
		CHECK(!changed);
		CHECK_EQ_INT(put1(s, &b, &changed, NULL), 0);
		CHECK(!changed);
		/* (< 64, not 0: under valgrind its own scheduler lock writes a
		 * few bytes to a pipe; a commit writes its meta, 100+ bytes) */
		CHECK(bytes_written() - w0 < 64);
		cf_store_close(s);
	}
	fresh_dir(dir, sizeof dir, "names2");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	CHECK_EQ_INT(put1(s, &b, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &a, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &c, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "snapshots"), "snap-a,snap-b,web");
	CHECK_EQ_STR(id_at(s, "snapshots/web"), "snap-0");

	/* The sweep knows them by id: all seen, none removed; c gone. */
	const char *all[] = {"snapshots/snap-a", "snapshots/snap-b", "snapshots/snap-0", NULL};
	sweep1(s, CF_LIST_SNAPSHOTS, all, 0, NULL);
	const char *two[] = {"snapshots/snap-a", "snapshots/snap-b", NULL};
	sweep1(s, CF_LIST_SNAPSHOTS, two, 1, NULL);
	CHECK_EQ_STR(ls(s, "snapshots"), "snap-a,snap-b");
	/* the next in line takes it when it is next written */
	CHECK_EQ_INT(put1(s, &b, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "snapshots"), "snap-a,snap-b");
	CHECK_EQ_INT(put1(s, &a, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "snapshots"), "snap-b,web");
	CHECK_EQ_STR(id_at(s, "snapshots/web"), "snap-a");

	/* A Name changed elsewhere: the entry moves; b takes "web" at its
	 * next write. */
	set_str(&a.name_pref, "db");
	CHECK_EQ_INT(put1(s, &a, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "snapshots"), "db,snap-b");
	CHECK_EQ_INT(put1(s, &b, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "snapshots"), "db,web");
	CHECK_EQ_STR(id_at(s, "snapshots/web"), "snap-b");
	/* Its Name removed: listed by id. */
	set_str(&a.name_pref, NULL);
	CHECK_EQ_INT(put1(s, &a, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "snapshots"), "snap-a,web");
	/* The holder deleted (rmdir, or the sweep): removed by its path. */
	struct cf_wtxn *w;
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_remove(w, "snapshots/web"), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	CHECK_EQ_STR(ls(s, "snapshots"), "snap-a");

	/* Unsafe names and another resource's id are never used. */
	mkn(&u, "snap-u", "a/b", 500);
	mkn(&x, "snap-x", "snap-a", 100);
	CHECK_EQ_INT(put1(s, &u, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &x, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "snapshots"), "snap-a,snap-u,snap-x");
	CHECK_EQ_STR(id_at(s, "snapshots/snap-a"), "snap-a");
	/* An id that cannot be a name: refused before anything is written. */
	set_str(&u.id, "bad/id");
	CHECK_EQ_INT(put1(s, &u, NULL, NULL), -EINVAL);

	cf_resource_clear(&a);
	cf_resource_clear(&b);
	cf_resource_clear(&c);
	cf_resource_clear(&u);
	cf_resource_clear(&x);
	cf_store_close(s);
	CHECK_EQ_INT(cf_layout_use(&cf_gce_layout), 0);
}

static const char *ls_ino(struct cf_store *s, uint64_t ino, const char *after)
{
	static struct names c;
	memset(&c, 0, sizeof c);
	bool resumable = false;
	int rc = cf_store_readdir_after(s, ino, after, after ? strlen(after) : 0, &resumable,
					collect, &c);
	if (rc || !resumable)
		snprintf(c.buf, sizeof c.buf, "(error %d)", rc);
	return c.buf;
}

static const char *byid_link(struct cf_store *s, const char *id)
{
	static char buf[1024];
	struct cf_stat st;
	int rc = cf_store_lookup(s, CF_INO_BYID, id, &st);
	if (rc)
		return "(missing)";
	int n = cf_store_readlink(s, st.ino, buf, sizeof buf);
	if (n < 0 || (st.mode & S_IFMT) != S_IFLNK || st.size != (uint64_t) n)
		snprintf(buf, sizeof buf, "(error %d, size %llu)", n, (unsigned long long) st.size);
	return buf;
}

/* The ids of csv in .clonefs/by-id/'s order (their listing cookies), those past
 * `after`'s cookie only when given. */
static const char *by_cookie(const char *csv, const char *after)
{
	static char out[256];
	char ids[8][32];
	size_t n = 0;
	const char *p = csv;
	while (*p && n < 8) {
		size_t len = strcspn(p, ",");
		snprintf(ids[n++], sizeof ids[0], "%.*s", (int) len, p);
		p += len + (p[len] == ',');
	}
	for (size_t i = 1; i < n; i++) /* insertion sort by cookie */
		for (size_t j = i; j > 0 && cf_dir_name_cookie(ids[j], strlen(ids[j])) <
						cf_dir_name_cookie(ids[j - 1], strlen(ids[j - 1]));
		     j--) {
			char t[32];
			memcpy(t, ids[j], sizeof t);
			memcpy(ids[j], ids[j - 1], sizeof t);
			memcpy(ids[j - 1], t, sizeof t);
		}
	uint64_t from = after ? cf_dir_name_cookie(after, strlen(after)) : 0;
	out[0] = '\0';
	for (size_t i = 0; i < n; i++)
		if (cf_dir_name_cookie(ids[i], strlen(ids[i])) > from)
			snprintf(out + strlen(out), sizeof out - strlen(out), "%s%s",
				 *out ? "," : "", ids[i]);
	return out;
}

/* A by-id listing resumed with cf_store_readdir_cookie past the cookie of `after`
 * (an id that need not exist any more: nothing is kept between calls). */
static int collect_c(void *ctx, const char *name, size_t len, const struct cf_stat *st,
		     uint64_t cookie)
{
	(void) cookie;
	return collect(ctx, name, len, st);
}

static const char *ls_byid_past(struct cf_store *s, const char *after)
{
	static struct names c;
	memset(&c, 0, sizeof c);
	int rc = cf_store_readdir_cookie(s, CF_INO_BYID, cf_dir_name_cookie(after, strlen(after)),
					 collect_c, &c);
	if (rc)
		snprintf(c.buf, sizeof c.buf, "(error %d)", rc);
	return c.buf;
}

/* .clonefs/by-id/: every resource with an id, in the order of the ids' listing
 * cookies, a symlink to
 * where it is now (relative to .clonefs/by-id/), into and out of the trash,
 * gone with it; one id of two kinds listed once; the id follows a
 * re-creation under the same name. */
static void test_by_id(void)
{
	char dir[512], path[CF_PATH_MAX];
	struct cf_store *s;
	struct cf_resource d, s1, s2, img;
	fresh_dir(dir, sizeof dir, "byid");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	mk(&d, CF_KIND_DISK, "zones/z", "d", "READY", 100);
	set_str(&d.id, "300");
	mk(&s1, CF_KIND_SNAPSHOT, "global", "s1", "READY", 200);
	set_str(&s1.id, "100");
	mk(&s2, CF_KIND_SNAPSHOT, "global", "s2", "READY", 200);
	set_str(&s2.id, "200");
	mk(&img, CF_KIND_IMAGE, "global", "i", "READY", 200);
	set_str(&img.id, "200"); /* the same id as s2, another kind */
	CHECK_EQ_INT(put1(s, &d, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &s1, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &s2, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &img, NULL, NULL), 0);
	CHECK_EQ_STR(ls_ino(s, CF_INO_BYID, NULL), by_cookie("100,200,300", NULL));
	CHECK_EQ_STR(ls_ino(s, CF_INO_BYID, "100"), by_cookie("100,200,300", "100"));
	CHECK_EQ_STR(ls_ino(s, CF_INO_BYID, "2"), by_cookie("100,200,300", "2"));
	CHECK_EQ_STR(ls_ino(s, CF_INO_BYID, "200"), by_cookie("100,200,300", "200"));
	CHECK_EQ_STR(by_cookie("100,200,300", NULL),
		     "200,300,100"); /* the hash is fixed: a change shows */
	CHECK_EQ_STR(byid_link(s, "100"), "../../global/snapshots/s1");
	CHECK_EQ_STR(byid_link(s, "300"), "../../zones/z/disks/d");
	CHECK_EQ_STR(byid_link(s, "999"), "(missing)");
	CHECK_EQ_STR(byid_link(s, "10"), "(missing)");
	struct cf_stat st;
	CHECK_EQ_INT(cf_store_lookup(s, CF_INO_BYID, "100", &st), 0);
	CHECK_EQ_INT(st.ino, CF_INO(CF_INO_BASE(ino_of(s, "global/snapshots/s1")), CF_SUB_BYID));
	unsigned sub = 0;
	CHECK(cf_store_path_of(s, st.ino, path, sizeof path, &sub) > 0);
	CHECK_EQ_STR(path, "global/snapshots/s1");
	CHECK_EQ_INT(sub, CF_SUB_BYID);
	/* into the trash and back */
	add_label(&s1, CF_TRASH_LABEL, "1");
	struct heard h = {0};
	struct cf_change_sink sink = {on_entry, on_inode, &h, NULL};
	CHECK_EQ_INT(put1(s, &s1, NULL, &sink), 0);
	CHECK_EQ_STR(byid_link(s, "100"), "../trash/global/snapshots/s1");
	CHECK(heard_inode(&h, st.ino)); /* its cached target is dropped */
	/* re-created under the same name: the new id */
	set_str(&s2.id, "250");
	CHECK_EQ_INT(put1(s, &s2, NULL, NULL), 0);
	CHECK_EQ_STR(ls_ino(s, CF_INO_BYID, NULL), by_cookie("100,200,250,300", NULL));
	CHECK_EQ_STR(byid_link(s, "200"), "../../global/images/i");
	CHECK_EQ_STR(byid_link(s, "250"), "../../global/snapshots/s2");
	struct cf_wtxn *w;
	memset(&h, 0, sizeof h);
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_remove(w, "global/snapshots/s1"), 0);
	CHECK_EQ_INT(cf_store_remove(w, "global/images/i"), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, &sink), 0);
	CHECK(heard_entry(&h, CF_INO_BYID, "100"));
	CHECK_EQ_STR(ls_ino(s, CF_INO_BYID, NULL), by_cookie("250,300", NULL));
	/* resumed past a removed id's cookie: the rest, nothing twice */
	CHECK_EQ_STR(ls_byid_past(s, "100"), by_cookie("250,300", "100"));
	CHECK_EQ_STR(ls_byid_past(s, "200"), by_cookie("250,300", "200"));
	CHECK_EQ_STR(byid_link(s, "100"), "(missing)");
	cf_resource_clear(&d);
	cf_resource_clear(&s1);
	cf_resource_clear(&s2);
	cf_resource_clear(&img);
	cf_store_close(s);
}

/* Where names come from the API's data, a provider names a source or a link
 * by its id path (volumes/ID): stored as where that resource is listed now,
 * so the source link, the volume's snapshots/ and the instance's volumes/
 * follow its name, and a rename reaches them when they are next written. */
static void test_named_sources(void)
{
	char dir[512];
	struct cf_store *s;
	struct cf_resource vol, snap, vm;
	CHECK_EQ_INT(cf_layout_use(&toy_root_layout), 0);
	fresh_dir(dir, sizeof dir, "namedsrc");
	CHECK_EQ_INT(cf_store_open(dir, &s), 0);
	mk(&vol, CF_KIND_DISK, "", "vol-1", "READY", 100);
	set_str(&vol.id, "vol-1");
	set_str(&vol.name_pref, "data");
	mk(&vm, CF_KIND_INSTANCE, "", "i-1", "RUNNING", 100);
	set_str(&vm.id, "i-1");
	set_str(&vm.name_pref, "web");
	add_link(&vm, "volumes/vol-1");
	mk(&snap, CF_KIND_SNAPSHOT, "", "snap-1", "READY", 200);
	set_str(&snap.id, "snap-1");
	set_str(&snap.source, "volumes/vol-1");
	CHECK_EQ_INT(put1(s, &vol, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &vm, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &snap, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "volumes"), "data");
	CHECK_EQ_STR(ls(s, "volumes/data/snapshots"), "snap-1");
	CHECK_EQ_STR(link_of(s, "snapshots/snap-1/source"), "../../volumes/data");
	CHECK_EQ_STR(ls(s, "instances/web/volumes"), "data");
	CHECK_EQ_STR(link_of(s, "instances/web/volumes/data"), "../../../volumes/data");
	bool changed = true;
	CHECK_EQ_INT(put1(s, &snap, &changed, NULL), 0);
	CHECK(!changed); /* the same page again: nothing to write */
	/* renamed: the volume first (its listing comes first), then the rest */
	set_str(&vol.name_pref, "db");
	CHECK_EQ_INT(put1(s, &vol, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &vm, NULL, NULL), 0);
	CHECK_EQ_INT(put1(s, &snap, NULL, NULL), 0);
	CHECK_EQ_STR(ls(s, "volumes"), "db");
	CHECK_EQ_STR(ls(s, "volumes/db/snapshots"), "snap-1");
	CHECK_EQ_STR(link_of(s, "snapshots/snap-1/source"), "../../volumes/db");
	CHECK_EQ_STR(link_of(s, "instances/web/volumes/db"), "../../../volumes/db");
	/* a source the store does not hold stays as given */
	set_str(&snap.source, "volumes/vol-gone");
	CHECK_EQ_INT(put1(s, &snap, NULL, NULL), 0);
	CHECK_EQ_STR(link_of(s, "snapshots/snap-1/source"), "../../volumes/vol-gone");
	CHECK_EQ_STR(ls(s, "volumes/db/snapshots"), "");
	cf_resource_clear(&vol);
	cf_resource_clear(&vm);
	cf_resource_clear(&snap);
	cf_store_close(s);
	CHECK_EQ_INT(cf_layout_use(&cf_gce_layout), 0);
}

int main(void)
{
	cf_layout_use(&cf_gce_layout);
	cf_log_init("test_store", 0, 1, CF_LOG_WARN);
	snprintf(tmpdir, sizeof tmpdir, "/tmp/clonefs-test-store-%d", (int) getpid());
	mkdir(tmpdir, 0700);
	test_layout_and_round_trip();
	test_other_layout();
	test_root_layout();
	test_preferred_names();
	test_by_id();
	test_named_sources();
	test_readdir_after();
	test_readdir_cookie();
	test_readdir_cookie_churn();
	test_sweep_and_changes();
	test_trash();
	test_write_path_vs_listing();
	test_aborted_write_not_remembered();
	test_path_of_and_dependents();
	test_container_births();
	test_rebuild();
	test_documents();
	test_documents_compacted();
	test_ids_round_trip();
	test_concurrent_document_writers();
	test_concurrent_writers();
	test_bad_records();
	test_concurrent_readers();
	test_scale();
	rm_rf(tmpdir);
	return check_summary();
}
