/* resample.c - see callwatch/resample.h
 *
 * A thin streaming wrapper over libsamplerate's sinc converter. The converter
 * keeps its own history, so the only work here is to hand it each chunk,
 * loop until the chunk is consumed, and know how much output a chunk can
 * produce (cw_resampler_max_out), because the caller sizes its buffer once.
 *
 * Output lags input by about half the sinc filter: the first chunks give
 * fewer frames than ratio * n, and the flush (last = 1) gives the held-back
 * tail, so the total over a stream is ratio * total_in rounded.
 */
#include "callwatch/resample.h"

#include <limits.h>
#include <math.h>
#include <samplerate.h>
#include <stdlib.h>
#include <string.h>

#define RESAMPLE_MIN_RATE_HZ 1000
#define RESAMPLE_MAX_RATE_HZ 384000

/* Medium, not fastest: converting 8 kHz telephone audio, fastest's narrower
 * pass band already takes 9 dB off a 3.4 kHz tone (the top of the telephone
 * band) where medium is flat. Medium costs about 0.2 % of a core per 8 kHz
 * leg and 0.6 % per 48 kHz leg (numbers printed by tests/test_resample.c),
 * small next to recognising the same audio. */
#define RESAMPLE_CONVERTER SRC_SINC_MEDIUM_QUALITY

/* Half the sinc filter, counted in zero crossings of the lower of the two
 * rates: how much output the converter can hold back and release later.
 * libsamplerate 0.2's medium filter spans about 47 (fastest: 20); 64 leaves
 * room for a library update without making the buffers much larger. */
#define RESAMPLE_FILTER_HALF_ZEROS 64.0

/* Output frames lost to or gained by rounding of the running position. */
#define RESAMPLE_ROUNDING_FRAMES 4

struct cw_resampler {
    SRC_STATE *state; /* NULL when the rates are equal: process copies */
    int in_rate_hz;
    int out_rate_hz;
    double ratio; /* out_rate_hz / in_rate_hz */
    size_t max_in_frames;
    size_t held_back_frames; /* output the filter may release beyond ratio * n_in */
};

static int valid_rate(int hz)
{
    return hz >= RESAMPLE_MIN_RATE_HZ && hz <= RESAMPLE_MAX_RATE_HZ;
}

cw_resampler_t *cw_resampler_new(int in_rate_hz, int out_rate_hz, size_t max_in_frames, cw_error_t *err)
{
    if (!valid_rate(in_rate_hz) || !valid_rate(out_rate_hz)) {
        cw_error_set(err, CW_ERR_INVALID, "resampler: rates %d Hz -> %d Hz: each must be in %d..%d Hz",
                     in_rate_hz, out_rate_hz, RESAMPLE_MIN_RATE_HZ, RESAMPLE_MAX_RATE_HZ);
        return NULL;
    }
    double ratio = (double)out_rate_hz / (double)in_rate_hz;
    /* The rate range allows 1000 -> 384000, a ratio libsamplerate refuses (its
     * limit is 256 either way); say so instead of failing later. */
    if (in_rate_hz != out_rate_hz && !src_is_valid_ratio(ratio)) {
        cw_error_set(err, CW_ERR_INVALID,
                     "resampler: rates %d Hz -> %d Hz: ratio %.4g is beyond what libsamplerate converts (1/256..256)",
                     in_rate_hz, out_rate_hz, ratio);
        return NULL;
    }
    /* libsamplerate counts frames in a long; the output of the largest chunk
     * (at most max ratio times it, and the ratio is below the top rate) must fit. */
    if (max_in_frames == 0 || max_in_frames > (size_t)LONG_MAX / RESAMPLE_MAX_RATE_HZ) {
        cw_error_set(err, CW_ERR_INVALID, "resampler: max_in_frames %zu must be in 1..%ld", max_in_frames,
                     LONG_MAX / RESAMPLE_MAX_RATE_HZ);
        return NULL;
    }

    cw_resampler_t *rs = calloc(1, sizeof *rs);
    if (!rs) {
        cw_error_set(err, CW_ERR_NOMEM, "resampler: out of memory for %d Hz -> %d Hz", in_rate_hz, out_rate_hz);
        return NULL;
    }
    rs->in_rate_hz = in_rate_hz;
    rs->out_rate_hz = out_rate_hz;
    rs->ratio = ratio;
    rs->max_in_frames = max_in_frames;
    if (in_rate_hz == out_rate_hz)
        return rs;

    /* The filter is as wide as the lower rate's zero crossings; measured in
     * output frames that is the half width times max(ratio, 1). */
    rs->held_back_frames = (size_t)ceil(RESAMPLE_FILTER_HALF_ZEROS * (ratio > 1.0 ? ratio : 1.0));
    int src_err = 0;
    rs->state = src_new(RESAMPLE_CONVERTER, 1, &src_err);
    if (!rs->state) {
        cw_error_set(err, CW_ERR_INTERNAL, "resampler: %d Hz -> %d Hz: libsamplerate: %s", in_rate_hz,
                     out_rate_hz, src_strerror(src_err));
        free(rs);
        return NULL;
    }
    return rs;
}

void cw_resampler_destroy(cw_resampler_t **rs_p)
{
    if (!rs_p || !*rs_p)
        return;
    cw_resampler_t *rs = *rs_p;
    if (rs->state)
        src_delete(rs->state);
    free(rs);
    *rs_p = NULL;
}

size_t cw_resampler_max_out(const cw_resampler_t *rs, size_t n_in)
{
    if (!rs->state)
        return n_in;
    return (size_t)ceil(rs->ratio * (double)n_in) + rs->held_back_frames + RESAMPLE_ROUNDING_FRAMES;
}

long cw_resampler_process(cw_resampler_t *rs, const float *in, size_t n_in, float *out, size_t out_cap, int last,
                          cw_error_t *err)
{
    if (n_in > rs->max_in_frames)
        return cw_error_set(err, CW_ERR_INVALID, "resampler: chunk of %zu frames exceeds max_in_frames %zu", n_in,
                            rs->max_in_frames);
    if (n_in > 0 && !in)
        return cw_error_set(err, CW_ERR_INVALID, "resampler: %zu input frames but no input buffer", n_in);

    if (!rs->state) {
        if (out_cap < n_in)
            return cw_error_set(err, CW_ERR_INVALID, "resampler: output room %zu < %zu frames to copy", out_cap, n_in);
        if (n_in > 0)
            memcpy(out, in, n_in * sizeof *in);
        return (long)n_in;
    }

    /* libsamplerate rejects NULL buffers even when their length is 0, which is
     * how the leg flushes; a stand-in it never reads or writes satisfies it. */
    float stand_in_in = 0.0f;
    float stand_in_out = 0.0f;
    SRC_DATA data = {
        .data_in = in ? in : &stand_in_in,
        .data_out = out ? out : &stand_in_out,
        .input_frames = (long)n_in,
        .output_frames = out ? (long)out_cap : 0,
        .src_ratio = rs->ratio,
        .end_of_input = last ? 1 : 0,
    };
    size_t written = 0;
    /* One call normally consumes the whole chunk; the converter stops early
     * only when its internal buffer or our output fills, so go on until the
     * input is used up and, when flushing, until the tail stops coming. */
    for (;;) {
        int src_err = src_process(rs->state, &data);
        if (src_err != 0)
            return cw_error_set(err, CW_ERR_INTERNAL, "resampler: %d Hz -> %d Hz: libsamplerate: %s",
                                rs->in_rate_hz, rs->out_rate_hz, src_strerror(src_err));
        written += (size_t)data.output_frames_gen;
        data.data_in += data.input_frames_used;
        data.input_frames -= data.input_frames_used;
        data.data_out += data.output_frames_gen;
        data.output_frames -= data.output_frames_gen;

        int input_left = data.input_frames > 0;
        int tail_left = last && data.output_frames_gen > 0;
        if (!input_left && !tail_left)
            break;
        if (data.output_frames == 0)
            return cw_error_set(err, CW_ERR_INVALID,
                                "resampler: %d Hz -> %d Hz: output room %zu frames is too small for %zu input frames",
                                rs->in_rate_hz, rs->out_rate_hz, out_cap, n_in);
        if (data.input_frames_used == 0 && data.output_frames_gen == 0) {
            if (input_left) /* would spin forever; not seen with libsamplerate 0.2 */
                return cw_error_set(err, CW_ERR_INTERNAL, "resampler: %d Hz -> %d Hz: converter stalled",
                                    rs->in_rate_hz, rs->out_rate_hz);
            break;
        }
    }
    return (long)written;
}
