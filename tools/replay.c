/* SPDX-License-Identifier: MIT */
/* vmmu replay: parse the whole trace, then run it. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "trace.h"

char *read_file(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
	size_t cap = 1 << 16, n = 0;
	char *buf;

	if (!f) {
		fprintf(stderr, "vmmu: cannot open %s: %s\n", path, strerror(errno));
		return NULL;
	}
	buf = malloc(cap);
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);

		n += got;
		if (n < cap)
			break;
		char *bigger = realloc(buf, cap * 2);

		if (!bigger) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = bigger;
		cap *= 2;
	}
	if (buf && ferror(f)) {
		fprintf(stderr, "vmmu: cannot read %s: %s\n", path, strerror(errno));
		free(buf);
		buf = NULL;
	} else if (!buf) {
		fprintf(stderr, "vmmu: %s: out of memory\n", path);
	}
	if (f != stdin)
		fclose(f);
	*len = n;
	return buf;
}

int cmd_replay(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "mmu", required_argument, NULL, 'm' },
		{ "stats", no_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct replay_options ro = { 0 };
	struct trace t;
	char err[512];
	size_t len;
	char *text;
	int c, ret;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'm':
			if (strcmp(optarg, "direct")) {
				fprintf(stderr, "vmmu replay: MMU mode '%s' is not available (this build has: direct)\n",
					optarg);
				return 2;
			}
			break;
		case 's':
			ro.stats = true;
			break;
		case 'h':
			printf("usage: vmmu replay [--mmu=direct] [--stats] TRACE\n");
			return 0;
		default:
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: vmmu replay [--mmu=direct] [--stats] TRACE\n");
		return 2;
	}
	text = read_file(argv[optind], &len);
	if (!text)
		return 1;
	ret = trace_parse(text, len, argv[optind], &t, err, sizeof(err));
	free(text);
	if (ret) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	ret = trace_replay(&t, &ro, stdout, stderr);
	trace_free(&t);
	if (fflush(stdout)) {
		fprintf(stderr, "vmmu replay: cannot write output: %s\n", strerror(errno));
		return 1;
	}
	return ret;
}
