/* test_config.c - the configuration file: defaults, the shipped ini, every
 * kind of error message, range edges, [line] sections, validation, dump
 * round trip, cw_config_set and CALLWATCH_CONFIG. */
#include "callwatch/config.h"

#include "check.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The test target gets CALLWATCH_MODELS_DIR from callwatch_core; built by
 * hand without it, find models/ next to this file's directory. */
#ifndef CALLWATCH_MODELS_DIR
#define CALLWATCH_MODELS_DIR ""
#endif

static char shipped_path[PATH_MAX];

static void find_shipped(void)
{
    if (CALLWATCH_MODELS_DIR[0]) {
        snprintf(shipped_path, sizeof shipped_path, "%s/callwatch.ini", CALLWATCH_MODELS_DIR);
        return;
    }
    const char *src = getenv("CALLWATCH_SRC");
    if (src) {
        snprintf(shipped_path, sizeof shipped_path, "%s/models/callwatch.ini", src);
        return;
    }
    const char *slash = strrchr(__FILE__, '/');
    int dir_len = slash ? (int)(slash - __FILE__) : 1;
    snprintf(shipped_path, sizeof shipped_path, "%.*s/../models/callwatch.ini", dir_len, slash ? __FILE__ : ".");
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    char *text = NULL;
    size_t cap = 0;
    FILE *mem = open_memstream(&text, &cap);
    int c;
    while ((c = fgetc(f)) != EOF)
        fputc(c, mem);
    fclose(mem);
    fclose(f);
    return text;
}

static char *dump_text(const cw_config_t *cfg)
{
    char *text = NULL;
    size_t cap = 0;
    FILE *mem = open_memstream(&text, &cap);
    cw_config_dump(cfg, mem);
    fclose(mem);
    return text;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* Loads `text` as "site.ini" over the defaults; returns the status, the
 * message in *err. */
static int load_str(const char *text, cw_error_t *err)
{
    cw_config_t *cfg = cw_config_new();
    cw_error_clear(err);
    int rc = cw_config_load_string(cfg, text, "site.ini", err);
    cw_config_destroy(&cfg);
    return rc;
}

/* The error `text` must produce: its code and its whole message. */
#define CHECK_LOAD_ERROR(text, want_code, want_msg)                                                   \
    do {                                                                                              \
        cw_error_t e_;                                                                                \
        int rc_ = load_str(text, &e_);                                                                \
        CHECK(rc_ == (want_code), "code %d (%s), want %d; msg: %s", rc_, cw_status_name(rc_), want_code, \
              e_.msg);                                                                                \
        CHECK(strcmp(e_.msg, want_msg) == 0, "message\n  got:  %s\n  want: %s", e_.msg, want_msg);    \
    } while (0)

/* Same when only parts of the message are fixed (lists of valid names). */
#define CHECK_LOAD_ERROR_HAS(text, want_code, part1, part2)                                           \
    do {                                                                                              \
        cw_error_t e_;                                                                                \
        int rc_ = load_str(text, &e_);                                                                \
        CHECK(rc_ == (want_code), "code %d (%s), want %d; msg: %s", rc_, cw_status_name(rc_), want_code, \
              e_.msg);                                                                                \
        CHECK(strstr(e_.msg, part1) && strstr(e_.msg, part2), "message '%s' lacks '%s' or '%s'", e_.msg, \
              part1, part2);                                                                          \
    } while (0)

static void test_defaults(void)
{
    cw_config_t *cfg = cw_config_new();
    CHECK(cfg != NULL, "cw_config_new");
    if (!cfg)
        return;
    CHECK(strcmp(cfg->source_path, "(built-in defaults)") == 0, "source_path %s", cfg->source_path);
    CHECK(strcmp(cfg->hmm, "/usr/share/pocketsphinx/model/en-us/en-us") == 0, "hmm %s", cfg->hmm);
    CHECK(strcmp(cfg->dict, "/usr/share/pocketsphinx/model/en-us/cmudict-en-us.dict") == 0, "dict %s", cfg->dict);
    CHECK(strcmp(cfg->lm, "/usr/share/pocketsphinx/model/en-us/en-us.lm.bin") == 0, "lm %s", cfg->lm);
    CHECK(cfg->asr_workers == 0, "workers %d", cfg->asr_workers);
    CHECK(cfg->asr_partial_interval_ms == 500, "partial %d", cfg->asr_partial_interval_ms);
    CHECK(cfg->asr_backlog_s == 30, "backlog %g", cfg->asr_backlog_s);
    CHECK(cfg->asr_max_utterance_s == 20, "max_utt %g", cfg->asr_max_utterance_s);
    CHECK(cfg->asr_min_confidence == 0, "min_conf %g", cfg->asr_min_confidence);
    CHECK(cfg->vad_threshold_db == -45, "threshold %g", cfg->vad_threshold_db);
    CHECK(cfg->vad_margin_db == 12, "margin %g", cfg->vad_margin_db);
    CHECK(cfg->vad_onset_ms == 60, "onset %d", cfg->vad_onset_ms);
    CHECK(cfg->vad_hangover_ms == 500, "hangover %d", cfg->vad_hangover_ms);
    CHECK(cfg->vad_preroll_ms == 200, "preroll %d", cfg->vad_preroll_ms);
    CHECK(cfg->capture_frames_per_buffer == 0, "fpb %d", cfg->capture_frames_per_buffer);
    CHECK(cfg->capture_ring_s == 4, "ring %g", cfg->capture_ring_s);
    CHECK(cfg->capture_stall_timeout_ms == 2000, "stall %d", cfg->capture_stall_timeout_ms);
    CHECK(cfg->capture_retry_s == 5, "retry %g", cfg->capture_retry_s);
    CHECK(strcmp(cfg->bus_endpoint, "tcp://127.0.0.1:5556") == 0, "endpoint %s", cfg->bus_endpoint);
    CHECK(cfg->bus_sndhwm == 100000, "sndhwm %d", cfg->bus_sndhwm);
    CHECK(cfg->n_lines == 0, "n_lines %d", cfg->n_lines);
    cw_config_destroy(&cfg);
    CHECK(cfg == NULL, "destroy NULLs");
    cw_config_destroy(&cfg); /* twice is harmless */
    cw_config_destroy(NULL);
}

/* The shipped ini holds every option at its default, documented, and its
 * commented-out examples are valid. */
static void test_shipped_ini(const char *models_dir)
{
    cw_config_t *defaults = cw_config_new();
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    cw_error_clear(&err);
    int rc = cw_config_load(cfg, shipped_path, &err);
    CHECK(rc == CW_OK, "shipped %s: %s", shipped_path, err.msg);
    CHECK(strcmp(cfg->source_path, shipped_path) == 0, "source_path %s", cfg->source_path);
    memcpy(defaults->source_path, cfg->source_path, sizeof cfg->source_path);
    CHECK(memcmp(defaults, cfg, sizeof *cfg) == 0, "shipped ini differs from cw_config_new()");

    /* Every "key = value" cw_config_dump writes for the defaults appears
     * verbatim in the shipped file: no option is missing from it. */
    char *text = read_text(shipped_path);
    char *dump = dump_text(defaults);
    CHECK(text && dump, "read shipped / dump");
    if (text && dump) {
        int options = 0;
        for (char *line = strtok(dump, "\n"); line; line = strtok(NULL, "\n")) {
            if (line[0] == '#')
                continue;
            char needle[2048];
            snprintf(needle, sizeof needle, "\n%s\n", line);
            CHECK(strstr(text, needle) != NULL, "shipped ini lacks '%s'", line);
            options += strstr(line, " = ") != NULL;
        }
        CHECK(options == 77, "%d global options in the dump", options);

        /* Uncomment the ';' examples: two valid lines. */
        char *examples = malloc(strlen(text) + 1), *o = examples;
        for (const char *p = text; *p; p++)
            if (!(*p == ';' && (p == text || p[-1] == '\n')))
                *o++ = *p;
        *o = '\0';
        cw_config_t *ex = cw_config_new();
        rc = cw_config_load_string(ex, examples, "examples", &err);
        CHECK(rc == CW_OK, "examples: %s", err.msg);
        CHECK(ex->n_lines == 2, "example lines %d", ex->n_lines);
        if (ex->n_lines == 2) {
            const cw_line_config_t *a = &ex->lines[0], *b = &ex->lines[1];
            CHECK(strcmp(a->name, "desk1") == 0 && a->device[0] && a->agent_channel == 0 &&
                      a->customer_channel == 1 && !a->agent_device[0],
                  "desk1 is a 2-channel device line");
            CHECK(strcmp(b->name, "desk2") == 0 && !b->device[0] && b->agent_device[0] && b->customer_device[0],
                  "desk2 is a two mono devices line");
            cw_config_set(ex, "models", "hmm", models_dir, "test", &err);
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/dict", models_dir);
            cw_config_set(ex, "models", "dict", path, "test", &err);
            snprintf(path, sizeof path, "%s/lm", models_dir);
            cw_config_set(ex, "models", "lm", path, "test", &err);
            rc = cw_config_validate(ex, &err);
            CHECK(rc == CW_OK, "examples validate: %s", err.msg);
        }
        cw_config_destroy(&ex);
        free(examples);
    }
    free(text);
    free(dump);
    cw_config_destroy(&defaults);
    cw_config_destroy(&cfg);
}

static void test_value_errors(void)
{
    CHECK_LOAD_ERROR("[alerts]\nnew_category_kinds = escalation,rage\n", CW_ERR_INVALID,
                     "site.ini:2: [alerts] new_category_kinds = 'escalation,rage': must be word-cue kinds "
                     "separated by commas: anger, despair, escalation (or empty)");
    CHECK_LOAD_ERROR("# site\n\n[vad]\nhangover_ms = abc\n", CW_ERR_INVALID,
                     "site.ini:4: [vad] hangover_ms = 'abc': not an integer");
    CHECK_LOAD_ERROR("[vad]\nhangover_ms = 5\n", CW_ERR_INVALID,
                     "site.ini:2: [vad] hangover_ms = '5': out of range 10..10000");
    CHECK_LOAD_ERROR("[vad]\nonset_ms = 12abc\n", CW_ERR_INVALID,
                     "site.ini:2: [vad] onset_ms = '12abc': not an integer");
    CHECK_LOAD_ERROR("[vad]\nonset_ms = 12.5\n", CW_ERR_INVALID,
                     "site.ini:2: [vad] onset_ms = '12.5': not an integer");
    CHECK_LOAD_ERROR("[vad]\nonset_ms =\n", CW_ERR_INVALID,
                     "site.ini:2: [vad] onset_ms = '': empty, expected an integer");
    CHECK_LOAD_ERROR("[vad]\nonset_ms = 99999999999999999999\n", CW_ERR_INVALID,
                     "site.ini:2: [vad] onset_ms = '99999999999999999999': out of range 10..1000");
    CHECK_LOAD_ERROR("[vad]\nmargin_db =   \n", CW_ERR_INVALID,
                     "site.ini:2: [vad] margin_db = '': empty, expected a number");
    CHECK_LOAD_ERROR("[vad]\nmargin_db = nan\n", CW_ERR_INVALID,
                     "site.ini:2: [vad] margin_db = 'nan': not a finite number");
    CHECK_LOAD_ERROR("[vad]\nmargin_db = inf\n", CW_ERR_INVALID,
                     "site.ini:2: [vad] margin_db = 'inf': not a finite number");
    CHECK_LOAD_ERROR("[vad]\nmargin_db = 1e999\n", CW_ERR_INVALID,
                     "site.ini:2: [vad] margin_db = '1e999': out of range 0..60");
    CHECK_LOAD_ERROR("[vad]\nmargin_db = 3dB\n", CW_ERR_INVALID,
                     "site.ini:2: [vad] margin_db = '3dB': not a number");
    /* '#' after a value is not a comment: the value is refused, not truncated. */
    CHECK_LOAD_ERROR("[vad]\nmargin_db = 3 # dB\n", CW_ERR_INVALID,
                     "site.ini:2: [vad] margin_db = '3 # dB': not a number");
    /* ';' after a blank is one (inih's inline comment). */
    CHECK(load_str("[vad]\nmargin_db = 3 ; dB\n", &(cw_error_t){0}) == CW_OK, "inline ; comment");
    CHECK_LOAD_ERROR("[capture]\nring_s = 0.05\n", CW_ERR_INVALID,
                     "site.ini:2: [capture] ring_s = '0.05': out of range 0.1..60");
    CHECK_LOAD_ERROR("[bus]\nendpoint = udp://1.2.3.4:5\n", CW_ERR_INVALID,
                     "site.ini:2: [bus] endpoint = 'udp://1.2.3.4:5': must start with tcp://, ipc:// or inproc://");
    CHECK_LOAD_ERROR("[bus]\nendpoint = tcp://\n", CW_ERR_INVALID,
                     "site.ini:2: [bus] endpoint = 'tcp://': nothing after the transport");
    CHECK_LOAD_ERROR("[line d1]\nsample_rate = 7999\n", CW_ERR_INVALID,
                     "site.ini:2: [line d1] sample_rate = '7999': out of range 0 or 8000..192000");
    CHECK_LOAD_ERROR("[line d1]\nagent_channel = 64\n", CW_ERR_INVALID,
                     "site.ini:2: [line d1] agent_channel = '64': out of range 0..63");
}

static void test_name_errors(void)
{
    CHECK_LOAD_ERROR("[vad]\nonset_ms = 60\nhangovr_ms = 100\n", CW_ERR_NOT_FOUND,
                     "site.ini:3: [vad] unknown option 'hangovr_ms' (did you mean 'hangover_ms'?)");
    CHECK_LOAD_ERROR("[line desk1]\ndevise = hw:0\n", CW_ERR_NOT_FOUND,
                     "site.ini:2: [line desk1] unknown option 'devise' (did you mean 'device'?)");
    /* Nothing close: the valid options are listed instead. */
    CHECK_LOAD_ERROR("[models]\nbeam = 1e-48\n", CW_ERR_NOT_FOUND,
                     "site.ini:2: [models] unknown option 'beam' (options: hmm, dict, lm, cues, prosody, keyphrases)");
    CHECK_LOAD_ERROR_HAS("[asr]\nworkers = 2\n[vda]\n", CW_ERR_NOT_FOUND,
                         "site.ini:3: unknown section [vda] (did you mean [vad]?)",
                         "valid sections: [models], [asr], [vad], [detect], [alerts], [capture], [bus], [broker], [metrics], [ingest], [audiosocket], [websocket], [redact], [archive], [whisper], [web], [console], [line NAME]");
    CHECK_LOAD_ERROR_HAS("[decoder]\nx = 1\n", CW_ERR_NOT_FOUND, "site.ini:1: unknown section [decoder];",
                         "[models], [asr], [vad], [detect], [alerts], [capture], [bus], [broker], [metrics], [ingest], [audiosocket], [websocket], [redact], [archive], [whisper], [web], [console], [line NAME]");
    CHECK_LOAD_ERROR_HAS("workers = 2\n", CW_ERR_FORMAT, "site.ini:1: option 'workers' comes before any section",
                         "[asr]");
}

static void test_syntax_errors(void)
{
    CHECK_LOAD_ERROR("[vad]\nonset_ms = 60\nhangover_ms 500\n[asr]\n", CW_ERR_FORMAT,
                     "site.ini:3: syntax error: 'hangover_ms 500' is not '[section]', 'option = value' or a comment");
    /* ... also as the very last line, without a newline. */
    CHECK_LOAD_ERROR("[vad]\nonset_ms", CW_ERR_FORMAT,
                     "site.ini:2: syntax error: 'onset_ms' is not '[section]', 'option = value' or a comment");
    CHECK_LOAD_ERROR("[vad\nonset_ms = 60\n", CW_ERR_FORMAT, "site.ini:1: syntax error: '[vad' has no closing ']'");
    CHECK_LOAD_ERROR("[vad]\n = 60\n", CW_ERR_FORMAT, "site.ini:2: [vad] '= 60' has no option name");

    char long_line[400];
    snprintf(long_line, sizeof long_line, "[bus]\nendpoint = ipc:///tmp/%0300d\n", 7);
    CHECK_LOAD_ERROR_HAS(long_line, CW_ERR_FORMAT, "site.ini:2: line is longer than", "characters");

    /* Indented options are options, not continuations of the previous value;
     * CRLF, a BOM and both comment styles are fine. */
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    int rc = cw_config_load_string(cfg,
                                   "\xEF\xBB\xBF; windows\r\n[vad]\r\n  onset_ms = 70\r\n  hangover_ms = 700\r\n"
                                   "\t# tab comment\n[ asr ]\nworkers=3\n",
                                   "crlf.ini", &err);
    CHECK(rc == CW_OK, "crlf/indent: %s", err.msg);
    CHECK(cfg->vad_onset_ms == 70 && cfg->vad_hangover_ms == 700 && cfg->asr_workers == 3, "onset %d hangover %d",
          cfg->vad_onset_ms, cfg->vad_hangover_ms);
    CHECK(strcmp(cfg->source_path, "crlf.ini") == 0, "source_path %s", cfg->source_path);
    cw_config_destroy(&cfg);
}

static void test_line_errors(void)
{
    CHECK_LOAD_ERROR("[line desk1]\ndevice = hw:0\n\n[line desk1]\nfile = x.wav\n", CW_ERR_INVALID,
                     "site.ini:4: [line desk1] is defined twice (first at line 1)");
    CHECK_LOAD_ERROR("[line]\ndevice = hw:0\n", CW_ERR_INVALID,
                     "site.ini:1: [line]: line needs a name, e.g. [line desk1]");
    CHECK_LOAD_ERROR("[asr]\n[line   ]\n", CW_ERR_INVALID,
                     "site.ini:2: [line]: line needs a name, e.g. [line desk1]");
    CHECK_LOAD_ERROR("[line desk 1]\n", CW_ERR_INVALID,
                     "site.ini:1: [line desk 1]: line name may only hold letters, digits and -_.:@");

    /* CW_MAX_LINES are fine, one more is not. */
    size_t cap = (CW_MAX_LINES + 1) * 40;
    char *text = malloc(cap);
    size_t used = 0;
    for (int i = 0; i < CW_MAX_LINES; i++)
        used += (size_t)snprintf(text + used, cap - used, "[line l%d]\ndevice = %d\n", i, i);
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    int rc = cw_config_load_string(cfg, text, "many.ini", &err);
    CHECK(rc == CW_OK && cfg->n_lines == CW_MAX_LINES, "%d lines: %s", cfg->n_lines, err.msg);
    cw_config_destroy(&cfg);
    snprintf(text + used, cap - used, "[line one-too-many]\ndevice = x\n");
    char want[128];
    snprintf(want, sizeof want, "site.ini:%d: [line one-too-many]: too many [line] sections (at most %d)",
             2 * CW_MAX_LINES + 1, CW_MAX_LINES);
    CHECK_LOAD_ERROR(text, CW_ERR_INVALID, want);
    free(text);
}

static void test_missing_file(const char *tmp)
{
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    int rc = cw_config_load(cfg, "/nonexistent/site.ini", &err);
    CHECK(rc == CW_ERR_IO, "missing file code %d", rc);
    CHECK(strcmp(err.msg, "cannot read config '/nonexistent/site.ini': No such file or directory") == 0, "msg: %s",
          err.msg);
    rc = cw_config_load(cfg, tmp, &err); /* a directory opens but does not read */
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "cannot read config '%s': Is a directory", tmp);
    CHECK(rc == CW_ERR_IO && strcmp(err.msg, want) == 0, "directory: %d %s", rc, err.msg);

    /* Errors from a real file carry its path. */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/site.ini", tmp);
    write_file(path, "[asr]\nworkers = 4\n[vad]\nhangover_ms = abc\n");
    rc = cw_config_load(cfg, path, &err);
    snprintf(want, sizeof want, "%s:4: [vad] hangover_ms = 'abc': not an integer", path);
    CHECK(rc == CW_ERR_INVALID && strcmp(err.msg, want) == 0, "file error: %s", err.msg);
    unlink(path);
    cw_config_destroy(&cfg);
}

typedef struct edge {
    const char *section, *key;
    const char *ok[2];  /* the range ends: accepted */
    const char *bad[2]; /* just beyond them: refused */
} edge_t;

static void test_range_edges(void)
{
    static const edge_t edges[] = {
        {"asr", "workers", {"0", "64"}, {"-1", "65"}},
        {"asr", "partial_interval_ms", {"0", "10000"}, {"-1", "10001"}},
        {"asr", "backlog_s", {"1", "600"}, {"0.999", "600.001"}},
        {"asr", "max_utterance_s", {"2", "120"}, {"1.99", "120.5"}},
        {"asr", "min_confidence", {"0", "1"}, {"-0.01", "1.01"}},
        {"vad", "threshold_db", {"-120", "0"}, {"-120.1", "0.1"}},
        {"vad", "margin_db", {"0", "60"}, {"-1", "61"}},
        {"vad", "onset_ms", {"10", "1000"}, {"9", "1001"}},
        {"vad", "hangover_ms", {"10", "10000"}, {"9", "10001"}},
        {"vad", "preroll_ms", {"0", "1000"}, {"-1", "1001"}},
        {"capture", "frames_per_buffer", {"0", "65536"}, {"-1", "65537"}},
        {"capture", "ring_s", {"0.1", "60"}, {"0.09", "60.01"}},
        {"capture", "stall_timeout_ms", {"100", "60000"}, {"99", "60001"}},
        {"capture", "retry_s", {"0.1", "3600"}, {"0.05", "3601"}},
        {"bus", "sndhwm", {"1", "10000000"}, {"0", "10000001"}},
        {"line e", "agent_channel", {"0", "63"}, {"-1", "64"}},
        {"line e", "customer_channel", {"0", "63"}, {"-1", "64"}},
        {"line e", "sample_rate", {"8000", "192000"}, {"7999", "192001"}},
    };
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        const edge_t *e = &edges[i];
        for (int k = 0; k < 2; k++) {
            int rc = cw_config_set(cfg, e->section, e->key, e->ok[k], "edge", &err);
            CHECK(rc == CW_OK, "[%s] %s = %s refused: %s", e->section, e->key, e->ok[k], err.msg);
            rc = cw_config_set(cfg, e->section, e->key, e->bad[k], "edge", &err);
            CHECK(rc == CW_ERR_INVALID && strstr(err.msg, "out of range"), "[%s] %s = %s accepted (%s)", e->section,
                  e->key, e->bad[k], err.msg);
        }
    }
    CHECK(cw_config_set(cfg, "line e", "sample_rate", "0", "edge", &err) == CW_OK, "sample_rate 0: %s", err.msg);
    CHECK(cfg->n_lines == 1 && cfg->lines[0].sample_rate == 0, "sample_rate %d", cfg->lines[0].sample_rate);
    cw_config_destroy(&cfg);
}

static void test_lines(void)
{
    static const char text[] = "[asr]\n"
                               "workers = 2\n"
                               "\n"
                               "[line desk1]\n"
                               "device = USB Audio\n"
                               "agent_channel = 1\n"
                               "customer_channel = 0\n"
                               "sample_rate = 48000\n"
                               "\n"
                               "[line desk-2]\n"
                               "agent_device = hw:1,0\n"
                               "customer_device = hw:2,0\n"
                               "agent_id = bob\n"
                               "[vad]\n"
                               "onset_ms = 80\n";
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    int rc = cw_config_load_string(cfg, text, "site.ini", &err);
    CHECK(rc == CW_OK, "lines: %s", err.msg);
    CHECK(cfg->n_lines == 2, "n_lines %d", cfg->n_lines);
    CHECK(cfg->asr_workers == 2 && cfg->vad_onset_ms == 80, "globals around lines");
    if (cfg->n_lines == 2) {
        const cw_line_config_t *a = &cfg->lines[0], *b = &cfg->lines[1];
        CHECK(strcmp(a->name, "desk1") == 0, "name %s", a->name);
        CHECK(strcmp(a->device, "USB Audio") == 0, "device '%s'", a->device);
        CHECK(a->agent_channel == 1 && a->customer_channel == 0, "channels %d %d", a->agent_channel,
              a->customer_channel);
        CHECK(a->sample_rate == 48000, "rate %d", a->sample_rate);
        CHECK(strcmp(a->agent_id, "desk1") == 0, "agent_id defaults to the name: %s", a->agent_id);
        CHECK(a->config_lineno == 4, "lineno %d", a->config_lineno);
        CHECK(!a->agent_device[0] && !a->customer_device[0] && !a->file[0], "no other source");

        CHECK(strcmp(b->name, "desk-2") == 0, "name %s", b->name);
        CHECK(!b->device[0] && strcmp(b->agent_device, "hw:1,0") == 0 && strcmp(b->customer_device, "hw:2,0") == 0,
              "mono devices '%s' '%s'", b->agent_device, b->customer_device);
        CHECK(b->agent_channel == 0 && b->customer_channel == 1 && b->sample_rate == 0, "line defaults");
        CHECK(strcmp(b->agent_id, "bob") == 0, "agent_id %s", b->agent_id);
        CHECK(b->config_lineno == 10, "lineno %d", b->config_lineno);
    }
    /* A second source may reopen a line (it is not a duplicate there). */
    rc = cw_config_load_string(cfg, "[line desk1]\nsample_rate = 16000\n", "override.ini", &err);
    CHECK(rc == CW_OK && cfg->n_lines == 2 && cfg->lines[0].sample_rate == 16000 &&
              strcmp(cfg->lines[0].device, "USB Audio") == 0,
          "override: %s", err.msg);
    cw_config_destroy(&cfg);
}

static void test_set(void)
{
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    CHECK(cw_config_set(cfg, "vad", "hangover_ms", "800", "--set", &err) == CW_OK, "set: %s", err.msg);
    CHECK(cfg->vad_hangover_ms == 800, "hangover %d", cfg->vad_hangover_ms);
    CHECK(cw_config_set(cfg, "capture", "retry_s", "2.5", NULL, &err) == CW_OK && cfg->capture_retry_s == 2.5,
          "retry_s: %s", err.msg);

    int rc = cw_config_set(cfg, "vad", "hangover_ms", "abc", "--set", &err);
    CHECK(rc == CW_ERR_INVALID && strcmp(err.msg, "--set: [vad] hangover_ms = 'abc': not an integer") == 0,
          "set error: %s", err.msg);
    CHECK(cfg->vad_hangover_ms == 800, "a refused value changes nothing");
    rc = cw_config_set(cfg, "vad", "hangover", "100", "--set", &err);
    CHECK(rc == CW_ERR_NOT_FOUND &&
              strcmp(err.msg, "--set: [vad] unknown option 'hangover' (did you mean 'hangover_ms'?)") == 0,
          "set unknown: %s", err.msg);
    rc = cw_config_set(cfg, "vda", "onset_ms", "100", "--set", &err);
    CHECK(rc == CW_ERR_NOT_FOUND && strstr(err.msg, "--set: unknown section [vda] (did you mean [vad]?)"),
          "set section: %s", err.msg);

    /* "line NAME" creates the line with its defaults. */
    rc = cw_config_set(cfg, "line desk9", "device", "hw:0", "--set", &err);
    CHECK(rc == CW_OK && cfg->n_lines == 1, "set line: %s", err.msg);
    CHECK(strcmp(cfg->lines[0].device, "hw:0") == 0 && strcmp(cfg->lines[0].agent_id, "desk9") == 0 &&
              cfg->lines[0].customer_channel == 1 && cfg->lines[0].config_lineno == 0,
          "new line via set");
    CHECK(cw_config_set(cfg, "line desk9", "agent_id", "carol", "--set", &err) == CW_OK && cfg->n_lines == 1 &&
              strcmp(cfg->lines[0].agent_id, "carol") == 0,
          "same line again");
    rc = cw_config_set(cfg, "line", "device", "hw:0", "--set", &err);
    CHECK(rc == CW_ERR_INVALID && strcmp(err.msg, "--set: [line]: line needs a name, e.g. [line desk1]") == 0,
          "unnamed: %s", err.msg);

    /* Values that would not read back from an INI file are refused. */
    rc = cw_config_set(cfg, "line desk9", "device", "a ;b", "--set", &err);
    CHECK(rc == CW_ERR_INVALID && strstr(err.msg, "as a comment"), "' ;': %s", err.msg);
    rc = cw_config_set(cfg, "line desk9", "device", " hw:0", "--set", &err);
    CHECK(rc == CW_ERR_INVALID && strstr(err.msg, "leading or trailing spaces"), "spaces: %s", err.msg);
    rc = cw_config_set(cfg, "line desk9", "device", "a\nb", "--set", &err);
    CHECK(rc == CW_ERR_INVALID && strstr(err.msg, "control character"), "newline: %s", err.msg);
    char big[CW_NAME_MAX + 2];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    rc = cw_config_set(cfg, "line desk9", "agent_id", big, "--set", &err);
    CHECK(rc == CW_ERR_INVALID && strstr(err.msg, "longer than 127 characters"), "long: %s", err.msg);
    CHECK(strcmp(cfg->lines[0].device, "hw:0") == 0, "refused strings change nothing");
    cw_config_destroy(&cfg);
}

static void set_models(cw_config_t *cfg, const char *tmp)
{
    cw_error_t err;
    char path[PATH_MAX];
    cw_config_set(cfg, "models", "hmm", tmp, "test", &err);
    snprintf(path, sizeof path, "%s/dict", tmp);
    cw_config_set(cfg, "models", "dict", path, "test", &err);
    snprintf(path, sizeof path, "%s/lm", tmp);
    cw_config_set(cfg, "models", "lm", path, "test", &err);
}

/* Validates `lines` (a [line] section at line 3 of site.ini) with good models. */
static int validate_lines(const char *tmp, const char *lines, cw_error_t *err)
{
    cw_config_t *cfg = cw_config_new();
    char text[1024];
    snprintf(text, sizeof text, "[asr]\n\n%s", lines);
    int rc = cw_config_load_string(cfg, text, "site.ini", err);
    CHECK(rc == CW_OK, "load for validate: %s", err->msg);
    set_models(cfg, tmp);
    rc = cw_config_validate(cfg, err);
    cw_config_destroy(&cfg);
    return rc;
}

static void test_validate(const char *tmp)
{
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    char path[PATH_MAX], want[PATH_MAX + 128];

    cw_config_set(cfg, "models", "hmm", "/nope", "test", &err);
    int rc = cw_config_validate(cfg, &err);
    CHECK(rc == CW_ERR_NOT_FOUND &&
              strcmp(err.msg, "[models] hmm: '/nope' is not a directory (install pocketsphinx-en-us or set hmm)") == 0,
          "missing hmm: %s", err.msg);

    snprintf(path, sizeof path, "%s/dict", tmp);
    cw_config_set(cfg, "models", "hmm", path, "test", &err); /* a file, not a directory */
    rc = cw_config_validate(cfg, &err);
    snprintf(want, sizeof want, "[models] hmm: '%s' is not a directory", path);
    CHECK(rc == CW_ERR_NOT_FOUND && strstr(err.msg, want), "file as hmm: %s", err.msg);

    cw_config_set(cfg, "models", "hmm", tmp, "test", &err);
    cw_config_set(cfg, "models", "dict", "/nope.dict", "test", &err);
    rc = cw_config_validate(cfg, &err);
    CHECK(rc == CW_ERR_NOT_FOUND &&
              strcmp(err.msg,
                     "[models] dict: '/nope.dict' is not a readable file (install pocketsphinx-en-us or set dict)") == 0,
          "missing dict: %s", err.msg);
    cw_config_set(cfg, "models", "dict", tmp, "test", &err); /* a directory, not a file */
    rc = cw_config_validate(cfg, &err);
    CHECK(rc == CW_ERR_NOT_FOUND && strstr(err.msg, "[models] dict:") && strstr(err.msg, "not a readable file"),
          "dir as dict: %s", err.msg);

    set_models(cfg, tmp);
    snprintf(path, sizeof path, "%s/lm", tmp);
    chmod(path, 0);
    if (access(path, R_OK) != 0) { /* root reads anything: skip then */
        rc = cw_config_validate(cfg, &err);
        CHECK(rc == CW_ERR_NOT_FOUND && strstr(err.msg, "[models] lm:"), "unreadable lm: %s", err.msg);
    }
    chmod(path, 0644);
    rc = cw_config_validate(cfg, &err);
    CHECK(rc == CW_OK, "good models, no lines: %s", err.msg);
    cw_config_destroy(&cfg);

    CHECK(validate_lines(tmp, "[line desk1]\ndevice = hw:0\n", &err) == CW_OK, "device line: %s", err.msg);
    CHECK(validate_lines(tmp, "[line desk1]\nfile = call.wav\n", &err) == CW_OK, "file line: %s", err.msg);
    CHECK(validate_lines(tmp, "[line desk1]\nagent_device = a\ncustomer_device = b\n", &err) == CW_OK,
          "mono line: %s", err.msg);
    /* Mono devices carry one leg each: channels do not matter. */
    CHECK(validate_lines(tmp, "[line desk1]\nagent_device = a\ncustomer_device = b\ncustomer_channel = 0\n", &err) ==
              CW_OK,
          "mono line, same channels: %s", err.msg);

    rc = validate_lines(tmp, "[line desk1]\ndevice = hw:0\nfile = call.wav\n", &err);
    CHECK(rc == CW_ERR_INVALID && strstr(err.msg, "line 'desk1' (site.ini:3): sets device and file;") &&
              strstr(err.msg, "exactly one kind of source"),
          "two kinds: %s", err.msg);
    rc = validate_lines(tmp, "[line desk1]\ndevice = hw:0\nagent_device = a\ncustomer_device = b\n", &err);
    CHECK(rc == CW_ERR_INVALID && strstr(err.msg, "sets device and agent/customer_device;"), "device+pair: %s",
          err.msg);
    rc = validate_lines(tmp, "[line desk1]\nagent_channel = 0\n", &err);
    CHECK(rc == CW_ERR_INVALID &&
              strcmp(err.msg, "line 'desk1' (site.ini:3): no source; set device, agent_device + customer_device, "
                              "or file") == 0,
          "no source: %s", err.msg);
    rc = validate_lines(tmp, "[line desk1]\nagent_device = a\n", &err);
    CHECK(rc == CW_ERR_INVALID &&
              strstr(err.msg, "line 'desk1' (site.ini:3): agent_device is set but customer_device is not"),
          "half pair: %s", err.msg);
    rc = validate_lines(tmp, "[line desk1]\ndevice = hw:0\ncustomer_channel = 0\n", &err);
    CHECK(rc == CW_ERR_INVALID &&
              strcmp(err.msg, "line 'desk1' (site.ini:3): agent_channel and customer_channel are both 0; each leg "
                              "needs its own channel") == 0,
          "same channels: %s", err.msg);
    rc = validate_lines(tmp, "[line ok]\nfile = a.wav\n\n[line desk7]\nfile = b.wav\nagent_channel = 1\n", &err);
    CHECK(rc == CW_ERR_INVALID && strstr(err.msg, "line 'desk7' (site.ini:6): agent_channel and customer_channel"),
          "second line, file channels: %s", err.msg);
}

static void test_dump_round_trip(void)
{
    static const char text[] = "[models]\nhmm = /opt/models/hmm dir\n"
                               "[asr]\nworkers = 3\nmin_confidence = 0.333333333333333315\nbacklog_s = 1e2\n"
                               "[vad]\nthreshold_db = -47.25\nmargin_db = 0.1\n"
                               "[capture]\nring_s = 0.30000000000000004\nretry_s = 3600\n"
                               "[bus]\nendpoint = ipc:///tmp/callwatch;bus\nsndhwm = 10000000\n"
                               "[line desk1]\ndevice = USB Audio CODEC: - (hw:1,0)\nagent_channel = 1\n"
                               "customer_channel = 0\nsample_rate = 44100\nagent_id = alice # not a comment\n"
                               "[line desk2]\nagent_device = 3\ncustomer_device = 4\n"
                               "[line replay]\nfile = /srv/calls/a b.wav\n";
    cw_config_t *a = cw_config_new(), *b = cw_config_new();
    cw_error_t err;
    int rc = cw_config_load_string(a, text, "a.ini", &err);
    CHECK(rc == CW_OK, "load a: %s", err.msg);
    CHECK(strcmp(a->bus_endpoint, "ipc:///tmp/callwatch;bus") == 0, "endpoint %s", a->bus_endpoint);
    CHECK(strcmp(a->lines[0].agent_id, "alice # not a comment") == 0, "agent_id %s", a->lines[0].agent_id);

    char *dump = dump_text(a);
    CHECK(dump && strstr(dump, "[vad]\n# ") && strstr(dump, "\n[line desk2]\n# "), "dump has sections and docs");
    CHECK(dump && strstr(dump, "(10..10000)\nhangover_ms = 500\n"), "dump shows ranges");
    CHECK(dump && strstr(dump, "\nring_s = 0.30000000000000004\n") && strstr(dump, "\nthreshold_db = -47.25\n"),
          "doubles written exactly");
    rc = cw_config_load_string(b, dump ? dump : "", "dump.ini", &err);
    CHECK(rc == CW_OK, "reload dump: %s\n%s", err.msg, dump);
    CHECK(b->n_lines == 3, "lines %d", b->n_lines);

    /* Identical but for where it was read from. */
    memcpy(b->source_path, a->source_path, sizeof a->source_path);
    for (int i = 0; i < a->n_lines && i < b->n_lines; i++) {
        CHECK(b->lines[i].config_lineno > 0, "reloaded lineno");
        b->lines[i].config_lineno = a->lines[i].config_lineno;
    }
    CHECK(memcmp(a, b, sizeof *a) == 0, "dump round trip differs");
    char *again = dump_text(b);
    CHECK(dump && again && strcmp(dump, again) == 0, "second dump differs");

    /* Defaults round-trip too. */
    cw_config_t *d = cw_config_new(), *e = cw_config_new();
    char *ddump = dump_text(d);
    rc = cw_config_load_string(e, ddump, "d.ini", &err);
    memcpy(e->source_path, d->source_path, sizeof d->source_path);
    CHECK(rc == CW_OK && memcmp(d, e, sizeof *d) == 0, "defaults round trip: %s", err.msg);

    free(ddump);
    free(again);
    free(dump);
    cw_config_destroy(&a);
    cw_config_destroy(&b);
    cw_config_destroy(&d);
    cw_config_destroy(&e);
}

static void test_default_path(void)
{
    setenv("CALLWATCH_CONFIG", "/etc/callwatch/site.ini", 1);
    CHECK(strcmp(cw_config_default_path(), "/etc/callwatch/site.ini") == 0, "env: %s", cw_config_default_path());
    unsetenv("CALLWATCH_CONFIG");
    const char *p = cw_config_default_path();
    size_t n = strlen(p), suffix = strlen("/callwatch.ini");
    CHECK(p && n > suffix && strcmp(p + n - suffix, "/callwatch.ini") == 0, "default: %s", p);
    if (CALLWATCH_MODELS_DIR[0])
        CHECK(strcmp(p, shipped_path) == 0, "default %s, shipped %s", p, shipped_path);
}

/* [asr] model_8k: off when empty; otherwise a model folder, and the error
 * names the file:line it was set on and the first model file it lacks. */
static void test_model_8k(const char *tmp)
{
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    char dir[PATH_MAX], text[PATH_MAX + 64], file[PATH_MAX + 32];
    snprintf(dir, sizeof dir, "%s/m8", tmp);
    mkdir(dir, 0700);
    snprintf(file, sizeof file, "%s/mdef", dir);
    write_file(file, "x");
    snprintf(cfg->hmm, sizeof cfg->hmm, "%s", tmp);
    snprintf(cfg->dict, sizeof cfg->dict, "%s/dict", tmp);
    snprintf(cfg->lm, sizeof cfg->lm, "%s/lm", tmp);
    CHECK(cw_config_validate(cfg, &err) == CW_OK, "empty model_8k is off: %s", err.msg);
    snprintf(text, sizeof text, "[asr]\nworkers = 2\nmodel_8k = %s\n", dir);
    int rc = cw_config_load_string(cfg, text, "site.ini", &err);
    CHECK(rc == CW_OK && strcmp(cfg->asr_model_8k_at, "site.ini:3") == 0, "where model_8k was set: '%s'",
          cfg->asr_model_8k_at);
    rc = cw_config_validate(cfg, &err);
    CHECK(rc == CW_ERR_NOT_FOUND && strstr(err.msg, "site.ini:3: [asr] model_8k") && strstr(err.msg, dir) &&
              strstr(err.msg, "feat.params"),
          "model_8k lacking feat.params: %s", err.msg);
    CHECK(strcmp(cw_config_acoustic_missing(dir), "feat.params") == 0, "first missing file");
    cw_config_load_string(cfg, "[asr]\nmodel_8k =\n", "off.ini", &err);
    CHECK(cfg->asr_model_8k_at[0] == '\0' && cw_config_validate(cfg, &err) == CW_OK, "model_8k unset again");
    unlink(file);
    rmdir(dir);
    cw_config_destroy(&cfg);
}

/* How long the console keeps ended calls is a setting, checked like any. */
static void test_console_keep_ended(void)
{
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    cw_error_clear(&err);
    CHECK(cfg && cfg->console_keep_ended_s == 300, "default keep_ended_s 300");
    int rc = cfg ? cw_config_load_string(cfg, "[console]\nkeep_ended_s = 60\n", "site.ini", &err) : -1;
    CHECK(rc == CW_OK && cfg->console_keep_ended_s == 60, "keep_ended_s set: %s", err.msg);
    cw_config_destroy(&cfg);
    rc = load_str("[console]\nkeep_ended_s = -1\n", &err);
    CHECK(rc != CW_OK && strstr(err.msg, "site.ini:2") && strstr(err.msg, "keep_ended_s"), "negative refused: %s",
          err.msg);
}

/* `callwatch config` writes back whatever was loaded: a value whose
 * "key = value" line would not fit the longest line a config may hold is
 * refused at load, naming how long it may be. */
static void test_value_fits_a_line(void)
{
    char value[180], text[256], want[512];
    memset(value, 'a', 179);
    value[179] = '\0';
    snprintf(text, sizeof text, "[bus]\ncurve_server_cert=%s\n", value);
    snprintf(want, sizeof want,
             "site.ini:2: [bus] curve_server_cert = '%s': longer than 178 characters "
             "(\"curve_server_cert = value\" must fit a 198-character line)",
             value);
    CHECK_LOAD_ERROR(text, CW_ERR_INVALID, want);
    value[178] = '\0';
    snprintf(text, sizeof text, "[bus]\ncurve_server_cert=%s\n", value);
    cw_error_t err;
    CHECK(load_str(text, &err) == CW_OK, "178 characters fit: %s", err.msg);
}

/* A SIGHUP's new file keeps what only a restart applies, and says which of
 * those it asked to change; a command-line override is kept silently. */
static void test_keep_running(void)
{
    cw_config_t *running = cw_config_new(), *next = cw_config_new();
    cw_error_t err;
    cw_error_clear(&err);
    CHECK(running && next, "cw_config_new");
    if (!running || !next)
        return;
    int rc = cw_config_set(running, "bus", "endpoint", "tcp://127.0.0.1:6000", "--endpoint", &err);
    rc = rc ? rc : cw_config_load_string(next, "[asr]\nworkers = 3\npartial_interval_ms = 250\n[models]\n"
                                         "lm = /tmp/other.lm\n", "site.ini", &err);
    CHECK(rc == CW_OK, "set up: %s", err.msg);
    char changed[128];
    int n = cw_config_keep_running(next, running, changed, sizeof changed);
    CHECK(n == 2, "two restart-only options changed, got %d (%s)", n, changed);
    CHECK(strcmp(changed, "[models] lm, [asr] workers") == 0, "named in table order: '%s'", changed);
    CHECK(next->asr_workers == running->asr_workers && strcmp(next->lm, running->lm) == 0,
          "the running workers and language model are kept");
    CHECK(strcmp(next->bus_endpoint, "tcp://127.0.0.1:6000") == 0, "the --endpoint override is kept: %s",
          next->bus_endpoint);
    CHECK(next->asr_partial_interval_ms == 250, "a reloadable option takes the file's value");
    CHECK(cw_config_keep_running(next, running, NULL, 0) == 0, "nothing left to change once kept");
    cw_config_destroy(&running);
    cw_config_destroy(&next);
}

int main(void)
{
    find_shipped();
    unsetenv("CALLWATCH_CONFIG");

    /* Stand-in models so validation does not depend on installed packages. */
    char tmp[] = "/tmp/cw-test-config-XXXXXX";
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    char dict[PATH_MAX], lm[PATH_MAX];
    snprintf(dict, sizeof dict, "%s/dict", tmp);
    snprintf(lm, sizeof lm, "%s/lm", tmp);
    write_file(dict, "hello HH AH L OW\n");
    write_file(lm, "lm\n");

    test_defaults();
    test_shipped_ini(tmp);
    test_value_errors();
    test_name_errors();
    test_syntax_errors();
    test_line_errors();
    test_missing_file(tmp);
    test_range_edges();
    test_lines();
    test_set();
    test_validate(tmp);
    test_model_8k(tmp);
    test_dump_round_trip();
    test_default_path();
    test_console_keep_ended();
    test_keep_running();
    test_value_fits_a_line();

    unlink(dict);
    unlink(lm);
    rmdir(tmp);
    return check_summary("config");
}
