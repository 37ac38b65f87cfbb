/* metrics_sink.c - see callwatch/metrics_sink.h */
#define _XOPEN_SOURCE 700 /* strptime */
#include "callwatch/metrics_sink.h"

#include "callwatch/config.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Calls whose start is remembered; beyond that the oldest is forgotten (its
 * alerts then go unmeasured). Far more than one node runs at once. */
#define TRACKED_CALLS 1024

/* Upper bounds in seconds; 0.3 is the product's p95 target for an alert. */
static const double latency_bounds_s[] = {0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30};

typedef struct tracked_call {
    char call_id[CW_NAME_MAX];
    double started_wall_s; /* 0 = free slot */
} tracked_call_t;

typedef struct metrics_sink {
    const cw_sink_t *bus;
    unsigned long long bus_dropped_seen;
    cw_metric_t *published;
    cw_metric_t *dropped;
    cw_metric_t *latency;
    tracked_call_t calls[TRACKED_CALLS];
} metrics_sink_t;

static double wall_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* "2024-05-01T12:34:56.789Z" -> seconds since the epoch; 0 if it is not that. */
static double parse_started_at(const char *text)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *rest = text ? strptime(text, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!rest)
        return 0;
    double frac = 0;
    if (*rest == '.') {
        char *end = NULL;
        frac = strtod(rest, &end);
        rest = end;
    }
    if (strcmp(rest, "Z") != 0)
        return 0;
    time_t secs = timegm(&tm);
    return secs == (time_t)-1 ? 0 : (double)secs + frac;
}

static tracked_call_t *find_call(metrics_sink_t *ms, const char *call_id)
{
    for (size_t i = 0; i < TRACKED_CALLS; i++)
        if (ms->calls[i].started_wall_s > 0 && strcmp(ms->calls[i].call_id, call_id) == 0)
            return &ms->calls[i];
    return NULL;
}

static void remember_call(metrics_sink_t *ms, const char *call_id, double started)
{
    tracked_call_t *slot = find_call(ms, call_id);
    for (size_t i = 0; !slot && i < TRACKED_CALLS; i++)
        if (ms->calls[i].started_wall_s <= 0)
            slot = &ms->calls[i];
    if (!slot) {
        slot = &ms->calls[0];
        for (size_t i = 1; i < TRACKED_CALLS; i++)
            if (ms->calls[i].started_wall_s < slot->started_wall_s)
                slot = &ms->calls[i];
    }
    snprintf(slot->call_id, sizeof slot->call_id, "%s", call_id);
    slot->started_wall_s = started;
}

/* Only call_start, call_end and alerts are parsed: they are rare next to
 * transcripts. */
static void track(metrics_sink_t *ms, const cw_event_t *ev, double published_wall_s)
{
    bool start = strcmp(ev->type, "call_start") == 0;
    bool end = strcmp(ev->type, "call_end") == 0;
    bool alert = strcmp(ev->type, "alert") == 0;
    if (!start && !end && !alert)
        return;
    json_t *obj = json_loadb(ev->json, ev->json_len, 0, NULL);
    const char *call_id = json_string_value(json_object_get(obj, "call_id"));
    if (call_id && start) {
        double started = parse_started_at(json_string_value(json_object_get(obj, "started_at")));
        if (started > 0)
            remember_call(ms, call_id, started);
    } else if (call_id && end) {
        tracked_call_t *c = find_call(ms, call_id);
        if (c)
            c->started_wall_s = 0;
    } else if (call_id && alert) {
        tracked_call_t *c = find_call(ms, call_id);
        json_t *t_end = json_object_get(obj, "t_end");
        if (c && json_is_number(t_end)) {
            double latency = published_wall_s - (c->started_wall_s + json_number_value(t_end));
            cw_metric_observe(ms->latency, NULL, latency > 0 ? latency : 0);
        }
    }
    json_decref(obj);
}

static int ms_write(void *impl, const cw_event_t *ev, cw_error_t *err)
{
    (void)err;
    metrics_sink_t *ms = impl;
    double now = wall_now_s();
    if (ms->bus) {
        unsigned long long dropped = cw_sink_dropped(ms->bus);
        if (dropped > ms->bus_dropped_seen) {
            /* The bus refused this event: nobody received it. */
            cw_metric_add(ms->dropped, NULL, (double)(dropped - ms->bus_dropped_seen));
            ms->bus_dropped_seen = dropped;
            return CW_OK;
        }
    }
    cw_metric_add(ms->published, ev->type, 1);
    track(ms, ev, now);
    return CW_OK;
}

static void ms_destroy(void *impl)
{
    free(impl);
}

static const cw_sink_ops_t metrics_sink_ops = {
    .name = "metrics",
    .write = ms_write,
    .destroy = ms_destroy,
};

cw_sink_t *cw_metrics_sink_new(cw_metrics_t *reg, const cw_sink_t *bus, cw_error_t *err)
{
    metrics_sink_t *ms = calloc(1, sizeof *ms);
    if (!ms) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the metrics sink");
        return NULL;
    }
    ms->bus = bus;
    ms->bus_dropped_seen = bus ? cw_sink_dropped(bus) : 0;
    ms->published = cw_metrics_register(reg, CW_METRIC_COUNTER, "callwatch_events_published_total",
                                        "Events handed to the bus socket, by event type.", "type", NULL, 0, err);
    if (!ms->published)
        goto error_out;
    ms->dropped = cw_metrics_register(reg, CW_METRIC_COUNTER, "callwatch_bus_dropped_total",
                                      "Events the bus refused because every subscriber queue was full.", NULL,
                                      NULL, 0, err);
    if (!ms->dropped)
        goto error_out;
    ms->latency = cw_metrics_register(
        reg, CW_METRIC_HISTOGRAM, "callwatch_alert_latency_seconds",
        "Wall-clock seconds from the end of an alert's evidence in the call audio to the alert on the bus.", NULL,
        latency_bounds_s, sizeof latency_bounds_s / sizeof latency_bounds_s[0], err);
    if (!ms->latency)
        goto error_out;
    static const char *const types[] = {"call_start", "transcript", "alert", "call_end"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        cw_metric_add(ms->published, types[i], 0); /* shown as 0 before the first */

    cw_sink_t *sink = cw_sink_wrap(&metrics_sink_ops, ms); /* frees ms on failure */
    if (!sink)
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the metrics sink");
    return sink;

error_out:
    free(ms);
    return NULL;
}
