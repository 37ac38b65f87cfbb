/* redact.h - masks card numbers, other long spoken digit runs and configured
 * patterns in transcripts before anything downstream (events, cue detection,
 * alert evidence, the bus, the archive) sees them.
 *
 * Digit runs: consecutive words from the digit lexicon ([redact] words, a
 * JSON file in models/): "four five three two", "double five" (two digits),
 * "oh" and recogniser homophones ("for", "to") only next to real digit words,
 * Chinese digit characters when the lexicon says split_chars. A run holding
 * at least [redact] min_digits digits has every word replaced by the
 * lexicon's mask ("[digits]"); times and confidences are kept, so timing
 * analysis still works.
 * Patterns: [redact] patterns, POSIX extended regexes (one per line) matched
 * case-insensitively against each word; a matching word becomes the
 * lexicon's pattern_mask ("[redacted]").
 *
 * A redactor is used by one thread at a time (one per leg: a leg's
 * transcripts arrive one after another).
 */
#ifndef CALLWATCH_REDACT_H
#define CALLWATCH_REDACT_H

#include "callwatch/config.h"
#include "callwatch/error.h"
#include "callwatch/transcript.h"

#include <stddef.h>

typedef struct cw_redactor cw_redactor_t;

/* Loads the lexicon and patterns named in cfg's [redact]. Errors name the
 * file (and line for a bad pattern): CW_ERR_NOT_FOUND, CW_ERR_FORMAT. */
cw_redactor_t *cw_redactor_new(const cw_config_t *cfg, cw_error_t *err);

/* Same from explicit paths (patterns_path NULL or "" = none). */
cw_redactor_t *cw_redactor_load(const char *words_path, const char *patterns_path, int min_digits,
                                cw_error_t *err);

/* The transcript with sensitive words masked: `in` itself when nothing
 * needed masking, else a copy owned by r, valid until the next call on r or
 * its destruction. Words come from in->words, or from in->text split at
 * spaces when a partial has none. The text is rebuilt from the words. If
 * memory runs out the result is an empty transcript (nothing leaks).
 * r NULL returns in. */
const cw_transcript_t *cw_redact_apply(cw_redactor_t *r, const cw_transcript_t *in);

/* Words masked since creation (digit runs and patterns). */
unsigned long cw_redactor_masked(const cw_redactor_t *r);

void cw_redactor_destroy(cw_redactor_t **r);

#endif
