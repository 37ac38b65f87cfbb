/* archive.c - see callwatch/archive.h */
#include "callwatch/archive.h"
#include "callwatch/archive_event.h"
#include "callwatch/archive_pg.h"
#include "callwatch/archive_remote.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Another process (a second writer, `analyze --archive` on the same file)
 * may hold the write lock for a while; wait rather than fail at once. */
#define ARCHIVE_BUSY_TIMEOUT_MS 5000
#define ARCHIVE_DEFAULT_MAX_QUEUED 100000
#define ARCHIVE_RETENTION_EVERY_S 3600.0
/* A failed commit is retried after this, doubling up to the maximum. */
#define ARCHIVE_RETRY_FIRST_MS 100
#define ARCHIVE_RETRY_MAX_MS 5000
/* At shutdown a commit that keeps failing is given up after this many tries
 * (each logged); while running it is retried for ever. */
#define ARCHIVE_SHUTDOWN_TRIES 3
/* How long closing the sink waits for the archiver to finish the queue
 * before leaving it to the process exit (a disk that never comes back must
 * not hang shutdown). */
#define ARCHIVE_CLOSE_WAIT_S 10.0
/* How long a node waits for a central archiver's answer to one batch
 * before it counts the commit as failed and retries. */
#define ARCHIVE_REMOTE_TIMEOUT_MS 3000

/* ---- schema ---- */

/* Version 1: the contract of the first round (calls, legs, transcripts,
 * alerts) plus a catch-all for other event types. */
static const char SCHEMA_V1[] =
    "CREATE TABLE calls(call_id TEXT PRIMARY KEY, agent_id TEXT, line TEXT, source TEXT,"
    " started_at TEXT, started_ms INTEGER, ended_ms INTEGER, duration_s REAL, end_reason TEXT,"
    " start_json TEXT, end_json TEXT);"
    "CREATE INDEX calls_by_agent ON calls(agent_id, started_ms);"
    "CREATE INDEX calls_by_start ON calls(started_ms);"
    "CREATE TABLE legs(call_id TEXT NOT NULL, leg TEXT NOT NULL, rate_hz INTEGER,"
    " frames_dropped INTEGER, PRIMARY KEY(call_id, leg));"
    "CREATE TABLE transcripts(seg INTEGER PRIMARY KEY, call_id TEXT NOT NULL, leg TEXT, t REAL,"
    " t_start REAL, t_end REAL, utterance INTEGER, text TEXT, wall_ms INTEGER, json TEXT NOT NULL);"
    "CREATE INDEX transcripts_by_call ON transcripts(call_id, t_start);"
    "CREATE INDEX transcripts_by_time ON transcripts(wall_ms);"
    "CREATE TABLE alerts(id TEXT PRIMARY KEY, call_id TEXT NOT NULL, leg TEXT, kind TEXT,"
    " severity TEXT, score REAL, t REAL, t_start REAL, t_end REAL, text TEXT, escalates TEXT,"
    " evidence TEXT, wall_ms INTEGER, json TEXT NOT NULL);"
    "CREATE INDEX alerts_by_call ON alerts(call_id, t_end);"
    "CREATE INDEX alerts_by_time ON alerts(wall_ms);"
    "CREATE TABLE other_events(seq INTEGER PRIMARY KEY, call_id TEXT, type TEXT, topic TEXT,"
    " wall_ms INTEGER, json TEXT NOT NULL);";

/* Version 2: this round's contract extensions (contract-ext.md): teams,
 * whisper prompts, acknowledgements, and the per-call prosody summary that
 * the agent's wellbeing trend is computed from. */
static const char SCHEMA_V2[] =
    "ALTER TABLE calls ADD COLUMN team TEXT;"
    "ALTER TABLE calls ADD COLUMN prosody_summary TEXT;"
    "ALTER TABLE calls ADD COLUMN agent_f0_spread_st REAL;"
    "CREATE TABLE whispers(seq INTEGER PRIMARY KEY, call_id TEXT, agent_id TEXT, t REAL,"
    " because TEXT, kind TEXT, severity TEXT, lang TEXT, prompt TEXT, wall_ms INTEGER,"
    " json TEXT NOT NULL);"
    "CREATE INDEX whispers_by_call ON whispers(call_id, t);"
    "CREATE TABLE acks(seq INTEGER PRIMARY KEY, call_id TEXT, alert_id TEXT, by TEXT, at TEXT,"
    " note TEXT, wall_ms INTEGER, json TEXT NOT NULL);"
    "CREATE INDEX acks_by_alert ON acks(alert_id);"
    "CREATE INDEX acks_by_call ON acks(call_id);";

/* Version 3: the wall time an acknowledgement was made (`acked_at`), so
 * time-to-acknowledge can be measured; older acks had it as `at`. */
static const char SCHEMA_V3[] =
    "ALTER TABLE acks ADD COLUMN acked_at TEXT;"
    "UPDATE acks SET acked_at = at;";

static const char *const MIGRATIONS[CW_ARCHIVE_SCHEMA_VERSION] = {SCHEMA_V1, SCHEMA_V2, SCHEMA_V3};

/* Wall-clock milliseconds of an ISO-8601 text, by SQLite's own date parser;
 * NULL when it does not parse. */
#define SQL_ISO_MS(p) "CAST(round((julianday(" p ") - 2440587.5) * 86400000) AS INTEGER)"
/* When a row happened: its call's start plus the call-audio offset, or the
 * time it was archived when the call's start is not in the archive. */
#define SQL_WALL_MS(call, t, now)                                                              \
    "COALESCE((SELECT started_ms FROM calls WHERE call_id = " call ") + CAST(round(" t     \
    " * 1000) AS INTEGER), " now ")"

enum {
    ST_CALL_START,
    ST_CALL_END,
    ST_LEG_RATE,
    ST_LEG_DROPPED,
    ST_TRANSCRIPT,
    ST_ALERT,
    ST_WHISPER,
    ST_ACK,
    ST_OTHER,
    ST_FORGET_TRANSCRIPTS,
    ST_FORGET_ALERTS,
    ST_FORGET_WHISPERS,
    ST_FORGET_ACKS,
    ST_FORGET_LEGS,
    ST_FORGET_OTHER,
    ST_COUNT
};

static const char *const STATEMENTS[ST_COUNT] = {
    [ST_CALL_START] =
        "INSERT INTO calls(call_id, agent_id, line, team, source, started_at, started_ms, start_json)"
        " VALUES(?1, ?2, ?3, ?4, ?5, ?6, COALESCE(" SQL_ISO_MS("?6") ", ?7), ?8)"
        " ON CONFLICT(call_id) DO UPDATE SET agent_id = excluded.agent_id, line = excluded.line,"
        " team = excluded.team, source = excluded.source, started_at = excluded.started_at,"
        " started_ms = excluded.started_ms, start_json = excluded.start_json, ended_ms = NULL,"
        " duration_s = NULL, end_reason = NULL, end_json = NULL, prosody_summary = NULL,"
        " agent_f0_spread_st = NULL",
    [ST_CALL_END] =
        "INSERT INTO calls(call_id, started_ms, ended_ms, duration_s, end_reason, end_json,"
        " prosody_summary, agent_f0_spread_st)"
        " VALUES(?1, ?5, ?5, ?2, ?3, ?4, ?6, ?7)"
        " ON CONFLICT(call_id) DO UPDATE SET duration_s = excluded.duration_s,"
        " end_reason = excluded.end_reason, end_json = excluded.end_json,"
        " prosody_summary = excluded.prosody_summary, agent_f0_spread_st = excluded.agent_f0_spread_st,"
        " ended_ms = COALESCE(calls.started_ms + CAST(round(excluded.duration_s * 1000) AS INTEGER), ?5)",
    [ST_LEG_RATE] = "INSERT INTO legs(call_id, leg, rate_hz) VALUES(?1, ?2, ?3)"
                    " ON CONFLICT(call_id, leg) DO UPDATE SET rate_hz = excluded.rate_hz",
    [ST_LEG_DROPPED] = "INSERT INTO legs(call_id, leg, frames_dropped) VALUES(?1, ?2, ?3)"
                       " ON CONFLICT(call_id, leg) DO UPDATE SET frames_dropped = excluded.frames_dropped",
    [ST_TRANSCRIPT] = "INSERT INTO transcripts(call_id, leg, t, t_start, t_end, utterance, text, wall_ms, json)"
                      " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, " SQL_WALL_MS("?1", "?4", "?8") ", ?9)",
    [ST_ALERT] = "INSERT OR REPLACE INTO alerts(id, call_id, leg, kind, severity, score, t, t_start, t_end,"
                 " text, escalates, evidence, wall_ms, json)"
                 " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, " SQL_WALL_MS("?2", "?9", "?13")
                 ", ?14)",
    [ST_WHISPER] = "INSERT INTO whispers(call_id, agent_id, t, because, kind, severity, lang, prompt, wall_ms,"
                   " json) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, " SQL_WALL_MS("?1", "?3", "?9") ", ?10)",
    [ST_ACK] = "INSERT INTO acks(call_id, alert_id, by, at, note, wall_ms, json, acked_at)"
               " VALUES(?1, ?2, ?3, ?4, ?5, COALESCE(" SQL_ISO_MS("COALESCE(?8, ?4)") ", ?6), ?7, COALESCE(?8, ?4))",
    [ST_OTHER] = "INSERT INTO other_events(call_id, type, topic, wall_ms, json)"
                 " VALUES(?1, ?2, ?3, " SQL_WALL_MS("?1", "?4", "?5") ", ?6)",
    [ST_FORGET_TRANSCRIPTS] = "DELETE FROM transcripts WHERE call_id = ?1",
    [ST_FORGET_ALERTS] = "DELETE FROM alerts WHERE call_id = ?1",
    [ST_FORGET_WHISPERS] = "DELETE FROM whispers WHERE call_id = ?1",
    [ST_FORGET_ACKS] = "DELETE FROM acks WHERE call_id = ?1",
    [ST_FORGET_LEGS] = "DELETE FROM legs WHERE call_id = ?1",
    [ST_FORGET_OTHER] = "DELETE FROM other_events WHERE call_id = ?1",
};

/* ---- the archive ---- */

typedef struct item {
    struct item *next;
    uint64_t seq;
    char *json;
    char topic[CW_TOPIC_MAX];
} item_t;

struct cw_archive {
    sqlite3 *db;              /* the SQLite backend, or NULL with pg */
    cw_archive_pg_t *pg;      /* the PostgreSQL backend (a URL was given), or NULL */
    cw_archive_remote_t *remote; /* a central archiver keeps it (an endpoint was given), or NULL */
    bool in_txn;              /* cw_archive_begin() was called (PostgreSQL) */
    bool careful;             /* PostgreSQL: a savepoint per event (cw_archive_set_careful) */
    sqlite3_stmt *st[ST_COUNT];
    int last_rc;              /* SQLite code of the last failed statement */
    char path[1024];
    cw_archive_opts_t opts;

    /* Sink mode. The archiver thread owns db and st from start on. */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t work;      /* the archiver waits on it */
    pthread_cond_t progress;  /* sync and close wait on it */
    /* Guarded by lock: */
    item_t *head, *tail;
    uint64_t queued;
    uint64_t handed;          /* seq of the last event queued */
    uint64_t committed;       /* every seq up to this is committed (or given up) */
    uint64_t last_sync_target;
    bool stopping, finished;
    bool behind;              /* a sync gave up waiting and the archiver has not caught up */
    double behind_since;
    cw_archive_stats_t stats;
};

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long long wall_ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void warn(const cw_archive_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(const cw_archive_t *a, const char *fmt, ...)
{
    if (!a->opts.warn)
        return;
    char msg[CW_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    a->opts.warn(a->opts.warn_user, msg);
}

/* The error of the last SQLite call, as an archive error naming the file. */
static int db_error(const cw_archive_t *a, cw_error_t *err, const char *doing)
{
    int rc = sqlite3_extended_errcode(a->db);
    int primary = rc & 0xff;
    const char *msg = sqlite3_errmsg(a->db);
    if (primary == SQLITE_NOTADB)
        return cw_error_set(err, CW_ERR_FORMAT, "%s is not a callwatch archive (not an SQLite database: %s)",
                            a->path, msg);
    if (primary == SQLITE_CORRUPT)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: the archive is damaged (%s) while %s", a->path, msg,
                            doing);
    if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED)
        return cw_error_set(err, CW_ERR_BUSY, "%s: archive is locked by another process while %s (%s)",
                            a->path, doing, msg);
    if (primary == SQLITE_NOMEM)
        return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory while %s", a->path, doing);
    return cw_error_set(err, CW_ERR_IO, "%s: %s while %s", a->path, msg, doing);
}

static int exec_sql(cw_archive_t *a, const char *sql, const char *doing, cw_error_t *err)
{
    if (sqlite3_exec(a->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(a, err, doing);
    return CW_OK;
}

/* Runs a query returning one integer (a PRAGMA). */
static int query_int(cw_archive_t *a, const char *sql, long long *out, const char *doing, cw_error_t *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(a->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(a, err, doing);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        return CW_OK;
    }
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return cw_error_set(err, CW_ERR_INTERNAL, "%s: no result while %s", a->path, doing);
    }
    sqlite3_finalize(st);
    return db_error(a, err, doing);
}

/* PRAGMA quick_check: "ok" or the first problem it found. */
static int check_integrity(cw_archive_t *a, cw_error_t *err)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(a->db, "PRAGMA quick_check(1)", -1, &st, NULL) != SQLITE_OK)
        return db_error(a, err, "checking it");
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return db_error(a, err, "checking it");
    }
    const char *verdict = (const char *)sqlite3_column_text(st, 0);
    int status = CW_OK;
    if (!verdict || strcmp(verdict, "ok") != 0)
        status = cw_error_set(err, CW_ERR_FORMAT,
                              "%s: the archive is damaged (%s); copy what is readable with"
                              " `sqlite3 %s .recover`",
                              a->path, verdict ? verdict : "unknown", a->path);
    sqlite3_finalize(st);
    return status;
}

static int migrate(cw_archive_t *a, long long from, cw_error_t *err)
{
    for (long long v = from; v < CW_ARCHIVE_SCHEMA_VERSION; v++) {
        char doing[64];
        snprintf(doing, sizeof doing, "migrating it to schema version %lld", v + 1);
        if (exec_sql(a, "BEGIN IMMEDIATE", doing, err) != CW_OK)
            return err->code;
        char pragmas[128];
        snprintf(pragmas, sizeof pragmas, "PRAGMA application_id = %d; PRAGMA user_version = %lld;",
                 CW_ARCHIVE_APPLICATION_ID, v + 1);
        if (exec_sql(a, MIGRATIONS[v], doing, err) != CW_OK || exec_sql(a, pragmas, doing, err) != CW_OK ||
            exec_sql(a, "COMMIT", doing, err) != CW_OK) {
            sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
            return err->code;
        }
    }
    return CW_OK;
}

/* Identifies what kind of file this is and brings it to our schema. */
static int prepare_schema(cw_archive_t *a, bool created, cw_error_t *err)
{
    long long app_id = 0, version = 0, tables = 0;
    if (query_int(a, "PRAGMA application_id", &app_id, "reading its header", err) != CW_OK)
        return err->code;
    if (query_int(a, "SELECT count(*) FROM sqlite_schema", &tables, "listing its tables", err) != CW_OK)
        return err->code;
    bool empty = app_id == 0 && tables == 0;
    if (!empty && app_id != CW_ARCHIVE_APPLICATION_ID)
        return cw_error_set(err, CW_ERR_FORMAT,
                            "%s is not a callwatch archive (an SQLite database of something else:"
                            " application_id 0x%llx, %lld schema object(s))",
                            a->path, app_id, tables);
    if (empty && !created && !a->opts.create)
        return cw_error_set(err, CW_ERR_FORMAT, "%s is not a callwatch archive (an empty database)", a->path);
    if (query_int(a, "PRAGMA user_version", &version, "reading its schema version", err) != CW_OK)
        return err->code;
    if (version > CW_ARCHIVE_SCHEMA_VERSION)
        return cw_error_set(err, CW_ERR_FORMAT,
                            "%s has archive schema version %lld, newer than this callwatch understands (%d);"
                            " use a newer callwatch",
                            a->path, version, CW_ARCHIVE_SCHEMA_VERSION);
    if (!empty && check_integrity(a, err) != CW_OK)
        return err->code;
    if (empty && exec_sql(a, "PRAGMA auto_vacuum = INCREMENTAL", "creating it", err) != CW_OK)
        return err->code;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(a->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK)
        return db_error(a, err, "switching it to WAL");
    int rc = sqlite3_step(st);
    const char *mode = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
    bool wal = mode && strcmp(mode, "wal") == 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return db_error(a, err, "switching it to WAL");
    if (!wal)
        return cw_error_set(err, CW_ERR_IO, "%s: cannot use the WAL journal (got '%s'); is it on a network"
                            " file system?", a->path, mode ? mode : "?");
    /* FULL: each commit fsyncs the WAL, so what the bus published survives
     * a power cut too, not only a killed process (NORMAL would); one fsync
     * per outbox batch keeps that cheap. */
    if (exec_sql(a, "PRAGMA synchronous = FULL", "setting it up", err) != CW_OK)
        return err->code;
    return migrate(a, version, err);
}

static void finalize_statements(cw_archive_t *a)
{
    for (int i = 0; i < ST_COUNT; i++) {
        sqlite3_finalize(a->st[i]);
        a->st[i] = NULL;
    }
}

static void archive_free(cw_archive_t *a)
{
    cw_archive_pg_close(&a->pg);
    cw_archive_remote_close(&a->remote);
    finalize_statements(a);
    sqlite3_close_v2(a->db);
    while (a->head) {
        item_t *next = a->head->next;
        free(a->head->json);
        free(a->head);
        a->head = next;
    }
    free(a);
}

/* The PostgreSQL backend: a is named by its label (no password). */
static cw_archive_t *open_pg(cw_archive_t *a, const char *url, cw_error_t *err)
{
    cw_archive_pg_label(url, a->path, sizeof a->path);
    a->pg = cw_archive_pg_open(url, a->opts.create, a->opts.warn, a->opts.warn_user, err);
    if (!a->pg || (a->opts.retention_days > 0 && cw_archive_prune(a, a->opts.retention_days, err) < 0)) {
        archive_free(a);
        return NULL;
    }
    return a;
}

/* A central archiver keeps the events: only for writing (a sink, an import). */
static cw_archive_t *open_remote(cw_archive_t *a, const char *endpoint, cw_error_t *err)
{
    if (!a->opts.create) {
        cw_error_set(err, CW_ERR_INVALID,
                     "%s is a `callwatch archiver` endpoint, which only takes events: read the database it"
                     " writes (its [archive] url)", endpoint);
        archive_free(a);
        return NULL;
    }
    a->remote = cw_archive_remote_open(endpoint, ARCHIVE_REMOTE_TIMEOUT_MS, err);
    if (!a->remote) {
        archive_free(a);
        return NULL;
    }
    return a;
}

cw_archive_t *cw_archive_open(const char *path, const cw_archive_opts_t *opts, cw_error_t *err)
{
    if (!path || !*path) {
        cw_error_set(err, CW_ERR_INVALID, "archive: no file name");
        return NULL;
    }
    cw_archive_t *a = calloc(1, sizeof *a);
    if (!a) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory opening archive %s", path);
        return NULL;
    }
    if (opts)
        a->opts = *opts;
    if (a->opts.max_queued == 0)
        a->opts.max_queued = ARCHIVE_DEFAULT_MAX_QUEUED;
    if (a->opts.commit_timeout_ms < 1)
        a->opts.commit_timeout_ms = 1000;
    snprintf(a->path, sizeof a->path, "%s", path);
    if (cw_archive_pg_is_url(path))
        return open_pg(a, path, err);
    if (cw_archive_remote_is_endpoint(path))
        return open_remote(a, path, err);

    bool created = false;
    struct stat sb;
    if (stat(path, &sb) != 0) {
        if (errno != ENOENT || !a->opts.create) {
            cw_error_set(err, errno == ENOENT ? CW_ERR_NOT_FOUND : CW_ERR_IO, "%s: cannot open archive: %s",
                         path, strerror(errno));
            free(a);
            return NULL;
        }
        /* Made here, not by SQLite, so it is 0600 whatever the umask; SQLite
         * gives the -wal and -shm files the same mode. */
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0) {
            cw_error_set(err, CW_ERR_IO, "%s: cannot create archive: %s", path, strerror(errno));
            free(a);
            return NULL;
        }
        close(fd);
        created = true;
    } else if (!S_ISREG(sb.st_mode)) {
        cw_error_set(err, CW_ERR_FORMAT, "%s is not a callwatch archive (not a regular file)", path);
        free(a);
        return NULL;
    }
    if (sqlite3_open_v2(path, &a->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK) {
        cw_error_set(err, CW_ERR_IO, "%s: cannot open archive: %s", path,
                     a->db ? sqlite3_errmsg(a->db) : "out of memory");
        archive_free(a);
        return NULL;
    }
    sqlite3_extended_result_codes(a->db, 1);
    sqlite3_busy_timeout(a->db, ARCHIVE_BUSY_TIMEOUT_MS);
    if (prepare_schema(a, created, err) != CW_OK) {
        archive_free(a);
        return NULL;
    }
    for (int i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(a->db, STATEMENTS[i], -1, SQLITE_PREPARE_PERSISTENT, &a->st[i], NULL) !=
            SQLITE_OK) {
            db_error(a, err, "preparing its statements");
            archive_free(a);
            return NULL;
        }
    }
    if (a->opts.retention_days > 0 && cw_archive_prune(a, a->opts.retention_days, err) < 0) {
        archive_free(a);
        return NULL;
    }
    return a;
}

void cw_archive_close(cw_archive_t **ap)
{
    if (!ap || !*ap)
        return;
    archive_free(*ap);
    *ap = NULL;
}

sqlite3 *cw_archive_db(cw_archive_t *a)
{
    return a ? a->db : NULL;
}

const char *cw_archive_path(const cw_archive_t *a)
{
    return a ? a->path : "";
}

cw_archive_pg_t *cw_archive_pg(cw_archive_t *a)
{
    return a ? a->pg : NULL;
}

void cw_archive_set_careful(cw_archive_t *a, bool careful)
{
    if (a)
        a->careful = careful;
}

bool cw_archive_spoils_on_refusal(const cw_archive_t *a)
{
    return a && a->pg && !a->careful;
}

int cw_archive_begin(cw_archive_t *a, cw_error_t *err)
{
    if (!a)
        return cw_error_set(err, CW_ERR_INVALID, "archive: none");
    int status = CW_OK;
    if (a->remote)
        cw_archive_remote_begin(a->remote);
    else
        status = a->pg ? cw_archive_pg_begin(a->pg, err) : exec_sql(a, "BEGIN IMMEDIATE", "starting a commit", err);
    a->in_txn = status == CW_OK;
    return status;
}

int cw_archive_commit(cw_archive_t *a, cw_error_t *err)
{
    if (!a)
        return cw_error_set(err, CW_ERR_INVALID, "archive: none");
    a->in_txn = false;
    int status = a->remote ? cw_archive_remote_commit(a->remote, err)
                 : a->pg   ? cw_archive_pg_commit(a->pg, err)
                           : exec_sql(a, "COMMIT", "committing", err);
    if (status != CW_OK)
        cw_archive_rollback(a);
    return status;
}

void cw_archive_rollback(cw_archive_t *a)
{
    if (!a)
        return;
    a->in_txn = false;
    if (a->remote)
        cw_archive_remote_rollback(a->remote);
    else if (a->pg)
        cw_archive_pg_rollback(a->pg);
    else if (!sqlite3_get_autocommit(a->db))
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
}

/* ---- storing one event ---- */

/* Binds the event's parameters (archive_event.h) to st. */
static void bind_event(sqlite3_stmt *st, const cw_archive_event_t *ev)
{
    for (int i = 0; i < ev->n; i++) {
        const cw_archive_value_t *v = &ev->v[i];
        switch (v->type) {
        case CW_AV_TEXT: sqlite3_bind_text(st, i + 1, v->text, -1, SQLITE_STATIC); break;
        case CW_AV_INT: sqlite3_bind_int64(st, i + 1, v->i); break;
        case CW_AV_REAL: sqlite3_bind_double(st, i + 1, v->d); break;
        case CW_AV_NULL: sqlite3_bind_null(st, i + 1); break;
        }
    }
}

static int step_done(cw_archive_t *a, sqlite3_stmt *st, const char *doing, cw_error_t *err)
{
    int status = CW_OK;
    if (sqlite3_step(st) != SQLITE_DONE) {
        a->last_rc = sqlite3_extended_errcode(a->db);
        status = db_error(a, err, doing);
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return status;
}

/* A call_start for a call already archived is a re-analysis of the same
 * recording: its earlier rows give way to the new analysis. */
static int forget_call(cw_archive_t *a, const char *call_id, cw_error_t *err)
{
    for (int i = ST_FORGET_TRANSCRIPTS; i <= ST_FORGET_OTHER; i++) {
        sqlite3_bind_text(a->st[i], 1, call_id, -1, SQLITE_TRANSIENT);
        if (step_done(a, a->st[i], "replacing an earlier analysis of the call", err) != CW_OK)
            return err->code;
    }
    return CW_OK;
}

static int store_legs(cw_archive_t *a, int which, const char *call_id, const json_t *legs, const char *field,
                      cw_error_t *err)
{
    const char *leg;
    json_t *v;
    json_object_foreach((json_t *)legs, leg, v) {
        const json_t *n = field ? json_object_get(v, field) : v;
        if (!json_is_integer(n))
            continue;
        sqlite3_stmt *st = a->st[which];
        sqlite3_bind_text(st, 1, call_id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, leg, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, json_integer_value(n));
        if (step_done(a, st, "storing a leg", err) != CW_OK)
            return err->code;
    }
    return CW_OK;
}

static int store_event(cw_archive_t *a, const char *topic, const char *json, long long now_ms, cw_error_t *err)
{
    if (a->pg)
        return cw_archive_pg_store(a->pg, topic, json, now_ms, a->careful, err);
    if (a->remote)
        return cw_archive_remote_store(a->remote, topic, json, err);
    static const struct {
        int st;
        const char *doing;
    } by_kind[] = {
        [CW_AEV_CALL_START] = {ST_CALL_START, "storing a call_start"},
        [CW_AEV_CALL_END] = {ST_CALL_END, "storing a call_end"},
        [CW_AEV_TRANSCRIPT] = {ST_TRANSCRIPT, "storing a transcript"},
        [CW_AEV_ALERT] = {ST_ALERT, "storing an alert"},
        [CW_AEV_WHISPER] = {ST_WHISPER, "storing a whisper"},
        [CW_AEV_ACK] = {ST_ACK, "storing an ack"},
        [CW_AEV_OTHER] = {ST_OTHER, "storing an event"},
    };
    cw_archive_event_t ev;
    int status = cw_archive_event_parse(&ev, topic, json, now_ms, a->path, err);
    if (status == CW_OK && ev.kind == CW_AEV_CALL_START)
        status = forget_call(a, ev.call_id, err);
    if (status == CW_OK && ev.kind != CW_AEV_SKIP) {
        sqlite3_stmt *st = a->st[by_kind[ev.kind].st];
        bind_event(st, &ev);
        status = step_done(a, st, by_kind[ev.kind].doing, err);
    }
    if (status == CW_OK && ev.legs)
        status = store_legs(a, ev.kind == CW_AEV_CALL_START ? ST_LEG_RATE : ST_LEG_DROPPED, ev.call_id, ev.legs,
                            ev.legs_field, err);
    cw_archive_event_free(&ev);
    return status;
}

int cw_archive_store_json(cw_archive_t *a, const char *topic, const char *json, cw_error_t *err)
{
    if (!a || !topic || !json)
        return cw_error_set(err, CW_ERR_INVALID, "archive store: missing archive, topic or event");
    if ((!a->pg && !a->remote) || a->in_txn)
        return store_event(a, topic, json, wall_ms_now(), err);
    /* PostgreSQL stores under a savepoint: give it a transaction. */
    if (cw_archive_begin(a, err) != CW_OK)
        return err->code;
    int status = store_event(a, topic, json, wall_ms_now(), err);
    if (status != CW_OK) {
        cw_archive_rollback(a);
        return status;
    }
    return cw_archive_commit(a, err);
}

long cw_archive_prune(cw_archive_t *a, int retention_days, cw_error_t *err)
{
    if (!a || retention_days < 1)
        return cw_error_set(err, CW_ERR_INVALID, "archive prune: retention must be >= 1 day");
    static const char *const deletes[] = {
        "DELETE FROM transcripts WHERE wall_ms < ?1",
        "DELETE FROM alerts WHERE wall_ms < ?1",
        "DELETE FROM whispers WHERE wall_ms < ?1",
        "DELETE FROM acks WHERE wall_ms < ?1",
        "DELETE FROM other_events WHERE wall_ms < ?1",
        "DELETE FROM calls WHERE COALESCE(ended_ms, started_ms) < ?1",
        "DELETE FROM legs WHERE call_id NOT IN (SELECT call_id FROM calls)",
    };
    long long cutoff = wall_ms_now() - (long long)retention_days * 86400000LL;
    if (a->pg)
        return cw_archive_pg_prune(a->pg, cutoff, err);
    if (a->remote)
        return 0; /* the archiver applies its own retention */
    long deleted = 0;
    if (exec_sql(a, "BEGIN IMMEDIATE", "applying the retention", err) != CW_OK)
        return err->code;
    for (size_t i = 0; i < sizeof deletes / sizeof deletes[0]; i++) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(a->db, deletes[i], -1, &st, NULL) != SQLITE_OK) {
            db_error(a, err, "applying the retention");
            sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
            return err->code;
        }
        sqlite3_bind_int64(st, 1, cutoff);
        int rc = sqlite3_step(st);
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE) {
            db_error(a, err, "applying the retention");
            sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
            return err->code;
        }
        deleted += sqlite3_changes(a->db);
    }
    if (exec_sql(a, "COMMIT", "applying the retention", err) != CW_OK) {
        sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
        return err->code;
    }
    /* Give the freed pages back to the file system; failure only wastes space. */
    if (deleted > 0)
        sqlite3_exec(a->db, "PRAGMA incremental_vacuum", NULL, NULL, NULL);
    return deleted;
}

/* ---- the archiver thread ---- */

static void free_items(item_t *it)
{
    while (it) {
        item_t *next = it->next;
        free(it->json);
        free(it);
        it = next;
    }
}

/* One transaction for the whole batch. An event that cannot be stored
 * (not event JSON) is skipped and counted; anything that undoes the
 * transaction fails the batch, which is then retried as a whole. */
static int commit_batch(cw_archive_t *a, item_t *batch, uint64_t *rejected, cw_error_t *err)
{
    cw_archive_set_careful(a, false);
    for (;;) {
        *rejected = 0;
        if (cw_archive_begin(a, err) != CW_OK)
            return err->code;
        long long now = wall_ms_now();
        bool redo = false;
        for (item_t *it = batch; it && !redo; it = it->next) {
            cw_error_t e;
            cw_error_clear(&e);
            a->last_rc = SQLITE_OK;
            if (store_event(a, it->topic, it->json, now, &e) == CW_OK)
                continue;
            int primary = a->last_rc & 0xff;
            bool bad_event = e.code == CW_ERR_INVALID || primary == SQLITE_CONSTRAINT ||
                             primary == SQLITE_TOOBIG || primary == SQLITE_MISMATCH || primary == SQLITE_RANGE;
            if (!bad_event) {
                /* Disk full, I/O, lock, a lost server: the whole batch is
                 * retried, never an event quietly left out. */
                cw_archive_rollback(a);
                *err = e;
                return e.code;
            }
            /* PostgreSQL refused it without a savepoint: do the batch again
             * with one per event, so only this event is left out. */
            redo = cw_archive_spoils_on_refusal(a);
            if (!redo && ++*rejected == 1)
                warn(a, "archive %s: event not archived: %s", a->path, e.msg);
        }
        if (!redo)
            break;
        cw_archive_rollback(a);
        cw_archive_set_careful(a, true);
    }
    int status = cw_archive_commit(a, err);
    cw_archive_set_careful(a, false);
    return status;
}

static void wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, double deadline)
{
    double now = monotonic_s();
    if (deadline <= now)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double left = deadline - now;
    ts.tv_sec += (time_t)left;
    ts.tv_nsec += (long)((left - (double)(time_t)left) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_cond_timedwait(cond, lock, &ts);
}

static void *archiver_main(void *arg)
{
    cw_archive_t *a = arg;
    double next_prune = monotonic_s() + ARCHIVE_RETENTION_EVERY_S;
    pthread_mutex_lock(&a->lock);
    for (;;) {
        while (!a->head && !a->stopping && monotonic_s() < next_prune)
            wait_until(&a->work, &a->lock, next_prune);
        if (!a->head && a->stopping)
            break;
        /* Due even under constant traffic: checked between batches too. */
        if (monotonic_s() >= next_prune && !a->stopping) {
            pthread_mutex_unlock(&a->lock);
            next_prune = monotonic_s() + ARCHIVE_RETENTION_EVERY_S;
            cw_error_t e;
            cw_error_clear(&e);
            if (a->opts.retention_days > 0 && cw_archive_prune(a, a->opts.retention_days, &e) < 0)
                warn(a, "archive: retention failed: %s", e.msg);
            pthread_mutex_lock(&a->lock);
            continue;
        }
        item_t *batch = a->head;
        uint64_t n = a->queued;
        uint64_t last = a->tail->seq;
        a->head = a->tail = NULL;
        a->queued = 0;
        pthread_mutex_unlock(&a->lock);

        int delay_ms = ARCHIVE_RETRY_FIRST_MS;
        int tries = 0;
        uint64_t rejected = 0;
        bool given_up = false;
        for (;;) {
            cw_error_t e;
            cw_error_clear(&e);
            double t0 = monotonic_s();
            if (commit_batch(a, batch, &rejected, &e) == CW_OK) {
                double ms = (monotonic_s() - t0) * 1000.0;
                pthread_mutex_lock(&a->lock);
                a->stats.commits++;
                a->stats.total_commit_ms += ms;
                if (ms > a->stats.max_commit_ms)
                    a->stats.max_commit_ms = ms;
                pthread_mutex_unlock(&a->lock);
                break;
            }
            tries++;
            pthread_mutex_lock(&a->lock);
            a->stats.commit_failures++;
            bool stopping = a->stopping;
            pthread_mutex_unlock(&a->lock);
            if (stopping && tries >= ARCHIVE_SHUTDOWN_TRIES) {
                warn(a, "archive %s: giving up at shutdown: %llu event(s) NOT archived: %s", a->path,
                     (unsigned long long)n, e.msg);
                given_up = true;
                break;
            }
            warn(a, "archive %s: commit of %llu event(s) failed (%s); retrying in %d ms", a->path,
                 (unsigned long long)n, e.msg, delay_ms);
            struct timespec ts = {.tv_sec = delay_ms / 1000, .tv_nsec = (delay_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
            if (delay_ms < ARCHIVE_RETRY_MAX_MS)
                delay_ms = delay_ms * 2 > ARCHIVE_RETRY_MAX_MS ? ARCHIVE_RETRY_MAX_MS : delay_ms * 2;
        }
        free_items(batch);

        pthread_mutex_lock(&a->lock);
        a->committed = last;
        if (given_up)
            a->stats.dropped += n;
        else
            a->stats.archived += n - rejected;
        a->stats.rejected += rejected;
        pthread_cond_broadcast(&a->progress);
        if (a->behind && a->committed == a->handed) {
            a->behind = false;
            double lag = monotonic_s() - a->behind_since;
            uint64_t uncommitted = a->stats.published_uncommitted;
            pthread_mutex_unlock(&a->lock);
            warn(a, "archive %s: caught up after %.1f s; waiting for commits again (%llu event(s) so far"
                 " were published before their commit)", a->path, lag, (unsigned long long)uncommitted);
            pthread_mutex_lock(&a->lock);
        }
    }
    a->finished = true;
    pthread_cond_broadcast(&a->progress);
    pthread_mutex_unlock(&a->lock);
    return NULL;
}

/* ---- the sink ---- */

static int archive_sink_write(void *impl, const cw_event_t *ev, cw_error_t *err)
{
    cw_archive_t *a = impl;
    item_t *it = malloc(sizeof *it);
    char *json = it ? malloc(ev->json_len + 1) : NULL;
    if (!json) {
        free(it);
        pthread_mutex_lock(&a->lock);
        a->stats.dropped++;
        pthread_mutex_unlock(&a->lock);
        return cw_error_set(err, CW_ERR_NOMEM, "archive %s: out of memory: event %s not archived", a->path,
                            ev->topic);
    }
    memcpy(json, ev->json, ev->json_len);
    json[ev->json_len] = '\0';
    it->json = json;
    it->next = NULL;
    snprintf(it->topic, sizeof it->topic, "%s", ev->topic);
    pthread_mutex_lock(&a->lock);
    if (a->queued >= a->opts.max_queued || a->finished) {
        a->stats.dropped++;
        uint64_t dropped = a->stats.dropped;
        pthread_mutex_unlock(&a->lock);
        free(json);
        free(it);
        return cw_error_set(err, CW_ERR_BUSY,
                            "archive %s: %zu events wait for a stuck commit: event %s not archived"
                            " (%llu so far)",
                            a->path, a->opts.max_queued, ev->topic, (unsigned long long)dropped);
    }
    it->seq = ++a->handed;
    if (a->tail)
        a->tail->next = it;
    else
        a->head = it;
    a->tail = it;
    a->queued++;
    pthread_mutex_unlock(&a->lock);
    return CW_OK;
}

static int archive_sink_sync(void *impl, cw_error_t *err)
{
    (void)err;
    cw_archive_t *a = impl;
    pthread_mutex_lock(&a->lock);
    uint64_t target = a->handed;
    if (a->committed >= target) {
        pthread_mutex_unlock(&a->lock);
        return CW_OK;
    }
    pthread_cond_signal(&a->work);
    bool timed_out = false;
    if (!a->behind) {
        double deadline = monotonic_s() + a->opts.commit_timeout_ms / 1000.0;
        while (a->committed < target && !a->finished && monotonic_s() < deadline)
            wait_until(&a->progress, &a->lock, deadline);
        if (a->committed >= target) {
            a->last_sync_target = target;
            pthread_mutex_unlock(&a->lock);
            return CW_OK;
        }
        timed_out = true;
        a->behind = true;
        a->behind_since = monotonic_s();
        a->stats.commit_timeouts++;
    }
    /* Published before their commit: the events of this batch not yet committed. */
    uint64_t floor = a->committed > a->last_sync_target ? a->committed : a->last_sync_target;
    uint64_t pending = target - floor;
    a->stats.published_uncommitted += pending;
    a->last_sync_target = target;
    uint64_t queued = a->queued;
    pthread_mutex_unlock(&a->lock);
    if (timed_out)
        warn(a,
             "ARCHIVE STALLED: %s did not commit within %d ms: publishing %llu event(s) before they are"
             " archived and not waiting again until it catches up (%llu queued; a crash now loses them"
             " from the archive, never from the bus)",
             a->path, a->opts.commit_timeout_ms, (unsigned long long)pending, (unsigned long long)queued);
    return CW_OK;
}

static void archive_sink_destroy(void *impl)
{
    cw_archive_t *a = impl;
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    a->stopping = true;
    pthread_cond_signal(&a->work);
    double deadline = monotonic_s() + ARCHIVE_CLOSE_WAIT_S;
    while (!a->finished && monotonic_s() < deadline)
        wait_until(&a->progress, &a->lock, deadline);
    bool finished = a->finished;
    uint64_t queued = a->queued;
    pthread_mutex_unlock(&a->lock);
    if (!finished) {
        /* The archiver is stuck in the disk: it still uses the archive, so
         * leave both to the process exit. */
        warn(a, "archive %s: still not committed after %.0f s at shutdown: %llu queued event(s) NOT archived",
             a->path, ARCHIVE_CLOSE_WAIT_S, (unsigned long long)queued);
        pthread_detach(a->thread);
        return;
    }
    pthread_join(a->thread, NULL);
    pthread_cond_destroy(&a->progress);
    pthread_cond_destroy(&a->work);
    pthread_mutex_destroy(&a->lock);
    archive_free(a);
}

static const cw_sink_ops_t archive_ops = {
    .name = "archive",
    .write = archive_sink_write,
    .destroy = archive_sink_destroy,
    .sync = archive_sink_sync,
};

cw_sink_t *cw_archive_sink_new(cw_archive_t **ap, cw_error_t *err)
{
    if (!ap || !*ap) {
        cw_error_set(err, CW_ERR_INVALID, "archive sink: no archive");
        return NULL;
    }
    cw_archive_t *a = *ap;
    *ap = NULL;
    pthread_condattr_t ca;
    bool ok = pthread_condattr_init(&ca) == 0;
    ok = ok && pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0;
    if (!ok || pthread_mutex_init(&a->lock, NULL) != 0) {
        cw_error_set(err, CW_ERR_NOMEM, "archive %s: cannot create its lock", a->path);
        archive_free(a);
        return NULL;
    }
    if (pthread_cond_init(&a->work, &ca) != 0 || pthread_cond_init(&a->progress, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        cw_error_set(err, CW_ERR_NOMEM, "archive %s: cannot create its condition variables", a->path);
        archive_free(a);
        return NULL;
    }
    pthread_condattr_destroy(&ca);
    int rc = pthread_create(&a->thread, NULL, archiver_main, a);
    if (rc != 0) {
        cw_error_set(err, CW_ERR_INTERNAL, "archive %s: cannot start the archiver thread: %s", a->path,
                     strerror(rc));
        archive_free(a);
        return NULL;
    }
    cw_sink_t *sink = cw_sink_wrap(&archive_ops, a);
    if (!sink)
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the archive sink");
    return sink;
}

void cw_archive_sink_stats(const cw_sink_t *sink, cw_archive_stats_t *stats)
{
    if (!stats)
        return;
    memset(stats, 0, sizeof *stats);
    cw_archive_t *a = cw_sink_impl(sink, &archive_ops);
    if (!a)
        return;
    pthread_mutex_lock(&a->lock);
    *stats = a->stats;
    stats->queued = a->queued;
    pthread_mutex_unlock(&a->lock);
}
