/* fuzz_acks.c - fuzz target: the daemon's handling of an acknowledgement
 * request (what any console, or anyone reaching [bus] ack_endpoint, sends).
 *
 * Input: the bytes of one request frame, given to cw_ack_answer as the
 * server thread does. The reply must be compact JSON: an object whose "ok"
 * is false with an "error" string when rejected, true otherwise; exactly one
 * event reaches the outbox when the request was accepted as an ack, none
 * otherwise. Anything else aborts. */
#include "callwatch/acks.h"

#include "callwatch/outbox.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cw_error_t err;
    cw_error_clear(&err);
    /* Never started and without sinks: a posted event waits in the queue and
     * is dropped at destroy; capacity 2 so a second post would not block. */
    cw_outbox_t *ob = cw_outbox_new(2, &err);
    json_t *calls = json_pack("[{s:s, s:s, s:f}]", "type", "call_start", "call_id", "c1", "t", 0.0);
    if (!ob || !calls)
        abort();
    /* A heap copy of exactly size bytes, so a read past the frame is caught. */
    char *req = malloc(size ? size : 1);
    if (!req)
        abort();
    memcpy(req, data, size);
    cw_ack_outcome outcome = CW_ACK_POSTED;
    char *reply = cw_ack_answer(req, size, ob, "host:1:2", calls, &outcome);
    free(req);
    if (!reply)
        abort(); /* only out of memory may give no reply */
    json_t *r = json_loads(reply, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(r))
        abort();
    json_t *ok = json_object_get(r, "ok");
    cw_outbox_stats_t st;
    cw_outbox_get_stats(ob, &st);
    switch (outcome) {
    case CW_ACK_REJECTED:
    case CW_ACK_DENIED:
        if (!json_is_false(ok) || !json_is_string(json_object_get(r, "error")) || st.posted != 0)
            abort();
        break;
    case CW_ACK_POSTED:
        if (!json_is_true(ok) || !json_is_object(json_object_get(r, "ack")) || st.posted != 1)
            abort();
        break;
    case CW_ACK_PONG:
        if (!json_is_true(ok) || st.posted != 0)
            abort();
        break;
    default:
        abort();
    }
    json_decref(r);
    free(reply);
    json_decref(calls);
    cw_outbox_destroy(&ob);
    return 0;
}
