/* maptrim.h — keep a read-only shared file mapping from holding the
 * process's resident set hostage.
 *
 * LMDB reads through a mapping of its whole file. Every page a lookup, a
 * listing or a write transaction touches stays mapped into the process, so
 * the daemon's RSS grows to the size of data.mdb (about 400 MB at a million
 * snapshots) although the kernel's page cache, not the daemon, holds those
 * pages. When the process's file-backed resident memory passes a budget,
 * cf_maptrim drops the mapping's page-table entries (MADV_DONTNEED): the
 * pages stay in the page cache, and the next touch of one maps it again from
 * there, with the same contents (a shared file mapping is never private). */
#ifndef CF_MAPTRIM_H
#define CF_MAPTRIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_maptrim;

/* For this process's largest mapping of the file at path (found in
 * /proc/self/maps by device and inode: LMDB does not say where its map is),
 * trimmed when the process's file-backed resident memory (/proc/self/statm's
 * shared field) passes budget bytes. -ENOENT when the file is not mapped. */
int cf_maptrim_new(const char *path, size_t budget, struct cf_maptrim **out);
void cf_maptrim_free(struct cf_maptrim *t);

/* Check the budget (a pread of /proc/self/statm) and trim when it is passed;
 * true when it trimmed. Thread-safe; concurrent readers of the mapping are
 * unaffected but for a minor fault on their next touch of each page. */
bool cf_maptrim_check(struct cf_maptrim *t);

/* How many times it trimmed. */
uint64_t cf_maptrim_count(const struct cf_maptrim *t);

#endif
