/* acks.c - see callwatch/acks.h */
#include "callwatch/acks.h"

#include "callwatch/bus.h"
#include "callwatch/event.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* How often the server thread looks at its stop flag. */
#define ACK_POLL_MS 100
/* Larger messages cost libzmq the peer's connection, not our memory. */
#define ACK_MAX_MSG_BYTES (64LL * 1024)
/* Alerts remembered for acknowledgement: the most recent this many. */
#define ACK_KNOWN_ALERTS 8192
/* A pong listing CW_ACK_MAX_CALLS calls fits with room to spare. */
#define ACK_MAX_REPLY_BYTES (4LL * 1024 * 1024)
#define ACK_ENDPOINT_MAX 1024

/* Frames of a request through the broker: tag, delimiter, body (and room
 * for more, which is refused). */
#define ACK_LINK_MAX_FRAMES 8
#define ACK_LINK_HEARTBEAT_IVL_MS 1000
#define ACK_LINK_HEARTBEAT_TIMEOUT_MS 3000

struct cw_ack_server {
    void *sock;
    void *link;           /* DEALER to the broker's node_ack_endpoint; NULL = none */
    double next_hello_s;
    bool curve_ctx; /* sock is in cw_curve_context(), not bus.h's */
    cw_outbox_t *outbox;
    char endpoint[ACK_ENDPOINT_MAX];
    char instance[160];
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock; /* guards stats and calls */
    cw_ack_stats_t stats;
    json_t *calls;        /* call_id -> its call_start object */
    json_t *alerts;       /* alert id -> its call_id: the alerts an ack may name */
    json_t *alert_order;  /* their ids, oldest first, for evicting past ACK_KNOWN_ALERTS */
    /* Who may acknowledge; only the server thread touches these after creation. */
    cw_users_t *users;    /* NULL = nobody checked */
    cw_throttle_t *guesses; /* wrong passwords per user name, with users */
    char *users_path;
    struct stat users_st; /* the file as last read */
    cw_ack_log_fn log;
    void *log_user;
};

static char *reply_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *reply_error(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *obj = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
    if (!obj) {
        /* The message quotes the peer's bytes (jansson's "near '...'", a
         * truncated type), which may not be UTF-8 and then cannot be a JSON
         * string: the reply would have been "out of memory" instead. */
        for (char *c = msg; *c; c++)
            if ((unsigned char)*c >= 0x80)
                *c = '?';
        obj = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
    }
    char *out = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    return out;
}

/* A required string field: present, a string without NUL, 1..max bytes.
 * Returns it, or NULL with why filled. */
static const char *get_field(json_t *req, const char *key, size_t max, bool required, char *why, size_t why_cap)
{
    json_t *v = json_object_get(req, key);
    if (!v) {
        if (required)
            snprintf(why, why_cap, "missing \"%s\"", key);
        return NULL;
    }
    if (!json_is_string(v)) {
        snprintf(why, why_cap, "\"%s\" is not a string", key);
        return NULL;
    }
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    if (strlen(s) != len) {
        snprintf(why, why_cap, "\"%s\" contains a NUL character", key);
        return NULL;
    }
    if (len == 0 && required) {
        snprintf(why, why_cap, "\"%s\" is empty", key);
        return NULL;
    }
    if (len > max) {
        snprintf(why, why_cap, "\"%s\" is %zu bytes, more than %zu", key, len, max);
        return NULL;
    }
    return s;
}

/* The call id becomes part of the topic `ack.<call_id>`: no spaces or
 * control characters, which no call id of ours has. */
static bool topic_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x21 || *s == 0x7f)
            return false;
    return true;
}

char *cw_ack_answer(const char *request, size_t len, cw_outbox_t *outbox, const char *instance, json_t *calls,
                    cw_ack_outcome *outcome)
{
    return cw_ack_answer_known(request, len, outbox, instance, calls, NULL, outcome);
}

/* Why an ack of alert_id on call_id is refused given the known alerts, or
 * NULL when it may go through. */
static char *unknown_alert(const json_t *known, const char *call_id, const char *alert_id)
{
    if (!known)
        return NULL;
    const char *owner = json_string_value(json_object_get(known, alert_id));
    if (!owner)
        return reply_error("unknown alert \"%s\": this node raised no such alert since it started "
                           "(or it is older than its last %d)", alert_id, ACK_KNOWN_ALERTS);
    if (strcmp(owner, call_id) != 0)
        return reply_error("alert \"%s\" belongs to call \"%s\", not \"%s\"", alert_id, owner, call_id);
    return NULL;
}

char *cw_ack_signed_text(const char *call_id, const char *alert_id, const char *by, const char *note)
{
    json_t *a = json_pack("[s, s, s, s, s]", "callwatch-ack-v1", call_id ? call_id : "", alert_id ? alert_id : "",
                          by ? by : "", note ? note : "");
    char *text = a ? json_dumps(a, JSON_COMPACT) : NULL;
    json_decref(a);
    return text;
}

/* Who the ack's sender is, when users are checked: NULL with *role set
 * (NULL = unverified, no users) or the refusal (*outcome CW_ACK_DENIED when
 * it is about who sent it). */
static char *check_sender(json_t *req, const cw_users_t *users, cw_throttle_t *guesses, const char *call_id,
                          const char *alert_id, const char *by, const char *note, const char **role,
                          cw_ack_outcome *outcome)
{
    *role = NULL;
    if (!users)
        return NULL;
    char why[200] = "";
    const char *password = get_field(req, "password", CW_USER_PASSWORD_MAX, false, why, sizeof why);
    const char *sig = why[0] ? NULL : get_field(req, "signature", CW_USER_SIG_HEX, false, why, sizeof why);
    if (why[0])
        return reply_error("%s", why);
    *outcome = CW_ACK_DENIED;
    if (!password && !sig)
        return reply_error("this node checks who acknowledges: \"by\" needs a password (callwatch console "
                           "--user NAME asks for it, or reads --password-file or $CALLWATCH_PASSWORD)");
    cw_role_t r = CW_ROLE_NONE;
    if (password) {
        double wait_s = 0;
        r = cw_users_check_throttled(users, guesses, by, by, password, &wait_s);
        if (wait_s > 0)
            return reply_error("too many wrong passwords for %s: try again in %.0f s", by, ceil(wait_s));
    } else {
        char *text = cw_ack_signed_text(call_id, alert_id, by, note);
        r = text ? cw_users_check_signed(users, by, text, sig) : CW_ROLE_NONE;
        free(text);
        if (r == CW_ROLE_NONE)
            return reply_error("wrong name or signature (does the web read this node's users file?)");
    }
    if (r == CW_ROLE_NONE)
        return reply_error("wrong name or password");
    if (r != CW_ROLE_SUPERVISOR)
        return reply_error("%s %s may not acknowledge (only supervisors do)", cw_role_name(r), by);
    *outcome = CW_ACK_REJECTED;
    *role = cw_role_name(r);
    return NULL;
}

char *cw_ack_answer_known(const char *request, size_t len, cw_outbox_t *outbox, const char *instance, json_t *calls,
                          const json_t *known, cw_ack_outcome *outcome)
{
    return cw_ack_answer_checked(request, len, outbox, instance, calls, known, NULL, NULL, outcome);
}

char *cw_ack_answer_checked(const char *request, size_t len, cw_outbox_t *outbox, const char *instance,
                            json_t *calls, const json_t *known, const cw_users_t *users, cw_throttle_t *guesses,
                            cw_ack_outcome *outcome)
{
    *outcome = CW_ACK_REJECTED;
    if (len > CW_ACK_MAX_REQUEST)
        return reply_error("request of %zu bytes is over the limit of %d", len, CW_ACK_MAX_REQUEST);
    json_error_t jerr;
    json_t *req = json_loadb(request, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!req)
        return reply_error("not JSON: %s (column %d)", jerr.text, jerr.column);
    char *out = NULL;
    char why[200] = "";
    if (!json_is_object(req)) {
        out = reply_error("not a JSON object");
        goto done;
    }
    const char *type = json_string_value(json_object_get(req, "type"));
    if (!type) {
        out = reply_error("missing \"type\" (\"ack\" or \"ping\")");
        goto done;
    }
    if (strcmp(type, "ping") == 0) {
        json_t *pong = json_pack("{s:b, s:s, s:s}", "ok", 1, "type", "pong", "instance", instance ? instance : "");
        if (pong && json_is_true(json_object_get(req, "calls")))
            json_object_set_new(pong, "calls", calls ? json_deep_copy(calls) : json_array());
        out = pong ? json_dumps(pong, JSON_COMPACT) : NULL;
        json_decref(pong);
        if (out)
            *outcome = CW_ACK_PONG;
        goto done;
    }
    if (strcmp(type, "ack") != 0) {
        out = reply_error("unknown type \"%.40s\" (expected \"ack\" or \"ping\")", type);
        goto done;
    }
    const char *call_id = get_field(req, "call_id", CW_ACK_MAX_FIELD, true, why, sizeof why);
    const char *alert_id = call_id ? get_field(req, "alert_id", CW_ACK_MAX_FIELD, true, why, sizeof why) : NULL;
    const char *by = alert_id ? get_field(req, "by", CW_ACK_MAX_FIELD, true, why, sizeof why) : NULL;
    const char *note = NULL;
    if (by) {
        note = get_field(req, "note", CW_ACK_MAX_NOTE, false, why, sizeof why);
        if (!note && why[0])
            by = NULL;
    }
    if (!by) {
        out = reply_error("%s", why);
        goto done;
    }
    if (!topic_safe(call_id)) {
        out = reply_error("\"call_id\" has spaces or control characters");
        goto done;
    }
    if ((out = unknown_alert(known, call_id, alert_id)) != NULL)
        goto done;
    const char *role = NULL;
    if ((out = check_sender(req, users, guesses, call_id, alert_id, by, note, &role, outcome)) != NULL)
        goto done;
    cw_event_t *ev = cw_event_ack_verified(call_id, alert_id, by, role, note);
    if (!ev) {
        out = reply_error("cannot build the ack event (call_id too long?)");
        goto done;
    }
    json_t *ack = json_loadb(ev->json, ev->json_len, 0, NULL);
    json_t *reply = ack ? json_pack("{s:b, s:o}", "ok", 1, "ack", ack) : NULL;
    out = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
    json_decref(reply);
    if (!out) {
        cw_event_destroy(&ev);
        goto done;
    }
    cw_outbox_post(outbox, &ev);
    *outcome = CW_ACK_POSTED;
done:
    json_decref(req);
    return out;
}

/* Receives one request (all its frames); returns its bytes in *buf or sets
 * *why. 1 = got one, 0 = nothing, -1 = socket error. */
static int server_recv(cw_ack_server_t *srv, char **buf, size_t *len, const char **why)
{
    *buf = NULL;
    *len = 0;
    *why = NULL;
    int frames = 0;
    size_t total = 0;
    char *data = NULL;
    for (;;) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, srv->sock, frames == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int e = errno;
            zmq_msg_close(&msg);
            free(data);
            return (e == EAGAIN || e == EINTR) && frames == 0 ? 0 : -1;
        }
        frames++;
        size_t n = zmq_msg_size(&msg);
        total += n;
        if (frames == 1 && n <= CW_ACK_MAX_REQUEST) {
            data = malloc(n + 1);
            if (data) {
                memcpy(data, zmq_msg_data(&msg), n);
                data[n] = '\0';
            }
        }
        int more = zmq_msg_more(&msg);
        zmq_msg_close(&msg);
        if (!more)
            break;
    }
    if (frames > 1) {
        *why = "a request is one frame of JSON";
        free(data);
        data = NULL;
    } else if (!data && total > CW_ACK_MAX_REQUEST) {
        /* cw_ack_answer() refuses it by its length alone, naming both. */
    } else if (!data) {
        *why = "out of memory";
    }
    *buf = data;
    *len = total;
    return 1;
}

/* The known alerts an answer needs: the one the request names, if known
 * ({} otherwise), so the answer (which may block posting to the outbox)
 * runs without the lock. Caller holds srv->lock. */
static json_t *known_subset(cw_ack_server_t *srv, const char *req, size_t len)
{
    json_t *subset = json_object();
    json_t *r = req ? json_loadb(req, len, 0, NULL) : NULL;
    const char *alert_id = json_string_value(json_object_get(r, "alert_id"));
    json_t *owner = alert_id ? json_object_get(srv->alerts, alert_id) : NULL;
    if (owner)
        json_object_set(subset, alert_id, owner);
    json_decref(r);
    return subset;
}

/* Remembers an alert an ack may name later; forgets the oldest past
 * ACK_KNOWN_ALERTS. Caller holds srv->lock. */
static void remember_alert(cw_ack_server_t *srv, const char *alert_id, const char *call_id)
{
    if (json_object_get(srv->alerts, alert_id))
        return;
    json_object_set_new(srv->alerts, alert_id, json_string(call_id));
    json_array_append_new(srv->alert_order, json_string(alert_id));
    if (json_array_size(srv->alert_order) > ACK_KNOWN_ALERTS) {
        json_object_del(srv->alerts, json_string_value(json_array_get(srv->alert_order, 0)));
        json_array_remove(srv->alert_order, 0);
    }
}

static void server_log(cw_ack_server_t *srv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void server_log(cw_ack_server_t *srv, const char *fmt, ...)
{
    if (!srv->log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* Names and reasons quote the peer's bytes: one line, no escapes. */
    for (char *c = line; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    srv->log(srv->log_user, line);
}

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Reads the users file again when it changed (`callwatch user add` replaces
 * it); keeps the users it has when the new file cannot be read. */
static void refresh_users(cw_ack_server_t *srv)
{
    struct stat st;
    if (!srv->users || stat(srv->users_path, &st) != 0 || same_file(&st, &srv->users_st))
        return;
    cw_error_t err;
    cw_error_clear(&err);
    cw_users_t *fresh = cw_users_load(srv->users_path, &err);
    srv->users_st = st; /* a broken file is reported once, not at every ack */
    if (!fresh) {
        server_log(srv, "acks: keeping the users read before: %s", err.msg);
        return;
    }
    cw_users_destroy(&srv->users);
    srv->users = fresh;
    server_log(srv, "acks: users file %s read again (%zu users)", srv->users_path, cw_users_count(fresh));
}

/* Logs a refusal for who sent the request (the reply names why). */
static void log_denied(cw_ack_server_t *srv, const char *req, size_t len, const char *reply, bool via_broker)
{
    json_t *q = req ? json_loadb(req, len, 0, NULL) : NULL;
    json_t *r = reply ? json_loads(reply, 0, NULL) : NULL;
    const char *by = json_string_value(json_object_get(q, "by"));
    const char *alert = json_string_value(json_object_get(q, "alert_id"));
    const char *call = json_string_value(json_object_get(q, "call_id"));
    server_log(srv, "acks: refused to acknowledge %.128s of call %.128s as \"%.128s\"%s: %s", alert ? alert : "?",
               call ? call : "?", by ? by : "?", via_broker ? " (through the broker)" : "",
               json_string_value(json_object_get(r, "error")) ? json_string_value(json_object_get(r, "error")) : "?");
    json_decref(q);
    json_decref(r);
}

/* The reply to one request (why: a transport-level refusal), counted. req
 * may be NULL when len is over CW_ACK_MAX_REQUEST: refused by its length. */
static char *answer(cw_ack_server_t *srv, const char *req, size_t len, const char *why, bool via_broker)
{
    cw_ack_outcome outcome = CW_ACK_REJECTED;
    json_t *calls = json_array();
    pthread_mutex_lock(&srv->lock);
    const char *key;
    json_t *val;
    json_object_foreach(srv->calls, key, val) {
        if (json_array_size(calls) < CW_ACK_MAX_CALLS)
            json_array_append_new(calls, json_deep_copy(val));
    }
    json_t *known = why ? NULL : known_subset(srv, req, len);
    pthread_mutex_unlock(&srv->lock);
    if (!why)
        refresh_users(srv);
    char *reply = why ? reply_error("%s", why)
                      : cw_ack_answer_checked(req, len, srv->outbox, srv->instance, calls, known, srv->users,
                                              srv->guesses, &outcome);
    if (outcome == CW_ACK_DENIED)
        log_denied(srv, req, len, reply, via_broker);
    json_decref(known);
    json_decref(calls);
    /* Counted before the reply goes out: whoever got the reply sees it counted. */
    pthread_mutex_lock(&srv->lock);
    srv->stats.requests++;
    srv->stats.via_broker += via_broker;
    if (outcome == CW_ACK_POSTED)
        srv->stats.acks++;
    else if (outcome == CW_ACK_PONG)
        srv->stats.pings++;
    else
        srv->stats.rejected++;
    srv->stats.denied += outcome == CW_ACK_DENIED;
    pthread_mutex_unlock(&srv->lock);
    return reply;
}

static void serve_own(cw_ack_server_t *srv)
{
    char *req;
    size_t len;
    const char *why;
    if (server_recv(srv, &req, &len, &why) <= 0)
        return;
    char *reply = answer(srv, req, len, why, false);
    free(req);
    const char *text = reply ? reply : "{\"ok\":false,\"error\":\"out of memory\"}";
    while (zmq_send(srv->sock, text, strlen(text), 0) < 0 && errno == EINTR)
        ;
    free(reply);
}

/* One request the broker forwarded: [tag, "", body] -> [tag, "", reply]. */
static void serve_link(cw_ack_server_t *srv)
{
    zmq_msg_t f[ACK_LINK_MAX_FRAMES];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, srv->link, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&part);
            break;
        }
        more = zmq_msg_more(&part);
        if (n < ACK_LINK_MAX_FRAMES) {
            zmq_msg_init(&f[n]);
            zmq_msg_move(&f[n++], &part);
        }
        zmq_msg_close(&part);
    }
    if (n == 3 && zmq_msg_size(&f[1]) == 0) {
        size_t len = zmq_msg_size(&f[2]);
        /* An oversized request is refused by its length alone (never read). */
        char *req = len <= CW_ACK_MAX_REQUEST ? strndup(zmq_msg_data(&f[2]), len) : NULL;
        char *reply = answer(srv, req, len, req || len > CW_ACK_MAX_REQUEST ? NULL : "out of memory", true);
        const char *text = reply ? reply : "{\"ok\":false,\"error\":\"out of memory\"}";
        zmq_send(srv->link, zmq_msg_data(&f[0]), zmq_msg_size(&f[0]), ZMQ_SNDMORE | ZMQ_DONTWAIT);
        zmq_send(srv->link, "", 0, ZMQ_SNDMORE);
        zmq_send(srv->link, text, strlen(text), 0);
        free(reply);
        free(req);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Tells the broker this node is here (a hello while not connected is
 * dropped: the link is ZMQ_IMMEDIATE). */
static void say_hello(cw_ack_server_t *srv)
{
    double now = mono_s();
    if (now < srv->next_hello_s)
        return;
    srv->next_hello_s = now + CW_ACK_LINK_HELLO_MS / 1000.0;
    char hello[256];
    snprintf(hello, sizeof hello, "{\"type\":\"hello\",\"instance\":\"%s\"}", srv->instance);
    if (zmq_send(srv->link, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0)
        zmq_send(srv->link, hello, strlen(hello), 0);
}

static void *server_thread(void *arg)
{
    cw_ack_server_t *srv = arg;
    while (!atomic_load(&srv->stop)) {
        if (srv->link)
            say_hello(srv);
        zmq_pollitem_t items[] = {{srv->sock, 0, ZMQ_POLLIN, 0}, {srv->link, 0, ZMQ_POLLIN, 0}};
        int rc = zmq_poll(items, srv->link ? 2 : 1, ACK_POLL_MS);
        if (rc <= 0)
            continue;
        if (items[0].revents & ZMQ_POLLIN)
            serve_own(srv);
        if (srv->link && (items[1].revents & ZMQ_POLLIN))
            serve_link(srv);
    }
    return NULL;
}

/* The DEALER to the broker: named by the node, a CURVE client if asked. */
static int open_link(cw_ack_server_t *srv, const cw_ack_link_t *link, cw_error_t *err)
{
    size_t name_len = link->node ? strlen(link->node) : 0;
    if (!link->endpoint || !*link->endpoint || name_len == 0 || name_len > 255)
        return cw_error_set(err, CW_ERR_INVALID, "ack link to the broker: needs an endpoint and a node name of "
                                                 "1..255 bytes");
    srv->link = cw_bus_socket_open(ZMQ_DEALER, err);
    if (!srv->link)
        return err->code;
    int one = 1, zero = 0, ivl = ACK_LINK_HEARTBEAT_IVL_MS, timeout = ACK_LINK_HEARTBEAT_TIMEOUT_MS;
    int64_t max_msg = ACK_MAX_MSG_BYTES;
    zmq_setsockopt(srv->link, ZMQ_ROUTING_ID, link->node, name_len);
    zmq_setsockopt(srv->link, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(srv->link, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(srv->link, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    zmq_setsockopt(srv->link, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(srv->link, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof timeout);
    if (link->curve && cw_curve_client_apply(link->curve, srv->link, err) != CW_OK)
        return cw_error_prefix(err, "ack link to the broker %s", link->endpoint);
    if (zmq_connect(srv->link, link->endpoint) != 0)
        return cw_error_set(err, CW_ERR_INVALID, "cannot connect the ack link to the broker %s: %s", link->endpoint,
                            zmq_strerror(errno));
    return CW_OK;
}

/* CURVE server sockets live in the context the ZAP handler watches
 * (curve.h); czmq terminates it at exit, so they bypass bus.h's count. */
static void server_socket_close(cw_ack_server_t *srv)
{
    cw_bus_socket_close(srv->link);
    srv->link = NULL;
    if (!srv->sock)
        return;
    if (srv->curve_ctx)
        zmq_close(srv->sock);
    else
        cw_bus_socket_close(srv->sock);
    srv->sock = NULL;
}

cw_ack_server_t *cw_ack_server_new(const char *endpoint, cw_outbox_t *outbox, cw_error_t *err)
{
    return cw_ack_server_new_secure(endpoint, outbox, NULL, err);
}

cw_ack_server_t *cw_ack_server_new_secure(const char *endpoint, cw_outbox_t *outbox, const cw_curve_server_t *curve,
                                          cw_error_t *err)
{
    return cw_ack_server_new_linked(endpoint, outbox, curve, NULL, err);
}

cw_ack_server_t *cw_ack_server_new_linked(const char *endpoint, cw_outbox_t *outbox, const cw_curve_server_t *curve,
                                          const cw_ack_link_t *link, cw_error_t *err)
{
    return cw_ack_server_new_auth(endpoint, outbox, curve, link, NULL, err);
}

/* The users file of auth, if any: read now, so a missing one stops the start. */
static int load_auth(cw_ack_server_t *srv, const cw_ack_auth_t *auth, cw_error_t *err)
{
    if (!auth)
        return CW_OK;
    srv->log = auth->log;
    srv->log_user = auth->log_user;
    if (!auth->users_path || !auth->users_path[0])
        return CW_OK;
    srv->users_path = strdup(auth->users_path);
    if (!srv->users_path)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory");
    if (stat(srv->users_path, &srv->users_st) != 0)
        memset(&srv->users_st, 0, sizeof srv->users_st);
    srv->users = cw_users_load(srv->users_path, err);
    if (!srv->users)
        return cw_error_prefix(err, "acknowledgements");
    cw_throttle_policy_t policy = cw_throttle_policy_default();
    srv->guesses = cw_throttle_new(&policy, err);
    return srv->guesses ? CW_OK : cw_error_prefix(err, "acknowledgements");
}

cw_ack_server_t *cw_ack_server_new_auth(const char *endpoint, cw_outbox_t *outbox, const cw_curve_server_t *curve,
                                        const cw_ack_link_t *link, const cw_ack_auth_t *auth, cw_error_t *err)
{
    if (!endpoint || !*endpoint || !outbox) {
        cw_error_set(err, CW_ERR_INVALID, "ack server: no endpoint or outbox");
        return NULL;
    }
    cw_ack_server_t *srv = calloc(1, sizeof *srv);
    if (!srv) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the ack server");
        return NULL;
    }
    srv->outbox = outbox;
    srv->calls = json_object();
    srv->alerts = json_object();
    srv->alert_order = json_array();
    atomic_init(&srv->stop, false);
    pthread_mutex_init(&srv->lock, NULL);
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(srv->instance, sizeof srv->instance, "%s:%ld:%lld", host, (long)getpid(), (long long)time(NULL));
    if (load_auth(srv, auth, err) != CW_OK)
        goto error_out;
    if (curve) {
        void *curve_ctx = cw_curve_context();
        srv->sock = curve_ctx ? zmq_socket(curve_ctx, ZMQ_REP) : NULL;
        if (!srv->sock) {
            cw_error_set(err, CW_ERR_INTERNAL, "cannot create the ack server's CURVE socket: %s", zmq_strerror(errno));
            goto error_out;
        }
        srv->curve_ctx = true;
        if (cw_curve_server_apply(curve, srv->sock, err) != CW_OK) {
            cw_error_prefix(err, "ack endpoint %s", endpoint);
            goto error_out;
        }
    } else {
        srv->sock = cw_bus_socket_open(ZMQ_REP, err);
        if (!srv->sock)
            goto error_out;
    }
    int linger = 0;
    int64_t max_msg = ACK_MAX_MSG_BYTES;
    zmq_setsockopt(srv->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(srv->sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    if (zmq_bind(srv->sock, endpoint) != 0) {
        int e = errno;
        cw_error_set(err, e == EADDRINUSE ? CW_ERR_BUSY : CW_ERR_INVALID, "cannot bind the ack endpoint %s: %s%s",
                     endpoint, zmq_strerror(e), e == EADDRINUSE ? " (is another callwatch running?)" : "");
        goto error_out;
    }
    size_t len = sizeof srv->endpoint;
    if (zmq_getsockopt(srv->sock, ZMQ_LAST_ENDPOINT, srv->endpoint, &len) != 0)
        snprintf(srv->endpoint, sizeof srv->endpoint, "%s", endpoint);
    srv->endpoint[sizeof srv->endpoint - 1] = '\0';
    if (link && open_link(srv, link, err) != CW_OK)
        goto error_out;
    int rc = pthread_create(&srv->thread, NULL, server_thread, srv);
    if (rc != 0) {
        cw_error_set(err, CW_ERR_INTERNAL, "cannot start the ack server thread: %s", strerror(rc));
        goto error_out;
    }
    return srv;

error_out:
    server_socket_close(srv);
    cw_ack_server_destroy(&srv); /* the thread never started: stop has no thread to join */
    return NULL;
}

void cw_ack_server_observe(cw_ack_server_t *srv, const cw_event_t *ev)
{
    bool start = strcmp(ev->type, "call_start") == 0, alert = strcmp(ev->type, "alert") == 0;
    if (!start && !alert && strcmp(ev->type, "call_end") != 0)
        return;
    json_t *obj = json_loadb(ev->json, ev->json_len, 0, NULL);
    const char *call_id = json_string_value(json_object_get(obj, "call_id"));
    const char *alert_id = json_string_value(json_object_get(obj, "id"));
    if (call_id) {
        pthread_mutex_lock(&srv->lock);
        if (alert)
            remember_alert(srv, alert_id ? alert_id : "", call_id);
        else if (!start)
            json_object_del(srv->calls, call_id);
        else if (json_object_size(srv->calls) < CW_ACK_MAX_CALLS)
            json_object_set(srv->calls, call_id, obj);
        pthread_mutex_unlock(&srv->lock);
    }
    json_decref(obj);
}

const char *cw_ack_server_endpoint(const cw_ack_server_t *srv)
{
    return srv->endpoint;
}

void cw_ack_server_get_stats(cw_ack_server_t *srv, cw_ack_stats_t *stats)
{
    pthread_mutex_lock(&srv->lock);
    *stats = srv->stats;
    pthread_mutex_unlock(&srv->lock);
}

void cw_ack_server_stop(cw_ack_server_t *srv)
{
    if (!srv || !srv->sock)
        return;
    atomic_store(&srv->stop, true);
    pthread_join(srv->thread, NULL);
    server_socket_close(srv);
}

void cw_ack_server_destroy(cw_ack_server_t **srvp)
{
    if (!srvp || !*srvp)
        return;
    cw_ack_server_t *srv = *srvp;
    cw_ack_server_stop(srv);
    cw_users_destroy(&srv->users);
    cw_throttle_destroy(&srv->guesses);
    free(srv->users_path);
    pthread_mutex_destroy(&srv->lock);
    json_decref(srv->calls);
    json_decref(srv->alerts);
    json_decref(srv->alert_order);
    free(srv);
    *srvp = NULL;
}

/* ---- client ---- */

struct cw_ack_client {
    void *sock;
};

cw_ack_client_t *cw_ack_client_new(const char *endpoint, cw_error_t *err)
{
    return cw_ack_client_new_secure(endpoint, NULL, err);
}

cw_ack_client_t *cw_ack_client_new_secure(const char *endpoint, const cw_curve_client_t *curve, cw_error_t *err)
{
    if (!endpoint || !*endpoint) {
        cw_error_set(err, CW_ERR_INVALID, "ack endpoint is empty");
        return NULL;
    }
    cw_ack_client_t *c = calloc(1, sizeof *c);
    if (!c) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the ack client");
        return NULL;
    }
    c->sock = cw_bus_socket_open(ZMQ_REQ, err);
    if (!c->sock) {
        free(c);
        return NULL;
    }
    /* Relaxed + correlated: a lost reply (daemon died) never wedges the
     * socket, and a late reply to an abandoned request is discarded.
     * Immediate: no queue while disconnected, so a request made then fails
     * at once instead of surfacing minutes later. */
    int one = 1, zero = 0;
    int64_t max_msg = ACK_MAX_REPLY_BYTES;
    zmq_setsockopt(c->sock, ZMQ_REQ_RELAXED, &one, sizeof one);
    zmq_setsockopt(c->sock, ZMQ_REQ_CORRELATE, &one, sizeof one);
    zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(c->sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    if (curve && cw_curve_client_apply(curve, c->sock, err) != CW_OK) {
        cw_bus_socket_close(c->sock);
        free(c);
        return NULL;
    }
    if (zmq_connect(c->sock, endpoint) != 0) {
        cw_error_set(err, CW_ERR_INVALID, "cannot connect to %s: %s", endpoint, zmq_strerror(errno));
        cw_bus_socket_close(c->sock);
        free(c);
        return NULL;
    }
    return c;
}

int cw_ack_client_send(cw_ack_client_t *c, const char *json, cw_error_t *err)
{
    for (;;) {
        if (zmq_send(c->sock, json, strlen(json), ZMQ_DONTWAIT) >= 0)
            return CW_OK;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN)
            return cw_error_set(err, CW_ERR_IO, "daemon not reachable");
        return cw_error_set(err, CW_ERR_IO, "cannot send to the daemon: %s", zmq_strerror(errno));
    }
}

int cw_ack_client_recv(cw_ack_client_t *c, char **reply, int timeout_ms, cw_error_t *err)
{
    *reply = NULL;
    zmq_pollitem_t item = {.socket = c->sock, .events = ZMQ_POLLIN};
    int rc = zmq_poll(&item, 1, timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 0 : cw_error_set(err, CW_ERR_IO, "ack socket: %s", zmq_strerror(errno));
    if (rc == 0)
        return 0;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return errno == EAGAIN || errno == EINTR ? 0
                                                 : cw_error_set(err, CW_ERR_IO, "ack socket: %s", zmq_strerror(errno));
    }
    size_t n = zmq_msg_size(&msg);
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, zmq_msg_data(&msg), n);
        s[n] = '\0';
    }
    /* A reply is one frame; drop any extra a broken peer sent. */
    while (zmq_msg_more(&msg)) {
        zmq_msg_close(&msg);
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, c->sock, ZMQ_DONTWAIT) < 0)
            break;
    }
    zmq_msg_close(&msg);
    if (!s)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory");
    *reply = s;
    return 1;
}

void cw_ack_client_destroy(cw_ack_client_t **cp)
{
    if (!cp || !*cp)
        return;
    cw_bus_socket_close((*cp)->sock);
    free(*cp);
    *cp = NULL;
}
