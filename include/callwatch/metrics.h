/* metrics.h - counters, gauges and histograms, rendered for Prometheus.
 *
 * A registry holds metric families. A family has a name, a help line, a type
 * and at most one label (e.g. leg="agent"); each label value is a child,
 * created on first use and kept until the registry is destroyed (at most
 * CW_METRICS_MAX_CHILDREN per family; further values are counted under the
 * value "other"). An unlabelled family has one child.
 *
 * Thread-safety: registering families and rendering take the registry's
 * mutex. Updates (add, set, observe) are lock-free C11 atomics on an existing
 * child and may come from any thread at any rate; only the first use of a new
 * label value takes the mutex. Rendering while others update never blocks them;
 * a histogram read then may show `_sum` a little behind its buckets, but
 * `_count` always equals the +Inf bucket.
 *
 * Values are doubles (integers are exact up to 2^53). Every update function
 * accepts a NULL family and does nothing, so code can report unconditionally
 * while metrics are off.
 */
#ifndef CALLWATCH_METRICS_H
#define CALLWATCH_METRICS_H

#include "callwatch/error.h"

#include <stddef.h>

#define CW_METRICS_MAX_FAMILIES 64
#define CW_METRICS_MAX_CHILDREN 64
#define CW_METRICS_MAX_BUCKETS 32
#define CW_METRICS_LABEL_MAX 64

typedef struct cw_metrics cw_metrics_t;
typedef struct cw_metric cw_metric_t;

typedef enum cw_metric_type {
    CW_METRIC_COUNTER,   /* only goes up; name should end in _total */
    CW_METRIC_GAUGE,     /* goes up and down, or is set */
    CW_METRIC_HISTOGRAM, /* observations counted in buckets by upper bound */
} cw_metric_type_t;

/* NULL when out of memory. */
cw_metrics_t *cw_metrics_new(void);

/* Frees the registry and every family; NULLs *m. Accepts NULL. No update may
 * run concurrently or later. */
void cw_metrics_destroy(cw_metrics_t **m);

/* Registers a family. name: [a-zA-Z_:][a-zA-Z0-9_:]*, unique in the
 * registry; help: one line (may be empty); label: a label name
 * ([a-zA-Z_][a-zA-Z0-9_]*, not "le") or NULL for none. Histograms only:
 * bounds are the buckets' upper bounds, finite and strictly increasing,
 * 1..CW_METRICS_MAX_BUCKETS of them (+Inf is implicit); others pass NULL, 0.
 * Returns the family, owned by the registry; NULL with CW_ERR_INVALID naming
 * what is wrong, CW_ERR_BUSY when the registry is full, CW_ERR_NOMEM. */
cw_metric_t *cw_metrics_register(cw_metrics_t *m, cw_metric_type_t type, const char *name, const char *help,
                                 const char *label, const double *bounds, size_t n_bounds, cw_error_t *err);

/* label_value: the child to update; NULL or ignored for unlabelled families;
 * for a labelled family NULL means "". Values longer than
 * CW_METRICS_LABEL_MAX - 1 bytes are cut. */

/* Counter or gauge: adds delta. A counter ignores negative or non-finite
 * deltas (it never goes down). */
void cw_metric_add(cw_metric_t *f, const char *label_value, double delta);

/* Gauge: sets the value. Counter: sets it too, for mirroring a count kept
 * elsewhere that only grows; ignored if lower than the current value. */
void cw_metric_set(cw_metric_t *f, const char *label_value, double value);

/* Histogram: counts one observation (non-finite values are ignored). */
void cw_metric_observe(cw_metric_t *f, const char *label_value, double value);

/* Current value of a counter or gauge child (0 if it does not exist yet);
 * observations counted by a histogram child. For tests and health checks. */
double cw_metric_value(cw_metric_t *f, const char *label_value);

/* Renders every family in registration order in the Prometheus text
 * exposition format 0.0.4: "# HELP" and "# TYPE" lines, then one sample line
 * per child (histograms: cumulative _bucket{le="..."} lines ending with
 * le="+Inf", then _sum and _count). Label values and help text are escaped
 * as the format requires. Numbers are the shortest text that reads back
 * exactly ("3", "0.25", "+Inf", "NaN"). *text is malloc'd and NUL-terminated
 * (caller frees), *len its length without the NUL. CW_ERR_NOMEM on failure. */
int cw_metrics_render(cw_metrics_t *m, char **text, size_t *len, cw_error_t *err);

/* The Content-Type of that text. */
#define CW_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
