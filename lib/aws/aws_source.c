/* aws_source.c — the AWS provider's registration (registry.h): the
 * aws:REGION mount source, its -o options (profile=, endpoint=), the region
 * and endpoint found the way the AWS CLI finds them, the credentials and
 * the provider (aws.c).
 *
 * Credentials, region and endpoint are aws_creds' (the AWS CLI's chain:
 * -o profile, the environment, the shared files, credential_process,
 * IMDSv2); the calls are aws_query's client. This file checks the options,
 * names the cache and hands them over.
 *
 * The cache of a mount is named <region>@<host[_port]>. */
#include "aws.h"
#include "aws_creds.h"
#include "aws_query.h"
#include "hash.h"
#include "http.h"
#include "log.h"
#include "registry.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define ENDPOINT_ENV	 "AWS_ENDPOINT_URL_EC2"
#define ENDPOINT_ENV_ALL "AWS_ENDPOINT_URL"

struct aws_source {
	char *profile; /* -o profile= */
	char *zone;    /* -o zone=: where restores go */
	const char *endpoint_from;
	bool endpoint_given; /* -o endpoint or the environment's */
	struct cf_http *http;
	struct cf_aws_creds *creds;
	struct cf_aws_client *client;
};

static const char *opt(const struct cf_kv *opts, size_t n, const char *key)
{
	const char *v = NULL;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(opts[i].key, key))
			v = opts[i].value;
	return v;
}

/* An availability zone, "us-east-1a", "use1-az1": lower-case letters, digits
 * and '-', at most 32, starting with a letter. */
static bool zone_valid(const char *z)
{
	size_t n = strlen(z);
	if (n < 2 || n > 32 || !islower((unsigned char) z[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char) z[i]) && !isdigit((unsigned char) z[i]) && z[i] != '-')
			return false;
	return true;
}

/* "us-east-1", "eu-central-2", "us-gov-west-1": lower-case letters, digits
 * and '-', at most 32; it becomes a host name, a signing scope and a file
 * name. */
static bool region_valid(const char *r)
{
	size_t n = strlen(r);
	if (n < 3 || n > 32 || !islower((unsigned char) r[0]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!islower((unsigned char) r[i]) && !isdigit((unsigned char) r[i]) && r[i] != '-')
			return false;
	return true;
}

static bool loopback_host(const char *url)
{
	const char *h = url + 7, *end = h + strcspn(h, "/");
	char host[256];
	unsigned char a[16];
	size_t n = (size_t) (end - h);
	if (n == 0 || n >= sizeof host || memchr(h, '@', n))
		return false;
	memcpy(host, h, n);
	host[n] = '\0';
	if (host[0] == '[')
		return !strncmp(host, "[::1]", 5) && (host[5] == '\0' || host[5] == ':');
	char *colon = strchr(host, ':');
	if (colon)
		*colon = '\0';
	return !strcasecmp(host, "localhost") || (inet_pton(AF_INET, host, a) == 1 && a[0] == 127);
}

static bool endpoint_valid(const char *e)
{
	const char *host = !strncmp(e, "https://", 8)  ? e + 8
			   : !strncmp(e, "http://", 7) ? e + 7
						       : NULL;
	if (!host || !*host || *host == '/' || strlen(e) > 1024 || strpbrk(e, "?#"))
		return false;
	for (const char *c = e; *c; c++)
		if ((unsigned char) *c <= ' ' || *c == 0x7f || *c == ',')
			return false;
	return true;
}

static int aws_configure(struct cf_source *s, const char *scope_arg, const struct cf_kv *opts,
			 size_t n, bool read_only, char *why, size_t why_size)
{
	struct aws_source *a = calloc(1, sizeof *a);
	const char *profile = opt(opts, n, "profile"), *endpoint = opt(opts, n, "endpoint");
	(void) read_only;
	if (!a)
		return -ENOMEM;
	s->impl = a;
	if (profile && (!*profile || strpbrk(profile, "[]\n\r\t ") || strlen(profile) > 64)) {
		snprintf(why, why_size, "-o profile=%.64s: not a profile name", profile);
		return -EINVAL;
	}
	if (profile && !(a->profile = strdup(profile)))
		return -ENOMEM;
	const char *zone = opt(opts, n, "zone");
	if (zone && !zone_valid(zone)) {
		snprintf(why, why_size, "-o zone=%.64s: not an availability zone (us-east-1a)",
			 zone);
		return -EINVAL;
	}
	if (zone && !(a->zone = strdup(zone)))
		return -ENOMEM;
	const char *region = scope_arg && *scope_arg ? scope_arg : NULL;
	s->scope_from = "aws:REGION";
	if (!region && (region = getenv("AWS_REGION")) && *region)
		s->scope_from = "AWS_REGION";
	else if (!region && (region = getenv("AWS_DEFAULT_REGION")) && *region)
		s->scope_from = "AWS_DEFAULT_REGION";
	if (region && *region && !(s->scope = strdup(region)))
		return -ENOMEM;
	a->endpoint_from = "-o endpoint";
	if (!endpoint) {
		const char *env = getenv(ENDPOINT_ENV), *all = getenv(ENDPOINT_ENV_ALL);
		if (env && *env)
			endpoint = env, a->endpoint_from = ENDPOINT_ENV;
		else if (all && *all)
			endpoint = all, a->endpoint_from = ENDPOINT_ENV_ALL;
	}
	if (endpoint) {
		if (!endpoint_valid(endpoint)) {
			snprintf(why, why_size, "%s=%.200s: must be an http(s) URL",
				 a->endpoint_from, endpoint);
			return -EINVAL;
		}
		if (!strncmp(endpoint, "http://", 7) && !loopback_host(endpoint)) {
			snprintf(why, why_size,
				 "%s=%.200s: plain http only to a loopback address; use https",
				 a->endpoint_from, endpoint);
			return -EINVAL;
		}
		if (!(s->endpoint = strdup(endpoint)))
			return -ENOMEM;
		a->endpoint_given = true;
	}
	return 0;
}

static char *cache_name(const char *region, const char *endpoint)
{
	const char *host = strstr(endpoint, "://") + 3;
	char name[256];
	size_t n;
	bool lossy = false;
	int w = snprintf(name, sizeof name, "aws-%s@", region);
	if (w < 0 || (size_t) w >= sizeof name)
		return NULL;
	n = (size_t) w;
	for (size_t i = 0; host[i] && n < 200; i++) {
		unsigned char c = (unsigned char) host[i];
		if (c == '/' && host[i + 1] == '\0')
			break;
		if (isalnum(c) || c == '.' || c == '-') {
			name[n++] = (char) c;
		} else {
			name[n++] = '_';
			if (c != ':')
				lossy = true;
		}
	}
	name[n] = '\0';
	if (lossy)
		snprintf(name + n, sizeof name - n, "-%08x", cf_fnv1a32(endpoint));
	return strdup(name);
}

static int aws_set_scope(struct cf_source *s, const char *region, const char *from,
			 const char *why_found, char *why, size_t why_size)
{
	char *tmp;
	if (!region) {
		snprintf(why, why_size, "no region: give aws:REGION or AWS_REGION%s%s%s",
			 why_found ? " (" : "", why_found ? why_found : "", why_found ? ")" : "");
		return -EINVAL;
	}
	if (!region_valid(region)) {
		snprintf(why, why_size, "region \"%.40s\" (%s): not a region name (us-east-1)",
			 region, from);
		return -EINVAL;
	}
	if (region != s->scope) {
		if (!(tmp = strdup(region)))
			return -ENOMEM;
		free(s->scope);
		s->scope = tmp;
	}
	s->scope_from = from;
	if (!s->endpoint && asprintf(&s->endpoint, "https://ec2.%s.amazonaws.com/", s->scope) < 0) {
		s->endpoint = NULL;
		return -ENOMEM;
	}
	if (!(tmp = cache_name(s->scope, s->endpoint)))
		return -ENOMEM;
	free(s->cache_name);
	s->cache_name = tmp;
	return 0;
}

static int aws_start(struct cf_source *s, struct cf_http *http)
{
	struct aws_source *a = s->impl;
	char why[512] = "";
	struct cf_aws_creds_config cc = {.profile = a->profile,
					 .region = s->scope,
					 .endpoint = a->endpoint_given ? s->endpoint : NULL};
	a->http = http;
	int rc = cf_aws_creds_new(&cc, &a->creds, why, sizeof why);
	if (rc)
		cf_err("aws: no credentials: %s", why[0] ? why : strerror(-rc));
	return rc;
}

/* No region named: the profile's. */
static int aws_find_scope(struct cf_source *s, char *buf, size_t size, const char **from, char *why,
			  size_t why_size)
{
	struct aws_source *a = s->impl;
	const char *r = a->creds ? cf_aws_creds_region(a->creds) : NULL;
	if (!r || !*r) {
		snprintf(why, why_size,
			 "none in aws:REGION, AWS_REGION, AWS_DEFAULT_REGION or the profile");
		return -ENOENT;
	}
	if (strlen(r) >= size) {
		snprintf(why, why_size, "the profile's region is too long");
		return -ENAMETOOLONG;
	}
	strcpy(buf, r);
	*from = "the profile's region";
	return 0;
}

static int aws_provider(struct cf_source *s, struct cf_provider **out)
{
	struct aws_source *a = s->impl;
	char why[512] = "";
	struct cf_aws_client_config cc = {
	    .http = a->http, .creds = a->creds, .region = s->scope, .endpoint = s->endpoint};
	int rc = cf_aws_client_new(&cc, &a->client, why, sizeof why);
	if (!rc)
		rc = cf_aws_new(a->client, out);
	if (!rc && a->zone)
		rc = cf_aws_set_zone(*out, a->zone);
	if (rc < 0)
		cf_err("cannot set up the AWS provider for %s: %s", s->endpoint,
		       why[0] ? why : strerror(-rc));
	return rc;
}

static const char *aws_credentials(const struct cf_source *s)
{
	const struct aws_source *a = s->impl;
	return a && a->creds ? cf_aws_creds_source(a->creds) : NULL;
}

static void aws_free(struct cf_source *s)
{
	struct aws_source *a = s->impl;
	if (!a)
		return;
	cf_aws_client_free(a->client);
	cf_aws_creds_free(a->creds);
	free(a->profile);
	free(a->zone);
	free(a);
	s->impl = NULL;
}

static const char *const aws_keys[] = {"profile", "endpoint", "zone", NULL};

const struct cf_provider_kind cf_aws_kind = {
    .scheme = "aws",
    .scope_word = "REGION",
    .scope_noun = "region",
    .keys = aws_keys,
    .layout = &cf_aws_layout,
    .text_valid = cf_aws_text_valid,
    .help_about =
	"Mounts one AWS region of the account's EBS snapshots, AMIs, volumes and\n"
	"instances (snapshots/, images/, volumes/, instances/), each named by its Name tag\n"
	"(an AMI by its name) or else its id. mkdir in a volume's snapshots/ or an\n"
	"instance's images/ makes a snapshot or an AMI, rmdir deletes, setfattr tags.\n",
    .help_options =
	"    -o profile=NAME        the shared files' profile (skips the environment's\n"
	"                           keys; default: $AWS_ACCESS_KEY_ID, else\n"
	"                           $AWS_PROFILE or \"default\" in ~/.aws/credentials and\n"
	"                           ~/.aws/config, else the instance metadata service)\n"
	"    -o endpoint=URL        the EC2 endpoint (default: $" ENDPOINT_ENV ", else\n"
	"                           $" ENDPOINT_ENV_ALL
	", else https://ec2.REGION.amazonaws.com/)\n"
	"    -o zone=AZ             the availability zone ln -s restores into (default:\n"
	"                           the zone of the copy's own volume or instance)\n",
    .configure = aws_configure,
    .set_scope = aws_set_scope,
    .start = aws_start,
    .find_scope = aws_find_scope,
    .provider = aws_provider,
    .credentials = aws_credentials,
    .free = aws_free,
};
