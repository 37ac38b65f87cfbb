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

typedef struct cw_sink_ops {
    const char *name;
    int (*write)(void *impl, const cw_event_t *ev, cw_error_t *err);
    void (*destroy)(void *impl);
} cw_sink_ops_t;

/* Wraps a backend; impl ownership passes to the sink. */
cw_sink_t *cw_sink_wrap(const cw_sink_ops_t *ops, void *impl);

/* JSON Lines: one event's JSON then '\n', flushed per event so a reader sees
 * it at once. `out` is borrowed (not closed). A failed write (EPIPE, disk
 * full) returns CW_ERR_IO. */
cw_sink_t *cw_sink_jsonl_new(FILE *out);

int cw_sink_write(cw_sink_t *sink, const cw_event_t *ev, cw_error_t *err);

const char *cw_sink_name(const cw_sink_t *sink);

void cw_sink_destroy(cw_sink_t **sink);

#endif
