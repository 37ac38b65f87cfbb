/* daemon.c - see callwatch/daemon.h */
#include "callwatch/daemon.h"

#include "app.h"

#include "callwatch/asr.h"
#include "callwatch/audiosocket.h"
#include "callwatch/bus.h"
#include "callwatch/call.h"
#include "callwatch/http.h"
#include "callwatch/metrics.h"
#include "callwatch/metrics_sink.h"
#include "callwatch/models.h"
#include "callwatch/monitor.h"
#include "callwatch/outbox.h"
#include "callwatch/overload.h"
#include "callwatch/pbxcall.h"
#include "callwatch/source.h"
#include "callwatch/acks.h"
#include "callwatch/websocket.h"
#include "callwatch/whisper.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long a shutdown waits for in-flight utterances to be decoded. */
#define DRAIN_TIMEOUT_S 15.0
#define PASS_TICK_MS 10 /* one audio frame: the ingest loop's pace when it keeps up */

typedef struct line_state {
    cw_line_config_t cfg;
    cw_call_t *call;
    bool finished;    /* a file replay that reached its end: nothing to reopen */
    double reopen_at; /* monotonic seconds; a lost device is retried from then */
    bool lost_logged;
    bool down;        /* its device cannot be opened: announced, being retried */
} line_state_t;

/* Monotonic seconds at which monitoring started: status events' t. */
static double daemon_started_s;

/* Calls the PBX streams in over AudioSocket or WebSocket media streams: they
 * come and go, each ends for good when its source ends. Both servers start
 * their calls at one desk, which the daemon takes them from. */
typedef struct pbx_calls {
    cw_pbxcalls_t *desk;
    cw_audiosocket_t *server;
    cw_websocket_t *ws;
    cw_call_t **calls;
    int n, cap;
} pbx_calls_t;

/* Shows the governor every call up now (lines and PBX calls), at most every
 * 0.25 s. */
static void update_overload(cw_overload_t *overload, cw_asr_pool_t *pool, const line_state_t *lines, int n_lines,
                            const pbx_calls_t *pbx, double now, double *next_at)
{
    if (now < *next_at)
        return;
    *next_at = now + 0.25;
    cw_call_t **calls = calloc((size_t)(n_lines + pbx->n) + 1, sizeof *calls);
    if (!calls)
        return; /* next turn */
    int n = 0;
    for (int i = 0; i < n_lines; i++)
        calls[n++] = lines[i].call;
    for (int i = 0; i < pbx->n; i++)
        calls[n++] = pbx->calls[i];
    cw_overload_update(overload, pool, calls, n, now);
    free(calls);
}

static bool line_uses_device(const cw_line_config_t *line)
{
    return line->file[0] == '\0';
}

static cw_source_t *open_line_source(const cw_config_t *cfg, const cw_line_config_t *line, cw_error_t *err)
{
    if (!line_uses_device(line)) {
        cw_file_source_opts_t fo = {
            .path = line->file,
            .agent_channel = line->agent_channel,
            .customer_channel = line->customer_channel,
            .mono_leg = -1,
            .realtime = true,
        };
        return cw_source_file_new(&fo, err);
    }
    return cw_source_portaudio_new(line, cfg, err);
}

/* This node's name: [bus] node, else the host name up to its first dot, with
 * characters a node name may not hold replaced by '-'. */
static void resolve_node_name(cw_config_t *cfg)
{
    if (cfg->bus_node[0])
        return;
    char host[CW_NAME_MAX] = "";
    if (gethostname(host, sizeof host - 1) != 0 || !host[0])
        snprintf(host, sizeof host, "node");
    host[strcspn(host, ".")] = '\0';
    for (char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            *p = '-';
    snprintf(cfg->bus_node, sizeof cfg->bus_node, "%s", host);
}

/* "<node>-<line>-<UTC time>-<n>": unique across the nodes of one broker as
 * long as node names are, which a console and the archive rely on. Daemon
 * thread only. */
static void make_node_call_id(const cw_config_t *cfg, const char *line, char *out, size_t cap)
{
    static unsigned counter;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, cap, "%s-%s-%s-%u", cfg->bus_node, line, stamp, ++counter);
}

static int start_call(const cw_config_t *cfg, cw_asr_pool_t *pool, cw_outbox_t *outbox, line_state_t *ls,
                      cw_error_t *err)
{
    cw_source_t *src = open_line_source(cfg, &ls->cfg, err);
    if (!src)
        return err->code ? err->code : CW_ERR_DEVICE;
    char call_id[3 * CW_NAME_MAX];
    make_node_call_id(cfg, ls->cfg.name, call_id, sizeof call_id);
    /* Without a decoder pool (--no-asr) a call runs its voice and turn-taking cues only. */
    cw_call_opts_t co = {.call_id = call_id, .line = ls->cfg.name, .agent_id = ls->cfg.agent_id, .offline = false,
                         .no_asr = pool == NULL, .asr_mode = ls->cfg.asr_mode};
    co.team = ls->cfg.team;
    ls->call = cw_call_new(cfg, pool, outbox, &src, &co, err);
    cw_source_destroy(&src);
    if (!ls->call)
        return err->code ? err->code : CW_ERR_INTERNAL;
    app_log("line %s: call %s started (%s)", ls->cfg.name, cw_call_id(ls->call),
            ls->cfg.file[0] ? ls->cfg.file : ls->cfg.device[0] ? ls->cfg.device : ls->cfg.agent_device);
    return CW_OK;
}

/* Announces a change of a line's availability: the log, the health check
 * and a status event (change "line_down" or "line_up", reason, lines: [{line,
 * device}]). why NULL = the line is up again. */
static void announce_line(const cw_config_t *cfg, cw_outbox_t *outbox, cw_monitor_t *monitor, line_state_t *ls,
                          int slot, const char *why)
{
    if (ls->down == (why != NULL))
        return;
    ls->down = why != NULL;
    cw_monitor_line_down(monitor, slot, ls->cfg.name, why);
    const cw_line_config_t *l = &ls->cfg;
    const char *device = l->device[0] ? l->device : l->agent_device;
    char reason[2 * CW_PATH_MAX + CW_NAME_MAX + 96];
    if (why)
        snprintf(reason, sizeof reason, "line %s: %s; the other lines run, this one is retried every %.1f s",
                 l->name, why, cfg->capture_retry_s);
    else
        snprintf(reason, sizeof reason, "line %s: device '%s' opened again", l->name, device);
    app_log("%s", reason);
    json_t *lines = json_array();
    json_array_append_new(lines, json_pack("{s:s,s:s}", "line", l->name, "device", device));
    cw_event_t *ev = cw_event_status(cfg->bus_node, app_monotonic_s() - daemon_started_s,
                                     why ? "line_down" : "line_up", reason, lines, NULL);
    if (ev)
        cw_outbox_post(outbox, &ev);
}

static int lines_down(const line_state_t *lines, int n)
{
    int down = 0;
    for (int i = 0; i < n; i++)
        down += lines[i].down;
    return down;
}

/* A line that did not start: a device line starts down and is retried like
 * a device lost mid-call, so one missing headset does not stop the others;
 * a file that cannot be read stays fatal. Returns false when fatal. */
static bool start_down(const cw_config_t *cfg, cw_outbox_t *outbox, cw_monitor_t *monitor, line_state_t *ls,
                       int slot, const cw_error_t *err)
{
    if (!line_uses_device(&ls->cfg))
        return false;
    announce_line(cfg, outbox, monitor, ls, slot, err->msg);
    ls->lost_logged = true;
    ls->reopen_at = app_monotonic_s() + cfg->capture_retry_s;
    return true;
}

static int monitor_health(void *monitor, char **json)
{
    return cw_monitor_health(monitor, json);
}

/* The registry, the monitor and, with [metrics] listen, the HTTP server.
 * Started before the models load so /health answers 503 meanwhile. */
static int start_monitoring(const cw_config_t *cfg, int n_lines, cw_metrics_t **metrics, cw_monitor_t **monitor,
                            cw_http_t **http, cw_error_t *err)
{
    daemon_started_s = app_monotonic_s();
    *metrics = cw_metrics_new();
    if (!*metrics)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the metrics registry");
    *monitor = cw_monitor_new(*metrics, cfg->bus_node, n_lines, err);
    if (!*monitor)
        return err->code;
    if (!cfg->metrics_listen[0])
        return CW_OK;
    *http = cw_http_new(cfg->metrics_listen, *metrics, monitor_health, *monitor, err);
    if (!*http)
        return err->code;
    char host[CW_PATH_MAX];
    snprintf(host, sizeof host, "%s", cfg->metrics_listen);
    char *colon = strrchr(host, ':');
    if (colon)
        *colon = '\0';
    app_log("metrics on http://%s:%d/metrics, health check on http://%s:%d/health", host, cw_http_port(*http), host,
            cw_http_port(*http));
    return CW_OK;
}

static const char *connect_mode_text(const cw_config_t *cfg)
{
    return strcmp(cfg->bus_mode, "connect") == 0 ? "connecting to the broker" : "binding the bus";
}

/* Starts a cw_call on *src (taken) for a PBX call; co->line names the ingest in the log. */
static void pbx_add(pbx_calls_t *pbx, const cw_config_t *cfg, cw_asr_pool_t *pool, cw_outbox_t *outbox,
                    cw_source_t **src, const cw_call_opts_t *co)
{
    if (pbx->n == pbx->cap) {
        int cap = pbx->cap ? pbx->cap * 2 : 16;
        cw_call_t **grown = realloc(pbx->calls, (size_t)cap * sizeof *grown);
        if (!grown) {
            app_log("%s: call %s: out of memory; not monitored", co->line, co->call_id);
            cw_source_destroy(src);
            return;
        }
        pbx->calls = grown;
        pbx->cap = cap;
    }
    cw_error_t err;
    cw_error_clear(&err);
    char what[CW_PATH_MAX];
    snprintf(what, sizeof what, "%s", cw_source_info(*src)->description);
    cw_call_t *call = cw_call_new(cfg, pool, outbox, src, co, &err);
    cw_source_destroy(src);
    if (!call) {
        app_log("%s: call %s: %s", co->line, co->call_id, err.msg);
        return;
    }
    pbx->calls[pbx->n++] = call;
    app_log("%s: call %s started (%s)", co->line, co->call_id, what);
}

/* Starts a cw_call for every call the PBX has connected since last time. */
static void pbx_accept(pbx_calls_t *pbx, const cw_config_t *cfg, cw_asr_pool_t *pool, cw_outbox_t *outbox)
{
    cw_source_t *src = NULL;
    cw_pbxcall_info_t info;
    cw_error_t err;
    cw_error_clear(&err);
    int rc;
    while ((rc = cw_pbxcalls_take(pbx->desk, &src, &info, &err)) != 0) {
        if (rc < 0) {
            app_log("%s", err.msg);
            continue;
        }
        cw_call_opts_t co = {.call_id = info.call_id, .line = info.ingest,
                             .agent_id = info.agent_id[0] ? info.agent_id : NULL,
                             .team = info.team[0] ? info.team : NULL, .offline = false, .no_asr = pool == NULL};
        pbx_add(pbx, cfg, pool, outbox, &src, &co);
    }
}

/* Pumps the PBX calls and frees the finished ones; returns frames moved. */
static long pbx_pump(pbx_calls_t *pbx)
{
    long moved = 0;
    for (int i = 0; i < pbx->n;) {
        moved += cw_call_pump(pbx->calls[i]);
        if (!cw_call_done(pbx->calls[i])) {
            i++;
            continue;
        }
        app_log("call %s ended", cw_call_id(pbx->calls[i]));
        cw_call_destroy(&pbx->calls[i]);
        pbx->calls[i] = pbx->calls[--pbx->n];
    }
    return moved;
}

/* What follows every event on its way out: the ack server learns the calls
 * in progress (for consoles that join late), the whisper engine answers
 * alerts. Both are set before the outbox starts and outlive it. */
typedef struct daemon_follow {
    cw_ack_server_t *acks;
    cw_whisper_t *whisper;
} daemon_follow_t;

static cw_event_t *daemon_follow(void *user, const cw_event_t *ev)
{
    daemon_follow_t *f = user;
    cw_ack_server_observe(f->acks, ev);
    return cw_whisper_follow(f->whisper, ev);
}

/* Whispers for the agents, from the configured playbook. */
static cw_whisper_t *make_whisper(const cw_config_t *cfg, cw_error_t *err)
{
    char path[CW_PATH_MAX];
    cw_playbook_t *pb = cw_playbook_load(cw_config_model_path(cfg->whisper_playbook, path, sizeof path), err);
    if (!pb)
        return NULL;
    cw_whisper_params_t wp = {.min_interval_s = cfg->whisper_min_interval_s,
                              .repeat_window_s = cfg->whisper_repeat_window_s};
    cw_whisper_t *w = cw_whisper_new(&pb, &wp, err);
    cw_playbook_destroy(&pb);
    return w;
}

/* Everything the daemon runs, owned here. The fields are filled by the
 * wiring steps of daemon_start() in its order and torn down by
 * daemon_teardown() in the reverse order its comments give. */
struct cw_daemon {
    cw_daemon_opts_t opts;
    cw_config_t *cfg;
    bool pbx_on, pa_up, connect_mode;
    int n_lines;
    line_state_t *lines;
    cw_metrics_t *metrics;
    cw_monitor_t *monitor;
    cw_http_t *http;
    cw_curve_server_t *curve;
    cw_sink_t *publisher;        /* until the outbox takes it */
    const cw_sink_t *bus_sink;   /* borrowed: the outbox owns it */
    const cw_sink_t *archive_ref; /* owned by the outbox */
    cw_whisper_t *whisper;
    cw_outbox_t *outbox;
    cw_ack_server_t *acks;
    daemon_follow_t follow;
    cw_asr_pool_t *pool;
    app_reloader_t *reloader;
    pbx_calls_t pbx;
    cw_overload_t *overload; /* switches legs to cue mode past capacity */
    double overload_next;
};
/* The lines to run: the configured ones, then one per --file, else (no PBX
 * either) the default input device. */
static int make_lines(cw_daemon_t *d)
{
    d->lines = calloc(d->n_lines ? (size_t)d->n_lines : 1, sizeof *d->lines);
    if (!d->lines) {
        app_log("out of memory");
        return APP_FAILURE;
    }
    const cw_config_t *cfg = d->cfg;
    int k = 0;
    for (int i = 0; i < cfg->n_lines; i++)
        d->lines[k++].cfg = cfg->lines[i];
    for (int i = 0; i < d->opts.n_files; i++, k++) {
        cw_line_config_t *l = &d->lines[k].cfg;
        snprintf(l->name, sizeof l->name, "file%d", i + 1);
        snprintf(l->file, sizeof l->file, "%s", d->opts.files[i]);
        snprintf(l->agent_id, sizeof l->agent_id, "%s", l->name);
        l->agent_channel = 0;
        l->customer_channel = 1;
    }
    if (k == 0 && !d->pbx_on) {
        cw_line_config_t *l = &d->lines[0].cfg;
        snprintf(l->name, sizeof l->name, "default");
        snprintf(l->device, sizeof l->device, "default");
        snprintf(l->agent_id, sizeof l->agent_id, "default");
        l->agent_channel = 0;
        l->customer_channel = 1;
        app_log("no [line] configured in %s: capturing the default input device (ch0 agent, ch1 customer); "
                "add [line NAME] sections there (`callwatch devices` lists the devices)", cfg->source_path);
    }
    return APP_OK;
}

/* PortAudio, once, if a line captures a device. */
static int open_audio(cw_daemon_t *d, cw_error_t *err)
{
    for (int i = 0; i < d->n_lines; i++) {
        if (line_uses_device(&d->lines[i].cfg) && !d->pa_up) {
            if (cw_portaudio_init(err) != CW_OK) {
                app_log("%s", err->msg);
                return APP_FAILURE;
            }
            d->pa_up = true;
        }
    }
    return APP_OK;
}

/* The bus publisher: bound (or connected to the broker) with its keys. */
static int start_publisher(cw_daemon_t *d, cw_error_t *err)
{
    const cw_config_t *cfg = d->cfg;
    cw_monitor_set_phase(d->monitor, CW_MONITOR_STARTING, connect_mode_text(cfg));
    d->connect_mode = strcmp(cfg->bus_mode, "connect") == 0;
    cw_bus_security_t security;
    if (app_bus_security(cfg, &d->curve, &security, err) == CW_OK) {
        if (d->connect_mode) {
            cw_curve_client_t *node_client = NULL;
            if (app_node_client(cfg, &node_client, err) == CW_OK)
                d->publisher = cw_bus_publisher_connect_secure(cfg->bus_endpoint, cfg->bus_sndhwm, node_client, err);
            cw_curve_client_destroy(&node_client); /* its keys are on the socket now */
        } else {
            d->publisher = cw_bus_publisher_new_secure(cfg->bus_endpoint, cfg->bus_sndhwm, &security, err);
        }
    }
    if (!d->publisher) {
        app_log("%s", err->msg);
        return APP_FAILURE;
    }
    return APP_OK;
}

/* The outbox and its sinks in their order: the archive goes before the bus,
 * because the outbox publishes a batch only once the archive has committed
 * it (or its bounded wait ran out); then the metrics' count of what went out. */
static int start_outbox(cw_daemon_t *d, cw_error_t *err)
{
    cw_sink_t *archive = NULL;
    if (app_archive_target(d->cfg)[0]) {
        archive = app_archive_sink(d->cfg, app_archive_target(d->cfg));
        if (!archive) {
            cw_sink_destroy(&d->publisher);
            return APP_FAILURE;
        }
        d->archive_ref = archive;
    }
    d->bus_sink = d->publisher;
    cw_sink_t *published = cw_metrics_sink_new(d->metrics, d->bus_sink, err);
    d->outbox = published ? cw_outbox_new(65536, err) : NULL;
    if (!d->outbox || (archive && cw_outbox_add_sink(d->outbox, &archive, err) != CW_OK) ||
        cw_outbox_add_sink(d->outbox, &d->publisher, err) != CW_OK ||
        cw_outbox_add_sink(d->outbox, &published, err) != CW_OK) {
        if (archive)
            d->archive_ref = NULL;
        cw_sink_destroy(&archive);
        cw_sink_destroy(&d->publisher);
        cw_sink_destroy(&published);
        app_log("cannot start the publisher: %s", err->msg);
        return APP_FAILURE;
    }
    return APP_OK;
}

static void log_ack_line(void *user, const char *line)
{
    (void)user;
    app_log("%s", line);
}

/* The ack server, then the outbox's writer with its follower (acks, whispers). */
static int start_acks_and_writer(cw_daemon_t *d, cw_error_t *err)
{
    /* Behind a broker, acks sent to the broker reach this node through its
     * link, as a CURVE client with the node's key like its publisher. */
    const cw_config_t *cfg = d->cfg;
    cw_curve_client_t *node_client = NULL;
    cw_ack_link_t link = {cfg->bus_broker_ack_endpoint, cfg->bus_node, NULL};
    bool linked = cfg->bus_broker_ack_endpoint[0] != '\0';
    if (linked && app_node_client(cfg, &node_client, err) != CW_OK) {
        app_log("%s", err->msg);
        return APP_FAILURE;
    }
    link.curve = node_client;
    /* With a users file ([web] users, the web's) an ack must prove who sent it. */
    cw_ack_auth_t auth = {cfg->web_users, log_ack_line, NULL};
    d->acks = cw_ack_server_new_auth(cfg->bus_ack_endpoint, d->outbox, d->curve, linked ? &link : NULL, &auth, err);
    cw_curve_client_destroy(&node_client); /* its keys are on the socket now */
    if (!d->acks) {
        app_log("%s", err->msg);
        return APP_FAILURE;
    }
    if (cfg->web_users[0])
        app_log("acknowledgements: only supervisors of %s, checked by password or the web's signature",
                cfg->web_users);
    else
        app_log("acknowledgements: no users file ([web] users), names taken as given and marked unverified");
    if (linked)
        app_log("acknowledgements through the broker at %s as node %s", cfg->bus_broker_ack_endpoint, cfg->bus_node);
    d->follow = (daemon_follow_t){d->acks, d->whisper};
    if (cw_outbox_set_follower(d->outbox, daemon_follow, &d->follow, err) != CW_OK ||
        cw_outbox_start(d->outbox, err) != CW_OK) {
        app_log("cannot start the publisher: %s", err->msg);
        return APP_FAILURE;
    }
    return APP_OK;
}

/* The decoder pool (not with --no-asr) and the SIGHUP reloader. */
static int load_models(cw_daemon_t *d, cw_error_t *err)
{
    if (!d->opts.no_asr) {
        cw_monitor_set_phase(d->monitor, CW_MONITOR_STARTING, "loading the speech models");
        d->pool = cw_asr_pool_new(d->cfg, err);
        if (!d->pool) {
            app_log("%s", err->msg);
            return APP_USAGE;
        }
    }
    d->reloader = app_reloader_new(d->cfg, d->opts.config_path);
    if (!d->reloader) {
        app_log("out of memory");
        return APP_FAILURE;
    }
    return APP_OK;
}

/* A call on every line, then the AudioSocket and WebSocket servers for the
 * PBX's calls. */
static int start_calls(cw_daemon_t *d, cw_error_t *err)
{
    for (int i = 0; i < d->n_lines; i++) {
        if (start_call(d->cfg, d->pool, d->outbox, &d->lines[i], err) != CW_OK &&
            !start_down(d->cfg, d->outbox, d->monitor, &d->lines[i], i, err)) {
            app_log("line %s: %s", d->lines[i].cfg.name, err->msg);
            return APP_FAILURE;
        }
    }
    if (d->pbx_on && !(d->pbx.desk = cw_pbxcalls_new(d->cfg->ingest_max_calls))) {
        app_log("out of memory");
        return APP_FAILURE;
    }
    if (d->pbx_on && d->cfg->ingest_max_calls > 0)
        app_log("ingest: at most %d PBX calls at once ([ingest] max_calls); more are refused",
                d->cfg->ingest_max_calls);
    if (d->cfg->audiosocket_listen[0]) {
        cw_audiosocket_opts_t ao;
        cw_audiosocket_opts_from_config(d->cfg, &ao);
        ao.desk = d->pbx.desk;
        d->pbx.server = cw_audiosocket_new(&ao, err);
        if (!d->pbx.server) {
            app_log("%s", err->msg);
            return APP_FAILURE;
        }
        app_log("audiosocket: accepting calls from the PBX on %s", cw_audiosocket_address(d->pbx.server));
    }
    if (d->cfg->websocket_listen[0]) {
        cw_websocket_opts_t wo;
        cw_websocket_opts_from_config(d->cfg, &wo);
        wo.desk = d->pbx.desk;
        d->pbx.ws = cw_websocket_new(&wo, err);
        if (!d->pbx.ws) {
            app_log("%s", err->msg);
            return APP_FAILURE;
        }
        app_log("websocket: accepting media streams on %s (%s: /freeswitch, /twilio, /audiohook)",
                cw_websocket_address(d->pbx.ws), d->cfg->websocket_tls_cert[0] ? "wss, TLS" : "ws, plain");
    }
    return APP_OK;
}

/* The overload governor, then the daemon is live. */
static int go_live(cw_daemon_t *d, cw_error_t *err)
{
    const cw_config_t *cfg = d->cfg;
    int n_down = lines_down(d->lines, d->n_lines);
    app_log("node %s %s %s with %d decoder(s)%s; %d line(s) up%s", cfg->bus_node,
            d->connect_mode ? "publishing into the broker at" : "publishing on", cw_bus_publisher_endpoint(d->bus_sink),
            d->pool ? cw_asr_pool_workers(d->pool) : 0, d->pool ? "" : " (--no-asr: no transcripts)",
            d->n_lines - n_down, n_down ? ", the others down (retried)" : "");
    cw_monitor_pool(d->monitor, d->pool, app_monotonic_s());
    d->overload = cw_overload_new(cfg, cfg->bus_node, d->outbox, err);
    if (!d->overload) {
        app_log("%s", err->msg);
        return APP_FAILURE;
    }
    cw_monitor_set_phase(d->monitor, CW_MONITOR_LIVE, "");
    app_notify("READY=1");
    app_log("acknowledgements on %s", cw_ack_server_endpoint(d->acks));
    return APP_OK;
}

/* The wiring order: each step relies on those before it. Returns APP_OK, or
 * the exit status of the first step that failed (it has logged why); either
 * way daemon_teardown() undoes whatever was started. */
static int daemon_start(cw_daemon_t *d)
{
    cw_error_t err;
    cw_error_clear(&err);
    int st = make_lines(d);
    if (st != APP_OK)
        return st;
    app_install_signals();
    app_install_reload_signal();
    if ((st = open_audio(d, &err)) != APP_OK)
        return st;
    /* Bind first: a second daemon on the same endpoint fails before it loads
     * models or opens devices. */
    resolve_node_name(d->cfg);
    if (start_monitoring(d->cfg, d->n_lines, &d->metrics, &d->monitor, &d->http, &err) != CW_OK) {
        app_log("%s", err.msg);
        return err.code == CW_ERR_INVALID ? APP_USAGE : APP_FAILURE;
    }
    if ((st = start_publisher(d, &err)) != APP_OK)
        return st;
    d->whisper = make_whisper(d->cfg, &err);
    if (!d->whisper) {
        cw_sink_destroy(&d->publisher);
        app_log("%s", err.msg);
        return APP_USAGE;
    }
    if ((st = start_outbox(d, &err)) != APP_OK || (st = start_acks_and_writer(d, &err)) != APP_OK)
        return st;
    /* Privileges go once the bus and the acks are bound, before any model or
     * call file is opened. */
    if (!app_drop_privileges(d->opts.run_as))
        return APP_FAILURE;
    if ((st = load_models(d, &err)) != APP_OK || (st = start_calls(d, &err)) != APP_OK ||
        (st = go_live(d, &err)) != APP_OK)
        return st;
    return APP_OK;
}

/* One turn for line i: pumps its call, ends it, or reopens the line when due.
 * Returns the frames moved. */
static long pump_line(cw_daemon_t *d, int i, const cw_config_t *live, double now)
{
    line_state_t *ls = &d->lines[i];
    cw_monitor_line(d->monitor, i, ls->call, now);
    if (ls->call) {
        long moved = cw_call_pump(ls->call);
        if (cw_call_ended(ls->call) && !cw_call_done(ls->call))
            return moved; /* decoding the last words */
        if (!cw_call_done(ls->call))
            return moved;
        bool failed = cw_call_failed(ls->call);
        app_log("line %s: call %s ended%s", ls->cfg.name, cw_call_id(ls->call),
                failed ? " (source failed; see call_end)" : "");
        cw_monitor_line(d->monitor, i, ls->call, now);
        cw_call_destroy(&ls->call);
        if (!failed && !line_uses_device(&ls->cfg)) {
            ls->finished = true;
        } else {
            ls->reopen_at = now + live->capture_retry_s;
            ls->lost_logged = false;
        }
        return moved;
    }
    if (ls->finished || now < ls->reopen_at)
        return 0;
    cw_error_t err;
    cw_error_clear(&err);
    if (start_call(live, d->pool, d->outbox, ls, &err) != CW_OK) {
        if (line_uses_device(&ls->cfg))
            announce_line(live, d->outbox, d->monitor, ls, i, err.msg);
        if (!ls->lost_logged)
            app_log("line %s: still unavailable (%s); retrying every %.1f s", ls->cfg.name, err.msg,
                    live->capture_retry_s);
        ls->lost_logged = true;
        ls->reopen_at = now + live->capture_retry_s;
    } else {
        announce_line(live, d->outbox, d->monitor, ls, i, NULL);
    }
    return 0;
}

/* Frees the configurations SIGHUP retired once no call reads them. */
static void sweep_retired_configs(cw_daemon_t *d)
{
    if (!app_reloader_retired(d->reloader))
        return;
    for (int i = 0; i < d->n_lines; i++)
        if (d->lines[i].call)
            app_reloader_mark(d->reloader, cw_call_config(d->lines[i].call));
    for (int i = 0; i < d->pbx.n; i++)
        app_reloader_mark(d->reloader, cw_call_config(d->pbx.calls[i]));
    app_reloader_sweep(d->reloader);
}

/* The main loop, until SIGINT/SIGTERM. */
static void daemon_run(cw_daemon_t *d)
{
    while (!app_stop_requested) {
        long moved = 0;
        double now = app_monotonic_s();
        if (app_reload_requested) {
            app_reload_requested = 0;
            app_reloader_reload(d->reloader);
        }
        const cw_config_t *live = app_reloader_config(d->reloader);
        for (int i = 0; i < d->n_lines; i++)
            moved += pump_line(d, i, live, now);
        cw_monitor_pool(d->monitor, d->pool, now);
        update_overload(d->overload, d->pool, d->lines, d->n_lines, &d->pbx, now, &d->overload_next);
        if (d->pbx.server || d->pbx.ws) {
            pbx_accept(&d->pbx, live, d->pool, d->outbox);
            moved += pbx_pump(&d->pbx);
            cw_pbxcalls_stats_t ps;
            cw_pbxcalls_get_stats(d->pbx.desk, &ps);
            cw_monitor_pbx(d->monitor, ps.calls, ps.max_calls, ps.refused);
        }
        sweep_retired_configs(d);
        /* Audio comes in 10 ms frames: a pass waits out the rest of one
         * rather than spinning on a few samples per call (a pass longer than
         * PASS_TICK_MS goes on at once). */
        long spent_ms = (long)((app_monotonic_s() - now) * 1000.0);
        if (spent_ms < PASS_TICK_MS)
            app_sleep_ms(PASS_TICK_MS - spent_ms);
    }
}

/* Hangs up every call and waits (at most DRAIN_TIMEOUT_S) for the utterances
 * in flight; APP_OK, or APP_FAILURE if the decoders did not finish. */
static int daemon_drain(cw_daemon_t *d)
{
    cw_monitor_set_phase(d->monitor, CW_MONITOR_STOPPING, "finishing the utterances in flight");
    app_notify("STOPPING=1");
    app_log("stopping: finishing the utterances in flight");
    for (int i = 0; i < d->n_lines; i++)
        if (d->lines[i].call)
            cw_call_hangup(d->lines[i].call, "shutdown");
    cw_audiosocket_destroy(&d->pbx.server);
    cw_websocket_destroy(&d->pbx.ws);
    for (int i = 0; i < d->pbx.n; i++)
        cw_call_hangup(d->pbx.calls[i], "shutdown");
    double deadline = app_monotonic_s() + DRAIN_TIMEOUT_S;
    for (;;) {
        bool all_done = true;
        for (int i = 0; i < d->n_lines; i++)
            if (d->lines[i].call && !cw_call_done(d->lines[i].call))
                all_done = false;
        for (int i = 0; i < d->pbx.n; i++)
            if (!cw_call_done(d->pbx.calls[i]))
                all_done = false;
        if (all_done)
            return APP_OK;
        if (app_monotonic_s() > deadline) {
            app_log("gave up waiting for the decoders after %.0f s", DRAIN_TIMEOUT_S);
            return APP_FAILURE;
        }
        app_sleep_ms(10);
    }
}

/* Undoes daemon_start(), whichever step it reached, and frees the config. */
static void daemon_teardown(cw_daemon_t *d)
{
    /* No health check may read the monitor once it is gone. */
    cw_http_destroy(&d->http);
    /* The pool goes first so no decoder thread posts into a freed call. */
    cw_asr_pool_destroy(&d->pool);
    for (int i = 0; d->lines && i < d->n_lines; i++)
        if (d->lines[i].call)
            cw_call_abandon(d->lines[i].call, "utterances left undecoded at the drain timeout");
    for (int i = 0; i < d->pbx.n; i++)
        cw_call_abandon(d->pbx.calls[i], "utterances left undecoded at the drain timeout");
    for (int i = 0; d->lines && i < d->n_lines; i++)
        cw_call_destroy(&d->lines[i].call);
    if (d->outbox && d->archive_ref) {
        cw_outbox_flush(d->outbox);
        app_archive_report(d->archive_ref);
    }
    for (int i = 0; i < d->pbx.n; i++)
        cw_call_destroy(&d->pbx.calls[i]);
    free(d->pbx.calls);
    cw_audiosocket_destroy(&d->pbx.server);
    cw_websocket_destroy(&d->pbx.ws);
    cw_pbxcalls_destroy(&d->pbx.desk);
    /* No more acks are posted, but the outbox, while it drains, still shows
     * the server its last events. */
    cw_ack_server_stop(d->acks);
    app_reloader_destroy(&d->reloader); /* after the calls that read its configs */
    cw_models_forget_all();              /* the calls released theirs */
    cw_overload_destroy(&d->overload);
    cw_outbox_destroy(&d->outbox);
    cw_ack_server_destroy(&d->acks);
    cw_whisper_destroy(&d->whisper);
    cw_monitor_destroy(&d->monitor);
    cw_metrics_destroy(&d->metrics);
    cw_curve_server_destroy(&d->curve);
    cw_bus_shutdown();
    if (d->pa_up)
        cw_portaudio_terminate();
    free(d->lines);
    cw_config_destroy(&d->cfg);
}

cw_daemon_t *cw_daemon_new(cw_config_t **cfg, const cw_daemon_opts_t *opts, int *status)
{
    cw_daemon_t *d = calloc(1, sizeof *d);
    if (!d) {
        app_log("out of memory");
        cw_config_destroy(cfg);
        *status = APP_FAILURE;
        return NULL;
    }
    d->opts = *opts;
    d->cfg = *cfg;
    *cfg = NULL;
    d->pbx_on = d->cfg->audiosocket_listen[0] != '\0' || d->cfg->websocket_listen[0] != '\0';
    d->n_lines = d->cfg->n_lines + opts->n_files;
    if (d->n_lines == 0 && !d->pbx_on)
        d->n_lines = 1;
    *status = daemon_start(d);
    if (*status != APP_OK)
        cw_daemon_destroy(&d);
    return d;
}

int cw_daemon_run(cw_daemon_t *d)
{
    daemon_run(d);
    return daemon_drain(d);
}

void cw_daemon_destroy(cw_daemon_t **d)
{
    if (!d || !*d)
        return;
    daemon_teardown(*d);
    free(*d);
    *d = NULL;
}
