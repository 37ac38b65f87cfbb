/* cmd_web.c - `callwatch web`: the supervisors' pages (web.h) fed from the bus.
 *
 * One loop on this thread: drain the bus into the web server's state, ping
 * the daemon's ack channel (connected or not, like the console), publish the
 * wallboard. libmicrohttpd answers the browsers on its own threads.
 */
#include "app.h"

#include "callwatch/acks.h"
#include "callwatch/bus.h"
#include "callwatch/users.h"
#include "callwatch/web.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define LOOP_MS 50
#define DRAIN_MAX 2000
#define PING_EVERY_S 1.0
#define STALE_AFTER_S 3.0
#define ACK_CONNECT_MS 2000
#define ACK_REPLY_MS 3000
#define PEM_MAX (1024 * 1024)

typedef struct web_app {
    const char *ack_endpoint;
    cw_curve_client_t *curve; /* NULL = plain bus */
} web_app_t;

static void web_usage(FILE *out)
{
    fputs("usage: callwatch web [options]\n"
          "\n"
          "The supervisors' pages in a browser: a live wallboard (worst call first), a\n"
          "call page with the live transcript, the alerts feed, QA search and export,\n"
          "and each agent's prompts. Needs a users file (`callwatch user add`).\n"
          "\n"
          "options:\n"
          "  -c, --config FILE       settings from this configuration ([web], [bus])\n"
          "  -e, --endpoint EP       bus to subscribe to (default: [bus] endpoint)\n"
          "      --ack-endpoint EP   daemon's ack endpoint (default: [bus] ack_endpoint)\n"
          "  -l, --listen HOST:PORT  where to serve (default: [web] listen, 127.0.0.1:8088)\n"
          "  -u, --users FILE        users file (default: [web] users)\n"
          "      --db FILE.db|URL    archive for ended calls and QA: SQLite file or postgresql://\n"
          "                          URL (default: [web] db, else [archive] url)\n"
          "  -h, --help              this help\n",
          out);
}

static void log_line(const char *line)
{
    app_log("%s", line);
}

/* cw_web_ack_fn: a fresh REQ per acknowledgement (rare; a stuck one never
 * blocks the next). */
static int send_ack(void *user, const char *request, char **reply, cw_error_t *err)
{
    web_app_t *app = user;
    return app_ack_request(app->ack_endpoint, app->curve, request, reply, ACK_CONNECT_MS, ACK_REPLY_MS, err);
}

/* Reads a PEM file whole; NULL with a log line. */
static char *read_pem(const char *what, const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf = f ? calloc(1, PEM_MAX + 1) : NULL;
    size_t n = buf ? fread(buf, 1, PEM_MAX, f) : 0;
    if (f)
        fclose(f);
    if (!buf || n == 0 || n == PEM_MAX) {
        app_log("[web] %s %s: cannot read it (a PEM file under 1 MiB)", what, path);
        free(buf);
        return NULL;
    }
    return buf;
}

typedef struct pinger {
    cw_ack_client_t *acks;
    bool waiting, connected, synced;
    double sent_s, last_pong_s;
} pinger_t;

/* A pong: the daemon is up; the first after (re)connecting lists its calls,
 * so calls started before we were listening get their agent and team. */
static void on_pong(pinger_t *p, cw_web_t *web, const char *reply, double now_s)
{
    json_t *r = json_loads(reply, 0, NULL);
    if (json_is_true(json_object_get(r, "ok"))) {
        p->last_pong_s = now_s;
        json_t *calls = json_object_get(r, "calls");
        size_t i;
        json_t *call;
        json_array_foreach(calls, i, call) {
            const char *id = json_string_value(json_object_get(call, "call_id"));
            char *text = json_dumps(call, JSON_COMPACT);
            char topic[CW_TOPIC_MAX];
            snprintf(topic, sizeof topic, "call.%s", id ? id : "");
            if (id && text)
                cw_web_feed(web, topic, text, now_s);
            free(text);
        }
        if (json_is_array(calls))
            p->synced = true;
    }
    json_decref(r);
}

static void ping(pinger_t *p, cw_web_t *web, double now_s)
{
    cw_error_t err;
    cw_error_clear(&err);
    char *reply = NULL;
    if (p->waiting && cw_ack_client_recv(p->acks, &reply, 0, &err) == 1) {
        on_pong(p, web, reply, now_s);
        free(reply);
        p->waiting = false;
    }
    if (p->waiting && now_s - p->sent_s > STALE_AFTER_S)
        p->waiting = false;
    if (!p->waiting && now_s - p->sent_s >= PING_EVERY_S) {
        const char *req = p->synced ? "{\"type\":\"ping\"}" : "{\"type\":\"ping\",\"calls\":true}";
        p->sent_s = now_s;
        p->waiting = cw_ack_client_send(p->acks, req, &err) == CW_OK;
    }
    bool up = p->last_pong_s > 0 && now_s - p->last_pong_s < STALE_AFTER_S;
    if (!up)
        p->synced = false;
    if (up != p->connected)
        app_log("web: daemon %s", up ? "connected" : "not answering (reconnecting)");
    p->connected = up;
    cw_web_set_connected(web, up);
}

static int serve(cw_web_t *web, cw_bus_sub_t *sub, pinger_t *p)
{
    cw_error_t err;
    cw_error_clear(&err);
    while (!app_stop_requested) {
        for (int i = 0; i < DRAIN_MAX; i++) {
            char topic[CW_TOPIC_MAX];
            char *json = NULL;
            int rc = cw_bus_sub_recv(sub, topic, sizeof topic, &json, i == 0 ? LOOP_MS : 0, &err);
            if (rc < 0) {
                app_log("web: %s", err.msg);
                return APP_FAILURE;
            }
            if (rc == 0)
                break;
            cw_web_feed(web, topic, json, app_monotonic_s());
            free(json);
        }
        double now = app_monotonic_s();
        ping(p, web, now);
        cw_web_tick(web, now);
    }
    return APP_OK;
}

/* 127.x.x.x, [::1] or localhost. */
static bool is_loopback(const char *listen)
{
    return strncmp(listen, "127.", 4) == 0 || strncmp(listen, "[::1]:", 6) == 0 ||
           strncmp(listen, "localhost:", 10) == 0;
}

typedef struct web_args {
    const char *config, *endpoint, *ack_endpoint, *listen, *users, *db;
} web_args_t;

/* 0 to go on, else the exit status (help printed, or a usage error). */
static int parse_args(int argc, char **argv, web_args_t *a)
{
    enum { OPT_ACK = 256, OPT_DB };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"endpoint", required_argument, NULL, 'e'},
        {"ack-endpoint", required_argument, NULL, OPT_ACK}, {"listen", required_argument, NULL, 'l'},
        {"users", required_argument, NULL, 'u'}, {"db", required_argument, NULL, OPT_DB},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:e:l:u:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': a->config = optarg; break;
        case 'e': a->endpoint = optarg; break;
        case OPT_ACK: a->ack_endpoint = optarg; break;
        case 'l': a->listen = optarg; break;
        case 'u': a->users = optarg; break;
        case OPT_DB: a->db = optarg; break;
        case 'h': web_usage(stdout); return -1;
        default: web_usage(stderr); return APP_USAGE;
        }
    }
    if (optind < argc) {
        app_log("web: unexpected argument '%s'", argv[optind]);
        return APP_USAGE;
    }
    return 0;
}

typedef struct web_res {
    cw_config_t *cfg;
    cw_users_t *users;
    const char *db;
    cw_qa_drift_params_t drift;
    char *cert, *key;
    web_app_t app;
    char ack_ep[CW_PATH_MAX], ep[CW_PATH_MAX], assets[CW_PATH_MAX];
} web_res_t;

static void release(web_res_t *r)
{
    cw_users_destroy(&r->users);
    cw_curve_client_destroy(&r->app.curve);
    cw_config_destroy(&r->cfg);
    free(r->cert);
    free(r->key);
}

/* Config, users, archive, TLS files, bus keys; logs and returns false. */
static bool acquire(const web_args_t *a, web_res_t *r)
{
    cw_error_t err;
    cw_error_clear(&err);
    r->cfg = app_load_config(a->config, false);
    if (!r->cfg)
        return false;
    const cw_config_t *cfg = r->cfg;
    snprintf(r->ep, sizeof r->ep, "%s", a->endpoint ? a->endpoint : cfg->bus_endpoint);
    snprintf(r->ack_ep, sizeof r->ack_ep, "%s", a->ack_endpoint ? a->ack_endpoint : cfg->bus_ack_endpoint);
    cw_config_model_path(cfg->web_assets, r->assets, sizeof r->assets);
    struct stat st;
    if (stat(r->assets, &st) != 0 || !S_ISDIR(st.st_mode)) {
        app_log("[web] assets %s: not a directory (the pages ship in models/web)", r->assets);
        return false;
    }
    r->users = cw_users_load(a->users ? a->users : cfg->web_users, &err);
    if (!r->users) {
        app_log("web: %s", err.msg);
        return false;
    }
    r->db = a->db ? a->db : cfg->web_db[0] ? cfg->web_db : cfg->archive_url;
    char wb[CW_PATH_MAX];
    if (cw_qa_drift_params_load(cw_config_model_path(cfg->archive_wellbeing, wb, sizeof wb), &r->drift, &err) !=
        CW_OK) {
        app_log("web: %s", err.msg);
        return false;
    }
    if (cfg->web_tls_cert[0] || cfg->web_tls_key[0]) {
        if (!cfg->web_tls_cert[0] || !cfg->web_tls_key[0]) {
            app_log("[web] tls_cert and tls_key go together: set both or neither");
            return false;
        }
        r->cert = read_pem("tls_cert", cfg->web_tls_cert);
        r->key = r->cert ? read_pem("tls_key", cfg->web_tls_key) : NULL;
        if (!r->key)
            return false;
    }
    if (app_bus_client(cfg, &r->app.curve, &err) != CW_OK) {
        app_log("web: %s", err.msg);
        return false;
    }
    r->app.ack_endpoint = r->ack_ep;
    return true;
}

int cmd_web(int argc, char **argv)
{
    web_args_t a = {0};
    int st = parse_args(argc, argv, &a);
    if (st)
        return st < 0 ? APP_OK : st;
    web_res_t r = {0};
    if (!acquire(&a, &r)) {
        release(&r);
        return APP_USAGE;
    }
    cw_error_t err;
    cw_error_clear(&err);
    cw_web_opts_t o = {.listen = a.listen ? a.listen : r.cfg->web_listen, .assets_dir = r.assets,
                       .users = r.users, .archive_path = r.db, .drift = r.drift, .ended_linger_s = r.cfg->web_ended_linger_s,
                       .session_idle_s = r.cfg->web_session_idle_s, .tls_cert_pem = r.cert, .tls_key_pem = r.key,
                       .ack = send_ack, .ack_user = &r.app, .log = log_line};
    pinger_t p = {0};
    cw_bus_sub_t *sub = cw_bus_sub_new_secure(r.ep, "", r.app.curve, &err);
    p.acks = sub ? cw_ack_client_new_secure(r.ack_ep, r.app.curve, &err) : NULL;
    cw_web_t *web = p.acks ? cw_web_new(&o, &err) : NULL;
    int status = APP_FAILURE;
    if (web) {
        char db_name[512];
        app_install_signals();
        app_log("web: serving http%s://%s/ on port %d (bus %s, %zu users%s%s)", r.cert ? "s" : "", o.listen, cw_web_port(web), r.ep,
                cw_users_count(r.users), r.db[0] ? ", archive " : "", app_archive_name(r.db, db_name, sizeof db_name));
        if (!r.cert && !is_loopback(o.listen))
            app_log("web: warning: %s is not a loopback address and TLS is off: passwords and session cookies "
                    "cross the network in clear (set [web] tls_cert and tls_key, or put a TLS proxy in front)",
                    o.listen);
        status = serve(web, sub, &p);
    } else {
        app_log("web: %s", err.msg);
        status = err.code == CW_ERR_INVALID ? APP_USAGE : APP_FAILURE;
    }
    cw_web_destroy(&web);
    cw_ack_client_destroy(&p.acks);
    cw_bus_sub_destroy(&sub);
    cw_bus_shutdown();
    release(&r);
    return status;
}
