/* voice.h - voice cues of one leg: raised (anger), low and slow (despair)
 * and flat (flat_affect) speech, from its prosody (cue.h's frames, made by prosody.h).
 *
 * Frames are grouped into segments: a talk spurt, cut every
 * segment.max_speech_s of speech so a long tirade is judged while it goes
 * on. Each segment gets its median pitch (semitones), pitch range (p90-p10,
 * semitones), level (median of voiced frames, dBFS) and syllable rate
 * (level peaks per second of speech). Before that, frames whose pitch lies
 * near 2x, 3x, 1/2 or 1/3 of the segment's median (YIN's harmonic errors,
 * common in telephone-band audio) are moved back by that ratio, within
 * segment.harmonic_fold_within_st semitones.
 *
 * Anger and despair compare a segment with the speaker's own baseline: the
 * robust statistics (medians) of that speaker's first baseline.voiced_s of
 * voiced speech, adapting slowly (baseline.adapt_rate per calm segment)
 * afterwards. So "raised" means raised for this person, and a caller who
 * opens the call already shouting is only measured against themself once
 * the baseline exists (a known limit).
 *
 * Flat affect compares the last flat_affect.window_voiced_s of voiced
 * speech with population norms: pitch spread (robust standard deviation, in
 * semitones), level dynamics (p90-p10 of frame levels, dB) and syllable
 * rate. It is judged every flat_affect.hop_voiced_s of new voiced speech.
 *
 * Every number, weight and norm comes from the model file
 * (models/prosody.json); a score is the logistic of a weighted sum of the
 * differences, so the model states exactly how much each cue counts.
 *
 * Not thread-safe: one detector per leg, driven by the call's ingest thread.
 * The model is immutable once loaded and may be shared by any number of
 * detectors and threads.
 */
#ifndef CALLWATCH_VOICE_H
#define CALLWATCH_VOICE_H

#include "callwatch/cue.h"
#include "callwatch/error.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct cw_voice_model cw_voice_model_t;

/* Loads and validates a prosody model (JSON). Every key is required and
 * range-checked; errors name the file and the key. NULL on failure. */
cw_voice_model_t *cw_voice_model_load(const char *path, cw_error_t *err);

void cw_voice_model_destroy(cw_voice_model_t **model);

typedef struct cw_voice cw_voice_t;

/* What one judged segment measured. Every feature is independent of the
 * line's gain (ratios and spreads, no absolute level) and of the speaker's
 * history, so a segment can be judged against population norms from the
 * first words of a call. */
typedef enum cw_voice_feature {
    CW_VF_F0_ST,          /* median pitch, semitones over 100 Hz (harmonic errors folded) */
    CW_VF_RANGE_ST,       /* pitch p90 - p10, semitones */
    CW_VF_LEVEL_DYN_DB,   /* level p90 - p10 of voiced frames, dB */
    CW_VF_RATE_SYL_S,     /* syllable nuclei per second of speech */
    CW_VF_VOICED_FRAC,    /* voiced share of the speech frames, 0..1 */
    CW_VF_ALPHA_DB,       /* median alpha ratio of voiced frames (prosody.h), dB */
    CW_VF_HAMMARBERG_DB,  /* median Hammarberg index of voiced frames, dB */
    CW_VF_PITCH_CONF,     /* median YIN confidence of speech frames, 0..1 */
    CW_VF_PEAK_LEVEL_DB,  /* level p95 of voiced frames over their median, dB */
    CW_VF_LEVEL_DB,       /* median level of voiced frames, dBFS: depends on the line's gain, so
                           * only ever compared with the same caller's baseline */
    CW_VF_LINE_NOISE_DB,  /* how far the line is from clean: segment.clean_snr_db minus the
                           * segment's SNR (level_db over the median level of the leg's
                           * non-speech frames so far), 0..clean_snr_db; 0 on a clean line and
                           * until 100 ms of non-speech was heard. A condition of the line, not
                           * a cue: it lets a model discount what noise does to the others */
    CW_VF_COUNT
} cw_voice_feature_t;

/* The feature's name in the model file and in evidence ("f0_st", ...). */
const char *cw_voice_feature_name(cw_voice_feature_t f);

typedef struct cw_voice_segment {
    double t_start, t_end;        /* leg seconds */
    double voiced_s, speech_s;
    double x[CW_VF_COUNT];        /* indexed by cw_voice_feature_t */
    double prior_anger;           /* the population-norm anger score, 0..1 */
    double relative_anger;        /* the score against this speaker's baseline, 0..1; 0 without one */
    bool has_baseline;            /* the speaker's own baseline existed when judged */
} cw_voice_segment_t;

/* Called for every judged segment, on the feeding thread, before its cues
 * are emitted. For measurement tools and tests; seg is valid during the call. */
typedef void (*cw_voice_segment_fn)(void *ctx, const cw_voice_segment_t *seg);
void cw_voice_set_segment_observer(cw_voice_t *voice, cw_voice_segment_fn fn, void *ctx);

/* model is borrowed and must outlive the detector; whose ("caller",
 * "agent") names the speaker in texts. */
cw_voice_t *cw_voice_new(const cw_voice_model_t *model, const char *whose, cw_error_t *err);

void cw_voice_destroy(cw_voice_t **voice);

/* Feeds frames in time order. Writes up to cap cues (at most one per kind
 * per call) into out and returns how many; the caller owns their evidence.
 * A voice cue's kind is "anger", "despair" or "flat_affect", its span in leg
 * seconds the segment or the judged window, its evidence {"prosody": {...}},
 * its text the numbers against the baseline or norm.
 * Cues of a kind are only produced for the kinds enabled (a customer leg
 * asks for anger and despair, an agent leg for flat_affect). */
size_t cw_voice_feed(cw_voice_t *voice, const cw_prosody_frame_t *frames, size_t n, bool want_anger,
                     bool want_despair, bool want_flat, cw_cue_t *out, size_t cap);

/* Ends the current segment (end of the leg's audio), so its cues are judged.
 * Same contract as cw_voice_feed. */
size_t cw_voice_flush(cw_voice_t *voice, bool want_anger, bool want_despair, bool want_flat, cw_cue_t *out,
                      size_t cap);

/* The whole leg so far (its ended segments, pitch folded as above), for the
 * record (call_end, QA drift over a shift):
 * {"voiced_s", "f0_median_hz", "f0_spread_st", "level_dynamics_db",
 *  "rate_syl_s"}; only "voiced_s" when under a second of voiced speech.
 * New reference; NULL when out of memory. */
json_t *cw_voice_summary(const cw_voice_t *voice);

/* True once the speaker's baseline exists. */
bool cw_voice_has_baseline(const cw_voice_t *voice);

#endif
