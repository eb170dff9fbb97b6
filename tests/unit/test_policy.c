/* test_policy.c — the policy file's strictness and every decision it makes,
 * plus the label and name rules they rest on (GCE's, which the policy's labels
 * are checked with in a gce: mount, and the neutral label text helpers). */
#include "gce.h"
#include "names.h"
#include "policy.h"

#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void test_names(void)
{
	CHECK(cf_gce_name_valid("snap-1", 6));
	CHECK(!cf_gce_name_valid("Snap", 4));
	CHECK(!cf_gce_name_valid("1snap", 5));
	CHECK(!cf_gce_name_valid("snap-", 5));
	CHECK(!cf_gce_name_valid("", 0));
	char n64[65];
	memset(n64, 'a', 64);
	CHECK(cf_gce_name_valid(n64, 63));
	CHECK(!cf_gce_name_valid(n64, 64));
	CHECK(cf_gce_label_key_valid("owner", 5));
	CHECK(cf_gce_label_key_valid("a_b-1", 5));
	CHECK(!cf_gce_label_key_valid("Owner", 5));
	CHECK(!cf_gce_label_key_valid("1a", 2));
	CHECK(!cf_gce_label_key_valid("", 0));
	CHECK(!cf_gce_label_key_valid(n64, 64));
	CHECK(cf_gce_label_value_valid("", 0));
	CHECK(cf_gce_label_value_valid("team-1_x", 8));
	CHECK(!cf_gce_label_value_valid("a b", 3));
	/* The API's real rules: lowercase international letters are allowed, in keys
	 * and values; upper case is not, whatever the script; 63 characters, not bytes. */
	CHECK(cf_gce_label_value_valid("caf\xc3\xa9", 5));
	CHECK(cf_gce_label_value_valid("j\xc3\xb6rg", 5));
	CHECK(cf_gce_label_key_valid("j\xc3\xb6rg", 5));
	CHECK(cf_gce_label_key_valid("\xc3\xa9t\xc3\xa9", 5));		/* été: a letter first */
	CHECK(cf_gce_label_value_valid("\xe4\xb8\xad\xe6\x96\x87", 6)); /* 中文: Lo */
	CHECK(cf_gce_label_key_valid("\xe4\xb8\xad", 3));
	CHECK(cf_gce_label_value_valid("\xce\xb1\xce\xb2-1", 6)); /* αβ-1 */
	CHECK(!cf_gce_label_value_valid("J\xc3\xb6rg", 5));
	CHECK(!cf_gce_label_value_valid("j\xc3\x96rg", 5));	/* Ö */
	CHECK(!cf_gce_label_key_valid("\xc3\x89t\xc3\xa9", 5)); /* Été */
	CHECK(!cf_gce_label_value_valid("\xce\x91", 2));	/* Α, Greek capital */
	CHECK(!cf_gce_label_value_valid("\xc2\xbd", 2));	/* ½: not a letter or digit */
	CHECK(!cf_gce_label_value_valid("a\xc2\xa0"
					"b",
					4));		     /* no-break space */
	CHECK(!cf_gce_label_value_valid("\xc3", 1));	     /* truncated */
	CHECK(!cf_gce_label_value_valid("\xc0\xaf", 2));     /* overlong '/' */
	CHECK(!cf_gce_label_value_valid("\xed\xa0\x80", 3)); /* a surrogate */
	CHECK(!cf_gce_label_value_valid("\xe2\x80\xae", 3)); /* right-to-left override */
	CHECK(!cf_gce_label_key_valid("_a", 2));
	char intl[64 * 2 + 1] = "";
	for (int i = 0; i < 64; i++)
		strcat(intl, "\xc3\xb6");
	CHECK(cf_gce_label_value_valid(intl, 63 * 2)); /* 63 characters, 126 bytes */
	CHECK(cf_gce_label_key_valid(intl, 63 * 2));
	CHECK(!cf_gce_label_value_valid(intl, 64 * 2));
	CHECK(!cf_gce_label_key_valid(intl, 64 * 2));
	/* labels the API holds, sent back unchanged: text, not judged by the rules */
	CHECK(cf_label_text_sane("Legacy", 6, true));
	CHECK(cf_label_text_sane(intl, 63 * 2, false));
	CHECK(!cf_label_text_sane(intl, 64 * 2, false));
	CHECK(!cf_label_text_sane("", 0, true));
	CHECK(cf_label_text_sane("", 0, false));
	CHECK(!cf_label_text_sane("a\nb", 3, false));
	CHECK(!cf_label_text_sane("\xff", 1, false));

	char out[64];
	cf_label_value_map("zones/us-central1-a/disks/DB_data", out);
	CHECK_EQ_STR(out, "zones-us-central1-a-disks-db_data");
	cf_label_value_map("2026-11-25T13:45:00Z", out);
	CHECK_EQ_STR(out, "2026-11-25t13-45-00z");
	cf_label_value_map("", out);
	CHECK_EQ_STR(out, "");
	char longin[200], out2[64];
	memset(longin, 'x', sizeof longin - 1);
	longin[sizeof longin - 1] = '\0';
	cf_label_value_map(longin, out);
	CHECK_EQ_INT(strlen(out), 63);
	CHECK(cf_gce_label_value_valid(out, strlen(out)));
	longin[150] = 'y';
	cf_label_value_map(longin, out2);
	CHECK(strcmp(out, out2) != 0); /* same prefix, different input: different value */
}

static void test_parse(void)
{
	struct cf_policy *p = NULL;
	char err[256];
	CHECK_EQ_INT(cf_policy_defaults(&p), 0);
	CHECK_EQ_INT(p->clone.consistency, CF_CONS_FLUSH);
	CHECK_EQ_INT(p->clone.max_depth, 2);
	CHECK_EQ_INT(p->prune.grace_seconds, 3600);
	CHECK_EQ_STR(p->prune.protect_label, "keep");
	CHECK_EQ_INT(p->clone.job_max_age_seconds, 600);
	CHECK_EQ_STR(p->report.group_by, "owner");
	char *djs = cf_policy_to_json(p);
	CHECK(djs && strstr(djs, "\"job_max_age_seconds\": 600"));
	free(djs);
	cf_policy_free(p);

	const char *full =
	    "{\"clone\": {\"consistency\": \"stop\", \"require_healthy\": false,"
	    " \"health_command\": [\"/bin/true\", \"x\"], \"allow_uids\": [0, 1000],"
	    " \"allow_gids\": null, \"allow_sources\": {\"clone-allowed\": \"true\"},"
	    " \"max_depth\": 1, \"max_per_source\": 3, \"inherit_labels\": [\"owner\"],"
	    " \"labels\": {\"made-by\": \"clonefs\"}, \"job_max_age_seconds\": 30,"
	    " \"flush_command\": [\"/bin/fsfreeze\", \"-f\"], \"thaw_command\": null},"
	    " \"prune\": {\"grace_seconds\": 0, \"protect_label\": \"hold\","
	    " \"min_age_seconds\": 60, \"keep_last\": 2, \"max_per_minute\": 5},"
	    " \"labels\": {\"required\": [\"owner\", \"env\"]},"
	    " \"report\": {\"group_by\": \"team\"}}";
	CHECK_EQ_INT(cf_policy_parse(full, cf_gce_text_valid, &p, err, sizeof err), 0);
	CHECK_EQ_INT(p->clone.consistency, CF_CONS_STOP);
	CHECK(!p->clone.require_healthy);
	CHECK_EQ_STR(p->clone.health_command[1], "x");
	CHECK(p->clone.health_command[2] == NULL);
	CHECK_EQ_INT(p->clone.allow.n_uids, 2);
	CHECK(!p->clone.allow.gids_set);
	CHECK_EQ_INT(p->clone.max_per_source, 3);
	CHECK_EQ_INT(p->clone.job_max_age_seconds, 30);
	CHECK_EQ_STR(p->clone.flush_command[1], "-f");
	CHECK(p->clone.flush_command[2] == NULL && p->clone.thaw_command == NULL);
	CHECK_EQ_STR(p->prune.protect_label, "hold");
	CHECK_EQ_INT(p->labels.n_required, 2);
	CHECK_EQ_STR(p->report.group_by, "team");
	char *js = cf_policy_to_json(p);
	CHECK(js && strstr(js, "\"consistency\": \"stop\""));
	CHECK(js && strstr(js, "\"allow_gids\": null"));
	CHECK(js && strstr(js, "\"thaw_command\": null") && strstr(js, "\"/bin/fsfreeze\""));
	/* what it prints parses back to the same policy */
	struct cf_policy *q = NULL;
	CHECK_EQ_INT(cf_policy_parse(js, cf_gce_text_valid, &q, err, sizeof err), 0);
	char *js2 = q ? cf_policy_to_json(q) : NULL;
	CHECK(js2 && !strcmp(js, js2));
	free(js);
	free(js2);
	cf_policy_free(q);
	cf_policy_free(p);

	struct {
		const char *json, *key;
	} bad[] = {
	    {"{\"clone\": {\"max_depht\": 1}}", "clone.max_depht: unknown key"},
	    {"{\"clone\": {\"max_depth\": \"2\"}}", "clone.max_depth: expected an integer"},
	    {"{\"clone\": {\"max_depth\": -1}}", "clone.max_depth"},
	    {"{\"clone\": {\"consistency\": \"fast\"}}", "clone.consistency"},
	    {"{\"clone\": {\"health_command\": \"true\"}}", "clone.health_command"},
	    {"{\"clone\": {\"health_command\": []}}", "clone.health_command"},
	    {"{\"clone\": {\"flush_command\": []}}", "clone.flush_command"},
	    {"{\"clone\": {\"thaw_command\": \"true\"}}", "clone.thaw_command"},
	    {"{\"clone\": {\"allow_uids\": [\"root\"]}}", "clone.allow_uids"},
	    {"{\"clone\": {\"labels\": {\"Bad\": \"x\"}}}", "clone.labels"},
	    {"{\"clone\": {\"job_max_age_seconds\": -1}}", "clone.job_max_age_seconds: expected"},
	    {"{\"clone\": {\"job_max_age_seconds\": \"600\"}}", "clone.job_max_age_seconds"},
	    {"{\"clone\": {\"job_max_age_seconds\": 1.5}}", "clone.job_max_age_seconds"},
	    {"{\"clone\": {\"job_max_age_seconds\": 100000001}}", "clone.job_max_age_seconds"},
	    {"{\"prune\": {\"protect_label\": 3}}", "prune.protect_label"},
	    {"{\"prune\": {\"keep_last\": true}}", "prune.keep_last"},
	    {"{\"labels\": {\"required\": \"owner\"}}", "labels.required"},
	    {"{\"labels\": {\"allow_gids\": [-1]}}", "labels.allow_gids"},
	    {"{\"labels\": {\"allow_uids\": 1000}}", "labels.allow_uids"},
	    {"{\"prune\": {\"allow_uids\": [\"root\"]}}", "prune.allow_uids"},
	    {"{\"cloen\": {}}", "cloen: unknown key"},
	    {"{\"report\": {\"group_by\": \"Team!\"}}", "report.group_by: expected a valid label"},
	    {"{\"report\": {\"group_by\": null}}", "report.group_by"},
	    {"{\"report\": {\"by\": \"team\"}}", "report.by: unknown key"},
	    {"{\"report\": []}", "report: expected an object"},
	    {"[1]", "(top level)"},
	    {"{\"clone\": {", "line"},
	    {"{\"clone\": {}, \"clone\": {}}", "line"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		p = NULL;
		err[0] = '\0';
		CHECK_EQ_INT(cf_policy_parse(bad[i].json, cf_gce_text_valid, &p, err, sizeof err),
			     -EINVAL);
		CHECK(p == NULL);
		if (!strstr(err, bad[i].key))
			fprintf(stderr, "  error for %s was \"%s\"\n", bad[i].json, err);
		CHECK(strstr(err, bad[i].key) != NULL);
	}
	CHECK_EQ_INT(
	    cf_policy_load("/nonexistent/policy.json", cf_gce_text_valid, &p, err, sizeof err),
	    -ENOENT);
	CHECK(strstr(err, "/nonexistent/policy.json") != NULL);
}

/* label strings the tests may point at (the struct holds char *) */
#define S(x) ((char[]){x})

static struct cf_label L[3];

static void test_decisions(void)
{
	struct cf_policy *p = NULL;
	char why[256], err[256];
	CHECK_EQ_INT(cf_policy_parse("{\"clone\": {\"allow_uids\": [1000], \"allow_gids\": [50],"
				     " \"allow_sources\": {\"clone-allowed\": \"true\"},"
				     " \"max_depth\": 1, \"max_per_source\": 2},"
				     " \"prune\": {\"min_age_seconds\": 600, \"keep_last\": 2}}",
				     cf_gce_text_valid, &p, err, sizeof err),
		     0);
	gid_t groups[] = {7, 50};
	struct cf_caller u1000 = {.uid = 1000, .gid = 1000};
	struct cf_caller u1001 = {.uid = 1001, .gid = 1001, .groups = groups, .ngroups = 2};
	struct cf_caller u1001_7 = {.uid = 1001, .gid = 1001, .groups = groups, .ngroups = 1};
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_CLONE, &u1000, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_CLONE, &u1001, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_CLONE, &u1001_7, why, sizeof why), -EACCES);
	CHECK(strstr(why, "uid 1001") != NULL);
	CHECK(strstr(why, "groups 7") != NULL);
	CHECK(strstr(why, "clone.allow_uids") != NULL);
	/* prune and label rights default to the clone lists */
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_PRUNE, &u1001, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_LABEL, &u1001_7, why, sizeof why), -EACCES);
	CHECK(strstr(why, "may not label") != NULL && strstr(why, "clone.allow_uids") != NULL);
	/* labels the policy reads take the prune right */
	CHECK_EQ_INT(cf_policy_label_right(p, "keep"), CF_RIGHT_PRUNE);
	CHECK_EQ_INT(cf_policy_label_right(p, "clone-allowed"), CF_RIGHT_PRUNE);
	CHECK_EQ_INT(cf_policy_label_right(p, "clone-consistency"), CF_RIGHT_PRUNE);
	CHECK_EQ_INT(cf_policy_label_right(p, "clonefs-depth"), CF_RIGHT_PRUNE);
	CHECK_EQ_INT(cf_policy_label_right(p, "owner"), CF_RIGHT_LABEL);
	CHECK_EQ_INT(cf_policy_label_right(p, "keeps"), CF_RIGHT_LABEL);

	struct cf_resource src = {0};
	L[0].key = S("clone-allowed");
	L[0].value = S("true");
	L[1].key = S("owner");
	L[1].value = S("team-a");
	L[2].key = S("clone-consistency");
	L[2].value = S("stop");
	src.labels = L;
	src.nlabels = 2;
	CHECK_EQ_INT(cf_policy_may_clone_source(p, &src, why, sizeof why), 0);
	L[0].value = S("false");
	CHECK_EQ_INT(cf_policy_may_clone_source(p, &src, why, sizeof why), -EPERM);
	CHECK(strstr(why, "clone-allowed=true") != NULL);
	L[0].value = S("true");

	enum cf_consistency c;
	CHECK_EQ_INT(cf_policy_consistency(p, &src, &c, why, sizeof why), 0);
	CHECK_EQ_INT(c, CF_CONS_FLUSH);
	src.nlabels = 3;
	CHECK_EQ_INT(cf_policy_consistency(p, &src, &c, why, sizeof why), 0);
	CHECK_EQ_INT(c, CF_CONS_STOP);
	L[2].value = S("yolo");
	CHECK_EQ_INT(cf_policy_consistency(p, &src, &c, why, sizeof why), -EINVAL);
	L[2].value = S("stop");

	CHECK_EQ_INT(cf_policy_check_depth(p, 1, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_check_depth(p, 2, why, sizeof why), -EMLINK);
	CHECK_EQ_INT(cf_policy_check_quota(p, 1, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_check_quota(p, 2, why, sizeof why), -EDQUOT);

	struct cf_label *out = NULL;
	size_t n = 0;
	CHECK_EQ_INT(cf_policy_clone_labels(p, &src, "zones/z/disks/db-data", CF_CONS_STOP, 1,
					    "alice", 1764078300, &out, &n, why, sizeof why),
		     0);
	int seen = 0;
	for (size_t i = 0; i < n; i++) {
		CHECK(cf_gce_label_key_valid(out[i].key, strlen(out[i].key)));
		CHECK(cf_gce_label_value_valid(out[i].value, strlen(out[i].value)));
		if (!strcmp(out[i].key, "owner"))
			seen += !strcmp(out[i].value, "team-a");
		if (!strcmp(out[i].key, "clonefs-source"))
			seen += !strcmp(out[i].value, "zones-z-disks-db-data");
		if (!strcmp(out[i].key, "clonefs-depth"))
			seen += !strcmp(out[i].value, "1");
		if (!strcmp(out[i].key, "clonefs-created-by"))
			seen += !strcmp(out[i].value, "alice");
		if (!strcmp(out[i].key, "clonefs-consistency"))
			seen += !strcmp(out[i].value, "stop");
		if (!strcmp(out[i].key, "clonefs-created"))
			seen += !strcmp(out[i].value, "2025-11-25t13-45-00z");
	}
	CHECK_EQ_INT(seen, 6);
	CHECK_EQ_INT(n, 6); /* owner inherited; clone-allowed not in inherit_labels */
	cf_labels_free(out, n);

	/* prune */
	struct cf_resource r = {0};
	struct cf_label keep = {S("keep"), S("yes")};
	r.created = 1000;
	r.source = S("zones/z/disks/d");
	CHECK_EQ_INT(cf_policy_may_prune(p, &r, true, 1000 + 700, 5, 10, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_may_prune(p, &r, true, 1000 + 100, 5, 10, why, sizeof why), -EPERM);
	CHECK(strstr(why, "min_age_seconds") != NULL);
	CHECK_EQ_INT(cf_policy_may_prune(p, &r, true, 1000 + 700, 1, 10, why, sizeof why), -EPERM);
	CHECK(strstr(why, "keep_last") != NULL);
	/* keep_last keeps the newest READY ones: r not READY (CREATING, FAILED:
	 * the caller's reading of the provider's word) is none of them, even as
	 * the newest of its source; the policy reads no status word itself */
	CHECK_EQ_INT(cf_policy_may_prune(p, &r, false, 1000 + 700, 0, 1, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_may_prune(p, &r, false, 1000 + 700, 1, 10, why, sizeof why), 0);
	r.status = S("READY");
	CHECK_EQ_INT(cf_policy_may_prune(p, &r, false, 1000 + 700, 0, 1, why, sizeof why), 0);
	r.status = S("CREATING");
	CHECK_EQ_INT(cf_policy_may_prune(p, &r, true, 1000 + 700, 0, 1, why, sizeof why), -EPERM);
	CHECK(strstr(why, "keep_last") != NULL);
	r.status = NULL;
	r.labels = &keep;
	r.nlabels = 1;
	CHECK_EQ_INT(cf_policy_may_prune(p, &r, true, 1000 + 700, 5, 10, why, sizeof why), -EPERM);
	CHECK(strstr(why, "keep=yes") != NULL);

	char miss[64];
	CHECK_EQ_INT(cf_policy_missing_labels(p, &r, miss, sizeof miss), 1);
	CHECK_EQ_STR(miss, "owner");
	CHECK_EQ_INT(cf_policy_missing_labels(p, &src, miss, sizeof miss), 0);
	cf_policy_free(p);
}

/* Who may do what: the chain labels -> prune -> clone, and the mounting user and root when
 * no list is set. */
static void test_rights(void)
{
	struct cf_policy *p = NULL;
	char why[256], err[256];
	gid_t wheel[] = {27};
	struct cf_caller root = {.uid = 0, .gid = 0};
	struct cf_caller owner = {.uid = 1000, .gid = 1000, .mounter = true};
	struct cf_caller other = {.uid = 4242, .gid = 4242};
	struct cf_caller member = {.uid = 4243, .gid = 4243, .groups = wheel, .ngroups = 1};

	/* no lists: the mounting user and root, nobody else */
	CHECK_EQ_INT(cf_policy_defaults(&p), 0);
	for (int r = CF_RIGHT_CLONE; r <= CF_RIGHT_LABEL; r++) {
		CHECK_EQ_INT(cf_policy_may(p, (enum cf_right) r, &root, why, sizeof why), 0);
		CHECK_EQ_INT(cf_policy_may(p, (enum cf_right) r, &owner, why, sizeof why), 0);
		CHECK_EQ_INT(cf_policy_may(p, (enum cf_right) r, &other, why, sizeof why), -EACCES);
		CHECK(strstr(why, "uid 4242") && strstr(why, "only the mounting user and root"));
		CHECK_EQ_INT(cf_policy_may(p, (enum cf_right) r, &member, why, sizeof why),
			     -EACCES);
	}
	CHECK_EQ_STR(cf_right_name(CF_RIGHT_PRUNE), "prune");
	cf_policy_free(p);

	/* the example's lists: root and group 27 (a supplementary group) clone and prune;
	 * labels.allow_uids adds a labeller who may not prune or touch the protect label */
	CHECK_EQ_INT(cf_policy_parse("{\"clone\": {\"allow_uids\": [0], \"allow_gids\": [27]},"
				     " \"labels\": {\"allow_uids\": [4242, 0],"
				     " \"allow_gids\": [27]}}",
				     cf_gce_text_valid, &p, err, sizeof err),
		     0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_CLONE, &member, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_PRUNE, &member, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_PRUNE, &root, why, sizeof why), 0);
	/* once a list is set, the mounting user is decided by it like everyone */
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_CLONE, &owner, why, sizeof why), -EACCES);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_PRUNE, &other, why, sizeof why), -EACCES);
	CHECK(strstr(why, "may not prune") && strstr(why, "clone.allow_uids"));
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_LABEL, &other, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_LABEL, &owner, why, sizeof why), -EACCES);
	CHECK(strstr(why, "labels.allow_uids") != NULL);
	char *js = cf_policy_to_json(p);
	CHECK(js && strstr(js, "\"allow_uids\": [\n      4242,"));
	free(js);
	cf_policy_free(p);

	/* a prune list of its own; labels follow it, not the clone list */
	CHECK_EQ_INT(cf_policy_parse("{\"clone\": {\"allow_gids\": [27]},"
				     " \"prune\": {\"allow_uids\": [0]}}",
				     cf_gce_text_valid, &p, err, sizeof err),
		     0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_CLONE, &member, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_PRUNE, &member, why, sizeof why), -EACCES);
	CHECK(strstr(why, "prune.allow_uids") != NULL);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_LABEL, &member, why, sizeof why), -EACCES);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_LABEL, &root, why, sizeof why), 0);
	/* an empty list is set: nobody */
	cf_policy_free(p);
	CHECK_EQ_INT(cf_policy_parse("{\"clone\": {\"allow_uids\": []}}", cf_gce_text_valid, &p,
				     err, sizeof err),
		     0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_CLONE, &root, why, sizeof why), -EACCES);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_CLONE, &owner, why, sizeof why), -EACCES);
	cf_policy_free(p);

	/* a caller in many groups: the last one counts */
	gid_t many[300];
	for (int i = 0; i < 300; i++)
		many[i] = (gid_t) (5000 + i);
	many[299] = 27;
	struct cf_caller crowd = {.uid = 4244, .gid = 4244, .groups = many, .ngroups = 300};
	CHECK_EQ_INT(cf_policy_parse("{\"clone\": {\"allow_gids\": [27]}}", cf_gce_text_valid, &p,
				     err, sizeof err),
		     0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_CLONE, &crowd, why, sizeof why), 0);
	crowd.ngroups = 299;
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_CLONE, &crowd, why, sizeof why), -EACCES);
	CHECK(strstr(why, ",...") != NULL); /* the groups are cut, the reason is not */
	CHECK(strstr(why, "may not clone") != NULL);
	cf_policy_free(p);
}

static void test_breaker(void)
{
	struct cf_breaker *b = cf_breaker_new(3);
	CHECK_EQ_INT(cf_breaker_take(b, 0), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 1000), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 2000), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 3000), -EAGAIN);
	CHECK_EQ_INT(cf_breaker_take(b, 59999), -EAGAIN);
	CHECK_EQ_INT(cf_breaker_take(b, 60000), 0); /* the first one left the window */
	CHECK_EQ_INT(cf_breaker_take(b, 60001), -EAGAIN);
	CHECK_EQ_INT(cf_breaker_take(b, 200000), 0);
	CHECK_EQ_INT(cf_breaker_recent(b, 200000), 1); /* the one left in the last minute */
	CHECK_EQ_INT(cf_breaker_recent(b, 260000), 0);
	cf_breaker_free(b);
	struct cf_breaker *z = cf_breaker_new(0);
	CHECK_EQ_INT(cf_breaker_take(z, 0), -EAGAIN);
	cf_breaker_free(z);
}

/* A refund gives back the slot of a request that was never sent: failed
 * prunes do not spend the breaker, and the others keep their place. */
static void test_breaker_refund(void)
{
	struct cf_breaker *b = cf_breaker_new(3);
	CHECK_EQ_INT(cf_breaker_take(b, 0), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 1000), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 2000), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 2500), -EAGAIN);
	cf_breaker_refund(b, 1000); /* the middle one was not sent */
	CHECK_EQ_INT(cf_breaker_take(b, 3000), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 3001), -EAGAIN);
	cf_breaker_refund(b, 12345); /* never taken: nothing changes */
	CHECK_EQ_INT(cf_breaker_take(b, 3002), -EAGAIN);
	/* 0 leaves at 60000; 2000 and 3000 stay until 62000 and 63000 */
	CHECK_EQ_INT(cf_breaker_take(b, 60000), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 61999), -EAGAIN);
	CHECK_EQ_INT(cf_breaker_take(b, 62000), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 62001), -EAGAIN);
	/* the newest one refunded; twice the same time: one entry each */
	cf_breaker_refund(b, 62000);
	CHECK_EQ_INT(cf_breaker_take(b, 62002), 0);
	cf_breaker_free(b);

	/* many refunds around the ring's wrap */
	b = cf_breaker_new(2);
	for (int64_t t = 0; t < 20; t++) {
		CHECK_EQ_INT(cf_breaker_take(b, t), 0);
		cf_breaker_refund(b, t);
	}
	CHECK_EQ_INT(cf_breaker_take(b, 100), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 100), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 101), -EAGAIN);
	cf_breaker_refund(b, 100);
	CHECK_EQ_INT(cf_breaker_take(b, 102), 0);
	CHECK_EQ_INT(cf_breaker_take(b, 103), -EAGAIN);
	cf_breaker_free(b);
	struct cf_breaker *z = cf_breaker_new(0);
	cf_breaker_refund(z, 0);
	CHECK_EQ_INT(cf_breaker_take(z, 0), -EAGAIN);
	cf_breaker_free(z);
}

/* The trash label: EPOCH-MOUNTID-ID, a valid label value, read back
 * exactly; anything else is not ours. */
static void test_trash_value(void)
{
	char v[64], mid[CF_MOUNT_ID_LEN + 1], rid[64];
	int64_t at = 0;
	CHECK(cf_mount_id_valid("0123456789abcdef"));
	CHECK(!cf_mount_id_valid("0123456789ABCDEF"));
	CHECK(!cf_mount_id_valid("0123456789abcde"));
	CHECK(!cf_mount_id_valid("0123456789abcdef0"));
	CHECK(!cf_mount_id_valid(NULL));
	CHECK_EQ_INT(cf_trash_value_format(1796302417, "0123456789abcdef", "18446744073709551615",
					   v, sizeof v),
		     0);
	CHECK_EQ_STR(v, "1796302417-0123456789abcdef-18446744073709551615");
	CHECK(cf_gce_label_value_valid(v, strlen(v)));
	CHECK_EQ_INT(cf_trash_value_parse(v, &at, mid, rid, sizeof rid), 0);
	CHECK_EQ_INT(at, 1796302417);
	CHECK_EQ_STR(mid, "0123456789abcdef");
	CHECK_EQ_STR(rid, "18446744073709551615");
	/* an EC2 id holds '-': the id is the rest after the fixed-width mount
	 * id, so it is written and read back whole */
	CHECK_EQ_INT(cf_trash_value_format(1796302417, "0123456789abcdef", "snap-0123456789abcdef0",
					   v, sizeof v),
		     0);
	CHECK_EQ_STR(v, "1796302417-0123456789abcdef-snap-0123456789abcdef0");
	CHECK(cf_gce_label_value_valid(v, strlen(v)));
	CHECK_EQ_INT(cf_trash_value_parse(v, &at, mid, rid, sizeof rid), 0);
	CHECK_EQ_INT(at, 1796302417);
	CHECK_EQ_STR(mid, "0123456789abcdef");
	CHECK_EQ_STR(rid, "snap-0123456789abcdef0");
	/* "1-2" was refused while ids could not hold '-'; the value is not
	 * ambiguous (the mount id has a fixed width), so it now reads as the id
	 * "1-2": the reaper still needs the mount id to be its own and the fresh
	 * record's id to be exactly that id before it deletes anything */
	CHECK_EQ_INT(cf_trash_value_parse("1-0123456789abcdef-1-2", &at, mid, rid, sizeof rid), 0);
	CHECK_EQ_STR(rid, "1-2");
	/* what it refuses to write */
	CHECK_EQ_INT(cf_trash_value_format(1, "nope", "1", v, sizeof v), -EINVAL);
	CHECK_EQ_INT(cf_trash_value_format(-1, "0123456789abcdef", "1", v, sizeof v), -EINVAL);
	CHECK_EQ_INT(cf_trash_value_format(1, "0123456789abcdef", "", v, sizeof v), -EINVAL);
	CHECK_EQ_INT(cf_trash_value_format(1, "0123456789abcdef", "Id-1", v, sizeof v), -EINVAL);
	CHECK_EQ_INT(cf_trash_value_format(1, "0123456789abcdef", "-1", v, sizeof v), -EINVAL);
	CHECK_EQ_INT(cf_trash_value_format(1, "0123456789abcdef", "snap-", v, sizeof v), -EINVAL);
	CHECK_EQ_INT(cf_trash_value_format(1, "0123456789abcdef", "snap--1", v, sizeof v), -EINVAL);
	char longid[60];
	memset(longid, '7', sizeof longid - 1);
	longid[sizeof longid - 1] = '\0';
	CHECK_EQ_INT(cf_trash_value_format(1, "0123456789abcdef", longid, v, sizeof v), -EINVAL);
	/* what it never takes for ours */
	static const char *const bad[] = {
	    "1",
	    "1796302417",
	    "soon",
	    "",
	    "-0123456789abcdef-1",
	    "1-0123456789abcdef-",
	    "1-0123456789abcdef",
	    "1-0123456789ABCDEF-1",
	    "1-0123456789abcde-1",
	    "1-0123456789abcdef0-1",
	    "1-0123456789abcdef--1",
	    "1-0123456789abcdef-1-",
	    "1-0123456789abcdef-1--2",
	    "1-0123456789abcdef-Snap-1",
	    "1-0123456789abcdef-snap-1 ",
	    "1--0123456789abcdef-1",
	    "1-0123456789abcdef-x y",
	    "+1-0123456789abcdef-1",
	    "1 -0123456789abcdef-1",
	    "9999999999999999-0123456789abcdef-1",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		CHECK_EQ_INT(cf_trash_value_parse(bad[i], &at, mid, rid, sizeof rid), -EINVAL);
	CHECK_EQ_INT(cf_trash_value_parse("1-0123456789abcdef-123", &at, mid, rid, 3), -EINVAL);
	CHECK_EQ_INT(cf_trash_value_parse(NULL, &at, mid, rid, sizeof rid), -EINVAL);
}

/* A rule that refuses "veto-key" as a key and "veto-val" as a value, and
 * nothing else: which text the parser asks about, and as what. */
static bool veto_rule(enum cf_text what, const char *s, size_t len, const char **rule)
{
	(void) rule;
	if (what == CF_TEXT_LABEL_KEY)
		return !(len == 8 && !memcmp(s, "veto-key", 8));
	if (what == CF_TEXT_LABEL_VALUE)
		return !(len == 8 && !memcmp(s, "veto-val", 8));
	return false;
}

/* The policy's labels are judged by the rule the caller passes (the mount's
 * provider kind's): every label key and value of the file goes through it, as
 * a key or a value; NULL is the neutral rule (sane text), and the GCE kind's
 * refuses what GCE would. */
static void test_text_rule(void)
{
	static const struct {
		const char *json, *key; /* key: the refusal's, NULL: accepted */
	} cases[] = {
	    {"{\"prune\": {\"protect_label\": \"veto-key\"}}", "prune.protect_label"},
	    {"{\"prune\": {\"protect_label\": \"veto-val\"}}", NULL},
	    {"{\"clone\": {\"allow_sources\": {\"veto-key\": \"x\"}}}", "clone.allow_sources"},
	    {"{\"clone\": {\"allow_sources\": {\"k\": \"veto-val\"}}}", "clone.allow_sources"},
	    {"{\"clone\": {\"allow_sources\": {\"veto-val\": \"veto-key\"}}}", NULL},
	    {"{\"clone\": {\"labels\": {\"veto-key\": \"x\"}}}", "clone.labels"},
	    {"{\"clone\": {\"labels\": {\"k\": \"veto-val\"}}}", "clone.labels"},
	    {"{\"clone\": {\"inherit_labels\": [\"a\", \"veto-key\"]}}", "clone.inherit_labels"},
	    {"{\"clone\": {\"inherit_labels\": [\"veto-val\"]}}", NULL},
	    {"{\"labels\": {\"required\": [\"veto-key\"]}}", "labels.required"},
	    {"{\"clone\": {\"health_command\": [\"veto-key\"]}}", NULL}, /* no label */
	};
	struct cf_policy *p;
	char err[512];
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		p = NULL;
		err[0] = '\0';
		int rc = cf_policy_parse(cases[i].json, veto_rule, &p, err, sizeof err);
		if (rc != (cases[i].key ? -EINVAL : 0))
			fprintf(stderr, "  %s: %d %s\n", cases[i].json, rc, err);
		CHECK_EQ_INT(rc, cases[i].key ? -EINVAL : 0);
		CHECK(!cases[i].key || strstr(err, cases[i].key));
		cf_policy_free(p);
	}
	/* GCE's rule refuses an upper-case key, the neutral one takes it; control
	 * characters are refused by both */
	static const char upper[] = "{\"clone\": {\"labels\": {\"Owner\": \"Team\"}}}";
	static const char ctrl[] = "{\"labels\": {\"required\": [\"a\\nb\"]}}";
	p = NULL;
	CHECK_EQ_INT(cf_policy_parse(upper, cf_gce_text_valid, &p, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "clone.labels: keys and values must be valid labels") != NULL);
	CHECK_EQ_INT(cf_policy_parse(upper, NULL, &p, err, sizeof err), 0);
	CHECK(p && p->clone.n_labels == 1 && !strcmp(p->clone.labels[0].key, "Owner"));
	cf_policy_free(p);
	p = NULL;
	CHECK_EQ_INT(cf_policy_parse(ctrl, NULL, &p, err, sizeof err), -EINVAL);
	CHECK_EQ_INT(cf_policy_parse(ctrl, cf_gce_text_valid, &p, err, sizeof err), -EINVAL);
	CHECK(strstr(err, "labels.required") != NULL);
}

/* The policy file names the health command the daemon runs, as root under systemd: a file
 * others can change, or one owned by another user, is refused with its name; so is
 * anything not a regular file (a FIFO would hang the start). */
static void test_policy_file_checks(void)
{
	char dir[] = "/tmp/clonefs-test-policy-XXXXXX", path[96], fifo[96], want[200], err[512];
	struct cf_policy *p = NULL;
	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof path, "%s/policy.json", dir);
	snprintf(fifo, sizeof fifo, "%s/fifo.json", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	static const char text[] = "{\"prune\": {\"keep_last\": 1}}\n";
	CHECK(write(fd, text, sizeof text - 1) == (ssize_t) sizeof text - 1);
	close(fd);
	CHECK_EQ_INT(chmod(path, 0644), 0);
	CHECK_EQ_INT(cf_policy_load(path, cf_gce_text_valid, &p, err, sizeof err), 0);
	cf_policy_free(p);
	p = NULL;
	for (int i = 0; i < 2; i++) {
		CHECK_EQ_INT(chmod(path, i ? 0602 : 0664), 0);
		CHECK_EQ_INT(cf_policy_load(path, cf_gce_text_valid, &p, err, sizeof err), -EACCES);
		CHECK(p == NULL);
		snprintf(want, sizeof want, "policy file %s is writable by group or others", path);
		CHECK(strstr(err, want) != NULL);
	}
	CHECK_EQ_INT(chmod(path, 0644), 0);
	CHECK_EQ_INT(chown(path, geteuid() + 4242, (gid_t) -1), 0);
	CHECK_EQ_INT(cf_policy_load(path, cf_gce_text_valid, &p, err, sizeof err), -EACCES);
	snprintf(want, sizeof want, "policy file %s belongs to uid %u", path,
		 (unsigned) geteuid() + 4242);
	CHECK(strstr(err, want) != NULL);
	CHECK_EQ_INT(chown(path, geteuid(), (gid_t) -1), 0);
	CHECK_EQ_INT(cf_policy_load(path, cf_gce_text_valid, &p, err, sizeof err), 0);
	cf_policy_free(p);
	p = NULL;
	CHECK_EQ_INT(mkfifo(fifo, 0600), 0);
	time_t t0 = time(NULL);
	CHECK_EQ_INT(cf_policy_load(fifo, cf_gce_text_valid, &p, err, sizeof err), -EACCES);
	CHECK(time(NULL) - t0 < 3);
	CHECK(strstr(err, "is not a regular file") != NULL);
	unlink(fifo);
	unlink(path);
	rmdir(dir);
}

/* The restore section: its keys, who holds the restore right, the age and
 * its approval, consistency, the replicated selector, provenance labels. */
static const char *lab(const struct cf_label *l, size_t n, const char *k)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(l[i].key, k))
			return l[i].value;
	return NULL;
}

static void test_restore(void)
{
	struct cf_policy *p = NULL;
	char err[256], why[512];
	CHECK_EQ_INT(cf_policy_parse("{\"restore\": {\"max_age\": 1}}", NULL, &p, err, sizeof err),
		     -EINVAL);
	CHECK(strstr(err, "restore.max_age") != NULL);
	CHECK_EQ_INT(cf_policy_parse("{\"restore\": {\"require_consistency\": \"x\"}}", NULL, &p,
				     err, sizeof err),
		     -EINVAL);
	CHECK_EQ_INT(cf_policy_parse("{\"restore\": {\"replicated_selector\": {}}}", NULL, &p, err,
				     sizeof err),
		     -EINVAL);
	CHECK_EQ_INT(
	    cf_policy_parse("{\"restore\": {\"after_command\": []}}", NULL, &p, err, sizeof err),
	    -EINVAL);
	/* defaults: no age limit, the approval label's name, the clone lists decide */
	CHECK_EQ_INT(
	    cf_policy_parse("{\"clone\": {\"allow_uids\": [7]}}", NULL, &p, err, sizeof err), 0);
	CHECK_EQ_STR(p->restore.approve_label, "clonefs-restore-approved");
	struct cf_caller seven = {.uid = 7, .gid = 7}, eight = {.uid = 8, .gid = 8};
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_RESTORE, &seven, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_RESTORE, &eight, why, sizeof why), -EACCES);
	CHECK(strstr(why, "clone.allow_uids") != NULL);
	CHECK(cf_policy_label_right(p, "clonefs-restore-approved") == CF_RIGHT_PRUNE);
	CHECK(cf_policy_label_right(p, "clonefs-resync") == CF_RIGHT_PRUNE);
	cf_policy_free(p);

	CHECK_EQ_INT(
	    cf_policy_parse("{\"clone\": {\"allow_uids\": [7]}, \"restore\": {\"allow_uids\": [8], "
			    "\"max_age_seconds\": 100, \"approve_label\": \"ok-old\", "
			    "\"require_consistency\": \"flush\", "
			    "\"replicated_selector\": {\"role\": \"replica\"}, "
			    "\"after_command\": [\"/bin/true\"]}}",
			    NULL, &p, err, sizeof err),
	    0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_RESTORE, &eight, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_may(p, CF_RIGHT_RESTORE, &seven, why, sizeof why), -EACCES);
	CHECK(strstr(why, "restore.allow_uids") != NULL);
	CHECK(cf_policy_label_right(p, "ok-old") == CF_RIGHT_PRUNE);
	CHECK(cf_policy_label_right(p, "role") == CF_RIGHT_PRUNE);
	CHECK(cf_policy_label_right(p, "env") == CF_RIGHT_LABEL);

	struct cf_label l[3] = {{(char *) "role", (char *) "replica"},
				{(char *) "clonefs-consistency", (char *) "crash"},
				{(char *) "ok-old", (char *) "yes"}};
	struct cf_resource src = {.kind = CF_KIND_SNAPSHOT,
				  .name = (char *) "db-1",
				  .id = (char *) "123",
				  .created = 1000,
				  .labels = l,
				  .nlabels = 2};
	/* age: 100 s allowed; 101 s refused with the age; the label approves */
	CHECK_EQ_INT(cf_policy_restore_age(p, &src, 1100, why, sizeof why), 0);
	CHECK_EQ_INT(cf_policy_restore_age(p, &src, 1101, why, sizeof why), -EPERM);
	CHECK(strstr(why, "101 s") != NULL && strstr(why, "ok-old") != NULL);
	src.nlabels = 3;
	CHECK_EQ_INT(cf_policy_restore_age(p, &src, 100000, why, sizeof why), 0);
	/* consistency: crash < flush; no label cannot be told */
	CHECK_EQ_INT(cf_policy_restore_consistency(p, &src, why, sizeof why), -EPERM);
	CHECK(strstr(why, "crash-consistent") != NULL);
	l[1].value = (char *) "stop";
	CHECK_EQ_INT(cf_policy_restore_consistency(p, &src, why, sizeof why), 0);
	l[1].value = (char *) "flush";
	CHECK_EQ_INT(cf_policy_restore_consistency(p, &src, why, sizeof why), 0);
	src.nlabels = 1;
	CHECK_EQ_INT(cf_policy_restore_consistency(p, &src, why, sizeof why), -EPERM);
	/* replicated: all of the selector */
	CHECK(cf_policy_restore_replicated(p, &src));
	l[0].value = (char *) "primary";
	CHECK(!cf_policy_restore_replicated(p, &src));
	l[0].value = (char *) "replica";
	/* labels: provenance, the mark, the source's consistency */
	src.nlabels = 2;
	struct cf_label *out = NULL;
	size_t n = 0;
	CHECK_EQ_INT(cf_policy_restore_labels(p, &src, 1, true, "ann", 1000 + 86400, &out, &n, why,
					      sizeof why),
		     0);
	CHECK_EQ_STR(lab(out, n, "clonefs-restored-from"), "db-1-123");
	CHECK_EQ_STR(lab(out, n, "clonefs-source-created"), "1970-01-01t00-16-40z");
	CHECK_EQ_STR(lab(out, n, "clonefs-restored-at"), "1970-01-02t00-16-40z");
	CHECK_EQ_STR(lab(out, n, "clonefs-consistency"), "flush");
	CHECK_EQ_STR(lab(out, n, "clonefs-resync"), "required");
	CHECK_EQ_STR(lab(out, n, "clonefs-depth"), "1");
	CHECK_EQ_STR(lab(out, n, "clonefs-created-by"), "ann");
	cf_labels_free(out, n);
	CHECK_EQ_INT(
	    cf_policy_restore_labels(p, &src, 0, false, "ann", 2000, &out, &n, why, sizeof why), 0);
	CHECK(lab(out, n, "clonefs-resync") == NULL);
	cf_labels_free(out, n);
	/* a long name keeps the whole id */
	src.name = (char *) "a-very-long-snapshot-name-that-goes-on-and-on-and-on-for-ever";
	src.id = (char *) "9876543210987654321";
	CHECK_EQ_INT(
	    cf_policy_restore_labels(p, &src, 0, false, "ann", 2000, &out, &n, why, sizeof why), 0);
	const char *from = lab(out, n, "clonefs-restored-from");
	CHECK(from && strlen(from) <= 63 && strstr(from, "-9876543210987654321") &&
	      !strncmp(from, "a-very-long", 11));
	cf_labels_free(out, n);
	/* the effective policy shows the section */
	char *js = cf_policy_to_json(p);
	CHECK(js && strstr(js, "\"require_consistency\": \"flush\"") &&
	      strstr(js, "\"approve_label\": \"ok-old\""));
	free(js);
	cf_policy_free(p);
}

int main(void)
{
	test_restore();
	test_policy_file_checks();
	test_names();
	test_parse();
	test_text_rule();
	test_decisions();
	test_rights();
	test_breaker();
	test_breaker_refund();
	test_trash_value();
	return check_summary();
}
