/* board.h - the supervisor's view of the bus, without the drawing.
 *
 * The console (src/app/cmd_console.c) feeds every event it receives into a
 * board and draws what the board says; tests feed events and check the
 * model. The board keeps:
 * - calls: one per call id seen (call_start, or any event of a call joined
 *   late), with agent, team, line, the heat of each leg and the latest
 *   alert; an ended call stays (marked ended) for the linger time
 *   (CW_BOARD_LINGER_S unless cw_board_set_linger() says otherwise), with
 *   its transcript, then is dropped;
 * - heat of a leg: the score (0..1) of its most recent alerts, fading by
 *   half every CW_BOARD_HEAT_HALF_LIFE_S of wall time, the highest wins;
 * - the alert feed: the last CW_BOARD_FEED_MAX alerts, newest first, each
 *   with its one-line reason, a summary of the evidence and, once
 *   acknowledged, who and when (from ack events on the bus);
 * - per call, the last CW_BOARD_TRANSCRIPT_MAX final transcript lines (a
 *   line from a leg in cue mode, `"mode":"cue"`, is marked spotted: the
 *   phrases spotted, not what was said);
 * - filters (agent, team, kind; "" = any) applied to the calls and feed a
 *   caller lists.
 *
 * Times given as now_s are any steady clock in seconds (the console uses
 * CLOCK_MONOTONIC). Not thread-safe: one thread owns a board. Strings
 * returned point into the board and are valid until the next call that
 * changes it (apply, tick, forget).
 */
#ifndef CALLWATCH_BOARD_H
#define CALLWATCH_BOARD_H

#include <stdbool.h>
#include <stddef.h>

#define CW_BOARD_FEED_MAX 500
#define CW_BOARD_TRANSCRIPT_MAX 40
#define CW_BOARD_LINGER_S 10.0
#define CW_BOARD_HEAT_HALF_LIFE_S 60.0
#define CW_BOARD_TEXT_MAX 512
#define CW_BOARD_ID_MAX 128

typedef struct cw_board cw_board_t;

typedef struct cw_board_alert {
    char id[CW_BOARD_ID_MAX];
    char call_id[CW_BOARD_ID_MAX];
    char agent_id[CW_BOARD_ID_MAX]; /* "" when the call's start was not seen */
    char team[CW_BOARD_ID_MAX];
    char kind[32];
    char severity[16];              /* "info", "warning", "critical" */
    char leg[16];
    double score;
    double t_start, t_end;          /* call-audio seconds of the evidence */
    double seen_s;                  /* now_s when it arrived */
    char text[CW_BOARD_TEXT_MAX];   /* the alert's one-line reason */
    char evidence[CW_BOARD_TEXT_MAX]; /* words said, prosodic numbers */
    bool acked;
    char acked_by[CW_BOARD_ID_MAX];
    bool acked_verified;            /* the daemon checked acked_by against its users */
    char acked_at[40];
} cw_board_alert_t;

typedef struct cw_board_line {
    char leg[16];
    double t_start;
    char text[CW_BOARD_TEXT_MAX];
    bool spotted;                   /* cue mode: spotted keyphrases only */
} cw_board_line_t;

typedef struct cw_board_call {
    char call_id[CW_BOARD_ID_MAX];
    char agent_id[CW_BOARD_ID_MAX];
    char team[CW_BOARD_ID_MAX];
    char line[CW_BOARD_ID_MAX];
    double first_seen_s;            /* now_s of its first event */
    double t;                       /* latest call-audio seconds seen */
    bool ended;
    double ended_s;
    double heat_score[2];           /* per leg (0 agent, 1 customer): peak alert score ... */
    double heat_at_s[2];            /* ... and when it came */
    char latest_kind[32];           /* "" until the call has an alert */
    char latest_severity[16];
    char latest_text[CW_BOARD_TEXT_MAX];
    cw_board_line_t lines[CW_BOARD_TRANSCRIPT_MAX]; /* ring */
    size_t n_lines, next_line;
} cw_board_call_t;

cw_board_t *cw_board_new(void);
void cw_board_destroy(cw_board_t **b);

/* Feeds one event (its topic and JSON). Returns 1 when the board changed, 0
 * when the event was ignored (unknown type, not JSON, missing fields). */
int cw_board_apply(cw_board_t *b, const char *topic, const char *json, double now_s);

/* Drops calls ended more than the linger time ago. */
void cw_board_tick(cw_board_t *b, double now_s);

/* How long an ended call stays on the board, seconds >= 0 (default
 * CW_BOARD_LINGER_S). Returns 0, or -1 (nothing changed) for a negative or
 * non-finite value. */
int cw_board_set_linger(cw_board_t *b, double seconds);

/* Forgets every call (the daemon restarted: its calls are gone). The feed
 * stays, so alerts can still be read and acknowledged. */
void cw_board_forget_calls(cw_board_t *b);

/* Forgets one call (the daemon no longer has it). 1 if it was there. */
int cw_board_drop_call(cw_board_t *b, const char *call_id);

/* Filters: field "agent", "team" or "kind"; value "" or NULL clears it.
 * Returns 0, or -1 for an unknown field. kind filters the feed only. */
int cw_board_set_filter(cw_board_t *b, const char *field, const char *value);
const char *cw_board_filter(const cw_board_t *b, const char *field);

/* Parses "agent=alice team=north kind=anger" (any subset, any order; ""
 * clears all) into the filters. Returns 0 or -1 with nothing changed. */
int cw_board_parse_filter(cw_board_t *b, const char *text);

/* Calls passing the filters, in order of arrival. */
size_t cw_board_n_calls(const cw_board_t *b);
const cw_board_call_t *cw_board_call(const cw_board_t *b, size_t i);
const cw_board_call_t *cw_board_find_call(const cw_board_t *b, const char *call_id);

/* Every call, filters or not, in order of arrival. */
size_t cw_board_n_calls_all(const cw_board_t *b);
const cw_board_call_t *cw_board_call_all(const cw_board_t *b, size_t i);

/* Calls passing the filters, most urgent first: live calls before ended
 * ones; then by the severity of the worst unacknowledged alert (critical,
 * warning, info, none), then by the hotter leg's heat at now_s, then in
 * order of arrival. Fills out[0..] with up to cap calls, returns how many. */
size_t cw_board_calls_by_urgency(const cw_board_t *b, double now_s, const cw_board_call_t **out, size_t cap);

/* The call's worst unacknowledged alert still in the feed (most severe,
 * then newest), or NULL when it has none. */
const cw_board_alert_t *cw_board_worst_unacked(const cw_board_t *b, const char *call_id);

/* Heat of a call's leg at now_s, 0..1. */
double cw_board_heat(const cw_board_call_t *c, int leg, double now_s);

/* Alerts passing the filters, newest first. */
size_t cw_board_n_feed(const cw_board_t *b);
const cw_board_alert_t *cw_board_feed(const cw_board_t *b, size_t i);

/* Final transcript lines of a call, oldest first (i < n). */
size_t cw_board_n_transcript(const cw_board_call_t *c);
const cw_board_line_t *cw_board_transcript(const cw_board_call_t *c, size_t i);

#endif
