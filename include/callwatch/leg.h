/* leg.h - per-leg processing: native-rate audio in, speech to the recogniser.
 *
 * One leg = one speaker side of one call. cw_leg_push() takes float samples at
 * the leg's native rate, resamples them to 16 kHz (resample.h), finds speech
 * (vad.h) and hands only speech, as utterances, to the decoder pool stream
 * (asr.h). Silence never reaches the recogniser. VAD and prosody always run
 * on the 16 kHz audio; when the stream decodes at 8 kHz (an 8 kHz leg with
 * [asr] model_8k set) the recogniser gets the leg's native 8 kHz samples of
 * the same spans instead of the upsampled ones.
 *
 * Not thread-safe: a leg is driven by one thread (the ingest thread). All
 * buffers are allocated in cw_leg_new().
 */
#ifndef CALLWATCH_LEG_H
#define CALLWATCH_LEG_H

#include "callwatch/asr.h"
#include "callwatch/config.h"
#include "callwatch/cue.h"
#include "callwatch/error.h"
#include "callwatch/prosody.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct cw_leg cw_leg_t;

/* in_rate_hz: native rate of the audio pushed. max_push: largest chunk
 * cw_leg_push() receives. stream: the leg's decoder-pool stream (borrowed;
 * the leg writes utterances to it and closes it in cw_leg_finish()), or NULL
 * for a leg that is only measured (voice activity and prosody, no words). A
 * stream whose rate is not 16 kHz must have been made for in_rate_hz. */
cw_leg_t *cw_leg_new(const cw_config_t *cfg, int leg_id, int in_rate_hz, size_t max_push,
                     cw_asr_stream_t *stream, cw_error_t *err);

void cw_leg_destroy(cw_leg_t **leg);

/* Processes n samples (n <= max_push). Returns 0 or a negative cw_status. */
int cw_leg_push(cw_leg_t *leg, const float *samples, size_t n, cw_error_t *err);

/* End of audio: flushes the resampler, closes any open utterance and closes
 * the stream. */
int cw_leg_finish(cw_leg_t *leg, cw_error_t *err);

/* Seconds of this leg's audio processed so far. */
double cw_leg_seconds(const cw_leg_t *leg);

/* Whether the leg is talking now and since when (leg seconds), from the VAD:
 * what turn-taking detectors need. */
void cw_leg_activity(const cw_leg_t *leg, cw_activity_t *out);

/* Seconds of speech the VAD sent to the recogniser so far. */
double cw_leg_speech_seconds(const cw_leg_t *leg);

/* The prosody of every frame processed since the last call (prosody.h), in
 * order: moves up to cap of them into out and returns how many. The leg keeps
 * at most cw_leg_prosody_capacity() frames, enough for one cw_leg_push() or
 * cw_leg_finish(): drain after each, or the oldest undrained frames are kept
 * and newer ones are not recorded. */
size_t cw_leg_take_prosody(cw_leg_t *leg, cw_prosody_frame_t *out, size_t cap);

/* Frames one push can yield at most (size the buffer of cw_leg_take_prosody). */
size_t cw_leg_prosody_capacity(const cw_leg_t *leg);

#endif
