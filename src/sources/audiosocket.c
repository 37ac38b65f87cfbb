/* audiosocket.c - see callwatch/audiosocket.h
 *
 * One server thread owns the listening socket, every connection and the
 * table of calls being assembled; nothing of that is touched by another
 * thread. What crosses threads is the calls' (pbxcall.h): their audio, their
 * legs' ends, and the desk where started calls wait for the daemon. The
 * table's entry holds the server's reference to a call until the call was
 * started and all its connections are gone; the handed-out source holds
 * another, so either side may go first.
 */
#include "callwatch/audiosocket.h"
#include "callwatch/pbxcall.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Bytes read from a socket per recv: 0.5 s of audio at 8 kHz plus headers. */
#define RX_BYTES 16384
/* A busy connection yields to the others after this much in one poll round. */
#define RX_ROUND_BYTES (RX_BYTES * 8)
/* Longest poll wait: bounds how late a timeout is noticed. */
#define POLL_MAX_MS 200
#define PEER_MAX 80
#define WHY_MAX 256

/* ---- frame decoder ------------------------------------------------------- */

struct cw_audiosocket_parser {
    size_t max_payload;
    uint8_t header[CW_AUDIOSOCKET_HEADER_BYTES];
    size_t header_got;
    size_t payload_len;
    size_t payload_got;
    bool failed;
    char failure[WHY_MAX];
    uint8_t *payload;
};

cw_audiosocket_parser_t *cw_audiosocket_parser_new(size_t max_payload_bytes)
{
    if (max_payload_bytes < 1 || max_payload_bytes > 65535)
        return NULL;
    cw_audiosocket_parser_t *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->max_payload = max_payload_bytes;
    p->payload = malloc(max_payload_bytes);
    if (!p->payload) {
        free(p);
        return NULL;
    }
    return p;
}

void cw_audiosocket_parser_destroy(cw_audiosocket_parser_t **parser)
{
    if (!parser || !*parser)
        return;
    free((*parser)->payload);
    free(*parser);
    *parser = NULL;
}

size_t cw_audiosocket_parser_pending(const cw_audiosocket_parser_t *parser)
{
    return parser->header_got + parser->payload_got;
}

/* Why a header is unacceptable, or NULL. */
static const char *header_error(const cw_audiosocket_parser_t *p, int kind, size_t len, char *why, size_t size)
{
    bool known = kind == CW_AUDIOSOCKET_HANGUP || kind == CW_AUDIOSOCKET_UUID || kind == CW_AUDIOSOCKET_DTMF ||
                 kind == CW_AUDIOSOCKET_AUDIO || kind == CW_AUDIOSOCKET_ERROR;
    if (!known) {
        /* Newer Asterisks define 0x11.. for slin at other rates; only the
         * dialplan application's 8 kHz audio is taken. */
        if (kind > CW_AUDIOSOCKET_AUDIO && kind <= 0x18)
            snprintf(why, size, "audio message kind 0x%02x (not 8 kHz) is not supported; only 0x10 (slin 8 kHz)",
                     kind);
        else
            snprintf(why, size, "unknown message kind 0x%02x (payload length %zu)", kind, len);
        return why;
    }
    if (len > p->max_payload) {
        snprintf(why, size, "message kind 0x%02x declares %zu payload bytes, over the maximum of %zu", kind, len,
                 p->max_payload);
        return why;
    }
    switch (kind) {
    case CW_AUDIOSOCKET_HANGUP:
        if (len != 0) {
            snprintf(why, size, "hangup message (0x00) with a %zu-byte payload; expected none", len);
            return why;
        }
        break;
    case CW_AUDIOSOCKET_UUID:
        if (len != CW_AUDIOSOCKET_UUID_BYTES) {
            snprintf(why, size, "UUID message (0x01) with a %zu-byte payload; expected %d", len,
                     CW_AUDIOSOCKET_UUID_BYTES);
            return why;
        }
        break;
    case CW_AUDIOSOCKET_DTMF:
        if (len != 1) {
            snprintf(why, size, "DTMF message (0x03) with a %zu-byte payload; expected 1", len);
            return why;
        }
        break;
    case CW_AUDIOSOCKET_AUDIO:
        if (len % 2 != 0) {
            snprintf(why, size, "audio message (0x10) with an odd payload of %zu bytes; samples are 16-bit", len);
            return why;
        }
        break;
    default: break;
    }
    return NULL;
}

int cw_audiosocket_parser_feed(cw_audiosocket_parser_t *p, const uint8_t *data, size_t n, size_t *used,
                               cw_audiosocket_frame_t *frame, cw_error_t *err)
{
    *used = 0;
    if (p->failed)
        return cw_error_set(err, CW_ERR_FORMAT, "%s", p->failure);
    size_t i = 0;
    if (p->header_got < CW_AUDIOSOCKET_HEADER_BYTES) {
        while (p->header_got < CW_AUDIOSOCKET_HEADER_BYTES && i < n)
            p->header[p->header_got++] = data[i++];
        if (p->header_got < CW_AUDIOSOCKET_HEADER_BYTES) {
            *used = i;
            return 0;
        }
        p->payload_len = (size_t)p->header[1] << 8 | p->header[2];
        p->payload_got = 0;
        if (header_error(p, p->header[0], p->payload_len, p->failure, sizeof p->failure)) {
            p->failed = true;
            *used = i;
            return cw_error_set(err, CW_ERR_FORMAT, "%s", p->failure);
        }
    }
    size_t take = p->payload_len - p->payload_got;
    if (take > n - i)
        take = n - i;
    memcpy(p->payload + p->payload_got, data + i, take);
    p->payload_got += take;
    i += take;
    *used = i;
    if (p->payload_got < p->payload_len)
        return 0;
    frame->kind = p->header[0];
    frame->length = p->payload_len;
    frame->payload = p->payload;
    p->header_got = 0;
    p->payload_got = 0;
    return 1;
}

void cw_audiosocket_uuid_text(const uint8_t uuid[CW_AUDIOSOCKET_UUID_BYTES], char out[CW_AUDIOSOCKET_UUID_TEXT])
{
    static const char hex[] = "0123456789abcdef";
    size_t o = 0;
    for (int i = 0; i < CW_AUDIOSOCKET_UUID_BYTES; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[uuid[i] >> 4];
        out[o++] = hex[uuid[i] & 15];
    }
    out[o] = '\0';
}

/* ---- calls being assembled ------------------------------------------------- */

/* The server's entry for a call: its legs join by UUID. The audio, the legs'
 * ends and the hand-over to the daemon are the shared cw_pbxcall_t's. */
typedef struct as_call {
    uint8_t key[CW_AUDIOSOCKET_UUID_BYTES]; /* agent form of the UUID */
    cw_pbxcall_t *pbx;                      /* the server's reference */
    int n_conns;
    bool announced;
    double first_at;
    struct as_call *next;
} as_call_t;

static void call_free(as_call_t *call)
{
    cw_pbxcall_release(&call->pbx);
    free(call);
}

/* ---- server ------------------------------------------------------------------ */

typedef struct as_conn {
    int fd; /* -1 = free slot */
    char peer[PEER_MAX];
    cw_audiosocket_parser_t *parser;
    double connected_at;
    double last_data_at;
    as_call_t *call; /* after the UUID */
    int leg;
} as_conn_t;

struct cw_audiosocket {
    cw_audiosocket_opts_t opts;
    char listen[CW_PATH_MAX];
    char address[CW_PATH_MAX];
    int port;
    int listen_fd;
    int wake[2];
    pthread_t thread;
    bool thread_started;
    _Atomic bool stop;

    as_conn_t *conns;         /* opts.max_connections slots */
    struct pollfd *pfds;      /* 2 + max_connections */
    int *pfd_conn;            /* conn slot of pfds[i], for i >= 2 */
    as_call_t *calls;         /* calls still having connections or not yet handed out */
    uint8_t rx[RX_BYTES];
    int16_t samples[RX_BYTES / 2];

    cw_pbx_ingest_t ing;      /* log, counters, the desk where started calls wait */
};

/* "1.2.3.4:5060" or "[::1]:5060" */
static void format_addr(const struct sockaddr *sa, socklen_t len, char *out, size_t size)
{
    char host[NI_MAXHOST], serv[NI_MAXSERV];
    if (getnameinfo(sa, len, host, sizeof host, serv, sizeof serv, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, size, "?");
        return;
    }
    snprintf(out, size, sa->sa_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, serv);
}

/* "call <id> <leg> leg" of a connection, or "" before its UUID. */
static void conn_label(const as_conn_t *c, char *out, size_t size)
{
    if (c->call)
        snprintf(out, size, " (%s leg of call %s)", cw_leg_name((cw_leg_id)c->leg), cw_pbxcall_id(c->call->pbx));
    else
        out[0] = '\0';
}

static void announce(cw_audiosocket_t *as, as_call_t *call)
{
    call->announced = true;
    char what[CW_PATH_MAX];
    size_t used = (size_t)snprintf(what, sizeof what, "AudioSocket");
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        if (cw_pbxcall_attached(call->pbx, (cw_leg_id)leg) && used < sizeof what)
            used += (size_t)snprintf(what + used, sizeof what - used, " %s %s", cw_leg_name((cw_leg_id)leg),
                                     cw_pbxcall_peer(call->pbx, (cw_leg_id)leg));
    if (used < sizeof what)
        snprintf(what + used, sizeof what - used, " (slin %d Hz)", CW_AUDIOSOCKET_RATE_HZ);
    cw_pbxcall_start(call->pbx, what);
    atomic_fetch_add(&as->ing.calls, 1);
}

static void close_conn(cw_audiosocket_t *as, as_conn_t *c, cw_pbx_end_t kind, const char *why)
{
    char label[PEER_MAX + CW_AUDIOSOCKET_UUID_TEXT + 64];
    conn_label(c, label, sizeof label);
    char named[sizeof label + PEER_MAX];
    snprintf(named, sizeof named, "%s%s", c->peer, label);
    cw_pbx_ingest_ended(&as->ing, named, kind, why, c->connected_at, c->call ? c->call->pbx : NULL, c->leg);
    if (c->call) {
        c->call->n_conns--;
        c->call = NULL;
    }
    close(c->fd);
    c->fd = -1;
    cw_audiosocket_parser_destroy(&c->parser);
    atomic_fetch_sub(&as->ing.open, 1);
}

static as_call_t *find_call(cw_audiosocket_t *as, const uint8_t key[CW_AUDIOSOCKET_UUID_BYTES])
{
    for (as_call_t *call = as->calls; call; call = call->next)
        if (memcmp(call->key, key, CW_AUDIOSOCKET_UUID_BYTES) == 0)
            return call;
    return NULL;
}

/* Tells the peer why it is refused in an error message (kind 0xff, the
 * reason as text) and closes the connection. */
static void refuse_conn(cw_audiosocket_t *as, as_conn_t *c, const char *why)
{
    uint8_t frame[CW_AUDIOSOCKET_HEADER_BYTES + WHY_MAX];
    size_t len = strnlen(why, WHY_MAX);
    frame[0] = CW_AUDIOSOCKET_ERROR;
    frame[1] = (uint8_t)(len >> 8);
    frame[2] = (uint8_t)(len & 0xff);
    memcpy(frame + CW_AUDIOSOCKET_HEADER_BYTES, why, len);
    /* A fresh connection's send buffer takes it whole; if not, closing says enough. */
    ssize_t sent = send(c->fd, frame, CW_AUDIOSOCKET_HEADER_BYTES + len, MSG_NOSIGNAL);
    (void)sent;
    close(c->fd);
    c->fd = -1;
    cw_audiosocket_parser_destroy(&c->parser);
    atomic_fetch_sub(&as->ing.open, 1);
}

/* A new call for the connection's UUID; NULL when the connection was closed
 * (the node is at capacity, or out of memory). */
static as_call_t *new_call(cw_audiosocket_t *as, as_conn_t *c, const uint8_t key[CW_AUDIOSOCKET_UUID_BYTES],
                           double now)
{
    char call_id[CW_AUDIOSOCKET_UUID_TEXT];
    cw_audiosocket_uuid_text(key, call_id);
    cw_pbxcall_opts_t po = {.call_id = call_id, .ingest = "audiosocket", .rate_hz = CW_AUDIOSOCKET_RATE_HZ,
                            .ring_s = as->opts.ring_s, .legs = {true, true}, .leg_streams = true};
    cw_error_t err;
    cw_error_clear(&err);
    as_call_t *call = calloc(1, sizeof *call);
    if (call && !(call->pbx = cw_pbx_ingest_call_new(&as->ing, &po, c->peer, &err))) {
        free(call);
        if (err.code == CW_ERR_BUSY) {
            refuse_conn(as, c, err.msg);
            return NULL;
        }
        call = NULL;
    }
    if (!call) {
        close_conn(as, c, CW_PBX_DISCONNECT, "out of memory for a new call");
        return NULL;
    }
    memcpy(call->key, key, sizeof call->key);
    call->first_at = now;
    call->next = as->calls;
    as->calls = call;
    return call;
}

/* The connection gave its UUID: join (or start) its call. Returns false when
 * the connection was closed. */
static bool attach_leg(cw_audiosocket_t *as, as_conn_t *c, const uint8_t *uuid, double now)
{
    uint8_t key[CW_AUDIOSOCKET_UUID_BYTES];
    memcpy(key, uuid, sizeof key);
    cw_leg_id leg = key[CW_AUDIOSOCKET_UUID_BYTES - 1] & 1 ? CW_LEG_CUSTOMER : CW_LEG_AGENT;
    cw_leg_id other = leg == CW_LEG_AGENT ? CW_LEG_CUSTOMER : CW_LEG_AGENT;
    key[CW_AUDIOSOCKET_UUID_BYTES - 1] &= (uint8_t)~1u;
    char why[WHY_MAX];
    as_call_t *call = find_call(as, key);
    if (call) {
        const char *call_id = cw_pbxcall_id(call->pbx);
        if (cw_pbxcall_attached(call->pbx, leg)) {
            snprintf(why, sizeof why, "the %s leg of call %s is already connected (from %s)", cw_leg_name(leg),
                     call_id, cw_pbxcall_peer(call->pbx, leg));
            close_conn(as, c, CW_PBX_PROTOCOL, why);
            return false;
        }
        if (call->announced) {
            snprintf(why, sizeof why,
                     "call %s already started without its %s leg %.1f s ago (raise [audiosocket] pair_timeout_ms, "
                     "now %d)",
                     call_id, cw_leg_name(leg), now - call->first_at, as->opts.pair_timeout_ms);
            close_conn(as, c, CW_PBX_PROTOCOL, why);
            return false;
        }
    } else if (!(call = new_call(as, c, key, now))) {
        return false;
    }
    /* Samples the other leg got before this one joined become silence here,
     * so that both legs share one timeline. */
    bool paired = cw_pbxcall_attached(call->pbx, other);
    cw_pbxcall_attach(call->pbx, leg, paired ? cw_pbxcall_position(call->pbx, other) : 0, c->peer);
    c->call = call;
    c->leg = leg;
    call->n_conns++;
    char label[CW_AUDIOSOCKET_UUID_TEXT + 64];
    conn_label(c, label, sizeof label);
    cw_pbx_ingest_log(&as->ing, "%s%s: connected", c->peer, label);
    if (paired)
        announce(as, call);
    return true;
}

static void push_audio(cw_audiosocket_t *as, as_conn_t *c, const uint8_t *payload, size_t len)
{
    size_t n = len / 2;
    for (size_t i = 0; i < n; i++)
        as->samples[i] = (int16_t)(uint16_t)(payload[2 * i] | (uint16_t)payload[2 * i + 1] << 8);
    /* What does not fit is counted as dropped frames in the call's stats and call_end. */
    if (cw_pbxcall_write(c->call->pbx, (cw_leg_id)c->leg, as->samples, n)) {
        char label[CW_AUDIOSOCKET_UUID_TEXT + 64];
        conn_label(c, label, sizeof label);
        cw_pbx_ingest_log(&as->ing, "%s%s: audio arrives faster than the call takes it; dropping what does not fit (%.1f s "
                   "buffered), counted in call_end frames_dropped", c->peer, label,
                   cw_pbxcall_buffer_s(c->call->pbx));
    }
}

/* Acts on one frame; false when the connection was closed. */
static bool handle_frame(cw_audiosocket_t *as, as_conn_t *c, const cw_audiosocket_frame_t *f, double now)
{
    char why[WHY_MAX];
    if (!c->call) {
        if (f->kind != CW_AUDIOSOCKET_UUID) {
            snprintf(why, sizeof why, "the first message is kind 0x%02x; expected the UUID (0x01)", f->kind);
            close_conn(as, c, CW_PBX_PROTOCOL, why);
            return false;
        }
        return attach_leg(as, c, f->payload, now);
    }
    switch (f->kind) {
    case CW_AUDIOSOCKET_AUDIO: push_audio(as, c, f->payload, f->length); return true;
    case CW_AUDIOSOCKET_DTMF: return true; /* key presses say nothing about sentiment */
    case CW_AUDIOSOCKET_UUID:
        close_conn(as, c, CW_PBX_PROTOCOL, "a second UUID message on a connection that already has one");
        return false;
    case CW_AUDIOSOCKET_HANGUP: close_conn(as, c, CW_PBX_HANGUP, "hangup"); return false;
    case CW_AUDIOSOCKET_ERROR: {
        int code = f->length > 0 ? f->payload[0] : 0;
        if (code == 0x01) {
            /* Asterisk's "hangup of calling party": an ordinary end. */
            close_conn(as, c, CW_PBX_HANGUP, "hangup");
            return false;
        }
        snprintf(why, sizeof why, "the PBX sent error 0x%02x%s%s%s", code, code & 0x02 ? " (frame forwarding error)" : "",
                 code & 0x04 ? " (memory error)" : "", f->length == 0 ? " (no code)" : "");
        close_conn(as, c, CW_PBX_DISCONNECT, why);
        return false;
    }
    default: return true; /* the parser admits no other kind */
    }
}

/* Reads what a connection has; false when it was closed. */
static bool read_conn(cw_audiosocket_t *as, as_conn_t *c, double now)
{
    size_t round = 0;
    while (round < RX_ROUND_BYTES) {
        ssize_t got = recv(c->fd, as->rx, sizeof as->rx, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return true;
            char why[WHY_MAX];
            snprintf(why, sizeof why, "%s", strerror(errno));
            close_conn(as, c, CW_PBX_DISCONNECT, why);
            return false;
        }
        if (got == 0) {
            size_t pending = cw_audiosocket_parser_pending(c->parser);
            char why[WHY_MAX];
            if (pending > 0) {
                snprintf(why, sizeof why, "closed in the middle of a message (%zu bytes of it received)", pending);
                close_conn(as, c, CW_PBX_DISCONNECT, why);
            } else if (!c->call) {
                close_conn(as, c, CW_PBX_PROTOCOL, "closed before sending its UUID");
            } else {
                /* The dialplan application ends a call by closing the socket. */
                close_conn(as, c, CW_PBX_HANGUP, "hangup");
            }
            return false;
        }
        c->last_data_at = now;
        round += (size_t)got;
        size_t off = 0;
        while (off < (size_t)got) {
            size_t used = 0;
            cw_audiosocket_frame_t frame;
            cw_error_t err;
            cw_error_clear(&err);
            int rc = cw_audiosocket_parser_feed(c->parser, as->rx + off, (size_t)got - off, &used, &frame, &err);
            off += used;
            if (rc < 0) {
                close_conn(as, c, CW_PBX_PROTOCOL, err.msg);
                return false;
            }
            if (rc == 0)
                break;
            if (!handle_frame(as, c, &frame, now))
                return false;
        }
    }
    return true;
}

static void accept_conns(cw_audiosocket_t *as, double now)
{
    for (;;) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        int fd = accept(as->listen_fd, (struct sockaddr *)&ss, &len);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                cw_pbx_ingest_log(&as->ing, "accept on %s failed: %s", as->address, strerror(errno));
            return;
        }
        char peer[PEER_MAX];
        format_addr((struct sockaddr *)&ss, len, peer, sizeof peer);
        int slot = -1;
        for (int i = 0; i < as->opts.max_connections; i++) {
            if (as->conns[i].fd < 0) {
                slot = i;
                break;
            }
        }
        cw_audiosocket_parser_t *parser =
            slot >= 0 ? cw_audiosocket_parser_new((size_t)as->opts.max_frame_bytes) : NULL;
        int flags = fcntl(fd, F_GETFL);
        if (slot < 0 || !parser || flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
            atomic_fetch_add(&as->ing.refused, 1);
            if (slot < 0)
                cw_pbx_ingest_log(&as->ing, "%s: refused: %d connections are open ([audiosocket] max_connections)", peer,
                           as->opts.max_connections);
            else
                cw_pbx_ingest_log(&as->ing, "%s: refused: cannot set up the connection: %s", peer,
                           parser ? strerror(errno) : "out of memory");
            cw_audiosocket_parser_destroy(&parser);
            close(fd);
            continue;
        }
        as_conn_t *c = &as->conns[slot];
        memset(c, 0, sizeof *c);
        c->fd = fd;
        snprintf(c->peer, sizeof c->peer, "%s", peer);
        c->parser = parser;
        c->connected_at = now;
        c->last_data_at = now;
        atomic_fetch_add(&as->ing.connections, 1);
        atomic_fetch_add(&as->ing.open, 1);
    }
}

/* Timeouts of connections and of calls waiting for their second leg; drops
 * calls that are handed out and have no connection left. Returns the ms to
 * the next deadline (capped). */
static int check_deadlines(cw_audiosocket_t *as, double now)
{
    double next = now + POLL_MAX_MS / 1000.0;
    for (int i = 0; i < as->opts.max_connections; i++) {
        as_conn_t *c = &as->conns[i];
        if (c->fd < 0)
            continue;
        char why[WHY_MAX];
        if (!c->call) {
            double due = c->connected_at + as->opts.first_frame_timeout_ms / 1000.0;
            if (now >= due) {
                snprintf(why, sizeof why, "no UUID within %d ms of connecting ([audiosocket] first_frame_timeout_ms)",
                         as->opts.first_frame_timeout_ms);
                close_conn(as, c, CW_PBX_PROTOCOL, why);
                continue;
            }
            if (due < next)
                next = due;
        }
        double idle_due = c->last_data_at + as->opts.idle_timeout_ms / 1000.0;
        if (now >= idle_due) {
            snprintf(why, sizeof why, "nothing received for %d ms ([audiosocket] idle_timeout_ms)",
                     as->opts.idle_timeout_ms);
            close_conn(as, c, CW_PBX_DISCONNECT, why);
            continue;
        }
        if (idle_due < next)
            next = idle_due;
    }
    as_call_t **link = &as->calls;
    while (*link) {
        as_call_t *call = *link;
        if (!call->announced) {
            double due = call->first_at + as->opts.pair_timeout_ms / 1000.0;
            if (now >= due) {
                int leg = cw_pbxcall_attached(call->pbx, CW_LEG_AGENT) ? CW_LEG_AGENT : CW_LEG_CUSTOMER;
                cw_pbx_ingest_log(&as->ing, "call %s: no %s leg within %d ms; monitoring the %s leg alone", cw_pbxcall_id(call->pbx),
                           cw_leg_name((cw_leg_id)(1 - leg)), as->opts.pair_timeout_ms, cw_leg_name((cw_leg_id)leg));
                announce(as, call);
            } else if (due < next) {
                next = due;
            }
        }
        if (call->announced && call->n_conns == 0) {
            *link = call->next;
            call_free(call);
            continue;
        }
        link = &call->next;
    }
    double ms = (next - now) * 1000.0 + 1.0;
    return ms < 0 ? 0 : ms > POLL_MAX_MS ? POLL_MAX_MS : (int)ms;
}

static void *server_main(void *arg)
{
    cw_audiosocket_t *as = arg;
    int timeout_ms = POLL_MAX_MS;
    while (!atomic_load(&as->stop)) {
        int n = 0;
        as->pfds[n++] = (struct pollfd){.fd = as->wake[0], .events = POLLIN};
        as->pfds[n++] = (struct pollfd){.fd = as->listen_fd, .events = POLLIN};
        for (int i = 0; i < as->opts.max_connections; i++) {
            if (as->conns[i].fd < 0)
                continue;
            as->pfd_conn[n] = i;
            as->pfds[n++] = (struct pollfd){.fd = as->conns[i].fd, .events = POLLIN};
        }
        int rc = poll(as->pfds, (nfds_t)n, timeout_ms);
        if (rc < 0 && errno != EINTR) {
            cw_pbx_ingest_log(&as->ing, "poll failed: %s", strerror(errno));
            break;
        }
        double now = cw_pbx_now_s();
        if (rc > 0) {
            if (as->pfds[0].revents) {
                char drain[64];
                while (read(as->wake[0], drain, sizeof drain) > 0) {
                }
            }
            for (int i = 2; i < n; i++) {
                as_conn_t *c = &as->conns[as->pfd_conn[i]];
                if (as->pfds[i].revents && c->fd == as->pfds[i].fd)
                    read_conn(as, c, now);
            }
            if (as->pfds[1].revents)
                accept_conns(as, now);
        }
        timeout_ms = check_deadlines(as, cw_pbx_now_s());
    }
    return NULL;
}

/* Splits "host:port" / "[v6]:port" / "*:port"; host "" = any address. */
static int parse_listen(const char *text, char *host, size_t host_size, char *port, size_t port_size,
                        cw_error_t *err)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || !colon[1])
        return cw_error_set(err, CW_ERR_INVALID, "audiosocket listen '%s': expected host:port", text);
    const char *h = text;
    size_t hl = (size_t)(colon - text);
    if (h[0] == '[') {
        if (hl < 2 || h[hl - 1] != ']')
            return cw_error_set(err, CW_ERR_INVALID, "audiosocket listen '%s': unbalanced [ ] around the address",
                                text);
        h++;
        hl -= 2;
    }
    if (hl >= host_size || strlen(colon + 1) >= port_size)
        return cw_error_set(err, CW_ERR_INVALID, "audiosocket listen '%s': too long", text);
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (strcmp(host, "*") == 0)
        host[0] = '\0';
    snprintf(port, port_size, "%s", colon + 1);
    char *end = NULL;
    long p = strtol(port, &end, 10);
    if (!end || *end || p < 0 || p > 65535)
        return cw_error_set(err, CW_ERR_INVALID, "audiosocket listen '%s': port '%s' is not a number 0..65535",
                            text, port);
    return CW_OK;
}

static int open_listener(cw_audiosocket_t *as, cw_error_t *err)
{
    char host[CW_PATH_MAX], port[16];
    int rc = parse_listen(as->listen, host, sizeof host, port, sizeof port, err);
    if (rc != CW_OK)
        return rc;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
    if (gai != 0)
        return cw_error_set(err, CW_ERR_NOT_FOUND, "audiosocket listen '%s': cannot resolve '%s': %s", as->listen,
                            host, gai_strerror(gai));
    int last_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
        if (fd < 0) {
            last_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        int flags = fcntl(fd, F_GETFL);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SOMAXCONN) != 0 || flags < 0 ||
            fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
            last_errno = errno;
            close(fd);
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t len = sizeof ss;
        if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
            format_addr((struct sockaddr *)&ss, len, as->address, sizeof as->address);
            as->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                                : ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
        as->listen_fd = fd;
        freeaddrinfo(res);
        return CW_OK;
    }
    freeaddrinfo(res);
    return cw_error_set(err, last_errno == EADDRINUSE ? CW_ERR_BUSY : CW_ERR_IO,
                        "audiosocket listen '%s': cannot listen: %s", as->listen,
                        last_errno ? strerror(last_errno) : "no usable address");
}

void cw_audiosocket_opts_from_config(const cw_config_t *cfg, cw_audiosocket_opts_t *opts)
{
    memset(opts, 0, sizeof *opts);
    opts->listen = cfg->audiosocket_listen;
    opts->max_connections = cfg->audiosocket_max_connections;
    opts->first_frame_timeout_ms = cfg->audiosocket_first_frame_timeout_ms;
    opts->idle_timeout_ms = cfg->audiosocket_idle_timeout_ms;
    opts->pair_timeout_ms = cfg->audiosocket_pair_timeout_ms;
    opts->max_frame_bytes = cfg->audiosocket_max_frame_bytes;
    opts->ring_s = cfg->capture_ring_s;
}

static int check_opts(const cw_audiosocket_opts_t *o, cw_error_t *err)
{
    if (!o->listen || !o->listen[0])
        return cw_error_set(err, CW_ERR_INVALID, "audiosocket: no listen address");
    if (o->max_connections < 1 || o->max_connections > 10000)
        return cw_error_set(err, CW_ERR_INVALID, "audiosocket: max_connections %d out of range 1..10000",
                            o->max_connections);
    if (o->max_frame_bytes < 16 || o->max_frame_bytes > 65535)
        return cw_error_set(err, CW_ERR_INVALID, "audiosocket: max_frame_bytes %d out of range 16..65535",
                            o->max_frame_bytes);
    if (o->first_frame_timeout_ms < 1 || o->idle_timeout_ms < 1 || o->pair_timeout_ms < 0)
        return cw_error_set(err, CW_ERR_INVALID, "audiosocket: timeouts must be positive");
    if (!(o->ring_s > 0 && o->ring_s <= 600))
        return cw_error_set(err, CW_ERR_INVALID, "audiosocket: ring_s %g out of range (0, 600]", o->ring_s);
    return CW_OK;
}

cw_audiosocket_t *cw_audiosocket_new(const cw_audiosocket_opts_t *opts, cw_error_t *err)
{
    if (!opts || check_opts(opts, err) != CW_OK)
        return NULL;
    cw_audiosocket_t *as = calloc(1, sizeof *as);
    if (!as) {
        cw_error_set(err, CW_ERR_NOMEM, "audiosocket: out of memory");
        return NULL;
    }
    as->opts = *opts;
    snprintf(as->listen, sizeof as->listen, "%s", opts->listen);
    as->opts.listen = as->listen;
    as->listen_fd = -1;
    as->wake[0] = as->wake[1] = -1;
    if (cw_pbx_ingest_init(&as->ing, "audiosocket", opts->log, opts->log_user, opts->desk, err) != CW_OK)
        goto error_out;
    size_t max = (size_t)opts->max_connections;
    as->conns = calloc(max, sizeof *as->conns);
    as->pfds = calloc(max + 2, sizeof *as->pfds);
    as->pfd_conn = calloc(max + 2, sizeof *as->pfd_conn);
    if (!as->conns || !as->pfds || !as->pfd_conn) {
        cw_error_set(err, CW_ERR_NOMEM, "audiosocket: out of memory for %d connections", opts->max_connections);
        goto error_out;
    }
    for (size_t i = 0; i < max; i++)
        as->conns[i].fd = -1;
    if (pipe(as->wake) != 0) {
        cw_error_set(err, CW_ERR_IO, "audiosocket: cannot create a pipe: %s", strerror(errno));
        goto error_out;
    }
    fcntl(as->wake[0], F_SETFL, O_NONBLOCK);
    fcntl(as->wake[1], F_SETFL, O_NONBLOCK);
    if (open_listener(as, err) != CW_OK)
        goto error_out;
    if (pthread_create(&as->thread, NULL, server_main, as) != 0) {
        cw_error_set(err, CW_ERR_INTERNAL, "audiosocket: cannot start the server thread");
        goto error_out;
    }
    as->thread_started = true;
    return as;

error_out:
    cw_audiosocket_destroy(&as);
    return NULL;
}

void cw_audiosocket_destroy(cw_audiosocket_t **as_p)
{
    if (!as_p || !*as_p)
        return;
    cw_audiosocket_t *as = *as_p;
    if (as->thread_started) {
        atomic_store(&as->stop, true);
        ssize_t w = write(as->wake[1], "x", 1);
        (void)w; /* a full pipe already wakes the thread */
        pthread_join(as->thread, NULL);
    }
    for (int i = 0; as->conns && i < as->opts.max_connections; i++)
        if (as->conns[i].fd >= 0)
            close_conn(as, &as->conns[i], CW_PBX_DISCONNECT, "server shutting down");
    while (as->calls) {
        as_call_t *call = as->calls;
        as->calls = call->next;
        call_free(call);
    }
    cw_pbx_ingest_fini(&as->ing);
    if (as->listen_fd >= 0)
        close(as->listen_fd);
    for (int i = 0; i < 2; i++)
        if (as->wake[i] >= 0)
            close(as->wake[i]);
    free(as->conns);
    free(as->pfds);
    free(as->pfd_conn);
    free(as);
    *as_p = NULL;
}

const char *cw_audiosocket_address(const cw_audiosocket_t *as)
{
    return as->address;
}

int cw_audiosocket_port(const cw_audiosocket_t *as)
{
    return as->port;
}

int cw_audiosocket_accept_call(cw_audiosocket_t *as, cw_source_t **source, cw_audiosocket_call_t *info)
{
    cw_pbxcall_info_t pi;
    cw_error_t err;
    cw_error_clear(&err);
    int rc = cw_pbxcalls_take(as->ing.desk, source, &pi, &err);
    if (rc < 0)
        cw_pbx_ingest_log(&as->ing, "%s", err.msg);
    if (rc != 1)
        return 0;
    memset(info, 0, sizeof *info);
    snprintf(info->call_id, sizeof info->call_id, "%.*s", CW_AUDIOSOCKET_UUID_TEXT - 1, pi.call_id);
    return 1;
}

void cw_audiosocket_get_stats(const cw_audiosocket_t *as, cw_audiosocket_stats_t *stats)
{
    cw_pbx_ingest_get_stats(&as->ing, stats);
}
