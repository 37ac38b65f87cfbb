/* event.c - see callwatch/event.h */
#define _XOPEN_SOURCE 700 /* strptime */
#include "callwatch/event.h"

#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* 10 significant digits: times are rounded to the millisecond before they
 * get here, so "1.23" prints as 1.23 (not 1.2299999999999999822) and a
 * ten-hour call still keeps its milliseconds (36000.123). */
#define CW_EVENT_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(10))

/* Leg ids as in leg.h / source.h: 0 agent, 1 customer. Kept local so the
 * event module depends on nothing upstream. */
static const char *leg_name(int leg)
{
    switch (leg) {
    case 0: return "agent";
    case 1: return "customer";
    default: return NULL;
    }
}

/* Rounds to 1/scale (1000 = milliseconds). A non-finite value becomes 0:
 * JSON has no NaN or infinity and jansson refuses them, and an event with a
 * sensible but wrong number beats a lost call_end. -0.0 is folded to 0. */
static double round_to(double v, double scale)
{
    if (!isfinite(v))
        return 0.0;
    double r = round(v * scale) / scale;
    if (!isfinite(r)) /* v * scale overflowed: keep v as it is */
        return v;
    return r == 0.0 ? 0.0 : r;
}

static double round_ms(double seconds)
{
    return round_to(seconds, 1000.0);
}

/* Length of the valid UTF-8 sequence at s (1..4), 0 if invalid. n is the
 * number of bytes left. Rejects overlongs, surrogates and > U+10FFFF. */
static size_t utf8_seq_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t len;
    uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1Fu;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0Fu;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0u) != 0x80u)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3Fu);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return len;
}

/* A JSON string for s. NULL s gives "". Invalid UTF-8 (a recogniser or a
 * config file in a legacy encoding) would make jansson refuse the whole
 * event, so each bad byte is replaced with U+FFFD instead. NULL only when
 * out of memory. */
static json_t *json_text(const char *s)
{
    if (!s)
        return json_string("");
    size_t n = strlen(s);
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(u + i, n - i);
        if (k == 0) {
            bad++;
            k = 1;
        }
        i += k;
    }
    if (bad == 0)
        return json_stringn(s, n);

    /* Each bad byte (1) grows to the 3-byte replacement character. */
    if (bad > (SIZE_MAX - n - 1) / 2)
        return NULL;
    size_t cap = n + 2 * bad + 1;
    char *clean = malloc(cap);
    if (!clean)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq_len(u + i, n - i);
        if (k == 0) {
            memcpy(clean + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(clean + o, s + i, k);
            o += k;
            i += k;
        }
    }
    clean[o] = '\0';
    json_t *j = json_stringn(clean, o);
    free(clean);
    return j;
}

/* Setters that remember a failure in *ok so a builder can set every field
 * and check once. json_object_set_new steals the value even on failure. */
static void put(json_t *obj, const char *key, json_t *value, bool *ok)
{
    if (!value || json_object_set_new(obj, key, value) != 0)
        *ok = false;
}

static void put_str(json_t *obj, const char *key, const char *s, bool *ok)
{
    put(obj, key, json_text(s), ok);
}

/* Optional string: omitted when NULL. */
static void put_opt_str(json_t *obj, const char *key, const char *s, bool *ok)
{
    if (s)
        put_str(obj, key, s, ok);
}

static void put_secs(json_t *obj, const char *key, double seconds, bool *ok)
{
    put(obj, key, json_real(round_ms(seconds)), ok);
}

static void put_int(json_t *obj, const char *key, long long v, bool *ok)
{
    put(obj, key, json_integer((json_int_t)v), ok);
}

static void put_count(json_t *obj, const char *key, unsigned long long v, bool *ok)
{
    /* JSON readers beyond 2^53 are unreliable anyway; clamp rather than wrap. */
    put_int(obj, key, v > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)v, ok);
}

/* Starts an event object with the three fields every event has. */
static json_t *event_head(const char *type, const char *call_id, double t, bool *ok)
{
    json_t *obj = json_object();
    if (!obj) {
        *ok = false;
        return NULL;
    }
    put_str(obj, "type", type, ok);
    put_str(obj, "call_id", call_id, ok);
    put_secs(obj, "t", t, ok);
    return obj;
}

/* Topic "<a>.<b>" or "<a>.<b>.<c>" (c may be NULL); false if it does not fit. */
static bool make_topic(char *topic, const char *a, const char *b, const char *c)
{
    int n = c ? snprintf(topic, CW_TOPIC_MAX, "%s.%s.%s", a, b, c)
              : snprintf(topic, CW_TOPIC_MAX, "%s.%s", a, b);
    return n >= 0 && n < CW_TOPIC_MAX;
}

/* Finishes a builder: serialises obj when every field was set, else drops it. */
static cw_event_t *finish(const char *topic, json_t *obj, bool ok)
{
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return cw_event_from_json(topic, obj);
}

cw_event_t *cw_event_from_json(const char *topic, json_t *obj)
{
    cw_event_t *ev = NULL;
    if (!topic || !obj || !json_is_object(obj))
        goto error_out;
    const char *type = json_string_value(json_object_get(obj, "type"));
    size_t topic_len = strlen(topic);
    if (!type || strlen(type) >= sizeof ev->type || topic_len >= CW_TOPIC_MAX)
        goto error_out;

    ev = calloc(1, sizeof *ev);
    if (!ev)
        goto error_out;
    memcpy(ev->topic, topic, topic_len + 1);
    memcpy(ev->type, type, strlen(type) + 1);
    ev->json = json_dumps(obj, CW_EVENT_DUMP_FLAGS);
    if (!ev->json)
        goto error_out;
    ev->json_len = strlen(ev->json);
    json_decref(obj);
    return ev;

error_out:
    if (ev)
        free(ev->json);
    free(ev);
    json_decref(obj);
    return NULL;
}

void cw_event_destroy(cw_event_t **ev)
{
    if (!ev || !*ev)
        return;
    free((*ev)->json);
    free(*ev);
    *ev = NULL;
}

/* Current wall-clock time as "2024-05-01T12:34:56.789Z". */
static bool iso8601_utc_now(char *buf, size_t cap)
{
    struct timespec now;
    struct tm tm;
    if (clock_gettime(CLOCK_REALTIME, &now) != 0 || !gmtime_r(&now.tv_sec, &tm))
        return false;
    char secs[32];
    if (strftime(secs, sizeof secs, "%Y-%m-%dT%H:%M:%S", &tm) == 0)
        return false;
    int n = snprintf(buf, cap, "%s.%03ldZ", secs, now.tv_nsec / 1000000L);
    return n > 0 && (size_t)n < cap;
}

/* "+02:00", "+0200", "Z" or "" -> offset east of UTC in seconds. */
static bool parse_zone(const char *z, long *offset_s)
{
    *offset_s = 0;
    if (*z == '\0' || strcmp(z, "Z") == 0)
        return true;
    int hh = 0, mm = 0, n = 0;
    if ((z[0] != '+' && z[0] != '-') ||
        (sscanf(z + 1, "%2d:%2d%n", &hh, &mm, &n) != 2 && sscanf(z + 1, "%2d%2d%n", &hh, &mm, &n) != 2) ||
        z[1 + n] != '\0' || hh > 14 || mm > 59)
        return false;
    *offset_s = (z[0] == '-' ? -1L : 1L) * (hh * 3600L + mm * 60L);
    return true;
}

int cw_event_parse_time(const char *text, char *out, size_t cap, cw_error_t *err)
{
    static const char *const forms[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M",
                                        "%Y-%m-%d %H:%M"};
    struct tm tm;
    const char *rest = NULL;
    for (size_t i = 0; text && !rest && i < sizeof forms / sizeof forms[0]; i++) {
        memset(&tm, 0, sizeof tm);
        rest = strptime(text, forms[i], &tm);
    }
    long ms = 0, offset_s = 0;
    if (rest && *rest == '.') {
        char *end = NULL;
        double frac = strtod(rest, &end);
        ms = lround(frac * 1000);
        rest = end;
    }
    time_t secs = rest && parse_zone(rest, &offset_s) ? timegm(&tm) : (time_t)-1;
    struct tm utc;
    if (secs == (time_t)-1 || ms > 999) {
        return cw_error_set(err, CW_ERR_INVALID,
                            "'%s' is not an ISO-8601 date and time (e.g. 2024-05-01T14:30:00Z or "
                            "2024-05-01 16:30:00+02:00)", text ? text : "");
    }
    secs -= offset_s;
    char day[32];
    if (!gmtime_r(&secs, &utc) || strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &utc) == 0 ||
        (size_t)snprintf(out, cap, "%s.%03ldZ", day, ms) >= cap)
        return cw_error_set(err, CW_ERR_INVALID, "'%s': time out of range", text);
    return CW_OK;
}

cw_event_t *cw_event_call_start(const char *call_id, double t, const cw_call_meta_t *meta)
{
    if (!call_id)
        return NULL;
    char topic[CW_TOPIC_MAX];
    if (!make_topic(topic, "call", call_id, NULL))
        return NULL;

    bool ok = true;
    json_t *obj = event_head("call_start", call_id, t, &ok);
    if (!obj)
        return NULL;
    if (meta) {
        put_opt_str(obj, "line", meta->line, &ok);
        put_opt_str(obj, "agent_id", meta->agent_id, &ok);
        put_opt_str(obj, "source", meta->source, &ok);
        if (meta->team && meta->team[0])
            put_str(obj, "team", meta->team, &ok);
    }
    json_t *legs = json_object();
    if (legs && meta) {
        for (int leg = 0; leg < 2; leg++) {
            if (!meta->has_leg[leg])
                continue;
            json_t *one = json_object();
            if (one)
                put_int(one, "rate_hz", meta->rate_hz[leg], &ok);
            put(legs, leg_name(leg), one, &ok);
        }
    }
    put(obj, "legs", legs, &ok);
    char started_at[64];
    if (meta && meta->started_at && meta->started_at[0])
        put_str(obj, "started_at", meta->started_at, &ok);
    else if (iso8601_utc_now(started_at, sizeof started_at))
        put_str(obj, "started_at", started_at, &ok);
    else
        ok = false;
    return finish(topic, obj, ok);
}

cw_event_t *cw_event_call_end(const char *call_id, double t, const char *reason,
                              double duration_s, const unsigned long long frames_dropped[2], json_t *voice)
{
    if (!call_id) {
        json_decref(voice);
        return NULL;
    }
    char topic[CW_TOPIC_MAX];
    if (!make_topic(topic, "call", call_id, NULL)) {
        json_decref(voice);
        return NULL;
    }

    bool ok = true;
    json_t *obj = event_head("call_end", call_id, t, &ok);
    if (!obj) {
        json_decref(voice);
        return NULL;
    }
    put_str(obj, "reason", reason ? reason : "unknown", &ok);
    put_secs(obj, "duration_s", duration_s, &ok);
    json_t *dropped = json_object();
    if (dropped) {
        for (int leg = 0; leg < 2; leg++)
            put_count(dropped, leg_name(leg), frames_dropped ? frames_dropped[leg] : 0, &ok);
    }
    put(obj, "frames_dropped", dropped, &ok);
    if (voice)
        put(obj, "prosody_summary", voice, &ok);
    return finish(topic, obj, ok);
}

cw_event_t *cw_event_transcript(const char *call_id, double t, const cw_transcript_t *tr)
{
    if (!call_id || !tr || (tr->n_words > 0 && !tr->words))
        return NULL;
    const char *leg = leg_name(tr->leg);
    char topic[CW_TOPIC_MAX];
    if (!leg || !make_topic(topic, "transcript", leg, call_id))
        return NULL;

    bool ok = true;
    json_t *obj = event_head("transcript", call_id, t, &ok);
    if (!obj)
        return NULL;
    put_str(obj, "leg", leg, &ok);
    put_secs(obj, "t_start", tr->t_start, &ok);
    put_secs(obj, "t_end", tr->t_end, &ok);
    put_str(obj, "text", tr->text, &ok);
    json_t *words = json_array();
    for (size_t i = 0; words && ok && i < tr->n_words; i++) {
        const cw_word_t *w = &tr->words[i];
        json_t *jw = json_object();
        if (!jw) {
            ok = false;
            break;
        }
        /* w is a fixed array: never read past it even if unterminated. */
        char word[CW_WORD_MAX];
        size_t wlen = strnlen(w->w, sizeof w->w);
        if (wlen == sizeof w->w)
            wlen--;
        memcpy(word, w->w, wlen);
        word[wlen] = '\0';
        put_str(jw, "w", word, &ok);
        put_secs(jw, "t_start", w->t_start, &ok);
        put_secs(jw, "t_end", w->t_end, &ok);
        put(jw, "conf", json_real(round_to(w->conf, 1000.0)), &ok);
        if (json_array_append_new(words, jw) != 0)
            ok = false;
    }
    put(obj, "words", words, &ok);
    put(obj, "final", json_boolean(tr->final), &ok);
    put_int(obj, "utterance", tr->utterance, &ok);
    /* Cue mode: the words are the spotted keyphrases, not all that was said. */
    if (tr->spotted)
        put_str(obj, "mode", "cue", &ok);
    return finish(topic, obj, ok);
}

cw_event_t *cw_event_status(const char *node, double t, const char *change, const char *reason, json_t *legs,
                            json_t *degraded)
{
    char topic[CW_TOPIC_MAX];
    if (!node || !make_topic(topic, "status", node, NULL)) {
        json_decref(legs);
        json_decref(degraded);
        return NULL;
    }
    bool ok = true;
    json_t *obj = event_head("status", "", t, &ok);
    if (!obj) {
        json_decref(legs);
        json_decref(degraded);
        return NULL;
    }
    put_str(obj, "node", node, &ok);
    put_str(obj, "change", change ? change : "", &ok);
    put_str(obj, "reason", reason ? reason : "", &ok);
    put(obj, "legs", legs ? legs : json_array(), &ok);
    put_count(obj, "legs_degraded", degraded ? json_array_size(degraded) : 0, &ok);
    put(obj, "degraded", degraded ? degraded : json_array(), &ok);
    return finish(topic, obj, ok);
}

cw_event_t *cw_event_ack(const char *call_id, const char *alert_id, const char *by, const char *note)
{
    return cw_event_ack_verified(call_id, alert_id, by, NULL, note);
}

cw_event_t *cw_event_ack_verified(const char *call_id, const char *alert_id, const char *by, const char *role,
                                  const char *note)
{
    if (!call_id || !alert_id || !by)
        return NULL;
    char topic[CW_TOPIC_MAX];
    if (!make_topic(topic, "ack", call_id, NULL))
        return NULL;
    bool ok = true;
    json_t *obj = event_head("ack", call_id, 0.0, &ok);
    if (!obj)
        return NULL;
    put_str(obj, "alert_id", alert_id, &ok);
    put_str(obj, "by", by, &ok);
    char at[64];
    if (iso8601_utc_now(at, sizeof at)) {
        put_str(obj, "at", at, &ok);
        /* The same instant under its own name: `at` reads as the alert's
         * time to consumers, and time-to-acknowledge is measured from this. */
        put_str(obj, "acked_at", at, &ok);
    } else {
        ok = false;
    }
    if (note && note[0])
        put_str(obj, "note", note, &ok);
    put(obj, "verified", json_boolean(role != NULL), &ok);
    if (role)
        put_str(obj, "role", role, &ok);
    return finish(topic, obj, ok);
}

char *cw_event_json_with_int(const cw_event_t *ev, const char *key, long long value, size_t *len)
{
    if (!ev || !ev->json || !key || !len)
        return NULL;
    /* Parsed again rather than kept as a tree since creation: a tree is
     * several times the size of its text and the outbox may hold 65536
     * events while a sink is slow; a reparse costs microseconds. Splicing
     * the text instead would bypass the serialiser. */
    json_t *obj = json_loadb(ev->json, ev->json_len, 0, NULL);
    char *out = NULL;
    if (obj && json_is_object(obj) && json_object_set_new(obj, key, json_integer((json_int_t)value)) == 0)
        out = json_dumps(obj, CW_EVENT_DUMP_FLAGS);
    json_decref(obj);
    if (out)
        *len = strlen(out);
    return out;
}
