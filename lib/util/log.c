/* log.c — stderr in the foreground, syslog when daemonized, and a bounded
 * ring of recent warnings, errors and refusals for .clonefs/log.
 *
 * Every line the ring keeps starts with a UTC timestamp, so an operator can
 * line it up with the API's audit log. */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

enum { RING_LINES = 512, LINE_MAX_LEN = 1024 };

static struct {
	pthread_mutex_t lock;
	int to_syslog, to_stderr;
	enum cf_log_level min;
	char ring[RING_LINES][LINE_MAX_LEN];
	unsigned head, count;
} L = {.lock = PTHREAD_MUTEX_INITIALIZER, .to_stderr = 1, .min = CF_LOG_INFO};

/* Refusals by errno, for .clonefs/metrics: counted outside the lock. */
static atomic_ulong refusals[CF_LOG_ERRNO_MAX];

void cf_log_init(const char *ident, int to_syslog, int to_stderr, enum cf_log_level min)
{
	pthread_mutex_lock(&L.lock);
	L.to_syslog = to_syslog;
	L.to_stderr = to_stderr;
	L.min = min;
	pthread_mutex_unlock(&L.lock);
	if (to_syslog)
		openlog(ident ? ident : "clonefs", LOG_PID, LOG_DAEMON);
}

static const char *level_name(enum cf_log_level l)
{
	switch (l) {
	case CF_LOG_DEBUG:
		return "debug";
	case CF_LOG_INFO:
		return "info";
	case CF_LOG_WARN:
		return "warning";
	default:
		return "error";
	}
}

static int syslog_prio(enum cf_log_level l)
{
	switch (l) {
	case CF_LOG_DEBUG:
		return LOG_DEBUG;
	case CF_LOG_INFO:
		return LOG_INFO;
	case CF_LOG_WARN:
		return LOG_WARNING;
	default:
		return LOG_ERR;
	}
}

/* Replace control characters so one message stays one line, whatever a
 * name or an API message carried. */
static void flatten(char *s)
{
	for (; *s; s++)
		if ((unsigned char) *s < 0x20 || *s == 0x7f)
			*s = ' ';
}

static void emit(enum cf_log_level lvl, int keep, const char *msg)
{
	char stamp[32];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);

	pthread_mutex_lock(&L.lock);
	if (lvl >= L.min || keep) {
		if (L.to_stderr)
			fprintf(stderr, "clonefs: %s: %s\n", level_name(lvl), msg);
		if (L.to_syslog)
			syslog(syslog_prio(lvl), "%s", msg);
	}
	if (keep) {
		snprintf(L.ring[L.head], LINE_MAX_LEN, "%s %s %s", stamp, level_name(lvl), msg);
		L.head = (L.head + 1) % RING_LINES;
		if (L.count < RING_LINES)
			L.count++;
	}
	pthread_mutex_unlock(&L.lock);
}

void cf_log(enum cf_log_level lvl, const char *fmt, ...)
{
	char msg[LINE_MAX_LEN];
	va_list ap;
	if (lvl < L.min && lvl < CF_LOG_WARN)
		return; /* cheap early out for debug lines */
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	flatten(msg);
	emit(lvl, lvl >= CF_LOG_WARN, msg);
}

/* errno as its symbolic name: what an operator greps for. */
const char *cf_log_errno_name(int err)
{
	static const struct {
		int err;
		const char *name;
	} names[] = {
	    {EINVAL, "EINVAL"},
	    {EEXIST, "EEXIST"},
	    {EACCES, "EACCES"},
	    {EPERM, "EPERM"},
	    {EHOSTDOWN, "EHOSTDOWN"},
	    {EMLINK, "EMLINK"},
	    {EDQUOT, "EDQUOT"},
	    {EBUSY, "EBUSY"},
	    {EAGAIN, "EAGAIN"},
	    {EROFS, "EROFS"},
	    {ENOENT, "ENOENT"},
	    {ENODATA, "ENODATA"},
	    {ENOSPC, "ENOSPC"},
	    {ERANGE, "ERANGE"},
	    {EIO, "EIO"},
	    {ENOTEMPTY, "ENOTEMPTY"},
	    {ENOTDIR, "ENOTDIR"},
	    {EISDIR, "EISDIR"},
	    {EOPNOTSUPP, "EOPNOTSUPP"},
	    {ETIMEDOUT, "ETIMEDOUT"},
	    {EPROTO, "EPROTO"},
	    {ENAMETOOLONG, "ENAMETOOLONG"},
	    {ESTALE, "ESTALE"},
	    {ENOMEM, "ENOMEM"},
	    {EXDEV, "EXDEV"},
	    {EFBIG, "EFBIG"},
	    {ENOSYS, "ENOSYS"},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (names[i].err == err)
			return names[i].name;
	return "E?";
}

void cf_log_refusal(const char *path, int err, const char *fmt, ...)
{
	char reason[LINE_MAX_LEN / 2], msg[LINE_MAX_LEN];
	va_list ap;
	if (err < 0)
		err = -err;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	if (err > 0 && err < CF_LOG_ERRNO_MAX)
		atomic_fetch_add(&refusals[err], 1);
	snprintf(msg, sizeof msg, "%s: %s (%s): %s", path ? path : "?", cf_log_errno_name(err),
		 strerror(err), reason);
	flatten(msg);
	emit(CF_LOG_WARN, 1, msg);
}

int cf_log_recent(char **buf, size_t *len)
{
	pthread_mutex_lock(&L.lock);
	size_t cap = (size_t) L.count * LINE_MAX_LEN + 1, used = 0;
	char *out = malloc(cap);
	if (!out) {
		pthread_mutex_unlock(&L.lock);
		return -ENOMEM;
	}
	unsigned start = (L.head + RING_LINES - L.count) % RING_LINES;
	for (unsigned i = 0; i < L.count; i++) {
		const char *line = L.ring[(start + i) % RING_LINES];
		size_t n = strlen(line);
		memcpy(out + used, line, n);
		used += n;
		out[used++] = '\n';
	}
	out[used] = '\0';
	pthread_mutex_unlock(&L.lock);
	*buf = out;
	*len = used;
	return 0;
}

unsigned long cf_log_refusal_count(int err)
{
	if (err < 0)
		err = -err;
	return err > 0 && err < CF_LOG_ERRNO_MAX ? atomic_load(&refusals[err]) : 0;
}
