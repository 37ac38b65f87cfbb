/* bus.c - see callwatch/bus.h */
#include "callwatch/bus.h"

#include "callwatch/curve.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

/* How long a closing publisher keeps trying to deliver queued messages when
 * the context is terminated: long enough for the last events to leave at
 * exit, short enough that a vanished subscriber cannot hang shutdown. */
#define BUS_PUB_LINGER_MS 1000

/* Largest message a subscriber accepts. libzmq drops the connection of a peer
 * that sends more (and reconnects), so a broken or hostile publisher cannot
 * make a tap allocate without bound. Events are a few kB. */
#define BUS_SUB_MAX_MSG_BYTES (16LL * 1024 * 1024)

#define BUS_ENDPOINT_MAX 1024

/* ---- the process-wide context ----
 * A mutex rather than pthread_once so cw_bus_shutdown() can end it and a
 * later use (the next test) can make a fresh one. live_sockets lets shutdown
 * refuse to terminate under open sockets, which would block forever. */
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static void *ctx;
static int live_sockets;

static void *bus_socket_open(int type, cw_error_t *err)
{
    void *sock = NULL;
    pthread_mutex_lock(&ctx_lock);
    if (!ctx)
        ctx = zmq_ctx_new();
    if (!ctx) {
        int e = errno;
        pthread_mutex_unlock(&ctx_lock);
        cw_error_set(err, CW_ERR_INTERNAL, "cannot create ZeroMQ context: %s", zmq_strerror(e));
        return NULL;
    }
    sock = zmq_socket(ctx, type);
    int e = errno;
    if (sock)
        live_sockets++;
    pthread_mutex_unlock(&ctx_lock);
    if (!sock)
        cw_error_set(err, e == EMFILE ? CW_ERR_BUSY : CW_ERR_INTERNAL,
                     "cannot create ZeroMQ socket: %s", zmq_strerror(e));
    return sock;
}

static void bus_socket_close(void *sock)
{
    if (!sock)
        return;
    zmq_close(sock);
    pthread_mutex_lock(&ctx_lock);
    live_sockets--;
    pthread_mutex_unlock(&ctx_lock);
}

/* A CURVE server socket lives in the context czmq's ZAP handler watches (see
 * curve.h), which czmq terminates at exit, so it is not counted in
 * live_sockets. */
static void *bus_curve_socket_open(int type, cw_error_t *err)
{
    void *curve_ctx = cw_curve_context();
    void *sock = curve_ctx ? zmq_socket(curve_ctx, type) : NULL;
    if (!sock)
        cw_error_set(err, CW_ERR_INTERNAL, "cannot create ZeroMQ CURVE socket: %s", zmq_strerror(errno));
    return sock;
}

static int bus_set_int(void *sock, int option, int value, const char *what, cw_error_t *err)
{
    if (zmq_setsockopt(sock, option, &value, sizeof value) != 0)
        return cw_error_set(err, CW_ERR_INTERNAL, "cannot set ZeroMQ %s: %s", what,
                            zmq_strerror(errno));
    return CW_OK;
}

void cw_bus_shutdown(void)
{
    pthread_mutex_lock(&ctx_lock);
    void *old = NULL;
    if (live_sockets == 0) {
        old = ctx;
        ctx = NULL;
    }
    /* else: a socket is still open; zmq_ctx_term would wait for it forever.
     * Leave the context to the process exit instead. */
    pthread_mutex_unlock(&ctx_lock);
    if (!old)
        return;
    while (zmq_ctx_term(old) != 0 && errno == EINTR)
        ; /* a signal arrived while lingering: keep terminating */
}

void *cw_bus_socket_open(int type, cw_error_t *err)
{
    return bus_socket_open(type, err);
}

void cw_bus_socket_close(void *sock)
{
    bus_socket_close(sock);
}

/* Status for a failed bind/connect: the caller's fault or the system's. */
static int endpoint_status(int e)
{
    switch (e) {
    case EADDRINUSE:
        return CW_ERR_BUSY;
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
    case EADDRNOTAVAIL:
    case ENODEV:
        return CW_ERR_INVALID;
    default:
        return CW_ERR_IO;
    }
}

/* ---- publisher ---- */

typedef struct bus_pub {
    void *sock;
    bool curve_ctx;                  /* sock is in cw_curve_context() */
    char endpoint[BUS_ENDPOINT_MAX]; /* as bound, wildcards resolved */
    atomic_ullong dropped;           /* messages refused at the HWM */
} bus_pub_t;

/* Sends one frame; retries when a signal interrupts. EAGAIN is returned
 * to the caller (the HWM). */
static int pub_send_frame(void *sock, const void *data, size_t len, int flags)
{
    for (;;) {
        if (zmq_send(sock, data, len, flags) >= 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

static int pub_write(void *impl, const cw_event_t *ev, cw_error_t *err)
{
    bus_pub_t *pub = impl;
    size_t topic_len = strnlen(ev->topic, sizeof ev->topic);
    if (pub_send_frame(pub->sock, ev->topic, topic_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) != 0) {
        if (errno == EAGAIN) {
            /* Every subscriber queue is full: a PUB socket drops rather than
             * stall the pipeline. Not an error, but counted. */
            atomic_fetch_add(&pub->dropped, 1);
            return CW_OK;
        }
        return cw_error_set(err, CW_ERR_IO, "bus %s: cannot send topic %s: %s", pub->endpoint,
                            ev->topic, zmq_strerror(errno));
    }
    /* libzmq accepts the rest of a multipart message once the first part
     * went in; should EAGAIN ever come here, finish the message blocking
     * rather than leave the socket mid-message (the next topic would be glued
     * to this one). */
    int rc = pub_send_frame(pub->sock, ev->json, ev->json_len, ZMQ_DONTWAIT);
    if (rc != 0 && errno == EAGAIN)
        rc = pub_send_frame(pub->sock, ev->json, ev->json_len, 0);
    if (rc != 0)
        return cw_error_set(err, CW_ERR_IO, "bus %s: cannot send event %s: %s", pub->endpoint,
                            ev->topic, zmq_strerror(errno));
    return CW_OK;
}

static void pub_destroy(void *impl)
{
    bus_pub_t *pub = impl;
    if (!pub)
        return;
    if (pub->curve_ctx)
        zmq_close(pub->sock);
    else
        bus_socket_close(pub->sock);
    free(pub);
}

static const cw_sink_ops_t pub_ops = {
    .name = "bus",
    .write = pub_write,
    .destroy = pub_destroy,
};

cw_sink_t *cw_bus_publisher_new(const char *endpoint, int sndhwm, cw_error_t *err)
{
    return cw_bus_publisher_new_secure(endpoint, sndhwm, NULL, err);
}

cw_sink_t *cw_bus_publisher_new_secure(const char *endpoint, int sndhwm, const cw_bus_security_t *sec,
                                       cw_error_t *err)
{
    static const cw_bus_security_t plain_local = {0};
    if (!sec)
        sec = &plain_local;
    if (!endpoint || !*endpoint) {
        cw_error_set(err, CW_ERR_INVALID, "bus endpoint is empty");
        return NULL;
    }
    if (cw_curve_check_plain_bind(endpoint, sec->curve != NULL, sec->allow_plain_remote,
                                  "[bus] allow_plain_remote", err) != CW_OK)
        return NULL;
    if (sndhwm < 1) {
        /* 0 would mean "no limit" to libzmq: unbounded memory for a stuck
         * subscriber. */
        cw_error_set(err, CW_ERR_INVALID, "bus %s: sndhwm must be >= 1, got %d", endpoint,
                     sndhwm);
        return NULL;
    }
    bus_pub_t *pub = calloc(1, sizeof *pub);
    if (!pub) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating bus publisher");
        return NULL;
    }
    atomic_init(&pub->dropped, 0);
    pub->curve_ctx = sec->curve != NULL;
    pub->sock = pub->curve_ctx ? bus_curve_socket_open(ZMQ_PUB, err) : bus_socket_open(ZMQ_PUB, err);
    if (!pub->sock)
        goto error_out;
    if (sec->curve && cw_curve_server_apply(sec->curve, pub->sock, err) != CW_OK)
        goto error_out;
    if (bus_set_int(pub->sock, ZMQ_SNDHWM, sndhwm, "send high-water mark", err) != 0 ||
        bus_set_int(pub->sock, ZMQ_LINGER, BUS_PUB_LINGER_MS, "linger", err) != 0)
        goto error_out;
    if (zmq_bind(pub->sock, endpoint) != 0) {
        int e = errno;
        int code = endpoint_status(e);
        if (code == CW_ERR_BUSY)
            cw_error_set(err, code, "cannot bind %s: %s (is another callwatch running?)",
                         endpoint, zmq_strerror(e));
        else if (code == CW_ERR_INVALID)
            cw_error_set(err, code,
                         "cannot bind %s: %s (expected tcp://HOST:PORT, tcp://HOST:* or "
                         "ipc:///PATH)",
                         endpoint, zmq_strerror(e));
        else
            cw_error_set(err, code, "cannot bind %s: %s", endpoint, zmq_strerror(e));
        goto error_out;
    }
    size_t len = sizeof pub->endpoint;
    if (zmq_getsockopt(pub->sock, ZMQ_LAST_ENDPOINT, pub->endpoint, &len) != 0) {
        /* Only the resolved port is lost: fall back to what was asked for. */
        snprintf(pub->endpoint, sizeof pub->endpoint, "%s", endpoint);
    }
    pub->endpoint[sizeof pub->endpoint - 1] = '\0';

    cw_sink_t *sink = cw_sink_wrap(&pub_ops, pub); /* destroys pub on failure */
    if (!sink)
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating bus publisher");
    return sink;

error_out:
    pub_destroy(pub);
    return NULL;
}

const char *cw_bus_publisher_endpoint(const cw_sink_t *sink)
{
    const bus_pub_t *pub = cw_sink_impl(sink, &pub_ops);
    return pub ? pub->endpoint : NULL;
}

unsigned long long cw_bus_publisher_dropped(const cw_sink_t *sink)
{
    bus_pub_t *pub = cw_sink_impl(sink, &pub_ops);
    return pub ? atomic_load(&pub->dropped) : 0;
}

/* ---- subscriber ---- */

struct cw_bus_sub {
    void *sock;
    unsigned long malformed;
};

cw_bus_sub_t *cw_bus_sub_new(const char *endpoint, const char *topic_prefix, cw_error_t *err)
{
    return cw_bus_sub_new_secure(endpoint, topic_prefix, NULL, err);
}

cw_bus_sub_t *cw_bus_sub_new_secure(const char *endpoint, const char *topic_prefix, const cw_curve_client_t *curve,
                                    cw_error_t *err)
{
    if (!endpoint || !*endpoint) {
        cw_error_set(err, CW_ERR_INVALID, "bus endpoint is empty");
        return NULL;
    }
    if (!topic_prefix)
        topic_prefix = "";
    cw_bus_sub_t *sub = calloc(1, sizeof *sub);
    if (!sub) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating bus subscriber");
        return NULL;
    }
    sub->sock = bus_socket_open(ZMQ_SUB, err);
    if (!sub->sock)
        goto error_out;
    if (curve && cw_curve_client_apply(curve, sub->sock, err) != CW_OK)
        goto error_out;
    int64_t max_msg = BUS_SUB_MAX_MSG_BYTES;
    /* A tap never has anything to flush: close at once. */
    if (bus_set_int(sub->sock, ZMQ_LINGER, 0, "linger", err) != 0)
        goto error_out;
    if (zmq_setsockopt(sub->sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg) != 0) {
        cw_error_set(err, CW_ERR_INTERNAL, "cannot set ZeroMQ max message size: %s",
                     zmq_strerror(errno));
        goto error_out;
    }
    if (zmq_setsockopt(sub->sock, ZMQ_SUBSCRIBE, topic_prefix, strlen(topic_prefix)) != 0) {
        cw_error_set(err, CW_ERR_INTERNAL, "cannot subscribe to \"%s\": %s", topic_prefix,
                     zmq_strerror(errno));
        goto error_out;
    }
    if (zmq_connect(sub->sock, endpoint) != 0) {
        int e = errno;
        int code = endpoint_status(e);
        cw_error_set(err, code == CW_ERR_BUSY ? CW_ERR_IO : code, "cannot connect to %s: %s",
                     endpoint, zmq_strerror(e));
        goto error_out;
    }
    return sub;

error_out:
    bus_socket_close(sub->sock);
    free(sub);
    return NULL;
}

void cw_bus_sub_destroy(cw_bus_sub_t **sub)
{
    if (!sub || !*sub)
        return;
    bus_socket_close((*sub)->sock);
    free(*sub);
    *sub = NULL;
}

unsigned long cw_bus_sub_malformed(const cw_bus_sub_t *sub)
{
    return sub ? sub->malformed : 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool cw_bus_message_valid(size_t frames, const void *topic, size_t topic_len, size_t topic_cap, const void *body,
                          size_t body_len)
{
    if (frames != 2 || !topic || !body || topic_len >= topic_cap || memchr(topic, '\0', topic_len))
        return false;
    /* json_loadb checks UTF-8 and rejects NUL bytes as well. */
    json_error_t jerr;
    json_t *obj = json_loadb(body, body_len, 0, &jerr);
    bool ok = obj && json_is_object(obj);
    json_decref(obj);
    return ok;
}

/* Reads one whole multipart message that zmq_poll said is there.
 * Returns 1 with topic and *json filled for a good message, 0 when there was
 * nothing after all or the message was malformed (counted), negative on a
 * socket error. A multipart message arrives atomically, so once its first
 * part is in, the rest is too and DONTWAIT never cuts it short. */
static int sub_read_message(cw_bus_sub_t *sub, char *topic, size_t topic_cap, char **json,
                            cw_error_t *err)
{
    size_t frames = 0;
    bool bad = false;
    bool nomem = false;
    char *body = NULL;
    size_t body_len = 0;
    for (;;) {
        zmq_msg_t part;
        zmq_msg_init(&part);
        if (zmq_msg_recv(&part, sub->sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&part);
            free(body);
            if (frames == 0 && (e == EAGAIN || e == EINTR))
                return 0;
            return cw_error_set(err, e == ETERM ? CW_ERR_INTERNAL : CW_ERR_IO,
                                "bus receive failed: %s", zmq_strerror(e));
        }
        frames++;
        const char *data = zmq_msg_data(&part);
        size_t size = zmq_msg_size(&part);
        if (frames == 1) {
            /* The topic must fit with its NUL and be a C string. */
            if (size >= topic_cap || memchr(data, '\0', size)) {
                bad = true;
            } else {
                memcpy(topic, data, size);
                topic[size] = '\0';
            }
        } else if (frames == 2 && !bad) {
            body = malloc(size + 1);
            if (body) {
                memcpy(body, data, size);
                body[size] = '\0';
                body_len = size;
            } else {
                nomem = true; /* keep draining the parts, then report */
            }
        }
        int more = zmq_msg_more(&part);
        zmq_msg_close(&part);
        if (!more)
            break;
    }
    if (nomem) {
        free(body);
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory receiving a bus message");
    }
    bad = bad || !cw_bus_message_valid(frames, topic, strlen(topic), topic_cap, body, body_len);
    if (bad) {
        free(body);
        sub->malformed++;
        return 0;
    }
    *json = body;
    return 1;
}

int cw_bus_sub_recv(cw_bus_sub_t *sub, char *topic, size_t topic_cap, char **json,
                    int timeout_ms, cw_error_t *err)
{
    if (json)
        *json = NULL;
    if (!sub || !topic || topic_cap == 0 || !json)
        return cw_error_set(err, CW_ERR_INVALID, "bus receive: bad arguments");
    int64_t deadline = timeout_ms < 0 ? 0 : now_ms() + timeout_ms;
    for (;;) {
        long wait_ms = -1;
        if (timeout_ms >= 0) {
            int64_t left = deadline - now_ms();
            wait_ms = left > 0 ? (long)left : 0;
        }
        zmq_pollitem_t item = {.socket = sub->sock, .events = ZMQ_POLLIN};
        int rc = zmq_poll(&item, 1, wait_ms);
        if (rc < 0) {
            int e = errno;
            if (e == EINTR)
                return 0; /* the caller checks its stop flag */
            return cw_error_set(err, e == ETERM ? CW_ERR_INTERNAL : CW_ERR_IO,
                                "bus poll failed: %s", zmq_strerror(e));
        }
        if (rc > 0) {
            rc = sub_read_message(sub, topic, topic_cap, json, err);
            if (rc != 0)
                return rc;
            /* Malformed or spurious: keep waiting for the rest of the time. */
        } else if (wait_ms >= 0 && deadline - now_ms() <= 0) {
            return 0;
        }
    }
}

/* ---- publisher, connect mode ---- */

cw_sink_t *cw_bus_publisher_connect(const char *endpoint, int sndhwm, cw_error_t *err)
{
    return cw_bus_publisher_connect_secure(endpoint, sndhwm, NULL, err);
}

cw_sink_t *cw_bus_publisher_connect_secure(const char *endpoint, int sndhwm, const cw_curve_client_t *curve,
                                           cw_error_t *err)
{
    if (!endpoint || !*endpoint) {
        cw_error_set(err, CW_ERR_INVALID, "bus endpoint is empty");
        return NULL;
    }
    if (sndhwm < 1) {
        cw_error_set(err, CW_ERR_INVALID, "bus %s: sndhwm must be >= 1, got %d", endpoint, sndhwm);
        return NULL;
    }
    bus_pub_t *pub = calloc(1, sizeof *pub);
    if (!pub) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating bus publisher");
        return NULL;
    }
    atomic_init(&pub->dropped, 0);
    pub->sock = bus_socket_open(ZMQ_PUB, err);
    if (!pub->sock)
        goto error_out;
    if (bus_set_int(pub->sock, ZMQ_SNDHWM, sndhwm, "send high-water mark", err) != 0 ||
        bus_set_int(pub->sock, ZMQ_LINGER, BUS_PUB_LINGER_MS, "linger", err) != 0)
        goto error_out;
    if (curve && cw_curve_client_apply(curve, pub->sock, err) != CW_OK) {
        cw_error_prefix(err, "bus publisher to broker %s", endpoint);
        goto error_out;
    }
    if (zmq_connect(pub->sock, endpoint) != 0) {
        int e = errno;
        int code = endpoint_status(e);
        cw_error_set(err, code == CW_ERR_BUSY ? CW_ERR_IO : code,
                     "cannot connect to broker %s: %s (expected tcp://HOST:PORT or ipc:///PATH)", endpoint,
                     zmq_strerror(e));
        goto error_out;
    }
    snprintf(pub->endpoint, sizeof pub->endpoint, "%s", endpoint);

    cw_sink_t *sink = cw_sink_wrap(&pub_ops, pub); /* destroys pub on failure */
    if (!sink)
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating bus publisher");
    return sink;

error_out:
    pub_destroy(pub);
    return NULL;
}
