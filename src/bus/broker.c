/* broker.c - see callwatch/broker.h */
#include "callwatch/broker.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#define BROKER_ENDPOINT_MAX 1024

/* A proxy stuck on a socket must not hang the caller asking for numbers. */
#define BROKER_CONTROL_TIMEOUT_MS 1000

#define BROKER_STATS_FRAMES 8

/* Publisher keys whose verdict is remembered, and for how long: a lookup
 * re-reads the nodes directory, which must not happen per message, while a
 * key removed from it should stop being forwarded soon after. */
#define BROKER_KEY_CACHE 64
#define BROKER_KEY_CACHE_S 1.0

/* Messages moved per side before the control socket is looked at again. */
#define BROKER_BATCH 1000

typedef struct key_verdict {
    char key[CW_CURVE_KEY_TXT + 1];
    bool allowed;
    double checked_at;
} key_verdict_t;

struct cw_broker {
    void *ctx;
    bool own_ctx;        /* false: cw_curve_context(), which czmq ends */
    void *frontend;      /* XSUB, bound for nodes */
    void *backend;       /* XPUB, bound for subscribers */
    void *control_proxy; /* PAIR the proxy reads commands from */
    void *control;       /* PAIR the owner sends commands on */
    void *monitor;       /* PAIR receiving the frontend's failed handshakes (with a nodes list) */
    pthread_t thread;
    bool thread_started;
    atomic_bool running;
    int proxy_errno;     /* why zmq_proxy_steerable returned, 0 on TERMINATE */
    cw_curve_keylist_t *nodes; /* NULL: every admitted publisher is forwarded */
    key_verdict_t verdicts[BROKER_KEY_CACHE];
    size_t next_verdict;       /* slot the next new key overwrites */
    uint64_t counters[BROKER_STATS_FRAMES]; /* own loop: as zmq_proxy_steerable's */
    char frontend_ep[BROKER_ENDPOINT_MAX];
    char backend_ep[BROKER_ENDPOINT_MAX];
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* True if a message whose sender CURVE-authenticated as `user_id` (its Z85
 * public key, set by libzmq after ZAP) may go to the subscribers. */
static bool publisher_allowed(cw_broker_t *b, const char *user_id)
{
    if (!user_id || strlen(user_id) != CW_CURVE_KEY_TXT)
        return false;
    double now = now_s();
    for (size_t i = 0; i < BROKER_KEY_CACHE; i++) {
        key_verdict_t *v = &b->verdicts[i];
        if (strcmp(v->key, user_id) != 0)
            continue;
        if (now - v->checked_at >= BROKER_KEY_CACHE_S) {
            v->allowed = cw_curve_keylist_has(b->nodes, user_id);
            v->checked_at = now;
        }
        return v->allowed;
    }
    key_verdict_t *v = &b->verdicts[b->next_verdict];
    b->next_verdict = (b->next_verdict + 1) % BROKER_KEY_CACHE;
    memcpy(v->key, user_id, CW_CURVE_KEY_TXT + 1);
    v->allowed = cw_curve_keylist_has(b->nodes, user_id);
    v->checked_at = now;
    if (!v->allowed) /* once per key while it stays cached: the operator learns which key */
        fprintf(stderr, "callwatch: broker: refusing events from publisher key %s: not in the nodes directory "
                        "(a subscriber's key, or a node not admitted yet)\n", user_id);
    return v->allowed;
}

/* Moves one whole message from `from` to `to` (to NULL: reads and drops it);
 * counts it at in[0..1] and, if sent, out[0..1] (messages, bytes). With
 * check_sender, only a listed node's message is sent. 1 when no message was
 * waiting, -1 with errno when a socket failed. */
static int relay(cw_broker_t *b, void *from, void *to, bool check_sender, uint64_t *in, uint64_t *out)
{
    bool first = true, forward = to != NULL, more = true;
    uint64_t bytes = 0;
    while (more) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, from, first ? ZMQ_DONTWAIT : 0) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            if (first && e == EAGAIN)
                return 1;
            errno = e;
            return -1;
        }
        if (first && check_sender)
            forward = forward && publisher_allowed(b, zmq_msg_gets(&part, "User-Id"));
        first = false;
        more = zmq_msg_more(&part);
        bytes += zmq_msg_size(&part);
        /* A subscriber's full queue drops its copy (XPUB), as in zmq_proxy. */
        if (forward && zmq_msg_send(&part, to, more ? ZMQ_SNDMORE : 0) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            if (e == ETERM) {
                errno = e;
                return -1;
            }
            forward = false;
            continue;
        }
        zmq_msg_close(&part);
    }
    in[0]++;
    in[1] += bytes;
    if (forward) {
        out[0]++;
        out[1] += bytes;
    }
    return 0;
}

/* zmq_proxy_steerable's loop, with the frontend's messages checked against
 * the nodes list: ZAP admits subscribers' keys at the frontend too (one
 * handler per context), so this is what keeps them from publishing. Speaks
 * the same control protocol (STATISTICS, TERMINATE). 0 on TERMINATE. */
/* Logs a refused CURVE handshake at the frontend: a node whose key is in
 * no directory never gets as far as a message, so this is where it shows. */
static void log_refused_handshake(cw_broker_t *b)
{
    zmq_msg_t ev, addr;
    zmq_msg_init(&ev);
    zmq_msg_init(&addr);
    if (zmq_msg_recv(&ev, b->monitor, ZMQ_DONTWAIT) >= 0 && zmq_msg_size(&ev) >= 6 &&
        zmq_msg_recv(&addr, b->monitor, 0) >= 0) {
        uint16_t event;
        uint32_t value;
        memcpy(&event, zmq_msg_data(&ev), sizeof event);
        memcpy(&value, (const char *)zmq_msg_data(&ev) + 2, sizeof value);
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
            fprintf(stderr, "callwatch: broker: refused a node's CURVE handshake at %s (ZAP status %u): its key is "
                            "not in the nodes directory\n", b->frontend_ep, value);
        else
            fprintf(stderr, "callwatch: broker: refused a handshake at %s (ZeroMQ protocol error 0x%x: a node "
                            "without CURVE, or not the broker's public key)\n", b->frontend_ep, value);
    }
    zmq_msg_close(&ev);
    zmq_msg_close(&addr);
}

static int checked_proxy(cw_broker_t *b)
{
    uint64_t *c = b->counters; /* frontend in/out, backend in/out: msgs, bytes */
    for (;;) {
        zmq_pollitem_t items[] = {
            {b->control_proxy, 0, ZMQ_POLLIN, 0},
            {b->frontend, 0, ZMQ_POLLIN, 0},
            {b->backend, 0, ZMQ_POLLIN, 0},
            {b->monitor, 0, ZMQ_POLLIN, 0},
        };
        if (zmq_poll(items, b->monitor ? 4 : 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            char cmd[32];
            int n = zmq_recv(b->control_proxy, cmd, sizeof cmd - 1, 0);
            if (n < 0)
                return -1;
            cmd[n < (int)sizeof cmd - 1 ? n : (int)sizeof cmd - 1] = '\0';
            if (strcmp(cmd, "TERMINATE") == 0)
                return 0;
            if (strcmp(cmd, "STATISTICS") == 0)
                for (int i = 0; i < BROKER_STATS_FRAMES; i++)
                    zmq_send(b->control_proxy, &c[i], sizeof c[i], i + 1 < BROKER_STATS_FRAMES ? ZMQ_SNDMORE : 0);
        }
        if (b->monitor && (items[3].revents & ZMQ_POLLIN))
            log_refused_handshake(b);
        /* Up to a batch per wake-up: one poll per message would halve the rate. */
        for (int i = 0; (items[1].revents & ZMQ_POLLIN) && i < BROKER_BATCH; i++) {
            int rc = relay(b, b->frontend, b->backend, true, &c[0], &c[6]);
            if (rc < 0)
                return -1;
            if (rc == 1)
                break;
        }
        for (int i = 0; (items[2].revents & ZMQ_POLLIN) && i < BROKER_BATCH; i++) {
            int rc = relay(b, b->backend, b->frontend, false, &c[4], &c[2]);
            if (rc < 0)
                return -1;
            if (rc == 1)
                break;
        }
    }
}

static void *proxy_thread(void *arg)
{
    cw_broker_t *b = arg;
    int rc = b->nodes ? checked_proxy(b) : zmq_proxy_steerable(b->frontend, b->backend, NULL, b->control_proxy);
    b->proxy_errno = rc == 0 ? 0 : errno;
    atomic_store(&b->running, false);
    return NULL;
}

static int set_int(void *sock, int option, int value, const char *what, cw_error_t *err)
{
    if (zmq_setsockopt(sock, option, &value, sizeof value) != 0)
        return cw_error_set(err, CW_ERR_INTERNAL, "broker: cannot set ZeroMQ %s: %s", what, zmq_strerror(errno));
    return CW_OK;
}

static int open_socket(cw_broker_t *b, void **sock, int type, cw_error_t *err)
{
    *sock = zmq_socket(b->ctx, type);
    if (!*sock)
        return cw_error_set(err, CW_ERR_INTERNAL, "broker: cannot create ZeroMQ socket: %s", zmq_strerror(errno));
    /* Nothing to flush at exit: a broker only relays. */
    return set_int(*sock, ZMQ_LINGER, 0, "linger", err);
}

static int bind_side(void *sock, const char *side, const char *endpoint, char *bound, size_t bound_cap,
                     cw_error_t *err)
{
    if (zmq_bind(sock, endpoint) != 0) {
        int e = errno;
        if (e == EADDRINUSE)
            return cw_error_set(err, CW_ERR_BUSY, "cannot bind broker %s %s: %s (is another broker running?)", side,
                                endpoint, zmq_strerror(e));
        if (e == EINVAL || e == EPROTONOSUPPORT || e == ENOCOMPATPROTO || e == EADDRNOTAVAIL || e == ENODEV)
            return cw_error_set(err, CW_ERR_INVALID,
                                "cannot bind broker %s %s: %s (expected tcp://HOST:PORT, tcp://*:PORT or "
                                "ipc:///PATH)",
                                side, endpoint, zmq_strerror(e));
        return cw_error_set(err, CW_ERR_IO, "cannot bind broker %s %s: %s", side, endpoint, zmq_strerror(e));
    }
    size_t len = bound_cap;
    if (zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, bound, &len) != 0)
        snprintf(bound, bound_cap, "%s", endpoint);
    bound[bound_cap - 1] = '\0';
    return CW_OK;
}

cw_broker_t *cw_broker_new(const char *frontend, const char *backend, int sndhwm, cw_error_t *err)
{
    return cw_broker_new_secure(frontend, backend, sndhwm, NULL, err);
}

cw_broker_t *cw_broker_new_secure(const char *frontend, const char *backend, int sndhwm,
                                  const cw_curve_server_t *curve, cw_error_t *err)
{
    return cw_broker_new_curve(frontend, backend, sndhwm, curve, NULL, err);
}

cw_broker_t *cw_broker_new_curve(const char *frontend, const char *backend, int sndhwm,
                                 const cw_curve_server_t *curve, const char *nodes_dir, cw_error_t *err)
{
    if (!frontend || !*frontend || !backend || !*backend) {
        cw_error_set(err, CW_ERR_INVALID, "broker: frontend and backend endpoints are both needed");
        return NULL;
    }
    if (sndhwm < 1) {
        cw_error_set(err, CW_ERR_INVALID, "broker: sndhwm must be >= 1, got %d", sndhwm);
        return NULL;
    }
    cw_broker_t *b = calloc(1, sizeof *b);
    if (!b) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the broker");
        return NULL;
    }
    atomic_init(&b->running, false);
    if (curve && nodes_dir) {
        b->nodes = cw_curve_keylist_new(nodes_dir, err);
        if (!b->nodes) {
            cw_error_prefix(err, "broker nodes directory");
            goto error_out;
        }
    }
    b->own_ctx = curve == NULL;
    b->ctx = curve ? cw_curve_context() : zmq_ctx_new();
    if (!b->ctx) {
        cw_error_set(err, CW_ERR_INTERNAL, "broker: cannot create ZeroMQ context: %s", zmq_strerror(errno));
        goto error_out;
    }
    if (open_socket(b, &b->frontend, ZMQ_XSUB, err) != CW_OK ||
        open_socket(b, &b->backend, ZMQ_XPUB, err) != CW_OK ||
        open_socket(b, &b->control_proxy, ZMQ_PAIR, err) != CW_OK ||
        open_socket(b, &b->control, ZMQ_PAIR, err) != CW_OK)
        goto error_out;
    /* Same bound both ways as a node's PUB: a stuck subscriber or node costs
     * at most sndhwm messages of memory, then loses messages. */
    if (set_int(b->frontend, ZMQ_RCVHWM, sndhwm, "receive high-water mark", err) != CW_OK ||
        set_int(b->backend, ZMQ_SNDHWM, sndhwm, "send high-water mark", err) != CW_OK ||
        set_int(b->control, ZMQ_RCVTIMEO, BROKER_CONTROL_TIMEOUT_MS, "receive timeout", err) != CW_OK ||
        set_int(b->control, ZMQ_SNDTIMEO, BROKER_CONTROL_TIMEOUT_MS, "send timeout", err) != CW_OK)
        goto error_out;
    /* Each side admits its own list: subscribers' keys at the backend, nodes'
     * at the frontend (one list for both when the server has one). */
    if (curve && cw_curve_server_apply_domain(curve, b->backend,
                                              cw_curve_server_domain_or_first(curve, CW_CURVE_DOMAIN_CLIENTS),
                                              err) != CW_OK) {
        cw_error_prefix(err, "broker backend %s", backend);
        goto error_out;
    }
    if (curve && cw_curve_server_apply_domain(curve, b->frontend,
                                              cw_curve_server_domain_or_first(curve, CW_CURVE_DOMAIN_NODES),
                                              err) != CW_OK) {
        cw_error_prefix(err, "broker frontend %s", frontend);
        goto error_out;
    }
    if (b->nodes) {
        char monitor_ep[64];
        snprintf(monitor_ep, sizeof monitor_ep, "inproc://callwatch-broker-monitor-%p", (void *)b);
        if (zmq_socket_monitor(b->frontend, monitor_ep,
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) != 0 ||
            open_socket(b, &b->monitor, ZMQ_PAIR, err) != CW_OK || zmq_connect(b->monitor, monitor_ep) != 0) {
            if (!err->code)
                cw_error_set(err, CW_ERR_INTERNAL, "broker: cannot watch the frontend's handshakes: %s",
                             zmq_strerror(errno));
            goto error_out;
        }
    }
    if (bind_side(b->frontend, "frontend", frontend, b->frontend_ep, sizeof b->frontend_ep, err) != CW_OK ||
        bind_side(b->backend, "backend", backend, b->backend_ep, sizeof b->backend_ep, err) != CW_OK)
        goto error_out;
    char control_ep[64];
    snprintf(control_ep, sizeof control_ep, "inproc://callwatch-broker-control-%p", (void *)b);
    if (zmq_bind(b->control_proxy, control_ep) != 0 || zmq_connect(b->control, control_ep) != 0) {
        cw_error_set(err, CW_ERR_INTERNAL, "broker: cannot set up the control socket: %s", zmq_strerror(errno));
        goto error_out;
    }

    /* The proxy thread must not take SIGINT/SIGTERM: they are for the owner's
     * thread, which then stops the proxy in order. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    atomic_store(&b->running, true);
    int rc = pthread_create(&b->thread, NULL, proxy_thread, b);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        atomic_store(&b->running, false);
        cw_error_set(err, CW_ERR_INTERNAL, "broker: cannot start the proxy thread: %s", strerror(rc));
        goto error_out;
    }
    b->thread_started = true;
    return b;

error_out:
    cw_broker_destroy(&b);
    return NULL;
}

const char *cw_broker_frontend(const cw_broker_t *b)
{
    return b ? b->frontend_ep : NULL;
}

const char *cw_broker_backend(const cw_broker_t *b)
{
    return b ? b->backend_ep : NULL;
}

int cw_broker_running(cw_broker_t *b)
{
    return b && atomic_load(&b->running);
}

int cw_broker_get_stats(cw_broker_t *b, cw_broker_stats_t *stats, cw_error_t *err)
{
    if (!b || !stats)
        return cw_error_set(err, CW_ERR_INVALID, "broker stats: bad arguments");
    memset(stats, 0, sizeof *stats);
    if (!atomic_load(&b->running))
        return cw_error_set(err, CW_ERR_IO, "broker proxy has stopped: %s", zmq_strerror(b->proxy_errno));
    if (zmq_send(b->control, "STATISTICS", strlen("STATISTICS"), 0) < 0)
        return cw_error_set(err, CW_ERR_IO, "broker: cannot ask the proxy for statistics: %s", zmq_strerror(errno));
    uint64_t values[BROKER_STATS_FRAMES] = {0};
    for (int i = 0; i < BROKER_STATS_FRAMES; i++) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, b->control, 0) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            return cw_error_set(err, CW_ERR_IO, "broker: no statistics from the proxy: %s", zmq_strerror(e));
        }
        if (zmq_msg_size(&part) == sizeof(uint64_t))
            memcpy(&values[i], zmq_msg_data(&part), sizeof(uint64_t));
        int more = zmq_msg_more(&part);
        zmq_msg_close(&part);
        if (!more)
            break;
    }
    stats->frontend_msgs_in = values[0];
    stats->frontend_bytes_in = values[1];
    stats->frontend_msgs_out = values[2];
    stats->frontend_bytes_out = values[3];
    stats->backend_msgs_in = values[4];
    stats->backend_bytes_in = values[5];
    stats->backend_msgs_out = values[6];
    stats->backend_bytes_out = values[7];
    return CW_OK;
}

void cw_broker_destroy(cw_broker_t **bp)
{
    if (!bp || !*bp)
        return;
    cw_broker_t *b = *bp;
    if (b->thread_started) {
        /* A wedged proxy only stops when its context ends; the CURVE one is
         * czmq's and ends with the process anyway. */
        if (atomic_load(&b->running) && zmq_send(b->control, "TERMINATE", strlen("TERMINATE"), 0) < 0)
            zmq_ctx_shutdown(b->ctx); /* the proxy then returns with ETERM */
        pthread_join(b->thread, NULL);
    }
    if (b->monitor)
        zmq_socket_monitor(b->frontend, NULL, 0);
    void *socks[] = {b->frontend, b->backend, b->control_proxy, b->control, b->monitor};
    for (size_t i = 0; i < sizeof socks / sizeof socks[0]; i++)
        if (socks[i])
            zmq_close(socks[i]);
    if (b->ctx && b->own_ctx) {
        while (zmq_ctx_term(b->ctx) != 0 && errno == EINTR)
            ; /* a signal while terminating: keep going */
    }
    cw_curve_keylist_destroy(&b->nodes);
    free(b);
    *bp = NULL;
}
