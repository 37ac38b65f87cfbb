/* web_server.c - the HTTP side of callwatch/web.h: libmicrohttpd, the event
 * streams (Server-Sent Events read from web.c's ring) and the server's life
 * cycle. Every other request goes to cw_web_answer (web_routes.c). */
#include "web_priv.h"

#include "callwatch/http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define IDLE_TIMEOUT_S 30u
#define KEEPALIVE_S 5
#define STREAM_BATCH_MAX (256u * 1024u)
#define HEADER_MEMORY_LIMIT (32u * 1024u)

/* ---- event streams -------------------------------------------------------- */

typedef struct stream {
    cw_web_t *w;
    int kind;
    char key[CW_BOARD_ID_MAX];
    uint64_t next;               /* next ring seq to look at */
    uint64_t board_version;      /* last snapshot sent */
    bool started;
    char *pending;               /* text not yet handed to MHD */
    size_t off, len;
} stream_t;

static bool stream_wants(const stream_t *s, const web_msg_t *m)
{
    if (m->stream == WEB_STREAM_ALL)
        return true;
    return m->stream == s->kind && strcmp(m->key, s->key) == 0;
}

/* Appends text to the batch (malloc'd, grown); false when out of memory. */
static bool batch_add(char **batch, size_t *len, const char *text)
{
    size_t n = strlen(text);
    char *grown = realloc(*batch, *len + n + 1);
    if (!grown)
        return false;
    memcpy(grown + *len, text, n + 1);
    *batch = grown;
    *len += n;
    return true;
}

/* What the reader gets next (lock held): a batch, or NULL to wait. */
static char *stream_next(stream_t *s)
{
    cw_web_t *w = s->w;
    char *batch = NULL;
    size_t len = 0;
    if (!s->started) {
        s->started = true;
        s->next = w->next_seq;
        batch_add(&batch, &len, w->connected ? "retry: 2000\nevent: daemon\ndata: {\"connected\":true}\n\n"
                                             : "retry: 2000\nevent: daemon\ndata: {\"connected\":false}\n\n");
    }
    if (s->kind == WEB_STREAM_BOARD && w->board_json && s->board_version != w->board_version) {
        s->board_version = w->board_version;
        char *t = web_sse_text("board", w->board_json);
        if (t)
            batch_add(&batch, &len, t);
        free(t);
    }
    uint64_t oldest = w->next_seq > WEB_RING ? w->next_seq - WEB_RING : 0;
    if (s->next < oldest) {
        /* Fell behind the ring: the page reloads its state. */
        s->next = w->next_seq;
        batch_add(&batch, &len, "event: reset\ndata: {}\n\n");
    }
    for (; s->next < w->next_seq && len < STREAM_BATCH_MAX; s->next++) {
        const web_msg_t *m = &w->ring[s->next % WEB_RING];
        if (stream_wants(s, m))
            batch_add(&batch, &len, m->text);
    }
    return batch;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream_t *s = cls;
    cw_web_t *w = s->w;
    if (!s->pending) {
        pthread_mutex_lock(&w->lock);
        char *batch = NULL;
        while (!w->stopping && !(batch = stream_next(s))) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_sec += KEEPALIVE_S;
            if (pthread_cond_timedwait(&w->cond, &w->lock, &until) == ETIMEDOUT) {
                batch = strdup(": keepalive\n\n");
                break;
            }
        }
        bool stop = w->stopping;
        pthread_mutex_unlock(&w->lock);
        if (stop || !batch) {
            free(batch);
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        s->pending = batch;
        s->off = 0;
        s->len = strlen(batch);
    }
    size_t n = s->len - s->off < max ? s->len - s->off : max;
    memcpy(buf, s->pending + s->off, n);
    s->off += n;
    if (s->off >= s->len) {
        free(s->pending);
        s->pending = NULL;
    }
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream_t *s = cls;
    free(s->pending);
    free(s);
}

/* Whether a session may open stream kind with key. */
static int stream_allowed(const web_session_t *s, int kind, const char *key)
{
    if (kind == WEB_STREAM_AGENT)
        return s->role >= CW_ROLE_QA || strcmp(s->name, key) == 0;
    return s->role >= CW_ROLE_QA;
}

/* ---- HTTP ------------------------------------------------------------------ */

typedef struct upload {
    char *data;
    size_t len;
    bool too_big;
} upload_t;

/* What cw_web_answer()'s lookup reads: the connection, and its peer's
 * address once asked for (only a login needs it). */
typedef struct lookup_ctx {
    struct MHD_Connection *conn;
    char client[NI_MAXHOST];
} lookup_ctx_t;

/* The peer's numeric address ("?" when unknown): a throttle key, so one
 * address guessing passwords does not lock the user out elsewhere. */
static void client_address(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci ? ci->client_addr : NULL;
    socklen_t len = !sa ? 0 : sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if (!sa || getnameinfo(sa, len, out, (socklen_t)cap, NULL, 0, NI_NUMERICHOST) != 0)
        snprintf(out, cap, "?");
}

static const char *mhd_lookup(void *ctx, char kind, const char *name)
{
    lookup_ctx_t *l = ctx;
    if (kind == 'a') {
        if (!l->client[0])
            client_address(l->conn, l->client, sizeof l->client);
        return l->client;
    }
    enum MHD_ValueKind k = kind == 'h' ? MHD_HEADER_KIND : kind == 'c' ? MHD_COOKIE_KIND : MHD_GET_ARGUMENT_KIND;
    return MHD_lookup_connection_value(l->conn, k, name);
}

static void add_security_headers(struct MHD_Response *resp, bool tls)
{
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (tls)
        MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
}

static enum MHD_Result queue_reply(cw_web_t *w, struct MHD_Connection *conn, int status, cw_web_reply_t *r)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        cw_web_reply_free(r);
        return MHD_NO;
    }
    r->body = NULL;
    add_security_headers(resp, w->tls);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type ? r->content_type : "text/plain");
    if (r->set_cookie)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, r->set_cookie);
    if (r->location)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, r->location);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD, POST");
    cw_web_reply_free(r);
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static int stream_kind(const char *name)
{
    if (!name)
        return 0;
    if (strcmp(name, "board") == 0)
        return WEB_STREAM_BOARD;
    if (strcmp(name, "call") == 0)
        return WEB_STREAM_CALL;
    return strcmp(name, "agent") == 0 ? WEB_STREAM_AGENT : 0;
}

/* GET /events: a stream, or an error reply (status returned, 0 = queued). */
static int open_stream(cw_web_t *w, struct MHD_Connection *conn, cw_web_reply_t *r, enum MHD_Result *rc)
{
    web_session_t s;
    const char *cookie = MHD_lookup_connection_value(conn, MHD_COOKIE_KIND, "cw_session");
    int kind = stream_kind(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "stream"));
    const char *key = kind == WEB_STREAM_CALL    ? MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "id")
                      : kind == WEB_STREAM_AGENT ? MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "name")
                                                 : "";
    const char *why = NULL;
    int status = 0;
    if (!cookie || !web_session_get(w, cookie, &s))
        status = MHD_HTTP_UNAUTHORIZED, why = "log in first";
    else if (!kind || !key || strlen(key) >= CW_BOARD_ID_MAX)
        status = MHD_HTTP_BAD_REQUEST, why = "stream=board, stream=call&id=ID or stream=agent&name=NAME";
    else if (!stream_allowed(&s, kind, key))
        status = MHD_HTTP_FORBIDDEN, why = "not allowed for this role";
    if (status) {
        web_log(w, "%d GET /events: %s", status, why);
        r->body = strdup(why);
        r->len = strlen(why);
        return status;
    }
    stream_t *st = calloc(1, sizeof *st);
    struct MHD_Response *resp =
        st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read, st, stream_free) : NULL;
    if (!resp) {
        free(st);
        *rc = MHD_NO;
        return 0;
    }
    st->w = w;
    st->kind = kind;
    snprintf(st->key, sizeof st->key, "%s", key);
    add_security_headers(resp, w->tls);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    *rc = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return 0;
}

/* Collects the body (at most CW_WEB_MAX_BODY); true when it is complete. */
static bool collect_body(upload_t *up, const char *data, size_t *size)
{
    if (*size == 0)
        return true;
    if (!up->too_big && up->len + *size <= CW_WEB_MAX_BODY) {
        char *grown = realloc(up->data, up->len + *size + 1);
        if (grown) {
            memcpy(grown + up->len, data, *size);
            up->len += *size;
            grown[up->len] = '\0';
            up->data = grown;
        } else {
            up->too_big = true;
        }
    } else {
        up->too_big = true;
    }
    *size = 0;
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    cw_web_t *w = cls;
    cw_web_reply_t r = {0};
    if (!*con_cls) {
        upload_t *up = calloc(1, sizeof *up);
        if (!up)
            return MHD_NO;
        *con_cls = up;
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (!cl || strtoull(cl, NULL, 10) <= CW_WEB_MAX_BODY)
            return MHD_YES;
        up->too_big = true;
    }
    upload_t *up = *con_cls;
    if (!up->too_big && !collect_body(up, upload_data, upload_data_size))
        return MHD_YES;
    int status;
    if (up->too_big) {
        status = MHD_HTTP_CONTENT_TOO_LARGE;
        r.body = strdup("request body too large\n");
        r.len = r.body ? strlen(r.body) : 0;
        web_log(w, "413 %s %.200s: body over %u bytes", method, url, CW_WEB_MAX_BODY);
    } else if (strcmp(url, "/events") == 0 && strcmp(method, "GET") == 0) {
        enum MHD_Result rc = MHD_YES;
        status = open_stream(w, conn, &r, &rc);
        if (status == 0)
            return rc;
    } else {
        lookup_ctx_t ctx = {.conn = conn};
        status = cw_web_answer(w, method, url, mhd_lookup, &ctx, up->data ? up->data : "", up->len, &r);
    }
    return queue_reply(w, conn, status, &r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    upload_t *up = *con_cls;
    if (up) {
        free(up->data);
        free(up);
    }
    *con_cls = NULL;
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    cw_web_t *w = cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    line[strcspn(line, "\n")] = '\0';
    web_log(w, "http: %s", line);
}

/* ---- life cycle -------------------------------------------------------------- */

cw_web_t *cw_web_new_offline(const cw_web_opts_t *o, cw_error_t *err)
{
    return web_alloc(o, err);
}

/* Starts libmicrohttpd on fd (taken over). */
static int web_start(cw_web_t *w, int fd, const cw_web_opts_t *o, cw_error_t *err)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_ERROR_LOG;
    w->tls = o->tls_cert_pem && o->tls_key_pem;
    if (w->tls) {
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            close(fd);
            return cw_error_set(err, CW_ERR_INVALID, "[web] tls_cert: this libmicrohttpd was built without TLS");
        }
        flags |= MHD_USE_TLS;
    }
    /* Server threads inherit this mask: SIGINT/SIGTERM stay with ours. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    if (w->tls)
        w->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, w,
                                     MHD_OPTION_LISTEN_SOCKET, fd,
                                     MHD_OPTION_CONNECTION_LIMIT, CW_WEB_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                                     IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY_LIMIT,
                                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, w, MHD_OPTION_HTTPS_MEM_KEY, o->tls_key_pem,
                                     MHD_OPTION_HTTPS_MEM_CERT, o->tls_cert_pem, MHD_OPTION_END);
    else
        w->daemon = MHD_start_daemon(flags, 0, NULL, NULL, on_request, w, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, w,
                                     MHD_OPTION_LISTEN_SOCKET, fd,
                                     MHD_OPTION_CONNECTION_LIMIT, CW_WEB_MAX_CONNECTIONS, MHD_OPTION_CONNECTION_TIMEOUT,
                                     IDLE_TIMEOUT_S, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HEADER_MEMORY_LIMIT,
                                     MHD_OPTION_NOTIFY_COMPLETED, on_completed, w, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!w->daemon) {
        close(fd);
        return cw_error_set(err, CW_ERR_INTERNAL, "cannot start the web server%s",
                            w->tls ? " (is [web] tls_key the private key of tls_cert, both PEM?)" : "");
    }
    return CW_OK;
}

cw_web_t *cw_web_new(const cw_web_opts_t *o, cw_error_t *err)
{
    cw_web_t *w = web_alloc(o, err);
    if (!w)
        return NULL;
    int fd = cw_http_listener("web", o->listen ? o->listen : "", &w->port, err);
    if (fd < 0 || web_start(w, fd, o, err) != CW_OK) {
        cw_web_destroy(&w);
        return NULL;
    }
    return w;
}

int cw_web_port(const cw_web_t *w)
{
    return w ? w->port : 0;
}

void cw_web_destroy(cw_web_t **wp)
{
    if (!wp || !*wp)
        return;
    cw_web_t *w = *wp;
    web_stop(w);
    if (w->daemon)
        MHD_stop_daemon(w->daemon);
    web_free(w);
    *wp = NULL;
}
