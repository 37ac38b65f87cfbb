/* turns.c - see callwatch/turns.h */
#include "callwatch/turns.h"

#include "callwatch/vad.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* Re-offer a growing dead air at most this often (seconds of call audio):
 * enough for the engine to escalate its severity, not a flood. */
#define DEAD_AIR_REOFFER_S 1.0

/* Frames a leg may run ahead of the other (10 s at 10 ms): far more than one
 * push of any source, so only a leg that stopped delivering overflows. */
#define PENDING_FRAMES 1024

/* The leg's noise is the mean level (dB) of its VAD-quiet frames, followed
 * with these weights per frame: quieter frames pull it down within ~100 ms,
 * frames up to the loudness margin above it move it within ~200 ms, louder
 * ones (the onset frames before the VAD calls them speech, or a new noise
 * bed) only within ~5 s, so one onset barely lifts it. */
#define NOISE_WEIGHT_DOWN 0.1
#define NOISE_WEIGHT_NEAR 0.05
#define NOISE_WEIGHT_LOUD 0.002

/* Share of the onset that must be own frames, as in the VAD (3/4). */
#define ONSET_SHARE 0.75

/* Longest onset window judged, in frames (one bit each in a uint64_t). */
#define ONSET_MAX_FRAMES 64

/* Seconds per frame: the legs measure 10 ms VAD frames at 16 kHz. */
#define FRAME_S ((double)CW_VAD_FRAME / 16000.0)

#define AGENT 0
#define CUSTOMER 1

/* One leg's own speech, built frame by frame. */
typedef struct own_speech {
    double noise_db;      /* mean level of the leg's quiet frames, dBFS */
    bool noise_known;
    bool talking;
    double start_s;       /* talking: start of the first own frame of the spurt */
    double last_s;        /* end of the last own frame */
    uint64_t recent;      /* own (1) or not, one bit per frame, newest in bit 0 */
} own_speech_t;

typedef struct frame_ring {
    float level_db[PENDING_FRAMES];
    bool speech[PENDING_FRAMES];
    double t_end[PENDING_FRAMES];
    size_t head, count;
} frame_ring_t;

struct cw_turns {
    cw_turns_params_t params;
    int onset_window;              /* frames of the onset window (<= ONSET_MAX_FRAMES) */
    int onset_frames;              /* own frames in it that start a spurt */
    frame_ring_t pending[2];
    own_speech_t own[2];
    double candidate_agent_start;  /* agent spurt that began inside a customer spurt, < 0 none */
    double candidate_customer_start;
    double reported_agent_spurt;   /* agent spurt start already reported as talk-over */
    bool have_cue;
    cw_turn_cue_t cue;             /* a talk-over found while judging frames, not yet returned */
    double dead_air_from;          /* silence start last reported, < 0 none */
    double dead_air_last_offer;
};

cw_turns_t *cw_turns_new(const cw_turns_params_t *params, cw_error_t *err)
{
    if (!params || !(params->talk_over_s > 0) || !(params->dead_air_s > 0)) {
        cw_error_set(err, CW_ERR_INVALID, "turn-taking: talk_over_s and dead_air_s must be > 0");
        return NULL;
    }
    if (!(params->crosstalk_db >= 0) || !(params->loud_margin_db >= 0) || !(params->onset_s > 0) ||
        !(params->hold_s > 0)) {
        cw_error_set(err, CW_ERR_INVALID,
                     "turn-taking: crosstalk_db (%g) and loud_margin_db (%g) must be >= 0, onset_s (%g) and "
                     "hold_s (%g) > 0",
                     params->crosstalk_db, params->loud_margin_db, params->onset_s, params->hold_s);
        return NULL;
    }
    cw_turns_t *t = calloc(1, sizeof *t);
    if (!t) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the turn-taking detector");
        return NULL;
    }
    t->params = *params;
    t->onset_window = (int)(params->onset_s / FRAME_S + 0.5);
    if (t->onset_window < 1)
        t->onset_window = 1;
    if (t->onset_window > ONSET_MAX_FRAMES)
        t->onset_window = ONSET_MAX_FRAMES;
    t->onset_frames = (int)ceil(t->onset_window * ONSET_SHARE);
    t->reported_agent_spurt = -1;
    t->candidate_agent_start = -1;
    t->dead_air_from = -1;
    return t;
}

void cw_turns_destroy(cw_turns_t **turns)
{
    if (!turns || !*turns)
        return;
    free(*turns);
    *turns = NULL;
}

static double clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

/* Score of an overlap: at the threshold an info-to-warning 0.55, rising to
 * 1 at three times it, so a long talk-over is worse than a brief one. */
static double talk_over_score(const cw_turns_params_t *p, double overlap_s)
{
    return clamp01(0.55 + 0.45 * (overlap_s - p->talk_over_s) / (2 * p->talk_over_s));
}

/* Dead air at the threshold is a warning (0.6) and becomes critical (0.85+)
 * at twice the threshold. */
static double dead_air_score(const cw_turns_params_t *p, double silence_s)
{
    return clamp01(0.6 + 0.25 * (silence_s - p->dead_air_s) / p->dead_air_s);
}

static void ring_push(frame_ring_t *r, float level_db, bool speech, double t_end)
{
    size_t i = (r->head + r->count) % PENDING_FRAMES;
    r->level_db[i] = level_db;
    r->speech[i] = speech;
    r->t_end[i] = t_end;
    r->count++;
}

static void ring_pop(frame_ring_t *r, float *level_db, bool *speech, double *t_end)
{
    *level_db = r->level_db[r->head];
    *speech = r->speech[r->head];
    *t_end = r->t_end[r->head];
    r->head = (r->head + 1) % PENDING_FRAMES;
    r->count--;
}

/* Whether a frame is the leg's own speech: the VAD has the leg talking, the
 * frame is loud, and it is not the other leg's leak. Also follows the leg's
 * noise on its VAD-quiet frames. */
static bool own_frame(const cw_turns_params_t *p, own_speech_t *o, float level_db, bool speech, float other_db)
{
    if (!speech) {
        double w = !o->noise_known                         ? 1.0
                   : level_db < o->noise_db                 ? NOISE_WEIGHT_DOWN
                   : level_db < o->noise_db + p->loud_margin_db ? NOISE_WEIGHT_NEAR
                                                             : NOISE_WEIGHT_LOUD;
        o->noise_db += w * (level_db - o->noise_db);
        o->noise_known = true;
        return false;
    }
    double loud = p->loud_floor_db;
    if (o->noise_known && o->noise_db + p->loud_margin_db > loud)
        loud = o->noise_db + p->loud_margin_db;
    if (level_db <= loud)
        return false;
    return p->crosstalk_db <= 0 || level_db > other_db - p->crosstalk_db;
}

static int count_bits(uint64_t x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

/* Advances one leg's talk spurt by a frame ending at t_end: a spurt starts
 * when onset_frames of the last onset_window frames were own (the VAD's
 * onset rule), and ends hold_s after its last own frame. True when a spurt
 * started with this frame. */
static bool own_advance(const cw_turns_t *t, own_speech_t *o, bool own, double t_end)
{
    uint64_t window = t->onset_window >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << t->onset_window) - 1);
    o->recent = ((o->recent << 1) | (own ? 1u : 0u)) & window;
    if (own && o->talking) {
        o->last_s = t_end;
        return false;
    }
    if (o->talking && t_end - o->last_s > t->params.hold_s)
        o->talking = false;
    if (!own || o->talking || count_bits(o->recent) < t->onset_frames)
        return false;
    int oldest = 63;
    while (oldest > 0 && !(o->recent >> oldest & 1))
        oldest--;
    o->talking = true;
    o->start_s = t_end - (oldest + 1) * FRAME_S;
    o->last_s = t_end;
    return true;
}

/* Talk-over on the own-speech spurts after a frame ending at t_end: the
 * agent began inside a customer spurt, and both went on together. */
static void judge_talk_over(cw_turns_t *t, bool agent_started)
{
    const own_speech_t *a = &t->own[AGENT], *c = &t->own[CUSTOMER];
    if (agent_started && c->talking && c->start_s < a->start_s) {
        t->candidate_agent_start = a->start_s;
        t->candidate_customer_start = c->start_s;
    }
    if (t->candidate_agent_start < 0)
        return;
    if (!a->talking || !c->talking || a->start_s != t->candidate_agent_start ||
        c->start_s != t->candidate_customer_start || t->reported_agent_spurt == a->start_s) {
        t->candidate_agent_start = -1;
        return;
    }
    double both_until = a->last_s < c->last_s ? a->last_s : c->last_s;
    double overlap = both_until - a->start_s;
    if (overlap < t->params.talk_over_s || t->have_cue)
        return;
    t->cue = (cw_turn_cue_t){.kind = "talk_over", .leg = AGENT, .t_start = a->start_s, .t_end = c->last_s,
                             .score = talk_over_score(&t->params, overlap), .seconds = overlap};
    t->have_cue = true;
    t->reported_agent_spurt = a->start_s;
    t->candidate_agent_start = -1;
}

/* Judges one pair of frames (a leg without its frame counts as silent). */
static void judge_pair(cw_turns_t *t, bool have[2], const float level[2], const bool speech[2], double t_end)
{
    float lv[2];
    for (int leg = 0; leg < 2; leg++)
        lv[leg] = have[leg] ? level[leg] : (float)CW_PROSODY_LEVEL_FLOOR_DB;
    bool started[2] = {false, false};
    for (int leg = 0; leg < 2; leg++) {
        bool own = have[leg] && own_frame(&t->params, &t->own[leg], lv[leg], speech[leg], lv[1 - leg]);
        started[leg] = own_advance(t, &t->own[leg], own, t_end);
    }
    judge_talk_over(t, started[AGENT]);
}

void cw_turns_frames(cw_turns_t *t, int leg, const cw_prosody_frame_t *frames, size_t n)
{
    if (leg != AGENT && leg != CUSTOMER)
        return;
    frame_ring_t *r = &t->pending[leg];
    for (size_t i = 0; i < n; i++) {
        if (r->count == PENDING_FRAMES) {
            /* The other leg delivers nothing: judge our oldest frame alone. */
            float level[2];
            bool speech[2], have[2] = {false, false};
            double t_end;
            ring_pop(r, &level[leg], &speech[leg], &t_end);
            have[leg] = true;
            judge_pair(t, have, level, speech, t_end);
        }
        ring_push(r, frames[i].level_db, frames[i].speech, frames[i].t_end);
    }
}

static void judge_pending(cw_turns_t *t)
{
    frame_ring_t *ra = &t->pending[AGENT], *rc = &t->pending[CUSTOMER];
    while (ra->count > 0 && rc->count > 0) {
        float level[2];
        bool speech[2], have[2] = {true, true};
        double ta, tc;
        ring_pop(ra, &level[AGENT], &speech[AGENT], &ta);
        ring_pop(rc, &level[CUSTOMER], &speech[CUSTOMER], &tc);
        judge_pair(t, have, level, speech, ta > tc ? ta : tc);
    }
}

size_t cw_turns_update(cw_turns_t *t, const cw_activity_t *agent, const cw_activity_t *customer, double now_s,
                       cw_turn_cue_t *out, size_t cap)
{
    size_t n = 0;
    const cw_turns_params_t *p = &t->params;

    judge_pending(t);
    if (t->have_cue && n < cap) {
        out[n++] = t->cue;
        t->have_cue = false;
    }

    /* Dead air: both quiet since the later of their last spurts. */
    if (!agent->talking && !customer->talking && (agent->since_s >= 0 || customer->since_s >= 0)) {
        double from = agent->since_s > customer->since_s ? agent->since_s : customer->since_s;
        double silence = now_s - from;
        if (silence >= p->dead_air_s && n < cap &&
            (from != t->dead_air_from || now_s - t->dead_air_last_offer >= DEAD_AIR_REOFFER_S)) {
            out[n++] = (cw_turn_cue_t){.kind = "dead_air", .leg = 0, .t_start = from, .t_end = now_s,
                                       .score = dead_air_score(p, silence), .seconds = silence};
            t->dead_air_from = from;
            t->dead_air_last_offer = now_s;
        }
    }
    return n;
}
