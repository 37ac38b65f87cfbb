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

#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>

/* Pitch outside this range is not speech F0 (octave errors, hum, whistles). */
#define CW_PROSODY_F0_MIN_HZ 60.0
#define CW_PROSODY_F0_MAX_HZ 500.0

/* Level of digital silence, and the floor of every level. */
#define CW_PROSODY_LEVEL_FLOOR_DB (-120.0)

/* The spectral measures keep to 300-3400 Hz, the band a telephone line
 * passes, so a wideband leg and a phone line measure the same voice alike.
 * Both are level ratios inside one frame: the line's gain cancels out. */
#define CW_PROSODY_BAND_LOW_HZ 300.0
#define CW_PROSODY_BAND_SPLIT_HZ 1000.0
#define CW_PROSODY_BAND_HAMMARBERG_HZ 2000.0
#define CW_PROSODY_BAND_HIGH_HZ 3400.0

typedef struct cw_prosody_frame {
    double t_end;    /* leg seconds at the end of the frame */
    bool speech;     /* the leg's VAD had the speaker talking in this frame */
    bool voiced;     /* speech, and a pitch was found, confidently, within the F0 range */
    float f0_hz;     /* voiced: the fundamental frequency; 0 otherwise */
    float level_db;  /* RMS level of the frame, dBFS, >= CW_PROSODY_LEVEL_FLOOR_DB */
    /* Speech frames only (0 otherwise), over the last 32 ms: */
    float alpha_db;      /* energy in 1-3.4 kHz over energy in 0.3-1 kHz (dB): vocal effort tilts it up */
    float hammarberg_db; /* strongest bin in 0.3-2 kHz over strongest in 2-3.4 kHz (dB): falls with effort */
    float pitch_conf;    /* YIN's confidence in the frame's pitch, 0..1 */
} cw_prosody_frame_t;

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

/* Semitones of f0_hz above 100 Hz (the unit every pitch difference is
 * reported in: +12 is an octave). f0_hz must be > 0. */
double cw_semitones(double f0_hz);

#endif
