/* test_throttle.c - password guessing is slowed: free failures, then locks
 * that double up to the cap, a right password clears the name, a spray of
 * names locks everyone, a full table forgets its stalest key, and old
 * failures are forgotten. Times are the caller's clock, so nothing sleeps. */
#include "callwatch/throttle.h"
#include "check.h"

#include <stdio.h>

static cw_throttle_t *make(unsigned free_failures, unsigned global_free, size_t capacity)
{
    cw_throttle_policy_t p = {.free_failures = free_failures,
                              .first_lock_s = 1.0,
                              .max_lock_s = 8.0,
                              .global_free_failures = global_free,
                              .global_max_lock_s = 4.0,
                              .capacity = capacity};
    cw_error_t err;
    cw_error_clear(&err);
    cw_throttle_t *t = cw_throttle_new(&p, &err);
    CHECK(t != NULL, "throttle: %s", err.msg);
    return t;
}

static void check_doubling(void)
{
    cw_throttle_t *t = make(3, 1000, 16);
    for (int i = 0; i < 3; i++) {
        CHECK(cw_throttle_wait_s(t, "bob", 10.0) == 0, "free failure %d: no wait", i + 1);
        cw_throttle_failed(t, "bob", 10.0);
    }
    CHECK(cw_throttle_wait_s(t, "bob", 10.0) == 0, "3 free failures: still no wait");
    double want[] = {1, 2, 4, 8, 8};
    double now = 10.0;
    for (int i = 0; i < 5; i++) {
        cw_throttle_failed(t, "bob", now);
        double w = cw_throttle_wait_s(t, "bob", now);
        CHECK(w > want[i] - 1e-9 && w < want[i] + 1e-9, "failure %d after the free ones: wait %g s, want %g", i + 1,
              w, want[i]);
        CHECK(cw_throttle_wait_s(t, "alice", now) == 0, "another name is not locked");
        now += w;
        CHECK(cw_throttle_wait_s(t, "bob", now) == 0, "the lock ends after %g s", w);
    }
    cw_throttle_passed(t, "bob");
    cw_throttle_failed(t, "bob", now);
    CHECK(cw_throttle_wait_s(t, "bob", now) == 0, "a right password cleared bob's failures");
    cw_throttle_destroy(&t);
    CHECK(t == NULL, "destroy NULLs the pointer");
    cw_throttle_destroy(&t);
}

static void check_spray_and_table(void)
{
    cw_throttle_t *t = make(3, 5, 4);
    char name[32];
    for (int i = 0; i < 5; i++) {
        snprintf(name, sizeof name, "user%d", i);
        cw_throttle_failed(t, name, 1.0);
    }
    CHECK(cw_throttle_wait_s(t, "anyone", 1.0) == 0, "5 failures over 5 names: the global free ones");
    cw_throttle_failed(t, "user9", 1.0);
    double w = cw_throttle_wait_s(t, "anyone", 1.0);
    CHECK(w > 0.99 && w < 1.01, "the 6th failure over many names locks everyone for 1 s (wait %g)", w);
    CHECK(cw_throttle_wait_s(t, "anyone", 10.0) == 0, "the global lock ends");
    /* The table held 4 keys for 6 names: the stalest went, no key grew it. */
    cw_throttle_t *u = make(1, 1000, 2);
    cw_throttle_failed(u, "a", 1.0);
    cw_throttle_failed(u, "a", 1.0);
    cw_throttle_failed(u, "b", 1.5);
    cw_throttle_failed(u, "b", 1.5);
    CHECK(cw_throttle_wait_s(u, "a", 1.6) > 0 && cw_throttle_wait_s(u, "b", 1.6) > 0, "a and b locked");
    cw_throttle_failed(u, "c", 1.8);
    CHECK(cw_throttle_wait_s(u, "a", 1.8) == 0, "a full table forgot its stalest key (a)");
    CHECK(cw_throttle_wait_s(u, "b", 1.8) > 0, "b is still locked");
    /* Failures older than the longest lock are forgotten. */
    CHECK(cw_throttle_wait_s(u, "b", 20.0) == 0, "b's lock ran out");
    cw_throttle_failed(u, "b", 20.0);
    CHECK(cw_throttle_wait_s(u, "b", 20.0) == 0, "b's old failures were forgotten: one free failure again");
    cw_throttle_destroy(&t);
    cw_throttle_destroy(&u);
}

static void check_bad_policy(void)
{
    cw_throttle_policy_t p = cw_throttle_policy_default();
    p.first_lock_s = 0;
    cw_error_t err;
    cw_error_clear(&err);
    CHECK(cw_throttle_new(&p, &err) == NULL && err.code == CW_ERR_INVALID, "a zero lock is refused: %s", err.msg);
    CHECK(cw_throttle_wait_s(NULL, "x", 0) == 0, "no throttle never waits");
    cw_throttle_failed(NULL, "x", 0);
    cw_throttle_passed(NULL, "x");
}

int main(void)
{
    check_doubling();
    check_spray_and_table();
    check_bad_policy();
    return check_summary("throttle");
}
