/* fuzz_bus.c - fuzz target: the bus subscriber's decoding of a received
 * message (what `callwatch tap` and the console accept from a publisher),
 * and its loss accounting (the per-topic "seq").
 *
 * Input layout: byte 0 = number of frames (0..3), byte 1 = topic length;
 * the topic bytes follow, the rest is the JSON body. The body is also split
 * at newlines and each line handed to the same subscriber as one more
 * message on the topic, so sequences of seq values (gaps, resets, huge or
 * odd numbers) are exercised; one subscriber lives for the whole run, so
 * its bounded topic map fills up and evicts too. */
#include "callwatch/bus.h"
#include "callwatch/event.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A subscriber that never connects anywhere: only its accounting is used. */
static cw_bus_sub_t *fuzz_sub(void)
{
    static cw_bus_sub_t *sub;
    if (!sub) {
        cw_error_t err;
        sub = cw_bus_sub_new("inproc://fuzz-bus-nobody", "", &err);
        if (!sub)
            abort();
    }
    return sub;
}

static void account(const char *topic, const uint8_t *body, size_t body_len, bool whole_valid)
{
    cw_bus_sub_t *sub = fuzz_sub();
    cw_bus_sub_stats_t before, after;
    cw_bus_sub_get_stats(sub, &before);
    bool ok = cw_bus_sub_accept(sub, topic, body, body_len);
    cw_bus_sub_get_stats(sub, &after);
    /* The subscriber's path and the published rule must agree, and exactly
     * one of the counters moves; losses never go down. */
    if (whole_valid != ok)
        abort();
    if (after.received + after.malformed != before.received + before.malformed + 1 || after.missed < before.missed ||
        after.gap_topics < before.gap_topics)
        abort();
    char line[160];
    if (cw_bus_sub_summary(&after, line, sizeof line) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t frames = data[0] % 4;
    size_t topic_len = data[1];
    if (topic_len > size - 2)
        topic_len = size - 2;
    const uint8_t *topic = data + 2;
    const uint8_t *body = topic + topic_len;
    size_t body_len = size - 2 - topic_len;
    /* Copies, so a read past either frame is caught by ASan. */
    uint8_t *t = malloc(topic_len ? topic_len : 1);
    uint8_t *b = malloc(body_len ? body_len : 1);
    char *topic_str = malloc(topic_len + 1);
    if (t && b && topic_str) {
        memcpy(t, topic, topic_len);
        memcpy(b, body, body_len);
        bool valid = cw_bus_message_valid(frames, t, topic_len, CW_TOPIC_MAX, b, body_len);
        /* The subscriber accounts only what has two frames and a good topic. */
        if (frames == 2 && topic_len < CW_TOPIC_MAX && !memchr(t, '\0', topic_len)) {
            memcpy(topic_str, t, topic_len);
            topic_str[topic_len] = '\0';
            account(topic_str, b, body_len, valid);
            for (size_t start = 0; start < body_len;) {
                const uint8_t *nl = memchr(b + start, '\n', body_len - start);
                size_t end = nl ? (size_t)(nl - b) : body_len;
                if (nl || start > 0) {
                    size_t n = end - start;
                    uint8_t *one = malloc(n ? n : 1);
                    if (one) {
                        memcpy(one, b + start, n);
                        account(topic_str, one, n, cw_bus_message_valid(2, t, topic_len, CW_TOPIC_MAX, one, n));
                        free(one);
                    }
                }
                start = end + 1;
            }
        }
    }
    free(t);
    free(b);
    free(topic_str);
    return 0;
}
