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

#endif
