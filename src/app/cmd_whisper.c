/* cmd_whisper.c - `callwatch whisper --agent ID`: the agent's prompt viewer. */
#include "app.h"

#include "callwatch/bus.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void whisper_usage(FILE *out)
{
    fputs("usage: callwatch whisper --agent ID [options]\n"
          "\n"
          "Shows the whisper prompts for one agent as they arrive, one line each:\n"
          "  local time, severity, alert kind, prompt. Plain text: works in any terminal.\n"
          "\n"
          "options:\n"
          "  -a, --agent ID        the agent (the agent_id of their [line])\n"
          "  -c, --config FILE     take the endpoint and CURVE keys from this configuration's [bus]\n"
          "  -e, --endpoint EP     connect here (default: [bus] endpoint)\n"
          "  -n, --count N         exit after N prompts\n"
          "  -T, --timeout SEC     exit after SEC seconds\n"
          "  -h, --help            this help\n",
          out);
}

/* One legible line: "14:03:07  CRITICAL  despair    Don't make them ...". */
static void print_whisper(const char *json)
{
    json_t *ev = json_loads(json, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *prompt = json_string_value(json_object_get(ev, "prompt"));
    if (type && strcmp(type, "whisper") == 0 && prompt) {
        const char *sev = json_string_value(json_object_get(ev, "severity"));
        const char *kind = json_string_value(json_object_get(ev, "kind"));
        char upper[16] = "";
        for (size_t i = 0; sev && sev[i] && i + 1 < sizeof upper; i++)
            upper[i] = (char)(sev[i] >= 'a' && sev[i] <= 'z' ? sev[i] - 'a' + 'A' : sev[i]);
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        char clock[16];
        strftime(clock, sizeof clock, "%H:%M:%S", &tm);
        printf("%s  %-8s  %-11s  %s\n", clock, upper, kind ? kind : "", prompt);
    }
    json_decref(ev);
}

int cmd_whisper(int argc, char **argv)
{
    static const struct option opts[] = {
        {"agent", required_argument, NULL, 'a'},   {"config", required_argument, NULL, 'c'},
        {"endpoint", required_argument, NULL, 'e'}, {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 'T'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *agent = NULL, *config_path = NULL, *endpoint = NULL;
    long count = 0, timeout_s = 0;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "a:c:e:n:T:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': agent = optarg; break;
        case 'c': config_path = optarg; break;
        case 'e': endpoint = optarg; break;
        case 'n':
            if (!app_parse_int("--count", optarg, 1, 1000000000L, &count))
                return APP_USAGE;
            break;
        case 'T':
            if (!app_parse_int("--timeout", optarg, 1, 86400L * 365, &timeout_s))
                return APP_USAGE;
            break;
        case 'h': whisper_usage(stdout); return APP_OK;
        default: whisper_usage(stderr); return APP_USAGE;
        }
    }
    if (optind < argc) {
        app_log("whisper: unexpected argument '%s'", argv[optind]);
        return APP_USAGE;
    }
    if (!agent || !agent[0]) {
        app_log("whisper: --agent ID is required (the agent_id of the agent's [line])");
        return APP_USAGE;
    }
    char topic[CW_PATH_MAX];
    /* Subscriptions are prefixes: "whisper.bob" also gets "whisper.bobby",
     * so the exact topic is checked on arrival. */
    snprintf(topic, sizeof topic, "whisper.%s", agent);
    char endpoint_buf[CW_PATH_MAX];
    int status = APP_OK;
    cw_bus_sub_t *sub = app_subscribe(config_path, endpoint, topic, endpoint_buf, sizeof endpoint_buf, &status);
    if (!sub)
        return status;
    app_install_signals();
    cw_error_t err;
    cw_error_clear(&err);
    app_log("whisper prompts for %s from %s", agent, endpoint_buf);
    long shown = 0;
    unsigned long long missed = 0;
    double deadline = timeout_s > 0 ? app_monotonic_s() + (double)timeout_s : 0;
    while (!app_stop_requested && (count == 0 || shown < count)) {
        if (deadline > 0 && app_monotonic_s() >= deadline)
            break;
        char got_topic[CW_TOPIC_MAX];
        char *json = NULL;
        int rc = cw_bus_sub_recv(sub, got_topic, sizeof got_topic, &json, 200, &err);
        if (rc < 0) {
            app_log("%s", err.msg);
            status = APP_FAILURE;
            break;
        }
        if (rc == 0)
            continue;
        /* Said as soon as it shows, so the agent knows a prompt may be gone. */
        unsigned long long missed_now = cw_bus_sub_missed(sub);
        if (missed_now > missed) {
            missed = missed_now;
            app_log("whisper: missed %llu message(s) on %s* so far (this viewer fell behind the bus)", missed, topic);
        }
        if (strcmp(got_topic, topic) == 0) {
            print_whisper(json);
            shown++;
        }
        free(json);
        if (fflush(stdout) != 0) {
            status = APP_FAILURE;
            break;
        }
    }
    if (count > 0 && shown < count && status == APP_OK)
        status = APP_FAILURE;
    cw_bus_sub_destroy(&sub);
    cw_bus_shutdown();
    return status;
}
