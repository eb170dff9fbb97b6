/* log.h — one place every message goes: stderr in the foreground, syslog
 * when daemonized, and a ring of recent lines that .clonefs/log shows.
 *
 * Refusals and errors that reach a user are logged with cf_log_refusal so the
 * line carries time, path, errno and reason. Never pass a secret. */
#ifndef CLONEFS_LOG_H
#define CLONEFS_LOG_H

#include <stddef.h>

enum cf_log_level { CF_LOG_DEBUG, CF_LOG_INFO, CF_LOG_WARN, CF_LOG_ERR };

void cf_log_init(const char *ident, int to_syslog, int to_stderr, enum cf_log_level min);
void cf_log(enum cf_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A refusal or error answered to a user: "PATH: ERRNO_NAME: reason". */
void cf_log_refusal(const char *path, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The ring of recent WARN/ERR lines and refusals (for .clonefs/log), oldest
 * first, in a malloc'd buffer. */
int cf_log_recent(char **buf, size_t *len);

/* Refusals logged so far with errno err (cf_log_refusal counts each, by
 * the errno's absolute value), for .clonefs/metrics. Thread-safe; 0 for an
 * errno outside 1..CF_LOG_ERRNO_MAX-1. */
enum { CF_LOG_ERRNO_MAX = 256 };
unsigned long cf_log_refusal_count(int err);
/* The symbolic name of an errno ("EACCES"), or "E?" when it has none here. */
const char *cf_log_errno_name(int err);

#define cf_debug(...) cf_log(CF_LOG_DEBUG, __VA_ARGS__)
#define cf_info(...)  cf_log(CF_LOG_INFO, __VA_ARGS__)
#define cf_warn(...)  cf_log(CF_LOG_WARN, __VA_ARGS__)
#define cf_err(...)   cf_log(CF_LOG_ERR, __VA_ARGS__)

#endif
