/* test_acks.c - the daemon's ack channel over a real REP socket: a valid
 * acknowledgement becomes an ack event in the outbox and the reply carries
 * it; garbage of every kind gets {"ok":false,"error":...}, is counted, and
 * the server keeps answering; pings are answered with the instance. */
#include "callwatch/acks.h"
#include "callwatch/bus.h"
#include "callwatch/outbox.h"
#include "callwatch/sink.h"
#include "check.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static json_t *ask(cw_ack_client_t *c, const char *req)
{
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_ack_client_send(c, req, &err) != CW_OK) {
        CHECK(0, "send: %s", err.msg);
        return NULL;
    }
    char *reply = NULL;
    int rc = cw_ack_client_recv(c, &reply, 3000, &err);
    CHECK(rc == 1, "reply within 3 s (rc %d %s)", rc, err.msg);
    json_t *r = reply ? json_loads(reply, 0, NULL) : NULL;
    CHECK(r != NULL, "reply is JSON: %s", reply ? reply : "(none)");
    free(reply);
    return r;
}

static void expect_refused(cw_ack_client_t *c, const char *req, const char *want)
{
    json_t *r = ask(c, req);
    const char *e = json_string_value(json_object_get(r, "error"));
    CHECK(r && json_is_false(json_object_get(r, "ok")) && e && strstr(e, want), "'%.60s' refused with '%s': %s", req,
          want, e ? e : "(no error)");
    json_decref(r);
}

/* The connection comes up in the background: wait for the first pong. */
static void check_ping(cw_ack_client_t *c)
{
    cw_error_t err;
    cw_error_clear(&err);
    json_t *r = NULL;
    for (int i = 0; i < 50 && !r; i++) {
        if (cw_ack_client_send(c, "{\"type\":\"ping\"}", &err) == CW_OK) {
            char *reply = NULL;
            if (cw_ack_client_recv(c, &reply, 2000, &err) == 1)
                r = json_loads(reply, 0, NULL);
            free(reply);
        } else {
            struct timespec ts = {0, 20000000};
            nanosleep(&ts, NULL);
        }
    }
    CHECK(r && json_is_true(json_object_get(r, "ok")) &&
              strcmp(json_string_value(json_object_get(r, "type")), "pong") == 0 &&
              json_string_length(json_object_get(r, "instance")) > 0,
          "ping answered with the instance");
    json_decref(r);
}

/* Only an alert this node raised can be acknowledged, on its own call. */
static void check_ack(cw_ack_client_t *c, cw_ack_server_t *srv)
{
    expect_refused(c, "{\"type\":\"ack\",\"call_id\":\"desk1-1\",\"alert_id\":\"desk1-1-a3\",\"by\":\"sup1\"}",
                   "unknown alert \"desk1-1-a3\"");
    cw_event_t *raised = cw_event_from_json("alert.anger.desk1-1",
                                            json_pack("{s:s,s:s,s:f,s:s,s:s}", "type", "alert", "call_id", "desk1-1",
                                                      "t", 3.0, "id", "desk1-1-a3", "kind", "anger"));
    cw_ack_server_observe(srv, raised);
    cw_event_destroy(&raised);
    expect_refused(c, "{\"type\":\"ack\",\"call_id\":\"desk2-7\",\"alert_id\":\"desk1-1-a3\",\"by\":\"sup1\"}",
                   "belongs to call \"desk1-1\"");
    json_t *r = ask(c, "{\"type\":\"ack\",\"call_id\":\"desk1-1\",\"alert_id\":\"desk1-1-a3\",\"by\":\"sup1\","
                       "\"note\":\"called back\"}");
    json_t *ack = json_object_get(r, "ack");
    CHECK(r && json_is_true(json_object_get(r, "ok")) && ack, "ack accepted");
    const char *at = json_string_value(json_object_get(ack, "at"));
    CHECK(ack && strcmp(json_string_value(json_object_get(ack, "type")), "ack") == 0 &&
              strcmp(json_string_value(json_object_get(ack, "alert_id")), "desk1-1-a3") == 0 &&
              strcmp(json_string_value(json_object_get(ack, "by")), "sup1") == 0 &&
              strcmp(json_string_value(json_object_get(ack, "note")), "called back") == 0 && at &&
              strlen(at) == 24 && at[23] == 'Z',
          "the ack event: who, what, when (%s)", at ? at : "");
    const char *acked_at = json_string_value(json_object_get(ack, "acked_at"));
    CHECK(acked_at && at && strcmp(acked_at, at) == 0, "the ack says when it was made: acked_at %s",
          acked_at ? acked_at : "(none)");
    CHECK(json_is_false(json_object_get(ack, "verified")) && !json_object_get(ack, "role"),
          "without a users file the name is taken as given, marked unverified");
    json_decref(r);
}

/* ---- who acknowledges: a server with a users file ---- */

typedef struct log_lines {
    char text[8192];
} log_lines_t;

static void collect_log(void *user, const char *line)
{
    log_lines_t *l = user;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof l->text - n, "%s\n", line);
}

/* An ack of desk1-1-a3 as by with extra fields ("\"password\":\"...\"" etc.). */
static json_t *ack_as(cw_ack_client_t *c, const char *by, const char *extra)
{
    char req[1024];
    snprintf(req, sizeof req,
             "{\"type\":\"ack\",\"call_id\":\"desk1-1\",\"alert_id\":\"desk1-1-a3\",\"by\":\"%s\","
             "\"note\":\"n\"%s%s}",
             by, extra[0] ? "," : "", extra);
    return ask(c, req);
}

static void expect_ack_refused(cw_ack_client_t *c, const char *by, const char *extra, const char *want)
{
    json_t *r = ack_as(c, by, extra);
    const char *e = json_string_value(json_object_get(r, "error"));
    CHECK(r && json_is_false(json_object_get(r, "ok")) && e && strstr(e, want), "ack as %s {%s} refused with '%s': %s",
          by, extra, want, e ? e : "(no error)");
    json_decref(r);
}

static void expect_ack_verified(cw_ack_client_t *c, const char *by, const char *extra)
{
    json_t *r = ack_as(c, by, extra);
    json_t *ack = json_object_get(r, "ack");
    const char *role = json_string_value(json_object_get(ack, "role"));
    CHECK(r && json_is_true(json_object_get(r, "ok")) && json_is_true(json_object_get(ack, "verified")) && role &&
              strcmp(role, "supervisor") == 0 && strcmp(json_string_value(json_object_get(ack, "by")), by) == 0,
          "ack as %s {%.40s} accepted, verified supervisor: %s", by, extra,
          json_string_value(json_object_get(r, "error")) ? json_string_value(json_object_get(r, "error")) : "");
    json_decref(r);
}

/* The web's way: a signature made with the users file, no password. */
static void signed_extra(const cw_users_t *u, const char *by, const char *note, char *out, size_t cap)
{
    char sig[CW_USER_SIG_HEX + 1] = "";
    char *text = cw_ack_signed_text("desk1-1", "desk1-1-a3", by, note);
    cw_users_sign(u, by, text, sig);
    free(text);
    snprintf(out, cap, "\"signature\":\"%s\"", sig);
}

/* Password guessing: after 5 wrong passwords for bob, a sixth locks the
 * name for 1 s; then even the right one is refused unchecked, other
 * supervisors go on, and bob gets in once the lock ran out. */
static void check_guessing(cw_ack_client_t *c)
{
    for (int i = 0; i < 6; i++)
        expect_ack_refused(c, "bob", "\"password\":\"guess\"", "wrong name or password");
    expect_ack_refused(c, "bob", "\"password\":\"bob-pw\"", "too many wrong passwords for bob: try again in 1 s");
    expect_ack_verified(c, "sarah", "\"password\":\"sup-pw\"");
    struct timespec lock = {1, 100 * 1000 * 1000};
    nanosleep(&lock, NULL);
    expect_ack_verified(c, "bob", "\"password\":\"bob-pw\"");
}

static void check_identity_requests(cw_ack_client_t *c, const char *users_path)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_users_t *u = cw_users_load(users_path, &err);
    CHECK(u != NULL, "users load: %s", err.msg);
    char extra[256];
    expect_ack_refused(c, "sarah", "", "needs a password");
    expect_ack_refused(c, "sarah", "\"password\":\"guess\"", "wrong name or password");
    expect_ack_refused(c, "nobody", "\"password\":\"sup-pw\"", "wrong name or password");
    expect_ack_refused(c, "alice", "\"password\":\"agent-pw\"", "agent alice may not acknowledge");
    expect_ack_refused(c, "quinn", "\"password\":\"qa-pw\"", "qa quinn may not acknowledge");
    expect_ack_refused(c, "sarah", "\"password\":7", "\"password\" is not a string");
    expect_ack_verified(c, "sarah", "\"password\":\"sup-pw\"");
    signed_extra(u, "sarah", "n", extra, sizeof extra);
    expect_ack_verified(c, "sarah", extra);
    signed_extra(u, "sarah", "another note", extra, sizeof extra); /* signed for other fields */
    expect_ack_refused(c, "sarah", extra, "wrong name or signature");
    signed_extra(u, "alice", "n", extra, sizeof extra);
    expect_ack_refused(c, "alice", extra, "agent alice may not acknowledge");
    expect_ack_refused(c, "sarah", "\"signature\":\"00\"", "wrong name or signature");
    cw_users_destroy(&u);
    /* `callwatch user add` while the daemon runs: the next ack sees it. */
    CHECK(cw_users_add(users_path, "bob", CW_ROLE_SUPERVISOR, "bob-pw", &err) == CW_OK, "add bob: %s", err.msg);
    expect_ack_verified(c, "bob", "\"password\":\"bob-pw\"");
    check_guessing(c);
}

static void check_identity(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    char dir[] = "/tmp/test_acks.XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL, "temp dir");
    snprintf(path, sizeof path, "%s/users", dir);
    CHECK(cw_users_add(path, "sarah", CW_ROLE_SUPERVISOR, "sup-pw", &err) == CW_OK &&
              cw_users_add(path, "alice", CW_ROLE_AGENT, "agent-pw", &err) == CW_OK &&
              cw_users_add(path, "quinn", CW_ROLE_QA, "qa-pw", &err) == CW_OK,
          "users file: %s", err.msg);
    cw_outbox_t *ob = cw_outbox_new(64, &err);
    FILE *devnull = fopen("/dev/null", "w");
    cw_sink_t *sink = cw_sink_jsonl_new(devnull);
    CHECK(ob && cw_outbox_add_sink(ob, &sink, &err) == CW_OK && cw_outbox_start(ob, &err) == CW_OK, "outbox: %s",
          err.msg);
    log_lines_t log = {.text = ""};
    char missing[80];
    snprintf(missing, sizeof missing, "%s/nosuch", dir);
    cw_ack_auth_t bad = {missing, collect_log, &log};
    cw_ack_server_t *srv = cw_ack_server_new_auth("tcp://127.0.0.1:*", ob, NULL, NULL, &bad, &err);
    CHECK(!srv && strstr(err.msg, missing), "a missing users file stops the start: %s", err.msg);
    cw_ack_auth_t auth = {path, collect_log, &log};
    srv = cw_ack_server_new_auth("tcp://127.0.0.1:*", ob, NULL, NULL, &auth, &err);
    CHECK(srv != NULL, "server with users: %s", err.msg);
    cw_ack_client_t *c = srv ? cw_ack_client_new(cw_ack_server_endpoint(srv), &err) : NULL;
    if (c) {
        cw_event_t *raised = cw_event_from_json("alert.anger.desk1-1",
                                                json_pack("{s:s,s:s,s:f,s:s,s:s}", "type", "alert", "call_id",
                                                          "desk1-1", "t", 3.0, "id", "desk1-1-a3", "kind", "anger"));
        cw_ack_server_observe(srv, raised);
        cw_event_destroy(&raised);
        check_ping(c);
        check_identity_requests(c, path);
        cw_ack_stats_t st;
        cw_ack_server_get_stats(srv, &st);
        CHECK(st.acks == 5 && st.denied == 15 && st.rejected == 16, "stats: %llu acks, %llu denied, %llu rejected",
              (unsigned long long)st.acks, (unsigned long long)st.denied, (unsigned long long)st.rejected);
    }
    cw_ack_client_destroy(&c);
    cw_ack_server_destroy(&srv);
    cw_outbox_destroy(&ob);
    fclose(devnull);
    CHECK(strstr(log.text, "acks: refused to acknowledge desk1-1-a3 of call desk1-1 as \"sarah\": wrong name or "
                           "password") &&
              strstr(log.text, "as \"alice\": agent alice may not acknowledge") &&
              strstr(log.text, "users file") && !strstr(log.text, "sup-pw") && !strstr(log.text, "guess"),
          "refusals and the reload logged, no password: %s", log.text);
    unlink(path);
    rmdir(dir);
}

/* Garbage of every kind is refused with the reason. */
static void check_refusals(cw_ack_client_t *c)
{
    expect_refused(c, "this is not json", "not JSON");
    /* Error messages quoting bytes that are not UTF-8 (found by fuzz_acks):
     * the real reason, not "out of memory". */
    expect_refused(c, "{\"type\":\"ack\",\"call_id\":\"c\\\xd8\xa1\"}", "not JSON");
    expect_refused(c, "{\"type\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\xc3\xa9\"}", "unknown type");
    expect_refused(c, "[1,2,3]", "not a JSON object");
    expect_refused(c, "{\"call_id\":\"x\"}", "missing \"type\"");
    expect_refused(c, "{\"type\":\"delete\"}", "unknown type");
    expect_refused(c, "{\"type\":\"ack\",\"alert_id\":\"a\",\"by\":\"b\"}", "missing \"call_id\"");
    expect_refused(c, "{\"type\":\"ack\",\"call_id\":\"c\",\"by\":\"b\"}", "missing \"alert_id\"");
    expect_refused(c, "{\"type\":\"ack\",\"call_id\":\"c\",\"alert_id\":\"a\",\"by\":\"\"}", "\"by\" is empty");
    expect_refused(c, "{\"type\":\"ack\",\"call_id\":\"c\",\"alert_id\":7,\"by\":\"b\"}", "not a string");
    expect_refused(c, "{\"type\":\"ack\",\"call_id\":\"c d\",\"alert_id\":\"a\",\"by\":\"b\"}", "spaces");
    expect_refused(c, "{\"type\":\"ack\",\"call_id\":\"c\",\"alert_id\":\"a\",\"by\":\"b\\u0000x\"}", "NUL");
    expect_refused(c, "{\"type\":\"ack\",\"call_id\":\"c\",\"alert_id\":\"a\",\"by\":\"b\",\"note\":5}",
                   "\"note\" is not a string");
    char big[6000];
    memset(big, ' ', sizeof big);
    memcpy(big, "{\"type\":\"ping\"}", 15);
    big[sizeof big - 1] = '\0';
    expect_refused(c, big, "over the limit");
    char longby[400];
    snprintf(longby, sizeof longby, "{\"type\":\"ack\",\"call_id\":\"c\",\"alert_id\":\"a\",\"by\":\"%0300d\"}", 0);
    expect_refused(c, longby, "more than 128");
}

/* A request of several frames, from a raw REQ socket. */
static void check_multi_frame(const char *ep)
{
    cw_error_t err;
    cw_error_clear(&err);
    void *raw = cw_bus_socket_open(ZMQ_REQ, &err);
    int zero = 0;
    zmq_setsockopt(raw, ZMQ_LINGER, &zero, sizeof zero);
    int rcvtimeo = 3000;
    zmq_setsockopt(raw, ZMQ_RCVTIMEO, &rcvtimeo, sizeof rcvtimeo);
    CHECK(zmq_connect(raw, ep) == 0, "raw connect");
    zmq_send(raw, "{\"type\":", 8, ZMQ_SNDMORE);
    zmq_send(raw, "\"ping\"}", 7, 0);
    char buf[512];
    int n = zmq_recv(raw, buf, sizeof buf - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    CHECK(n > 0 && strstr(buf, "\"ok\":false") && strstr(buf, "one frame"), "multi-frame refused: %s", buf);
    cw_bus_socket_close(raw);
}

/* The calls in progress, for consoles that join late. */
static void check_calls_in_progress(cw_ack_client_t *c, cw_ack_server_t *srv)
{
    cw_event_t *start = cw_event_call_start("desk1-1", 0, &(cw_call_meta_t){.agent_id = "alice", .team = "north"});
    cw_event_t *start2 = cw_event_call_start("desk2-1", 0, &(cw_call_meta_t){.agent_id = "bob"});
    cw_event_t *end2 = cw_event_call_end("desk2-1", 5, "eof", 5, NULL, NULL);
    cw_ack_server_observe(srv, start);
    cw_ack_server_observe(srv, start2);
    cw_ack_server_observe(srv, end2);
    json_t *r = ask(c, "{\"type\":\"ping\",\"calls\":true}");
    json_t *calls = json_object_get(r, "calls");
    json_t *first = json_array_get(calls, 0);
    CHECK(json_array_size(calls) == 1 && strcmp(json_string_value(json_object_get(first, "agent_id")), "alice") == 0 &&
              strcmp(json_string_value(json_object_get(first, "team")), "north") == 0 &&
              strcmp(json_string_value(json_object_get(first, "type")), "call_start") == 0,
          "pong lists the call in progress (not the ended one)");
    json_decref(r);
    r = ask(c, "{\"type\":\"ping\"}");
    CHECK(r && json_object_get(r, "calls") == NULL, "a plain ping lists no calls");
    json_decref(r);
    cw_event_destroy(&start);
    cw_event_destroy(&start2);
    cw_event_destroy(&end2);
}

int main(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    char *captured = NULL;
    size_t captured_len = 0;
    FILE *mem = open_memstream(&captured, &captured_len);
    cw_sink_t *sink = cw_sink_jsonl_new(mem);
    cw_outbox_t *ob = cw_outbox_new(64, &err);
    CHECK(ob && cw_outbox_add_sink(ob, &sink, &err) == CW_OK && cw_outbox_start(ob, &err) == CW_OK, "outbox: %s",
          err.msg);
    cw_ack_server_t *srv = cw_ack_server_new("tcp://127.0.0.1:*", ob, &err);
    CHECK(srv != NULL, "server binds: %s", err.msg);
    if (!srv)
        return check_summary("acks");
    const char *ep = cw_ack_server_endpoint(srv);
    CHECK(strncmp(ep, "tcp://127.0.0.1:", 16) == 0 && strchr(ep + 16, '*') == NULL, "resolved endpoint %s", ep);

    /* A second daemon on the same endpoint is told so. */
    cw_ack_server_t *dup = cw_ack_server_new(ep, ob, &err);
    CHECK(dup == NULL && err.code == CW_ERR_BUSY && strstr(err.msg, ep), "endpoint in use: %s", err.msg);

    cw_ack_client_t *c = cw_ack_client_new(ep, &err);
    CHECK(c != NULL, "client: %s", err.msg);
    check_ping(c);
    check_ack(c, srv);
    check_refusals(c);
    check_multi_frame(ep);
    check_calls_in_progress(c, srv);
    check_identity();

    /* Still serving after all that. */
    json_t *r = ask(c, "{\"type\":\"ping\"}");
    CHECK(r && json_is_true(json_object_get(r, "ok")), "still answering");
    json_decref(r);

    cw_ack_stats_t st;
    cw_ack_server_get_stats(srv, &st);
    CHECK(st.acks == 1 && st.rejected == 18 && st.pings >= 4 && st.requests == st.acks + st.rejected + st.pings,
          "stats: %llu acks, %llu rejected, %llu pings", (unsigned long long)st.acks, (unsigned long long)st.rejected,
          (unsigned long long)st.pings);

    cw_ack_client_destroy(&c);
    cw_ack_server_stop(srv);
    cw_event_t *late = cw_event_call_start("desk3-1", 0, NULL);
    cw_ack_server_observe(srv, late); /* after stop, still safe */
    cw_event_destroy(&late);
    cw_ack_server_stop(srv);
    cw_ack_server_destroy(&srv);
    CHECK(srv == NULL, "server destroyed");
    cw_outbox_destroy(&ob);
    fclose(mem);
    /* Exactly one event reached the outbox: the accepted ack. */
    CHECK(captured && strstr(captured, "\"type\":\"ack\"") && strstr(captured, "\"alert_id\":\"desk1-1-a3\"") &&
              strchr(captured, '\n') == captured + captured_len - 1,
          "one ack event written: %s", captured ? captured : "");
    free(captured);

    /* Nothing listening: a request fails at once instead of hanging. */
    c = cw_ack_client_new("tcp://127.0.0.1:1", &err);
    CHECK(c && cw_ack_client_send(c, "{\"type\":\"ping\"}", &err) == CW_ERR_IO && strstr(err.msg, "not reachable"),
          "no daemon: %s", err.msg);
    cw_ack_client_destroy(&c);
    cw_bus_shutdown();
    return check_summary("acks");
}
