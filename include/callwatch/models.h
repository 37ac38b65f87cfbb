/* models.h - the detection models a call reads (the cue lexicon and the
 * voice model), loaded once and shared read-only by every call.
 *
 * A call used to parse [models] cues and prosody itself; with hundreds of
 * calls that is hundreds of copies and a JSON parse at every call start.
 * cw_models_get() keeps one loaded copy per file version: the same paths
 * with the same files on disk (device, inode, size, modification time)
 * give the same bundle, retained; a file replaced on disk (a model update
 * before SIGHUP, a config generation naming other files) gives a fresh
 * bundle, while calls holding the old one keep it until they release it.
 *
 * Ownership: cw_models_get() returns a reference the caller releases with
 * cw_models_release(); the bundle is freed with its last reference. The
 * lexicon and voice model inside are immutable after load, so any number of
 * threads may read them at once.
 *
 * Thread-safety: cw_models_get(), _retain() and _release() may be called
 * from any thread (one process-wide lock guards the cache; loading happens
 * under it, so two calls starting together parse the files once).
 */
#ifndef CALLWATCH_MODELS_H
#define CALLWATCH_MODELS_H

#include "callwatch/config.h"
#include "callwatch/error.h"
#include "callwatch/lexicon.h"
#include "callwatch/voice.h"

#include <stddef.h>

typedef struct cw_models cw_models_t;

/* The models of cfg ([models] cues and prosody, resolved as
 * cw_config_model_path() does): a retained shared bundle, or NULL with err
 * naming the file and what was wrong. */
cw_models_t *cw_models_get(const cw_config_t *cfg, cw_error_t *err);

cw_models_t *cw_models_retain(cw_models_t *m);

/* Drops a reference and NULLs *m; accepts NULL and *m NULL. */
void cw_models_release(cw_models_t **m);

const cw_lexicon_t *cw_models_lexicon(const cw_models_t *m);
const cw_voice_model_t *cw_models_voice(const cw_models_t *m);

/* Bundles loaded so far in this process (cache hits do not count), for
 * tests and the metrics. */
size_t cw_models_loads(void);

/* Drops the cache's own references (calls keep theirs): for a clean exit
 * under leak checkers. */
void cw_models_forget_all(void);

#endif
