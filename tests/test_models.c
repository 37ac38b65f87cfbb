/* test_models.c - the detection models are loaded once and shared: calls of
 * one configuration get the same bundle; a model file replaced on disk gives
 * a fresh bundle while holders of the old one keep it; a broken file is
 * refused with its name; the last release frees (checked under ASan). */
#include "callwatch/models.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void copy_file(const char *from, const char *to)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    CHECK(in && out, "copy %s -> %s", from, to);
    char buf[65536];
    size_t n;
    while (in && out && (n = fread(buf, 1, sizeof buf, in)) > 0)
        fwrite(buf, 1, n, out);
    if (in)
        fclose(in);
    if (out)
        fclose(out);
}

int main(void)
{
    cw_config_t *cfg = cw_config_new();
    cw_error_t err;
    cw_error_clear(&err);
    if (!cfg || cw_config_load(cfg, cw_config_default_path(), &err) != CW_OK) {
        fprintf(stderr, "cannot load %s: %s\n", cw_config_default_path(), err.msg);
        return 1;
    }
    char dir[] = "/tmp/cw-test-models-XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "temp dir");
    char path[CW_PATH_MAX], cues[256], prosody[256];
    snprintf(cues, sizeof cues, "%s/cues.json", dir);
    snprintf(prosody, sizeof prosody, "%s/prosody.json", dir);
    copy_file(cw_config_model_path(cfg->cues, path, sizeof path), cues);
    copy_file(cw_config_model_path(cfg->prosody, path, sizeof path), prosody);
    snprintf(cfg->cues, sizeof cfg->cues, "%s", cues);
    snprintf(cfg->prosody, sizeof cfg->prosody, "%s", prosody);

    size_t loads0 = cw_models_loads();
    cw_models_t *a = cw_models_get(cfg, &err);
    cw_models_t *b = cw_models_get(cfg, &err);
    CHECK(a && b && a == b, "two calls of one config share one bundle: %s", err.msg);
    CHECK(cw_models_loads() == loads0 + 1, "the files were parsed once (%zu loads)", cw_models_loads() - loads0);
    CHECK(cw_lexicon_size(cw_models_lexicon(a)) > 100 && cw_models_voice(a) != NULL, "lexicon and voice model");

    /* The lexicon replaced on disk (an update before SIGHUP): new calls get
     * the new file, the call holding the old bundle keeps reading it. */
    char moved[300];
    snprintf(moved, sizeof moved, "%s/cues.old", dir);
    sleep(1); /* a new modification time even on coarse clocks */
    copy_file(cues, moved);
    unlink(cues);
    copy_file(moved, cues);
    unlink(moved);
    cw_models_t *c = cw_models_get(cfg, &err);
    CHECK(c && c != a, "a replaced file gives a fresh bundle: %s", err.msg);
    CHECK(cw_models_loads() == loads0 + 2, "parsed again once");
    CHECK(cw_lexicon_size(cw_models_lexicon(a)) == cw_lexicon_size(cw_models_lexicon(c)),
          "the old bundle is still readable by its holder");
    cw_models_release(&a);
    CHECK(a == NULL, "release NULLs the pointer");
    cw_models_release(&b); /* the old bundle's last call: freed (ASan would see a leak or a use after free) */

    /* A broken file: refused with its name, nothing cached. */
    FILE *f = fopen(prosody, "w");
    if (f) {
        fputs("{ not json", f);
        fclose(f);
    }
    cw_error_clear(&err);
    cw_models_t *d = cw_models_get(cfg, &err);
    CHECK(d == NULL && strstr(err.msg, "prosody.json"), "a broken voice model is refused naming it: %s", err.msg);

    cw_models_release(&c);
    cw_models_forget_all();
    cw_models_release(&d);
    unlink(cues);
    unlink(prosody);
    rmdir(dir);
    cw_config_destroy(&cfg);
    return check_summary("models");
}
