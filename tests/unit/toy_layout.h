/* toy_layout.h — a second provider's tree for the tests: other words
 * everywhere (here/, lands/L/, volumes/, backups/), so that a name the core
 * still knows by heart shows up as a failure. */
#ifndef CLONEFS_TOY_LAYOUT_H
#define CLONEFS_TOY_LAYOUT_H

#include "layout.h"

enum { TOY_HERE = 0, TOY_LANDS = 1 };

static const struct cf_layout toy_layout = {
    .provider = "toy",
    .nscopes = 2,
    .scopes =
	{
	    [TOY_HERE] = {"here", CF_KIND_NONE, 0},
	    [TOY_LANDS] = {"lands", CF_KIND_ZONE, CF_LIST_ZONES},
	},
    .kinds =
	{
	    [CF_KIND_SNAPSHOT] = {"snap", "snaps", 1u << TOY_HERE, CF_LIST_SNAPSHOTS, true},
	    [CF_KIND_IMAGE] = {"ami", "amis", 1u << TOY_HERE, CF_LIST_IMAGES, true},
	    [CF_KIND_MACHINE_IMAGE] = {"template", "templates", 1u << TOY_HERE,
				       CF_LIST_MACHINE_IMAGES, true},
	    [CF_KIND_DISK] = {"volume", "volumes", 1u << TOY_LANDS, CF_LIST_DISKS, false},
	    [CF_KIND_INSTANCE] = {"vm", "vms", 1u << TOY_LANDS, CF_LIST_INSTANCES, false},
	    [CF_KIND_ZONE] = {"land", NULL, 0, CF_LIST_ZONES, false},
	    [CF_KIND_REGION] = {"region", NULL, 0, CF_LIST_REGIONS, false},
	},
    .listings =
	{
	    [CF_LIST_ZONES] = "lands",
	    [CF_LIST_REGIONS] = "regions",
	    [CF_LIST_DISKS] = "volumes",
	    [CF_LIST_INSTANCES] = "vms",
	    [CF_LIST_SNAPSHOTS] = "snaps",
	    [CF_LIST_IMAGES] = "amis",
	    [CF_LIST_MACHINE_IMAGES] = "templates",
	},
    .views =
	{
	    {"backups", CF_KIND_SNAPSHOT, CF_KIND_DISK},
	    {"copies", CF_KIND_MACHINE_IMAGE, CF_KIND_INSTANCE},
	},
    .links_dir = "volumes",
};

#endif
