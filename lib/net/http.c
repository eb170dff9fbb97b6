/* http.c — the one way clonefs talks HTTP: libcurl easy handles, one per
 * (thread, cf_http), kept for keep-alive; a CURLSH share for the DNS cache,
 * TLS sessions and the PSL; timeouts; TLS verification always on; retries
 * with full-jitter exponential backoff that honour Retry-After.
 *
 * Why the connection cache is not in the share: libcurl documents that
 * sharing connections (CURL_LOCK_DATA_CONNECT) between concurrent threads is
 * not supported. Each thread's easy handle keeps its own connections alive
 * instead, which is all the reuse a thread can use anyway.
 *
 * Plain http:// is refused unless the host is a loopback address and the
 * config allows it (the emulator), or the request carries no credentials (no
 * signer, no body) and goes to the link-local metadata server, which only
 * speaks http.
 *
 * Authorization is the signer's (http.h): the transport knows no credential,
 * and whatever header a signer adds is wiped when the request ends. SigV4 is
 * libcurl's own (CURLOPT_AWS_SIGV4), given the key for one request and taken
 * back after it, so a reused handle never signs a later request. */
#include "http.h"
#include "deadline.h"
#include "log.h"
#include "stop.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#ifndef CLONEFS_VERSION
#define CLONEFS_VERSION "0"
#endif

enum { DEFAULT_MAX_BODY = 64 << 20, RETRY_AFTER_LEN = 64 };

struct easy_slot {
	CURL *curl;
	struct cf_http *h;
	struct easy_slot *prev, *next;
};

struct cf_http {
	struct cf_http_config cfg;
	CURLSH *share;
	pthread_mutex_t locks[CURL_LOCK_DATA_LAST];
	pthread_key_t key;
	pthread_mutex_t slots_lock; /* guards slots */
	struct easy_slot *slots;    /* every thread's easy handle, for cf_http_free */
	atomic_ulong requests, retries, failures, bytes_in, wire_in, held;
	/* The shared backoff: after a 429, no request of this handle of the
	 * same class (from any thread: [0] reads, every listing, the fetches of
	 * what changed and the write path's reads; [1] writes, which Compute
	 * Engine rates apart) is sent before this CLOCK_MONOTONIC ms, the API's
	 * Retry-After or our own backoff. */
	atomic_ullong not_before_ms[2];
};

/* What one attempt collects. */
struct xfer {
	char *body;
	size_t len, cap, max;
	bool too_big, oom, secret, metadata_flavor;
	char retry_after[RETRY_AFTER_LEN];
};

/* ---- retry policy (exposed for tests) ---- */

bool cf_http_retryable(long status)
{
	return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static bool curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR: /* a kept-alive connection the server had closed */
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
		return true;
	default:
		return false;
	}
}

static int curl_errno(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_CONNECT:
		return -ECONNREFUSED;
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return -EHOSTUNREACH;
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return -EAGAIN;
	case CURLE_FILESIZE_EXCEEDED:
		return -EFBIG;
	case CURLE_OUT_OF_MEMORY:
		return -ENOMEM;
	case CURLE_UNSUPPORTED_PROTOCOL:
		return -EPERM;
	case CURLE_URL_MALFORMAT:
		return -EINVAL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
		return -EPROTO;
	default:
		return -EIO;
	}
}

/* Thread-local xorshift, seeded per thread: jitter needs spread, not secrecy. */
static unsigned default_rnd(void)
{
	static __thread uint64_t s;
	if (!s) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s = ((uint64_t) ts.tv_nsec << 20) ^ (uint64_t) ts.tv_sec ^ (uintptr_t) &s;
		s |= 1;
	}
	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (unsigned) (s >> 32);
}

unsigned cf_http_backoff_ms(const struct cf_http_config *cfg, unsigned attempt, long retry_after_ms,
			    unsigned (*rnd)(void))
{
	unsigned max_delay = cfg->max_delay_ms;
	if (retry_after_ms >= 0)
		return retry_after_ms > (long) max_delay ? max_delay : (unsigned) retry_after_ms;
	/* Full jitter: uniform in [0, min(max_delay, base * 2^attempt)]. */
	uint64_t cap = cfg->base_delay_ms;
	for (unsigned i = 0; i < attempt && cap < max_delay; i++)
		cap <<= 1;
	if (cap > max_delay)
		cap = max_delay;
	return (unsigned) ((rnd ? rnd : default_rnd)() % (cap + 1));
}

long cf_http_parse_retry_after(const char *value, long now_epoch)
{
	if (!value)
		return -1;
	while (*value == ' ' || *value == '\t')
		value++;
	size_t n = strlen(value);
	while (n && (value[n - 1] == ' ' || value[n - 1] == '\t' || value[n - 1] == '\r' ||
		     value[n - 1] == '\n'))
		n--;
	if (n == 0 || n >= RETRY_AFTER_LEN)
		return -1;
	char v[RETRY_AFTER_LEN];
	memcpy(v, value, n);
	v[n] = '\0';

	if (v[0] >= '0' && v[0] <= '9') {
		/* delta-seconds: digits only; a huge value saturates (the caller
		 * caps it at max_delay_ms anyway). */
		long secs = 0;
		for (const char *p = v; *p; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			if (secs < 100000000)
				secs = secs * 10 + (*p - '0');
		}
		return secs >= 100000000 ? 100000000L * 1000 : secs * 1000;
	}
	/* HTTP-date (IMF-fixdate, RFC 850, asctime): libcurl's parser is
	 * locale- and TZ-free. A date in the past means "now". */
	time_t t = curl_getdate(v, NULL);
	if (t == (time_t) -1)
		return -1;
	if ((long) t <= now_epoch)
		return 0;
	long d = (long) t - now_epoch;
	return d >= 100000000 ? 100000000L * 1000 : d * 1000;
}

/* ---- the shared state ---- */

static void share_lock(CURL *c, curl_lock_data data, curl_lock_access access, void *ptr)
{
	(void) c;
	(void) access;
	struct cf_http *h = ptr;
	pthread_mutex_lock(&h->locks[(unsigned) data < CURL_LOCK_DATA_LAST ? data : 0]);
}

static void share_unlock(CURL *c, curl_lock_data data, void *ptr)
{
	(void) c;
	struct cf_http *h = ptr;
	pthread_mutex_unlock(&h->locks[(unsigned) data < CURL_LOCK_DATA_LAST ? data : 0]);
}

/* A thread that exits gives its easy handle back. */
static void slot_destroy(void *p)
{
	struct easy_slot *s = p;
	struct cf_http *h = s->h;
	pthread_mutex_lock(&h->slots_lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		h->slots = s->next;
	if (s->next)
		s->next->prev = s->prev;
	pthread_mutex_unlock(&h->slots_lock);
	curl_easy_cleanup(s->curl);
	free(s);
}

static CURLcode global_init_rc = CURLE_FAILED_INIT;
static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static void global_init(void)
{
	global_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cf_http_new(const struct cf_http_config *cfg, struct cf_http **out)
{
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_init_rc != CURLE_OK) {
		cf_err("http: libcurl initialisation failed: %s",
		       curl_easy_strerror(global_init_rc));
		return -EIO;
	}
	struct cf_http *h = calloc(1, sizeof *h);
	if (!h)
		return -ENOMEM;
	if (cfg)
		h->cfg = *cfg;
	if (h->cfg.connect_timeout_ms <= 0)
		h->cfg.connect_timeout_ms = 10000;
	if (h->cfg.timeout_ms <= 0)
		h->cfg.timeout_ms = 30000;
	if (!h->cfg.max_attempts)
		h->cfg.max_attempts = 6;
	if (!h->cfg.base_delay_ms)
		h->cfg.base_delay_ms = 250;
	if (!h->cfg.max_delay_ms)
		h->cfg.max_delay_ms = 20000;
	if (!h->cfg.max_total_ms)
		h->cfg.max_total_ms = 60000;

	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&h->locks[i], NULL);
	pthread_mutex_init(&h->slots_lock, NULL);
	if (pthread_key_create(&h->key, slot_destroy)) {
		free(h);
		return -EAGAIN;
	}
	h->share = curl_share_init();
	if (!h->share || curl_share_setopt(h->share, CURLSHOPT_LOCKFUNC, share_lock) ||
	    curl_share_setopt(h->share, CURLSHOPT_UNLOCKFUNC, share_unlock) ||
	    curl_share_setopt(h->share, CURLSHOPT_USERDATA, h) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION) ||
	    curl_share_setopt(h->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_PSL)) {
		cf_err("http: cannot set up the libcurl share");
		cf_http_free(h);
		return -ENOMEM;
	}
	*out = h;
	return 0;
}

void cf_http_free(struct cf_http *h)
{
	if (!h)
		return;
	/* No destructor runs after this, so the handles of threads still alive
	 * (or never exited) are cleaned here. The caller guarantees no thread
	 * is inside cf_http_do. */
	pthread_key_delete(h->key);
	struct easy_slot *s = h->slots;
	while (s) {
		struct easy_slot *next = s->next;
		curl_easy_cleanup(s->curl);
		free(s);
		s = next;
	}
	if (h->share)
		curl_share_cleanup(h->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&h->locks[i]);
	pthread_mutex_destroy(&h->slots_lock);
	free(h);
}

static CURL *thread_handle(struct cf_http *h)
{
	struct easy_slot *s = pthread_getspecific(h->key);
	if (s)
		return s->curl;
	s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->curl = curl_easy_init();
	if (!s->curl) {
		free(s);
		return NULL;
	}
	s->h = h;
	curl_easy_setopt(s->curl, CURLOPT_SHARE, h->share);
	pthread_mutex_lock(&h->slots_lock);
	s->next = h->slots;
	if (h->slots)
		h->slots->prev = s;
	h->slots = s;
	pthread_mutex_unlock(&h->slots_lock);
	if (pthread_setspecific(h->key, s)) {
		slot_destroy(s);
		return NULL;
	}
	return s->curl;
}

void cf_http_get_stats(struct cf_http *h, struct cf_http_stats *out)
{
	out->requests = atomic_load(&h->requests);
	out->retries = atomic_load(&h->retries);
	out->failures = atomic_load(&h->failures);
	out->bytes_in = atomic_load(&h->bytes_in);
	out->wire_in = atomic_load(&h->wire_in);
	out->held = atomic_load(&h->held);
}

void cf_http_response_clear(struct cf_http_response *r)
{
	if (!r)
		return;
	free(r->body);
	memset(r, 0, sizeof *r);
}

void cf_http_response_wipe(struct cf_http_response *r)
{
	if (r && r->body)
		explicit_bzero(r->body, r->body_len);
	cf_http_response_clear(r);
}

void cf_http_slist_free_wiped(struct curl_slist *l)
{
	for (struct curl_slist *i = l; i; i = i->next)
		if (i->data)
			explicit_bzero(i->data, strlen(i->data));
	curl_slist_free_all(l);
}

/* Free an attempt's body; a secret one is overwritten first. */
static void xfer_free(struct xfer *x)
{
	if (x->body && x->secret)
		explicit_bzero(x->body, x->cap);
	free(x->body);
	x->body = NULL;
	x->len = x->cap = 0;
}

/* ---- one request ---- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ptr)
{
	struct xfer *x = ptr;
	size_t n = size * nmemb;
	if (n > x->max - x->len) {
		x->too_big = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (x->len + n + 1 > x->cap) {
		size_t cap = x->cap ? x->cap : 16384;
		while (cap < x->len + n + 1)
			cap *= 2;
		char *b;
		if (x->secret) {
			/* realloc would leave the old copy in freed memory */
			b = malloc(cap);
			if (b && x->body) {
				memcpy(b, x->body, x->len);
				explicit_bzero(x->body, x->cap);
				free(x->body);
			}
		} else {
			b = realloc(x->body, cap);
		}
		if (!b) {
			x->oom = true;
			return 0;
		}
		x->body = b;
		x->cap = cap;
	}
	memcpy(x->body + x->len, data, n);
	x->len += n;
	x->body[x->len] = '\0';
	return n;
}

static size_t on_header(char *data, size_t size, size_t nitems, void *ptr)
{
	struct xfer *x = ptr;
	size_t n = size * nitems;
	static const char name[] = "retry-after:", flavor[] = "metadata-flavor:";
	if (n > sizeof flavor - 1 && !strncasecmp(data, flavor, sizeof flavor - 1)) {
		/* the value, without the blanks around it and the line's CRLF */
		const char *v = data + sizeof flavor - 1, *e = data + n;
		while (v < e && (*v == ' ' || *v == '\t'))
			v++;
		while (e > v && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
			e--;
		x->metadata_flavor = e - v == 6 && !memcmp(v, "Google", 6);
	} else if (n > sizeof name - 1 && !strncasecmp(data, name, sizeof name - 1)) {
		size_t vl = n - (sizeof name - 1);
		if (vl >= sizeof x->retry_after)
			vl = sizeof x->retry_after - 1;
		memcpy(x->retry_after, data + sizeof name - 1, vl);
		x->retry_after[vl] = '\0';
	} else if (n >= 5 && !strncmp(data, "HTTP/", 5)) {
		/* a new response (after a 100 Continue): forget the last one's */
		x->retry_after[0] = '\0';
		x->metadata_flavor = false;
	}
	return n;
}

static bool is_loopback(const char *host)
{
	unsigned char a[16];
	if (!strcasecmp(host, "localhost"))
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return a[0] == 127;
	if (!strcmp(host, "[::1]") || !strcmp(host, "::1"))
		return true;
	return false;
}

static bool is_metadata(const char *host)
{
	return !strcmp(host, "169.254.169.254") || !strcasecmp(host, "metadata.google.internal");
}

/* May this URL be fetched? Fills why on refusal. The plain-http hosts get
 * no proxy: they are on this machine or its virtual NIC. */
static int check_url(const struct cf_http *h, const char *url, bool credentials, bool *direct,
		     char *why, size_t why_size)
{
	CURLU *u = curl_url();
	char *scheme = NULL, *host = NULL;
	int rc = 0;
	*direct = false;
	if (!u)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0)) {
		snprintf(why, why_size, "not a valid URL");
		rc = -EINVAL;
	} else if (strcasecmp(scheme, "https") && strcasecmp(scheme, "http")) {
		snprintf(why, why_size, "scheme %.16s refused: only https", scheme);
		rc = -EPERM;
	} else if (curl_url_get(u, CURLUPART_HOST, &host, 0)) {
		snprintf(why, why_size, "URL without a host");
		rc = -EINVAL;
	} else if (!strcasecmp(scheme, "https")) {
		*direct = is_loopback(host);
	} else if (is_loopback(host)) {
		*direct = true;
		if (!h->cfg.allow_insecure_loopback) {
			snprintf(why, why_size,
				 "plain http to %.64s refused: insecure loopback not allowed",
				 host);
			rc = -EPERM;
		}
	} else if (is_metadata(host) && !credentials) {
		*direct = true;
	} else {
		snprintf(why, why_size,
			 "plain http to %.64s refused: only https (http only to loopback)", host);
		rc = -EPERM;
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return rc;
}

int cf_http_check_url(const struct cf_http *h, const char *url, bool credentials, char *why,
		      size_t why_size)
{
	bool direct;
	why[0] = '\0';
	if (!h || !url) {
		snprintf(why, why_size, "not a valid URL");
		return -EINVAL;
	}
	return check_url(h, url, credentials, &direct, why, why_size);
}

/* A header value may not smuggle a second header in. */
static bool header_safe(const char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* Every part present, and nothing that could break a header line. */
static bool sigv4_ok(const struct cf_http_sigv4 *s)
{
	return s->scope && s->key_id && s->secret && s->scope[0] && s->key_id[0] && s->secret[0] &&
	       header_safe(s->scope) && header_safe(s->key_id) && header_safe(s->secret) &&
	       !strchr(s->key_id, ':');
}

struct cf_http_headers {
	struct curl_slist *list;
};

int cf_http_add_header(struct cf_http_headers *h, const char *line)
{
	if (!line || !header_safe(line) || !strchr(line, ':'))
		return -EINVAL;
	struct curl_slist *t = curl_slist_append(h->list, line);
	if (!t)
		return -ENOMEM;
	h->list = t;
	return 0;
}

int cf_http_sign_bearer(void *ctx, const struct cf_http_signing *req, struct cf_http_headers *out,
			char *why, size_t why_size)
{
	const char *token = ctx;
	char auth[8192];
	(void) req;
	int n = snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
	int rc;
	if (!token || n < 0 || (size_t) n >= sizeof auth || !header_safe(token))
		rc = -EINVAL;
	else
		rc = cf_http_add_header(out, auth);
	explicit_bzero(auth, sizeof auth);
	if (rc)
		snprintf(why, why_size,
			 rc == -EINVAL ? "a header value is not fit to send" : "out of memory");
	return rc;
}

/* The request's headers: ours, the caller's, then the signer's (which sees the
 * others). 0, or an errno with the reason in why. */
static int build_headers(const struct cf_http_request *req, const char *method,
			 struct curl_slist **out, char *why, size_t why_size)
{
	struct cf_http_headers hd = {NULL};
	const char *ctype =
	    req->body ? (req->content_type ? req->content_type : "application/json") : NULL;
	char line[256];
	int rc = 0;
	*out = NULL;
	if ((rc = cf_http_add_header(&hd, "Accept: application/json")))
		goto fail;
	/* No 100-continue round trip for small bodies. Not with SigV4: libcurl
	 * 7.88 signs the empty "expect" it then does not send, and the server's
	 * signature differs (it only adds Expect itself past 1 MiB, unsigned). */
	if (!req->sigv4 && (rc = cf_http_add_header(&hd, "Expect:")))
		goto fail;
	if (req->sigv4 && req->sigv4->session_token) {
		/* signed with the rest; wiped with the list */
		size_t tl = strlen(req->sigv4->session_token) + sizeof "X-Amz-Security-Token: ";
		char *t = malloc(tl);
		if (!t) {
			rc = -ENOMEM;
			goto fail;
		}
		snprintf(t, tl, "X-Amz-Security-Token: %s", req->sigv4->session_token);
		rc = header_safe(req->sigv4->session_token) && req->sigv4->session_token[0]
			 ? cf_http_add_header(&hd, t)
			 : -EINVAL;
		explicit_bzero(t, tl);
		free(t);
		if (rc)
			goto fail;
	}
	if (ctype) {
		int n = snprintf(line, sizeof line, "Content-Type: %s", ctype);
		if (n < 0 || (size_t) n >= sizeof line) {
			rc = -EINVAL;
			goto fail;
		}
		if ((rc = cf_http_add_header(&hd, line)))
			goto fail;
	}
	for (const char *const *h = req->headers; h && *h; h++)
		if ((rc = cf_http_add_header(&hd, *h)))
			goto fail;
	if (req->signer.sign) {
		struct cf_http_signing sg = {.method = method,
					     .url = req->url,
					     .content_type = ctype,
					     .body = req->body,
					     .body_len = req->body ? strlen(req->body) : 0,
					     .headers = req->headers};
		rc = req->signer.sign(req->signer.ctx, &sg, &hd, why, why_size);
		if (rc) {
			if (!why[0])
				snprintf(why, why_size, "the request could not be signed");
			cf_http_slist_free_wiped(hd.list);
			return rc;
		}
	}
	*out = hd.list;
	return 0;
fail:
	snprintf(why, why_size,
		 rc == -EINVAL ? "a header value is not fit to send" : "out of memory");
	cf_http_slist_free_wiped(hd.list);
	return rc;
}

static void setup(struct cf_http *h, CURL *c, const struct cf_http_request *req,
		  struct curl_slist *hdrs, bool direct, struct xfer *x, char *errbuf, long left_ms)
{
	long timeout = h->cfg.timeout_ms, connect = h->cfg.connect_timeout_ms;
	/* A deadline cuts the try short (0 ms would mean "no timeout" to libcurl). */
	if (left_ms >= 0 && left_ms < timeout)
		timeout = left_ms ? left_ms : 1;
	if (left_ms >= 0 && left_ms < connect)
		connect = left_ms ? left_ms : 1;
	curl_easy_setopt(c, CURLOPT_URL, req->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, connect);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Google's APIs compress an answer only for a client whose User-Agent
	 * says "gzip" besides Accept-Encoding (their performance tips); a JSON
	 * listing shrinks several times. */
	curl_easy_setopt(c, CURLOPT_USERAGENT, "clonefs/" CLONEFS_VERSION " (gzip)");
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_PROXY, direct ? "" : NULL);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) x->max);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_NOBODY, 0L);
	/* SigV4 from scratch each time too: setting CURLOPT_AWS_SIGV4 also sets
	 * CURLOPT_HTTPAUTH, which clearing it does not undo. */
	if (req->sigv4) {
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, req->sigv4->scope);
		curl_easy_setopt(c, CURLOPT_USERNAME, req->sigv4->key_id);
		curl_easy_setopt(c, CURLOPT_PASSWORD, req->sigv4->secret);
	} else {
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, NULL);
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, NULL);
		curl_easy_setopt(c, CURLOPT_PASSWORD, NULL);
	}
	/* The method, set from scratch each time: the handle is reused. */
	const char *m = req->method ? req->method : "GET";
	if (req->body) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) strlen(req->body));
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body);
	} else if (!strcmp(m, "POST")) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) 0);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	} else {
		curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	}
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST,
			 !strcmp(m, "GET") || !strcmp(m, "POST") ? NULL : m);
}

static uint64_t now_ms(void);

/* A 429: every request of h waits `delay` ms from now (the later of this
 * and a hold already set), so the whole mount backs off together instead of
 * each caller hammering the quota on its own schedule. */
static void share_backoff(struct cf_http *h, int cls, unsigned delay)
{
	unsigned long long until = now_ms() + delay;
	unsigned long long cur = atomic_load(&h->not_before_ms[cls]);
	while (cur < until && !atomic_compare_exchange_weak(&h->not_before_ms[cls], &cur, until))
		;
}

/* Wait out the shared backoff before a try. true (with *rc and the reason)
 * when the caller's deadline ends before it does. */
static bool hold_back(struct cf_http *h, int cls, int *rc, struct cf_http_response *resp)
{
	for (;;) {
		unsigned long long until = atomic_load(&h->not_before_ms[cls]), now = now_ms();
		if (until <= now)
			return false;
		long left = cf_deadline_left_ms();
		if (left >= 0 && (unsigned long long) left < until - now) {
			snprintf(resp->error, sizeof resp->error,
				 "the API asked to slow down (429) beyond this request's deadline");
			*rc = -ETIMEDOUT;
			return true;
		}
		atomic_fetch_add(&h->held, 1);
		if (cf_stop_sleep_current((unsigned) (until - now))) {
			/* an unmount: no try now; the caller repeats later */
			snprintf(resp->error, sizeof resp->error,
				 "the API asked to slow down (429) and the mount is stopping");
			*rc = -EAGAIN;
			return true;
		}
	}
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static bool method_ok(const char *m)
{
	static const char *const ok[] = {"GET", "POST", "DELETE", "PATCH", "PUT"};
	for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
		if (!strcmp(m, ok[i]))
			return true;
	return false;
}

int cf_http_do(struct cf_http *h, const struct cf_http_request *req, struct cf_http_response *resp)
{
	memset(resp, 0, sizeof *resp);
	if (!h || !req || !req->url || (req->method && !method_ok(req->method))) {
		snprintf(resp->error, sizeof resp->error, "invalid request");
		return -EINVAL;
	}
	atomic_fetch_add(&h->requests, 1);
	if (req->sigv4 && (req->signer.sign || !sigv4_ok(req->sigv4))) {
		snprintf(resp->error, sizeof resp->error,
			 req->signer.sign ? "a request takes a signer or SigV4, not both"
					  : "SigV4 credentials incomplete or not fit to send");
		atomic_fetch_add(&h->failures, 1);
		return -EINVAL;
	}

	bool direct;
	int rc = check_url(h, req->url, req->signer.sign || req->sigv4 || req->body, &direct,
			   resp->error, sizeof resp->error);
	if (rc) {
		cf_warn("http: %s", resp->error);
		atomic_fetch_add(&h->failures, 1);
		return rc;
	}
	struct curl_slist *hdrs;
	rc = build_headers(req, req->method ? req->method : "GET", &hdrs, resp->error,
			   sizeof resp->error);
	if (rc) {
		atomic_fetch_add(&h->failures, 1);
		return rc;
	}
	if (cf_deadline_left_ms() == 0) {
		cf_http_slist_free_wiped(hdrs);
		snprintf(resp->error, sizeof resp->error,
			 "no time left for this request (the write's deadline has passed)");
		atomic_fetch_add(&h->failures, 1);
		return -ETIMEDOUT;
	}
	CURL *c = thread_handle(h);
	if (!c) {
		cf_http_slist_free_wiped(hdrs);
		snprintf(resp->error, sizeof resp->error, "cannot create a libcurl handle");
		atomic_fetch_add(&h->failures, 1);
		return -ENOMEM;
	}

	unsigned max_attempts = req->no_retry ? 1 : h->cfg.max_attempts;
	uint64_t start = now_ms();
	char errbuf[CURL_ERROR_SIZE];
	struct xfer x = {.max = req->max_body ? req->max_body : DEFAULT_MAX_BODY,
			 .secret = req->secret};
	const char *m = req->method ? req->method : "GET";
	const int cls = strcmp(m, "GET") != 0; /* the shared backoff's class */

	for (unsigned attempt = 1;; attempt++) {
		if (x.secret && x.body)
			explicit_bzero(x.body, x.cap); /* the last try's answer */
		x.len = 0;
		x.too_big = x.oom = x.metadata_flavor = false;
		x.retry_after[0] = '\0';
		errbuf[0] = '\0';
		if (hold_back(h, cls, &rc, resp)) {
			atomic_fetch_add(&h->failures, 1);
			cf_http_slist_free_wiped(hdrs);
			return rc;
		}
		setup(h, c, req, hdrs, direct, &x, errbuf, cf_deadline_left_ms());
		CURLcode cc = curl_easy_perform(c);
		long status = 0;
		resp->attempts = attempt;
		atomic_fetch_add(&h->bytes_in, x.len);
		curl_off_t wire = 0;
		if (curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &wire) == CURLE_OK && wire > 0) {
			atomic_fetch_add(&h->wire_in, (unsigned long) wire);
			resp->wire_bytes += (uint64_t) wire;
		}

		bool retry = false;
		long retry_after = -1;
		if (x.too_big || cc == CURLE_FILESIZE_EXCEEDED) {
			snprintf(resp->error, sizeof resp->error,
				 "response body larger than %zu bytes", x.max);
			rc = -EFBIG;
			break;
		} else if (x.oom) {
			snprintf(resp->error, sizeof resp->error, "out of memory");
			rc = -ENOMEM;
			break;
		} else if (cc != CURLE_OK) {
			snprintf(resp->error, sizeof resp->error, "%s",
				 errbuf[0] ? errbuf : curl_easy_strerror(cc));
			rc = curl_errno(cc);
			retry = curl_retryable(cc);
		} else {
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
			resp->error[0] = '\0';
			rc = 0;
			retry = cf_http_retryable(status);
			if (retry && x.retry_after[0])
				retry_after =
				    cf_http_parse_retry_after(x.retry_after, (long) time(NULL));
		}
		resp->status = status;
		unsigned delay = cf_http_backoff_ms(&h->cfg, attempt, retry_after, NULL);
		if (status == 429)
			share_backoff(h, cls, delay);
		if (!retry || attempt >= max_attempts)
			break;
		uint64_t spent = now_ms() - start;
		long left = cf_deadline_left_ms();
		if (spent + delay > h->cfg.max_total_ms || (left >= 0 && (long) delay >= left))
			break;
		cf_debug("http: %s %s: %s, try %u of %u in %u ms", m, req->url,
			 status ? "retryable status" : resp->error, attempt + 1, max_attempts,
			 delay);
		atomic_fetch_add(&h->retries, 1);
		/* An unmount does not wait out the pause: the call ends with this
		 * try's failure, which the caller reads as transient. */
		if (cf_stop_sleep_current(delay)) {
			cf_debug("http: %s %s: the mount is stopping, no try %u", m, req->url,
				 attempt + 1);
			break;
		}
	}
	/* The handle outlives this call: leave it no pointer into this frame,
	 * the caller's body or the freed header list. */
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	if (req->sigv4) {
		/* libcurl frees its copies of the key; these calls make it do so now */
		curl_easy_setopt(c, CURLOPT_AWS_SIGV4, NULL);
		curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		curl_easy_setopt(c, CURLOPT_USERNAME, NULL);
		curl_easy_setopt(c, CURLOPT_PASSWORD, NULL);
	}
	/* The Authorization line holds the token: wiped, not just freed. */
	cf_http_slist_free_wiped(hdrs);

	if (rc == 0) {
		/* hand the body over; always NUL-terminated, even when empty */
		if (!x.body) {
			x.body = calloc(1, 1);
			x.cap = x.body ? 1 : 0;
			if (!x.body) {
				snprintf(resp->error, sizeof resp->error, "out of memory");
				atomic_fetch_add(&h->failures, 1);
				return -ENOMEM;
			}
		}
		resp->body = x.body;
		resp->body_len = x.len;
		resp->metadata_flavor = x.metadata_flavor;
		if (cf_http_retryable(resp->status))
			atomic_fetch_add(&h->failures, 1);
		return 0;
	}
	xfer_free(&x);
	resp->status = 0;
	atomic_fetch_add(&h->failures, 1);
	return rc;
}
