/* overload.h - degrading on purpose when the decoders cannot keep up.
 *
 * The daemon reports the decoder pool and its calls each turn of its loop.
 * When some leg has more than `[asr] degrade_backlog_s` of speech waiting for
 * a decoder, the governor switches one more leg to cue mode (keyphrase
 * spotting, about a fifth of the decoder time) every `step_s` while that
 * lasts: agent legs first (their word cues matter least), newest call first,
 * then customer legs, newest call first. Once every leg's backlog stayed
 * below `recover_backlog_s` for `recover_hold_s`, it returns the last
 * degraded leg to its own mode, and so on, one per hold period.
 *
 * Every change is announced with a `status` event (topic status.<node>,
 * event.h) naming the legs switched, every leg degraded now and why, and
 * logged. Audio is never dropped by the governor; what a full backlog still
 * drops is counted by the legs as before (call_end frames_dropped).
 *
 * Thread rules: one thread (the daemon's) calls everything.
 */
#ifndef CALLWATCH_OVERLOAD_H
#define CALLWATCH_OVERLOAD_H

#include "callwatch/asr.h"
#include "callwatch/call.h"
#include "callwatch/config.h"
#include "callwatch/error.h"
#include "callwatch/outbox.h"

typedef struct cw_overload cw_overload_t;

/* Thresholds from cfg ([asr] degrade_backlog_s, recover_backlog_s,
 * recover_hold_s; degrade_backlog_s 0 = never degrade). Status events go to
 * outbox (borrowed, must outlive the governor) under node's name. */
cw_overload_t *cw_overload_new(const cw_config_t *cfg, const char *node, cw_outbox_t *outbox, cw_error_t *err);

void cw_overload_destroy(cw_overload_t **g);

/* One look at the pool and the calls now up (entries may be NULL; a call
 * that no longer appears is forgotten). now_s: monotonic seconds. Returns
 * the number of legs degraded after this look. */
int cw_overload_update(cw_overload_t *g, cw_asr_pool_t *pool, cw_call_t *const *calls, int n_calls, double now_s);

#endif
