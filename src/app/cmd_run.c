/* cmd_run.c - `callwatch run`: the live daemon. */
#include "app.h"

#include "callwatch/asr.h"
#include "callwatch/bus.h"
#include "callwatch/call.h"
#include "callwatch/outbox.h"
#include "callwatch/source.h"
#include "callwatch/acks.h"
#include "callwatch/whisper.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How long a shutdown waits for in-flight utterances to be decoded. */
#define DRAIN_TIMEOUT_S 15.0

typedef struct line_state {
    cw_line_config_t cfg;
    cw_call_t *call;
    bool finished;    /* a file replay that reached its end: nothing to reopen */
    double reopen_at; /* monotonic seconds; a lost device is retried from then */
    bool lost_logged;
} line_state_t;

static void run_usage(FILE *out)
{
    fputs("usage: callwatch run [options]\n"
          "\n"
          "Captures every [line NAME] of the configuration (a PortAudio device, two mono\n"
          "devices, or a file replayed at real time), transcribes both legs and publishes\n"
          "the events on the ZeroMQ bus as two-frame messages (topic, JSON). Stops\n"
          "cleanly on SIGINT/SIGTERM after the utterances in flight are decoded.\n"
          "\n"
          "options:\n"
          "  -c, --config FILE     configuration (default: the shipped models/callwatch.ini)\n"
          "      --check-config    validate the configuration and the models, then exit\n"
          "      --file PATH       also replay this stereo call file at real time as a line\n"
          "                        (repeatable; ch0 agent, ch1 customer)\n"
          "      --endpoint EP     publish here instead of [bus] endpoint\n"
          "      --ack-endpoint EP take acknowledgements here instead of [bus] ack_endpoint\n"
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

static int start_call(const cw_config_t *cfg, cw_asr_pool_t *pool, cw_outbox_t *outbox, line_state_t *ls,
                      cw_error_t *err)
{
    cw_source_t *src = open_line_source(cfg, &ls->cfg, err);
    if (!src)
        return err->code ? err->code : CW_ERR_DEVICE;
    cw_call_opts_t co = {.call_id = NULL, .line = ls->cfg.name, .agent_id = ls->cfg.agent_id, .offline = false};
    co.team = ls->cfg.team;
    ls->call = cw_call_new(cfg, pool, outbox, &src, &co, err);
    cw_source_destroy(&src);
    if (!ls->call)
        return err->code ? err->code : CW_ERR_INTERNAL;
    app_log("line %s: call %s started (%s)", ls->cfg.name, cw_call_id(ls->call),
            ls->cfg.file[0] ? ls->cfg.file : ls->cfg.device[0] ? ls->cfg.device : ls->cfg.agent_device);
    return CW_OK;
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
    char pb_path[CW_PATH_MAX];
    cw_playbook_t *pb = cw_playbook_load(cw_config_model_path(cfg->whisper_playbook, pb_path, sizeof pb_path), &err);
    if (!pb) {
        app_log("%s", err.msg);
        return APP_USAGE;
    }
    printf("config OK: %s\n", cfg->source_path);
    printf("  models: hmm %s, dict %s, lm %s\n", cfg->hmm, cfg->dict, cfg->lm);
    printf("  bus: %s\n", cfg->bus_endpoint);
    printf("  acks: %s\n  whispers: %s (%s)\n", cfg->bus_ack_endpoint, pb_path, cw_playbook_lang(pb));
    cw_playbook_destroy(&pb);
    printf("  lines: %d\n", n_lines);
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
    enum { OPT_CHECK = 256, OPT_FILE, OPT_ENDPOINT, OPT_ACK_ENDPOINT };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check-config", no_argument, NULL, OPT_CHECK},
        {"file", required_argument, NULL, OPT_FILE},
        {"endpoint", required_argument, NULL, OPT_ENDPOINT},
        {"ack-endpoint", required_argument, NULL, OPT_ACK_ENDPOINT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *endpoint = NULL, *ack_endpoint = NULL;
    bool only_check = false;
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
        case OPT_ACK_ENDPOINT: ack_endpoint = optarg; break;
        case 'h': run_usage(stdout); return APP_OK;
        default: run_usage(stderr); return APP_USAGE;
        }
    }
    if (optind < argc) {
        app_log("run: unexpected argument '%s' (files are given with --file)", argv[optind]);
        return APP_USAGE;
    }

    cw_config_t *cfg = app_load_config(config_path, false);
    if (!cfg)
        return APP_USAGE;
    if (endpoint)
        snprintf(cfg->bus_endpoint, sizeof cfg->bus_endpoint, "%s", endpoint);
    if (ack_endpoint)
        snprintf(cfg->bus_ack_endpoint, sizeof cfg->bus_ack_endpoint, "%s", ack_endpoint);

    int n_lines = cfg->n_lines + n_files;
    if (n_lines == 0)
        n_lines = 1;
    if (only_check) {
        int st = check_config(cfg, n_lines);
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

    int status = APP_OK;
    bool pa_up = false;
    cw_asr_pool_t *pool = NULL;
    cw_outbox_t *outbox = NULL;
    cw_whisper_t *whisper = NULL;
    cw_ack_server_t *acks = NULL;
    daemon_follow_t follow = {NULL, NULL};
    line_state_t *lines = calloc((size_t)n_lines, sizeof *lines);
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
    if (k == 0) {
        cw_line_config_t *l = &lines[0].cfg;
        snprintf(l->name, sizeof l->name, "default");
        snprintf(l->device, sizeof l->device, "default");
        snprintf(l->agent_id, sizeof l->agent_id, "default");
        l->agent_channel = 0;
        l->customer_channel = 1;
        app_log("no [line] configured: capturing the default input device (ch0 agent, ch1 customer)");
    }

    app_install_signals();
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
    cw_sink_t *publisher = cw_bus_publisher_new(cfg->bus_endpoint, cfg->bus_sndhwm, &err);
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
    outbox = cw_outbox_new(65536, &err);
    if (!outbox || cw_outbox_add_sink(outbox, &publisher, &err) != CW_OK) {
        cw_sink_destroy(&publisher);
        app_log("cannot start the publisher: %s", err.msg);
        status = APP_FAILURE;
        goto out;
    }
    acks = cw_ack_server_new(cfg->bus_ack_endpoint, outbox, &err);
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
    pool = cw_asr_pool_new(cfg, &err);
    if (!pool) {
        app_log("%s", err.msg);
        status = APP_USAGE;
        goto out;
    }
    for (int i = 0; i < n_lines; i++) {
        if (start_call(cfg, pool, outbox, &lines[i], &err) != CW_OK) {
            app_log("line %s: %s", lines[i].cfg.name, err.msg);
            status = APP_FAILURE;
            goto out;
        }
    }
    app_log("publishing on %s with %d decoder(s); %d line(s) up", cfg->bus_endpoint, cw_asr_pool_workers(pool),
            n_lines);
    app_log("acknowledgements on %s", cw_ack_server_endpoint(acks));

    while (!app_stop_requested) {
        long moved = 0;
        double now = app_monotonic_s();
        for (int i = 0; i < n_lines; i++) {
            line_state_t *ls = &lines[i];
            if (ls->call) {
                moved += cw_call_pump(ls->call);
                if (cw_call_ended(ls->call) && !cw_call_done(ls->call))
                    continue; /* decoding the last words */
                if (!cw_call_done(ls->call))
                    continue;
                bool failed = cw_call_failed(ls->call);
                app_log("line %s: call %s ended%s", ls->cfg.name, cw_call_id(ls->call),
                        failed ? " (source failed; see call_end)" : "");
                cw_call_destroy(&ls->call);
                if (!failed && !line_uses_device(&ls->cfg)) {
                    ls->finished = true;
                } else {
                    ls->reopen_at = now + cfg->capture_retry_s;
                    ls->lost_logged = false;
                }
                continue;
            }
            if (ls->finished || now < ls->reopen_at)
                continue;
            if (start_call(cfg, pool, outbox, ls, &err) != CW_OK) {
                if (!ls->lost_logged)
                    app_log("line %s: still unavailable (%s); retrying every %.1f s", ls->cfg.name, err.msg,
                            cfg->capture_retry_s);
                ls->lost_logged = true;
                ls->reopen_at = now + cfg->capture_retry_s;
            }
        }
        if (moved == 0)
            app_sleep_ms(10);
    }

    app_log("stopping: finishing the utterances in flight");
    for (int i = 0; i < n_lines; i++)
        if (lines[i].call)
            cw_call_hangup(lines[i].call, "shutdown");
    double deadline = app_monotonic_s() + DRAIN_TIMEOUT_S;
    for (;;) {
        bool all_done = true;
        for (int i = 0; i < n_lines; i++)
            if (lines[i].call && !cw_call_done(lines[i].call))
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
    /* The pool goes first so no decoder thread posts into a freed call. */
    cw_asr_pool_destroy(&pool);
    for (int i = 0; i < n_lines; i++)
        cw_call_destroy(&lines[i].call);
    /* No more acks are posted, but the outbox, while it drains, still shows
     * the server its last events. */
    cw_ack_server_stop(acks);
    cw_outbox_destroy(&outbox);
    cw_ack_server_destroy(&acks);
    cw_whisper_destroy(&whisper);
    cw_bus_shutdown();
    if (pa_up)
        cw_portaudio_terminate();
    free(lines);
    cw_config_destroy(&cfg);
    return status;
}
