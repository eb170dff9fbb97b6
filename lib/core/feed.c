/* feed.c — the feed thread (feed.h): pull, apply in the order the cloud made
 * the changes, acknowledge what is stored, and switch the safety-net listing
 * between its long interval (the feed works) and the mount's sync_interval
 * (the feed is gone, failing or behind).
 *
 * A second thread, the keeper, extends the hold on the batch in flight (from
 * its pull until its acknowledgement answered) every EXTEND_AFTER_MS: the
 * store or the acknowledgement may take longer than the source's ack
 * deadline, and a message whose hold lapses is delivered again, to this
 * mount (as stale) or, with several pullers, to another. It runs beside the
 * feed thread because what takes long is a single blocking call. */
#include "feed.h"
#include "deadline.h"
#include "log.h"
#include "stop.h"
#include "sync.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	PULL_MAX = 100,
	EXTEND_AFTER_MS = 4000, /* well inside the 10 s minimum ack deadline */
	EXTEND_S = 60,
	FAIL_FALLBACK = 3, /* failed pulls in a row before polling takes over */
	GONE_RETRY_S = 30, /* a deleted subscription may come back */
};

struct cf_feed {
	struct cf_feed_config cfg;
	struct cf_feed_clock *clock;
	pthread_t thread;
	pthread_mutex_t lock; /* guards st and the wait on stop */
	pthread_cond_t cond;  /* on CLOCK_MONOTONIC */
	atomic_bool stop;
	struct cf_stop stopper; /* raised with stop: ends the HTTP layer's pauses */
	bool polling;		/* the safety net runs at poll_interval (thread only) */
	struct cf_feed_stats st;
	/* the hold on the batch in flight (guarded by lock) */
	pthread_t keeper;
	const char **held; /* its ack ids, NULL = none in flight */
	size_t nheld;
	int64_t held_at; /* CLOCK_MONOTONIC ms of its pull or its last extension */
	bool extending;	 /* the keeper is calling extend with held */
};

static int64_t wall_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Wait s seconds unless stopped. */
static void rest(struct cf_feed *f, unsigned s)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += s;
	pthread_mutex_lock(&f->lock);
	while (!atomic_load(&f->stop))
		if (pthread_cond_timedwait(&f->cond, &f->lock, &until) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&f->lock);
}

static struct timespec mono_ts(int64_t ms)
{
	return (struct timespec){.tv_sec = ms / 1000, .tv_nsec = (long) (ms % 1000) * 1000000};
}

/* The batch is pulled: hold it until hold_end. */
static void hold_begin(struct cf_feed *f, const struct cf_feed_batch *b)
{
	const char **ids = b->n ? calloc(b->n, sizeof *ids) : NULL;
	if (!ids)
		return; /* nothing to hold, or no memory: the ack deadline alone */
	for (size_t i = 0; i < b->n; i++)
		ids[i] = b->items[i].ack_id;
	pthread_mutex_lock(&f->lock);
	f->held = ids;
	f->nheld = b->n;
	f->held_at = cf_mono_ms();
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

/* The batch's acknowledgement answered (or failed): no more extensions, and
 * none in flight once this returns (the ids are the batch's, freed next). */
static void hold_end(struct cf_feed *f)
{
	pthread_mutex_lock(&f->lock);
	const char **ids = f->held;
	f->held = NULL;
	f->nheld = 0;
	while (f->extending)
		pthread_cond_wait(&f->cond, &f->lock);
	pthread_mutex_unlock(&f->lock);
	free(ids);
}

static void *keeper_main(void *arg)
{
	struct cf_feed *f = arg;
	struct cf_feed_source *src = f->cfg.source;
	cf_stop_set_current(&f->stopper);
	pthread_mutex_lock(&f->lock);
	while (!atomic_load(&f->stop)) {
		if (!f->held) {
			pthread_cond_wait(&f->cond, &f->lock);
			continue;
		}
		int64_t due = f->held_at + EXTEND_AFTER_MS;
		if (cf_mono_ms() < due) {
			struct timespec until = mono_ts(due);
			pthread_cond_timedwait(&f->cond, &f->lock, &until);
			continue;
		}
		const char **ids = f->held;
		size_t n = f->nheld;
		struct cf_error err = {0};
		f->extending = true;
		pthread_mutex_unlock(&f->lock);
		int rc = src->ops->extend(src, ids, n, EXTEND_S, &err);
		if (rc)
			cf_warn("feed %s: extending the hold failed: %s", src->name, err.message);
		else
			cf_debug("feed %s: held %zu messages %us more", src->name, n,
				 (unsigned) EXTEND_S);
		pthread_mutex_lock(&f->lock);
		f->extending = false;
		f->held_at = cf_mono_ms();
		if (rc)
			f->st.extend_failures++;
		else
			f->st.extends++;
		pthread_cond_broadcast(&f->cond);
	}
	pthread_mutex_unlock(&f->lock);
	cf_stop_set_current(NULL);
	return NULL;
}

static void set_state(struct cf_feed *f, const char *state, const char *error)
{
	pthread_mutex_lock(&f->lock);
	f->st.state = state;
	if (error)
		snprintf(f->st.last_error, sizeof f->st.last_error, "%.250s", error);
	pthread_mutex_unlock(&f->lock);
}

/* Polling on (the feed cannot be trusted now: list at poll_interval, and at
 * once) or off (the feed works again: only the long safety net). */
static void fall_back(struct cf_feed *f, bool on, const char *why)
{
	if (on == f->polling)
		return;
	f->polling = on;
	pthread_mutex_lock(&f->lock);
	f->st.polling = on;
	pthread_mutex_unlock(&f->lock);
	if (on)
		cf_warn("feed %s: %s; listing every %us until it recovers", f->cfg.source->name,
			why, f->cfg.poll_interval);
	else
		cf_info("feed %s: working; a full listing every %us as the safety net",
			f->cfg.source->name, f->cfg.full_interval);
	if (f->cfg.sync)
		cf_sync_set_interval(f->cfg.sync, on ? f->cfg.poll_interval : f->cfg.full_interval,
				     on);
}

static int by_time(const void *a, const void *b)
{
	const struct cf_feed_change *x = a, *y = b;
	if (x->update_us != y->update_us)
		return x->update_us < y->update_us ? -1 : 1;
	return (x->publish_us > y->publish_us) - (x->publish_us < y->publish_us);
}

/* Apply a batch oldest change first and acknowledge what is stored (or
 * stale, or not for us); the rest comes again. Messages taking long keep
 * their hold through extend. */
static void process(struct cf_feed *f, struct cf_feed_batch *b)
{
	struct cf_feed_source *src = f->cfg.source;
	const char **acks = calloc(b->n ? b->n : 1, sizeof *acks);
	uint64_t applied = 0, stale = 0, ignored = 0, errors = 0, acked = 0, ack_failures = 0;
	size_t nack = 0;
	char msg[256] = "";
	struct cf_error err;
	if (!acks) {
		set_state(f, f->st.state, "out of memory");
		return; /* nothing acknowledged: delivered again */
	}
	if (b->n > 1)
		qsort(b->items, b->n, sizeof *b->items, by_time);
	for (size_t i = 0; i < b->n && !atomic_load(&f->stop); i++) {
		const struct cf_feed_change *c = &b->items[i];
		int rc =
		    c->ignore ? -EINVAL : cf_sync_apply(f->cfg.store, f->clock, &f->cfg.sink, c);
		if (rc == 1) {
			applied++;
			cf_debug("feed: %s %s", c->deleted ? "removed" : "stored", c->path);
		} else if (rc == 0) {
			stale++;
			cf_debug("feed: %s: stale change ignored", c->path);
		} else if (rc == -EAGAIN) {
			cf_debug("feed: %s: older than this mount, waits for the first listing",
				 c->path);
			continue; /* not acknowledged: it comes again */
		} else if (rc == -EINVAL || rc == -ENAMETOOLONG) {
			ignored++;
			if (!c->ignore)
				cf_warn("feed: %s: refused by the cache (%s), ignored",
					c->path ? c->path : "?", strerror(-rc));
		} else {
			errors++;
			snprintf(msg, sizeof msg, "cache: %s: %s", c->path, strerror(-rc));
			cf_warn("feed: %s; it will be delivered again", msg);
			continue;
		}
		acks[nack++] = c->ack_id;
	}
	if (nack) {
		memset(&err, 0, sizeof err);
		if (src->ops->ack(src, acks, nack, &err)) {
			errors++;
			ack_failures++;
			snprintf(msg, sizeof msg, "acknowledge: %.200s", err.message);
			cf_warn("feed %s: %s (the changes will come again, as stale)", src->name,
				err.message);
		} else {
			acked += nack;
		}
	}
	pthread_mutex_lock(&f->lock);
	f->st.acked += acked;
	f->st.ack_failures += ack_failures;
	f->st.messages += b->n;
	f->st.applied += applied;
	f->st.stale += stale;
	f->st.ignored += ignored;
	f->st.errors += errors;
	if (msg[0])
		snprintf(f->st.last_error, sizeof f->st.last_error, "%.250s", msg);
	pthread_mutex_unlock(&f->lock);
	free(acks);
}

static void *feed_main(void *arg)
{
	struct cf_feed *f = arg;
	struct cf_feed_source *src = f->cfg.source;
	unsigned failed = 0;
	bool behind = false;
	cf_stop_set_current(&f->stopper); /* a pull's retry pauses end on an unmount */
	while (!atomic_load(&f->stop)) {
		struct cf_feed_batch b = {0};
		struct cf_error err = {0};
		int rc = src->ops->pull(src, PULL_MAX, &b, &err);
		if (atomic_load(&f->stop)) {
			cf_feed_batch_clear(&b); /* not acknowledged: delivered again */
			break;
		}
		if (rc) {
			pthread_mutex_lock(&f->lock);
			f->st.errors++;
			f->st.pull_failures++;
			pthread_mutex_unlock(&f->lock);
			if (rc == -ENOENT) {
				set_state(f, "gone", err.message);
				fall_back(f, true, "the subscription is gone");
				rest(f, GONE_RETRY_S);
			} else {
				set_state(f, failed + 1 >= FAIL_FALLBACK ? "failing" : f->st.state,
					  err.message);
				cf_warn("feed %s: pull failed: %s", src->name, err.message);
				if (++failed >= FAIL_FALLBACK)
					fall_back(f, true, "pulls keep failing");
				rest(f, failed < 5 ? 1u << failed : 30);
			}
			continue;
		}
		failed = 0;
		hold_begin(f, &b);
		int64_t oldest = 0;
		for (size_t i = 0; i < b.n; i++)
			if (b.items[i].publish_us && (!oldest || b.items[i].publish_us < oldest))
				oldest = b.items[i].publish_us;
		int64_t now = wall_us();
		int64_t lag_ms = oldest && now > oldest ? (now - oldest) / 1000 : 0;
		process(f, &b);
		hold_end(f);
		cf_feed_batch_clear(&b);
		/* Only delivered messages tell the lag: a pull may answer empty while
		 * a backlog waits (a feed does not promise otherwise), so behind
		 * ends with a batch that came in time. */
		bool measured = oldest != 0;
		if (measured || !behind)
			behind = lag_ms > (int64_t) f->cfg.behind_s * 1000;
		pthread_mutex_lock(&f->lock);
		f->st.pulls++;
		if (measured || !behind)
			f->st.lag_ms = lag_ms;
		f->st.last_pull = now / 1000000;
		f->st.state = behind ? "behind" : "ok";
		pthread_mutex_unlock(&f->lock);
		fall_back(f, behind, "the feed is behind");
	}
	cf_stop_set_current(NULL);
	return NULL;
}

int cf_feed_start(const struct cf_feed_config *cfg, struct cf_feed **out)
{
	pthread_condattr_t ca;
	if (!cfg || !out || !cfg->store || !cfg->source || !cfg->source->ops ||
	    !cfg->source->ops->pull || !cfg->source->ops->ack)
		return -EINVAL;
	struct cf_feed *f = calloc(1, sizeof *f);
	if (!f || !(f->clock = cf_feed_clock_new())) {
		free(f);
		return -ENOMEM;
	}
	if (cf_stop_init(&f->stopper)) {
		cf_feed_clock_free(f->clock);
		free(f);
		return -ENOMEM;
	}
	f->cfg = *cfg;
	cf_feed_clock_baseline(f->clock, wall_us());
	if (!f->cfg.behind_s)
		f->cfg.behind_s = 300;
	f->st.state = "starting";
	atomic_init(&f->stop, false);
	pthread_mutex_init(&f->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cond, &ca);
	pthread_condattr_destroy(&ca);
	int rc = pthread_create(&f->thread, NULL, feed_main, f);
	if (!rc && f->cfg.source->ops->extend &&
	    (rc = pthread_create(&f->keeper, NULL, keeper_main, f))) {
		atomic_store(&f->stop, true);
		cf_stop_raise(&f->stopper);
		pthread_join(f->thread, NULL);
	}
	if (rc) {
		cf_err("feed: cannot start the thread: %s", strerror(rc));
		pthread_cond_destroy(&f->cond);
		pthread_mutex_destroy(&f->lock);
		cf_stop_destroy(&f->stopper);
		cf_feed_clock_free(f->clock);
		free(f);
		return -rc;
	}
	cf_info("feed %s: reading changes; a full listing every %us as the safety net",
		cfg->source->name, cfg->full_interval);
	*out = f;
	return 0;
}

void cf_feed_get_stats(struct cf_feed *f, struct cf_feed_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	*out = f->st;
	pthread_mutex_unlock(&f->lock);
	if (f->cfg.source->ops->traffic)
		f->cfg.source->ops->traffic(f->cfg.source, &out->requests, &out->bytes);
}

void cf_feed_stop(struct cf_feed *f)
{
	if (!f)
		return;
	pthread_mutex_lock(&f->lock);
	atomic_store(&f->stop, true);
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	cf_stop_raise(&f->stopper);
	pthread_join(f->thread, NULL);
	if (f->cfg.source->ops->extend)
		pthread_join(f->keeper, NULL);
	cf_stop_destroy(&f->stopper);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	cf_feed_clock_free(f->clock);
	free(f);
}
