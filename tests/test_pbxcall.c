/* test_pbxcall.c - what both PBX servers share (pbxcall.h): the desk's cap on
 * calls at once (the refusal and its reason, the place given back only when
 * both the server and the source let go), a call's trip through the desk to a
 * source (the silence a late leg owes, the audio, the end reasons of legs on
 * separate streams and of one stream), and a source that outlives its desk.
 * The servers around it are driven end to end by audiosocket_ingest,
 * websocket_ingest and pbx_capacity. */
#include "callwatch/pbxcall.h"

#include "check.h"

#include <string.h>

static cw_pbxcall_opts_t opts_for(const char *call_id, bool leg_streams)
{
    cw_pbxcall_opts_t o = {.call_id = call_id, .agent_id = "alice", .team = "billing", .ingest = "test",
                           .protocol = 7, .rate_hz = 8000, .ring_s = 1.0, .legs = {true, true},
                           .leg_streams = leg_streams};
    return o;
}

static void test_cap(void)
{
    cw_pbxcalls_t *desk = cw_pbxcalls_new(2);
    cw_error_t err;
    cw_error_clear(&err);
    cw_pbxcall_opts_t o = opts_for("c1", true);
    cw_pbxcall_t *a = cw_pbxcall_new(desk, &o, &err), *b = cw_pbxcall_new(desk, &o, &err);
    CHECK(a && b, "two calls fit a desk of 2: %s", err.msg);
    cw_pbxcall_t *c = cw_pbxcall_new(desk, &o, &err);
    CHECK(!c && err.code == CW_ERR_BUSY, "the third is refused (%d)", err.code);
    CHECK(strcmp(err.msg, "this node is at capacity: 2 of 2 calls ([ingest] max_calls); try another node") == 0,
          "reason: %s", err.msg);
    CHECK(strlen(err.msg) <= 123, "fits a WebSocket close reason (%zu bytes)", strlen(err.msg));
    cw_pbxcalls_stats_t st;
    cw_pbxcalls_get_stats(desk, &st);
    CHECK(st.calls == 2 && st.max_calls == 2 && st.refused == 1, "stats %d %d %llu", st.calls, st.max_calls,
          (unsigned long long)st.refused);

    /* A started call keeps its place while the source reads it. */
    cw_pbxcall_attach(a, CW_LEG_AGENT, 0, "1.2.3.4:5");
    cw_pbxcall_start(a, "test call");
    cw_pbxcall_release(&a);
    CHECK(a == NULL, "release NULLs");
    cw_pbxcalls_get_stats(desk, &st);
    CHECK(st.calls == 2, "still 2 while queued (%d)", st.calls);
    cw_source_t *src = NULL;
    cw_pbxcall_info_t info;
    CHECK(cw_pbxcalls_take(desk, &src, &info, &err) == 1 && src, "taken");
    cw_source_destroy(&src);
    cw_pbxcalls_get_stats(desk, &st);
    CHECK(st.calls == 1, "the place is given back once server and source let go (%d)", st.calls);
    c = cw_pbxcall_new(desk, &o, &err);
    CHECK(c != NULL, "a new call fits again");
    cw_pbxcall_release(&b);
    cw_pbxcall_release(&c);
    cw_pbxcalls_destroy(&desk);
    CHECK(desk == NULL, "destroy NULLs");

    cw_pbxcalls_t *free_desk = cw_pbxcalls_new(0);
    cw_pbxcall_t *many[50];
    int made = 0;
    for (int i = 0; i < 50; i++)
        made += (many[i] = cw_pbxcall_new(free_desk, &o, &err)) != NULL;
    CHECK(made == 50, "max_calls 0 = no cap (%d)", made);
    for (int i = 0; i < 50; i++)
        cw_pbxcall_release(&many[i]);
    cw_pbxcalls_destroy(&free_desk);
    CHECK(cw_pbxcalls_new(-1) == NULL, "a negative cap is refused");
}

/* Pulls until EOF (at most `rounds` pulls); returns frames per leg. */
static void pull_all(cw_source_t *src, size_t got[CW_LEG_COUNT], float first[CW_LEG_COUNT][600], int rounds)
{
    float a[256], c[256];
    float *out[CW_LEG_COUNT] = {a, c};
    got[0] = got[1] = 0;
    for (int r = 0; r < rounds; r++) {
        size_t n[CW_LEG_COUNT] = {0, 0};
        cw_error_t err;
        cw_pull_status st = cw_source_pull(src, out, 256, n, &err);
        for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
            for (size_t i = 0; i < n[leg] && got[leg] + i < 600; i++)
                first[leg][got[leg] + i] = out[leg][i];
            got[leg] += n[leg];
        }
        if (st == CW_PULL_EOF)
            return;
    }
}

static void test_trip(void)
{
    cw_pbxcalls_t *desk = cw_pbxcalls_new(4);
    cw_error_t err;
    cw_error_clear(&err);
    cw_pbxcall_opts_t o = opts_for("call-42", true);
    cw_pbxcall_t *call = cw_pbxcall_new(desk, &o, &err);
    int16_t samples[300];
    for (int i = 0; i < 300; i++)
        samples[i] = 16384;
    cw_pbxcall_attach(call, CW_LEG_AGENT, 0, "10.0.0.1:4000");
    CHECK(!cw_pbxcall_write(call, CW_LEG_AGENT, samples, 100), "no drop");
    /* The customer joins 100 samples late: it owes 100 of silence. */
    CHECK(cw_pbxcall_position(call, CW_LEG_AGENT) == 100, "agent position");
    cw_pbxcall_attach(call, CW_LEG_CUSTOMER, cw_pbxcall_position(call, CW_LEG_AGENT), "10.0.0.1:4001");
    CHECK(strcmp(cw_pbxcall_peer(call, CW_LEG_CUSTOMER), "10.0.0.1:4001") == 0, "peer");
    cw_pbxcall_write(call, CW_LEG_CUSTOMER, samples, 50);
    cw_pbxcall_start(call, "AudioSocket agent 10.0.0.1:4000 customer 10.0.0.1:4001 (slin 8000 Hz)");
    cw_source_t *src = NULL;
    cw_pbxcall_info_t info;
    CHECK(cw_pbxcalls_take(desk, &src, &info, &err) == 1, "taken");
    CHECK(strcmp(info.call_id, "call-42") == 0 && strcmp(info.agent_id, "alice") == 0 &&
          strcmp(info.team, "billing") == 0 && strcmp(info.ingest, "test") == 0 && info.protocol == 7 &&
          info.rate_hz == 8000 && info.has_leg[0] && info.has_leg[1], "info");
    const cw_source_info_t *si = cw_source_info(src);
    CHECK(si->rate_hz[0] == 8000 && strstr(si->description, "customer 10.0.0.1:4001"), "source info %s",
          si->description);
    cw_pbxcall_end_leg(call, CW_LEG_AGENT, true, "hangup");
    cw_pbxcall_end_leg(call, CW_LEG_CUSTOMER, false, "nothing received for 10000 ms");
    size_t got[CW_LEG_COUNT];
    static float first[CW_LEG_COUNT][600];
    pull_all(src, got, first, 100);
    CHECK(got[0] == 100 && got[1] == 150, "frames %zu %zu", got[0], got[1]);
    CHECK(first[1][99] == 0.0f && first[1][100] == 0.5f && first[0][0] == 0.5f, "padding then audio");
    const char *why = cw_source_end_reason(src);
    CHECK(why && strcmp(why, "disconnect: customer leg: nothing received for 10000 ms") == 0, "reason %s",
          why ? why : "(null)");
    /* The desk goes first: the source still reads its call. */
    cw_pbxcall_release(&call);
    cw_pbxcalls_destroy(&desk);
    cw_source_stats_t ss;
    cw_source_get_stats(src, &ss);
    CHECK(ss.frames_delivered[1] == 150 && ss.frames_dropped[1] == 0, "stats after the desk is gone");
    cw_source_destroy(&src);

    /* One stream for both legs: the reason names no leg; a full ring drops and says so once. */
    desk = cw_pbxcalls_new(0);
    o = opts_for("ws-1", false);
    o.legs[CW_LEG_AGENT] = false;
    call = cw_pbxcall_new(desk, &o, &err);
    cw_pbxcall_attach(call, CW_LEG_CUSTOMER, 0, "10.0.0.2:5000");
    bool first_drop = false, again = false;
    for (int i = 0; i < 100; i++) {
        bool d = cw_pbxcall_write(call, CW_LEG_CUSTOMER, samples, 300);
        again = again || (d && first_drop);
        first_drop = first_drop || d;
    }
    CHECK(first_drop && !again, "a full ring is reported once");
    cw_pbxcall_start(call, "WebSocket /twilio from 10.0.0.2:5000 (8000 Hz)");
    CHECK(cw_pbxcalls_take(desk, &src, &info, &err) == 1 && !info.has_leg[0] && info.has_leg[1], "one leg");
    cw_pbxcall_end(call, false, "protocol error: media before start");
    pull_all(src, got, first, 1000);
    why = cw_source_end_reason(src);
    CHECK(why && strcmp(why, "disconnect: protocol error: media before start") == 0, "reason %s",
          why ? why : "(null)");
    cw_source_get_stats(src, &ss);
    CHECK(ss.frames_dropped[1] > 0 && ss.frames_dropped[0] == 0, "drops counted %llu",
          (unsigned long long)ss.frames_dropped[1]);
    cw_source_destroy(&src);
    cw_pbxcall_release(&call);
    cw_pbxcalls_destroy(&desk);
}

int main(void)
{
    test_cap();
    test_trip();
    return check_summary("test_pbxcall");
}
