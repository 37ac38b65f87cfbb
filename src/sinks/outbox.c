/* outbox.c - see callwatch/outbox.h */
#include "callwatch/outbox.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OUTBOX_MAX_SINKS 8

struct cw_outbox {
    /* Set before start, then read-only (the writer thread owns the sinks). */
    cw_sink_t *sinks[OUTBOX_MAX_SINKS];
    size_t n_sinks;
    pthread_t thread;
    bool started;
    cw_outbox_follow_fn follow;
    void *follow_user;

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

static void outbox_write_one(cw_outbox_t *ob, cw_event_t *ev);

/* Writes one event, then the follow-up the follower derives from it. Runs on
 * the writer thread (or on the destroying thread if the outbox never
 * started), without the lock, so posters are not held up by a slow sink. */
static void outbox_deliver(cw_outbox_t *ob, cw_event_t *ev)
{
    cw_event_t *next = NULL;
    if (ev && ob->follow)
        next = ob->follow(ob->follow_user, ev);
    outbox_write_one(ob, ev);
    if (next) {
        pthread_mutex_lock(&ob->lock);
        ob->stats.posted++;
        pthread_mutex_unlock(&ob->lock);
        outbox_write_one(ob, next);
    }
    pthread_mutex_lock(&ob->lock);
    ob->delivered++;
    pthread_cond_broadcast(&ob->delivered_cond);
    pthread_mutex_unlock(&ob->lock);
}

/* Writes one event to every sink and records the outcome. */
static void outbox_write_one(cw_outbox_t *ob, cw_event_t *ev)
{
    uint64_t failures = 0;
    cw_error_t first = {0};
    for (size_t i = 0; i < ob->n_sinks; i++) {
        cw_error_t e;
        cw_error_clear(&e);
        if (cw_sink_write(ob->sinks[i], ev, &e) != 0) {
            if (failures == 0) {
                first = e;
                if (first.msg[0] == '\0')
                    cw_error_set(&first, e.code, "%s sink: %s", cw_sink_name(ob->sinks[i]),
                                 cw_status_name(e.code));
            }
            failures++;
        }
    }
    cw_event_destroy(&ev);

    pthread_mutex_lock(&ob->lock);
    if (failures == 0)
        ob->stats.written++;
    ob->stats.write_errors += failures;
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
        cw_event_t *ev = outbox_pop_locked(ob);
        pthread_cond_signal(&ob->not_full);
        pthread_mutex_unlock(&ob->lock);
        outbox_deliver(ob, ev);
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
    ob->enqueued++;
    ob->stats.posted++;
    pthread_cond_signal(&ob->not_empty);
    pthread_mutex_unlock(&ob->lock);
}

void cw_outbox_flush(cw_outbox_t *ob)
{
    if (!ob)
        return;
    if (!ob->started) {
        for (;;) {
            pthread_mutex_lock(&ob->lock);
            cw_event_t *ev = ob->count ? outbox_pop_locked(ob) : NULL;
            pthread_mutex_unlock(&ob->lock);
            if (!ev)
                return;
            outbox_deliver(ob, ev);
        }
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
        for (;;) {
            pthread_mutex_lock(&ob->lock);
            cw_event_t *ev = ob->count ? outbox_pop_locked(ob) : NULL;
            pthread_mutex_unlock(&ob->lock);
            if (!ev)
                break;
            outbox_deliver(ob, ev);
        }
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
