/* security.c - the command line's side of bus security: CURVE objects from
 * the configuration and dropping root after binding. See app.h. */
#include "app.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

int app_bus_security(const cw_config_t *cfg, cw_curve_server_t **server, cw_bus_security_t *sec, cw_error_t *err)
{
    *server = NULL;
    memset(sec, 0, sizeof *sec);
    sec->allow_plain_remote = cw_config_switch_on(cfg->bus_allow_plain_remote);
    if (!cw_config_switch_on(cfg->bus_curve))
        return CW_OK;
    *server = cw_curve_server_new(cfg->bus_curve_server_cert, cfg->bus_curve_clients_dir, err);
    if (!*server)
        return cw_error_prefix(err, "%s: [bus] curve = on", cfg->source_path);
    sec->curve = *server;
    return CW_OK;
}

int app_bus_client(const cw_config_t *cfg, cw_curve_client_t **client, cw_error_t *err)
{
    *client = NULL;
    if (!cw_config_switch_on(cfg->bus_curve))
        return CW_OK;
    *client = cw_curve_client_new(cfg->bus_curve_client_cert, cfg->bus_curve_server_public, err);
    if (!*client)
        return cw_error_prefix(err, "%s: [bus] curve = on", cfg->source_path);
    return CW_OK;
}

cw_bus_sub_t *app_subscribe(const char *config_path, const char *endpoint, const char *topic, char *endpoint_out,
                            size_t cap, int *status)
{
    /* The config is read even with an endpoint given: it holds the CURVE keys. */
    cw_config_t *cfg = app_load_config(config_path, false);
    if (!cfg) {
        *status = APP_USAGE;
        return NULL;
    }
    snprintf(endpoint_out, cap, "%s", endpoint ? endpoint : cfg->bus_endpoint);
    cw_error_t err;
    cw_error_clear(&err);
    cw_curve_client_t *curve = NULL;
    cw_bus_sub_t *sub = NULL;
    if (app_bus_client(cfg, &curve, &err) == CW_OK)
        sub = cw_bus_sub_new_secure(endpoint_out, topic, curve, &err);
    cw_curve_client_destroy(&curve);
    cw_config_destroy(&cfg);
    if (!sub) {
        app_log("%s", err.msg);
        *status = APP_FAILURE;
    }
    return sub;
}

int app_broker_security(const cw_config_t *cfg, const char *nodes_dir, cw_curve_server_t **server,
                        cw_bus_security_t *sec, cw_error_t *err)
{
    *server = NULL;
    memset(sec, 0, sizeof *sec);
    sec->allow_plain_remote = cw_config_switch_on(cfg->bus_allow_plain_remote);
    if (!cw_config_switch_on(cfg->bus_curve))
        return CW_OK;
    if (!nodes_dir || !*nodes_dir)
        return cw_error_set(err, CW_ERR_INVALID,
                            "%s: [bus] curve = on: the broker needs [broker] curve_nodes_dir (or --nodes-dir), "
                            "the directory of the public certificates of nodes allowed to publish",
                            cfg->source_path);
    struct stat st;
    if (stat(nodes_dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(nodes_dir, R_OK | X_OK) != 0)
        return cw_error_set(err, CW_ERR_NOT_FOUND,
                            "%s: [bus] curve = on: nodes directory '%s' ([broker] curve_nodes_dir or --nodes-dir): "
                            "not a readable directory",
                            cfg->source_path, nodes_dir);
    /* Subscribers' keys at the backend only, nodes' at the frontend only. */
    const cw_curve_domain_t lists[] = {{CW_CURVE_DOMAIN_CLIENTS, cfg->bus_curve_clients_dir},
                                       {CW_CURVE_DOMAIN_NODES, nodes_dir}};
    *server = cw_curve_server_new_domains(cfg->bus_curve_server_cert, lists, 2, err);
    if (!*server)
        return cw_error_prefix(err, "%s: [bus] curve = on", cfg->source_path);
    sec->curve = *server;
    return CW_OK;
}

int app_node_client(const cw_config_t *cfg, cw_curve_client_t **client, cw_error_t *err)
{
    *client = NULL;
    if (!cw_config_switch_on(cfg->bus_curve))
        return CW_OK;
    if (!cfg->bus_curve_client_cert[0])
        return cw_error_set(err, CW_ERR_INVALID,
                            "%s: [bus] curve = on with mode = connect needs curve_client_cert: this node's secret "
                            "certificate (NAME.key_secret from `callwatch keygen`), whose NAME.key the broker "
                            "lists in its curve_nodes_dir",
                            cfg->source_path);
    if (!cfg->bus_curve_server_public[0])
        return cw_error_set(err, CW_ERR_INVALID,
                            "%s: [bus] curve = on with mode = connect needs curve_server_public: the broker's "
                            "public key (40 characters) or its .key file",
                            cfg->source_path);
    *client = cw_curve_client_new(cfg->bus_curve_client_cert, cfg->bus_curve_server_public, err);
    if (!*client)
        return cw_error_prefix(err, "%s: [bus] curve_client_cert / curve_server_public (mode = connect)",
                               cfg->source_path);
    return CW_OK;
}

bool app_check_can_drop(const char *user)
{
    if (!user)
        return true;
    if (geteuid() != 0) {
        app_log("run: --user %s needs callwatch to be started as root (it binds, then becomes %s); "
                "start it as root or leave out --user",
                user, user);
        return false;
    }
    errno = 0;
    if (!getpwnam(user)) {
        app_log("run: --user %s: no such user%s%s", user, errno ? ": " : "", errno ? strerror(errno) : "");
        return false;
    }
    return true;
}

bool app_drop_privileges(const char *user)
{
    if (!user)
        return true;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        app_log("run: --user %s: no such user", user);
        return false;
    }
    /* Groups first: once the uid is gone, they can no longer be changed. */
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        app_log("run: cannot become user %s: %s", user, strerror(errno));
        return false;
    }
    if (pw->pw_uid != 0 && (setuid(0) == 0 || geteuid() == 0)) {
        app_log("run: still able to regain root after becoming %s; refusing to go on", user);
        return false;
    }
    app_log("running as user %s (uid %ld, gid %ld)", user, (long)pw->pw_uid, (long)pw->pw_gid);
    return true;
}
