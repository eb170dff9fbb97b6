/* fuzz_page.c — one page of a plain listing (snapshots, images, machine
 * images, zones, regions) through cf_gce_decode_page: it is refused whole
 * (err filled, nothing kept) or every item it keeps keeps fuzz.h's promises
 * and the page token is printable. */
#include "fuzz.h"
#include "gce.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const enum cf_listing plain[] = {CF_LIST_SNAPSHOTS, CF_LIST_IMAGES,
						CF_LIST_MACHINE_IMAGES, CF_LIST_ZONES,
						CF_LIST_REGIONS};
	fuzz_quiet();
	for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
		struct cf_page p;
		struct cf_error err = {0};
		int rc = cf_gce_decode_page((const char *) data, size, plain[i], &p, &err);
		fuzz_check_page(&p, rc, &err);
		cf_page_clear(&p);
	}
	return 0;
}
