/* ackroute.c - see callwatch/ackroute.h */
#include "callwatch/ackroute.h"

#include "callwatch/acks.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define ROUTE_ENDPOINT_MAX 1024
/* How often the thread looks at its stop flag and the deadlines. */
#define ROUTE_POLL_MS 100
/* Frames of one message: client routing id, REQ's request id, delimiter,
 * body, and room for a proxy in between; more is malformed. */
#define ROUTE_MAX_FRAMES 8
/* Requests waiting for nodes at once (acks forwarded, pings gathering). */
#define ROUTE_PENDING 256
/* Nodes known at once, and how long one counts as connected after its
 * last hello (nodes say hello every CW_ACK_LINK_HELLO_MS). */
#define ROUTE_NODES 256
#define ROUTE_NODE_STALE_MS (3 * CW_ACK_LINK_HELLO_MS)
#define ROUTE_NAME_MAX 256
/* Client messages are small requests; node answers may list 1000 calls. */
#define ROUTE_CLIENT_MAX_MSG (64LL * 1024)
#define ROUTE_NODE_MAX_MSG (4LL * 1024 * 1024)
/* ZeroMQ heartbeats on the node side: a node whose machine vanished is
 * dropped (and its name freed for its restart) within this. */
#define ROUTE_HEARTBEAT_IVL_MS 1000
#define ROUTE_HEARTBEAT_TIMEOUT_MS 3000

typedef enum { PENDING_FREE = 0, PENDING_ACK, PENDING_GATHER } pending_kind;

typedef struct pending {
    pending_kind kind;
    uint16_t gen;        /* bumped on each use: a late answer to a freed slot is dropped */
    zmq_msg_t env[ROUTE_MAX_FRAMES];
    int n_env;           /* client envelope frames, the delimiter not included */
    double deadline_s;
    char node[ROUTE_NAME_MAX];
    int expected, received;
    json_t *calls;       /* gather: the calls so far */
} pending_t;

typedef struct node_entry {
    char name[ROUTE_NAME_MAX];
    double seen_s;       /* last hello; 0 = free slot */
    bool gone_logged;    /* its silence was logged */
} node_entry_t;

struct cw_ack_router {
    void *ctx;
    bool own_ctx;
    void *clients, *nodes;
    pthread_t thread;
    bool thread_started;
    atomic_bool stop;
    char client_ep[ROUTE_ENDPOINT_MAX], node_ep[ROUTE_ENDPOINT_MAX];
    char instance[160];
    pthread_mutex_t lock; /* guards stats */
    cw_ack_router_stats_t stats;
    pending_t pending[ROUTE_PENDING];
    node_entry_t known[ROUTE_NODES];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void count(cw_ack_router_t *r, uint64_t *field)
{
    pthread_mutex_lock(&r->lock);
    (*field)++;
    pthread_mutex_unlock(&r->lock);
}

/* ---- messages ---- */

/* Receives one whole message into f (at most ROUTE_MAX_FRAMES; a longer
 * one is read to its end and refused). Returns the frame count, 0 when
 * none was waiting or it was too long, -1 on a socket error. */
static int recv_frames(void *sock, zmq_msg_t *f)
{
    int n = 0, more = 1;
    bool too_long = false;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sock, n == 0 && !too_long ? ZMQ_DONTWAIT : 0) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            for (int i = 0; i < n; i++)
                zmq_msg_close(&f[i]);
            return e == EAGAIN || e == EINTR ? 0 : -1;
        }
        more = zmq_msg_more(&part);
        if (n < ROUTE_MAX_FRAMES) {
            zmq_msg_init(&f[n]);
            zmq_msg_move(&f[n], &part);
            n++;
        } else {
            too_long = true;
        }
        zmq_msg_close(&part);
    }
    if (too_long) {
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
        return 0;
    }
    return n;
}

static void close_frames(zmq_msg_t *f, int n)
{
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

/* The index of the empty delimiter after the envelope (>= 1), or -1. */
static int delimiter(zmq_msg_t *f, int n)
{
    for (int i = 1; i < n; i++)
        if (zmq_msg_size(&f[i]) == 0)
            return i;
    return -1;
}

/* Sends env (copies; the caller keeps them), the delimiter and text. */
static void send_reply(void *sock, zmq_msg_t *env, int n_env, const char *text)
{
    for (int i = 0; i < n_env; i++) {
        zmq_msg_t copy;
        zmq_msg_init(&copy);
        zmq_msg_copy(&copy, &env[i]);
        if (zmq_msg_send(&copy, sock, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&copy);
            return; /* the client is gone or stuck: its reply is lost, as with REP */
        }
    }
    zmq_send(sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    zmq_send(sock, text, strlen(text), ZMQ_DONTWAIT);
}

static void reply_error(cw_ack_router_t *r, zmq_msg_t *env, int n_env, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void reply_error(cw_ack_router_t *r, zmq_msg_t *env, int n_env, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    for (char *c = msg; *c; c++) /* a quoted call id may not be UTF-8 */
        if ((unsigned char)*c >= 0x80)
            *c = '?';
    json_t *obj = json_pack("{s:b, s:s}", "ok", 0, "error", msg);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    send_reply(r->clients, env, n_env, text ? text : "{\"ok\":false,\"error\":\"out of memory\"}");
    free(text);
    count(r, &r->stats.refused);
}

/* ---- nodes ---- */

static bool node_live(const node_entry_t *n, double now)
{
    return n->seen_s > 0 && (now - n->seen_s) * 1000.0 < ROUTE_NODE_STALE_MS;
}

/* A hello from node `name`: remembered (logged when it is new or back). */
static void node_hello(cw_ack_router_t *r, const char *name, double now)
{
    node_entry_t *free_slot = NULL, *oldest = &r->known[0];
    for (size_t i = 0; i < ROUTE_NODES; i++) {
        node_entry_t *n = &r->known[i];
        if (n->seen_s > 0 && strcmp(n->name, name) == 0) {
            if (!node_live(n, now))
                fprintf(stderr, "callwatch: broker: node %s takes acknowledgements again\n", name);
            n->seen_s = now;
            n->gone_logged = false;
            return;
        }
        if (!free_slot && n->seen_s == 0)
            free_slot = n;
        if (n->seen_s < oldest->seen_s)
            oldest = n;
    }
    node_entry_t *n = free_slot ? free_slot : oldest;
    snprintf(n->name, sizeof n->name, "%s", name);
    n->seen_s = now;
    n->gone_logged = false;
    fprintf(stderr, "callwatch: broker: node %s connected for acknowledgements\n", name);
}

/* The connected node whose name followed by '-' starts call_id, the
 * longest such; NULL if none. */
static const char *owner_of(cw_ack_router_t *r, const char *call_id, double now)
{
    const char *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < ROUTE_NODES; i++) {
        const node_entry_t *n = &r->known[i];
        size_t len = strlen(n->name);
        if (node_live(n, now) && len > best_len && strncmp(call_id, n->name, len) == 0 && call_id[len] == '-') {
            best = n->name;
            best_len = len;
        }
    }
    return best;
}

/* Sends request to node `name` tagged with pending slot p. False when the
 * node is not connected (ROUTER_MANDATORY) or its queue is full. */
static bool send_to_node(cw_ack_router_t *r, const char *name, const pending_t *p, const char *request)
{
    uint8_t tag[4] = {(uint8_t)((p - r->pending) >> 8), (uint8_t)((p - r->pending) & 0xff), (uint8_t)(p->gen >> 8),
                      (uint8_t)(p->gen & 0xff)};
    if (zmq_send(r->nodes, name, strlen(name), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return false;
    zmq_send(r->nodes, tag, sizeof tag, ZMQ_SNDMORE);
    zmq_send(r->nodes, "", 0, ZMQ_SNDMORE);
    zmq_send(r->nodes, request, strlen(request), 0);
    return true;
}

/* ---- pending requests ---- */

static pending_t *pending_new(cw_ack_router_t *r, pending_kind kind, zmq_msg_t *env, int n_env, double timeout_s)
{
    for (size_t i = 0; i < ROUTE_PENDING; i++) {
        pending_t *p = &r->pending[i];
        if (p->kind != PENDING_FREE)
            continue;
        p->kind = kind;
        p->gen++;
        p->n_env = n_env;
        for (int k = 0; k < n_env; k++) {
            zmq_msg_init(&p->env[k]);
            zmq_msg_copy(&p->env[k], &env[k]);
        }
        p->deadline_s = now_s() + timeout_s;
        p->node[0] = '\0';
        p->expected = p->received = 0;
        p->calls = NULL;
        return p;
    }
    return NULL;
}

static void pending_free(pending_t *p)
{
    close_frames(p->env, p->n_env);
    p->n_env = 0;
    json_decref(p->calls);
    p->calls = NULL;
    p->kind = PENDING_FREE;
}

static char *pong_text(cw_ack_router_t *r, json_t *calls)
{
    json_t *pong = json_pack("{s:b, s:s, s:s, s:b}", "ok", 1, "type", "pong", "instance", r->instance, "broker", 1);
    if (pong && calls)
        json_object_set(pong, "calls", calls);
    char *text = pong ? json_dumps(pong, JSON_COMPACT) : NULL;
    json_decref(pong);
    return text;
}

/* A gather is over: the pong with every node's calls, or (a node did not
 * answer in time) without a list, so a console keeps the calls it has and
 * asks again rather than dropping that node's calls. */
static void gather_done(cw_ack_router_t *r, pending_t *p)
{
    char *text = pong_text(r, p->received == p->expected ? p->calls : NULL);
    send_reply(r->clients, p->env, p->n_env, text ? text : "{\"ok\":false,\"error\":\"out of memory\"}");
    free(text);
    count(r, &r->stats.pings);
    pending_free(p);
}

/* Logs, once, each node that stopped saying hello: its calls' acks are
 * refused from now on ("no node for call"). */
static void expire_nodes(cw_ack_router_t *r, double now)
{
    for (size_t i = 0; i < ROUTE_NODES; i++) {
        node_entry_t *n = &r->known[i];
        if (n->seen_s > 0 && !n->gone_logged && !node_live(n, now)) {
            fprintf(stderr, "callwatch: broker: node %s has not said hello for %d ms: its calls cannot be "
                            "acknowledged through the broker until it is back\n", n->name, ROUTE_NODE_STALE_MS);
            n->gone_logged = true;
        }
    }
}

static void expire_pending(cw_ack_router_t *r, double now)
{
    for (size_t i = 0; i < ROUTE_PENDING; i++) {
        pending_t *p = &r->pending[i];
        if (p->kind == PENDING_FREE || now < p->deadline_s)
            continue;
        if (p->kind == PENDING_GATHER) {
            gather_done(r, p);
        } else {
            reply_error(r, p->env, p->n_env, "node \"%s\" did not answer within %d ms (it may have stopped)",
                        p->node, CW_ACKROUTE_NODE_TIMEOUT_MS);
            pending_free(p);
        }
    }
}

/* ---- client requests ---- */

/* A ping: answered at once, or with calls asked of every connected node. */
static void client_ping(cw_ack_router_t *r, zmq_msg_t *env, int n_env, bool want_calls, double now)
{
    pending_t *p = want_calls ? pending_new(r, PENDING_GATHER, env, n_env, CW_ACKROUTE_GATHER_MS / 1000.0) : NULL;
    if (p) {
        p->calls = json_array();
        for (size_t i = 0; i < ROUTE_NODES; i++)
            if (node_live(&r->known[i], now) &&
                send_to_node(r, r->known[i].name, p, "{\"type\":\"ping\",\"calls\":true}"))
                p->expected++;
        if (p->expected > 0)
            return;
        gather_done(r, p); /* no node: an empty list is the truth */
        return;
    }
    char *text = pong_text(r, NULL);
    send_reply(r->clients, env, n_env, text ? text : "{\"ok\":false,\"error\":\"out of memory\"}");
    free(text);
    count(r, &r->stats.pings);
}

static void client_ack(cw_ack_router_t *r, zmq_msg_t *env, int n_env, json_t *req, const char *body, double now)
{
    json_t *cid = json_object_get(req, "call_id");
    const char *call_id = json_string_value(cid);
    if (!call_id || !*call_id || strlen(call_id) != json_string_length(cid)) {
        reply_error(r, env, n_env, "missing or empty \"call_id\": the broker routes an acknowledgement by its call");
        return;
    }
    const char *node = owner_of(r, call_id, now);
    if (!node) {
        reply_error(r, env, n_env,
                    "no node for call \"%.128s\": no node connected to the broker for acknowledgements has a name "
                    "that starts the call id",
                    call_id);
        return;
    }
    pending_t *p = pending_new(r, PENDING_ACK, env, n_env, CW_ACKROUTE_NODE_TIMEOUT_MS / 1000.0);
    if (!p) {
        reply_error(r, env, n_env, "the broker has %d requests waiting for nodes; try again", ROUTE_PENDING);
        return;
    }
    snprintf(p->node, sizeof p->node, "%s", node);
    if (!send_to_node(r, node, p, body)) {
        reply_error(r, env, n_env, "node \"%s\" is not reachable from the broker now (%s)", node,
                    zmq_strerror(errno));
        pending_free(p);
        return;
    }
    count(r, &r->stats.forwarded);
}

static void client_request(cw_ack_router_t *r, zmq_msg_t *f, int n, double now)
{
    int d = delimiter(f, n);
    if (d < 1)
        return; /* no envelope: nobody to answer */
    count(r, &r->stats.requests);
    if (n != d + 2) {
        reply_error(r, f, d, "a request is one frame of JSON");
        return;
    }
    size_t len = zmq_msg_size(&f[d + 1]);
    if (len > CW_ACK_MAX_REQUEST) {
        reply_error(r, f, d, "request of %zu bytes is over the limit of %d", len, CW_ACK_MAX_REQUEST);
        return;
    }
    char body[CW_ACK_MAX_REQUEST + 1];
    memcpy(body, zmq_msg_data(&f[d + 1]), len);
    body[len] = '\0';
    json_error_t jerr;
    json_t *req = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    const char *type = json_string_value(json_object_get(req, "type"));
    if (!req)
        reply_error(r, f, d, "not JSON: %s (column %d)", jerr.text, jerr.column);
    else if (!json_is_object(req) || !type)
        reply_error(r, f, d, "not a JSON object with a \"type\" (\"ack\" or \"ping\")");
    else if (strcmp(type, "ping") == 0)
        client_ping(r, f, d, json_is_true(json_object_get(req, "calls")), now);
    else if (strcmp(type, "ack") == 0)
        client_ack(r, f, d, req, body, now);
    else
        reply_error(r, f, d, "unknown type \"%.40s\" (expected \"ack\" or \"ping\")", type);
    json_decref(req);
}

/* ---- node messages ---- */

/* A node's answer (tag, delimiter, reply) to pending slot the tag names. */
static void node_answer(cw_ack_router_t *r, zmq_msg_t *tag, zmq_msg_t *reply)
{
    if (zmq_msg_size(tag) != 4)
        return;
    const uint8_t *t = zmq_msg_data(tag);
    size_t slot = ((size_t)t[0] << 8) | t[1];
    uint16_t gen = (uint16_t)((t[2] << 8) | t[3]);
    pending_t *p = slot < ROUTE_PENDING ? &r->pending[slot] : NULL;
    if (!p || p->kind == PENDING_FREE || p->gen != gen)
        return; /* answered too late: the client already got a timeout */
    if (p->kind == PENDING_ACK) {
        char *text = strndup(zmq_msg_data(reply), zmq_msg_size(reply));
        send_reply(r->clients, p->env, p->n_env, text ? text : "{\"ok\":false,\"error\":\"out of memory\"}");
        free(text);
        count(r, &r->stats.answered);
        pending_free(p);
        return;
    }
    json_t *pong = json_loadb(zmq_msg_data(reply), zmq_msg_size(reply), 0, NULL);
    json_t *calls = json_object_get(pong, "calls");
    size_t i;
    json_t *call;
    json_array_foreach(calls, i, call) {
        if (json_array_size(p->calls) < CW_ACK_MAX_CALLS)
            json_array_append(p->calls, call);
    }
    if (json_is_array(calls))
        p->received++;
    json_decref(pong);
    if (p->received == p->expected)
        gather_done(r, p);
}

static void node_message(cw_ack_router_t *r, zmq_msg_t *f, int n, double now)
{
    size_t id_len = zmq_msg_size(&f[0]);
    if (n < 3 || id_len == 0 || id_len >= ROUTE_NAME_MAX)
        return;
    if (zmq_msg_size(&f[1]) == 0) { /* [name, "", hello] */
        char name[ROUTE_NAME_MAX];
        memcpy(name, zmq_msg_data(&f[0]), id_len);
        name[id_len] = '\0';
        node_hello(r, name, now);
        return;
    }
    if (n == 4 && zmq_msg_size(&f[2]) == 0) /* [name, tag, "", reply] */
        node_answer(r, &f[1], &f[3]);
}

/* ---- thread ---- */

static void serve_socket(cw_ack_router_t *r, void *sock, bool from_nodes)
{
    for (int batch = 0; batch < 100; batch++) {
        zmq_msg_t f[ROUTE_MAX_FRAMES];
        int n = recv_frames(sock, f);
        if (n <= 0)
            return;
        if (from_nodes)
            node_message(r, f, n, now_s());
        else
            client_request(r, f, n, now_s());
        close_frames(f, n);
    }
}

static void *route_thread(void *arg)
{
    cw_ack_router_t *r = arg;
    while (!atomic_load(&r->stop)) {
        zmq_pollitem_t items[] = {{r->clients, 0, ZMQ_POLLIN, 0}, {r->nodes, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, ROUTE_POLL_MS) < 0 && errno != EINTR)
            break;
        if (items[1].revents & ZMQ_POLLIN)
            serve_socket(r, r->nodes, true);
        if (items[0].revents & ZMQ_POLLIN)
            serve_socket(r, r->clients, false);
        expire_pending(r, now_s());
        expire_nodes(r, now_s());
    }
    for (size_t i = 0; i < ROUTE_PENDING; i++)
        if (r->pending[i].kind != PENDING_FREE)
            pending_free(&r->pending[i]);
    return NULL;
}

/* ---- set-up ---- */

static int set_int(void *sock, int option, int value, cw_error_t *err)
{
    if (zmq_setsockopt(sock, option, &value, sizeof value) != 0)
        return cw_error_set(err, CW_ERR_INTERNAL, "broker acks: cannot set a ZeroMQ option: %s", zmq_strerror(errno));
    return CW_OK;
}

/* A ROUTER for one side: CURVE with that side's admission list, bound. */
static void *open_side(cw_ack_router_t *r, const char *side, const char *endpoint, const cw_curve_server_t *curve,
                       const char *domain, char *bound, cw_error_t *err)
{
    void *s = zmq_socket(r->ctx, ZMQ_ROUTER);
    if (!s) {
        cw_error_set(err, CW_ERR_INTERNAL, "broker acks: cannot create a ZeroMQ socket: %s", zmq_strerror(errno));
        return NULL;
    }
    bool nodes = strcmp(side, "node_ack_endpoint") == 0;
    int64_t max_msg = nodes ? ROUTE_NODE_MAX_MSG : ROUTE_CLIENT_MAX_MSG;
    if (set_int(s, ZMQ_LINGER, 0, err) != CW_OK ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg) != 0 ||
        (nodes && (set_int(s, ZMQ_ROUTER_MANDATORY, 1, err) != CW_OK ||
                   set_int(s, ZMQ_ROUTER_HANDOVER, 1, err) != CW_OK ||
                   set_int(s, ZMQ_HEARTBEAT_IVL, ROUTE_HEARTBEAT_IVL_MS, err) != CW_OK ||
                   set_int(s, ZMQ_HEARTBEAT_TIMEOUT, ROUTE_HEARTBEAT_TIMEOUT_MS, err) != CW_OK)) ||
        (curve && cw_curve_server_apply_domain(curve, s, cw_curve_server_domain_or_first(curve, domain), err) !=
                      CW_OK)) {
        if (!err->code)
            cw_error_set(err, CW_ERR_INTERNAL, "broker acks: cannot set a ZeroMQ option: %s", zmq_strerror(errno));
        zmq_close(s);
        return NULL;
    }
    if (zmq_bind(s, endpoint) != 0) {
        int e = errno;
        cw_error_set(err, e == EADDRINUSE ? CW_ERR_BUSY : CW_ERR_INVALID, "cannot bind broker %s %s: %s%s", side,
                     endpoint, zmq_strerror(e), e == EADDRINUSE ? " (is another broker running?)" : "");
        zmq_close(s);
        return NULL;
    }
    size_t len = ROUTE_ENDPOINT_MAX;
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, bound, &len) != 0)
        snprintf(bound, ROUTE_ENDPOINT_MAX, "%s", endpoint);
    bound[ROUTE_ENDPOINT_MAX - 1] = '\0';
    return s;
}

cw_ack_router_t *cw_ack_router_new(const char *client_endpoint, const char *node_endpoint,
                                   const cw_curve_server_t *curve, cw_error_t *err)
{
    if (!client_endpoint || !*client_endpoint || !node_endpoint || !*node_endpoint) {
        cw_error_set(err, CW_ERR_INVALID, "broker acks: ack_endpoint and node_ack_endpoint are both needed");
        return NULL;
    }
    cw_ack_router_t *r = calloc(1, sizeof *r);
    if (!r) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the broker's ack router");
        return NULL;
    }
    atomic_init(&r->stop, false);
    pthread_mutex_init(&r->lock, NULL);
    char host[64] = "";
    gethostname(host, sizeof host - 1);
    snprintf(r->instance, sizeof r->instance, "broker:%s:%ld:%lld", host, (long)getpid(), (long long)time(NULL));
    r->own_ctx = curve == NULL;
    r->ctx = curve ? cw_curve_context() : zmq_ctx_new();
    if (!r->ctx) {
        cw_error_set(err, CW_ERR_INTERNAL, "broker acks: cannot create a ZeroMQ context");
        goto error_out;
    }
    r->clients = open_side(r, "ack_endpoint", client_endpoint, curve, CW_CURVE_DOMAIN_CLIENTS, r->client_ep, err);
    r->nodes = r->clients ? open_side(r, "node_ack_endpoint", node_endpoint, curve, CW_CURVE_DOMAIN_NODES,
                                      r->node_ep, err)
                          : NULL;
    if (!r->nodes)
        goto error_out;
    sigset_t block, old;
    sigfillset(&block);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(&r->thread, NULL, route_thread, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        cw_error_set(err, CW_ERR_INTERNAL, "broker acks: cannot start the thread: %s", strerror(rc));
        goto error_out;
    }
    r->thread_started = true;
    return r;

error_out:
    cw_ack_router_destroy(&r);
    return NULL;
}

const char *cw_ack_router_client_endpoint(const cw_ack_router_t *r)
{
    return r ? r->client_ep : NULL;
}

const char *cw_ack_router_node_endpoint(const cw_ack_router_t *r)
{
    return r ? r->node_ep : NULL;
}

void cw_ack_router_get_stats(cw_ack_router_t *r, cw_ack_router_stats_t *stats)
{
    pthread_mutex_lock(&r->lock);
    *stats = r->stats;
    pthread_mutex_unlock(&r->lock);
}

void cw_ack_router_destroy(cw_ack_router_t **rp)
{
    if (!rp || !*rp)
        return;
    cw_ack_router_t *r = *rp;
    if (r->thread_started) {
        atomic_store(&r->stop, true);
        pthread_join(r->thread, NULL);
    }
    if (r->clients)
        zmq_close(r->clients);
    if (r->nodes)
        zmq_close(r->nodes);
    if (r->ctx && r->own_ctx) {
        while (zmq_ctx_term(r->ctx) != 0 && errno == EINTR)
            ;
    }
    pthread_mutex_destroy(&r->lock);
    free(r);
    *rp = NULL;
}
