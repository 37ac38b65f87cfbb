/* fuzz_redact.c - fuzz target: transcript redaction on whatever words a
 * recogniser (or a future remote transcript source) may produce.
 *
 * Input: byte 0 picks the lexicon (even: models/redact-en.json, odd:
 * redact-zh.json, which splits words into UTF-8 characters) and whether the
 * transcript carries words or only text (a partial); the rest is the text,
 * split at spaces into words. Checks that nothing but masks replaces words
 * and that word times survive. */
#include "callwatch/redact.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CALLWATCH_MODELS_DIR
#define CALLWATCH_MODELS_DIR "models"
#endif

#define MAX_WORDS 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static cw_redactor_t *redactor(int which)
{
    static cw_redactor_t *r[2];
    if (!r[which]) {
        cw_error_t err;
        r[which] = cw_redactor_load(which ? CALLWATCH_MODELS_DIR "/redact-zh.json"
                                          : CALLWATCH_MODELS_DIR "/redact-en.json",
                                    CALLWATCH_MODELS_DIR "/redact-patterns.txt", 4, &err);
        if (!r[which]) {
            fprintf(stderr, "%s\n", err.msg);
            abort();
        }
    }
    return r[which];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    int which = data[0] & 1;
    bool partial = (data[0] & 2) != 0;
    char *text = malloc(size);
    static cw_word_t words[MAX_WORDS];
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    size_t n = 0;
    for (const char *p = text; *p && n < MAX_WORDS;) {
        while (*p == ' ')
            p++;
        size_t len = strcspn(p, " ");
        if (len == 0)
            break;
        memset(&words[n], 0, sizeof words[n]);
        memcpy(words[n].w, p, len < CW_WORD_MAX ? len : CW_WORD_MAX - 1);
        words[n].t_start = (double)n;
        words[n].t_end = (double)n + 0.5;
        n++;
        p += len;
    }
    cw_transcript_t tr = {.leg = 1, .final = !partial, .t_start = 0, .t_end = (double)n, .text = text,
                          .words = partial ? NULL : words, .n_words = partial ? 0 : n};
    const cw_transcript_t *out = cw_redact_apply(redactor(which), &tr);
    if (!out || !out->text)
        abort();
    if (out->n_words != tr.n_words)
        abort();
    for (size_t i = 0; i < out->n_words; i++) {
        if (out->words[i].t_start != words[i].t_start)
            abort();
        if (strcmp(out->words[i].w, words[i].w) != 0 && out->words[i].w[0] != '[')
            abort(); /* a word changed into something that is not a mask */
    }
    free(text);
    return 0;
}
