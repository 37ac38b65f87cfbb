/* monitor.c - see callwatch/monitor.h */
#include "callwatch/monitor.h"

#include "callwatch/config.h"

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Sampling calls and the pool more often would only cost CPU: scrapes come
 * every few seconds. */
#define SAMPLE_INTERVAL_S 0.25

#define WHAT_MAX 128

/* Room for "device 'X' not found" style reasons shown by /health. */
#define DOWN_MAX 256

typedef struct line_slot {
    bool active;
    char call_id[CW_NAME_MAX];
    unsigned long long dropped_seen[CW_LEG_COUNT];
    double degraded_until[CW_LEG_COUNT]; /* monotonic s; 0 = never */
    double next_sample;
    /* Guarded by the monitor's lock (read by health): the line cannot be
     * opened; "" = it can. */
    char down_line[CW_NAME_MAX];
    char down_why[DOWN_MAX];
} line_slot_t;

struct cw_monitor {
    /* Daemon thread only. */
    line_slot_t *slots;
    int n_slots;
    double next_pool_sample;

    cw_metric_t *calls_active;
    cw_metric_t *legs_degraded;
    cw_metric_t *frames_dropped;
    cw_metric_t *queue_depth;
    cw_metric_t *decoders;
    cw_metric_t *decoders_busy;
    cw_metric_t *resident_bytes;
    cw_metric_t *lines_down;
    cw_metric_t *pbx_calls;
    cw_metric_t *pbx_calls_max;
    cw_metric_t *pbx_refused;

    char node[CW_NAME_MAX];
    double started_s; /* CLOCK_MONOTONIC, for uptime */

    pthread_mutex_t lock; /* guards phase, what and the slots' down_* (read by health) */
    cw_monitor_phase_t phase;
    char what[WHAT_MAX];
};

static const char *const leg_labels[CW_LEG_COUNT] = {"agent", "customer"};

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static cw_metric_t *gauge(cw_metrics_t *reg, const char *name, const char *help, cw_error_t *err)
{
    return cw_metrics_register(reg, CW_METRIC_GAUGE, name, help, NULL, NULL, 0, err);
}

cw_monitor_t *cw_monitor_new(cw_metrics_t *reg, const char *node, int max_lines, cw_error_t *err)
{
    if (!reg || max_lines < 0) {
        cw_error_set(err, CW_ERR_INVALID, "monitor: needs a registry and a line count >= 0");
        return NULL;
    }
    cw_monitor_t *m = calloc(1, sizeof *m);
    /* A PBX-only daemon has no configured lines; keep one slot so the
     * arrays are never empty. */
    if (!m || !(m->slots = calloc(max_lines > 0 ? (size_t)max_lines : 1, sizeof *m->slots))) {
        free(m);
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the monitor");
        return NULL;
    }
    m->n_slots = max_lines;
    snprintf(m->node, sizeof m->node, "%s", node ? node : "");
    m->started_s = monotonic_s();
    pthread_mutex_init(&m->lock, NULL);
    m->phase = CW_MONITOR_STARTING;
    snprintf(m->what, sizeof m->what, "starting");

    cw_metric_t *build = cw_metrics_register(reg, CW_METRIC_GAUGE, "callwatch_build_info",
                                             "Always 1; the label says which callwatch this is.", "version", NULL,
                                             0, err);
    cw_metric_t *start_time = build ? gauge(reg, "process_start_time_seconds",
                                            "Start time of the process since the Unix epoch, in seconds.", err)
                                    : NULL;
    if (!start_time)
        goto error_out;
    cw_metric_set(build, CALLWATCH_VERSION, 1);
    cw_metric_set(start_time, NULL, (double)time(NULL));
    if (!(m->calls_active = gauge(reg, "callwatch_calls_active", "Calls being monitored now.", err)) ||
        !(m->legs_degraded = gauge(reg, "callwatch_legs_degraded",
                                   "Legs of active calls that lost audio in the last 10 seconds.", err)) ||
        !(m->frames_dropped = cw_metrics_register(
              reg, CW_METRIC_COUNTER, "callwatch_frames_dropped_total",
              "Audio lost: source frames overwritten in the capture ring plus 16 kHz samples refused by a full "
              "decoder backlog.",
              "leg", NULL, 0, err)) ||
        !(m->queue_depth = gauge(reg, "callwatch_decoder_queue_depth", "Utterances waiting for a free decoder.",
                                 err)) ||
        !(m->decoders = gauge(reg, "callwatch_decoders", "PocketSphinx decoders (one per worker thread).", err)) ||
        !(m->decoders_busy = gauge(reg, "callwatch_decoders_busy", "Decoders working on an utterance now.", err)) ||
        !(m->resident_bytes = gauge(reg, "process_resident_memory_bytes", "Resident memory size in bytes.", err)) ||
        !(m->lines_down = gauge(reg, "callwatch_lines_down",
                                "Configured lines whose device cannot be opened now (retried every retry_s).", err)) ||
        !(m->pbx_calls = gauge(reg, "callwatch_pbx_calls",
                               "PBX calls (AudioSocket and WebSocket) holding a place at this node now.", err)) ||
        !(m->pbx_calls_max = gauge(reg, "callwatch_pbx_calls_max",
                                   "The cap on PBX calls at once ([ingest] max_calls); 0 = none.", err)) ||
        !(m->pbx_refused = cw_metrics_register(reg, CW_METRIC_COUNTER, "callwatch_pbx_calls_refused_total",
                                               "PBX streams refused because the node was at [ingest] max_calls.",
                                               NULL, NULL, 0, err)))
        goto error_out;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        cw_metric_add(m->frames_dropped, leg_labels[leg], 0);
    return m;

error_out:
    cw_monitor_destroy(&m);
    return NULL;
}

void cw_monitor_destroy(cw_monitor_t **mp)
{
    if (!mp || !*mp)
        return;
    cw_monitor_t *m = *mp;
    pthread_mutex_destroy(&m->lock);
    free(m->slots);
    free(m);
    *mp = NULL;
}

void cw_monitor_set_phase(cw_monitor_t *m, cw_monitor_phase_t phase, const char *what)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->phase = phase;
    snprintf(m->what, sizeof m->what, "%s", what ? what : "");
    pthread_mutex_unlock(&m->lock);
}

/* Recomputes the gauges that summarise every slot. */
static void summarise(cw_monitor_t *m, double now_s)
{
    int active = 0, degraded = 0;
    for (int i = 0; i < m->n_slots; i++) {
        const line_slot_t *s = &m->slots[i];
        if (!s->active)
            continue;
        active++;
        for (int leg = 0; leg < CW_LEG_COUNT; leg++)
            degraded += s->degraded_until[leg] > now_s;
    }
    cw_metric_set(m->calls_active, NULL, active);
    cw_metric_set(m->legs_degraded, NULL, degraded);
}

/* Forgets the slot's call; keeps whether its line is down, which only
 * cw_monitor_line_down changes. */
static void clear_call(line_slot_t *s)
{
    s->active = false;
    s->call_id[0] = '\0';
    memset(s->dropped_seen, 0, sizeof s->dropped_seen);
    memset(s->degraded_until, 0, sizeof s->degraded_until);
    s->next_sample = 0;
}

void cw_monitor_line_down(cw_monitor_t *m, int slot, const char *line, const char *why)
{
    if (!m || slot < 0 || slot >= m->n_slots)
        return;
    int down = 0;
    pthread_mutex_lock(&m->lock);
    line_slot_t *s = &m->slots[slot];
    snprintf(s->down_line, sizeof s->down_line, "%s", why && line ? line : "");
    snprintf(s->down_why, sizeof s->down_why, "%s", why && line ? why : "");
    for (int i = 0; i < m->n_slots; i++)
        down += m->slots[i].down_line[0] != '\0';
    pthread_mutex_unlock(&m->lock);
    cw_metric_set(m->lines_down, NULL, down);
}

void cw_monitor_line(cw_monitor_t *m, int slot, const cw_call_t *call, double now_s)
{
    if (!m || slot < 0 || slot >= m->n_slots)
        return;
    line_slot_t *s = &m->slots[slot];
    bool done = call && cw_call_done(call);
    if (!call || done) {
        if (call && s->active && strcmp(s->call_id, cw_call_id(call)) == 0) {
            /* Last look before the call goes: its final losses count. */
            unsigned long long dropped[CW_LEG_COUNT];
            cw_call_frames_dropped(call, dropped);
            for (int leg = 0; leg < CW_LEG_COUNT; leg++)
                if (dropped[leg] > s->dropped_seen[leg])
                    cw_metric_add(m->frames_dropped, leg_labels[leg], (double)(dropped[leg] - s->dropped_seen[leg]));
        }
        if (s->active) {
            clear_call(s);
            summarise(m, now_s);
        }
        return;
    }
    if (!s->active || strcmp(s->call_id, cw_call_id(call)) != 0) {
        clear_call(s);
        s->active = true;
        snprintf(s->call_id, sizeof s->call_id, "%s", cw_call_id(call));
    } else if (now_s < s->next_sample) {
        return;
    }
    s->next_sample = now_s + SAMPLE_INTERVAL_S;
    unsigned long long dropped[CW_LEG_COUNT];
    cw_call_frames_dropped(call, dropped);
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        if (dropped[leg] > s->dropped_seen[leg]) {
            cw_metric_add(m->frames_dropped, leg_labels[leg], (double)(dropped[leg] - s->dropped_seen[leg]));
            s->dropped_seen[leg] = dropped[leg];
            s->degraded_until[leg] = now_s + CW_MONITOR_DEGRADED_S;
        }
        /* Switched to cue mode by overload: degraded until it is switched back. */
        if (cw_call_degraded(call, leg) && s->degraded_until[leg] < now_s + SAMPLE_INTERVAL_S * 2)
            s->degraded_until[leg] = now_s + SAMPLE_INTERVAL_S * 2;
    }
    summarise(m, now_s);
}

void cw_monitor_pbx(cw_monitor_t *m, int calls, int max_calls, unsigned long long refused)
{
    if (!m)
        return;
    cw_metric_set(m->pbx_calls, NULL, calls);
    cw_metric_set(m->pbx_calls_max, NULL, max_calls);
    cw_metric_set(m->pbx_refused, NULL, (double)refused);
}

/* Resident set size from /proc (Linux); 0 when unavailable. */
static double resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return 0;
    unsigned long size_pages = 0, resident_pages = 0;
    int n = fscanf(f, "%lu %lu", &size_pages, &resident_pages);
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return n == 2 && page > 0 ? (double)resident_pages * (double)page : 0;
}

void cw_monitor_pool(cw_monitor_t *m, cw_asr_pool_t *pool, double now_s)
{
    if (!m || now_s < m->next_pool_sample)
        return;
    m->next_pool_sample = now_s + SAMPLE_INTERVAL_S;
    if (pool) {
        cw_asr_pool_stats_t st;
        cw_asr_pool_get_stats(pool, &st);
        cw_metric_set(m->queue_depth, NULL, st.queued_utterances);
        cw_metric_set(m->decoders_busy, NULL, st.busy_decoders);
        cw_metric_set(m->decoders, NULL, cw_asr_pool_workers(pool));
    } else {
        cw_metric_set(m->decoders, NULL, 0);
    }
    cw_metric_set(m->resident_bytes, NULL, resident_bytes());
    /* Degraded legs age out even when no call is sampled. */
    summarise(m, now_s);
}

int cw_monitor_health(cw_monitor_t *m, char **json)
{
    *json = NULL;
    json_t *down = json_array();
    pthread_mutex_lock(&m->lock);
    cw_monitor_phase_t phase = m->phase;
    char what[WHAT_MAX];
    snprintf(what, sizeof what, "%s", m->what);
    for (int i = 0; i < m->n_slots; i++)
        if (m->slots[i].down_line[0])
            json_array_append_new(down, json_pack("{s:s,s:s}", "line", m->slots[i].down_line, "reason",
                                                  m->slots[i].down_why));
    pthread_mutex_unlock(&m->lock);

    double decoders = cw_metric_value(m->decoders, NULL);
    const char *reason = NULL;
    char why[WHAT_MAX + 32];
    if (phase == CW_MONITOR_STARTING) {
        snprintf(why, sizeof why, "starting: %s", what);
        reason = why;
    } else if (phase == CW_MONITOR_STOPPING) {
        snprintf(why, sizeof why, "stopping: %s", what);
        reason = why;
    } else if (decoders < 1) {
        reason = "no decoder running";
    }
    json_int_t pbx_calls = (json_int_t)cw_metric_value(m->pbx_calls, NULL);
    json_int_t max_calls = (json_int_t)cw_metric_value(m->pbx_calls_max, NULL);
    bool full = !reason && max_calls > 0 && pbx_calls >= max_calls;
    if (full) {
        snprintf(why, sizeof why, "at capacity: %lld of %lld PBX calls ([ingest] max_calls)", (long long)pbx_calls,
                 (long long)max_calls);
        reason = why;
    }
    double uptime = monotonic_s() - m->started_s;

    json_t *obj = json_object();
    /* A line that cannot be opened leaves the node serving its other lines:
     * still 200, but it says so. */
    bool some_down = json_array_size(down) > 0;
    json_object_set_new(obj, "status",
                        json_string(full ? "full" : reason ? "unavailable" : some_down ? "degraded" : "ok"));
    if (reason)
        json_object_set_new(obj, "reason", json_string(reason));
    json_object_set_new(obj, "node", json_string(m->node));
    json_object_set_new(obj, "calls_active", json_integer((json_int_t)cw_metric_value(m->calls_active, NULL)));
    json_object_set_new(obj, "legs_degraded", json_integer((json_int_t)cw_metric_value(m->legs_degraded, NULL)));
    json_object_set_new(obj, "decoders", json_integer((json_int_t)decoders));
    json_object_set_new(obj, "decoder_queue_depth",
                        json_integer((json_int_t)cw_metric_value(m->queue_depth, NULL)));
    json_object_set_new(obj, "pbx_calls", json_integer(pbx_calls));
    json_object_set_new(obj, "max_calls", json_integer(max_calls));
    json_object_set_new(obj, "lines_down", down);
    json_object_set_new(obj, "uptime_s", json_real((double)(long long)(uptime * 10) / 10));
    *json = json_dumps(obj, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(obj);
    return reason ? 503 : 200;
}
