/* deadline.h — a time limit for every outside call a thread makes.
 *
 * The write path sets one so that a write that cannot reach the cloud answers
 * within a bounded time; the transport (http.c) cuts each try to the time left
 * and starts no retry after it. Kept apart from http.h: the engine sets and
 * reads it without knowing how a provider talks to its cloud. */
#ifndef CLONEFS_DEADLINE_H
#define CLONEFS_DEADLINE_H

#include <stdint.h>

/* A deadline for every request the calling thread makes from now on, in
 * CLOCK_MONOTONIC milliseconds (0: none, the default): each try is cut to the
 * time left, no retry starts after it, and once it has passed a request
 * fails at once with -ETIMEDOUT. */
void cf_http_set_deadline(int64_t mono_ms);
/* The calling thread's deadline, 0 when none. */
int64_t cf_http_deadline(void);
/* Milliseconds left before the calling thread's deadline: -1 without one, 0
 * when it has passed. */
long cf_deadline_left_ms(void);

/* The clock deadlines are kept in: CLOCK_MONOTONIC, in milliseconds. */
int64_t cf_mono_ms(void);
/* Sleep ms milliseconds, whatever signals arrive meanwhile. */
void cf_sleep_ms(unsigned ms);

#endif
