/* outbox.c - see callwatch/outbox.h */
#include "callwatch/outbox.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OUTBOX_MAX_SINKS 8

/* Events written per batch at most: one archive commit covers a batch, so
 * larger batches mean fewer fsyncs under load; the cap bounds the stack. */
#define OUTBOX_BATCH_MAX 512

struct cw_outbox {
    /* Set before start, then read-only (the writer thread owns the sinks). */
    cw_sink_t *sinks[OUTBOX_MAX_SINKS];
    size_t n_sinks;
    cw_outbox_follow_fn follow;
    void *follow_user;
    pthread_t thread;
    bool started;

    /* Everything below is guarded by lock. */
    pthread_mutex_t lock;
    pthread_cond_t not_empty; /* the writer waits on it */
    pthread_cond_t not_full;  /* posters wait on it */
    pthread_cond_t delivered_cond; /* cw_outbox_flush waits on it */
    uint64_t enqueued;        /* events posted to the queue (not follow-ups) */
    uint64_t delivered;       /* of those, handed to every sink with their follow-up */
    cw_event_t **ring;        /* capacity slots, FIFO from head */
    size_t capacity;
    size_t head;
    size_t count;
    bool stopping;
    cw_outbox_stats_t stats;
    bool has_error;               /* last_error is set and never changes again */
    char last_error[CW_ERROR_MAX];
};

cw_outbox_t *cw_outbox_new(size_t capacity, cw_error_t *err)
{
    if (capacity < 1 || capacity > SIZE_MAX / sizeof(cw_event_t *)) {
        cw_error_set(err, CW_ERR_INVALID, "outbox capacity must be >= 1, got %zu", capacity);
        return NULL;
    }
    cw_outbox_t *ob = calloc(1, sizeof *ob);
    if (!ob)
        goto nomem;
    ob->ring = calloc(capacity, sizeof *ob->ring);
    if (!ob->ring) {
        free(ob);
        goto nomem;
    }
    ob->capacity = capacity;
    /* Default attributes: these only fail for want of resources. */
    if (pthread_mutex_init(&ob->lock, NULL) != 0)
        goto nomem_ring;
    if (pthread_cond_init(&ob->not_empty, NULL) != 0) {
        pthread_mutex_destroy(&ob->lock);
        goto nomem_ring;
    }
    if (pthread_cond_init(&ob->not_full, NULL) != 0) {
        pthread_cond_destroy(&ob->not_empty);
        pthread_mutex_destroy(&ob->lock);
        goto nomem_ring;
    }
    if (pthread_cond_init(&ob->delivered_cond, NULL) != 0) {
        pthread_cond_destroy(&ob->not_full);
        pthread_cond_destroy(&ob->not_empty);
        pthread_mutex_destroy(&ob->lock);
        goto nomem_ring;
    }
    return ob;

nomem_ring:
    free(ob->ring);
    free(ob);
nomem:
    cw_error_set(err, CW_ERR_NOMEM, "out of memory creating outbox of %zu events", capacity);
    return NULL;
}

int cw_outbox_add_sink(cw_outbox_t *ob, cw_sink_t **sink, cw_error_t *err)
{
    if (!ob || !sink || !*sink)
        return cw_error_set(err, CW_ERR_INVALID, "outbox: no sink to add");
    if (ob->started)
        return cw_error_set(err, CW_ERR_INVALID, "outbox: cannot add sink %s after start",
                            cw_sink_name(*sink));
    if (ob->n_sinks == OUTBOX_MAX_SINKS)
        return cw_error_set(err, CW_ERR_INVALID, "outbox: at most %d sinks",
                            OUTBOX_MAX_SINKS);
    ob->sinks[ob->n_sinks++] = *sink;
    *sink = NULL;
    return CW_OK;
}

/* Records the first failure a sink reported (with a fallback text). */
static void note_failure(cw_error_t *first, uint64_t *failures, const cw_sink_t *sink, const cw_error_t *e)
{
    if (*failures == 0) {
        *first = *e;
        if (first->msg[0] == '\0')
            cw_error_set(first, e->code, "%s sink: %s", cw_sink_name(sink), cw_status_name(e->code));
    }
    (*failures)++;
}

int cw_outbox_set_follower(cw_outbox_t *ob, cw_outbox_follow_fn fn, void *user, cw_error_t *err)
{
    if (!ob)
        return cw_error_set(err, CW_ERR_INVALID, "outbox: NULL");
    if (ob->started)
        return cw_error_set(err, CW_ERR_INVALID, "outbox: cannot set a follower after start");
    ob->follow = fn;
    ob->follow_user = user;
    return CW_OK;
}

/* Writes a batch of events, each followed by the follow-up the follower
 * derives from it, to every sink in turn: all of the batch to one sink, then
 * that sink's sync, then the next sink. So a sink added earlier (the
 * archive) has committed the batch before a later one (the bus) sees any of
 * it. Runs on the writer thread (or on the destroying thread if the outbox
 * never started), without the lock, so posters are not held up by a slow
 * sink. */
static void outbox_deliver(cw_outbox_t *ob, cw_event_t **posted, size_t n_posted)
{
    cw_event_t *evs[2 * OUTBOX_BATCH_MAX];
    size_t n = 0;
    uint64_t follow_ups = 0;
    for (size_t j = 0; j < n_posted; j++) {
        evs[n++] = posted[j];
        cw_event_t *next = posted[j] && ob->follow ? ob->follow(ob->follow_user, posted[j]) : NULL;
        if (next) {
            evs[n++] = next;
            follow_ups++;
        }
    }
    uint64_t failures = 0;
    uint8_t failed[2 * OUTBOX_BATCH_MAX] = {0};
    cw_error_t first = {0};
    for (size_t i = 0; i < ob->n_sinks; i++) {
        cw_error_t e;
        for (size_t j = 0; j < n; j++) {
            cw_error_clear(&e);
            if (cw_sink_write(ob->sinks[i], evs[j], &e) != 0) {
                note_failure(&first, &failures, ob->sinks[i], &e);
                failed[j] = 1;
            }
        }
        cw_error_clear(&e);
        if (cw_sink_sync(ob->sinks[i], &e) != 0) {
            note_failure(&first, &failures, ob->sinks[i], &e);
            memset(failed, 1, n);
        }
    }
    uint64_t ok = 0;
    for (size_t j = 0; j < n; j++) {
        ok += !failed[j];
        cw_event_destroy(&evs[j]);
    }

    pthread_mutex_lock(&ob->lock);
    ob->stats.posted += follow_ups;
    ob->stats.written += ok;
    ob->stats.write_errors += failures;
    ob->delivered += n_posted;
    pthread_cond_broadcast(&ob->delivered_cond);
    if (failures > 0 && !ob->has_error) {
        memcpy(ob->last_error, first.msg, sizeof ob->last_error);
        ob->has_error = true;
    }
    pthread_mutex_unlock(&ob->lock);
}

/* Takes the oldest event; the caller holds the lock and count > 0. */
static cw_event_t *outbox_pop_locked(cw_outbox_t *ob)
{
    cw_event_t *ev = ob->ring[ob->head];
    ob->ring[ob->head] = NULL;
    ob->head = (ob->head + 1) % ob->capacity;
    ob->count--;
    return ev;
}

/* Writes what is queued on the calling thread (the outbox never started). */
static void outbox_drain_here(cw_outbox_t *ob)
{
    for (;;) {
        cw_event_t *batch[OUTBOX_BATCH_MAX];
        size_t n = 0;
        pthread_mutex_lock(&ob->lock);
        while (ob->count > 0 && n < OUTBOX_BATCH_MAX)
            batch[n++] = outbox_pop_locked(ob);
        pthread_cond_broadcast(&ob->not_full);
        pthread_mutex_unlock(&ob->lock);
        if (n == 0)
            return;
        outbox_deliver(ob, batch, n);
    }
}

static void *outbox_thread(void *arg)
{
    cw_outbox_t *ob = arg;
    for (;;) {
        pthread_mutex_lock(&ob->lock);
        while (ob->count == 0 && !ob->stopping)
            pthread_cond_wait(&ob->not_empty, &ob->lock);
        if (ob->count == 0) {
            /* stopping and drained: everything posted has been written */
            pthread_mutex_unlock(&ob->lock);
            return NULL;
        }
        cw_event_t *batch[OUTBOX_BATCH_MAX];
        size_t n = 0;
        while (ob->count > 0 && n < OUTBOX_BATCH_MAX)
            batch[n++] = outbox_pop_locked(ob);
        pthread_cond_broadcast(&ob->not_full);
        pthread_mutex_unlock(&ob->lock);
        outbox_deliver(ob, batch, n);
    }
}

int cw_outbox_start(cw_outbox_t *ob, cw_error_t *err)
{
    if (!ob)
        return cw_error_set(err, CW_ERR_INVALID, "outbox: NULL");
    if (ob->started)
        return cw_error_set(err, CW_ERR_INVALID, "outbox: already started");
    int rc = pthread_create(&ob->thread, NULL, outbox_thread, ob);
    if (rc != 0)
        return cw_error_set(err, CW_ERR_INTERNAL, "outbox: cannot start writer thread: %s",
                            strerror(rc));
    ob->started = true;
    return CW_OK;
}

void cw_outbox_post(cw_outbox_t *ob, cw_event_t **ev)
{
    if (!ob || !ev)
        return;
    cw_event_t *e = *ev;
    *ev = NULL;
    pthread_mutex_lock(&ob->lock);
    if (!e) {
        ob->stats.lost++;
        pthread_mutex_unlock(&ob->lock);
        return;
    }
    while (ob->count == ob->capacity)
        pthread_cond_wait(&ob->not_full, &ob->lock);
    ob->ring[(ob->head + ob->count) % ob->capacity] = e;
    ob->count++;
    ob->stats.posted++;
    ob->enqueued++;
    pthread_cond_signal(&ob->not_empty);
    pthread_mutex_unlock(&ob->lock);
}

void cw_outbox_flush(cw_outbox_t *ob)
{
    if (!ob)
        return;
    if (!ob->started) {
        outbox_drain_here(ob);
        return;
    }
    pthread_mutex_lock(&ob->lock);
    uint64_t target = ob->enqueued;
    while (ob->delivered < target)
        pthread_cond_wait(&ob->delivered_cond, &ob->lock);
    pthread_mutex_unlock(&ob->lock);
}

void cw_outbox_get_stats(cw_outbox_t *ob, cw_outbox_stats_t *stats)
{
    if (!stats)
        return;
    if (!ob) {
        memset(stats, 0, sizeof *stats);
        return;
    }
    pthread_mutex_lock(&ob->lock);
    *stats = ob->stats;
    pthread_mutex_unlock(&ob->lock);
}

const char *cw_outbox_last_error(cw_outbox_t *ob)
{
    if (!ob)
        return "";
    pthread_mutex_lock(&ob->lock);
    bool set = ob->has_error;
    pthread_mutex_unlock(&ob->lock);
    /* Written once, before has_error became true, and never again: safe to
     * hand out without the lock. */
    return set ? ob->last_error : "";
}

void cw_outbox_destroy(cw_outbox_t **obp)
{
    if (!obp || !*obp)
        return;
    cw_outbox_t *ob = *obp;
    if (ob->started) {
        pthread_mutex_lock(&ob->lock);
        ob->stopping = true;
        pthread_cond_signal(&ob->not_empty);
        pthread_mutex_unlock(&ob->lock);
        pthread_join(ob->thread, NULL);
    } else {
        /* Never started: write what was queued here, so nothing is lost. */
        outbox_drain_here(ob);
    }
    for (size_t i = 0; i < ob->n_sinks; i++)
        cw_sink_destroy(&ob->sinks[i]);
    pthread_cond_destroy(&ob->delivered_cond);
    pthread_cond_destroy(&ob->not_full);
    pthread_cond_destroy(&ob->not_empty);
    pthread_mutex_destroy(&ob->lock);
    free(ob->ring);
    free(ob);
    *obp = NULL;
}
