/* playbook.c - see callwatch/playbook.h */
#include "callwatch/playbook.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cw_playbook_kinds[] = {"anger", "despair", "escalation", "flat_affect", "talk_over", "dead_air"};
const size_t cw_playbook_n_kinds = sizeof cw_playbook_kinds / sizeof cw_playbook_kinds[0];

static const char *const SEVERITIES[] = {"info", "warning", "critical"};
#define N_SEVERITIES (sizeof SEVERITIES / sizeof SEVERITIES[0])
#define N_KINDS (sizeof cw_playbook_kinds / sizeof cw_playbook_kinds[0])

/* A JSON path in messages: "$.kinds.anger.prompts.warning[1]". */
#define PATH_MAX_LEN 256

typedef struct prompt_list {
    char **prompts;
    size_t n;
} prompt_list_t;

typedef struct situation {
    char *name;
    prompt_list_t list;
} situation_t;

typedef struct kind_book {
    prompt_list_t by_severity[N_SEVERITIES];
    int priority;    /* CW_PLAYBOOK_PRIORITY_MIN..MAX; 0 when the file has none */
    bool compliance;
    situation_t *situations;
    size_t n_situations;
} kind_book_t;

struct cw_playbook {
    char lang[8];
    kind_book_t kinds[N_KINDS];
};

static void list_free(prompt_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->prompts[i]);
    free(l->prompts);
    l->prompts = NULL;
    l->n = 0;
}

void cw_playbook_destroy(cw_playbook_t **pbp)
{
    if (!pbp || !*pbp)
        return;
    cw_playbook_t *pb = *pbp;
    for (size_t k = 0; k < N_KINDS; k++) {
        kind_book_t *kb = &pb->kinds[k];
        for (size_t s = 0; s < N_SEVERITIES; s++)
            list_free(&kb->by_severity[s]);
        for (size_t i = 0; i < kb->n_situations; i++) {
            free(kb->situations[i].name);
            list_free(&kb->situations[i].list);
        }
        free(kb->situations);
    }
    free(pb);
    *pbp = NULL;
}

static int index_of(const char *const *names, size_t n, const char *name)
{
    if (!name)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

/* Why a prompt text is not acceptable, or NULL. */
static const char *prompt_problem(const char *s, size_t len)
{
    if (len == 0)
        return "empty prompt";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return "prompt has a control character (one line, no tabs or newlines)";
    return NULL;
}

static int load_list(prompt_list_t *out, json_t *arr, const char *origin, const char *path, cw_error_t *err)
{
    if (!json_is_array(arr))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: not an array of prompts", origin, path);
    size_t n = json_array_size(arr);
    if (n == 0)
        return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: no prompts (needs at least one)", origin, path);
    out->prompts = calloc(n, sizeof *out->prompts);
    if (!out->prompts)
        return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", origin);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(arr, i);
        if (!json_is_string(s))
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s[%zu]: not a string", origin, path, i);
        if (json_string_length(s) > CW_PROMPT_MAX)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s[%zu]: prompt of %zu bytes, more than %d (one short line)",
                                origin, path, i, json_string_length(s), CW_PROMPT_MAX);
        const char *why = prompt_problem(json_string_value(s), json_string_length(s));
        if (why)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s[%zu]: %s", origin, path, i, why);
        out->prompts[i] = strdup(json_string_value(s));
        if (!out->prompts[i])
            return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", origin);
        out->n = i + 1;
    }
    return CW_OK;
}

static int load_kind(kind_book_t *kb, const char *kind, json_t *obj, const char *origin, cw_error_t *err)
{
    char path[PATH_MAX_LEN];
    if (!json_is_object(obj))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: $.kinds.%s: not an object", origin, kind);
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        if (strcmp(key, "prompts") != 0 && strcmp(key, "situations") != 0 && strcmp(key, "priority") != 0 &&
            strcmp(key, "compliance") != 0)
            return cw_error_set(err, CW_ERR_FORMAT,
                                "%s: $.kinds.%s.%s: unknown key (expected prompts, situations, priority, compliance)",
                                origin, kind, key);
    }
    json_t *prio = json_object_get(obj, "priority");
    if (prio && (!json_is_integer(prio) || json_integer_value(prio) < CW_PLAYBOOK_PRIORITY_MIN ||
                 json_integer_value(prio) > CW_PLAYBOOK_PRIORITY_MAX))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: $.kinds.%s.priority: not an integer from %d to %d", origin, kind,
                            CW_PLAYBOOK_PRIORITY_MIN, CW_PLAYBOOK_PRIORITY_MAX);
    kb->priority = prio ? (int)json_integer_value(prio) : 0;
    json_t *comp = json_object_get(obj, "compliance");
    if (comp && !json_is_boolean(comp))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: $.kinds.%s.compliance: not true or false", origin, kind);
    kb->compliance = comp && json_is_true(comp);
    json_t *prompts = json_object_get(obj, "prompts");
    if (!json_is_object(prompts))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: $.kinds.%s.prompts: missing or not an object", origin, kind);
    json_object_foreach(prompts, key, val) {
        if (index_of(SEVERITIES, N_SEVERITIES, key) < 0)
            return cw_error_set(err, CW_ERR_FORMAT,
                                "%s: $.kinds.%s.prompts.%s: unknown severity (expected info, warning, critical)",
                                origin, kind, key);
    }
    for (size_t s = 0; s < N_SEVERITIES; s++) {
        snprintf(path, sizeof path, "$.kinds.%s.prompts.%s", kind, SEVERITIES[s]);
        json_t *arr = json_object_get(prompts, SEVERITIES[s]);
        if (!arr)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: missing", origin, path);
        int rc = load_list(&kb->by_severity[s], arr, origin, path, err);
        if (rc != CW_OK)
            return rc;
    }
    json_t *sits = json_object_get(obj, "situations");
    if (!sits)
        return CW_OK;
    if (!json_is_object(sits))
        return cw_error_set(err, CW_ERR_FORMAT, "%s: $.kinds.%s.situations: not an object", origin, kind);
    kb->situations = calloc(json_object_size(sits) + 1, sizeof *kb->situations);
    if (!kb->situations)
        return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", origin);
    json_object_foreach(sits, key, val) {
        snprintf(path, sizeof path, "$.kinds.%s.situations.%s", kind, key);
        if (key[0] == '\0')
            return cw_error_set(err, CW_ERR_FORMAT, "%s: %s: empty situation name", origin, path);
        situation_t *st = &kb->situations[kb->n_situations];
        st->name = strdup(key);
        if (!st->name)
            return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", origin);
        kb->n_situations++;
        int rc = load_list(&st->list, val, origin, path, err);
        if (rc != CW_OK)
            return rc;
    }
    return CW_OK;
}

static cw_playbook_t *load_root(json_t *root, const char *origin, cw_error_t *err)
{
    cw_playbook_t *pb = NULL;
    if (!json_is_object(root)) {
        cw_error_set(err, CW_ERR_FORMAT, "%s: $: not a JSON object", origin);
        goto error_out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "lang") != 0 && strcmp(key, "kinds") != 0 && strcmp(key, "about") != 0) {
            cw_error_set(err, CW_ERR_FORMAT, "%s: $.%s: unknown key (expected lang, kinds, about)", origin, key);
            goto error_out;
        }
    }
    pb = calloc(1, sizeof *pb);
    if (!pb) {
        cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", origin);
        goto error_out;
    }
    const char *lang = json_string_value(json_object_get(root, "lang"));
    if (!lang || (strcmp(lang, "en") != 0 && strcmp(lang, "zh") != 0)) {
        cw_error_set(err, CW_ERR_FORMAT, "%s: $.lang: missing or not \"en\" or \"zh\"", origin);
        goto error_out;
    }
    snprintf(pb->lang, sizeof pb->lang, "%s", lang);
    json_t *kinds = json_object_get(root, "kinds");
    if (!json_is_object(kinds)) {
        cw_error_set(err, CW_ERR_FORMAT, "%s: $.kinds: missing or not an object", origin);
        goto error_out;
    }
    json_object_foreach(kinds, key, val) {
        if (index_of(cw_playbook_kinds, N_KINDS, key) < 0) {
            cw_error_set(err, CW_ERR_FORMAT,
                         "%s: $.kinds.%s: unknown alert kind (expected anger, despair, escalation, flat_affect, "
                         "talk_over, dead_air)",
                         origin, key);
            goto error_out;
        }
    }
    for (size_t k = 0; k < N_KINDS; k++) {
        json_t *kobj = json_object_get(kinds, cw_playbook_kinds[k]);
        if (!kobj) {
            cw_error_set(err, CW_ERR_FORMAT, "%s: $.kinds.%s: missing (every alert kind needs prompts)", origin,
                         cw_playbook_kinds[k]);
            goto error_out;
        }
        if (load_kind(&pb->kinds[k], cw_playbook_kinds[k], kobj, origin, err) != CW_OK)
            goto error_out;
    }
    json_decref(root);
    return pb;

error_out:
    json_decref(root);
    cw_playbook_destroy(&pb);
    return NULL;
}

cw_playbook_t *cw_playbook_load(const char *path, cw_error_t *err)
{
    if (!path) {
        cw_error_set(err, CW_ERR_INVALID, "playbook: no path");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        cw_error_set(err, jerr.line < 0 ? CW_ERR_IO : CW_ERR_FORMAT, "%s:%d:%d: %s", path, jerr.line, jerr.column,
                     jerr.text);
        return NULL;
    }
    return load_root(root, path, err);
}

cw_playbook_t *cw_playbook_load_string(const char *text, const char *origin, cw_error_t *err)
{
    if (!text) {
        cw_error_set(err, CW_ERR_INVALID, "playbook: no text");
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        cw_error_set(err, CW_ERR_FORMAT, "%s:%d:%d: %s", origin, jerr.line, jerr.column, jerr.text);
        return NULL;
    }
    return load_root(root, origin, err);
}

const char *cw_playbook_lang(const cw_playbook_t *pb)
{
    return pb->lang;
}

static const situation_t *find_situation(const kind_book_t *kb, const char *situation)
{
    if (!situation)
        return NULL;
    for (size_t i = 0; i < kb->n_situations; i++)
        if (strcmp(kb->situations[i].name, situation) == 0)
            return &kb->situations[i];
    return NULL;
}

int cw_playbook_has_situation(const cw_playbook_t *pb, const char *kind, const char *situation)
{
    int k = index_of(cw_playbook_kinds, N_KINDS, kind);
    return k >= 0 && find_situation(&pb->kinds[k], situation) != NULL;
}

const char *const *cw_playbook_prompts(const cw_playbook_t *pb, const char *kind, const char *severity,
                                       const char *situation, size_t *n)
{
    *n = 0;
    int k = index_of(cw_playbook_kinds, N_KINDS, kind);
    int s = index_of(SEVERITIES, N_SEVERITIES, severity);
    if (k < 0 || s < 0)
        return NULL;
    const kind_book_t *kb = &pb->kinds[k];
    const situation_t *st = find_situation(kb, situation);
    const prompt_list_t *l = st ? &st->list : &kb->by_severity[s];
    *n = l->n;
    return (const char *const *)l->prompts;
}

int cw_playbook_priority(const cw_playbook_t *pb, const char *kind)
{
    int k = index_of(cw_playbook_kinds, N_KINDS, kind);
    return k >= 0 ? pb->kinds[k].priority : 0;
}

int cw_playbook_is_compliance(const cw_playbook_t *pb, const char *kind)
{
    int k = index_of(cw_playbook_kinds, N_KINDS, kind);
    return k >= 0 && pb->kinds[k].compliance;
}
