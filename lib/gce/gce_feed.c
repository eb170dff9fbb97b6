/* gce_feed.c — the Compute Engine change feed (feed.h): a Cloud Asset
 * Inventory feed publishes a TemporalAsset for every change of a resource
 * to a Pub/Sub topic; this reads the mount's subscription over Pub/Sub's
 * REST API (v1: subscriptions.pull, acknowledge, modifyAckDeadline) with
 * the compute API's credentials, and decodes each message into a neutral
 * struct cf_feed_change.
 *
 * A message is untrusted like any answer: its asset must name a resource of
 * this project ("//compute.googleapis.com/projects/P/global/snapshots/S")
 * of a kind the tree shows, with an assetType that agrees, a usable update
 * time, and (unless deleted) a resource document that decodes to that very
 * path. Anything else is marked ignore, with a log line, and acknowledged by
 * the feed thread: it will never be stored, so it must not come back. */
#include "feed.h"
#include "gce.h"
#include "gce_auth.h"
#include "gce_priv.h"
#include "http.h"
#include "log.h"
#include "timefmt.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	TOKEN_MAX = 8192,
	ACK_ID_MAX = 2048,
	MSG_MAX = 4 << 20, /* a message's data, decoded */
	IGNORE_LOG_MAX = 20,
};

#define ASSET_PREFIX "//compute.googleapis.com/projects/"

/* assetType's short names: what each shows as, and its scope's top directory. */
static const struct {
	const char *type;
	enum cf_kind kind;
	const char *scope_dir; /* "zones", "regions", "global" */
} asset_types[] = {
    {"compute.googleapis.com/Snapshot", CF_KIND_SNAPSHOT, "global"},
    {"compute.googleapis.com/Image", CF_KIND_IMAGE, "global"},
    {"compute.googleapis.com/MachineImage", CF_KIND_MACHINE_IMAGE, "global"},
    {"compute.googleapis.com/Disk", CF_KIND_DISK, "zones"},
    {"compute.googleapis.com/RegionDisk", CF_KIND_DISK, "regions"},
    {"compute.googleapis.com/Instance", CF_KIND_INSTANCE, "zones"},
};

struct gce_feed {
	struct cf_feed_source pub;
	char *url;  /* ENDPOINT v1/projects/P/subscriptions/S, the verbs appended */
	char *name; /* projects/P/subscriptions/S */
	char *project;
	struct cf_http *http; /* the feed's own: a long pull must not hold the API's */
	struct cf_auth *auth;
	unsigned ignored_logged;
};

/* ---- decoding ---- */

static const char *jstr(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (!json_is_string(v) || memchr(json_string_value(v), '\0', json_string_length(v)))
		return NULL;
	return json_string_value(v);
}

/* An RFC 3339 time into UTC microseconds; 0 when unusable. */
static int64_t time_us(const char *s)
{
	int64_t sec;
	uint32_t ns;
	if (!s || cf_time_parse(s, &sec, &ns) || sec <= 0 || sec > 253402300799)
		return 0;
	return sec * 1000000 + ns / 1000;
}

static int ignore(struct cf_feed_change *ch, char *why, size_t why_size, const char *fmt,
		  const char *what)
{
	char ex[80];
	cf_gce_excerpt(what ? what : "", what ? strlen(what) : 0, ex, sizeof ex);
	snprintf(why, why_size, fmt, ex);
	ch->ignore = true;
	return 0;
}

int cf_gce_decode_asset(const char *text, size_t len, const char *project,
			struct cf_feed_change *ch, char *why, size_t why_size)
{
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1], dwhy[200];
	enum cf_kind kind;
	json_error_t je;
	int rc = 0;
	why[0] = '\0';
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	json_t *asset = json_object_get(root, "asset");
	if (!json_is_object(asset)) {
		ignore(ch, why, why_size, "not a TemporalAsset%s", NULL);
		goto out;
	}
	const char *aname = jstr(asset, "name"), *type = jstr(asset, "assetType");
	size_t plen = strlen(project);
	if (!aname || strncmp(aname, ASSET_PREFIX, strlen(ASSET_PREFIX)) ||
	    strncmp(aname + strlen(ASSET_PREFIX), project, plen) ||
	    aname[strlen(ASSET_PREFIX) + plen] != '/') {
		ignore(ch, why, why_size, "asset \"%s\" is not in this project", aname);
		goto out;
	}
	const char *path = aname + strlen(ASSET_PREFIX) + plen + 1;
	size_t t = 0;
	while (t < sizeof asset_types / sizeof asset_types[0] &&
	       (!type || strcmp(type, asset_types[t].type)))
		t++;
	if (t == sizeof asset_types / sizeof asset_types[0]) {
		ignore(ch, why, why_size, "asset type \"%s\" is not shown", type);
		goto out;
	}
	if (cf_path_parse(path, &kind, scope, sizeof scope, name, sizeof name) ||
	    kind != asset_types[t].kind ||
	    strncmp(scope, asset_types[t].scope_dir, strlen(asset_types[t].scope_dir))) {
		ignore(ch, why, why_size, "asset \"%s\" is no resource path of its type", aname);
		goto out;
	}
	ch->update_us = time_us(jstr(asset, "updateTime"));
	if (!ch->update_us)
		ch->update_us = time_us(jstr(json_object_get(root, "window"), "startTime"));
	if (!ch->update_us) {
		ignore(ch, why, why_size, "asset \"%s\" has no usable update time", aname);
		goto out;
	}
	ch->deleted = json_is_true(json_object_get(root, "deleted"));
	if (!(ch->path = strdup(path))) {
		rc = -ENOMEM;
		goto out;
	}
	if (ch->deleted)
		goto out;
	json_t *data = json_object_get(json_object_get(asset, "resource"), "data");
	if (!json_is_object(data)) {
		ignore(ch, why, why_size, "asset \"%s\" has no resource data", aname);
		goto out;
	}
	/* resource.json is the document as the asset carries it. */
	char *doc = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (!doc) {
		rc = -ENOMEM;
		goto out;
	}
	rc = cf_gce_decode_resource(doc, strlen(doc), kind, scope, &ch->res, dwhy, sizeof dwhy);
	free(doc);
	if (rc == -ENOMEM)
		goto out;
	if (rc || !ch->res.name || strcmp(ch->res.name, name) || !ch->res.scope ||
	    strcmp(ch->res.scope, scope)) {
		rc = 0;
		cf_resource_clear(&ch->res);
		snprintf(why, why_size, "asset %.200s: its data is not that resource: %s", path,
			 dwhy[0] ? dwhy : "another name or scope");
		ch->ignore = true;
	}
out:
	json_decref(root);
	return rc;
}

/* Standard base64 (with or without padding) into a new buffer. */
static int b64_decode(const char *s, size_t n, char **out, size_t *olen)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	while (n && s[n - 1] == '=')
		n--;
	if (n % 4 == 1 || n / 4 * 3 > MSG_MAX)
		return -EINVAL;
	char *b = malloc(n / 4 * 3 + 4);
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	if (!b)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const char *p = s[i] ? strchr(tab, s[i]) : NULL;
		if (!p) {
			free(b);
			return -EINVAL;
		}
		acc = acc << 6 | (uint32_t) (p - tab);
		if ((bits += 6) >= 8) {
			bits -= 8;
			b[o++] = (char) (acc >> bits & 0xff);
		}
	}
	b[o] = '\0';
	*out = b;
	*olen = o;
	return 0;
}

/* ---- Pub/Sub calls ---- */

/* One authorised POST of body to url VERB; 2xx: 0 with the parsed answer in
 * *answer (may be NULL). */
static int ps_call(struct gce_feed *g, const char *verb, json_t *body, json_t **answer,
		   struct cf_error *err)
{
	char url[GCE_URL_MAX];
	char *tok = malloc(TOKEN_MAX), *text = json_dumps(body, JSON_COMPACT);
	struct cf_http_response resp;
	int rc;
	if (answer)
		*answer = NULL;
	if (!tok || !text || snprintf(url, sizeof url, "%s:%s", g->url, verb) >= (int) sizeof url) {
		free(tok);
		free(text);
		cf_gce_seterr(err, 0, "%s: out of memory", verb);
		return -ENOMEM;
	}
	for (int tries = 0;; tries++) {
		memset(&resp, 0, sizeof resp);
		if ((rc = cf_auth_token(g->auth, tok, TOKEN_MAX))) {
			cf_gce_seterr(err, 0, "%s: no access token (%s)", verb, strerror(-rc));
			break;
		}
		struct cf_http_request req = {.method = "POST",
					      .url = url,
					      .signer = {cf_http_sign_bearer, tok},
					      .body = text,
					      .content_type = "application/json"};
		rc = cf_http_do(g->http, &req, &resp);
		explicit_bzero(tok, TOKEN_MAX);
		if (rc) {
			cf_gce_seterr(err, 0, "%s %s: %s", verb, g->name, resp.error);
			rc = rc == -ENOMEM ? rc : -EAGAIN;
			break;
		}
		if (resp.status == 401 && tries == 0) {
			cf_auth_invalidate(g->auth);
			cf_http_response_clear(&resp);
			continue;
		}
		if (resp.status < 200 || resp.status > 299) {
			struct cf_error e;
			cf_gce_decode_error(resp.status, resp.body, resp.body_len, &e);
			cf_gce_seterr(err, (int) resp.status, "%s %s: HTTP %ld: %s", verb, g->name,
				      resp.status, e.message);
			err->errnum = e.errnum;
			rc = e.errnum ? e.errnum : -EIO;
			break;
		}
		if (answer && resp.body &&
		    !(*answer = json_loadb(resp.body, resp.body_len, 0, NULL))) {
			cf_gce_seterr(err, 200, "%s %s: the answer is not JSON", verb, g->name);
			rc = -EPROTO;
		}
		break;
	}
	cf_http_response_clear(&resp);
	explicit_bzero(tok, TOKEN_MAX);
	free(tok);
	free(text);
	return rc;
}

static bool ack_id_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && n <= ACK_ID_MAX && cf_gce_printable(s, n);
}

/* One ReceivedMessage into ch (ack_id set, or the message is dropped). */
static int decode_received(struct gce_feed *g, json_t *rm, struct cf_feed_change *ch)
{
	char why[300] = "";
	json_t *m = json_object_get(rm, "message");
	const char *ack = jstr(rm, "ackId"), *data = jstr(m, "data");
	char *text = NULL;
	size_t tlen = 0;
	memset(ch, 0, sizeof *ch);
	if (!ack_id_ok(ack))
		return -EINVAL; /* cannot even be acknowledged: it expires */
	if (!(ch->ack_id = strdup(ack)))
		return -ENOMEM;
	ch->publish_us = time_us(jstr(m, "publishTime"));
	int rc = data ? b64_decode(data, strlen(data), &text, &tlen) : -EINVAL;
	if (rc == -ENOMEM)
		return rc;
	if (rc)
		snprintf(why, sizeof why, "the message's data is not base64");
	else
		rc = cf_gce_decode_asset(text, tlen, g->project, ch, why, sizeof why);
	free(text);
	if (rc == -ENOMEM)
		return rc;
	if (rc || why[0]) {
		ch->ignore = true;
		if (g->ignored_logged++ < IGNORE_LOG_MAX)
			cf_warn("feed %s: message %s ignored: %s", g->name, ack, why);
	}
	return 0;
}

static int feed_pull(struct cf_feed_source *f, size_t max, struct cf_feed_batch *out,
		     struct cf_error *err)
{
	struct gce_feed *g = f->impl;
	json_t *ans, *body = json_pack("{s:I}", "maxMessages", (json_int_t) max);
	memset(out, 0, sizeof *out);
	if (!body)
		return -ENOMEM;
	/* returnImmediately left out: the server waits a bounded time for a message. */
	int rc = ps_call(g, "pull", body, &ans, err);
	json_decref(body);
	if (rc)
		return rc;
	json_t *list = json_object_get(ans, "receivedMessages");
	size_t n = json_array_size(list);
	if (list && !json_is_array(list)) {
		json_decref(ans);
		cf_gce_seterr(err, 200, "pull %s: receivedMessages is not a list", g->name);
		return -EPROTO;
	}
	if (n > max)
		n = max;
	if (n && !(out->items = calloc(n, sizeof *out->items))) {
		json_decref(ans);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		rc = decode_received(g, json_array_get(list, i), &out->items[out->n]);
		if (rc == -ENOMEM) {
			json_decref(ans);
			cf_feed_batch_clear(out);
			cf_gce_seterr(err, 0, "out of memory");
			return rc;
		}
		if (rc == 0) {
			out->n++;
		} else { /* no usable ackId: left to expire */
			free(out->items[out->n].ack_id);
			memset(&out->items[out->n], 0, sizeof out->items[0]);
		}
	}
	if (!out->n) {
		free(out->items);
		out->items = NULL;
	}
	json_decref(ans);
	return 0;
}

static json_t *ack_ids(const char *const *ids, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; a && i < n; i++)
		if (json_array_append_new(a, json_string(ids[i]))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

static int feed_ack(struct cf_feed_source *f, const char *const *ids, size_t n,
		    struct cf_error *err)
{
	json_t *a = ack_ids(ids, n), *body = a ? json_pack("{s:o}", "ackIds", a) : NULL;
	if (!body)
		return -ENOMEM;
	int rc = ps_call(f->impl, "acknowledge", body, NULL, err);
	json_decref(body);
	return rc;
}

static int feed_extend(struct cf_feed_source *f, const char *const *ids, size_t n, unsigned seconds,
		       struct cf_error *err)
{
	json_t *a = ack_ids(ids, n);
	json_t *body = a ? json_pack("{s:o,s:I}", "ackIds", a, "ackDeadlineSeconds",
				     (json_int_t) (seconds > 600 ? 600 : seconds))
			 : NULL;
	if (!body)
		return -ENOMEM;
	int rc = ps_call(f->impl, "modifyAckDeadline", body, NULL, err);
	json_decref(body);
	return rc;
}

static void feed_traffic(struct cf_feed_source *f, unsigned long *requests, unsigned long *bytes)
{
	struct gce_feed *g = f->impl;
	struct cf_http_stats hs;
	cf_http_get_stats(g->http, &hs);
	*requests = hs.requests;
	*bytes = hs.bytes_in;
}

static void feed_destroy(struct cf_feed_source *f)
{
	struct gce_feed *g = f ? f->impl : NULL;
	if (!g)
		return;
	cf_http_free(g->http);
	free(g->url);
	free(g->name);
	free(g->project);
	free(g);
}

static const struct cf_feed_source_ops feed_ops = {
    .pull = feed_pull,
    .ack = feed_ack,
    .extend = feed_extend,
    .traffic = feed_traffic,
    .destroy = feed_destroy,
};

int cf_gce_feed_new(const struct cf_gce_feed_config *cfg, struct cf_feed_source **out)
{
	/* A pull waits on the server for a while: its own client, with a timeout
	 * well above that wait and few retries (the thread tries again anyway). */
	static const struct cf_http_config hc = {.connect_timeout_ms = 10000,
						 .timeout_ms = 90000,
						 .max_attempts = 3,
						 .base_delay_ms = 250,
						 .max_delay_ms = 5000,
						 .max_total_ms = 30000,
						 .allow_insecure_loopback = true};
	struct gce_feed *g = calloc(1, sizeof *g);
	*out = NULL;
	if (!g)
		return -ENOMEM;
	int rc = cf_http_new(&hc, &g->http);
	if (rc < 0) {
		free(g);
		return rc;
	}
	g->auth = cfg->auth;
	if (asprintf(&g->url, "%sv1/%s", cfg->endpoint, cfg->subscription) < 0)
		g->url = NULL;
	if (!g->url || !(g->name = strdup(cfg->subscription)) ||
	    !(g->project = strdup(cfg->project))) {
		feed_destroy(&(struct cf_feed_source){.impl = g});
		return -ENOMEM;
	}
	g->pub.ops = &feed_ops;
	g->pub.name = g->name;
	g->pub.impl = g;
	*out = &g->pub;
	return 0;
}
