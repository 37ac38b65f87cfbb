/* config.c - see callwatch/config.h
 *
 * Every option lives in one table, `options[]`. Defaults (cw_config_new),
 * parsing (files, strings and cw_config_set), range checks, the path checks of
 * cw_config_validate and cw_config_dump all walk that table, so adding an
 * option is one row.
 *
 * Parsing is inih's, fed through our own reader (read_line). inih does not
 * tell its handler the line number and does not report section headers, so
 * the reader counts lines, opens sections itself (which also makes an empty
 * [line NAME] exist) and notices lines inih rejected as syntax errors, so that
 * every message can name the file, the line and the option.
 */
#include "callwatch/config.h"

#include <ini.h>

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef CALLWATCH_MODELS_DIR
#define CALLWATCH_MODELS_DIR "models"
#endif

/* The section whose options belong to a cw_line_config_t ("[line NAME]"). */
#define LINE_SECTION "line"

/* Characters a line name may hold besides letters and digits: enough for
 * "desk-12", "floor2.pos3" or "agent@site", and nothing INI would misread. */
#define LINE_NAME_PUNCT "-_.:@"

/* Keys and section names longer than this get no did-you-mean suggestion. */
#define SUGGEST_MAX_LEN 64

/* Enough for the longest section label ("line " + a name) in messages. */
#define LABEL_MAX (CW_NAME_MAX + 8)

/* Text of a bad line quoted in a syntax error. */
#define QUOTE_MAX 80

typedef enum opt_type { OPT_INT, OPT_DOUBLE, OPT_STRING } opt_type_t;

enum opt_flags {
    OPT_ZERO_OK = 1u << 0,   /* 0 is allowed besides min..max ("0 = automatic") */
    OPT_MUST_DIR = 1u << 1,  /* validate: an existing directory */
    OPT_MUST_FILE = 1u << 2, /* validate: a readable regular file */
    OPT_IN_MODELS = 1u << 3, /* a relative path is in the models directory */
    OPT_ACOUSTIC = 1u << 4,  /* validate: empty (off) or a PocketSphinx acoustic model directory */
    OPT_RESTART = 1u << 5,   /* shaped sockets, threads or loaded speech models: a reload keeps the running value */
    OPT_ARGV = 1u << 6,      /* a command-line option may override it: a reload keeps the running value silently */
    OPT_SECRET = 1u << 7,    /* may hold a password: a refused value is not echoed in the error */
};

typedef struct opt {
    const char *section;  /* "vad", ...; LINE_SECTION for per-line options */
    const char *key;
    opt_type_t type;
    size_t offset;        /* into cw_config_t, or cw_line_config_t for LINE_SECTION */
    size_t size;          /* of the field: checks the type, bounds strings */
    double min, max;      /* numeric options only */
    unsigned flags;
    const char *def;      /* default, as it would be written in the file; NULL = the line's name */
    const char *(*check)(const char *value); /* extra rule: why the value is wrong, or NULL */
    const char *doc;      /* one line: what it does and in which unit */
} opt_t;

#define CFG(field) offsetof(cw_config_t, field), sizeof(((cw_config_t *)0)->field)
#define LINE(field) offsetof(cw_line_config_t, field), sizeof(((cw_line_config_t *)0)->field)

static const char *check_endpoint(const char *value);
static const char *check_endpoint_or_empty(const char *value);
static const char *check_bus_mode(const char *value);
static const char *check_node(const char *value);
static const char *check_listen(const char *value);
static const char *check_switch(const char *value);
static const char *check_asr_mode(const char *value);
static const char *check_line_asr_mode(const char *value);
static const char *check_word_kinds(const char *value);
static const char *check_archive_url(const char *value);

/* The options. Section order here is the order of cw_config_dump. */
static const opt_t options[] = {
    {"models", "hmm", OPT_STRING, CFG(hmm), 0, 0, OPT_MUST_DIR | OPT_RESTART,
     "/usr/share/pocketsphinx/model/en-us/en-us", NULL, "PocketSphinx acoustic model directory (-hmm)"},
    {"models", "dict", OPT_STRING, CFG(dict), 0, 0, OPT_MUST_FILE | OPT_RESTART,
     "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict", NULL, "pronunciation dictionary file (-dict)"},
    {"models", "lm", OPT_STRING, CFG(lm), 0, 0, OPT_MUST_FILE | OPT_RESTART,
     "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin", NULL, "n-gram language model file (-lm)"},
    {"models", "cues", OPT_STRING, CFG(cues), 0, 0, OPT_MUST_FILE | OPT_IN_MODELS, "cues-en.json", NULL,
     "cue lexicon (JSON); a relative path is taken from the models directory"},
    {"models", "prosody", OPT_STRING, CFG(prosody), 0, 0, OPT_MUST_FILE | OPT_IN_MODELS, "prosody.json", NULL,
     "voice-cue model (JSON): speaker baselines, weights and flat-affect norms; relative = models directory"},
    {"models", "keyphrases", OPT_STRING, CFG(keyphrases), 0, 0, OPT_MUST_FILE | OPT_IN_MODELS, "keyphrases.json",
     NULL, "cue mode: keyphrase thresholds by phrase length and per phrase (JSON); relative = models directory"},

    {"asr", "workers", OPT_INT, CFG(asr_workers), 0, 64, OPT_RESTART, "0", NULL,
     "decoder threads, one PocketSphinx decoder each; 0 = one per CPU core"},
    {"asr", "partial_interval_ms", OPT_INT, CFG(asr_partial_interval_ms), 0, 10000, 0, "500", NULL,
     "ms between partial transcripts of an utterance still being spoken; 0 = no partials"},
    {"asr", "backlog_s", OPT_DOUBLE, CFG(asr_backlog_s), 1, 600, 0, "30", NULL,
     "seconds of speech buffered per leg while all decoders are busy"},
    {"asr", "max_utterance_s", OPT_DOUBLE, CFG(asr_max_utterance_s), 2, 120, 0, "20", NULL,
     "seconds after which an utterance is cut and decoded"},
    {"asr", "min_confidence", OPT_DOUBLE, CFG(asr_min_confidence), 0, 1, 0, "0", NULL,
     "words with a lower posterior probability are dropped; 0 keeps all"},
    {"asr", "mode", OPT_STRING, CFG(asr_mode), 0, 0, 0, "full", check_asr_mode,
     "full = transcribe every word; cue = spot the cue lexicon's phrases only (cheaper, no negation context)"},
    {"asr", "degrade_backlog_s", OPT_DOUBLE, CFG(asr_degrade_backlog_s), 0.5, 600, OPT_ZERO_OK, "5", NULL,
     "run: when a leg has this many seconds of speech waiting for a decoder, switch legs to cue mode; 0 = never"},
    {"asr", "recover_backlog_s", OPT_DOUBLE, CFG(asr_recover_backlog_s), 0, 600, 0, "1", NULL,
     "run: degraded legs return to full mode once every backlog stayed below this for recover_hold_s"},
    {"asr", "recover_hold_s", OPT_DOUBLE, CFG(asr_recover_hold_s), 0, 3600, 0, "10", NULL,
     "run: seconds of low backlog before each degraded leg returns to full mode"},
    {"asr", "model_8k", OPT_STRING, CFG(asr_model_8k), 0, 0, OPT_ACOUSTIC | OPT_RESTART, "", NULL,
     "acoustic model directory for legs at 8 kHz, decoded natively (-samprate 8000); empty = such legs are "
     "upsampled to 16 kHz for the [models] hmm model"},
    {"asr", "cue_workers", OPT_INT, CFG(asr_cue_workers), 0, 256, OPT_RESTART, "8", NULL,
     "with mode = cue: keyphrase spotters (no language model, a fraction of a decoder's memory) on top of "
     "workers, so that many live legs are spotted at once"},
    {"asr", "decoder_args", OPT_STRING, CFG(asr_decoder_args), 0, 0, OPT_RESTART, "", NULL,
     "extra PocketSphinx arguments for every decoder, '-name value' pairs (speed against accuracy: "
     "docs/architecture.md)"},
    {"asr", "workers_8k", OPT_INT, CFG(asr_workers_8k), 0, 64, OPT_RESTART, "0", NULL,
     "decoder threads of the 8 kHz model (only with model_8k); 0 = as many as workers"},

    {"vad", "threshold_db", OPT_DOUBLE, CFG(vad_threshold_db), -120, 0, 0, "-45", NULL,
     "absolute floor in dBFS a 10 ms frame must exceed to count as speech"},
    {"vad", "margin_db", OPT_DOUBLE, CFG(vad_margin_db), 0, 60, 0, "12", NULL,
     "dB above the tracked noise floor a frame must also exceed"},
    {"vad", "onset_ms", OPT_INT, CFG(vad_onset_ms), 10, 1000, 0, "60", NULL,
     "ms of speech that open a segment"},
    {"vad", "hangover_ms", OPT_INT, CFG(vad_hangover_ms), 10, 10000, 0, "500", NULL,
     "ms of silence that close a segment"},
    {"vad", "preroll_ms", OPT_INT, CFG(vad_preroll_ms), 0, 1000, 0, "200", NULL,
     "ms of audio kept before the onset so first syllables are not clipped"},

    {"detect", "word_min_conf", OPT_DOUBLE, CFG(detect_word_min_conf), 0, 1, 0, "0.3", NULL,
     "words recognised with a lower confidence never match a cue phrase"},
    {"detect", "word_window_s", OPT_DOUBLE, CFG(detect_word_window_s), 1, 600, 0, "30", NULL,
     "seconds over which word cues of one kind add up to one score"},
    {"detect", "partial_trust", OPT_DOUBLE, CFG(detect_partial_trust), 0, 1, 0, "0.8", NULL,
     "how much a cue phrase heard in a partial hypothesis counts (no confidence yet); 0 waits for finals"},
    {"detect", "partial_settle_s", OPT_DOUBLE, CFG(detect_partial_settle_s), 0, 5, 0, "0.3", NULL,
     "seconds of audio with no new word after which a partial's last word is settled; 0 = never"},
    {"detect", "talk_over_s", OPT_DOUBLE, CFG(detect_talk_over_s), 0.1, 10, 0, "1", NULL,
     "seconds the agent must talk over the customer to count as talking over"},
    {"detect", "dead_air_s", OPT_DOUBLE, CFG(detect_dead_air_s), 1, 300, 0, "8", NULL,
     "seconds of silence on both legs that count as dead air"},
    {"detect", "crosstalk_db", OPT_DOUBLE, CFG(detect_crosstalk_db), 0, 60, 0, "10", NULL,
     "sound on one leg this many dB below the other leg's at the same instant is that leg's echo or "
     "crosstalk, not its speech (talk-over); 0 = no such test"},
    {"detect", "repeat_count", OPT_INT, CFG(detect_repeat_count), 2, 64, 0, "3", NULL,
     "an agent phrase said this many times within repeat_window_s is scripted repetition (flat_affect)"},
    {"detect", "repeat_min_words", OPT_INT, CFG(detect_repeat_min_words), 2, 48, 0, "4", NULL,
     "agent utterances shorter than this many confident words never count as a repeated phrase"},
    {"detect", "repeat_window_s", OPT_DOUBLE, CFG(detect_repeat_window_s), 1, 3600, 0, "180", NULL,
     "seconds over which sayings of one phrase are counted"},
    {"detect", "repeat_similarity", OPT_DOUBLE, CFG(detect_repeat_similarity), 0.05, 1, 0, "0.6", NULL,
     "share of shared word pairs that makes two sayings the same phrase (tolerates misrecognised words)"},
    {"detect", "repeat_score", OPT_DOUBLE, CFG(detect_repeat_score), 0, 1, 0, "0.6", NULL,
     "flat_affect score when a phrase reaches repeat_count sayings"},
    {"detect", "repeat_score_step", OPT_DOUBLE, CFG(detect_repeat_score_step), 0, 1, 0, "0.1", NULL,
     "added to that score for every further saying"},

    {"alerts", "info_score", OPT_DOUBLE, CFG(alert_info_score), 0.01, 1, 0, "0.35", NULL,
     "evidence scoring at least this opens an alert episode (severity info)"},
    {"alerts", "warning_score", OPT_DOUBLE, CFG(alert_warning_score), 0.01, 1, 0, "0.6", NULL,
     "score from which an alert is a warning (interrupts a supervisor)"},
    {"alerts", "critical_score", OPT_DOUBLE, CFG(alert_critical_score), 0.01, 1, 0, "0.85", NULL,
     "score from which an alert is critical"},
    {"alerts", "cooldown_s", OPT_DOUBLE, CFG(alert_cooldown_s), 0, 3600, 0, "30", NULL,
     "evidence within this many seconds of the last continues the episode: no new alert unless worse"},
    {"alerts", "new_category_kinds", OPT_STRING, CFG(alert_new_category_kinds), 0, 0, 0,
     "escalation,anger,despair", check_word_kinds,
     "word-cue kinds (comma-separated; empty = none) whose episode alerts again for each new evidence "
     "category (a lawyer after a manager; words after anger heard in the voice)"},

    {"capture", "frames_per_buffer", OPT_INT, CFG(capture_frames_per_buffer), 0, 65536, 0, "0", NULL,
     "PortAudio buffer size in frames; 0 = let PortAudio choose"},
    {"capture", "ring_s", OPT_DOUBLE, CFG(capture_ring_s), 0.1, 60, 0, "4", NULL,
     "seconds of audio the capture ring holds before the oldest is overwritten"},
    {"capture", "stall_timeout_ms", OPT_INT, CFG(capture_stall_timeout_ms), 100, 60000, 0, "2000", NULL,
     "ms without audio after which a device counts as gone"},
    {"capture", "retry_s", OPT_DOUBLE, CFG(capture_retry_s), 0.1, 3600, 0, "5", NULL,
     "seconds between attempts to reopen a lost device"},

    {"bus", "endpoint", OPT_STRING, CFG(bus_endpoint), 0, 0, OPT_ARGV, "tcp://127.0.0.1:5556", check_endpoint,
     "ZeroMQ PUB endpoint events are published on (tcp://, ipc:// or inproc://)"},
    {"bus", "sndhwm", OPT_INT, CFG(bus_sndhwm), 1, 10000000, 0, "100000", NULL,
     "messages queued per subscriber before new ones are dropped"},
    {"bus", "mode", OPT_STRING, CFG(bus_mode), 0, 0, 0, "bind", check_bus_mode,
     "bind: subscribers connect to endpoint; connect: publish into a `callwatch broker` frontend at endpoint"},
    {"bus", "node", OPT_STRING, CFG(bus_node), 0, 0, OPT_ARGV, "", check_node,
     "this node's name, the first part of its call ids (letters, digits, - _ .); empty = the short host name"},
    {"bus", "curve", OPT_STRING, CFG(bus_curve), 0, 0, 0, "off", check_switch,
     "on: encrypt the bus with ZeroMQ CURVE and admit only subscribers whose key is in curve_clients_dir"},
    {"bus", "curve_server_cert", OPT_STRING, CFG(bus_curve_server_cert), 0, 0, 0, "", NULL,
     "daemon's secret certificate (NAME.key_secret from `callwatch keygen`), needed when curve = on"},
    {"bus", "curve_clients_dir", OPT_STRING, CFG(bus_curve_clients_dir), 0, 0, 0, "", NULL,
     "directory of admitted subscribers' public certificates (NAME.key), read again when it changes"},
    {"bus", "curve_client_cert", OPT_STRING, CFG(bus_curve_client_cert), 0, 0, 0, "", NULL,
     "subscriber side (tap, console), and a node with mode = connect: its own secret certificate"},
    {"bus", "curve_server_public", OPT_STRING, CFG(bus_curve_server_public), 0, 0, 0, "", NULL,
     "subscriber side: the daemon's public key (40 characters) or its public certificate file; a node with "
     "mode = connect: the broker's"},
    {"bus", "allow_plain_remote", OPT_STRING, CFG(bus_allow_plain_remote), 0, 0, 0, "false", check_switch,
     "true: allow binding a non-loopback endpoint without CURVE (events readable by anyone on the network)"},
    {"bus", "ack_endpoint", OPT_STRING, CFG(bus_ack_endpoint), 0, 0, 0, "tcp://127.0.0.1:5557", check_endpoint,
     "ZeroMQ REP endpoint the daemon takes acknowledgements (and console pings) on"},
    {"bus", "broker_ack_endpoint", OPT_STRING, CFG(bus_broker_ack_endpoint), 0, 0, 0, "", check_endpoint_or_empty,
     "a node behind a broker: the broker's [broker] node_ack_endpoint, to take acknowledgements sent to the "
     "broker as well; empty = only at ack_endpoint"},

    {"broker", "frontend", OPT_STRING, CFG(broker_frontend), 0, 0, 0, "tcp://127.0.0.1:5558", check_endpoint,
     "`callwatch broker`: endpoint bound for the nodes' publishers ([bus] mode = connect)"},
    {"broker", "backend", OPT_STRING, CFG(broker_backend), 0, 0, 0, "tcp://127.0.0.1:5559", check_endpoint,
     "`callwatch broker`: endpoint bound for subscribers (tap, console, archive, whisper viewers)"},
    {"broker", "sndhwm", OPT_INT, CFG(broker_sndhwm), 1, 10000000, 0, "100000", NULL,
     "messages the broker queues per subscriber (and per node) before dropping"},
    {"broker", "curve_nodes_dir", OPT_STRING, CFG(broker_curve_nodes_dir), 0, 0, 0, "", NULL,
     "`callwatch broker` with [bus] curve = on: directory of the public certificates of nodes allowed to "
     "publish into the frontend"},
    {"broker", "ack_endpoint", OPT_STRING, CFG(broker_ack_endpoint), 0, 0, 0, "", check_endpoint_or_empty,
     "`callwatch broker`: endpoint bound for consoles' and web pages' acknowledgements, routed to the node "
     "owning the call; empty = off (needs node_ack_endpoint)"},
    {"broker", "node_ack_endpoint", OPT_STRING, CFG(broker_node_ack_endpoint), 0, 0, 0, "", check_endpoint_or_empty,
     "`callwatch broker`: endpoint bound for the nodes' acknowledgement links ([bus] broker_ack_endpoint of "
     "each node)"},

    {"metrics", "listen", OPT_STRING, CFG(metrics_listen), 0, 0, OPT_RESTART, "", check_listen,
     "HOST:PORT where `callwatch run` serves GET /metrics and /health over HTTP; empty = off"},

    {"ingest", "max_calls", OPT_INT, CFG(ingest_max_calls), 0, 10000, OPT_RESTART, "128", NULL,
     "PBX calls (AudioSocket and WebSocket together) monitored at once; a stream beyond it is refused with the "
     "reason, so the PBX or load balancer tries another node; 0 = no cap"},

    {"audiosocket", "listen", OPT_STRING, CFG(audiosocket_listen), 0, 0, OPT_ARGV, "", check_listen,
     "host:port to accept Asterisk AudioSocket connections on (calls from the PBX); empty = off"},
    {"audiosocket", "max_connections", OPT_INT, CFG(audiosocket_max_connections), 1, 10000, 0, "256", NULL,
     "legs connected at once (two per call); further connections are refused"},
    {"audiosocket", "first_frame_timeout_ms", OPT_INT, CFG(audiosocket_first_frame_timeout_ms), 100, 60000, 0,
     "5000", NULL, "ms a new connection has to send its UUID before it is closed"},
    {"audiosocket", "idle_timeout_ms", OPT_INT, CFG(audiosocket_idle_timeout_ms), 100, 600000, 0, "10000", NULL,
     "ms without any data after which a leg is closed"},
    {"audiosocket", "pair_timeout_ms", OPT_INT, CFG(audiosocket_pair_timeout_ms), 0, 60000, 0, "2000", NULL,
     "ms the first leg of a call waits for the other before the call starts with one leg"},
    {"audiosocket", "max_frame_bytes", OPT_INT, CFG(audiosocket_max_frame_bytes), 16, 65535, 0, "4096", NULL,
     "largest frame payload accepted in bytes; a longer one closes the connection"},

    {"websocket", "listen", OPT_STRING, CFG(websocket_listen), 0, 0, OPT_ARGV, "", check_listen,
     "host:port to accept WebSocket media streams on (paths /freeswitch, /twilio, /audiohook); empty = off"},
    {"websocket", "max_connections", OPT_INT, CFG(websocket_max_connections), 1, 10000, 0, "128", NULL,
     "streams (one call each) open at once; further handshakes are refused"},
    {"websocket", "first_message_timeout_ms", OPT_INT, CFG(websocket_first_message_timeout_ms), 100, 60000, 0,
     "5000", NULL, "ms a new stream has to send its metadata (FreeSWITCH metadata, Twilio start, AudioHook open)"},
    {"websocket", "idle_timeout_ms", OPT_INT, CFG(websocket_idle_timeout_ms), 100, 600000, 0, "10000", NULL,
     "ms without any message after which a stream is closed"},
    {"websocket", "max_message_bytes", OPT_INT, CFG(websocket_max_message_bytes), 1024, 16777216, 0, "65536", NULL,
     "largest WebSocket message accepted in bytes; a longer one closes the stream"},
    {"websocket", "tls_cert", OPT_STRING, CFG(websocket_tls_cert), 0, 0, OPT_RESTART, "", NULL,
     "PEM certificate (chain) file: the listener serves wss:// (TLS) instead of ws://; empty = plain"},
    {"websocket", "tls_key", OPT_STRING, CFG(websocket_tls_key), 0, 0, OPT_RESTART, "", NULL,
     "PEM private key file of tls_cert (keep it 0600)"},

    {"redact", "min_digits", OPT_INT, CFG(redact_min_digits), 2, 64, 0, "4", NULL,
     "runs of at least this many spoken digits are masked in transcripts and evidence"},
    {"redact", "words", OPT_STRING, CFG(redact_words), 0, 0, OPT_MUST_FILE | OPT_IN_MODELS, "redact-en.json", NULL,
     "digit words of the recognition language (JSON); a relative path is taken from the models directory"},
    {"redact", "patterns", OPT_STRING, CFG(redact_patterns), 0, 0, OPT_IN_MODELS, "redact-patterns.txt", NULL,
     "POSIX extended regexes, one per line, of words to mask; empty = none; relative = in the models directory"},

    {"archive", "path", OPT_STRING, CFG(archive_path), 0, 0, OPT_ARGV, "", NULL,
     "SQLite file `callwatch run` archives every event in (created 0600); \"\" = no archive"},
    {"archive", "url", OPT_STRING, CFG(archive_url), 0, 0, OPT_ARGV | OPT_SECRET, "", check_archive_url,
     "PostgreSQL archive instead of the SQLite path, shared by many nodes (postgresql://USER:PASSWORD@HOST:PORT/DB), "
     "or a central `callwatch archiver` (tcp://HOST:PORT)"},
    {"archive", "retention_days", OPT_INT, CFG(archive_retention_days), 0, 36500, 0, "90", NULL,
     "days archived calls are kept (checked at start and hourly); 0 = keep for ever"},
    {"archive", "commit_timeout_ms", OPT_INT, CFG(archive_commit_timeout_ms), 1, 600000, 0, "1000", NULL,
     "ms an event waits for its archive commit before it is published anyway (logged loudly)"},
    {"archive", "wellbeing", OPT_STRING, CFG(archive_wellbeing), 0, 0, OPT_MUST_FILE | OPT_IN_MODELS,
     "wellbeing.json", NULL, "thresholds of the flat-affect drift in `callwatch qa shift` (JSON)"},

    {"whisper", "playbook", OPT_STRING, CFG(whisper_playbook), 0, 0, OPT_MUST_FILE | OPT_IN_MODELS,
     "playbook-en.json", NULL, "agent prompts per alert kind (JSON; its \"lang\" is the prompts' language)"},
    {"whisper", "min_interval_s", OPT_DOUBLE, CFG(whisper_min_interval_s), 0, 3600, 0, "10", NULL,
     "seconds an agent gets no new whisper after one, unless the alert is critical, of a compliance kind, of a "
     "higher-priority kind or more severe"},
    {"whisper", "repeat_window_s", OPT_DOUBLE, CFG(whisper_repeat_window_s), 0, 86400, 0, "300", NULL,
     "seconds before the same prompt may be whispered to the same agent again"},

    {"web", "listen", OPT_STRING, CFG(web_listen), 0, 0, 0, "127.0.0.1:8088", check_listen,
     "HOST:PORT where `callwatch web` serves the supervisors' pages (keep it on localhost without TLS)"},
    {"web", "users", OPT_STRING, CFG(web_users), 0, 0, 0, "", NULL,
     "users file of `callwatch user add`: web logins; the daemon then takes acks only from its supervisors "
     "(empty: acks unverified)"},
    {"web", "db", OPT_STRING, CFG(web_db), 0, 0, 0, "", NULL,
     "`callwatch web`: archive read for ended calls and QA pages (SQLite file or postgresql:// URL); \"\" = "
     "[archive] url if set, else live calls only"},
    {"web", "assets", OPT_STRING, CFG(web_assets), 0, 0, OPT_MUST_DIR | OPT_IN_MODELS, "web", NULL,
     "directory of the web pages (HTML, CSS, JS); relative = in the models directory"},
    {"web", "ended_linger_s", OPT_DOUBLE, CFG(web_ended_linger_s), 0, 86400, 0, "120", NULL,
     "seconds an ended call stays (greyed) on the wallboard"},
    {"web", "session_idle_s", OPT_INT, CFG(web_session_idle_s), 60, 604800, 0, "28800", NULL,
     "seconds of inactivity after which a web session ends and the user must log in again"},
    {"web", "tls_cert", OPT_STRING, CFG(web_tls_cert), 0, 0, 0, "", NULL,
     "PEM certificate for HTTPS (with tls_key); \"\" = plain HTTP"},
    {"web", "tls_key", OPT_STRING, CFG(web_tls_key), 0, 0, 0, "", NULL,
     "PEM private key of tls_cert"},

    {"console", "keep_ended_s", OPT_DOUBLE, CFG(console_keep_ended_s), 0, 86400, 0, "300", NULL,
     "seconds an ended call stays on the console (greyed, below live calls) with its transcript"},

    {LINE_SECTION, "device", OPT_STRING, LINE(device), 0, 0, 0, "", NULL,
     "PortAudio device carrying both legs: index or name substring"},
    {LINE_SECTION, "agent_device", OPT_STRING, LINE(agent_device), 0, 0, 0, "", NULL,
     "mono device of the agent leg (with customer_device, instead of device)"},
    {LINE_SECTION, "customer_device", OPT_STRING, LINE(customer_device), 0, 0, 0, "", NULL,
     "mono device of the customer leg (with agent_device)"},
    {LINE_SECTION, "file", OPT_STRING, LINE(file), 0, 0, 0, "", NULL,
     "audio file replayed in real time instead of a device"},
    {LINE_SECTION, "agent_channel", OPT_INT, LINE(agent_channel), 0, 63, 0, "0", NULL,
     "channel of device or file carrying the agent"},
    {LINE_SECTION, "customer_channel", OPT_INT, LINE(customer_channel), 0, 63, 0, "1", NULL,
     "channel of device or file carrying the customer"},
    {LINE_SECTION, "sample_rate", OPT_INT, LINE(sample_rate), 8000, 192000, OPT_ZERO_OK, "0", NULL,
     "Hz to open the device at; 0 = the device's native rate"},
    {LINE_SECTION, "agent_id", OPT_STRING, LINE(agent_id), 0, 0, 0, NULL, NULL,
     "who is on the agent leg, copied into every event; default = the line name"},
    {LINE_SECTION, "team", OPT_STRING, LINE(team), 0, 0, 0, "", NULL,
     "team the agent belongs to, in call_start (the console filters by it); \"\" = none"},
    {LINE_SECTION, "asr_mode", OPT_STRING, LINE(asr_mode), 0, 0, 0, "", check_line_asr_mode,
     "full or cue for this line's calls; empty = [asr] mode"},
};

#define N_OPTIONS (sizeof options / sizeof options[0])

/* Options whose later checks (model loading at start) name where they were
 * set: the char[CW_AT_MAX] field that receives "file:line". */
static const struct {
    size_t offset, at_offset;
} where_set[] = {
    {offsetof(cw_config_t, asr_model_8k), offsetof(cw_config_t, asr_model_8k_at)},
};

/* The "file:line" field of option o in base, or NULL if it has none. */
static char *where_field(const opt_t *o, const void *base)
{
    if (strcmp(o->section, LINE_SECTION) == 0)
        return NULL;
    for (size_t i = 0; i < sizeof where_set / sizeof where_set[0]; i++)
        if (where_set[i].offset == o->offset)
            return (char *)base + where_set[i].at_offset;
    return NULL;
}

/* Where a value came from, for messages: "site.ini:14" or "--set". */
typedef struct loc {
    const char *origin;
    int lineno; /* 0 when not from a file */
} loc_t;

/* The section options currently go to. */
typedef struct scope {
    const char *section;    /* table section: "vad", LINE_SECTION */
    char label[sizeof LINE_SECTION + LABEL_MAX]; /* as shown in messages: "vad", "line desk1" */
    void *base;             /* the cw_config_t, or the cw_line_config_t */
} scope_t;

/* One parse of a file or string. */
typedef struct parse {
    cw_config_t *cfg;
    cw_error_t *err;
    const char *origin;
    int status;             /* first error; the reader stops once set */

    FILE *fp;               /* either a file ... */
    char *buf;              /*   (its getline buffer) */
    size_t cap;
    int read_errno;
    const char *text;       /* ... or a string */
    size_t pos;

    int lineno;             /* of the line last handed to inih */
    bool want_handler;      /* that line should have been an option ... */
    bool handled;           /* ... and inih did pass it to on_option */
    char quote[QUOTE_MAX];  /* its text, for a syntax error */

    bool in_section;
    scope_t scope;
    bool seen[CW_MAX_LINES]; /* lines declared by this source: a second [line X] is a mistake */
} parse_t;

static const char *loc_text(const loc_t *at, char *buf, size_t size)
{
    if (at->lineno > 0)
        snprintf(buf, size, "%s:%d", at->origin, at->lineno);
    else
        snprintf(buf, size, "%s", at->origin);
    return buf;
}

/* ---- table lookups ------------------------------------------------------ */

static const opt_t *find_option(const char *section, const char *key)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].section, section) == 0 && strcmp(options[i].key, key) == 0)
            return &options[i];
    return NULL;
}

/* Whether `section` names a section of the table other than LINE_SECTION;
 * returns the table's own copy of the name. */
static const char *find_global_section(const char *section)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (strcmp(options[i].section, LINE_SECTION) != 0 && strcmp(options[i].section, section) == 0)
            return options[i].section;
    return NULL;
}

/* Options of one section are contiguous in the table, so a section starts
 * wherever the previous row had another one. */
static bool starts_section(size_t i)
{
    return i == 0 || strcmp(options[i - 1].section, options[i].section) != 0;
}

/* Edit distance counting an insertion, deletion, substitution or swap of
 * two neighbours as one edit ("vda" is one from "vad"), case-insensitively;
 * SIZE_MAX for strings too long to be worth it. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > SUGGEST_MAX_LEN || lb > SUGGEST_MAX_LEN)
        return SIZE_MAX;
    size_t rows[3][SUGGEST_MAX_LEN + 1]; /* i-2, i-1, i */
    size_t *before = rows[0], *prev = rows[1], *cur = rows[2];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        int ca = tolower((unsigned char)a[i - 1]);
        for (size_t j = 1; j <= lb; j++) {
            int cb = tolower((unsigned char)b[j - 1]);
            size_t best = prev[j - 1] + (ca != cb);
            if (prev[j] + 1 < best)
                best = prev[j] + 1;
            if (cur[j - 1] + 1 < best)
                best = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
                tolower((unsigned char)a[i - 2]) == cb && before[j - 2] + 1 < best)
                best = before[j - 2] + 1;
            cur[j] = best;
        }
        size_t *t = before;
        before = prev;
        prev = cur;
        cur = t;
    }
    return prev[lb];
}

/* Minimum length of a typed name that may be the start of a real one
 * ("hangover" for "hangover_ms"). */
#define SUGGEST_MIN_PREFIX 3

/* How far `typed` is from `name` for suggestions: an abbreviation counts as
 * one edit. */
static size_t typo_distance(const char *typed, const char *name)
{
    size_t n = strlen(typed);
    if (n >= SUGGEST_MIN_PREFIX && strncmp(name, typed, n) == 0)
        return 1;
    return edit_distance(typed, name);
}

/* A typo is close: about one edit per three characters, at least one. */
static bool close_enough(const char *typed, size_t distance)
{
    size_t allowed = strlen(typed) / 3;
    return distance <= (allowed ? allowed : 1);
}

static const char *suggest_key(const char *section, const char *key)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strcmp(options[i].section, section) != 0)
            continue;
        size_t d = typo_distance(key, options[i].key);
        if (d < best_d) {
            best_d = d;
            best = options[i].key;
        }
    }
    return best && close_enough(key, best_d) ? best : NULL;
}

static const char *suggest_section(const char *name)
{
    const char *best = NULL;
    size_t best_d = SIZE_MAX;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (!starts_section(i))
            continue;
        size_t d = typo_distance(name, options[i].section);
        if (d < best_d) {
            best_d = d;
            best = options[i].section;
        }
    }
    return best && close_enough(name, best_d) ? best : NULL;
}

/* "[models], [asr], ..., [line NAME]" */
static void list_sections(char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_OPTIONS && used < size; i++) {
        if (!starts_section(i))
            continue;
        bool line = strcmp(options[i].section, LINE_SECTION) == 0;
        int n = snprintf(buf + used, size - used, "%s[%s%s]", used ? ", " : "", options[i].section,
                         line ? " NAME" : "");
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* "hmm, dict, lm" */
static void list_keys(const char *section, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < N_OPTIONS && used < size; i++) {
        if (strcmp(options[i].section, section) != 0)
            continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? ", " : "", options[i].key);
        if (n < 0)
            break;
        used += (size_t)n;
    }
}

/* ---- values ---------------------------------------------------------------- */

static const char *check_endpoint(const char *value)
{
    static const char *const schemes[] = {"tcp://", "ipc://", "inproc://"};
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t n = strlen(schemes[i]);
        if (strncmp(value, schemes[i], n) == 0)
            return value[n] ? NULL : "nothing after the transport";
    }
    return "must start with tcp://, ipc:// or inproc://";
}

static const char *check_endpoint_or_empty(const char *value)
{
    return value[0] ? check_endpoint(value) : NULL;
}

static const char *check_archive_url(const char *value)
{
    if (!value[0] || strncmp(value, "postgresql://", 13) == 0 || strncmp(value, "postgres://", 11) == 0 ||
        strncmp(value, "tcp://", 6) == 0 || strncmp(value, "ipc://", 6) == 0)
        return NULL;
    return "must start with postgresql:// (a database) or tcp:// (a `callwatch archiver`), or be empty for the"
           " SQLite path";
}

static const char *check_asr_mode(const char *value)
{
    return strcmp(value, "full") == 0 || strcmp(value, "cue") == 0 ? NULL : "must be full or cue";
}

static const char *check_line_asr_mode(const char *value)
{
    return value[0] == '\0' ? NULL : check_asr_mode(value);
}

static const char *check_bus_mode(const char *value)
{
    return strcmp(value, "bind") == 0 || strcmp(value, "connect") == 0 ? NULL : "must be bind or connect";
}

/* A node name goes into call ids and topics, so it keeps to characters that
 * need no quoting anywhere. */
static const char *check_node(const char *value)
{
    for (const char *c = value; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("-_.", *c))
            return "may only hold letters, digits, '-', '_' and '.'";
    return NULL;
}

/* "HOST:PORT" or "[IPV6]:PORT"; the host is resolved when the server starts. */
static const char *check_listen(const char *value)
{
    if (!*value)
        return NULL;
    const char *colon = strrchr(value, ':');
    if (!colon || colon == value)
        return "expected HOST:PORT (e.g. 127.0.0.1:9464), or empty for off";
    char *end = NULL;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || errno || port < 0 || port > 65535)
        return "port must be 0..65535 (0 = any free port)";
    if (value[0] == '[' && colon[-1] != ']')
        return "an IPv6 host goes in brackets: [::1]:9464";
    return NULL;
}

static const char *const switch_on[] = {"on", "true", "yes", "1"};
static const char *const switch_off[] = {"off", "false", "no", "0"};

static const char *check_word_kinds(const char *value)
{
    static const char *const kinds[] = {"anger", "despair", "escalation"};
    for (const char *s = value; *s;) {
        size_t n = strcspn(s, ",");
        int known = 0;
        for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
            known |= n == strlen(kinds[i]) && strncmp(s, kinds[i], n) == 0;
        if (!known)
            return "must be word-cue kinds separated by commas: anger, despair, escalation (or empty)";
        s += n + (s[n] == ',');
    }
    return NULL;
}

static const char *check_switch(const char *value)
{
    for (size_t i = 0; i < sizeof switch_on / sizeof switch_on[0]; i++)
        if (strcmp(value, switch_on[i]) == 0 || strcmp(value, switch_off[i]) == 0)
            return NULL;
    return "must be on or off (true/false, yes/no, 1/0)";
}

bool cw_config_switch_on(const char *value)
{
    for (size_t i = 0; value && i < sizeof switch_on / sizeof switch_on[0]; i++)
        if (strcmp(value, switch_on[i]) == 0)
            return true;
    return false;
}

/* "10..10000", "0 or 8000..192000" */
static void format_range(const opt_t *o, char *buf, size_t size)
{
    snprintf(buf, size, "%s%.15g..%.15g", o->flags & OPT_ZERO_OK ? "0 or " : "", o->min, o->max);
}

/* Shortest text that reads back as exactly `v`, so a dump round-trips. */
static void format_double(double v, char *buf, size_t size)
{
    /* DBL_DIG digits first: "0.1" and "30" rather than "1e-01" and "3e+01". */
    for (int prec = DBL_DIG; prec <= DBL_DECIMAL_DIG; prec++) {
        snprintf(buf, size, "%.*g", prec, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}

static const char *range_error(const opt_t *o, double v, char *why, size_t why_size)
{
    if ((v >= o->min && v <= o->max) || (v == 0 && (o->flags & OPT_ZERO_OK)))
        return NULL;
    char range[64];
    format_range(o, range, sizeof range);
    snprintf(why, why_size, "out of range %s", range);
    return why;
}

/* A string must read back from an INI file as itself: inih trims it and cuts
 * it at a ';' that follows whitespace. */
static const char *string_error(const opt_t *o, const char *value, char *why, size_t why_size)
{
    size_t len = strlen(value);
    if (len >= o->size) {
        snprintf(why, why_size, "longer than %zu characters", o->size - 1);
        return why;
    }
    /* `callwatch config` writes it back as "key = value", which must fit
     * the longest line a config file may hold, or the dump would not load. */
    size_t line_max = INI_MAX_LINE - 2;
    if (strlen(o->key) + 3 + len > line_max) {
        snprintf(why, why_size, "longer than %zu characters (\"%s = value\" must fit a %zu-character line)",
                 line_max - strlen(o->key) - 3, o->key, line_max);
        return why;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (iscntrl(c))
            return "contains a control character";
        if (c == ';' && (i == 0 || isspace((unsigned char)value[i - 1])))
            return "contains ';' after a space, which INI reads as a comment";
    }
    if (len && (isspace((unsigned char)value[0]) || isspace((unsigned char)value[len - 1])))
        return "has leading or trailing spaces";
    return o->check ? o->check(value) : NULL;
}

/* Parses `value` for option `o` and stores it into `base` (a cw_config_t or
 * a cw_line_config_t). Returns NULL, or why the value was refused (then
 * nothing is stored); the reason may live in `why`. */
static const char *store_value(const opt_t *o, void *base, const char *value, char *why, size_t why_size)
{
    char *field = (char *)base + o->offset;
    char *end = NULL;
    switch (o->type) {
    case OPT_INT: {
        if (!*value)
            return "empty, expected an integer";
        errno = 0;
        long v = strtol(value, &end, 10);
        if (end == value || *end)
            return "not an integer";
        if (errno == ERANGE || v < INT_MIN || v > INT_MAX) {
            v = v < 0 ? LONG_MIN : LONG_MAX; /* reported as out of range below */
        }
        const char *bad = range_error(o, (double)v, why, why_size);
        if (bad)
            return bad;
        int iv = (int)v;
        memcpy(field, &iv, sizeof iv);
        return NULL;
    }
    case OPT_DOUBLE: {
        if (!*value)
            return "empty, expected a number";
        errno = 0;
        double v = strtod(value, &end);
        if (end == value || *end)
            return "not a number";
        if (errno == ERANGE && isinf(v))
            v = v < 0 ? -HUGE_VAL : HUGE_VAL;
        else if (!isfinite(v))
            return "not a finite number";
        const char *bad = range_error(o, v, why, why_size);
        if (bad)
            return bad;
        memcpy(field, &v, sizeof v);
        return NULL;
    }
    case OPT_STRING: {
        const char *bad = string_error(o, value, why, why_size);
        if (bad)
            return bad;
        /* Zero the whole buffer so equal configs are equal bytes. */
        memset(field, 0, o->size);
        memcpy(field, value, strlen(value));
        return NULL;
    }
    }
    return "unsupported option type";
}

/* Stores the defaults of every option of `section` kind (global or line). */
static void store_defaults(bool line_options, void *base, const char *line_name)
{
    char why[128];
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_t *o = &options[i];
        if ((strcmp(o->section, LINE_SECTION) == 0) != line_options)
            continue;
        assert(o->type != OPT_INT || o->size == sizeof(int));
        assert(o->type != OPT_DOUBLE || o->size == sizeof(double));
        const char *bad = store_value(o, base, o->def ? o->def : line_name, why, sizeof why);
        assert(!bad && "a default in options[] is invalid");
        (void)bad;
    }
}

/* Applies "key = value" to the scope; the error names place, section and key. */
static int apply_option(const scope_t *sc, const char *key, const char *value, const loc_t *at, cw_error_t *err)
{
    char where[CW_PATH_MAX + 16];
    loc_text(at, where, sizeof where);
    const opt_t *o = find_option(sc->section, key);
    if (!o) {
        if (!*key)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: [%s] '= %s' has no option name", where, sc->label, value);
        const char *hint = suggest_key(sc->section, key);
        if (hint)
            return cw_error_set(err, CW_ERR_NOT_FOUND, "%s: [%s] unknown option '%s' (did you mean '%s'?)", where,
                                sc->label, key, hint);
        char keys[512];
        list_keys(sc->section, keys, sizeof keys);
        return cw_error_set(err, CW_ERR_NOT_FOUND, "%s: [%s] unknown option '%s' (options: %s)", where, sc->label,
                            key, keys);
    }
    char why[128];
    const char *bad = store_value(o, sc->base, value, why, sizeof why);
    if (bad && (o->flags & OPT_SECRET))
        return cw_error_set(err, CW_ERR_INVALID, "%s: [%s] %s (value not shown, it may hold a password): %s", where,
                            sc->label, key, bad);
    if (bad)
        return cw_error_set(err, CW_ERR_INVALID, "%s: [%s] %s = '%s': %s", where, sc->label, key, value, bad);
    char *at_field = where_field(o, sc->base);
    if (at_field) /* unset = nothing to point at, so equal configs stay equal bytes */
        snprintf(at_field, CW_AT_MAX, "%s", value[0] ? where : "");
    return CW_OK;
}

/* ---- sections --------------------------------------------------------------- */

static cw_line_config_t *find_line(cw_config_t *cfg, const char *name)
{
    for (int i = 0; i < cfg->n_lines; i++)
        if (strcmp(cfg->lines[i].name, name) == 0)
            return &cfg->lines[i];
    return NULL;
}

static const char *line_name_error(const char *name)
{
    if (!*name)
        return "needs a name, e.g. [line desk1]";
    if (strlen(name) >= CW_NAME_MAX)
        return "name is too long";
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(LINE_NAME_PUNCT, *p))
            return "name may only hold letters, digits and " LINE_NAME_PUNCT;
    return NULL;
}

/* Makes `header` ("vad", "line desk1", surrounding spaces allowed) the
 * current scope, creating the line if it is new. `seen` (NULL: no check)
 * marks lines already declared by the same source. */
static int open_section(cw_config_t *cfg, const char *header, const loc_t *at, bool *seen, scope_t *sc,
                        cw_error_t *err)
{
    char where[CW_PATH_MAX + 16];
    loc_text(at, where, sizeof where);
    char text[LABEL_MAX];
    while (isspace((unsigned char)*header))
        header++;
    size_t len = strlen(header);
    while (len && isspace((unsigned char)header[len - 1]))
        len--;
    if (len >= sizeof text)
        return cw_error_set(err, CW_ERR_INVALID, "%s: section name [%.40s...] is too long", where, header);
    memcpy(text, header, len);
    text[len] = '\0';

    size_t kw = strlen(LINE_SECTION);
    if (strncmp(text, LINE_SECTION, kw) == 0 && (text[kw] == '\0' || isspace((unsigned char)text[kw]))) {
        const char *name = text + kw;
        while (isspace((unsigned char)*name))
            name++;
        const char *bad = line_name_error(name);
        if (bad)
            return cw_error_set(err, CW_ERR_INVALID, "%s: [%s]: line %s", where, text, bad);
        cw_line_config_t *line = find_line(cfg, name);
        if (line && seen && seen[line - cfg->lines])
            return cw_error_set(err, CW_ERR_INVALID, "%s: [line %s] is defined twice (first at line %d)", where,
                                name, line->config_lineno);
        if (!line) {
            if (cfg->n_lines >= CW_MAX_LINES)
                return cw_error_set(err, CW_ERR_INVALID, "%s: [line %s]: too many [line] sections (at most %d)",
                                    where, name, CW_MAX_LINES);
            line = &cfg->lines[cfg->n_lines++];
            memset(line, 0, sizeof *line);
            memcpy(line->name, name, strlen(name));
            store_defaults(true, line, name);
        }
        line->config_lineno = at->lineno;
        if (seen)
            seen[line - cfg->lines] = true;
        sc->section = LINE_SECTION;
        sc->base = line;
        snprintf(sc->label, sizeof sc->label, "%s %s", LINE_SECTION, name);
        return CW_OK;
    }

    const char *section = find_global_section(text);
    if (!section) {
        char valid[256];
        list_sections(valid, sizeof valid);
        const char *hint = suggest_section(text);
        if (hint)
            return cw_error_set(err, CW_ERR_NOT_FOUND,
                                "%s: unknown section [%s] (did you mean [%s]?); valid sections: %s", where, text,
                                hint, valid);
        return cw_error_set(err, CW_ERR_NOT_FOUND, "%s: unknown section [%s]; valid sections: %s", where, text,
                            valid);
    }
    sc->section = section;
    sc->base = cfg;
    snprintf(sc->label, sizeof sc->label, "%s", section);
    return CW_OK;
}

/* ---- the inih glue ---------------------------------------------------------- */

static void quote_line(parse_t *p, const char *line, size_t len)
{
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        len--;
    if (len >= sizeof p->quote)
        len = sizeof p->quote - 1;
    memcpy(p->quote, line, len);
    p->quote[len] = '\0';
}

/* Next raw line (with its '\n', if any) of the file or string; false at the
 * end or on a read error (read_errno then says which). */
static bool next_raw_line(parse_t *p, const char **line, size_t *len)
{
    if (p->fp) {
        errno = 0;
        ssize_t n = getline(&p->buf, &p->cap, p->fp);
        if (n < 0) {
            if (ferror(p->fp))
                p->read_errno = errno ? errno : EIO;
            return false;
        }
        *line = p->buf;
        *len = (size_t)n;
        return true;
    }
    const char *s = p->text + p->pos;
    if (!*s)
        return false;
    const char *nl = strchr(s, '\n');
    *len = nl ? (size_t)(nl - s) + 1 : strlen(s);
    *line = s;
    p->pos += *len;
    return true;
}

/* The inih reader: fgets semantics, one line per call, counting lines. It
 * drops leading blanks so that inih never treats an indented option as the
 * continuation of the previous value (multi-line values are not used). */
static char *read_line(char *str, int num, void *stream)
{
    parse_t *p = stream;
    if (p->status)
        return NULL;
    if (p->want_handler && !p->handled) {
        /* inih saw no '=' (or ':') on the previous line. */
        p->status = cw_error_set(p->err, CW_ERR_FORMAT,
                                 "%s:%d: syntax error: '%s' is not '[section]', 'option = value' or a comment",
                                 p->origin, p->lineno, p->quote);
        return NULL;
    }
    const char *line;
    size_t len;
    if (!next_raw_line(p, &line, &len))
        return NULL;
    p->lineno++;
    p->want_handler = p->handled = false;

    static const char bom[] = "\xEF\xBB\xBF";
    if (p->lineno == 1 && len >= sizeof bom - 1 && memcmp(line, bom, sizeof bom - 1) == 0) {
        line += sizeof bom - 1;
        len -= sizeof bom - 1;
    }
    while (len && (*line == ' ' || *line == '\t')) {
        line++;
        len--;
    }
    /* Longer lines would reach inih in pieces and be misread. */
    if (num < 2 || len > (size_t)num - 1) {
        p->status = cw_error_set(p->err, CW_ERR_FORMAT, "%s:%d: line is longer than %d characters", p->origin,
                                 p->lineno, num - 2);
        return NULL;
    }
    memcpy(str, line, len);
    str[len] = '\0';

    char c = len ? line[0] : '\0';
    if (c == '\0' || c == '\n' || c == '\r' || c == ';' || c == '#')
        return str;
    if (c == '[') {
        const char *close = memchr(line, ']', len);
        if (!close) {
            quote_line(p, line, len);
            p->status = cw_error_set(p->err, CW_ERR_FORMAT, "%s:%d: syntax error: '%s' has no closing ']'",
                                     p->origin, p->lineno, p->quote);
            return NULL;
        }
        char header[LABEL_MAX + 1];
        size_t hlen = (size_t)(close - line) - 1;
        if (hlen >= sizeof header)
            hlen = sizeof header - 1; /* open_section reports it as too long */
        memcpy(header, line + 1, hlen);
        header[hlen] = '\0';
        loc_t at = {p->origin, p->lineno};
        p->status = open_section(p->cfg, header, &at, p->seen, &p->scope, p->err);
        if (p->status)
            return NULL;
        p->in_section = true;
        return str;
    }
    p->want_handler = true;
    quote_line(p, line, len);
    return str;
}

static int on_option(void *user, const char *section, const char *name, const char *value)
{
    parse_t *p = user;
    (void)section; /* ours is p->scope: inih truncates long section names */
    p->handled = true;
    if (p->status)
        return 0;
    if (!p->in_section) {
        char valid[256];
        list_sections(valid, sizeof valid);
        p->status = cw_error_set(p->err, CW_ERR_FORMAT, "%s:%d: option '%s' comes before any section (%s)",
                                 p->origin, p->lineno, name, valid);
        return 0;
    }
    loc_t at = {p->origin, p->lineno};
    p->status = apply_option(&p->scope, name, value ? value : "", &at, p->err);
    return p->status == CW_OK;
}

static int parse(parse_t *p)
{
    int rc = ini_parse_stream(read_line, p, on_option, p);
    free(p->buf);
    p->buf = NULL;
    if (p->status)
        return p->status;
    if (p->read_errno)
        return cw_error_set(p->err, CW_ERR_IO, "cannot read config '%s': %s", p->origin, strerror(p->read_errno));
    if (rc == -2)
        return cw_error_set(p->err, CW_ERR_NOMEM, "%s: out of memory", p->origin);
    if (rc != 0) /* read_line should have caught it; keep inih's word as a backstop */
        return cw_error_set(p->err, CW_ERR_FORMAT, "%s:%d: syntax error", p->origin, rc);
    return CW_OK;
}

/* ---- API --------------------------------------------------------------------- */

cw_config_t *cw_config_new(void)
{
    cw_config_t *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    snprintf(cfg->source_path, sizeof cfg->source_path, "(built-in defaults)");
    store_defaults(false, cfg, NULL);
    return cfg;
}

void cw_config_destroy(cw_config_t **cfg)
{
    if (!cfg)
        return;
    free(*cfg);
    *cfg = NULL;
}

int cw_config_load(cw_config_t *cfg, const char *path, cw_error_t *err)
{
    if (!cfg || !path)
        return cw_error_set(err, CW_ERR_INVALID, "cw_config_load: no config or path");
    FILE *fp = fopen(path, "r");
    if (!fp)
        return cw_error_set(err, CW_ERR_IO, "cannot read config '%s': %s", path, strerror(errno));
    snprintf(cfg->source_path, sizeof cfg->source_path, "%s", path);
    parse_t *p = calloc(1, sizeof *p);
    if (!p) {
        fclose(fp);
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory reading config '%s'", path);
    }
    p->cfg = cfg;
    p->err = err;
    p->origin = path;
    p->fp = fp;
    int rc = parse(p);
    fclose(fp);
    free(p);
    return rc;
}

int cw_config_load_string(cw_config_t *cfg, const char *text, const char *origin, cw_error_t *err)
{
    if (!cfg || !text)
        return cw_error_set(err, CW_ERR_INVALID, "cw_config_load_string: no config or text");
    if (!origin)
        origin = "(string)";
    snprintf(cfg->source_path, sizeof cfg->source_path, "%s", origin);
    parse_t *p = calloc(1, sizeof *p);
    if (!p)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory reading config '%s'", origin);
    p->cfg = cfg;
    p->err = err;
    p->origin = origin;
    p->text = text;
    int rc = parse(p);
    free(p);
    return rc;
}

int cw_config_keep_running(cw_config_t *next, const cw_config_t *running, char *changed, size_t cap)
{
    int n_changed = 0;
    size_t used = 0;
    if (changed && cap)
        changed[0] = '\0';
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        const opt_t *o = &options[i];
        if (strcmp(o->section, LINE_SECTION) == 0 || !(o->flags & (OPT_RESTART | OPT_ARGV)))
            continue;
        char *to = (char *)next + o->offset;
        const char *from = (const char *)running + o->offset;
        if ((o->flags & OPT_RESTART) && memcmp(to, from, o->size) != 0) {
            if (changed && used < cap)
                used += (size_t)snprintf(changed + used, cap - used, "%s[%s] %s", n_changed ? ", " : "", o->section,
                                         o->key);
            n_changed++;
        }
        memcpy(to, from, o->size);
    }
    return n_changed;
}

int cw_config_set(cw_config_t *cfg, const char *section, const char *key, const char *value, const char *origin,
                  cw_error_t *err)
{
    if (!cfg || !section || !key || !value)
        return cw_error_set(err, CW_ERR_INVALID, "cw_config_set: missing section, key or value");
    loc_t at = {origin ? origin : "--set", 0};
    scope_t sc;
    int rc = open_section(cfg, section, &at, NULL, &sc, err);
    if (rc)
        return rc;
    return apply_option(&sc, key, value, &at, err);
}

/* Model paths: the table says which must be a directory or a file. */
static int validate_path(const opt_t *o, const char *path, cw_error_t *err)
{
    struct stat st;
    bool ok;
    const char *what;
    if (o->flags & OPT_MUST_DIR) {
        what = "a directory";
        ok = stat(path, &st) == 0 && S_ISDIR(st.st_mode) && access(path, R_OK | X_OK) == 0;
    } else {
        what = "a readable file";
        ok = stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
    }
    if (ok)
        return CW_OK;
    return cw_error_set(err, CW_ERR_NOT_FOUND, "[%s] %s: '%s' is not %s (install pocketsphinx-en-us or set %s)",
                        o->section, o->key, path, what, o->key);
}

const char *cw_config_acoustic_missing(const char *dir)
{
    static const char *const needed[] = {"mdef", "feat.params", "means", "variances", "transition_matrices",
                                         "noisedict"};
    static const char *const weights[] = {"sendump", "mixture_weights"};
    char path[CW_PATH_MAX + 32];
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, R_OK | X_OK) != 0)
        return "the directory itself";
    for (size_t i = 0; i < sizeof needed / sizeof needed[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, needed[i]);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || access(path, R_OK) != 0)
            return needed[i];
    }
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, weights[i]);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0)
            return NULL;
    }
    return "sendump (or mixture_weights)";
}

/* An optional acoustic model directory: the message names the option, where
 * it was set and the file the directory lacks. */
static int validate_acoustic(const cw_config_t *cfg, const opt_t *o, const char *dir, cw_error_t *err)
{
    if (!dir[0])
        return CW_OK;
    const char *missing = cw_config_acoustic_missing(dir);
    if (!missing)
        return CW_OK;
    const char *at = where_field(o, cfg);
    at = at ? at : "";
    char where[CW_AT_MAX + 2];
    snprintf(where, sizeof where, "%s: ", at[0] ? at : cfg->source_path);
    return cw_error_set(err, CW_ERR_NOT_FOUND,
                        "%s[%s] %s = '%s': not a PocketSphinx acoustic model directory (missing or unreadable: %s)",
                        where, o->section, o->key, dir, missing);
}

static int validate_line(const cw_config_t *cfg, const cw_line_config_t *l, cw_error_t *err)
{
    char where[CW_PATH_MAX + CW_NAME_MAX + 32];
    if (l->config_lineno > 0)
        snprintf(where, sizeof where, "line '%s' (%s:%d)", l->name, cfg->source_path, l->config_lineno);
    else
        snprintf(where, sizeof where, "line '%s'", l->name);

    bool device = l->device[0], file = l->file[0];
    bool agent = l->agent_device[0], customer = l->customer_device[0];
    int kinds = device + file + (agent || customer);
    if (kinds == 0)
        return cw_error_set(err, CW_ERR_INVALID,
                            "%s: no source; set device, agent_device + customer_device, or file", where);
    if (kinds > 1) {
        bool pair = agent || customer;
        char set[96];
        snprintf(set, sizeof set, "%s%s%s%s%s", device ? "device" : "", device && pair ? " and " : "",
                 pair ? "agent/customer_device" : "", file && (device || pair) ? " and " : "", file ? "file" : "");
        return cw_error_set(err, CW_ERR_INVALID,
                            "%s: sets %s; a line takes exactly one kind of source "
                            "(device, agent_device + customer_device, or file)",
                            where, set);
    }
    if (agent != customer)
        return cw_error_set(err, CW_ERR_INVALID, "%s: %s is set but %s is not; a two-device line needs both", where,
                            agent ? "agent_device" : "customer_device", agent ? "customer_device" : "agent_device");
    if ((device || file) && l->agent_channel == l->customer_channel)
        return cw_error_set(err, CW_ERR_INVALID,
                            "%s: agent_channel and customer_channel are both %d; each leg needs its own channel",
                            where, l->agent_channel);
    return CW_OK;
}

int cw_config_validate(const cw_config_t *cfg, cw_error_t *err)
{
    if (!cfg)
        return cw_error_set(err, CW_ERR_INVALID, "cw_config_validate: no config");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_t *o = &options[i];
        if (o->flags & OPT_ACOUSTIC) {
            int rc = validate_acoustic(cfg, o, (const char *)cfg + o->offset, err);
            if (rc)
                return rc;
        }
        if (!(o->flags & (OPT_MUST_DIR | OPT_MUST_FILE)))
            continue;
        char resolved[CW_PATH_MAX];
        const char *value = (const char *)cfg + o->offset;
        if (o->flags & OPT_IN_MODELS)
            value = cw_config_model_path(value, resolved, sizeof resolved);
        int rc = validate_path(o, value, err);
        if (rc)
            return rc;
    }
    for (int i = 0; i < cfg->n_lines; i++) {
        int rc = validate_line(cfg, &cfg->lines[i], err);
        if (rc)
            return rc;
    }
    return CW_OK;
}

static void dump_option(const opt_t *o, const void *base, FILE *out)
{
    const char *field = (const char *)base + o->offset;
    char value[CW_PATH_MAX];
    char range[80] = "";
    switch (o->type) {
    case OPT_INT: {
        int v;
        memcpy(&v, field, sizeof v);
        snprintf(value, sizeof value, "%d", v);
        break;
    }
    case OPT_DOUBLE: {
        double v;
        memcpy(&v, field, sizeof v);
        format_double(v, value, sizeof value);
        break;
    }
    case OPT_STRING:
        snprintf(value, sizeof value, "%s", field);
        break;
    }
    if (o->type != OPT_STRING) {
        char r[64];
        format_range(o, r, sizeof r);
        snprintf(range, sizeof range, " (%s)", r);
    }
    fprintf(out, "# %s%s\n%s =%s%s\n", o->doc, range, o->key, value[0] ? " " : "", value);
}

void cw_config_dump(const cw_config_t *cfg, FILE *out)
{
    fprintf(out, "# callwatch configuration, read from %s\n", cfg->source_path);
    fputs("# Every option with its current value; comments are on lines of their own.\n", out);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_t *o = &options[i];
        if (strcmp(o->section, LINE_SECTION) == 0)
            continue;
        if (starts_section(i))
            fprintf(out, "\n[%s]\n", o->section);
        dump_option(o, cfg, out);
    }
    if (cfg->n_lines == 0)
        fputs("\n# No [line NAME] sections: `callwatch run` captures the default input device.\n", out);
    for (int l = 0; l < cfg->n_lines; l++) {
        fprintf(out, "\n[%s %s]\n", LINE_SECTION, cfg->lines[l].name);
        for (size_t i = 0; i < N_OPTIONS; i++)
            if (strcmp(options[i].section, LINE_SECTION) == 0)
                dump_option(&options[i], &cfg->lines[l], out);
    }
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cw_config_models_dir(char *buf, size_t cap)
{
    const char *env = getenv("CALLWATCH_MODELS");
    if (env && *env) {
        snprintf(buf, cap, "%s", env);
        return buf;
    }
#ifdef CALLWATCH_MODELS_RELDIR
    /* Installed: the models sit at a fixed place relative to the binary, so
     * a prefix copied or moved elsewhere still finds its own. */
    char exe[CW_PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            char dir[2 * CW_PATH_MAX], real[PATH_MAX];
            snprintf(dir, sizeof dir, "%s/%s", exe, CALLWATCH_MODELS_RELDIR);
            if (realpath(dir, real) && is_dir(real) && strlen(real) < cap) {
                snprintf(buf, cap, "%s", real);
                return buf;
            }
        }
    }
#endif
    /* A binary in its build tree: the source tree's models. */
    snprintf(buf, cap, "%s", CALLWATCH_MODELS_DIR);
    return buf;
}

const char *cw_config_model_path(const char *value, char *buf, size_t cap)
{
    if (value[0] == '/') {
        snprintf(buf, cap, "%s", value);
    } else {
        char dir[CW_PATH_MAX];
        snprintf(buf, cap, "%s/%s", cw_config_models_dir(dir, sizeof dir), value);
    }
    return buf;
}

const char *cw_config_default_path(void)
{
    const char *env = getenv("CALLWATCH_CONFIG");
    if (env && *env)
        return env;
    static _Thread_local char path[CW_PATH_MAX + 16];
    char dir[CW_PATH_MAX];
    snprintf(path, sizeof path, "%s/callwatch.ini", cw_config_models_dir(dir, sizeof dir));
    return path;
}

/* Text for roff: a leading '.' or '\'' would read as a request, and '\\'
 * starts an escape. */
static void man_text(const char *s, FILE *out)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", out);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", out);
        else if (*s == '-')
            fputs("\\-", out);
        else
            fputc(*s, out);
    }
}

static void man_option(const opt_t *o, FILE *out)
{
    fputs(".TP\n.B ", out);
    man_text(o->key, out);
    fputs("\n", out);
    man_text(o->doc, out);
    fputs(".\n.br\n", out);
    if (o->type == OPT_STRING) {
        fputs("String; default: ", out);
        if (!o->def)
            fputs("the line's name", out);
        else if (!o->def[0])
            fputs("empty", out);
        else {
            fputs("\\fI", out);
            man_text(o->def, out);
            fputs("\\fR", out);
        }
    } else {
        char range[64];
        format_range(o, range, sizeof range);
        fprintf(out, "%s in ", o->type == OPT_INT ? "Integer" : "Number");
        man_text(range, out);
        fputs("; default: ", out);
        man_text(o->def, out);
    }
    fputc('\n', out);
}

void cw_config_man(FILE *out)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const opt_t *o = &options[i];
        if (starts_section(i)) {
            fputs(".SS ", out);
            if (strcmp(o->section, LINE_SECTION) == 0)
                fputs("[line \\fINAME\\fR] (one section per line, any number)\n", out);
            else
                fprintf(out, "[%s]\n", o->section);
        }
        man_option(o, out);
    }
}
