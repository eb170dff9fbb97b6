/* store_byid_spill.c — sorted runs of id-index changes in an unlinked file,
 * found again by the writer's lookups and merged at a listing's end
 * (store_byid_spill.h says why). */
#include "store_byid_spill.h"

#include "hash.h"
#include "log.h"
#include "tmpfile.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	BYID_FENCE = 32,	   /* records between fences: a lookup reads at most this many */
	BYID_BLOOM_BITS = 1 << 24, /* 2 MB: under 1 % false hits up to two million changes */
	BYID_PROBES = 4,
	WBUF = 1 << 16,
	RBUF = 1 << 16,
	HDR = 19, /* cookie, base, kind, del, len */
};

int byid_key_cmp(uint64_t ca, const char *a, size_t na, unsigned ka, uint64_t cb, const char *b,
		 size_t nb, unsigned kb)
{
	if (ca != cb)
		return ca < cb ? -1 : 1;
	int c = memcmp(a, b, na < nb ? na : nb);
	if (c)
		return c;
	if (na != nb)
		return na < nb ? -1 : 1; /* "ab\0" before "abc\0" */
	return ka < kb ? -1 : ka > kb;
}

void byid_runs_init(struct byid_runs *r)
{
	memset(r, 0, sizeof *r);
}

void byid_runs_free(struct byid_runs *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->run[i].fence_cookie);
		free(r->run[i].fence_off);
	}
	byid_run_cancel(r); /* a run being written */
	free(r->run);
	free(r->wbuf);
	free(r->bloom);
	if (r->have_fd)
		close(r->fd);
	byid_runs_init(r);
}

/* ---- the Bloom filter over (kind, id) ---- */

static uint64_t bloom_hash(unsigned kind, const char *id, size_t n)
{
	return cf_hash64(id, n) ^ ((uint64_t) kind * 0x9e3779b97f4a7c15ull);
}

static void bloom_add(uint64_t *bloom, uint64_t h)
{
	uint64_t step = (h >> 33) | 1;
	for (int i = 0; i < BYID_PROBES; i++, h += step) {
		size_t bit = (size_t) (h & (BYID_BLOOM_BITS - 1));
		bloom[bit / 64] |= (uint64_t) 1 << (bit % 64);
	}
}

static bool bloom_maybe(const uint64_t *bloom, uint64_t h)
{
	uint64_t step = (h >> 33) | 1;
	for (int i = 0; i < BYID_PROBES; i++, h += step) {
		size_t bit = (size_t) (h & (BYID_BLOOM_BITS - 1));
		if (!(bloom[bit / 64] & ((uint64_t) 1 << (bit % 64))))
			return false;
	}
	return true;
}

/* ---- writing a run ---- */

static int write_all(int fd, const unsigned char *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t) off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		p += w;
		n -= (size_t) w;
		off += (uint64_t) w;
	}
	return 0;
}

static struct byid_run *open_run(struct byid_runs *r)
{
	return &r->run[r->n];
}

int byid_run_begin(struct byid_runs *r, const char *dir)
{
	if (!r->have_fd) {
		int fd = cf_unlinked_file(dir, "byid");
		if (fd < 0) {
			cf_err("store: cannot make a file in %s for the id index's waiting "
			       "changes: %s",
			       dir, strerror(-fd));
			return fd;
		}
		r->fd = fd;
		r->have_fd = true;
	}
	if (!r->bloom && !(r->bloom = calloc(BYID_BLOOM_BITS / 64, sizeof *r->bloom)))
		return -ENOMEM;
	if (!r->wbuf && !(r->wbuf = malloc(WBUF)))
		return -ENOMEM;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 8;
		struct byid_run *run = realloc(r->run, cap * sizeof *run);
		if (!run)
			return -ENOMEM;
		r->run = run;
		r->cap = cap;
	}
	*open_run(r) = (struct byid_run){.off = r->end, .end = r->end};
	r->open_recs = r->fcap = r->wlen = 0;
	r->writing = true;
	return 0;
}

static int flush_wbuf(struct byid_runs *r)
{
	struct byid_run *run = open_run(r);
	int rc = write_all(r->fd, r->wbuf, r->wlen, run->end);
	if (rc) {
		cf_err("store: cannot write the id index's waiting changes: %s", strerror(-rc));
		return rc;
	}
	run->end += r->wlen;
	r->wlen = 0;
	return 0;
}

int byid_run_add(struct byid_runs *r, const struct byid_rec *x)
{
	struct byid_run *run = open_run(r);
	size_t need = HDR + x->len;
	int rc;
	if (r->wlen + need > WBUF && (rc = flush_wbuf(r)))
		return rc;
	if (r->open_recs % BYID_FENCE == 0) {
		if (run->nfence == r->fcap) {
			size_t cap = r->fcap ? r->fcap * 2 : 64;
			uint64_t *c = realloc(run->fence_cookie, cap * sizeof *c);
			if (!c)
				return -ENOMEM;
			run->fence_cookie = c;
			uint64_t *o = realloc(run->fence_off, cap * sizeof *o);
			if (!o)
				return -ENOMEM;
			run->fence_off = o;
			r->fcap = cap;
		}
		run->fence_cookie[run->nfence] = x->cookie;
		run->fence_off[run->nfence++] = run->end + r->wlen;
	}
	unsigned char *p = r->wbuf + r->wlen;
	memcpy(p, &x->cookie, 8);
	memcpy(p + 8, &x->base, 8);
	p[16] = x->kind;
	p[17] = x->del;
	p[18] = x->len;
	memcpy(p + HDR, x->id, x->len);
	r->wlen += need;
	r->open_recs++;
	bloom_add(r->bloom, bloom_hash(x->kind, x->id, x->len));
	return 0;
}

int byid_run_end(struct byid_runs *r)
{
	int rc = r->wlen ? flush_wbuf(r) : 0;
	if (rc)
		return rc;
	r->end = open_run(r)->end;
	r->n++;
	r->open_recs = r->fcap = 0;
	r->writing = false;
	return 0;
}

/* The filter keeps the cancelled run's bits: a false hit costs a read, not an answer. */
void byid_run_cancel(struct byid_runs *r)
{
	if (r->writing) {
		free(open_run(r)->fence_cookie);
		free(open_run(r)->fence_off);
		memset(open_run(r), 0, sizeof *open_run(r));
	}
	r->open_recs = r->fcap = r->wlen = 0;
	r->writing = false;
}

/* ---- reading runs ---- */

struct reader {
	int fd;
	uint64_t at, end; /* the file's next byte to read, and the run's end */
	unsigned char *buf;
	size_t cap, pos, fill;
};

/* The next record into *x: 1, 0 at the end, or an error. */
static int read_rec(struct reader *rd, struct byid_rec *x)
{
	if (rd->pos + HDR > rd->fill || rd->pos + HDR + rd->buf[rd->pos + 18] > rd->fill) {
		/* refill: keep the partial record's bytes */
		size_t keep = rd->fill - rd->pos;
		memmove(rd->buf, rd->buf + rd->pos, keep);
		rd->pos = 0;
		rd->fill = keep;
		while (rd->fill < rd->cap && rd->at < rd->end) {
			size_t want = rd->cap - rd->fill;
			if (want > rd->end - rd->at)
				want = (size_t) (rd->end - rd->at);
			ssize_t got = pread(rd->fd, rd->buf + rd->fill, want, (off_t) rd->at);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				int e = got < 0 ? errno : EIO;
				cf_err("store: cannot read the id index's waiting changes back: %s",
				       strerror(e));
				return -e;
			}
			rd->fill += (size_t) got;
			rd->at += (uint64_t) got;
		}
		if (rd->fill == 0)
			return 0;
		if (rd->fill < HDR || rd->fill < HDR + (size_t) rd->buf[18]) {
			cf_err("store: the id index's waiting changes end mid-record");
			return -EIO;
		}
	}
	const unsigned char *p = rd->buf + rd->pos;
	memcpy(&x->cookie, p, 8);
	memcpy(&x->base, p + 8, 8);
	x->kind = p[16];
	x->del = p[17];
	x->len = p[18];
	if (x->len >= CF_ID_MAX) {
		cf_err("store: a waiting id-index change of %u bytes", x->len);
		return -EIO;
	}
	memcpy(x->id, p + HDR, x->len);
	rd->pos += HDR + x->len;
	return 1;
}

int byid_runs_find(struct byid_runs *r, unsigned kind, const char *id, size_t n, uint64_t cookie,
		   struct byid_rec *out)
{
	unsigned char buf[4096]; /* a record is at most HDR + CF_ID_MAX - 1 bytes */
	if (!r->n || !bloom_maybe(r->bloom, bloom_hash(kind, id, n)))
		return -ENOENT;
	for (size_t i = r->n; i-- > 0;) { /* the newest run first */
		const struct byid_run *run = &r->run[i];
		/* from the last fence strictly before cookie: one cookie's records may
		 * straddle a fence */
		size_t lo = 0, hi = run->nfence;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (run->fence_cookie[mid] < cookie)
				lo = mid + 1;
			else
				hi = mid;
		}
		struct reader rd = {.fd = r->fd,
				    .at = lo ? run->fence_off[lo - 1] : run->off,
				    .end = run->end,
				    .buf = buf,
				    .cap = sizeof buf};
		struct byid_rec x;
		int rc;
		while ((rc = read_rec(&rd, &x)) == 1) {
			int c = byid_key_cmp(x.cookie, x.id, x.len, x.kind, cookie, id, n, kind);
			if (c == 0) {
				*out = x;
				return 0;
			}
			if (c > 0)
				break;
		}
		if (rc < 0)
			return rc;
	}
	return -ENOENT;
}

/* ---- the merge ---- */

struct byid_merge {
	size_t n;
	struct reader *rd;
	struct byid_rec *head;
	bool *live;
};

int byid_merge_open(struct byid_runs *r, struct byid_merge **out)
{
	struct byid_merge *m = calloc(1, sizeof *m);
	int rc = 0;
	if (!m)
		return -ENOMEM;
	m->n = r->n;
	m->rd = calloc(r->n ? r->n : 1, sizeof *m->rd);
	m->head = calloc(r->n ? r->n : 1, sizeof *m->head);
	m->live = calloc(r->n ? r->n : 1, sizeof *m->live);
	if (!m->rd || !m->head || !m->live) {
		byid_merge_close(m);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->n; i++) {
		m->rd[i] = (struct reader){
		    .fd = r->fd, .at = r->run[i].off, .end = r->run[i].end, .cap = RBUF};
		if (!(m->rd[i].buf = malloc(RBUF))) {
			byid_merge_close(m);
			return -ENOMEM;
		}
		if ((rc = read_rec(&m->rd[i], &m->head[i])) < 0) {
			byid_merge_close(m);
			return rc;
		}
		m->live[i] = rc == 1;
	}
	*out = m;
	return 0;
}

int byid_merge_next(struct byid_merge *m, struct byid_rec *out)
{
	ssize_t best = -1;
	/* the smallest key; of equal keys the newest run's (the later one) */
	for (size_t i = 0; i < m->n; i++) {
		if (!m->live[i])
			continue;
		const struct byid_rec *x = &m->head[i], *b = best >= 0 ? &m->head[best] : NULL;
		if (!b || byid_key_cmp(x->cookie, x->id, x->len, x->kind, b->cookie, b->id, b->len,
				       b->kind) <= 0)
			best = (ssize_t) i;
	}
	if (best < 0)
		return 0;
	*out = m->head[best];
	/* every run's record of this key is now spent */
	for (size_t i = 0; i < m->n; i++) {
		if (!m->live[i] ||
		    byid_key_cmp(m->head[i].cookie, m->head[i].id, m->head[i].len, m->head[i].kind,
				 out->cookie, out->id, out->len, out->kind))
			continue;
		int rc = read_rec(&m->rd[i], &m->head[i]);
		if (rc < 0)
			return rc;
		m->live[i] = rc == 1;
	}
	return 1;
}

void byid_merge_close(struct byid_merge *m)
{
	if (!m)
		return;
	for (size_t i = 0; m->rd && i < m->n; i++)
		free(m->rd[i].buf);
	free(m->rd);
	free(m->head);
	free(m->live);
	free(m);
}
