/* test_event.c - events serialise to exactly the contract's JSON. */
#include "callwatch/event.h"

#include "check.h"

#include <jansson.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Expected field: name and kind ('s' string, 'r' real, 'i' integer,
 * 'b' boolean, 'o' object, 'a' array). */
typedef struct field {
    const char *key;
    char kind;
} field_t;

static bool kind_ok(const json_t *v, char kind)
{
    switch (kind) {
    case 's': return json_is_string(v);
    case 'r': return json_is_real(v);
    case 'i': return json_is_integer(v);
    case 'b': return json_is_boolean(v);
    case 'o': return json_is_object(v);
    case 'a': return json_is_array(v);
    default: return false;
    }
}

/* obj has exactly these fields, with these kinds. */
static void check_fields(const char *what, const json_t *obj, const field_t *fields, size_t n)
{
    CHECK(json_is_object(obj), "%s: not an object", what);
    if (!json_is_object(obj))
        return;
    CHECK(json_object_size(obj) == n, "%s: %zu fields, want %zu", what, json_object_size(obj),
          n);
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(obj, fields[i].key);
        CHECK(v != NULL, "%s: missing %s", what, fields[i].key);
        if (v)
            CHECK(kind_ok(v, fields[i].kind), "%s: %s has the wrong type", what,
                  fields[i].key);
    }
}

/* Parses an event's JSON; also checks the framing promises. */
static json_t *parse(const cw_event_t *ev)
{
    CHECK(ev != NULL, "event is NULL");
    if (!ev)
        return NULL;
    CHECK(ev->json_len == strlen(ev->json), "json_len %zu vs strlen %zu", ev->json_len,
          strlen(ev->json));
    CHECK(strchr(ev->json, '\n') == NULL, "newline in %s", ev->json);
    CHECK(strncmp(ev->json, "{\"type\":", 8) == 0, "type is not first: %s", ev->json);
    json_error_t jerr;
    json_t *obj = json_loads(ev->json, 0, &jerr);
    CHECK(obj != NULL, "does not parse: %s (%s)", jerr.text, ev->json);
    return obj;
}

static const char *str_of(const json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "(missing)";
}

static double num_of(const json_t *obj, const char *key)
{
    return json_number_value(json_object_get(obj, key));
}

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

static bool is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* "2024-05-01T12:34:56.789Z" */
static bool is_iso8601_utc_ms(const char *s)
{
    return strlen(s) == 24 && is_digits(s, 4) && s[4] == '-' && is_digits(s + 5, 2) &&
           s[7] == '-' && is_digits(s + 8, 2) && s[10] == 'T' && is_digits(s + 11, 2) &&
           s[13] == ':' && is_digits(s + 14, 2) && s[16] == ':' && is_digits(s + 17, 2) &&
           s[19] == '.' && is_digits(s + 20, 3) && s[23] == 'Z' && strncmp(s, "2020", 4) >= 0;
}

static void test_call_start(void)
{
    cw_call_meta_t meta = {
        .line = "file",
        .agent_id = "a-17",
        .source = "call.wav (stereo, 8000 Hz)",
        .rate_hz = {8000, 16000},
        .has_leg = {1, 1},
    };
    cw_event_t *ev = cw_event_call_start("c1", 0.0, &meta);
    json_t *obj = parse(ev);
    static const field_t fields[] = {
        {"type", 's'}, {"call_id", 's'}, {"t", 'r'},      {"line", 's'},
        {"agent_id", 's'}, {"source", 's'}, {"legs", 'o'}, {"started_at", 's'},
    };
    check_fields("call_start", obj, fields, sizeof fields / sizeof fields[0]);
    CHECK(ev && strcmp(ev->topic, "call.c1") == 0, "topic %s", ev ? ev->topic : "-");
    CHECK(ev && strcmp(ev->type, "call_start") == 0, "type %s", ev ? ev->type : "-");
    CHECK(strcmp(str_of(obj, "type"), "call_start") == 0, "type field");
    CHECK(strcmp(str_of(obj, "call_id"), "c1") == 0, "call_id field");
    CHECK(strcmp(str_of(obj, "agent_id"), "a-17") == 0, "agent_id field");
    CHECK(is_iso8601_utc_ms(str_of(obj, "started_at")), "started_at %s",
          str_of(obj, "started_at"));
    json_t *legs = json_object_get(obj, "legs");
    CHECK(json_object_size(legs) == 2, "two legs");
    static const field_t leg_fields[] = {{"rate_hz", 'i'}};
    check_fields("legs.agent", json_object_get(legs, "agent"), leg_fields, 1);
    check_fields("legs.customer", json_object_get(legs, "customer"), leg_fields, 1);
    CHECK(json_integer_value(json_object_get(json_object_get(legs, "agent"), "rate_hz")) == 8000,
          "agent rate");
    CHECK(json_integer_value(json_object_get(json_object_get(legs, "customer"), "rate_hz")) ==
              16000,
          "customer rate");
    json_decref(obj);
    cw_event_destroy(&ev);
    CHECK(ev == NULL, "destroy NULLs the pointer");

    /* One leg, NULL strings omitted. */
    cw_call_meta_t mono = {.rate_hz = {0, 44100}, .has_leg = {0, 1}};
    ev = cw_event_call_start("c2", 1.5, &mono);
    obj = parse(ev);
    static const field_t mono_fields[] = {
        {"type", 's'}, {"call_id", 's'}, {"t", 'r'}, {"legs", 'o'}, {"started_at", 's'},
    };
    check_fields("call_start mono", obj, mono_fields, sizeof mono_fields / sizeof mono_fields[0]);
    legs = json_object_get(obj, "legs");
    CHECK(json_object_size(legs) == 1 && json_object_get(legs, "customer"),
          "only the customer leg");
    json_decref(obj);
    cw_event_destroy(&ev);

    /* No meta at all. */
    ev = cw_event_call_start("c3", 0.0, NULL);
    obj = parse(ev);
    CHECK(json_object_size(json_object_get(obj, "legs")) == 0, "legs {} without meta");
    json_decref(obj);
    cw_event_destroy(&ev);

    CHECK(cw_event_call_start(NULL, 0.0, &meta) == NULL, "NULL call_id");
}

static void test_call_end(void)
{
    unsigned long long dropped[2] = {0, 42};
    cw_event_t *ev = cw_event_call_end("c1", 93.25, "eof", 93.2500004, dropped, NULL);
    json_t *obj = parse(ev);
    static const field_t fields[] = {
        {"type", 's'}, {"call_id", 's'}, {"t", 'r'}, {"reason", 's'},
        {"duration_s", 'r'}, {"frames_dropped", 'o'},
    };
    check_fields("call_end", obj, fields, sizeof fields / sizeof fields[0]);
    static const field_t drop_fields[] = {{"agent", 'i'}, {"customer", 'i'}};
    json_t *fd = json_object_get(obj, "frames_dropped");
    check_fields("frames_dropped", fd, drop_fields, 2);
    CHECK(json_integer_value(json_object_get(fd, "customer")) == 42, "customer drops");
    CHECK(json_integer_value(json_object_get(fd, "agent")) == 0, "agent drops");
    CHECK(ev && strcmp(ev->topic, "call.c1") == 0, "topic %s", ev ? ev->topic : "-");
    CHECK(strcmp(str_of(obj, "reason"), "eof") == 0, "reason");
    CHECK(near(num_of(obj, "duration_s"), 93.25), "duration_s %g", num_of(obj, "duration_s"));
    CHECK(ev && strstr(ev->json, "\"duration_s\":93.25,"), "duration printed short: %s",
          ev ? ev->json : "-");
    json_decref(obj);
    cw_event_destroy(&ev);

    ev = cw_event_call_end("c1", 1.0, NULL, 1.0, NULL, NULL);
    obj = parse(ev);
    CHECK(strcmp(str_of(obj, "reason"), "unknown") == 0, "NULL reason");
    fd = json_object_get(obj, "frames_dropped");
    CHECK(json_integer_value(json_object_get(fd, "agent")) == 0 &&
              json_integer_value(json_object_get(fd, "customer")) == 0,
          "NULL frames_dropped is zeros");
    json_decref(obj);
    cw_event_destroy(&ev);
}

static void test_transcript(void)
{
    cw_word_t words[3] = {
        {.w = "my", .t_start = 1.0, .t_end = 1.2, .conf = 0.91},
        {.w = "bill", .t_start = 1.2, .t_end = 1.55, .conf = 0.8765432},
        {.w = "again", .t_start = 1.55, .t_end = 2.1, .conf = 1.0},
    };
    cw_transcript_t tr = {
        .leg = 1,
        .final = true,
        .t_start = 0.98,
        .t_end = 2.1,
        .text = "my bill again",
        .words = words,
        .n_words = 3,
        .utterance = 4,
    };
    cw_event_t *ev = cw_event_transcript("c9", 2.5, &tr);
    json_t *obj = parse(ev);
    static const field_t fields[] = {
        {"type", 's'},  {"call_id", 's'}, {"t", 'r'},     {"leg", 's'},   {"t_start", 'r'},
        {"t_end", 'r'}, {"text", 's'},    {"words", 'a'}, {"final", 'b'}, {"utterance", 'i'},
    };
    check_fields("transcript", obj, fields, sizeof fields / sizeof fields[0]);
    CHECK(ev && strcmp(ev->topic, "transcript.customer.c9") == 0, "topic %s",
          ev ? ev->topic : "-");
    CHECK(ev && strcmp(ev->type, "transcript") == 0, "type");
    CHECK(strcmp(str_of(obj, "leg"), "customer") == 0, "leg");
    CHECK(strcmp(str_of(obj, "text"), "my bill again") == 0, "text");
    CHECK(json_is_true(json_object_get(obj, "final")), "final");
    CHECK(json_integer_value(json_object_get(obj, "utterance")) == 4, "utterance");
    json_t *jw = json_object_get(obj, "words");
    CHECK(json_array_size(jw) == 3, "3 words");
    static const field_t word_fields[] = {
        {"w", 's'}, {"t_start", 'r'}, {"t_end", 'r'}, {"conf", 'r'},
    };
    for (size_t i = 0; i < json_array_size(jw); i++) {
        json_t *w = json_array_get(jw, i);
        check_fields("word", w, word_fields, 4);
        CHECK(strcmp(str_of(w, "w"), words[i].w) == 0, "word %zu", i);
        CHECK(near(num_of(w, "t_start"), words[i].t_start), "word %zu t_start", i);
    }
    CHECK(near(num_of(json_array_get(jw, 1), "conf"), 0.877), "conf rounded to 0.001");
    CHECK(near(num_of(json_array_get(jw, 2), "conf"), 1.0), "conf 1.0 stays a real");
    json_decref(obj);
    cw_event_destroy(&ev);

    /* A partial hypothesis on the agent leg with no words yet. */
    cw_transcript_t partial = {.leg = 0, .final = false, .t_start = 3.0, .t_end = 3.4,
                               .text = "hello", .n_words = 0};
    ev = cw_event_transcript("c9", 3.4, &partial);
    obj = parse(ev);
    check_fields("partial", obj, fields, sizeof fields / sizeof fields[0]);
    CHECK(ev && strcmp(ev->topic, "transcript.agent.c9") == 0, "agent topic");
    CHECK(json_is_false(json_object_get(obj, "final")), "final false");
    CHECK(json_array_size(json_object_get(obj, "words")) == 0, "words []");
    json_decref(obj);
    cw_event_destroy(&ev);

    /* NULL text is written as "". */
    partial.text = NULL;
    ev = cw_event_transcript("c9", 3.4, &partial);
    obj = parse(ev);
    CHECK(strcmp(str_of(obj, "text"), "") == 0, "NULL text");
    json_decref(obj);
    cw_event_destroy(&ev);

    partial.leg = 2;
    CHECK(cw_event_transcript("c9", 1.0, &partial) == NULL, "bad leg id gives NULL");
    partial.leg = -1;
    CHECK(cw_event_transcript("c9", 1.0, &partial) == NULL, "negative leg id gives NULL");
    partial.leg = 0;
    partial.n_words = 2; /* words NULL */
    CHECK(cw_event_transcript("c9", 1.0, &partial) == NULL, "n_words without words");
    CHECK(cw_event_transcript("c9", 1.0, NULL) == NULL, "NULL transcript");
}

static void test_times(void)
{
    struct {
        double t;
        const char *printed;
    } cases[] = {
        {1.2299999999, "\"t\":1.23,"},
        {1.23, "\"t\":1.23,"},
        {0.1 + 0.2, "\"t\":0.3,"},
        {36000.1234, "\"t\":36000.123,"},
        {2.0, "\"t\":2.0,"},
        {0.0004, "\"t\":0.0,"},
        {-0.0004, "\"t\":0.0,"}, /* no "-0.0" */
        {NAN, "\"t\":0.0,"},
        {INFINITY, "\"t\":0.0,"},
        {12.3456, "\"t\":12.346,"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cw_event_t *ev = cw_event_call_end("c", cases[i].t, "eof", 1.0, NULL, NULL);
        CHECK(ev && strstr(ev->json, cases[i].printed), "t=%.17g: want %s in %s", cases[i].t,
              cases[i].printed, ev ? ev->json : "(null)");
        cw_event_destroy(&ev);
    }
}

static void test_special_text(void)
{
    const char *texts[] = {
        "she said \"no\" \\ and left",
        "line\nbreak\ttab\r\x01 control",
        "\xe4\xbd\xa0\xe5\xa5\xbd caf\xc3\xa9 \xf0\x9f\x98\x80", /* 你好 café 😀 */
        "</script> & 'single' / slash",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        cw_word_t w = {.t_start = 0, .t_end = 1, .conf = 0.5};
        /* The word carries the same text, cut to fit (all cases are short). */
        snprintf(w.w, sizeof w.w, "%s", texts[i]);
        cw_transcript_t tr = {.leg = 0, .final = true, .t_end = 1.0, .text = texts[i],
                              .words = &w, .n_words = 1};
        cw_event_t *ev = cw_event_transcript("c\"1", 1.0, &tr);
        json_t *obj = parse(ev);
        CHECK(strcmp(str_of(obj, "text"), texts[i]) == 0, "text %zu round-trips", i);
        CHECK(strcmp(str_of(json_array_get(json_object_get(obj, "words"), 0), "w"), w.w) == 0,
              "word %zu round-trips", i);
        CHECK(strcmp(str_of(obj, "call_id"), "c\"1") == 0, "call_id with a quote");
        json_decref(obj);
        cw_event_destroy(&ev);
    }

    /* Invalid UTF-8 (a lone 0xFF, a cut sequence, an overlong '/', a UTF-16
     * surrogate) never makes the event fail: each bad byte becomes U+FFFD. */
    cw_transcript_t tr = {.leg = 1, .text = "a\xff" "b\xe4\xbd" "c\xc0\xaf" "d\xed\xa0\x80"};
    cw_event_t *ev = cw_event_transcript("c", 1.0, &tr);
    json_t *obj = parse(ev);
    CHECK(strcmp(str_of(obj, "text"),
                 "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd" "c\xef\xbf\xbd\xef\xbf\xbd"
                 "d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd") == 0,
          "invalid UTF-8 replaced: %s", str_of(obj, "text"));
    json_decref(obj);
    cw_event_destroy(&ev);

    /* An unterminated word buffer is cut at its size, not read past. */
    cw_word_t full;
    memset(full.w, 'x', sizeof full.w);
    full.t_start = full.t_end = full.conf = 0;
    cw_transcript_t tw = {.leg = 0, .text = "x", .words = &full, .n_words = 1};
    ev = cw_event_transcript("c", 1.0, &tw);
    obj = parse(ev);
    CHECK(strlen(str_of(json_array_get(json_object_get(obj, "words"), 0), "w")) ==
              CW_WORD_MAX - 1,
          "unterminated word cut");
    json_decref(obj);
    cw_event_destroy(&ev);
}

static void test_from_json(void)
{
    json_t *alert = json_pack("{s:s, s:s, s:f, s:s, s:s, s:f}", "type", "alert", "call_id", "c4",
                              "t", 12.5, "kind", "anger", "severity", "warning", "score", 0.8125);
    cw_event_t *ev = cw_event_from_json("alert.anger.c4", alert);
    CHECK(ev && strcmp(ev->topic, "alert.anger.c4") == 0, "alert topic");
    CHECK(ev && strcmp(ev->type, "alert") == 0, "alert type");
    json_t *obj = parse(ev);
    CHECK(obj && json_object_size(obj) == 6, "alert keeps its fields");
    CHECK(ev && strstr(ev->json, "\"score\":0.8125"), "score printed exactly");
    json_decref(obj);
    cw_event_destroy(&ev);

    /* Failures still consume the reference (ASan would report a leak). */
    CHECK(cw_event_from_json("x", json_pack("{s:i}", "t", 1)) == NULL, "no type");
    CHECK(cw_event_from_json("x", json_pack("{s:i}", "type", 1)) == NULL, "type not a string");
    CHECK(cw_event_from_json("x", json_pack("[s]", "type")) == NULL, "not an object");
    CHECK(cw_event_from_json(NULL, json_pack("{s:s}", "type", "t")) == NULL, "NULL topic");
    CHECK(cw_event_from_json("x", NULL) == NULL, "NULL object");
    char long_type[40];
    memset(long_type, 'y', sizeof long_type - 1);
    long_type[sizeof long_type - 1] = '\0';
    CHECK(cw_event_from_json("x", json_pack("{s:s}", "type", long_type)) == NULL,
          "type too long");

    char long_id[CW_TOPIC_MAX + 10];
    memset(long_id, 'z', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = '\0';
    CHECK(cw_event_from_json(long_id, json_pack("{s:s}", "type", "t")) == NULL,
          "topic too long");
    CHECK(cw_event_call_end(long_id, 1.0, "eof", 1.0, NULL, NULL) == NULL,
          "call_id too long for the topic");

    cw_event_destroy(NULL);
    cw_event_t *none = NULL;
    cw_event_destroy(&none);
}

/* A recording's start time, as analyze --started-at and sidecars give it. */
static void test_parse_time(void)
{
    static const struct {
        const char *in, *want;
    } ok[] = {
        {"2026-11-30T08:05:00Z", "2026-11-30T08:05:00.000Z"},
        {"2026-11-30 09:05:00+01:00", "2026-11-30T08:05:00.000Z"},
        {"2026-11-30T03:35:00.25-0430", "2026-11-30T08:05:00.250Z"},
        {"2026-11-30T08:05", "2026-11-30T08:05:00.000Z"},
        {"2026-12-31T23:30:00-01:00", "2027-01-01T00:30:00.000Z"},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char out[40] = "";
        cw_error_t err;
        cw_error_clear(&err);
        int rc = cw_event_parse_time(ok[i].in, out, sizeof out, &err);
        CHECK(rc == CW_OK && strcmp(out, ok[i].want) == 0, "'%s' -> '%s' (want %s): %s", ok[i].in, out, ok[i].want,
              err.msg);
    }
    static const char *const bad[] = {"yesterday", "2026-13-01T00:00:00Z", "2026-11-30T08:05:00 UTC",
                                      "2026-11-30T08:05:00+2", "30/11/2026 08:05", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char out[40];
        cw_error_t err;
        cw_error_clear(&err);
        int rc = cw_event_parse_time(bad[i], out, sizeof out, &err);
        CHECK(rc == CW_ERR_INVALID && strstr(err.msg, "ISO-8601") && strstr(err.msg, bad[i]), "'%s' refused: %s",
              bad[i], err.msg);
    }
    /* call_start carries the given start instead of now. */
    cw_call_meta_t meta = {.line = "file", .agent_id = "carol", .started_at = "2026-11-30T08:05:00.000Z"};
    cw_event_t *ev = cw_event_call_start("rec-1", 0, &meta);
    CHECK(ev && strstr(ev->json, "\"started_at\":\"2026-11-30T08:05:00.000Z\""), "started_at given: %s",
          ev ? ev->json : "");
    cw_event_destroy(&ev);
}

int main(void)
{
    test_parse_time();
    test_call_start();
    test_call_end();
    test_transcript();
    test_times();
    test_special_text();
    test_from_json();
    return check_summary("test_event");
}
