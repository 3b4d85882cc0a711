/* SPDX-License-Identifier: MIT */
/*
 * Opening a guest memory image: map the file, describe its guest physical
 * memory as segments, and read page-table entries through them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image.h"

#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))

static int fail(char *err, size_t errlen, int ret, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return ret;
}

/* The segment holding @gpa, by the last one used and then binary search. */
static const struct image_segment *find_segment(struct image *img, gpa_t gpa)
{
	size_t lo = 0, hi = img->nr_segs;

	if (img->last < img->nr_segs) {
		const struct image_segment *s = &img->segs[img->last];

		if (gpa >= s->gpa && gpa - s->gpa < s->size)
			return s;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct image_segment *s = &img->segs[mid];

		if (gpa < s->gpa)
			hi = mid;
		else if (gpa - s->gpa >= s->size)
			lo = mid + 1;
		else {
			img->last = mid;
			return s;
		}
	}
	return NULL;
}

const void *image_ptr(struct image *img, gpa_t gpa, uint64_t len)
{
	const struct image_segment *s = find_segment(img, gpa);

	if (!s || len > s->size - (gpa - s->gpa))
		return NULL;
	return s->data + (gpa - s->gpa);
}

uint64_t image_bytes(const struct image *img)
{
	uint64_t total = 0;

	for (size_t i = 0; i < img->nr_segs; i++)
		total += img->segs[i].size;
	return total;
}

/* Read-only: a write (an A/D update) is refused, as for a read-only slot. */
static void *image_pt_map(struct pt_mem *mem, gpa_t gpa, bool write)
{
	struct image *img = container_of(mem, struct image, mem);

	if (write)
		return NULL;
	return (void *)image_ptr(img, gpa, img->entry_bytes);
}

static int parse(struct image *img, unsigned int cpu_index, char *err, size_t errlen)
{
	if (img->kind == IMAGE_ELF)
		return elf_core_parse(img, cpu_index, err, errlen);
	img->segs = malloc(sizeof(*img->segs));
	if (!img->segs)
		return fail(err, errlen, -ENOMEM, "out of memory");
	img->segs[0] = (struct image_segment){ .gpa = 0, .size = img->file_size, .data = img->file };
	img->nr_segs = 1;
	return 0;
}

static void image_init(struct image *img, enum image_kind kind)
{
	memset(img, 0, sizeof(*img));
	img->mem = (struct pt_mem){ .map = image_pt_map };
	img->entry_bytes = 8;
	img->kind = kind;
}

int image_open_buffer(struct image *img, const void *buf, size_t len, enum image_kind kind,
		      unsigned int cpu_index, char *err, size_t errlen)
{
	int ret;

	image_init(img, kind);
	if (!len)
		return fail(err, errlen, -EINVAL, "empty image");
	img->file = buf;
	img->file_size = len;
	ret = parse(img, cpu_index, err, errlen);
	if (ret)
		image_close(img);
	return ret;
}

int image_open(struct image *img, const char *path, enum image_kind kind,
	       unsigned int cpu_index, char *err, size_t errlen)
{
	struct stat st;
	void *map;
	int fd, ret;

	image_init(img, kind);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return fail(err, errlen, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st)) {
		ret = -errno;
		close(fd);
		return fail(err, errlen, ret, "%s: %s", path, strerror(-ret));
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return fail(err, errlen, -EINVAL, "%s: not a regular file", path);
	}
	if (st.st_size == 0) {
		close(fd);
		return fail(err, errlen, -EINVAL, "%s: empty image", path);
	}
	if ((uint64_t)st.st_size > SIZE_MAX) {
		close(fd);
		return fail(err, errlen, -EFBIG, "%s: too large to map", path);
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	ret = -errno;
	close(fd);
	if (map == MAP_FAILED)
		return fail(err, errlen, ret, "%s: cannot map %lld bytes: %s", path,
			    (long long)st.st_size, strerror(-ret));
	img->file = map;
	img->file_size = (size_t)st.st_size;
	img->mapped = true;
	ret = parse(img, cpu_index, err, errlen);
	if (ret) {
		/* Say which file, in front of what the parser said. */
		char msg[512];

		snprintf(msg, sizeof(msg), "%s", err);
		snprintf(err, errlen, "%s: %s", path, msg);
		image_close(img);
	}
	return ret;
}

void image_close(struct image *img)
{
	if (img->mapped)
		munmap((void *)img->file, img->file_size);
	free(img->segs);
	img->segs = NULL;
	img->nr_segs = 0;
	img->file = NULL;
	img->mapped = false;
}
