/* event.h - the events of the callwatch contract (../shared/BRIEF.md).
 *
 * An event is a topic plus one JSON object, serialised once by the thread that
 * creates it (with jansson) so sinks only copy bytes. Every event has `type`,
 * `call_id` and `t` (seconds of call audio processed when it was emitted).
 * Topics: `call.<call_id>`, `transcript.<leg>.<call_id>`,
 * `alert.<kind>.<call_id>`, `whisper.<agent_id>`, `ack.<call_id>`.
 *
 * An event is immutable after creation and owned by whoever holds the pointer;
 * ownership moves with cw_outbox_post().
 *
 * Numbers: the builders below round times (`t`, `t_start`, `t_end`,
 * `duration_s`) to the millisecond and `conf` to 0.001; every real is printed
 * with at most 10 significant digits, so 1.23 prints as 1.23. A non-finite
 * number (NaN, inf) is written as 0. Strings that are not valid UTF-8 have
 * each bad byte replaced by U+FFFD, so an event is always valid JSON.
 *
 * Every function here is thread-safe (no shared state); a builder returns
 * NULL when out of memory or given an argument it cannot encode (said below),
 * and cw_outbox_post() counts a NULL event as lost.
 */
#ifndef CALLWATCH_EVENT_H
#define CALLWATCH_EVENT_H

#include "callwatch/error.h"
#include "callwatch/transcript.h"

#include <jansson.h>
#include <stddef.h>

#define CW_TOPIC_MAX 256

typedef struct cw_event {
    char topic[CW_TOPIC_MAX];
    char type[32];   /* "call_start", "transcript", ... */
    char *json;      /* owned, NUL-terminated, compact, no newline */
    size_t json_len;
} cw_event_t;

/* Serialises obj (reference stolen, also on failure) under topic, compact,
 * in the object's insertion order. NULL when out of memory, when obj is not
 * an object with a string "type" shorter than 32 bytes, or when topic is NULL
 * or not shorter than CW_TOPIC_MAX. */
cw_event_t *cw_event_from_json(const char *topic, json_t *obj);

/* Frees *ev and NULLs it. Accepts NULL and a NULL *ev. */
void cw_event_destroy(cw_event_t **ev);

/* Metadata of a call for call_start. Strings may be NULL (omitted). */
typedef struct cw_call_meta {
    const char *line;         /* [line NAME] or "file" */
    const char *agent_id;
    const char *source;       /* human description of the source */
    int rate_hz[2];           /* native rate of each leg, 0 if absent */
    int has_leg[2];
    const char *team;         /* the agent's team; NULL or "" = omitted */
    const char *started_at;   /* when the call really started (a recording's time), in the form
                                 cw_event_parse_time writes; NULL or "" = now */
} cw_call_meta_t;

/* Topic `call.<call_id>`. Fields: type, call_id, t, line, agent_id, source
 * (each omitted when NULL), team (omitted when NULL or ""), legs {"agent": {"rate_hz": N}, "customer": {...}}
 * (only the legs with has_leg set; {} when meta is NULL), started_at
 * (meta->started_at, else the wall clock now: ISO-8601 UTC with milliseconds,
 * "2024-05-01T12:34:56.789Z").
 * NULL if call_id is NULL or the topic would not fit CW_TOPIC_MAX. */
cw_event_t *cw_event_call_start(const char *call_id, double t, const cw_call_meta_t *meta);

/* Parses an ISO-8601 date and time, "2024-05-01T12:34:56", with 'T' or a
 * space between date and time, optional seconds and fraction, and a zone "Z",
 * "+02:00", "+0200" or none (= UTC), and writes it as UTC with milliseconds,
 * "2024-05-01T10:34:56.000Z", into out (>= 32 bytes). Returns 0, or
 * CW_ERR_INVALID with a message quoting the text and the expected form. */
int cw_event_parse_time(const char *text, char *out, size_t cap, cw_error_t *err);

/* Topic `call.<call_id>`. Fields: type, call_id, t, reason, duration_s,
 * frames_dropped {"agent": N, "customer": N}.
 * reason: "eof", "hangup", "shutdown", "device_lost: <message>", ... (NULL is
 * written as "unknown").
 * frames_dropped: audio frames lost on the way in (0 normally), indexed by
 * leg id (0 agent, 1 customer); NULL means none.
 * voice: optional (NULL: omitted) object stolen into field `prosody_summary`, each
 * leg's prosody over the whole call ({"agent": {"f0_spread_st": ...}, ...},
 * voice.h), what QA compares across an agent's shift. */
cw_event_t *cw_event_call_end(const char *call_id, double t, const char *reason,
                              double duration_s, const unsigned long long frames_dropped[2], json_t *voice);

/* Topic `transcript.<leg>.<call_id>`. Fields: type, call_id, t, leg
 * ("agent"|"customer"), t_start, t_end, text (NULL is written as ""), words
 * [{w, t_start, t_end, conf}] (one per tr->words, possibly []), final (bool),
 * utterance (int). tr is only read during the call.
 * NULL if call_id or tr is NULL, tr->leg is not 0 or 1, n_words > 0 with
 * words NULL, or the topic would not fit CW_TOPIC_MAX. */
cw_event_t *cw_event_transcript(const char *call_id, double t, const cw_transcript_t *tr);

/* Topic `ack.<call_id>`: a supervisor acknowledged an alert. Fields: type
 * "ack", call_id, t (0: not tied to call audio), alert_id, by, at (wall
 * clock now, ISO-8601 UTC with milliseconds), acked_at (the same instant:
 * when the acknowledgement was made, what time-to-acknowledge is measured
 * from), note (omitted when NULL or ""), verified (true when the daemon
 * checked who `by` is against its users file, users.h), role (the user's
 * role; only when verified).
 * NULL if call_id, alert_id or by is NULL or the topic would not fit. */
cw_event_t *cw_event_ack(const char *call_id, const char *alert_id, const char *by, const char *note);

/* Same, with the role of a verified user (role NULL = unverified, as
 * cw_event_ack()). */
cw_event_t *cw_event_ack_verified(const char *call_id, const char *alert_id, const char *by, const char *role,
                                  const char *note);
/* Topic `status.<node>`. Fields: type "status", call_id "", t (seconds the
 * node has been up), node, change ("degrade" | "recover"), reason (one line:
 * why), legs (the legs this change switched: [{call_id, leg, mode}]),
 * degraded (every leg degraded now, same shape), legs_degraded (its length).
 * legs and degraded are stolen (NULL: []). NULL if node is NULL or the topic
 * would not fit. */
cw_event_t *cw_event_status(const char *node, double t, const char *change, const char *reason, json_t *legs,
                            json_t *degraded);

/* The JSON of ev with one more integer field `key` after the others (an
 * existing `key` is replaced in place), serialised like ev->json (same flags,
 * same field order). How the bus adds its per-topic `seq` (bus.h) without
 * touching the event, which the archive and JSON Lines write unchanged.
 * Returns a malloc'd NUL-terminated string (caller frees) and its length in
 * *len; NULL when out of memory or ev->json is not a JSON object. Cost: one
 * parse and one dump of ev->json (a few microseconds per kB). */
char *cw_event_json_with_int(const cw_event_t *ev, const char *key, long long value, size_t *len);

#endif
