/* test_health.c — the health command fails closed: non-zero exit, signal,
 * timeout and a missing program all refuse; exit 0 passes; no shell and a
 * clean environment. */
#include "health.h"

#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define ARGV(...) ((const char *const[]){__VA_ARGS__, NULL})

int main(void)
{
	char why[256];
	setenv("CLONEFS_SECRET_TEST", "leak", 1);
	CHECK_EQ_INT(cf_health_run(ARGV("/bin/true"), 5, "p", "{}", "flush", why, sizeof why), 0);
	CHECK_EQ_INT(cf_health_run(ARGV("/bin/false"), 5, "p", "{}", "flush", why, sizeof why),
		     -EHOSTDOWN);
	CHECK(strstr(why, "exited with status 1") != NULL);
	CHECK_EQ_INT(
	    cf_health_run(ARGV("/nonexistent/check"), 5, "p", NULL, "crash", why, sizeof why),
	    -EHOSTDOWN);
	CHECK(strstr(why, "could not be run") != NULL);
	CHECK_EQ_INT(cf_health_run(ARGV("/bin/sleep", "30"), 1, "p", NULL, "stop", why, sizeof why),
		     -EHOSTDOWN);
	CHECK(strstr(why, "did not finish within 1 s") != NULL);
	/* the environment holds what we put there and nothing of ours */
	CHECK_EQ_INT(cf_health_run(ARGV("/bin/sh", "-c",
					"test \"$CLONEFS_SOURCE\" = zones/z/disks/d && "
					"test \"$CLONEFS_CONSISTENCY\" = stop && "
					"test \"$CLONEFS_SOURCE_JSON\" = '{\"a\":1}' && "
					"test -z \"$CLONEFS_SECRET_TEST\""),
				   5, "zones/z/disks/d", "{\"a\":1}", "stop", why, sizeof why),
		     0);
	/* a metacharacter is an argument, not shell syntax */
	CHECK_EQ_INT(cf_health_run(ARGV("/bin/test", "a;b", "=", "a;b"), 5, "p", NULL, "crash", why,
				   sizeof why),
		     0);
	CHECK_EQ_INT(cf_health_run(ARGV("/bin/sh", "-c", "kill -9 $$"), 5, "p", NULL, "crash", why,
				   sizeof why),
		     -EHOSTDOWN);
	CHECK(strstr(why, "signal 9") != NULL);
	/* The command inherits no descriptor of ours above 2, not even one without
	 * O_CLOEXEC (as the cache's data.mdb is): /proc/self/fd in the child lists
	 * 0, 1, 2 and the one ls opens to read the directory. */
	int leak = open("/dev/null", O_RDWR);
	CHECK(leak > 2);
	int pipefd[2];
	CHECK_EQ_INT(pipe(pipefd), 0);
	CHECK_EQ_INT(cf_health_run(ARGV("/bin/sh", "-c",
					"n=0; for f in /proc/self/fd/*; do n=$((n+1)); done; "
					"test -e /proc/self/fd/0 && test \"$n\" -le 4 && "
					"! test -e /proc/self/fd/5 && ! test -e /proc/self/fd/6"),
				   5, "p", NULL, "crash", why, sizeof why),
		     0);
	close(leak);
	close(pipefd[0]);
	close(pipefd[1]);
	return check_summary();
}
