/* json_speed.c — how fast lib/util/json.c reads a listing page, against
 * jansson on the same text, in one run (BENCHMARKS.md, "The JSON reader").
 *
 * The page is what the sync reads most: a Compute Engine snapshots list of
 * 500 items with labels (about 450 KB), made here so the figure needs no
 * emulator. Each reader parses it `rounds` times (default 200); the best of
 * five passes is printed in MB/s. Not a test: run it by hand,
 *	ninja -C build/release json_speed && build/release/json_speed [ROUNDS] */
#include "json.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* A snapshots page as the API writes it: one object per snapshot. */
static char *make_page(size_t items, size_t *len)
{
	size_t cap = items * 1200 + 256, n = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	n += (size_t) snprintf(s + n, cap - n, "{\"kind\": \"compute#snapshotList\", \"items\": [");
	for (size_t i = 0; i < items; i++)
		n += (size_t) snprintf(
		    s + n, cap - n,
		    "%s{\"kind\": \"compute#snapshot\", \"id\": \"%zu\", "
		    "\"creationTimestamp\": \"2026-11-%02zuT10:%02zu:00.000-07:00\", "
		    "\"name\": \"snap-%06zu\", \"status\": \"READY\", "
		    "\"sourceDisk\": \"https://www.googleapis.com/compute/v1/projects/demo-project/"
		    "zones/us-central1-a/disks/data-%zu\", \"sourceDiskId\": \"%zu\", "
		    "\"diskSizeGb\": \"10\", \"storageBytes\": \"%zu\", "
		    "\"storageBytesStatus\": \"UP_TO_DATE\", \"labels\": {\"owner\": \"team-%zu\", "
		    "\"tier\": \"bronze\", \"clonefs-source\": "
		    "\"zones-us-central1-a-disks-data\"}, "
		    "\"labelFingerprint\": \"42WmSpB8rSM=\", \"storageLocations\": [\"us\"], "
		    "\"selfLink\": \"https://www.googleapis.com/compute/v1/projects/demo-project/"
		    "global/snapshots/snap-%06zu\"}",
		    i ? ", " : "", 4000000000000000000u + i, i % 28 + 1, i % 60, i, i % 6,
		    7000000000000000000u + i % 6, (i % 97 + 1) << 20, i % 5, i);
	n += (size_t) snprintf(s + n, cap - n, "], \"nextPageToken\": \"CkRiMTIzNDU2\"}");
	*len = n;
	return s;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 200;
	size_t len;
	char *text = make_page(500, &len);
	if (!text || rounds <= 0) {
		fprintf(stderr, "json_speed: usage: json_speed [ROUNDS > 0]\n");
		return 2;
	}
	double best_ours = 1e9, best_jansson = 1e9;
	for (int pass = 0; pass < 5; pass++) {
		double t0 = now_s();
		for (int i = 0; i < rounds; i++) {
			struct cf_json j;
			char why[128];
			if (cf_json_parse(&j, text, len, why, sizeof why)) {
				fprintf(stderr, "json_speed: our reader refused the page: %s\n",
					why);
				return 1;
			}
			cf_json_free(&j);
		}
		double t1 = now_s();
		for (int i = 0; i < rounds; i++) {
			json_error_t e;
			json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
			if (!doc) {
				fprintf(stderr, "json_speed: jansson refused the page: %s\n",
					e.text);
				return 1;
			}
			json_decref(doc);
		}
		double t2 = now_s();
		if (t1 - t0 < best_ours)
			best_ours = t1 - t0;
		if (t2 - t1 < best_jansson)
			best_jansson = t2 - t1;
	}
	double mb = (double) len * rounds / 1e6;
	printf("page %zu bytes, %d rounds, best of 5: lib/util/json.c %.0f MB/s, jansson %.0f "
	       "MB/s (%.1fx)\n",
	       len, rounds, mb / best_ours, mb / best_jansson, best_jansson / best_ours);
	free(text);
	return 0;
}
