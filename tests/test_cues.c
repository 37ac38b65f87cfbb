/* test_cues.c - word cues from partial and final transcripts: a phrase in the
 * middle of a sentence is caught from a partial hypothesis, the partial's
 * last word waits for the next result, and the final replaces the partial's
 * matches instead of counting them twice. */
#include "callwatch/cues.h"

#include "check.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#ifndef CALLWATCH_MODELS_DIR
#define CALLWATCH_MODELS_DIR "models"
#endif

static size_t words_of(const char *sentence, double conf, cw_word_t *w, size_t cap)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", sentence);
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok && n < cap; tok = strtok_r(NULL, " ", &save)) {
        memset(&w[n], 0, sizeof w[n]);
        snprintf(w[n].w, sizeof w[n].w, "%s", tok);
        w[n].t_start = 10.0 + 0.4 * (double)n;
        w[n].t_end = w[n].t_start + 0.35;
        w[n].conf = conf;
        n++;
    }
    return n;
}

/* Feeds one result; returns the score of the cue of `kind` it made (0: none). */
static double feed(cw_cues_t *c, const char *sentence, bool final, int utterance, double conf, const char *kind)
{
    cw_word_t w[64];
    size_t n = words_of(sentence, conf, w, 64);
    cw_transcript_t tr = {.leg = 1, .final = final, .t_start = 10, .t_end = 10 + 0.4 * (double)n, .text = sentence,
                          .words = w, .n_words = n, .utterance = utterance};
    cw_cue_t cues[8];
    size_t got = cw_cues_feed(c, &tr, cues, 8);
    double score = 0;
    for (size_t i = 0; i < got; i++) {
        if (strcmp(cues[i].kind, kind) == 0)
            score = cues[i].score;
        json_decref(cues[i].evidence);
    }
    return score;
}

/* Feeds one result; true when it made an escalation cue whose evidence names
 * a phrase of category "manager". */
static bool manager_evidence(cw_cues_t *c, const char *sentence, size_t n_words, bool final, int utterance)
{
    cw_word_t w[64];
    size_t n = words_of(sentence, 0.9, w, 64);
    if (n_words < n)
        n = n_words;
    cw_transcript_t tr = {.leg = 1, .final = final, .t_start = 10, .t_end = 10 + 0.4 * (double)n, .text = sentence,
                          .words = w, .n_words = n, .utterance = utterance};
    cw_cue_t cues[8];
    size_t got = cw_cues_feed(c, &tr, cues, 8);
    bool found = false;
    for (size_t i = 0; i < got; i++) {
        json_t *ws = json_object_get(cues[i].evidence, "words");
        for (size_t k = 0; strcmp(cues[i].kind, "escalation") == 0 && k < json_array_size(ws); k++) {
            const char *cat = json_string_value(json_object_get(json_array_get(ws, k), "category"));
            found |= cat && strcmp(cat, "manager") == 0;
        }
        json_decref(cues[i].evidence);
    }
    return found;
}

/* The bundled sample call's last customer sentence, as partials then final:
 * "not" in the earlier clause "i will not hold again" must not hide the
 * manager request, and the final still names it. */
static void test_sample_sentence(const cw_lexicon_t *lex, const cw_cue_params_t *p)
{
    static const char sentence[] = "no i will not hold again i want to speak to your manager right now if this is "
                                   "not fixed today i will cancel my account and report you to the regulator";
    cw_error_t err;
    cw_cues_t *c = cw_cues_new(lex, p, "customer", &err);
    CHECK(c != NULL, "detector: %s", err.msg);
    bool partial = false;
    for (size_t k = 1; k <= 31 && c; k++)
        partial |= manager_evidence(c, sentence, k, false, 7);
    CHECK(partial, "a partial offers the manager request as escalation evidence");
    CHECK(c && manager_evidence(c, sentence, 64, true, 7), "the final's escalation evidence names the manager");
    cw_cues_destroy(&c);
}

/* Cue mode: a partial holds whole keyphrase detections, so a phrase that is
 * its last "words" is a cue at once, not one result later (the final may be
 * a second away: the speaker has to stop first). */
static void test_spotted_partial(const cw_lexicon_t *lex, const cw_cue_params_t *p)
{
    cw_error_t err = {0};
    cw_cues_t *c = cw_cues_new(lex, p, "customer", &err);
    cw_word_t w[8];
    size_t n = words_of("speak to your manager", 0.9, w, 8);
    cw_transcript_t tr = {.leg = 1, .final = false, .spotted = true, .t_start = 10, .t_end = 12,
                          .text = "speak to your manager", .words = w, .n_words = n, .utterance = 5};
    cw_cue_t cues[8];
    size_t got = cw_cues_feed(c, &tr, cues, 8);
    CHECK(got == 1 && strcmp(cues[0].kind, "escalation") == 0,
          "a spotted phrase ending a partial is an escalation cue at once (%zu cues)", got);
    for (size_t i = 0; i < got; i++)
        json_decref(cues[i].evidence);
    CHECK(feed(c, "speak to your manager", false, 6, 0.9, "escalation") == 0,
          "the same words as an n-gram partial's last words still wait");
    cw_cues_destroy(&c);
}

/* A partial whose audio went on past its last word without a new word: the
 * speaker paused, the word is settled, and a phrase ending there is a cue
 * before the utterance ends (the VAD's hangover and the final's decoding
 * would add most of a second). */
static void test_settled_partial(const cw_lexicon_t *lex, const cw_cue_params_t *p)
{
    cw_error_t err = {0};
    cw_cue_params_t settle = *p;
    settle.partial_settle_s = 0.3;
    cw_cues_t *c = cw_cues_new(lex, &settle, "customer", &err);
    cw_word_t w[16];
    size_t n = words_of("i want to speak to your manager", 0.9, w, 16);
    double last_end = w[n - 1].t_end;
    cw_transcript_t tr = {.leg = 1, .final = false, .t_start = 10, .t_end = last_end + 0.1,
                          .text = "", .words = w, .n_words = n, .utterance = 8};
    cw_cue_t cues[8];
    size_t got = cw_cues_feed(c, &tr, cues, 8);
    CHECK(got == 0, "0.1 s after its last word a partial still waits (%zu cues)", got);
    tr.t_end = last_end + 0.35;
    got = cw_cues_feed(c, &tr, cues, 8);
    CHECK(got == 1 && strcmp(cues[0].kind, "escalation") == 0,
          "0.35 s of audio with no new word settles it: escalation at once (%zu cues)", got);
    for (size_t i = 0; i < got; i++)
        json_decref(cues[i].evidence);
    cw_cues_destroy(&c);
    settle.partial_settle_s = -1;
    CHECK(cw_cues_new(lex, &settle, "customer", &err) == NULL, "a negative partial_settle_s is refused");
}

int main(void)
{
    cw_error_t err;
    cw_lexicon_t *lex = cw_lexicon_load(CALLWATCH_MODELS_DIR "/cues-en.json", &err);
    CHECK(lex != NULL, "lexicon: %s", err.msg);
    if (!lex)
        return check_summary("cues");
    cw_cue_params_t p = {.min_conf = 0.3, .window_s = 30, .partial_trust = 0.8};
    cw_cues_t *c = cw_cues_new(lex, &p, "customer", &err);
    CHECK(c != NULL, "detector: %s", err.msg);

    /* "speak to your manager" is an escalation phrase of the shipped lexicon. */
    CHECK(feed(c, "i want to speak to your manager", false, 0, 1.0, "escalation") == 0,
          "a phrase ending with the partial's last word waits");
    double partial = feed(c, "i want to speak to your manager right now", false, 0, 1.0, "escalation");
    CHECK(partial > 0, "the phrase is caught from a partial once a word follows it");
    CHECK(feed(c, "i want to speak to your manager right now please", false, 0, 1.0, "escalation") == 0,
          "a later partial does not offer the same phrase again");
    double final = feed(c, "i want to speak to your manager right now please", true, 0, 0.95, "escalation");
    CHECK(final > 0, "the final re-offers the phrase with its confidence");
    /* One match only: the final's weight x 0.95, not the partial's plus the final's. */
    CHECK(final < partial * 0.95 / 0.8 + 1e-9, "the final replaces the partial's match (%f vs partial %f)", final,
          partial);

    CHECK(feed(c, "hell", false, 1, 1.0, "anger") == 0, "\"hell\" as the last word of a partial is not a cue");
    CHECK(feed(c, "hello there how can i help", true, 1, 0.9, "anger") == 0, "the final says it was \"hello\"");

    /* A partial that may still turn benign waits: "please cancel" may become "please cancel my order". */
    CHECK(feed(c, "please cancel my", false, 3, 1.0, "escalation") == 0, "\"please cancel\" waits for the next words");
    CHECK(feed(c, "please cancel my order from", false, 3, 1.0, "escalation") == 0, "and it was an order");
    CHECK(feed(c, "please cancel my order from last week", true, 3, 0.9, "escalation") == 0, "final: benign");
    CHECK(feed(c, "so i will cancel my account now", false, 4, 1.0, "escalation") > 0,
          "a threat a benign phrase cannot cover is caught from the partial");

    /* Another phrasing of the same cue: the evidence quotes the words as heard. */
    cw_word_t w[16];
    size_t n = words_of("honestly i just gave up what's the point of calling", 0.9, w, 16);
    cw_transcript_t tr = {.leg = 1, .final = true, .t_start = 20, .t_end = 25, .text = "", .words = w, .n_words = n,
                          .utterance = 2};
    cw_cue_t cues[8];
    size_t got = cw_cues_feed(c, &tr, cues, 8);
    CHECK(got == 1 && strcmp(cues[0].kind, "despair") == 0 && cues[0].score > 0.6,
          "two despair phrasings fuse into one warning-level cue (%zu cues, score %.2f)", got, got ? cues[0].score : 0);
    if (got == 1) {
        json_t *ws = json_object_get(cues[0].evidence, "words");
        CHECK(json_array_size(ws) == 2, "both phrasings are evidence (%zu)", json_array_size(ws));
        const char *heard = json_string_value(json_object_get(json_array_get(ws, 1), "w"));
        CHECK(heard && strcmp(heard, "what's the point of calling") == 0, "quoted as heard: %s", heard ? heard : "-");
        CHECK(strstr(cues[0].text, "\"i just gave up\"") != NULL, "text quotes it: %s", cues[0].text);
    }
    for (size_t i = 0; i < got; i++)
        json_decref(cues[i].evidence);

    cw_cues_destroy(&c);
    test_sample_sentence(lex, &p);
    test_spotted_partial(lex, &p);
    test_settled_partial(lex, &p);
    p.partial_trust = 0;
    c = cw_cues_new(lex, &p, "customer", &err);
    CHECK(feed(c, "i want to speak to your manager right now", false, 0, 1.0, "escalation") == 0,
          "partial_trust 0 waits for finals");
    CHECK(feed(c, "i want to speak to your manager right now", true, 0, 0.9, "escalation") > 0, "finals still count");
    cw_cues_destroy(&c);
    p.partial_trust = 1.5;
    CHECK(cw_cues_new(lex, &p, "customer", &err) == NULL, "partial_trust above 1 is refused");
    cw_lexicon_destroy(&lex);
    return check_summary("cues");
}
