/* web.c - see callwatch/web.h: state fed from the bus, event streams and the
 * HTTP server; the pages and the API are in web_routes.c. */
#include "web_priv.h"

#include "callwatch/http.h"

#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IDLE_TIMEOUT_S 30u
#define KEEPALIVE_S 5
#define PUBLISH_MIN_S 0.1
#define PUBLISH_EVERY_S 1.0
#define STREAM_BATCH_MAX (256u * 1024u)
#define HEADER_MEMORY_LIMIT (32u * 1024u)

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

static char *sse_text(const char *event, const char *json)
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
        publish(w, WEB_STREAM_CALL, call_id, sse_text("ev", json));
    }
    const char *agent = json_string_value(json_object_get(ev, "agent_id"));
    if (type && strcmp(type, "whisper") == 0 && agent)
        publish(w, WEB_STREAM_AGENT, agent, sse_text("ev", json));
    pthread_mutex_unlock(&w->lock);
    json_decref(ev);
}

void cw_web_set_connected(cw_web_t *w, bool connected)
{
    pthread_mutex_lock(&w->lock);
    if (w->connected != connected) {
        w->connected = connected;
        w->dirty = true;
        publish(w, WEB_STREAM_ALL, "", sse_text("daemon", connected ? "{\"connected\":true}" : "{\"connected\":false}"));
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
            r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:f, s:f, s:b, s:s, s:[], s:i, s:i}", "kind", a->kind,
                          "severity", a->severity, "text", a->text, "evidence", a->evidence, "leg", a->leg, "score",
                          a->score, "ago_s", now_s - a->seen_s, "acked", a->acked, "acked_by", a->acked_by, "ids",
                          "rank", severity_rank(a->severity), "open_rank", 0);
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
                                              "s:b, s:s, s:s}",
                                              "id", a->id, "call_id", a->call_id, "agent", a->agent_id, "team",
                                              a->team, "kind", a->kind, "severity", a->severity, "leg", a->leg,
                                              "score", a->score, "t_start", a->t_start, "t_end", a->t_end, "ago_s",
                                              now_s - a->seen_s, "text", a->text, "evidence", a->evidence, "acked",
                                              a->acked, "acked_by", a->acked_by, "acked_at", a->acked_at));
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

/* ---- event streams -------------------------------------------------------- */

typedef struct stream {
    cw_web_t *w;
    int kind;
    char key[CW_BOARD_ID_MAX];
    uint64_t next;               /* next ring seq to look at */
    uint64_t board_version;      /* last snapshot sent */
    bool started;
    char *pending;               /* text not yet handed to MHD */
    size_t off, len;
} stream_t;

static bool stream_wants(const stream_t *s, const web_msg_t *m)
{
    if (m->stream == WEB_STREAM_ALL)
        return true;
    return m->stream == s->kind && strcmp(m->key, s->key) == 0;
}

/* Appends text to the batch (malloc'd, grown); false when out of memory. */
static bool batch_add(char **batch, size_t *len, const char *text)
{
    size_t n = strlen(text);
    char *grown = realloc(*batch, *len + n + 1);
    if (!grown)
        return false;
    memcpy(grown + *len, text, n + 1);
    *batch = grown;
    *len += n;
    return true;
}

/* What the reader gets next (lock held): a batch, or NULL to wait. */
static char *stream_next(stream_t *s)
{
    cw_web_t *w = s->w;
    char *batch = NULL;
    size_t len = 0;
    if (!s->started) {
        s->started = true;
        s->next = w->next_seq;
        batch_add(&batch, &len, w->connected ? "retry: 2000\nevent: daemon\ndata: {\"connected\":true}\n\n"
                                             : "retry: 2000\nevent: daemon\ndata: {\"connected\":false}\n\n");
    }
    if (s->kind == WEB_STREAM_BOARD && w->board_json && s->board_version != w->board_version) {
        s->board_version = w->board_version;
        char *t = sse_text("board", w->board_json);
        if (t)
            batch_add(&batch, &len, t);
        free(t);
    }
    uint64_t oldest = w->next_seq > WEB_RING ? w->next_seq - WEB_RING : 0;
    if (s->next < oldest) {
        /* Fell behind the ring: the page reloads its state. */
        s->next = w->next_seq;
        batch_add(&batch, &len, "event: reset\ndata: {}\n\n");
    }
    for (; s->next < w->next_seq && len < STREAM_BATCH_MAX; s->next++) {
        const web_msg_t *m = &w->ring[s->next % WEB_RING];
        if (stream_wants(s, m))
            batch_add(&batch, &len, m->text);
    }
    return batch;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_t *s = cls;
    cw_web_t *w = s->w;
    if (!s->pending) {
        pthread_mutex_lock(&w->lock);
        char *batch = NULL;
        while (!w->stopping && !(batch = stream_next(s))) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += KEEPALIVE_S;
            if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT) {
                batch = strdup(": keepalive\n\n");
                break;
            }
        }
        bool stop = w->stopping;
        pthread_mutex_unlock(&w->lock);
        if (stop || !batch) {
            free(batch);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        s->pending = batch;
        s->off = 0;
        s->len = strlen(batch);
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy(buf, s->pending + s->off, n);
    s->off += n;
    if (s->off >= s->len) {
        free(s->pending);
        s->pending = NULL;
    }
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream_t *s = cls;
    free(s->pending);
    free(s);
}

int web_stream_allowed(const web_session_t *s, int kind, const char *key)
{
    if (kind == WEB_STREAM_AGENT)
        return s->role >= CW_ROLE_QA || strcmp(s->name, key) == 0;
    return s->role >= CW_ROLE_QA;
}

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct upload {
    char *data;
    size_t len;
    bool too_big;
} upload_t;

static const char *mhd_lookup(void *ctx, char kind, const char *name)
{
    enum MHD_ValueKind k = kind == 'h' ? MHD_HEADER_KIND : kind == 'c' ? MHD_COOKIE_KIND : MHD_GET_ARGUMENT_KIND;
    return MHD_lookup_connection_value(ctx, k, name);
}

static void add_security_headers(struct MHD_Response *resp, bool tls)
{
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}

static enum MHD_Result queue_reply(cw_web_t *w, struct MHD_Connection *conn, int status, cw_web_reply_t *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        cw_web_reply_free(r);
        return MHD_NO;
    }
    r->body = NULL;
    add_security_headers(resp, w->tls);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type ? r->content_type : "text/plain");
    if (r->set_cookie)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
    if (r->location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
    cw_web_reply_free(r);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static int stream_kind(const char *name)
{
    if (!name)
        return 0;
    if (strcmp(name, "board") == 0)
        return WEB_STREAM_BOARD;
    if (strcmp(name, "call") == 0)
        return WEB_STREAM_CALL;
    return strcmp(name, "agent") == 0 ? WEB_STREAM_AGENT : 0;
}

/* GET /events: a stream, or an error reply (status returned, 0 = queued). */
static int open_stream(cw_web_t *w, struct MHD_Connection *conn, cw_web_reply_t *r, enum MHD_Result *rc)
{
    web_session_t s;
    const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "cw_session");
    int kind = stream_kind(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "stream"));
    const char *key = kind == WEB_STREAM_CALL    ? MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id")
                      : kind == WEB_STREAM_AGENT ? MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name")
                                                 : "";
    const char *why = NULL;
    int status = 0;
    if (!cookie || !web_session_get(w, cookie, &s))
        status = MHD_HTTP_UNAUTHORIZED, why = "log in first";
    else if (!kind || !key || strlen(key) >= CW_BOARD_ID_MAX)
        status = MHD_HTTP_BAD_REQUEST, why = "stream=board, stream=call&id=ID or stream=agent&name=NAME";
    else if (!web_stream_allowed(&s, kind, key))
        status = MHD_HTTP_FORBIDDEN, why = "not allowed for this role";
    if (status) {
        web_log(w, "%d GET /events: %s", status, why);
        r->body = strdup(why);
        r->len = strlen(why);
        return status;
    }
    stream_t *st = calloc(1, sizeof *st);
    struct MHD_Response *resp =
        st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, st, stream_free) : NULL;
    if (!resp) {
        free(st);
        *rc = MHD_NO;
        return 0;
    }
    st->w = w;
    st->kind = kind;
    snprintf(st->key, sizeof st->key, "%s", key);
    add_security_headers(resp, w->tls);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    *rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return 0;
}

/* Collects the body (at most CW_WEB_MAX_BODY); true when it is complete. */
static bool collect_body(upload_t *up, const char *data, size_t *size)
{
    if (*size == 0)
        return true;
    if (!up->too_big && up->len + *size <= CW_WEB_MAX_BODY) {
        char *grown = realloc(up->data, up->len + *size + 1);
        if (grown) {
            memcpy(grown + up->len, data, *size);
            up->len += *size;
            grown[up->len] = '\0';
            up->data = grown;
        } else {
            up->too_big = true;
        }
    } else {
        up->too_big = true;
    }
    *size = 0;
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    cw_web_t *w = cls;
    cw_web_reply_t r = {0};
    if (!*con_cls) {
        upload_t *up = calloc(1, sizeof *up);
        if (!up)
            return MHD_NO;
        *con_cls = up;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (!cl || strtoull(cl, NULL, 10) <= CW_WEB_MAX_BODY)
            return MHD_YES;
        up->too_big = true;
    }
    upload_t *up = *con_cls;
    if (!up->too_big && !collect_body(up, upload_data, upload_data_size))
        return MHD_YES;
    int status;
    if (up->too_big) {
        status = MHD_HTTP_CONTENT_TOO_LARGE;
        r.body = strdup("request body too large\n");
        r.len = r.body ? strlen(r.body) : 0;
        web_log(w, "413 %s %.200s: body over %u bytes", method, url, CW_WEB_MAX_BODY);
    } else if (strcmp(url, "/events") == 0 && strcmp(method, "GET") == 0) {
        enum MHD_Result rc = MHD_YES;
        status = open_stream(w, conn, &r, &rc);
        if (status == 0)
            return rc;
    } else {
        status = cw_web_answer(w, method, url, mhd_lookup, conn, up->data ? up->data : "", up->len, &r);
    }
    return queue_reply(w, conn, status, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    upload_t *up = *con_cls;
    if (up) {
        free(up->data);
        free(up);
    }
    *con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    cw_web_t *w = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    web_log(w, "http: %s", line);
}

/* ---- life cycle -------------------------------------------------------------- */

static cw_web_t *web_alloc(const cw_web_opts_t *o, cw_error_t *err)
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
    if (!w->board || !w->degraded) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the web server");
        cw_web_destroy(&w);
    }
    return w;
}

cw_web_t *cw_web_new_offline(const cw_web_opts_t *o, cw_error_t *err)
{
    return web_alloc(o, err);
}

/* Starts libmicrohttpd on fd (taken over). */
static int web_start(cw_web_t *w, int fd, const cw_web_opts_t *o, cw_error_t *err)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    w->tls = o->tls_cert_pem && o->tls_key_pem;
    if (w->tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            close(fd);
            return cw_error_set(err, CW_ERR_INVALID, "[web] tls_cert: this libmicrohttpd was built without TLS");
        }
        flags |= MHD_USE_TLS;
    }
    /* Server threads inherit this mask: SIGINT/SIGTERM stay with ours. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    if (w->tls)
        w->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, w,
                                     MHD_OPTION_LISTEN_SOCKET, fd,
                                     MHD_OPTION_CONNECTION_LIMIT, CW_WEB_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                                     IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY_LIMIT,
                                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, w, MHD_OPTION_HTTPS_MEM_KEY, o->tls_key_pem,
                                     MHD_OPTION_HTTPS_MEM_CERT, o->tls_cert_pem, MHD_OPTION_END);
    else
        w->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, w,
                                     MHD_OPTION_LISTEN_SOCKET, fd,
                                     MHD_OPTION_CONNECTION_LIMIT, CW_WEB_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                                     IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY_LIMIT,
                                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, w, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!w->daemon) {
        close(fd);
        return cw_error_set(err, CW_ERR_INTERNAL, "cannot start the web server%s",
                            w->tls ? " (is [web] tls_key the private key of tls_cert, both PEM?)" : "");
    }
    return CW_OK;
}

cw_web_t *cw_web_new(const cw_web_opts_t *o, cw_error_t *err)
{
    cw_web_t *w = web_alloc(o, err);
    if (!w)
        return NULL;
    int fd = cw_http_listener("web", o->listen ? o->listen : "", &w->port, err);
    if (fd < 0 || web_start(w, fd, o, err) != CW_OK) {
        cw_web_destroy(&w);
        return NULL;
    }
    return w;
}

int cw_web_port(const cw_web_t *w)
{
    return w ? w->port : 0;
}

void cw_web_destroy(cw_web_t **wp)
{
    if (!wp || !*wp)
        return;
    cw_web_t *w = *wp;
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->lock);
    if (w->daemon)
        MHD_stop_daemon(w->daemon);
    for (size_t i = 0; i < WEB_RING; i++)
        free(w->ring[i].text);
    for (size_t i = 0; i < WEB_HIST_MAX; i++)
        json_decref(w->hist[i].events);
    free(w->board_json);
    cw_archive_close(&w->archive);
    json_decref(w->degraded);
    cw_board_destroy(&w->board);
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->sess_lock);
    pthread_mutex_destroy(&w->slow_lock);
    free(w);
    *wp = NULL;
}
