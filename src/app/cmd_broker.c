/* cmd_broker.c - `callwatch broker`: the XSUB/XPUB hub several nodes publish into. */
#include "app.h"

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
          "  -c, --config FILE     take [broker] frontend, backend, sndhwm, curve_nodes_dir\n"
          "                        and the [bus] curve options from FILE\n"
          "      --frontend EP     bind here for the nodes (default [broker] frontend)\n"
          "      --backend EP      bind here for subscribers (default [broker] backend)\n"
          "      --nodes-dir DIR   public certificates of the nodes allowed to publish\n"
          "                        (with curve on; default [broker] curve_nodes_dir)\n"
          "  -h, --help            this help\n",
          out);
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

int cmd_broker(int argc, char **argv)
{
    enum { OPT_FRONTEND = 256, OPT_BACKEND, OPT_NODES_DIR };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},      {"frontend", required_argument, NULL, OPT_FRONTEND},
        {"backend", required_argument, NULL, OPT_BACKEND}, {"help", no_argument, NULL, 'h'},
        {"nodes-dir", required_argument, NULL, OPT_NODES_DIR},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL, *frontend = NULL, *backend = NULL, *nodes_dir = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case OPT_FRONTEND: frontend = optarg; break;
        case OPT_BACKEND: backend = optarg; break;
        case OPT_NODES_DIR: nodes_dir = optarg; break;
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

    app_install_signals();
    cw_error_t err;
    cw_error_clear(&err);
    /* [bus] curve = on: subscribers at the backend and nodes at the frontend
     * need a listed key, as at a node's bus. */
    cw_curve_server_t *curve = NULL;
    cw_bus_security_t security;
    cw_broker_t *broker = NULL;
    if (app_broker_security(cfg, cfg->broker_curve_nodes_dir, &curve, &security, &err) == CW_OK &&
        cw_curve_check_plain_bind(cfg->broker_frontend, curve != NULL, security.allow_plain_remote,
                                  "[bus] allow_plain_remote", &err) == CW_OK &&
        cw_curve_check_plain_bind(cfg->broker_backend, curve != NULL, security.allow_plain_remote,
                                  "[bus] allow_plain_remote", &err) == CW_OK)
        broker = cw_broker_new_curve(cfg->broker_frontend, cfg->broker_backend, cfg->broker_sndhwm, curve,
                                     cfg->broker_curve_nodes_dir, &err);
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
            next_log += BROKER_LOG_INTERVAL_S;
        }
        app_sleep_ms(100);
    }
    if (status == APP_OK)
        log_traffic(broker, " stopping");
    cw_broker_destroy(&broker);
    cw_curve_server_destroy(&curve);
    return status;
}
