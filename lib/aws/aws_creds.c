/* aws_creds.c — credentials, region and endpoint the AWS CLI's way
 * (aws_creds.h): the environment, the shared files, credential_process, the
 * instance metadata service (IMDSv2), refreshed before they expire.
 *
 * The source is decided once, at cf_aws_creds_new, so a mistake (a named
 * profile that does not exist, a loose file) fails the mount, not the first
 * listing. Keys from the environment or a file never change; a process's or
 * the metadata service's are cached with their expiry and fetched anew a
 * few minutes before it, under the lock (other threads wait for the fresh
 * ones rather than sign with keys about to expire). */
#include "aws_creds.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

enum {
	FILE_MAX = 1 << 20,
	PROCESS_OUT_MAX = 64 << 10,
	PROCESS_TIMEOUT_MS = 60000,
	IMDS_TTL = 21600,
	REFRESH_WINDOW = 300, /* seconds before the expiry */
};

enum source { SRC_STATIC, SRC_ENV, SRC_PROFILE, SRC_PROCESS, SRC_IMDS };
static const char *const source_names[] = {"static", "env", "profile", "credential_process",
					   "imds"};

struct cf_aws_creds {
	pthread_mutex_t lock;
	enum source src;
	char *profile, *region, *endpoint;
	char **argv; /* credential_process */
	char *imds;  /* the metadata service's base URL */
	struct cf_http *imds_http;
	struct cf_aws_credentials cur;
	bool valid;
	int64_t refresh_at; /* UTC seconds; 0: never */
	unsigned long fetches;
};

static void wipe_free(char *s)
{
	if (s) {
		explicit_bzero(s, strlen(s));
		free(s);
	}
}

void cf_aws_credentials_clear(struct cf_aws_credentials *c)
{
	if (!c)
		return;
	wipe_free(c->key_id);
	wipe_free(c->secret);
	wipe_free(c->token);
	memset(c, 0, sizeof *c);
}

static int copy_creds(const struct cf_aws_credentials *from, struct cf_aws_credentials *to)
{
	memset(to, 0, sizeof *to);
	to->key_id = strdup(from->key_id);
	to->secret = strdup(from->secret);
	to->token = from->token ? strdup(from->token) : NULL;
	to->expires = from->expires;
	if (!to->key_id || !to->secret || (from->token && !to->token)) {
		cf_aws_credentials_clear(to);
		return -ENOMEM;
	}
	return 0;
}

/* A key id, secret or token fit to send: printable ASCII, no blank. */
static bool secret_ok(const char *s, size_t max)
{
	size_t n = 0;
	if (!s || !*s)
		return false;
	for (; *s; s++, n++)
		if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f || n >= max)
			return false;
	return true;
}

static int set_creds(struct cf_aws_credentials *c, const char *key, const char *secret,
		     const char *token, int64_t expires, const char *from, char *why,
		     size_t why_size)
{
	memset(c, 0, sizeof *c);
	if (!secret_ok(key, 128) || !secret_ok(secret, 256) ||
	    (token && *token && !secret_ok(token, 16384))) {
		snprintf(why, why_size,
			 "%s: a key id, secret or session token that is empty or "
			 "holds a blank or control character",
			 from);
		return -EINVAL;
	}
	struct cf_aws_credentials t = {(char *) key, (char *) secret,
				       token && *token ? (char *) token : NULL, expires};
	return copy_creds(&t, c);
}

/* ---- files ---- */

/* "~/x" with $HOME; anything else as it is. malloc'd. */
static char *expand_home(const char *p)
{
	const char *home = getenv("HOME");
	char *out = NULL;
	if (p[0] == '~' && p[1] == '/' && home) {
		if (asprintf(&out, "%s%s", home, p + 1) < 0)
			out = NULL;
		return out;
	}
	return strdup(p);
}

static char *default_path(const char *env, const char *leaf)
{
	const char *e = getenv(env);
	if (e && *e)
		return expand_home(e);
	const char *home = getenv("HOME");
	char *out = NULL;
	if (!home || asprintf(&out, "%s/.aws/%s", home, leaf) < 0)
		return NULL;
	return out;
}

/* The file's text (wipe after use) in *out, or NULL when it does not exist.
 * secret: refused when open to group or others; always refused when others
 * may write it or it is not ours (or root's). */
static int read_file(const char *path, bool secret, char **out, char *why, size_t why_size)
{
	*out = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		snprintf(why, why_size, "%s: %s", path, strerror(errno));
		return -EACCES;
	}
	struct stat st;
	int rc = 0;
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		snprintf(why, why_size, "%s is not a regular file", path);
		rc = -EACCES;
	} else if (st.st_uid != geteuid() && st.st_uid != 0) {
		snprintf(why, why_size,
			 "%s belongs to uid %u, not to us (uid %u) or root: whoever owns it "
			 "chooses our credentials",
			 path, (unsigned) st.st_uid, (unsigned) geteuid());
		rc = -EACCES;
	} else if ((secret && (st.st_mode & 077)) || (st.st_mode & 022)) {
		snprintf(why, why_size,
			 "%s is open to group or others (mode %04o): run chmod 600 %s", path,
			 (unsigned) (st.st_mode & 07777), path);
		rc = -EACCES;
	} else if (st.st_size > FILE_MAX) {
		snprintf(why, why_size, "%s is larger than %d bytes", path, FILE_MAX);
		rc = -EINVAL;
	}
	if (rc) {
		close(fd);
		return rc;
	}
	char *buf = malloc(FILE_MAX + 2);
	size_t n = 0;
	ssize_t r;
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	while (n <= FILE_MAX && (r = read(fd, buf + n, FILE_MAX + 1 - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(why, why_size, "%s: %s", path, strerror(errno));
			rc = -EACCES;
			break;
		}
		n += (size_t) r;
	}
	close(fd);
	if (!rc && n > FILE_MAX) {
		snprintf(why, why_size, "%s is larger than %d bytes", path, FILE_MAX);
		rc = -EINVAL;
	}
	if (rc) {
		explicit_bzero(buf, FILE_MAX + 2);
		free(buf);
		return rc;
	}
	buf[n] = '\0';
	*out = buf;
	return 0;
}

/* What one profile says, both files together. */
struct profile {
	bool found;
	char *key_id, *secret, *token, *process, *region;
	const char *unsupported; /* the first key clonefs cannot follow */
};

static void profile_clear(struct profile *p)
{
	wipe_free(p->key_id);
	wipe_free(p->secret);
	wipe_free(p->token);
	free(p->process);
	free(p->region);
	memset(p, 0, sizeof *p);
}

static char *trim(char *s, char *e)
{
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		e--;
	*e = '\0';
	return s;
}

/* Keep one value: an earlier file's (the credentials file, read first) wins. */
static int keep(char **slot, const char *v)
{
	if (*slot)
		return 0;
	return (*slot = strdup(v)) ? 0 : -ENOMEM;
}

/* Read the section of profile name from an INI text (config: "[profile
 * NAME]", "[default]"; credentials: "[NAME]") into p. Indented lines are a
 * nested value's and skipped; "#" and ";" start a comment line. */
static int parse_ini(char *text, const char *path, bool config, const char *name, struct profile *p,
		     char *why, size_t why_size)
{
	bool in = false, any_section = false;
	unsigned line = 0;
	for (char *l = text, *next; l && *l; l = next) {
		line++;
		char *e = strchr(l, '\n');
		next = e ? e + 1 : NULL;
		if (!e)
			e = l + strlen(l);
		if (*l == ' ' || *l == '\t') {
			char *t = trim(l, e);
			if (*t && !any_section)
				goto bad;
			continue;
		}
		char *t = trim(l, e);
		if (!*t || *t == '#' || *t == ';')
			continue;
		if (*t == '[') {
			char *close = strchr(t, ']');
			if (!close)
				goto bad;
			char *sec = trim(t + 1, close);
			any_section = true;
			if (config && !strncmp(sec, "profile", 7) &&
			    (sec[7] == ' ' || sec[7] == '\t'))
				sec = trim(sec + 8, sec + strlen(sec));
			else if (config && strcmp(sec, "default"))
				sec = NULL; /* sso-session, services, ...: not a profile */
			in = sec && !strcmp(sec, name);
			if (in)
				p->found = true;
			continue;
		}
		char *eq = strchr(t, '=');
		if (!eq || !any_section)
			goto bad;
		if (!in)
			continue;
		char *k = trim(t, eq), *v = trim(eq + 1, eq + 1 + strlen(eq + 1));
		int rc = 0;
		if (!strcmp(k, "aws_access_key_id"))
			rc = keep(&p->key_id, v);
		else if (!strcmp(k, "aws_secret_access_key"))
			rc = keep(&p->secret, v);
		else if (!strcmp(k, "aws_session_token"))
			rc = keep(&p->token, v);
		else if (!strcmp(k, "credential_process"))
			rc = keep(&p->process, v);
		else if (!strcmp(k, "region"))
			rc = keep(&p->region, v);
		else if (!p->unsupported &&
			 (!strcmp(k, "role_arn") || !strcmp(k, "sso_start_url") ||
			  !strcmp(k, "sso_session") || !strcmp(k, "web_identity_token_file")))
			p->unsupported = !strcmp(k, "role_arn") ? "role_arn"
					 : !strcmp(k, "web_identity_token_file")
					     ? "web_identity_token_file"
					     : "sso";
		if (rc)
			return rc;
	}
	return 0;
bad:
	snprintf(why, why_size, "%s line %u: not a [section] or a key = value line", path, line);
	return -EINVAL;
}

/* The profile from the credentials file (if wanted) and the config file. */
static int load_profile(const char *name, bool want_creds, struct profile *p, char *why,
			size_t why_size, char *files, size_t files_size)
{
	char *cpath = default_path("AWS_SHARED_CREDENTIALS_FILE", "credentials");
	char *gpath = default_path("AWS_CONFIG_FILE", "config");
	char *text = NULL;
	int rc = 0;
	memset(p, 0, sizeof *p);
	/* without HOME (and without the variables) a file is simply not there */
	snprintf(files, files_size, "%s or %s", cpath ? cpath : "(no HOME for ~/.aws/credentials)",
		 gpath ? gpath : "(no HOME for ~/.aws/config)");
	if (want_creds && cpath) {
		rc = read_file(cpath, true, &text, why, why_size);
		if (!rc && text)
			rc = parse_ini(text, cpath, false, name, p, why, why_size);
		if (text) {
			explicit_bzero(text, strlen(text));
			free(text);
			text = NULL;
		}
		if (rc)
			goto out;
	}
	rc = gpath ? read_file(gpath, false, &text, why, why_size) : 0;
	if (!rc && text) {
		bool had_secret = p->secret != NULL;
		rc = parse_ini(text, gpath, true, name, p, why, why_size);
		struct stat st;
		/* a secret in the config file: held to the credentials file's rule */
		if (!rc && !had_secret && p->secret && !stat(gpath, &st) && (st.st_mode & 077)) {
			snprintf(why, why_size,
				 "%s holds a secret key and is open to group or others (mode "
				 "%04o): run chmod 600 %s",
				 gpath, (unsigned) (st.st_mode & 07777), gpath);
			rc = -EACCES;
		}
	}
	if (text) {
		explicit_bzero(text, strlen(text));
		free(text);
	}
out:
	free(cpath);
	free(gpath);
	if (rc)
		profile_clear(p);
	return rc;
}

/* ---- credential_process ---- */

int cf_aws_split_command(const char *cmd, char ***argv)
{
	size_t n = 0, cap = 8, len = strlen(cmd);
	char **v = calloc(cap, sizeof *v), *w = malloc(len + 1);
	int rc = 0;
	*argv = NULL;
	if (!v || !w) {
		rc = -ENOMEM;
		goto fail;
	}
	const char *s = cmd;
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\n')
			s++;
		if (!*s)
			break;
		size_t wl = 0;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n') {
			if (*s == '\'') {
				const char *e = strchr(s + 1, '\'');
				if (!e) {
					rc = -EINVAL;
					goto fail;
				}
				memcpy(w + wl, s + 1, (size_t) (e - s - 1));
				wl += (size_t) (e - s - 1);
				s = e + 1;
			} else if (*s == '"') {
				s++;
				while (*s && *s != '"') {
					if (*s == '\\' && s[1] && strchr("\"\\$`\n", s[1]))
						s++;
					w[wl++] = *s++;
				}
				if (*s != '"') {
					rc = -EINVAL;
					goto fail;
				}
				s++;
			} else if (*s == '\\' && s[1]) {
				w[wl++] = s[1];
				s += 2;
			} else {
				w[wl++] = *s++;
			}
		}
		if (n + 2 > cap) {
			char **t = realloc(v, (cap *= 2) * sizeof *t);
			if (!t) {
				rc = -ENOMEM;
				goto fail;
			}
			v = t;
		}
		if (!(v[n] = strndup(w, wl))) {
			rc = -ENOMEM;
			goto fail;
		}
		v[++n] = NULL;
	}
	if (!n) {
		rc = -EINVAL;
		goto fail;
	}
	free(w);
	*argv = v;
	return 0;
fail:
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
	free(w);
	return rc;
}

static void argv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static int64_t now_utc(void)
{
	return (int64_t) time(NULL);
}

static long mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Keys from a JSON answer: the process's ({"Version": 1, "AccessKeyId",
 * "SecretAccessKey", "SessionToken", "Expiration"}) or the metadata
 * service's ({"Code": "Success", "AccessKeyId", "SecretAccessKey", "Token",
 * "Expiration"}). */
static int creds_from_json(const char *text, size_t len, bool imds, struct cf_aws_credentials *out,
			   const char *from, char *why, size_t why_size)
{
	struct cf_json j;
	char jwhy[128];
	int rc = cf_json_parse(&j, text, len, jwhy, sizeof jwhy);
	if (rc) {
		snprintf(why, why_size, "%s: not JSON (%s)", from, jwhy);
		return -EACCES;
	}
	size_t kl = 0, sl = 0, tl = 0, el = 0;
	int64_t version = 0, expires = 0;
	uint32_t ens;
	const char *key = cf_json_str(&j, cf_json_get(&j, 0, "AccessKeyId"), &kl);
	const char *sec = cf_json_str(&j, cf_json_get(&j, 0, "SecretAccessKey"), &sl);
	int tv = cf_json_get(&j, 0, imds ? "Token" : "SessionToken");
	const char *tok = cf_json_present(&j, tv) ? cf_json_str(&j, tv, &tl) : NULL;
	int ev = cf_json_get(&j, 0, "Expiration");
	const char *exp = cf_json_present(&j, ev) ? cf_json_str(&j, ev, &el) : NULL;
	char ebuf[64];
	rc = -EACCES;
	if (cf_json_type(&j, 0) != CF_J_OBJECT) {
		snprintf(why, why_size, "%s: not a JSON object", from);
	} else if (imds && !cf_json_str_eq(&j, cf_json_get(&j, 0, "Code"), "Success", 7)) {
		snprintf(why, why_size, "%s: the answer's Code is not Success", from);
	} else if (!imds &&
		   (cf_json_int(&j, cf_json_get(&j, 0, "Version"), &version) || version != 1)) {
		snprintf(why, why_size, "%s: the output's Version is not 1", from);
	} else if (!key || !sec || strlen(key) != kl || strlen(sec) != sl ||
		   (cf_json_present(&j, tv) && (!tok || strlen(tok) != tl))) {
		snprintf(why, why_size, "%s: no AccessKeyId and SecretAccessKey strings", from);
	} else if (cf_json_present(&j, ev) && (!exp || el >= sizeof ebuf ||
					       (memcpy(ebuf, exp, el), ebuf[el] = '\0',
						cf_time_parse(ebuf, &expires, &ens)))) {
		snprintf(why, why_size, "%s: an Expiration that is not an RFC 3339 time", from);
	} else if (expires && expires <= now_utc()) {
		snprintf(why, why_size, "%s: the credentials expired already", from);
	} else {
		rc = set_creds(out, key, sec, tok, expires, from, why, why_size);
		if (rc == -EINVAL)
			rc = -EACCES;
	}
	/* the decoded strings in j's arena are json.c's; the text is the caller's */
	cf_json_free(&j);
	return rc;
}

static int run_process(struct cf_aws_creds *c, struct cf_aws_credentials *out, char *why,
		       size_t why_size)
{
	int pfd[2];
	if (pipe2(pfd, O_CLOEXEC)) {
		snprintf(why, why_size, "credential_process: pipe: %s", strerror(errno));
		return -EAGAIN;
	}
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
	pid_t pid;
	int e = posix_spawnp(&pid, c->argv[0], &fa, NULL, c->argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(pfd[1]);
	if (e) {
		close(pfd[0]);
		snprintf(why, why_size, "credential_process %.200s: %s", c->argv[0], strerror(e));
		return -EACCES;
	}
	char *buf = malloc(PROCESS_OUT_MAX + 1);
	size_t n = 0;
	int rc = 0;
	long deadline = mono_ms() + PROCESS_TIMEOUT_MS;
	if (!buf)
		rc = -ENOMEM;
	while (!rc) {
		long left = deadline - mono_ms();
		struct pollfd pf = {pfd[0], POLLIN, 0};
		if (left <= 0) {
			snprintf(why, why_size, "credential_process %.200s: no answer within %d s",
				 c->argv[0], PROCESS_TIMEOUT_MS / 1000);
			rc = -EAGAIN;
			break;
		}
		int pr = poll(&pf, 1, (int) left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			continue;
		ssize_t r = read(pfd[0], buf + n, PROCESS_OUT_MAX + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t) r;
		if (n > PROCESS_OUT_MAX) {
			snprintf(why, why_size,
				 "credential_process %.200s: more than %d bytes of "
				 "output",
				 c->argv[0], PROCESS_OUT_MAX);
			rc = -EACCES;
		}
	}
	close(pfd[0]);
	if (rc)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	if (!rc && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
		snprintf(why, why_size, "credential_process %.200s: %s %d", c->argv[0],
			 WIFEXITED(st) ? "exited with status" : "killed by signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
		rc = -EACCES;
	}
	if (!rc)
		rc = creds_from_json(buf, n, false, out, "credential_process", why, why_size);
	if (buf) {
		explicit_bzero(buf, PROCESS_OUT_MAX + 1);
		free(buf);
	}
	return rc;
}

/* ---- the instance metadata service, IMDSv2 ---- */

static int imds_errno(int rc, const struct cf_http_response *r, const char *what, char *why,
		      size_t why_size)
{
	if (rc) {
		snprintf(why, why_size,
			 "the instance metadata service did not answer %s (%s; not on EC2, or in "
			 "a container behind a hop limit of 1)",
			 what, r->error[0] ? r->error : strerror(-rc));
		return -EAGAIN;
	}
	snprintf(why, why_size, "the instance metadata service answered %s with HTTP %ld%s", what,
		 r->status,
		 r->status == 404 && !strcmp(what, "the role list")
		     ? " (no IAM role attached to the instance)"
		 : r->status == 403 ? " (the metadata service is turned off)"
		 : r->status == 404 || r->status == 405
		     ? " (no IMDSv2 token service: clonefs does not use IMDSv1)"
		     : "");
	return r->status >= 500 || r->status == 429 ? -EAGAIN : -EACCES;
}

static int imds_fetch(struct cf_aws_creds *c, struct cf_aws_credentials *out, char *why,
		      size_t why_size)
{
	char url[512], token_hdr[1200];
	struct cf_http_response r;
	snprintf(url, sizeof url, "%s/latest/api/token", c->imds);
	const char *ttl[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
	struct cf_http_request rq = {.method = "PUT", .url = url, .headers = ttl, .secret = true};
	int rc = cf_http_do(c->imds_http, &rq, &r);
	if (rc || r.status != 200) {
		rc = imds_errno(rc, &r, "the token request", why, why_size);
		cf_http_response_wipe(&r);
		return rc;
	}
	if (!secret_ok(r.body, 1024)) {
		cf_http_response_wipe(&r);
		snprintf(why, why_size, "the instance metadata service's token is not one");
		return -EACCES;
	}
	snprintf(token_hdr, sizeof token_hdr, "X-aws-ec2-metadata-token: %s", r.body);
	cf_http_response_wipe(&r);
	const char *hdrs[] = {token_hdr, NULL};

	snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/", c->imds);
	rq = (struct cf_http_request){.method = "GET", .url = url, .headers = hdrs};
	rc = cf_http_do(c->imds_http, &rq, &r);
	char role[129] = "";
	if (rc || r.status != 200) {
		rc = imds_errno(rc, &r, "the role list", why, why_size);
	} else {
		size_t l = strcspn(r.body, "\r\n");
		for (size_t i = 0; i < l; i++)
			if (!isalnum((unsigned char) r.body[i]) && !strchr("+=,.@_-", r.body[i]))
				l = 0;
		if (l == 0 || l >= sizeof role) {
			snprintf(why, why_size,
				 "the instance metadata service named no usable role");
			rc = -EACCES;
		} else {
			memcpy(role, r.body, l);
			role[l] = '\0';
		}
	}
	cf_http_response_clear(&r);
	if (!rc) {
		snprintf(url, sizeof url, "%s/latest/meta-data/iam/security-credentials/%s",
			 c->imds, role);
		rq = (struct cf_http_request){
		    .method = "GET", .url = url, .headers = hdrs, .secret = true};
		rc = cf_http_do(c->imds_http, &rq, &r);
		if (rc || r.status != 200)
			rc = imds_errno(rc, &r, "the role's credentials", why, why_size);
		else
			rc = creds_from_json(r.body, r.body_len, true, out,
					     "the instance metadata service", why, why_size);
		cf_http_response_wipe(&r);
	}
	explicit_bzero(token_hdr, sizeof token_hdr);
	return rc;
}

/* ---- the object ---- */

static bool env_true(const char *name)
{
	const char *v = getenv(name);
	return v && !strcasecmp(v, "true");
}

static const char *env(const char *name)
{
	const char *v = getenv(name);
	return v && *v ? v : NULL;
}

static bool region_ok(const char *s)
{
	if (!s || !*s || strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

static bool url_ok(const char *s)
{
	if (!s || strlen(s) > 400 || (strncmp(s, "https://", 8) && strncmp(s, "http://", 7)))
		return false;
	/* no user:password@ either: a URL is logged, and SigV4 is the only authority */
	for (; *s; s++)
		if ((unsigned char) *s <= 0x20 || (unsigned char) *s >= 0x7f || *s == '@')
			return false;
	return true;
}

void cf_aws_creds_free(struct cf_aws_creds *c)
{
	if (!c)
		return;
	cf_aws_credentials_clear(&c->cur);
	free(c->profile);
	free(c->region);
	free(c->endpoint);
	free(c->imds);
	argv_free(c->argv);
	cf_http_free(c->imds_http);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static int fail(struct cf_aws_creds *c, int rc)
{
	cf_aws_creds_free(c);
	return rc;
}

int cf_aws_creds_new(const struct cf_aws_creds_config *cfg, struct cf_aws_creds **out, char *why,
		     size_t why_size)
{
	*out = NULL;
	why[0] = '\0';
	struct cf_aws_creds *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	const char *pname = cfg->profile ? cfg->profile : env("AWS_PROFILE");
	bool named = pname != NULL;
	if (!(c->profile = strdup(pname ? pname : "default")))
		return fail(c, -ENOMEM);
	int rc = 0;
	bool have = false;
	struct profile p = {0};
	bool loaded = false;
	char files[1100] = "";

	if (cfg->access_key_id || cfg->secret_access_key) {
		rc = set_creds(&c->cur, cfg->access_key_id, cfg->secret_access_key,
			       cfg->session_token, 0, "the given keys", why, why_size);
		if (rc)
			return fail(c, rc);
		c->src = SRC_STATIC;
		have = true;
	} else if (!cfg->profile && (env("AWS_ACCESS_KEY_ID") || env("AWS_SECRET_ACCESS_KEY"))) {
		if (!env("AWS_ACCESS_KEY_ID") || !env("AWS_SECRET_ACCESS_KEY")) {
			snprintf(why, why_size, "%s is set but %s is not",
				 env("AWS_ACCESS_KEY_ID") ? "AWS_ACCESS_KEY_ID"
							  : "AWS_SECRET_ACCESS_KEY",
				 env("AWS_ACCESS_KEY_ID") ? "AWS_SECRET_ACCESS_KEY"
							  : "AWS_ACCESS_KEY_ID");
			return fail(c, -EINVAL);
		}
		rc =
		    set_creds(&c->cur, env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"),
			      env("AWS_SESSION_TOKEN"), 0, "the environment's keys", why, why_size);
		if (rc)
			return fail(c, rc);
		c->src = SRC_ENV;
		have = true;
	}
	const char *region = cfg->region	 ? cfg->region
			     : env("AWS_REGION") ? env("AWS_REGION")
						 : env("AWS_DEFAULT_REGION");
	if (!have || !region) {
		rc = load_profile(c->profile, !have, &p, why, why_size, files, sizeof files);
		if (rc)
			return fail(c, rc);
		loaded = true;
		if (named && !p.found) {
			snprintf(why, why_size, "the profile \"%.64s\" is in neither %s",
				 c->profile, files);
			profile_clear(&p);
			return fail(c, -ENOENT);
		}
	}
	if (!have && (p.key_id || p.secret)) {
		rc = set_creds(&c->cur, p.key_id, p.secret, p.token, 0, "the profile's keys", why,
			       why_size);
		if (rc) {
			if (!p.key_id || !p.secret)
				snprintf(why, why_size,
					 "the profile \"%.64s\" has aws_access_key_id or "
					 "aws_secret_access_key but not both",
					 c->profile);
			profile_clear(&p);
			return fail(c, rc);
		}
		c->src = SRC_PROFILE;
		have = true;
	} else if (!have && p.process) {
		rc = cf_aws_split_command(p.process, &c->argv);
		if (rc) {
			snprintf(why, why_size,
				 "the profile \"%.64s\"'s credential_process is not a command line "
				 "(an unterminated quote?)",
				 c->profile);
			profile_clear(&p);
			return fail(c, rc);
		}
		c->src = SRC_PROCESS;
		have = true;
	} else if (!have && p.unsupported) {
		snprintf(why, why_size,
			 "the profile \"%.64s\" uses %s, which clonefs does not follow: give it "
			 "keys, a credential_process, or use the instance's role",
			 c->profile, p.unsupported);
		profile_clear(&p);
		return fail(c, -EOPNOTSUPP);
	} else if (!have && named) {
		snprintf(why, why_size, "the profile \"%.64s\" has no credentials (%s)", c->profile,
			 files);
		profile_clear(&p);
		return fail(c, -EACCES);
	} else if (!have) {
		if (cfg->no_imds || env_true("AWS_EC2_METADATA_DISABLED")) {
			snprintf(why, why_size,
				 "no credentials: no AWS_ACCESS_KEY_ID, no keys for the profile "
				 "\"%.64s\" in %s, and the instance metadata service is %s",
				 c->profile, files[0] ? files : "~/.aws",
				 cfg->no_imds ? "not to be asked" : "disabled");
			profile_clear(&p);
			return fail(c, -EACCES);
		}
		const char *base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
		if (!(c->imds = strdup(base ? base : "http://169.254.169.254"))) {
			profile_clear(&p);
			return fail(c, -ENOMEM);
		}
		size_t l = strlen(c->imds);
		while (l && c->imds[l - 1] == '/')
			c->imds[--l] = '\0';
		struct cf_http_config hc = {.connect_timeout_ms = 1000,
					    .timeout_ms = 2000,
					    .max_attempts = 2,
					    .base_delay_ms = 50,
					    .max_total_ms = 5000,
					    .allow_insecure_loopback = true};
		char uwhy[160];
		rc = url_ok(c->imds) ? cf_http_new(&hc, &c->imds_http) : -EINVAL;
		if (!rc &&
		    (rc = cf_http_check_url(c->imds_http, c->imds, false, uwhy, sizeof uwhy)))
			snprintf(why, why_size, "the metadata service endpoint %.200s: %s", c->imds,
				 uwhy);
		else if (rc)
			snprintf(why, why_size, "AWS_EC2_METADATA_SERVICE_ENDPOINT is not a URL");
		if (rc) {
			profile_clear(&p);
			return fail(c, rc);
		}
		c->src = SRC_IMDS;
	}
	if (!region && loaded)
		region = p.region;
	if (!region_ok(region)) {
		snprintf(why, why_size,
			 region ? "the region \"%.64s\" is not a region name"
				: "no region: give aws:REGION, or set AWS_REGION or the profile's "
				  "region",
			 region);
		profile_clear(&p);
		return fail(c, -EINVAL);
	}
	c->region = strdup(region);
	profile_clear(&p);
	const char *ep = cfg->endpoint		       ? cfg->endpoint
			 : env("AWS_ENDPOINT_URL_EC2") ? env("AWS_ENDPOINT_URL_EC2")
						       : env("AWS_ENDPOINT_URL");
	if (ep && !url_ok(ep)) {
		snprintf(why, why_size, "the endpoint is not an http(s) URL");
		return fail(c, -EINVAL);
	}
	if (ep)
		c->endpoint = strdup(ep);
	else if (asprintf(&c->endpoint, "https://ec2.%s.amazonaws.com%s/", c->region,
			  !strncmp(c->region, "cn-", 3) ? ".cn" : "") < 0)
		c->endpoint = NULL;
	if (!c->region || !c->endpoint)
		return fail(c, -ENOMEM);
	c->valid = c->src == SRC_STATIC || c->src == SRC_ENV || c->src == SRC_PROFILE;
	/* A long-lived secret key in memory: no core file or same-uid ptrace may
	 * read it out of us (as gce_auth does for a private key). */
	if (c->src != SRC_IMDS && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0))
		cf_warn("aws: cannot make the process non-dumpable: %s", strerror(errno));
	cf_info("aws: credentials from %s%s%s%s, region %s, endpoint %s", source_names[c->src],
		c->src == SRC_PROFILE || c->src == SRC_PROCESS ? " (profile " : "",
		c->src == SRC_PROFILE || c->src == SRC_PROCESS ? c->profile : "",
		c->src == SRC_PROFILE || c->src == SRC_PROCESS ? ")" : "", c->region, c->endpoint);
	*out = c;
	return 0;
}

int cf_aws_creds_get(struct cf_aws_creds *c, struct cf_aws_credentials *out, char *why,
		     size_t why_size)
{
	memset(out, 0, sizeof *out);
	why[0] = '\0';
	pthread_mutex_lock(&c->lock);
	int64_t now = now_utc();
	int rc = 0;
	if (!c->valid || (c->refresh_at && now >= c->refresh_at)) {
		struct cf_aws_credentials fresh = {0};
		rc = c->src == SRC_PROCESS ? run_process(c, &fresh, why, why_size)
		     : c->src == SRC_IMDS  ? imds_fetch(c, &fresh, why, why_size)
					   : -EACCES;
		c->fetches++;
		if (!rc) {
			cf_aws_credentials_clear(&c->cur);
			c->cur = fresh;
			c->valid = true;
			c->refresh_at = 0;
			if (fresh.expires) {
				/* a few minutes early, or half their life when shorter */
				int64_t life = fresh.expires - now, w = REFRESH_WINDOW;
				if (w > life / 2)
					w = life / 2;
				c->refresh_at = fresh.expires - w;
			}
			cf_debug("aws: fresh credentials from %s", source_names[c->src]);
		} else if (c->valid && c->cur.expires > now) {
			/* the old ones still hold: use them, say so */
			cf_warn("aws: could not refresh the credentials (%s); the current ones "
				"expire in %lld s",
				why, (long long) (c->cur.expires - now));
			rc = 0;
		} else {
			c->valid = false;
		}
	}
	if (!rc)
		rc = copy_creds(&c->cur, out);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void cf_aws_creds_invalidate(struct cf_aws_creds *c)
{
	pthread_mutex_lock(&c->lock);
	if (c->src == SRC_PROCESS || c->src == SRC_IMDS)
		c->valid = false;
	pthread_mutex_unlock(&c->lock);
}

const char *cf_aws_creds_source(const struct cf_aws_creds *c)
{
	return source_names[c->src];
}

const char *cf_aws_creds_profile(const struct cf_aws_creds *c)
{
	return c->profile;
}

const char *cf_aws_creds_region(const struct cf_aws_creds *c)
{
	return c->region;
}

const char *cf_aws_creds_endpoint(const struct cf_aws_creds *c)
{
	return c->endpoint;
}

unsigned long cf_aws_creds_fetches(const struct cf_aws_creds *c)
{
	pthread_mutex_lock((pthread_mutex_t *) &c->lock);
	unsigned long n = c->fetches;
	pthread_mutex_unlock((pthread_mutex_t *) &c->lock);
	return n;
}
