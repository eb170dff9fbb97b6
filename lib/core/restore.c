/* restore.c — ln -s into a collection brings a copy back (restore.h).
 *
 *   ln -s ../../../global/snapshots/S zones/Z/disks/NEW     a disk from a snapshot
 *   ln -s /mnt/cloud/global/images/I zones/Z/disks/NEW      a disk from an image
 *   ln -s ../../../global/machineImages/M zones/Z/instances/NEW
 *
 * The collections and the scope come from the layout (layout.h), so a tree
 * whose volumes live at the root works the same (ln -s ../snapshots/S
 * volumes/NEW); where in the cloud the new resource goes beyond the scope
 * (an availability zone) is the provider's to decide.
 *
 * The checks (the policy's restore section) are judged on the source as the
 * API shows it now, read fresh and required to be the resource the mount
 * showed (its id), as every destructive operation does. A restore is a job
 * in the journal, every transition written before the request it leads to:
 *
 *   create -> wait_created -> [after] -> done
 *
 * The create carries a request id fixed when the job was planned, so a step
 * repeated after a crash or a lost answer gets the operation the first try
 * started: one resource per ln -s. `after` runs restore.after_command for a
 * replicated source, once: the job records that it started before it does. */
#include "restore.h"

#include "engine_int.h"
#include "health.h"
#include "layout.h"
#include "log.h"
#include "names.h"
#include "policy.h"
#include "retry_provider.h"
#include "timefmt.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum { OLD_COPY_SECONDS = 30 * 86400, MAX_COMPONENTS = 64 };

static const char *label_of(const struct cf_resource *r, const char *key)
{
	for (size_t i = 0; r && i < r->nlabels; i++)
		if (!strcmp(r->labels[i].key, key))
			return r->labels[i].value;
	return NULL;
}

static const char *jstr(json_t *job, const char *key)
{
	const char *s = json_string_value(json_object_get(job, key));
	return s ? s : "";
}

/* ---- the link's target ---- */

int cf_restore_resolve(const char *mountpoint, const char *dir, const char *link, char *out,
		       size_t size, char *why, size_t whysize)
{
	char buf[2 * CF_PATH_MAX + 2];
	const char *rest = link;
	if (!link || !*link || strlen(link) >= CF_PATH_MAX) {
		snprintf(why, whysize, "an empty or too long symlink target");
		return -EINVAL;
	}
	if (link[0] == '/') {
		size_t ml = mountpoint ? strlen(mountpoint) : 0;
		while (ml > 1 && mountpoint[ml - 1] == '/')
			ml--;
		if (!ml || strncmp(link, mountpoint, ml) || (link[ml] != '/' && link[ml])) {
			snprintf(why, whysize,
				 "the absolute target %.200s is not inside the mount %s", link,
				 mountpoint ? mountpoint : "(unknown)");
			return -EINVAL;
		}
		rest = link + ml;
		snprintf(buf, sizeof buf, "%s", rest);
	} else {
		snprintf(buf, sizeof buf, "%s/%s", dir ? dir : "", link);
	}
	/* split and fold "." and ".." (the tree has no symlinked directories) */
	char *comp[MAX_COMPONENTS];
	int n = 0;
	char *save = NULL;
	for (char *t = strtok_r(buf, "/", &save); t; t = strtok_r(NULL, "/", &save)) {
		if (!strcmp(t, "."))
			continue;
		if (!strcmp(t, "..")) {
			if (!n) {
				snprintf(why, whysize, "the target %.200s leaves the mount", link);
				return -EINVAL;
			}
			n--;
			continue;
		}
		if (n == MAX_COMPONENTS) {
			snprintf(why, whysize, "the target %.200s is too deep", link);
			return -EINVAL;
		}
		comp[n++] = t;
	}
	size_t pos = 0;
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		int w = snprintf(out + pos, size - pos, "%s%s", i ? "/" : "", comp[i]);
		if (w < 0 || (size_t) w >= size - pos)
			return -ENAMETOOLONG;
		pos += (size_t) w;
	}
	enum cf_kind k;
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1];
	if (!cf_path_parse(out, &k, scope, sizeof scope, name, sizeof name))
		return 0;
	/* A copy shown under its source: DISK/snapshots/S, INSTANCE/clones/M. */
	const struct cf_layout *l = cf_layout();
	for (int v = 0; l && n >= 2 && v < 2; v++) {
		if (strcmp(comp[n - 2], l->views[v].dir))
			continue;
		size_t plen = strlen(out) - strlen(comp[n - 1]) - strlen(comp[n - 2]) - 2;
		char src[CF_PATH_MAX];
		snprintf(src, sizeof src, "%.*s", (int) plen, out);
		if (cf_path_parse(src, &k, scope, sizeof scope, name, sizeof name) ||
		    k != l->views[v].source)
			continue;
		char last[CF_NAME_MAX + 1];
		snprintf(last, sizeof last, "%s", comp[n - 1]);
		enum cf_kind vk = l->views[v].kind;
		if (cf_resource_path(vk, cf_kind_home(vk), last, out, size) > 0)
			return 0;
	}
	snprintf(why, whysize,
		 "the target %.200s (%.200s in the mount) is not a resource of the mount", link,
		 out);
	return -EINVAL;
}

/* ---- the after command (run like the health command: health.h) ---- */

static int run_after(char *const argv[], unsigned timeout, const char *source, const char *target,
		     const char *from, char *why, size_t whysize)
{
	char *e_src = NULL, *e_tgt = NULL, *e_from = NULL;
	if (asprintf(&e_src, "CLONEFS_SOURCE=%s", source) < 0)
		e_src = NULL;
	if (asprintf(&e_tgt, "CLONEFS_TARGET=%s", target) < 0)
		e_tgt = NULL;
	if (asprintf(&e_from, "CLONEFS_RESTORED_FROM=%s", from) < 0)
		e_from = NULL;
	const char *env[4];
	int ne = 0;
	if (e_src)
		env[ne++] = e_src;
	if (e_tgt)
		env[ne++] = e_tgt;
	if (e_from)
		env[ne++] = e_from;
	env[ne] = NULL;
	int rc = cf_command_spawn("restore.after_command", (const char *const *) argv,
				  timeout ? timeout : 60, env, why, whysize);
	free(e_src);
	free(e_tgt);
	free(e_from);
	return rc == -ETIMEDOUT ? rc : rc ? -EIO : 0;
}

/* ---- the job ---- */

void cf_restore_job_target(json_t *job, char *buf, size_t size)
{
	enum cf_kind k = strcmp(jstr(job, "kind"), "instance") ? CF_KIND_DISK : CF_KIND_INSTANCE;
	if (cf_resource_path(k, jstr(job, "scope"), jstr(job, "name"), buf, size) < 0)
		snprintf(buf, size, "%s/?", jstr(job, "scope"));
}

/* "/mnt/PATH" for the after command (the path alone without a mountpoint). */
static void in_mount(struct cf_engine *e, const char *path, char *buf, size_t size)
{
	const char *mp = cf_eng_cfg(e)->mountpoint;
	snprintf(buf, size, "%s%s%s", mp ? mp : "", mp ? "/" : "", path);
}

/* A resumed job not accepted yet goes on only while its source is the one
 * the restore was planned on (same id): 0, -EAGAIN (cannot tell now), or
 * the errno with the reason in why. */
static int recheck_source(struct cf_engine *e, json_t *job, char *why, size_t size)
{
	struct cf_resource src = {0};
	struct cf_error err = {0};
	const char *path = jstr(job, "source");
	struct cf_provider *api = cf_eng_api(e);
	int rc = api->ops->get(api, path, &src, &err);
	if (rc == -ENOENT) {
		snprintf(why, size, "cancelled: its source %s no longer exists", path);
		return rc;
	}
	if (rc)
		return -EAGAIN;
	/* (a copy the API gave no id when planned is judged by its name alone) */
	if (*jstr(job, "source_id") && (!src.id || strcmp(src.id, jstr(job, "source_id")))) {
		snprintf(why, size, "cancelled: its source %s is now id %s, not id %s", path,
			 src.id ? src.id : "(none)", jstr(job, "source_id"));
		rc = -ESTALE;
	}
	cf_resource_clear(&src);
	return rc;
}

int cf_restore_run_job(struct cf_engine *e, uint64_t id, json_t *job, bool until_accepted,
		       bool resumed)
{
	const struct cf_engine_config *cfg = cf_eng_cfg(e);
	char target[CF_PATH_MAX];
	cf_restore_job_target(job, target, sizeof target);
	const char *source = jstr(job, "source");
	for (;;) {
		const char *step = jstr(job, "step");
		const char *next = NULL;
		int rc = 0;
		if (!strcmp(step, "create") && resumed &&
		    !json_is_true(json_object_get(job, "accepted"))) {
			char why[600];
			int grc = recheck_source(e, job, why, sizeof why);
			if (grc == -EAGAIN)
				return grc;
			if (grc) {
				cf_warn("job %" PRIu64 ": restore %s from %s: %s; dropped", id,
					target, source, why);
				cf_eng_job_fail(job, -ECANCELED, why);
				next = "done";
			}
		}
		resumed = false;
		if (next) {
			/* given up before anything was sent */
		} else if (!strcmp(step, "create")) {
			struct cf_operation op = {0};
			struct cf_error err = {0};
			json_t *labels = json_object_get(job, "labels");
			size_t n = json_object_size(labels), i = 0;
			struct cf_label *l = calloc(n + 1, sizeof *l);
			const char *k;
			json_t *v;
			json_object_foreach(labels, k, v)
			{
				if (!l)
					break;
				l[i].key = (char *) k;
				l[i].value = (char *) json_string_value(v);
				i++;
			}
			struct cf_restore_req req = {
			    .kind = strcmp(jstr(job, "kind"), "instance") ? CF_KIND_DISK
									  : CF_KIND_INSTANCE,
			    .scope = jstr(job, "scope"),
			    .name = jstr(job, "name"),
			    .source = source,
			    .size_bytes =
				(uint64_t) json_integer_value(json_object_get(job, "size")),
			    .labels = l,
			    .nlabels = i,
			    .request_id = json_string_value(
				json_object_get(json_object_get(job, "rid"), "create")),
			};
			struct cf_provider *api = cf_eng_api(e);
			rc = l ? api->ops->restore(api, &req, &op, &err) : -ENOMEM;
			free(l);
			if (rc) {
				char msg[600];
				snprintf(msg, sizeof msg, "create: %s", err.message);
				cf_eng_job_fail(job, rc, msg);
				cf_eng_refuse(e, target, -rc, "the restore was not accepted: %s",
					      err.message[0] ? err.message : strerror(-rc));
			} else {
				cf_eng_job_set_op(job, "create", &op);
				json_object_set_new(job, "accepted", json_true());
			}
			cf_operation_clear(&op);
			next = rc ? "done" : "wait_created";
		} else if (!strcmp(step, "wait_created")) {
			struct cf_operation op = {0};
			if (cf_eng_job_get_op(job, "create", &op))
				rc = cf_eng_follow(e, &op, target, "the restore");
			cf_operation_clear(&op);
			if (rc == -EAGAIN)
				return rc; /* still running in the cloud: a later round */
			if (rc)
				cf_eng_job_fail(job, rc, "the restore's operation failed");
			cf_eng_refresh(e, target, NULL);
			next = !rc && json_is_true(json_object_get(job, "replicated")) &&
				       cfg->policy->restore.after_command
				   ? "after"
				   : "done";
		} else if (!strcmp(step, "after")) {
			/* at most once: a crash while it runs does not run it again */
			if (!json_is_true(json_object_get(job, "after_started"))) {
				json_object_set_new(job, "after_started", json_true());
				if (cf_journal_put(cfg->journal, id, job))
					return -EAGAIN;
				char src[CF_PATH_MAX + 256], tgt[CF_PATH_MAX + 256], why[512];
				in_mount(e, source, src, sizeof src);
				in_mount(e, target, tgt, sizeof tgt);
				const char *from = json_string_value(json_object_get(
				    json_object_get(job, "labels"), "clonefs-restored-from"));
				int arc = run_after(cfg->policy->restore.after_command,
						    cfg->policy->restore.after_timeout_seconds, src,
						    tgt, from ? from : "", why, sizeof why);
				if (arc)
					cf_eng_refuse(
					    e, target, EHOSTDOWN,
					    "restored from a replicated source, but %s: the "
					    "cluster may not resync it; it stays marked %s",
					    why, CF_RESYNC_LABEL);
				else
					cf_warn(
					    "%s: restored from a replicated source; "
					    "restore.after_command ran for it: confirm the resync "
					    "with setfattr -x user.%s",
					    target, CF_RESYNC_LABEL);
			}
			next = "done";
		} else if (!strcmp(step, "done")) {
			json_t *err = json_object_get(job, "error");
			int result =
			    err ? -(int) json_integer_value(json_object_get(err, "errno")) : 0;
			if (err)
				cf_eng_count_restore(e, false, false, true);
			cf_journal_del(cfg->journal, id);
			return result;
		} else {
			cf_err("journal: job %" PRIu64 " has an unknown step \"%s\"; dropped", id,
			       step);
			cf_journal_del(cfg->journal, id);
			return -EIO;
		}
		json_object_set_new(job, "step", json_string(next));
		int jrc = cf_journal_put(cfg->journal, id, job);
		if (jrc) {
			cf_err("journal: cannot record job %" PRIu64 ": %s", id, strerror(-jrc));
			return -EAGAIN;
		}
		if (until_accepted) {
			if (!strcmp(next, "wait_created"))
				return 0;
			json_t *err = json_object_get(job, "error");
			if (err && !strcmp(next, "done") &&
			    !json_is_true(json_object_get(job, "accepted"))) {
				cf_journal_del(cfg->journal, id);
				cf_eng_count_restore(e, false, false, true);
				return -(int) json_integer_value(json_object_get(err, "errno"));
			}
		}
	}
}

/* ---- planning: symlink ---- */

/* Where the kind made in collection `coll` ("zones/Z/disks") can come from. */
static bool restorable(enum cf_kind made, enum cf_kind from)
{
	return (made == CF_KIND_DISK && (from == CF_KIND_SNAPSHOT || from == CF_KIND_IMAGE)) ||
	       (made == CF_KIND_INSTANCE && from == CF_KIND_MACHINE_IMAGE);
}

/* The accepted restore's entry: the API's record when it shows it already,
 * else a provisional CREATING one until the sync sees it. */
static void store_accepted(struct cf_engine *e, enum cf_kind kind, const char *scope,
			   const char *name, const char *target, const char *src_path,
			   const struct cf_label *l, size_t n)
{
	struct cf_resource r = {0};
	struct cf_error err = {0};
	struct cf_provider *p = cf_eng_cfg(e)->provider;
	if (p->ops->get(p, target, &r, &err) == 0 && r.id && r.kind == kind) {
		cf_eng_store_put(e, &r);
		cf_resource_clear(&r);
		return;
	}
	cf_resource_clear(&r);
	r.kind = kind;
	r.scope = (char *) scope;
	r.name = (char *) name;
	r.status = (char *) (kind == CF_KIND_INSTANCE ? "PROVISIONING" : "CREATING");
	r.created = (int64_t) time(NULL);
	r.origin = (char *) src_path;
	r.labels = (struct cf_label *) l;
	r.nlabels = n;
	cf_eng_store_put(e, &r);
}

static json_t *labels_to_json(const struct cf_label *l, size_t n)
{
	json_t *o = json_object();
	for (size_t i = 0; o && i < n; i++)
		json_object_set_new(o, l[i].key, json_string(l[i].value));
	return o;
}

static int engine_symlink(struct cf_engine *e, const struct cf_caller *c, const char *link,
			  uint64_t parent, const char *name)
{
	const struct cf_engine_config *cfg = cf_eng_cfg(e);
	const struct cf_policy *p = cfg->policy;
	char ppath[CF_PATH_MAX], target[CF_PATH_MAX], src_path[CF_PATH_MAX], why[768];
	char shown[CF_PATH_MAX + CF_NAME_MAX + 8];
	unsigned sub = 0;
	if (cf_store_path_of(cfg->store, parent, ppath, sizeof ppath, &sub) < 0)
		return cf_eng_refuse(e, name, ENOENT, "ln -s: the directory is gone");
	snprintf(shown, sizeof shown, "%s%s%s", ppath, *ppath ? "/" : "", name);
	/* a collection of disks or instances, in whichever scope the layout
	 * keeps them: a named one (a zone: zones/Z/disks) or a fixed one (the
	 * root: volumes/), the scope being what precedes the collection */
	enum cf_kind kind =
	    sub == CF_SUB_DIR ? cf_collection_kind(ppath, strlen(ppath)) : CF_KIND_NONE;
	const char *slash = strrchr(ppath, '/');
	char scope[CF_PATH_MAX] = "";
	if (slash)
		snprintf(scope, sizeof scope, "%.*s", (int) (slash - ppath), ppath);
	if (kind != CF_KIND_DISK && kind != CF_KIND_INSTANCE) {
		const char *dc = cf_kind_collection(CF_KIND_DISK),
			   *ic = cf_kind_collection(CF_KIND_INSTANCE);
		return cf_eng_refuse(e, shown, EINVAL,
				     "ln -s restores into a collection of %s/ (from a snapshot or "
				     "an image) or %s/ (from a machine image); %s is neither",
				     dc ? dc : "disks", ic ? ic : "instances",
				     *ppath ? ppath : "the root");
	}
	const char *rule = "";
	if (!cf_provider_text_valid(cfg->provider, CF_TEXT_NAME, name, strlen(name), &rule))
		return cf_eng_refuse(e, shown, EINVAL, "not a valid name: %s", rule);
	if (cf_resource_path(kind, scope, name, target, sizeof target) < 0)
		return cf_eng_refuse(e, shown, EINVAL, "not a valid name");
	struct cf_resource have = {0};
	if (!cf_eng_stored(e, target, &have)) {
		cf_resource_clear(&have);
		return cf_eng_refuse(e, shown, EEXIST, "%s already exists", target);
	}
	int rc = cf_policy_may(p, CF_RIGHT_RESTORE, c, why, sizeof why);
	if (rc)
		return cf_eng_refuse(e, shown, rc, "%s", why);
	if (!cfg->provider->ops->restore)
		return cf_eng_refuse(e, shown, EOPNOTSUPP, "the %s provider cannot restore",
				     cfg->provider->ops->name ? cfg->provider->ops->name : "cloud");
	if ((rc = cf_restore_resolve(cfg->mountpoint, ppath, link, src_path, sizeof src_path, why,
				     sizeof why)))
		return cf_eng_refuse(e, shown, -rc, "%s", why);
	enum cf_kind sk;
	char sscope[CF_PATH_MAX], sname[CF_NAME_MAX + 1];
	if (cf_path_parse(src_path, &sk, sscope, sizeof sscope, sname, sizeof sname) ||
	    !restorable(kind, sk))
		return cf_eng_refuse(e, shown, EINVAL, "a %s is not made from %s (%s): %s",
				     cf_kind_name(kind), src_path,
				     kind == CF_KIND_DISK
					 ? "a disk comes from a snapshot or an image"
					 : "an instance comes from a machine image",
				     link);
	/* What the mount showed (its id), then the API's now: the same one. */
	struct cf_resource shown_src = {0};
	if (cf_eng_stored(e, src_path, &shown_src))
		return cf_eng_refuse(e, shown, EINVAL, "%s is not a %s of this mount", src_path,
				     cf_kind_name(sk));
	bool trashed = label_of(&shown_src, CF_TRASH_LABEL) != NULL;
	char want_id[CF_ID_MAX];
	snprintf(want_id, sizeof want_id, "%s", shown_src.id ? shown_src.id : "");
	cf_resource_clear(&shown_src);
	if (trashed)
		return cf_eng_refuse(e, shown, EPERM,
				     "%s is in .clonefs/trash: mv it out of the trash to restore "
				     "from it",
				     src_path);
	struct cf_resource src = {0};
	struct cf_error err = {0};
	struct cf_provider *api = cf_eng_api(e);
	rc = api->ops->get(api, src_path, &src, &err);
	if (rc == -ENOENT)
		return cf_eng_refuse(e, shown, ENOENT, "the source %s no longer exists", src_path);
	if (rc)
		return cf_eng_refuse(e, shown, EAGAIN, "cannot read the source %s from the API: %s",
				     src_path, err.message[0] ? err.message : strerror(-rc));
	cf_eng_store_put(e, &src);
	json_t *job = NULL;
	struct cf_label *labels = NULL;
	size_t nlabels = 0;
	if (*want_id && (!src.id || strcmp(src.id, want_id))) {
		rc = cf_eng_refuse(e, shown, ESTALE,
				   "the API's %s is id %s, not id %s that the mount showed "
				   "(deleted and re-created?): nothing restored; look at it and "
				   "ln -s again",
				   src_path, src.id ? src.id : "(none)", want_id);
		goto out;
	}
	if (label_of(&src, CF_TRASH_LABEL)) {
		rc = cf_eng_refuse(e, shown, EPERM, "%s was put in the trash meanwhile", src_path);
		goto out;
	}
	enum cf_state st = cf_eng_state(e, &src);
	if (st != CF_STATE_READY && st != CF_STATE_NONE) {
		rc = cf_eng_refuse(e, shown, EAGAIN, "the source %s is %s, not ready yet", src_path,
				   src.status ? src.status : "?");
		goto out;
	}
	int64_t now = (int64_t) time(NULL);
	if ((rc = cf_policy_restore_age(p, &src, now, why, sizeof why)) ||
	    (rc = cf_policy_restore_consistency(p, &src, why, sizeof why))) {
		rc = cf_eng_refuse(e, shown, -rc, "%s", why);
		goto out;
	}
	/* A restored resource is a descendant of its copy: it has the copy's
	 * depth, and counts among what was made from it (max_per_source). */
	unsigned depth = cf_eng_depth(e, &src);
	if ((rc = cf_policy_check_depth(p, depth, why, sizeof why))) {
		rc = cf_eng_refuse(e, shown, -rc, "%s", why);
		goto out;
	}
	char first[CF_PATH_MAX];
	size_t made = cf_eng_descendants(e, src_path, first, sizeof first);
	if ((rc = cf_policy_check_quota(p, made, why, sizeof why))) {
		rc = cf_eng_refuse(e, shown, -rc, "%s (%s, ...)", why, first);
		goto out;
	}
	bool replicated = cf_policy_restore_replicated(p, &src);
	if ((rc = cf_policy_restore_labels(p, &src, depth, replicated, c->user, now, &labels,
					   &nlabels, why, sizeof why))) {
		rc = cf_eng_refuse(e, shown, -rc, "%s", why);
		goto out;
	}
	bool old = src.created > 0 && now - src.created > OLD_COPY_SECONDS;
	char rid[37];
	cf_uuid4(rid);
	job = json_pack(
	    "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:o, s:{s:s}, s:s, s:s, s:I, s:b, s:b}", "type",
	    "restore", "kind", kind == CF_KIND_DISK ? "disk" : "instance", "scope", scope, "name",
	    name, "source", src_path, "source_id", src.id ? src.id : "", "size", (json_int_t) 0,
	    "labels", labels_to_json(labels, nlabels), "rid", "create", rid, "step", "create",
	    "user", c->user ? c->user : "", "created", (json_int_t) now, "replicated", replicated,
	    "old", old);
	uint64_t id = 0;
	if ((rc = cf_eng_plan(e, job, shown, &id)))
		goto out;
	char age[32] = "?";
	if (src.created > 0)
		snprintf(age, sizeof age, "%" PRId64 " s", now - src.created);
	cf_info("%s: restore from %s (id %s, %s old, depth %u%s) by %s, job %" PRIu64, shown,
		src_path, src.id ? src.id : "?", age, depth, replicated ? ", replicated" : "",
		c->user ? c->user : "?", id);
	if (old)
		cf_warn("%s: restored from %s, a copy %" PRId64
			" days old: what was fixed since is back",
			shown, src_path, (now - src.created) / 86400);
	cf_eng_count_restore(e, true, old, false);
	rc = cf_restore_run_job(e, id, job, !cfg->wait_ready, false);
	if (rc == 0 && !cfg->wait_ready)
		store_accepted(e, kind, scope, name, target, src_path, labels, nlabels);
	cf_eng_release(e, id);
	if (rc == 0) {
		cf_eng_kick(e);
	}
out:
	json_decref(job);
	cf_labels_free(labels, nlabels);
	cf_resource_clear(&src);
	return rc;
}

int cf_engine_symlink(struct cf_engine *e, const struct cf_caller *c, const char *link,
		      uint64_t parent, const char *name)
{
	cf_write_budget_start();
	int rc = engine_symlink(e, c, link, parent, name);
	cf_write_budget_end();
	return rc;
}

/* ---- the resync confirmation ---- */

struct confirm {
	struct cf_engine *e;
	const char *path, *shown, *want_id;
	char stamp[64];
	bool gone, stale;
};

/* On each fresh read: the id the mount showed, then remove the mark and
 * record who confirmed it and when (clonefs-resync-confirmed). */
static int plan_confirm(void *ctx, const struct cf_resource *r, struct cf_label_change *ch,
			size_t cap, size_t *n)
{
	struct confirm *cf = ctx;
	*n = 0;
	if (*cf->want_id && (!r->id || strcmp(r->id, cf->want_id))) {
		cf_eng_store_put(cf->e, r);
		cf->stale = true;
		return -ESTALE;
	}
	if (!label_of(r, CF_RESYNC_LABEL)) {
		cf->gone = true;
		return -ENODATA;
	}
	if (cap < 2)
		return -ENOMEM;
	ch[0].key = CF_RESYNC_LABEL;
	ch[0].value = NULL;
	ch[1].key = "clonefs-resync-confirmed";
	ch[1].value = cf->stamp;
	*n = 2;
	return 0;
}

int cf_restore_confirm_resync(struct cf_engine *e, const struct cf_caller *c, uint64_t ino)
{
	const struct cf_engine_config *cfg = cf_eng_cfg(e);
	char path[CF_PATH_MAX], shown[CF_PATH_MAX], want[CF_ID_MAX];
	int rc = cf_eng_label_target(e, c, ino, CF_RESYNC_LABEL, path, sizeof path, want,
				     sizeof want, shown, sizeof shown);
	if (rc)
		return rc;
	const struct cf_provider_ops *o = cfg->provider->ops;
	if (!o->change_labels)
		return cf_eng_refuse(e, shown, EOPNOTSUPP, "the %s provider cannot change labels",
				     o->name ? o->name : "cloud");
	struct confirm cf = {.e = e, .path = path, .shown = shown, .want_id = want};
	char at[32], raw[96];
	cf_time_format((int64_t) time(NULL), at, sizeof at);
	snprintf(raw, sizeof raw, "%s-%s", at, c->user ? c->user : "unknown");
	cf_label_value_map(raw, cf.stamp);
	struct cf_operation op = {0};
	struct cf_error err = {0};
	rc = o->change_labels(cfg->provider, path, plan_confirm, &cf, &op, &err);
	if (rc == -ENODATA && cf.gone) {
		cf_eng_refresh(e, path, NULL);
		return rc;
	}
	if (rc == -ESTALE && cf.stale)
		return cf_eng_refuse(e, shown, ESTALE,
				     "the API's %s is not the resource the mount showed (id %s): "
				     "nothing confirmed",
				     path, want);
	if (rc == -ENOENT)
		return cf_eng_refuse(e, shown, ENOENT, "the resource no longer exists");
	if (rc) {
		cf_operation_clear(&op);
		return cf_eng_refuse(e, shown, rc == -ESTALE ? EAGAIN : -rc,
				     "confirming the resync: %s",
				     err.message[0] ? err.message : strerror(-rc));
	}
	if (op.name) {
		rc = cf_eng_follow(e, &op, shown, "confirming the resync");
		cf_operation_clear(&op);
		if (rc)
			return rc;
	}
	cf_eng_refresh(e, path, NULL);
	cf_warn("%s: resync confirmed by %s (uid %u): %s removed, clonefs-resync-confirmed=%s",
		shown, c->user ? c->user : "?", (unsigned) c->uid, CF_RESYNC_LABEL, cf.stamp);
	return 0;
}
