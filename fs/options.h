/* options.h — the daemon's command line: clonefs [SCHEME:SCOPE] MOUNTPOINT [-f] [-d] [-o OPT,...],
 * SCHEME:SCOPE naming the provider and its scope (gce:PROJECT; registry.h).
 *
 * Our own -o options are parsed with a fuse_opt table, the provider's (endpoint=, ...) are
 * handed to it as key/values; everything else (-f, -d, -s, allow_other, fsname=, ...) is left
 * for libfuse. After cf_options_parse succeeds, `args` holds what
 * fuse_session_new should see, with fsname=SCHEME:SCOPE and subtype=clonefs added (a user's own
 * fsname= still wins), and default_permissions only when asked for: without it the daemon
 * decides every write and answers access(2) itself (SEMANTICS.md, "Who may do what").
 *
 * `ro` is accepted and consumed: every mount of this version is read-only, enforced by the
 * daemon rather than by the kernel's MS_RDONLY, so that each refused write reaches us and
 * leaves its line in .clonefs/log. */
#ifndef CLONEFS_FS_OPTIONS_H
#define CLONEFS_FS_OPTIONS_H

#include "fs.h"

struct cf_kv;
struct cf_source;

struct cf_options {
	/* The provider, from SCHEME:SCOPE or the registry's default, set up from its options. */
	struct cf_source *src;
	/* Set by cf_options_set_project: the scope (GCE: the project) and the API endpoint, the
	 * source's strings, for status and the log. */
	const char *project;
	const char *endpoint;

	/* Set by fuse_opt (heap strings; the defaults are set before parsing). */
	char *cache;	       /* base cache directory */
	char *sync_interval_s; /* checked and converted below */
	char *reconcile_s;     /* -o reconcile_interval=SECS */
	char *timeout_s;
	char *policy;	  /* policy file, NULL = built-in defaults */
	char *mkdir_wait; /* "accepted" (NULL) or "ready" */
	int ro;		  /* consumed, not passed to the kernel (see above) */
	int rw;
	char *uid_s;		 /* -o uid=N: the owner stat shows */
	char *gid_s;		 /* -o gid=N */
	char *umask_s;		 /* -o umask=OCTAL */
	int default_permissions; /* consumed here, given to the kernel again (see below) */

	const struct cf_provider_kind *kind; /* from SCHEME:SCOPE, NULL: the default */
	char *scope_arg;		     /* SCOPE of SCHEME:SCOPE */
	struct cf_kv *popts;		     /* the provider's -o key=value options */
	size_t npopts;

	/* Derived, validated values. */
	unsigned sync_interval; /* seconds, >= 1 */
	unsigned reconcile;	/* seconds between full listings, 0 = every pass */
	unsigned timeout;	/* kernel entry / attribute timeout, seconds */
	bool uid_set, gid_set;
	uid_t uid;
	gid_t gid;
	unsigned umask;	 /* 022 unless -o umask= */
	char *cache_dir; /* cache/<the source's cache name>: where the LMDB environment lives */

	/* A change feed's safety net: -o feed_full_interval= (NULL: the default), in seconds. */
	char *feed_full_interval_s;
	unsigned feed_full_interval;
	/* -o feed_lag_max=: a feed lagging more than this many seconds is behind. */
	char *feed_lag_max_s;
	unsigned feed_lag_max;

	/* libfuse's own command line (-f, -d, -s, mountpoint, clone_fd, ...). */
	struct fuse_cmdline_opts cmd;
	struct fuse_args args; /* for fuse_session_new */
};

/* Parse argv. Returns 0 to go on, 1 when --help or --version was answered (exit 0), and -1 on
 * a usage error, already reported on stderr in one line naming the option (exit 2).
 *
 * The scope (GCE: the project) comes from SCHEME:SCOPE or the provider's options and
 * environment. With none of them, o->project is NULL after a successful parse: the caller has the
 * provider find it (GCE: in the credentials or at the metadata server) and calls
 * cf_options_set_project, which also derives cache_dir and the fixed libfuse options. */
int cf_options_parse(int argc, char **argv, struct cf_options *o);
/* Take a scope found later (from: for messages), or report on stderr that there is none (why:
 * what was tried, may be NULL). 0, or -1 after a one-line usage error (exit 2). */
int cf_options_set_project(struct cf_options *o, const char *project, const char *from,
			   const char *why);
void cf_options_free(struct cf_options *o);

#endif
