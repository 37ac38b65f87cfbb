/* archive_remote.c - see callwatch/archive_remote.h */
#include "callwatch/archive_remote.h"

#include "callwatch/zmqctx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* A batch goes in requests of at most this many events and bytes (a batch
 * that piled up while the archiver was away can be large); each is
 * answered before the next is sent. */
#define REMOTE_CHUNK_EVENTS 1000
#define REMOTE_CHUNK_BYTES (8u << 20)

typedef struct frame {
    char *topic;
    char *json;
} frame_t;

struct cw_archive_remote {
    char endpoint[512];
    int timeout_ms;
    void *sock;        /* REQ, made on the first commit */
    frame_t *batch;
    size_t n, cap;
};

bool cw_archive_remote_is_endpoint(const char *text)
{
    return text && (strncmp(text, "tcp://", 6) == 0 || strncmp(text, "ipc://", 6) == 0);
}

cw_archive_remote_t *cw_archive_remote_open(const char *endpoint, int timeout_ms, cw_error_t *err)
{
    if (!cw_archive_remote_is_endpoint(endpoint) || strlen(endpoint) >= 512) {
        cw_error_set(err, CW_ERR_INVALID, "archiver endpoint '%s': expected tcp://HOST:PORT or ipc://PATH",
                     endpoint ? endpoint : "");
        return NULL;
    }
    cw_archive_remote_t *r = calloc(1, sizeof *r);
    if (!r) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(r->endpoint, sizeof r->endpoint, "%s", endpoint);
    r->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    return r;
}

void cw_archive_remote_rollback(cw_archive_remote_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->batch[i].topic);
        free(r->batch[i].json);
    }
    r->n = 0;
}

void cw_archive_remote_begin(cw_archive_remote_t *r)
{
    cw_archive_remote_rollback(r);
}

static void drop_socket(cw_archive_remote_t *r)
{
    if (!r->sock)
        return;
    int zero = 0;
    zmq_setsockopt(r->sock, ZMQ_LINGER, &zero, sizeof zero);
    cw_zmq_socket_close(r->sock);
    r->sock = NULL;
}

void cw_archive_remote_close(cw_archive_remote_t **rp)
{
    if (!rp || !*rp)
        return;
    cw_archive_remote_rollback(*rp);
    drop_socket(*rp);
    free((*rp)->batch);
    free(*rp);
    *rp = NULL;
}

int cw_archive_remote_store(cw_archive_remote_t *r, const char *topic, const char *json, cw_error_t *err)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 64;
        frame_t *more = realloc(r->batch, cap * sizeof *more);
        if (!more)
            return cw_error_set(err, CW_ERR_NOMEM, "archiver %s: out of memory", r->endpoint);
        r->batch = more;
        r->cap = cap;
    }
    frame_t *f = &r->batch[r->n];
    f->topic = strdup(topic);
    f->json = strdup(json);
    if (!f->topic || !f->json) {
        free(f->topic);
        free(f->json);
        return cw_error_set(err, CW_ERR_NOMEM, "archiver %s: out of memory", r->endpoint);
    }
    r->n++;
    return CW_OK;
}

/* A socket error: the socket goes (a REQ that lost its answer is stuck). */
static int fail(cw_archive_remote_t *r, cw_error_t *err, const char *what)
{
    drop_socket(r);
    return cw_error_set(err, CW_ERR_IO, "archiver %s: %s", r->endpoint, what);
}

/* Sends events [from, to) as one request. */
static int send_chunk(cw_archive_remote_t *r, size_t from, size_t to, cw_error_t *err)
{
    if (!r->sock) {
        r->sock = cw_zmq_socket_open(ZMQ_REQ, err);
        if (!r->sock)
            return err->code;
        int zero = 0;
        zmq_setsockopt(r->sock, ZMQ_LINGER, &zero, sizeof zero);
        if (zmq_connect(r->sock, r->endpoint) != 0) {
            char why[256];
            snprintf(why, sizeof why, "cannot connect: %s", zmq_strerror(errno));
            return fail(r, err, why);
        }
    }
    bool ok = zmq_send(r->sock, CW_ARCHIVE_REMOTE_PROTO, strlen(CW_ARCHIVE_REMOTE_PROTO),
                       to > from ? ZMQ_SNDMORE | ZMQ_DONTWAIT : ZMQ_DONTWAIT) >= 0;
    for (size_t i = from; ok && i < to; i++) {
        ok = zmq_send(r->sock, r->batch[i].topic, strlen(r->batch[i].topic), ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
             zmq_send(r->sock, r->batch[i].json, strlen(r->batch[i].json),
                      (i + 1 < to ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT) >= 0;
    }
    if (!ok) {
        char why[256];
        snprintf(why, sizeof why, "cannot send: %s", zmq_strerror(errno));
        return fail(r, err, why);
    }
    return CW_OK;
}

/* Sends [from, to) and waits for the archiver's answer. */
static int commit_chunk(cw_archive_remote_t *r, size_t from, size_t to, cw_error_t *err)
{
    if (send_chunk(r, from, to, err) != CW_OK)
        return err->code;
    zmq_pollitem_t item = {.socket = r->sock, .events = ZMQ_POLLIN};
    int rc = zmq_poll(&item, 1, r->timeout_ms);
    if (rc <= 0) {
        char why[128];
        snprintf(why, sizeof why, "no answer within %d ms (is `callwatch archiver` running?)", r->timeout_ms);
        return fail(r, err, rc < 0 ? zmq_strerror(errno) : why);
    }
    char reply[512];
    int len = zmq_recv(r->sock, reply, sizeof reply - 1, 0);
    if (len < 0)
        return fail(r, err, zmq_strerror(errno));
    reply[len < (int)sizeof reply - 1 ? len : (int)sizeof reply - 1] = '\0';
    int more = 0;
    size_t more_len = sizeof more;
    zmq_getsockopt(r->sock, ZMQ_RCVMORE, &more, &more_len);
    if (more)
        return fail(r, err, "a malformed answer (several frames)");
    if (strcmp(reply, "ok") != 0)
        return cw_error_set(err, CW_ERR_IO, "archiver %s: %s", r->endpoint, reply);
    return CW_OK;
}

int cw_archive_remote_commit(cw_archive_remote_t *r, cw_error_t *err)
{
    /* A failure part way fails the batch; the chunks already committed come
     * again with the retry and the archive's idempotent inserts drop them. */
    size_t from = 0;
    do {
        size_t to = from, bytes = 0;
        while (to < r->n && to - from < REMOTE_CHUNK_EVENTS && (to == from || bytes < REMOTE_CHUNK_BYTES)) {
            bytes += strlen(r->batch[to].topic) + strlen(r->batch[to].json);
            to++;
        }
        if (commit_chunk(r, from, to, err) != CW_OK)
            return err->code;
        from = to;
    } while (from < r->n);
    cw_archive_remote_rollback(r);
    return CW_OK;
}
