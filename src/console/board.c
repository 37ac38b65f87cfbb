/* board.c - see callwatch/board.h */
#include "callwatch/board.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* More calls than a floor shows at once; the oldest ended one (or the
 * oldest) makes room, so a board running for weeks stays bounded. */
#define BOARD_MAX_CALLS 1024

struct cw_board {
    cw_board_call_t *calls; /* BOARD_MAX_CALLS slots, n_calls used, arrival order */
    size_t n_calls;
    cw_board_alert_t *feed; /* ring of CW_BOARD_FEED_MAX, newest at feed_next - 1 */
    size_t n_feed, feed_next;
    char f_agent[CW_BOARD_ID_MAX], f_team[CW_BOARD_ID_MAX], f_kind[32];
    double linger_s;
};

cw_board_t *cw_board_new(void)
{
    cw_board_t *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->calls = calloc(BOARD_MAX_CALLS, sizeof *b->calls);
    b->feed = calloc(CW_BOARD_FEED_MAX, sizeof *b->feed);
    if (!b->calls || !b->feed) {
        free(b->calls);
        free(b->feed);
        free(b);
        return NULL;
    }
    b->linger_s = CW_BOARD_LINGER_S;
    return b;
}

int cw_board_set_linger(cw_board_t *b, double seconds)
{
    if (!(seconds >= 0) || !isfinite(seconds))
        return -1;
    b->linger_s = seconds;
    return 0;
}

void cw_board_destroy(cw_board_t **bp)
{
    if (!bp || !*bp)
        return;
    free((*bp)->calls);
    free((*bp)->feed);
    free(*bp);
    *bp = NULL;
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static const char *str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static cw_board_call_t *find_call(cw_board_t *b, const char *call_id)
{
    for (size_t i = 0; i < b->n_calls; i++)
        if (strcmp(b->calls[i].call_id, call_id) == 0)
            return &b->calls[i];
    return NULL;
}

const cw_board_call_t *cw_board_find_call(const cw_board_t *b, const char *call_id)
{
    return find_call((cw_board_t *)b, call_id);
}

static void remove_call(cw_board_t *b, size_t i)
{
    memmove(&b->calls[i], &b->calls[i + 1], (b->n_calls - i - 1) * sizeof *b->calls);
    b->n_calls--;
}

static cw_board_call_t *get_call(cw_board_t *b, const char *call_id, double now_s)
{
    cw_board_call_t *c = find_call(b, call_id);
    if (c)
        return c;
    if (b->n_calls == BOARD_MAX_CALLS) {
        size_t victim = 0;
        for (size_t i = 0; i < b->n_calls; i++)
            if (b->calls[i].ended) {
                victim = i;
                break;
            }
        remove_call(b, victim);
    }
    c = &b->calls[b->n_calls++];
    memset(c, 0, sizeof *c);
    copy(c->call_id, sizeof c->call_id, call_id);
    c->first_seen_s = now_s;
    return c;
}

static cw_board_alert_t *find_alert(cw_board_t *b, const char *id)
{
    for (size_t i = 0; i < b->n_feed; i++)
        if (strcmp(b->feed[i].id, id) == 0)
            return &b->feed[i];
    return NULL;
}

/* '"this is ridiculous" (outrage); overlap_s 1.2' from the evidence object. */
static void summarise_evidence(json_t *evidence, char *out, size_t cap)
{
    out[0] = '\0';
    size_t used = 0;
    json_t *words = json_object_get(evidence, "words");
    size_t i;
    json_t *w;
    json_array_foreach(words, i, w) {
        const char *said = str(w, "w");
        const char *cat = str(w, "category");
        if (!said)
            continue;
        int n = snprintf(out + used, cap - used, "%s\"%s\"%s%s%s", used ? ", " : "", said, cat ? " (" : "",
                         cat ? cat : "", cat ? ")" : "");
        if (n < 0 || (size_t)n >= cap - used)
            return;
        used += (size_t)n;
    }
    const char *key;
    json_t *group;
    json_object_foreach(evidence, key, group) {
        if (strcmp(key, "words") == 0 || !json_is_object(group))
            continue;
        const char *k2;
        json_t *v;
        json_object_foreach(group, k2, v) {
            if (!json_is_number(v))
                continue;
            int n = snprintf(out + used, cap - used, "%s%s %.3g", used ? "; " : "", k2, json_number_value(v));
            if (n < 0 || (size_t)n >= cap - used)
                return;
            used += (size_t)n;
        }
    }
}

static int leg_index(const char *leg)
{
    if (!leg)
        return -1;
    return strcmp(leg, "agent") == 0 ? 0 : strcmp(leg, "customer") == 0 ? 1 : -1;
}

static int apply_alert(cw_board_t *b, json_t *ev, const char *call_id, double now_s)
{
    const char *id = str(ev, "id"), *kind = str(ev, "kind"), *severity = str(ev, "severity");
    if (!id || !kind || !severity || find_alert(b, id))
        return 0;
    cw_board_call_t *c = get_call(b, call_id, now_s);
    cw_board_alert_t *a = &b->feed[b->feed_next];
    memset(a, 0, sizeof *a);
    b->feed_next = (b->feed_next + 1) % CW_BOARD_FEED_MAX;
    if (b->n_feed < CW_BOARD_FEED_MAX)
        b->n_feed++;
    copy(a->id, sizeof a->id, id);
    copy(a->call_id, sizeof a->call_id, call_id);
    copy(a->agent_id, sizeof a->agent_id, c->agent_id);
    copy(a->team, sizeof a->team, c->team);
    copy(a->kind, sizeof a->kind, kind);
    copy(a->severity, sizeof a->severity, severity);
    copy(a->leg, sizeof a->leg, str(ev, "leg"));
    copy(a->text, sizeof a->text, str(ev, "text"));
    a->score = json_number_value(json_object_get(ev, "score"));
    a->t_start = json_number_value(json_object_get(ev, "t_start"));
    a->t_end = json_number_value(json_object_get(ev, "t_end"));
    a->seen_s = now_s;
    summarise_evidence(json_object_get(ev, "evidence"), a->evidence, sizeof a->evidence);

    copy(c->latest_kind, sizeof c->latest_kind, kind);
    copy(c->latest_severity, sizeof c->latest_severity, severity);
    copy(c->latest_text, sizeof c->latest_text, a->text);
    int leg = leg_index(a->leg);
    if (leg >= 0 && a->score >= cw_board_heat(c, leg, now_s)) {
        c->heat_score[leg] = a->score;
        c->heat_at_s[leg] = now_s;
    }
    return 1;
}

int cw_board_apply(cw_board_t *b, const char *topic, const char *json, double now_s)
{
    (void)topic; /* the JSON says everything; the topic only routes */
    json_t *ev = json ? json_loads(json, 0, NULL) : NULL;
    const char *type = str(ev, "type");
    const char *call_id = str(ev, "call_id");
    int changed = 0;
    if (!type || !call_id || !call_id[0])
        goto out;
    double t = json_number_value(json_object_get(ev, "t"));
    if (strcmp(type, "ack") == 0) {
        cw_board_alert_t *a = str(ev, "alert_id") ? find_alert(b, str(ev, "alert_id")) : NULL;
        if (a) {
            a->acked = true;
            copy(a->acked_by, sizeof a->acked_by, str(ev, "by"));
            a->acked_verified = json_is_true(json_object_get(ev, "verified"));
            copy(a->acked_at, sizeof a->acked_at, str(ev, "at"));
            changed = 1;
        }
        goto out;
    }
    if (strcmp(type, "call_start") == 0) {
        cw_board_call_t *c = get_call(b, call_id, now_s);
        copy(c->agent_id, sizeof c->agent_id, str(ev, "agent_id"));
        copy(c->team, sizeof c->team, str(ev, "team"));
        copy(c->line, sizeof c->line, str(ev, "line"));
        c->ended = false;
        changed = 1;
    } else if (strcmp(type, "call_end") == 0) {
        cw_board_call_t *c = find_call(b, call_id);
        if (c && !c->ended) {
            c->ended = true;
            c->ended_s = now_s;
            changed = 1;
        }
    } else if (strcmp(type, "alert") == 0) {
        changed = apply_alert(b, ev, call_id, now_s);
    } else if (strcmp(type, "transcript") == 0) {
        cw_board_call_t *c = get_call(b, call_id, now_s);
        const char *text = str(ev, "text");
        if (json_is_true(json_object_get(ev, "final")) && text && text[0]) {
            cw_board_line_t *l = &c->lines[c->next_line];
            copy(l->leg, sizeof l->leg, str(ev, "leg"));
            copy(l->text, sizeof l->text, text);
            const char *mode = str(ev, "mode");
            l->spotted = mode && strcmp(mode, "cue") == 0;
            l->t_start = json_number_value(json_object_get(ev, "t_start"));
            c->next_line = (c->next_line + 1) % CW_BOARD_TRANSCRIPT_MAX;
            if (c->n_lines < CW_BOARD_TRANSCRIPT_MAX)
                c->n_lines++;
        }
        changed = 1;
    } else {
        goto out;
    }
    cw_board_call_t *c = find_call(b, call_id);
    if (c && t > c->t)
        c->t = t;
out:
    json_decref(ev);
    return changed;
}

void cw_board_tick(cw_board_t *b, double now_s)
{
    for (size_t i = b->n_calls; i-- > 0;)
        if (b->calls[i].ended && now_s - b->calls[i].ended_s >= b->linger_s)
            remove_call(b, i);
}

void cw_board_forget_calls(cw_board_t *b)
{
    b->n_calls = 0;
}

int cw_board_drop_call(cw_board_t *b, const char *call_id)
{
    cw_board_call_t *c = call_id ? find_call(b, call_id) : NULL;
    if (!c)
        return 0;
    remove_call(b, (size_t)(c - b->calls));
    return 1;
}

static char *filter_slot(cw_board_t *b, const char *field, size_t *cap)
{
    if (strcmp(field, "agent") == 0) {
        *cap = sizeof b->f_agent;
        return b->f_agent;
    }
    if (strcmp(field, "team") == 0) {
        *cap = sizeof b->f_team;
        return b->f_team;
    }
    if (strcmp(field, "kind") == 0) {
        *cap = sizeof b->f_kind;
        return b->f_kind;
    }
    return NULL;
}

int cw_board_set_filter(cw_board_t *b, const char *field, const char *value)
{
    size_t cap;
    char *slot = field ? filter_slot(b, field, &cap) : NULL;
    if (!slot)
        return -1;
    copy(slot, cap, value);
    return 0;
}

const char *cw_board_filter(const cw_board_t *b, const char *field)
{
    size_t cap;
    const char *slot = filter_slot((cw_board_t *)b, field, &cap);
    return slot ? slot : "";
}

int cw_board_parse_filter(cw_board_t *b, const char *text)
{
    char agent[CW_BOARD_ID_MAX] = "", team[CW_BOARD_ID_MAX] = "", kind[32] = "";
    char buf[512];
    copy(buf, sizeof buf, text);
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok)
            return -1;
        *eq = '\0';
        const char *v = eq + 1;
        if (strcmp(tok, "agent") == 0)
            copy(agent, sizeof agent, v);
        else if (strcmp(tok, "team") == 0)
            copy(team, sizeof team, v);
        else if (strcmp(tok, "kind") == 0)
            copy(kind, sizeof kind, v);
        else
            return -1;
    }
    copy(b->f_agent, sizeof b->f_agent, agent);
    copy(b->f_team, sizeof b->f_team, team);
    copy(b->f_kind, sizeof b->f_kind, kind);
    return 0;
}

static bool call_passes(const cw_board_t *b, const cw_board_call_t *c)
{
    return (!b->f_agent[0] || strcmp(b->f_agent, c->agent_id) == 0) &&
           (!b->f_team[0] || strcmp(b->f_team, c->team) == 0);
}

static bool alert_passes(const cw_board_t *b, const cw_board_alert_t *a)
{
    return (!b->f_agent[0] || strcmp(b->f_agent, a->agent_id) == 0) &&
           (!b->f_team[0] || strcmp(b->f_team, a->team) == 0) && (!b->f_kind[0] || strcmp(b->f_kind, a->kind) == 0);
}

size_t cw_board_n_calls(const cw_board_t *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n_calls; i++)
        n += call_passes(b, &b->calls[i]);
    return n;
}

const cw_board_call_t *cw_board_call(const cw_board_t *b, size_t i)
{
    for (size_t k = 0; k < b->n_calls; k++)
        if (call_passes(b, &b->calls[k]) && i-- == 0)
            return &b->calls[k];
    return NULL;
}

size_t cw_board_n_calls_all(const cw_board_t *b)
{
    return b->n_calls;
}

const cw_board_call_t *cw_board_call_all(const cw_board_t *b, size_t i)
{
    return i < b->n_calls ? &b->calls[i] : NULL;
}

double cw_board_heat(const cw_board_call_t *c, int leg, double now_s)
{
    if (leg < 0 || leg > 1 || c->heat_score[leg] <= 0)
        return 0;
    double age = now_s - c->heat_at_s[leg];
    if (age < 0)
        age = 0;
    return c->heat_score[leg] * pow(0.5, age / CW_BOARD_HEAT_HALF_LIFE_S);
}

/* The k-th newest alert in the ring. */
static const cw_board_alert_t *nth_newest(const cw_board_t *b, size_t k)
{
    return &b->feed[(b->feed_next + CW_BOARD_FEED_MAX - 1 - k) % CW_BOARD_FEED_MAX];
}

static int severity_rank(const char *s)
{
    return strcmp(s, "critical") == 0 ? 3 : strcmp(s, "warning") == 0 ? 2 : strcmp(s, "info") == 0 ? 1 : 0;
}

const cw_board_alert_t *cw_board_worst_unacked(const cw_board_t *b, const char *call_id)
{
    const cw_board_alert_t *worst = NULL;
    for (size_t k = 0; call_id && k < b->n_feed; k++) {
        const cw_board_alert_t *a = nth_newest(b, k);
        if (!a->acked && strcmp(a->call_id, call_id) == 0 &&
            (!worst || severity_rank(a->severity) > severity_rank(worst->severity)))
            worst = a;
    }
    return worst;
}

typedef struct urgency {
    const cw_board_call_t *call;
    int ended, severity;
    double heat;
    size_t arrival;
} urgency_t;

static int by_urgency(const void *pa, const void *pb)
{
    const urgency_t *a = pa, *b = pb;
    if (a->ended != b->ended)
        return a->ended - b->ended;
    if (a->severity != b->severity)
        return b->severity - a->severity;
    if (a->heat != b->heat)
        return a->heat < b->heat ? 1 : -1;
    return a->arrival < b->arrival ? -1 : a->arrival > b->arrival;
}

size_t cw_board_calls_by_urgency(const cw_board_t *b, double now_s, const cw_board_call_t **out, size_t cap)
{
    urgency_t *u = malloc((b->n_calls ? b->n_calls : 1) * sizeof *u);
    if (!u)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < b->n_calls; i++) {
        const cw_board_call_t *c = &b->calls[i];
        if (!call_passes(b, c))
            continue;
        const cw_board_alert_t *w = cw_board_worst_unacked(b, c->call_id);
        double h0 = cw_board_heat(c, 0, now_s), h1 = cw_board_heat(c, 1, now_s);
        u[n++] = (urgency_t){.call = c, .ended = c->ended, .severity = w ? severity_rank(w->severity) : 0,
                             .heat = h0 > h1 ? h0 : h1, .arrival = i};
    }
    qsort(u, n, sizeof *u, by_urgency);
    if (n > cap)
        n = cap;
    for (size_t i = 0; i < n; i++)
        out[i] = u[i].call;
    free(u);
    return n;
}

size_t cw_board_n_feed(const cw_board_t *b)
{
    size_t n = 0;
    for (size_t k = 0; k < b->n_feed; k++)
        n += alert_passes(b, nth_newest(b, k));
    return n;
}

const cw_board_alert_t *cw_board_feed(const cw_board_t *b, size_t i)
{
    for (size_t k = 0; k < b->n_feed; k++) {
        const cw_board_alert_t *a = nth_newest(b, k);
        if (alert_passes(b, a) && i-- == 0)
            return a;
    }
    return NULL;
}

size_t cw_board_n_transcript(const cw_board_call_t *c)
{
    return c->n_lines;
}

const cw_board_line_t *cw_board_transcript(const cw_board_call_t *c, size_t i)
{
    if (i >= c->n_lines)
        return NULL;
    size_t first = (c->next_line + CW_BOARD_TRANSCRIPT_MAX - c->n_lines) % CW_BOARD_TRANSCRIPT_MAX;
    return &c->lines[(first + i) % CW_BOARD_TRANSCRIPT_MAX];
}
