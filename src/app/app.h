/* app.h - shared pieces of the callwatch command line (private to src/app).
 *
 * Subcommands return an exit status instead of exiting: main.c is the only
 * place that calls exit(). Status: 0 success, 1 runtime failure (bad audio,
 * device, bus), 2 usage or configuration error.
 */
#ifndef CALLWATCH_APP_H
#define CALLWATCH_APP_H

#include "callwatch/bus.h"
#include "callwatch/config.h"
#include "callwatch/curve.h"
#include "callwatch/sink.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

enum { APP_OK = 0, APP_FAILURE = 1, APP_USAGE = 2 };

/* Set by SIGINT/SIGTERM: the subcommand winds down and returns. */
extern volatile sig_atomic_t app_stop_requested;

/* Installs the SIGINT/SIGTERM handlers and ignores SIGPIPE (a closed stdout
 * becomes a write error, reported, instead of a silent death). */
void app_install_signals(void);

/* handler for sig, with no flags and nothing blocked while it runs; the
 * handler may only set a sig_atomic_t flag. */
void app_on_signal(int sig, void (*handler)(int));

/* Loads `path`, or the shipped default config when path is NULL, then
 * validates it. Prints the error and returns NULL on failure. */
/* Seconds on CLOCK_MONOTONIC, for deadlines. */
double app_monotonic_s(void);

/* Sleeps ms milliseconds (a signal may end it early; callers re-check). */
void app_sleep_ms(long ms);

/* Logs a cw_config_validate() error, naming the config file once. */
void app_log_config_error(const cw_config_t *cfg, const cw_error_t *err);

cw_config_t *app_load_config(const char *path, bool validate);

/* "callwatch: " + message on stderr. */
void app_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Strict integer parse of a command-line value; prints an error naming the flag. */
bool app_parse_int(const char *flag, const char *text, long min, long max, long *out);

/* Opens (creating, 0600) the archive at path with the [archive] settings of
 * cfg and wraps it in a sink whose warnings go to the log. Logs the error
 * and returns NULL on failure. */
cw_sink_t *app_archive_sink(const cw_config_t *cfg, const char *path);

/* The archive cfg names: [archive] url when set, else [archive] path ("" = none). */
const char *app_archive_target(const cw_config_t *cfg);

/* target for messages: a PostgreSQL URL without its password, a file as it is. */
const char *app_archive_name(const char *target, char *buf, size_t cap);

/* Logs what an archive sink did (events, commits, stalls); after a flush. */
void app_archive_report(const cw_sink_t *sink);

int cmd_analyze(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_tap(int argc, char **argv);
int cmd_devices(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_broker(int argc, char **argv);
int cmd_archiver(int argc, char **argv);
int cmd_keygen(int argc, char **argv);

/* Bus security from [bus]: with curve on, starts the CURVE server (*server,
 * the caller destroys it after the sockets) and points sec at it. Errors
 * name the config file and the option. (security.c) */
int app_bus_security(const cw_config_t *cfg, cw_curve_server_t **server, cw_bus_security_t *sec, cw_error_t *err);

/* Subscriber side: *client is the CURVE client of [bus] when curve is on,
 * else NULL. */
int app_bus_client(const cw_config_t *cfg, cw_curve_client_t **client, cw_error_t *err);

/* The subscriber of `tap` and `whisper`: reads config_path (NULL = the
 * shipped one) for the CURVE keys, and for the endpoint unless `endpoint` is
 * given; the endpoint used is copied to endpoint_out. NULL with *status set
 * (APP_USAGE: the config; APP_FAILURE: the bus, logged). */
cw_bus_sub_t *app_subscribe(const char *config_path, const char *endpoint, const char *topic, char *endpoint_out,
                            size_t cap, int *status);

/* One request on an acknowledgement channel (a node's [bus] ack_endpoint or
 * a broker's [broker] ack_endpoint): a fresh client (CURVE when curve is not
 * NULL) that waits up to connect_ms for the connection, sends request and
 * waits up to reply_ms for the answer. CW_OK with *reply (malloc'd JSON,
 * caller frees), else CW_ERR_IO saying which step failed. */
int app_ack_request(const char *endpoint, const cw_curve_client_t *curve, const char *request, char **reply,
                    int connect_ms, int reply_ms, cw_error_t *err);

/* Passwords (password.c). app_read_line: one line of f into buf without its
 * newline; false at EOF or when longer than cap - 2. app_prompt_password:
 * prompt on the terminal (/dev/tty, else stderr), the line read from
 * standard input with echo off when it is a terminal. */
bool app_read_line(FILE *f, char *buf, size_t cap);
bool app_prompt_password(const char *prompt, char *buf, size_t cap);

/* The password `callwatch console --user NAME` acknowledges with, into buf
 * ("" = none): the first line of file when not NULL (a file others may read
 * is refused), else $CALLWATCH_PASSWORD when set, else asked on the terminal
 * when standard input is one (Enter = none), else none. 0, or APP_USAGE
 * with the reason logged. */
#define APP_PASSWORD_ENV "CALLWATCH_PASSWORD"
int app_ack_password(const char *user, const char *file, char *buf, size_t cap);

/* `callwatch broker`: like app_bus_security, but the CURVE server has two
 * admission lists: [bus] curve_clients_dir (subscribers and consoles,
 * CW_CURVE_DOMAIN_CLIENTS) and nodes_dir (nodes, [broker] curve_nodes_dir or
 * --nodes-dir, CW_CURVE_DOMAIN_NODES), which curve = on requires. */
int app_broker_security(const cw_config_t *cfg, const char *nodes_dir, cw_curve_server_t **server,
                        cw_bus_security_t *sec, cw_error_t *err);

/* A node with [bus] mode = connect: *client is its CURVE client toward the
 * broker's frontend ([bus] curve_client_cert, curve_server_public) when
 * curve is on, else NULL. Errors name the missing or bad option. */
int app_node_client(const cw_config_t *cfg, cw_curve_client_t **client, cw_error_t *err);

/* `run --user NAME`: checks up front that we are root and NAME exists
 * (logs why not); NULL user is fine. */
bool app_check_can_drop(const char *user);

/* Becomes NAME (supplementary groups, gid, uid) for good; logs and returns
 * false on failure. NULL user does nothing. */
bool app_drop_privileges(const char *user);
int cmd_qa(int argc, char **argv);
int cmd_console(int argc, char **argv);
int cmd_whisper(int argc, char **argv);
int cmd_web(int argc, char **argv);
int cmd_user(int argc, char **argv);

/* `run` on SIGHUP (reload.c): the config file read again, checked, and its
 * lexicon, voice model and thresholds used by the calls that start after.
 * Daemon thread only. */
typedef struct app_reloader app_reloader_t;
/* Set by SIGHUP once app_install_reload_signal() ran; the daemon clears it. */
extern volatile sig_atomic_t app_reload_requested;
void app_install_reload_signal(void);
/* boot (the running config) and path (NULL = the shipped default) are
 * borrowed and must outlive the reloader. NULL when out of memory. */
app_reloader_t *app_reloader_new(const cw_config_t *boot, const char *path);
/* The config new calls are to use; valid until the next sweep that does not
 * see it marked. */
const cw_config_t *app_reloader_config(const app_reloader_t *r);
/* Re-reads the file; a config that does not validate or whose models do not
 * load is logged and refused (false), the running one kept. Restart-only
 * options keep their running values (logged when the file changed them). */
bool app_reloader_reload(app_reloader_t *r);
/* Configs replaced by a reload and not yet freed. Calls keep a pointer to the
 * config they started with: mark each one a live call uses, then sweep to
 * free the others. */
int app_reloader_retired(const app_reloader_t *r);
void app_reloader_mark(app_reloader_t *r, const cw_config_t *in_use);
void app_reloader_sweep(app_reloader_t *r);
void app_reloader_destroy(app_reloader_t **r);

/* `run --check-config`: opens every configured line's device or file and
 * binds every endpoint the daemon would bind ([bus] endpoint in bind mode,
 * ack_endpoint, [metrics] and [audiosocket] listen), closing each again;
 * prints one "open WHAT: OK|FAILED: why" line per item on stdout and each
 * failure on stderr. Returns how many failed. The implicit default device of
 * a config without [line] is not checked. */
int app_check_open(const cw_config_t *cfg);

/* A recording's metadata for call_start: "" = not given. */
typedef struct app_recording {
    char agent_id[CW_NAME_MAX];
    char team[CW_NAME_MAX];
    char started_at[40]; /* normalised by cw_event_parse_time */
} app_recording_t;

/* Reads the JSON sidecar AUDIO_PATH.json if there is one ({"agent_id": ...,
 * "team": ..., "started_at": ISO-8601}) into r. Returns APP_OK (also when
 * there is none) or APP_USAGE after logging an error that names the sidecar
 * (bad JSON with line and column, an unknown key, a bad value). */
int app_recording_sidecar(const char *audio_path, app_recording_t *r);

/* What the command line gave wins over the sidecar: copies cli's non-empty
 * fields into r. */
void app_recording_override(app_recording_t *r, const app_recording_t *cli);

/* A one-line progress report on stderr for batches: only for more than one
 * file and when stderr is a terminal. */
typedef struct app_progress {
    bool enabled;
    int n_files;
    double audio_total_s, started_s, next_s;
} app_progress_t;

void app_progress_start(app_progress_t *p, int n_files, double audio_total_s, double now_s);

/* "analyze: file n of N done, R x real time, ETA m:ss", at most once a second
 * unless last (which ends the line). audio_done_s: seconds of audio in the
 * finished files. */
void app_progress_show(app_progress_t *p, int done, double audio_done_s, double now_s, bool last);

/* Tells systemd (Type=notify units) the daemon's state, e.g. "READY=1",
 * "STOPPING=1" or "STATUS=...": a no-op when not started by systemd or
 * built without libsystemd. Daemon thread. */
void app_notify(const char *state);

#endif
