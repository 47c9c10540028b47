// SPDX-License-Identifier: MIT
/*
 * A binary min-heap of deadlines.  Every request and session owns one
 * embedded timer, so arming and disarming never allocate (except to grow the
 * heap) and thousands of sessions cost O(log n) per operation.
 */
#include <errno.h>
#include <stdlib.h>

#include "libupcall-private.h"

void utimer_init(struct utimer *t, void (*fn)(struct utimer *t))
{
	t->deadline = UINT64_MAX;
	t->idx = SIZE_MAX;
	t->fn = fn;
}

static void heap_set(struct utimer_heap *h, size_t i, struct utimer *t)
{
	h->v[i] = t;
	t->idx = i;
}

static void heap_up(struct utimer_heap *h, size_t i)
{
	struct utimer *t = h->v[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h->v[parent]->deadline <= t->deadline)
			break;
		heap_set(h, i, h->v[parent]);
		i = parent;
	}
	heap_set(h, i, t);
}

static void heap_down(struct utimer_heap *h, size_t i)
{
	struct utimer *t = h->v[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->deadline < h->v[c]->deadline)
			c++;
		if (t->deadline <= h->v[c]->deadline)
			break;
		heap_set(h, i, h->v[c]);
		i = c;
	}
	heap_set(h, i, t);
}

int utimer_heap_add(struct utimer_heap *h, struct utimer *t)
{
	if (utimer_armed(t)) {
		/* Re-arm in place. */
		heap_up(h, t->idx);
		heap_down(h, t->idx);
		return 0;
	}
	if (h->n == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 16;
		struct utimer **v = realloc(h->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	heap_set(h, h->n++, t);
	heap_up(h, t->idx);
	return 0;
}

void utimer_heap_del(struct utimer_heap *h, struct utimer *t)
{
	size_t i = t->idx;

	if (i == SIZE_MAX)
		return;
	t->idx = SIZE_MAX;
	if (i == --h->n)
		return;
	heap_set(h, i, h->v[h->n]);
	heap_up(h, i);
	heap_down(h, h->v[i]->idx);
}

struct utimer *utimer_heap_peek(const struct utimer_heap *h)
{
	return h->n ? h->v[0] : NULL;
}

void utimer_heap_free(struct utimer_heap *h)
{
	free(h->v);
	h->v = NULL;
	h->n = h->cap = 0;
}
