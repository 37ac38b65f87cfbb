/* ack_request.c - one request on an acknowledgement channel, for the web
 * pages and `callwatch console --ack`. See app.h. */
#include "app.h"

#include "callwatch/acks.h"

/* How often a send is tried again while the connection comes up. */
#define RETRY_MS 20

int app_ack_request(const char *endpoint, const cw_curve_client_t *curve, const char *request, char **reply,
                    int connect_ms, int reply_ms, cw_error_t *err)
{
    *reply = NULL;
    cw_ack_client_t *c = cw_ack_client_new_secure(endpoint, curve, err);
    if (!c)
        return err->code;
    int rc = CW_ERR_IO;
    double until = app_monotonic_s() + connect_ms / 1000.0;
    while ((rc = cw_ack_client_send(c, request, err)) != CW_OK && app_monotonic_s() < until)
        app_sleep_ms(RETRY_MS);
    if (rc == CW_OK) {
        int got = cw_ack_client_recv(c, reply, reply_ms, err);
        rc = got == 1  ? CW_OK
             : got < 0 ? got
                       : cw_error_set(err, CW_ERR_IO, "no answer from %s within %d ms", endpoint, reply_ms);
    } else {
        cw_error_set(err, CW_ERR_IO, "%s not reachable within %d ms%s", endpoint, connect_ms,
                     curve ? " (with CURVE: is this key listed there?)" : "");
    }
    cw_ack_client_destroy(&c);
    return rc;
}
