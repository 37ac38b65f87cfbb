/* asr.c - see callwatch/asr.h
 *
 * Scheduling: every piece of scheduling state (utterance tables, bound and
 * closed flags, the stream list) is guarded by pool->lock. Audio itself moves
 * through each stream's SPSC ring outside the lock: the producer writes the
 * ring first and then publishes the new count under the lock, so a worker
 * never reads samples it has not been told about.
 */
#include "callwatch/asr.h"

#include "callwatch/keyphrases.h"
#include "callwatch/ring.h"

#include <pocketsphinx.h>
#include <sphinxbase/ckd_alloc.h>
#include <sphinxbase/cmn.h>
#include <sphinxbase/err.h>
#include <sphinxbase/feat.h>

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Utterances a stream can have pending at once; more than this many waiting
 * means the decoders are hopelessly behind anyway. */
#define UTT_TABLE 64
/* Samples fed to the decoder per step: 100 ms keeps partials and lock hand-offs
 * frequent without measurable overhead. */
#define FEED_CHUNK 1600
#define MAX_WORDS 512
/* Times an unchanged partial hypothesis is delivered again (a second of audio
 * at the default partial interval: the final comes by then). */
#define PARTIAL_REPEATS_MAX 2
/* How much nicer than the rest of the process decoder threads run. The
 * ingest thread (capture, VAD, prosody, voice and turn-taking cues) has a
 * 300 ms budget and costs little; decoders are heavy and a word cue may take
 * a second: under a full load the decoders are the ones to wait. */
#define DECODER_NICE_STEP 5
/* Words of [asr] decoder_args. */
#define DECODER_ARGS_MAX 32
#define TEXT_MAX 8192
/* Keyphrase detections kept per utterance. */
#define MAX_SPOTS 64
/* Name of the keyphrase search each decoder carries next to its n-gram one. */
#define CUE_SEARCH "callwatch_cue"
/* PocketSphinx's name for the search ps_init builds from -lm. */
#define FULL_SEARCH "_default"

typedef struct utterance {
    int64_t start_sample; /* leg timeline, 16 kHz */
    size_t n_written;     /* samples in the ring for this utterance so far, at the stream's rate */
    size_t n_dropped;     /* samples that did not fit (live only) */
    bool complete;
    uint64_t begin_order; /* pool-wide stamps for fair scheduling */
    uint64_t complete_order;
    int seq;
} utterance_t;

/* Cepstral coefficients a model may use (the en-us model has 13). */
#define CMN_MAX_CEP 64

struct cw_asr_stream {
    cw_asr_pool_t *pool;
    int leg;
    int rate_hz; /* of the samples written: decoded only by workers of this rate */
    bool blocking;
    cw_asr_result_fn on_result;
    cw_asr_drained_fn on_drained;
    void *user;
    cw_ring_t *audio;

    /* guarded by pool->lock */
    utterance_t utts[UTT_TABLE];
    int utt_head;
    int utt_count;
    bool producer_open;  /* producer has an utterance open */
    bool skipping;       /* live: table was full, current utterance discarded */
    bool unheard;        /* the open utterance began in CW_ASR_OFF: discarded, not dropped */
    bool bound;
    int bound_worker;
    bool closed;
    bool drained;
    int next_seq;
    struct cw_asr_stream *next;
    struct cw_asr_stream *prev;

    _Atomic uint64_t dropped;
    _Atomic int mode; /* cw_asr_mode_t for the next utterance bound */

    /* The leg's cepstral mean, carried from one utterance to the next. A
     * decoder serves many legs; each leg's channel (handset, codec, voice)
     * has its own spectral tilt, and normalising with another leg's mean
     * costs words. Touched only by the worker bound to the stream. */
    mfcc_t cmn_mean[CMN_MAX_CEP];
    bool has_cmn;
};

typedef struct worker {
    cw_asr_pool_t *pool;
    int index;
    int rate_hz; /* of the decoder's acoustic model: CW_ASR_RATE or CW_ASR_RATE_8K */
    bool cue_only; /* a keyphrase spotter: takes only streams in cue mode */
    pthread_t thread;
    pthread_cond_t wake; /* signalled when this worker may have something to do */
    bool idle;           /* guarded by pool->lock: waiting for any work */
    ps_decoder_t *ps;
    cmn_t *cmn;              /* the decoder's live CMN state */
    int cep_size;            /* cepstra per frame, <= CMN_MAX_CEP */
    mfcc_t cmn_init[CMN_MAX_CEP]; /* the model's initial mean (-cmninit) */
    cw_asr_stream_t *stream; /* bound stream, or NULL */
    cw_asr_mode_t mode;      /* of the bound utterance */
    char full_search[64];    /* name of the decoder's n-gram search */
    size_t fed;              /* samples of the head utterance fed so far */
    double last_partial_s;
    char last_partial[TEXT_MAX];
    int partial_repeats; /* deliveries of last_partial unchanged: see maybe_deliver_partial() */
    int16_t feed[FEED_CHUNK];
    cw_word_t words[MAX_WORDS];
    char text[TEXT_MAX];
} worker_t;

struct cw_asr_pool {
    pthread_mutex_t lock;
    pthread_cond_t space; /* blocking producers wait here for ring or table room */
    worker_t *workers;
    int n_workers;    /* all decoders: those at CW_ASR_RATE first, then n_workers_8k at 8 kHz, then
                       * n_cue_workers keyphrase spotters at CW_ASR_RATE */
    int n_workers_8k;
    int n_cue_workers;
    int n_started;
    bool stopping;
    cw_asr_stream_t *streams;
    uint64_t order_counter;
    double backlog_s;
    double partial_interval_s;
    double min_confidence;
    cw_keyphrases_t *keyphrases; /* read-only once loaded */
    size_t n_spottable;          /* keyphrases whose words the dictionary has */

    /* stats, guarded by lock */
    uint64_t utterances_decoded;
    uint64_t samples_decoded;
    double decode_cpu_s;
    uint64_t samples_decoded_cue;
    double decode_cpu_cue_s;
};

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int online_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > 64 ? 64 : (int)n);
}

static int check_model_path(const char *option, const char *path, bool want_dir, cw_error_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return cw_error_set(err, CW_ERR_NOT_FOUND, "[models] %s: '%s': %s", option, path, strerror(errno));
    if (want_dir && !S_ISDIR(st.st_mode))
        return cw_error_set(err, CW_ERR_INVALID, "[models] %s: '%s' is not a directory", option, path);
    if (!want_dir && !S_ISREG(st.st_mode))
        return cw_error_set(err, CW_ERR_INVALID, "[models] %s: '%s' is not a file", option, path);
    return CW_OK;
}

/* The 8 kHz model is checked file by file: PocketSphinx only says it failed. */
static int check_model_8k(const cw_config_t *cfg, cw_error_t *err)
{
    const char *missing = cw_config_acoustic_missing(cfg->asr_model_8k);
    if (!missing)
        return CW_OK;
    return cw_error_set(err, CW_ERR_NOT_FOUND,
                        "%s: [asr] model_8k = '%s': not a PocketSphinx acoustic model directory "
                        "(missing or unreadable: %s)",
                        cfg->asr_model_8k_at[0] ? cfg->asr_model_8k_at : cfg->source_path, cfg->asr_model_8k,
                        missing);
}

/* PocketSphinx's configuration: ours, then [asr] decoder_args ("-name value"
 * pairs) judged by PocketSphinx's own argument table, which refuses unknown
 * names, bad values and any of ours given again. NULL with err set. */
static cmd_ln_t *decoder_config(const cw_config_t *cfg, const char *hmm, const char *dict, const char *lm,
                                bool narrow, cw_error_t *err)
{
    char *argv[DECODER_ARGS_MAX + 16] = {
        "-hmm", (char *)hmm, "-dict", (char *)dict,
        "-samprate", narrow ? "8000" : "16000", "-nfft", narrow ? "256" : "512", "-remove_silence", "no",
    };
    int ours = 10, argc = ours;
    if (lm) {
        argv[argc++] = "-lm";
        argv[argc++] = (char *)lm;
        ours = argc;
    }
    char buf[sizeof cfg->asr_decoder_args];
    snprintf(buf, sizeof buf, "%s", cfg->asr_decoder_args);
    for (char *save = NULL, *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
        if (argc - ours == DECODER_ARGS_MAX) {
            cw_error_set(err, CW_ERR_INVALID, "[asr] decoder_args: more than %d words", DECODER_ARGS_MAX);
            return NULL;
        }
        argv[argc++] = tok;
    }
    if ((argc - ours) % 2 != 0 || (argc > ours && argv[ours][0] != '-')) {
        cw_error_set(err, CW_ERR_INVALID, "[asr] decoder_args = '%s': expected '-name value' pairs",
                     cfg->asr_decoder_args);
        return NULL;
    }
    cmd_ln_t *ps_cfg = cmd_ln_parse_r(NULL, ps_args(), argc, argv, TRUE);
    if (!ps_cfg && argc > ours)
        cw_error_set(err, CW_ERR_INVALID,
                     "[asr] decoder_args = '%s': PocketSphinx refused a name or value, or one callwatch sets "
                     "itself (set CALLWATCH_DEBUG=1 to see its log)", cfg->asr_decoder_args);
    else if (!ps_cfg)
        cw_error_set(err, CW_ERR_INTERNAL, "PocketSphinx rejected its configuration");
    return ps_cfg;
}

static ps_decoder_t *load_decoder(const cw_config_t *cfg, int rate_hz, cw_error_t *err)
{
    bool narrow = rate_hz == CW_ASR_RATE_8K;
    const char *hmm = narrow ? cfg->asr_model_8k : cfg->hmm;
    if ((narrow ? check_model_8k(cfg, err) : check_model_path("hmm", cfg->hmm, true, err)) ||
        check_model_path("dict", cfg->dict, false, err) || check_model_path("lm", cfg->lm, false, err))
        return NULL;
    /* -remove_silence drops the frames the front end thinks are silence, so
     * segment frames stop matching the audio (measured: words seconds off,
     * even after ps_start_stream). The VAD already keeps silence away from
     * the decoder, so keep every frame and get exact word times. */
    /* At 8 kHz a 25 ms window is 200 samples: the 512-point FFT of 16 kHz
     * would zero-pad it to a coarser filterbank than the model was trained on. */
    cmd_ln_t *ps_cfg = decoder_config(cfg, hmm, cfg->dict, cfg->lm, narrow, err);
    if (!ps_cfg)
        return NULL;
    ps_decoder_t *ps = ps_init(ps_cfg);
    cmd_ln_free_r(ps_cfg);
    if (!ps && narrow)
        cw_error_set(err, CW_ERR_FORMAT,
                     "%s: [asr] model_8k = '%s': PocketSphinx could not load it as an 8 kHz model "
                     "(with dict '%s', lm '%s'); set CALLWATCH_DEBUG=1 to see its log",
                     cfg->asr_model_8k_at[0] ? cfg->asr_model_8k_at : cfg->source_path, hmm, cfg->dict, cfg->lm);
    else if (!ps)
        cw_error_set(err, CW_ERR_FORMAT,
                     "PocketSphinx could not load the models (hmm '%s', dict '%s', lm '%s'); "
                     "set CALLWATCH_DEBUG=1 to see its log",
                     cfg->hmm, cfg->dict, cfg->lm);
    return ps;
}

/* --- scheduling (pool->lock held) ------------------------------------------ */

/* Finished utterances first, oldest completion first: they are pure work with
 * no waiting on live audio. Only when none waits does a decoder take an
 * utterance still being spoken, which then streams with partials. */
/* Whether worker w may decode s's next utterance. */
static bool worker_serves(const worker_t *w, const cw_asr_stream_t *s)
{
    return s->rate_hz == w->rate_hz && (!w->cue_only || atomic_load(&s->mode) == CW_ASR_CUE);
}

static cw_asr_stream_t *pick_stream(cw_asr_pool_t *pool, const worker_t *w)
{
    cw_asr_stream_t *best_complete = NULL, *best_open = NULL;
    for (cw_asr_stream_t *s = pool->streams; s; s = s->next) {
        if (s->bound || s->utt_count == 0 || !worker_serves(w, s))
            continue;
        const utterance_t *u = &s->utts[s->utt_head];
        if (u->complete) {
            if (!best_complete || u->complete_order < best_complete->utts[best_complete->utt_head].complete_order)
                best_complete = s;
        } else if (u->n_written > 0) {
            if (!best_open || u->begin_order < best_open->utts[best_open->utt_head].begin_order)
                best_open = s;
        }
    }
    return best_complete ? best_complete : best_open;
}

/* Wakes the worker that should look at s: its bound worker, or any idle one
 * that serves it (a keyphrase spotter first, for a stream in cue mode: it
 * leaves the full decoders to streams that need them). */
static void wake_for(cw_asr_pool_t *pool, cw_asr_stream_t *s)
{
    if (s->bound) {
        pthread_cond_signal(&pool->workers[s->bound_worker].wake);
        return;
    }
    for (int i = pool->n_workers - 1; i >= 0; i--) {
        if (pool->workers[i].idle && worker_serves(&pool->workers[i], s)) {
            pthread_cond_signal(&pool->workers[i].wake);
            return;
        }
    }
}

/* --- decoding (pool->lock NOT held) ------------------------------------------ */

static bool is_filler(const char *w)
{
    return w[0] == '<' || w[0] == '[' || w[0] == '+' || strcmp(w, "<sil>") == 0;
}

static void copy_word(char *dst, size_t cap, const char *src)
{
    size_t i = 0;
    /* Drop the dictionary's pronunciation-variant suffix: "read(2)" -> "read". */
    for (; src[i] && src[i] != '(' && i + 1 < cap; i++)
        dst[i] = (char)tolower((unsigned char)src[i]);
    dst[i] = '\0';
}

/* The words of the current hypothesis with their times into w->words and
 * w->text; returns how many. A partial hypothesis has no posteriors (the
 * decoder reports probability 1), so its words carry conf 1. */
static size_t collect_words(worker_t *w, const utterance_t *u)
{
    ps_decoder_t *ps = w->ps;
    logmath_t *lmath = ps_get_logmath(ps);
    double t0 = (double)u->start_sample / CW_ASR_RATE;
    size_t n_words = 0, text_len = 0;
    w->text[0] = '\0';
    for (ps_seg_t *seg = ps_seg_iter(ps); seg; seg = ps_seg_next(seg)) {
        const char *word = ps_seg_word(seg);
        if (!word || is_filler(word))
            continue;
        int sf, ef;
        ps_seg_frames(seg, &sf, &ef);
        int32 ascr, lscr, lback;
        double conf = logmath_exp(lmath, ps_seg_prob(seg, &ascr, &lscr, &lback));
        if (conf > 1.0)
            conf = 1.0;
        if (conf < w->pool->min_confidence)
            continue;
        if (n_words == MAX_WORDS) {
            ps_seg_free(seg);
            break;
        }
        cw_word_t *cw = &w->words[n_words++];
        copy_word(cw->w, sizeof cw->w, word);
        cw->t_start = t0 + sf / 100.0;
        cw->t_end = t0 + (ef + 1) / 100.0;
        cw->conf = conf;
        size_t len = strlen(cw->w);
        if (text_len + len + 2 < sizeof w->text) {
            if (text_len)
                w->text[text_len++] = ' ';
            memcpy(w->text + text_len, cw->w, len + 1);
            text_len += len;
        }
    }
    return n_words;
}

typedef struct spot {
    const cw_keyphrase_t *k;
    int sf, ef;
    double conf;
} spot_t;

/* Whether spot a hides spot b where they overlap: the longer phrase wins (so
 * a benign phrase keeps its words and suppresses the cue inside it), then
 * the more confident, then the earlier. */
static bool spot_hides(const spot_t *a, size_t ia, const spot_t *b, size_t ib)
{
    if (a->k->n_words != b->k->n_words)
        return a->k->n_words > b->k->n_words;
    if (a->conf != b->conf)
        return a->conf > b->conf;
    return ia < ib;
}

/* Cue mode: the keyphrases detected in the utterance so far, as words in
 * w->words / w->text (each phrase's span split over its words by length).
 * Returns how many words. */
static size_t collect_spotted(worker_t *w, const utterance_t *u)
{
    ps_decoder_t *ps = w->ps;
    logmath_t *lmath = ps_get_logmath(ps);
    const cw_keyphrases_t *kp = w->pool->keyphrases;
    spot_t spots[MAX_SPOTS];
    size_t n_spots = 0;
    for (ps_seg_t *seg = ps_seg_iter(ps); seg; seg = ps_seg_next(seg)) {
        /* The search reports the phrase with a trailing space. */
        char phrase[256];
        snprintf(phrase, sizeof phrase, "%s", ps_seg_word(seg));
        for (size_t len = strlen(phrase); len > 0 && phrase[len - 1] == ' '; len--)
            phrase[len - 1] = '\0';
        const cw_keyphrase_t *k = cw_keyphrases_find(kp, phrase);
        if (!k)
            continue;
        if (n_spots == MAX_SPOTS) {
            ps_seg_free(seg);
            break;
        }
        int32 ascr, lscr, lback;
        int32 prob = ps_seg_prob(seg, &ascr, &lscr, &lback);
        spot_t *sp = &spots[n_spots++];
        sp->k = k;
        ps_seg_frames(seg, &sp->sf, &sp->ef);
        sp->conf = cw_keyphrases_conf(kp, k, logmath_log_to_ln(lmath, prob));
        if (sp->conf <= 0)
            n_spots--; /* below the phrase's score floor: a likely false alarm */
    }
    /* Time order (insertion sort: a handful of detections). */
    for (size_t i = 1; i < n_spots; i++) {
        spot_t tmp = spots[i];
        size_t j = i;
        for (; j > 0 && spots[j - 1].sf > tmp.sf; j--)
            spots[j] = spots[j - 1];
        spots[j] = tmp;
    }
    bool keep[MAX_SPOTS];
    for (size_t i = 0; i < n_spots; i++) {
        keep[i] = true;
        for (size_t j = 0; j < n_spots && keep[i]; j++)
            if (j != i && spots[j].sf <= spots[i].ef && spots[i].sf <= spots[j].ef &&
                spot_hides(&spots[j], j, &spots[i], i))
                keep[i] = false;
    }
    double t0 = (double)u->start_sample / CW_ASR_RATE;
    size_t n_words = 0, text_len = 0;
    w->text[0] = '\0';
    for (size_t i = 0; i < n_spots; i++) {
        if (!keep[i])
            continue;
        const char *p = spots[i].k->phrase;
        size_t total_chars = strlen(p) + 1;
        double span = (spots[i].ef + 1 - spots[i].sf) / 100.0;
        double at = t0 + spots[i].sf / 100.0;
        while (*p && n_words < MAX_WORDS) {
            size_t len = strcspn(p, " ");
            cw_word_t *cw = &w->words[n_words++];
            snprintf(cw->w, sizeof cw->w, "%.*s", (int)len, p);
            cw->t_start = at;
            at += span * (double)(len + 1) / (double)total_chars;
            cw->t_end = at;
            cw->conf = spots[i].conf;
            if (text_len + len + 2 < sizeof w->text) {
                if (text_len)
                    w->text[text_len++] = ' ';
                memcpy(w->text + text_len, p, len);
                text_len += len;
                w->text[text_len] = '\0';
            }
            p += len;
            while (*p == ' ')
                p++;
        }
    }
    return n_words;
}

static size_t collect(worker_t *w, const utterance_t *u)
{
    return w->mode == CW_ASR_CUE ? collect_spotted(w, u) : collect_words(w, u);
}

static void deliver_final(worker_t *w, cw_asr_stream_t *s, const utterance_t *u)
{
    double t0 = (double)u->start_sample / CW_ASR_RATE;
    size_t n_words = collect(w, u);
    if (n_words == 0)
        return; /* noise the VAD took for speech: nothing to report */
    cw_transcript_t tr = {
        .leg = s->leg,
        .final = true,
        .t_start = t0,
        .t_end = t0 + (double)u->n_written / s->rate_hz,
        .text = w->text,
        .words = w->words,
        .n_words = n_words,
        .utterance = u->seq,
        .spotted = w->mode == CW_ASR_CUE,
    };
    s->on_result(s->user, &tr);
}

static void maybe_deliver_partial(worker_t *w, cw_asr_stream_t *s, const utterance_t *u)
{
    if (w->pool->partial_interval_s <= 0)
        return;
    double now = monotonic_s();
    if (now - w->last_partial_s < w->pool->partial_interval_s)
        return;
    w->last_partial_s = now;
    int32 score;
    const char *hyp = ps_get_hyp(w->ps, &score);
    if (!hyp || !hyp[0])
        return;
    /* An unchanged hypothesis is delivered again a few times: with more
     * audio behind its last word, a detector may now take that word as
     * settled (the speaker paused) instead of waiting for the final. */
    if (strcmp(hyp, w->last_partial) == 0) {
        if (w->partial_repeats >= PARTIAL_REPEATS_MAX)
            return;
        w->partial_repeats++;
    } else {
        w->partial_repeats = 0;
    }
    snprintf(w->last_partial, sizeof w->last_partial, "%s", hyp);
    double t0 = (double)u->start_sample / CW_ASR_RATE;
    /* Word times let detectors act on a phrase before the utterance ends. */
    size_t n_words = collect(w, u);
    cw_transcript_t tr = {
        .leg = s->leg,
        .final = false,
        .t_start = t0,
        .t_end = t0 + (double)w->fed / s->rate_hz,
        .text = w->mode == CW_ASR_CUE ? w->text : w->last_partial,
        .words = n_words ? w->words : NULL,
        .n_words = n_words,
        .utterance = u->seq,
        .spotted = w->mode == CW_ASR_CUE,
    };
    s->on_result(s->user, &tr);
}

static void notify_drained_locked(cw_asr_pool_t *pool, cw_asr_stream_t *s)
{
    if (s->closed && s->utt_count == 0 && !s->bound && !s->drained) {
        s->drained = true;
        pthread_mutex_unlock(&pool->lock);
        if (s->on_drained)
            s->on_drained(s->user);
        pthread_mutex_lock(&pool->lock);
    }
}

/* Lowers the calling thread's priority by DECODER_NICE_STEP (Linux nice is
 * per thread); where that is refused the thread keeps the process's. */
static void nicer_thread(void)
{
    id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    int nice_now = getpriority(PRIO_PROCESS, tid);
    if (errno == 0)
        (void)setpriority(PRIO_PROCESS, tid, nice_now + DECODER_NICE_STEP);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    cw_asr_pool_t *pool = w->pool;
    nicer_thread();
    pthread_mutex_lock(&pool->lock);
    while (!pool->stopping) {
        cw_asr_stream_t *s = w->stream;
        if (!s) {
            s = pick_stream(pool, w);
            if (!s) {
                w->idle = true;
                pthread_cond_wait(&w->wake, &pool->lock);
                w->idle = false;
                continue;
            }
            s->bound = true;
            s->bound_worker = w->index;
            w->stream = s;
            w->fed = 0;
            w->last_partial[0] = '\0';
            w->partial_repeats = 0;
            w->last_partial_s = monotonic_s();
            w->mode = w->cue_only ? CW_ASR_CUE : (cw_asr_mode_t)atomic_load(&s->mode);
            pthread_mutex_unlock(&pool->lock);
            /* Both searches stay loaded; switching between utterances only
             * changes which one the next utterance runs through. */
            if (ps_set_search(w->ps, w->mode == CW_ASR_CUE ? CUE_SEARCH : w->full_search) != 0)
                w->mode = CW_ASR_FULL; /* cannot happen once both searches loaded; decode in full */
            /* A new stream restarts the decoder's frame count, so segment
             * frames count from this utterance's first sample. */
            ps_start_stream(w->ps);
            ps_start_utt(w->ps);
            if (w->cmn)
                cmn_live_set(w->cmn, s->has_cmn ? s->cmn_mean : w->cmn_init);
            pthread_mutex_lock(&pool->lock);
            continue;
        }

        utterance_t *u = &s->utts[s->utt_head];
        size_t avail = u->n_written - w->fed;
        if (avail > 0) {
            size_t n = avail < FEED_CHUNK ? avail : FEED_CHUNK;
            pthread_mutex_unlock(&pool->lock);
            size_t got = cw_ring_read(s->audio, w->feed, n);
            double cpu0 = thread_cpu_s();
            ps_process_raw(w->ps, w->feed, got, FALSE, FALSE);
            double cpu = thread_cpu_s() - cpu0;
            w->fed += got;
            maybe_deliver_partial(w, s, u);
            /* Counted as 16 kHz samples, so the stats read as seconds of speech. */
            uint64_t got16 = (uint64_t)got * CW_ASR_RATE / (uint64_t)s->rate_hz;
            pthread_mutex_lock(&pool->lock);
            pool->samples_decoded += got16;
            pool->decode_cpu_s += cpu;
            if (w->mode == CW_ASR_CUE) {
                pool->samples_decoded_cue += got16;
                pool->decode_cpu_cue_s += cpu;
            }
            if (s->blocking)
                pthread_cond_broadcast(&pool->space);
            continue;
        }
        if (u->complete) {
            utterance_t done = *u;
            pthread_mutex_unlock(&pool->lock);
            double cpu0 = thread_cpu_s();
            ps_end_utt(w->ps);
            if (w->cmn) {
                cmn_live_get(w->cmn, s->cmn_mean);
                s->has_cmn = true;
            }
            deliver_final(w, s, &done);
            double cpu = thread_cpu_s() - cpu0;
            pthread_mutex_lock(&pool->lock);
            pool->decode_cpu_s += cpu;
            if (w->mode == CW_ASR_CUE)
                pool->decode_cpu_cue_s += cpu;
            pool->utterances_decoded++;
            s->utt_head = (s->utt_head + 1) % UTT_TABLE;
            s->utt_count--;
            s->bound = false;
            w->stream = NULL;
            if (s->blocking)
                pthread_cond_broadcast(&pool->space);
            notify_drained_locked(pool, s);
            continue;
        }
        /* Caught up with a live utterance: wait for the speaker. */
        pthread_cond_wait(&w->wake, &pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

/* --- pool ------------------------------------------------------------------ */

/* Writes the keyphrases whose every word the dictionary knows to a temporary
 * file in PocketSphinx's -kws format ("phrase /threshold/" per line), for
 * ps_set_kws. Returns 0 and the path in path_out (the caller unlinks it). */
/* A new temporary file (in $TMPDIR, else /tmp) named after stem, open for
 * writing; its path in path_out (the caller unlinks it). NULL with err set. */
static FILE *create_temp(const char *stem, const char *what, char *path_out, size_t cap, cw_error_t *err)
{
    const char *dir = getenv("TMPDIR");
    snprintf(path_out, cap, "%s/%s.XXXXXX", dir && dir[0] ? dir : "/tmp", stem);
    int fd = mkstemp(path_out);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f && fd >= 0)
        close(fd);
    if (!f)
        cw_error_set(err, CW_ERR_IO, "cue mode: cannot write %s '%s': %s", what, path_out, strerror(errno));
    return f;
}

/* Copies the word of a keyphrase that *p points at into word and moves *p
 * past it and its spaces; false at the phrase's end. */
static bool next_word(const char **p, char *word, size_t cap)
{
    if (!**p)
        return false;
    size_t len = strcspn(*p, " ");
    snprintf(word, cap, "%.*s", (int)len, *p);
    *p += len + strspn(*p + len, " ");
    return true;
}

static int write_kws_file(cw_asr_pool_t *pool, ps_decoder_t *ps, char *path_out, size_t cap, cw_error_t *err)
{
    FILE *f = create_temp("callwatch-kws", "the keyphrase list", path_out, cap, err);
    if (!f)
        return err && err->code ? err->code : CW_ERR_IO;
    pool->n_spottable = 0;
    for (size_t i = 0; i < cw_keyphrases_count(pool->keyphrases); i++) {
        const cw_keyphrase_t *k = cw_keyphrases_get(pool->keyphrases, i);
        char word[CW_WORD_MAX];
        bool known = true;
        for (const char *p = k->phrase; known && next_word(&p, word, sizeof word);) {
            char *pron = ps_lookup_word(ps, word);
            known = pron != NULL;
            ckd_free(pron);
        }
        if (!known)
            continue; /* the keyphrase search refuses a phrase with an unknown word */
        fprintf(f, "%s /%g/\n", k->phrase, k->threshold);
        pool->n_spottable++;
    }
    if (fclose(f) != 0)
        return cw_error_set(err, CW_ERR_IO, "cue mode: cannot write the keyphrase list '%s'", path_out);
    if (getenv("CALLWATCH_DEBUG"))
        fprintf(stderr, "callwatch: cue mode spots %zu of %zu keyphrases (%zu lexicon phrases with wildcards or "
                        "excluded)\n",
                pool->n_spottable, cw_keyphrases_count(pool->keyphrases),
                cw_keyphrases_left_out(pool->keyphrases));
    return CW_OK;
}

static int load_worker(cw_asr_pool_t *pool, worker_t *w, const cw_config_t *cfg, int rate_hz,
                       const char *spotter_dict, cw_error_t *err);

static int compare_words(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Writes the pronunciation (from the full decoder ps) of every word of the
 * spottable keyphrases, once each, as a PocketSphinx dictionary for the
 * keyphrase spotters. Returns 0 and the path in path_out (the caller
 * unlinks it). */
static int write_spotter_dict(cw_asr_pool_t *pool, ps_decoder_t *ps, char *path_out, size_t cap, cw_error_t *err)
{
    size_t n_phrases = cw_keyphrases_count(pool->keyphrases), n = 0, room = 16;
    char **words = malloc(room * sizeof *words);
    int rc = words ? CW_OK : cw_error_set(err, CW_ERR_NOMEM, "out of memory for the spotters' dictionary");
    char word[CW_WORD_MAX];
    for (size_t i = 0; i < n_phrases && rc == CW_OK; i++) {
        const char *p = cw_keyphrases_get(pool->keyphrases, i)->phrase;
        while (rc == CW_OK && next_word(&p, word, sizeof word)) {
            if (n == room) {
                char **more = realloc(words, (room *= 2) * sizeof *words);
                if (!more)
                    rc = cw_error_set(err, CW_ERR_NOMEM, "out of memory for the spotters' dictionary");
                else
                    words = more;
            }
            if (rc == CW_OK && !(words[n++] = strdup(word)))
                rc = cw_error_set(err, CW_ERR_NOMEM, "out of memory for the spotters' dictionary");
        }
    }
    FILE *f = NULL;
    if (rc == CW_OK && !(f = create_temp("callwatch-spot-dict", "the spotters' dictionary", path_out, cap, err)))
        rc = err && err->code ? err->code : CW_ERR_IO;
    if (rc == CW_OK)
        qsort(words, n, sizeof *words, compare_words);
    for (size_t i = 0; i < n && f; i++) {
        char *pron = i > 0 && strcmp(words[i], words[i - 1]) == 0 ? NULL : ps_lookup_word(ps, words[i]);
        if (pron)
            fprintf(f, "%s %s\n", words[i], pron);
        ckd_free(pron);
    }
    if (f && fclose(f) != 0)
        rc = cw_error_set(err, CW_ERR_IO, "cue mode: cannot write the spotters' dictionary '%s'", path_out);
    for (size_t i = 0; i < n; i++)
        free(words[i]);
    free(words);
    return rc;
}

static int load_cue_search(cw_asr_pool_t *pool, const cw_config_t *cfg, cw_error_t *err)
{
    char lex_path[CW_PATH_MAX], th_path[CW_PATH_MAX];
    pool->keyphrases = cw_keyphrases_load(cw_config_model_path(cfg->cues, lex_path, sizeof lex_path),
                                          cw_config_model_path(cfg->keyphrases, th_path, sizeof th_path), err);
    if (!pool->keyphrases)
        return err && err->code ? err->code : CW_ERR_INVALID;
    char kws_path[CW_PATH_MAX], dict_path[CW_PATH_MAX] = "";
    int rc = write_kws_file(pool, pool->workers[0].ps, kws_path, sizeof kws_path, err);
    if (rc != CW_OK)
        return rc;
    int n_full = pool->n_workers - pool->n_cue_workers;
    if (pool->n_cue_workers > 0)
        rc = write_spotter_dict(pool, pool->workers[0].ps, dict_path, sizeof dict_path, err);
    for (int i = 0; i < pool->n_workers && rc == CW_OK; i++) {
        worker_t *w = &pool->workers[i];
        if (i >= n_full)
            rc = load_worker(pool, w, cfg, CW_ASR_RATE, dict_path, err);
        if (rc == CW_OK && (pool->n_spottable == 0 || ps_set_kws(w->ps, CUE_SEARCH, kws_path) != 0))
            rc = cw_error_set(err, CW_ERR_FORMAT,
                              "cue mode: PocketSphinx refused the keyphrase list built from '%s' and '%s' "
                              "(%zu usable phrases); set CALLWATCH_DEBUG=1 to see its log",
                              lex_path, th_path, pool->n_spottable);
        if (rc == CW_OK && w->cue_only && ps_set_search(w->ps, CUE_SEARCH) != 0)
            rc = cw_error_set(err, CW_ERR_INTERNAL, "a keyphrase spotter has no search named '%s'", CUE_SEARCH);
    }
    unlink(kws_path);
    if (dict_path[0])
        unlink(dict_path);
    return rc;
}

/* A keyphrase spotter (cue workers): the 16 kHz acoustic model, the
 * dictionary of the keyphrases' words only (dict_path) and no language
 * model, so it weighs a fraction of a full decoder. */
static ps_decoder_t *load_spotter(const cw_config_t *cfg, const char *dict_path, cw_error_t *err)
{
    cmd_ln_t *ps_cfg = decoder_config(cfg, cfg->hmm, dict_path, NULL, false, err);
    if (!ps_cfg)
        return NULL;
    ps_decoder_t *ps = ps_init(ps_cfg);
    cmd_ln_free_r(ps_cfg);
    if (!ps)
        cw_error_set(err, CW_ERR_FORMAT,
                     "PocketSphinx could not load a keyphrase spotter (hmm '%s', the cue words of dict '%s'); "
                     "set CALLWATCH_DEBUG=1 to see its log", cfg->hmm, cfg->dict);
    return ps;
}

/* Loads worker w's decoder for rate_hz and reads the model's initial
 * cepstral mean. */
static int load_worker(cw_asr_pool_t *pool, worker_t *w, const cw_config_t *cfg, int rate_hz,
                       const char *spotter_dict, cw_error_t *err)
{
    w->pool = pool;
    w->rate_hz = rate_hz;
    w->cue_only = spotter_dict != NULL;
    w->ps = w->cue_only ? load_spotter(cfg, spotter_dict, err) : load_decoder(cfg, rate_hz, err);
    if (!w->ps)
        return err && err->code ? err->code : CW_ERR_FORMAT;
    feat_t *feat = ps_get_feat(w->ps);
    w->cmn = feat ? feat->cmn_struct : NULL;
    w->cep_size = feat ? feat_cepsize(feat) : 0;
    if (w->cmn && w->cep_size > 0 && w->cep_size <= CMN_MAX_CEP)
        cmn_live_get(w->cmn, w->cmn_init);
    else
        w->cmn = NULL; /* a model without live CMN: nothing to carry */
    if (w->cue_only)
        return CW_OK; /* its only search, the keyphrases, comes with load_cue_search() */
    /* The n-gram search ps_init made from -lm has PocketSphinx's default
     * name (ps_get_search would tell, but leaks an iterator in 5prealpha). */
    snprintf(w->full_search, sizeof w->full_search, "%s", FULL_SEARCH);
    if (ps_set_search(w->ps, FULL_SEARCH) != 0)
        return cw_error_set(err, CW_ERR_INTERNAL, "PocketSphinx has no n-gram search named '%s'", FULL_SEARCH);
    return CW_OK;
}

cw_asr_pool_t *cw_asr_pool_new(const cw_config_t *cfg, cw_error_t *err)
{
    cw_asr_pool_t *pool = calloc(1, sizeof *pool);
    if (!pool) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the decoder pool");
        return NULL;
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->space, NULL);
    int n_wide = cfg->asr_workers > 0 ? cfg->asr_workers : online_cores();
    if (cfg->asr_model_8k[0])
        pool->n_workers_8k = cfg->asr_workers_8k > 0 ? cfg->asr_workers_8k : n_wide;
    if (strcmp(cfg->asr_mode, "cue") == 0)
        pool->n_cue_workers = cfg->asr_cue_workers;
    pool->n_workers = n_wide + pool->n_workers_8k + pool->n_cue_workers;
    pool->backlog_s = cfg->asr_backlog_s;
    pool->partial_interval_s = cfg->asr_partial_interval_ms / 1000.0;
    pool->min_confidence = cfg->asr_min_confidence;
    pool->workers = calloc((size_t)pool->n_workers, sizeof *pool->workers);
    if (!pool->workers) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating %d decoders", pool->n_workers);
        goto error_out;
    }
    if (!getenv("CALLWATCH_DEBUG"))
        err_set_logfp(NULL);
    /* Decoders are loaded one after another: ps_init touches sphinxbase's
     * process-wide logging state and is not documented as thread-safe. */
    for (int i = 0; i < pool->n_workers; i++) {
        pool->workers[i].index = i;
        pthread_cond_init(&pool->workers[i].wake, NULL);
    }
    for (int i = 0; i < pool->n_workers - pool->n_cue_workers; i++)
        if (load_worker(pool, &pool->workers[i], cfg, i < n_wide ? CW_ASR_RATE : CW_ASR_RATE_8K, NULL, err) != CW_OK)
            goto error_out;
    if (load_cue_search(pool, cfg, err) != CW_OK)
        goto error_out;
    for (int i = 0; i < pool->n_workers; i++) {
        if (pthread_create(&pool->workers[i].thread, NULL, worker_main, &pool->workers[i]) != 0) {
            cw_error_set(err, CW_ERR_INTERNAL, "cannot start decoder thread %d: %s", i, strerror(errno));
            goto error_out;
        }
        pool->n_started++;
    }
    return pool;

error_out:
    cw_asr_pool_destroy(&pool);
    return NULL;
}

void cw_asr_pool_destroy(cw_asr_pool_t **pool_p)
{
    if (!pool_p || !*pool_p)
        return;
    cw_asr_pool_t *pool = *pool_p;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    for (int i = 0; i < pool->n_workers && pool->workers; i++)
        pthread_cond_signal(&pool->workers[i].wake);
    pthread_cond_broadcast(&pool->space);
    pthread_mutex_unlock(&pool->lock);
    for (int i = 0; i < pool->n_started; i++)
        pthread_join(pool->workers[i].thread, NULL);
    for (int i = 0; i < pool->n_workers && pool->workers; i++) {
        if (pool->workers[i].ps)
            ps_free(pool->workers[i].ps);
        pthread_cond_destroy(&pool->workers[i].wake);
    }
    /* Streams outliving the pool are detached so their destroy stays safe. */
    for (cw_asr_stream_t *s = pool->streams; s; s = s->next)
        s->pool = NULL;
    free(pool->workers);
    cw_keyphrases_destroy(&pool->keyphrases);
    pthread_cond_destroy(&pool->space);
    pthread_mutex_destroy(&pool->lock);
    free(pool);
    *pool_p = NULL;
}

int cw_asr_pool_workers(const cw_asr_pool_t *pool)
{
    return pool->n_workers;
}

void cw_asr_pool_get_stats(cw_asr_pool_t *pool, cw_asr_pool_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    pthread_mutex_lock(&pool->lock);
    stats->utterances_decoded = pool->utterances_decoded;
    stats->samples_decoded = pool->samples_decoded;
    stats->decode_cpu_s = pool->decode_cpu_s;
    stats->samples_decoded_cue = pool->samples_decoded_cue;
    stats->decode_cpu_cue_s = pool->decode_cpu_cue_s;
    stats->keyphrases = pool->n_spottable;
    for (cw_asr_stream_t *s = pool->streams; s; s = s->next) {
        stats->samples_dropped += atomic_load_explicit(&s->dropped, memory_order_relaxed);
        stats->queued_utterances += s->utt_count - (s->bound ? 1 : 0);
        stats->streams_cue += atomic_load(&s->mode) == CW_ASR_CUE;
        double backlog_s = (double)cw_ring_read_space(s->audio) / s->rate_hz;
        if (backlog_s > stats->backlog_max_s)
            stats->backlog_max_s = backlog_s;
    }
    for (int i = 0; i < pool->n_workers; i++)
        stats->busy_decoders += pool->workers[i].stream != NULL;
    pthread_mutex_unlock(&pool->lock);
}

/* --- streams ---------------------------------------------------------------- */

int cw_asr_pool_rate_for(const cw_asr_pool_t *pool, int in_rate_hz)
{
    return in_rate_hz == CW_ASR_RATE_8K && pool->n_workers_8k > 0 ? CW_ASR_RATE_8K : CW_ASR_RATE;
}

cw_asr_stream_t *cw_asr_stream_new(cw_asr_pool_t *pool, int leg, int in_rate_hz, bool blocking,
                                   cw_asr_result_fn on_result, cw_asr_drained_fn on_drained, void *user,
                                   cw_error_t *err)
{
    cw_asr_stream_t *s = calloc(1, sizeof *s);
    if (!s) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating a recogniser stream");
        return NULL;
    }
    s->rate_hz = cw_asr_pool_rate_for(pool, in_rate_hz);
    size_t backlog_samples = (size_t)(pool->backlog_s * s->rate_hz);
    s->audio = cw_ring_new(sizeof(int16_t), backlog_samples);
    if (!s->audio) {
        free(s);
        cw_error_set(err, CW_ERR_NOMEM, "out of memory for a %zu-sample recogniser backlog", backlog_samples);
        return NULL;
    }
    s->pool = pool;
    s->leg = leg;
    s->blocking = blocking;
    s->on_result = on_result;
    s->on_drained = on_drained;
    s->user = user;
    atomic_init(&s->dropped, 0);
    atomic_init(&s->mode, CW_ASR_FULL);
    pthread_mutex_lock(&pool->lock);
    s->next = pool->streams;
    if (pool->streams)
        pool->streams->prev = s;
    pool->streams = s;
    pthread_mutex_unlock(&pool->lock);
    return s;
}

int cw_asr_stream_begin(cw_asr_stream_t *s, int64_t start_sample)
{
    cw_asr_pool_t *pool = s->pool;
    pthread_mutex_lock(&pool->lock);
    if (s->producer_open && !s->skipping)
        s->utts[(s->utt_head + s->utt_count - 1) % UTT_TABLE].complete = true;
    if (atomic_load(&s->mode) == CW_ASR_OFF) {
        s->producer_open = true;
        s->skipping = true;
        s->unheard = true;
        pthread_mutex_unlock(&pool->lock);
        return CW_OK;
    }
    s->unheard = false;
    while (s->blocking && s->utt_count == UTT_TABLE && !pool->stopping)
        pthread_cond_wait(&pool->space, &pool->lock);
    if (s->utt_count == UTT_TABLE || pool->stopping) {
        s->producer_open = true;
        s->skipping = true;
        pthread_mutex_unlock(&pool->lock);
        return CW_ERR_BUSY;
    }
    utterance_t *u = &s->utts[(s->utt_head + s->utt_count) % UTT_TABLE];
    memset(u, 0, sizeof *u);
    u->start_sample = start_sample;
    u->begin_order = ++pool->order_counter;
    u->seq = s->next_seq++;
    s->utt_count++;
    s->producer_open = true;
    s->skipping = false;
    pthread_mutex_unlock(&pool->lock);
    return CW_OK;
}

size_t cw_asr_stream_write(cw_asr_stream_t *s, const int16_t *samples, size_t n)
{
    cw_asr_pool_t *pool = s->pool;
    if (!s->producer_open)
        return 0;
    if (s->skipping) {
        if (s->unheard)
            return n;
        atomic_fetch_add_explicit(&s->dropped, n, memory_order_relaxed);
        return 0;
    }
    size_t done = 0;
    while (done < n) {
        size_t wrote = cw_ring_write(s->audio, samples + done, n - done);
        pthread_mutex_lock(&pool->lock);
        utterance_t *u = &s->utts[(s->utt_head + s->utt_count - 1) % UTT_TABLE];
        u->n_written += wrote;
        done += wrote;
        wake_for(pool, s);
        if (done < n && s->blocking && !pool->stopping) {
            /* The ring counted the refused samples as overrun, but nothing was
             * lost: they are written again once a decoder made room. */
            while (cw_ring_write_space(s->audio) == 0 && !pool->stopping)
                pthread_cond_wait(&pool->space, &pool->lock);
            pthread_mutex_unlock(&pool->lock);
            continue;
        }
        if (done < n) {
            u->n_dropped += n - done;
            atomic_fetch_add_explicit(&s->dropped, n - done, memory_order_relaxed);
        }
        pthread_mutex_unlock(&pool->lock);
        break;
    }
    return done;
}

void cw_asr_stream_end(cw_asr_stream_t *s)
{
    cw_asr_pool_t *pool = s->pool;
    if (!s->producer_open)
        return;
    pthread_mutex_lock(&pool->lock);
    if (!s->skipping) {
        utterance_t *u = &s->utts[(s->utt_head + s->utt_count - 1) % UTT_TABLE];
        u->complete = true;
        u->complete_order = ++pool->order_counter;
        wake_for(pool, s);
    }
    s->producer_open = false;
    s->skipping = false;
    s->unheard = false;
    pthread_mutex_unlock(&pool->lock);
}

void cw_asr_stream_close(cw_asr_stream_t *s)
{
    cw_asr_stream_end(s);
    cw_asr_pool_t *pool = s->pool;
    pthread_mutex_lock(&pool->lock);
    s->closed = true;
    notify_drained_locked(pool, s);
    pthread_mutex_unlock(&pool->lock);
}

void cw_asr_stream_set_mode(cw_asr_stream_t *s, cw_asr_mode_t mode)
{
    atomic_store(&s->mode, (int)mode);
}

cw_asr_mode_t cw_asr_stream_mode(const cw_asr_stream_t *s)
{
    return (cw_asr_mode_t)atomic_load(&s->mode);
}

int cw_asr_mode_parse(const char *name)
{
    if (name && strcmp(name, "full") == 0)
        return CW_ASR_FULL;
    if (name && strcmp(name, "cue") == 0)
        return CW_ASR_CUE;
    return -1;
}

const char *cw_asr_mode_name(cw_asr_mode_t mode)
{
    if (mode == CW_ASR_OFF)
        return "off";
    return mode == CW_ASR_CUE ? "cue" : "full";
}

int cw_asr_stream_rate(const cw_asr_stream_t *s)
{
    return s->rate_hz;
}

uint64_t cw_asr_stream_dropped(const cw_asr_stream_t *s)
{
    return atomic_load_explicit(&s->dropped, memory_order_relaxed);
}

void cw_asr_stream_destroy(cw_asr_stream_t **sp)
{
    if (!sp || !*sp)
        return;
    cw_asr_stream_t *s = *sp;
    cw_asr_pool_t *pool = s->pool;
    if (pool) {
        pthread_mutex_lock(&pool->lock);
        if (s->prev)
            s->prev->next = s->next;
        else
            pool->streams = s->next;
        if (s->next)
            s->next->prev = s->prev;
        pthread_mutex_unlock(&pool->lock);
    }
    cw_ring_destroy(&s->audio);
    free(s);
    *sp = NULL;
}
