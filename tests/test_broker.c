/* test_broker.c - the scale-out hub in one process: three publishers in
 * connect mode and one subscriber meet at a broker; every event of every
 * publisher arrives exactly once and in each publisher's order, the broker's
 * counters agree, and a second broker on a taken port is refused clearly. */
#include "callwatch/broker.h"
#include "callwatch/bus.h"
#include "callwatch/event.h"
#include "check.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODES 3
#define EVENTS_PER_NODE 300

/* Subscriptions travel subscriber -> broker -> publisher in the background;
 * until they have, a publisher's events find nobody. Probe until each
 * publisher's probe comes through, then drain the extra probes. */
static bool wait_until_joined(cw_sink_t *pubs[NODES], cw_bus_sub_t *sub)
{
    bool joined[NODES] = {false};
    int n_joined = 0;
    for (int attempt = 0; attempt < 200 && n_joined < NODES; attempt++) {
        for (int i = 0; i < NODES; i++) {
            if (joined[i])
                continue;
            char id[32];
            snprintf(id, sizeof id, "probe-%d", i);
            cw_event_t *probe = cw_event_call_start(id, 0, NULL);
            cw_error_t err;
            cw_sink_write(pubs[i], probe, &err);
            cw_event_destroy(&probe);
        }
        char topic[CW_TOPIC_MAX];
        char *json = NULL;
        cw_error_t err;
        while (cw_bus_sub_recv(sub, topic, sizeof topic, &json, 20, &err) == 1) {
            int i = -1;
            if (sscanf(topic, "call.probe-%d", &i) == 1 && i >= 0 && i < NODES && !joined[i]) {
                joined[i] = true;
                n_joined++;
            }
            free(json);
        }
    }
    char topic[CW_TOPIC_MAX];
    char *json = NULL;
    cw_error_t err;
    while (cw_bus_sub_recv(sub, topic, sizeof topic, &json, 200, &err) == 1)
        free(json);
    return n_joined == NODES;
}

static void test_three_nodes_exactly_once(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_broker_t *broker = cw_broker_new("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 10000, &err);
    CHECK(broker != NULL, "broker: %s", err.msg);
    if (!broker)
        return;
    CHECK(strncmp(cw_broker_frontend(broker), "tcp://127.0.0.1:", 16) == 0 &&
              strcmp(cw_broker_frontend(broker), "tcp://127.0.0.1:*") != 0,
          "frontend resolved: %s", cw_broker_frontend(broker));

    cw_bus_sub_t *sub = cw_bus_sub_new(cw_broker_backend(broker), "", &err);
    cw_sink_t *pubs[NODES] = {NULL};
    for (int i = 0; i < NODES; i++) {
        pubs[i] = cw_bus_publisher_connect(cw_broker_frontend(broker), 10000, &err);
        CHECK(pubs[i] != NULL, "publisher %d: %s", i, err.msg);
    }
    CHECK(sub != NULL, "subscriber: %s", err.msg);
    if (!sub || !pubs[0] || !pubs[1] || !pubs[2])
        goto out;
    CHECK(strcmp(cw_bus_publisher_endpoint(pubs[0]), cw_broker_frontend(broker)) == 0, "publisher endpoint");
    CHECK(wait_until_joined(pubs, sub), "every publisher reached the subscriber through the broker");

    cw_broker_stats_t before;
    CHECK(cw_broker_get_stats(broker, &before, &err) == CW_OK, "stats: %s", err.msg);

    /* Interleaved, as nodes would publish at the same time. */
    for (int k = 0; k < EVENTS_PER_NODE; k++) {
        for (int i = 0; i < NODES; i++) {
            char id[32];
            snprintf(id, sizeof id, "node%d-call", i);
            cw_event_t *ev = cw_event_call_start(id, (double)k, NULL);
            CHECK(cw_sink_write(pubs[i], ev, &err) == CW_OK, "write: %s", err.msg);
            cw_event_destroy(&ev);
        }
    }
    int seen[NODES][EVENTS_PER_NODE] = {{0}};
    int next[NODES] = {0};
    int total = 0, out_of_order = 0, foreign = 0;
    char topic[CW_TOPIC_MAX];
    char *json = NULL;
    while (cw_bus_sub_recv(sub, topic, sizeof topic, &json, 1000, &err) == 1) {
        json_t *obj = json_loads(json, 0, NULL);
        int node = -1;
        const char *id = json_string_value(json_object_get(obj, "call_id"));
        int k = (int)json_number_value(json_object_get(obj, "t"));
        if (id && sscanf(id, "node%d-call", &node) == 1 && node >= 0 && node < NODES && k >= 0 &&
            k < EVENTS_PER_NODE) {
            seen[node][k]++;
            out_of_order += k != next[node];
            next[node] = k + 1;
            total++;
        } else {
            foreign++;
        }
        json_decref(obj);
        free(json);
    }
    int missing = 0, duplicated = 0;
    for (int i = 0; i < NODES; i++)
        for (int k = 0; k < EVENTS_PER_NODE; k++) {
            missing += seen[i][k] == 0;
            duplicated += seen[i][k] > 1;
        }
    CHECK(total == NODES * EVENTS_PER_NODE && missing == 0 && duplicated == 0,
          "received %d of %d: %d missing, %d duplicated", total, NODES * EVENTS_PER_NODE, missing, duplicated);
    CHECK(out_of_order == 0, "%d events out of their node's order", out_of_order);
    CHECK(foreign == 0, "%d unexpected messages", foreign);

    cw_broker_stats_t after;
    CHECK(cw_broker_get_stats(broker, &after, &err) == CW_OK, "stats: %s", err.msg);
    CHECK(after.frontend_msgs_in - before.frontend_msgs_in == NODES * EVENTS_PER_NODE &&
              after.backend_msgs_out - before.backend_msgs_out == NODES * EVENTS_PER_NODE,
          "broker counted %llu in, %llu out",
          (unsigned long long)(after.frontend_msgs_in - before.frontend_msgs_in),
          (unsigned long long)(after.backend_msgs_out - before.backend_msgs_out));
    CHECK(after.backend_msgs_in >= 1, "the subscription went through the backend");

    /* A second broker on a taken port says so and which. */
    cw_error_clear(&err);
    cw_broker_t *second = cw_broker_new(cw_broker_frontend(broker), "tcp://127.0.0.1:*", 10, &err);
    CHECK(!second && err.code == CW_ERR_BUSY && strstr(err.msg, cw_broker_frontend(broker)) &&
              strstr(err.msg, "in use"),
          "second broker: %s", err.msg);
    cw_broker_destroy(&second);

out:
    for (int i = 0; i < NODES; i++)
        cw_sink_destroy(&pubs[i]);
    cw_bus_sub_destroy(&sub);
    cw_broker_destroy(&broker);
    CHECK(broker == NULL, "destroy NULLs");
}

static void test_bad_input(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_broker_t *b = cw_broker_new("carrier-pigeon://roof", "tcp://127.0.0.1:*", 10, &err);
    CHECK(!b && err.code == CW_ERR_INVALID && strstr(err.msg, "carrier-pigeon://roof") && strstr(err.msg, "frontend"),
          "bad frontend: %s", err.msg);
    cw_error_clear(&err);
    b = cw_broker_new("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 0, &err);
    CHECK(!b && err.code == CW_ERR_INVALID && strstr(err.msg, "sndhwm"), "sndhwm 0: %s", err.msg);
    cw_error_clear(&err);
    cw_sink_t *pub = cw_bus_publisher_connect("nonsense", 10, &err);
    CHECK(!pub && err.code == CW_ERR_INVALID && strstr(err.msg, "nonsense"), "bad connect endpoint: %s", err.msg);
    cw_broker_destroy(&b);
}

int main(void)
{
    test_three_nodes_exactly_once();
    test_bad_input();
    cw_bus_shutdown();
    return check_summary("broker");
}
