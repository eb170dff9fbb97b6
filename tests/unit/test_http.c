/* test_http.c — the retry policy (which statuses, how long, Retry-After) and
 * real requests against a tiny HTTP server on 127.0.0.1 run by a thread in
 * this test: retries, keep-alive, headers, body limits, refusals. */
#include "check.h"
#include "http.h"
#include "mini_httpd.h"
#include "stop.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <time.h>

static char url[128];
static const char *server_url(const char *path)
{
	snprintf(url, sizeof url, "http://127.0.0.1:%d%s", S.port, path);
	return url;
}

static uint64_t ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

/* ---- policy ---- */

static unsigned rnd_value;
static unsigned fixed_rnd(void)
{
	return rnd_value;
}

static void test_retryable(void)
{
	long yes[] = {429, 500, 502, 503, 504};
	long no[] = {0, 200, 201, 204, 301, 400, 401, 403, 404, 409, 412, 501, 505};
	for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
		CHECK(cf_http_retryable(yes[i]));
	for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
		CHECK(!cf_http_retryable(no[i]));
}

static void test_backoff(void)
{
	struct cf_http_config cfg = {.base_delay_ms = 250, .max_delay_ms = 20000};
	/* Retry n waits at most min(max, base * 2^n); the draw picks within. */
	rnd_value = UINT_MAX;
	for (unsigned n = 1; n < 200; n++) {
		uint64_t cap = n < 7 ? 250u << n : 20000;
		if (cap > 20000)
			cap = 20000;
		for (unsigned r = 0; r < 3000; r += 7) {
			rnd_value = r * 2654435761u;
			unsigned d = cf_http_backoff_ms(&cfg, n, -1, fixed_rnd);
			if (d > cap) {
				CHECK(d <= cap);
				break;
			}
		}
	}
	rnd_value = 500;
	CHECK_EQ_INT(cf_http_backoff_ms(&cfg, 1, -1, fixed_rnd), 500); /* top of [0, 500] */
	rnd_value = 501;
	CHECK_EQ_INT(cf_http_backoff_ms(&cfg, 1, -1, fixed_rnd), 0);
	rnd_value = 1000;
	CHECK_EQ_INT(cf_http_backoff_ms(&cfg, 2, -1, fixed_rnd), 1000);
	rnd_value = 20000;
	CHECK_EQ_INT(cf_http_backoff_ms(&cfg, 100, -1, fixed_rnd), 20000);
	CHECK_EQ_INT(cf_http_backoff_ms(&cfg, UINT_MAX, -1, fixed_rnd), 20000);
	/* Retry-After wins over the draw, capped at max_delay. */
	rnd_value = 12345;
	CHECK_EQ_INT(cf_http_backoff_ms(&cfg, 1, 0, fixed_rnd), 0);
	CHECK_EQ_INT(cf_http_backoff_ms(&cfg, 1, 7000, fixed_rnd), 7000);
	CHECK_EQ_INT(cf_http_backoff_ms(&cfg, 1, 3600000, fixed_rnd), 20000);
	/* The built-in draw stays in range too. */
	unsigned worst = 0;
	for (int i = 0; i < 10000; i++) {
		unsigned d = cf_http_backoff_ms(&cfg, 3, -1, NULL);
		worst = d > worst ? d : worst;
	}
	CHECK(worst <= 2000);
	CHECK(worst > 0);
}

static void test_retry_after(void)
{
	const long date = 784111777; /* Sun, 06 Nov 1994 08:49:37 GMT */
	CHECK_EQ_INT(cf_http_parse_retry_after("0", 0), 0);
	CHECK_EQ_INT(cf_http_parse_retry_after("120", 0), 120000);
	CHECK_EQ_INT(cf_http_parse_retry_after(" 7\r\n", 0), 7000);
	CHECK(cf_http_parse_retry_after("99999999999999999999999", 0) > 0);
	CHECK_EQ_INT(cf_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date - 30), 30000);
	CHECK_EQ_INT(cf_http_parse_retry_after("Sunday, 06-Nov-94 08:49:37 GMT", date - 2), 2000);
	CHECK_EQ_INT(cf_http_parse_retry_after("Sun Nov  6 08:49:37 1994", date - 1), 1000);
	CHECK_EQ_INT(cf_http_parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", date + 99), 0);
	CHECK_EQ_INT(cf_http_parse_retry_after(NULL, 0), -1);
	CHECK_EQ_INT(cf_http_parse_retry_after("", 0), -1);
	CHECK_EQ_INT(cf_http_parse_retry_after("  ", 0), -1);
	CHECK_EQ_INT(cf_http_parse_retry_after("-1", 0), -1);
	CHECK_EQ_INT(cf_http_parse_retry_after("1.5", 0), -1);
	CHECK_EQ_INT(cf_http_parse_retry_after("12abc", 0), -1);
	CHECK_EQ_INT(cf_http_parse_retry_after("soon", 0), -1);
	char longv[200];
	memset(longv, '1', sizeof longv - 1);
	longv[sizeof longv - 1] = '\0';
	CHECK_EQ_INT(cf_http_parse_retry_after(longv, 0), -1);
}

/* ---- against the server ---- */

static struct cf_http *new_http(unsigned max_attempts, unsigned base_delay)
{
	struct cf_http_config cfg = {.max_attempts = max_attempts,
				     .base_delay_ms = base_delay,
				     .max_delay_ms = 30000,
				     .max_total_ms = 60000,
				     .timeout_ms = 10000,
				     .allow_insecure_loopback = true};
	struct cf_http *h = NULL;
	CHECK_EQ_INT(cf_http_new(&cfg, &h), 0);
	return h;
}

static void test_retry_sequence(void)
{
	/* base_delay 10 s: had Retry-After: 0 been ignored, this would take
	 * seconds; honoured, it is immediate. */
	struct cf_http *h = new_http(6, 10000);
	struct canned script[] = {
	    {503, "Retry-After: 0\r\n", "busy", false},
	    {503, "Retry-After: 0\r\n", "busy", false},
	    {200, "Content-Type: application/json\r\n", "{\"ok\":true}", false},
	};
	server_script(script, 3);
	struct cf_http_request req = {.method = "GET",
				      .url = server_url("/x"),
				      .signer = {cf_http_sign_bearer, (void *) "tok-1"}};
	struct cf_http_response resp;
	uint64_t t0 = ms_now();
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), 0);
	CHECK(ms_now() - t0 < 5000);
	CHECK_EQ_INT(resp.status, 200);
	CHECK_EQ_INT(resp.attempts, 3);
	CHECK_EQ_STR(resp.body, "{\"ok\":true}");
	CHECK_EQ_INT(resp.body_len, 11);
	CHECK_EQ_STR(resp.error, "");
	CHECK_EQ_INT(S.requests, 3);
	CHECK(strstr(S.last_head, "Authorization: Bearer tok-1\r\n") != NULL);
	CHECK(strstr(S.last_head, "Accept-Encoding: ") != NULL);
	CHECK(strstr(S.last_head, "GET /x HTTP/1.1\r\n") == S.last_head);
	cf_http_response_clear(&resp);

	/* Keep-alive: the three answers came on one connection, and the next
	 * request from this thread reuses it. */
	CHECK_EQ_INT(S.connections, 1);
	struct canned one[] = {{200, NULL, "again", false}};
	server_script(one, 1);
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), 0);
	CHECK_EQ_STR(resp.body, "again");
	CHECK_EQ_INT(S.connections, 0); /* reset by server_script: no new one */
	cf_http_response_clear(&resp);

	struct cf_http_stats st;
	cf_http_get_stats(h, &st);
	CHECK_EQ_INT(st.requests, 2);
	CHECK_EQ_INT(st.retries, 2);
	CHECK_EQ_INT(st.failures, 0);
	CHECK_EQ_INT(st.bytes_in, 4 + 4 + 11 + 5);
	cf_http_free(h);
}

/* A 429 holds every read of the handle back for its Retry-After, the next
 * request's first try included (the sync's next listing, from any thread);
 * writes are rated apart and go at once. The User-Agent asks for gzip. */
static void test_shared_backoff(void)
{
	struct cf_http *h = new_http(1, 10);
	struct canned script[] = {
	    {429, "Retry-After: 1\r\n", "slow down", false},
	    {200, NULL, "write", false},
	    {200, NULL, "read", false},
	};
	server_script(script, 3);
	struct cf_http_request get = {.method = "GET", .url = server_url("/list")};
	struct cf_http_request post = {.method = "POST", .url = server_url("/w"), .body = "{}"};
	struct cf_http_response resp;
	CHECK_EQ_INT(cf_http_do(h, &get, &resp), 0);
	CHECK_EQ_INT(resp.status, 429);
	cf_http_response_clear(&resp);
	CHECK(strstr(S.last_head, "User-Agent: clonefs/") && strstr(S.last_head, " (gzip)\r\n"));
	uint64_t t0 = ms_now();
	CHECK_EQ_INT(cf_http_do(h, &post, &resp), 0);
	CHECK(ms_now() - t0 < 500);
	CHECK_EQ_STR(resp.body, "write");
	cf_http_response_clear(&resp);
	CHECK_EQ_INT(cf_http_do(h, &get, &resp), 0);
	CHECK(ms_now() - t0 >= 900);
	CHECK_EQ_STR(resp.body, "read");
	cf_http_response_clear(&resp);
	struct cf_http_stats st;
	cf_http_get_stats(h, &st);
	CHECK(st.held >= 1);
	CHECK(st.wire_in >= 9 + 5 + 4);
	cf_http_free(h);
}

static void test_bounds(void)
{
	struct cf_http *h = new_http(3, 1);
	struct canned busy[] = {
	    {503, NULL, "1", true}, {503, NULL, "2", true}, {503, NULL, "3", true},
	    {503, NULL, "4", true}, {200, NULL, "5", true},
	};
	struct cf_http_request req = {.method = "GET", .url = server_url("/b")};
	struct cf_http_response resp;

	/* max_attempts: the last answer is returned, status and all. */
	server_script(busy, 5);
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), 0);
	CHECK_EQ_INT(resp.status, 503);
	CHECK_EQ_INT(resp.attempts, 3);
	CHECK_EQ_STR(resp.body, "3");
	cf_http_response_clear(&resp);

	/* no_retry: exactly one try. */
	server_script(busy, 5);
	req.no_retry = true;
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), 0);
	CHECK_EQ_INT(resp.status, 503);
	CHECK_EQ_INT(resp.attempts, 1);
	CHECK_EQ_INT(S.requests, 1);
	cf_http_response_clear(&resp);
	req.no_retry = false;

	/* A 4xx is an answer, not a reason to retry. */
	struct canned nf[] = {{404, NULL, "{\"error\":{}}", false}, {200, NULL, "x", false}};
	server_script(nf, 2);
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), 0);
	CHECK_EQ_INT(resp.status, 404);
	CHECK_EQ_INT(resp.attempts, 1);
	cf_http_response_clear(&resp);

	/* 429 with a Retry-After beyond max_total_ms: give up at once rather
	 * than sleep past the budget. */
	struct cf_http_config cfg = {.max_attempts = 5,
				     .base_delay_ms = 1,
				     .max_delay_ms = 60000,
				     .max_total_ms = 1000,
				     .allow_insecure_loopback = true};
	struct cf_http *h2;
	CHECK_EQ_INT(cf_http_new(&cfg, &h2), 0);
	struct canned slow[] = {{429, "Retry-After: 30\r\n", "later", false}};
	server_script(slow, 1);
	uint64_t t0 = ms_now();
	CHECK_EQ_INT(cf_http_do(h2, &req, &resp), 0);
	CHECK(ms_now() - t0 < 5000);
	CHECK_EQ_INT(resp.status, 429);
	CHECK_EQ_INT(resp.attempts, 1);
	cf_http_response_clear(&resp);
	cf_http_free(h2);

	/* Body limit: Content-Length over the limit, and the limit exact. */
	struct canned big[] = {{200, NULL, "0123456789abcdef", false},
			       {200, NULL, "0123456789", false}};
	server_script(big, 2);
	req.max_body = 10;
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EFBIG);
	CHECK(resp.body == NULL);
	CHECK(strstr(resp.error, "larger") != NULL);
	CHECK_EQ_INT(resp.attempts, 1);
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), 0);
	CHECK_EQ_INT(resp.body_len, 10);
	cf_http_response_clear(&resp);
	req.max_body = 0;

	/* An empty body is "" not NULL. */
	struct canned empty[] = {{204, NULL, NULL, false}};
	server_script(empty, 1);
	req.method = "DELETE";
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), 0);
	CHECK_EQ_INT(resp.status, 204);
	CHECK(resp.body && resp.body[0] == '\0' && resp.body_len == 0);
	CHECK(strstr(S.last_head, "DELETE /b HTTP/1.1\r\n") == S.last_head);
	cf_http_response_clear(&resp);

	/* A POST carries its JSON body and extra headers. */
	const char *hdrs[] = {"Metadata-Flavor: Google", NULL};
	struct canned ok[] = {{200, NULL, "{}", false}};
	server_script(ok, 1);
	req = (struct cf_http_request){
	    .method = "POST", .url = server_url("/p"), .body = "{\"a\":1}", .headers = hdrs};
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), 0);
	CHECK(strstr(S.last_head, "POST /p HTTP/1.1\r\n") == S.last_head);
	CHECK(strstr(S.last_head, "Metadata-Flavor: Google\r\n") != NULL);
	CHECK(strstr(S.last_head, "Content-Type: application/json\r\n") != NULL);
	CHECK(strstr(S.last_head, "Content-Length: 7\r\n") != NULL);
	CHECK(strstr(S.last_head, "Authorization") == NULL);
	cf_http_response_clear(&resp);
	cf_http_free(h);
}

static void test_refusals(void)
{
	struct cf_http *h = new_http(3, 1);
	struct cf_http_response resp;
	struct cf_http_request req = {.method = "GET"};

	/* Plain http off loopback: refused before any packet leaves. */
	req.url = "http://example.com/compute/v1/";
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EPERM);
	CHECK(strstr(resp.error, "refused") != NULL);
	req.url = "http://10.1.2.3:8080/";
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EPERM);
	req.url = "ftp://127.0.0.1/";
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EPERM);
	req.url = "file:///etc/passwd";
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EPERM);
	req.url = "not a url";
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EINVAL);
	/* The metadata server may be reached in plain http, never with a bearer. */
	req.url = "http://169.254.169.254/computeMetadata/v1/";
	req.signer = (struct cf_http_signer){cf_http_sign_bearer, (void *) "secret"};
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EPERM);
	req.signer = (struct cf_http_signer){0};
	/* nor with a body (a token endpoint's form carries secrets) */
	req.method = "POST";
	req.body = "refresh_token=secret";
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EPERM);
	req.body = NULL;
	char why[128];
	CHECK_EQ_INT(cf_http_check_url(h, "http://169.254.169.254/token", true, why, sizeof why),
		     -EPERM);
	CHECK_EQ_INT(cf_http_check_url(h, "http://169.254.169.254/x", false, why, sizeof why), 0);
	CHECK_EQ_INT(
	    cf_http_check_url(h, "https://oauth2.example.com/token", true, why, sizeof why), 0);
	CHECK_EQ_INT(cf_http_check_url(h, "http://oauth2.example.com/token", true, why, sizeof why),
		     -EPERM);
	req.method = "BREW";
	req.url = server_url("/");
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EINVAL);
	req.method = "GET";

	/* A header value with a line break would smuggle a header in. */
	const char *evil[] = {"X-A: 1\r\nX-B: 2", NULL};
	req.headers = evil;
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EINVAL);
	req.headers = NULL;
	req.signer = (struct cf_http_signer){cf_http_sign_bearer, (void *) "tok\nX-Evil: 1"};
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EINVAL);
	req.signer = (struct cf_http_signer){0};
	cf_http_free(h);

	/* Loopback http needs the switch. */
	struct cf_http_config strict = {.max_attempts = 1};
	CHECK_EQ_INT(cf_http_new(&strict, &h), 0);
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EPERM);
	CHECK(strstr(resp.error, "loopback") != NULL);
	req.url = "http://localhost:1/";
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EPERM);
	req.url = "http://[::1]:1/";
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EPERM);
	struct cf_http_stats st;
	cf_http_get_stats(h, &st);
	CHECK_EQ_INT(st.failures, 3);
	cf_http_free(h);
}

/* A signer sees the request as it will be sent (what SigV4 signs) and adds its
 * headers; a signer that fails stops the request before it leaves. */
struct seen {
	char method[8], url[128], ctype[64], body[64], header[64];
	size_t body_len;
	int fail;
};

static int record_signer(void *ctx, const struct cf_http_signing *r, struct cf_http_headers *out,
			 char *why, size_t why_size)
{
	struct seen *s = ctx;
	snprintf(s->method, sizeof s->method, "%s", r->method);
	snprintf(s->url, sizeof s->url, "%s", r->url);
	snprintf(s->ctype, sizeof s->ctype, "%s", r->content_type ? r->content_type : "");
	snprintf(s->body, sizeof s->body, "%s", r->body ? r->body : "");
	s->body_len = r->body_len;
	snprintf(s->header, sizeof s->header, "%s",
		 r->headers && r->headers[0] ? r->headers[0] : "");
	if (s->fail) {
		snprintf(why, why_size, "no credentials for this test");
		return s->fail;
	}
	CHECK_EQ_INT(cf_http_add_header(out, "X-Bad: a\r\nX-Smuggled: b"), -EINVAL);
	CHECK_EQ_INT(cf_http_add_header(out, "no colon"), -EINVAL);
	return cf_http_add_header(out, "Authorization: Test signed-by-test");
}

static void test_signer_and_content_type(void)
{
	struct cf_http *h = new_http(1, 1);
	struct cf_http_response resp;
	struct seen seen = {0};
	const char *hdrs[] = {"X-Extra: 1", NULL};
	struct canned ok[] = {{200, NULL, "{}", false}};
	server_script(ok, 1);
	struct cf_http_request req = {.method = "POST",
				      .url = server_url("/form"),
				      .body = "a=1&b=2",
				      .content_type = "application/x-www-form-urlencoded",
				      .headers = hdrs,
				      .signer = {record_signer, &seen}};
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), 0);
	CHECK_EQ_INT(resp.status, 200);
	CHECK_EQ_STR(seen.method, "POST");
	CHECK_EQ_STR(seen.url, server_url("/form"));
	CHECK_EQ_STR(seen.ctype, "application/x-www-form-urlencoded");
	CHECK_EQ_STR(seen.body, "a=1&b=2");
	CHECK_EQ_INT(seen.body_len, 7);
	CHECK_EQ_STR(seen.header, "X-Extra: 1");
	CHECK(strstr(S.last_head, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
	CHECK(strstr(S.last_head, "Content-Type: application/json") == NULL);
	CHECK(strstr(S.last_head, "\r\nAuthorization: Test signed-by-test\r\n"));
	CHECK(strstr(S.last_head, "X-Smuggled") == NULL);
	cf_http_response_clear(&resp);

	/* a JSON body without a content type says application/json */
	server_script(ok, 1);
	req = (struct cf_http_request){.method = "POST", .url = server_url("/j"), .body = "{}"};
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), 0);
	CHECK(strstr(S.last_head, "\r\nContent-Type: application/json\r\n"));
	cf_http_response_clear(&resp);

	/* a signer's failure: its errno and reason, nothing sent */
	int before = S.requests;
	seen.fail = -EACCES;
	req = (struct cf_http_request){
	    .method = "GET", .url = server_url("/x"), .signer = {record_signer, &seen}};
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EACCES);
	CHECK_EQ_STR(resp.error, "no credentials for this test");
	CHECK_EQ_INT(S.requests, before);
	/* and a content type that would smuggle a header in */
	req = (struct cf_http_request){
	    .method = "POST", .url = server_url("/x"), .body = "x", .content_type = "a\r\nX-B: c"};
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -EINVAL);
	CHECK_EQ_INT(S.requests, before);
	cf_http_free(h);
}

static void test_transport_errors(void)
{
	/* Nobody listening: every try fails to connect, each is retried. */
	struct cf_http *h = new_http(4, 1);
	char u[64];
	snprintf(u, sizeof u, "http://127.0.0.1:%d/", closed_port());
	struct cf_http_request req = {.method = "GET", .url = u};
	struct cf_http_response resp;
	CHECK_EQ_INT(cf_http_do(h, &req, &resp), -ECONNREFUSED);
	CHECK_EQ_INT(resp.attempts, 4);
	CHECK_EQ_INT(resp.status, 0);
	CHECK(resp.body == NULL);
	CHECK(resp.error[0] != '\0');
	struct cf_http_stats st;
	cf_http_get_stats(h, &st);
	CHECK_EQ_INT(st.retries, 3);
	CHECK_EQ_INT(st.failures, 1);
	cf_http_free(h);
}

/* Several threads, each with its own handle, through one cf_http. */
static struct cf_http *shared_h;
static int thread_ok[4];
static void *worker(void *arg)
{
	int i = (int) (intptr_t) arg;
	for (int k = 0; k < 5; k++) {
		struct cf_http_request req = {.method = "GET", .url = url};
		struct cf_http_response resp;
		if (cf_http_do(shared_h, &req, &resp) == 0 && resp.status == 200)
			thread_ok[i]++;
		cf_http_response_clear(&resp);
	}
	return NULL;
}

static void test_threads(void)
{
	struct canned c[16]; /* 15 for the three threads, 1 for the last call */
	for (int i = 0; i < 16; i++)
		c[i] = (struct canned){200, NULL, "t", false};
	server_script(c, 16);
	shared_h = new_http(2, 1);
	server_url("/t");
	pthread_t t[3];
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, worker, (void *) (intptr_t) i);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	CHECK_EQ_INT(thread_ok[0] + thread_ok[1] + thread_ok[2], 15);
	CHECK(S.connections <= 3);
	/* one more from this thread, whose handle outlives the others' */
	worker((void *) (intptr_t) 3);
	CHECK_EQ_INT(thread_ok[3], 1); /* the script ran out: 16 canned, 20 asked */
	cf_http_free(shared_h);
}

/* ---- an unmount ends the pauses between tries (stop.h) ---- */

struct stopped_call {
	struct cf_http *h;
	struct cf_stop *stop;
	const char *path;
	int rc;
	struct cf_http_response resp;
	uint64_t done_ms;
};

static void *stopped_call_main(void *arg)
{
	struct stopped_call *c = arg;
	cf_stop_set_current(c->stop);
	struct cf_http_request req = {.method = "GET", .url = server_url(c->path)};
	c->rc = cf_http_do(c->h, &req, &c->resp);
	c->done_ms = ms_now();
	cf_stop_set_current(NULL);
	return NULL;
}

/* Raise the flag once the server has seen `requests`, then time the call's
 * return from the raise. */
static uint64_t raise_and_wait(struct stopped_call *c, pthread_t t, int requests)
{
	uint64_t give_up = ms_now() + 10000;
	while (server_count() < requests && ms_now() < give_up)
		poll(NULL, 0, 5);
	CHECK_EQ_INT(server_count(), requests);
	/* the call is in its pause now (20 s), or about to be */
	poll(NULL, 0, 50);
	uint64_t raised = ms_now();
	cf_stop_raise(c->stop);
	pthread_join(t, NULL);
	uint64_t took = c->done_ms - raised;
	fprintf(stderr, "the call returned %llu ms after the raise\n", (unsigned long long) took);
	return took;
}

static void test_stop_ends_pauses(void)
{
	CHECK(cf_stop_current() == NULL); /* none unless a thread sets one */
	struct cf_stop stop;
	CHECK_EQ_INT(cf_stop_init(&stop), 0);

	/* Between tries: 503 with Retry-After 20 s, six tries; the raise ends
	 * the pause and the call returns that last answer, a failure. */
	struct cf_http *h = new_http(6, 10000);
	struct canned busy[6];
	for (int i = 0; i < 6; i++)
		busy[i] = (struct canned){503, "Retry-After: 20\r\n", "down", false};
	server_script(busy, 6);
	struct stopped_call c = {.h = h, .stop = &stop, .path = "/down"};
	pthread_t t;
	CHECK_EQ_INT(pthread_create(&t, NULL, stopped_call_main, &c), 0);
	CHECK(raise_and_wait(&c, t, 1) < 1000);
	CHECK_EQ_INT(c.rc, 0);
	CHECK_EQ_INT(c.resp.status, 503); /* the last answer, never a success */
	CHECK_EQ_INT(c.resp.attempts, 1);
	CHECK_EQ_STR(c.resp.body, "down");
	CHECK_EQ_INT(server_count(), 1); /* no try after the raise */
	cf_http_response_clear(&c.resp);
	cf_http_free(h);

	/* The shared hold after a 429 (Retry-After 20 s): the next read waits
	 * for it; the raise ends the wait and the read fails, EAGAIN, untried. */
	cf_stop_destroy(&stop);
	CHECK_EQ_INT(cf_stop_init(&stop), 0);
	h = new_http(1, 10000);
	struct canned slow[] = {{429, "Retry-After: 20\r\n", "slow down", false},
				{200, NULL, "too early", false}};
	server_script(slow, 2);
	struct cf_http_request get = {.method = "GET", .url = server_url("/list")};
	struct cf_http_response resp;
	CHECK_EQ_INT(cf_http_do(h, &get, &resp), 0);
	CHECK_EQ_INT(resp.status, 429);
	cf_http_response_clear(&resp);
	memset(&c, 0, sizeof c);
	c = (struct stopped_call){.h = h, .stop = &stop, .path = "/list"};
	CHECK_EQ_INT(pthread_create(&t, NULL, stopped_call_main, &c), 0);
	CHECK(raise_and_wait(&c, t, 1) < 1000);
	CHECK_EQ_INT(c.rc, -EAGAIN);
	CHECK(strstr(c.resp.error, "stopping") != NULL);
	CHECK_EQ_INT(server_count(), 1); /* the held read was never sent */
	cf_http_response_clear(&c.resp);
	cf_http_free(h);
	cf_stop_destroy(&stop);
}

int main(void)
{
	test_retryable();
	test_backoff();
	test_retry_after();
	if (server_start()) {
		fprintf(stderr, "cannot start the test server\n");
		return 1;
	}
	test_retry_sequence();
	test_bounds();
	test_refusals();
	test_signer_and_content_type();
	test_transport_errors();
	test_threads();
	test_shared_backoff();
	test_stop_ends_pauses();
	server_stop();
	return check_summary();
}
