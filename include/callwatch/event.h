/* event.h - the events of the callwatch contract (../shared/BRIEF.md).
 *
 * An event is a topic plus one JSON object, serialised once by the thread that
 * creates it (with jansson) so sinks only copy bytes. Every event has `type`,
 * `call_id` and `t` (seconds of call audio processed when it was emitted).
 * Topics: `call.<call_id>`, `transcript.<leg>.<call_id>`,
 * `alert.<kind>.<call_id>`, `whisper.<agent_id>`.
 *
 * An event is immutable after creation and owned by whoever holds the pointer;
 * ownership moves with cw_outbox_post().
 */
#ifndef CALLWATCH_EVENT_H
#define CALLWATCH_EVENT_H

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

/* Serialises obj (reference stolen, also on failure) under topic.
 * obj must hold a string "type". NULL when out of memory. */
cw_event_t *cw_event_from_json(const char *topic, json_t *obj);

void cw_event_destroy(cw_event_t **ev);

/* Metadata of a call for call_start. Strings may be NULL (omitted). */
typedef struct cw_call_meta {
    const char *line;         /* [line NAME] or "file" */
    const char *agent_id;
    const char *source;       /* human description of the source */
    int rate_hz[2];           /* native rate of each leg, 0 if absent */
    int has_leg[2];
} cw_call_meta_t;

cw_event_t *cw_event_call_start(const char *call_id, double t, const cw_call_meta_t *meta);

/* reason: "eof", "hangup", "shutdown", "device_lost: <message>", ...
 * frames_dropped: audio frames lost on the way in (0 normally), per leg. */
cw_event_t *cw_event_call_end(const char *call_id, double t, const char *reason,
                              double duration_s, const unsigned long long frames_dropped[2]);

cw_event_t *cw_event_transcript(const char *call_id, double t, const cw_transcript_t *tr);

#endif
