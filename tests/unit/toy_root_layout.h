/* toy_root_layout.h — an AWS-like tree for the tests: one fixed scope that
 * is the mount root (""), so every collection is a top-level directory
 * (snapshots/, images/, volumes/, instances/), no zones or regions (their
 * listings are not named and never walked), a volume's snapshots/ and an
 * instance's images/ as views, its volumes/ as links; entries named from
 * the API's data (name_pref, else the id), the label "Name" naming them. */
#ifndef CLONEFS_TOY_ROOT_LAYOUT_H
#define CLONEFS_TOY_ROOT_LAYOUT_H

#include "layout.h"

static const struct cf_layout toy_root_layout = {
    .provider = "toyroot",
    .nscopes = 1,
    .scopes = {{"", CF_KIND_NONE, 0}},
    .kinds =
	{
	    [CF_KIND_SNAPSHOT] = {"snapshot", "snapshots", 1u, CF_LIST_SNAPSHOTS, true},
	    [CF_KIND_MACHINE_IMAGE] = {"image", "images", 1u, CF_LIST_MACHINE_IMAGES, true},
	    [CF_KIND_IMAGE] = {"diskimage", NULL, 0, -1, false},
	    [CF_KIND_DISK] = {"volume", "volumes", 1u, CF_LIST_DISKS, false},
	    [CF_KIND_INSTANCE] = {"instance", "instances", 1u, CF_LIST_INSTANCES, false},
	    [CF_KIND_ZONE] = {"zone", NULL, 0, -1, false},
	    [CF_KIND_REGION] = {"region", NULL, 0, -1, false},
	},
    .listings =
	{
	    [CF_LIST_DISKS] = "volumes",
	    [CF_LIST_INSTANCES] = "instances",
	    [CF_LIST_SNAPSHOTS] = "snapshots",
	    [CF_LIST_MACHINE_IMAGES] = "images",
	},
    .views =
	{
	    {"snapshots", CF_KIND_SNAPSHOT, CF_KIND_DISK},
	    {"images", CF_KIND_MACHINE_IMAGE, CF_KIND_INSTANCE},
	},
    .links_dir = "volumes",
    .pref_names = true,
    .name_label = "Name",
};

#endif
