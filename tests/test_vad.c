/* test_vad.c - the segmenter on signals built here (noise beds, tones,
 * speech-like bursts, clicks, dropouts) and on one real utterance when
 * pocketsphinx-testdata is installed. Times are checked against the truth
 * the signals were built with. */
#include "callwatch/vad.h"

#include "check.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846
#define RATE_HZ 16000
#define MAX_SEGMENTS 16

/* Boundaries may be off by the frame grid plus the onset/level rounding. */
#define TOLERANCE_SAMPLES (50 * RATE_HZ / 1000)
/* How close the learnt floor must come to a steady bed. */
#define FLOOR_TOLERANCE_DB 3.0

#define QUIET_LINE_DB (-60.0) /* a good line's background */
#define SPEECH_DB (-20.0)

/* The defaults of vad.h. */
static const cw_vad_params_t default_params = {
    .threshold_db = -45.0,
    .margin_db = 12.0,
    .onset_ms = 60,
    .hangover_ms = 500,
    .preroll_ms = 200,
};
#define PREROLL_SAMPLES (200 * RATE_HZ / 1000)
#define HANGOVER_SAMPLES (500 * RATE_HZ / 1000)

static size_t at_seconds(double s)
{
    return (size_t)lround(s * RATE_HZ);
}

static double db_to_rms(double db)
{
    return pow(10.0, db / 20.0);
}

/* xorshift32 with a fixed seed: the same fixture on every run. */
static uint32_t rng_state = 2463534242u;

static double uniform01(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return ((double)rng_state + 1.0) / 4294967297.0; /* (0, 1): log() below stays finite */
}

static double gaussian(void)
{
    return sqrt(-2.0 * log(uniform01())) * cos(2.0 * PI * uniform01());
}

static float *new_signal(double seconds, size_t *n)
{
    *n = at_seconds(seconds);
    float *x = calloc(*n, sizeof *x);
    CHECK(x != NULL, "out of memory");
    return x;
}

static void add_noise(float *x, size_t from, size_t to, double level_db)
{
    double rms = db_to_rms(level_db);
    for (size_t i = from; i < to; i++)
        x[i] += (float)(rms * gaussian());
}

static void add_tone(float *x, size_t from, size_t to, double hz, double level_db)
{
    double amplitude = db_to_rms(level_db) * sqrt(2.0);
    for (size_t i = from; i < to; i++)
        x[i] += (float)(amplitude * sin(2.0 * PI * hz * (double)(i - from) / RATE_HZ));
}

/* Noise shaped like talk: syllables of 250 ms (a sin^2 swell) in words of
 * three, with a 150 ms pause between words. level_db is the RMS over the
 * span. */
#define SYLLABLE_S 0.25
#define SYLLABLES_PER_WORD 3
#define WORD_PAUSE_S 0.15

static double speech_envelope(double t)
{
    double word_s = SYLLABLES_PER_WORD * SYLLABLE_S;
    double in_word = fmod(t, word_s + WORD_PAUSE_S);
    if (in_word >= word_s)
        return 0.0;
    double swell = sin(PI * fmod(in_word, SYLLABLE_S) / SYLLABLE_S);
    return swell * swell;
}

static void add_speechlike(float *x, size_t from, size_t to, double level_db)
{
    double energy = 0.0;
    for (size_t i = from; i < to; i++) {
        double e = speech_envelope((double)(i - from) / RATE_HZ);
        energy += e * e;
    }
    double scale = db_to_rms(level_db) / sqrt(energy / (double)(to - from));
    for (size_t i = from; i < to; i++)
        x[i] += (float)(scale * speech_envelope((double)(i - from) / RATE_HZ) * gaussian());
}

typedef struct segment {
    int64_t start;
    int64_t end;
    int64_t speech_end;
} segment_t;

typedef struct run {
    segment_t segments[MAX_SEGMENTS];
    int count;
    double max_floor_db; /* highest floor while at or after floor_watch_from */
    int64_t floor_watch_from;
    double floor_at_probe_db; /* floor after the frame containing probe_sample */
    int64_t probe_sample;
} run_t;

/* Feeds x frame by frame (a tail shorter than a frame is dropped, as the
 * leg does), flushes at the end, and collects segments. Checks the event
 * sequence is well-formed on the way. */
static void run_vad(const cw_vad_params_t *params, const float *x, size_t n, run_t *run)
{
    int64_t watch_from = run->floor_watch_from;
    int64_t probe = run->probe_sample;
    memset(run, 0, sizeof *run);
    run->floor_watch_from = watch_from;
    run->probe_sample = probe;
    run->max_floor_db = -INFINITY;

    cw_error_t err;
    cw_error_clear(&err);
    cw_vad_t *vad = cw_vad_new(params, &err);
    CHECK(vad != NULL, "cw_vad_new: %s", err.msg);
    if (!vad)
        return;
    bool open = false;
    size_t frames = n / CW_VAD_FRAME;
    cw_vad_result_t res;
    for (size_t f = 0; f < frames; f++) {
        int64_t frame_start = (int64_t)(f * CW_VAD_FRAME);
        cw_vad_process(vad, x + f * CW_VAD_FRAME, frame_start, &res);
        if (frame_start >= run->floor_watch_from && res.noise_floor_db > run->max_floor_db)
            run->max_floor_db = res.noise_floor_db;
        if (run->probe_sample >= frame_start && run->probe_sample < frame_start + CW_VAD_FRAME)
            run->floor_at_probe_db = res.noise_floor_db;
        if (res.event == CW_VAD_START) {
            CHECK(!open, "START while a segment is open, frame %zu", f);
            CHECK(res.start_sample >= 0 && res.start_sample <= frame_start, "START at %lld is not in 0..%lld",
                  (long long)res.start_sample, (long long)frame_start);
            if (run->count > 0 && run->count <= MAX_SEGMENTS)
                CHECK(res.start_sample >= run->segments[run->count - 1].end,
                      "segment %d starts at %lld, inside the previous one", run->count,
                      (long long)res.start_sample);
            open = true;
            if (run->count < MAX_SEGMENTS)
                run->segments[run->count].start = res.start_sample;
        } else if (res.event == CW_VAD_END) {
            CHECK(open, "END without a segment, frame %zu", f);
            CHECK(res.end_sample == frame_start + CW_VAD_FRAME, "END must be one past its frame");
            CHECK(res.speech_end_sample <= res.end_sample, "speech must end by the segment's end");
            open = false;
            if (run->count < MAX_SEGMENTS) {
                run->segments[run->count].end = res.end_sample;
                run->segments[run->count].speech_end = res.speech_end_sample;
            }
            run->count++;
        }
        CHECK(res.in_speech == open, "in_speech disagrees with the events at frame %zu", f);
    }
    int64_t stream_end = (int64_t)(frames * CW_VAD_FRAME);
    bool flushed = cw_vad_flush(vad, stream_end, &res);
    CHECK(flushed == open, "flush returned %d with a segment %s", flushed, open ? "open" : "closed");
    if (flushed) {
        CHECK(res.event == CW_VAD_END && res.end_sample == stream_end && !res.in_speech,
              "flush must close at the stream's end");
        if (run->count < MAX_SEGMENTS) {
            run->segments[run->count].end = res.end_sample;
            run->segments[run->count].speech_end = res.speech_end_sample;
        }
        run->count++;
    }
    CHECK(!cw_vad_flush(vad, stream_end, &res) && res.event == CW_VAD_NONE, "a second flush must do nothing");
    cw_vad_destroy(&vad);
    CHECK(vad == NULL, "destroy must NULL the pointer");
}

static bool near(int64_t got, int64_t want)
{
    return llabs((long long)(got - want)) <= TOLERANCE_SAMPLES;
}

/* A segment of true speech [from, to) closed by its hangover. */
static void check_segment(const segment_t *seg, size_t from, size_t to, const char *what)
{
    int64_t want_start = (int64_t)from - PREROLL_SAMPLES;
    if (want_start < 0)
        want_start = 0;
    CHECK(near(seg->start, want_start), "%s: starts at %.3f s, expected %.3f s", what, (double)seg->start / RATE_HZ,
          (double)want_start / RATE_HZ);
    CHECK(near(seg->speech_end, (int64_t)to), "%s: speech ends at %.3f s, expected %.3f s", what,
          (double)seg->speech_end / RATE_HZ, (double)to / RATE_HZ);
    CHECK(near(seg->end, (int64_t)to + HANGOVER_SAMPLES), "%s: ends at %.3f s, expected %.3f s", what,
          (double)seg->end / RATE_HZ, (double)(to + HANGOVER_SAMPLES) / RATE_HZ);
}

static void print_segments(const char *what, const run_t *run)
{
    printf("vad %s: %d segment(s)", what, run->count);
    for (int i = 0; i < run->count && i < MAX_SEGMENTS; i++)
        printf(" [%.3f..%.3f s, speech to %.3f s]", (double)run->segments[i].start / RATE_HZ,
               (double)run->segments[i].end / RATE_HZ, (double)run->segments[i].speech_end / RATE_HZ);
    printf("\n");
}

/* 1 s quiet, 1.5 s talk, 1 s quiet, 0.8 s tone, 2 s quiet. */
static void test_two_segments(void)
{
    size_t n;
    float *x = new_signal(6.3, &n);
    if (!x)
        return;
    add_noise(x, 0, n, QUIET_LINE_DB);
    add_speechlike(x, at_seconds(1.0), at_seconds(2.5), SPEECH_DB);
    add_tone(x, at_seconds(3.5), at_seconds(4.3), 440.0, SPEECH_DB);
    run_t run = {.floor_watch_from = 0, .probe_sample = -1};
    run_vad(&default_params, x, n, &run);
    print_segments("talk + tone", &run);
    CHECK(run.count == 2, "expected 2 segments, got %d", run.count);
    if (run.count == 2) {
        check_segment(&run.segments[0], at_seconds(1.0), at_seconds(2.5), "talk");
        check_segment(&run.segments[1], at_seconds(3.5), at_seconds(4.3), "tone");
    }
    CHECK(run.max_floor_db < QUIET_LINE_DB + FLOOR_TOLERANCE_DB,
          "talk and a short tone must not lift the floor: it reached %.1f dBFS", run.max_floor_db);
    free(x);
}

/* A 30 ms click, wherever it falls on the frame grid, is not speech; a
 * 150 ms burst of the same sound is (so the first check is not vacuous). */
static void test_click_ignored(void)
{
    static const size_t offsets[] = {0, 37, 80, 159};
    for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
        size_t n;
        float *x = new_signal(2.0, &n);
        if (!x)
            return;
        add_noise(x, 0, n, QUIET_LINE_DB);
        size_t click_at = at_seconds(1.0) + offsets[i];
        add_noise(x, click_at, click_at + at_seconds(0.030), -10.0);
        run_t run = {.floor_watch_from = 0, .probe_sample = -1};
        run_vad(&default_params, x, n, &run);
        CHECK(run.count == 0, "a 30 ms click at frame offset %zu opened %d segment(s)", offsets[i], run.count);
        free(x);
    }
    size_t n;
    float *x = new_signal(2.0, &n);
    if (!x)
        return;
    add_noise(x, 0, n, QUIET_LINE_DB);
    add_noise(x, at_seconds(1.0), at_seconds(1.15), -10.0);
    run_t run = {.floor_watch_from = 0, .probe_sample = -1};
    run_vad(&default_params, x, n, &run);
    CHECK(run.count == 1, "a 150 ms burst must open a segment, got %d", run.count);
    free(x);
}

/* A leg that starts in a loud room: 3 s of -35 dBFS noise, then a tone 15 dB
 * above it for 1 s, then the room again. Only the tone is speech. */
static void test_noise_bed(void)
{
    const double bed_db = -35.0;
    size_t n;
    float *x = new_signal(5.0, &n);
    if (!x)
        return;
    add_noise(x, 0, n, bed_db);
    add_tone(x, at_seconds(3.0), at_seconds(4.0), 440.0, bed_db + 15.0);
    run_t run = {.floor_watch_from = 0, .probe_sample = (int64_t)at_seconds(2.9)};
    run_vad(&default_params, x, n, &run);
    print_segments("noise bed + tone 15 dB above", &run);
    CHECK(run.count == 1, "expected only the tone, got %d segments", run.count);
    if (run.count == 1)
        check_segment(&run.segments[0], at_seconds(3.0), at_seconds(4.0), "tone over the bed");
    CHECK(fabs(run.floor_at_probe_db - bed_db) < FLOOR_TOLERANCE_DB, "floor %.1f dBFS over a %.1f dBFS bed",
          run.floor_at_probe_db, bed_db);
    printf("vad noise bed %.0f dBFS: floor %.1f dBFS\n", bed_db, run.floor_at_probe_db);
    free(x);
}

/* The bed appears mid-call (a quiet line, then a noisy room for 5 s): it
 * looks like speech until learnt, which must take at most the 2 s window. */
#define FLOOR_WINDOW_SAMPLES (2 * RATE_HZ)

static void test_noise_bed_learnt(void)
{
    const double bed_db = -35.0;
    size_t n;
    float *x = new_signal(6.0, &n);
    if (!x)
        return;
    add_noise(x, 0, at_seconds(1.0), QUIET_LINE_DB);
    add_noise(x, at_seconds(1.0), n, bed_db);
    run_t run = {.floor_watch_from = 0, .probe_sample = (int64_t)at_seconds(3.5)};
    run_vad(&default_params, x, n, &run);
    print_segments("new noise bed", &run);
    CHECK(run.count == 1, "the new bed may open one segment until learnt, got %d", run.count);
    if (run.count >= 1) {
        int64_t latest_end = (int64_t)at_seconds(1.0) + FLOOR_WINDOW_SAMPLES + HANGOVER_SAMPLES + TOLERANCE_SAMPLES;
        CHECK(run.segments[0].end <= latest_end, "the bed was speech until %.3f s, expected by %.3f s",
              (double)run.segments[0].end / RATE_HZ, (double)latest_end / RATE_HZ);
    }
    CHECK(fabs(run.floor_at_probe_db - bed_db) < FLOOR_TOLERANCE_DB, "floor %.1f dBFS 2.5 s into a %.1f dBFS bed",
          run.floor_at_probe_db, bed_db);
    free(x);
}

/* 8 s of talk: the pauses between words hold the floor at the line noise and
 * keep it one segment. */
static void test_long_talk(void)
{
    size_t n;
    float *x = new_signal(10.0, &n);
    if (!x)
        return;
    add_noise(x, 0, n, QUIET_LINE_DB);
    add_speechlike(x, at_seconds(1.0), at_seconds(9.0), SPEECH_DB);
    run_t run = {.floor_watch_from = (int64_t)at_seconds(1.0), .probe_sample = -1};
    run_vad(&default_params, x, n, &run);
    print_segments("8 s talk", &run);
    CHECK(run.count == 1, "8 s of talk must be one segment, got %d", run.count);
    CHECK(run.max_floor_db < QUIET_LINE_DB + FLOOR_TOLERANCE_DB, "talk dragged the floor up to %.1f dBFS",
          run.max_floor_db);
    printf("vad 8 s talk: highest floor %.1f dBFS over a %.0f dBFS line\n", run.max_floor_db, QUIET_LINE_DB);
    free(x);
}

/* Packet loss filled with zeros inside a noisy bed must not read as the
 * floor dropping, or the bed would turn loud. */
static void test_dropout_ignored(void)
{
    const double bed_db = -35.0;
    size_t n;
    float *x = new_signal(4.0, &n);
    if (!x)
        return;
    add_noise(x, 0, n, bed_db);
    memset(x + at_seconds(2.0), 0, at_seconds(0.1) * sizeof *x);
    run_t run = {.floor_watch_from = 0, .probe_sample = (int64_t)at_seconds(3.0)};
    run_vad(&default_params, x, n, &run);
    CHECK(run.count == 0, "a 100 ms dropout in a bed opened %d segment(s)", run.count);
    CHECK(fabs(run.floor_at_probe_db - bed_db) < FLOOR_TOLERANCE_DB, "floor %.1f dBFS after a dropout",
          run.floor_at_probe_db);
    free(x);
}

/* Speech still going at the end of the stream is closed by the flush; a
 * start close to 0 clamps its preroll, and so does the end of a segment that
 * closed less than a preroll ago (1.0 s here, with the next tone at 1.0 s). */
static void test_flush_and_clamp(void)
{
    size_t n;
    float *x = new_signal(1.5, &n);
    if (!x)
        return;
    add_noise(x, 0, n, QUIET_LINE_DB);
    add_tone(x, at_seconds(0.05), at_seconds(0.5), 440.0, SPEECH_DB);
    add_tone(x, at_seconds(1.0), n, 440.0, SPEECH_DB);
    run_t run = {.floor_watch_from = 0, .probe_sample = -1};
    run_vad(&default_params, x, n, &run);
    print_segments("early tone + tone to the end", &run);
    CHECK(run.count == 2, "expected 2 segments, got %d", run.count);
    if (run.count == 2) {
        CHECK(run.segments[0].start == 0, "preroll before 0 must clamp to 0, got %lld",
              (long long)run.segments[0].start);
        CHECK(run.segments[1].start == run.segments[0].end, "preroll must stop at the previous end %lld, got %lld",
              (long long)run.segments[0].end, (long long)run.segments[1].start);
        CHECK(run.segments[1].end == (int64_t)n, "flush must close at the stream's end, got %lld",
              (long long)run.segments[1].end);
        CHECK(near(run.segments[1].speech_end, (int64_t)n), "speech ran to the end, got %lld",
              (long long)run.segments[1].speech_end);
    }
    free(x);
}

/* After reset the floor learnt from a loud bed is gone: a quiet frame sets it. */
static void test_reset(void)
{
    cw_error_t err;
    cw_vad_t *vad = cw_vad_new(&default_params, &err);
    CHECK(vad != NULL, "cw_vad_new: %s", err.msg);
    if (!vad)
        return;
    float frame[CW_VAD_FRAME];
    cw_vad_result_t res;
    int64_t t = 0;
    for (int f = 0; f < 100; f++, t += CW_VAD_FRAME) {
        memset(frame, 0, sizeof frame);
        add_noise(frame, 0, CW_VAD_FRAME, -30.0);
        cw_vad_process(vad, frame, t, &res);
    }
    CHECK(fabs(res.noise_floor_db + 30.0) < FLOOR_TOLERANCE_DB, "floor %.1f over a -30 dBFS bed", res.noise_floor_db);
    cw_vad_reset(vad);
    memset(frame, 0, sizeof frame);
    add_noise(frame, 0, CW_VAD_FRAME, QUIET_LINE_DB);
    cw_vad_process(vad, frame, 0, &res);
    CHECK(fabs(res.noise_floor_db - QUIET_LINE_DB) < FLOOR_TOLERANCE_DB && !res.in_speech,
          "after reset the first frame must seed the floor: %.1f", res.noise_floor_db);
    cw_vad_destroy(&vad);
    cw_vad_destroy(&vad);
    cw_vad_destroy(NULL);
}

static void expect_rejected(const cw_vad_params_t *p, const char *name, const char *range)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_vad_t *vad = cw_vad_new(p, &err);
    CHECK(vad == NULL, "bad %s must be rejected", name);
    CHECK(err.code == CW_ERR_INVALID && strstr(err.msg, name) && strstr(err.msg, range),
          "message must name %s and its range %s: \"%s\"", name, range, err.msg);
    cw_vad_destroy(&vad);
}

static void test_params(void)
{
    cw_vad_params_t p = default_params;
    p.onset_ms = 9;
    expect_rejected(&p, "onset_ms", "10..1000");
    p.onset_ms = 1001;
    expect_rejected(&p, "onset_ms", "10..1000");
    p = default_params;
    p.hangover_ms = 9;
    expect_rejected(&p, "hangover_ms", "10..10000");
    p.hangover_ms = 10001;
    expect_rejected(&p, "hangover_ms", "10..10000");
    p = default_params;
    p.preroll_ms = -1;
    expect_rejected(&p, "preroll_ms", "0..1000");
    p.preroll_ms = 1001;
    expect_rejected(&p, "preroll_ms", "0..1000");
    p = default_params;
    p.threshold_db = -121.0;
    expect_rejected(&p, "threshold_db", "-120..0");
    p.threshold_db = 0.5;
    expect_rejected(&p, "threshold_db", "-120..0");
    p.threshold_db = NAN;
    expect_rejected(&p, "threshold_db", "-120..0");
    p = default_params;
    p.margin_db = -0.1;
    expect_rejected(&p, "margin_db", "0..60");
    p.margin_db = 61.0;
    expect_rejected(&p, "margin_db", "0..60");

    static const cw_vad_params_t edges[] = {
        {.threshold_db = -120.0, .margin_db = 0.0, .onset_ms = 10, .hangover_ms = 10, .preroll_ms = 0},
        {.threshold_db = 0.0, .margin_db = 60.0, .onset_ms = 1000, .hangover_ms = 10000, .preroll_ms = 1000},
        {.threshold_db = -45.0, .margin_db = 12.0, .onset_ms = 25, .hangover_ms = 333, .preroll_ms = 7},
    };
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        cw_error_t err;
        cw_vad_t *vad = cw_vad_new(&edges[i], &err);
        CHECK(vad != NULL, "edge parameters %zu must be accepted: %s", i, err.msg);
        cw_vad_destroy(&vad);
    }
}

/* "go forward ten meters", 16 kHz 16-bit LE mono, from pocketsphinx-testdata. */
#define GOFORWARD_PATH "/usr/share/pocketsphinx/test/data/goforward.raw"
#define GOFORWARD_MAX_SAMPLES (10 * RATE_HZ)
#define BACKGROUND_S 0.3 /* the recording opens with this much room noise at least */
#define WORD_ABOVE_BACKGROUND_DB 20.0

static void test_real_speech(void)
{
    FILE *f = fopen(GOFORWARD_PATH, "rb");
    if (!f) {
        printf("vad real speech: %s not installed, skipped\n", GOFORWARD_PATH);
        return;
    }
    static int16_t pcm[GOFORWARD_MAX_SAMPLES];
    static float x[GOFORWARD_MAX_SAMPLES];
    size_t n = fread(pcm, sizeof pcm[0], GOFORWARD_MAX_SAMPLES, f);
    fclose(f);
    CHECK(n > at_seconds(1.0), "%s: only %zu samples", GOFORWARD_PATH, n);
    for (size_t i = 0; i < n; i++) {
        const unsigned char *b = (const unsigned char *)&pcm[i];
        x[i] = (float)(int16_t)(b[0] | b[1] << 8) / 32768.0f; /* little-endian on any host */
    }

    /* Where the words are, by a rule independent of the VAD: frames 20 dB
     * over the mean level of the opening room noise. */
    size_t frames = n / CW_VAD_FRAME;
    size_t background_frames = at_seconds(BACKGROUND_S) / CW_VAD_FRAME;
    double background_db = 0.0;
    double levels[GOFORWARD_MAX_SAMPLES / CW_VAD_FRAME];
    for (size_t fr = 0; fr < frames; fr++) {
        double sum = 0.0;
        for (size_t i = 0; i < CW_VAD_FRAME; i++)
            sum += (double)x[fr * CW_VAD_FRAME + i] * x[fr * CW_VAD_FRAME + i];
        levels[fr] = 10.0 * log10(sum / CW_VAD_FRAME + 1e-12);
        if (fr < background_frames)
            background_db += levels[fr] / (double)background_frames;
    }
    int64_t words_from = -1;
    int64_t words_to = -1;
    for (size_t fr = 0; fr < frames; fr++) {
        if (levels[fr] > background_db + WORD_ABOVE_BACKGROUND_DB) {
            if (words_from < 0)
                words_from = (int64_t)(fr * CW_VAD_FRAME);
            words_to = (int64_t)((fr + 1) * CW_VAD_FRAME);
        }
    }

    run_t run = {.floor_watch_from = 0, .probe_sample = -1};
    run_vad(&default_params, x, n, &run);
    print_segments("goforward.raw", &run);
    printf("vad goforward.raw: words %.3f..%.3f s over %.1f dBFS room noise\n", (double)words_from / RATE_HZ,
           (double)words_to / RATE_HZ, background_db);
    CHECK(run.count == 1, "\"go forward ten meters\" must be one segment, got %d", run.count);
    if (run.count == 1) {
        CHECK(run.segments[0].start <= words_from, "segment starts at %.3f s, after the words at %.3f s",
              (double)run.segments[0].start / RATE_HZ, (double)words_from / RATE_HZ);
        CHECK(run.segments[0].speech_end >= words_to, "speech ends at %.3f s, before the words end at %.3f s",
              (double)run.segments[0].speech_end / RATE_HZ, (double)words_to / RATE_HZ);
    }
}

int main(void)
{
    test_two_segments();
    test_click_ignored();
    test_noise_bed();
    test_noise_bed_learnt();
    test_long_talk();
    test_dropout_ignored();
    test_flush_and_clamp();
    test_reset();
    test_params();
    test_real_speech();
    return check_summary("vad");
}
