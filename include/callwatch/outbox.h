/* outbox.h - the single exit of events: a bounded queue and the thread that
 * writes them to the sinks, in the order they were posted.
 *
 * Any thread may post. Posting blocks while the queue is full (so analysis
 * never loses an event); sinks themselves must not block for long (the bus
 * drops for slow subscribers at its high-water mark).
 *
 * Batches and order across sinks: the writer takes everything queued (up to
 * 512 events) as one batch, writes the whole batch to the first sink, calls
 * that sink's sync (cw_sink_sync), and only then writes the batch to the next
 * sink, and so on. Each sink sees events in posting order. Guarantee used by
 * `callwatch run`: with the archive added before the bus, an event is
 * published only after the archive committed it, or after the archive's own
 * bounded wait ran out (archive.h says when and how that is reported).
 */
#ifndef CALLWATCH_OUTBOX_H
#define CALLWATCH_OUTBOX_H

#include "callwatch/error.h"
#include "callwatch/event.h"
#include "callwatch/sink.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cw_outbox cw_outbox_t;

/* capacity: events queued before post blocks (>= 1); the ring of pointers
 * is allocated here, nothing is allocated per event. */
cw_outbox_t *cw_outbox_new(size_t capacity, cw_error_t *err);

/* Adds a sink before cw_outbox_start(); ownership passes to the outbox
 * (*sink is NULLed). At most 8 sinks; each event goes to them in the order
 * they were added. On failure (CW_ERR_INVALID: started, full, NULL) *sink
 * stays the caller's. Setup calls: one thread, before start. */
int cw_outbox_add_sink(cw_outbox_t *ob, cw_sink_t **sink, cw_error_t *err);

/* A follower sees every event as it is written (on the writer thread) and
 * may answer with a follow-up event derived from it (ownership passes to the
 * outbox), or NULL. The follow-up is written to every sink
 * next, before any other event, and is not shown to the follower again; it
 * counts as posted. This is how whispers follow their alerts at once without
 * the analysis threads knowing about agents. */
typedef cw_event_t *(*cw_outbox_follow_fn)(void *user, const cw_event_t *ev);

/* Sets the follower (one; fn NULL removes it); user must outlive the outbox.
 * Setup call, before cw_outbox_start(): CW_ERR_INVALID after. */
int cw_outbox_set_follower(cw_outbox_t *ob, cw_outbox_follow_fn fn, void *user, cw_error_t *err);

/* Starts the writer thread; from then on only it touches the sinks.
 * CW_ERR_INVALID if already started, CW_ERR_INTERNAL if the thread cannot be
 * created. Events posted before start wait in the queue. */
int cw_outbox_start(cw_outbox_t *ob, cw_error_t *err);

/* Queues *ev (ownership taken, *ev NULLed). Thread-safe; blocks while the
 * queue is full (before start, a full queue blocks until start). Events are
 * written in the order the posts completed, so each thread's events keep
 * their order. A NULL *ev is counted as a lost event (allocation failed
 * upstream). Must not race with cw_outbox_destroy(). */
void cw_outbox_post(cw_outbox_t *ob, cw_event_t **ev);

/* Returns once every event posted before the call, and its follow-up, has
 * been handed to every sink (written or failed), so stats and
 * cw_outbox_last_error() then cover them. Any thread; blocks while a sink is slow. Before start, the queue is
 * written on the calling thread. */
void cw_outbox_flush(cw_outbox_t *ob);

typedef struct cw_outbox_stats {
    uint64_t posted;        /* non-NULL events queued */
    uint64_t written;       /* events every sink accepted */
    uint64_t write_errors;  /* sink writes that failed */
    uint64_t lost;          /* NULL events posted */
} cw_outbox_stats_t;

/* A consistent snapshot. Any thread. */
void cw_outbox_get_stats(cw_outbox_t *ob, cw_outbox_stats_t *stats);

/* First sink error message, "" if none. Any thread; the string never
 * changes once set and is valid until destroy. */
const char *cw_outbox_last_error(cw_outbox_t *ob);

/* Writes everything queued, stops the thread, destroys the sinks and frees;
 * NULLs *ob. Accepts NULL. If never started, the queue is written on the
 * calling thread. Every poster must be done before this is called. */
void cw_outbox_destroy(cw_outbox_t **ob);

#endif
