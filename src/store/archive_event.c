/* archive_event.c - see callwatch/archive_event.h */
#include "callwatch/archive_event.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static void put(cw_archive_event_t *ev, int i, cw_archive_value_t v)
{
    ev->v[i - 1] = v;
    if (i > ev->n)
        ev->n = i;
}

static void put_text(cw_archive_event_t *ev, int i, const char *s)
{
    put(ev, i, s ? (cw_archive_value_t){.type = CW_AV_TEXT, .text = s} : (cw_archive_value_t){.type = CW_AV_NULL});
}

static void put_str(cw_archive_event_t *ev, int i, const char *key)
{
    put_text(ev, i, json_string_value(json_object_get(ev->obj, key)));
}

static void put_num_value(cw_archive_event_t *ev, int i, const json_t *v)
{
    put(ev, i, json_is_number(v) ? (cw_archive_value_t){.type = CW_AV_REAL, .d = json_number_value(v)}
                                 : (cw_archive_value_t){.type = CW_AV_NULL});
}

static void put_num(cw_archive_event_t *ev, int i, const char *key)
{
    put_num_value(ev, i, json_object_get(ev->obj, key));
}

static void put_int(cw_archive_event_t *ev, int i, long long v)
{
    put(ev, i, (cw_archive_value_t){.type = CW_AV_INT, .i = v});
}

static void put_json(cw_archive_event_t *ev, int i, int slot, const json_t *v)
{
    ev->dumped[slot] = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    put_text(ev, i, ev->dumped[slot]);
}

/* Puts the string fields keys[0..n) at first, first + 1, ... */
static void put_strs(cw_archive_event_t *ev, int first, const char *const *keys, int n)
{
    for (int k = 0; k < n; k++)
        put_str(ev, first + k, keys[k]);
}

static void parse_call(cw_archive_event_t *ev, bool start, const char *json, long long now_ms)
{
    if (start) {
        static const char *const keys[] = {"call_id", "agent_id", "line", "team", "source", "started_at"};
        ev->kind = CW_AEV_CALL_START;
        put_strs(ev, 1, keys, 6);
        put_int(ev, 7, now_ms);
        put_text(ev, 8, json);
        ev->legs = json_object_get(ev->obj, "legs");
        ev->legs_field = "rate_hz";
    } else {
        const json_t *summary = json_object_get(ev->obj, "prosody_summary");
        ev->kind = CW_AEV_CALL_END;
        put_str(ev, 1, "call_id");
        put_num(ev, 2, "duration_s");
        put_str(ev, 3, "reason");
        put_text(ev, 4, json);
        put_int(ev, 5, now_ms);
        put_json(ev, 6, 0, json_is_object(summary) ? summary : NULL);
        put_num_value(ev, 7, json_object_get(json_object_get(summary, "agent"), "f0_spread_st"));
        ev->legs = json_object_get(ev->obj, "frames_dropped");
        ev->legs_field = NULL;
    }
    if (!json_is_object(ev->legs))
        ev->legs = NULL;
}

static void parse_transcript(cw_archive_event_t *ev, const char *json, long long now_ms)
{
    if (json_is_false(json_object_get(ev->obj, "final"))) {
        ev->kind = CW_AEV_SKIP;
        return;
    }
    static const char *const nums[] = {"t", "t_start", "t_end", "utterance"};
    ev->kind = CW_AEV_TRANSCRIPT;
    put_str(ev, 1, "call_id");
    put_str(ev, 2, "leg");
    for (int k = 0; k < 4; k++)
        put_num(ev, 3 + k, nums[k]);
    put_str(ev, 7, "text");
    put_int(ev, 8, now_ms);
    put_text(ev, 9, json);
}

static void parse_alert(cw_archive_event_t *ev, const char *json, long long now_ms)
{
    static const char *const strs[] = {"id", "call_id", "leg", "kind", "severity"};
    static const char *const nums[] = {"score", "t", "t_start", "t_end"};
    static const char *const tail[] = {"text", "escalates"};
    ev->kind = CW_AEV_ALERT;
    put_strs(ev, 1, strs, 5);
    for (int k = 0; k < 4; k++)
        put_num(ev, 6 + k, nums[k]);
    put_strs(ev, 10, tail, 2);
    put_json(ev, 12, 1, json_object_get(ev->obj, "evidence"));
    put_int(ev, 13, now_ms);
    put_text(ev, 14, json);
}

static void parse_other(cw_archive_event_t *ev, const char *type, const char *topic, const char *json,
                        long long now_ms)
{
    if (strcmp(type, "whisper") == 0) {
        static const char *const strs[] = {"because", "kind", "severity", "lang", "prompt"};
        ev->kind = CW_AEV_WHISPER;
        put_str(ev, 1, "call_id");
        put_str(ev, 2, "agent_id");
        put_num(ev, 3, "t");
        put_strs(ev, 4, strs, 5);
        put_int(ev, 9, now_ms);
        put_text(ev, 10, json);
    } else if (strcmp(type, "ack") == 0) {
        static const char *const strs[] = {"call_id", "alert_id", "by", "at", "note"};
        ev->kind = CW_AEV_ACK;
        put_strs(ev, 1, strs, 5);
        put_int(ev, 6, now_ms);
        put_text(ev, 7, json);
        put_str(ev, 8, "acked_at");
    } else {
        ev->kind = CW_AEV_OTHER;
        put_str(ev, 1, "call_id");
        put_str(ev, 2, "type");
        put_text(ev, 3, topic);
        put_num(ev, 4, "t");
        put_int(ev, 5, now_ms);
        put_text(ev, 6, json);
    }
}

int cw_archive_event_parse(cw_archive_event_t *ev, const char *topic, const char *json, long long now_ms,
                           const char *name, cw_error_t *err)
{
    memset(ev, 0, sizeof *ev);
    json_error_t jerr;
    ev->obj = json ? json_loads(json, 0, &jerr) : NULL;
    const char *type = json_string_value(json_object_get(ev->obj, "type"));
    ev->call_id = json_string_value(json_object_get(ev->obj, "call_id"));
    if (!json_is_object(ev->obj) || !type || !ev->call_id)
        return cw_error_set(err, CW_ERR_INVALID, "%s: event on %s is not a JSON object with type and call_id", name,
                            topic);
    if (strcmp(type, "call_start") == 0 || strcmp(type, "call_end") == 0)
        parse_call(ev, strcmp(type, "call_start") == 0, json, now_ms);
    else if (strcmp(type, "transcript") == 0)
        parse_transcript(ev, json, now_ms);
    else if (strcmp(type, "alert") == 0 && json_is_string(json_object_get(ev->obj, "id")))
        parse_alert(ev, json, now_ms);
    else
        parse_other(ev, type, topic, json, now_ms);
    return CW_OK;
}

void cw_archive_event_free(cw_archive_event_t *ev)
{
    if (!ev)
        return;
    json_decref(ev->obj);
    free(ev->dumped[0]);
    free(ev->dumped[1]);
    memset(ev, 0, sizeof *ev);
}
