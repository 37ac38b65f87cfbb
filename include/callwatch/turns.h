/* turns.h - turn-taking cues from the two legs' voice activity.
 *
 * talk_over: the agent starts speaking while the customer is still speaking
 * and both go on together for at least talk_over_s.
 * dead_air: neither leg has spoken for dead_air_s while the call is up
 * (counted from the end of the last speech; silence before anyone spoke is
 * ringing or hold, not dead air).
 *
 * Talk-over is judged on each leg's own speech, 10 ms frame by frame: a
 * frame is the leg's own when it is loud (above max(loud_floor_db, the leg's
 * noise + loud_margin_db), the VAD's rule) and not crosstalk_db or more below
 * the other leg's frame at the same instant. Real lines leak each speaker
 * into the other channel (echo, crosstalk, typically 15-30 dB down); the
 * VAD opens on that leak, so VAD activity alone would see an agent who
 * answers after the customer as talking over them, and miss the start of a
 * real talk-over. A leg talks from onset_s worth of own frames on and stops
 * after hold_s without one.
 *
 * Fed with each leg's frames and activity as the call's audio is processed;
 * returns the cues found, each with its span and numbers, for the alert
 * engine. A dead air cue is offered again as the silence grows (its score
 * rises with it); a talk-over is reported once per agent talk spurt.
 *
 * Not thread-safe: one per call, driven by the call's ingest thread.
 */
#ifndef CALLWATCH_TURNS_H
#define CALLWATCH_TURNS_H

#include "callwatch/cue.h"
#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct cw_turns_params {
    double talk_over_s;    /* overlap that counts as talking over (> 0) */
    double dead_air_s;     /* silence that counts as dead air (> 0) */
    double crosstalk_db;   /* a frame this many dB below the other leg's is its leak (>= 0; 0 = no such test) */
    double loud_floor_db;  /* a frame below this level (dBFS) is never speech (the VAD's threshold_db) */
    double loud_margin_db; /* nor one less than this above the leg's noise (the VAD's margin_db, >= 0) */
    double onset_s;        /* own speech that starts a talk spurt (the VAD's onset, > 0) */
    double hold_s;         /* pause that ends a talk spurt (the VAD's hangover, > 0) */
} cw_turns_params_t;

typedef struct cw_turn_cue {
    const char *kind;  /* "talk_over" or "dead_air" (static) */
    int leg;           /* 0 agent (the talk-over, or the leg expected to fill the silence) */
    double t_start, t_end;
    double score;      /* 0..1 */
    double seconds;    /* the overlap or the silence */
} cw_turn_cue_t;

typedef struct cw_turns cw_turns_t;

/* NULL with a message naming the parameter when one is out of range, or
 * when out of memory. */
cw_turns_t *cw_turns_new(const cw_turns_params_t *params, cw_error_t *err);
void cw_turns_destroy(cw_turns_t **turns);

/* Every frame of one leg (0 agent, 1 customer), in order, as the leg
 * measured them (prosody.h; level_db is what is used). The two legs' frames
 * are paired by position (the legs share one timeline) and judged in
 * cw_turns_update(); a leg may run ahead of the other by up to 10 s of
 * frames, beyond which its oldest frames are judged against silence. */
void cw_turns_frames(cw_turns_t *turns, int leg, const cw_prosody_frame_t *frames, size_t n);

/* The legs' activity with both legs' audio processed up to now_s (call
 * seconds, non-decreasing). Judges the frames paired so far, writes up to
 * cap cues into out and returns how many. */
size_t cw_turns_update(cw_turns_t *turns, const cw_activity_t *agent, const cw_activity_t *customer, double now_s,
                       cw_turn_cue_t *out, size_t cap);

#endif
