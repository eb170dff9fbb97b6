/* timefmt.h — RFC 3339 timestamps as the API writes them, and back. */
#ifndef CLONEFS_TIMEFMT_H
#define CLONEFS_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Parse "2024-05-01T10:20:30.123-07:00" (any fraction length, 'Z' or an
 * offset, 't'/'z' accepted) into UTC seconds and nanoseconds. -EINVAL for
 * anything else, including out-of-range fields. */
int cf_time_parse(const char *s, int64_t *sec, uint32_t *nsec);
/* Format UTC seconds as "2024-05-01T17:20:30Z" into buf (>= 21 bytes). */
int cf_time_format(int64_t sec, char *buf, size_t size);

#endif
