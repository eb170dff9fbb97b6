/* aws_priv.h — what the AWS provider's files share below aws.h: one EC2
 * Query call (aws_call.c) and the provider's state (aws.c). Not for use
 * outside lib/aws/. */
#ifndef CLONEFS_AWS_PRIV_H
#define CLONEFS_AWS_PRIV_H

#include "provider.h"

#include <stdbool.h>
#include <stddef.h>

struct cf_http;

/* One form parameter of an EC2 Query request ("SnapshotId.1", "snap-..."). */
struct aws_param {
	char key[48];
	const char *value;
};

/* A growing list of parameters (values are the caller's, or owned when
 * added with aws_params_addf). */
struct aws_params {
	struct aws_param p[160];
	char *owned[160];
	size_t n, nowned;
	bool overflow;
};
void aws_params_add(struct aws_params *ps, const char *key, const char *value);
void aws_params_addf(struct aws_params *ps, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void aws_params_free(struct aws_params *ps);

/* Where a call goes and how it is signed. The credentials come from `creds`
 * on every call (temporary ones are refreshed there). */
struct aws_conn {
	char *endpoint; /* "https://ec2.REGION.amazonaws.com/" */
	char *region;
	struct cf_http *http;
	/* key id, secret, session token ("" when none) into the buffers; 0 or
	 * a negative errno with the reason in why */
	int (*creds)(void *ctx, char *key_id, size_t kl, char *secret, size_t sl, char *token,
		     size_t tl, char *why, size_t why_size);
	void *creds_ctx;
};

/* One action, POSTed as a form (Action, Version 2016-11-15, the params),
 * signed with SigV4. 2xx: 0 with the body in *body (malloc'd, NUL-ended).
 * Otherwise the API's error (err->reason = its Code, err->message its
 * Message, errnum and retryable from aws_errors' table) and its errno.
 * no_retry: the call is not repeated by the http layer (a create: only the
 * provider knows when a repeat is safe). *answered (may be NULL): whether
 * any HTTP answer arrived (false: the outcome of a write is unknown). */
int aws_call(struct aws_conn *c, const char *action, const struct aws_params *ps, bool no_retry,
	     char **body, size_t *len, bool *answered, struct cf_error *err);

/* err zeroed, then a formatted message (http_status 0). */
void aws_seterr(struct cf_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
