/* fuzz_aggregated.c — one page of an aggregated listing (disks, instances:
 * items is an object of scopes) through cf_gce_decode_page: every scope kept
 * is "zones/Z" or "regions/R" with one safe component, every item keeps
 * fuzz.h's promises. */
#include "fuzz.h"
#include "gce.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const enum cf_listing agg[] = {CF_LIST_DISKS, CF_LIST_INSTANCES};
	fuzz_quiet();
	for (size_t i = 0; i < sizeof agg / sizeof agg[0]; i++) {
		struct cf_page p;
		struct cf_error err = {0};
		int rc = cf_gce_decode_page((const char *) data, size, agg[i], &p, &err);
		fuzz_check_page(&p, rc, &err);
		for (size_t j = 0; j < p.n; j++)
			FUZZ_ASSERT(p.items[j].kind ==
				    (agg[i] == CF_LIST_DISKS ? CF_KIND_DISK : CF_KIND_INSTANCE));
		cf_page_clear(&p);
	}
	return 0;
}
