/* ring.c - see callwatch/ring.h
 *
 * head and tail are free-running item counters (never masked when stored), so
 * head - tail is the fill level even when the ring is full, and no slot has to
 * be sacrificed to tell "full" from "empty". Unsigned wraparound of size_t
 * keeps the difference right after 2^64 items.
 *
 * Ordering: the writer copies items, then publishes head with a release store;
 * the reader loads head with acquire, so it sees the copied bytes. The reader
 * copies items out, then publishes tail with release; the writer loads tail
 * with acquire, so it never overwrites a slot the reader is still copying.
 */
#include "callwatch/ring.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Larger than needed on most x86 parts (64), right on Apple M-series (128);
 * keeps the writer's and the reader's hot index off each other's cache line. */
#define RING_CACHE_LINE 128

#define RING_MAX_ITEMS ((size_t)1 << 30)

struct cw_ring {
    /* Written by the writer only. */
    alignas(RING_CACHE_LINE) atomic_size_t head;
    atomic_uint_fast64_t overruns;
    atomic_uint_fast64_t total_written;

    /* Written by the reader only. */
    alignas(RING_CACHE_LINE) atomic_size_t tail;

    /* Read-only after cw_ring_new(). */
    alignas(RING_CACHE_LINE) unsigned char *data;
    size_t item_size;
    size_t capacity;
    size_t mask;
};

static size_t round_up_pow2(size_t n)
{
    size_t p = 1;
    while (p < n)
        p <<= 1;
    return p;
}

cw_ring_t *cw_ring_new(size_t item_size, size_t min_items)
{
    if (item_size == 0 || min_items == 0 || min_items > RING_MAX_ITEMS)
        return NULL;
    size_t capacity = round_up_pow2(min_items);
    if (item_size > SIZE_MAX / capacity)
        return NULL;

    /* aligned_alloc wants the size to be a multiple of the alignment; the
     * alignas members already make sizeof a multiple of it. */
    cw_ring_t *ring = aligned_alloc(alignof(cw_ring_t), sizeof *ring);
    if (!ring)
        return NULL;
    memset(ring, 0, sizeof *ring);
    ring->data = malloc(capacity * item_size);
    if (!ring->data)
        goto error_out;
    /* Touch every page now so the audio thread never takes the first-write
     * page fault. */
    memset(ring->data, 0, capacity * item_size);
    ring->item_size = item_size;
    ring->capacity = capacity;
    ring->mask = capacity - 1;
    atomic_init(&ring->head, 0);
    atomic_init(&ring->tail, 0);
    atomic_init(&ring->overruns, 0);
    atomic_init(&ring->total_written, 0);
    return ring;

error_out:
    free(ring);
    return NULL;
}

void cw_ring_destroy(cw_ring_t **ring)
{
    if (!ring || !*ring)
        return;
    free((*ring)->data);
    free(*ring);
    *ring = NULL;
}

size_t cw_ring_capacity(const cw_ring_t *ring)
{
    return ring->capacity;
}

size_t cw_ring_write_space(const cw_ring_t *ring)
{
    /* head is ours (writer side): relaxed is enough. */
    size_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    return ring->capacity - (head - tail);
}

size_t cw_ring_read_space(const cw_ring_t *ring)
{
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    return head - tail;
}

size_t cw_ring_write(cw_ring_t *ring, const void *items, size_t n)
{
    size_t head = atomic_load_explicit(&ring->head, memory_order_relaxed);
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_acquire);
    size_t space = ring->capacity - (head - tail);
    size_t count = n < space ? n : space;

    if (count > 0) {
        size_t start = head & ring->mask;
        size_t first = ring->capacity - start;
        if (first > count)
            first = count;
        const unsigned char *src = items;
        memcpy(ring->data + start * ring->item_size, src, first * ring->item_size);
        if (count > first)
            memcpy(ring->data, src + first * ring->item_size, (count - first) * ring->item_size);
        atomic_store_explicit(&ring->head, head + count, memory_order_release);
    }
    /* The counters are only read for statistics, never to find data, so they
     * need atomicity but no ordering. The writer is their only writer, so a
     * load + store is enough and cheaper than a locked add. */
    if (count > 0) {
        uint_fast64_t total = atomic_load_explicit(&ring->total_written, memory_order_relaxed);
        atomic_store_explicit(&ring->total_written, total + count, memory_order_relaxed);
    }
    if (n > count) {
        uint_fast64_t over = atomic_load_explicit(&ring->overruns, memory_order_relaxed);
        atomic_store_explicit(&ring->overruns, over + (n - count), memory_order_relaxed);
    }
    return count;
}

size_t cw_ring_read(cw_ring_t *ring, void *out, size_t n)
{
    size_t tail = atomic_load_explicit(&ring->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&ring->head, memory_order_acquire);
    size_t avail = head - tail;
    size_t count = n < avail ? n : avail;
    if (count == 0)
        return 0;

    size_t start = tail & ring->mask;
    size_t first = ring->capacity - start;
    if (first > count)
        first = count;
    unsigned char *dst = out;
    memcpy(dst, ring->data + start * ring->item_size, first * ring->item_size);
    if (count > first)
        memcpy(dst + first * ring->item_size, ring->data, (count - first) * ring->item_size);
    atomic_store_explicit(&ring->tail, tail + count, memory_order_release);
    return count;
}

uint64_t cw_ring_overruns(const cw_ring_t *ring)
{
    return atomic_load_explicit(&ring->overruns, memory_order_relaxed);
}

uint64_t cw_ring_total_written(const cw_ring_t *ring)
{
    return atomic_load_explicit(&ring->total_written, memory_order_relaxed);
}

void cw_ring_reset(cw_ring_t *ring)
{
    atomic_store_explicit(&ring->head, 0, memory_order_relaxed);
    atomic_store_explicit(&ring->tail, 0, memory_order_relaxed);
    atomic_store_explicit(&ring->overruns, 0, memory_order_relaxed);
    atomic_store_explicit(&ring->total_written, 0, memory_order_relaxed);
}
