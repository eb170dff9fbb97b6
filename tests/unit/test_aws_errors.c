/* test_aws_errors.c — EC2's error codes to errno: every entry of the table as
 * the table says, the codes the AWS provider's promises rest on (an
 * independent list, so that a change to the table is seen), the families by
 * suffix, and the HTTP status only as a fallback. */
#include "aws_errors.h"
#include "check.h"
#include "provider.h"

#include <errno.h>

static void test_every_entry(void)
{
	size_t n;
	const struct cf_aws_errcode *t = cf_aws_errcodes(&n);
	CHECK(n > 40);
	for (size_t i = 0; i < n; i++) {
		bool r = !t[i].retryable;
		/* the code decides, whatever the status */
		CHECK_EQ_INT(cf_aws_errno(t[i].code, 400, &r), t[i].errnum);
		CHECK_EQ_INT(r, t[i].retryable);
		CHECK_EQ_INT(cf_aws_errno(t[i].code, 503, &r), t[i].errnum);
		CHECK_EQ_INT(r, t[i].retryable);
		/* a retryable code ends as EAGAIN */
		if (t[i].retryable)
			CHECK_EQ_INT(t[i].errnum, -EAGAIN);
		for (size_t j = 0; j < i; j++)
			CHECK(strcmp(t[i].code, t[j].code)); /* no duplicates */
	}
}

static const struct {
	const char *code;
	int errnum;
	bool retryable;
} promised[] = {
    {"InvalidSnapshot.InUse", -EBUSY, false},
    {"SnapshotLimitExceeded", -EDQUOT, false},
    {"TagLimitExceeded", -ENOSPC, false},
    {"RequestLimitExceeded", -EAGAIN, true},
    {"Throttling", -EAGAIN, true},
    {"ThrottlingException", -EAGAIN, true},
    {"RequestThrottled", -EAGAIN, true},
    {"UnauthorizedOperation", -EACCES, false},
    {"AuthFailure", -EACCES, false},
    {"InvalidSnapshot.NotFound", -ENOENT, false},
    {"InvalidVolume.NotFound", -ENOENT, false},
    {"InvalidInstanceID.NotFound", -ENOENT, false},
    {"InvalidAMIID.NotFound", -ENOENT, false},
    {"InvalidSnapshotID.Malformed", -EINVAL, false},
    {"InvalidAMIID.Malformed", -EINVAL, false},
    {"InvalidAMIName.Duplicate", -EEXIST, false},
    {"IncorrectState", -EBUSY, false},
    {"IncorrectInstanceState", -EBUSY, false},
    {"InternalError", -EAGAIN, true},
    {"ServiceUnavailable", -EAGAIN, true},
    {"Unavailable", -EAGAIN, true},
    {"DryRunOperation", 0, false},
    {"InvalidParameterValue", -EINVAL, false},
    {"MissingParameter", -EINVAL, false},
    {"OperationNotPermitted", -EPERM, false},
    {"InvalidAction", -EOPNOTSUPP, false},
    /* families: codes the table does not name */
    {"InvalidKeyPair.NotFound", -ENOENT, false},
    {"InvalidVpcID.Malformed", -EINVAL, false},
    {"InvalidGroup.Duplicate", -EEXIST, false},
    {"InvalidPlacementGroup.InUse", -EBUSY, false},
    {"SomeNewThrottlingError", -EAGAIN, true},
    {"VpcLimitExceeded", -EDQUOT, false},
    {"InvalidSomethingNew", -EINVAL, false},
};

static void test_promised(void)
{
	for (size_t i = 0; i < sizeof promised / sizeof promised[0]; i++) {
		bool r = !promised[i].retryable;
		int e = cf_aws_errno(promised[i].code, 400, &r);
		if (e != promised[i].errnum || r != promised[i].retryable)
			fprintf(stderr, "%s: %d %d\n", promised[i].code, e, r);
		CHECK_EQ_INT(e, promised[i].errnum);
		CHECK_EQ_INT(r, promised[i].retryable);
	}
}

static void test_status_fallback(void)
{
	static const struct {
		const char *code;
		long status;
		int errnum;
		bool retryable;
	} t[] = {
	    {NULL, 0, -EAGAIN, true},	       {"", 400, -EINVAL, false},
	    {NULL, 401, -EACCES, false},       {NULL, 403, -EACCES, false},
	    {NULL, 404, -ENOENT, false},       {NULL, 409, -EEXIST, false},
	    {NULL, 429, -EAGAIN, true},	       {NULL, 500, -EAGAIN, true},
	    {NULL, 503, -EAGAIN, true},	       {NULL, 302, -EIO, false},
	    {"Whatever", 403, -EACCES, false}, {"Whatever", 503, -EAGAIN, true},
	};
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
		bool r = !t[i].retryable;
		CHECK_EQ_INT(cf_aws_errno(t[i].code, t[i].status, &r), t[i].errnum);
		CHECK_EQ_INT(r, t[i].retryable);
	}
	struct cf_error e = {.http_status = 400};
	snprintf(e.reason, sizeof e.reason, "RequestLimitExceeded");
	cf_aws_classify(&e);
	CHECK_EQ_INT(e.errnum, -EAGAIN);
	CHECK(e.retryable);
}

int main(void)
{
	test_every_entry();
	test_promised();
	test_status_fallback();
	return check_summary();
}
