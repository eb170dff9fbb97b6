/* health.c — runs the policy's health command (and the flush and thaw
 * commands, the same way) under a timeout, with a clean environment and no
 * shell, and turns its outcome into a decision. */
#include "health.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Environment variables above this size are left out rather than truncated:
 * a command that needs the JSON can read resource.json from the mount. */
enum { ENV_JSON_MAX = 64 * 1024 };

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int cf_command_run(const char *what, const char *const argv[], unsigned timeout_seconds,
		   const char *source_path, const char *source_json, const char *consistency,
		   char *why, size_t whysize)
{
	if (!argv || !argv[0]) {
		snprintf(why, whysize, "%s is empty", what);
		return -EHOSTDOWN;
	}
	char *e_src = NULL, *e_json = NULL, *e_cons = NULL;
	if (asprintf(&e_src, "CLONEFS_SOURCE=%s", source_path ? source_path : "") < 0)
		e_src = NULL;
	if (source_json && strlen(source_json) < ENV_JSON_MAX &&
	    asprintf(&e_json, "CLONEFS_SOURCE_JSON=%s", source_json) < 0)
		e_json = NULL;
	if (asprintf(&e_cons, "CLONEFS_CONSISTENCY=%s", consistency ? consistency : "") < 0)
		e_cons = NULL;
	char *envp[6];
	int ne = 0;
	envp[ne++] = (char *) "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	if (e_src)
		envp[ne++] = e_src;
	if (e_json)
		envp[ne++] = e_json;
	if (e_cons)
		envp[ne++] = e_cons;
	envp[ne] = NULL;

	/* stdin from /dev/null; stdout and stderr too: the command's verdict is
	 * its exit status, and its chatter must not reach the mount's logs raw. */
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	/* Nothing else of the daemon's: the cache's and the journal's databases are open
	 * read-write, and its sockets carry tokens. Not every descriptor is O_CLOEXEC
	 * (libraries open their own), so close them all in the child, whatever they are. */
	posix_spawn_file_actions_addclosefrom_np(&fa, 3);
	posix_spawnattr_init(&attr);
	/* its own process group, so a timeout kills what it started too */
	posix_spawnattr_setpgroup(&attr, 0);
	sigset_t none;
	sigemptyset(&none);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
	pid_t pid;
	/* posix_spawn takes char *const[] for historical reasons; it does not write */
	int rc = posix_spawn(&pid, argv[0], &fa, &attr, (char *const *) argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(e_src);
	free(e_json);
	free(e_cons);
	if (rc) {
		snprintf(why, whysize, "%s %s could not be run: %s", what, argv[0], strerror(rc));
		return -EHOSTDOWN;
	}

	int64_t deadline = now_ms() + (int64_t) (timeout_seconds ? timeout_seconds : 30) * 1000;
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			snprintf(why, whysize, "%s %s: waitpid: %s", what, argv[0],
				 strerror(errno));
			return -EHOSTDOWN;
		}
		if (now_ms() >= deadline) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			snprintf(why, whysize, "%s %s did not finish within %u s", what, argv[0],
				 timeout_seconds ? timeout_seconds : 30);
			return -EHOSTDOWN;
		}
		poll(NULL, 0, 10); /* a child's exit is polled; no SIGCHLD handler to share */
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	/* 127 is also how posix_spawn may report a failed exec (POSIX allows it; it does so
	 * under valgrind, whose fork stands in for glibc's vfork). */
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		snprintf(why, whysize,
			 "%s %s exited with status 127: it, or a command it ran, "
			 "could not be run",
			 what, argv[0]);
	else if (WIFEXITED(status))
		snprintf(why, whysize, "%s %s exited with status %d", what, argv[0],
			 WEXITSTATUS(status));
	else
		snprintf(why, whysize, "%s %s was killed by signal %d", what, argv[0],
			 WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	return -EHOSTDOWN;
}

int cf_health_run(const char *const argv[], unsigned timeout_seconds, const char *source_path,
		  const char *source_json, const char *consistency, char *why, size_t whysize)
{
	return cf_command_run("health command", argv, timeout_seconds, source_path, source_json,
			      consistency, why, whysize);
}
