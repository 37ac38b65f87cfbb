/* pbxcall.h - a call a PBX streams in, on its way from the server that
 * receives it to the daemon that monitors it. Shared by the AudioSocket
 * (audiosocket.h) and WebSocket (websocket.h) servers, so both hand calls
 * over, end them and count them the same way.
 *
 * Three pieces:
 *   - cw_pbxcall_t, one call: per leg a lock-free SPSC ring of int16 samples
 *     (ring.h), the silence owed to a leg that joined late, and how the leg
 *     ended. The server writes, the call's source (source.h) reads.
 *   - cw_pbxcalls_t, the node's desk for PBX calls: the calls started and
 *     not yet taken (a FIFO), and the cap on calls at once ([ingest]
 *     max_calls). One desk may serve several servers: the daemon gives the
 *     same desk to both, so the cap is the node's, and takes every started
 *     call from it in one place.
 *   - cw_pbx_ingest_t, embedded in each server: its desk, its log and its
 *     counters, and how the end of a connection is logged, counted and
 *     passed to the call (cw_pbx_ingest_ended), so both servers word and
 *     count ends and refusals alike.
 *
 * Data flows one way: server thread -> call -> source -> the daemon's
 * pipeline; nothing here calls back into a server or the daemon.
 *
 * Life of a call: the server makes it with cw_pbxcall_new() when a stream
 * says which call it is (this takes a place at the desk, or fails with
 * CW_ERR_BUSY and the reason to give the peer when the desk is full), marks
 * its legs attached, then cw_pbxcall_start() queues it; cw_pbxcalls_take()
 * hands it out as a source. The server writes audio and ends the legs; the
 * source ends (EOF) once every leg carried has ended and its audio was read.
 * The place at the desk is given back when both the server and the source
 * let go of the call.
 *
 * Ownership: a call is reference counted. cw_pbxcall_new() returns the
 * server's reference (cw_pbxcall_release() drops it); the queue and then the
 * source hold another. The desk is reference counted too: every call and
 * every server using it holds it, so cw_pbxcalls_destroy() by its creator
 * may come first; sources handed out stay valid after their server and the
 * desk's creator are gone.
 *
 * Threads: one producer thread per call (its server's): cw_pbxcall_attach,
 * _write, _end_leg, _end, _start, _position. The source of a call is read by
 * one thread, like every source. What crosses: the samples (the ring), a
 * leg's `attached` (published after its pad and peer) and `ended` (published
 * after why it ended; nothing is written to the ring after it), the FIFO
 * (under the desk's mutex) and the count of calls (atomic). cw_pbxcalls_take
 * and cw_pbxcalls_get_stats may be called from any thread; a
 * cw_pbx_ingest_t is used by its server's thread (its stats: any thread).
 */
#ifndef CALLWATCH_PBXCALL_H
#define CALLWATCH_PBXCALL_H

#include "callwatch/config.h"
#include "callwatch/cue.h"
#include "callwatch/error.h"
#include "callwatch/source.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- the desk ---------------------------------------------------------------- */

typedef struct cw_pbxcalls cw_pbxcalls_t;

/* A desk admitting max_calls calls at once (0 = no cap). NULL when out of
 * memory or max_calls < 0. */
cw_pbxcalls_t *cw_pbxcalls_new(int max_calls);

/* Lets go of the creator's reference and NULLs *desk; the calls started
 * and not taken are dropped with it (their places given back). Accepts NULL. */
void cw_pbxcalls_destroy(cw_pbxcalls_t **desk);

/* For a server sharing a desk: one more reference, let go with
 * cw_pbxcalls_destroy. Returns desk. */
cw_pbxcalls_t *cw_pbxcalls_retain(cw_pbxcalls_t *desk);

/* What the daemon learns of a call it takes. */
typedef struct cw_pbxcall_info {
    char call_id[CW_NAME_MAX];
    char agent_id[CW_NAME_MAX]; /* "" = the stream did not say */
    char team[CW_NAME_MAX];     /* "" = the stream did not say */
    const char *ingest;         /* static: "audiosocket", "websocket" */
    int protocol;               /* the server's own detail (WebSocket: a cw_wsmedia_protocol) */
    int rate_hz;                /* of every leg carried */
    bool has_leg[CW_LEG_COUNT];
} cw_pbxcall_info_t;

/* Non-blocking. When a started call waits, sets *source to a new source
 * reading it (ownership passes to the caller), fills *info and returns 1;
 * returns 0 when none waits, CW_ERR_NOMEM (err names the call, which is then
 * dropped: not monitored) when out of memory. */
int cw_pbxcalls_take(cw_pbxcalls_t *desk, cw_source_t **source, cw_pbxcall_info_t *info, cw_error_t *err);

typedef struct cw_pbxcalls_stats {
    int calls;         /* calls holding a place now (started or being assembled, not yet let go) */
    int max_calls;     /* the cap; 0 = none */
    uint64_t refused;  /* cw_pbxcall_new refused: the desk was full */
} cw_pbxcalls_stats_t;

/* Any thread. */
void cw_pbxcalls_get_stats(const cw_pbxcalls_t *desk, cw_pbxcalls_stats_t *stats);

/* ---- a call ------------------------------------------------------------------ */

typedef struct cw_pbxcall cw_pbxcall_t;

typedef struct cw_pbxcall_opts {
    const char *call_id;
    const char *agent_id;     /* NULL or "" = not known */
    const char *team;         /* NULL or "" = not known */
    const char *ingest;       /* static string: "audiosocket", "websocket" */
    int protocol;             /* copied to cw_pbxcall_info_t.protocol */
    int rate_hz;              /* of every leg */
    double ring_s;            /* seconds buffered per leg (at least 4096 samples) */
    bool legs[CW_LEG_COUNT];  /* legs that may attach (a ring each) */
    /* The legs arrive on separate streams (AudioSocket): an abnormal end is
     * reported as "disconnect: <leg> leg: <why>"; false (one stream carries
     * both legs): "disconnect: <why>". */
    bool leg_streams;
} cw_pbxcall_opts_t;

/* A new call holding one place at desk. NULL with CW_ERR_BUSY when the desk
 * is full (err: "this node is at capacity: N of N calls ([ingest] max_calls);
 * try another node", short enough for a WebSocket close reason), with
 * CW_ERR_NOMEM when out of memory. Returns the server's reference. */
cw_pbxcall_t *cw_pbxcall_new(cw_pbxcalls_t *desk, const cw_pbxcall_opts_t *opts, cw_error_t *err);

/* Lets go of one reference and NULLs *call; the last frees it and gives its
 * place back. Accepts NULL. */
void cw_pbxcall_release(cw_pbxcall_t **call);

const char *cw_pbxcall_id(const cw_pbxcall_t *call);

/* Producer: the leg is connected from peer ("1.2.3.4:5060"); it owes
 * pad_frames of silence before its first sample (a leg joining late). */
void cw_pbxcall_attach(cw_pbxcall_t *call, cw_leg_id leg, uint64_t pad_frames, const char *peer);

bool cw_pbxcall_attached(const cw_pbxcall_t *call, cw_leg_id leg);

/* Producer: the leg's timeline so far (its pad plus the samples that
 * arrived), so a leg joining later can be padded to it. */
uint64_t cw_pbxcall_position(const cw_pbxcall_t *call, cw_leg_id leg);

/* The peer of an attached leg ("" before). */
const char *cw_pbxcall_peer(const cw_pbxcall_t *call, cw_leg_id leg);

/* Producer: queues samples of a leg. What does not fit is dropped and
 * counted (the source's frames_dropped, call_end). Returns true the first
 * time this leg dropped samples, so the server logs it once. */
bool cw_pbxcall_write(cw_pbxcall_t *call, cw_leg_id leg, const int16_t *samples, size_t n);

/* Seconds of audio a leg's ring holds. */
double cw_pbxcall_buffer_s(const cw_pbxcall_t *call);

/* Producer: a leg ended, normally (hangup) or not (why, copied: "protocol
 * error: ...", "nothing received for ..."). Nothing more may be written to
 * it. cw_pbxcall_end ends every leg of the call alike. */
void cw_pbxcall_end_leg(cw_pbxcall_t *call, cw_leg_id leg, bool normal, const char *why);
void cw_pbxcall_end(cw_pbxcall_t *call, bool normal, const char *why);

/* Producer: the call starts with the legs attached now (the others never
 * will) and waits at its desk to be taken; description (copied) is the
 * source's, e.g. "WebSocket /twilio from 1.2.3.4:5 (8000 Hz)". */
void cw_pbxcall_start(cw_pbxcall_t *call, const char *description);

/* ---- what each server keeps: its log, its counters, its desk ------------------ */

/* How a connection (AudioSocket: a leg; WebSocket: a call) ended. */
typedef enum cw_pbx_end {
    CW_PBX_HANGUP,     /* normally: the protocol's end, or a close at a message boundary */
    CW_PBX_DISCONNECT, /* cut off: reset, closed mid-message, idle, PBX error, shutdown */
    CW_PBX_PROTOCOL    /* the peer broke the protocol */
} cw_pbx_end_t;

/* Counters since the server started; read with cw_pbx_ingest_get_stats. */
typedef struct cw_pbx_stats {
    uint64_t connections;     /* accepted */
    uint64_t refused;         /* refused at once: max_connections, unknown path */
    uint64_t protocol_errors; /* closed for breaking the protocol (bad message, order, timeouts) */
    uint64_t disconnects;     /* cut off without their protocol's end */
    uint64_t hangups;         /* ended normally */
    uint64_t calls;           /* calls started */
    uint64_t at_capacity;     /* refused because the desk was full ([ingest] max_calls) */
    int open_connections;
} cw_pbx_stats_t;

/* The part of a PBX server that is the same for every protocol; embedded in
 * the server, used by its thread (stats: any thread). */
typedef struct cw_pbx_ingest {
    const char *name;                        /* static: "audiosocket", "websocket" */
    void (*log)(void *user, const char *line);
    void *log_user;
    cw_pbxcalls_t *desk;                     /* retained */
    _Atomic uint64_t connections, refused, protocol_errors, disconnects, hangups, calls, at_capacity;
    _Atomic int open;
} cw_pbx_ingest_t;

/* Fills ing; desk NULL: a desk of its own without a cap. log NULL: lines go
 * to stderr as "callwatch: <name>: ...". CW_ERR_NOMEM naming the server. */
int cw_pbx_ingest_init(cw_pbx_ingest_t *ing, const char *name, void (*log)(void *user, const char *line),
                       void *log_user, cw_pbxcalls_t *desk, cw_error_t *err);

/* Lets go of the desk. */
void cw_pbx_ingest_fini(cw_pbx_ingest_t *ing);

/* One log line (no newline), through the server's log. */
void cw_pbx_ingest_log(const cw_pbx_ingest_t *ing, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A new call for a stream (label: how the log names the stream): as
 * cw_pbxcall_new; when the desk is full, counts and logs the refusal. */
cw_pbxcall_t *cw_pbx_ingest_call_new(cw_pbx_ingest_t *ing, const cw_pbxcall_opts_t *opts, const char *label,
                                     cw_error_t *err);

/* A connection ended: counts it and logs "<label>: ..." (connected_at: its
 * monotonic start, for the length of a hangup), then ends its leg of call
 * (leg < 0: every leg) when call is not NULL. */
void cw_pbx_ingest_ended(cw_pbx_ingest_t *ing, const char *label, cw_pbx_end_t kind, const char *why,
                         double connected_at, cw_pbxcall_t *call, int leg);

/* Any thread. */
void cw_pbx_ingest_get_stats(const cw_pbx_ingest_t *ing, cw_pbx_stats_t *stats);

/* Monotonic seconds. */
double cw_pbx_now_s(void);

#endif
