/* fuzz_timestamp.c — RFC 3339 timestamps as the API writes them
 * (creationTimestamp) through cf_time_parse: refused, or a time whose UTC
 * formatting parses back to the same second. */
#include "fuzz.h"
#include "timefmt.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	fuzz_quiet();
	char *s = fuzz_string(data, size);
	int64_t sec, again;
	uint32_t ns, ns2;
	int rc = cf_time_parse(s, &sec, &ns);
	FUZZ_ASSERT(rc == 0 || rc == -EINVAL);
	if (rc == 0) {
		char buf[64];
		FUZZ_ASSERT(ns < 1000000000u);
		if (cf_time_format(sec, buf, sizeof buf) >= 0) {
			FUZZ_ASSERT(cf_time_parse(buf, &again, &ns2) == 0);
			FUZZ_ASSERT(again == sec && ns2 == 0);
		}
	}
	free(s);
	return 0;
}
