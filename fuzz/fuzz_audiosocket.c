/* fuzz_audiosocket.c - fuzz target: the AudioSocket frame decoder (what a
 * PBX, or anyone reaching the listen port, sends the daemon).
 *
 * Input layout: bytes 0-1 (big-endian) choose the decoder's maximum payload
 * (1..65535); the rest is the connection's byte stream. The stream is fed
 * in chunks whose sizes come from the stream itself (1 + the chunk's first
 * byte % 67, so splits fall anywhere, headers included) until the decoder
 * reports an error, a hangup frame or the stream ends. The same bytes fed
 * whole must give the same frames and the same outcome (the header promises
 * chunking does not matter); any difference, or a frame breaking the
 * header's rules, aborts. */
#include "callwatch/audiosocket.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Frames compared per input; longer streams are still decoded, unchecked. */
#define MAX_CHECKED 256

typedef struct decoded {
    int kind;
    size_t length;
    uint64_t digest; /* FNV-1a of the payload */
} decoded_t;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fnv1a(const uint8_t *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static void check_frame(const cw_audiosocket_frame_t *f, size_t max)
{
    if (f->length > max || (f->length > 0 && !f->payload))
        abort();
    switch (f->kind) {
    case CW_AUDIOSOCKET_HANGUP: if (f->length != 0) abort(); break;
    case CW_AUDIOSOCKET_UUID: if (f->length != CW_AUDIOSOCKET_UUID_BYTES) abort(); break;
    case CW_AUDIOSOCKET_DTMF: if (f->length != 1) abort(); break;
    case CW_AUDIOSOCKET_AUDIO: if (f->length % 2 != 0) abort(); break;
    case CW_AUDIOSOCKET_ERROR: break;
    default: abort();
    }
}

/* Decodes stream[0..n) in chunks (chunked) or whole; returns the number of
 * frames, fills out[] with the first MAX_CHECKED, *rc_end with the last
 * return code (negative = error, 1 = hangup, 0 = stream ended). */
static size_t decode(size_t max, const uint8_t *stream, size_t n, int chunked, decoded_t *out, int *rc_end)
{
    cw_audiosocket_parser_t *p = cw_audiosocket_parser_new(max);
    if (!p)
        abort(); /* max is in range by construction */
    size_t frames = 0, off = 0;
    bool hung_up = false;
    *rc_end = 0;
    while (off < n) {
        size_t chunk = chunked ? 1 + (size_t)stream[off] % 67 : n - off;
        if (chunk > n - off)
            chunk = n - off;
        /* A heap copy per chunk, so a read past the chunk is caught by ASan. */
        uint8_t *buf = malloc(chunk);
        if (!buf)
            abort();
        memcpy(buf, stream + off, chunk);
        size_t pos = 0;
        int rc = 0;
        while (pos < chunk) {
            size_t used = 0;
            cw_audiosocket_frame_t f;
            cw_error_t err;
            cw_error_clear(&err);
            rc = cw_audiosocket_parser_feed(p, buf + pos, chunk - pos, &used, &f, &err);
            if (used > chunk - pos)
                abort();
            if (rc < 0) {
                /* The error comes on the header, before any payload byte. */
                if (err.msg[0] == '\0' || used > CW_AUDIOSOCKET_HEADER_BYTES)
                    abort();
                /* A failed decoder stays failed. */
                size_t used2 = 1;
                if (cw_audiosocket_parser_feed(p, buf + pos, chunk - pos, &used2, &f, &err) != rc || used2 != 0)
                    abort();
                break;
            }
            pos += used;
            if (rc == 0) {
                if (pos != chunk)
                    abort(); /* 0 means every byte went into an unfinished frame */
                break;
            }
            check_frame(&f, max);
            if (frames < MAX_CHECKED)
                out[frames] = (decoded_t){f.kind, f.length, fnv1a(f.payload, f.length)};
            frames++;
            if (f.kind == CW_AUDIOSOCKET_HANGUP) {
                hung_up = true;
                break;
            }
        }
        free(buf);
        off += pos;
        if (rc < 0 || hung_up) {
            *rc_end = rc;
            break;
        }
    }
    cw_audiosocket_parser_destroy(&p);
    if (p)
        abort();
    return frames;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t max = 1 + ((size_t)data[0] << 8 | data[1]) % 65535;
    static decoded_t whole[MAX_CHECKED], chunked[MAX_CHECKED];
    int rc_whole, rc_chunked;
    size_t n_whole = decode(max, data + 2, size - 2, 0, whole, &rc_whole);
    size_t n_chunked = decode(max, data + 2, size - 2, 1, chunked, &rc_chunked);
    if (n_whole != n_chunked || rc_whole != rc_chunked)
        abort();
    size_t checked = n_whole < MAX_CHECKED ? n_whole : MAX_CHECKED;
    for (size_t i = 0; i < checked; i++)
        if (whole[i].kind != chunked[i].kind || whole[i].length != chunked[i].length ||
            whole[i].digest != chunked[i].digest)
            abort();
    return 0;
}
