/* audiosocket.h - calls streamed in by a PBX over Asterisk's AudioSocket protocol.
 *
 * Protocol (docs.asterisk.org, Configuration/Channel-Drivers/AudioSocket, and
 * Asterisk's res/res_audiosocket.c): a TCP stream of messages, each a 3-byte
 * header - kind (1 byte), payload length (uint16, big-endian) - followed by
 * that many payload bytes. Kinds:
 *   0x00 hangup (no payload)           0x01 UUID (16 bytes, binary RFC 4122)
 *   0x03 DTMF digit (1 ASCII byte)     0x10 audio: signed 16-bit little-endian
 *   0xff error (optional payload: Asterisk's bit-packed code, 0x01 hangup of
 *        calling party, 0x02 frame forwarding error, 0x04 memory error)
 * The dialplan application AudioSocket(uuid,host:port) connects, sends the
 * UUID first, then the channel's audio as 8 kHz mono frames; when the channel
 * hangs up it simply closes the socket ("socket closure is also sufficient").
 *
 * One connection is one leg. The two legs of a call are joined by their UUID:
 * they differ only in the lowest bit of the last hex digit, an even digit
 * (...0) is the agent leg and an odd one (...1) the customer leg. The call id
 * is the agent form of the UUID (lower case, canonical 8-4-4-4-12 text).
 * A call starts once both legs are connected, or pair_timeout_ms after its
 * first leg connected with that leg alone; a leg arriving after its call has
 * started alone is refused. The later leg of a pair is preceded by silence
 * for the time it missed, so the legs stay aligned.
 *
 * A connection that breaks the protocol (unknown kind, a length over
 * max_frame_bytes or wrong for its kind, anything but a UUID first, a second
 * UUID, a leg already connected, no UUID within first_frame_timeout_ms, no
 * data for idle_timeout_ms, closed in the middle of a frame, reset) is closed
 * alone, with one log line naming the peer address and what was wrong; other
 * connections and calls are not affected.
 *
 * Capacity: a new call takes a place at the server's desk (pbxcall.h, the
 * node's [ingest] max_calls). When the desk is full, the connection whose
 * UUID would start a new call is sent an error message (kind 0xff) whose
 * payload is the reason as text ("this node is at capacity: ...; try another
 * node") and closed, with a log line; the calls running are not affected.
 *
 * Threading: the server runs its own thread (one poll loop, non-blocking
 * sockets). cw_audiosocket_accept_call and cw_audiosocket_get_stats may be
 * called from any one other thread. Audio crosses from the server thread to
 * the call's source through one lock-free ring per leg (pbxcall.h); a source
 * returned by cw_audiosocket_accept_call is read by one thread, like every
 * source, and stays valid after the server is destroyed (it then ends).
 */
#ifndef CALLWATCH_AUDIOSOCKET_H
#define CALLWATCH_AUDIOSOCKET_H

#include "callwatch/config.h"
#include "callwatch/error.h"
#include "callwatch/pbxcall.h"
#include "callwatch/source.h"

#include <stddef.h>
#include <stdint.h>

#define CW_AUDIOSOCKET_HEADER_BYTES 3
#define CW_AUDIOSOCKET_UUID_BYTES 16
/* Canonical UUID text plus the terminating NUL. */
#define CW_AUDIOSOCKET_UUID_TEXT 37
/* Sample rate of kind 0x10 audio. */
#define CW_AUDIOSOCKET_RATE_HZ 8000

typedef enum cw_audiosocket_kind {
    CW_AUDIOSOCKET_HANGUP = 0x00,
    CW_AUDIOSOCKET_UUID = 0x01,
    CW_AUDIOSOCKET_DTMF = 0x03,
    CW_AUDIOSOCKET_AUDIO = 0x10,
    CW_AUDIOSOCKET_ERROR = 0xff
} cw_audiosocket_kind;

/* ---- frame decoder ------------------------------------------------------ */

/* An incremental decoder of one connection's byte stream. Not thread-safe. */
typedef struct cw_audiosocket_parser cw_audiosocket_parser_t;

typedef struct cw_audiosocket_frame {
    int kind;               /* a cw_audiosocket_kind */
    size_t length;          /* payload bytes */
    const uint8_t *payload; /* owned by the parser; valid until the next feed */
} cw_audiosocket_frame_t;

/* A decoder accepting payloads of up to max_payload_bytes (1..65535).
 * NULL when out of memory or max_payload_bytes is out of range. */
cw_audiosocket_parser_t *cw_audiosocket_parser_new(size_t max_payload_bytes);

/* Frees and NULLs *parser; accepts NULL. */
void cw_audiosocket_parser_destroy(cw_audiosocket_parser_t **parser);

/* Consumes bytes of data[0..n) up to the end of the next complete frame and
 * sets *used to the number consumed. Returns 1 with *frame filled when a frame
 * completed, 0 when all n bytes went into an unfinished frame, or CW_ERR_FORMAT
 * with err saying what was wrong: an unknown kind, a length over the maximum,
 * a length wrong for the kind (UUID not 16, DTMF not 1, hangup not 0, audio
 * odd). Errors are detected on the header, before any payload is read. After
 * an error every call fails the same way. Chunking does not matter: any split
 * of the same bytes yields the same frames. */
int cw_audiosocket_parser_feed(cw_audiosocket_parser_t *parser, const uint8_t *data, size_t n, size_t *used,
                               cw_audiosocket_frame_t *frame, cw_error_t *err);

/* Bytes of an unfinished frame held (0 = at a frame boundary). */
size_t cw_audiosocket_parser_pending(const cw_audiosocket_parser_t *parser);

/* Writes the canonical lower-case text of a 16-byte UUID into out
 * (CW_AUDIOSOCKET_UUID_TEXT bytes). */
void cw_audiosocket_uuid_text(const uint8_t uuid[CW_AUDIOSOCKET_UUID_BYTES], char out[CW_AUDIOSOCKET_UUID_TEXT]);

/* ---- server --------------------------------------------------------------- */

typedef struct cw_audiosocket cw_audiosocket_t;

typedef struct cw_audiosocket_opts {
    const char *listen;          /* "host:port", "[v6addr]:port", "*:port"; port 0 = any free port */
    int max_connections;         /* open connections (legs) at once; more are refused */
    int first_frame_timeout_ms;  /* the UUID must arrive this soon after connecting */
    int idle_timeout_ms;         /* a leg sending nothing this long is closed */
    int pair_timeout_ms;         /* how long a first leg waits for its partner */
    int max_frame_bytes;         /* largest payload accepted, 16..65535 */
    double ring_s;               /* seconds of audio buffered per leg for the call */
    /* Where started calls wait and the cap on calls at once, shared with the
     * node's other PBX server (retained); NULL: a desk of its own, no cap. */
    cw_pbxcalls_t *desk;
    /* Receives each log line (no newline), on the server thread (or on the
     * thread of cw_audiosocket_accept_call for its out-of-memory failures).
     * NULL: the line goes to stderr as "callwatch: audiosocket: ...". */
    void (*log)(void *user, const char *line);
    void *log_user;
} cw_audiosocket_opts_t;

/* Fills opts from the [audiosocket] and [capture] sections of cfg. */
void cw_audiosocket_opts_from_config(const cw_config_t *cfg, cw_audiosocket_opts_t *opts);

/* Binds and listens on opts->listen and starts the server thread. Errors name
 * the address: unparsable, unresolvable, in use, options out of range. */
cw_audiosocket_t *cw_audiosocket_new(const cw_audiosocket_opts_t *opts, cw_error_t *err);

/* Stops the thread, closes every connection (their legs end with
 * "disconnect: server shutting down") and frees the server; NULLs *as.
 * Sources already handed out stay valid. Accepts NULL. */
void cw_audiosocket_destroy(cw_audiosocket_t **as);

/* The bound address as "host:port" (the real port when 0 was asked for). */
const char *cw_audiosocket_address(const cw_audiosocket_t *as);
int cw_audiosocket_port(const cw_audiosocket_t *as);

typedef struct cw_audiosocket_call {
    char call_id[CW_AUDIOSOCKET_UUID_TEXT]; /* the agent form of the UUID */
    char agent_id[CW_NAME_MAX];             /* "" : the protocol does not say who the agent is */
} cw_audiosocket_call_t;

/* Non-blocking. When a call is ready at the server's desk (with a shared
 * desk: any server's; the daemon takes them with cw_pbxcalls_take, which
 * also says who the agent is), sets *source to a new source carrying
 * its legs at 8000 Hz (ownership passes to the caller), fills *call and
 * returns 1; returns 0 when no call is waiting. The source ends (EOF) once
 * every leg has ended and its audio was read; cw_source_end_reason then says
 * "hangup" or "disconnect: <leg> leg: <why>". */
int cw_audiosocket_accept_call(cw_audiosocket_t *as, cw_source_t **source, cw_audiosocket_call_t *call);

/* Counters (pbxcall.h): connections accepted, refused at once (max_connections),
 * closed for protocol errors, cut off, ended normally, calls started, refused
 * at capacity ([ingest] max_calls), open now. */
typedef cw_pbx_stats_t cw_audiosocket_stats_t;

/* Counters since start; any thread. */
void cw_audiosocket_get_stats(const cw_audiosocket_t *as, cw_audiosocket_stats_t *stats);

#endif
