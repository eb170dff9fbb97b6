/* retry_provider.h — a provider that repeats another's transient failures
 * within the calling write's budget, and the budget itself.
 *
 * A write from the mount runs under the thread's deadline (deadline.h):
 * CF_WRITE_BUDGET_MS from its start (cf_write_budget_start), moved on by
 * every useful answer (cf_write_budget_renew). A write the API keeps
 * answering takes as long as its operations do; one that cannot reach the
 * API gives up once the budget is spent. Without a deadline (the engine's
 * background thread) a call is tried CF_BACKGROUND_TRIES times.
 *
 * The decorator repeats get, create, remove, power and set_labels while the
 * failure is transient (cf_retry_transient), after a jittered, growing
 * pause, and renews the budget on success; list_page and op_poll pass
 * through (the sync and the operation follower have their own rules).
 * Its pauses end at once when its owner's stop is raised (an unmount): the
 * call then returns its last failure. SEMANTICS.md, "When the API
 * misbehaves". */
#ifndef CLONEFS_RETRY_PROVIDER_H
#define CLONEFS_RETRY_PROVIDER_H

#include "provider.h"
#include "stop.h"

#include <stdbool.h>

enum {
	/* a write gives up, EAGAIN, once the API has given no useful answer
	 * for this long (within 60 s, never hangs) */
	CF_WRITE_BUDGET_MS = 30000,
	CF_BACKGROUND_TRIES = 4, /* transient failures repeated without a deadline */
};

void cf_write_budget_start(void);
void cf_write_budget_renew(void); /* only when a budget runs */
void cf_write_budget_end(void);

/* Whether a failed call may simply be repeated: no answer at all, the API's
 * 5xx or 429, or a 2xx that could not be read. */
bool cf_retry_transient(int rc, const struct cf_error *err);
/* A delay in [cap/2, cap]: writers that collided do not collide again. */
unsigned cf_retry_jitter(unsigned cap);
/* Before repeating a transient failure (*tries counts them): wait a
 * jittered, growing delay. False when the failure is not transient, when the
 * write's deadline would pass first, without a deadline after
 * CF_BACKGROUND_TRIES, or when stop (NULL: none) is raised, before or during
 * the pause. `what` names the call for the debug log. */
bool cf_retry_again(int rc, const struct cf_error *err, unsigned *tries, const char *what,
		    struct cf_stop *stop);

/* Wrap inner (which must outlive the wrapper; destroy does not free it).
 * stop (NULL: none; it must outlive the wrapper) ends its pauses. */
int cf_retry_provider_new(struct cf_provider *inner, struct cf_stop *stop,
			  struct cf_provider **out);
void cf_retry_provider_free(struct cf_provider *p);

#endif
