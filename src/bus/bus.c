/* bus.c - see callwatch/bus.h */
#include "callwatch/bus.h"
#include "callwatch/zmqctx.h"

#include "callwatch/curve.h"

#include <errno.h>
#include <limits.h>
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

/* Bounds of the per-topic sequence maps. Topics carry call ids, so dead
 * topics must be forgotten. The publisher forgets a topic silent for 10
 * minutes: an ack that comes later than that after call_end restarts its
 * topic at 1, which subscribers take as a reset, not a loss. A subscriber
 * remembers twice as long, so a gap spanning a quiet spell is still counted.
 * 65536 topics (some 8 per call: thousands of concurrent calls) at about 100
 * bytes each bound either map to some 6 MiB. */
#define BUS_SEQ_TOPICS_MAX CW_BUS_SEQ_TOPICS_MAX
#define BUS_PUB_SEQ_IDLE_MS (10LL * 60 * 1000)
#define BUS_SUB_SEQ_IDLE_MS (20LL * 60 * 1000)

/* Kernel receive buffer of a subscriber made with cw_bus_sub_new_small(). */
#define BUS_SUB_SMALL_RCVBUF (16 * 1024)

/* Sockets that are not CURVE servers live in the process's one context (zmqctx.h). */
static void *bus_socket_open(int type, cw_error_t *err)
{
    return cw_zmq_socket_open(type, err);
}

static void bus_socket_close(void *sock)
{
    cw_zmq_socket_close(sock);
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
    cw_zmq_shutdown();
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

/* ---- per-topic sequence numbers (see bus.h, "Loss accounting") ----
 * A map from full topic to the last sequence number, bounded two ways: an
 * entry not used for idle_ms is forgotten, and beyond max entries the least
 * recently used one goes. Forgetting can only hide losses, never invent
 * them: a publisher restarts a forgotten topic at 1, which a subscriber
 * takes as a reset; a subscriber that forgot a topic takes its next message
 * as the first one. Hash chains for lookup, a recency list for eviction. */
typedef struct topic_seq {
    struct topic_seq *chain;         /* next in the same bucket */
    struct topic_seq *newer, *older; /* recency list */
    uint64_t hash;
    unsigned long long seq;
    int64_t used_ms;
    bool gapped; /* subscriber: a loss was counted in this topic */
    char topic[];
} topic_seq_t;

typedef struct seq_map {
    topic_seq_t **buckets;
    size_t n_buckets; /* power of two; grows with the entries up to max */
    size_t count, max;
    int64_t idle_ms;
    uint64_t seed; /* per map, so a peer cannot aim its topics at one bucket */
    topic_seq_t *newest, *oldest;
} seq_map_t;

#define SEQ_MAP_MIN_BUCKETS 64

static uint64_t topic_hash(const seq_map_t *m, const char *s)
{
    uint64_t h = 1469598103934665603ULL ^ m->seed; /* FNV-1a, seeded */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static void seq_map_init(seq_map_t *m, size_t max, int64_t idle_ms)
{
    memset(m, 0, sizeof *m);
    m->max = max;
    m->idle_ms = idle_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    m->seed = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)m;
}

static void seq_map_unlink(seq_map_t *m, topic_seq_t *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        m->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        m->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void seq_map_push_newest(seq_map_t *m, topic_seq_t *e)
{
    e->older = m->newest;
    e->newer = NULL;
    if (m->newest)
        m->newest->newer = e;
    else
        m->oldest = e;
    m->newest = e;
}

static void seq_map_remove_oldest(seq_map_t *m)
{
    topic_seq_t *e = m->oldest;
    topic_seq_t **p = &m->buckets[e->hash & (m->n_buckets - 1)];
    while (*p != e)
        p = &(*p)->chain;
    *p = e->chain;
    seq_map_unlink(m, e);
    m->count--;
    free(e);
}

static void seq_map_free(seq_map_t *m)
{
    while (m->oldest)
        seq_map_remove_oldest(m);
    free(m->buckets);
    m->buckets = NULL;
    m->n_buckets = 0;
}

/* Doubles the buckets when the chains would get long; a failed grow only
 * makes them longer. */
static void seq_map_grow(seq_map_t *m)
{
    size_t want = m->n_buckets ? m->n_buckets * 2 : SEQ_MAP_MIN_BUCKETS;
    topic_seq_t **nb = calloc(want, sizeof *nb);
    if (!nb)
        return;
    for (topic_seq_t *e = m->newest; e; e = e->older) {
        topic_seq_t **b = &nb[e->hash & (want - 1)];
        e->chain = *b;
        *b = e;
    }
    free(m->buckets);
    m->buckets = nb;
    m->n_buckets = want;
}

/* The entry for topic, made most recent; a new one (seq 0, *added true) if
 * unknown. NULL only when out of memory. Forgets idle entries first. */
static topic_seq_t *seq_map_get(seq_map_t *m, const char *topic, int64_t now_ms, bool *added)
{
    *added = false;
    while (m->oldest && now_ms - m->oldest->used_ms > m->idle_ms)
        seq_map_remove_oldest(m);
    uint64_t h = topic_hash(m, topic);
    if (m->n_buckets) {
        for (topic_seq_t *e = m->buckets[h & (m->n_buckets - 1)]; e; e = e->chain) {
            if (e->hash == h && strcmp(e->topic, topic) == 0) {
                seq_map_unlink(m, e);
                seq_map_push_newest(m, e);
                e->used_ms = now_ms;
                return e;
            }
        }
    }
    while (m->count >= m->max && m->oldest)
        seq_map_remove_oldest(m);
    if (m->count >= m->n_buckets && (m->n_buckets < m->max || !m->n_buckets))
        seq_map_grow(m);
    if (!m->n_buckets)
        return NULL;
    size_t len = strlen(topic);
    topic_seq_t *e = calloc(1, sizeof *e + len + 1);
    if (!e)
        return NULL;
    memcpy(e->topic, topic, len + 1);
    e->hash = h;
    e->used_ms = now_ms;
    topic_seq_t **b = &m->buckets[h & (m->n_buckets - 1)];
    e->chain = *b;
    *b = e;
    seq_map_push_newest(m, e);
    m->count++;
    *added = true;
    return e;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- publisher ---- */

typedef struct bus_pub {
    void *sock;
    bool curve_ctx;                  /* sock is in cw_curve_context() */
    char endpoint[BUS_ENDPOINT_MAX]; /* as bound, wildcards resolved */
    atomic_ullong dropped;           /* messages refused at the HWM */
    seq_map_t seqs;                  /* last seq per topic; writer thread only */
    void *monitor;                   /* PAIR: a CURVE node's handshakes with the broker; NULL otherwise */
    bool refused;                    /* the broker refused our key since the last accepted handshake */
} bus_pub_t;

/* A node publishing into a CURVE broker learns here whether the broker took
 * its key: libzmq reports handshakes only on a monitor socket. Logs a
 * refusal once until a handshake succeeds again. Writer thread. */
static void pub_watch_handshakes(bus_pub_t *pub)
{
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        zmq_msg_init(&addr);
        bool got = zmq_msg_recv(&ev, pub->monitor, ZMQ_DONTWAIT) >= 0 && zmq_msg_size(&ev) >= 6 &&
                   zmq_msg_recv(&addr, pub->monitor, 0) >= 0;
        uint16_t event = 0;
        uint32_t value = 0;
        if (got) {
            memcpy(&event, zmq_msg_data(&ev), sizeof event);
            memcpy(&value, (const char *)zmq_msg_data(&ev) + 2, sizeof value);
        }
        zmq_msg_close(&ev);
        zmq_msg_close(&addr);
        if (!got)
            return;
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
            pub->refused = false;
        } else if (!pub->refused) {
            pub->refused = true;
            if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
                fprintf(stderr, "callwatch: bus: the broker at %s refused this node's CURVE key (ZAP status %u): "
                                "put this node's public key in the broker's nodes directory\n", pub->endpoint, value);
            else
                fprintf(stderr, "callwatch: bus: CURVE handshake with the broker at %s failed (ZeroMQ protocol "
                                "error 0x%x): check [bus] curve_server_public is the broker's key\n", pub->endpoint,
                        value);
        }
    }
}

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
    if (pub->monitor)
        pub_watch_handshakes(pub);
    size_t topic_len = strnlen(ev->topic, sizeof ev->topic);
    if (topic_len == sizeof ev->topic)
        return cw_error_set(err, CW_ERR_INVALID, "bus %s: event topic is not terminated", pub->endpoint);
    /* Numbered before sending: a message the socket refuses is a loss every
     * subscriber of its topic will see as a gap. */
    bool added;
    topic_seq_t *entry = seq_map_get(&pub->seqs, ev->topic, now_ms(), &added);
    size_t body_len = ev->json_len;
    char *body = NULL;
    if (entry) {
        entry->seq++;
        body = cw_event_json_with_int(ev, "seq", (long long)entry->seq, &body_len);
        if (!body)
            entry->seq--; /* not numbered after all: no gap for subscribers */
    }
    if (!body) {
        /* Out of memory (or a body that is not an object): the event still
         * goes out, unnumbered, which subscribers accept without counting. */
        body_len = ev->json_len;
    }
    const char *send_body = body ? body : ev->json;
    if (pub_send_frame(pub->sock, ev->topic, topic_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) != 0) {
        int e = errno;
        free(body);
        if (e == EAGAIN) {
            /* Every subscriber queue is full: a PUB socket drops rather than
             * stall the pipeline. Not an error, but counted. */
            atomic_fetch_add(&pub->dropped, 1);
            return CW_OK;
        }
        return cw_error_set(err, CW_ERR_IO, "bus %s: cannot send topic %s: %s", pub->endpoint,
                            ev->topic, zmq_strerror(e));
    }
    /* libzmq accepts the rest of a multipart message once the first part
     * went in; should EAGAIN ever come here, finish the message blocking
     * rather than leave the socket mid-message (the next topic would be glued
     * to this one). */
    int rc = pub_send_frame(pub->sock, send_body, body_len, ZMQ_DONTWAIT);
    if (rc != 0 && errno == EAGAIN)
        rc = pub_send_frame(pub->sock, send_body, body_len, 0);
    int e = errno;
    free(body);
    if (rc != 0)
        return cw_error_set(err, CW_ERR_IO, "bus %s: cannot send event %s: %s", pub->endpoint,
                            ev->topic, zmq_strerror(e));
    return CW_OK;
}

static void pub_destroy(void *impl)
{
    bus_pub_t *pub = impl;
    if (!pub)
        return;
    if (pub->monitor) {
        zmq_socket_monitor(pub->sock, NULL, 0);
        bus_socket_close(pub->monitor);
    }
    if (pub->curve_ctx)
        zmq_close(pub->sock);
    else
        bus_socket_close(pub->sock);
    seq_map_free(&pub->seqs);
    free(pub);
}

static unsigned long long pub_dropped(const void *impl)
{
    const bus_pub_t *pub = impl;
    return atomic_load(&pub->dropped);
}

static const cw_sink_ops_t pub_ops = {
    .name = "bus",
    .write = pub_write,
    .destroy = pub_destroy,
    .dropped = pub_dropped,
};

cw_sink_t *cw_bus_publisher_new(const char *endpoint, int sndhwm, cw_error_t *err)
{
    return cw_bus_publisher_new_secure(endpoint, sndhwm, NULL, err);
}

/* A publisher with its counters set and no socket yet; NULL with err when
 * sndhwm is below 1 (libzmq reads 0 as "no limit": unbounded memory for a
 * stuck subscriber) or memory is short. */
static bus_pub_t *pub_alloc(const char *endpoint, int sndhwm, cw_error_t *err)
{
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
    seq_map_init(&pub->seqs, BUS_SEQ_TOPICS_MAX, BUS_PUB_SEQ_IDLE_MS);
    return pub;
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
    bus_pub_t *pub = pub_alloc(endpoint, sndhwm, err);
    if (!pub)
        return NULL;
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
    return cw_sink_impl(sink, &pub_ops) ? cw_sink_dropped(sink) : 0;
}

/* ---- subscriber ---- */

struct cw_bus_sub {
    void *sock;
    unsigned long malformed;
    cw_bus_sub_stats_t stats;
    seq_map_t seqs; /* last seq seen per topic */
};

static cw_bus_sub_t *sub_open(const char *endpoint, const char *topic_prefix, const cw_curve_client_t *curve,
                              int rcvhwm, cw_error_t *err);

cw_bus_sub_t *cw_bus_sub_new(const char *endpoint, const char *topic_prefix, cw_error_t *err)
{
    return cw_bus_sub_new_secure(endpoint, topic_prefix, NULL, err);
}

cw_bus_sub_t *cw_bus_sub_new_secure(const char *endpoint, const char *topic_prefix, const cw_curve_client_t *curve,
                                    cw_error_t *err)
{
    return sub_open(endpoint, topic_prefix, curve, 0, err);
}

cw_bus_sub_t *cw_bus_sub_new_small(const char *endpoint, const char *topic_prefix, int rcvhwm, cw_error_t *err)
{
    if (rcvhwm < 1) {
        cw_error_set(err, CW_ERR_INVALID, "bus %s: rcvhwm must be >= 1, got %d", endpoint ? endpoint : "", rcvhwm);
        return NULL;
    }
    return sub_open(endpoint, topic_prefix, NULL, rcvhwm, err);
}

static cw_bus_sub_t *sub_open(const char *endpoint, const char *topic_prefix, const cw_curve_client_t *curve,
                              int rcvhwm, cw_error_t *err)
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
    seq_map_init(&sub->seqs, BUS_SEQ_TOPICS_MAX, BUS_SUB_SEQ_IDLE_MS);
    sub->sock = bus_socket_open(ZMQ_SUB, err);
    if (!sub->sock)
        goto error_out;
    if (curve && cw_curve_client_apply(curve, sub->sock, err) != CW_OK)
        goto error_out;
    int64_t max_msg = BUS_SUB_MAX_MSG_BYTES;
    /* A tap never has anything to flush: close at once. */
    if (bus_set_int(sub->sock, ZMQ_LINGER, 0, "linger", err) != 0)
        goto error_out;
    /* A small queue also needs a small kernel buffer, else the kernel
     * holds megabytes the subscriber has not read (HWMs apply to the
     * connections made after they are set, so before connecting). */
    if (rcvhwm > 0 && (bus_set_int(sub->sock, ZMQ_RCVHWM, rcvhwm, "receive high-water mark", err) != 0 ||
                       bus_set_int(sub->sock, ZMQ_RCVBUF, BUS_SUB_SMALL_RCVBUF, "receive buffer", err) != 0))
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
    seq_map_free(&(*sub)->seqs);
    free(*sub);
    *sub = NULL;
}

unsigned long cw_bus_sub_malformed(const cw_bus_sub_t *sub)
{
    return sub ? sub->malformed : 0;
}

void cw_bus_sub_get_stats(const cw_bus_sub_t *sub, cw_bus_sub_stats_t *stats)
{
    if (!stats)
        return;
    memset(stats, 0, sizeof *stats);
    if (sub) {
        *stats = sub->stats;
        stats->malformed = sub->malformed;
    }
}

unsigned long long cw_bus_sub_missed(const cw_bus_sub_t *sub)
{
    return sub ? sub->stats.missed : 0;
}

int cw_bus_sub_summary(const cw_bus_sub_stats_t *stats, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return -1;
    if (!stats) {
        buf[0] = '\0';
        return -1;
    }
    return snprintf(buf, cap, "received %llu event%s, missed %llu (%llu topic%s with gaps)", stats->received,
                    stats->received == 1 ? "" : "s", stats->missed, stats->gap_topics,
                    stats->gap_topics == 1 ? "" : "s");
}

int cw_bus_missed_note(unsigned long long missed, char *buf, size_t cap)
{
    if (!buf || cap == 0)
        return -1;
    if (missed == 0) {
        buf[0] = '\0';
        return 0;
    }
    return snprintf(buf, cap, "missed %llu event%s", missed, missed == 1 ? "" : "s");
}

/* Adds b to *a, sticking at the maximum: a hostile publisher's huge seq
 * must not wrap the count around to something small. */
static void add_saturating(unsigned long long *a, unsigned long long b)
{
    *a = b > ULLONG_MAX - *a ? ULLONG_MAX : *a + b;
}

/* Counts what the gap before seq says about topic. */
static void sub_count_seq(cw_bus_sub_t *sub, const char *topic, unsigned long long seq)
{
    bool first;
    topic_seq_t *e = seq_map_get(&sub->seqs, topic, now_ms(), &first);
    if (!e)
        return; /* out of memory: this message goes uncounted */
    if (first) {
        /* Joined (or remembered it) late: what came before is not ours. */
    } else if (seq > e->seq) {
        unsigned long long gap = seq - e->seq - 1;
        if (gap > 0) {
            add_saturating(&sub->stats.missed, gap);
            if (!e->gapped) {
                e->gapped = true;
                sub->stats.gap_topics++;
            }
        }
    } else {
        sub->stats.resets++; /* the publisher restarted and numbers afresh */
    }
    e->seq = seq;
}

bool cw_bus_sub_accept(cw_bus_sub_t *sub, const char *topic, const void *body, size_t body_len)
{
    if (!sub || !topic || !body)
        return false;
    /* One parse serves both the check and the seq. json_loadb checks UTF-8
     * and rejects NUL bytes, as cw_bus_message_valid does. */
    json_t *obj = json_loadb(body, body_len, 0, NULL);
    if (!obj || !json_is_object(obj)) {
        json_decref(obj);
        sub->malformed++;
        return false;
    }
    sub->stats.received++;
    json_t *seq = json_object_get(obj, "seq");
    if (json_is_integer(seq) && json_integer_value(seq) >= 1)
        sub_count_seq(sub, topic, (unsigned long long)json_integer_value(seq));
    else
        sub->stats.unnumbered++;
    json_decref(obj);
    return true;
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
    /* The topic was checked as it arrived; the body is checked (and its
     * seq counted) by cw_bus_sub_accept, which counts a bad one. */
    if (bad || frames != 2 || !body) {
        free(body);
        sub->malformed++;
        return 0;
    }
    if (!cw_bus_sub_accept(sub, topic, body, body_len)) {
        free(body);
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
    bus_pub_t *pub = pub_alloc(endpoint, sndhwm, err);
    if (!pub)
        return NULL;
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
    if (curve) {
        char monitor_ep[64];
        snprintf(monitor_ep, sizeof monitor_ep, "inproc://callwatch-pub-monitor-%p", (void *)pub);
        if (zmq_socket_monitor(pub->sock, monitor_ep,
                               ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                   ZMQ_EVENT_HANDSHAKE_SUCCEEDED) != 0 ||
            !(pub->monitor = bus_socket_open(ZMQ_PAIR, err)) || zmq_connect(pub->monitor, monitor_ep) != 0) {
            if (!err->code)
                cw_error_set(err, CW_ERR_INTERNAL, "bus publisher to broker %s: cannot watch its handshakes: %s",
                             endpoint, zmq_strerror(errno));
            goto error_out;
        }
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
