/* websocket.c - see callwatch/websocket.h
 *
 * The libwebsockets service thread owns the context, every connection and
 * its wsmedia session; nothing of that is touched by another thread. What
 * crosses threads is the calls' (pbxcall.h), as in audiosocket.c: their
 * audio, the end of their stream, and the desk where started calls wait for
 * the daemon. A call is reference counted (its connection and its source),
 * so either side may go first.
 */
#include "callwatch/websocket.h"
#include "callwatch/pbxcall.h"

#include <libwebsockets.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* How often timeouts are checked. */
#define TICK_MS 200
#define PEER_MAX 80
#define WHY_MAX 320
/* Replies (AudioHook "opened", "pong", "closed") waiting for a writable socket. */
#define REPLY_SLOTS 4
#define REPLY_MAX 1024
/* RFC 6455: a close frame's reason fits in 123 bytes. */
#define CLOSE_REASON_MAX 123
#define URI_MAX 256

/* ---- server ----------------------------------------------------------------------- */

/* libwebsockets' per-session data: one per connection, zeroed by it. */
typedef struct ws_conn {
    bool in_use;
    struct lws *wsi;
    int protocol;
    char peer[PEER_MAX];
    cw_wsmedia_session_t *session;
    uint8_t *msg;         /* the message being assembled, max_message_bytes */
    size_t msg_len;
    double connected_at, last_data_at;
    cw_pbxcall_t *call;   /* after the metadata: the connection's reference */
    bool peer_closed;     /* the peer sent a close frame */
    bool closing;         /* closed by us: close_status/close_why go out on the next writable */
    bool logged;          /* its end was logged */
    bool overrun_logged;  /* audio was dropped: said once */
    int close_status;
    char close_why[WHY_MAX];
    unsigned char reply[REPLY_SLOTS][LWS_PRE + REPLY_MAX];
    size_t reply_len[REPLY_SLOTS];
    int reply_head, reply_count;
    struct ws_conn *next, *prev; /* the server's list */
} ws_conn_t;

struct cw_websocket {
    lws_sorted_usec_list_t sul; /* the timeout tick */
    cw_websocket_opts_t opts;
    char listen[CW_PATH_MAX];
    char host[CW_PATH_MAX];
    char address[CW_PATH_MAX];
    char tls_cert[CW_PATH_MAX], tls_key[CW_PATH_MAX];
    int port;
    struct lws_context *ctx;
    struct lws_protocols protocols[3];
    pthread_t thread;
    bool thread_started;
    _Atomic bool stop;
    ws_conn_t *conns;

    cw_pbx_ingest_t ing;      /* log, counters, the desk where started calls wait */
};

/* "<peer> /<protocol>" plus " call <id>" once known. */
static void conn_label(const ws_conn_t *c, char *out, size_t size)
{
    if (c->call)
        snprintf(out, size, "%s /%s (call %s)", c->peer, cw_wsmedia_protocol_name((cw_wsmedia_protocol)c->protocol),
                 cw_pbxcall_id(c->call));
    else
        snprintf(out, size, "%s /%s", c->peer, cw_wsmedia_protocol_name((cw_wsmedia_protocol)c->protocol));
}

/* Logs and counts the end of a connection once; ends its call. */
static void finish_conn(cw_websocket_t *ws, ws_conn_t *c, cw_pbx_end_t kind, const char *why)
{
    if (c->logged)
        return;
    c->logged = true;
    char label[PEER_MAX + CW_NAME_MAX + 32];
    conn_label(c, label, sizeof label);
    cw_pbx_ingest_ended(&ws->ing, label, kind, why, c->connected_at, c->call, -1);
}

/* Closes c from outside its receive callback: logged now, closed when writable. */
static void close_later(cw_websocket_t *ws, ws_conn_t *c, cw_pbx_end_t kind, int status, const char *why)
{
    finish_conn(ws, c, kind, why);
    c->closing = true;
    c->close_status = status;
    /* Only CLOSE_REASON_MAX bytes of it go out in the close frame anyway. */
    size_t len = strnlen(why, sizeof c->close_why - 1);
    memcpy(c->close_why, why, len);
    c->close_why[len] = '\0';
    lws_callback_on_writable(c->wsi);
}

/* Closes c from inside its own callback: the caller returns -1. */
static int close_now(cw_websocket_t *ws, ws_conn_t *c, cw_pbx_end_t kind, int status, const char *why)
{
    finish_conn(ws, c, kind, why);
    size_t len = strlen(why);
    lws_close_reason(c->wsi, (enum lws_close_status)status, (unsigned char *)(uintptr_t)why,
                     len > CLOSE_REASON_MAX ? CLOSE_REASON_MAX : len);
    return -1;
}

/* The metadata arrived: the stream becomes a call. Returns 0, or -1 after
 * closing the connection (the node is at capacity, or out of memory). */
static int announce(cw_websocket_t *ws, ws_conn_t *c)
{
    const cw_wsmedia_meta_t *meta = cw_wsmedia_session_meta(c->session);
    cw_pbxcall_opts_t po = {.call_id = meta->call_id, .agent_id = meta->agent_id, .team = meta->team,
                            .ingest = "websocket", .protocol = c->protocol, .rate_hz = meta->rate_hz,
                            .ring_s = ws->opts.ring_s};
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        po.legs[leg] = meta->has_leg[leg];
    cw_error_t err;
    cw_error_clear(&err);
    char label[PEER_MAX + CW_NAME_MAX + 32];
    conn_label(c, label, sizeof label);
    c->call = cw_pbx_ingest_call_new(&ws->ing, &po, label, &err);
    if (!c->call && err.code == CW_ERR_BUSY) {
        /* Not the peer's fault: no protocol error; 1013 = try again later (elsewhere). */
        c->logged = true;
        size_t len = strlen(err.msg);
        lws_close_reason(c->wsi, (enum lws_close_status)CW_WEBSOCKET_CLOSE_TRY_AGAIN_LATER,
                         (unsigned char *)err.msg, len > CLOSE_REASON_MAX ? CLOSE_REASON_MAX : len);
        return -1;
    }
    if (!c->call)
        return close_now(ws, c, CW_PBX_DISCONNECT, LWS_CLOSE_STATUS_UNEXPECTED_CONDITION,
                         "out of memory for a new call");
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        if (meta->has_leg[leg])
            cw_pbxcall_attach(c->call, (cw_leg_id)leg, 0, c->peer);
    char what[CW_PATH_MAX];
    snprintf(what, sizeof what, "WebSocket /%s from %s (%d Hz)",
             cw_wsmedia_protocol_name((cw_wsmedia_protocol)c->protocol), c->peer, meta->rate_hz);
    cw_pbxcall_start(c->call, what);
    atomic_fetch_add(&ws->ing.calls, 1);
    conn_label(c, label, sizeof label);
    cw_pbx_ingest_log(&ws->ing, "%s: stream started (agent %s, team %s, %d Hz, legs:%s%s)", label,
               meta->agent_id[0] ? meta->agent_id : "-", meta->team[0] ? meta->team : "-", meta->rate_hz,
               meta->has_leg[CW_LEG_AGENT] ? " agent" : "", meta->has_leg[CW_LEG_CUSTOMER] ? " customer" : "");
    return 0;
}

static void push_audio(cw_websocket_t *ws, ws_conn_t *c, const cw_wsmedia_result_t *r)
{
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        /* What does not fit is counted and reported in call_end. */
        if (r->n[leg] && cw_pbxcall_write(c->call, (cw_leg_id)leg, r->samples[leg], r->n[leg]) &&
            !c->overrun_logged) {
            c->overrun_logged = true;
            char label[PEER_MAX + CW_NAME_MAX + 32];
            conn_label(c, label, sizeof label);
            cw_pbx_ingest_log(&ws->ing, "%s: audio arrives faster than the call takes it; dropping what does not fit, counted "
                       "in call_end frames_dropped", label);
        }
    }
}

static int queue_reply(cw_websocket_t *ws, ws_conn_t *c, const char *text)
{
    size_t len = strlen(text);
    if (c->reply_count == REPLY_SLOTS || len > REPLY_MAX)
        return close_now(ws, c, CW_PBX_PROTOCOL, LWS_CLOSE_STATUS_POLICY_VIOLATION,
                         "the peer sends requests faster than it reads the replies");
    int slot = (c->reply_head + c->reply_count) % REPLY_SLOTS;
    memcpy(c->reply[slot] + LWS_PRE, text, len);
    c->reply_len[slot] = len;
    c->reply_count++;
    lws_callback_on_writable(c->wsi);
    return 0;
}

/* Acts on one complete message; -1 when the connection must close. */
static int handle_message(cw_websocket_t *ws, ws_conn_t *c, bool binary)
{
    cw_wsmedia_result_t r;
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_wsmedia_session_feed(c->session, binary, c->msg, c->msg_len, &r, &err) != CW_OK) {
        int status = binary ? LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE : LWS_CLOSE_STATUS_INVALID_PAYLOAD;
        const char *farewell = cw_wsmedia_session_farewell(c->session);
        if (!farewell || c->reply_count == REPLY_SLOTS || strlen(farewell) > REPLY_MAX)
            return close_now(ws, c, CW_PBX_PROTOCOL, status, err.msg);
        /* The protocol's goodbye goes out first; the close follows it. */
        queue_reply(ws, c, farewell);
        close_later(ws, c, CW_PBX_PROTOCOL, status, err.msg);
        return 0;
    }
    if ((r.events & CW_WSMEDIA_STARTED) && !c->call && announce(ws, c) != 0)
        return -1;
    if (r.events & CW_WSMEDIA_AUDIO)
        push_audio(ws, c, &r);
    if ((r.events & CW_WSMEDIA_REPLY) && queue_reply(ws, c, r.reply) != 0)
        return -1;
    if (r.events & CW_WSMEDIA_ENDED)
        finish_conn(ws, c, CW_PBX_HANGUP, "stream ended");
    return 0;
}

/* A fragment of a message arrived; -1 when the connection must close. */
static int receive(cw_websocket_t *ws, ws_conn_t *c, const void *in, size_t len)
{
    c->last_data_at = cw_pbx_now_s();
    if (c->logged)
        return 0; /* ended or closing: what still comes is not the call's */
    size_t max = (size_t)ws->opts.max_message_bytes;
    if (len > max - c->msg_len) {
        char why[WHY_MAX];
        snprintf(why, sizeof why, "a message of more than %zu bytes ([websocket] max_message_bytes)", max);
        return close_now(ws, c, CW_PBX_PROTOCOL, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, why);
    }
    memcpy(c->msg + c->msg_len, in, len);
    c->msg_len += len;
    if (!lws_is_final_fragment(c->wsi) || lws_remaining_packet_payload(c->wsi) > 0)
        return 0;
    int rc = handle_message(ws, c, lws_frame_is_binary(c->wsi) != 0);
    c->msg_len = 0;
    return rc;
}

static void peer_name(struct lws *wsi, char *out, size_t size);

static int established(cw_websocket_t *ws, ws_conn_t *c, struct lws *wsi)
{
    char uri[URI_MAX] = "";
    lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
    memset(c, 0, sizeof *c);
    c->wsi = wsi;
    c->protocol = cw_wsmedia_protocol_for_path(uri);
    peer_name(wsi, c->peer, sizeof c->peer);
    c->connected_at = c->last_data_at = cw_pbx_now_s();
    if (c->protocol < 0)
        return -1; /* refused by filter() already */
    c->session = cw_wsmedia_session_new((cw_wsmedia_protocol)c->protocol, (size_t)ws->opts.max_message_bytes);
    c->msg = malloc((size_t)ws->opts.max_message_bytes);
    if (!c->session || !c->msg) {
        cw_pbx_ingest_log(&ws->ing, "%s: refused: out of memory", c->peer);
        cw_wsmedia_session_destroy(&c->session);
        free(c->msg);
        return -1;
    }
    c->in_use = true;
    c->next = ws->conns;
    if (ws->conns)
        ws->conns->prev = c;
    ws->conns = c;
    atomic_fetch_add(&ws->ing.connections, 1);
    atomic_fetch_add(&ws->ing.open, 1);
    return 0;
}

static void closed(cw_websocket_t *ws, ws_conn_t *c)
{
    if (!c->in_use)
        return;
    if (c->session && cw_wsmedia_session_ended(c->session))
        finish_conn(ws, c, CW_PBX_HANGUP, "stream ended");
    else if (c->protocol == CW_WSMEDIA_FREESWITCH && c->peer_closed && c->call)
        finish_conn(ws, c, CW_PBX_HANGUP, "stream ended");
    else if (atomic_load(&ws->stop))
        finish_conn(ws, c, CW_PBX_DISCONNECT, "server shutting down");
    else
        finish_conn(ws, c, CW_PBX_DISCONNECT, c->call ? "the connection closed without the stream's end message"
                                                     : "the connection closed before the stream's metadata");
    cw_pbxcall_release(&c->call);
    cw_wsmedia_session_destroy(&c->session);
    free(c->msg);
    c->msg = NULL;
    if (c->prev)
        c->prev->next = c->next;
    else
        ws->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->in_use = false;
    atomic_fetch_sub(&ws->ing.open, 1);
}

static int writable(ws_conn_t *c)
{
    if (c->reply_count > 0) {
        int slot = c->reply_head;
        if (lws_write(c->wsi, c->reply[slot] + LWS_PRE, c->reply_len[slot], LWS_WRITE_TEXT) <
            (int)c->reply_len[slot])
            return -1;
        c->reply_head = (c->reply_head + 1) % REPLY_SLOTS;
        c->reply_count--;
        if (c->reply_count > 0 || c->closing)
            lws_callback_on_writable(c->wsi);
        return 0;
    }
    if (!c->closing)
        return 0;
    size_t len = strlen(c->close_why);
    lws_close_reason(c->wsi, (enum lws_close_status)c->close_status, (unsigned char *)c->close_why,
                     len > CLOSE_REASON_MAX ? CLOSE_REASON_MAX : len);
    return -1;
}

/* "1.2.3.4:5060" / "[::1]:5060" of the connection's peer (the form the
 * AudioSocket server logs), "?" when unknown. */
static void peer_name(struct lws *wsi, char *out, size_t size)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    int fd = (int)lws_get_socket_fd(wsi);
    if (fd < 0 || getpeername(fd, (struct sockaddr *)&ss, &len) != 0 ||
        getnameinfo((struct sockaddr *)&ss, len, host, sizeof host, serv, sizeof serv,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, size, "?");
        return;
    }
    /* An IPv4 client of a dual-stack socket: show it as IPv4. */
    const char *h = strncmp(host, "::ffff:", 7) == 0 && strchr(host + 7, '.') ? host + 7 : host;
    snprintf(out, size, strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, serv);
}

/* Refuses a handshake on an unknown path or over the connection limit. */
static int filter(cw_websocket_t *ws, struct lws *wsi)
{
    char uri[URI_MAX] = "", peer[PEER_MAX] = "?";
    lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
    peer_name(wsi, peer, sizeof peer);
    if (cw_wsmedia_protocol_for_path(uri) < 0) {
        atomic_fetch_add(&ws->ing.refused, 1);
        cw_pbx_ingest_log(&ws->ing, "%s: refused: unknown path '%s' (served: /freeswitch, /twilio, /audiohook)", peer, uri);
        return -1;
    }
    if (atomic_load(&ws->ing.open) >= ws->opts.max_connections) {
        atomic_fetch_add(&ws->ing.refused, 1);
        cw_pbx_ingest_log(&ws->ing, "%s: refused: %d streams are open ([websocket] max_connections)", peer,
                   ws->opts.max_connections);
        return -1;
    }
    return 0;
}

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
    cw_websocket_t *ws = lws_context_user(lws_get_context(wsi));
    ws_conn_t *c = user;
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: return filter(ws, wsi);
    case LWS_CALLBACK_ESTABLISHED: return established(ws, c, wsi);
    case LWS_CALLBACK_RECEIVE: return c && c->in_use ? receive(ws, c, in, len) : -1;
    case LWS_CALLBACK_SERVER_WRITEABLE: return c && c->in_use ? writable(c) : 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        if (c && c->in_use)
            c->peer_closed = true;
        return 0;
    case LWS_CALLBACK_CLOSED:
        if (c)
            closed(ws, c);
        return 0;
    default: return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}

/* Every TICK_MS: the first-message and idle timeouts. */
static void tick(lws_sorted_usec_list_t *sul)
{
    cw_websocket_t *ws = (cw_websocket_t *)(void *)((char *)sul - offsetof(cw_websocket_t, sul));
    double now = cw_pbx_now_s();
    char why[WHY_MAX];
    for (ws_conn_t *c = ws->conns; c; c = c->next) {
        if (c->closing)
            continue;
        if (c->logged) {
            /* Ended, but the peer keeps the socket open: let it go quietly. */
            if (now - c->last_data_at > ws->opts.idle_timeout_ms / 1000.0) {
                c->closing = true;
                c->close_status = LWS_CLOSE_STATUS_NORMAL;
                snprintf(c->close_why, sizeof c->close_why, "stream ended");
                lws_callback_on_writable(c->wsi);
            }
            continue;
        }
        if (!c->call && now - c->connected_at > ws->opts.first_message_timeout_ms / 1000.0) {
            snprintf(why, sizeof why, "no metadata within %d ms of connecting ([websocket] first_message_timeout_ms)",
                     ws->opts.first_message_timeout_ms);
            close_later(ws, c, CW_PBX_PROTOCOL, LWS_CLOSE_STATUS_POLICY_VIOLATION, why);
        } else if (now - c->last_data_at > ws->opts.idle_timeout_ms / 1000.0) {
            snprintf(why, sizeof why, "nothing received for %d ms ([websocket] idle_timeout_ms)",
                     ws->opts.idle_timeout_ms);
            close_later(ws, c, CW_PBX_DISCONNECT, LWS_CLOSE_STATUS_GOINGAWAY, why);
        }
    }
    lws_sul_schedule(ws->ctx, 0, &ws->sul, tick, TICK_MS * LWS_US_PER_MS);
}

static void *server_main(void *arg)
{
    cw_websocket_t *ws = arg;
    while (!atomic_load(&ws->stop))
        if (lws_service(ws->ctx, 0) < 0)
            break;
    return NULL;
}

/* ---- set-up ----------------------------------------------------------------------- */

static void lws_log_line(int level, const char *line)
{
    (void)level;
    fprintf(stderr, "callwatch: websocket: libwebsockets: %s", line);
}

/* Splits "host:port" / "[v6]:port" / "*:port" into ws->host ("" = any) and *port. */
static int parse_listen(cw_websocket_t *ws, int *port, cw_error_t *err)
{
    const char *text = ws->listen;
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || !colon[1])
        return cw_error_set(err, CW_ERR_INVALID, "websocket listen '%s': expected host:port", text);
    size_t hl = (size_t)(colon - text);
    const char *h = text;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= sizeof ws->host)
        return cw_error_set(err, CW_ERR_INVALID, "websocket listen '%s': too long", text);
    memcpy(ws->host, h, hl);
    ws->host[hl] = '\0';
    if (strcmp(ws->host, "*") == 0)
        ws->host[0] = '\0';
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (!end || *end || p < 0 || p > 65535)
        return cw_error_set(err, CW_ERR_INVALID, "websocket listen '%s': port '%s' is not a number 0..65535", text,
                            colon + 1);
    *port = (int)p;
    return CW_OK;
}

/* Binds the address once ourselves, so a failure has its reason (libwebsockets
 * only says it failed). */
static int probe_bind(const cw_websocket_t *ws, int port, cw_error_t *err)
{
    char serv[16];
    snprintf(serv, sizeof serv, "%d", port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV | AI_NUMERICHOST};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(ws->host[0] ? ws->host : NULL, serv, &hints, &res);
    if (gai != 0)
        return cw_error_set(err, CW_ERR_NOT_FOUND, "websocket listen '%s': '%s' is not a numeric address: %s",
                            ws->listen, ws->host, gai_strerror(gai));
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol), one = 1, e = 0;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0)
        e = errno;
    if (fd >= 0)
        close(fd);
    freeaddrinfo(res);
    if (e)
        return cw_error_set(err, e == EADDRINUSE ? CW_ERR_BUSY : CW_ERR_IO, "websocket listen '%s': cannot listen: %s",
                            ws->listen, strerror(e));
    return CW_OK;
}

static int start_context(cw_websocket_t *ws, cw_error_t *err)
{
    int port = 0;
    int rc = parse_listen(ws, &port, err);
    if (rc != CW_OK || (rc = probe_bind(ws, port, err)) != CW_OK)
        return rc;
    lws_set_log_level(LLL_ERR, lws_log_line);
    /* Every protocol name reaches the same callback: mod_audio_fork asks for
     * "audio.drachtio.org"; the others ask for none and get the first. */
    const char *names[] = {"callwatch-media", "audio.drachtio.org"};
    for (int i = 0; i < 2; i++)
        ws->protocols[i] = (struct lws_protocols){.name = names[i], .callback = callback,
                                                  .per_session_data_size = sizeof(ws_conn_t), .rx_buffer_size = 0};
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.port = port;
    info.iface = ws->host[0] ? ws->host : NULL;
    info.protocols = ws->protocols;
    info.user = ws;
    info.gid = -1;
    info.uid = -1;
    info.options = LWS_SERVER_OPTION_DISABLE_OS_CA_CERTS;
    if (ws->tls_cert[0]) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = ws->tls_cert;
        info.ssl_private_key_filepath = ws->tls_key;
    }
    ws->ctx = lws_create_context(&info);
    if (!ws->ctx && ws->tls_cert[0])
        return cw_error_set(err, CW_ERR_INVALID, "websocket: [websocket] tls_cert '%s' / tls_key '%s': the TLS "
                            "library refused them (not PEM, or the key does not match the certificate)",
                            ws->tls_cert, ws->tls_key);
    if (!ws->ctx)
        return cw_error_set(err, CW_ERR_IO, "websocket listen '%s': libwebsockets could not listen there", ws->listen);
    struct lws_vhost *vh = lws_get_vhost_by_name(ws->ctx, "default");
    ws->port = vh ? lws_get_vhost_listen_port(vh) : port;
    snprintf(ws->address, sizeof ws->address, ws->host[0] && strchr(ws->host, ':') ? "[%s]:%d" : "%s:%d",
             ws->host[0] ? ws->host : "*", ws->port);
    lws_sul_schedule(ws->ctx, 0, &ws->sul, tick, TICK_MS * LWS_US_PER_MS);
    return CW_OK;
}

void cw_websocket_opts_from_config(const cw_config_t *cfg, cw_websocket_opts_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->listen = cfg->websocket_listen;
    opts->max_connections = cfg->websocket_max_connections;
    opts->first_message_timeout_ms = cfg->websocket_first_message_timeout_ms;
    opts->idle_timeout_ms = cfg->websocket_idle_timeout_ms;
    opts->max_message_bytes = cfg->websocket_max_message_bytes;
    opts->ring_s = cfg->capture_ring_s;
    opts->tls_cert = cfg->websocket_tls_cert;
    opts->tls_key = cfg->websocket_tls_key;
}

/* Both TLS files or neither, each readable. */
static int check_tls(const cw_websocket_opts_t *o, cw_error_t *err)
{
    bool cert = o->tls_cert && o->tls_cert[0], key = o->tls_key && o->tls_key[0];
    if (cert != key)
        return cw_error_set(err, CW_ERR_INVALID, "websocket: [websocket] tls_cert and tls_key go together (%s is "
                            "empty)", cert ? "tls_key" : "tls_cert");
    const char *files[2][2] = {{"tls_cert", o->tls_cert}, {"tls_key", o->tls_key}};
    for (int i = 0; cert && i < 2; i++) {
        FILE *f = fopen(files[i][1], "r");
        if (!f)
            return cw_error_set(err, CW_ERR_NOT_FOUND, "websocket: [websocket] %s '%s': %s", files[i][0], files[i][1],
                                strerror(errno));
        fclose(f);
    }
    return CW_OK;
}

static int check_opts(const cw_websocket_opts_t *o, cw_error_t *err)
{
    if (!o->listen || !o->listen[0])
        return cw_error_set(err, CW_ERR_INVALID, "websocket: no listen address");
    if (o->max_connections < 1 || o->max_connections > 10000)
        return cw_error_set(err, CW_ERR_INVALID, "websocket: max_connections %d out of range 1..10000",
                            o->max_connections);
    if (o->max_message_bytes < 1024 || o->max_message_bytes > (16 << 20))
        return cw_error_set(err, CW_ERR_INVALID, "websocket: max_message_bytes %d out of range 1024..16777216",
                            o->max_message_bytes);
    if (o->first_message_timeout_ms < 1 || o->idle_timeout_ms < 1)
        return cw_error_set(err, CW_ERR_INVALID, "websocket: timeouts must be positive");
    if (!(o->ring_s > 0 && o->ring_s <= 600))
        return cw_error_set(err, CW_ERR_INVALID, "websocket: ring_s %g out of range (0, 600]", o->ring_s);
    return check_tls(o, err);
}

cw_websocket_t *cw_websocket_new(const cw_websocket_opts_t *opts, cw_error_t *err)
{
    if (!opts || check_opts(opts, err) != CW_OK)
        return NULL;
    cw_websocket_t *ws = calloc(1, sizeof *ws);
    if (!ws) {
        cw_error_set(err, CW_ERR_NOMEM, "websocket: out of memory");
        return NULL;
    }
    ws->opts = *opts;
    snprintf(ws->listen, sizeof ws->listen, "%s", opts->listen);
    ws->opts.listen = ws->listen;
    snprintf(ws->tls_cert, sizeof ws->tls_cert, "%s", opts->tls_cert ? opts->tls_cert : "");
    snprintf(ws->tls_key, sizeof ws->tls_key, "%s", opts->tls_key ? opts->tls_key : "");
    ws->opts.tls_cert = ws->tls_cert;
    ws->opts.tls_key = ws->tls_key;
    if (cw_pbx_ingest_init(&ws->ing, "websocket", opts->log, opts->log_user, opts->desk, err) != CW_OK)
        goto error_out;
    if (start_context(ws, err) != CW_OK)
        goto error_out;
    if (pthread_create(&ws->thread, NULL, server_main, ws) != 0) {
        cw_error_set(err, CW_ERR_INTERNAL, "websocket: cannot start the server thread");
        goto error_out;
    }
    ws->thread_started = true;
    return ws;

error_out:
    cw_websocket_destroy(&ws);
    return NULL;
}

void cw_websocket_destroy(cw_websocket_t **ws_p)
{
    if (!ws_p || !*ws_p)
        return;
    cw_websocket_t *ws = *ws_p;
    atomic_store(&ws->stop, true);
    if (ws->thread_started) {
        lws_cancel_service(ws->ctx);
        pthread_join(ws->thread, NULL);
    }
    /* Closes every connection: closed() ends their calls. */
    if (ws->ctx)
        lws_context_destroy(ws->ctx);
    cw_pbx_ingest_fini(&ws->ing);
    free(ws);
    *ws_p = NULL;
}

const char *cw_websocket_address(const cw_websocket_t *ws)
{
    return ws->address;
}

int cw_websocket_port(const cw_websocket_t *ws)
{
    return ws->port;
}

int cw_websocket_accept_call(cw_websocket_t *ws, cw_source_t **source, cw_websocket_call_t *info)
{
    cw_pbxcall_info_t pi;
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_pbxcalls_take(ws->ing.desk, source, &pi, &err) != 1)
        return 0;
    memset(info, 0, sizeof *info);
    snprintf(info->meta.call_id, sizeof info->meta.call_id, "%s", pi.call_id);
    snprintf(info->meta.agent_id, sizeof info->meta.agent_id, "%s", pi.agent_id);
    snprintf(info->meta.team, sizeof info->meta.team, "%s", pi.team);
    info->meta.rate_hz = pi.rate_hz;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        info->meta.has_leg[leg] = pi.has_leg[leg];
    info->protocol = pi.protocol;
    return 1;
}

void cw_websocket_get_stats(const cw_websocket_t *ws, cw_websocket_stats_t *stats)
{
    cw_pbx_ingest_get_stats(&ws->ing, stats);
}
