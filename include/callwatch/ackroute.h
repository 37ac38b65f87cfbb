/* ackroute.h - acknowledgements through the broker: consoles and web pages
 * connected to a `callwatch broker` acknowledge any node's alert there.
 *
 * Two ROUTER sockets on one thread:
 *  - the client side, bound at [broker] ack_endpoint: consoles and `callwatch
 *    web` connect their ack client (acks.h, REQ) here exactly as they would to
 *    a node's [bus] ack_endpoint, and speak the same JSON requests;
 *  - the node side, bound at [broker] node_ack_endpoint: each node connects
 *    its ack server's broker link (acks.h cw_ack_server_new_linked()), a REP
 *    socket whose ZeroMQ routing id is its node name ([bus] node).
 * Routing: an ack request names its call; call ids start with the node name
 * and a '-' (`floor2a-desk12-20261123T130446Z-1`). The router tries the
 * call id's prefixes that end before a '-', longest first, as the routing id
 * of a connected node (ROUTER_MANDATORY tells at once whether one is), and
 * forwards the request unchanged to the first that is; the node answers as
 * it would a console of its own (ok with the ack event, or "unknown alert
 * ..." with the reason) and the answer goes back to the client. The node
 * posts the ack event on its bus, so it reaches every subscriber through the
 * broker like any event. The router answers itself:
 *  - a ping: {"ok":true,"type":"pong","instance":"broker:HOST:PID:START",
 *    "broker":true}; with "calls": true it asks every node connected for its
 *    calls (CW_ACKROUTE_GATHER_MS at most) and answers with all of them;
 *  - an ack of a call no connected node owns: {"ok":false,"error":"no node
 *    for call \"...\": ..."};
 *  - malformed requests: the same refusals as a node (acks.h);
 *  - an ack a node does not answer within CW_ACKROUTE_NODE_TIMEOUT_MS:
 *    {"ok":false,"error":"node \"...\" did not answer ..."}.
 * With CURVE (curve not NULL) the client side admits the keys of the
 * CW_CURVE_DOMAIN_CLIENTS list and the node side those of
 * CW_CURVE_DOMAIN_NODES (curve.h); an unlisted client never completes its
 * handshake, so its requests go unanswered. Nodes are trusted alike: an
 * admitted node key can answer for any node name, as it can publish any
 * event.
 *
 * One thread creates, reads the stats of and destroys a router; the router's
 * own thread does the rest. Signals are blocked on that thread.
 */
#ifndef CALLWATCH_ACKROUTE_H
#define CALLWATCH_ACKROUTE_H

#include "callwatch/curve.h"
#include "callwatch/error.h"

#include <stdint.h>

#define CW_ACKROUTE_GATHER_MS 500
#define CW_ACKROUTE_NODE_TIMEOUT_MS 1500

typedef struct cw_ack_router cw_ack_router_t;

/* Binds both endpoints ("*" ports resolved, see the getters) and starts the
 * thread. Port in use: CW_ERR_BUSY naming the endpoint; malformed:
 * CW_ERR_INVALID naming it. curve is borrowed and must outlive the router. */
cw_ack_router_t *cw_ack_router_new(const char *client_endpoint, const char *node_endpoint,
                                   const cw_curve_server_t *curve, cw_error_t *err);

/* The endpoints bound; owned by the router, valid until destroy. */
const char *cw_ack_router_client_endpoint(const cw_ack_router_t *r);
const char *cw_ack_router_node_endpoint(const cw_ack_router_t *r);

typedef struct cw_ack_router_stats {
    uint64_t requests;  /* client requests received */
    uint64_t forwarded; /* acks sent on to a node */
    uint64_t answered;  /* node answers passed back to a client */
    uint64_t refused;   /* answered by the router with ok:false */
    uint64_t pings;
} cw_ack_router_stats_t;

/* A snapshot; the creating thread. */
void cw_ack_router_get_stats(cw_ack_router_t *r, cw_ack_router_stats_t *stats);

/* Stops the thread (within 100 ms), closes the sockets, frees, NULLs *r.
 * Accepts NULL. */
void cw_ack_router_destroy(cw_ack_router_t **r);

#endif
