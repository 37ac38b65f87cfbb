/* test_curve.c - the CURVE-protected bus as subscribers see it, over real
 * TCP sockets: a subscriber whose key is listed in the clients directory gets
 * every event; one with an unlisted key and one with no key get nothing. Key
 * files from keygen are private; bad certificates and plain binds on
 * non-loopback addresses are refused with messages naming what is wrong.
 * The acknowledgement channel likewise: a listed console key gets replies,
 * an unlisted key or none gets no answer at all; and a broker with CURVE on
 * both sides passes only a listed node's events, only to listed subscribers. */
#include "callwatch/acks.h"
#include "callwatch/broker.h"
#include "callwatch/bus.h"
#include "callwatch/curve.h"
#include "callwatch/event.h"
#include "check.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define EVENTS 200

static char dir[256];
static char clients[300];

static void publish(cw_sink_t *pub, const char *call_id)
{
    cw_event_t *ev = cw_event_call_start(call_id, 0, NULL);
    cw_error_t err;
    cw_sink_write(pub, ev, &err);
    cw_event_destroy(&ev);
}

/* Events received within timeout_ms whose call_id starts with prefix. */
static int drain(cw_bus_sub_t *sub, const char *prefix, int timeout_ms)
{
    int n = 0;
    char topic[CW_TOPIC_MAX];
    char *json = NULL;
    cw_error_t err;
    while (cw_bus_sub_recv(sub, topic, sizeof topic, &json, timeout_ms, &err) == 1) {
        if (strstr(json, prefix))
            n++;
        free(json);
    }
    return n;
}

static void test_keygen(void)
{
    cw_error_t err;
    char pub[512], sec[512];
    CHECK(cw_curve_keygen(dir, "server", pub, sec, sizeof pub, &err) == CW_OK, "keygen server: %s", err.msg);
    struct stat st;
    CHECK(stat(sec, &st) == 0 && (st.st_mode & 0777) == 0600, "secret key mode %o, want 600", st.st_mode & 0777);
    CHECK(stat(pub, &st) == 0 && (st.st_mode & 0077) == 0044, "public key readable, mode %o", st.st_mode & 0777);
    CHECK(cw_curve_keygen(dir, "server", NULL, NULL, 0, &err) == CW_ERR_BUSY && strstr(err.msg, "not overwriting"),
          "second keygen refused: %s", err.msg);
    CHECK(cw_curve_keygen(dir, "../evil", NULL, NULL, 0, &err) == CW_ERR_INVALID, "name with a slash refused");
    /* Admitted client: its public certificate goes into the clients dir. */
    CHECK(cw_curve_keygen(clients, "alice", NULL, NULL, 0, &err) == CW_OK, "keygen alice: %s", err.msg);
    CHECK(cw_curve_keygen(dir, "mallory", NULL, NULL, 0, &err) == CW_OK, "keygen mallory: %s", err.msg);
    char alice_secret[512];
    snprintf(alice_secret, sizeof alice_secret, "%s/alice.key_secret", clients);
    char moved[512];
    snprintf(moved, sizeof moved, "%s/alice.key_secret", dir);
    /* The secret stays with the client, not in the server's list. */
    CHECK(rename(alice_secret, moved) == 0, "move alice's secret out of the clients dir");
}

static void test_listed_unlisted_plain(void)
{
    cw_error_t err;
    char path[512], pubpath[512];
    snprintf(path, sizeof path, "%s/server.key_secret", dir);
    cw_curve_server_t *srv = cw_curve_server_new(path, clients, &err);
    CHECK(srv != NULL, "server: %s", err.msg);
    if (!srv)
        return;
    cw_curve_server_t *second = cw_curve_server_new(path, clients, &err);
    CHECK(!second && err.code == CW_ERR_BUSY && strstr(err.msg, "already"), "second server refused: %s", err.msg);
    cw_bus_security_t sec = {.curve = srv};
    cw_sink_t *pub = cw_bus_publisher_new_secure("tcp://127.0.0.1:*", 10000, &sec, &err);
    CHECK(pub != NULL, "CURVE publisher: %s", err.msg);
    if (!pub) {
        cw_curve_server_destroy(&srv);
        return;
    }
    const char *ep = cw_bus_publisher_endpoint(pub);
    snprintf(pubpath, sizeof pubpath, "%s/server.key", dir);

    snprintf(path, sizeof path, "%s/alice.key_secret", dir);
    cw_curve_client_t *alice = cw_curve_client_new(path, pubpath, &err);
    CHECK(alice != NULL, "alice client: %s", err.msg);
    snprintf(path, sizeof path, "%s/mallory.key_secret", dir);
    /* Mallory even knows the server key as text. */
    cw_curve_client_t *mallory = cw_curve_client_new(path, cw_curve_server_public(srv), &err);
    CHECK(mallory != NULL, "mallory client: %s", err.msg);

    cw_bus_sub_t *listed = cw_bus_sub_new_secure(ep, "", alice, &err);
    cw_bus_sub_t *unlisted = cw_bus_sub_new_secure(ep, "", mallory, &err);
    cw_bus_sub_t *nokey = cw_bus_sub_new(ep, "", &err);
    cw_curve_client_destroy(&alice);
    cw_curve_client_destroy(&mallory);
    CHECK(listed && unlisted && nokey, "subscribers: %s", err.msg);
    if (!listed || !unlisted || !nokey)
        goto out;

    /* Wait until the listed subscriber is joined (handshake + ZAP). */
    bool joined = false;
    for (int i = 0; i < 100 && !joined; i++) {
        publish(pub, "probe");
        joined = drain(listed, "probe", 50) > 0;
    }
    CHECK(joined, "listed subscriber joined through CURVE");
    /* The others had the same time and more to connect. */
    int bad_probe = drain(unlisted, "", 300) + drain(nokey, "", 300);
    CHECK(bad_probe == 0, "unlisted/no-key received %d probe(s)", bad_probe);

    for (int i = 0; i < EVENTS; i++) {
        char id[32];
        snprintf(id, sizeof id, "secret-%d", i);
        publish(pub, id);
    }
    int got = drain(listed, "secret-", 500);
    int got_unlisted = drain(unlisted, "", 500);
    int got_nokey = drain(nokey, "", 500);
    CHECK(got == EVENTS, "listed key received %d of %d", got, EVENTS);
    CHECK(got_unlisted == 0, "unlisted key received %d", got_unlisted);
    CHECK(got_nokey == 0, "no key received %d", got_nokey);
    printf("curve: listed %d/%d, unlisted %d, no key %d\n", got, EVENTS, got_unlisted, got_nokey);

    /* Keys are read again when the directory changes: list mallory's now,
     * and a fresh subscriber with her key gets in. */
    {
        char from[512], to[512];
        snprintf(from, sizeof from, "%s/mallory.key", dir);
        snprintf(to, sizeof to, "%s/mallory.key", clients);
        CHECK(link(from, to) == 0, "list mallory's key");
        snprintf(path, sizeof path, "%s/mallory.key_secret", dir);
        cw_curve_client_t *now_listed = cw_curve_client_new(path, pubpath, &err);
        cw_bus_sub_t *late = now_listed ? cw_bus_sub_new_secure(ep, "", now_listed, &err) : NULL;
        cw_curve_client_destroy(&now_listed);
        bool late_joined = false;
        for (int i = 0; late && i < 100 && !late_joined; i++) {
            publish(pub, "late");
            late_joined = drain(late, "late", 50) > 0;
        }
        CHECK(late_joined, "a key added to the clients directory while running is admitted");
        cw_bus_sub_destroy(&late);
    }

out:
    cw_bus_sub_destroy(&listed);
    cw_bus_sub_destroy(&unlisted);
    cw_bus_sub_destroy(&nokey);
    cw_sink_destroy(&pub);
    cw_curve_server_destroy(&srv);
}

/* Sends `json` until the client is connected (send refuses while not) and
 * waits for the reply; the reply (caller frees) or NULL within ~2 s. */
static char *ack_request(cw_ack_client_t *c, const char *json)
{
    cw_error_t err;
    char *reply = NULL;
    for (int i = 0; i < 40 && !reply; i++) {
        if (cw_ack_client_send(c, json, &err) != CW_OK) {
            usleep(50 * 1000);
            continue;
        }
        /* Once sent, the answer gets time enough on a loaded machine: a
         * resend would be a second request, and the counts are checked. */
        cw_ack_client_recv(c, &reply, 2000, &err);
    }
    return reply;
}

static void test_ack_channel(void)
{
    cw_error_t err;
    char path[512], pubpath[512];
    snprintf(path, sizeof path, "%s/server.key_secret", dir);
    snprintf(pubpath, sizeof pubpath, "%s/server.key", dir);
    /* eve never gets listed (mallory was, by the previous test). */
    CHECK(cw_curve_keygen(dir, "eve", NULL, NULL, 0, &err) == CW_OK, "keygen eve: %s", err.msg);
    cw_curve_server_t *srv = cw_curve_server_new(path, clients, &err);
    cw_outbox_t *ob = cw_outbox_new(64, &err);
    CHECK(srv && ob, "server and outbox: %s", err.msg);
    cw_ack_server_t *acks = srv && ob ? cw_ack_server_new_secure("tcp://127.0.0.1:*", ob, srv, &err) : NULL;
    CHECK(acks != NULL, "CURVE ack server: %s", err.msg);
    if (!acks)
        goto out_server;
    const char *ep = cw_ack_server_endpoint(acks);

    snprintf(path, sizeof path, "%s/alice.key_secret", dir);
    cw_curve_client_t *alice = cw_curve_client_new(path, pubpath, &err);
    snprintf(path, sizeof path, "%s/eve.key_secret", dir);
    cw_curve_client_t *eve = cw_curve_client_new(path, pubpath, &err);
    cw_ack_client_t *listed = alice ? cw_ack_client_new_secure(ep, alice, &err) : NULL;
    cw_ack_client_t *unlisted = eve ? cw_ack_client_new_secure(ep, eve, &err) : NULL;
    cw_ack_client_t *nokey = cw_ack_client_new(ep, &err);
    cw_curve_client_destroy(&alice);
    cw_curve_client_destroy(&eve);
    CHECK(listed && unlisted && nokey, "ack clients: %s", err.msg);
    if (!listed || !unlisted || !nokey)
        goto out;

    char *pong = ack_request(listed, "{\"type\":\"ping\"}");
    CHECK(pong && strstr(pong, "\"pong\""), "listed console pinged: %s", pong ? pong : "(no reply)");
    free(pong);
    /* An ack names an alert the daemon raised (acks.h). */
    cw_event_t *raised = cw_event_from_json("alert.anger.c1", json_pack("{s:s,s:s,s:f,s:s}", "type", "alert",
                                                                         "call_id", "c1", "t", 1.0, "id", "a1"));
    cw_ack_server_observe(acks, raised);
    cw_event_destroy(&raised);
    char *ack = ack_request(listed, "{\"type\":\"ack\",\"call_id\":\"c1\",\"alert_id\":\"a1\",\"by\":\"sup\"}");
    CHECK(ack && strstr(ack, "\"ok\":true"), "listed console acknowledged: %s", ack ? ack : "(no reply)");
    free(ack);

    /* The others had as long to connect; the handshake never completes. */
    char *r1 = ack_request(unlisted, "{\"type\":\"ping\"}");
    char *r2 = ack_request(nokey, "{\"type\":\"ping\"}");
    CHECK(!r1, "unlisted key got a reply: %s", r1);
    CHECK(!r2, "no key got a reply: %s", r2);
    printf("curve acks: listed answered, unlisted %s, no key %s\n", r1 ? "answered" : "silent",
           r2 ? "answered" : "silent");
    free(r1);
    free(r2);
    cw_ack_stats_t st;
    cw_ack_server_get_stats(acks, &st);
    CHECK(st.requests == 2 && st.acks == 1 && st.pings == 1, "server answered %llu requests (%llu acks), want 2 (1)",
          (unsigned long long)st.requests, (unsigned long long)st.acks);

out:
    cw_ack_client_destroy(&listed);
    cw_ack_client_destroy(&unlisted);
    cw_ack_client_destroy(&nokey);
    cw_ack_server_destroy(&acks);
out_server:
    cw_outbox_destroy(&ob);
    cw_curve_server_destroy(&srv);
}

/* Events of each node (by call-id prefix) one subscriber got within timeout_ms. */
static void drain_nodes(cw_bus_sub_t *sub, int timeout_ms, int *ok, int *rogue, int *plain)
{
    char topic[CW_TOPIC_MAX];
    char *json = NULL;
    cw_error_t err;
    while (cw_bus_sub_recv(sub, topic, sizeof topic, &json, timeout_ms, &err) == 1) {
        *ok += strstr(json, "node-ok-") != NULL;
        *rogue += strstr(json, "node-rogue-") != NULL;
        *plain += strstr(json, "node-plain-") != NULL;
        free(json);
    }
}

/* A key pair NAME whose public half is listed in `list_dir` (NULL: nowhere)
 * and whose secret half stays in dir, as it would on the node. */
static cw_curve_client_t *node_key(const char *name, const char *list_dir, const char *server_pub)
{
    cw_error_t err;
    char secret[512], from[600], to[600];
    CHECK(cw_curve_keygen(dir, name, NULL, secret, sizeof secret, &err) == CW_OK, "keygen %s: %s", name, err.msg);
    if (list_dir) {
        snprintf(from, sizeof from, "%s/%s.key", dir, name);
        snprintf(to, sizeof to, "%s/%s.key", list_dir, name);
        CHECK(rename(from, to) == 0, "list %s's key in %s", name, list_dir);
    }
    cw_curve_client_t *cli = cw_curve_client_new(secret, server_pub, &err);
    CHECK(cli != NULL, "client %s: %s", name, err.msg);
    return cli;
}

/* The broker of test_broker_both_sides and who is connected to it. */
typedef struct curve_sides {
    cw_broker_t *broker;
    const char *front, *nodes, *pubpath;
    cw_sink_t *node_ok, *node_rogue, *node_plain, *node_sub;   /* publishers */
    cw_bus_sub_t *listed, *unlisted, *nokey, *node_key_sub;    /* subscribers */
} curve_sides_t;

/* Every event of the listed node reaches the listed subscriber; those of the
 * unlisted and plain nodes and of a subscriber's key reach nobody. */
static void check_node_admission(curve_sides_t *b)
{
    cw_error_t err;
    cw_error_clear(&err);
    int ok = 0, rogue = 0, plain = 0;
    bool joined = false;
    for (int i = 0; i < 100 && !joined; i++) {
        publish(b->node_ok, "node-ok-probe");
        publish(b->node_rogue, "node-rogue-probe");
        publish(b->node_plain, "node-plain-probe");
        drain_nodes(b->listed, 50, &ok, &rogue, &plain);
        joined = ok > 0;
    }
    CHECK(joined, "listed subscriber gets a listed node's events through the CURVE broker");
    /* The refused nodes get as long again as the listed one needed. */
    for (int i = 0; i < 10; i++) {
        publish(b->node_rogue, "node-rogue-probe");
        publish(b->node_plain, "node-plain-probe");
        publish(b->node_sub, "node-rogue-probe");
        drain_nodes(b->listed, 50, &ok, &rogue, &plain);
    }
    cw_broker_stats_t before;
    CHECK(cw_broker_get_stats(b->broker, &before, &err) == CW_OK, "stats: %s", err.msg);
    ok = rogue = plain = 0;
    for (int i = 0; i < EVENTS; i++) {
        char id[32];
        snprintf(id, sizeof id, "node-ok-%d", i);
        publish(b->node_ok, id);
        snprintf(id, sizeof id, "node-rogue-%d", i);
        publish(b->node_rogue, id);
        snprintf(id, sizeof id, "node-plain-%d", i);
        publish(b->node_plain, id);
        snprintf(id, sizeof id, "node-rogue-sub-%d", i);
        publish(b->node_sub, id);
    }
    drain_nodes(b->listed, 500, &ok, &rogue, &plain);
    CHECK(ok == EVENTS, "listed node: %d of %d events reached the listed subscriber", ok, EVENTS);
    CHECK(rogue == 0, "unlisted node or subscriber key publishing: %d events got through", rogue);
    cw_broker_stats_t after;
    CHECK(cw_broker_get_stats(b->broker, &after, &err) == CW_OK, "stats: %s", err.msg);
    /* The subscriber key's handshake failed at the frontend: nothing of it
     * even reached the broker. */
    uint64_t in = after.frontend_msgs_in - before.frontend_msgs_in;
    uint64_t out = after.backend_msgs_out - before.backend_msgs_out;
    CHECK(in == EVENTS && out == EVENTS, "broker counted %llu in from nodes, %llu out (want %d, %d)",
          (unsigned long long)in, (unsigned long long)out, EVENTS, EVENTS);
    CHECK(plain == 0, "plain node: %d events got through", plain);
    int got_unlisted = drain(b->unlisted, "", 300), got_nokey = drain(b->nokey, "", 300);
    int got_node = drain(b->node_key_sub, "", 300);
    CHECK(got_unlisted == 0 && got_nokey == 0, "at the backend: unlisted %d, no key %d", got_unlisted,
          got_nokey);
    CHECK(got_node == 0, "a node's key subscribing at the backend got %d events", got_node);
    printf("curve broker: listed node %d/%d, unlisted node %d, plain node %d; unlisted subscriber %d, "
           "no key %d, node key %d\n",
           ok, EVENTS, rogue, plain, got_unlisted, got_nokey, got_node);
}

/* The nodes list is read again when it changes, through the joined list. */
static void check_late_node(curve_sides_t *b)
{
    cw_error_t err;
    cw_error_clear(&err);
    cw_curve_client_t *late_key = node_key("node-late", b->nodes, b->pubpath);
    cw_sink_t *late = late_key ? cw_bus_publisher_connect_secure(b->front, 10000, late_key, &err) : NULL;
    cw_curve_client_destroy(&late_key);
    bool late_joined = false;
    for (int i = 0; late && i < 100 && !late_joined; i++) {
        publish(late, "node-ok-late");
        int n = 0, r = 0, p = 0;
        drain_nodes(b->listed, 50, &n, &r, &p);
        late_joined = n > 0;
    }
    CHECK(late_joined, "a node key added to the nodes directory while running is admitted");
    cw_sink_destroy(&late);
}

/* CURVE on both sides of the broker: a node whose key is in the nodes list
 * delivers every event to a listed subscriber; a node with an unlisted key
 * and a plain node deliver none; subscribers without a listed key get none. */
static void test_broker_both_sides(void)
{
    cw_error_t err;
    char path[512], pubpath[512], nodes[300];
    snprintf(nodes, sizeof nodes, "%s/nodes", dir);
    mkdir(nodes, 0755);
    snprintf(path, sizeof path, "%s/server.key_secret", dir);
    snprintf(pubpath, sizeof pubpath, "%s/server.key", dir);
    const cw_curve_domain_t lists[] = {{CW_CURVE_DOMAIN_CLIENTS, clients}, {CW_CURVE_DOMAIN_NODES, nodes}};
    cw_curve_server_t *srv = cw_curve_server_new_domains(path, lists, 2, &err);
    CHECK(srv != NULL, "broker CURVE server: %s", err.msg);
    cw_broker_t *broker =
        srv ? cw_broker_new_curve("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", 10000, srv, nodes, &err) : NULL;
    CHECK(broker != NULL, "CURVE broker: %s", err.msg);
    if (!broker) {
        cw_curve_server_destroy(&srv);
        return;
    }
    const char *front = cw_broker_frontend(broker), *back = cw_broker_backend(broker);
    cw_curve_client_t *ok_key = node_key("node-ok", nodes, pubpath);
    cw_curve_client_t *rogue_key = node_key("node-rogue", NULL, pubpath);
    cw_sink_t *node_ok = ok_key ? cw_bus_publisher_connect_secure(front, 10000, ok_key, &err) : NULL;
    cw_sink_t *node_rogue = rogue_key ? cw_bus_publisher_connect_secure(front, 10000, rogue_key, &err) : NULL;
    cw_sink_t *node_plain = cw_bus_publisher_connect(front, 10000, &err);
    snprintf(path, sizeof path, "%s/alice.key_secret", dir);
    cw_curve_client_t *alice = cw_curve_client_new(path, pubpath, &err);
    /* A subscriber's key is refused at the frontend. */
    cw_sink_t *node_sub = alice ? cw_bus_publisher_connect_secure(front, 10000, alice, &err) : NULL;
    CHECK(node_ok && node_rogue && node_plain && node_sub, "node publishers: %s", err.msg);
    cw_bus_sub_t *listed = alice ? cw_bus_sub_new_secure(back, "", alice, &err) : NULL;
    /* A node's key is not a subscriber's, but the rogue one is in no list. */
    cw_bus_sub_t *unlisted = rogue_key ? cw_bus_sub_new_secure(back, "", rogue_key, &err) : NULL;
    cw_bus_sub_t *nokey = cw_bus_sub_new(back, "", &err);
    /* A listed node's key is refused at the backend. */
    cw_bus_sub_t *node_key_sub = ok_key ? cw_bus_sub_new_secure(back, "", ok_key, &err) : NULL;
    cw_curve_client_destroy(&alice);
    CHECK(listed && unlisted && nokey && node_key_sub, "broker subscribers: %s", err.msg);
    if (node_ok && node_rogue && node_plain && node_sub && listed && unlisted && nokey && node_key_sub) {
        curve_sides_t b = {broker, front, nodes, pubpath, node_ok, node_rogue, node_plain, node_sub,
                           listed, unlisted, nokey, node_key_sub};
        check_node_admission(&b);
        check_late_node(&b);
    }
    cw_bus_sub_destroy(&listed);
    cw_bus_sub_destroy(&unlisted);
    cw_bus_sub_destroy(&nokey);
    cw_bus_sub_destroy(&node_key_sub);
    cw_sink_destroy(&node_ok);
    cw_sink_destroy(&node_rogue);
    cw_sink_destroy(&node_plain);
    cw_sink_destroy(&node_sub);
    cw_curve_client_destroy(&ok_key);
    cw_curve_client_destroy(&rogue_key);
    cw_broker_destroy(&broker);
    cw_curve_server_destroy(&srv);
}

static void test_bad_certs(void)
{
    cw_error_t err;
    char garbage[512], path[512];
    snprintf(garbage, sizeof garbage, "%s/garbage.key_secret", dir);
    FILE *f = fopen(garbage, "w");
    if (f) {
        fputs("this is not a certificate\n\x01\x02 curve = \n", f);
        fclose(f);
    }
    cw_curve_server_t *srv = cw_curve_server_new(garbage, clients, &err);
    CHECK(!srv && err.code == CW_ERR_FORMAT && strstr(err.msg, garbage) && strstr(err.msg, "not a ZeroMQ certificate"),
          "garbage cert: %s", err.msg);
    snprintf(path, sizeof path, "%s/missing.key_secret", dir);
    srv = cw_curve_server_new(path, clients, &err);
    CHECK(!srv && err.code == CW_ERR_NOT_FOUND && strstr(err.msg, path), "missing cert: %s", err.msg);
    /* A public certificate alone cannot serve: no secret key. */
    snprintf(path, sizeof path, "%s/alice.key", clients);
    srv = cw_curve_server_new(path, clients, &err);
    CHECK(!srv && strstr(err.msg, "no secret key"), "public-only cert: %s", err.msg);
    snprintf(path, sizeof path, "%s/server.key_secret", dir);
    srv = cw_curve_server_new(path, "/nonexistent/clients", &err);
    CHECK(!srv && strstr(err.msg, "/nonexistent/clients"), "missing clients dir: %s", err.msg);
    cw_curve_client_t *cli = cw_curve_client_new(path, "not-a-key", &err);
    CHECK(!cli && strstr(err.msg, "not-a-key"), "bad server key: %s", err.msg);
}

static void test_plain_remote_refused(void)
{
    cw_error_t err;
    cw_sink_t *pub = cw_bus_publisher_new("tcp://*:0", 10, &err);
    CHECK(!pub && err.code == CW_ERR_INVALID && strstr(err.msg, "tcp://*:0") &&
              strstr(err.msg, "allow_plain_remote"),
          "plain wildcard bind refused: %s", err.msg);
    cw_sink_destroy(&pub);
    pub = cw_bus_publisher_new("tcp://0.0.0.0:*", 10, &err);
    CHECK(!pub && strstr(err.msg, "0.0.0.0"), "plain 0.0.0.0 refused: %s", err.msg);
    cw_sink_destroy(&pub);
    cw_bus_security_t allow = {.allow_plain_remote = true};
    pub = cw_bus_publisher_new_secure("tcp://0.0.0.0:*", 10, &allow, &err);
    CHECK(pub != NULL, "explicitly allowed plain remote bind: %s", err.msg);
    cw_sink_destroy(&pub);
    CHECK(cw_endpoint_is_local("tcp://127.0.0.1:5556"), "127.0.0.1 local");
    CHECK(cw_endpoint_is_local("tcp://127.3.2.1:*"), "127/8 local");
    CHECK(cw_endpoint_is_local("tcp://localhost:1"), "localhost local");
    CHECK(cw_endpoint_is_local("tcp://[::1]:1"), "::1 local");
    CHECK(cw_endpoint_is_local("ipc:///tmp/x"), "ipc local");
    CHECK(!cw_endpoint_is_local("tcp://eth0:5556"), "interface not local");
    CHECK(!cw_endpoint_is_local("tcp://127.0.0.1.evil.com:1"), "lookalike host not local");
    CHECK(!cw_endpoint_is_local("tcp://10.0.0.1:1"), "10/8 not local");
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/cw-curve-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(clients, sizeof clients, "%s/clients", dir);
    mkdir(clients, 0755);
    test_keygen();
    test_listed_unlisted_plain();
    test_ack_channel();
    test_broker_both_sides();
    test_bad_certs();
    test_plain_remote_refused();
    cw_bus_shutdown();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return check_summary("test_curve");
}
