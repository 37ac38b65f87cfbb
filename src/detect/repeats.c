/* repeats.c - see callwatch/repeats.h */
#include "callwatch/repeats.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Sayings remembered; older ones fall out of the window anyway. */
#define HISTORY 64
/* Words kept per saying: a scripted phrase is one sentence. */
#define MAX_WORDS 48

typedef struct saying {
    char words[MAX_WORDS][CW_WORD_MAX];
    size_t n;
    double t_start, t_end;
} saying_t;

struct cw_repeats {
    cw_repeat_params_t p;
    saying_t history[HISTORY];
    size_t count; /* sayings ever stored; history[count % HISTORY] is next */
};

cw_repeats_t *cw_repeats_new(const cw_repeat_params_t *params, cw_error_t *err)
{
    const cw_repeat_params_t *p = params;
    if (!p || p->min_conf < 0 || p->min_conf > 1 || p->min_words < 2 || p->min_words > MAX_WORDS || p->count < 2 ||
        p->count > HISTORY || !(p->window_s > 0) || !(p->similarity > 0 && p->similarity <= 1) ||
        p->score_at_count < 0 || p->score_at_count > 1 || p->score_step < 0) {
        cw_error_set(err, CW_ERR_INVALID, "repetition parameters out of range");
        return NULL;
    }
    cw_repeats_t *r = calloc(1, sizeof *r);
    if (!r) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating a repetition detector");
        return NULL;
    }
    r->p = *p;
    return r;
}

void cw_repeats_destroy(cw_repeats_t **repeats)
{
    if (!repeats || !*repeats)
        return;
    free(*repeats);
    *repeats = NULL;
}

/* Shared bigrams over the larger number of bigrams of the two. */
static double similarity(const saying_t *a, const saying_t *b)
{
    size_t na = a->n - 1, nb = b->n - 1;
    bool used[MAX_WORDS] = {false};
    size_t shared = 0;
    for (size_t i = 0; i < na; i++) {
        for (size_t j = 0; j < nb; j++) {
            if (!used[j] && strcmp(a->words[i], b->words[j]) == 0 && strcmp(a->words[i + 1], b->words[j + 1]) == 0) {
                used[j] = true;
                shared++;
                break;
            }
        }
    }
    return (double)shared / (double)(na > nb ? na : nb);
}

int cw_repeats_feed(cw_repeats_t *r, const cw_transcript_t *tr, cw_repeat_cue_t *out)
{
    if (!tr->final)
        return 0;
    saying_t now = {.n = 0, .t_start = -1, .t_end = 0};
    for (size_t i = 0; i < tr->n_words && now.n < MAX_WORDS; i++) {
        if (tr->words[i].conf < r->p.min_conf)
            continue;
        snprintf(now.words[now.n++], CW_WORD_MAX, "%s", tr->words[i].w);
        if (now.t_start < 0)
            now.t_start = tr->words[i].t_start;
        now.t_end = tr->words[i].t_end;
    }
    if ((int)now.n < r->p.min_words)
        return 0;

    int times = 1;
    double first = now.t_start;
    size_t have = r->count < HISTORY ? r->count : HISTORY;
    for (size_t k = 0; k < have; k++) {
        const saying_t *s = &r->history[(r->count - 1 - k) % HISTORY];
        if (now.t_end - s->t_end > r->p.window_s)
            break;
        if (similarity(&now, s) >= r->p.similarity) {
            times++;
            first = s->t_start;
        }
    }
    r->history[r->count % HISTORY] = now;
    r->count++;
    if (times < r->p.count)
        return 0;

    double score = r->p.score_at_count + r->p.score_step * (times - r->p.count);
    if (score > 1)
        score = 1;
    json_t *words = json_array();
    char phrase[400] = "";
    size_t used = 0;
    for (size_t i = 0; i < tr->n_words; i++) {
        const cw_word_t *w = &tr->words[i];
        if (w->conf < r->p.min_conf)
            continue;
        json_array_append_new(words, json_pack("{s:s, s:f, s:f, s:f}", "w", w->w, "t_start", w->t_start, "t_end",
                                               w->t_end, "conf", w->conf));
        int wrote = snprintf(phrase + used, sizeof phrase - used, "%s%s", used ? " " : "", w->w);
        if (wrote > 0 && (size_t)wrote < sizeof phrase - used)
            used += (size_t)wrote;
    }
    out->score = score;
    out->t_start = first;
    out->t_end = now.t_end;
    out->times = times;
    out->evidence = json_pack("{s:o, s:{s:s, s:i}}", "words", words, "repetition", "phrase", phrase, "times", times);
    snprintf(out->text, sizeof out->text, "agent said \"%.300s\" %d times in %.0f s", phrase, times,
             now.t_end - first);
    return out->evidence ? 1 : 0;
}
