/* fuzz_policy.c — a policy file through cf_policy_parse, its labels judged by
 * GCE's rules as in a gce: mount: refused with the key and the problem in one
 * line, or a policy whose decisions can be asked. */
#include "fuzz.h"
#include "gce.h"
#include "policy.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	fuzz_quiet();
	char *s = fuzz_string(data, size);
	struct cf_policy *p = NULL;
	char err[512] = "";
	int rc = cf_policy_parse(s, cf_gce_text_valid, &p, err, sizeof err);
	if (rc) {
		FUZZ_ASSERT(!p && err[0] && memchr(err, '\0', sizeof err));
	} else {
		char why[512];
		char name[] = "d", scope[] = "zones/z";
		struct cf_resource src = {.kind = CF_KIND_DISK, .name = name, .scope = scope};
		enum cf_consistency c;
		FUZZ_ASSERT(p);
		gid_t groups[] = {27, 1000};
		struct cf_caller who = {.uid = 1000, .gid = 1000, .groups = groups, .ngroups = 2};
		for (int r = CF_RIGHT_CLONE; r <= CF_RIGHT_LABEL; r++) {
			int rc2 = cf_policy_may(p, (enum cf_right) r, &who, why, sizeof why);
			FUZZ_ASSERT(rc2 == 0 || (rc2 == -EACCES && memchr(why, '\0', sizeof why)));
		}
		cf_policy_label_right(p, "keep");
		cf_policy_may_clone_source(p, &src, why, sizeof why);
		cf_policy_consistency(p, &src, &c, why, sizeof why);
		cf_policy_check_depth(p, 3, why, sizeof why);
		cf_policy_check_quota(p, 7, why, sizeof why);
		cf_policy_free(p);
	}
	free(s);
	return 0;
}
