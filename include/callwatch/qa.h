/* qa.h - questions QA staff ask of the archive (archive.h): search, a call's
 * timeline, an agent's shift with the flat-affect drift (wellbeing signal).
 *
 * Times: "wall" times are milliseconds since 1970 UTC: a row's wall time is
 * its call's start (call_start.started_at) plus the event's call-audio
 * offset, or the time it was archived when the call's start is unknown.
 * Call times (t, t_start, t_end) are seconds of call audio.
 *
 * Every function runs on the thread using the archive (not an archive given
 * to a sink) and reads through the archive's connection, so it also works
 * while a daemon writes the same file (WAL readers do not block writers).
 * Errors are negative cw_status with a message naming the archive file.
 */
#ifndef CALLWATCH_QA_H
#define CALLWATCH_QA_H

#include "callwatch/archive.h"
#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>

enum cw_qa_type {
    CW_QA_ALERT = 1u << 0,
    CW_QA_TRANSCRIPT = 1u << 1,
    CW_QA_WHISPER = 1u << 2,
    CW_QA_ACK = 1u << 3,
};

typedef struct cw_qa_filter {
    const char *call_id;   /* exact; NULL or "" = any (likewise below) */
    const char *agent_id;  /* exact, the call's agent (a whisper's own agent_id first) */
    const char *kind;      /* alert/whisper kind, exact; excludes transcripts and acks */
    const char *severity;  /* "info" | "warning" | "critical", exact; excludes transcripts and acks */
    const char *text;      /* case-insensitive (ASCII) substring of the transcript text, the
                              alert's text line, the whisper prompt or the ack note */
    long long since_ms;    /* wall time >= since; 0 = open */
    long long until_ms;    /* wall time < until; 0 = open */
    unsigned types;        /* CW_QA_* mask; 0 = alerts, plus transcripts when text is set */
    long limit;            /* rows at most; 0 = all */
} cw_qa_filter_t;

/* One archived event. Strings are never NULL ("" when absent) and valid only
 * during the callback. */
typedef struct cw_qa_row {
    const char *type;      /* "alert", "transcript", "whisper", "ack" */
    const char *call_id;
    const char *agent_id;
    const char *leg;
    const char *id;        /* alert id; the alert acknowledged (ack) or answered (whisper) */
    const char *kind;
    const char *severity;
    const char *text;      /* transcript text, alert text, whisper prompt, ack "by: note" */
    double score;          /* alerts; NAN otherwise */
    double t;              /* place on the call's timeline, call seconds (NAN if unknown) */
    double t_start, t_end; /* span, call seconds; NAN when absent */
    long long wall_ms;     /* 0 when unknown */
    const char *json;      /* the event exactly as it was on the bus */
    const char *acked_at;  /* ack: wall time it was made, ISO-8601 UTC ("" otherwise or unknown) */
    double ack_after_s;    /* ack: seconds from the alert (call start + its t) to acked_at; NAN when unknown */
} cw_qa_row_t;

/* Called per row; a non-zero return stops the query (and is returned). */
typedef int (*cw_qa_row_fn)(void *user, const cw_qa_row_t *row);

/* Rows matching every filter, in wall-time order. 0, the callback's
 * non-zero return, or a negative cw_status. */
int cw_qa_search(cw_archive_t *a, const cw_qa_filter_t *f, cw_qa_row_fn fn, void *user, cw_error_t *err);

typedef struct cw_qa_call {
    char call_id[128];
    char agent_id[128];
    char line[128];
    char team[128];
    char started_at[64];   /* as in call_start; "" unknown */
    long long started_ms;  /* 0 unknown */
    double duration_s;     /* NAN while the call has no call_end */
    char end_reason[128];
    long alerts, transcripts, whispers, acks;
} cw_qa_call_t;

/* What the archive knows of one call. CW_ERR_NOT_FOUND when it has no row
 * of that call at all. */
int cw_qa_call_info(cw_archive_t *a, const char *call_id, cw_qa_call_t *out, cw_error_t *err);

/* A call's transcript segments, alerts, whispers and acks interleaved by
 * their place on the call's timeline: a transcript at its start, an alert at
 * the end of its evidence (when it became apparent), a whisper at its t, an
 * ack right after the alert it acknowledges. CW_ERR_NOT_FOUND as above. */
int cw_qa_timeline(cw_archive_t *a, const char *call_id, cw_qa_row_fn fn, void *user, cw_error_t *err);

/* Drift thresholds, from a JSON file (models/wellbeing.json documents them). */
typedef struct cw_qa_drift_params {
    int min_calls;            /* calls with a measure needed to judge (>= 2) */
    double slope_st_per_call; /* least-squares slope at most this (negative: falling) */
    double drop_st;           /* first-third mean minus last-third mean at least this */
} cw_qa_drift_params_t;

/* Reads the thresholds; the error names the file and the field. */
int cw_qa_drift_params_load(const char *path, cw_qa_drift_params_t *p, cw_error_t *err);

typedef struct cw_qa_shift_call {
    char call_id[128];
    long long started_ms;
    double duration_s;     /* NAN unknown */
    int alerts, critical, warning, flat_affect;
    bool hostile;          /* the customer was angry or threatened to escalate */
    double measure;        /* agent F0 spread in semitones (lower = flatter); NAN none */
    const char *measure_source; /* "summary" (call_end prosody_summary), "alerts" (flat_affect evidence) or "" */
} cw_qa_shift_call_t;

typedef struct cw_qa_shift_hour {
    long long hour_ms;     /* start of the UTC hour */
    int calls;             /* calls that started in it */
    int alerts, critical, warning, info, flat_affect;
} cw_qa_shift_hour_t;

typedef struct cw_qa_shift {
    char agent_id[128];
    long long since_ms, until_ms;  /* the window used (until 0 = open) */
    cw_qa_shift_call_t *calls;     /* by start time */
    size_t n_calls;
    cw_qa_shift_hour_t *hours;     /* only hours with a call or an alert, in order */
    size_t n_hours;
    long alerts;
    int hostile_calls;
    int measured;                  /* calls with a measure */
    double slope_st_per_call;      /* NAN with fewer than 2 measured calls */
    double first_third_st, last_third_st; /* means; NAN likewise */
    bool drift;                    /* thresholds met: the agent is going flat */
} cw_qa_shift_t;

/* The agent's calls that started in [since, until) (until 0 = open). since 0
 * = 12 hours before the agent's latest archived call. CW_ERR_NOT_FOUND when
 * the agent has no call in the archive at all. *out is freed with
 * cw_qa_shift_free. */
int cw_qa_shift(cw_archive_t *a, const char *agent_id, long long since_ms, long long until_ms,
                const cw_qa_drift_params_t *p, cw_qa_shift_t **out, cw_error_t *err);

void cw_qa_shift_free(cw_qa_shift_t **s);

/* A time given by a user: an ISO-8601 date or date and time in UTC
 * ("2024-05-01", "2024-05-01T14:00", "2024-05-01 14:00:30Z") or a span ago
 * ("90m", "2h", "7d"). CW_ERR_INVALID with the accepted forms otherwise. */
int cw_qa_parse_time(cw_archive_t *a, const char *text, long long *out_ms, cw_error_t *err);

/* "2024-05-01 14:00:30Z" (UTC) into buf; "-" for 0. Returns buf. */
const char *cw_qa_format_time(long long wall_ms, char *buf, size_t cap);

#endif
