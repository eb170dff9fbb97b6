/* test_aws_creds.c — the AWS credential chain: the environment, an explicit
 * profile that skips it, the shared credentials and config files ([NAME]
 * against [profile NAME]), credential_process (its argv, its JSON, its
 * failures, refresh before expiry), IMDSv2 against a tiny HTTP server (token
 * first, role, keys, disabled, unreachable), the order of the sources, the
 * region and endpoint, loose and malformed files, and several threads
 * asking at once. Every file lives in a temporary HOME. */
#include "aws_creds.h"
#include "check.h"
#include "mini_httpd.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char home[64], cred_path[128], conf_path[128];

static void write_file(const char *path, mode_t mode, const char *text)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		CHECK(f != NULL);
		return;
	}
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void clean_env(void)
{
	static const char *const vars[] = {"AWS_ACCESS_KEY_ID",
					   "AWS_SECRET_ACCESS_KEY",
					   "AWS_SESSION_TOKEN",
					   "AWS_PROFILE",
					   "AWS_REGION",
					   "AWS_DEFAULT_REGION",
					   "AWS_ENDPOINT_URL",
					   "AWS_ENDPOINT_URL_EC2",
					   "AWS_SHARED_CREDENTIALS_FILE",
					   "AWS_CONFIG_FILE",
					   "AWS_EC2_METADATA_DISABLED",
					   "AWS_EC2_METADATA_SERVICE_ENDPOINT"};
	for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
		unsetenv(vars[i]);
	unlink(cred_path);
	unlink(conf_path);
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
}

/* new + get in one: the key id got, or NULL; rc and why kept. */
static int rc_new, rc_get;
static char why[512], got_key[128], got_secret[128], got_token[256];
static struct cf_aws_creds *open_creds(const struct cf_aws_creds_config *cfg)
{
	struct cf_aws_creds *c = NULL;
	struct cf_aws_creds_config none = {0};
	got_key[0] = got_secret[0] = got_token[0] = '\0';
	rc_get = -1;
	rc_new = cf_aws_creds_new(cfg ? cfg : &none, &c, why, sizeof why);
	if (rc_new)
		return NULL;
	struct cf_aws_credentials k;
	rc_get = cf_aws_creds_get(c, &k, why, sizeof why);
	if (!rc_get) {
		snprintf(got_key, sizeof got_key, "%s", k.key_id);
		snprintf(got_secret, sizeof got_secret, "%s", k.secret);
		snprintf(got_token, sizeof got_token, "%s", k.token ? k.token : "");
		cf_aws_credentials_clear(&k);
		CHECK(k.key_id == NULL && k.secret == NULL);
	}
	return c;
}

static void test_env(void)
{
	clean_env();
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	setenv("AWS_SESSION_TOKEN", "tokenv", 1);
	setenv("AWS_REGION", "us-west-2", 1);
	setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
	CHECK_EQ_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
	struct cf_aws_creds *c = open_creds(NULL);
	CHECK_EQ_INT(rc_new, 0);
	/* a secret key in memory: no core file */
	CHECK_EQ_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	CHECK_EQ_INT(rc_get, 0);
	CHECK_EQ_STR(cf_aws_creds_source(c), "env");
	CHECK_EQ_STR(got_key, "AKIDENV");
	CHECK_EQ_STR(got_secret, "secretenv");
	CHECK_EQ_STR(got_token, "tokenv");
	CHECK_EQ_STR(cf_aws_creds_region(c), "us-west-2");
	CHECK_EQ_STR(cf_aws_creds_endpoint(c), "https://ec2.us-west-2.amazonaws.com/");
	cf_aws_creds_free(c);

	/* AWS_DEFAULT_REGION second; the caller's region first; endpoints */
	unsetenv("AWS_REGION");
	setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1/all", 1);
	c = open_creds(NULL);
	CHECK_EQ_STR(cf_aws_creds_region(c), "eu-west-1");
	CHECK_EQ_STR(cf_aws_creds_endpoint(c), "http://127.0.0.1:1/all");
	cf_aws_creds_free(c);
	setenv("AWS_ENDPOINT_URL_EC2", "http://127.0.0.1:1/ec2", 1);
	struct cf_aws_creds_config cfg = {.region = "cn-north-1"};
	c = open_creds(&cfg);
	CHECK_EQ_STR(cf_aws_creds_region(c), "cn-north-1");
	CHECK_EQ_STR(cf_aws_creds_endpoint(c), "http://127.0.0.1:1/ec2");
	cf_aws_creds_free(c);
	cfg.endpoint = "https://vpce.example/";
	c = open_creds(&cfg);
	CHECK_EQ_STR(cf_aws_creds_endpoint(c), "https://vpce.example/");
	cf_aws_creds_free(c);
	unsetenv("AWS_ENDPOINT_URL");
	unsetenv("AWS_ENDPOINT_URL_EC2");
	cfg.endpoint = NULL;
	c = open_creds(&cfg);
	CHECK_EQ_STR(cf_aws_creds_endpoint(c), "https://ec2.cn-north-1.amazonaws.com.cn/");
	cf_aws_creds_free(c);
	cfg.endpoint = "ftp://x/";
	CHECK(open_creds(&cfg) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);
	cfg.endpoint = "https://user:pw@ec2.example/";
	CHECK(open_creds(&cfg) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);

	/* no HOME and no file variables: no files, no error (the environment's keys) */
	setenv("AWS_REGION", "us-east-1", 1);
	unsetenv("HOME");
	cfg = (struct cf_aws_creds_config){0};
	c = open_creds(&cfg);
	CHECK_EQ_INT(rc_new, 0);
	cf_aws_creds_free(c);
	cfg.profile = "x";
	CHECK(open_creds(&cfg) == NULL);
	CHECK_EQ_INT(rc_new, -ENOENT);
	setenv("HOME", home, 1);
	unsetenv("AWS_REGION");
	cfg = (struct cf_aws_creds_config){.region = "us east 1"};
	CHECK(open_creds(&cfg) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);

	/* half a key pair; a secret with a line break */
	unsetenv("AWS_SECRET_ACCESS_KEY");
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);
	CHECK(strstr(why, "AWS_SECRET_ACCESS_KEY"));
	setenv("AWS_SECRET_ACCESS_KEY", "sec\nret", 1);
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);
	CHECK(!strstr(why, "sec\nret") && !strstr(why, "AKIDENV"));

	/* no region anywhere */
	setenv("AWS_SECRET_ACCESS_KEY", "s", 1);
	unsetenv("AWS_DEFAULT_REGION");
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);
	CHECK(strstr(why, "no region"));
}

static void test_files(void)
{
	clean_env();
	write_file(cred_path, 0600,
		   "# comment\n[default]\naws_access_key_id = AKIDDEF\n"
		   "aws_secret_access_key = secretdef\n\n"
		   "[dev]\naws_access_key_id=AKIDDEV\naws_secret_access_key =  secretdev  \n"
		   "aws_session_token = tokdev\n");
	write_file(conf_path, 0644,
		   "[default]\nregion = us-east-2\n"
		   "[profile dev]\ns3 =\n  region = wrong-2\n  max_concurrent_requests = 4\n"
		   "region = ap-south-1\n"
		   "[dev]\nregion = wrong-1\n"
		   "[sso-session x]\nsso_start_url = https://x\n");
	/* the default profile: keys from credentials, region from config */
	struct cf_aws_creds *c = open_creds(NULL);
	CHECK_EQ_INT(rc_new, 0);
	CHECK_EQ_STR(cf_aws_creds_source(c), "profile");
	CHECK_EQ_STR(cf_aws_creds_profile(c), "default");
	CHECK_EQ_STR(got_key, "AKIDDEF");
	CHECK_EQ_STR(cf_aws_creds_region(c), "us-east-2");
	cf_aws_creds_free(c);

	/* AWS_PROFILE names it; [profile dev] in config, [dev] in credentials */
	setenv("AWS_PROFILE", "dev", 1);
	c = open_creds(NULL);
	CHECK_EQ_STR(got_key, "AKIDDEV");
	CHECK_EQ_STR(got_secret, "secretdev");
	CHECK_EQ_STR(got_token, "tokdev");
	CHECK_EQ_STR(cf_aws_creds_region(c), "ap-south-1");
	cf_aws_creds_free(c);

	/* the order: the environment before the files, even with AWS_PROFILE ... */
	setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "secretenv", 1);
	c = open_creds(NULL);
	CHECK_EQ_STR(cf_aws_creds_source(c), "env");
	CHECK_EQ_STR(got_key, "AKIDENV");
	CHECK_EQ_STR(cf_aws_creds_region(c), "ap-south-1"); /* still the profile's region */
	cf_aws_creds_free(c);
	/* ... but an explicit profile skips the environment */
	unsetenv("AWS_PROFILE");
	struct cf_aws_creds_config cfg = {.profile = "dev"};
	c = open_creds(&cfg);
	CHECK_EQ_STR(cf_aws_creds_source(c), "profile");
	CHECK_EQ_STR(got_key, "AKIDDEV");
	cf_aws_creds_free(c);
	unsetenv("AWS_ACCESS_KEY_ID");
	unsetenv("AWS_SECRET_ACCESS_KEY");

	/* a named profile no file holds is an error, not a fall through */
	cfg.profile = "nope";
	CHECK(open_creds(&cfg) == NULL);
	CHECK_EQ_INT(rc_new, -ENOENT);
	CHECK(strstr(why, "nope") && strstr(why, cred_path));
	setenv("AWS_PROFILE", "nope", 1);
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -ENOENT);
	unsetenv("AWS_PROFILE");

	/* AWS_SHARED_CREDENTIALS_FILE / AWS_CONFIG_FILE move them */
	char other[160];
	snprintf(other, sizeof other, "%s/other-creds", home);
	write_file(other, 0600,
		   "[default]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = s\n");
	setenv("AWS_SHARED_CREDENTIALS_FILE", other, 1);
	c = open_creds(NULL);
	CHECK_EQ_STR(got_key, "AKIDOTHER");
	cf_aws_creds_free(c);
	unlink(other);
	unsetenv("AWS_SHARED_CREDENTIALS_FILE");

	/* keys in the config file count too (the credentials file's win) */
	write_file(conf_path, 0600,
		   "[profile cfgonly]\naws_access_key_id = AKIDCFG\naws_secret_access_key = s\n"
		   "region = us-east-1\n[default]\naws_access_key_id = AKIDLOSER\n"
		   "aws_secret_access_key = s\n");
	cfg.profile = "cfgonly";
	c = open_creds(&cfg);
	CHECK_EQ_STR(got_key, "AKIDCFG");
	cf_aws_creds_free(c);
	setenv("AWS_REGION", "us-east-1", 1);
	c = open_creds(NULL);
	CHECK_EQ_STR(got_key, "AKIDDEF");
	cf_aws_creds_free(c);
	unsetenv("AWS_REGION");

	/* what clonefs does not follow is refused by name */
	write_file(conf_path, 0644,
		   "[profile role]\nrole_arn = arn:aws:iam::1:role/x\nsource_profile = dev\n"
		   "region = us-east-1\n");
	cfg.profile = "role";
	CHECK(open_creds(&cfg) == NULL);
	CHECK_EQ_INT(rc_new, -EOPNOTSUPP);
	CHECK(strstr(why, "role_arn"));
	/* a profile with a region and nothing else */
	write_file(conf_path, 0644, "[profile bare]\nregion = us-east-1\n");
	cfg.profile = "bare";
	CHECK(open_creds(&cfg) == NULL);
	CHECK_EQ_INT(rc_new, -EACCES);
}

static void test_file_refusals(void)
{
	clean_env();
	setenv("AWS_REGION", "us-east-1", 1);
	write_file(cred_path, 0644,
		   "[default]\naws_access_key_id = AKID\naws_secret_access_key = "
		   "s\n");
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EACCES);
	CHECK(strstr(why, "open to group or others (mode 0644): run chmod 600"));
	chmod(cred_path, 0640);
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EACCES);
	chmod(cred_path, 0600);
	struct cf_aws_creds *c = open_creds(NULL);
	CHECK_EQ_INT(rc_new, 0);
	cf_aws_creds_free(c);
	/* a config others may write names a command to run */
	write_file(conf_path, 0664, "[default]\nregion = us-east-1\n");
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EACCES);
	/* a readable config is fine, unless it holds a secret */
	write_file(conf_path, 0644, "[default]\nregion = us-east-1\n");
	c = open_creds(NULL);
	CHECK_EQ_INT(rc_new, 0);
	cf_aws_creds_free(c);
	unlink(cred_path);
	write_file(conf_path, 0644,
		   "[default]\naws_access_key_id = AKID\naws_secret_access_key = "
		   "s\n");
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EACCES);
	CHECK(strstr(why, "holds a secret key"));
	/* not a regular file */
	unlink(conf_path);
	mkdir(cred_path, 0700);
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EACCES);
	rmdir(cred_path);

	/* malformed */
	write_file(cred_path, 0600, "[default]\naws_access_key_id AKID\n");
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);
	CHECK(strstr(why, "line 2"));
	write_file(cred_path, 0600, "aws_access_key_id = AKID\n[default]\n");
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);
	write_file(cred_path, 0600, "[default\naws_access_key_id = AKID\n");
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);
	write_file(cred_path, 0600, "[default]\naws_access_key_id = AKID\n");
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);
	CHECK(strstr(why, "not both"));
	write_file(cred_path, 0600,
		   "[default]\naws_access_key_id = AK ID\naws_secret_access_key = "
		   "s\n");
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);
	unlink(cred_path);
}

static void test_split(void)
{
	char **v;
	CHECK_EQ_INT(cf_aws_split_command("  \"/bin/a b\" 'c d' e\\ f \"x\\\"y\" g'h'i  ", &v), 0);
	CHECK_EQ_STR(v[0], "/bin/a b");
	CHECK_EQ_STR(v[1], "c d");
	CHECK_EQ_STR(v[2], "e f");
	CHECK_EQ_STR(v[3], "x\"y");
	CHECK_EQ_STR(v[4], "ghi");
	CHECK(v[5] == NULL);
	for (int i = 0; v[i]; i++)
		free(v[i]);
	free(v);
	CHECK_EQ_INT(cf_aws_split_command("a 'b", &v), -EINVAL);
	CHECK_EQ_INT(cf_aws_split_command("a \"b", &v), -EINVAL);
	CHECK_EQ_INT(cf_aws_split_command("   ", &v), -EINVAL);
}

static char script[160];

/* A credential_process profile whose script prints body (a shell fragment). */
static void process_profile(const char *body)
{
	char text[2048];
	snprintf(text, sizeof text, "#!/bin/sh\n%s\n", body);
	write_file(script, 0700, text);
	snprintf(text, sizeof text,
		 "[default]\nregion = us-east-1\ncredential_process = %s 'one arg' two\n", script);
	write_file(conf_path, 0600, text);
}

static void test_process(void)
{
	clean_env();
	/* its arguments come without a shell; Expiration far away */
	process_profile("[ \"$1\" = 'one arg' ] && [ \"$2\" = two ] || exit 3\n"
			"echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", "
			"\"SecretAccessKey\": \"sp\", \"SessionToken\": \"tp\", "
			"\"Expiration\": \"2999-01-01T00:00:00Z\"}'");
	struct cf_aws_creds *c = open_creds(NULL);
	CHECK_EQ_INT(rc_new, 0);
	CHECK_EQ_INT(rc_get, 0);
	CHECK_EQ_STR(cf_aws_creds_source(c), "credential_process");
	CHECK_EQ_STR(got_key, "AKIDPROC");
	CHECK_EQ_STR(got_token, "tp");
	struct cf_aws_credentials k;
	CHECK_EQ_INT(cf_aws_creds_get(c, &k, why, sizeof why), 0);
	cf_aws_credentials_clear(&k);
	CHECK_EQ_INT(cf_aws_creds_fetches(c), 1); /* cached */
	cf_aws_creds_invalidate(c);
	CHECK_EQ_INT(cf_aws_creds_get(c, &k, why, sizeof why), 0);
	cf_aws_credentials_clear(&k);
	CHECK_EQ_INT(cf_aws_creds_fetches(c), 2);
	cf_aws_creds_free(c);

	/* no Expiration: long-term keys from a process */
	process_profile("echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDP\", \"SecretAccessKey\": "
			"\"s\"}'");
	c = open_creds(NULL);
	CHECK_EQ_INT(rc_get, 0);
	CHECK_EQ_STR(got_token, "");
	cf_aws_creds_free(c);

	/* refresh before expiry: keys that expire in 2 s are fetched again
	 * within them (polled, with a deadline) */
	process_profile("echo \"{\\\"Version\\\": 1, \\\"AccessKeyId\\\": \\\"AKID$$\\\", "
			"\\\"SecretAccessKey\\\": \\\"s\\\", \\\"Expiration\\\": "
			"\\\"$(date -u -d '+2 sec' +%Y-%m-%dT%H:%M:%SZ)\\\"}\"");
	c = open_creds(NULL);
	CHECK_EQ_INT(rc_get, 0);
	char first[128];
	snprintf(first, sizeof first, "%s", got_key);
	time_t until = time(NULL) + 10;
	bool refreshed = false;
	while (!refreshed && time(NULL) < until) {
		CHECK_EQ_INT(cf_aws_creds_get(c, &k, why, sizeof why), 0);
		refreshed = k.key_id && strcmp(k.key_id, first);
		CHECK(k.expires > time(NULL)); /* never handed out expired */
		cf_aws_credentials_clear(&k);
		if (!refreshed) {
			struct timespec ts = {0, 20 * 1000000};
			nanosleep(&ts, NULL);
		}
	}
	CHECK(refreshed);
	cf_aws_creds_free(c);

	/* failures: the get fails, with a reason */
	static const struct {
		const char *body, *want;
	} bad[] = {
	    {"exit 3", "exited with status 3"},
	    {"echo not json", "not JSON"},
	    {"echo '{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\"}'",
	     "Version is not 1"},
	    {"echo '{\"Version\": 1, \"AccessKeyId\": \"A\"}'", "no AccessKeyId"},
	    {"echo '{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\", "
	     "\"Expiration\": \"2001-01-01T00:00:00Z\"}'",
	     "expired already"},
	    {"echo '{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"s\", "
	     "\"Expiration\": \"soon\"}'",
	     "RFC 3339"},
	    {"head -c 70000 /dev/zero | tr '\\0' x", "more than"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		process_profile(bad[i].body);
		c = open_creds(NULL);
		CHECK_EQ_INT(rc_new, 0);
		CHECK_EQ_INT(rc_get, -EACCES);
		if (!strstr(why, bad[i].want))
			fprintf(stderr, "case %zu: %s\n", i, why);
		CHECK(strstr(why, bad[i].want));
		cf_aws_creds_free(c);
	}
	/* a command that is not there */
	write_file(conf_path, 0600,
		   "[default]\nregion = us-east-1\ncredential_process = /nonexistent/x\n");
	c = open_creds(NULL);
	CHECK_EQ_INT(rc_get, -EACCES);
	cf_aws_creds_free(c);
	write_file(conf_path, 0600, "[default]\nregion = us-east-1\ncredential_process = 'x\n");
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EINVAL);
	unlink(script);
}

/* ---- IMDSv2 ---- */

static const char imds_keys[] =
    "{\"Code\": \"Success\", \"LastUpdated\": \"2026-01-01T00:00:00Z\", \"Type\": "
    "\"AWS-HMAC\", \"AccessKeyId\": \"ASIAIMDS\", \"SecretAccessKey\": \"si\", "
    "\"Token\": \"ti\", \"Expiration\": \"2999-01-01T00:00:00Z\"}";

static void test_imds(void)
{
	clean_env();
	unsetenv("AWS_EC2_METADATA_DISABLED");
	setenv("AWS_REGION", "us-east-1", 1);
	char ep[64];
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d/", S.port);
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);

	struct canned ok[] = {{200, NULL, "TOKEN123", false},
			      {200, NULL, "my-role\n", false},
			      {200, NULL, imds_keys, false}};
	server_script(ok, 3);
	struct cf_aws_creds *c = open_creds(NULL);
	CHECK_EQ_INT(rc_new, 0);
	CHECK_EQ_INT(rc_get, 0);
	CHECK_EQ_STR(cf_aws_creds_source(c), "imds");
	CHECK_EQ_STR(got_key, "ASIAIMDS");
	CHECK_EQ_STR(got_token, "ti");
	CHECK_EQ_INT(server_count(), 3);
	CHECK(strstr(S.req[0].line, "PUT /latest/api/token "));
	CHECK(strstr(S.req[0].head, "X-aws-ec2-metadata-token-ttl-seconds: 21600"));
	CHECK(strstr(S.req[1].line, "GET /latest/meta-data/iam/security-credentials/ "));
	CHECK(strstr(S.req[1].head, "X-aws-ec2-metadata-token: TOKEN123"));
	CHECK(strstr(S.req[2].line, "GET /latest/meta-data/iam/security-credentials/my-role "));
	CHECK(strstr(S.req[2].head, "X-aws-ec2-metadata-token: TOKEN123"));
	/* cached; fetched again after invalidate */
	struct cf_aws_credentials k;
	CHECK_EQ_INT(cf_aws_creds_get(c, &k, why, sizeof why), 0);
	cf_aws_credentials_clear(&k);
	CHECK_EQ_INT(server_count(), 3);
	server_script(ok, 3);
	cf_aws_creds_invalidate(c);
	CHECK_EQ_INT(cf_aws_creds_get(c, &k, why, sizeof why), 0);
	cf_aws_credentials_clear(&k);
	CHECK_EQ_INT(server_count(), 3);
	/* keys the API called expired are not used again when no new ones come */
	struct canned down[] = {{500, NULL, "", false}, {500, NULL, "", false}};
	server_script(down, 2);
	cf_aws_creds_invalidate(c);
	CHECK_EQ_INT(cf_aws_creds_get(c, &k, why, sizeof why), -EAGAIN);
	cf_aws_creds_free(c);

	/* a refresh before the expiry that fails: the old keys, while they hold */
	char soon[512], stamp[32];
	time_t exp = time(NULL) + 3;
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", gmtime(&exp));
	snprintf(soon, sizeof soon,
		 "{\"Code\": \"Success\", \"AccessKeyId\": \"ASIASOON\", \"SecretAccessKey\": "
		 "\"s\", \"Token\": \"t\", \"Expiration\": \"%s\"}",
		 stamp);
	struct canned first[] = {
	    {200, NULL, "T", false}, {200, NULL, "r\n", false}, {200, NULL, soon, false}};
	server_script(first, 3);
	c = open_creds(NULL);
	CHECK_EQ_STR(got_key, "ASIASOON");
	struct canned fail500[MAX_CANNED];
	for (int i = 0; i < MAX_CANNED; i++)
		fail500[i] = (struct canned){500, NULL, "", false};
	server_script(fail500, MAX_CANNED);
	time_t until = time(NULL) + 10;
	while (cf_aws_creds_fetches(c) < 2 && time(NULL) < until) {
		int rc = cf_aws_creds_get(c, &k, why, sizeof why);
		CHECK_EQ_INT(rc, 0);
		if (!rc)
			CHECK_EQ_STR(k.key_id, "ASIASOON");
		cf_aws_credentials_clear(&k);
		struct timespec ts = {0, 20 * 1000000};
		nanosleep(&ts, NULL);
	}
	CHECK(cf_aws_creds_fetches(c) >= 2);
	CHECK(time(NULL) < exp); /* the refresh came before the expiry */
	cf_aws_creds_free(c);

	/* IMDSv1 only (no token service), no role, off, bad answers */
	static const struct {
		struct canned c[3];
		int n, rc;
		const char *want;
	} bad[] = {
	    {{{404, NULL, "", false}}, 1, -EACCES, "IMDSv1"},
	    {{{403, NULL, "", false}}, 1, -EACCES, "turned off"},
	    {{{200, NULL, "T", false}, {404, NULL, "", false}}, 2, -EACCES, "no IAM role"},
	    {{{200, NULL, "T", false}, {200, NULL, "../etc\n", false}},
	     2,
	     -EACCES,
	     "no usable role"},
	    {{{200, NULL, "T", false},
	      {200, NULL, "r\n", false},
	      {200, NULL, "{\"Code\": \"Failed\"}", false}},
	     3,
	     -EACCES,
	     "Code is not Success"},
	    {{{200, NULL, "T\r\nX: y", false}}, 1, -EACCES, "token is not one"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		server_script(bad[i].c, bad[i].n);
		c = open_creds(NULL);
		CHECK_EQ_INT(rc_get, bad[i].rc);
		if (!strstr(why, bad[i].want))
			fprintf(stderr, "imds case %zu: %s\n", i, why);
		CHECK(strstr(why, bad[i].want));
		cf_aws_creds_free(c);
	}

	/* unreachable: -EAGAIN, saying where it looked */
	snprintf(ep, sizeof ep, "http://127.0.0.1:%d", closed_port());
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", ep, 1);
	c = open_creds(NULL);
	CHECK_EQ_INT(rc_new, 0);
	CHECK_EQ_INT(rc_get, -EAGAIN);
	CHECK(strstr(why, "did not answer"));
	cf_aws_creds_free(c);
	/* plain http elsewhere is refused */
	setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://imds.example.com", 1);
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EPERM);

	/* disabled, or not to be asked: no credentials at all */
	setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
	CHECK(open_creds(NULL) == NULL);
	CHECK_EQ_INT(rc_new, -EACCES);
	CHECK(strstr(why, "no credentials"));
	unsetenv("AWS_EC2_METADATA_DISABLED");
	struct cf_aws_creds_config cfg = {.no_imds = true};
	CHECK(open_creds(&cfg) == NULL);
	CHECK_EQ_INT(rc_new, -EACCES);
	unsetenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
}

/* ---- several threads at once ---- */

static struct cf_aws_creds *shared;
static int thread_failures;
static pthread_mutex_t tf_lock = PTHREAD_MUTEX_INITIALIZER;

static void *asker(void *arg)
{
	(void) arg;
	for (int i = 0; i < 200; i++) {
		struct cf_aws_credentials k;
		char w[256];
		int rc = cf_aws_creds_get(shared, &k, w, sizeof w);
		bool ok = !rc && k.key_id && !strcmp(k.key_id, "AKIDPROC") && k.token &&
			  !strcmp(k.token, "tp");
		cf_aws_credentials_clear(&k);
		if (i % 50 == 0)
			cf_aws_creds_invalidate(shared);
		if (!ok) {
			pthread_mutex_lock(&tf_lock);
			thread_failures++;
			pthread_mutex_unlock(&tf_lock);
		}
	}
	return NULL;
}

static void test_threads(void)
{
	clean_env();
	process_profile("echo '{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", "
			"\"SecretAccessKey\": \"sp\", \"SessionToken\": \"tp\", "
			"\"Expiration\": \"2999-01-01T00:00:00Z\"}'");
	shared = open_creds(NULL);
	CHECK_EQ_INT(rc_get, 0);
	pthread_t t[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, asker, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ_INT(thread_failures, 0);
	CHECK(cf_aws_creds_fetches(shared) >= 2);
	cf_aws_creds_free(shared);
	unlink(script);
}

int main(void)
{
	snprintf(home, sizeof home, "/tmp/test_aws_creds.XXXXXX");
	if (!mkdtemp(home))
		return 1;
	char aws[96];
	snprintf(aws, sizeof aws, "%s/.aws", home);
	mkdir(aws, 0700);
	snprintf(cred_path, sizeof cred_path, "%s/credentials", aws);
	snprintf(conf_path, sizeof conf_path, "%s/config", aws);
	snprintf(script, sizeof script, "%s/creds.sh", home);
	setenv("HOME", home, 1);
	test_env();
	test_files();
	test_file_refusals();
	test_split();
	test_process();
	if (server_start()) {
		fprintf(stderr, "cannot start the test server\n");
		return 1;
	}
	test_imds();
	server_stop();
	test_threads();
	clean_env();
	rmdir(aws);
	rmdir(home);
	return check_summary();
}
