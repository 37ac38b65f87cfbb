/* leg.c - see callwatch/leg.h */
#include "callwatch/leg.h"

#include "callwatch/prosody.h"
#include "callwatch/resample.h"
#include "callwatch/vad.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* History long enough to send a segment from its pre-rolled start when the
 * VAD confirms the onset: onset + preroll (each at most 1 s) plus a frame. */
#define HISTORY_SAMPLES (2 * CW_ASR_RATE + 2 * CW_VAD_FRAME)
/* Native samples a leg decoded at 8 kHz may hold beyond the 16 kHz history:
 * the resampler's output lags its input by its filter delay (a few dozen
 * samples for libsamplerate's sinc converters). */
#define NATIVE_SLACK 4096

struct cw_leg {
    int leg_id;
    int in_rate_hz;
    size_t max_push;
    cw_resampler_t *resampler;
    cw_vad_t *vad;
    cw_asr_stream_t *stream;
    int64_t max_utterance_samples;

    float *resampled; /* 16 kHz output of one push */
    size_t resampled_cap;

    float frame[CW_VAD_FRAME];
    size_t frame_fill;
    int64_t samples; /* 16 kHz samples framed so far: the leg's timeline */

    int16_t history[HISTORY_SAMPLES]; /* the last samples, indexed by timeline % size */

    /* A leg whose stream decodes at its native 8 kHz keeps the native
     * samples too (16 kHz timeline sample t is native sample t / native_step),
     * so the recogniser gets the line's own audio, not an upsampled copy. */
    int16_t *native;      /* NULL: the stream takes the 16 kHz history */
    int64_t native_step;  /* CW_ASR_RATE / the native rate */
    size_t native_cap;
    int64_t native_count; /* native samples pushed so far */

    int64_t preroll_samples;
    cw_activity_t activity; /* talk spurts, in seconds of the leg */

    cw_prosody_t *prosody;
    cw_prosody_frame_t *prosody_frames; /* measured since the last cw_leg_take_prosody() */
    size_t prosody_count, prosody_cap;
    unsigned long long prosody_overflow;

    bool in_utterance;
    int64_t utterance_start;
    int64_t speech_samples;
    bool finished;
};

static int16_t to_pcm16(float x)
{
    float scaled = x * 32767.0f;
    if (scaled > 32767.0f)
        return 32767;
    if (scaled < -32768.0f)
        return -32768;
    return (int16_t)lrintf(scaled);
}

cw_leg_t *cw_leg_new(const cw_config_t *cfg, int leg_id, int in_rate_hz, size_t max_push, cw_asr_stream_t *stream,
                     cw_error_t *err)
{
    cw_leg_t *leg = calloc(1, sizeof *leg);
    if (!leg) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating a leg");
        return NULL;
    }
    leg->leg_id = leg_id;
    leg->in_rate_hz = in_rate_hz;
    leg->max_push = max_push;
    leg->stream = stream;
    leg->max_utterance_samples = (int64_t)(cfg->asr_max_utterance_s * CW_ASR_RATE);
    leg->preroll_samples = (int64_t)cfg->vad_preroll_ms * CW_ASR_RATE / 1000;
    leg->activity.talking = false;
    leg->activity.since_s = -1;
    leg->resampler = cw_resampler_new(in_rate_hz, CW_ASR_RATE, max_push, err);
    if (!leg->resampler)
        goto error_out;
    cw_vad_params_t vp = {
        .threshold_db = cfg->vad_threshold_db,
        .margin_db = cfg->vad_margin_db,
        .onset_ms = cfg->vad_onset_ms,
        .hangover_ms = cfg->vad_hangover_ms,
        .preroll_ms = cfg->vad_preroll_ms,
    };
    leg->vad = cw_vad_new(&vp, err);
    if (!leg->vad)
        goto error_out;
    leg->resampled_cap = cw_resampler_max_out(leg->resampler, max_push);
    leg->resampled = calloc(leg->resampled_cap, sizeof *leg->resampled);
    /* One push (or the final flush) yields at most this many frames; the
     * caller drains them after each. */
    leg->prosody_cap = leg->resampled_cap / CW_VAD_FRAME + 2;
    leg->prosody_frames = calloc(leg->prosody_cap, sizeof *leg->prosody_frames);
    leg->prosody = cw_prosody_new(CW_VAD_FRAME, err);
    if (!leg->prosody)
        goto error_out;
    if (stream && cw_asr_stream_rate(stream) != CW_ASR_RATE) {
        if (in_rate_hz != cw_asr_stream_rate(stream)) {
            cw_error_set(err, CW_ERR_INVALID, "leg at %d Hz given a recogniser stream at %d Hz", in_rate_hz,
                         cw_asr_stream_rate(stream));
            goto error_out;
        }
        if (in_rate_hz <= 0 || CW_ASR_RATE % in_rate_hz != 0) {
            cw_error_set(err, CW_ERR_INVALID, "a recogniser stream at %d Hz does not divide %d Hz", in_rate_hz,
                         CW_ASR_RATE);
            goto error_out;
        }
        leg->native_step = CW_ASR_RATE / in_rate_hz;
        leg->native_cap = HISTORY_SAMPLES / (size_t)leg->native_step + max_push + NATIVE_SLACK;
        leg->native = calloc(leg->native_cap, sizeof *leg->native);
        if (!leg->native) {
            cw_error_set(err, CW_ERR_NOMEM, "out of memory for leg buffers");
            goto error_out;
        }
    }
    if (!leg->resampled || !leg->prosody_frames) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory for leg buffers");
        goto error_out;
    }
    return leg;

error_out:
    cw_leg_destroy(&leg);
    return NULL;
}

void cw_leg_destroy(cw_leg_t **leg_p)
{
    if (!leg_p || !*leg_p)
        return;
    cw_leg_t *leg = *leg_p;
    cw_resampler_destroy(&leg->resampler);
    cw_vad_destroy(&leg->vad);
    cw_prosody_destroy(&leg->prosody);
    free(leg->prosody_frames);
    free(leg->resampled);
    free(leg->native);
    free(leg);
    *leg_p = NULL;
}

/* Sends native samples [from, to) (native timeline) to the recogniser. */
static void send_native(cw_leg_t *leg, int64_t from, int64_t to)
{
    if (to > leg->native_count)
        to = leg->native_count; /* the resampler's flushed tail outruns the input by a sample */
    while (from < to) {
        size_t at = (size_t)(from % (int64_t)leg->native_cap);
        size_t n = (size_t)(to - from);
        if (n > leg->native_cap - at)
            n = leg->native_cap - at;
        cw_asr_stream_write(leg->stream, leg->native + at, n);
        from += (int64_t)n;
    }
}

/* Sends history samples [from, to) of the timeline to the recogniser. */
static void send_range(cw_leg_t *leg, int64_t from, int64_t to)
{
    if (!leg->stream)
        return;
    if (leg->native) {
        send_native(leg, from / leg->native_step, to / leg->native_step);
        return;
    }
    while (from < to) {
        size_t at = (size_t)(from % HISTORY_SAMPLES);
        size_t n = (size_t)(to - from);
        if (n > HISTORY_SAMPLES - at)
            n = HISTORY_SAMPLES - at;
        cw_asr_stream_write(leg->stream, leg->history + at, n);
        from += (int64_t)n;
    }
}

static void begin_utterance(cw_leg_t *leg, int64_t start)
{
    leg->in_utterance = true;
    leg->utterance_start = start;
    if (leg->stream)
        cw_asr_stream_begin(leg->stream, start);
}

static void end_utterance(cw_leg_t *leg, int64_t end)
{
    leg->in_utterance = false;
    leg->speech_samples += end - leg->utterance_start;
    if (leg->stream)
        cw_asr_stream_end(leg->stream);
}

static void process_frame(cw_leg_t *leg)
{
    int64_t frame_start = leg->samples;
    int64_t frame_end = frame_start + CW_VAD_FRAME;
    for (size_t i = 0; i < CW_VAD_FRAME; i++)
        leg->history[(size_t)((frame_start + (int64_t)i) % HISTORY_SAMPLES)] = to_pcm16(leg->frame[i]);
    leg->samples = frame_end;

    cw_vad_result_t res;
    cw_vad_process(leg->vad, leg->frame, frame_start, &res);
    if (res.event == CW_VAD_START) {
        /* The segment start includes the pre-roll; the talk began after it. */
        int64_t onset = res.start_sample + leg->preroll_samples;
        if (onset > frame_start)
            onset = frame_start;
        leg->activity.talking = true;
        leg->activity.since_s = (double)onset / CW_ASR_RATE;
    } else if (res.event == CW_VAD_END) {
        leg->activity.talking = false;
        leg->activity.since_s = (double)res.speech_end_sample / CW_ASR_RATE;
    }
    cw_prosody_frame_t measured;
    cw_prosody_push(leg->prosody, leg->frame, (double)frame_end / CW_ASR_RATE, leg->activity.talking, &measured);
    if (leg->prosody_count < leg->prosody_cap)
        leg->prosody_frames[leg->prosody_count++] = measured;
    else
        leg->prosody_overflow++;
    if (res.event == CW_VAD_START && !leg->in_utterance) {
        int64_t start = res.start_sample;
        if (start < frame_end - (HISTORY_SAMPLES - CW_VAD_FRAME))
            start = frame_end - (HISTORY_SAMPLES - CW_VAD_FRAME);
        begin_utterance(leg, start);
        send_range(leg, start, frame_end);
        return;
    }
    if (!leg->in_utterance)
        return;
    send_range(leg, frame_start, frame_end);
    if (res.event == CW_VAD_END) {
        end_utterance(leg, frame_end);
    } else if (frame_end - leg->utterance_start >= leg->max_utterance_samples) {
        /* A monologue is cut so its words still arrive while it goes on. */
        end_utterance(leg, frame_end);
        begin_utterance(leg, frame_end);
    }
}

static void frame_samples(cw_leg_t *leg, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        leg->frame[leg->frame_fill++] = x[i];
        if (leg->frame_fill == CW_VAD_FRAME) {
            process_frame(leg);
            leg->frame_fill = 0;
        }
    }
}

int cw_leg_push(cw_leg_t *leg, const float *samples, size_t n, cw_error_t *err)
{
    if (leg->finished)
        return cw_error_set(err, CW_ERR_INVALID, "audio pushed to a finished leg");
    if (n > leg->max_push)
        return cw_error_set(err, CW_ERR_INVALID, "leg push of %zu samples exceeds %zu", n, leg->max_push);
    if (leg->native) {
        for (size_t i = 0; i < n; i++)
            leg->native[(size_t)((leg->native_count + (int64_t)i) % (int64_t)leg->native_cap)] = to_pcm16(samples[i]);
        leg->native_count += (int64_t)n;
    }
    long got = cw_resampler_process(leg->resampler, samples, n, leg->resampled, leg->resampled_cap, 0, err);
    if (got < 0)
        return (int)got;
    frame_samples(leg, leg->resampled, (size_t)got);
    return CW_OK;
}

int cw_leg_finish(cw_leg_t *leg, cw_error_t *err)
{
    if (leg->finished)
        return CW_OK;
    leg->finished = true;
    int rc = CW_OK;
    long got = cw_resampler_process(leg->resampler, NULL, 0, leg->resampled, leg->resampled_cap, 1, err);
    if (got > 0)
        frame_samples(leg, leg->resampled, (size_t)got);
    else if (got < 0)
        rc = (int)got;
    if (leg->in_utterance) {
        /* The tail shorter than a frame still belongs to the utterance. */
        for (size_t i = 0; i < leg->frame_fill; i++)
            leg->history[(size_t)((leg->samples + (int64_t)i) % HISTORY_SAMPLES)] = to_pcm16(leg->frame[i]);
        send_range(leg, leg->samples, leg->samples + (int64_t)leg->frame_fill);
        end_utterance(leg, leg->samples + (int64_t)leg->frame_fill);
    }
    leg->samples += (int64_t)leg->frame_fill;
    leg->frame_fill = 0;
    if (leg->stream)
        cw_asr_stream_close(leg->stream);
    return rc;
}

double cw_leg_seconds(const cw_leg_t *leg)
{
    return (double)(leg->samples + (int64_t)leg->frame_fill) / CW_ASR_RATE;
}

void cw_leg_activity(const cw_leg_t *leg, cw_activity_t *out)
{
    *out = leg->activity;
}

double cw_leg_speech_seconds(const cw_leg_t *leg)
{
    return (double)leg->speech_samples / CW_ASR_RATE;
}

size_t cw_leg_take_prosody(cw_leg_t *leg, cw_prosody_frame_t *out, size_t cap)
{
    size_t n = leg->prosody_count < cap ? leg->prosody_count : cap;
    memcpy(out, leg->prosody_frames, n * sizeof *out);
    memmove(leg->prosody_frames, leg->prosody_frames + n, (leg->prosody_count - n) * sizeof *out);
    leg->prosody_count -= n;
    return n;
}

size_t cw_leg_prosody_capacity(const cw_leg_t *leg)
{
    return leg->prosody_cap;
}
