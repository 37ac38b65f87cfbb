/* transcript.h - what the recogniser heard on one leg: plain data.
 *
 * Produced by the decoder pool (asr.h), consumed by event building and the
 * detectors. Times are seconds of call audio from the start of the call.
 */
#ifndef CALLWATCH_TRANSCRIPT_H
#define CALLWATCH_TRANSCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#define CW_WORD_MAX 64

typedef struct cw_word {
    char w[CW_WORD_MAX]; /* lower case, no pronunciation variant suffix "(2)" */
    double t_start;      /* seconds */
    double t_end;        /* seconds */
    double conf;         /* posterior probability 0..1 */
} cw_word_t;

typedef struct cw_transcript {
    int leg;             /* cw_leg_id */
    bool final;          /* false: a partial hypothesis, may still change */
    double t_start;      /* start of the utterance, seconds */
    double t_end;        /* end of the audio decoded so far */
    const char *text;    /* words joined by single spaces (no fillers) */
    const cw_word_t *words; /* finals: one per word of text; partials: may be 0 */
    size_t n_words;
    int utterance;       /* sequence number of the utterance on this leg, from 0 */
    bool spotted;        /* cue mode: only spotted keyphrases, not every word said */
} cw_transcript_t;

#endif
