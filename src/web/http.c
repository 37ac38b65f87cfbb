/* http.c - see callwatch/http.h */
#include "callwatch/http.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#define HTTP_MAX_CONNECTIONS 64u
#define HTTP_IDLE_TIMEOUT_S 10u
#define HTTP_HOST_MAX 256

struct cw_http {
    struct MHD_Daemon *daemon;
    cw_metrics_t *metrics;
    cw_http_health_fn health;
    void *user;
    int port;
};

/* Queues a response whose body is `body` (malloc'd, taken over; NULL means
 * out of memory, answered 500). */
static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, char *body, size_t len,
                               const char *content_type)
{
    if (!body) {
        static const char oom[] = "out of memory\n";
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        body = strdup(oom);
        len = body ? strlen(body) : 0;
        content_type = "text/plain; charset=utf-8";
        if (!body)
            return MHD_NO; /* MHD closes the connection */
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result respond_text(struct MHD_Connection *conn, unsigned status, const char *text)
{
    char *body = strdup(text);
    return respond(conn, status, body, body ? strlen(body) : 0, "text/plain; charset=utf-8");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    (void)version;
    (void)upload_data;
    cw_http_t *h = cls;
    /* Any body is ignored: we answer on the first call, before MHD reads it. */
    (void)upload_data_size;
    (void)con_cls;
    bool is_metrics = strcmp(url, "/metrics") == 0;
    bool is_health = strcmp(url, "/health") == 0;
    if (!is_metrics && !is_health)
        return respond_text(conn, MHD_HTTP_NOT_FOUND, "not found; try /metrics or /health\n");
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return respond_text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    if (is_metrics) {
        char *text = NULL;
        size_t len = 0;
        cw_error_t err;
        cw_error_clear(&err);
        if (cw_metrics_render(h->metrics, &text, &len, &err) != CW_OK)
            text = NULL;
        return respond(conn, MHD_HTTP_OK, text, len, CW_METRICS_CONTENT_TYPE);
    }
    char *json = NULL;
    int status = MHD_HTTP_OK;
    if (h->health)
        status = h->health(h->user, &json);
    else
        json = strdup("{\"status\":\"ok\"}");
    size_t len = json ? strlen(json) : 0;
    /* A newline so that `curl` output ends its line; still one JSON document. */
    char *body = json ? realloc(json, len + 2) : NULL;
    if (body) {
        body[len] = '\n';
        body[len + 1] = '\0';
        len++;
    } else {
        free(json);
    }
    return respond(conn, (unsigned)status, body, len, "application/json");
}

/* Splits "HOST:PORT" / "[V6]:PORT". */
static bool split_listen(const char *listen, char *host, size_t host_cap, char *port, size_t port_cap)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1] || strlen(colon + 1) >= port_cap)
        return false;
    const char *h = listen;
    size_t hlen = (size_t)(colon - listen);
    if (h[0] == '[') {
        if (hlen < 3 || h[hlen - 1] != ']')
            return false;
        h++;
        hlen -= 2;
    }
    if (hlen >= host_cap)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    snprintf(port, port_cap, "%s", colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return false;
    return true;
}

/* A bound, listening socket for listen, or -1 with err. */
static int open_listener(const char *listen_on, int *port_out, cw_error_t *err)
{
    char host[HTTP_HOST_MAX], port[8];
    if (!split_listen(listen_on, host, sizeof host, port, sizeof port)) {
        cw_error_set(err, CW_ERR_INVALID, "metrics listen '%s': expected HOST:PORT, e.g. 127.0.0.1:9464", listen_on);
        return -1;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        cw_error_set(err, CW_ERR_INVALID, "metrics listen '%s': cannot resolve '%s': %s", listen_on, host,
                     gai_strerror(gai));
        return -1;
    }
    int fd = socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
    if (fd < 0) {
        cw_error_set(err, CW_ERR_IO, "metrics listen '%s': cannot create a socket: %s", listen_on, strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    /* A restarted daemon can take its port back while old connections are
     * in TIME_WAIT; a live listener still makes bind fail. */
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 16) != 0) {
        int e = errno;
        cw_error_set(err, e == EADDRINUSE ? CW_ERR_BUSY : (e == EADDRNOTAVAIL ? CW_ERR_INVALID : CW_ERR_IO),
                     "cannot listen on %s: %s%s", listen_on, strerror(e),
                     e == EADDRINUSE ? " (is another callwatch running?)" : "");
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    struct sockaddr_storage bound;
    socklen_t blen = sizeof bound;
    *port_out = 0;
    if (getsockname(fd, (struct sockaddr *)&bound, &blen) == 0) {
        if (bound.ss_family == AF_INET)
            *port_out = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        else if (bound.ss_family == AF_INET6)
            *port_out = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    }
    return fd;
}

cw_http_t *cw_http_new(const char *listen_on, cw_metrics_t *metrics, cw_http_health_fn health, void *user,
                       cw_error_t *err)
{
    if (!listen_on || !*listen_on || !metrics) {
        cw_error_set(err, CW_ERR_INVALID, "http: needs a listen address and a metrics registry");
        return NULL;
    }
    cw_http_t *h = calloc(1, sizeof *h);
    if (!h) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the HTTP server");
        return NULL;
    }
    h->metrics = metrics;
    h->health = health;
    h->user = user;
    int fd = open_listener(listen_on, &h->port, err);
    if (fd < 0) {
        free(h);
        return NULL;
    }
    /* The server thread inherits this mask: SIGINT/SIGTERM stay with the
     * daemon's thread. */
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    h->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, on_request, h,
                                 MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, HTTP_MAX_CONNECTIONS,
                                 MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_TIMEOUT_S, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!h->daemon) {
        cw_error_set(err, CW_ERR_INTERNAL, "cannot start the HTTP server on %s", listen_on);
        close(fd);
        free(h);
        return NULL;
    }
    return h;
}

int cw_http_port(const cw_http_t *h)
{
    return h ? h->port : 0;
}

void cw_http_destroy(cw_http_t **hp)
{
    if (!hp || !*hp)
        return;
    /* Stopping also closes the listening socket handed over at start. */
    MHD_stop_daemon((*hp)->daemon);
    free(*hp);
    *hp = NULL;
}
