/* cmd_qa.c - `callwatch qa`: the QA archive for QA staff and team leads. */
#include "app.h"

#include "callwatch/archive.h"
#include "callwatch/qa.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Transcript and alert text is cut to this many bytes in tables (exports
 * keep everything). */
#define TABLE_TEXT_MAX 90

static void qa_usage(FILE *out)
{
    fputs("usage: callwatch qa [--db FILE | -c CONFIG] COMMAND [options]\n"
          "\n"
          "Searches the archive `callwatch run --archive` / `analyze --archive` wrote.\n"
          "Times are UTC: 2024-05-01, 2024-05-01T14:00, '2024-05-01 14:00:30Z', or a span ago (90m, 2h, 7d).\n"
          "\n"
          "commands:\n"
          "  search [filters]            alerts (and, with --text, transcript segments) as a table\n"
          "  timeline CALL_ID            a call's transcript, alerts, whispers and acks in time order\n"
          "  shift --agent ID            an agent's shift: alerts per hour, calls, flat-affect drift\n"
          "  export --format csv|jsonl [filters]   the search result for spreadsheets or tools\n"
          "  import FILE...              add events from JSON Lines (analyze output, `tap` or\n"
          "                              `tap --topics` captures; - = stdin) to the archive\n"
          "\n"
          "filters (search, export):\n"
          "  --call ID  --agent ID  --kind KIND  --severity info|warning|critical\n"
          "  --since TIME  --until TIME  --text WORDS (case-insensitive)\n"
          "  --type LIST    alert,transcript,whisper,ack or all (default: alert; plus transcript with --text)\n"
          "  --limit N\n"
          "\n"
          "options:\n"
          "      --db FILE|URL    the archive: an SQLite file or a postgresql:// URL (default: [archive]\n"
          "                       url, else [archive] path of the configuration)\n"
          "  -c, --config FILE    configuration to take [archive] url or path and wellbeing from\n"
          "      --format F       timeline: text (default) or jsonl; export: csv or jsonl\n"
          "  -h, --help           this help\n"
          "\n"
          "Exit status: 0 success (also when nothing matches), 1 archive missing, damaged or not\n"
          "a callwatch archive, 2 usage error.\n",
          out);
}

/* ---- archive sink helpers for run and analyze (app.h) ---- */

static void archive_warn(void *user, const char *msg)
{
    (void)user;
    app_log("%s", msg);
}

const char *app_archive_target(const cw_config_t *cfg)
{
    return cfg->archive_url[0] ? cfg->archive_url : cfg->archive_path;
}

const char *app_archive_name(const char *target, char *buf, size_t cap)
{
    if (!cw_archive_pg_is_url(target))
        return target;
    return cw_archive_pg_label(target, buf, cap);
}

/* An archive that does not open: a PostgreSQL one is named as the option
 * that gave it (the message names the server, never the password). */
static void log_open_error(const char *target, const cw_error_t *err)
{
    if (cw_archive_pg_is_url(target))
        app_log("[archive] url: %s", err->msg);
    else
        app_log("%s", err->msg);
}

cw_sink_t *app_archive_sink(const cw_config_t *cfg, const char *path)
{
    cw_archive_opts_t o = {
        .create = true,
        .retention_days = cfg->archive_retention_days,
        .commit_timeout_ms = cfg->archive_commit_timeout_ms,
        .warn = archive_warn,
    };
    cw_error_t err;
    cw_error_clear(&err);
    cw_archive_t *a = cw_archive_open(path, &o, &err);
    if (!a) {
        log_open_error(path, &err);
        return NULL;
    }
    cw_sink_t *sink = cw_archive_sink_new(&a, &err);
    if (!sink)
        app_log("%s", err.msg);
    return sink;
}

void app_archive_report(const cw_sink_t *sink)
{
    cw_archive_stats_t st;
    cw_archive_sink_stats(sink, &st);
    app_log("archive: %llu event(s) archived in %llu commit(s) (mean %.1f ms, max %.1f ms); %llu commit"
            " timeout(s), %llu published before commit, %llu failed commit(s), %llu dropped, %llu rejected",
            (unsigned long long)st.archived, (unsigned long long)st.commits,
            st.commits ? st.total_commit_ms / (double)st.commits : 0.0, st.max_commit_ms,
            (unsigned long long)st.commit_timeouts, (unsigned long long)st.published_uncommitted,
            (unsigned long long)st.commit_failures, (unsigned long long)st.dropped, (unsigned long long)st.rejected);
}

/* ---- shared option handling ---- */

typedef struct qa_opts {
    const char *db;
    const char *config;
    const char *format;
    const char *since, *until;
    cw_qa_filter_t filter;
} qa_opts_t;

enum {
    OPT_DB = 256,
    OPT_CALL,
    OPT_AGENT,
    OPT_KIND,
    OPT_SEVERITY,
    OPT_SINCE,
    OPT_UNTIL,
    OPT_TEXT,
    OPT_TYPE,
    OPT_LIMIT,
    OPT_FORMAT,
};

static const struct option qa_long_opts[] = {
    {"db", required_argument, NULL, OPT_DB},
    {"config", required_argument, NULL, 'c'},
    {"call", required_argument, NULL, OPT_CALL},
    {"agent", required_argument, NULL, OPT_AGENT},
    {"kind", required_argument, NULL, OPT_KIND},
    {"severity", required_argument, NULL, OPT_SEVERITY},
    {"since", required_argument, NULL, OPT_SINCE},
    {"until", required_argument, NULL, OPT_UNTIL},
    {"text", required_argument, NULL, OPT_TEXT},
    {"type", required_argument, NULL, OPT_TYPE},
    {"limit", required_argument, NULL, OPT_LIMIT},
    {"format", required_argument, NULL, OPT_FORMAT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static bool parse_types(const char *list, unsigned *out)
{
    static const struct {
        const char *name;
        unsigned bits;
    } names[] = {
        {"alert", CW_QA_ALERT},   {"alerts", CW_QA_ALERT},     {"transcript", CW_QA_TRANSCRIPT},
        {"transcripts", CW_QA_TRANSCRIPT}, {"whisper", CW_QA_WHISPER}, {"whispers", CW_QA_WHISPER},
        {"ack", CW_QA_ACK},       {"acks", CW_QA_ACK},
        {"all", CW_QA_ALERT | CW_QA_TRANSCRIPT | CW_QA_WHISPER | CW_QA_ACK},
    };
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    unsigned bits = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        bool known = false;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
            if (strcmp(tok, names[i].name) == 0) {
                bits |= names[i].bits;
                known = true;
            }
        }
        if (!known) {
            app_log("qa: --type '%s': expected alert, transcript, whisper, ack or all (comma-separated)", tok);
            return false;
        }
    }
    if (!bits) {
        app_log("qa: --type is empty");
        return false;
    }
    *out = bits;
    return true;
}

/* Parses the options of a subcommand (argv[0] is its name); the remaining
 * operands are left at argv[optind]. */
static bool parse_opts(int argc, char **argv, qa_opts_t *o, bool *help)
{
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", qa_long_opts, NULL)) != -1) {
        switch (c) {
        case OPT_DB: o->db = optarg; break;
        case 'c': o->config = optarg; break;
        case OPT_CALL: o->filter.call_id = optarg; break;
        case OPT_AGENT: o->filter.agent_id = optarg; break;
        case OPT_KIND: o->filter.kind = optarg; break;
        case OPT_SEVERITY:
            if (strcmp(optarg, "info") != 0 && strcmp(optarg, "warning") != 0 && strcmp(optarg, "critical") != 0) {
                app_log("qa: --severity '%s': expected info, warning or critical", optarg);
                return false;
            }
            o->filter.severity = optarg;
            break;
        case OPT_SINCE: o->since = optarg; break;
        case OPT_UNTIL: o->until = optarg; break;
        case OPT_TEXT: o->filter.text = optarg; break;
        case OPT_TYPE:
            if (!parse_types(optarg, &o->filter.types))
                return false;
            break;
        case OPT_LIMIT:
            if (!app_parse_int("--limit", optarg, 1, 1000000000L, &o->filter.limit))
                return false;
            break;
        case OPT_FORMAT: o->format = optarg; break;
        case 'h': *help = true; return true;
        default: return false;
        }
    }
    return true;
}

/* Opens the archive named by --db or the configuration; logs why not and
 * sets *status (usage: no archive named; failure: it cannot be opened). */
static cw_archive_t *open_archive(const qa_opts_t *o, bool create, cw_config_t **cfg_out, int *status)
{
    *status = APP_USAGE;
    cw_config_t *cfg = app_load_config(o->config, false);
    if (!cfg)
        return NULL;
    const char *path = o->db ? o->db : app_archive_target(cfg);
    if (!path[0]) {
        app_log("qa: no archive: give --db FILE (or URL) or set [archive] path or url in %s", cfg->source_path);
        cw_config_destroy(&cfg);
        return NULL;
    }
    *status = APP_FAILURE;
    cw_error_t err;
    cw_error_clear(&err);
    cw_archive_opts_t ao = {.create = create};
    cw_archive_t *a = cw_archive_open(path, &ao, &err);
    if (!a) {
        log_open_error(path, &err);
        cw_config_destroy(&cfg);
        return NULL;
    }
    *cfg_out = cfg;
    return a;
}

static bool resolve_times(cw_archive_t *a, qa_opts_t *o)
{
    cw_error_t err;
    cw_error_clear(&err);
    if (o->since && cw_qa_parse_time(a, o->since, &o->filter.since_ms, &err) != CW_OK) {
        app_log("qa: --since: %s", err.msg);
        return false;
    }
    if (o->until && cw_qa_parse_time(a, o->until, &o->filter.until_ms, &err) != CW_OK) {
        app_log("qa: --until: %s", err.msg);
        return false;
    }
    return true;
}

/* ---- output ---- */

/* "12:34.5" from call seconds, "-" when unknown. */
static const char *call_clock(double t, char *buf, size_t cap)
{
    if (isnan(t)) {
        snprintf(buf, cap, "-");
        return buf;
    }
    int min = (int)(t / 60);
    snprintf(buf, cap, "%d:%04.1f", min, t - 60.0 * min);
    return buf;
}

/* Text for a table cell: one line, at most TABLE_TEXT_MAX bytes, cut at a
 * UTF-8 character boundary. */
static const char *cell(const char *s, char *buf, size_t cap)
{
    size_t n = 0;
    for (; s[n] && n + 4 < cap && n < TABLE_TEXT_MAX; n++)
        buf[n] = s[n] == '\n' || s[n] == '\t' ? ' ' : s[n];
    if (s[n]) {
        while (n > 0 && ((unsigned char)buf[n] & 0xC0) == 0x80)
            n--;
        buf[n++] = '.';
        buf[n++] = '.';
        buf[n++] = '.';
    }
    buf[n] = '\0';
    return buf;
}

/* ", acknowledged 2026-11-20T08:00:07.000Z, 42.0 s after the alert" for an
 * ack row ("" for others): when it was made, and the time to acknowledge. */
static const char *ack_timing(const cw_qa_row_t *r, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (strcmp(r->type, "ack") != 0 || !r->acked_at[0])
        return buf;
    int n = snprintf(buf, cap, " at %s", r->acked_at);
    if (n > 0 && (size_t)n < cap && !isnan(r->ack_after_s))
        snprintf(buf + n, cap - (size_t)n, ", %.1f s after the alert", r->ack_after_s);
    return buf;
}

typedef struct table_state {
    long rows;
    bool failed;
} table_state_t;

static int print_search_row(void *user, const cw_qa_row_t *r)
{
    table_state_t *ts = user;
    if (ts->rows++ == 0)
        printf("%-21s %-28s %-12s %-10s %-8s %-20s %5s %-8s %s\n", "WHEN (UTC)", "CALL", "AGENT", "TYPE", "LEG",
               "KIND/SEVERITY", "SCORE", "AT", "TEXT");
    char when[40], at[24], what[64], score[16], text[TABLE_TEXT_MAX + 8], timing[128], full[1024];
    cw_qa_format_time(r->wall_ms, when, sizeof when);
    snprintf(full, sizeof full, "%s%s", r->text, ack_timing(r, timing, sizeof timing));
    snprintf(what, sizeof what, "%s%s%s", r->kind, r->kind[0] && r->severity[0] ? "/" : "", r->severity);
    if (isnan(r->score))
        snprintf(score, sizeof score, "-");
    else
        snprintf(score, sizeof score, "%.2f", r->score);
    printf("%-21s %-28s %-12s %-10s %-8s %-20s %5s %-8s %s\n", when, r->call_id, r->agent_id[0] ? r->agent_id : "-",
           r->type, r->leg[0] ? r->leg : "-", what[0] ? what : "-", score, call_clock(r->t, at, sizeof at),
           cell(full, text, sizeof text));
    return ferror(stdout) ? (ts->failed = true, 1) : 0;
}

static int print_jsonl_row(void *user, const cw_qa_row_t *r)
{
    table_state_t *ts = user;
    ts->rows++;
    printf("%s\n", r->json);
    return ferror(stdout) ? (ts->failed = true, 1) : 0;
}

/* One CSV field per RFC 4180: quoted when it holds a comma, quote or line
 * break, quotes doubled. */
static void csv_field(const char *s, bool last)
{
    if (strpbrk(s, ",\"\r\n")) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    putchar(last ? '\n' : ',');
}

static void csv_number(double v, const char *fmt)
{
    char buf[32] = "";
    if (!isnan(v))
        snprintf(buf, sizeof buf, fmt, v);
    csv_field(buf, false);
}

static int print_csv_row(void *user, const cw_qa_row_t *r)
{
    table_state_t *ts = user;
    if (ts->rows++ == 0)
        fputs("type,time_utc,call_id,agent_id,leg,id,kind,severity,score,t_start,t_end,text\n", stdout);
    char when[40] = "";
    if (r->wall_ms)
        cw_qa_format_time(r->wall_ms, when, sizeof when);
    csv_field(r->type, false);
    csv_field(when, false);
    csv_field(r->call_id, false);
    csv_field(r->agent_id, false);
    csv_field(r->leg, false);
    csv_field(r->id, false);
    csv_field(r->kind, false);
    csv_field(r->severity, false);
    csv_number(r->score, "%.3f");
    csv_number(r->t_start, "%.3f");
    csv_number(r->t_end, "%.3f");
    csv_field(r->text, true);
    return ferror(stdout) ? (ts->failed = true, 1) : 0;
}

static int print_timeline_row(void *user, const cw_qa_row_t *r)
{
    table_state_t *ts = user;
    ts->rows++;
    char at[24], text[512];
    call_clock(r->t, at, sizeof at);
    snprintf(text, sizeof text, "%s", r->text);
    if (strcmp(r->type, "transcript") == 0) {
        printf("%9s  %-9s %s\n", at, r->leg, text);
    } else if (strcmp(r->type, "alert") == 0) {
        char from[24], to[24];
        printf("%9s  %-9s %s %s %.2f (%s, %s-%s) %s  [%s]\n", at, "ALERT", r->kind, r->severity, r->score, r->leg,
               call_clock(r->t_start, from, sizeof from), call_clock(r->t_end, to, sizeof to), text, r->id);
    } else if (strcmp(r->type, "whisper") == 0) {
        printf("%9s  %-9s to %s: \"%s\" (because %s)\n", at, "WHISPER", r->agent_id, text, r->id);
    } else {
        char timing[128];
        printf("%9s  %-9s %s acknowledged by %s%s\n", at, "ACK", r->id, text, ack_timing(r, timing, sizeof timing));
    }
    return ferror(stdout) ? (ts->failed = true, 1) : 0;
}

/* ---- subcommands ---- */

static int finish(int rc, const table_state_t *ts, const cw_error_t *err)
{
    if (ts->failed || fflush(stdout) != 0) {
        app_log("qa: cannot write to stdout");
        return APP_FAILURE;
    }
    if (rc < 0) {
        app_log("%s", err->msg);
        return APP_FAILURE;
    }
    return APP_OK;
}

static int qa_search(cw_archive_t *a, qa_opts_t *o, bool export)
{
    cw_qa_row_fn fn = print_search_row;
    if (export) {
        if (!o->format) {
            app_log("qa export: --format csv or --format jsonl is required");
            return APP_USAGE;
        }
        if (strcmp(o->format, "csv") == 0)
            fn = print_csv_row;
        else if (strcmp(o->format, "jsonl") == 0)
            fn = print_jsonl_row;
        else {
            app_log("qa export: --format '%s': expected csv or jsonl", o->format);
            return APP_USAGE;
        }
    } else if (o->format) {
        app_log("qa search: --format is for export and timeline (search prints a table)");
        return APP_USAGE;
    }
    if (!resolve_times(a, o))
        return APP_USAGE;
    table_state_t ts = {0};
    cw_error_t err;
    cw_error_clear(&err);
    int rc = cw_qa_search(a, &o->filter, fn, &ts, &err);
    int status = finish(rc, &ts, &err);
    if (status == APP_OK && !export)
        printf("%ld match%s\n", ts.rows, ts.rows == 1 ? "" : "es");
    if (status == APP_OK && export)
        app_log("qa export: %ld row(s)", ts.rows);
    return status;
}

static int qa_timeline(cw_archive_t *a, qa_opts_t *o, const char *call_id)
{
    bool jsonl = false;
    if (o->format) {
        if (strcmp(o->format, "jsonl") == 0) {
            jsonl = true;
        } else if (strcmp(o->format, "text") != 0) {
            app_log("qa timeline: --format '%s': expected text or jsonl", o->format);
            return APP_USAGE;
        }
    }
    cw_error_t err;
    cw_error_clear(&err);
    cw_qa_call_t info;
    if (cw_qa_call_info(a, call_id, &info, &err) != CW_OK) {
        app_log("%s", err.msg);
        return APP_FAILURE;
    }
    if (!jsonl) {
        char when[40];
        printf("call %s  agent %s  line %s%s%s  started %s", info.call_id, info.agent_id[0] ? info.agent_id : "?",
               info.line[0] ? info.line : "?", info.team[0] ? "  team " : "", info.team,
               cw_qa_format_time(info.started_ms, when, sizeof when));
        if (!isnan(info.duration_s))
            printf("  duration %.1f s  ended: %s\n", info.duration_s, info.end_reason);
        else
            printf("  (no call_end archived: live or cut short)\n");
        printf("%ld alert(s), %ld transcript segment(s), %ld whisper(s), %ld ack(s)\n\n", info.alerts,
               info.transcripts, info.whispers, info.acks);
    }
    table_state_t ts = {0};
    int rc = cw_qa_timeline(a, call_id, jsonl ? print_jsonl_row : print_timeline_row, &ts, &err);
    return finish(rc, &ts, &err);
}

static int qa_shift(cw_archive_t *a, const cw_config_t *cfg, qa_opts_t *o)
{
    if (!o->filter.agent_id || !o->filter.agent_id[0]) {
        app_log("qa shift: --agent ID is required");
        return APP_USAGE;
    }
    if (!resolve_times(a, o))
        return APP_USAGE;
    cw_error_t err;
    cw_error_clear(&err);
    char path[CW_PATH_MAX];
    cw_qa_drift_params_t dp;
    if (cw_qa_drift_params_load(cw_config_model_path(cfg->archive_wellbeing, path, sizeof path), &dp, &err) !=
        CW_OK) {
        app_log("[archive] wellbeing: %s", err.msg);
        return APP_USAGE;
    }
    cw_qa_shift_t *s = NULL;
    if (cw_qa_shift(a, o->filter.agent_id, o->filter.since_ms, o->filter.until_ms, &dp, &s, &err) != CW_OK) {
        app_log("%s", err.msg);
        return APP_FAILURE;
    }
    char t1[40], t2[40];
    printf("agent %s, %s .. %s: %zu call(s), %ld alert(s), %d hostile call(s)\n", s->agent_id,
           cw_qa_format_time(s->since_ms, t1, sizeof t1), s->until_ms ? cw_qa_format_time(s->until_ms, t2, sizeof t2) : "now",
           s->n_calls, s->alerts, s->hostile_calls);
    printf("\nalerts per hour\n%-21s %5s %6s %8s %7s %4s %11s\n", "HOUR (UTC)", "CALLS", "ALERTS", "CRITICAL",
           "WARNING", "INFO", "FLAT_AFFECT");
    for (size_t i = 0; i < s->n_hours; i++) {
        const cw_qa_shift_hour_t *h = &s->hours[i];
        printf("%-21s %5d %6d %8d %7d %4d %11d\n", cw_qa_format_time(h->hour_ms, t1, sizeof t1), h->calls, h->alerts,
               h->critical, h->warning, h->info, h->flat_affect);
    }
    printf("\ncalls (F0 spread: the agent's pitch range in semitones; lower = flatter)\n"
           "%-21s %-28s %8s %6s %8s %11s %7s %9s %s\n",
           "START (UTC)", "CALL", "DURATION", "ALERTS", "CRITICAL", "FLAT_AFFECT", "HOSTILE", "F0_SPREAD", "FROM");
    for (size_t i = 0; i < s->n_calls; i++) {
        const cw_qa_shift_call_t *c = &s->calls[i];
        char dur[24] = "-", spread[24] = "-";
        if (!isnan(c->duration_s))
            snprintf(dur, sizeof dur, "%.0f s", c->duration_s);
        if (!isnan(c->measure))
            snprintf(spread, sizeof spread, "%.2f", c->measure);
        printf("%-21s %-28s %8s %6d %8d %11d %7s %9s %s\n", cw_qa_format_time(c->started_ms, t1, sizeof t1),
               c->call_id, dur, c->alerts, c->critical, c->flat_affect, c->hostile ? "yes" : "-", spread,
               c->measure_source[0] ? c->measure_source : "-");
    }
    printf("\nflat affect across the shift: ");
    if (s->measured < 2) {
        printf("%d call(s) with a measure; not enough to judge a trend\n", s->measured);
    } else {
        printf("%d call(s) measured, slope %+.2f st/call, first third %.2f st, last third %.2f st\n", s->measured,
               s->slope_st_per_call, s->first_third_st, s->last_third_st);
        if (s->drift)
            printf("DRIFT: %s's voice has gone flatter across the shift (F0 spread %.2f -> %.2f st)%s;"
                   " consider checking in with them\n",
                   s->agent_id, s->first_third_st, s->last_third_st,
                   s->hostile_calls ? ", with hostile calls this shift" : "");
        else
            printf("no drift (thresholds: at least %d calls, slope <= %.2f st/call, drop >= %.2f st)\n", dp.min_calls,
                   dp.slope_st_per_call, dp.drop_st);
    }
    cw_qa_shift_free(&s);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        app_log("qa: cannot write to stdout");
        return APP_FAILURE;
    }
    return APP_OK;
}

/* Reads one JSON Lines file into the open transaction; false (logged) on
 * the first line that is not an event, naming file and line. */
static bool import_file(cw_archive_t *a, const char *path, long *count)
{
    FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!in) {
        app_log("qa import: cannot open %s: %s", path, strerror(errno));
        return false;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    bool ok = true;
    while (ok && (len = getline(&line, &cap, in)) != -1) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0)
            continue;
        /* `tap --topics` lines are "TOPIC<TAB>JSON"; plain lines carry no
         * topic, and the event's type stands in for it. */
        char *json = line;
        const char *topic = NULL;
        char *tab = strchr(line, '\t');
        if (tab && line[0] != '{') {
            *tab = '\0';
            topic = line;
            json = tab + 1;
        }
        cw_error_t err;
        cw_error_clear(&err);
        if (cw_archive_store_json(a, topic ? topic : "import", json, &err) != CW_OK) {
            app_log("qa import: %s:%ld: %s", path, lineno, err.msg);
            ok = false;
        } else {
            (*count)++;
        }
    }
    if (ok && ferror(in)) {
        app_log("qa import: cannot read %s: %s", path, strerror(errno));
        ok = false;
    }
    free(line);
    if (in != stdin)
        fclose(in);
    return ok;
}

static int qa_import(cw_archive_t *a, int n, char **paths)
{
    cw_error_t err;
    cw_error_clear(&err);
    /* One transaction for everything: all files or nothing, one fsync. */
    if (cw_archive_begin(a, &err) != CW_OK) {
        app_log("%s", err.msg);
        return APP_FAILURE;
    }
    long count = 0;
    for (int i = 0; i < n; i++) {
        if (!import_file(a, paths[i], &count)) {
            cw_archive_rollback(a);
            app_log("qa import: nothing imported");
            return APP_FAILURE;
        }
    }
    if (cw_archive_commit(a, &err) != CW_OK) {
        app_log("%s", err.msg);
        return APP_FAILURE;
    }
    app_log("qa import: %ld event(s) into %s", count, cw_archive_path(a));
    return APP_OK;
}

int cmd_qa(int argc, char **argv)
{
    /* Options before the command (--db, -c) and after it are both taken. */
    qa_opts_t o;
    memset(&o, 0, sizeof o);
    int i = 1;
    while (i < argc && argv[i][0] == '-') {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            qa_usage(stdout);
            return APP_OK;
        }
        bool takes_value = strcmp(argv[i], "--db") == 0 || strcmp(argv[i], "-c") == 0 ||
                           strcmp(argv[i], "--config") == 0;
        if (!takes_value && strncmp(argv[i], "--db=", 5) != 0 && strncmp(argv[i], "--config=", 9) != 0) {
            app_log("qa: '%s' goes after the command (search, timeline, shift, export)", argv[i]);
            return APP_USAGE;
        }
        if (takes_value && i + 1 >= argc) {
            app_log("qa: %s needs a value", argv[i]);
            return APP_USAGE;
        }
        const char *value = takes_value ? argv[i + 1] : strchr(argv[i], '=') + 1;
        if (strncmp(argv[i], "--db", 4) == 0)
            o.db = value;
        else
            o.config = value;
        i += takes_value ? 2 : 1;
    }
    if (i >= argc) {
        app_log("qa: no command given");
        qa_usage(stderr);
        return APP_USAGE;
    }
    const char *command = argv[i];
    int sub_argc = argc - i;
    char **sub_argv = argv + i;
    bool help = false;
    if (!parse_opts(sub_argc, sub_argv, &o, &help)) {
        qa_usage(stderr);
        return APP_USAGE;
    }
    if (help) {
        qa_usage(stdout);
        return APP_OK;
    }
    int operands = sub_argc - optind;
    bool is_timeline = strcmp(command, "timeline") == 0;
    bool is_import = strcmp(command, "import") == 0;
    if (strcmp(command, "search") != 0 && strcmp(command, "export") != 0 && !is_timeline &&
        strcmp(command, "shift") != 0 && !is_import) {
        app_log("qa: unknown command '%s' (search, timeline, shift, export, import)", command);
        return APP_USAGE;
    }
    if (is_import && operands < 1) {
        app_log("qa import: give the JSON Lines file(s) to import (- for stdin)");
        return APP_USAGE;
    }
    if (!is_import && (is_timeline ? operands != 1 : operands != 0)) {
        if (is_timeline)
            app_log("qa timeline: give exactly one CALL_ID");
        else
            app_log("qa %s: unexpected argument '%s'", command, sub_argv[optind]);
        return APP_USAGE;
    }
    cw_config_t *cfg = NULL;
    int open_status = APP_OK;
    cw_archive_t *a = open_archive(&o, is_import, &cfg, &open_status);
    if (!a)
        return open_status;
    int status;
    if (is_import)
        status = qa_import(a, operands, sub_argv + optind);
    else if (is_timeline)
        status = qa_timeline(a, &o, sub_argv[optind]);
    else if (strcmp(command, "shift") == 0)
        status = qa_shift(a, cfg, &o);
    else
        status = qa_search(a, &o, strcmp(command, "export") == 0);
    cw_archive_close(&a);
    cw_config_destroy(&cfg);
    return status;
}
