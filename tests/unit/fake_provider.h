/* fake_provider.h — an in-memory cloud behind struct cf_provider, for the
 * unit tests (test_sync, test_engine).
 *
 * It holds an inventory of resources (each with an id, a status and a label
 * fingerprint), serves it as paginated listings, and carries out every write
 * call of struct cf_provider_ops the way Compute Engine does: a write returns
 * an operation that goes PENDING -> RUNNING -> DONE as it is polled (or as
 * its target is read: the cloud moves on while one watches it), with its
 * effect at DONE; the same request id hands back the same operation and acts
 * once; a label write with a stale fingerprint is -ESTALE (HTTP 412).
 *
 * Failures are scripted (fp_fail: per op, the nth call, errno, HTTP status,
 * reason and message; before the call acts, or after: a lost answer), and
 * so are operations that end DONE with an error (fp_fail_next_op). A hook
 * sees every call before and after it acts (the crash tests take their
 * snapshot of the cloud there). Thread-safe: the engine's thread and the
 * test call in together; a test changing the inventory holds fp_lock. */
#ifndef CLONEFS_FAKE_PROVIDER_H
#define CLONEFS_FAKE_PROVIDER_H

#include "provider.h"
#include "store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

enum fp_op {
	FP_LIST,
	FP_GET,
	FP_CREATE,
	FP_REMOVE,
	FP_STOP, /* power, start = false */
	FP_START,
	FP_SET_LABELS,
	FP_POLL,
	FP_RESTORE, /* a disk or instance from a copy */
	FP__COUNT,
	FP_ANY = FP__COUNT, /* a failure script for every call */
};

/* One scripted failure: the matching calls from the nth on (counted from
 * when it was scripted), `times` of them (0: every one from then on). */
struct fp_fail {
	enum fp_op op;
	int listing;	  /* FP_LIST: only this listing (-1: any) */
	int page;	  /* FP_LIST: only this page, 0-based (-1: any) */
	const char *path; /* only calls on this path (NULL: any) */
	unsigned nth;	  /* 1: the next matching call */
	unsigned times;
	int err;  /* negative errno returned */
	int http; /* HTTP status (0: no answer came) */
	const char *reason, *message;
	bool after; /* the call acts, then fails: its answer was lost */
};

/* The hook: called before (after = false) and after the call acted, outside
 * the fake's lock. A nonzero return fails the call with -EIO, no answer (a
 * crash: what the engine does next is thrown away by the test). */
typedef int (*fp_hook_fn)(void *ctx, enum fp_op op, const char *path, bool after);

struct fp_res;
struct fp_oper;

struct fake_provider {
	struct cf_provider p;
	pthread_mutex_t lock;
	struct fp_res *res;
	size_t nres, capres;
	struct fp_oper *ops;
	size_t nops, capops;
	struct fp_fail fails[16];
	unsigned fail_seen[16];
	size_t nfails;
	struct {
		enum fp_op op;
		int http;
		char reason[64], message[200];
	} op_fails[8]; /* the next operation of that kind ends DONE with an error */
	size_t nop_fails;
	unsigned op_steps;     /* polls from accepted to DONE (default 2) */
	int page_size;	       /* items per listing page (default 500) */
	const char *scopes[8]; /* named by aggregated listings besides their items' */
	size_t nscopes;
	const char *name_label; /* its value is a resource's name_pref (NULL: none) */
	int slow_ms;		/* sleep before each page */
	bool repeat_token;	/* snapshots: page 2 hands back the token it was given */
	int repeats;		/* ... how often it did (it gives up after 20) */
	uint64_t next_id;
	fp_hook_fn hook;
	void *hook_ctx;
	/* Its ops, a copy of the fake's own, so that a test can take a
	 * capability away (fp_set_consistency). */
	struct cf_provider_ops own_ops;
	/* what happened */
	atomic_int guest_flushes; /* creates that asked for the provider's own flush */
	atomic_int maybe_sent;	  /* creates said to have maybe been sent before */
	atomic_int calls[FP__COUNT];
	atomic_int pages, first_pages;
	atomic_int asked[CF_LIST__COUNT];   /* first pages asked for, per listing */
	atomic_int served[CF_LIST__COUNT];  /* pages asked for, per listing */
	atomic_int compact_listings;	    /* compact listings begun (list_query) */
	atomic_int id_fetches, ids_fetched; /* list_query calls by id, ids they named */
	unsigned started[FP__COUNT];	    /* distinct operations accepted, per op (under lock) */
	unsigned done[FP__COUNT];	    /* operations that took effect (DONE, no error) */
	char last_rid[FP__COUNT][40];	    /* the request id of the latest accepted one */
	char last_path[FP__COUNT]
		      [CF_PATH_MAX]; /* the path the latest call was given (under lock) */
};

void fp_init(struct fake_provider *f);
void fp_destroy(struct fake_provider *f);
/* A copy of f's cloud (inventory, operations, counters), without its
 * failure scripts or hook: the cloud as it was at a crash. */
void fp_clone(struct fake_provider *dst, struct fake_provider *src);

void fp_lock(struct fake_provider *f);
void fp_unlock(struct fake_provider *f);

/* Add a resource (under fp_lock when other threads run); it gets a fresh id
 * and fingerprint. The pointer stays valid until the next add or remove. */
struct cf_resource *fp_add(struct fake_provider *f, enum cf_kind kind, const char *scope,
			   const char *name, const char *status, int64_t created);
/* The resource at path, or NULL (under fp_lock). */
struct cf_resource *fp_find(struct fake_provider *f, const char *path);
int fp_remove(struct fake_provider *f, const char *path);
/* Change labels behind the mount's back (another host): a new fingerprint. */
void fp_set_label(struct fake_provider *f, const char *path, const char *key, const char *value);
void fp_remove_kind(struct fake_provider *f, enum cf_kind kind);
/* Delete path and make it again under the same name: a new id. */
void fp_recreate(struct fake_provider *f, const char *path);
/* A copy of the resource's one string field (status, id, label value) for a
 * check; "" when absent. Takes the lock. */
void fp_status(struct fake_provider *f, const char *path, char *buf, size_t size);
void fp_label(struct fake_provider *f, const char *path, const char *key, char *buf, size_t size);
bool fp_exists(struct fake_provider *f, const char *path);

/* The consistency modes it offers (CF_CAP_*; all three by default). */
void fp_set_consistency(struct fake_provider *f, unsigned caps);

void fp_fail(struct fake_provider *f, const struct fp_fail *spec);
void fp_clear_fails(struct fake_provider *f);
void fp_fail_next_op(struct fake_provider *f, enum fp_op op, int http, const char *reason,
		     const char *message);

/* Put every resource of the fake into the store, as a complete sync would. */
int fp_seed_store(struct fake_provider *f, struct cf_store *st);

/* Deep copy of a resource (tests' helper too). */
int fp_res_copy(struct cf_resource *dst, const struct cf_resource *src);

#endif
