/* aws_call.c — one EC2 Query call for the provider (aws_priv.h): the form
 * body, SigV4 through the http layer (libcurl's CURLOPT_AWS_SIGV4), the
 * error envelope (<Response><Errors><Error><Code>, <Message>) read with
 * aws_xml and classified by aws_errors' table.
 *
 * Kept to this one function so that the transport the awsnet branch builds
 * (aws_query) can take its place without touching the ops. */
#include "aws_errors.h"
#include "aws_priv.h"
#include "aws_xml.h"
#include "http.h"
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { KEY_MAX = 256, SECRET_MAX = 256, TOKEN_MAX = 4096 };

void aws_seterr(struct cf_error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	memset(err, 0, sizeof *err);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof err->message, fmt, ap);
	va_end(ap);
	err->errnum = errnum;
}

void aws_params_add(struct aws_params *ps, const char *key, const char *value)
{
	if (ps->n >= sizeof ps->p / sizeof ps->p[0] || strlen(key) >= sizeof ps->p[0].key ||
	    !value) {
		ps->overflow = true;
		return;
	}
	snprintf(ps->p[ps->n].key, sizeof ps->p[ps->n].key, "%s", key);
	ps->p[ps->n++].value = value;
}

void aws_params_addf(struct aws_params *ps, const char *key, const char *fmt, ...)
{
	char *v = NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&v, fmt, ap);
	va_end(ap);
	if (n < 0 || ps->nowned >= sizeof ps->owned / sizeof ps->owned[0]) {
		if (n >= 0)
			free(v);
		ps->overflow = true;
		return;
	}
	ps->owned[ps->nowned++] = v;
	aws_params_add(ps, key, v);
}

void aws_params_free(struct aws_params *ps)
{
	for (size_t i = 0; i < ps->nowned; i++)
		free(ps->owned[i]);
	ps->nowned = ps->n = 0;
}

/* Append s form-encoded (RFC 3986 unreserved kept, the rest %XX, as SigV4's
 * canonical form wants it). */
static int put_escaped(char **buf, size_t *len, size_t *cap, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	for (; *s; s++) {
		unsigned char ch = (unsigned char) *s;
		if (*len + 4 > *cap) {
			size_t nc = *cap ? *cap * 2 : 1024;
			char *b = realloc(*buf, nc);
			if (!b)
				return -ENOMEM;
			*buf = b;
			*cap = nc;
		}
		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr("-._~", ch)) {
			(*buf)[(*len)++] = (char) ch;
		} else {
			(*buf)[(*len)++] = '%';
			(*buf)[(*len)++] = hex[ch >> 4];
			(*buf)[(*len)++] = hex[ch & 15];
		}
	}
	(*buf)[*len] = '\0';
	return 0;
}

static int put_raw(char **buf, size_t *len, size_t *cap, const char *s)
{
	size_t l = strlen(s);
	if (*len + l + 1 > *cap) {
		size_t nc = (*len + l + 1) * 2;
		char *b = realloc(*buf, nc);
		if (!b)
			return -ENOMEM;
		*buf = b;
		*cap = nc;
	}
	memcpy(*buf + *len, s, l + 1);
	*len += l;
	return 0;
}

static char *form_body(const char *action, const struct aws_params *ps)
{
	char *b = NULL;
	size_t len = 0, cap = 0;
	int rc = put_raw(&b, &len, &cap, "Action=") || put_escaped(&b, &len, &cap, action) ||
		 put_raw(&b, &len, &cap, "&Version=2016-11-15");
	for (size_t i = 0; !rc && ps && i < ps->n; i++)
		rc = put_raw(&b, &len, &cap, "&") || put_escaped(&b, &len, &cap, ps->p[i].key) ||
		     put_raw(&b, &len, &cap, "=") || put_escaped(&b, &len, &cap, ps->p[i].value);
	if (rc) {
		free(b);
		return NULL;
	}
	return b;
}

struct envelope {
	char code[64];
	char message[512];
};

static int on_error_text(void *ctx, const char *path, const char *text, size_t len)
{
	struct envelope *e = ctx;
	char *dst = NULL;
	size_t size = 0;
	if (!strcmp(path, "Errors/Error/Code") && !e->code[0])
		dst = e->code, size = sizeof e->code;
	else if (!strcmp(path, "Errors/Error/Message") && !e->message[0])
		dst = e->message, size = sizeof e->message;
	if (!dst)
		return 0;
	size_t o = 0;
	for (size_t i = 0; i < len && o + 1 < size; i++) {
		unsigned char ch = (unsigned char) text[i];
		/* one printable line: controls become spaces, the rest kept */
		dst[o++] = ch < 0x20 || ch == 0x7f ? ' ' : (char) ch;
	}
	dst[o] = '\0';
	return 0;
}

/* A code fit for err->reason: printable ASCII, no spaces or quotes. */
static bool code_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s <= 0x20 || *s >= 0x7f || *s == '"' || *s == '\\')
			return false;
	return true;
}

static void decode_error(long status, const char *body, size_t len, const char *action,
			 struct cf_error *err)
{
	struct envelope e = {0};
	struct cf_aws_xml_handler h = {.text = on_error_text, .ctx = &e};
	char why[128];
	if (body && len)
		cf_aws_xml_parse(body, len, NULL, &h, why, sizeof why);
	memset(err, 0, sizeof *err);
	err->http_status = (int) status;
	if (code_ok(e.code))
		snprintf(err->reason, sizeof err->reason, "%s", e.code);
	snprintf(err->message, sizeof err->message, "%.40s: HTTP %ld%s%s: %.300s", action, status,
		 err->reason[0] ? " " : "", err->reason, e.message[0] ? e.message : "no message");
	cf_aws_classify(err);
}

int aws_call(struct aws_conn *c, const char *action, const struct aws_params *ps, bool no_retry,
	     char **body, size_t *len, bool *answered, struct cf_error *err)
{
	char scope[128], why[256];
	struct cf_http_response resp;
	int rc;
	*body = NULL;
	*len = 0;
	if (answered)
		*answered = false;
	if (ps && ps->overflow) {
		aws_seterr(err, -EINVAL, "%s: too many or too long parameters", action);
		return -EINVAL;
	}
	char *key = calloc(1, KEY_MAX), *secret = calloc(1, SECRET_MAX),
	     *token = calloc(1, TOKEN_MAX);
	char *form = form_body(action, ps);
	if (!key || !secret || !token || !form) {
		aws_seterr(err, -ENOMEM, "out of memory");
		rc = -ENOMEM;
		goto out;
	}
	rc = c->creds(c->creds_ctx, key, KEY_MAX, secret, SECRET_MAX, token, TOKEN_MAX, why,
		      sizeof why);
	if (rc) {
		aws_seterr(err, rc, "%s: no credentials: %s", action, why);
		goto out;
	}
	snprintf(scope, sizeof scope, "aws:amz:%s:ec2", c->region);
	struct cf_http_sigv4 sig = {.scope = scope,
				    .key_id = key,
				    .secret = secret,
				    .session_token = token[0] ? token : NULL};
	struct cf_http_request req = {.method = "POST",
				      .url = c->endpoint,
				      .sigv4 = &sig,
				      .body = form,
				      .content_type =
					  "application/x-www-form-urlencoded; charset=utf-8",
				      .no_retry = no_retry};
	rc = cf_http_do(c->http, &req, &resp);
	if (rc) {
		aws_seterr(err, -EAGAIN, "%s: %s", action,
			   resp.error[0] ? resp.error : "no answer");
		/* no answer: the API may be down; retrying may help unless
		 * the request itself cannot be sent */
		err->retryable = rc != -EINVAL && rc != -EPERM && rc != -EFBIG && rc != -ENOMEM;
		if (err->retryable)
			rc = -EAGAIN;
		else
			err->errnum = rc;
		goto out;
	}
	if (answered)
		*answered = true;
	if (resp.status >= 200 && resp.status < 300) {
		*body = resp.body;
		*len = resp.body_len;
		resp.body = NULL;
		cf_http_response_clear(&resp);
		rc = 0;
		goto out;
	}
	decode_error(resp.status, resp.body, resp.body_len, action, err);
	cf_http_response_clear(&resp);
	rc = err->errnum ? err->errnum : -EIO;
out:
	if (key)
		explicit_bzero(key, KEY_MAX);
	if (secret)
		explicit_bzero(secret, SECRET_MAX);
	if (token)
		explicit_bzero(token, TOKEN_MAX);
	free(key);
	free(secret);
	free(token);
	free(form);
	return rc;
}
