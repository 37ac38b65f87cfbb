/* throttle.c - see callwatch/throttle.h */
#include "callwatch/throttle.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct entry {
    char key[CW_THROTTLE_KEY_MAX + 1];
    unsigned failures;
    double last_failure_s;
    double locked_until_s;
    int used;
} entry_t;

struct cw_throttle {
    cw_throttle_policy_t policy;
    pthread_mutex_t lock;
    entry_t *entries;
    entry_t global;
};

cw_throttle_policy_t cw_throttle_policy_default(void)
{
    return (cw_throttle_policy_t){.free_failures = 5,
                                  .first_lock_s = 1.0,
                                  .max_lock_s = 300.0,
                                  .global_free_failures = 30,
                                  .global_max_lock_s = 60.0,
                                  .capacity = 4096};
}

cw_throttle_t *cw_throttle_new(const cw_throttle_policy_t *policy, cw_error_t *err)
{
    if (!policy || !(policy->first_lock_s > 0) || !(policy->max_lock_s >= policy->first_lock_s) ||
        !(policy->global_max_lock_s >= policy->first_lock_s) || policy->capacity == 0 ||
        policy->capacity > 1000000) {
        cw_error_set(err, CW_ERR_INVALID, "throttle: lock times must be 0 < first <= max and capacity 1..1000000");
        return NULL;
    }
    cw_throttle_t *t = calloc(1, sizeof *t);
    if (!t)
        goto error_out;
    t->policy = *policy;
    t->entries = calloc(policy->capacity, sizeof *t->entries);
    if (!t->entries)
        goto error_out;
    pthread_mutex_init(&t->lock, NULL);
    return t;
error_out:
    if (t)
        free(t->entries);
    free(t);
    cw_error_set(err, CW_ERR_NOMEM, "throttle: out of memory for %zu keys", policy->capacity);
    return NULL;
}

void cw_throttle_destroy(cw_throttle_t **tp)
{
    if (!tp || !*tp)
        return;
    cw_throttle_t *t = *tp;
    pthread_mutex_destroy(&t->lock);
    free(t->entries);
    free(t);
    *tp = NULL;
}

double cw_throttle_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Forgets failures older than the longest lock. */
static void expire(entry_t *e, double max_lock_s, double now_s)
{
    if (e->used && now_s - e->last_failure_s > max_lock_s)
        memset(e, 0, sizeof *e);
}

static double wait_of(const entry_t *e, double now_s)
{
    return e && e->locked_until_s > now_s ? e->locked_until_s - now_s : 0;
}

static void count_failure(entry_t *e, unsigned free_failures, double first_lock_s, double max_lock_s, double now_s)
{
    e->used = 1;
    e->failures++;
    e->last_failure_s = now_s;
    if (e->failures > free_failures) {
        unsigned doublings = e->failures - free_failures - 1;
        double lock = first_lock_s * pow(2.0, doublings < 30 ? doublings : 30);
        e->locked_until_s = now_s + (lock < max_lock_s ? lock : max_lock_s);
    }
}

/* key's entry, or NULL; with make, a new one (evicting the stalest). */
static entry_t *find(cw_throttle_t *t, const char *key, double now_s, int make)
{
    entry_t *free_slot = NULL, *stalest = NULL;
    for (size_t i = 0; i < t->policy.capacity; i++) {
        entry_t *e = &t->entries[i];
        expire(e, t->policy.max_lock_s, now_s);
        if (e->used && strncmp(e->key, key, CW_THROTTLE_KEY_MAX) == 0)
            return e;
        if (!e->used && !free_slot)
            free_slot = e;
        if (e->used && (!stalest || e->last_failure_s < stalest->last_failure_s))
            stalest = e;
    }
    if (!make)
        return NULL;
    entry_t *e = free_slot ? free_slot : stalest;
    memset(e, 0, sizeof *e);
    e->used = 1;
    strncpy(e->key, key, CW_THROTTLE_KEY_MAX);
    return e;
}

double cw_throttle_wait_s(cw_throttle_t *t, const char *key, double now_s)
{
    if (!t || !key)
        return 0;
    pthread_mutex_lock(&t->lock);
    expire(&t->global, t->policy.global_max_lock_s, now_s);
    double mine = wait_of(find(t, key, now_s, 0), now_s), all = wait_of(&t->global, now_s);
    pthread_mutex_unlock(&t->lock);
    return mine > all ? mine : all;
}

void cw_throttle_failed(cw_throttle_t *t, const char *key, double now_s)
{
    if (!t || !key)
        return;
    const cw_throttle_policy_t *p = &t->policy;
    pthread_mutex_lock(&t->lock);
    count_failure(find(t, key, now_s, 1), p->free_failures, p->first_lock_s, p->max_lock_s, now_s);
    expire(&t->global, p->global_max_lock_s, now_s);
    count_failure(&t->global, p->global_free_failures, p->first_lock_s, p->global_max_lock_s, now_s);
    pthread_mutex_unlock(&t->lock);
}

void cw_throttle_passed(cw_throttle_t *t, const char *key)
{
    if (!t || !key)
        return;
    pthread_mutex_lock(&t->lock);
    for (size_t i = 0; i < t->policy.capacity; i++)
        if (t->entries[i].used && strncmp(t->entries[i].key, key, CW_THROTTLE_KEY_MAX) == 0)
            memset(&t->entries[i], 0, sizeof t->entries[i]);
    pthread_mutex_unlock(&t->lock);
}
