/* turns.c - see callwatch/turns.h */
#include "callwatch/turns.h"

#include <stdlib.h>

/* Re-offer a growing dead air at most this often (seconds of call audio):
 * enough for the engine to escalate its severity, not a flood. */
#define DEAD_AIR_REOFFER_S 1.0

struct cw_turns {
    cw_turns_params_t params;
    bool customer_was_talking;
    double customer_spurt_start;
    double reported_agent_spurt;  /* agent spurt start already reported as talk-over */
    double dead_air_from;         /* silence start last reported, < 0 none */
    double dead_air_last_offer;
};

cw_turns_t *cw_turns_new(const cw_turns_params_t *params, cw_error_t *err)
{
    if (!params || !(params->talk_over_s > 0) || !(params->dead_air_s > 0)) {
        cw_error_set(err, CW_ERR_INVALID, "turn-taking: talk_over_s and dead_air_s must be > 0");
        return NULL;
    }
    cw_turns_t *t = calloc(1, sizeof *t);
    if (!t) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the turn-taking detector");
        return NULL;
    }
    t->params = *params;
    t->reported_agent_spurt = -1;
    t->dead_air_from = -1;
    t->customer_spurt_start = -1;
    return t;
}

void cw_turns_destroy(cw_turns_t **turns)
{
    if (!turns || !*turns)
        return;
    free(*turns);
    *turns = NULL;
}

static double clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* Score of an overlap: at the threshold an info-to-warning 0.55, rising to
 * 1 at three times it, so a long talk-over is worse than a brief one. */
static double talk_over_score(const cw_turns_params_t *p, double overlap_s)
{
    return clamp01(0.55 + 0.45 * (overlap_s - p->talk_over_s) / (2 * p->talk_over_s));
}

/* Dead air at the threshold is a warning (0.6) and becomes critical (0.85+)
 * at twice the threshold. */
static double dead_air_score(const cw_turns_params_t *p, double silence_s)
{
    return clamp01(0.6 + 0.25 * (silence_s - p->dead_air_s) / p->dead_air_s);
}

size_t cw_turns_update(cw_turns_t *t, const cw_activity_t *agent, const cw_activity_t *customer, double now_s,
                       cw_turn_cue_t *out, size_t cap)
{
    size_t n = 0;
    const cw_turns_params_t *p = &t->params;

    /* Talk-over. The customer's spurt is known from its start; the agent's
     * spurt must begin inside it. While both talk, the overlap is measured up
     * to now; once the customer stopped, up to the end of their speech. */
    if (customer->talking)
        t->customer_spurt_start = customer->since_s;
    double customer_end = customer->talking ? now_s : customer->since_s;
    bool customer_ended_now = t->customer_was_talking && !customer->talking;
    t->customer_was_talking = customer->talking;
    if (agent->talking && agent->since_s != t->reported_agent_spurt && t->customer_spurt_start >= 0 &&
        agent->since_s > t->customer_spurt_start && agent->since_s < customer_end &&
        (customer->talking || customer_ended_now)) {
        double overlap = customer_end - agent->since_s;
        if (overlap >= p->talk_over_s && n < cap) {
            out[n++] = (cw_turn_cue_t){.kind = "talk_over", .leg = 0, .t_start = agent->since_s,
                                       .t_end = customer_end, .score = talk_over_score(p, overlap),
                                       .seconds = overlap};
            t->reported_agent_spurt = agent->since_s;
        }
    }

    /* Dead air: both quiet since the later of their last spurts. */
    if (!agent->talking && !customer->talking && (agent->since_s >= 0 || customer->since_s >= 0)) {
        double from = agent->since_s > customer->since_s ? agent->since_s : customer->since_s;
        double silence = now_s - from;
        if (silence >= p->dead_air_s && n < cap &&
            (from != t->dead_air_from || now_s - t->dead_air_last_offer >= DEAD_AIR_REOFFER_S)) {
            out[n++] = (cw_turn_cue_t){.kind = "dead_air", .leg = 0, .t_start = from, .t_end = now_s,
                                       .score = dead_air_score(p, silence), .seconds = silence};
            t->dead_air_from = from;
            t->dead_air_last_offer = now_s;
        }
    }
    return n;
}
