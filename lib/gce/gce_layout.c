/* gce_layout.c — the tree a Compute Engine project shows (layout.h).
 *
 * The API's own resource paths: global/snapshots/S, global/images/I,
 * global/machineImages/M, zones/Z/disks/D, regions/R/disks/D,
 * zones/Z/instances/I; a disk's clones are its snapshots/, an instance's its
 * clones/ (machine images). */
#include "gce.h"
#include "layout.h"
#include "provider.h"

enum { GLOBAL = 0, ZONES = 1, REGIONS = 2 };

const struct cf_layout cf_gce_layout = {
    .provider = "gce",
    .nscopes = 3,
    .scopes =
	{
	    [GLOBAL] = {"global", CF_KIND_NONE, 0},
	    [ZONES] = {"zones", CF_KIND_ZONE, CF_LIST_ZONES},
	    [REGIONS] = {"regions", CF_KIND_REGION, CF_LIST_REGIONS},
	},
    .kinds =
	{
	    [CF_KIND_SNAPSHOT] = {"snapshot", "snapshots", 1u << GLOBAL, CF_LIST_SNAPSHOTS, true},
	    [CF_KIND_IMAGE] = {"image", "images", 1u << GLOBAL, CF_LIST_IMAGES, true},
	    [CF_KIND_MACHINE_IMAGE] = {"machineImage", "machineImages", 1u << GLOBAL,
				       CF_LIST_MACHINE_IMAGES, true},
	    [CF_KIND_DISK] = {"disk", "disks", 1u << ZONES | 1u << REGIONS, CF_LIST_DISKS, false},
	    [CF_KIND_INSTANCE] = {"instance", "instances", 1u << ZONES, CF_LIST_INSTANCES, false},
	    [CF_KIND_ZONE] = {"zone", NULL, 0, CF_LIST_ZONES, false},
	    [CF_KIND_REGION] = {"region", NULL, 0, CF_LIST_REGIONS, false},
	},
    .listings =
	{
	    [CF_LIST_ZONES] = "zones",
	    [CF_LIST_REGIONS] = "regions",
	    [CF_LIST_DISKS] = "disks",
	    [CF_LIST_INSTANCES] = "instances",
	    [CF_LIST_SNAPSHOTS] = "snapshots",
	    [CF_LIST_IMAGES] = "images",
	    [CF_LIST_MACHINE_IMAGES] = "machineImages",
	},
    .views =
	{
	    {"snapshots", CF_KIND_SNAPSHOT, CF_KIND_DISK},
	    {"clones", CF_KIND_MACHINE_IMAGE, CF_KIND_INSTANCE},
	},
    .links_dir = "disks",
};
