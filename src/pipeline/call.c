/* call.c - see callwatch/call.h */
#include "callwatch/call.h"

#include "callwatch/alert.h"
#include "callwatch/cues.h"
#include "callwatch/event.h"
#include "callwatch/leg.h"
#include "callwatch/lexicon.h"
#include "callwatch/models.h"
#include "callwatch/repeats.h"
#include "callwatch/redact.h"
#include "callwatch/turns.h"
#include "callwatch/voice.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <time.h>

/* Frames moved per pull: 4096 is 85 ms at 48 kHz and 0.5 s at 8 kHz, small
 * enough to keep live latency low and large enough to amortise the calls. */
#define PULL_FRAMES 4096
/* A pump of an offline call stops after this many frames so that many files
 * analysed together advance side by side. */
#define OFFLINE_PUMP_FRAMES (PULL_FRAMES * 16)

enum call_state { CALL_RUNNING, CALL_ENDING, CALL_DONE };

struct cw_call {
    const cw_config_t *cfg;
    cw_outbox_t *outbox;
    cw_source_t *source;
    cw_source_info_t info;
    char call_id[CW_NAME_MAX];
    bool offline;
    bool no_asr;

    cw_leg_t *legs[CW_LEG_COUNT];
    cw_asr_stream_t *streams[CW_LEG_COUNT];
    cw_asr_mode_t own_mode;                /* from the line or [asr] mode */
    _Atomic bool degraded[CW_LEG_COUNT];   /* overload: switched to cue mode */
    struct leg_ctx {
        cw_call_t *call;
        int leg;
    } ctx[CW_LEG_COUNT];
    float *buf[CW_LEG_COUNT];

    /* Detection: fed from decoder threads (words) and the ingest thread
     * (turn-taking), so under detect_lock. */
    pthread_mutex_t detect_lock;
    cw_models_t *models; /* the lexicon and voice model, shared with other calls */
    cw_cues_t *cues[CW_LEG_COUNT];
    cw_turns_t *turns;
    cw_repeats_t *agent_repeats;
    cw_alert_engine_t *alerts;
    cw_redactor_t *redact[CW_LEG_COUNT]; /* used by the leg's decoder callback only */

    /* Voice cues run on the ingest thread, from each leg's prosody. */
    cw_voice_t *voice[CW_LEG_COUNT];
    cw_prosody_frame_t *prosody_buf;
    size_t prosody_cap;

    _Atomic int state;
    _Atomic int legs_pending;
    _Atomic uint64_t t_ms; /* call audio processed, for the events' `t` */
    bool failed;
    char end_reason[CW_ERROR_MAX];
    unsigned long long dropped_at_end[CW_LEG_COUNT];
    double duration_s;
};

static double call_t(const cw_call_t *call)
{
    return (double)atomic_load(&call->t_ms) / 1000.0;
}

static void post_call_end(cw_call_t *call)
{
    json_t *voice = json_object();
    for (int leg = 0; voice && leg < CW_LEG_COUNT; leg++)
        if (call->voice[leg] && call->legs[leg])
            json_object_set_new(voice, cw_leg_name(leg), cw_voice_summary(call->voice[leg]));
    cw_event_t *ev = cw_event_call_end(call->call_id, call_t(call), call->end_reason, call->duration_s,
                                       call->dropped_at_end, voice);
    cw_outbox_post(call->outbox, &ev);
    atomic_store(&call->state, CALL_DONE);
}

/* Caller holds detect_lock. */
static void offer_alert(cw_call_t *call, int leg, const char *kind, double score, double t_start, double t_end,
                        double t_now, json_t *evidence, const char *text)
{
    cw_event_t *ev = cw_alert_engine_offer(call->alerts, leg, kind, score, t_start, t_end, t_now, evidence, text);
    if (ev)
        cw_outbox_post(call->outbox, &ev);
}

/* Cue mode spots phrases for the word-cue detector alone: a leg without one
 * (the agent's) would spend decoder time on nothing a detector reads, and
 * show a misleading transcript, so it is not recognised at all. */
static cw_asr_mode_t leg_asr_mode(const cw_call_t *call, int leg, cw_asr_mode_t mode)
{
    return mode == CW_ASR_CUE && !call->cues[leg] ? CW_ASR_OFF : mode;
}

/* Runs on a decoder thread. */
static void on_transcript(void *user, const cw_transcript_t *tr)
{
    struct leg_ctx *ctx = user;
    cw_call_t *call = ctx->call;
    tr = cw_redact_apply(call->redact[ctx->leg], tr); /* before anything sees the words */
    /* t is where the recogniser stood in the call's audio when it produced
     * this: live, that is the audio just captured; offline, where ingest
     * may run far ahead of the decoders, it keeps t meaningful and the
     * output reproducible. */
    double t = tr->t_end;
    cw_event_t *ev = cw_event_transcript(call->call_id, t, tr);
    cw_outbox_post(call->outbox, &ev);
    if (ctx->leg == CW_LEG_AGENT && tr->final && call->agent_repeats) {
        cw_repeat_cue_t rc;
        pthread_mutex_lock(&call->detect_lock);
        if (cw_repeats_feed(call->agent_repeats, tr, &rc))
            offer_alert(call, ctx->leg, "flat_affect", rc.score, rc.t_start, rc.t_end, t, rc.evidence, rc.text);
        pthread_mutex_unlock(&call->detect_lock);
    }
    if (!call->cues[ctx->leg] || (!tr->final && tr->n_words == 0))
        return;
    pthread_mutex_lock(&call->detect_lock);
    cw_cue_t cues[8];
    size_t n = cw_cues_feed(call->cues[ctx->leg], tr, cues, sizeof cues / sizeof cues[0]);
    for (size_t i = 0; i < n; i++)
        offer_alert(call, ctx->leg, cues[i].kind, cues[i].score, cues[i].t_start, cues[i].t_end, t,
                    cues[i].evidence, cues[i].text);
    pthread_mutex_unlock(&call->detect_lock);
}

/* legs_pending counts each leg's decoding plus the ingest side (voice cues
 * flushed); whoever finishes last posts call_end, so it follows every
 * transcript and every alert. */
static void release_pending(cw_call_t *call)
{
    if (atomic_fetch_sub(&call->legs_pending, 1) == 1)
        post_call_end(call);
}

/* Runs on a decoder thread, or on the call's thread when nothing was pending. */
static void on_drained(void *user)
{
    struct leg_ctx *ctx = user;
    release_pending(ctx->call);
}

static void make_call_id(char *out, size_t cap, const char *hint)
{
    static _Atomic unsigned counter;
    unsigned n = atomic_fetch_add(&counter, 1) + 1;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &tm);
    snprintf(out, cap, "%s-%s-%u", hint && hint[0] ? hint : "call", stamp, n);
}

static void destroy_detectors(cw_call_t *call)
{
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        cw_cues_destroy(&call->cues[leg]);
        cw_redactor_destroy(&call->redact[leg]);
    }
    cw_turns_destroy(&call->turns);
    cw_repeats_destroy(&call->agent_repeats);
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        cw_voice_destroy(&call->voice[leg]);
    free(call->prosody_buf);
    cw_alert_engine_destroy(&call->alerts);
    cw_models_release(&call->models);
    pthread_mutex_destroy(&call->detect_lock);
}

/* Frees a call and everything it owns except its source. */
static void free_call_parts(cw_call_t *call)
{
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        cw_leg_destroy(&call->legs[leg]);
        cw_asr_stream_destroy(&call->streams[leg]);
        free(call->buf[leg]);
    }
    destroy_detectors(call);
    free(call);
}

/* The detectors of the cue taxonomy and the engine that turns their
 * evidence into alerts. Word cues (anger, despair, escalation) are the
 * customer's. */
/* A leg below 16 kHz that no 8 kHz decoder takes is decoded by the 16 kHz
 * model on upsampled audio, which loses most words: say so on stderr (once
 * per rate, not once per call) rather than mis-decode it silently. */
static void report_rate_unserved(const cw_call_t *call, int leg, const cw_config_t *cfg)
{
    static _Atomic int warned_rate;
    int rate = call->info.rate_hz[leg];
    if (rate >= CW_ASR_RATE || cw_asr_stream_rate(call->streams[leg]) != CW_ASR_RATE ||
        atomic_exchange(&warned_rate, rate) == rate)
        return;
    if (rate == CW_ASR_RATE_8K && !cfg->asr_model_8k[0])
        fprintf(stderr,
                "callwatch: call %s: %s leg is 8000 Hz and no 8 kHz acoustic model is set, so the 16 kHz model "
                "decodes it upsampled and misses most words; set [asr] model_8k (see README, Telephone lines)\n",
                call->call_id, cw_leg_name(leg));
    else
        fprintf(stderr,
                "callwatch: call %s: %s leg is %d Hz: no acoustic model serves that rate (the 16 kHz model needs "
                "16 kHz audio, [asr] model_8k takes exactly 8000 Hz); decoded by the 16 kHz model upsampled, "
                "expect many word errors\n",
                call->call_id, cw_leg_name(leg), rate);
}

static int make_detectors(cw_call_t *call, const cw_config_t *cfg, cw_error_t *err)
{
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        if (!(call->redact[leg] = cw_redactor_new(cfg, err)))
            return err->code ? err->code : CW_ERR_INTERNAL;
    call->models = cw_models_get(cfg, err);
    if (!call->models)
        return err->code ? err->code : CW_ERR_INTERNAL;
    cw_cue_params_t cp = {.min_conf = cfg->detect_word_min_conf,
                          .window_s = cfg->detect_word_window_s,
                          .partial_trust = cfg->detect_partial_trust,
                          .partial_settle_s = cfg->detect_partial_settle_s};
    call->cues[CW_LEG_CUSTOMER] = cw_cues_new(cw_models_lexicon(call->models), &cp, cw_leg_name(CW_LEG_CUSTOMER), err);
    if (!call->cues[CW_LEG_CUSTOMER])
        return err->code;
    static const char *const whose[CW_LEG_COUNT] = {"agent", "caller"};
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        call->voice[leg] = cw_voice_new(cw_models_voice(call->models), whose[leg], err);
        if (!call->voice[leg])
            return err->code;
    }
    cw_repeat_params_t rp = {
        .min_conf = cfg->detect_word_min_conf,
        .min_words = cfg->detect_repeat_min_words,
        .count = cfg->detect_repeat_count,
        .window_s = cfg->detect_repeat_window_s,
        .similarity = cfg->detect_repeat_similarity,
        .score_at_count = cfg->detect_repeat_score,
        .score_step = cfg->detect_repeat_score_step,
    };
    call->agent_repeats = cw_repeats_new(&rp, err);
    if (!call->agent_repeats)
        return err->code;
    cw_turns_params_t tp = {.talk_over_s = cfg->detect_talk_over_s,
                            .dead_air_s = cfg->detect_dead_air_s,
                            .crosstalk_db = cfg->detect_crosstalk_db,
                            .loud_floor_db = cfg->vad_threshold_db,
                            .loud_margin_db = cfg->vad_margin_db,
                            .onset_s = cfg->vad_onset_ms / 1000.0,
                            .hold_s = cfg->vad_hangover_ms / 1000.0};
    call->turns = cw_turns_new(&tp, err);
    if (!call->turns)
        return err->code;
    cw_alert_params_t ap = {
        .info_score = cfg->alert_info_score,
        .warning_score = cfg->alert_warning_score,
        .critical_score = cfg->alert_critical_score,
        .cooldown_s = cfg->alert_cooldown_s,
    };
    snprintf(ap.new_category_kinds, sizeof ap.new_category_kinds, "%s", cfg->alert_new_category_kinds);
    call->alerts = cw_alert_engine_new(call->call_id, &ap, err);
    if (!call->alerts)
        return err->code;
    return CW_OK;
}

/* Voice cues of one leg from the prosody of the audio just pushed; at the
 * end of the leg (flush) the last segment is judged too. The caller's voice
 * speaks for anger and despair, the agent's for flat affect. */
static void detect_voice(cw_call_t *call, int leg, bool flush)
{
    if (!call->legs[leg] || !call->voice[leg])
        return;
    bool customer = leg == CW_LEG_CUSTOMER;
    cw_cue_t cues[6];
    size_t n = 0;
    size_t got;
    while ((got = cw_leg_take_prosody(call->legs[leg], call->prosody_buf, call->prosody_cap)) > 0) {
        cw_turns_frames(call->turns, leg, call->prosody_buf, got);
        cw_cue_t more[3];
        size_t m = cw_voice_feed(call->voice[leg], call->prosody_buf, got, customer, customer, !customer, more, 3);
        for (size_t i = 0; i < m; i++) {
            if (n < sizeof cues / sizeof cues[0])
                cues[n++] = more[i];
            else
                json_decref(more[i].evidence);
        }
    }
    if (flush) {
        cw_cue_t more[3];
        size_t m = cw_voice_flush(call->voice[leg], customer, customer, !customer, more, 3);
        for (size_t i = 0; i < m; i++) {
            if (n < sizeof cues / sizeof cues[0])
                cues[n++] = more[i];
            else
                json_decref(more[i].evidence);
        }
    }
    if (n == 0)
        return;
    double now = cw_leg_seconds(call->legs[leg]);
    pthread_mutex_lock(&call->detect_lock);
    for (size_t i = 0; i < n; i++)
        offer_alert(call, leg, cues[i].kind, cues[i].score, cues[i].t_start, cues[i].t_end, now, cues[i].evidence,
                    cues[i].text);
    pthread_mutex_unlock(&call->detect_lock);
}

/* Turn-taking over both legs, once both have been pushed up to now_s. */
static void detect_turns(cw_call_t *call, double now_s)
{
    if (!call->legs[CW_LEG_AGENT] || !call->legs[CW_LEG_CUSTOMER])
        return;
    cw_activity_t agent, customer;
    cw_leg_activity(call->legs[CW_LEG_AGENT], &agent);
    cw_leg_activity(call->legs[CW_LEG_CUSTOMER], &customer);
    cw_turn_cue_t cues[4];
    size_t n = cw_turns_update(call->turns, &agent, &customer, now_s, cues, sizeof cues / sizeof cues[0]);
    if (n == 0)
        return;
    pthread_mutex_lock(&call->detect_lock);
    for (size_t i = 0; i < n; i++) {
        char text[256];
        json_t *prosody = json_object();
        json_object_set_new(prosody, strcmp(cues[i].kind, "dead_air") == 0 ? "silence_s" : "overlap_s",
                            json_real(round(cues[i].seconds * 100) / 100));
        json_t *evidence = json_object();
        json_object_set_new(evidence, "turns", prosody);
        if (strcmp(cues[i].kind, "dead_air") == 0)
            snprintf(text, sizeof text, "no one has spoken for %.1f s", cues[i].seconds);
        else
            snprintf(text, sizeof text, "agent talked over the customer for %.1f s", cues[i].seconds);
        offer_alert(call, cues[i].leg, cues[i].kind, cues[i].score, cues[i].t_start, cues[i].t_end, now_s,
                    evidence, text);
    }
    pthread_mutex_unlock(&call->detect_lock);
}

cw_call_t *cw_call_new(const cw_config_t *cfg, cw_asr_pool_t *pool, cw_outbox_t *outbox, cw_source_t **source,
                       const cw_call_opts_t *opts, cw_error_t *err)
{
    cw_call_t *call = calloc(1, sizeof *call);
    if (!call) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating a call");
        return NULL;
    }
    call->cfg = cfg;
    call->outbox = outbox;
    call->source = *source;
    *source = NULL;
    call->info = *cw_source_info(call->source);
    call->offline = opts->offline;
    call->no_asr = opts->no_asr;
    atomic_init(&call->state, CALL_RUNNING);
    atomic_init(&call->legs_pending, 0);
    pthread_mutex_init(&call->detect_lock, NULL);
    atomic_init(&call->t_ms, 0);
    if (opts->call_id && opts->call_id[0])
        snprintf(call->call_id, sizeof call->call_id, "%s", opts->call_id);
    else
        make_call_id(call->call_id, sizeof call->call_id, opts->line);

    if (make_detectors(call, cfg, err) != CW_OK)
        goto error_out;

    int mode = cw_asr_mode_parse(opts->asr_mode && opts->asr_mode[0] ? opts->asr_mode : cfg->asr_mode);
    if (mode < 0) {
        cw_error_set(err, CW_ERR_INVALID, "recognition mode '%s' is neither full nor cue",
                     opts->asr_mode && opts->asr_mode[0] ? opts->asr_mode : cfg->asr_mode);
        goto error_out;
    }
    int n_legs = 0;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        if (!call->info.has_leg[leg])
            continue;
        call->ctx[leg] = (struct leg_ctx){.call = call, .leg = leg};
        call->buf[leg] = calloc(PULL_FRAMES, sizeof(float));
        if (!call->buf[leg]) {
            cw_error_set(err, CW_ERR_NOMEM, "out of memory for call buffers");
            goto error_out;
        }
        if (!call->no_asr) {
            call->streams[leg] =
                cw_asr_stream_new(pool, leg, call->info.rate_hz[leg], call->offline, on_transcript, on_drained,
                                  &call->ctx[leg], err);
            if (!call->streams[leg])
                goto error_out;
            cw_asr_stream_set_mode(call->streams[leg], leg_asr_mode(call, leg, mode));
            report_rate_unserved(call, leg, cfg);
            call->own_mode = (cw_asr_mode_t)mode;
        }
        call->legs[leg] = cw_leg_new(cfg, leg, call->info.rate_hz[leg], PULL_FRAMES, call->streams[leg], err);
        if (!call->legs[leg]) {
            cw_error_prefix(err, "%s leg", cw_leg_name(leg));
            goto error_out;
        }
        if (cw_leg_prosody_capacity(call->legs[leg]) > call->prosody_cap)
            call->prosody_cap = cw_leg_prosody_capacity(call->legs[leg]);
        n_legs++;
    }
    if (n_legs == 0) {
        cw_error_set(err, CW_ERR_INVALID, "%s carries no leg", call->info.description);
        goto error_out;
    }
    call->prosody_buf = calloc(call->prosody_cap, sizeof *call->prosody_buf);
    if (!call->prosody_buf) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory for call buffers");
        goto error_out;
    }
    /* Each decoding leg, plus the ingest side: see release_pending(). */
    atomic_store(&call->legs_pending, (call->no_asr ? 0 : n_legs) + 1);

    cw_call_meta_t meta = {
        .line = opts->line,
        .agent_id = opts->agent_id,
        .team = opts->team,
        .started_at = opts->started_at,
        .source = call->info.description,
        .rate_hz = {call->info.rate_hz[0], call->info.rate_hz[1]},
        .has_leg = {call->info.has_leg[0], call->info.has_leg[1]},
    };
    cw_event_t *ev = cw_event_call_start(call->call_id, 0.0, &meta);
    cw_outbox_post(outbox, &ev);
    return call;

error_out:
    /* Nothing was posted yet, so the half-built call can go quietly. */
    *source = call->source;
    free_call_parts(call);
    return NULL;
}

static void finish_legs(cw_call_t *call, const char *reason, bool failed)
{
    snprintf(call->end_reason, sizeof call->end_reason, "%s", reason);
    call->failed = failed;
    cw_source_stats_t stats;
    cw_source_get_stats(call->source, &stats);
    double longest = 0;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        call->dropped_at_end[leg] = stats.frames_dropped[leg];
        if (!call->legs[leg])
            continue;
        if (call->streams[leg])
            call->dropped_at_end[leg] += cw_asr_stream_dropped(call->streams[leg]);
        double s = cw_leg_seconds(call->legs[leg]);
        if (s > longest)
            longest = s;
    }
    call->duration_s = longest;
    atomic_store(&call->state, CALL_ENDING);
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        if (call->legs[leg]) {
            cw_error_t err;
            cw_leg_finish(call->legs[leg], &err);
            detect_voice(call, leg, true);
        }
    }
    release_pending(call);
}

long cw_call_pump(cw_call_t *call)
{
    if (atomic_load(&call->state) != CALL_RUNNING)
        return 0;
    long total = 0;
    for (;;) {
        size_t got[CW_LEG_COUNT] = {0, 0};
        cw_error_t err;
        cw_error_clear(&err);
        cw_pull_status st = cw_source_pull(call->source, call->buf, PULL_FRAMES, got, &err);
        size_t most = 0;
        for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
            if (!call->legs[leg] || got[leg] == 0)
                continue;
            if (cw_leg_push(call->legs[leg], call->buf[leg], got[leg], &err) != CW_OK) {
                char reason[CW_ERROR_MAX + 16];
                snprintf(reason, sizeof reason, "error: %s", err.msg);
                finish_legs(call, reason, true);
                return total;
            }
            detect_voice(call, leg, false);
            if (got[leg] > most)
                most = got[leg];
        }
        total += (long)most;
        double t = 0;
        for (int leg = 0; leg < CW_LEG_COUNT; leg++)
            if (call->legs[leg] && cw_leg_seconds(call->legs[leg]) > t)
                t = cw_leg_seconds(call->legs[leg]);
        atomic_store(&call->t_ms, (uint64_t)(t * 1000.0 + 0.5));
        if (most > 0)
            detect_turns(call, t);

        if (st == CW_PULL_EOF) {
            const char *why = cw_source_end_reason(call->source);
            finish_legs(call, why ? why : "eof", false);
            return total;
        }
        if (st == CW_PULL_ERROR) {
            char reason[CW_ERROR_MAX + 16];
            snprintf(reason, sizeof reason, "device_lost: %s", err.msg);
            finish_legs(call, reason, true);
            return total;
        }
        if (most == 0 || (call->offline && total >= OFFLINE_PUMP_FRAMES))
            return total;
    }
}

void cw_call_hangup(cw_call_t *call, const char *reason)
{
    if (atomic_load(&call->state) == CALL_RUNNING)
        finish_legs(call, reason, false);
}

bool cw_call_done(const cw_call_t *call)
{
    return atomic_load(&call->state) == CALL_DONE;
}

bool cw_call_ended(const cw_call_t *call)
{
    return atomic_load(&call->state) != CALL_RUNNING;
}

bool cw_call_failed(const cw_call_t *call)
{
    return call->failed;
}

const char *cw_call_id(const cw_call_t *call)
{
    return call->call_id;
}

void cw_call_destroy(cw_call_t **call_p)
{
    if (!call_p || !*call_p)
        return;
    cw_call_t *call = *call_p;
    cw_source_destroy(&call->source);
    free_call_parts(call);
    *call_p = NULL;
}

void cw_call_frames_dropped(const cw_call_t *call, unsigned long long dropped[CW_LEG_COUNT])
{
    cw_source_stats_t stats;
    cw_source_get_stats(call->source, &stats);
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        dropped[leg] = stats.frames_dropped[leg] + (call->streams[leg] ? cw_asr_stream_dropped(call->streams[leg]) : 0);
}

const cw_config_t *cw_call_config(const cw_call_t *call)
{
    return call->cfg;
}

void cw_call_abandon(cw_call_t *call, const char *why)
{
    if (atomic_load(&call->state) != CALL_ENDING)
        return;
    size_t len = strnlen(call->end_reason, sizeof call->end_reason);
    snprintf(call->end_reason + len, sizeof call->end_reason - len, " (%s)", why);
    post_call_end(call);
}

void cw_call_set_asr_mode(cw_call_t *call, int leg, cw_asr_mode_t mode)
{
    for (int l = 0; l < CW_LEG_COUNT; l++)
        if ((leg < 0 || leg == l) && call->streams[l])
            cw_asr_stream_set_mode(call->streams[l], leg_asr_mode(call, l, mode));
}

cw_asr_mode_t cw_call_asr_mode(const cw_call_t *call, int leg)
{
    return leg >= 0 && leg < CW_LEG_COUNT && call->streams[leg] ? cw_asr_stream_mode(call->streams[leg])
                                                                 : CW_ASR_FULL;
}

void cw_call_set_degraded(cw_call_t *call, int leg, bool degraded)
{
    if (leg < 0 || leg >= CW_LEG_COUNT)
        return;
    atomic_store(&call->degraded[leg], degraded);
    cw_call_set_asr_mode(call, leg, degraded ? CW_ASR_CUE : call->own_mode);
}

bool cw_call_degraded(const cw_call_t *call, int leg)
{
    return leg >= 0 && leg < CW_LEG_COUNT && atomic_load(&call->degraded[leg]);
}

bool cw_call_can_degrade(const cw_call_t *call, int leg)
{
    return leg >= 0 && leg < CW_LEG_COUNT && call->streams[leg] && call->own_mode == CW_ASR_FULL &&
           !atomic_load(&call->degraded[leg]);
}
