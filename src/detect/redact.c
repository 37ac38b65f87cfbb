/* redact.c - see callwatch/redact.h */
#include "callwatch/redact.h"

#include <jansson.h>

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A patterns file line longer than this is an error rather than cut short. */
#define PATTERN_LINE_MAX 1024
#define MAX_PATTERNS 256
#define MAX_LEXICON_WORDS 1024
/* Largest factor of a repeat word ("triple" = 3). */
#define MAX_REPEAT 10

enum word_class { W_NONE, W_DIGIT, W_IN_RUN, W_REPEAT };

typedef struct lex_word {
    char w[CW_WORD_MAX];
    enum word_class cls;
    int digits; /* digits it stands for; for W_REPEAT the factor */
    char kind;  /* 't' tens ("40"), 'u' unit ("5"), 0 other: "forty five" is 2 digits, not 3 */
} lex_word_t;

struct cw_redactor {
    lex_word_t *lex;
    size_t n_lex;
    bool split_chars;
    char mask[CW_WORD_MAX];
    char pattern_mask[CW_WORD_MAX];
    int min_digits;
    regex_t *patterns;
    size_t n_patterns;

    /* The masked copy handed out by cw_redact_apply. */
    cw_transcript_t out;
    cw_word_t *words;
    size_t words_cap;
    char *text;
    size_t text_cap;
    enum word_class *cls; /* per word of the current transcript */
    int *digits;
    char *kind;
    size_t cls_cap;
    unsigned long masked;
};

static const cw_transcript_t empty_transcript = {.text = ""};

static const lex_word_t *lex_find(const cw_redactor_t *r, const char *w, size_t len)
{
    for (size_t i = 0; i < r->n_lex; i++)
        if (strlen(r->lex[i].w) == len && strncasecmp(r->lex[i].w, w, len) == 0)
            return &r->lex[i];
    return NULL;
}

static int add_words(cw_redactor_t *r, json_t *obj, enum word_class cls, const char *path, const char *key,
                     cw_error_t *err)
{
    if (!obj)
        return CW_OK;
    if (!json_is_object(obj))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"%s\" must be an object of word: value", path, key);
    const char *w;
    json_t *v;
    json_object_foreach(obj, w, v)
    {
        size_t len = strlen(w);
        if (len == 0 || len >= CW_WORD_MAX)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: \"%s\": word '%s' is empty or longer than %d bytes", path,
                                key, w, CW_WORD_MAX - 1);
        if (r->n_lex >= MAX_LEXICON_WORDS)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: more than %d words", path, MAX_LEXICON_WORDS);
        if (lex_find(r, w, len))
            return cw_error_set(err, CW_ERR_FORMAT, "%s: \"%s\": word '%s' is listed twice", path, key, w);
        lex_word_t *lw = &r->lex[r->n_lex];
        memcpy(lw->w, w, len + 1);
        lw->cls = cls;
        if (cls == W_REPEAT) {
            if (!json_is_integer(v) || json_integer_value(v) < 2 || json_integer_value(v) > MAX_REPEAT)
                return cw_error_set(err, CW_ERR_FORMAT, "%s: \"%s\": '%s' must be an integer 2..%d", path, key, w,
                                    MAX_REPEAT);
            lw->digits = (int)json_integer_value(v);
        } else {
            const char *d = json_string_value(v);
            if (!d || strspn(d, "0123456789") != strlen(d) || strlen(d) > 9)
                return cw_error_set(err, CW_ERR_FORMAT, "%s: \"%s\": '%s' must map to a string of up to 9 digits",
                                    path, key, w);
            lw->digits = (int)strlen(d);
            if (lw->digits == 2 && d[1] == '0' && d[0] != '1')
                lw->kind = 't';
            else if (lw->digits == 1 && d[0] != '0')
                lw->kind = 'u';
        }
        r->n_lex++;
    }
    return CW_OK;
}

static int copy_mask(json_t *root, const char *key, const char *def, char *out, const char *path, cw_error_t *err)
{
    json_t *v = json_object_get(root, key);
    const char *s = v ? json_string_value(v) : def;
    if (!s || !*s || strlen(s) >= CW_WORD_MAX)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"%s\" must be a non-empty string under %d bytes", path, key,
                            CW_WORD_MAX);
    snprintf(out, CW_WORD_MAX, "%s", s);
    return CW_OK;
}

static int load_lexicon(cw_redactor_t *r, const char *path, cw_error_t *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        FILE *f = fopen(path, "r");
        if (!f)
            return cw_error_set(err, CW_ERR_NOT_FOUND, "redaction words '%s': %s", path, strerror(errno));
        fclose(f);
        return cw_error_set(err, CW_ERR_FORMAT, "%s:%d: %s", path, jerr.line, jerr.text);
    }
    static const char *const known[] = {"language", "mask", "pattern_mask", "about", "split_chars",
                                        "digits", "in_run", "repeat"};
    int rc = CW_OK;
    const char *key;
    json_t *v;
    if (!json_is_object(root)) {
        rc = cw_error_set(err, CW_ERR_FORMAT, "%s: not a JSON object", path);
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok = ok || strcmp(key, known[i]) == 0;
        if (!ok) {
            rc = cw_error_set(err, CW_ERR_FORMAT, "%s: unknown key \"%s\"", path, key);
            goto out;
        }
    }
    r->lex = calloc(MAX_LEXICON_WORDS, sizeof *r->lex);
    if (!r->lex) {
        rc = cw_error_set(err, CW_ERR_NOMEM, "out of memory loading %s", path);
        goto out;
    }
    r->split_chars = json_is_true(json_object_get(root, "split_chars"));
    if ((rc = copy_mask(root, "mask", "[digits]", r->mask, path, err)) != CW_OK ||
        (rc = copy_mask(root, "pattern_mask", "[redacted]", r->pattern_mask, path, err)) != CW_OK ||
        (rc = add_words(r, json_object_get(root, "digits"), W_DIGIT, path, "digits", err)) != CW_OK ||
        (rc = add_words(r, json_object_get(root, "in_run"), W_IN_RUN, path, "in_run", err)) != CW_OK ||
        (rc = add_words(r, json_object_get(root, "repeat"), W_REPEAT, path, "repeat", err)) != CW_OK)
        goto out;
    bool any_digit = false;
    for (size_t i = 0; i < r->n_lex; i++)
        any_digit = any_digit || r->lex[i].cls == W_DIGIT;
    if (!any_digit)
        rc = cw_error_set(err, CW_ERR_FORMAT, "%s: \"digits\" lists no word; nothing could be masked", path);
out:
    json_decref(root);
    return rc;
}

static int load_patterns(cw_redactor_t *r, const char *path, cw_error_t *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return cw_error_set(err, CW_ERR_NOT_FOUND, "redaction patterns '%s': %s", path, strerror(errno));
    r->patterns = calloc(MAX_PATTERNS, sizeof *r->patterns);
    if (!r->patterns) {
        fclose(f);
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory loading %s", path);
    }
    char line[PATTERN_LINE_MAX + 2];
    int lineno = 0, rc = CW_OK;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] == '\n')
            line[--len] = '\0';
        else if (!feof(f)) {
            rc = cw_error_set(err, CW_ERR_FORMAT, "%s:%d: line longer than %d characters", path, lineno,
                              PATTERN_LINE_MAX);
            break;
        }
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        if (len == 0 || line[0] == '#')
            continue;
        if (r->n_patterns >= MAX_PATTERNS) {
            rc = cw_error_set(err, CW_ERR_FORMAT, "%s:%d: more than %d patterns", path, lineno, MAX_PATTERNS);
            break;
        }
        int e = regcomp(&r->patterns[r->n_patterns], line, REG_EXTENDED | REG_ICASE | REG_NOSUB);
        if (e != 0) {
            char why[256];
            regerror(e, &r->patterns[r->n_patterns], why, sizeof why);
            rc = cw_error_set(err, CW_ERR_FORMAT, "%s:%d: bad regular expression '%s': %s", path, lineno, line, why);
            break;
        }
        r->n_patterns++;
    }
    if (rc == CW_OK && ferror(f))
        rc = cw_error_set(err, CW_ERR_IO, "cannot read %s", path);
    fclose(f);
    return rc;
}

cw_redactor_t *cw_redactor_load(const char *words_path, const char *patterns_path, int min_digits,
                                cw_error_t *err)
{
    if (!words_path || min_digits < 1) {
        cw_error_set(err, CW_ERR_INVALID, "redaction: no words file or min_digits < 1");
        return NULL;
    }
    cw_redactor_t *r = calloc(1, sizeof *r);
    if (!r) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating a redactor");
        return NULL;
    }
    r->min_digits = min_digits;
    if (load_lexicon(r, words_path, err) != CW_OK)
        goto error_out;
    if (patterns_path && *patterns_path && load_patterns(r, patterns_path, err) != CW_OK)
        goto error_out;
    return r;

error_out:
    cw_redactor_destroy(&r);
    return NULL;
}

cw_redactor_t *cw_redactor_new(const cw_config_t *cfg, cw_error_t *err)
{
    char words[CW_PATH_MAX], patterns[CW_PATH_MAX];
    cw_config_model_path(cfg->redact_words, words, sizeof words);
    if (cfg->redact_patterns[0])
        cw_config_model_path(cfg->redact_patterns, patterns, sizeof patterns);
    else
        patterns[0] = '\0';
    cw_redactor_t *r = cw_redactor_load(words, patterns, cfg->redact_min_digits, err);
    if (!r)
        cw_error_prefix(err, "[redact]");
    return r;
}

/* Bytes of the UTF-8 character starting with byte c (1 for anything odd). */
static size_t utf8_len(unsigned char c)
{
    if (c >= 0xF0)
        return 4;
    if (c >= 0xE0)
        return 3;
    if (c >= 0xC0)
        return 2;
    return 1;
}

/* Class of one heard word, the digits it stands for and its kind (see
 * lex_word_t). */
static enum word_class classify(const cw_redactor_t *r, const char *w, int *digits, char *kind)
{
    size_t len = strlen(w);
    *digits = 0;
    *kind = 0;
    if (len == 0)
        return W_NONE;
    const lex_word_t *lw = lex_find(r, w, len);
    if (lw) {
        *digits = lw->digits;
        *kind = lw->kind;
        return lw->cls;
    }
    /* Numerals, should a recogniser write them: "4532", "45-32". */
    if (strspn(w, "0123456789-") == len) {
        for (const char *p = w; *p; p++)
            *digits += isdigit((unsigned char)*p) != 0;
        return *digits ? W_DIGIT : W_NONE;
    }
    if (!r->split_chars)
        return W_NONE;
    int sum = 0;
    for (size_t i = 0; i < len;) {
        size_t n = utf8_len((unsigned char)w[i]);
        if (i + n > len)
            return W_NONE;
        const lex_word_t *c = lex_find(r, w + i, n);
        if (!c || c->cls != W_DIGIT)
            return W_NONE;
        sum += c->digits;
        i += n;
    }
    *digits = sum;
    return W_DIGIT;
}

static bool grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return false;
    *p = q;
    *cap = n;
    return true;
}

/* The words of `in` into r->words (split from the text for a word-less
 * partial). Returns the count, or -1 out of memory. */
static long gather_words(cw_redactor_t *r, const cw_transcript_t *in)
{
    if (in->n_words > 0) {
        if (!grow((void **)&r->words, &r->words_cap, in->n_words, sizeof *r->words))
            return -1;
        memcpy(r->words, in->words, in->n_words * sizeof *r->words);
        return (long)in->n_words;
    }
    size_t n = 0;
    const char *p = in->text ? in->text : "";
    while (*p) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " ");
        if (!grow((void **)&r->words, &r->words_cap, n + 1, sizeof *r->words))
            return -1;
        cw_word_t *w = &r->words[n++];
        memset(w, 0, sizeof *w);
        /* An over-long token is cut; the cut part is still checked. */
        size_t keep = len < CW_WORD_MAX ? len : CW_WORD_MAX - 1;
        memcpy(w->w, p, keep);
        w->t_start = in->t_start;
        w->t_end = in->t_end;
        w->conf = 1.0;
        p += len;
    }
    return (long)n;
}

/* Masks runs of digit words; returns how many words were masked. */
static size_t mask_digit_runs(cw_redactor_t *r, size_t n)
{
    size_t masked = 0;
    for (size_t i = 0; i < n; i++)
        r->cls[i] = classify(r, r->words[i].w, &r->digits[i], &r->kind[i]);
    for (size_t start = 0; start < n;) {
        if (r->cls[start] == W_NONE) {
            start++;
            continue;
        }
        size_t end = start;
        int count = 0, repeat = 1;
        bool real_digit = false;
        for (; end < n && r->cls[end] != W_NONE; end++) {
            if (r->cls[end] == W_REPEAT) {
                repeat = r->digits[end];
                continue;
            }
            bool fills_tens = end > start && r->kind[end] == 'u' && r->kind[end - 1] == 't' && repeat == 1;
            count += fills_tens ? 0 : r->digits[end] * repeat;
            repeat = 1;
            real_digit = real_digit || r->cls[end] == W_DIGIT;
        }
        if (real_digit && count >= r->min_digits) {
            for (size_t k = start; k < end; k++) {
                snprintf(r->words[k].w, sizeof r->words[k].w, "%s", r->mask);
                masked++;
            }
        }
        start = end;
    }
    return masked;
}

static size_t mask_patterns(cw_redactor_t *r, size_t n)
{
    size_t masked = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(r->words[i].w, r->mask) == 0)
            continue;
        for (size_t k = 0; k < r->n_patterns; k++) {
            if (regexec(&r->patterns[k], r->words[i].w, 0, NULL, 0) == 0) {
                snprintf(r->words[i].w, sizeof r->words[i].w, "%s", r->pattern_mask);
                masked++;
                break;
            }
        }
    }
    return masked;
}

const cw_transcript_t *cw_redact_apply(cw_redactor_t *r, const cw_transcript_t *in)
{
    if (!r || !in)
        return in;
    long got = gather_words(r, in);
    if (got < 0)
        return &empty_transcript;
    size_t n = (size_t)got;
    if (n == 0)
        return in;
    /* Three arrays of one length: grow each from the same old capacity. */
    size_t cap_cls = r->cls_cap, cap_digits = r->cls_cap;
    if (!grow((void **)&r->cls, &cap_cls, n, sizeof *r->cls) ||
        !grow((void **)&r->digits, &cap_digits, n, sizeof *r->digits) ||
        !grow((void **)&r->kind, &r->cls_cap, n, sizeof *r->kind))
        return &empty_transcript;
    size_t masked = mask_digit_runs(r, n) + mask_patterns(r, n);
    if (masked == 0)
        return in;
    r->masked += masked;

    size_t text_len = 0;
    for (size_t i = 0; i < n; i++)
        text_len += strlen(r->words[i].w) + 1;
    if (!grow((void **)&r->text, &r->text_cap, text_len + 1, 1))
        return &empty_transcript;
    char *o = r->text;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(r->words[i].w);
        if (i)
            *o++ = ' ';
        memcpy(o, r->words[i].w, len);
        o += len;
    }
    *o = '\0';
    r->out = *in;
    r->out.text = r->text;
    /* A partial without words stays without: only its text changes. */
    r->out.words = in->n_words ? r->words : NULL;
    r->out.n_words = in->n_words;
    return &r->out;
}

unsigned long cw_redactor_masked(const cw_redactor_t *r)
{
    return r ? r->masked : 0;
}

void cw_redactor_destroy(cw_redactor_t **r)
{
    if (!r || !*r)
        return;
    for (size_t i = 0; i < (*r)->n_patterns; i++)
        regfree(&(*r)->patterns[i]);
    free((*r)->patterns);
    free((*r)->lex);
    free((*r)->words);
    free((*r)->text);
    free((*r)->cls);
    free((*r)->digits);
    free((*r)->kind);
    free(*r);
    *r = NULL;
}
