/* test_redact.c - what a QA reader or a bus subscriber would see of a
 * transcript in which a customer reads out a card number: the digits are
 * masked (spoken, doubled, "oh", numerals, Chinese), short numbers and
 * ordinary words are left alone, times are kept, and bad data files are
 * refused with messages naming the file. */
#include "callwatch/redact.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char models[1024];

static cw_redactor_t *load(const char *words, int min_digits)
{
    char w[1200], p[1200];
    snprintf(w, sizeof w, "%s/%s", models, words);
    snprintf(p, sizeof p, "%s/redact-patterns.txt", models);
    cw_error_t err;
    cw_redactor_t *r = cw_redactor_load(w, p, min_digits, &err);
    CHECK(r != NULL, "load %s: %s", words, err.msg);
    return r;
}

/* Runs text (words split at spaces, 0.3 s each) through r; returns the
 * output text (static buffer) and checks the word times survived. */
static const char *run(cw_redactor_t *r, const char *text)
{
    static char out[4096];
    cw_word_t words[128];
    size_t n = 0;
    char buf[2048];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *t = strtok_r(buf, " ", &save); t && n < 128; t = strtok_r(NULL, " ", &save)) {
        memset(&words[n], 0, sizeof words[n]);
        snprintf(words[n].w, sizeof words[n].w, "%s", t);
        words[n].t_start = 0.3 * (double)n;
        words[n].t_end = 0.3 * (double)n + 0.25;
        words[n].conf = 0.9;
        n++;
    }
    cw_transcript_t tr = {.leg = 1, .final = true, .t_start = 0, .t_end = 0.3 * (double)n,
                          .text = text, .words = words, .n_words = n};
    const cw_transcript_t *res = cw_redact_apply(r, &tr);
    CHECK(res->n_words == n, "word count kept for '%s'", text);
    for (size_t i = 0; i < res->n_words && i < n; i++)
        CHECK(res->words[i].t_start == words[i].t_start && res->words[i].t_end == words[i].t_end,
              "times kept for word %zu of '%s'", i, text);
    snprintf(out, sizeof out, "%s", res->text);
    return out;
}

#define EXPECT(r, in, want)                                                                                    \
    do {                                                                                                       \
        const char *got_ = run(r, in);                                                                         \
        CHECK(strcmp(got_, want) == 0, "'%s' -> '%s', want '%s'", in, got_, want);                             \
    } while (0)

static void test_english(void)
{
    cw_redactor_t *r = load("redact-en.json", 6);
    if (!r)
        return;
    EXPECT(r, "my card is four five three two one one two two three three four four five five six six",
           "my card is [digits] [digits] [digits] [digits] [digits] [digits] [digits] [digits] [digits] [digits] "
           "[digits] [digits] [digits] [digits] [digits] [digits]");
    /* "double five" is two digits, "oh" a zero inside a run: 2+2+1+1 = 6. */
    EXPECT(r, "it is double five oh seven double two please",
           "it is [digits] [digits] [digits] [digits] [digits] [digits] please");
    /* Five digits stay (a short reference, a time): below min_digits. */
    EXPECT(r, "call me at one two three four five thanks", "call me at one two three four five thanks");
    EXPECT(r, "i waited for two hours to get an answer", "i waited for two hours to get an answer");
    /* "oh" alone or with few digits is an exclamation. */
    EXPECT(r, "oh no not again oh oh oh", "oh no not again oh oh oh");
    /* Numerals and patterns. */
    EXPECT(r, "number 4532-1122 ok", "number [digits] ok");
    /* Four numerals are below min_digits but the shipped pattern catches them. */
    EXPECT(r, "pin 4532 ok", "pin [redacted] ok");
    EXPECT(r, "mail me at jane@example.com now", "mail me at [redacted] now");
    EXPECT(r, "account 45321122 ok", "account [digits] ok");
    EXPECT(r, "four five three two sixteen", "[digits] [digits] [digits] [digits] [digits]");
    CHECK(cw_redactor_masked(r) > 20, "masked counted: %lu", cw_redactor_masked(r));

    /* A partial without words: its text is masked all the same. */
    cw_transcript_t partial = {.leg = 1, .final = false, .t_start = 1, .t_end = 2,
                               .text = "card four four five five six six seven", .words = NULL, .n_words = 0};
    const cw_transcript_t *res = cw_redact_apply(r, &partial);
    CHECK(strcmp(res->text, "card [digits] [digits] [digits] [digits] [digits] [digits] [digits]") == 0,
          "partial text: %s", res->text);
    CHECK(res->n_words == 0 && res->final == false, "partial stays a word-less partial");
    cw_redactor_destroy(&r);
    CHECK(r == NULL, "destroy NULLs");
    cw_redactor_destroy(&r);
}

static void test_default_four(void)
{
    cw_redactor_t *r = load("redact-en.json", 4);
    if (!r)
        return;
    /* Tens and units make one two-digit number: 2 + 1 would be 3. */
    EXPECT(r, "i waited forty five minutes", "i waited forty five minutes");
    EXPECT(r, "expiry zero nine two seven ok", "expiry [digits] [digits] [digits] [digits] ok");
    EXPECT(r, "it expires twenty twenty seven", "it expires [digits] [digits] [digits]");
    EXPECT(r, "pin is triple four one", "pin is [digits] [digits] [digits]");
    cw_redactor_destroy(&r);
}

static void test_chinese(void)
{
    cw_redactor_t *r = load("redact-zh.json", 6);
    if (!r)
        return;
    EXPECT(r, "我 的 卡号 是 四五三二 一一 二二", "我 的 卡号 是 [数字] [数字] [数字]");
    EXPECT(r, "六 二 二 八 四 八 八", "[数字] [数字] [数字] [数字] [数字] [数字] [数字]");
    EXPECT(r, "三 天 了", "三 天 了");
    cw_redactor_destroy(&r);
}

static void test_bad_files(void)
{
    char dir[] = "/tmp/cw-redact-XXXXXX";
    if (!mkdtemp(dir))
        return;
    char words[256], pats[256];
    snprintf(words, sizeof words, "%s/w.json", dir);
    snprintf(pats, sizeof pats, "%s/p.txt", dir);
    FILE *f = fopen(words, "w");
    fputs("{\"digits\": {\"one\": \"1\"}, \"colour\": 1}", f);
    fclose(f);
    cw_error_t err;
    cw_redactor_t *r = cw_redactor_load(words, NULL, 6, &err);
    CHECK(!r && strstr(err.msg, words) && strstr(err.msg, "colour"), "unknown key: %s", err.msg);
    f = fopen(words, "w");
    fputs("{\"digits\": {\"one\": \"x\"}}", f);
    fclose(f);
    r = cw_redactor_load(words, NULL, 6, &err);
    CHECK(!r && strstr(err.msg, "one"), "bad digit value: %s", err.msg);
    f = fopen(words, "w");
    fputs("{\"digits\": {\"one\": \"1\"}}", f);
    fclose(f);
    f = fopen(pats, "w");
    fputs("# comment\n\n^ok$\n([unclosed\n", f);
    fclose(f);
    r = cw_redactor_load(words, pats, 6, &err);
    CHECK(!r && strstr(err.msg, "p.txt:4") && strstr(err.msg, "([unclosed"), "bad regex: %s", err.msg);
    r = cw_redactor_load("/nonexistent/w.json", NULL, 6, &err);
    CHECK(!r && err.code == CW_ERR_NOT_FOUND && strstr(err.msg, "/nonexistent/w.json"), "missing: %s", err.msg);
    unlink(words);
    unlink(pats);
    rmdir(dir);
}

int main(void)
{
    snprintf(models, sizeof models, "%s", CALLWATCH_MODELS_DIR);
    test_english();
    test_default_four();
    test_chinese();
    test_bad_files();
    return check_summary("test_redact");
}
