/* stop.h — a flag raised once (an unmount), and the sleeps that end when it
 * is: a thread pausing between tries or polls must not hold the unmount up
 * for the rest of its pause. */
#ifndef CLONEFS_STOP_H
#define CLONEFS_STOP_H

#include <pthread.h>
#include <stdbool.h>

struct cf_stop {
	pthread_mutex_t lock;
	pthread_cond_t cond; /* on CLOCK_MONOTONIC */
	bool raised;
};

int cf_stop_init(struct cf_stop *s);
void cf_stop_destroy(struct cf_stop *s);
/* Raise it (from any thread): every cf_stop_sleep on it ends now. */
void cf_stop_raise(struct cf_stop *s);
bool cf_stop_raised(struct cf_stop *s);
/* Sleep ms milliseconds, whatever signals arrive, or until s is raised: 0
 * after the whole sleep, -EINTR when s was raised (before or meanwhile). A
 * NULL s: a plain sleep. */
int cf_stop_sleep(struct cf_stop *s, unsigned ms);

/* The calling thread's stop flag, kept like its write deadline (deadline.h):
 * thread-local, so the layers below a provider call (the HTTP transport's
 * pauses between tries, a provider's own poll or lookup loops) end their
 * sleeps on an unmount without a parameter threaded through every call.
 * Whoever starts a thread that calls a provider sets it (NULL: none, the
 * default) and clears it before the flag is destroyed. */
void cf_stop_set_current(struct cf_stop *s);
struct cf_stop *cf_stop_current(void);
/* cf_stop_sleep on the calling thread's flag: 0 after the whole sleep,
 * -EINTR when the flag is raised; a sleep so cut short ends the caller's
 * tries with its last failure (never a success). */
int cf_stop_sleep_current(unsigned ms);

#endif
