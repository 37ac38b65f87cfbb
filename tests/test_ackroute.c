/* test_ackroute.c - acknowledgements through the broker's ack router, over
 * real TCP sockets: two nodes' ack servers linked to the router (as `callwatch
 * run` with [bus] broker_ack_endpoint), a console's ack client at the router.
 *  - an ack of each node's alert is routed to that node (the one whose name
 *    starts the call id, also when another node's name is a shorter prefix)
 *    and answered ok by it; the node counts it as come through the broker;
 *  - an alert the node never raised is refused with the node's reason;
 *  - a call no node owns, a request without call_id and bad JSON are
 *    refused by the router with a reason;
 *  - a ping is answered by the router; with "calls": true it lists the calls
 *    of every node; a node that says hello but never answers makes an ack to
 *    it time out with a reason and a calls ping answer without a list;
 *  - the router's counters add up. */
#include "callwatch/ackroute.h"
#include "callwatch/acks.h"
#include "callwatch/bus.h"
#include "callwatch/event.h"
#include "callwatch/outbox.h"
#include "check.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* A request's answer, or NULL when none came within 3 s. */
static char *request(const char *endpoint, const char *json)
{
    cw_error_t err;
    cw_ack_client_t *c = cw_ack_client_new(endpoint, &err);
    char *reply = NULL;
    for (int i = 0; c && i < 150 && cw_ack_client_send(c, json, &err) != CW_OK; i++)
        usleep(20000);
    if (c && cw_ack_client_recv(c, &reply, 3000, &err) != 1)
        reply = NULL;
    cw_ack_client_destroy(&c);
    return reply;
}

static void observe(cw_ack_server_t *srv, const char *type, const char *call_id, const char *alert_id)
{
    json_t *obj = json_pack("{s:s, s:s, s:f}", "type", type, "call_id", call_id, "t", 1.0);
    if (alert_id)
        json_object_set_new(obj, "id", json_string(alert_id));
    char topic[CW_TOPIC_MAX];
    snprintf(topic, sizeof topic, "%s.%s", type, call_id);
    cw_event_t *ev = cw_event_from_json(topic, obj);
    cw_ack_server_observe(srv, ev);
    cw_event_destroy(&ev);
}

/* Waits until every node is linked: a calls ping lists each of calls. */
static bool wait_linked(const char *ep, const char *const *calls, size_t n)
{
    for (int i = 0; i < 50; i++) {
        char *r = request(ep, "{\"type\":\"ping\",\"calls\":true}");
        size_t listed = 0;
        for (size_t k = 0; r && k < n; k++)
            listed += strstr(r, calls[k]) != NULL;
        free(r);
        if (listed == n)
            return true;
        usleep(100000);
    }
    return false;
}

static void expect(const char *ep, const char *req, const char *want, const char *what)
{
    char *r = request(ep, req);
    CHECK(r && strstr(r, want), "%s: want %s, got %s", what, want, r ? r : "(no answer)");
    printf("%-28s %s\n", what, r ? r : "(no answer)");
    free(r);
}

/* A DEALER that says hello as node `name` and never answers. */
static void *silent_node(void *ctx, const char *endpoint, const char *name)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_ROUTING_ID, name, strlen(name));
    zmq_connect(s, endpoint);
    zmq_send(s, "", 0, ZMQ_SNDMORE);
    zmq_send(s, "{\"type\":\"hello\"}", 16, 0);
    return s;
}

static void test_routing(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_ack_router_t *router = cw_ack_router_new("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", NULL, &err);
    CHECK(router != NULL, "router: %s", err.msg);
    if (!router)
        return;
    const char *ep = cw_ack_router_client_endpoint(router), *node_ep = cw_ack_router_node_endpoint(router);
    cw_outbox_t *ob_a = cw_outbox_new(64, &err), *ob_b = cw_outbox_new(64, &err);
    /* "na" is a prefix of "na-east": calls of na-east must still go there. */
    cw_ack_link_t la = {node_ep, "na", NULL}, lb = {node_ep, "na-east", NULL};
    cw_ack_server_t *a = cw_ack_server_new_linked("tcp://127.0.0.1:*", ob_a, NULL, &la, &err);
    cw_ack_server_t *b = cw_ack_server_new_linked("tcp://127.0.0.1:*", ob_b, NULL, &lb, &err);
    CHECK(a && b, "linked ack servers: %s", err.msg);
    if (!a || !b)
        goto out;
    observe(a, "call_start", "na-desk1-1", NULL);
    observe(a, "alert", "na-desk1-1", "na-desk1-1-a1");
    observe(b, "call_start", "na-east-desk2-1", NULL);
    observe(b, "alert", "na-east-desk2-1", "na-east-desk2-1-a1");
    const char *calls[] = {"\"na-desk1-1\"", "\"na-east-desk2-1\""};
    CHECK(wait_linked(ep, calls, 2), "both nodes linked");

    expect(ep, "{\"type\":\"ack\",\"call_id\":\"na-desk1-1\",\"alert_id\":\"na-desk1-1-a1\",\"by\":\"sup\"}",
           "\"ok\":true", "ack of node na's alert");
    expect(ep,
           "{\"type\":\"ack\",\"call_id\":\"na-east-desk2-1\",\"alert_id\":\"na-east-desk2-1-a1\",\"by\":\"sup\"}",
           "\"ok\":true", "ack of node na-east's alert");
    expect(ep, "{\"type\":\"ack\",\"call_id\":\"na-desk1-1\",\"alert_id\":\"na-desk1-1-a7\",\"by\":\"sup\"}",
           "unknown alert \\\"na-desk1-1-a7\\\"", "unknown alert");
    expect(ep, "{\"type\":\"ack\",\"call_id\":\"zz-desk-1\",\"alert_id\":\"zz-desk-1-a1\",\"by\":\"sup\"}",
           "no node for call \\\"zz-desk-1\\\"", "call of no node");
    expect(ep, "{\"type\":\"ack\",\"alert_id\":\"x\",\"by\":\"sup\"}", "missing or empty \\\"call_id\\\"",
           "no call_id");
    expect(ep, "{\"type\":", "not JSON", "bad JSON");
    expect(ep, "{\"type\":\"ping\"}", "\"broker\":true", "ping");
    char *pong = request(ep, "{\"type\":\"ping\",\"calls\":true}");
    CHECK(pong && strstr(pong, "\"na-desk1-1\"") && strstr(pong, "\"na-east-desk2-1\""),
          "a calls ping lists both nodes' calls: %s", pong ? pong : "(no answer)");
    free(pong);

    cw_ack_stats_t st_a, st_b;
    cw_ack_server_get_stats(a, &st_a);
    cw_ack_server_get_stats(b, &st_b);
    CHECK(st_a.acks == 1 && st_b.acks == 1, "acks posted: na %llu, na-east %llu (want 1, 1)",
          (unsigned long long)st_a.acks, (unsigned long long)st_b.acks);
    CHECK(st_a.via_broker >= 2 && st_b.via_broker >= 1, "via the broker: na %llu, na-east %llu",
          (unsigned long long)st_a.via_broker, (unsigned long long)st_b.via_broker);

    /* A node that is linked but does not answer. */
    void *ctx = zmq_ctx_new();
    void *mute = silent_node(ctx, node_ep, "mute");
    usleep(300000);
    expect(ep, "{\"type\":\"ack\",\"call_id\":\"mute-d-1\",\"alert_id\":\"mute-d-1-a1\",\"by\":\"sup\"}",
           "node \\\"mute\\\" did not answer", "silent node");
    pong = request(ep, "{\"type\":\"ping\",\"calls\":true}");
    CHECK(pong && strstr(pong, "\"pong\"") && !strstr(pong, "\"calls\""),
          "a calls ping with a silent node answers without a list: %s", pong ? pong : "(no answer)");
    free(pong);
    zmq_close(mute);
    zmq_ctx_term(ctx);

    cw_ack_router_stats_t rs;
    cw_ack_router_get_stats(router, &rs);
    printf("router: %llu requests, %llu forwarded, %llu answered, %llu refused, %llu pings\n",
           (unsigned long long)rs.requests, (unsigned long long)rs.forwarded, (unsigned long long)rs.answered,
           (unsigned long long)rs.refused, (unsigned long long)rs.pings);
    CHECK(rs.forwarded == rs.answered + 1, "every forwarded ack answered but the silent node's");
    CHECK(rs.requests == rs.answered + rs.refused + rs.pings, "requests add up");
out:
    cw_ack_server_destroy(&a);
    cw_ack_server_destroy(&b);
    cw_outbox_destroy(&ob_a);
    cw_outbox_destroy(&ob_b);
    cw_ack_router_destroy(&router);
}

/* A node with a users file behind the router: the request reaches it
 * unchanged (password and all) and the node decides who acknowledged. */
static void test_checked_node(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    char dir[] = "/tmp/test_ackroute.XXXXXX", path[64];
    CHECK(mkdtemp(dir) != NULL, "temp dir");
    snprintf(path, sizeof path, "%s/users", dir);
    CHECK(cw_users_add(path, "sarah", CW_ROLE_SUPERVISOR, "sup-pw", &err) == CW_OK &&
              cw_users_add(path, "alice", CW_ROLE_AGENT, "agent-pw", &err) == CW_OK,
          "users file: %s", err.msg);
    cw_ack_router_t *router = cw_ack_router_new("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", NULL, &err);
    cw_outbox_t *ob = cw_outbox_new(64, &err);
    cw_ack_link_t link = {router ? cw_ack_router_node_endpoint(router) : "", "nc", NULL};
    cw_ack_auth_t auth = {path, NULL, NULL};
    cw_ack_server_t *node = router ? cw_ack_server_new_auth("tcp://127.0.0.1:*", ob, NULL, &link, &auth, &err) : NULL;
    CHECK(router && node, "router and a checked node: %s", err.msg);
    if (node) {
        const char *ep = cw_ack_router_client_endpoint(router);
        observe(node, "call_start", "nc-desk1-1", NULL);
        observe(node, "alert", "nc-desk1-1", "nc-desk1-1-a1");
        const char *calls[] = {"\"nc-desk1-1\""};
        CHECK(wait_linked(ep, calls, 1), "checked node linked");
#define NC_ACK "{\"type\":\"ack\",\"call_id\":\"nc-desk1-1\",\"alert_id\":\"nc-desk1-1-a1\","
        expect(ep, NC_ACK "\"by\":\"sarah\"}", "needs a password", "checked: no password");
        expect(ep, NC_ACK "\"by\":\"sarah\",\"password\":\"nope\"}", "wrong name or password",
               "checked: wrong password");
        expect(ep, NC_ACK "\"by\":\"alice\",\"password\":\"agent-pw\"}", "agent alice may not acknowledge",
               "checked: agent");
        expect(ep, NC_ACK "\"by\":\"sarah\",\"password\":\"sup-pw\"}",
               "\"verified\":true,\"role\":\"supervisor\"", "checked: supervisor");
#undef NC_ACK
        cw_ack_stats_t st;
        cw_ack_server_get_stats(node, &st);
        CHECK(st.acks == 1 && st.denied == 3 && st.via_broker >= 4, "checked node: %llu acks, %llu denied, %llu via",
              (unsigned long long)st.acks, (unsigned long long)st.denied, (unsigned long long)st.via_broker);
    }
    cw_ack_server_destroy(&node);
    cw_outbox_destroy(&ob);
    cw_ack_router_destroy(&router);
    unlink(path);
    rmdir(dir);
}

static void test_bad_setup(void)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_ack_router_t *r = cw_ack_router_new("tcp://127.0.0.1:*", "", NULL, &err);
    CHECK(!r && err.code == CW_ERR_INVALID, "no node endpoint refused: %s", err.msg);
    cw_error_clear(&err);
    r = cw_ack_router_new("bogus://x", "tcp://127.0.0.1:*", NULL, &err);
    CHECK(!r && strstr(err.msg, "bogus://x"), "bad endpoint named: %s", err.msg);
    cw_ack_router_destroy(&r);
}

int main(void)
{
    test_routing();
    test_checked_node();
    test_bad_setup();
    cw_bus_shutdown();
    return check_summary("ackroute");
}
