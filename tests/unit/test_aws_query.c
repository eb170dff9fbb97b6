/* test_aws_query.c — EC2 Query calls: AWS's percent-encoding, the list and
 * tag parameters as EC2 spells them, the form body, and calls against a tiny
 * HTTP server: an answer read item by item, NextToken paging through an
 * empty page, AWS's error envelope (code, one-line message, request id,
 * errno, retryable), answers that are not EC2's, DryRun, the transport's
 * failures, and fresh credentials after ExpiredToken. */
#include "aws_creds.h"
#include "aws_query.h"
#include "check.h"
#include "http.h"
#include "mini_httpd.h"
#include "provider.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_encode(void)
{
	char *e;
	const char s[] = "a b/c~_-.+=&\xc3\xa9*%";
	CHECK_EQ_INT(cf_aws_encode(s, strlen(s), &e), 0);
	CHECK_EQ_STR(e, "a%20b%2Fc~_-.%2B%3D%26%C3%A9%2A%25");
	free(e);
}

static void test_params(void)
{
	struct cf_aws_params p = {0};
	const char *owners[] = {"self"};
	const char *vals[] = {"web 1", "db&2"};
	const char *keys[] = {"Name", "clonefs:request"};
	const char *tv[] = {"snap one", "6f1c"};
	char *form;
	CHECK_EQ_INT(cf_aws_param_list(&p, "Owner", owners, 1), 0);
	CHECK_EQ_INT(cf_aws_param_filter(&p, "tag:Name", vals, 2), 0);
	CHECK_EQ_INT(cf_aws_param_filter(&p, "status", (const char *[]){"completed"}, 1), 0);
	CHECK_EQ_INT(cf_aws_param(&p, "1000", "MaxResults"), 0);
	CHECK_EQ_INT(cf_aws_form("DescribeSnapshots", CF_AWS_EC2_VERSION, &p, &form), 0);
	CHECK_EQ_STR(form, "Action=DescribeSnapshots&Version=2016-11-15&Owner.1=self"
			   "&Filter.1.Name=tag%3AName&Filter.1.Value.1=web%201"
			   "&Filter.1.Value.2=db%262&Filter.2.Name=status"
			   "&Filter.2.Value.1=completed&MaxResults=1000");
	free(form);
	cf_aws_params_clear(&p);

	/* a create call's tags: one TagSpecification per resource type */
	CHECK_EQ_INT(cf_aws_param(&p, "vol-1", "VolumeId"), 0);
	CHECK_EQ_INT(cf_aws_param_tags(&p, "snapshot", keys, tv, 2), 0);
	CHECK_EQ_INT(cf_aws_param_tags(&p, "image", keys, tv, 1), 0);
	CHECK_EQ_INT(cf_aws_form("CreateSnapshot", CF_AWS_EC2_VERSION, &p, &form), 0);
	CHECK_EQ_STR(form, "Action=CreateSnapshot&Version=2016-11-15&VolumeId=vol-1"
			   "&TagSpecification.1.ResourceType=snapshot"
			   "&TagSpecification.1.Tag.1.Key=Name"
			   "&TagSpecification.1.Tag.1.Value=snap%20one"
			   "&TagSpecification.1.Tag.2.Key=clonefs%3Arequest"
			   "&TagSpecification.1.Tag.2.Value=6f1c"
			   "&TagSpecification.2.ResourceType=image"
			   "&TagSpecification.2.Tag.1.Key=Name"
			   "&TagSpecification.2.Tag.1.Value=snap%20one");
	free(form);
	cf_aws_params_clear(&p);

	/* CreateTags / DeleteTags: Tag.N.Key, a value only when given */
	const char *dv[] = {"old", NULL};
	CHECK_EQ_INT(cf_aws_param_list(&p, "ResourceId", (const char *[]){"snap-1"}, 1), 0);
	CHECK_EQ_INT(cf_aws_param_tags(&p, NULL, keys, dv, 2), 0);
	CHECK_EQ_INT(cf_aws_form("DeleteTags", CF_AWS_EC2_VERSION, &p, &form), 0);
	CHECK_EQ_STR(form, "Action=DeleteTags&Version=2016-11-15&ResourceId.1=snap-1"
			   "&Tag.1.Key=Name&Tag.1.Value=old&Tag.2.Key=clonefs%3Arequest");
	free(form);
	cf_aws_params_clear(&p);

	/* refusals stick: a bad name, a NULL value; the form reports the first */
	CHECK_EQ_INT(cf_aws_param(&p, "x", "Bad Name"), -EINVAL);
	CHECK_EQ_INT(cf_aws_param(&p, "x", "Good"), 0);
	CHECK_EQ_INT(cf_aws_form("DescribeSnapshots", CF_AWS_EC2_VERSION, &p, &form), -EINVAL);
	CHECK(form == NULL);
	cf_aws_params_clear(&p);
	CHECK_EQ_INT(cf_aws_param(&p, NULL, "Name"), -EINVAL);
	cf_aws_params_clear(&p);
	CHECK_EQ_INT(cf_aws_form("Describe&Snapshots", CF_AWS_EC2_VERSION, NULL, &form), -EINVAL);
	char *huge = malloc(300 << 10);
	memset(huge, 'a', (300 << 10) - 1);
	huge[(300 << 10) - 1] = '\0';
	CHECK_EQ_INT(cf_aws_param(&p, huge, "Description"), -EINVAL);
	cf_aws_params_clear(&p);
	huge[(200 << 10)] = '\0';
	for (int i = 0; i < 6; i++)
		cf_aws_param(&p, huge, "D.%d", i);
	CHECK_EQ_INT(cf_aws_form("X", CF_AWS_EC2_VERSION, &p, &form), -E2BIG);
	cf_aws_params_clear(&p);
	for (int i = 0; i < 1001; i++)
		cf_aws_param(&p, "v", "N.%d", i);
	CHECK_EQ_INT(p.err, -E2BIG);
	cf_aws_params_clear(&p);
	free(huge);
}

static void test_decode_error(void)
{
	struct cf_error e;
	char rid[80];
	const char env[] =
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<Response><Errors><Error><Code>InvalidSnapshot.InUse</Code>"
	    "<Message>The snapshot snap-1 is currently in use by\n ami-2\t\xc3\xa9</Message>"
	    "</Error><Error><Code>Other</Code></Error></Errors>"
	    "<RequestID>ea966190-f9aa-478e-9ede-example</RequestID></Response>";
	cf_aws_decode_error(400, env, strlen(env), &e, rid, sizeof rid);
	CHECK_EQ_INT(e.http_status, 400);
	CHECK_EQ_STR(e.reason, "InvalidSnapshot.InUse");
	CHECK_EQ_STR(e.message, "The snapshot snap-1 is currently in use by ami-2 ?? "
				"(request ea966190-f9aa-478e-9ede-example)");
	CHECK_EQ_STR(rid, "ea966190-f9aa-478e-9ede-example");
	CHECK_EQ_INT(e.errnum, -EBUSY);
	CHECK(!e.retryable);

	const char sts[] = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
			   "<Message>Rate exceeded</Message></Error>"
			   "<RequestId>r-1</RequestId></ErrorResponse>";
	cf_aws_decode_error(400, sts, strlen(sts), &e, rid, sizeof rid);
	CHECK_EQ_STR(e.reason, "Throttling");
	CHECK_EQ_INT(e.errnum, -EAGAIN);
	CHECK(e.retryable);

	/* a code that is not one is not believed; the status decides */
	const char bad[] = "<Response><Errors><Error><Code>Bad Code\n</Code>"
			   "<Message>m</Message></Error></Errors></Response>";
	cf_aws_decode_error(403, bad, strlen(bad), &e, rid, sizeof rid);
	CHECK_EQ_STR(e.reason, "");
	CHECK_EQ_INT(e.errnum, -EACCES);

	/* not AWS's envelope: a proxy's page */
	const char html[] = "<html><body>502 Bad Gateway</body></html>";
	cf_aws_decode_error(502, html, strlen(html), &e, rid, sizeof rid);
	CHECK_EQ_STR(e.reason, "");
	CHECK(strstr(e.message, "HTTP 502 without an EC2 error"));
	CHECK_EQ_INT(e.errnum, -EAGAIN);
	CHECK(e.retryable);
	cf_aws_decode_error(500, NULL, 0, &e, rid, sizeof rid);
	CHECK_EQ_INT(e.errnum, -EAGAIN);
	/* a well-formed envelope of another shape */
	const char other[] = "<Response><Code>NotHere</Code></Response>";
	cf_aws_decode_error(404, other, strlen(other), &e, rid, sizeof rid);
	CHECK_EQ_STR(e.reason, "");
	CHECK_EQ_INT(e.errnum, -ENOENT);
}

/* ---- calls against the test server ---- */

struct seen {
	int items;
	char ids[8][32];
};

static int on_item(void *ctx, const struct cf_aws_xml_node *it)
{
	struct seen *s = ctx;
	const char *id = cf_aws_xml_get(it, "snapshotId");
	if (s->items < 8)
		snprintf(s->ids[s->items], sizeof s->ids[0], "%s", id ? id : "?");
	s->items++;
	return 0;
}

#define PAGE(items, token)                                                                         \
	"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<DescribeSnapshotsResponse "                  \
	"xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\"><requestId>req-1</requestId>"          \
	"<snapshotSet>" items "</snapshotSet>" token "</DescribeSnapshotsResponse>"

static struct cf_http *H;
static char url[128];

static struct cf_aws_client *client(struct cf_aws_creds **cr)
{
	struct cf_aws_creds_config cc = {.region = "us-east-1",
					 .endpoint = url,
					 .access_key_id = "AKIDEXAMPLE",
					 .secret_access_key = "secret"};
	char why[256];
	struct cf_aws_client *c = NULL;
	CHECK_EQ_INT(cf_aws_creds_new(&cc, cr, why, sizeof why), 0);
	struct cf_aws_client_config cfg = {.http = H, .creds = *cr};
	CHECK_EQ_INT(cf_aws_client_new(&cfg, &c, why, sizeof why), 0);
	return c;
}

static void test_calls(void)
{
	struct cf_aws_creds *cr;
	struct cf_aws_client *c = client(&cr);
	struct cf_aws_params p = {0};
	struct seen s = {0};
	struct cf_aws_xml_handler h = {.item_path = "snapshotSet/item", .item = on_item, .ctx = &s};
	struct cf_aws_request rq = {.action = "DescribeSnapshots", .params = &p, .answer = &h};
	struct cf_aws_result res;
	struct cf_error err;
	cf_aws_param_list(&p, "Owner", (const char *[]){"self"}, 1);

	/* paging: an empty page with a token is not the end */
	struct canned pages[] = {
	    {200, NULL, PAGE("", "<nextToken>t+1/=</nextToken>"), false},
	    {200, NULL,
	     PAGE("<item><snapshotId>snap-a</snapshotId></item>"
		  "<item><snapshotId>snap-b</snapshotId></item>",
		  "<nextToken>t2</nextToken>"),
	     false},
	    {200, NULL, PAGE("<item><snapshotId>snap-c</snapshotId></item>", "<nextToken/>"),
	     false},
	};
	server_script(pages, 3);
	char *token = NULL;
	int calls = 0;
	do {
		rq.next_token = token;
		CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), 0);
		free(token);
		token = res.next_token ? strdup(res.next_token) : NULL;
		CHECK_EQ_STR(res.request_id, "req-1");
		cf_aws_result_clear(&res);
	} while (token && ++calls < 10);
	CHECK_EQ_INT(calls, 2);
	CHECK_EQ_INT(s.items, 3);
	CHECK_EQ_STR(s.ids[2], "snap-c");
	CHECK_EQ_INT(server_count(), 3);
	CHECK_EQ_STR(S.req[0].body, "Action=DescribeSnapshots&Version=2016-11-15&Owner.1=self");
	CHECK_EQ_STR(S.req[1].body, "Action=DescribeSnapshots&Version=2016-11-15&Owner.1=self"
				    "&NextToken=t%2B1%2F%3D");
	CHECK(strstr(S.req[2].body, "&NextToken=t2"));
	CHECK(strstr(S.req[0].line, "POST / HTTP/1.1"));
	CHECK(strstr(S.req[0].head, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
	CHECK(strstr(S.req[0].head, "/us-east-1/ec2/aws4_request"));
	CHECK(strstr(S.req[0].head, "Content-Type: application/x-www-form-urlencoded"));

	/* a token that comes back unchanged would page for ever */
	struct canned loop[] = {{200, NULL, PAGE("", "<nextToken>same</nextToken>"), false}};
	server_script(loop, 1);
	rq.next_token = "same";
	CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), -EPROTO);
	CHECK(strstr(err.message, "would not end"));
	CHECK(res.next_token == NULL);
	rq.next_token = NULL;

	/* the API's error, read from its envelope */
	struct canned inuse[] = {
	    {400, NULL,
	     "<Response><Errors><Error><Code>InvalidSnapshot.InUse</Code><Message>in use by "
	     "ami-1</Message></Error></Errors><RequestID>rid-9</RequestID></Response>",
	     false}};
	server_script(inuse, 1);
	rq.next_token = NULL;
	CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), -EBUSY);
	CHECK_EQ_STR(err.reason, "InvalidSnapshot.InUse");
	CHECK_EQ_STR(err.message, "in use by ami-1 (request rid-9)");
	CHECK_EQ_STR(res.request_id, "rid-9");
	CHECK_EQ_INT(err.http_status, 400);
	CHECK(!err.retryable);
	cf_aws_result_clear(&res);

	/* throttled (503): retried by the transport, then EAGAIN and retryable */
	struct canned thr[] = {
	    {503, NULL,
	     "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
	     "exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>",
	     false},
	    {503, NULL,
	     "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit "
	     "exceeded.</Message></Error></Errors><RequestID>r</RequestID></Response>",
	     false}};
	server_script(thr, 2);
	CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), -EAGAIN);
	CHECK_EQ_INT(res.attempts, 2);
	CHECK(err.retryable);
	CHECK_EQ_STR(err.reason, "RequestLimitExceeded");
	cf_aws_result_clear(&res);

	/* DryRun: the answer is an error that means success */
	struct canned dry[] = {
	    {412, NULL,
	     "<Response><Errors><Error><Code>DryRunOperation</Code><Message>Request would have "
	     "succeeded, but DryRun flag is set.</Message></Error></Errors></Response>",
	     false}};
	server_script(dry, 1);
	CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), 0);
	CHECK_EQ_STR(err.reason, "DryRunOperation");
	cf_aws_result_clear(&res);

	/* answers that are not the action's: garbage, another root, a truncated page */
	struct canned bad[] = {
	    {200, NULL, "{\"not\": \"xml\"}", false},
	    {200, NULL, "<DeleteSnapshotResponse/>", false},
	    {200, NULL, "<DescribeSnapshotsResponse><snapshotSet><item>", false}};
	server_script(bad, 3);
	s.items = 0;
	CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), -EPROTO);
	CHECK(strstr(err.message, "unreadable answer"));
	CHECK_EQ_INT(err.errnum, -EPROTO);
	CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), -EPROTO);
	CHECK(strstr(err.message, "DeleteSnapshotResponse"));
	CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), -EPROTO);
	CHECK(res.next_token == NULL);
	cf_aws_result_clear(&res);

	/* a create is not retried by the transport */
	struct canned busy[] = {{503, NULL, "", false}, {200, NULL, PAGE("", ""), false}};
	server_script(busy, 2);
	rq.no_retry = true;
	CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), -EAGAIN);
	CHECK_EQ_INT(server_count(), 1);
	rq.no_retry = false;
	cf_aws_result_clear(&res);

	/* a bad parameter never leaves */
	struct cf_aws_params badp = {0};
	cf_aws_param(&badp, "x", "Bad Name");
	rq.params = &badp;
	server_script(NULL, 0);
	CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), -EINVAL);
	CHECK_EQ_INT(server_count(), 0);
	cf_aws_params_clear(&badp);
	rq.params = &p;

	cf_aws_client_free(c);
	cf_aws_creds_free(cr);

	/* no answer at all: the transport's errno, retryable */
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", closed_port());
	c = client(&cr);
	CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), -ECONNREFUSED);
	CHECK(err.retryable);
	CHECK_EQ_INT(err.http_status, 0);
	CHECK(err.message[0]);
	cf_aws_client_free(c);
	cf_aws_creds_free(cr);
	cf_aws_params_clear(&p);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", S.port);
}

/* ExpiredToken with a credential_process: fetched anew, sent once more. */
static void test_expired_token(void)
{
	char dir[] = "/tmp/test_aws_query.XXXXXX", path[256], script[256];
	CHECK(mkdtemp(dir) != NULL);
	snprintf(script, sizeof script, "%s/creds.sh", dir);
	FILE *f = fopen(script, "w");
	fprintf(f, "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", "
		   "\"SecretAccessKey\": \"s\", \"SessionToken\": \"tok\", "
		   "\"Expiration\": \"2999-01-01T00:00:00Z\"}'\n");
	fclose(f);
	chmod(script, 0700);
	snprintf(path, sizeof path, "%s/config", dir);
	f = fopen(path, "w");
	fprintf(f, "[default]\nregion = eu-west-1\ncredential_process = %s\n", script);
	fclose(f);
	chmod(path, 0600);
	setenv("AWS_CONFIG_FILE", path, 1);
	snprintf(path, sizeof path, "%s/none", dir);
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);

	struct cf_aws_creds_config cc = {.endpoint = url, .no_imds = true};
	struct cf_aws_creds *cr;
	struct cf_aws_client *c;
	char why[256];
	CHECK_EQ_INT(cf_aws_creds_new(&cc, &cr, why, sizeof why), 0);
	CHECK_EQ_STR(cf_aws_creds_source(cr), "credential_process");
	struct cf_aws_client_config cfg = {.http = H, .creds = cr};
	CHECK_EQ_INT(cf_aws_client_new(&cfg, &c, why, sizeof why), 0);
	struct canned two[] = {
	    {400, NULL,
	     "<Response><Errors><Error><Code>ExpiredToken</Code><Message>The security token "
	     "included in the request is expired</Message></Error></Errors></Response>",
	     false},
	    {200, NULL, PAGE("", ""), false}};
	server_script(two, 2);
	struct cf_aws_request rq = {.action = "DescribeSnapshots"};
	struct cf_error err;
	struct cf_aws_result res;
	CHECK_EQ_INT(cf_aws_call(c, &rq, &res, &err), 0);
	if (err.message[0])
		fprintf(stderr, "expired token call: %s\n", err.message);
	CHECK_EQ_INT(server_count(), 2);
	CHECK_EQ_INT(cf_aws_creds_fetches(cr), 2);
	CHECK(strstr(S.req[1].head, "X-Amz-Security-Token: tok"));
	CHECK(strstr(S.req[1].head, "/eu-west-1/ec2/aws4_request"));
	cf_aws_result_clear(&res);
	cf_aws_client_free(c);
	cf_aws_creds_free(cr);
	unsetenv("AWS_CONFIG_FILE");
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unlink(script);
	snprintf(path, sizeof path, "%s/config", dir);
	unlink(path);
	rmdir(dir);
}

static void test_client_refusals(void)
{
	struct cf_aws_creds *cr;
	struct cf_aws_client *c;
	char why[256];
	struct cf_aws_creds_config cc = {.region = "us-east-1",
					 .endpoint = "http://ec2.example.com/",
					 .access_key_id = "AKID",
					 .secret_access_key = "s"};
	CHECK_EQ_INT(cf_aws_creds_new(&cc, &cr, why, sizeof why), 0);
	struct cf_aws_client_config cfg = {.http = H, .creds = cr};
	CHECK_EQ_INT(cf_aws_client_new(&cfg, &c, why, sizeof why), -EPERM);
	CHECK(strstr(why, "plain http"));
	cfg.endpoint = url;
	cfg.region = "US EAST";
	CHECK_EQ_INT(cf_aws_client_new(&cfg, &c, why, sizeof why), -EINVAL);
	cf_aws_creds_free(cr);
}

int main(void)
{
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_PROFILE");
	unsetenv("AWS_REGION");
	unsetenv("AWS_DEFAULT_REGION");
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_EC2");
	test_encode();
	test_params();
	test_decode_error();
	if (server_start()) {
		fprintf(stderr, "cannot start the test server\n");
		return 1;
	}
	struct cf_http_config hc = {
	    .allow_insecure_loopback = true, .max_attempts = 2, .base_delay_ms = 1};
	CHECK_EQ_INT(cf_http_new(&hc, &H), 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/", S.port);
	test_calls();
	test_expired_token();
	test_client_refusals();
	cf_http_free(H);
	server_stop();
	return check_summary();
}
