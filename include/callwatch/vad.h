/* vad.h - voice-activity segmentation of one 16 kHz mono leg.
 *
 * Works on 10 ms frames (160 samples). A frame is "loud" when its level in
 * dBFS is above max(threshold_db, noise_floor_db + margin_db), where the noise
 * floor tracks the quiet frames slowly (fast down, slow up). A segment opens
 * after onset_ms of mostly loud frames and closes after hangover_ms of quiet
 * frames. Segment boundaries are reported in samples of the leg's 16 kHz
 * timeline, with the onset moved back by preroll_ms so word beginnings are
 * not clipped.
 *
 * Not thread-safe: one per leg, used by the leg's thread. No allocation after
 * cw_vad_new().
 */
#ifndef CALLWATCH_VAD_H
#define CALLWATCH_VAD_H

#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CW_VAD_FRAME 160 /* samples per frame at 16 kHz */

typedef struct cw_vad_params {
    double threshold_db; /* e.g. -45 */
    double margin_db;    /* e.g. 12 */
    int onset_ms;        /* e.g. 60 */
    int hangover_ms;     /* e.g. 500 */
    int preroll_ms;      /* e.g. 200 */
} cw_vad_params_t;

typedef enum cw_vad_event {
    CW_VAD_NONE = 0,
    CW_VAD_START = 1, /* a segment opened; see start_sample */
    CW_VAD_END = 2    /* the open segment closed; see end_sample */
} cw_vad_event;

typedef struct cw_vad_result {
    cw_vad_event event;
    int64_t start_sample;  /* CW_VAD_START: first sample of the segment (preroll applied, >= 0) */
    int64_t end_sample;    /* CW_VAD_END: one past the last sample of this frame (the
                              segment includes its hangover silence) */
    int64_t speech_end_sample; /* CW_VAD_END: one past the last loud frame */
    bool in_speech;        /* state after this frame */
    double level_db;       /* this frame's level, dBFS */
    double noise_floor_db; /* current noise-floor estimate, dBFS */
} cw_vad_result_t;

typedef struct cw_vad cw_vad_t;

/* NULL with a message on out-of-range parameters: onset_ms 10..1000,
 * hangover_ms 10..10000, preroll_ms 0..1000, threshold_db -120..0,
 * margin_db 0..60. The caller keeps at least onset_ms + preroll_ms of
 * history so it can send the segment from start_sample. */
cw_vad_t *cw_vad_new(const cw_vad_params_t *params, cw_error_t *err);

void cw_vad_destroy(cw_vad_t **vad);

/* Feeds exactly one frame of CW_VAD_FRAME samples (float in [-1, 1]).
 * The frame's first sample is at the leg's sample index `frame_start_sample`
 * (the caller counts; frames must be consecutive). Fills *res. */
void cw_vad_process(cw_vad_t *vad, const float *frame, int64_t frame_start_sample, cw_vad_result_t *res);

/* At end of stream: if a segment is open, closes it at end_sample and returns
 * true (res->event = CW_VAD_END). */
bool cw_vad_flush(cw_vad_t *vad, int64_t end_sample, cw_vad_result_t *res);

/* Restores the state of a new vad (noise floor too). */
void cw_vad_reset(cw_vad_t *vad);

#endif
