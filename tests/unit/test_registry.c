/* test_registry.c — the provider registry: a mount source's scheme to its
 * kind, which -o options a kind takes, and the GCE kind's set-up from them
 * (defaults from the environment, the refusals, the cache's name, which must
 * not change: an existing cache would be orphaned). */
#include "check.h"
#include "registry.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static struct cf_source *configure(const char *scope, const struct cf_kv *kv, size_t n, int want,
				   const char *want_why)
{
	struct cf_source *s = (struct cf_source *) 1;
	char why[512] = "";
	int rc = cf_source_new(cf_registry_default(), scope, kv, n, false, &s, why, sizeof why);
	CHECK_EQ_INT(rc, want);
	if (want_why && !strstr(why, want_why))
		fprintf(stderr, "  why: %s\n", why);
	if (want_why)
		CHECK(strstr(why, want_why) != NULL);
	if (rc)
		CHECK(s == NULL);
	return rc ? NULL : s;
}

static void test_lookup(void)
{
	const char *rest = NULL;
	const struct cf_provider_kind *k = cf_registry_by_source("gce:my-project", &rest);
	CHECK(k != NULL && k == cf_registry_default());
	CHECK_EQ_STR(k->scheme, "gce");
	CHECK_EQ_STR(rest, "my-project");
	CHECK(cf_registry_by_source("gce", NULL) == NULL);
	CHECK(cf_registry_by_source("gcex:p", NULL) == NULL);
	/* aws:REGION is the AWS provider's (lib/aws/), not the default */
	const struct cf_provider_kind *aws = cf_registry_by_source("aws:eu-west-1", &rest);
	CHECK(aws != NULL && aws != cf_registry_default());
	if (aws) {
		CHECK_EQ_STR(aws->scheme, "aws");
		CHECK_EQ_STR(rest, "eu-west-1");
		CHECK(cf_registry_kind_takes(aws, "profile"));
		CHECK(!cf_registry_kind_takes(aws, "token_file"));
		CHECK(aws->text_valid(CF_TEXT_LABEL_KEY, "Owner", 5, NULL));
		CHECK(!aws->text_valid(CF_TEXT_LABEL_KEY, "aws:x", 5, NULL));
	}
	CHECK(cf_registry_by_source("/mnt/gce:p", NULL) == NULL);
	CHECK(cf_registry_takes("endpoint", 8));
	CHECK(cf_registry_takes("token_file=x", 10));
	CHECK(!cf_registry_takes("cache", 5));
	CHECK(!cf_registry_takes("endpoin", 7));
	CHECK(cf_registry_kind_takes(k, "credentials"));
	CHECK(!cf_registry_kind_takes(k, "uid"));
	/* the kind's text rule, which the policy file is checked with before a
	 * provider exists, is GCE's */
	CHECK(k->text_valid != NULL);
	CHECK(k->text_valid(CF_TEXT_LABEL_KEY, "owner", 5, NULL));
	CHECK(!k->text_valid(CF_TEXT_LABEL_KEY, "Owner", 5, NULL));
	CHECK(!k->text_valid(CF_TEXT_LABEL_VALUE, "Team", 4, NULL));
	CHECK(!k->text_valid(CF_TEXT_NAME, "snap_1", 6, NULL));
}

static void test_gce_source(void)
{
	unsetenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE");
	unsetenv("GOOGLE_CLOUD_PROJECT");
	unsetenv("CLOUDSDK_CORE_PROJECT");
	char why[512];

	/* defaults: Google's endpoint, no project yet */
	struct cf_source *s = configure(NULL, NULL, 0, 0, NULL);
	CHECK_EQ_STR(s->endpoint, "https://compute.googleapis.com/compute/v1/");
	CHECK(s->scope == NULL);
	CHECK_EQ_INT(s->kind->set_scope(s, NULL, NULL, "no key", why, sizeof why), -EINVAL);
	CHECK_EQ_STR(
	    why, "no project: give gce:PROJECT, -o project=ID or GOOGLE_CLOUD_PROJECT (no key)");
	CHECK_EQ_INT(s->kind->set_scope(s, "Bad!", "here", NULL, why, sizeof why), -EINVAL);
	CHECK(strstr(why, "project \"Bad!\" (here): not a valid project id") == why);
	CHECK_EQ_INT(s->kind->set_scope(s, "demo-1", "the key", NULL, why, sizeof why), 0);
	CHECK_EQ_STR(s->scope, "demo-1");
	CHECK_EQ_STR(s->scope_from, "the key");
	CHECK_EQ_STR(s->cache_name, "demo-1@compute.googleapis.com");
	CHECK(cf_source_credentials(s) == NULL); /* not started */
	cf_source_free(s);

	/* the environment's project and endpoint */
	setenv("GOOGLE_CLOUD_PROJECT", "env-project", 1);
	setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE", "http://127.0.0.1:8089/compute/v1/", 1);
	s = configure(NULL, NULL, 0, 0, NULL);
	CHECK_EQ_STR(s->scope, "env-project");
	CHECK_EQ_STR(s->scope_from, "GOOGLE_CLOUD_PROJECT");
	CHECK_EQ_INT(s->kind->set_scope(s, s->scope, s->scope_from, NULL, why, sizeof why), 0);
	CHECK_EQ_STR(s->cache_name, "env-project@127.0.0.1_8089");
	cf_source_free(s);
	unsetenv("GOOGLE_CLOUD_PROJECT");
	unsetenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE");

	/* gce:PROJECT and -o project= agree, or are refused */
	struct cf_kv p[] = {{"project", "other"}};
	configure("mine", p, 1, -EINVAL, "-o project=other contradicts gce:mine");
	p[0].value = "mine";
	s = configure("mine", p, 1, 0, NULL);
	CHECK_EQ_STR(s->scope_from, "-o project");
	cf_source_free(s);

	/* an endpoint with characters a file name should not hold gets a hash */
	struct cf_kv e[] = {{"endpoint", "https://user@host.example/x/compute/v1/"}};
	s = configure("p", e, 1, 0, NULL);
	CHECK_EQ_INT(s->kind->set_scope(s, "p", "gce:PROJECT", NULL, why, sizeof why), 0);
	CHECK_EQ_STR(s->cache_name, "p@user_host.example_x-8659d9e5"); /* FNV-1a of the URL */
	cf_source_free(s);

	/* refusals */
	e[0].value = "ftp://x/compute/v1/";
	configure("p", e, 1, -EINVAL, "-o endpoint=ftp://x/compute/v1/: must be an http(s) URL");
	e[0].value = "http://example.com/compute/v1/";
	configure("p", e, 1, -EINVAL, "plain http only to a loopback address");
	struct cf_kv both[] = {{"credentials", "a"}, {"token_file", "b"}};
	configure("p", both, 2, -EINVAL, "exclude each other");
	struct cf_kv empty[] = {{"token_file", ""}};
	configure("p", empty, 1, -EINVAL, "-o token_file=: empty path");
}

int main(void)
{
	test_lookup();
	test_gce_source();
	return check_summary();
}
