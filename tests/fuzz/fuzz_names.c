/* fuzz_names.c — names and label keys and values, from users (mkdir,
 * setfattr) and from the API (URLs of sources and links): whatever a check
 * accepts is one safe path component or a path that parses back into the
 * layout, and the label-value mapping always yields a valid value. */
#include "fuzz.h"
#include "gce.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	fuzz_quiet();
	char *s = fuzz_string(data, size);
	size_t len = size; /* may hold NULs: the checks take a length */

	if (cf_gce_name_valid(s, len)) {
		FUZZ_ASSERT(len <= 63 && cf_name_is_safe(s, len));
		char path[CF_PATH_MAX];
		FUZZ_ASSERT(cf_resource_path(CF_KIND_SNAPSHOT, "global", s, path, sizeof path) > 0);
		fuzz_check_resource_path(path);
	}
	if (cf_name_is_safe(s, len))
		FUZZ_ASSERT(len <= CF_NAME_MAX && !memchr(s, '/', len) && !memchr(s, '\0', len) &&
			    strcmp(s, ".") && strcmp(s, ".."));
	/* a valid label is sane text (UTF-8, 63 characters, no control), fits an xattr
	 * value of CF_LABEL_BYTES_MAX, and is never upper-case ASCII */
	if (cf_gce_label_key_valid(s, len))
		FUZZ_ASSERT(len > 0 && len <= CF_LABEL_BYTES_MAX && !memchr(s, '\0', len) &&
			    cf_label_text_sane(s, len, true) && s[0] != '-' && s[0] != '_' &&
			    !(s[0] >= '0' && s[0] <= '9'));
	if (cf_gce_label_value_valid(s, len))
		FUZZ_ASSERT(len <= CF_LABEL_BYTES_MAX && !memchr(s, '\0', len) &&
			    cf_label_text_sane(s, len, false));
	for (size_t i = 0; cf_gce_label_value_valid(s, len) && i < len; i++)
		FUZZ_ASSERT(!(s[i] >= 'A' && s[i] <= 'Z'));

	char mapped[64];
	cf_label_value_map(s, mapped);
	FUZZ_ASSERT(cf_gce_label_value_valid(mapped, strlen(mapped)));

	enum cf_kind k;
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1], out[CF_PATH_MAX];
	if (cf_path_parse(s, &k, scope, sizeof scope, name, sizeof name) == 0) {
		fuzz_check_path(s);
		FUZZ_ASSERT(cf_resource_path(k, scope, name, out, sizeof out) > 0 &&
			    !strcmp(out, s));
	}
	if (cf_gce_path_from_url(s, out, sizeof out) == 0)
		fuzz_check_resource_path(out);
	if (cf_gce_scope_from_url(s, out, sizeof out) == 0) {
		fuzz_check_path(out);
		FUZZ_ASSERT(!strncmp(out, "zones/", 6) || !strncmp(out, "regions/", 8));
	}
	free(s);
	return 0;
}
