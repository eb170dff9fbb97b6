/* http.h — HTTP for provider calls: libcurl with one shared connection pool,
 * timeouts, and retries with exponential backoff and full jitter on 429, 5xx
 * and connection errors, honouring Retry-After.
 *
 * Thread-safe: each thread gets its own easy handle (thread-local), all
 * sharing one connection cache, DNS cache and TLS session cache.
 *
 * The one HTTP client of clonefs: the API calls and the token fetches (the
 * metadata server, an OAuth token endpoint's form posts) all go through it,
 * so its TLS, URL and loopback rules exist once. */
#ifndef CLONEFS_HTTP_H
#define CLONEFS_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The write deadline (cf_http_set_deadline) lives in deadline.h; every request
 * honours it. */
struct cf_http;

struct cf_http_config {
	long connect_timeout_ms;      /* default 10000 */
	long timeout_ms;	      /* whole request, default 30000 */
	unsigned max_attempts;	      /* default 6 (1 try + 5 retries) */
	unsigned base_delay_ms;	      /* default 250: delay before retry n is random in
				       * [0, min(max_delay, base * 2^n)] */
	unsigned max_delay_ms;	      /* default 20000 */
	unsigned max_total_ms;	      /* give up retrying after this, default 60000 */
	bool allow_insecure_loopback; /* plain http:// only to 127.0.0.0/8, ::1, localhost */
};

struct cf_http_response {
	long status; /* 0 when no answer arrived */
	char *body;  /* NUL-terminated, malloc'd (may be NULL) */
	size_t body_len;
	unsigned attempts; /* how many tries it took */
	/* The answer carried "Metadata-Flavor: Google", as only the metadata server's do:
	 * an answer to a metadata request without it came from something else (a proxy, a
	 * captive portal, a local listener) and must not be believed. */
	bool metadata_flavor;
	char error[256]; /* transport error, or "" */
};

/* The request as it will be sent, for a signer: the method, URL, headers
 * and body a signature could cover, and all a bearer token needs. */
struct cf_http_signing {
	const char *method;	  /* "GET", "POST", ... */
	const char *url;	  /* checked: https, or plain http where allowed */
	const char *content_type; /* the body's, NULL without a body */
	const char *body;	  /* NULL without one */
	size_t body_len;
	const char *const *headers; /* the caller's extra headers, NULL-terminated */
};

/* Where a signer puts its headers: cf_http_add_header, once per line. */
struct cf_http_headers;

/* "Name: value" onto the request's headers. -EINVAL when the line has no ':'
 * or holds a control character (a value may not smuggle a second header in),
 * -ENOMEM. The line is copied; the copy is wiped when the request ends, so a
 * secret in it (an Authorization value) does not outlive the request. */
int cf_http_add_header(struct cf_http_headers *h, const char *line);

/* A request signer: adds the authorization to one request (a bearer
 * token). Called once per cf_http_do, after the URL and the
 * headers were checked and before the first try; 0, or a negative errno with
 * a one-line reason (never a secret) in why, which fails the request. (SigV4
 * is not a signer: libcurl computes it, see struct cf_http_sigv4.) */
struct cf_http_signer {
	int (*sign)(void *ctx, const struct cf_http_signing *req, struct cf_http_headers *out,
		    char *why, size_t why_size);
	void *ctx;
};

/* The signer of an OAuth 2 bearer token: ctx is the token, a NUL-terminated
 * string, sent as "Authorization: Bearer TOKEN". */
int cf_http_sign_bearer(void *ctx, const struct cf_http_signing *req, struct cf_http_headers *out,
			char *why, size_t why_size);

/* Signature Version 4, computed by libcurl itself (CURLOPT_AWS_SIGV4) on
 * every try, so a retry carries a fresh date. libcurl signs the method, path,
 * query, the body's hash and every header the request sets (the caller's,
 * Content-Type, Accept, Host and its own X-Amz-Date); a request with it sends
 * no empty "Expect:" (libcurl 7.88 would sign a header it then leaves out).
 * The strings are the caller's and must live until cf_http_do returns;
 * libcurl keeps its own copies only for the request. Never logged. */
struct cf_http_sigv4 {
	const char *scope;	   /* libcurl's "PROVIDER:SIGNING-NAME:REGION:SERVICE" */
	const char *key_id;	   /* the access key id */
	const char *secret;	   /* the secret key */
	const char *session_token; /* temporary credentials' token, or NULL: sent (and
				    * signed) as X-Amz-Security-Token */
};

/* One request. method "GET", "POST", "DELETE", "PATCH", "PUT"; body may be
 * NULL; signer.sign may be NULL (no authorization). Retries as configured.
 * Returns 0 when an HTTP answer arrived (any status: check resp->status),
 * -EAGAIN / -ETIMEDOUT / -ECONNREFUSED ... when none did after every try,
 * -EFBIG when the body exceeds max_body, the signer's errno when it failed. */
struct cf_http_request {
	const char *method;
	const char *url;
	struct cf_http_signer signer;
	/* or SigV4 by libcurl (not both: -EINVAL); NULL: none */
	const struct cf_http_sigv4 *sigv4;
	const char *body;
	const char *content_type; /* the body's; NULL: application/json */
	size_t max_body;	  /* default 64 MiB */
	bool no_retry;		  /* a call that must not be repeated blindly */
	/* extra headers, NULL-terminated "Name: value" strings (may be NULL),
	 * e.g. "Metadata-Flavor: Google" for the metadata server */
	const char *const *headers;
	/* The answer is a secret (a token endpoint's): every copy of it this library makes
	 * is wiped before it is freed. The caller wipes resp->body (cf_http_response_wipe). */
	bool secret;
};
int cf_http_new(const struct cf_http_config *cfg, struct cf_http **out);
/* Would h send a request to url? credentials: the request carries any (a
 * signer or a body), which plain http to the metadata server never may. 0, or
 * -EINVAL / -EPERM with the reason in why: for checking a URL once, when it is
 * configured, with the rule every request is held to. */
int cf_http_check_url(const struct cf_http *h, const char *url, bool credentials, char *why,
		      size_t why_size);
int cf_http_do(struct cf_http *h, const struct cf_http_request *req, struct cf_http_response *resp);
void cf_http_response_clear(struct cf_http_response *r);
/* cf_http_response_clear that first overwrites the body (explicit_bzero): for an
 * answer that held a token. */
void cf_http_response_wipe(struct cf_http_response *r);
/* Free a libcurl header list, overwriting every string in it first: an Authorization
 * header's copy of a token must not outlive the request in freed memory. */
struct curl_slist;
void cf_http_slist_free_wiped(struct curl_slist *l);
void cf_http_free(struct cf_http *h);

/* Counters for status and metrics. */
struct cf_http_stats {
	unsigned long requests, retries, failures, bytes_in;
};
void cf_http_get_stats(struct cf_http *h, struct cf_http_stats *out);

/* Exposed for unit tests: whether a status is retryable, the delay before
 * retry `attempt` (1-based) given a Retry-After header value (may be NULL),
 * and a Retry-After parser (delta-seconds or HTTP-date) returning ms or -1. */
bool cf_http_retryable(long status);
unsigned cf_http_backoff_ms(const struct cf_http_config *cfg, unsigned attempt, long retry_after_ms,
			    unsigned (*rnd)(void));
long cf_http_parse_retry_after(const char *value, long now_epoch);

#endif
