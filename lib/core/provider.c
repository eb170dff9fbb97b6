/* provider.c — the small provider-neutral helpers of provider.h: the neutral
 * states and text rules a provider without its own calls gets, its result
 * types' destructors and request ids. What a provider's failure means (its
 * error table) is the provider's own (GCE: gce.c). */
#include "names.h"
#include "provider.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const state_names[CF_STATE__COUNT] = {
    [CF_STATE_NONE] = "none",		[CF_STATE_OTHER] = "other",
    [CF_STATE_READY] = "ready",		[CF_STATE_CREATING] = "creating",
    [CF_STATE_FAILED] = "failed",	[CF_STATE_DELETING] = "deleting",
    [CF_STATE_STARTING] = "starting",	[CF_STATE_RUNNING] = "running",
    [CF_STATE_STOPPING] = "stopping",	[CF_STATE_STOPPED] = "stopped",
    [CF_STATE_SUSPENDED] = "suspended",
};

const char *cf_state_name(enum cf_state s)
{
	return (unsigned) s < CF_STATE__COUNT ? state_names[s] : "other";
}

enum cf_state cf_state_from_word(const char *status)
{
	if (!status)
		return CF_STATE_NONE;
	for (int i = CF_STATE_READY; i < CF_STATE__COUNT; i++)
		if (!strcasecmp(status, state_names[i]))
			return (enum cf_state) i;
	return CF_STATE_OTHER;
}

enum cf_state cf_provider_state(const struct cf_provider *p, enum cf_kind kind, const char *status)
{
	if (!status)
		return CF_STATE_NONE;
	if (p && p->ops->state)
		return p->ops->state(kind, status);
	return cf_state_from_word(status);
}

bool cf_text_valid_default(enum cf_text what, const char *s, size_t len, const char **rule)
{
	bool ok;
	if (what == CF_TEXT_NAME) {
		ok = s && len <= 63 && !memchr(s, '\0', len) && cf_name_is_safe(s, len);
		if (rule)
			*rule = "a directory entry of 1-63 bytes";
	} else {
		ok = s && !memchr(s, '\0', len) &&
		     cf_label_text_sane(s, len, what == CF_TEXT_LABEL_KEY);
		if (rule)
			*rule = "text of at most 63 characters, no control character";
	}
	return ok;
}

bool cf_provider_text_valid(const struct cf_provider *p, enum cf_text what, const char *s,
			    size_t len, const char **rule)
{
	if (p && p->ops->text_valid)
		return p->ops->text_valid(what, s, len, rule);
	return cf_text_valid_default(what, s, len, rule);
}

unsigned cf_provider_consistency(const struct cf_provider *p)
{
	unsigned caps = p ? p->ops->consistency : 0;
	return caps ? caps : CF_CAP_CRASH;
}

size_t cf_provider_label_bytes_max(const struct cf_provider *p)
{
	size_t max = p ? p->ops->label_bytes_max : 0;
	return max && max <= CF_LABEL_TEXT_BYTES_MAX ? max : CF_LABEL_TEXT_BYTES_MAX;
}

void cf_page_clear(struct cf_page *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n; i++)
		cf_resource_clear(&p->items[i]);
	free(p->items);
	free(p->next_token);
	for (size_t i = 0; i < p->nscopes; i++)
		free(p->scopes[i]);
	free(p->scopes);
	memset(p, 0, sizeof *p);
}

void cf_operation_clear(struct cf_operation *op)
{
	if (!op)
		return;
	free(op->name);
	free(op->scope);
	free(op->status);
	free(op->target);
	memset(op, 0, sizeof *op);
}

int cf_uuid4(char buf[37])
{
	unsigned char b[16];
	if (RAND_bytes(b, sizeof b) != 1) {
		buf[0] = '\0';
		return -EIO;
	}
	b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80); /* variant 10 (RFC 4122) */
	snprintf(buf, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
	return 0;
}
