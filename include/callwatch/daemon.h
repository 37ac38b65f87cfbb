/* daemon.h - the live daemon of `callwatch run` as one object.
 *
 * cw_daemon_new() wires the subsystems in their one valid order (the lines,
 * PortAudio, monitoring and the HTTP server, the bus publisher, the whisper
 * engine, the outbox and its sinks, the ack server and the outbox writer,
 * the privilege drop, the decoder pool and reloader, the calls and the
 * AudioSocket server, the overload governor: docs/architecture.md lists why
 * each comes where it does); cw_daemon_run() runs the ingest loop until
 * SIGINT/SIGTERM and drains; cw_daemon_destroy() takes everything down in
 * the reverse order.
 *
 * Part of the callwatch executable (src/app/daemon.c), not of the core
 * library: it logs through the command line's log and installs its signal
 * handlers. Main thread only; one daemon per process. Statuses are the
 * command line's exit statuses: 0 success, 1 runtime failure, 2 usage or
 * configuration error.
 */
#ifndef CALLWATCH_DAEMON_H
#define CALLWATCH_DAEMON_H

#include "callwatch/config.h"

#include <stdbool.h>

typedef struct cw_daemon cw_daemon_t;

typedef struct cw_daemon_opts {
    const char *config_path;  /* re-read on SIGHUP; NULL: the shipped default */
    const char *run_as;       /* --user: become this user once bound; NULL: stay */
    bool no_asr;              /* no decoder pool: voice and turn-taking cues only */
    const char *const *files; /* --file recordings, replayed as lines file1, file2...; borrowed */
    int n_files;
} cw_daemon_opts_t;

/* Takes *cfg (validated; NULLed) and wires the daemon. On failure logs what
 * went wrong, undoes every step taken, sets *status to 1 or 2 and returns
 * NULL. opts and what it points to must outlive the daemon. */
cw_daemon_t *cw_daemon_new(cw_config_t **cfg, const cw_daemon_opts_t *opts, int *status);

/* Runs the calls until SIGINT/SIGTERM (SIGHUP reloads the configuration for
 * calls that start after it), then hangs up and waits up to 15 s for the
 * utterances in flight. Returns 0, or 1 when the decoders did not finish. */
int cw_daemon_run(cw_daemon_t *d);

/* Takes down everything cw_daemon_new() started and NULLs *d. Accepts NULL. */
void cw_daemon_destroy(cw_daemon_t **d);

#endif
