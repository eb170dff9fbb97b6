/* aws_layout.c — the tree an AWS region shows (layout.h), in AWS's words.
 *
 *   snapshots/NAME   EBS snapshots (DescribeSnapshots Owner=self)
 *   images/NAME      AMIs (DescribeImages Owner=self)
 *   volumes/NAME     EBS volumes; volumes/NAME/snapshots/ lists and makes
 *                    its snapshots
 *   instances/NAME   instances not terminated; instances/NAME/images/ lists
 *                    and makes its AMIs, instances/NAME/volumes/ links to
 *                    its volumes
 *
 * Everything lives in the one root scope (a region has no folders a user
 * sees: availability zones are an attribute). An AMI is the model's machine
 * image (made from an instance, every volume of it); the model's plain image
 * kind has no place here. Zones and regions name no scopes, and the listings the table leaves
 * unnamed (zones, regions, plain images) are never walked. */
#include "aws.h"
#include "layout.h"
#include "provider.h"

enum { ROOT = 0 };

const struct cf_layout cf_aws_layout = {
    .provider = "aws",
    .nscopes = 1,
    .scopes =
	{
	    [ROOT] = {"", CF_KIND_NONE, 0},
	},
    .kinds =
	{
	    [CF_KIND_SNAPSHOT] = {"snapshot", "snapshots", 1u << ROOT, CF_LIST_SNAPSHOTS, true},
	    [CF_KIND_IMAGE] = {"plainImage", NULL, 0, -1, false},
	    [CF_KIND_MACHINE_IMAGE] = {"image", "images", 1u << ROOT, CF_LIST_MACHINE_IMAGES, true},
	    [CF_KIND_DISK] = {"volume", "volumes", 1u << ROOT, CF_LIST_DISKS, false},
	    [CF_KIND_INSTANCE] = {"instance", "instances", 1u << ROOT, CF_LIST_INSTANCES, false},
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
    /* entries are Name tags (an AMI's name) where usable, else ids */
    .pref_names = true,
    /* setfattr user.Name renames, mkdir NAME sets it (an AMI's own name
     * cannot change: its entry follows the AMI name, not the tag) */
    .name_label = "Name",
};
