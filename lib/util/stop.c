/* stop.c — a stop flag and the sleeps it ends (stop.h). */
#include "stop.h"

#include <errno.h>
#include <time.h>

static __thread struct cf_stop *thread_stop;

void cf_stop_set_current(struct cf_stop *s)
{
	thread_stop = s;
}

struct cf_stop *cf_stop_current(void)
{
	return thread_stop;
}

int cf_stop_sleep_current(unsigned ms)
{
	return cf_stop_sleep(thread_stop, ms);
}

int cf_stop_init(struct cf_stop *s)
{
	pthread_condattr_t ca;
	int rc = pthread_condattr_init(&ca);
	if (rc)
		return -rc;
	rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	if (!rc)
		rc = pthread_cond_init(&s->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (rc)
		return -rc;
	if ((rc = pthread_mutex_init(&s->lock, NULL))) {
		pthread_cond_destroy(&s->cond);
		return -rc;
	}
	s->raised = false;
	return 0;
}

void cf_stop_destroy(struct cf_stop *s)
{
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
}

void cf_stop_raise(struct cf_stop *s)
{
	pthread_mutex_lock(&s->lock);
	s->raised = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

bool cf_stop_raised(struct cf_stop *s)
{
	pthread_mutex_lock(&s->lock);
	bool r = s->raised;
	pthread_mutex_unlock(&s->lock);
	return r;
}

int cf_stop_sleep(struct cf_stop *s, unsigned ms)
{
	struct timespec until;
	if (!s) {
		until = (struct timespec){ms / 1000, (long) (ms % 1000) * 1000000L};
		while (nanosleep(&until, &until) && errno == EINTR)
			;
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (long) (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&s->lock);
	while (!s->raised && pthread_cond_timedwait(&s->cond, &s->lock, &until) != ETIMEDOUT)
		;
	bool raised = s->raised;
	pthread_mutex_unlock(&s->lock);
	return raised ? -EINTR : 0;
}
