/* zmqctx.c - see callwatch/zmqctx.h */
#include "callwatch/zmqctx.h"

#include <errno.h>
#include <pthread.h>
#include <zmq.h>

/* A mutex rather than pthread_once so cw_zmq_shutdown() can end the context
 * and a later use (the next test) can make a fresh one. */
static pthread_mutex_t ctx_lock = PTHREAD_MUTEX_INITIALIZER;
static void *ctx;
static int live_sockets;

void *cw_zmq_socket_open(int type, cw_error_t *err)
{
    pthread_mutex_lock(&ctx_lock);
    if (!ctx)
        ctx = zmq_ctx_new();
    if (!ctx) {
        int e = errno;
        pthread_mutex_unlock(&ctx_lock);
        cw_error_set(err, CW_ERR_INTERNAL, "cannot create ZeroMQ context: %s", zmq_strerror(e));
        return NULL;
    }
    void *sock = zmq_socket(ctx, type);
    int e = errno;
    if (sock)
        live_sockets++;
    pthread_mutex_unlock(&ctx_lock);
    if (!sock)
        cw_error_set(err, e == EMFILE ? CW_ERR_BUSY : CW_ERR_INTERNAL, "cannot create ZeroMQ socket: %s",
                     zmq_strerror(e));
    return sock;
}

void cw_zmq_socket_close(void *sock)
{
    if (!sock)
        return;
    zmq_close(sock);
    pthread_mutex_lock(&ctx_lock);
    live_sockets--;
    pthread_mutex_unlock(&ctx_lock);
}

void cw_zmq_shutdown(void)
{
    pthread_mutex_lock(&ctx_lock);
    void *old = NULL;
    if (live_sockets == 0) {
        old = ctx;
        ctx = NULL;
    }
    pthread_mutex_unlock(&ctx_lock);
    if (!old)
        return;
    while (zmq_ctx_term(old) != 0 && errno == EINTR)
        ; /* a signal arrived while lingering: keep terminating */
}
