/* test_aws_write.c — the AWS provider's writes against a scripted server,
 * request by request: a CreateSnapshot whose answer is lost (a 500) is
 * looked up by its request tag, and found, so it is never sent twice; every
 * tag goes in the create's TagSpecification; rmdir of an AMI deregisters
 * it, deletes the snapshot no other AMI uses and keeps the shared one; a
 * snapshot in use is EBUSY, a locked one EPERM, AWS Backup's EPERM with
 * nothing sent; a tag is removed with the value it had; op_poll follows the
 * snapshot's state; a restore's volume is asked again with its ClientToken;
 * the lookup after a lost answer runs on its own time, not the write's: a
 * short write deadline does not cut it (an EAGAIN for a clone EC2 made);
 * a resumed job's create (maybe_sent) is looked for as patiently, and a
 * snapshot made before the crash is never made again. */
#include "aws.h"
#include "aws_creds.h"
#include "aws_query.h"
#include "check.h"
#include "deadline.h"
#include "http.h"
#include "layout.h"
#include "mini_httpd.h"
#include "provider.h"
#include "stop.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define NS	 " xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\""
#define XML_HEAD "Content-Type: text/xml;charset=UTF-8\r\n"
#define RID	 "6f1c0a2e-9d4b-4c3a-8e2f-0123456789ab"

static struct cf_http *H;
static struct cf_provider *P;

#define SNAPS(items)                                                                               \
	"<DescribeSnapshotsResponse" NS "><requestId>r</requestId><snapshotSet>" items             \
	"</snapshotSet></DescribeSnapshotsResponse>"
#define IMAGES(items)                                                                              \
	"<DescribeImagesResponse" NS "><requestId>r</requestId><imagesSet>" items                  \
	"</imagesSet></DescribeImagesResponse>"
#define SNAP(id, status, tags)                                                                     \
	"<item><snapshotId>" id "</snapshotId><volumeId>vol-0a0a0a0a</volumeId><status>" status    \
	"</status><startTime>2024-05-01T00:00:00Z</startTime><volumeSize>8</volumeSize>"           \
	"<tagSet>" tags "</tagSet></item>"
#define TAG(k, v) "<item><key>" k "</key><value>" v "</value></item>"
#define AMI(id, snaps)                                                                             \
	"<item><imageId>" id "</imageId><name>n-" id "</name><imageState>available</imageState>"   \
	"<creationDate>2024-05-01T00:00:00Z</creationDate><blockDeviceMapping>" snaps              \
	"</blockDeviceMapping></item>"
#define BDM(snap)                                                                                  \
	"<item><deviceName>/dev/x</deviceName><ebs><snapshotId>" snap "</snapshotId></ebs></item>"
#define ERR(code, msg)                                                                             \
	"<Response><Errors><Error><Code>" code "</Code><Message>" msg "</Message></Error>"         \
	"</Errors><RequestID>e</RequestID></Response>"
#define OK(action)                                                                                 \
	"<" action "Response" NS "><requestId>r</requestId><return>true</return></" action         \
	"Response>"

static const char *req_body(int i)
{
	return i < S.nreq ? S.req[i].body : "";
}

static bool sent(int i, const char *action)
{
	char want[96];
	snprintf(want, sizeof want, "Action=%s&", action);
	return i < S.nreq && strstr(S.req[i].body, want) != NULL;
}

static int count(const char *action)
{
	int n = 0;
	for (int i = 0; i < S.nreq; i++)
		n += sent(i, action);
	return n;
}

/* A create's first try: the tag is unknown, the volume is read, and the
 * create's answer is a 500 (done or not: unknown). */
#define LOST_CREATE                                                                                \
	{200, XML_HEAD, SNAPS(""), false},                                                         \
	    {200, XML_HEAD,                                                                        \
	     "<DescribeVolumesResponse" NS "><volumeSet><item><volumeId>vol-0a0a0a0a</volumeId>"   \
	     "<size>8</size><status>in-use</status><createTime>2024-01-01T00:00:00Z</createTime>"  \
	     "</item></volumeSet></DescribeVolumesResponse>",                                      \
	     false},                                                                               \
	{                                                                                          \
		500, XML_HEAD, ERR("InternalError", "An internal error has occurred"), false       \
	}

static void test_create_lost_answer_found_by_tag(void)
{
	static const struct canned script[] = {
	    LOST_CREATE,
	    /* the repeat: not visible yet (eventual consistency), then there */
	    {200, XML_HEAD, SNAPS(""), false},
	    {200, XML_HEAD, SNAPS(SNAP("snap-0b0b0b0b", "pending", TAG("clonefs-request", RID))),
	     false},
	};
	server_script(script, 5);
	struct cf_label labels[] = {{(char *) "team", (char *) "db"},
				    {(char *) "clonefs-source", (char *) "volumes-x"}};
	struct cf_create_req req = {.kind = CF_KIND_SNAPSHOT,
				    .name = "before upgrade",
				    .source = "volumes/vol-0a0a0a0a",
				    .labels = labels,
				    .nlabels = 2,
				    .request_id = RID};
	struct cf_operation op = {0};
	struct cf_error err = {0};
	int rc = P->ops->create(P, &req, &op, &err);
	CHECK_EQ_INT(rc, -EAGAIN);
	CHECK(err.retryable);
	CHECK_EQ_INT(count("CreateSnapshot"), 1);
	/* every tag in the create call itself */
	const char *b = req_body(2);
	CHECK(strstr(b, "TagSpecification.1.ResourceType=snapshot") != NULL);
	CHECK(strstr(b, "Key=Name&TagSpecification.1.Tag.1.Value=before%20upgrade") != NULL);
	CHECK(strstr(b, "Value=db") != NULL);
	CHECK(strstr(b, "Key=clonefs-request&TagSpecification.1.Tag.4.Value=" RID) != NULL);
	CHECK(strstr(b, "VolumeId=vol-0a0a0a0a") != NULL);

	rc = P->ops->create(P, &req, &op, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_STR(op.name, "snap-0b0b0b0b");
	CHECK(!op.done);
	CHECK_EQ_INT(count("CreateSnapshot"), 1); /* never sent twice */
	CHECK_EQ_INT(S.nreq, 5);
	CHECK(strstr(req_body(4), "Filter.1.Name=tag%3Aclonefs-request") != NULL);

	/* op_poll follows the snapshot: pending, then completed */
	static const struct canned polls[] = {
	    {200, XML_HEAD, SNAPS(SNAP("snap-0b0b0b0b", "pending", "")), false},
	    {200, XML_HEAD, SNAPS(SNAP("snap-0b0b0b0b", "completed", "")), false},
	};
	server_script(polls, 2);
	CHECK_EQ_INT(P->ops->op_poll(P, &op, false, &err), 0);
	CHECK(!op.done);
	CHECK_EQ_INT(P->ops->op_poll(P, &op, false, &err), 0);
	CHECK(op.done && !op.failed);
	cf_operation_clear(&op);
}

/* A lost answer, then a write deadline shorter than EC2's consistency delay:
 * the lookup is the lookup's time (find_request), so it goes on until the
 * snapshot shows, and the write's deadline is moved on by that time. */
static void test_lookup_outlasts_a_short_write_deadline(void)
{
#define RID2 "0d9e8f7a-6b5c-4d3e-9f2a-1b2c3d4e5f60"
	static const struct canned script[] = {
	    LOST_CREATE,
	    /* hidden from Describe for about 2 s, then there */
	    {200, XML_HEAD, SNAPS(""), false},
	    {200, XML_HEAD, SNAPS(""), false},
	    {200, XML_HEAD, SNAPS(""), false},
	    {200, XML_HEAD, SNAPS(""), false},
	    {200, XML_HEAD, SNAPS(SNAP("snap-0c0c0c0c", "pending", TAG("clonefs-request", RID2))),
	     false},
	};
	server_script(script, 8);
	struct cf_create_req req = {.kind = CF_KIND_SNAPSHOT,
				    .name = "late",
				    .source = "volumes/vol-0a0a0a0a",
				    .request_id = RID2};
	struct cf_operation op = {0};
	struct cf_error err = {0};
	CHECK_EQ_INT(P->ops->create(P, &req, &op, &err), -EAGAIN);
	CHECK_EQ_INT(count("CreateSnapshot"), 1);
	/* the write has 1 s left: less than the lookup takes */
	int64_t deadline = cf_mono_ms() + 1000;
	cf_http_set_deadline(deadline);
	int rc = P->ops->create(P, &req, &op, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK(rc || !strcmp(op.name, "snap-0c0c0c0c"));
	CHECK_EQ_INT(count("CreateSnapshot"), 1); /* never sent twice */
	CHECK_EQ_INT(S.nreq, 8);
	/* the lookup's time is not the write's */
	CHECK(cf_http_deadline() > deadline);
	cf_http_set_deadline(0);
	cf_operation_clear(&op);
#undef RID2
}

/* A job resumed after a crash (maybe_sent): its CreateSnapshot left before
 * the crash, and the snapshot is hidden from Describe for about 2 s. This
 * process lost no answer, yet the lookup is patient: nothing is sent. */
static void test_resumed_create_waits_for_its_snapshot(void)
{
#define RID3 "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
	static const struct canned script[] = {
	    {200, XML_HEAD, SNAPS(""), false},
	    {200, XML_HEAD, SNAPS(""), false},
	    {200, XML_HEAD, SNAPS(""), false},
	    {200, XML_HEAD, SNAPS(SNAP("snap-0d0d0d0d", "pending", TAG("clonefs-request", RID3))),
	     false},
	};
	server_script(script, 4);
	struct cf_create_req req = {.kind = CF_KIND_SNAPSHOT,
				    .name = "resumed",
				    .source = "volumes/vol-0a0a0a0a",
				    .request_id = RID3,
				    .maybe_sent = true};
	struct cf_operation op = {0};
	struct cf_error err = {0};
	int rc = P->ops->create(P, &req, &op, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK(rc || !strcmp(op.name, "snap-0d0d0d0d"));
	CHECK_EQ_INT(count("CreateSnapshot"), 0); /* made before the crash: never again */
	CHECK_EQ_INT(S.nreq, 4);
	for (int i = 0; i < S.nreq; i++)
		CHECK(sent(i, "DescribeSnapshots"));
	cf_operation_clear(&op);
#undef RID3
}

/* A create whose answer was lost is looked for by its tag for a while; an
 * unmount (the thread's stop flag raised) ends that wait: still unknown,
 * EAGAIN, never a second create. */
static void test_lookup_ends_on_stop(void)
{
#define RID2 "0e9d8c7b-6a5f-4e3d-8c2b-1a0f9e8d7c6b"
	static const struct canned lost[] = {
	    LOST_CREATE,
	};
	server_script(lost, 3);
	struct cf_create_req req = {.kind = CF_KIND_SNAPSHOT,
				    .name = "lost answer",
				    .source = "volumes/vol-0a0a0a0a",
				    .request_id = RID2};
	struct cf_operation op = {0};
	struct cf_error err = {0};
	CHECK_EQ_INT(P->ops->create(P, &req, &op, &err), -EAGAIN);
	CHECK_EQ_INT(count("CreateSnapshot"), 1);

	struct cf_stop stop;
	CHECK_EQ_INT(cf_stop_init(&stop), 0);
	cf_stop_raise(&stop);
	cf_stop_set_current(&stop);
	static const struct canned empty[] = {{200, XML_HEAD, SNAPS(""), false},
					      {200, XML_HEAD, SNAPS(""), false},
					      {200, XML_HEAD, SNAPS(""), false}};
	server_script(empty, 3);
	CHECK_EQ_INT(P->ops->create(P, &req, &op, &err), -EAGAIN);
	CHECK(err.retryable);
	CHECK(strstr(err.message, "stopping") != NULL);
	CHECK_EQ_INT(S.nreq, 1); /* one lookup, no pause, no create */
	CHECK_EQ_INT(count("CreateSnapshot"), 0);
	cf_stop_set_current(NULL);
	cf_stop_destroy(&stop);
#undef RID2
}

static void test_remove_ami_keeps_a_shared_snapshot(void)
{
	static const struct canned script[] = {
	    {200, XML_HEAD, IMAGES(AMI("ami-0a0a0a0a", BDM("snap-01010101") BDM("snap-02020202"))),
	     false},
	    {200, XML_HEAD, IMAGES(AMI("ami-0a0a0a0a", BDM("snap-01010101") BDM("snap-02020202"))),
	     false},
	    {200, XML_HEAD, OK("DeregisterImage"), false},
	    /* snap-01010101: another AMI uses it */
	    {200, XML_HEAD, IMAGES(AMI("ami-0c0c0c0c", BDM("snap-01010101"))), false},
	    /* snap-02020202: nobody else */
	    {200, XML_HEAD, IMAGES(""), false},
	    {200, XML_HEAD, OK("DeleteSnapshot"), false},
	};
	server_script(script, 6);
	struct cf_operation op = {0};
	struct cf_error err = {0};
	CHECK_EQ_INT(P->ops->remove(P, "images/ami-0a0a0a0a", RID, &op, &err), 0);
	CHECK(op.done);
	CHECK_EQ_INT(S.nreq, 6);
	CHECK(sent(2, "DeregisterImage"));
	CHECK(strstr(req_body(3), "block-device-mapping.snapshot-id") != NULL);
	CHECK_EQ_INT(count("DeleteSnapshot"), 1);
	CHECK(strstr(req_body(5), "SnapshotId=snap-02020202") != NULL);
	cf_operation_clear(&op);
}

static void test_remove_refusals(void)
{
	struct cf_operation op = {0};
	struct cf_error err = {0};
	static const struct canned in_use[] = {
	    {200, XML_HEAD, SNAPS(SNAP("snap-01010101", "completed", "")), false},
	    {400, XML_HEAD, ERR("InvalidSnapshot.InUse", "in use by ami-0a0a0a0a"), false},
	};
	server_script(in_use, 2);
	CHECK_EQ_INT(P->ops->remove(P, "snapshots/snap-01010101", RID, &op, &err), -EBUSY);
	static const struct canned locked[] = {
	    {200, XML_HEAD, SNAPS(SNAP("snap-01010101", "completed", "")), false},
	    {400, XML_HEAD, ERR("InvalidParameterValue", "The snapshot is locked"), false},
	};
	server_script(locked, 2);
	CHECK_EQ_INT(P->ops->remove(P, "snapshots/snap-01010101", RID, &op, &err), -EPERM);
	static const struct canned backup[] = {
	    {200, XML_HEAD,
	     SNAPS(SNAP("snap-01010101", "completed", TAG("aws:backup:source-resource", "x"))),
	     false},
	};
	server_script(backup, 1);
	CHECK_EQ_INT(P->ops->remove(P, "snapshots/snap-01010101", RID, &op, &err), -EPERM);
	CHECK_EQ_INT(count("DeleteSnapshot"), 0); /* refused before anything was sent */
	/* gone already (a repeat after a lost answer): done */
	static const struct canned gone[] = {
	    {200, XML_HEAD, SNAPS(SNAP("snap-01010101", "completed", "")), false},
	    {400, XML_HEAD, ERR("InvalidSnapshot.NotFound", "no such snapshot"), false},
	};
	server_script(gone, 2);
	CHECK_EQ_INT(P->ops->remove(P, "snapshots/snap-01010101", RID, &op, &err), 0);
	cf_operation_clear(&op);
}

/* The caller's plan: remove key "env". */
static int plan_remove_env(void *ctx, const struct cf_resource *now, struct cf_label_change *ch,
			   size_t cap, size_t *n)
{
	(void) ctx, (void) now, (void) cap;
	ch[0].key = "env";
	ch[0].value = NULL;
	*n = 1;
	return 0;
}

static void test_delete_tag_with_its_value(void)
{
	static const struct canned script[] = {
	    {200, XML_HEAD, SNAPS(SNAP("snap-01010101", "completed", TAG("env", "prod"))), false},
	    {200, XML_HEAD, OK("DeleteTags"), false},
	};
	server_script(script, 2);
	struct cf_operation op = {0};
	struct cf_error err = {0};
	CHECK_EQ_INT(
	    P->ops->change_labels(P, "snapshots/snap-01010101", plan_remove_env, NULL, &op, &err),
	    0);
	CHECK(sent(1, "DeleteTags"));
	CHECK(strstr(req_body(1), "Tag.1.Key=env&Tag.1.Value=prod") != NULL);
	cf_operation_clear(&op);
}

#define VOLS(items)                                                                                \
	"<DescribeVolumesResponse" NS "><volumeSet>" items "</volumeSet></"                        \
	"DescribeVolumesResponse>"
#define VOL(id, status)                                                                            \
	"<item><volumeId>" id "</volumeId><size>8</size><status>" status "</status>"               \
	"<availabilityZone>us-east-1b</availabilityZone>"                                          \
	"<createTime>2024-01-01T00:00:00Z</createTime></item>"

/* A restore (aws_restore.c): a volume from a snapshot in its volume's zone;
 * an answer lost to a 500 is asked again with the same ClientToken and the
 * same parameters (no tag lookup: EC2 answers a repeated token with the
 * first volume); a failure reading the snapshot's volume sends nothing. */
static void test_restore_volume_by_client_token(void)
{
	static const struct canned script[] = {
	    {200, XML_HEAD, SNAPS(SNAP("snap-0b0b0b0b", "completed", "")), false},
	    {200, XML_HEAD, VOLS(VOL("vol-0a0a0a0a", "in-use")), false},
	    {500, XML_HEAD, ERR("InternalError", "An internal error has occurred"), false},
	    {200, XML_HEAD, SNAPS(SNAP("snap-0b0b0b0b", "completed", "")), false},
	    {200, XML_HEAD, VOLS(VOL("vol-0a0a0a0a", "in-use")), false},
	    {200, XML_HEAD,
	     "<CreateVolumeResponse" NS "><requestId>r</requestId><volumeId>vol-0c0c0c0c</volumeId>"
	     "<size>8</size><status>creating</status></CreateVolumeResponse>",
	     false},
	};
	server_script(script, 6);
	struct cf_label labels[] = {{(char *) "clonefs-restored-from", (char *) "x-snap-0b0b0b0b"}};
	struct cf_restore_req req = {.kind = CF_KIND_DISK,
				     .scope = "",
				     .name = "db-restored",
				     .source = "snapshots/snap-0b0b0b0b",
				     .labels = labels,
				     .nlabels = 1,
				     .request_id = RID};
	struct cf_operation op = {0};
	struct cf_error err = {0};
	int rc = P->ops->restore(P, &req, &op, &err);
	CHECK(rc < 0);
	CHECK(err.retryable);
	rc = P->ops->restore(P, &req, &op, &err);
	CHECK_EQ_INT(rc, 0);
	CHECK_EQ_INT(S.nreq, 6);
	CHECK_EQ_INT(count("CreateVolume"), 2);
	CHECK_EQ_STR(req_body(2), req_body(5)); /* the same request, token and all */
	const char *b = req_body(5);
	CHECK(strstr(b, "ClientToken=" RID) != NULL);
	CHECK(strstr(b, "SnapshotId=snap-0b0b0b0b") != NULL);
	CHECK(strstr(b, "AvailabilityZone=us-east-1b") != NULL);
	CHECK(strstr(b, "Size=8") != NULL);
	CHECK(strstr(b, "TagSpecification.1.ResourceType=volume") != NULL);
	CHECK(strstr(b, "Key=Name&TagSpecification.1.Tag.1.Value=db-restored") != NULL);
	CHECK(strstr(b, "Value=x-snap-0b0b0b0b") != NULL);
	CHECK(strstr(b, "Key=clonefs-request&TagSpecification.1.Tag.3.Value=" RID) != NULL);
	CHECK_EQ_STR(op.name, "vol-0c0c0c0c");
	CHECK(!op.done);
	static const struct canned polls[] = {
	    {200, XML_HEAD, VOLS(VOL("vol-0c0c0c0c", "creating")), false},
	    {200, XML_HEAD, VOLS(VOL("vol-0c0c0c0c", "available")), false},
	};
	server_script(polls, 2);
	CHECK_EQ_INT(P->ops->op_poll(P, &op, false, &err), 0);
	CHECK(!op.done);
	CHECK_EQ_INT(P->ops->op_poll(P, &op, false, &err), 0);
	CHECK(op.done && !op.failed);
	cf_operation_clear(&op);

	static const struct canned unreadable[] = {
	    {200, XML_HEAD, SNAPS(SNAP("snap-0b0b0b0b", "completed", "")), false},
	    {500, XML_HEAD, ERR("InternalError", "An internal error has occurred"), false},
	};
	server_script(unreadable, 2);
	rc = P->ops->restore(P, &req, &op, &err);
	CHECK(rc < 0);
	CHECK(err.retryable);
	CHECK_EQ_INT(count("CreateVolume"), 0);
	cf_operation_clear(&op);
}

int main(void)
{
	CHECK_EQ_INT(cf_layout_use(&cf_aws_layout), 0);
	if (server_start()) {
		fprintf(stderr, "cannot start the test server\n");
		return 1;
	}
	struct cf_http_config hc = {
	    .allow_insecure_loopback = true, .max_attempts = 1, .base_delay_ms = 1};
	CHECK_EQ_INT(cf_http_new(&hc, &H), 0);
	char url[128], why[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", S.port);
	struct cf_aws_creds_config cc = {.region = "us-east-1",
					 .endpoint = url,
					 .access_key_id = "AKIDEXAMPLE",
					 .secret_access_key = "secret"};
	struct cf_aws_creds *cr = NULL;
	struct cf_aws_client *c = NULL;
	CHECK_EQ_INT(cf_aws_creds_new(&cc, &cr, why, sizeof why), 0);
	struct cf_aws_client_config cfg = {.http = H, .creds = cr};
	CHECK_EQ_INT(cf_aws_client_new(&cfg, &c, why, sizeof why), 0);
	CHECK_EQ_INT(cf_aws_new(c, &P), 0);
	if (P) {
		test_create_lost_answer_found_by_tag();
		test_lookup_outlasts_a_short_write_deadline();
		test_resumed_create_waits_for_its_snapshot();
		test_lookup_ends_on_stop();
		test_remove_ami_keeps_a_shared_snapshot();
		test_remove_refusals();
		test_delete_tag_with_its_value();
		test_restore_volume_by_client_token();
		P->ops->destroy(P);
	}
	cf_aws_client_free(c);
	cf_aws_creds_free(cr);
	cf_http_free(H);
	server_stop();
	return check_summary();
}
