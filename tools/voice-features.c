/* voice-features.c - measurement aid: the features of every segment the
 * voice detector judges (voice.h, cw_voice_segment_t), one JSON line each.
 *
 *   voice-features [--config FILE] [--channel N] FILE...
 *
 * Each file is one leg from its start, run exactly as `callwatch analyze
 * --no-asr` runs it (same resampler, VAD, prosody tracker and voice
 * detector, settings from the config), so a model trained on these lines
 * (tools/train-voice.py) scores what the daemon will compute. A line:
 * {"file", "t_start", "t_end", "voiced_s", "speech_s", "has_baseline",
 *  "prior_anger", "relative_anger", <feature name>: value, ...}.
 *
 * Exit status 0, or 1 with a message naming the file on any error.
 */
#include "callwatch/config.h"
#include "callwatch/leg.h"
#include "callwatch/voice.h"

#include <jansson.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_FRAMES 1600
#define MAX_CUES 8

typedef struct printer {
    const char *path;
} printer_t;

static void print_segment(void *ctx, const cw_voice_segment_t *seg)
{
    const printer_t *p = ctx;
    json_t *line = json_pack("{s:s, s:f, s:f, s:f, s:f, s:b, s:f, s:f}", "file", p->path, "t_start", seg->t_start,
                             "t_end", seg->t_end, "voiced_s", seg->voiced_s, "speech_s", seg->speech_s,
                             "has_baseline", seg->has_baseline, "prior_anger", seg->prior_anger, "relative_anger",
                             seg->relative_anger);
    if (!line)
        return;
    for (int f = 0; f < CW_VF_COUNT; f++)
        json_object_set_new(line, cw_voice_feature_name((cw_voice_feature_t)f), json_real(seg->x[f]));
    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(6));
    if (text)
        puts(text);
    free(text);
    json_decref(line);
}

static void drop_cues(cw_cue_t *cues, size_t n)
{
    for (size_t i = 0; i < n; i++)
        json_decref(cues[i].evidence);
}

typedef struct run {
    cw_leg_t *leg;
    cw_voice_t *voice;
    cw_prosody_frame_t *frames;
    size_t cap;
} run_t;

static int feed_file(run_t *r, SNDFILE *sf, int channels, int channel, const char *path)
{
    float interleaved[CHUNK_FRAMES * 8], mono[CHUNK_FRAMES];
    cw_cue_t cues[MAX_CUES];
    cw_error_t err;
    cw_error_clear(&err);
    sf_count_t chunk = CHUNK_FRAMES;
    for (;;) {
        sf_count_t n = sf_readf_float(sf, interleaved, chunk);
        for (sf_count_t i = 0; i < n; i++)
            mono[i] = interleaved[i * channels + channel];
        int rc = n > 0 ? cw_leg_push(r->leg, mono, (size_t)n, &err) : cw_leg_finish(r->leg, &err);
        if (rc < 0) {
            fprintf(stderr, "voice-features: %s: %s\n", path, err.msg);
            return 1;
        }
        size_t k = cw_leg_take_prosody(r->leg, r->frames, r->cap);
        drop_cues(cues, cw_voice_feed(r->voice, r->frames, k, true, true, true, cues, MAX_CUES));
        if (n <= 0)
            break;
    }
    drop_cues(cues, cw_voice_flush(r->voice, true, true, true, cues, MAX_CUES));
    return 0;
}

static int dump_file(const cw_config_t *cfg, const cw_voice_model_t *model, const char *path, int channel)
{
    SF_INFO info;
    memset(&info, 0, sizeof info);
    SNDFILE *sf = sf_open(path, SFM_READ, &info);
    if (!sf) {
        fprintf(stderr, "voice-features: %s: %s\n", path, sf_strerror(NULL));
        return 1;
    }
    if (channel >= info.channels || info.channels > 8) {
        fprintf(stderr, "voice-features: %s has %d channel(s), cannot read channel %d\n", path, info.channels,
                channel);
        sf_close(sf);
        return 1;
    }
    cw_error_t err;
    cw_error_clear(&err);
    printer_t printer = {path};
    run_t r = {0};
    r.leg = cw_leg_new(cfg, 0, info.samplerate, CHUNK_FRAMES, NULL, &err);
    r.voice = r.leg ? cw_voice_new(model, "speaker", &err) : NULL;
    r.cap = r.leg ? cw_leg_prosody_capacity(r.leg) : 0;
    r.frames = calloc(r.cap ? r.cap : 1, sizeof *r.frames);
    int status = 1;
    if (!r.leg || !r.voice || !r.frames)
        fprintf(stderr, "voice-features: %s: %s\n", path, r.frames ? err.msg : "out of memory");
    else {
        cw_voice_set_segment_observer(r.voice, print_segment, &printer);
        status = feed_file(&r, sf, info.channels, channel, path);
    }
    free(r.frames);
    cw_voice_destroy(&r.voice);
    cw_leg_destroy(&r.leg);
    sf_close(sf);
    return status;
}

static int usage(void)
{
    fprintf(stderr, "usage: voice-features [--config FILE] [--channel N] FILE...\n");
    return 1;
}

int main(int argc, char **argv)
{
    const char *config_path = cw_config_default_path();
    int channel = 0, first = 1;
    for (; first + 1 < argc && strncmp(argv[first], "--", 2) == 0; first += 2) {
        if (strcmp(argv[first], "--config") == 0)
            config_path = argv[first + 1];
        else if (strcmp(argv[first], "--channel") == 0 && sscanf(argv[first + 1], "%d", &channel) == 1 &&
                 channel >= 0 && channel < 8)
            continue;
        else
            return usage();
    }
    if (first >= argc || strncmp(argv[first], "--", 2) == 0)
        return usage();
    cw_error_t err;
    cw_error_clear(&err);
    cw_config_t *cfg = cw_config_new();
    char path[4096];
    cw_voice_model_t *model = NULL;
    int status = 1;
    if (!cfg || cw_config_load(cfg, config_path, &err) < 0)
        fprintf(stderr, "voice-features: %s\n", cfg ? err.msg : "out of memory");
    else if (!(model = cw_voice_model_load(cw_config_model_path(cfg->prosody, path, sizeof path), &err)))
        fprintf(stderr, "voice-features: %s\n", err.msg);
    else
        status = 0;
    for (int a = first; a < argc && status == 0; a++)
        status = dump_file(cfg, model, argv[a], channel);
    cw_voice_model_destroy(&model);
    cw_config_destroy(&cfg);
    return status;
}
