/* test_archive.c - the QA archive: schema and migrations, what is stored
 * and found again, damaged and foreign files, retention, the shift drift,
 * and the promise to the bus: an event reaches the next sink only once it is
 * committed, unless the commit is stuck, when it is published after the
 * bounded wait and archived later. */
#include "callwatch/archive.h"
#include "callwatch/outbox.h"
#include "callwatch/qa.h"
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char dir[256];

static const char *tmp_path(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void remove_db(const char *path)
{
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
}

static void store(cw_archive_t *a, const char *topic, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void store(cw_archive_t *a, const char *topic, const char *fmt, ...)
{
    char json[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    cw_error_t err;
    cw_error_clear(&err);
    int rc = cw_archive_store_json(a, topic, json, &err);
    CHECK(rc == 0, "store %s: %s", topic, err.msg);
}

/* ISO-8601 UTC of now minus `ago_s` seconds. */
static const char *iso_ago(double ago_s, char *buf, size_t cap)
{
    time_t t = time(NULL) - (time_t)ago_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%S.000Z", &tm);
    return buf;
}

static long long query_ll(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    long long v = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return v;
}

/* Stores one call of agent `agent` started at `started_at`. */
static void store_call(cw_archive_t *a, const char *call, const char *agent, const char *started_at, double spread,
                       bool hostile)
{
    store(a, "call.x",
          "{\"type\":\"call_start\",\"call_id\":\"%s\",\"t\":0,\"line\":\"desk1\",\"agent_id\":\"%s\","
          "\"team\":\"blue\",\"legs\":{\"agent\":{\"rate_hz\":8000},\"customer\":{\"rate_hz\":8000}},"
          "\"started_at\":\"%s\"}",
          call, agent, started_at);
    store(a, "transcript.customer.x",
          "{\"type\":\"transcript\",\"call_id\":\"%s\",\"t\":6,\"leg\":\"customer\",\"t_start\":2.0,\"t_end\":5.5,"
          "\"text\":\"i want to speak to your manager\",\"words\":[],\"final\":true,\"utterance\":1}",
          call);
    store(a, "transcript.customer.x",
          "{\"type\":\"transcript\",\"call_id\":\"%s\",\"t\":3,\"leg\":\"customer\",\"t_start\":2.0,\"t_end\":3.0,"
          "\"text\":\"i want\",\"words\":[],\"final\":false,\"utterance\":1}",
          call);
    store(a, "transcript.agent.x",
          "{\"type\":\"transcript\",\"call_id\":\"%s\",\"t\":9,\"leg\":\"agent\",\"t_start\":6.0,\"t_end\":8.0,"
          "\"text\":\"let me help you with that\",\"words\":[],\"final\":true,\"utterance\":2}",
          call);
    if (hostile)
        store(a, "alert.escalation.x",
              "{\"type\":\"alert\",\"call_id\":\"%s\",\"t\":6,\"id\":\"%s-a1\",\"leg\":\"customer\","
              "\"kind\":\"escalation\",\"severity\":\"critical\",\"score\":0.9,\"t_start\":2.0,\"t_end\":5.5,"
              "\"evidence\":{\"words\":[\"manager\"]},\"text\":\"customer asked for the manager\"}",
              call, call);
    store(a, "alert.flat_affect.x",
          "{\"type\":\"alert\",\"call_id\":\"%s\",\"t\":9,\"id\":\"%s-a2\",\"leg\":\"agent\",\"kind\":\"flat_affect\","
          "\"severity\":\"info\",\"score\":0.4,\"t_start\":6.0,\"t_end\":8.0,"
          "\"evidence\":{\"prosody\":{\"f0_spread_st\":%.2f}},\"text\":\"agent sounds flat\"}",
          call, call, spread + 5.0);
    store(a, "call.x",
          "{\"type\":\"call_end\",\"call_id\":\"%s\",\"t\":60,\"reason\":\"eof\",\"duration_s\":60,"
          "\"frames_dropped\":{\"agent\":0,\"customer\":3},\"prosody_summary\":{\"agent\":{\"f0_spread_st\":%.2f}}}",
          call, spread);
}

typedef struct rows {
    int n;
    char types[32][16];
    char ids[32][64];
    double t[32];
} rows_t;

static int collect(void *user, const cw_qa_row_t *r)
{
    rows_t *rows = user;
    if (rows->n < 32) {
        snprintf(rows->types[rows->n], sizeof rows->types[0], "%s", r->type);
        snprintf(rows->ids[rows->n], sizeof rows->ids[0], "%s", r->id);
        rows->t[rows->n] = r->t;
    }
    rows->n++;
    return 0;
}

static void test_schema_and_queries(void)
{
    const char *path = tmp_path("a.db");
    cw_error_t err;
    cw_error_clear(&err);
    cw_archive_opts_t o = {.create = true};
    cw_archive_t *a = cw_archive_open(path, &o, &err);
    CHECK(a != NULL, "create: %s", err.msg);
    if (!a)
        return;
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0600, "mode %o", (unsigned)(sb.st_mode & 0777));
    CHECK(query_ll(path, "PRAGMA user_version") == CW_ARCHIVE_SCHEMA_VERSION, "schema version");
    CHECK(query_ll(path, "PRAGMA application_id") == CW_ARCHIVE_APPLICATION_ID, "application id");

    store_call(a, "c1", "alice", "2026-11-20T08:00:00.000Z", 4.0, true);
    store(a, "whisper.alice",
          "{\"type\":\"whisper\",\"call_id\":\"c1\",\"t\":6.2,\"agent_id\":\"alice\",\"prompt\":\"Offer a concrete"
          " time\",\"because\":\"c1-a1\",\"kind\":\"escalation\",\"severity\":\"critical\",\"lang\":\"en\"}");
    store(a, "ack.c1",
          "{\"type\":\"ack\",\"call_id\":\"c1\",\"t\":0,\"alert_id\":\"c1-a1\",\"by\":\"sup1\","
          "\"at\":\"2026-11-20T08:00:07.000Z\",\"note\":\"on it\"}");
    store(a, "status.node1", "{\"type\":\"status\",\"call_id\":\"\",\"t\":0,\"node\":\"node1\"}");
    cw_error_clear(&err);
    CHECK(cw_archive_store_json(a, "x", "{\"no_type\":1}", &err) == CW_ERR_INVALID, "event without type refused");
    CHECK(cw_archive_store_json(a, "x", "not json", &err) == CW_ERR_INVALID, "garbage refused");

    /* Partial transcripts are not kept; the final ones are. */
    CHECK(query_ll(path, "SELECT count(*) FROM transcripts") == 2, "final transcripts only");
    CHECK(query_ll(path, "SELECT frames_dropped FROM legs WHERE call_id='c1' AND leg='customer'") == 3, "legs");
    CHECK(query_ll(path, "SELECT count(*) FROM other_events WHERE type='status'") == 1, "unknown types kept");
    /* Wall time of an alert = call start + t_end. */
    CHECK(query_ll(path, "SELECT wall_ms FROM alerts WHERE id='c1-a1'") == 1795161600000LL + 5500,
          "alert wall time %lld", query_ll(path, "SELECT wall_ms FROM alerts WHERE id='c1-a1'"));

    rows_t rows = {0};
    cw_qa_filter_t f = {.kind = "escalation"};
    CHECK(cw_qa_search(a, &f, collect, &rows, &err) == 0 && rows.n == 1 && strcmp(rows.ids[0], "c1-a1") == 0,
          "search by kind: %d rows %s", rows.n, err.msg);
    memset(&rows, 0, sizeof rows);
    f = (cw_qa_filter_t){.severity = "critical", .agent_id = "bob"};
    CHECK(cw_qa_search(a, &f, collect, &rows, &err) == 0 && rows.n == 0, "other agent: nothing");
    memset(&rows, 0, sizeof rows);
    f = (cw_qa_filter_t){.text = "MANAGER"};
    CHECK(cw_qa_search(a, &f, collect, &rows, &err) == 0 && rows.n == 2, "text finds transcript and alert: %d",
          rows.n);
    long long since = 0;
    CHECK(cw_qa_parse_time(a, "2026-11-20T08:00:06Z", &since, &err) == 0 && since == 1795161606000LL,
          "parse time: %s", err.msg);
    CHECK(cw_qa_parse_time(a, "yesterday", &since, &err) == CW_ERR_INVALID, "bad time refused");
    memset(&rows, 0, sizeof rows);
    f = (cw_qa_filter_t){.types = CW_QA_ALERT, .since_ms = 1795161606000LL};
    CHECK(cw_qa_search(a, &f, collect, &rows, &err) == 0 && rows.n == 1 && strcmp(rows.ids[0], "c1-a2") == 0,
          "since: %d", rows.n);

    /* Timeline: said, then the alert it caused, its whisper, its ack. */
    memset(&rows, 0, sizeof rows);
    CHECK(cw_qa_timeline(a, "c1", collect, &rows, &err) == 0 && rows.n == 6, "timeline rows %d: %s", rows.n,
          err.msg);
    const char *expect[] = {"transcript", "alert", "ack", "transcript", "whisper", "alert"};
    for (int i = 0; i < 6 && i < rows.n; i++)
        CHECK(strcmp(rows.types[i], expect[i]) == 0, "timeline[%d] = %s, expected %s", i, rows.types[i], expect[i]);
    for (int i = 1; i < rows.n && i < 32; i++)
        CHECK(rows.t[i] >= rows.t[i - 1], "timeline in time order at %d", i);
    CHECK(cw_qa_timeline(a, "nope", collect, &rows, &err) == CW_ERR_NOT_FOUND, "unknown call");
    cw_qa_call_t info;
    CHECK(cw_qa_call_info(a, "c1", &info, &err) == 0 && strcmp(info.agent_id, "alice") == 0 &&
              strcmp(info.team, "blue") == 0 && info.alerts == 2 && info.whispers == 1 && info.acks == 1 &&
              fabs(info.duration_s - 60) < 1e-9,
          "call info");

    /* Analysing the same call again replaces the earlier analysis. */
    store_call(a, "c1", "alice", "2026-11-20T08:00:00.000Z", 4.0, false);
    CHECK(query_ll(path, "SELECT count(*) FROM alerts WHERE call_id='c1'") == 1, "re-analysis replaces alerts");
    CHECK(query_ll(path, "SELECT count(*) FROM transcripts WHERE call_id='c1'") == 2, "and transcripts");
    cw_archive_close(&a);
    CHECK(a == NULL, "close NULLs");

    /* An existing archive is opened without create too. */
    a = cw_archive_open(path, NULL, &err);
    CHECK(a != NULL, "reopen: %s", err.msg);
    cw_archive_close(&a);
}

static void test_migration_and_versions(void)
{
    const char *path = tmp_path("v1.db");
    sqlite3 *db = NULL;
    /* A version-1 archive exactly as the first release wrote it. */
    sqlite3_open(path, &db);
    int rc = sqlite3_exec(
        db,
        "PRAGMA application_id = 1129791826; PRAGMA user_version = 1;"
        "CREATE TABLE calls(call_id TEXT PRIMARY KEY, agent_id TEXT, line TEXT, source TEXT, started_at TEXT,"
        " started_ms INTEGER, ended_ms INTEGER, duration_s REAL, end_reason TEXT, start_json TEXT, end_json TEXT);"
        "CREATE INDEX calls_by_agent ON calls(agent_id, started_ms);"
        "CREATE INDEX calls_by_start ON calls(started_ms);"
        "CREATE TABLE legs(call_id TEXT NOT NULL, leg TEXT NOT NULL, rate_hz INTEGER, frames_dropped INTEGER,"
        " PRIMARY KEY(call_id, leg));"
        "CREATE TABLE transcripts(seg INTEGER PRIMARY KEY, call_id TEXT NOT NULL, leg TEXT, t REAL, t_start REAL,"
        " t_end REAL, utterance INTEGER, text TEXT, wall_ms INTEGER, json TEXT NOT NULL);"
        "CREATE INDEX transcripts_by_call ON transcripts(call_id, t_start);"
        "CREATE INDEX transcripts_by_time ON transcripts(wall_ms);"
        "CREATE TABLE alerts(id TEXT PRIMARY KEY, call_id TEXT NOT NULL, leg TEXT, kind TEXT, severity TEXT,"
        " score REAL, t REAL, t_start REAL, t_end REAL, text TEXT, escalates TEXT, evidence TEXT, wall_ms INTEGER,"
        " json TEXT NOT NULL);"
        "CREATE INDEX alerts_by_call ON alerts(call_id, t_end);"
        "CREATE INDEX alerts_by_time ON alerts(wall_ms);"
        "CREATE TABLE other_events(seq INTEGER PRIMARY KEY, call_id TEXT, type TEXT, topic TEXT, wall_ms INTEGER,"
        " json TEXT NOT NULL);"
        "INSERT INTO calls(call_id, agent_id, started_ms) VALUES('old', 'carol', 1700000000000);"
        "INSERT INTO alerts VALUES('old-a1', 'old', 'customer', 'anger', 'warning', 0.7, 3, 1, 3, 'angry', NULL,"
        " '{}', 1700000003000, '{\"type\":\"alert\",\"id\":\"old-a1\"}');",
        NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(rc == SQLITE_OK, "v1 fixture");
    cw_error_t err;
    cw_error_clear(&err);
    cw_archive_t *a = cw_archive_open(path, NULL, &err);
    CHECK(a != NULL, "open v1: %s", err.msg);
    if (a) {
        CHECK(query_ll(path, "PRAGMA user_version") == CW_ARCHIVE_SCHEMA_VERSION, "migrated to the latest");
        rows_t rows = {0};
        cw_qa_filter_t f = {.agent_id = "carol"};
        CHECK(cw_qa_search(a, &f, collect, &rows, &err) == 0 && rows.n == 1, "v1 alert still found");
        store(a, "whisper.carol",
              "{\"type\":\"whisper\",\"call_id\":\"old\",\"t\":4,\"agent_id\":\"carol\",\"prompt\":\"Breathe\","
              "\"because\":\"old-a1\",\"kind\":\"anger\",\"severity\":\"warning\",\"lang\":\"en\"}");
        CHECK(query_ll(path, "SELECT count(*) FROM whispers") == 1, "v2 table usable");
        cw_archive_close(&a);
    }

    /* A newer schema than this build: refused, not damaged. */
    sqlite3_open(path, &db);
    sqlite3_exec(db, "PRAGMA user_version = 9", NULL, NULL, NULL);
    sqlite3_close(db);
    a = cw_archive_open(path, NULL, &err);
    CHECK(!a && err.code == CW_ERR_FORMAT && strstr(err.msg, "newer"), "newer schema: %s", err.msg);
}

typedef struct ack_seen {
    int n;
    char acked_at[64];
    double after_s;
} ack_seen_t;

static int collect_ack(void *user, const cw_qa_row_t *r)
{
    ack_seen_t *s = user;
    if (strcmp(r->type, "ack") == 0) {
        s->n++;
        snprintf(s->acked_at, sizeof s->acked_at, "%s", r->acked_at);
        s->after_s = r->ack_after_s;
    }
    return 0;
}

/* Time-to-acknowledge: the ack's own wall time is archived and the QA rows
 * say how long after its alert it came; a version-2 archive's acks get it
 * from their `at`. */
static void test_ack_wall_time(void)
{
    const char *path = tmp_path("acks.db");
    cw_error_t err;
    cw_error_clear(&err);
    cw_archive_opts_t o = {.create = true};
    cw_archive_t *a = cw_archive_open(path, &o, &err);
    CHECK(a != NULL, "create: %s", err.msg);
    if (!a)
        return;
    /* Alert c9-a1 at t = 6 s of a call started 08:00:00: raised 08:00:06. */
    store_call(a, "c9", "alice", "2026-11-20T08:00:00.000Z", 4.0, true);
    store(a, "ack.c9",
          "{\"type\":\"ack\",\"call_id\":\"c9\",\"t\":0,\"alert_id\":\"c9-a1\",\"by\":\"sup1\","
          "\"at\":\"2026-11-20T08:00:30.250Z\",\"acked_at\":\"2026-11-20T08:00:30.250Z\"}");
    CHECK(query_ll(path, "SELECT count(*) FROM acks WHERE acked_at = '2026-11-20T08:00:30.250Z'") == 1,
          "acked_at archived");
    ack_seen_t seen = {0};
    cw_qa_filter_t f = {.types = CW_QA_ACK};
    CHECK(cw_qa_search(a, &f, collect_ack, &seen, &err) == 0 && seen.n == 1 &&
              strcmp(seen.acked_at, "2026-11-20T08:00:30.250Z") == 0 && fabs(seen.after_s - 24.25) < 1e-6,
          "search: ack at %s, %.3f s after the alert", seen.acked_at, seen.after_s);
    memset(&seen, 0, sizeof seen);
    CHECK(cw_qa_timeline(a, "c9", collect_ack, &seen, &err) == 0 && seen.n == 1 && fabs(seen.after_s - 24.25) < 1e-6,
          "timeline: %.3f s after the alert", seen.after_s);
    cw_archive_close(&a);

    /* Back to version 2 as that release wrote acks (no acked_at column). */
    sqlite3 *db = NULL;
    sqlite3_open(path, &db);
    int rc = sqlite3_exec(db, "ALTER TABLE acks DROP COLUMN acked_at; PRAGMA user_version = 2;", NULL, NULL, NULL);
    sqlite3_close(db);
    CHECK(rc == SQLITE_OK, "v2 fixture");
    a = cw_archive_open(path, NULL, &err);
    CHECK(a != NULL, "open v2: %s", err.msg);
    if (!a)
        return;
    CHECK(query_ll(path, "PRAGMA user_version") == CW_ARCHIVE_SCHEMA_VERSION, "migrated");
    memset(&seen, 0, sizeof seen);
    CHECK(cw_qa_search(a, &f, collect_ack, &seen, &err) == 0 && seen.n == 1 &&
              strcmp(seen.acked_at, "2026-11-20T08:00:30.250Z") == 0,
          "v2 ack's acked_at taken from at: '%s'", seen.acked_at);
    cw_archive_close(&a);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void test_bad_files(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_archive_t *a = cw_archive_open(tmp_path("missing.db"), NULL, &err);
    CHECK(!a && err.code == CW_ERR_NOT_FOUND && strstr(err.msg, "missing.db"), "missing: %s", err.msg);
    CHECK(access(tmp_path("missing.db"), F_OK) != 0, "not created without create");

    const char *text = tmp_path("notes.db");
    write_file(text, "call notes, not a database\nline two\n");
    cw_archive_opts_t o = {.create = true};
    a = cw_archive_open(text, &o, &err);
    CHECK(!a && err.code == CW_ERR_FORMAT && strstr(err.msg, "notes.db is not a callwatch archive"), "text: %s",
          err.msg);

    const char *foreign = tmp_path("foreign.db");
    sqlite3 *db = NULL;
    sqlite3_open(foreign, &db);
    sqlite3_exec(db, "CREATE TABLE invoices(id INTEGER, total REAL)", NULL, NULL, NULL);
    sqlite3_close(db);
    a = cw_archive_open(foreign, &o, &err);
    CHECK(!a && err.code == CW_ERR_FORMAT && strstr(err.msg, "foreign.db is not a callwatch archive"),
          "foreign: %s", err.msg);
    CHECK(query_ll(foreign, "SELECT count(*) FROM sqlite_schema") == 1, "foreign file left untouched");

    /* A real archive with pages overwritten by garbage. */
    const char *damaged = tmp_path("damaged.db");
    a = cw_archive_open(damaged, &o, &err);
    CHECK(a != NULL, "create: %s", err.msg);
    for (int i = 0; a && i < 40; i++) {
        char id[32];
        snprintf(id, sizeof id, "d%d", i);
        store_call(a, id, "dan", "2026-11-20T08:00:00.000Z", 3.0, true);
    }
    cw_archive_close(&a);
    FILE *f = fopen(damaged, "r+b");
    CHECK(f != NULL, "open damaged");
    if (f) {
        char junk[4096];
        memset(junk, 0x5a, sizeof junk);
        fseek(f, 4096 * 2, SEEK_SET);
        fwrite(junk, 1, sizeof junk, f);
        fseek(f, 4096 * 5, SEEK_SET);
        fwrite(junk, 1, sizeof junk, f);
        fclose(f);
    }
    a = cw_archive_open(damaged, NULL, &err);
    CHECK(!a && err.code == CW_ERR_FORMAT && strstr(err.msg, "damaged"), "damaged: %s", err.msg);
    cw_archive_close(&a);

    /* A directory. */
    a = cw_archive_open(dir, &o, &err);
    CHECK(!a && err.code == CW_ERR_FORMAT, "directory: %s", err.msg);
}

static void test_retention(void)
{
    const char *path = tmp_path("ret.db");
    cw_error_t err;
    cw_error_clear(&err);
    cw_archive_opts_t o = {.create = true};
    cw_archive_t *a = cw_archive_open(path, &o, &err);
    CHECK(a != NULL, "create: %s", err.msg);
    if (!a)
        return;
    char old[64], recent[64];
    store_call(a, "old", "erin", iso_ago(40 * 86400.0, old, sizeof old), 3.0, true);
    store_call(a, "recent", "erin", iso_ago(86400.0, recent, sizeof recent), 3.0, true);
    cw_archive_close(&a);
    o.retention_days = 30;
    a = cw_archive_open(path, &o, &err);
    CHECK(a != NULL, "reopen with retention: %s", err.msg);
    cw_archive_close(&a);
    CHECK(query_ll(path, "SELECT count(*) FROM calls") == 1, "old call pruned");
    CHECK(query_ll(path, "SELECT count(*) FROM alerts WHERE call_id='old'") == 0, "its alerts pruned");
    CHECK(query_ll(path, "SELECT count(*) FROM transcripts WHERE call_id='old'") == 0, "its transcripts pruned");
    CHECK(query_ll(path, "SELECT count(*) FROM legs WHERE call_id='old'") == 0, "its legs pruned");
    CHECK(query_ll(path, "SELECT count(*) FROM alerts WHERE call_id='recent'") == 2, "recent call kept");
}

static void test_shift_drift(void)
{
    const char *path = tmp_path("shift.db");
    cw_error_t err;
    cw_error_clear(&err);
    cw_archive_opts_t o = {.create = true};
    cw_archive_t *a = cw_archive_open(path, &o, &err);
    CHECK(a != NULL, "create: %s", err.msg);
    if (!a)
        return;
    /* frank goes from 6 to 2 semitones over 8 calls; grace stays at 5. */
    for (int i = 0; i < 8; i++) {
        char id[32], at[64];
        snprintf(id, sizeof id, "f%d", i);
        snprintf(at, sizeof at, "2026-11-20T%02d:%02d:00.000Z", 8 + i / 2, (i % 2) * 30);
        store_call(a, id, "frank", at, 6.0 - 0.5 * i, i == 2);
        snprintf(id, sizeof id, "g%d", i);
        store_call(a, id, "grace", at, 5.0 + (i % 2 ? 0.2 : -0.2), false);
    }
    cw_qa_drift_params_t p = {.min_calls = 4, .slope_st_per_call = -0.15, .drop_st = 1.0};
    long long since = 0;
    cw_qa_parse_time(a, "2026-11-20", &since, &err);
    cw_qa_shift_t *s = NULL;
    CHECK(cw_qa_shift(a, "frank", since, 0, &p, &s, &err) == 0 && s, "shift: %s", err.msg);
    if (s) {
        CHECK(s->n_calls == 8 && s->measured == 8, "calls %zu measured %d", s->n_calls, s->measured);
        CHECK(fabs(s->slope_st_per_call + 0.5) < 1e-6, "slope %g", s->slope_st_per_call);
        CHECK(s->drift, "frank drifts");
        CHECK(s->hostile_calls == 1 && s->calls[2].hostile, "hostile call marked");
        CHECK(strcmp(s->calls[0].measure_source, "summary") == 0, "summary preferred");
        CHECK(s->n_hours == 4 && s->hours[0].calls == 2 && s->hours[1].alerts == 3, "hours %zu, [1] alerts %d",
              s->n_hours, s->n_hours > 1 ? s->hours[1].alerts : -1);
        cw_qa_shift_free(&s);
    }
    CHECK(cw_qa_shift(a, "grace", 0, 0, &p, &s, &err) == 0 && s && !s->drift && s->n_calls == 8,
          "grace steady (default window covers the shift)");
    cw_qa_shift_free(&s);
    CHECK(cw_qa_shift(a, "nobody", 0, 0, &p, &s, &err) == CW_ERR_NOT_FOUND, "unknown agent");

    /* Without a summary the flat_affect alerts' evidence is the measure. */
    store(a, "call.x",
          "{\"type\":\"call_start\",\"call_id\":\"h1\",\"t\":0,\"agent_id\":\"hana\","
          "\"started_at\":\"2026-11-20T09:00:00.000Z\"}");
    store(a, "alert.flat_affect.h1",
          "{\"type\":\"alert\",\"call_id\":\"h1\",\"t\":9,\"id\":\"h1-a1\",\"leg\":\"agent\",\"kind\":\"flat_affect\","
          "\"severity\":\"info\",\"score\":0.4,\"t_start\":6.0,\"t_end\":8.0,"
          "\"evidence\":{\"prosody\":{\"f0_spread_st\":1.5}},\"text\":\"flat\"}");
    CHECK(cw_qa_shift(a, "hana", 0, 0, &p, &s, &err) == 0 && s && s->n_calls == 1 &&
              fabs(s->calls[0].measure - 1.5) < 1e-9 && strcmp(s->calls[0].measure_source, "alerts") == 0,
          "measure from alerts");
    cw_qa_shift_free(&s);
    cw_archive_close(&a);

    const char *bad = tmp_path("bad-wellbeing.json");
    write_file(bad, "{\"min_calls\": 4, \"slope_st_per_call\": \"steep\", \"drop_st\": 1}");
    CHECK(cw_qa_drift_params_load(bad, &p, &err) == CW_ERR_FORMAT && strstr(err.msg, "slope_st_per_call"),
          "bad thresholds named: %s", err.msg);
    char shipped[512];
    snprintf(shipped, sizeof shipped, "%s/wellbeing.json", CALLWATCH_MODELS_DIR);
    CHECK(cw_qa_drift_params_load(shipped, &p, &err) == 0 && p.min_calls >= 2, "shipped thresholds: %s", err.msg);
}

/* ---- the sink and the bus promise ---- */

/* Stands in for the bus: on every alert it checks, on its own connection,
 * that the alert is already committed in the archive. */
typedef struct witness {
    const char *path;
    sqlite3 *db;
    int seen, committed_before;
    double last_write_s;
} witness_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int witness_write(void *impl, const cw_event_t *ev, cw_error_t *err)
{
    (void)err;
    witness_t *w = impl;
    w->last_write_s = now_s();
    if (strcmp(ev->type, "alert") != 0)
        return 0;
    w->seen++;
    if (!w->db)
        sqlite3_open_v2(w->path, &w->db, SQLITE_OPEN_READONLY, NULL);
    json_t *obj = json_loads(ev->json, 0, NULL);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(w->db, "SELECT count(*) FROM alerts WHERE id = ?1", -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, json_string_value(json_object_get(obj, "id")), -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 1)
            w->committed_before++;
    }
    sqlite3_finalize(st);
    json_decref(obj);
    return 0;
}

static void witness_destroy(void *impl)
{
    witness_t *w = impl;
    sqlite3_close(w->db);
    w->db = NULL;
}

static const cw_sink_ops_t witness_ops = {.name = "witness", .write = witness_write, .destroy = witness_destroy};

static cw_event_t *alert_event(int call, int n)
{
    char json[512], topic[64];
    snprintf(json, sizeof json,
             "{\"type\":\"alert\",\"call_id\":\"k%d\",\"t\":%d,\"id\":\"k%d-a%d\",\"leg\":\"customer\","
             "\"kind\":\"anger\",\"severity\":\"warning\",\"score\":0.7,\"t_start\":%d,\"t_end\":%d,"
             "\"evidence\":{},\"text\":\"angry\"}",
             call, n, call, n, n, n);
    snprintf(topic, sizeof topic, "alert.anger.k%d", call);
    return cw_event_from_json(topic, json_loads(json, 0, NULL));
}

static int warnings;
static void count_warning(void *user, const char *msg)
{
    (void)user;
    (void)msg;
    __atomic_add_fetch(&warnings, 1, __ATOMIC_SEQ_CST);
}

static void test_commit_before_publish(void)
{
    const char *path = tmp_path("sink.db");
    cw_error_t err;
    cw_error_clear(&err);
    cw_archive_opts_t o = {.create = true, .commit_timeout_ms = 5000, .warn = count_warning};
    cw_archive_t *a = cw_archive_open(path, &o, &err);
    cw_sink_t *archive = cw_archive_sink_new(&a, &err);
    CHECK(archive != NULL && a == NULL, "sink: %s", err.msg);
    witness_t w = {.path = path};
    cw_sink_t *bus = cw_sink_wrap(&witness_ops, &w);
    const cw_sink_t *archive_ref = archive;
    cw_outbox_t *ob = cw_outbox_new(64, &err);
    CHECK(cw_outbox_add_sink(ob, &archive, &err) == 0 && cw_outbox_add_sink(ob, &bus, &err) == 0 &&
              cw_outbox_start(ob, &err) == 0,
          "outbox: %s", err.msg);
    /* Four posters, many small batches and some big ones. */
    for (int i = 0; i < 2000; i++) {
        cw_event_t *ev = alert_event(i % 4, i);
        cw_outbox_post(ob, &ev);
        if (i % 500 == 0)
            usleep(2000);
    }
    cw_outbox_flush(ob);
    cw_archive_stats_t st;
    cw_archive_sink_stats(archive_ref, &st);
    CHECK(w.seen == 2000 && w.committed_before == 2000, "every alert committed before the bus saw it: %d of %d",
          w.committed_before, w.seen);
    CHECK(st.archived == 2000 && st.commit_timeouts == 0 && st.published_uncommitted == 0 && st.dropped == 0,
          "stats: archived %llu timeouts %llu", (unsigned long long)st.archived,
          (unsigned long long)st.commit_timeouts);
    CHECK(st.commits >= 1 && st.commits < 2000, "batched: %llu commits", (unsigned long long)st.commits);
    printf("2000 alerts: %llu commits, mean %.2f ms, max %.2f ms\n", (unsigned long long)st.commits,
           st.total_commit_ms / (double)st.commits, st.max_commit_ms);
    cw_outbox_destroy(&ob);
    CHECK(warnings == 0, "no warnings");
}

static void test_stuck_disk(void)
{
    const char *path = tmp_path("stuck.db");
    cw_error_t err;
    cw_error_clear(&err);
    warnings = 0;
    cw_archive_opts_t o = {.create = true, .commit_timeout_ms = 150, .warn = count_warning};
    cw_archive_t *a = cw_archive_open(path, &o, &err);
    cw_sink_t *archive = cw_archive_sink_new(&a, &err);
    witness_t w = {.path = path};
    cw_sink_t *bus = cw_sink_wrap(&witness_ops, &w);
    const cw_sink_t *archive_ref = archive;
    cw_outbox_t *ob = cw_outbox_new(64, &err);
    cw_outbox_add_sink(ob, &archive, &err);
    cw_outbox_add_sink(ob, &bus, &err);
    cw_outbox_start(ob, &err);

    /* Another writer holds the database: the archiver's commit cannot
     * finish, as with a disk that stopped answering. */
    sqlite3 *blocker = NULL;
    sqlite3_open(path, &blocker);
    CHECK(sqlite3_exec(blocker, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK, "blocker holds the lock");
    double t0 = now_s();
    for (int i = 0; i < 5; i++) {
        cw_event_t *ev = alert_event(9, i);
        cw_outbox_post(ob, &ev);
    }
    cw_outbox_flush(ob);
    double waited = now_s() - t0;
    cw_archive_stats_t st;
    cw_archive_sink_stats(archive_ref, &st);
    CHECK(w.seen == 5, "alerts still reach the bus: %d", w.seen);
    CHECK(waited >= 0.14 && waited < 1.0, "bounded wait: %.3f s", waited);
    CHECK(st.commit_timeouts == 1 && st.published_uncommitted == 5, "counted: timeouts %llu uncommitted %llu",
          (unsigned long long)st.commit_timeouts, (unsigned long long)st.published_uncommitted);
    CHECK(warnings >= 1, "logged");

    /* While it is behind, the bus does not wait again. */
    t0 = now_s();
    cw_event_t *ev = alert_event(9, 5);
    cw_outbox_post(ob, &ev);
    cw_outbox_flush(ob);
    CHECK(now_s() - t0 < 0.1 && w.seen == 6, "no second wait: %.3f s", now_s() - t0);

    /* The disk comes back: everything is archived after all. */
    sqlite3_exec(blocker, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_close(blocker);
    double deadline = now_s() + 15;
    while (now_s() < deadline && query_ll(path, "SELECT count(*) FROM alerts") != 6)
        usleep(20000);
    CHECK(query_ll(path, "SELECT count(*) FROM alerts") == 6, "caught up");
    usleep(50000);
    /* and waits for commits again */
    int before = w.committed_before;
    ev = alert_event(9, 6);
    cw_outbox_post(ob, &ev);
    cw_outbox_flush(ob);
    CHECK(w.committed_before == before + 1, "committed before publish again");
    cw_outbox_destroy(&ob);
    CHECK(query_ll(path, "SELECT count(*) FROM alerts") == 7, "all archived");
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/cw-archive-test.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_schema_and_queries();
    test_migration_and_versions();
    test_ack_wall_time();
    test_bad_files();
    test_retention();
    test_shift_drift();
    test_commit_before_publish();
    test_stuck_disk();
    const char *names[] = {"a.db", "v1.db", "notes.db", "foreign.db", "damaged.db", "ret.db", "shift.db", "sink.db",
                           "stuck.db"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        remove_db(tmp_path(names[i]));
    unlink(tmp_path("bad-wellbeing.json"));
    rmdir(dir);
    return check_summary("test_archive");
}
