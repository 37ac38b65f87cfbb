/* overload.c - see callwatch/overload.h */
#include "callwatch/overload.h"

#include "callwatch/event.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Calls remembered at once; beyond this, newer calls are simply not degraded. */
#define TRACK_MAX 1024
/* Least time between two degrade steps: a switch shows in the backlog only
 * once the decoders take the leg's next utterance. */
#define STEP_S 1.0

typedef struct tracked {
    cw_call_t *call;
    char call_id[CW_NAME_MAX];
    uint64_t seq;                       /* order of first sight: higher = newer call */
    bool seen;                          /* in this update's list */
    uint64_t degraded_at[CW_LEG_COUNT]; /* change order when degraded; 0 = not degraded */
} tracked_t;

struct cw_overload {
    double degrade_s, recover_s, hold_s;
    char node[CW_NAME_MAX];
    cw_outbox_t *outbox;
    tracked_t calls[TRACK_MAX];
    int n_calls;
    uint64_t next_seq;
    uint64_t next_change;
    int n_degraded;
    double started_s;   /* first update: status events' t counts from here */
    double last_change_s;
    double calm_since_s; /* < 0: backlog not below recover_s now */
};

cw_overload_t *cw_overload_new(const cw_config_t *cfg, const char *node, cw_outbox_t *outbox, cw_error_t *err)
{
    cw_overload_t *g = calloc(1, sizeof *g);
    if (!g) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the overload governor");
        return NULL;
    }
    g->degrade_s = cfg->asr_degrade_backlog_s;
    g->recover_s = cfg->asr_recover_backlog_s;
    g->hold_s = cfg->asr_recover_hold_s;
    snprintf(g->node, sizeof g->node, "%s", node ? node : "");
    g->outbox = outbox;
    g->started_s = -1;
    g->last_change_s = -1e9;
    g->calm_since_s = -1;
    return g;
}

void cw_overload_destroy(cw_overload_t **g)
{
    if (!g || !*g)
        return;
    free(*g);
    *g = NULL;
}

static json_t *leg_json(const tracked_t *t, int leg, const char *mode)
{
    json_t *o = json_object();
    json_object_set_new(o, "call_id", json_string(t->call_id));
    json_object_set_new(o, "leg", json_string(leg == CW_LEG_AGENT ? "agent" : "customer"));
    json_object_set_new(o, "mode", json_string(mode));
    return o;
}

static void announce(cw_overload_t *g, const char *change, const tracked_t *t, int leg, const char *reason,
                     double now_s)
{
    json_t *legs = json_array();
    json_array_append_new(legs, leg_json(t, leg, strcmp(change, "degrade") == 0 ? "cue" : "full"));
    json_t *degraded = json_array();
    for (int i = 0; i < g->n_calls; i++)
        for (int l = 0; l < CW_LEG_COUNT; l++)
            if (g->calls[i].degraded_at[l])
                json_array_append_new(degraded, leg_json(&g->calls[i], l, "cue"));
    fprintf(stderr, "callwatch: overload: %s %s leg of call %s (%s); %d leg(s) degraded\n",
            strcmp(change, "degrade") == 0 ? "switched to cue mode the" : "returned to full mode the",
            leg == CW_LEG_AGENT ? "agent" : "customer", t->call_id, reason, g->n_degraded);
    cw_event_t *ev = cw_event_status(g->node, now_s - g->started_s, change, reason, legs, degraded);
    if (ev)
        cw_outbox_post(g->outbox, &ev);
}

/* Keeps the table in step with the calls now up. */
static void sync_calls(cw_overload_t *g, cw_call_t *const *calls, int n_calls)
{
    for (int i = 0; i < g->n_calls; i++)
        g->calls[i].seen = false;
    for (int c = 0; c < n_calls; c++) {
        if (!calls[c])
            continue;
        const char *id = cw_call_id(calls[c]);
        int found = -1;
        for (int i = 0; i < g->n_calls && found < 0; i++)
            if (g->calls[i].call == calls[c] && strcmp(g->calls[i].call_id, id) == 0)
                found = i;
        if (found < 0 && g->n_calls < TRACK_MAX) {
            found = g->n_calls++;
            memset(&g->calls[found], 0, sizeof g->calls[found]);
            g->calls[found].call = calls[c];
            snprintf(g->calls[found].call_id, sizeof g->calls[found].call_id, "%s", id);
            g->calls[found].seq = ++g->next_seq;
        }
        if (found >= 0)
            g->calls[found].seen = true;
    }
    int kept = 0;
    for (int i = 0; i < g->n_calls; i++) {
        if (g->calls[i].seen) {
            g->calls[kept++] = g->calls[i];
            continue;
        }
        for (int l = 0; l < CW_LEG_COUNT; l++)
            g->n_degraded -= g->calls[i].degraded_at[l] != 0; /* the call ended degraded */
    }
    g->n_calls = kept;
}

/* Agent legs before customer legs, newest call first. */
static bool pick_to_degrade(cw_overload_t *g, int *call_idx, int *leg_out)
{
    for (int leg = CW_LEG_AGENT; leg < CW_LEG_COUNT; leg++) {
        int best = -1;
        for (int i = 0; i < g->n_calls; i++) {
            const tracked_t *t = &g->calls[i];
            if (cw_call_ended(t->call) || !cw_call_can_degrade(t->call, leg))
                continue;
            if (best < 0 || t->seq > g->calls[best].seq)
                best = i;
        }
        if (best >= 0) {
            *call_idx = best;
            *leg_out = leg;
            return true;
        }
    }
    return false;
}

/* The leg degraded last. */
static bool pick_to_recover(cw_overload_t *g, int *call_idx, int *leg_out)
{
    uint64_t latest = 0;
    for (int i = 0; i < g->n_calls; i++)
        for (int l = 0; l < CW_LEG_COUNT; l++)
            if (g->calls[i].degraded_at[l] > latest) {
                latest = g->calls[i].degraded_at[l];
                *call_idx = i;
                *leg_out = l;
            }
    return latest != 0;
}

int cw_overload_update(cw_overload_t *g, cw_asr_pool_t *pool, cw_call_t *const *calls, int n_calls, double now_s)
{
    if (!g || !pool)
        return 0;
    if (g->started_s < 0)
        g->started_s = now_s;
    sync_calls(g, calls, n_calls);
    if (!(g->degrade_s > 0))
        return g->n_degraded;
    cw_asr_pool_stats_t st;
    cw_asr_pool_get_stats(pool, &st);
    char reason[256];
    int ci, leg;
    if (st.backlog_max_s >= g->degrade_s) {
        g->calm_since_s = -1;
        if (now_s - g->last_change_s < STEP_S || !pick_to_degrade(g, &ci, &leg))
            return g->n_degraded;
        snprintf(reason, sizeof reason,
                 "decoder backlog %.1f s >= degrade_backlog_s %.1f s (%d of %d decoders busy, %d utterances queued)",
                 st.backlog_max_s, g->degrade_s, st.busy_decoders, cw_asr_pool_workers(pool), st.queued_utterances);
        cw_call_set_degraded(g->calls[ci].call, leg, true);
        g->calls[ci].degraded_at[leg] = ++g->next_change;
        g->n_degraded++;
        g->last_change_s = now_s;
        announce(g, "degrade", &g->calls[ci], leg, reason, now_s);
        return g->n_degraded;
    }
    if (st.backlog_max_s >= g->recover_s) {
        g->calm_since_s = -1;
        return g->n_degraded;
    }
    if (g->calm_since_s < 0)
        g->calm_since_s = now_s;
    if (now_s - g->calm_since_s < g->hold_s || !pick_to_recover(g, &ci, &leg))
        return g->n_degraded;
    snprintf(reason, sizeof reason, "decoder backlog %.1f s < recover_backlog_s %.1f s for %.0f s", st.backlog_max_s,
             g->recover_s, g->hold_s);
    cw_call_set_degraded(g->calls[ci].call, leg, false);
    g->calls[ci].degraded_at[leg] = 0;
    g->n_degraded--;
    g->last_change_s = now_s;
    g->calm_since_s = now_s; /* each return needs a calm period of its own */
    announce(g, "recover", &g->calls[ci], leg, reason, now_s);
    return g->n_degraded;
}
