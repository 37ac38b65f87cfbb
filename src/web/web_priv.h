/* web_priv.h - the shared live state of `callwatch web` (web.c), private to
 * src/web. Data flows one way: web_server.c (libmicrohttpd, event streams,
 * the server's life cycle) calls the routes (web_routes.c: request -> reply,
 * cw_web_answer) and reads this state; both use web.c, which knows neither. */
#ifndef CALLWATCH_WEB_PRIV_H
#define CALLWATCH_WEB_PRIV_H

#include "callwatch/board.h"
#include "callwatch/config.h"
#include "callwatch/web.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>

#define WEB_RING 4096          /* stream messages kept for readers behind */
#define WEB_HIST_MAX 512       /* calls whose events are kept for their page */
#define WEB_HIST_EVENTS 5000   /* events kept per call (partials are not kept) */
#define WEB_SESSIONS 1024
#define WEB_TOKEN_HEX 64       /* session ids and CSRF tokens: 32 random bytes */

enum web_stream { WEB_STREAM_BOARD = 1, WEB_STREAM_CALL = 2, WEB_STREAM_AGENT = 3, WEB_STREAM_ALL = 4 };

typedef struct web_msg {
    uint64_t seq;
    int stream;           /* WEB_STREAM_CALL, _AGENT or _ALL */
    char key[CW_BOARD_ID_MAX];
    char *text;           /* "event: ...\ndata: ...\n\n" */
} web_msg_t;

typedef struct web_hist {
    char call_id[CW_BOARD_ID_MAX];
    json_t *events;       /* the call's events as on the bus, oldest first */
    double last_s;
} web_hist_t;

typedef struct web_session {
    char id[WEB_TOKEN_HEX + 1];   /* "" = free slot */
    char csrf[WEB_TOKEN_HEX + 1];
    char name[CW_USER_NAME_MAX + 1];
    cw_role_t role;
    double last_s;
} web_session_t;

struct cw_web {
    struct MHD_Daemon *daemon;    /* web_server.c's; NULL offline */
    int port;
    cw_web_opts_t o;
    char assets[CW_PATH_MAX];
    char archive_path[CW_PATH_MAX];
    bool tls;                     /* set by web_server.c before it serves */

    pthread_mutex_t lock;         /* everything below */
    cw_archive_t *archive;        /* opened on demand from archive_path */
    double archive_tried_s;
    pthread_cond_t cond;          /* new stream messages or stopping */
    bool stopping;
    cw_board_t *board;
    bool connected, dirty;
    double last_pub_s;
    json_t *degraded;             /* node -> [{call_id, leg, mode}] */
    web_hist_t hist[WEB_HIST_MAX];
    web_msg_t ring[WEB_RING];
    uint64_t next_seq;
    char *board_json;             /* latest wallboard snapshot */
    uint64_t board_version;

    pthread_mutex_t sess_lock;
    web_session_t sessions[WEB_SESSIONS];
    pthread_mutex_t slow_lock;    /* one password check or ack at a time */
    cw_throttle_t *guesses;       /* wrong passwords per name and client address */
};

/* The state with opts copied (listen and TLS dropped), nothing served yet;
 * NULL with err when out of memory. Freed by web_free. */
cw_web_t *web_alloc(const cw_web_opts_t *opts, cw_error_t *err);

/* Marks the state stopping and wakes every stream reader (any thread). */
void web_stop(cw_web_t *w);

/* Frees the state; nothing may use it any more (the server is stopped). */
void web_free(cw_web_t *w);

/* CLOCK_MONOTONIC seconds. */
double web_now_s(void);

/* A log line "web: ..." through opts.log. */
void web_log(cw_web_t *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "event: EVENT\ndata: JSON\n\n", malloc'd (caller frees), or NULL. */
char *web_sse_text(const char *event, const char *json);

/* The call's kept events (lock held), or NULL. */
web_hist_t *web_find_hist(cw_web_t *w, const char *call_id);

/* The archive (lock held), opened now if it was not; NULL when there is
 * none or it cannot be opened (logged, retried after a few seconds). */
cw_archive_t *web_archive(cw_web_t *w);

/* Sessions (under sess_lock, taken here; any thread). */

/* Whether a and b are the same WEB_TOKEN_HEX token (constant time). */
bool web_token_eq(const char *a, const char *b);

/* Looks the cw_session cookie up (refreshing it): 1 and a copy in *out. */
int web_session_get(cw_web_t *w, const char *id, web_session_t *out);

/* A new session for name (the least recently used one goes when full). */
void web_session_create(cw_web_t *w, const char *name, cw_role_t role, web_session_t *out);

/* Ends the session id, if there is one. */
void web_session_end(cw_web_t *w, const char *id);

#endif
