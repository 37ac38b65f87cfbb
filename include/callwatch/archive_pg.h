/* archive_pg.h - the PostgreSQL backend of the QA archive (archive.h).
 *
 * archive.h picks it when the archive is named by a URL ("postgresql://..."
 * or "postgres://...", libpq's syntax, [archive] url); an SQLite file stays
 * the embedded default. Several nodes may write one database at once: every
 * insert is idempotent (calls, legs and alerts are upserts by their keys;
 * transcripts, whispers, acks and other events carry a unique key, the MD5
 * of their event JSON, and a second copy is ignored), so a batch replayed
 * after a lost COMMIT reply or a crash never duplicates a row.
 *
 * Schema: a table callwatch_meta holds application = "CWAR" and
 * schema_version; opening migrates an older schema one step per version,
 * each in its own transaction under an advisory lock (nodes starting together
 * do not race). A database with other tables but no callwatch_meta is not a
 * callwatch archive (CW_ERR_FORMAT).
 *
 * Connection loss (a server restart): a statement that fails on a broken
 * connection fails the caller's transaction; the next begin reconnects
 * (PQreset), logging one line through warn when the connection is lost and
 * one when it is back. The archive sink retries the batch (archive.c).
 *
 * Messages name the server by its label, the URL without a password
 * ("postgresql://cw@db.example:5432/callwatch"), never the password.
 *
 * All SQL the backend runs, for storing and for the QA queries (qa.h), is
 * in archive_pg.c; parameters are always bound, never formatted into SQL.
 *
 * Threads: one thread at a time per handle.
 */
#ifndef CALLWATCH_ARCHIVE_PG_H
#define CALLWATCH_ARCHIVE_PG_H

#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cw_archive_pg cw_archive_pg_t;

/* True when text names a PostgreSQL database (postgresql:// or postgres://). */
bool cw_archive_pg_is_url(const char *text);

/* The URL without its password into buf ("postgresql://user@host:port/db",
 * from libpq's own parse of it); "postgresql://(malformed)" when it does not
 * parse. Returns buf. */
const char *cw_archive_pg_label(const char *url, char *buf, size_t cap);

/* Connects (connect_timeout 5 s unless the URL sets one) and checks or
 * creates (create) and migrates the schema. warn (may be NULL) gets the
 * reconnect lines, from the thread using the handle. Errors name the label:
 * a malformed URL CW_ERR_INVALID, a server that cannot be reached CW_ERR_IO,
 * not a callwatch archive or a newer schema CW_ERR_FORMAT, no schema and not
 * create CW_ERR_NOT_FOUND. */
cw_archive_pg_t *cw_archive_pg_open(const char *url, bool create, void (*warn)(void *user, const char *msg),
                                    void *warn_user, cw_error_t *err);

/* Closes and frees; NULLs *pg. Accepts NULL. */
void cw_archive_pg_close(cw_archive_pg_t **pg);

/* The label (see above); owned by the handle. */
const char *cw_archive_pg_name(const cw_archive_pg_t *pg);

/* Transactions. begin reconnects a broken connection first. */
int cw_archive_pg_begin(cw_archive_pg_t *pg, cw_error_t *err);
int cw_archive_pg_commit(cw_archive_pg_t *pg, cw_error_t *err);
void cw_archive_pg_rollback(cw_archive_pg_t *pg);

/* Stores one event (JSON as on the bus) inside the caller's transaction.
 * An event that is not event JSON, or that the database refuses (bad data),
 * is CW_ERR_INVALID: with careful, each event is stored under a savepoint,
 * so a refused one is undone alone and the transaction goes on; without
 * (about 3 times faster), a refusal by the database spoils the transaction,
 * which the caller rolls back and does again carefully. Any other failure
 * (connection, server) is CW_ERR_IO and the transaction is lost. now_ms
 * stands in for the event's wall time when its call's start is unknown. */
int cw_archive_pg_store(cw_archive_pg_t *pg, const char *topic, const char *json, long long now_ms, bool careful,
                        cw_error_t *err);

/* Deletes rows older than cutoff_ms (wall clock), in one transaction.
 * Returns the number deleted or a negative cw_status. */
long cw_archive_pg_prune(cw_archive_pg_t *pg, long long cutoff_ms, cw_error_t *err);

/* The QA queries (qa.h), their parameters ($n, text, NULL = SQL NULL) and
 * the columns each returns. */
typedef enum cw_archive_pg_query {
    /* $1 call $2 agent $3 kind $4 severity $5 text $6 since_ms $7 until_ms
     * $8 limit (NULL = all) $9 type mask (qa.h CW_QA_*): the 16 row columns
     * of qa.c, in wall-time order. */
    CW_PGQ_SEARCH,
    /* $1 call: agent, line, team, started_at, started_ms, duration_s,
     * end_reason, alerts, transcripts, whispers, acks, known (0/1). */
    CW_PGQ_CALL_INFO,
    /* $1 call: the 16 row columns in timeline order. */
    CW_PGQ_TIMELINE,
    /* $1 agent: max(started_ms). */
    CW_PGQ_AGENT_LATEST,
    /* $1 agent $2 since_ms $3 until_ms: call_id, started_ms, duration_s,
     * agent_f0_spread_st, alerts, critical, warning, flat_affect, hostile,
     * mean flat-affect f0_spread_st. */
    CW_PGQ_SHIFT_CALLS,
    /* $1 agent $2 since_ms $3 until_ms: wall_ms, severity, kind. */
    CW_PGQ_SHIFT_ALERTS,
    CW_PGQ_COUNT
} cw_archive_pg_query_t;

/* Called per row with its values (NULL for SQL NULL), valid during the
 * call; a non-zero return stops (and is returned). */
typedef int (*cw_archive_pg_row_fn)(void *user, const char *const *values, int n);

/* Runs one of the queries above. 0, the callback's non-zero return, or a
 * negative cw_status naming the label and doing. */
int cw_archive_pg_query(cw_archive_pg_t *pg, cw_archive_pg_query_t which, const char *const *params, int nparams,
                        cw_archive_pg_row_fn fn, void *user, const char *doing, cw_error_t *err);

#endif
