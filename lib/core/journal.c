/* journal.c — the durable operation journal (see journal.h): one LMDB
 * environment, synchronous commits, keys are big-endian ids so a cursor
 * walks jobs in the order they were made. */
#include "journal.h"

#include "log.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct cf_journal {
	MDB_env *env;
	MDB_dbi jobs, meta;
};

static int mdb_err(int rc, const char *what)
{
	if (rc == MDB_NOTFOUND)
		return -ENOENT;
	if (rc > 0)
		return -rc; /* a system errno */
	cf_err("journal: %s: %s", what, mdb_strerror(rc));
	return rc == MDB_MAP_FULL ? -ENOSPC : -EIO;
}

static void key_of(uint64_t id, unsigned char k[8])
{
	for (int i = 7; i >= 0; i--, id >>= 8)
		k[i] = (unsigned char) (id & 0xff);
}

static uint64_t id_of(const unsigned char *k)
{
	uint64_t id = 0;
	for (int i = 0; i < 8; i++)
		id = (id << 8) | k[i];
	return id;
}

static int try_open(const char *path, struct cf_journal *j)
{
	int rc = mdb_env_create(&j->env);
	if (rc)
		return rc;
	mdb_env_set_maxdbs(j->env, 4);
	mdb_env_set_mapsize(j->env, (size_t) 1 << 30);
	/* no NOSYNC flags: every commit reaches the disk before we send */
	rc = mdb_env_open(j->env, path, MDB_NOTLS, 0600);
	if (rc)
		goto fail;
	MDB_txn *txn;
	rc = mdb_txn_begin(j->env, NULL, 0, &txn);
	if (rc)
		goto fail;
	rc = mdb_dbi_open(txn, "jobs", MDB_CREATE, &j->jobs);
	if (!rc)
		rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &j->meta);
	if (rc) {
		mdb_txn_abort(txn);
		goto fail;
	}
	rc = mdb_txn_commit(txn);
	if (rc)
		goto fail;
	return 0;
fail:
	mdb_env_close(j->env);
	j->env = NULL;
	return rc;
}

int cf_journal_open(const char *dir, struct cf_journal **out)
{
	char path[4096];
	if (snprintf(path, sizeof path, "%s/journal", dir) >= (int) sizeof path)
		return -ENAMETOOLONG;
	if (mkdir(path, 0700) && errno != EEXIST) {
		int e = errno;
		cf_err("journal: cannot create %s: %s", path, strerror(e));
		return -e;
	}
	struct cf_journal *j = calloc(1, sizeof *j);
	if (!j)
		return -ENOMEM;
	int rc = try_open(path, j);
	if (rc && rc != ENOENT && rc != EACCES) {
		/* unreadable: keep it for a post-mortem, start a new one */
		char aside[4200], data[4200];
		snprintf(data, sizeof data, "%s/data.mdb", path);
		snprintf(aside, sizeof aside, "%s/data.mdb.bad-%lld", path, (long long) time(NULL));
		cf_err("journal: %s cannot be opened (%s); moved aside to %s, unfinished jobs "
		       "in it are not resumed",
		       data, mdb_strerror(rc), aside);
		rename(data, aside);
		snprintf(data, sizeof data, "%s/lock.mdb", path);
		unlink(data);
		rc = try_open(path, j);
	}
	if (rc) {
		free(j);
		return mdb_err(rc, "open");
	}
	*out = j;
	return 0;
}

void cf_journal_close(struct cf_journal *j)
{
	if (!j)
		return;
	mdb_env_close(j->env);
	free(j);
}

static json_t *parse(const MDB_val *v, uint64_t id);

/* Carry the stored job's marks that job lacks over into job (journal.h). */
static void keep_marks(const MDB_val *stored, uint64_t id, json_t *job)
{
	json_t *old = parse(stored, id);
	json_t *om = json_object_get(old, "marks");
	if (json_is_object(om) && json_object_size(om)) {
		json_t *nm = json_object_get(job, "marks");
		if (!json_is_object(nm)) {
			nm = json_object();
			json_object_set_new(job, "marks", nm);
		}
		const char *k;
		json_t *v;
		json_object_foreach(om, k, v)
		{
			if (!json_object_get(nm, k))
				json_object_set(nm, k, v);
		}
	}
	json_decref(old);
}
/* Write job under id in txn and commit it (txn is gone either way). */
static int put_commit(struct cf_journal *j, MDB_txn *txn, uint64_t id, json_t *job)
{
	unsigned char k[8];
	key_of(id, k);
	char *text = json_dumps(job, JSON_COMPACT);
	if (!text) {
		mdb_txn_abort(txn);
		return -ENOMEM;
	}
	MDB_val key = {8, k}, val = {strlen(text), text};
	int rc = mdb_put(txn, j->jobs, &key, &val, 0);
	free(text);
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_err(rc, "put");
	}
	rc = mdb_txn_commit(txn);
	return rc ? mdb_err(rc, "commit") : 0;
}

static int put(struct cf_journal *j, uint64_t *id, json_t *job, int must_exist)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(j->env, NULL, 0, &txn);
	if (rc)
		return mdb_err(rc, "begin");
	unsigned char k[8];
	MDB_val key = {8, k}, val;
	if (!*id) {
		/* next id: one past the largest ever used (kept in meta, so ids
		 * are never reused even after the newest job was deleted) */
		MDB_val mk = {4, (void *) "next"}, mv;
		uint64_t next = 1;
		if (!mdb_get(txn, j->meta, &mk, &mv) && mv.mv_size == 8)
			memcpy(&next, mv.mv_data, 8);
		*id = next++;
		mv.mv_size = 8;
		mv.mv_data = &next;
		rc = mdb_put(txn, j->meta, &mk, &mv, 0);
	} else if (must_exist) {
		key_of(*id, k);
		rc = mdb_get(txn, j->jobs, &key, &val);
		if (!rc)
			keep_marks(&val, *id, job);
	}
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_err(rc, "put");
	}
	return put_commit(j, txn, *id, job);
}

int cf_journal_add(struct cf_journal *j, json_t *job, uint64_t *id)
{
	*id = 0;
	return put(j, id, job, 0);
}

int cf_journal_put(struct cf_journal *j, uint64_t id, json_t *job)
{
	if (!id)
		return -EINVAL;
	return put(j, &id, job, 1);
}

static json_t *parse(const MDB_val *v, uint64_t id)
{
	json_error_t e;
	json_t *job = json_loadb(v->mv_data, v->mv_size, 0, &e);
	if (!job || !json_is_object(job)) {
		cf_err("journal: job %llu does not parse (%s); skipped", (unsigned long long) id,
		       job ? "not an object" : e.text);
		json_decref(job);
		return NULL;
	}
	return job;
}

int cf_journal_get(struct cf_journal *j, uint64_t id, json_t **job)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return mdb_err(rc, "begin");
	unsigned char k[8];
	key_of(id, k);
	MDB_val key = {8, k}, val;
	rc = mdb_get(txn, j->jobs, &key, &val);
	if (!rc) {
		*job = parse(&val, id);
		if (!*job)
			rc = EIO;
	}
	mdb_txn_abort(txn);
	return rc ? mdb_err(rc, "get") : 0;
}

int cf_journal_update(struct cf_journal *j, uint64_t id, cf_job_update_fn fn, void *ctx)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(j->env, NULL, 0, &txn);
	if (rc)
		return mdb_err(rc, "begin");
	unsigned char k[8];
	key_of(id, k);
	MDB_val key = {8, k}, val;
	rc = mdb_get(txn, j->jobs, &key, &val);
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_err(rc, "get");
	}
	json_t *job = parse(&val, id);
	if (!job) {
		mdb_txn_abort(txn);
		return -EIO;
	}
	int out = fn(ctx, job);
	if (out != 0) {
		json_decref(job);
		mdb_txn_abort(txn);
		return out < 0 ? out : 0;
	}
	rc = put_commit(j, txn, id, job);
	json_decref(job);
	return rc;
}

int cf_journal_del(struct cf_journal *j, uint64_t id)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(j->env, NULL, 0, &txn);
	if (rc)
		return mdb_err(rc, "begin");
	unsigned char k[8];
	key_of(id, k);
	MDB_val key = {8, k};
	rc = mdb_del(txn, j->jobs, &key, NULL);
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_err(rc, "del");
	}
	rc = mdb_txn_commit(txn);
	return rc ? mdb_err(rc, "commit") : 0;
}

int cf_journal_foreach(struct cf_journal *j, cf_job_fn fn, void *ctx)
{
	/* Copy the jobs out first: fn may write to the journal, and a write
	 * transaction cannot be begun while this thread holds a read one. */
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = mdb_txn_begin(j->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return mdb_err(rc, "begin");
	rc = mdb_cursor_open(txn, j->jobs, &cur);
	if (rc) {
		mdb_txn_abort(txn);
		return mdb_err(rc, "cursor");
	}
	json_t *all = json_array();
	uint64_t *ids = NULL;
	size_t n = 0;
	MDB_val key, val;
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); !rc;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		if (key.mv_size != 8)
			continue;
		uint64_t id = id_of(key.mv_data);
		json_t *job = parse(&val, id);
		if (!job)
			continue;
		uint64_t *ni = realloc(ids, (n + 1) * sizeof *ids);
		if (!ni) {
			json_decref(job);
			break;
		}
		ids = ni;
		ids[n++] = id;
		json_array_append_new(all, job);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	int out = 0;
	for (size_t i = 0; i < n && !out; i++)
		out = fn(ctx, ids[i], json_array_get(all, i));
	free(ids);
	json_decref(all);
	return out < 0 ? out : 0;
}
