/* bus.h - the ZeroMQ event bus.
 *
 * Publisher: a sink (sink.h) that binds a PUB socket and sends each event as
 * a two-frame message, topic then JSON. The socket is used only by the thread
 * that writes to the sink (the outbox thread). Slow subscribers lose messages
 * at the high-water mark instead of blocking the pipeline.
 *
 * Subscriber: connects a SUB socket, filters by topic prefix, receives the
 * two-frame messages; used by `callwatch tap` and tests. A message that is
 * not two frames, has an over-long topic or a body that is not a JSON object
 * is skipped and counted, never fatal.
 *
 * One ZeroMQ context per process, created on first use; cw_bus_shutdown()
 * terminates it at exit (after every socket is destroyed).
 */
#ifndef CALLWATCH_BUS_H
#define CALLWATCH_BUS_H

#include "callwatch/error.h"
#include "callwatch/sink.h"

#include <stddef.h>

/* Binds `endpoint` ("tcp://127.0.0.1:5556", "ipc:///run/cw.sock").
 * An endpoint already in use: CW_ERR_BUSY, "cannot bind tcp://...: Address
 * already in use". A malformed endpoint: CW_ERR_INVALID. */
cw_sink_t *cw_bus_publisher_new(const char *endpoint, int sndhwm, cw_error_t *err);

typedef struct cw_bus_sub cw_bus_sub_t;

/* Connects to endpoint and subscribes to topic_prefix ("" = everything). */
cw_bus_sub_t *cw_bus_sub_new(const char *endpoint, const char *topic_prefix, cw_error_t *err);

/* Waits up to timeout_ms (-1 forever) for one message. Returns 1 and fills
 * topic (NUL-terminated, truncated to topic_cap) and *json (malloc'd,
 * NUL-terminated, caller frees) ; 0 on timeout or when interrupted by a
 * signal; negative cw_status on a socket error. */
int cw_bus_sub_recv(cw_bus_sub_t *sub, char *topic, size_t topic_cap, char **json,
                    int timeout_ms, cw_error_t *err);

/* Messages skipped as malformed since creation. */
unsigned long cw_bus_sub_malformed(const cw_bus_sub_t *sub);

void cw_bus_sub_destroy(cw_bus_sub_t **sub);

void cw_bus_shutdown(void);

#endif
