/* test_alert.c - one episode gives one alert (or an escalating series),
 * never a storm; severities follow the configured thresholds; every alert
 * carries its evidence and follows the contract. Also the turn-taking
 * detector: talk-over and dead air as a supervisor would count them. */
#include "callwatch/alert.h"
#include "callwatch/turns.h"
#include "check.h"

#include <jansson.h>
#include <string.h>

static const cw_alert_params_t params = {.info_score = 0.35, .warning_score = 0.6, .critical_score = 0.85,
                                         .cooldown_s = 30};

static json_t *evidence_words(const char *w)
{
    json_t *e = json_object();
    json_t *words = json_array();
    json_t *one = json_object();
    json_object_set_new(one, "w", json_string(w));
    json_array_append_new(words, one);
    json_object_set_new(e, "words", words);
    return e;
}

static void test_episodes(void)
{
    cw_error_t err;
    cw_alert_engine_t *e = cw_alert_engine_new("c1", &params, &err);
    CHECK(e != NULL, "engine: %s", err.msg);

    CHECK(cw_alert_engine_offer(e, 1, "escalation", 0.2, 1, 2, 2, evidence_words("hmm"), "weak") == NULL,
          "below info: no alert");

    cw_event_t *ev = cw_alert_engine_offer(e, 1, "escalation", 0.7, 10.0, 11.5, 12.0,
                                           evidence_words("manager"), "customer said \"your manager\"");
    CHECK(ev != NULL, "warning-level evidence raises an alert");
    if (ev) {
        CHECK(strcmp(ev->topic, "alert.escalation.c1") == 0, "topic %s", ev->topic);
        json_error_t jerr;
        json_t *obj = json_loads(ev->json, 0, &jerr);
        CHECK(obj != NULL, "valid JSON: %s", ev->json);
        CHECK(strcmp(json_string_value(json_object_get(obj, "type")), "alert") == 0, "type alert");
        CHECK(strcmp(json_string_value(json_object_get(obj, "severity")), "warning") == 0, "severity warning");
        CHECK(strcmp(json_string_value(json_object_get(obj, "leg")), "customer") == 0, "leg customer");
        CHECK(json_real_value(json_object_get(obj, "t_start")) == 10.0 &&
                  json_real_value(json_object_get(obj, "t_end")) == 11.5 &&
                  json_real_value(json_object_get(obj, "t")) == 12.0,
              "times: %s", ev->json);
        CHECK(json_object_get(json_object_get(obj, "evidence"), "words") != NULL, "evidence carried");
        CHECK(strcmp(json_string_value(json_object_get(obj, "id")), "c1-a1") == 0, "id");
        CHECK(json_string_length(json_object_get(obj, "text")) > 0, "text");
        json_decref(obj);
    }
    cw_event_destroy(&ev);

    /* The same episode again at the same severity: nothing new. */
    CHECK(cw_alert_engine_offer(e, 1, "escalation", 0.65, 20, 21, 21, evidence_words("manager"), "again") == NULL,
          "repeat at same severity suppressed");
    /* It gets worse: one escalation alert linked to the first. */
    ev = cw_alert_engine_offer(e, 1, "escalation", 0.9, 30, 31, 31, evidence_words("regulator"), "worse");
    CHECK(ev && strstr(ev->json, "\"severity\":\"critical\"") && strstr(ev->json, "\"escalates\":\"c1-a1\""),
          "escalation to critical links the episode: %s", ev ? ev->json : "(none)");
    cw_event_destroy(&ev);
    CHECK(cw_alert_engine_offer(e, 1, "escalation", 0.95, 40, 41, 41, evidence_words("x"), "still") == NULL,
          "critical again suppressed");
    /* Another kind, or the other leg, is its own episode. */
    ev = cw_alert_engine_offer(e, 1, "anger", 0.5, 40, 41, 41, evidence_words("ridiculous"), "anger");
    CHECK(ev && strstr(ev->json, "\"severity\":\"info\""), "anger is its own episode (info)");
    cw_event_destroy(&ev);
    /* After the cooldown a new episode starts with a fresh alert. */
    ev = cw_alert_engine_offer(e, 1, "escalation", 0.7, 100, 101, 101, evidence_words("lawyer"), "new episode");
    CHECK(ev && !strstr(ev->json, "escalates"), "new episode after cooldown");
    cw_event_destroy(&ev);
    CHECK(cw_alert_engine_count(e) == 4, "4 alerts, got %u", cw_alert_engine_count(e));
    cw_alert_engine_destroy(&e);
    CHECK(e == NULL, "destroy NULLs");

    cw_alert_params_t bad = params;
    bad.warning_score = 0.2;
    CHECK(cw_alert_engine_new("c", &bad, &err) == NULL && strstr(err.msg, "info_score"), "bad thresholds: %s",
          err.msg);
}

/* Drives the turn detector with 10 ms steps of scripted activity. */
typedef struct script_state {
    cw_activity_t agent, customer;
} script_state_t;

/* Word evidence as cues.c builds it: one entry per phrase, with its category. */
static json_t *evidence_cats(const char *const *cats, size_t n)
{
    json_t *e = json_object();
    json_t *words = json_array();
    for (size_t i = 0; i < n; i++) {
        json_t *one = json_object();
        json_object_set_new(one, "w", json_string(cats[i]));
        json_object_set_new(one, "category", json_string(cats[i]));
        json_array_append_new(words, one);
    }
    json_object_set_new(e, "words", words);
    return e;
}

/* Inside an already-critical escalation episode, each new category of
 * threat (lawyer, then media) still reaches the supervisor, once. */
static void test_new_categories(void)
{
    cw_alert_params_t p = params;
    snprintf(p.new_category_kinds, sizeof p.new_category_kinds, "%s", "escalation");
    cw_error_t err;
    cw_alert_engine_t *e = cw_alert_engine_new("c2", &p, &err);
    CHECK(e != NULL, "engine: %s", err.msg);
    const char *cats[] = {"manager", "manager", "lawyer", "media"};

    cw_event_t *ev = cw_alert_engine_offer(e, 1, "escalation", 0.9, 1, 2, 2, evidence_cats(cats, 2), "manager");
    CHECK(ev && strstr(ev->json, "\"severity\":\"critical\"") && !strstr(ev->json, "new_categories"),
          "first alert critical: %s", ev ? ev->json : "(none)");
    cw_event_destroy(&ev);
    CHECK(cw_alert_engine_offer(e, 1, "escalation", 0.95, 3, 4, 4, evidence_cats(cats, 2), "manager again") == NULL,
          "the same category again: nothing new");
    ev = cw_alert_engine_offer(e, 1, "escalation", 0.97, 1, 6, 6, evidence_cats(cats, 3), "manager, lawyer");
    CHECK(ev && strstr(ev->json, "\"severity\":\"critical\"") && strstr(ev->json, "\"escalates\":\"c2-a1\"") &&
              strstr(ev->json, "\"new_categories\":[\"lawyer\"]"),
          "a lawyer inside the critical episode is its own alert, linked and named: %s", ev ? ev->json : "(none)");
    cw_event_destroy(&ev);
    CHECK(cw_alert_engine_offer(e, 1, "escalation", 0.97, 1, 7, 7, evidence_cats(cats, 3), "again") == NULL,
          "the lawyer again: nothing new");
    ev = cw_alert_engine_offer(e, 1, "escalation", 0.98, 1, 9, 9, evidence_cats(cats, 4), "and the media");
    CHECK(ev && strstr(ev->json, "\"escalates\":\"c2-a2\"") && strstr(ev->json, "\"new_categories\":[\"media\"]"),
          "then the media: %s", ev ? ev->json : "(none)");
    cw_event_destroy(&ev);
    /* anger is not listed: a new category there stays inside the episode */
    const char *anger[] = {"outrage", "insult"};
    ev = cw_alert_engine_offer(e, 1, "anger", 0.9, 1, 2, 2, evidence_cats(anger, 1), "outrage");
    cw_event_destroy(&ev);
    CHECK(cw_alert_engine_offer(e, 1, "anger", 0.9, 1, 3, 3, evidence_cats(anger, 2), "insult") == NULL,
          "kinds not listed keep one alert per episode");
    /* a new episode after the cooldown starts with no categories remembered */
    ev = cw_alert_engine_offer(e, 1, "escalation", 0.9, 100, 101, 101, evidence_cats(cats, 1), "manager later");
    CHECK(ev && !strstr(ev->json, "escalates"), "new episode: %s", ev ? ev->json : "(none)");
    cw_event_destroy(&ev);
    ev = cw_alert_engine_offer(e, 1, "escalation", 0.9, 100, 102, 102, evidence_cats(cats + 2, 1), "lawyer later");
    CHECK(ev && strstr(ev->json, "\"new_categories\":[\"lawyer\"]"), "lawyer is new again in the new episode");
    cw_event_destroy(&ev);
    CHECK(cw_alert_engine_count(e) == 6, "6 alerts, got %u", cw_alert_engine_count(e));
    cw_alert_engine_destroy(&e);

    /* a rise in severity that brings a category names it */
    e = cw_alert_engine_new("c4", &p, &err);
    ev = cw_alert_engine_offer(e, 1, "escalation", 0.7, 1, 2, 2, evidence_cats(cats, 1), "manager");
    cw_event_destroy(&ev);
    ev = cw_alert_engine_offer(e, 1, "escalation", 0.9, 1, 4, 4, evidence_cats(cats, 3), "manager, lawyer");
    CHECK(ev && strstr(ev->json, "\"severity\":\"critical\"") && strstr(ev->json, "\"new_categories\":[\"lawyer\"]"),
          "warning to critical with a lawyer: %s", ev ? ev->json : "(none)");
    cw_event_destroy(&ev);
    cw_alert_engine_destroy(&e);

    /* without the option, today's behaviour: one critical alert per episode */
    e = cw_alert_engine_new("c3", &params, &err);
    ev = cw_alert_engine_offer(e, 1, "escalation", 0.9, 1, 2, 2, evidence_cats(cats, 1), "manager");
    cw_event_destroy(&ev);
    CHECK(cw_alert_engine_offer(e, 1, "escalation", 0.9, 1, 4, 4, evidence_cats(cats, 3), "lawyer") == NULL,
          "new_category_kinds empty: suppressed");
    cw_alert_engine_destroy(&e);
}

static void set(cw_activity_t *a, bool talking, double since)
{
    a->talking = talking;
    a->since_s = since;
}

static void test_turns(void)
{
    cw_error_t err;
    cw_turns_params_t tp = {.talk_over_s = 1.0, .dead_air_s = 8.0, .crosstalk_db = 0, .loud_floor_db = -45.0,
                            .loud_margin_db = 12.0, .onset_s = 0.06, .hold_s = 0.5};
    cw_turns_t *t = cw_turns_new(&tp, &err);
    CHECK(t != NULL, "turns: %s", err.msg);
    cw_activity_t agent = {false, -1}, customer = {false, -1};
    cw_turn_cue_t cues[4];
    int talk_overs = 0, dead_airs = 0;
    double dead_air_max = 0, overlap = 0;
    for (int step = 0; step <= 4000; step++) {
        double now = step * 0.01;
        /* customer talks 1..6 s; agent starts at 4 s (over the customer) until 8 s;
         * agent answers politely 16..18 after the customer's 14..15.5;
         * then nobody talks from 18 s to 40 s (dead air). A pre-call silence 0..1 s is not dead air. */
        if (now >= 1.0 && now < 6.0)
            set(&customer, true, 1.0);
        else if (now >= 14.0 && now < 15.5)
            set(&customer, true, 14.0);
        else if (now >= 6.0 && now < 14.0)
            set(&customer, false, 6.0);
        else if (now >= 15.5)
            set(&customer, false, 15.5);
        if (now >= 4.0 && now < 8.0)
            set(&agent, true, 4.0);
        else if (now >= 8.0 && now < 16.0)
            set(&agent, false, 8.0);
        else if (now >= 16.0 && now < 18.0)
            set(&agent, true, 16.0);
        else if (now >= 18.0)
            set(&agent, false, 18.0);
        /* The legs' frames as measured: each talks at -20 dBFS, silence is -70. */
        cw_prosody_frame_t fa = {.t_end = now + 0.01, .speech = agent.talking, .level_db = agent.talking ? -20.0f : -70.0f};
        cw_prosody_frame_t fc = {.t_end = now + 0.01, .speech = customer.talking,
                                 .level_db = customer.talking ? -20.0f : -70.0f};
        cw_turns_frames(t, 0, &fa, 1);
        cw_turns_frames(t, 1, &fc, 1);
        size_t n = cw_turns_update(t, &agent, &customer, now, cues, 4);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(cues[i].kind, "talk_over") == 0) {
                talk_overs++;
                overlap = cues[i].seconds;
                CHECK(cues[i].t_start == 4.0, "talk-over starts when the agent did: %.2f", cues[i].t_start);
            } else {
                dead_airs++;
                CHECK(cues[i].t_start == 18.0, "dead air counted from the last speech: %.2f", cues[i].t_start);
                if (cues[i].score > dead_air_max)
                    dead_air_max = cues[i].score;
            }
        }
    }
    CHECK(talk_overs == 1, "one talk-over (the polite answer at 16 s is not one), got %d", talk_overs);
    CHECK(overlap >= 1.0 && overlap <= 2.1, "overlap about 1-2 s, got %.2f", overlap);
    CHECK(dead_airs >= 2, "dead air offered as it grows, got %d", dead_airs);
    CHECK(dead_air_max >= 0.85, "22 s of dead air reaches critical, score %.2f", dead_air_max);
    cw_turns_destroy(&t);
    CHECK(t == NULL, "destroy NULLs");
}

int main(void)
{
    test_episodes();
    test_new_categories();
    test_turns();
    return check_summary("alert");
}
