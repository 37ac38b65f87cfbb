/* test_web: the web server's answers without a socket (cw_web_answer) and
 * the users file: what a browser gets for each role, without a session, with
 * a bad cookie or CSRF token, for path traversal; and the wallboard a
 * supervisor reads: the worst unacknowledged call on top, one row per call
 * and kind whose severity rises in place. */
#include "callwatch/users.h"
#include "callwatch/web.h"

#include "check.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct req {
    const char *cookie, *csrf;
    const char *q[4][2];
} req_t;

static const char *lookup(void *ctx, char kind, const char *name)
{
    req_t *r = ctx;
    if (kind == 'c' && strcmp(name, "cw_session") == 0)
        return r->cookie;
    if (kind == 'h' && strcasecmp(name, "X-CSRF-Token") == 0)
        return r->csrf;
    for (int i = 0; kind == 'q' && i < 4 && r->q[i][0]; i++)
        if (strcmp(r->q[i][0], name) == 0)
            return r->q[i][1];
    return NULL;
}

static int ask(cw_web_t *w, const char *method, const char *url, req_t *r, const char *body, json_t **out)
{
    cw_web_reply_t rep;
    int st = cw_web_answer(w, method, url, lookup, r, body ? body : "", body ? strlen(body) : 0, &rep);
    if (out)
        *out = rep.body ? json_loads(rep.body, 0, NULL) : NULL;
    cw_web_reply_free(&rep);
    return st;
}

/* Logs in; fills session (cookie) and csrf. */
static int login(cw_web_t *w, const char *name, const char *pw, char *session, char *csrf)
{
    char body[256];
    snprintf(body, sizeof body, "{\"name\":\"%s\",\"password\":\"%s\"}", name, pw);
    req_t none = {0};
    cw_web_reply_t rep;
    int st = cw_web_answer(w, "POST", "/login", lookup, &none, body, strlen(body), &rep);
    if (st == 200 && rep.set_cookie) {
        sscanf(rep.set_cookie, "cw_session=%64[0-9a-f]", session);
        CHECK(strstr(rep.set_cookie, "HttpOnly") && strstr(rep.set_cookie, "SameSite=Strict"), "cookie flags: %s",
              rep.set_cookie);
    }
    cw_web_reply_free(&rep);
    if (st == 200) {
        req_t r = {.cookie = session};
        json_t *me = NULL;
        ask(w, "GET", "/api/me", &r, NULL, &me);
        snprintf(csrf, 65, "%s", json_string_value(json_object_get(me, "csrf")));
        json_decref(me);
    }
    return st;
}

static void feed(cw_web_t *w, const char *topic, const char *json, double now)
{
    cw_web_feed(w, topic, json, now);
}

static void alert(cw_web_t *w, const char *call, const char *id, const char *kind, const char *sev, double score,
                  double now)
{
    char json[512], topic[128];
    snprintf(json, sizeof json,
             "{\"type\":\"alert\",\"call_id\":\"%s\",\"t\":5,\"id\":\"%s\",\"leg\":\"customer\",\"kind\":\"%s\","
             "\"severity\":\"%s\",\"score\":%.2f,\"t_start\":1,\"t_end\":2,\"evidence\":{},\"text\":\"why\"}",
             call, id, kind, sev, score);
    snprintf(topic, sizeof topic, "alert.%s.%s", kind, call);
    feed(w, topic, json, now);
}

static void test_wallboard(cw_web_t *w, const char *session)
{
    feed(w, "call.c1", "{\"type\":\"call_start\",\"call_id\":\"c1\",\"t\":0,\"agent_id\":\"bob\",\"team\":\"south\"}", 1);
    feed(w, "call.c2", "{\"type\":\"call_start\",\"call_id\":\"c2\",\"t\":0,\"agent_id\":\"alice\",\"team\":\"north\"}", 1);
    alert(w, "c1", "c1-a1", "anger", "warning", 0.7, 2);
    alert(w, "c2", "c2-a1", "escalation", "info", 0.5, 2);
    alert(w, "c2", "c2-a2", "escalation", "critical", 0.9, 3);
    cw_web_tick(w, 3.5);
    req_t r = {.cookie = session};
    json_t *b = NULL;
    CHECK(ask(w, "GET", "/api/board", &r, NULL, &b) == 200, "board");
    json_t *calls = json_object_get(b, "calls");
    CHECK(json_array_size(calls) == 2, "two calls");
    json_t *top = json_array_get(calls, 0);
    CHECK(strcmp(json_string_value(json_object_get(top, "call_id")), "c2") == 0, "the critical call is on top");
    json_t *rows = json_object_get(top, "rows");
    CHECK(json_array_size(rows) == 1, "info then critical escalation: one row, not %zu", json_array_size(rows));
    CHECK(strcmp(json_string_value(json_object_get(json_array_get(rows, 0), "severity")), "critical") == 0,
          "the row rose to critical");
    CHECK(json_integer_value(json_object_get(json_object_get(json_object_get(b, "teams"), "north"), "critical")) == 1,
          "north counts one critical call");
    json_decref(b);
    /* Acknowledged (ack events on the bus): the warning call goes on top. */
    feed(w, "ack.c2", "{\"type\":\"ack\",\"call_id\":\"c2\",\"t\":0,\"alert_id\":\"c2-a1\",\"by\":\"s\",\"at\":\"x\"}", 4);
    feed(w, "ack.c2",
         "{\"type\":\"ack\",\"call_id\":\"c2\",\"t\":0,\"alert_id\":\"c2-a2\",\"by\":\"s\",\"at\":\"x\","
         "\"verified\":true,\"role\":\"supervisor\"}",
         4);
    cw_web_tick(w, 5);
    ask(w, "GET", "/api/board", &r, NULL, &b);
    top = json_array_get(json_object_get(b, "calls"), 0);
    CHECK(strcmp(json_string_value(json_object_get(top, "call_id")), "c1") == 0, "after the acks c1 is on top");
    json_t *acked = json_array_get(json_object_get(json_array_get(json_object_get(b, "calls"), 1), "rows"), 0);
    CHECK(json_is_true(json_object_get(acked, "acked_verified")), "a checked ack is marked verified on the board");
    json_t *feed_rows = json_object_get(b, "feed");
    int unverified = 0, verified = 0;
    for (size_t i = 0; i < json_array_size(feed_rows); i++) {
        json_t *a = json_array_get(feed_rows, i);
        const char *id = json_string_value(json_object_get(a, "id"));
        unverified += id && strcmp(id, "c2-a1") == 0 && json_is_false(json_object_get(a, "acked_verified"));
        verified += id && strcmp(id, "c2-a2") == 0 && json_is_true(json_object_get(a, "acked_verified"));
    }
    CHECK(unverified == 1 && verified == 1, "the feed tells an unchecked ack from a checked one (%d, %d)", unverified,
          verified);
    json_decref(b);
    /* Ended calls stay (greyed) for ended_linger_s (60 s here), then go. */
    feed(w, "call.c1", "{\"type\":\"call_end\",\"call_id\":\"c1\",\"t\":9,\"reason\":\"eof\",\"duration_s\":9}", 6);
    cw_web_tick(w, 30);
    ask(w, "GET", "/api/board", &r, NULL, &b);
    CHECK(json_array_size(json_object_get(b, "calls")) == 2, "an ended call lingers");
    json_decref(b);
    cw_web_tick(w, 70);
    ask(w, "GET", "/api/board", &r, NULL, &b);
    CHECK(json_array_size(json_object_get(b, "calls")) == 1, "and is dropped after ended_linger_s");
    json_decref(b);
}

static void test_access(cw_web_t *w, const char *sup, const char *sup_csrf, const char *agent)
{
    req_t none = {0}, bad = {.cookie = "zz"}, s = {.cookie = sup}, a = {.cookie = agent};
    CHECK(ask(w, "GET", "/api/board", &none, NULL, NULL) == 401, "no session: 401");
    CHECK(ask(w, "GET", "/wallboard", &none, NULL, NULL) == 303, "no session: page redirects to login");
    CHECK(ask(w, "GET", "/api/board", &bad, NULL, NULL) == 401, "bad cookie: 401");
    CHECK(ask(w, "GET", "/wallboard", &a, NULL, NULL) == 403, "agent: no wallboard");
    CHECK(ask(w, "GET", "/api/call?id=c1", &a, NULL, NULL) == 403, "agent: no call page");
    req_t other = {.cookie = agent, .q = {{"name", "bob"}}};
    CHECK(ask(w, "GET", "/api/agent", &other, NULL, NULL) == 403, "agent: not another agent's prompts");
    CHECK(ask(w, "GET", "/api/agent", &a, NULL, NULL) == 200, "agent: own prompts");
    CHECK(ask(w, "POST", "/api/ack", &s, "{}", NULL) == 403, "POST without CSRF token: 403");
    req_t wrong = {.cookie = sup, .csrf = "0000000000000000000000000000000000000000000000000000000000000000"};
    CHECK(ask(w, "POST", "/api/ack", &wrong, "{}", NULL) == 403, "wrong CSRF token: 403");
    req_t ok = {.cookie = sup, .csrf = sup_csrf};
    CHECK(ask(w, "POST", "/api/ack", &ok, "not json", NULL) == 400, "malformed body: 400");
    CHECK(ask(w, "GET", "/static/../../etc/passwd", &none, NULL, NULL) == 404, "traversal: 404");
    CHECK(ask(w, "GET", "/static/..%2fcallwatch.ini", &none, NULL, NULL) == 404, "encoded traversal: 404");
    CHECK(ask(w, "GET", "/static/app.css", &none, NULL, NULL) == 200, "assets are public");
    CHECK(ask(w, "GET", "/nowhere", &s, NULL, NULL) == 404, "unknown route: 404");
    CHECK(ask(w, "PUT", "/api/board", &s, NULL, NULL) == 405, "wrong method: 405");
    CHECK(ask(w, "POST", "/logout", &ok, "{}", NULL) == 200, "logout");
    CHECK(ask(w, "GET", "/api/board", &s, NULL, NULL) == 401, "the session ended at logout");
}

int main(void)
{
    char path[] = "/tmp/cw-test-web-XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0, "mkstemp");
    close(fd);
    unlink(path);
    cw_error_t err;
    cw_error_clear(&err);
    CHECK(cw_users_add(path, "sarah", CW_ROLE_SUPERVISOR, "s3cret", &err) == CW_OK, "add: %s", err.msg);
    CHECK(cw_users_add(path, "alice", CW_ROLE_AGENT, "pw-a", &err) == CW_OK, "add: %s", err.msg);
    CHECK(cw_users_add(path, "bad name", CW_ROLE_AGENT, "x", &err) == CW_ERR_INVALID, "bad name refused");
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "users file is 0600");
    cw_users_t *users = cw_users_load(path, &err);
    CHECK(users && cw_users_count(users) == 2, "load: %s", err.msg);
    cw_web_opts_t o = {.assets_dir = CALLWATCH_MODELS_DIR "/web", .users = users, .ended_linger_s = 60,
                       .session_idle_s = 3600};
    cw_web_t *w = cw_web_new_offline(&o, &err);
    CHECK(w != NULL, "offline server: %s", err.msg);
    char sup[65] = "", sup_csrf[65] = "", agent[65] = "", agent_csrf[65] = "";
    CHECK(login(w, "sarah", "wrong", sup, sup_csrf) == 401, "wrong password refused");
    CHECK(login(w, "nobody", "s3cret", sup, sup_csrf) == 401, "unknown user refused");
    CHECK(login(w, "sarah", "s3cret", sup, sup_csrf) == 200, "supervisor logs in");
    CHECK(login(w, "alice", "pw-a", agent, agent_csrf) == 200, "agent logs in");
    /* Guessing: 5 free wrong passwords, the 6th locks alice for 1 s. */
    char scratch[65] = "", scratch_csrf[65] = "";
    for (int i = 0; i < 6; i++)
        CHECK(login(w, "alice", "guess", scratch, scratch_csrf) == 401, "wrong password %d refused", i + 1);
    CHECK(login(w, "alice", "pw-a", scratch, scratch_csrf) == 429, "then even the right one waits: 429");
    CHECK(login(w, "sarah", "s3cret", scratch, scratch_csrf) == 200, "other users still log in");
    test_wallboard(w, sup);
    test_access(w, sup, sup_csrf, agent);
    cw_web_destroy(&w);
    cw_users_destroy(&users);
    unlink(path);
    return check_summary("web");
}
