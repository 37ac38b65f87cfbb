/* test_metrics.c - the Prometheus registry as a scraper sees it: the exact
 * text exposition format (HELP/TYPE, labels, escaping, cumulative histogram
 * buckets), refusal of names a scraper would reject, and counts that stay
 * exact while many threads update at once. */
#include "callwatch/metrics.h"
#include "check.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *render(cw_metrics_t *m)
{
    char *text = NULL;
    size_t len = 0;
    cw_error_t err;
    cw_error_clear(&err);
    int rc = cw_metrics_render(m, &text, &len, &err);
    CHECK(rc == CW_OK && text && strlen(text) == len, "render: %s", err.msg);
    return text;
}

static void test_exact_format(void)
{
    cw_metrics_t *m = cw_metrics_new();
    cw_error_t err;
    cw_error_clear(&err);
    cw_metric_t *active = cw_metrics_register(m, CW_METRIC_GAUGE, "cw_calls_active", "Calls now.", NULL, NULL, 0, &err);
    cw_metric_t *dropped = cw_metrics_register(m, CW_METRIC_COUNTER, "cw_frames_dropped_total",
                                               "Frames lost.\nSecond line \\ backslash.", "leg", NULL, 0, &err);
    const double bounds[] = {0.1, 0.3, 1};
    cw_metric_t *latency = cw_metrics_register(m, CW_METRIC_HISTOGRAM, "cw_latency_seconds", "Latency.", NULL,
                                               bounds, 3, &err);
    cw_metric_t *labelled_empty =
        cw_metrics_register(m, CW_METRIC_COUNTER, "cw_events_total", "Events.", "type", NULL, 0, &err);
    CHECK(active && dropped && latency && labelled_empty, "register: %s", err.msg);

    cw_metric_set(active, NULL, 3);
    cw_metric_add(active, NULL, -1);
    cw_metric_add(dropped, "agent", 160);
    cw_metric_add(dropped, "customer", 0.5);
    cw_metric_add(dropped, "agent", -50); /* a counter never goes down */
    cw_metric_add(dropped, "we\"ird\\le\ng", 1);
    cw_metric_observe(latency, NULL, 0.1); /* on a bound: in that bucket (le) */
    cw_metric_observe(latency, NULL, 0.25);
    cw_metric_observe(latency, NULL, 7);
    cw_metric_observe(latency, NULL, NAN); /* ignored */

    char *text = render(m);
    const char *want = "# HELP cw_calls_active Calls now.\n"
                       "# TYPE cw_calls_active gauge\n"
                       "cw_calls_active 2\n"
                       "# HELP cw_frames_dropped_total Frames lost.\\nSecond line \\\\ backslash.\n"
                       "# TYPE cw_frames_dropped_total counter\n"
                       "cw_frames_dropped_total{leg=\"agent\"} 160\n"
                       "cw_frames_dropped_total{leg=\"customer\"} 0.5\n"
                       "cw_frames_dropped_total{leg=\"we\\\"ird\\\\le\\ng\"} 1\n"
                       "# HELP cw_latency_seconds Latency.\n"
                       "# TYPE cw_latency_seconds histogram\n"
                       "cw_latency_seconds_bucket{le=\"0.1\"} 1\n"
                       "cw_latency_seconds_bucket{le=\"0.3\"} 2\n"
                       "cw_latency_seconds_bucket{le=\"1\"} 2\n"
                       "cw_latency_seconds_bucket{le=\"+Inf\"} 3\n"
                       "cw_latency_seconds_sum 7.35\n"
                       "cw_latency_seconds_count 3\n"
                       "# HELP cw_events_total Events.\n"
                       "# TYPE cw_events_total counter\n";
    CHECK(text && strcmp(text, want) == 0, "rendered:\n%s\nwanted:\n%s", text ? text : "(null)", want);
    free(text);

    CHECK(cw_metric_value(dropped, "agent") == 160, "agent %g", cw_metric_value(dropped, "agent"));
    CHECK(cw_metric_value(dropped, "nobody") == 0, "absent child reads 0");
    CHECK(cw_metric_value(latency, NULL) == 3, "histogram count %g", cw_metric_value(latency, NULL));
    cw_metric_set(dropped, "agent", 100); /* mirroring: never below the current value */
    CHECK(cw_metric_value(dropped, "agent") == 160, "counter set lower ignored");
    cw_metric_set(dropped, "agent", 1e6);
    CHECK(cw_metric_value(dropped, "agent") == 1e6, "counter set higher");
    text = render(m);
    CHECK(text && strstr(text, "cw_frames_dropped_total{leg=\"agent\"} 1000000\n"), "large integer printed plainly");
    free(text);

    /* Labelled histogram: le comes after the family's own label. */
    cw_metric_t *by_kind =
        cw_metrics_register(m, CW_METRIC_HISTOGRAM, "cw_by_kind_seconds", "", "kind", bounds, 1, &err);
    cw_metric_observe(by_kind, "anger", 0.05);
    text = render(m);
    CHECK(text && strstr(text, "# HELP cw_by_kind_seconds \n"
                               "# TYPE cw_by_kind_seconds histogram\n"
                               "cw_by_kind_seconds_bucket{kind=\"anger\",le=\"0.1\"} 1\n"
                               "cw_by_kind_seconds_bucket{kind=\"anger\",le=\"+Inf\"} 1\n"
                               "cw_by_kind_seconds_sum{kind=\"anger\"} 0.05\n"
                               "cw_by_kind_seconds_count{kind=\"anger\"} 1\n"),
          "labelled histogram:\n%s", text ? text : "");
    free(text);

    /* NULL families are no-ops, so code can report with metrics off. */
    cw_metric_add(NULL, "x", 1);
    cw_metric_set(NULL, NULL, 1);
    cw_metric_observe(NULL, NULL, 1);
    cw_metrics_destroy(&m);
    CHECK(m == NULL, "destroy NULLs");
    cw_metrics_destroy(&m);
}

static void test_refusals(void)
{
    cw_metrics_t *m = cw_metrics_new();
    cw_error_t err;
    const double bounds[] = {1, 2};
    const double unordered[] = {2, 1};
    struct {
        cw_metric_type_t type;
        const char *name, *label;
        const double *bounds;
        size_t n;
        const char *says;
    } cases[] = {
        {CW_METRIC_GAUGE, "1starts_with_digit", NULL, NULL, 0, "1starts_with_digit"},
        {CW_METRIC_GAUGE, "has-dash", NULL, NULL, 0, "has-dash"},
        {CW_METRIC_GAUGE, "", NULL, NULL, 0, "metric name"},
        {CW_METRIC_GAUGE, "ok_name", "le", NULL, 0, "label name 'le'"},
        {CW_METRIC_GAUGE, "ok_name", "with:colon", NULL, 0, "with:colon"},
        {CW_METRIC_HISTOGRAM, "h", NULL, NULL, 0, "bucket bounds"},
        {CW_METRIC_HISTOGRAM, "h", NULL, unordered, 2, "strictly increasing"},
        {CW_METRIC_COUNTER, "c_total", NULL, bounds, 2, "only histograms"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cw_error_clear(&err);
        cw_metric_t *f = cw_metrics_register(m, cases[i].type, cases[i].name, "h", cases[i].label, cases[i].bounds,
                                             cases[i].n, &err);
        CHECK(!f && err.code == CW_ERR_INVALID && strstr(err.msg, cases[i].says), "case %zu: '%s'", i, err.msg);
    }
    cw_error_clear(&err);
    CHECK(cw_metrics_register(m, CW_METRIC_GAUGE, "ns:twice", "", NULL, NULL, 0, &err) != NULL, "colon ok: %s",
          err.msg);
    CHECK(!cw_metrics_register(m, CW_METRIC_COUNTER, "ns:twice", "", NULL, NULL, 0, &err) &&
              strstr(err.msg, "already registered"),
          "duplicate: %s", err.msg);

    /* A family takes a bounded number of label values; the rest pile up
     * under "other" instead of growing without bound. */
    cw_metric_t *f = cw_metrics_register(m, CW_METRIC_COUNTER, "many_total", "", "id", NULL, 0, &err);
    char label[32];
    for (int i = 0; i < CW_METRICS_MAX_CHILDREN + 10; i++) {
        snprintf(label, sizeof label, "v%d", i);
        cw_metric_add(f, label, 1);
    }
    CHECK(cw_metric_value(f, "v0") == 1, "first values kept");
    CHECK(cw_metric_value(f, "other") == 11, "other %g", cw_metric_value(f, "other"));
    char *text = render(m);
    int lines = 0;
    for (const char *p = text ? strstr(text, "many_total{") : NULL; p; p = strstr(p + 1, "many_total{"))
        lines++;
    CHECK(lines == CW_METRICS_MAX_CHILDREN, "%d children rendered", lines);
    free(text);
    cw_metrics_destroy(&m);
}

#define THREADS 8
#define ROUNDS 50000

typedef struct worker_arg {
    cw_metric_t *counter, *gauge, *hist;
    int id;
} worker_arg_t;

static void *worker(void *p)
{
    worker_arg_t *a = p;
    /* Half the threads create label values of their own while others update
     * the shared ones, so creation races with lock-free lookups. */
    char own[16];
    snprintf(own, sizeof own, "t%d", a->id);
    for (int i = 0; i < ROUNDS; i++) {
        cw_metric_add(a->counter, "shared", 1);
        if (a->id % 2)
            cw_metric_add(a->counter, own, 1);
        cw_metric_add(a->gauge, NULL, 1);
        cw_metric_add(a->gauge, NULL, -1);
        cw_metric_observe(a->hist, NULL, (i % 4) * 0.25); /* 0, 0.25, 0.5, 0.75 */
    }
    return NULL;
}

static void *scraper(void *p)
{
    cw_metrics_t *m = p;
    for (int i = 0; i < 50; i++) {
        char *text = NULL;
        size_t len;
        cw_error_t err;
        if (cw_metrics_render(m, &text, &len, &err) == CW_OK) {
            /* _count always equals the +Inf bucket, even mid-update. */
            const char *inf = strstr(text, "h_bucket{le=\"+Inf\"} ");
            const char *count = strstr(text, "h_count ");
            if (inf && count)
                CHECK(strtoull(inf + strlen("h_bucket{le=\"+Inf\"} "), NULL, 10) ==
                          strtoull(count + strlen("h_count "), NULL, 10),
                      "+Inf bucket equals count");
        }
        free(text);
    }
    return NULL;
}

static void test_concurrent_updates(void)
{
    cw_metrics_t *m = cw_metrics_new();
    cw_error_t err;
    const double bounds[] = {0.3, 0.6};
    worker_arg_t args[THREADS];
    cw_metric_t *counter = cw_metrics_register(m, CW_METRIC_COUNTER, "c_total", "", "who", NULL, 0, &err);
    cw_metric_t *gauge = cw_metrics_register(m, CW_METRIC_GAUGE, "g", "", NULL, NULL, 0, &err);
    cw_metric_t *hist = cw_metrics_register(m, CW_METRIC_HISTOGRAM, "h", "", NULL, bounds, 2, &err);
    pthread_t threads[THREADS], scrape;
    pthread_create(&scrape, NULL, scraper, m);
    for (int i = 0; i < THREADS; i++) {
        args[i] = (worker_arg_t){counter, gauge, hist, i};
        pthread_create(&threads[i], NULL, worker, &args[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(threads[i], NULL);
    pthread_join(scrape, NULL);
    CHECK(cw_metric_value(counter, "shared") == (double)THREADS * ROUNDS, "shared %g",
          cw_metric_value(counter, "shared"));
    for (int i = 1; i < THREADS; i += 2) {
        char own[16];
        snprintf(own, sizeof own, "t%d", i);
        CHECK(cw_metric_value(counter, own) == ROUNDS, "%s %g", own, cw_metric_value(counter, own));
    }
    CHECK(cw_metric_value(gauge, NULL) == 0, "gauge back to 0: %g", cw_metric_value(gauge, NULL));
    CHECK(cw_metric_value(hist, NULL) == (double)THREADS * ROUNDS, "observations %g", cw_metric_value(hist, NULL));
    char *text = render(m);
    char want[256];
    /* per thread: ROUNDS/4 each of 0, 0.25 (<= 0.3), 0.5 (<= 0.6), 0.75 */
    snprintf(want, sizeof want,
             "h_bucket{le=\"0.3\"} %d\nh_bucket{le=\"0.6\"} %d\nh_bucket{le=\"+Inf\"} %d\nh_sum %d\nh_count %d\n",
             THREADS * ROUNDS / 2, THREADS * ROUNDS * 3 / 4, THREADS * ROUNDS, THREADS * ROUNDS * 3 / 8,
             THREADS * ROUNDS);
    CHECK(text && strstr(text, want), "histogram after threads:\n%s\nwanted:\n%s", text ? text : "", want);
    free(text);
    cw_metrics_destroy(&m);
}

int main(void)
{
    test_exact_format();
    test_refusals();
    test_concurrent_updates();
    return check_summary("metrics");
}
