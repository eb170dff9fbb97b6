/* tmpfile.h — an unlinked file in a directory, for data too large to keep in
 * memory and never meant to outlive the process (a generated .clonefs/ text,
 * a long listing's waiting id-index changes). */
#ifndef CF_TMPFILE_H
#define CF_TMPFILE_H

/* O_TMPFILE in dir or, where the filesystem has none, a file named
 * dir/.PREFIX-XXXXXX unlinked at once. A read-write descriptor, or a
 * negative errno. */
int cf_unlinked_file(const char *dir, const char *prefix);

#endif
