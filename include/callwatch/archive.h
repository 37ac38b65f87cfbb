/* archive.h - the QA archive: every event of the contract kept in SQLite
 * (the embedded default) or PostgreSQL (one database many nodes share).
 *
 * Backends: cw_archive_open() takes a file name (SQLite, described below),
 * a "postgresql://" URL (archive_pg.h: same tables, same queries through
 * qa.h, idempotent inserts, reconnects after a server restart) or the
 * "tcp://" endpoint of a central `callwatch archiver` (archive_remote.h:
 * a commit is the archiver's answer that it committed the batch; for
 * writing only, opts->create). The sink, its durability promise and its
 * counters are the same for all; what is said below of files, PRAGMAs and
 * WAL is the SQLite backend's. Which events go to which columns:
 * archive_event.h.
 *
 * One database file (WAL journal, synchronous=FULL) holds calls, legs, final
 * transcript segments, alerts with their evidence, whisper prompts and
 * acknowledgements, each with its raw event JSON. Partial transcripts are
 * not kept (the final segment supersedes them); event types the archive does
 * not know go to a catch-all table, so nothing the outbox carries is dropped.
 *
 * File: created with mode 0600 (QA data is personal data). The database
 * carries application_id 0x43574152 ("CWAR") and a schema version in
 * PRAGMA user_version; opening an older archive migrates it in place, one
 * step per version, each step in its own transaction.
 *
 * Durability and the bus (the promise `callwatch run` relies on): the archive
 * is a sink with a sync operation. The outbox writes a batch to the archive,
 * then waits in sync until one archiver thread, which alone owns the SQLite
 * connection, has committed the batch (one transaction, one WAL fsync), and
 * only then publishes it (outbox.h). So a `kill -9` or a power cut loses
 * nothing that reached the bus. The wait is bounded by commit_timeout_ms: a
 * stuck or failing disk must not keep alerts from supervisors. When a commit
 * is not confirmed in time the batch is published anyway, the archive counts
 * it (commit_timeouts, published_uncommitted), reports it through opts.warn,
 * and until the archiver has caught up publishes without waiting; the events
 * stay queued and are committed when the disk comes back. Only a crash during
 * that window loses archived events (never bus events). While the archiver
 * is stuck its queue is capped (max_queued events); beyond that new events
 * are refused by the archive (counted in `dropped`, reported as a sink write
 * error), the bus still gets them.
 *
 * Errors at open name the file: a missing file (when not creating)
 * CW_ERR_NOT_FOUND; a file that is not SQLite, or an SQLite database of
 * something else, CW_ERR_FORMAT ("x.db is not a callwatch archive"); a
 * damaged archive CW_ERR_FORMAT ("x.db: the archive is damaged: ..."); a
 * schema newer than this build CW_ERR_FORMAT.
 *
 * Threads: an archive opened with cw_archive_open() is used by one thread at
 * a time (queries: qa.h). Handed to cw_archive_sink_new(), it belongs to the
 * sink: the outbox thread writes and syncs, the archiver thread owns the
 * connection, cw_archive_sink_stats() may be called from any thread.
 */
#ifndef CALLWATCH_ARCHIVE_H
#define CALLWATCH_ARCHIVE_H

#include "callwatch/archive_pg.h"
#include "callwatch/error.h"
#include "callwatch/sink.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* PRAGMA application_id of every callwatch archive: "CWAR". */
#define CW_ARCHIVE_APPLICATION_ID 0x43574152
/* Schema version this build writes (PRAGMA user_version). */
#define CW_ARCHIVE_SCHEMA_VERSION 3

typedef struct cw_archive cw_archive_t;

typedef struct cw_archive_opts {
    bool create;            /* create the file (0600) when missing; else CW_ERR_NOT_FOUND */
    int retention_days;     /* > 0: rows older than this (by the call's wall clock) are deleted
                               at open and every hour by the archiver; 0 keeps everything */
    int commit_timeout_ms;  /* sink only: longest the outbox waits for a batch's commit (>= 1) */
    size_t max_queued;      /* sink only: events waiting for a commit before new ones are
                               refused; 0 = 100000 */
    /* sink only, may be NULL: called (from the outbox or the archiver thread)
     * with one line when a commit times out, fails, or the archive catches
     * up again; must be thread-safe (a log line). */
    void (*warn)(void *user, const char *msg);
    void *warn_user;
} cw_archive_opts_t;

/* path may also be a PostgreSQL URL: then the archive connects, creates
 * (opts->create) or migrates the schema there and applies the retention;
 * errors name the URL without its password (archive_pg.h).
 *
 * Opens (and when opts->create, creates) the archive at path, checks that it
 * is a callwatch archive and not damaged (PRAGMA quick_check), migrates it to
 * CW_ARCHIVE_SCHEMA_VERSION, switches it to WAL and applies the retention.
 * opts NULL = open an existing archive, keep everything. NULL on error with
 * err naming path (see the top of this file). */
cw_archive_t *cw_archive_open(const char *path, const cw_archive_opts_t *opts, cw_error_t *err);

/* Closes and frees; NULLs *a. Accepts NULL. Not for an archive given to a sink. */
void cw_archive_close(cw_archive_t **a);

/* The SQLite connection, for queries (qa.c) on the thread using the
 * archive; NULL for a PostgreSQL archive. Owned by the archive. */
sqlite3 *cw_archive_db(cw_archive_t *a);

/* The PostgreSQL backend, for queries (qa.c); NULL for an SQLite archive.
 * Owned by the archive. */
cw_archive_pg_t *cw_archive_pg(cw_archive_t *a);

/* The path it was opened with (a URL without its password); owned by the
 * archive. */
const char *cw_archive_path(const cw_archive_t *a);

/* One transaction around several cw_archive_store_json() calls (an import:
 * all or nothing, one fsync). A failed commit rolls back. Not for an archive
 * given to a sink. */
int cw_archive_begin(cw_archive_t *a, cw_error_t *err);
/* PostgreSQL: by default an event the database refuses (bad data) spoils the
 * transaction (cw_archive_spoils_on_refusal() true): roll back, turn careful
 * on (a savepoint per event, about 3 times slower) and store the events
 * again, so that only the refused one is left out. No effect on SQLite,
 * where a refused event never spoils the transaction. */
void cw_archive_set_careful(cw_archive_t *a, bool careful);
bool cw_archive_spoils_on_refusal(const cw_archive_t *a);
int cw_archive_commit(cw_archive_t *a, cw_error_t *err);
void cw_archive_rollback(cw_archive_t *a);

/* Stores one event (its JSON, as on the bus) at once, in its own
 * transaction: for tests and tools that fill an archive without a sink.
 * CW_ERR_INVALID if json is not an event object with type and call_id. */
int cw_archive_store_json(cw_archive_t *a, const char *topic, const char *json, cw_error_t *err);

/* Deletes everything older than retention_days before now (wall clock), at
 * once. Returns the number of rows deleted or a negative cw_status. */
long cw_archive_prune(cw_archive_t *a, int retention_days, cw_error_t *err);

/* Wraps the archive in a sink and starts its archiver thread; *a is taken
 * (NULLed) also on failure. write queues a copy of the event; sync waits for
 * the commit as described at the top. NULL with err on failure (thread). */
cw_sink_t *cw_archive_sink_new(cw_archive_t **a, cw_error_t *err);

typedef struct cw_archive_stats {
    uint64_t archived;              /* events committed (partial transcripts count, though not kept) */
    uint64_t commits;               /* transactions committed */
    uint64_t commit_failures;       /* commits that failed and were retried */
    uint64_t commit_timeouts;       /* syncs that gave up waiting */
    uint64_t published_uncommitted; /* events let through to later sinks before their commit */
    uint64_t dropped;               /* events refused: queue full or the archive shutting down */
    uint64_t rejected;              /* events that are not valid event JSON */
    uint64_t queued;                /* waiting for a commit now */
    double max_commit_ms;           /* slowest commit so far */
    double total_commit_ms;         /* sum over commits (mean = total / commits) */
} cw_archive_stats_t;

/* A snapshot of an archive sink's counters (zeros if sink is not one). Any thread. */
void cw_archive_sink_stats(const cw_sink_t *sink, cw_archive_stats_t *stats);

#endif
