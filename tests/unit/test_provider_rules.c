/* test_provider_rules.c — what the engine asks the provider instead of
 * knowing a cloud: the neutral defaults of provider.h (states, text rules,
 * capabilities, the label byte cap) for a provider without those calls, and
 * the engine refusing a consistency mode the provider lacks (EOPNOTSUPP, with
 * a log line naming the setting to change) before it sends anything. */
#include "gce.h"
#include "check.h"
#include "engine.h"
#include "retry_provider.h"
#include "layout.h"
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- the neutral defaults ---- */

static void test_defaults(void)
{
	CHECK_EQ_INT(cf_state_from_word(NULL), CF_STATE_NONE);
	CHECK_EQ_INT(cf_state_from_word("READY"), CF_STATE_READY);
	CHECK_EQ_INT(cf_state_from_word("running"), CF_STATE_RUNNING);
	CHECK_EQ_INT(cf_state_from_word("Stopped"), CF_STATE_STOPPED);
	CHECK_EQ_INT(cf_state_from_word("TERMINATED"), CF_STATE_OTHER); /* a provider's word */
	CHECK_EQ_INT(cf_state_from_word(""), CF_STATE_OTHER);
	for (int s = 0; s < CF_STATE__COUNT; s++)
		CHECK(cf_state_name((enum cf_state) s) != NULL);
	CHECK_EQ_STR(cf_state_name(CF_STATE__COUNT), "other");

	static const struct cf_provider_ops bare = {.name = "bare"};
	struct cf_provider p = {.ops = &bare};
	CHECK_EQ_INT(cf_provider_state(&p, CF_KIND_DISK, "ready"), CF_STATE_READY);
	CHECK_EQ_INT(cf_provider_state(&p, CF_KIND_DISK, NULL), CF_STATE_NONE);
	CHECK_EQ_INT(cf_provider_consistency(&p), CF_CAP_CRASH);
	CHECK_EQ_INT(cf_provider_label_bytes_max(&p), CF_LABEL_TEXT_BYTES_MAX);

	const char *rule = NULL;
	CHECK(cf_provider_text_valid(&p, CF_TEXT_NAME, "Any-Name", 8, &rule));
	CHECK(rule && *rule);
	CHECK(!cf_provider_text_valid(&p, CF_TEXT_NAME, "a/b", 3, NULL));
	CHECK(!cf_provider_text_valid(&p, CF_TEXT_NAME, "..", 2, NULL));
	CHECK(!cf_provider_text_valid(&p, CF_TEXT_NAME, "a\0b", 3, NULL));
	CHECK(cf_provider_text_valid(&p, CF_TEXT_LABEL_KEY, "Owner", 5, NULL));
	CHECK(!cf_provider_text_valid(&p, CF_TEXT_LABEL_KEY, "", 0, NULL));
	CHECK(cf_provider_text_valid(&p, CF_TEXT_LABEL_VALUE, "", 0, NULL));
	CHECK(!cf_provider_text_valid(&p, CF_TEXT_LABEL_VALUE, "a\nb", 3, NULL));
}

/* ---- the engine and a provider that cannot flush ---- */

#define DISK "zones/z1/disks/d1"

static atomic_int creates;

static struct cf_resource disk(const char *mode_label)
{
	struct cf_resource r = {.kind = CF_KIND_DISK, .created = 1700000000};
	r.scope = strdup("zones/z1");
	r.name = strdup("d1");
	r.id = strdup("42");
	r.status = strdup("ready");
	r.raw = strdup("{}");
	r.raw_len = 2;
	if (mode_label) {
		r.labels = calloc(1, sizeof *r.labels);
		r.labels[0].key = strdup("clone-consistency");
		r.labels[0].value = strdup(mode_label);
		r.nlabels = 1;
	}
	return r;
}

static const char *source_label; /* the source's clone-consistency label, or NULL */

static int fake_get(struct cf_provider *p, const char *path, struct cf_resource *out,
		    struct cf_error *err)
{
	(void) p;
	if (strcmp(path, DISK)) {
		snprintf(err->message, sizeof err->message, "no such thing");
		return -ENOENT;
	}
	*out = disk(source_label);
	return 0;
}

/* Anything past the checks is refused here: this test is about the checks. */
static int fake_create(struct cf_provider *p, const struct cf_create_req *req,
		       struct cf_operation *op, struct cf_error *err)
{
	(void) p, (void) req, (void) op;
	atomic_fetch_add(&creates, 1);
	snprintf(err->message, sizeof err->message, "fake: no creates");
	err->http_status = 403;
	err->errnum = -EACCES;
	return -EACCES;
}

static int fake_remove(struct cf_provider *p, const char *path, const char *rid,
		       struct cf_operation *op, struct cf_error *err)
{
	(void) p, (void) path, (void) rid, (void) op, (void) err;
	return -EACCES;
}

static int fake_power(struct cf_provider *p, const char *path, bool start, const char *rid,
		      struct cf_operation *op, struct cf_error *err)
{
	(void) p, (void) path, (void) start, (void) rid, (void) op, (void) err;
	return -EACCES;
}

static int fake_set_labels(struct cf_provider *p, const char *path, const struct cf_label *l,
			   size_t n, const char *fp, const char *rid, struct cf_operation *op,
			   struct cf_error *err)
{
	(void) p, (void) path, (void) l, (void) n, (void) fp, (void) rid, (void) op, (void) err;
	return -EACCES;
}

static int fake_poll(struct cf_provider *p, struct cf_operation *op, bool wait,
		     struct cf_error *err)
{
	(void) p, (void) wait, (void) err;
	op->done = true;
	return 0;
}

static struct cf_provider_ops no_flush = {
    .name = "noflush",
    .get = fake_get,
    .create = fake_create,
    .remove = fake_remove,
    .power = fake_power,
    .set_labels = fake_set_labels,
    .op_poll = fake_poll,
    .consistency = CF_CAP_CRASH | CF_CAP_STOP,
};

static bool log_has(const char *needle)
{
	char *buf = NULL;
	size_t len = 0;
	if (cf_log_recent(&buf, &len) || !buf)
		return false;
	bool found = memmem(buf, len, needle, strlen(needle)) != NULL;
	free(buf);
	return found;
}

static void test_mode_refused(void)
{
	char dir[] = "/tmp/clonefs-test-rules-XXXXXX";
	CHECK(mkdtemp(dir) != NULL);
	char sdir[64], jdir[64];
	snprintf(sdir, sizeof sdir, "%s/store", dir);
	snprintf(jdir, sizeof jdir, "%s/journal", dir);
	CHECK_EQ_INT(mkdir(jdir, 0700), 0);

	struct cf_store *s = NULL;
	struct cf_journal *j = NULL;
	struct cf_policy *pol = NULL;
	CHECK_EQ_INT(cf_store_open(sdir, &s), 0);
	CHECK_EQ_INT(cf_journal_open(jdir, &j), 0);
	CHECK_EQ_INT(cf_policy_defaults(&pol), 0);
	if (!s || !j || !pol)
		return;

	struct cf_wtxn *w = NULL;
	struct cf_resource d = disk(NULL);
	CHECK_EQ_INT(cf_store_wbegin(s, &w), 0);
	CHECK_EQ_INT(cf_store_upsert(w, &d, NULL), 0);
	CHECK_EQ_INT(cf_store_wcommit(w, NULL), 0);
	cf_resource_clear(&d);
	uint64_t dino = 0;
	struct cf_stat snaps = {0};
	CHECK_EQ_INT(cf_store_ino_of_path(s, DISK, &dino), 0);
	CHECK_EQ_INT(cf_store_lookup(s, dino, "snapshots", &snaps), 0);

	struct cf_provider prov = {.ops = &no_flush};
	struct cf_engine_config cfg = {.store = s,
				       .provider = &prov,
				       .policy = pol,
				       .journal = j,
				       .poll_ms = 1,
				       .op_timeout_seconds = 5,
				       .mount_id = "0123456789abcdef"};
	struct cf_engine *e = NULL;
	CHECK_EQ_INT(cf_engine_new(&cfg, &e), 0);
	if (!e)
		return;
	struct cf_caller c = {.uid = getuid(), .gid = getgid(), .user = "t", .mounter = true};
	struct cf_stat out;

	/* the policy asks for flush (clone.consistency), the provider cannot */
	pol->clone.consistency = CF_CONS_FLUSH;
	CHECK_EQ_INT(cf_engine_mkdir(e, &c, snaps.ino, "s1", &out), -EOPNOTSUPP);
	CHECK(log_has("has no flush of its own: set the policy's clone.flush_command (and "
		      "clone.thaw_command)"));
	CHECK(log_has("or change the policy's clone.consistency"));
	CHECK_EQ_INT(atomic_load(&creates), 0);

	/* the source's label asks for it: the label is what to change */
	pol->clone.consistency = CF_CONS_CRASH;
	source_label = "flush";
	CHECK_EQ_INT(cf_engine_mkdir(e, &c, snaps.ino, "s2", &out), -EOPNOTSUPP);
	CHECK(log_has("change the source's clone-consistency label"));
	CHECK_EQ_INT(atomic_load(&creates), 0);

	/* a mode it has goes on to the create (refused by this fake) */
	source_label = "crash";
	int rc = cf_engine_mkdir(e, &c, snaps.ino, "s3", &out);
	CHECK(rc != -EOPNOTSUPP && rc != 0);
	CHECK_EQ_INT(atomic_load(&creates), 1);

	/* the same provider given flush: the policy's flush passes the check */
	no_flush.consistency = CF_CAP_CRASH | CF_CAP_FLUSH;
	source_label = NULL;
	pol->clone.consistency = CF_CONS_FLUSH;
	rc = cf_engine_mkdir(e, &c, snaps.ino, "s4", &out);
	CHECK(rc != -EOPNOTSUPP);
	CHECK_EQ_INT(atomic_load(&creates), 2);

	cf_engine_free(e);
	cf_journal_close(j);
	cf_store_close(s);
	cf_policy_free(pol);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	CHECK_EQ_INT(system(cmd), 0);
}

/* What is repeated: the provider's own reading of a failure when it gave
 * one (errnum set), else what the errno and the HTTP status say. */
static void test_retry_reading(void)
{
	struct cf_error busy = {.http_status = 400, .errnum = -EIO, .retryable = true};
	struct cf_error final = {.http_status = 503, .errnum = -EAGAIN, .retryable = false};
	struct cf_error plain503 = {.http_status = 503};
	struct cf_error plain400 = {.http_status = 400};
	CHECK(cf_retry_transient(-EIO, &busy));
	CHECK(!cf_retry_transient(-EAGAIN, &final));
	CHECK(cf_retry_transient(-EAGAIN, &plain503));
	CHECK(!cf_retry_transient(-EAGAIN, &plain400));
	CHECK(cf_retry_transient(-ECONNREFUSED, NULL));
}

int main(void)
{
	cf_log_init("test_provider_rules", 0, 0, CF_LOG_WARN);
	cf_layout_use(&cf_gce_layout);
	test_defaults();
	test_mode_refused();
	test_retry_reading();
	return check_summary();
}
