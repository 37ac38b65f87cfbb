/* recording.c - what `analyze` knows about a recording besides its audio:
 * who, which team and when (command line and JSON sidecar), and the batch
 * progress line. */
#include "app.h"

#include "callwatch/event.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One sidecar key: where its text goes. */
static int take_key(const char *sidecar, const char *key, json_t *value, app_recording_t *r)
{
    if (!json_is_string(value) || !json_string_value(value)[0]) {
        app_log("%s: \"%s\" must be a non-empty string", sidecar, key);
        return APP_USAGE;
    }
    const char *text = json_string_value(value);
    if (strcmp(key, "agent_id") == 0) {
        snprintf(r->agent_id, sizeof r->agent_id, "%s", text);
    } else if (strcmp(key, "team") == 0) {
        snprintf(r->team, sizeof r->team, "%s", text);
    } else if (strcmp(key, "started_at") == 0) {
        cw_error_t err;
        cw_error_clear(&err);
        if (cw_event_parse_time(text, r->started_at, sizeof r->started_at, &err) != CW_OK) {
            app_log("%s: \"started_at\": %s", sidecar, err.msg);
            return APP_USAGE;
        }
    } else {
        app_log("%s: unknown key \"%s\" (a sidecar holds agent_id, team and started_at)", sidecar, key);
        return APP_USAGE;
    }
    return APP_OK;
}

int app_recording_sidecar(const char *audio_path, app_recording_t *r)
{
    char sidecar[CW_PATH_MAX + 8];
    snprintf(sidecar, sizeof sidecar, "%s.json", audio_path);
    struct stat st;
    if (stat(sidecar, &st) != 0)
        return APP_OK;
    json_error_t jerr;
    json_t *root = json_load_file(sidecar, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        app_log("%s:%d:%d: bad JSON: %s", sidecar, jerr.line, jerr.column, jerr.text);
        return APP_USAGE;
    }
    if (!json_is_object(root)) {
        app_log("%s: expected a JSON object {\"agent_id\": ..., \"team\": ..., \"started_at\": ...}", sidecar);
        json_decref(root);
        return APP_USAGE;
    }
    const char *key;
    json_t *value;
    int status = APP_OK;
    json_object_foreach(root, key, value)
    {
        status = take_key(sidecar, key, value, r);
        if (status != APP_OK)
            break;
    }
    json_decref(root);
    return status;
}

void app_recording_override(app_recording_t *r, const app_recording_t *cli)
{
    if (cli->agent_id[0])
        snprintf(r->agent_id, sizeof r->agent_id, "%s", cli->agent_id);
    if (cli->team[0])
        snprintf(r->team, sizeof r->team, "%s", cli->team);
    if (cli->started_at[0])
        snprintf(r->started_at, sizeof r->started_at, "%s", cli->started_at);
}

void app_progress_show(app_progress_t *p, int done, double audio_done_s, double now_s, bool last)
{
    if (!p->enabled || (!last && now_s < p->next_s))
        return;
    p->next_s = now_s + 1.0;
    double elapsed = now_s - p->started_s;
    double rate = elapsed > 0 ? audio_done_s / elapsed : 0; /* audio seconds per second */
    char eta[32] = "-";
    if (rate > 0 && done < p->n_files) {
        long s = (long)((p->audio_total_s - audio_done_s) / rate + 0.5);
        snprintf(eta, sizeof eta, "%ld:%02ld", s / 60, s % 60);
    }
    fprintf(stderr, "\r\033[Kanalyze: file %d of %d done, %.1fx real time, ETA %s", done, p->n_files, rate, eta);
    if (last)
        fputc('\n', stderr);
    fflush(stderr);
}

void app_progress_start(app_progress_t *p, int n_files, double audio_total_s, double now_s)
{
    memset(p, 0, sizeof *p);
    p->enabled = n_files > 1 && isatty(STDERR_FILENO);
    p->n_files = n_files;
    p->audio_total_s = audio_total_s;
    p->started_s = now_s;
    p->next_s = now_s + 1.0;
}
