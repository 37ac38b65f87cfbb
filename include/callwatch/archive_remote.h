/* archive_remote.h - a node's archive kept by a central `callwatch archiver`.
 *
 * archive.h picks it when the archive is named by a ZeroMQ endpoint
 * ("tcp://archiver.example:5560", "ipc:///run/cw-archiver.sock" in
 * [archive] url): instead of writing a database the node hands each batch
 * of events to the archiver, which commits it to its own archive (normally
 * PostgreSQL, whose inserts are idempotent) and only then answers. The
 * archive sink (archive.h) waits for that answer before it publishes the
 * batch, so the promise is the one of a local archive: an event that reached
 * the bus is in the central archive. When the archiver is killed or
 * unreachable the commit fails after timeout_ms, the sink keeps the events
 * queued and retries the whole batch (a batch the archiver committed but
 * could not answer comes again; idempotent inserts drop the copy).
 *
 * Wire protocol (REQ -> REP, plain ZeroMQ; keep the endpoint on a trusted
 * network): request frames CW_ARCHIVE_REMOTE_PROTO, then topic and event
 * JSON per event; reply one frame, "ok" or "error: why". A large batch goes
 * in several requests (at most 1000 events or about 8 MiB each), each
 * committed and answered before the next; a failure part way fails the
 * batch, whose retry repeats the committed part (dropped as copies).
 *
 * Threads: a handle is used by one thread at a time; its socket is made on
 * the first commit, on the thread that commits (the sink's archiver thread).
 * Retention and QA are the archiver's side: a remote archive cannot be
 * queried (open it in the archiver's database instead).
 */
#ifndef CALLWATCH_ARCHIVE_REMOTE_H
#define CALLWATCH_ARCHIVE_REMOTE_H

#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>

#define CW_ARCHIVE_REMOTE_PROTO "callwatch-archive-1"

typedef struct cw_archive_remote cw_archive_remote_t;

/* True when text names an archiver (tcp:// or ipc://). */
bool cw_archive_remote_is_endpoint(const char *text);

/* A handle for the archiver at endpoint; nothing is connected yet. An answer
 * is awaited timeout_ms (>= 1) per commit. */
cw_archive_remote_t *cw_archive_remote_open(const char *endpoint, int timeout_ms, cw_error_t *err);

/* Closes the socket (without lingering), frees, NULLs *r. Accepts NULL. */
void cw_archive_remote_close(cw_archive_remote_t **r);

/* A batch: begin empties it, store copies an event into it, commit sends it
 * and waits for the archiver's answer (CW_ERR_IO naming the endpoint on an
 * error answer, no answer in time or a socket error; the socket is then
 * replaced, so the next commit starts clean), rollback drops it. */
void cw_archive_remote_begin(cw_archive_remote_t *r);
int cw_archive_remote_store(cw_archive_remote_t *r, const char *topic, const char *json, cw_error_t *err);
int cw_archive_remote_commit(cw_archive_remote_t *r, cw_error_t *err);
void cw_archive_remote_rollback(cw_archive_remote_t *r);

#endif
