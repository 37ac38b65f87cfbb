/* repeats.h - scripted repetition on the agent leg: the same phrase said
 * again and again ("please hold while I check your account"), the verbal
 * side of flat, mechanical service.
 *
 * Each final transcript of at least min_words confident words is compared
 * with the utterances of the last window_s seconds; two utterances are the
 * same phrase when most of their word pairs (bigrams) are shared
 * (>= similarity), which tolerates a word the recogniser got wrong. When a
 * phrase has been said `count` times, a flat_affect cue is offered with
 * score_at_count, rising by score_step for every further repeat.
 *
 * Not thread-safe: one per agent leg, used under the call's detector lock.
 */
#ifndef CALLWATCH_REPEATS_H
#define CALLWATCH_REPEATS_H

#include "callwatch/error.h"
#include "callwatch/transcript.h"

#include <jansson.h>
#include <stddef.h>

typedef struct cw_repeat_params {
    double min_conf;       /* words heard less surely are left out (0..1) */
    int min_words;         /* shorter utterances ("yes", "okay") never count (>= 2) */
    int count;             /* this many sayings make a cue (>= 2) */
    double window_s;       /* how far back sayings count (> 0) */
    double similarity;     /* share of shared bigrams that makes two sayings one phrase (0..1] */
    double score_at_count; /* score when the phrase reaches `count` sayings (0..1) */
    double score_step;     /* added per further saying (>= 0), capped at 1 */
} cw_repeat_params_t;

typedef struct cw_repeat_cue {
    double score;          /* 0..1 */
    double t_start, t_end; /* from the first to the latest saying in the window */
    int times;             /* sayings in the window, this one included */
    json_t *evidence;      /* {"words": [...this saying...], "repetition": {"phrase", "times"}}; receiver owns */
    char text[512];
} cw_repeat_cue_t;

typedef struct cw_repeats cw_repeats_t;

/* NULL with a message on out-of-range parameters or no memory. */
cw_repeats_t *cw_repeats_new(const cw_repeat_params_t *params, cw_error_t *err);

void cw_repeats_destroy(cw_repeats_t **repeats);

/* Feeds one final transcript; returns 1 and fills *out when it makes a
 * repetition cue, else 0. */
int cw_repeats_feed(cw_repeats_t *repeats, const cw_transcript_t *tr, cw_repeat_cue_t *out);

#endif
