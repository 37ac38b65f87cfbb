/* test_source_portaudio.c - live capture through PortAudio's ALSA host API
 * from the virtual device of tools/alsa-virtual-device.sh: a 1 s stereo
 * signal (left 440 Hz, right 880 Hz) must arrive sample-exact per leg with no
 * overrun, and the device going silent afterwards must end the capture with
 * a device-loss error. Exits 77 (skip) when the virtual device cannot be set
 * up at all. */
#include "callwatch/source.h"
#include "check.h"

#include <math.h>
#include <signal.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RATE 16000
#define LEFT_HZ 440.0
#define RIGHT_HZ 880.0
#define STALL_MS 500
#define SKIP 77

static char dir[] = "/tmp/cw_test_source_pa_XXXXXX";
static pid_t feeder_pid;

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double tone_hz(const float *x, size_t n)
{
    size_t crossings = 0;
    for (size_t i = 1; i < n; i++)
        if ((x[i - 1] < 0) != (x[i] < 0))
            crossings++;
    return (double)crossings / 2.0 / ((double)n / RATE);
}

static float expected_sample(int i, double hz)
{
    /* The same float the 16-bit file holds, as PortAudio will hand it over. */
    short s = (short)lrint(0.5 * sin(2 * M_PI * hz * i / RATE) * 32767.0);
    return (float)s / 32768.0f;
}

/* Writes the signal, runs the script, sets ALSA_CONFIG_PATH. 0 or SKIP. */
static int setup_virtual_device(void)
{
    char wav[512], cmd[2048], line[1024];
    snprintf(wav, sizeof wav, "%s/signal.wav", dir);
    SF_INFO info = {.samplerate = RATE, .channels = 2, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(wav, SFM_WRITE, &info);
    if (!sf)
        return SKIP;
    for (int i = 0; i < RATE; i++) {
        short frame[2] = {(short)lrint(0.5 * sin(2 * M_PI * LEFT_HZ * i / RATE) * 32767.0),
                          (short)lrint(0.5 * sin(2 * M_PI * RIGHT_HZ * i / RATE) * 32767.0)};
        sf_writef_short(sf, frame, 1);
    }
    sf_close(sf);

    const char *src_root = getenv("CALLWATCH_SRC");
    char script[1024];
    if (src_root)
        snprintf(script, sizeof script, "%s/tools/alsa-virtual-device.sh", src_root);
    else {
        /* __FILE__ is .../tests/test_source_portaudio.c when built by CMake
         * or from the project root. */
        const char *slash = strrchr(__FILE__, '/');
        int dir_len = slash ? (int)(slash - __FILE__) : 1;
        snprintf(script, sizeof script, "%.*s/../tools/alsa-virtual-device.sh", dir_len, slash ? __FILE__ : ".");
    }
    snprintf(cmd, sizeof cmd, "bash '%s' '%s' '%s/dev' %d 2", script, wav, dir, RATE);
    FILE *p = popen(cmd, "r");
    if (!p)
        return SKIP;
    bool have_conf = false;
    while (fgets(line, sizeof line, p)) {
        line[strcspn(line, "\n")] = '\0';
        if (strncmp(line, "ALSA_CONFIG_PATH=", 17) == 0) {
            setenv("ALSA_CONFIG_PATH", line + 17, 1);
            have_conf = true;
        } else if (strncmp(line, "CALLWATCH_VIRTUAL_FEEDER_PID=", 29) == 0) {
            feeder_pid = (pid_t)strtol(line + 29, NULL, 10);
        }
    }
    if (pclose(p) != 0 || !have_conf || feeder_pid <= 0) {
        printf("SKIP: %s failed (sox missing?)\n", script);
        return SKIP;
    }
    return 0;
}

static void stop_feeder(void)
{
    if (feeder_pid > 0)
        kill(feeder_pid, SIGTERM);
    feeder_pid = 0;
}

/* list_devices shows the virtual device (false: it does not, skip). */
static bool virtual_device_listed(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    char *listing = NULL;
    size_t listing_size = 0;
    FILE *mem = open_memstream(&listing, &listing_size);
    CHECK(cw_portaudio_list_devices(mem, &err) == CW_OK, "list: %s", err.msg);
    fclose(mem);
    if (!strstr(listing, "callwatch_virtual")) {
        printf("SKIP: PortAudio's ALSA host API does not show the virtual device:\n%s", listing);
        free(listing);
        return false;
    }
    CHECK(strstr(listing, "ALSA") != NULL, "host API listed: %s", listing);
    free(listing);
    return true;
}

/* An unknown device and a channel beyond the device are refused; line is
 * left naming the virtual device. */
static void check_open_refusals(cw_line_config_t *line, const cw_config_t *cfg)
{
    cw_error_t err;
    /* Unknown device: NOT_FOUND with the list of candidates. */
    snprintf(line->device, sizeof line->device, "no-such-device");
    cw_error_clear(&err);
    cw_source_t *src = cw_source_portaudio_new(line, cfg, &err);
    CHECK(src == NULL && err.code == CW_ERR_NOT_FOUND, "unknown device: %s", err.msg);
    CHECK(strstr(err.msg, "no-such-device") && strstr(err.msg, "callwatch_virtual"), "candidates: %s", err.msg);
    cw_source_destroy(&src);

    /* Channel beyond the device is refused (the virtual PCM claims many, so
     * ask for an absurd one). */
    line->customer_channel = 100000;
    snprintf(line->device, sizeof line->device, "CALLWATCH_virt"); /* case-insensitive substring */
    src = cw_source_portaudio_new(line, cfg, &err);
    CHECK(src == NULL && strstr(err.msg, "input channel"), "channel check: %s", err.msg);
    cw_source_destroy(&src);
    line->customer_channel = 1;
}

/* What one capture delivered, until the device stopped or 10 s passed. */
typedef struct capture {
    float *all[2];               /* per leg, cap frames */
    size_t cap, got[2];
    cw_pull_status st;           /* the last pull's */
    cw_error_t err;              /* its error */
    double t_last_frames, t_error;
} capture_t;

static void capture_until_loss(cw_source_t *src, capture_t *c)
{
    c->cap = (size_t)RATE * 8;
    c->all[0] = calloc(c->cap, sizeof(float));
    c->all[1] = calloc(c->cap, sizeof(float));
    float a[1024], b[1024];
    float *out[2] = {a, b};
    c->t_last_frames = now_s();
    c->st = CW_PULL_OK;
    double deadline = now_s() + 10.0;
    while (now_s() < deadline) {
        size_t n[2];
        c->st = cw_source_pull(src, out, 1024, n, &c->err);
        CHECK(n[0] == n[1], "legs of one device advance together");
        for (int leg = 0; leg < 2; leg++) {
            size_t room = c->cap - c->got[leg];
            memcpy(c->all[leg] + c->got[leg], out[leg], sizeof(float) * (n[leg] < room ? n[leg] : room));
            c->got[leg] += n[leg];
        }
        if (n[0] > 0)
            c->t_last_frames = now_s();
        if (c->st != CW_PULL_OK) {
            c->t_error = now_s();
            break;
        }
        if (n[0] == 0)
            usleep(10000);
    }
}

/* The signal arrived sample-exact with no overrun, then the device loss. */
static void check_capture(cw_source_t *src, const capture_t *c)
{
    float *const *all = c->all;
    const size_t *got = c->got;
    size_t cap_all = c->cap;
    CHECK(got[0] >= RATE && got[0] <= RATE * 4, "frames captured: %zu", got[0]);
    size_t mismatches = 0;
    for (int i = 0; i < RATE && (size_t)i < got[0]; i++)
        if (all[0][i] != expected_sample(i, LEFT_HZ) || all[1][i] != expected_sample(i, RIGHT_HZ))
            mismatches++;
    CHECK(mismatches == 0, "%zu of %d frames differ from the signal", mismatches, RATE);
    double fl = tone_hz(all[0], RATE), fr = tone_hz(all[1], RATE);
    CHECK(fabs(fl - LEFT_HZ) < 3 && fabs(fr - RIGHT_HZ) < 3, "agent %f Hz, customer %f Hz", fl, fr);
    size_t loud_after = 0;
    for (size_t i = RATE; i < got[0] && i < cap_all; i++)
        if (all[0][i] != 0.0f)
            loud_after++;
    CHECK(loud_after == 0, "only the padding's silence after the signal (%zu non-zero)", loud_after);

    cw_source_stats_t stats;
    cw_source_get_stats(src, &stats);
    CHECK(stats.frames_dropped[0] == 0 && stats.frames_dropped[1] == 0, "overruns %llu %llu",
          (unsigned long long)stats.frames_dropped[0], (unsigned long long)stats.frames_dropped[1]);
    CHECK(stats.frames_delivered[0] == got[0], "delivered %llu", (unsigned long long)stats.frames_delivered[0]);

    CHECK(c->st == CW_PULL_ERROR, "device loss reported (status %d)", c->st);
    CHECK(strstr(c->err.msg, "callwatch_virtual") && strstr(c->err.msg, "stopped delivering audio") &&
              strstr(c->err.msg, "no samples for"),
          "loss message: %s", c->err.msg);
    double after = c->t_error - c->t_last_frames;
    CHECK(after >= STALL_MS / 1000.0 - 0.05 && after < STALL_MS / 1000.0 + 1.0, "loss after %.2f s of silence", after);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    if (setup_virtual_device() != 0)
        return SKIP;
    cw_error_t err;
    if (cw_portaudio_init(&err) != CW_OK) {
        printf("SKIP: %s\n", err.msg);
        stop_feeder();
        return SKIP;
    }

    if (!virtual_device_listed()) {
        stop_feeder();
        cw_portaudio_terminate();
        return SKIP;
    }

    static cw_config_t cfg; /* big; filled by hand, config.c is not used here */
    cfg.capture_frames_per_buffer = 256;
    cfg.capture_ring_s = 8.0; /* the virtual device delivers in a burst */
    cfg.capture_stall_timeout_ms = STALL_MS;
    cw_line_config_t line;
    memset(&line, 0, sizeof line);
    snprintf(line.name, sizeof line.name, "test");
    line.agent_channel = 0;
    line.customer_channel = 1;
    line.sample_rate = RATE;

    check_open_refusals(&line, &cfg);

    cw_error_clear(&err);
    cw_source_t *src = cw_source_portaudio_new(&line, &cfg, &err);
    CHECK(src != NULL, "open: %s", err.msg);
    if (!src) {
        stop_feeder();
        cw_portaudio_terminate();
        return check_summary("test_source_portaudio");
    }
    const cw_source_info_t *info = cw_source_info(src);
    CHECK(info->rate_hz[0] == RATE && info->rate_hz[1] == RATE, "rates %d %d", info->rate_hz[0], info->rate_hz[1]);

    capture_t cap = {0};
    capture_until_loss(src, &cap);
    check_capture(src, &cap);

    /* The virtual device blocks in read() once the data is gone; ending the
     * feeder unblocks it so the stream can be torn down. */
    stop_feeder();
    cw_source_destroy(&src);
    free(cap.all[0]);
    free(cap.all[1]);
    cw_portaudio_terminate();
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_source_portaudio");
}
