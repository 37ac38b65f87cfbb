/* source.c - the backend-independent part of a source (see callwatch/source.h).
 *
 * A cw_source_t is a function table, the backend's private state and the info
 * the backend filled at open time. Everything here is argument checking and
 * dispatch; the backends do the work.
 */
#include "callwatch/source.h"

#include <stdlib.h>
#include <string.h>

struct cw_source {
    const cw_source_ops_t *ops;
    void *impl;
    cw_source_info_t info;
};

const char *cw_leg_name(cw_leg_id leg)
{
    switch (leg) {
    case CW_LEG_AGENT: return "agent";
    case CW_LEG_CUSTOMER: return "customer";
    default: return "unknown";
    }
}

cw_source_t *cw_source_wrap(const cw_source_ops_t *ops, void *impl, const cw_source_info_t *info)
{
    cw_source_t *src = calloc(1, sizeof *src);
    if (!src) {
        /* Ownership of impl passed to us: free it even though we failed. */
        if (ops && ops->destroy)
            ops->destroy(impl);
        return NULL;
    }
    src->ops = ops;
    src->impl = impl;
    src->info = *info;
    return src;
}

void cw_source_destroy(cw_source_t **src)
{
    if (!src || !*src)
        return;
    if ((*src)->ops->destroy)
        (*src)->ops->destroy((*src)->impl);
    free(*src);
    *src = NULL;
}

const cw_source_info_t *cw_source_info(const cw_source_t *src)
{
    return &src->info;
}

cw_pull_status cw_source_pull(cw_source_t *src, float *out[CW_LEG_COUNT], size_t cap,
                              size_t n_out[CW_LEG_COUNT], cw_error_t *err)
{
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        n_out[leg] = 0;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        if (src->info.has_leg[leg] && !out[leg]) {
            cw_error_set(err, CW_ERR_INVALID, "%s: no buffer for the %s leg", src->ops->name,
                         cw_leg_name((cw_leg_id)leg));
            return CW_PULL_ERROR;
        }
    }
    if (cap == 0)
        return CW_PULL_OK;
    return src->ops->pull(src->impl, out, cap, n_out, err);
}

void cw_source_get_stats(const cw_source_t *src, cw_source_stats_t *stats)
{
    memset(stats, 0, sizeof *stats);
    if (src->ops->stats)
        src->ops->stats(src->impl, stats);
}

const char *cw_source_end_reason(const cw_source_t *src)
{
    return src->ops->end_reason ? src->ops->end_reason(src->impl) : NULL;
}
