/* metrics_sink.h - a sink that records what the bus published.
 *
 * Added to the outbox right after the bus publisher, it sees every event just
 * after the publisher handed it to its socket, and keeps in a registry
 * (metrics.h):
 *   callwatch_events_published_total{type}  events the bus socket took
 *   callwatch_bus_dropped_total             events the bus refused at its
 *                                           high-water mark (not in the above)
 *   callwatch_alert_latency_seconds         histogram, one observation per alert
 *
 * Alert latency, precisely: the wall-clock time at which the alert had been
 * handed to the bus socket, minus the wall-clock time at which the end of its
 * evidence was in the audio, i.e. minus (the call's `started_at` from its
 * call_start + the alert's `t_end`). A call's audio starts when the call
 * starts (a live device is already running, a file replay starts its clock
 * then), so this is everything the pipeline adds: capture buffering, the VAD
 * hangover, decoding, detection, the outbox queue and the socket hand-off.
 * Clock steps or a device clock running at another rate than the wall clock
 * show up in it; a negative value (audio ahead of the wall clock) counts as 0.
 * An alert whose call_start this sink did not see is not observed.
 *
 * Like every sink it is used by one thread at a time (the outbox thread).
 */
#ifndef CALLWATCH_METRICS_SINK_H
#define CALLWATCH_METRICS_SINK_H

#include "callwatch/error.h"
#include "callwatch/metrics.h"
#include "callwatch/sink.h"

/* Registers the families above in reg (which must outlive the sink). bus:
 * the sink written before this one whose refusals count as dropped (the bus
 * publisher; any sink, through cw_sink_dropped(), so this stage needs no
 * bus header), borrowed: it must outlive this sink, which holds when both
 * belong to one outbox and the bus was added first; NULL counts every event
 * as published. NULL with err when a family
 * cannot be registered (already there) or out of memory. */
cw_sink_t *cw_metrics_sink_new(cw_metrics_t *reg, const cw_sink_t *bus, cw_error_t *err);

#endif
