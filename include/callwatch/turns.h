/* turns.h - turn-taking cues from the two legs' voice activity.
 *
 * talk_over: the agent starts speaking while the customer is still speaking
 * and both go on together for at least talk_over_s.
 * dead_air: neither leg has spoken for dead_air_s while the call is up
 * (counted from the end of the last speech; silence before anyone spoke is
 * ringing or hold, not dead air).
 *
 * Fed with each leg's activity as the call's audio is processed; returns the
 * cues found, each with its span and numbers, for the alert engine. A dead
 * air cue is offered again as the silence grows (its score rises with it);
 * a talk-over is reported once per agent talk spurt.
 *
 * Not thread-safe: one per call, driven by the call's ingest thread.
 */
#ifndef CALLWATCH_TURNS_H
#define CALLWATCH_TURNS_H

#include "callwatch/cue.h"
#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cw_turns_params {
    double talk_over_s; /* overlap that counts as talking over (> 0) */
    double dead_air_s;  /* silence that counts as dead air (> 0) */
} cw_turns_params_t;

typedef struct cw_turn_cue {
    const char *kind;  /* "talk_over" or "dead_air" (static) */
    int leg;           /* 0 agent (the talk-over, or the leg expected to fill the silence) */
    double t_start, t_end;
    double score;      /* 0..1 */
    double seconds;    /* the overlap or the silence */
} cw_turn_cue_t;

typedef struct cw_turns cw_turns_t;

cw_turns_t *cw_turns_new(const cw_turns_params_t *params, cw_error_t *err);
void cw_turns_destroy(cw_turns_t **turns);

/* The legs' activity with both legs' audio processed up to now_s (call
 * seconds, non-decreasing). Writes up to cap cues into out and returns how
 * many. */
size_t cw_turns_update(cw_turns_t *turns, const cw_activity_t *agent, const cw_activity_t *customer, double now_s,
                       cw_turn_cue_t *out, size_t cap);

#endif
