/* lexicon.c - see callwatch/lexicon.h */
#include "callwatch/lexicon.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The word-cue alert kinds of the interface contract (BRIEF.md). */
static const char *const KINDS[] = {"anger", "despair", "escalation"};
#define N_KINDS (sizeof KINDS / sizeof KINDS[0])

static const char WILDCARD[] = "*";

/* A phrase split into words; tok[i] points into text_buf. */
typedef struct phrase {
    char *text;      /* normalised phrase: lower case, single spaces */
    char *text_buf;  /* same words, NUL-separated */
    char **tok;
    size_t n_tok;
    size_t n_wild;
} phrase_t;

typedef struct entry {
    phrase_t ph;
    const char *kind; /* one of KINDS */
    char *category;
    double weight;
} entry_t;

struct cw_lexicon {
    char *language;
    char **negators;
    size_t n_negators;
    char **stops;      /* words that end a negator's scope ("but", "it's") */
    size_t n_stops;
    size_t negation_window;
    entry_t *entries;
    size_t n_entries;
    phrase_t *benign;
    size_t n_benign;
    size_t max_tokens; /* longest entry, in words */
};

static char lower_ascii(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool word_eq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++)
        if (lower_ascii(*a) != lower_ascii(*b))
            return false;
    return *a == *b;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static void phrase_free(phrase_t *p)
{
    free(p->text);
    free(p->text_buf);
    free(p->tok);
    memset(p, 0, sizeof *p);
}

/* Splits src into lower-case words. Returns 0 or a status with err filled
 * (message without location; the caller prefixes it). */
static int phrase_parse(phrase_t *p, const char *src, bool allow_wildcard, cw_error_t *err)
{
    memset(p, 0, sizeof *p);
    size_t len = strlen(src);
    p->text = malloc(len + 1);
    p->text_buf = malloc(len + 1);
    p->tok = calloc(len / 2 + 1, sizeof *p->tok); /* at most (len+1)/2 words */
    if (!p->text || !p->text_buf || !p->tok) {
        phrase_free(p);
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory");
    }
    size_t tl = 0, bl = 0;
    const char *s = src;
    while (*s) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (!*s)
            break;
        const char *w = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
        size_t wl = (size_t)(s - w);
        if (wl >= CW_WORD_MAX) {
            phrase_free(p);
            return cw_error_set(err, CW_ERR_FORMAT, "word \"%.*s\" is longer than %d characters", (int)wl, w,
                                CW_WORD_MAX - 1);
        }
        if (tl)
            p->text[tl++] = ' ';
        p->tok[p->n_tok++] = p->text_buf + bl;
        for (size_t i = 0; i < wl; i++) {
            char c = w[i];
            if ((unsigned char)c < ' ') {
                phrase_free(p);
                return cw_error_set(err, CW_ERR_FORMAT, "control character in a word");
            }
            p->text[tl++] = lower_ascii(c);
            p->text_buf[bl++] = lower_ascii(c);
        }
        p->text_buf[bl++] = '\0';
        if (strcmp(p->tok[p->n_tok - 1], WILDCARD) == 0)
            p->n_wild++;
    }
    p->text[tl] = '\0';
    if (p->n_tok == 0) {
        phrase_free(p);
        return cw_error_set(err, CW_ERR_FORMAT, "empty phrase");
    }
    if (p->n_wild && !allow_wildcard) {
        phrase_free(p);
        return cw_error_set(err, CW_ERR_FORMAT, "wildcard \"*\" is not allowed here");
    }
    if (strcmp(p->tok[0], WILDCARD) == 0 || strcmp(p->tok[p->n_tok - 1], WILDCARD) == 0) {
        phrase_free(p);
        return cw_error_set(err, CW_ERR_FORMAT, "a phrase must not start or end with the wildcard \"*\"");
    }
    return CW_OK;
}

void cw_lexicon_destroy(cw_lexicon_t **plx)
{
    if (!plx || !*plx)
        return;
    cw_lexicon_t *lx = *plx;
    free(lx->language);
    for (size_t i = 0; i < lx->n_negators; i++)
        free(lx->negators[i]);
    free(lx->negators);
    for (size_t i = 0; i < lx->n_stops; i++)
        free(lx->stops[i]);
    free(lx->stops);
    for (size_t i = 0; i < lx->n_entries; i++) {
        phrase_free(&lx->entries[i].ph);
        free(lx->entries[i].category);
    }
    free(lx->entries);
    for (size_t i = 0; i < lx->n_benign; i++)
        phrase_free(&lx->benign[i]);
    free(lx->benign);
    free(lx);
    *plx = NULL;
}

/* Fails when obj has a key not in allowed (NULL-terminated). */
static int check_keys(json_t *obj, const char *const *allowed, const char *path, const char *where,
                      cw_error_t *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++)
            ok |= strcmp(key, allowed[i]) == 0;
        if (!ok) {
            char list[256] = "";
            size_t n = 0;
            for (size_t i = 0; allowed[i] && n < sizeof list; i++) {
                int k = snprintf(list + n, sizeof list - n, "%s\"%s\"", i ? ", " : "", allowed[i]);
                if (k < 0)
                    break;
                n += (size_t)k;
            }
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: unknown key \"%s\" (expected %s)", path, where, key,
                                list);
        }
    }
    return CW_OK;
}

/* Reads a phrase from item (an object with "phrase"); where names it. */
static int read_phrase(json_t *item, bool allow_wildcard, phrase_t *ph, const char *path, const char *where,
                       cw_error_t *err)
{
    json_t *jp = json_object_get(item, "phrase");
    if (!jp)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: missing \"phrase\"", path, where);
    if (!json_is_string(jp))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: \"phrase\" must be a string", path, where);
    const char *text = json_string_value(jp);
    int rc = phrase_parse(ph, text, allow_wildcard, err);
    if (rc != CW_OK)
        return cw_error_prefix(err, "%s: %s \"%s\"", path, where, text);
    return CW_OK;
}

static int load_entry(cw_lexicon_t *lx, json_t *item, size_t idx, const char *path, cw_error_t *err)
{
    static const char *const keys[] = {"phrase", "kind", "category", "weight", NULL};
    char where[64];
    snprintf(where, sizeof where, "entries[%zu]", idx);
    if (!json_is_object(item))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: must be an object", path, where);
    entry_t *e = &lx->entries[lx->n_entries];
    int rc = read_phrase(item, true, &e->ph, path, where, err);
    if (rc != CW_OK)
        return rc;
    lx->n_entries++; /* from here on e is owned by lx, freed on error */
    const char *ph = e->ph.text;
    char where_ph[sizeof where + 112];
    snprintf(where_ph, sizeof where_ph, "%s \"%.100s\"", where, ph);
    rc = check_keys(item, keys, path, where_ph, err);
    if (rc != CW_OK)
        return rc;

    json_t *jk = json_object_get(item, "kind");
    if (!jk)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s \"%s\": missing \"kind\"", path, where, ph);
    if (!json_is_string(jk))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s \"%s\": \"kind\" must be a string", path, where, ph);
    for (size_t k = 0; k < N_KINDS; k++)
        if (strcmp(json_string_value(jk), KINDS[k]) == 0)
            e->kind = KINDS[k];
    if (!e->kind)
        return cw_error_set(err, CW_ERR_FORMAT,
                            "%s: %s \"%s\": unknown kind \"%s\" (expected \"anger\", \"despair\" or \"escalation\")",
                            path, where, ph, json_string_value(jk));

    json_t *jc = json_object_get(item, "category");
    if (!jc)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s \"%s\": missing \"category\"", path, where, ph);
    if (!json_is_string(jc) || json_string_length(jc) == 0)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s \"%s\": \"category\" must be a non-empty string", path,
                            where, ph);
    e->category = dup_str(json_string_value(jc));
    if (!e->category)
        return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);

    json_t *jw = json_object_get(item, "weight");
    if (!jw)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s \"%s\": missing \"weight\"", path, where, ph);
    if (!json_is_number(jw))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s \"%s\": \"weight\" must be a number", path, where, ph);
    e->weight = json_number_value(jw);
    if (!(e->weight >= 0.0 && e->weight <= 1.0))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s \"%s\": weight %g is outside 0..1", path, where, ph,
                            e->weight);

    for (size_t j = 0; j + 1 < lx->n_entries; j++)
        if (strcmp(lx->entries[j].ph.text, ph) == 0)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s \"%s\": duplicate of entries[%zu]", path, where, ph,
                                j);
    if (e->ph.n_tok > lx->max_tokens)
        lx->max_tokens = e->ph.n_tok;
    return CW_OK;
}

/* Reads root[key], an array of single lower-cased words, into *words. */
static int read_words(json_t *root, const char *key, bool required, char ***words, size_t *n_words,
                      const char *path, cw_error_t *err)
{
    json_t *arr = json_object_get(root, key);
    if (!arr && !required)
        return CW_OK;
    if (!json_is_array(arr))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"%s\" must be an array of words", path, key);
    *words = calloc(json_array_size(arr) + 1, sizeof **words);
    if (!*words)
        return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
    size_t i;
    json_t *item;
    json_array_foreach(arr, i, item) {
        const char *w = json_string_value(item);
        if (!w || !*w || strpbrk(w, " \t") || strcmp(w, WILDCARD) == 0 || strlen(w) >= CW_WORD_MAX)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s[%zu]: must be one word (no spaces, not \"*\")", path,
                                key, i);
        char *d = dup_str(w);
        if (!d)
            return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
        for (char *c = d; *c; c++)
            *c = lower_ascii(*c);
        (*words)[(*n_words)++] = d;
    }
    return CW_OK;
}

static int load_doc(cw_lexicon_t *lx, json_t *root, const char *path, cw_error_t *err)
{
    static const char *const top_keys[] = {"language", "negators", "negation_window", "negation_stops",
                                            "entries", "benign", "comment", NULL};
    static const char *const benign_keys[] = {"phrase", NULL};
    if (!json_is_object(root))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: the top level must be a JSON object", path);
    int rc = check_keys(root, top_keys, path, "top level", err);
    if (rc != CW_OK)
        return rc;

    json_t *jl = json_object_get(root, "language");
    if (!json_is_string(jl) || json_string_length(jl) == 0)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"language\" must be a non-empty string", path);
    if (!(lx->language = dup_str(json_string_value(jl))))
        return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);

    rc = read_words(root, "negators", true, &lx->negators, &lx->n_negators, path, err);
    if (rc == CW_OK)
        rc = read_words(root, "negation_stops", false, &lx->stops, &lx->n_stops, path, err);
    if (rc != CW_OK)
        return rc;

    json_t *jw = json_object_get(root, "negation_window");
    if (!json_is_integer(jw) || json_integer_value(jw) < 0)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"negation_window\" must be an integer >= 0 (words)", path);
    lx->negation_window = (size_t)json_integer_value(jw);

    size_t i;
    json_t *item;
    json_t *je = json_object_get(root, "entries");
    if (!json_is_array(je) || json_array_size(je) == 0)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"entries\" must be a non-empty array", path);
    lx->entries = calloc(json_array_size(je), sizeof *lx->entries);
    if (!lx->entries)
        return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
    json_array_foreach(je, i, item) {
        rc = load_entry(lx, item, i, path, err);
        if (rc != CW_OK)
            return rc;
    }

    json_t *jb = json_object_get(root, "benign");
    if (jb && !json_is_array(jb))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"benign\" must be an array", path);
    if (jb && json_array_size(jb)) {
        lx->benign = calloc(json_array_size(jb), sizeof *lx->benign);
        if (!lx->benign)
            return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
        json_array_foreach(jb, i, item) {
            char where[64];
            snprintf(where, sizeof where, "benign[%zu]", i);
            if (!json_is_object(item))
                return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: must be an object {\"phrase\": ...}", path, where);
            rc = read_phrase(item, true, &lx->benign[lx->n_benign], path, where, err);
            if (rc != CW_OK)
                return rc;
            lx->n_benign++;
            rc = check_keys(item, benign_keys, path, where, err);
            if (rc != CW_OK)
                return rc;
        }
    }
    return CW_OK;
}

cw_lexicon_t *cw_lexicon_load(const char *path, cw_error_t *err)
{
    if (!path) {
        cw_error_set(err, CW_ERR_INVALID, "cue lexicon: no path given");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        bool missing = jerr.line < 1; /* jansson reports line -1 when the file cannot be opened */
        if (missing)
            cw_error_set(err, CW_ERR_IO, "%s: cannot read cue lexicon: %s", path, jerr.text);
        else
            cw_error_set(err, CW_ERR_FORMAT, "%s:%d:%d: invalid JSON: %s", path, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    cw_lexicon_t *lx = calloc(1, sizeof *lx);
    if (!lx) {
        json_decref(root);
        cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    int rc = load_doc(lx, root, path, err);
    json_decref(root);
    if (rc != CW_OK) {
        cw_lexicon_destroy(&lx);
        return NULL;
    }
    return lx;
}

size_t cw_lexicon_size(const cw_lexicon_t *lx)
{
    return lx ? lx->n_entries : 0;
}

const char *cw_lexicon_phrase(const cw_lexicon_t *lx, size_t i, const char **kind)
{
    if (!lx || i >= lx->n_entries)
        return NULL;
    if (kind)
        *kind = lx->entries[i].kind;
    return lx->entries[i].ph.text;
}

size_t cw_lexicon_benign_count(const cw_lexicon_t *lx)
{
    return lx ? lx->n_benign : 0;
}

const char *cw_lexicon_benign(const cw_lexicon_t *lx, size_t i)
{
    return lx && i < lx->n_benign ? lx->benign[i].text : NULL;
}

/* Does ph occur at words[at ..]? With check_conf, literal words need conf >= min_conf. */
static bool phrase_at(const phrase_t *ph, const cw_word_t *words, size_t n_words, size_t at, bool check_conf,
                      double min_conf)
{
    if (ph->n_tok > n_words - at)
        return false;
    for (size_t k = 0; k < ph->n_tok; k++) {
        if (strcmp(ph->tok[k], WILDCARD) == 0)
            continue;
        const cw_word_t *w = &words[at + k];
        if (check_conf && !(w->conf >= min_conf))
            return false;
        if (!word_eq(w->w, ph->tok[k]))
            return false;
    }
    return true;
}

static bool in_list(char *const *list, size_t n, const char *w)
{
    for (size_t i = 0; i < n; i++)
        if (word_eq(w, list[i]))
            return true;
    return false;
}

/* Is there a negator among the negation_window words before first, with no
 * stop word between it and the phrase? */
static bool negated(const cw_lexicon_t *lx, const cw_word_t *words, size_t first)
{
    size_t from = first > lx->negation_window ? first - lx->negation_window : 0;
    for (size_t i = first; i-- > from;) {
        if (in_list(lx->negators, lx->n_negators, words[i].w))
            return true;
        if (in_list(lx->stops, lx->n_stops, words[i].w))
            return false;
    }
    return false;
}

/* Is words[first .. first+n) inside an occurrence of a benign phrase? */
static bool in_benign(const cw_lexicon_t *lx, const cw_word_t *words, size_t n_words, size_t first, size_t n)
{
    for (size_t b = 0; b < lx->n_benign; b++) {
        const phrase_t *ph = &lx->benign[b];
        if (ph->n_tok < n)
            continue;
        /* occurrence start j with j <= first and j + len >= first + n */
        size_t lo = first + n > ph->n_tok ? first + n - ph->n_tok : 0;
        for (size_t j = lo; j <= first; j++)
            if (phrase_at(ph, words, n_words, j, false, 0.0))
                return true;
    }
    return false;
}

/* Is entry a a better pick than entry b at the same position and length? */
static bool better(const entry_t *a, const entry_t *b)
{
    if (a->weight != b->weight)
        return a->weight > b->weight;
    return a->ph.n_wild < b->ph.n_wild; /* equal: the earlier entry stays */
}

size_t cw_lexicon_match(const cw_lexicon_t *lx, const cw_word_t *words, size_t n_words, double min_conf,
                        cw_cue_match_t *out, size_t cap)
{
    if (!lx || !words || !out || n_words == 0 || cap == 0)
        return 0;
    /* start[i]: index+1 of the entry taken at word i (0: none); used[i]: word i is covered. */
    size_t *start = calloc(n_words, sizeof *start);
    unsigned char *used = calloc(n_words, 1);
    if (!start || !used) {
        free(start);
        free(used);
        return 0;
    }
    for (size_t len = lx->max_tokens; len >= 1; len--) {
        for (size_t i = 0; i + len <= n_words; i++) {
            bool free_span = true;
            for (size_t k = i; k < i + len && free_span; k++)
                free_span = !used[k];
            if (!free_span)
                continue;
            const entry_t *best = NULL;
            size_t best_idx = 0;
            for (size_t e = 0; e < lx->n_entries; e++) {
                const entry_t *en = &lx->entries[e];
                if (en->ph.n_tok != len || !phrase_at(&en->ph, words, n_words, i, true, min_conf))
                    continue;
                if (!best || better(en, best)) {
                    best = en;
                    best_idx = e;
                }
            }
            if (!best)
                continue;
            start[i] = best_idx + 1;
            memset(used + i, 1, len);
        }
    }
    size_t n_out = 0;
    for (size_t i = 0; i < n_words && n_out < cap; i++) {
        if (!start[i])
            continue;
        const entry_t *en = &lx->entries[start[i] - 1];
        size_t n = en->ph.n_tok;
        if (negated(lx, words, i) || in_benign(lx, words, n_words, i, n))
            continue;
        double conf = 0;
        for (size_t k = i; k < i + n; k++)
            conf += words[k].conf;
        cw_cue_match_t *m = &out[n_out++];
        m->kind = en->kind;
        m->category = en->category;
        m->phrase = en->ph.text;
        m->weight = en->weight;
        m->first_word = i;
        m->n_words = n;
        m->t_start = words[i].t_start;
        m->t_end = words[i + n - 1].t_end;
        m->conf = conf / (double)n;
    }
    free(start);
    free(used);
    return n_out;
}
