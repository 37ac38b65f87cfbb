/* fuzz_bus.c - fuzz target: the bus subscriber's decoding of a received
 * message (what `callwatch tap` and the console accept from a publisher).
 *
 * Input layout: byte 0 = number of frames (0..3), byte 1 = topic length;
 * the topic bytes follow, the rest is the JSON body. */
#include "callwatch/bus.h"
#include "callwatch/event.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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
    if (t && b) {
        memcpy(t, topic, topic_len);
        memcpy(b, body, body_len);
        (void)cw_bus_message_valid(frames, t, topic_len, CW_TOPIC_MAX, b, body_len);
    }
    free(t);
    free(b);
    return 0;
}
