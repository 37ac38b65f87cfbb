/* broker.h - the scale-out hub: a ZeroMQ XSUB/XPUB proxy (zmq_proxy_steerable).
 *
 * Several `callwatch run` nodes publish into the frontend ([bus] mode =
 * connect); consoles, whisper viewers, archivers and taps subscribe at the
 * backend exactly as they would at a single node's bus. Subscriptions travel
 * upstream (XPUB -> XSUB -> every node), so a node only sends topics somebody
 * wants, and each message a node publishes reaches each subscriber once.
 * The broker never looks inside messages: the contract's two-frame messages
 * pass through unchanged.
 *
 * The proxy runs on its own thread. A broker object (new, stats, destroy)
 * is used by one thread; signals are blocked on the proxy thread, so SIGINT/
 * SIGTERM reach the caller's thread, which then destroys the broker.
 * The broker uses its own ZeroMQ context (not bus.h's).
 */
#ifndef CALLWATCH_BROKER_H
#define CALLWATCH_BROKER_H

#include "callwatch/curve.h"
#include "callwatch/error.h"

#include <stdint.h>

typedef struct cw_broker cw_broker_t;

/* Binds frontend (XSUB, for nodes) and backend (XPUB, for subscribers) and
 * starts forwarding. sndhwm: messages queued per peer before ZeroMQ drops
 * for it (>= 1). A port of "*" picks a free one (see cw_broker_frontend()).
 * Port in use: CW_ERR_BUSY, "cannot bind broker frontend tcp://...: Address
 * already in use (is another broker running?)"; malformed endpoint:
 * CW_ERR_INVALID naming it (the same endpoint twice fails as in use). */
cw_broker_t *cw_broker_new(const char *frontend, const char *backend, int sndhwm, cw_error_t *err);

/* Same, with both sides CURVE servers when curve is not NULL: only
 * subscribers and nodes its ZAP handler admits get or give events, and a
 * node must publish as a CURVE client (cw_bus_publisher_connect_secure())
 * knowing curve's public key; a plain node's connection is dropped in the
 * handshake. The XSUB frontend is the CURVE server although nodes connect to
 * it: the side that binds holds the server key. When curve has the lists
 * CW_CURVE_DOMAIN_NODES and CW_CURVE_DOMAIN_CLIENTS
 * (cw_curve_server_new_domains()), the frontend admits only the nodes' keys
 * and the backend only the subscribers': a node's key cannot subscribe and a
 * subscriber's cannot publish (the handshake fails, ZAP status 400). With
 * one list, both sides admit it. Without curve, bind
 * non-loopback endpoints only after cw_curve_check_plain_bind() allowed it.
 * With curve, the broker's sockets live in cw_curve_context() instead of a
 * context of their own. curve is borrowed: destroy the broker first. */
cw_broker_t *cw_broker_new_secure(const char *frontend, const char *backend, int sndhwm,
                                  const cw_curve_server_t *curve, cw_error_t *err);

/* Same, and with curve and nodes_dir (a readable directory of the nodes'
 * public certificates, else CW_ERR_NOT_FOUND naming it) the broker forwards
 * only messages whose sender's CURVE key is in nodes_dir (a second check
 * behind ZAP's, for a server whose one list admits everyone on both sides),
 * and logs refused handshakes at the frontend. Each key's verdict is cached
 * for about a second (a key removed from nodes_dir stops being forwarded
 * within ~1 s; one added is admitted at its next connection). Dropped
 * messages count as frontend "in" but not backend "out" in the stats. */
cw_broker_t *cw_broker_new_curve(const char *frontend, const char *backend, int sndhwm,
                                 const cw_curve_server_t *curve, const char *nodes_dir, cw_error_t *err);

/* The endpoints actually bound (wildcard ports resolved); owned by the
 * broker, valid until destroy. */
const char *cw_broker_frontend(const cw_broker_t *b);
const char *cw_broker_backend(const cw_broker_t *b);

/* libzmq's proxy counters since start: whole (multipart) messages, so one
 * contract event counts once; bytes are all its frames. "in" is what a
 * side's socket received, "out" what it sent: nodes' events are frontend in
 * / backend out, subscriptions are backend in / frontend out. */
typedef struct cw_broker_stats {
    uint64_t frontend_msgs_in, frontend_bytes_in;
    uint64_t frontend_msgs_out, frontend_bytes_out;
    uint64_t backend_msgs_in, backend_bytes_in;
    uint64_t backend_msgs_out, backend_bytes_out;
} cw_broker_stats_t;

/* Asks the proxy thread for its counters; waits up to 1 s. CW_ERR_IO when
 * the proxy does not answer (it stopped on a socket error). */
int cw_broker_get_stats(cw_broker_t *b, cw_broker_stats_t *stats, cw_error_t *err);

/* True while the proxy thread runs (false after a fatal socket error). */
int cw_broker_running(cw_broker_t *b);

/* Stops the proxy (TERMINATE on its control socket), joins the thread,
 * closes the sockets without lingering, ends the context, frees, NULLs *b.
 * Accepts NULL. */
void cw_broker_destroy(cw_broker_t **b);

#endif
