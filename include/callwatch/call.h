/* call.h - one monitored call: a source, its legs, its events.
 *
 * A call pulls audio from its source, drives its legs, and turns their
 * transcripts into events posted to the outbox: call_start first, then
 * transcripts, then call_end once the source ended (or failed) and every
 * utterance of every leg has been decoded.
 *
 * Driven by one thread (cw_call_pump); transcripts arrive on decoder-pool
 * threads and are posted from there.
 */
#ifndef CALLWATCH_CALL_H
#define CALLWATCH_CALL_H

#include "callwatch/asr.h"
#include "callwatch/config.h"
#include "callwatch/error.h"
#include "callwatch/outbox.h"
#include "callwatch/source.h"

#include <stdbool.h>

typedef struct cw_call cw_call_t;

typedef struct cw_call_opts {
    const char *call_id;     /* NULL: generated, unique per process */
    const char *line;        /* line name for call_start, may be NULL */
    const char *agent_id;    /* may be NULL */
    bool offline;            /* analysis: never drop audio, block for decoders */
    bool no_asr;             /* no recognition (pool may be NULL): voice and turn-taking cues only */
    const char *team;        /* the agent's team for call_start, may be NULL */
    const char *asr_mode;    /* "full" / "cue" for this call's legs; NULL or "" = cfg [asr] mode */
    const char *started_at;  /* a recording's start for call_start (cw_event_parse_time form); NULL = now */
} cw_call_opts_t;

/* Takes ownership of *source (NULLed). Posts call_start. */
cw_call_t *cw_call_new(const cw_config_t *cfg, cw_asr_pool_t *pool, cw_outbox_t *outbox,
                       cw_source_t **source, const cw_call_opts_t *opts, cw_error_t *err);

/* Moves available audio from the source through the legs. Returns the number
 * of frames processed (0: nothing available now). When the source ends or
 * fails, the legs are finished and the call becomes "ending"; the failure
 * reason goes into call_end. */
long cw_call_pump(cw_call_t *call);

/* Ends the call now (shutdown): the source is closed, open utterances are
 * finished. call_end follows with `reason`. */
void cw_call_hangup(cw_call_t *call, const char *reason);

/* True once call_end has been posted; the call may then be destroyed. */
bool cw_call_done(const cw_call_t *call);

/* True when the source has ended or failed (decoding may still be going on). */
bool cw_call_ended(const cw_call_t *call);

/* True if the call ended because its source failed (not a normal EOF). */
bool cw_call_failed(const cw_call_t *call);

const char *cw_call_id(const cw_call_t *call);

void cw_call_destroy(cw_call_t **call);

/* Switches the recognition of leg (a cw_leg_id; -1 = both legs) to mode,
 * from each leg's next utterance. No effect without recognition. Any thread. */
void cw_call_set_asr_mode(cw_call_t *call, int leg, cw_asr_mode_t mode);

/* Overload: degraded switches leg to cue mode; not degraded returns it to
 * the call's own mode (opts->asr_mode / [asr] mode). Daemon thread. */
void cw_call_set_degraded(cw_call_t *call, int leg, bool degraded);
bool cw_call_degraded(const cw_call_t *call, int leg);

/* Whether leg is recognised in full mode of its own (not degraded, not cue
 * by configuration): a leg overload could switch to cue mode. */
bool cw_call_can_degrade(const cw_call_t *call, int leg);

/* The mode of leg's recognition (CW_ASR_FULL without recognition;
 * CW_ASR_OFF for the agent leg in cue mode: only the customer has word cues). */
cw_asr_mode_t cw_call_asr_mode(const cw_call_t *call, int leg);

/* Audio lost so far on each leg (indexed by leg id): frames the source
 * dropped plus 16 kHz samples the decoder backlog dropped, the numbers
 * call_end reports at the end. Only the thread that pumps the call. */
void cw_call_frames_dropped(const cw_call_t *call, unsigned long long dropped[CW_LEG_COUNT]);

/* The config the call was made with (it keeps reading it until destroyed). */
const cw_config_t *cw_call_config(const cw_call_t *call);

/* For a shutdown that stopped waiting for the decoders: a call that ended
 * but still has utterances undecoded posts its call_end now, with " (why)"
 * appended to its reason, so subscribers and the archive still see the call
 * end. Only once no decoder can call back into the call (after
 * cw_asr_pool_destroy). Does nothing to a call running or done. */
void cw_call_abandon(cw_call_t *call, const char *why);

#endif
