/* bus.h - the ZeroMQ event bus.
 *
 * Publisher: a sink (sink.h) that binds a PUB socket and sends each event as
 * a two-frame message, topic then JSON. The socket is used only by the thread
 * that writes to the sink (the outbox thread). Slow subscribers lose messages
 * at the high-water mark instead of blocking the pipeline.
 *
 * Subscriber: connects a SUB socket, filters by topic prefix, receives the
 * two-frame messages and counts what it missed; used by `callwatch tap`,
 * the console, `callwatch whisper` and tests. A message that is
 * not two frames, has an over-long topic or a body that is not a JSON object
 * is skipped and counted, never fatal.
 *
 * One ZeroMQ context per process, created on first use (thread-safe);
 * cw_bus_shutdown() terminates it at exit (after every socket is destroyed).
 *
 * Loss accounting. libzmq drops per subscriber at the high-water mark
 * without telling the publisher, so the publisher numbers its messages and
 * each subscriber counts the gaps. The publisher adds `"seq": N` as the last
 * field of each body (an integer from 1, one count per full topic string,
 * per publisher process; an event's own `seq` would be replaced). Only the
 * bus body carries it: the archive and JSON Lines write events unchanged.
 * Per full topic because subscriptions are topic prefixes: a subscriber
 * gets all of a topic's messages or none, whatever its filter, so a gap in a
 * topic's numbers is exactly what this subscriber lost. A subscriber counts
 * from the first message it sees of a topic (joining late is no loss); a seq
 * not above the last one means the publisher restarted (a reset, no loss); a
 * body without an integer seq >= 1 (an older or foreign publisher) is
 * accepted and not counted. Both sides remember a bounded number of topics
 * (65536, least recently used forgotten first) and forget a topic silent for
 * 10 minutes (publisher) or 20 (subscriber): topics carry call ids, and
 * acks may still come a while after call_end. Forgetting can hide a loss,
 * never invent one: a forgotten topic restarts at 1 (a reset) or is new to
 * the subscriber (a late join). Around a publisher restart the count is
 * approximate: in a topic the subscriber remembers (status.<node>,
 * whisper.<agent>), new numbers above the old last one that it did not see
 * count as missed. Two publishers sending the same topic (not
 * something callwatch does: topics end with a call id, an agent or a node)
 * would make each other's numbers look like resets and gaps.
 */
#ifndef CALLWATCH_BUS_H
#define CALLWATCH_BUS_H

#include "callwatch/curve.h"
#include "callwatch/error.h"
#include "callwatch/sink.h"

#include <stdbool.h>
#include <stddef.h>

/* Topics whose last seq a publisher or subscriber remembers at most (see
 * "Loss accounting"). */
#define CW_BUS_SEQ_TOPICS_MAX 65536

/* Binds `endpoint` ("tcp://127.0.0.1:5556", "ipc:///run/cw.sock"; a port
 * of "*" picks a free one, see cw_bus_publisher_endpoint()).
 * sndhwm: messages queued per subscriber before new ones are dropped for it
 * (>= 1). Writes never block: a subscriber whose queue is full misses the
 * message (see cw_bus_publisher_dropped(); the subscriber counts it, see
 * "Loss accounting"). On destroy the socket lingers up to 1 s in
 * cw_bus_shutdown() so the last events still leave.
 * Create on any thread, then write from one thread only (the outbox thread).
 * An endpoint already in use: CW_ERR_BUSY, "cannot bind tcp://...: Address
 * already in use (is another callwatch running?)". A malformed endpoint,
 * unknown transport or non-local address: CW_ERR_INVALID naming the
 * endpoint. sndhwm < 1: CW_ERR_INVALID. */
cw_sink_t *cw_bus_publisher_new(const char *endpoint, int sndhwm, cw_error_t *err);

/* How a publisher protects its events. */
typedef struct cw_bus_security {
    const cw_curve_server_t *curve; /* CURVE keys and ZAP handler; NULL = plain. Must outlive the sink */
    bool allow_plain_remote;        /* plain on a non-loopback endpoint ([bus] allow_plain_remote) */
} cw_bus_security_t;

/* Like cw_bus_publisher_new(), which is this with sec NULL (plain, local
 * endpoints only). With sec->curve, only subscribers whose public key the
 * ZAP handler admits receive anything, encrypted. Without it, an endpoint
 * other machines can reach (cw_endpoint_is_local() false) is refused with
 * CW_ERR_INVALID naming the endpoint and [bus] allow_plain_remote, unless
 * sec->allow_plain_remote. */
cw_sink_t *cw_bus_publisher_new_secure(const char *endpoint, int sndhwm, const cw_bus_security_t *sec,
                                       cw_error_t *err);

/* The endpoint actually bound (wildcard port resolved, "tcp://127.0.0.1:41234"),
 * owned by the sink, valid until it is destroyed; NULL if sink is not a bus
 * publisher. Any thread. */
const char *cw_bus_publisher_endpoint(const cw_sink_t *sink);

/* Messages dropped at the high-water mark since creation (0 if sink is not a
 * bus publisher). Any thread. Note libzmq's PUB drops per slow subscriber
 * without telling the sender, so this counts only what the socket refused. */
unsigned long long cw_bus_publisher_dropped(const cw_sink_t *sink);

typedef struct cw_bus_sub cw_bus_sub_t;

/* Connects to endpoint and subscribes to topic_prefix ("" = everything, NULL
 * likewise). The connection is made in the background (the publisher may
 * come later); messages published before it is up are not seen. A subscriber
 * is used by one thread. Messages over 16 MiB make libzmq drop the connection
 * (it reconnects). Malformed endpoint: CW_ERR_INVALID. */
cw_bus_sub_t *cw_bus_sub_new(const char *endpoint, const char *topic_prefix, cw_error_t *err);

/* Same, as a CURVE client when curve is not NULL (it may be destroyed once
 * this returns). A server that does not admit the key, or a plain server,
 * delivers nothing: the handshake fails and libzmq keeps retrying. */
cw_bus_sub_t *cw_bus_sub_new_secure(const char *endpoint, const char *topic_prefix, const cw_curve_client_t *curve,
                                    cw_error_t *err);

/* Like cw_bus_sub_new, but at most rcvhwm (>= 1, else CW_ERR_INVALID)
 * messages wait here unread, with a small (16 kB) kernel buffer; beyond that
 * the publisher drops for this subscriber instead of queueing megabytes for
 * it. For a viewer that would rather lose old events than show them late,
 * and for tests of loss accounting. Plain (no CURVE). */
cw_bus_sub_t *cw_bus_sub_new_small(const char *endpoint, const char *topic_prefix, int rcvhwm, cw_error_t *err);

/* Waits up to timeout_ms (-1 forever, 0 = only what is already there) for
 * one well-formed message. Returns 1 and fills topic (NUL-terminated) and
 * *json (malloc'd, NUL-terminated, a JSON object, caller frees); 0 on timeout
 * or when interrupted by a signal (EINTR), with *json NULL; negative
 * cw_status on a socket error. A message whose topic does not fit topic_cap
 * with its NUL (use CW_TOPIC_MAX) is malformed: skipped, counted, and the
 * wait goes on within the same timeout. */
int cw_bus_sub_recv(cw_bus_sub_t *sub, char *topic, size_t topic_cap, char **json,
                    int timeout_ms, cw_error_t *err);

/* The subscriber's rule for one received message: well-formed when it has
 * exactly two frames, the topic (first frame, topic_len bytes) fits
 * topic_cap with a NUL and holds no NUL, and the body (second frame) is one
 * JSON object in valid UTF-8 without NUL bytes. Anything else is skipped and
 * counted by cw_bus_sub_recv. Pure function, any thread. */
bool cw_bus_message_valid(size_t frames, const void *topic, size_t topic_len, size_t topic_cap, const void *body,
                          size_t body_len);

/* Messages skipped as malformed since creation. */
unsigned long cw_bus_sub_malformed(const cw_bus_sub_t *sub);

/* What a subscriber received and lost since creation (see "Loss
 * accounting" above). */
typedef struct cw_bus_sub_stats {
    unsigned long long received;   /* well-formed messages (cw_bus_sub_recv returned 1) */
    unsigned long long missed;     /* numbered messages that never arrived: the sum of the gaps */
    unsigned long long gap_topics; /* topics with at least one gap (counted again if forgotten and gapped again) */
    unsigned long long resets;     /* times a topic's numbers restarted (a publisher restarted) */
    unsigned long long unnumbered; /* received without a seq: not counted either way */
    unsigned long malformed;       /* as cw_bus_sub_malformed() */
} cw_bus_sub_stats_t;

/* Fills *stats (zeros for a NULL sub). Same thread as cw_bus_sub_recv. */
void cw_bus_sub_get_stats(const cw_bus_sub_t *sub, cw_bus_sub_stats_t *stats);

/* stats->missed of cw_bus_sub_get_stats(); 0 for NULL. */
unsigned long long cw_bus_sub_missed(const cw_bus_sub_t *sub);

/* "received N events, missed M (K topics with gaps)" into buf (truncated
 * to cap, always NUL-terminated when cap > 0): the line `callwatch tap`
 * prints at exit. Returns snprintf's count, -1 for a NULL buf or stats. */
int cw_bus_sub_summary(const cw_bus_sub_stats_t *stats, char *buf, size_t cap);

/* "missed N events" ("missed 1 event") into buf for a status line, "" when
 * missed is 0 (nothing to warn about): the console's title shows it. Returns
 * the length written (snprintf's count), -1 for a NULL buf or cap 0. */
int cw_bus_missed_note(unsigned long long missed, char *buf, size_t cap);

/* The subscriber's handling of one two-frame message whose topic (a C
 * string) already passed the checks of cw_bus_message_valid: the body must
 * be one JSON object (valid UTF-8, no NUL), else it is counted as malformed
 * and false is returned; a good one is counted as received and its seq
 * accounted (see above); true. cw_bus_sub_recv calls this for every
 * message; exposed for tests and the fuzzer. Same thread as recv. */
bool cw_bus_sub_accept(cw_bus_sub_t *sub, const char *topic, const void *body, size_t body_len);

/* Closes the socket, frees, NULLs *sub. Accepts NULL. */
void cw_bus_sub_destroy(cw_bus_sub_t **sub);

/* A raw libzmq socket of `type` (ZMQ_REP, ZMQ_REQ, ...) on the process-wide
 * context, for the modules that speak request/reply (acks.h); the bus counts
 * it so cw_bus_shutdown() never terminates under it. Close it with
 * cw_bus_socket_close() (accepts NULL). NULL with a message on failure. */
void *cw_bus_socket_open(int type, cw_error_t *err);
void cw_bus_socket_close(void *sock);

/* Terminates the process-wide context, waiting up to the publishers' linger
 * (1 s) for queued messages. Call at exit after every publisher and
 * subscriber is destroyed; if one is still open this does nothing (rather
 * than hang). A later bus call creates a fresh context. */
void cw_bus_shutdown(void);

/* Scale-out ([bus] mode = connect): like cw_bus_publisher_new, but the PUB
 * socket connects to `endpoint`, the XSUB frontend of a `callwatch broker`
 * (broker.h), instead of binding. The connection is made in the background
 * and re-made if the broker restarts; until the broker has passed on a
 * subscription, events find no subscriber and are discarded, as on a bound
 * PUB socket with nobody listening. cw_bus_publisher_endpoint() returns the
 * endpoint as given; cw_bus_publisher_dropped() counts the same way.
 * Malformed endpoint or unknown transport: CW_ERR_INVALID naming it;
 * sndhwm < 1: CW_ERR_INVALID. */
cw_sink_t *cw_bus_publisher_connect(const char *endpoint, int sndhwm, cw_error_t *err);

/* Like cw_bus_publisher_connect(), which is this with curve NULL (plain),
 * but publishing as a CURVE client of a broker whose frontend is a CURVE
 * server: encrypted, and accepted only if the broker lists this node's public
 * key. curve is only read during the call. A broker that does not admit the
 * key gets nothing, and the publisher cannot tell (events are discarded as
 * with nobody listening). */
cw_sink_t *cw_bus_publisher_connect_secure(const char *endpoint, int sndhwm, const cw_curve_client_t *curve,
                                           cw_error_t *err);

#endif
