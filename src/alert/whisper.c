/* whisper.c - see callwatch/whisper.h */
#include "callwatch/whisper.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Prompts remembered per agent for the no-repeat rule: more than any
 * playbook list holds for one alert, so a rotation never forgets early. */
#define RECENT_PROMPTS 16
/* Agents and calls remembered; beyond that the least recently seen is
 * forgotten, so a daemon running for months stays bounded. */
#define MAX_AGENTS 4096
#define MAX_CALLS 4096
/* Alerts remembered for the one-prompt-per-episode rule: an episode's steps
 * come within seconds, so the last few hundred alerts of a node are enough. */
#define RECENT_ALERTS 512
#define CRITICAL_RANK 3

typedef struct agent_state {
    char *id;
    double last_whisper_s;
    int last_severity;
    int last_priority; /* the playbook priority of the last whisper's kind */
    bool has_whisper;
    double last_seen_s;
    struct {
        const char *prompt; /* owned by the playbook; compared by address */
        double at_s;
    } recent[RECENT_PROMPTS];
    size_t recent_next;
} agent_state_t;

/* One alert seen, for finding the episode a later step continues. */
typedef struct seen_alert {
    char *id;
    size_t episode;     /* index into recent alerts of the episode's first alert */
    int rank;           /* its severity rank */
    int prompted_rank;  /* on the episode's first alert: severity rank prompted for, 0 = none yet */
} seen_alert_t;

typedef struct call_agent {
    char *call_id;
    char *agent_id;
    uint64_t seq; /* for forgetting the oldest */
} call_agent_t;

struct cw_whisper {
    cw_playbook_t *playbook;
    cw_whisper_params_t params;
    agent_state_t *agents;
    size_t n_agents;
    call_agent_t *calls;
    size_t n_calls;
    uint64_t call_seq;
    seen_alert_t *alerts; /* ring of RECENT_ALERTS */
    size_t alerts_next;
    cw_whisper_stats_t stats;
};

cw_whisper_t *cw_whisper_new(cw_playbook_t **playbook, const cw_whisper_params_t *params, cw_error_t *err)
{
    if (!playbook || !*playbook || !params) {
        cw_error_set(err, CW_ERR_INVALID, "whisper: no playbook or params");
        return NULL;
    }
    if (!(params->min_interval_s >= 0) || !(params->repeat_window_s >= 0)) {
        cw_error_set(err, CW_ERR_INVALID, "whisper: min_interval_s and repeat_window_s must be >= 0");
        return NULL;
    }
    cw_whisper_t *w = calloc(1, sizeof *w);
    if (w) {
        w->agents = calloc(MAX_AGENTS, sizeof *w->agents);
        w->calls = calloc(MAX_CALLS, sizeof *w->calls);
        w->alerts = calloc(RECENT_ALERTS, sizeof *w->alerts);
    }
    if (!w || !w->agents || !w->calls || !w->alerts) {
        if (w) {
            free(w->agents);
            free(w->calls);
            free(w->alerts);
            free(w);
        }
        cw_error_set(err, CW_ERR_NOMEM, "whisper: out of memory");
        return NULL;
    }
    w->playbook = *playbook;
    *playbook = NULL;
    w->params = *params;
    return w;
}

void cw_whisper_destroy(cw_whisper_t **wp)
{
    if (!wp || !*wp)
        return;
    cw_whisper_t *w = *wp;
    for (size_t i = 0; i < w->n_agents; i++)
        free(w->agents[i].id);
    for (size_t i = 0; i < w->n_calls; i++) {
        free(w->calls[i].call_id);
        free(w->calls[i].agent_id);
    }
    for (size_t i = 0; i < RECENT_ALERTS; i++)
        free(w->alerts[i].id);
    free(w->agents);
    free(w->calls);
    free(w->alerts);
    cw_playbook_destroy(&w->playbook);
    free(w);
    *wp = NULL;
}

void cw_whisper_get_stats(const cw_whisper_t *w, cw_whisper_stats_t *stats)
{
    *stats = w->stats;
}

static int severity_rank(const char *s)
{
    if (strcmp(s, "info") == 0)
        return 1;
    if (strcmp(s, "warning") == 0)
        return 2;
    if (strcmp(s, "critical") == 0)
        return 3;
    return 0;
}

static agent_state_t *find_agent(cw_whisper_t *w, const char *id, double now_s)
{
    for (size_t i = 0; i < w->n_agents; i++)
        if (strcmp(w->agents[i].id, id) == 0)
            return &w->agents[i];
    char *copy = strdup(id);
    if (!copy)
        return NULL;
    size_t slot = w->n_agents;
    if (slot == MAX_AGENTS) {
        slot = 0;
        for (size_t i = 1; i < w->n_agents; i++)
            if (w->agents[i].last_seen_s < w->agents[slot].last_seen_s)
                slot = i;
        free(w->agents[slot].id);
    } else {
        w->n_agents++;
    }
    agent_state_t *a = &w->agents[slot];
    memset(a, 0, sizeof *a);
    a->id = copy;
    a->last_seen_s = now_s;
    return a;
}

static bool said_recently(const agent_state_t *a, const char *prompt, double now_s, double window_s)
{
    for (size_t i = 0; i < RECENT_PROMPTS; i++)
        if (a->recent[i].prompt == prompt && now_s - a->recent[i].at_s < window_s)
            return true;
    return false;
}

/* The first evidence category the playbook has prompts of its own for. */
static const char *find_situation(const cw_playbook_t *pb, const char *kind, json_t *alert)
{
    json_t *words = json_object_get(json_object_get(alert, "evidence"), "words");
    size_t i;
    json_t *wd;
    json_array_foreach(words, i, wd) {
        const char *cat = json_string_value(json_object_get(wd, "category"));
        if (cat && cw_playbook_has_situation(pb, kind, cat))
            return cat;
    }
    return NULL;
}

static cw_event_t *make_event(const cw_whisper_t *w, json_t *alert, const char *agent_id, const char *prompt,
                              const char *kind, const char *severity, const char *situation)
{
    char topic[CW_TOPIC_MAX];
    int n = snprintf(topic, sizeof topic, "whisper.%s", agent_id);
    if (n < 0 || (size_t)n >= sizeof topic)
        return NULL;
    double t = json_number_value(json_object_get(alert, "t"));
    json_t *obj = json_object();
    json_object_set_new(obj, "type", json_string("whisper"));
    json_object_set(obj, "call_id", json_object_get(alert, "call_id"));
    json_object_set_new(obj, "t", json_real(isfinite(t) ? round(t * 1000.0) / 1000.0 : 0.0));
    json_object_set_new(obj, "agent_id", json_string(agent_id));
    json_object_set_new(obj, "prompt", json_string(prompt));
    json_object_set(obj, "because", json_object_get(alert, "id"));
    json_object_set_new(obj, "kind", json_string(kind));
    json_object_set_new(obj, "severity", json_string(severity));
    json_object_set_new(obj, "lang", json_string(cw_playbook_lang(w->playbook)));
    if (situation)
        json_object_set_new(obj, "situation", json_string(situation));
    return cw_event_from_json(topic, obj);
}

/* Remembers alert id as a step of the episode of the alert it escalates
 * (or as the start of a new episode); returns the slot of the episode's
 * first alert, or SIZE_MAX when out of memory. *severity_step: it continues
 * an episode at a higher severity than the alert it escalates (a step of
 * the same severity is a new category of evidence: news of its own). */
static size_t note_alert(cw_whisper_t *w, const char *id, const char *escalates, int rank, bool *severity_step)
{
    size_t episode = SIZE_MAX;
    *severity_step = false;
    for (size_t i = 0; escalates && i < RECENT_ALERTS && episode == SIZE_MAX; i++)
        if (w->alerts[i].id && strcmp(w->alerts[i].id, escalates) == 0) {
            episode = w->alerts[i].episode;
            *severity_step = rank > w->alerts[i].rank;
        }
    char *copy = strdup(id);
    if (!copy)
        return SIZE_MAX;
    size_t slot = w->alerts_next;
    w->alerts_next = (w->alerts_next + 1) % RECENT_ALERTS;
    seen_alert_t *s = &w->alerts[slot];
    free(s->id);
    /* The slot may have held an episode's first alert: its later steps then
     * start afresh, which costs one extra prompt at worst. */
    *s = (seen_alert_t){.id = copy, .episode = slot, .rank = rank, .prompted_rank = 0};
    if (episode != SIZE_MAX && episode != slot && w->alerts[episode].id)
        s->episode = episode;
    return s->episode;
}

/* Whether a step of an episode that already had a prompt gets one more:
 * only a critical step after a prompt that was not critical. */
static bool episode_allows(const seen_alert_t *first, int rank)
{
    return first->prompted_rank == 0 || (rank == CRITICAL_RANK && first->prompted_rank < CRITICAL_RANK);
}

/* The per-agent rate limit: within min_interval_s of the last whisper only a
 * prompt that matters more gets through. */
static bool rate_allows(const cw_whisper_t *w, const agent_state_t *a, const char *kind, int rank, double now_s)
{
    if (!a->has_whisper || now_s - a->last_whisper_s >= w->params.min_interval_s)
        return true;
    return rank == CRITICAL_RANK || cw_playbook_is_compliance(w->playbook, kind) || rank > a->last_severity ||
           cw_playbook_priority(w->playbook, kind) > a->last_priority;
}

cw_event_t *cw_whisper_for_alert(cw_whisper_t *w, const char *alert_json, const char *agent_id, double now_s)
{
    json_t *alert = alert_json ? json_loads(alert_json, 0, NULL) : NULL;
    const char *type = json_string_value(json_object_get(alert, "type"));
    const char *kind = json_string_value(json_object_get(alert, "kind"));
    const char *severity = json_string_value(json_object_get(alert, "severity"));
    cw_event_t *ev = NULL;
    size_t n_prompts = 0;
    const char *const *prompts = NULL;
    const char *situation = NULL;
    if (type && strcmp(type, "alert") == 0 && kind && severity && agent_id && agent_id[0] &&
        json_is_string(json_object_get(alert, "id")) && json_is_string(json_object_get(alert, "call_id"))) {
        situation = find_situation(w->playbook, kind, alert);
        prompts = cw_playbook_prompts(w->playbook, kind, severity, situation, &n_prompts);
    }
    agent_state_t *a = prompts ? find_agent(w, agent_id, now_s) : NULL;
    if (!a) {
        w->stats.unusable++;
        goto out;
    }
    a->last_seen_s = now_s;
    int rank = severity_rank(severity);
    bool severity_step;
    size_t episode = note_alert(w, json_string_value(json_object_get(alert, "id")),
                                json_string_value(json_object_get(alert, "escalates")), rank, &severity_step);
    if (episode != SIZE_MAX && severity_step && !episode_allows(&w->alerts[episode], rank)) {
        w->stats.same_episode++;
        goto out;
    }
    if (!rate_allows(w, a, kind, rank, now_s)) {
        w->stats.rate_limited++;
        goto out;
    }
    const char *prompt = NULL;
    for (size_t i = 0; i < n_prompts && !prompt; i++)
        if (!said_recently(a, prompts[i], now_s, w->params.repeat_window_s))
            prompt = prompts[i];
    if (!prompt) {
        w->stats.repeats++;
        goto out;
    }
    ev = make_event(w, alert, agent_id, prompt, kind, severity, situation);
    if (!ev) {
        w->stats.unusable++;
        goto out;
    }
    a->has_whisper = true;
    a->last_whisper_s = now_s;
    a->last_severity = rank;
    a->last_priority = cw_playbook_priority(w->playbook, kind);
    if (episode != SIZE_MAX)
        w->alerts[episode].prompted_rank = rank;
    a->recent[a->recent_next].prompt = prompt;
    a->recent[a->recent_next].at_s = now_s;
    a->recent_next = (a->recent_next + 1) % RECENT_PROMPTS;
    w->stats.whispers++;
out:
    json_decref(alert);
    return ev;
}

static call_agent_t *find_call(cw_whisper_t *w, const char *call_id)
{
    for (size_t i = 0; i < w->n_calls; i++)
        if (strcmp(w->calls[i].call_id, call_id) == 0)
            return &w->calls[i];
    return NULL;
}

static void forget_call(cw_whisper_t *w, call_agent_t *c)
{
    free(c->call_id);
    free(c->agent_id);
    *c = w->calls[--w->n_calls];
}

static void remember_call(cw_whisper_t *w, const char *call_id, const char *agent_id)
{
    call_agent_t *c = find_call(w, call_id);
    if (c)
        forget_call(w, c);
    if (w->n_calls == MAX_CALLS) {
        size_t oldest = 0;
        for (size_t i = 1; i < w->n_calls; i++)
            if (w->calls[i].seq < w->calls[oldest].seq)
                oldest = i;
        forget_call(w, &w->calls[oldest]);
    }
    char *cid = strdup(call_id), *aid = strdup(agent_id);
    if (!cid || !aid) {
        free(cid);
        free(aid);
        return;
    }
    w->calls[w->n_calls++] = (call_agent_t){.call_id = cid, .agent_id = aid, .seq = ++w->call_seq};
}

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

cw_event_t *cw_whisper_follow(void *user, const cw_event_t *ev)
{
    cw_whisper_t *w = user;
    bool is_start = strcmp(ev->type, "call_start") == 0;
    bool is_end = strcmp(ev->type, "call_end") == 0;
    bool is_alert = strcmp(ev->type, "alert") == 0;
    if (!is_start && !is_end && !is_alert)
        return NULL;
    if (is_alert) {
        /* Alerts are rare: parsing one twice (here for the call, in
         * cw_whisper_for_alert for the rest) costs nothing worth an API. */
        json_t *obj = json_loads(ev->json, 0, NULL);
        const char *call_id = json_string_value(json_object_get(obj, "call_id"));
        call_agent_t *c = call_id ? find_call(w, call_id) : NULL;
        cw_event_t *out = NULL;
        if (c)
            out = cw_whisper_for_alert(w, ev->json, c->agent_id, monotonic_s());
        else
            w->stats.unusable++;
        json_decref(obj);
        return out;
    }
    json_t *obj = json_loads(ev->json, 0, NULL);
    const char *call_id = json_string_value(json_object_get(obj, "call_id"));
    const char *agent_id = json_string_value(json_object_get(obj, "agent_id"));
    if (call_id && is_start && agent_id && agent_id[0])
        remember_call(w, call_id, agent_id);
    else if (call_id && is_end) {
        call_agent_t *c = find_call(w, call_id);
        if (c)
            forget_call(w, c);
    }
    json_decref(obj);
    return NULL;
}
