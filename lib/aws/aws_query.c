/* aws_query.c — EC2 Query API calls (aws_query.h): parameters, the form
 * body, the SigV4-signed POST through lib/net/http, the answer through
 * aws_xml and AWS's error envelope,
 *	<Response><Errors><Error><Code>..</Code><Message>..</Message></Error>
 *	</Errors><RequestID>..</RequestID></Response>
 * (and the <ErrorResponse><Error>.. form other AWS query services use) made
 * into a struct cf_error with aws_errors' reading. */
#include "aws_query.h"
#include "aws_creds.h"
#include "aws_errors.h"
#include "http.h"
#include "log.h"
#include "provider.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	NAME_MAX_LEN = 255,
	VALUE_MAX_LEN = 256 << 10,
	PARAMS_MAX = 1000,
	FORM_MAX = 1 << 20, /* libcurl would add an unsigned Expect past 1 MiB */
	ANSWER_MAX = 64 << 20,
};

/* ---- parameters ---- */

static bool name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
		      (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'))
			return false;
	return true;
}

static int stick(struct cf_aws_params *p, int rc)
{
	if (rc && !p->err)
		p->err = rc;
	return rc;
}

int cf_aws_param(struct cf_aws_params *p, const char *value, const char *name_fmt, ...)
{
	char name[NAME_MAX_LEN + 2];
	va_list ap;
	va_start(ap, name_fmt);
	int n = vsnprintf(name, sizeof name, name_fmt, ap);
	va_end(ap);
	if (n < 0 || n > NAME_MAX_LEN || !name_ok(name) || !value || strlen(value) > VALUE_MAX_LEN)
		return stick(p, -EINVAL);
	if (p->n >= PARAMS_MAX)
		return stick(p, -E2BIG);
	if (p->n == p->cap) {
		size_t c = p->cap ? p->cap * 2 : 16;
		char **a = realloc(p->names, c * sizeof *a);
		if (!a)
			return stick(p, -ENOMEM);
		p->names = a;
		char **b = realloc(p->values, c * sizeof *b);
		if (!b)
			return stick(p, -ENOMEM);
		p->values = b;
		p->cap = c;
	}
	char *nm = strdup(name), *v = strdup(value);
	if (!nm || !v) {
		free(nm);
		free(v);
		return stick(p, -ENOMEM);
	}
	p->names[p->n] = nm;
	p->values[p->n++] = v;
	return 0;
}

/* The next free N of prefix.N.<anything> ("Filter", "TagSpecification"). */
static unsigned next_index(const struct cf_aws_params *p, const char *prefix)
{
	size_t pl = strlen(prefix);
	unsigned max = 0;
	for (size_t i = 0; i < p->n; i++)
		if (!strncmp(p->names[i], prefix, pl) && p->names[i][pl] == '.') {
			unsigned long v = strtoul(p->names[i] + pl + 1, NULL, 10);
			if (v > max && v < 100000)
				max = (unsigned) v;
		}
	return max + 1;
}

int cf_aws_param_filter(struct cf_aws_params *p, const char *name, const char *const *values,
			size_t nvalues)
{
	if (!name || (nvalues && !values))
		return stick(p, -EINVAL);
	unsigned n = next_index(p, "Filter");
	int rc = cf_aws_param(p, name, "Filter.%u.Name", n);
	for (size_t i = 0; !rc && i < nvalues; i++)
		rc = cf_aws_param(p, values[i], "Filter.%u.Value.%zu", n, i + 1);
	return rc;
}

int cf_aws_param_list(struct cf_aws_params *p, const char *prefix, const char *const *values,
		      size_t n)
{
	int rc = prefix && (values || !n) ? 0 : stick(p, -EINVAL);
	for (size_t i = 0; !rc && i < n; i++)
		rc = cf_aws_param(p, values[i], "%s.%zu", prefix, i + 1);
	return rc;
}

int cf_aws_param_tags(struct cf_aws_params *p, const char *resource_type, const char *const *keys,
		      const char *const *values, size_t n)
{
	char prefix[64] = "Tag";
	int rc = 0;
	if (n && !keys)
		return stick(p, -EINVAL);
	if (resource_type) {
		unsigned spec = next_index(p, "TagSpecification");
		snprintf(prefix, sizeof prefix, "TagSpecification.%u.Tag", spec);
		rc = cf_aws_param(p, resource_type, "TagSpecification.%u.ResourceType", spec);
	}
	for (size_t i = 0; !rc && i < n; i++) {
		rc = cf_aws_param(p, keys[i], "%s.%zu.Key", prefix, i + 1);
		if (!rc && values && values[i])
			rc = cf_aws_param(p, values[i], "%s.%zu.Value", prefix, i + 1);
	}
	return rc;
}

void cf_aws_params_clear(struct cf_aws_params *p)
{
	for (size_t i = 0; i < p->n; i++) {
		free(p->names[i]);
		free(p->values[i]);
	}
	free(p->names);
	free(p->values);
	memset(p, 0, sizeof *p);
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.' || c == '~';
}

/* Append the encoding of s[0..len) at b + *n (room checked by the caller). */
static void encode_into(char *b, size_t *n, const char *s, size_t len)
{
	static const char hexd[] = "0123456789ABCDEF";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) s[i];
		if (unreserved(c)) {
			b[(*n)++] = (char) c;
		} else {
			b[(*n)++] = '%';
			b[(*n)++] = hexd[c >> 4];
			b[(*n)++] = hexd[c & 15];
		}
	}
	b[*n] = '\0';
}

int cf_aws_encode(const char *s, size_t len, char **out)
{
	size_t n = 0;
	*out = NULL;
	if (len > VALUE_MAX_LEN * 2)
		return -E2BIG;
	char *b = malloc(len * 3 + 1);
	if (!b)
		return -ENOMEM;
	encode_into(b, &n, s, len);
	*out = b;
	return 0;
}

int cf_aws_form(const char *action, const char *version, const struct cf_aws_params *p, char **out)
{
	*out = NULL;
	if (p && p->err)
		return p->err;
	if (!action || !name_ok(action) || !version || !name_ok(version))
		return -EINVAL;
	/* the worst case: every byte three */
	size_t need = strlen("Action=&Version=") + 3 * (strlen(action) + strlen(version)) + 1;
	for (size_t i = 0; p && i < p->n; i++)
		need += 2 + 3 * (strlen(p->names[i]) + strlen(p->values[i]));
	if (need > FORM_MAX * 3)
		return -E2BIG;
	char *b = malloc(need);
	if (!b)
		return -ENOMEM;
	size_t n = 0;
	memcpy(b, "Action=", 7);
	n = 7;
	encode_into(b, &n, action, strlen(action));
	memcpy(b + n, "&Version=", 9);
	n += 9;
	encode_into(b, &n, version, strlen(version));
	for (size_t i = 0; p && i < p->n; i++) {
		b[n++] = '&';
		encode_into(b, &n, p->names[i], strlen(p->names[i]));
		b[n++] = '=';
		encode_into(b, &n, p->values[i], strlen(p->values[i]));
	}
	if (n > FORM_MAX) {
		free(b);
		return -E2BIG;
	}
	*out = b;
	return 0;
}

/* ---- errors ---- */

/* One printable line from untrusted text: controls and non-ASCII become
 * '?' or a space, runs of blanks one space. */
static void printable(const char *s, size_t len, char *out, size_t size)
{
	size_t n = 0;
	bool blank = true; /* drops leading blanks */
	for (size_t i = 0; i < len && n + 1 < size; i++) {
		unsigned char c = (unsigned char) s[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (!blank)
				out[n++] = ' ';
			blank = true;
			continue;
		}
		out[n++] = c < 0x20 || c >= 0x7f ? '?' : (char) c;
		blank = false;
	}
	while (n && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* An error code: letters, digits, '.', at most 63 bytes; else "". */
static void code_copy(const char *s, size_t len, char *out, size_t size)
{
	out[0] = '\0';
	if (!len || len >= size)
		return;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.'))
			return;
	memcpy(out, s, len);
	out[len] = '\0';
}

struct errdoc {
	char code[64], message[400], rid[80];
	bool have_code, have_message;
};

static int on_error_text(void *ctx, const char *path, const char *text, size_t len)
{
	struct errdoc *e = ctx;
	/* the first error is the one reported */
	if (!strcmp(path, "Errors/Error/Code") || !strcmp(path, "Error/Code")) {
		if (!e->have_code)
			code_copy(text, len, e->code, sizeof e->code);
		e->have_code = true;
	} else if (!strcmp(path, "Errors/Error/Message") || !strcmp(path, "Error/Message")) {
		if (!e->have_message)
			printable(text, len, e->message, sizeof e->message);
		e->have_message = true;
	} else if (!strcmp(path, "RequestID") || !strcmp(path, "RequestId") ||
		   !strcmp(path, "requestId")) {
		printable(text, len, e->rid, sizeof e->rid);
	}
	return 0;
}

void cf_aws_decode_error(long status, const char *body, size_t len, struct cf_error *err,
			 char *request_id, size_t rid_size)
{
	struct errdoc e = {0};
	char root[32], why[128];
	struct cf_aws_xml_handler h = {
	    .text = on_error_text, .ctx = &e, .root = root, .root_size = sizeof root};
	struct cf_aws_xml_limits lim = {.max_depth = 8, .max_text = 16384, .max_elements = 256};
	memset(err, 0, sizeof *err);
	err->http_status = (int) status;
	int rc = body && len ? cf_aws_xml_parse(body, len, &lim, &h, why, sizeof why) : -EINVAL;
	if (rc == 0 && (!strcmp(root, "Response") || !strcmp(root, "ErrorResponse")) &&
	    e.have_code) {
		snprintf(err->reason, sizeof err->reason, "%s", e.code);
		if (e.rid[0])
			snprintf(err->message, sizeof err->message, "%s (request %s)",
				 e.message[0] ? e.message
				 : e.code[0]  ? e.code
					      : "no message",
				 e.rid);
		else
			snprintf(err->message, sizeof err->message, "%s",
				 e.message[0] ? e.message
				 : e.code[0]  ? e.code
					      : "no message");
	} else {
		/* not AWS's envelope: a proxy's page, a load balancer's, garbage */
		char ex[64];
		printable(body ? body : "", len < 48 ? len : 48, ex, sizeof ex);
		snprintf(err->message, sizeof err->message, "HTTP %ld without an EC2 error%s%s%s",
			 status, ex[0] ? " (\"" : "", ex, ex[0] ? "\")" : "");
	}
	if (request_id && rid_size)
		snprintf(request_id, rid_size, "%s", e.rid);
	cf_aws_classify(err);
}

/* ---- the client ---- */

struct cf_aws_client {
	struct cf_http *http;
	struct cf_aws_creds *creds;
	char *url, *service, *version, *scope;
};

void cf_aws_client_free(struct cf_aws_client *c)
{
	if (!c)
		return;
	free(c->url);
	free(c->service);
	free(c->version);
	free(c->scope);
	free(c);
}

/* A region or service name: lower-case letters, digits, '-'. */
static bool word_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

int cf_aws_client_new(const struct cf_aws_client_config *cfg, struct cf_aws_client **out, char *why,
		      size_t why_size)
{
	*out = NULL;
	why[0] = '\0';
	const char *region = cfg->region  ? cfg->region
			     : cfg->creds ? cf_aws_creds_region(cfg->creds)
					  : NULL;
	const char *url = cfg->endpoint ? cfg->endpoint
			  : cfg->creds	? cf_aws_creds_endpoint(cfg->creds)
					: NULL;
	const char *service = cfg->service ? cfg->service : "ec2";
	if (!cfg->http || !cfg->creds) {
		snprintf(why, why_size, "no transport or no credentials");
		return -EINVAL;
	}
	if (!word_ok(region)) {
		snprintf(why, why_size, "no usable region (aws:REGION, AWS_REGION, the profile's)");
		return -EINVAL;
	}
	if (!word_ok(service)) {
		snprintf(why, why_size, "not a service name");
		return -EINVAL;
	}
	if (!url) {
		snprintf(why, why_size, "no endpoint");
		return -EINVAL;
	}
	char uwhy[200];
	int rc = cf_http_check_url(cfg->http, url, true, uwhy, sizeof uwhy);
	if (rc) {
		snprintf(why, why_size, "endpoint %.200s: %s", url, uwhy);
		return rc;
	}
	struct cf_aws_client *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->http = cfg->http;
	c->creds = cfg->creds;
	c->url = strdup(url);
	c->service = strdup(service);
	c->version = strdup(cfg->version ? cfg->version : CF_AWS_EC2_VERSION);
	if (c->url && c->service && c->version &&
	    asprintf(&c->scope, "aws:amz:%s:%s", region, service) < 0)
		c->scope = NULL;
	if (!c->url || !c->service || !c->version || !c->scope) {
		cf_aws_client_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void cf_aws_result_clear(struct cf_aws_result *r)
{
	if (!r)
		return;
	free(r->next_token);
	memset(r, 0, sizeof *r);
}

/* The caller's handler, with nextToken and requestId taken on the way. */
struct wrap {
	const struct cf_aws_xml_handler *inner;
	char *next_token;
	char request_id[80];
	bool oom;
};

static int on_item(void *ctx, const struct cf_aws_xml_node *it)
{
	struct wrap *w = ctx;
	return w->inner && w->inner->item ? w->inner->item(w->inner->ctx, it) : 0;
}

static int on_text(void *ctx, const char *path, const char *text, size_t len)
{
	struct wrap *w = ctx;
	if (!strcmp(path, "nextToken")) {
		free(w->next_token);
		w->next_token = NULL;
		/* an empty token is no token (the last page) */
		if (len && !(w->next_token = strndup(text, len)))
			return -ENOMEM;
	} else if (!strcmp(path, "requestId")) {
		printable(text, len, w->request_id, sizeof w->request_id);
	}
	return w->inner && w->inner->text ? w->inner->text(w->inner->ctx, path, text, len) : 0;
}

static bool transport_retryable(int rc)
{
	return rc == -EAGAIN || rc == -ETIMEDOUT || rc == -ECONNREFUSED || rc == -EHOSTUNREACH;
}

static int call_once(struct cf_aws_client *c, const struct cf_aws_request *rq, const char *form,
		     struct cf_aws_result *res, struct cf_error *err)
{
	struct cf_aws_credentials cr = {0};
	char why[256];
	int rc = cf_aws_creds_get(c->creds, &cr, why, sizeof why);
	if (rc) {
		err->http_status = 0;
		snprintf(err->message, sizeof err->message, "no credentials: %s", why);
		err->errnum = rc;
		err->retryable = rc == -EAGAIN;
		return rc;
	}
	struct cf_http_sigv4 sv = {c->scope, cr.key_id, cr.secret, cr.token};
	struct cf_http_request hr = {.method = "POST",
				     .url = c->url,
				     .sigv4 = &sv,
				     .body = form,
				     .content_type =
					 "application/x-www-form-urlencoded; charset=utf-8",
				     .max_body = ANSWER_MAX,
				     .no_retry = rq->no_retry};
	struct cf_http_response resp;
	rc = cf_http_do(c->http, &hr, &resp);
	cf_aws_credentials_clear(&cr);
	res->attempts += resp.attempts;
	res->bytes += resp.wire_bytes ? resp.wire_bytes : resp.body_len;
	res->http_status = resp.status;
	if (rc) {
		err->http_status = 0;
		snprintf(err->message, sizeof err->message, "%s: %s", rq->action,
			 resp.error[0] ? resp.error : "no answer");
		err->errnum = rc;
		err->retryable = transport_retryable(rc);
		return rc;
	}
	if (resp.status < 200 || resp.status > 299) {
		cf_aws_decode_error(resp.status, resp.body, resp.body_len, err, res->request_id,
				    sizeof res->request_id);
		cf_http_response_clear(&resp);
		if (!strcmp(err->reason, "DryRunOperation"))
			return 0;
		return err->errnum ? err->errnum : -EIO;
	}
	struct wrap w = {.inner = rq->answer};
	char root[128] = "", want[128];
	struct cf_aws_xml_handler h = {.item_path = rq->answer ? rq->answer->item_path : NULL,
				       .item = on_item,
				       .text = on_text,
				       .ctx = &w,
				       .root = root,
				       .root_size = sizeof root};
	rc = cf_aws_xml_parse(resp.body, resp.body_len, NULL, &h, why, sizeof why);
	if (rq->answer && rq->answer->root && rq->answer->root_size)
		snprintf(rq->answer->root, rq->answer->root_size, "%s", root);
	snprintf(want, sizeof want, "%sResponse", rq->action);
	if (!rc && strcmp(root, want)) {
		snprintf(why, sizeof why, "the answer is a <%.60s>, not a <%.80s>", root, want);
		rc = -EPROTO;
	}
	cf_http_response_clear(&resp);
	snprintf(res->request_id, sizeof res->request_id, "%s", w.request_id);
	if (rc) {
		free(w.next_token);
		err->http_status = (int) res->http_status;
		if (rc == -EINVAL || rc == -E2BIG || rc == -EPROTO) {
			/* the answer is not one: garbage, truncated, another service's */
			snprintf(err->message, sizeof err->message, "%s: unreadable answer: %s",
				 rq->action, why);
			rc = -EPROTO;
		} else if (why[0]) {
			snprintf(err->message, sizeof err->message, "%s: %s", rq->action, why);
		} else {
			snprintf(err->message, sizeof err->message, "%s: the answer's reader: %s",
				 rq->action, strerror(-rc));
		}
		err->errnum = rc;
		err->retryable = false;
		return rc;
	}
	if (w.next_token && rq->next_token && !strcmp(w.next_token, rq->next_token)) {
		/* asked again, it would answer again: a listing that never ends */
		free(w.next_token);
		err->http_status = (int) res->http_status;
		snprintf(err->message, sizeof err->message,
			 "%s: the answer's NextToken is the one sent: the listing would not end",
			 rq->action);
		err->errnum = -EPROTO;
		return -EPROTO;
	}
	res->next_token = w.next_token;
	return 0;
}

int cf_aws_call(struct cf_aws_client *c, const struct cf_aws_request *rq, struct cf_aws_result *res,
		struct cf_error *err)
{
	struct cf_error scratch;
	struct cf_aws_result rscratch;
	if (!err)
		err = &scratch;
	if (!res)
		res = &rscratch;
	memset(err, 0, sizeof *err);
	memset(res, 0, sizeof *res);
	struct cf_aws_params extra = {0};
	const struct cf_aws_params *p = rq->params;
	char *form = NULL;
	int rc;
	if (rq->next_token) {
		/* the caller's parameters and the token, in a copy */
		for (size_t i = 0; p && i < p->n; i++)
			cf_aws_param(&extra, p->values[i], "%s", p->names[i]);
		if (p && p->err)
			extra.err = p->err;
		cf_aws_param(&extra, rq->next_token, "NextToken");
		p = &extra;
	}
	rc = cf_aws_form(rq->action, c->version, p, &form);
	cf_aws_params_clear(&extra);
	if (rc) {
		snprintf(err->message, sizeof err->message, "%s: the request cannot be made: %s",
			 rq->action ? rq->action : "(no action)", strerror(-rc));
		err->errnum = rc;
		return rc;
	}
	rc = call_once(c, rq, form, res, err);
	const char *src = cf_aws_creds_source(c->creds);
	if (rc && (!strcmp(src, "credential_process") || !strcmp(src, "imds")) &&
	    (!strcmp(err->reason, "ExpiredToken") || !strcmp(err->reason, "RequestExpired") ||
	     !strcmp(err->reason, "InvalidClientTokenId"))) {
		/* refused before anything was done: new credentials, once more */
		cf_debug("aws: %s: %s, fetching credentials anew", rq->action, err->reason);
		cf_aws_creds_invalidate(c->creds);
		unsigned tries = res->attempts;
		uint64_t bytes = res->bytes;
		memset(err, 0, sizeof *err);
		cf_aws_result_clear(res);
		rc = call_once(c, rq, form, res, err);
		res->attempts += tries;
		res->bytes += bytes;
	}
	free(form);
	if (res == &rscratch)
		cf_aws_result_clear(res);
	return rc;
}
