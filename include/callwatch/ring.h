/* ring.h - lock-free single-producer / single-consumer ring of fixed-size items.
 *
 * The hand-over point between a real-time thread (the PortAudio callback) and
 * a worker. Capacity is a power of two; memory is allocated once in
 * cw_ring_new() and touched there so no page fault happens on the audio path.
 *
 * Thread rules: exactly one thread may call the write side (cw_ring_write,
 * cw_ring_write_space) and exactly one thread the read side (cw_ring_read,
 * cw_ring_read_space). The write and read functions never allocate, lock, log
 * or block, so they are safe in an audio callback. cw_ring_overruns and
 * cw_ring_total_written may be called from any thread. cw_ring_new/destroy/
 * reset are not thread-safe.
 */
#ifndef CALLWATCH_RING_H
#define CALLWATCH_RING_H

#include <stddef.h>
#include <stdint.h>

typedef struct cw_ring cw_ring_t;

/* Creates a ring holding at least min_items items of item_size bytes each
 * (rounded up to a power of two). Returns NULL on bad arguments (item_size 0,
 * min_items 0 or over 2^30) or when out of memory. */
cw_ring_t *cw_ring_new(size_t item_size, size_t min_items);

/* Frees the ring and sets *ring to NULL; accepts NULL and *ring == NULL. */
void cw_ring_destroy(cw_ring_t **ring);

/* Capacity in items (a power of two). */
size_t cw_ring_capacity(const cw_ring_t *ring);

/* Items that can be written now without overrun (writer side). */
size_t cw_ring_write_space(const cw_ring_t *ring);

/* Items available to read now (reader side). */
size_t cw_ring_read_space(const cw_ring_t *ring);

/* Writes up to n items. Items that do not fit are dropped (the newest ones:
 * what is already queued is never overwritten) and added to the overrun
 * counter. Returns the number of items written. Writer side only. */
size_t cw_ring_write(cw_ring_t *ring, const void *items, size_t n);

/* Reads up to n items into out. Returns the number read. Reader side only. */
size_t cw_ring_read(cw_ring_t *ring, void *out, size_t n);

/* Total items dropped by cw_ring_write since creation or the last reset.
 * Any thread may call it (relaxed atomic read). */
uint64_t cw_ring_overruns(const cw_ring_t *ring);

/* Total items ever written (accepted). Any thread may call it. */
uint64_t cw_ring_total_written(const cw_ring_t *ring);

/* Empties the ring and clears the counters. Only when neither side is active. */
void cw_ring_reset(cw_ring_t *ring);

#endif
