/* http.h - the daemon's HTTP endpoint for monitoring (libmicrohttpd).
 *
 * Serves, on one listening address:
 *   GET /metrics  the registry in the Prometheus text format (metrics.h)
 *   GET /health   the health callback's JSON with its status (200 or 503)
 * HEAD works like GET without the body. Other paths: 404; other methods on
 * these paths: 405 with an Allow header. Nothing is ever read from a request
 * body. At most 64 connections at once; an idle connection is closed after
 * 10 s, so a stuck client cannot hold the server.
 *
 * Requests are answered on the server's own thread (signals blocked there),
 * so the metrics registry and the health callback must be thread-safe.
 */
#ifndef CALLWATCH_HTTP_H
#define CALLWATCH_HTTP_H

#include "callwatch/error.h"
#include "callwatch/metrics.h"

typedef struct cw_http cw_http_t;

/* Fills *json with a malloc'd JSON document (NULL when out of memory) and
 * returns the HTTP status to send with it. Called on the server thread. */
typedef int (*cw_http_health_fn)(void *user, char **json);

/* listen: "HOST:PORT" or "[IPV6]:PORT"; HOST a name or an address (resolved
 * once, first address used); port 0 picks a free one (see cw_http_port()).
 * metrics and health are borrowed and must outlive the server; health NULL
 * makes /health always 200 {"status":"ok"}. Errors: CW_ERR_INVALID for a
 * malformed listen value or an unknown host, CW_ERR_BUSY "cannot listen on
 * HOST:PORT: Address already in use", CW_ERR_IO for other socket errors. */
cw_http_t *cw_http_new(const char *listen, cw_metrics_t *metrics, cw_http_health_fn health, void *user,
                       cw_error_t *err);

/* A bound, listening TCP socket (SO_REUSEADDR, close-on-exec) for listen as
 * above, its port in *port; -1 with err (messages start with what, e.g.
 * "metrics"). Shared with the web server (web.h). */
int cw_http_listener(const char *what, const char *listen, int *port, cw_error_t *err);

/* The TCP port actually listened on. */
int cw_http_port(const cw_http_t *h);

/* Stops the server (in-flight requests finish), closes the socket, frees,
 * NULLs *h. Accepts NULL. */
void cw_http_destroy(cw_http_t **h);

#endif
