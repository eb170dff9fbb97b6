/* test_model.c — path grammar and name safety: the rules that keep every
 * name from outside inside the mount. */
#include "layout.h"
#include "provider.h"
#include "model.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>

static void test_names(void)
{
	CHECK(cf_name_is_safe("snap-1", 6));
	CHECK(cf_name_is_safe("caf\xc3\xa9", 5)); /* UTF-8 é */
	CHECK(!cf_name_is_safe("", 0));
	CHECK(!cf_name_is_safe(".", 1));
	CHECK(!cf_name_is_safe("..", 2));
	CHECK(cf_name_is_safe("...", 3));
	CHECK(!cf_name_is_safe("a/b", 3));
	CHECK(!cf_name_is_safe("a\0b", 3));
	CHECK(!cf_name_is_safe("a\nb", 3));
	CHECK(!cf_name_is_safe("\xff", 1));	    /* not UTF-8 */
	CHECK(!cf_name_is_safe("\xc0\xaf", 2));	    /* overlong '/' */
	CHECK(!cf_name_is_safe("\xed\xa0\x80", 3)); /* surrogate */
	char big[300];
	memset(big, 'a', sizeof big);
	CHECK(cf_name_is_safe(big, 255));
	CHECK(!cf_name_is_safe(big, 256));
}

static void test_paths(void)
{
	char buf[CF_PATH_MAX], scope[256], name[256];
	enum cf_kind k;
	CHECK_EQ_INT(cf_resource_path(CF_KIND_SNAPSHOT, "global", "s1", buf, sizeof buf), 19);
	CHECK_EQ_STR(buf, "global/snapshots/s1");
	CHECK(cf_resource_path(CF_KIND_DISK, "zones/us-central1-a", "d", buf, sizeof buf) > 0);
	CHECK_EQ_STR(buf, "zones/us-central1-a/disks/d");
	CHECK(cf_resource_path(CF_KIND_DISK, "regions/us-central1", "d", buf, sizeof buf) > 0);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_INSTANCE, "regions/r", "i", buf, sizeof buf),
		     -EINVAL);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_SNAPSHOT, "zones/z", "s", buf, sizeof buf), -EINVAL);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_SNAPSHOT, "global", "..", buf, sizeof buf), -EINVAL);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_SNAPSHOT, "global", "a/b", buf, sizeof buf), -EINVAL);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_DISK, "zones/..", "d", buf, sizeof buf), -EINVAL);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_ZONE, "global", "z", buf, sizeof buf), -EINVAL);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_SNAPSHOT, "global", "s1", buf, 5), -ENAMETOOLONG);

	CHECK_EQ_INT(
	    cf_path_parse("zones/z1/disks/d-1", &k, scope, sizeof scope, name, sizeof name), 0);
	CHECK_EQ_INT(k, CF_KIND_DISK);
	CHECK_EQ_STR(scope, "zones/z1");
	CHECK_EQ_STR(name, "d-1");
	CHECK_EQ_INT(
	    cf_path_parse("global/machineImages/m", &k, scope, sizeof scope, name, sizeof name), 0);
	CHECK_EQ_INT(k, CF_KIND_MACHINE_IMAGE);
	CHECK_EQ_STR(scope, "global");
	CHECK_EQ_INT(cf_path_parse("regions/r/disks/x", &k, NULL, 0, NULL, 0), 0);
	CHECK_EQ_INT(cf_path_parse("regions/r/instances/x", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("global/snapshots", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("global/snapshots/a/b", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("global/snapshots/..", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("zones/../disks/d", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("global/snapshots/", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("/global/snapshots/s", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("global/widgets/s", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse(NULL, &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("global/snapshots/s", &k, scope, 3, NULL, 0), -ENAMETOOLONG);
}

static void test_kinds(void)
{
	CHECK_EQ_STR(cf_kind_name(CF_KIND_MACHINE_IMAGE), "machineImage");
	CHECK_EQ_INT(cf_kind_from_name("disk"), CF_KIND_DISK);
	CHECK_EQ_INT(cf_kind_from_name("widget"), CF_KIND_NONE);
	CHECK(cf_kind_collection(CF_KIND_ZONE) == NULL);
	struct cf_resource r = {0};
	r.name = strdup("x");
	r.nlabels = 1;
	r.labels = calloc(1, sizeof *r.labels);
	r.labels[0].key = strdup("k");
	cf_resource_clear(&r);
	CHECK(r.name == NULL && r.labels == NULL && r.nlabels == 0);
}

int main(void)
{
	cf_layout_use(&cf_gce_layout);
	test_names();
	test_paths();
	test_kinds();
	return check_summary();
}
