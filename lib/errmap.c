/* errmap.c — what a Compute Engine failure means to a shell: the API's error
 * (reason first, HTTP status second) mapped to an errno in one table, the
 * way sshfs maps SFTP status codes. Also the small destructors of
 * provider.h's result types.
 *
 * cf_errno_from_error returns a negative errno, like every call in lib/. */
#include "provider.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* The API's `errors[].reason` values, most specific first. A 412
 * (conditionNotMet: a stale labelFingerprint) is EAGAIN, not ESTALE: the
 * caller re-reads the fingerprint and tries again, and a shell prints
 * "Resource temporarily unavailable", which is what happened. */
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
