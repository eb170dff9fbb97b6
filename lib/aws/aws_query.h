/* aws_query.h — one call of the EC2 Query API: its parameters (lists and
 * tags spelled the way EC2 spells them), the form-encoded body, a POST signed
 * with SigV4 (lib/net/http.h), the XML answer read through a handler
 * (aws_xml.h), and AWS's error envelope made into a struct cf_error.
 *
 * Listings page with NextToken: cf_aws_call hands back the page's token and
 * the caller asks again while there is one — a page may be empty and still
 * carry a token, which is not the end. */
#ifndef CLONEFS_AWS_QUERY_H
#define CLONEFS_AWS_QUERY_H

#include "aws_xml.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_http;
struct cf_error;
struct cf_aws_creds;

#define CF_AWS_EC2_VERSION "2016-11-15"

/* ---- parameters ---- */

/* Name=value pairs in the order added. An error sticks (err), so a
 * sequence of adds can be checked once, by cf_aws_form or cf_aws_call. */
struct cf_aws_params {
	char **names, **values;
	size_t n, cap;
	int err; /* the first add's failure, or 0 */
};

/* One parameter; name is printf-style ("Filter.%u.Name"). Names are
 * letters, digits, '.', '_' and '-' (what EC2 uses), at most 255 bytes;
 * a value at most 256 KiB. 0, -EINVAL, -E2BIG (more than 1000 parameters),
 * -ENOMEM. */
int cf_aws_param(struct cf_aws_params *p, const char *value, const char *name_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Filter.N.Name=name and Filter.N.Value.1..M=values[i], N the next free
 * filter number. */
int cf_aws_param_filter(struct cf_aws_params *p, const char *name, const char *const *values,
			size_t nvalues);

/* prefix.N=values[i] for i from 1 ("SnapshotId.1", "Owner.1", "ImageId.1"). */
int cf_aws_param_list(struct cf_aws_params *p, const char *prefix, const char *const *values,
		      size_t n);

/* Tags: keys[i]/values[i] (a NULL value: the key alone, as DeleteTags takes
 * it). With a resource type, the create call's
 * TagSpecification.N.ResourceType=type and TagSpecification.N.Tag.M.Key /
 * .Value (N the next free specification); without (NULL), CreateTags' and
 * DeleteTags' Tag.M.Key / Tag.M.Value. */
int cf_aws_param_tags(struct cf_aws_params *p, const char *resource_type, const char *const *keys,
		      const char *const *values, size_t n);

void cf_aws_params_clear(struct cf_aws_params *p);

/* AWS's percent-encoding (RFC 3986: A-Z a-z 0-9 - _ . ~ as they are, every
 * other byte %XX in upper case; a space is %20) of s[0..len) into a malloc'd
 * string. */
int cf_aws_encode(const char *s, size_t len, char **out);

/* The form body: Action=action&Version=version&name=value... encoded, in a
 * malloc'd *out. p's sticky error, -EINVAL for a bad action, -E2BIG past
 * 1 MiB, -ENOMEM. */
int cf_aws_form(const char *action, const char *version, const struct cf_aws_params *p, char **out);

/* ---- the client ---- */

struct cf_aws_client;

struct cf_aws_client_config {
	struct cf_http *http;	    /* the caller's; outlives the client */
	struct cf_aws_creds *creds; /* the caller's; outlives the client */
	const char *region;	    /* NULL: the creds' */
	const char *endpoint;	    /* NULL: the creds' */
	const char *service;	    /* the signing name, NULL: "ec2" */
	const char *version;	    /* NULL: CF_AWS_EC2_VERSION */
};

/* 0, or -EINVAL / -EPERM with the reason in why (no region, an endpoint the
 * http rules refuse), -ENOMEM. A client is shared by threads: it changes
 * nothing after this, and http and creds are thread-safe. */
int cf_aws_client_new(const struct cf_aws_client_config *cfg, struct cf_aws_client **out, char *why,
		      size_t why_size);
void cf_aws_client_free(struct cf_aws_client *c);

struct cf_aws_request {
	const char *action;		    /* "DescribeSnapshots" */
	const struct cf_aws_params *params; /* may be NULL */
	const char *next_token;		    /* sent as NextToken; NULL: the first page */
	/* Reads the answer (item_path, item, text; root and ctx as given); NULL:
	 * the answer is only checked to be XML. The text callback also sees
	 * requestId and nextToken. */
	const struct cf_aws_xml_handler *answer;
	bool no_retry; /* a call that must not be repeated blindly (a create) */
};

struct cf_aws_result {
	char *next_token;    /* malloc'd; NULL on the last page */
	char request_id[80]; /* the answer's (or the error's) request id, or "" */
	long http_status;
	unsigned attempts; /* requests sent, every try */
	uint64_t bytes;	   /* answer bytes received on the wire, every try */
};

void cf_aws_result_clear(struct cf_aws_result *r);

/* One call. 0 with the answer handed to rq->answer; else a negative errno
 * with err filled: http_status, reason = the API's error code (only letters,
 * digits and '.'; else ""), message = one printable line (the API's message
 * and its request id, or the transport's reason), errnum and retryable from
 * aws_errors. A handler's nonzero return comes back as it is. A code of
 * DryRunOperation is success (0, err->reason says so). When the API says
 * temporary credentials (a process's, the metadata service's) expired, they
 * are fetched anew and the call is sent once more (nothing was done).
 * -EPROTO for an answer that is not XML or not the action's, or whose
 * NextToken is the one sent (a listing that would never end); err says
 * which. res and err may be NULL. */
int cf_aws_call(struct cf_aws_client *c, const struct cf_aws_request *rq, struct cf_aws_result *res,
		struct cf_error *err);

/* Exposed for unit tests: the error envelope of an answer, into err (the
 * status given; errnum and retryable set). */
void cf_aws_decode_error(long status, const char *body, size_t len, struct cf_error *err,
			 char *request_id, size_t rid_size);

#endif
