/* aws_errors.h — what an EC2 error means to a shell: the API's error code
 * (the <Code> of its error envelope) to a negative errno, and whether sending
 * the same request again may succeed. One table, the code first; families
 * by their suffix next (*.NotFound, *.Malformed, *.Duplicate, *.InUse,
 * *LimitExceeded, anything throttled); the HTTP status only when the answer
 * carried no code clonefs knows. */
#ifndef CLONEFS_AWS_ERRORS_H
#define CLONEFS_AWS_ERRORS_H

#include <stdbool.h>
#include <stddef.h>

struct cf_error;

/* One entry of the table: errnum is a negative errno, or 0 for a code that
 * is not a failure (DryRunOperation: the request would have succeeded). */
struct cf_aws_errcode {
	const char *code;
	int errnum;
	bool retryable;
};

/* The reading of one failure: code is the API's error code (NULL or "" when
 * the answer had none), status the HTTP status (0: no answer arrived). The
 * negative errno (0 only for DryRunOperation), and *retryable: throttled, the
 * service failing or busy, or no answer at all. */
int cf_aws_errno(const char *code, long status, bool *retryable);

/* Fill err->errnum and err->retryable from err->reason and err->http_status. */
void cf_aws_classify(struct cf_error *err);

/* The exact-code table, for the unit test that checks every entry. */
const struct cf_aws_errcode *cf_aws_errcodes(size_t *n);

#endif
