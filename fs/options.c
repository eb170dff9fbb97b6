/* options.c — clonefs's command line: our -o options through a fuse_opt table, the rest left
 * for libfuse; every usage error is one line on stderr naming the option.
 *
 * The cache directory of a mount is DIR/<project>@<host[_port]>: one LMDB environment per
 * endpoint and project, named so a person can tell them apart, with a short hash added when
 * the endpoint holds characters a file name should not (so two endpoints never share one). */
#include "options.h"

#include "model.h"

#include <arpa/inet.h>
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

#define DEFAULT_ENDPOINT      "https://compute.googleapis.com/compute/v1/"
#define DEFAULT_SYNC_INTERVAL "60"
#define DEFAULT_TIMEOUT	      "3600"
#define API_SUFFIX	      "/compute/v1/"
#define DEFAULT_POLICY	      "/etc/clonefs/policy.json"
#define ENDPOINT_ENV	      "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"

#define CF_OPT(t, field)                                                                           \
	{                                                                                          \
		t, offsetof(struct cf_options, field), 1                                           \
	}

static const struct fuse_opt cf_opt_table[] = {
    CF_OPT("endpoint=%s", endpoint),
    CF_OPT("project=%s", project),
    CF_OPT("token_file=%s", token_file),
    CF_OPT("credentials=%s", credentials),
    CF_OPT("cache=%s", cache),
    CF_OPT("sync_interval=%s", sync_interval_s),
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

/* Positional arguments: gce:PROJECT is ours, anything else (the mountpoint) is libfuse's. */
static int opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct cf_options *o = data;
	(void) outargs;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (strncmp(arg, "gce:", 4) != 0)
		return 1;
	if (o->project_arg) {
		usage_error("more than one gce:PROJECT argument (%s)", arg);
		return -1;
	}
	o->project_arg = strdup(arg + 4);
	return o->project_arg ? 0 : -1;
}

static void print_help(const char *prog)
{
	printf(
	    "usage: %s [gce:PROJECT] MOUNTPOINT [options]\n"
	    "\n"
	    "Mounts a Google Compute Engine project's snapshots, images, machine images, disks\n"
	    "and instances as a tree served from a local LMDB cache that a background sync\n"
	    "keeps true. mkdir in a disk's snapshots/ or an instance's clones/ makes a\n"
	    "consistent clone, rmdir prunes (through a grace period), setfattr labels, all\n"
	    "under a policy. The mount lists the cache at once, before the first sync ends.\n"
	    "\n"
	    "clonefs options:\n"
	    "    -o project=ID          Compute Engine project (default: the one of\n"
	    "                           gce:PROJECT, else $GOOGLE_CLOUD_PROJECT,\n"
	    "                           $CLOUDSDK_CORE_PROJECT, the key's project_id,\n"
	    "                           the metadata server's project)\n"
	    "    -o endpoint=URL        API base URL, ending in /compute/v1/ (default:\n"
	    "                           $" ENDPOINT_ENV ",\n"
	    "                           else " DEFAULT_ENDPOINT ")\n"
	    "    -o token_file=PATH     read the access token from PATH (re-read when it\n"
	    "                           changes; default: see -o credentials)\n"
	    "    -o credentials=FILE    a service_account key or authorized_user file, read\n"
	    "                           at start (default: $GOOGLE_APPLICATION_CREDENTIALS,\n"
	    "                           else gcloud's application_default_credentials.json\n"
	    "                           in $CLOUDSDK_CONFIG or ~/.config/gcloud, else the\n"
	    "                           metadata server, $GCE_METADATA_HOST honoured);\n"
	    "                           token and key files must not be open to group or\n"
	    "                           others (chmod 600)\n"
	    "    -o cache=DIR           cache directory; the LMDB environment lives in\n"
	    "                           DIR/<project>@<host> (default: $XDG_CACHE_HOME/clonefs,\n"
	    "                           else $HOME/.cache/clonefs)\n"
	    "    -o sync_interval=SECS  seconds between full listings, >= 1 "
	    "(default: " DEFAULT_SYNC_INTERVAL ")\n"
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
	    "Always added: -o fsname=gce:PROJECT,subtype=clonefs\n"
	    "As mount(8) type fuse.clonefs: mount -t fuse.clonefs gce:PROJECT MOUNTPOINT\n"
	    "-o OPTIONS, or in /etc/fstab: gce:PROJECT MOUNTPOINT fuse.clonefs OPTIONS 0 0\n"
	    "\n"
	    "libfuse options:\n",
	    prog);
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

/* GCE project ids are lower-case letters, digits and hyphens; legacy domain-scoped ids add
 * "example.com:" in front. The id becomes part of a file name, a URL and a mount option, so
 * nothing else gets through. */
static bool project_is_valid(const char *p)
{
	size_t n = strlen(p);
	if (n == 0 || n > 100 || !isalnum((unsigned char) p[0]))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char) p[i];
		if (!isalnum(c) && c != '-' && c != '.' && c != ':' && c != '_')
			return false;
	}
	return true;
}

static bool endpoint_is_valid(const char *e)
{
	size_t n = strlen(e), sl = strlen(API_SUFFIX);
	const char *host;
	if (strncmp(e, "https://", 8) == 0)
		host = e + 8;
	else if (strncmp(e, "http://", 7) == 0)
		host = e + 7;
	else
		return false;
	if (n < sl || strcmp(e + n - sl, API_SUFFIX) != 0)
		return false;
	if (*host == '/' || *host == '\0')
		return false;
	for (const char *c = e; *c; c++)
		if ((unsigned char) *c <= ' ' || *c == 0x7f || *c == ',')
			return false;
	return true;
}

/* Plain http is for the local emulator only (the http layer refuses it anywhere else, per
 * request): say so at once rather than mount something that can never sync. */
static bool http_host_is_loopback(const char *endpoint)
{
	const char *h = endpoint + 7, *end = strchr(h, '/');
	char host[256];
	unsigned char a[16];
	size_t n = (size_t) (end - h);
	if (!end || n == 0 || n >= sizeof host || memchr(h, '@', n))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	if (host[0] == '[') /* [::1] or [::1]:port */
		return strncmp(host, "[::1]", 5) == 0 && (host[5] == '\0' || host[5] == ':');
	char *colon = strchr(host, ':');
	if (colon)
		*colon = '\0';
	if (strcasecmp(host, "localhost") == 0)
		return true;
	return inet_pton(AF_INET, host, a) == 1 && a[0] == 127;
}

/* An absolute copy of path (the daemon chdirs to / when it backgrounds). */
static char *absolute(const char *path)
{
	char cwd[PATH_MAX];
	char *out;
	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof cwd))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

static uint32_t fnv1a(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 16777619u;
	return h;
}

/* "<project>@<host[_port][_path]>", readable and safe as one file name. */
static char *cache_subdir(const char *project, const char *endpoint)
{
	const char *host = strstr(endpoint, "://") + 3;
	size_t hlen = strlen(host) - strlen(API_SUFFIX) + 1; /* keep a path prefix, if any */
	char name[256];
	size_t n;
	bool lossy = false;
	int w = snprintf(name, sizeof name, "%s@", project);
	if (w < 0 || (size_t) w >= sizeof name)
		return NULL;
	n = (size_t) w;
	for (size_t i = 0; i < hlen && host[i] != '\0' && n < 200; i++) {
		unsigned char c = (unsigned char) host[i];
		if (i + 1 == hlen && c == '/')
			break; /* the '/' before compute/v1/ */
		if (isalnum(c) || c == '.' || c == '-') {
			name[n++] = (char) c;
		} else {
			name[n++] = '_';
			if (c != ':')
				lossy = true;
		}
		if (n >= 200 && i + 1 < hlen)
			lossy = true;
	}
	name[n] = '\0';
	if (lossy)
		snprintf(name + n, sizeof name - n, "-%08x", fnv1a(endpoint));
	return strdup(name);
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

/* The endpoint when -o endpoint= is not given: gcloud's override for compute, else Google's. */
static char *default_endpoint(const char **from)
{
	const char *env = getenv(ENDPOINT_ENV);
	if (env && *env) {
		*from = ENDPOINT_ENV;
		return strdup(env);
	}
	*from = "-o endpoint";
	return strdup(DEFAULT_ENDPOINT);
}

/* The project from the environment, as Google's libraries and gcloud read it, or NULL (errno
 * ENOMEM when that is why). */
static char *env_project(const char **from)
{
	static const char *const vars[] = {"GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT"};
	errno = 0;
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
		const char *v = getenv(vars[i]);
		if (v && *v) {
			*from = vars[i];
			return strdup(v);
		}
	}
	return NULL;
}

/* Check every option and derive the rest; one line on stderr for the first problem. */
static int validate(struct cf_options *o)
{
	long v;
	char *tmp;

	if (!o->cmd.mountpoint) {
		usage_error(
		    "no mountpoint given: usage: clonefs [gce:PROJECT] MOUNTPOINT [-o OPT,...]");
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
	if (o->project_arg && o->project && strcmp(o->project_arg, o->project) != 0) {
		usage_error("-o project=%s contradicts gce:%s", o->project, o->project_arg);
		return -1;
	}
	o->project_from = o->project ? "-o project" : "gce:PROJECT";
	if (!o->project && o->project_arg) {
		o->project = o->project_arg;
		o->project_arg = NULL;
	}
	if (!o->project && !(o->project = env_project(&o->project_from)) && errno == ENOMEM)
		goto oom;
	if (!o->endpoint && !(o->endpoint = default_endpoint(&o->endpoint_from)))
		goto oom;
	if (!endpoint_is_valid(o->endpoint)) {
		usage_error("%s=%s: must be an http(s) URL ending in " API_SUFFIX, o->endpoint_from,
			    o->endpoint);
		return -1;
	}
	if (strncmp(o->endpoint, "http://", 7) == 0 && !http_host_is_loopback(o->endpoint)) {
		usage_error("%s=%s: plain http only to a loopback address; use https",
			    o->endpoint_from, o->endpoint);
		return -1;
	}
	v = parse_seconds(o->sync_interval_s, 1, 7 * 86400);
	if (v < 0) {
		usage_error("-o sync_interval=%s: must be a whole number of seconds, 1 to 604800",
			    o->sync_interval_s);
		return -1;
	}
	o->sync_interval = (unsigned) v;
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

	if (o->credentials) {
		if (!*o->credentials) {
			usage_error("-o credentials=: empty path");
			return -1;
		}
		if (o->token_file) {
			usage_error("-o token_file= and -o credentials= exclude each other");
			return -1;
		}
		tmp = absolute(o->credentials);
		if (!tmp)
			goto oom;
		free(o->credentials);
		o->credentials = tmp;
	}
	if (o->token_file) {
		if (!*o->token_file) {
			usage_error("-o token_file=: empty path");
			return -1;
		}
		tmp = absolute(o->token_file);
		if (!tmp)
			goto oom;
		free(o->token_file);
		o->token_file = tmp;
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
		tmp = absolute(o->cache);
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
	if (asprintf(&front, "-o%sfsname=gce:%s",
		     o->default_permissions ? "default_permissions," : "", o->project) < 0)
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
	/* Defaults, on the heap: fuse_opt frees a string option's old value. The endpoint's
	 * comes after parsing: an environment variable may set it. */
	o->endpoint_from = "-o endpoint";
	o->sync_interval_s = strdup(DEFAULT_SYNC_INTERVAL);
	o->timeout_s = strdup(DEFAULT_TIMEOUT);
	if (!o->sync_interval_s || !o->timeout_s)
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
	if (o->project)
		return cf_options_set_project(o, o->project, o->project_from, NULL);
	return 0;
}

int cf_options_set_project(struct cf_options *o, const char *project, const char *from,
			   const char *why)
{
	char *tmp;
	if (!project) {
		usage_error(
		    "no project: give gce:PROJECT, -o project=ID or GOOGLE_CLOUD_PROJECT%s%s%s",
		    why ? " (" : "", why ? why : "", why ? ")" : "");
		return -1;
	}
	if (!project_is_valid(project)) {
		usage_error("project \"%s\" (%s): not a valid project id (letters, digits, '-', "
			    "'.', ':')",
			    project, from);
		return -1;
	}
	if (project != o->project) {
		if (!(tmp = strdup(project)))
			goto oom;
		free(o->project);
		o->project = tmp;
	}
	o->project_from = from;
	tmp = cache_subdir(o->project, o->endpoint);
	if (!tmp)
		goto oom;
	if (asprintf(&o->cache_dir, "%s/%s", o->cache, tmp) < 0) {
		o->cache_dir = NULL;
		free(tmp);
		goto oom;
	}
	free(tmp);
	if (add_fixed_options(o) != 0)
		goto oom;
	return 0;
oom:
	fprintf(stderr, "clonefs: out of memory while parsing options\n");
	return -1;
}

void cf_options_free(struct cf_options *o)
{
	free(o->endpoint);
	free(o->project);
	free(o->project_arg);
	free(o->token_file);
	free(o->credentials);
	free(o->cache);
	free(o->cache_dir);
	free(o->sync_interval_s);
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
