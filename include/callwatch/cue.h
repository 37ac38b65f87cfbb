/* cue.h - plain data the stages hand each other: which leg, its talk state,
 * one prosody frame (and the pitch unit), one cue.
 *
 * Header only, below every stage (like transcript.h): sources and legs
 * produce these, the detectors read them and make cues, the call turns cues
 * into alerts. Keeping them here lets detect/ use what the leg measures
 * without including the leg's own headers, so no stage reaches back up.
 */
#ifndef CALLWATCH_CUE_H
#define CALLWATCH_CUE_H

#include <jansson.h>
#include <math.h>
#include <stdbool.h>

/* The two sides of a call. Many interfaces carry a leg as a plain int
 * (transcripts, alerts, the decoder pool): it holds one of these, or -1 where
 * a header says "both legs". */
typedef enum cw_leg_id { CW_LEG_AGENT = 0, CW_LEG_CUSTOMER = 1, CW_LEG_COUNT = 2 } cw_leg_id;

/* A leg's talk state as the VAD sees it. */
typedef struct cw_activity {
    bool talking;    /* in a talk spurt now */
    double since_s;  /* talking: when the spurt began; else when the last one ended; < 0: never spoke */
} cw_activity_t;

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

/* What a leg's voice did in one 10 ms frame (made by prosody.h's tracker). */
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

/* Semitones of f0_hz above 100 Hz (the unit every pitch difference is
 * reported in: +12 is an octave). f0_hz must be > 0. */
static inline double cw_semitones(double f0_hz)
{
    return 12.0 * log2(f0_hz / 100.0);
}

/* One cue a detector found on one leg: a word cue (cues.h) or a voice cue
 * (voice.h). The receiver owns evidence and must json_decref() it. */
typedef struct cw_cue {
    const char *kind;      /* static: "anger", "despair", "escalation" (the lexicon's), "flat_affect" */
    double score;          /* 0..1 */
    double t_start, t_end; /* seconds: the fused matches' span, or the judged segment or window */
    json_t *evidence;      /* {"words": [...]} or {"prosody": {...}} */
    char text[512];        /* one line: what was said, or the numbers against the baseline or norm */
} cw_cue_t;

#endif
