/* error.h - error codes and the message a caller can show.
 *
 * Every fallible callwatch function returns 0 (CW_OK) or a negative cw_status
 * and, when given a non-NULL cw_error_t, fills it with one human-readable line
 * saying what was wrong and where ("models/x.ini:12: [vad] hangover_ms: ...").
 * A cw_error_t is plain memory owned by the caller; it is not thread-safe, so
 * each thread uses its own.
 */
#ifndef CALLWATCH_ERROR_H
#define CALLWATCH_ERROR_H

#include <stddef.h>

typedef enum cw_status {
    CW_OK = 0,
    CW_ERR_INVALID = -1,     /* bad argument or bad value in input */
    CW_ERR_IO = -2,          /* file or device could not be read or written */
    CW_ERR_FORMAT = -3,      /* input is not in the expected format */
    CW_ERR_NOMEM = -4,       /* allocation failed */
    CW_ERR_NOT_FOUND = -5,   /* named thing (device, file, option) does not exist */
    CW_ERR_BUSY = -6,        /* resource in use (endpoint already bound, ...) */
    CW_ERR_DEVICE = -7,      /* audio device failed or disappeared */
    CW_ERR_INTERNAL = -8     /* a library call failed unexpectedly */
} cw_status;

#define CW_ERROR_MAX 1024

typedef struct cw_error {
    int code;               /* last cw_status set, CW_OK when clear */
    char msg[CW_ERROR_MAX]; /* NUL-terminated, "" when clear */
} cw_error_t;

/* Clears err (NULL is accepted and ignored). */
void cw_error_clear(cw_error_t *err);

/* Sets err->code and formats err->msg (printf-style, truncated to fit).
 * Returns code, so a caller can write `return cw_error_set(err, CW_ERR_IO, ...)`.
 * err may be NULL: the code is still returned. */
int cw_error_set(cw_error_t *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "prefix: " to an existing message (for adding context such as a
 * file name as an error travels up). Returns err->code. */
int cw_error_prefix(cw_error_t *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Short name of a status ("invalid", "io", ...); never NULL. */
const char *cw_status_name(int code);

#endif
