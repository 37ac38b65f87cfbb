/* resample.h - streaming sample-rate conversion of one mono channel (libsamplerate).
 *
 * Converts float samples in [-1, 1] at in_rate_hz to out_rate_hz, chunk by
 * chunk, keeping filter state between calls so a stream split into any chunks
 * gives the same output as one call. When the rates are equal it copies.
 *
 * Not thread-safe: one resampler belongs to one thread at a time. All memory is
 * allocated in cw_resampler_new().
 */
#ifndef CALLWATCH_RESAMPLE_H
#define CALLWATCH_RESAMPLE_H

#include "callwatch/error.h"

#include <stddef.h>

typedef struct cw_resampler cw_resampler_t;

/* in_rate_hz and out_rate_hz in 1000..384000. max_in_frames is the largest
 * chunk cw_resampler_process() will be given. NULL on bad rates (message in
 * err) or out of memory. */
cw_resampler_t *cw_resampler_new(int in_rate_hz, int out_rate_hz, size_t max_in_frames, cw_error_t *err);

void cw_resampler_destroy(cw_resampler_t **rs);

/* Upper bound of output frames for n_in input frames (size `out` with it). */
size_t cw_resampler_max_out(const cw_resampler_t *rs, size_t n_in);

/* Converts n_in frames (n_in <= max_in_frames) into out (room for
 * cw_resampler_max_out(n_in) frames). last = 1 flushes the filter tail at the
 * end of the stream. Returns frames written (>= 0) or a negative cw_status. */
long cw_resampler_process(cw_resampler_t *rs, const float *in, size_t n_in,
                          float *out, size_t out_cap, int last, cw_error_t *err);

#endif
