/* test_bus.c - the ZeroMQ event bus as a subscriber (console, tap) sees it:
 * two-frame messages arrive with topic filtering, a second daemon on the same
 * endpoint is refused with a clear message, and a peer sending garbage is
 * skipped and counted instead of crashing the subscriber. */
#include "callwatch/bus.h"
#include "callwatch/event.h"
#include "check.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* A SUB socket connects in the background; the first messages after
 * connecting are lost ("slow joiner"). Publish a probe until it is seen. */
static bool wait_until_joined(cw_sink_t *pub, cw_bus_sub_t *sub)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        cw_event_t *probe = cw_event_call_start("probe", 0, NULL);
        cw_error_t err;
        cw_sink_write(pub, probe, &err);
        cw_event_destroy(&probe);
        char topic[CW_TOPIC_MAX];
        char *json = NULL;
        if (cw_bus_sub_recv(sub, topic, sizeof topic, &json, 50, &err) == 1) {
            free(json);
            /* Drain any further probes already queued. */
            while (cw_bus_sub_recv(sub, topic, sizeof topic, &json, 100, &err) == 1)
                free(json);
            return true;
        }
    }
    return false;
}

static void test_publish_and_filter(void)
{
    cw_error_t err;
    cw_sink_t *pub = cw_bus_publisher_new("tcp://127.0.0.1:*", 1000, &err);
    CHECK(pub != NULL, "bind wildcard port: %s", err.msg);
    if (!pub)
        return;
    const char *endpoint = cw_bus_publisher_endpoint(pub);
    CHECK(endpoint && strncmp(endpoint, "tcp://127.0.0.1:", 16) == 0 && strcmp(endpoint + 16, "*") != 0,
          "resolved endpoint, got %s", endpoint ? endpoint : "(null)");

    cw_bus_sub_t *all = cw_bus_sub_new(endpoint, "", &err);
    cw_bus_sub_t *transcripts = cw_bus_sub_new(endpoint, "transcript.customer.", &err);
    CHECK(all && transcripts, "subscribe: %s", err.msg);
    CHECK(wait_until_joined(pub, all), "subscriber joined");

    /* The filtered subscriber must have joined too: send transcripts until it sees one. */
    cw_word_t words[2] = {{"cancel", 1.0, 1.4, 0.9}, {"account", 1.4, 1.9, 0.8}};
    cw_transcript_t tr = {.leg = 1, .final = true, .t_start = 1.0, .t_end = 1.9,
                          .text = "cancel account", .words = words, .n_words = 2, .utterance = 3};
    bool joined = false;
    char topic[CW_TOPIC_MAX];
    char *json = NULL;
    for (int i = 0; i < 100 && !joined; i++) {
        cw_event_t *ev = cw_event_transcript("c1", 2.0, &tr);
        cw_sink_write(pub, ev, &err);
        cw_event_destroy(&ev);
        if (cw_bus_sub_recv(transcripts, topic, sizeof topic, &json, 50, &err) == 1) {
            joined = true;
            free(json);
        }
    }
    CHECK(joined, "filtered subscriber joined");
    while (cw_bus_sub_recv(transcripts, topic, sizeof topic, &json, 100, &err) == 1)
        free(json);
    while (cw_bus_sub_recv(all, topic, sizeof topic, &json, 100, &err) == 1)
        free(json);

    /* Now one of each: the filtered subscriber sees only the customer transcript. */
    cw_event_t *start = cw_event_call_start("c2", 0, NULL);
    cw_event_t *agent_tr = NULL;
    tr.leg = 0;
    agent_tr = cw_event_transcript("c2", 1.0, &tr);
    tr.leg = 1;
    cw_event_t *cust_tr = cw_event_transcript("c2", 2.0, &tr);
    unsigned long long dropped_before = cw_bus_publisher_dropped(pub);
    CHECK(cw_sink_write(pub, start, &err) == 0, "write: %s", err.msg);
    CHECK(cw_sink_write(pub, agent_tr, &err) == 0, "write: %s", err.msg);
    CHECK(cw_sink_write(pub, cust_tr, &err) == 0, "write: %s", err.msg);

    const char *expect_all[3] = {"call.c2", "transcript.agent.c2", "transcript.customer.c2"};
    for (int i = 0; i < 3; i++) {
        int rc = cw_bus_sub_recv(all, topic, sizeof topic, &json, 2000, &err);
        CHECK(rc == 1, "message %d arrives (rc %d %s)", i, rc, err.msg);
        if (rc != 1)
            continue;
        CHECK(strcmp(topic, expect_all[i]) == 0, "topic %d: want %s got %s", i, expect_all[i], topic);
        json_error_t jerr;
        json_t *obj = json_loads(json, 0, &jerr);
        CHECK(obj && json_is_object(obj), "body is a JSON object: %s", json);
        const char *call_id = json_string_value(json_object_get(obj, "call_id"));
        CHECK(call_id && strcmp(call_id, "c2") == 0, "call_id in body: %s", json);
        if (i > 0) {
            json_t *w = json_array_get(json_object_get(obj, "words"), 1);
            CHECK(w && strcmp(json_string_value(json_object_get(w, "w")), "account") == 0,
                  "word timings travel: %s", json);
        }
        json_decref(obj);
        free(json);
    }
    int rc = cw_bus_sub_recv(transcripts, topic, sizeof topic, &json, 2000, &err);
    CHECK(rc == 1 && strcmp(topic, "transcript.customer.c2") == 0, "filtered gets customer transcript, rc %d %s",
          rc, rc == 1 ? topic : "");
    free(json);
    rc = cw_bus_sub_recv(transcripts, topic, sizeof topic, &json, 300, &err);
    CHECK(rc == 0 && json == NULL, "filtered gets nothing else (rc %d topic %s)", rc, rc == 1 ? topic : "");
    free(json);
    CHECK(cw_bus_publisher_dropped(pub) == dropped_before, "nothing dropped under the HWM");

    /* A second publisher on the same endpoint: a second daemon must be told why. */
    cw_sink_t *second = cw_bus_publisher_new(endpoint, 1000, &err);
    CHECK(second == NULL && err.code == CW_ERR_BUSY, "second bind refused (code %d)", err.code);
    CHECK(strstr(err.msg, endpoint) && strstr(err.msg, "in use"), "message names endpoint and cause: %s",
          err.msg);
    cw_sink_destroy(&second);

    cw_event_destroy(&start);
    cw_event_destroy(&agent_tr);
    cw_event_destroy(&cust_tr);
    cw_bus_sub_destroy(&all);
    cw_bus_sub_destroy(&transcripts);
    CHECK(all == NULL && transcripts == NULL, "destroy NULLs");
    cw_sink_destroy(&pub);
}

static void test_bad_endpoints(void)
{
    cw_error_t err;
    const char *bad[] = {"tcp://127.0.0.1:notaport", "bogus://x", "tcp://"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cw_error_clear(&err);
        cw_sink_t *pub = cw_bus_publisher_new(bad[i], 10, &err);
        CHECK(pub == NULL, "%s refused", bad[i]);
        CHECK(err.code == CW_ERR_INVALID && strstr(err.msg, bad[i]), "%s: code %d msg %s", bad[i], err.code,
              err.msg);
        cw_sink_destroy(&pub);
    }
    cw_sink_t *pub = cw_bus_publisher_new("tcp://127.0.0.1:*", 0, &err);
    CHECK(pub == NULL && err.code == CW_ERR_INVALID && strstr(err.msg, "sndhwm"), "sndhwm 0: %s", err.msg);
    cw_bus_sub_t *sub = cw_bus_sub_new("nonsense", "", &err);
    CHECK(sub == NULL && err.code == CW_ERR_INVALID && strstr(err.msg, "nonsense"), "bad sub endpoint: %s",
          err.msg);
    cw_bus_sub_destroy(&sub);
}

/* A raw PUB socket plays a broken or hostile peer. */
static int raw_send(void *sock, const char *const *frames, size_t n, const size_t *lens)
{
    for (size_t i = 0; i < n; i++)
        if (zmq_send(sock, frames[i], lens[i], i + 1 < n ? ZMQ_SNDMORE : 0) < 0)
            return -1;
    return 0;
}

static void test_garbage_peer(void)
{
    void *ctx = zmq_ctx_new();
    void *raw = zmq_socket(ctx, ZMQ_PUB);
    int linger = 0;
    zmq_setsockopt(raw, ZMQ_LINGER, &linger, sizeof linger);
    CHECK(zmq_bind(raw, "tcp://127.0.0.1:*") == 0, "raw bind");
    char endpoint[256];
    size_t len = sizeof endpoint;
    zmq_getsockopt(raw, ZMQ_LAST_ENDPOINT, endpoint, &len);

    cw_error_t err;
    cw_bus_sub_t *sub = cw_bus_sub_new(endpoint, "", &err);
    CHECK(sub != NULL, "subscribe: %s", err.msg);
    if (!sub)
        goto out;

    char topic[CW_TOPIC_MAX];
    char *json = NULL;
    const char *hello[2] = {"call.x", "{\"type\":\"call_start\",\"call_id\":\"x\",\"t\":0}"};
    size_t hello_len[2] = {strlen(hello[0]), strlen(hello[1])};
    bool joined = false;
    for (int i = 0; i < 100 && !joined; i++) {
        raw_send(raw, hello, 2, hello_len);
        if (cw_bus_sub_recv(sub, topic, sizeof topic, &json, 50, &err) == 1) {
            joined = true;
            free(json);
        }
    }
    CHECK(joined, "subscriber joined raw peer");
    while (cw_bus_sub_recv(sub, topic, sizeof topic, &json, 100, &err) == 1)
        free(json);
    unsigned long malformed_before = cw_bus_sub_malformed(sub);

    char long_topic[CW_TOPIC_MAX + 10];
    memset(long_topic, 't', sizeof long_topic);
    const char *one_frame[1] = {"call.x"};
    const char *three[3] = {"call.x", "{}", "{}"};
    const char *not_json[2] = {"call.x", "this is not json {"};
    const char *array[2] = {"call.x", "[1,2,3]"};
    const char *too_long[2] = {long_topic, "{\"type\":\"x\"}"};
    const char *bad_utf8[2] = {"call.x", "{\"type\":\"\xff\xfe\"}"};
    const char *nul_topic[2] = {"call\0x", "{\"type\":\"x\"}"};
    size_t l1[1] = {6};
    size_t l3[3] = {6, 2, 2};
    size_t l_not[2] = {6, strlen(not_json[1])};
    size_t l_arr[2] = {6, 7};
    size_t l_long[2] = {sizeof long_topic, strlen(too_long[1])};
    size_t l_utf[2] = {6, strlen(bad_utf8[1])};
    size_t l_nul[2] = {6, strlen(nul_topic[1])};
    raw_send(raw, one_frame, 1, l1);
    raw_send(raw, three, 3, l3);
    raw_send(raw, not_json, 2, l_not);
    raw_send(raw, array, 2, l_arr);
    raw_send(raw, too_long, 2, l_long);
    raw_send(raw, bad_utf8, 2, l_utf);
    raw_send(raw, nul_topic, 2, l_nul);
    raw_send(raw, hello, 2, hello_len);

    int rc = cw_bus_sub_recv(sub, topic, sizeof topic, &json, 3000, &err);
    CHECK(rc == 1 && strcmp(topic, "call.x") == 0 && json && strstr(json, "call_start"),
          "the good message after the garbage arrives (rc %d)", rc);
    free(json);
    CHECK(cw_bus_sub_malformed(sub) - malformed_before == 7, "7 malformed counted, got %lu",
          cw_bus_sub_malformed(sub) - malformed_before);

    /* Nothing more: a timeout is 0, not an error. */
    rc = cw_bus_sub_recv(sub, topic, sizeof topic, &json, 100, &err);
    CHECK(rc == 0 && json == NULL, "timeout returns 0, got %d", rc);
    cw_bus_sub_destroy(&sub);
out:
    zmq_close(raw);
    zmq_ctx_term(ctx);
}

int main(void)
{
    test_publish_and_filter();
    test_bad_endpoints();
    test_garbage_peer();
    cw_bus_shutdown();
    return check_summary("bus");
}
