/* auth.c — the bearer token for API calls: from a token file (re-read when
 * the file changes: another process refreshes it) or from the GCE metadata
 * server (refreshed a minute before it expires). One mutex; the token is
 * cached, wiped from memory when dropped, and never written to a log.
 *
 * Errors: -EACCES when a source answered but gave no usable token (or none
 * is configured); -EAGAIN when the metadata server could not be reached or
 * was busy, since that passes and a shell should say so. Each distinct
 * failure is logged once until the source works again. */
#include "auth.h"
#include "http.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
	TOKEN_FILE_MAX = 16384,
	TOKEN_MAX = 8192,
	METADATA_BODY_MAX = 65536,
	REFRESH_MARGIN = 60, /* seconds before expiry */
};

#define METADATA_DEFAULT_HOST "169.254.169.254"
#define METADATA_PATH	      "/computeMetadata/v1/instance/service-accounts/default/token"

struct cf_auth {
	pthread_mutex_t lock;
	char *token_file;
	struct cf_http *http;
	char *metadata_url;
	char *token; /* cached, NUL-terminated */
	size_t token_len;
	/* token file: the identity of what was read */
	struct stat seen;
	bool warned_mode;
	/* metadata: monotonic seconds */
	time_t refresh_at, expires_at;
	char last_error[256]; /* the last failure logged, to log each once */
};

static time_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
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

static bool same_file(const struct stat *x, const struct stat *y)
{
	return x->st_dev == y->st_dev && x->st_ino == y->st_ino && x->st_size == y->st_size &&
	       x->st_mtim.tv_sec == y->st_mtim.tv_sec && x->st_mtim.tv_nsec == y->st_mtim.tv_nsec &&
	       x->st_ctim.tv_sec == y->st_ctim.tv_sec && x->st_ctim.tv_nsec == y->st_ctim.tv_nsec;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/* The token file, re-read when it is not the file last read. */
static int file_token(struct cf_auth *a)
{
	struct stat st;
	const char *path = a->token_file;

	if (stat(path, &st)) {
		int e = errno;
		drop_token(a);
		return fail(a, -EACCES, "token file %s: %s", path, strerror(e));
	}
	if (a->token && same_file(&st, &a->seen))
		return 0;

	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		drop_token(a);
		return fail(a, -EACCES, "token file %s: %s", path, strerror(e));
	}
	/* The identity of what is actually read (the path may have been
	 * replaced between stat and open). */
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		drop_token(a);
		return fail(a, -EACCES, "token file %s is not a regular file", path);
	}
	if ((st.st_mode & 077) && !a->warned_mode) {
		cf_warn("auth: token file %s is accessible by group or others (mode %03o)", path,
			(unsigned) (st.st_mode & 0777));
		a->warned_mode = true;
	}
	char *buf = malloc(TOKEN_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	size_t len = 0;
	ssize_t r;
	while (len <= TOKEN_FILE_MAX && (r = read(fd, buf + len, TOKEN_FILE_MAX + 1 - len)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;
			close(fd);
			free(buf);
			drop_token(a);
			return fail(a, -EACCES, "token file %s: %s", path, strerror(e));
		}
		len += (size_t) r;
	}
	close(fd);

	int rc = 0;
	size_t start = 0;
	while (start < len && is_space(buf[start]))
		start++;
	while (len > start && is_space(buf[len - 1]))
		len--;
	if (len > TOKEN_FILE_MAX)
		rc =
		    fail(a, -EACCES, "token file %s is larger than %d bytes", path, TOKEN_FILE_MAX);
	else if (len == start)
		rc = fail(a, -EACCES, "token file %s is empty", path);
	else if (!token_chars_ok(buf + start, len - start))
		rc = fail(a, -EACCES, "token file %s holds characters no token has", path);
	else if ((rc = set_token(a, buf + start, len - start)) == 0)
		a->seen = st;
	explicit_bzero(buf, TOKEN_FILE_MAX + 1);
	free(buf);
	if (rc)
		drop_token(a);
	else if (a->last_error[0]) {
		cf_info("auth: token file %s readable again", path);
		a->last_error[0] = '\0';
	}
	return rc;
}

/* {"access_token": "...", "expires_in": 3599, "token_type": "Bearer"} */
static int metadata_token(struct cf_auth *a)
{
	time_t now = mono_now();
	if (a->token && now < a->refresh_at)
		return 0;
	if (!a->http)
		return fail(a, -EACCES, "no token file and no way to ask the metadata server");

	static const char *const headers[] = {"Metadata-Flavor: Google", NULL};
	struct cf_http_request req = {.method = "GET",
				      .url = a->metadata_url,
				      .headers = headers,
				      .max_body = METADATA_BODY_MAX};
	struct cf_http_response resp;
	int rc = cf_http_do(a->http, &req, &resp);
	/* A token still valid outlives a failed early refresh. */
	bool keep_old = a->token && now < a->expires_at;

	if (rc) {
		rc = fail(a, rc == -EPERM ? -EACCES : -EAGAIN, "metadata server %s: %s",
			  a->metadata_url, resp.error);
		goto out;
	}
	if (resp.status != 200) {
		rc = fail(a, cf_http_retryable(resp.status) ? -EAGAIN : -EACCES,
			  "metadata server %s answered HTTP %ld", a->metadata_url, resp.status);
		goto out;
	}
	json_t *root = json_loadb(resp.body, resp.body_len, 0, NULL);
	json_t *tok = json_object_get(root, "access_token");
	json_t *exp = json_object_get(root, "expires_in");
	const char *type = json_string_value(json_object_get(root, "token_type"));
	const char *t = json_string_value(tok);
	size_t tl = json_string_length(tok);
	double secs = json_number_value(exp);

	if (!json_is_object(root))
		rc = fail(a, -EACCES, "metadata server: the answer is not a JSON object");
	else if (!t || !token_chars_ok(t, tl))
		rc = fail(a, -EACCES, "metadata server: no usable access_token in the answer");
	else if (!json_is_number(exp) || !(secs > 0) || secs > 86400 * 7)
		rc = fail(a, -EACCES, "metadata server: no usable expires_in in the answer");
	else if (type && strcasecmp(type, "Bearer"))
		rc = fail(a, -EACCES, "metadata server: token type is not Bearer");
	else if ((rc = set_token(a, t, tl)) == 0) {
		time_t life = (time_t) secs;
		time_t margin = life / 2 < REFRESH_MARGIN ? life / 2 : REFRESH_MARGIN;
		a->expires_at = now + life;
		a->refresh_at = a->expires_at - margin;
		keep_old = false;
		if (a->last_error[0]) {
			cf_info("auth: metadata server gives tokens again");
			a->last_error[0] = '\0';
		}
	}
	if (root) {
		/* wipe the token's copy inside the parsed document */
		if (t)
			explicit_bzero((char *) t, tl);
		json_decref(root);
	}
out:
	if (resp.body)
		explicit_bzero(resp.body, resp.body_len);
	cf_http_response_clear(&resp);
	if (rc && keep_old)
		return 0;
	if (rc)
		drop_token(a);
	return rc;
}

int cf_auth_new(const struct cf_auth_config *cfg, struct cf_auth **out)
{
	*out = NULL;
	struct cf_auth *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	a->http = cfg ? cfg->http : NULL;
	if (cfg && cfg->token_file && !(a->token_file = strdup(cfg->token_file)))
		goto oom;

	/* GCE_METADATA_HOST: "host" or "host:port", as Google's libraries take
	 * it. Anything else is refused with a warning, never put in a URL. */
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
	if (asprintf(&a->metadata_url, "http://%s" METADATA_PATH,
		     host ? host : METADATA_DEFAULT_HOST) < 0) {
		a->metadata_url = NULL;
		goto oom;
	}
	*out = a;
	return 0;
oom:
	cf_auth_free(a);
	return -ENOMEM;
}

int cf_auth_token(struct cf_auth *a, char *buf, size_t size)
{
	int rc;
	pthread_mutex_lock(&a->lock);
	rc = a->token_file ? file_token(a) : metadata_token(a);
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
	return a->token_file ? "token_file" : a->http ? "metadata" : "none";
}

void cf_auth_free(struct cf_auth *a)
{
	if (!a)
		return;
	drop_token(a);
	free(a->token_file);
	free(a->metadata_url);
	pthread_mutex_destroy(&a->lock);
	free(a);
}
