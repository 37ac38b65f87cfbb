/* voice.c - see callwatch/voice.h */
#include "callwatch/voice.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FRAME_S 0.01 /* prosody frames are VAD frames: 10 ms */

/* Histograms give percentiles over long spans in constant memory. */
#define ST_MIN (-36.0)
#define ST_MAX 48.0
#define ST_STEP 0.1
#define ST_BINS 840
#define LEVEL_MIN (-120.0)
#define LEVEL_STEP 0.25
#define LEVEL_BINS 480
/* The noise floor is trusted from this much non-speech on. */
#define MIN_QUIET_S 0.1

/* A normal distribution's p90 - p10 is 2.563 standard deviations. */
#define P10_P90_PER_SD 2.563

#define MAX_BASELINE_SEGMENTS 256
/* Phrases remembered for the flat-affect window's median phrase range. */
#define RECENT_PHRASES 64

/* logistic(bias + sum of weight x (x - mean) / sd) over segment features. */
typedef struct linear_model {
    double bias;
    double mean[CW_VF_COUNT], sd[CW_VF_COUNT], weight[CW_VF_COUNT];
} linear_model_t;

/* Sections of the model file holding a linear_model_t each. */
static const char *const LINEAR_SECTIONS[] = {"anger_prior", "anger_relative"};

struct cw_voice_model {
    double segment_max_speech_s, segment_min_voiced_s, segment_harmonic_fold_within_st;
    double baseline_voiced_s, baseline_adapt_rate, baseline_adapt_below, baseline_exclude_prior;
    double baseline_early_voiced_s, baseline_early_min_score;
    double syllable_prominence_db, syllable_half_window_s;
    double despair_bias, despair_f0_st, despair_level_db, despair_range_st, despair_rate, despair_max_score;
    double despair_min_speech_s;
    double flat_window_speech_s, flat_min_speech_s, flat_hop_speech_s;
    double flat_norm_f0_spread_st, flat_norm_level_dynamics_db, flat_norm_rate_syl_s;
    double flat_bias, flat_f0_spread, flat_level_dynamics, flat_rate;
    double flat_norm_phrase_range_st, flat_phrase_range;
    linear_model_t prior;    /* features against population norms */
    linear_model_t relative; /* features minus the speaker's baseline */
    double flat_persist_speech_s, flat_brief_max_score, flat_persist_above;
    double flat_min_pitch_conf, flat_min_phrase_voiced_s;
    double prior_min_score;
    double segment_clean_snr_db, relative_min_voiced_s, relative_min_score;
};

typedef struct model_key {
    const char *section, *key;
    size_t offset;
    double min, max;
} model_key_t;

#define M(field) offsetof(cw_voice_model_t, field)
static const model_key_t MODEL_KEYS[] = {
    {"segment", "max_speech_s", M(segment_max_speech_s), 0.5, 30},
    {"segment", "min_voiced_s", M(segment_min_voiced_s), 0.05, 10},
    {"segment", "harmonic_fold_within_st", M(segment_harmonic_fold_within_st), 0, 5},
    {"baseline", "voiced_s", M(baseline_voiced_s), 0.5, 120},
    {"baseline", "adapt_rate", M(baseline_adapt_rate), 0, 1},
    {"baseline", "adapt_below_score", M(baseline_adapt_below), 0, 1},
    {"baseline", "exclude_prior_above", M(baseline_exclude_prior), 0, 1},
    {"baseline", "early_voiced_s", M(baseline_early_voiced_s), 0.2, 120},
    {"baseline", "early_min_score", M(baseline_early_min_score), 0, 1},
    {"segment", "prior_min_score", M(prior_min_score), 0, 1},
    {"segment", "clean_snr_db", M(segment_clean_snr_db), 0, 60},
    {"segment", "relative_min_voiced_s", M(relative_min_voiced_s), 0, 10},
    {"segment", "relative_min_score", M(relative_min_score), 0, 1},
    {"syllables", "prominence_db", M(syllable_prominence_db), 0.1, 30},
    {"syllables", "half_window_s", M(syllable_half_window_s), 0.02, 0.2},
    {"despair", "bias", M(despair_bias), -50, 50},
    {"despair", "per_f0_st_down", M(despair_f0_st), -10, 10},
    {"despair", "per_level_db_down", M(despair_level_db), -10, 10},
    {"despair", "per_range_st_down", M(despair_range_st), -10, 10},
    {"despair", "per_rate_ratio_down", M(despair_rate), -50, 50},
    {"despair", "max_score", M(despair_max_score), 0, 1},
    {"despair", "min_speech_s", M(despair_min_speech_s), 0, 30},
    {"flat_affect", "window_speech_s", M(flat_window_speech_s), 2, 600},
    {"flat_affect", "min_speech_s", M(flat_min_speech_s), 1, 600},
    {"flat_affect", "hop_speech_s", M(flat_hop_speech_s), 0.1, 600},
    {"flat_affect", "norm_f0_spread_st", M(flat_norm_f0_spread_st), 0, 24},
    {"flat_affect", "norm_level_dynamics_db", M(flat_norm_level_dynamics_db), 0, 60},
    {"flat_affect", "norm_rate_syl_s", M(flat_norm_rate_syl_s), 0, 20},
    {"flat_affect", "bias", M(flat_bias), -50, 50},
    {"flat_affect", "per_f0_spread_st_below", M(flat_f0_spread), -10, 10},
    {"flat_affect", "per_level_dynamics_db_below", M(flat_level_dynamics), -10, 10},
    {"flat_affect", "per_rate_syl_s_below", M(flat_rate), -10, 10},
    {"flat_affect", "norm_phrase_range_st", M(flat_norm_phrase_range_st), 0, 24},
    {"flat_affect", "per_phrase_range_st_below", M(flat_phrase_range), -10, 10},
    {"flat_affect", "persist_speech_s", M(flat_persist_speech_s), 0, 600},
    {"flat_affect", "brief_max_score", M(flat_brief_max_score), 0, 1},
    {"flat_affect", "persist_above_score", M(flat_persist_above), 0, 1},
    {"flat_affect", "min_pitch_conf", M(flat_min_pitch_conf), 0, 1},
    {"flat_affect", "min_phrase_voiced_s", M(flat_min_phrase_voiced_s), 0.05, 10},
};
#undef M
#define N_MODEL_KEYS (sizeof MODEL_KEYS / sizeof MODEL_KEYS[0])

static int check_known_keys(const char *path, const char *where, json_t *obj, const char *section, cw_error_t *err)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        bool known = false;
        for (size_t i = 0; i < N_MODEL_KEYS && !known; i++)
            known = (section ? strcmp(MODEL_KEYS[i].section, section) == 0 && strcmp(MODEL_KEYS[i].key, key) == 0
                             : strcmp(MODEL_KEYS[i].section, key) == 0);
        for (size_t i = 0; section == NULL && i < sizeof LINEAR_SECTIONS / sizeof *LINEAR_SECTIONS; i++)
            known = known || strcmp(LINEAR_SECTIONS[i], key) == 0;
        if (!known && !(section == NULL && strcmp(key, "comment") == 0) && strcmp(key, "why") != 0)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: unknown key \"%s\"", path, where, key);
    }
    return CW_OK;
}

/* A linear model: {"bias": number, "features": {"<feature name>": {"mean",
 * "sd", "weight"}}}; a feature left out weighs nothing. */
static int load_linear(linear_model_t *lm, const char *path, json_t *root, const char *section, cw_error_t *err)
{
    json_t *obj = json_object_get(root, section);
    json_t *features = json_object_get(obj, "features");
    json_t *bias = json_object_get(obj, "bias");
    if (!json_is_object(features) || !json_is_number(bias))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: wants a number \"bias\" and an object \"features\"", path,
                            section);
    lm->bias = json_number_value(bias);
    for (int f = 0; f < CW_VF_COUNT; f++) {
        lm->mean[f] = lm->weight[f] = 0;
        lm->sd[f] = 1;
    }
    const char *name, *key;
    json_t *spec, *value;
    json_object_foreach(obj, key, value) {
        if (strcmp(key, "bias") != 0 && strcmp(key, "features") != 0 && strcmp(key, "why") != 0)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: unknown key \"%s\"", path, section, key);
    }
    json_object_foreach(features, name, spec) {
        int f = 0;
        while (f < CW_VF_COUNT && strcmp(cw_voice_feature_name((cw_voice_feature_t)f), name) != 0)
            f++;
        if (f == CW_VF_COUNT)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s.features: unknown feature \"%s\"", path, section, name);
        double mean, sd, weight;
        if (json_unpack(spec, "{s:F, s:F, s:F}", "mean", &mean, "sd", &sd, "weight", &weight) != 0 || !(sd > 0) ||
            !(fabs(weight) <= 50) || !isfinite(mean))
            return cw_error_set(err, CW_ERR_FORMAT,
                                "%s: %s.features.%s: wants numbers mean, sd > 0 and weight in -50..50", path, section,
                                name);
        lm->mean[f] = mean;
        lm->sd[f] = sd;
        lm->weight[f] = weight;
    }
    return CW_OK;
}

static double linear_logit(const linear_model_t *lm, const double *x)
{
    double z = lm->bias;
    for (int f = 0; f < CW_VF_COUNT; f++)
        z += lm->weight[f] * (x[f] - lm->mean[f]) / lm->sd[f];
    return z;
}

cw_voice_model_t *cw_voice_model_load(const char *path, cw_error_t *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        cw_error_set(err, CW_ERR_FORMAT, "%s:%d: %s", path, jerr.line, jerr.text);
        return NULL;
    }
    cw_voice_model_t *model = calloc(1, sizeof *model);
    if (!model) {
        cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (!json_is_object(root)) {
        cw_error_set(err, CW_ERR_FORMAT, "%s: the top level must be an object", path);
        goto fail;
    }
    if (check_known_keys(path, "top level", root, NULL, err) != CW_OK)
        goto fail;
    for (size_t i = 0; i < N_MODEL_KEYS; i++) {
        const model_key_t *k = &MODEL_KEYS[i];
        json_t *section = json_object_get(root, k->section);
        if (!json_is_object(section)) {
            cw_error_set(err, CW_ERR_FORMAT, "%s: missing object \"%s\"", path, k->section);
            goto fail;
        }
        if (check_known_keys(path, k->section, section, k->section, err) != CW_OK)
            goto fail;
        json_t *value = json_object_get(section, k->key);
        if (!json_is_number(value)) {
            cw_error_set(err, CW_ERR_FORMAT, "%s: %s.%s: %s", path, k->section, k->key,
                         value ? "must be a number" : "missing");
            goto fail;
        }
        double v = json_number_value(value);
        if (!(v >= k->min && v <= k->max)) {
            cw_error_set(err, CW_ERR_FORMAT, "%s: %s.%s = %g is outside %g..%g", path, k->section, k->key, v, k->min,
                         k->max);
            goto fail;
        }
        *(double *)((char *)model + k->offset) = v;
    }
    if (load_linear(&model->prior, path, root, "anger_prior", err) != CW_OK ||
        load_linear(&model->relative, path, root, "anger_relative", err) != CW_OK)
        goto fail;
    if (model->flat_min_speech_s > model->flat_window_speech_s) {
        cw_error_set(err, CW_ERR_FORMAT, "%s: flat_affect.min_speech_s (%g) exceeds window_speech_s (%g)", path,
                     model->flat_min_speech_s, model->flat_window_speech_s);
        goto fail;
    }
    json_decref(root);
    return model;

fail:
    free(model);
    json_decref(root);
    return NULL;
}

void cw_voice_model_destroy(cw_voice_model_t **model)
{
    if (!model || !*model)
        return;
    free(*model);
    *model = NULL;
}

typedef struct histogram {
    unsigned *bins;
    size_t n_bins;
    double min, step;
    unsigned long long count;
} histogram_t;

static bool histogram_init(histogram_t *h, size_t n_bins, double min, double step)
{
    h->bins = calloc(n_bins, sizeof *h->bins);
    h->n_bins = n_bins;
    h->min = min;
    h->step = step;
    h->count = 0;
    return h->bins != NULL;
}

static size_t histogram_bin(const histogram_t *h, double v)
{
    double i = floor((v - h->min) / h->step);
    if (i < 0)
        return 0;
    if (i >= (double)h->n_bins)
        return h->n_bins - 1;
    return (size_t)i;
}

static void histogram_add(histogram_t *h, double v, int delta)
{
    size_t b = histogram_bin(h, v);
    if (delta > 0) {
        h->bins[b]++;
        h->count++;
    } else if (h->bins[b] > 0) {
        h->bins[b]--;
        h->count--;
    }
}

/* The q-quantile (0..1) as the centre of its bin; NAN when empty. */
static double histogram_quantile(const histogram_t *h, double q)
{
    if (h->count == 0)
        return NAN;
    unsigned long long target = (unsigned long long)(q * (double)(h->count - 1));
    unsigned long long seen = 0;
    for (size_t b = 0; b < h->n_bins; b++) {
        seen += h->bins[b];
        if (seen > target)
            return h->min + ((double)b + 0.5) * h->step;
    }
    return h->min + ((double)h->n_bins - 0.5) * h->step;
}

/* One speech frame in the flat-affect window. */
typedef struct window_frame {
    double t_end;
    bool voiced, nucleus;
    float f0_st, level_db;
} window_frame_t;

typedef struct segment_stats {
    double f0_st, range_st, level_db, rate, voiced_s, speech_s;
} segment_stats_t;

struct cw_voice {
    const cw_voice_model_t *model;
    char whose[32];

    /* Syllable nuclei need the frames around one: a short delay line. */
    cw_prosody_frame_t *delay;
    size_t delay_len, half_window;
    unsigned long long delay_pushed, delay_done;

    /* The segment being collected. */
    bool in_segment;
    double seg_t_start, seg_t_end;
    float *seg_f0, *seg_level, *sort_buf;
    float *seg_alpha, *seg_hammarberg, *seg_conf; /* seg_conf: every speech frame */
    float *seg_voiced_conf;                       /* pitch confidence of each voiced frame */
    float *seg_scratch;
    size_t seg_conf_n;
    size_t seg_voiced, seg_cap, seg_speech_frames, seg_nuclei, seg_max_frames;

    /* Baseline: collected from the first segments, then fixed and adapted. */
    bool has_baseline;
    histogram_t base_hist_f0, base_hist_level;
    double base_ranges[MAX_BASELINE_SEGMENTS];
    size_t base_n_ranges;
    unsigned long long base_nuclei, base_speech_frames;
    double base_f0_st, base_level_db, base_range_st, base_rate;
    double base_seg_x[MAX_BASELINE_SEGMENTS][CW_VF_COUNT]; /* features of the baseline's segments */
    double base_x[CW_VF_COUNT];                           /* their medians, then adapted */

    /* Flat affect: the last window of speech frames. */
    window_frame_t *window;
    size_t window_cap, window_len, window_head;
    histogram_t win_hist_f0, win_hist_level;
    unsigned long long win_nuclei;
    float recent_range_st[RECENT_PHRASES];
    double recent_end_s[RECENT_PHRASES];
    double flat_streak_speech_s; /* speech judged flat without a break */
    size_t recent_count;
    size_t win_speech_since_judged;

    /* Whole leg. */
    histogram_t all_hist_f0, all_hist_level;
    histogram_t quiet_hist_level; /* non-speech frames: the line's noise floor */
    unsigned long long all_nuclei, all_speech_frames;

    cw_voice_segment_fn observer;
    void *observer_ctx;
};

static size_t frames_of(double seconds)
{
    return (size_t)(seconds / FRAME_S + 0.5);
}

cw_voice_t *cw_voice_new(const cw_voice_model_t *model, const char *whose, cw_error_t *err)
{
    cw_voice_t *v = calloc(1, sizeof *v);
    if (!v) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating a voice detector");
        return NULL;
    }
    v->model = model;
    snprintf(v->whose, sizeof v->whose, "%s", whose ? whose : "speaker");
    v->half_window = frames_of(model->syllable_half_window_s);
    if (v->half_window < 1)
        v->half_window = 1;
    v->delay_len = 6 * v->half_window + 1;
    v->seg_max_frames = frames_of(model->segment_max_speech_s);
    v->seg_cap = v->seg_max_frames + 1;
    v->window_cap = frames_of(model->flat_window_speech_s) + 1;
    v->delay = calloc(v->delay_len, sizeof *v->delay);
    v->seg_f0 = calloc(v->seg_cap, sizeof *v->seg_f0);
    v->seg_level = calloc(v->seg_cap, sizeof *v->seg_level);
    v->sort_buf = calloc(v->seg_cap, sizeof *v->sort_buf);
    v->seg_alpha = calloc(v->seg_cap, sizeof *v->seg_alpha);
    v->seg_voiced_conf = calloc(v->seg_cap, sizeof *v->seg_voiced_conf);
    v->seg_scratch = calloc(v->seg_cap, sizeof *v->seg_scratch);
    v->seg_hammarberg = calloc(v->seg_cap, sizeof *v->seg_hammarberg);
    v->seg_conf = calloc(v->seg_cap, sizeof *v->seg_conf);
    v->window = calloc(v->window_cap, sizeof *v->window);
    bool ok = v->delay && v->seg_f0 && v->seg_level && v->sort_buf && v->window && v->seg_alpha && v->seg_voiced_conf && v->seg_scratch &&
              v->seg_hammarberg && v->seg_conf;
    ok = ok && histogram_init(&v->base_hist_f0, ST_BINS, ST_MIN, ST_STEP);
    ok = ok && histogram_init(&v->base_hist_level, LEVEL_BINS, LEVEL_MIN, LEVEL_STEP);
    ok = ok && histogram_init(&v->win_hist_f0, ST_BINS, ST_MIN, ST_STEP);
    ok = ok && histogram_init(&v->win_hist_level, LEVEL_BINS, LEVEL_MIN, LEVEL_STEP);
    ok = ok && histogram_init(&v->all_hist_f0, ST_BINS, ST_MIN, ST_STEP);
    ok = ok && histogram_init(&v->all_hist_level, LEVEL_BINS, LEVEL_MIN, LEVEL_STEP);
    ok = ok && histogram_init(&v->quiet_hist_level, LEVEL_BINS, LEVEL_MIN, LEVEL_STEP);
    if (!ok) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory for voice detector buffers");
        cw_voice_destroy(&v);
    }
    return v;
}

void cw_voice_destroy(cw_voice_t **voice)
{
    if (!voice || !*voice)
        return;
    cw_voice_t *v = *voice;
    free(v->delay);
    free(v->seg_f0);
    free(v->seg_level);
    free(v->sort_buf);
    free(v->seg_alpha);
    free(v->seg_voiced_conf);
    free(v->seg_scratch);
    free(v->seg_hammarberg);
    free(v->seg_conf);
    free(v->window);
    free(v->base_hist_f0.bins);
    free(v->base_hist_level.bins);
    free(v->win_hist_f0.bins);
    free(v->win_hist_level.bins);
    free(v->all_hist_f0.bins);
    free(v->all_hist_level.bins);
    free(v->quiet_hist_level.bins);
    free(v);
    *voice = NULL;
}

bool cw_voice_has_baseline(const cw_voice_t *voice)
{
    return voice->has_baseline;
}

void cw_voice_set_segment_observer(cw_voice_t *voice, cw_voice_segment_fn fn, void *ctx)
{
    voice->observer = fn;
    voice->observer_ctx = ctx;
}

static const char *const FEATURE_NAMES[CW_VF_COUNT] = {
    [CW_VF_F0_ST] = "f0_st",
    [CW_VF_RANGE_ST] = "range_st",
    [CW_VF_LEVEL_DYN_DB] = "level_dyn_db",
    [CW_VF_RATE_SYL_S] = "rate_syl_s",
    [CW_VF_VOICED_FRAC] = "voiced_frac",
    [CW_VF_ALPHA_DB] = "alpha_db",
    [CW_VF_HAMMARBERG_DB] = "hammarberg_db",
    [CW_VF_PITCH_CONF] = "pitch_conf",
    [CW_VF_PEAK_LEVEL_DB] = "peak_level_db",
    [CW_VF_LEVEL_DB] = "level_db",
    [CW_VF_LINE_NOISE_DB] = "line_noise_db",
};

const char *cw_voice_feature_name(cw_voice_feature_t f)
{
    return f < CW_VF_COUNT ? FEATURE_NAMES[f] : "?";
}

static double logistic(double z)
{
    return 1.0 / (1.0 + exp(-z));
}

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Quantile q of n values, by sorting a copy into buf. */
static double quantile_of(const float *values, size_t n, float *buf, double q)
{
    memcpy(buf, values, n * sizeof *buf);
    qsort(buf, n, sizeof *buf, compare_float);
    double pos = q * (double)(n - 1);
    size_t lo = (size_t)pos;
    size_t hi = lo + 1 < n ? lo + 1 : lo;
    double frac = pos - (double)lo;
    return buf[lo] + frac * (buf[hi] - buf[lo]);
}

typedef struct cue_sink {
    cw_cue_t *out;
    size_t cap, n;
    bool want_anger, want_despair, want_flat;
} cue_sink_t;

/* Keeps the strongest cue of each kind in one feed. */
static void emit(cue_sink_t *sink, const char *kind, double score, double t_start, double t_end, json_t *prosody,
                 const char *text)
{
    for (size_t i = 0; i < sink->n; i++) {
        if (strcmp(sink->out[i].kind, kind) != 0)
            continue;
        if (score <= sink->out[i].score) {
            json_decref(prosody);
            return;
        }
        json_decref(sink->out[i].evidence);
        sink->out[i].score = score;
        sink->out[i].t_start = t_start;
        sink->out[i].t_end = t_end;
        sink->out[i].evidence = json_pack("{s:o}", "prosody", prosody);
        snprintf(sink->out[i].text, sizeof sink->out[i].text, "%s", text);
        return;
    }
    if (sink->n >= sink->cap) {
        json_decref(prosody);
        return;
    }
    cw_cue_t *c = &sink->out[sink->n++];
    c->kind = kind;
    c->score = score;
    c->t_start = t_start;
    c->t_end = t_end;
    c->evidence = json_pack("{s:o}", "prosody", prosody);
    snprintf(c->text, sizeof c->text, "%s", text);
}

static double round_to(double x, double step)
{
    return round(x / step) * step;
}

static double hz_of(double st)
{
    return 100.0 * pow(2.0, st / 12.0);
}

static void sort_doubles(double *x, size_t n)
{
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && x[j - 1] > x[j]; j--) {
            double t = x[j];
            x[j] = x[j - 1];
            x[j - 1] = t;
        }
}

/* Sorts x in place; 0 when empty. */
static double median_of(double *x, size_t n)
{
    sort_doubles(x, n);
    return n ? x[n / 2] : 0;
}

/* The baseline's numbers from the segments gathered so far; has_baseline is
 * the caller's to set. */
static void baseline_values(cw_voice_t *v)
{
    v->base_f0_st = histogram_quantile(&v->base_hist_f0, 0.5);
    v->base_level_db = histogram_quantile(&v->base_hist_level, 0.5);
    /* The median of the segments' ranges: one long phrase must not set it. */
    double ranges[MAX_BASELINE_SEGMENTS];
    memcpy(ranges, v->base_ranges, v->base_n_ranges * sizeof *ranges);
    v->base_range_st = median_of(ranges, v->base_n_ranges);
    double speech_s = (double)v->base_speech_frames * FRAME_S;
    v->base_rate = speech_s > 0 ? (double)v->base_nuclei / speech_s : 0;
    for (int f = 0; f < CW_VF_COUNT; f++) {
        double column[MAX_BASELINE_SEGMENTS];
        for (size_t i = 0; i < v->base_n_ranges; i++)
            column[i] = v->base_seg_x[i][f];
        v->base_x[f] = median_of(column, v->base_n_ranges);
    }
}

static void compute_baseline(cw_voice_t *v)
{
    baseline_values(v);
    v->has_baseline = true;
}

/* The prior is calibrated at the warning level; below min_score it is too
 * often a calm voice to be offered, even as info. */
static double prior_reported(const cw_voice_model_t *m, double prior)
{
    return prior >= m->prior_min_score ? prior : 0;
}

/* The feature that speaks most for anger in this segment, for the text. */
static int strongest_feature(const cw_voice_model_t *m, const cw_voice_segment_t *seg, int except)
{
    int best = -1;
    double best_z = 0;
    for (int f = 0; f < CW_VF_COUNT; f++) {
        double z = m->prior.weight[f] * (seg->x[f] - m->prior.mean[f]) / m->prior.sd[f];
        if (f != except && f != CW_VF_LINE_NOISE_DB && z > best_z) {
            best_z = z;
            best = f;
        }
    }
    return best;
}

static void describe_feature(const cw_voice_model_t *m, const cw_voice_segment_t *seg, int f, char *out, size_t cap)
{
    if (f < 0)
        snprintf(out, cap, "%s", "");
    else if (f == CW_VF_F0_ST)
        snprintf(out, cap, ", pitch %.0f Hz (calm speakers %.0f Hz)", hz_of(seg->x[f]), hz_of(m->prior.mean[f]));
    else
        snprintf(out, cap, ", %s %.2f (calm speakers %.2f)", cw_voice_feature_name((cw_voice_feature_t)f), seg->x[f],
                 m->prior.mean[f]);
}

/* Anger against population norms: needs no baseline, so the first words
 * of a caller who opens the call furious are judged. */
static void judge_prior(cw_voice_t *v, const cw_voice_segment_t *seg, cue_sink_t *sink)
{
    const cw_voice_model_t *m = v->model;
    json_t *numbers = json_pack("{s:f, s:f, s:f, s:b}", "prior_score", round_to(seg->prior_anger, 0.01), "voiced_s",
                                round_to(seg->voiced_s, 0.01), "f0_hz", round_to(hz_of(seg->x[CW_VF_F0_ST]), 0.1),
                                "has_baseline", seg->has_baseline);
    if (!numbers)
        return;
    for (int f = 0; f < CW_VF_COUNT; f++)
        json_object_set_new(numbers, cw_voice_feature_name((cw_voice_feature_t)f), json_real(round_to(seg->x[f], 0.01)));
    int first = strongest_feature(m, seg, -1);
    char one[128], two[128], text[512];
    describe_feature(m, seg, first, one, sizeof one);
    describe_feature(m, seg, first < 0 ? -1 : strongest_feature(m, seg, first), two, sizeof two);
    snprintf(text, sizeof text, "aroused voice against population norms%s%s%s", one, two,
             seg->has_baseline ? "" : " (no baseline for this caller yet)");
    emit(sink, "anger", seg->prior_anger, seg->t_start, seg->t_end, numbers, text);
}

/* 0 for a segment too short to compare: a word's medians are noise next to
 * a baseline's (on one-word utterances most false alarms came from them). */
static double relative_anger(const cw_voice_t *v, const cw_voice_segment_t *features)
{
    if (features->voiced_s < v->model->relative_min_voiced_s)
        return 0;
    double diff[CW_VF_COUNT];
    for (int f = 0; f < CW_VF_COUNT; f++)
        diff[f] = features->x[f] - v->base_x[f];
    return logistic(linear_logit(&v->model->relative, diff));
}

static void judge_segment(cw_voice_t *v, const segment_stats_t *seg, const cw_voice_segment_t *features,
                          cue_sink_t *sink);

/* A caller whose first calm turn is short and who then raises the voice:
 * once baseline.early_voiced_s of calm speech is in, a segment already far
 * above it (early_min_score, stricter than warning, as so short a baseline
 * is noisy) is judged against it and kept out of the baseline. True when the
 * segment was judged so. */
static bool judged_early(cw_voice_t *v, const segment_stats_t *seg, cw_voice_segment_t *features, cue_sink_t *sink)
{
    const cw_voice_model_t *m = v->model;
    if (v->base_n_ranges == 0 || (double)v->base_hist_f0.count * FRAME_S < m->baseline_early_voiced_s)
        return false;
    baseline_values(v);
    double relative = relative_anger(v, features);
    if (relative < m->baseline_early_min_score)
        return false;
    features->relative_anger = relative;
    if (sink->want_anger || sink->want_despair)
        judge_segment(v, seg, features, sink);
    return true;
}

static void judge_segment(cw_voice_t *v, const segment_stats_t *seg, const cw_voice_segment_t *features,
                          cue_sink_t *sink)
{
    const cw_voice_model_t *m = v->model;
    double d_f0 = seg->f0_st - v->base_f0_st;
    double d_level = seg->level_db - v->base_level_db;
    double d_range = seg->range_st - v->base_range_st;
    double rate_ratio = v->base_rate > 0 ? seg->rate / v->base_rate : 1.0;

    /* Both judgements stand: raised for this caller, or aroused for anyone. */
    /* Offered from warning only, like the prior; the baseline still keeps
     * out whatever scored above adapt_below_score. */
    double aroused = fmax(features->relative_anger, prior_reported(m, features->prior_anger));
    double anger = features->relative_anger >= m->relative_min_score ? aroused : prior_reported(m, features->prior_anger);
    /* Only a fall speaks for despair: a caller who shouts into a phone with
     * automatic gain control is not quieter for it. */
    double despair =
        logistic(m->despair_bias + m->despair_f0_st * fmax(0, -d_f0) + m->despair_level_db * fmax(0, -d_level) +
                 m->despair_range_st * fmax(0, -d_range) + m->despair_rate * fmax(0, 1.0 - rate_ratio));
    if (despair > m->despair_max_score)
        despair = m->despair_max_score;

    json_t *numbers = json_pack(
        "{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "pitch_st", round_to(d_f0, 0.1),
        "loudness_db", round_to(d_level, 0.1), "pitch_range_st", round_to(d_range, 0.1), "rate_ratio",
        round_to(rate_ratio, 0.01), "f0_hz", round_to(hz_of(seg->f0_st), 0.1), "baseline_f0_hz",
        round_to(hz_of(v->base_f0_st), 0.1), "level_dbfs", round_to(seg->level_db, 0.1), "baseline_level_dbfs",
        round_to(v->base_level_db, 0.1), "rate_syl_s", round_to(seg->rate, 0.01), "voiced_s",
        round_to(seg->voiced_s, 0.01), "alpha_db", round_to(features->x[CW_VF_ALPHA_DB], 0.1), "baseline_alpha_db",
        round_to(v->base_x[CW_VF_ALPHA_DB], 0.1), "relative_score", round_to(features->relative_anger, 0.01),
        "prior_score", round_to(features->prior_anger, 0.01));
    char text[512];
    if (sink->want_anger && numbers) {
        if (features->relative_anger >= features->prior_anger)
            snprintf(text, sizeof text,
                     "raised voice: pitch %+.1f semitones, loudness %+.1f dB, spectral tilt %+.1f dB over this %s's "
                     "baseline",
                     d_f0, d_level, features->x[CW_VF_ALPHA_DB] - v->base_x[CW_VF_ALPHA_DB], v->whose);
        else
            snprintf(text, sizeof text,
                     "aroused voice against population norms (pitch %.0f Hz, spectral tilt %.1f dB); pitch %+.1f "
                     "semitones over this %s's baseline",
                     hz_of(seg->f0_st), features->x[CW_VF_ALPHA_DB], d_f0, v->whose);
        emit(sink, "anger", anger, seg->speech_s > 0 ? v->seg_t_start : v->seg_t_end, v->seg_t_end,
             json_deep_copy(numbers), text);
    }
    /* A short reply ("okay", "yes") is low and slow next to a sentence
     * whatever the mood: too short to speak for despair. */
    if (sink->want_despair && numbers && seg->speech_s >= m->despair_min_speech_s) {
        snprintf(text, sizeof text, "low, slow voice: pitch %+.1f semitones, loudness %+.1f dB, pace x%.2f of this %s's baseline",
                 d_f0, d_level, rate_ratio, v->whose);
        emit(sink, "despair", despair, v->seg_t_start, v->seg_t_end, json_deep_copy(numbers), text);
    }
    json_decref(numbers);

    /* Calm speech keeps the baseline current; raised speech must not become it. */
    if (aroused < m->baseline_adapt_below) {
        double a = m->baseline_adapt_rate;
        v->base_f0_st += a * d_f0;
        v->base_level_db += a * d_level;
        v->base_range_st += a * d_range;
        v->base_rate += a * (seg->rate - v->base_rate);
        for (int f = 0; f < CW_VF_COUNT; f++)
            v->base_x[f] += a * (features->x[f] - v->base_x[f]);
    }
}

/* YIN's harmonic errors, many more in telephone-band audio where the
 * high-pass has removed the fundamental: a frame measured at twice or three
 * times its pitch (the strongest harmonic left), or at half of it. Such a
 * frame lies that interval (give or take the intonation) from the talk
 * spurt's median, where real intonation seldom goes, and would count as
 * pitch range and raised pitch. A frame that lands within within_st of the
 * median once divided or multiplied by 2 or 3 is moved there; a frame not
 * near such an interval away is real intonation and stays. The errors pull
 * the median too, so it is taken again after each pass until no frame
 * moves (a few passes at most). 0 disables. */
static void fold_harmonic_errors(float *f0_st, size_t n, float *buf, double within_st)
{
    /* Semitones of the ratios 2, 3 and 1/2, 1/3 (12 log2 3 = 19.02). */
    static const double HARMONIC_ST[] = {12.0, 19.0196, -12.0, -19.0196};
    enum { MAX_PASSES = 4 };
    if (within_st <= 0 || n == 0)
        return;
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        double median = quantile_of(f0_st, n, buf, 0.5);
        size_t moved = 0;
        for (size_t i = 0; i < n; i++) {
            double d = f0_st[i] - median;
            for (size_t h = 0; h < sizeof HARMONIC_ST / sizeof HARMONIC_ST[0]; h++) {
                if (fabs(d - HARMONIC_ST[h]) <= within_st) {
                    f0_st[i] -= (float)HARMONIC_ST[h];
                    moved++;
                    break;
                }
            }
        }
        if (moved == 0)
            break;
    }
}

static double line_noise_db(const cw_voice_t *v, double level_db)
{
    double clean = v->model->segment_clean_snr_db;
    if ((double)v->quiet_hist_level.count * FRAME_S < MIN_QUIET_S)
        return 0;
    double snr = level_db - histogram_quantile(&v->quiet_hist_level, 0.5);
    return snr >= clean ? 0 : snr <= 0 ? clean : clean - snr;
}

static void measure_features(cw_voice_t *v, const segment_stats_t *seg, cw_voice_segment_t *out)
{
    size_t n = v->seg_voiced;
    float *buf = v->sort_buf;
    memset(out, 0, sizeof *out);
    out->t_start = v->seg_t_start;
    out->t_end = v->seg_t_end;
    out->voiced_s = seg->voiced_s;
    out->speech_s = seg->speech_s;
    out->has_baseline = v->has_baseline;
    out->x[CW_VF_F0_ST] = seg->f0_st;
    out->x[CW_VF_RANGE_ST] = seg->range_st;
    out->x[CW_VF_LEVEL_DYN_DB] = quantile_of(v->seg_level, n, buf, 0.9) - quantile_of(v->seg_level, n, buf, 0.1);
    out->x[CW_VF_RATE_SYL_S] = seg->rate;
    out->x[CW_VF_VOICED_FRAC] = v->seg_speech_frames ? (double)n / (double)v->seg_speech_frames : 0;
    out->x[CW_VF_ALPHA_DB] = quantile_of(v->seg_alpha, n, buf, 0.5);
    out->x[CW_VF_HAMMARBERG_DB] = quantile_of(v->seg_hammarberg, n, buf, 0.5);
    out->x[CW_VF_PITCH_CONF] = v->seg_conf_n ? quantile_of(v->seg_conf, v->seg_conf_n, buf, 0.5) : 0;
    out->x[CW_VF_PEAK_LEVEL_DB] = quantile_of(v->seg_level, n, buf, 0.95) - seg->level_db;
    out->x[CW_VF_LEVEL_DB] = seg->level_db;
    out->x[CW_VF_LINE_NOISE_DB] = line_noise_db(v, seg->level_db);
}

/* The phrase's pitch range over its confidently tracked frames, for flat
 * affect; NAN when too few of them. Frames are already folded. */
static double confident_range(cw_voice_t *v)
{
    size_t n = 0;
    for (size_t i = 0; i < v->seg_voiced; i++)
        if (v->seg_voiced_conf[i] >= v->model->flat_min_pitch_conf)
            v->seg_scratch[n++] = v->seg_f0[i];
    if ((double)n * FRAME_S < v->model->flat_min_phrase_voiced_s)
        return NAN;
    return quantile_of(v->seg_scratch, n, v->sort_buf, 0.9) - quantile_of(v->seg_scratch, n, v->sort_buf, 0.1);
}

static void remember_phrase(cw_voice_t *v)
{
    double range = confident_range(v);
    if (isnan(range))
        return;
    v->recent_range_st[v->recent_count % RECENT_PHRASES] = (float)range;
    v->recent_end_s[v->recent_count % RECENT_PHRASES] = v->seg_t_end;
    v->recent_count++;
}

static void close_segment(cw_voice_t *v, cue_sink_t *sink)
{
    const cw_voice_model_t *m = v->model;
    v->in_segment = false;
    size_t n = v->seg_voiced;
    double speech_s = (double)v->seg_speech_frames * FRAME_S;
    bool judged = (double)n * FRAME_S >= m->segment_min_voiced_s;
    /* A spurt too short for statistics has too few frames for a trusted
     * median either, so it enters the summary as measured. */
    if (judged)
        fold_harmonic_errors(v->seg_f0, n, v->sort_buf, m->segment_harmonic_fold_within_st);
    for (size_t i = 0; i < n; i++) {
        histogram_add(&v->all_hist_f0, v->seg_f0[i], +1);
        histogram_add(&v->all_hist_level, v->seg_level[i], +1);
    }
    if (!judged)
        return;
    segment_stats_t seg = {
        .f0_st = quantile_of(v->seg_f0, n, v->sort_buf, 0.5),
        .range_st = quantile_of(v->seg_f0, n, v->sort_buf, 0.9) - quantile_of(v->seg_f0, n, v->sort_buf, 0.1),
        .level_db = quantile_of(v->seg_level, n, v->sort_buf, 0.5),
        .rate = speech_s > 0 ? (double)v->seg_nuclei / speech_s : 0,
        .voiced_s = (double)n * FRAME_S,
        .speech_s = speech_s,
    };
    cw_voice_segment_t features;
    measure_features(v, &seg, &features);
    features.prior_anger = logistic(linear_logit(&m->prior, features.x));
    features.relative_anger = v->has_baseline ? relative_anger(v, &features) : 0;
    if (v->observer)
        v->observer(v->observer_ctx, &features);
    if (sink->want_anger && !v->has_baseline)
        if (prior_reported(m, features.prior_anger) > 0)
            judge_prior(v, &features, sink);
    remember_phrase(v);
    if (!v->has_baseline) {
        /* The baseline is this caller's calm voice: speech already judged
         * aroused must not become it. */
        if (features.prior_anger >= m->baseline_exclude_prior || judged_early(v, &seg, &features, sink))
            return;
        for (size_t i = 0; i < n; i++) {
            histogram_add(&v->base_hist_f0, v->seg_f0[i], +1);
            histogram_add(&v->base_hist_level, v->seg_level[i], +1);
        }
        if (v->base_n_ranges < MAX_BASELINE_SEGMENTS) {
            memcpy(v->base_seg_x[v->base_n_ranges], features.x, sizeof features.x);
            v->base_ranges[v->base_n_ranges++] = seg.range_st;
        }
        v->base_nuclei += v->seg_nuclei;
        v->base_speech_frames += v->seg_speech_frames;
        if ((double)v->base_hist_f0.count * FRAME_S >= m->baseline_voiced_s)
            compute_baseline(v);
        return;
    }
    if (sink->want_anger || sink->want_despair)
        judge_segment(v, &seg, &features, sink);
}

/* Severity grows with persistence: until the voice has stayed flat for
 * persist_speech_s of speech, a window scores at most brief_max_score (a
 * tired minute is not a critical alert). The streak counts the speech
 * since the previous judgement. */
static double persisted_flat_score(cw_voice_t *v, double score, double window_speech_s)
{
    const cw_voice_model_t *m = v->model;
    double hop_s = (double)v->win_speech_since_judged * FRAME_S;
    if (hop_s <= 0 || hop_s > window_speech_s)
        hop_s = window_speech_s;
    if (score >= m->flat_persist_above)
        v->flat_streak_speech_s += v->flat_streak_speech_s > 0 ? hop_s : window_speech_s;
    else
        v->flat_streak_speech_s = 0;
    if (v->flat_streak_speech_s < m->flat_persist_speech_s && score > m->flat_brief_max_score)
        return m->flat_brief_max_score;
    return score;
}

static void judge_flat(cw_voice_t *v, double t_end, cue_sink_t *sink)
{
    const cw_voice_model_t *m = v->model;
    double speech_s = (double)v->window_len * FRAME_S;
    double voiced_s = (double)v->win_hist_f0.count * FRAME_S;
    if (voiced_s < 1.0)
        return;
    double spread = (histogram_quantile(&v->win_hist_f0, 0.9) - histogram_quantile(&v->win_hist_f0, 0.1)) /
                    P10_P90_PER_SD;
    double dynamics = histogram_quantile(&v->win_hist_level, 0.9) - histogram_quantile(&v->win_hist_level, 0.1);
    double rate = (double)v->win_nuclei / speech_s;
    size_t oldest = (v->window_head + v->window_cap - v->window_len) % v->window_cap;
    double t_start = v->window[oldest].t_end - FRAME_S;
    /* The intonation inside phrases, apart from how phrases differ in pitch. */
    float ranges[RECENT_PHRASES];
    size_t n_ranges = 0;
    size_t have = v->recent_count < RECENT_PHRASES ? v->recent_count : RECENT_PHRASES;
    for (size_t i = 0; i < have; i++) {
        size_t at = (v->recent_count - 1 - i) % RECENT_PHRASES;
        if (v->recent_end_s[at] >= t_start)
            ranges[n_ranges++] = v->recent_range_st[at];
    }
    if (n_ranges == 0)
        return;
    float sorted[RECENT_PHRASES];
    double phrase_range = quantile_of(ranges, n_ranges, sorted, 0.5);
    double score = logistic(m->flat_bias + m->flat_f0_spread * (m->flat_norm_f0_spread_st - spread) +
                            m->flat_level_dynamics * (m->flat_norm_level_dynamics_db - dynamics) +
                            m->flat_rate * (m->flat_norm_rate_syl_s - rate) +
                            m->flat_phrase_range * (m->flat_norm_phrase_range_st - phrase_range));
    score = persisted_flat_score(v, score, speech_s);
    json_t *numbers = json_pack("{s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f}", "f0_spread_st", round_to(spread, 0.01),
                                "norm_f0_spread_st", m->flat_norm_f0_spread_st, "level_dynamics_db",
                                round_to(dynamics, 0.1), "norm_level_dynamics_db", m->flat_norm_level_dynamics_db,
                                "rate_syl_s", round_to(rate, 0.01), "norm_rate_syl_s", m->flat_norm_rate_syl_s,
                                "speech_s", round_to(speech_s, 0.1), "phrase_range_st",
                                round_to(phrase_range, 0.01), "norm_phrase_range_st", m->flat_norm_phrase_range_st);
    if (!numbers)
        return;
    char text[512];
    snprintf(text, sizeof text,
             "flat voice: phrases span %.1f semitones of pitch (norm %.1f), pitch spread %.1f semitones "
             "(norm %.1f) over the %s's last %.0f s of speech",
             phrase_range, m->flat_norm_phrase_range_st, spread, m->flat_norm_f0_spread_st, v->whose, speech_s);
    emit(sink, "flat_affect", score, t_start, t_end, numbers, text);
}

static void window_add(cw_voice_t *v, const cw_prosody_frame_t *f, bool nucleus, cue_sink_t *sink)
{
    if (v->window_len == v->window_cap) {
        size_t oldest = (v->window_head + v->window_cap - v->window_len) % v->window_cap;
        window_frame_t *old = &v->window[oldest];
        if (old->voiced) {
            histogram_add(&v->win_hist_f0, old->f0_st, -1);
            histogram_add(&v->win_hist_level, old->level_db, -1);
        }
        if (old->nucleus)
            v->win_nuclei--;
        v->window_len--;
    }
    window_frame_t *w = &v->window[v->window_head];
    w->t_end = f->t_end;
    /* Flat affect reads a melody's absence: only confidently tracked pitch
     * counts, or tracking noise passes for intonation. */
    w->voiced = f->voiced && f->pitch_conf >= v->model->flat_min_pitch_conf;
    w->nucleus = nucleus;
    w->f0_st = f->voiced ? (float)cw_semitones(f->f0_hz) : 0;
    w->level_db = f->level_db;
    if (w->voiced) {
        histogram_add(&v->win_hist_f0, w->f0_st, +1);
        histogram_add(&v->win_hist_level, w->level_db, +1);
    }
    if (nucleus)
        v->win_nuclei++;
    v->window_head = (v->window_head + 1) % v->window_cap;
    v->window_len++;
    v->win_speech_since_judged++;
    const cw_voice_model_t *m = v->model;
    if (sink->want_flat && (double)v->window_len * FRAME_S >= m->flat_min_speech_s &&
        (double)v->win_speech_since_judged * FRAME_S >= m->flat_hop_speech_s) {
        judge_flat(v, f->t_end, sink);
        v->win_speech_since_judged = 0;
    }
}

/* One frame, now that the frames around it are known. */
static void process_frame(cw_voice_t *v, const cw_prosody_frame_t *f, bool nucleus, cue_sink_t *sink)
{
    if (!f->speech) {
        histogram_add(&v->quiet_hist_level, f->level_db, +1);
        if (v->in_segment)
            close_segment(v, sink);
        return;
    }
    if (!v->in_segment) {
        v->in_segment = true;
        v->seg_t_start = f->t_end - FRAME_S;
        v->seg_voiced = 0;
        v->seg_conf_n = 0;
        v->seg_speech_frames = 0;
        v->seg_nuclei = 0;
    }
    v->seg_t_end = f->t_end;
    v->seg_speech_frames++;
    v->all_speech_frames++;
    if (nucleus) {
        v->seg_nuclei++;
        v->all_nuclei++;
    }
    if (f->voiced && v->seg_voiced < v->seg_cap) {
        float st = (float)cw_semitones(f->f0_hz);
        v->seg_f0[v->seg_voiced] = st;
        v->seg_level[v->seg_voiced] = f->level_db;
        v->seg_alpha[v->seg_voiced] = f->alpha_db;
        v->seg_hammarberg[v->seg_voiced] = f->hammarberg_db;
        v->seg_voiced_conf[v->seg_voiced] = f->pitch_conf;
        v->seg_voiced++;
    }
    if (v->seg_conf_n < v->seg_cap)
        v->seg_conf[v->seg_conf_n++] = f->pitch_conf;
    window_add(v, f, nucleus, sink);
    if (v->seg_speech_frames >= v->seg_max_frames)
        close_segment(v, sink);
}

/* A syllable nucleus: a voiced speech frame that is the loudest of the
 * frames within half_window_s around it and stands prominence_db above the
 * quietest frame on each side within three half windows (the dips that
 * separate it from its neighbours). */
static bool is_nucleus(const cw_voice_t *v, unsigned long long centre)
{
    const cw_prosody_frame_t *c = &v->delay[centre % v->delay_len];
    if (!c->speech || !c->voiced)
        return false;
    unsigned long long reach = 3 * v->half_window;
    unsigned long long first = centre >= reach ? centre - reach : 0;
    unsigned long long last = centre + reach;
    if (last >= v->delay_pushed)
        last = v->delay_pushed - 1;
    float dip_before = c->level_db, dip_after = c->level_db;
    for (unsigned long long i = first; i <= last; i++) {
        const cw_prosody_frame_t *f = &v->delay[i % v->delay_len];
        unsigned long long dist = i < centre ? centre - i : i - centre;
        if (dist <= v->half_window) {
            if (i < centre && f->level_db >= c->level_db)
                return false;
            if (i > centre && f->level_db > c->level_db)
                return false;
        }
        if (i < centre && f->level_db < dip_before)
            dip_before = f->level_db;
        if (i > centre && f->level_db < dip_after)
            dip_after = f->level_db;
    }
    double prominence = v->model->syllable_prominence_db;
    return c->level_db - dip_before >= prominence && c->level_db - dip_after >= prominence;
}

static void drain_delay(cw_voice_t *v, unsigned long long upto, cue_sink_t *sink)
{
    while (v->delay_done < upto) {
        unsigned long long centre = v->delay_done++;
        process_frame(v, &v->delay[centre % v->delay_len], is_nucleus(v, centre), sink);
    }
}

size_t cw_voice_feed(cw_voice_t *v, const cw_prosody_frame_t *frames, size_t n, bool want_anger, bool want_despair,
                     bool want_flat, cw_cue_t *out, size_t cap)
{
    cue_sink_t sink = {out, cap, 0, want_anger, want_despair, want_flat};
    for (size_t i = 0; i < n; i++) {
        v->delay[v->delay_pushed % v->delay_len] = frames[i];
        v->delay_pushed++;
        if (v->delay_pushed > 3 * v->half_window)
            drain_delay(v, v->delay_pushed - 3 * v->half_window, &sink);
    }
    return sink.n;
}

size_t cw_voice_flush(cw_voice_t *v, bool want_anger, bool want_despair, bool want_flat, cw_cue_t *out,
                      size_t cap)
{
    cue_sink_t sink = {out, cap, 0, want_anger, want_despair, want_flat};
    drain_delay(v, v->delay_pushed, &sink);
    if (v->in_segment)
        close_segment(v, &sink);
    return sink.n;
}

json_t *cw_voice_summary(const cw_voice_t *v)
{
    double voiced_s = round_to((double)v->all_hist_f0.count * FRAME_S, 0.01);
    if (voiced_s < 1.0)
        return json_pack("{s:f}", "voiced_s", voiced_s);
    double speech_s = (double)v->all_speech_frames * FRAME_S;
    double spread =
        (histogram_quantile(&v->all_hist_f0, 0.9) - histogram_quantile(&v->all_hist_f0, 0.1)) / P10_P90_PER_SD;
    double dynamics = histogram_quantile(&v->all_hist_level, 0.9) - histogram_quantile(&v->all_hist_level, 0.1);
    return json_pack("{s:f, s:f, s:f, s:f, s:f}", "voiced_s", voiced_s, "f0_median_hz",
                     round_to(hz_of(histogram_quantile(&v->all_hist_f0, 0.5)), 0.1), "f0_spread_st",
                     round_to(spread, 0.01), "level_dynamics_db", round_to(dynamics, 0.1), "rate_syl_s",
                     round_to(speech_s > 0 ? (double)v->all_nuclei / speech_s : 0, 0.01));
}
