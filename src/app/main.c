/* main.c - the callwatch command: dispatches to subcommands. */
#include "app.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

volatile sig_atomic_t app_stop_requested;

static void on_stop_signal(int sig)
{
    (void)sig;
    app_stop_requested = 1;
}

void app_on_signal(int sig, void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void app_install_signals(void)
{
    app_on_signal(SIGINT, on_stop_signal);
    app_on_signal(SIGTERM, on_stop_signal);
    signal(SIGPIPE, SIG_IGN);
}

void app_log(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("callwatch: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

double app_monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void app_sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

bool app_parse_int(const char *flag, const char *text, long min, long max, long *out)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno != 0 || !end || end == text || *end != '\0' || v < min || v > max) {
        app_log("%s '%s': expected an integer in %ld..%ld", flag, text, min, max);
        return false;
    }
    *out = v;
    return true;
}

cw_config_t *app_load_config(const char *path, bool validate)
{
    cw_config_t *cfg = cw_config_new();
    if (!cfg) {
        app_log("out of memory");
        return NULL;
    }
    cw_error_t err;
    cw_error_clear(&err);
    const char *from = path ? path : cw_config_default_path();
    if (cw_config_load(cfg, from, &err) != CW_OK) {
        app_log("%s", err.msg);
        cw_config_destroy(&cfg);
        return NULL;
    }
    if (validate && cw_config_validate(cfg, &err) != CW_OK) {
        app_log_config_error(cfg, &err);
        cw_config_destroy(&cfg);
        return NULL;
    }
    return cfg;
}

void app_log_config_error(const cw_config_t *cfg, const cw_error_t *err)
{
    /* Messages about a [line] already say file:line; the others get the file. */
    if (strstr(err->msg, cfg->source_path))
        app_log("%s", err->msg);
    else
        app_log("%s: %s", cfg->source_path, err->msg);
}

static void usage(FILE *out)
{
    fputs("usage: callwatch <command> [options]\n"
          "\n"
          "Real-time, speech-side sentiment monitor for live contact-centre calls.\n"
          "\n"
          "commands:\n"
          "  analyze FILE...   transcribe recorded calls; events as JSON Lines on stdout\n"
          "  run               the live daemon: capture the configured lines, publish events on ZeroMQ\n"
          "  tap               subscribe to the bus and print events (JSON Lines)\n"
          "  devices           list the audio input devices PortAudio sees\n"
          "  config            print the effective configuration (all options, documented)\n"
          "  broker            relay the events of many nodes to many subscribers (scale-out)\n"
          "  archiver          the central archive of many nodes ([archive] url = its endpoint)\n"
          "  keygen NAME       make a CURVE key pair for the bus (NAME.key, NAME.key_secret)\n"
          "  qa                search the QA archive: alerts, call timelines, shift summaries, export\n"
          "  console           the supervisor's live board: calls, heat, alerts, acknowledgements\n"
          "  whisper           an agent's prompts as they arrive (--agent ID)\n"
          "  web               the supervisors' pages in a browser: wallboard, calls, alerts, QA\n"
          "  user add NAME     add a user of the web pages (--users FILE --role ROLE)\n"
          "\n"
          "options:\n"
          "  -h, --help        this help; `callwatch <command> --help` for a command's options\n"
          "  -V, --version     print the version\n"
          "\n"
          "Exit status: 0 success, 1 failure (bad audio, device, bus), 2 usage or configuration error.\n",
          out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return APP_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return APP_OK;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        printf("callwatch %s\n", CALLWATCH_VERSION);
        return APP_OK;
    }
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } commands[] = {
        {"analyze", cmd_analyze}, {"run", cmd_run}, {"tap", cmd_tap}, {"devices", cmd_devices}, {"config", cmd_config},
        {"broker", cmd_broker}, {"archiver", cmd_archiver},
        {"keygen", cmd_keygen},
        {"qa", cmd_qa},
        {"console", cmd_console}, {"whisper", cmd_whisper},
        {"web", cmd_web}, {"user", cmd_user},
    };
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(cmd, commands[i].name) == 0) {
            int status = commands[i].fn(argc - 1, argv + 1);
            fflush(stdout);
            exit(status);
        }
    }
    app_log("unknown command '%s' (try 'callwatch --help')", cmd);
    return APP_USAGE;
}
