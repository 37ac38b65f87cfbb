/* cmd_run.c - `callwatch run`: the live daemon's command line (daemon.h runs it). */
#include "app.h"

#include "callwatch/archive_pg.h"
#include "callwatch/daemon.h"
#include "callwatch/playbook.h"
#include "callwatch/users.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
          "      --websocket HOST:PORT\n"
          "                        accept WebSocket media streams here (instead of\n"
          "                        [websocket] listen): /freeswitch (mod_audio_fork),\n"
          "                        /twilio (Media Streams), /audiohook (Genesys AudioHook)\n"
          "      --user NAME       started as root: become NAME once the bus is bound\n"
          "      --archive FILE|URL\n"
          "                        archive every event in this SQLite file or PostgreSQL\n"
          "                        database (postgresql://...; instead of [archive] path\n"
          "                        and url); events are published once archived\n"
          "      --ack-endpoint EP take acknowledgements here instead of [bus] ack_endpoint\n"
          "      --no-asr          skip speech recognition (no decoders are loaded): no\n"
          "                        transcripts, voice and turn-taking cues only\n"
          "  -h, --help            this help\n",
          out);
}
/* --check-config: who may acknowledge ([web] users read as the daemon would). */
static int print_ack_users(const cw_config_t *cfg)
{
    if (!cfg->web_users[0]) {
        printf("; names unverified (no [web] users)");
        return APP_OK;
    }
    cw_error_t err;
    cw_error_clear(&err);
    cw_users_t *users = cw_users_load(cfg->web_users, &err);
    if (!users) {
        printf("\n");
        app_log("%s: [web] users: %s", cfg->source_path, err.msg);
        return APP_USAGE;
    }
    printf("; only supervisors of %s (%zu users)", cfg->web_users, cw_users_count(users));
    cw_users_destroy(&users);
    return APP_OK;
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
    /* mode = connect publishes as a CURVE client of the broker, and the ack
     * link to a broker is one: its keys too. */
    cw_curve_client_t *node_client = NULL;
    if ((strcmp(cfg->bus_mode, "connect") == 0 || cfg->bus_broker_ack_endpoint[0]) &&
        app_node_client(cfg, &node_client, &err) != CW_OK) {
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
    printf("config %s: valid\n", cfg->source_path);
    printf("  models: hmm %s, dict %s, lm %s\n", cfg->hmm, cfg->dict, cfg->lm);
    printf("  8 kHz legs: %s\n", cfg->asr_model_8k[0] ? cfg->asr_model_8k : "upsampled for hmm (no [asr] model_8k)");
    printf("  bus: %s (%s, %s)\n", cfg->bus_endpoint, cfg->bus_mode,
           cw_config_switch_on(cfg->bus_curve) ? "CURVE" : "plain");
    printf("  metrics: %s\n", cfg->metrics_listen[0] ? cfg->metrics_listen : "off");
    char archive[512];
    const char *target = app_archive_target(cfg);
    printf("  archive: %s\n", target[0] ? app_archive_name(target, archive, sizeof archive) : "(none)");
    printf("  acks: %s", cfg->bus_ack_endpoint);
    if (cfg->bus_broker_ack_endpoint[0])
        printf(", and through the broker at %s as node %s", cfg->bus_broker_ack_endpoint,
               cfg->bus_node[0] ? cfg->bus_node : "(the short host name)");
    if (print_ack_users(cfg) != APP_OK) {
        cw_playbook_destroy(&pb);
        return APP_USAGE;
    }
    printf("\n  whispers: %s (%s)\n", pb_path, cw_playbook_lang(pb));
    cw_playbook_destroy(&pb);
    printf("  lines: %d\n", n_lines);
    if (cfg->audiosocket_listen[0])
        printf("  audiosocket: listening on %s (up to %d legs)\n", cfg->audiosocket_listen,
               cfg->audiosocket_max_connections);
    if (cfg->websocket_listen[0])
        printf("  websocket: listening on %s (up to %d streams)\n", cfg->websocket_listen,
               cfg->websocket_max_connections);
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
    int failed = app_check_open(cfg);
    if (failed) {
        printf("config NOT OK: %d device(s) or endpoint(s) failed to open (see above)\n", failed);
        return APP_FAILURE;
    }
    printf("config OK\n");
    return APP_OK;
}

/* What `run` was asked on its command line. */
typedef struct run_opts {
    const char *config_path, *endpoint, *audiosocket, *websocket, *run_as, *archive_path, *ack_endpoint;
    bool only_check, no_asr;
    const char *files[CW_MAX_LINES];
    int n_files;
} run_opts_t;
/* Parses run's options into *o; returns -1 to go on, else the exit status. */
static int parse_run_options(int argc, char **argv, run_opts_t *o)
{
    enum { OPT_CHECK = 256, OPT_FILE, OPT_ENDPOINT, OPT_AUDIOSOCKET, OPT_USER, OPT_ARCHIVE, OPT_ACK_ENDPOINT,
           OPT_NO_ASR, OPT_WEBSOCKET };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"file", required_argument, NULL, OPT_FILE},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"audiosocket", required_argument, NULL, OPT_AUDIOSOCKET},
        {"websocket", required_argument, NULL, OPT_WEBSOCKET},
        {"user", required_argument, NULL, OPT_USER},
        {"archive", required_argument, NULL, OPT_ARCHIVE},
        {"ack-endpoint", required_argument, NULL, OPT_ACK_ENDPOINT},
        {"no-asr", no_argument, NULL, OPT_NO_ASR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o->config_path = optarg; break;
        case OPT_CHECK: o->only_check = true; break;
        case OPT_FILE:
            if (o->n_files == CW_MAX_LINES) {
                app_log("run: at most %d --file options", CW_MAX_LINES);
                return APP_USAGE;
            }
            o->files[o->n_files++] = optarg;
            break;
        case OPT_ENDPOINT: o->endpoint = optarg; break;
        case OPT_AUDIOSOCKET: o->audiosocket = optarg; break;
        case OPT_WEBSOCKET: o->websocket = optarg; break;
        case OPT_USER: o->run_as = optarg; break;
        case OPT_ARCHIVE: o->archive_path = optarg; break;
        case OPT_ACK_ENDPOINT: o->ack_endpoint = optarg; break;
        case OPT_NO_ASR: o->no_asr = true; break;
        case 'h': run_usage(stdout); return APP_OK;
        default: run_usage(stderr); return APP_USAGE;
        }
    }
    if (optind < argc) {
        app_log("run: unexpected argument '%s' (files are given with --file)", argv[optind]);
        return APP_USAGE;
    }
    return -1;
}

/* The command line's overrides of the configuration; APP_OK or APP_USAGE. */
static int apply_run_overrides(cw_config_t *cfg, const run_opts_t *o)
{
    if (o->endpoint)
        snprintf(cfg->bus_endpoint, sizeof cfg->bus_endpoint, "%s", o->endpoint);
    cw_error_t err;
    cw_error_clear(&err);
    if (o->audiosocket && cw_config_set(cfg, "audiosocket", "listen", o->audiosocket, "--audiosocket", &err) != CW_OK) {
        app_log("%s", err.msg);
        return APP_USAGE;
    }
    if (o->websocket && cw_config_set(cfg, "websocket", "listen", o->websocket, "--websocket", &err) != CW_OK) {
        app_log("%s", err.msg);
        return APP_USAGE;
    }
    if (o->archive_path) {
        /* The command line wins over both [archive] path and url. */
        bool url = cw_archive_pg_is_url(o->archive_path);
        snprintf(url ? cfg->archive_url : cfg->archive_path, CW_PATH_MAX, "%s", o->archive_path);
        if (!url)
            cfg->archive_url[0] = '\0';
    }
    if (o->ack_endpoint)
        snprintf(cfg->bus_ack_endpoint, sizeof cfg->bus_ack_endpoint, "%s", o->ack_endpoint);
    return APP_OK;
}
int cmd_run(int argc, char **argv)
{
    run_opts_t opts = {0};
    int st = parse_run_options(argc, argv, &opts);
    if (st >= 0)
        return st;
    if (!app_check_can_drop(opts.run_as))
        return APP_USAGE;

    cw_config_t *cfg = app_load_config(opts.config_path, false);
    if (!cfg)
        return APP_USAGE;
    if (apply_run_overrides(cfg, &opts) != APP_OK) {
        cw_config_destroy(&cfg);
        return APP_USAGE;
    }
    bool pbx_on = cfg->audiosocket_listen[0] != '\0' || cfg->websocket_listen[0] != '\0';
    int n_lines = cfg->n_lines + opts.n_files;
    if (n_lines == 0 && !pbx_on)
        n_lines = 1;
    if (opts.only_check) {
        st = check_config(cfg, n_lines);
        cw_config_destroy(&cfg);
        return st;
    }
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_config_validate(cfg, &err) != CW_OK) {
        app_log_config_error(cfg, &err);
        cw_config_destroy(&cfg);
        return APP_USAGE;
    }

    cw_daemon_opts_t dopts = {.config_path = opts.config_path, .run_as = opts.run_as, .no_asr = opts.no_asr,
                              .files = opts.files, .n_files = opts.n_files};
    cw_daemon_t *d = cw_daemon_new(&cfg, &dopts, &st);
    if (!d)
        return st;
    st = cw_daemon_run(d);
    cw_daemon_destroy(&d);
    return st;
}
