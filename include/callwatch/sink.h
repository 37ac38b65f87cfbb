/* sink.h - where events end up: an interface with backends.
 *
 * Backends: JSON Lines on a stdio stream (this file's sink.c) and the ZeroMQ
 * PUB socket (bus.h). A sink is used by one thread at a time (the outbox
 * thread); creating it on one thread and handing it to another is fine.
 */
#ifndef CALLWATCH_SINK_H
#define CALLWATCH_SINK_H

#include "callwatch/error.h"
#include "callwatch/event.h"

#include <stdio.h>

typedef struct cw_sink cw_sink_t;

/* A backend. The table must outlive every sink made from it (a static
 * const). write returns 0 or a negative cw_status with err filled, must not
 * keep ev, and must not block for long; destroy may be NULL.
 * sync (may be NULL) makes every event written so far durable before it
 * returns (the archive's commit); the outbox calls it after each batch and
 * only then hands the batch to the next sink. It may block, but only for a
 * bounded time of its own choosing; 0 or a negative cw_status.
 * dropped (may be NULL: the backend never drops) counts the events write
 * accepted but could not deliver (the bus's full queues) since the sink was
 * made; callable from any thread. */
typedef struct cw_sink_ops {
    const char *name;
    int (*write)(void *impl, const cw_event_t *ev, cw_error_t *err);
    void (*destroy)(void *impl);
    int (*sync)(void *impl, cw_error_t *err);
    unsigned long long (*dropped)(const void *impl);
} cw_sink_ops_t;

/* Wraps a backend; impl ownership passes to the sink, also on failure (impl
 * is then destroyed with ops->destroy). NULL if ops or ops->write is NULL or
 * out of memory. */
cw_sink_t *cw_sink_wrap(const cw_sink_ops_t *ops, void *impl);

/* The impl of a sink wrapped with exactly this ops table, else NULL: how a
 * backend (bus.c) finds its own state behind a cw_sink_t. Still owned by the
 * sink. */
void *cw_sink_impl(const cw_sink_t *sink, const cw_sink_ops_t *ops);

/* JSON Lines: one event's JSON then '\n', flushed per event so a reader sees
 * it at once; the stream is locked (flockfile) for the line so lines from
 * different writers never interleave. `out` is borrowed (not closed) and must
 * outlive the sink. A failed write (EPIPE, disk full) returns CW_ERR_IO with
 * strerror's text; the stream's error flag is cleared so later writes are
 * tried again. NULL if out is NULL or out of memory. */
cw_sink_t *cw_sink_jsonl_new(FILE *out);

/* Writes one event (borrowed). 0 or a negative cw_status (CW_ERR_INVALID
 * for a NULL sink or event). */
int cw_sink_write(cw_sink_t *sink, const cw_event_t *ev, cw_error_t *err);

/* Runs the backend's sync (see cw_sink_ops_t); 0 at once for a backend
 * without one. CW_ERR_INVALID for a NULL sink. */
int cw_sink_sync(cw_sink_t *sink, cw_error_t *err);

/* Events the backend accepted but could not deliver, since it was made (see
 * cw_sink_ops_t.dropped); 0 for a NULL sink or a backend that never drops.
 * Any thread. */
unsigned long long cw_sink_dropped(const cw_sink_t *sink);

/* The backend's name ("jsonl", "bus"); static, never NULL. */
const char *cw_sink_name(const cw_sink_t *sink);

/* Destroys the backend and the sink; NULLs *sink. Accepts NULL. */
void cw_sink_destroy(cw_sink_t **sink);

#endif
