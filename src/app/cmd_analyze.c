/* cmd_analyze.c - `callwatch analyze`: recorded calls in, JSON Lines out. */
#include "app.h"

#include "callwatch/asr.h"
#include "callwatch/call.h"
#include "callwatch/event.h"
#include "callwatch/models.h"
#include "callwatch/outbox.h"
#include "callwatch/sink.h"
#include "callwatch/source.h"

#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_FILES 1024

static void analyze_usage(FILE *out)
{
    fputs("usage: callwatch analyze [options] FILE...\n"
          "\n"
          "Transcribes recorded calls, detects the cues of the taxonomy and prints the\n"
          "events (call_start, transcript, alert, call_end) as JSON Lines on stdout; diagnostics go to stderr. A stereo file is\n"
          "one call (channel 0 agent, channel 1 customer); a mono file is one leg.\n"
          "Reads WAV, FLAC and anything else libsndfile reads, at any sample rate,\n"
          "8-bit u-law/a-law included.\n"
          "\n"
          "options:\n"
          "  -c, --config FILE         configuration (default: the shipped models/callwatch.ini)\n"
          "      --agent-channel N     channel carrying the agent (default 0)\n"
          "      --customer-channel N  channel carrying the customer (default 1)\n"
          "      --leg agent|customer  the file(s) are mono recordings of this leg\n"
          "      --realtime            pace the audio at real time, like a live call\n"
          "      --call-id ID          call id for the events (one file only; default: file name)\n"
          "      --no-asr              skip speech recognition: voice and turn-taking cues only\n"
          "      --archive FILE.db     also archive the events for QA (`callwatch qa`); a call\n"
          "                            analysed again replaces its earlier analysis\n"
          "      --agent ID            the agent on the recording(s), for call_start and the archive\n"
          "      --team T              the agent's team\n"
          "      --started-at TIME     when the call really started (one file), ISO-8601:\n"
          "                            2024-05-01T14:30:00Z, 2024-05-01 16:30:00+02:00 (no zone = UTC)\n"
          "\n"
          "A sidecar FILE.json next to a recording FILE ({\"agent_id\": ..., \"team\": ...,\n"
          "\"started_at\": ...}) gives the same per file; the command line wins over it.\n"
          "With several files and stderr a terminal, a progress line shows files done,\n"
          "speed and the time left.\n"
          "  -h, --help                this help\n",
          out);
}

/* Parses --started-at into cli (exit status APP_OK or APP_USAGE). */
static int take_started_at(const char *text, app_recording_t *cli)
{
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_event_parse_time(text, cli->started_at, sizeof cli->started_at, &err) != CW_OK) {
        app_log("--started-at: %s", err.msg);
        return APP_USAGE;
    }
    return APP_OK;
}

/* The batch's progress: files done and the audio they held. */
static void show_progress(app_progress_t *p, cw_call_t *const *calls, const double *duration_s, int n, bool last)
{
    if (!p->enabled)
        return;
    int done = 0;
    double audio = 0;
    for (int i = 0; i < n; i++) {
        if (calls[i] && cw_call_done(calls[i])) {
            done++;
            audio += duration_s[i];
        }
    }
    app_progress_show(p, done, audio, app_monotonic_s(), last);
}

/* The file's name without directory and extension, as a readable call id. */
static void call_id_from_path(const char *path, char *out, size_t cap)
{
    char copy[CW_PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    const char *base = basename(copy);
    snprintf(out, cap, "%s", base);
    char *dot = strrchr(out, '.');
    if (dot && dot != out)
        *dot = '\0';
}

/* What to analyse and how, from the command line. */
typedef struct analyze_job {
    char **files;
    int n_files;
    const char *call_id, *archive_path;
    int agent_channel, customer_channel, mono_leg;
    bool realtime, no_asr;
    const app_recording_t *cli; /* --agent/--team/--started-at: win over the sidecars */
} analyze_job_t;

/* One run of `analyze`: its sources, calls, decoders and writer; main thread. */
typedef struct analysis {
    const analyze_job_t *job;
    cw_config_t *cfg;
    cw_source_t **sources;
    cw_call_t **calls;
    app_recording_t *recs; /* per file: its sidecar, overridden by the command line */
    double *duration_s;    /* per file: the recording's length */
    app_progress_t progress;
    cw_asr_pool_t *pool;
    cw_outbox_t *outbox;
    const cw_sink_t *archive_ref; /* owned by the outbox */
} analysis_t;

/* Every file is opened before any work starts: a bad file among many is
 * reported at once instead of after an hour of decoding. */
static int open_sources(analysis_t *a, cw_error_t *err)
{
    const analyze_job_t *job = a->job;
    for (int i = 0; i < job->n_files; i++) {
        cw_file_source_opts_t fo = {
            .path = job->files[i],
            .agent_channel = job->agent_channel,
            .customer_channel = job->customer_channel,
            .mono_leg = job->mono_leg,
            .realtime = job->realtime,
        };
        a->sources[i] = cw_source_file_new(&fo, err);
        if (!a->sources[i]) {
            app_log("%s", err->msg);
            return APP_FAILURE;
        }
        a->duration_s[i] = cw_source_info(a->sources[i])->duration_s;
        int status = app_recording_sidecar(fo.path, &a->recs[i]);
        if (status != APP_OK)
            return status;
        app_recording_override(&a->recs[i], job->cli);
    }
    return APP_OK;
}

/* The event writer: the archive first (with --archive), then stdout. */
static int start_writer(analysis_t *a, cw_error_t *err)
{
    cw_sink_t *archive = NULL;
    if (a->job->archive_path) {
        archive = app_archive_sink(a->cfg, a->job->archive_path);
        if (!archive)
            return APP_FAILURE;
        a->archive_ref = archive;
    }
    a->outbox = cw_outbox_new(4096, err);
    cw_sink_t *sink = cw_sink_jsonl_new(stdout);
    if (!a->outbox || !sink || (archive && cw_outbox_add_sink(a->outbox, &archive, err) != CW_OK) ||
        cw_outbox_add_sink(a->outbox, &sink, err) != CW_OK || cw_outbox_start(a->outbox, err) != CW_OK) {
        if (archive)
            a->archive_ref = NULL;
        cw_sink_destroy(&archive);
        cw_sink_destroy(&sink);
        app_log("cannot start the event writer: %s", err->msg);
        return APP_FAILURE;
    }
    return APP_OK;
}

/* A call per file, named by --call-id or the file (made unique by its
 * position); stops at the first that cannot start (APP_FAILURE). */
static int start_calls(analysis_t *a, cw_error_t *err)
{
    const analyze_job_t *job = a->job;
    for (int i = 0; i < job->n_files; i++) {
        char id[CW_NAME_MAX];
        if (job->call_id) {
            snprintf(id, sizeof id, "%s", job->call_id);
        } else {
            call_id_from_path(job->files[i], id, sizeof id);
            for (int j = 0; j < i; j++) {
                if (a->calls[j] && strcmp(cw_call_id(a->calls[j]), id) == 0) {
                    size_t len = strlen(id);
                    snprintf(id + len, sizeof id - len, "-%d", i + 1);
                    break;
                }
            }
        }
        cw_call_opts_t co = {.call_id = id, .line = "file", .agent_id = NULL, .offline = !job->realtime,
                             .no_asr = job->no_asr};
        co.agent_id = a->recs[i].agent_id[0] ? a->recs[i].agent_id : NULL;
        co.team = a->recs[i].team;
        co.started_at = a->recs[i].started_at;
        a->calls[i] = cw_call_new(a->cfg, a->pool, a->outbox, &a->sources[i], &co, err);
        if (!a->calls[i]) {
            app_log("%s: %s", job->files[i], err->msg);
            return APP_FAILURE;
        }
    }
    return APP_OK;
}

/* One thread feeds every call until all are done (hung up on SIGINT/SIGTERM);
 * the decoder pool works in parallel. */
static void pump_calls(analysis_t *a)
{
    double audio_total_s = 0;
    for (int i = 0; i < a->job->n_files; i++)
        audio_total_s += a->duration_s[i];
    app_progress_start(&a->progress, a->job->n_files, audio_total_s, app_monotonic_s());
    for (;;) {
        bool all_done = true;
        long moved = 0;
        for (int i = 0; i < a->job->n_files; i++) {
            if (!a->calls[i])
                continue;
            if (app_stop_requested && !cw_call_ended(a->calls[i]))
                cw_call_hangup(a->calls[i], "interrupted");
            moved += cw_call_pump(a->calls[i]);
            if (!cw_call_done(a->calls[i]))
                all_done = false;
        }
        show_progress(&a->progress, a->calls, a->duration_s, a->job->n_files, all_done);
        if (all_done)
            break;
        if (moved == 0)
            app_sleep_ms(a->job->realtime ? 10 : 2);
    }
}

/* APP_FAILURE if a call ended early or the run was interrupted, else status. */
static int calls_status(const analysis_t *a, int status)
{
    for (int i = 0; i < a->job->n_files; i++) {
        if (a->calls[i] && cw_call_failed(a->calls[i])) {
            app_log("%s: the call ended early; see its call_end event", a->job->files[i]);
            status = APP_FAILURE;
        }
    }
    if (app_stop_requested)
        status = APP_FAILURE;
    return status;
}

/* Frees what analyze_files() started, after the writer has written every
 * event; returns status, or APP_FAILURE if writing failed. */
static int analysis_teardown(analysis_t *a, int status)
{
    for (int i = 0; a->calls && i < a->job->n_files; i++)
        cw_call_destroy(&a->calls[i]);
    if (a->outbox) {
        cw_outbox_flush(a->outbox);
        const char *last = cw_outbox_last_error(a->outbox);
        if (last && last[0]) {
            app_log("writing events failed: %s", last);
            status = APP_FAILURE;
        }
        if (a->archive_ref)
            app_archive_report(a->archive_ref);
    }
    cw_outbox_destroy(&a->outbox);
    cw_asr_pool_destroy(&a->pool);
    for (int i = 0; a->sources && i < a->job->n_files; i++)
        cw_source_destroy(&a->sources[i]);
    free(a->sources);
    free(a->calls);
    free(a->recs);
    free(a->duration_s);
    cw_config_destroy(&a->cfg);
    cw_models_forget_all();
    return status;
}

/* Analyses the job's files with cfg (taken); returns the exit status. */
static int analyze_files(cw_config_t *cfg, const analyze_job_t *job)
{
    analysis_t a = {.job = job, .cfg = cfg};
    cw_error_t err;
    cw_error_clear(&err);
    a.sources = calloc((size_t)job->n_files, sizeof *a.sources);
    a.calls = calloc((size_t)job->n_files, sizeof *a.calls);
    a.recs = calloc((size_t)job->n_files, sizeof *a.recs);
    a.duration_s = calloc((size_t)job->n_files, sizeof *a.duration_s);
    if (!a.sources || !a.calls || !a.recs || !a.duration_s) {
        app_log("out of memory");
        return analysis_teardown(&a, APP_FAILURE);
    }
    int status = open_sources(&a, &err);
    if (status != APP_OK)
        return analysis_teardown(&a, status);
    app_install_signals();
    a.pool = job->no_asr ? NULL : cw_asr_pool_new(cfg, &err);
    if (!a.pool && !job->no_asr) {
        app_log("%s", err.msg);
        return analysis_teardown(&a, APP_USAGE);
    }
    status = start_writer(&a, &err);
    if (status != APP_OK)
        return analysis_teardown(&a, status);
    status = start_calls(&a, &err);
    pump_calls(&a);
    return analysis_teardown(&a, calls_status(&a, status));
}

int cmd_analyze(int argc, char **argv)
{
    enum { OPT_AGENT = 256, OPT_CUSTOMER, OPT_LEG, OPT_REALTIME, OPT_CALL_ID, OPT_NO_ASR, OPT_ARCHIVE, OPT_AGENT_ID,
           OPT_TEAM, OPT_STARTED_AT };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"agent-channel", required_argument, NULL, OPT_AGENT},
        {"customer-channel", required_argument, NULL, OPT_CUSTOMER},
        {"leg", required_argument, NULL, OPT_LEG},
        {"realtime", no_argument, NULL, OPT_REALTIME},
        {"no-asr", no_argument, NULL, OPT_NO_ASR},
        {"call-id", required_argument, NULL, OPT_CALL_ID},
        {"archive", required_argument, NULL, OPT_ARCHIVE},
        {"agent", required_argument, NULL, OPT_AGENT_ID},
        {"team", required_argument, NULL, OPT_TEAM},
        {"started-at", required_argument, NULL, OPT_STARTED_AT},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *call_id = NULL, *archive_path = NULL;
    long agent_channel = 0, customer_channel = 1;
    bool channels_given = false, realtime = false, no_asr = false;
    int mono_leg = -1;
    app_recording_t cli = {0};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case OPT_AGENT:
            if (!app_parse_int("--agent-channel", optarg, 0, 63, &agent_channel))
                return APP_USAGE;
            channels_given = true;
            break;
        case OPT_CUSTOMER:
            if (!app_parse_int("--customer-channel", optarg, 0, 63, &customer_channel))
                return APP_USAGE;
            channels_given = true;
            break;
        case OPT_LEG:
            if (strcmp(optarg, "agent") == 0) {
                mono_leg = CW_LEG_AGENT;
            } else if (strcmp(optarg, "customer") == 0) {
                mono_leg = CW_LEG_CUSTOMER;
            } else {
                app_log("--leg '%s': expected 'agent' or 'customer'", optarg);
                return APP_USAGE;
            }
            break;
        case OPT_REALTIME: realtime = true; break;
        case OPT_CALL_ID: call_id = optarg; break;
        case OPT_NO_ASR: no_asr = true; break;
        case OPT_ARCHIVE: archive_path = optarg; break;
        case OPT_AGENT_ID: snprintf(cli.agent_id, sizeof cli.agent_id, "%s", optarg); break;
        case OPT_TEAM: snprintf(cli.team, sizeof cli.team, "%s", optarg); break;
        case OPT_STARTED_AT:
            if (take_started_at(optarg, &cli) != APP_OK)
                return APP_USAGE;
            break;
        case 'h': analyze_usage(stdout); return APP_OK;
        default: analyze_usage(stderr); return APP_USAGE;
        }
    }
    int n_files = argc - optind;
    if (n_files < 1) {
        app_log("analyze: no audio file given");
        analyze_usage(stderr);
        return APP_USAGE;
    }
    if (n_files > MAX_FILES) {
        app_log("analyze: at most %d files per run (got %d)", MAX_FILES, n_files);
        return APP_USAGE;
    }
    if (channels_given && mono_leg >= 0) {
        app_log("analyze: --leg is for mono files and cannot be combined with --agent-channel/--customer-channel");
        return APP_USAGE;
    }
    if (agent_channel == customer_channel) {
        app_log("analyze: --agent-channel and --customer-channel are both %ld", agent_channel);
        return APP_USAGE;
    }
    if (call_id && n_files > 1) {
        app_log("analyze: --call-id names one call, but %d files were given", n_files);
        return APP_USAGE;
    }
    if (cli.started_at[0] && n_files > 1) {
        app_log("analyze: --started-at is one call's start, but %d files were given (use a FILE.json sidecar "
                "per recording)", n_files);
        return APP_USAGE;
    }

    cw_config_t *cfg = app_load_config(config_path, true);
    if (!cfg)
        return APP_USAGE;
    analyze_job_t job = {.files = argv + optind, .n_files = n_files, .call_id = call_id,
                         .archive_path = archive_path, .agent_channel = (int)agent_channel,
                         .customer_channel = (int)customer_channel, .mono_leg = mono_leg, .realtime = realtime,
                         .no_asr = no_asr, .cli = &cli};
    return analyze_files(cfg, &job);
}
