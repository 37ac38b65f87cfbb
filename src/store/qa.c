/* qa.c - see callwatch/qa.h */
#include "callwatch/qa.h"

#include "callwatch/archive_pg.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The default shift window: this long before the agent's latest call. */
#define QA_DEFAULT_SHIFT_MS (12LL * 3600 * 1000)
#define HOUR_MS 3600000LL

static int qa_db_error(cw_archive_t *a, cw_error_t *err, const char *doing)
{
    sqlite3 *db = cw_archive_db(a);
    int primary = sqlite3_errcode(db) & 0xff;
    int code = primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB ? CW_ERR_FORMAT
               : primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? CW_ERR_BUSY
               : primary == SQLITE_NOMEM ? CW_ERR_NOMEM
                                         : CW_ERR_IO;
    return cw_error_set(err, code, "%s: %s while %s%s", cw_archive_path(a), sqlite3_errmsg(db), doing,
                        code == CW_ERR_FORMAT ? " (the archive is damaged)" : "");
}

static const char *col_str(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

static double col_num(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL ? NAN : sqlite3_column_double(st, i);
}

static const char *nonempty(const char *s)
{
    return s && *s ? s : NULL;
}

static void bind_opt_text(sqlite3_stmt *st, int i, const char *s)
{
    if (nonempty(s))
        sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, i);
}

static void bind_opt_ms(sqlite3_stmt *st, int i, long long ms)
{
    if (ms != 0)
        sqlite3_bind_int64(st, i, ms);
    else
        sqlite3_bind_null(st, i);
}

/* Row columns every query below selects, in this order. */
enum { C_TYPE, C_CALL, C_AGENT, C_LEG, C_ID, C_KIND, C_SEV, C_TEXT, C_SCORE, C_T, C_TSTART, C_TEND, C_WALL, C_JSON,
       C_ACKED_AT, C_ACK_AFTER };

/* The PostgreSQL backend's side of the queries (further down). */
typedef struct pg_rows {
    cw_qa_row_fn fn;
    void *user;
} pg_rows_t;
static int pg_row(void *user, const char *const *v, int n);
static int pg_search(cw_archive_t *a, const cw_qa_filter_t *f, unsigned types, cw_qa_row_fn fn, void *user,
                     cw_error_t *err);
static int pg_call_info(cw_archive_t *a, const char *call_id, cw_qa_call_t *out, bool *known, cw_error_t *err);

/* The last two columns: none for rows other than acks ... */
#define NO_ACK_COLS ", NULL, NULL"
/* ... and for an ack (alias k): when it was made, and how long after its
 * alert was raised (the call's start plus the alert's t). */
#define ACK_COLS                                                                                            \
    ", k.acked_at, (k.wall_ms - (SELECT c2.started_ms + CAST(round(a2.t * 1000) AS INTEGER) FROM alerts a2" \
    " JOIN calls c2 ON c2.call_id = a2.call_id WHERE a2.id = k.alert_id)) / 1000.0"

/* Runs st and hands each row to fn. */
static int emit_rows(cw_archive_t *a, sqlite3_stmt *st, cw_qa_row_fn fn, void *user, const char *doing,
                     cw_error_t *err)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cw_qa_row_t row = {
            .type = col_str(st, C_TYPE),
            .call_id = col_str(st, C_CALL),
            .agent_id = col_str(st, C_AGENT),
            .leg = col_str(st, C_LEG),
            .id = col_str(st, C_ID),
            .kind = col_str(st, C_KIND),
            .severity = col_str(st, C_SEV),
            .text = col_str(st, C_TEXT),
            .score = col_num(st, C_SCORE),
            .t = col_num(st, C_T),
            .t_start = col_num(st, C_TSTART),
            .t_end = col_num(st, C_TEND),
            .wall_ms = sqlite3_column_int64(st, C_WALL),
            .json = col_str(st, C_JSON),
            .acked_at = col_str(st, C_ACKED_AT),
            .ack_after_s = col_num(st, C_ACK_AFTER),
        };
        int stop = fn(user, &row);
        if (stop != 0) {
            sqlite3_finalize(st);
            return stop;
        }
    }
    if (rc != SQLITE_DONE) {
        qa_db_error(a, err, doing);
        sqlite3_finalize(st);
        return err->code;
    }
    sqlite3_finalize(st);
    return CW_OK;
}

/* Parameters shared by the parts of the search: ?1 call, ?2 agent, ?3 kind,
 * ?4 severity, ?5 text, ?6 since, ?7 until, ?8 limit. */
#define W_COMMON(tbl, agent) \
    " WHERE (?1 IS NULL OR " tbl ".call_id = ?1) AND (?2 IS NULL OR " agent " = ?2)" \
    " AND (?6 IS NULL OR " tbl ".wall_ms >= ?6) AND (?7 IS NULL OR " tbl ".wall_ms < ?7)"
#define W_TEXT(col) " AND (?5 IS NULL OR instr(lower(" col "), lower(?5)) > 0)"
#define W_KIND(tbl) " AND (?3 IS NULL OR " tbl ".kind = ?3) AND (?4 IS NULL OR " tbl ".severity = ?4)"

static const char SEARCH_ALERTS[] =
    "SELECT 'alert', a.call_id, c.agent_id, a.leg, a.id, a.kind, a.severity, a.text, a.score, a.t_end,"
    " a.t_start, a.t_end, a.wall_ms, a.json" NO_ACK_COLS " FROM alerts a LEFT JOIN calls c ON c.call_id = a.call_id"
    W_COMMON("a", "c.agent_id") W_TEXT("a.text") W_KIND("a");
static const char SEARCH_TRANSCRIPTS[] =
    "SELECT 'transcript', t.call_id, c.agent_id, t.leg, '', '', '', t.text, NULL, t.t_start, t.t_start,"
    " t.t_end, t.wall_ms, t.json" NO_ACK_COLS " FROM transcripts t LEFT JOIN calls c ON c.call_id = t.call_id"
    W_COMMON("t", "c.agent_id") W_TEXT("t.text");
static const char SEARCH_WHISPERS[] =
    "SELECT 'whisper', w.call_id, COALESCE(w.agent_id, c.agent_id), '', w.because, w.kind, w.severity,"
    " w.prompt, NULL, w.t, NULL, NULL, w.wall_ms, w.json" NO_ACK_COLS " FROM whispers w"
    " LEFT JOIN calls c ON c.call_id = w.call_id"
    W_COMMON("w", "COALESCE(w.agent_id, c.agent_id)") W_TEXT("w.prompt") W_KIND("w");
static const char SEARCH_ACKS[] =
    "SELECT 'ack', k.call_id, c.agent_id, '', k.alert_id, '', '', k.by || COALESCE(': ' || k.note, ''), NULL,"
    " (SELECT t_end FROM alerts WHERE id = k.alert_id), NULL, NULL, k.wall_ms, k.json" ACK_COLS " FROM acks k"
    " LEFT JOIN calls c ON c.call_id = k.call_id" W_COMMON("k", "c.agent_id") W_TEXT("COALESCE(k.note, '')");

int cw_qa_search(cw_archive_t *a, const cw_qa_filter_t *f, cw_qa_row_fn fn, void *user, cw_error_t *err)
{
    if (!a || !f || !fn)
        return cw_error_set(err, CW_ERR_INVALID, "qa search: missing archive, filter or callback");
    unsigned types = f->types ? f->types : CW_QA_ALERT | (nonempty(f->text) ? CW_QA_TRANSCRIPT : 0u);
    if (cw_archive_pg(a))
        return pg_search(a, f, types, fn, user, err);
    bool alert_only_filter = nonempty(f->kind) || nonempty(f->severity);
    char sql[8192];
    size_t used = 0;
    struct {
        unsigned type;
        const char *sql;
        bool takes_kind;
    } parts[] = {
        {CW_QA_ALERT, SEARCH_ALERTS, true},
        {CW_QA_TRANSCRIPT, SEARCH_TRANSCRIPTS, false},
        {CW_QA_WHISPER, SEARCH_WHISPERS, true},
        {CW_QA_ACK, SEARCH_ACKS, false},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (!(types & parts[i].type) || (alert_only_filter && !parts[i].takes_kind))
            continue;
        used += (size_t)snprintf(sql + used, sizeof sql - used, "%s%s", used ? " UNION ALL " : "", parts[i].sql);
    }
    if (used == 0)
        return CW_OK; /* e.g. --kind with only transcripts asked for: nothing can match */
    snprintf(sql + used, sizeof sql - used, " ORDER BY 13, 2, 10 LIMIT ?8");
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cw_archive_db(a), sql, -1, &st, NULL) != SQLITE_OK)
        return qa_db_error(a, err, "searching");
    bind_opt_text(st, 1, f->call_id);
    bind_opt_text(st, 2, f->agent_id);
    bind_opt_text(st, 3, f->kind);
    bind_opt_text(st, 4, f->severity);
    bind_opt_text(st, 5, f->text);
    bind_opt_ms(st, 6, f->since_ms);
    bind_opt_ms(st, 7, f->until_ms);
    sqlite3_bind_int64(st, 8, f->limit > 0 ? f->limit : -1);
    return emit_rows(a, st, fn, user, "searching", err);
}

static void copy_col(char *dst, size_t cap, sqlite3_stmt *st, int i)
{
    snprintf(dst, cap, "%s", col_str(st, i));
}

static int call_found(cw_archive_t *a, const char *call_id, const cw_qa_call_t *out, bool known, cw_error_t *err)
{
    if (!known && out->alerts + out->transcripts + out->whispers + out->acks == 0)
        return cw_error_set(err, CW_ERR_NOT_FOUND, "%s: no call '%s' in the archive", cw_archive_path(a), call_id);
    return CW_OK;
}

int cw_qa_call_info(cw_archive_t *a, const char *call_id, cw_qa_call_t *out, cw_error_t *err)
{
    if (!a || !call_id || !out)
        return cw_error_set(err, CW_ERR_INVALID, "qa: missing archive or call id");
    if (cw_archive_pg(a)) {
        memset(out, 0, sizeof *out);
        snprintf(out->call_id, sizeof out->call_id, "%s", call_id);
        bool known = false;
        int rc = pg_call_info(a, call_id, out, &known, err);
        if (rc != CW_OK)
            return rc;
        return call_found(a, call_id, out, known, err);
    }
    static const char sql[] =
        "SELECT c.agent_id, c.line, c.team, c.started_at, c.started_ms, c.duration_s, c.end_reason,"
        " (SELECT count(*) FROM alerts WHERE call_id = ?1), (SELECT count(*) FROM transcripts WHERE call_id = ?1),"
        " (SELECT count(*) FROM whispers WHERE call_id = ?1), (SELECT count(*) FROM acks WHERE call_id = ?1),"
        " c.call_id IS NOT NULL"
        " FROM (SELECT 1) LEFT JOIN calls c ON c.call_id = ?1";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cw_archive_db(a), sql, -1, &st, NULL) != SQLITE_OK)
        return qa_db_error(a, err, "reading a call");
    sqlite3_bind_text(st, 1, call_id, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        qa_db_error(a, err, "reading a call");
        sqlite3_finalize(st);
        return err->code;
    }
    memset(out, 0, sizeof *out);
    snprintf(out->call_id, sizeof out->call_id, "%s", call_id);
    copy_col(out->agent_id, sizeof out->agent_id, st, 0);
    copy_col(out->line, sizeof out->line, st, 1);
    copy_col(out->team, sizeof out->team, st, 2);
    copy_col(out->started_at, sizeof out->started_at, st, 3);
    out->started_ms = sqlite3_column_int64(st, 4);
    out->duration_s = col_num(st, 5);
    copy_col(out->end_reason, sizeof out->end_reason, st, 6);
    out->alerts = sqlite3_column_int(st, 7);
    out->transcripts = sqlite3_column_int(st, 8);
    out->whispers = sqlite3_column_int(st, 9);
    out->acks = sqlite3_column_int(st, 10);
    bool known = sqlite3_column_int(st, 11) != 0;
    sqlite3_finalize(st);
    return call_found(a, call_id, out, known, err);
}

int cw_qa_timeline(cw_archive_t *a, const char *call_id, cw_qa_row_fn fn, void *user, cw_error_t *err)
{
    cw_qa_call_t info;
    if (cw_qa_call_info(a, call_id, &info, err) != CW_OK)
        return err->code;
    if (cw_archive_pg(a)) {
        const char *params[] = {call_id};
        pg_rows_t r = {fn, user};
        return cw_archive_pg_query(cw_archive_pg(a), CW_PGQ_TIMELINE, params, 1, pg_row, &r,
                                   "reading a call's timeline", err);
    }
    /* rank orders rows at the same instant: what was said, then
     * the alert it caused, the whisper answering it, its acknowledgement. */
    static const char sql[] =
        "SELECT * FROM (SELECT 'transcript', t.call_id, c.agent_id, t.leg, '', '', '', t.text, NULL,"
        " t.t_start AS pos, t.t_start, t.t_end, t.wall_ms, t.json" NO_ACK_COLS ", 0 AS rank, t.seg AS ord"
        " FROM transcripts t"
        " LEFT JOIN calls c ON c.call_id = t.call_id WHERE t.call_id = ?1"
        " UNION ALL SELECT 'alert', a.call_id, c.agent_id, a.leg, a.id, a.kind, a.severity, a.text, a.score,"
        " a.t_end, a.t_start, a.t_end, a.wall_ms, a.json" NO_ACK_COLS ", 1, a.rowid FROM alerts a"
        " LEFT JOIN calls c ON c.call_id = a.call_id WHERE a.call_id = ?1"
        " UNION ALL SELECT 'whisper', w.call_id, COALESCE(w.agent_id, c.agent_id), '', w.because, w.kind,"
        " w.severity, w.prompt, NULL, w.t, NULL, NULL, w.wall_ms, w.json" NO_ACK_COLS ", 2, w.seq FROM whispers w"
        " LEFT JOIN calls c ON c.call_id = w.call_id WHERE w.call_id = ?1"
        " UNION ALL SELECT 'ack', k.call_id, c.agent_id, '', k.alert_id, '', '',"
        " k.by || COALESCE(': ' || k.note, ''), NULL, (SELECT t_end FROM alerts WHERE id = k.alert_id),"
        " NULL, NULL, k.wall_ms, k.json" ACK_COLS ", 3, k.seq FROM acks k LEFT JOIN calls c ON c.call_id = k.call_id"
        " WHERE k.call_id = ?1"
        ") ORDER BY pos IS NULL, pos, rank, ord";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cw_archive_db(a), sql, -1, &st, NULL) != SQLITE_OK)
        return qa_db_error(a, err, "reading a call's timeline");
    sqlite3_bind_text(st, 1, call_id, -1, SQLITE_TRANSIENT);
    return emit_rows(a, st, fn, user, "reading a call's timeline", err);
}

/* ---- shift ---- */

static int number_field(const json_t *root, const char *path, const char *key, double min, double max,
                        double *out, cw_error_t *err)
{
    const json_t *v = json_object_get(root, key);
    if (!json_is_number(v))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"%s\" must be a number", path, key);
    double d = json_number_value(v);
    if (!(d >= min && d <= max))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"%s\" = %g is out of range %g..%g", path, key, d, min, max);
    *out = d;
    return CW_OK;
}

int cw_qa_drift_params_load(const char *path, cw_qa_drift_params_t *p, cw_error_t *err)
{
    if (!path || !p)
        return cw_error_set(err, CW_ERR_INVALID, "drift thresholds: no file");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        return cw_error_set(err, CW_ERR_FORMAT, "%s:%d: %s", path, jerr.line, jerr.text);
    double min_calls = 0;
    int rc = CW_OK;
    if (!json_is_object(root))
        rc = cw_error_set(err, CW_ERR_FORMAT, "%s: expected a JSON object", path);
    if (rc == CW_OK)
        rc = number_field(root, path, "min_calls", 2, 1000, &min_calls, err);
    if (rc == CW_OK)
        rc = number_field(root, path, "slope_st_per_call", -100, 0, &p->slope_st_per_call, err);
    if (rc == CW_OK)
        rc = number_field(root, path, "drop_st", 0, 100, &p->drop_st, err);
    p->min_calls = (int)min_calls;
    json_decref(root);
    return rc;
}

static void judge_drift(cw_qa_shift_t *s, const cw_qa_drift_params_t *p)
{
    s->slope_st_per_call = s->first_third_st = s->last_third_st = NAN;
    double y[4096];
    int n = 0;
    for (size_t i = 0; i < s->n_calls && n < (int)(sizeof y / sizeof y[0]); i++)
        if (!isnan(s->calls[i].measure))
            y[n++] = s->calls[i].measure;
    s->measured = n;
    if (n < 2)
        return;
    /* Least squares over the call order (0, 1, 2, ...): calls, not hours,
     * because what wears an agent down is the calls, and gaps (breaks) would
     * otherwise dominate the fit. */
    double mx = (n - 1) / 2.0, my = 0;
    for (int i = 0; i < n; i++)
        my += y[i];
    my /= n;
    double sxy = 0, sxx = 0;
    for (int i = 0; i < n; i++) {
        sxy += (i - mx) * (y[i] - my);
        sxx += (i - mx) * (i - mx);
    }
    s->slope_st_per_call = sxy / sxx;
    int k = n / 3 > 0 ? n / 3 : 1;
    double first = 0, last = 0;
    for (int i = 0; i < k; i++) {
        first += y[i];
        last += y[n - k + i];
    }
    s->first_third_st = first / k;
    s->last_third_st = last / k;
    if (p)
        s->drift = n >= p->min_calls && s->slope_st_per_call <= p->slope_st_per_call &&
                   s->first_third_st - s->last_third_st >= p->drop_st;
}

static cw_qa_shift_hour_t *hour_slot(cw_qa_shift_t *s, long long wall_ms, size_t cap)
{
    long long h = wall_ms - ((wall_ms % HOUR_MS) + HOUR_MS) % HOUR_MS;
    for (size_t i = 0; i < s->n_hours; i++)
        if (s->hours[i].hour_ms == h)
            return &s->hours[i];
    if (s->n_hours == cap)
        return NULL;
    cw_qa_shift_hour_t *slot = &s->hours[s->n_hours++];
    memset(slot, 0, sizeof *slot);
    slot->hour_ms = h;
    return slot;
}

static int by_hour(const void *x, const void *y)
{
    const cw_qa_shift_hour_t *a = x, *b = y;
    return (a->hour_ms > b->hour_ms) - (a->hour_ms < b->hour_ms);
}

/* Room for one more call in s->calls (*cap of them allocated); NULL when
 * out of memory. */
static cw_qa_shift_call_t *shift_next_call(cw_qa_shift_t *s, size_t *cap)
{
    if (s->n_calls == *cap) {
        cw_qa_shift_call_t *more = realloc(s->calls, 2 * *cap * sizeof *s->calls);
        if (!more)
            return NULL;
        s->calls = more;
        *cap *= 2;
    }
    cw_qa_shift_call_t *c = &s->calls[s->n_calls++];
    memset(c, 0, sizeof *c);
    return c;
}

/* The call's measure and its share of the shift's totals. */
static void shift_add_call(cw_qa_shift_t *s, cw_qa_shift_call_t *c, double summary, double from_alerts)
{
    /* The whole-call summary beats flat_affect alerts, which only exist
     * for the stretches that were flat. */
    c->measure = !isnan(summary) ? summary : from_alerts;
    c->measure_source = !isnan(summary) ? "summary" : !isnan(from_alerts) ? "alerts" : "";
    s->alerts += c->alerts;
    s->hostile_calls += c->hostile;
}

/* One alert in its hour (cap hours allocated). */
static void shift_add_alert(cw_qa_shift_t *s, size_t cap, long long wall_ms, const char *sev, const char *kind)
{
    cw_qa_shift_hour_t *h = hour_slot(s, wall_ms, cap);
    if (!h)
        return;
    h->alerts++;
    h->critical += strcmp(sev, "critical") == 0;
    h->warning += strcmp(sev, "warning") == 0;
    h->info += strcmp(sev, "info") == 0;
    h->flat_affect += strcmp(kind, "flat_affect") == 0;
}

#define SHIFT_FIRST_CALLS 64
#define SHIFT_MAX_HOURS (24 * 62)

/* The hours s's calls started in; -1 when out of memory. */
static int shift_start_hours(cw_qa_shift_t *s)
{
    s->hours = malloc(SHIFT_MAX_HOURS * sizeof *s->hours);
    if (!s->hours)
        return -1;
    for (size_t i = 0; i < s->n_calls; i++) {
        cw_qa_shift_hour_t *h = hour_slot(s, s->calls[i].started_ms, SHIFT_MAX_HOURS);
        if (h)
            h->calls++;
    }
    return 0;
}

/* Reads agent_id's calls in s's window into s->calls (and the shift's alert
 * and hostile-call totals); 0, or -1 on a database or memory failure. */
static int shift_read_calls(sqlite3 *db, const char *agent_id, cw_qa_shift_t *s)
{
    static const char calls_sql[] =
        "SELECT c.call_id, c.started_ms, c.duration_s, c.agent_f0_spread_st,"
        " (SELECT count(*) FROM alerts a WHERE a.call_id = c.call_id),"
        " (SELECT count(*) FROM alerts a WHERE a.call_id = c.call_id AND a.severity = 'critical'),"
        " (SELECT count(*) FROM alerts a WHERE a.call_id = c.call_id AND a.severity = 'warning'),"
        " (SELECT count(*) FROM alerts a WHERE a.call_id = c.call_id AND a.kind = 'flat_affect'),"
        " (SELECT count(*) FROM alerts a WHERE a.call_id = c.call_id AND a.leg = 'customer'"
        "  AND a.kind IN ('anger', 'escalation')),"
        " (SELECT avg(CASE WHEN json_valid(a.evidence) THEN json_extract(a.evidence, '$.prosody.f0_spread_st') END)"
        "  FROM alerts a WHERE a.call_id = c.call_id AND a.kind = 'flat_affect')"
        " FROM calls c WHERE c.agent_id = ?1 AND c.started_ms >= ?2 AND (?3 IS NULL OR c.started_ms < ?3)"
        " ORDER BY c.started_ms, c.call_id";
    sqlite3_stmt *st = NULL;
    size_t cap_calls = SHIFT_FIRST_CALLS;
    s->calls = malloc(cap_calls * sizeof *s->calls);
    if (!s->calls || sqlite3_prepare_v2(db, calls_sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, agent_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, s->since_ms);
    bind_opt_ms(st, 3, s->until_ms);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        cw_qa_shift_call_t *c = shift_next_call(s, &cap_calls);
        if (!c)
            break;
        copy_col(c->call_id, sizeof c->call_id, st, 0);
        c->started_ms = sqlite3_column_int64(st, 1);
        c->duration_s = col_num(st, 2);
        c->alerts = sqlite3_column_int(st, 4);
        c->critical = sqlite3_column_int(st, 5);
        c->warning = sqlite3_column_int(st, 6);
        c->flat_affect = sqlite3_column_int(st, 7);
        c->hostile = sqlite3_column_int(st, 8) > 0;
        shift_add_call(s, c, col_num(st, 3), col_num(st, 9));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* Counts s's calls and the alerts of agent_id's calls per wall-clock hour into
 * s->hours (sorted); 0, or -1 on a database or memory failure. */
static int shift_count_hours(sqlite3 *db, const char *agent_id, cw_qa_shift_t *s)
{
    static const char alerts_sql[] =
        "SELECT a.wall_ms, a.severity, a.kind FROM alerts a JOIN calls c ON c.call_id = a.call_id"
        " WHERE c.agent_id = ?1 AND c.started_ms >= ?2 AND (?3 IS NULL OR c.started_ms < ?3)";
    if (shift_start_hours(s) != 0)
        return -1;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, alerts_sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, agent_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, s->since_ms);
    bind_opt_ms(st, 3, s->until_ms);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        shift_add_alert(s, SHIFT_MAX_HOURS, sqlite3_column_int64(st, 0), col_str(st, 1), col_str(st, 2));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return -1;
    qsort(s->hours, s->n_hours, sizeof *s->hours, by_hour);
    return 0;
}

/* ---- the PostgreSQL backend: its SQL is in archive_pg.c ---- */

static const char *text_or_empty(const char *v)
{
    return v ? v : "";
}

static double text_num(const char *v)
{
    return v ? strtod(v, NULL) : NAN;
}

static long long text_ll(const char *v)
{
    return v ? strtoll(v, NULL, 10) : 0;
}

static int pg_row(void *user, const char *const *v, int n)
{
    pg_rows_t *r = user;
    if (n < C_ACK_AFTER + 1)
        return CW_ERR_INTERNAL;
    cw_qa_row_t row = {
        .type = text_or_empty(v[C_TYPE]),
        .call_id = text_or_empty(v[C_CALL]),
        .agent_id = text_or_empty(v[C_AGENT]),
        .leg = text_or_empty(v[C_LEG]),
        .id = text_or_empty(v[C_ID]),
        .kind = text_or_empty(v[C_KIND]),
        .severity = text_or_empty(v[C_SEV]),
        .text = text_or_empty(v[C_TEXT]),
        .score = text_num(v[C_SCORE]),
        .t = text_num(v[C_T]),
        .t_start = text_num(v[C_TSTART]),
        .t_end = text_num(v[C_TEND]),
        .wall_ms = text_ll(v[C_WALL]),
        .json = text_or_empty(v[C_JSON]),
        .acked_at = text_or_empty(v[C_ACKED_AT]),
        .ack_after_s = text_num(v[C_ACK_AFTER]),
    };
    return r->fn(r->user, &row);
}

/* "123" into buf, or NULL (SQL NULL) for 0. */
static const char *opt_ms_text(long long ms, char *buf, size_t cap)
{
    if (ms == 0)
        return NULL;
    snprintf(buf, cap, "%lld", ms);
    return buf;
}

static int pg_search(cw_archive_t *a, const cw_qa_filter_t *f, unsigned types, cw_qa_row_fn fn, void *user,
                     cw_error_t *err)
{
    char since[32], until[32], limit[32], mask[16];
    snprintf(mask, sizeof mask, "%u", types);
    const char *params[] = {
        nonempty(f->call_id), nonempty(f->agent_id), nonempty(f->kind), nonempty(f->severity), nonempty(f->text),
        opt_ms_text(f->since_ms, since, sizeof since), opt_ms_text(f->until_ms, until, sizeof until),
        opt_ms_text(f->limit > 0 ? f->limit : 0, limit, sizeof limit), mask,
    };
    pg_rows_t r = {fn, user};
    return cw_archive_pg_query(cw_archive_pg(a), CW_PGQ_SEARCH, params, 9, pg_row, &r, "searching", err);
}

static int pg_call_row(void *user, const char *const *v, int n)
{
    cw_qa_call_t *out = user;
    if (n < 12)
        return CW_ERR_INTERNAL;
    snprintf(out->agent_id, sizeof out->agent_id, "%s", text_or_empty(v[0]));
    snprintf(out->line, sizeof out->line, "%s", text_or_empty(v[1]));
    snprintf(out->team, sizeof out->team, "%s", text_or_empty(v[2]));
    snprintf(out->started_at, sizeof out->started_at, "%s", text_or_empty(v[3]));
    out->started_ms = text_ll(v[4]);
    out->duration_s = text_num(v[5]);
    snprintf(out->end_reason, sizeof out->end_reason, "%s", text_or_empty(v[6]));
    out->alerts = (long)text_ll(v[7]);
    out->transcripts = (long)text_ll(v[8]);
    out->whispers = (long)text_ll(v[9]);
    out->acks = (long)text_ll(v[10]);
    return text_ll(v[11]) ? 1 : 2; /* known, or only its events are */
}

/* Fills *out; CW_OK with *known, or a negative cw_status. */
static int pg_call_info(cw_archive_t *a, const char *call_id, cw_qa_call_t *out, bool *known, cw_error_t *err)
{
    const char *params[] = {call_id};
    int rc = cw_archive_pg_query(cw_archive_pg(a), CW_PGQ_CALL_INFO, params, 1, pg_call_row, out, "reading a call",
                                 err);
    if (rc < 0)
        return rc;
    *known = rc == 1;
    return CW_OK;
}

static int pg_latest_row(void *user, const char *const *v, int n)
{
    long long *latest = user;
    if (n < 1 || !v[0])
        return 2;
    *latest = text_ll(v[0]);
    return 1;
}

typedef struct pg_shift {
    cw_qa_shift_t *s;
    size_t cap;
} pg_shift_t;

static int pg_shift_call_row(void *user, const char *const *v, int n)
{
    pg_shift_t *ps = user;
    if (n < 10)
        return CW_ERR_INTERNAL;
    cw_qa_shift_call_t *c = shift_next_call(ps->s, &ps->cap);
    if (!c)
        return CW_ERR_NOMEM;
    snprintf(c->call_id, sizeof c->call_id, "%s", text_or_empty(v[0]));
    c->started_ms = text_ll(v[1]);
    c->duration_s = text_num(v[2]);
    c->alerts = (int)text_ll(v[4]);
    c->critical = (int)text_ll(v[5]);
    c->warning = (int)text_ll(v[6]);
    c->flat_affect = (int)text_ll(v[7]);
    c->hostile = text_ll(v[8]) > 0;
    shift_add_call(ps->s, c, text_num(v[3]), text_num(v[9]));
    return 0;
}

static int pg_shift_alert_row(void *user, const char *const *v, int n)
{
    if (n < 3)
        return CW_ERR_INTERNAL;
    shift_add_alert(user, SHIFT_MAX_HOURS, text_ll(v[0]), text_or_empty(v[1]), text_or_empty(v[2]));
    return 0;
}

/* s's calls and hours from PostgreSQL; a negative cw_status on failure. */
static int pg_shift_fill(cw_archive_t *a, const char *agent_id, cw_qa_shift_t *s, cw_error_t *err)
{
    char since[32], until[32];
    snprintf(since, sizeof since, "%lld", s->since_ms);
    const char *params[] = {agent_id, since, opt_ms_text(s->until_ms, until, sizeof until)};
    pg_shift_t ps = {s, SHIFT_FIRST_CALLS};
    s->calls = malloc(ps.cap * sizeof *s->calls);
    if (!s->calls)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory");
    int rc = cw_archive_pg_query(cw_archive_pg(a), CW_PGQ_SHIFT_CALLS, params, 3, pg_shift_call_row, &ps,
                                 "summarising the shift", err);
    if (rc == CW_OK && shift_start_hours(s) != 0)
        rc = CW_ERR_NOMEM;
    if (rc == CW_OK)
        rc = cw_archive_pg_query(cw_archive_pg(a), CW_PGQ_SHIFT_ALERTS, params, 3, pg_shift_alert_row, s,
                                 "summarising the shift", err);
    if (rc == CW_ERR_NOMEM)
        cw_error_set(err, CW_ERR_NOMEM, "out of memory");
    if (rc != CW_OK)
        return rc < 0 ? rc : CW_ERR_INTERNAL;
    qsort(s->hours, s->n_hours, sizeof *s->hours, by_hour);
    return CW_OK;
}

/* The start of the agent's latest call (*any false: none). */
static int agent_latest(cw_archive_t *a, const char *agent_id, bool *any, long long *latest, cw_error_t *err)
{
    if (cw_archive_pg(a)) {
        const char *params[] = {agent_id};
        int rc = cw_archive_pg_query(cw_archive_pg(a), CW_PGQ_AGENT_LATEST, params, 1, pg_latest_row, latest,
                                     "reading the agent's calls", err);
        if (rc < 0)
            return rc;
        *any = rc == 1;
        return CW_OK;
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(cw_archive_db(a), "SELECT max(started_ms) FROM calls WHERE agent_id = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        return qa_db_error(a, err, "reading the agent's calls");
    sqlite3_bind_text(st, 1, agent_id, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    *any = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    *latest = *any ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return qa_db_error(a, err, "reading the agent's calls");
    return CW_OK;
}

int cw_qa_shift(cw_archive_t *a, const char *agent_id, long long since_ms, long long until_ms,
                const cw_qa_drift_params_t *p, cw_qa_shift_t **out, cw_error_t *err)
{
    if (!a || !nonempty(agent_id) || !out)
        return cw_error_set(err, CW_ERR_INVALID, "qa shift: an agent id is needed");
    *out = NULL;
    bool any = false;
    long long latest = 0;
    if (agent_latest(a, agent_id, &any, &latest, err) != CW_OK)
        return err->code;
    if (!any)
        return cw_error_set(err, CW_ERR_NOT_FOUND, "%s: no call of agent '%s' in the archive", cw_archive_path(a),
                            agent_id);
    if (since_ms == 0)
        since_ms = latest - QA_DEFAULT_SHIFT_MS;

    cw_qa_shift_t *s = calloc(1, sizeof *s);
    if (!s)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory");
    snprintf(s->agent_id, sizeof s->agent_id, "%s", agent_id);
    s->since_ms = since_ms;
    s->until_ms = until_ms;
    if (cw_archive_pg(a)) {
        int rc = pg_shift_fill(a, agent_id, s, err);
        if (rc != CW_OK) {
            cw_qa_shift_free(&s);
            return rc;
        }
    } else if (shift_read_calls(cw_archive_db(a), agent_id, s) != 0 ||
               shift_count_hours(cw_archive_db(a), agent_id, s) != 0) {
        if (!s->calls || !s->hours)
            cw_error_set(err, CW_ERR_NOMEM, "out of memory");
        else
            qa_db_error(a, err, "summarising the shift");
        cw_qa_shift_free(&s);
        return err ? err->code : CW_ERR_IO;
    }
    judge_drift(s, p);
    *out = s;
    return CW_OK;
}

void cw_qa_shift_free(cw_qa_shift_t **sp)
{
    if (!sp || !*sp)
        return;
    free((*sp)->calls);
    free((*sp)->hours);
    free(*sp);
    *sp = NULL;
}

/* ---- times ---- */

int cw_qa_parse_time(cw_archive_t *a, const char *text, long long *out_ms, cw_error_t *err)
{
    static const char forms[] = "use 2024-05-01, 2024-05-01T14:00, '2024-05-01 14:00:30Z' (UTC) or a span"
                                " ago such as 90m, 2h, 7d";
    if (!text || !*text)
        return cw_error_set(err, CW_ERR_INVALID, "empty time: %s", forms);
    char *end = NULL;
    errno = 0;
    long long n = strtoll(text, &end, 10);
    if (end != text && errno == 0 && n >= 0 && end[0] && !end[1] && strchr("mhd", end[0])) {
        long long unit = end[0] == 'm' ? 60000LL : end[0] == 'h' ? HOUR_MS : 24 * HOUR_MS;
        if (n > 100LL * 365 * 24 * 60)
            return cw_error_set(err, CW_ERR_INVALID, "time '%s' is too far back", text);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        *out_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 - n * unit;
        return CW_OK;
    }
    /* ISO-8601 by SQLite's date parser; "now" and modifiers are not dates. */
    if (!isdigit((unsigned char)text[0]))
        return cw_error_set(err, CW_ERR_INVALID, "'%s' is not a time: %s", text, forms);
    /* A PostgreSQL archive reads times with SQLite's parser too, in memory. */
    sqlite3 *dates = NULL;
    sqlite3 *db = cw_archive_db(a);
    if (!db && sqlite3_open_v2(":memory:", &dates, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        sqlite3_close(dates);
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory reading a time");
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db ? db : dates, "SELECT CAST(round((julianday(?1) - 2440587.5) * 86400000) AS INTEGER)",
                           -1, &st, NULL) != SQLITE_OK) {
        sqlite3_close(dates);
        return qa_db_error(a, err, "reading a time");
    }
    sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
    int rc = sqlite3_step(st);
    bool ok = rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL;
    if (ok)
        *out_ms = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(dates);
    if (!ok)
        return cw_error_set(err, CW_ERR_INVALID, "'%s' is not a time: %s", text, forms);
    return CW_OK;
}

const char *cw_qa_format_time(long long wall_ms, char *buf, size_t cap)
{
    if (wall_ms == 0) {
        snprintf(buf, cap, "-");
        return buf;
    }
    time_t secs = (time_t)(wall_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char day[32];
    strftime(day, sizeof day, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf, cap, "%sZ", day);
    return buf;
}
