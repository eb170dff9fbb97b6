/* docs.h — the files that hold resource.json documents: DIR/docs.0 and
 * DIR/docs.1, append-only, read with pread.
 *
 * The store keeps each document's place (file, offset, length) and hash in
 * the resource's record, and which file is being appended to, how far, and
 * how many of its bytes are still referenced in its meta table, all in the
 * same LMDB transaction as the tree. This file only does the I/O. Why files
 * and not an LMDB table: documents are most of the cache's bytes, written
 * once per change and read whole, rarely. Appending them to a B-tree read
 * its last page back through LMDB's map on every commit, and the kernel maps
 * 16 neighbouring pages per fault: a first sync of 100,000 snapshots left
 * 15 MB of documents mapped in the daemon that nobody had asked to read.
 * pread and pwrite never map anything. Two files so that the store can
 * compact one into the other while readers keep reading (store_txn.c). */
#ifndef CLONEFS_DOCS_H
#define CLONEFS_DOCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_docs;

/* Open (creating, 0600) DIR/docs.0 and DIR/docs.1; with `empty`, truncate
 * both. Errors are logged. */
int cf_docs_open(const char *dir, bool empty, struct cf_docs **out);
void cf_docs_close(struct cf_docs *d);

/* The size of file i (0 or 1) in bytes. */
int cf_docs_size(struct cf_docs *d, int i, uint64_t *size);

/* Write n bytes at off of file i, all of them or an error (logged). */
int cf_docs_write(struct cf_docs *d, int i, uint64_t off, const void *p, size_t n);

/* Read n bytes at off of file i into p: all of them, or -EIO when the file
 * is shorter (logged by the caller, which knows what it expected). */
int cf_docs_read(struct cf_docs *d, int i, uint64_t off, void *p, size_t n);

/* Empty file i. */
int cf_docs_truncate(struct cf_docs *d, int i);

/* Flush both files to disk (before the store marks a clean close). */
int cf_docs_sync(struct cf_docs *d);

#endif
