/* options.c — clonefs's command line: our -o options through a fuse_opt table, the provider's
 * handed to it as key/values (registry.h), the rest left for libfuse; every usage error is one
 * line on stderr naming the option.
 *
 * The cache directory of a mount is DIR/NAME, NAME the provider's for its scope and endpoint
 * (GCE: <project>@<host[_port]>). */
#include "options.h"

#include "model.h"
#include "registry.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_SYNC_INTERVAL "60"
#define DEFAULT_RECONCILE     "3600"
#define DEFAULT_TIMEOUT	      "3600"
#define DEFAULT_FEED_FULL     "3600" /* with a change feed: the safety net's interval */
#define DEFAULT_FEED_LAG_MAX  "300"  /* with a change feed: a lag above this is "behind" */
#define DEFAULT_POLICY	      "/etc/clonefs/policy.json"

#define CF_OPT(t, field)                                                                           \
	{                                                                                          \
		t, offsetof(struct cf_options, field), 1                                           \
	}

static const struct fuse_opt cf_opt_table[] = {
    CF_OPT("cache=%s", cache),
    CF_OPT("sync_interval=%s", sync_interval_s),
    CF_OPT("feed_full_interval=%s", feed_full_interval_s),
    CF_OPT("feed_lag_max=%s", feed_lag_max_s),
    CF_OPT("reconcile_interval=%s", reconcile_s),
    CF_OPT("timeout=%s", timeout_s),
    CF_OPT("policy=%s", policy),
    CF_OPT("mkdir_wait=%s", mkdir_wait),
    CF_OPT("ro", ro),
    CF_OPT("rw", rw),
    CF_OPT("uid=%s", uid_s),
    CF_OPT("gid=%s", gid_s),
    CF_OPT("umask=%s", umask_s),
    CF_OPT("default_permissions", default_permissions),
    FUSE_OPT_END,
};

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("clonefs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs(" (see clonefs --help)\n", stderr);
}

/* The kind the mount uses: its SCHEME:SCOPE's, else the registry's default. */
static const struct cf_provider_kind *kind_of(const struct cf_options *o)
{
	return o->kind ? o->kind : cf_registry_default();
}

/* -o key=value for a provider: kept (the last one given wins, as with our own options). */
static int add_provider_opt(struct cf_options *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	char *key = strndup(arg, (size_t) (eq - arg)), *value = strdup(eq + 1);
	if (!key || !value) {
		free(key);
		free(value);
		return -1;
	}
	for (size_t i = 0; i < o->npopts; i++) {
		if (!strcmp(o->popts[i].key, key)) {
			free(key);
			free((char *) o->popts[i].value);
			o->popts[i].value = value;
			return 0;
		}
	}
	struct cf_kv *kv = realloc(o->popts, (o->npopts + 1) * sizeof *kv);
	if (!kv) {
		free(key);
		free(value);
		return -1;
	}
	o->popts = kv;
	o->popts[o->npopts++] = (struct cf_kv){key, value};
	return 0;
}

/* Positional arguments: SCHEME:SCOPE of a registered provider is ours, anything else (the
 * mountpoint) is libfuse's; so is a -o key=value that some provider takes. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cf_options *o = data;
	const char *rest;
	(void) outargs;
	if (key == FUSE_OPT_KEY_OPT) {
		const char *eq = strchr(arg, '=');
		if (!eq || !cf_registry_takes(arg, (size_t) (eq - arg)))
			return 1;
		return add_provider_opt(o, arg) ? -1 : 0;
	}
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	const struct cf_provider_kind *k = cf_registry_by_source(arg, &rest);
	if (!k)
		return 1;
	if (o->scope_arg) {
		usage_error("more than one %s:%s argument (%s)", kind_of(o)->scheme,
			    kind_of(o)->scope_word, arg);
		return -1;
	}
	o->kind = k;
	o->scope_arg = strdup(rest);
	return o->scope_arg ? 0 : -1;
}

static void print_help(const char *prog)
{
	const struct cf_provider_kind *k = cf_registry_default();
	printf("usage: %s [%s:%s] MOUNTPOINT [options]\n"
	       "\n"
	       "%s"
	       "\n"
	       "clonefs options:\n"
	       "%s",
	       prog, k->scheme, k->scope_word, k->help_about, k->help_options);
	printf(
	    "    -o cache=DIR           cache directory; the LMDB environment lives in\n"
	    "                           DIR/<project>@<host> (default: $XDG_CACHE_HOME/clonefs,\n"
	    "                           else $HOME/.cache/clonefs)\n"
	    "    -o sync_interval=SECS  seconds between listings, >= 1 "
	    "(default: " DEFAULT_SYNC_INTERVAL ");\n"
	    "                           with a change feed, only while it does not work\n"
	    "    -o reconcile_interval=SECS  seconds between full listings; the passes\n"
	    "                           between ask only what tells a change, 0 = every\n"
	    "                           pass full (default: " DEFAULT_RECONCILE ")\n"
	    "    -o feed_full_interval=SECS\n"
	    "                           with a change feed: seconds between the full\n"
	    "                           listings kept as a safety net (default: " DEFAULT_FEED_FULL
	    ")\n"
	    "    -o feed_lag_max=SECS   with a change feed: messages older than this are\n"
	    "                           \"behind\"; poll at sync_interval until they come in\n"
	    "                           time again (default: " DEFAULT_FEED_LAG_MAX ")\n"
	    "    -o timeout=SECS        kernel entry and attribute cache timeout "
	    "(default: " DEFAULT_TIMEOUT ")\n"
	    "    -o policy=FILE         the clone / prune policy, JSON (default:\n"
	    "                           " DEFAULT_POLICY " when it exists, else built-in\n"
	    "                           defaults; .clonefs/policy shows the effective one)\n"
	    "    -o mkdir_wait=WHEN     accepted: mkdir returns once the cloud accepted the\n"
	    "                           clone (default); ready: once it is READY\n"
	    "    -o ro                  read-only: every write is EROFS (default: rw)\n"
	    "    -o rw                  read-write (the default)\n"
	    "    -o uid=N               the owner every node shows (default: the mounting\n"
	    "                           user)\n"
	    "    -o gid=N               the group every node shows (default: the mounting\n"
	    "                           user's group)\n"
	    "    -o umask=OCTAL         mode bits cleared from what every node shows\n"
	    "                           (default: 022: directories 0755, files 0444)\n"
	    "    -o default_permissions the kernel checks those modes before the policy\n"
	    "                           (default: off: the policy's allow lists decide\n"
	    "                           every write, and access(2) asks the policy)\n"
	    "    -f                     stay in the foreground, log to stderr (default: go\n"
	    "                           to the background once mounted, log to syslog)\n"
	    "    -d                     debug: log every FUSE request (implies -f;\n"
	    "                           default: off)\n"
	    "\n"
	    "Always added: -o fsname=%s:%s,subtype=clonefs\n"
	    "As mount(8) type fuse.clonefs: mount -t fuse.clonefs %s:%s MOUNTPOINT\n"
	    "-o OPTIONS, or in /etc/fstab: %s:%s MOUNTPOINT fuse.clonefs OPTIONS 0 0\n"
	    "\n"
	    "libfuse options:\n",
	    k->scheme, k->scope_word, k->scheme, k->scope_word, k->scheme, k->scope_word);
	fflush(stdout);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* A whole-string unsigned decimal in [lo, hi], or -1. */
static long parse_seconds(const char *s, long lo, long hi)
{
	char *end;
	long v;
	if (!s || !*s || !isdigit((unsigned char) *s))
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	return v;
}

/* A whole-string uid or gid: decimal, 0 to 4294967294 ((uid_t) -1 means "unchanged" to
 * chown and is nobody's id). */
static bool parse_id(const char *s, unsigned *out)
{
	char *end;
	if (!s || !isdigit((unsigned char) *s))
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v >= 0xffffffffULL)
		return false;
	*out = (unsigned) v;
	return true;
}

static char *default_cache_base(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	char *out;
	if (xdg && xdg[0] == '/') {
		if (asprintf(&out, "%s/clonefs", xdg) < 0)
			return NULL;
		return out;
	}
	if (home && home[0] == '/') {
		if (asprintf(&out, "%s/.cache/clonefs", home) < 0)
			return NULL;
		return out;
	}
	return NULL;
}

/* Check every option and derive the rest; one line on stderr for the first problem. */
static int validate(struct cf_options *o)
{
	long v;
	char *tmp;

	if (!o->cmd.mountpoint) {
		usage_error("no mountpoint given: usage: clonefs [%s:%s] MOUNTPOINT [-o OPT,...]",
			    kind_of(o)->scheme, kind_of(o)->scope_word);
		return -1;
	}
	if (o->rw && o->ro) {
		usage_error("-o ro and -o rw contradict each other");
		return -1;
	}
	if (o->mkdir_wait && strcmp(o->mkdir_wait, "accepted") && strcmp(o->mkdir_wait, "ready")) {
		usage_error("-o mkdir_wait=%s: must be accepted or ready", o->mkdir_wait);
		return -1;
	}
	if (o->policy && !*o->policy) {
		usage_error("-o policy=: empty path");
		return -1;
	}
	if (!o->policy && access(DEFAULT_POLICY, F_OK) == 0 &&
	    !(o->policy = strdup(DEFAULT_POLICY)))
		return -1;
	/* The provider's options: every one must be its kind's, then the provider checks them. */
	for (size_t i = 0; i < o->npopts; i++) {
		if (!cf_registry_kind_takes(kind_of(o), o->popts[i].key)) {
			usage_error("-o %s=: not an option of %s:%s mounts", o->popts[i].key,
				    kind_of(o)->scheme, kind_of(o)->scope_word);
			return -1;
		}
	}
	char why[512];
	int rc = cf_source_new(kind_of(o), o->scope_arg, o->popts, o->npopts, o->ro, &o->src, why,
			       sizeof why);
	if (rc == -ENOMEM)
		goto oom;
	if (rc) {
		usage_error("%s", why);
		return -1;
	}
	o->endpoint = o->src->endpoint;
	v = parse_seconds(o->sync_interval_s, 1, 7 * 86400);
	if (v < 0) {
		usage_error("-o sync_interval=%s: must be a whole number of seconds, 1 to 604800",
			    o->sync_interval_s);
		return -1;
	}
	o->sync_interval = (unsigned) v;
	v = parse_seconds(o->feed_full_interval_s ? o->feed_full_interval_s : DEFAULT_FEED_FULL, 1,
			  7 * 86400);
	if (v < 0) {
		usage_error("-o feed_full_interval=%s: must be a whole number of seconds, 1 to "
			    "604800",
			    o->feed_full_interval_s);
		return -1;
	}
	o->feed_full_interval = (unsigned) v;
	v = parse_seconds(o->feed_lag_max_s ? o->feed_lag_max_s : DEFAULT_FEED_LAG_MAX, 1,
			  7 * 86400);
	if (v < 0) {
		usage_error("-o feed_lag_max=%s: must be a whole number of seconds, 1 to 604800",
			    o->feed_lag_max_s);
		return -1;
	}
	o->feed_lag_max = (unsigned) v;
	v = parse_seconds(o->reconcile_s, 0, 30 * 86400);
	if (v < 0) {
		usage_error("-o reconcile_interval=%s: must be a whole number of seconds, 0 to "
			    "2592000",
			    o->reconcile_s);
		return -1;
	}
	o->reconcile = (unsigned) v;
	v = parse_seconds(o->timeout_s, 0, 365 * 86400);
	if (v < 0) {
		usage_error("-o timeout=%s: must be a whole number of seconds, 0 to 31536000",
			    o->timeout_s);
		return -1;
	}
	o->timeout = (unsigned) v;
	unsigned id;
	if (o->uid_s) {
		if (!parse_id(o->uid_s, &id)) {
			usage_error("-o uid=%s: must be a numeric user id", o->uid_s);
			return -1;
		}
		o->uid = (uid_t) id;
		o->uid_set = true;
	}
	if (o->gid_s) {
		if (!parse_id(o->gid_s, &id)) {
			usage_error("-o gid=%s: must be a numeric group id", o->gid_s);
			return -1;
		}
		o->gid = (gid_t) id;
		o->gid_set = true;
	}
	o->umask = 022;
	if (o->umask_s) {
		char *end;
		errno = 0;
		unsigned long m = strtoul(o->umask_s, &end, 8);
		if (!*o->umask_s || !isdigit((unsigned char) *o->umask_s) || errno || *end ||
		    m > 0777) {
			usage_error("-o umask=%s: must be octal, 0 to 777", o->umask_s);
			return -1;
		}
		o->umask = (unsigned) m;
	}

	if (!o->cache) {
		o->cache = default_cache_base();
		if (!o->cache) {
			usage_error("no cache directory: neither XDG_CACHE_HOME nor HOME is set; "
				    "give -o cache=DIR");
			return -1;
		}
	} else {
		if (!*o->cache) {
			usage_error("-o cache=: empty path");
			return -1;
		}
		tmp = cf_path_absolute(o->cache);
		if (!tmp)
			goto oom;
		free(o->cache);
		o->cache = tmp;
	}
	return 0;
oom:
	fprintf(stderr, "clonefs: out of memory while parsing options\n");
	return -1;
}

/* Give libfuse the options every clonefs mount has. Ours go in front so that a user's own
 * fsname= wins; subtype goes last, after the one fuse_parse_cmdline derives from argv[0].
 * default_permissions only when it was asked for (our table consumed it). */
static int add_fixed_options(struct cf_options *o)
{
	char *front;
	int rc;
	if (asprintf(&front, "-o%sfsname=%s:%s",
		     o->default_permissions ? "default_permissions," : "", o->src->kind->scheme,
		     o->project) < 0)
		return -1;
	rc = fuse_opt_insert_arg(&o->args, 1, front);
	free(front);
	if (rc != 0)
		return -1;
	return fuse_opt_add_arg(&o->args, "-osubtype=clonefs");
}

int cf_options_parse(int argc, char **argv, struct cf_options *o)
{
	memset(o, 0, sizeof *o);
	o->args = (struct fuse_args) FUSE_ARGS_INIT(argc, argv);
	/* Defaults, on the heap: fuse_opt frees a string option's old value. The provider's come
	 * after parsing: an environment variable may set them. */
	o->sync_interval_s = strdup(DEFAULT_SYNC_INTERVAL);
	o->timeout_s = strdup(DEFAULT_TIMEOUT);
	o->reconcile_s = strdup(DEFAULT_RECONCILE);
	if (!o->sync_interval_s || !o->timeout_s || !o->reconcile_s)
		return -1;

	if (fuse_opt_parse(&o->args, o, cf_opt_table, opt_proc) != 0)
		return -1;
	/* -f, -d, -s, -h, -V, clone_fd, max_threads and the mountpoint. */
	if (fuse_parse_cmdline(&o->args, &o->cmd) != 0)
		return -1;
	if (o->cmd.show_help) {
		print_help(argv[0]);
		return 1;
	}
	if (o->cmd.show_version) {
		printf("clonefs version %s\n", CLONEFS_VERSION);
		fflush(stdout); /* fuse_lowlevel_version runs fusermount3, which prints too */
		fuse_lowlevel_version();
		return 1;
	}
	if (validate(o) != 0)
		return -1;
	if (o->src->scope)
		return cf_options_set_project(o, o->src->scope, o->src->scope_from, NULL);
	return 0;
}

int cf_options_set_project(struct cf_options *o, const char *project, const char *from,
			   const char *why)
{
	char msg[512];
	int rc = o->src->kind->set_scope(o->src, project, from, why, msg, sizeof msg);
	if (rc == -ENOMEM)
		goto oom;
	if (rc) {
		usage_error("%s", msg);
		return -1;
	}
	o->project = o->src->scope;
	if (asprintf(&o->cache_dir, "%s/%s", o->cache, o->src->cache_name) < 0) {
		o->cache_dir = NULL;
		goto oom;
	}
	if (add_fixed_options(o) != 0)
		goto oom;
	return 0;
oom:
	fprintf(stderr, "clonefs: out of memory while parsing options\n");
	return -1;
}

void cf_options_free(struct cf_options *o)
{
	cf_source_free(o->src);
	free(o->scope_arg);
	for (size_t i = 0; i < o->npopts; i++) {
		free((char *) o->popts[i].key);
		free((char *) o->popts[i].value);
	}
	free(o->popts);
	free(o->cache);
	free(o->cache_dir);
	free(o->sync_interval_s);
	free(o->feed_full_interval_s);
	free(o->feed_lag_max_s);
	free(o->reconcile_s);
	free(o->timeout_s);
	free(o->policy);
	free(o->mkdir_wait);
	free(o->uid_s);
	free(o->gid_s);
	free(o->umask_s);
	free(o->cmd.mountpoint);
	fuse_opt_free_args(&o->args);
	memset(o, 0, sizeof *o);
}
