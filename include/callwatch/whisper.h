/* whisper.h - whisper prompts: an alert in, a short prompt for the agent out.
 *
 * For each alert the agent's playbook (playbook.h) gives the prompts that fit
 * its kind and what was said; the whisper engine picks one and builds a
 * `whisper` event (topic `whisper.<agent_id>`; fields type, call_id, t,
 * agent_id, prompt, because = the alert id, kind, severity, lang, situation
 * when one matched) - or nothing, because a bad call must not bury the agent:
 * - one prompt per alert episode: a severity step of an episode (an alert
 *   more severe than the one its `escalates` names: info -> warning ->
 *   critical) gets no prompt when its episode already had one, unless it is
 *   critical and that one was not (a same-severity step, a new category of
 *   evidence such as a lawyer after a manager, is not a severity step);
 * - rate limit per agent: after a whisper, the next one for the same agent
 *   waits min_interval_s, unless its alert is critical, of a kind the
 *   playbook marks compliance, of a kind of higher playbook priority than
 *   the last whisper's (a flat-affect prompt never holds back an anger or
 *   escalation one), or more severe than the last whisper's;
 * - no repeat: a prompt said to an agent is not said again to them within
 *   repeat_window_s; the next prompt of the list is taken instead, and when
 *   every one was said recently there is no whisper.
 *
 * Agent identity comes from the call's metadata: cw_whisper_follow() learns
 * it from each call_start (`agent_id`, set from the [line] config) and
 * forgets it at call_end.
 *
 * Not thread-safe: one engine is used by one thread (the outbox thread, via
 * cw_outbox_set_follower()).
 */
#ifndef CALLWATCH_WHISPER_H
#define CALLWATCH_WHISPER_H

#include "callwatch/error.h"
#include "callwatch/event.h"
#include "callwatch/playbook.h"

#include <stdint.h>

typedef struct cw_whisper_params {
    double min_interval_s;  /* >= 0: quiet time per agent after a whisper */
    double repeat_window_s; /* >= 0: a prompt is not repeated to an agent this soon */
} cw_whisper_params_t;

typedef struct cw_whisper_stats {
    uint64_t whispers;     /* whisper events made */
    uint64_t rate_limited; /* alerts with no whisper: the agent had one too recently */
    uint64_t repeats;      /* alerts with no whisper: every fitting prompt was said recently */
    uint64_t same_episode; /* alerts with no whisper: a step of an episode that already had its prompt */
    uint64_t unusable;     /* alerts not understood (bad JSON, unknown kind or severity, no agent) */
} cw_whisper_stats_t;

typedef struct cw_whisper cw_whisper_t;

/* Takes ownership of *playbook (NULLed on success; left to the caller on
 * failure). NULL with a message on bad params or no memory. */
cw_whisper_t *cw_whisper_new(cw_playbook_t **playbook, const cw_whisper_params_t *params, cw_error_t *err);

void cw_whisper_destroy(cw_whisper_t **w);

/* The whisper for one alert event's JSON said to agent_id, at now_s (seconds
 * on any steady clock, for the rate limit). The event's `t` is the alert's.
 * Returns the event (caller owns it), or NULL when rate-limited, all fitting
 * prompts were said recently, or the alert is not usable (counted in stats). */
cw_event_t *cw_whisper_for_alert(cw_whisper_t *w, const char *alert_json, const char *agent_id, double now_s);

/* An outbox follower (cw_outbox_follow_fn): given every event the outbox
 * writes, remembers each call's agent from call_start, forgets it at
 * call_end, and returns the whisper for an alert of a known call (NULL
 * otherwise). Uses CLOCK_MONOTONIC for now_s. */
cw_event_t *cw_whisper_follow(void *w, const cw_event_t *ev);

void cw_whisper_get_stats(const cw_whisper_t *w, cw_whisper_stats_t *stats);

#endif
