/* lexicon.h - the cue lexicon: phrases that support an alert kind, found in
 * the recognised words of one leg.
 *
 * The lexicon is data (models/cues-en.json):
 *   {"language": "en",
 *    "word_forms": {"what's": "what is", "gonna": "going to", "calling": "call", ...},  (optional)
 *    "negators": ["not", "never", "don't", ...],
 *    "negation_window": 3,
 *    "negation_stops": ["but", "it's", ...],          (optional)
 *    "entries": [{"phrase": "speak to your manager", "kind": "escalation",
 *                 "category": "manager", "weight": 0.8},
 *                {"phrase": "i (just )?(give|gave) up", ...}, ...],
 *    "benign": [{"phrase": "my manager at work"}, ...]}
 *
 * - A phrase is lower-case words separated by spaces. The token "*" matches
 *   exactly one word (any word, whatever its confidence); a phrase must not
 *   start or end with "*".
 * - A phrase may be a pattern standing for a family of phrasings: a group
 *   "(a|b c|d)" is one of its alternatives, "(...)?" or an empty alternative
 *   makes it optional, and groups join the text around them as written, so
 *   "(what is|what's) the point (of|in) (calling|trying)" stands for eight
 *   phrases and "cancel(|ling)" for two words. Groups do not nest; a pattern
 *   stands for at most 256 phrases. Each phrase of the family is an entry of
 *   its own (same kind, category and weight); a phrase a pattern restates
 *   from an earlier entry is skipped. Benign phrases may be patterns too.
 * - word_forms says which heard word is matched as which words: contractions
 *   ("i'm" as "i am", "can't" as "can not"), colloquial forms ("gonna") and
 *   inflections ("called", "calling" as "call"). It applies alike to the
 *   recognised words and to every phrase, negator and stop word, so "what's
 *   the point" and "what is the point" are one phrase and "third time i'm
 *   calling" also matches "third time i am calling". Each heard form is one
 *   word; it stands for 1..4 words; forms apply once (not to their result).
 * - kind is one of the word-cue alert kinds: "anger", "despair", "escalation".
 *   category is a free, finer label ("insult", "hopeless", "regulator", ...).
 *   weight is in 0..1: how strongly the phrase alone supports the kind.
 * - Unknown keys, duplicate phrases, empty phrases, words longer than a
 *   cw_word_t can hold, negators that are not single words, unbalanced or
 *   nested groups are errors.
 *
 * Matching (cw_lexicon_match), on one utterance's words:
 * 1. A phrase matches at a position when each of its words equals the heard
 *    word (ASCII case-insensitive, both in their word_forms) and that heard
 *    word's conf >= min_conf. With "phrase_word_floor": F (optional, 0..1,
 *    below min_conf) a phrase of several words needs instead the geometric
 *    mean of its words' conf >= min_conf and each word's conf >= F: in "call
 *    my lawyer" heard at 1.0, 0.99 and 0.19, the other words vouch for
 *    "lawyer"; a one-word phrase still needs min_conf. A match spans the
 *    heard words it covers: "not fair" found in "isn't fair" spans "isn't
 *    fair".
 * 2. Longest phrase wins: candidate matches are taken longest first, in
 *    words of matching form (ties: earliest, then heavier, then fewer
 *    wildcards, then the entry written as it was said, then file order); a match
 *    overlapping one already taken is discarded. "speak to your manager" thus
 *    hides "your manager" inside it.
 * 3. A taken match is then dropped (and still hides the shorter matches it
 *    overlapped) when
 *    - a negator occurs among the negation_window words just before its first
 *      word ("i'm not angry", "this is not ridiculous"), unless a stop word
 *      lies between the two ("it doesn't work it's useless": "it's" ends the
 *      scope of "doesn't"); negators inside the phrase itself ("i can't take
 *      it", "not fair") do not count, or
 *    - it lies wholly inside an occurrence of a benign phrase ("my manager at
 *      work said ..." does not fire "manager").
 *    Negators and benign phrases are suppressors: they are matched regardless
 *    of recogniser confidence, so a faintly heard "not" still suppresses.
 */
#ifndef CALLWATCH_LEXICON_H
#define CALLWATCH_LEXICON_H

#include "callwatch/error.h"
#include "callwatch/transcript.h"

#include <stddef.h>

typedef struct cw_lexicon cw_lexicon_t;

/* One phrase found in the words. The strings belong to the lexicon (kind
 * points to a static string) and stay valid until it is destroyed. */
typedef struct cw_cue_match {
    const char *kind;      /* alert kind it supports: "anger", "despair", "escalation" */
    const char *category;  /* finer: "insult", "hopeless", "deceived", "unfair", "repeat_contact",
                              "regulator", "media", "lawyer", "cancel", "manager", ... */
    const char *phrase;    /* the lexicon phrase matched, e.g. "speak to your manager" */
    double weight;         /* 0..1 from the lexicon */
    size_t first_word;     /* span in the words array: words[first_word .. first_word + n_words) */
    size_t n_words;
    double t_start, t_end; /* start of the first word, end of the last word, seconds */
    double conf;           /* mean recogniser confidence of the matched words (wildcards included) */
} cw_cue_match_t;

/* Reads and validates the lexicon at path (JSON, via jansson). On failure
 * returns NULL and fills err with one line naming the file and, for a JSON
 * syntax error, the line and column ("cues.json:12:5: ..."), or for a bad
 * entry its section, index and phrase ("cues.json: entries[7] \"sue you\":
 * weight 1.5 is outside 0..1"). The caller owns the result; destroy it with
 * cw_lexicon_destroy. */
cw_lexicon_t *cw_lexicon_load(const char *path, cw_error_t *err);

/* Frees the lexicon and sets *lx to NULL. NULL and *lx == NULL are accepted.
 * No match taken from it may be used afterwards. */
void cw_lexicon_destroy(cw_lexicon_t **lx);

/* Finds the lexicon phrases in words[0 .. n_words) (see the rules above).
 * Stores at most cap matches in out, in word order (earliest first when more
 * than cap were found), and returns how many were stored. Words with conf <
 * min_conf never match a phrase word. Returns 0 for NULL arguments, and if a
 * small scratch allocation fails.
 * Thread-safe: the lexicon is read-only after loading, so any number of
 * threads may match against one lexicon concurrently. */
size_t cw_lexicon_match(const cw_lexicon_t *lx, const cw_word_t *words, size_t n_words, double min_conf,
                        cw_cue_match_t *out, size_t cap);

/* Like cw_lexicon_match, for words that may still go on (a partial
 * hypothesis): a match is also dropped when the words from a benign phrase's
 * start to the end are a beginning of it ("please cancel" could become
 * "please cancel my order"), since the words still to come may complete it.
 * Same ownership and thread rules. */
size_t cw_lexicon_match_open(const cw_lexicon_t *lx, const cw_word_t *words, size_t n_words, double min_conf,
                             cw_cue_match_t *out, size_t cap);

/* Number of entries (phrases that can match, every phrase of a pattern
 * counted); 0 for NULL. */
size_t cw_lexicon_size(const cw_lexicon_t *lx);

/* Entry i (0 <= i < cw_lexicon_size) as normalised text: lower case, single
 * spaces, wildcards as "*", written as in the file (a pattern's phrases
 * expanded, word forms not applied: the words a recogniser would say). Sets *kind (may be NULL) to its alert kind.
 * Returns NULL when i is out of range. Owned by the lexicon. */
const char *cw_lexicon_phrase(const cw_lexicon_t *lx, size_t i, const char **kind);

/* Number of benign phrases, and benign phrase i as normalised text (NULL
 * when out of range). Owned by the lexicon. */
size_t cw_lexicon_benign_count(const cw_lexicon_t *lx);
const char *cw_lexicon_benign(const cw_lexicon_t *lx, size_t i);

#endif
