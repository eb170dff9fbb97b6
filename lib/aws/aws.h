/* aws.h — the AWS EC2/EBS provider: its constructor and registration, and
 * the pieces below the provider interface worth calling on their own (the
 * decoders from EC2's XML to the model, the name and tag rules, the state
 * words). The unit tests drive them directly; the rest of clonefs reaches the
 * provider through the registry (registry.h: the aws:REGION source).
 *
 * The transport (the EC2 Query request, SigV4, the error envelope, the
 * credential chain) is aws_query.h / aws_creds.h / aws_errors.h. */
#ifndef CLONEFS_AWS_H
#define CLONEFS_AWS_H

#include "aws_xml.h"
#include "model.h"
#include "provider.h"

#include <stdbool.h>
#include <stddef.h>

struct cf_provider_kind;
struct cf_layout;
struct cf_http;

struct cf_aws_client;

/* The provider for one region, over a Query client (aws_query.h) that must
 * outlive it. */
int cf_aws_new(struct cf_aws_client *client, struct cf_provider **out);

/* The aws:REGION mount source (aws_source.c), for the registry. */
extern const struct cf_provider_kind cf_aws_kind;

/* The tree a region shows (aws_layout.c): snapshots/, images/, volumes/,
 * instances/ at the mount's root; volumes/V/snapshots/ and
 * instances/I/images/ make clones; instances/I/volumes/ links. */
extern const struct cf_layout cf_aws_layout;

/* ---- restore (aws_restore.c) ---- */

/* The provider's `restore`: a volume from a snapshot (CreateVolume), an
 * instance from an AMI (RunInstances), the request id as the ClientToken. */
int cf_aws_restore(struct cf_provider *p, const struct cf_restore_req *req, struct cf_operation *op,
		   struct cf_error *err);
/* The provider's Query client, and -o zone= ("" when not given). */
struct cf_aws_client *cf_aws_client_of(struct cf_provider *p);
const char *cf_aws_zone_of(struct cf_provider *p);
/* Set the zone restores go to (-o zone=, checked by the source). */
int cf_aws_set_zone(struct cf_provider *p, const char *zone);

/* ---- names, tags and states (aws_names.c) ---- */

/* Whether s is shaped like an EC2 id of any kind we show: "snap-", "vol-",
 * "ami-" or "i-", then 8 or 17 lower-case hex digits. Such a Name tag is never
 * an entry name (an id-shaped name could hide another resource's id). */
bool cf_aws_id_shaped(const char *s, size_t len);
/* The same for one kind's prefix only ("snap-" for CF_KIND_SNAPSHOT, ...). */
bool cf_aws_id_of_kind(enum cf_kind k, const char *s, size_t len);

/* A Name tag (or an AMI's name) that may become an entry name: a safe entry
 * name (model.h), at most 128 characters, not id-shaped. */
bool cf_aws_name_usable(const char *s, size_t len);

/* A tag key and value as EC2 takes them: valid UTF-8 without control
 * characters; a key 1-128 characters, a value 0-256. cf_aws_tag_key_writable
 * adds the rule for what a caller writes: no "aws:" prefix (AWS reserves it). */
bool cf_aws_tag_key_valid(const char *s, size_t len);
bool cf_aws_tag_value_valid(const char *s, size_t len);
bool cf_aws_tag_key_writable(const char *s, size_t len);

/* An AMI's name as CreateImage takes it: 3-128 characters of letters,
 * digits and ( ) [ ] space . / - ' @ _ . */
bool cf_aws_ami_name_valid(const char *s, size_t len);

/* err = errnum with a message (the whole struct reset first). */
void cf_aws_seterr(struct cf_error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A create's or a restore's request id (36 characters) and tags (each key
 * writable, each value valid; with the `extra` tags clonefs adds, at most
 * CF_AWS_TAGS_MAX): 0, or -EINVAL / -ENOSPC with err saying why, its message
 * led by what ("create", "restore"). */
int cf_aws_check_req_tags(const char *what, const char *request_id, const struct cf_label *labels,
			  size_t nlabels, size_t extra, struct cf_error *err);

/* The provider's `text_valid` (provider.h), also the kind's. */
bool cf_aws_text_valid(enum cf_text what, const char *s, size_t len, const char **rule);

/* The provider's `state`: EC2's status words, and the engine's words a listed
 * resource's status is given in (READY, STOPPED, ...), as the engine's states. */
enum cf_state cf_aws_state(enum cf_kind kind, const char *status);

/* The most tags EC2 keeps on one resource. */
enum { CF_AWS_TAGS_MAX = 50 };

/* The tag an AMI clonefs made carries with its instance's id: DescribeImages
 * names an AMI's instance (sourceInstanceId) only since 2024, and not every
 * endpoint does; without it the AMI would be missing from the instance's
 * images/. */
#define CF_AWS_SOURCE_TAG "clonefs-source-id"

/* ---- decoding (aws_decode.c) ---- */

/* One Describe answer (DescribeSnapshots, DescribeImages, DescribeVolumes,
 * DescribeInstances: the kind says which) into out (zeroed first): its items
 * in out->items, each with id, name (= the id), name_pref (the Name tag, an
 * AMI's name, when usable as an entry name: the store decides), status, created, sizes, labels (the
 * tags), source, origin, links, raw (the item as JSON); out->next_token the answer's nextToken when
 * not empty. Items that cannot be decoded are counted in out->skipped and logged; terminated
 * instances are left out silently. -EPROTO with err filled when the body is not such an answer;
 * -ENOMEM. */
int cf_aws_decode_page(const char *body, size_t len, enum cf_kind kind, struct cf_page *out,
		       struct cf_error *err);

/* The same as a reader for one answer streamed through aws_xml (the
 * provider's calls, aws_query.h): init, give h to the parse, then end with
 * the parse's result (why: its reason, or NULL) for the page as
 * cf_aws_decode_page gives it. */
struct cf_aws_page_reader {
	struct cf_aws_xml_handler h;
	enum cf_kind kind;
	struct cf_page *out;
	size_t cap;
	char *token;
	bool token_bad;
	char root[64], path[96];
};
int cf_aws_page_reader_init(struct cf_aws_page_reader *pr, enum cf_kind kind, struct cf_page *out);
int cf_aws_page_reader_end(struct cf_aws_page_reader *pr, int rc, const char *why,
			   struct cf_error *err);

/* The snapshot ids an AMI's block device mappings name, from one
 * DescribeImages answer holding that AMI (image_id): up to max ids (each
 * < 32 bytes) into ids, their count in *n. -ENOENT when the answer does not
 * hold the AMI, -EPROTO when not an answer. */
int cf_aws_image_snapshots(const char *body, size_t len, const char *image_id, char ids[][32],
			   size_t max, size_t *n);
/* Its reader form: found says whether the AMI was in the answer. */
struct cf_aws_image_reader {
	struct cf_aws_xml_handler h;
	const char *image_id;
	char (*ids)[32];
	size_t max, *n;
	bool found;
};
void cf_aws_image_reader_init(struct cf_aws_image_reader *ir, const char *image_id, char ids[][32],
			      size_t max, size_t *n);

#endif
