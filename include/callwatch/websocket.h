/* websocket.h - calls streamed in over WebSocket media streams (FreeSWITCH
 * mod_audio_fork, Twilio Media Streams, Genesys Cloud AudioHook).
 *
 * One listener (libwebsockets) serves the paths /freeswitch, /twilio and
 * /audiohook; the messages of each protocol are decoded by wsmedia.h. One
 * connection is one call carrying both legs (or the one its metadata
 * announces); the call starts when its metadata arrived and ends when the
 * stream ends: normally (FreeSWITCH: a close frame; Twilio: "stop";
 * AudioHook: "close") = reason "hangup", otherwise "disconnect: <why>".
 *
 * A connection that breaks its protocol (unknown path, malformed JSON, audio
 * before the metadata, an unsupported format or rate, a message over
 * max_message_bytes, no metadata within first_message_timeout_ms, nothing for
 * idle_timeout_ms) is closed alone (after the protocol's goodbye, if it has
 * one: wsmedia.h cw_wsmedia_session_farewell), with one log line naming the peer
 * address, the protocol, the call when known, and what was wrong. More than
 * max_connections connections at once are refused at the handshake.
 *
 * Capacity: when the metadata arrives the call takes a place at the
 * server's desk (pbxcall.h, the node's [ingest] max_calls). When the desk is
 * full the stream is closed with status 1013 (try again later) and the
 * reason as the close frame's text ("this node is at capacity: ...; try
 * another node"), with a log line; the calls running are not affected.
 *
 * Threading: the server runs its own thread (the libwebsockets service
 * loop). cw_websocket_accept_call and cw_websocket_get_stats may be called
 * from any one other thread. Audio crosses to the call's source through one
 * lock-free ring per leg (pbxcall.h), exactly as in audiosocket.h; a source
 * handed out stays valid after the server is destroyed (it then ends).
 */
#ifndef CALLWATCH_WEBSOCKET_H
#define CALLWATCH_WEBSOCKET_H

#include "callwatch/config.h"
#include "callwatch/error.h"
#include "callwatch/pbxcall.h"
#include "callwatch/source.h"
#include "callwatch/wsmedia.h"

#include <stdint.h>

/* RFC 6455 close status (IANA registry): the server is overloaded, try
 * again later (another node). */
#define CW_WEBSOCKET_CLOSE_TRY_AGAIN_LATER 1013

typedef struct cw_websocket cw_websocket_t;

typedef struct cw_websocket_opts {
    const char *listen;             /* "host:port", "*:port"; port 0 = any free port */
    int max_connections;            /* streams open at once; more are refused */
    int first_message_timeout_ms;   /* the metadata must arrive this soon after the handshake */
    int idle_timeout_ms;            /* a stream sending nothing this long is closed */
    int max_message_bytes;          /* largest WebSocket message accepted, 1024..16 MiB */
    double ring_s;                  /* seconds of audio buffered per leg for the call */
    const char *tls_cert;           /* PEM certificate (chain) file: serve wss://; NULL or "" = ws:// */
    const char *tls_key;            /* PEM private key of tls_cert */
    /* Where started calls wait and the cap on calls at once, shared with the
     * node's other PBX server (retained); NULL: a desk of its own, no cap. */
    cw_pbxcalls_t *desk;
    /* Receives each log line (no newline), on the server thread. NULL: the
     * line goes to stderr as "callwatch: websocket: ...". */
    void (*log)(void *user, const char *line);
    void *log_user;
} cw_websocket_opts_t;

/* Fills opts from the [websocket] and [capture] sections of cfg. */
void cw_websocket_opts_from_config(const cw_config_t *cfg, cw_websocket_opts_t *opts);

/* Listens on opts->listen and starts the server thread. Errors name the
 * address: unparsable, in use, options out of range; or the TLS file that is
 * missing, unreadable or refused by the TLS library. */
cw_websocket_t *cw_websocket_new(const cw_websocket_opts_t *opts, cw_error_t *err);

/* Stops the thread, closes every stream (their calls end with "disconnect:
 * server shutting down") and frees the server; NULLs *ws. Accepts NULL. */
void cw_websocket_destroy(cw_websocket_t **ws);

/* The bound address as "host:port" (the real port when 0 was asked for). */
const char *cw_websocket_address(const cw_websocket_t *ws);
int cw_websocket_port(const cw_websocket_t *ws);

typedef struct cw_websocket_call {
    cw_wsmedia_meta_t meta;   /* call_id, agent_id, team ("" = not given), rate */
    int protocol;             /* a cw_wsmedia_protocol */
} cw_websocket_call_t;

/* Non-blocking. When a call is ready at the server's desk (with a shared
 * desk: any server's; the daemon takes them with cw_pbxcalls_take), sets *source to a new source carrying
 * its legs at meta.rate_hz (ownership passes to the caller), fills *call and
 * returns 1; returns 0 when no call is waiting. */
int cw_websocket_accept_call(cw_websocket_t *ws, cw_source_t **source, cw_websocket_call_t *call);

/* Counters (pbxcall.h): connections accepted, refused at once (max_connections, unknown path),
 * closed for protocol errors, cut off, ended normally, calls started, refused
 * at capacity ([ingest] max_calls), open now. */
typedef cw_pbx_stats_t cw_websocket_stats_t;

/* Counters since start; any thread. */
void cw_websocket_get_stats(const cw_websocket_t *ws, cw_websocket_stats_t *stats);

#endif
