/* cmd_tap.c - `callwatch tap`: print what is on the bus. */
#include "app.h"

#include "callwatch/bus.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void tap_usage(FILE *out)
{
    fputs("usage: callwatch tap [options]\n"
          "\n"
          "Subscribes to a callwatch bus and prints each event's JSON on its own line.\n"
          "At exit it prints on stderr \"tap: received N events, missed M (K topics with gaps)\":\n"
          "M counts the messages the publisher numbered (\"seq\") that never arrived here.\n"
          "\n"
          "options:\n"
          "  -c, --config FILE     take the endpoint and CURVE keys from this configuration's [bus]\n"
          "  -e, --endpoint EP     connect here (default: [bus] endpoint, tcp://127.0.0.1:5556)\n"
          "  -t, --topic PREFIX    only topics starting with PREFIX (e.g. transcript.customer, alert.)\n"
          "  -n, --count N         exit after N events (status 1 if fewer arrived before --timeout)\n"
          "  -T, --timeout SEC     exit after SEC seconds\n"
          "      --topics          print \"TOPIC<TAB>JSON\" instead of the JSON alone\n"
          "      --stats SEC       also print the received/missed line on stderr every SEC seconds\n"
          "  -h, --help            this help\n",
          out);
}

static void tap_log_stats(const cw_bus_sub_t *sub)
{
    cw_bus_sub_stats_t st;
    cw_bus_sub_get_stats(sub, &st);
    char line[160];
    cw_bus_sub_summary(&st, line, sizeof line);
    app_log("tap: %s", line);
}

int cmd_tap(int argc, char **argv)
{
    enum { OPT_TOPICS = 256, OPT_STATS };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'}, {"endpoint", required_argument, NULL, 'e'},
        {"topic", required_argument, NULL, 't'},  {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 'T'}, {"topics", no_argument, NULL, OPT_TOPICS},
        {"help", no_argument, NULL, 'h'},          {"stats", required_argument, NULL, OPT_STATS},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *endpoint = NULL, *topic = "";
    long count = 0, timeout_s = 0, stats_s = 0;
    bool print_topics = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:e:t:n:T:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'e': endpoint = optarg; break;
        case 't': topic = optarg; break;
        case 'n':
            if (!app_parse_int("--count", optarg, 1, 1000000000L, &count))
                return APP_USAGE;
            break;
        case 'T':
            if (!app_parse_int("--timeout", optarg, 1, 86400L * 365, &timeout_s))
                return APP_USAGE;
            break;
        case OPT_TOPICS: print_topics = true; break;
        case OPT_STATS:
            if (!app_parse_int("--stats", optarg, 1, 86400L, &stats_s))
                return APP_USAGE;
            break;
        case 'h': tap_usage(stdout); return APP_OK;
        default: tap_usage(stderr); return APP_USAGE;
        }
    }
    if (optind < argc) {
        app_log("tap: unexpected argument '%s'", argv[optind]);
        return APP_USAGE;
    }
    char endpoint_buf[CW_PATH_MAX];
    int status = APP_OK;
    cw_bus_sub_t *sub = app_subscribe(config_path, endpoint, topic, endpoint_buf, sizeof endpoint_buf, &status);
    if (!sub)
        return status;
    app_install_signals();
    cw_error_t err;
    cw_error_clear(&err);
    long received = 0;
    double deadline = timeout_s > 0 ? app_monotonic_s() + (double)timeout_s : 0;
    double next_stats = stats_s > 0 ? app_monotonic_s() + (double)stats_s : 0;
    while (!app_stop_requested && (count == 0 || received < count)) {
        if (next_stats > 0 && app_monotonic_s() >= next_stats) {
            tap_log_stats(sub);
            next_stats += (double)stats_s;
        }
        int wait_ms = 200;
        if (deadline > 0) {
            double left = deadline - app_monotonic_s();
            if (left <= 0)
                break;
            if (left * 1000 < wait_ms)
                wait_ms = (int)(left * 1000) + 1;
        }
        char topic_buf[512];
        char *json = NULL;
        int rc = cw_bus_sub_recv(sub, topic_buf, sizeof topic_buf, &json, wait_ms, &err);
        if (rc < 0) {
            app_log("%s", err.msg);
            status = APP_FAILURE;
            break;
        }
        if (rc == 0)
            continue;
        if (print_topics)
            printf("%s\t%s\n", topic_buf, json);
        else
            printf("%s\n", json);
        free(json);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            app_log("tap: cannot write to stdout");
            status = APP_FAILURE;
            break;
        }
        received++;
    }
    if (count > 0 && received < count && status == APP_OK) {
        app_log("tap: received %ld of %ld events before stopping", received, count);
        status = APP_FAILURE;
    }
    unsigned long malformed = cw_bus_sub_malformed(sub);
    if (malformed)
        app_log("tap: skipped %lu malformed message(s)", malformed);
    tap_log_stats(sub);
    cw_bus_sub_destroy(&sub);
    cw_bus_shutdown();
    return status;
}
