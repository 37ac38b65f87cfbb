/* cues.c - see callwatch/cues.h */
#include "callwatch/cues.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Matches remembered per leg; older ones fall out of the window anyway. */
#define RECENT_MAX 64
#define MATCHES_PER_TRANSCRIPT 32
#define KINDS_MAX 8

typedef struct recent_match {
    cw_cue_match_t m;
    char words[160]; /* the words as heard */
    int utterance;
    bool provisional; /* from a partial hypothesis: replaced by the utterance's next result */
} recent_match_t;

struct cw_cues {
    const cw_lexicon_t *lexicon;
    cw_cue_params_t params;
    char leg_name[16];
    recent_match_t recent[RECENT_MAX];
    size_t n_recent;
};

cw_cues_t *cw_cues_new(const cw_lexicon_t *lexicon, const cw_cue_params_t *params, const char *leg_name,
                       cw_error_t *err)
{
    if (!lexicon || !params || !(params->window_s > 0) || !(params->min_conf >= 0 && params->min_conf <= 1) ||
        !(params->partial_trust >= 0 && params->partial_trust <= 1) || !(params->partial_settle_s >= 0)) {
        cw_error_set(err, CW_ERR_INVALID,
                     "word cues: need a lexicon, window_s > 0, min_conf and partial_trust in 0..1, partial_settle_s >= 0");
        return NULL;
    }
    cw_cues_t *c = calloc(1, sizeof *c);
    if (!c) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the word-cue detector");
        return NULL;
    }
    c->lexicon = lexicon;
    c->params = *params;
    snprintf(c->leg_name, sizeof c->leg_name, "%s", leg_name ? leg_name : "");
    return c;
}

void cw_cues_destroy(cw_cues_t **cues)
{
    if (!cues || !*cues)
        return;
    free(*cues);
    *cues = NULL;
}

static void remember(cw_cues_t *c, const cw_cue_match_t *m, const cw_transcript_t *tr)
{
    if (!tr->final && c->params.partial_trust <= 0)
        return;
    if (c->n_recent == RECENT_MAX) {
        memmove(&c->recent[0], &c->recent[1], (RECENT_MAX - 1) * sizeof c->recent[0]);
        c->n_recent--;
    }
    recent_match_t *r = &c->recent[c->n_recent++];
    r->m = *m;
    r->utterance = tr->utterance;
    r->provisional = !tr->final;
    if (r->provisional)
        r->m.conf = c->params.partial_trust;
    size_t len = 0;
    r->words[0] = '\0';
    for (size_t i = m->first_word; i < m->first_word + m->n_words && i < tr->n_words; i++) {
        int k = snprintf(r->words + len, sizeof r->words - len, "%s%s", len ? " " : "", tr->words[i].w);
        if (k < 0 || (size_t)k >= sizeof r->words - len)
            break;
        len += (size_t)k;
    }
}

static double round3(double x)
{
    return isfinite(x) ? round(x * 1000) / 1000 : 0;
}

static void build_cue(cw_cues_t *c, const char *kind, double now_end, cw_cue_t *cue)
{
    double keep = 1.0;
    double t_start = now_end, t_end = 0;
    json_t *words = json_array();
    size_t text_len = (size_t)snprintf(cue->text, sizeof cue->text, "%s said ", c->leg_name);
    int quoted = 0;
    for (size_t i = 0; i < c->n_recent; i++) {
        const recent_match_t *r = &c->recent[i];
        if (strcmp(r->m.kind, kind) != 0 || r->m.t_end < now_end - c->params.window_s)
            continue;
        keep *= 1.0 - r->m.weight * r->m.conf;
        if (r->m.t_start < t_start)
            t_start = r->m.t_start;
        if (r->m.t_end > t_end)
            t_end = r->m.t_end;
        json_t *w = json_object();
        json_object_set_new(w, "w", json_string(r->words));
        json_object_set_new(w, "phrase", json_string(r->m.phrase));
        json_object_set_new(w, "category", json_string(r->m.category));
        json_object_set_new(w, "t_start", json_real(round3(r->m.t_start)));
        json_object_set_new(w, "t_end", json_real(round3(r->m.t_end)));
        json_object_set_new(w, "conf", json_real(round3(r->m.conf)));
        json_object_set_new(w, "weight", json_real(round3(r->m.weight)));
        json_array_append_new(words, w);
        if (text_len < sizeof cue->text) {
            int k = snprintf(cue->text + text_len, sizeof cue->text - text_len, "%s\"%s\" (%s)",
                             quoted ? ", " : "", r->words, r->m.category);
            if (k > 0)
                text_len += (size_t)k;
            quoted++;
        }
    }
    cue->kind = kind;
    cue->score = 1.0 - keep;
    cue->t_start = t_start;
    cue->t_end = t_end;
    cue->evidence = json_object();
    json_object_set_new(cue->evidence, "words", words);
}

/* Whether an earlier result of the same utterance already matched this
 * phrase at about the same place (so the cue is not news). */
static bool matched_before(const recent_match_t *dropped, size_t n_dropped, const cw_cue_match_t *m)
{
    for (size_t i = 0; i < n_dropped; i++)
        if (strcmp(dropped[i].m.phrase, m->phrase) == 0 && fabs(dropped[i].m.t_start - m->t_start) < 0.5)
            return true;
    return false;
}

size_t cw_cues_feed(cw_cues_t *c, const cw_transcript_t *tr, cw_cue_t *out, size_t cap)
{
    if (!c || !tr || (!tr->final && c->params.partial_trust <= 0))
        return 0;
    /* A newer result of an utterance replaces what its partials matched. */
    recent_match_t dropped[RECENT_MAX];
    size_t n_dropped = 0, kept = 0;
    for (size_t i = 0; i < c->n_recent; i++) {
        if (c->recent[i].provisional && c->recent[i].utterance == tr->utterance)
            dropped[n_dropped++] = c->recent[i];
        else
            c->recent[kept++] = c->recent[i];
    }
    c->n_recent = kept;
    /* A partial's last word may still be growing ("hell" becoming "hello")
     * and the words after it may make the phrase benign; it waits for the
     * next result, and so does a match a benign phrase may still cover.
     * Spotted phrases are whole detections, benign ones included (they end
     * where the cue inside them ends): nothing in them is still growing. */
    bool whole = tr->final || tr->spotted;
    bool settled = tr->n_words > 0 && c->params.partial_settle_s > 0 &&
                   tr->t_end - tr->words[tr->n_words - 1].t_end >= c->params.partial_settle_s;
    size_t usable = whole || settled ? tr->n_words : (tr->n_words > 0 ? tr->n_words - 1 : 0);
    if (usable == 0)
        return 0;
    cw_cue_match_t matches[MATCHES_PER_TRANSCRIPT];
    size_t n = whole ? cw_lexicon_match(c->lexicon, tr->words, usable, c->params.min_conf, matches,
                                            MATCHES_PER_TRANSCRIPT)
                         : cw_lexicon_match_open(c->lexicon, tr->words, usable, c->params.min_conf, matches,
                                                 MATCHES_PER_TRANSCRIPT);
    const char *kinds[KINDS_MAX];
    size_t n_kinds = 0;
    double latest_end = 0;
    for (size_t i = 0; i < n; i++) {
        remember(c, &matches[i], tr);
        if (matches[i].t_end > latest_end)
            latest_end = matches[i].t_end;
        /* A final re-offers what its partials matched: it brings the real
         * confidence, which may raise the severity. */
        if (!tr->final && matched_before(dropped, n_dropped, &matches[i]))
            continue;
        bool seen = false;
        for (size_t k = 0; k < n_kinds; k++)
            seen |= strcmp(kinds[k], matches[i].kind) == 0;
        if (!seen && n_kinds < KINDS_MAX)
            kinds[n_kinds++] = matches[i].kind;
    }
    size_t n_out = 0;
    for (size_t k = 0; k < n_kinds && n_out < cap; k++)
        build_cue(c, kinds[k], latest_end, &out[n_out++]);
    return n_out;
}
