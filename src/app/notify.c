/* notify.c - app_notify(): the daemon's readiness for systemd. */
#include "app.h"

#ifdef CALLWATCH_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

void app_notify(const char *state)
{
#ifdef CALLWATCH_HAVE_SYSTEMD
    /* Outside systemd NOTIFY_SOCKET is unset and this returns 0; a failure
     * to notify must not stop the daemon (systemd times the start out). */
    (void)sd_notify(0, state);
#else
    (void)state;
#endif
}
