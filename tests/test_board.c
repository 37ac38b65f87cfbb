/* test_board.c - the console's model: calls appear with their agent and
 * team, heat follows alerts and fades, the feed lists alerts newest first
 * with the evidence, acks mark them, filters narrow both, transcripts are
 * kept per call, ended calls leave, garbage changes nothing. */
#include "callwatch/board.h"
#include "check.h"

#include <stdio.h>
#include <string.h>

static void apply(cw_board_t *b, const char *json, double now)
{
    cw_board_apply(b, "topic", json, now);
}

static void start(cw_board_t *b, const char *call, const char *agent, const char *team, double now)
{
    char s[512];
    snprintf(s, sizeof s,
             "{\"type\":\"call_start\",\"call_id\":\"%s\",\"t\":0,\"line\":\"l-%s\",\"agent_id\":\"%s\",\"team\":\"%s\"}",
             call, agent, agent, team);
    apply(b, s, now);
}

static void alert(cw_board_t *b, const char *call, const char *id, const char *kind, const char *sev,
                  const char *leg, double score, double t, double now)
{
    char s[1024];
    snprintf(s, sizeof s,
             "{\"type\":\"alert\",\"call_id\":\"%s\",\"t\":%g,\"id\":\"%s\",\"leg\":\"%s\",\"kind\":\"%s\","
             "\"severity\":\"%s\",\"score\":%g,\"t_start\":%g,\"t_end\":%g,"
             "\"evidence\":{\"words\":[{\"w\":\"third time i am calling\",\"category\":\"repeat_contact\"}],"
             "\"prosody\":{\"f0_range_st\":2.5}},\"text\":\"reason %s\"}",
             call, t, id, leg, kind, sev, score, t - 2, t - 1, id);
    apply(b, s, now);
}

static void test_calls_alerts_heat(void)
{
    cw_board_t *b = cw_board_new();
    start(b, "c1", "alice", "north", 0);
    start(b, "c2", "bob", "south", 0);
    CHECK(cw_board_n_calls(b) == 2, "two calls");
    const cw_board_call_t *c = cw_board_call(b, 0);
    CHECK(c && strcmp(c->agent_id, "alice") == 0 && strcmp(c->team, "north") == 0, "agent and team");
    CHECK(cw_board_heat(c, 1, 0) == 0, "no heat before alerts");

    alert(b, "c1", "c1-a1", "anger", "warning", "customer", 0.7, 20, 10);
    alert(b, "c1", "c1-a2", "despair", "critical", "customer", 0.9, 25, 12);
    alert(b, "c2", "c2-a1", "flat_affect", "info", "agent", 0.4, 30, 14);
    c = cw_board_find_call(b, "c1");
    CHECK(strcmp(c->latest_kind, "despair") == 0 && strcmp(c->latest_severity, "critical") == 0 &&
              strcmp(c->latest_text, "reason c1-a2") == 0,
          "latest alert of c1: %s", c->latest_kind);
    double h = cw_board_heat(c, 1, 12);
    CHECK(h > 0.89 && h <= 0.9, "customer heat = peak score %g", h);
    CHECK(cw_board_heat(c, 0, 12) == 0, "agent leg of c1 is cold");
    double later = cw_board_heat(c, 1, 12 + CW_BOARD_HEAT_HALF_LIFE_S);
    CHECK(later > 0.44 && later < 0.46, "heat halves in a half-life: %g", later);
    CHECK(c->t == 25, "call time follows events: %g", c->t);

    CHECK(cw_board_n_feed(b) == 3, "three alerts");
    const cw_board_alert_t *a = cw_board_feed(b, 0);
    CHECK(a && strcmp(a->id, "c2-a1") == 0, "newest first");
    a = cw_board_feed(b, 1);
    CHECK(a && strcmp(a->agent_id, "alice") == 0 && strcmp(a->team, "north") == 0, "alert carries agent and team");
    CHECK(a && strstr(a->evidence, "\"third time i am calling\" (repeat_contact)") &&
              strstr(a->evidence, "f0_range_st 2.5"),
          "evidence summary: %s", a ? a->evidence : "");

    /* The same alert twice (a reconnect replays nothing, but be safe). */
    alert(b, "c1", "c1-a2", "despair", "critical", "customer", 0.9, 25, 13);
    CHECK(cw_board_n_feed(b) == 3, "duplicate alert ignored");

    /* Acknowledgement from the bus. */
    apply(b, "{\"type\":\"ack\",\"call_id\":\"c1\",\"t\":0,\"alert_id\":\"c1-a2\",\"by\":\"sup1\","
             "\"at\":\"2026-01-01T00:00:00.000Z\"}",
          15);
    a = cw_board_feed(b, 1);
    CHECK(a && a->acked && strcmp(a->acked_by, "sup1") == 0 && strcmp(a->acked_at, "2026-01-01T00:00:00.000Z") == 0,
          "ack marks the alert");
    CHECK(a && !a->acked_verified, "an ack without \"verified\": true is shown unverified");
    apply(b, "{\"type\":\"ack\",\"call_id\":\"c1\",\"t\":0,\"alert_id\":\"c1-a2\",\"by\":\"sup2\","
             "\"at\":\"2026-01-01T00:00:01.000Z\",\"verified\":true,\"role\":\"supervisor\"}",
          15);
    a = cw_board_feed(b, 1);
    CHECK(a && a->acked_verified && strcmp(a->acked_by, "sup2") == 0, "a checked ack is shown verified");
    CHECK(cw_board_apply(b, "t", "{\"type\":\"ack\",\"call_id\":\"c1\",\"alert_id\":\"nope\",\"by\":\"x\"}", 15) == 0,
          "ack of an unknown alert changes nothing");

    /* Filters. */
    CHECK(cw_board_set_filter(b, "team", "south") == 0, "set team filter");
    CHECK(cw_board_n_calls(b) == 1 && strcmp(cw_board_call(b, 0)->agent_id, "bob") == 0, "team filter on calls");
    CHECK(cw_board_n_feed(b) == 1, "team filter on feed");
    CHECK(cw_board_parse_filter(b, "agent=alice kind=anger") == 0, "parse filter");
    CHECK(strcmp(cw_board_filter(b, "team"), "") == 0, "parse replaces all filters");
    CHECK(cw_board_n_calls(b) == 1 && cw_board_n_feed(b) == 1 && strcmp(cw_board_feed(b, 0)->id, "c1-a1") == 0,
          "agent+kind filter");
    CHECK(cw_board_parse_filter(b, "colour=red") == -1 && cw_board_parse_filter(b, "agent") == -1,
          "bad filters refused");
    CHECK(strcmp(cw_board_filter(b, "agent"), "alice") == 0, "a refused filter changes nothing");
    CHECK(cw_board_set_filter(b, "colour", "x") == -1, "unknown field");
    CHECK(cw_board_parse_filter(b, "") == 0 && cw_board_n_calls(b) == 2 && cw_board_n_feed(b) == 3, "cleared");

    /* Ending: the row lingers, then goes. */
    apply(b, "{\"type\":\"call_end\",\"call_id\":\"c2\",\"t\":40,\"reason\":\"eof\"}", 20);
    cw_board_tick(b, 21);
    CHECK(cw_board_n_calls(b) == 2 && cw_board_find_call(b, "c2")->ended, "ended call lingers");
    cw_board_tick(b, 20 + CW_BOARD_LINGER_S);
    CHECK(cw_board_n_calls(b) == 1 && !cw_board_find_call(b, "c2"), "then leaves");
    CHECK(cw_board_n_feed(b) == 3, "its alerts stay in the feed");

    CHECK(cw_board_set_filter(b, "agent", "nobody") == 0 && cw_board_n_calls(b) == 0 &&
              cw_board_n_calls_all(b) == 1 && strcmp(cw_board_call_all(b, 0)->call_id, "c1") == 0 &&
              cw_board_call_all(b, 1) == NULL,
          "unfiltered access to the calls");
    cw_board_set_filter(b, "agent", "");
    start(b, "c3", "carol", "east", 30);
    CHECK(cw_board_drop_call(b, "c1") == 1 && cw_board_drop_call(b, "c1") == 0 && cw_board_n_calls(b) == 1 &&
              cw_board_find_call(b, "c3") != NULL,
          "drop one call");
    cw_board_forget_calls(b);
    CHECK(cw_board_n_calls(b) == 0 && cw_board_n_feed(b) == 3, "forget calls keeps the feed");
    cw_board_destroy(&b);
    CHECK(b == NULL, "destroy NULLs");
}

static void test_transcript_and_late_join(void)
{
    cw_board_t *b = cw_board_new();
    /* A console started mid-call sees a transcript first. */
    for (int i = 0; i < CW_BOARD_TRANSCRIPT_MAX + 5; i++) {
        char s[512];
        snprintf(s, sizeof s,
                 "{\"type\":\"transcript\",\"call_id\":\"late\",\"t\":%d,\"leg\":\"%s\",\"t_start\":%d,"
                 "\"t_end\":%d,\"text\":\"line %d\",\"words\":[],\"final\":true}",
                 i, i % 2 ? "customer" : "agent", i, i, i);
        apply(b, s, i);
    }
    apply(b, "{\"type\":\"transcript\",\"call_id\":\"late\",\"t\":99,\"leg\":\"agent\",\"t_start\":98,"
             "\"t_end\":99,\"text\":\"partial words\",\"words\":[],\"final\":false}",
          99);
    const cw_board_call_t *c = cw_board_find_call(b, "late");
    CHECK(c && c->agent_id[0] == '\0', "late-joined call has no agent yet");
    size_t n = c ? cw_board_n_transcript(c) : 0;
    CHECK(n == CW_BOARD_TRANSCRIPT_MAX, "transcript ring bounded: %zu", n);
    const cw_board_line_t *first = c ? cw_board_transcript(c, 0) : NULL;
    const cw_board_line_t *last = c ? cw_board_transcript(c, n - 1) : NULL;
    CHECK(first && strcmp(first->text, "line 5") == 0, "oldest kept: %s", first ? first->text : "");
    CHECK(last && strcmp(last->text, "line 44") == 0 && strcmp(last->leg, "agent") == 0,
          "newest final line (partials skipped): %s", last ? last->text : "");

    static const char *const garbage[] = {"", "nonsense", "[]", "{}", "{\"type\":\"alert\"}",
                                          "{\"type\":\"alert\",\"call_id\":\"\"}",
                                          "{\"type\":\"alert\",\"call_id\":\"z\",\"kind\":\"anger\"}",
                                          "{\"type\":\"mystery\",\"call_id\":\"z\"}"};
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++)
        CHECK(cw_board_apply(b, "t", garbage[i], 1) == 0, "garbage %zu ignored", i);
    CHECK(cw_board_apply(b, "t", NULL, 1) == 0, "NULL ignored");
    CHECK(cw_board_n_calls(b) == 1 && cw_board_n_feed(b) == 0, "garbage added nothing");
    cw_board_destroy(&b);
}

static void test_feed_bounded(void)
{
    cw_board_t *b = cw_board_new();
    start(b, "c", "a", "t", 0);
    for (int i = 0; i < CW_BOARD_FEED_MAX + 20; i++) {
        char id[32];
        snprintf(id, sizeof id, "id%d", i);
        alert(b, "c", id, "dead_air", "info", "agent", 0.4, i + 2, i);
    }
    CHECK(cw_board_n_feed(b) == CW_BOARD_FEED_MAX, "feed bounded");
    char want[32];
    snprintf(want, sizeof want, "id%d", CW_BOARD_FEED_MAX + 19);
    CHECK(strcmp(cw_board_feed(b, 0)->id, want) == 0, "newest kept");
    CHECK(strcmp(cw_board_feed(b, CW_BOARD_FEED_MAX - 1)->id, "id20") == 0, "oldest dropped");
    cw_board_destroy(&b);
}

/* The story: a call read "warning despair" while a critical lawyer
 * threat on it was unacknowledged; and calls were not sorted by heat. */
static void test_urgency_order_and_ended_calls(void)
{
    cw_board_t *b = cw_board_new();
    start(b, "cool", "amy", "north", 0);
    start(b, "hot", "ben", "north", 0);
    start(b, "lawyer", "cat", "south", 0);
    alert(b, "hot", "h1", "anger", "warning", "customer", 0.8, 10, 1);
    alert(b, "cool", "k1", "dead_air", "warning", "agent", 0.4, 10, 1);
    alert(b, "lawyer", "l1", "escalation", "critical", "customer", 0.5, 10, 2);
    alert(b, "lawyer", "l2", "despair", "warning", "customer", 0.5, 12, 3);
    const cw_board_call_t *order[8];
    size_t n = cw_board_calls_by_urgency(b, 4, order, 8);
    CHECK(n == 3 && strcmp(order[0]->call_id, "lawyer") == 0 && strcmp(order[1]->call_id, "hot") == 0 &&
              strcmp(order[2]->call_id, "cool") == 0,
          "worst unacknowledged alert first, then heat: %s %s %s", n > 0 ? order[0]->call_id : "",
          n > 1 ? order[1]->call_id : "", n > 2 ? order[2]->call_id : "");
    const cw_board_alert_t *w = cw_board_worst_unacked(b, "lawyer");
    CHECK(w && strcmp(w->id, "l1") == 0, "worst is the critical lawyer threat, not the latest despair");
    apply(b, "{\"type\":\"ack\",\"call_id\":\"lawyer\",\"t\":0,\"alert_id\":\"l1\",\"by\":\"s\",\"at\":\"x\"}", 5);
    w = cw_board_worst_unacked(b, "lawyer");
    CHECK(w && strcmp(w->id, "l2") == 0, "once acknowledged, the next worst counts");
    n = cw_board_calls_by_urgency(b, 5, order, 8);
    CHECK(n == 3 && strcmp(order[0]->call_id, "hot") == 0, "equal severity: the hotter call first (%s)",
          n ? order[0]->call_id : "");
    /* An ended call stays, below the live ones, for the configured time. */
    CHECK(cw_board_set_linger(b, -1) == -1, "negative linger refused");
    CHECK(cw_board_set_linger(b, 120) == 0, "linger set");
    apply(b, "{\"type\":\"call_end\",\"call_id\":\"hot\",\"t\":40,\"reason\":\"eof\"}", 10);
    cw_board_tick(b, 10 + CW_BOARD_LINGER_S + 50);
    n = cw_board_calls_by_urgency(b, 60, order, 8);
    CHECK(n == 3 && strcmp(order[2]->call_id, "hot") == 0 && order[2]->ended && cw_board_n_transcript(order[2]) == 0,
          "ended call kept past the default linger, last");
    cw_board_tick(b, 131);
    CHECK(cw_board_find_call(b, "hot") == NULL, "gone after keep_ended_s");
    CHECK(cw_board_calls_by_urgency(b, 131, order, 1) == 1, "cap respected");
    cw_board_destroy(&b);
}

/* Transcripts of a leg in cue mode are spotted phrases, not speech. */
static void test_cue_mode_lines_marked(void)
{
    cw_board_t *b = cw_board_new();
    apply(b, "{\"type\":\"transcript\",\"call_id\":\"c\",\"t\":2,\"leg\":\"agent\",\"t_start\":1,"
             "\"t_end\":2,\"text\":\"hell\",\"words\":[],\"final\":true,\"mode\":\"cue\"}",
          1);
    apply(b, "{\"type\":\"transcript\",\"call_id\":\"c\",\"t\":3,\"leg\":\"agent\",\"t_start\":2,"
             "\"t_end\":3,\"text\":\"please hold\",\"words\":[],\"final\":true}",
          2);
    const cw_board_call_t *c = cw_board_find_call(b, "c");
    CHECK(c && cw_board_n_transcript(c) == 2, "two lines");
    CHECK(c && cw_board_transcript(c, 0)->spotted, "cue-mode line marked spotted");
    CHECK(c && !cw_board_transcript(c, 1)->spotted, "full transcript line not marked");
    cw_board_destroy(&b);
}

int main(void)
{
    test_urgency_order_and_ended_calls();
    test_cue_mode_lines_marked();
    test_calls_alerts_heat();
    test_transcript_and_late_join();
    test_feed_bounded();
    return check_summary("board");
}
