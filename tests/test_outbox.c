/* test_outbox.c - the single exit of events: every event posted reaches the
 * sinks once, in each thread's order, as whole JSON lines; a sink that fails
 * (disk full) is reported instead of losing events silently. */
#include "callwatch/outbox.h"
#include "callwatch/sink.h"
#include "check.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define POSTERS 4
#define EVENTS_PER_POSTER 2000

typedef struct poster {
    cw_outbox_t *ob;
    int id;
} poster_t;

static void *post_events(void *arg)
{
    poster_t *p = arg;
    for (int i = 0; i < EVENTS_PER_POSTER; i++) {
        char call_id[32];
        snprintf(call_id, sizeof call_id, "p%d-%d", p->id, i);
        cw_event_t *ev = cw_event_call_start(call_id, i, NULL);
        cw_outbox_post(p->ob, &ev);
    }
    return NULL;
}

static void test_order_and_completeness(void)
{
    FILE *out = tmpfile();
    cw_error_t err;
    /* A small queue makes posters block on a full queue, which must not lose events. */
    cw_outbox_t *ob = cw_outbox_new(8, &err);
    cw_sink_t *sink = cw_sink_jsonl_new(out);
    CHECK(ob && sink, "create");
    CHECK(cw_outbox_add_sink(ob, &sink, &err) == 0 && sink == NULL, "add sink takes ownership");
    CHECK(cw_outbox_start(ob, &err) == 0, "start: %s", err.msg);
    CHECK(cw_outbox_start(ob, &err) == CW_ERR_INVALID, "second start refused");

    pthread_t threads[POSTERS];
    poster_t posters[POSTERS];
    for (int i = 0; i < POSTERS; i++) {
        posters[i] = (poster_t){ob, i};
        pthread_create(&threads[i], NULL, post_events, &posters[i]);
    }
    for (int i = 0; i < POSTERS; i++)
        pthread_join(threads[i], NULL);
    cw_event_t *lost = NULL;
    cw_outbox_post(ob, &lost);
    cw_outbox_flush(ob);
    cw_outbox_stats_t st;
    cw_outbox_get_stats(ob, &st);
    CHECK(st.posted == POSTERS * EVENTS_PER_POSTER && st.written == st.posted, "posted %llu written %llu",
          (unsigned long long)st.posted, (unsigned long long)st.written);
    CHECK(st.lost == 1 && st.write_errors == 0, "lost %llu errors %llu", (unsigned long long)st.lost,
          (unsigned long long)st.write_errors);
    CHECK(strcmp(cw_outbox_last_error(ob), "") == 0, "no error");
    cw_outbox_destroy(&ob);
    CHECK(ob == NULL, "destroy NULLs");

    rewind(out);
    int next[POSTERS] = {0};
    int lines = 0, bad = 0;
    char line[4096];
    while (fgets(line, sizeof line, out)) {
        lines++;
        int p = -1, i = -1;
        const char *id = strstr(line, "\"call_id\":\"p");
        if (!id || sscanf(id, "\"call_id\":\"p%d-%d\"", &p, &i) != 2 || p < 0 || p >= POSTERS ||
            line[strlen(line) - 1] != '\n') {
            bad++;
            continue;
        }
        if (i != next[p])
            bad++;
        next[p] = i + 1;
    }
    CHECK(lines == POSTERS * EVENTS_PER_POSTER, "every event is one line: %d", lines);
    CHECK(bad == 0, "%d lines out of order or malformed", bad);
    fclose(out);
}

static void test_failing_sink(void)
{
    FILE *full = fopen("/dev/full", "w");
    if (!full) {
        printf("no /dev/full; skipping the disk-full case\n");
        return;
    }
    cw_error_t err;
    cw_outbox_t *ob = cw_outbox_new(16, &err);
    cw_sink_t *sink = cw_sink_jsonl_new(full);
    cw_outbox_add_sink(ob, &sink, &err);
    cw_outbox_start(ob, &err);
    for (int i = 0; i < 3; i++) {
        cw_event_t *ev = cw_event_call_start("c", 0, NULL);
        cw_outbox_post(ob, &ev);
    }
    cw_outbox_flush(ob);
    cw_outbox_stats_t st;
    cw_outbox_get_stats(ob, &st);
    CHECK(st.posted == 3 && st.written == 0 && st.write_errors == 3, "disk full counted: written %llu errors %llu",
          (unsigned long long)st.written, (unsigned long long)st.write_errors);
    const char *msg = cw_outbox_last_error(ob);
    CHECK(strstr(msg, "No space left"), "error says why: '%s'", msg);
    cw_outbox_destroy(&ob);
    fclose(full);
}

static void test_never_started_still_writes(void)
{
    FILE *out = tmpfile();
    cw_error_t err;
    cw_outbox_t *ob = cw_outbox_new(4, &err);
    cw_sink_t *sink = cw_sink_jsonl_new(out);
    cw_outbox_add_sink(ob, &sink, &err);
    cw_event_t *ev = cw_event_call_end("c9", 3.5, "eof", 3.5, NULL, NULL);
    cw_outbox_post(ob, &ev);
    cw_outbox_destroy(&ob);
    rewind(out);
    char line[1024] = "";
    CHECK(fgets(line, sizeof line, out) && strstr(line, "\"call_end\"") && strstr(line, "\"c9\""),
          "queued event written at destroy: %s", line);
    fclose(out);

    CHECK(cw_outbox_new(0, &err) == NULL && err.code == CW_ERR_INVALID, "capacity 0 refused");
}

/* Follows each call_start with a call_end of the same call. */
static cw_event_t *follow_starts(void *user, const cw_event_t *ev)
{
    int *seen = user;
    (*seen)++;
    if (strcmp(ev->type, "call_start") != 0)
        return NULL;
    const char *id = strstr(ev->json, "\"call_id\":\"");
    char call_id[64] = "";
    if (id)
        sscanf(id, "\"call_id\":\"%63[^\"]", call_id);
    return cw_event_call_end(call_id, 0, "followed", 0, NULL, NULL);
}

/* A follower's event comes right after the one it follows, is written to
 * the sinks, counted, and not shown to the follower again. */
static void test_follower(void)
{
    FILE *out = tmpfile();
    cw_error_t err;
    int seen = 0;
    cw_outbox_t *ob = cw_outbox_new(4, &err);
    cw_sink_t *sink = cw_sink_jsonl_new(out);
    cw_outbox_add_sink(ob, &sink, &err);
    CHECK(cw_outbox_set_follower(ob, follow_starts, &seen, &err) == CW_OK, "set follower");
    cw_outbox_start(ob, &err);
    CHECK(cw_outbox_set_follower(ob, follow_starts, &seen, &err) == CW_ERR_INVALID, "not after start");
    for (int i = 0; i < 50; i++) {
        char id[32];
        snprintf(id, sizeof id, "f%d", i);
        cw_event_t *ev = i % 2 ? cw_event_call_end(id, 1, "eof", 1, NULL, NULL) : cw_event_call_start(id, 0, NULL);
        cw_outbox_post(ob, &ev);
    }
    cw_outbox_flush(ob);
    cw_outbox_stats_t st;
    cw_outbox_get_stats(ob, &st);
    cw_outbox_destroy(&ob);
    CHECK(seen == 50, "follower saw the 50 posted events only: %d", seen);
    CHECK(st.posted == 75 && st.written == 75, "follow-ups counted: posted %llu written %llu",
          (unsigned long long)st.posted, (unsigned long long)st.written);
    rewind(out);
    char line[1024], prev[1024] = "";
    int lines = 0, misplaced = 0;
    while (fgets(line, sizeof line, out)) {
        lines++;
        if (strstr(line, "\"followed\"")) {
            char want[96], got[64] = "";
            const char *id = strstr(line, "\"call_id\":\"");
            sscanf(id, "\"call_id\":\"%63[^\"]", got);
            snprintf(want, sizeof want, "\"call_id\":\"%s\"", got);
            if (!strstr(prev, "\"call_start\"") || !strstr(prev, want))
                misplaced++;
        }
        snprintf(prev, sizeof prev, "%s", line);
    }
    CHECK(lines == 75 && misplaced == 0, "%d lines, %d follow-ups not right after their event", lines, misplaced);
    fclose(out);
}

int main(void)
{
    test_follower();
    test_order_and_completeness();
    test_failing_sink();
    test_never_started_still_writes();
    return check_summary("outbox");
}
