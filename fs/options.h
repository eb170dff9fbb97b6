/* options.h — the daemon's command line: clonefs [gce:PROJECT] MOUNTPOINT [-f] [-d] [-o OPT,...].
 *
 * Our own -o options are parsed with a fuse_opt table; everything else (-f, -d, -s, allow_other,
 * fsname=, ...) is left for libfuse. After cf_options_parse succeeds, `args` holds what
 * fuse_session_new should see, with fsname=gce:PROJECT and subtype=clonefs added (a user's own
 * fsname= still wins), and default_permissions only when asked for: without it the daemon
 * decides every write and answers access(2) itself (SEMANTICS.md, "Who may do what").
 *
 * `ro` is accepted and consumed: every mount of this version is read-only, enforced by the
 * daemon rather than by the kernel's MS_RDONLY, so that each refused write reaches us and
 * leaves its line in .clonefs/log. */
#ifndef CLONEFS_FS_OPTIONS_H
#define CLONEFS_FS_OPTIONS_H

#include "fs.h"

struct cf_options {
	/* Set by fuse_opt (heap strings; the defaults are set before parsing). */
	char *endpoint;
	char *project;
	char *token_file;
	char *credentials;     /* a key file: service_account or authorized_user */
	char *cache;	       /* base cache directory */
	char *sync_interval_s; /* checked and converted below */
	char *timeout_s;
	char *policy;	  /* policy file, NULL = built-in defaults */
	char *mkdir_wait; /* "accepted" (NULL) or "ready" */
	int ro;		  /* consumed, not passed to the kernel (see above) */
	int rw;
	char *uid_s;		 /* -o uid=N: the owner stat shows */
	char *gid_s;		 /* -o gid=N */
	char *umask_s;		 /* -o umask=OCTAL */
	int default_permissions; /* consumed here, given to the kernel again (see below) */

	char *project_arg;	   /* from a gce:PROJECT argument */
	const char *project_from;  /* where the project came from, for messages */
	const char *endpoint_from; /* "-o endpoint" or CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE */

	/* Derived, validated values. */
	unsigned sync_interval; /* seconds, >= 1 */
	unsigned timeout;	/* kernel entry / attribute timeout, seconds */
	bool uid_set, gid_set;
	uid_t uid;
	gid_t gid;
	unsigned umask;	 /* 022 unless -o umask= */
	char *cache_dir; /* cache/<project>@<host>: where the LMDB environment lives */

	/* libfuse's own command line (-f, -d, -s, mountpoint, clone_fd, ...). */
	struct fuse_cmdline_opts cmd;
	struct fuse_args args; /* for fuse_session_new */
};

/* Parse argv. Returns 0 to go on, 1 when --help or --version was answered (exit 0), and -1 on
 * a usage error, already reported on stderr in one line naming the option (exit 2).
 *
 * The project comes from gce:PROJECT, -o project=, GOOGLE_CLOUD_PROJECT or CLOUDSDK_CORE_PROJECT.
 * With none of them, o->project is NULL after a successful parse: the caller finds it in the
 * credentials or at the metadata server and calls cf_options_set_project, which also derives
 * cache_dir and the fixed libfuse options. */
int cf_options_parse(int argc, char **argv, struct cf_options *o);
/* Take a project found later (from: for messages), or report on stderr that there is none (why:
 * what was tried, may be NULL). 0, or -1 after a one-line usage error (exit 2). */
int cf_options_set_project(struct cf_options *o, const char *project, const char *from,
			   const char *why);
void cf_options_free(struct cf_options *o);

#endif
