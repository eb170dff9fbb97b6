/* aws_errors.c — EC2's error codes to errno, in one table (aws_errors.h).
 *
 * The codes are the ones the EC2 API reference lists ("Error codes for the
 * Amazon EC2 API") and the throttling family botocore's retry handler knows.
 * Throttling and the service's own failures are retryable and end as EAGAIN
 * ("Resource temporarily unavailable": what happened) once the retries run
 * out; a quota is EDQUOT, a tag limit ENOSPC, something in use EBUSY. */
#include "aws_errors.h"
#include "provider.h"

#include <errno.h>
#include <string.h>

/* Exact codes, looked up first. */
static const struct cf_aws_errcode table[] = {
    /* the request would have succeeded (DryRun=true): not a failure */
    {"DryRunOperation", 0, false},
    /* in use, or not in a state that allows it */
    {"InvalidSnapshot.InUse", -EBUSY, false},
    {"VolumeInUse", -EBUSY, false},
    {"IncorrectState", -EBUSY, false},
    {"IncorrectInstanceState", -EBUSY, false},
    {"InvalidState", -EBUSY, false},
    {"DependencyViolation", -EBUSY, false},
    {"InvalidVolume.NotAttached", -EBUSY, false},
    {"ConcurrentTagAccess", -EAGAIN, true},
    /* quotas and limits */
    {"SnapshotLimitExceeded", -EDQUOT, false},
    {"AMIQuotaExceeded", -EDQUOT, false},
    {"ResourceLimitExceeded", -EDQUOT, false},
    {"VolumeLimitExceeded", -EDQUOT, false},
    {"InstanceLimitExceeded", -EDQUOT, false},
    {"MaxIOPSLimitExceeded", -EDQUOT, false},
    {"TagLimitExceeded", -ENOSPC, false},
    /* too many creates in flight: retrying within seconds rarely helps */
    {"ConcurrentSnapshotLimitExceeded", -EAGAIN, false},
    {"PendingSnapshotLimitExceeded", -EAGAIN, false},
    {"InsufficientInstanceCapacity", -EAGAIN, false},
    {"SnapshotCreationPerVolumeRateExceeded", -EAGAIN, true},
    /* throttling (botocore's retry handler's list, EC2's first) */
    {"RequestLimitExceeded", -EAGAIN, true},
    {"Throttling", -EAGAIN, true},
    {"ThrottlingException", -EAGAIN, true},
    {"ThrottledException", -EAGAIN, true},
    {"RequestThrottled", -EAGAIN, true},
    {"RequestThrottledException", -EAGAIN, true},
    {"TooManyRequestsException", -EAGAIN, true},
    {"BandwidthLimitExceeded", -EAGAIN, true},
    {"SlowDown", -EAGAIN, true},
    {"PriorRequestNotComplete", -EAGAIN, true},
    {"EC2ThrottledException", -EAGAIN, true},
    {"RequestTimeout", -EAGAIN, true},
    {"RequestTimeoutException", -EAGAIN, true},
    /* the service failing */
    {"InternalError", -EAGAIN, true},
    {"InternalFailure", -EAGAIN, true},
    {"ServiceUnavailable", -EAGAIN, true},
    {"Unavailable", -EAGAIN, true},
    /* who is asking */
    {"UnauthorizedOperation", -EACCES, false},
    {"AuthFailure", -EACCES, false},
    {"Blocked", -EACCES, false},
    {"OptInRequired", -EACCES, false},
    {"PendingVerification", -EACCES, false},
    {"SignatureDoesNotMatch", -EACCES, false},
    {"IncompleteSignature", -EACCES, false},
    {"InvalidClientTokenId", -EACCES, false},
    {"MissingAuthenticationToken", -EACCES, false},
    {"ExpiredToken", -EACCES, false},
    {"RequestExpired", -EACCES, false},
    {"AccessDenied", -EACCES, false},
    {"OperationNotPermitted", -EPERM, false},
    {"CannotDelete", -EPERM, false},
    /* what was asked */
    {"InvalidAMIName.Duplicate", -EEXIST, false},
    {"InvalidAMIID.Unavailable", -ENOENT, false},
    {"InvalidParameterValue", -EINVAL, false},
    {"InvalidParameter", -EINVAL, false},
    {"InvalidParameterCombination", -EINVAL, false},
    {"InvalidParameterDependency", -EINVAL, false},
    {"MissingParameter", -EINVAL, false},
    {"UnknownParameter", -EINVAL, false},
    {"InvalidQueryParameter", -EINVAL, false},
    {"MalformedQueryString", -EINVAL, false},
    {"InvalidFilter", -EINVAL, false},
    {"InvalidPaginationToken", -EINVAL, false},
    {"InvalidCharacter", -EINVAL, false},
    {"InvalidID", -EINVAL, false},
    {"IdempotentParameterMismatch", -EINVAL, false},
    {"ValidationError", -EINVAL, false},
    {"InvalidAction", -EOPNOTSUPP, false},
    {"UnsupportedOperation", -EOPNOTSUPP, false},
    {"Unsupported", -EOPNOTSUPP, false},
    {"UnsupportedProtocol", -EOPNOTSUPP, false},
};

const struct cf_aws_errcode *cf_aws_errcodes(size_t *n)
{
	*n = sizeof table / sizeof table[0];
	return table;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);
	return a >= b && !memcmp(s + a - b, suffix, b);
}

/* The families: the resource in the code's first half varies
 * (InvalidVolume.NotFound, InvalidInstanceID.Malformed, ...). */
static int by_family(const char *code, bool *retryable)
{
	*retryable = false;
	if (ends_with(code, ".NotFound"))
		return -ENOENT;
	if (ends_with(code, ".Malformed"))
		return -EINVAL;
	if (ends_with(code, ".Duplicate"))
		return -EEXIST;
	if (ends_with(code, ".InUse"))
		return -EBUSY;
	if (strstr(code, "Throttl")) {
		*retryable = true;
		return -EAGAIN;
	}
	if (ends_with(code, "LimitExceeded") || ends_with(code, "QuotaExceeded"))
		return -EDQUOT;
	if (!strncmp(code, "Invalid", 7))
		return -EINVAL;
	return 0;
}

static int by_status(long status, bool *retryable)
{
	*retryable = status == 0 || status == 429 || (status >= 500 && status <= 599);
	switch (status) {
	case 400:
		return -EINVAL;
	case 401:
	case 403:
		return -EACCES;
	case 404:
		return -ENOENT;
	case 409:
		return -EEXIST;
	default:
		return *retryable ? -EAGAIN : -EIO;
	}
}

int cf_aws_errno(const char *code, long status, bool *retryable)
{
	bool r = false;
	int e = 0;
	if (code && code[0]) {
		for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
			if (!strcmp(code, table[i].code)) {
				*retryable = table[i].retryable;
				return table[i].errnum;
			}
		e = by_family(code, &r);
	}
	if (!e)
		e = by_status(status, &r);
	*retryable = r;
	return e;
}

void cf_aws_classify(struct cf_error *err)
{
	err->errnum = cf_aws_errno(err->reason, err->http_status, &err->retryable);
}
