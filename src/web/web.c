/* web.c - see web_priv.h: the shared live state of `callwatch web`. What the
 * bus said (call histories, the stream ring, the wallboard snapshot), the
 * sessions, the archive handle, the log and the clock. It knows neither the
 * routes (web_routes.c) nor libmicrohttpd (web_server.c): they call it. */
#include "web_priv.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUBLISH_MIN_S 0.1
#define PUBLISH_EVERY_S 1.0

double web_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void web_log(cw_web_t *w, const char *fmt, ...)
{
    if (!w->o.log)
        return;
    char line[1024];
    int n = snprintf(line, sizeof line, "web: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    w->o.log(line);
}

/* ---- state fed from the bus (lock held) ---------------------------------- */

web_hist_t *web_find_hist(cw_web_t *w, const char *call_id)
{
    for (size_t i = 0; i < WEB_HIST_MAX; i++)
        if (w->hist[i].events && strcmp(w->hist[i].call_id, call_id) == 0)
            return &w->hist[i];
    return NULL;
}

/* The call's history, made room for (the least recently fed one goes). */
static web_hist_t *hist_for(cw_web_t *w, const char *call_id, double now_s)
{
    web_hist_t *h = web_find_hist(w, call_id);
    if (h)
        return h;
    web_hist_t *victim = &w->hist[0];
    for (size_t i = 0; i < WEB_HIST_MAX; i++) {
        if (!w->hist[i].events) {
            victim = &w->hist[i];
            break;
        }
        if (w->hist[i].last_s < victim->last_s)
            victim = &w->hist[i];
    }
    json_decref(victim->events);
    victim->events = json_array();
    snprintf(victim->call_id, sizeof victim->call_id, "%s", call_id);
    victim->last_s = now_s;
    return victim->events ? victim : NULL;
}

/* Appends a stream message (text taken over) and wakes the readers. */
static void publish(cw_web_t *w, int stream, const char *key, char *text)
{
    if (!text)
        return;
    web_msg_t *m = &w->ring[w->next_seq % WEB_RING];
    free(m->text);
    m->seq = w->next_seq++;
    m->stream = stream;
    snprintf(m->key, sizeof m->key, "%s", key ? key : "");
    m->text = text;
    pthread_cond_broadcast(&w->cond);
}

char *web_sse_text(const char *event, const char *json)
{
    size_t n = strlen(event) + strlen(json) + 32;
    char *t = malloc(n);
    if (t)
        snprintf(t, n, "event: %s\ndata: %s\n\n", event, json);
    return t;
}

void cw_web_feed(cw_web_t *w, const char *topic, const char *json, double now_s)
{
    json_error_t jerr;
    json_t *ev = json_loads(json, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return;
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *call_id = json_string_value(json_object_get(ev, "call_id"));
    pthread_mutex_lock(&w->lock);
    if (cw_board_apply(w->board, topic, json, now_s))
        w->dirty = true;
    if (type && strcmp(type, "status") == 0) {
        const char *node = json_string_value(json_object_get(ev, "node"));
        json_t *deg = json_object_get(ev, "degraded");
        if (node && json_is_array(deg))
            json_object_set(w->degraded, node, deg);
        w->dirty = true;
    } else if (call_id && *call_id && strlen(call_id) < CW_BOARD_ID_MAX) {
        bool partial = type && strcmp(type, "transcript") == 0 && json_is_false(json_object_get(ev, "final"));
        web_hist_t *h = partial ? web_find_hist(w, call_id) : hist_for(w, call_id, now_s);
        if (h && !partial && json_array_size(h->events) < WEB_HIST_EVENTS)
            json_array_append(h->events, ev);
        if (h)
            h->last_s = now_s;
        publish(w, WEB_STREAM_CALL, call_id, web_sse_text("ev", json));
    }
    const char *agent = json_string_value(json_object_get(ev, "agent_id"));
    if (type && strcmp(type, "whisper") == 0 && agent)
        publish(w, WEB_STREAM_AGENT, agent, web_sse_text("ev", json));
    pthread_mutex_unlock(&w->lock);
    json_decref(ev);
}

void cw_web_set_connected(cw_web_t *w, bool connected)
{
    pthread_mutex_lock(&w->lock);
    if (w->connected != connected) {
        w->connected = connected;
        w->dirty = true;
        publish(w, WEB_STREAM_ALL, "", web_sse_text("daemon", connected ? "{\"connected\":true}" : "{\"connected\":false}"));
    }
    pthread_mutex_unlock(&w->lock);
}

cw_archive_t *web_archive(cw_web_t *w)
{
    double now = web_now_s();
    if (w->archive || !w->archive_path[0] || (w->archive_tried_s > 0 && now - w->archive_tried_s < 5.0))
        return w->archive;
    w->archive_tried_s = now;
    cw_error_t err;
    cw_error_clear(&err);
    w->archive = cw_archive_open(w->archive_path, NULL, &err);
    if (!w->archive)
        web_log(w, "archive: %s (retrying)", err.msg);
    return w->archive;
}

/* ---- the wallboard snapshot (lock held) ---------------------------------- */

static int severity_rank(const char *sev)
{
    if (strcmp(sev, "critical") == 0)
        return 3;
    if (strcmp(sev, "warning") == 0)
        return 2;
    return strcmp(sev, "info") == 0 ? 1 : 0;
}

static json_t *find_row(json_t *rows, const char *kind)
{
    size_t i;
    json_t *r;
    json_array_foreach(rows, i, r) {
        if (strcmp(json_string_value(json_object_get(r, "kind")), kind) == 0)
            return r;
    }
    return NULL;
}

/* One row per kind: the newest alert's words, the worst severity seen, and
 * the ids still unacknowledged (what the row's Acknowledge covers). */
static json_t *call_rows(cw_web_t *w, const cw_board_call_t *c, double now_s, int *worst_open)
{
    json_t *rows = json_array();
    *worst_open = 0;
    for (size_t i = 0; i < cw_board_n_feed(w->board); i++) {
        const cw_board_alert_t *a = cw_board_feed(w->board, i);
        if (strcmp(a->call_id, c->call_id) != 0)
            continue;
        json_t *r = find_row(rows, a->kind);
        if (!r) {
            r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:b, s:s, s:b, s:[], s:i, s:i}", "kind",
                          a->kind, "severity", a->severity, "text", a->text, "evidence", a->evidence, "leg", a->leg,
                          "score", a->score, "ago_s", now_s - a->seen_s, "acked", a->acked, "acked_by", a->acked_by,
                          "acked_verified", a->acked_verified, "ids", "rank", severity_rank(a->severity),
                          "open_rank", 0);
            if (!r)
                continue;
            json_array_append_new(rows, r);
        }
        int rank = severity_rank(a->severity);
        if (rank > json_integer_value(json_object_get(r, "rank"))) {
            json_object_set_new(r, "rank", json_integer(rank));
            json_object_set_new(r, "severity", json_string(a->severity));
        }
        if (!a->acked) {
            json_array_append_new(json_object_get(r, "ids"), json_string(a->id));
            if (rank > json_integer_value(json_object_get(r, "open_rank")))
                json_object_set_new(r, "open_rank", json_integer(rank));
            if (rank > *worst_open)
                *worst_open = rank;
        }
    }
    return rows;
}

static json_t *call_degraded(cw_web_t *w, const char *call_id)
{
    json_t *out = json_array();
    const char *node;
    json_t *legs;
    json_object_foreach(w->degraded, node, legs) {
        size_t i;
        json_t *l;
        json_array_foreach(legs, i, l) {
            const char *id = json_string_value(json_object_get(l, "call_id"));
            if (id && strcmp(id, call_id) == 0)
                json_array_append(out, json_object_get(l, "leg"));
        }
    }
    return out;
}

typedef struct sort_item {
    json_t *call;
    bool ended;
    int worst;
    double heat, first_s;
} sort_item_t;

/* Live calls first; then the worst unacknowledged alert, the heat, arrival. */
static int by_urgency(const void *pa, const void *pb)
{
    const sort_item_t *a = pa, *b = pb;
    if (a->ended != b->ended)
        return a->ended ? 1 : -1;
    if (a->worst != b->worst)
        return b->worst - a->worst;
    if (a->heat != b->heat)
        return a->heat < b->heat ? 1 : -1;
    return a->first_s < b->first_s ? -1 : a->first_s > b->first_s;
}

static void count_team(json_t *teams, const char *team, bool ended, int worst)
{
    const char *name = team[0] ? team : "(none)";
    json_t *t = json_object_get(teams, name);
    if (!t) {
        t = json_pack("{s:i, s:i, s:i}", "live", 0, "critical", 0, "warning", 0);
        json_object_set_new(teams, name, t);
    }
    if (!t || ended)
        return;
    json_object_set_new(t, "live", json_integer(json_integer_value(json_object_get(t, "live")) + 1));
    const char *k = worst == 3 ? "critical" : worst == 2 ? "warning" : NULL;
    if (k)
        json_object_set_new(t, k, json_integer(json_integer_value(json_object_get(t, k)) + 1));
}

static json_t *snapshot_calls(cw_web_t *w, double now_s, json_t *teams)
{
    size_t n = cw_board_n_calls_all(w->board);
    sort_item_t *items = calloc(n ? n : 1, sizeof *items);
    json_t *calls = json_array();
    for (size_t i = 0; items && i < n; i++) {
        const cw_board_call_t *c = cw_board_call_all(w->board, i);
        int worst = 0;
        json_t *rows = call_rows(w, c, now_s, &worst);
        double h0 = cw_board_heat(c, 0, now_s), h1 = cw_board_heat(c, 1, now_s);
        /* A quiet call sends no events to move c->t: count the wall clock
         * since it was seen while it is live. */
        double dur = c->ended || c->t > now_s - c->first_seen_s ? c->t : now_s - c->first_seen_s;
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:f, s:b, s:f, s:[f,f], s:i, s:o, s:o}", "call_id", c->call_id,
                              "agent", c->agent_id, "team", c->team, "line", c->line, "dur_s", dur, "ended",
                              c->ended, "ended_ago_s", c->ended ? now_s - c->ended_s : 0.0, "heat", h0, h1,
                              "worst", worst, "rows", rows, "degraded", call_degraded(w, c->call_id));
        items[i] = (sort_item_t){o, c->ended, worst, h0 > h1 ? h0 : h1, c->first_seen_s};
        count_team(teams, c->team, c->ended, worst);
    }
    if (items)
        qsort(items, n, sizeof *items, by_urgency);
    for (size_t i = 0; items && i < n; i++)
        json_array_append_new(calls, items[i].call);
    free(items);
    return calls;
}

static json_t *snapshot_feed(cw_web_t *w, double now_s)
{
    json_t *feed = json_array();
    for (size_t i = 0; i < cw_board_n_feed(w->board) && i < 300; i++) {
        const cw_board_alert_t *a = cw_board_feed(w->board, i);
        json_array_append_new(feed, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:s, s:s, "
                                              "s:b, s:s, s:b, s:s}",
                                              "id", a->id, "call_id", a->call_id, "agent", a->agent_id, "team",
                                              a->team, "kind", a->kind, "severity", a->severity, "leg", a->leg,
                                              "score", a->score, "t_start", a->t_start, "t_end", a->t_end, "ago_s",
                                              now_s - a->seen_s, "text", a->text, "evidence", a->evidence, "acked",
                                              a->acked, "acked_by", a->acked_by, "acked_verified",
                                              a->acked_verified, "acked_at", a->acked_at));
    }
    return feed;
}

static void publish_board(cw_web_t *w, double now_s)
{
    json_t *teams = json_object();
    json_t *snap = json_pack("{s:b, s:o, s:o, s:o}", "connected", w->connected, "calls",
                             snapshot_calls(w, now_s, teams), "teams", teams, "feed", snapshot_feed(w, now_s));
    char *text = snap ? json_dumps(snap, JSON_COMPACT | JSON_REAL_PRECISION(8)) : NULL;
    json_decref(snap);
    if (!text)
        return;
    free(w->board_json);
    w->board_json = text;
    w->board_version++;
    w->dirty = false;
    w->last_pub_s = now_s;
    pthread_cond_broadcast(&w->cond);
}

void cw_web_tick(cw_web_t *w, double now_s)
{
    pthread_mutex_lock(&w->lock);
    /* The board drops calls CW_BOARD_LINGER_S after their end; seen from a
     * clock that far behind, it drops them ended_linger_s after instead. */
    size_t before = cw_board_n_calls_all(w->board);
    cw_board_tick(w->board, now_s - w->o.ended_linger_s + CW_BOARD_LINGER_S);
    if (cw_board_n_calls_all(w->board) != before)
        w->dirty = true;
    double since = now_s - w->last_pub_s;
    if ((w->dirty && since >= PUBLISH_MIN_S) || since >= PUBLISH_EVERY_S || !w->board_json)
        publish_board(w, now_s);
    pthread_mutex_unlock(&w->lock);
}


/* ---- sessions -------------------------------------------------------------- */

static void random_hex(char out[WEB_TOKEN_HEX + 1])
{
    unsigned char raw[WEB_TOKEN_HEX / 2];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2hex(out, WEB_TOKEN_HEX + 1, raw, sizeof raw);
}

bool web_token_eq(const char *a, const char *b)
{
    return a && b && strlen(a) == WEB_TOKEN_HEX && strlen(b) == WEB_TOKEN_HEX &&
           sodium_memcmp(a, b, WEB_TOKEN_HEX) == 0;
}

int web_session_get(cw_web_t *w, const char *id, web_session_t *out)
{
    if (!id || strlen(id) != WEB_TOKEN_HEX)
        return 0;
    double now = web_now_s();
    int found = 0;
    pthread_mutex_lock(&w->sess_lock);
    for (size_t i = 0; i < WEB_SESSIONS && !found; i++) {
        web_session_t *s = &w->sessions[i];
        if (!s->id[0] || !web_token_eq(s->id, id))
            continue;
        if (now - s->last_s > w->o.session_idle_s) {
            memset(s, 0, sizeof *s);
            break;
        }
        s->last_s = now;
        *out = *s;
        found = 1;
    }
    pthread_mutex_unlock(&w->sess_lock);
    return found;
}

void web_session_create(cw_web_t *w, const char *name, cw_role_t role, web_session_t *out)
{
    pthread_mutex_lock(&w->sess_lock);
    web_session_t *slot = &w->sessions[0];
    for (size_t i = 0; i < WEB_SESSIONS; i++) {
        if (!w->sessions[i].id[0]) {
            slot = &w->sessions[i];
            break;
        }
        if (w->sessions[i].last_s < slot->last_s)
            slot = &w->sessions[i];
    }
    random_hex(slot->id);
    random_hex(slot->csrf);
    snprintf(slot->name, sizeof slot->name, "%s", name);
    slot->role = role;
    slot->last_s = web_now_s();
    *out = *slot;
    pthread_mutex_unlock(&w->sess_lock);
}

void web_session_end(cw_web_t *w, const char *id)
{
    pthread_mutex_lock(&w->sess_lock);
    for (size_t i = 0; i < WEB_SESSIONS; i++)
        if (w->sessions[i].id[0] && web_token_eq(w->sessions[i].id, id))
            memset(&w->sessions[i], 0, sizeof w->sessions[i]);
    pthread_mutex_unlock(&w->sess_lock);
}

/* ---- life cycle -------------------------------------------------------------- */

cw_web_t *web_alloc(const cw_web_opts_t *o, cw_error_t *err)
{
    cw_web_t *w = calloc(1, sizeof *w);
    if (!w) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the web server");
        return NULL;
    }
    w->o = *o;
    snprintf(w->assets, sizeof w->assets, "%s", o->assets_dir ? o->assets_dir : "");
    w->o.assets_dir = w->assets;
    snprintf(w->archive_path, sizeof w->archive_path, "%s", o->archive_path ? o->archive_path : "");
    w->o.archive_path = w->archive_path;
    w->o.listen = NULL;
    w->o.tls_cert_pem = w->o.tls_key_pem = NULL;
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->sess_lock, NULL);
    pthread_mutex_init(&w->slow_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&w->cond, &ca);
    pthread_condattr_destroy(&ca);
    w->board = cw_board_new();
    w->degraded = json_object();
    cw_throttle_policy_t policy = cw_throttle_policy_default();
    w->guesses = cw_throttle_new(&policy, NULL);
    if (!w->board || !w->degraded || !w->guesses) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the web server");
        web_free(w);
        w = NULL;
    }
    return w;
}

void web_stop(cw_web_t *w)
{
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
}

void web_free(cw_web_t *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < WEB_RING; i++)
        free(w->ring[i].text);
    for (size_t i = 0; i < WEB_HIST_MAX; i++)
        json_decref(w->hist[i].events);
    free(w->board_json);
    cw_archive_close(&w->archive);
    json_decref(w->degraded);
    cw_board_destroy(&w->board);
    cw_throttle_destroy(&w->guesses);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->sess_lock);
    pthread_mutex_destroy(&w->slow_lock);
    free(w);
}
