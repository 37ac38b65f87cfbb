/* reload.c - `callwatch run` on SIGHUP: the configuration file and the
 * detector models it names are read again; new calls use them. */
#include "app.h"

#include "callwatch/models.h"
#include "callwatch/redact.h"

#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t app_reload_requested;

struct app_reloader {
    const cw_config_t *boot; /* borrowed: what the daemon started with */
    const char *path;        /* borrowed; NULL = the shipped default */
    cw_config_t *live;       /* owned; NULL while boot is live */
    /* Configs replaced by a later reload but maybe still read by the calls
     * that started under them; mark[i] says a call was seen using one. */
    cw_config_t **retired;
    bool *mark;
    int n_retired, cap_retired;
};

static void on_reload_signal(int sig)
{
    (void)sig;
    app_reload_requested = 1;
}

void app_install_reload_signal(void)
{
    app_on_signal(SIGHUP, on_reload_signal);
}

app_reloader_t *app_reloader_new(const cw_config_t *boot, const char *path)
{
    app_reloader_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->boot = boot;
    r->path = path;
    return r;
}

const cw_config_t *app_reloader_config(const app_reloader_t *r)
{
    return r->live ? r->live : r->boot;
}

/* Loads what a new call would load from cfg, so a broken lexicon, voice model
 * or redaction list is refused now rather than by the next call; the models
 * stay in the shared cache for the calls of the new generation. */
static int try_models(const cw_config_t *cfg, cw_error_t *err)
{
    cw_models_t *models = cw_models_get(cfg, err);
    if (!models)
        return err->code;
    cw_models_release(&models);
    cw_redactor_t *redactor = cw_redactor_new(cfg, err);
    if (!redactor)
        return err->code;
    cw_redactor_destroy(&redactor);
    return CW_OK;
}

static bool retire(app_reloader_t *r, cw_config_t *cfg)
{
    if (r->n_retired == r->cap_retired) {
        int cap = r->cap_retired ? 2 * r->cap_retired : 4;
        cw_config_t **grown = realloc(r->retired, (size_t)cap * sizeof *grown);
        if (!grown)
            return false;
        r->retired = grown;
        bool *marks = realloc(r->mark, (size_t)cap * sizeof *marks);
        if (!marks)
            return false;
        r->mark = marks;
        r->cap_retired = cap;
    }
    r->mark[r->n_retired] = false;
    r->retired[r->n_retired++] = cfg;
    return true;
}

bool app_reloader_reload(app_reloader_t *r)
{
    const cw_config_t *running = app_reloader_config(r);
    const char *from = r->path ? r->path : cw_config_default_path();
    app_log("SIGHUP: reloading %s", from);
    cw_config_t *next = app_load_config(r->path, false);
    if (!next) {
        app_log("SIGHUP: %s rejected; still running with the previous configuration", from);
        return false;
    }
    char changed[256];
    int n_changed = cw_config_keep_running(next, running, changed, sizeof changed);
    bool lines_changed = next->n_lines != running->n_lines;
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_config_validate(next, &err) != CW_OK) {
        app_log_config_error(next, &err);
        app_log("SIGHUP: %s rejected; still running with the previous configuration", from);
        cw_config_destroy(&next);
        return false;
    }
    if (try_models(next, &err) != CW_OK) {
        app_log("SIGHUP: %s: %s; rejected, still running with the previous configuration", from, err.msg);
        cw_config_destroy(&next);
        return false;
    }
    if (r->live && !retire(r, r->live)) {
        app_log("SIGHUP: out of memory; still running with the previous configuration");
        cw_config_destroy(&next);
        return false;
    }
    r->live = next;
    app_log("SIGHUP: reloaded %s: new calls use its lexicon, voice model and thresholds; calls in progress "
            "keep theirs",
            from);
    if (n_changed || lines_changed)
        app_log("SIGHUP: %s%s%s changed in %s: they take effect only at a restart", changed,
                n_changed && lines_changed ? " and " : "", lines_changed ? "the [line] sections" : "", from);
    return true;
}

int app_reloader_retired(const app_reloader_t *r)
{
    return r->n_retired;
}

void app_reloader_mark(app_reloader_t *r, const cw_config_t *in_use)
{
    for (int i = 0; i < r->n_retired; i++)
        if (r->retired[i] == in_use)
            r->mark[i] = true;
}

void app_reloader_sweep(app_reloader_t *r)
{
    int kept = 0;
    for (int i = 0; i < r->n_retired; i++) {
        if (r->mark[i]) {
            r->retired[kept] = r->retired[i];
            r->mark[kept++] = false;
        } else {
            cw_config_destroy(&r->retired[i]);
        }
    }
    r->n_retired = kept;
}

void app_reloader_destroy(app_reloader_t **rp)
{
    if (!rp || !*rp)
        return;
    app_reloader_t *r = *rp;
    for (int i = 0; i < r->n_retired; i++)
        cw_config_destroy(&r->retired[i]);
    free(r->retired);
    free(r->mark);
    cw_config_destroy(&r->live);
    free(r);
    *rp = NULL;
}
