/* test_turns.c - talk-over and dead air from two legs' frames, with and
 * without one leg leaking into the other. */
#include "callwatch/turns.h"

#include "check.h"

#include <string.h>

#define FRAMES_PER_S 100
#define SECONDS 8
#define N (SECONDS * FRAMES_PER_S)
#define NOISE_DB (-80.0f)
#define SPEECH_DB (-20.0f)
#define LEAK_DB 20.0f

/* A speaker's own speech [from_s, to_s) on a leg, with syllable-like level
 * dips so not every frame is at full level. */
typedef struct talk {
    double from_s, to_s;
} talk_t;

static float own_level(const talk_t *t, int frame)
{
    double s = (double)frame / FRAMES_PER_S;
    if (s < t->from_s || s >= t->to_s)
        return NOISE_DB;
    return frame % 10 < 7 ? SPEECH_DB : SPEECH_DB - 8;
}

static float db_sum(float a, float b)
{
    /* Levels of independent sources add in power; a crude max is enough here. */
    return a > b ? a : b;
}

/* Runs a call: each leg's level is its own speech plus (leak) the other's
 * LEAK_DB down; the VAD flag is on wherever the leg's level is above noise
 * (the VAD opens on leak too) with a 0.5 s hangover. Returns the number of
 * talk_over cues and the first one's span. */
static int run_call(const talk_t *agent, const talk_t *customer, bool leak, double crosstalk_db, double *t_start)
{
    cw_turns_params_t p = {.talk_over_s = 1.0, .dead_air_s = 8.0, .crosstalk_db = crosstalk_db,
                           .loud_floor_db = -45.0, .loud_margin_db = 12.0, .onset_s = 0.06, .hold_s = 0.5};
    cw_error_t err;
    cw_turns_t *t = cw_turns_new(&p, &err);
    CHECK(t != NULL, "cw_turns_new: %s", err.msg);
    if (!t)
        return -1;
    int talk_overs = 0;
    int last_loud[2] = {-1000, -1000};
    for (int f = 0; f < N; f += 25) { /* pushes of 250 ms, like a file source */
        cw_prosody_frame_t frames[2][25];
        for (int i = 0; i < 25; i++) {
            float a = own_level(agent, f + i), c = own_level(customer, f + i);
            float lv[2] = {leak ? db_sum(a, c - LEAK_DB) : a, leak ? db_sum(c, a - LEAK_DB) : c};
            for (int leg = 0; leg < 2; leg++) {
                if (lv[leg] > NOISE_DB + 12)
                    last_loud[leg] = f + i;
                frames[leg][i] = (cw_prosody_frame_t){.t_end = (f + i + 1) / (double)FRAMES_PER_S,
                                                      .speech = f + i - last_loud[leg] < 50,
                                                      .level_db = lv[leg]};
            }
        }
        cw_turns_frames(t, 0, frames[0], 25);
        cw_turns_frames(t, 1, frames[1], 25);
        cw_activity_t act = {.talking = true, .since_s = 0};
        cw_turn_cue_t cues[4];
        size_t n = cw_turns_update(t, &act, &act, (f + 25) / (double)FRAMES_PER_S, cues, 4);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(cues[i].kind, "talk_over") == 0) {
                if (talk_overs++ == 0)
                    *t_start = cues[i].t_start;
                CHECK(cues[i].leg == 0 && cues[i].score > 0 && cues[i].seconds >= 1.0, "talk-over cue fields");
            }
        }
    }
    cw_turns_destroy(&t);
    CHECK(t == NULL, "destroy NULLs the pointer");
    return talk_overs;
}

int main(void)
{
    talk_t customer = {0.5, 4.0};
    talk_t agent_over = {2.0, 6.0};  /* starts 2 s before the customer ends */
    talk_t agent_after = {4.3, 7.5}; /* answers 0.3 s after the customer ends */
    double t0 = -1;

    CHECK(run_call(&agent_over, &customer, false, 10, &t0) == 1, "real talk-over flagged once");
    CHECK(t0 > 1.9 && t0 < 2.2, "talk-over starts where the agent starts: %.2f", t0);
    t0 = -1;
    CHECK(run_call(&agent_over, &customer, true, 10, &t0) == 1, "real talk-over flagged with crosstalk");
    CHECK(t0 > 1.9 && t0 < 2.2, "with crosstalk it starts where the agent starts, not at the leak: %.2f", t0);
    CHECK(run_call(&agent_after, &customer, false, 10, &t0) == 0, "an answer after the customer is no talk-over");
    CHECK(run_call(&agent_after, &customer, true, 10, &t0) == 0,
          "an answer after the customer is no talk-over with crosstalk either");
    /* Control: without the crosstalk test the customer's leak opens the
     * agent's talk spurt with the customer's, so the real talk-over is lost. */
    t0 = -1;
    CHECK(run_call(&agent_over, &customer, true, 0, &t0) == 0 || t0 < 1.0,
          "control: crosstalk_db 0 is fooled by the leak (t_start %.2f)", t0);

    cw_turns_params_t bad = {.talk_over_s = 1, .dead_air_s = 8, .crosstalk_db = -1, .onset_s = 0.06, .hold_s = 0.5};
    cw_error_t err;
    CHECK(cw_turns_new(&bad, &err) == NULL && strstr(err.msg, "crosstalk_db") != NULL, "bad crosstalk_db named");
    return check_summary("turns");
}
