/* asr.h - the shared PocketSphinx decoder pool.
 *
 * Many legs, few decoders. The pool owns `workers` threads, each with one
 * ps_decoder_t (acoustic model, dictionary and LM loaded once per decoder,
 * never per leg). A leg gets a cw_asr_stream_t; its front end writes only the
 * speech the VAD found, as utterances (begin / write / end). The scheduler
 * binds a waiting utterance to a free decoder: complete utterances first
 * (oldest end first), otherwise the oldest utterance still in progress, which
 * is then decoded as it arrives with partial hypotheses. Utterances of one leg
 * are decoded in order and never concurrently.
 *
 * Two acoustic models: every pool decodes 16 kHz audio with [models] hmm;
 * with [asr] model_8k set it also holds workers_8k decoders of that model,
 * which decode the legs whose native rate is exactly 8 kHz at 8 kHz (no
 * upsampling). A stream is bound only to decoders of its own rate. Legs at
 * any other rate are resampled to 16 kHz as before.
 *
 * Results are delivered through the pool's callback on a worker thread.
 * Memory per stream is its backlog ring (backlog_s of int16 at its rate).
 *
 * Thread rules: pool new/destroy on one thread. A stream's begin/write/end/
 * close are called by one producer thread (the leg's); results arrive on
 * worker threads. The pool's lock is never taken on an audio callback path
 * (the front end runs on the ingest thread, not in the callback).
 */
#ifndef CALLWATCH_ASR_H
#define CALLWATCH_ASR_H

#include "callwatch/config.h"
#include "callwatch/error.h"
#include "callwatch/transcript.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CW_ASR_RATE 16000
#define CW_ASR_RATE_8K 8000

typedef struct cw_asr_pool cw_asr_pool_t;

/* How a stream is recognised. FULL: every word (n-gram search). CUE: only
 * the cue lexicon's phrases are spotted (keyphrase search, keyphrases.h);
 * each final transcript then holds the phrases spotted in the utterance, in
 * time order, with times split over their words and the confidence derived
 * from the detection score, and `spotted` set. OFF: utterances are taken
 * and discarded unheard (no decoder time, no transcript, nothing counted as
 * dropped): for a leg whose words no detector reads in cue mode. A mode
 * applies from the next utterance begun. */
typedef enum cw_asr_mode { CW_ASR_FULL = 0, CW_ASR_CUE = 1, CW_ASR_OFF = 2 } cw_asr_mode_t;

/* "full" -> CW_ASR_FULL, "cue" -> CW_ASR_CUE, anything else -> -1 (OFF is
 * chosen by the pipeline, never configured). */
int cw_asr_mode_parse(const char *name);
const char *cw_asr_mode_name(cw_asr_mode_t mode);
typedef struct cw_asr_stream cw_asr_stream_t;

/* Called on a worker thread with each partial and final transcript of a
 * stream. tr and its strings are valid only during the call. */
typedef void (*cw_asr_result_fn)(void *stream_user, const cw_transcript_t *tr);

/* Called once on a worker thread (or on the closing thread if nothing was
 * pending) after cw_asr_stream_close() when the stream's last utterance has
 * been delivered. The stream may be destroyed from then on. */
typedef void (*cw_asr_drained_fn)(void *stream_user);

/* Loads cfg->hmm/dict/lm into cfg->asr_workers decoders (0 = one per core),
 * and, when cfg->asr_model_8k is set, cfg->asr_model_8k/dict/lm into
 * cfg->asr_workers_8k more (0 = as many) decoding at 8 kHz, and starts the
 * threads. Each decoder also gets the keyphrase search of cue
 * mode, built from cfg->cues and cfg->keyphrases (phrases with a word the
 * dictionary lacks are left out). Errors name the missing or bad file. */
cw_asr_pool_t *cw_asr_pool_new(const cw_config_t *cfg, cw_error_t *err);

/* Stops the workers (abandoning undelivered utterances) and frees. */
void cw_asr_pool_destroy(cw_asr_pool_t **pool);

/* Decoders in the pool: the 16 kHz ones plus the 8 kHz ones. */
int cw_asr_pool_workers(const cw_asr_pool_t *pool);

typedef struct cw_asr_pool_stats {
    uint64_t utterances_decoded;
    uint64_t samples_decoded;         /* speech run through decoders, in 16 kHz samples (8 kHz ones count 2) */
    uint64_t samples_dropped;         /* speech lost to full backlogs (live only) */
    double decode_cpu_s;              /* wall time spent inside ps_process_raw / ps_end_utt */
    int queued_utterances;            /* waiting for a decoder now */
    uint64_t samples_decoded_cue;     /* of samples_decoded, those of cue-mode utterances */
    double decode_cpu_cue_s;          /* of decode_cpu_s, the cue-mode part */
    int streams_cue;                  /* streams in cue mode now */
    size_t keyphrases;                /* phrases the keyphrase search spots (suppressors included) */
    double backlog_max_s;             /* most speech any one stream has waiting for a decoder, seconds */
    int busy_decoders;
} cw_asr_pool_stats_t;

void cw_asr_pool_get_stats(cw_asr_pool_t *pool, cw_asr_pool_stats_t *stats);

/* The rate a leg whose audio arrives at in_rate_hz is decoded at:
 * CW_ASR_RATE_8K when in_rate_hz is 8000 and the pool has 8 kHz decoders,
 * otherwise CW_ASR_RATE (the leg is resampled to 16 kHz). */
int cw_asr_pool_rate_for(const cw_asr_pool_t *pool, int in_rate_hz);

/* A new stream for one leg. leg is a cw_leg_id; in_rate_hz the leg's native
 * rate, which picks the stream's rate (cw_asr_pool_rate_for); user is passed
 * to callbacks. blocking: true for offline analysis (write waits for room,
 * nothing is ever dropped), false for live audio (write drops what does not
 * fit and counts it). */
cw_asr_stream_t *cw_asr_stream_new(cw_asr_pool_t *pool, int leg, int in_rate_hz, bool blocking,
                                   cw_asr_result_fn on_result, cw_asr_drained_fn on_drained,
                                   void *user, cw_error_t *err);

/* Hz of the samples cw_asr_stream_write() takes: CW_ASR_RATE or CW_ASR_RATE_8K. */
int cw_asr_stream_rate(const cw_asr_stream_t *s);

/* Opens an utterance whose first sample is at start_sample of the leg's
 * 16 kHz timeline (used for word times). Returns 0, or CW_ERR_BUSY when the
 * stream's utterance table is full (live: the utterance is skipped and its
 * samples counted as dropped). */
int cw_asr_stream_begin(cw_asr_stream_t *s, int64_t start_sample);

/* Appends samples, at cw_asr_stream_rate(), to the open utterance. Returns
 * samples accepted. */
size_t cw_asr_stream_write(cw_asr_stream_t *s, const int16_t *samples, size_t n);

/* Closes the open utterance: it becomes complete and is decoded to the end. */
void cw_asr_stream_end(cw_asr_stream_t *s);

/* No more utterances will come (ends an open one). on_drained follows. */
void cw_asr_stream_close(cw_asr_stream_t *s);

/* Switches the stream's mode; it applies from the stream's next utterance a
 * decoder takes (one in progress finishes in its old mode). Any thread. */
void cw_asr_stream_set_mode(cw_asr_stream_t *s, cw_asr_mode_t mode);
cw_asr_mode_t cw_asr_stream_mode(const cw_asr_stream_t *s);

/* Samples dropped on this stream (backlog full). */
uint64_t cw_asr_stream_dropped(const cw_asr_stream_t *s);

/* Frees a stream. Only after on_drained was called, or after the pool was
 * destroyed. NULLs *s. */
void cw_asr_stream_destroy(cw_asr_stream_t **s);

#endif
