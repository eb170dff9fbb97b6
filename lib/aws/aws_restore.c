/* aws_restore.c — the provider's restore (provider.h): ln -s brings a copy
 * back as a new resource.
 *
 *   a volume from a snapshot    CreateVolume SnapshotId, AvailabilityZone,
 *                               Size (at least the snapshot's), tags
 *   an instance from an AMI     RunInstances ImageId, MinCount=MaxCount=1,
 *                               Placement, InstanceType, tags for the
 *                               instance and its volumes
 *
 * Both calls take a ClientToken, and EC2 answers a repeat of a token with
 * the first call's resource, so the request id travels as the ClientToken:
 * a call whose answer was lost is simply sent again (unlike CreateSnapshot
 * and CreateImage, which need the request tag looked up first, aws.c).
 * Every label and the request tag ride in the call's own TagSpecification.
 *
 * Where it goes: a region's tree has no zones, so the availability zone is
 * -o zone= when given, else the zone of the copy's own source (the volume
 * the snapshot was taken of, the instance the AMI was made from). A volume
 * whose snapshot's volume is gone and no -o zone= is refused (EINVAL, the
 * log says to give -o zone=); an instance then goes where EC2 places it. The
 * instance type is the source instance's when it still exists, else EC2's
 * default. */
#include "aws.h"
#include "aws_query.h"
#include "log.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQUEST_TAG "clonefs-request"

enum { ID_MAX = 32, ZONE_MAX = 40, TYPE_MAX = 40 };

/* An availability zone or instance type as we pass it on: lower-case
 * letters, digits, '-' and '.', 1..size-1 of them. */
static bool word_ok(const char *s, size_t size)
{
	size_t n = s ? strlen(s) : 0;
	if (!n || n >= size)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '.'))
			return false;
	return true;
}

/* Field `key` (or "placement/availabilityZone") of a resource's raw document. */
static void raw_field(const struct cf_resource *r, const char *outer, const char *key, char *buf,
		      size_t size)
{
	buf[0] = '\0';
	if (!r->raw)
		return;
	json_t *doc = json_loadb(r->raw, r->raw_len, 0, NULL);
	json_t *o = outer ? json_object_get(doc, outer) : doc;
	const char *s = json_string_value(json_object_get(o, key));
	if (s && word_ok(s, size))
		snprintf(buf, size, "%s", s);
	json_decref(doc);
}

/* The zone (and an instance's type) of the copy's own source, read fresh;
 * "" when it no longer exists or says none. Any other failure is the
 * restore's (a fault must not send the volume elsewhere): its errno, err
 * filled. */
static int source_place(struct cf_provider *p, const struct cf_resource *copy, bool volume,
			char zone[ZONE_MAX], char type[TYPE_MAX], struct cf_error *err)
{
	zone[0] = type[0] = '\0';
	if (!copy->source)
		return 0;
	struct cf_resource r = {0};
	int rc = p->ops->get(p, copy->source, &r, err);
	if (rc == -ENOENT) {
		cf_debug("aws: restore: the source of %s (%s) is gone", copy->id, copy->source);
		memset(err, 0, sizeof *err);
		return 0;
	}
	if (rc)
		return rc;
	if (volume) {
		raw_field(&r, NULL, "availabilityZone", zone, ZONE_MAX);
	} else {
		raw_field(&r, "placement", "availabilityZone", zone, ZONE_MAX);
		raw_field(&r, NULL, "instanceType", type, TYPE_MAX);
	}
	cf_resource_clear(&r);
	return 0;
}

static int check(const struct cf_restore_req *req, struct cf_error *err)
{
	if (!req || (req->kind != CF_KIND_DISK && req->kind != CF_KIND_INSTANCE) || !req->source) {
		cf_aws_seterr(err, -EINVAL, "restore: only volumes and instances are restored");
		return -EINVAL;
	}
	if (!req->name || !cf_aws_name_usable(req->name, strlen(req->name))) {
		cf_aws_seterr(err, -EINVAL, "restore: not a usable name");
		return -EINVAL;
	}
	/* Name and the request tag besides the labels. */
	return cf_aws_check_req_tags("restore", req->request_id, req->labels, req->nlabels, 2, err);
}

/* Name, every label, the request tag; as TagSpecification.N of type. */
static int add_tags(struct cf_aws_params *ps, const char *type, const struct cf_restore_req *req)
{
	size_t n = 0, cap = req->nlabels + 2;
	const char **k = calloc(cap, sizeof *k), **v = calloc(cap, sizeof *v);
	int rc = -ENOMEM;
	if (k && v) {
		k[n] = "Name", v[n++] = req->name;
		for (size_t i = 0; i < req->nlabels; i++)
			if (strcmp(req->labels[i].key, "Name") &&
			    strcmp(req->labels[i].key, REQUEST_TAG))
				k[n] = req->labels[i].key, v[n++] = req->labels[i].value;
		k[n] = REQUEST_TAG, v[n++] = req->request_id;
		rc = cf_aws_param_tags(ps, type, k, v, n);
	}
	free(k);
	free(v);
	return rc;
}

/* The new resource's id and state in the answer: CreateVolume's <volumeId>
 * and <status>, RunInstances' instancesSet/item/instanceId and
 * instanceState/name. */
struct answer {
	bool volume;
	char id[ID_MAX], status[32];
};

static int on_text(void *ctx, const char *path, const char *text, size_t len)
{
	struct answer *a = ctx;
	const char *idp = a->volume ? "volumeId" : "instancesSet/item/instanceId";
	const char *stp = a->volume ? "status" : "instancesSet/item/instanceState/name";
	if (strlen(text) != len)
		return 0;
	if (!strcmp(path, idp) && len < sizeof a->id && !a->id[0])
		memcpy(a->id, text, len + 1);
	else if (!strcmp(path, stp) && len < sizeof a->status && !a->status[0])
		memcpy(a->status, text, len + 1);
	return 0;
}

int cf_aws_restore(struct cf_provider *p, const struct cf_restore_req *req, struct cf_operation *op,
		   struct cf_error *err)
{
	struct cf_error scratch;
	struct cf_resource src = {0};
	struct cf_aws_params ps = {0};
	char zone[ZONE_MAX], type[TYPE_MAX];
	int rc;
	if (!err)
		err = &scratch;
	memset(err, 0, sizeof *err);
	memset(op, 0, sizeof *op);
	if ((rc = check(req, err)))
		return rc;
	bool volume = req->kind == CF_KIND_DISK;
	enum cf_kind want = volume ? CF_KIND_SNAPSHOT : CF_KIND_MACHINE_IMAGE;
	char scope[CF_PATH_MAX], name[CF_NAME_MAX + 1];
	enum cf_kind sk;
	if (cf_path_parse(req->source, &sk, scope, sizeof scope, name, sizeof name) || sk != want) {
		cf_aws_seterr(err, -EINVAL, "restore: a %s comes from a %s, not %.200s",
			      volume ? "volume" : "instance", cf_kind_name(want), req->source);
		return -EINVAL;
	}
	if ((rc = p->ops->get(p, req->source, &src, err)))
		return rc;
	if (!src.id || !cf_aws_id_of_kind(want, src.id, strlen(src.id))) {
		cf_aws_seterr(err, -EPROTO, "restore: %.200s has no usable id", req->source);
		cf_resource_clear(&src);
		return -EPROTO;
	}
	if ((rc = source_place(p, &src, volume, zone, type, err))) {
		cf_resource_clear(&src);
		return rc;
	}
	const char *given = cf_aws_zone_of(p);
	if (given && *given)
		snprintf(zone, sizeof zone, "%s", given);
	if (volume && !zone[0]) {
		cf_aws_seterr(
		    err, -EINVAL,
		    "restore: no availability zone for the volume: the volume %s was taken "
		    "of no longer exists; mount with -o zone=AZ",
		    src.source ? src.source : "the snapshot");
		cf_resource_clear(&src);
		return -EINVAL;
	}
	cf_aws_param(&ps, req->request_id, "ClientToken");
	if (volume) {
		uint64_t bytes =
		    req->size_bytes > src.size_bytes ? req->size_bytes : src.size_bytes;
		cf_aws_param(&ps, src.id, "SnapshotId");
		cf_aws_param(&ps, zone, "AvailabilityZone");
		if (bytes) {
			char gib[24];
			snprintf(gib, sizeof gib, "%llu",
				 (unsigned long long) ((bytes + (1ull << 30) - 1) >> 30));
			cf_aws_param(&ps, gib, "Size");
		}
		add_tags(&ps, "volume", req);
	} else {
		cf_aws_param(&ps, src.id, "ImageId");
		cf_aws_param(&ps, "1", "MinCount");
		cf_aws_param(&ps, "1", "MaxCount");
		if (zone[0])
			cf_aws_param(&ps, zone, "Placement.AvailabilityZone");
		if (type[0])
			cf_aws_param(&ps, type, "InstanceType");
		add_tags(&ps, "instance", req);
		add_tags(&ps, "volume", req);
	}
	const char *action = volume ? "CreateVolume" : "RunInstances";
	struct answer a = {.volume = volume};
	struct cf_aws_xml_handler h = {.text = on_text, .ctx = &a};
	/* the ClientToken makes a repeat safe: the transport may retry */
	struct cf_aws_request rq = {.action = action, .params = &ps, .answer = &h};
	cf_info("aws: %s %s from %s (%s%s%s), request %s", action, req->name, src.id,
		zone[0] ? zone : "EC2's zone", type[0] ? ", " : "", type, req->request_id);
	rc = ps.err ? ps.err : cf_aws_call(cf_aws_client_of(p), &rq, NULL, err);
	cf_aws_params_clear(&ps);
	if (rc == -EPROTO &&
	    (err->http_status == 0 || (err->http_status >= 200 && err->http_status < 300)))
		err->retryable = true; /* unreadable: the token gets the same one */
	if (!rc && !cf_aws_id_of_kind(req->kind, a.id, strlen(a.id))) {
		cf_aws_seterr(err, -EAGAIN,
			      "%s: no %s id in the answer; asking again with its token", action,
			      volume ? "volume" : "instance");
		err->http_status = 200;
		err->retryable = true;
		rc = -EAGAIN;
	}
	if (rc) {
		if (!err->http_status || err->http_status >= 500)
			err->retryable = true;
		cf_resource_clear(&src);
		return rc;
	}
	cf_info("aws: %s %s: %s", action, req->name, a.id);
	cf_resource_clear(&src);
	op->name = strdup(a.id);
	op->scope = strdup(volume ? "volume" : "launch");
	op->status = strdup(a.status[0] ? a.status : volume ? "creating" : "pending");
	if (!op->name || !op->scope || !op->status) {
		cf_operation_clear(op);
		return -ENOMEM;
	}
	return 0;
}
