/* prosody-frames.c - measurement aid: the prosody frames callwatch's voice
 * detector sees (prosody.h), one line per 10 ms frame.
 *
 *   prosody-frames [--config FILE] [--channel N] FILE...
 *
 * For each audio file (anything libsndfile reads, any rate): a line
 * "# FILE", then per frame "t_end speech voiced f0_hz level_db" (seconds,
 * 0/1, 0/1, Hz or 0, dBFS). The leg runs exactly as in `callwatch analyze
 * --no-asr`: same resampler, VAD (its settings from the config) and pitch
 * tracker, so features computed from these lines match what voice.c can
 * compute. Not built by CMake (a tool, not part of callwatch): compiled on
 * demand by tools/measure-flat.py against build/libcallwatch_core.a.
 *
 * Exit status 0, or 1 with a message naming the file on any error.
 */
#include "callwatch/config.h"
#include "callwatch/leg.h"

#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_FRAMES 1600

static int dump_file(const cw_config_t *cfg, const char *path, int channel)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) {
        fprintf(stderr, "prosody-frames: %s: %s\n", path, sf_strerror(NULL));
        return 1;
    }
    if (channel >= info.channels) {
        fprintf(stderr, "prosody-frames: %s has %d channel(s), no channel %d\n", path, info.channels, channel);
        sf_close(sf);
        return 1;
    }
    cw_error_t err;
    cw_error_clear(&err);
    cw_leg_t *leg = cw_leg_new(cfg, 0, info.samplerate, CHUNK_FRAMES, NULL, &err);
    float *interleaved = calloc((size_t)CHUNK_FRAMES * (size_t)info.channels, sizeof *interleaved);
    float *mono = calloc(CHUNK_FRAMES, sizeof *mono);
    size_t cap = leg ? cw_leg_prosody_capacity(leg) : 0;
    cw_prosody_frame_t *frames = calloc(cap ? cap : 1, sizeof *frames);
    int status = 0;
    if (!leg || !interleaved || !mono || !frames) {
        fprintf(stderr, "prosody-frames: %s: %s\n", path, leg ? "out of memory" : err.msg);
        status = 1;
        goto done;
    }
    printf("# %s\n", path);
    for (;;) {
        sf_count_t n = sf_readf_float(sf, interleaved, CHUNK_FRAMES);
        int rc;
        if (n > 0) {
            for (sf_count_t i = 0; i < n; i++)
                mono[i] = interleaved[i * info.channels + channel];
            rc = cw_leg_push(leg, mono, (size_t)n, &err);
        } else {
            rc = cw_leg_finish(leg, &err);
        }
        if (rc < 0) {
            fprintf(stderr, "prosody-frames: %s: %s\n", path, err.msg);
            status = 1;
            goto done;
        }
        size_t k = cw_leg_take_prosody(leg, frames, cap);
        for (size_t i = 0; i < k; i++)
            printf("%.2f %d %d %.2f %.2f\n", frames[i].t_end, frames[i].speech, frames[i].voiced,
                   (double)frames[i].f0_hz, (double)frames[i].level_db);
        if (n <= 0)
            break;
    }
done:
    free(frames);
    free(mono);
    free(interleaved);
    cw_leg_destroy(&leg);
    sf_close(sf);
    return status;
}

int main(int argc, char **argv)
{
    const char *config_path = cw_config_default_path();
    int channel = 0;
    int first = 1;
    while (first < argc && strncmp(argv[first], "--", 2) == 0) {
        if (strcmp(argv[first], "--config") == 0 && first + 1 < argc) {
            config_path = argv[first + 1];
        } else if (strcmp(argv[first], "--channel") == 0 && first + 1 < argc) {
            char *end = NULL;
            long c = strtol(argv[first + 1], &end, 10);
            if (!end || *end || c < 0 || c > 63) {
                fprintf(stderr, "prosody-frames: --channel wants 0..63, got '%s'\n", argv[first + 1]);
                return 1;
            }
            channel = (int)c;
        } else {
            fprintf(stderr, "usage: prosody-frames [--config FILE] [--channel N] FILE...\n");
            return 1;
        }
        first += 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: prosody-frames [--config FILE] [--channel N] FILE...\n");
        return 1;
    }
    cw_error_t err;
    cw_error_clear(&err);
    cw_config_t *cfg = cw_config_new();
    if (!cfg || cw_config_load(cfg, config_path, &err) < 0) {
        fprintf(stderr, "prosody-frames: %s\n", cfg ? err.msg : "out of memory");
        cw_config_destroy(&cfg);
        return 1;
    }
    int status = 0;
    for (int a = first; a < argc && status == 0; a++)
        status = dump_file(cfg, argv[a], channel);
    cw_config_destroy(&cfg);
    return status;
}
