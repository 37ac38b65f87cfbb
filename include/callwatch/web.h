/* web.h - `callwatch web`: the supervisors' pages over HTTP (libmicrohttpd).
 *
 * The server keeps what the bus said in a board (board.h, the console's
 * folding) and, per call, the events seen (transcripts, alerts, whispers,
 * acks), and answers:
 *   GET  /login, POST /login {"name","password"} (JSON), POST /logout
 *   GET  /, /wallboard, /alerts, /call?id=ID, /qa, /agent[?name=NAME] pages
 *   GET  /static/NAME.{css,js,svg} from the assets directory (names only:
 *        no path ever reaches the file system)
 *   GET  /api/me, /api/board, /api/call?id=ID, /api/agent?name=NAME,
 *        /api/qa?agent=&kind=&severity=&text=&call=&since=&until=&limit=&format=json|csv|jsonl,
 *        /api/shift?agent=ID[&since=&until=] (an agent's shift: calls, alerts, flat-affect trend)
 *   POST /api/ack {"call_id","alert_ids":[...],"note"}
 *   GET  /events?stream=board | call&id=ID | agent&name=NAME  (Server-Sent Events)
 * Every page and API needs a session (cookie cw_session: HttpOnly,
 * SameSite=Strict, Secure under TLS); every POST but /login needs the
 * session's CSRF token in the X-CSRF-Token header. Roles (users.h): an agent
 * reaches only their own /agent page, its API and stream; qa everything but
 * acknowledging; a supervisor everything. Failures answer 4xx with a JSON or
 * text reason and one log line; bodies over CW_WEB_MAX_BODY get 413, headers
 * over 32 KiB 431 (libmicrohttpd's memory limit).
 *
 * Threads: libmicrohttpd runs one thread per connection (an event stream
 * blocks its own); cw_web_feed/tick/set_connected are called by one other
 * thread (the bus loop). Shared state is under the server's lock.
 */
#ifndef CALLWATCH_WEB_H
#define CALLWATCH_WEB_H

#include "callwatch/archive.h"
#include "callwatch/error.h"
#include "callwatch/qa.h"
#include "callwatch/users.h"

#include <stdbool.h>
#include <stddef.h>

#define CW_WEB_MAX_BODY 65536
#define CW_WEB_MAX_CONNECTIONS 256

typedef struct cw_web cw_web_t;

/* Sends one request to the daemon's ack channel (acks.h) and waits for the
 * reply: 0 with *reply (malloc'd JSON, caller frees), or a negative
 * cw_status with err ("daemon not reachable"). Called on server threads,
 * one at a time. */
typedef int (*cw_web_ack_fn)(void *user, const char *request, char **reply, cw_error_t *err);

/* One line for the log (no newline); any thread. */
typedef void (*cw_web_log_fn)(const char *line);

typedef struct cw_web_opts {
    const char *listen;           /* HOST:PORT (port 0: a free one, see cw_web_port) */
    const char *assets_dir;       /* the pages (models/web) */
    const cw_users_t *users;      /* borrowed; NULL = nobody can log in */
    const char *archive_path;     /* SQLite archive read for ended calls and QA; NULL or "" =
                                     none. Opened (never created) at the first request that needs
                                     it, again after a failure, so the daemon may create it later */
    cw_qa_drift_params_t drift;   /* flat-affect drift thresholds of the shift view */
    double ended_linger_s;        /* ended calls stay this long */
    int session_idle_s;
    const char *tls_cert_pem;     /* both set (PEM text, copied): HTTPS */
    const char *tls_key_pem;
    cw_web_ack_fn ack;            /* NULL: acknowledging answers 503 */
    void *ack_user;
    cw_web_log_fn log;            /* NULL: quiet */
} cw_web_opts_t;

/* Starts serving. Errors: CW_ERR_INVALID (listen malformed, TLS not built
 * in), CW_ERR_BUSY (address in use), CW_ERR_IO. */
cw_web_t *cw_web_new(const cw_web_opts_t *opts, cw_error_t *err);

/* A server that does not listen, for tests and the fuzz target: requests
 * go through cw_web_answer(). Same opts (listen and TLS ignored). */
cw_web_t *cw_web_new_offline(const cw_web_opts_t *opts, cw_error_t *err);

int cw_web_port(const cw_web_t *w);

/* One bus event (topic, JSON); now_s on CLOCK_MONOTONIC. */
void cw_web_feed(cw_web_t *w, const char *topic, const char *json, double now_s);

/* The daemon answered a ping recently (true) or not. */
void cw_web_set_connected(cw_web_t *w, bool connected);

/* Publishes the wallboard to its streams when it changed (or every second)
 * and drops calls ended more than ended_linger_s ago. Call every ~100 ms. */
void cw_web_tick(cw_web_t *w, double now_s);

/* Ends the event streams, stops serving, frees; NULLs *w. Accepts NULL. */
void cw_web_destroy(cw_web_t **w);

/* One request without a socket (what the HTTP thread does, minus streams).
 * lookup(ctx, kind, name) returns a header ('h'), cookie ('c') or query
 * argument ('q') value or NULL, and with kind 'a' the client's address
 * (name unused; NULL when unknown: logins are then throttled per name). The response body is malloc'd into *body
 * (caller frees), its type into *content_type (static), a Set-Cookie value
 * (malloc'd or NULL) into *set_cookie and a redirect target (static or
 * NULL) into *location. Returns the HTTP status. */
typedef const char *(*cw_web_lookup_fn)(void *ctx, char kind, const char *name);
typedef struct cw_web_reply {
    char *body;
    size_t len;
    const char *content_type;
    char *set_cookie;
    const char *location;
} cw_web_reply_t;
int cw_web_answer(cw_web_t *w, const char *method, const char *url, cw_web_lookup_fn lookup, void *ctx,
                  const char *body, size_t body_len, cw_web_reply_t *reply);
void cw_web_reply_free(cw_web_reply_t *r);

#endif
