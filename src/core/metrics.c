/* metrics.c - see callwatch/metrics.h */
#include "callwatch/metrics.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN 128
#define HELP_MAX_LEN 256

/* The value a label takes once a family has no room for another child. */
#define OVERFLOW_LABEL "other"

typedef struct child {
    char label[CW_METRICS_LABEL_MAX];
    /* Counter and gauge: the value; histogram: the sum. A double's bits, so
     * updates are one compare-and-swap. */
    _Atomic uint64_t value_bits;
    /* Histogram: observations per bucket, not cumulative; the last one is
     * above the highest bound. */
    _Atomic uint64_t buckets[CW_METRICS_MAX_BUCKETS + 1];
} child_t;

struct cw_metric {
    cw_metric_type_t type;
    char name[NAME_MAX_LEN];
    char help[HELP_MAX_LEN];
    char label[CW_METRICS_LABEL_MAX]; /* "" when unlabelled */
    double bounds[CW_METRICS_MAX_BUCKETS];
    size_t n_bounds;
    pthread_mutex_t *lock; /* the registry's: guards adding children */
    /* Children [0, n_children) are complete: each is filled before the
     * count that exposes it is stored (release), and read after it is
     * loaded (acquire). Never removed. */
    child_t children[CW_METRICS_MAX_CHILDREN];
    _Atomic size_t n_children;
};

struct cw_metrics {
    pthread_mutex_t lock;
    cw_metric_t *families[CW_METRICS_MAX_FAMILIES];
    size_t n_families;
};

static double bits_to_double(uint64_t bits)
{
    double v;
    memcpy(&v, &bits, sizeof v);
    return v;
}

static uint64_t double_to_bits(double v)
{
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    return bits;
}

cw_metrics_t *cw_metrics_new(void)
{
    cw_metrics_t *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void cw_metrics_destroy(cw_metrics_t **mp)
{
    if (!mp || !*mp)
        return;
    cw_metrics_t *m = *mp;
    for (size_t i = 0; i < m->n_families; i++)
        free(m->families[i]);
    pthread_mutex_destroy(&m->lock);
    free(m);
    *mp = NULL;
}

static bool valid_name(const char *name, bool colon_ok)
{
    if (!name || !*name || isdigit((unsigned char)name[0]))
        return false;
    for (const char *c = name; *c; c++)
        if (!(isalnum((unsigned char)*c) || *c == '_' || (colon_ok && *c == ':')) || (unsigned char)*c >= 0x80)
            return false;
    return true;
}

static const char *type_name(cw_metric_type_t type)
{
    switch (type) {
    case CW_METRIC_COUNTER: return "counter";
    case CW_METRIC_GAUGE: return "gauge";
    case CW_METRIC_HISTOGRAM: return "histogram";
    }
    return "untyped";
}

/* Fills slot n (caller holds the lock, n < capacity) and publishes it. */
static child_t *add_child_locked(cw_metric_t *f, size_t n, const char *label)
{
    child_t *c = &f->children[n];
    snprintf(c->label, sizeof c->label, "%s", label);
    atomic_init(&c->value_bits, double_to_bits(0.0));
    for (size_t i = 0; i <= CW_METRICS_MAX_BUCKETS; i++)
        atomic_init(&c->buckets[i], 0);
    atomic_store_explicit(&f->n_children, n + 1, memory_order_release);
    return c;
}

cw_metric_t *cw_metrics_register(cw_metrics_t *m, cw_metric_type_t type, const char *name, const char *help,
                                 const char *label, const double *bounds, size_t n_bounds, cw_error_t *err)
{
    if (!m) {
        cw_error_set(err, CW_ERR_INVALID, "metrics: no registry");
        return NULL;
    }
    if (!valid_name(name, true) || strlen(name) >= NAME_MAX_LEN) {
        cw_error_set(err, CW_ERR_INVALID, "metric name '%s' is not [a-zA-Z_:][a-zA-Z0-9_:]* of < %d characters",
                     name ? name : "(null)", NAME_MAX_LEN);
        return NULL;
    }
    if (label && (!valid_name(label, false) || strcmp(label, "le") == 0 || strlen(label) >= CW_METRICS_LABEL_MAX ||
                  strncmp(label, "__", 2) == 0)) {
        cw_error_set(err, CW_ERR_INVALID, "metric %s: label name '%s' is not allowed", name, label);
        return NULL;
    }
    if (type == CW_METRIC_HISTOGRAM) {
        if (!bounds || n_bounds < 1 || n_bounds > CW_METRICS_MAX_BUCKETS) {
            cw_error_set(err, CW_ERR_INVALID, "histogram %s: needs 1..%d bucket bounds, got %zu", name,
                         CW_METRICS_MAX_BUCKETS, n_bounds);
            return NULL;
        }
        for (size_t i = 0; i < n_bounds; i++) {
            if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1])) {
                cw_error_set(err, CW_ERR_INVALID,
                             "histogram %s: bucket bounds must be finite and strictly increasing (bound %zu)", name,
                             i);
                return NULL;
            }
        }
    } else if (n_bounds) {
        cw_error_set(err, CW_ERR_INVALID, "metric %s: only histograms have buckets", name);
        return NULL;
    }
    cw_metric_t *f = calloc(1, sizeof *f);
    if (!f) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory registering metric %s", name);
        return NULL;
    }
    f->type = type;
    snprintf(f->name, sizeof f->name, "%s", name);
    snprintf(f->help, sizeof f->help, "%s", help ? help : "");
    snprintf(f->label, sizeof f->label, "%s", label ? label : "");
    if (type == CW_METRIC_HISTOGRAM)
        memcpy(f->bounds, bounds, n_bounds * sizeof *bounds);
    f->n_bounds = n_bounds;
    f->lock = &m->lock;
    atomic_init(&f->n_children, 0);

    pthread_mutex_lock(&m->lock);
    const char *problem = NULL;
    for (size_t i = 0; i < m->n_families && !problem; i++)
        if (strcmp(m->families[i]->name, name) == 0)
            problem = "already registered";
    if (!problem && m->n_families == CW_METRICS_MAX_FAMILIES)
        problem = "registry full";
    if (problem) {
        pthread_mutex_unlock(&m->lock);
        cw_error_set(err, strcmp(problem, "registry full") == 0 ? CW_ERR_BUSY : CW_ERR_INVALID, "metric %s: %s",
                     name, problem);
        free(f);
        return NULL;
    }
    if (!label)
        add_child_locked(f, 0, ""); /* an unlabelled family always shows its value */
    m->families[m->n_families++] = f;
    pthread_mutex_unlock(&m->lock);
    return f;
}

static child_t *scan(cw_metric_t *f, size_t n, const char *label)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f->children[i].label, label) == 0)
            return &f->children[i];
    return NULL;
}

/* The child for label_value, created if new. Lock-free when it exists. */
static child_t *child_for(cw_metric_t *f, const char *label_value)
{
    if (!f->label[0])
        return &f->children[0];
    char label[CW_METRICS_LABEL_MAX];
    snprintf(label, sizeof label, "%s", label_value ? label_value : "");
    child_t *c = scan(f, atomic_load_explicit(&f->n_children, memory_order_acquire), label);
    if (c)
        return c;
    pthread_mutex_lock(f->lock);
    size_t n = atomic_load_explicit(&f->n_children, memory_order_acquire);
    c = scan(f, n, label);
    if (!c) {
        if (n < CW_METRICS_MAX_CHILDREN - 1)
            c = add_child_locked(f, n, label);
        else if (n == CW_METRICS_MAX_CHILDREN - 1)
            c = add_child_locked(f, n, OVERFLOW_LABEL);
        else
            c = &f->children[CW_METRICS_MAX_CHILDREN - 1];
    }
    pthread_mutex_unlock(f->lock);
    return c;
}

static void add_double(_Atomic uint64_t *slot, double delta)
{
    uint64_t old = atomic_load_explicit(slot, memory_order_relaxed);
    for (;;) {
        uint64_t next = double_to_bits(bits_to_double(old) + delta);
        if (atomic_compare_exchange_weak_explicit(slot, &old, next, memory_order_relaxed, memory_order_relaxed))
            return;
    }
}

void cw_metric_add(cw_metric_t *f, const char *label_value, double delta)
{
    if (!f || f->type == CW_METRIC_HISTOGRAM || !isfinite(delta))
        return;
    if (f->type == CW_METRIC_COUNTER && delta < 0)
        return;
    add_double(&child_for(f, label_value)->value_bits, delta);
}

void cw_metric_set(cw_metric_t *f, const char *label_value, double value)
{
    if (!f || f->type == CW_METRIC_HISTOGRAM)
        return;
    child_t *c = child_for(f, label_value);
    if (f->type == CW_METRIC_GAUGE) {
        atomic_store_explicit(&c->value_bits, double_to_bits(value), memory_order_relaxed);
        return;
    }
    if (!isfinite(value))
        return;
    uint64_t old = atomic_load_explicit(&c->value_bits, memory_order_relaxed);
    while (value > bits_to_double(old)) {
        if (atomic_compare_exchange_weak_explicit(&c->value_bits, &old, double_to_bits(value), memory_order_relaxed,
                                                  memory_order_relaxed))
            return;
    }
}

void cw_metric_observe(cw_metric_t *f, const char *label_value, double value)
{
    if (!f || f->type != CW_METRIC_HISTOGRAM || !isfinite(value))
        return;
    child_t *c = child_for(f, label_value);
    size_t b = 0;
    while (b < f->n_bounds && value > f->bounds[b])
        b++;
    atomic_fetch_add_explicit(&c->buckets[b], 1, memory_order_relaxed);
    add_double(&c->value_bits, value);
}

double cw_metric_value(cw_metric_t *f, const char *label_value)
{
    if (!f)
        return 0;
    const char *want = label_value ? label_value : "";
    child_t *c = f->label[0] ? scan(f, atomic_load_explicit(&f->n_children, memory_order_acquire), want)
                             : &f->children[0];
    if (!c)
        return 0;
    if (f->type != CW_METRIC_HISTOGRAM)
        return bits_to_double(atomic_load_explicit(&c->value_bits, memory_order_relaxed));
    uint64_t total = 0;
    for (size_t i = 0; i <= f->n_bounds; i++)
        total += atomic_load_explicit(&c->buckets[i], memory_order_relaxed);
    return (double)total;
}

/* ---- rendering ---- */

/* Shortest text that reads back as exactly v, in the format's spelling of
 * the special values. */
static void format_number(double v, char *buf, size_t size)
{
    if (isnan(v)) {
        snprintf(buf, size, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = DBL_DIG; prec <= DBL_DECIMAL_DIG; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

/* HELP text escapes backslash and newline; label values also '"'. */
static void put_escaped(FILE *out, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\\\", out);
        else if (*s == '\n')
            fputs("\\n", out);
        else if (quote && *s == '"')
            fputs("\\\"", out);
        else
            fputc(*s, out);
    }
}

/* "{leg=\"agent\"" without the closing brace, so le can follow; "" if
 * unlabelled. */
static void put_labels(FILE *out, const cw_metric_t *f, const child_t *c, const char *le)
{
    bool any = f->label[0] || le;
    if (!any)
        return;
    fputc('{', out);
    if (f->label[0]) {
        fprintf(out, "%s=\"", f->label);
        put_escaped(out, c->label, true);
        fputc('"', out);
    }
    if (le)
        fprintf(out, "%sle=\"%s\"", f->label[0] ? "," : "", le);
    fputc('}', out);
}

static void render_family(FILE *out, cw_metric_t *f)
{
    fprintf(out, "# HELP %s ", f->name);
    put_escaped(out, f->help, false);
    fprintf(out, "\n# TYPE %s %s\n", f->name, type_name(f->type));
    size_t n = atomic_load_explicit(&f->n_children, memory_order_acquire);
    char num[64];
    for (size_t i = 0; i < n; i++) {
        const child_t *c = &f->children[i];
        double value = bits_to_double(atomic_load_explicit(&c->value_bits, memory_order_relaxed));
        if (f->type != CW_METRIC_HISTOGRAM) {
            fputs(f->name, out);
            put_labels(out, f, c, NULL);
            format_number(value, num, sizeof num);
            fprintf(out, " %s\n", num);
            continue;
        }
        uint64_t cumulative = 0;
        for (size_t b = 0; b <= f->n_bounds; b++) {
            cumulative += atomic_load_explicit(&c->buckets[b], memory_order_relaxed);
            char le[64];
            format_number(b < f->n_bounds ? f->bounds[b] : INFINITY, le, sizeof le);
            fprintf(out, "%s_bucket", f->name);
            put_labels(out, f, c, le);
            fprintf(out, " %llu\n", (unsigned long long)cumulative);
        }
        format_number(value, num, sizeof num);
        fprintf(out, "%s_sum", f->name);
        put_labels(out, f, c, NULL);
        fprintf(out, " %s\n%s_count", num, f->name);
        put_labels(out, f, c, NULL);
        fprintf(out, " %llu\n", (unsigned long long)cumulative);
    }
}

int cw_metrics_render(cw_metrics_t *m, char **text, size_t *len, cw_error_t *err)
{
    if (!m || !text || !len)
        return cw_error_set(err, CW_ERR_INVALID, "metrics render: bad arguments");
    *text = NULL;
    *len = 0;
    char *buf = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&buf, &size);
    if (!out)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory rendering metrics");
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_families; i++)
        render_family(out, m->families[i]);
    pthread_mutex_unlock(&m->lock);
    bool failed = ferror(out) != 0;
    if (fclose(out) != 0 || failed) {
        free(buf);
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory rendering metrics");
    }
    *text = buf;
    *len = size;
    return CW_OK;
}
