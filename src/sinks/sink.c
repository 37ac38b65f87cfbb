/* sink.c - see callwatch/sink.h */
#include "callwatch/sink.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct cw_sink {
    const cw_sink_ops_t *ops;
    void *impl;
};

cw_sink_t *cw_sink_wrap(const cw_sink_ops_t *ops, void *impl)
{
    if (!ops || !ops->write)
        return NULL;
    cw_sink_t *sink = malloc(sizeof *sink);
    if (!sink) {
        /* The caller gave impl away: do not leak it. */
        if (ops->destroy)
            ops->destroy(impl);
        return NULL;
    }
    sink->ops = ops;
    sink->impl = impl;
    return sink;
}

void *cw_sink_impl(const cw_sink_t *sink, const cw_sink_ops_t *ops)
{
    return sink && sink->ops == ops ? sink->impl : NULL;
}

int cw_sink_write(cw_sink_t *sink, const cw_event_t *ev, cw_error_t *err)
{
    if (!sink || !ev || !ev->json)
        return cw_error_set(err, CW_ERR_INVALID, "sink write: no sink or no event");
    return sink->ops->write(sink->impl, ev, err);
}

int cw_sink_sync(cw_sink_t *sink, cw_error_t *err)
{
    if (!sink)
        return cw_error_set(err, CW_ERR_INVALID, "sink sync: no sink");
    return sink->ops->sync ? sink->ops->sync(sink->impl, err) : CW_OK;
}

unsigned long long cw_sink_dropped(const cw_sink_t *sink)
{
    return sink && sink->ops->dropped ? sink->ops->dropped(sink->impl) : 0;
}

const char *cw_sink_name(const cw_sink_t *sink)
{
    return sink && sink->ops->name ? sink->ops->name : "sink";
}

void cw_sink_destroy(cw_sink_t **sink)
{
    if (!sink || !*sink)
        return;
    if ((*sink)->ops->destroy)
        (*sink)->ops->destroy((*sink)->impl);
    free(*sink);
    *sink = NULL;
}

/* ---- JSON Lines backend ---- */

typedef struct jsonl_sink {
    FILE *out; /* borrowed */
} jsonl_sink_t;

static int jsonl_write(void *impl, const cw_event_t *ev, cw_error_t *err)
{
    jsonl_sink_t *js = impl;
    /* Lock the stream across the line so another writer of the same FILE
     * (a log on stdout by mistake) cannot land in the middle of it. */
    flockfile(js->out);
    errno = 0;
    bool ok = fwrite(ev->json, 1, ev->json_len, js->out) == ev->json_len &&
              putc_unlocked('\n', js->out) != EOF;
    int saved = ok ? 0 : errno;
    /* Flush even after a failed write: it is what reports a full disk or a
     * closed pipe for buffered data. */
    if (fflush(js->out) != 0) {
        ok = false;
        if (saved == 0)
            saved = errno;
    }
    if (ferror(js->out)) {
        ok = false;
        /* Clear the sticky flag so a later write (disk freed, reader back)
         * is judged on its own. */
        clearerr(js->out);
    }
    funlockfile(js->out);
    if (!ok)
        return cw_error_set(err, CW_ERR_IO, "cannot write event to JSON Lines output: %s",
                            saved ? strerror(saved) : "short write");
    return CW_OK;
}

static void jsonl_destroy(void *impl)
{
    free(impl);
}

static const cw_sink_ops_t jsonl_ops = {
    .name = "jsonl",
    .write = jsonl_write,
    .destroy = jsonl_destroy,
};

cw_sink_t *cw_sink_jsonl_new(FILE *out)
{
    if (!out)
        return NULL;
    jsonl_sink_t *js = malloc(sizeof *js);
    if (!js)
        return NULL;
    js->out = out;
    return cw_sink_wrap(&jsonl_ops, js);
}
