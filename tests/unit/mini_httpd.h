/* mini_httpd.h — a tiny HTTP/1.1 server for unit tests, header-only: a
 * thread on 127.0.0.1 answering each request with the next canned response
 * of a script (as JSON), keeping connections alive unless told to close, and
 * recording every request it was asked, with its body. Enough to test
 * retries, keep-alive, headers and the provider's requests without the
 * network or fixed sleeps. */
#ifndef CLONEFS_MINI_HTTPD_H
#define CLONEFS_MINI_HTTPD_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the server: answers each request with the next canned response ---- */

struct canned {
	int status;
	const char *headers; /* extra header lines, each ending "\r\n" */
	const char *body;    /* NULL: none */
	bool close;	     /* Connection: close */
};

enum { MAX_CONNS = 16, MAX_CANNED = 32, MAX_RECORDED = 32, CONN_BUF = 32768 };

/* One request as it arrived (the first MAX_RECORDED after server_script). */
struct recorded {
	char line[1024]; /* "POST /compute/v1/... HTTP/1.1" */
	char head[4096];
	char body[8192];
};

struct server {
	int lfd, port, stop_pipe[2];
	pthread_t thread;
	pthread_mutex_t lock;
	struct canned canned[MAX_CANNED];
	int ncanned, next;
	int requests, connections;
	char last_head[4096];
	struct recorded req[MAX_RECORDED];
	int nreq;
};

static struct server S;

static inline void server_script(const struct canned *c, int n)
{
	pthread_mutex_lock(&S.lock);
	if (n)
		memcpy(S.canned, c, sizeof *c * (size_t) n);
	S.ncanned = n;
	S.next = 0;
	S.requests = 0;
	S.connections = 0;
	S.last_head[0] = '\0';
	S.nreq = 0;
	pthread_mutex_unlock(&S.lock);
}

/* How many requests were recorded since server_script. */
static inline int server_count(void)
{
	pthread_mutex_lock(&S.lock);
	int n = S.nreq;
	pthread_mutex_unlock(&S.lock);
	return n;
}

static inline const char *reason(int status)
{
	return status == 200 ? "OK" : status == 503 ? "Service Unavailable" : "Whatever";
}

/* Answer every complete request in buf; returns false when the connection
 * should close. */
static inline bool serve(int fd, char *buf, size_t *len)
{
	for (;;) {
		buf[*len] = '\0';
		char *end = strstr(buf, "\r\n\r\n");
		if (!end)
			return true;
		size_t head = (size_t) (end + 4 - buf), body = 0;
		char *cl = strcasestr(buf, "\r\nContent-Length:");
		if (cl && cl < end)
			body = strtoul(cl + 17, NULL, 10);
		if (*len < head + body)
			return true;

		pthread_mutex_lock(&S.lock);
		snprintf(S.last_head, sizeof S.last_head, "%.*s", (int) head, buf);
		S.requests++;
		if (S.nreq < MAX_RECORDED) {
			struct recorded *q = &S.req[S.nreq++];
			size_t ll = (size_t) (strstr(buf, "\r\n") - buf);
			snprintf(q->line, sizeof q->line, "%.*s", (int) ll, buf);
			snprintf(q->head, sizeof q->head, "%.*s", (int) head, buf);
			snprintf(q->body, sizeof q->body, "%.*s", (int) body, buf + head);
		}
		struct canned c = S.next < S.ncanned
				      ? S.canned[S.next++]
				      : (struct canned){500, NULL, "script ran out", true};
		pthread_mutex_unlock(&S.lock);

		const char *b = c.body ? c.body : "";
		char out[65536];
		int n = snprintf(out, sizeof out,
				 "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
				 "Content-Length: %zu\r\n%s%s\r\n%s",
				 c.status, reason(c.status), strlen(b), c.headers ? c.headers : "",
				 c.close ? "Connection: close\r\n" : "", b);
		if (n > 0 && write(fd, out, (size_t) n) < 0)
			return false;
		memmove(buf, buf + head + body, *len - head - body);
		*len -= head + body;
		if (c.close)
			return false;
	}
}

static inline void *server_main(void *arg)
{
	(void) arg;
	struct pollfd pf[2 + MAX_CONNS];
	static char bufs[MAX_CONNS][CONN_BUF];
	size_t lens[MAX_CONNS];
	int fds[MAX_CONNS], nconn = 0;

	for (;;) {
		pf[0] = (struct pollfd){.fd = S.stop_pipe[0], .events = POLLIN};
		pf[1] = (struct pollfd){.fd = S.lfd, .events = POLLIN};
		for (int i = 0; i < nconn; i++)
			pf[2 + i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
		int polled = nconn; /* pf holds these; an accept below adds one it does not */
		if (poll(pf, (nfds_t) (2 + nconn), -1) < 0)
			continue;
		if (pf[0].revents)
			break;
		if ((pf[1].revents & POLLIN) && nconn < MAX_CONNS) {
			int fd = accept(S.lfd, NULL, NULL);
			if (fd >= 0) {
				pthread_mutex_lock(&S.lock);
				S.connections++;
				pthread_mutex_unlock(&S.lock);
				lens[nconn] = 0;
				fds[nconn++] = fd;
			}
		}
		for (int i = 0; i < polled && i < nconn; i++) {
			if (!pf[2 + i].revents || pf[2 + i].fd != fds[i])
				continue;
			ssize_t r = read(fds[i], bufs[i] + lens[i], sizeof bufs[i] - 1 - lens[i]);
			bool keep = r > 0;
			if (keep) {
				lens[i] += (size_t) r;
				keep = serve(fds[i], bufs[i], &lens[i]);
			}
			if (!keep) {
				close(fds[i]);
				fds[i] = fds[nconn - 1];
				lens[i] = lens[nconn - 1];
				memcpy(bufs[i], bufs[nconn - 1], lens[i]);
				nconn--;
				i--;
			}
		}
	}
	for (int i = 0; i < nconn; i++)
		close(fds[i]);
	return NULL;
}

/* A loopback port nobody listens on (bound, then released). */
static inline int closed_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof a) ||
	    getsockname(fd, (struct sockaddr *) &a, &al))
		return 9;
	close(fd);
	return ntohs(a.sin_port);
}

static inline int server_start(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof a;
	pthread_mutex_init(&S.lock, NULL);
	S.lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (S.lfd < 0 || bind(S.lfd, (struct sockaddr *) &a, sizeof a) || listen(S.lfd, 16) ||
	    getsockname(S.lfd, (struct sockaddr *) &a, &al) || pipe(S.stop_pipe))
		return -1;
	S.port = ntohs(a.sin_port);
	return pthread_create(&S.thread, NULL, server_main, NULL) ? -1 : 0;
}

static inline void server_stop(void)
{
	if (write(S.stop_pipe[1], "x", 1) != 1)
		return;
	pthread_join(S.thread, NULL);
	close(S.lfd);
	close(S.stop_pipe[0]);
	close(S.stop_pipe[1]);
}

#endif
