/* policy_restore.c — the restore section's decisions (policy.h): how old a
 * copy may be, how consistent it must have been made, whether it comes from
 * a replicated system, and the labels a restored disk or instance carries.
 * Parsing the section is policy.c's, with the other sections. */
#include "policy.h"

#include "names.h"
#include "timefmt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void say(char *why, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t size, const char *fmt, ...)
{
	if (!why || !size)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, size, fmt, ap);
	va_end(ap);
}

static const char *label_of(const struct cf_resource *r, const char *key)
{
	for (size_t i = 0; r && key && i < r->nlabels; i++)
		if (!strcmp(r->labels[i].key, key))
			return r->labels[i].value;
	return NULL;
}

/* "3d 4h" for a log line. */
static void age_text(int64_t s, char *buf, size_t size)
{
	if (s >= 86400)
		snprintf(buf, size, "%" PRId64 "d %" PRId64 "h", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		snprintf(buf, size, "%" PRId64 "h %" PRId64 "m", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, size, "%" PRId64 "s", s);
}

int cf_policy_restore_age(const struct cf_policy *p, const struct cf_resource *src, int64_t now,
			  char *why, size_t whysize)
{
	unsigned max = p->restore.max_age_seconds;
	if (!max)
		return 0;
	if (src->created <= 0) {
		if (label_of(src, p->restore.approve_label))
			return 0;
		say(why, whysize,
		    "the source reports no creation time, so its age cannot be checked against "
		    "restore.max_age_seconds (%u s); label it %s to restore it anyway",
		    max, p->restore.approve_label);
		return -EPERM;
	}
	int64_t age = now > src->created ? now - src->created : 0;
	if (age <= (int64_t) max || label_of(src, p->restore.approve_label))
		return 0;
	char a[48], m[48];
	age_text(age, a, sizeof a);
	age_text(max, m, sizeof m);
	say(why, whysize,
	    "the source is %s old (%" PRId64 " s), older than restore.max_age_seconds (%s): an old "
	    "copy brings back what was fixed since (patches, credentials, security software); "
	    "someone with the prune right may approve it with the label %s",
	    a, age, m, p->restore.approve_label);
	return -EPERM;
}

int cf_policy_restore_consistency(const struct cf_policy *p, const struct cf_resource *src,
				  char *why, size_t whysize)
{
	if (!p->restore.consistency_set)
		return 0;
	enum cf_consistency want = p->restore.require_consistency, have;
	const char *l = label_of(src, "clonefs-consistency");
	if (!l || cf_consistency_from_name(l, &have)) {
		if (want == CF_CONS_CRASH)
			return 0; /* any copy is at least crash-consistent */
		say(why, whysize,
		    "restore.require_consistency is %s, and the source %s, so how it was made "
		    "cannot be told",
		    cf_consistency_name(want),
		    l ? "carries an unknown clonefs-consistency value"
		      : "has no clonefs-consistency label (not made by clonefs)");
		return -EPERM;
	}
	if (have >= want)
		return 0;
	say(why, whysize,
	    "the source was made %s-consistent (clonefs-consistency=%s); "
	    "restore.require_consistency is %s",
	    cf_consistency_name(have), l, cf_consistency_name(want));
	return -EPERM;
}

bool cf_policy_restore_replicated(const struct cf_policy *p, const struct cf_resource *src)
{
	if (!p->restore.replicated_set || !p->restore.n_replicated_selector)
		return false;
	for (size_t i = 0; i < p->restore.n_replicated_selector; i++) {
		const char *have = label_of(src, p->restore.replicated_selector[i].key);
		if (!have || strcmp(have, p->restore.replicated_selector[i].value))
			return false;
	}
	return true;
}

/* "NAME-ID" as a label value: the id whole (it is what identifies the copy),
 * the name cut to fit before it. */
static void restored_from(const struct cf_resource *src, char out[64])
{
	char id[64], name[64], both[128];
	cf_label_value_map(src->id ? src->id : "", id);
	cf_label_value_map(src->name ? src->name : "", name);
	size_t idl = strlen(id);
	if (!idl) {
		memcpy(out, name, sizeof name);
		return;
	}
	int room = 63 - 1 - (int) idl;
	if (room < 1) {
		memcpy(out, id, sizeof id);
		return;
	}
	snprintf(both, sizeof both, "%.*s-%s", room, name, id);
	cf_label_value_map(both, out);
}

int cf_policy_restore_labels(const struct cf_policy *p, const struct cf_resource *src,
			     unsigned depth, bool replicated, const char *user, int64_t now,
			     struct cf_label **out, size_t *n, char *why, size_t whysize)
{
	struct cf_label *l = NULL;
	size_t cnt = 0;
	int rc = 0;
	char v[64], from[64], depth_s[16], at[32], created[32] = "";
	rc = cf_policy_given_labels(p, src, &l, &cnt);
	restored_from(src, from);
	snprintf(depth_s, sizeof depth_s, "%u", depth);
	cf_time_format(now, at, sizeof at);
	if (src->created > 0)
		cf_time_format(src->created, created, sizeof created);
	const char *cons = label_of(src, "clonefs-consistency");
	const char *prov[][2] = {
	    {"clonefs-restored-from", from},
	    {"clonefs-restored-at", at},
	    {"clonefs-source-created", created[0] ? created : "unknown"},
	    {"clonefs-consistency", cons},
	    {"clonefs-depth", depth_s},
	    {"clonefs-created-by", user ? user : "unknown"},
	    {CF_RESYNC_LABEL, replicated ? "required" : NULL},
	};
	for (size_t i = 0; !rc && i < sizeof prov / sizeof prov[0]; i++) {
		if (!prov[i][1])
			continue;
		cf_label_value_map(prov[i][1], v);
		rc = cf_labels_put(&l, &cnt, prov[i][0], v);
	}
	if (rc) {
		for (size_t i = 0; i < cnt; i++) {
			free(l[i].key);
			free(l[i].value);
		}
		free(l);
		if (rc == -ENOSPC)
			say(why, whysize,
			    "the restored resource would carry more than %d labels (inherited, "
			    "policy and provenance labels together)",
			    CF_LABELS_MAX);
		return rc;
	}
	*out = l;
	*n = cnt;
	return 0;
}
