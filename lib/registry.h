/* registry.h — which provider serves a mount. The mount source's scheme
 * ("gce:PROJECT", later "aws:REGION") names a provider kind; the kind takes
 * its own -o options (endpoint=, credentials=, ...) as key/values, finds its
 * credentials and scope, and constructs the provider. fs/ knows no provider
 * by name: it hands the scheme's argument and the options over and reads
 * back the few facts a mount needs (the scope, the cache's name, the
 * endpoint and the credential source, for status and the log).
 *
 * A new provider is new files and one line in registry.c's table. */
#ifndef CLONEFS_REGISTRY_H
#define CLONEFS_REGISTRY_H

#include "provider.h"

#include <stdbool.h>
#include <stddef.h>

struct cf_http;
struct cf_layout;
struct cf_feed_source;

/* One provider option from the command line: -o key=value. */
struct cf_kv {
	const char *key, *value;
};

/* One mount's provider while it is set up: the kind's state (impl) and what
 * the mount reads back. Every string is the kind's, freed by cf_source_free. */
struct cf_source {
	const struct cf_provider_kind *kind;
	char *scope;		/* the scope id (GCE: the project); NULL until known */
	const char *scope_from; /* where it came from, for messages */
	char *endpoint;		/* the API base URL in use, for the log and status */
	char *cache_name;	/* one file name for this scope's cache, set with scope */
	void *impl;
};

struct cf_provider_kind {
	const char *scheme;		/* "gce": the source is gce:SCOPE */
	const char *scope_word;		/* "PROJECT", for the synopsis */
	const char *scope_noun;		/* "project", for the log */
	const char *const *keys;	/* the -o keys it takes, NULL-terminated */
	const char *help_about;		/* --help's paragraph on what a mount shows */
	const char *help_options;	/* --help's lines for its -o options */
	const struct cf_layout *layout; /* its tree (layout.h), installed before the store opens */
	/* Its rules for names, label keys and values (the provider's `text_valid`,
	 * provider.h), for what is checked before the provider exists: the policy
	 * file's labels (policy.h). NULL: cf_text_valid_default. */
	bool (*text_valid)(enum cf_text what, const char *s, size_t len, const char **rule);

	/* At parsing (no network): check the options, take defaults from the
	 * environment; scope_arg is SCHEME:SCOPE's SCOPE or NULL. Sets s->scope
	 * when the options or the environment name it (not yet checked: see
	 * set_scope). 0, -EINVAL with a one-line usage error in why, -ENOMEM. */
	int (*configure)(struct cf_source *s, const char *scope_arg, const struct cf_kv *opts,
			 size_t n, bool read_only, char *why, size_t why_size);
	/* Take (or check) the scope, from: for messages; scope NULL: none was
	 * found, why_found says what was tried (may be NULL). Sets s->scope and
	 * s->cache_name. 0, -EINVAL with a usage error in why, -ENOMEM. */
	int (*set_scope)(struct cf_source *s, const char *scope, const char *from,
			 const char *why_found, char *why, size_t why_size);
	/* Credentials, before anything is mounted (http: the mount's client, which
	 * must outlive the source). 0, or an errno with the reason logged. */
	int (*start)(struct cf_source *s, struct cf_http *http);
	/* After start, when no scope was named: find it (GCE: the key's project,
	 * the metadata server's). 0 with it in buf and *from set, else an errno
	 * with what was tried in why. */
	int (*find_scope)(struct cf_source *s, char *buf, size_t size, const char **from, char *why,
			  size_t why_size);
	/* The provider, after start and set_scope; it may keep pointers into s,
	 * which must outlive it. 0, or an errno with the reason logged. */
	int (*provider)(struct cf_source *s, struct cf_provider **out);
	/* The change feed the options name (feed.h), after provider; 0 with *out
	 * NULL when none. Optional (NULL: the kind has no feed). */
	int (*feed)(struct cf_source *s, struct cf_feed_source **out);
	/* Which credentials are in use ("token_file", "metadata", ...), or NULL. */
	const char *(*credentials)(const struct cf_source *s);
	/* Free impl (the strings of struct cf_source are freed by cf_source_free). */
	void (*free)(struct cf_source *s);
};

/* The kind of a mount source "SCHEME:..." (*rest: what follows the ':'), or
 * NULL when the scheme is no provider's. */
const struct cf_provider_kind *cf_registry_by_source(const char *source, const char **rest);
/* The kind a mount without a SCHEME: source uses: the first registered. */
const struct cf_provider_kind *cf_registry_default(void);
/* Whether some provider takes -o key (key: up to '=' or the end). */
bool cf_registry_takes(const char *key, size_t len);
/* Whether kind k takes -o key. */
bool cf_registry_kind_takes(const struct cf_provider_kind *k, const char *key);

/* A source for kind k, configured from the options (see configure above). On
 * failure *out is NULL. */
int cf_source_new(const struct cf_provider_kind *k, const char *scope_arg, const struct cf_kv *opts,
		  size_t n, bool read_only, struct cf_source **out, char *why, size_t why_size);
/* An absolute copy of path, for a path option (the daemon chdirs to / when it
 * backgrounds); NULL when out of memory or the working directory is unknown. */
char *cf_path_absolute(const char *path);

/* Which credentials the source uses ("token_file", "metadata", ...), or NULL. */
const char *cf_source_credentials(const struct cf_source *s);
void cf_source_free(struct cf_source *s);

#endif
