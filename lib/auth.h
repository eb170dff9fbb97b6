/* auth.h — access tokens for the provider.
 *
 * Sources, the first that applies: a token file (re-read when it changes),
 * then the metadata server (GCE_METADATA_HOST honoured). Service-account
 * keys (JWT signed with OpenSSL) and authorized_user files join later.
 * A token is refreshed before it expires. Tokens never reach a log. */
#ifndef CLONEFS_AUTH_H
#define CLONEFS_AUTH_H

#include <stddef.h>

struct cf_http;
struct cf_auth;

struct cf_auth_config {
	const char *token_file; /* may be NULL */
	struct cf_http *http;    /* for the metadata server */
};

int cf_auth_new(const struct cf_auth_config *cfg, struct cf_auth **out);
/* Copy the current bearer token into buf. -EACCES with a logged reason when
 * no source gives one. Thread-safe. */
int cf_auth_token(struct cf_auth *a, char *buf, size_t size);
/* The API said 401: drop the cached token so the next call fetches anew. */
void cf_auth_invalidate(struct cf_auth *a);
/* Which source is in use: "token_file", "metadata", "none". */
const char *cf_auth_source(struct cf_auth *a);
void cf_auth_free(struct cf_auth *a);

#endif
