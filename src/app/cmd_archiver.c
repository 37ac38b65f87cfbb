/* cmd_archiver.c - `callwatch archiver`: the central archive of many nodes.
 *
 * Nodes with [archive] url = tcp://THIS:PORT hand each batch of their events
 * here (archive_remote.h) before they publish it; this commits the batch to
 * its own archive ([archive] url, normally PostgreSQL) in one transaction and
 * only then answers "ok", so an event on the bus is in the archive whether
 * this process, a node or the database went away in between (the node
 * retries, idempotent inserts drop replayed copies).
 */
#include "app.h"

#include "callwatch/archive.h"
#include "callwatch/archive_remote.h"
#include "callwatch/zmqctx.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* Retention runs this often (and at start). */
#define ARCHIVER_RETENTION_EVERY_S 3600.0
/* Totals are logged this often, so a quiet archiver is told from a dead one. */
#define ARCHIVER_LOG_INTERVAL_S 60.0
/* Longest request taken: a batch is a few kB per event. */
#define ARCHIVER_MAX_MESSAGE (64LL * 1024 * 1024)

static void archiver_usage(FILE *out)
{
    fputs("usage: callwatch archiver --listen EP [-c FILE] [--db URL|FILE]\n"
          "\n"
          "The central archive of many nodes: nodes whose [archive] url is this\n"
          "endpoint (tcp://HOST:PORT) hand it each batch of events before they publish\n"
          "the batch; it commits the batch to its archive and then answers. Stops on\n"
          "SIGINT/SIGTERM. Without CURVE (not available here), an endpoint other\n"
          "machines can reach is refused unless [bus] allow_plain_remote = true.\n"
          "\n"
          "options:\n"
          "      --listen EP     bind here (tcp://*:5560, tcp://127.0.0.1:5560, ipc://PATH)\n"
          "  -c, --config FILE   take [archive] url (or path), retention_days and\n"
          "                      [bus] allow_plain_remote from FILE\n"
          "      --db URL|FILE   the archive to write (default: [archive] url, else path)\n"
          "  -h, --help          this help\n",
          out);
}

static void archiver_warn(void *user, const char *msg)
{
    (void)user;
    app_log("%s", msg);
}

typedef struct archiver {
    cw_archive_t *archive;
    void *sock;
    int retention_days;
    unsigned long long batches, events, rejected, failures;
} archiver_t;

/* Stores one event of a request; the frames are topic and JSON. */
static int store_frame(archiver_t *ar, zmq_msg_t *topic_frame, zmq_msg_t *json_frame, cw_error_t *err)
{
    char topic[CW_TOPIC_MAX];
    size_t tlen = zmq_msg_size(topic_frame);
    snprintf(topic, sizeof topic, "%.*s", (int)(tlen < sizeof topic ? tlen : sizeof topic - 1),
             (const char *)zmq_msg_data(topic_frame));
    size_t jlen = zmq_msg_size(json_frame);
    char *json = malloc(jlen + 1);
    if (!json)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory");
    memcpy(json, zmq_msg_data(json_frame), jlen);
    json[jlen] = '\0';
    int rc = cw_archive_store_json(ar->archive, topic, json, err);
    free(json);
    return rc;
}

/* Stores the batch of one request (frames after the protocol frame: topic,
 * JSON, ...) in one transaction. Events that are not event JSON or that the
 * database refuses are left out and counted (after a refusal the batch is
 * done again with a savepoint per event); anything else fails the batch,
 * which the node sends again. */
static int store_batch(archiver_t *ar, zmq_msg_t *frames, size_t n, cw_error_t *err)
{
    unsigned long long rejected;
    cw_archive_set_careful(ar->archive, false);
    for (;;) {
        rejected = 0;
        if (cw_archive_begin(ar->archive, err) != CW_OK)
            return err->code;
        bool redo = false;
        for (size_t i = 0; i + 1 < n && !redo; i += 2) {
            cw_error_t e;
            cw_error_clear(&e);
            int rc = store_frame(ar, &frames[i], &frames[i + 1], &e);
            if (rc == CW_ERR_INVALID) {
                redo = cw_archive_spoils_on_refusal(ar->archive);
                if (!redo && rejected++ == 0)
                    app_log("archiver: event not archived: %s", e.msg);
            } else if (rc != CW_OK) {
                cw_archive_rollback(ar->archive);
                *err = e;
                return rc;
            }
        }
        if (!redo)
            break;
        cw_archive_rollback(ar->archive);
        cw_archive_set_careful(ar->archive, true);
    }
    ar->rejected += rejected;
    int status = cw_archive_commit(ar->archive, err);
    cw_archive_set_careful(ar->archive, false);
    return status;
}

/* Receives all frames of one request into *frames (malloc'd, *n of them);
 * false when out of memory (the rest of the request is drained). */
static bool receive_request(void *sock, zmq_msg_t **frames, size_t *n)
{
    size_t cap = 0;
    bool ok = true;
    int more = 1;
    *frames = NULL;
    *n = 0;
    while (more) {
        if (ok && *n == cap) {
            zmq_msg_t *bigger = realloc(*frames, (cap ? 2 * cap : 64) * sizeof *bigger);
            ok = bigger != NULL;
            if (ok) {
                *frames = bigger;
                cap = cap ? 2 * cap : 64;
            }
        }
        zmq_msg_t drain;
        zmq_msg_t *m = ok ? &(*frames)[*n] : &drain;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, 0) < 0) {
            zmq_msg_close(m);
            break;
        }
        more = zmq_msg_more(m);
        if (ok)
            (*n)++;
        else
            zmq_msg_close(m);
    }
    return ok;
}

/* Receives one request, stores it and answers. */
static void serve_one(archiver_t *ar)
{
    zmq_msg_t *frames = NULL;
    size_t n = 0;
    bool received = receive_request(ar->sock, &frames, &n);
    const char *proto = CW_ARCHIVE_REMOTE_PROTO;
    char answer[CW_ERROR_MAX + 16] = "ok";
    cw_error_t err;
    cw_error_clear(&err);
    if (!received) {
        snprintf(answer, sizeof answer, "error: out of memory");
        ar->failures++;
    } else if (n < 1 || n % 2 != 1 || zmq_msg_size(&frames[0]) != strlen(proto) ||
               memcmp(zmq_msg_data(&frames[0]), proto, strlen(proto)) != 0) {
        snprintf(answer, sizeof answer, "error: not a %s request", proto);
        ar->failures++;
    } else if (store_batch(ar, frames + 1, n - 1, &err) != CW_OK) {
        snprintf(answer, sizeof answer, "error: %s", err.msg);
        app_log("archiver: a batch of %zu event(s) not archived (the node will send it again): %s", (n - 1) / 2,
                err.msg);
        ar->failures++;
    } else {
        ar->batches++;
        ar->events += (n - 1) / 2;
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&frames[i]);
    free(frames);
    zmq_send(ar->sock, answer, strlen(answer), 0);
}

static void log_totals(const archiver_t *ar, const char *when)
{
    app_log("archiver%s: %llu event(s) in %llu batch(es) archived, %llu batch(es) failed, %llu event(s) rejected",
            when, ar->events, ar->batches, ar->failures, ar->rejected);
}

static int serve(archiver_t *ar)
{
    double next_prune = app_monotonic_s() + ARCHIVER_RETENTION_EVERY_S;
    double next_log = app_monotonic_s() + ARCHIVER_LOG_INTERVAL_S;
    while (!app_stop_requested) {
        zmq_pollitem_t item = {.socket = ar->sock, .events = ZMQ_POLLIN};
        int rc = zmq_poll(&item, 1, 200);
        if (rc > 0)
            serve_one(ar);
        else if (rc < 0 && zmq_errno() != EINTR) {
            app_log("archiver: %s", zmq_strerror(zmq_errno()));
            return APP_FAILURE;
        }
        double now = app_monotonic_s();
        if (ar->retention_days > 0 && now >= next_prune) {
            cw_error_t err;
            cw_error_clear(&err);
            if (cw_archive_prune(ar->archive, ar->retention_days, &err) < 0)
                app_log("archiver: retention failed: %s", err.msg);
            next_prune = now + ARCHIVER_RETENTION_EVERY_S;
        }
        if (now >= next_log) {
            log_totals(ar, "");
            next_log = now + ARCHIVER_LOG_INTERVAL_S;
        }
    }
    return APP_OK;
}

/* Opens the archive and binds; logs and returns the exit status on failure. */
static int start(archiver_t *ar, const cw_config_t *cfg, const char *target, const char *listen)
{
    char name[512];
    if (!target[0] || cw_archive_remote_is_endpoint(target)) {
        app_log("archiver: no archive to write: give --db URL or set [archive] url (a postgresql:// URL) in %s",
                cfg->source_path);
        return APP_USAGE;
    }
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_curve_check_plain_bind(listen, false, strcmp(cfg->bus_allow_plain_remote, "true") == 0,
                                  "[bus] allow_plain_remote", &err) != CW_OK) {
        app_log("archiver: %s", err.msg);
        return APP_USAGE;
    }
    cw_archive_opts_t o = {.create = true, .retention_days = cfg->archive_retention_days, .warn = archiver_warn};
    ar->retention_days = cfg->archive_retention_days;
    ar->archive = cw_archive_open(target, &o, &err);
    if (!ar->archive) {
        app_log("%s%s", cw_archive_pg_is_url(target) ? "[archive] url: " : "", err.msg);
        return APP_FAILURE;
    }
    ar->sock = cw_zmq_socket_open(ZMQ_REP, &err);
    long long max = ARCHIVER_MAX_MESSAGE;
    if (ar->sock)
        zmq_setsockopt(ar->sock, ZMQ_MAXMSGSIZE, &max, sizeof max);
    if (!ar->sock || zmq_bind(ar->sock, listen) != 0) {
        app_log("archiver: cannot bind %s: %s", listen, ar->sock ? zmq_strerror(zmq_errno()) : err.msg);
        return zmq_errno() == EADDRINUSE ? APP_FAILURE : APP_USAGE;
    }
    app_log("archiver: taking the nodes' events on %s into %s", listen,
            app_archive_name(target, name, sizeof name));
    return APP_OK;
}

int cmd_archiver(int argc, char **argv)
{
    enum { OPT_LISTEN = 256, OPT_DB };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"listen", required_argument, NULL, OPT_LISTEN},
        {"db", required_argument, NULL, OPT_DB},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *listen = NULL, *db = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case OPT_LISTEN: listen = optarg; break;
        case OPT_DB: db = optarg; break;
        case 'h': archiver_usage(stdout); return APP_OK;
        default: archiver_usage(stderr); return APP_USAGE;
        }
    }
    if (optind < argc) {
        app_log("archiver: unexpected argument '%s'", argv[optind]);
        return APP_USAGE;
    }
    if (!listen) {
        app_log("archiver: --listen EP is needed (e.g. tcp://*:5560)");
        archiver_usage(stderr);
        return APP_USAGE;
    }
    cw_config_t *cfg = app_load_config(config_path, false);
    if (!cfg)
        return APP_USAGE;
    app_install_signals();
    archiver_t ar = {0};
    int status = start(&ar, cfg, db ? db : app_archive_target(cfg), listen);
    cw_config_destroy(&cfg);
    if (status == APP_OK) {
        status = serve(&ar);
        log_totals(&ar, " stopping");
    }
    cw_zmq_socket_close(ar.sock);
    cw_archive_close(&ar.archive);
    cw_zmq_shutdown();
    return status;
}
