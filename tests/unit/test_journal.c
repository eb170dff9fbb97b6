/* test_journal.c — jobs survive close and reopen, ids are never reused,
 * foreach walks in order and may write, a corrupt journal is set aside, a
 * mark (a cancel) survives a put of an older copy, updates are atomic. */
#include "journal.h"

#include "check.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

struct walk {
	struct cf_journal *j;
	int visited, last_n;
};

static int count_fn(void *ctx, uint64_t id, json_t *job)
{
	struct walk *w = ctx;
	CHECK(json_is_object(job));
	/* writing from inside foreach must work (no read txn is held) */
	json_t *copy = json_deep_copy(job);
	json_object_set_new(copy, "touched", json_true());
	CHECK_EQ_INT(cf_journal_put(w->j, id, copy), 0);
	json_decref(copy);
	w->visited++;
	w->last_n = (int) json_integer_value(json_object_get(job, "n"));
	return 0;
}

static int mark_fn(void *ctx, json_t *job)
{
	(void) ctx;
	json_t *marks = json_object();
	json_object_set_new(marks, "cancel", json_pack("{s:i}", "uid", 7));
	json_object_set_new(job, "marks", marks);
	return 0;
}

static int refuse_fn(void *ctx, json_t *job)
{
	(void) job;
	return *(int *) ctx;
}

static void set_step(json_t *job, const char *step)
{
	json_object_set_new(job, "step", json_string(step));
}

/* A runner holds a copy of a job; another thread marks it meanwhile: the
 * runner's next put keeps the mark and hands it to the runner's copy. */
static void test_marks(const char *dir)
{
	struct cf_journal *j = NULL;
	CHECK_EQ_INT(cf_journal_open(dir, &j), 0);
	uint64_t id = 0;
	json_t *runner = json_pack("{s:s}", "step", "stop");
	CHECK_EQ_INT(cf_journal_add(j, runner, &id), 0);
	CHECK_EQ_INT(cf_journal_update(j, id, mark_fn, NULL), 0);
	set_step(runner, "wait_stopped");
	CHECK_EQ_INT(cf_journal_put(j, id, runner), 0);
	json_t *m = json_object_get(json_object_get(runner, "marks"), "cancel");
	CHECK(m && json_integer_value(json_object_get(m, "uid")) == 7);
	json_t *got = NULL;
	CHECK_EQ_INT(cf_journal_get(j, id, &got), 0);
	CHECK_EQ_STR(json_string_value(json_object_get(got, "step")), "wait_stopped");
	CHECK(json_object_get(json_object_get(got, "marks"), "cancel") != NULL);
	json_decref(got);
	/* a put without any marks member at all keeps them too */
	json_t *bare = json_pack("{s:s}", "step", "start");
	CHECK_EQ_INT(cf_journal_put(j, id, bare), 0);
	CHECK(json_object_get(json_object_get(bare, "marks"), "cancel") != NULL);
	json_decref(bare);
	/* an update that refuses changes nothing and says why; > 0 is "leave it" */
	int busy = -EBUSY, leave = 1;
	CHECK_EQ_INT(cf_journal_update(j, id, refuse_fn, &busy), -EBUSY);
	CHECK_EQ_INT(cf_journal_update(j, id, refuse_fn, &leave), 0);
	CHECK_EQ_INT(cf_journal_get(j, id, &got), 0);
	CHECK_EQ_STR(json_string_value(json_object_get(got, "step")), "start");
	json_decref(got);
	CHECK_EQ_INT(cf_journal_del(j, id), 0);
	CHECK_EQ_INT(cf_journal_update(j, id, mark_fn, NULL), -ENOENT);
	CHECK_EQ_INT(cf_journal_put(j, id, runner), -ENOENT);
	json_decref(runner);
	cf_journal_close(j);
}

int main(void)
{
	char dir[] = "/tmp/cf-journal-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	struct cf_journal *j = NULL;
	CHECK_EQ_INT(cf_journal_open(dir, &j), 0);
	uint64_t a = 0, b = 0, c = 0;
	json_t *job = json_pack("{s:s, s:i}", "step", "create", "n", 1);
	CHECK_EQ_INT(cf_journal_add(j, job, &a), 0);
	json_object_set_new(job, "n", json_integer(2));
	CHECK_EQ_INT(cf_journal_add(j, job, &b), 0);
	CHECK(a && b > a);
	CHECK_EQ_INT(cf_journal_del(j, b), 0);
	CHECK_EQ_INT(cf_journal_put(j, b, job), -ENOENT);
	json_object_set_new(job, "n", json_integer(3));
	CHECK_EQ_INT(cf_journal_add(j, job, &c), 0);
	CHECK(c > b); /* never reused */
	json_decref(job);
	cf_journal_close(j);

	CHECK_EQ_INT(cf_journal_open(dir, &j), 0);
	json_t *got = NULL;
	CHECK_EQ_INT(cf_journal_get(j, a, &got), 0);
	CHECK_EQ_STR(json_string_value(json_object_get(got, "step")), "create");
	json_decref(got);
	CHECK_EQ_INT(cf_journal_get(j, b, &got), -ENOENT);
	struct walk w = {.j = j};
	CHECK_EQ_INT(cf_journal_foreach(j, count_fn, &w), 0);
	CHECK_EQ_INT(w.visited, 2);
	CHECK_EQ_INT(w.last_n, 3); /* last one visited is the newest */
	CHECK_EQ_INT(cf_journal_get(j, c, &got), 0);
	CHECK(json_is_true(json_object_get(got, "touched")));
	json_decref(got);
	cf_journal_close(j);

	test_marks(dir);

	/* a journal that is garbage is moved aside, and a new one works */
	char path[256];
	snprintf(path, sizeof path, "%s/journal/data.mdb", dir);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	for (int i = 0; f && i < 20000; i++)
		fputs("garbage!", f);
	if (f)
		fclose(f);
	snprintf(path, sizeof path, "%s/journal/lock.mdb", dir);
	unlink(path);
	CHECK_EQ_INT(cf_journal_open(dir, &j), 0);
	CHECK_EQ_INT(cf_journal_get(j, a, &got), -ENOENT);
	uint64_t d = 0;
	job = json_pack("{s:s}", "step", "x");
	CHECK_EQ_INT(cf_journal_add(j, job, &d), 0);
	json_decref(job);
	cf_journal_close(j);
	char cmd[300];
	snprintf(cmd, sizeof cmd, "ls %s/journal | grep -q 'data.mdb.bad-' && rm -rf %s", dir, dir);
	CHECK_EQ_INT(system(cmd), 0);
	return check_summary();
}
