/* archive_pg.c - see callwatch/archive_pg.h */
#include "callwatch/archive_pg.h"

#include "callwatch/archive_event.h"

#include <jansson.h>
#include <libpq-fe.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Schema version this build writes (callwatch_meta.schema_version). The
 * PostgreSQL lineage starts at the SQLite archive's version 3 contents. */
#define PG_SCHEMA_VERSION 1
/* pg_advisory_xact_lock key of schema changes: "CWAR". */
#define PG_SCHEMA_LOCK "1129791826"
#define PG_CONNECT_TIMEOUT_S "5"

/* ---- schema ---- */

static const char PG_META[] = "CREATE TABLE IF NOT EXISTS callwatch_meta(key TEXT PRIMARY KEY, value TEXT NOT NULL)";

/* Version 1: the tables of the SQLite archive's version 3, with unique event
 * keys for idempotent inserts. */
static const char PG_SCHEMA_V1[] =
    "CREATE TABLE calls(call_id TEXT PRIMARY KEY, agent_id TEXT, line TEXT, team TEXT, source TEXT,"
    " started_at TEXT, started_ms BIGINT, ended_ms BIGINT, duration_s DOUBLE PRECISION, end_reason TEXT,"
    " start_json TEXT, end_json TEXT, prosody_summary TEXT, agent_f0_spread_st DOUBLE PRECISION);"
    "CREATE INDEX calls_by_agent ON calls(agent_id, started_ms);"
    "CREATE INDEX calls_by_start ON calls(started_ms);"
    "CREATE TABLE legs(call_id TEXT NOT NULL, leg TEXT NOT NULL, rate_hz BIGINT, frames_dropped BIGINT,"
    " PRIMARY KEY(call_id, leg));"
    "CREATE TABLE transcripts(seg BIGSERIAL PRIMARY KEY, call_id TEXT NOT NULL, leg TEXT, t DOUBLE PRECISION,"
    " t_start DOUBLE PRECISION, t_end DOUBLE PRECISION, utterance BIGINT, text TEXT, wall_ms BIGINT,"
    " json TEXT NOT NULL, ev_key TEXT NOT NULL UNIQUE);"
    "CREATE INDEX transcripts_by_call ON transcripts(call_id, t_start);"
    "CREATE INDEX transcripts_by_time ON transcripts(wall_ms);"
    "CREATE TABLE alerts(id TEXT PRIMARY KEY, ord BIGSERIAL, call_id TEXT NOT NULL, leg TEXT, kind TEXT,"
    " severity TEXT, score DOUBLE PRECISION, t DOUBLE PRECISION, t_start DOUBLE PRECISION,"
    " t_end DOUBLE PRECISION, text TEXT, escalates TEXT, evidence TEXT, wall_ms BIGINT, json TEXT NOT NULL);"
    "CREATE INDEX alerts_by_call ON alerts(call_id, t_end);"
    "CREATE INDEX alerts_by_time ON alerts(wall_ms);"
    "CREATE TABLE whispers(seq BIGSERIAL PRIMARY KEY, call_id TEXT, agent_id TEXT, t DOUBLE PRECISION,"
    " because TEXT, kind TEXT, severity TEXT, lang TEXT, prompt TEXT, wall_ms BIGINT, json TEXT NOT NULL,"
    " ev_key TEXT NOT NULL UNIQUE);"
    "CREATE INDEX whispers_by_call ON whispers(call_id, t);"
    "CREATE TABLE acks(seq BIGSERIAL PRIMARY KEY, call_id TEXT, alert_id TEXT, \"by\" TEXT, at TEXT, note TEXT,"
    " wall_ms BIGINT, json TEXT NOT NULL, acked_at TEXT, ev_key TEXT NOT NULL UNIQUE);"
    "CREATE INDEX acks_by_alert ON acks(alert_id);"
    "CREATE INDEX acks_by_call ON acks(call_id);"
    "CREATE TABLE other_events(seq BIGSERIAL PRIMARY KEY, call_id TEXT, type TEXT, topic TEXT, wall_ms BIGINT,"
    " json TEXT NOT NULL, ev_key TEXT NOT NULL UNIQUE);"
    "CREATE INDEX other_events_by_time ON other_events(wall_ms);";

static const char *const PG_MIGRATIONS[PG_SCHEMA_VERSION] = {PG_SCHEMA_V1};

/* ---- storing ---- */

/* A row's wall time: its call's start plus the call-audio offset, or when
 * it was archived. */
#define PG_WALL_MS(call, t, now)                                                                    \
    "COALESCE((SELECT started_ms FROM calls WHERE call_id = " call "::text) + round(" t            \
    "::float8 * 1000)::bigint, " now "::bigint)"
/* On a replay of the same call_start the end stays; a different one (the
 * recording analysed again) clears it, as the SQLite archive does. */
#define PG_KEEP_IF_SAME(col) col " = CASE WHEN calls.start_json = excluded.start_json THEN calls." col " END"
/* Rows of an earlier analysis of the call, unless the call_start is the
 * same one replayed. */
#define PG_FORGET(tbl)                                                                             \
    "DELETE FROM " tbl " WHERE call_id = $1::text AND EXISTS (SELECT 1 FROM calls WHERE call_id = $1::text" \
    " AND start_json IS DISTINCT FROM $2::text)"

enum {
    PS_FORGET_TRANSCRIPTS,
    PS_FORGET_ALERTS,
    PS_FORGET_WHISPERS,
    PS_FORGET_ACKS,
    PS_FORGET_LEGS,
    PS_FORGET_OTHER,
    PS_CALL_START,
    PS_CALL_END,
    PS_LEG_RATE,
    PS_LEG_DROPPED,
    PS_TRANSCRIPT,
    PS_ALERT,
    PS_WHISPER,
    PS_ACK,
    PS_OTHER,
    PS_COUNT
};

static const char *const PG_STATEMENTS[PS_COUNT] = {
    [PS_FORGET_TRANSCRIPTS] = PG_FORGET("transcripts"),
    [PS_FORGET_ALERTS] = PG_FORGET("alerts"),
    [PS_FORGET_WHISPERS] = PG_FORGET("whispers"),
    [PS_FORGET_ACKS] = PG_FORGET("acks"),
    [PS_FORGET_LEGS] = PG_FORGET("legs"),
    [PS_FORGET_OTHER] = PG_FORGET("other_events"),
    [PS_CALL_START] =
        "INSERT INTO calls(call_id, agent_id, line, team, source, started_at, started_ms, start_json)"
        " VALUES($1, $2, $3, $4, $5, $6, $7::bigint, $8)"
        " ON CONFLICT(call_id) DO UPDATE SET agent_id = excluded.agent_id, line = excluded.line,"
        " team = excluded.team, source = excluded.source, started_at = excluded.started_at,"
        " started_ms = excluded.started_ms, " PG_KEEP_IF_SAME("ended_ms") ", " PG_KEEP_IF_SAME("duration_s")
        ", " PG_KEEP_IF_SAME("end_reason") ", " PG_KEEP_IF_SAME("end_json") ", " PG_KEEP_IF_SAME("prosody_summary")
        ", " PG_KEEP_IF_SAME("agent_f0_spread_st") ", start_json = excluded.start_json",
    [PS_CALL_END] =
        "INSERT INTO calls(call_id, started_ms, ended_ms, duration_s, end_reason, end_json, prosody_summary,"
        " agent_f0_spread_st) VALUES($1, $5::bigint, $5::bigint, $2::float8, $3, $4, $6, $7::float8)"
        " ON CONFLICT(call_id) DO UPDATE SET duration_s = excluded.duration_s, end_reason = excluded.end_reason,"
        " end_json = excluded.end_json, prosody_summary = excluded.prosody_summary,"
        " agent_f0_spread_st = excluded.agent_f0_spread_st,"
        " ended_ms = COALESCE(calls.started_ms + round(excluded.duration_s * 1000)::bigint, $5::bigint)",
    [PS_LEG_RATE] = "INSERT INTO legs(call_id, leg, rate_hz) VALUES($1, $2, $3::bigint)"
                    " ON CONFLICT(call_id, leg) DO UPDATE SET rate_hz = excluded.rate_hz",
    [PS_LEG_DROPPED] = "INSERT INTO legs(call_id, leg, frames_dropped) VALUES($1, $2, $3::bigint)"
                       " ON CONFLICT(call_id, leg) DO UPDATE SET frames_dropped = excluded.frames_dropped",
    [PS_TRANSCRIPT] = "INSERT INTO transcripts(call_id, leg, t, t_start, t_end, utterance, text, wall_ms, json, ev_key)"
                      " VALUES($1::text, $2, $3::float8, $4::float8, $5::float8, $6::bigint, $7, "
                      PG_WALL_MS("$1", "$4", "$8") ", $9::text, md5($9::text)) ON CONFLICT(ev_key) DO NOTHING",
    [PS_ALERT] = "INSERT INTO alerts(id, call_id, leg, kind, severity, score, t, t_start, t_end, text, escalates,"
                 " evidence, wall_ms, json) VALUES($1, $2::text, $3, $4, $5, $6::float8, $7::float8, $8::float8,"
                 " $9::float8, $10, $11, $12, " PG_WALL_MS("$2", "$9", "$13") ", $14)"
                 " ON CONFLICT(id) DO UPDATE SET call_id = excluded.call_id, leg = excluded.leg,"
                 " kind = excluded.kind, severity = excluded.severity, score = excluded.score, t = excluded.t,"
                 " t_start = excluded.t_start, t_end = excluded.t_end, text = excluded.text,"
                 " escalates = excluded.escalates, evidence = excluded.evidence, wall_ms = excluded.wall_ms,"
                 " json = excluded.json",
    [PS_WHISPER] = "INSERT INTO whispers(call_id, agent_id, t, because, kind, severity, lang, prompt, wall_ms, json,"
                   " ev_key) VALUES($1::text, $2, $3::float8, $4, $5, $6, $7, $8, " PG_WALL_MS("$1", "$3", "$9")
                   ", $10::text, md5($10::text)) ON CONFLICT(ev_key) DO NOTHING",
    [PS_ACK] = "INSERT INTO acks(call_id, alert_id, \"by\", at, note, wall_ms, json, acked_at, ev_key)"
               " VALUES($1, $2, $3, $4::text, $5, $6::bigint, $7::text, COALESCE($8::text, $4::text), md5($7::text))"
               " ON CONFLICT(ev_key) DO NOTHING",
    [PS_OTHER] = "INSERT INTO other_events(call_id, type, topic, wall_ms, json, ev_key)"
                 " VALUES($1::text, $2, $3, " PG_WALL_MS("$1", "$4", "$5") ", $6::text, md5($6::text))"
                 " ON CONFLICT(ev_key) DO NOTHING",
};

static const char *const PG_PRUNE[] = {
    "DELETE FROM transcripts WHERE wall_ms < $1::bigint",
    "DELETE FROM alerts WHERE wall_ms < $1::bigint",
    "DELETE FROM whispers WHERE wall_ms < $1::bigint",
    "DELETE FROM acks WHERE wall_ms < $1::bigint",
    "DELETE FROM other_events WHERE wall_ms < $1::bigint",
    "DELETE FROM calls WHERE COALESCE(ended_ms, started_ms) < $1::bigint",
    "DELETE FROM legs WHERE call_id NOT IN (SELECT call_id FROM calls)",
};

/* ---- QA queries ---- */

#define PGQ_NO_ACK ", NULL::text, NULL::numeric"
#define PGQ_ACK                                                                                             \
    ", k.acked_at, (k.wall_ms - (SELECT c2.started_ms + round(a2.t * 1000)::bigint FROM alerts a2"          \
    " JOIN calls c2 ON c2.call_id = a2.call_id WHERE a2.id = k.alert_id)) / 1000.0"
#define PGQ_COMMON(tbl, agent)                                                                              \
    " WHERE ($1::text IS NULL OR " tbl ".call_id = $1::text) AND ($2::text IS NULL OR " agent " = $2::text)" \
    " AND ($6::bigint IS NULL OR " tbl ".wall_ms >= $6::bigint) AND ($7::bigint IS NULL OR " tbl             \
    ".wall_ms < $7::bigint)"
#define PGQ_TEXT(col) " AND ($5::text IS NULL OR strpos(lower(" col "), lower($5::text)) > 0)"
#define PGQ_KIND(tbl) " AND ($3::text IS NULL OR " tbl ".kind = $3::text) AND ($4::text IS NULL OR " tbl \
                      ".severity = $4::text)"
#define PGQ_NO_KIND " AND $3::text IS NULL AND $4::text IS NULL"
#define PGQ_TYPE(bit) " AND ($9::int & " bit ") <> 0"

static const char *const PG_QUERIES[CW_PGQ_COUNT] = {
    [CW_PGQ_SEARCH] =
        "SELECT 'alert'::text, a.call_id, c.agent_id, a.leg, a.id, a.kind, a.severity, a.text, a.score, a.t_end,"
        " a.t_start, a.t_end, a.wall_ms, a.json" PGQ_NO_ACK " FROM alerts a LEFT JOIN calls c ON c.call_id = a.call_id"
        PGQ_COMMON("a", "c.agent_id") PGQ_TEXT("a.text") PGQ_KIND("a") PGQ_TYPE("1")
        " UNION ALL SELECT 'transcript', t.call_id, c.agent_id, t.leg, '', '', '', t.text, NULL, t.t_start,"
        " t.t_start, t.t_end, t.wall_ms, t.json" PGQ_NO_ACK " FROM transcripts t"
        " LEFT JOIN calls c ON c.call_id = t.call_id"
        PGQ_COMMON("t", "c.agent_id") PGQ_TEXT("t.text") PGQ_NO_KIND PGQ_TYPE("2")
        " UNION ALL SELECT 'whisper', w.call_id, COALESCE(w.agent_id, c.agent_id), '', w.because, w.kind,"
        " w.severity, w.prompt, NULL, w.t, NULL, NULL, w.wall_ms, w.json" PGQ_NO_ACK " FROM whispers w"
        " LEFT JOIN calls c ON c.call_id = w.call_id"
        PGQ_COMMON("w", "COALESCE(w.agent_id, c.agent_id)") PGQ_TEXT("w.prompt") PGQ_KIND("w") PGQ_TYPE("4")
        " UNION ALL SELECT 'ack', k.call_id, c.agent_id, '', k.alert_id, '', '',"
        " k.\"by\" || COALESCE(': ' || k.note, ''), NULL, (SELECT t_end FROM alerts WHERE id = k.alert_id), NULL,"
        " NULL, k.wall_ms, k.json" PGQ_ACK " FROM acks k LEFT JOIN calls c ON c.call_id = k.call_id"
        PGQ_COMMON("k", "c.agent_id") PGQ_TEXT("COALESCE(k.note, '')") PGQ_NO_KIND PGQ_TYPE("8")
        " ORDER BY 13 NULLS FIRST, 2 NULLS FIRST, 10 NULLS FIRST LIMIT $8::bigint",
    [CW_PGQ_CALL_INFO] =
        "SELECT c.agent_id, c.line, c.team, c.started_at, c.started_ms, c.duration_s, c.end_reason,"
        " (SELECT count(*) FROM alerts WHERE call_id = $1::text),"
        " (SELECT count(*) FROM transcripts WHERE call_id = $1::text),"
        " (SELECT count(*) FROM whispers WHERE call_id = $1::text),"
        " (SELECT count(*) FROM acks WHERE call_id = $1::text), (c.call_id IS NOT NULL)::int"
        " FROM (SELECT 1) AS one LEFT JOIN calls c ON c.call_id = $1::text",
    [CW_PGQ_TIMELINE] =
        "SELECT * FROM (SELECT 'transcript'::text, t.call_id, c.agent_id, t.leg, ''::text, ''::text, ''::text,"
        " t.text, NULL::float8, t.t_start AS pos, t.t_start, t.t_end, t.wall_ms, t.json" PGQ_NO_ACK
        ", 0 AS rank, t.seg AS ord FROM transcripts t LEFT JOIN calls c ON c.call_id = t.call_id"
        " WHERE t.call_id = $1::text"
        " UNION ALL SELECT 'alert', a.call_id, c.agent_id, a.leg, a.id, a.kind, a.severity, a.text, a.score,"
        " a.t_end, a.t_start, a.t_end, a.wall_ms, a.json" PGQ_NO_ACK ", 1, a.ord FROM alerts a"
        " LEFT JOIN calls c ON c.call_id = a.call_id WHERE a.call_id = $1::text"
        " UNION ALL SELECT 'whisper', w.call_id, COALESCE(w.agent_id, c.agent_id), '', w.because, w.kind,"
        " w.severity, w.prompt, NULL, w.t, NULL, NULL, w.wall_ms, w.json" PGQ_NO_ACK ", 2, w.seq FROM whispers w"
        " LEFT JOIN calls c ON c.call_id = w.call_id WHERE w.call_id = $1::text"
        " UNION ALL SELECT 'ack', k.call_id, c.agent_id, '', k.alert_id, '', '',"
        " k.\"by\" || COALESCE(': ' || k.note, ''), NULL, (SELECT t_end FROM alerts WHERE id = k.alert_id),"
        " NULL, NULL, k.wall_ms, k.json" PGQ_ACK ", 3, k.seq FROM acks k LEFT JOIN calls c ON c.call_id = k.call_id"
        " WHERE k.call_id = $1::text"
        ") AS x ORDER BY pos IS NULL, pos, rank, ord",
    [CW_PGQ_AGENT_LATEST] = "SELECT max(started_ms) FROM calls WHERE agent_id = $1::text",
    [CW_PGQ_SHIFT_CALLS] =
        "SELECT c.call_id, c.started_ms, c.duration_s, c.agent_f0_spread_st,"
        " (SELECT count(*) FROM alerts a WHERE a.call_id = c.call_id),"
        " (SELECT count(*) FROM alerts a WHERE a.call_id = c.call_id AND a.severity = 'critical'),"
        " (SELECT count(*) FROM alerts a WHERE a.call_id = c.call_id AND a.severity = 'warning'),"
        " (SELECT count(*) FROM alerts a WHERE a.call_id = c.call_id AND a.kind = 'flat_affect'),"
        " (SELECT count(*) FROM alerts a WHERE a.call_id = c.call_id AND a.leg = 'customer'"
        "  AND a.kind IN ('anger', 'escalation')),"
        " (SELECT avg(CASE WHEN jsonb_typeof(a.evidence::jsonb #> '{prosody,f0_spread_st}') = 'number'"
        "  THEN (a.evidence::jsonb #>> '{prosody,f0_spread_st}')::float8 END)"
        "  FROM alerts a WHERE a.call_id = c.call_id AND a.kind = 'flat_affect')"
        " FROM calls c WHERE c.agent_id = $1::text AND c.started_ms >= $2::bigint"
        " AND ($3::bigint IS NULL OR c.started_ms < $3::bigint) ORDER BY c.started_ms, c.call_id",
    [CW_PGQ_SHIFT_ALERTS] =
        "SELECT a.wall_ms, a.severity, a.kind FROM alerts a JOIN calls c ON c.call_id = a.call_id"
        " WHERE c.agent_id = $1::text AND c.started_ms >= $2::bigint"
        " AND ($3::bigint IS NULL OR c.started_ms < $3::bigint)",
};

/* ---- the handle ---- */

struct cw_archive_pg {
    PGconn *conn;
    sqlite3 *dates;    /* in-memory: SQLite's date parser, as the SQLite archive reads times */
    bool lost;         /* the loss was reported; report the reconnection */
    char name[512];
    void (*warn)(void *user, const char *msg);
    void *warn_user;
};

static void pg_warn(const cw_archive_pg_t *pg, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void pg_warn(const cw_archive_pg_t *pg, const char *fmt, ...)
{
    if (!pg->warn)
        return;
    char msg[CW_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pg->warn(pg->warn_user, msg);
}

/* libpq's multi-line messages ("...\n\tHINT\n") as one line. */
static void one_line(char *s)
{
    char *w = s;
    for (const char *r = s; *r; r++) {
        char c = *r == '\n' || *r == '\t' ? ' ' : *r;
        if (c == ' ' && (w == s || w[-1] == ' '))
            continue;
        *w++ = c;
    }
    while (w > s && w[-1] == ' ')
        w--;
    *w = '\0';
}

/* libpq's message, one line. */
static const char *conn_message(PGconn *conn, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s", conn ? PQerrorMessage(conn) : "out of memory");
    one_line(buf);
    return buf;
}

bool cw_archive_pg_is_url(const char *text)
{
    return text && (strncmp(text, "postgresql://", 13) == 0 || strncmp(text, "postgres://", 11) == 0);
}

const char *cw_archive_pg_label(const char *url, char *buf, size_t cap)
{
    char *perr = NULL;
    PQconninfoOption *opts = url ? PQconninfoParse(url, &perr) : NULL;
    PQfreemem(perr);
    if (!opts) {
        snprintf(buf, cap, "postgresql://(malformed)");
        return buf;
    }
    const char *user = "", *host = "", *port = "", *db = "";
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        const char *v = o->val ? o->val : "";
        if (strcmp(o->keyword, "user") == 0)
            user = v;
        else if (strcmp(o->keyword, "host") == 0)
            host = v;
        else if (strcmp(o->keyword, "port") == 0)
            port = v;
        else if (strcmp(o->keyword, "dbname") == 0)
            db = v;
    }
    snprintf(buf, cap, "postgresql://%s%s%s%s%s/%s", user, *user ? "@" : "", host, *port ? ":" : "", port, db);
    PQconninfoFree(opts);
    return buf;
}

const char *cw_archive_pg_name(const cw_archive_pg_t *pg)
{
    return pg ? pg->name : "";
}

/* The error of a failed result (or the connection), naming the database:
 * CW_ERR_INVALID when the server refused the data (SQLSTATE class 22 data
 * exception or 23 integrity violation), CW_ERR_IO otherwise. Clears res. */
static int result_error(cw_archive_pg_t *pg, PGresult *res, const char *doing, cw_error_t *err)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    bool bad_data = state && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0);
    char msg[512];
    if (res && PQresultErrorMessage(res)[0])
        snprintf(msg, sizeof msg, "%s", PQresultErrorMessage(res));
    else
        conn_message(pg->conn, msg, sizeof msg);
    one_line(msg);
    PQclear(res);
    if (PQstatus(pg->conn) != CONNECTION_OK && !pg->lost) {
        pg->lost = true;
        pg_warn(pg, "archive %s: connection lost while %s (%s); reconnecting", pg->name, doing, msg);
    }
    return cw_error_set(err, bad_data ? CW_ERR_INVALID : CW_ERR_IO, "%s: %s while %s", pg->name, msg, doing);
}

/* Runs sql (one statement, or several when nparams is 0) and expects no rows. */
static int run(cw_archive_pg_t *pg, const char *sql, const char *const *params, int nparams, const char *doing,
               cw_error_t *err)
{
    PGresult *res = nparams ? PQexecParams(pg->conn, sql, nparams, NULL, params, NULL, NULL, 0)
                            : PQexec(pg->conn, sql);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
        return result_error(pg, res, doing, err);
    PQclear(res);
    return CW_OK;
}

static long changed_rows(PGresult *res)
{
    const char *n = PQcmdTuples(res);
    return n && *n ? strtol(n, NULL, 10) : 0;
}

/* Makes or checks callwatch_meta and brings the schema to this version, in
 * one transaction per step under the advisory lock. */
static int prepare_schema(cw_archive_pg_t *pg, bool create, cw_error_t *err)
{
    for (;;) {
        if (run(pg, "BEGIN", NULL, 0, "opening it", err) != CW_OK)
            return err->code;
        PGresult *res = PQexec(pg->conn, "SELECT pg_advisory_xact_lock(" PG_SCHEMA_LOCK "),"
                                         " to_regclass('callwatch_meta') IS NOT NULL,"
                                         " (SELECT count(*) FROM pg_tables WHERE schemaname = current_schema())");
        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
            result_error(pg, res, "reading its schema", err);
            cw_archive_pg_rollback(pg);
            return err->code;
        }
        bool has_meta = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
        long tables = strtol(PQgetvalue(res, 0, 2), NULL, 10);
        PQclear(res);
        int status = CW_OK;
        if (!has_meta && tables > 0)
            status = cw_error_set(err, CW_ERR_FORMAT,
                                  "%s is not a callwatch archive (a database of something else: %ld table(s),"
                                  " no callwatch_meta)", pg->name, tables);
        else if (!has_meta && !create)
            status = cw_error_set(err, CW_ERR_NOT_FOUND, "%s: no callwatch archive in this database yet", pg->name);
        if (status == CW_OK && !has_meta)
            status = run(pg, PG_META, NULL, 0, "creating it", err);
        long version = 0;
        if (status == CW_OK) {
            res = PQexec(pg->conn, "SELECT (SELECT value FROM callwatch_meta WHERE key = 'application'),"
                                   " (SELECT value FROM callwatch_meta WHERE key = 'schema_version')");
            if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                status = result_error(pg, res, "reading its schema version", err);
            } else {
                const char *app = PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0);
                version = PQgetisnull(res, 0, 1) ? 0 : strtol(PQgetvalue(res, 0, 1), NULL, 10);
                if (app && strcmp(app, "CWAR") != 0)
                    status = cw_error_set(err, CW_ERR_FORMAT, "%s is not a callwatch archive (application '%s')",
                                          pg->name, app);
                else if (version > PG_SCHEMA_VERSION)
                    status = cw_error_set(err, CW_ERR_FORMAT,
                                          "%s has archive schema version %ld, newer than this callwatch understands"
                                          " (%d); use a newer callwatch", pg->name, version, PG_SCHEMA_VERSION);
                PQclear(res);
            }
        }
        if (status == CW_OK && version >= PG_SCHEMA_VERSION)
            return run(pg, "COMMIT", NULL, 0, "opening it", err);
        if (status == CW_OK) {
            char v[32], doing[64];
            snprintf(v, sizeof v, "%ld", version + 1);
            snprintf(doing, sizeof doing, "migrating it to schema version %ld", version + 1);
            const char *params[] = {v};
            status = run(pg, PG_MIGRATIONS[version], NULL, 0, doing, err);
            if (status == CW_OK)
                status = run(pg, "INSERT INTO callwatch_meta(key, value) VALUES('application', 'CWAR'),"
                                 " ('schema_version', $1) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                             params, 1, doing, err);
            if (status == CW_OK)
                status = run(pg, "COMMIT", NULL, 0, doing, err);
        }
        if (status != CW_OK) {
            cw_archive_pg_rollback(pg);
            return status;
        }
    }
}

cw_archive_pg_t *cw_archive_pg_open(const char *url, bool create, void (*warn)(void *user, const char *msg),
                                    void *warn_user, cw_error_t *err)
{
    cw_archive_pg_t *pg = calloc(1, sizeof *pg);
    if (!pg) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory opening the PostgreSQL archive");
        return NULL;
    }
    pg->warn = warn;
    pg->warn_user = warn_user;
    cw_archive_pg_label(url, pg->name, sizeof pg->name);
    char *perr = NULL;
    PQconninfoOption *parsed = cw_archive_pg_is_url(url) ? PQconninfoParse(url, &perr) : NULL;
    if (!parsed) {
        char why[256];
        snprintf(why, sizeof why, "%s", perr ? perr : "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE");
        one_line(why);
        PQfreemem(perr);
        cw_error_set(err, CW_ERR_INVALID, "malformed PostgreSQL URL: %s", why);
        free(pg);
        return NULL;
    }
    PQconninfoFree(parsed);
    /* The URL comes last: what it sets wins over these defaults. */
    const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
    const char *const values[] = {PG_CONNECT_TIMEOUT_S, "callwatch", url, NULL};
    pg->conn = PQconnectdbParams(keys, values, 1);
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        char msg[512];
        cw_error_set(err, CW_ERR_IO, "cannot connect to %s: %s", pg->name, conn_message(pg->conn, msg, sizeof msg));
        cw_archive_pg_close(&pg);
        return NULL;
    }
    PQclear(PQexec(pg->conn, "SET client_min_messages = warning"));
    if (sqlite3_open_v2(":memory:", &pg->dates, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        prepare_schema(pg, create, err) != CW_OK) {
        if (!pg->dates || err->code == CW_OK)
            cw_error_set(err, CW_ERR_NOMEM, "out of memory opening %s", pg->name);
        cw_archive_pg_close(&pg);
        return NULL;
    }
    return pg;
}

void cw_archive_pg_close(cw_archive_pg_t **pgp)
{
    if (!pgp || !*pgp)
        return;
    PQfinish((*pgp)->conn);
    sqlite3_close((*pgp)->dates);
    free(*pgp);
    *pgp = NULL;
}

int cw_archive_pg_begin(cw_archive_pg_t *pg, cw_error_t *err)
{
    if (PQstatus(pg->conn) != CONNECTION_OK) {
        if (!pg->lost) {
            pg->lost = true;
            pg_warn(pg, "archive %s: connection lost; reconnecting", pg->name);
        }
        PQreset(pg->conn);
        if (PQstatus(pg->conn) != CONNECTION_OK) {
            char msg[512];
            return cw_error_set(err, CW_ERR_IO, "%s: cannot reconnect: %s", pg->name,
                                conn_message(pg->conn, msg, sizeof msg));
        }
        PQclear(PQexec(pg->conn, "SET client_min_messages = warning"));
    }
    int status = run(pg, "BEGIN", NULL, 0, "starting a commit", err);
    if (status == CW_OK && pg->lost) {
        pg->lost = false;
        pg_warn(pg, "archive %s: reconnected", pg->name);
    }
    return status;
}

int cw_archive_pg_commit(cw_archive_pg_t *pg, cw_error_t *err)
{
    return run(pg, "COMMIT", NULL, 0, "committing", err);
}

void cw_archive_pg_rollback(cw_archive_pg_t *pg)
{
    if (PQstatus(pg->conn) == CONNECTION_OK)
        PQclear(PQexec(pg->conn, "ROLLBACK"));
}

/* ---- storing one event ---- */

/* Wall-clock ms of an ISO-8601 text by SQLite's date parser, as the SQLite
 * archive reads it; fallback when it does not parse. */
static long long iso_ms(cw_archive_pg_t *pg, const char *text, long long fallback)
{
    if (!text)
        return fallback;
    sqlite3_stmt *st = NULL;
    long long ms = fallback;
    if (sqlite3_prepare_v2(pg->dates, "SELECT CAST(round((julianday(?1) - 2440587.5) * 86400000) AS INTEGER)", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
            ms = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return ms;
}

/* The event's parameters as libpq's text values. */
typedef struct params {
    const char *v[CW_ARCHIVE_EVENT_PARAMS];
    char num[CW_ARCHIVE_EVENT_PARAMS][40];
    int n;
} params_t;

static void to_text(const cw_archive_event_t *ev, params_t *p)
{
    p->n = ev->n;
    for (int i = 0; i < ev->n; i++) {
        const cw_archive_value_t *v = &ev->v[i];
        p->v[i] = v->type == CW_AV_TEXT ? v->text : v->type == CW_AV_NULL ? NULL : p->num[i];
        if (v->type == CW_AV_INT)
            snprintf(p->num[i], sizeof p->num[i], "%lld", v->i);
        else if (v->type == CW_AV_REAL)
            snprintf(p->num[i], sizeof p->num[i], "%.17g", v->d);
    }
}

static int store_legs(cw_archive_pg_t *pg, int which, const cw_archive_event_t *ev, cw_error_t *err)
{
    const char *leg;
    json_t *v;
    json_object_foreach((json_t *)ev->legs, leg, v) {
        const json_t *n = ev->legs_field ? json_object_get(v, ev->legs_field) : v;
        if (!json_is_integer(n))
            continue;
        char count[32];
        snprintf(count, sizeof count, "%lld", (long long)json_integer_value(n));
        const char *params[] = {ev->call_id, leg, count};
        if (run(pg, PG_STATEMENTS[which], params, 3, "storing a leg", err) != CW_OK)
            return err->code;
    }
    return CW_OK;
}

/* Rows of an earlier analysis of the call give way, unless this call_start
 * is the one already archived (a replay). */
static int forget_call(cw_archive_pg_t *pg, const char *call_id, const char *json, cw_error_t *err)
{
    const char *params[] = {call_id, json};
    for (int i = PS_FORGET_TRANSCRIPTS; i <= PS_FORGET_OTHER; i++)
        if (run(pg, PG_STATEMENTS[i], params, 2, "replacing an earlier analysis of the call", err) != CW_OK)
            return err->code;
    return CW_OK;
}

static int store_parsed(cw_archive_pg_t *pg, cw_archive_event_t *ev, const char *json, cw_error_t *err)
{
    static const int by_kind[] = {
        [CW_AEV_CALL_START] = PS_CALL_START, [CW_AEV_CALL_END] = PS_CALL_END, [CW_AEV_TRANSCRIPT] = PS_TRANSCRIPT,
        [CW_AEV_ALERT] = PS_ALERT,           [CW_AEV_WHISPER] = PS_WHISPER,   [CW_AEV_ACK] = PS_ACK,
        [CW_AEV_OTHER] = PS_OTHER,
    };
    if (ev->kind == CW_AEV_SKIP)
        return CW_OK;
    /* The SQLite archive reads these times in SQL; here SQLite's parser
     * reads them in C (the same answers), the wall time "now" the fallback. */
    if (ev->kind == CW_AEV_CALL_START)
        ev->v[6].i = iso_ms(pg, ev->v[5].text, ev->v[6].i);
    if (ev->kind == CW_AEV_ACK)
        ev->v[5].i = iso_ms(pg, ev->v[7].text ? ev->v[7].text : ev->v[3].text, ev->v[5].i);
    if (ev->kind == CW_AEV_CALL_START && forget_call(pg, ev->call_id, json, err) != CW_OK)
        return err->code;
    params_t p;
    to_text(ev, &p);
    if (run(pg, PG_STATEMENTS[by_kind[ev->kind]], p.v, p.n, "storing an event", err) != CW_OK)
        return err->code;
    return ev->legs ? store_legs(pg, ev->kind == CW_AEV_CALL_START ? PS_LEG_RATE : PS_LEG_DROPPED, ev, err) : CW_OK;
}

int cw_archive_pg_store(cw_archive_pg_t *pg, const char *topic, const char *json, long long now_ms, bool careful,
                        cw_error_t *err)
{
    cw_archive_event_t ev;
    int status = cw_archive_event_parse(&ev, topic, json, now_ms, pg->name, err);
    bool saved = careful && status == CW_OK &&
                 (status = run(pg, "SAVEPOINT event", NULL, 0, "storing an event", err)) == CW_OK;
    if (status == CW_OK)
        status = store_parsed(pg, &ev, json, err);
    if (saved && status == CW_ERR_INVALID) {
        cw_error_t e;
        cw_error_clear(&e);
        if (run(pg, "ROLLBACK TO SAVEPOINT event", NULL, 0, "undoing a refused event", &e) != CW_OK) {
            *err = e;
            status = e.code;
        }
    }
    cw_archive_event_free(&ev);
    return status;
}

long cw_archive_pg_prune(cw_archive_pg_t *pg, long long cutoff_ms, cw_error_t *err)
{
    char cutoff[32];
    snprintf(cutoff, sizeof cutoff, "%lld", cutoff_ms);
    const char *params[] = {cutoff};
    if (cw_archive_pg_begin(pg, err) != CW_OK)
        return err->code;
    long deleted = 0;
    for (size_t i = 0; i < sizeof PG_PRUNE / sizeof PG_PRUNE[0]; i++) {
        int n = strstr(PG_PRUNE[i], "$1") ? 1 : 0;
        PGresult *res = PQexecParams(pg->conn, PG_PRUNE[i], n, NULL, n ? params : NULL, NULL, NULL, 0);
        if (PQresultStatus(res) != PGRES_COMMAND_OK) {
            result_error(pg, res, "applying the retention", err);
            cw_archive_pg_rollback(pg);
            return err->code;
        }
        deleted += changed_rows(res);
        PQclear(res);
    }
    if (cw_archive_pg_commit(pg, err) != CW_OK) {
        cw_archive_pg_rollback(pg);
        return err->code;
    }
    return deleted;
}

/* ---- QA ---- */

int cw_archive_pg_query(cw_archive_pg_t *pg, cw_archive_pg_query_t which, const char *const *params, int nparams,
                        cw_archive_pg_row_fn fn, void *user, const char *doing, cw_error_t *err)
{
    if (!pg || which < 0 || which >= CW_PGQ_COUNT || !fn)
        return cw_error_set(err, CW_ERR_INVALID, "archive query: bad arguments");
    if (PQstatus(pg->conn) != CONNECTION_OK)
        PQreset(pg->conn);
    PGresult *res = PQexecParams(pg->conn, PG_QUERIES[which], nparams, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        return result_error(pg, res, doing, err);
    int rows = PQntuples(res), cols = PQnfields(res);
    const char *values[32];
    if (cols > 32)
        cols = 32;
    int stop = 0;
    for (int r = 0; r < rows && stop == 0; r++) {
        for (int c = 0; c < cols; c++)
            values[c] = PQgetisnull(res, r, c) ? NULL : PQgetvalue(res, r, c);
        stop = fn(user, values, cols);
    }
    PQclear(res);
    return stop;
}
