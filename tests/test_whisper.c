/* test_whisper.c - an alert becomes a short prompt for the call's agent, in
 * the playbook's language, for every kind; a bad call does not bury the
 * agent (rate limit, no repeats) while a rising alert still gets through. */
#include "callwatch/playbook.h"
#include "callwatch/whisper.h"
#include "check.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static cw_whisper_t *make(const char *file, double min_interval_s, double repeat_window_s)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", CALLWATCH_MODELS_DIR, file);
    cw_error_t err;
    cw_error_clear(&err);
    cw_playbook_t *pb = cw_playbook_load(path, &err);
    CHECK(pb != NULL, "load %s: %s", file, err.msg);
    cw_whisper_params_t p = {.min_interval_s = min_interval_s, .repeat_window_s = repeat_window_s};
    cw_whisper_t *w = cw_whisper_new(&pb, &p, &err);
    CHECK(w != NULL && pb == NULL, "whisper engine: %s", err.msg);
    return w;
}

static char *alert(const char *id, const char *kind, const char *severity, const char *category)
{
    char *s = malloc(1024);
    if (category)
        snprintf(s, 1024,
                 "{\"type\":\"alert\",\"call_id\":\"c1\",\"t\":20.3204,\"id\":\"%s\",\"leg\":\"customer\","
                 "\"kind\":\"%s\",\"severity\":\"%s\",\"score\":0.7,\"t_start\":1,\"t_end\":2,"
                 "\"evidence\":{\"words\":[{\"w\":\"x\",\"category\":\"%s\"}]},\"text\":\"x\"}",
                 id, kind, severity, category);
    else
        snprintf(s, 1024,
                 "{\"type\":\"alert\",\"call_id\":\"c1\",\"t\":20.3204,\"id\":\"%s\",\"leg\":\"agent\","
                 "\"kind\":\"%s\",\"severity\":\"%s\",\"score\":0.7,\"t_start\":1,\"t_end\":2,"
                 "\"evidence\":{},\"text\":\"x\"}",
                 id, kind, severity);
    return s;
}

/* The whisper for an alert, parsed; NULL when none. */
static json_t *whisper(cw_whisper_t *w, const char *id, const char *kind, const char *severity, const char *category,
                       const char *agent, double now_s, char *topic_out)
{
    char *a = alert(id, kind, severity, category);
    cw_event_t *ev = cw_whisper_for_alert(w, a, agent, now_s);
    free(a);
    if (!ev)
        return NULL;
    if (topic_out)
        snprintf(topic_out, CW_TOPIC_MAX, "%s", ev->topic);
    json_t *obj = json_loads(ev->json, 0, NULL);
    CHECK(strcmp(ev->type, "whisper") == 0, "type %s", ev->type);
    cw_event_destroy(&ev);
    return obj;
}

static const char *field(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static void test_every_kind_both_languages(void)
{
    static const char *const files[] = {"playbook-en.json", "playbook-zh.json"};
    static const char *const langs[] = {"en", "zh"};
    static const char *const sev[] = {"info", "warning", "critical"};
    for (int l = 0; l < 2; l++) {
        cw_whisper_t *w = make(files[l], 0, 0);
        if (!w)
            return;
        int made = 0;
        for (size_t k = 0; k < cw_playbook_n_kinds; k++)
            for (int s = 0; s < 3; s++) {
                char id[64], topic[CW_TOPIC_MAX] = "";
                snprintf(id, sizeof id, "a-%zu-%d", k, s);
                json_t *o = whisper(w, id, cw_playbook_kinds[k], sev[s], NULL, "alice", 100.0 + made, topic);
                CHECK(o != NULL, "%s: whisper for %s/%s", langs[l], cw_playbook_kinds[k], sev[s]);
                if (!o)
                    continue;
                made++;
                CHECK(strcmp(topic, "whisper.alice") == 0, "topic %s", topic);
                CHECK(strcmp(field(o, "agent_id"), "alice") == 0 && strcmp(field(o, "because"), id) == 0 &&
                          strcmp(field(o, "kind"), cw_playbook_kinds[k]) == 0 &&
                          strcmp(field(o, "severity"), sev[s]) == 0 && strcmp(field(o, "lang"), langs[l]) == 0 &&
                          strcmp(field(o, "call_id"), "c1") == 0 && field(o, "prompt")[0],
                      "fields of the whisper for %s/%s", cw_playbook_kinds[k], sev[s]);
                CHECK(json_real_value(json_object_get(o, "t")) == 20.32, "t is the alert's, to the ms");
                json_decref(o);
            }
        CHECK(made == 18, "%s: 18 whispers, got %d", langs[l], made);
        cw_whisper_destroy(&w);
    }
}

static void test_situation(void)
{
    cw_whisper_t *w = make("playbook-en.json", 0, 0);
    json_t *o = whisper(w, "a1", "despair", "critical", "repeat_contact", "bob", 1, NULL);
    CHECK(o && strstr(field(o, "prompt"), "repeat") && strcmp(field(o, "situation"), "repeat_contact") == 0,
          "third call: don't make them repeat (%s)", o ? field(o, "prompt") : "none");
    json_decref(o);
    cw_whisper_destroy(&w);
}

static void test_rate_limit_and_repeats(void)
{
    cw_whisper_t *w = make("playbook-en.json", 10, 300);
    json_t *o = whisper(w, "a1", "anger", "warning", NULL, "carol", 1000.0, NULL);
    CHECK(o != NULL, "first whisper");
    char first[512];
    snprintf(first, sizeof first, "%s", o ? field(o, "prompt") : "");
    json_decref(o);
    /* Same agent, same severity, 2 s later: held back. */
    o = whisper(w, "a2", "anger", "warning", NULL, "carol", 1002.0, NULL);
    CHECK(o == NULL, "rate-limited within min_interval_s");
    json_decref(o);
    /* Another agent is not held back by carol's. */
    o = whisper(w, "a3", "anger", "warning", NULL, "dave", 1002.0, NULL);
    CHECK(o != NULL, "rate limit is per agent");
    json_decref(o);
    /* A more severe alert gets through at once. */
    o = whisper(w, "a4", "despair", "critical", NULL, "carol", 1003.0, NULL);
    CHECK(o != NULL, "rising severity passes the rate limit");
    json_decref(o);
    /* After the interval, the same kind again: a different prompt. */
    o = whisper(w, "a5", "anger", "warning", NULL, "carol", 1020.0, NULL);
    CHECK(o && strcmp(field(o, "prompt"), first) != 0, "no repeat of '%s' (got '%s')", first,
          o ? field(o, "prompt") : "none");
    json_decref(o);
    /* Anger/warning has three prompts in the shipped playbook: the third is
     * new, the fourth would repeat within the window: none. */
    o = whisper(w, "a6", "anger", "warning", NULL, "carol", 1040.0, NULL);
    CHECK(o != NULL, "third prompt");
    json_decref(o);
    o = whisper(w, "a7", "anger", "warning", NULL, "carol", 1060.0, NULL);
    CHECK(o == NULL, "all prompts said recently: nothing");
    json_decref(o);
    /* Once the window has passed, the first prompt may come back. */
    o = whisper(w, "a8", "anger", "warning", NULL, "carol", 1400.0, NULL);
    CHECK(o && strcmp(field(o, "prompt"), first) == 0, "after repeat_window_s the first prompt returns");
    json_decref(o);
    cw_whisper_stats_t st;
    cw_whisper_get_stats(w, &st);
    CHECK(st.whispers == 6 && st.rate_limited == 1 && st.repeats == 1, "stats %llu/%llu/%llu",
          (unsigned long long)st.whispers, (unsigned long long)st.rate_limited, (unsigned long long)st.repeats);
    cw_whisper_destroy(&w);
}

/* An alert of call c1 for agent "erin" that may continue another (escalates). */
static json_t *step(cw_whisper_t *w, const char *id, const char *kind, const char *severity, const char *category,
                    const char *escalates, double now_s)
{
    char a[1024];
    snprintf(a, sizeof a,
             "{\"type\":\"alert\",\"call_id\":\"c1\",\"t\":1,\"id\":\"%s\",\"leg\":\"customer\",\"kind\":\"%s\","
             "\"severity\":\"%s\",\"score\":0.7,\"t_start\":1,\"t_end\":2,"
             "\"evidence\":{\"words\":[{\"w\":\"x\",\"category\":\"%s\"}]},\"text\":\"x\"%s%s%s}",
             id, kind, severity, category ? category : "none", escalates ? ",\"escalates\":\"" : "",
             escalates ? escalates : "", escalates ? "\"" : "");
    cw_event_t *ev = cw_whisper_for_alert(w, a, "erin", now_s);
    json_t *o = ev ? json_loads(ev->json, 0, NULL) : NULL;
    cw_event_destroy(&ev);
    return o;
}

/* The first story: a critical flat-affect prompt at 0:20 must not
 * leave the critical escalation (manager + cancel) at 0:29 without one. */
static void test_flat_affect_does_not_block_escalation(void)
{
    cw_whisper_t *w = make("playbook-en.json", 30, 300);
    json_t *o = step(w, "f1", "flat_affect", "critical", NULL, NULL, 20.0);
    CHECK(o != NULL, "flat-affect prompt at 0:20");
    json_decref(o);
    o = step(w, "e1", "escalation", "critical", "manager", NULL, 29.0);
    CHECK(o && strcmp(field(o, "kind"), "escalation") == 0, "critical escalation at 0:29 gets its prompt");
    json_decref(o);
    /* Nor an anger prompt, even a less severe one: anger matters more. */
    cw_whisper_destroy(&w);
    w = make("playbook-en.json", 30, 300);
    o = step(w, "f2", "flat_affect", "critical", NULL, NULL, 20.0);
    json_decref(o);
    o = step(w, "g2", "anger", "warning", NULL, NULL, 25.0);
    CHECK(o && strcmp(field(o, "kind"), "anger") == 0, "flat-affect prompt does not hold back an anger one");
    json_decref(o);
    /* The other way round the rate limit still holds. */
    o = step(w, "f3", "flat_affect", "warning", NULL, NULL, 26.0);
    CHECK(o == NULL, "an anger prompt holds back a flat-affect one");
    json_decref(o);
    cw_whisper_destroy(&w);
}

/* The second story: the anger prompt blocked the lawyer prompt. */
static void test_anger_does_not_block_lawyer(void)
{
    cw_whisper_t *w = make("playbook-en.json", 30, 300);
    json_t *o = step(w, "g1", "anger", "warning", NULL, NULL, 40.0);
    CHECK(o != NULL, "anger prompt");
    json_decref(o);
    o = step(w, "e1", "escalation", "warning", "lawyer", NULL, 43.0);
    CHECK(o && strcmp(field(o, "situation"), "lawyer") == 0, "the lawyer prompt comes 3 s after an anger one (%s)",
          o ? field(o, "prompt") : "none");
    json_decref(o);
    cw_whisper_destroy(&w);
}

/* info -> warning -> critical of one episode within 1 s: two prompts (the
 * first and the critical), not three; a critical after a critical: none. */
static void test_one_prompt_per_episode(void)
{
    cw_whisper_t *w = make("playbook-en.json", 30, 300);
    json_t *o = step(w, "a1", "anger", "info", NULL, NULL, 10.0);
    CHECK(o != NULL, "episode's first alert prompted");
    json_decref(o);
    o = step(w, "a2", "anger", "warning", NULL, "a1", 10.4);
    CHECK(o == NULL, "warning step of the same episode takes no prompt slot");
    json_decref(o);
    o = step(w, "a3", "anger", "critical", NULL, "a2", 10.8);
    CHECK(o && strcmp(field(o, "severity"), "critical") == 0, "critical step after a non-critical prompt: prompted");
    json_decref(o);
    /* The episode rule holds after the interval too. */
    o = step(w, "b1", "despair", "info", NULL, NULL, 100.0);
    CHECK(o != NULL, "new episode prompted");
    json_decref(o);
    o = step(w, "b2", "despair", "warning", NULL, "b1", 200.0);
    CHECK(o == NULL, "warning step of a prompted episode: nothing, even after the interval");
    json_decref(o);
    /* A new category at the same severity (lawyer after manager) is news. */
    o = step(w, "e1", "escalation", "warning", "manager", NULL, 300.0);
    json_decref(o);
    o = step(w, "e2", "escalation", "warning", "lawyer", "e1", 301.0);
    CHECK(o && strcmp(field(o, "situation"), "lawyer") == 0, "lawyer after manager in one episode: prompted");
    json_decref(o);
    cw_whisper_stats_t st;
    cw_whisper_get_stats(w, &st);
    CHECK(st.same_episode == 2 && st.whispers == 5, "stats: %llu same-episode, %llu whispers",
          (unsigned long long)st.same_episode, (unsigned long long)st.whispers);
    cw_whisper_destroy(&w);
}

static void test_playbook_priorities_are_data(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    char path[1024];
    snprintf(path, sizeof path, "%s/playbook-en.json", CALLWATCH_MODELS_DIR);
    cw_playbook_t *pb = cw_playbook_load(path, &err);
    CHECK(pb && cw_playbook_is_compliance(pb, "escalation") && !cw_playbook_is_compliance(pb, "anger") &&
              cw_playbook_priority(pb, "anger") > cw_playbook_priority(pb, "flat_affect"),
          "shipped playbook: escalation is compliance, anger outranks flat affect");
    cw_playbook_destroy(&pb);
    const char *bad = "{\"lang\":\"en\",\"kinds\":{\"anger\":{\"priority\":\"high\",\"prompts\":{}}}}";
    pb = cw_playbook_load_string(bad, "bad.json", &err);
    CHECK(pb == NULL && strstr(err.msg, "$.kinds.anger.priority"), "bad priority named: %s", err.msg);
}

static void test_follow_and_garbage(void)
{
    cw_whisper_t *w = make("playbook-zh.json", 0, 0);
    /* An alert of a call whose start was not seen: no agent, no whisper. */
    char *a = alert("x1", "anger", "critical", NULL);
    cw_event_t al = {.topic = "alert.anger.c1", .type = "alert", .json = a, .json_len = strlen(a)};
    CHECK(cw_whisper_follow(w, &al) == NULL, "unknown call: no whisper");
    char start[] = "{\"type\":\"call_start\",\"call_id\":\"c1\",\"t\":0,\"line\":\"desk1\",\"agent_id\":\"li.wei\"}";
    cw_event_t st = {.topic = "call.c1", .type = "call_start", .json = start, .json_len = strlen(start)};
    CHECK(cw_whisper_follow(w, &st) == NULL, "call_start makes no whisper");
    cw_event_t *ev = cw_whisper_follow(w, &al);
    CHECK(ev && strcmp(ev->topic, "whisper.li.wei") == 0 && strstr(ev->json, "\"lang\":\"zh\""),
          "agent from call_start: %s", ev ? ev->topic : "none");
    cw_event_destroy(&ev);
    char end[] = "{\"type\":\"call_end\",\"call_id\":\"c1\",\"t\":9}";
    cw_event_t en = {.topic = "call.c1", .type = "call_end", .json = end, .json_len = strlen(end)};
    cw_whisper_follow(w, &en);
    CHECK(cw_whisper_follow(w, &al) == NULL, "after call_end the call is forgotten");
    free(a);

    static const char *const bad[] = {"", "not json", "[]", "{\"type\":\"alert\"}",
                                      "{\"type\":\"alert\",\"call_id\":\"c\",\"id\":\"i\",\"kind\":\"boredom\","
                                      "\"severity\":\"info\"}",
                                      "{\"type\":\"alert\",\"call_id\":\"c\",\"id\":\"i\",\"kind\":\"anger\","
                                      "\"severity\":3}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(cw_whisper_for_alert(w, bad[i], "x", 1) == NULL, "garbage %zu: no whisper", i);
    char *ok = alert("y", "anger", "info", NULL);
    CHECK(cw_whisper_for_alert(w, ok, "", 1) == NULL, "no agent: no whisper");
    CHECK(cw_whisper_for_alert(w, NULL, "x", 1) == NULL, "NULL alert");
    free(ok);
    cw_whisper_destroy(&w);
    CHECK(w == NULL, "destroy NULLs");
}

int main(void)
{
    test_every_kind_both_languages();
    test_situation();
    test_rate_limit_and_repeats();
    test_follow_and_garbage();
    test_flat_affect_does_not_block_escalation();
    test_anger_does_not_block_lawyer();
    test_one_prompt_per_episode();
    test_playbook_priorities_are_data();
    return check_summary("whisper");
}
