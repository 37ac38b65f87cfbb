/* acks.h - acknowledgements: the daemon's request/reply channel for consoles.
 *
 * Server (the daemon): a thread with a ZeroMQ REP socket bound at [bus]
 * ack_endpoint. Each request is one frame of JSON:
 *   {"type":"ack","call_id":"...","alert_id":"...","by":"...","note":"..."}
 *     -> the ack event (event.h cw_event_ack, `at` set here) is posted to the
 *        outbox, so it reaches the bus and the archive like any event; reply
 *        {"ok":true,"ack":{...the ack event...}}
 *   {"type":"ping"} or {"type":"ping","calls":true}
 *     -> {"ok":true,"type":"pong","instance":"host:pid:start"}: consoles ping
 *        every second to know the daemon is up (no reply for a few seconds =
 *        disconnected) and see a restart when `instance` changes. With
 *        "calls": true the pong also lists the calls in progress, as their
 *        call_start events ("calls":[{...}, ...], at most CW_ACK_MAX_CALLS),
 *        so a console started mid-call knows each call's agent and team.
 * Who acknowledges (a server given a users file, cw_ack_server_new_auth()):
 * an ack must prove that `by` is a user of the file and a supervisor, with
 *   "password": "..."    the user's password, checked like the web's login
 *                        (users.h, Argon2id, ~0.1 s), as `callwatch console`
 *                        sends it; or
 *   "signature": "hex"   cw_users_sign() of cw_ack_signed_text() by `by`, as
 *                        `callwatch web` sends it for its logged-in user (it
 *                        reads the same users file; the password stays there).
 * Otherwise {"ok":false,"error":"wrong name or password"}, "... needs a
 * password ...", or "agent NAME may not acknowledge (only supervisors do)";
 * each such refusal is logged (cw_ack_auth_t.log). The ack event then carries
 * "verified": true and the user's "role". Without a users file the name is
 * taken as given (a password or signature sent anyway is ignored) and the
 * event says "verified": false.
 * Anything else - not JSON, not an object, several frames, over
 * CW_ACK_MAX_REQUEST bytes, a missing or empty call_id/alert_id/by, strings
 * over CW_ACK_MAX_FIELD bytes, a note over CW_ACK_MAX_NOTE - gets
 * {"ok":false,"error":"what was wrong"} and is counted; never a crash.
 * Messages over 64 KiB make libzmq drop the peer's connection instead.
 *
 * Broker link (a node behind a `callwatch broker`, ackroute.h): besides its
 * own endpoint, the server connects a DEALER whose ZeroMQ routing id is the
 * node's name to the broker's node_ack_endpoint, says hello on it every
 * CW_ACK_LINK_HELLO_MS ([routing id, "", {"type":"hello","instance":...}]),
 * and answers the requests the broker forwards ([tag, "", request] ->
 * [tag, "", reply]) exactly as those of its own endpoint.
 *
 * Client (the console): a REQ socket that never blocks: a request is refused
 * at once while the daemon is not connected, and a request whose reply never
 * came does not stop the next one (relaxed, correlated REQ).
 */
#ifndef CALLWATCH_ACKS_H
#define CALLWATCH_ACKS_H

#include "callwatch/curve.h"
#include "callwatch/error.h"
#include "callwatch/outbox.h"
#include "callwatch/users.h"

#include <jansson.h>
#include <stdint.h>

#define CW_ACK_MAX_REQUEST 4096
#define CW_ACK_MAX_FIELD 128
#define CW_ACK_MAX_NOTE 512
#define CW_ACK_MAX_CALLS 1000

typedef struct cw_ack_server cw_ack_server_t;

typedef struct cw_ack_stats {
    uint64_t requests; /* every request answered (own endpoint and broker link) */
    uint64_t via_broker; /* of which came through the broker link */
    uint64_t acks;     /* ack events posted */
    uint64_t pings;
    uint64_t rejected; /* requests answered with ok:false */
    uint64_t denied;   /* of which refused for who sent them (users file) */
} cw_ack_stats_t;

/* Binds endpoint (bind errors are reported here: CW_ERR_BUSY when in use,
 * CW_ERR_INVALID when malformed) and starts the thread. outbox is borrowed
 * and must outlive the server (destroy the server first). */
cw_ack_server_t *cw_ack_server_new(const char *endpoint, cw_outbox_t *outbox, cw_error_t *err);

/* Same, as a CURVE server when curve is not NULL: only clients admitted by
 * its ZAP handler (curve.h) get through the handshake; others never reach
 * the server, so their requests go unanswered. curve is borrowed and must
 * outlive the ack server. NULL = cw_ack_server_new(). */
cw_ack_server_t *cw_ack_server_new_secure(const char *endpoint, cw_outbox_t *outbox, const cw_curve_server_t *curve,
                                          cw_error_t *err);

#define CW_ACK_LINK_HELLO_MS 1000

/* Where a node behind a broker takes acknowledgements from too. */
typedef struct cw_ack_link {
    const char *endpoint;           /* the broker's [broker] node_ack_endpoint */
    const char *node;               /* this node's name ([bus] node): its routing id, 1..255 bytes */
    const cw_curve_client_t *curve; /* the node's CURVE client (its key, the broker's public key); NULL = plain */
} cw_ack_link_t;

/* cw_ack_server_new_secure() plus the broker link when link is not NULL
 * (link and its strings may be freed once this returns). A malformed link
 * endpoint is CW_ERR_INVALID naming it; a broker that is not there yet is
 * not an error: the link connects when it comes. */
cw_ack_server_t *cw_ack_server_new_linked(const char *endpoint, cw_outbox_t *outbox, const cw_curve_server_t *curve,
                                          const cw_ack_link_t *link, cw_error_t *err);

/* Who may acknowledge. users_path NULL or "" = anyone, unverified. The file
 * is read at creation (missing or malformed: NULL with err naming it) and
 * read again when it changes (its size, time or inode; checked at each ack;
 * a file that became unreadable or malformed keeps the old users, logged). */
typedef void (*cw_ack_log_fn)(void *user, const char *line);
typedef struct cw_ack_auth {
    const char *users_path;
    cw_ack_log_fn log; /* one line per refusal or reload; the server's thread; NULL = none */
    void *log_user;
} cw_ack_auth_t;

/* cw_ack_server_new_linked() with auth (NULL = no users file). auth and its
 * path may be freed once this returns; log_user must outlive the server. */
cw_ack_server_t *cw_ack_server_new_auth(const char *endpoint, cw_outbox_t *outbox, const cw_curve_server_t *curve,
                                        const cw_ack_link_t *link, const cw_ack_auth_t *auth, cw_error_t *err);

/* The endpoint bound (a "*" port resolved). Valid until destroy. */
const char *cw_ack_server_endpoint(const cw_ack_server_t *srv);

/* Shows the server an event on its way to the bus (call an outbox follower
 * with every event): call_start adds the call to the list pongs carry,
 * call_end removes it; an alert becomes one an ack may name (the last 8192
 * are kept, also after their call ended). Any thread. */
void cw_ack_server_observe(cw_ack_server_t *srv, const cw_event_t *ev);

/* A snapshot; any thread. */
void cw_ack_server_get_stats(cw_ack_server_t *srv, cw_ack_stats_t *stats);

/* Stops answering: the thread ends (within 100 ms) and the socket closes,
 * so nothing more is posted to the outbox; cw_ack_server_observe() still
 * works until destroy. Idempotent; the thread that created the server. */
void cw_ack_server_stop(cw_ack_server_t *srv);

/* Stops (if not yet) and frees; NULLs *srv. */
void cw_ack_server_destroy(cw_ack_server_t **srv);

/* Answers one request (the server's logic, without a socket; tests and the
 * thread use it). request: len bytes, not NUL-terminated. Posts the ack event
 * to outbox when accepted. calls: what a pong lists when asked (an array,
 * borrowed; NULL = []). Returns the reply JSON (malloc'd, caller frees) or
 * NULL when out of memory, and says what the request was in *outcome. */
typedef enum cw_ack_outcome {
    CW_ACK_REJECTED = 0,
    CW_ACK_POSTED = 1,
    CW_ACK_PONG = 2,
    CW_ACK_DENIED = 3 /* rejected for who sent it (wrong password, role, none given) */
} cw_ack_outcome;
char *cw_ack_answer(const char *request, size_t len, cw_outbox_t *outbox, const char *instance, json_t *calls,
                    cw_ack_outcome *outcome);

/* Same, refusing an ack whose alert_id is not in known (alert id -> its
 * call_id, borrowed) with the reason: "unknown alert ..." or "alert ...
 * belongs to call ...". known NULL = no check (cw_ack_answer). The server
 * answers with the alerts it observed. */
char *cw_ack_answer_known(const char *request, size_t len, cw_outbox_t *outbox, const char *instance, json_t *calls,
                          const json_t *known, cw_ack_outcome *outcome);

/* Same, checking who acknowledges against users (borrowed; NULL = nobody
 * checked: "verified": false, as cw_ack_answer_known()). Passwords go
 * through guesses (borrowed, may be NULL): after wrong passwords for a name
 * that name is refused for a while ("too many wrong passwords for NAME: try
 * again in N s", CW_ACK_DENIED) without a check (throttle.h's default
 * policy in the server). */
char *cw_ack_answer_checked(const char *request, size_t len, cw_outbox_t *outbox, const char *instance,
                            json_t *calls, const json_t *known, const cw_users_t *users, cw_throttle_t *guesses,
                            cw_ack_outcome *outcome);

/* What a "signature" signs: the ack's fields in one unambiguous text (a
 * compact JSON array with a version tag); note NULL = "". malloc'd, caller
 * frees; NULL when out of memory or a field is not UTF-8. */
char *cw_ack_signed_text(const char *call_id, const char *alert_id, const char *by, const char *note);

typedef struct cw_ack_client cw_ack_client_t;

/* Connects (in the background; reconnects by itself). Malformed endpoint:
 * CW_ERR_INVALID. One thread uses a client. */
cw_ack_client_t *cw_ack_client_new(const char *endpoint, cw_error_t *err);

/* Same, as a CURVE client when curve is not NULL (it may be destroyed once
 * this returns). A client the server does not admit never connects:
 * cw_ack_client_send() keeps saying "daemon not reachable". */
cw_ack_client_t *cw_ack_client_new_secure(const char *endpoint, const cw_curve_client_t *curve, cw_error_t *err);

/* Sends one request without blocking: 0, or CW_ERR_IO "daemon not reachable"
 * when no connection is up. A reply still awaited is abandoned. */
int cw_ack_client_send(cw_ack_client_t *c, const char *json, cw_error_t *err);

/* Waits up to timeout_ms (0 = only what is there) for the reply to the last
 * request: 1 with *reply (malloc'd, NUL-terminated; caller frees), 0 if none
 * yet, negative cw_status on a socket error. */
int cw_ack_client_recv(cw_ack_client_t *c, char **reply, int timeout_ms, cw_error_t *err);

void cw_ack_client_destroy(cw_ack_client_t **c);

#endif
