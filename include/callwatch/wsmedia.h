/* wsmedia.h - the messages of the WebSocket media-stream protocols, decoded
 * without any networking (websocket.h serves them; this module is what is
 * unit tested and fuzzed).
 *
 * One session is one WebSocket connection, i.e. one call with both legs.
 * Protocols (written from their public descriptions):
 *
 *   CW_WSMEDIA_FREESWITCH (path /freeswitch): FreeSWITCH mod_audio_fork. The
 *     first message is a text frame holding the metadata JSON given to
 *     `uuid_audio_fork ... start URL MIX RATE METADATA`; callwatch reads
 *       {"call_id": "...", "agent_id": "...", "team": "...",
 *        "sample_rate": 8000|16000, "channels": 1|2,
 *        "leg": "agent"|"customer"  (channels 1: which leg it is; default customer),
 *        "agent_channel": 0|1       (channels 2: default 0, the other is the customer)}
 *     (call_id required; sample_rate and channels required). Then binary
 *     frames of signed 16-bit little-endian PCM, stereo interleaved. Later text
 *     frames are ignored. A close frame ends the call normally.
 *
 *   CW_WSMEDIA_TWILIO (path /twilio): Twilio Media Streams. Text frames of
 *     JSON with "event": "connected", then "start" (start.callSid = call id,
 *     start.tracks, start.mediaFormat {encoding "audio/x-mulaw", sampleRate
 *     8000, channels 1}, start.customParameters {agent_id, team}), "media"
 *     (media.track "inbound" = customer, "outbound" = agent; media.payload
 *     base64 G.711 u-law; media.timestamp, ms from the stream's start: a
 *     track that skipped audio gets the silence it missed first, so both
 *     legs share one timeline), "stop" (the normal end). "mark", "dtmf" and
 *     unknown events are ignored. Binary frames are an error.
 *
 *   CW_WSMEDIA_AUDIOHOOK (path /audiohook): Genesys Cloud AudioHook. Text
 *     frames of JSON {"version": "2", "type", "seq", "id", "parameters"}.
 *     "open" offers parameters.media (a list of {type "audio", format,
 *     channels, rate}); the session takes the first PCMU 8000 Hz offer whose
 *     channels are "external" (customer) and/or "internal" (agent), answers
 *     "opened" with it. Call id = parameters.conversationId; agent_id and team
 *     from parameters.customConfig or parameters.inputVariables. Binary frames
 *     are PCMU, interleaved in the offered channel order. "ping" is answered
 *     "pong", "close" is answered "closed" and ends the call normally; other
 *     types ("update", "paused", "resumed", "discarded", "dtmf", "error") are
 *     ignored.
 *
 * Every error names what was wrong ("media before start", "sample_rate 44100
 * not supported (8000 or 16000)", the JSON parser's line and column ...); after
 * an error the session is failed and every call fails the same way.
 *
 * Not thread-safe: one session is fed by one thread. Decoding allocates
 * nothing per message except jansson's parse of a text frame (JSON protocols
 * cannot avoid it); binary audio is decoded into buffers made by _new.
 */
#ifndef CALLWATCH_WSMEDIA_H
#define CALLWATCH_WSMEDIA_H

#include "callwatch/config.h"
#include "callwatch/cue.h"
#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum cw_wsmedia_protocol {
    CW_WSMEDIA_FREESWITCH = 0,
    CW_WSMEDIA_TWILIO = 1,
    CW_WSMEDIA_AUDIOHOOK = 2,
    CW_WSMEDIA_PROTOCOLS = 3
} cw_wsmedia_protocol;

/* The protocol served on a request path ("/twilio", "/twilio?x=1" ...), or -1. */
int cw_wsmedia_protocol_for_path(const char *path);

/* "freeswitch" / "twilio" / "audiohook". */
const char *cw_wsmedia_protocol_name(cw_wsmedia_protocol protocol);

/* What the stream's metadata says; complete once CW_WSMEDIA_STARTED was seen. */
typedef struct cw_wsmedia_meta {
    char call_id[CW_NAME_MAX];
    char agent_id[CW_NAME_MAX]; /* "" = not given */
    char team[CW_NAME_MAX];     /* "" = not given */
    int rate_hz;                /* of both legs */
    bool has_leg[CW_LEG_COUNT];
} cw_wsmedia_meta_t;

enum cw_wsmedia_events {
    CW_WSMEDIA_STARTED = 1u << 0, /* the metadata arrived: see cw_wsmedia_session_meta */
    CW_WSMEDIA_AUDIO = 1u << 1,   /* samples[] / n[] hold audio */
    CW_WSMEDIA_REPLY = 1u << 2,   /* reply must be sent back as a text frame */
    CW_WSMEDIA_ENDED = 1u << 3    /* the peer ended the stream normally */
};

/* What one message produced. Pointers are owned by the session and valid
 * until its next feed. */
typedef struct cw_wsmedia_result {
    unsigned events;                       /* cw_wsmedia_events */
    const int16_t *samples[CW_LEG_COUNT];  /* audio per leg, rate meta.rate_hz */
    size_t n[CW_LEG_COUNT];                /* samples per leg (0 for a leg not in this message) */
    const char *reply;                     /* NUL-terminated JSON text */
} cw_wsmedia_result_t;

typedef struct cw_wsmedia_session cw_wsmedia_session_t;

/* A session of protocol accepting messages of up to max_message_bytes
 * (64..16 MiB). NULL when out of memory or arguments out of range. */
cw_wsmedia_session_t *cw_wsmedia_session_new(cw_wsmedia_protocol protocol, size_t max_message_bytes);

/* Frees and NULLs *s; accepts NULL. */
void cw_wsmedia_session_destroy(cw_wsmedia_session_t **s);

/* Decodes one complete WebSocket message (binary or text; text need not be
 * NUL-terminated). Returns CW_OK with *out filled, or CW_ERR_FORMAT with err
 * saying what was wrong (malformed JSON, a required field missing, audio
 * before the metadata, an unsupported format or rate, a message over the
 * maximum, a message after the end). */
int cw_wsmedia_session_feed(cw_wsmedia_session_t *s, bool binary, const uint8_t *data, size_t n,
                            cw_wsmedia_result_t *out, cw_error_t *err);

/* The metadata (valid after CW_WSMEDIA_STARTED). */
const cw_wsmedia_meta_t *cw_wsmedia_session_meta(const cw_wsmedia_session_t *s);

/* Whether the metadata arrived / the peer ended the stream normally. */
bool cw_wsmedia_session_started(const cw_wsmedia_session_t *s);
bool cw_wsmedia_session_ended(const cw_wsmedia_session_t *s);

/* After a failed feed: the message the protocol sends a peer before the
 * server closes on an error (AudioHook: "disconnect" with reason "error" and
 * the failure as info, once "open" gave the session id), or NULL. Owned by
 * the session, valid until its next call. */
const char *cw_wsmedia_session_farewell(cw_wsmedia_session_t *s);

/* Decodes one G.711 u-law byte to a 16-bit linear sample. */
int16_t cw_wsmedia_ulaw_decode(uint8_t u);

#endif
