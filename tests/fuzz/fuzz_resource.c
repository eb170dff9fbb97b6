/* fuzz_resource.c — one API document (a snapshot, image, machine image, disk,
 * instance, zone or region as GET returns it) through cf_gce_decode_resource,
 * as every kind and with the kind taken from the document; what decodes
 * keeps fuzz.h's promises. */
#include "fuzz.h"
#include "gce.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const struct {
		enum cf_kind kind;
		const char *hint;
	} as[] = {
	    {CF_KIND_NONE, NULL},
	    {CF_KIND_SNAPSHOT, "global"},
	    {CF_KIND_IMAGE, "global"},
	    {CF_KIND_MACHINE_IMAGE, "global"},
	    {CF_KIND_DISK, "zones/us-central1-a"},
	    {CF_KIND_DISK, "regions/us-central1"},
	    {CF_KIND_INSTANCE, "zones/us-central1-a"},
	    {CF_KIND_ZONE, NULL},
	    {CF_KIND_REGION, NULL},
	};
	fuzz_quiet();
	for (size_t i = 0; i < sizeof as / sizeof as[0]; i++) {
		struct cf_resource r;
		char why[256];
		int rc = cf_gce_decode_resource((const char *) data, size, as[i].kind, as[i].hint,
						&r, why, sizeof why);
		FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
		if (rc == 0) {
			fuzz_check_resource(&r);
			/* resource.json is a span of the input, whole JSON value */
			FUZZ_ASSERT(!r.raw ||
				    (r.raw_len <= size && memmem(data, size, r.raw, r.raw_len)));
			FUZZ_ASSERT(as[i].kind == CF_KIND_NONE || r.kind == as[i].kind);
			cf_resource_clear(&r);
		} else {
			FUZZ_ASSERT(memchr(why, '\0', sizeof why) && !strchr(why, '\n'));
		}
	}
	return 0;
}
