/* test_asr.c - the shared decoder pool: many legs, few decoders.
 *
 * Uses PocketSphinx's own recording "go forward ten meters" (pocketsphinx-
 * testdata) so the words are known. Checks what a user relies on: every
 * utterance of every leg comes back, in order, with the right words at the
 * right call times; a closed leg drains; a live leg that outruns the decoders
 * counts what it drops instead of hiding it.
 */
#include "callwatch/asr.h"
#include "callwatch/config.h"

#include "check.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GOFORWARD "/usr/share/pocketsphinx/test/data/goforward.raw"
#define N_STREAMS 6
#define N_UTTS 3
/* Each utterance is placed at this call time (seconds) times its index, so the
 * word times tell whether the pool keeps the timeline of each leg. */
#define UTT_SPACING_S 10.0

typedef struct leg_result {
    pthread_mutex_t lock;
    int finals;
    int partials;
    int order_errors;
    int last_seq;
    int with_forward;
    int time_errors;
    _Atomic int drained;
} leg_result_t;

static void on_result(void *user, const cw_transcript_t *tr)
{
    leg_result_t *r = user;
    pthread_mutex_lock(&r->lock);
    if (!tr->final) {
        r->partials++;
        pthread_mutex_unlock(&r->lock);
        return;
    }
    if (tr->utterance != r->last_seq + 1)
        r->order_errors++;
    r->last_seq = tr->utterance;
    r->finals++;
    double placed = UTT_SPACING_S * tr->utterance;
    for (size_t i = 0; i < tr->n_words; i++) {
        if (strcmp(tr->words[i].w, "forward") == 0) {
            r->with_forward++;
            /* "forward" is the second word, about 0.6-1.5 s into the recording. */
            if (tr->words[i].t_start < placed + 0.3 || tr->words[i].t_start > placed + 2.0) {
                r->time_errors++;
                fprintf(stderr, "utterance %d placed at %.2f s: 'forward' at %.2f s\n", tr->utterance, placed,
                        tr->words[i].t_start);
            }
        }
        if (tr->words[i].conf < 0 || tr->words[i].conf > 1 || tr->words[i].t_end < tr->words[i].t_start) {
            r->time_errors++;
            fprintf(stderr, "word '%s' %.2f..%.2f s conf %.3f is not a valid span\n", tr->words[i].w,
                    tr->words[i].t_start, tr->words[i].t_end, tr->words[i].conf);
        }
    }
    pthread_mutex_unlock(&r->lock);
}

static void on_drained(void *user)
{
    leg_result_t *r = user;
    atomic_fetch_add(&r->drained, 1);
}

static int16_t *load_raw(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fseek(f, 0, SEEK_SET);
    int16_t *buf = malloc((size_t)bytes);
    *n = fread(buf, sizeof(int16_t), (size_t)bytes / sizeof(int16_t), f);
    fclose(f);
    return buf;
}

static void wait_drained(leg_result_t *res, int n, double timeout_s)
{
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        int done = 0;
        for (int i = 0; i < n; i++)
            done += atomic_load(&res[i].drained) > 0;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (done == n || (double)(now.tv_sec - start.tv_sec) > timeout_s)
            return;
        struct timespec ts = {0, 5000000};
        nanosleep(&ts, NULL);
    }
}

static void test_many_legs_share_two_decoders(cw_config_t *cfg, const int16_t *audio, size_t n_audio)
{
    cw_error_t err;
    cfg->asr_workers = 2;
    cw_asr_pool_t *pool = cw_asr_pool_new(cfg, &err);
    CHECK(pool != NULL, "pool: %s", err.msg);
    if (!pool)
        return;
    CHECK(cw_asr_pool_workers(pool) == 2, "workers %d", cw_asr_pool_workers(pool));

    leg_result_t res[N_STREAMS];
    cw_asr_stream_t *streams[N_STREAMS];
    for (int i = 0; i < N_STREAMS; i++) {
        memset(&res[i], 0, sizeof res[i]);
        pthread_mutex_init(&res[i].lock, NULL);
        res[i].last_seq = -1;
        streams[i] = cw_asr_stream_new(pool, i % 2, CW_ASR_RATE, true, on_result, on_drained, &res[i], &err);
        CHECK(streams[i] != NULL, "stream %d: %s", i, err.msg);
    }
    /* Interleave the legs in 10 ms pieces as a live front end would. */
    for (int u = 0; u < N_UTTS; u++) {
        for (int i = 0; i < N_STREAMS; i++)
            cw_asr_stream_begin(streams[i], (int64_t)(UTT_SPACING_S * u * CW_ASR_RATE));
        for (size_t at = 0; at < n_audio; at += 160) {
            size_t n = n_audio - at < 160 ? n_audio - at : 160;
            for (int i = 0; i < N_STREAMS; i++)
                cw_asr_stream_write(streams[i], audio + at, n);
        }
        for (int i = 0; i < N_STREAMS; i++)
            cw_asr_stream_end(streams[i]);
    }
    for (int i = 0; i < N_STREAMS; i++)
        cw_asr_stream_close(streams[i]);
    wait_drained(res, N_STREAMS, 120);

    for (int i = 0; i < N_STREAMS; i++) {
        CHECK(atomic_load(&res[i].drained) == 1, "stream %d drained %d times", i, atomic_load(&res[i].drained));
        CHECK(res[i].finals == N_UTTS, "stream %d: %d finals, want %d", i, res[i].finals, N_UTTS);
        CHECK(res[i].order_errors == 0, "stream %d: utterances out of order", i);
        CHECK(res[i].with_forward == N_UTTS, "stream %d: 'forward' heard in %d of %d utterances", i,
              res[i].with_forward, N_UTTS);
        CHECK(res[i].time_errors == 0, "stream %d: %d word times off the leg's timeline", i, res[i].time_errors);
        CHECK(cw_asr_stream_dropped(streams[i]) == 0, "offline stream %d dropped %llu samples", i,
              (unsigned long long)cw_asr_stream_dropped(streams[i]));
    }
    cw_asr_pool_stats_t st;
    cw_asr_pool_get_stats(pool, &st);
    CHECK(st.utterances_decoded == N_STREAMS * N_UTTS, "decoded %llu utterances",
          (unsigned long long)st.utterances_decoded);
    CHECK(st.samples_decoded == (uint64_t)N_STREAMS * N_UTTS * n_audio, "decoded %llu samples",
          (unsigned long long)st.samples_decoded);
    printf("pool: %d legs x %d utterances on 2 decoders, decode cpu %.2f s for %.1f s of speech (RTF %.3f)\n",
           N_STREAMS, N_UTTS, st.decode_cpu_s, (double)st.samples_decoded / CW_ASR_RATE,
           st.decode_cpu_s / ((double)st.samples_decoded / CW_ASR_RATE));
    for (int i = 0; i < N_STREAMS; i++) {
        cw_asr_stream_destroy(&streams[i]);
        CHECK(streams[i] == NULL, "destroy NULLs the stream");
        pthread_mutex_destroy(&res[i].lock);
    }
    cw_asr_pool_destroy(&pool);
    CHECK(pool == NULL, "destroy NULLs the pool");
}

static void test_live_leg_counts_drops(cw_config_t *cfg, const int16_t *audio, size_t n_audio)
{
    cw_error_t err;
    cfg->asr_workers = 1;
    cfg->asr_backlog_s = 1.0; /* far less than what is written at once */
    cw_asr_pool_t *pool = cw_asr_pool_new(cfg, &err);
    CHECK(pool != NULL, "pool: %s", err.msg);
    if (!pool)
        return;
    leg_result_t res;
    memset(&res, 0, sizeof res);
    pthread_mutex_init(&res.lock, NULL);
    res.last_seq = -1;
    cw_asr_stream_t *s = cw_asr_stream_new(pool, 1, CW_ASR_RATE, false, on_result, on_drained, &res, &err);
    CHECK(s != NULL, "stream: %s", err.msg);
    cw_asr_stream_begin(s, 0);
    size_t accepted = 0;
    for (int rep = 0; rep < 4; rep++)
        accepted += cw_asr_stream_write(s, audio, n_audio); /* 4 x 2.8 s at once into a 1 s backlog */
    cw_asr_stream_close(s);
    wait_drained(&res, 1, 60);
    uint64_t dropped = cw_asr_stream_dropped(s);
    CHECK(dropped > 0, "a live leg writing past its backlog must count drops");
    CHECK(accepted + dropped == 4 * n_audio, "accepted %zu + dropped %llu != written %zu", accepted,
          (unsigned long long)dropped, 4 * n_audio);
    CHECK(atomic_load(&res.drained) == 1, "live stream drained");
    CHECK(res.finals == 1, "the kept audio is still decoded (%d finals)", res.finals);
    cw_asr_stream_destroy(&s);
    pthread_mutex_destroy(&res.lock);
    cw_asr_pool_destroy(&pool);
}

static void test_missing_model_is_reported(cw_config_t *cfg)
{
    cw_error_t err;
    cw_error_clear(&err);
    char saved[CW_PATH_MAX];
    memcpy(saved, cfg->hmm, sizeof saved);
    snprintf(cfg->hmm, sizeof cfg->hmm, "/nonexistent/model");
    cw_asr_pool_t *pool = cw_asr_pool_new(cfg, &err);
    CHECK(pool == NULL, "a missing acoustic model must fail");
    CHECK(strstr(err.msg, "/nonexistent/model") && strstr(err.msg, "hmm"), "message names option and path: %s",
          err.msg);
    memcpy(cfg->hmm, saved, sizeof saved);
}

/* A leg at 8 kHz: without model_8k it goes to the 16 kHz decoders as before;
 * with it, the stream takes 8 kHz samples, only an 8 kHz decoder takes it,
 * and its words come back at the leg's 16 kHz timeline's times. */
static void test_8k_leg_decoded_natively(cw_config_t *cfg, const int16_t *audio, size_t n_audio)
{
    cw_error_t err;
    cfg->asr_workers = 1;
    cfg->asr_backlog_s = 30;
    cw_asr_pool_t *pool = cw_asr_pool_new(cfg, &err);
    CHECK(pool && cw_asr_pool_rate_for(pool, 8000) == CW_ASR_RATE, "no model_8k: 8 kHz legs take 16 kHz decoders");
    cw_asr_pool_destroy(&pool);

    const char *model = getenv("CALLWATCH_MODEL_8K");
    if (!model)
        model = CALLWATCH_MODELS_DIR "/../../shared/models/en-us-8k/hub4wsj_sc_8k";
    snprintf(cfg->asr_model_8k, sizeof cfg->asr_model_8k, "/nonexistent/model-8k");
    pool = cw_asr_pool_new(cfg, &err);
    CHECK(pool == NULL && strstr(err.msg, "model_8k") && strstr(err.msg, "/nonexistent/model-8k"),
          "a missing model_8k names option and path: %s", err.msg);
    snprintf(cfg->asr_model_8k, sizeof cfg->asr_model_8k, "%s", model);
    if (cw_config_acoustic_missing(model)) {
        printf("skip 8 kHz decoding: no 8 kHz model at %s (set CALLWATCH_MODEL_8K)\n", model);
        cfg->asr_model_8k[0] = '\0';
        return;
    }
    cfg->asr_workers_8k = 1;
    pool = cw_asr_pool_new(cfg, &err);
    CHECK(pool != NULL, "pool with model_8k: %s", err.msg);
    if (!pool)
        return;
    CHECK(cw_asr_pool_workers(pool) == 2, "one 16 kHz and one 8 kHz decoder, got %d", cw_asr_pool_workers(pool));
    /* Halved by averaging pairs: a crude low-pass, enough for these words. */
    size_t n8 = n_audio / 2;
    int16_t *audio8 = malloc(n8 * sizeof *audio8);
    for (size_t i = 0; i < n8; i++)
        audio8[i] = (int16_t)((audio[2 * i] + audio[2 * i + 1]) / 2);
    leg_result_t res;
    memset(&res, 0, sizeof res);
    pthread_mutex_init(&res.lock, NULL);
    res.last_seq = -1;
    cw_asr_stream_t *s = cw_asr_stream_new(pool, 1, 8000, true, on_result, on_drained, &res, &err);
    CHECK(s && cw_asr_stream_rate(s) == 8000, "an 8 kHz leg's stream takes 8 kHz samples");
    for (int u = 0; s && u < 2; u++) {
        cw_asr_stream_begin(s, (int64_t)(UTT_SPACING_S * u * CW_ASR_RATE));
        cw_asr_stream_write(s, audio8, n8);
        cw_asr_stream_end(s);
    }
    if (s)
        cw_asr_stream_close(s);
    wait_drained(&res, 1, 120);
    CHECK(res.finals == 2 && res.with_forward == 2, "8 kHz: %d finals, 'forward' in %d", res.finals,
          res.with_forward);
    CHECK(res.time_errors == 0, "8 kHz: %d word times off the leg's timeline", res.time_errors);
    cw_asr_pool_stats_t st;
    cw_asr_pool_get_stats(pool, &st);
    CHECK(st.samples_decoded == 2 * 2 * (uint64_t)n8, "stats count 16 kHz samples: %llu",
          (unsigned long long)st.samples_decoded);
    cw_asr_stream_destroy(&s);
    pthread_mutex_destroy(&res.lock);
    cw_asr_pool_destroy(&pool);
    free(audio8);
    cfg->asr_model_8k[0] = '\0';
}

int main(void)
{
    size_t n_audio = 0;
    int16_t *audio = load_raw(GOFORWARD, &n_audio);
    if (!audio) {
        printf("SKIP: %s not found (install pocketsphinx-testdata)\n", GOFORWARD);
        return 77;
    }
    cw_config_t *cfg = cw_config_new();
    cfg->asr_partial_interval_ms = 100;
    test_missing_model_is_reported(cfg);
    test_many_legs_share_two_decoders(cfg, audio, n_audio);
    test_live_leg_counts_drops(cfg, audio, n_audio);
    test_8k_leg_decoded_natively(cfg, audio, n_audio);
    cw_config_destroy(&cfg);
    free(audio);
    return check_summary("asr");
}
