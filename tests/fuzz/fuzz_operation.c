/* fuzz_operation.c — a compute#operation document (every write's answer and
 * op_poll's) through cf_gce_decode_operation: refused with a reason, or a
 * name, a status and a scope a poll URL can be built from; a failed one
 * carries a one-line message. */
#include "fuzz.h"
#include "gce.h"

#include <errno.h>
#include <jansson.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	fuzz_quiet();
	json_t *doc =
	    json_loadb((const char *) data, size, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, NULL);
	if (!doc)
		return 0;
	struct cf_operation op;
	struct cf_error err = {0};
	int rc = cf_gce_decode_operation(doc, &op, &err);
	FUZZ_ASSERT(rc == 0 || rc == -EPROTO || rc == -ENOMEM);
	if (rc == 0) {
		FUZZ_ASSERT(op.name && *op.name && !strchr(op.name, '/') && op.status && op.scope);
		FUZZ_ASSERT(!strcmp(op.scope, "global") || !strncmp(op.scope, "zones/", 6) ||
			    !strncmp(op.scope, "regions/", 8));
		fuzz_check_path(op.scope);
		if (op.target)
			fuzz_check_resource_path(op.target);
		FUZZ_ASSERT(!op.failed || op.done);
		if (op.failed)
			FUZZ_ASSERT(!strchr(op.err.message, '\n') && !strchr(op.err.reason, '\n'));
		cf_operation_clear(&op);
	} else {
		FUZZ_ASSERT(!op.name && !op.scope);
	}
	json_decref(doc);
	return 0;
}
