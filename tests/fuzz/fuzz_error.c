/* fuzz_error.c — a non-2xx answer's body (the error envelope
 * {"error":{"code","message","errors":[{"reason"}]}}, or anything else a
 * proxy sends) through cf_gce_decode_error, under several statuses: always a
 * message of one printable line and a reason fit for the errno table; and the
 * Retry-After header's parser. */
#include "fuzz.h"
#include "gce.h"
#include "http.h"
#include "provider.h"

#include <errno.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const long statuses[] = {400, 403, 404, 409, 412, 429, 500, 503, 302, 999};
	fuzz_quiet();
	for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
		struct cf_error err;
		cf_gce_decode_error(statuses[i], (const char *) data, size, &err);
		FUZZ_ASSERT(err.http_status == statuses[i]);
		FUZZ_ASSERT(memchr(err.message, '\0', sizeof err.message));
		FUZZ_ASSERT(memchr(err.reason, '\0', sizeof err.reason));
		for (const char *m = err.message; *m; m++)
			FUZZ_ASSERT((unsigned char) *m >= 0x20 && *m != 0x7f);
		int e = cf_gce_errno(&err);
		FUZZ_ASSERT(err.errnum == e);
		FUZZ_ASSERT(e < 0 && e > -4096);
	}
	char *s = fuzz_string(data, size);
	long ms = cf_http_parse_retry_after(s, 1700000000L);
	FUZZ_ASSERT(ms >= -1);
	free(s);
	return 0;
}
