/* test_source_file.c - the libsndfile source: formats, leg mapping, errors,
 * real-time pacing. Every fixture is generated into a mkdtemp directory. */
#include "callwatch/source.h"
#include "check.h"

#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define AGENT_HZ 440.0
#define CUSTOMER_HZ 1000.0
#define PULL_CAP 1000

static char dir[] = "/tmp/cw_test_source_file_XXXXXX";

static void path_in_dir(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", dir, name);
}

/* Writes `frames` frames; channel c carries a sine of tone[c] Hz. */
static void write_tones(const char *path, int format, int rate, int channels, const double *tone, int frames)
{
    SF_INFO info = {.samplerate = rate, .channels = channels, .format = format};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) {
        fprintf(stderr, "cannot write %s: %s\n", path, sf_strerror(NULL));
        exit(1);
    }
    float *buf = malloc(sizeof(float) * (size_t)frames * (size_t)channels);
    for (int i = 0; i < frames; i++)
        for (int c = 0; c < channels; c++)
            buf[i * channels + c] = 0.5f * (float)sin(2 * M_PI * tone[c] * i / rate);
    sf_writef_float(sf, buf, frames);
    sf_close(sf);
    free(buf);
}

/* Frequency estimate from zero crossings: good to a few Hz for a pure tone. */
static double tone_hz(const float *x, size_t n, int rate)
{
    size_t crossings = 0;
    for (size_t i = 1; i < n; i++)
        if ((x[i - 1] < 0) != (x[i] < 0))
            crossings++;
    return (double)crossings / 2.0 / ((double)n / rate);
}

/* Reads the whole source; returns total frames per leg in got[] and the
 * samples in all[leg] (caller frees). Returns the last pull status. */
static cw_pull_status drain(cw_source_t *src, float *all[CW_LEG_COUNT], size_t got[CW_LEG_COUNT], cw_error_t *err)
{
    float a[PULL_CAP], b[PULL_CAP];
    float *out[CW_LEG_COUNT] = {a, b};
    size_t cap_all = 1 << 20;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        all[leg] = malloc(sizeof(float) * cap_all);
        got[leg] = 0;
    }
    cw_pull_status st;
    do {
        size_t n[CW_LEG_COUNT];
        st = cw_source_pull(src, out, PULL_CAP, n, err);
        for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
            if (got[leg] + n[leg] <= cap_all)
                memcpy(all[leg] + got[leg], out[leg], sizeof(float) * n[leg]);
            got[leg] += n[leg];
        }
    } while (st == CW_PULL_OK);
    return st;
}

static cw_source_t *open_file(const char *path, int agent_ch, int customer_ch, int mono_leg, bool realtime,
                              cw_error_t *err)
{
    cw_file_source_opts_t o = {.path = path, .agent_channel = agent_ch, .customer_channel = customer_ch,
                               .mono_leg = mono_leg, .realtime = realtime};
    cw_error_clear(err);
    return cw_source_file_new(&o, err);
}

static void test_stereo_ulaw(void)
{
    char path[256];
    path_in_dir(path, sizeof path, "call.wav");
    double tones[2] = {AGENT_HZ, CUSTOMER_HZ};
    write_tones(path, SF_FORMAT_WAV | SF_FORMAT_ULAW, 8000, 2, tones, 16000);
    cw_error_t err;
    cw_source_t *src = open_file(path, 0, 1, -1, false, &err);
    CHECK(src != NULL, "open: %s", err.msg);
    if (!src)
        return;
    const cw_source_info_t *info = cw_source_info(src);
    CHECK(info->has_leg[CW_LEG_AGENT] && info->has_leg[CW_LEG_CUSTOMER], "both legs");
    CHECK(info->rate_hz[0] == 8000 && info->rate_hz[1] == 8000, "rate %d", info->rate_hz[0]);
    CHECK(fabs(info->duration_s - 2.0) < 1e-9, "duration %f", info->duration_s);
    CHECK(strcmp(info->description, "call.wav (WAV u-law, 8000 Hz, 2 ch, 2.0 s)") == 0, "description '%s'",
          info->description);
    float *all[2];
    size_t got[2];
    cw_pull_status st = drain(src, all, got, &err);
    CHECK(st == CW_PULL_EOF, "eof, got %d %s", st, err.msg);
    CHECK(got[0] == 16000 && got[1] == 16000, "frames %zu %zu", got[0], got[1]);
    double fa = tone_hz(all[0], got[0], 8000), fc = tone_hz(all[1], got[1], 8000);
    CHECK(fabs(fa - AGENT_HZ) < 5, "agent leg %f Hz", fa);
    CHECK(fabs(fc - CUSTOMER_HZ) < 5, "customer leg %f Hz", fc);
    cw_source_stats_t stats;
    cw_source_get_stats(src, &stats);
    CHECK(stats.frames_delivered[0] == 16000 && stats.frames_dropped[0] == 0, "stats %llu",
          (unsigned long long)stats.frames_delivered[0]);
    size_t n[2];
    float a[4], b[4];
    float *out[2] = {a, b};
    CHECK(cw_source_pull(src, out, 4, n, &err) == CW_PULL_EOF && n[0] == 0, "EOF stays EOF");
    free(all[0]);
    free(all[1]);
    cw_source_destroy(&src);
    CHECK(src == NULL, "destroy NULLs");

    /* Swapped mapping. */
    src = open_file(path, 1, 0, -1, false, &err);
    CHECK(src != NULL, "open swapped: %s", err.msg);
    if (!src)
        return;
    drain(src, all, got, &err);
    fa = tone_hz(all[0], got[0], 8000);
    fc = tone_hz(all[1], got[1], 8000);
    CHECK(fabs(fa - CUSTOMER_HZ) < 5 && fabs(fc - AGENT_HZ) < 5, "swapped: agent %f customer %f", fa, fc);
    free(all[0]);
    free(all[1]);
    cw_source_destroy(&src);
}

static void test_formats(void)
{
    struct {
        const char *name;
        int format, rate, channels, frames, mono_leg;
        const char *desc;
    } cases[] = {
        {"wide.flac", SF_FORMAT_FLAC | SF_FORMAT_PCM_16, 48000, 2, 48000 * 3 / 2, -1,
         "wide.flac (FLAC 16-bit PCM, 48000 Hz, 2 ch, 1.5 s)"},
        {"mono.wav", SF_FORMAT_WAV | SF_FORMAT_PCM_16, 44100, 1, 44100, CW_LEG_CUSTOMER,
         "mono.wav (WAV 16-bit PCM, 44100 Hz, 1 ch, 1.0 s)"},
        {"alaw.wav", SF_FORMAT_WAV | SF_FORMAT_ALAW, 8000, 2, 12345, -1,
         "alaw.wav (WAV a-law, 8000 Hz, 2 ch, 1.5 s)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[256];
        path_in_dir(path, sizeof path, cases[i].name);
        double tones[2] = {AGENT_HZ, CUSTOMER_HZ};
        write_tones(path, cases[i].format, cases[i].rate, cases[i].channels, tones, cases[i].frames);
        cw_error_t err;
        cw_source_t *src = open_file(path, 0, 1, cases[i].mono_leg, false, &err);
        CHECK(src != NULL, "%s: %s", cases[i].name, err.msg);
        if (!src)
            continue;
        const cw_source_info_t *info = cw_source_info(src);
        CHECK(strcmp(info->description, cases[i].desc) == 0, "description '%s'", info->description);
        float *all[2];
        size_t got[2];
        CHECK(drain(src, all, got, &err) == CW_PULL_EOF, "%s eof: %s", cases[i].name, err.msg);
        for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
            bool present = cases[i].channels == 2 || leg == cases[i].mono_leg;
            CHECK(info->has_leg[leg] == present, "%s has_leg[%d]", cases[i].name, leg);
            CHECK(info->rate_hz[leg] == (present ? cases[i].rate : 0), "%s rate %d", cases[i].name,
                  info->rate_hz[leg]);
            CHECK(got[leg] == (present ? (size_t)cases[i].frames : 0), "%s leg %d frames %zu", cases[i].name,
                  leg, got[leg]);
        }
        int leg = cases[i].channels == 1 ? cases[i].mono_leg : CW_LEG_AGENT;
        double f = tone_hz(all[leg], got[leg], cases[i].rate);
        CHECK(fabs(f - AGENT_HZ) < 5, "%s tone %f", cases[i].name, f);
        free(all[0]);
        free(all[1]);
        cw_source_destroy(&src);
    }
}

static void expect_error(const char *path, int agent_ch, int customer_ch, int mono_leg, int code,
                         const char *needle1, const char *needle2)
{
    cw_error_t err;
    cw_source_t *src = open_file(path, agent_ch, customer_ch, mono_leg, false, &err);
    CHECK(src == NULL, "%s should fail", path);
    cw_source_destroy(&src);
    CHECK(err.code == code, "%s: code %s, want %s (%s)", path, cw_status_name(err.code), cw_status_name(code),
          err.msg);
    CHECK(strstr(err.msg, path) != NULL, "message names the path: %s", err.msg);
    CHECK(strstr(err.msg, needle1) != NULL, "'%s' in: %s", needle1, err.msg);
    if (needle2)
        CHECK(strstr(err.msg, needle2) != NULL, "'%s' in: %s", needle2, err.msg);
}

static void test_errors(void)
{
    char path[256];
    double tones[2] = {AGENT_HZ, CUSTOMER_HZ};

    path_in_dir(path, sizeof path, "missing.wav");
    expect_error(path, 0, 1, -1, CW_ERR_NOT_FOUND, "No such file", NULL);

    path_in_dir(path, sizeof path, "empty.wav");
    FILE *f = fopen(path, "w");
    fclose(f);
    expect_error(path, 0, 1, -1, CW_ERR_FORMAT, "empty", NULL);

    path_in_dir(path, sizeof path, "notes.wav");
    f = fopen(path, "w");
    fputs("this is a text file, not a recording\n", f);
    fclose(f);
    expect_error(path, 0, 1, -1, CW_ERR_FORMAT, "not an audio file", "ormat");

    path_in_dir(path, sizeof path, "zero.wav");
    write_tones(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 2, tones, 0);
    expect_error(path, 0, 1, -1, CW_ERR_FORMAT, "0 frames", NULL);

    path_in_dir(path, sizeof path, "mono8k.wav");
    write_tones(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 1, tones, 800);
    expect_error(path, 0, 1, -1, CW_ERR_INVALID, "is mono: say which leg it is with --leg agent|customer", NULL);

    path_in_dir(path, sizeof path, "stereo.wav");
    write_tones(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 2, tones, 800);
    expect_error(path, 0, 5, -1, CW_ERR_INVALID, "customer channel 5", "has 2 channels");
    expect_error(path, 5, 1, -1, CW_ERR_INVALID, "agent channel 5", "has 2 channels");
    expect_error(path, 1, 1, -1, CW_ERR_INVALID, "must differ", NULL);

    path_in_dir(path, sizeof path, "wide.wav");
    double many[10] = {100, 200, 300, 400, 500, 600, 700, 800, 900, 1000};
    write_tones(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 10, many, 800);
    expect_error(path, 0, 1, -1, CW_ERR_FORMAT, "10 channels", "at most 8");

    /* A WAV cut in the middle of its data: rejected at open, with the counts. */
    path_in_dir(path, sizeof path, "cut.wav");
    write_tones(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, 8000, 2, tones, 8000);
    CHECK(truncate(path, 44 + 4 * 3000) == 0, "truncate");
    expect_error(path, 0, 1, -1, CW_ERR_FORMAT, "truncated", "header declares 8000 frames, the file holds 3000");
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_realtime(void)
{
    char path[256];
    path_in_dir(path, sizeof path, "paced.wav");
    double tones[2] = {AGENT_HZ, CUSTOMER_HZ};
    const int rate = 8000;
    write_tones(path, SF_FORMAT_WAV | SF_FORMAT_PCM_16, rate, 2, tones, rate);
    cw_error_t err;
    cw_source_t *src = open_file(path, 0, 1, -1, true, &err);
    CHECK(src != NULL, "open: %s", err.msg);
    if (!src)
        return;
    static float a[8000], b[8000];
    float *out[2] = {a, b};
    size_t n[2], total = 0;
    cw_pull_status st = cw_source_pull(src, out, 8000, n, &err);
    double t0 = now_s();
    total += n[0];
    CHECK(st == CW_PULL_OK && n[0] < 400, "first pull is nearly empty: %zu", n[0]);
    usleep(300000);
    st = cw_source_pull(src, out, 8000, n, &err);
    total += n[0];
    CHECK(st == CW_PULL_OK, "status %d", st);
    CHECK(total >= (size_t)(0.15 * rate) && total <= (size_t)(0.6 * rate), "after 0.3 s: %zu frames", total);
    CHECK(n[0] == n[1], "legs together");
    while (st == CW_PULL_OK) {
        usleep(20000);
        st = cw_source_pull(src, out, 8000, n, &err);
        total += n[0];
    }
    double took = now_s() - t0;
    CHECK(st == CW_PULL_EOF, "eof: %s", err.msg);
    CHECK(total == (size_t)rate, "all frames: %zu", total);
    CHECK(took >= 0.9 && took < 3.0, "EOF after %.2f s", took);
    cw_source_destroy(&src);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_stereo_ulaw();
    test_formats();
    test_errors();
    test_realtime();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_source_file");
}
