/* test_aws_decode.c — the AWS provider's decoders on answers shaped like the
 * EC2 API reference's (DescribeSnapshots, DescribeImages, DescribeVolumes,
 * DescribeInstances), and on hostile ones: unsafe and id-shaped names,
 * huge numbers and texts, missing fields, wrong ids, a DOCTYPE, deep nesting.
 * Also the name, tag and AMI-name rules and the status words. Every hostile
 * case asserts the exact outcome (kept, skipped, or the page refused). */
#include "aws.h"
#include "check.h"
#include "layout.h"
#include "provider.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NS " xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\""

static int decode(const char *xml, enum cf_kind k, struct cf_page *p)
{
	struct cf_error err = {0};
	int rc = cf_aws_decode_page(xml, strlen(xml), k, p, &err);
	if (rc)
		fprintf(stderr, "  (refused: %s)\n", err.message);
	return rc;
}

static const char *label(const struct cf_resource *r, const char *key)
{
	for (size_t i = 0; i < r->nlabels; i++)
		if (!strcmp(r->labels[i].key, key))
			return r->labels[i].value;
	return NULL;
}

static void test_snapshots(void)
{
	const char *xml =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<DescribeSnapshotsResponse" NS ">\n"
	    "  <requestId>59dbff89-35bd-4eac-99ed-be587EXAMPLE</requestId>\n"
	    "  <snapshotSet>\n"
	    "    <item>\n"
	    "      <snapshotId>snap-1234567890abcdef0</snapshotId>\n"
	    "      <volumeId>vol-1234567890abcdef0</volumeId>\n"
	    "      <status>pending</status>\n"
	    "      <startTime>2016-06-01T09:32:09.000Z</startTime>\n"
	    "      <progress>80%</progress>\n"
	    "      <ownerId>111122223333</ownerId>\n"
	    "      <volumeSize>15</volumeSize>\n"
	    "      <description>Daily Backup</description>\n"
	    "      <encrypted>true</encrypted>\n"
	    "      <fullSnapshotSizeInBytes>3221225472</fullSnapshotSizeInBytes>\n"
	    "      <tagSet>\n"
	    "        <item><key>Name</key><value>db-daily</value></item>\n"
	    "        <item><key>aws:backup:source-resource</key><value>x</value></item>\n"
	    "        <item><key>empty</key></item>\n"
	    "        <item><key>bad&#9;key</key><value>v</value></item>\n"
	    "      </tagSet>\n"
	    "    </item>\n"
	    "    <item>\n"
	    "      <snapshotId>snap-0a1b2c3d</snapshotId>\n"
	    "      <volumeId>vol-ffffffff</volumeId>\n"
	    "      <status>completed</status>\n"
	    "      <startTime>2016-06-02T09:32:09Z</startTime>\n"
	    "      <volumeSize>99999999999999999999</volumeSize>\n"
	    "    </item>\n"
	    "  </snapshotSet>\n"
	    "  <nextToken>eyJ2IjoiMiJ9</nextToken>\n"
	    "</DescribeSnapshotsResponse>\n";
	struct cf_page p;
	CHECK_EQ_INT(decode(xml, CF_KIND_SNAPSHOT, &p), 0);
	CHECK_EQ_INT(p.n, 2);
	CHECK_EQ_INT(p.skipped, 0);
	CHECK_EQ_STR(p.next_token, "eyJ2IjoiMiJ9");
	if (p.n == 2) {
		struct cf_resource *r = &p.items[0];
		CHECK_EQ_INT(r->kind, CF_KIND_SNAPSHOT);
		CHECK_EQ_STR(r->id, "snap-1234567890abcdef0");
		CHECK_EQ_STR(r->name, "snap-1234567890abcdef0");
		CHECK_EQ_STR(r->name_pref, "db-daily");
		/* status in the engine's words; AWS's own stays in the raw item */
		CHECK_EQ_STR(r->status, "CREATING");
		CHECK(r->raw && strstr(r->raw, "\"status\":\"pending\""));
		CHECK_EQ_INT(r->created, 1464773529);
		CHECK_EQ_INT(r->size_bytes, 15ull << 30);
		CHECK_EQ_INT(r->stored_bytes, 3221225472ull);
		CHECK_EQ_STR(r->source, "volumes/vol-1234567890abcdef0");
		CHECK_EQ_STR(r->source_id, "vol-1234567890abcdef0");
		CHECK_EQ_INT(r->nlabels, 3); /* the tab in a key: that tag is left out */
		CHECK_EQ_STR(label(r, "Name"), "db-daily");
		CHECK_EQ_STR(label(r, "aws:backup:source-resource"), "x");
		CHECK_EQ_STR(label(r, "empty"), "");
		CHECK(r->raw && strstr(r->raw, "\"snapshotId\":\"snap-1234567890abcdef0\""));
		CHECK(r->raw && strstr(r->raw, "\"tagSet\":[{"));
		/* an absurd volumeSize is not a number kept: 0 (unknown) */
		CHECK_EQ_INT(p.items[1].size_bytes, 0);
		CHECK_EQ_INT(p.items[1].stored_bytes, 0);
		CHECK_EQ_STR(p.items[1].source, "volumes/vol-ffffffff");
		CHECK_EQ_INT(cf_aws_state(CF_KIND_SNAPSHOT, p.items[0].status), CF_STATE_CREATING);
		CHECK_EQ_INT(cf_aws_state(CF_KIND_SNAPSHOT, p.items[1].status), CF_STATE_READY);
		CHECK_EQ_STR(p.items[1].status, "READY");
	}
	cf_page_clear(&p);
}

static void test_images_volumes_instances(void)
{
	const char *ami =
	    "<DescribeImagesResponse" NS "><requestId>r</requestId><imagesSet><item>"
	    "<imageId>ami-1234567890abcdef0</imageId>"
	    "<imageLocation>123456789012/db-golden</imageLocation>"
	    "<imageState>available</imageState><imageOwnerId>123456789012</imageOwnerId>"
	    "<creationDate>2024-05-01T10:20:30.000Z</creationDate><isPublic>false</isPublic>"
	    "<name>db-golden</name><sourceInstanceId>i-1234567890abcdef0</sourceInstanceId>"
	    "<blockDeviceMapping>"
	    "<item><deviceName>/dev/xvda</deviceName><ebs><snapshotId>snap-11111111</snapshotId>"
	    "<volumeSize>8</volumeSize><deleteOnTermination>true</deleteOnTermination></ebs></item>"
	    "<item><deviceName>/dev/xvdb</deviceName><ebs><snapshotId>snap-22222222</snapshotId>"
	    "<volumeSize>100</volumeSize></ebs></item>"
	    "<item><deviceName>/dev/xvdc</deviceName><virtualName>ephemeral0</virtualName></item>"
	    "</blockDeviceMapping></item></imagesSet></DescribeImagesResponse>";
	struct cf_page p;
	CHECK_EQ_INT(decode(ami, CF_KIND_MACHINE_IMAGE, &p), 0);
	CHECK_EQ_INT(p.n, 1);
	CHECK(p.next_token == NULL);
	if (p.n) {
		CHECK_EQ_STR(p.items[0].id, "ami-1234567890abcdef0");
		CHECK_EQ_STR(p.items[0].status, "READY");
		CHECK(p.items[0].raw && strstr(p.items[0].raw, "\"imageState\":\"available\""));
		CHECK_EQ_INT(p.items[0].size_bytes, 108ull << 30);
		CHECK_EQ_STR(p.items[0].source, "instances/i-1234567890abcdef0");
		CHECK_EQ_INT(p.items[0].created, 1714558830);
		CHECK_EQ_STR(p.items[0].name_pref, "db-golden"); /* the AMI's name */
	}
	cf_page_clear(&p);
	/* without sourceInstanceId: the tag clonefs set; an id-shaped Name is no name */
	const char *ami2 =
	    "<DescribeImagesResponse><imagesSet><item><imageId>ami-22222222</imageId>"
	    "<imageState>pending</imageState><creationDate>2024-05-01T10:20:30Z</creationDate>"
	    "<name>ami-33333333</name><tagSet><item><key>clonefs-source-id</key>"
	    "<value>i-0b0b0b0b</value></item></tagSet></item>"
	    "<item><imageId>ami-55555555</imageId><imageState>deregistered</imageState>"
	    "<creationDate>2024-05-01T10:20:30Z</creationDate><name>gone</name></item>"
	    "<item><imageId>ami-44444444</imageId><imageState>available</imageState>"
	    "<creationDate>2024-05-01T10:20:30Z</creationDate><name>x</name><tagSet><item>"
	    "<key>clonefs-source-id</key><value>../../etc</value></item></tagSet></item>"
	    "</imagesSet></DescribeImagesResponse>";
	CHECK_EQ_INT(decode(ami2, CF_KIND_MACHINE_IMAGE, &p), 0);
	CHECK_EQ_INT(p.n, 2); /* the deregistered one is gone, not skipped */
	CHECK_EQ_INT(p.skipped, 0);
	if (p.n == 2) {
		CHECK_EQ_STR(p.items[0].status, "CREATING");
		CHECK_EQ_STR(p.items[0].source, "instances/i-0b0b0b0b");
		CHECK(p.items[0].name_pref == NULL);
		CHECK(p.items[1].source == NULL);
		CHECK_EQ_STR(p.items[1].name_pref, "x");
	}
	cf_page_clear(&p);
	char ids[4][32];
	size_t n = 0;
	CHECK_EQ_INT(cf_aws_image_snapshots(ami, strlen(ami), "ami-1234567890abcdef0", ids, 4, &n),
		     0);
	CHECK_EQ_INT(n, 2);
	if (n == 2) {
		CHECK_EQ_STR(ids[0], "snap-11111111");
		CHECK_EQ_STR(ids[1], "snap-22222222");
	}
	CHECK_EQ_INT(cf_aws_image_snapshots(ami, strlen(ami), "ami-00000000", ids, 4, &n), -ENOENT);

	const char *vol =
	    "<DescribeVolumesResponse" NS "><volumeSet><item>"
	    "<volumeId>vol-1234567890abcdef0</volumeId><size>80</size>"
	    "<snapshotId>snap-0a1b2c3d</snapshotId><availabilityZone>us-east-1a</availabilityZone>"
	    "<status>in-use</status><createTime>2013-12-18T22:35:00.084Z</createTime>"
	    "<attachmentSet><item><volumeId>vol-1234567890abcdef0</volumeId>"
	    "<instanceId>i-1234567890abcdef0</instanceId><device>/dev/sdh</device>"
	    "<status>attached</status><attachTime>2013-12-18T22:35:00.000Z</attachTime>"
	    "</item></attachmentSet><volumeType>gp3</volumeType>"
	    "<tagSet><item><key>Name</key><value>db-data</value></item></tagSet>"
	    "</item><item><volumeId>vol-0b0b0b0b</volumeId><size>1</size><snapshotId/>"
	    "<status>available</status><createTime>2013-12-18T22:35:00Z</createTime>"
	    "<attachmentSet/></item></volumeSet><nextToken/></DescribeVolumesResponse>";
	CHECK_EQ_INT(decode(vol, CF_KIND_DISK, &p), 0);
	CHECK_EQ_INT(p.n, 2);
	CHECK(p.next_token == NULL); /* an empty nextToken is the end */
	if (p.n == 2) {
		CHECK_EQ_INT(p.items[0].size_bytes, 80ull << 30);
		CHECK_EQ_STR(p.items[0].origin, "snapshots/snap-0a1b2c3d");
		CHECK_EQ_INT(p.items[0].nlinks, 1);
		if (p.items[0].nlinks)
			CHECK_EQ_STR(p.items[0].links[0], "instances/i-1234567890abcdef0");
		CHECK_EQ_INT(p.items[0].created, 1387406100);
		CHECK_EQ_INT(p.items[0].created_ns, 84000000);
		CHECK(p.items[1].origin == NULL);
		CHECK_EQ_INT(p.items[1].nlinks, 0);
		CHECK_EQ_INT(cf_aws_state(CF_KIND_DISK, "in-use"), CF_STATE_READY);
		CHECK_EQ_STR(p.items[0].status, "READY"); /* in-use */
		CHECK_EQ_STR(p.items[1].status, "READY"); /* available */
	}
	cf_page_clear(&p);

	const char *inst =
	    "<DescribeInstancesResponse" NS "><reservationSet>"
	    "<item><reservationId>r-1234567890abcdef0</reservationId><instancesSet>"
	    "<item><instanceId>i-1234567890abcdef0</instanceId><imageId>ami-0abcdef1</imageId>"
	    "<instanceState><code>80</code><name>stopped</name></instanceState>"
	    "<launchTime>2024-06-01T00:00:00.000Z</launchTime>"
	    "<blockDeviceMapping><item><deviceName>/dev/xvda</deviceName><ebs>"
	    "<volumeId>vol-1234567890abcdef0</volumeId><status>attached</status></ebs></item>"
	    "<item><deviceName>/dev/xvdb</deviceName><ebs><volumeId>vol-0b0b0b0b</volumeId>"
	    "</ebs></item></blockDeviceMapping>"
	    "<networkInterfaceSet>"
	    "<item><attachment><deviceIndex>1</deviceIndex>"
	    "<attachTime>2023-01-01T00:00:00.000Z</attachTime></attachment></item>"
	    "<item><attachment><deviceIndex>0</deviceIndex>"
	    "<attachTime>2022-01-01T00:00:00.000Z</attachTime></attachment></item>"
	    "</networkInterfaceSet>"
	    "<tagSet><item><key>Name</key><value>db-1</value></item></tagSet></item>"
	    "<item><instanceId>i-0c0c0c0c</instanceId>"
	    "<instanceState><code>48</code><name>terminated</name></instanceState>"
	    "<launchTime>2024-06-01T00:00:00.000Z</launchTime></item>"
	    "</instancesSet></item>"
	    "<item><instanceId>i-not-in-a-set</instanceId></item>"
	    "<item><instancesSet><item><instanceId>i-0d0d0d0d</instanceId>"
	    "<instanceState><name>running</name></instanceState>"
	    "<launchTime>2024-07-01T00:00:00Z</launchTime></item></instancesSet></item>"
	    "</reservationSet></DescribeInstancesResponse>";
	CHECK_EQ_INT(decode(inst, CF_KIND_INSTANCE, &p), 0);
	CHECK_EQ_INT(p.n, 2); /* the terminated one is gone, not skipped */
	CHECK_EQ_INT(p.skipped, 0);
	if (p.n == 2) {
		struct cf_resource *r = &p.items[0];
		CHECK_EQ_STR(r->status, "STOPPED");
		CHECK_EQ_STR(p.items[1].status, "RUNNING");
		CHECK_EQ_INT(cf_aws_state(CF_KIND_INSTANCE, r->status), CF_STATE_STOPPED);
		CHECK_EQ_INT(r->created, 1640995200); /* the primary interface's attach time */
		CHECK_EQ_STR(r->origin, "images/ami-0abcdef1");
		CHECK_EQ_INT(r->nlinks, 2);
		if (r->nlinks == 2)
			CHECK_EQ_STR(r->links[1], "volumes/vol-0b0b0b0b");
		CHECK_EQ_INT(p.items[1].created, 1719792000); /* launchTime without an ENI */
	}
	cf_page_clear(&p);
}

static void test_hostile(void)
{
	struct cf_page p;
	/* items that are skipped, one by one, and the page stands */
	const char *xml =
	    "<DescribeSnapshotsResponse" NS "><snapshotSet>"
	    "<item><snapshotId>snap-../../etc</snapshotId><status>completed</status>"
	    "<startTime>2016-06-01T09:32:09Z</startTime></item>"
	    "<item><snapshotId>vol-12345678</snapshotId><status>completed</status>"
	    "<startTime>2016-06-01T09:32:09Z</startTime></item>"
	    "<item><snapshotId>snap-12345678</snapshotId><status>completed</status></item>"
	    "<item><snapshotId>snap-22345678</snapshotId><status>compl/eted</status>"
	    "<startTime>2016-06-01T09:32:09Z</startTime></item>"
	    "<item><snapshotId>snap-32345678</snapshotId><status>completed</status>"
	    "<startTime>yesterday</startTime></item>"
	    "<item><status>completed</status><startTime>2016-06-01T09:32:09Z</startTime></item>"
	    "<item><snapshotId>snap-42345678</snapshotId><status>completed</status>"
	    "<startTime>2016-06-01T09:32:09Z</startTime><volumeId>vol-../x</volumeId>"
	    "<fullSnapshotSizeInBytes>-5</fullSnapshotSizeInBytes>"
	    "<tagSet><item><key>Name</key><value>a/b</value></item></tagSet></item>"
	    "</snapshotSet></DescribeSnapshotsResponse>";
	CHECK_EQ_INT(decode(xml, CF_KIND_SNAPSHOT, &p), 0);
	CHECK_EQ_INT(p.n, 1);
	CHECK_EQ_INT(p.skipped, 6);
	if (p.n == 1) {
		CHECK_EQ_STR(p.items[0].id, "snap-42345678");
		CHECK(p.items[0].source == NULL); /* not a volume id: no path */
		CHECK_EQ_INT(p.items[0].stored_bytes, 0);
		/* a Name with '/' is kept as a tag; the entry name is the id */
		CHECK_EQ_STR(label(&p.items[0], "Name"), "a/b");
		CHECK_EQ_STR(p.items[0].name, "snap-42345678");
		CHECK(p.items[0].name_pref == NULL);
	}
	cf_page_clear(&p);

	/* a huge tag value (over 256 characters) is left out, the item kept */
	size_t big = 300;
	char *v = malloc(big + 1);
	memset(v, 'x', big);
	v[big] = '\0';
	char *doc = NULL;
	if (asprintf(&doc,
		     "<DescribeVolumesResponse><volumeSet><item><volumeId>vol-12345678</volumeId>"
		     "<status>available</status><createTime>2016-06-01T09:32:09Z</createTime>"
		     "<size>18446744073709551615</size>"
		     "<tagSet><item><key>k</key><value>%s</value></item>"
		     "<item><key>ok</key><value>%.256s</value></item></tagSet>"
		     "</item></volumeSet></DescribeVolumesResponse>",
		     v, v) > 0) {
		CHECK_EQ_INT(decode(doc, CF_KIND_DISK, &p), 0);
		CHECK_EQ_INT(p.n, 1);
		if (p.n) {
			CHECK_EQ_INT(p.items[0].nlabels, 1);
			CHECK_EQ_STR(p.items[0].labels[0].key, "ok");
			/* 2^64-1 GiB: shown as the largest size, not wrapped */
			CHECK_EQ_INT(p.items[0].size_bytes, CF_SIZE_MAX);
		}
		cf_page_clear(&p);
	}
	free(doc);
	free(v);

	/* pages refused whole */
	CHECK_EQ_INT(decode("not xml", CF_KIND_SNAPSHOT, &p), -EPROTO);
	CHECK_EQ_INT(decode("<DescribeVolumesResponse/>", CF_KIND_SNAPSHOT, &p), -EPROTO);
	CHECK_EQ_INT(decode("<!DOCTYPE x [<!ENTITY a \"aaaa\">]><DescribeSnapshotsResponse>&a;"
			    "</DescribeSnapshotsResponse>",
			    CF_KIND_SNAPSHOT, &p),
		     -EPROTO);
	CHECK_EQ_INT(decode("<DescribeSnapshotsResponse><nextToken>a b</nextToken>"
			    "</DescribeSnapshotsResponse>",
			    CF_KIND_SNAPSHOT, &p),
		     -EPROTO);
	CHECK(p.n == 0 && p.items == NULL);
	char deep[4096] = "<DescribeSnapshotsResponse>";
	for (int i = 0; i < 40; i++)
		strcat(deep, "<a>");
	CHECK_EQ_INT(decode(deep, CF_KIND_SNAPSHOT, &p), -EPROTO);
	/* an empty page with a token is not the end */
	CHECK_EQ_INT(decode("<DescribeSnapshotsResponse><snapshotSet/><nextToken>t2</nextToken>"
			    "</DescribeSnapshotsResponse>",
			    CF_KIND_SNAPSHOT, &p),
		     0);
	CHECK_EQ_INT(p.n, 0);
	CHECK_EQ_STR(p.next_token, "t2");
	cf_page_clear(&p);
}

static void test_rules(void)
{
	const char *rule = NULL;
	CHECK(cf_aws_id_shaped("snap-1234567890abcdef0", 22));
	CHECK(cf_aws_id_shaped("i-12345678", 10));
	CHECK(!cf_aws_id_shaped("i-1234567", 9));
	CHECK(!cf_aws_id_shaped("snap-1234567890ABCDEF0", 22));
	CHECK(cf_aws_id_of_kind(CF_KIND_DISK, "vol-12345678", 12));
	CHECK(!cf_aws_id_of_kind(CF_KIND_SNAPSHOT, "vol-12345678", 12));

	CHECK(cf_aws_text_valid(CF_TEXT_NAME, "db-daily", 8, &rule));
	CHECK(rule && *rule);
	CHECK(cf_aws_text_valid(CF_TEXT_NAME, "Datenbank täglich", strlen("Datenbank täglich"),
				NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_NAME, "snap-12345678", 13, NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_NAME, "a/b", 3, NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_NAME, "..", 2, NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_NAME, "", 0, NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_NAME, "a\nb", 3, NULL));
	char long_name[200];
	memset(long_name, 'n', sizeof long_name);
	CHECK(cf_aws_text_valid(CF_TEXT_NAME, long_name, 128, NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_NAME, long_name, 129, NULL));

	CHECK(cf_aws_text_valid(CF_TEXT_LABEL_KEY, "Name", 4, NULL));
	CHECK(cf_aws_text_valid(CF_TEXT_LABEL_KEY, "team:owner/x y", 14, NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_LABEL_KEY, "aws:x", 5, NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_LABEL_KEY, "AWS:x", 5, NULL));
	CHECK(cf_aws_tag_key_valid("aws:x", 5)); /* shown, not written */
	CHECK(!cf_aws_text_valid(CF_TEXT_LABEL_KEY, "", 0, NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_LABEL_KEY, "a\0b", 3, NULL));
	CHECK(cf_aws_text_valid(CF_TEXT_LABEL_KEY, long_name, 128, NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_LABEL_KEY, long_name, 129, NULL));
	CHECK(cf_aws_text_valid(CF_TEXT_LABEL_VALUE, "", 0, NULL));
	CHECK(cf_aws_text_valid(CF_TEXT_LABEL_VALUE, "\xc3\xa9t\xc3\xa9", 5, NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_LABEL_VALUE, "\xc3", 1, NULL));
	CHECK(!cf_aws_text_valid(CF_TEXT_LABEL_VALUE, "\xc2\x85", 2, NULL));	 /* C1 NEL */
	CHECK(!cf_aws_text_valid(CF_TEXT_LABEL_VALUE, "\xed\xa0\x80", 3, NULL)); /* surrogate */

	CHECK(cf_aws_ami_name_valid("db-golden (2024) [v1]", 21));
	CHECK(!cf_aws_ami_name_valid("ab", 2));
	CHECK(!cf_aws_ami_name_valid("db*golden", 9));

	CHECK_EQ_INT(cf_aws_state(CF_KIND_MACHINE_IMAGE, "pending"), CF_STATE_CREATING);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_MACHINE_IMAGE, "available"), CF_STATE_READY);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_MACHINE_IMAGE, "failed"), CF_STATE_FAILED);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_SNAPSHOT, "error"), CF_STATE_FAILED);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_INSTANCE, "running"), CF_STATE_RUNNING);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_INSTANCE, "pending"), CF_STATE_STARTING);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_INSTANCE, "stopping"), CF_STATE_STOPPING);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_INSTANCE, "terminated"), CF_STATE_DELETING);
	/* the engine's words a listed resource's status is given in read back */
	CHECK_EQ_INT(cf_aws_state(CF_KIND_INSTANCE, "STOPPED"), CF_STATE_STOPPED);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_INSTANCE, "STARTING"), CF_STATE_STARTING);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_SNAPSHOT, "READY"), CF_STATE_READY);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_DISK, "DELETING"), CF_STATE_DELETING);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_INSTANCE, "rebooting"), CF_STATE_OTHER);
	CHECK_EQ_INT(cf_aws_state(CF_KIND_DISK, NULL), CF_STATE_NONE);
}

int main(void)
{
	CHECK_EQ_INT(cf_layout_use(&cf_aws_layout), 0);
	test_rules();
	test_snapshots();
	test_images_volumes_instances();
	test_hostile();
	return check_summary();
}
