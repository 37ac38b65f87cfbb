/* test_keyphrases.c - the keyphrase list of cue mode: built from the shipped
 * lexicon (wildcards out, benign phrases in as suppressors), thresholds by
 * length and per phrase, the confidence mapping, and refusals of bad files. */
#include "callwatch/keyphrases.h"

#include "callwatch/lexicon.h"

#include "check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CALLWATCH_MODELS_DIR
#define CALLWATCH_MODELS_DIR "models"
#endif
#define LEXICON CALLWATCH_MODELS_DIR "/cues-en.json"

static char tmp_path[64];

static const char *write_tmp(const char *json)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/cw-kp-XXXXXX");
    int fd = mkstemp(tmp_path);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (f) {
        fputs(json, f);
        fclose(f);
    }
    return tmp_path;
}

static void test_shipped(void)
{
    cw_error_t err = {0};
    cw_keyphrases_t *kp = cw_keyphrases_load(LEXICON, CALLWATCH_MODELS_DIR "/keyphrases.json", &err);
    CHECK(kp != NULL, "shipped files load: %s", err.msg);
    cw_lexicon_t *lx = cw_lexicon_load(LEXICON, &err);
    CHECK(lx != NULL, "lexicon: %s", err.msg);
    if (!kp || !lx)
        return;
    size_t wild = 0;
    for (size_t i = 0; i < cw_lexicon_size(lx); i++) {
        const char *p = cw_lexicon_phrase(lx, i, NULL);
        const cw_keyphrase_t *k = cw_keyphrases_find(kp, p);
        if (strchr(p, '*')) {
            wild++;
            CHECK(k == NULL, "wildcard phrase '%s' is not spotted", p);
        } else {
            CHECK(k != NULL && !k->suppressor, "lexicon phrase '%s' is spotted as a cue", p);
        }
    }
    CHECK(wild > 0 && cw_keyphrases_left_out(kp) == wild, "left out %zu, wildcards %zu", cw_keyphrases_left_out(kp),
          wild);
    const cw_keyphrase_t *benign = cw_keyphrases_find(kp, "My Manager At Work");
    CHECK(benign && benign->suppressor && benign->n_words == 4, "benign phrase is a 4-word suppressor");
    const cw_keyphrase_t *one = cw_keyphrases_find(kp, "ridiculous");
    const cw_keyphrase_t *three = cw_keyphrases_find(kp, "this is ridiculous");
    CHECK(one && three && one->threshold > three->threshold, "longer phrases get lower thresholds");
    /* A phrase both cue and benign is spotted once. */
    CHECK(cw_keyphrases_count(kp) <= cw_lexicon_size(lx) - wild + cw_lexicon_benign_count(lx) &&
              cw_keyphrases_count(kp) >= cw_lexicon_size(lx) - wild,
          "count %zu", cw_keyphrases_count(kp));
    CHECK(cw_keyphrases_get(kp, cw_keyphrases_count(kp)) == NULL, "out of range is NULL");
    cw_lexicon_destroy(&lx);
    cw_keyphrases_destroy(&kp);
    CHECK(kp == NULL, "destroy NULLs");
}

static void test_thresholds_and_conf(void)
{
    cw_error_t err = {0};
    const char *path = write_tmp("{\"threshold_by_words\": [1e-2, 1e-5],"
                                 " \"phrases\": {\"useless\": 0.5}, \"score_floor\": -0.1,"
                                 " \"score_floors\": {\"idiot\": -0.05}, \"exclude\": [\"stupid\"],"
                                 " \"conf_at_floor\": 0.4, \"conf_scale\": 0.05}");
    cw_keyphrases_t *kp = cw_keyphrases_load(LEXICON, path, &err);
    unlink(path);
    CHECK(kp != NULL, "custom thresholds load: %s", err.msg);
    if (!kp)
        return;
    const cw_keyphrase_t *useless = cw_keyphrases_find(kp, "useless");
    const cw_keyphrase_t *ridic = cw_keyphrases_find(kp, "ridiculous");
    const cw_keyphrase_t *four = cw_keyphrases_find(kp, "speak to your manager");
    const cw_keyphrase_t *idiot = cw_keyphrases_find(kp, "idiot");
    CHECK(useless && fabs(useless->threshold - 0.5) < 1e-12, "per-phrase threshold override");
    CHECK(ridic && fabs(ridic->threshold - 1e-2) < 1e-15, "1-word default");
    CHECK(four && fabs(four->threshold - 1e-5) < 1e-18, "longer than the list: its last value");
    CHECK(cw_keyphrases_find(kp, "stupid") == NULL, "excluded phrase is not spotted");
    CHECK(idiot && fabs(idiot->score_floor + 0.05) < 1e-12 && fabs(ridic->score_floor + 0.1) < 1e-12,
          "score floors: per phrase and default");
    CHECK(cw_keyphrases_conf(kp, ridic, -0.11) == 0, "below the floor: 0");
    CHECK(fabs(cw_keyphrases_conf(kp, ridic, -0.1) - 0.4) < 1e-9, "at the floor: conf_at_floor");
    double mid = cw_keyphrases_conf(kp, ridic, -0.05), high = cw_keyphrases_conf(kp, ridic, 0.5);
    CHECK(mid > 0.4 && high > mid && high <= 1.0, "conf rises towards 1: %g %g", mid, high);
    CHECK(cw_keyphrases_conf(kp, idiot, -0.07) == 0, "a stricter floor rejects what the default accepts");
    cw_keyphrases_destroy(&kp);
}

static void test_bad_files(void)
{
    static const struct {
        const char *json, *want;
    } cases[] = {
        {"{\"threshold_by_words\": [1e-3], \"score_floor\": -0.1, \"thresholds\": 1}", "unknown key \"thresholds\""},
        {"{\"threshold_by_words\": [], \"score_floor\": -0.1}", "threshold_by_words"},
        {"{\"threshold_by_words\": [2], \"score_floor\": -0.1}", "threshold_by_words[0]"},
        {"{\"threshold_by_words\": [1e-3]}", "score_floor"},
        {"{\"threshold_by_words\": [1e-3], \"score_floor\": -0.1, \"phrases\": {\"useless\": 0}}", "useless"},
        {"{\"threshold_by_words\": [1e-3], \"score_floor\": -0.1, \"conf_scale\": 0}", "conf_scale"},
        {"{\"threshold_by_words\": [1e-3], \"score_floor\": -0.1, \"exclude\": [3]}", "exclude[0]"},
        {"{\"threshold_by_words\": [1e-3,", "cw-kp-"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cw_error_t err = {0};
        const char *path = write_tmp(cases[i].json);
        cw_keyphrases_t *kp = cw_keyphrases_load(LEXICON, path, &err);
        unlink(path);
        CHECK(kp == NULL && strstr(err.msg, cases[i].want) && strstr(err.msg, "cw-kp-"),
              "case %zu refused naming file and '%s': %s", i, cases[i].want, err.msg);
        cw_keyphrases_destroy(&kp);
    }
    cw_error_t err = {0};
    CHECK(cw_keyphrases_load("/nonexistent/cues.json", CALLWATCH_MODELS_DIR "/keyphrases.json", &err) == NULL &&
              strstr(err.msg, "/nonexistent/cues.json"),
          "missing lexicon named: %s", err.msg);
}

int main(void)
{
    test_shipped();
    test_thresholds_and_conf();
    test_bad_files();
    return check_summary("keyphrases");
}
