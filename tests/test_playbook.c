/* test_playbook.c - the shipped playbooks cover every alert kind at every
 * severity in both languages, situations pick fitting prompts, and a broken
 * playbook is refused with the file and JSON path of the mistake. */
#include "callwatch/playbook.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

static const char *const SEVERITIES[] = {"info", "warning", "critical"};

static void test_shipped(const char *file, const char *lang)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CALLWATCH_MODELS_DIR, file);
    cw_error_t err;
    cw_error_clear(&err);
    cw_playbook_t *pb = cw_playbook_load(path, &err);
    CHECK(pb != NULL, "%s loads: %s", file, err.msg);
    if (!pb)
        return;
    CHECK(strcmp(cw_playbook_lang(pb), lang) == 0, "%s lang %s", file, cw_playbook_lang(pb));
    for (size_t k = 0; k < cw_playbook_n_kinds; k++)
        for (size_t s = 0; s < 3; s++) {
            size_t n = 0;
            const char *const *p = cw_playbook_prompts(pb, cw_playbook_kinds[k], SEVERITIES[s], NULL, &n);
            CHECK(p && n >= 1 && p[0][0], "%s: %s/%s has prompts", file, cw_playbook_kinds[k], SEVERITIES[s]);
        }
    /* What the brief asks of the playbook: don't make them repeat the story
     * when the customer says it is the third call. */
    size_t n = 0;
    const char *const *p = cw_playbook_prompts(pb, "despair", "warning", "repeat_contact", &n);
    CHECK(n == 1 && cw_playbook_has_situation(pb, "despair", "repeat_contact"), "%s: repeat_contact situation", file);
    if (n == 1 && strcmp(lang, "en") == 0)
        CHECK(strstr(p[0], "repeat") != NULL, "en repeat_contact prompt: %s", p[0]);
    if (n == 1 && strcmp(lang, "zh") == 0)
        CHECK(strstr(p[0], "重复") != NULL, "zh repeat_contact prompt: %s", p[0]);
    /* An unknown situation falls back to the severity's prompts. */
    const char *const *fb = cw_playbook_prompts(pb, "anger", "critical", "no-such-thing", &n);
    const char *const *crit = cw_playbook_prompts(pb, "anger", "critical", NULL, &n);
    CHECK(fb == crit && n >= 1, "unknown situation falls back to severity");
    CHECK(cw_playbook_prompts(pb, "boredom", "info", NULL, &n) == NULL && n == 0, "unknown kind: none");
    CHECK(cw_playbook_prompts(pb, "anger", "severe", NULL, &n) == NULL && n == 0, "unknown severity: none");
    cw_playbook_destroy(&pb);
    CHECK(pb == NULL, "destroy NULLs");
}

/* A minimal valid playbook with `extra` spliced into anger's object. */
static char *book(const char *lang, const char *anger_prompts, const char *extra_kind)
{
    static const char *const others[] = {"despair", "escalation", "flat_affect", "talk_over", "dead_air"};
    char *s = malloc(8192);
    int n = snprintf(s, 8192, "{\"lang\":\"%s\",\"kinds\":{\"anger\":{\"prompts\":%s}", lang, anger_prompts);
    for (size_t i = 0; i < 5; i++)
        n += snprintf(s + n, 8192 - (size_t)n,
                      ",\"%s\":{\"prompts\":{\"info\":[\"i\"],\"warning\":[\"w\"],\"critical\":[\"c\"]}}", others[i]);
    n += snprintf(s + n, 8192 - (size_t)n, "%s}}", extra_kind ? extra_kind : "");
    return s;
}

static void expect_error(const char *text, const char *want, const char *what)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_playbook_t *pb = cw_playbook_load_string(text, "pb.json", &err);
    CHECK(pb == NULL, "%s: refused", what);
    CHECK(strstr(err.msg, want) != NULL && strstr(err.msg, "pb.json") != NULL, "%s: message '%s' names '%s'", what,
          err.msg, want);
    cw_playbook_destroy(&pb);
}

static void test_errors(void)
{
    const char *good = "{\"info\":[\"i\"],\"warning\":[\"w\"],\"critical\":[\"c\"]}";
    char *s = book("en", good, NULL);
    cw_error_t err;
    cw_playbook_t *pb = cw_playbook_load_string(s, "pb.json", &err);
    CHECK(pb != NULL, "minimal playbook loads: %s", err.msg);
    cw_playbook_destroy(&pb);
    free(s);

    s = book("en", "{\"info\":[\"i\"],\"warning\":[\"w\",3],\"critical\":[\"c\"]}", NULL);
    expect_error(s, "$.kinds.anger.prompts.warning[1]: not a string", "number prompt");
    free(s);
    s = book("en", "{\"info\":[\"i\"],\"warning\":[],\"critical\":[\"c\"]}", NULL);
    expect_error(s, "$.kinds.anger.prompts.warning: no prompts", "empty list");
    free(s);
    s = book("en", "{\"info\":[\"i\"],\"critical\":[\"c\"]}", NULL);
    expect_error(s, "$.kinds.anger.prompts.warning: missing", "missing severity");
    free(s);
    s = book("en", "{\"info\":[\"two\\nlines\"],\"warning\":[\"w\"],\"critical\":[\"c\"]}", NULL);
    expect_error(s, "$.kinds.anger.prompts.info[0]: prompt has a control character", "newline in prompt");
    free(s);
    s = book("fr", good, NULL);
    expect_error(s, "$.lang", "unsupported language");
    free(s);
    s = book("en", good, ",\"boredom\":{}");
    expect_error(s, "$.kinds.boredom: unknown alert kind", "unknown kind");
    free(s);
    expect_error("{\"lang\":\"en\",\"kinds\":{}}", "$.kinds.anger: missing", "kind missing");
    expect_error("{\"lang\":\"en\",\"kinds\":", "pb.json:1:", "truncated JSON");
    expect_error("[1,2]", "$: not a JSON object", "array root");

    char long_prompt[400];
    memset(long_prompt, 'x', sizeof long_prompt);
    long_prompt[sizeof long_prompt - 1] = '\0';
    char anger[600];
    snprintf(anger, sizeof anger, "{\"info\":[\"%s\"],\"warning\":[\"w\"],\"critical\":[\"c\"]}", long_prompt);
    s = book("en", anger, NULL);
    expect_error(s, "more than 240", "over-long prompt");
    free(s);

    cw_error_clear(&err);
    CHECK(cw_playbook_load("/nonexistent/pb.json", &err) == NULL && strstr(err.msg, "/nonexistent/pb.json"),
          "missing file named: %s", err.msg);
}

int main(void)
{
    test_shipped("playbook-en.json", "en");
    test_shipped("playbook-zh.json", "zh");
    test_errors();
    return check_summary("playbook");
}
