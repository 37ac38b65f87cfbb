/* pbxcall.c - see callwatch/pbxcall.h
 *
 * The desk's memory is held by `refs`: one per holder (its creator, each
 * server sharing it) plus one per call holding a place. When the last holder
 * lets go, the calls still queued are dropped; the memory goes with the
 * last reference, which may be a call's source freed much later.
 */
#include "callwatch/pbxcall.h"
#include "callwatch/ring.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A leg's ring holds at least this many samples whatever ring_s says. */
#define MIN_RING_FRAMES 4096
#define PEER_MAX 80
#define WHY_MAX 320
/* Samples converted per ring read. */
#define SOURCE_CHUNK 1024
#define LOG_MAX 640

struct cw_pbxcalls {
    _Atomic int refs;    /* holders + calls holding a place */
    _Atomic int holders;
    _Atomic int calls;
    _Atomic uint64_t refused;
    int max_calls;
    pthread_mutex_t lock; /* the FIFO */
    cw_pbxcall_t *head, *tail;
};

typedef struct pbx_leg {
    cw_ring_t *ring;       /* int16 samples; NULL for a leg that cannot attach */
    _Atomic bool attached; /* publishes pad_frames, peer */
    _Atomic bool ended;    /* publishes normal, why; no write to ring after it */
    uint64_t pad_frames;   /* silence owed before the first sample (joined late) */
    char peer[PEER_MAX];
    bool normal;
    char why[WHY_MAX];
    uint64_t received;     /* producer: samples that arrived */
    bool overrun_seen;     /* producer */
} pbx_leg_t;

struct cw_pbxcall {
    _Atomic int refs;
    cw_pbxcalls_t *desk;
    cw_pbxcall_info_t info;  /* has_leg fixed by cw_pbxcall_start */
    bool leg_streams;
    size_t ring_frames;
    pbx_leg_t legs[CW_LEG_COUNT];
    char description[CW_PATH_MAX];
    cw_pbxcall_t *next;      /* the desk's FIFO, under its lock */
};

/* ---- the desk ------------------------------------------------------------------- */

cw_pbxcalls_t *cw_pbxcalls_new(int max_calls)
{
    if (max_calls < 0)
        return NULL;
    cw_pbxcalls_t *desk = calloc(1, sizeof *desk);
    if (!desk)
        return NULL;
    atomic_init(&desk->refs, 1);
    atomic_init(&desk->holders, 1);
    atomic_init(&desk->calls, 0);
    atomic_init(&desk->refused, 0);
    desk->max_calls = max_calls;
    pthread_mutex_init(&desk->lock, NULL);
    return desk;
}

static void desk_unref(cw_pbxcalls_t *desk)
{
    if (atomic_fetch_sub(&desk->refs, 1) != 1)
        return;
    pthread_mutex_destroy(&desk->lock);
    free(desk);
}

cw_pbxcalls_t *cw_pbxcalls_retain(cw_pbxcalls_t *desk)
{
    atomic_fetch_add(&desk->holders, 1);
    atomic_fetch_add(&desk->refs, 1);
    return desk;
}

/* The first call queued, or NULL. */
static cw_pbxcall_t *dequeue(cw_pbxcalls_t *desk)
{
    pthread_mutex_lock(&desk->lock);
    cw_pbxcall_t *call = desk->head;
    if (call) {
        desk->head = call->next;
        if (!desk->head)
            desk->tail = NULL;
    }
    pthread_mutex_unlock(&desk->lock);
    return call;
}

void cw_pbxcalls_destroy(cw_pbxcalls_t **desk_p)
{
    if (!desk_p || !*desk_p)
        return;
    cw_pbxcalls_t *desk = *desk_p;
    *desk_p = NULL;
    if (atomic_fetch_sub(&desk->holders, 1) == 1) {
        cw_pbxcall_t *call;
        while ((call = dequeue(desk)) != NULL)
            cw_pbxcall_release(&call);
    }
    desk_unref(desk);
}

void cw_pbxcalls_get_stats(const cw_pbxcalls_t *desk, cw_pbxcalls_stats_t *stats)
{
    stats->calls = atomic_load(&desk->calls);
    stats->max_calls = desk->max_calls;
    stats->refused = atomic_load(&desk->refused);
}

/* Takes a place; false when the desk is full. */
static bool take_place(cw_pbxcalls_t *desk)
{
    int n = atomic_load(&desk->calls);
    do {
        if (desk->max_calls > 0 && n >= desk->max_calls)
            return false;
    } while (!atomic_compare_exchange_weak(&desk->calls, &n, n + 1));
    atomic_fetch_add(&desk->refs, 1);
    return true;
}

static void give_place(cw_pbxcalls_t *desk)
{
    atomic_fetch_sub(&desk->calls, 1);
    desk_unref(desk);
}

/* ---- a call ------------------------------------------------------------------------ */

void cw_pbxcall_release(cw_pbxcall_t **call_p)
{
    if (!call_p || !*call_p)
        return;
    cw_pbxcall_t *call = *call_p;
    *call_p = NULL;
    if (atomic_fetch_sub(&call->refs, 1) != 1)
        return;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        cw_ring_destroy(&call->legs[leg].ring);
    give_place(call->desk);
    free(call);
}

cw_pbxcall_t *cw_pbxcall_new(cw_pbxcalls_t *desk, const cw_pbxcall_opts_t *o, cw_error_t *err)
{
    if (!take_place(desk)) {
        atomic_fetch_add(&desk->refused, 1);
        cw_error_set(err, CW_ERR_BUSY, "this node is at capacity: %d of %d calls ([ingest] max_calls); try another "
                     "node", desk->max_calls, desk->max_calls);
        return NULL;
    }
    cw_pbxcall_t *call = calloc(1, sizeof *call);
    if (!call) {
        give_place(desk);
        cw_error_set(err, CW_ERR_NOMEM, "out of memory for a new call");
        return NULL;
    }
    atomic_init(&call->refs, 1);
    call->desk = desk;
    cw_pbxcall_info_t *info = &call->info;
    snprintf(info->call_id, sizeof info->call_id, "%s", o->call_id);
    snprintf(info->agent_id, sizeof info->agent_id, "%s", o->agent_id ? o->agent_id : "");
    snprintf(info->team, sizeof info->team, "%s", o->team ? o->team : "");
    info->ingest = o->ingest;
    info->protocol = o->protocol;
    info->rate_hz = o->rate_hz;
    call->leg_streams = o->leg_streams;
    double frames = o->ring_s * o->rate_hz;
    call->ring_frames = frames < MIN_RING_FRAMES ? MIN_RING_FRAMES : (size_t)frames;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        atomic_init(&call->legs[leg].attached, false);
        atomic_init(&call->legs[leg].ended, false);
        if (o->legs[leg] && !(call->legs[leg].ring = cw_ring_new(sizeof(int16_t), call->ring_frames))) {
            cw_pbxcall_release(&call);
            cw_error_set(err, CW_ERR_NOMEM, "out of memory for a new call");
            return NULL;
        }
    }
    return call;
}

const char *cw_pbxcall_id(const cw_pbxcall_t *call)
{
    return call->info.call_id;
}

void cw_pbxcall_attach(cw_pbxcall_t *call, cw_leg_id leg, uint64_t pad_frames, const char *peer)
{
    pbx_leg_t *l = &call->legs[leg];
    l->pad_frames = pad_frames;
    snprintf(l->peer, sizeof l->peer, "%s", peer);
    atomic_store_explicit(&l->attached, true, memory_order_release);
}

bool cw_pbxcall_attached(const cw_pbxcall_t *call, cw_leg_id leg)
{
    return atomic_load_explicit(&call->legs[leg].attached, memory_order_acquire);
}

uint64_t cw_pbxcall_position(const cw_pbxcall_t *call, cw_leg_id leg)
{
    const pbx_leg_t *l = &call->legs[leg];
    return l->pad_frames + l->received;
}

const char *cw_pbxcall_peer(const cw_pbxcall_t *call, cw_leg_id leg)
{
    return cw_pbxcall_attached(call, leg) ? call->legs[leg].peer : "";
}

bool cw_pbxcall_write(cw_pbxcall_t *call, cw_leg_id leg, const int16_t *samples, size_t n)
{
    pbx_leg_t *l = &call->legs[leg];
    if (!l->ring || n == 0)
        return false;
    size_t written = cw_ring_write(l->ring, samples, n);
    l->received += n;
    if (written == n || l->overrun_seen)
        return false;
    l->overrun_seen = true;
    return true;
}

double cw_pbxcall_buffer_s(const cw_pbxcall_t *call)
{
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        if (call->legs[leg].ring)
            return (double)cw_ring_capacity(call->legs[leg].ring) / call->info.rate_hz;
    return 0;
}

void cw_pbxcall_end_leg(cw_pbxcall_t *call, cw_leg_id leg, bool normal, const char *why)
{
    pbx_leg_t *l = &call->legs[leg];
    l->normal = normal;
    snprintf(l->why, sizeof l->why, "%s", why);
    atomic_store_explicit(&l->ended, true, memory_order_release);
}

void cw_pbxcall_end(cw_pbxcall_t *call, bool normal, const char *why)
{
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        cw_pbxcall_end_leg(call, (cw_leg_id)leg, normal, why);
}

void cw_pbxcall_start(cw_pbxcall_t *call, const char *description)
{
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        call->info.has_leg[leg] = cw_pbxcall_attached(call, (cw_leg_id)leg);
    snprintf(call->description, sizeof call->description, "%s", description);
    atomic_fetch_add(&call->refs, 1);
    cw_pbxcalls_t *desk = call->desk;
    pthread_mutex_lock(&desk->lock);
    call->next = NULL;
    if (desk->tail)
        desk->tail->next = call;
    else
        desk->head = call;
    desk->tail = call;
    pthread_mutex_unlock(&desk->lock);
}

/* ---- the source of one call ---------------------------------------------------------- */

typedef struct pbx_source {
    cw_pbxcall_t *call;
    uint64_t pad_left[CW_LEG_COUNT];
    uint64_t delivered[CW_LEG_COUNT];
    int16_t scratch[SOURCE_CHUNK];
    char reason[WHY_MAX + 64];
} pbx_source_t;

/* Moves up to cap samples of one leg's ring into out; returns how many. */
static size_t drain_ring(pbx_source_t *s, cw_ring_t *ring, float *out, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        size_t chunk = cap - n < SOURCE_CHUNK ? cap - n : SOURCE_CHUNK;
        size_t got = cw_ring_read(ring, s->scratch, chunk);
        for (size_t i = 0; i < got; i++)
            out[n + i] = (float)s->scratch[i] / 32768.0f;
        n += got;
        if (got < chunk)
            break;
    }
    return n;
}

/* Delivers one leg; true once it ended and everything it had was delivered. */
static bool pull_leg(pbx_source_t *s, int leg, float *out, size_t cap, size_t *n_out)
{
    pbx_leg_t *l = &s->call->legs[leg];
    size_t n = 0;
    while (s->pad_left[leg] > 0 && n < cap) {
        out[n++] = 0.0f;
        s->pad_left[leg]--;
    }
    /* ended first: once it is seen, what the ring holds is all there will be. */
    bool ended = atomic_load_explicit(&l->ended, memory_order_acquire);
    n += drain_ring(s, l->ring, out + n, cap - n);
    *n_out = n;
    s->delivered[leg] += n;
    return ended && cw_ring_read_space(l->ring) == 0 && s->pad_left[leg] == 0;
}

/* The end reason: "hangup", or why the first leg cut off ended. */
static void set_reason(pbx_source_t *s)
{
    const cw_pbxcall_t *call = s->call;
    snprintf(s->reason, sizeof s->reason, "hangup");
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        const pbx_leg_t *l = &call->legs[leg];
        if (!call->info.has_leg[leg] || l->normal)
            continue;
        if (call->leg_streams)
            snprintf(s->reason, sizeof s->reason, "disconnect: %s leg: %s", cw_leg_name((cw_leg_id)leg), l->why);
        else
            snprintf(s->reason, sizeof s->reason, "disconnect: %s", l->why);
        return;
    }
}

static cw_pull_status source_pull(void *impl, float *out[CW_LEG_COUNT], size_t cap, size_t n_out[CW_LEG_COUNT],
                                  cw_error_t *err)
{
    (void)err;
    pbx_source_t *s = impl;
    bool all_done = true;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        if (s->call->info.has_leg[leg] && !pull_leg(s, leg, out[leg], cap, &n_out[leg]))
            all_done = false;
    if (!all_done)
        return CW_PULL_OK;
    set_reason(s);
    return CW_PULL_EOF;
}

static void source_stats(const void *impl, cw_source_stats_t *stats)
{
    const pbx_source_t *s = impl;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        const pbx_leg_t *l = &s->call->legs[leg];
        stats->frames_delivered[leg] = s->delivered[leg];
        stats->frames_dropped[leg] = s->call->info.has_leg[leg] && l->ring ? cw_ring_overruns(l->ring) : 0;
    }
}

static const char *source_end_reason(const void *impl)
{
    const pbx_source_t *s = impl;
    return s->reason[0] ? s->reason : NULL;
}

static void source_destroy(void *impl)
{
    pbx_source_t *s = impl;
    if (!s)
        return;
    cw_pbxcall_release(&s->call);
    free(s);
}

static const cw_source_ops_t pbx_source_ops = {
    .name = "pbx",
    .pull = source_pull,
    .stats = source_stats,
    .destroy = source_destroy,
    .end_reason = source_end_reason,
};

int cw_pbxcalls_take(cw_pbxcalls_t *desk, cw_source_t **source, cw_pbxcall_info_t *info, cw_error_t *err)
{
    *source = NULL;
    cw_pbxcall_t *call = dequeue(desk);
    if (!call)
        return 0;
    *info = call->info;
    pbx_source_t *s = calloc(1, sizeof *s);
    if (!s) {
        cw_pbxcall_release(&call);
        return cw_error_set(err, CW_ERR_NOMEM, "call %s: out of memory; the call is not monitored", info->call_id);
    }
    s->call = call;
    cw_source_info_t si;
    memset(&si, 0, sizeof si);
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        si.has_leg[leg] = call->info.has_leg[leg];
        si.rate_hz[leg] = call->info.has_leg[leg] ? call->info.rate_hz : 0;
        /* Published by `attached`, which cw_pbxcall_start read. */
        s->pad_left[leg] = call->info.has_leg[leg] ? call->legs[leg].pad_frames : 0;
    }
    snprintf(si.description, sizeof si.description, "%s", call->description);
    *source = cw_source_wrap(&pbx_source_ops, s, &si);
    if (!*source)
        return cw_error_set(err, CW_ERR_NOMEM, "call %s: out of memory; the call is not monitored", info->call_id);
    return 1;
}

/* ---- what each server keeps ------------------------------------------------------------- */

double cw_pbx_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cw_pbx_ingest_init(cw_pbx_ingest_t *ing, const char *name, void (*log)(void *user, const char *line),
                       void *log_user, cw_pbxcalls_t *desk, cw_error_t *err)
{
    memset(ing, 0, sizeof *ing);
    ing->name = name;
    ing->log = log;
    ing->log_user = log_user;
    ing->desk = desk ? cw_pbxcalls_retain(desk) : cw_pbxcalls_new(0);
    if (!ing->desk)
        return cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", name);
    return CW_OK;
}

void cw_pbx_ingest_fini(cw_pbx_ingest_t *ing)
{
    cw_pbxcalls_destroy(&ing->desk);
}

void cw_pbx_ingest_log(const cw_pbx_ingest_t *ing, const char *fmt, ...)
{
    char line[LOG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (ing->log)
        ing->log(ing->log_user, line);
    else
        fprintf(stderr, "callwatch: %s: %s\n", ing->name, line);
}

cw_pbxcall_t *cw_pbx_ingest_call_new(cw_pbx_ingest_t *ing, const cw_pbxcall_opts_t *opts, const char *label,
                                     cw_error_t *err)
{
    cw_pbxcall_t *call = cw_pbxcall_new(ing->desk, opts, err);
    if (!call && err->code == CW_ERR_BUSY) {
        atomic_fetch_add(&ing->at_capacity, 1);
        cw_pbx_ingest_log(ing, "%s (call %s): refused: %s", label, opts->call_id, err->msg);
    }
    return call;
}

void cw_pbx_ingest_ended(cw_pbx_ingest_t *ing, const char *label, cw_pbx_end_t kind, const char *why,
                         double connected_at, cw_pbxcall_t *call, int leg)
{
    switch (kind) {
    case CW_PBX_HANGUP:
        atomic_fetch_add(&ing->hangups, 1);
        cw_pbx_ingest_log(ing, "%s: %s after %.1f s", label, why, cw_pbx_now_s() - connected_at);
        break;
    case CW_PBX_DISCONNECT:
        atomic_fetch_add(&ing->disconnects, 1);
        cw_pbx_ingest_log(ing, "%s: disconnected: %s; connection closed", label, why);
        break;
    case CW_PBX_PROTOCOL:
        atomic_fetch_add(&ing->protocol_errors, 1);
        cw_pbx_ingest_log(ing, "%s: protocol error: %s; connection closed", label, why);
        break;
    }
    if (!call)
        return;
    char ended[WHY_MAX];
    snprintf(ended, sizeof ended, "%s%s", kind == CW_PBX_PROTOCOL ? "protocol error: " : "", why);
    if (leg < 0)
        cw_pbxcall_end(call, kind == CW_PBX_HANGUP, ended);
    else
        cw_pbxcall_end_leg(call, (cw_leg_id)leg, kind == CW_PBX_HANGUP, ended);
}

void cw_pbx_ingest_get_stats(const cw_pbx_ingest_t *ing, cw_pbx_stats_t *stats)
{
    stats->connections = atomic_load(&ing->connections);
    stats->refused = atomic_load(&ing->refused);
    stats->protocol_errors = atomic_load(&ing->protocol_errors);
    stats->disconnects = atomic_load(&ing->disconnects);
    stats->hangups = atomic_load(&ing->hangups);
    stats->calls = atomic_load(&ing->calls);
    stats->at_capacity = atomic_load(&ing->at_capacity);
    stats->open_connections = atomic_load(&ing->open);
}
