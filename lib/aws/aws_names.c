/* aws_names.c — what EC2 accepts and what clonefs shows: entry names from
 * Name tags, tag keys and values, AMI names, and EC2's status words as the
 * engine's states.
 *
 * Tags (EC2's "Tag your Amazon EC2 resources"): a key of 1-128 Unicode
 * characters, a value of 0-256, case-sensitive; the "aws:" prefix is AWS's
 * and a caller may not write it; at most 50 per resource. EC2 takes any
 * character in a tag (only instance metadata's tag view narrows them), so the
 * rule here is text: valid UTF-8 without control characters. An AMI's name
 * (CreateImage): 3-128 characters of letters, digits, ( ) [ ] space . / - '
 * @ _. A Name becomes an entry name only when it is a safe entry name and not
 * shaped like an id, so every host derives the same tree from the API alone
 * and no name can pose as another resource's id. */
#include "aws.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool hex_lower(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool prefixed_id(const char *prefix, const char *s, size_t len)
{
	size_t pl = strlen(prefix);
	if (!s || len <= pl || memcmp(s, prefix, pl))
		return false;
	size_t n = len - pl;
	if (n != 8 && n != 17)
		return false;
	for (size_t i = pl; i < len; i++)
		if (!hex_lower(s[i]))
			return false;
	return true;
}

static const char *kind_prefix(enum cf_kind k)
{
	switch (k) {
	case CF_KIND_SNAPSHOT:
		return "snap-";
	case CF_KIND_MACHINE_IMAGE:
		return "ami-";
	case CF_KIND_DISK:
		return "vol-";
	case CF_KIND_INSTANCE:
		return "i-";
	default:
		return NULL;
	}
}

bool cf_aws_id_of_kind(enum cf_kind k, const char *s, size_t len)
{
	const char *p = kind_prefix(k);
	return p && prefixed_id(p, s, len);
}

bool cf_aws_id_shaped(const char *s, size_t len)
{
	return prefixed_id("snap-", s, len) || prefixed_id("vol-", s, len) ||
	       prefixed_id("ami-", s, len) || prefixed_id("i-", s, len);
}

/* Code points in valid UTF-8 without control characters (C0, DEL, C1), or
 * -1 when s is not such text. */
static long text_chars(const char *s, size_t len)
{
	const unsigned char *u = (const unsigned char *) s;
	long n = 0;
	for (size_t i = 0; i < len; n++) {
		unsigned c = u[i], cp, need, min;
		if (c < 0x80) {
			if (c < 0x20 || c == 0x7f)
				return -1;
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			need = 1, min = 0x80, cp = c & 0x1f;
		else if (c >= 0xe0 && c <= 0xef)
			need = 2, min = 0x800, cp = c & 0x0f;
		else if (c >= 0xf0 && c <= 0xf4)
			need = 3, min = 0x10000, cp = c & 0x07;
		else
			return -1;
		if (len - i <= need)
			return -1;
		for (unsigned j = 1; j <= need; j++) {
			if ((u[i + j] & 0xc0) != 0x80)
				return -1;
			cp = cp << 6 | (u[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ||
		    (cp >= 0x80 && cp < 0xa0))
			return -1;
		i += need + 1;
	}
	return n;
}

bool cf_aws_name_usable(const char *s, size_t len)
{
	long n;
	return s && cf_name_is_safe(s, len) && (n = text_chars(s, len)) > 0 && n <= 128 &&
	       !cf_aws_id_shaped(s, len);
}

bool cf_aws_tag_key_valid(const char *s, size_t len)
{
	long n;
	return s && (n = text_chars(s, len)) >= 1 && n <= 128;
}

bool cf_aws_tag_value_valid(const char *s, size_t len)
{
	long n;
	return s && (n = text_chars(s, len)) >= 0 && n <= 256;
}

bool cf_aws_tag_key_writable(const char *s, size_t len)
{
	return cf_aws_tag_key_valid(s, len) && !(len >= 4 && !strncasecmp(s, "aws:", 4));
}

bool cf_aws_ami_name_valid(const char *s, size_t len)
{
	if (!s || len < 3 || len > 128)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      (c && strchr("()[] ./-'@_", c))))
			return false;
	}
	return true;
}

/* The rules a create and a restore share: both tag what they make with the
 * caller's labels and the tags clonefs adds (Name, the request tag, a
 * create's source tag), extra of them. */
int cf_aws_check_req_tags(const char *what, const char *request_id, const struct cf_label *labels,
			  size_t nlabels, size_t extra, struct cf_error *err)
{
	char ex[64];
	memset(err, 0, sizeof *err);
	if (!request_id || strlen(request_id) != 36) {
		snprintf(err->message, sizeof err->message, "%s: no request id", what);
		return err->errnum = -EINVAL;
	}
	if (nlabels + extra > CF_AWS_TAGS_MAX) {
		snprintf(err->message, sizeof err->message, "%s: %zu tags, EC2 keeps at most %d",
			 what, nlabels + extra, CF_AWS_TAGS_MAX);
		return err->errnum = -ENOSPC;
	}
	for (size_t i = 0; i < nlabels; i++) {
		const char *k = labels[i].key, *v = labels[i].value;
		if (!k || !v || !cf_aws_tag_key_writable(k, strlen(k)) ||
		    !cf_aws_tag_value_valid(v, strlen(v))) {
			snprintf(ex, sizeof ex, "%.40s", k ? k : "(null)");
			snprintf(err->message, sizeof err->message,
				 "%s: tag \"%s\" is not a tag EC2 takes", what, ex);
			return err->errnum = -EINVAL;
		}
	}
	return 0;
}

bool cf_aws_text_valid(enum cf_text what, const char *s, size_t len, const char **rule)
{
	switch (what) {
	case CF_TEXT_NAME:
		if (rule)
			*rule = "a safe entry name of 1-128 characters, not shaped like an EC2 id "
				"(snap-, vol-, ami-, i- and hex digits)";
		return cf_aws_name_usable(s, len);
	case CF_TEXT_LABEL_KEY:
		if (rule)
			*rule = "1-128 characters of text (no control characters), not starting "
				"with aws: (reserved by AWS)";
		return cf_aws_tag_key_writable(s, len);
	case CF_TEXT_LABEL_VALUE:
		if (rule)
			*rule = "0-256 characters of text (no control characters)";
		return cf_aws_tag_value_valid(s, len);
	}
	return false;
}

/* Status words, per kind, as the EC2 API reference lists them. */
struct word {
	const char *word;
	enum cf_state state;
};
static const struct word snapshot_words[] = {
    {"pending", CF_STATE_CREATING},  {"completed", CF_STATE_READY},  {"error", CF_STATE_FAILED},
    {"recoverable", CF_STATE_OTHER}, {"recovering", CF_STATE_OTHER}, {NULL, 0}};
static const struct word image_words[] = {{"pending", CF_STATE_CREATING},
					  {"available", CF_STATE_READY},
					  {"failed", CF_STATE_FAILED},
					  {"error", CF_STATE_FAILED},
					  {"invalid", CF_STATE_FAILED},
					  {"deregistered", CF_STATE_DELETING},
					  {"transient", CF_STATE_OTHER},
					  {"disabled", CF_STATE_OTHER},
					  {NULL, 0}};
static const struct word volume_words[] = {{"creating", CF_STATE_CREATING},
					   {"available", CF_STATE_READY},
					   {"in-use", CF_STATE_READY},
					   {"deleting", CF_STATE_DELETING},
					   {"deleted", CF_STATE_DELETING},
					   {"error", CF_STATE_FAILED},
					   {NULL, 0}};
/* "terminated" is deleted on AWS (the instance is gone for good); a stopped
 * instance is STOPPED. */
static const struct word instance_words[] = {{"pending", CF_STATE_STARTING},
					     {"running", CF_STATE_RUNNING},
					     {"stopping", CF_STATE_STOPPING},
					     {"stopped", CF_STATE_STOPPED},
					     {"shutting-down", CF_STATE_DELETING},
					     {"terminated", CF_STATE_DELETING},
					     {NULL, 0}};

enum cf_state cf_aws_state(enum cf_kind kind, const char *status)
{
	const struct word *w;
	if (!status)
		return CF_STATE_NONE;
	switch (kind) {
	case CF_KIND_SNAPSHOT:
		w = snapshot_words;
		break;
	case CF_KIND_MACHINE_IMAGE:
	case CF_KIND_IMAGE:
		w = image_words;
		break;
	case CF_KIND_DISK:
		w = volume_words;
		break;
	case CF_KIND_INSTANCE:
		w = instance_words;
		break;
	default:
		return cf_state_from_word(status);
	}
	for (; w->word; w++)
		if (!strcmp(w->word, status))
			return w->state;
	/* A listed resource's status is the engine's word already (aws_decode.c
	 * maps AWS's: READY, STOPPED, ...): read back the same way. */
	return cf_state_from_word(status);
}
