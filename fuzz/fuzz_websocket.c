/* fuzz_websocket.c - fuzz target: the WebSocket media-stream decoders
 * (wsmedia.h), i.e. every message a FreeSWITCH, Twilio or AudioHook peer (or
 * anyone reaching the listen port) sends the daemon once the handshake is done.
 *
 * Input layout: byte 0 chooses the protocol (% 3); then messages, each a
 * header of 3 bytes - flags (bit 0: binary), length (uint16, big-endian) -
 * and that many bytes (cut short at the end of the input). Every message is
 * fed to one session, copied to a heap buffer of its exact size so a read
 * past it is caught by ASan. Checked promises: audio only after the
 * metadata, never more samples than the message could hold, on legs the
 * metadata announced; a reply is NUL-terminated JSON that parses; STARTED
 * comes once; after an error every feed fails and the protocol's goodbye,
 * if any, is JSON; after the end no event. */
#include "callwatch/wsmedia.h"

#include <jansson.h>

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_MESSAGE 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_result(const cw_wsmedia_session_t *s, const cw_wsmedia_result_t *r, size_t n, bool *started)
{
    if (r->events & CW_WSMEDIA_STARTED) {
        if (*started || !cw_wsmedia_session_started(s))
            abort();
        *started = true;
        const cw_wsmedia_meta_t *m = cw_wsmedia_session_meta(s);
        if (!m->call_id[0] || (m->rate_hz != 8000 && m->rate_hz != 16000) || (!m->has_leg[0] && !m->has_leg[1]))
            abort();
    }
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        if (r->n[leg] == 0)
            continue;
        if (!*started || !(r->events & CW_WSMEDIA_AUDIO) || !r->samples[leg] || r->n[leg] > n ||
            !cw_wsmedia_session_meta(s)->has_leg[leg])
            abort();
        volatile int16_t last = r->samples[leg][r->n[leg] - 1]; /* readable */
        (void)last;
    }
    if (r->events & CW_WSMEDIA_REPLY) {
        if (!r->reply)
            abort();
        json_t *j = json_loads(r->reply, 0, NULL);
        if (!j)
            abort();
        json_decref(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cw_wsmedia_session_t *s = cw_wsmedia_session_new((cw_wsmedia_protocol)(data[0] % CW_WSMEDIA_PROTOCOLS),
                                                     MAX_MESSAGE);
    if (!s)
        abort();
    bool started = false, failed = false, ended = false;
    size_t off = 1;
    while (off + 3 <= size) {
        bool binary = data[off] & 1;
        size_t len = (size_t)data[off + 1] << 8 | data[off + 2];
        off += 3;
        if (len > size - off)
            len = size - off;
        uint8_t *msg = malloc(len ? len : 1);
        if (!msg)
            abort();
        memcpy(msg, data + off, len);
        off += len;
        cw_wsmedia_result_t r;
        cw_error_t err;
        cw_error_clear(&err);
        int rc = cw_wsmedia_session_feed(s, binary, msg, len, &r, &err);
        free(msg);
        if (rc != CW_OK) {
            if (rc != CW_ERR_FORMAT || !err.msg[0])
                abort();
            const char *bye = cw_wsmedia_session_farewell(s);
            json_t *j = bye ? json_loads(bye, 0, NULL) : NULL;
            if (bye && !j)
                abort(); /* a goodbye is JSON the peer can read */
            json_decref(j);
            failed = true;
            continue;
        }
        if (failed || ended)
            abort(); /* a failed or ended session accepts nothing */
        check_result(s, &r, len, &started);
        ended = (r.events & CW_WSMEDIA_ENDED) != 0;
    }
    cw_wsmedia_session_destroy(&s);
    if (s)
        abort();
    return 0;
}
