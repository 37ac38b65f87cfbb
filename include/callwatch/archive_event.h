/* archive_event.h - what the archive (archive.h) stores of one event: which
 * table it goes to and the values of that table's insert, in the parameter
 * order both backends' statements use (archive.c for SQLite, archive_pg.c
 * for PostgreSQL), so the mapping from event JSON to columns is written once.
 *
 * Parameters by kind ($n; "now" = the time the event is archived, standing
 * in for a row's wall time when its call's start is unknown):
 *   call_start  1 call_id 2 agent_id 3 line 4 team 5 source 6 started_at 7 now 8 json
 *               (legs: the "legs" object, field "rate_hz")
 *   call_end    1 call_id 2 duration_s 3 reason 4 json 5 now 6 prosody_summary (JSON)
 *               7 agent f0_spread_st (legs: the "frames_dropped" object, values)
 *   transcript  1 call_id 2 leg 3 t 4 t_start 5 t_end 6 utterance 7 text 8 now 9 json
 *   alert       1 id 2 call_id 3 leg 4 kind 5 severity 6 score 7 t 8 t_start 9 t_end 10 text
 *               11 escalates 12 evidence (JSON) 13 now 14 json
 *   whisper     1 call_id 2 agent_id 3 t 4 because 5 kind 6 severity 7 lang 8 prompt 9 now 10 json
 *   ack         1 call_id 2 alert_id 3 by 4 at 5 note 6 now 7 json 8 acked_at
 *   other       1 call_id 2 type 3 topic 4 t 5 now 6 json
 * Strings are the event's string fields (NULL when absent or not a string),
 * numbers its number fields as REAL (NULL when absent), json the event text.
 *
 * Pure: no database, any thread; an event value is used by one thread.
 */
#ifndef CALLWATCH_ARCHIVE_EVENT_H
#define CALLWATCH_ARCHIVE_EVENT_H

#include "callwatch/error.h"

#include <jansson.h>

#define CW_ARCHIVE_EVENT_PARAMS 14

typedef enum cw_archive_event_kind {
    CW_AEV_SKIP,        /* not kept: a partial transcript (the final segment supersedes it) */
    CW_AEV_CALL_START,
    CW_AEV_CALL_END,
    CW_AEV_TRANSCRIPT,
    CW_AEV_ALERT,       /* an alert with a string id; one without goes to other */
    CW_AEV_WHISPER,
    CW_AEV_ACK,
    CW_AEV_OTHER,
} cw_archive_event_kind_t;

typedef enum cw_archive_value_type { CW_AV_NULL, CW_AV_TEXT, CW_AV_INT, CW_AV_REAL } cw_archive_value_type_t;

typedef struct cw_archive_value {
    cw_archive_value_type_t type;
    const char *text;      /* CW_AV_TEXT: owned by the event */
    long long i;           /* CW_AV_INT */
    double d;              /* CW_AV_REAL */
} cw_archive_value_t;

typedef struct cw_archive_event {
    cw_archive_event_kind_t kind;
    const char *call_id;                        /* never NULL after a successful parse */
    cw_archive_value_t v[CW_ARCHIVE_EVENT_PARAMS]; /* v[0] is $1 */
    int n;                                      /* parameters used */
    const json_t *legs;                         /* per-leg integers (see above) or NULL */
    const char *legs_field;                     /* field of each leg's object, NULL = the value itself */
    json_t *obj;                                /* the parsed event (owned) */
    char *dumped[2];                            /* JSON columns (owned) */
} cw_archive_event_t;

/* Parses json (an event as on the bus, which must stay valid while ev is
 * used) into ev. CW_ERR_INVALID, naming `name` (the archive) and topic, when
 * it is not a JSON object with string type and call_id. Free with
 * cw_archive_event_free() also after a failure. */
int cw_archive_event_parse(cw_archive_event_t *ev, const char *topic, const char *json, long long now_ms,
                           const char *name, cw_error_t *err);

void cw_archive_event_free(cw_archive_event_t *ev);

#endif
