/* prosody.c - see callwatch/prosody.h */
#include "callwatch/prosody.h"

#include <aubio/aubio.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* 64 ms holds two periods of a 60 Hz voice, what YIN needs to see one. */
#define PITCH_WINDOW 1024
/* aubio's own default; lower rejects more breathy voicing as unvoiced. */
#define PITCH_TOLERANCE 0.15
/* Below this YIN confidence the frame is treated as unvoiced. */
#define PITCH_MIN_CONFIDENCE 0.6
/* 32 ms: several pitch periods, so the harmonics are resolved, yet short
 * enough to follow a syllable. 31.25 Hz per bin at 16 kHz. */
#define SPECTRUM_WINDOW 512
#define RATE_HZ 16000.0
/* Keeps log10 finite in digital silence; far below any speech band's energy. */
#define ENERGY_FLOOR 1e-12

struct cw_prosody {
    size_t frame_samples;
    aubio_pitch_t *pitch;
    fvec_t *in;
    fvec_t *out;
    /* The samples before the current frame, oldest first: whole frames
     * covering at least PITCH_WINDOW, replayed into the tracker when speech
     * resumes so its window holds what it would have held had it run on. */
    float *recent;
    size_t recent_frames;
    fvec_t *replay;       /* one frame of recent[] on its way into the tracker */
    bool tracking;        /* the tracker's window is up to date with the audio */
    aubio_fft_t *fft;
    fvec_t *windowed;     /* the last SPECTRUM_WINDOW samples, Hann-weighted */
    cvec_t *spectrum;
    float *hann;
};

cw_prosody_t *cw_prosody_new(size_t frame_samples, cw_error_t *err)
{
    if (frame_samples == 0 || frame_samples > PITCH_WINDOW) {
        cw_error_set(err, CW_ERR_INVALID, "prosody frame of %zu samples (1..%d)", frame_samples, PITCH_WINDOW);
        return NULL;
    }
    cw_prosody_t *p = calloc(1, sizeof *p);
    if (!p) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating a prosody tracker");
        return NULL;
    }
    p->frame_samples = frame_samples;
    p->recent_frames = (PITCH_WINDOW + frame_samples - 1) / frame_samples;
    p->recent = calloc(p->recent_frames * frame_samples, sizeof *p->recent);
    p->pitch = new_aubio_pitch("yinfast", PITCH_WINDOW, (uint_t)frame_samples, 16000);
    p->in = new_fvec((uint_t)frame_samples);
    p->replay = new_fvec((uint_t)frame_samples);
    p->out = new_fvec(1);
    p->fft = new_aubio_fft(SPECTRUM_WINDOW);
    p->windowed = new_fvec(SPECTRUM_WINDOW);
    p->spectrum = new_cvec(SPECTRUM_WINDOW);
    p->hann = calloc(SPECTRUM_WINDOW, sizeof *p->hann);
    if (!p->recent || !p->pitch || !p->in || !p->replay || !p->out || !p->fft || !p->windowed || !p->spectrum ||
        !p->hann) {
        cw_error_set(err, CW_ERR_INTERNAL, "aubio could not set up a YIN pitch tracker");
        cw_prosody_destroy(&p);
        return NULL;
    }
    aubio_pitch_set_unit(p->pitch, "Hz");
    aubio_pitch_set_tolerance(p->pitch, PITCH_TOLERANCE);
    for (size_t i = 0; i < SPECTRUM_WINDOW; i++)
        p->hann[i] = (float)(0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)(SPECTRUM_WINDOW - 1)));
    return p;
}

void cw_prosody_destroy(cw_prosody_t **p_p)
{
    if (!p_p || !*p_p)
        return;
    cw_prosody_t *p = *p_p;
    if (p->pitch)
        del_aubio_pitch(p->pitch);
    if (p->in)
        del_fvec(p->in);
    if (p->out)
        del_fvec(p->out);
    if (p->replay)
        del_fvec(p->replay);
    if (p->fft)
        del_aubio_fft(p->fft);
    if (p->windowed)
        del_fvec(p->windowed);
    if (p->spectrum)
        del_cvec(p->spectrum);
    free(p->hann);
    free(p->recent);
    free(p);
    *p_p = NULL;
}

static size_t bin_of(double hz)
{
    return (size_t)(hz * SPECTRUM_WINDOW / RATE_HZ + 0.5);
}

/* Spectral balance of the SPECTRUM_WINDOW samples ending with the current
 * frame: recent[] then frame. */
static void measure_spectrum(cw_prosody_t *p, const float *frame, cw_prosody_frame_t *out)
{
    size_t recent_len = p->recent_frames * p->frame_samples;
    size_t from_recent = SPECTRUM_WINDOW - p->frame_samples;
    const float *older = p->recent + recent_len - from_recent;
    for (size_t i = 0; i < from_recent; i++)
        p->windowed->data[i] = older[i] * p->hann[i];
    for (size_t i = 0; i < p->frame_samples; i++)
        p->windowed->data[from_recent + i] = frame[i] * p->hann[from_recent + i];
    aubio_fft_do(p->fft, p->windowed, p->spectrum);
    const smpl_t *mag = p->spectrum->norm;
    double low = 0, high = 0, peak_low = 0, peak_high = 0;
    for (size_t b = bin_of(CW_PROSODY_BAND_LOW_HZ); b <= bin_of(CW_PROSODY_BAND_HIGH_HZ); b++) {
        double e = (double)mag[b] * mag[b];
        if (b < bin_of(CW_PROSODY_BAND_SPLIT_HZ))
            low += e;
        else
            high += e;
        if (b < bin_of(CW_PROSODY_BAND_HAMMARBERG_HZ))
            peak_low = fmax(peak_low, e);
        else
            peak_high = fmax(peak_high, e);
    }
    out->alpha_db = (float)(10.0 * log10((high + ENERGY_FLOOR) / (low + ENERGY_FLOOR)));
    out->hammarberg_db = (float)(10.0 * log10((peak_low + ENERGY_FLOOR) / (peak_high + ENERGY_FLOOR)));
}

void cw_prosody_push(cw_prosody_t *p, const float *frame, double t_end, bool speech, cw_prosody_frame_t *out)
{
    double energy = 0;
    for (size_t i = 0; i < p->frame_samples; i++) {
        p->in->data[i] = frame[i];
        energy += (double)frame[i] * frame[i];
    }
    double mean_square = energy / (double)p->frame_samples;
    double level = mean_square > 0 ? 10.0 * log10(mean_square) : CW_PROSODY_LEVEL_FLOOR_DB;
    if (level < CW_PROSODY_LEVEL_FLOOR_DB)
        level = CW_PROSODY_LEVEL_FLOOR_DB;

    /* Pitch was 86% of the ingest thread when measured on every frame, and
     * only speech frames' pitch is ever used (voice.h). So silence skips the
     * tracker, and when speech resumes the frames before it are replayed
     * first: the pitch of a talk spurt's first frames is what it always was. */
    bool voiced = false;
    double f0 = 0, confidence = 0;
    out->alpha_db = out->hammarberg_db = 0;
    if (speech) {
        measure_spectrum(p, frame, out);
        if (!p->tracking) {
            for (size_t k = 0; k < p->recent_frames; k++) {
                for (size_t i = 0; i < p->frame_samples; i++)
                    p->replay->data[i] = p->recent[k * p->frame_samples + i];
                aubio_pitch_do(p->pitch, p->replay, p->out);
            }
            p->tracking = true;
        }
        aubio_pitch_do(p->pitch, p->in, p->out);
        f0 = p->out->data[0];
        confidence = aubio_pitch_get_confidence(p->pitch);
        voiced = confidence >= PITCH_MIN_CONFIDENCE && f0 >= CW_PROSODY_F0_MIN_HZ && f0 <= CW_PROSODY_F0_MAX_HZ;
    } else {
        p->tracking = false;
    }
    size_t keep = (p->recent_frames - 1) * p->frame_samples;
    memmove(p->recent, p->recent + p->frame_samples, keep * sizeof *p->recent);
    memcpy(p->recent + keep, frame, p->frame_samples * sizeof *p->recent);

    out->t_end = t_end;
    out->speech = speech;
    out->voiced = voiced;
    out->f0_hz = voiced ? (float)f0 : 0.0f;
    out->level_db = (float)level;
    out->pitch_conf = (float)(confidence > 0 ? (confidence < 1 ? confidence : 1) : 0);
}
