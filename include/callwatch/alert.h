/* alert.h - the alert engine: evidence in, explainable alert events out.
 *
 * Detectors offer evidence for one (leg, kind) at a time: a score in 0..1,
 * the span of call audio it covers, and a JSON evidence object (the words,
 * the prosodic numbers). The engine maps the score to a severity with the
 * configured thresholds and keeps one *episode* per (leg, kind): the first
 * evidence over the info threshold opens it with an alert; later evidence
 * within cooldown_s of the last only produces a new alert if the severity
 * rises (escalation, linked to the previous alert by `escalates`). So one
 * episode gives one alert, or a short escalating series, never a storm.
 * For the kinds listed in new_category_kinds, evidence that brings a new
 * category (its `evidence.words[].category`: a "lawyer" threat inside an
 * episode of "manager" ones) also gives one more alert at the episode's
 * severity, linked by `escalates`, so a new threat reaches the supervisor
 * even when the episode is critical. Every alert continuing such an episode
 * names the categories it is the first to bring in `new_categories`.
 *
 * Not thread-safe: one engine per call, used under the call's detector lock.
 */
#ifndef CALLWATCH_ALERT_H
#define CALLWATCH_ALERT_H

#include "callwatch/error.h"
#include "callwatch/event.h"

#include <jansson.h>

typedef enum cw_severity {
    CW_SEVERITY_NONE = 0,
    CW_SEVERITY_INFO = 1,     /* for the record */
    CW_SEVERITY_WARNING = 2,  /* interrupts a supervisor */
    CW_SEVERITY_CRITICAL = 3  /* interrupts a supervisor, now */
} cw_severity;

/* "info", "warning", "critical" ("none" for CW_SEVERITY_NONE). */
const char *cw_severity_name(cw_severity s);

typedef struct cw_alert_params {
    double info_score;     /* scores at or above open an episode, 0 < info <= warning <= critical <= 1 */
    double warning_score;
    double critical_score;
    double cooldown_s;     /* evidence this close to the last keeps the episode open (>= 0) */
    char new_category_kinds[64]; /* comma-separated kinds ("escalation") that alert on a new category;
                                    "" = none */
} cw_alert_params_t;

typedef struct cw_alert_engine cw_alert_engine_t;

/* call_id is copied. NULL with a message on bad thresholds or no memory. */
cw_alert_engine_t *cw_alert_engine_new(const char *call_id, const cw_alert_params_t *params, cw_error_t *err);

void cw_alert_engine_destroy(cw_alert_engine_t **engine);

/* The severity a score maps to. */
cw_severity cw_alert_severity(const cw_alert_engine_t *engine, double score);

/* Offers evidence for leg (0 agent, 1 customer) and kind ("anger", ...).
 * score in 0..1 (clamped); t_start..t_end the evidence span and t_now the
 * call audio processed, all in call seconds. evidence: a JSON object,
 * reference stolen (also when no alert results); text: the one-line human
 * explanation. Returns the alert event to post (caller owns it) or NULL when
 * the score is below info or the episode already alerted at this severity
 * (and, for new_category_kinds, the evidence names no category the episode
 * has not alerted on yet). */
cw_event_t *cw_alert_engine_offer(cw_alert_engine_t *engine, int leg, const char *kind, double score,
                                  double t_start, double t_end, double t_now, json_t *evidence,
                                  const char *text);

/* Alerts emitted so far. */
unsigned cw_alert_engine_count(const cw_alert_engine_t *engine);

#endif
