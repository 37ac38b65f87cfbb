/* lexicon.c - see callwatch/lexicon.h */
#include "callwatch/lexicon.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The word-cue alert kinds of the interface contract (BRIEF.md). */
static const char *const KINDS[] = {"anger", "despair", "escalation"};
#define N_KINDS (sizeof KINDS / sizeof KINDS[0])

static const char WILDCARD[] = "*";

#define PATTERN_SLOTS_MAX 32   /* groups and literal runs in one pattern */
#define PATTERN_ALTS_MAX 16    /* alternatives in one group */
#define PATTERN_PHRASES_MAX 256 /* phrases one pattern may stand for */
#define FORM_WORDS_MAX 4       /* words a word form may stand for ("going to") */

/* A phrase split into words; tok[i] points into text_buf. ctok is the
 * same phrase in matching form (word_forms applied): its strings point into
 * text_buf or into the lexicon's forms, which never move after loading. */
typedef struct phrase {
    char *text;      /* normalised phrase: lower case, single spaces */
    char *text_buf;  /* same words, NUL-separated */
    char **tok;
    size_t n_tok;
    size_t n_wild;
    const char **ctok;
    size_t n_ctok;
} phrase_t;

typedef struct entry {
    phrase_t ph;
    const char *kind; /* one of KINDS */
    char *category;
    double weight;
    size_t src;       /* index in the file's "entries" (several entries when a pattern expands) */
    char *pattern;    /* the file's phrase when it was a pattern, else NULL */
} entry_t;

/* An entry's first word (matching form), for the index by_first. */
typedef struct first {
    const char *word;
    size_t entry;
} first_t;

/* A heard word and the words it is matched as ("what's" -> "what is"). */
typedef struct form {
    char *from;
    phrase_t to;
} form_t;

struct cw_lexicon {
    char *language;
    form_t *forms;     /* sorted by from */
    size_t n_forms;
    phrase_t *negators;
    size_t n_negators;
    phrase_t *stops;   /* words that end a negator's scope ("but", "it's") */
    size_t n_stops;
    size_t negation_window;
    double phrase_word_floor; /* 0 = every word needs min_conf; see lexicon.h */
    entry_t *entries;
    size_t n_entries, cap_entries;
    first_t *by_first; /* entries by first matching-form word, then file order */
    phrase_t *benign;
    size_t n_benign;
    size_t max_tokens; /* longest entry, in matching-form words */
};

/* A word of the utterance in matching form: src is the heard word it came from. */
typedef struct htok {
    const char *w;
    size_t src;
} htok_t;

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
    free(p->ctok);
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

static void phrases_free(phrase_t *ps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        phrase_free(&ps[i]);
    free(ps);
}

void cw_lexicon_destroy(cw_lexicon_t **plx)
{
    if (!plx || !*plx)
        return;
    cw_lexicon_t *lx = *plx;
    free(lx->language);
    for (size_t i = 0; i < lx->n_forms; i++) {
        free(lx->forms[i].from);
        phrase_free(&lx->forms[i].to);
    }
    free(lx->forms);
    phrases_free(lx->negators, lx->n_negators);
    phrases_free(lx->stops, lx->n_stops);
    for (size_t i = 0; i < lx->n_entries; i++) {
        phrase_free(&lx->entries[i].ph);
        free(lx->entries[i].category);
    }
    free(lx->entries);
    free(lx->by_first);
    phrases_free(lx->benign, lx->n_benign);
    free(lx);
    *plx = NULL;
}

static int cmp_form(const void *a, const void *b)
{
    return strcmp(((const form_t *)a)->from, ((const form_t *)b)->from);
}

/* The form of lower-case word w, or NULL. */
static const form_t *find_form(const cw_lexicon_t *lx, const char *w)
{
    if (!lx->n_forms)
        return NULL;
    form_t key = {.from = (char *)w};
    return bsearch(&key, lx->forms, lx->n_forms, sizeof *lx->forms, cmp_form);
}

/* Fills p->ctok: p's words with the word forms applied. */
static int phrase_canon(const cw_lexicon_t *lx, phrase_t *p, cw_error_t *err)
{
    size_t n = 0;
    for (size_t k = 0; k < p->n_tok; k++) {
        const form_t *f = find_form(lx, p->tok[k]);
        n += f ? f->to.n_tok : 1;
    }
    p->ctok = calloc(n + 1, sizeof *p->ctok);
    if (!p->ctok)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory");
    p->n_ctok = 0;
    for (size_t k = 0; k < p->n_tok; k++) {
        const form_t *f = find_form(lx, p->tok[k]);
        if (!f)
            p->ctok[p->n_ctok++] = p->tok[k];
        for (size_t j = 0; f && j < f->to.n_tok; j++)
            p->ctok[p->n_ctok++] = f->to.tok[j];
    }
    return CW_OK;
}

/* One slot of a pattern: the literal text between groups, or a group's alternatives. */
typedef struct slot {
    const char *alt[PATTERN_ALTS_MAX];
    size_t alt_len[PATTERN_ALTS_MAX];
    size_t n_alt;
} slot_t;

/* Splits a group starting at *ps (just after its "(") into sl; leaves *ps after the group. */
static int parse_group(const char **ps, slot_t *sl, cw_error_t *err)
{
    const char *s = *ps, *a = s;
    for (;; s++) {
        if (!*s)
            return cw_error_set(err, CW_ERR_FORMAT, "unclosed \"(\"");
        if (*s == '(')
            return cw_error_set(err, CW_ERR_FORMAT, "groups must not nest");
        if (*s != '|' && *s != ')')
            continue;
        if (sl->n_alt == PATTERN_ALTS_MAX)
            return cw_error_set(err, CW_ERR_FORMAT, "more than %d alternatives in a group", PATTERN_ALTS_MAX);
        sl->alt[sl->n_alt] = a;
        sl->alt_len[sl->n_alt++] = (size_t)(s - a);
        a = s + 1;
        if (*s == ')')
            break;
    }
    s++;
    if (*s == '?') { /* optional: one more, empty, alternative */
        if (sl->n_alt == PATTERN_ALTS_MAX)
            return cw_error_set(err, CW_ERR_FORMAT, "more than %d alternatives in a group", PATTERN_ALTS_MAX);
        sl->alt[sl->n_alt] = s;
        sl->alt_len[sl->n_alt++] = 0;
        s++;
    }
    *ps = s;
    return CW_OK;
}

typedef int (*emit_fn)(void *ctx, const char *phrase, cw_error_t *err);

/* Calls emit with every plain phrase the pattern src stands for, in order
 * (first alternatives first). Slots are joined as written, so a group may
 * also be a word ending: "cancel(|ling)". */
static int expand_pattern(const char *src, emit_fn emit, void *ctx, cw_error_t *err)
{
    slot_t slots[PATTERN_SLOTS_MAX];
    size_t n_slots = 0, total = 1;
    for (const char *s = src; *s;) {
        if (n_slots == PATTERN_SLOTS_MAX)
            return cw_error_set(err, CW_ERR_FORMAT, "more than %d parts", PATTERN_SLOTS_MAX);
        slot_t *sl = &slots[n_slots++];
        sl->n_alt = 0;
        if (*s == '(') {
            s++;
            int rc = parse_group(&s, sl, err);
            if (rc != CW_OK)
                return rc;
        } else {
            const char *a = s;
            for (; *s && *s != '('; s++)
                if (*s == ')' || *s == '|' || *s == '?')
                    return cw_error_set(err, CW_ERR_FORMAT, "\"%c\" outside a group \"( | )\"", *s);
            sl->alt[0] = a;
            sl->alt_len[0] = (size_t)(s - a);
            sl->n_alt = 1;
        }
        total *= sl->n_alt;
        if (total > PATTERN_PHRASES_MAX)
            return cw_error_set(err, CW_ERR_FORMAT, "stands for more than %d phrases", PATTERN_PHRASES_MAX);
    }
    char *buf = malloc(strlen(src) + 1);
    if (!buf)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory");
    size_t pick[PATTERN_SLOTS_MAX] = {0};
    int rc = CW_OK;
    for (size_t n = 0; n < total && rc == CW_OK; n++) {
        size_t len = 0;
        for (size_t i = 0; i < n_slots; i++) {
            memcpy(buf + len, slots[i].alt[pick[i]], slots[i].alt_len[pick[i]]);
            len += slots[i].alt_len[pick[i]];
        }
        buf[len] = '\0';
        rc = emit(ctx, buf, err);
        for (size_t i = n_slots; i-- > 0;) { /* next combination, the last slot fastest */
            if (++pick[i] < slots[i].n_alt)
                break;
            pick[i] = 0;
        }
    }
    free(buf);
    return rc;
}

static bool is_pattern(const char *src)
{
    return strpbrk(src, "()|?") != NULL;
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

/* Copies src lower-cased with single spaces into buf, to name it in messages. */
static const char *squeeze(const char *src, char *buf, size_t cap)
{
    size_t n = 0;
    for (const char *s = src; *s && n + 1 < cap; s++) {
        if (*s == ' ' || *s == '\t') {
            if (n && buf[n - 1] != ' ' && s[1] && s[1] != ' ' && s[1] != '\t')
                buf[n++] = ' ';
            continue;
        }
        buf[n++] = lower_ascii(*s);
    }
    buf[n] = '\0';
    return buf;
}

/* The "phrase" string of item; NULL with err set. */
static const char *phrase_string(json_t *item, const char *path, const char *where, cw_error_t *err)
{
    json_t *jp = json_object_get(item, "phrase");
    if (!jp)
        cw_error_set(err, CW_ERR_FORMAT, "%s: %s: missing \"phrase\"", path, where);
    else if (!json_is_string(jp))
        cw_error_set(err, CW_ERR_FORMAT, "%s: %s: \"phrase\" must be a string", path, where);
    return json_is_string(jp) ? json_string_value(jp) : NULL;
}

/* Parses text into ph (wildcards allowed) in matching form. */
static int phrase_load(const cw_lexicon_t *lx, phrase_t *ph, const char *text, cw_error_t *err)
{
    int rc = phrase_parse(ph, text, true, err);
    if (rc == CW_OK && (rc = phrase_canon(lx, ph, err)) != CW_OK)
        phrase_free(ph);
    return rc;
}

/* What expanding one entry of the file needs. */
typedef struct entry_ctx {
    cw_lexicon_t *lx;
    const char *kind;
    const char *category;
    double weight;
    size_t src;
    bool pattern;
} entry_ctx_t;

static int emit_entry(void *vctx, const char *text, cw_error_t *err)
{
    entry_ctx_t *c = vctx;
    cw_lexicon_t *lx = c->lx;
    if (lx->n_entries == lx->cap_entries) {
        size_t cap = lx->cap_entries ? 2 * lx->cap_entries : 256;
        entry_t *grown = realloc(lx->entries, cap * sizeof *grown);
        if (!grown)
            return cw_error_set(err, CW_ERR_NOMEM, "out of memory");
        lx->entries = grown;
        lx->cap_entries = cap;
    }
    entry_t *e = &lx->entries[lx->n_entries];
    memset(e, 0, sizeof *e);
    int rc = phrase_load(lx, &e->ph, text, err);
    if (rc != CW_OK)
        return rc;
    for (size_t j = 0; j < lx->n_entries; j++) {
        if (strcmp(lx->entries[j].ph.text, e->ph.text) != 0)
            continue;
        size_t first = lx->entries[j].src;
        phrase_free(&e->ph);
        /* A pattern may restate a phrase listed before it; a plain duplicate is a slip. */
        return c->pattern ? CW_OK : cw_error_set(err, CW_ERR_FORMAT, "duplicate of entries[%zu]", first);
    }
    e->kind = c->kind;
    e->weight = c->weight;
    e->src = c->src;
    if (!(e->category = dup_str(c->category))) {
        phrase_free(&e->ph);
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory");
    }
    lx->n_entries++;
    if (e->ph.n_ctok > lx->max_tokens)
        lx->max_tokens = e->ph.n_ctok;
    return CW_OK;
}

/* Reads kind, category and weight of entry item into c; ph names it. */
static int entry_fields(json_t *item, entry_ctx_t *c, const char *path, const char *where, const char *ph,
                        cw_error_t *err)
{
    static const char *const keys[] = {"phrase", "kind", "category", "weight", NULL};
    char where_ph[224];
    snprintf(where_ph, sizeof where_ph, "%s \"%.100s\"", where, ph);
    int rc = check_keys(item, keys, path, where_ph, err);
    if (rc != CW_OK)
        return rc;
    json_t *jk = json_object_get(item, "kind");
    if (!jk)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: missing \"kind\"", path, where_ph);
    if (!json_is_string(jk))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: \"kind\" must be a string", path, where_ph);
    for (size_t k = 0; k < N_KINDS; k++)
        if (strcmp(json_string_value(jk), KINDS[k]) == 0)
            c->kind = KINDS[k];
    if (!c->kind)
        return cw_error_set(err, CW_ERR_FORMAT,
                            "%s: %s: unknown kind \"%s\" (expected \"anger\", \"despair\" or \"escalation\")", path,
                            where_ph, json_string_value(jk));
    json_t *jc = json_object_get(item, "category");
    if (!jc)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: missing \"category\"", path, where_ph);
    if (!json_is_string(jc) || json_string_length(jc) == 0)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: \"category\" must be a non-empty string", path, where_ph);
    c->category = json_string_value(jc);
    json_t *jw = json_object_get(item, "weight");
    if (!jw)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: missing \"weight\"", path, where_ph);
    if (!json_is_number(jw))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: \"weight\" must be a number", path, where_ph);
    c->weight = json_number_value(jw);
    if (!(c->weight >= 0.0 && c->weight <= 1.0))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: weight %g is outside 0..1", path, where_ph, c->weight);
    return CW_OK;
}

static int load_entry(cw_lexicon_t *lx, json_t *item, size_t idx, const char *path, cw_error_t *err)
{
    char where[64];
    snprintf(where, sizeof where, "entries[%zu]", idx);
    if (!json_is_object(item))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: must be an object", path, where);
    const char *text = phrase_string(item, path, where, err);
    if (!text)
        return err->code;
    char shown[112];
    squeeze(text, shown, sizeof shown);
    entry_ctx_t c = {.lx = lx, .src = idx, .pattern = is_pattern(text)};
    int rc = entry_fields(item, &c, path, where, shown, err);
    if (rc != CW_OK)
        return rc;
    rc = c.pattern ? expand_pattern(text, emit_entry, &c, err) : emit_entry(&c, text, err);
    if (rc != CW_OK)
        return cw_error_prefix(err, "%s: %s \"%s\"", path, where, shown);
    return CW_OK;
}

typedef struct benign_ctx {
    cw_lexicon_t *lx;
    size_t cap;
} benign_ctx_t;

static int emit_benign(void *vctx, const char *text, cw_error_t *err)
{
    benign_ctx_t *c = vctx;
    cw_lexicon_t *lx = c->lx;
    if (lx->n_benign == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        phrase_t *grown = realloc(lx->benign, cap * sizeof *grown);
        if (!grown)
            return cw_error_set(err, CW_ERR_NOMEM, "out of memory");
        lx->benign = grown;
        c->cap = cap;
    }
    int rc = phrase_load(lx, &lx->benign[lx->n_benign], text, err);
    if (rc == CW_OK)
        lx->n_benign++;
    return rc;
}

static int load_benign(cw_lexicon_t *lx, json_t *jb, const char *path, cw_error_t *err)
{
    static const char *const benign_keys[] = {"phrase", NULL};
    if (jb && !json_is_array(jb))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"benign\" must be an array", path);
    benign_ctx_t c = {.lx = lx};
    size_t i;
    json_t *item;
    json_array_foreach(jb, i, item) {
        char where[64];
        snprintf(where, sizeof where, "benign[%zu]", i);
        if (!json_is_object(item))
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: must be an object {\"phrase\": ...}", path, where);
        const char *text = phrase_string(item, path, where, err);
        if (!text)
            return err->code;
        int rc = is_pattern(text) ? expand_pattern(text, emit_benign, &c, err) : emit_benign(&c, text, err);
        if (rc != CW_OK)
            return cw_error_prefix(err, "%s: %s \"%s\"", path, where, text);
        rc = check_keys(item, benign_keys, path, where, err);
        if (rc != CW_OK)
            return rc;
    }
    return CW_OK;
}

/* One word for a word list or a word form's key; NULL when it is not. */
static bool single_word(const char *w)
{
    return w && *w && !strpbrk(w, " \t()|?") && strcmp(w, WILDCARD) != 0 && strlen(w) < CW_WORD_MAX;
}

/* Reads root[key], an array of single words, into phrases in matching form. */
static int read_words(cw_lexicon_t *lx, json_t *root, const char *key, bool required, phrase_t **words,
                      size_t *n_words, const char *path, cw_error_t *err)
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
        if (!single_word(w))
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s[%zu]: must be one word (no spaces, not \"*\")", path,
                                key, i);
        int rc = phrase_parse(&(*words)[*n_words], w, false, err);
        if (rc == CW_OK && (rc = phrase_canon(lx, &(*words)[*n_words], err)) != CW_OK)
            phrase_free(&(*words)[*n_words]);
        if (rc != CW_OK)
            return cw_error_prefix(err, "%s: %s[%zu]", path, key, i);
        (*n_words)++;
    }
    return CW_OK;
}

/* Reads "word_forms": {"what's": "what is", "calling": "call", ...}. */
static int read_forms(cw_lexicon_t *lx, json_t *root, const char *path, cw_error_t *err)
{
    json_t *obj = json_object_get(root, "word_forms");
    if (!obj)
        return CW_OK;
    if (!json_is_object(obj))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"word_forms\" must be an object {\"heard word\": \"words\"}",
                            path);
    lx->forms = calloc(json_object_size(obj) + 1, sizeof *lx->forms);
    if (!lx->forms)
        return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        form_t *f = &lx->forms[lx->n_forms];
        if (!single_word(key))
            return cw_error_set(err, CW_ERR_FORMAT, "%s: word_forms \"%s\": the heard form must be one word", path,
                                key);
        if (!json_is_string(val))
            return cw_error_set(err, CW_ERR_FORMAT, "%s: word_forms \"%s\": must map to a string of words", path,
                                key);
        int rc = phrase_parse(&f->to, json_string_value(val), false, err);
        if (rc != CW_OK)
            return cw_error_prefix(err, "%s: word_forms \"%s\"", path, key);
        if (!(f->from = dup_str(key))) {
            phrase_free(&f->to);
            return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
        }
        lx->n_forms++;
        for (char *c = f->from; *c; c++)
            *c = lower_ascii(*c);
        if (f->to.n_tok > FORM_WORDS_MAX)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: word_forms \"%s\": more than %d words", path, key,
                                FORM_WORDS_MAX);
        for (size_t j = 0; j + 1 < lx->n_forms; j++)
            if (strcmp(lx->forms[j].from, f->from) == 0)
                return cw_error_set(err, CW_ERR_FORMAT, "%s: word_forms \"%s\": listed twice", path, key);
    }
    qsort(lx->forms, lx->n_forms, sizeof *lx->forms, cmp_form);
    return CW_OK;
}

static int cmp_first(const void *a, const void *b)
{
    const first_t *fa = a, *fb = b;
    int c = strcmp(fa->word, fb->word);
    return c ? c : (fa->entry > fb->entry) - (fa->entry < fb->entry);
}

/* Builds by_first, so a position only tries the entries that start with its word. */
static int index_entries(cw_lexicon_t *lx, const char *path, cw_error_t *err)
{
    lx->by_first = malloc(lx->n_entries * sizeof *lx->by_first);
    if (!lx->by_first)
        return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < lx->n_entries; i++)
        lx->by_first[i] = (first_t){.word = lx->entries[i].ph.ctok[0], .entry = i};
    qsort(lx->by_first, lx->n_entries, sizeof *lx->by_first, cmp_first);
    return CW_OK;
}

static int load_doc(cw_lexicon_t *lx, json_t *root, const char *path, cw_error_t *err)
{
    static const char *const top_keys[] = {"language", "negators", "negation_window", "negation_stops",
                                            "phrase_word_floor", "word_forms", "entries", "benign", "comment", NULL};
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

    rc = read_forms(lx, root, path, err); /* first: everything below is read in matching form */
    if (rc == CW_OK)
        rc = read_words(lx, root, "negators", true, &lx->negators, &lx->n_negators, path, err);
    if (rc == CW_OK)
        rc = read_words(lx, root, "negation_stops", false, &lx->stops, &lx->n_stops, path, err);
    if (rc != CW_OK)
        return rc;

    json_t *jw = json_object_get(root, "negation_window");
    if (!json_is_integer(jw) || json_integer_value(jw) < 0)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"negation_window\" must be an integer >= 0 (words)", path);
    lx->negation_window = (size_t)json_integer_value(jw);
    json_t *jf = json_object_get(root, "phrase_word_floor");
    if (jf && !(json_is_number(jf) && json_number_value(jf) >= 0 && json_number_value(jf) <= 1))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"phrase_word_floor\" must be a number in 0..1", path);
    lx->phrase_word_floor = jf ? json_number_value(jf) : 0;

    size_t i;
    json_t *item;
    json_t *je = json_object_get(root, "entries");
    if (!json_is_array(je) || json_array_size(je) == 0)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: \"entries\" must be a non-empty array", path);
    json_array_foreach(je, i, item) {
        rc = load_entry(lx, item, i, path, err);
        if (rc != CW_OK)
            return rc;
    }
    rc = index_entries(lx, path, err);
    if (rc != CW_OK)
        return rc;
    return load_benign(lx, json_object_get(root, "benign"), path, err);
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

/* The heard words in matching form (word forms applied), into t (room for
 * n_words * FORM_WORDS_MAX). Returns the number of tokens. */
static size_t heard_tokens(const cw_lexicon_t *lx, const cw_word_t *words, size_t n_words, htok_t *t)
{
    size_t n = 0;
    for (size_t i = 0; i < n_words; i++) {
        char low[CW_WORD_MAX];
        size_t k = 0;
        for (; words[i].w[k] && k + 1 < sizeof low; k++)
            low[k] = lower_ascii(words[i].w[k]);
        low[k] = '\0';
        const form_t *f = find_form(lx, low);
        if (!f)
            t[n++] = (htok_t){.w = words[i].w, .src = i};
        for (size_t j = 0; f && j < f->to.n_tok; j++)
            t[n++] = (htok_t){.w = f->to.tok[j], .src = i};
    }
    return n;
}

/* Were the literal words of a phrase heard surely enough? Each at min_conf;
 * or, with the lexicon's phrase_word_floor, their geometric mean at min_conf
 * and each at the floor: the other words of a phrase vouch for one word the
 * recogniser was unsure of, as a single word cannot. */
static bool heard_surely(const cw_lexicon_t *lx, const phrase_t *ph, const htok_t *t, size_t at,
                         const cw_word_t *words, double min_conf)
{
    double floor = lx->phrase_word_floor > 0 && lx->phrase_word_floor < min_conf ? lx->phrase_word_floor : min_conf;
    double log_sum = 0;
    size_t n = 0;
    for (size_t k = 0; k < ph->n_ctok; k++) {
        if (strcmp(ph->ctok[k], WILDCARD) == 0)
            continue;
        double conf = words[t[at + k].src].conf;
        if (!(conf >= floor))
            return false;
        log_sum += log(conf);
        n++;
    }
    return n == 0 || exp(log_sum / (double)n) >= min_conf;
}

/* Does ph occur at tokens t[at ..]? With check_conf, its literal words must
 * have been heard surely enough (heard_surely). */
static bool phrase_at(const cw_lexicon_t *lx, const phrase_t *ph, const htok_t *t, size_t n_t, size_t at,
                      const cw_word_t *words, bool check_conf, double min_conf)
{
    if (ph->n_ctok > n_t - at)
        return false;
    for (size_t k = 0; k < ph->n_ctok; k++)
        if (strcmp(ph->ctok[k], WILDCARD) != 0 && !word_eq(t[at + k].w, ph->ctok[k]))
            return false;
    return !check_conf || heard_surely(lx, ph, t, at, words, min_conf);
}

/* Does one of the phrases end at token i? */
static bool phrase_ends_at(const phrase_t *ps, size_t n, const htok_t *t, size_t i)
{
    for (size_t p = 0; p < n; p++) {
        if (ps[p].n_ctok > i + 1)
            continue;
        size_t at = i + 1 - ps[p].n_ctok;
        bool eq = true;
        for (size_t k = 0; k < ps[p].n_ctok && eq; k++)
            eq = word_eq(t[at + k].w, ps[p].ctok[k]);
        if (eq)
            return true;
    }
    return false;
}

/* Is there a negator among the negation_window words before first, with no
 * stop word between it and the phrase? */
static bool negated(const cw_lexicon_t *lx, const htok_t *t, size_t first)
{
    size_t from = first > lx->negation_window ? first - lx->negation_window : 0;
    for (size_t i = first; i-- > from;) {
        if (phrase_ends_at(lx->negators, lx->n_negators, t, i))
            return true;
        if (phrase_ends_at(lx->stops, lx->n_stops, t, i))
            return false;
    }
    return false;
}

/* Does benign phrase ph occur at t[at ..]? With open_end, words not heard yet
 * may complete it: tokens running out before the phrase ends count as a match. */
static bool benign_at(const phrase_t *ph, const htok_t *t, size_t n_t, size_t at, bool open_end)
{
    for (size_t k = 0; k < ph->n_ctok; k++) {
        if (at + k >= n_t)
            return open_end;
        if (strcmp(ph->ctok[k], WILDCARD) != 0 && !word_eq(t[at + k].w, ph->ctok[k]))
            return false;
    }
    return true;
}

/* Is t[first .. first+n) inside an occurrence of a benign phrase? */
static bool in_benign(const cw_lexicon_t *lx, const htok_t *t, size_t n_t, size_t first, size_t n, bool open_end)
{
    for (size_t b = 0; b < lx->n_benign; b++) {
        const phrase_t *ph = &lx->benign[b];
        if (ph->n_ctok < n)
            continue;
        /* occurrence start j with j <= first and j + len >= first + n */
        size_t lo = first + n > ph->n_ctok ? first + n - ph->n_ctok : 0;
        for (size_t j = lo; j <= first; j++)
            if (benign_at(ph, t, n_t, j, open_end))
                return true;
    }
    return false;
}

/* Is entry e written exactly as the heard words t[at .. at+len) were said? */
static bool said_as_written(const entry_t *e, const htok_t *t, size_t at, size_t len, const cw_word_t *words)
{
    if (at > 0 && t[at - 1].src == t[at].src)
        return false;
    size_t first = t[at].src, n = t[at + len - 1].src - first + 1;
    if (e->ph.n_tok != n)
        return false;
    for (size_t k = 0; k < n; k++)
        if (strcmp(e->ph.tok[k], WILDCARD) != 0 && !word_eq(words[first + k].w, e->ph.tok[k]))
            return false;
    return true;
}

/* Is entry a a better pick than entry b at the same position and length? */
static bool better(const entry_t *a, bool a_as_said, const entry_t *b, bool b_as_said)
{
    if (a->weight != b->weight)
        return a->weight > b->weight;
    if (a->ph.n_wild != b->ph.n_wild)
        return a->ph.n_wild < b->ph.n_wild;
    return a_as_said && !b_as_said; /* equal: the earlier entry stays */
}

/* The entry to take at tokens t[i .. i+len), or NULL. */
static const entry_t *best_at(const cw_lexicon_t *lx, const htok_t *t, size_t n_t, size_t i, size_t len,
                              const cw_word_t *words, double min_conf)
{
    char low[CW_WORD_MAX];
    size_t k = 0;
    for (; t[i].w[k] && k + 1 < sizeof low; k++)
        low[k] = lower_ascii(t[i].w[k]);
    low[k] = '\0';
    /* the first entry whose first word is low: by_first is sorted by it */
    size_t lo = 0, hi = lx->n_entries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(lx->by_first[mid].word, low) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    const entry_t *best = NULL;
    bool best_as_said = false;
    for (size_t j = lo; j < lx->n_entries; j++) {
        if (strcmp(lx->by_first[j].word, low) != 0)
            break;
        const entry_t *en = &lx->entries[lx->by_first[j].entry];
        if (en->ph.n_ctok != len || !phrase_at(lx, &en->ph, t, n_t, i, words, true, min_conf))
            continue;
        bool as_said = said_as_written(en, t, i, len, words);
        if (!best || better(en, as_said, best, best_as_said)) {
            best = en;
            best_as_said = as_said;
        }
    }
    return best;
}

static size_t match_words(const cw_lexicon_t *lx, const cw_word_t *words, size_t n_words, double min_conf,
                          cw_cue_match_t *out, size_t cap, bool open_end)
{
    if (!lx || !words || !out || n_words == 0 || cap == 0)
        return 0;
    size_t room = n_words * FORM_WORDS_MAX;
    htok_t *t = malloc(room * sizeof *t);
    /* taken[i]: the entry taken at token i (NULL: none); used[i]: token i is covered. */
    const entry_t **taken = calloc(room, sizeof *taken);
    unsigned char *used = calloc(room, 1);
    if (!t || !taken || !used) {
        free(t);
        free(taken);
        free(used);
        return 0;
    }
    size_t n_t = heard_tokens(lx, words, n_words, t);
    for (size_t len = lx->max_tokens; len >= 1; len--) {
        for (size_t i = 0; i + len <= n_t; i++) {
            bool free_span = true;
            for (size_t k = i; k < i + len && free_span; k++)
                free_span = !used[k];
            if (!free_span)
                continue;
            taken[i] = best_at(lx, t, n_t, i, len, words, min_conf);
            if (taken[i])
                memset(used + i, 1, len);
        }
    }
    size_t n_out = 0;
    for (size_t i = 0; i < n_t && n_out < cap; i++) {
        const entry_t *en = taken[i];
        if (!en || negated(lx, t, i) || in_benign(lx, t, n_t, i, en->ph.n_ctok, open_end))
            continue;
        size_t first = t[i].src, n = t[i + en->ph.n_ctok - 1].src - first + 1;
        double conf = 0;
        for (size_t k = first; k < first + n; k++)
            conf += words[k].conf;
        cw_cue_match_t *m = &out[n_out++];
        m->kind = en->kind;
        m->category = en->category;
        m->phrase = en->ph.text;
        m->weight = en->weight;
        m->first_word = first;
        m->n_words = n;
        m->t_start = words[first].t_start;
        m->t_end = words[first + n - 1].t_end;
        m->conf = conf / (double)n;
    }
    free(t);
    free(taken);
    free(used);
    return n_out;
}

size_t cw_lexicon_match(const cw_lexicon_t *lx, const cw_word_t *words, size_t n_words, double min_conf,
                        cw_cue_match_t *out, size_t cap)
{
    return match_words(lx, words, n_words, min_conf, out, cap, false);
}

size_t cw_lexicon_match_open(const cw_lexicon_t *lx, const cw_word_t *words, size_t n_words, double min_conf,
                             cw_cue_match_t *out, size_t cap)
{
    return match_words(lx, words, n_words, min_conf, out, cap, true);
}
