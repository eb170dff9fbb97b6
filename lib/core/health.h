/* health.h — the policy's health command: the first practice, "clone only a
 * working system", beyond what the provider's status says.
 *
 * The command is an argv run through execve, never a shell, with a clean
 * environment holding only PATH, CLONEFS_SOURCE (the source's path in the
 * mount), CLONEFS_SOURCE_JSON (its resource document, when it fits) and
 * CLONEFS_CONSISTENCY. Exit 0 = healthy. Anything else — a non-zero exit, a
 * signal, a timeout (the child is killed), a command that cannot be run — is
 * unhealthy: the clone is refused (fail closed). */
#ifndef CLONEFS_HEALTH_H
#define CLONEFS_HEALTH_H

#include <stddef.h>

/* 0 when healthy, -EHOSTDOWN with a reason in why otherwise. */
int cf_health_run(const char *const argv[], unsigned timeout_seconds, const char *source_path,
		  const char *source_json, const char *consistency, char *why, size_t whysize);

/* The same for another of the policy's commands (clone.flush_command,
 * clone.thaw_command): `what` names it in why ("flush command"). */
int cf_command_run(const char *what, const char *const argv[], unsigned timeout_seconds,
		   const char *source_path, const char *source_json, const char *consistency,
		   char *why, size_t whysize);

#endif
