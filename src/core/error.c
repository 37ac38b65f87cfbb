/* error.c - see callwatch/error.h */
#include "callwatch/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void cw_error_clear(cw_error_t *err)
{
    if (!err)
        return;
    err->code = CW_OK;
    err->msg[0] = '\0';
}

int cw_error_set(cw_error_t *err, int code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

int cw_error_prefix(cw_error_t *err, const char *fmt, ...)
{
    if (!err)
        return CW_ERR_INVALID;
    char prefix[CW_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    char old[CW_ERROR_MAX];
    memcpy(old, err->msg, sizeof old);
    /* Compose at full length, then cut to fit: a long context must not
     * hide the original message's start, but the result stays bounded. */
    char joined[2 * CW_ERROR_MAX + 2];
    snprintf(joined, sizeof joined, "%s: %s", prefix, old);
    snprintf(err->msg, sizeof err->msg, "%.*s", (int)(sizeof err->msg - 1), joined);
    return err->code;
}

const char *cw_status_name(int code)
{
    switch (code) {
    case CW_OK: return "ok";
    case CW_ERR_INVALID: return "invalid";
    case CW_ERR_IO: return "io";
    case CW_ERR_FORMAT: return "format";
    case CW_ERR_NOMEM: return "nomem";
    case CW_ERR_NOT_FOUND: return "not-found";
    case CW_ERR_BUSY: return "busy";
    case CW_ERR_DEVICE: return "device";
    case CW_ERR_INTERNAL: return "internal";
    default: return "unknown";
    }
}
