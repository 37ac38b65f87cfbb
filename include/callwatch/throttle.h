/* throttle.h - slows down password guessing.
 *
 * Every password check costs about 0.1 s of a core and 64 MiB (users.h), so
 * an unlimited stream of guesses is both a way in and a way to starve the
 * audio pipeline. A throttle remembers wrong passwords per key (a user name,
 * or name and client address): the first `free_failures` cost nothing more;
 * after that the key is refused without a check for first_lock_s, doubling
 * with each further failure up to max_lock_s. A right password clears the
 * key. A key left alone for max_lock_s after its last failure is forgotten.
 *
 * The table holds at most `capacity` keys; when full, the key whose last
 * failure is oldest makes room, so an attacker spraying names cannot grow
 * memory. A spray is slowed as a whole by the global count: every failure
 * also counts for all keys together, with its own free failures and lock.
 *
 * Thread-safe: one mutex, held only for the table lookup (never during a
 * password check). Times are seconds on any monotonic clock the caller
 * chooses (the same one for every call).
 */
#ifndef CALLWATCH_THROTTLE_H
#define CALLWATCH_THROTTLE_H

#include "callwatch/error.h"

#include <stddef.h>

#define CW_THROTTLE_KEY_MAX 160

typedef struct cw_throttle cw_throttle_t;

typedef struct cw_throttle_policy {
    unsigned free_failures;        /* wrong passwords of one key before its first lock */
    double first_lock_s;           /* > 0 */
    double max_lock_s;             /* >= first_lock_s */
    unsigned global_free_failures; /* the same for all keys together */
    double global_max_lock_s;      /* >= first_lock_s */
    size_t capacity;               /* keys remembered, 1..1000000 */
} cw_throttle_policy_t;

/* The policy callwatch's password checks use: per key 5 free failures, then
 * 1 s doubling to 5 min; all keys together 30, then 1 s doubling to 1 min;
 * 4096 keys. */
cw_throttle_policy_t cw_throttle_policy_default(void);

/* NULL with err when the policy is out of range or memory is short. */
cw_throttle_t *cw_throttle_new(const cw_throttle_policy_t *policy, cw_error_t *err);
void cw_throttle_destroy(cw_throttle_t **t);

/* 0 when key may try at now_s, else the seconds it (or everyone, after a
 * spray) must still wait (> 0). A NULL throttle never waits. Keys longer
 * than CW_THROTTLE_KEY_MAX bytes are cut there. */
double cw_throttle_wait_s(cw_throttle_t *t, const char *key, double now_s);

/* A wrong password for key at now_s (counted for the key and globally). */
void cw_throttle_failed(cw_throttle_t *t, const char *key, double now_s);

/* A right password for key: its failures are forgotten (the global count
 * keeps them). */
void cw_throttle_passed(cw_throttle_t *t, const char *key);

/* Seconds on CLOCK_MONOTONIC, for callers without a clock of their own. */
double cw_throttle_now_s(void);

#endif
