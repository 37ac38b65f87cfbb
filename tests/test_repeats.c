/* test_repeats.c - scripted repetition on the agent leg: a phrase said three
 * times is flagged (even with a misrecognised word), short acknowledgements
 * and different sentences are not, and old sayings fall out of the window. */
#include "callwatch/repeats.h"

#include "check.h"

#include <stdio.h>
#include <string.h>

static cw_repeat_params_t params(void)
{
    return (cw_repeat_params_t){.min_conf = 0.3, .min_words = 4, .count = 3, .window_s = 180,
                                .similarity = 0.6, .score_at_count = 0.6, .score_step = 0.1};
}

/* Feeds `text` as a final transcript starting at t; returns the cue made (score 0 if none). */
static cw_repeat_cue_t say(cw_repeats_t *r, const char *text, double t, double conf)
{
    cw_word_t words[32];
    size_t n = 0;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", text);
    for (char *tok = strtok(copy, " "); tok && n < 32; tok = strtok(NULL, " ")) {
        snprintf(words[n].w, CW_WORD_MAX, "%s", tok);
        words[n].t_start = t + 0.4 * (double)n;
        words[n].t_end = words[n].t_start + 0.35;
        words[n].conf = conf;
        n++;
    }
    cw_transcript_t tr = {.leg = 0, .final = true, .t_start = t, .t_end = t + 0.4 * (double)n, .text = text,
                          .words = words, .n_words = n, .utterance = 0};
    cw_repeat_cue_t cue;
    memset(&cue, 0, sizeof cue);
    if (!cw_repeats_feed(r, &tr, &cue))
        cue.score = 0;
    return cue;
}

int main(void)
{
    cw_error_t err;
    cw_repeat_params_t p = params();
    cw_repeats_t *r = cw_repeats_new(&p, &err);
    CHECK(r != NULL, "detector: %s", err.msg);

    const char *hold = "please hold while i check your account";
    CHECK(say(r, hold, 10, 0.9).score == 0, "said once: nothing");
    CHECK(say(r, "okay", 20, 0.9).score == 0, "a one-word reply is ignored");
    CHECK(say(r, hold, 30, 0.9).score == 0, "said twice: nothing yet");
    cw_repeat_cue_t cue = say(r, "please hold while i check you account", 50, 0.9);
    CHECK(cue.score > 0.59 && cue.score < 0.61, "the third saying (one word misheard) scores 0.6 (%f)", cue.score);
    CHECK(cue.times == 3, "three sayings counted (%d)", cue.times);
    CHECK(cue.t_start == 10, "the span starts at the first saying (%f)", cue.t_start);
    CHECK(strstr(cue.text, "3 times") != NULL, "text: %s", cue.text);
    json_t *rep = json_object_get(cue.evidence, "repetition");
    CHECK(json_integer_value(json_object_get(rep, "times")) == 3, "evidence counts the sayings");
    CHECK(json_array_size(json_object_get(cue.evidence, "words")) == 7, "evidence has the words of this saying");
    json_decref(cue.evidence);
    cue = say(r, hold, 70, 0.9);
    CHECK(cue.score > 0.69 && cue.score < 0.71, "a fourth saying raises the score to 0.7 (%f)", cue.score);
    json_decref(cue.evidence);

    CHECK(say(r, "your refund will be sent today by email", 80, 0.9).score == 0, "a new sentence is not a repeat");
    CHECK(say(r, "please hold while i check your account", 90, 0.1).score == 0,
          "words heard with low confidence do not make a saying");
    cw_repeats_destroy(&r);
    CHECK(r == NULL, "destroy NULLs");

    /* Sayings older than the window do not count. */
    p.window_s = 30;
    r = cw_repeats_new(&p, &err);
    say(r, hold, 0, 0.9);
    say(r, hold, 40, 0.9);
    CHECK(say(r, hold, 80, 0.9).score == 0, "three sayings 40 s apart with a 30 s window are not a repeat");
    cw_repeats_destroy(&r);

    p = params();
    p.count = 1;
    CHECK(cw_repeats_new(&p, &err) == NULL, "count 1 is refused");
    p = params();
    p.similarity = 0;
    CHECK(cw_repeats_new(&p, &err) == NULL, "similarity 0 is refused");
    return check_summary("repeats");
}
