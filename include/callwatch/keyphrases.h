/* keyphrases.h - the keyphrase list of cue mode, built from the cue lexicon.
 *
 * Cue mode (`[asr] mode = cue`) spots phrases instead of transcribing every
 * word: PocketSphinx's keyphrase search listens for a fixed list of phrases,
 * each with its own detection threshold, at a fraction of the cost of the
 * n-gram search. The list is the cue lexicon's phrases (lexicon.h) plus its
 * benign phrases as suppressors, with thresholds from a data file
 * (models/keyphrases.json):
 *   {"threshold_by_words": [1e-3, 1e-6, 1e-10, 1e-14],
 *    "phrases": {"useless": 1e-5, ...},           (optional overrides)
 *    "score_floor": -0.12,
 *    "score_floors": {"appalling": -0.08, ...},   (optional overrides)
 *    "exclude": ["are you serious", ...],         (optional)
 *    "conf_at_floor": 0.35, "conf_scale": 0.05}
 * - threshold_by_words[n-1] is the decoder's detection threshold (-kws
 *   format, 0 < t < 1) of an n-word phrase; longer phrases use the last
 *   value. Longer phrases need lower thresholds.
 * - The decoder reports each detection with a score (ps_seg_prob; its natural
 *   log is about -0.03..-0.1 for phrases really said and below -0.12 for most
 *   false alarms on the synthetic corpus). A detection whose ln score is below
 *   the phrase's score floor is discarded; above it, its confidence is
 *   conf = c0 + (1 - c0) * (1 - exp(-(ln score - floor) / conf_scale)),
 *   c0 = conf_at_floor, capped at 1.
 * - A lexicon phrase with a wildcard ("called * times") cannot be spotted and
 *   is left out; so are excluded phrases.
 *
 * What cue mode cannot see: the words around a phrase. A negation before a
 * cue ("I don't want to cancel") is invisible, because "don't" is not spotted;
 * benign phrases are spotted so that a cue inside one ("my manager at work")
 * is still suppressed by the lexicon's benign rule.
 *
 * Read-only after loading: any thread may read it.
 */
#ifndef CALLWATCH_KEYPHRASES_H
#define CALLWATCH_KEYPHRASES_H

#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cw_keyphrase {
    const char *phrase; /* lower-case words separated by single spaces */
    size_t n_words;
    double threshold;   /* decoder detection threshold, 0 < t < 1 */
    double score_floor; /* detections with a lower ln score are discarded */
    bool suppressor;    /* a benign phrase, spotted only to suppress cues inside it */
} cw_keyphrase_t;

typedef struct cw_keyphrases cw_keyphrases_t;

/* Loads the lexicon at lexicon_path and the thresholds at thresholds_path
 * (both JSON). Errors name the file and the bad key or phrase. */
cw_keyphrases_t *cw_keyphrases_load(const char *lexicon_path, const char *thresholds_path, cw_error_t *err);

/* Frees and NULLs *kp; accepts NULL. */
void cw_keyphrases_destroy(cw_keyphrases_t **kp);

size_t cw_keyphrases_count(const cw_keyphrases_t *kp);

/* Phrase i, 0 <= i < count; NULL when out of range. */
const cw_keyphrase_t *cw_keyphrases_get(const cw_keyphrases_t *kp, size_t i);

/* The phrase with this text (case-insensitive), or NULL. */
const cw_keyphrase_t *cw_keyphrases_find(const cw_keyphrases_t *kp, const char *phrase);

/* Confidence 0..1 of a detection of k whose decoder score has natural log
 * ln_score (see the formula above); 0 below the phrase's score floor. */
double cw_keyphrases_conf(const cw_keyphrases_t *kp, const cw_keyphrase_t *k, double ln_score);

/* Lexicon phrases left out (wildcards or excluded). */
size_t cw_keyphrases_left_out(const cw_keyphrases_t *kp);

#endif
