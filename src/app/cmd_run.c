/* cmd_run.c - `callwatch run`: the live daemon. */
#include "app.h"

#include "callwatch/asr.h"
#include "callwatch/audiosocket.h"
#include "callwatch/bus.h"
#include "callwatch/call.h"
#include "callwatch/http.h"
#include "callwatch/metrics.h"
#include "callwatch/metrics_sink.h"
#include "callwatch/monitor.h"
#include "callwatch/outbox.h"
#include "callwatch/overload.h"
#include "callwatch/source.h"
#include "callwatch/acks.h"
#include "callwatch/whisper.h"

#include <ctype.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* How long a shutdown waits for in-flight utterances to be decoded. */
#define DRAIN_TIMEOUT_S 15.0

typedef struct line_state {
    cw_line_config_t cfg;
    cw_call_t *call;
    bool finished;    /* a file replay that reached its end: nothing to reopen */
    double reopen_at; /* monotonic seconds; a lost device is retried from then */
    bool lost_logged;
} line_state_t;

/* Calls the PBX streams in over AudioSocket: they come and go, each ends for
 * good when its source ends. */
typedef struct pbx_calls {
    cw_audiosocket_t *server;
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

static void run_usage(FILE *out)
{
    fputs("usage: callwatch run [options]\n"
          "\n"
          "Captures every [line NAME] of the configuration (a PortAudio device, two mono\n"
          "devices, or a file replayed at real time), transcribes both legs and publishes\n"
          "the events on the ZeroMQ bus as two-frame messages (topic, JSON). Stops\n"
          "cleanly on SIGINT/SIGTERM after the utterances in flight are decoded. SIGHUP\n"
          "re-reads the configuration: calls that start after it use its lexicon, voice\n"
          "model and thresholds; a configuration that does not load is logged and ignored.\n"
          "\n"
          "options:\n"
          "  -c, --config FILE     configuration (default: the shipped models/callwatch.ini)\n"
          "      --check-config    validate the configuration and the models, then exit\n"
          "      --file PATH       also replay this stereo call file at real time as a line\n"
          "                        (repeatable; ch0 agent, ch1 customer)\n"
          "      --endpoint EP     publish here instead of [bus] endpoint\n"
          "      --audiosocket HOST:PORT\n"
          "                        accept calls from Asterisk's AudioSocket() here (instead\n"
          "                        of [audiosocket] listen); with no [line] and no --file,\n"
          "                        only the PBX's calls are monitored\n"
          "      --user NAME       started as root: become NAME once the bus is bound\n"
          "      --archive FILE    archive every event in this SQLite file (instead of\n"
          "                        [archive] path); events are published once archived\n"
          "      --ack-endpoint EP take acknowledgements here instead of [bus] ack_endpoint\n"
          "      --no-asr          skip speech recognition (no decoders are loaded): no\n"
          "                        transcripts, voice and turn-taking cues only\n"
          "  -h, --help            this help\n",
          out);
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

static int monitor_health(void *monitor, char **json)
{
    return cw_monitor_health(monitor, json);
}

/* The registry, the monitor and, with [metrics] listen, the HTTP server.
 * Started before the models load so /health answers 503 meanwhile. */
static int start_monitoring(const cw_config_t *cfg, int n_lines, cw_metrics_t **metrics, cw_monitor_t **monitor,
                            cw_http_t **http, cw_error_t *err)
{
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

/* Starts a cw_call for every call the PBX has connected since last time. */
static void pbx_accept(pbx_calls_t *pbx, const cw_config_t *cfg, cw_asr_pool_t *pool, cw_outbox_t *outbox)
{
    cw_source_t *src = NULL;
    cw_audiosocket_call_t info;
    while (cw_audiosocket_accept_call(pbx->server, &src, &info) == 1) {
        if (pbx->n == pbx->cap) {
            int cap = pbx->cap ? pbx->cap * 2 : 16;
            cw_call_t **grown = realloc(pbx->calls, (size_t)cap * sizeof *grown);
            if (!grown) {
                app_log("audiosocket: call %s: out of memory; not monitored", info.call_id);
                cw_source_destroy(&src);
                continue;
            }
            pbx->calls = grown;
            pbx->cap = cap;
        }
        cw_error_t err;
        cw_error_clear(&err);
        char what[CW_PATH_MAX];
        snprintf(what, sizeof what, "%s", cw_source_info(src)->description);
        cw_call_opts_t co = {.call_id = info.call_id, .line = "audiosocket",
                             .agent_id = info.agent_id[0] ? info.agent_id : NULL, .offline = false,
                             .no_asr = pool == NULL};
        cw_call_t *call = cw_call_new(cfg, pool, outbox, &src, &co, &err);
        cw_source_destroy(&src);
        if (!call) {
            app_log("audiosocket: call %s: %s", info.call_id, err.msg);
            continue;
        }
        pbx->calls[pbx->n++] = call;
        app_log("audiosocket: call %s started (%s)", info.call_id, what);
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
        app_log("audiosocket: call %s ended", cw_call_id(pbx->calls[i]));
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

static int check_config(const cw_config_t *cfg, int n_lines)
{
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_config_validate(cfg, &err) != CW_OK) {
        app_log_config_error(cfg, &err);
        return APP_USAGE;
    }
    /* The bus's keys and the plain-remote rule, as a real start would apply them. */
    cw_curve_server_t *curve = NULL;
    cw_bus_security_t security;
    if (app_bus_security(cfg, &curve, &security, &err) != CW_OK ||
        cw_curve_check_plain_bind(cfg->bus_endpoint, curve != NULL, security.allow_plain_remote,
                                  "[bus] allow_plain_remote", &err) != CW_OK) {
        app_log("%s", err.msg);
        return APP_USAGE;
    }
    cw_curve_server_destroy(&curve);
    /* mode = connect publishes as a CURVE client of the broker: its keys too. */
    cw_curve_client_t *node_client = NULL;
    if (strcmp(cfg->bus_mode, "connect") == 0 && app_node_client(cfg, &node_client, &err) != CW_OK) {
        app_log("%s", err.msg);
        return APP_USAGE;
    }
    cw_curve_client_destroy(&node_client);
    char pb_path[CW_PATH_MAX];
    cw_playbook_t *pb = cw_playbook_load(cw_config_model_path(cfg->whisper_playbook, pb_path, sizeof pb_path), &err);
    if (!pb) {
        app_log("%s", err.msg);
        return APP_USAGE;
    }
    printf("config OK: %s\n", cfg->source_path);
    printf("  models: hmm %s, dict %s, lm %s\n", cfg->hmm, cfg->dict, cfg->lm);
    printf("  8 kHz legs: %s\n", cfg->asr_model_8k[0] ? cfg->asr_model_8k : "upsampled for hmm (no [asr] model_8k)");
    printf("  bus: %s (%s, %s)\n", cfg->bus_endpoint, cfg->bus_mode,
           cw_config_switch_on(cfg->bus_curve) ? "CURVE" : "plain");
    printf("  metrics: %s\n", cfg->metrics_listen[0] ? cfg->metrics_listen : "off");
    printf("  archive: %s\n", cfg->archive_path[0] ? cfg->archive_path : "(none)");
    printf("  acks: %s\n  whispers: %s (%s)\n", cfg->bus_ack_endpoint, pb_path, cw_playbook_lang(pb));
    cw_playbook_destroy(&pb);
    printf("  lines: %d\n", n_lines);
    if (cfg->audiosocket_listen[0])
        printf("  audiosocket: listening on %s (up to %d legs)\n", cfg->audiosocket_listen,
               cfg->audiosocket_max_connections);
    for (int i = 0; i < cfg->n_lines; i++) {
        const cw_line_config_t *l = &cfg->lines[i];
        if (l->file[0])
            printf("    [line %s] file %s (agent ch%d, customer ch%d)\n", l->name, l->file, l->agent_channel,
                   l->customer_channel);
        else if (l->device[0])
            printf("    [line %s] device '%s' (agent ch%d, customer ch%d), agent %s\n", l->name, l->device,
                   l->agent_channel, l->customer_channel, l->agent_id);
        else
            printf("    [line %s] devices agent '%s', customer '%s', agent %s\n", l->name, l->agent_device,
                   l->customer_device, l->agent_id);
    }
    return APP_OK;
}

int cmd_run(int argc, char **argv)
{
    enum { OPT_CHECK = 256, OPT_FILE, OPT_ENDPOINT, OPT_AUDIOSOCKET, OPT_USER, OPT_ARCHIVE, OPT_ACK_ENDPOINT,
           OPT_NO_ASR };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"file", required_argument, NULL, OPT_FILE},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"audiosocket", required_argument, NULL, OPT_AUDIOSOCKET},
        {"user", required_argument, NULL, OPT_USER},
        {"archive", required_argument, NULL, OPT_ARCHIVE},
        {"ack-endpoint", required_argument, NULL, OPT_ACK_ENDPOINT},
        {"no-asr", no_argument, NULL, OPT_NO_ASR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *endpoint = NULL, *audiosocket = NULL, *run_as = NULL, *archive_path = NULL,
               *ack_endpoint = NULL;
    bool only_check = false, no_asr = false;
    const char *files[CW_MAX_LINES];
    int n_files = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case OPT_CHECK: only_check = true; break;
        case OPT_FILE:
            if (n_files == CW_MAX_LINES) {
                app_log("run: at most %d --file options", CW_MAX_LINES);
                return APP_USAGE;
            }
            files[n_files++] = optarg;
            break;
        case OPT_ENDPOINT: endpoint = optarg; break;
        case OPT_AUDIOSOCKET: audiosocket = optarg; break;
        case OPT_USER: run_as = optarg; break;
        case OPT_ARCHIVE: archive_path = optarg; break;
        case OPT_ACK_ENDPOINT: ack_endpoint = optarg; break;
        case OPT_NO_ASR: no_asr = true; break;
        case 'h': run_usage(stdout); return APP_OK;
        default: run_usage(stderr); return APP_USAGE;
        }
    }
    if (optind < argc) {
        app_log("run: unexpected argument '%s' (files are given with --file)", argv[optind]);
        return APP_USAGE;
    }
    if (!app_check_can_drop(run_as))
        return APP_USAGE;

    cw_config_t *cfg = app_load_config(config_path, false);
    if (!cfg)
        return APP_USAGE;
    if (endpoint)
        snprintf(cfg->bus_endpoint, sizeof cfg->bus_endpoint, "%s", endpoint);
    cw_error_t err;
    cw_error_clear(&err);
    if (audiosocket && cw_config_set(cfg, "audiosocket", "listen", audiosocket, "--audiosocket", &err) != CW_OK) {
        app_log("%s", err.msg);
        cw_config_destroy(&cfg);
        return APP_USAGE;
    }
    bool pbx_on = cfg->audiosocket_listen[0] != '\0';
    if (archive_path)
        snprintf(cfg->archive_path, sizeof cfg->archive_path, "%s", archive_path);
    if (ack_endpoint)
        snprintf(cfg->bus_ack_endpoint, sizeof cfg->bus_ack_endpoint, "%s", ack_endpoint);

    int n_lines = cfg->n_lines + n_files;
    if (n_lines == 0 && !pbx_on)
        n_lines = 1;
    if (only_check) {
        int st = check_config(cfg, n_lines);
        cw_config_destroy(&cfg);
        return st;
    }
    if (cw_config_validate(cfg, &err) != CW_OK) {
        app_log_config_error(cfg, &err);
        cw_config_destroy(&cfg);
        return APP_USAGE;
    }

    int status = APP_OK;
    bool pa_up = false;
    cw_asr_pool_t *pool = NULL;
    cw_overload_t *overload = NULL; /* switches legs to cue mode past capacity */
    double overload_next = 0;
    cw_outbox_t *outbox = NULL;
    cw_metrics_t *metrics = NULL;
    cw_monitor_t *monitor = NULL;
    cw_http_t *http = NULL;
    pbx_calls_t pbx = {0};
    line_state_t *lines = calloc(n_lines ? (size_t)n_lines : 1, sizeof *lines);
    cw_curve_server_t *curve = NULL;
    const cw_sink_t *archive_ref = NULL; /* owned by the outbox */
    cw_whisper_t *whisper = NULL;
    cw_ack_server_t *acks = NULL;
    daemon_follow_t follow = {NULL, NULL};
    app_reloader_t *reloader = NULL;
    if (!lines) {
        app_log("out of memory");
        cw_config_destroy(&cfg);
        return APP_FAILURE;
    }
    int k = 0;
    for (int i = 0; i < cfg->n_lines; i++)
        lines[k++].cfg = cfg->lines[i];
    for (int i = 0; i < n_files; i++, k++) {
        cw_line_config_t *l = &lines[k].cfg;
        snprintf(l->name, sizeof l->name, "file%d", i + 1);
        snprintf(l->file, sizeof l->file, "%s", files[i]);
        snprintf(l->agent_id, sizeof l->agent_id, "%s", l->name);
        l->agent_channel = 0;
        l->customer_channel = 1;
    }
    if (k == 0 && !pbx_on) {
        cw_line_config_t *l = &lines[0].cfg;
        snprintf(l->name, sizeof l->name, "default");
        snprintf(l->device, sizeof l->device, "default");
        snprintf(l->agent_id, sizeof l->agent_id, "default");
        l->agent_channel = 0;
        l->customer_channel = 1;
        app_log("no [line] configured: capturing the default input device (ch0 agent, ch1 customer)");
    }

    app_install_signals();
    app_install_reload_signal();
    for (int i = 0; i < n_lines; i++) {
        if (line_uses_device(&lines[i].cfg) && !pa_up) {
            if (cw_portaudio_init(&err) != CW_OK) {
                app_log("%s", err.msg);
                status = APP_FAILURE;
                goto out;
            }
            pa_up = true;
        }
    }

    /* Bind first: a second daemon on the same endpoint fails before it loads
     * models or opens devices. */
    resolve_node_name(cfg);
    if (start_monitoring(cfg, n_lines, &metrics, &monitor, &http, &err) != CW_OK) {
        app_log("%s", err.msg);
        status = err.code == CW_ERR_INVALID ? APP_USAGE : APP_FAILURE;
        goto out;
    }
    cw_monitor_set_phase(monitor, CW_MONITOR_STARTING, connect_mode_text(cfg));
    bool connect_mode = strcmp(cfg->bus_mode, "connect") == 0;
    cw_bus_security_t security;
    cw_sink_t *publisher = NULL;
    if (app_bus_security(cfg, &curve, &security, &err) == CW_OK) {
        if (connect_mode) {
            cw_curve_client_t *node_client = NULL;
            if (app_node_client(cfg, &node_client, &err) == CW_OK)
                publisher = cw_bus_publisher_connect_secure(cfg->bus_endpoint, cfg->bus_sndhwm, node_client, &err);
            cw_curve_client_destroy(&node_client); /* its keys are on the socket now */
        } else {
            publisher = cw_bus_publisher_new_secure(cfg->bus_endpoint, cfg->bus_sndhwm, &security, &err);
        }
    }
    if (!publisher) {
        app_log("%s", err.msg);
        status = APP_FAILURE;
        goto out;
    }
    whisper = make_whisper(cfg, &err);
    if (!whisper) {
        cw_sink_destroy(&publisher);
        app_log("%s", err.msg);
        status = APP_USAGE;
        goto out;
    }
    /* The archive goes before the bus: the outbox publishes a batch only
     * once the archive has committed it (or its bounded wait ran out). */
    cw_sink_t *archive = NULL;
    if (cfg->archive_path[0]) {
        archive = app_archive_sink(cfg, cfg->archive_path);
        if (!archive) {
            cw_sink_destroy(&publisher);
            status = APP_FAILURE;
            goto out;
        }
        archive_ref = archive;
    }
    const cw_sink_t *bus_sink = publisher; /* borrowed: the outbox owns it from here */
    cw_sink_t *published = cw_metrics_sink_new(metrics, bus_sink, &err);
    outbox = published ? cw_outbox_new(65536, &err) : NULL;
    if (!outbox || (archive && cw_outbox_add_sink(outbox, &archive, &err) != CW_OK) ||
        cw_outbox_add_sink(outbox, &publisher, &err) != CW_OK ||
        cw_outbox_add_sink(outbox, &published, &err) != CW_OK) {
        if (archive)
            archive_ref = NULL;
        cw_sink_destroy(&archive);
        cw_sink_destroy(&publisher);
        cw_sink_destroy(&published);
        app_log("cannot start the publisher: %s", err.msg);
        status = APP_FAILURE;
        goto out;
    }
    acks = cw_ack_server_new_secure(cfg->bus_ack_endpoint, outbox, curve, &err);
    if (!acks) {
        app_log("%s", err.msg);
        status = APP_FAILURE;
        goto out;
    }
    follow = (daemon_follow_t){acks, whisper};
    if (cw_outbox_set_follower(outbox, daemon_follow, &follow, &err) != CW_OK ||
        cw_outbox_start(outbox, &err) != CW_OK) {
        app_log("cannot start the publisher: %s", err.msg);
        status = APP_FAILURE;
        goto out;
    }
    if (!app_drop_privileges(run_as)) {
        status = APP_FAILURE;
        goto out;
    }
    if (!no_asr) {
        cw_monitor_set_phase(monitor, CW_MONITOR_STARTING, "loading the speech models");
        pool = cw_asr_pool_new(cfg, &err);
    }
    if (!pool && !no_asr) {
        app_log("%s", err.msg);
        status = APP_USAGE;
        goto out;
    }
    reloader = app_reloader_new(cfg, config_path);
    if (!reloader) {
        app_log("out of memory");
        status = APP_FAILURE;
        goto out;
    }
    for (int i = 0; i < n_lines; i++) {
        if (start_call(cfg, pool, outbox, &lines[i], &err) != CW_OK) {
            app_log("line %s: %s", lines[i].cfg.name, err.msg);
            status = APP_FAILURE;
            goto out;
        }
    }
    if (pbx_on) {
        cw_audiosocket_opts_t ao;
        cw_audiosocket_opts_from_config(cfg, &ao);
        pbx.server = cw_audiosocket_new(&ao, &err);
        if (!pbx.server) {
            app_log("%s", err.msg);
            status = APP_FAILURE;
            goto out;
        }
        app_log("audiosocket: accepting calls from the PBX on %s", cw_audiosocket_address(pbx.server));
    }
    app_log("node %s %s %s with %d decoder(s)%s; %d line(s) up", cfg->bus_node,
            connect_mode ? "publishing into the broker at" : "publishing on", cw_bus_publisher_endpoint(bus_sink),
            pool ? cw_asr_pool_workers(pool) : 0, pool ? "" : " (--no-asr: no transcripts)", n_lines);
    cw_monitor_pool(monitor, pool, app_monotonic_s());
    overload = cw_overload_new(cfg, cfg->bus_node, outbox, &err);
    if (!overload) {
        app_log("%s", err.msg);
        status = APP_FAILURE;
        goto out;
    }
    cw_monitor_set_phase(monitor, CW_MONITOR_LIVE, "");
    app_log("acknowledgements on %s", cw_ack_server_endpoint(acks));

    while (!app_stop_requested) {
        long moved = 0;
        double now = app_monotonic_s();
        if (app_reload_requested) {
            app_reload_requested = 0;
            app_reloader_reload(reloader);
        }
        const cw_config_t *live = app_reloader_config(reloader);
        for (int i = 0; i < n_lines; i++) {
            line_state_t *ls = &lines[i];
            cw_monitor_line(monitor, i, ls->call, now);
            if (ls->call) {
                moved += cw_call_pump(ls->call);
                if (cw_call_ended(ls->call) && !cw_call_done(ls->call))
                    continue; /* decoding the last words */
                if (!cw_call_done(ls->call))
                    continue;
                bool failed = cw_call_failed(ls->call);
                app_log("line %s: call %s ended%s", ls->cfg.name, cw_call_id(ls->call),
                        failed ? " (source failed; see call_end)" : "");
                cw_monitor_line(monitor, i, ls->call, now);
                cw_call_destroy(&ls->call);
                if (!failed && !line_uses_device(&ls->cfg)) {
                    ls->finished = true;
                } else {
                    ls->reopen_at = now + live->capture_retry_s;
                    ls->lost_logged = false;
                }
                continue;
            }
            if (ls->finished || now < ls->reopen_at)
                continue;
            if (start_call(live, pool, outbox, ls, &err) != CW_OK) {
                if (!ls->lost_logged)
                    app_log("line %s: still unavailable (%s); retrying every %.1f s", ls->cfg.name, err.msg,
                            live->capture_retry_s);
                ls->lost_logged = true;
                ls->reopen_at = now + live->capture_retry_s;
            }
        }
        cw_monitor_pool(monitor, pool, now);
        update_overload(overload, pool, lines, n_lines, &pbx, now, &overload_next);
        if (pbx.server) {
            pbx_accept(&pbx, live, pool, outbox);
            moved += pbx_pump(&pbx);
        }
        if (app_reloader_retired(reloader)) {
            for (int i = 0; i < n_lines; i++)
                if (lines[i].call)
                    app_reloader_mark(reloader, cw_call_config(lines[i].call));
            for (int i = 0; i < pbx.n; i++)
                app_reloader_mark(reloader, cw_call_config(pbx.calls[i]));
            app_reloader_sweep(reloader);
        }
        if (moved == 0)
            app_sleep_ms(10);
    }

    cw_monitor_set_phase(monitor, CW_MONITOR_STOPPING, "finishing the utterances in flight");
    app_log("stopping: finishing the utterances in flight");
    for (int i = 0; i < n_lines; i++)
        if (lines[i].call)
            cw_call_hangup(lines[i].call, "shutdown");
    cw_audiosocket_destroy(&pbx.server);
    for (int i = 0; i < pbx.n; i++)
        cw_call_hangup(pbx.calls[i], "shutdown");
    double deadline = app_monotonic_s() + DRAIN_TIMEOUT_S;
    for (;;) {
        bool all_done = true;
        for (int i = 0; i < n_lines; i++)
            if (lines[i].call && !cw_call_done(lines[i].call))
                all_done = false;
        for (int i = 0; i < pbx.n; i++)
            if (!cw_call_done(pbx.calls[i]))
                all_done = false;
        if (all_done)
            break;
        if (app_monotonic_s() > deadline) {
            app_log("gave up waiting for the decoders after %.0f s", DRAIN_TIMEOUT_S);
            status = APP_FAILURE;
            break;
        }
        app_sleep_ms(10);
    }

out:
    /* No health check may read the monitor once it is gone. */
    cw_http_destroy(&http);
    /* The pool goes first so no decoder thread posts into a freed call. */
    cw_asr_pool_destroy(&pool);
    for (int i = 0; i < n_lines; i++)
        if (lines[i].call)
            cw_call_abandon(lines[i].call, "utterances left undecoded at the drain timeout");
    for (int i = 0; i < pbx.n; i++)
        cw_call_abandon(pbx.calls[i], "utterances left undecoded at the drain timeout");
    for (int i = 0; i < n_lines; i++)
        cw_call_destroy(&lines[i].call);
    if (outbox && archive_ref) {
        cw_outbox_flush(outbox);
        app_archive_report(archive_ref);
    }
    for (int i = 0; i < pbx.n; i++)
        cw_call_destroy(&pbx.calls[i]);
    free(pbx.calls);
    cw_audiosocket_destroy(&pbx.server);
    /* No more acks are posted, but the outbox, while it drains, still shows
     * the server its last events. */
    cw_ack_server_stop(acks);
    app_reloader_destroy(&reloader); /* after the calls that read its configs */
    cw_overload_destroy(&overload);
    cw_outbox_destroy(&outbox);
    cw_ack_server_destroy(&acks);
    cw_whisper_destroy(&whisper);
    cw_monitor_destroy(&monitor);
    cw_metrics_destroy(&metrics);
    cw_curve_server_destroy(&curve);
    cw_bus_shutdown();
    if (pa_up)
        cw_portaudio_terminate();
    free(lines);
    cw_config_destroy(&cfg);
    return status;
}
