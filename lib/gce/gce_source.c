/* gce_source.c — the Compute Engine provider's registration (registry.h):
 * the gce:PROJECT mount source, its -o options (project=, endpoint=,
 * token_file=, credentials=), the project found the way Google's tools find
 * it, the credentials (gce_auth.c) and the provider (gce.c).
 *
 * The cache of a mount is named <project>@<host[_port]>: one LMDB environment
 * per endpoint and project, named so a person can tell them apart, with a
 * short hash added when the endpoint holds characters a file name should not
 * (so two endpoints never share one). */
#include "gce.h"
#include "feed.h"
#include "hash.h"
#include "gce_auth.h"
#include "http.h"
#include "log.h"
#include "registry.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define DEFAULT_ENDPOINT "https://compute.googleapis.com/compute/v1/"
#define API_SUFFIX	 "/compute/v1/"
#define ENDPOINT_ENV	 "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE"
#define PUBSUB_ENDPOINT	 "https://pubsub.googleapis.com/"

struct gce_source {
	char *project_opt; /* -o project= */
	char *token_file, *credentials;
	const char *endpoint_from; /* "-o endpoint" or ENDPOINT_ENV */
	bool read_only;
	char *feed;	       /* -o feed=projects/P/subscriptions/S, or NULL */
	char *pubsub_endpoint; /* -o pubsub_endpoint=, or NULL: PUBSUB_ENDPOINT */
	struct cf_http *http;
	struct cf_auth *auth;
};

static const char *opt(const struct cf_kv *opts, size_t n, const char *key)
{
	const char *v = NULL;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(opts[i].key, key))
			v = opts[i].value; /* the last one given wins */
	return v;
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
		snprintf(name + n, sizeof name - n, "-%08x", cf_fnv1a32(endpoint));
	return strdup(name);
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

/* A key or token file's path: not empty, made absolute. */
static int take_path(const char *opt_name, const char *v, char **out, char *why, size_t why_size)
{
	if (!*v) {
		snprintf(why, why_size, "-o %s=: empty path", opt_name);
		return -EINVAL;
	}
	return (*out = cf_path_absolute(v)) ? 0 : -ENOMEM;
}

/* "projects/P/subscriptions/S": P a project id, S a Pub/Sub name (a letter,
 * then 2 to 254 of letters, digits and -_.~+). It goes into a URL as is. */
static bool subscription_is_valid(const char *v)
{
	char p[128];
	const char *sub = strstr(v, "/subscriptions/");
	if (strncmp(v, "projects/", 9) || !sub || (size_t) (sub - v - 9) >= sizeof p)
		return false;
	memcpy(p, v + 9, (size_t) (sub - v - 9));
	p[sub - v - 9] = '\0';
	sub += strlen("/subscriptions/");
	size_t n = strlen(sub);
	if (!project_is_valid(p) || strchr(p, '/') || n < 3 || n > 255 ||
	    !isalpha((unsigned char) sub[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char) sub[i]) && !strchr("-_.~+", sub[i]))
			return false;
	return true;
}

/* The change feed's options: -o feed=, -o pubsub_endpoint= (http(s), ending
 * in '/', plain http only to loopback). */
static int feed_configure(struct gce_source *g, const char *feed, const char *ep, char *why,
			  size_t why_size)
{
	if (ep && !feed) {
		snprintf(why, why_size, "-o pubsub_endpoint= needs -o feed=");
		return -EINVAL;
	}
	if (!feed)
		return 0;
	if (!subscription_is_valid(feed)) {
		snprintf(why, why_size, "-o feed=%s: expected projects/PROJECT/subscriptions/NAME",
			 feed);
		return -EINVAL;
	}
	if (ep) {
		size_t n = strlen(ep);
		bool http = !strncmp(ep, "http://", 7);
		bool ok = (http || !strncmp(ep, "https://", 8)) && n > 9 && ep[n - 1] == '/';
		for (const char *c = ep; ok && *c; c++)
			ok = (unsigned char) *c > ' ' && *c != 0x7f && *c != ',';
		if (!ok || (http && !http_host_is_loopback(ep))) {
			snprintf(why, why_size,
				 "-o pubsub_endpoint=%s: must be an https URL ending in '/' (plain "
				 "http only to a loopback address)",
				 ep);
			return -EINVAL;
		}
		if (!(g->pubsub_endpoint = strdup(ep)))
			return -ENOMEM;
	}
	return (g->feed = strdup(feed)) ? 0 : -ENOMEM;
}

static int gce_configure(struct cf_source *s, const char *scope_arg, const struct cf_kv *opts,
			 size_t n, bool read_only, char *why, size_t why_size)
{
	struct gce_source *g = calloc(1, sizeof *g);
	const char *project = opt(opts, n, "project"), *endpoint = opt(opts, n, "endpoint");
	const char *token_file = opt(opts, n, "token_file");
	const char *credentials = opt(opts, n, "credentials");
	int rc;
	if (!g)
		return -ENOMEM;
	s->impl = g;
	g->read_only = read_only;

	if (scope_arg && project && strcmp(scope_arg, project) != 0) {
		snprintf(why, why_size, "-o project=%s contradicts gce:%s", project, scope_arg);
		return -EINVAL;
	}
	s->scope_from = project ? "-o project" : "gce:PROJECT";
	if (project || scope_arg) {
		if (!(s->scope = strdup(project ? project : scope_arg)))
			return -ENOMEM;
	} else if (!(s->scope = env_project(&s->scope_from)) && errno == ENOMEM) {
		return -ENOMEM;
	}
	g->endpoint_from = "-o endpoint";
	if (!endpoint) {
		const char *env = getenv(ENDPOINT_ENV);
		if (env && *env) {
			g->endpoint_from = ENDPOINT_ENV;
			endpoint = env;
		} else {
			endpoint = DEFAULT_ENDPOINT;
		}
	}
	if (!(s->endpoint = strdup(endpoint)))
		return -ENOMEM;
	if (!endpoint_is_valid(s->endpoint)) {
		snprintf(why, why_size, "%s=%s: must be an http(s) URL ending in " API_SUFFIX,
			 g->endpoint_from, s->endpoint);
		return -EINVAL;
	}
	if (strncmp(s->endpoint, "http://", 7) == 0 && !http_host_is_loopback(s->endpoint)) {
		snprintf(why, why_size, "%s=%s: plain http only to a loopback address; use https",
			 g->endpoint_from, s->endpoint);
		return -EINVAL;
	}
	if (credentials) {
		if (!*credentials) {
			snprintf(why, why_size, "-o credentials=: empty path");
			return -EINVAL;
		}
		if (token_file) {
			snprintf(why, why_size,
				 "-o token_file= and -o credentials= exclude each other");
			return -EINVAL;
		}
		if ((rc = take_path("credentials", credentials, &g->credentials, why, why_size)))
			return rc;
	}
	if (token_file && (rc = take_path("token_file", token_file, &g->token_file, why, why_size)))
		return rc;
	return feed_configure(g, opt(opts, n, "feed"), opt(opts, n, "pubsub_endpoint"), why,
			      why_size);
}

static int gce_set_scope(struct cf_source *s, const char *project, const char *from,
			 const char *why_found, char *why, size_t why_size)
{
	char *tmp;
	if (!project) {
		snprintf(
		    why, why_size,
		    "no project: give gce:PROJECT, -o project=ID or GOOGLE_CLOUD_PROJECT%s%s%s",
		    why_found ? " (" : "", why_found ? why_found : "", why_found ? ")" : "");
		return -EINVAL;
	}
	if (!project_is_valid(project)) {
		snprintf(why, why_size,
			 "project \"%s\" (%s): not a valid project id (letters, digits, '-', "
			 "'.', ':')",
			 project, from);
		return -EINVAL;
	}
	if (project != s->scope) {
		if (!(tmp = strdup(project)))
			return -ENOMEM;
		free(s->scope);
		s->scope = tmp;
	}
	s->scope_from = from;
	if (!(tmp = cache_subdir(s->scope, s->endpoint)))
		return -ENOMEM;
	free(s->cache_name);
	s->cache_name = tmp;
	return 0;
}

/* Credentials before anything else: a key file that cannot be used stops the
 * mount, and the project may come from them. */
static int gce_start(struct cf_source *s, struct cf_http *http)
{
	struct gce_source *g = s->impl;
	struct cf_auth_config ac = {.token_file = g->token_file,
				    .credentials = g->credentials,
				    .application_default = true,
				    .read_only = g->read_only,
				    .http = http};
	g->http = http;
	int rc = cf_auth_new(&ac, &g->auth);
	if (rc < 0)
		cf_err("cannot set up authentication: %s", strerror(-rc));
	return rc;
}

/* No project named on the command line or in the environment: the key's project_id, else the
 * metadata server's project (asked briefly: off Compute Engine nobody answers). */
static int gce_find_scope(struct cf_source *s, char *buf, size_t size, const char **from, char *why,
			  size_t why_size)
{
	static const struct cf_http_config quick = {.connect_timeout_ms = 2000,
						    .timeout_ms = 3000,
						    .max_attempts = 3,
						    .base_delay_ms = 100,
						    .max_delay_ms = 1000,
						    .max_total_ms = 8000,
						    .allow_insecure_loopback = true};
	struct gce_source *g = s->impl;
	struct cf_http *h;
	const char *key_project = cf_auth_project(g->auth);
	if (key_project) {
		if (strlen(key_project) >= size) {
			snprintf(why, why_size, "the key's project_id is too long");
			return -ENAMETOOLONG;
		}
		strcpy(buf, key_project);
		*from = "the key's project_id";
		return 0;
	}
	if (cf_http_new(&quick, &h) < 0) {
		snprintf(why, why_size, "cannot set up HTTP");
		return -ENOMEM;
	}
	int rc = cf_auth_metadata_project(g->auth, h, buf, size, why, why_size);
	cf_http_free(h);
	if (rc == 0)
		*from = "the metadata server";
	return rc;
}

static int gce_provider(struct cf_source *s, struct cf_provider **out)
{
	struct gce_source *g = s->impl;
	struct cf_gce_config gc = {
	    .endpoint = s->endpoint, .project = s->scope, .http = g->http, .auth = g->auth};
	int rc = cf_gce_new(&gc, out);
	if (rc < 0)
		cf_err("cannot set up the Compute Engine provider for %s: %s", s->endpoint,
		       strerror(-rc));
	return rc;
}

/* The change feed, when -o feed= names one (else 0 with *out NULL). */
static int gce_feed(struct cf_source *s, struct cf_feed_source **out)
{
	struct gce_source *g = s->impl;
	*out = NULL;
	if (!g->feed)
		return 0;
	struct cf_gce_feed_config fc = {.endpoint = g->pubsub_endpoint ? g->pubsub_endpoint
								       : PUBSUB_ENDPOINT,
					.subscription = g->feed,
					.project = s->scope,
					.auth = g->auth};
	int rc = cf_gce_feed_new(&fc, out);
	if (rc < 0)
		cf_err("cannot set up the change feed %s: %s", g->feed, strerror(-rc));
	return rc;
}

static const char *gce_credentials(const struct cf_source *s)
{
	const struct gce_source *g = s->impl;
	return g && g->auth ? cf_auth_source(g->auth) : NULL;
}

static void gce_free(struct cf_source *s)
{
	struct gce_source *g = s->impl;
	if (!g)
		return;
	cf_auth_free(g->auth);
	free(g->token_file);
	free(g->credentials);
	free(g->feed);
	free(g->pubsub_endpoint);
	free(g);
	s->impl = NULL;
}

static const char *const gce_keys[] = {"project", "endpoint",	     "token_file", "credentials",
				       "feed",	  "pubsub_endpoint", NULL};

const struct cf_provider_kind cf_gce_kind = {
    .scheme = "gce",
    .scope_word = "PROJECT",
    .scope_noun = "project",
    .keys = gce_keys,
    .layout = &cf_gce_layout,
    .text_valid = cf_gce_text_valid,
    .help_about =
	"Mounts a Google Compute Engine project's snapshots, images, machine images, disks\n"
	"and instances as a tree served from a local LMDB cache that a background sync\n"
	"keeps true. mkdir in a disk's snapshots/ or an instance's clones/ makes a\n"
	"consistent clone, rmdir prunes (through a grace period), setfattr labels, all\n"
	"under a policy. The mount lists the cache at once, before the first sync ends.\n",
    .help_options =
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
	"    -o feed=projects/P/subscriptions/S\n"
	"                           apply changes at once from this Pub/Sub subscription\n"
	"                           of a Cloud Asset Inventory feed (README: the setup);\n"
	"                           full listings then every feed_full_interval\n"
	"                           (default: none, every change by listing)\n"
	"    -o pubsub_endpoint=URL Pub/Sub's base URL, ending in '/' (default:\n"
	"                           " PUBSUB_ENDPOINT ")\n",
    .configure = gce_configure,
    .set_scope = gce_set_scope,
    .start = gce_start,
    .find_scope = gce_find_scope,
    .provider = gce_provider,
    .credentials = gce_credentials,
    .feed = gce_feed,
    .free = gce_free,
};
