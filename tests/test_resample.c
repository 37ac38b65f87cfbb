/* test_resample.c - the streaming resampler: length, pitch, level, chunking,
 * anti-aliasing, bad arguments, and what it costs per sample. */
#include "callwatch/resample.h"

#include "check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PI 3.14159265358979323846

#define OUT_RATE_HZ 16000
#define SIGNAL_SECONDS 2.0
#define SINE_AMPLITUDE 0.5

/* Deliberately uneven, including a tiny chunk and empty ones, so every
 * boundary lands somewhere else in the filter's history. */
static const size_t chunk_pattern[] = {317, 1024, 7, 0, 1, 4000, 93};
#define CHUNK_PATTERN_LEN (sizeof chunk_pattern / sizeof chunk_pattern[0])
#define MAX_CHUNK 4096

/* The filter's start-up and tail make the edges unrepresentative; measure
 * pitch and level on the middle only. */
#define EDGE_SECONDS 0.1

/* Length may differ from in * ratio by the rounding of the last position. */
#define LENGTH_TOLERANCE_FRAMES 3
#define PITCH_TOLERANCE 0.01
#define LEVEL_TOLERANCE 0.05
/* Chunked and one-shot runs do the same arithmetic in the same order; allow
 * float rounding only. */
#define CHUNKING_TOLERANCE 1e-6f
#define ALIAS_REJECTION_DB 40.0
#define TELEPHONE_BAND_RIPPLE_DB 0.5

typedef struct signal {
    float *samples;
    size_t n;
} signal_t;

static signal_t make_sine(int rate_hz, double freq_hz, double seconds, double amplitude)
{
    signal_t s = {NULL, (size_t)lround(seconds * rate_hz)};
    s.samples = malloc(s.n * sizeof *s.samples);
    if (!s.samples) {
        s.n = 0;
        return s;
    }
    for (size_t i = 0; i < s.n; i++)
        s.samples[i] = (float)(amplitude * sin(2.0 * PI * freq_hz * (double)i / rate_hz));
    return s;
}

/* Runs `in` through a new resampler, in chunk_pattern chunks or in one call,
 * then flushes. Each call gets exactly cw_resampler_max_out() of room, so an
 * underestimated bound shows up as an error. Returns an empty signal on failure. */
static signal_t convert(int in_rate_hz, int out_rate_hz, const signal_t *in, int chunked)
{
    signal_t out = {NULL, 0};
    cw_error_t err;
    cw_error_clear(&err);
    size_t max_chunk = chunked ? MAX_CHUNK : in->n;
    cw_resampler_t *rs = cw_resampler_new(in_rate_hz, out_rate_hz, max_chunk, &err);
    CHECK(rs != NULL, "%d -> %d: %s", in_rate_hz, out_rate_hz, err.msg);
    if (!rs)
        return out;

    size_t total_cap = cw_resampler_max_out(rs, in->n) * 2 + cw_resampler_max_out(rs, 0) * CHUNK_PATTERN_LEN;
    out.samples = malloc(total_cap * sizeof *out.samples);
    size_t done = 0;
    size_t step = 0;
    int ok = out.samples != NULL;
    while (ok) {
        int last = done == in->n;
        size_t n = last ? 0 : chunked ? chunk_pattern[step++ % CHUNK_PATTERN_LEN] : in->n;
        if (n > in->n - done)
            n = in->n - done;
        size_t room = cw_resampler_max_out(rs, n);
        if (out.n + room > total_cap) {
            CHECK(0, "%d -> %d: test buffer too small", in_rate_hz, out_rate_hz);
            ok = 0;
            break;
        }
        long got = cw_resampler_process(rs, last ? NULL : in->samples + done, n, out.samples + out.n, room, last,
                                        &err);
        CHECK(got >= 0 && (size_t)got <= room, "%d -> %d: chunk of %zu gave %ld (room %zu): %s", in_rate_hz,
              out_rate_hz, n, got, room, err.msg);
        if (got < 0) {
            ok = 0;
            break;
        }
        out.n += (size_t)got;
        done += n;
        if (last)
            break;
    }
    cw_resampler_destroy(&rs);
    if (!ok) {
        free(out.samples);
        out.samples = NULL;
        out.n = 0;
    }
    return out;
}

static double rms(const float *x, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)x[i] * x[i];
    return n ? sqrt(sum / (double)n) : 0.0;
}

/* Frequency from upward zero crossings, interpolated between samples: the
 * number of whole periods between the first and last crossing over the time
 * they span. Exact enough for a clean tone (far better than 0.1 %). */
static double zero_crossing_hz(const float *x, size_t n, int rate_hz)
{
    double first = -1.0;
    double last = -1.0;
    long periods = -1;
    for (size_t i = 1; i < n; i++) {
        if (x[i - 1] < 0.0f && x[i] >= 0.0f) {
            double t = (double)(i - 1) + (double)x[i - 1] / ((double)x[i - 1] - (double)x[i]);
            if (first < 0.0)
                first = t;
            last = t;
            periods++;
        }
    }
    if (periods < 1)
        return 0.0;
    return (double)periods * rate_hz / (last - first);
}

static void test_tone(int in_rate_hz, double freq_hz)
{
    signal_t in = make_sine(in_rate_hz, freq_hz, SIGNAL_SECONDS, SINE_AMPLITUDE);
    CHECK(in.samples != NULL, "out of memory");
    if (!in.samples)
        return;
    signal_t chunked = convert(in_rate_hz, OUT_RATE_HZ, &in, 1);
    signal_t whole = convert(in_rate_hz, OUT_RATE_HZ, &in, 0);
    if (chunked.samples && whole.samples) {
        double expected_len = (double)in.n * OUT_RATE_HZ / in_rate_hz;
        CHECK(fabs((double)chunked.n - expected_len) <= LENGTH_TOLERANCE_FRAMES,
              "%d Hz %.0f Hz tone: %zu frames out, expected %.0f", in_rate_hz, freq_hz, chunked.n, expected_len);

        size_t edge = (size_t)(EDGE_SECONDS * OUT_RATE_HZ);
        const float *middle = chunked.samples + edge;
        size_t middle_n = chunked.n > 2 * edge ? chunked.n - 2 * edge : 0;
        double hz = zero_crossing_hz(middle, middle_n, OUT_RATE_HZ);
        CHECK(fabs(hz - freq_hz) <= PITCH_TOLERANCE * freq_hz, "%d Hz in: tone measured %.3f Hz, expected %.0f Hz",
              in_rate_hz, hz, freq_hz);
        double level = rms(middle, middle_n);
        double expected_level = SINE_AMPLITUDE / sqrt(2.0);
        CHECK(fabs(level - expected_level) <= LEVEL_TOLERANCE * expected_level,
              "%d Hz in, %.0f Hz tone: RMS %.4f, expected %.4f", in_rate_hz, freq_hz, level, expected_level);

        CHECK(chunked.n == whole.n, "%d Hz in: chunked gave %zu frames, one-shot %zu", in_rate_hz, chunked.n, whole.n);
        float worst = 0.0f;
        size_t common = chunked.n < whole.n ? chunked.n : whole.n;
        for (size_t i = 0; i < common; i++) {
            float d = fabsf(chunked.samples[i] - whole.samples[i]);
            if (d > worst)
                worst = d;
        }
        CHECK(worst <= CHUNKING_TOLERANCE, "%d Hz in: chunked differs from one-shot by up to %g", in_rate_hz,
              (double)worst);
        printf("resample %5d -> %d Hz, %4.0f Hz tone: %zu frames (expected %.0f), %.3f Hz, RMS %.4f, "
               "chunked vs one-shot max diff %g\n",
               in_rate_hz, OUT_RATE_HZ, freq_hz, chunked.n, expected_len, hz, level, (double)worst);
    }
    free(chunked.samples);
    free(whole.samples);
    free(in.samples);
}

/* 16 kHz -> 8 kHz: a 6 kHz tone is above the new 4 kHz Nyquist and would fold
 * to 2 kHz if the filter let it through. */
static void test_downsampling_rejects_alias(void)
{
    const int in_rate_hz = 16000;
    const int out_rate_hz = 8000;
    const double tone_hz = 6000.0;
    signal_t in = make_sine(in_rate_hz, tone_hz, SIGNAL_SECONDS, SINE_AMPLITUDE);
    CHECK(in.samples != NULL, "out of memory");
    if (!in.samples)
        return;
    signal_t out = convert(in_rate_hz, out_rate_hz, &in, 1);
    if (out.samples) {
        size_t edge = (size_t)(EDGE_SECONDS * out_rate_hz);
        double level_in = rms(in.samples, in.n);
        double level_out = rms(out.samples + edge, out.n > 2 * edge ? out.n - 2 * edge : 0);
        double rejection_db = 20.0 * log10(level_in / (level_out > 0.0 ? level_out : 1e-12));
        CHECK(rejection_db > ALIAS_REJECTION_DB, "6 kHz tone at 16k -> 8k only %.1f dB down", rejection_db);
        printf("resample 16000 -> 8000 Hz: 6 kHz tone %.1f dB down\n", rejection_db);
    }
    free(out.samples);
    free(in.samples);
}

/* 8 kHz -> 16 kHz must keep the whole telephone band (300..3400 Hz): a
 * narrower filter would dull the consonants the recogniser relies on. */
static void test_telephone_band_kept(void)
{
    const double band_top_hz = 3400.0;
    signal_t in = make_sine(8000, band_top_hz, SIGNAL_SECONDS, SINE_AMPLITUDE);
    CHECK(in.samples != NULL, "out of memory");
    if (!in.samples)
        return;
    signal_t out = convert(8000, OUT_RATE_HZ, &in, 1);
    if (out.samples) {
        size_t edge = (size_t)(EDGE_SECONDS * OUT_RATE_HZ);
        double gain_db = 20.0 * log10(rms(out.samples + edge, out.n - 2 * edge) / (SINE_AMPLITUDE / sqrt(2.0)));
        CHECK(fabs(gain_db) < TELEPHONE_BAND_RIPPLE_DB, "3.4 kHz at 8k -> 16k changed by %.2f dB", gain_db);
        printf("resample  8000 -> 16000 Hz: 3.4 kHz tone %+.2f dB\n", gain_db);
    }
    free(out.samples);
    free(in.samples);
}

static void test_equal_rates_copy(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_resampler_t *rs = cw_resampler_new(16000, 16000, 8, &err);
    CHECK(rs != NULL, "16000 -> 16000: %s", err.msg);
    if (!rs)
        return;
    const float in[5] = {0.0f, 0.25f, -0.5f, 1.0f, -1.0f};
    float out[8] = {0};
    CHECK(cw_resampler_max_out(rs, 5) == 5, "equal rates: max_out(5) = %zu", cw_resampler_max_out(rs, 5));
    long got = cw_resampler_process(rs, in, 5, out, 8, 0, &err);
    CHECK(got == 5 && memcmp(in, out, sizeof in) == 0, "equal rates must copy, got %ld", got);
    got = cw_resampler_process(rs, NULL, 0, out, 8, 1, &err);
    CHECK(got == 0, "equal rates: flush gave %ld", got);
    got = cw_resampler_process(rs, in, 5, out, 4, 0, &err);
    CHECK(got < 0 && err.code == CW_ERR_INVALID, "equal rates: too little room must fail, got %ld", got);
    cw_resampler_destroy(&rs);
    CHECK(rs == NULL, "destroy must NULL the pointer");
    cw_resampler_destroy(&rs);
}

static void test_empty_chunks_and_limits(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_resampler_t *rs = cw_resampler_new(8000, 16000, 160, &err);
    CHECK(rs != NULL, "8000 -> 16000: %s", err.msg);
    if (!rs)
        return;
    float out[1024];
    CHECK(cw_resampler_max_out(rs, 160) <= sizeof out / sizeof out[0], "test buffer too small");
    long got = cw_resampler_process(rs, NULL, 0, out, cw_resampler_max_out(rs, 0), 0, &err);
    CHECK(got == 0, "an empty chunk gave %ld: %s", got, err.msg);
    float in[161] = {0};
    cw_error_clear(&err);
    got = cw_resampler_process(rs, in, 161, out, sizeof out / sizeof out[0], 0, &err);
    CHECK(got < 0 && err.code == CW_ERR_INVALID && strstr(err.msg, "161"),
          "a chunk over max_in_frames must fail naming its size, got %ld: %s", got, err.msg);
    /* A flush with nothing ever pushed gives nothing, or the filter's zeros. */
    got = cw_resampler_process(rs, NULL, 0, out, cw_resampler_max_out(rs, 0), 1, &err);
    CHECK(got >= 0, "flushing an empty stream failed: %s", err.msg);
    cw_resampler_destroy(&rs);
}

static void test_bad_rates(void)
{
    static const int bad[][2] = {
        {999, 16000}, {16000, 999}, {0, 16000}, {-8000, 16000}, {384001, 16000}, {16000, 384001},
        /* Both in range, but a ratio of 384 is more than libsamplerate does. */
        {1000, 384000},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cw_error_t err;
        cw_error_clear(&err);
        cw_resampler_t *rs = cw_resampler_new(bad[i][0], bad[i][1], 160, &err);
        char in_text[32];
        char out_text[32];
        snprintf(in_text, sizeof in_text, "%d", bad[i][0]);
        snprintf(out_text, sizeof out_text, "%d", bad[i][1]);
        CHECK(rs == NULL, "%d -> %d Hz must be rejected", bad[i][0], bad[i][1]);
        CHECK(err.code == CW_ERR_INVALID && strstr(err.msg, in_text) && strstr(err.msg, out_text),
              "%d -> %d Hz: message must name both rates: \"%s\"", bad[i][0], bad[i][1], err.msg);
        cw_resampler_destroy(&rs);
    }
    cw_error_t err;
    cw_error_clear(&err);
    cw_resampler_t *rs = cw_resampler_new(1000, 256000, 160, &err);
    CHECK(rs != NULL, "1000 -> 256000 Hz (ratio 256) must be accepted: %s", err.msg);
    cw_resampler_destroy(&rs);
    rs = cw_resampler_new(384000, 1000, 160, &err);
    CHECK(rs == NULL, "384000 -> 1000 Hz (ratio 1/384) must be rejected");
    rs = cw_resampler_new(8000, 16000, 0, &err);
    CHECK(rs == NULL && strstr(err.msg, "max_in_frames"), "max_in_frames 0 must be rejected: %s", err.msg);
}

static double seconds_now(void)
{
    struct timespec ts;
    timespec_get(&ts, TIME_UTC);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Not a pass/fail check (timing varies by machine and under sanitizers):
 * prints the cost so a change of converter quality can be judged against
 * the ~100 legs one process serves. */
static void report_cost(int in_rate_hz)
{
    const double seconds = 10.0;
    const size_t push_frames = (size_t)in_rate_hz / 50; /* 20 ms, as a source delivers */
    signal_t in = make_sine(in_rate_hz, 1000.0, seconds, SINE_AMPLITUDE);
    cw_error_t err;
    cw_resampler_t *rs = cw_resampler_new(in_rate_hz, OUT_RATE_HZ, push_frames, &err);
    float *out = rs ? malloc(cw_resampler_max_out(rs, push_frames) * sizeof *out) : NULL;
    if (!in.samples || !rs || !out) {
        CHECK(0, "cost run setup failed");
    } else {
        size_t produced = 0;
        double start = seconds_now();
        for (size_t done = 0; done < in.n; done += push_frames) {
            size_t n = in.n - done < push_frames ? in.n - done : push_frames;
            long got = cw_resampler_process(rs, in.samples + done, n, out, cw_resampler_max_out(rs, n), 0, &err);
            produced += got > 0 ? (size_t)got : 0;
        }
        double elapsed = seconds_now() - start;
        double ns_per_in = elapsed * 1e9 / (double)in.n;
        printf("resample cost %5d -> %d Hz: %.1f ns per input sample, %.1f ns per output sample, "
               "%.3f%% of a core per leg\n",
               in_rate_hz, OUT_RATE_HZ, ns_per_in, elapsed * 1e9 / (double)(produced ? produced : 1),
               100.0 * elapsed / seconds);
    }
    free(out);
    cw_resampler_destroy(&rs);
    free(in.samples);
}

int main(void)
{
    static const int in_rates[] = {8000, 16000, 44100, 48000};
    for (size_t i = 0; i < sizeof in_rates / sizeof in_rates[0]; i++) {
        test_tone(in_rates[i], 1000.0);
        test_tone(in_rates[i], 440.0);
    }
    test_downsampling_rejects_alias();
    test_telephone_band_kept();
    test_equal_rates_copy();
    test_empty_chunks_and_limits();
    test_bad_rates();
    report_cost(8000);
    report_cost(48000);
    return check_summary("resample");
}
