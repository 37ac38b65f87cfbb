/* cmd_broker.c - `callwatch broker`: the XSUB/XPUB hub several nodes publish into. */
#include "app.h"

#include "callwatch/ackroute.h"
#include "callwatch/broker.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Traffic is logged this often, so a quiet broker is told from a dead one. */
#define BROKER_LOG_INTERVAL_S 60.0

static void broker_usage(FILE *out)
{
    fputs("usage: callwatch broker [options]\n"
          "\n"
          "Relays the events of many `callwatch run` nodes to many subscribers: nodes\n"
          "with [bus] mode = connect publish into the frontend; tap, console, archive\n"
          "and whisper viewers connect to the backend as they would to one node.\n"
          "Logs its traffic once a minute and on exit; stops on SIGINT/SIGTERM.\n"
          "\n"
          "With [bus] curve = on in FILE, both sides are CURVE servers with the key\n"
          "[bus] curve_server_cert: subscribers need a key in [bus] curve_clients_dir,\n"
          "nodes a key in the nodes directory. Without CURVE, a frontend or backend\n"
          "other machines can reach is refused unless [bus] allow_plain_remote = true.\n"
          "\n"
          "options:\n"
          "  -c, --config FILE     take the [broker] options and the [bus] curve options\n"
          "                        from FILE\n"
          "      --frontend EP     bind here for the nodes (default [broker] frontend)\n"
          "      --backend EP      bind here for subscribers (default [broker] backend)\n"
          "      --nodes-dir DIR   public certificates of the nodes allowed to publish\n"
          "                        (with curve on; default [broker] curve_nodes_dir)\n"
          "      --ack-endpoint EP bind here for consoles' and web pages' acknowledgements,\n"
          "                        routed to the node owning the call (default [broker]\n"
          "                        ack_endpoint; needs --node-ack-endpoint)\n"
          "      --node-ack-endpoint EP  bind here for the nodes' acknowledgement links\n"
          "                        (their [bus] broker_ack_endpoint; default [broker]\n"
          "                        node_ack_endpoint)\n"
          "  -h, --help            this help\n",
          out);
}

static void log_acks(cw_ack_router_t *acks, const char *when)
{
    if (!acks)
        return;
    cw_ack_router_stats_t st;
    cw_ack_router_get_stats(acks, &st);
    app_log("broker%s: %" PRIu64 " acknowledgement requests: %" PRIu64 " forwarded to nodes, %" PRIu64
            " answered by them, %" PRIu64 " refused by the broker, %" PRIu64 " pings",
            when, st.requests, st.forwarded, st.answered, st.refused, st.pings);
}

static void log_traffic(cw_broker_t *broker, const char *when)
{
    cw_broker_stats_t st;
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_broker_get_stats(broker, &st, &err) != CW_OK) {
        app_log("broker: %s", err.msg);
        return;
    }
    app_log("broker%s: %" PRIu64 " events (%" PRIu64 " bytes) in from nodes, %" PRIu64 " events (%" PRIu64
            " bytes) out to subscribers, %" PRIu64 " subscription messages",
            when, st.frontend_msgs_in, st.frontend_bytes_in, st.backend_msgs_out, st.backend_bytes_out,
            st.backend_msgs_in);
}

/* Without CURVE, every endpoint the broker binds must be local unless
 * [bus] allow_plain_remote says otherwise. */
static int check_binds(const cw_config_t *cfg, bool curve, bool allow_plain_remote, cw_error_t *err)
{
    const char *eps[] = {cfg->broker_frontend, cfg->broker_backend, cfg->broker_ack_endpoint,
                         cfg->broker_node_ack_endpoint};
    for (size_t i = 0; i < sizeof eps / sizeof eps[0]; i++)
        if (eps[i][0] &&
            cw_curve_check_plain_bind(eps[i], curve, allow_plain_remote, "[bus] allow_plain_remote", err) != CW_OK)
            return err->code;
    return CW_OK;
}

int cmd_broker(int argc, char **argv)
{
    enum { OPT_FRONTEND = 256, OPT_BACKEND, OPT_NODES_DIR, OPT_ACK, OPT_NODE_ACK };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},      {"frontend", required_argument, NULL, OPT_FRONTEND},
        {"backend", required_argument, NULL, OPT_BACKEND}, {"help", no_argument, NULL, 'h'},
        {"nodes-dir", required_argument, NULL, OPT_NODES_DIR},
        {"ack-endpoint", required_argument, NULL, OPT_ACK},
        {"node-ack-endpoint", required_argument, NULL, OPT_NODE_ACK},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *frontend = NULL, *backend = NULL, *nodes_dir = NULL, *ack = NULL,
               *node_ack = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case OPT_FRONTEND: frontend = optarg; break;
        case OPT_BACKEND: backend = optarg; break;
        case OPT_NODES_DIR: nodes_dir = optarg; break;
        case OPT_ACK: ack = optarg; break;
        case OPT_NODE_ACK: node_ack = optarg; break;
        case 'h': broker_usage(stdout); return APP_OK;
        default: broker_usage(stderr); return APP_USAGE;
        }
    }
    if (optind < argc) {
        app_log("broker: unexpected argument '%s'", argv[optind]);
        return APP_USAGE;
    }
    cw_config_t *cfg = app_load_config(config_path, false);
    if (!cfg)
        return APP_USAGE;
    if (frontend)
        snprintf(cfg->broker_frontend, sizeof cfg->broker_frontend, "%s", frontend);
    if (backend)
        snprintf(cfg->broker_backend, sizeof cfg->broker_backend, "%s", backend);
    if (nodes_dir)
        snprintf(cfg->broker_curve_nodes_dir, sizeof cfg->broker_curve_nodes_dir, "%s", nodes_dir);
    if (ack)
        snprintf(cfg->broker_ack_endpoint, sizeof cfg->broker_ack_endpoint, "%s", ack);
    if (node_ack)
        snprintf(cfg->broker_node_ack_endpoint, sizeof cfg->broker_node_ack_endpoint, "%s", node_ack);
    if (!cfg->broker_ack_endpoint[0] != !cfg->broker_node_ack_endpoint[0]) {
        app_log("broker: acknowledgements through the broker need both [broker] ack_endpoint (--ack-endpoint) and "
                "node_ack_endpoint (--node-ack-endpoint); %s is empty",
                cfg->broker_ack_endpoint[0] ? "node_ack_endpoint" : "ack_endpoint");
        cw_config_destroy(&cfg);
        return APP_USAGE;
    }

    app_install_signals();
    cw_error_t err;
    cw_error_clear(&err);
    /* [bus] curve = on: subscribers at the backend and nodes at the frontend
     * need a listed key, as at a node's bus. */
    cw_curve_server_t *curve = NULL;
    cw_bus_security_t security;
    cw_broker_t *broker = NULL;
    cw_ack_router_t *acks = NULL;
    bool with_acks = cfg->broker_ack_endpoint[0] != '\0';
    if (app_broker_security(cfg, cfg->broker_curve_nodes_dir, &curve, &security, &err) == CW_OK &&
        check_binds(cfg, curve != NULL, security.allow_plain_remote, &err) == CW_OK)
        broker = cw_broker_new_curve(cfg->broker_frontend, cfg->broker_backend, cfg->broker_sndhwm, curve,
                                     cfg->broker_curve_nodes_dir, &err);
    if (broker && with_acks) {
        acks = cw_ack_router_new(cfg->broker_ack_endpoint, cfg->broker_node_ack_endpoint, curve, &err);
        if (!acks)
            cw_broker_destroy(&broker);
    }
    cw_config_destroy(&cfg);
    if (!broker) {
        app_log("%s", err.msg);
        cw_curve_server_destroy(&curve);
        return err.code == CW_ERR_INVALID || err.code == CW_ERR_NOT_FOUND || err.code == CW_ERR_FORMAT ? APP_USAGE
                                                                                                       : APP_FAILURE;
    }
    app_log("broker: %s", curve ? "CURVE on both sides: listed node and subscriber keys only" : "plain (no CURVE)");
    app_log("broker: nodes publish to %s, subscribers connect to %s", cw_broker_frontend(broker),
            cw_broker_backend(broker));
    if (acks)
        app_log("broker: acknowledgements from consoles at %s, nodes' acknowledgement links at %s",
                cw_ack_router_client_endpoint(acks), cw_ack_router_node_endpoint(acks));

    int status = APP_OK;
    double next_log = app_monotonic_s() + BROKER_LOG_INTERVAL_S;
    while (!app_stop_requested) {
        if (!cw_broker_running(broker)) {
            app_log("broker: the proxy stopped on a socket error");
            status = APP_FAILURE;
            break;
        }
        if (app_monotonic_s() >= next_log) {
            log_traffic(broker, "");
            log_acks(acks, "");
            next_log += BROKER_LOG_INTERVAL_S;
        }
        app_sleep_ms(100);
    }
    if (status == APP_OK) {
        log_traffic(broker, " stopping");
        log_acks(acks, " stopping");
    }
    cw_ack_router_destroy(&acks);
    cw_broker_destroy(&broker);
    cw_curve_server_destroy(&curve);
    return status;
}
