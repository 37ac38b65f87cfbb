/* vad.c - see callwatch/vad.h
 *
 * Three small pieces, run once per 10 ms frame:
 *
 * Level. 10 * log10 of the frame's mean square (RMS in dBFS), floored at
 * VAD_LEVEL_FLOOR_DB so digital silence stays finite.
 *
 * Noise floor: minimum statistics. The level is smoothed a little (in dB, a
 * few frames) and the floor is the lowest smoothed level of the last ~2 s,
 * kept as the minima of eight 250 ms sub-windows so nothing is stored per
 * frame. That is "fast down" (a quieter frame lowers the floor at once) and
 * "slow up" (a louder bed becomes the floor only once every quieter minimum
 * has aged out of the window, i.e. after at most 2 s). Speech does not drag
 * it up because speech pauses between words: any pause in the window holds
 * the floor at the line noise. Only sound without a pause for 2 s - a noise
 * bed, hold music, a long tone - becomes the floor, which is what a noise
 * floor should mean. Until the first frame there is no floor; the first
 * frame seeds it, so a leg that starts in a noisy room does not open a
 * segment on its background (a leg that starts mid-word loses that word's
 * start until the first pause).
 *
 * Frames below VAD_DIGITAL_SILENCE_DB are left out of the floor: they are
 * packet-loss fill or muting, not line noise, and would otherwise pull the
 * floor down for 2 s and make the real background look loud.
 *
 * Segmentation. A frame is loud above max(threshold_db, floor + margin_db).
 * Closed: a segment opens on a loud frame when at least 3/4 of the last
 * onset_ms frames were loud (a plain majority would let a 30 ms click that
 * straddles four frames open a 60 ms onset). Its start is the first loud
 * frame of that window minus preroll_ms, but never before the previous
 * segment's end. Open: hangover_ms of consecutive quiet frames close it.
 */
#include "callwatch/vad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define VAD_RATE_HZ 16000
#define VAD_SAMPLES_PER_MS (VAD_RATE_HZ / 1000)
#define VAD_FRAME_MS (CW_VAD_FRAME / VAD_SAMPLES_PER_MS)

/* A mean square of 1e-12: far below 16-bit quantisation noise (about
 * -101 dBFS), so only exact digital silence sits on it. */
#define VAD_LEVEL_FLOOR_DB (-120.0)

/* Below 16-bit quantisation noise: such frames were synthesised (zeros,
 * concealment fade-outs), not picked up from a line. */
#define VAD_DIGITAL_SILENCE_DB (-100.0)

/* Smoothing of the level before taking minima, as a time constant: long
 * enough to take the frame-to-frame jitter of noise off the minimum (it
 * otherwise sits ~1.5 dB under the mean of white noise), short enough to
 * reach the line noise within a 150 ms pause between words. */
#define VAD_FLOOR_SMOOTHING_MS 30.0

/* The floor is the minimum over FLOOR_SUBWINDOWS - 1 finished sub-windows
 * plus the one filling: 1.75..2 s, longer than a run of speech without any
 * pause, short enough that a new noise bed is learnt within 2 s. */
#define VAD_FLOOR_SUBWINDOW_MS 250
#define VAD_FLOOR_SUBWINDOWS 8
#define VAD_FLOOR_SUBWINDOW_FRAMES (VAD_FLOOR_SUBWINDOW_MS / VAD_FRAME_MS)

/* Share of the onset window that must be loud, as a fraction. */
#define VAD_ONSET_LOUD_NUM 3
#define VAD_ONSET_LOUD_DEN 4

#define VAD_MIN_ONSET_MS 10
#define VAD_MAX_ONSET_MS 1000
#define VAD_MIN_HANGOVER_MS 10
#define VAD_MAX_HANGOVER_MS 10000
#define VAD_MIN_PREROLL_MS 0
#define VAD_MAX_PREROLL_MS 1000
#define VAD_MIN_THRESHOLD_DB (-120.0)
#define VAD_MAX_THRESHOLD_DB 0.0
#define VAD_MIN_MARGIN_DB 0.0
#define VAD_MAX_MARGIN_DB 60.0

#define VAD_MAX_ONSET_FRAMES (VAD_MAX_ONSET_MS / VAD_FRAME_MS)

struct cw_vad {
    /* Fixed at cw_vad_new(). */
    double threshold_db;
    double margin_db;
    int onset_frames;
    int onset_loud_needed;
    int hangover_frames;
    int64_t preroll_samples;
    double floor_smoothing; /* per-frame weight of the newest level */

    /* Noise floor. */
    bool floor_seeded;
    double smoothed_db;
    double filling_min_db; /* minimum of the sub-window being filled */
    int filling_frames;
    double finished_min_db[VAD_FLOOR_SUBWINDOWS - 1]; /* ring; +inf when not yet filled */
    int finished_next;
    double floor_db;

    /* Onset window: whether each of the last onset_frames frames was loud,
     * as a ring indexed like the frames. */
    bool recent_loud[VAD_MAX_ONSET_FRAMES];
    int recent_next;
    int recent_loud_count;

    /* Open segment. */
    bool in_speech;
    int quiet_run;             /* consecutive quiet frames */
    int64_t last_loud_end;     /* one past the last loud frame */
    int64_t last_segment_end;  /* where the previous segment closed, 0 before any */
};

static int frames_for_ms(int ms)
{
    return (ms + VAD_FRAME_MS - 1) / VAD_FRAME_MS;
}

/* NaN fails both comparisons, so it is rejected too. */
static bool in_range(double value, double lo, double hi)
{
    return value >= lo && value <= hi;
}

static bool check_params(const cw_vad_params_t *p, cw_error_t *err)
{
    if (!in_range(p->threshold_db, VAD_MIN_THRESHOLD_DB, VAD_MAX_THRESHOLD_DB)) {
        cw_error_set(err, CW_ERR_INVALID, "vad: threshold_db %g is out of range %g..%g", p->threshold_db,
                     VAD_MIN_THRESHOLD_DB, VAD_MAX_THRESHOLD_DB);
        return false;
    }
    if (!in_range(p->margin_db, VAD_MIN_MARGIN_DB, VAD_MAX_MARGIN_DB)) {
        cw_error_set(err, CW_ERR_INVALID, "vad: margin_db %g is out of range %g..%g", p->margin_db,
                     VAD_MIN_MARGIN_DB, VAD_MAX_MARGIN_DB);
        return false;
    }
    if (p->onset_ms < VAD_MIN_ONSET_MS || p->onset_ms > VAD_MAX_ONSET_MS) {
        cw_error_set(err, CW_ERR_INVALID, "vad: onset_ms %d is out of range %d..%d", p->onset_ms, VAD_MIN_ONSET_MS,
                     VAD_MAX_ONSET_MS);
        return false;
    }
    if (p->hangover_ms < VAD_MIN_HANGOVER_MS || p->hangover_ms > VAD_MAX_HANGOVER_MS) {
        cw_error_set(err, CW_ERR_INVALID, "vad: hangover_ms %d is out of range %d..%d", p->hangover_ms,
                     VAD_MIN_HANGOVER_MS, VAD_MAX_HANGOVER_MS);
        return false;
    }
    if (p->preroll_ms < VAD_MIN_PREROLL_MS || p->preroll_ms > VAD_MAX_PREROLL_MS) {
        cw_error_set(err, CW_ERR_INVALID, "vad: preroll_ms %d is out of range %d..%d", p->preroll_ms,
                     VAD_MIN_PREROLL_MS, VAD_MAX_PREROLL_MS);
        return false;
    }
    return true;
}

cw_vad_t *cw_vad_new(const cw_vad_params_t *params, cw_error_t *err)
{
    if (!params) {
        cw_error_set(err, CW_ERR_INVALID, "vad: no parameters");
        return NULL;
    }
    if (!check_params(params, err))
        return NULL;
    cw_vad_t *vad = calloc(1, sizeof *vad);
    if (!vad) {
        cw_error_set(err, CW_ERR_NOMEM, "vad: out of memory");
        return NULL;
    }
    vad->threshold_db = params->threshold_db;
    vad->margin_db = params->margin_db;
    vad->onset_frames = frames_for_ms(params->onset_ms);
    vad->onset_loud_needed =
        (vad->onset_frames * VAD_ONSET_LOUD_NUM + VAD_ONSET_LOUD_DEN - 1) / VAD_ONSET_LOUD_DEN;
    vad->hangover_frames = frames_for_ms(params->hangover_ms);
    vad->preroll_samples = (int64_t)params->preroll_ms * VAD_SAMPLES_PER_MS;
    vad->floor_smoothing = 1.0 - exp(-VAD_FRAME_MS / VAD_FLOOR_SMOOTHING_MS);
    cw_vad_reset(vad);
    return vad;
}

void cw_vad_destroy(cw_vad_t **vad_p)
{
    if (!vad_p || !*vad_p)
        return;
    free(*vad_p);
    *vad_p = NULL;
}

void cw_vad_reset(cw_vad_t *vad)
{
    vad->floor_seeded = false;
    vad->smoothed_db = VAD_LEVEL_FLOOR_DB;
    vad->filling_min_db = INFINITY;
    vad->filling_frames = 0;
    for (int i = 0; i < VAD_FLOOR_SUBWINDOWS - 1; i++)
        vad->finished_min_db[i] = INFINITY;
    vad->finished_next = 0;
    vad->floor_db = VAD_LEVEL_FLOOR_DB;

    memset(vad->recent_loud, 0, sizeof vad->recent_loud);
    vad->recent_next = 0;
    vad->recent_loud_count = 0;

    vad->in_speech = false;
    vad->quiet_run = 0;
    vad->last_loud_end = 0;
    vad->last_segment_end = 0;
}

static double frame_level_db(const float *frame)
{
    double sum = 0.0;
    for (int i = 0; i < CW_VAD_FRAME; i++)
        sum += (double)frame[i] * (double)frame[i];
    double level = 10.0 * log10(sum / CW_VAD_FRAME);
    /* log10(0) is -inf; the comparison also keeps NaN input from spreading. */
    return level > VAD_LEVEL_FLOOR_DB ? level : VAD_LEVEL_FLOOR_DB;
}

static void track_floor(cw_vad_t *vad, double level_db)
{
    if (level_db <= VAD_DIGITAL_SILENCE_DB)
        return;
    if (!vad->floor_seeded) {
        vad->smoothed_db = level_db;
        vad->floor_seeded = true;
    } else {
        vad->smoothed_db += vad->floor_smoothing * (level_db - vad->smoothed_db);
    }
    if (vad->smoothed_db < vad->filling_min_db)
        vad->filling_min_db = vad->smoothed_db;
    if (++vad->filling_frames == VAD_FLOOR_SUBWINDOW_FRAMES) {
        vad->finished_min_db[vad->finished_next] = vad->filling_min_db;
        vad->finished_next = (vad->finished_next + 1) % (VAD_FLOOR_SUBWINDOWS - 1);
        vad->filling_min_db = INFINITY;
        vad->filling_frames = 0;
    }
    double floor_db = vad->filling_min_db;
    for (int i = 0; i < VAD_FLOOR_SUBWINDOWS - 1; i++)
        if (vad->finished_min_db[i] < floor_db)
            floor_db = vad->finished_min_db[i];
    vad->floor_db = floor_db;
}

/* Records this frame in the onset window. */
static void remember_loudness(cw_vad_t *vad, bool loud)
{
    bool *slot = &vad->recent_loud[vad->recent_next];
    vad->recent_loud_count += (int)loud - (int)*slot;
    *slot = loud;
    vad->recent_next = (vad->recent_next + 1) % vad->onset_frames;
}

/* Start of the first loud frame in the onset window, the frame just
 * remembered (starting at frame_start) being the newest. */
static int64_t first_loud_in_window(const cw_vad_t *vad, int64_t frame_start)
{
    /* After remember_loudness(), recent_next is the oldest slot. */
    for (int age = vad->onset_frames - 1; age >= 0; age--) {
        int slot = (vad->recent_next + vad->onset_frames - 1 - age) % vad->onset_frames;
        if (vad->recent_loud[slot])
            return frame_start - (int64_t)age * CW_VAD_FRAME;
    }
    return frame_start;
}

static void forget_onset_window(cw_vad_t *vad)
{
    memset(vad->recent_loud, 0, sizeof vad->recent_loud);
    vad->recent_loud_count = 0;
}

void cw_vad_process(cw_vad_t *vad, const float *frame, int64_t frame_start_sample, cw_vad_result_t *res)
{
    int64_t frame_end = frame_start_sample + CW_VAD_FRAME;
    double level_db = frame_level_db(frame);
    track_floor(vad, level_db);
    double loud_above = vad->floor_db + vad->margin_db;
    if (loud_above < vad->threshold_db)
        loud_above = vad->threshold_db;
    bool loud = level_db > loud_above;

    memset(res, 0, sizeof *res);
    res->level_db = level_db;
    res->noise_floor_db = vad->floor_db;

    remember_loudness(vad, loud);
    if (!vad->in_speech) {
        if (loud && vad->recent_loud_count >= vad->onset_loud_needed) {
            int64_t start = first_loud_in_window(vad, frame_start_sample) - vad->preroll_samples;
            /* The preroll may reach into the previous segment's hangover;
             * that audio was sent with it already, so segments never overlap
             * (this also keeps start >= 0). */
            if (start < vad->last_segment_end)
                start = vad->last_segment_end;
            vad->in_speech = true;
            vad->quiet_run = 0;
            vad->last_loud_end = frame_end;
            res->event = CW_VAD_START;
            res->start_sample = start;
        }
    } else if (loud) {
        vad->quiet_run = 0;
        vad->last_loud_end = frame_end;
    } else if (++vad->quiet_run >= vad->hangover_frames) {
        vad->in_speech = false;
        /* The next segment needs an onset of its own, not the tail of this one. */
        forget_onset_window(vad);
        vad->last_segment_end = frame_end;
        res->event = CW_VAD_END;
        res->end_sample = frame_end;
        res->speech_end_sample = vad->last_loud_end;
    }
    res->in_speech = vad->in_speech;
}

bool cw_vad_flush(cw_vad_t *vad, int64_t end_sample, cw_vad_result_t *res)
{
    memset(res, 0, sizeof *res);
    res->level_db = VAD_LEVEL_FLOOR_DB;
    res->noise_floor_db = vad->floor_db;
    if (!vad->in_speech)
        return false;
    vad->in_speech = false;
    forget_onset_window(vad);
    vad->last_segment_end = end_sample;
    res->event = CW_VAD_END;
    res->end_sample = end_sample;
    res->speech_end_sample = vad->last_loud_end < end_sample ? vad->last_loud_end : end_sample;
    return true;
}
