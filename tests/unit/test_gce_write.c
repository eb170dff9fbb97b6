/* test_gce_write.c — the Compute Engine provider's write calls (create,
 * remove, power, set_labels, op_poll), the Operation decoder and cf_uuid4.
 *
 * Every request is checked exactly: method, path and query (against the API
 * reference, not the emulator), the body's JSON, and that nothing is sent
 * for input refused up front, through mini_httpd.h's recording server. */
#include "layout.h"
#include "provider.h"
#include "check.h"
#include "gce_auth.h"
#include "gce.h"
#include "http.h"
#include "mini_httpd.h"
#include "stop.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <sys/stat.h>

#define LINK "https://www.googleapis.com/compute/v1/projects/demo-project/"
#define BASE "/compute/v1/projects/demo-project/"
#define RID  "0d6c1a7e-3b1f-4c52-9a4e-5f7d2b8c9e01"
#define RID2 "8f14e45f-ceea-467e-a5a4-2b7d5a1c3e90"

/* ---- helpers ---- */

/* The request line of request i is exactly "METHOD BASE<rest> HTTP/1.1". */
static void line_is(int i, const char *method, const char *rest)
{
	char want[1024];
	snprintf(want, sizeof want, "%s " BASE "%s HTTP/1.1", method, rest);
	CHECK(i < server_count());
	if (i < server_count())
		CHECK_EQ_STR(S.req[i].line, want);
}

/* Request i's body is the JSON `want` (compared as JSON, not as text). */
static void body_is(int i, const char *want)
{
	json_error_t je;
	CHECK(i < server_count());
	if (i >= server_count())
		return;
	json_t *got = json_loads(S.req[i].body, 0, &je);
	json_t *exp = json_loads(want, 0, &je);
	CHECK(exp != NULL);
	bool same = got && exp && json_equal(got, exp);
	if (!same)
		fprintf(stderr, "  body %s\n  expected %s\n", S.req[i].body, want);
	CHECK(same);
	CHECK(strstr(S.req[i].head, "Content-Type: application/json\r\n") != NULL);
	json_decref(got);
	json_decref(exp);
}

/* Request i has no body. (An empty POST goes out with curl's default
 * form Content-Type; that is the http layer's, and harmless.) */
static void no_body(int i)
{
	CHECK(i < server_count());
	if (i < server_count()) {
		CHECK_EQ_STR(S.req[i].body, "");
		CHECK(strstr(S.req[i].head, "Content-Type: application/json") == NULL);
	}
}

static char token_path[64];

static void write_token(const char *text)
{
	char tmp[80];
	snprintf(tmp, sizeof tmp, "%s.new", token_path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
	close(fd);
	CHECK(rename(tmp, token_path) == 0);
}

static struct cf_http *H;
static struct cf_auth *A;
static struct cf_provider *P;

static void provider_at(int port)
{
	char ep[96];
	if (P)
		P->ops->destroy(P);
	P = NULL;
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d/compute/v1/", port);
	struct cf_gce_config cfg = {
	    .endpoint = ep, .project = "demo-project", .http = H, .auth = A};
	CHECK_EQ_INT(cf_gce_new(&cfg, &P), 0);
}

/* Operation answers. */
#define OP_ZONAL(name, status, target)                                                             \
	"{\"kind\":\"compute#operation\",\"id\":\"123\",\"name\":\"" name "\","                    \
	"\"operationType\":\"x\",\"status\":\"" status "\",\"progress\":0,"                        \
	"\"targetLink\":\"" LINK target "\",\"zone\":\"" LINK "zones/us-central1-a\","             \
	"\"selfLink\":\"" LINK "zones/us-central1-a/operations/" name "\"}"
#define OP_REGIONAL(name, status, target)                                                          \
	"{\"kind\":\"compute#operation\",\"name\":\"" name "\",\"status\":\"" status "\","         \
	"\"targetLink\":\"" LINK target "\",\"region\":\"" LINK "regions/us-central1\"}"
#define OP_GLOBAL(name, status, target)                                                            \
	"{\"kind\":\"compute#operation\",\"name\":\"" name "\",\"status\":\"" status "\","         \
	"\"targetLink\":\"" LINK target "\",\"selfLink\":\"" LINK "global/operations/" name "\"}"

/* struct cf_label holds char *: literals go in through a cast */
#define L(k, v)                                                                                    \
	{                                                                                          \
		(char *) (k), (char *) (v)                                                         \
	}

#define ERR(code, reason, msg)                                                                     \
	"{\"error\":{\"code\":" #code ",\"message\":\"" msg "\",\"errors\":[{\"message\":\"" msg   \
	"\",\"domain\":\"global\",\"reason\":\"" reason "\"}]}}"

/* ---- cf_uuid4 ---- */

static bool uuid4_shape(const char *s)
{
	if (strlen(s) != 36)
		return false;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdef", s[i])) {
			return false;
		}
	}
	return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp((const char *) a, (const char *) b);
}

static void test_uuid4(void)
{
	enum { N = 2000 };
	static char ids[N][37];
	bool shapes = true;
	for (int i = 0; i < N; i++) {
		memset(ids[i], 'x', sizeof ids[i]);
		CHECK_EQ_INT(cf_uuid4(ids[i]), 0);
		if (!uuid4_shape(ids[i])) {
			fprintf(stderr, "  not a lower-case v4 UUID: %.37s\n", ids[i]);
			shapes = false;
		}
	}
	CHECK(shapes);
	qsort(ids, N, sizeof ids[0], cmp_str);
	int dups = 0;
	for (int i = 1; i < N; i++)
		dups += !strcmp(ids[i - 1], ids[i]);
	CHECK_EQ_INT(dups, 0);
	/* every bit outside version and variant varies */
	char a[37], b[37];
	cf_uuid4(a);
	cf_uuid4(b);
	CHECK(strcmp(a, b) != 0);
}

/* ---- the Operation decoder ---- */

static int dec(const char *json, struct cf_operation *op, struct cf_error *err)
{
	json_error_t je;
	json_t *doc = json_loads(json, JSON_DECODE_ANY, &je);
	if (!doc) {
		fprintf(stderr, "test JSON does not parse: %s: %s\n", je.text, json);
		CHECK(doc != NULL);
		return -999;
	}
	int rc = cf_gce_decode_operation(doc, op, err);
	json_decref(doc);
	return rc;
}

static void test_decode_operation(void)
{
	struct cf_operation op;
	struct cf_error err;

	CHECK_EQ_INT(
	    dec(OP_ZONAL("operation-1-a", "RUNNING", "zones/us-central1-a/disks/d1"), &op, &err),
	    0);
	CHECK_EQ_STR(op.name, "operation-1-a");
	CHECK_EQ_STR(op.status, "RUNNING");
	CHECK_EQ_STR(op.scope, "zones/us-central1-a");
	CHECK_EQ_STR(op.target, "zones/us-central1-a/disks/d1");
	CHECK(!op.done && !op.failed);
	cf_operation_clear(&op);
	CHECK(op.name == NULL && op.scope == NULL);

	CHECK_EQ_INT(dec(OP_GLOBAL("operation-2", "DONE", "global/snapshots/s1"), &op, &err), 0);
	CHECK_EQ_STR(op.scope, "global");
	CHECK_EQ_STR(op.target, "global/snapshots/s1");
	CHECK(op.done && !op.failed);
	cf_operation_clear(&op);

	CHECK_EQ_INT(
	    dec(OP_REGIONAL("operation-3", "PENDING", "regions/us-central1/disks/r1"), &op, &err),
	    0);
	CHECK_EQ_STR(op.scope, "regions/us-central1");
	CHECK_EQ_STR(op.status, "PENDING");
	CHECK(!op.done);
	cf_operation_clear(&op);

	/* DONE with an error: the API's code and message, its HTTP status */
	CHECK_EQ_INT(
	    dec("{\"kind\":\"compute#operation\",\"name\":\"operation-4\",\"status\":\"DONE\","
		"\"zone\":\"" LINK "zones/us-central1-a\",\"targetLink\":\"" LINK
		"zones/us-central1-a/disks/d1\",\"error\":{\"errors\":[{\"code\":"
		"\"GUEST_FLUSH_FAILED\",\"message\":\"Guest flush failed:\\n the guest did not "
		"answer.\"}]},\"httpErrorStatusCode\":400,\"httpErrorMessage\":\"BAD REQUEST\"}",
		&op, &err),
	    0);
	CHECK(op.done && op.failed);
	CHECK_EQ_STR(op.err.reason, "GUEST_FLUSH_FAILED");
	CHECK_EQ_STR(op.err.message, "Guest flush failed:  the guest did not answer.");
	CHECK_EQ_INT(op.err.http_status, 400);
	CHECK_EQ_INT(cf_gce_errno(&op.err), -EINVAL);
	/* the provider classifies it: the errno, and a failed guest flush is the
	 * source's health (the engine answers EHOSTDOWN), not worth repeating */
	CHECK_EQ_INT(op.err.errnum, -EINVAL);
	CHECK(op.err.source_unhealthy);
	CHECK(!op.err.retryable);
	cf_operation_clear(&op);

	/* several errors: the first, and how many more */
	CHECK_EQ_INT(
	    dec("{\"name\":\"operation-5\",\"status\":\"DONE\",\"error\":{\"errors\":["
		"{\"code\":\"QUOTA_EXCEEDED\",\"message\":\"Quota 'SNAPSHOTS' exceeded.\"},"
		"{\"code\":\"X\",\"message\":\"y\"}]},\"httpErrorStatusCode\":403}",
		&op, &err),
	    0);
	CHECK(op.failed);
	CHECK_EQ_STR(op.err.reason, "QUOTA_EXCEEDED");
	CHECK_EQ_STR(op.err.message, "Quota 'SNAPSHOTS' exceeded. (and 1 more errors)");
	CHECK_EQ_INT(op.err.http_status, 403);
	CHECK_EQ_INT(op.err.errnum, -EACCES); /* the code is not a reason in the table: 403 */
	CHECK(!op.err.source_unhealthy);
	CHECK(op.target == NULL);
	cf_operation_clear(&op);

	/* fail closed: a malformed error block, or only an HTTP error status */
	CHECK_EQ_INT(
	    dec("{\"name\":\"operation-6\",\"status\":\"DONE\",\"error\":\"boom\"}", &op, &err), 0);
	CHECK(op.failed);
	CHECK_EQ_STR(op.err.message, "the operation failed (no message)");
	CHECK_EQ_INT(op.err.http_status, 0);
	cf_operation_clear(&op);
	CHECK_EQ_INT(
	    dec("{\"name\":\"operation-7\",\"status\":\"DONE\",\"httpErrorStatusCode\":500,"
		"\"httpErrorMessage\":\"INTERNAL SERVER ERROR\"}",
		&op, &err),
	    0);
	CHECK(op.failed);
	CHECK_EQ_STR(op.err.message, "INTERNAL SERVER ERROR");
	CHECK_EQ_INT(cf_gce_errno(&op.err), -EAGAIN);
	CHECK_EQ_INT(op.err.errnum, -EAGAIN);
	CHECK(op.err.retryable && !op.err.source_unhealthy);
	cf_operation_clear(&op);
	/* a hostile code is not copied as a reason */
	CHECK_EQ_INT(dec("{\"name\":\"operation-8\",\"status\":\"DONE\",\"error\":{\"errors\":[{"
			 "\"code\":\"a \\\"b\",\"message\":\"m\"}]}}",
			 &op, &err),
		     0);
	CHECK(op.failed);
	CHECK_EQ_STR(op.err.reason, "");
	CHECK_EQ_STR(op.err.message, "m");
	cf_operation_clear(&op);
	/* an error block before DONE is not (yet) a failure */
	CHECK_EQ_INT(dec("{\"name\":\"operation-9\",\"status\":\"RUNNING\",\"error\":{\"errors\":[{"
			 "\"code\":\"X\"}]}}",
			 &op, &err),
		     0);
	CHECK(!op.done && !op.failed);
	cf_operation_clear(&op);
	/* an unusable targetLink is dropped, the operation kept */
	CHECK_EQ_INT(dec("{\"name\":\"operation-10\",\"status\":\"DONE\",\"targetLink\":\"../x\"}",
			 &op, &err),
		     0);
	CHECK(op.target == NULL && op.done && !op.failed);
	cf_operation_clear(&op);

	/* refused */
	static const char *const bad[] = {
	    "[]",
	    "\"operation\"",
	    "{\"status\":\"DONE\"}",
	    "{\"name\":\"\",\"status\":\"DONE\"}",
	    "{\"name\":\"a/b\",\"status\":\"DONE\"}",
	    "{\"name\":\"..\",\"status\":\"DONE\"}",
	    "{\"name\":\"op x\",\"status\":\"DONE\"}",
	    "{\"name\":7,\"status\":\"DONE\"}",
	    "{\"name\":\"op\"}",
	    "{\"name\":\"op\",\"status\":\"\"}",
	    "{\"name\":\"op\",\"status\":\"DO NE\"}",
	    "{\"name\":\"op\",\"status\":true}",
	    "{\"kind\":\"compute#snapshot\",\"name\":\"op\",\"status\":\"DONE\"}",
	    "{\"kind\":1,\"name\":\"op\",\"status\":\"DONE\"}",
	    "{\"name\":\"op\",\"status\":\"DONE\",\"zone\":\"" LINK "regions/us-central1\"}",
	    "{\"name\":\"op\",\"status\":\"DONE\",\"zone\":\"" LINK "zones/../x\"}",
	    "{\"name\":\"op\",\"status\":\"DONE\",\"region\":3}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		memset(&err, 0, sizeof err);
		int rc = dec(bad[i], &op, &err);
		if (rc != -EPROTO)
			fprintf(stderr, "  accepted %s\n", bad[i]);
		CHECK_EQ_INT(rc, -EPROTO);
		CHECK(op.name == NULL && op.status == NULL && op.scope == NULL);
		CHECK(err.message[0] != '\0');
	}
	char longname[200];
	memset(longname, 'a', sizeof longname);
	snprintf(longname, sizeof longname, "{\"name\":\"%0150d\",\"status\":\"DONE\"}", 1);
	CHECK_EQ_INT(dec(longname, &op, &err), -EPROTO);
}

/* ---- create ---- */

static void test_create(void)
{
	struct cf_operation op;
	struct cf_error err;
	struct cf_label labels[] = {L("clonefs-source", "db-data"), L("empty", "")};

	struct canned ok[] = {
	    {200, NULL, OP_ZONAL("operation-c1", "PENDING", "zones/us-central1-a/disks/db-data")},
	    {200, NULL, OP_ZONAL("operation-c2", "RUNNING", "zones/us-central1-a/disks/db-data")},
	    {200, NULL, OP_REGIONAL("operation-c3", "PENDING", "regions/us-central1/disks/r1")},
	    {200, NULL, OP_GLOBAL("operation-c4", "PENDING", "global/machineImages/mi-1")},
	    {200, NULL, OP_GLOBAL("operation-c5", "PENDING", "global/machineImages/mi-2")},
	};
	server_script(ok, 5);

	/* zonal disk: disks.createSnapshot, guestFlush as a query parameter */
	struct cf_create_req req = {.kind = CF_KIND_SNAPSHOT,
				    .name = "db-data-2024-05-01",
				    .source = "zones/us-central1-a/disks/db-data",
				    .guest_flush = true,
				    .labels = labels,
				    .nlabels = 2,
				    .request_id = RID};
	CHECK_EQ_INT(P->ops->create(P, &req, &op, &err), 0);
	line_is(0, "POST",
		"zones/us-central1-a/disks/db-data/createSnapshot?guestFlush=true&requestId=" RID
		"&prettyPrint=false");
	body_is(0, "{\"name\":\"db-data-2024-05-01\","
		   "\"labels\":{\"clonefs-source\":\"db-data\",\"empty\":\"\"}}");
	CHECK(strstr(S.req[0].head, "Authorization: Bearer tok-w\r\n") != NULL);
	CHECK_EQ_STR(op.name, "operation-c1");
	CHECK_EQ_STR(op.scope, "zones/us-central1-a");
	CHECK_EQ_STR(op.status, "PENDING");
	CHECK_EQ_STR(op.target, "zones/us-central1-a/disks/db-data"); /* the disk, per the API */
	CHECK(!op.done);
	cf_operation_clear(&op);

	/* crash-consistent: guestFlush=false, no labels still sends labels {} */
	req.guest_flush = false;
	req.labels = NULL;
	req.nlabels = 0;
	req.request_id = RID2;
	CHECK_EQ_INT(P->ops->create(P, &req, &op, NULL), 0);
	line_is(1, "POST",
		"zones/us-central1-a/disks/db-data/createSnapshot?guestFlush=false&requestId=" RID2
		"&prettyPrint=false");
	body_is(1, "{\"name\":\"db-data-2024-05-01\",\"labels\":{}}");
	CHECK_EQ_STR(op.status, "RUNNING");
	cf_operation_clear(&op);

	/* regional disk: regionDisks.createSnapshot has no guestFlush
	 * parameter; the Snapshot's guestFlush field carries it */
	req.source = "regions/us-central1/disks/r1";
	req.guest_flush = true;
	req.name = "r1-snap";
	CHECK_EQ_INT(P->ops->create(P, &req, &op, &err), 0);
	line_is(2, "POST",
		"regions/us-central1/disks/r1/createSnapshot?requestId=" RID2 "&prettyPrint=false");
	body_is(2, "{\"name\":\"r1-snap\",\"labels\":{},\"guestFlush\":true}");
	CHECK_EQ_STR(op.scope, "regions/us-central1");
	cf_operation_clear(&op);

	/* machine image: machineImages.insert, sourceInstance (required query
	 * parameter, escaped) and the MachineImage's own fields */
	struct cf_create_req mi = {.kind = CF_KIND_MACHINE_IMAGE,
				   .name = "mi-1",
				   .source = "zones/us-central1-a/instances/db-1",
				   .guest_flush = true,
				   .labels = labels,
				   .nlabels = 1,
				   .request_id = RID};
	CHECK_EQ_INT(P->ops->create(P, &mi, &op, &err), 0);
	line_is(3, "POST",
		"global/machineImages?sourceInstance=projects%2Fdemo-project%2Fzones%2F"
		"us-central1-a%2Finstances%2Fdb-1&requestId=" RID "&prettyPrint=false");
	body_is(3,
		"{\"name\":\"mi-1\",\"labels\":{\"clonefs-source\":\"db-data\"},"
		"\"sourceInstance\":\"projects/demo-project/zones/us-central1-a/instances/db-1\","
		"\"guestFlush\":true}");
	CHECK_EQ_STR(op.scope, "global");
	CHECK_EQ_STR(op.target, "global/machineImages/mi-1");
	cf_operation_clear(&op);
	mi.guest_flush = false;
	mi.name = "mi-2";
	CHECK_EQ_INT(P->ops->create(P, &mi, &op, &err), 0);
	body_is(4,
		"{\"name\":\"mi-2\",\"labels\":{\"clonefs-source\":\"db-data\"},"
		"\"sourceInstance\":\"projects/demo-project/zones/us-central1-a/instances/db-1\","
		"\"guestFlush\":false}");
	cf_operation_clear(&op);
	CHECK_EQ_INT(server_count(), 5);
}

/* ---- restore: disks.insert, instances.insert ---- */

static void refused(int rc, const struct cf_error *err, const char *msg_has);

static void test_restore(void)
{
	struct cf_operation op;
	struct cf_error err;
	struct cf_label labels[] = {L("clonefs-restored-from", "s1-42")};
	struct canned ok[] = {
	    {200, NULL, OP_ZONAL("operation-r1", "PENDING", "zones/us-central1-a/disks/d9")},
	    {200, NULL, OP_ZONAL("operation-r2", "PENDING", "zones/us-central1-a/disks/d8")},
	    {200, NULL, OP_ZONAL("operation-r3", "PENDING", "zones/us-central1-a/instances/i9")},
	};
	server_script(ok, 3);
	/* a disk from a snapshot: the Disk's sourceSnapshot, no sizeGb (the copy's own) */
	struct cf_restore_req req = {.kind = CF_KIND_DISK,
				     .scope = "zones/us-central1-a",
				     .name = "d9",
				     .source = "global/snapshots/s1",
				     .labels = labels,
				     .nlabels = 1,
				     .request_id = RID};
	CHECK_EQ_INT(P->ops->restore(P, &req, &op, &err), 0);
	line_is(0, "POST", "zones/us-central1-a/disks?requestId=" RID "&prettyPrint=false");
	body_is(0, "{\"name\":\"d9\",\"labels\":{\"clonefs-restored-from\":\"s1-42\"},"
		   "\"sourceSnapshot\":\"projects/demo-project/global/snapshots/s1\"}");
	CHECK_EQ_STR(op.name, "operation-r1");
	CHECK_EQ_STR(op.scope, "zones/us-central1-a");
	cf_operation_clear(&op);
	/* from an image, a size asked for: whole GB, rounded up */
	req.name = "d8";
	req.source = "global/images/golden";
	req.size_bytes = (10ull << 30) + 1;
	req.nlabels = 0;
	CHECK_EQ_INT(P->ops->restore(P, &req, &op, &err), 0);
	body_is(
	    1, "{\"name\":\"d8\",\"labels\":{},"
	       "\"sourceImage\":\"projects/demo-project/global/images/golden\",\"sizeGb\":\"11\"}");
	cf_operation_clear(&op);
	/* an instance from a machine image */
	struct cf_restore_req inst = {.kind = CF_KIND_INSTANCE,
				      .scope = "zones/us-central1-a",
				      .name = "i9",
				      .source = "global/machineImages/mi-1",
				      .request_id = RID2};
	CHECK_EQ_INT(P->ops->restore(P, &inst, &op, &err), 0);
	line_is(2, "POST", "zones/us-central1-a/instances?requestId=" RID2 "&prettyPrint=false");
	body_is(2, "{\"name\":\"i9\",\"labels\":{},"
		   "\"sourceMachineImage\":\"projects/demo-project/global/machineImages/mi-1\"}");
	cf_operation_clear(&op);
	CHECK_EQ_INT(server_count(), 3);
	/* refused before anything is sent */
	inst.source = "global/snapshots/s1"; /* an instance is not made from a snapshot */
	refused(P->ops->restore(P, &inst, &op, &err), &err, "a machine image");
	inst.source = "global/machineImages/mi-1";
	inst.scope = "regions/us-central1"; /* instances live in zones */
	refused(P->ops->restore(P, &inst, &op, &err), &err, "not a zone");
	req.scope = "regions/us-central1"; /* a regional disk: its replica zones are not ours */
	refused(P->ops->restore(P, &req, &op, &err), &err, "not a zone");
	req.scope = "zones/us-central1-a";
	inst.scope = "zones/us-central1-a";
	inst.name = "I9";
	refused(P->ops->restore(P, &inst, &op, &err), &err, "not a valid");
	inst.name = "i9";
	inst.request_id = "nope";
	refused(P->ops->restore(P, &inst, &op, &err), &err, "not a UUID");
	req.kind = CF_KIND_SNAPSHOT;
	refused(P->ops->restore(P, &req, &op, &err), &err, "only disks and instances");
	CHECK_EQ_INT(server_count(), 3);
}

/* ---- input refused before anything is sent ---- */

static void refused(int rc, const struct cf_error *err, const char *msg_has)
{
	CHECK_EQ_INT(rc, -EINVAL);
	if (!strstr(err->message, msg_has))
		fprintf(stderr, "  message \"%s\" lacks \"%s\"\n", err->message, msg_has);
	CHECK(strstr(err->message, msg_has) != NULL);
	CHECK_EQ_INT(err->http_status, 0);
}

static void test_invalid_input(void)
{
	struct cf_operation op;
	struct cf_error err;
	struct cf_label good[] = {L("a", "b")};
	server_script(NULL, 0);

	struct cf_create_req base = {.kind = CF_KIND_SNAPSHOT,
				     .name = "s1",
				     .source = "zones/us-central1-a/disks/d1",
				     .labels = good,
				     .nlabels = 1,
				     .request_id = RID};
	struct cf_create_req r;
#define TRY(field, value, msg)                                                                     \
	do {                                                                                       \
		r = base;                                                                          \
		r.field = value;                                                                   \
		refused(P->ops->create(P, &r, &op, &err), &err, msg);                              \
		CHECK(op.name == NULL);                                                            \
	} while (0)
	TRY(name, "S1", "not a valid Compute Engine name");
	TRY(name, "1s", "not a valid Compute Engine name");
	TRY(name, "s-", "not a valid Compute Engine name");
	TRY(name, "", "not a valid Compute Engine name");
	TRY(name, NULL, "not a valid Compute Engine name");
	TRY(name, "a234567890123456789012345678901234567890123456789012345678901234",
	    "not a valid");
	TRY(name, "s/x", "not a valid Compute Engine name");
	TRY(source, "zones/us-central1-a/instances/d1", "not a disk");
	TRY(source, "global/snapshots/d1", "not a disk");
	TRY(source, "zones/us-central1-a/disks/D1", "not a valid Compute Engine name");
	TRY(source, "zones/US/disks/d1", "not a valid Compute Engine name");
	TRY(source, "zones/../disks/d1", "not a resource path");
	TRY(source, "zones/us-central1-a/disks/d1?x=1", "not a valid");
	TRY(source, NULL, "not a resource path");
	TRY(request_id, NULL, "not a UUID");
	TRY(request_id, "", "not a UUID");
	TRY(request_id, "not-a-uuid", "not a UUID");
	TRY(request_id, "00000000-0000-0000-0000-000000000000", "not a UUID");
	TRY(request_id, "0d6c1a7e-3b1f-4c52-9a4e-5f7d2b8c9e0", "not a UUID");
	TRY(request_id, "0d6c1a7e-3b1f-4c52-9a4e-5f7d2b8c9e0g", "not a UUID");
	TRY(request_id, "0d6c1a7e3b1f-4c52-9a4e-5f7d2b8c9e01x", "not a UUID");
	TRY(request_id, RID "&a=b", "not a UUID");
	TRY(kind, CF_KIND_IMAGE, "only snapshots and machine images");
	TRY(kind, CF_KIND_DISK, "only snapshots and machine images");
	TRY(labels, NULL, "labels missing");
	r = base;
	r.kind = CF_KIND_MACHINE_IMAGE;
	refused(P->ops->create(P, &r, &op, &err), &err, "not an instance");
	refused(P->ops->create(P, NULL, &op, &err), &err, "only snapshots");

	/* labels: the provider's rules, checked one by one */
	static const struct cf_label bad[][1] = {
	    {L("Owner", "x")},
	    {L("1owner", "x")},
	    {L("", "x")},
	    {L("own er", "x")},
	    {L("owner", "X")},
	    {L("owner", "a b")},
	    {L("owner", "\xc3\x89")}, /* É: upper case, in any script */
	    {L(NULL, "x")},
	    {L("owner", NULL)},
	    {L("a234567890123456789012345678901234567890123456789012345678901234", "x")},
	    {L("owner", "a234567890123456789012345678901234567890123456789012345678901234")},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		r = base;
		r.labels = bad[i];
		int rc = P->ops->create(P, &r, &op, &err);
		CHECK_EQ_INT(rc, -EINVAL);
		CHECK(strstr(err.message, "label") != NULL);
	}
	struct cf_label dup[] = {L("a", "1"), L("a", "2")};
	r = base;
	r.labels = dup;
	r.nlabels = 2;
	refused(P->ops->create(P, &r, &op, &err), &err, "given twice");
	struct cf_label many[65];
	char keys[65][8];
	for (int i = 0; i < 65; i++) {
		snprintf(keys[i], sizeof keys[i], "k%d", i);
		many[i] = (struct cf_label){keys[i], (char *) "v"};
	}
	r = base;
	r.labels = many;
	r.nlabels = 65;
	refused(P->ops->create(P, &r, &op, &err), &err, "at most 64");
	r.nlabels = 64; /* 64 is fine: this one is sent */
	struct canned one[] = {{200, NULL, OP_ZONAL("operation-x", "PENDING", "zones/z/disks/d1")}};
	server_script(one, 1);
	CHECK_EQ_INT(P->ops->create(P, &r, &op, &err), 0);
	cf_operation_clear(&op);
	CHECK_EQ_INT(server_count(), 1);
	server_script(NULL, 0);

	/* remove: not a path, or not something clonefs prunes */
	refused(P->ops->remove(P, "global/snapshots", RID, &op, &err), &err, "not a resource path");
	refused(P->ops->remove(P, "global/snapshots/S1", RID, &op, &err), &err, "not a valid");
	refused(P->ops->remove(P, "global/snapshots/s1", "x", &op, &err), &err, "not a UUID");
	refused(P->ops->remove(P, "global/snapshots/s1", NULL, &op, &err), &err, "not a UUID");
	CHECK_EQ_INT(P->ops->remove(P, "zones/us-central1-a/disks/d1", RID, &op, &err), -EPERM);
	CHECK(strstr(err.message, "deletes only") != NULL);
	CHECK_EQ_INT(P->ops->remove(P, "zones/us-central1-a/instances/i1", RID, &op, &err), -EPERM);
	CHECK_EQ_INT(P->ops->remove(P, "regions/us-central1/disks/r1", RID, &op, &err), -EPERM);

	/* power: instances only */
	refused(P->ops->power(P, "zones/us-central1-a/disks/d1", true, RID, &op, &err), &err,
		"not an instance");
	refused(P->ops->power(P, "zones/us-central1-a/instances/i1", false, "", &op, &err), &err,
		"not a UUID");
	refused(P->ops->power(P, NULL, false, RID, &op, &err), &err, "not a resource path");

	/* set_labels: path, fingerprint, labels, request id */
	const char *fp = "42WmSpB8rSM=";
	refused(P->ops->set_labels(P, "zones/us-central1-a/disks/d_1", good, 1, fp, RID, &op, &err),
		&err, "not a valid");
	refused(P->ops->set_labels(P, "global/snapshots/s1", good, 1, NULL, NULL, &op, &err), &err,
		"fingerprint");
	refused(P->ops->set_labels(P, "global/snapshots/s1", good, 1, "", NULL, &op, &err), &err,
		"fingerprint");
	refused(P->ops->set_labels(P, "global/snapshots/s1", good, 1, "a b", NULL, &op, &err), &err,
		"fingerprint");
	refused(P->ops->set_labels(P, "global/snapshots/s1", good, 1, "a\r\nb", NULL, &op, &err),
		&err, "fingerprint");
	refused(P->ops->set_labels(P, "global/snapshots/s1", dup, 2, fp, NULL, &op, &err), &err,
		"given twice");
	refused(P->ops->set_labels(P, "global/snapshots/s1", many, 65, fp, NULL, &op, &err), &err,
		"at most 64");
	refused(P->ops->set_labels(P, "zones/us-central1-a/instances/i1", good, 1, fp, "nope", &op,
				   &err),
		&err, "not a UUID");

	/* op_poll: an operation with no valid name and scope */
	struct cf_operation bad_op = {0};
	refused(P->ops->op_poll(P, &bad_op, false, &err), &err, "no valid name");
	bad_op.name = (char *) "operation-1";
	bad_op.scope = (char *) "zones/../x";
	refused(P->ops->op_poll(P, &bad_op, false, &err), &err, "no valid name");
	bad_op.scope = (char *) "projects";
	refused(P->ops->op_poll(P, &bad_op, true, &err), &err, "no valid name");
	bad_op.scope = (char *) "global";
	bad_op.name = (char *) "a/b";
	refused(P->ops->op_poll(P, &bad_op, true, &err), &err, "no valid name");

	CHECK_EQ_INT(server_count(), 0); /* nothing reached the server */
#undef TRY
}

/* ---- remove, power, set_labels ---- */

static void test_remove_power(void)
{
	struct cf_operation op;
	struct cf_error err;
	struct canned ok[] = {
	    {200, NULL, OP_GLOBAL("operation-d1", "PENDING", "global/snapshots/s1")},
	    {200, NULL, OP_GLOBAL("operation-d2", "PENDING", "global/images/i1")},
	    {200, NULL, OP_GLOBAL("operation-d3", "PENDING", "global/machineImages/m1")},
	    {200, NULL, OP_ZONAL("operation-p1", "PENDING", "zones/us-central1-a/instances/db-1")},
	    {200, NULL, OP_ZONAL("operation-p2", "DONE", "zones/us-central1-a/instances/db-1")},
	};
	server_script(ok, 5);
	CHECK_EQ_INT(P->ops->remove(P, "global/snapshots/s1", RID, &op, &err), 0);
	line_is(0, "DELETE", "global/snapshots/s1?requestId=" RID "&prettyPrint=false");
	no_body(0);
	CHECK_EQ_STR(op.name, "operation-d1");
	CHECK_EQ_STR(op.target, "global/snapshots/s1");
	cf_operation_clear(&op);
	CHECK_EQ_INT(P->ops->remove(P, "global/images/i1", RID, &op, &err), 0);
	line_is(1, "DELETE", "global/images/i1?requestId=" RID "&prettyPrint=false");
	cf_operation_clear(&op);
	CHECK_EQ_INT(P->ops->remove(P, "global/machineImages/m1", RID2, &op, &err), 0);
	line_is(2, "DELETE", "global/machineImages/m1?requestId=" RID2 "&prettyPrint=false");
	cf_operation_clear(&op);

	CHECK_EQ_INT(P->ops->power(P, "zones/us-central1-a/instances/db-1", false, RID, &op, &err),
		     0);
	line_is(3, "POST",
		"zones/us-central1-a/instances/db-1/stop?requestId=" RID "&prettyPrint=false");
	no_body(3);
	CHECK(strstr(S.req[3].head, "Content-Length: 0\r\n") != NULL);
	CHECK_EQ_STR(op.scope, "zones/us-central1-a");
	cf_operation_clear(&op);
	CHECK_EQ_INT(P->ops->power(P, "zones/us-central1-a/instances/db-1", true, RID2, &op, &err),
		     0);
	line_is(4, "POST",
		"zones/us-central1-a/instances/db-1/start?requestId=" RID2 "&prettyPrint=false");
	CHECK(op.done && !op.failed);
	cf_operation_clear(&op);
	CHECK_EQ_INT(server_count(), 5);
}

static void test_set_labels(void)
{
	struct cf_operation op;
	struct cf_error err;
	struct cf_label l[] = {L("env", "prod"), L("owner", "alice")};
	const char *fp = "42WmSpB8rSM=";
	const char *want = "{\"labels\":{\"env\":\"prod\",\"owner\":\"alice\"},"
			   "\"labelFingerprint\":\"42WmSpB8rSM=\"}";

	/* global kinds: GlobalSetLabelsRequest, no requestId parameter (the
	 * methods take none); disks and instances: with it */
	static const struct {
		const char *path, *rest;
	} cases[] = {
	    {"global/snapshots/s1", "global/snapshots/s1/setLabels?prettyPrint=false"},
	    {"global/images/i1", "global/images/i1/setLabels?prettyPrint=false"},
	    {"global/machineImages/m1", "global/machineImages/m1/setLabels?prettyPrint=false"},
	    {"zones/us-central1-a/disks/d1",
	     "zones/us-central1-a/disks/d1/setLabels?requestId=" RID "&prettyPrint=false"},
	    {"regions/us-central1/disks/r1",
	     "regions/us-central1/disks/r1/setLabels?requestId=" RID "&prettyPrint=false"},
	    {"zones/us-central1-a/instances/db-1",
	     "zones/us-central1-a/instances/db-1/setLabels?requestId=" RID "&prettyPrint=false"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct canned c[] = {
		    {200, NULL, OP_GLOBAL("operation-l", "DONE", "global/snapshots/s1")}};
		server_script(c, 1);
		CHECK_EQ_INT(P->ops->set_labels(P, cases[i].path, l, 2, fp, RID, &op, &err), 0);
		line_is(0, "POST", cases[i].rest);
		body_is(0, want);
		CHECK(op.done);
		cf_operation_clear(&op);
	}
	/* no request id: none sent, for any kind */
	struct canned c[] = {{200, NULL, OP_ZONAL("operation-l", "DONE", "zones/z/disks/d1")}};
	server_script(c, 1);
	CHECK_EQ_INT(
	    P->ops->set_labels(P, "zones/us-central1-a/disks/d1", l, 2, fp, NULL, &op, &err), 0);
	line_is(0, "POST", "zones/us-central1-a/disks/d1/setLabels?prettyPrint=false");
	cf_operation_clear(&op);
	/* The resource's labels go back as the API holds them: an international value
	 * (owner=jörg, legal) and even one the rules would refuse from a caller are sent,
	 * only checked to be text; the caller's own label was checked by the engine. */
	struct cf_label held[] = {L("legacy", "Upper"), L("owner", "j\xc3\xb6rg"),
				  L("clonefs-delete-at", "1700000000")};
	server_script(c, 1);
	CHECK_EQ_INT(P->ops->set_labels(P, "global/snapshots/s1", held, 3, fp, NULL, &op, &err), 0);
	body_is(0, "{\"labels\":{\"legacy\":\"Upper\",\"owner\":\"j\xc3\xb6rg\","
		   "\"clonefs-delete-at\":\"1700000000\"},\"labelFingerprint\":\"42WmSpB8rSM=\"}");
	cf_operation_clear(&op);
	struct cf_label junk[][1] = {{L("ok", "a\nb")}, {L("", "x")}, {L("ok", "\xff")}};
	for (size_t i = 0; i < 3; i++)
		refused(
		    P->ops->set_labels(P, "global/snapshots/s1", junk[i], 1, fp, NULL, &op, &err),
		    &err, "label");
	/* no labels: all removed */
	server_script(c, 1);
	CHECK_EQ_INT(P->ops->set_labels(P, "global/snapshots/s1", NULL, 0, fp, NULL, &op, &err), 0);
	body_is(0, "{\"labels\":{},\"labelFingerprint\":\"42WmSpB8rSM=\"}");
	cf_operation_clear(&op);

	/* a stale fingerprint: -ESTALE with the API's words */
	struct canned stale[] = {
	    {412, NULL,
	     ERR(412, "conditionNotMet",
		 "Labels fingerprint either invalid or resource labels have changed")},
	};
	server_script(stale, 1);
	CHECK_EQ_INT(P->ops->set_labels(P, "global/snapshots/s1", l, 2, fp, NULL, &op, &err),
		     -ESTALE);
	CHECK_EQ_INT(err.http_status, 412);
	CHECK_EQ_STR(err.reason, "conditionNotMet");
	CHECK(strstr(err.message, "POST global/snapshots/s1/setLabels: HTTP 412 conditionNotMet: "
				  "Labels fingerprint") == err.message);
	CHECK(op.name == NULL);
	CHECK_EQ_INT(server_count(), 1); /* a 412 is not retried */
	/* ...also when only the status says so */
	struct canned bare412[] = {{412, NULL, "Precondition Failed"}};
	server_script(bare412, 1);
	CHECK_EQ_INT(
	    P->ops->set_labels(P, "zones/us-central1-a/instances/db-1", l, 2, fp, RID, &op, &err),
	    -ESTALE);
	/* the error table itself keeps EAGAIN for a 412 (other callers) */
	CHECK_EQ_INT(cf_gce_errno(&err), -EAGAIN);
	/* other refusals keep their errno */
	struct canned nf[] = {{404, NULL,
			       ERR(404, "notFound",
				   "The resource 'projects/demo-project/global/snapshots/s1' was "
				   "not found")}};
	server_script(nf, 1);
	CHECK_EQ_INT(P->ops->set_labels(P, "global/snapshots/s1", l, 2, fp, NULL, &op, &err),
		     -ENOENT);
}

/* ---- change_labels: read, plan, merge, send; a 412 reads and plans again ---- */

#define SNAP_WITH(fp, labels)                                                                      \
	"{\"kind\":\"compute#snapshot\",\"name\":\"s1\",\"id\":\"7\",\"status\":\"READY\","        \
	"\"creationTimestamp\":\"2024-05-01T00:00:00.000-07:00\",\"labelFingerprint\":\"" fp       \
	"\",\"labels\":" labels "}"

struct plan_ctx {
	int calls;
	const char *key, *value; /* the change to ask for */
	int answer;		 /* returned instead, when not 0 */
	char seen[8][64];	 /* the fingerprint of each read it was shown */
};

static int test_plan(void *ctx, const struct cf_resource *now, struct cf_label_change *ch,
		     size_t cap, size_t *n)
{
	struct plan_ctx *pc = ctx;
	if (pc->calls < 8)
		snprintf(pc->seen[pc->calls], sizeof pc->seen[0], "%s",
			 now->fingerprint ? now->fingerprint : "");
	pc->calls++;
	*n = 0;
	if (pc->answer)
		return pc->answer;
	CHECK(cap >= 1);
	ch[0].key = pc->key;
	ch[0].value = pc->value;
	*n = 1;
	return 0;
}

static int plan_nothing(void *ctx, const struct cf_resource *now, struct cf_label_change *ch,
			size_t cap, size_t *n)
{
	(void) ctx, (void) now, (void) ch, (void) cap;
	*n = 0;
	return 0;
}

static void test_change_labels(void)
{
	struct cf_operation op = {0};
	struct cf_error err;
	struct plan_ctx pc = {.key = "env", .value = "prod"};
	/* another writer added team=b between our read and our write: the 412
	 * makes it read again, and the write keeps team=b */
	struct canned race[] = {
	    {200, NULL, SNAP_WITH("fp-1", "{\"owner\":\"a\"}")},
	    {412, NULL, ERR(412, "conditionNotMet", "Labels fingerprint either invalid")},
	    {200, NULL, SNAP_WITH("fp-2", "{\"owner\":\"a\",\"team\":\"b\"}")},
	    {200, NULL, OP_GLOBAL("operation-cl", "DONE", "global/snapshots/s1")},
	};
	server_script(race, 4);
	CHECK_EQ_INT(P->ops->change_labels(P, "global/snapshots/s1", test_plan, &pc, &op, &err), 0);
	CHECK_EQ_INT(pc.calls, 2);
	CHECK_EQ_STR(pc.seen[0], "fp-1");
	CHECK_EQ_STR(pc.seen[1], "fp-2");
	CHECK_EQ_INT(server_count(), 4);
	line_is(0, "GET", "global/snapshots/s1?prettyPrint=false");
	body_is(1, "{\"labels\":{\"owner\":\"a\",\"env\":\"prod\"},\"labelFingerprint\":\"fp-1\"}");
	body_is(3, "{\"labels\":{\"owner\":\"a\",\"team\":\"b\",\"env\":\"prod\"},"
		   "\"labelFingerprint\":\"fp-2\"}");
	CHECK_EQ_STR(op.name, "operation-cl");
	cf_operation_clear(&op);

	/* a removal: the key is left out of the set sent */
	pc = (struct plan_ctx){.key = "owner", .value = NULL};
	struct canned rm[] = {
	    {200, NULL, SNAP_WITH("fp-3", "{\"owner\":\"a\",\"team\":\"b\"}")},
	    {200, NULL, OP_GLOBAL("operation-rm", "DONE", "global/snapshots/s1")},
	};
	server_script(rm, 2);
	CHECK_EQ_INT(P->ops->change_labels(P, "global/snapshots/s1", test_plan, &pc, &op, &err), 0);
	body_is(1, "{\"labels\":{\"team\":\"b\"},\"labelFingerprint\":\"fp-3\"}");
	cf_operation_clear(&op);

	/* the plan's answer ends it, nothing written; a plan of nothing writes nothing */
	pc = (struct plan_ctx){.answer = -ESTALE};
	server_script(rm, 1);
	CHECK_EQ_INT(P->ops->change_labels(P, "global/snapshots/s1", test_plan, &pc, &op, &err),
		     -ESTALE);
	CHECK_EQ_INT(server_count(), 1);
	CHECK(op.name == NULL);
	/* a plan of nothing (the label already has the value): nothing sent */
	server_script(rm, 1);
	CHECK_EQ_INT(P->ops->change_labels(P, "global/snapshots/s1", plan_nothing, NULL, &op, &err),
		     0);
	CHECK_EQ_INT(server_count(), 1);
	CHECK(op.name == NULL);

	/* gone: -ENOENT from the read */
	struct canned nf[] = {{404, NULL, ERR(404, "notFound", "The resource was not found")}};
	pc = (struct plan_ctx){.key = "env", .value = "prod"};
	server_script(nf, 1);
	CHECK_EQ_INT(P->ops->change_labels(P, "global/snapshots/s1", test_plan, &pc, &op, &err),
		     -ENOENT);
	CHECK_EQ_INT(pc.calls, 0);

	/* 64 labels already: no room for one more */
	char many[64 * 16 + 8];
	size_t k = 0;
	k += (size_t) snprintf(many + k, sizeof many - k, "{");
	for (int i = 0; i < 64; i++)
		k += (size_t) snprintf(many + k, sizeof many - k, "%s\"k%d\":\"v\"", i ? "," : "",
				       i);
	snprintf(many + k, sizeof many - k, "}");
	char doc[sizeof many + 512];
	snprintf(doc, sizeof doc, SNAP_WITH("fp-4", "%s"), many);
	struct canned full[] = {{200, NULL, doc}};
	server_script(full, 1);
	CHECK_EQ_INT(P->ops->change_labels(P, "global/snapshots/s1", test_plan, &pc, &op, &err),
		     -ENOSPC);
	CHECK(strstr(err.message, "64 labels") != NULL);
	CHECK_EQ_INT(server_count(), 1);

	/* always a 412: at most 10 tries, then -ESTALE */
	struct canned again[20];
	for (int i = 0; i < 20; i += 2) {
		again[i] = (struct canned){200, NULL, SNAP_WITH("fp-5", "{}"), false};
		again[i + 1] = (struct canned){412, NULL, "Precondition Failed", false};
	}
	pc = (struct plan_ctx){.key = "env", .value = "prod"};
	server_script(again, 20);
	CHECK_EQ_INT(P->ops->change_labels(P, "global/snapshots/s1", test_plan, &pc, &op, &err),
		     -ESTALE);
	CHECK_EQ_INT(pc.calls, 10);
	CHECK_EQ_INT(server_count(), 20);
	CHECK(strstr(err.message, "at most 10 tries") != NULL);

	/* the thread's stop flag raised (an unmount): no pause, no re-read after
	 * the 412; the call fails transient (nothing was changed) */
	struct cf_stop stop;
	CHECK_EQ_INT(cf_stop_init(&stop), 0);
	cf_stop_raise(&stop);
	cf_stop_set_current(&stop);
	pc = (struct plan_ctx){.key = "env", .value = "prod"};
	server_script(again, 20);
	CHECK_EQ_INT(P->ops->change_labels(P, "global/snapshots/s1", test_plan, &pc, &op, &err),
		     -EAGAIN);
	CHECK(err.retryable);
	CHECK_EQ_INT(pc.calls, 1);
	CHECK_EQ_INT(server_count(), 2);
	CHECK(strstr(err.message, "stopping") != NULL);
	cf_stop_set_current(NULL);
	cf_stop_destroy(&stop);
}

/* ---- failures: the API's errors, retries, no answer ---- */

static void test_failures(void)
{
	struct cf_operation op;
	struct cf_error err;
	int rc;
	struct cf_create_req req = {.kind = CF_KIND_SNAPSHOT,
				    .name = "s1",
				    .source = "zones/us-central1-a/disks/d1",
				    .request_id = RID};

	struct canned exists[] = {
	    {409, NULL,
	     ERR(409, "alreadyExists",
		 "The resource 'projects/demo-project/global/snapshots/s1' already exists")}};
	server_script(exists, 1);
	CHECK_EQ_INT(P->ops->create(P, &req, &op, &err), -EEXIST);
	CHECK_EQ_INT(err.http_status, 409);
	CHECK_EQ_STR(err.reason, "alreadyExists");
	CHECK(strstr(err.message,
		     "POST zones/us-central1-a/disks/d1/createSnapshot: HTTP 409 alreadyExists: "
		     "The resource") == err.message);
	CHECK(op.name == NULL);

	struct canned inuse[] = {
	    {400, NULL,
	     ERR(400, "resourceInUseByAnotherResource",
		 "The snapshot resource 'projects/demo-project/global/snapshots/s1' is already "
		 "being used by 'projects/demo-project/global/images/i1'")}};
	server_script(inuse, 1);
	CHECK_EQ_INT(P->ops->remove(P, "global/snapshots/s1", RID, &op, &err), -EBUSY);
	CHECK_EQ_STR(err.reason, "resourceInUseByAnotherResource");
	CHECK(strstr(err.message, "is already being used by") != NULL);
	struct canned notready[] = {{400, NULL, ERR(400, "resourceNotReady", "not ready")}};
	server_script(notready, 1);
	CHECK_EQ_INT(P->ops->remove(P, "global/snapshots/s1", RID, &op, &err), -EBUSY);
	struct canned gone[] = {{404, NULL, ERR(404, "notFound", "The resource was not found")}};
	server_script(gone, 1);
	CHECK_EQ_INT(P->ops->power(P, "zones/us-central1-a/instances/i1", true, RID, &op, &err),
		     -ENOENT);
	struct canned denied[] = {{403, NULL, ERR(403, "forbidden", "Required permission")}};
	server_script(denied, 1);
	CHECK_EQ_INT(P->ops->create(P, &req, &op, &err), -EACCES);
	struct canned inval[] = {{400, NULL, ERR(400, "invalid", "Invalid value for field")}};
	server_script(inval, 1);
	CHECK_EQ_INT(P->ops->create(P, &req, &op, &err), -EINVAL);

	/* 503 then the answer: the http layer retries, the same request (and
	 * requestId) both times */
	struct canned flaky[] = {
	    {503, NULL, ERR(503, "backendError", "Backend Error")},
	    {200, NULL, OP_ZONAL("operation-r", "PENDING", "zones/us-central1-a/disks/d1")},
	};
	server_script(flaky, 2);
	CHECK_EQ_INT(P->ops->create(P, &req, &op, &err), 0);
	CHECK_EQ_INT(server_count(), 2);
	CHECK_EQ_STR(S.req[0].line, S.req[1].line);
	CHECK_EQ_STR(S.req[0].body, S.req[1].body);
	CHECK(strstr(S.req[1].line, "requestId=" RID) != NULL);
	CHECK_EQ_STR(op.name, "operation-r");
	cf_operation_clear(&op);
	/* still 503 after every try: EAGAIN, the API's reason */
	struct canned down[] = {
	    {503, NULL, ERR(503, "backendError", "Backend Error")},
	    {503, NULL, ERR(503, "backendError", "Backend Error")},
	};
	server_script(down, 2);
	CHECK_EQ_INT(P->ops->power(P, "zones/us-central1-a/instances/i1", false, RID, &op, &err),
		     -EAGAIN);
	CHECK_EQ_INT(err.http_status, 503);
	CHECK_EQ_INT(server_count(), 2);

	/* 401: a fresh token and one more try */
	struct canned expired[] = {
	    {401, NULL, ERR(401, "authError", "Invalid Credentials")},
	    {200, NULL, OP_GLOBAL("operation-a", "PENDING", "global/snapshots/s1")},
	};
	server_script(expired, 2);
	write_token("tok-w2\n");
	CHECK_EQ_INT(P->ops->remove(P, "global/snapshots/s1", RID, &op, &err), 0);
	CHECK_EQ_INT(server_count(), 2);
	CHECK(strstr(S.req[1].head, "Authorization: Bearer tok-w2\r\n") != NULL);
	cf_operation_clear(&op);

	/* a 2xx that is not an operation: the API may have acted, so EAGAIN
	 * (repeat with the same request id), never success */
	static const char *const junk[] = {
	    "<html>ok</html>",
	    "{}",
	    "{\"kind\":\"compute#snapshot\",\"name\":\"s1\",\"status\":\"READY\"}",
	    "{\"name\":\"operation-1\",\"status\":\"DONE\",\"clientOperationId\":\"" RID2 "\"}",
	};
	for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
		struct canned j[] = {{200, NULL, junk[i]}};
		server_script(j, 1);
		rc = P->ops->create(P, &req, &op, &err);
		if (rc != -EAGAIN)
			fprintf(stderr, "  accepted %s\n", junk[i]);
		CHECK_EQ_INT(rc, -EAGAIN);
		CHECK(strstr(err.message, "outcome unknown") != NULL);
		CHECK(op.name == NULL);
	}
	/* the matching clientOperationId (any case) is fine */
	struct canned cid[] = {{200, NULL,
				"{\"name\":\"operation-1\",\"status\":\"PENDING\","
				"\"clientOperationId\":\"0D6C1A7E-3B1F-4C52-9A4E-5F7D2B8C9E01\"}"}};
	server_script(cid, 1);
	CHECK_EQ_INT(P->ops->create(P, &req, &op, &err), 0);
	cf_operation_clear(&op);

	/* nobody there: EAGAIN with the transport's reason */
	provider_at(closed_port());
	CHECK_EQ_INT(P->ops->create(P, &req, &op, &err), -EAGAIN);
	CHECK_EQ_INT(err.http_status, 0);
	CHECK(strstr(err.message, "POST zones/us-central1-a/disks/d1/createSnapshot: ") ==
	      err.message);
	CHECK_EQ_INT(P->ops->set_labels(P, "global/snapshots/s1", NULL, 0, "fp", NULL, &op, &err),
		     -EAGAIN);
	provider_at(S.port);

	/* no token: nothing sent */
	unlink(token_path);
	server_script(NULL, 0);
	CHECK_EQ_INT(P->ops->remove(P, "global/snapshots/s1", RID, &op, &err), -EACCES);
	CHECK_EQ_INT(server_count(), 0);
	write_token("tok-w\n");
}

/* ---- op_poll ---- */

static void test_op_poll(void)
{
	struct cf_operation op = {0};
	struct cf_error err;

	struct canned seq[] = {
	    {200, NULL, OP_ZONAL("operation-z", "RUNNING", "zones/us-central1-a/disks/d1")},
	    {200, NULL, OP_ZONAL("operation-z", "DONE", "zones/us-central1-a/disks/d1")},
	};
	server_script(seq, 2);
	op.name = strdup("operation-z");
	op.scope = strdup("zones/us-central1-a");
	CHECK_EQ_INT(P->ops->op_poll(P, &op, false, &err), 0);
	line_is(0, "GET", "zones/us-central1-a/operations/operation-z?prettyPrint=false");
	CHECK_EQ_STR(op.status, "RUNNING");
	CHECK(!op.done);
	CHECK_EQ_INT(P->ops->op_poll(P, &op, true, &err), 0);
	line_is(1, "POST", "zones/us-central1-a/operations/operation-z/wait?prettyPrint=false");
	no_body(1);
	CHECK_EQ_STR(op.status, "DONE");
	CHECK_EQ_STR(op.target, "zones/us-central1-a/disks/d1");
	CHECK(op.done && !op.failed);
	cf_operation_clear(&op);

	/* global and regional scopes; DONE with the API's error */
	struct canned g[] = {
	    {200, NULL,
	     "{\"kind\":\"compute#operation\",\"name\":\"operation-g\",\"status\":\"DONE\","
	     "\"targetLink\":\"" LINK "global/machineImages/mi-1\",\"error\":{\"errors\":[{"
	     "\"code\":\"GUEST_FLUSH_FAILED\",\"message\":\"Guest flush failed.\"}]},"
	     "\"httpErrorStatusCode\":400,\"httpErrorMessage\":\"BAD REQUEST\"}"},
	    {200, NULL, OP_REGIONAL("operation-r", "DONE", "regions/us-central1/disks/r1")},
	};
	server_script(g, 2);
	op.name = strdup("operation-g");
	op.scope = strdup("global");
	CHECK_EQ_INT(P->ops->op_poll(P, &op, true, &err), 0);
	line_is(0, "POST", "global/operations/operation-g/wait?prettyPrint=false");
	CHECK(op.done && op.failed);
	CHECK_EQ_STR(op.err.reason, "GUEST_FLUSH_FAILED");
	CHECK_EQ_STR(op.err.message, "Guest flush failed.");
	CHECK_EQ_INT(op.err.http_status, 400);
	cf_operation_clear(&op);
	op.name = strdup("operation-r");
	op.scope = strdup("regions/us-central1");
	CHECK_EQ_INT(P->ops->op_poll(P, &op, false, &err), 0);
	line_is(1, "GET", "regions/us-central1/operations/operation-r?prettyPrint=false");
	CHECK(op.done && !op.failed);
	cf_operation_clear(&op);

	/* an answer about another operation, or no operation: op untouched */
	struct canned other[] = {
	    {200, NULL, OP_ZONAL("operation-other", "DONE", "zones/us-central1-a/disks/d1")},
	    {200, NULL, OP_GLOBAL("operation-z", "DONE", "global/snapshots/s1")},
	    {200, NULL, "not json"},
	    {200, NULL, "{\"name\":\"operation-z\"}"},
	    {404, NULL, ERR(404, "notFound", "The resource 'operation-z' was not found")},
	};
	server_script(other, 5);
	op.name = strdup("operation-z");
	op.scope = strdup("zones/us-central1-a");
	op.status = strdup("RUNNING");
	CHECK_EQ_INT(P->ops->op_poll(P, &op, false, &err), -EPROTO);
	CHECK(strstr(err.message, "another operation") != NULL);
	CHECK_EQ_INT(P->ops->op_poll(P, &op, false, &err), -EPROTO); /* scope differs */
	CHECK_EQ_INT(P->ops->op_poll(P, &op, false, &err), -EPROTO);
	CHECK(strstr(err.message, "not valid JSON") != NULL);
	CHECK_EQ_INT(P->ops->op_poll(P, &op, false, &err), -EPROTO);
	CHECK(strstr(err.message, "status") != NULL);
	CHECK_EQ_INT(P->ops->op_poll(P, &op, false, &err), -ENOENT);
	CHECK_EQ_STR(op.name, "operation-z");
	CHECK_EQ_STR(op.status, "RUNNING");
	CHECK(!op.done);
	cf_operation_clear(&op);
}

int main(void)
{
	cf_layout_use(&cf_gce_layout);
	test_uuid4();
	test_decode_operation();

	snprintf(token_path, sizeof token_path, "/tmp/clonefs-test-wtoken-%d", (int) getpid());
	if (server_start()) {
		fprintf(stderr, "cannot start the test server\n");
		return 1;
	}
	struct cf_http_config hc = {.max_attempts = 2,
				    .base_delay_ms = 1,
				    .max_delay_ms = 5,
				    .timeout_ms = 10000,
				    .allow_insecure_loopback = true};
	CHECK_EQ_INT(cf_http_new(&hc, &H), 0);
	write_token("tok-w\n");
	CHECK_EQ_INT(cf_auth_new(&(struct cf_auth_config){.token_file = token_path}, &A), 0);
	provider_at(S.port);

	test_create();
	test_invalid_input();
	test_restore();
	test_remove_power();
	test_set_labels();
	test_change_labels();
	test_failures();
	test_op_poll();

	P->ops->destroy(P);
	cf_auth_free(A);
	cf_http_free(H);
	server_stop();
	unlink(token_path);
	return check_summary();
}
