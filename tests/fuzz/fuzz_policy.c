/* fuzz_policy.c — a policy file through cf_policy_parse: refused with the key
 * and the problem in one line, or a policy whose decisions can be asked. */
#include "fuzz.h"
#include "policy.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	fuzz_quiet();
	char *s = fuzz_string(data, size);
	struct cf_policy *p = NULL;
	char err[512] = "";
	int rc = cf_policy_parse(s, &p, err, sizeof err);
	if (rc) {
		FUZZ_ASSERT(!p && err[0] && memchr(err, '\0', sizeof err));
	} else {
		char why[512];
		char name[] = "d", scope[] = "zones/z";
		struct cf_resource src = {.kind = CF_KIND_DISK, .name = name, .scope = scope};
		enum cf_consistency c;
		FUZZ_ASSERT(p);
		cf_policy_may_clone_caller(p, 1000, 1000, NULL, 0, why, sizeof why);
		cf_policy_may_clone_source(p, &src, why, sizeof why);
		cf_policy_consistency(p, &src, &c, why, sizeof why);
		cf_policy_check_depth(p, 3, why, sizeof why);
		cf_policy_check_quota(p, 7, why, sizeof why);
		cf_policy_free(p);
	}
	free(s);
	return 0;
}
