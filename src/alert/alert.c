/* alert.c - see callwatch/alert.h */
#include "callwatch/alert.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIND_MAX 32
#define MAX_EPISODES 32 /* (leg, kind) pairs one call can have open */
#define ALERT_ID_MAX (CW_TOPIC_MAX + 16)
#define CATEGORIES_MAX 16 /* evidence categories one episode remembers */
#define CATEGORY_MAX 32

typedef struct episode {
    int leg;
    char kind[KIND_MAX];
    cw_severity severity;     /* highest alerted so far */
    double last_evidence_t;   /* end of the latest evidence over info */
    char last_id[ALERT_ID_MAX];
    bool open;
    char categories[CATEGORIES_MAX][CATEGORY_MAX]; /* evidence categories alerted on in this episode */
    size_t n_categories;
} episode_t;

struct cw_alert_engine {
    char call_id[CW_TOPIC_MAX];
    cw_alert_params_t params;
    episode_t episodes[MAX_EPISODES];
    unsigned n_alerts;
};

static const char *const leg_names[2] = {"agent", "customer"};

const char *cw_severity_name(cw_severity s)
{
    switch (s) {
    case CW_SEVERITY_INFO: return "info";
    case CW_SEVERITY_WARNING: return "warning";
    case CW_SEVERITY_CRITICAL: return "critical";
    default: return "none";
    }
}

cw_alert_engine_t *cw_alert_engine_new(const char *call_id, const cw_alert_params_t *p, cw_error_t *err)
{
    if (!call_id || !p) {
        cw_error_set(err, CW_ERR_INVALID, "alert engine: no call id or parameters");
        return NULL;
    }
    if (!(p->info_score > 0 && p->info_score <= p->warning_score && p->warning_score <= p->critical_score &&
          p->critical_score <= 1)) {
        cw_error_set(err, CW_ERR_INVALID,
                     "alert thresholds must satisfy 0 < info_score <= warning_score <= critical_score <= 1 "
                     "(got %g, %g, %g)",
                     p->info_score, p->warning_score, p->critical_score);
        return NULL;
    }
    if (!(p->cooldown_s >= 0)) {
        cw_error_set(err, CW_ERR_INVALID, "alert cooldown_s must be >= 0, got %g", p->cooldown_s);
        return NULL;
    }
    cw_alert_engine_t *e = calloc(1, sizeof *e);
    if (!e) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the alert engine");
        return NULL;
    }
    snprintf(e->call_id, sizeof e->call_id, "%s", call_id);
    e->params = *p;
    return e;
}

void cw_alert_engine_destroy(cw_alert_engine_t **engine)
{
    if (!engine || !*engine)
        return;
    free(*engine);
    *engine = NULL;
}

cw_severity cw_alert_severity(const cw_alert_engine_t *e, double score)
{
    if (score >= e->params.critical_score)
        return CW_SEVERITY_CRITICAL;
    if (score >= e->params.warning_score)
        return CW_SEVERITY_WARNING;
    if (score >= e->params.info_score)
        return CW_SEVERITY_INFO;
    return CW_SEVERITY_NONE;
}

static episode_t *find_episode(cw_alert_engine_t *e, int leg, const char *kind)
{
    episode_t *free_slot = NULL;
    for (int i = 0; i < MAX_EPISODES; i++) {
        episode_t *ep = &e->episodes[i];
        if (ep->kind[0] && ep->leg == leg && strcmp(ep->kind, kind) == 0)
            return ep;
        if (!ep->kind[0] && !free_slot)
            free_slot = ep;
    }
    if (free_slot) {
        free_slot->leg = leg;
        snprintf(free_slot->kind, sizeof free_slot->kind, "%s", kind);
    }
    return free_slot;
}

static double round_to(double x, double unit)
{
    return isfinite(x) ? round(x / unit) * unit : 0;
}

/* Is kind in the comma-separated list? */
static bool in_kind_list(const char *list, const char *kind)
{
    size_t k = strlen(kind);
    for (const char *s = list; *s;) {
        size_t n = strcspn(s, ",");
        if (n == k && strncmp(s, kind, n) == 0)
            return true;
        s += n + (s[n] == ',');
    }
    return false;
}

static bool has_category(const episode_t *ep, const char *cat)
{
    for (size_t i = 0; i < ep->n_categories; i++)
        if (strcmp(ep->categories[i], cat) == 0)
            return true;
    return false;
}

/* The categories of evidence.words[] the episode has not alerted on, as a
 * JSON array (empty when none). */
static json_t *new_categories(const episode_t *ep, json_t *evidence)
{
    json_t *out = json_array();
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(evidence, "words"), i, w) {
        const char *cat = json_string_value(json_object_get(w, "category"));
        if (!cat || !*cat || has_category(ep, cat))
            continue;
        bool listed = false;
        size_t j;
        json_t *c;
        json_array_foreach(out, j, c)
            listed |= strcmp(json_string_value(c), cat) == 0;
        if (!listed)
            json_array_append_new(out, json_string(cat));
    }
    return out;
}

/* Remembers the categories of evidence.words[] as alerted on. */
static void note_categories(episode_t *ep, json_t *evidence)
{
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(evidence, "words"), i, w) {
        const char *cat = json_string_value(json_object_get(w, "category"));
        if (cat && *cat && !has_category(ep, cat) && ep->n_categories < CATEGORIES_MAX)
            snprintf(ep->categories[ep->n_categories++], CATEGORY_MAX, "%s", cat);
    }
}

/* The alert event's JSON; evidence is stolen ({} in its place when it is not an object). */
static json_t *alert_json(const cw_alert_engine_t *e, const char *id, int leg, const char *kind, cw_severity sev,
                          double score, double t_start, double t_end, double t_now, json_t *evidence,
                          const char *text)
{
    json_t *obj = json_object();
    json_object_set_new(obj, "type", json_string("alert"));
    json_object_set_new(obj, "call_id", json_string(e->call_id));
    json_object_set_new(obj, "t", json_real(round_to(t_now, 0.001)));
    json_object_set_new(obj, "id", json_string(id));
    json_object_set_new(obj, "leg", json_string(leg_names[leg]));
    json_object_set_new(obj, "kind", json_string(kind));
    json_object_set_new(obj, "severity", json_string(cw_severity_name(sev)));
    json_object_set_new(obj, "score", json_real(round_to(score, 0.001)));
    json_object_set_new(obj, "t_start", json_real(round_to(t_start, 0.001)));
    json_object_set_new(obj, "t_end", json_real(round_to(t_end, 0.001)));
    json_object_set_new(obj, "evidence", evidence && json_is_object(evidence) ? evidence : json_object());
    if (evidence && !json_is_object(evidence))
        json_decref(evidence);
    json_object_set_new(obj, "text", json_string(text ? text : ""));
    return obj;
}

cw_event_t *cw_alert_engine_offer(cw_alert_engine_t *e, int leg, const char *kind, double score, double t_start,
                                  double t_end, double t_now, json_t *evidence, const char *text)
{
    if (!e || leg < 0 || leg > 1 || !kind || strlen(kind) >= KIND_MAX) {
        json_decref(evidence);
        return NULL;
    }
    if (!(score >= 0))
        score = 0;
    if (score > 1)
        score = 1;
    cw_severity sev = cw_alert_severity(e, score);
    episode_t *ep = find_episode(e, leg, kind);
    if (sev == CW_SEVERITY_NONE || !ep) {
        json_decref(evidence);
        return NULL;
    }
    bool continues = ep->open && t_start - ep->last_evidence_t <= e->params.cooldown_s;
    if (!continues)
        ep->n_categories = 0;
    /* Inside an episode a new category of evidence is news (a lawyer after a manager). */
    json_t *fresh = NULL;
    if (continues && json_is_object(evidence) && in_kind_list(e->params.new_category_kinds, kind))
        fresh = new_categories(ep, evidence);
    if (fresh && json_array_size(fresh) == 0) {
        json_decref(fresh);
        fresh = NULL;
    }
    if (continues && sev <= ep->severity) {
        if (!fresh) {
            if (t_end > ep->last_evidence_t)
                ep->last_evidence_t = t_end;
            json_decref(evidence);
            return NULL;
        }
        sev = ep->severity;
    }

    char id[ALERT_ID_MAX];
    snprintf(id, sizeof id, "%s-a%u", e->call_id, e->n_alerts + 1);
    json_t *obj = alert_json(e, id, leg, kind, sev, score, t_start, t_end, t_now, evidence, text);
    if (continues)
        json_object_set_new(obj, "escalates", json_string(ep->last_id));
    if (fresh)
        json_object_set_new(obj, "new_categories", fresh);
    note_categories(ep, json_object_get(obj, "evidence"));

    char topic[CW_TOPIC_MAX];
    int n = snprintf(topic, sizeof topic, "alert.%s.%s", kind, e->call_id);
    if (n < 0 || (size_t)n >= sizeof topic) {
        json_decref(obj);
        return NULL;
    }
    cw_event_t *ev = cw_event_from_json(topic, obj);
    if (!ev)
        return NULL;
    e->n_alerts++;
    ep->open = true;
    ep->severity = sev;
    if (!continues || t_end > ep->last_evidence_t)
        ep->last_evidence_t = t_end;
    snprintf(ep->last_id, sizeof ep->last_id, "%s", id);
    return ev;
}

unsigned cw_alert_engine_count(const cw_alert_engine_t *e)
{
    return e ? e->n_alerts : 0;
}
