/* fuzz_web.c - fuzz target: the web server's request handling (web.h), what
 * any browser or anyone reaching [web] listen sends.
 *
 * Input: "METHOD URL\n", then header lines "h:NAME: VALUE", cookie lines
 * "c:NAME=VALUE" and query lines "q:NAME=VALUE" up to an empty line, then
 * the body. A value "@" is replaced by a live session's id (cookie
 * cw_session) or CSRF token (header X-CSRF-Token), so routes behind the login
 * are reached too (POST /login is left out: each costs an Argon2 check;
 * setup logs in once). The server is offline (no socket) with one supervisor,
 * one agent, a call on its board and no archive. Every answer must be a
 * status 100..599 with a body; anything else (or a sanitizer report) aborts. */
#include "callwatch/users.h"
#include "callwatch/web.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FIELDS_MAX 32

typedef struct fields {
    char kind[FIELDS_MAX];
    char *name[FIELDS_MAX], *value[FIELDS_MAX];
    int n;
} fields_t;

static cw_web_t *web;
static cw_users_t *users;
static char session[128], csrf[128];

static const char *lookup(void *ctx, char kind, const char *name)
{
    fields_t *f = ctx;
    for (int i = 0; i < f->n; i++) {
        if (f->kind[i] != kind || strcasecmp(f->name[i], name) != 0)
            continue;
        if (strcmp(f->value[i], "@") == 0)
            return kind == 'c' ? session : csrf;
        return f->value[i];
    }
    return NULL;
}

static const char *find_cookie(void *ctx, char kind, const char *name)
{
    (void)kind;
    (void)name;
    return ctx;
}

static void setup(void)
{
    char path[] = "/tmp/cw-fuzz-web-XXXXXX";
    int fd = mkstemp(path);
    cw_error_t err;
    cw_error_clear(&err);
    if (fd < 0)
        abort();
    close(fd);
    unlink(path);
    if (cw_users_add(path, "sup", CW_ROLE_SUPERVISOR, "pw", &err) || cw_users_add(path, "ag", CW_ROLE_AGENT, "pw", &err))
        abort();
    users = cw_users_load(path, &err);
    unlink(path);
    cw_web_opts_t o = {.assets_dir = CALLWATCH_MODELS_DIR "/web", .users = users, .ended_linger_s = 60,
                       .session_idle_s = 3600};
    web = cw_web_new_offline(&o, &err);
    if (!users || !web)
        abort();
    cw_web_feed(web, "call.c1", "{\"type\":\"call_start\",\"call_id\":\"c1\",\"t\":0,\"agent_id\":\"ag\",\"team\":\"n\"}", 1);
    cw_web_feed(web, "alert.anger.c1", "{\"type\":\"alert\",\"call_id\":\"c1\",\"t\":3,\"id\":\"c1-a1\",\"leg\":\"customer\","
                "\"kind\":\"anger\",\"severity\":\"warning\",\"score\":0.7,\"t_start\":1,\"t_end\":2,\"evidence\":{},\"text\":\"x\"}", 2);
    cw_web_tick(web, 3);
    static const char login[] = "{\"name\":\"sup\",\"password\":\"pw\"}";
    cw_web_reply_t r;
    if (cw_web_answer(web, "POST", "/login", find_cookie, NULL, login, strlen(login), &r) != 200 || !r.set_cookie)
        abort();
    sscanf(r.set_cookie, "cw_session=%127[0-9a-f]", session);
    cw_web_reply_free(&r);
    if (cw_web_answer(web, "GET", "/api/me", find_cookie, session, "", 0, &r) != 200)
        abort();
    json_t *me = json_loadb(r.body, r.len, 0, NULL);
    snprintf(csrf, sizeof csrf, "%s", json_string_value(json_object_get(me, "csrf")));
    json_decref(me);
    cw_web_reply_free(&r);
}

/* Splits the input (a NUL-terminated copy, modified in place). */
static char *parse(char *text, char **method, char **url, fields_t *f)
{
    char *nl = strchr(text, '\n');
    if (!nl)
        return NULL;
    *nl = '\0';
    char *sp = strchr(text, ' ');
    if (!sp)
        return NULL;
    *sp = '\0';
    *method = text;
    *url = sp + 1;
    char *line = nl + 1;
    while (line && *line && *line != '\n' && f->n < FIELDS_MAX) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        char kind = line[0];
        bool field = line[1] == ':' && (kind == 'h' || kind == 'c' || kind == 'q');
        char *sep = !field ? NULL : kind == 'h' ? strstr(line + 2, ": ") : strchr(line + 2, '=');
        if (sep) {
            *sep = '\0';
            f->kind[f->n] = kind;
            f->name[f->n] = line + 2;
            f->value[f->n] = sep + (kind == 'h' ? 2 : 1);
            f->n++;
        }
        line = end ? end + 1 : NULL;
    }
    if (!line)
        return text + strlen(text); /* no body */
    return *line == '\n' ? line + 1 : line;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!web)
        setup();
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    char *method = NULL, *url = NULL;
    fields_t f = {0};
    char *body = parse(text, &method, &url, &f);
    /* A login costs an Argon2 check (64 MiB, ~0.1 s): done once in setup,
     * skipped here so the fuzzer keeps its pace. */
    bool login = body && strcmp(method, "POST") == 0 && strncmp(url, "/login", 6) == 0;
    if (body && !login) {
        /* The body as a heap copy of exactly its bytes. */
        size_t blen = size - (size_t)(body - text);
        char *b = malloc(blen ? blen : 1);
        if (!b)
            abort();
        memcpy(b, body, blen);
        cw_web_reply_t r;
        int status = cw_web_answer(web, method, url, lookup, &f, b, blen, &r);
        if (status < 100 || status > 599 || !r.body || (r.len && !r.content_type))
            abort();
        cw_web_reply_free(&r);
        free(b);
    }
    free(text);
    return 0;
}
