/* test_prosody.c - the per-frame pitch and level a leg measures: a known
 * tone gives its frequency and level, silence and noise give no pitch, and
 * skipping the pitch tracker outside speech changes no speech frame's pitch. */
#include "callwatch/prosody.h"

#include "check.h"

#include <math.h>
#include <stdlib.h>

#define RATE 16000
#define FRAME 160

/* Pushes seconds of signal; returns the median F0 of voiced frames in the
 * second half (the pitch window has settled) and the mean level there. */
static void measure(cw_prosody_t *p, double seconds, double (*signal)(long), double *f0, double *voiced_share,
                    double *level)
{
    long frames = (long)(seconds * RATE / FRAME);
    float buf[FRAME];
    double f0_sum = 0, level_sum = 0;
    long voiced = 0, counted = 0;
    static long sample;
    for (long k = 0; k < frames; k++) {
        for (int i = 0; i < FRAME; i++)
            buf[i] = (float)signal(sample++);
        cw_prosody_frame_t out;
        cw_prosody_push(p, buf, (double)sample / RATE, true, &out);
        if (k < frames / 2)
            continue;
        counted++;
        level_sum += out.level_db;
        if (out.voiced) {
            voiced++;
            f0_sum += out.f0_hz;
        }
        CHECK(out.speech, "the VAD verdict is passed through");
        CHECK(out.level_db >= CW_PROSODY_LEVEL_FLOOR_DB, "level %f above the floor", out.level_db);
    }
    *f0 = voiced ? f0_sum / (double)voiced : 0;
    *voiced_share = (double)voiced / (double)counted;
    *level = level_sum / (double)counted;
}

/* A voice-like tone: 140 Hz with harmonics, RMS about -20 dBFS. */
static double voice_140(long n)
{
    double t = (double)n / RATE;
    return 0.10 * sin(2 * M_PI * 140 * t) + 0.07 * sin(2 * M_PI * 280 * t) + 0.05 * sin(2 * M_PI * 420 * t);
}

static double voice_220(long n)
{
    double t = (double)n / RATE;
    return 0.12 * sin(2 * M_PI * 220 * t) + 0.06 * sin(2 * M_PI * 440 * t);
}

static double silence(long n)
{
    (void)n;
    return 0;
}

static unsigned long noise_state = 12345;
static double white_noise(long n)
{
    (void)n;
    noise_state = noise_state * 6364136223846793005UL + 1442695040888963407UL;
    return 0.1 * ((double)(noise_state >> 11) / (double)(1UL << 53) * 2 - 1);
}

/* A voiced onset after a pause, as a leg hears it: half a second of low hum,
 * then a gliding voice (so every frame's pitch depends on the whole 64 ms
 * window before it). */
static double pause_then_glide(long n)
{
    double t = (double)n / RATE;
    if (t < 0.5)
        return 0.01 * sin(2 * M_PI * 50 * t);
    double phase = 2 * M_PI * (120 * (t - 0.5) + 30 * (t - 0.5) * (t - 0.5));
    return 0.1 * sin(phase) + 0.05 * sin(2 * phase);
}

/* The tracker skips pitch in frames the VAD calls silence; the frames of a
 * talk spurt must still get exactly the pitch of a tracker that ran through
 * the silence too, from the very first speech frame on, and silence frames
 * carry no pitch. */
static void test_speech_onset_pitch_unchanged(void)
{
    cw_error_t err;
    cw_prosody_t *gated = cw_prosody_new(FRAME, &err);
    cw_prosody_t *always = cw_prosody_new(FRAME, &err);
    CHECK(gated && always, "trackers: %s", err.msg);
    if (!gated || !always) {
        cw_prosody_destroy(&gated);
        cw_prosody_destroy(&always);
        return;
    }
    float buf[FRAME];
    long sample = 0;
    int speech_frames = 0, same = 0, voiced = 0, silent_voiced = 0;
    for (int k = 0; k < 150; k++) {
        for (int i = 0; i < FRAME; i++)
            buf[i] = (float)pause_then_glide(sample++);
        /* The VAD: silence, then speech from 0.5 s, a 0.2 s pause at 1.0 s. */
        double t = (double)sample / RATE;
        bool speech = t > 0.5 && !(t > 1.0 && t <= 1.2);
        cw_prosody_frame_t g, a;
        cw_prosody_push(gated, buf, t, speech, &g);
        cw_prosody_push(always, buf, t, true, &a);
        if (!speech) {
            silent_voiced += g.voiced;
            continue;
        }
        speech_frames++;
        voiced += g.voiced;
        same += g.voiced == a.voiced && g.f0_hz == a.f0_hz && g.level_db == a.level_db;
    }
    CHECK(same == speech_frames, "%d of %d speech frames measured as if the tracker never paused", same,
          speech_frames);
    CHECK(voiced > speech_frames / 2, "the glide is voiced (%d of %d frames)", voiced, speech_frames);
    CHECK(silent_voiced == 0, "%d silence frames carry a pitch", silent_voiced);
    cw_prosody_destroy(&gated);
    cw_prosody_destroy(&always);
}

int main(void)
{
    cw_error_t err;
    CHECK(cw_prosody_new(0, &err) == NULL, "a zero frame size is refused");
    cw_prosody_t *p = cw_prosody_new(FRAME, &err);
    CHECK(p != NULL, "tracker: %s", err.msg);
    if (!p)
        return check_summary("prosody");

    double f0, share, level;
    measure(p, 1.0, voice_140, &f0, &share, &level);
    CHECK(share > 0.95, "a steady voiced tone is voiced (%.2f of frames)", share);
    CHECK(fabs(f0 - 140) < 1.5, "140 Hz measured as %.2f Hz", f0);
    double rms = sqrt((0.10 * 0.10 + 0.07 * 0.07 + 0.05 * 0.05) / 2);
    CHECK(fabs(level - 20 * log10(rms)) < 0.5, "level %.2f dBFS, expected %.2f", level, 20 * log10(rms));

    measure(p, 1.0, voice_220, &f0, &share, &level);
    CHECK(fabs(f0 - 220) < 2.0, "the pitch follows a change: 220 Hz measured as %.2f Hz", f0);

    measure(p, 1.0, silence, &f0, &share, &level);
    CHECK(share == 0, "digital silence is unvoiced (%.2f)", share);
    CHECK(level == CW_PROSODY_LEVEL_FLOOR_DB, "silence sits on the floor (%.1f)", level);

    measure(p, 1.0, white_noise, &f0, &share, &level);
    CHECK(share < 0.05, "white noise is not voiced (%.2f of frames)", share);

    CHECK(fabs(cw_semitones(200) - 12) < 1e-9, "an octave above 100 Hz is +12 st");
    CHECK(fabs(cw_semitones(100)) < 1e-9, "100 Hz is 0 st");

    test_speech_onset_pitch_unchanged();

    cw_prosody_destroy(&p);
    CHECK(p == NULL, "destroy NULLs the pointer");
    cw_prosody_destroy(&p);
    return check_summary("prosody");
}
