/* config.h - the one callwatch configuration file (INI, parsed with inih).
 *
 * Every option has a default (see models/callwatch.ini, which documents all of
 * them and is what `callwatch` reads when no --config is given). Options are
 * declared once in a table in config.c, from which parsing, validation,
 * defaults and `callwatch config --dump` are all derived.
 *
 * Sections:
 *   [models]   hmm, dict, lm            PocketSphinx model paths
 *   [asr]      workers, partial_interval_ms, backlog_s, max_utterance_s,
 *              beam options ...
 *   [vad]      threshold_db, margin_db, onset_ms, hangover_ms, preroll_ms
 *   [capture]  frames_per_buffer, ring_s, stall_timeout_ms, retry_s
 *   [bus]      endpoint, sndhwm, mode, node
 *   [broker]   frontend, backend, sndhwm, curve_nodes_dir
 *   [metrics]  listen
 *   [bus]      endpoint, sndhwm
 *   [audiosocket] listen, max_connections, first_frame_timeout_ms,
 *              idle_timeout_ms, pair_timeout_ms, max_frame_bytes
 *   [websocket] listen, max_connections, first_message_timeout_ms,
 *              idle_timeout_ms, max_message_bytes, tls_cert, tls_key
 *   [archive]  path, url, retention_days, commit_timeout_ms, wellbeing
 *   [bus]      endpoint, sndhwm, ack_endpoint
 *   [whisper]  playbook, min_interval_s, repeat_window_s
 *   [console]  keep_ended_s
 *   [line NAME] (repeatable) one monitored call position: device or
 *              agent_device + customer_device or file; agent_channel,
 *              customer_channel, sample_rate, agent_id, team
 *
 * Errors name the file, the line and the option:
 *   "site.ini:14: [vad] hangover_ms = 'abc': not an integer"
 *
 * A cw_config_t is filled once at start-up by one thread and read-only after
 * that, so any thread may read it afterwards.
 */
#ifndef CALLWATCH_CONFIG_H
#define CALLWATCH_CONFIG_H

#include "callwatch/error.h"

#include <stdbool.h>
#include <stdio.h>

#define CW_PATH_MAX 1024
#define CW_NAME_MAX 128
#define CW_MAX_LINES 256
#define CW_AT_MAX (CW_PATH_MAX + 16)      /* "file:line" of where an option was set */

typedef struct cw_line_config {
    char name[CW_NAME_MAX];             /* from "[line NAME]" */
    char device[CW_PATH_MAX];           /* PortAudio device: index or name (substring, case-insensitive); "" unset */
    char agent_device[CW_PATH_MAX];     /* alternative: one mono device per leg */
    char customer_device[CW_PATH_MAX];
    char file[CW_PATH_MAX];             /* alternative: an audio file replayed in real time */
    int agent_channel;                  /* channel of `device`/`file` carrying the agent, default 0 */
    int customer_channel;               /* default 1 */
    int sample_rate;                    /* Hz to open the device at; 0 = device's native rate */
    char agent_id[CW_NAME_MAX];         /* who is on the agent leg; default = line name */
    char team[CW_NAME_MAX];             /* the agent's team, "" = none */
    char asr_mode[8];                   /* "full", "cue", or "" = [asr] mode */
    int config_lineno;                  /* line of the section header, for error messages */
} cw_line_config_t;

typedef struct cw_config {
    char source_path[CW_PATH_MAX];      /* file it was read from, "(built-in defaults)" otherwise */

    /* [models] */
    char hmm[CW_PATH_MAX];              /* acoustic model directory */
    char dict[CW_PATH_MAX];             /* pronunciation dictionary */
    char lm[CW_PATH_MAX];               /* n-gram language model */

    char cues[CW_PATH_MAX];             /* cue lexicon (JSON); relative = in the models directory */
    char prosody[CW_PATH_MAX];          /* voice-cue model: baselines, weights, norms (JSON) */
    char keyphrases[CW_PATH_MAX];       /* cue mode: keyphrase thresholds (JSON); relative = in models */

    /* [asr] */
    int asr_workers;                    /* decoder threads (one decoder each); 0 = one per core */
    int asr_partial_interval_ms;        /* partial hypotheses this often while streaming; 0 = none */
    double asr_backlog_s;               /* speech buffered per leg while waiting for a decoder */
    double asr_max_utterance_s;         /* an utterance longer than this is cut */
    double asr_min_confidence;          /* words below this posterior are dropped from transcripts (0 keeps all) */
    char asr_mode[8];                   /* "full" (every word) or "cue" (keyphrase spotting) */
    double asr_degrade_backlog_s;       /* run: overload above this backlog switches legs to cue; 0 = never */
    double asr_recover_backlog_s;       /* run: legs return to full below this backlog ... */
    double asr_recover_hold_s;          /* ... held for this long */
    char asr_model_8k[CW_PATH_MAX];     /* acoustic model for 8 kHz legs, decoded at 8 kHz; "" = none */
    int asr_cue_workers;                /* mode = cue: keyphrase-only decoders besides asr_workers */
    char asr_decoder_args[160];         /* extra PocketSphinx "-name value" pairs for every decoder */
    char asr_model_8k_at[CW_AT_MAX];    /* where model_8k was set ("site.ini:12", "--set"), "" = default */
    int asr_workers_8k;                 /* decoders of the 8 kHz model; 0 = as many as asr_workers */

    /* [vad] */
    double vad_threshold_db;            /* absolute floor, dBFS of a 10 ms frame */
    double vad_margin_db;               /* above the tracked noise floor */
    int vad_onset_ms;                   /* speech this long opens a segment */
    int vad_hangover_ms;                /* silence this long closes it */
    int vad_preroll_ms;                 /* audio kept before the onset */

    /* [detect] */
    double detect_word_min_conf;        /* words heard less surely never match a cue */
    double detect_word_window_s;        /* word cues this recent are fused into one score */
    double detect_partial_trust;        /* weight of a cue heard in a partial hypothesis; 0 = finals only */
    double detect_partial_settle_s;     /* a partial's last word this far behind its audio is settled; 0 = never */
    double detect_talk_over_s;          /* overlap that counts as the agent talking over */
    double detect_dead_air_s;           /* silence on both legs that counts as dead air */
    double detect_crosstalk_db;         /* a leg this far below the other is its leak, not speech */
    int detect_repeat_count;            /* an agent phrase said this often is scripted repetition */
    int detect_repeat_min_words;        /* shorter agent utterances never count as a phrase */
    double detect_repeat_window_s;      /* sayings this recent count */
    double detect_repeat_similarity;    /* share of shared word pairs that makes two sayings one phrase */
    double detect_repeat_score;         /* flat_affect score at repeat_count sayings */
    double detect_repeat_score_step;    /* added per further saying */

    /* [alerts] */
    double alert_info_score;            /* score thresholds of the severities */
    double alert_warning_score;
    double alert_critical_score;
    double alert_cooldown_s;            /* evidence this close keeps one episode (one alert) */
    char alert_new_category_kinds[64];  /* kinds whose episode alerts again on a new evidence category */

    /* [capture] */
    int capture_frames_per_buffer;      /* PortAudio buffer size in frames; 0 = let PortAudio choose */
    double capture_ring_s;              /* seconds of audio the callback ring holds */
    int capture_stall_timeout_ms;       /* no audio this long = device gone */
    double capture_retry_s;             /* how often a lost device is reopened */

    /* [bus] */
    char bus_endpoint[CW_PATH_MAX];     /* ZeroMQ PUB bind endpoint */
    int bus_sndhwm;                     /* messages queued per subscriber before dropping */
    char bus_mode[16];                  /* "bind" (PUB binds endpoint) or "connect" (to a broker) */
    char bus_node[CW_NAME_MAX];         /* node name for call ids; "" = short host name */

    /* [broker] */
    char broker_frontend[CW_PATH_MAX];  /* XSUB bind endpoint: nodes publish here */
    char broker_backend[CW_PATH_MAX];   /* XPUB bind endpoint: subscribers connect here */
    int broker_sndhwm;                  /* messages queued per peer before dropping */
    char broker_curve_nodes_dir[CW_PATH_MAX]; /* [bus] curve = on: public certificates of admitted nodes */
    char broker_ack_endpoint[CW_PATH_MAX];      /* ROUTER bind endpoint for clients' acks; "" = off */
    char broker_node_ack_endpoint[CW_PATH_MAX]; /* ROUTER bind endpoint for the nodes' ack links */

    /* [metrics] */
    char metrics_listen[CW_PATH_MAX];   /* HOST:PORT of the HTTP /metrics and /health; "" = off */

    /* [ingest] calls streamed in by a PBX, over AudioSocket and WebSocket together (pbxcall.h) */
    int ingest_max_calls;               /* PBX calls at once; further streams are refused; 0 = no cap */

    /* [audiosocket] calls streamed in by a PBX (audiosocket.h) */
    char audiosocket_listen[CW_PATH_MAX]; /* "host:port" to listen on; "" = off */
    int audiosocket_max_connections;    /* legs connected at once */
    int audiosocket_first_frame_timeout_ms; /* the UUID must come this soon */
    int audiosocket_idle_timeout_ms;    /* a leg silent on the wire this long is closed */
    int audiosocket_pair_timeout_ms;    /* a first leg waits this long for its partner */
    int audiosocket_max_frame_bytes;    /* largest payload accepted */

    /* [websocket] media streams (websocket.h: FreeSWITCH, Twilio, AudioHook) */
    char websocket_listen[CW_PATH_MAX];  /* "host:port" to listen on; "" = off */
    int websocket_max_connections;       /* streams (calls) open at once */
    int websocket_first_message_timeout_ms; /* the metadata must come this soon */
    int websocket_idle_timeout_ms;       /* a stream silent on the wire this long is closed */
    int websocket_max_message_bytes;     /* largest WebSocket message accepted */
    char websocket_tls_cert[CW_PATH_MAX]; /* PEM certificate (chain): serve wss://; "" = plain ws:// */
    char websocket_tls_key[CW_PATH_MAX];  /* PEM private key of tls_cert */
    char bus_curve[8];                  /* "on"/"off" (cw_config_switch_on): CURVE on every bus socket */
    char bus_curve_server_cert[CW_PATH_MAX];  /* daemon's secret certificate (NAME.key_secret) */
    char bus_curve_clients_dir[CW_PATH_MAX];  /* public certificates of admitted subscribers */
    char bus_curve_client_cert[CW_PATH_MAX];  /* subscriber's secret certificate (tap, console) */
    char bus_curve_server_public[CW_PATH_MAX]; /* subscriber: server's Z85 public key or its .key file */
    char bus_allow_plain_remote[8];     /* "true": plain binds on non-loopback endpoints are allowed */

    /* [redact] */
    int redact_min_digits;              /* spoken digit runs this long are masked */
    char redact_words[CW_PATH_MAX];     /* digit-word lexicon (JSON); relative = in the models directory */
    char redact_patterns[CW_PATH_MAX];  /* POSIX extended regexes, one per line; "" = none */

    /* [archive] */
    char archive_path[CW_PATH_MAX];     /* SQLite archive of `run`; "" = none */
    char archive_url[CW_PATH_MAX];      /* PostgreSQL archive (postgresql://...); set, it replaces archive_path */
    int archive_retention_days;         /* 0 = keep for ever */
    int archive_commit_timeout_ms;      /* longest a batch waits for its commit before publishing */
    char archive_wellbeing[CW_PATH_MAX]; /* drift thresholds (JSON); relative = in the models directory */
    char bus_ack_endpoint[CW_PATH_MAX]; /* ZeroMQ REP bind endpoint for acknowledgements */
    char bus_broker_ack_endpoint[CW_PATH_MAX]; /* the broker's node_ack_endpoint; "" = no link */

    /* [whisper] */
    char whisper_playbook[CW_PATH_MAX]; /* prompts per alert kind (JSON); relative = in the models directory */
    double whisper_min_interval_s;      /* per-agent quiet time after a whisper */
    double whisper_repeat_window_s;     /* the same prompt is not repeated to an agent within this */

    /* [web] `callwatch web` (web.h) */
    char web_listen[CW_PATH_MAX];       /* HOST:PORT */
    char web_users[CW_PATH_MAX];        /* users file (users.h); "" = none (nobody can log in) */
    char web_db[CW_PATH_MAX];           /* archive read for ended calls and QA; "" = none */
    char web_assets[CW_PATH_MAX];       /* pages' directory; relative = in the models directory */
    double web_ended_linger_s;          /* ended calls stay this long on the wallboard */
    int web_session_idle_s;             /* an idle session ends after this */
    char web_tls_cert[CW_PATH_MAX];     /* PEM; both set = HTTPS */
    char web_tls_key[CW_PATH_MAX];

    /* [console] */
    double console_keep_ended_s;        /* an ended call stays on the console this long */

    cw_line_config_t lines[CW_MAX_LINES];
    int n_lines;
} cw_config_t;

/* Allocates a config holding every default. NULL when out of memory. */
cw_config_t *cw_config_new(void);

/* Frees and NULLs *cfg; accepts NULL. */
void cw_config_destroy(cw_config_t **cfg);

/* Reads an INI file over the current values. Unknown sections or options,
 * values that do not parse or are out of range, a missing file: returns a
 * negative cw_status with a message naming the file, line and option.
 * On error cfg may be partly updated; discard it. */
int cw_config_load(cw_config_t *cfg, const char *path, cw_error_t *err);

/* For a reload: copies into next, from the running daemon's config, every
 * option only a restart applies (it shaped sockets, threads or the loaded
 * speech models) and every one a command-line option may have overridden,
 * so next describes the daemon that keeps running. Returns how many of the
 * former next asked to change, and names them in changed ("[models] hmm,
 * [asr] workers", truncated to cap; may be NULL). Per-line options are not
 * touched. */
int cw_config_keep_running(cw_config_t *next, const cw_config_t *running, char *changed, size_t cap);

/* Same, from a string (tests); `origin` names it in messages. */
int cw_config_load_string(cw_config_t *cfg, const char *text, const char *origin, cw_error_t *err);

/* Sets one option as if read from a file ("section", "key", "value");
 * origin names where it came from (e.g. "--set"). */
int cw_config_set(cw_config_t *cfg, const char *section, const char *key,
                  const char *value, const char *origin, cw_error_t *err);

/* Checks cross-option rules that single options cannot (model files exist
 * and are readable, each line names exactly one kind of source, channels
 * differ, ...). Returns 0 or an error naming the option. */
int cw_config_validate(const cw_config_t *cfg, cw_error_t *err);

/* Writes every option with its current value as a valid INI file, each
 * preceded by its one-line documentation. */
void cw_config_dump(const cw_config_t *cfg, FILE *out);

/* The models directory relative model paths are taken from, written into
 * buf (returned): the CALLWATCH_MODELS environment variable if set; else, in
 * an installed binary, <directory of the executable>/CALLWATCH_MODELS_RELDIR
 * (../share/callwatch) when that directory exists, so a moved prefix still
 * finds its models; else the source tree's models/ (CALLWATCH_MODELS_DIR, a
 * binary run from its build tree). Reads the environment on every call; any
 * thread. */
const char *cw_config_models_dir(char *buf, size_t cap);

/* The path of a model file option: absolute as given, relative ones taken
 * from cw_config_models_dir(). Writes into buf. */
const char *cw_config_model_path(const char *value, char *buf, size_t cap);

/* Writes the options as the body of callwatch.ini(5): one roff .SS per
 * section and one .TP entry per option with its documentation, type, range
 * and default, straight from the option table so the page cannot drift. */
void cw_config_man(FILE *out);

/* The first file a PocketSphinx acoustic model directory must hold (mdef,
 * feat.params, means, variances, transition_matrices, noisedict, and
 * sendump or mixture_weights) that `dir` lacks or cannot be read, or NULL
 * when all are there. The returned name is static. */
const char *cw_config_acoustic_missing(const char *dir);

/* True for a switch option's "on", "true", "yes" or "1" (values are
 * checked when read, so anything else is off). */
bool cw_config_switch_on(const char *value);

/* Path of the config callwatch ships (models/callwatch.ini): the
 * CALLWATCH_CONFIG environment variable if set, else callwatch.ini in
 * cw_config_models_dir(). Never NULL; valid until the calling thread's next
 * call. */
const char *cw_config_default_path(void);

#endif
