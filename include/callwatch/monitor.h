/* monitor.h - the live daemon watching itself: pipeline metrics and health.
 *
 * `callwatch run` reports its lines, its calls and its decoder pool here;
 * the monitor keeps these families in a registry (metrics.h):
 *   callwatch_calls_active             calls being monitored now
 *   callwatch_legs_degraded            legs of those calls that lost audio in
 *                                      the last CW_MONITOR_DEGRADED_S seconds
 *                                      or are switched to cue mode by overload
 *   callwatch_frames_dropped_total{leg} audio lost (source frames the capture
 *                                      ring overwrote + 16 kHz samples a full
 *                                      decoder backlog refused), as call_end's
 *                                      frames_dropped, but counted live
 *   callwatch_decoder_queue_depth      utterances waiting for a decoder
 *   callwatch_decoders, callwatch_decoders_busy
 *   callwatch_lines_down               configured lines whose device cannot
 *                                      be opened now (being retried)
 *   callwatch_pbx_calls, callwatch_pbx_calls_max
 *                                      PBX calls (AudioSocket + WebSocket)
 *                                      holding a place now, and the cap
 *                                      ([ingest] max_calls; 0 = none)
 *   callwatch_pbx_calls_refused_total  streams refused: the node was at
 *                                      that cap
 *   callwatch_build_info{version}, process_start_time_seconds,
 *   process_resident_memory_bytes
 * and answers the health check: live (HTTP 200) once the bus is up, the
 * models are loaded and the lines are started, with at least one decoder;
 * otherwise 503 with the reason (starting, stopping, no decoder, or "full":
 * at the PBX call cap, so that a load balancer sends new calls elsewhere).
 *
 * Thread rules: new/destroy and the reporting calls (set_phase, line, pool)
 * on the daemon's thread; cw_monitor_health from any thread (the HTTP
 * server's).
 */
#ifndef CALLWATCH_MONITOR_H
#define CALLWATCH_MONITOR_H

#include "callwatch/asr.h"
#include "callwatch/call.h"
#include "callwatch/error.h"
#include "callwatch/metrics.h"

/* How long a leg counts as degraded after it last lost audio. */
#define CW_MONITOR_DEGRADED_S 10.0

typedef struct cw_monitor cw_monitor_t;

typedef enum cw_monitor_phase {
    CW_MONITOR_STARTING, /* 503 */
    CW_MONITOR_LIVE,     /* 200 if a decoder runs */
    CW_MONITOR_STOPPING, /* 503 */
} cw_monitor_phase_t;

/* Registers the families in reg (which must outlive the monitor). node:
 * this node's name, shown by the health check; max_lines: line slots
 * (0..max_lines-1) the daemon reports, 0 for a daemon that only takes
 * AudioSocket calls. Starts in CW_MONITOR_STARTING. */
cw_monitor_t *cw_monitor_new(cw_metrics_t *reg, const char *node, int max_lines, cw_error_t *err);

/* Frees and NULLs *m; accepts NULL. No cw_monitor_health may be running. */
void cw_monitor_destroy(cw_monitor_t **m);

/* what: a few words shown by the health check ("loading the speech
 * models"); copied. */
void cw_monitor_set_phase(cw_monitor_t *m, cw_monitor_phase_t phase, const char *what);

/* Reports line `slot`'s call (NULL when it has none) at monotonic time
 * now_s. Call it for every line on each turn of the daemon's loop, and once
 * more just before destroying a call, so its last losses are counted; the
 * monitor samples each call at most every 0.25 s unless it is done. */
void cw_monitor_line(cw_monitor_t *m, int slot, const cw_call_t *call, double now_s);

/* Marks line `slot` (named `line`) as down, its device not opening, with
 * why (one line, copied); why NULL marks it up again. Shown by the health
 * check ("status":"degraded", still 200, and "lines_down") and counted in
 * callwatch_lines_down. Daemon thread. */
void cw_monitor_line_down(cw_monitor_t *m, int slot, const char *line, const char *why);

/* Reports the PBX calls holding a place now, the cap (0 = none) and the
 * streams refused at the cap so far. Daemon thread, every turn (cheap). */
void cw_monitor_pbx(cw_monitor_t *m, int calls, int max_calls, unsigned long long refused);

/* Reports the decoder pool (NULL before it exists); sampled at most every
 * 0.25 s of now_s, as are the process figures. */
void cw_monitor_pool(cw_monitor_t *m, cw_asr_pool_t *pool, double now_s);

/* The health verdict: returns 200 or 503 and sets *json to a malloc'd
 * object (caller frees; NULL when out of memory):
 *   {"status":"ok","node":N,"calls_active":N,"uptime_s":S,"decoders":N,
 *    "decoder_queue_depth":N,"legs_degraded":N,"lines_down":[]}
 *   200 {"status":"degraded",...,"lines_down":[{"line":L,"reason":R}]}
 *     when a line's device cannot be opened (the others run);
 *   {"status":"unavailable","reason":"starting: loading the speech models",...}
 *   503 {"status":"full","reason":"at capacity: 4 of 4 PBX calls ([ingest] max_calls)",...}
 * Every answer also has "pbx_calls":N,"max_calls":N.
 * Any thread. */
int cw_monitor_health(cw_monitor_t *m, char **json);

#endif
