/* test_auth.c — credentials the way Google's tools find them: key files
 * (service_account, authorized_user) and what is refused in them, the JWT a
 * service-account key signs (decoded and verified here with the public key),
 * both grants against an in-test token endpoint (the request's shape, the
 * answers, the refusals, and that no secret reaches a message), the order of
 * discovery, the metadata server's project, and the chmod 600 rule.
 *
 * Keys are generated here with libcrypto; none is kept in the repository. */
#include "check.h"
#include "gce_auth.h"
#include "deadline.h"
#include "http.h"
#include "mini_httpd.h"

#include <errno.h>
#include <fcntl.h>
#include <curl/curl.h>
#include <jansson.h>
#include <malloc.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>

#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#else
#define VALGRIND_MAKE_MEM_DEFINED(p, n) ((void) 0)
#endif

static char dir[64];
static EVP_PKEY *rsa_key;
static char *rsa_pem, *ec_pem;

static char *path_in(const char *name)
{
	static char buf[4][128];
	static int n;
	char *p = buf[n++ % 4];
	snprintf(p, sizeof buf[0], "%s/%s", dir, name);
	return p;
}

static char *pem_of(EVP_PKEY *k)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	if (b && PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1) {
		long n = BIO_get_mem_data(b, &data);
		out = strndup(data, (size_t) n);
	}
	BIO_free(b);
	return out;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	char tmp[160];
	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd < 0)
		return;
	CHECK(write(fd, text, strlen(text)) == (ssize_t) strlen(text));
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
	CHECK(rename(tmp, path) == 0);
}

static void write_json(const char *path, json_t *j, mode_t mode)
{
	char *s = json_dumps(j, JSON_INDENT(2));
	CHECK(s != NULL);
	if (s)
		write_file(path, s, mode);
	free(s);
	json_decref(j);
}

static char token_uri[64];

static json_t *sa_json(const char *pem)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "service_account",
			 "project_id", "demo-project", "private_key_id", "kid-1", "private_key",
			 pem, "client_email", "sa@demo-project.iam.gserviceaccount.com",
			 "client_id", "1234", "token_uri", token_uri);
}

static json_t *au_json(void)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "authorized_user", "client_id",
			 "client-1.apps.googleusercontent.com", "client_secret", "secret-cs-1",
			 "refresh_token", "1//secret-rt-1", "token_uri", token_uri);
}

static int load(const char *path, struct cf_auth **a)
{
	struct cf_auth_config cfg = {.credentials = path};
	return cf_auth_new(&cfg, a);
}

/* ---- key files ---- */

static void refused(const char *name, json_t *j, mode_t mode, int want)
{
	struct cf_auth *a = (struct cf_auth *) 1;
	write_json(path_in(name), j, mode);
	int rc = load(path_in(name), &a);
	if (rc != want)
		fprintf(stderr, "  %s: got %d\n", name, rc);
	CHECK_EQ_INT(rc, want);
	CHECK(a == NULL);
}

static void test_key_files(void)
{
	struct cf_auth *a;
	CHECK_EQ_INT(load(path_in("missing.json"), &a), -ENOENT);

	/* open to group or others: refused like ssh refuses a private key */
	refused("open.json", sa_json(rsa_pem), 0644, -EACCES);
	refused("group.json", sa_json(rsa_pem), 0640, -EACCES);
	refused("others-x.json", sa_json(rsa_pem), 0601, -EACCES);
	CHECK_EQ_INT(load(dir, &a), -EACCES); /* a directory */

	/* not a key clonefs can use */
	write_file(path_in("garbage.json"), "{\"type\": \"service_account\",", 0600);
	CHECK_EQ_INT(load(path_in("garbage.json"), &a), -EINVAL);
	refused("notype.json", json_pack("{s:s}", "client_email", "x@y"), 0600, -EINVAL);
	refused("array.json", json_pack("[s]", "service_account"), 0600, -EINVAL);
	refused("external.json",
		json_pack("{s:s, s:s}", "type", "external_account", "audience", "x"), 0600,
		-EINVAL);
	json_t *j = sa_json(rsa_pem);
	json_object_del(j, "client_email");
	refused("noemail.json", j, 0600, -EINVAL);
	j = sa_json(rsa_pem);
	json_object_set_new(j, "client_email", json_integer(3));
	refused("intemail.json", j, 0600, -EINVAL);
	refused("badpem.json",
		sa_json("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), 0600,
		-EINVAL);
	refused("ec.json", sa_json(ec_pem), 0600, -EINVAL);
	j = sa_json(rsa_pem);
	json_object_set_new(j, "token_uri", json_string("http://oauth.example.com/token"));
	refused("plainhttp.json", j, 0600, -EINVAL);
	j = sa_json(rsa_pem);
	json_object_set_new(j, "token_uri", json_string("file:///etc/passwd"));
	refused("file.json", j, 0600, -EINVAL);
	j = au_json();
	json_object_del(j, "refresh_token");
	refused("nort.json", j, 0600, -EINVAL);
	j = au_json();
	json_object_set_new(j, "client_secret", json_string(""));
	refused("emptysecret.json", j, 0600, -EINVAL);

	/* a good key; token_uri defaults to Google's */
	CHECK_EQ_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
	j = sa_json(rsa_pem);
	json_object_del(j, "token_uri");
	write_json(path_in("sa-default.json"), j, 0600);
	CHECK_EQ_INT(load(path_in("sa-default.json"), &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "service_account");
	CHECK_EQ_STR(cf_auth_project(a), "demo-project");
	/* holding a private key: no core file, no ptrace by peers */
	CHECK_EQ_INT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
	char *jwt;
	CHECK_EQ_INT(cf_auth_assertion(a, 1700000000, &jwt), 0);
	CHECK(jwt && strstr(jwt, ".") != NULL);
	free(jwt);
	cf_auth_free(a);

	write_json(path_in("au.json"), au_json(), 0400);
	CHECK_EQ_INT(load(path_in("au.json"), &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "authorized_user");
	CHECK(cf_auth_project(a) == NULL);
	CHECK_EQ_INT(cf_auth_assertion(a, 1700000000, &jwt), -EINVAL);
	cf_auth_free(a);
}

/* ---- the JWT ---- */

static unsigned char *b64url_decode(const char *s, size_t n, size_t *outlen)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char *out = malloc(n * 3 / 4 + 3);
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		const char *p = memchr(al, s[i], 64);
		if (!p || !s[i]) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (uint32_t) (p - al);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char) (acc >> bits);
		}
	}
	*outlen = o;
	return out;
}

static json_t *jwt_part(const char *s, size_t n)
{
	size_t len;
	unsigned char *raw = b64url_decode(s, n, &len);
	json_t *j = raw ? json_loadb((const char *) raw, len, 0, NULL) : NULL;
	free(raw);
	return j;
}

static void check_jwt(const char *jwt, const char *scope, long now)
{
	const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	CHECK(d1 && d2 && !strchr(d2 + 1, '.'));
	if (!d1 || !d2)
		return;
	CHECK(!strchr(jwt, '=')); /* base64url without padding */
	json_t *h = jwt_part(jwt, (size_t) (d1 - jwt));
	json_t *c = jwt_part(d1 + 1, (size_t) (d2 - d1 - 1));
	CHECK_EQ_STR(json_string_value(json_object_get(h, "alg")), "RS256");
	CHECK_EQ_STR(json_string_value(json_object_get(h, "typ")), "JWT");
	CHECK_EQ_STR(json_string_value(json_object_get(h, "kid")), "kid-1");
	CHECK_EQ_STR(json_string_value(json_object_get(c, "iss")),
		     "sa@demo-project.iam.gserviceaccount.com");
	CHECK_EQ_STR(json_string_value(json_object_get(c, "aud")), token_uri);
	CHECK_EQ_STR(json_string_value(json_object_get(c, "scope")), scope);
	CHECK_EQ_INT(json_integer_value(json_object_get(c, "iat")), now);
	CHECK_EQ_INT(json_integer_value(json_object_get(c, "exp")), now + 3600);
	CHECK_EQ_INT(json_object_size(c), 5);
	json_decref(h);
	json_decref(c);

	/* RS256 over "header.claims", checked with the public half */
	size_t siglen;
	unsigned char *sig = b64url_decode(d2 + 1, strlen(d2 + 1), &siglen);
	CHECK(sig != NULL);
	CHECK_EQ_INT(siglen, 256);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	CHECK_EQ_INT(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, rsa_key), 1);
	CHECK_EQ_INT(
	    EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *) jwt, (size_t) (d2 - jwt)),
	    1);
	/* and a changed claim does not verify */
	char *tampered = strdup(jwt);
	tampered[d1 - jwt + 3] ^= 1;
	EVP_MD_CTX_reset(ctx);
	CHECK_EQ_INT(EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, rsa_key), 1);
	CHECK(EVP_DigestVerify(ctx, sig, siglen, (const unsigned char *) tampered,
			       (size_t) (d2 - jwt)) != 1);
	free(tampered);
	EVP_MD_CTX_free(ctx);
	free(sig);
}

static void test_assertion(void)
{
	struct cf_auth *a;
	char *jwt = NULL;
	write_json(path_in("sa.json"), sa_json(rsa_pem), 0600);
	CHECK_EQ_INT(load(path_in("sa.json"), &a), 0);
	CHECK_EQ_INT(cf_auth_assertion(a, 1700000000, &jwt), 0);
	if (jwt)
		check_jwt(jwt, "https://www.googleapis.com/auth/compute", 1700000000);
	free(jwt);
	cf_auth_free(a);

	/* a read-only mount asks for compute.readonly */
	struct cf_auth_config ro = {.credentials = path_in("sa.json"), .read_only = true};
	CHECK_EQ_INT(cf_auth_new(&ro, &a), 0);
	CHECK_EQ_INT(cf_auth_assertion(a, 1700000123, &jwt), 0);
	if (jwt)
		check_jwt(jwt, "https://www.googleapis.com/auth/compute.readonly", 1700000123);
	free(jwt);
	cf_auth_free(a);
}

/* ---- the grants at a token endpoint ---- */

static const char *head_has(const char *s)
{
	const char *p = strstr(S.last_head, s);
	if (!p)
		fprintf(stderr, "  request lacks \"%s\":\n%s", s, S.last_head);
	return p;
}

static void test_service_account_grant(void)
{
	struct cf_auth *a;
	char tok[128], err[256];
	write_json(path_in("sa.json"), sa_json(rsa_pem), 0600);
	CHECK_EQ_INT(load(path_in("sa.json"), &a), 0);

	struct canned ok[] = {
	    {200, "Content-Type: application/json\r\n",
	     "{\"access_token\":\"ya29.sa-1\",\"expires_in\":3599,\"token_type\":\"Bearer\"}"},
	    {200, NULL,
	     "{\"access_token\":\"ya29.sa-2\",\"expires_in\":3599,\"token_type\":\"Bearer\"}"},
	};
	server_script(ok, 2);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "ya29.sa-1");
	CHECK(head_has("POST /token HTTP/1.1\r\n") == S.last_head);
	CHECK(head_has("\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
	CHECK(strstr(S.last_head, "Authorization") == NULL);
	/* sent by the http layer's client (its headers), not a private one */
	CHECK(head_has("\r\nAccept-Encoding: "));
	CHECK(head_has("\r\nAccept: application/json\r\n"));
	/* cached until a minute before it expires */
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_INT(S.requests, 1);
	/* a 401 from the API: a new JWT, a new token */
	cf_auth_invalidate(a);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "ya29.sa-2");
	CHECK_EQ_INT(S.requests, 2);

	/* refusals: the OAuth error in the log and in last_error, -EACCES */
	struct canned sig[] = {{400, "Content-Type: application/json\r\n",
				"{\"error\":\"invalid_grant\",\"error_description\":\"Invalid JWT "
				"Signature.\"}"}};
	server_script(sig, 1);
	cf_auth_invalidate(a);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	cf_auth_last_error(a, err, sizeof err);
	CHECK(strstr(err, "HTTP 400: invalid_grant: Invalid JWT Signature.") != NULL);
	CHECK(strstr(err, "sa@demo-project.iam.gserviceaccount.com") != NULL);

	/* answers that give no token */
	const char *bad[] = {
	    "{\"access_token\":\"a b\",\"expires_in\":10}",
	    "{\"access_token\":\"x\"}",
	    "{\"access_token\":\"x\",\"expires_in\":100,\"token_type\":\"MAC\"}",
	    "<html>",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		struct canned c[] = {{200, NULL, bad[i]}};
		server_script(c, 1);
		int rc = cf_auth_token(a, tok, sizeof tok);
		if (rc != -EACCES)
			fprintf(stderr, "  accepted %s\n", bad[i]);
		CHECK_EQ_INT(rc, -EACCES);
	}
	/* busy, then gone: -EAGAIN after the retries */
	struct canned busy[] = {{503, NULL, ""}, {503, NULL, ""}, {503, NULL, ""}};
	server_script(busy, 3);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EAGAIN);
	CHECK_EQ_INT(S.requests, 3);
	struct canned once[] = {
	    {503, "Retry-After: 0\r\n", ""},
	    {200, NULL,
	     "{\"access_token\":\"ya29.sa-3\",\"expires_in\":3599,\"token_type\":\"Bearer\"}"}};
	server_script(once, 2);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "ya29.sa-3");
	cf_auth_last_error(a, err, sizeof err);
	CHECK_EQ_STR(err, "");
	/* a write's deadline holds for the token fetch it makes, as for its API calls */
	server_script(once, 2);
	cf_http_set_deadline(1); /* long past */
	cf_auth_invalidate(a);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EAGAIN);
	CHECK_EQ_INT(S.requests, 0);
	cf_http_set_deadline(0);
	cf_auth_free(a);

	char uri[64];
	memcpy(uri, token_uri, sizeof uri);
	snprintf(token_uri, sizeof token_uri, "http://127.0.0.1:%d/token", closed_port());
	write_json(path_in("sa-closed.json"), sa_json(rsa_pem), 0600);
	memcpy(token_uri, uri, sizeof uri);
	CHECK_EQ_INT(load(path_in("sa-closed.json"), &a), 0);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EAGAIN);
	cf_auth_free(a);
}

static void test_authorized_user_grant(void)
{
	struct cf_auth *a;
	char tok[128], err[256];
	write_json(path_in("au.json"), au_json(), 0600);
	CHECK_EQ_INT(load(path_in("au.json"), &a), 0);

	struct canned ok[] = {
	    {200, NULL,
	     "{\"access_token\":\"ya29.au-1\",\"expires_in\":3599,\"scope\":"
	     "\"https://www.googleapis.com/auth/cloud-platform\",\"token_type\":\"Bearer\"}"}};
	server_script(ok, 1);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "ya29.au-1");
	CHECK(head_has("POST /token HTTP/1.1\r\n") == S.last_head);
	CHECK(head_has("\r\nContent-Type: application/x-www-form-urlencoded\r\n"));

	struct canned revoked[] = {{400, NULL,
				    "{\"error\":\"invalid_grant\",\"error_description\":\"Token "
				    "has been expired or revoked.\"}"}};
	server_script(revoked, 1);
	cf_auth_invalidate(a);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	cf_auth_last_error(a, err, sizeof err);
	CHECK(strstr(err, "invalid_grant: Token has been expired or revoked.") != NULL);

	/* an endpoint that echoes a secret back does not get it into a message */
	struct canned echo[] = {{401, NULL,
				 "{\"error\":\"invalid_client\",\"error_description\":\"bad "
				 "secret secret-cs-1 for 1//secret-rt-1\"}"}};
	server_script(echo, 1);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	cf_auth_last_error(a, err, sizeof err);
	CHECK(strstr(err, "invalid_client") != NULL);
	CHECK(strstr(err, "secret-cs-1") == NULL);
	CHECK(strstr(err, "secret-rt-1") == NULL);
	cf_auth_free(a);
}

/* ---- where credentials are found ---- */

static void test_discovery(void)
{
	struct cf_http_config hc = {.max_attempts = 1, .allow_insecure_loopback = true};
	struct cf_http *h;
	struct cf_auth *a;
	CHECK_EQ_INT(cf_http_new(&hc, &h), 0);
	struct cf_auth_config adc = {.application_default = true, .http = h};

	write_json(path_in("sa.json"), sa_json(rsa_pem), 0600);
	mkdir(path_in("gcloud"), 0700);
	mkdir(path_in("empty"), 0700);
	write_json(path_in("gcloud/application_default_credentials.json"), au_json(), 0600);

	/* GOOGLE_APPLICATION_CREDENTIALS first */
	setenv("GOOGLE_APPLICATION_CREDENTIALS", path_in("sa.json"), 1);
	setenv("CLOUDSDK_CONFIG", path_in("gcloud"), 1);
	CHECK_EQ_INT(cf_auth_new(&adc, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "service_account");
	cf_auth_free(a);
	/* ... but -o credentials= and -o token_file= before it */
	adc.credentials = path_in("gcloud/application_default_credentials.json");
	CHECK_EQ_INT(cf_auth_new(&adc, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "authorized_user");
	cf_auth_free(a);
	adc.credentials = NULL;
	adc.token_file = path_in("no-token-yet");
	CHECK_EQ_INT(cf_auth_new(&adc, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "token_file");
	cf_auth_free(a);
	adc.token_file = NULL;
	/* a variable naming a missing file is an error, not a reason to look further */
	setenv("GOOGLE_APPLICATION_CREDENTIALS", path_in("nowhere.json"), 1);
	CHECK_EQ_INT(cf_auth_new(&adc, &a), -ENOENT);
	/* then gcloud's file in CLOUDSDK_CONFIG */
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	CHECK_EQ_INT(cf_auth_new(&adc, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "authorized_user");
	cf_auth_free(a);
	/* ... or in ~/.config/gcloud */
	unsetenv("CLOUDSDK_CONFIG");
	char home[128];
	snprintf(home, sizeof home, "%s/home", dir);
	mkdir(home, 0700);
	mkdir(path_in("home/.config"), 0700);
	CHECK_EQ_INT(rename(path_in("gcloud"), path_in("home/.config/gcloud")), 0);
	setenv("HOME", home, 1);
	CHECK_EQ_INT(cf_auth_new(&adc, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "authorized_user");
	cf_auth_free(a);
	/* then the metadata server, or nothing without a way to ask it */
	setenv("CLOUDSDK_CONFIG", path_in("empty"), 1);
	CHECK_EQ_INT(cf_auth_new(&adc, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "metadata");
	cf_auth_free(a);
	adc.http = NULL;
	CHECK_EQ_INT(cf_auth_new(&adc, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "none");
	char tok[64];
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	cf_auth_free(a);
	/* without application_default the environment is not looked at */
	setenv("GOOGLE_APPLICATION_CREDENTIALS", path_in("sa.json"), 1);
	CHECK_EQ_INT(cf_auth_new(&(struct cf_auth_config){.http = h}, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "metadata");
	cf_auth_free(a);
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	unsetenv("CLOUDSDK_CONFIG");
	cf_http_free(h);
}

static void test_metadata_project(void)
{
	struct cf_http_config hc = {.max_attempts = 1, .allow_insecure_loopback = true};
	struct cf_http *h;
	struct cf_auth *a;
	char host[64], buf[128], why[256];
	CHECK_EQ_INT(cf_http_new(&hc, &h), 0);
	snprintf(host, sizeof host, "127.0.0.1:%d", S.port);
	setenv("GCE_METADATA_HOST", host, 1);
	CHECK_EQ_INT(cf_auth_new(&(struct cf_auth_config){.http = h}, &a), 0);

	struct canned ok[] = {
	    {200, "Metadata-Flavor: Google\r\nContent-Type: application/text\r\n", "demo-project"}};
	server_script(ok, 1);
	CHECK_EQ_INT(cf_auth_metadata_project(a, NULL, buf, sizeof buf, why, sizeof why), 0);
	CHECK_EQ_STR(buf, "demo-project");
	CHECK(head_has("GET /computeMetadata/v1/project/project-id HTTP/1.1\r\n") == S.last_head);
	CHECK(head_has("\r\nMetadata-Flavor: Google\r\n"));

	struct canned nf[] = {{404, NULL, "Not Found"}};
	server_script(nf, 1);
	CHECK_EQ_INT(cf_auth_metadata_project(a, h, buf, sizeof buf, why, sizeof why), -EIO);
	CHECK(strstr(why, "HTTP 404") != NULL);
	struct canned odd[] = {{200, NULL, "Not/A Project"}};
	server_script(odd, 1);
	CHECK_EQ_INT(cf_auth_metadata_project(a, h, buf, sizeof buf, why, sizeof why), -EPROTO);
	cf_auth_free(a);

	snprintf(host, sizeof host, "127.0.0.1:%d", closed_port());
	setenv("GCE_METADATA_HOST", host, 1);
	CHECK_EQ_INT(cf_auth_new(&(struct cf_auth_config){.http = h}, &a), 0);
	CHECK(cf_auth_metadata_project(a, h, buf, sizeof buf, why, sizeof why) < 0);
	CHECK(strstr(why, host) != NULL);
	cf_auth_free(a);
	unsetenv("GCE_METADATA_HOST");
	cf_http_free(h);
}

/* ---- the token file's mode ---- */

static void test_token_file_mode(void)
{
	struct cf_auth *a;
	char tok[64], err[256];
	struct cf_auth_config cfg = {.token_file = path_in("token")};

	write_file(path_in("token"), "tok-1\n", 0644);
	CHECK_EQ_INT(cf_auth_new(&cfg, &a), -EACCES); /* refused at start */
	unlink(path_in("token"));
	CHECK_EQ_INT(cf_auth_new(&cfg, &a), 0); /* not there yet: fine */
	write_file(path_in("token"), "tok-1\n", 0640);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	cf_auth_last_error(a, err, sizeof err);
	char want[200];
	snprintf(want, sizeof want, "(mode 0640): run chmod 600 %s", path_in("token"));
	CHECK(strstr(err, want) != NULL);
	CHECK(strstr(err, "tok-1") == NULL);
	CHECK_EQ_INT(chmod(path_in("token"), 0600), 0);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "tok-1");
	/* made readable to others later: refused from then on */
	CHECK_EQ_INT(chmod(path_in("token"), 0604), 0);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	cf_auth_free(a);
}

/* ---- what a token file may be: a regular file of ours or root's, no FIFO, no link ---- */

static int64_t mono_ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_token_file_kind_and_owner(void)
{
	struct cf_auth *a;
	char tok[64], err[256], want[256];
	struct cf_auth_config cfg = {.token_file = path_in("tok2")};

	write_file(path_in("tok2"), "tok-2\n", 0600);
	CHECK_EQ_INT(cf_auth_new(&cfg, &a), 0);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "tok-2");

	/* Replaced by a FIFO nobody writes to: refused at once, never a hang (an open
	 * without O_NONBLOCK would wait for a writer forever). */
	CHECK_EQ_INT(unlink(path_in("tok2")), 0);
	CHECK_EQ_INT(mkfifo(path_in("tok2"), 0600), 0);
	int64_t t0 = mono_ms_now();
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	CHECK(mono_ms_now() - t0 < 2000);
	cf_auth_last_error(a, err, sizeof err);
	snprintf(want, sizeof want, "token file %s is not a regular file", path_in("tok2"));
	CHECK(strstr(err, want) != NULL);
	/* ... and at start */
	cf_auth_free(a);
	t0 = mono_ms_now();
	CHECK_EQ_INT(cf_auth_new(&cfg, &a), -EACCES);
	CHECK(mono_ms_now() - t0 < 2000);
	CHECK_EQ_INT(unlink(path_in("tok2")), 0);

	/* Owned by another user who is not root: they would choose whom we act as. */
	write_file(path_in("tok2"), "tok-3\n", 0600);
	CHECK_EQ_INT(cf_auth_new(&cfg, &a), 0);
	CHECK_EQ_INT(chown(path_in("tok2"), geteuid() + 4242, (gid_t) -1), 0);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	cf_auth_last_error(a, err, sizeof err);
	snprintf(want, sizeof want, "token file %s belongs to uid %u", path_in("tok2"),
		 (unsigned) geteuid() + 4242);
	CHECK(strstr(err, want) != NULL);
	CHECK_EQ_INT(chown(path_in("tok2"), geteuid(), (gid_t) -1), 0);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "tok-3");
	cf_auth_free(a);

	/* A symbolic link of ours or root's is followed (Kubernetes' secret volumes are
	 * made of them); another user's is not: they would choose which of our files we
	 * send as a token. */
	CHECK_EQ_INT(symlink(path_in("tok2"), path_in("tok-link")), 0);
	cfg.token_file = path_in("tok-link");
	CHECK_EQ_INT(cf_auth_new(&cfg, &a), 0);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "tok-3");
	CHECK_EQ_INT(lchown(path_in("tok-link"), geteuid() + 4242, (gid_t) -1), 0);
	/* the same file through a link now another user's: re-checked, refused */
	cf_auth_invalidate(a);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	cf_auth_last_error(a, err, sizeof err);
	snprintf(want, sizeof want, "token file %s is a symbolic link belonging to uid %u",
		 path_in("tok-link"), (unsigned) geteuid() + 4242);
	CHECK(strstr(err, want) != NULL);
	cf_auth_free(a);
	CHECK_EQ_INT(cf_auth_new(&cfg, &a), -EACCES);
	unlink(path_in("tok-link"));
	unlink(path_in("tok2"));
}

/* ---- the metadata server's answers carry Metadata-Flavor: Google ---- */

static void test_metadata_flavor(void)
{
	struct cf_http_config hc = {.max_attempts = 1, .allow_insecure_loopback = true};
	struct cf_http *h;
	struct cf_auth *a;
	char host[64], tok[128], err[256], buf[128], why[256];
	CHECK_EQ_INT(cf_http_new(&hc, &h), 0);
	snprintf(host, sizeof host, "127.0.0.1:%d", S.port);
	setenv("GCE_METADATA_HOST", host, 1);
	CHECK_EQ_INT(cf_auth_new(&(struct cf_auth_config){.http = h}, &a), 0);
	CHECK_EQ_STR(cf_auth_source(a), "metadata");

	static const char body[] =
	    "{\"access_token\":\"ya29.meta\",\"expires_in\":3599,\"token_type\":\"Bearer\"}";
	/* Something else answering on the address (a proxy, a local listener): refused. */
	struct canned impostor[] = {{200, "Content-Type: application/json\r\n", body}};
	server_script(impostor, 1);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	cf_auth_last_error(a, err, sizeof err);
	CHECK(strstr(err, "lacks the header Metadata-Flavor: Google") != NULL);
	CHECK(strstr(err, "ya29") == NULL);
	/* a wrong value is no better */
	struct canned wrong[] = {{200, "Metadata-Flavor: Googlish\r\n", body}};
	server_script(wrong, 1);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), -EACCES);
	struct canned ok[] = {{200, "Metadata-Flavor: Google\r\n", body}};
	server_script(ok, 1);
	CHECK_EQ_INT(cf_auth_token(a, tok, sizeof tok), 0);
	CHECK_EQ_STR(tok, "ya29.meta");
	CHECK(head_has("\r\nMetadata-Flavor: Google\r\n"));

	/* the project id too */
	struct canned pimp[] = {{200, "Content-Type: application/text\r\n", "evil-project"}};
	server_script(pimp, 1);
	CHECK_EQ_INT(cf_auth_metadata_project(a, h, buf, sizeof buf, why, sizeof why), -EPROTO);
	CHECK(strstr(why, "lacks the header Metadata-Flavor: Google") != NULL);
	cf_auth_free(a);
	unsetenv("GCE_METADATA_HOST");
	cf_http_free(h);
}

/* ---- the Authorization header's copies are wiped before libcurl frees them ---- */

/* libcurl's allocator, watched: a block freed while still starting with an
 * Authorization line (a header list's copy of it) is counted. */
static int freed_with_token;
static void watched_free(void *p)
{
	static const char line[] = "Authorization: Bearer";
	/* Any freed block is looked at, written or not: under valgrind its first
	 * bytes count as defined here (this only reads them). */
	if (p && malloc_usable_size(p) >= sizeof line)
		VALGRIND_MAKE_MEM_DEFINED(p, sizeof line - 1);
	if (p && malloc_usable_size(p) >= sizeof line && !memcmp(p, line, sizeof line - 1))
		__atomic_add_fetch(&freed_with_token, 1, __ATOMIC_RELAXED);
	free(p);
}
static char *watched_strdup(const char *s)
{
	return strdup(s);
}

static void test_header_wiped(void)
{
	struct cf_http_config hc = {.max_attempts = 1, .allow_insecure_loopback = true};
	struct cf_http *h;
	struct cf_http_response resp;
	char url[96];
	CHECK_EQ_INT(cf_http_new(&hc, &h), 0);
	snprintf(url, sizeof url, "http://127.0.0.1:%d/compute/v1/x", S.port);
	struct canned ok[] = {{200, NULL, "{}"}};
	server_script(ok, 1);
	struct cf_http_request req = {
	    .method = "GET", .url = url, .signer = {cf_http_sign_bearer, (void *) "ya29.secret"}};
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), 0);
	CHECK(head_has("\r\nAuthorization: Bearer ya29.secret\r\n"));
	cf_http_response_clear(&resp);
	CHECK_EQ_INT(freed_with_token, 0);
	/* and the check would see one: a list freed the plain way */
	struct curl_slist *l = curl_slist_append(NULL, "Authorization: Bearer x");
	curl_slist_free_all(l);
	CHECK_EQ_INT(freed_with_token, 1);
	cf_http_free(h);
}

int main(void)
{
	/* before anything else uses libcurl: its allocations go through watched_free */
	if (curl_global_init_mem(CURL_GLOBAL_ALL, malloc, watched_free, realloc, watched_strdup,
				 calloc)) {
		perror("curl_global_init_mem");
		return 1;
	}
	snprintf(dir, sizeof dir, "/tmp/clonefs-test-auth-XXXXXX");
	if (!mkdtemp(dir) || server_start()) {
		perror("set-up");
		return 1;
	}
	unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
	unsetenv("CLOUDSDK_CONFIG");
	unsetenv("GCE_METADATA_HOST");
	setenv("HOME", dir, 1);
	snprintf(token_uri, sizeof token_uri, "http://127.0.0.1:%d/token", S.port);

	rsa_key = EVP_RSA_gen(2048);
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	rsa_pem = rsa_key ? pem_of(rsa_key) : NULL;
	ec_pem = ec ? pem_of(ec) : NULL;
	CHECK(rsa_pem && ec_pem);
	if (!rsa_pem || !ec_pem)
		return check_summary();

	test_key_files();
	test_assertion();
	test_service_account_grant();
	test_authorized_user_grant();
	test_discovery();
	test_metadata_project();
	test_token_file_mode();
	test_token_file_kind_and_owner();
	test_metadata_flavor();
	test_header_wiped();

	server_stop();
	EVP_PKEY_free(rsa_key);
	EVP_PKEY_free(ec);
	free(rsa_pem);
	free(ec_pem);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	CHECK_EQ_INT(system(cmd), 0);
	return check_summary();
}
