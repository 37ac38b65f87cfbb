/* prosody.h - what a leg's voice does, frame by frame: pitch and level.
 *
 * Fed the leg's 16 kHz audio one VAD frame (10 ms) at a time, a prosody
 * tracker gives each frame its level (RMS, dBFS) and, where the frame is
 * speech and voiced, its fundamental frequency from aubio's YIN ("yinfast",
 * 64 ms window, so a frame's pitch describes the 64 ms ending with it).
 * Pitch is measured in speech frames only, the costly part skipped in
 * silence; the window slides through every frame all the same. These are
 * raw measurements: what counts as raised or flat is decided downstream
 * against each speaker's baseline (voice.h).
 *
 * Not thread-safe: one tracker per leg, driven by the leg's thread. All
 * memory is allocated in cw_prosody_new(); cw_prosody_push() never allocates.
 */
#ifndef CALLWATCH_PROSODY_H
#define CALLWATCH_PROSODY_H

#include "callwatch/cue.h" /* cw_prosody_frame_t, the CW_PROSODY_* ranges and bands */
#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cw_prosody cw_prosody_t;

/* frame_samples: samples per pushed frame at 16 kHz (the VAD frame, 160).
 * NULL with a message when out of memory or aubio refuses the setup. */
cw_prosody_t *cw_prosody_new(size_t frame_samples, cw_error_t *err);

/* Frees *p and NULLs it. Accepts NULL. */
void cw_prosody_destroy(cw_prosody_t **p);

/* Measures one frame of frame_samples samples (float in [-1, 1]) ending at
 * leg time t_end (seconds); `speech` is the VAD's verdict, copied into out.
 * Every frame of the leg must be pushed, in order, speech or not, so the
 * pitch window stays continuous. */
void cw_prosody_push(cw_prosody_t *p, const float *frame, double t_end, bool speech, cw_prosody_frame_t *out);

#endif
