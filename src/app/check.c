/* check.c - app_check_open(): what `run --check-config` opens for real. */
#include "app.h"

#include "callwatch/source.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

/* Binds a ZeroMQ socket of `type` to endpoint and closes it again. */
static int try_zmq_bind(int type, const char *endpoint, char *why, size_t cap)
{
    void *ctx = zmq_ctx_new();
    void *sock = ctx ? zmq_socket(ctx, type) : NULL;
    int rc = -1;
    if (sock) {
        int linger = 0;
        zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
        rc = zmq_bind(sock, endpoint);
        if (rc != 0)
            snprintf(why, cap, "cannot bind: %s", zmq_strerror(zmq_errno()));
        zmq_close(sock);
    } else {
        snprintf(why, cap, "cannot create a ZeroMQ socket: %s", zmq_strerror(zmq_errno()));
    }
    if (ctx)
        zmq_ctx_term(ctx);
    return rc;
}

/* Binds a TCP socket to HOST:PORT (the [metrics]/[audiosocket] listen form,
 * already validated by the config) and closes it again. */
static int try_tcp_bind(const char *listen_on, char *why, size_t cap)
{
    char host[CW_PATH_MAX];
    snprintf(host, sizeof host, "%s", listen_on);
    char *colon = strrchr(host, ':');
    if (!colon)
        return snprintf(why, cap, "not HOST:PORT"), -1;
    *colon = '\0';
    const char *port = colon + 1;
    char *h = host;
    if (h[0] == '[') {
        h++;
        h[strcspn(h, "]")] = '\0';
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *ai = NULL;
    int gai = getaddrinfo(strcmp(h, "*") == 0 || !*h ? NULL : h, port, &hints, &ai);
    if (gai != 0)
        return snprintf(why, cap, "cannot resolve: %s", gai_strerror(gai)), -1;
    int fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol), rc = -1;
    int one = 1;
    if (fd >= 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0 &&
        bind(fd, ai->ai_addr, ai->ai_addrlen) == 0)
        rc = 0;
    else
        snprintf(why, cap, "cannot bind: %s", strerror(errno));
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
    return rc;
}

/* Opens a line's source (device or file) and closes it again. */
static int try_line(const cw_config_t *cfg, const cw_line_config_t *l, bool *pa_up, char *why, size_t cap)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_source_t *src = NULL;
    if (l->file[0]) {
        cw_file_source_opts_t fo = {.path = l->file, .agent_channel = l->agent_channel,
                                    .customer_channel = l->customer_channel, .mono_leg = -1};
        src = cw_source_file_new(&fo, &err);
    } else {
        if (!*pa_up && cw_portaudio_init(&err) != CW_OK)
            return snprintf(why, cap, "%s", err.msg), -1;
        *pa_up = true;
        src = cw_source_portaudio_new(l, cfg, &err);
    }
    if (!src)
        return snprintf(why, cap, "%s", err.msg), -1;
    snprintf(why, cap, "%s", cw_source_info(src)->description);
    cw_source_destroy(&src);
    return 0;
}

static void report(const char *what, int rc, const char *why, int *failed)
{
    if (rc == 0) {
        printf("  open %s: OK%s%s\n", what, why[0] ? ", " : "", why);
    } else {
        printf("  open %s: FAILED: %s\n", what, why);
        app_log("check-config: %s: %s", what, why);
        (*failed)++;
    }
}

int app_check_open(const cw_config_t *cfg)
{
    int failed = 0;
    char what[CW_PATH_MAX + CW_NAME_MAX + 64], why[CW_ERROR_MAX + 64];
    bool pa_up = false;
    for (int i = 0; i < cfg->n_lines; i++) {
        const cw_line_config_t *l = &cfg->lines[i];
        snprintf(what, sizeof what, "[line %s] %s '%s'", l->name, l->file[0] ? "file" : "device",
                 l->file[0] ? l->file : l->device[0] ? l->device : l->agent_device);
        why[0] = '\0';
        report(what, try_line(cfg, l, &pa_up, why, sizeof why), why, &failed);
    }
    if (pa_up)
        cw_portaudio_terminate();
    if (strcmp(cfg->bus_mode, "connect") != 0) {
        snprintf(what, sizeof what, "[bus] endpoint %s", cfg->bus_endpoint);
        why[0] = '\0';
        report(what, try_zmq_bind(ZMQ_PUB, cfg->bus_endpoint, why, sizeof why), why, &failed);
    }
    snprintf(what, sizeof what, "[bus] ack_endpoint %s", cfg->bus_ack_endpoint);
    why[0] = '\0';
    report(what, try_zmq_bind(ZMQ_REP, cfg->bus_ack_endpoint, why, sizeof why), why, &failed);
    const char *listens[][2] = {{"[metrics] listen", cfg->metrics_listen},
                                {"[audiosocket] listen", cfg->audiosocket_listen},
                                {"[websocket] listen", cfg->websocket_listen}};
    for (size_t i = 0; i < sizeof listens / sizeof listens[0]; i++) {
        if (!listens[i][1][0])
            continue;
        snprintf(what, sizeof what, "%s %s", listens[i][0], listens[i][1]);
        why[0] = '\0';
        report(what, try_tcp_bind(listens[i][1], why, sizeof why), why, &failed);
    }
    return failed;
}
