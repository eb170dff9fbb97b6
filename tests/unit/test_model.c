/* test_model.c — path grammar and name safety: the rules that keep every
 * name from outside inside the mount. */
#include "gce.h"
#include "layout.h"
#include "provider.h"
#include "model.h"

#include "check.h"
#include "toy_layout.h"

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
	/* an empty collection matches no kind (zones and regions have none) */
	CHECK_EQ_INT(cf_path_parse("global//x", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("zones/z1//x", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_collection_kind("global/", 7), CF_KIND_NONE);
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

/* Another provider's tree: its words, and none of GCE's. */
static void test_other_layout(void)
{
	char buf[CF_PATH_MAX], scope[256], name[256];
	enum cf_kind k;
	CHECK_EQ_INT(cf_layout_use(&toy_layout), 0);
	CHECK(cf_layout() == &toy_layout);
	CHECK(cf_resource_path(CF_KIND_DISK, "lands/a", "v1", buf, sizeof buf) > 0);
	CHECK_EQ_STR(buf, "lands/a/volumes/v1");
	CHECK(cf_resource_path(CF_KIND_SNAPSHOT, "here", "s", buf, sizeof buf) > 0);
	CHECK_EQ_STR(buf, "here/snaps/s");
	CHECK_EQ_INT(cf_resource_path(CF_KIND_SNAPSHOT, "global", "s", buf, sizeof buf), -EINVAL);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_DISK, "zones/z", "d", buf, sizeof buf), -EINVAL);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_DISK, "here", "d", buf, sizeof buf), -EINVAL);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_DISK, "lands", "d", buf, sizeof buf), -EINVAL);
	CHECK_EQ_INT(cf_resource_path(CF_KIND_DISK, "lands/..", "d", buf, sizeof buf), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("lands/a/vms/i", &k, scope, sizeof scope, name, sizeof name), 0);
	CHECK_EQ_INT(k, CF_KIND_INSTANCE);
	CHECK_EQ_STR(scope, "lands/a");
	CHECK_EQ_STR(name, "i");
	CHECK_EQ_INT(cf_path_parse("here/templates/t", &k, scope, sizeof scope, NULL, 0), 0);
	CHECK_EQ_INT(k, CF_KIND_MACHINE_IMAGE);
	CHECK_EQ_STR(scope, "here");
	CHECK_EQ_INT(cf_path_parse("global/snapshots/s", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("zones/z/disks/d", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("here/a/snaps/s", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_INT(cf_path_parse("lands/snaps/s", &k, NULL, 0, NULL, 0), -EINVAL);
	CHECK_EQ_STR(cf_kind_name(CF_KIND_DISK), "volume");
	CHECK_EQ_INT(cf_kind_from_name("volume"), CF_KIND_DISK);
	CHECK_EQ_INT(cf_kind_from_name("disk"), CF_KIND_NONE);
	CHECK_EQ_STR(cf_listing_name(CF_LIST_DISKS), "volumes");
	CHECK_EQ_INT(cf_scope_path(CF_KIND_ZONE, "a", buf, sizeof buf), 7);
	CHECK_EQ_STR(buf, "lands/a");
	CHECK_EQ_INT(cf_scope_path(CF_KIND_REGION, "r", buf, sizeof buf), -EINVAL);
	CHECK_EQ_INT(cf_scope_type("lands/a", 7), TOY_LANDS);
	CHECK_EQ_INT(cf_scope_type("here", 4), TOY_HERE);
	CHECK_EQ_INT(cf_scope_type("global", 6), -1);
	CHECK_EQ_STR(cf_kind_home(CF_KIND_IMAGE), "here");
	CHECK_EQ_STR(cf_kind_home(CF_KIND_NONE), "here");
	CHECK(cf_kind_home(CF_KIND_DISK) == NULL);
	CHECK_EQ_INT(cf_collection_kind("here/amis", 9), CF_KIND_IMAGE);
	CHECK_EQ_INT(cf_collection_kind("lands/a/volumes", 15), CF_KIND_DISK);
	CHECK_EQ_INT(cf_collection_kind("global/images", 13), CF_KIND_NONE);
	CHECK(cf_kind_trashable(CF_KIND_IMAGE) && !cf_kind_trashable(CF_KIND_DISK));
	struct cf_layout_coll cs[8];
	CHECK_EQ_INT(cf_layout_sweep_of(CF_LIST_DISKS, cs, 8), 1);
	CHECK(cs[0].scope == TOY_LANDS && cs[0].kind == CF_KIND_DISK);
	CHECK_EQ_INT(cf_layout_sweep_of(CF_LIST_ZONES, cs, 8), 1);
	CHECK(cs[0].scope == TOY_LANDS && cs[0].kind == CF_KIND_NONE);
	CHECK_EQ_INT(cf_layout_sweep_of(CF_LIST_REGIONS, cs, 8), 0);

	/* A table that cannot be walked is refused, and the old one stays. */
	struct cf_layout bad = toy_layout;
	bad.kinds[CF_KIND_DISK].trashable = true; /* a trash only in fixed scopes */
	CHECK_EQ_INT(cf_layout_use(&bad), -EINVAL);
	bad = toy_layout;
	bad.scopes[TOY_LANDS].dir = "lands/x";
	CHECK_EQ_INT(cf_layout_use(&bad), -EINVAL);
	CHECK(cf_layout() == &toy_layout);
	CHECK_EQ_INT(cf_layout_use(&cf_gce_layout), 0);
}

/* GCE's table gives the sweep map the store had by heart. */
static void test_gce_sweeps(void)
{
	struct cf_layout_coll cs[8];
	CHECK_EQ_INT(cf_layout_sweep_of(CF_LIST_DISKS, cs, 8), 2);
	CHECK_EQ_STR(cf_layout()->scopes[cs[0].scope].dir, "zones");
	CHECK_EQ_STR(cf_layout()->scopes[cs[1].scope].dir, "regions");
	CHECK(cs[0].kind == CF_KIND_DISK && cs[1].kind == CF_KIND_DISK);
	CHECK_EQ_INT(cf_layout_sweep_of(CF_LIST_INSTANCES, cs, 8), 1);
	CHECK_EQ_STR(cf_layout()->scopes[cs[0].scope].dir, "zones");
	CHECK_EQ_INT(cf_layout_sweep_of(CF_LIST_MACHINE_IMAGES, cs, 8), 1);
	CHECK_EQ_STR(cf_layout()->scopes[cs[0].scope].dir, "global");
	CHECK_EQ_INT(cf_layout_sweep_of(CF_LIST_REGIONS, cs, 8), 1);
	CHECK(cs[0].kind == CF_KIND_NONE);
	CHECK_EQ_STR(cf_layout()->scopes[cs[0].scope].dir, "regions");
	CHECK_EQ_STR(cf_kind_home(CF_KIND_SNAPSHOT), "global");
	CHECK_EQ_INT(cf_collection_kind("global/machineImages", 20), CF_KIND_MACHINE_IMAGE);
	CHECK_EQ_INT(cf_collection_kind("zones/z/instances", 17), CF_KIND_INSTANCE);
	CHECK_EQ_INT(cf_collection_kind("regions/r/instances", 19), CF_KIND_NONE);
	/* An empty collection is no kind's, not even a kind that has no
	 * collection (zones, regions): those are not compared (a NULL to memcmp,
	 * which UBSan stops, as the fuzzer found with the second one). */
	CHECK_EQ_INT(cf_collection_kind("zones/z/", 8), CF_KIND_NONE);
	CHECK_EQ_INT(cf_path_parse("regions/us-://central1", NULL, NULL, 0, NULL, 0), -EINVAL);
}

int main(void)
{
	cf_layout_use(&cf_gce_layout);
	test_names();
	test_paths();
	test_gce_sweeps();
	test_other_layout();
	test_kinds();
	return check_summary();
}
