/* test_leg.c - one leg without a recogniser (what --no-asr runs): audio at
 * the line's rate in, a talk-state timeline and one prosody frame per 10 ms
 * out. Checks what the turn-taking cues and the voice cues rely on: when the
 * speaker started and stopped, how much speech there was, and that the leg's
 * clock is the audio's, whatever the input rate. */
#include "callwatch/config.h"
#include "callwatch/leg.h"
#include "callwatch/source.h" /* cw_leg_id */
#include "callwatch/vad.h"
#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RATE 8000
#define PUSH 400 /* 50 ms at 8 kHz, the size cw_call pulls at most */

/* Deterministic low noise, like a quiet line (about -70 dBFS). */
static float line_noise(unsigned *state)
{
    *state = *state * 1664525u + 1013904223u;
    return ((float)(*state >> 8) / (float)(1u << 24) - 0.5f) * 0.0006f;
}

/* A voice-like sound: a 150 Hz fundamental with harmonics at speaking level. */
static float voice(long i)
{
    double t = (double)i / RATE, x = 0;
    for (int h = 1; h <= 6; h++)
        x += sin(2 * M_PI * 150.0 * h * t) / h;
    return (float)(0.15 * x);
}

typedef struct fed {
    long samples;         /* pushed so far */
    unsigned noise;       /* line noise state */
    size_t frames;        /* prosody frames taken */
    size_t voiced, speech; /* of them */
    double last_t;        /* t_end of the last frame */
    bool in_order;        /* every frame 10 ms after the one before */
    cw_prosody_frame_t buf[256];
} fed_t;

static void take_frames(cw_leg_t *leg, fed_t *f)
{
    size_t n;
    while ((n = cw_leg_take_prosody(leg, f->buf, sizeof f->buf / sizeof f->buf[0])) > 0) {
        for (size_t i = 0; i < n; i++) {
            if (fabs(f->buf[i].t_end - (f->last_t + 0.01)) > 1e-6)
                f->in_order = false;
            f->last_t = f->buf[i].t_end;
            f->voiced += f->buf[i].voiced;
            f->speech += f->buf[i].speech;
        }
        f->frames += n;
    }
}

/* Pushes `seconds` of silence (voiced false) or voice, in PUSH chunks. */
static void feed(cw_leg_t *leg, fed_t *f, double seconds, bool voiced)
{
    long n = lrint(seconds * RATE);
    float x[PUSH];
    cw_error_t err;
    cw_error_clear(&err);
    while (n > 0) {
        size_t k = n < PUSH ? (size_t)n : PUSH;
        for (size_t i = 0; i < k; i++)
            x[i] = line_noise(&f->noise) + (voiced ? voice(f->samples + (long)i) : 0.0f);
        int rc = cw_leg_push(leg, x, k, &err);
        CHECK(rc == CW_OK, "push at %.2f s: %s", (double)f->samples / RATE, err.msg);
        f->samples += (long)k;
        n -= (long)k;
        take_frames(leg, f);
    }
}

static cw_config_t *shipped_config(void)
{
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    cw_error_clear(&err);
    if (!cfg || cw_config_load(cfg, cw_config_default_path(), &err) != CW_OK) {
        fprintf(stderr, "cannot load %s: %s\n", cw_config_default_path(), err.msg);
        exit(1);
    }
    return cfg;
}

/* Silence, a 1.5 s talk spurt, silence: the talk state follows the speaker. */
static void test_talk_spurt(const cw_config_t *cfg)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_leg_t *leg = cw_leg_new(cfg, CW_LEG_CUSTOMER, RATE, PUSH, NULL, &err);
    CHECK(leg != NULL, "leg: %s", err.msg);
    if (!leg)
        return;
    fed_t f = {.noise = 7, .in_order = true};
    cw_activity_t a;

    feed(leg, &f, 1.0, false);
    cw_leg_activity(leg, &a);
    CHECK(!a.talking && a.since_s < 0, "silence only: talking %d since %.2f (want never spoke)", a.talking,
          a.since_s);

    feed(leg, &f, 0.5, true);
    cw_leg_activity(leg, &a);
    CHECK(a.talking && fabs(a.since_s - 1.0) < 0.1, "0.5 s into the spurt: talking %d since %.2f s (want 1.0)",
          a.talking, a.since_s);

    feed(leg, &f, 1.0, true);
    feed(leg, &f, 2.0, false);
    cw_leg_activity(leg, &a);
    CHECK(!a.talking && fabs(a.since_s - 2.5) < 0.3, "2 s after the spurt: talking %d since %.2f s (want 2.5)",
          a.talking, a.since_s);

    CHECK(cw_leg_finish(leg, &err) == CW_OK, "finish: %s", err.msg);
    take_frames(leg, &f);
    double secs = cw_leg_seconds(leg);
    CHECK(fabs(secs - 4.5) < 0.005, "leg clock %.4f s after 4.5 s of 8 kHz audio", secs);
    double speech = cw_leg_speech_seconds(leg);
    CHECK(speech >= 1.4 && speech <= 2.5, "speech sent %.2f s for a 1.5 s spurt (pre-roll and hangover included)",
          speech);

    /* One frame per 10 ms of audio, in order; the spurt's frames are speech,
     * and its steady 150 Hz voice is found voiced. */
    CHECK(f.in_order, "prosody frames not 10 ms apart in order (last at %.3f s)", f.last_t);
    CHECK(f.frames >= 449 && f.frames <= 450, "%zu prosody frames for 4.5 s", f.frames);
    CHECK(f.speech >= 130 && f.speech <= 250, "%zu speech frames for a 1.5 s spurt", f.speech);
    CHECK(f.voiced >= 100 && f.voiced <= f.speech, "%zu voiced frames of %zu speech frames", f.voiced, f.speech);

    /* A finished leg takes no more audio, and says why. */
    float x[PUSH] = {0};
    int rc = cw_leg_push(leg, x, PUSH, &err);
    CHECK(rc == CW_ERR_INVALID && strstr(err.msg, "finished"), "push after finish: %d %s", rc, err.msg);
    cw_leg_destroy(&leg);
    CHECK(leg == NULL, "destroy NULLs the pointer");
}

/* A leg that only ever hears the line: no talk, no speech, no voiced frame. */
static void test_silent_leg(const cw_config_t *cfg)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_leg_t *leg = cw_leg_new(cfg, CW_LEG_AGENT, 16000, PUSH, NULL, &err);
    CHECK(leg != NULL, "leg: %s", err.msg);
    if (!leg)
        return;
    fed_t f = {.noise = 11, .in_order = true};
    float x[PUSH];
    for (int i = 0; i < 16000 * 3 / PUSH; i++) {
        for (size_t k = 0; k < PUSH; k++)
            x[k] = line_noise(&f.noise);
        CHECK(cw_leg_push(leg, x, PUSH, &err) == CW_OK, "push: %s", err.msg);
        take_frames(leg, &f);
    }
    CHECK(cw_leg_finish(leg, &err) == CW_OK, "finish: %s", err.msg);
    take_frames(leg, &f);
    cw_activity_t a;
    cw_leg_activity(leg, &a);
    CHECK(!a.talking && a.since_s < 0, "silent leg: talking %d since %.2f", a.talking, a.since_s);
    CHECK(cw_leg_speech_seconds(leg) == 0, "silent leg sent %.2f s of speech", cw_leg_speech_seconds(leg));
    CHECK(fabs(cw_leg_seconds(leg) - 3.0) < 0.005, "16 kHz leg clock %.4f s after 3 s", cw_leg_seconds(leg));
    CHECK(f.frames == 300 && f.speech == 0 && f.voiced == 0, "frames %zu speech %zu voiced %zu", f.frames, f.speech,
          f.voiced);

    /* A chunk larger than promised at creation is refused, not overrun. */
    float big[2 * PUSH] = {0};
    cw_leg_t *fresh = cw_leg_new(cfg, CW_LEG_AGENT, 16000, PUSH, NULL, &err);
    int rc = fresh ? cw_leg_push(fresh, big, 2 * PUSH, &err) : -1;
    CHECK(rc == CW_ERR_INVALID && strstr(err.msg, "exceeds"), "oversized push: %d %s", rc, err.msg);
    cw_leg_destroy(&fresh);
    cw_leg_destroy(&leg);
}

int main(void)
{
    cw_config_t *cfg = shipped_config();
    test_talk_spurt(cfg);
    test_silent_leg(cfg);
    cw_config_destroy(&cfg);
    return check_summary("test_leg");
}
