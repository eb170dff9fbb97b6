/* store_byid_spill.h — a long listing's waiting id-index changes, spilled
 * (private to store_byid.c and store_byid_spill.c).
 *
 * store_byid.c keeps a listing's changes to the id index in memory and
 * writes them in key order at the listing's end. Past BYID_DEFER_MAX of
 * them it used to write them at once, and every such write touched nearly
 * every leaf of the index: at a million snapshots eight times over, a
 * quarter of the first sync's bytes. Instead each batch is now sorted and
 * appended to an unlinked file as a run, and the runs are merged with the
 * last batch at the listing's end, each leaf written once. The writer's own
 * lookups find a spilled change through a Bloom filter and a fence every
 * BYID_FENCE records. */
#ifndef CF_STORE_BYID_SPILL_H
#define CF_STORE_BYID_SPILL_H

#include "model.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One change as spilled: [cookie 8][base 8][kind 1][del 1][len 1][id len]. */
struct byid_rec {
	uint64_t cookie;
	uint64_t base;
	uint8_t kind, del, len;
	char id[CF_ID_MAX];
};

struct byid_run {
	uint64_t off, end; /* its bytes in the file */
	size_t nfence;
	uint64_t *fence_cookie; /* of every BYID_FENCE-th record */
	uint64_t *fence_off;	/* and where it starts */
};

/* All zero is empty (byid_runs_init). */
struct byid_runs {
	int fd; /* the unlinked file, when have_fd */
	bool have_fd;
	uint64_t end; /* bytes in it */
	struct byid_run *run;
	size_t n, cap;
	bool writing;	     /* run[n] is being written */
	size_t open_recs;    /* its records */
	size_t fcap;	     /* its fences' room */
	unsigned char *wbuf; /* its bytes not yet written */
	size_t wlen;
	uint64_t *bloom; /* BYID_BLOOM_BITS bits over every spilled (kind, id) */
};

/* Key order: the byid table's (cookie, then "id\0", then the kind). */
int byid_key_cmp(uint64_t ca, const char *a, size_t na, unsigned ka, uint64_t cb, const char *b,
		 size_t nb, unsigned kb);

void byid_runs_init(struct byid_runs *r);
void byid_runs_free(struct byid_runs *r);

/* A run: begin, add its records in key order (one per key), end. A failed
 * add or end leaves the runs as they were before begin. dir: where the file
 * is made (the store's directory). */
int byid_run_begin(struct byid_runs *r, const char *dir);
int byid_run_add(struct byid_runs *r, const struct byid_rec *x);
int byid_run_end(struct byid_runs *r);
void byid_run_cancel(struct byid_runs *r);

/* The newest spilled change of (kind, id): 0 (*out), -ENOENT, or an error. */
int byid_runs_find(struct byid_runs *r, unsigned kind, const char *id, size_t n, uint64_t cookie,
		   struct byid_rec *out);

/* Every key's newest spilled change, in key order. */
struct byid_merge;
int byid_merge_open(struct byid_runs *r, struct byid_merge **m);
/* 1 with *out, 0 at the end, or an error. */
int byid_merge_next(struct byid_merge *m, struct byid_rec *out);
void byid_merge_close(struct byid_merge *m);

#endif
