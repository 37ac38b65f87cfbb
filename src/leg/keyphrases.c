/* keyphrases.c - see callwatch/keyphrases.h */
#include "callwatch/keyphrases.h"

#include "callwatch/lexicon.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_BY_WORDS 16

struct cw_keyphrases {
    cw_keyphrase_t *items;
    char **texts; /* owned copies behind items[i].phrase */
    size_t n, cap;
    size_t left_out;
    double conf_at_floor;
    double conf_scale;
};

static size_t count_words(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        if (*p != ' ' && (p == s || p[-1] == ' '))
            n++;
    return n;
}

static int add_phrase(cw_keyphrases_t *kp, const char *text, double threshold, double floor, bool suppressor,
                      cw_error_t *err)
{
    if (cw_keyphrases_find(kp, text))
        return CW_OK; /* a phrase both cue and benign is spotted once; the lexicon decides */
    if (kp->n == kp->cap) {
        size_t cap = kp->cap ? kp->cap * 2 : 256;
        cw_keyphrase_t *items = realloc(kp->items, cap * sizeof *items);
        if (items)
            kp->items = items;
        char **texts = items ? realloc(kp->texts, cap * sizeof *texts) : NULL;
        if (!items || !texts)
            return cw_error_set(err, CW_ERR_NOMEM, "out of memory building the keyphrase list");
        kp->texts = texts;
        kp->cap = cap;
    }
    char *copy = strdup(text);
    if (!copy)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory building the keyphrase list");
    kp->texts[kp->n] = copy;
    kp->items[kp->n] = (cw_keyphrase_t){
        .phrase = copy, .n_words = count_words(copy), .threshold = threshold, .score_floor = floor, .suppressor = suppressor};
    kp->n++;
    return CW_OK;
}

static bool valid_threshold(json_t *v)
{
    return json_is_number(v) && json_number_value(v) > 0 && json_number_value(v) < 1;
}

typedef struct thresholds {
    double by_words[MAX_BY_WORDS];
    size_t n_by_words;
    json_t *phrases; /* borrowed from the document */
    json_t *floors;
    double score_floor;
    json_t *exclude;
} thresholds_t;

static int read_thresholds(json_t *root, const char *path, cw_keyphrases_t *kp, thresholds_t *th, cw_error_t *err)
{
    static const char *const allowed[] = {"threshold_by_words", "phrases",   "exclude",   "score_floor",
                                          "score_floors",       "conf_at_floor", "conf_scale"};
    if (!json_is_object(root))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: not a JSON object", path);
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        bool known = false;
        for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
            known |= strcmp(key, allowed[i]) == 0;
        if (!known)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: unknown key \"%s\"", path, key);
    }
    json_t *by = json_object_get(root, "threshold_by_words");
    if (!json_is_array(by) || json_array_size(by) == 0 || json_array_size(by) > MAX_BY_WORDS)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: threshold_by_words must be an array of 1..%d numbers", path,
                            MAX_BY_WORDS);
    for (size_t i = 0; i < json_array_size(by); i++) {
        if (!valid_threshold(json_array_get(by, i)))
            return cw_error_set(err, CW_ERR_FORMAT, "%s: threshold_by_words[%zu] must be a number in (0, 1)",
                                path, i);
        th->by_words[i] = json_number_value(json_array_get(by, i));
    }
    th->n_by_words = json_array_size(by);
    th->phrases = json_object_get(root, "phrases");
    if (th->phrases && !json_is_object(th->phrases))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: phrases must be an object {\"phrase\": threshold}", path);
    json_object_foreach(th->phrases, key, val) {
        if (!valid_threshold(val))
            return cw_error_set(err, CW_ERR_FORMAT, "%s: phrases \"%s\": threshold must be a number in (0, 1)",
                                path, key);
    }
    th->exclude = json_object_get(root, "exclude");
    if (th->exclude && !json_is_array(th->exclude))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: exclude must be an array of phrases", path);
    for (size_t i = 0; th->exclude && i < json_array_size(th->exclude); i++)
        if (!json_is_string(json_array_get(th->exclude, i)))
            return cw_error_set(err, CW_ERR_FORMAT, "%s: exclude[%zu] is not a string", path, i);
    json_t *floor = json_object_get(root, "score_floor");
    if (!json_is_number(floor) || !(json_number_value(floor) <= 0))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: score_floor must be a number <= 0 (natural log)", path);
    th->score_floor = json_number_value(floor);
    th->floors = json_object_get(root, "score_floors");
    if (th->floors && !json_is_object(th->floors))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: score_floors must be an object {\"phrase\": floor}", path);
    json_object_foreach(th->floors, key, val) {
        if (!json_is_number(val) || !(json_number_value(val) <= 0))
            return cw_error_set(err, CW_ERR_FORMAT, "%s: score_floors \"%s\": must be a number <= 0", path, key);
    }
    json_t *c0 = json_object_get(root, "conf_at_floor");
    json_t *scale = json_object_get(root, "conf_scale");
    kp->conf_at_floor = c0 ? json_number_value(c0) : 0.35;
    kp->conf_scale = scale ? json_number_value(scale) : 0.05;
    if ((c0 && !json_is_number(c0)) || !(kp->conf_at_floor > 0 && kp->conf_at_floor <= 1))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: conf_at_floor must be a number in (0, 1]", path);
    if ((scale && !json_is_number(scale)) || !(kp->conf_scale > 0))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: conf_scale must be a number > 0", path);
    return CW_OK;
}

static bool excluded(const thresholds_t *th, const char *phrase)
{
    for (size_t i = 0; th->exclude && i < json_array_size(th->exclude); i++)
        if (strcasecmp(json_string_value(json_array_get(th->exclude, i)), phrase) == 0)
            return true;
    return false;
}

static double floor_for(const thresholds_t *th, const char *phrase)
{
    const char *key;
    json_t *val;
    json_object_foreach(th->floors, key, val) {
        if (strcasecmp(key, phrase) == 0)
            return json_number_value(val);
    }
    return th->score_floor;
}

static double threshold_for(const thresholds_t *th, const char *phrase)
{
    const char *key;
    json_t *val;
    json_object_foreach(th->phrases, key, val) {
        if (strcasecmp(key, phrase) == 0)
            return json_number_value(val);
    }
    size_t n = count_words(phrase);
    return th->by_words[(n < th->n_by_words ? n : th->n_by_words) - 1];
}

cw_keyphrases_t *cw_keyphrases_load(const char *lexicon_path, const char *thresholds_path, cw_error_t *err)
{
    cw_keyphrases_t *kp = calloc(1, sizeof *kp);
    if (!kp) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory loading the keyphrase list");
        return NULL;
    }
    cw_lexicon_t *lx = cw_lexicon_load(lexicon_path, err);
    json_error_t jerr;
    json_t *root = lx ? json_load_file(thresholds_path, 0, &jerr) : NULL;
    if (lx && !root)
        cw_error_set(err, CW_ERR_FORMAT, "%s:%d:%d: %s", thresholds_path, jerr.line, jerr.column, jerr.text);
    thresholds_t th = {0};
    int rc = root ? read_thresholds(root, thresholds_path, kp, &th, err) : CW_ERR_FORMAT;
    for (size_t i = 0; rc == CW_OK && i < cw_lexicon_size(lx); i++) {
        const char *phrase = cw_lexicon_phrase(lx, i, NULL);
        if (strchr(phrase, '*') || excluded(&th, phrase)) {
            kp->left_out++;
            continue;
        }
        rc = add_phrase(kp, phrase, threshold_for(&th, phrase), floor_for(&th, phrase), false, err);
    }
    for (size_t i = 0; rc == CW_OK && i < cw_lexicon_benign_count(lx); i++) {
        const char *phrase = cw_lexicon_benign(lx, i);
        if (!excluded(&th, phrase))
            rc = add_phrase(kp, phrase, threshold_for(&th, phrase), floor_for(&th, phrase), true, err);
    }
    json_decref(root);
    cw_lexicon_destroy(&lx);
    if (rc != CW_OK || kp->n == 0) {
        if (rc == CW_OK)
            cw_error_set(err, CW_ERR_INVALID, "%s: no phrase of the lexicon can be spotted", lexicon_path);
        cw_keyphrases_destroy(&kp);
        return NULL;
    }
    return kp;
}

void cw_keyphrases_destroy(cw_keyphrases_t **kp)
{
    if (!kp || !*kp)
        return;
    for (size_t i = 0; i < (*kp)->n; i++)
        free((*kp)->texts[i]);
    free((*kp)->texts);
    free((*kp)->items);
    free(*kp);
    *kp = NULL;
}

size_t cw_keyphrases_count(const cw_keyphrases_t *kp)
{
    return kp ? kp->n : 0;
}

const cw_keyphrase_t *cw_keyphrases_get(const cw_keyphrases_t *kp, size_t i)
{
    return kp && i < kp->n ? &kp->items[i] : NULL;
}

const cw_keyphrase_t *cw_keyphrases_find(const cw_keyphrases_t *kp, const char *phrase)
{
    for (size_t i = 0; kp && phrase && i < kp->n; i++)
        if (strcasecmp(kp->items[i].phrase, phrase) == 0)
            return &kp->items[i];
    return NULL;
}

double cw_keyphrases_conf(const cw_keyphrases_t *kp, const cw_keyphrase_t *k, double ln_score)
{
    double margin = ln_score - k->score_floor;
    if (!(margin >= 0))
        return 0;
    double c0 = kp->conf_at_floor;
    return c0 + (1 - c0) * (1 - exp(-margin / kp->conf_scale));
}

size_t cw_keyphrases_left_out(const cw_keyphrases_t *kp)
{
    return kp ? kp->left_out : 0;
}
