/* deadline.c — the calling thread's time limit for outside calls (deadline.h):
 * one thread-local CLOCK_MONOTONIC instant. */
#include "deadline.h"

#include <errno.h>
#include <time.h>

static __thread int64_t thread_deadline;

int64_t cf_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + (int64_t) ts.tv_nsec / 1000000;
}

void cf_http_set_deadline(int64_t mono_ms)
{
	thread_deadline = mono_ms > 0 ? mono_ms : 0;
}

int64_t cf_http_deadline(void)
{
	return thread_deadline;
}

long cf_deadline_left_ms(void)
{
	if (!thread_deadline)
		return -1;
	int64_t left = thread_deadline - cf_mono_ms();
	return left > 0 ? (long) left : 0;
}

void cf_sleep_ms(unsigned ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}
