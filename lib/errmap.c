/* errmap.c — what a Compute Engine failure means to a shell: the API's error
 * (reason first, HTTP status second) mapped to an errno in one table, the
 * way sshfs maps SFTP status codes. Also the small provider-neutral helpers
 * of provider.h: its result types' destructors and request ids.
 *
 * cf_errno_from_error returns a negative errno, like every call in lib/. */
#include "provider.h"

#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The API's `errors[].reason` values, most specific first. A 412
 * (conditionNotMet: a stale labelFingerprint) is EAGAIN here, and a shell
 * prints "Resource temporarily unavailable", which is what happened; the
 * provider's set_labels answers it -ESTALE itself (provider.h) so that its
 * caller knows to re-read the fingerprint, merge and try again. */
static const struct {
	const char *reason;
	int err;
} by_reason[] = {
    {"notFound", ENOENT},
    {"alreadyExists", EEXIST},
    {"resourceInUseByAnotherResource", EBUSY},
    {"resourceNotReady", EBUSY},
    {"invalid", EINVAL},
    {"badRequest", EINVAL},
    {"invalidParameter", EINVAL},
    {"invalidArgument", EINVAL},
    {"forbidden", EACCES},
    {"insufficientPermissions", EACCES},
    {"accessNotConfigured", EACCES},
    {"required", EACCES},
    {"authError", EACCES},
    {"rateLimitExceeded", EAGAIN},
    {"userRateLimitExceeded", EAGAIN},
    {"quotaExceeded", EAGAIN},
    {"conditionNotMet", EAGAIN},
    {"backendError", EAGAIN},
    {"internalError", EAGAIN},
};

static int by_status(long status)
{
	switch (status) {
	case 400:
		return EINVAL;
	case 401:
	case 403:
		return EACCES;
	case 404:
		return ENOENT;
	case 409:
		return EEXIST;
	case 412: /* conditionNotMet, see above */
	case 429:
		return EAGAIN;
	case 0: /* no answer: the API is unreachable */
		return EAGAIN;
	default:
		if (status >= 500 && status <= 599)
			return EAGAIN;
		return EIO;
	}
}

int cf_errno_from_error(const struct cf_error *e)
{
	if (!e)
		return -EIO;
	for (size_t i = 0; e->reason[0] && i < sizeof by_reason / sizeof by_reason[0]; i++)
		if (!strcmp(e->reason, by_reason[i].reason))
			return -by_reason[i].err;
	return -by_status(e->http_status);
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
