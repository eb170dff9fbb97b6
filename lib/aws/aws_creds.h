/* aws_creds.h — the AWS provider's credentials, region and endpoint, found
 * the way the AWS CLI finds them.
 *
 * Credentials, the first source that applies:
 *   0. explicit keys in the config (tests, embedding);
 *   1. the environment, AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY (+
 *      AWS_SESSION_TOKEN) — skipped when a profile is named explicitly
 *      (-o profile), as `aws --profile` skips it;
 *   2. the profile (the config's, else AWS_PROFILE, else "default") in the
 *      shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
 *      ~/.aws/credentials; sections "[NAME]") and the config file
 *      (AWS_CONFIG_FILE, else ~/.aws/config; "[profile NAME]", "[default]"):
 *      aws_access_key_id / aws_secret_access_key / aws_session_token, the
 *      credentials file's first, else credential_process, run without a
 *      shell, whose JSON (Version 1, Expiration optional) gives the keys;
 *   3. the instance metadata service, IMDSv2 only (a token PUT first, then
 *      the role's credentials), at AWS_EC2_METADATA_SERVICE_ENDPOINT or
 *      http://169.254.169.254; never when AWS_EC2_METADATA_DISABLED=true.
 * A profile named explicitly (or by AWS_PROFILE) that no file holds is an
 * error, not a fall through. A profile that asks for what clonefs does not do
 * (role_arn, sso_*, web identity) is refused by name.
 *
 * Region: the caller's (aws:REGION), else AWS_REGION, AWS_DEFAULT_REGION, the
 * profile's `region`. Endpoint: the caller's (-o endpoint), else
 * AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL, else https://ec2.REGION.amazonaws.com.
 *
 * Temporary credentials (a process's or the metadata service's, with an
 * expiry) are fetched again before they expire, under a lock: several threads
 * sign at once. A credentials file open to group or others is refused, with
 * the chmod that fixes it; so is a config file others may write (it names a
 * command to run). Keys, secrets and tokens never reach a log, a message or
 * status, and copies this module frees are wiped first; holding a secret key
 * (any source but the metadata service) makes the process non-dumpable. */
#ifndef CLONEFS_AWS_CREDS_H
#define CLONEFS_AWS_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cf_aws_creds;

struct cf_aws_creds_config {
	const char *profile;  /* -o profile; NULL: AWS_PROFILE, else "default" */
	const char *region;   /* aws:REGION; NULL: from the environment or profile */
	const char *endpoint; /* -o endpoint; NULL: from the environment, else AWS's */
	bool no_imds;	      /* never ask the instance metadata service */
	/* explicit keys (source "static"); NULL: the chain above */
	const char *access_key_id, *secret_access_key, *session_token;
};

/* One set of credentials, the caller's copy: every string malloc'd. */
struct cf_aws_credentials {
	char *key_id, *secret;
	char *token;	 /* NULL for long-term keys */
	int64_t expires; /* UTC seconds; 0: does not expire */
};

/* Wipe and free the strings of c (c itself is the caller's). */
void cf_aws_credentials_clear(struct cf_aws_credentials *c);

/* Find the source, region and endpoint. 0, or an errno with the reason (no
 * secret) in why: -ENOENT (a named profile no file holds, a file named but
 * missing), -EACCES (a file open to others, not ours, unreadable),
 * -EINVAL (a malformed file, no region anywhere, a bad endpoint),
 * -EOPNOTSUPP (a profile clonefs cannot use), -ENOMEM. Credentials from a
 * process or the metadata service are fetched at the first
 * cf_aws_creds_get, not here. */
int cf_aws_creds_new(const struct cf_aws_creds_config *cfg, struct cf_aws_creds **out, char *why,
		     size_t why_size);

/* The current credentials, copied into *out (clear them after use),
 * fetched again when they expire within the next minutes or after
 * cf_aws_creds_invalidate. Thread-safe. -EACCES when no source gives any
 * (the reason in why), -EAGAIN when the source could not be reached or
 * failed, -ENOMEM. */
int cf_aws_creds_get(struct cf_aws_creds *c, struct cf_aws_credentials *out, char *why,
		     size_t why_size);

/* The API refused the credentials as expired: fetch anew next time (a no-op
 * for keys that cannot change). */
void cf_aws_creds_invalidate(struct cf_aws_creds *c);

/* "static", "env", "profile", "credential_process", "imds". */
const char *cf_aws_creds_source(const struct cf_aws_creds *c);
/* The profile in use ("default" when none was named). */
const char *cf_aws_creds_profile(const struct cf_aws_creds *c);
const char *cf_aws_creds_region(const struct cf_aws_creds *c);
/* The EC2 endpoint, a URL. */
const char *cf_aws_creds_endpoint(const struct cf_aws_creds *c);
/* How many times credentials were fetched (tests, status). */
unsigned long cf_aws_creds_fetches(const struct cf_aws_creds *c);

void cf_aws_creds_free(struct cf_aws_creds *c);

/* Exposed for unit tests: split a credential_process command line as a
 * POSIX shell would split words (quotes, backslashes; nothing expanded) into
 * a NULL-terminated malloc'd argv (free each, then the array). -EINVAL for an
 * unterminated quote or an empty command. */
int cf_aws_split_command(const char *cmd, char ***argv);

#endif
