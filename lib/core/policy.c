/* policy.c — the policy file (strict JSON: unknown keys and wrong types are
 * errors that name the key) and every clone / prune decision, each with a
 * reason an operator can act on. */
#include "policy.h"

#include "names.h"
#include "timefmt.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

static char **strv_dup(const char *const *v, size_t n)
{
	char **out = calloc(n + 1, sizeof *out);
	for (size_t i = 0; out && i < n; i++)
		if (!(out[i] = strdup(v[i]))) {
			for (size_t j = 0; j < i; j++)
				free(out[j]);
			free(out);
			return NULL;
		}
	return out;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static size_t strv_len(char **v)
{
	size_t n = 0;
	while (v && v[n])
		n++;
	return n;
}

void cf_labels_free(struct cf_label *l, size_t n)
{
	for (size_t i = 0; l && i < n; i++) {
		free(l[i].key);
		free(l[i].value);
	}
	free(l);
}

void cf_policy_free(struct cf_policy *p)
{
	if (!p)
		return;
	strv_free(p->clone.health_command, strv_len(p->clone.health_command));
	strv_free(p->clone.flush_command, strv_len(p->clone.flush_command));
	strv_free(p->clone.thaw_command, strv_len(p->clone.thaw_command));
	free(p->clone.allow.uids);
	free(p->clone.allow.gids);
	free(p->prune.allow.uids);
	free(p->prune.allow.gids);
	free(p->labels.allow.uids);
	free(p->labels.allow.gids);
	cf_labels_free(p->clone.allow_sources, p->clone.n_allow_sources);
	strv_free(p->clone.inherit_labels, p->clone.n_inherit_labels);
	cf_labels_free(p->clone.labels, p->clone.n_labels);
	free(p->prune.protect_label);
	strv_free(p->labels.required, p->labels.n_required);
	free(p->report.group_by);
	free(p->restore.allow.uids);
	free(p->restore.allow.gids);
	free(p->restore.approve_label);
	cf_labels_free(p->restore.replicated_selector, p->restore.n_replicated_selector);
	strv_free(p->restore.after_command, strv_len(p->restore.after_command));
	free(p);
}

int cf_policy_defaults(struct cf_policy **out)
{
	static const char *const inherit[] = {"owner", "env", "app"};
	static const char *const required[] = {"owner"};
	struct cf_policy *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	p->clone.consistency = CF_CONS_FLUSH;
	p->clone.require_healthy = true;
	p->clone.health_timeout_seconds = 30;
	p->clone.max_depth = 2;
	p->clone.max_per_source = 50;
	p->clone.inherit_labels = strv_dup(inherit, 3);
	p->clone.n_inherit_labels = 3;
	p->clone.job_max_age_seconds = 600;
	p->prune.grace_seconds = 3600;
	p->prune.protect_label = strdup("keep");
	p->prune.min_age_seconds = 0;
	p->prune.keep_last = 1;
	p->prune.max_per_minute = 30;
	p->labels.required = strv_dup(required, 1);
	p->labels.n_required = 1;
	p->report.group_by = strdup("owner");
	p->restore.approve_label = strdup("clonefs-restore-approved");
	p->restore.after_timeout_seconds = 60;
	if (!p->clone.inherit_labels || !p->prune.protect_label || !p->labels.required ||
	    !p->report.group_by || !p->restore.approve_label) {
		cf_policy_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

const char *cf_consistency_name(enum cf_consistency c)
{
	switch (c) {
	case CF_CONS_CRASH:
		return "crash";
	case CF_CONS_FLUSH:
		return "flush";
	case CF_CONS_STOP:
		return "stop";
	}
	return "?";
}

int cf_consistency_from_name(const char *s, enum cf_consistency *out)
{
	for (int c = CF_CONS_CRASH; c <= CF_CONS_STOP; c++)
		if (s && !strcmp(s, cf_consistency_name((enum cf_consistency) c))) {
			*out = (enum cf_consistency) c;
			return 0;
		}
	return -EINVAL;
}

/* ---- parsing: each helper names the key it rejects ---- */

/* One parse's state: where its error goes, and the rule label keys and
 * values are checked with. */
struct perr {
	char *buf;
	size_t size;
	cf_policy_text_rule text;
};

static bool key_ok(const struct perr *e, const char *s, size_t n)
{
	return e->text(CF_TEXT_LABEL_KEY, s, n, NULL);
}

static bool value_ok(const struct perr *e, const char *s, size_t n)
{
	return e->text(CF_TEXT_LABEL_VALUE, s, n, NULL);
}

static int bad(struct perr *e, const char *key, const char *what)
{
	say(e->buf, e->size, "%s: %s", key, what);
	return -EINVAL;
}

static int get_uint(json_t *v, const char *key, unsigned *out, struct perr *e)
{
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000000)
		return bad(e, key, "expected an integer from 0 to 100000000");
	*out = (unsigned) json_integer_value(v);
	return 0;
}

static int get_bool(json_t *v, const char *key, bool *out, struct perr *e)
{
	if (!json_is_boolean(v))
		return bad(e, key, "expected true or false");
	*out = json_is_true(v);
	return 0;
}

/* An array of strings (each a valid label key when keys), or null when
 * allow_null. *set tells whether it was non-null. */
static int get_strv(json_t *v, const char *key, bool allow_null, bool keys, char ***out, size_t *n,
		    bool *set, struct perr *e)
{
	if (json_is_null(v) && allow_null) {
		strv_free(*out, *n);
		*out = NULL;
		*n = 0;
		if (set)
			*set = false;
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) > 1024)
		return bad(e, key,
			   allow_null ? "expected an array of strings or null"
				      : "expected an array of strings");
	size_t cnt = json_array_size(v);
	char **arr = calloc(cnt + 1, sizeof *arr);
	if (!arr)
		return -ENOMEM;
	for (size_t i = 0; i < cnt; i++) {
		json_t *s = json_array_get(v, i);
		if (!json_is_string(s) ||
		    (keys && !key_ok(e, json_string_value(s), json_string_length(s)))) {
			strv_free(arr, i);
			return bad(e, key,
				   keys ? "an entry is not a valid label key"
					: "every entry must be a string");
		}
		arr[i] = strdup(json_string_value(s));
	}
	strv_free(*out, *n);
	*out = arr;
	*n = cnt;
	if (set)
		*set = true;
	return 0;
}

static int get_labels(json_t *v, const char *key, bool allow_null, struct cf_label **out, size_t *n,
		      bool *set, struct perr *e)
{
	if (json_is_null(v) && allow_null) {
		cf_labels_free(*out, *n);
		*out = NULL;
		*n = 0;
		if (set)
			*set = false;
		return 0;
	}
	if (!json_is_object(v) || json_object_size(v) > CF_LABELS_MAX)
		return bad(e, key, "expected an object of at most 64 label: value pairs");
	struct cf_label *l = calloc(json_object_size(v) + 1, sizeof *l);
	size_t i = 0;
	const char *k;
	json_t *val;
	if (!l)
		return -ENOMEM;
	json_object_foreach(v, k, val)
	{
		if (!key_ok(e, k, strlen(k)) || !json_is_string(val) ||
		    !value_ok(e, json_string_value(val), json_string_length(val))) {
			cf_labels_free(l, i);
			return bad(e, key,
				   "keys and values must be valid labels "
				   "([a-z][a-z0-9_-]{0,62} : [a-z0-9_-]{0,63})");
		}
		l[i].key = strdup(k);
		l[i].value = strdup(json_string_value(val));
		i++;
	}
	cf_labels_free(*out, *n);
	*out = l;
	*n = i;
	if (set)
		*set = true;
	return 0;
}

static int get_ids(json_t *v, const char *key, unsigned **out, size_t *n, bool *set, struct perr *e)
{
	if (json_is_null(v)) {
		free(*out);
		*out = NULL;
		*n = 0;
		*set = false;
		return 0;
	}
	if (!json_is_array(v) || json_array_size(v) > 4096)
		return bad(e, key, "expected an array of numeric ids or null");
	unsigned *ids = calloc(json_array_size(v) + 1, sizeof *ids);
	if (!ids)
		return -ENOMEM;
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *x = json_array_get(v, i);
		if (!json_is_integer(x) || json_integer_value(x) < 0 ||
		    json_integer_value(x) > 0xfffffffeLL) {
			free(ids);
			return bad(e, key, "every id must be a non-negative integer");
		}
		ids[i] = (unsigned) json_integer_value(x);
	}
	free(*out);
	*out = ids;
	*n = json_array_size(v);
	*set = true;
	return 0;
}

/* allow_uids or allow_gids (k) of a section, into its cf_allow. */
static int get_allow(json_t *v, const char *key, const char *k, struct cf_allow *a, struct perr *e)
{
	_Static_assert(sizeof(uid_t) == sizeof(unsigned) && sizeof(gid_t) == sizeof(unsigned),
		       "ids are read as unsigned");
	if (!strcmp(k, "allow_uids"))
		return get_ids(v, key, (unsigned **) &a->uids, &a->n_uids, &a->uids_set, e);
	return get_ids(v, key, (unsigned **) &a->gids, &a->n_gids, &a->gids_set, e);
}

static int parse_clone(json_t *o, struct cf_policy *p, struct perr *e)
{
	const char *k;
	json_t *v;
	int rc = 0;
	if (!json_is_object(o))
		return bad(e, "clone", "expected an object");
	json_object_foreach(o, k, v)
	{
		char key[96];
		snprintf(key, sizeof key, "clone.%s", k);
		if (!strcmp(k, "consistency")) {
			if (!json_is_string(v) ||
			    cf_consistency_from_name(json_string_value(v), &p->clone.consistency))
				rc = bad(e, key, "expected \"crash\", \"flush\" or \"stop\"");
		} else if (!strcmp(k, "require_healthy")) {
			rc = get_bool(v, key, &p->clone.require_healthy, e);
		} else if (!strcmp(k, "health_command")) {
			size_t n = strv_len(p->clone.health_command);
			rc = get_strv(v, key, true, false, &p->clone.health_command, &n, NULL, e);
			if (!rc && p->clone.health_command && n == 0)
				rc = bad(e, key, "an empty argv: use null for no command");
		} else if (!strcmp(k, "flush_command") || !strcmp(k, "thaw_command")) {
			char ***cmd = !strcmp(k, "flush_command") ? &p->clone.flush_command
								  : &p->clone.thaw_command;
			size_t n = strv_len(*cmd);
			rc = get_strv(v, key, true, false, cmd, &n, NULL, e);
			if (!rc && *cmd && n == 0)
				rc = bad(e, key, "an empty argv: use null for no command");
		} else if (!strcmp(k, "health_timeout_seconds")) {
			rc = get_uint(v, key, &p->clone.health_timeout_seconds, e);
		} else if (!strcmp(k, "allow_uids") || !strcmp(k, "allow_gids")) {
			rc = get_allow(v, key, k, &p->clone.allow, e);
		} else if (!strcmp(k, "allow_sources")) {
			rc = get_labels(v, key, true, &p->clone.allow_sources,
					&p->clone.n_allow_sources, &p->clone.sources_set, e);
		} else if (!strcmp(k, "max_depth")) {
			rc = get_uint(v, key, &p->clone.max_depth, e);
		} else if (!strcmp(k, "max_per_source")) {
			rc = get_uint(v, key, &p->clone.max_per_source, e);
		} else if (!strcmp(k, "inherit_labels")) {
			rc = get_strv(v, key, false, true, &p->clone.inherit_labels,
				      &p->clone.n_inherit_labels, NULL, e);
		} else if (!strcmp(k, "labels")) {
			rc = get_labels(v, key, false, &p->clone.labels, &p->clone.n_labels, NULL,
					e);
		} else if (!strcmp(k, "job_max_age_seconds")) {
			rc = get_uint(v, key, &p->clone.job_max_age_seconds, e);
		} else {
			rc = bad(e, key, "unknown key");
		}
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_prune(json_t *o, struct cf_policy *p, struct perr *e)
{
	const char *k;
	json_t *v;
	int rc = 0;
	if (!json_is_object(o))
		return bad(e, "prune", "expected an object");
	json_object_foreach(o, k, v)
	{
		char key[96];
		snprintf(key, sizeof key, "prune.%s", k);
		if (!strcmp(k, "grace_seconds"))
			rc = get_uint(v, key, &p->prune.grace_seconds, e);
		else if (!strcmp(k, "min_age_seconds"))
			rc = get_uint(v, key, &p->prune.min_age_seconds, e);
		else if (!strcmp(k, "keep_last"))
			rc = get_uint(v, key, &p->prune.keep_last, e);
		else if (!strcmp(k, "max_per_minute"))
			rc = get_uint(v, key, &p->prune.max_per_minute, e);
		else if (!strcmp(k, "allow_uids") || !strcmp(k, "allow_gids"))
			rc = get_allow(v, key, k, &p->prune.allow, e);
		else if (!strcmp(k, "protect_label")) {
			if (!json_is_string(v) ||
			    !key_ok(e, json_string_value(v), json_string_length(v)))
				rc = bad(e, key, "expected a valid label key");
			else {
				free(p->prune.protect_label);
				p->prune.protect_label = strdup(json_string_value(v));
			}
		} else
			rc = bad(e, key, "unknown key");
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_labels(json_t *o, struct cf_policy *p, struct perr *e)
{
	const char *k;
	json_t *v;
	if (!json_is_object(o))
		return bad(e, "labels", "expected an object");
	json_object_foreach(o, k, v)
	{
		char key[96];
		snprintf(key, sizeof key, "labels.%s", k);
		int rc;
		if (!strcmp(k, "required"))
			rc = get_strv(v, key, false, true, &p->labels.required,
				      &p->labels.n_required, NULL, e);
		else if (!strcmp(k, "allow_uids") || !strcmp(k, "allow_gids"))
			rc = get_allow(v, key, k, &p->labels.allow, e);
		else
			rc = bad(e, key, "unknown key");
		if (rc)
			return rc;
	}
	return 0;
}

static int parse_report(json_t *o, struct cf_policy *p, struct perr *e)
{
	const char *k;
	json_t *v;
	if (!json_is_object(o))
		return bad(e, "report", "expected an object");
	json_object_foreach(o, k, v)
	{
		char key[96];
		snprintf(key, sizeof key, "report.%s", k);
		if (strcmp(k, "group_by"))
			return bad(e, key, "unknown key");
		if (!json_is_string(v) || !key_ok(e, json_string_value(v), json_string_length(v)))
			return bad(e, key, "expected a valid label key");
		char *g = strdup(json_string_value(v));
		if (!g)
			return -ENOMEM;
		free(p->report.group_by);
		p->report.group_by = g;
	}
	return 0;
}

static int parse_restore(json_t *o, struct cf_policy *p, struct perr *e)
{
	const char *k;
	json_t *v;
	if (!json_is_object(o))
		return bad(e, "restore", "expected an object");
	json_object_foreach(o, k, v)
	{
		char key[96];
		snprintf(key, sizeof key, "restore.%s", k);
		int rc = 0;
		if (!strcmp(k, "allow_uids") || !strcmp(k, "allow_gids")) {
			rc = get_allow(v, key, k, &p->restore.allow, e);
		} else if (!strcmp(k, "max_age_seconds")) {
			rc = get_uint(v, key, &p->restore.max_age_seconds, e);
		} else if (!strcmp(k, "approve_label")) {
			if (!json_is_string(v) ||
			    !key_ok(e, json_string_value(v), json_string_length(v)))
				rc = bad(e, key, "expected a valid label key");
			else {
				free(p->restore.approve_label);
				p->restore.approve_label = strdup(json_string_value(v));
			}
		} else if (!strcmp(k, "require_consistency")) {
			if (json_is_null(v))
				p->restore.consistency_set = false;
			else if (!json_is_string(v) ||
				 cf_consistency_from_name(json_string_value(v),
							  &p->restore.require_consistency))
				rc = bad(e, key, "expected \"crash\", \"flush\", \"stop\" or null");
			else
				p->restore.consistency_set = true;
		} else if (!strcmp(k, "replicated_selector")) {
			rc = get_labels(v, key, true, &p->restore.replicated_selector,
					&p->restore.n_replicated_selector,
					&p->restore.replicated_set, e);
			if (!rc && p->restore.replicated_set && !p->restore.n_replicated_selector)
				rc = bad(e, key, "an empty selector matches everything: use null");
		} else if (!strcmp(k, "after_command")) {
			size_t n = strv_len(p->restore.after_command);
			rc = get_strv(v, key, true, false, &p->restore.after_command, &n, NULL, e);
			if (!rc && p->restore.after_command && n == 0)
				rc = bad(e, key, "an empty argv: use null for no command");
		} else if (!strcmp(k, "after_timeout_seconds")) {
			rc = get_uint(v, key, &p->restore.after_timeout_seconds, e);
		} else {
			rc = bad(e, key, "unknown key");
		}
		if (rc)
			return rc;
	}
	return 0;
}

int cf_policy_parse(const char *json, cf_policy_text_rule text, struct cf_policy **out, char *err,
		    size_t errsize)
{
	struct perr e = {err, errsize, text ? text : cf_text_valid_default};
	json_error_t jerr;
	struct cf_policy *p;
	int rc = cf_policy_defaults(&p);
	if (rc)
		return rc;
	json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		say(err, errsize, "line %d: %s", jerr.line, jerr.text);
		cf_policy_free(p);
		return -EINVAL;
	}
	if (!json_is_object(root)) {
		rc = bad(&e, "(top level)", "expected an object");
		goto out;
	}
	const char *k;
	json_t *v;
	json_object_foreach(root, k, v)
	{
		if (!strcmp(k, "clone"))
			rc = parse_clone(v, p, &e);
		else if (!strcmp(k, "prune"))
			rc = parse_prune(v, p, &e);
		else if (!strcmp(k, "labels"))
			rc = parse_labels(v, p, &e);
		else if (!strcmp(k, "report"))
			rc = parse_report(v, p, &e);
		else if (!strcmp(k, "restore"))
			rc = parse_restore(v, p, &e);
		else
			rc = bad(&e, k, "unknown key");
		if (rc)
			goto out;
	}
out:
	json_decref(root);
	if (rc) {
		cf_policy_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

int cf_policy_load(const char *path, cf_policy_text_rule text, struct cf_policy **out, char *err,
		   size_t errsize)
{
	/* The file decides what the daemon deletes and which command it runs (as root under
	 * systemd): like a token file, it must be a regular file (a FIFO would hang the
	 * start) that only its owner, the daemon's user or root, can change. A symbolic link
	 * is followed (configuration managers link /etc); the file it reaches is checked. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		int rc = -errno;
		say(err, errsize, "%s: %s", path, strerror(errno));
		return rc;
	}
	struct stat st;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		close(fd);
		say(err, errsize, "policy file %s is not a regular file", path);
		return -EACCES;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		close(fd);
		say(err, errsize,
		    "policy file %s belongs to uid %u, not to us (uid %u) or root: its owner "
		    "would decide what we delete and run",
		    path, (unsigned) st.st_uid, (unsigned) geteuid());
		return -EACCES;
	}
	if (st.st_mode & 022) {
		close(fd);
		say(err, errsize,
		    "policy file %s is writable by group or others (mode %04o): run chmod go-w %s",
		    path, (unsigned) (st.st_mode & 07777), path);
		return -EACCES;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	FILE *f = fdopen(fd, "r");
	if (!f) {
		int rc = -errno;
		close(fd);
		say(err, errsize, "%s: %s", path, strerror(-rc));
		return rc;
	}
	char *buf = NULL;
	size_t len = 0, cap = 0;
	for (;;) {
		if (len + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			if (cap > (1 << 20)) {
				free(buf);
				fclose(f);
				say(err, errsize, "%s: larger than 1 MiB", path);
				return -EFBIG;
			}
			char *nb = realloc(buf, cap);
			if (!nb) {
				free(buf);
				fclose(f);
				return -ENOMEM;
			}
			buf = nb;
		}
		size_t n = fread(buf + len, 1, cap - len - 1, f);
		len += n;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[len] = '\0';
	char inner[256] = "";
	int rc = cf_policy_parse(buf, text, out, inner, sizeof inner);
	free(buf);
	if (rc)
		say(err, errsize, "%s: %s", path, inner);
	return rc;
}

static json_t *labels_json(const struct cf_label *l, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, l[i].key, json_string(l[i].value));
	return o;
}

static json_t *strv_json(char **v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static json_t *ids_json(const unsigned *ids, size_t n, bool set)
{
	if (!set)
		return json_null();
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer(ids[i]));
	return a;
}

char *cf_policy_to_json(const struct cf_policy *p)
{
	json_t *clone = json_pack(
	    "{s:s, s:b, s:o, s:I, s:o, s:o, s:o, s:I, s:I, s:o, s:o}", "consistency",
	    cf_consistency_name(p->clone.consistency), "require_healthy", p->clone.require_healthy,
	    "health_command",
	    p->clone.health_command
		? strv_json(p->clone.health_command, strv_len(p->clone.health_command))
		: json_null(),
	    "health_timeout_seconds", (json_int_t) p->clone.health_timeout_seconds, "allow_uids",
	    ids_json((const unsigned *) p->clone.allow.uids, p->clone.allow.n_uids,
		     p->clone.allow.uids_set),
	    "allow_gids",
	    ids_json((const unsigned *) p->clone.allow.gids, p->clone.allow.n_gids,
		     p->clone.allow.gids_set),
	    "allow_sources",
	    p->clone.sources_set ? labels_json(p->clone.allow_sources, p->clone.n_allow_sources)
				 : json_null(),
	    "max_depth", (json_int_t) p->clone.max_depth, "max_per_source",
	    (json_int_t) p->clone.max_per_source, "inherit_labels",
	    strv_json(p->clone.inherit_labels, p->clone.n_inherit_labels), "labels",
	    labels_json(p->clone.labels, p->clone.n_labels));
	json_object_set_new(clone, "job_max_age_seconds",
			    json_integer((json_int_t) p->clone.job_max_age_seconds));
	json_object_set_new(clone, "flush_command",
			    p->clone.flush_command ? strv_json(p->clone.flush_command,
							       strv_len(p->clone.flush_command))
						   : json_null());
	json_object_set_new(clone, "thaw_command",
			    p->clone.thaw_command
				? strv_json(p->clone.thaw_command, strv_len(p->clone.thaw_command))
				: json_null());
	json_t *prune =
	    json_pack("{s:I, s:s, s:I, s:I, s:I, s:o, s:o}", "grace_seconds",
		      (json_int_t) p->prune.grace_seconds, "protect_label", p->prune.protect_label,
		      "min_age_seconds", (json_int_t) p->prune.min_age_seconds, "keep_last",
		      (json_int_t) p->prune.keep_last, "max_per_minute",
		      (json_int_t) p->prune.max_per_minute, "allow_uids",
		      ids_json((const unsigned *) p->prune.allow.uids, p->prune.allow.n_uids,
			       p->prune.allow.uids_set),
		      "allow_gids",
		      ids_json((const unsigned *) p->prune.allow.gids, p->prune.allow.n_gids,
			       p->prune.allow.gids_set));
	json_t *labels =
	    json_pack("{s:o, s:o, s:o}", "required",
		      strv_json(p->labels.required, p->labels.n_required), "allow_uids",
		      ids_json((const unsigned *) p->labels.allow.uids, p->labels.allow.n_uids,
			       p->labels.allow.uids_set),
		      "allow_gids",
		      ids_json((const unsigned *) p->labels.allow.gids, p->labels.allow.n_gids,
			       p->labels.allow.gids_set));
	json_t *report = json_pack("{s:s}", "group_by", p->report.group_by);
	json_t *restore =
	    json_pack("{s:o, s:o, s:I, s:s, s:o, s:o, s:o, s:I}", "allow_uids",
		      ids_json((const unsigned *) p->restore.allow.uids, p->restore.allow.n_uids,
			       p->restore.allow.uids_set),
		      "allow_gids",
		      ids_json((const unsigned *) p->restore.allow.gids, p->restore.allow.n_gids,
			       p->restore.allow.gids_set),
		      "max_age_seconds", (json_int_t) p->restore.max_age_seconds, "approve_label",
		      p->restore.approve_label, "require_consistency",
		      p->restore.consistency_set
			  ? json_string(cf_consistency_name(p->restore.require_consistency))
			  : json_null(),
		      "replicated_selector",
		      p->restore.replicated_set ? labels_json(p->restore.replicated_selector,
							      p->restore.n_replicated_selector)
						: json_null(),
		      "after_command",
		      p->restore.after_command
			  ? strv_json(p->restore.after_command, strv_len(p->restore.after_command))
			  : json_null(),
		      "after_timeout_seconds", (json_int_t) p->restore.after_timeout_seconds);
	json_t *root = json_pack("{s:o, s:o, s:o, s:o, s:o}", "clone", clone, "prune", prune,
				 "labels", labels, "restore", restore, "report", report);
	char *s = root ? json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
	json_decref(root);
	if (s) {
		/* one trailing newline, as a text file has */
		size_t n = strlen(s);
		char *t = realloc(s, n + 2);
		if (t) {
			t[n] = '\n';
			t[n + 1] = '\0';
			s = t;
		}
	}
	return s;
}

/* ---- decisions ---- */

static const char *label_of(const struct cf_resource *r, const char *key)
{
	for (size_t i = 0; r && i < r->nlabels; i++)
		if (!strcmp(r->labels[i].key, key))
			return r->labels[i].value;
	return NULL;
}

const char *cf_right_name(enum cf_right r)
{
	switch (r) {
	case CF_RIGHT_CLONE:
		return "clone";
	case CF_RIGHT_PRUNE:
		return "prune";
	case CF_RIGHT_LABEL:
		return "label";
	case CF_RIGHT_RESTORE:
		return "restore";
	}
	return "?";
}

static bool allow_set(const struct cf_allow *a)
{
	return a->uids_set || a->gids_set;
}

static bool allow_has(const struct cf_allow *a, const struct cf_caller *c)
{
	for (size_t i = 0; a->uids_set && i < a->n_uids; i++)
		if (a->uids[i] == c->uid)
			return true;
	for (size_t i = 0; a->gids_set && i < a->n_gids; i++) {
		if (a->gids[i] == c->gid)
			return true;
		for (size_t j = 0; c->groups && j < c->ngroups; j++)
			if (c->groups[j] == a->gids[i])
				return true;
	}
	return false;
}

/* "gid 4242, groups 27,100" for a refusal: the groups the decision saw, cut with ",..."
 * where they would not fit (size is at least 32). */
static void groups_text(const struct cf_caller *c, char *buf, size_t size)
{
	int n = snprintf(buf, size, "gid %u", (unsigned) c->gid);
	size_t used = n > 0 ? (size_t) n : 0;
	for (size_t i = 0; c->groups && i < c->ngroups; i++) {
		char one[32];
		n = snprintf(one, sizeof one, "%s%u", i ? "," : ", groups ",
			     (unsigned) c->groups[i]);
		if (n < 0 || used + (size_t) n + 5 > size) {
			snprintf(buf + used, size - used, ",...");
			break;
		}
		memcpy(buf + used, one, (size_t) n + 1);
		used += (size_t) n;
	}
}

int cf_policy_may(const struct cf_policy *p, enum cf_right r, const struct cf_caller *c, char *why,
		  size_t whysize)
{
	/* The section whose lists decide: the right's own, else the one before it. */
	static const char *const section[] = {"clone", "prune", "labels", "restore"};
	const struct cf_allow *chain[] = {&p->clone.allow, &p->prune.allow, &p->labels.allow,
					  &p->restore.allow};
	int at = r == CF_RIGHT_LABEL ? 2 : r == CF_RIGHT_PRUNE ? 1 : 0;
	if (r == CF_RIGHT_RESTORE) /* restore's own lists, else clone's */
		at = allow_set(&p->restore.allow) ? 3 : 0;
	while (at > 0 && at < 3 && !allow_set(chain[at]))
		at--;
	const struct cf_allow *a = chain[at];
	char groups[120];
	if (!allow_set(a)) {
		if (c->mounter || c->uid == 0)
			return 0;
		say(why, whysize,
		    "uid %u may not %s: no allow_uids / allow_gids in the policy, so only the "
		    "mounting user and root may",
		    (unsigned) c->uid, cf_right_name(r));
		return -EACCES;
	}
	if (allow_has(a, c))
		return 0;
	groups_text(c, groups, sizeof groups);
	say(why, whysize, "uid %u (%s) may not %s: not in the policy's %s.allow_uids / allow_gids",
	    (unsigned) c->uid, groups, cf_right_name(r), section[at]);
	return -EACCES;
}

enum cf_right cf_policy_label_right(const struct cf_policy *p, const char *key)
{
	if (!strncmp(key, "clonefs-", 8) || !strcmp(key, "clone-consistency") ||
	    (p->prune.protect_label && !strcmp(key, p->prune.protect_label)))
		return CF_RIGHT_PRUNE;
	/* the restore section's: who approves an old copy, what marks a replica */
	if (p->restore.approve_label && !strcmp(key, p->restore.approve_label))
		return CF_RIGHT_PRUNE;
	for (size_t i = 0; p->restore.replicated_set && i < p->restore.n_replicated_selector; i++)
		if (!strcmp(key, p->restore.replicated_selector[i].key))
			return CF_RIGHT_PRUNE;
	for (size_t i = 0; p->clone.sources_set && i < p->clone.n_allow_sources; i++)
		if (!strcmp(key, p->clone.allow_sources[i].key))
			return CF_RIGHT_PRUNE;
	return CF_RIGHT_LABEL;
}

int cf_policy_may_clone_source(const struct cf_policy *p, const struct cf_resource *src, char *why,
			       size_t whysize)
{
	if (!p->clone.sources_set)
		return 0;
	for (size_t i = 0; i < p->clone.n_allow_sources; i++) {
		const struct cf_label *want = &p->clone.allow_sources[i];
		const char *have = label_of(src, want->key);
		if (!have || strcmp(have, want->value)) {
			say(why, whysize,
			    "source is not allowed to be cloned: the policy's allow_sources wants "
			    "label %s=%s, it has %s%s",
			    want->key, want->value, have ? "" : "no such label", have ? have : "");
			return -EPERM;
		}
	}
	return 0;
}

int cf_policy_consistency(const struct cf_policy *p, const struct cf_resource *src,
			  enum cf_consistency *out, char *why, size_t whysize)
{
	const char *l = label_of(src, "clone-consistency");
	if (!l) {
		*out = p->clone.consistency;
		return 0;
	}
	if (cf_consistency_from_name(l, out)) {
		say(why, whysize,
		    "the source's clone-consistency label is \"%s\"; expected crash, flush or stop",
		    l);
		return -EINVAL;
	}
	return 0;
}

int cf_policy_check_depth(const struct cf_policy *p, unsigned depth, char *why, size_t whysize)
{
	if (depth <= p->clone.max_depth)
		return 0;
	say(why, whysize, "a clone here would be at depth %u; the policy's clone.max_depth is %u",
	    depth, p->clone.max_depth);
	return -EMLINK;
}

int cf_policy_check_quota(const struct cf_policy *p, size_t existing, char *why, size_t whysize)
{
	if (existing < p->clone.max_per_source)
		return 0;
	say(why, whysize,
	    "the source already has %zu clones; the policy's clone.max_per_source is %u", existing,
	    p->clone.max_per_source);
	return -EDQUOT;
}

int cf_labels_put(struct cf_label **l, size_t *n, const char *k, const char *v)
{
	for (size_t i = 0; i < *n; i++)
		if (!strcmp((*l)[i].key, k)) {
			char *nv = strdup(v);
			if (!nv)
				return -ENOMEM;
			free((*l)[i].value);
			(*l)[i].value = nv;
			return 0;
		}
	if (*n >= CF_LABELS_MAX)
		return -ENOSPC;
	struct cf_label *nl = realloc(*l, (*n + 1) * sizeof **l);
	if (!nl)
		return -ENOMEM;
	*l = nl;
	nl[*n].key = strdup(k);
	nl[*n].value = strdup(v);
	if (!nl[*n].key || !nl[*n].value) {
		free(nl[*n].key);
		free(nl[*n].value);
		return -ENOMEM;
	}
	(*n)++;
	return 0;
}

int cf_policy_given_labels(const struct cf_policy *p, const struct cf_resource *src,
			   struct cf_label **l, size_t *n)
{
	int rc = 0;
	for (size_t i = 0; !rc && i < p->clone.n_inherit_labels; i++) {
		const char *have = label_of(src, p->clone.inherit_labels[i]);
		if (have)
			rc = cf_labels_put(l, n, p->clone.inherit_labels[i], have);
	}
	for (size_t i = 0; !rc && i < p->clone.n_labels; i++)
		rc = cf_labels_put(l, n, p->clone.labels[i].key, p->clone.labels[i].value);
	return rc;
}

int cf_policy_clone_labels(const struct cf_policy *p, const struct cf_resource *src,
			   const char *src_path, enum cf_consistency c, unsigned depth,
			   const char *user, int64_t now, struct cf_label **out, size_t *n,
			   char *why, size_t whysize)
{
	struct cf_label *l = NULL;
	size_t cnt = 0;
	int rc = 0;
	char v[64], depth_s[16], stamp[32];
	rc = cf_policy_given_labels(p, src, &l, &cnt);
	snprintf(depth_s, sizeof depth_s, "%u", depth);
	cf_time_format(now, stamp, sizeof stamp);
	const char *prov[][2] = {
	    {"clonefs-source", src_path},
	    {"clonefs-depth", depth_s},
	    {"clonefs-consistency", cf_consistency_name(c)},
	    {"clonefs-created-by", user ? user : "unknown"},
	    {"clonefs-created", stamp},
	};
	for (size_t i = 0; !rc && i < sizeof prov / sizeof prov[0]; i++) {
		cf_label_value_map(prov[i][1], v);
		rc = cf_labels_put(&l, &cnt, prov[i][0], v);
	}
	if (rc) {
		cf_labels_free(l, cnt);
		if (rc == -ENOSPC)
			say(why, whysize,
			    "the clone would carry more than %d labels (inherited, policy and "
			    "provenance labels together)",
			    CF_LABELS_MAX);
		return rc;
	}
	*out = l;
	*n = cnt;
	return 0;
}

int cf_policy_may_prune(const struct cf_policy *p, const struct cf_resource *r, bool ready,
			int64_t now, size_t newer_siblings, size_t siblings, char *why,
			size_t whysize)
{
	const char *keep = label_of(r, p->prune.protect_label);
	if (keep) {
		say(why, whysize, "protected by its label %s=%s; remove the label to prune it",
		    p->prune.protect_label, keep);
		return -EPERM;
	}
	if (p->prune.min_age_seconds && r->created > 0 &&
	    now - r->created < (int64_t) p->prune.min_age_seconds) {
		say(why, whysize, "only %lld s old; the policy's prune.min_age_seconds is %u",
		    (long long) (now - r->created), p->prune.min_age_seconds);
		return -EPERM;
	}
	if (r->source && p->prune.keep_last && ready && newer_siblings < p->prune.keep_last) {
		say(why, whysize,
		    "one of the newest %u READY of its source %s (%zu READY in all); the "
		    "policy's prune.keep_last keeps them",
		    p->prune.keep_last, r->source, siblings);
		return -EPERM;
	}
	return 0;
}

int cf_policy_missing_labels(const struct cf_policy *p, const struct cf_resource *r, char *buf,
			     size_t size)
{
	int missing = 0;
	size_t used = 0;
	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < p->labels.n_required; i++) {
		if (label_of(r, p->labels.required[i]))
			continue;
		int n = snprintf(buf + used, size > used ? size - used : 0, "%s%s",
				 missing ? "," : "", p->labels.required[i]);
		if (n > 0 && used + (size_t) n < size)
			used += (size_t) n;
		missing++;
	}
	return missing;
}

/* ---- the trash label: EPOCH-MOUNTID-ID (ID the rest, '-' allowed) ---- */

bool cf_mount_id_valid(const char *s)
{
	size_t n = 0;
	for (; s && s[n]; n++)
		if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
			return false;
	return n == CF_MOUNT_ID_LEN;
}

/* The id is the rest of the value after the fixed-width mount id, so it may
 * hold '-' (an EC2 id is snap-HEX, ami-HEX) without making the value
 * ambiguous. It is lowercase letters, digits, '_' and '-', never starting or
 * ending with '-' nor holding "--": what both clouds' ids are, and within a
 * Compute Engine label value. */
static bool rid_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '_' || c == '-';
}

static bool rid_valid(const char *s, size_t n)
{
	if (!n || s[0] == '-' || s[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!rid_char(s[i]) || (s[i] == '-' && s[i + 1] == '-'))
			return false;
	return true;
}

int cf_trash_value_format(int64_t at, const char *mount_id, const char *rid, char *buf, size_t size)
{
	if (at < 0 || !cf_mount_id_valid(mount_id) || !rid || !rid_valid(rid, strlen(rid)))
		return -EINVAL;
	int n = snprintf(buf, size, "%lld-%s-%s", (long long) at, mount_id, rid);
	if (n < 0 || (size_t) n >= size || n > CF_LABEL_VALUE_MAX)
		return -EINVAL;
	return 0;
}

int cf_trash_value_parse(const char *v, int64_t *at, char mount_id[CF_MOUNT_ID_LEN + 1], char *rid,
			 size_t rid_size)
{
	if (!v || strlen(v) > CF_LABEL_VALUE_MAX)
		return -EINVAL;
	const char *c = v;
	int64_t t = 0;
	size_t digits = 0;
	for (; *c >= '0' && *c <= '9'; c++, digits++) {
		if (digits >= 15)
			return -EINVAL;
		t = t * 10 + (*c - '0');
	}
	if (!digits || *c != '-')
		return -EINVAL;
	c++;
	char m[CF_MOUNT_ID_LEN + 1];
	if (strlen(c) < CF_MOUNT_ID_LEN + 2)
		return -EINVAL;
	memcpy(m, c, CF_MOUNT_ID_LEN);
	m[CF_MOUNT_ID_LEN] = '\0';
	c += CF_MOUNT_ID_LEN;
	if (!cf_mount_id_valid(m) || *c != '-')
		return -EINVAL;
	c++;
	size_t n = strlen(c);
	if (!n || n >= rid_size || !rid_valid(c, n))
		return -EINVAL;
	memcpy(rid, c, n + 1);
	memcpy(mount_id, m, sizeof m);
	*at = t;
	return 0;
}

/* ---- the deletion rate breaker: a ring of the last max_per_minute times ---- */

struct cf_breaker {
	pthread_mutex_t lock;
	unsigned max, head, count;
	int64_t times[];
};

struct cf_breaker *cf_breaker_new(unsigned max_per_minute)
{
	struct cf_breaker *b = calloc(1, sizeof *b + (max_per_minute + 1) * sizeof(int64_t));
	if (!b)
		return NULL;
	pthread_mutex_init(&b->lock, NULL);
	b->max = max_per_minute;
	return b;
}

int cf_breaker_take(struct cf_breaker *b, int64_t now_ms)
{
	int rc = 0;
	pthread_mutex_lock(&b->lock);
	/* drop what is older than a minute (the oldest are at the tail) */
	while (b->count) {
		unsigned tail = (b->head + b->max + 1 - b->count) % (b->max + 1);
		if (now_ms - b->times[tail] < 60000)
			break;
		b->count--;
	}
	if (b->count >= b->max) {
		rc = -EAGAIN;
	} else {
		b->times[b->head] = now_ms;
		b->head = (b->head + 1) % (b->max + 1);
		b->count++;
	}
	pthread_mutex_unlock(&b->lock);
	return rc;
}

void cf_breaker_refund(struct cf_breaker *b, int64_t taken_ms)
{
	pthread_mutex_lock(&b->lock);
	unsigned size = b->max + 1, newest = (b->head + size - 1) % size;
	/* the most recent entry taken at taken_ms (if it has not left the
	 * window yet); the newer ones move down one place, keeping the order */
	for (unsigned k = 0; k < b->count; k++) {
		unsigned i = (newest + size - k) % size;
		if (b->times[i] != taken_ms)
			continue;
		for (unsigned j = i; j != newest; j = (j + 1) % size)
			b->times[j] = b->times[(j + 1) % size];
		b->head = newest;
		b->count--;
		break;
	}
	pthread_mutex_unlock(&b->lock);
}

unsigned cf_breaker_recent(struct cf_breaker *b, int64_t now_ms)
{
	unsigned n = 0;
	pthread_mutex_lock(&b->lock);
	for (unsigned k = 0; k < b->count; k++) {
		unsigned i = (b->head + b->max + 1 - 1 - k) % (b->max + 1);
		n += now_ms - b->times[i] < 60000;
	}
	pthread_mutex_unlock(&b->lock);
	return n;
}

void cf_breaker_free(struct cf_breaker *b)
{
	if (!b)
		return;
	pthread_mutex_destroy(&b->lock);
	free(b);
}
