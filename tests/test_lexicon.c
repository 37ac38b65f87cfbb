/* test_lexicon.c - the cue lexicon: loading, validation, matching rules, and
 * that every word of the shipped lexicon can be recognised (is in cmudict). */
#include "callwatch/lexicon.h"

#include "check.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef CALLWATCH_MODELS_DIR
#define CALLWATCH_MODELS_DIR "models"
#endif

#define CMUDICT_PATH "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict"
#define MAX_WORDS 64
#define MAX_MATCHES 16
#define MIN_CONF 0.5
#define HIGH_CONF 0.9
#define LOW_CONF 0.2
#define WORD_STEP 0.5 /* seconds from one word's start to the next */
#define WORD_DUR 0.4
#define EPS 1e-9

static cw_lexicon_t *lex;

/* Splits sentence into words at WORD_STEP intervals, all with conf HIGH_CONF. */
static size_t make_words(const char *sentence, cw_word_t *w, size_t cap)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", sentence);
    size_t n = 0;
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok && n < cap; tok = strtok_r(NULL, " ", &save)) {
        memset(&w[n], 0, sizeof w[n]);
        snprintf(w[n].w, sizeof w[n].w, "%s", tok);
        w[n].t_start = (double)n * WORD_STEP;
        w[n].t_end = w[n].t_start + WORD_DUR;
        w[n].conf = HIGH_CONF;
        n++;
    }
    return n;
}

static size_t match_sentence(const char *sentence, cw_cue_match_t *m)
{
    cw_word_t w[MAX_WORDS];
    size_t n = make_words(sentence, w, MAX_WORDS);
    return cw_lexicon_match(lex, w, n, MIN_CONF, m, MAX_MATCHES);
}

/* Expects exactly one match of phrase/kind/category at word first. */
static void expect_one(const char *sentence, const char *phrase, const char *kind, const char *category,
                       size_t first)
{
    cw_cue_match_t m[MAX_MATCHES];
    size_t n = match_sentence(sentence, m);
    CHECK(n == 1, "\"%s\": %zu matches, expected 1 (%s)", sentence, n, n ? m[0].phrase : "-");
    if (n < 1)
        return;
    CHECK(strcmp(m[0].phrase, phrase) == 0, "\"%s\": phrase \"%s\", expected \"%s\"", sentence, m[0].phrase,
          phrase);
    CHECK(strcmp(m[0].kind, kind) == 0, "\"%s\": kind %s, expected %s", sentence, m[0].kind, kind);
    if (category)
        CHECK(strcmp(m[0].category, category) == 0, "\"%s\": category %s, expected %s", sentence, m[0].category,
              category);
    CHECK(m[0].first_word == first, "\"%s\": first_word %zu, expected %zu", sentence, m[0].first_word, first);
    size_t nw = 1;
    for (const char *c = phrase; *c; c++)
        nw += *c == ' ';
    CHECK(m[0].n_words == nw, "\"%s\": n_words %zu, expected %zu", sentence, m[0].n_words, nw);
    CHECK(fabs(m[0].t_start - (double)first * WORD_STEP) < EPS, "\"%s\": t_start %g", sentence, m[0].t_start);
    CHECK(fabs(m[0].t_end - ((double)(first + nw - 1) * WORD_STEP + WORD_DUR)) < EPS, "\"%s\": t_end %g", sentence,
          m[0].t_end);
    CHECK(fabs(m[0].conf - HIGH_CONF) < EPS, "\"%s\": conf %g", sentence, m[0].conf);
    CHECK(m[0].weight > 0 && m[0].weight <= 1, "\"%s\": weight %g", sentence, m[0].weight);
}

static void expect_none(const char *sentence)
{
    cw_cue_match_t m[MAX_MATCHES];
    size_t n = match_sentence(sentence, m);
    CHECK(n == 0, "\"%s\": %zu matches, expected none (first: \"%s\")", sentence, n, n ? m[0].phrase : "-");
}

static void test_shipped_loads(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    lex = cw_lexicon_load(CALLWATCH_MODELS_DIR "/cues-en.json", &err);
    CHECK(lex != NULL, "shipped lexicon: %s", err.msg);
    CHECK(cw_lexicon_size(lex) >= 100, "shipped lexicon has %zu entries", cw_lexicon_size(lex));
    CHECK(cw_lexicon_size(NULL) == 0, "size of NULL");
}

static void test_kinds(void)
{
    /* anger */
    expect_one("this is ridiculous", "this is ridiculous", "anger", "outrage", 0);
    expect_one("honestly that is unacceptable", "that is unacceptable", "anger", NULL, 1);
    expect_one("she lied to me", "lied to me", "anger", "deceived", 1); /* longer than "lied" */
    expect_one("you lied to me", "you lied to me", "anger", "deceived", 0);
    expect_one("this is not fair", "not fair", "anger", "unfair", 2);   /* negator inside the phrase */
    expect_one("i am so fed up", "fed up", "anger", "fed_up", 3);
    /* despair */
    expect_one("i give up", "i give up", "despair", "hopeless", 0);
    expect_one("what's the point", "what's the point", "despair", "hopeless", 0);
    expect_one("i can't take this anymore", "i can't take this anymore", "despair", "hopeless", 0);
    expect_one("this is the third time i'm calling", "third time i'm calling", "despair", "repeat_contact", 3);
    expect_one("we called five times", "called five times", "despair", "repeat_contact", 1);
    expect_one("we called seven times", "called * times", "despair", "repeat_contact", 1); /* wildcard */
    /* escalation */
    expect_one("can we speak to your manager", "speak to your manager", "escalation", "manager", 2);
    expect_one("i want to speak to your manager", "want to speak to your manager", "escalation", "manager", 1);
    expect_one("i want your supervisor now", "i want your supervisor", "escalation", "manager", 0);
    expect_one("we will take legal action", "take legal action", "escalation", "lawyer", 2);
    expect_one("i am going to cancel my account", "cancel my account", "escalation", "cancel", 4);
    expect_one("i will post it online", "post it online", "escalation", "media", 2);

    /* several matches, in word order */
    cw_cue_match_t m[MAX_MATCHES];
    size_t n = match_sentence("you people are useless i will report you to the ombudsman", m);
    CHECK(n == 3, "three matches, got %zu", n);
    if (n == 3) {
        CHECK(strcmp(m[0].phrase, "you people") == 0 && m[0].first_word == 0, "m0 %s", m[0].phrase);
        CHECK(strcmp(m[1].phrase, "useless") == 0 && m[1].first_word == 3, "m1 %s", m[1].phrase);
        CHECK(strcmp(m[2].phrase, "report you to the ombudsman") == 0 && strcmp(m[2].category, "regulator") == 0 &&
                  m[2].first_word == 6,
              "m2 %s (longest wins)", m[2].phrase);
        for (size_t i = 1; i < n; i++)
            CHECK(m[i].first_word >= m[i - 1].first_word + m[i - 1].n_words, "ordered, no overlap at %zu", i);
    }
    /* cap keeps the earliest */
    n = cw_lexicon_match(lex, NULL, 0, MIN_CONF, m, MAX_MATCHES);
    CHECK(n == 0, "no words");
    cw_word_t w[MAX_WORDS];
    size_t nw = make_words("you people are useless i will report you to the ombudsman", w, MAX_WORDS);
    n = cw_lexicon_match(lex, w, nw, MIN_CONF, m, 2);
    CHECK(n == 2 && m[0].first_word == 0 && m[1].first_word == 3, "cap 2: %zu matches", n);
    CHECK(cw_lexicon_match(NULL, w, nw, MIN_CONF, m, 2) == 0, "NULL lexicon");
    CHECK(cw_lexicon_match(lex, w, nw, MIN_CONF, NULL, 0) == 0, "no room");

    /* case-insensitive */
    expect_one("This Is RIDICULOUS", "this is ridiculous", "anger", NULL, 0);
}

static void test_suppression(void)
{
    /* negation */
    expect_none("i'm not angry");
    expect_none("this is not ridiculous");
    expect_none("i won't sue you");
    expect_none("i am not going to sue you"); /* negator three words before */
    expect_none("i never said you lied to me");
    expect_one("i don't know why but this is ridiculous", "this is ridiculous", "anger", NULL, 5); /* too far */
    expect_one("it doesn't work it's useless", "useless", "anger", "insult", 4); /* "it's" ends the scope */
    expect_one("i'm not joking at all i'm gonna sue", "gonna sue", "escalation", "lawyer", 6); /* out of the window */
    /* benign contexts */
    expect_none("my manager at work said it was fine");
    expect_none("we met at the food court");
    expect_none("i got a scam call yesterday");
    expect_none("i need to cancel my order");
    /* but the same words in a threatening context fire */
    expect_one("i want your manager", "i want your manager", "escalation", "manager", 0);
    expect_one("see you in court", "see you in court", "escalation", "lawyer", 0);
    expect_none("");
}

/* Does m[0..n) hold a match of phrase? */
static bool has_phrase(const cw_cue_match_t *m, size_t n, const char *phrase)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].phrase, phrase) == 0)
            return true;
    return false;
}

/* The bundled sample call's last customer sentence: a negator that ends an
 * earlier clause ("i will not hold again") must not suppress the request that
 * follows it ("i want to speak to your manager"), neither in the partial
 * hypotheses that grow into the sentence nor in its final. */
static void test_negation_earlier_clause(void)
{
    static const char sentence[] = "no i will not hold again i want to speak to your manager right now if this is "
                                   "not fixed today i will cancel my account and report you to the regulator";
    cw_word_t w[MAX_WORDS];
    cw_cue_match_t m[MAX_MATCHES];
    size_t nw = make_words(sentence, w, MAX_WORDS);
    size_t n = cw_lexicon_match(lex, w, nw, MIN_CONF, m, MAX_MATCHES);
    CHECK(n >= 3 && strcmp(m[0].category, "manager") == 0 && strcmp(m[0].kind, "escalation") == 0,
          "final: the manager request is the first escalation (%zu matches, first %s)", n, n ? m[0].phrase : "-");
    CHECK(n >= 1 && strstr(m[0].phrase, "manager") != NULL && m[0].first_word <= 9 && m[0].first_word >= 7,
          "final: the match is the request after \"again\" (%s at word %zu)", n ? m[0].phrase : "-",
          n ? m[0].first_word : 0);
    CHECK(has_phrase(m, n, "cancel my account"), "final: \"cancel my account\" still found");
    /* partials: from "... your manager right" on, the request is offered */
    for (size_t k = 13; k < nw; k++) {
        n = cw_lexicon_match_open(lex, w, k, MIN_CONF, m, MAX_MATCHES);
        CHECK(n >= 1 && strcmp(m[0].category, "manager") == 0, "partial of %zu words: manager request (%zu, %s)", k,
              n, n ? m[0].phrase : "-");
    }
    /* the negation of the request itself still holds */
    expect_none("no i will not hold i don't want to speak to your manager");
    expect_none("i don't think i want to speak to your manager");
    expect_none("there is no need to speak to a manager");
}

static void test_confidence(void)
{
    cw_word_t w[MAX_WORDS];
    cw_cue_match_t m[MAX_MATCHES];
    /* A one-word phrase needs its word at min_conf. */
    size_t nw = make_words("ridiculous", w, MAX_WORDS);
    w[0].conf = LOW_CONF;
    size_t n = cw_lexicon_match(lex, w, nw, MIN_CONF, m, MAX_MATCHES);
    CHECK(n == 0, "low-confidence one-word cue does not match (%zu)", n);
    n = cw_lexicon_match(lex, w, nw, LOW_CONF, m, MAX_MATCHES);
    CHECK(n == 1, "matches when min_conf allows it (%zu)", n);
    /* In a phrase the other words vouch for an unsure one (phrase_word_floor
     * 0.1 in cues-en.json): geometric mean 0.55 >= 0.5, every word >= 0.1. */
    nw = make_words("this is ridiculous", w, MAX_WORDS);
    w[2].conf = LOW_CONF;
    n = cw_lexicon_match(lex, w, nw, MIN_CONF, m, MAX_MATCHES);
    CHECK(n == 1 && strcmp(m[0].phrase, "this is ridiculous") == 0,
          "a phrase with one unsure word matches whole (%zu)", n);
    if (n == 1) {
        double mean = (HIGH_CONF + HIGH_CONF + LOW_CONF) / 3.0;
        CHECK(fabs(m[0].conf - mean) < EPS, "mean conf %g, expected %g", m[0].conf, mean);
    }
    w[1].conf = LOW_CONF;
    n = cw_lexicon_match(lex, w, nw, MIN_CONF, m, MAX_MATCHES);
    CHECK(n == 0, "two unsure words of three: geometric mean 0.34 < 0.5, no match (%zu)", n);
    /* A word below the floor is not vouched for: the phrase falls back to
     * its confident part. */
    w[1].conf = HIGH_CONF;
    w[2].conf = HIGH_CONF;
    w[0].conf = 0.05;
    n = cw_lexicon_match(lex, w, nw, MIN_CONF, m, MAX_MATCHES);
    CHECK(n == 1 && strcmp(m[0].phrase, "ridiculous") == 0 && m[0].first_word == 2,
          "the longer phrase falls back to the confident part (%zu)", n);
    /* a wildcard word may be unsure: "called * times" */
    nw = make_words("i called seven times", w, MAX_WORDS);
    w[2].conf = LOW_CONF;
    n = cw_lexicon_match(lex, w, nw, MIN_CONF, m, MAX_MATCHES);
    CHECK(n == 1 && strcmp(m[0].phrase, "called * times") == 0, "wildcard ignores confidence (%zu)", n);
}

/* Expects at least one match of kind (and category when not NULL), none of another kind. */
static void expect_kind(const char *sentence, const char *kind, const char *category)
{
    cw_cue_match_t m[MAX_MATCHES];
    size_t n = match_sentence(sentence, m);
    bool found = false;
    for (size_t i = 0; i < n; i++) {
        CHECK(strcmp(m[i].kind, kind) == 0, "\"%s\": also matched %s \"%s\"", sentence, m[i].kind, m[i].phrase);
        found |= strcmp(m[i].kind, kind) == 0 && (!category || strcmp(m[i].category, category) == 0);
    }
    CHECK(found, "\"%s\": no %s%s%s match (%zu matches%s%s)", sentence, kind, category ? "/" : "",
          category ? category : "", n, n ? ", first " : "", n ? m[0].phrase : "");
}

/* Each cue family said several ways: contractions and their expansions,
 * colloquial forms, inflections, and the paraphrases a pattern lists. */
static void test_families(void)
{
    static const struct {
        const char *kind, *category, *sentences[8];
    } families[] = {
        {"despair", "hopeless",
         {"i just gave up what is the point of calling", "i give up", "i gave up", "i am giving up on this",
          "i've given up", "what's the point of trying any more", "what is the point in calling",
          "what the point of trying anymore"}}, /* the recogniser dropped "is" */
        {"despair", "hopeless",
         {"nobody ever helps me", "no one helps", "nobody is helping me", "no one will help me",
          "there's no point in calling", "there is no point in trying", "nobody cares", NULL}},
        {"despair", "repeat_contact",
         {"this is the third time i've called about this", "third time i have called", "third time i'm calling",
          "it's the fourth time i am calling", "i have called you five times already", "i keep calling",
          "how many times do i need to call you", "how many times do i have to explain"}},
        {"escalation", "manager",
         {"i want to talk to your manager", "let me speak with a supervisor", "put your supervisor on the phone",
          "can i speak to somebody in charge", "get me your boss right now", "transfer me to a manager",
          "i'm speaking to your supervisor", NULL}},
        {"escalation", "lawyer",
         {"i'm going to call my lawyer", "i will be suing your company", "i'll take you to court",
          "you will hear from my attorney", "i'm gonna sue", "i am going to sue", "i'm taking you to court", NULL}},
        {"escalation", "regulator",
         {"i'm reporting you to the regulator", "i will file a complaint with the ombudsman",
          "i'm going to complain to consumer protection", "i'm filing a formal complaint",
          "i will report this to the authorities", NULL}},
        {"escalation", "media",
         {"i'll call the newspaper", "i'm going to post this on social media", "i will tell the press about this",
          "i'm writing a bad review", "i will go to the media", NULL}},
        {"escalation", "cancel",
         {"i want to cancel my account", "i'm cancelling my contract today", "i'll be cancelling my subscription",
          "i am closing my account", "i'm switching to another provider", "cancel my service", NULL}},
        {"anger", NULL,
         {"this is ridiculous", "you're useless", "you are completely useless", "i'm so angry right now",
          "you lied to me", "that's absolutely unacceptable", "you've been lying to me",
          "your useless"}}, /* "you're" heard as its homophone */
    };
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        for (size_t i = 0; i < 8 && families[f].sentences[i]; i++)
            expect_kind(families[f].sentences[i], families[f].kind, families[f].category);

    /* A contraction and its expansion are one phrase; the match spans the words as heard. */
    expect_one("what's the point", "what's the point", "despair", "hopeless", 0);
    expect_one("what is the point", "what is the point", "despair", "hopeless", 0);
    expect_one("that isn't fair", "that's not fair", "anger", "unfair", 0); /* "isn't" as "is not" */
    cw_cue_match_t m[MAX_MATCHES];
    size_t n = match_sentence("it just isn't fair", m);
    CHECK(n == 1 && strcmp(m[0].phrase, "not fair") == 0 && m[0].first_word == 2 && m[0].n_words == 2,
          "\"not fair\" inside \"isn't fair\" spans both heard words (%zu matches)", n);
    /* ...and negation still holds through them */
    expect_none("i'm not gonna sue you");
    expect_none("i am not going to sue you");
    expect_none("i won't cancel my account");
    expect_none("i don't want to speak to your manager");
    expect_none("i wouldn't say you're useless");
    expect_none("i'm not giving up");
    expect_none("i haven't given up on this");
    expect_one("it doesn't work it's useless", "useless", "anger", "insult", 4);
    /* ...and so do benign contexts */
    expect_none("i talked to your manager yesterday");
    expect_none("there is no need to speak to his supervisor"); /* a variant the recogniser made of "a" */
    expect_none("my manager at work told me to call");
    expect_none("i called yesterday about my bill");
    expect_none("please cancel my order from last week");
    expect_none("i'm calling about my new phone");
    /* Words that may still go on: a benign phrase they begin holds the match back. */
    cw_word_t w[MAX_WORDS];
    size_t nw = make_words("please cancel my", w, MAX_WORDS);
    CHECK(cw_lexicon_match(lex, w, nw, MIN_CONF, m, MAX_MATCHES) == 1, "final \"please cancel my\": cancel");
    CHECK(cw_lexicon_match_open(lex, w, nw, MIN_CONF, m, MAX_MATCHES) == 0, "open: may be \"cancel my order\"");
    nw = make_words("please cancel my account", w, MAX_WORDS);
    CHECK(cw_lexicon_match_open(lex, w, nw, MIN_CONF, m, MAX_MATCHES) == 1, "open: \"cancel my account\" is no order");
    /* Past tense of a threat is a report, not a threat. */
    expect_none("i cancelled the appointment");
}

/* ---- malformed lexicons ---- */

static char tmp_path[256];

static cw_lexicon_t *load_text(const char *text, cw_error_t *err)
{
    snprintf(tmp_path, sizeof tmp_path, "/tmp/test_lexicon_%ld.json", (long)getpid());
    FILE *f = fopen(tmp_path, "w");
    if (!f)
        return NULL;
    fputs(text, f);
    fclose(f);
    cw_error_clear(err);
    cw_lexicon_t *lx = cw_lexicon_load(tmp_path, err);
    remove(tmp_path);
    return lx;
}

#define HEAD "{\"language\": \"en\", \"negators\": [\"not\"], \"negation_window\": 3,\n"

static void expect_load_error(const char *text, const char *want1, const char *want2, const char *what)
{
    cw_error_t err;
    cw_lexicon_t *lx = load_text(text, &err);
    CHECK(lx == NULL, "%s: loaded", what);
    cw_lexicon_destroy(&lx);
    CHECK(err.code < 0, "%s: code %d", what, err.code);
    CHECK(strstr(err.msg, tmp_path) != NULL, "%s: message does not name the file: %s", what, err.msg);
    CHECK(strstr(err.msg, want1) != NULL, "%s: \"%s\" not in: %s", what, want1, err.msg);
    if (want2)
        CHECK(strstr(err.msg, want2) != NULL, "%s: \"%s\" not in: %s", what, want2, err.msg);
}

static void test_errors(void)
{
    cw_error_t err;
    cw_lexicon_t *lx = load_text(HEAD "\"entries\": [{\"phrase\": \"fed up\", \"kind\": \"anger\", "
                                      "\"category\": \"fed_up\", \"weight\": 0.5}],\n"
                                      "\"benign\": [{\"phrase\": \"not fed up\"}]}\n",
                                 &err);
    CHECK(lx != NULL && cw_lexicon_size(lx) == 1, "minimal lexicon: %s", err.msg);
    cw_lexicon_destroy(&lx);
    CHECK(lx == NULL, "destroy NULLs");
    cw_lexicon_destroy(&lx);
    cw_lexicon_destroy(NULL);

    expect_load_error("{\"language\": \"en\", \"negators\": [\"not\"], \"negation_window\": 3, "
                      "\"phrase_word_floor\": 2, \"entries\": [{\"phrase\": \"fed up\", \"kind\": \"anger\", "
                      "\"category\": \"x\", \"weight\": 0.5}]}",
                      "phrase_word_floor", "0..1", "a phrase word floor over 1");
    expect_load_error(HEAD "\"entries\": [\n{\"phrase\": \"fed up\", \"kind\": \"anger\",, }]}\n", ":3:", "invalid JSON",
                      "syntax error on line 3");
    expect_load_error(HEAD "\"entries\": [{\"phrase\": \"fed up\", \"kind\": \"anger\", \"category\": \"x\", "
                           "\"weight\": 0.5},\n {\"phrase\": \"sick of\", \"category\": \"x\", \"weight\": 0.5}]}",
                      "entries[1] \"sick of\"", "missing \"kind\"", "missing kind");
    expect_load_error(HEAD "\"entries\": [{\"phrase\": \"fed up\", \"kind\": \"anger\", \"category\": \"x\", "
                           "\"weight\": 1.5}]}",
                      "entries[0] \"fed up\"", "weight 1.5", "weight out of range");
    expect_load_error(HEAD "\"entries\": [{\"phrase\": \"fed up\", \"kind\": \"anger\", \"category\": \"x\", "
                           "\"weight\": -0.1}]}",
                      "entries[0] \"fed up\"", "outside 0..1", "negative weight");
    expect_load_error(HEAD "\"entries\": [{\"phrase\": \"fed up\", \"kind\": \"rage\", \"category\": \"x\", "
                           "\"weight\": 0.5}]}",
                      "entries[0] \"fed up\"", "unknown kind \"rage\"", "unknown kind");
    expect_load_error(HEAD "\"entries\": [{\"phrase\": \"fed up\", \"kind\": \"anger\", \"category\": \"x\", "
                           "\"wieght\": 0.5}]}",
                      "entries[0] \"fed up\"", "unknown key \"wieght\"", "misspelt key");
    expect_load_error(HEAD "\"entries\": [{\"phrase\": \"* up\", \"kind\": \"anger\", \"category\": \"x\", "
                           "\"weight\": 0.5}]}",
                      "entries[0]", "wildcard", "leading wildcard");
    expect_load_error(HEAD "\"entries\": [{\"phrase\": \"  \", \"kind\": \"anger\", \"category\": \"x\", "
                           "\"weight\": 0.5}]}",
                      "entries[0]", "empty phrase", "empty phrase");
    expect_load_error(HEAD "\"entries\": [{\"phrase\": \"fed up\", \"kind\": \"anger\", \"category\": \"x\", "
                           "\"weight\": 0.5}, {\"phrase\": \"Fed  Up\", \"kind\": \"anger\", \"category\": \"x\", "
                           "\"weight\": 0.5}]}",
                      "entries[1] \"fed up\"", "duplicate of entries[0]", "duplicate phrase");
    expect_load_error(HEAD "\"entries\": []}", "\"entries\"", NULL, "no entries");
    expect_load_error("{\"language\": \"en\", \"negators\": [\"not now\"], \"negation_window\": 3, \"entries\": "
                      "[{\"phrase\": \"fed up\", \"kind\": \"anger\", \"category\": \"x\", \"weight\": 0.5}]}",
                      "negators[0]", NULL, "negator with a space");
    expect_load_error(HEAD "\"negation_stops\": [3], \"entries\": [{\"phrase\": \"fed up\", \"kind\": \"anger\", "
                           "\"category\": \"x\", \"weight\": 0.5}]}",
                      "negation_stops[0]", NULL, "stop word not a string");
    expect_load_error(HEAD "\"entries\": [{\"phrase\": \"fed up\", \"kind\": \"anger\", \"category\": \"x\", "
                           "\"weight\": 0.5}], \"benign\": [\"my boss\"]}",
                      "benign[0]", NULL, "benign not an object");

    /* patterns and word forms */
    lx = load_text(HEAD "\"word_forms\": {\"Gonna\": \"going to\", \"sued\": \"sue\"},\n"
                        "\"entries\": [{\"phrase\": \"going to sue\", \"kind\": \"escalation\", \"category\": \"lawyer\", "
                        "\"weight\": 0.9},\n {\"phrase\": \"(gonna|going to) sue( you|)\", \"kind\": \"escalation\", "
                        "\"category\": \"lawyer\", \"weight\": 0.9}]}",
                   &err);
    CHECK(lx != NULL && cw_lexicon_size(lx) == 4, "a pattern stands for its phrases, restated ones skipped: %zu %s",
          cw_lexicon_size(lx), err.msg);
    const char *kind = NULL;
    CHECK(lx && strcmp(cw_lexicon_phrase(lx, 1, &kind), "gonna sue you") == 0 && strcmp(kind, "escalation") == 0,
          "expansions in order, written as said: %s", lx ? cw_lexicon_phrase(lx, 1, NULL) : "-");
    cw_lexicon_destroy(&lx);
    static const char *const ENTRY_TAIL = "\", \"kind\": \"anger\", \"category\": \"x\", \"weight\": 0.5}]}";
    static const struct {
        const char *phrase, *want;
    } bad_patterns[] = {
        {"(fed|sick up", "unclosed"},
        {"(fed (up|off))", "nest"},
        {"fed|sick up", "outside a group"},
        {"fed up)", "outside a group"},
        {"(a|b|c|d) (a|b|c|d) (a|b|c|d) (a|b|c|d) (a|b|c|d)", "more than 256"},
        {"(|) up", NULL},
    };
    for (size_t i = 0; i < sizeof bad_patterns / sizeof bad_patterns[0]; i++) {
        char text[512];
        snprintf(text, sizeof text, HEAD "\"entries\": [{\"phrase\": \"%s%s", bad_patterns[i].phrase, ENTRY_TAIL);
        if (bad_patterns[i].want) {
            expect_load_error(text, "entries[0]", bad_patterns[i].want, bad_patterns[i].phrase);
            continue;
        }
        lx = load_text(text, &err); /* an empty alternative makes the group optional: "up" */
        CHECK(lx && cw_lexicon_size(lx) == 1 && strcmp(cw_lexicon_phrase(lx, 0, NULL), "up") == 0,
              "\"(|) up\" is \"up\": %s", err.msg);
        cw_lexicon_destroy(&lx);
    }
    expect_load_error(HEAD "\"entries\": [{\"phrase\": \"(fed|fed) up\", \"kind\": \"anger\", \"category\": \"x\", "
                           "\"weight\": 0.5}], \"benign\": [{\"phrase\": \"(not|never\"}]}",
                      "benign[0]", "unclosed", "bad benign pattern");
    expect_load_error(HEAD "\"word_forms\": {\"going to\": \"gonna\"}, \"entries\": [{\"phrase\": \"fed up\", "
                           "\"kind\": \"anger\", \"category\": \"x\", \"weight\": 0.5}]}",
                      "word_forms \"going to\"", "one word", "multi-word heard form");
    expect_load_error(HEAD "\"word_forms\": {\"gonna\": 3}, \"entries\": [{\"phrase\": \"fed up\", "
                           "\"kind\": \"anger\", \"category\": \"x\", \"weight\": 0.5}]}",
                      "word_forms \"gonna\"", "string", "word form not a string");
    expect_load_error(HEAD "\"word_forms\": {\"x\": \"a b c d e\"}, \"entries\": [{\"phrase\": \"fed up\", "
                           "\"kind\": \"anger\", \"category\": \"x\", \"weight\": 0.5}]}",
                      "word_forms \"x\"", "more than 4 words", "word form too long");
    expect_load_error(HEAD "\"word_forms\": {\"Gonna\": \"going to\", \"gonna\": \"going to\"}, \"entries\": "
                           "[{\"phrase\": \"fed up\", \"kind\": \"anger\", \"category\": \"x\", \"weight\": 0.5}]}",
                      "word_forms \"gonna\"", "listed twice", "word form listed twice");
    expect_load_error(HEAD "\"word_forms\": [\"gonna\"], \"entries\": [{\"phrase\": \"fed up\", "
                           "\"kind\": \"anger\", \"category\": \"x\", \"weight\": 0.5}]}",
                      "\"word_forms\" must be an object", NULL, "word forms not an object");

    cw_error_clear(&err);
    lx = cw_lexicon_load("/nonexistent/cues.json", &err);
    CHECK(lx == NULL && err.code == CW_ERR_IO && strstr(err.msg, "/nonexistent/cues.json"), "missing file: %s",
          err.msg);
    cw_error_clear(&err);
    CHECK(cw_lexicon_load(NULL, &err) == NULL && err.code == CW_ERR_INVALID, "NULL path");
}

/* ---- every lexicon word is in the recogniser's dictionary ---- */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static char **dict;
static size_t dict_n;

static bool load_dict(void)
{
    FILE *f = fopen(CMUDICT_PATH, "r");
    if (!f)
        return false;
    size_t cap = 0;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *sp = strpbrk(line, " \t\n");
        if (sp)
            *sp = '\0';
        char *variant = strchr(line, '(');
        if (variant)
            *variant = '\0';
        if (!*line)
            continue;
        if (dict_n == cap) {
            cap = cap ? 2 * cap : 4096;
            char **grown = realloc(dict, cap * sizeof *dict);
            if (!grown)
                break;
            dict = grown;
        }
        dict[dict_n++] = strdup(line);
    }
    fclose(f);
    qsort(dict, dict_n, sizeof *dict, cmp_str);
    return dict_n > 0;
}

static void check_words_in_dict(const char *text, const char *where)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", text);
    for (char *save = NULL, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (strcmp(tok, "*") == 0)
            continue;
        const char *key = tok;
        CHECK(bsearch(&key, dict, dict_n, sizeof *dict, cmp_str) != NULL, "%s \"%s\": \"%s\" is not in %s", where,
              text, tok, CMUDICT_PATH);
    }
}

static void test_dictionary(void)
{
    if (!load_dict()) {
        printf("lexicon: %s absent, dictionary check skipped\n", CMUDICT_PATH);
        return;
    }
    /* Every phrase a pattern stands for, as the recogniser would have to say it. */
    for (size_t i = 0; i < cw_lexicon_size(lex); i++)
        check_words_in_dict(cw_lexicon_phrase(lex, i, NULL), "entry");
    for (size_t i = 0; i < cw_lexicon_benign_count(lex); i++)
        check_words_in_dict(cw_lexicon_benign(lex, i), "benign");
    json_error_t jerr;
    json_t *root = json_load_file(CALLWATCH_MODELS_DIR "/cues-en.json", 0, &jerr);
    CHECK(root != NULL, "cues-en.json: %s", jerr.text);
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(root, "negators"), i, item)
        check_words_in_dict(json_string_value(item), "negator");
    json_array_foreach(json_object_get(root, "negation_stops"), i, item)
        check_words_in_dict(json_string_value(item), "negation stop");
    const char *key;
    json_object_foreach(json_object_get(root, "word_forms"), key, item) {
        check_words_in_dict(key, "word form");
        check_words_in_dict(json_string_value(item), "word form");
    }
    json_decref(root);
    for (i = 0; i < dict_n; i++)
        free(dict[i]);
    free(dict);
}

/* The Mandarin lexicon: words as a Mandarin dictionary segments them. */
static void test_chinese(void)
{
    cw_error_t err;
    cw_lexicon_t *english = lex;
    lex = cw_lexicon_load(CALLWATCH_MODELS_DIR "/cues-zh.json", &err);
    CHECK(lex != NULL, "shipped Mandarin lexicon: %s", err.msg);
    if (lex) {
        CHECK(cw_lexicon_size(lex) >= 50, "Mandarin lexicon has %zu entries", cw_lexicon_size(lex));
        expect_one("我 要 投诉 你们 的 服务", "我 要 投诉", "escalation", "regulator", 0);
        expect_one("我 要 打 一二三一五", "打 一二三一五", "escalation", "regulator", 2);
        expect_one("你们 这 是 骗子 公司", "骗子", "anger", "insult", 3);
        expect_one("这 已经 是 第 三 次 了", "第 三 次", "despair", "repeat_contact", 3);
        expect_one("我 要 找 你们 领导", "找 你们 领导", "escalation", "manager", 2);
        expect_none("我 不 是 要 投诉");
        expect_none("我们 领导 说 没事");
        expect_none("我 想 退 订单");
        expect_none("今天 天气 很 好");
    }
    cw_lexicon_destroy(&lex);
    lex = english;
}

int main(void)
{
    test_shipped_loads();
    test_chinese();
    if (lex) {
        test_kinds();
        test_suppression();
        test_negation_earlier_clause();
        test_confidence();
        test_families();
    }
    test_errors();
    test_dictionary();
    cw_lexicon_destroy(&lex);
    return check_summary("lexicon");
}
