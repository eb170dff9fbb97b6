/* main.c — the clonefs daemon: parse options, open the cache, mount, keep the cache in sync
 * with the cloud, serve FUSE requests until unmounted or signalled, then tear down in order.
 *
 * The mount serves the cache at once: the first sync runs in the background, and with the API
 * unreachable the mount still lists the last inventory.
 *
 * LMDB must not be used across fork(), and fuse_daemonize() forks. In the background case the
 * cache is therefore opened once before the fork only to report problems on the terminal,
 * closed, and opened for real in the daemon. */
#include "fs.h"

#include "engine.h"
#include "feed.h"
#include "journal.h"
#include "policy.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "options.h"
#include "layout.h"
#include "provider.h"
#include "registry.h"
#include "store.h"
#include "sync.h"

#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- start-up ---- */

/* mkdir -p for the cache base, 0700 for every directory it creates. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	size_t n = strlen(path);
	if (n == 0 || n >= sizeof buf)
		return -ENAMETOOLONG;
	memcpy(buf, path, n + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0700) != 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int open_store(struct cf_fs *fs, const struct cf_options *o)
{
	/* The store must know the tree before any provider is built. */
	int rc = cf_layout() ? 0 : cf_layout_use(o->src->kind->layout);
	if (rc < 0)
		return rc;
	rc = cf_store_open(o->cache_dir, &fs->store);
	if (rc < 0) {
		cf_err("cannot open the cache in %s: %s", o->cache_dir, strerror(-rc));
		fs->store = NULL;
		return rc;
	}
	/* The policy's protect label drives the write bits (fill_stat), not a fixed name. */
	rc = cf_store_set_protect_label(fs->store, fs->policy->prune.protect_label);
	if (rc < 0) {
		cf_err("cannot set the protect label in the cache in %s: %s", o->cache_dir,
		       strerror(-rc));
		cf_store_close(fs->store);
		fs->store = NULL;
	}
	return rc;
}

/* HTTP and the provider's credentials, before anything else: credentials that cannot be used
 * stop the mount, and the scope may come from them. */
static int start_auth(struct cf_fs *fs, const struct cf_options *o)
{
	struct cf_http_config hc = {
	    .connect_timeout_ms = 10000,
	    .timeout_ms = 30000,
	    .max_attempts = 6,
	    .base_delay_ms = 250,
	    .max_delay_ms = 20000,
	    .max_total_ms = 60000,
	    /* The http layer permits plain http only to loopback (the emulator). */
	    .allow_insecure_loopback = true,
	};
	int rc = cf_http_new(&hc, &fs->http);
	if (rc < 0) {
		cf_err("cannot set up HTTP: %s", strerror(-rc));
		return rc;
	}
	return o->src->kind->start(o->src, fs->http);
}

/* No scope named on the command line or in the environment: the provider finds it (GCE: the
 * key's project_id, else the metadata server's project). */
static int find_project(struct cf_options *o)
{
	char scope[128], why[300] = "";
	const char *from = NULL;
	if (o->project)
		return 0;
	if (o->src->kind->find_scope(o->src, scope, sizeof scope, &from, why, sizeof why) == 0)
		return cf_options_set_project(o, scope, from, NULL);
	return cf_options_set_project(o, NULL, NULL, why[0] ? why : NULL);
}

/* For the exits before anything else was started (the source's credentials go with the
 * options). */
static void stop_auth(struct cf_fs *fs)
{
	cf_http_free(fs->http);
	fs->http = NULL;
}

static int start_provider(struct cf_fs *fs, const struct cf_options *o)
{
	int rc = o->src->kind->provider(o->src, &fs->provider);
	if (rc < 0)
		return rc;
	/* The store was opened with a tree: the provider must show that one. */
	if (fs->provider->ops->layout != cf_layout()) {
		cf_err("the provider %s shows another tree than the cache was opened with",
		       fs->provider->ops->name);
		return -EINVAL;
	}
	/* metrics.c counts every call (listing times, failures by reason) */
	rc = cf_metrics_wrap_provider(&fs->provider);
	if (rc < 0)
		cf_err("cannot set up the API counters: %s", strerror(-rc));
	return rc;
}

/* The sync's progress: the first complete listing proves the API answers this daemon. */
static void on_progress(void *ctx, enum cf_listing l, uint64_t done, bool complete)
{
	struct cf_fs *fs = ctx;
	if (complete)
		atomic_store(&fs->listed, true);
	cf_metrics_sync_progress(l, done, complete); /* metrics, status, the first sync's display */
}

static int start_sync(struct cf_fs *fs, const struct cf_options *o,
		      const struct cf_change_sink *sink)
{
	/* with a change feed, the full listing is the safety net */
	unsigned every = fs->feed_src ? o->feed_full_interval : o->sync_interval;
	struct cf_sync_config sc = {
	    .store = fs->store,
	    .provider = fs->provider,
	    .sink = *sink,
	    .interval = every,
	    .reconcile = o->reconcile,
	    /* the phase within the interval it lists at (with a feed, drawn from
	     * sync_interval it put a listing right after the first sync) */
	    .offset_ms = cf_sync_offset_ms(every),
	    .progress = on_progress,
	    .progress_ctx = fs,
	};
	int rc = cf_sync_start(&sc, &fs->sync);
	if (rc < 0) {
		cf_err("cannot start the sync thread: %s", strerror(-rc));
		fs->sync = NULL;
	}
	return rc;
}

/* The change feed's thread, when the provider has one configured. */
static int start_feed(struct cf_fs *fs, const struct cf_options *o,
		      const struct cf_change_sink *sink)
{
	struct cf_feed_config fc = {
	    .store = fs->store,
	    .source = fs->feed_src,
	    .sync = fs->sync,
	    .sink = *sink,
	    .full_interval = o->feed_full_interval,
	    .poll_interval = o->sync_interval,
	    .behind_s = o->feed_lag_max,
	};
	int rc = cf_feed_start(&fc, &fs->feed);
	if (rc < 0) {
		cf_err("cannot start the change feed: %s", strerror(-rc));
		fs->feed = NULL;
	}
	return rc;
}

/* The policy, before anything is mounted: a bad file is a usage error that
 * names the key. Its labels are judged by the mount's provider kind, whose
 * provider does not exist yet. */
static int load_policy(struct cf_fs *fs, const struct cf_options *o)
{
	char err[512];
	int rc = o->policy ? cf_policy_load(o->policy, o->src->kind->text_valid, &fs->policy, err,
					    sizeof err)
			   : cf_policy_defaults(&fs->policy);
	if (rc) {
		fprintf(stderr, "clonefs: policy %s\n",
			o->policy ? err : "defaults: out of memory");
		fs->policy = NULL;
	}
	return rc;
}

/* The write path: the journal (resuming what a crash left) and the engine. */
static int start_engine(struct cf_fs *fs, const struct cf_options *o,
			const struct cf_change_sink *sink)
{
	int rc = cf_journal_open(o->cache_dir, &fs->journal);
	if (rc < 0) {
		cf_err("cannot open the operation journal in %s: %s", o->cache_dir, strerror(-rc));
		fs->journal = NULL;
		return rc;
	}
	char mount_id[CF_MOUNT_ID_LEN + 1];
	rc = cf_engine_load_mount_id(o->cache_dir, mount_id);
	if (rc < 0) {
		cf_err("cannot read or create this mount's identity in %s: %s", o->cache_dir,
		       strerror(-rc));
		return rc;
	}
	struct cf_engine_config ec = {
	    .store = fs->store,
	    .provider = fs->provider,
	    .policy = fs->policy,
	    .journal = fs->journal,
	    .sink = *sink,
	    .wait_ready = o->mkdir_wait && !strcmp(o->mkdir_wait, "ready"),
	    .mountpoint = o->cmd.mountpoint,
	    .mount_id = mount_id,
	};
	rc = cf_engine_new(&ec, &fs->engine);
	if (rc < 0) {
		cf_err("cannot start the write engine: %s", strerror(-rc));
		fs->engine = NULL;
	}
	return rc;
}

static int serve(struct cf_fs *fs, const struct cf_options *o)
{
	struct fuse_loop_config *cfg;
	int rc;
	if (o->cmd.singlethread)
		return fuse_session_loop(fs->se);
	cfg = fuse_loop_cfg_create();
	if (!cfg) {
		cf_err("cannot configure the FUSE loop: out of memory");
		return -1;
	}
	fuse_loop_cfg_set_clone_fd(cfg, 1); /* one /dev/fuse descriptor per worker thread */
	fuse_loop_cfg_set_max_threads(cfg, o->cmd.max_threads);
	if (o->cmd.max_idle_threads != UINT_MAX)
		fuse_loop_cfg_set_idle_threads(cfg, o->cmd.max_idle_threads);
	rc = fuse_session_loop_mt(fs->se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return rc;
}

/* A mountpoint left by a daemon that died (kill -9, a crash) answers with ENOTCONN, and
 * libfuse's own message for it ("bad mount point") does not say what to do; when the kernel
 * still has the root's attributes cached, stat succeeds and a new mount would be stacked on the
 * dead one. statfs always asks the daemon. Checked before the options are parsed (parsing
 * resolves the mountpoint and fails there): every positional argument that answers ENOTCONN is
 * named, with the command that clears it. */
static bool stale_mount(int argc, char **argv)
{
	bool stale = false;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		struct statvfs sv;
		if (!strcmp(argv[i], "-o")) {
			i++; /* its value */
			continue;
		}
		if (argv[i][0] == '-' ||
		    (stat(argv[i], &st) == 0 &&
		     (!S_ISDIR(st.st_mode) || statvfs(argv[i], &sv) == 0)) ||
		    errno != ENOTCONN)
			continue;
		fprintf(
		    stderr,
		    "clonefs: %s: Transport endpoint is not connected: a FUSE daemon mounted "
		    "there has died without unmounting it. Run:\n  fusermount3 -u %s\nand mount "
		    "again.\n",
		    argv[i], argv[i]);
		stale = true;
	}
	return stale;
}

int main(int argc, char **argv)
{
	struct cf_options o;
	struct cf_fs fs = {0};
	bool mounted = false, signals = false;
	int rc, status = 1;

	/* Never dumpable, whatever the credentials: a token from a token file or the metadata
	 * server is as good as a key for its hour, and the health command runs as us. No core
	 * file, and no ptrace or /proc/PID/mem by another process of the same user. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		fprintf(stderr, "clonefs: cannot make the process non-dumpable: %s\n",
			strerror(errno));
	if (stale_mount(argc, argv))
		return 1;
	/* A listing of 100,000 entries is a 10 MB array for as long as the directory is open.
	 * glibc's default threshold for serving such blocks from mmap rises with every large free,
	 * after which they come from a thread's heap and stay resident when freed: each FUSE
	 * worker's arena can keep its last big listing (up to 84 MB anonymous after a benchmark
	 * run at 100,000 snapshots). A fixed threshold sends every block of 1 MiB and more back to
	 * the kernel on free, and a few arenas are plenty for threads that mostly wait on the
	 * kernel or the network. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	mallopt(M_ARENA_MAX, 4);
	rc = cf_options_parse(argc, argv, &o);
	if (rc != 0) {
		cf_options_free(&o);
		return rc > 0 ? 0 : 2;
	}
	/* In the background stderr becomes /dev/null, so syslog takes over from there. */
	cf_log_init("clonefs", !o.cmd.foreground, 1, o.cmd.debug ? CF_LOG_DEBUG : CF_LOG_INFO);

	fs.opt = &o;
	fs.mounter = getuid();
	fs.uid = o.uid_set ? o.uid : getuid();
	fs.gid = o.gid_set ? o.gid : getgid();
	fs.umask = (mode_t) o.umask;
	fs.read_only = o.ro;
	fs.timeout = o.timeout;
	fs.neg_timeout = o.timeout < o.sync_interval ? o.timeout : o.sync_interval;
	fs.mounted_at = time(NULL);
	atomic_init(&fs.stopping, false);
	atomic_init(&fs.listed, false);

	/* Credentials, then the project they may name. */
	bool started = false;
	if (start_auth(&fs, &o) < 0 || (started = true, find_project(&o) < 0)) {
		status = started ? 2 : 1;
		stop_auth(&fs);
		cf_options_free(&o);
		return status;
	}

	/* libfuse's own options first: an unknown one is a usage error. */
	fs.se = fuse_session_new(&o.args, &cf_read_ops, sizeof cf_read_ops, &fs);
	if (!fs.se) {
		fprintf(stderr, "clonefs: bad FUSE options (see the line above and clonefs "
				"--help)\n");
		stop_auth(&fs);
		cf_options_free(&o);
		return 2;
	}

	if (load_policy(&fs, &o) < 0) {
		fuse_session_destroy(fs.se);
		stop_auth(&fs);
		cf_options_free(&o);
		return 2;
	}

	rc = make_dirs(o.cache);
	if (rc < 0) {
		cf_err("cannot create the cache directory %s: %s", o.cache, strerror(-rc));
		goto out;
	}
	if (open_store(&fs, &o) < 0)
		goto out;
	if (!o.cmd.foreground) {
		cf_store_close(fs.store); /* reopened after the fork */
		fs.store = NULL;
	}
	if (start_provider(&fs, &o) < 0)
		goto out;
	if (o.src->kind->feed && o.src->kind->feed(o.src, &fs.feed_src) < 0)
		goto out;

	if (fuse_set_signal_handlers(fs.se) != 0) {
		cf_err("cannot install signal handlers");
		goto out;
	}
	signals = true;
	if (fuse_session_mount(fs.se, o.cmd.mountpoint) != 0) {
		cf_err("cannot mount on %s", o.cmd.mountpoint);
		goto out;
	}
	mounted = true;
	if (fuse_daemonize(o.cmd.foreground) != 0) {
		cf_err("cannot go to the background");
		goto out;
	}
	if (!fs.store && open_store(&fs, &o) < 0)
		goto out;
	cf_metrics_init(fs.store, o.cmd.foreground); /* estimates for the first sync's display */
	cf_info("mounted %s %s from %s on %s (cache %s, sync every %us)", o.src->kind->scope_noun,
		o.project, o.endpoint, o.cmd.mountpoint, o.cache_dir, o.sync_interval);

	struct cf_change_sink sink;
	if ((rc = cf_notify_start(&fs, &sink)) < 0) {
		cf_err("cannot start the notification thread: %s", strerror(-rc));
		goto out;
	}
	if (start_sync(&fs, &o, &sink) < 0)
		goto out;
	if (fs.feed_src && start_feed(&fs, &o, &sink) < 0)
		goto out;
	if (!fs.read_only && start_engine(&fs, &o, &sink) < 0)
		goto out;
	/* A read-only mount runs no job, but lists those a writer left (.clonefs/jobs). */
	if (fs.read_only && cf_journal_open(o.cache_dir, &fs.journal) < 0)
		fs.journal = NULL;
	/* 0: unmounted; > 0: the signal that ended the loop (libfuse's handlers); < 0: an error. */
	rc = serve(&fs, &o);
	status = rc < 0 ? 1 : 0;
	if (rc < 0)
		cf_err("the FUSE session ended with an error: %s", strerror(-rc));
	else if (rc > 0)
		cf_info("signal %d: unmounting %s", rc, o.cmd.mountpoint);
	else
		cf_info("unmounted %s", o.cmd.mountpoint);

out:
	atomic_store(&fs.stopping, true);
	if (fs.engine)
		cf_engine_free(fs.engine);
	if (fs.feed)
		cf_feed_stop(fs.feed);
	if (fs.sync)
		cf_sync_stop(fs.sync);
	cf_notify_stop();
	if (fs.journal)
		cf_journal_close(fs.journal);
	if (mounted)
		fuse_session_unmount(fs.se);
	if (signals)
		fuse_remove_signal_handlers(fs.se);
	fuse_session_destroy(fs.se);
	if (fs.feed_src && fs.feed_src->ops->destroy)
		fs.feed_src->ops->destroy(fs.feed_src);
	if (fs.provider && fs.provider->ops && fs.provider->ops->destroy)
		fs.provider->ops->destroy(fs.provider);
	if (fs.http)
		cf_http_free(fs.http);
	if (fs.store)
		cf_store_close(fs.store);
	cf_policy_free(fs.policy);
	cf_options_free(&o);
	return status;
}
