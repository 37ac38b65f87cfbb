/* test_call.c - one call from a recorded file without speech recognition
 * (what `analyze --no-asr` runs): the events a subscriber sees, in order.
 * call_start comes first with the call's metadata, the turn-taking cues
 * (talk-over, dead air) come at the times they happened, call_end comes last
 * with the reason and the call's length; a hang-up ends the call early with
 * its reason; a call that cannot be built posts nothing and hands its source
 * back. Every fixture is generated into a mkdtemp directory. */
#include "callwatch/call.h"
#include "callwatch/config.h"
#include "callwatch/outbox.h"
#include "callwatch/sink.h"
#include "callwatch/source.h"
#include "check.h"

#include <jansson.h>
#include <math.h>
#include <sndfile.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RATE 8000
#define CALL_S 19.0

static char dir[] = "/tmp/cw_test_call_XXXXXX";

/* A voice-like sound: a fundamental with harmonics at speaking level. */
static float voice(long i, double f0)
{
    double t = (double)i / RATE, x = 0;
    for (int h = 1; h <= 6; h++)
        x += sin(2 * M_PI * f0 * h * t) / h;
    return (float)(0.15 * x);
}

static bool within(double t, double from, double to)
{
    return t >= from && t < to;
}

/* The call (seconds): the agent greets 0.5-2.5; the customer talks 3.0-5.0
 * and the agent talks over her 3.5-5.2; then nobody speaks until the agent
 * comes back 17.0-18.0; the file ends at 19.0. */
static void write_call(const char *path, int channels)
{
    SF_INFO info = {.samplerate = RATE, .channels = channels, .format = SF_FORMAT_WAV | SF_FORMAT_PCM_16};
    SNDFILE *sf = sf_open(path, SFM_WRITE, &info);
    if (!sf) {
        fprintf(stderr, "cannot write %s: %s\n", path, sf_strerror(NULL));
        exit(1);
    }
    long frames = lrint(CALL_S * RATE);
    float *buf = calloc((size_t)frames * (size_t)channels, sizeof *buf);
    unsigned noise = 3;
    for (long i = 0; i < frames; i++) {
        double t = (double)i / RATE;
        for (int c = 0; c < channels; c++) {
            noise = noise * 1664525u + 1013904223u;
            float x = ((float)(noise >> 8) / (float)(1u << 24) - 0.5f) * 0.0006f;
            bool agent = within(t, 0.5, 2.5) || within(t, 3.5, 5.2) || within(t, 17.0, 18.0);
            bool customer = within(t, 3.0, 5.0);
            if (channels == 1 ? customer : c == 0 ? agent : customer)
                x += voice(i, c == 0 && channels == 2 ? 120.0 : 210.0);
            buf[i * channels + c] = x;
        }
    }
    sf_writef_float(sf, buf, frames);
    sf_close(sf);
    free(buf);
}

typedef struct run {
    FILE *out;
    cw_outbox_t *outbox;
} run_t;

static bool run_open(run_t *r)
{
    cw_error_t err;
    cw_error_clear(&err);
    r->out = tmpfile();
    r->outbox = cw_outbox_new(1024, &err);
    cw_sink_t *sink = cw_sink_jsonl_new(r->out);
    bool ok = r->out && r->outbox && sink && cw_outbox_add_sink(r->outbox, &sink, &err) == CW_OK &&
              cw_outbox_start(r->outbox, &err) == CW_OK;
    CHECK(ok, "event writer: %s", err.msg);
    cw_sink_destroy(&sink);
    return ok;
}

/* Every event written, as a JSON array in order; the run is closed. */
static json_t *run_events(run_t *r)
{
    cw_outbox_flush(r->outbox);
    cw_outbox_destroy(&r->outbox);
    json_t *all = json_array();
    rewind(r->out);
    char line[65536];
    while (fgets(line, sizeof line, r->out)) {
        json_error_t jerr;
        json_t *ev = json_loads(line, 0, &jerr);
        CHECK(ev != NULL, "event line is not JSON: %s", jerr.text);
        if (ev)
            json_array_append_new(all, ev);
    }
    fclose(r->out);
    return all;
}

static const char *str(const json_t *ev, const char *key)
{
    const char *s = json_string_value(json_object_get(ev, key));
    return s ? s : "";
}

static double num(const json_t *ev, const char *key)
{
    const json_t *v = json_object_get(ev, key);
    return v ? json_number_value(v) : NAN;
}

static cw_source_t *open_file(const char *path, int mono_leg, cw_error_t *err)
{
    cw_file_source_opts_t fo = {.path = path, .agent_channel = 0, .customer_channel = 1, .mono_leg = mono_leg};
    cw_source_t *src = cw_source_file_new(&fo, err);
    CHECK(src != NULL, "source %s: %s", path, err->msg);
    return src;
}

/* Opens the file as a source and builds a call on it posting to r's outbox.
 * NULL with err set when it cannot; *src is then what the call handed back. */
static cw_call_t *new_call(const cw_config_t *cfg, run_t *r, const char *path, int mono_leg,
                           const cw_call_opts_t *co, cw_source_t **src, cw_error_t *err)
{
    cw_error_clear(err);
    *src = open_file(path, mono_leg, err);
    return *src ? cw_call_new(cfg, NULL, r->outbox, src, co, err) : NULL;
}

/* Pumps until call_end is posted; false if it never came. */
static bool pump_to_end(cw_call_t *call)
{
    for (int turns = 0; turns < 1000000; turns++) {
        cw_call_pump(call);
        if (cw_call_done(call))
            return true;
    }
    return false;
}

/* The whole call: its events and their order. */
static void test_events_in_order(const cw_config_t *cfg, const char *path)
{
    run_t r;
    if (!run_open(&r))
        return;
    cw_error_t err;
    cw_source_t *src;
    cw_call_opts_t co = {.call_id = "callA", .line = "desk3", .agent_id = "a7", .team = "blue", .offline = true,
                         .no_asr = true};
    cw_call_t *call = new_call(cfg, &r, path, -1, &co, &src, &err);
    CHECK(call != NULL && src == NULL, "call: %s (the call takes the source)", err.msg);
    if (!call) {
        cw_source_destroy(&src);
        json_decref(run_events(&r));
        return;
    }
    CHECK(strcmp(cw_call_id(call), "callA") == 0, "call id %s", cw_call_id(call));
    CHECK(pump_to_end(call), "the call never posted call_end");
    CHECK(cw_call_ended(call) && !cw_call_failed(call), "ended %d failed %d at the end of the file",
          cw_call_ended(call), cw_call_failed(call));
    unsigned long long dropped[CW_LEG_COUNT];
    cw_call_frames_dropped(call, dropped);
    CHECK(dropped[0] == 0 && dropped[1] == 0, "offline analysis dropped audio: %llu %llu", dropped[0], dropped[1]);
    cw_call_destroy(&call);
    CHECK(call == NULL, "destroy NULLs the pointer");

    json_t *events = run_events(&r);
    size_t n = json_array_size(events);
    CHECK(n >= 2, "%zu events", n);
    if (n < 2) {
        json_decref(events);
        return;
    }
    const json_t *first = json_array_get(events, 0), *last = json_array_get(events, n - 1);
    CHECK(strcmp(str(first, "type"), "call_start") == 0, "first event is %s", str(first, "type"));
    CHECK(strcmp(str(first, "line"), "desk3") == 0 && strcmp(str(first, "agent_id"), "a7") == 0 &&
              strcmp(str(first, "team"), "blue") == 0,
          "call_start line %s agent %s team %s", str(first, "line"), str(first, "agent_id"), str(first, "team"));
    const json_t *legs = json_object_get(first, "legs");
    CHECK(num(json_object_get(legs, "agent"), "rate_hz") == RATE &&
              num(json_object_get(legs, "customer"), "rate_hz") == RATE,
          "call_start legs should name both at 8000 Hz");
    CHECK(strcmp(str(last, "type"), "call_end") == 0, "last event is %s", str(last, "type"));
    CHECK(strcmp(str(last, "reason"), "eof") == 0, "call_end reason %s", str(last, "reason"));
    CHECK(fabs(num(last, "duration_s") - CALL_S) < 0.05, "call_end duration %.3f s of a %.1f s file",
          num(last, "duration_s"), CALL_S);

    int starts = 0, ends = 0, transcripts = 0;
    const json_t *talk_over = NULL, *dead_air = NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *ev = json_array_get(events, i);
        const char *type = str(ev, "type");
        CHECK(strcmp(str(ev, "call_id"), "callA") == 0, "event %zu (%s) of call %s", i, type, str(ev, "call_id"));
        starts += strcmp(type, "call_start") == 0;
        ends += strcmp(type, "call_end") == 0;
        transcripts += strcmp(type, "transcript") == 0;
        if (strcmp(type, "alert") == 0)
            printf("alert %s on the %s leg, %.2f-%.2f s: %s\n", str(ev, "kind"), str(ev, "leg"), num(ev, "t_start"),
                   num(ev, "t_end"), str(ev, "text"));
        if (strcmp(type, "alert") == 0 && strcmp(str(ev, "kind"), "talk_over") == 0 && !talk_over)
            talk_over = ev;
        if (strcmp(type, "alert") == 0 && strcmp(str(ev, "kind"), "dead_air") == 0 && !dead_air)
            dead_air = ev;
    }
    CHECK(starts == 1 && ends == 1, "%d call_start, %d call_end", starts, ends);
    CHECK(transcripts == 0, "%d transcripts without recognition", transcripts);
    /* The agent talked over the customer from 3.5 s for 1.5 s. */
    CHECK(talk_over && within(num(talk_over, "t_start"), 3.0, 4.5) && within(num(talk_over, "t_end"), 4.0, 6.0) &&
              strcmp(str(talk_over, "leg"), "agent") == 0,
          "talk_over alert: %s", talk_over ? str(talk_over, "text") : "none");
    /* Nobody spoke from about 5.2 s until 17 s: longer than [detect] dead_air_s. */
    CHECK(dead_air && within(num(dead_air, "t_start"), 4.8, 6.5) && num(dead_air, "t_end") <= 17.5 &&
              num(dead_air, "t_end") - num(dead_air, "t_start") >= cfg->detect_dead_air_s - 0.01,
          "dead_air alert: %s (%.2f-%.2f)", dead_air ? str(dead_air, "text") : "none",
          dead_air ? num(dead_air, "t_start") : 0, dead_air ? num(dead_air, "t_end") : 0);
    json_decref(events);
}

/* A hang-up ends the call at once, with its reason, before the file's end. */
static void test_hangup(const cw_config_t *cfg, const char *path)
{
    run_t r;
    if (!run_open(&r))
        return;
    cw_error_t err;
    cw_source_t *src;
    cw_call_opts_t co = {.call_id = "callH", .line = "file", .offline = true, .no_asr = true};
    cw_call_t *call = new_call(cfg, &r, path, -1, &co, &src, &err);
    CHECK(call != NULL, "call: %s", err.msg);
    if (call) {
        long moved = 0;
        while (moved < 4 * RATE && !cw_call_ended(call))
            moved += cw_call_pump(call);
        CHECK(!cw_call_done(call), "done before the hang-up");
        cw_call_hangup(call, "shutdown");
        CHECK(cw_call_ended(call), "not ended by the hang-up");
        CHECK(pump_to_end(call), "no call_end after the hang-up");
        CHECK(!cw_call_failed(call), "a hang-up is not a source failure");
        cw_call_destroy(&call);
    }
    cw_source_destroy(&src);
    json_t *events = run_events(&r);
    const json_t *last = json_array_get(events, json_array_size(events) - 1);
    CHECK(last && strcmp(str(last, "type"), "call_end") == 0 && strcmp(str(last, "reason"), "shutdown") == 0,
          "last event %s reason %s", last ? str(last, "type") : "none", last ? str(last, "reason") : "");
    CHECK(last && num(last, "duration_s") > 3.0 && num(last, "duration_s") < 10.0,
          "hung up after ~4 s of a %.0f s file, call_end says %.2f s", CALL_S, last ? num(last, "duration_s") : 0);
    json_decref(events);
}

/* One mono recording of the customer: a one-leg call. */
static void test_mono_leg(const cw_config_t *cfg, const char *path)
{
    run_t r;
    if (!run_open(&r))
        return;
    cw_error_t err;
    cw_source_t *src;
    cw_call_opts_t co = {.call_id = "callM", .offline = true, .no_asr = true};
    cw_call_t *call = new_call(cfg, &r, path, CW_LEG_CUSTOMER, &co, &src, &err);
    CHECK(call != NULL, "mono call: %s", err.msg);
    if (call) {
        CHECK(pump_to_end(call), "the mono call never ended");
        cw_call_destroy(&call);
    }
    cw_source_destroy(&src);
    json_t *events = run_events(&r);
    size_t n = json_array_size(events);
    const json_t *first = json_array_get(events, 0), *last = json_array_get(events, n ? n - 1 : 0);
    const json_t *legs = first ? json_object_get(first, "legs") : NULL;
    CHECK(legs && json_object_get(legs, "customer") && !json_object_get(legs, "agent"),
          "a customer recording's call_start should name the customer leg only");
    CHECK(last && strcmp(str(last, "type"), "call_end") == 0 && fabs(num(last, "duration_s") - CALL_S) < 0.05,
          "mono call_end: %s %.2f s", last ? str(last, "type") : "none", last ? num(last, "duration_s") : 0);
    json_decref(events);
}

/* A call that cannot be built says why, posts nothing, and the caller keeps
 * the source. */
static void test_refused(const cw_config_t *cfg, const char *path)
{
    run_t r;
    if (!run_open(&r))
        return;
    cw_error_t err;
    cw_source_t *src;
    cw_call_opts_t co = {.call_id = "callX", .offline = true, .no_asr = true, .asr_mode = "turbo"};
    cw_call_t *call = new_call(cfg, &r, path, -1, &co, &src, &err);
    CHECK(call == NULL && err.code == CW_ERR_INVALID && strstr(err.msg, "turbo"), "bad mode: %s", err.msg);
    CHECK(src != NULL, "the refused call did not hand its source back");
    cw_call_destroy(&call);
    cw_source_destroy(&src);
    json_t *events = run_events(&r);
    CHECK(json_array_size(events) == 0, "a refused call posted %zu events", json_array_size(events));
    json_decref(events);
}

int main(void)
{
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    char stereo[256], mono[256];
    snprintf(stereo, sizeof stereo, "%s/call.wav", dir);
    snprintf(mono, sizeof mono, "%s/customer.wav", dir);
    write_call(stereo, 2);
    write_call(mono, 1);

    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    cw_error_clear(&err);
    if (!cfg || cw_config_load(cfg, cw_config_default_path(), &err) != CW_OK) {
        fprintf(stderr, "cannot load %s: %s\n", cw_config_default_path(), err.msg);
        return 1;
    }
    test_events_in_order(cfg, stereo);
    test_hangup(cfg, stereo);
    test_mono_leg(cfg, mono);
    test_refused(cfg, stereo);
    cw_config_destroy(&cfg);

    unlink(stereo);
    unlink(mono);
    rmdir(dir);
    return check_summary("test_call");
}
