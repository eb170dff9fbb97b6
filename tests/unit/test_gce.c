/* test_gce.c — the Compute Engine decoders on real-shaped API JSON and on
 * hostile input: URLs to paths, one resource, whole pages (plain and
 * aggregated), error envelopes and their errno. Every hostile case asserts
 * the exact outcome (kept, skipped, or the listing refused), not just that
 * nothing crashed. */
#include "layout.h"
#include "provider.h"
#include "check.h"
#include "gce_auth.h"
#include "gce.h"
#include "gce_priv.h"
#include "http.h"
#include "mini_httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>

#define LINK  "https://www.googleapis.com/compute/v1/projects/demo-project/"
#define LINK2 "https://compute.googleapis.com/compute/v1/projects/demo-project/"

/* ---- URLs ---- */

static void path_ok(const char *url, const char *want)
{
	char buf[CF_PATH_MAX];
	int rc = cf_gce_path_from_url(url, buf, sizeof buf);
	if (rc)
		fprintf(stderr, "  refused %s\n", url);
	CHECK_EQ_INT(rc, 0);
	if (!rc)
		CHECK_EQ_STR(buf, want);
}

static void path_bad(const char *url)
{
	char buf[CF_PATH_MAX] = "untouched";
	int rc = cf_gce_path_from_url(url, buf, sizeof buf);
	if (rc != -EINVAL)
		fprintf(stderr, "  accepted %s as %s\n", url, buf);
	CHECK_EQ_INT(rc, -EINVAL);
}

static void test_urls(void)
{
	path_ok(LINK "zones/us-central1-a/disks/db-data", "zones/us-central1-a/disks/db-data");
	path_ok(LINK2 "zones/us-central1-a/disks/db-data", "zones/us-central1-a/disks/db-data");
	path_ok("https://compute.googleapis.com/compute/beta/projects/p/global/snapshots/s1",
		"global/snapshots/s1");
	path_ok("https://compute.googleapis.com/compute/alpha/projects/p/global/images/i",
		"global/images/i");
	path_ok("http://127.0.0.1:8080/compute/v1/projects/p/global/machineImages/mi",
		"global/machineImages/mi");
	path_ok("projects/demo-project/regions/us-central1/disks/r1",
		"regions/us-central1/disks/r1");
	path_ok(LINK "zones/europe-west1-b/instances/db-1", "zones/europe-west1-b/instances/db-1");
	/* Another project's image is still a path (what it names is not ours). */
	path_ok(
	    "https://www.googleapis.com/compute/v1/projects/debian-cloud/global/images/debian-12",
	    "global/images/debian-12");
	path_ok("projects/example.com:proj/global/snapshots/s", "global/snapshots/s");

	path_bad("");
	path_bad("https://evil.example/../../etc/passwd");
	path_bad(LINK "zones/z/disks/..");
	path_bad(LINK "zones/../disks/d");
	path_bad(LINK "global/snapshots/a/b");
	path_bad(LINK "global/snapshots/");
	path_bad(LINK "global/snapshots");
	path_bad(LINK "zones/us-central1-a");
	path_bad(LINK "zones/z/snapshots/s");	/* snapshots are global */
	path_bad(LINK "regions/r/instances/i"); /* instances are zonal */
	path_bad(LINK "global/disks/d");
	path_bad(LINK "global/snapshots/s?alt=json");
	path_bad(LINK "global/snapshots/s#x");
	path_bad(LINK "global/snapshots/%2e%2e");
	path_bad(LINK "global/snapshots/s p");
	path_bad(LINK "global/snapshots/s\n");
	path_bad("https://www.googleapis.com/compute/v2/projects/p/global/snapshots/s");
	path_bad("https://www.googleapis.com/projects/p/global/snapshots/s");
	path_bad("https:///compute/v1/projects/p/global/snapshots/s");
	path_bad("https://x/compute/v1/projects//global/snapshots/s");
	path_bad("https://x/compute/v1/projects/../global/snapshots/s");
	path_bad("ftp://x/compute/v1/projects/p/global/snapshots/s");
	path_bad("global/snapshots/s"); /* project-relative: the API never writes that */
	path_bad("/projects/p/global/snapshots/s");
	path_bad("projects/debian-cloud/global/images/family/debian-12");
	path_bad("projects/p/global/snapshots/s\\x");
	path_bad(LINK "global/snapshots/s\xc3\xa9"); /* not ASCII */
	path_bad(LINK "global/snapshots/s\x7f");

	char small[8];
	CHECK_EQ_INT(cf_gce_path_from_url(LINK "global/snapshots/s1", small, sizeof small),
		     -ENAMETOOLONG);
	char huge[8192];
	memset(huge, 'a', sizeof huge - 1);
	huge[sizeof huge - 1] = '\0';
	memcpy(huge, "projects/p/global/snapshots/", 28);
	path_bad(huge);

	char scope[64];
	CHECK_EQ_INT(cf_gce_scope_from_url(LINK "zones/us-central1-a", scope, sizeof scope), 0);
	CHECK_EQ_STR(scope, "zones/us-central1-a");
	CHECK_EQ_INT(cf_gce_scope_from_url(LINK2 "regions/us-central1", scope, sizeof scope), 0);
	CHECK_EQ_STR(scope, "regions/us-central1");
	CHECK_EQ_INT(cf_gce_scope_from_url(LINK "zones/US-1", scope, sizeof scope), -EINVAL);
	CHECK_EQ_INT(cf_gce_scope_from_url(LINK "zones/a/b", scope, sizeof scope), -EINVAL);
	CHECK_EQ_INT(cf_gce_scope_from_url(LINK "global", scope, sizeof scope), -EINVAL);
	CHECK_EQ_INT(cf_gce_scope_from_url(LINK "zones/", scope, sizeof scope), -EINVAL);
}

/* ---- one resource ---- */

static int decode(const char *json, enum cf_kind kind, const char *hint, struct cf_resource *r,
		  char *why, size_t why_size)
{
	json_error_t je;
	json_t *item = json_loads(json, JSON_ALLOW_NUL | JSON_DECODE_ANY, &je);
	if (!item) {
		fprintf(stderr, "test JSON does not parse: %s: %s\n", je.text, json);
		CHECK(item != NULL);
		return -999;
	}
	json_decref(item);
	return cf_gce_decode_resource(json, strlen(json), kind, hint, r, why, why_size);
}

static const char snapshot_json[] =
    "{\n"
    "  \"kind\": \"compute#snapshot\",\n"
    "  \"id\": \"8734691324536437134\",\n"
    "  \"creationTimestamp\": \"2024-05-01T10:20:30.123-07:00\",\n"
    "  \"name\": \"db-data-2024-05-01\",\n"
    "  \"description\": \"nightly, \\u00e9t\\u00e9\",\n"
    "  \"status\": \"READY\",\n"
    "  \"sourceDisk\": \"" LINK "zones/us-central1-a/disks/db-data\",\n"
    "  \"sourceDiskId\": \"-8794561234\",\n"
    "  \"diskSizeGb\": \"200\",\n"
    "  \"storageBytes\": \"53687091200\",\n"
    "  \"storageBytesStatus\": \"UP_TO_DATE\",\n"
    "  \"licenses\": [\"https://www.googleapis.com/compute/v1/projects/debian-cloud/global/"
    "licenses/debian-12-bookworm\"],\n"
    "  \"selfLink\": \"" LINK2 "global/snapshots/db-data-2024-05-01\",\n"
    "  \"labelFingerprint\": \"42WmSpB8rSM=\",\n"
    "  \"labels\": {\"tier\": \"gold\", \"owner\": \"team-a\", \"env\": \"\"},\n"
    "  \"storageLocations\": [\"us\"],\n"
    "  \"downloadBytes\": \"53687091300\",\n"
    "  \"snapshotType\": \"STANDARD\",\n"
    "  \"architecture\": \"X86_64\",\n"
    "  \"guestFlush\": true,\n"
    "  \"satisfiesPzi\": false\n"
    "}\n";

static void test_snapshot(void)
{
	struct cf_resource r;
	char why[256];
	CHECK_EQ_INT(decode(snapshot_json, CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why), 0);
	CHECK_EQ_INT(r.kind, CF_KIND_SNAPSHOT);
	CHECK_EQ_STR(r.scope, "global");
	CHECK_EQ_STR(r.name, "db-data-2024-05-01");
	CHECK_EQ_STR(r.id, "8734691324536437134");
	CHECK_EQ_STR(r.status, "READY");
	CHECK_EQ_INT(r.created, 1714584030);
	CHECK_EQ_INT(r.created_ns, 123000000);
	CHECK_EQ_INT(r.size_bytes, 200ULL << 30);
	CHECK_EQ_INT(r.stored_bytes, 53687091200ULL);
	CHECK_EQ_STR(r.fingerprint, "42WmSpB8rSM=");
	CHECK_EQ_INT(r.nlabels, 3);
	if (r.nlabels == 3) { /* sorted by key */
		CHECK_EQ_STR(r.labels[0].key, "env");
		CHECK_EQ_STR(r.labels[0].value, "");
		CHECK_EQ_STR(r.labels[1].key, "owner");
		CHECK_EQ_STR(r.labels[1].value, "team-a");
		CHECK_EQ_STR(r.labels[2].key, "tier");
		CHECK_EQ_STR(r.labels[2].value, "gold");
	}
	CHECK_EQ_STR(r.source, "zones/us-central1-a/disks/db-data");
	CHECK_EQ_STR(r.source_id, "-8794561234");
	CHECK(r.origin == NULL);
	CHECK_EQ_INT(r.nlinks, 0);
	/* resource.json: the document's own bytes, as the API sent them (the
	 * value's span: no whitespace around it), every field kept. */
	CHECK(r.raw != NULL);
	size_t doclen = strlen(snapshot_json);
	while (doclen && snapshot_json[doclen - 1] == '\n')
		doclen--;
	CHECK_EQ_INT(r.raw_len, doclen);
	CHECK(r.raw && r.raw[r.raw_len] == '\0' && !memcmp(r.raw, snapshot_json, doclen));
	json_t *back = r.raw ? json_loads(r.raw, 0, NULL) : NULL;
	json_t *orig = json_loads(snapshot_json, 0, NULL);
	CHECK(back && orig && json_equal(back, orig));
	json_decref(back);
	json_decref(orig);
	cf_resource_clear(&r);

	/* The kind from the document itself, integers where strings are usual,
	 * a JSON-integer id, a Z timestamp with a long fraction. */
	CHECK_EQ_INT(decode("{\"kind\":\"compute#snapshot\",\"name\":\"s2\",\"id\":123,"
			    "\"diskSizeGb\":10,\"storageBytes\":1024,\"sourceDiskId\":-5,"
			    "\"creationTimestamp\":\"2024-05-01T22:50:30.123456789123+05:30\"}",
			    CF_KIND_NONE, NULL, &r, why, sizeof why),
		     0);
	CHECK_EQ_INT(r.kind, CF_KIND_SNAPSHOT);
	CHECK_EQ_STR(r.id, "123");
	CHECK_EQ_INT(r.size_bytes, 10ULL << 30);
	CHECK_EQ_INT(r.stored_bytes, 1024);
	CHECK_EQ_STR(r.source_id, "-5");
	CHECK_EQ_INT(r.created, 1714584030);
	CHECK_EQ_INT(r.created_ns, 123456789);
	CHECK(r.status == NULL && r.labels == NULL && r.source == NULL);
	cf_resource_clear(&r);

	/* The largest id that fits. A size past CF_SIZE_MAX (1 EiB) is shown as
	 * CF_SIZE_MAX, never wrapped into a negative off_t: diskSizeGb 17179869183 is
	 * 2^64 - 2^30 bytes, past int64; storageBytes past uint64 too. */
	CHECK_EQ_INT(
	    decode("{\"name\":\"s3\",\"id\":\"18446744073709551615\","
		   "\"diskSizeGb\":\"17179869183\",\"storageBytes\":\"18446744073709551615\"}",
		   CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why),
	    0);
	CHECK_EQ_STR(r.id, "18446744073709551615");
	CHECK(r.size_bytes == CF_SIZE_MAX);
	CHECK(r.stored_bytes == CF_SIZE_MAX);
	CHECK(r.size_bytes <= (uint64_t) INT64_MAX);
	cf_resource_clear(&r);
	CHECK_EQ_INT(decode("{\"name\":\"s4\",\"diskSizeGb\":\"17179869184\","
			    "\"storageBytes\":\"18446744073709551616\",\"id\":\"-1\"}",
			    CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why),
		     0);
	CHECK(r.size_bytes == CF_SIZE_MAX);
	CHECK(r.stored_bytes == CF_SIZE_MAX);
	CHECK(r.id == NULL);
	cf_resource_clear(&r);
	/* 8 EiB (2^33 GiB) is the first that overflows int64; 1 GiB under the maximum and
	 * the maximum itself are kept as they are; a JSON integer too; digits beyond any
	 * integer type too. */
	CHECK_EQ_INT(decode("{\"name\":\"s5\",\"diskSizeGb\":\"8589934592\","
			    "\"storageBytes\":9223372036854775807}",
			    CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why),
		     0);
	CHECK(r.size_bytes == CF_SIZE_MAX && r.stored_bytes == CF_SIZE_MAX);
	cf_resource_clear(&r);
	CHECK_EQ_INT(decode("{\"name\":\"s6\",\"diskSizeGb\":1073741823,"
			    "\"storageBytes\":\"1152921504606846976\"}",
			    CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why),
		     0);
	CHECK(r.size_bytes == CF_SIZE_MAX - (1ULL << 30));
	CHECK(r.stored_bytes == CF_SIZE_MAX);
	cf_resource_clear(&r);
	CHECK_EQ_INT(decode("{\"name\":\"s7\",\"diskSizeGb\":\"1000000000000000000000000000\","
			    "\"storageBytes\":\"12x\"}",
			    CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why),
		     0);
	CHECK(r.size_bytes == CF_SIZE_MAX);
	CHECK_EQ_INT(r.stored_bytes, 0);
	cf_resource_clear(&r);
}

static void test_other_kinds(void)
{
	struct cf_resource r;
	char why[256];

	/* image: made from a disk, its archive is what is stored */
	CHECK_EQ_INT(
	    decode("{\"kind\":\"compute#image\",\"name\":\"golden-1\",\"status\":\"READY\","
		   "\"sourceDisk\":\"" LINK "zones/us-central1-a/disks/data-0\","
		   "\"sourceDiskId\":\"77\",\"sourceType\":\"RAW\",\"diskSizeGb\":\"10\","
		   "\"archiveSizeBytes\":\"3221225472\","
		   "\"creationTimestamp\":\"2024-05-01T17:20:30.000+00:00\"}",
		   CF_KIND_IMAGE, NULL, &r, why, sizeof why),
	    0);
	CHECK_EQ_STR(r.scope, "global");
	CHECK_EQ_STR(r.source, "zones/us-central1-a/disks/data-0");
	CHECK_EQ_STR(r.source_id, "77");
	CHECK_EQ_INT(r.size_bytes, 10ULL << 30);
	CHECK_EQ_INT(r.stored_bytes, 3ULL << 30);
	CHECK(r.origin == NULL);
	cf_resource_clear(&r);
	/* an image made from a snapshot or from another project's image */
	CHECK_EQ_INT(decode("{\"name\":\"i2\",\"sourceSnapshot\":\"" LINK "global/snapshots/s1\"}",
			    CF_KIND_IMAGE, NULL, &r, why, sizeof why),
		     0);
	CHECK_EQ_STR(r.origin, "global/snapshots/s1");
	CHECK(r.source == NULL);
	cf_resource_clear(&r);
	CHECK_EQ_INT(
	    decode("{\"name\":\"i3\",\"sourceImage\":\"https://www.googleapis.com/compute/"
		   "v1/projects/debian-cloud/global/images/debian-12-bookworm-v20240515\"}",
		   CF_KIND_IMAGE, NULL, &r, why, sizeof why),
	    0);
	CHECK_EQ_STR(r.origin, "global/images/debian-12-bookworm-v20240515");
	cf_resource_clear(&r);

	/* machine image: made from an instance */
	CHECK_EQ_INT(
	    decode("{\"kind\":\"compute#machineImage\",\"name\":\"db-0-mi-1\","
		   "\"status\":\"READY\",\"sourceInstance\":\"" LINK
		   "zones/us-central1-a/instances/db-0\",\"totalStorageBytes\":\"5368709120\","
		   "\"savedDisks\":[{\"kind\":\"compute#savedDisk\",\"sourceDisk\":\"" LINK
		   "zones/us-central1-a/disks/data-0\"}]}",
		   CF_KIND_MACHINE_IMAGE, NULL, &r, why, sizeof why),
	    0);
	CHECK_EQ_STR(r.source, "zones/us-central1-a/instances/db-0");
	CHECK_EQ_INT(r.stored_bytes, 5ULL << 30);
	CHECK_EQ_INT(r.size_bytes, 0);
	cf_resource_clear(&r);
	/* a source of the wrong kind is dropped, the resource kept */
	CHECK_EQ_INT(decode("{\"name\":\"mi2\",\"sourceInstance\":\"" LINK
			    "zones/us-central1-a/disks/data-0\"}",
			    CF_KIND_MACHINE_IMAGE, NULL, &r, why, sizeof why),
		     0);
	CHECK(r.source == NULL);
	cf_resource_clear(&r);

	/* disk: sizeGb, lineage, users; the scope from its own zone */
	CHECK_EQ_INT(decode("{\"kind\":\"compute#disk\",\"name\":\"data-0\",\"sizeGb\":\"10\","
			    "\"zone\":\"" LINK "zones/us-central1-a\",\"status\":\"READY\","
			    "\"sourceSnapshot\":\"" LINK "global/snapshots/s1\","
			    "\"sourceSnapshotId\":\"99\",\"type\":\"" LINK
			    "zones/us-central1-a/diskTypes/pd-ssd\",\"users\":[\"" LINK
			    "zones/us-central1-a/instances/db-0\",\"" LINK2
			    "zones/us-central1-a/instances/db-1\",\"junk\",42]}",
			    CF_KIND_DISK, NULL, &r, why, sizeof why),
		     0);
	CHECK_EQ_STR(r.scope, "zones/us-central1-a");
	CHECK_EQ_INT(r.size_bytes, 10ULL << 30);
	CHECK_EQ_STR(r.origin, "global/snapshots/s1");
	CHECK_EQ_INT(r.nlinks, 2);
	if (r.nlinks == 2) {
		CHECK_EQ_STR(r.links[0], "zones/us-central1-a/instances/db-0");
		CHECK_EQ_STR(r.links[1], "zones/us-central1-a/instances/db-1");
	}
	cf_resource_clear(&r);
	/* a regional disk */
	CHECK_EQ_INT(decode("{\"name\":\"r1\",\"region\":\"" LINK "regions/us-central1\","
			    "\"replicaZones\":[\"" LINK "zones/us-central1-a\",\"" LINK
			    "zones/us-central1-b\"],\"sizeGb\":\"20\"}",
			    CF_KIND_DISK, "regions/us-central1", &r, why, sizeof why),
		     0);
	CHECK_EQ_STR(r.scope, "regions/us-central1");
	cf_resource_clear(&r);

	/* instance: attached disks as links, made from a machine image */
	CHECK_EQ_INT(
	    decode("{\"kind\":\"compute#instance\",\"name\":\"db-0\",\"status\":\"RUNNING\","
		   "\"zone\":\"" LINK "zones/us-central1-a\","
		   "\"sourceMachineImage\":\"" LINK "global/machineImages/mi\","
		   "\"disks\":[{\"source\":\"" LINK "zones/us-central1-a/disks/data-0\","
		   "\"boot\":true},{\"source\":\"" LINK "regions/us-central1/disks/r1\"},"
		   "{\"type\":\"SCRATCH\"},\"junk\",{\"source\":7}]}",
		   CF_KIND_INSTANCE, "zones/us-central1-a", &r, why, sizeof why),
	    0);
	CHECK_EQ_STR(r.status, "RUNNING");
	CHECK_EQ_STR(r.origin, "global/machineImages/mi");
	CHECK_EQ_INT(r.nlinks, 2);
	if (r.nlinks == 2) {
		CHECK_EQ_STR(r.links[0], "zones/us-central1-a/disks/data-0");
		CHECK_EQ_STR(r.links[1], "regions/us-central1/disks/r1");
	}
	cf_resource_clear(&r);

	/* zone and region listings' items */
	CHECK_EQ_INT(decode("{\"kind\":\"compute#zone\",\"id\":\"2000\",\"name\":\"us-central1-a\","
			    "\"status\":\"UP\",\"region\":\"" LINK "regions/us-central1\"}",
			    CF_KIND_ZONE, NULL, &r, why, sizeof why),
		     0);
	CHECK_EQ_INT(r.kind, CF_KIND_ZONE);
	CHECK_EQ_STR(r.scope, "global");
	CHECK_EQ_STR(r.name, "us-central1-a");
	CHECK_EQ_STR(r.status, "UP");
	cf_resource_clear(&r);
	CHECK_EQ_INT(decode("{\"kind\":\"compute#region\",\"name\":\"us-central1\"}", CF_KIND_NONE,
			    NULL, &r, why, sizeof why),
		     0);
	CHECK_EQ_INT(r.kind, CF_KIND_REGION);
	cf_resource_clear(&r);
}

/* ---- hostile items ---- */

static void skipped(const char *json, enum cf_kind kind, const char *hint, const char *why_has)
{
	struct cf_resource r;
	char why[256] = "";
	int rc = decode(json, kind, hint, &r, why, sizeof why);
	if (rc != -EINVAL)
		fprintf(stderr, "  kept: %.200s\n", json);
	CHECK_EQ_INT(rc, -EINVAL);
	CHECK(r.name == NULL && r.raw == NULL); /* nothing half-built left behind */
	if (!strstr(why, why_has))
		fprintf(stderr, "  why \"%s\" lacks \"%s\"\n", why, why_has);
	CHECK(strstr(why, why_has) != NULL);
	CHECK(strlen(why) < 200); /* a reason quotes an excerpt of what came from outside */
}

static void test_hostile_items(void)
{
	struct cf_resource r;
	char why[256];

	skipped("{\"status\":\"READY\"}", CF_KIND_SNAPSHOT, NULL, "no name");
	skipped("{\"name\":12345}", CF_KIND_SNAPSHOT, NULL, "not a string");
	skipped("{\"name\":null}", CF_KIND_SNAPSHOT, NULL, "not a string");
	skipped("{\"name\":\"../escape\"}", CF_KIND_SNAPSHOT, NULL, "\"../escape\"");
	skipped("{\"name\":\"a/b\"}", CF_KIND_SNAPSHOT, NULL, "not a valid");
	skipped("{\"name\":\"..\"}", CF_KIND_SNAPSHOT, NULL, "not a valid");
	skipped("{\"name\":\".\"}", CF_KIND_SNAPSHOT, NULL, "not a valid");
	skipped("{\"name\":\"\"}", CF_KIND_SNAPSHOT, NULL, "not a valid");
	skipped("{\"name\":\"UPPER\"}", CF_KIND_SNAPSHOT, NULL, "not a valid");
	skipped("{\"name\":\"a\\u0000b\"}", CF_KIND_SNAPSHOT, NULL, "not a string");
	skipped("{\"name\":\"a\\nb\"}", CF_KIND_SNAPSHOT, NULL, "\"a?b\"");
	skipped("{\"name\":\"\\u00e9t\\u00e9\"}", CF_KIND_SNAPSHOT, NULL, "not a valid");
	skipped("[1,2]", CF_KIND_SNAPSHOT, NULL, "not a JSON object");
	skipped("\"x\"", CF_KIND_SNAPSHOT, NULL, "not a JSON object");
	skipped("{\"kind\":\"compute#disk\",\"name\":\"d\"}", CF_KIND_SNAPSHOT, NULL,
		"where compute#snapshot");
	skipped("{\"kind\":\"compute#firewall\",\"name\":\"d\"}", CF_KIND_NONE, NULL, "kind");
	skipped("{\"name\":\"d\"}", CF_KIND_NONE, NULL, "kind");
	/* a zonal resource must say where it lives, and agree with its listing */
	skipped("{\"name\":\"d\"}", CF_KIND_DISK, NULL, "no zone");
	skipped("{\"name\":\"d\",\"zone\":\"" LINK "zones/us-central1-b\"}", CF_KIND_DISK,
		"zones/us-central1-a", "listed under zones/us-central1-a");
	skipped("{\"name\":\"d\",\"zone\":42}", CF_KIND_DISK, "zones/us-central1-a", "zone");
	skipped("{\"name\":\"d\",\"zone\":\"" LINK "zones/../x\"}", CF_KIND_DISK,
		"zones/us-central1-a", "zone");
	skipped("{\"name\":\"i\",\"zone\":null,\"region\":\"" LINK "regions/us-central1\"}",
		CF_KIND_INSTANCE, "regions/us-central1", "cannot live");

	/* the 10 MB name: skipped, and the reason quotes only an excerpt */
	size_t big = 10 << 20;
	char *s = malloc(big + 64);
	CHECK(s != NULL);
	if (!s)
		return;
	strcpy(s, "{\"name\":\"");
	memset(s + 9, 'x', big);
	strcpy(s + 9 + big, "\"}");
	skipped(s, CF_KIND_SNAPSHOT, NULL, "...(10485760 bytes)");

	/* a 10 MB label value: that label dropped, the others kept; the whole
	 * document is over 1 MiB, so no resource.json, but the resource stays */
	strcpy(s, "{\"name\":\"ok-huge-label\",\"labels\":{\"fine\":\"yes\",\"big\":\"");
	size_t off = strlen(s);
	memset(s + off, 'v', big);
	strcpy(s + off + big, "\"}}");
	CHECK_EQ_INT(decode(s, CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why), 0);
	CHECK_EQ_INT(r.nlabels, 1);
	if (r.nlabels == 1)
		CHECK_EQ_STR(r.labels[0].key, "fine");
	CHECK(r.raw == NULL && r.raw_len == 0);
	cf_resource_clear(&r);
	free(s);

	/* wrong types everywhere: kept with what could be decoded */
	CHECK_EQ_INT(decode("{\"name\":\"ok-weird-types\",\"status\":[\"READY\"],"
			    "\"diskSizeGb\":{\"a\":1},\"storageBytes\":\"lots\","
			    "\"creationTimestamp\":17,\"labels\":[\"not\",\"a\",\"map\"],"
			    "\"sourceDisk\":42,\"sourceDiskId\":\"12x\",\"id\":true,"
			    "\"labelFingerprint\":{},\"kind\":5}",
			    CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why),
		     0);
	CHECK_EQ_STR(r.name, "ok-weird-types");
	CHECK(r.status == NULL && r.id == NULL && r.source == NULL && r.source_id == NULL &&
	      r.fingerprint == NULL);
	CHECK_EQ_INT(r.size_bytes, 0);
	CHECK_EQ_INT(r.stored_bytes, 0);
	CHECK_EQ_INT(r.created, 0);
	CHECK_EQ_INT(r.nlabels, 0);
	CHECK(r.raw != NULL);
	cf_resource_clear(&r);

	/* odd values of the right type */
	CHECK_EQ_INT(
	    decode("{\"name\":\"ok-odd\",\"status\":\"READY\\u0007\","
		   "\"diskSizeGb\":\"-1\",\"storageBytes\":-5,\"id\":\"123456789012345678901\","
		   "\"creationTimestamp\":\"2024-02-30T00:00:00Z\",\"labelFingerprint\":\"a b\","
		   "\"sourceDisk\":\"https://evil.example/../../etc/passwd\","
		   "\"description\":\"nul \\u0000 inside\"}",
		   CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why),
	    0);
	CHECK(r.status == NULL && r.id == NULL && r.source == NULL && r.fingerprint == NULL);
	CHECK_EQ_INT(r.size_bytes, 0);
	CHECK_EQ_INT(r.stored_bytes, 0);
	CHECK_EQ_INT(r.created, 0);
	CHECK(r.raw && strstr(r.raw, "nul \\u0000 inside")); /* kept escaped in resource.json */
	cf_resource_clear(&r);
	/* member names written with escapes are the names they decode to */
	CHECK_EQ_INT(decode("{\"n\\u0061me\":\"esc-1\",\"st\\u0061tus\":\"READY\","
			    "\"\\u0069d\":\"42\",\"labels\":{\"k\":\"v\"}}",
			    CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why),
		     0);
	CHECK(r.name && !strcmp(r.name, "esc-1"));
	CHECK(r.status && !strcmp(r.status, "READY"));
	CHECK(r.id && !strcmp(r.id, "42"));
	CHECK_EQ_INT(r.nlabels, 1);
	cf_resource_clear(&r);
	/* an item of more members than the decoder indexes is read all the same */
	char wide[2048];
	size_t at = 0;
	for (int i = 0; i < 80; i++)
		at += (size_t) snprintf(wide + at, sizeof wide - at, "%s\"x%d\":%d", i ? "," : "{",
					i, i);
	snprintf(wide + at, sizeof wide - at, ",\"name\":\"many\",\"status\":\"READY\"}");
	CHECK_EQ_INT(decode(wide, CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why), 0);
	CHECK(r.name && !strcmp(r.name, "many") && r.status && !strcmp(r.status, "READY"));
	cf_resource_clear(&r);
	char longstatus[128];
	snprintf(longstatus, sizeof longstatus, "{\"name\":\"ok-s\",\"status\":\"%033d\"}", 0);
	CHECK_EQ_INT(decode(longstatus, CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why), 0);
	CHECK(r.status == NULL);
	cf_resource_clear(&r);

	/* labels: bad ones dropped one by one; at most 64 kept */
	CHECK_EQ_INT(
	    decode("{\"name\":\"ok-labels\",\"labels\":{\"a\":\"1\",\"b\":2,\"c\":null,"
		   "\"d\":{},\"\":\"empty-key\",\"e\\u0001\":\"ctl\",\"f\":\"ctl\\n\","
		   "\"g\":\"nul\\u0000\","
		   "\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\":\"x\","
		   "\"h\":\"vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv\","
		   "\"z\":\"\\u00e9t\\u00e9\"}}",
		   CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why),
	    0);
	CHECK_EQ_INT(r.nlabels, 2);
	if (r.nlabels == 2) {
		CHECK_EQ_STR(r.labels[0].key, "a");
		CHECK_EQ_STR(r.labels[1].key, "z");
		CHECK_EQ_STR(r.labels[1].value, "\xc3\xa9t\xc3\xa9");
	}
	cf_resource_clear(&r);
	json_t *many = json_pack("{s:s}", "name", "ok-many");
	json_t *labels = json_object();
	for (int i = 0; i < 100; i++) {
		char k[8];
		snprintf(k, sizeof k, "k%03d", i);
		json_object_set_new(labels, k, json_string("v"));
	}
	json_object_set_new(many, "labels", labels);
	char *text = json_dumps(many, JSON_COMPACT);
	CHECK_EQ_INT(decode(text, CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why), 0);
	free(text);
	CHECK_EQ_INT(r.nlabels, CF_LABELS_MAX);
	cf_resource_clear(&r);
	json_decref(many);

	/* an instance with 200 attached disks keeps 128 links */
	json_t *inst = json_pack("{s:s,s:s}", "name", "big-vm", "zone", LINK "zones/z1");
	json_t *disks = json_array();
	for (int i = 0; i < 200; i++) {
		char u[160];
		snprintf(u, sizeof u, LINK "zones/z1/disks/d%d", i);
		json_array_append_new(disks, json_pack("{s:s}", "source", u));
	}
	json_object_set_new(inst, "disks", disks);
	text = json_dumps(inst, JSON_COMPACT);
	CHECK_EQ_INT(decode(text, CF_KIND_INSTANCE, NULL, &r, why, sizeof why), 0);
	free(text);
	CHECK_EQ_INT(r.nlinks, CF_LINKS_MAX);
	cf_resource_clear(&r);
	json_decref(inst);

	/* deep nesting inside one field: the decoder does not recurse into it */
	size_t depth = 1000;
	char *deep = malloc(depth * 2 + 64);
	if (deep) {
		strcpy(deep, "{\"name\":\"ok-deep\",\"description\":");
		off = strlen(deep);
		memset(deep + off, '[', depth);
		memset(deep + off + depth, ']', depth);
		strcpy(deep + off + 2 * depth, "}");
		CHECK_EQ_INT(decode(deep, CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why), 0);
		CHECK(r.raw && !strcmp(r.raw, deep)); /* already compact: the same bytes */
		cf_resource_clear(&r);
		free(deep);
	}
}

/* ---- pages ---- */

static int page(const char *body, enum cf_listing l, struct cf_page *p, struct cf_error *e)
{
	return cf_gce_decode_page(body, strlen(body), l, p, e);
}

static void refused(const char *body, enum cf_listing l, int want, const char *msg_has)
{
	struct cf_page p;
	struct cf_error e;
	int rc = page(body, l, &p, &e);
	if (rc != want)
		fprintf(stderr, "  page %.120s -> %d\n", body, rc);
	CHECK_EQ_INT(rc, want);
	CHECK(p.items == NULL && p.n == 0 && p.next_token == NULL && p.scopes == NULL);
	if (!strstr(e.message, msg_has))
		fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", e.message, msg_has);
	CHECK(strstr(e.message, msg_has) != NULL);
	cf_page_clear(&p);
}

static void test_plain_pages(void)
{
	struct cf_page p;
	struct cf_error e;
	const char *body =
	    "{\"kind\":\"compute#snapshotList\",\"id\":\"projects/demo-project/global/snapshots\","
	    "\"items\":["
	    "{\"kind\":\"compute#snapshot\",\"name\":\"s1\",\"diskSizeGb\":\"1\","
	    "\"creationTimestamp\":\"2024-05-01T10:20:30.123-07:00\"},"
	    "{\"name\":\"../escape\"},"
	    "{\"name\":\"s2\",\"diskSizeGb\":2},"
	    "17,"
	    "{\"name\":\"s3\",\"selfLink\":\"" LINK2 "global/snapshots/s3\"}],"
	    "\"nextPageToken\":\"Cg0IARIJc25hcC0wMDAx+/=\","
	    "\"selfLink\":\"" LINK "global/snapshots\"}";
	CHECK_EQ_INT(page(body, CF_LIST_SNAPSHOTS, &p, &e), 0);
	CHECK_EQ_INT(p.n, 3);
	CHECK_EQ_INT(p.skipped, 2);
	CHECK_EQ_STR(p.next_token, "Cg0IARIJc25hcC0wMDAx+/=");
	CHECK_EQ_INT(p.nscopes, 0);
	if (p.n == 3) {
		CHECK_EQ_STR(p.items[0].name, "s1");
		CHECK_EQ_INT(p.items[0].created, 1714584030);
		CHECK_EQ_STR(p.items[1].name, "s2");
		CHECK_EQ_INT(p.items[1].size_bytes, 2ULL << 30);
		CHECK_EQ_STR(p.items[2].name, "s3");
	}
	cf_page_clear(&p);
	CHECK(p.items == NULL && p.n == 0);

	/* the last page: no token, or an empty one; no items at all */
	CHECK_EQ_INT(page("{\"items\":[],\"nextPageToken\":\"\"}", CF_LIST_IMAGES, &p, &e), 0);
	CHECK(p.next_token == NULL && p.n == 0);
	cf_page_clear(&p);
	CHECK_EQ_INT(
	    page("{\"kind\":\"compute#machineImageList\"}", CF_LIST_MACHINE_IMAGES, &p, &e), 0);
	CHECK(p.next_token == NULL && p.n == 0 && p.skipped == 0);
	cf_page_clear(&p);
	CHECK_EQ_INT(page("{\"items\":null,\"nextPageToken\":null}", CF_LIST_SNAPSHOTS, &p, &e), 0);
	cf_page_clear(&p);

	/* zones */
	CHECK_EQ_INT(page("{\"items\":[{\"kind\":\"compute#zone\",\"name\":\"us-central1-a\"},"
			  "{\"kind\":\"compute#zone\",\"name\":\"europe-west1-b\"},"
			  "{\"kind\":\"compute#zone\",\"name\":\"Bad Zone\"}]}",
			  CF_LIST_ZONES, &p, &e),
		     0);
	CHECK_EQ_INT(p.n, 2);
	CHECK_EQ_INT(p.skipped, 1);
	CHECK(p.n == 2 && p.items[1].kind == CF_KIND_ZONE &&
	      !strcmp(p.items[1].name, "europe-west1-b"));
	cf_page_clear(&p);

	/* more skipped items than are logged one by one: all counted */
	char many[4096] = "{\"items\":[";
	for (int i = 0; i < 100; i++)
		strcat(many, i ? ",{}" : "{}");
	strcat(many, "]}");
	CHECK_EQ_INT(page(many, CF_LIST_SNAPSHOTS, &p, &e), 0);
	CHECK_EQ_INT(p.skipped, 100);
	CHECK_EQ_INT(p.n, 0);
	cf_page_clear(&p);
}

static void test_aggregated_pages(void)
{
	struct cf_page p;
	struct cf_error e;
	const char *body =
	    "{\"kind\":\"compute#diskAggregatedList\",\"id\":\"projects/demo-project/aggregated/"
	    "disks\","
	    "\"items\":{"
	    "\"zones/us-central1-a\":{\"disks\":[{\"kind\":\"compute#disk\",\"name\":\"data-0\","
	    "\"sizeGb\":\"10\",\"zone\":\"" LINK "zones/us-central1-a\",\"users\":[\"" LINK
	    "zones/us-central1-a/instances/db-0\"]},"
	    "{\"name\":\"stray\",\"zone\":\"" LINK "zones/asia-east1-a\"},"
	    "{\"name\":\"no-zone-field\"}]},"
	    "\"zones/europe-west1-b\":{\"warning\":{\"code\":\"NO_RESULTS_ON_PAGE\","
	    "\"message\":\"There are no results for scope 'zones/europe-west1-b' on this page.\","
	    "\"data\":[{\"key\":\"scope\",\"value\":\"zones/europe-west1-b\"}]}},"
	    "\"regions/us-central1\":{\"disks\":[{\"name\":\"r1\",\"region\":\"" LINK
	    "regions/us-central1\"}]},"
	    "\"zones/../etc\":{\"disks\":[{\"name\":\"evil\"},{\"name\":\"evil2\"}]},"
	    "\"global\":{\"warning\":{\"code\":\"NO_RESULTS_ON_PAGE\"}}"
	    "},\"nextPageToken\":\"tok\"}";
	CHECK_EQ_INT(page(body, CF_LIST_DISKS, &p, &e), 0);
	CHECK_EQ_INT(p.n, 3);
	CHECK_EQ_INT(p.skipped, 3); /* stray (wrong zone), evil, evil2 (bad scope) */
	CHECK_EQ_STR(p.next_token, "tok");
	CHECK_EQ_INT(p.nscopes, 3);
	if (p.nscopes == 3) {
		CHECK_EQ_STR(p.scopes[0], "zones/us-central1-a");
		CHECK_EQ_STR(p.scopes[1], "zones/europe-west1-b");
		CHECK_EQ_STR(p.scopes[2], "regions/us-central1");
	}
	if (p.n == 3) {
		CHECK_EQ_STR(p.items[0].name, "data-0");
		CHECK_EQ_STR(p.items[0].scope, "zones/us-central1-a");
		CHECK_EQ_INT(p.items[0].nlinks, 1);
		CHECK_EQ_STR(p.items[1].name, "no-zone-field");
		CHECK_EQ_STR(p.items[1].scope, "zones/us-central1-a");
		CHECK_EQ_STR(p.items[2].scope, "regions/us-central1");
	}
	cf_page_clear(&p);

	/* instances: a regional scope key is a scope, but no instance lives there */
	CHECK_EQ_INT(page("{\"items\":{\"zones/z1\":{\"instances\":[{\"name\":\"vm\"}]},"
			  "\"regions/r1\":{\"instances\":[{\"name\":\"vm2\"}]}}}",
			  CF_LIST_INSTANCES, &p, &e),
		     0);
	CHECK_EQ_INT(p.n, 1);
	CHECK_EQ_INT(p.skipped, 1);
	CHECK_EQ_INT(p.nscopes, 2);
	cf_page_clear(&p);

	/* a partial listing must not look complete */
	refused("{\"items\":{},\"unreachables\":[\"zones/us-east1-b\"]}", CF_LIST_DISKS, -EAGAIN,
		"unreachable (first: zones/us-east1-b)");
	/* shapes that are wrong as a whole */
	refused("{\"items\":[]}", CF_LIST_DISKS, -EPROTO, "not an object of scopes");
	refused("{\"items\":{\"zones/z1\":[]}}", CF_LIST_DISKS, -EPROTO, "is not an object");
	refused("{\"items\":{\"zones/z1\":{\"disks\":{}}}}", CF_LIST_DISKS, -EPROTO,
		"is not a list");
	refused("{\"items\":{\"zones/z1\":{\"instances\":\"x\"}}}", CF_LIST_INSTANCES, -EPROTO,
		"is not a list");
}

static void test_hostile_pages(void)
{
	refused("", CF_LIST_SNAPSHOTS, -EPROTO, "not valid JSON");
	refused("{\"items\":[{\"name\":\"s1\"},{\"na", CF_LIST_SNAPSHOTS, -EPROTO,
		"not valid JSON");
	refused("<html>502 Bad Gateway</html>", CF_LIST_SNAPSHOTS, -EPROTO, "not valid JSON");
	refused("[]", CF_LIST_SNAPSHOTS, -EPROTO, "not a JSON object");
	refused("null", CF_LIST_SNAPSHOTS, -EPROTO, "not a JSON object");
	refused("\"items\"", CF_LIST_SNAPSHOTS, -EPROTO, "not a JSON object");
	refused("{\"items\":{}}", CF_LIST_SNAPSHOTS, -EPROTO, "items is not a list");
	refused("{\"items\":\"s1\"}", CF_LIST_IMAGES, -EPROTO, "items is not a list");
	refused("{\"items\":42}", CF_LIST_ZONES, -EPROTO, "items is not a list");
	refused("{\"items\":[],\"nextPageToken\":7}", CF_LIST_SNAPSHOTS, -EPROTO, "nextPageToken");
	refused("{\"items\":[],\"nextPageToken\":\"a\\nb\"}", CF_LIST_SNAPSHOTS, -EPROTO,
		"nextPageToken");
	/* an ambiguous document: which name is it? */
	refused("{\"items\":[{\"name\":\"a\",\"name\":\"b\"}]}", CF_LIST_SNAPSHOTS, -EPROTO,
		"not valid JSON");
	/* a body with a NUL byte in it */
	struct cf_page p;
	struct cf_error e;
	CHECK_EQ_INT(cf_gce_decode_page("{\"items\":[]}\0junk", 17, CF_LIST_SNAPSHOTS, &p, &e),
		     -EPROTO);
	CHECK_EQ_INT(cf_gce_decode_page("{}", 2, CF_LIST__COUNT, &p, &e), -EINVAL);

	/* nesting deeper than any parser should follow */
	size_t depth = 100000;
	char *deep = malloc(depth * 2 + 64);
	if (deep) {
		strcpy(deep, "{\"items\":");
		size_t off = strlen(deep);
		memset(deep + off, '[', depth);
		memset(deep + off + depth, ']', depth);
		strcpy(deep + off + 2 * depth, "}");
		refused(deep, CF_LIST_SNAPSHOTS, -EPROTO, "not valid JSON");
		free(deep);
	}

	/* a 10 MB string where the token goes */
	size_t big = 10 << 20;
	char *s = malloc(big + 64);
	if (s) {
		strcpy(s, "{\"nextPageToken\":\"");
		memset(s + 18, 'x', big);
		strcpy(s + 18 + big, "\"}");
		refused(s, CF_LIST_SNAPSHOTS, -EPROTO, "nextPageToken");
		free(s);
	}
}

/* ---- errors ---- */

static void error_is(long status, const char *body, const char *reason, const char *msg, int err)
{
	struct cf_error e;
	cf_gce_decode_error(status, body, body ? strlen(body) : 0, &e);
	CHECK_EQ_INT(e.http_status, status);
	CHECK_EQ_STR(e.reason, reason);
	if (!strstr(e.message, msg))
		fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", e.message, msg);
	CHECK(strstr(e.message, msg) != NULL);
	CHECK_EQ_INT(cf_gce_errno(&e), err);
	CHECK_EQ_INT(e.errnum, err); /* filled by the decoder itself */
	CHECK_EQ_INT(e.retryable, err == -EAGAIN && (status == 429 || status >= 500));
}

static void test_errors(void)
{
	error_is(
	    404,
	    "{\"error\":{\"code\":404,\"message\":\"The resource 'projects/p/global/snapshots/x' "
	    "was not found\",\"errors\":[{\"message\":\"The resource 'projects/p/global/"
	    "snapshots/x' was not found\",\"domain\":\"global\",\"reason\":\"notFound\"}]}}",
	    "notFound", "was not found", -ENOENT);
	error_is(409,
		 "{\"error\":{\"code\":409,\"message\":\"already exists\",\"errors\":[{\"domain\":"
		 "\"global\",\"reason\":\"alreadyExists\",\"message\":\"already exists\"}]}}",
		 "alreadyExists", "already exists", -EEXIST);
	error_is(
	    400,
	    "{\"error\":{\"code\":400,\"message\":\"The disk resource is already being used by "
	    "'projects/p/zones/z/instances/vm'\",\"errors\":[{\"domain\":\"global\",\"reason\":"
	    "\"resourceInUseByAnotherResource\"}]}}",
	    "resourceInUseByAnotherResource", "already being used", -EBUSY);
	/* the reason wins over the status */
	error_is(403,
		 "{\"error\":{\"code\":403,\"message\":\"Rate Limit Exceeded\",\"errors\":[{"
		 "\"domain\":\"usageLimits\",\"reason\":\"rateLimitExceeded\"}]}}",
		 "rateLimitExceeded", "Rate Limit", -EAGAIN);
	error_is(403,
		 "{\"error\":{\"code\":403,\"message\":\"Required 'compute.snapshots.delete' "
		 "permission\",\"errors\":[{\"reason\":\"forbidden\"}]}}",
		 "forbidden", "permission", -EACCES);
	error_is(412,
		 "{\"error\":{\"code\":412,\"message\":\"Labels fingerprint either invalid or "
		 "resource labels have changed\",\"errors\":[{\"reason\":\"conditionNotMet\"}]}}",
		 "conditionNotMet", "fingerprint", -EAGAIN);
	error_is(400,
		 "{\"error\":{\"errors\":[{\"reason\":\"invalid\",\"message\":\"Invalid value "
		 "for field 'resource.name'\"}]}}",
		 "invalid", "Invalid value", -EINVAL);
	/* no API body: the status decides */
	error_is(502, "<html><body>Bad Gateway</body></html>", "", "no API error body", -EAGAIN);
	error_is(503, NULL, "", "no API error body", -EAGAIN);
	error_is(429, "{}", "", "no API error body", -EAGAIN);
	error_is(401, "{\"error\":{\"code\":401}}", "", "no message", -EACCES);
	error_is(404, "{\"error\":\"nope\"}", "", "no API error body", -ENOENT);
	error_is(409, "{\"error\":{\"errors\":\"x\"}}", "", "no message", -EEXIST);
	error_is(418, "", "", "no API error body", -EIO);
	/* an unknown reason falls back to the status */
	error_is(404, "{\"error\":{\"message\":\"m\",\"errors\":[{\"reason\":\"somethingNew\"}]}}",
		 "somethingNew", "m", -ENOENT);
	/* hostile: a reason that is not a token, a message on many lines, huge */
	error_is(400,
		 "{\"error\":{\"message\":\"line1\\nline2\\r\\u0000x\",\"errors\":[{"
		 "\"reason\":\"not a token\"}]}}",
		 "", "no message", -EINVAL); /* a NUL in it: not a usable string */
	error_is(400,
		 "{\"error\":{\"message\":\"line1\\nline2\\ttab\",\"errors\":[{"
		 "\"reason\":\"notFound\\u0001\"}]}}",
		 "", "line1 line2 tab", -EINVAL);
	size_t big = 1 << 20;
	char *s = malloc(big + 64);
	if (s) {
		strcpy(s, "{\"error\":{\"message\":\"");
		memset(s + 21, 'm', big);
		strcpy(s + 21 + big, "\"}}");
		struct cf_error e;
		cf_gce_decode_error(500, s, strlen(s), &e);
		CHECK_EQ_INT(strlen(e.message), sizeof e.message - 1);
		free(s);
	}
	/* a message cut in the middle of a UTF-8 character stays valid UTF-8 */
	char utf[1200] = "{\"error\":{\"message\":\"";
	for (int i = 0; i < 300; i++)
		strcat(utf, "\xc3\xa9");
	strcat(utf, "\"}}");
	struct cf_error e;
	cf_gce_decode_error(500, utf, strlen(utf), &e);
	CHECK_EQ_INT(strlen(e.message), 510);

	/* the table on its own */
	struct cf_error t = {.http_status = 0};
	CHECK_EQ_INT(cf_gce_errno(&t), -EAGAIN);
	t.http_status = 500;
	CHECK_EQ_INT(cf_gce_errno(&t), -EAGAIN);
	t.http_status = 200;
	strcpy(t.reason, "quotaExceeded");
	CHECK_EQ_INT(cf_gce_errno(&t), -EAGAIN);
	strcpy(t.reason, "insufficientPermissions");
	CHECK_EQ_INT(cf_gce_errno(&t), -EACCES);
	strcpy(t.reason, "backendError");
	CHECK_EQ_INT(cf_gce_errno(&t), -EAGAIN);
	CHECK_EQ_INT(cf_gce_errno(NULL), -EIO);
}

/* ---- auth and the provider, against the in-test server ---- */

static char token_path[64];

/* Replace the token file the way a refresher does: a new file renamed in. */
static void write_token(const char *text, mode_t mode)
{
	char tmp[80];
	snprintf(tmp, sizeof tmp, "%s.new", token_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
	fchmod(fd, mode);
	close(fd);
	CHECK(rename(tmp, token_path) == 0);
}

static struct cf_http *test_http(void)
{
	struct cf_http_config cfg = {.max_attempts = 2,
				     .base_delay_ms = 1,
				     .max_delay_ms = 5,
				     .timeout_ms = 10000,
				     .allow_insecure_loopback = true};
	struct cf_http *h = NULL;
	CHECK_EQ_INT(cf_http_new(&cfg, &h), 0);
	return h;
}

static void test_auth_file(void)
{
	struct cf_auth *a;
	struct cf_auth_config cfg = {.token_file = token_path};
	char tok[64];

	write_token("  tok-1 \n\n", 0600);
	CHECK_EQ_INT(cf_auth_new(&cfg, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "token_file");
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "tok-1");
	/* replaced: read again, whatever its size */
	write_token("tok-2\n", 0600);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "tok-2");
	write_token("tok-3\n", 0644); /* open to others: refused (more in test_gce_auth.c) */
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	write_token("tok-3\n", 0600);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "tok-3");
	CHECK_EQ_INT(cf_auth_token(a, tok, 5), -ERANGE);
	/* what no token looks like */
	write_token(" \n", 0600);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	write_token("two words\n", 0600);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	write_token("tok\r\nX-Evil: 1\n", 0600);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	char *huge = malloc(20000);
	if (huge) {
		memset(huge, 'a', 19999);
		huge[19999] = '\0';
		write_token(huge, 0600);
		CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
		free(huge);
	}
	unlink(token_path);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	write_token("tok-4", 0600);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "tok-4");
	cf_auth_invalidate(a);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "tok-4");
	cf_auth_free(a);

	/* no source at all */
	CHECK_EQ_INT(cf_auth_new(&(struct cf_auth_config){0}, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "none");
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	cf_auth_free(a);
}

static void test_auth_metadata(void)
{
	struct cf_http *h = test_http();
	struct cf_auth *a;
	char host[64], tok[64];
	snprintf(host, sizeof host, "127.0.0.1:%d", S.port);
	setenv("GCE_METADATA_HOST", host, 1);
	CHECK_EQ_INT(cf_auth_new(&(struct cf_auth_config){.http = h}, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "metadata");

	/* the metadata server marks every answer with Metadata-Flavor: Google */
	struct canned ok[] = {
	    {200, "Metadata-Flavor: Google\r\n",
	     "{\"access_token\":\"meta-1\",\"expires_in\":3599,\"token_type\":\"Bearer\"}"},
	    {200, "Metadata-Flavor: Google\r\n",
	     "{\"access_token\":\"meta-2\",\"expires_in\":3599,\"token_type\":\"Bearer\"}"},
	};
	server_script(ok, 2);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "meta-1");
	CHECK(strstr(S.last_head, "GET /computeMetadata/v1/instance/service-accounts/default/token "
				  "HTTP/1.1\r\n") == S.last_head);
	CHECK(strstr(S.last_head, "Metadata-Flavor: Google\r\n") != NULL);
	CHECK(strstr(S.last_head, "Authorization") == NULL);
	/* cached until a minute before it expires */
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_INT(S.requests, 1);
	/* a 401 from the API drops it */
	cf_auth_invalidate(a);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "meta-2");
	CHECK_EQ_INT(S.requests, 2);

	/* answers that give no token */
	const char *bad[] = {
	    "{\"access_token\":\"a b\",\"expires_in\":10}",
	    "{\"access_token\":\"x\",\"expires_in\":\"soon\"}",
	    "{\"access_token\":\"x\",\"expires_in\":0}",
	    "{\"access_token\":\"x\",\"expires_in\":100,\"token_type\":\"MAC\"}",
	    "{\"expires_in\":100}",
	    "[\"access_token\"]",
	    "access_token=x",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct canned c[] = {{200, "Metadata-Flavor: Google\r\n", bad[i]}};
		server_script(c, 1);
		cf_auth_invalidate(a);
		int rc = cf_auth_token(a, tok, sizeof tok);
		if (rc != -EACCES)
			fprintf(stderr, "  accepted %s\n", bad[i]);
		CHECK_EQ_INT(rc, -EACCES);
	}
	struct canned nf[] = {{404, NULL, "Not Found"}};
	server_script(nf, 1);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	struct canned busy[] = {{503, NULL, ""}, {503, NULL, ""}};
	server_script(busy, 2);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EAGAIN);
	cf_auth_free(a);

	/* nobody there */
	snprintf(host, sizeof host, "127.0.0.1:%d", closed_port());
	setenv("GCE_METADATA_HOST", host, 1);
	CHECK_EQ_INT(cf_auth_new(&(struct cf_auth_config){.http = h}, &a), 0);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EAGAIN);
	cf_auth_free(a);
	unsetenv("GCE_METADATA_HOST");
	cf_http_free(h);
}

static const char *head_has(const char *s)
{
	const char *p = strstr(S.last_head, s);
	if (!p)
		fprintf(stderr, "  request lacks \"%s\":\n%s", s, S.last_head);
	return p;
}

static void test_provider(void)
{
	struct cf_http *h = test_http();
	struct cf_auth *a;
	struct cf_provider *p;
	struct cf_page pg;
	struct cf_error err;
	char ep[96];

	write_token("tok-p\n", 0600);
	CHECK_EQ_INT(cf_auth_new(&(struct cf_auth_config){.token_file = token_path}, &a), 0);

	/* configuration refused up front */
	struct cf_gce_config bad = {.endpoint = "ftp://x/", .project = "p", .http = h, .auth = a};
	CHECK_EQ_INT(cf_gce_new(&bad, &p), -EINVAL);
	bad.endpoint = "https://compute.googleapis.com/compute/v1/";
	bad.project = "../other";
	CHECK_EQ_INT(cf_gce_new(&bad, &p), -EINVAL);
	bad.project = "My Project";
	CHECK_EQ_INT(cf_gce_new(&bad, &p), -EINVAL);
	bad.project = NULL;
	CHECK_EQ_INT(cf_gce_new(&bad, &p), -EINVAL);

	/* the endpoint without its trailing slash is the same endpoint */
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d/compute/v1", S.port);
	struct cf_gce_config cfg = {
	    .endpoint = ep, .project = "demo-project", .http = h, .auth = a};
	CHECK_EQ_INT(cf_gce_new(&cfg, &p), 0);
	CHECK_EQ_STR(p->ops->name, "gce");
	/* its rules and capabilities: crash, flush (guestFlush) and stop; labels
	 * of 63 characters of up to 4 bytes */
	CHECK_EQ_INT(cf_provider_consistency(p), CF_CAP_CRASH | CF_CAP_FLUSH | CF_CAP_STOP);
	CHECK_EQ_INT(cf_provider_label_bytes_max(p), 63 * 4);
	CHECK_EQ_INT(cf_provider_state(p, CF_KIND_INSTANCE, "TERMINATED"), CF_STATE_STOPPED);
	CHECK(!cf_provider_text_valid(p, CF_TEXT_NAME, "UPPER", 5, NULL));

	/* a listing: the URL, the bearer, the page token escaped */
	struct canned list[] = {
	    {200, NULL,
	     "{\"items\":[{\"name\":\"s1\"},{\"name\":\"s2\"}],\"nextPageToken\":\"a b/c+=\"}"},
	    {200, NULL, "{\"items\":[{\"name\":\"s3\"}]}"},
	};
	server_script(list, 2);
	CHECK_EQ_INT(p->ops->list_page(p, CF_LIST_SNAPSHOTS, NULL, &pg, &err), 0);
	CHECK(head_has("GET /compute/v1/projects/demo-project/global/snapshots?maxResults=500"
		       "&prettyPrint=false HTTP/1.1\r\n") == S.last_head);
	CHECK(head_has("Authorization: Bearer tok-p\r\n"));
	CHECK_EQ_INT(pg.n, 2);
	CHECK_EQ_STR(pg.next_token, "a b/c+=");
	char token[32];
	snprintf(token, sizeof token, "%s", pg.next_token);
	cf_page_clear(&pg);
	CHECK_EQ_INT(p->ops->list_page(p, CF_LIST_SNAPSHOTS, token, &pg, &err), 0);
	CHECK(
	    head_has("/global/snapshots?maxResults=500&prettyPrint=false&pageToken=a%20b%2Fc%2B%3D "
		     "HTTP/1.1"));
	CHECK_EQ_INT(pg.n, 1);
	CHECK(pg.next_token == NULL);
	cf_page_clear(&pg);

	/* a compact listing: the partial response's fields; a fetch by id: the
	 * filter, whole items; an id that is not digits is refused unsent */
	struct canned compact[] = {
	    {200, NULL,
	     "{\"items\":[{\"id\":\"7\",\"name\":\"s1\",\"status\":\"READY\","
	     "\"labelFingerprint\":\"fp1\",\"storageBytes\":\"10\"}]}"},
	    {200, NULL, "{\"items\":[{\"id\":\"7\",\"name\":\"s1\"}]}"},
	};
	server_script(compact, 2);
	const struct cf_list_query cq = {.compact = true};
	CHECK_EQ_INT(p->ops->list_query(p, CF_LIST_SNAPSHOTS, &cq, NULL, &pg, &err), 0);
	CHECK(
	    head_has("/global/snapshots?maxResults=500&prettyPrint=false&fields=items%28id%2Cname%"
		     "2Cstatus%2ClabelFingerprint%2CstorageBytes%29%2CnextPageToken HTTP/1.1"));
	CHECK(pg.compact && pg.n == 1 && pg.requests == 1 && pg.bytes > 0);
	char g[] = "global", id7[] = "7", id8[] = "8", ready[] = "READY", fp1[] = "fp1",
	     fp2[] = "fp2";
	struct cf_resource same = {.kind = CF_KIND_SNAPSHOT,
				   .scope = g,
				   .id = id7,
				   .status = ready,
				   .fingerprint = fp1,
				   .stored_bytes = 10};
	CHECK(p->ops->unchanged(&pg.items[0], &same));
	same.fingerprint = fp2; /* another writer's labels */
	CHECK(!p->ops->unchanged(&pg.items[0], &same));
	same.fingerprint = fp1;
	same.id = id8; /* deleted and made again */
	CHECK(!p->ops->unchanged(&pg.items[0], &same));
	same.id = id7;
	same.stored_bytes = 11;
	CHECK(!p->ops->unchanged(&pg.items[0], &same));
	cf_page_clear(&pg);
	const char *ids[] = {"7", "12"};
	const struct cf_list_query iq = {.ids = ids, .nids = 2};
	CHECK_EQ_INT(p->ops->list_query(p, CF_LIST_SNAPSHOTS, &iq, NULL, &pg, &err), 0);
	CHECK(
	    head_has("/global/snapshots?maxResults=500&prettyPrint=false&filter=%28id%20%3D%207%29"
		     "%20OR%20%28id%20%3D%2012%29 HTTP/1.1"));
	CHECK(!pg.compact && pg.n == 1);
	cf_page_clear(&pg);
	const char *bad_ids[] = {"7) OR (name = x"};
	const struct cf_list_query bq = {.ids = bad_ids, .nids = 1};
	CHECK_EQ_INT(p->ops->list_query(p, CF_LIST_SNAPSHOTS, &bq, NULL, &pg, &err), -EINVAL);

	/* every listing's collection */
	static const char *const urls[CF_LIST__COUNT] = {
	    [CF_LIST_ZONES] = "/zones?",
	    [CF_LIST_REGIONS] = "/regions?",
	    [CF_LIST_DISKS] = "/aggregated/disks?",
	    [CF_LIST_INSTANCES] = "/aggregated/instances?",
	    [CF_LIST_SNAPSHOTS] = "/global/snapshots?",
	    [CF_LIST_IMAGES] = "/global/images?",
	    [CF_LIST_MACHINE_IMAGES] = "/global/machineImages?",
	};
	for (int l = 0; l < CF_LIST__COUNT; l++) {
		struct canned empty[] = {{200, NULL, "{}"}};
		server_script(empty, 1);
		CHECK_EQ_INT(p->ops->list_page(p, (enum cf_listing) l, NULL, &pg, &err), 0);
		CHECK(head_has(urls[l]));
		cf_page_clear(&pg);
	}

	/* 401: a fresh token, one more try */
	struct canned auth401[] = {
	    {401, NULL, "{\"error\":{\"code\":401,\"message\":\"Invalid Credentials\"}}"},
	    {200, NULL, "{\"items\":[]}"},
	};
	server_script(auth401, 2);
	write_token("tok-fresh\n", 0600);
	CHECK_EQ_INT(p->ops->list_page(p, CF_LIST_IMAGES, NULL, &pg, &err), 0);
	CHECK_EQ_INT(S.requests, 2);
	CHECK(head_has("Authorization: Bearer tok-fresh\r\n"));
	cf_page_clear(&pg);
	/* ...but only one */
	struct canned twice[] = {
	    {401, NULL,
	     "{\"error\":{\"code\":401,\"message\":\"Invalid Credentials\","
	     "\"errors\":[{\"reason\":\"authError\"}]}}"},
	    {401, NULL,
	     "{\"error\":{\"code\":401,\"message\":\"Invalid Credentials\","
	     "\"errors\":[{\"reason\":\"authError\"}]}}"},
	    {200, NULL, "{}"},
	};
	server_script(twice, 3);
	CHECK_EQ_INT(p->ops->list_page(p, CF_LIST_IMAGES, NULL, &pg, &err), -EACCES);
	CHECK_EQ_INT(S.requests, 2);
	CHECK_EQ_INT(err.http_status, 401);
	CHECK_EQ_STR(err.reason, "authError");
	CHECK(strstr(err.message, "GET global/images: HTTP 401 authError: Invalid Credentials"));

	/* the API's errors, mapped */
	struct canned limited[] = {{403, NULL,
				    "{\"error\":{\"code\":403,\"message\":\"Rate Limit Exceeded\","
				    "\"errors\":[{\"reason\":\"rateLimitExceeded\"}]}}"}};
	server_script(limited, 1);
	CHECK_EQ_INT(p->ops->list_page(p, CF_LIST_SNAPSHOTS, NULL, &pg, &err), -EAGAIN);
	CHECK_EQ_STR(err.reason, "rateLimitExceeded");
	/* a 200 that is not a listing fails the listing */
	struct canned junk[] = {{200, NULL, "<html>hello</html>"}};
	server_script(junk, 1);
	CHECK_EQ_INT(p->ops->list_page(p, CF_LIST_SNAPSHOTS, NULL, &pg, &err), -EPROTO);
	CHECK(strstr(err.message, "not valid JSON") != NULL);
	CHECK(pg.n == 0 && pg.items == NULL);

	/* get */
	struct cf_resource r;
	struct canned one[] = {
	    {200, NULL,
	     "{\"kind\":\"compute#disk\",\"name\":\"data-0\",\"sizeGb\":\"10\","
	     "\"zone\":\"" LINK "zones/us-central1-a\"}"},
	    {200, NULL, "{\"kind\":\"compute#disk\",\"name\":\"data-1\"}"},
	    {200, NULL,
	     "{\"kind\":\"compute#disk\",\"name\":\"data-0\",\"zone\":\"" LINK
	     "zones/us-central1-b\"}"},
	    {404, NULL,
	     "{\"error\":{\"code\":404,\"message\":\"The resource was not found\","
	     "\"errors\":[{\"reason\":\"notFound\"}]}}"},
	};
	server_script(one, 4);
	CHECK_EQ_INT(p->ops->get(p, "zones/us-central1-a/disks/data-0", &r, &err), 0);
	CHECK(head_has("GET /compute/v1/projects/demo-project/zones/us-central1-a/disks/data-0"
		       "?prettyPrint=false HTTP/1.1\r\n") == S.last_head);
	CHECK_EQ_STR(r.scope, "zones/us-central1-a");
	CHECK_EQ_INT(r.size_bytes, 10ULL << 30);
	cf_resource_clear(&r);
	CHECK_EQ_INT(p->ops->get(p, "zones/us-central1-a/disks/data-0", &r, &err), -EPROTO);
	CHECK(strstr(err.message, "another resource") != NULL);
	CHECK_EQ_INT(p->ops->get(p, "zones/us-central1-a/disks/data-0", &r, &err), -EPROTO);
	CHECK(strstr(err.message, "listed under") != NULL);
	CHECK_EQ_INT(p->ops->get(p, "zones/us-central1-a/disks/data-0", &r, &err), -ENOENT);
	CHECK_EQ_STR(err.reason, "notFound");
	CHECK(r.name == NULL);
	/* a name that is a safe entry but no GCE name is escaped, not spliced */
	struct canned gone[] = {{404, NULL, "{}"}};
	server_script(gone, 1);
	CHECK_EQ_INT(p->ops->get(p, "global/snapshots/a b?c#%", &r, &err), -ENOENT);
	CHECK(head_has("GET /compute/v1/projects/demo-project/global/snapshots/a%20b%3Fc%23%25"
		       "?prettyPrint=false HTTP/1.1\r\n"));
	int before = S.requests;
	CHECK_EQ_INT(p->ops->get(p, "zones/../disks/x", &r, &err), -EINVAL);
	CHECK_EQ_INT(p->ops->get(p, "global/snapshots", &r, &err), -EINVAL);
	CHECK_EQ_INT(S.requests, before); /* refused without asking */

	/* no token: no request */
	unlink(token_path);
	CHECK_EQ_INT(p->ops->list_page(p, CF_LIST_SNAPSHOTS, NULL, &pg, &err), -EACCES);
	CHECK(strstr(err.message, "no access token") != NULL);
	CHECK_EQ_INT(S.requests, before);
	write_token("tok-p\n", 0600);
	p->ops->destroy(p);

	/* nobody listening: the API is unreachable, EAGAIN with the reason */
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d/compute/v1/", closed_port());
	CHECK_EQ_INT(cf_gce_new(&cfg, &p), 0);
	CHECK_EQ_INT(p->ops->list_page(p, CF_LIST_SNAPSHOTS, NULL, &pg, &err), -EAGAIN);
	CHECK_EQ_INT(err.http_status, 0);
	CHECK(strstr(err.message, "GET global/snapshots: ") == err.message);
	p->ops->destroy(p);

	/* plain http to a real host is refused by the http layer, not retried */
	cfg.endpoint = "http://compute.example.com/compute/v1/";
	CHECK_EQ_INT(cf_gce_new(&cfg, &p), 0);
	CHECK_EQ_INT(p->ops->list_page(p, CF_LIST_SNAPSHOTS, NULL, &pg, &err), -EPERM);
	p->ops->destroy(p);

	cf_auth_free(a);
	cf_http_free(h);
}

/* resource.json never holds an instance's metadata values (passwords, ssh keys and
 * startup scripts live there): their keys are kept, the values replaced, in an
 * instance and in the copy of its properties a machine image holds; what remains is
 * valid JSON and the rest of the document is untouched. */
static void test_metadata_hidden(void)
{
	struct cf_resource r;
	char why[256];
	static const char *const secrets[] = {"hunter2",	"swordfish",   "4242",
					      "escaped-secret", "deep-secret", "mi-secret",
					      "props-secret"};
	CHECK_EQ_INT(
	    decode("{\"kind\":\"compute#instance\",\"name\":\"db-1\",\"status\":\"RUNNING\","
		   "\"zone\":\"" LINK "zones/us-central1-a\","
		   "\"metadata\":{\"kind\":\"compute#metadata\",\"fingerprint\":\"abc=\","
		   "\"items\":[{\"key\":\"DB_PASSWORD\",\"value\":\"hunter2-s3cret\"},"
		   "{\"value\":\"#!/bin/sh\\necho pw=swordfish\",\"key\":\"startup-script\"},"
		   "{\"key\":\"n\",\"value\":4242},"
		   "{\"key\":\"esc\",\"val\\u0075e\":\"escaped-secret\"},"
		   "\"odd\",{\"key\":\"nested\",\"value\":{\"a\":[\"deep-secret\"]}}]},"
		   "\"description\":\"value stays\",\"labels\":{\"env\":\"prod\"}}",
		   CF_KIND_INSTANCE, "zones/us-central1-a", &r, why, sizeof why),
	    0);
	CHECK(r.raw != NULL);
	if (r.raw) {
		for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
			if (strstr(r.raw, secrets[i]))
				fprintf(stderr, "  %s shown in %s\n", secrets[i], r.raw);
			CHECK(strstr(r.raw, secrets[i]) == NULL);
		}
		CHECK_EQ_INT(strlen(r.raw), r.raw_len);
		json_error_t je;
		json_t *doc = json_loads(r.raw, 0, &je);
		CHECK(doc != NULL);
		json_t *items = json_object_get(json_object_get(doc, "metadata"), "items");
		CHECK_EQ_INT(json_array_size(items), 6);
		CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(items, 0), "key")),
			     "DB_PASSWORD");
		CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(items, 0), "value")),
			     "(hidden by clonefs)");
		CHECK_EQ_STR(json_string_value(json_object_get(json_array_get(items, 1), "key")),
			     "startup-script");
		CHECK_EQ_STR(json_string_value(json_object_get(doc, "description")), "value stays");
		CHECK_EQ_STR(json_string_value(
				 json_object_get(json_object_get(doc, "metadata"), "fingerprint")),
			     "abc=");
		json_decref(doc);
	}
	CHECK_EQ_INT(r.nlabels, 1);
	cf_resource_clear(&r);

	/* a machine image's copy of the instance's properties */
	CHECK_EQ_INT(
	    decode("{\"kind\":\"compute#machineImage\",\"name\":\"mi-1\",\"status\":\"READY\","
		   "\"sourceInstanceProperties\":{\"metadata\":{\"items\":[{\"key\":\"k\","
		   "\"value\":\"mi-secret\"}]}},\"instanceProperties\":{\"metadata\":{\"items\":"
		   "[{\"key\":\"k2\",\"value\":\"props-secret\"}]}}}",
		   CF_KIND_MACHINE_IMAGE, NULL, &r, why, sizeof why),
	    0);
	CHECK(r.raw && !strstr(r.raw, "mi-secret") && !strstr(r.raw, "props-secret"));
	CHECK(r.raw && strstr(r.raw, "\"key\":\"k\"") && strstr(r.raw, "\"key\":\"k2\""));
	cf_resource_clear(&r);

	/* member names written with escapes are the same names: still hidden */
	CHECK_EQ_INT(
	    decode("{\"kind\":\"compute#machineImage\",\"name\":\"mi-2\",\"status\":\"READY\","
		   "\"met\\u0061data\":{\"items\":[{\"key\":\"k\",\"value\":\"esc-top-secret\"}]},"
		   "\"instanceProp\\u0065rties\":{\"metadat\\u0061\":{\"items\":"
		   "[{\"key\":\"k2\",\"value\":\"esc-props-secret\"}]}}}",
		   CF_KIND_MACHINE_IMAGE, NULL, &r, why, sizeof why),
	    0);
	CHECK(r.raw && !strstr(r.raw, "esc-top-secret") && !strstr(r.raw, "esc-props-secret"));
	CHECK(r.raw && strstr(r.raw, "\"key\":\"k\"") && strstr(r.raw, "\"key\":\"k2\""));
	cf_resource_clear(&r);

	/* an item of more members than the decoder indexes: hidden all the same */
	char wide[2048];
	size_t at =
	    (size_t) snprintf(wide, sizeof wide,
			      "{\"kind\":\"compute#instance\","
			      "\"name\":\"wide-1\",\"zone\":\"" LINK "zones/us-central1-a\"");
	for (int i = 0; i < 80; i++)
		at += (size_t) snprintf(wide + at, sizeof wide - at, ",\"x%d\":%d", i, i);
	snprintf(wide + at, sizeof wide - at,
		 ",\"metadata\":{\"items\":[{\"key\":\"k\",\"value\":\"wide-secret\"}]}}");
	CHECK_EQ_INT(decode(wide, CF_KIND_INSTANCE, "zones/us-central1-a", &r, why, sizeof why), 0);
	CHECK(r.raw && !strstr(r.raw, "wide-secret") && strstr(r.raw, "\"key\":\"k\""));
	cf_resource_clear(&r);

	/* anything else is the document's own bytes */
	static const char snap[] = "{\"name\":\"s1\",\"metadata\":\"not-an-object\","
				   "\"items\":[{\"value\":\"kept\"}]}";
	CHECK_EQ_INT(decode(snap, CF_KIND_SNAPSHOT, NULL, &r, why, sizeof why), 0);
	CHECK(r.raw && !strcmp(r.raw, snap));
	cf_resource_clear(&r);
}

/* The API's status words as the engine's states, and its rules for what a
 * caller writes, as the provider answers them (provider.h). */
static void test_states_and_rules(void)
{
	static const struct {
		enum cf_kind kind;
		const char *word;
		enum cf_state state;
	} t[] = {
	    {CF_KIND_SNAPSHOT, "READY", CF_STATE_READY},
	    {CF_KIND_SNAPSHOT, "CREATING", CF_STATE_CREATING},
	    {CF_KIND_SNAPSHOT, "UPLOADING", CF_STATE_CREATING},
	    {CF_KIND_SNAPSHOT, "FAILED", CF_STATE_FAILED},
	    {CF_KIND_SNAPSHOT, "DELETING", CF_STATE_DELETING},
	    {CF_KIND_DISK, "READY", CF_STATE_READY},
	    {CF_KIND_INSTANCE, "PROVISIONING", CF_STATE_STARTING},
	    {CF_KIND_INSTANCE, "STAGING", CF_STATE_STARTING},
	    {CF_KIND_INSTANCE, "RUNNING", CF_STATE_RUNNING},
	    {CF_KIND_INSTANCE, "STOPPING", CF_STATE_STOPPING},
	    {CF_KIND_INSTANCE, "TERMINATED", CF_STATE_STOPPED},
	    {CF_KIND_INSTANCE, "STOPPED", CF_STATE_STOPPED},
	    {CF_KIND_INSTANCE, "SUSPENDED", CF_STATE_SUSPENDED},
	    {CF_KIND_INSTANCE, "running", CF_STATE_OTHER}, /* the API's words are upper case */
	    {CF_KIND_INSTANCE, "", CF_STATE_OTHER},
	    {CF_KIND_INSTANCE, NULL, CF_STATE_NONE},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		CHECK_EQ_INT(cf_gce_state(t[i].kind, t[i].word), t[i].state);

	const char *rule = NULL;
	CHECK(cf_gce_text_valid(CF_TEXT_NAME, "snap-1", 6, &rule));
	CHECK(rule && strstr(rule, "1-63 characters"));
	CHECK(!cf_gce_text_valid(CF_TEXT_NAME, "Snap", 4, NULL));
	CHECK(!cf_gce_text_valid(CF_TEXT_NAME, "snap-", 5, NULL));
	CHECK(!cf_gce_text_valid(CF_TEXT_NAME, "s\0p", 3, NULL));
	CHECK(cf_gce_text_valid(CF_TEXT_LABEL_KEY, "team", 4, &rule));
	CHECK(rule && strstr(rule, "lowercase letter first"));
	CHECK(!cf_gce_text_valid(CF_TEXT_LABEL_KEY, "Team", 4, NULL));
	CHECK(!cf_gce_text_valid(CF_TEXT_LABEL_KEY, "t\0", 2, NULL));
	CHECK(cf_gce_text_valid(CF_TEXT_LABEL_VALUE, "", 0, &rule));
	CHECK(!cf_gce_text_valid(CF_TEXT_LABEL_VALUE, "A", 1, NULL));
	CHECK(!cf_gce_text_valid(CF_TEXT_LABEL_VALUE, "a\0b", 3, NULL));
}

int main(void)
{
	cf_layout_use(&cf_gce_layout);
	test_metadata_hidden();
	test_states_and_rules();
	test_urls();
	test_snapshot();
	test_other_kinds();
	test_hostile_items();
	test_plain_pages();
	test_aggregated_pages();
	test_hostile_pages();
	test_errors();

	snprintf(token_path, sizeof token_path, "/tmp/clonefs-test-token-%d", (int) getpid());
	if (server_start()) {
		fprintf(stderr, "cannot start the test server\n");
		return 1;
	}
	test_auth_file();
	test_auth_metadata();
	test_provider();
	server_stop();
	unlink(token_path);
	return check_summary();
}
