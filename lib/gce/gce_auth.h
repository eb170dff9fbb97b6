/* gce_auth.h — the Compute Engine provider's credential source: access
 * tokens, found the way Google's own tools find them.
 *
 * Sources, the first that applies:
 *   1. token_file: a file holding an access token, re-read when it changes;
 *   2. credentials: a key file, service_account (a JWT signed RS256 with the
 *      key, exchanged at the key's token_uri) or authorized_user (a refresh
 *      token grant); with application_default, GOOGLE_APPLICATION_CREDENTIALS
 *      names it when credentials is NULL;
 *   3. with application_default: gcloud's application default credentials,
 *      $CLOUDSDK_CONFIG (else ~/.config/gcloud)/application_default_credentials.json;
 *   4. the metadata server (GCE_METADATA_HOST honoured), when http is given.
 * A key file is read once, at cf_auth_new. A token is refreshed a minute
 * before it expires (and dropped by cf_auth_invalidate after a 401).
 *
 * A token, credentials or key file open to group or others is refused, with
 * the chmod that fixes it in the message. Holding a private key or a refresh
 * token makes the process non-dumpable (no core file, no ptrace by peers).
 * Tokens, keys and refresh tokens never reach a log, a message or status. */
#ifndef CLONEFS_GCE_AUTH_H
#define CLONEFS_GCE_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct cf_http;
struct cf_auth;

struct cf_auth_config {
	const char *token_file;	  /* may be NULL */
	const char *credentials;  /* a key file (-o credentials=), may be NULL */
	bool application_default; /* look further: GOOGLE_APPLICATION_CREDENTIALS, gcloud's */
	bool read_only;		  /* a key asks for compute.readonly, not compute */
	struct cf_http *http;	  /* for the metadata server; NULL: never asked */
};

/* 0, or an errno with the reason logged: -ENOENT (a key file named but
 * missing), -EACCES (unreadable, or open to group or others), -EINVAL (not a
 * key file clonefs can use), -ENOMEM. */
int cf_auth_new(const struct cf_auth_config *cfg, struct cf_auth **out);
/* Copy the current bearer token into buf. -EACCES with a logged reason when
 * no source gives one (refused, or none configured), -EAGAIN when the source
 * could not be reached, -ERANGE when buf is too small. Thread-safe. */
int cf_auth_token(struct cf_auth *a, char *buf, size_t size);
/* The API said 401: drop the cached token so the next call fetches anew. */
void cf_auth_invalidate(struct cf_auth *a);
/* Which source is in use: "token_file", "service_account", "authorized_user",
 * "metadata", "none". */
const char *cf_auth_source(struct cf_auth *a);
/* The project_id of a service-account key, else NULL. */
const char *cf_auth_project(struct cf_auth *a);
/* Ask the metadata server for its project id (through http, or the config's
 * when NULL). 0, or an errno with the reason in why. */
int cf_auth_metadata_project(struct cf_auth *a, struct cf_http *http, char *buf, size_t size,
			     char *why, size_t why_size);
/* The last failure to get a token, or "" (never holds a secret). */
void cf_auth_last_error(struct cf_auth *a, char *buf, size_t size);
void cf_auth_free(struct cf_auth *a);

/* Exposed for unit tests: the signed JWT a service-account key would send,
 * issued at `now` (UTC seconds), in a malloc'd *out. -EINVAL for other
 * sources. */
int cf_auth_assertion(struct cf_auth *a, long now, char **out);

#endif
