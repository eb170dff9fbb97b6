/* model.h — the provider-neutral resource model and the grammar of paths.
 *
 * A resource is what a provider's decoder produces from one document of the
 * cloud API: a snapshot, an image, a machine image, a disk, an instance, or
 * a zone / region (which only become directories). Nothing above lib/ sees a
 * provider's JSON; it sees struct cf_resource and the paths built here.
 *
 * Paths are relative to the project: SCOPE/COLLECTION/NAME, where the scopes
 * and collections are the installed provider's layout (layout.h). GCE's are
 * the API's own resource paths:
 *   global/snapshots/NAME        zones/Z/disks/NAME     regions/R/disks/NAME
 *   global/images/NAME           zones/Z/instances/NAME
 *   global/machineImages/NAME
 * A scope is a fixed one ("global") or a named one ("zones/Z"); a fixed
 * scope may be the mount root itself (""), whose collections are top-level
 * directories (COLLECTION/NAME: an AWS region's snapshots/). Every call
 * here needs a layout installed (cf_layout_use). A resource's identity in
 * the cloud is its id; its entry name is `name` (on GCE the two coincide in
 * use, on AWS the name may be a Name tag), so nothing assumes name == id. */
#ifndef CLONEFS_MODEL_H
#define CLONEFS_MODEL_H

#include <stddef.h>
#include <stdint.h>

enum cf_kind {
	CF_KIND_NONE = 0,
	CF_KIND_SNAPSHOT,
	CF_KIND_IMAGE,
	CF_KIND_MACHINE_IMAGE,
	CF_KIND_DISK,
	CF_KIND_INSTANCE,
	CF_KIND_ZONE,
	CF_KIND_REGION,
	CF_KIND__COUNT
};

/* The listings a sync walks, each one complete listing of a collection (or,
 * for zonal kinds, of every scope at once through an aggregated list). */
enum cf_listing {
	CF_LIST_ZONES = 0,
	CF_LIST_REGIONS,
	CF_LIST_DISKS, /* zonal and regional disks */
	CF_LIST_INSTANCES,
	CF_LIST_SNAPSHOTS,
	CF_LIST_IMAGES,
	CF_LIST_MACHINE_IMAGES,
	CF_LIST__COUNT
};

/* A listing's name: "zones", "disks", "machineImages", ... ("unknown" out of
 * range). Log lines, status, metrics and the store's sync-state keys use it. */
const char *cf_listing_name(enum cf_listing l);

struct cf_label {
	char *key;
	char *value;
};

/* One decoded resource. Every string is NUL-terminated, heap-allocated and
 * owned by the struct (cf_resource_clear frees them); any may be NULL when
 * the API did not say. Paths (source, origin, links) are project-relative
 * resource paths as cf_path_from_url returns them, already validated. */
struct cf_resource {
	enum cf_kind kind;
	char *scope; /* "global", "zones/us-central1-a", "regions/us-central1" */
	char *name;  /* entry name, validated by cf_name_is_safe */
	/* A name the provider would rather show, judged safe and not shaped
	 * like an id (AWS: the Name tag); NULL: none. A provider that sets it
	 * sets name to the id: the store lists the resource under name_pref
	 * when it holds it in its collection (no other resource of the
	 * collection prefers it, or this one is the oldest that does: creation
	 * time, then id), else under its id; the record keeps the name shown. */
	char *name_pref;
	char *id;	 /* provider id (GCE: uint64 as decimal) */
	char *status;	 /* READY, CREATING, RUNNING, TERMINATED, ... */
	int64_t created; /* creation time, seconds since the epoch, UTC */
	uint32_t created_ns;
	uint64_t size_bytes;   /* logical size (diskSizeGb << 30) */
	uint64_t stored_bytes; /* bytes billed (storageBytes); 0 when unknown */
	char *fingerprint;     /* labelFingerprint, needed to set labels */
	struct cf_label *labels;
	size_t nlabels;
	char *source;	 /* made from: snapshot/image -> disk, machine image -> instance */
	char *source_id; /* sourceDiskId etc., as the API sent it (may be negative) */
	char *origin;	 /* lineage: disk <- sourceSnapshot/sourceImage,
			  * instance <- sourceMachineImage, image <- sourceImage */
	char **links;	 /* instance: attached disk paths; disk: user instance paths */
	size_t nlinks;
	char *raw; /* the provider's document for it, as received (resource.json) */
	size_t raw_len;
};

void cf_resource_clear(struct cf_resource *r);

/* The layout's name for a kind ("snapshot", "disk", ...) and back;
 * CF_KIND_NONE when unknown. */
const char *cf_kind_name(enum cf_kind k);
enum cf_kind cf_kind_from_name(const char *s);

/* The collection directory a kind lives in (GCE: "snapshots", "images",
 * "machineImages", "disks", "instances"); NULL for a kind that names scopes. */
const char *cf_kind_collection(enum cf_kind k);

/* Build "SCOPE/COLLECTION/NAME" into buf. Returns the length, or -ENAMETOOLONG
 * / -EINVAL (kind without a collection, unsafe name). */
int cf_resource_path(enum cf_kind k, const char *scope, const char *name, char *buf, size_t size);

/* Build a collection's path, "SCOPE/COLLECTION" ("COLLECTION" in the root
 * scope, ""), into buf: its length, or -EINVAL / -ENAMETOOLONG. */
int cf_collection_path(enum cf_kind k, const char *scope, char *buf, size_t size);

/* Parse a project-relative resource path back. scope_out receives the scope
 * (GCE: "global", "zones/Z" or "regions/R"); name_out the last component. Returns 0 or -EINVAL
 * for anything that is not exactly one of the layout's resource paths with
 * safe components. */
int cf_path_parse(const char *path, enum cf_kind *kind, char *scope_out, size_t scope_size,
		  char *name_out, size_t name_size);

/* A name that may become one directory entry: 1..255 bytes, valid UTF-8, no
 * '/', no NUL, no control character, not "." or "..". Everything the API
 * sends passes through this before it can become a path. */
int cf_name_is_safe(const char *name, size_t len);

/* Maximum sizes we accept from outside, whatever the API says. */
enum {
	CF_NAME_MAX = 255,
	CF_PATH_MAX = 1024,
	CF_LABELS_MAX = 64,
	CF_LABEL_KEY_MAX = 63,
	CF_LABEL_VALUE_MAX = 63,
	CF_RAW_MAX = 1 << 20, /* a resource document larger than 1 MiB is refused */
	CF_ID_MAX = 128,      /* a provider id and its NUL, as the engine compares them */
	CF_LINKS_MAX = 128,   /* attached disks per instance (GCE's limit) */
};

/* The largest size the mount shows, in bytes (1 EiB, 2^60): a larger diskSizeGb or
 * storageBytes (the API's are int64, and diskSizeGb << 30 leaves int64 at 8 EiB) is
 * shown as this, so st_size stays a positive off_t, stat and ls -l work, and sums of a
 * few stay within 64 bits. Compute Engine's largest disk is 64 TiB. */
#define CF_SIZE_MAX ((uint64_t) 1 << 60)

#endif
