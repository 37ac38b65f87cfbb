/* test_ring.c - the SPSC ring: FIFO order, overrun accounting, two threads. */
#include "callwatch/ring.h"

#include "check.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

/* xorshift32: each thread owns its state (rand() is not thread-safe). */
static uint32_t next_random(uint32_t *state)
{
    uint32_t x = *state;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *state = x;
    return x;
}

static void test_bad_args(void)
{
    CHECK(cw_ring_new(0, 16) == NULL, "item_size 0 must be rejected");
    CHECK(cw_ring_new(4, 0) == NULL, "min_items 0 must be rejected");
    CHECK(cw_ring_new(4, ((size_t)1 << 30) + 1) == NULL, "min_items over 2^30 must be rejected");
    CHECK(cw_ring_new(SIZE_MAX / 2, 4) == NULL, "item_size * capacity overflowing size_t must be rejected");
}

static void test_capacity_rounding(void)
{
    static const size_t asked[] = {1, 2, 3, 255, 256, 257, 1000};
    static const size_t expected[] = {1, 2, 4, 256, 256, 512, 1024};
    for (size_t i = 0; i < sizeof asked / sizeof asked[0]; i++) {
        cw_ring_t *ring = cw_ring_new(sizeof(float), asked[i]);
        CHECK(ring != NULL, "cw_ring_new(4, %zu) failed", asked[i]);
        if (!ring)
            continue;
        CHECK(cw_ring_capacity(ring) == expected[i], "min_items %zu: capacity %zu, expected %zu",
              asked[i], cw_ring_capacity(ring), expected[i]);
        CHECK(cw_ring_write_space(ring) == expected[i], "a new ring must be all free space");
        CHECK(cw_ring_read_space(ring) == 0, "a new ring must be empty");
        cw_ring_destroy(&ring);
    }
}

static void test_destroy_nulls_pointer(void)
{
    cw_ring_t *ring = cw_ring_new(1, 8);
    CHECK(ring != NULL, "cw_ring_new(1, 8) failed");
    cw_ring_destroy(&ring);
    CHECK(ring == NULL, "destroy must NULL the caller's pointer");
    cw_ring_destroy(&ring); /* already NULL: no-op */
    cw_ring_destroy(NULL);
}

/* 12-byte items so a bug that mixes up item and byte offsets shows. */
typedef struct test_item {
    uint32_t seq;
    uint32_t check;
    float value;
} test_item_t;

static test_item_t make_item(uint32_t seq)
{
    test_item_t it = {seq, seq * 2654435761u, (float)seq * 0.5f};
    return it;
}

static void test_fifo_wraparound(void)
{
    cw_ring_t *ring = cw_ring_new(sizeof(test_item_t), 50);
    CHECK(ring != NULL && cw_ring_capacity(ring) == 64, "ring of 64 items expected");
    if (!ring)
        return;

    /* Odd write and read sizes make every chunk straddle the wrap point at a
     * different offset; 2000 rounds wrap the 64-slot ring about 170 times. */
    static const size_t write_sizes[] = {7, 13, 1, 31, 5, 29};
    static const size_t read_sizes[] = {5, 11, 3, 17, 23};
    test_item_t in[64], out[64];
    uint32_t next_write = 0, next_read = 0;
    size_t queued = 0;
    int order_errors = 0, space_errors = 0;

    for (int round = 0; round < 2000; round++) {
        size_t want = write_sizes[round % 6];
        size_t free_items = cw_ring_write_space(ring);
        if (free_items != 64 - queued)
            space_errors++;
        size_t n = want < free_items ? want : free_items;
        for (size_t i = 0; i < n; i++)
            in[i] = make_item(next_write + (uint32_t)i);
        size_t written = cw_ring_write(ring, in, n);
        if (written != n)
            space_errors++;
        next_write += (uint32_t)written;
        queued += written;

        size_t got = cw_ring_read(ring, out, read_sizes[round % 5]);
        if (cw_ring_read_space(ring) != queued - got)
            space_errors++;
        for (size_t i = 0; i < got; i++) {
            test_item_t expect = make_item(next_read + (uint32_t)i);
            if (memcmp(&out[i], &expect, sizeof expect) != 0)
                order_errors++;
        }
        next_read += (uint32_t)got;
        queued -= got;
    }
    /* Drain what is left. */
    size_t got;
    while ((got = cw_ring_read(ring, out, 64)) > 0) {
        for (size_t i = 0; i < got; i++) {
            test_item_t expect = make_item(next_read + (uint32_t)i);
            if (memcmp(&out[i], &expect, sizeof expect) != 0)
                order_errors++;
        }
        next_read += (uint32_t)got;
    }
    CHECK(order_errors == 0, "%d items came out wrong or out of order across wraparound", order_errors);
    CHECK(space_errors == 0, "%d times read/write space disagreed with the fill level", space_errors);
    CHECK(next_read == next_write, "read %u items, wrote %u", next_read, next_write);
    CHECK(next_write > 64 * 100, "the test must wrap the ring many times (wrote %u)", next_write);
    CHECK(cw_ring_overruns(ring) == 0, "no overruns expected, got %llu",
          (unsigned long long)cw_ring_overruns(ring));
    CHECK(cw_ring_total_written(ring) == next_write, "total_written %llu, expected %u",
          (unsigned long long)cw_ring_total_written(ring), next_write);
    cw_ring_destroy(&ring);
}

static void test_overrun_keeps_queued_data(void)
{
    cw_ring_t *ring = cw_ring_new(sizeof(int32_t), 256);
    CHECK(ring != NULL, "cw_ring_new failed");
    if (!ring)
        return;
    int32_t in[1000], out[1000];
    for (int i = 0; i < 1000; i++)
        in[i] = i;

    size_t written = cw_ring_write(ring, in, 1000);
    CHECK(written == 256, "wrote %zu of 1000 into capacity 256, expected 256", written);
    CHECK(cw_ring_overruns(ring) == 744, "overruns %llu, expected 744",
          (unsigned long long)cw_ring_overruns(ring));
    CHECK(cw_ring_total_written(ring) == 256, "total_written %llu, expected 256",
          (unsigned long long)cw_ring_total_written(ring));
    CHECK(cw_ring_write_space(ring) == 0, "a full ring must report no write space");

    /* A write into a full ring changes nothing but the counter. */
    CHECK(cw_ring_write(ring, in + 500, 10) == 0, "write into a full ring must write nothing");
    CHECK(cw_ring_overruns(ring) == 754, "overruns %llu, expected 754",
          (unsigned long long)cw_ring_overruns(ring));

    /* The oldest 100 come out first: the newest were the ones dropped. */
    size_t got = cw_ring_read(ring, out, 100);
    int bad = 0;
    for (size_t i = 0; i < got; i++)
        bad += out[i] != (int32_t)i;
    CHECK(got == 100 && bad == 0, "first 100 items must be 0..99 (got %zu, %d wrong)", got, bad);

    /* 100 free slots now: of 200 offered, 100 fit. */
    written = cw_ring_write(ring, in + 300, 200);
    CHECK(written == 100, "wrote %zu into 100 free slots, expected 100", written);
    CHECK(cw_ring_overruns(ring) == 854, "overruns %llu, expected 854",
          (unsigned long long)cw_ring_overruns(ring));
    CHECK(cw_ring_total_written(ring) == 356, "total_written %llu, expected 356",
          (unsigned long long)cw_ring_total_written(ring));

    got = cw_ring_read(ring, out, 1000);
    CHECK(got == 256, "read %zu, expected the full 256", got);
    bad = 0;
    for (size_t i = 0; i < 156 && i < got; i++)
        bad += out[i] != (int32_t)(100 + i);
    for (size_t i = 156; i < got; i++)
        bad += out[i] != (int32_t)(300 + (i - 156));
    CHECK(bad == 0, "%d items wrong: queued data must never be overwritten", bad);

    cw_ring_reset(ring);
    CHECK(cw_ring_overruns(ring) == 0 && cw_ring_total_written(ring) == 0, "reset must clear the counters");
    CHECK(cw_ring_read_space(ring) == 0 && cw_ring_write_space(ring) == 256, "reset must empty the ring");
    CHECK(cw_ring_write(ring, in, 3) == 3 && cw_ring_read(ring, out, 3) == 3 && out[2] == 2,
          "the ring must work after reset");
    cw_ring_destroy(&ring);
}

/* ---- two threads ---- */

enum { STRESS_MAX_CHUNK = 333 };

typedef struct stress {
    cw_ring_t *ring;
    uint64_t n_items;     /* the producer offers 0 .. n_items-1 */
    bool producer_waits;  /* wait for space (consumer keeps up) or drop */
    bool consumer_slow;   /* sleep now and then so the producer outruns it */
    atomic_bool done;     /* set by the producer after its last write */
    /* Consumer's findings. */
    uint64_t received;
    uint64_t order_errors;
    uint64_t first_bad_index;
    int32_t first_bad_value;
    int32_t first_bad_expected;
} stress_t;

static void *stress_producer(void *arg)
{
    stress_t *s = arg;
    uint32_t rng = 0x12345678u;
    int32_t chunk[STRESS_MAX_CHUNK];
    uint64_t next = 0;
    while (next < s->n_items) {
        size_t n = 1 + next_random(&rng) % STRESS_MAX_CHUNK;
        if (n > s->n_items - next)
            n = (size_t)(s->n_items - next);
        for (size_t i = 0; i < n; i++)
            chunk[i] = (int32_t)(next + i);
        if (s->producer_waits) {
            while (cw_ring_write_space(s->ring) < n)
                sched_yield();
        }
        cw_ring_write(s->ring, chunk, n);
        next += n; /* offered, whether it fitted or not */
        if (!s->producer_waits && (next_random(&rng) & 15) == 0)
            sched_yield(); /* let the consumer in now and then on 2-core boxes */
    }
    atomic_store_explicit(&s->done, true, memory_order_release);
    return NULL;
}

static void *stress_consumer(void *arg)
{
    stress_t *s = arg;
    uint32_t rng = 0x9abcdef1u;
    int32_t chunk[STRESS_MAX_CHUNK];
    int64_t last = -1;
    bool done_seen = false;
    for (;;) {
        size_t want = 1 + next_random(&rng) % STRESS_MAX_CHUNK;
        size_t got = cw_ring_read(s->ring, chunk, want);
        for (size_t i = 0; i < got; i++) {
            /* With waiting, every value must follow the last one; with drops
             * the values only have to increase (dropped ones leave gaps). */
            bool ok = s->producer_waits ? chunk[i] == last + 1 : chunk[i] > last;
            if (!ok) {
                if (s->order_errors == 0) {
                    s->first_bad_index = s->received + i;
                    s->first_bad_value = chunk[i];
                    s->first_bad_expected = (int32_t)(last + 1);
                }
                s->order_errors++;
            }
            last = chunk[i];
        }
        s->received += got;
        if (got == 0) {
            if (done_seen)
                break; /* drained after the producer finished */
            done_seen = atomic_load_explicit(&s->done, memory_order_acquire);
            sched_yield();
        }
        if (s->consumer_slow && (next_random(&rng) & 7) == 0) {
            struct timespec ts = {0, 20000};
            nanosleep(&ts, NULL);
        }
    }
    return NULL;
}

static void run_stress(const char *name, uint64_t n_items, bool producer_waits, bool consumer_slow)
{
    stress_t s = {0};
    s.ring = cw_ring_new(sizeof(int32_t), 1024);
    s.n_items = n_items;
    s.producer_waits = producer_waits;
    s.consumer_slow = consumer_slow;
    atomic_init(&s.done, false);
    CHECK(s.ring != NULL, "%s: cw_ring_new failed", name);
    if (!s.ring)
        return;

    pthread_t prod, cons;
    int rc_c = pthread_create(&cons, NULL, stress_consumer, &s);
    int rc_p = pthread_create(&prod, NULL, stress_producer, &s);
    CHECK(rc_c == 0 && rc_p == 0, "%s: pthread_create failed", name);
    if (rc_p == 0)
        pthread_join(prod, NULL);
    if (rc_c == 0)
        pthread_join(cons, NULL);

    uint64_t overruns = cw_ring_overruns(s.ring);
    uint64_t written = cw_ring_total_written(s.ring);
    CHECK(s.order_errors == 0, "%s: %llu items out of sequence, first at #%llu: got %d after %d", name,
          (unsigned long long)s.order_errors, (unsigned long long)s.first_bad_index, (int)s.first_bad_value,
          (int)s.first_bad_expected - 1);
    CHECK(written + overruns == n_items, "%s: written %llu + overruns %llu != offered %llu", name,
          (unsigned long long)written, (unsigned long long)overruns, (unsigned long long)n_items);
    CHECK(s.received == written, "%s: consumer got %llu, ring accepted %llu", name,
          (unsigned long long)s.received, (unsigned long long)written);
    if (producer_waits) {
        CHECK(overruns == 0, "%s: %llu overruns although the producer waited for space", name,
              (unsigned long long)overruns);
        CHECK(s.received == n_items, "%s: consumer got %llu of %llu", name, (unsigned long long)s.received,
              (unsigned long long)n_items);
    } else {
        CHECK(overruns > 0, "%s: the slow consumer should have caused overruns", name);
    }
    printf("%s: offered %llu, written %llu, overruns %llu, received %llu\n", name,
           (unsigned long long)n_items, (unsigned long long)written, (unsigned long long)overruns,
           (unsigned long long)s.received);
    cw_ring_destroy(&s.ring);
}

int main(void)
{
    test_bad_args();
    test_capacity_rounding();
    test_destroy_nulls_pointer();
    test_fifo_wraparound();
    test_overrun_keeps_queued_data();
    run_stress("stress keeps up", 10000000, true, false);
    run_stress("stress outrun", 2000000, false, true);
    return check_summary("ring");
}
