/* zmqctx.h - the process's one ZeroMQ context.
 *
 * Every ZeroMQ socket of callwatch that is not a CURVE server (curve.h) lives
 * in one context, created on first use: the bus (bus.h), the ack channels
 * (acks.h) and the link to a central archiver (archive_remote.h) share it.
 * The context counts its open sockets so cw_zmq_shutdown() never terminates
 * it under one (zmq_ctx_term would block forever).
 *
 * Thread rules: all three functions may be called from any thread; a socket
 * itself belongs to one thread at a time, as libzmq requires.
 */
#ifndef CALLWATCH_ZMQCTX_H
#define CALLWATCH_ZMQCTX_H

#include "callwatch/error.h"

/* A raw libzmq socket of `type` (ZMQ_REP, ZMQ_REQ, ...) on the process-wide
 * context, counted until cw_zmq_socket_close(). NULL with a message on
 * failure (CW_ERR_BUSY when the process is out of file descriptors). */
void *cw_zmq_socket_open(int type, cw_error_t *err);

/* Closes a socket from cw_zmq_socket_open(); accepts NULL. */
void cw_zmq_socket_close(void *sock);

/* Terminates the context once no counted socket is open (else leaves it to
 * the process's exit); the next cw_zmq_socket_open() makes a fresh one. */
void cw_zmq_shutdown(void);

#endif
