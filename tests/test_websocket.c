/* test_websocket.c - the WebSocket media-stream decoders (wsmedia.h): which
 * path is which protocol, G.711 u-law, and for each protocol the metadata a
 * call_start carries, the audio of each leg, the replies AudioHook expects,
 * the normal end, and the error each kind of bad input gets. The server
 * itself (websocket.h) is driven end to end by tests/websocket_ingest.sh. */
#include "callwatch/wsmedia.h"

#include "check.h"

#include <stdio.h>
#include <string.h>

#define MAX_MSG 4096

/* Feeds a text message; returns the feed's status. */
static int feed_text(cw_wsmedia_session_t *s, const char *text, cw_wsmedia_result_t *r, cw_error_t *err)
{
    cw_error_clear(err);
    return cw_wsmedia_session_feed(s, false, (const uint8_t *)text, strlen(text), r, err);
}

static int feed_bin(cw_wsmedia_session_t *s, const uint8_t *data, size_t n, cw_wsmedia_result_t *r, cw_error_t *err)
{
    cw_error_clear(err);
    return cw_wsmedia_session_feed(s, true, data, n, r, err);
}

/* Opens a session of protocol, feeds text and expects an error containing want. */
static void expect_error(cw_wsmedia_protocol protocol, const char *first, const char *text, bool binary,
                         const char *want)
{
    cw_wsmedia_session_t *s = cw_wsmedia_session_new(protocol, MAX_MSG);
    cw_wsmedia_result_t r;
    cw_error_t err;
    if (first)
        CHECK(feed_text(s, first, &r, &err) == CW_OK, "%s: setup message refused: %s", want, err.msg);
    cw_error_clear(&err);
    int rc = cw_wsmedia_session_feed(s, binary, (const uint8_t *)text, strlen(text), &r, &err);
    CHECK(rc == CW_ERR_FORMAT && strstr(err.msg, want), "want '%s', got %d '%s'", want, rc, err.msg);
    /* A failed session stays failed, with the same reason. */
    rc = feed_text(s, "{}", &r, &err);
    CHECK(rc == CW_ERR_FORMAT && strstr(err.msg, want), "still failed: '%s'", err.msg);
    cw_wsmedia_session_destroy(&s);
    CHECK(s == NULL, "destroy NULLs");
}

static void test_paths_and_ulaw(void)
{
    CHECK(cw_wsmedia_protocol_for_path("/freeswitch") == CW_WSMEDIA_FREESWITCH, "/freeswitch");
    CHECK(cw_wsmedia_protocol_for_path("/twilio?x=1") == CW_WSMEDIA_TWILIO, "/twilio?x=1");
    CHECK(cw_wsmedia_protocol_for_path("/audiohook/") == CW_WSMEDIA_AUDIOHOOK, "/audiohook/");
    CHECK(cw_wsmedia_protocol_for_path("/twilios") == -1, "/twilios");
    CHECK(cw_wsmedia_protocol_for_path("/") == -1 && cw_wsmedia_protocol_for_path("") == -1, "/ and empty");
    CHECK(cw_wsmedia_ulaw_decode(0xff) == 0 && cw_wsmedia_ulaw_decode(0x7f) == 0, "u-law zero");
    CHECK(cw_wsmedia_ulaw_decode(0x80) == 32124 && cw_wsmedia_ulaw_decode(0x00) == -32124, "u-law extremes %d %d",
          cw_wsmedia_ulaw_decode(0x80), cw_wsmedia_ulaw_decode(0x00));
    CHECK(cw_wsmedia_ulaw_decode(0xfe) == 8 && cw_wsmedia_ulaw_decode(0x7e) == -8, "u-law smallest step %d",
          cw_wsmedia_ulaw_decode(0xfe));
    CHECK(cw_wsmedia_session_new(CW_WSMEDIA_TWILIO, 10) == NULL, "max_message below 64 refused");
}

static void test_freeswitch(void)
{
    cw_wsmedia_session_t *s = cw_wsmedia_session_new(CW_WSMEDIA_FREESWITCH, MAX_MSG);
    cw_wsmedia_result_t r;
    cw_error_t err;
    int rc = feed_text(s, "{\"call_id\":\"fs-1\",\"agent_id\":\"a7\",\"team\":\"billing\",\"sample_rate\":16000,"
                          "\"channels\":2,\"agent_channel\":1}", &r, &err);
    const cw_wsmedia_meta_t *m = cw_wsmedia_session_meta(s);
    CHECK(rc == CW_OK && (r.events & CW_WSMEDIA_STARTED) && cw_wsmedia_session_started(s), "metadata: %s", err.msg);
    CHECK(strcmp(m->call_id, "fs-1") == 0 && strcmp(m->agent_id, "a7") == 0 && strcmp(m->team, "billing") == 0 &&
          m->rate_hz == 16000 && m->has_leg[0] && m->has_leg[1], "meta %s %s %s %d", m->call_id, m->agent_id,
          m->team, m->rate_hz);
    /* Two stereo frames: (ch0, ch1) = (1, -2), (256, 32767); channel 1 is the agent. */
    const uint8_t pcm[] = {1, 0, 0xfe, 0xff, 0, 1, 0xff, 0x7f};
    rc = feed_bin(s, pcm, sizeof pcm, &r, &err);
    CHECK(rc == CW_OK && (r.events & CW_WSMEDIA_AUDIO) && r.n[CW_LEG_AGENT] == 2 && r.n[CW_LEG_CUSTOMER] == 2,
          "two frames: %s", err.msg);
    CHECK(r.samples[CW_LEG_CUSTOMER][0] == 1 && r.samples[CW_LEG_CUSTOMER][1] == 256 &&
          r.samples[CW_LEG_AGENT][0] == -2 && r.samples[CW_LEG_AGENT][1] == 32767, "samples by agent_channel");
    CHECK(feed_text(s, "{\"anything\": 1}", &r, &err) == CW_OK && r.events == 0, "later text ignored");
    rc = feed_bin(s, pcm, 6, &r, &err);
    CHECK(rc == CW_ERR_FORMAT && strstr(err.msg, "not whole 2-channel 16-bit frames"), "partial frame: %s", err.msg);
    cw_wsmedia_session_destroy(&s);

    s = cw_wsmedia_session_new(CW_WSMEDIA_FREESWITCH, MAX_MSG);
    rc = feed_text(s, "{\"call_id\":\"fs-2\",\"sample_rate\":8000,\"channels\":1,\"leg\":\"agent\"}", &r, &err);
    m = cw_wsmedia_session_meta(s);
    CHECK(rc == CW_OK && m->has_leg[CW_LEG_AGENT] && !m->has_leg[CW_LEG_CUSTOMER] && !m->agent_id[0],
          "mono agent leg: %s", err.msg);
    rc = feed_bin(s, pcm, 4, &r, &err);
    CHECK(rc == CW_OK && r.n[CW_LEG_AGENT] == 2 && r.n[CW_LEG_CUSTOMER] == 0 && r.samples[CW_LEG_AGENT][1] == -2,
          "mono samples");
    cw_wsmedia_session_destroy(&s);

    expect_error(CW_WSMEDIA_FREESWITCH, NULL, "\x01\x02", true, "binary audio (2 bytes) before the metadata");
    expect_error(CW_WSMEDIA_FREESWITCH, NULL, "{\"call_id\":\"x\",", false, "malformed JSON at line 1");
    expect_error(CW_WSMEDIA_FREESWITCH, NULL, "[1,2]", false, "JSON but not an object");
    expect_error(CW_WSMEDIA_FREESWITCH, NULL, "{\"call_id\":\"x\",\"sample_rate\":44100,\"channels\":2}", false,
                 "sample_rate 44100 not supported");
    expect_error(CW_WSMEDIA_FREESWITCH, NULL, "{\"sample_rate\":8000,\"channels\":2}", false, "call_id missing");
    expect_error(CW_WSMEDIA_FREESWITCH, NULL, "{\"call_id\":\"x\",\"sample_rate\":8000,\"channels\":3}", false,
                 "channels must be 1");
    expect_error(CW_WSMEDIA_FREESWITCH, NULL, "{\"call_id\":\"x\",\"sample_rate\":8000,\"channels\":2,\"team\":5.5}",
                 false, "agent_id and team must be strings");
}

static const char *const twilio_start =
    "{\"event\":\"start\",\"sequenceNumber\":\"1\",\"start\":{\"callSid\":\"CA123\",\"streamSid\":\"MZ1\","
    "\"tracks\":[\"inbound\",\"outbound\"],\"mediaFormat\":{\"encoding\":\"audio/x-mulaw\",\"sampleRate\":8000,"
    "\"channels\":1},\"customParameters\":{\"agent_id\":\"a9\",\"team\":\"retention\"}},\"streamSid\":\"MZ1\"}";

static void test_twilio(void)
{
    cw_wsmedia_session_t *s = cw_wsmedia_session_new(CW_WSMEDIA_TWILIO, MAX_MSG);
    cw_wsmedia_result_t r;
    cw_error_t err;
    CHECK(feed_text(s, "{\"event\":\"connected\",\"protocol\":\"Call\",\"version\":\"1.0.0\"}", &r, &err) == CW_OK &&
          r.events == 0, "connected: nothing yet");
    int rc = feed_text(s, twilio_start, &r, &err);
    const cw_wsmedia_meta_t *m = cw_wsmedia_session_meta(s);
    CHECK(rc == CW_OK && (r.events & CW_WSMEDIA_STARTED), "start: %s", err.msg);
    CHECK(strcmp(m->call_id, "CA123") == 0 && strcmp(m->agent_id, "a9") == 0 && strcmp(m->team, "retention") == 0 &&
          m->rate_hz == 8000 && m->has_leg[0] && m->has_leg[1], "meta %s %s %s", m->call_id, m->agent_id, m->team);
    /* "//A/" is base64 of ff f0 3f: u-law 0, 0xf0 (positive), 0x3f (negative). */
    rc = feed_text(s, "{\"event\":\"media\",\"media\":{\"track\":\"inbound\",\"payload\":\"//A/\"}}", &r, &err);
    CHECK(rc == CW_OK && r.n[CW_LEG_CUSTOMER] == 3 && r.n[CW_LEG_AGENT] == 0, "inbound = customer: %s", err.msg);
    CHECK(r.n[CW_LEG_CUSTOMER] == 3 && r.samples[CW_LEG_CUSTOMER][0] == 0 &&
          r.samples[CW_LEG_CUSTOMER][1] == cw_wsmedia_ulaw_decode(0xf0) &&
          r.samples[CW_LEG_CUSTOMER][2] == cw_wsmedia_ulaw_decode(0x3f), "decoded u-law");
    rc = feed_text(s, "{\"event\":\"media\",\"media\":{\"track\":\"outbound\",\"payload\":\"gICA\"}}", &r, &err);
    CHECK(rc == CW_OK && r.n[CW_LEG_AGENT] == 3 && r.samples[CW_LEG_AGENT][0] == 32124, "outbound = agent");
    /* The agent track resumes at 2 ms after 3 samples (0.375 ms): 13 samples of silence come first. */
    rc = feed_text(s, "{\"event\":\"media\",\"media\":{\"track\":\"outbound\",\"timestamp\":\"2\","
                      "\"payload\":\"gICA\"}}", &r, &err);
    CHECK(rc == CW_OK && r.n[CW_LEG_AGENT] == 16 && r.samples[CW_LEG_AGENT][12] == 0 &&
          r.samples[CW_LEG_AGENT][13] == 32124, "a gap in a track becomes silence: %zu samples", r.n[CW_LEG_AGENT]);
    rc = feed_text(s, "{\"event\":\"media\",\"media\":{\"track\":\"outbound\",\"timestamp\":\"1\","
                      "\"payload\":\"gICA\"}}", &r, &err);
    CHECK(rc == CW_OK && r.n[CW_LEG_AGENT] == 3, "a timestamp behind the audio adds nothing");
    CHECK(feed_text(s, "{\"event\":\"mark\",\"mark\":{\"name\":\"x\"}}", &r, &err) == CW_OK, "mark ignored");
    rc = feed_text(s, "{\"event\":\"stop\",\"stop\":{\"callSid\":\"CA123\"}}", &r, &err);
    CHECK(rc == CW_OK && (r.events & CW_WSMEDIA_ENDED) && cw_wsmedia_session_ended(s), "stop ends the stream");
    rc = feed_text(s, "{\"event\":\"media\"}", &r, &err);
    CHECK(rc == CW_ERR_FORMAT && strstr(err.msg, "after the end of the stream"), "after stop: %s", err.msg);
    cw_wsmedia_session_destroy(&s);

    expect_error(CW_WSMEDIA_TWILIO, NULL, "{\"event\":\"media\",\"media\":{\"track\":\"inbound\",\"payload\":\"\"}}",
                 false, "media before the start message");
    expect_error(CW_WSMEDIA_TWILIO, NULL, "{\"event\":\"start\",\"start\":{\"callSid\":\"CA1\",\"tracks\":[\"inbound\"],"
                 "\"mediaFormat\":{\"encoding\":\"audio/x-alaw\"}}}", false, "mediaFormat must be audio/x-mulaw");
    expect_error(CW_WSMEDIA_TWILIO, NULL, "{\"event\":\"start\",\"start\":{\"tracks\":[\"inbound\"]}}", false,
                 "callSid missing");
    expect_error(CW_WSMEDIA_TWILIO, twilio_start, "{\"event\":\"media\",\"media\":{\"track\":\"inbound\","
                 "\"payload\":\"!!!\"}}", false, "payload is not base64");
    expect_error(CW_WSMEDIA_TWILIO, twilio_start, "{\"event\":\"media\",\"media\":{\"track\":\"sideways\","
                 "\"payload\":\"\"}}", false, "track sideways is not one the start message announced");
    expect_error(CW_WSMEDIA_TWILIO, twilio_start, "{\"event\":\"media\",\"media\":{\"track\":\"inbound\","
                 "\"timestamp\":\"99999999\",\"payload\":\"\"}}", false, "timestamp 99999999 ms is over 60 s ahead");
    expect_error(CW_WSMEDIA_TWILIO, NULL, "abc", true, "Twilio sends JSON text only");
    expect_error(CW_WSMEDIA_TWILIO, NULL, "{\"sequenceNumber\":\"1\"}", false, "without an \"event\" string");
    expect_error(CW_WSMEDIA_TWILIO, twilio_start, twilio_start, false, "a second start message");
}

static const char *const audiohook_open =
    "{\"version\":\"2\",\"type\":\"open\",\"seq\":1,\"serverseq\":0,\"id\":\"sess-1\",\"position\":\"PT0S\","
    "\"parameters\":{\"organizationId\":\"o\",\"conversationId\":\"conv-1\",\"participant\":{\"id\":\"p\","
    "\"ani\":\"+1555\"},\"media\":[{\"type\":\"audio\",\"format\":\"L16\",\"channels\":[\"external\"],\"rate\":16000},"
    "{\"type\":\"audio\",\"format\":\"PCMU\",\"channels\":[\"external\",\"internal\"],\"rate\":8000}],"
    "\"customConfig\":{\"agent_id\":\"a3\",\"team\":\"tech\"}}}";

static void test_audiohook(void)
{
    cw_wsmedia_session_t *s = cw_wsmedia_session_new(CW_WSMEDIA_AUDIOHOOK, MAX_MSG);
    cw_wsmedia_result_t r;
    cw_error_t err;
    int rc = feed_text(s, audiohook_open, &r, &err);
    const cw_wsmedia_meta_t *m = cw_wsmedia_session_meta(s);
    CHECK(rc == CW_OK && (r.events & CW_WSMEDIA_STARTED) && (r.events & CW_WSMEDIA_REPLY), "open: %s", err.msg);
    CHECK(strcmp(m->call_id, "conv-1") == 0 && strcmp(m->agent_id, "a3") == 0 && strcmp(m->team, "tech") == 0 &&
          m->rate_hz == 8000, "meta %s %s %s", m->call_id, m->agent_id, m->team);
    CHECK(r.reply && strstr(r.reply, "\"type\":\"opened\"") && strstr(r.reply, "\"id\":\"sess-1\"") &&
          strstr(r.reply, "\"clientseq\":1") && strstr(r.reply, "\"format\":\"PCMU\"") &&
          !strstr(r.reply, "L16"), "opened picks the PCMU offer: %s", r.reply ? r.reply : "(none)");
    /* external (customer) first: 0x80 = +32124, internal (agent) 0x00 = -32124. */
    const uint8_t frames[] = {0x80, 0x00, 0xff, 0xfe};
    rc = feed_bin(s, frames, sizeof frames, &r, &err);
    CHECK(rc == CW_OK && r.n[0] == 2 && r.n[1] == 2 && r.samples[CW_LEG_CUSTOMER][0] == 32124 &&
          r.samples[CW_LEG_AGENT][0] == -32124 && r.samples[CW_LEG_AGENT][1] == 8, "PCMU stereo: %s", err.msg);
    rc = feed_text(s, "{\"version\":\"2\",\"type\":\"ping\",\"seq\":2,\"id\":\"sess-1\",\"parameters\":{}}", &r, &err);
    CHECK(rc == CW_OK && r.reply && strstr(r.reply, "\"type\":\"pong\"") && strstr(r.reply, "\"seq\":2") &&
          strstr(r.reply, "\"clientseq\":2"), "ping -> pong: %s", r.reply ? r.reply : err.msg);
    rc = feed_text(s, "{\"version\":\"2\",\"type\":\"close\",\"seq\":3,\"id\":\"sess-1\",\"parameters\":"
                      "{\"reason\":\"end\"}}", &r, &err);
    CHECK(rc == CW_OK && (r.events & CW_WSMEDIA_ENDED) && r.reply && strstr(r.reply, "\"type\":\"closed\""),
          "close -> closed and the end: %s", r.reply ? r.reply : err.msg);
    cw_wsmedia_session_destroy(&s);

    /* After open, an error is said to the peer in a "disconnect" before the close. */
    s = cw_wsmedia_session_new(CW_WSMEDIA_AUDIOHOOK, MAX_MSG);
    feed_text(s, audiohook_open, &r, &err);
    CHECK(cw_wsmedia_session_farewell(s) == NULL, "no farewell while all is well");
    rc = feed_text(s, "{\"version\":\"2\",\"type\":", &r, &err);
    const char *bye = cw_wsmedia_session_farewell(s);
    CHECK(rc == CW_ERR_FORMAT && bye && strstr(bye, "\"type\":\"disconnect\"") && strstr(bye, "\"reason\":\"error\"") &&
          strstr(bye, "malformed JSON") && strstr(bye, "\"id\":\"sess-1\""), "disconnect on error: %s",
          bye ? bye : "(none)");
    cw_wsmedia_session_destroy(&s);
    s = cw_wsmedia_session_new(CW_WSMEDIA_TWILIO, MAX_MSG);
    feed_text(s, "nonsense", &r, &err);
    CHECK(cw_wsmedia_session_farewell(s) == NULL, "Twilio has no farewell");
    cw_wsmedia_session_destroy(&s);

    expect_error(CW_WSMEDIA_AUDIOHOOK, NULL, "\x80\x01", true, "binary audio (2 bytes) before the open message");
    expect_error(CW_WSMEDIA_AUDIOHOOK, NULL, "{\"version\":\"2\",\"type\":\"open\",\"seq\":1,\"id\":\"s\","
                 "\"parameters\":{\"conversationId\":\"c\",\"media\":[{\"type\":\"audio\",\"format\":\"L16\","
                 "\"channels\":[\"external\"],\"rate\":16000}]}}", false, "no media offer of PCMU 8000 Hz");
    expect_error(CW_WSMEDIA_AUDIOHOOK, NULL, "{\"version\":\"2\",\"type\":\"ping\",\"seq\":1,\"id\":\"s\"}", false,
                 "a ping message before open");
    expect_error(CW_WSMEDIA_AUDIOHOOK, NULL, "{\"version\":\"2\",\"type\":\"open\"}", false,
                 "without a \"type\" string and a \"seq\" number");
    expect_error(CW_WSMEDIA_AUDIOHOOK, audiohook_open, "\x80\x01\x02", true, "not whole 2-channel PCMU frames");
}

static void test_oversize(void)
{
    static char big[MAX_MSG + 2];
    memset(big, ' ', sizeof big - 1);
    big[0] = '{';
    big[sizeof big - 2] = '}';
    for (int p = 0; p < CW_WSMEDIA_PROTOCOLS; p++) {
        char want[128];
        snprintf(want, sizeof want, "a text message of %d bytes, over the maximum of %d", MAX_MSG + 1, MAX_MSG);
        expect_error((cw_wsmedia_protocol)p, NULL, big, false, want);
    }
}

int main(void)
{
    test_paths_and_ulaw();
    test_freeswitch();
    test_twilio();
    test_audiohook();
    test_oversize();
    return check_summary("websocket");
}
