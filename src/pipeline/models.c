/* models.c - see callwatch/models.h */
#include "callwatch/models.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Distinct model file versions kept; more are loaded but not cached. */
#define CACHE_MAX 8

typedef struct file_id {
    char path[CW_PATH_MAX];
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
} file_id_t;

struct cw_models {
    atomic_int refs;
    file_id_t cues, prosody;
    cw_lexicon_t *lexicon;
    cw_voice_model_t *voice;
};

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static cw_models_t *cache[CACHE_MAX];
static size_t loads;

static bool identify(const char *value, file_id_t *id)
{
    memset(id, 0, sizeof *id);
    cw_config_model_path(value, id->path, sizeof id->path);
    struct stat st;
    if (stat(id->path, &st) != 0)
        return false;
    id->dev = st.st_dev;
    id->ino = st.st_ino;
    id->size = st.st_size;
    id->mtime = st.st_mtim;
    return true;
}

static bool same_file(const file_id_t *a, const file_id_t *b)
{
    return strcmp(a->path, b->path) == 0 && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}

static void free_models(cw_models_t *m)
{
    cw_lexicon_destroy(&m->lexicon);
    cw_voice_model_destroy(&m->voice);
    free(m);
}

static cw_models_t *load(const file_id_t *cues, const file_id_t *prosody, cw_error_t *err)
{
    cw_models_t *m = calloc(1, sizeof *m);
    if (!m) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory loading the models");
        return NULL;
    }
    atomic_init(&m->refs, 1);
    m->cues = *cues;
    m->prosody = *prosody;
    m->lexicon = cw_lexicon_load(cues->path, err);
    m->voice = m->lexicon ? cw_voice_model_load(prosody->path, err) : NULL;
    if (!m->voice) {
        free_models(m);
        return NULL;
    }
    loads++;
    return m;
}

/* Keeps m in the cache (one reference of its own), replacing an older
 * version of the same files, else the first slot. Under cache_lock. */
static void remember(cw_models_t *m)
{
    size_t slot = CACHE_MAX;
    for (size_t i = 0; i < CACHE_MAX && slot == CACHE_MAX; i++)
        if (!cache[i] || (strcmp(cache[i]->cues.path, m->cues.path) == 0 &&
                          strcmp(cache[i]->prosody.path, m->prosody.path) == 0))
            slot = i;
    if (slot == CACHE_MAX)
        slot = 0;
    cw_models_release(&cache[slot]);
    cache[slot] = cw_models_retain(m);
}

cw_models_t *cw_models_get(const cw_config_t *cfg, cw_error_t *err)
{
    file_id_t cues, prosody;
    /* A missing file is left to the loader, which names it. */
    identify(cfg->cues, &cues);
    identify(cfg->prosody, &prosody);
    pthread_mutex_lock(&cache_lock);
    cw_models_t *m = NULL;
    for (size_t i = 0; i < CACHE_MAX && !m; i++)
        if (cache[i] && same_file(&cache[i]->cues, &cues) && same_file(&cache[i]->prosody, &prosody))
            m = cw_models_retain(cache[i]);
    if (!m && (m = load(&cues, &prosody, err)) != NULL)
        remember(m);
    pthread_mutex_unlock(&cache_lock);
    return m;
}

cw_models_t *cw_models_retain(cw_models_t *m)
{
    if (m)
        atomic_fetch_add(&m->refs, 1);
    return m;
}

void cw_models_release(cw_models_t **mp)
{
    if (!mp || !*mp)
        return;
    cw_models_t *m = *mp;
    *mp = NULL;
    if (atomic_fetch_sub(&m->refs, 1) == 1)
        free_models(m);
}

const cw_lexicon_t *cw_models_lexicon(const cw_models_t *m)
{
    return m ? m->lexicon : NULL;
}

const cw_voice_model_t *cw_models_voice(const cw_models_t *m)
{
    return m ? m->voice : NULL;
}

size_t cw_models_loads(void)
{
    pthread_mutex_lock(&cache_lock);
    size_t n = loads;
    pthread_mutex_unlock(&cache_lock);
    return n;
}

void cw_models_forget_all(void)
{
    pthread_mutex_lock(&cache_lock);
    for (size_t i = 0; i < CACHE_MAX; i++)
        cw_models_release(&cache[i]);
    pthread_mutex_unlock(&cache_lock);
}
