/* web_routes.c - the pages and the API of callwatch/web.h (cw_web_answer):
 * request -> reply, with roles, CSRF and each route's handler, over web.c's
 * state; no socket and no libmicrohttpd (web_server.c calls it). */
#include "web_priv.h"

#include "callwatch/acks.h"
#include "callwatch/qa.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE_MAX (1024 * 1024)
#define ACK_IDS_MAX 20
#define QA_LIMIT_DEFAULT 500
#define QA_LIMIT_MAX 20000

typedef struct req {
    cw_web_t *w;
    const char *method;
    char path[256];
    cw_web_lookup_fn lookup;
    void *ctx;
    const char *body;
    size_t body_len;
    web_session_t s;      /* the session, once checked */
    cw_web_reply_t *r;
} req_t;

void cw_web_reply_free(cw_web_reply_t *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->set_cookie);
    r->body = r->set_cookie = NULL;
}

static const char *arg(req_t *q, const char *name)
{
    const char *v = q->lookup(q->ctx, 'q', name);
    return v && *v ? v : NULL;
}

static int reply_body(req_t *q, int status, char *body, const char *type)
{
    q->r->body = body ? body : strdup("");
    q->r->len = q->r->body ? strlen(q->r->body) : 0;
    q->r->content_type = type;
    return status;
}

static int reply_json(req_t *q, int status, json_t *j)
{
    char *t = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(8)) : NULL;
    json_decref(j);
    return reply_body(q, t ? status : 500, t ? t : strdup("{\"error\":\"out of memory\"}"),
                      "application/json; charset=utf-8");
}

/* An error answer, and its log line (every 4xx and 5xx is logged). */
static int fail(req_t *q, int status, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(req_t *q, int status, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    web_log(q->w, "%d %s %.200s%s%s: %s", status, q->method, q->path, q->s.name[0] ? " by " : "", q->s.name, msg);
    return reply_json(q, status, json_pack("{s:s}", "error", msg));
}

/* ---- login and logout (the session table is web.c's) ------------------------ */

static void set_cookie(req_t *q, const char *value, bool expire)
{
    char buf[256];
    snprintf(buf, sizeof buf, "cw_session=%s; Path=/; HttpOnly; SameSite=Strict%s%s", value,
             q->w->tls ? "; Secure" : "", expire ? "; Max-Age=0" : "");
    free(q->r->set_cookie);
    q->r->set_cookie = strdup(buf);
}

static const char *home_of(cw_role_t role)
{
    return role == CW_ROLE_AGENT ? "/agent" : "/wallboard";
}

static json_t *parse_body(req_t *q)
{
    json_t *j = json_loadb(q->body, q->body_len, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

static int h_login(req_t *q)
{
    json_t *j = parse_body(q);
    const char *name = j ? json_string_value(json_object_get(j, "name")) : NULL;
    const char *pass = j ? json_string_value(json_object_get(j, "password")) : NULL;
    if (!name || !pass || !cw_user_name_ok(name)) {
        json_decref(j);
        return fail(q, 400, "expected JSON {\"name\": ..., \"password\": ...}");
    }
    const char *client = q->lookup(q->ctx, 'a', "");
    char key[CW_THROTTLE_KEY_MAX + 1];
    snprintf(key, sizeof key, "%s@%s", name, client ? client : "?");
    /* Argon2 takes 64 MiB per check: one at a time. */
    double wait_s = 0;
    pthread_mutex_lock(&q->w->slow_lock);
    cw_role_t role = cw_users_check_throttled(q->w->o.users, q->w->guesses, key, name, pass, &wait_s);
    pthread_mutex_unlock(&q->w->slow_lock);
    if (wait_s > 0) {
        int rc = fail(q, 429, "too many wrong passwords for '%s' from here: try again in %.0f s", name, ceil(wait_s));
        json_decref(j);
        return rc;
    }
    if (role == CW_ROLE_NONE) {
        int rc = fail(q, 401, "wrong name or password (user '%s')", name);
        json_decref(j);
        return rc;
    }
    web_session_create(q->w, name, role, &q->s);
    web_log(q->w, "login %s (%s)", name, cw_role_name(role));
    json_decref(j);
    set_cookie(q, q->s.id, false);
    return reply_json(q, 200, json_pack("{s:b, s:s, s:s, s:s}", "ok", 1, "name", q->s.name, "role",
                                        cw_role_name(q->s.role), "home", home_of(q->s.role)));
}

static int h_logout(req_t *q)
{
    web_session_end(q->w, q->s.id);
    set_cookie(q, "", true);
    return reply_json(q, 200, json_pack("{s:b}", "ok", 1));
}

static int h_me(req_t *q)
{
    pthread_mutex_lock(&q->w->lock);
    bool archive = q->w->archive_path[0] != '\0';
    pthread_mutex_unlock(&q->w->lock);
    return reply_json(q, 200, json_pack("{s:s, s:s, s:s, s:b, s:s}", "name", q->s.name, "role",
                                        cw_role_name(q->s.role), "csrf", q->s.csrf, "archive", archive, "home",
                                        home_of(q->s.role)));
}

/* ---- files ------------------------------------------------------------------ */

/* Reads the assets file name (a name, never a path: checked by callers). */
static char *read_asset(cw_web_t *w, const char *name, size_t *len)
{
    char path[CW_PATH_MAX + 64];
    if (snprintf(path, sizeof path, "%s/%s", w->assets, name) >= (int)sizeof path)
        return NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > PAGE_MAX) {
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t n = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (n != st.st_size) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static int send_asset(req_t *q, const char *name, const char *type)
{
    size_t len = 0;
    char *body = read_asset(q->w, name, &len);
    if (!body)
        return fail(q, 404, "no such page: %s is missing from %s", name, q->w->assets);
    q->r->body = body;
    q->r->len = len;
    q->r->content_type = type;
    return 200;
}

/* /static/NAME: NAME is [a-z0-9-]+ with .css, .js or .svg; nothing else
 * (no '/', no "..") can name a file. */
static int h_static(req_t *q)
{
    const char *name = q->path + strlen("/static/");
    size_t n = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-");
    const char *ext = name + n;
    const char *type = NULL;
    if (n > 0 && n <= 64) {
        if (strcmp(ext, ".css") == 0)
            type = "text/css; charset=utf-8";
        else if (strcmp(ext, ".js") == 0)
            type = "text/javascript; charset=utf-8";
        else if (strcmp(ext, ".svg") == 0)
            type = "image/svg+xml";
    }
    if (!type)
        return fail(q, 404, "no such file");
    return send_asset(q, name, type);
}

/* ---- API ----------------------------------------------------------------------- */

static int h_board(req_t *q)
{
    pthread_mutex_lock(&q->w->lock);
    char *text = q->w->board_json ? strdup(q->w->board_json) : strdup("{\"calls\":[],\"teams\":{},\"feed\":[]}");
    pthread_mutex_unlock(&q->w->lock);
    return reply_body(q, 200, text, "application/json; charset=utf-8");
}

static int append_row_json(void *user, const cw_qa_row_t *row)
{
    json_t *ev = json_loads(row->json, 0, NULL);
    if (ev)
        json_array_append_new(user, ev);
    return 0;
}

/* The call from the archive (lock held): info and events, or NULL. */
static json_t *archived_call(cw_web_t *w, const char *id)
{
    cw_qa_call_t info;
    cw_error_t err;
    cw_error_clear(&err);
    cw_archive_t *a = web_archive(w);
    if (!a || cw_qa_call_info(a, id, &info, &err) != CW_OK)
        return NULL;
    json_t *events = json_array();
    if (cw_qa_timeline(a, id, append_row_json, events, &err) < 0)
        web_log(w, "archive: %s", err.msg);
    return json_pack("{s:s, s:b, s:{s:s, s:s, s:s, s:s, s:f}, s:o}", "call_id", id, "live", 0, "info", "agent",
                     info.agent_id, "team", info.team, "line", info.line, "started_at", info.started_at,
                     "duration_s", info.duration_s == info.duration_s ? info.duration_s : 0.0, "events", events);
}

static int h_call(req_t *q)
{
    const char *id = arg(q, "id");
    if (!id || strlen(id) >= CW_BOARD_ID_MAX)
        return fail(q, 400, "expected ?id=CALL_ID");
    cw_web_t *w = q->w;
    pthread_mutex_lock(&w->lock);
    web_hist_t *h = web_find_hist(w, id);
    const cw_board_call_t *c = cw_board_find_call(w->board, id);
    json_t *out = NULL;
    if (h) {
        /* Off the board (ended a while ago): who it was is in its call_start. */
        json_t *start = json_array_get(h->events, 0);
        const char *type = json_string_value(json_object_get(start, "type"));
        bool has_start = type && strcmp(type, "call_start") == 0;
        const char *agent = c ? c->agent_id : has_start ? json_string_value(json_object_get(start, "agent_id")) : "";
        const char *team = c ? c->team : has_start ? json_string_value(json_object_get(start, "team")) : "";
        out = json_pack("{s:s, s:b, s:{s:s, s:s, s:s, s:b}, s:O}", "call_id", id, "live", 1, "info", "agent",
                        agent ? agent : "", "team", team ? team : "", "line", c ? c->line : "", "ended",
                        c ? c->ended : 1, "events", h->events);
    } else {
        out = archived_call(w, id);
    }
    pthread_mutex_unlock(&w->lock);
    if (!out)
        return fail(q, 404, "no call %s (not live, not in the archive)", id);
    return reply_json(q, 200, out);
}

/* Whispers to agent, live and archived. */
static int h_agent(req_t *q)
{
    const char *name = arg(q, "name") ? arg(q, "name") : q->s.name;
    if (q->s.role < CW_ROLE_QA && strcmp(name, q->s.name) != 0)
        return fail(q, 403, "an agent sees only their own prompts");
    cw_web_t *w = q->w;
    json_t *out = json_array();
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < WEB_HIST_MAX; i++) {
        size_t k;
        json_t *ev;
        json_array_foreach(w->hist[i].events, k, ev) {
            const char *type = json_string_value(json_object_get(ev, "type"));
            const char *a = json_string_value(json_object_get(ev, "agent_id"));
            if (type && a && strcmp(type, "whisper") == 0 && strcmp(a, name) == 0)
                json_array_append(out, ev);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return reply_json(q, 200, json_pack("{s:s, s:o}", "agent", name, "whispers", out));
}

static int send_ack(req_t *q, const char *call_id, const char *alert_id, const char *note, json_t *done)
{
    /* Signed for the logged-in user with the users file the daemon reads
     * too (acks.h), so a daemon that checks who acknowledges believes it. */
    char sig[CW_USER_SIG_HEX + 1] = "";
    char *signed_text = cw_ack_signed_text(call_id, alert_id, q->s.name, note);
    if (signed_text)
        cw_users_sign(q->w->o.users, q->s.name, signed_text, sig);
    free(signed_text);
    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", "ack", "call_id", call_id, "alert_id",
                            alert_id, "by", q->s.name, "note", note, "signature", sig);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    char *reply = NULL;
    cw_error_t err;
    cw_error_clear(&err);
    pthread_mutex_lock(&q->w->slow_lock);
    int rc = text ? q->w->o.ack(q->w->o.ack_user, text, &reply, &err) : CW_ERR_NOMEM;
    pthread_mutex_unlock(&q->w->slow_lock);
    free(text);
    if (rc != CW_OK)
        return fail(q, 503, "not acknowledged: %s", err.msg[0] ? err.msg : "out of memory");
    json_t *r = json_loads(reply, 0, NULL);
    free(reply);
    if (!json_is_true(json_object_get(r, "ok"))) {
        const char *why = json_string_value(json_object_get(r, "error"));
        int st = fail(q, 400, "the daemon refused the acknowledgement: %s", why ? why : "no reason");
        json_decref(r);
        return st;
    }
    json_array_append(done, json_object_get(r, "ack"));
    json_decref(r);
    return 0;
}

static int h_ack(req_t *q)
{
    json_t *j = parse_body(q);
    const char *call_id = j ? json_string_value(json_object_get(j, "call_id")) : NULL;
    json_t *ids = j ? json_object_get(j, "alert_ids") : NULL;
    const char *note = j ? json_string_value(json_object_get(j, "note")) : NULL;
    if (!call_id || !json_is_array(ids) || json_array_size(ids) == 0 || json_array_size(ids) > ACK_IDS_MAX) {
        json_decref(j);
        return fail(q, 400, "expected JSON {\"call_id\", \"alert_ids\": [1..%d ids], \"note\"}", ACK_IDS_MAX);
    }
    if (!q->w->o.ack) {
        json_decref(j);
        return fail(q, 503, "no ack channel");
    }
    json_t *done = json_array();
    size_t i;
    json_t *id;
    int status = 0;
    json_array_foreach(ids, i, id) {
        if (!json_is_string(id)) {
            status = fail(q, 400, "alert_ids: strings expected");
            break;
        }
        status = send_ack(q, call_id, json_string_value(id), note ? note : "", done);
        if (status)
            break;
    }
    json_decref(j);
    if (status) {
        json_decref(done);
        return status;
    }
    return reply_json(q, 200, json_pack("{s:b, s:o}", "ok", 1, "acks", done));
}

/* ---- QA over the archive ----------------------------------------------------- */

typedef struct qa_out {
    char *buf;
    size_t len, cap;
    int format;           /* 0 json array, 1 csv, 2 jsonl */
    bool bad;
    long rows;
} qa_out_t;

static void out_add(qa_out_t *o, const char *s, size_t n)
{
    if (o->bad)
        return;
    if (o->len + n + 1 > o->cap) {
        size_t cap = (o->cap ? o->cap * 2 : 65536) + n;
        char *grown = realloc(o->buf, cap);
        if (!grown) {
            o->bad = true;
            return;
        }
        o->buf = grown;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static void out_str(qa_out_t *o, const char *s)
{
    out_add(o, s, strlen(s));
}

/* One CSV field (RFC 4180: quoted, quotes doubled). */
static void out_csv(qa_out_t *o, const char *s, bool last)
{
    out_add(o, "\"", 1);
    for (const char *p = s; *p; p++) {
        if (*p == '"')
            out_add(o, "\"", 1);
        out_add(o, p, 1);
    }
    out_str(o, last ? "\"\r\n" : "\",");
}

static int qa_row(void *user, const cw_qa_row_t *row)
{
    qa_out_t *o = user;
    if (o->format == 1) {
        char when[40], num[64];
        out_csv(o, cw_qa_format_time(row->wall_ms, when, sizeof when), false);
        const char *cols[] = {row->type, row->call_id, row->agent_id, row->leg, row->kind, row->severity, row->id};
        for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
            out_csv(o, cols[i], false);
        snprintf(num, sizeof num, "%.3f", row->score == row->score ? row->score : 0.0);
        out_csv(o, row->score == row->score ? num : "", false);
        snprintf(num, sizeof num, "%.3f", row->t == row->t ? row->t : 0.0);
        out_csv(o, row->t == row->t ? num : "", false);
        out_csv(o, row->text, true);
    } else {
        /* The event as archived, with the call's agent and the wall time QA
         * reads (an alert event itself carries neither). */
        json_t *ev = json_loads(row->json, 0, NULL);
        char when[40];
        if (json_is_object(ev) && !json_object_get(ev, "agent_id"))
            json_object_set_new(ev, "agent_id", json_string(row->agent_id));
        if (json_is_object(ev))
            json_object_set_new(ev, "wall", json_string(cw_qa_format_time(row->wall_ms, when, sizeof when)));
        char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
        json_decref(ev);
        if (o->format == 0 && o->rows)
            out_str(o, ",");
        out_str(o, text ? text : row->json);
        free(text);
        if (o->format == 2)
            out_str(o, "\n");
    }
    o->rows++;
    return 0;
}

static unsigned qa_types(const char *text)
{
    unsigned t = 0;
    if (!text)
        return 0;
    if (strstr(text, "alert"))
        t |= CW_QA_ALERT;
    if (strstr(text, "transcript"))
        t |= CW_QA_TRANSCRIPT;
    if (strstr(text, "whisper"))
        t |= CW_QA_WHISPER;
    if (strstr(text, "ack"))
        t |= CW_QA_ACK;
    return t;
}

static int qa_filter(req_t *q, cw_qa_filter_t *f)
{
    cw_error_t err;
    cw_error_clear(&err);
    *f = (cw_qa_filter_t){.call_id = arg(q, "call"), .agent_id = arg(q, "agent"), .kind = arg(q, "kind"),
                          .severity = arg(q, "severity"), .text = arg(q, "text"), .types = qa_types(arg(q, "types")),
                          .limit = QA_LIMIT_DEFAULT};
    const char *since = arg(q, "since"), *until = arg(q, "until"), *limit = arg(q, "limit");
    if (since && cw_qa_parse_time(q->w->archive, since, &f->since_ms, &err) != CW_OK)
        return fail(q, 400, "since: %s", err.msg);
    if (until && cw_qa_parse_time(q->w->archive, until, &f->until_ms, &err) != CW_OK)
        return fail(q, 400, "until: %s", err.msg);
    if (limit) {
        char *end = NULL;
        long v = strtol(limit, &end, 10);
        if (!end || *end || v < 1 || v > QA_LIMIT_MAX)
            return fail(q, 400, "limit: expected 1..%d", QA_LIMIT_MAX);
        f->limit = v;
    }
    return 0;
}

static int h_qa(req_t *q)
{
    const char *format = arg(q, "format") ? arg(q, "format") : "json";
    qa_out_t o = {.format = strcmp(format, "csv") == 0 ? 1 : strcmp(format, "jsonl") == 0 ? 2 : 0};
    if (o.format == 0 && strcmp(format, "json") != 0)
        return fail(q, 400, "format: json, csv or jsonl");
    cw_web_t *w = q->w;
    pthread_mutex_lock(&w->lock);
    if (!web_archive(w)) {
        pthread_mutex_unlock(&w->lock);
        return fail(q, w->archive_path[0] ? 503 : 404, "%s", w->archive_path[0] ? "the archive cannot be opened yet (see the log)"
                                                          : "no archive: start `callwatch web` with --db FILE or [web] db");
    }
    cw_qa_filter_t f;
    int st = qa_filter(q, &f);
    cw_error_t err;
    cw_error_clear(&err);
    out_str(&o, o.format == 0 ? "[" : o.format == 1 ? "wall,type,call_id,agent_id,leg,kind,severity,id,score,t,text\r\n"
                                                     : "");
    int rc = st ? 0 : cw_qa_search(w->archive, &f, qa_row, &o, &err);
    pthread_mutex_unlock(&w->lock);
    if (st) {
        free(o.buf);
        return st;
    }
    if (rc < 0 || o.bad) {
        free(o.buf);
        return fail(q, 500, "%s", rc < 0 ? err.msg : "out of memory");
    }
    if (o.format == 0)
        out_str(&o, "]");
    static const char *types[] = {"application/json; charset=utf-8", "text/csv; charset=utf-8",
                                  "application/x-ndjson; charset=utf-8"};
    return reply_body(q, 200, o.buf, types[o.format]);
}

static json_t *num_or_null(double v)
{
    return v == v ? json_real(v) : json_null();
}

static json_t *shift_json(const cw_qa_shift_t *sh)
{
    json_t *calls = json_array();
    char when[40];
    for (size_t i = 0; i < sh->n_calls; i++) {
        const cw_qa_shift_call_t *c = &sh->calls[i];
        json_array_append_new(calls, json_pack("{s:s, s:s, s:o, s:i, s:i, s:i, s:i, s:b, s:o}", "call_id", c->call_id,
                                               "started", cw_qa_format_time(c->started_ms, when, sizeof when),
                                               "duration_s", num_or_null(c->duration_s), "alerts", c->alerts,
                                               "critical", c->critical, "warning", c->warning, "flat_affect",
                                               c->flat_affect, "hostile", c->hostile, "f0_spread_st",
                                               num_or_null(c->measure)));
    }
    return json_pack("{s:s, s:o, s:I, s:i, s:i, s:o, s:o, s:o, s:b}", "agent", sh->agent_id, "calls", calls, "alerts",
                     (json_int_t)sh->alerts, "hostile_calls", sh->hostile_calls, "measured", sh->measured,
                     "slope_st_per_call", num_or_null(sh->slope_st_per_call), "first_third_st",
                     num_or_null(sh->first_third_st), "last_third_st", num_or_null(sh->last_third_st), "drift",
                     sh->drift);
}

/* An agent's shift from the archive (`callwatch qa shift`). */
static int h_shift(req_t *q)
{
    const char *agent = arg(q, "agent");
    if (!agent || strlen(agent) >= 128)
        return fail(q, 400, "expected ?agent=ID");
    cw_web_t *w = q->w;
    pthread_mutex_lock(&w->lock);
    cw_archive_t *a = web_archive(w);
    cw_error_t err;
    cw_error_clear(&err);
    long long since = 0, until = 0;
    int rc = a ? CW_OK : CW_ERR_NOT_FOUND;
    if (a && arg(q, "since"))
        rc = cw_qa_parse_time(a, arg(q, "since"), &since, &err);
    if (rc == CW_OK && a && arg(q, "until"))
        rc = cw_qa_parse_time(a, arg(q, "until"), &until, &err);
    cw_qa_shift_t *sh = NULL;
    if (rc == CW_OK)
        rc = cw_qa_shift(a, agent, since, until, &w->o.drift, &sh, &err);
    json_t *out = rc == CW_OK ? shift_json(sh) : NULL;
    cw_qa_shift_free(&sh);
    pthread_mutex_unlock(&w->lock);
    if (!a)
        return fail(q, 404, "no archive: start `callwatch web` with --db FILE or [web] db");
    if (rc != CW_OK)
        return fail(q, rc == CW_ERR_NOT_FOUND ? 404 : 400, "%s", err.msg);
    return reply_json(q, 200, out);
}

/* ---- routing ------------------------------------------------------------------ */

typedef struct route {
    const char *method;
    const char *path;
    cw_role_t min_role;   /* CW_ROLE_NONE: no session needed */
    const char *page;     /* an HTML file of the assets, or NULL */
    int (*handler)(req_t *q);
} route_t;

static const route_t routes[] = {
    {"GET", "/login", CW_ROLE_NONE, "login.html", NULL},
    {"POST", "/login", CW_ROLE_NONE, NULL, h_login},
    {"POST", "/logout", CW_ROLE_AGENT, NULL, h_logout},
    {"GET", "/wallboard", CW_ROLE_QA, "wallboard.html", NULL},
    {"GET", "/alerts", CW_ROLE_QA, "alerts.html", NULL},
    {"GET", "/call", CW_ROLE_QA, "call.html", NULL},
    {"GET", "/qa", CW_ROLE_QA, "qa.html", NULL},
    {"GET", "/agent", CW_ROLE_AGENT, "agent.html", NULL},
    {"GET", "/api/me", CW_ROLE_AGENT, NULL, h_me},
    {"GET", "/api/board", CW_ROLE_QA, NULL, h_board},
    {"GET", "/api/call", CW_ROLE_QA, NULL, h_call},
    {"GET", "/api/agent", CW_ROLE_AGENT, NULL, h_agent},
    {"GET", "/api/qa", CW_ROLE_QA, NULL, h_qa},
    {"GET", "/api/shift", CW_ROLE_QA, NULL, h_shift},
    {"POST", "/api/ack", CW_ROLE_SUPERVISOR, NULL, h_ack},
};

static const route_t *find_route(const char *method, const char *path, bool *path_known)
{
    /* HEAD is GET without the body (libmicrohttpd drops it). */
    const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
    *path_known = false;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(routes[i].path, path) != 0)
            continue;
        *path_known = true;
        if (strcmp(routes[i].method, m) == 0)
            return &routes[i];
    }
    return NULL;
}

/* Session and role for rt; 0 when allowed, else the answer's status. */
static int authorize(req_t *q, const route_t *rt)
{
    if (rt->min_role == CW_ROLE_NONE)
        return 0;
    const char *cookie = q->lookup(q->ctx, 'c', "cw_session");
    if (!cookie || !web_session_get(q->w, cookie, &q->s)) {
        if (rt->page) {
            q->r->location = "/login";
            return reply_body(q, 303, strdup("log in first\n"), "text/plain; charset=utf-8");
        }
        return fail(q, 401, "log in first%s", cookie ? " (the session has ended)" : "");
    }
    if (q->s.role < rt->min_role)
        return fail(q, 403, "not allowed for role %s", cw_role_name(q->s.role));
    /* SameSite=Strict already keeps other sites' requests cookie-less; the
     * token is the second lock. */
    if (strcmp(rt->method, "POST") == 0 && !web_token_eq(q->lookup(q->ctx, 'h', "X-CSRF-Token"), q->s.csrf))
        return fail(q, 403, "missing or wrong CSRF token");
    return 0;
}

int cw_web_answer(cw_web_t *w, const char *method, const char *url, cw_web_lookup_fn lookup, void *ctx,
                  const char *body, size_t body_len, cw_web_reply_t *reply)
{
    memset(reply, 0, sizeof *reply);
    req_t q = {.w = w, .method = method, .lookup = lookup, .ctx = ctx, .body = body, .body_len = body_len, .r = reply};
    size_t plen = strcspn(url, "?");
    if (plen >= sizeof q.path)
        return fail(&q, 414, "URL too long");
    memcpy(q.path, url, plen);
    q.path[plen] = '\0';
    if (strcmp(q.path, "/") == 0 || strcmp(q.path, "/favicon.ico") == 0) {
        if (strcmp(q.path, "/favicon.ico") == 0)
            return reply_body(&q, 404, strdup(""), "text/plain");
        web_session_t s;
        const char *cookie = lookup(ctx, 'c', "cw_session");
        reply->location = cookie && web_session_get(w, cookie, &s) ? home_of(s.role) : "/login";
        return reply_body(&q, 303, strdup("see other\n"), "text/plain; charset=utf-8");
    }
    if (strncmp(q.path, "/static/", 8) == 0) {
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            return fail(&q, 405, "only GET");
        return h_static(&q);
    }
    bool known = false;
    const route_t *rt = find_route(method, q.path, &known);
    if (!rt)
        return known ? fail(&q, 405, "method %.16s not allowed here", method) : fail(&q, 404, "no such page");
    int st = authorize(&q, rt);
    if (st)
        return st;
    if (rt->page)
        return send_asset(&q, rt->page, "text/html; charset=utf-8");
    return rt->handler(&q);
}
