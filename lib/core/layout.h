/* layout.h — a provider's tree, as data.
 *
 * Each provider declares the directories it shows: its scopes, per kind the
 * collection it lives in, the scopes it may live in, the listing that
 * returns it and whether it can be trashed, and a source's views of its
 * clones. The core (model, store, sync, engine, fs/) reads only this table,
 * so a second cloud shows its own words (AWS: volumes/) with no change
 * there. GCE's table is lib/gce/gce_layout.c.
 *
 * One layout per process: a mount has one provider, and the store must know
 * the tree before any provider is built (a read-only mount opens the store
 * first), so the table is static data installed with cf_layout_use before
 * the store opens. What the core derives from it (which collections each
 * scope has, what a listing's sweep covers, the trash containers) is
 * computed once there, so no request pays a string compare for it. */
#ifndef CLONEFS_LAYOUT_H
#define CLONEFS_LAYOUT_H

#include "model.h"

#include <stdbool.h>

enum { CF_LAYOUT_SCOPES_MAX = 4 };

/* A type of scope. A fixed scope (no naming kind) is the directory itself
 * ("global"); a named one is DIR/NAME, one per resource of the naming kind
 * ("zones/Z" for each zone), swept by the listing of that kind. A fixed
 * scope whose dir is "" is the mount root: its collections are top-level
 * directories (AWS: snapshots/, volumes/; trash/snapshots/ in the trash). */
struct cf_layout_scope {
	const char *dir;	 /* the top directory: "global", "zones" */
	enum cf_kind kind;	 /* the kind whose resources name the scopes; CF_KIND_NONE: fixed */
	enum cf_listing listing; /* named scopes: the listing that returns them */
};

/* Where a kind lives. The collections of a scope are those of the kinds that
 * fit it, in kind order; a listing's sweep covers the collections of the
 * kinds it returns. */
struct cf_layout_kind {
	const char *name;	/* "snapshot": log lines, status, the journal */
	const char *collection; /* "snapshots"; NULL for a kind that only names scopes */
	unsigned scopes;	/* bit i: may live in scope type i */
	int listing;		/* the listing that returns it (enum cf_listing), -1: none */
	bool trashable;		/* pruned through the trash; only in fixed scopes */
};

/* A source's view of the clones made from it (store.h's CF_SUB_SNAPSHOTS and
 * CF_SUB_CLONES): mkdir there makes one. */
struct cf_layout_view {
	const char *dir;     /* the directory in the source's: "snapshots" */
	enum cf_kind kind;   /* what it lists and makes: CF_KIND_SNAPSHOT */
	enum cf_kind source; /* whose directory holds it: CF_KIND_DISK */
};

struct cf_layout {
	const char *provider; /* "gce", for log lines */
	unsigned nscopes;     /* at most CF_LAYOUT_SCOPES_MAX */
	struct cf_layout_scope scopes[CF_LAYOUT_SCOPES_MAX];
	struct cf_layout_kind kinds[CF_KIND__COUNT];
	const char *listings[CF_LIST__COUNT]; /* each listing's name (cf_listing_name) */
	struct cf_layout_view views[2];	      /* [0] CF_SUB_SNAPSHOTS, [1] CF_SUB_CLONES */
	const char *links_dir; /* an instance's attached disks: "disks" (CF_SUB_DISKS) */
	/* Entry names come from the API's data (model.h's name_pref): a
	 * resource with an id is listed under its preferred name when it holds
	 * it, else under its id (AWS). false: name is the entry (GCE). */
	bool pref_names;
	/* The label whose value is a resource's preferred name (AWS: "Name"),
	 * NULL: none. Setting it (user.KEY) renames the entry, refused EEXIST
	 * when the name is listed in the collection; mkdir NAME sets it in the
	 * create request. */
	const char *name_label;
};

/* Install the process's layout; check it first (-EINVAL, logged, when a
 * table is inconsistent; the installed one stays). Call before the store
 * opens and never while one is open (the store keeps pointers into the
 * table); not thread-safe. The table must outlive every store. */
int cf_layout_use(const struct cf_layout *l);
/* The installed layout, NULL before cf_layout_use. */
const struct cf_layout *cf_layout(void);

/* The scope type of a valid scope ("global", "zones/Z" with a safe Z), or -1. */
int cf_scope_type(const char *scope, size_t len);
/* The scope type whose scopes resources of kind k name (CF_KIND_ZONE), or -1. */
int cf_scope_type_named_by(enum cf_kind k);
/* Build the scope that resource `name` of kind k names ("zones/NAME") into
 * buf: its length, or -EINVAL / -ENAMETOOLONG. */
int cf_scope_path(enum cf_kind k, const char *name, char *buf, size_t size);
/* The fixed scope kind k lives in ("global" for a snapshot), or NULL; with
 * CF_KIND_NONE the first fixed scope (where a provider's global operations run). */
const char *cf_kind_home(enum cf_kind k);
/* Whether the layout names listing l (listings[l]): a tree without zones or
 * regions (AWS) leaves those listings NULL, and the sync never walks them. */
bool cf_listing_used(enum cf_listing l);
/* The listing that returns kind k, or -1. */
int cf_kind_listing(enum cf_kind k);
/* Whether kind k is pruned through the trash. */
bool cf_kind_trashable(enum cf_kind k);
/* The kind whose collection path[0..len) is ("global/snapshots"), or CF_KIND_NONE. */
enum cf_kind cf_collection_kind(const char *path, size_t len);

/* Something the core walks: a collection ("zones/Z/disks" is `coll` under
 * each scope of a named type) or the scopes of a named type themselves. */
struct cf_layout_coll {
	unsigned scope;	   /* scope type */
	enum cf_kind kind; /* the kind whose collection it is; CF_KIND_NONE: the scopes */
};
/* The collections a listing's sweep covers (or, for a listing of scopes,
 * that scope type), in table order; returns how many (at most max). */
unsigned cf_layout_sweep_of(enum cf_listing l, struct cf_layout_coll *out, unsigned max);

#endif
