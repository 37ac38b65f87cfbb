/* cues.h - word cues of one leg: lexicon matches on final transcripts,
 * fused per alert kind over a sliding window.
 *
 * Each transcript's words are matched against the cue lexicon
 * (lexicon.h: negation and benign contexts already removed). For every kind
 * with a new match, the kind's score is the noisy-OR of the matches in the
 * last window_s seconds, each counting weight x recogniser confidence:
 * one strong phrase is enough for a warning, two make it critical, and a
 * word heard with low confidence counts for little.
 *
 * Not thread-safe: one per leg, used under the call's detector lock.
 */
#ifndef CALLWATCH_CUES_H
#define CALLWATCH_CUES_H

#include "callwatch/cue.h"
#include "callwatch/error.h"
#include "callwatch/lexicon.h"
#include "callwatch/transcript.h"

#include <jansson.h>
#include <stddef.h>

typedef struct cw_cue_params {
    double min_conf;  /* words heard with lower confidence never match (0..1) */
    double window_s;  /* matches this recent are fused (> 0) */
    double partial_trust; /* weight of a match in a partial hypothesis, which has no
                           * confidence of its own (0..1; 0 = finals only) */
    double partial_settle_s; /* a partial's last word that ended at least this many
                              * seconds before the partial's audio did is settled
                              * (>= 0; 0 = never: it waits for the next result) */
} cw_cue_params_t;

typedef struct cw_cues cw_cues_t;

/* lexicon is borrowed and must outlive the detector. leg_name for texts. */
cw_cues_t *cw_cues_new(const cw_lexicon_t *lexicon, const cw_cue_params_t *params, const char *leg_name,
                       cw_error_t *err);
void cw_cues_destroy(cw_cues_t **cues);

/* Feeds one transcript. Fills up to cap cues (one per kind of the lexicon
 * with a new match; span = the fused matches, evidence {"words": [...]},
 * text = what was said) and returns how many; the caller owns each cue's
 * evidence.
 * Partial hypotheses count too (confidence partial_trust), so a phrase in
 * the middle of a long sentence is caught while the sentence goes on; every
 * later result of the same utterance replaces the partial's matches; a later
 * partial does not offer a phrase an earlier one matched. A partial's last
 * word is left for the next result (it may still be growing, and the words
 * after it may make the phrase benign) unless partial_settle_s of audio
 * after it brought no other word (the speaker paused), and so is a match that the start of
 * a benign phrase reaching the partial's end covers ("please cancel" waits:
 * "please cancel my order" is benign). */
size_t cw_cues_feed(cw_cues_t *cues, const cw_transcript_t *tr, cw_cue_t *out, size_t cap);

#endif
