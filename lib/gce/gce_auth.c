/* gce_auth.c — the Compute Engine provider's credential source: the bearer
 * token for API calls, from the first source that applies (see gce_auth.h): a token file (re-read
 * when another process replaces it), a service-account key (a JWT signed RS256 with libcrypto,
 * exchanged at the key's token_uri), an authorized_user file (refresh-token grant), or the GCE
 * metadata server. Tokens are cached and refreshed a minute before they expire. One mutex; every
 * secret is wiped from memory when dropped and never written to a log.
 *
 * Errors: -EACCES when a source answered but gave no usable token (or none
 * is configured); -EAGAIN when it could not be reached or was busy, since
 * that passes and a shell should say so. Each distinct failure is logged
 * once until the source works again.
 *
 * Every token fetch goes through the http layer (http.c), so its TLS, URL and
 * loopback rules are the only ones: the metadata server through the caller's
 * client, a token endpoint's form posts (RFC 6749 wants them form-encoded)
 * through a client of our own, whose only difference is its retry budget
 * (three tries, backoff capped at 5 s: a token endpoint that is down does not
 * hold a request for a minute). */
#include "gce_auth.h"
#include "http.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	TOKEN_FILE_MAX = 16384,
	KEY_FILE_MAX = 65536,
	TOKEN_MAX = 8192,
	ANSWER_MAX = 65536,
	REFRESH_MARGIN = 60,   /* seconds before expiry */
	ASSERTION_LIFE = 3600, /* Google takes a JWT of at most an hour */
	POST_ATTEMPTS = 3,
};

#define METADATA_DEFAULT_HOST "169.254.169.254"
#define METADATA_ROOT	      "/computeMetadata/v1/"
#define METADATA_TOKEN	      METADATA_ROOT "instance/service-accounts/default/token"
#define METADATA_PROJECT      METADATA_ROOT "project/project-id"
#define DEFAULT_TOKEN_URI     "https://oauth2.googleapis.com/token"
#define JWT_GRANT	      "urn:ietf:params:oauth:grant-type:jwt-bearer"
#define SCOPE_RW	      "https://www.googleapis.com/auth/compute"
#define SCOPE_RO	      "https://www.googleapis.com/auth/compute.readonly"
#define ADC_FILE	      "application_default_credentials.json"

enum source { SRC_NONE, SRC_TOKEN_FILE, SRC_SERVICE_ACCOUNT, SRC_AUTHORIZED_USER, SRC_METADATA };

struct cf_auth {
	pthread_mutex_t lock;
	enum source src;
	struct cf_http *http;
	char *token_file;
	char *metadata_host; /* host[:port] */
	char *metadata_url;  /* the token's URL */
	/* a key file: where it came from, for messages */
	char *key_path;
	const char *key_from;
	char *token_uri;
	const char *scope;
	/* service_account */
	EVP_PKEY *pkey;
	char *client_email, *key_id, *project_id;
	/* authorized_user (client_secret and refresh_token are secrets) */
	char *client_id, *client_secret, *refresh_token;
	struct cf_http *token_http; /* the token endpoint's client (a key file only) */

	char *token; /* cached, NUL-terminated */
	size_t token_len;
	struct stat seen;	       /* token file: the identity of what was read */
	time_t refresh_at, expires_at; /* monotonic seconds */
	char last_error[1024];	       /* the last failure logged, to log each once */
};

static time_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void free_secret(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

static void drop_token(struct cf_auth *a)
{
	if (a->token) {
		explicit_bzero(a->token, a->token_len);
		free(a->token);
	}
	a->token = NULL;
	a->token_len = 0;
	a->refresh_at = a->expires_at = 0;
	memset(&a->seen, 0, sizeof a->seen);
}

static int fail(struct cf_auth *a, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct cf_auth *a, int err, const char *fmt, ...)
{
	char msg[sizeof a->last_error];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (strcmp(msg, a->last_error)) {
		cf_err("auth: %s", msg);
		memcpy(a->last_error, msg, sizeof msg);
	}
	return err;
}

static void recovered(struct cf_auth *a, const char *what)
{
	if (a->last_error[0]) {
		cf_info("auth: %s gives tokens again", what);
		a->last_error[0] = '\0';
	}
}

/* What may go into an Authorization header: printable ASCII, no space. */
static bool token_chars_ok(const char *s, size_t len)
{
	if (len == 0 || len > TOKEN_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] <= 0x20 || s[i] >= 0x7f)
			return false;
	return true;
}

static int set_token(struct cf_auth *a, const char *s, size_t len)
{
	char *t = malloc(len + 1);
	if (!t)
		return -ENOMEM;
	memcpy(t, s, len);
	t[len] = '\0';
	drop_token(a);
	a->token = t;
	a->token_len = len;
	return 0;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* ---- private files ---- */

/* Open path for reading a secret: a regular file (never a FIFO, device or
 * socket, which could block every write or feed us anything) not open to group
 * or others (as ssh insists for a private key). The open never blocks:
 * O_NONBLOCK makes opening a FIFO without a writer return at once, and fstat
 * then refuses it. A token file (token_rules) must also be owned by us or root,
 * and reached through no link of another user's: whoever owns it chooses whom
 * we act as. A key file keeps the looser rules it always had (a user's own key
 * read under sudo). On refusal *why names the file and how to fix it. */
static int open_private(const char *path, const char *what, bool token_rules, struct stat *st,
			char *why, size_t why_size)
{
	const int flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
	int fd = open(path, flags | (token_rules ? O_NOFOLLOW : 0));
	if (fd < 0 && errno == ELOOP && token_rules) {
		/* A link is followed only when it is ours or root's, as Kubernetes makes a
		 * secret volume's files (links into ..data/): another user's link would let
		 * them choose which of root's files we send as a token. (Swapping it between
		 * lstat and open needs the directory's write right; the file opened is checked
		 * below whatever it is.) */
		struct stat lst;
		if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) && lst.st_uid != geteuid() &&
		    lst.st_uid != 0) {
			snprintf(why, why_size,
				 "%s %s is a symbolic link belonging to uid %u, not to us (uid %u) "
				 "or root",
				 what, path, (unsigned) lst.st_uid, (unsigned) geteuid());
			return -EACCES;
		}
		fd = open(path, flags);
	}
	if (fd < 0) {
		int e = errno;
		snprintf(why, why_size, "%s %s: %s", what, path, strerror(e));
		return e == ENOENT ? -ENOENT : -EACCES;
	}
	if (fstat(fd, st) || !S_ISREG(st->st_mode)) {
		close(fd);
		snprintf(why, why_size, "%s %s is not a regular file", what, path);
		return -EACCES;
	}
	if (token_rules && st->st_uid != geteuid() && st->st_uid != 0) {
		close(fd);
		snprintf(why, why_size,
			 "%s %s belongs to uid %u, not to us (uid %u) or root: whoever owns it "
			 "chooses our credentials",
			 what, path, (unsigned) st->st_uid, (unsigned) geteuid());
		return -EACCES;
	}
	if (st->st_mode & 077) {
		close(fd);
		snprintf(why, why_size,
			 "%s %s is open to group or others (mode %04o): run chmod 600 %s", what,
			 path, (unsigned) (st->st_mode & 07777), path);
		return -EACCES;
	}
	/* A regular file: reads never block, and read_all wants them to wait for nothing. */
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	return fd;
}

/* The whole file, NUL-terminated, in *out (wipe it after use). -EFBIG when
 * it holds more than max bytes. */
static int read_all(int fd, size_t max, char **out, size_t *len)
{
	char *buf = malloc(max + 2);
	size_t n = 0;
	ssize_t r;
	*out = NULL;
	if (!buf)
		return -ENOMEM;
	while (n <= max && (r = read(fd, buf + n, max + 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			explicit_bzero(buf, max + 2);
			free(buf);
			return -e;
		}
		n += (size_t) r;
	}
	if (n > max) {
		explicit_bzero(buf, max + 2);
		free(buf);
		return -EFBIG;
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

static bool same_file(const struct stat *x, const struct stat *y)
{
	return x->st_dev == y->st_dev && x->st_ino == y->st_ino && x->st_size == y->st_size &&
	       x->st_mode == y->st_mode && x->st_mtim.tv_sec == y->st_mtim.tv_sec &&
	       x->st_mtim.tv_nsec == y->st_mtim.tv_nsec && x->st_ctim.tv_sec == y->st_ctim.tv_sec &&
	       x->st_ctim.tv_nsec == y->st_ctim.tv_nsec;
}

/* ---- source 1: the token file, re-read when it is not the file last read ---- */

static int file_token(struct cf_auth *a)
{
	struct stat st;
	char why[sizeof a->last_error];
	const char *path = a->token_file;

	if (stat(path, &st)) {
		int e = errno;
		drop_token(a);
		return fail(a, -EACCES, "token file %s: %s", path, strerror(e));
	}
	if (a->token && same_file(&st, &a->seen))
		return 0;

	/* The identity of what is actually read (the path may have been
	 * replaced between stat and open). */
	int fd = open_private(path, "token file", true, &st, why, sizeof why);
	if (fd < 0) {
		drop_token(a);
		return fail(a, -EACCES, "%s", why);
	}
	char *buf;
	size_t len;
	int rc = read_all(fd, TOKEN_FILE_MAX, &buf, &len);
	close(fd);
	if (rc) {
		drop_token(a);
		if (rc == -EFBIG)
			return fail(a, -EACCES, "token file %s is larger than %d bytes", path,
				    TOKEN_FILE_MAX);
		return fail(a, rc == -ENOMEM ? rc : -EACCES, "token file %s: %s", path,
			    strerror(-rc));
	}
	size_t start = 0, size = len + 2;
	while (start < len && is_space(buf[start]))
		start++;
	while (len > start && is_space(buf[len - 1]))
		len--;
	if (len == start)
		rc = fail(a, -EACCES, "token file %s is empty", path);
	else if (!token_chars_ok(buf + start, len - start))
		rc = fail(a, -EACCES, "token file %s holds characters no token has", path);
	else if ((rc = set_token(a, buf + start, len - start)) == 0)
		a->seen = st;
	explicit_bzero(buf, size);
	free(buf);
	if (rc)
		drop_token(a);
	else if (a->last_error[0]) {
		cf_info("auth: token file %s readable again", path);
		a->last_error[0] = '\0';
	}
	return rc;
}

/* ---- an access token answer, from the metadata server or a token endpoint ---- */

/* {"access_token": "...", "expires_in": 3599, "token_type": "Bearer"}: keep the
 * token, or say (in why) what is wrong with the answer. */
static int take_answer(struct cf_auth *a, const char *body, size_t len, time_t now, char *why,
		       size_t why_size)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	json_t *tok = json_object_get(root, "access_token");
	json_t *exp = json_object_get(root, "expires_in");
	const char *type = json_string_value(json_object_get(root, "token_type"));
	const char *t = json_string_value(tok);
	size_t tl = json_string_length(tok);
	double secs = json_number_value(exp);
	int rc = -EACCES;

	if (!json_is_object(root))
		snprintf(why, why_size, "the answer is not a JSON object");
	else if (!t || !token_chars_ok(t, tl))
		snprintf(why, why_size, "no usable access_token in the answer");
	else if (!json_is_number(exp) || !(secs > 0) || secs > 86400 * 7)
		snprintf(why, why_size, "no usable expires_in in the answer");
	else if (type && strcasecmp(type, "Bearer"))
		snprintf(why, why_size, "the token type is not Bearer");
	else if ((rc = set_token(a, t, tl)) == 0) {
		time_t life = (time_t) secs;
		time_t margin = life / 2 < REFRESH_MARGIN ? life / 2 : REFRESH_MARGIN;
		a->expires_at = now + life;
		a->refresh_at = a->expires_at - margin;
	} else {
		snprintf(why, why_size, "out of memory");
	}
	if (a->src == SRC_AUTHORIZED_USER && rc == 0) {
		/* A token endpoint may rotate the refresh token. */
		json_t *rt = json_object_get(root, "refresh_token");
		const char *r = json_string_value(rt);
		char *copy;
		if (r && token_chars_ok(r, json_string_length(rt)) && (copy = strdup(r))) {
			free_secret(a->refresh_token);
			a->refresh_token = copy;
		}
		if (r)
			explicit_bzero((char *) r, strlen(r));
	}
	if (root) {
		/* wipe the token's copy inside the parsed document */
		if (t)
			explicit_bzero((char *) t, tl);
		json_decref(root);
	}
	return rc;
}

/* ---- source 4: the metadata server ---- */

static int metadata_token(struct cf_auth *a)
{
	time_t now = mono_now();
	char why[160];
	if (a->token && now < a->refresh_at)
		return 0;
	if (!a->http)
		return fail(a, -EACCES, "no token file and no way to ask the metadata server");

	static const char *const headers[] = {"Metadata-Flavor: Google", NULL};
	struct cf_http_request req = {.method = "GET",
				      .url = a->metadata_url,
				      .headers = headers,
				      .max_body = ANSWER_MAX,
				      .secret = true};
	struct cf_http_response resp;
	int rc = cf_http_do(a->http, &req, &resp);
	/* A token still valid outlives a failed early refresh. */
	bool keep_old = a->token && now < a->expires_at;

	if (rc)
		rc = fail(a, rc == -EPERM ? -EACCES : -EAGAIN, "metadata server %s: %s",
			  a->metadata_url, resp.error);
	else if (resp.status != 200)
		rc = fail(a, cf_http_retryable(resp.status) ? -EAGAIN : -EACCES,
			  "metadata server %s answered HTTP %ld", a->metadata_url, resp.status);
	else if (!resp.metadata_flavor)
		rc = fail(a, -EACCES,
			  "metadata server %s: the answer lacks the header Metadata-Flavor: "
			  "Google, so it is not the metadata server's; not used",
			  a->metadata_url);
	else if ((rc = take_answer(a, resp.body, resp.body_len, now, why, sizeof why)) != 0)
		rc = fail(a, rc, "metadata server: %s", why);
	else
		recovered(a, "the metadata server");
	cf_http_response_wipe(&resp);
	if (rc && keep_old)
		return 0;
	if (rc)
		drop_token(a);
	return rc;
}

/* ---- the token endpoint: a form POST through the http layer ---- */

struct sbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static bool sbuf_grow(struct sbuf *b, size_t more)
{
	if (b->oom)
		return false;
	if (b->len + more + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 512;
	while (cap < b->len + more + 1)
		cap *= 2;
	char *p = malloc(cap);
	if (!p) {
		b->oom = true;
		return false;
	}
	/* never realloc: the old buffer may hold a secret and is wiped */
	if (b->p) {
		memcpy(p, b->p, b->len);
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
	return true;
}

static void sbuf_add(struct sbuf *b, const char *s, size_t n)
{
	if (!sbuf_grow(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sbuf_free(struct sbuf *b)
{
	if (b->p) {
		explicit_bzero(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof *b);
}

/* key=value&..., percent-encoding all but RFC 3986's unreserved characters. */
static void form_add(struct sbuf *b, const char *key, const char *val)
{
	static const char hex[] = "0123456789ABCDEF";
	if (b->len)
		sbuf_add(b, "&", 1);
	sbuf_add(b, key, strlen(key));
	sbuf_add(b, "=", 1);
	for (const unsigned char *c = (const unsigned char *) val; *c; c++) {
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		    (*c >= '0' && *c <= '9') || strchr("-._~", *c)) {
			sbuf_add(b, (const char *) c, 1);
		} else {
			char e[3] = {'%', hex[*c >> 4], hex[*c & 15]};
			sbuf_add(b, e, 3);
		}
	}
}

/* POST form to the key's token_uri through the http layer. 0 with *status and
 * the answer in *ans (wipe it), or an errno with the reason in why: -EACCES
 * when the URL is refused or the answer is too large, -ENOMEM, else -EAGAIN
 * (no answer after the retries). */
static int post_form(struct cf_auth *a, const struct sbuf *form, long *status, struct sbuf *ans,
		     char *why, size_t why_size)
{
	struct cf_http_request req = {.method = "POST",
				      .url = a->token_uri,
				      .body = form->p ? form->p : "",
				      .content_type = "application/x-www-form-urlencoded",
				      .max_body = ANSWER_MAX,
				      .secret = true};
	struct cf_http_response resp;
	*status = 0;
	sbuf_free(ans);
	int rc = cf_http_do(a->token_http, &req, &resp);
	if (rc) {
		snprintf(why, why_size, "%.150s", resp.error);
		return rc == -ENOMEM				       ? -ENOMEM
		       : rc == -EPERM || rc == -EINVAL || rc == -EFBIG ? -EACCES
								       : -EAGAIN;
	}
	*status = resp.status;
	sbuf_add(ans, resp.body, resp.body_len);
	cf_http_response_wipe(&resp);
	if (ans->oom) {
		snprintf(why, why_size, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* What of an OAuth error answer may be shown: its printable ASCII, and
 * nothing at all when it echoes a secret back. */
static void oauth_error(struct cf_auth *a, const struct sbuf *ans, char *out, size_t size)
{
	json_t *root = json_loadb(ans->p, ans->len, 0, NULL);
	const char *err = json_string_value(json_object_get(root, "error"));
	const char *desc = json_string_value(json_object_get(root, "error_description"));
	char raw[200];
	size_t n = 0;
	snprintf(raw, sizeof raw, "%s%s%s", err ? err : "no OAuth error in the answer",
		 desc ? ": " : "", desc ? desc : "");
	const char *secrets[] = {a->client_secret, a->refresh_token};
	for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
		if (secrets[i] && strstr(raw, secrets[i]))
			snprintf(raw, sizeof raw, "%s: (description withheld)",
				 err ? err : "error");
	for (const char *c = raw; *c && n + 1 < size; c++)
		out[n++] = (*c >= 0x20 && *c < 0x7f) ? *c : '?';
	out[n] = '\0';
	json_decref(root);
}

/* ---- the JWT of a service-account key (RFC 7523, Google's claims) ---- */

static char *b64url(const unsigned char *in, size_t n)
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char *out = malloc(n / 3 * 4 + 5), *o = out;
	if (!out)
		return NULL;
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
		*o++ = al[v >> 18];
		*o++ = al[(v >> 12) & 63];
		*o++ = al[(v >> 6) & 63];
		*o++ = al[v & 63];
	}
	if (i + 1 == n) {
		uint32_t v = (uint32_t) in[i] << 16;
		*o++ = al[v >> 18];
		*o++ = al[(v >> 12) & 63];
	} else if (i + 2 == n) {
		uint32_t v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
		*o++ = al[v >> 18];
		*o++ = al[(v >> 12) & 63];
		*o++ = al[(v >> 6) & 63];
	}
	*o = '\0';
	return out;
}

static char *b64url_json(json_t *j)
{
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	char *out = s ? b64url((const unsigned char *) s, strlen(s)) : NULL;
	free(s);
	json_decref(j);
	return out;
}

int cf_auth_assertion(struct cf_auth *a, long now, char **out)
{
	*out = NULL;
	if (a->src != SRC_SERVICE_ACCOUNT)
		return -EINVAL;
	json_t *hdr = json_pack("{s:s, s:s}", "alg", "RS256", "typ", "JWT");
	if (hdr && a->key_id)
		json_object_set_new(hdr, "kid", json_string(a->key_id));
	char *h = b64url_json(hdr);
	char *c = b64url_json(json_pack(
	    "{s:s, s:s, s:s, s:I, s:I}", "iss", a->client_email, "scope", a->scope, "aud",
	    a->token_uri, "iat", (json_int_t) now, "exp", (json_int_t) now + ASSERTION_LIFE));
	char *input = NULL, *sig64 = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -ENOMEM;
	if (!h || !c || !ctx || asprintf(&input, "%s.%s", h, c) < 0) {
		input = NULL;
		goto out;
	}
	rc = -EIO;
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, a->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *) input, strlen(input)) != 1)
		goto out;
	rc = -ENOMEM;
	if (!(sig = malloc(siglen)))
		goto out;
	rc = -EIO;
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *) input, strlen(input)) != 1)
		goto out;
	rc = -ENOMEM;
	if (!(sig64 = b64url(sig, siglen)) || asprintf(out, "%s.%s", input, sig64) < 0) {
		*out = NULL;
		goto out;
	}
	rc = 0;
out:
	EVP_MD_CTX_free(ctx);
	free(h);
	free(c);
	free(input);
	free(sig);
	free(sig64);
	return rc;
}

/* ---- sources 2 and 3: a key file's grant at its token endpoint ---- */

static int key_token(struct cf_auth *a)
{
	time_t now = mono_now();
	if (a->token && now < a->refresh_at)
		return 0;
	bool keep_old = a->token && now < a->expires_at;
	const char *kind = a->src == SRC_SERVICE_ACCOUNT ? "service account" : "authorized_user";
	const char *who = a->src == SRC_SERVICE_ACCOUNT ? a->client_email : a->key_path;
	struct sbuf form = {0}, ans = {0};
	char why[200];
	long status;
	int rc;

	if (a->src == SRC_SERVICE_ACCOUNT) {
		char *jwt;
		rc = cf_auth_assertion(a, (long) time(NULL), &jwt);
		if (rc) {
			rc = fail(a, rc == -ENOMEM ? rc : -EACCES,
				  "service account %s: cannot sign a JWT with its key", who);
			goto out;
		}
		form_add(&form, "grant_type", JWT_GRANT);
		form_add(&form, "assertion", jwt);
		free_secret(jwt);
	} else {
		form_add(&form, "grant_type", "refresh_token");
		form_add(&form, "client_id", a->client_id);
		form_add(&form, "client_secret", a->client_secret);
		form_add(&form, "refresh_token", a->refresh_token);
	}
	if (form.oom) {
		rc = -ENOMEM;
		goto out;
	}
	rc = post_form(a, &form, &status, &ans, why, sizeof why);
	if (rc) {
		rc = fail(a, rc, "%s %s: token endpoint %s: %s", kind, who, a->token_uri, why);
	} else if (status != 200) {
		oauth_error(a, &ans, why, sizeof why);
		rc = fail(a, cf_http_retryable(status) ? -EAGAIN : -EACCES,
			  "%s %s: token endpoint %s answered HTTP %ld: %s", kind, who, a->token_uri,
			  status, why);
	} else if ((rc = take_answer(a, ans.p, ans.len, now, why, sizeof why)) != 0) {
		rc = fail(a, rc, "%s %s: token endpoint %s: %s", kind, who, a->token_uri, why);
	} else if (a->last_error[0]) {
		char what[300];
		snprintf(what, sizeof what, "%s %s", kind, who);
		recovered(a, what);
	}
out:
	sbuf_free(&form);
	sbuf_free(&ans);
	if (rc && keep_old)
		return 0;
	if (rc)
		drop_token(a);
	return rc;
}

/* ---- loading a key file ---- */

static int dup_field(json_t *root, const char *name, bool required, char **out, char *why,
		     size_t why_size)
{
	json_t *v = json_object_get(root, name);
	const char *s = json_string_value(v);
	*out = NULL;
	if (!v && !required)
		return 0;
	if (!s || !*s || strlen(s) != json_string_length(v)) {
		snprintf(why, why_size, "no usable \"%s\"", name);
		return -EINVAL;
	}
	return (*out = strdup(s)) ? 0 : -ENOMEM;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void) buf;
	(void) size;
	(void) rwflag;
	(void) u;
	return 0; /* never prompt on a terminal: an encrypted key is refused */
}

static int load_service_account(struct cf_auth *a, json_t *root, char *why, size_t why_size)
{
	int rc;
	if ((rc = dup_field(root, "client_email", true, &a->client_email, why, why_size)) ||
	    (rc = dup_field(root, "private_key_id", false, &a->key_id, why, why_size)) ||
	    (rc = dup_field(root, "project_id", false, &a->project_id, why, why_size)))
		return rc;
	json_t *pk = json_object_get(root, "private_key");
	const char *pem = json_string_value(pk);
	if (!pem || !*pem) {
		snprintf(why, why_size, "no usable \"private_key\"");
		return -EINVAL;
	}
	BIO *bio = BIO_new_mem_buf(pem, (int) json_string_length(pk));
	if (!bio)
		return -ENOMEM;
	a->pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	BIO_free(bio);
	if (!a->pkey) {
		snprintf(why, why_size, "\"private_key\" is not an unencrypted PEM private key");
		return -EINVAL;
	}
	if (EVP_PKEY_base_id(a->pkey) != EVP_PKEY_RSA || EVP_PKEY_bits(a->pkey) < 2048) {
		snprintf(why, why_size, "\"private_key\" is not an RSA key of 2048 bits or more");
		return -EINVAL;
	}
	a->src = SRC_SERVICE_ACCOUNT;
	return 0;
}

static int load_authorized_user(struct cf_auth *a, json_t *root, char *why, size_t why_size)
{
	int rc;
	if ((rc = dup_field(root, "client_id", true, &a->client_id, why, why_size)) ||
	    (rc = dup_field(root, "client_secret", true, &a->client_secret, why, why_size)) ||
	    (rc = dup_field(root, "refresh_token", true, &a->refresh_token, why, why_size)))
		return rc;
	a->src = SRC_AUTHORIZED_USER;
	return 0;
}

/* Wipe every string of a parsed key file before it is freed. */
static void wipe_json(json_t *j)
{
	const char *k;
	json_t *v;
	size_t i;
	if (json_is_string(j))
		explicit_bzero((char *) json_string_value(j), json_string_length(j));
	json_object_foreach(j, k, v)
	{
		wipe_json(v);
	}
	json_array_foreach(j, i, v)
	{
		wipe_json(v);
	}
}

/* The token endpoint's client, and its rule for token_uri checked now rather
 * than at the first request: https, or plain http to a loopback address (the
 * emulator). */
static int token_client(struct cf_auth *a, char *why, size_t why_size)
{
	static const struct cf_http_config cfg = {.base_delay_ms = 250,
						  .max_delay_ms = 5000,
						  .max_attempts = POST_ATTEMPTS,
						  .allow_insecure_loopback = true};
	char uwhy[160];
	int rc = cf_http_new(&cfg, &a->token_http);
	if (rc) {
		snprintf(why, why_size, "cannot set up HTTP for its token endpoint");
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	if (cf_http_check_url(a->token_http, a->token_uri, true, uwhy, sizeof uwhy)) {
		snprintf(why, why_size, "token_uri %.80s: %s", a->token_uri, uwhy);
		return -EINVAL;
	}
	return 0;
}

static int load_key_file(struct cf_auth *a, const char *path, const char *from)
{
	char why[sizeof a->last_error] = "";
	struct stat st;
	char *buf = NULL;
	size_t len = 0;
	json_t *root = NULL;
	int rc;

	if (!(a->key_path = strdup(path)))
		return -ENOMEM;
	a->key_from = from;
	int fd = open_private(path, "credentials file", false, &st, why, sizeof why);
	if (fd < 0) {
		cf_err("auth: %s (%s)", why, from);
		return fd;
	}
	rc = read_all(fd, KEY_FILE_MAX, &buf, &len);
	close(fd);
	if (rc) {
		cf_err("auth: credentials file %s (%s): %s", path, from,
		       rc == -EFBIG ? "larger than 64 KiB" : strerror(-rc));
		return rc == -ENOMEM ? rc : -EINVAL;
	}
	root = json_loadb(buf, len, 0, NULL);
	explicit_bzero(buf, len);
	free(buf);
	const char *type = json_string_value(json_object_get(root, "type"));
	rc = -EINVAL;
	if (!json_is_object(root))
		snprintf(why, sizeof why, "not a JSON object");
	else if (!type)
		snprintf(why, sizeof why, "no \"type\"");
	else if (!strcmp(type, "service_account"))
		rc = load_service_account(a, root, why, sizeof why);
	else if (!strcmp(type, "authorized_user"))
		rc = load_authorized_user(a, root, why, sizeof why);
	else
		snprintf(why, sizeof why,
			 "type \"%.40s\" is not supported (service_account or authorized_user)",
			 type);
	if (rc == 0) {
		rc = dup_field(root, "token_uri", false, &a->token_uri, why, sizeof why);
		if (rc == 0 && !a->token_uri && !(a->token_uri = strdup(DEFAULT_TOKEN_URI)))
			rc = -ENOMEM;
	}
	if (rc == 0)
		rc = token_client(a, why, sizeof why);
	if (root) {
		wipe_json(root);
		json_decref(root);
	}
	if (rc == -ENOMEM)
		cf_err("auth: credentials file %s: out of memory", path);
	else if (rc)
		cf_err("auth: credentials file %s (%s): %s", path, from, why);
	if (rc)
		a->src = SRC_NONE;
	return rc;
}

/* gcloud's application default credentials file, or NULL. */
static char *adc_path(void)
{
	const char *dir = getenv("CLOUDSDK_CONFIG"), *home = getenv("HOME");
	char *p = NULL;
	if (dir && *dir) {
		if (asprintf(&p, "%s/" ADC_FILE, dir) < 0)
			p = NULL;
		return p;
	}
	if (!home || !*home) {
		struct passwd *pw = getpwuid(getuid());
		home = pw ? pw->pw_dir : NULL;
	}
	if (home && asprintf(&p, "%s/.config/gcloud/" ADC_FILE, home) < 0)
		p = NULL;
	return p;
}

/* GCE_METADATA_HOST: "host" or "host:port", as Google's libraries take it.
 * Anything else is refused with a warning, never put in a URL. */
static int metadata_setup(struct cf_auth *a)
{
	const char *host = getenv("GCE_METADATA_HOST");
	size_t hl = host ? strlen(host) : 0;
	bool ok = hl > 0 && hl < 256;
	for (size_t i = 0; ok && i < hl; i++)
		ok = (host[i] >= 'a' && host[i] <= 'z') || (host[i] >= 'A' && host[i] <= 'Z') ||
		     (host[i] >= '0' && host[i] <= '9') || strchr(".-:[]", host[i]);
	if (host && !ok) {
		cf_warn("auth: GCE_METADATA_HOST is not a host[:port], using %s",
			METADATA_DEFAULT_HOST);
		host = NULL;
	}
	if (!(a->metadata_host = strdup(host ? host : METADATA_DEFAULT_HOST)))
		return -ENOMEM;
	if (asprintf(&a->metadata_url, "http://%s" METADATA_TOKEN, a->metadata_host) < 0) {
		a->metadata_url = NULL;
		return -ENOMEM;
	}
	return 0;
}

int cf_auth_new(const struct cf_auth_config *cfg, struct cf_auth **out)
{
	static const struct cf_auth_config none = {0};
	int rc = -ENOMEM;
	*out = NULL;
	if (!cfg)
		cfg = &none;
	struct cf_auth *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	a->http = cfg->http;
	a->scope = cfg->read_only ? SCOPE_RO : SCOPE_RW;
	if (metadata_setup(a))
		goto err;

	const char *env =
	    cfg->application_default ? getenv("GOOGLE_APPLICATION_CREDENTIALS") : NULL;
	if (cfg->token_file) {
		if (!(a->token_file = strdup(cfg->token_file)))
			goto err;
		a->src = SRC_TOKEN_FILE;
		/* Refuse a file open to others now, not at the first request. */
		struct stat st;
		char why[sizeof a->last_error];
		int fd = open_private(a->token_file, "token file", true, &st, why, sizeof why);
		if (fd >= 0)
			close(fd);
		else if (fd != -ENOENT) {
			cf_err("auth: %s", why);
			rc = fd;
			goto err;
		}
	} else if (cfg->credentials) {
		if ((rc = load_key_file(a, cfg->credentials, "-o credentials")))
			goto err;
	} else if (env && *env) {
		if ((rc = load_key_file(a, env, "GOOGLE_APPLICATION_CREDENTIALS")))
			goto err;
	} else if (cfg->application_default) {
		char *adc = adc_path();
		struct stat st;
		if (adc && stat(adc, &st) == 0) {
			rc = load_key_file(a, adc, "gcloud's application default credentials");
			free(adc);
			if (rc)
				goto err;
		} else {
			free(adc);
		}
	}
	if (a->src == SRC_NONE && a->http)
		a->src = SRC_METADATA;
	if (a->src == SRC_SERVICE_ACCOUNT || a->src == SRC_AUTHORIZED_USER) {
		/* No core file or same-uid ptrace may read the key out of us. */
		if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
			cf_warn("auth: cannot make the process non-dumpable: %s", strerror(errno));
		cf_info("auth: %s %s from %s (%s)",
			a->src == SRC_SERVICE_ACCOUNT ? "service account" : "authorized_user",
			a->src == SRC_SERVICE_ACCOUNT ? a->client_email : "credentials",
			a->key_path, a->key_from);
	}
	*out = a;
	return 0;
err:
	cf_auth_free(a);
	return rc;
}

int cf_auth_token(struct cf_auth *a, char *buf, size_t size)
{
	int rc;
	pthread_mutex_lock(&a->lock);
	switch (a->src) {
	case SRC_TOKEN_FILE:
		rc = file_token(a);
		break;
	case SRC_SERVICE_ACCOUNT:
	case SRC_AUTHORIZED_USER:
		rc = key_token(a);
		break;
	case SRC_METADATA:
		rc = metadata_token(a);
		break;
	default:
		rc = fail(a, -EACCES, "no credentials: no token file, key file or metadata server");
	}
	if (rc == 0 && a->token_len + 1 > size)
		rc = fail(a, -ERANGE,
			  "the access token (%zu bytes) does not fit the caller's buffer",
			  a->token_len);
	if (rc == 0)
		memcpy(buf, a->token, a->token_len + 1);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

void cf_auth_invalidate(struct cf_auth *a)
{
	pthread_mutex_lock(&a->lock);
	drop_token(a);
	pthread_mutex_unlock(&a->lock);
}

const char *cf_auth_source(struct cf_auth *a)
{
	static const char *const names[] = {
	    [SRC_NONE] = "none",
	    [SRC_TOKEN_FILE] = "token_file",
	    [SRC_SERVICE_ACCOUNT] = "service_account",
	    [SRC_AUTHORIZED_USER] = "authorized_user",
	    [SRC_METADATA] = "metadata",
	};
	return names[a->src];
}

const char *cf_auth_project(struct cf_auth *a)
{
	return a->src == SRC_SERVICE_ACCOUNT ? a->project_id : NULL;
}

int cf_auth_metadata_project(struct cf_auth *a, struct cf_http *http, char *buf, size_t size,
			     char *why, size_t why_size)
{
	static const char *const headers[] = {"Metadata-Flavor: Google", NULL};
	char url[320];
	struct cf_http_response resp;
	int rc;
	why[0] = '\0';
	if (!http)
		http = a->http;
	if (!http) {
		snprintf(why, why_size, "no way to ask the metadata server");
		return -EINVAL;
	}
	snprintf(url, sizeof url, "http://%s" METADATA_PROJECT, a->metadata_host);
	struct cf_http_request req = {
	    .method = "GET", .url = url, .headers = headers, .max_body = 4096};
	rc = cf_http_do(http, &req, &resp);
	if (rc) {
		snprintf(why, why_size, "metadata server %s: %s", a->metadata_host, resp.error);
		return rc;
	}
	size_t n = resp.body_len;
	while (n && is_space(resp.body[n - 1]))
		n--;
	bool ok = resp.status == 200 && resp.metadata_flavor && n > 0 && n < size && n <= 100;
	for (size_t i = 0; ok && i < n; i++) {
		char c = resp.body[i];
		ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || strchr("-.:", c);
	}
	if (ok) {
		memcpy(buf, resp.body, n);
		buf[n] = '\0';
	} else if (resp.status != 200) {
		snprintf(why, why_size, "metadata server %s answered HTTP %ld", a->metadata_host,
			 resp.status);
		rc = -EIO;
	} else if (!resp.metadata_flavor) {
		snprintf(why, why_size,
			 "metadata server %s: the answer lacks the header Metadata-Flavor: Google, "
			 "so it is not the metadata server's",
			 a->metadata_host);
		rc = -EPROTO;
	} else {
		snprintf(why, why_size, "metadata server %s: no project id in the answer",
			 a->metadata_host);
		rc = -EPROTO;
	}
	cf_http_response_clear(&resp);
	return rc;
}

void cf_auth_last_error(struct cf_auth *a, char *buf, size_t size)
{
	pthread_mutex_lock(&a->lock);
	snprintf(buf, size, "%s", a->last_error);
	pthread_mutex_unlock(&a->lock);
}

void cf_auth_free(struct cf_auth *a)
{
	if (!a)
		return;
	drop_token(a);
	cf_http_free(a->token_http);
	EVP_PKEY_free(a->pkey);
	free_secret(a->client_secret);
	free_secret(a->refresh_token);
	free(a->client_id);
	free(a->client_email);
	free(a->key_id);
	free(a->project_id);
	free(a->token_uri);
	free(a->key_path);
	free(a->token_file);
	free(a->metadata_host);
	free(a->metadata_url);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
