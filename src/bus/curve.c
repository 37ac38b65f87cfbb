/* curve.c - see callwatch/curve.h */
#include "callwatch/curve.h"

#include <czmq.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* RFC 27 (ZAP): the well-known endpoint of a context's handler, and the
 * version both sides speak. */
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_VERSION "1.0"
/* How often the handler looks at its stop flag. */
#define ZAP_POLL_MS 100
/* A request is 6 frames for CURVE (7+ for others); more is malformed. */
#define ZAP_MAX_FRAMES 8
#define ZAP_DOMAIN_MAX 64
#define ZAP_DOMAINS_MAX 8
#define ZAP_BIND_TRIES 100
#define ZAP_BIND_RETRY_US 10000

#define CURVE_KEY_BYTES 32

/* What a secret certificate file is called next to its public one (zcert). */
#define SECRET_SUFFIX "_secret"

typedef struct zap_domain {
    char name[ZAP_DOMAIN_MAX];
    zcertstore_t *keys; /* re-reads its directory when it changes */
} zap_domain_t;

struct cw_curve_server {
    zcert_t *cert;
    zap_domain_t domains[ZAP_DOMAINS_MAX];
    size_t n_domains;
    void *zap;            /* REP bound at ZAP_ENDPOINT in cw_curve_context() */
    pthread_t zap_thread;
    bool zap_started;
    atomic_bool stop;
};

struct cw_curve_client {
    zcert_t *cert;
    char server_public[CW_CURVE_KEY_TXT + 1];
};

static pthread_once_t context_once = PTHREAD_ONCE_INIT;
static void *context;

/* ZAP has one well-known endpoint per context, so there can be one handler;
 * a second bind of it fails. */
static pthread_mutex_t server_lock = PTHREAD_MUTEX_INITIALIZER;
static bool server_exists;

static void context_init(void)
{
    /* czmq would otherwise install its own SIGINT/SIGTERM handlers over the
     * application's, and log to stdout, which carries events (tap, analyze). */
    zsys_handler_set(NULL);
    context = zsys_init();
    zsys_set_logstream(stderr);
}

void *cw_curve_context(void)
{
    pthread_once(&context_once, context_init);
    return context;
}

static bool key_is_zero(const char *z85)
{
    /* zcert leaves the secret key all zero when only a public file was read. */
    return strcmp(z85, "0000000000000000000000000000000000000000") == 0;
}

/* True when `path` (if it exists) is in ZPL syntax. zcert_load() leaks in
 * czmq 4.2 on a file that is not, so files are checked before it sees them;
 * it reads PATH_secret in preference to PATH, so that one is checked too. */
static bool cert_syntax_ok(const char *path)
{
    char secret[4096 + sizeof SECRET_SUFFIX];
    snprintf(secret, sizeof secret, "%s%s", path, SECRET_SUFFIX);
    const char *files[] = {path, secret};
    for (size_t i = 0; i < 2; i++) {
        if (access(files[i], F_OK) != 0)
            continue;
        /* Certificates are a few hundred bytes. */
        zchunk_t *chunk = zchunk_slurp(files[i], 64 * 1024);
        /* czmq 4.2's zconfig reports syntax errors with zclock_log(), on
         * stdout, which carries events (tap): point stdout at stderr while it
         * parses. Certificates are loaded at start-up, before any event. */
        fflush(stdout);
        int saved_stdout = dup(STDOUT_FILENO);
        if (saved_stdout >= 0)
            dup2(STDERR_FILENO, STDOUT_FILENO);
        zconfig_t *tree = chunk ? zconfig_chunk_load(chunk) : NULL;
        fflush(stdout);
        if (saved_stdout >= 0) {
            dup2(saved_stdout, STDOUT_FILENO);
            close(saved_stdout);
        }
        bool ok = tree != NULL;
        zconfig_destroy(&tree);
        zchunk_destroy(&chunk);
        if (!ok)
            return false;
    }
    return true;
}

/* Loads a secret certificate, saying which file was wrong and why. */
static zcert_t *load_secret_cert(const char *path, const char *role, cw_error_t *err)
{
    cw_curve_context(); /* czmq set up (signals, logging) before it is used */
    if (!path || !*path) {
        cw_error_set(err, CW_ERR_INVALID, "CURVE %s certificate: no file given", role);
        return NULL;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        cw_error_set(err, CW_ERR_NOT_FOUND, "CURVE %s certificate '%s': %s (make one with `callwatch keygen`)",
                     role, path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        cw_error_set(err, CW_ERR_FORMAT, "CURVE %s certificate '%s': not a regular file", role, path);
        return NULL;
    }
    if (access(path, R_OK) != 0) {
        cw_error_set(err, CW_ERR_IO, "CURVE %s certificate '%s': %s", role, path, strerror(errno));
        return NULL;
    }
    zcert_t *cert = cert_syntax_ok(path) ? zcert_load(path) : NULL;
    if (!cert) {
        cw_error_set(err, CW_ERR_FORMAT,
                     "CURVE %s certificate '%s': not a ZeroMQ certificate (no 40-character curve public-key)",
                     role, path);
        return NULL;
    }
    if (key_is_zero(zcert_secret_txt(cert))) {
        zcert_destroy(&cert);
        cw_error_set(err, CW_ERR_FORMAT,
                     "CURVE %s certificate '%s': holds no secret key (give the NAME.key_secret file)", role,
                     path);
        return NULL;
    }
    return cert;
}

static int check_clients_dir(const char *clients_dir, cw_error_t *err)
{
    struct stat st;
    if (!clients_dir || !*clients_dir)
        return cw_error_set(err, CW_ERR_INVALID, "CURVE clients directory: none given");
    if (stat(clients_dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(clients_dir, R_OK | X_OK) != 0)
        return cw_error_set(err, CW_ERR_NOT_FOUND, "CURVE clients directory '%s': not a readable directory",
                            clients_dir);
    return CW_OK;
}

/* The keys of `domain`, or NULL when the server has no such domain. */
static zap_domain_t *find_domain(const cw_curve_server_t *srv, const char *domain)
{
    for (size_t i = 0; i < srv->n_domains; i++)
        if (strcmp(srv->domains[i].name, domain) == 0)
            return (zap_domain_t *)&srv->domains[i];
    return NULL;
}

/* Sends a ZAP reply (RFC 27): version, request id, status, text, user id
 * (the client's Z85 key when admitted, as libzmq passes on as "User-Id"),
 * empty metadata. */
static void zap_reply(void *sock, zmq_msg_t *request_id, const char *status, const char *text, const char *user)
{
    zmq_send(sock, ZAP_VERSION, strlen(ZAP_VERSION), ZMQ_SNDMORE);
    zmq_send(sock, zmq_msg_data(request_id), zmq_msg_size(request_id), ZMQ_SNDMORE);
    zmq_send(sock, status, strlen(status), ZMQ_SNDMORE);
    zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0);
}

/* Answers one ZAP request: 200 for a CURVE client whose key is listed in
 * the directory of the domain its socket names, 400 otherwise. Frames:
 * version, request id, domain, address, routing id, mechanism, key. */
static void zap_answer(cw_curve_server_t *srv)
{
    zmq_msg_t f[ZAP_MAX_FRAMES];
    int n = 0, more = 1;
    while (more && n < ZAP_MAX_FRAMES) {
        zmq_msg_init(&f[n]);
        if (zmq_msg_recv(&f[n], srv->zap, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&f[n]);
            if (n == 0)
                return; /* nothing there after all */
            more = 0;
            break;
        }
        more = zmq_msg_more(&f[n]);
        n++;
    }
    while (more) { /* a malformed request: drop the rest of it */
        zmq_msg_t rest;
        zmq_msg_init(&rest);
        more = zmq_msg_recv(&rest, srv->zap, 0) >= 0 && zmq_msg_more(&rest);
        zmq_msg_close(&rest);
    }
    if (n < 2) {
        /* Not a ZAP request, but REP must answer before it can read again. */
        zmq_msg_t none;
        zmq_msg_init(&none);
        zap_reply(srv->zap, &none, "500", "malformed ZAP request", "");
        zmq_msg_close(&none);
    } else {
        char domain[ZAP_DOMAIN_MAX] = "", key[CW_CURVE_KEY_TXT + 1] = "";
        if (n >= 3 && zmq_msg_size(&f[2]) < sizeof domain)
            memcpy(domain, zmq_msg_data(&f[2]), zmq_msg_size(&f[2]));
        bool curve = n == 7 && zmq_msg_size(&f[5]) == 5 && memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 &&
                     zmq_msg_size(&f[6]) == CURVE_KEY_BYTES;
        if (curve)
            zmq_z85_encode(key, zmq_msg_data(&f[6]), CURVE_KEY_BYTES);
        zap_domain_t *d = find_domain(srv, domain);
        if (zmq_msg_size(&f[0]) != strlen(ZAP_VERSION) || memcmp(zmq_msg_data(&f[0]), ZAP_VERSION, 3) != 0)
            zap_reply(srv->zap, &f[1], "500", "unsupported ZAP version", "");
        else if (!curve)
            zap_reply(srv->zap, &f[1], "400", "only CURVE clients are admitted", "");
        else if (!d)
            zap_reply(srv->zap, &f[1], "400", "no admission list for this socket's domain", "");
        else if (!zcertstore_lookup(d->keys, key))
            zap_reply(srv->zap, &f[1], "400", "key not in this socket's admission list", "");
        else
            zap_reply(srv->zap, &f[1], "200", "OK", key);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

static void *zap_thread(void *arg)
{
    cw_curve_server_t *srv = arg;
    while (!atomic_load(&srv->stop)) {
        zmq_pollitem_t item = {.socket = srv->zap, .events = ZMQ_POLLIN};
        if (zmq_poll(&item, 1, ZAP_POLL_MS) > 0)
            zap_answer(srv);
    }
    return NULL;
}

/* Binds the context's ZAP endpoint and starts answering on it. */
static int start_zap(cw_curve_server_t *srv, cw_error_t *err)
{
    srv->zap = zmq_socket(cw_curve_context(), ZMQ_REP);
    int linger = 0, rc = -1;
    if (srv->zap && zmq_setsockopt(srv->zap, ZMQ_LINGER, &linger, sizeof linger) == 0) {
        /* A handler closed a moment ago may hold the endpoint a little longer. */
        for (int i = 0; i < ZAP_BIND_TRIES && (rc = zmq_bind(srv->zap, ZAP_ENDPOINT)) != 0 && errno == EADDRINUSE;
             i++)
            usleep(ZAP_BIND_RETRY_US);
    }
    if (rc != 0)
        return cw_error_set(err, CW_ERR_INTERNAL, "cannot start the ZeroMQ authentication handler (ZAP): %s",
                            zmq_strerror(errno));
    /* The handler thread must not take the application's signals. */
    sigset_t block, old;
    sigfillset(&block);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    rc = pthread_create(&srv->zap_thread, NULL, zap_thread, srv);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0)
        return cw_error_set(err, CW_ERR_INTERNAL, "cannot start the ZAP thread: %s", strerror(rc));
    srv->zap_started = true;
    return CW_OK;
}

cw_curve_server_t *cw_curve_server_new(const char *server_cert, const char *clients_dir, cw_error_t *err)
{
    const cw_curve_domain_t domains[] = {{CW_CURVE_DOMAIN_CLIENTS, clients_dir}};
    return cw_curve_server_new_domains(server_cert, domains, 1, err);
}

/* One server per process: ZAP has one endpoint per context. */
static bool claim_server(void)
{
    pthread_mutex_lock(&server_lock);
    bool taken = server_exists;
    server_exists = true;
    pthread_mutex_unlock(&server_lock);
    return !taken;
}

static int check_domains(const cw_curve_domain_t *domains, size_t n, cw_error_t *err)
{
    if (!domains || n == 0)
        return check_clients_dir(NULL, err);
    if (n > ZAP_DOMAINS_MAX)
        return cw_error_set(err, CW_ERR_INVALID, "CURVE: at most %d admission lists", ZAP_DOMAINS_MAX);
    for (size_t i = 0; i < n; i++) {
        if (!domains[i].name || !*domains[i].name || strlen(domains[i].name) >= ZAP_DOMAIN_MAX)
            return cw_error_set(err, CW_ERR_INVALID, "CURVE: an admission list needs a name under %d bytes",
                                ZAP_DOMAIN_MAX);
        if (check_clients_dir(domains[i].dir, err) != CW_OK)
            return err->code;
    }
    return CW_OK;
}

cw_curve_server_t *cw_curve_server_new_domains(const char *server_cert, const cw_curve_domain_t *domains, size_t n,
                                               cw_error_t *err)
{
    if (check_domains(domains, n, err) != CW_OK)
        return NULL;
    if (!claim_server()) {
        cw_error_set(err, CW_ERR_BUSY, "a CURVE server already runs in this process; share it between sockets");
        return NULL;
    }
    cw_curve_server_t *srv = calloc(1, sizeof *srv);
    if (!srv) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the CURVE server");
        pthread_mutex_lock(&server_lock);
        server_exists = false;
        pthread_mutex_unlock(&server_lock);
        return NULL;
    }
    atomic_init(&srv->stop, false);
    srv->cert = load_secret_cert(server_cert, "server", err);
    if (!srv->cert)
        goto error_out;
    if (!cw_curve_context()) {
        cw_error_set(err, CW_ERR_INTERNAL, "cannot create the ZeroMQ context for CURVE");
        goto error_out;
    }
    for (size_t i = 0; i < n; i++) {
        zap_domain_t *d = &srv->domains[srv->n_domains];
        snprintf(d->name, sizeof d->name, "%s", domains[i].name);
        d->keys = zcertstore_new(domains[i].dir);
        if (!d->keys) {
            cw_error_set(err, CW_ERR_NOMEM, "out of memory reading the certificates in '%s'", domains[i].dir);
            goto error_out;
        }
        srv->n_domains++;
    }
    /* Bound before this returns: in force for every socket bound afterwards. */
    if (start_zap(srv, err) != CW_OK)
        goto error_out;
    return srv;

error_out:
    cw_curve_server_destroy(&srv);
    return NULL;
}

static int set_opt(void *socket, int option, const void *value, size_t len, const char *what, cw_error_t *err)
{
    if (zmq_setsockopt(socket, option, value, len) != 0)
        return cw_error_set(err, CW_ERR_INTERNAL, "cannot set ZeroMQ %s: %s", what, zmq_strerror(errno));
    return CW_OK;
}

int cw_curve_server_apply(const cw_curve_server_t *srv, void *socket, cw_error_t *err)
{
    return cw_curve_server_apply_domain(srv, socket, srv && srv->n_domains ? srv->domains[0].name : NULL, err);
}

int cw_curve_server_apply_domain(const cw_curve_server_t *srv, void *socket, const char *domain, cw_error_t *err)
{
    if (!srv || !socket || !domain)
        return cw_error_set(err, CW_ERR_INVALID, "CURVE server apply: no server, socket or domain");
    if (!find_domain(srv, domain))
        return cw_error_set(err, CW_ERR_INVALID, "CURVE server: no admission list named '%s'", domain);
    int on = 1;
    int rc = set_opt(socket, ZMQ_CURVE_SERVER, &on, sizeof on, "CURVE server mode", err);
    if (rc == CW_OK)
        rc = set_opt(socket, ZMQ_CURVE_SECRETKEY, zcert_secret_key(srv->cert), CURVE_KEY_BYTES,
                     "CURVE secret key", err);
    if (rc == CW_OK)
        rc = set_opt(socket, ZMQ_CURVE_PUBLICKEY, zcert_public_key(srv->cert), CURVE_KEY_BYTES,
                     "CURVE public key", err);
    /* The handler admits a key by the list of the domain the socket names. */
    if (rc == CW_OK)
        rc = set_opt(socket, ZMQ_ZAP_DOMAIN, domain, strlen(domain), "ZAP domain", err);
    return rc;
}

const char *cw_curve_server_domain_or_first(const cw_curve_server_t *srv, const char *domain)
{
    if (!srv || srv->n_domains == 0)
        return NULL;
    return domain && find_domain(srv, domain) ? domain : srv->domains[0].name;
}

const char *cw_curve_server_public(const cw_curve_server_t *srv)
{
    return srv ? zcert_public_txt(srv->cert) : NULL;
}

void cw_curve_server_destroy(cw_curve_server_t **srv)
{
    if (!srv || !*srv)
        return;
    cw_curve_server_t *p = *srv;
    if (p->zap_started) {
        atomic_store(&p->stop, true);
        pthread_join(p->zap_thread, NULL);
    }
    if (p->zap) {
        /* Unbound first: inproc endpoints are released at once then, while
         * a close alone releases it later, on libzmq's reaper thread, and a
         * server made right after would find it still taken. */
        zmq_unbind(p->zap, ZAP_ENDPOINT);
        zmq_close(p->zap);
    }
    for (size_t i = 0; i < p->n_domains; i++)
        zcertstore_destroy(&p->domains[i].keys);
    zcert_destroy(&p->cert);
    free(*srv);
    *srv = NULL;
    pthread_mutex_lock(&server_lock);
    server_exists = false;
    pthread_mutex_unlock(&server_lock);
}

struct cw_curve_keylist {
    zcertstore_t *store;
};

cw_curve_keylist_t *cw_curve_keylist_new(const char *dir, cw_error_t *err)
{
    if (check_clients_dir(dir, err) != CW_OK)
        return NULL;
    cw_curve_context(); /* czmq set up (signals, logging) before it is used */
    cw_curve_keylist_t *list = calloc(1, sizeof *list);
    if (list)
        list->store = zcertstore_new(dir);
    if (!list || !list->store) {
        free(list);
        cw_error_set(err, CW_ERR_NOMEM, "out of memory reading the certificates in '%s'", dir);
        return NULL;
    }
    return list;
}

bool cw_curve_keylist_has(cw_curve_keylist_t *list, const char *key)
{
    if (!list || !key || strlen(key) != CW_CURVE_KEY_TXT)
        return false;
    return zcertstore_lookup(list->store, key) != NULL;
}

void cw_curve_keylist_destroy(cw_curve_keylist_t **list)
{
    if (!list || !*list)
        return;
    zcertstore_destroy(&(*list)->store);
    free(*list);
    *list = NULL;
}

/* A Z85 key as given, or the public key of the certificate file it names. */
static int resolve_server_public(const char *value, char *out, cw_error_t *err)
{
    cw_curve_context(); /* czmq set up (signals, logging) before it is used */
    if (!value || !*value)
        return cw_error_set(err, CW_ERR_INVALID,
                            "CURVE server public key: none given (the server's 40-character key or its .key file)");
    uint8_t bin[CURVE_KEY_BYTES];
    if (strlen(value) == CW_CURVE_KEY_TXT && zmq_z85_decode(bin, value)) {
        memcpy(out, value, CW_CURVE_KEY_TXT + 1);
        return CW_OK;
    }
    struct stat st;
    if (stat(value, &st) != 0 || !S_ISREG(st.st_mode))
        return cw_error_set(err, CW_ERR_NOT_FOUND,
                            "CURVE server public key '%s': neither a 40-character Z85 key nor a certificate file",
                            value);
    zcert_t *cert = cert_syntax_ok(value) ? zcert_load(value) : NULL;
    if (!cert)
        return cw_error_set(err, CW_ERR_FORMAT, "CURVE server public key '%s': not a ZeroMQ certificate", value);
    memcpy(out, zcert_public_txt(cert), CW_CURVE_KEY_TXT + 1);
    zcert_destroy(&cert);
    return CW_OK;
}

cw_curve_client_t *cw_curve_client_new(const char *client_cert, const char *server_public, cw_error_t *err)
{
    cw_curve_client_t *cli = calloc(1, sizeof *cli);
    if (!cli) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory creating the CURVE client");
        return NULL;
    }
    if (resolve_server_public(server_public, cli->server_public, err) != CW_OK)
        goto error_out;
    cli->cert = load_secret_cert(client_cert, "client", err);
    if (!cli->cert)
        goto error_out;
    return cli;

error_out:
    cw_curve_client_destroy(&cli);
    return NULL;
}

int cw_curve_client_apply(const cw_curve_client_t *cli, void *socket, cw_error_t *err)
{
    if (!cli || !socket)
        return cw_error_set(err, CW_ERR_INVALID, "CURVE client apply: no client or socket");
    int rc = set_opt(socket, ZMQ_CURVE_SERVERKEY, cli->server_public, CW_CURVE_KEY_TXT, "CURVE server key", err);
    if (rc == CW_OK)
        rc = set_opt(socket, ZMQ_CURVE_SECRETKEY, zcert_secret_key(cli->cert), CURVE_KEY_BYTES,
                     "CURVE secret key", err);
    if (rc == CW_OK)
        rc = set_opt(socket, ZMQ_CURVE_PUBLICKEY, zcert_public_key(cli->cert), CURVE_KEY_BYTES,
                     "CURVE public key", err);
    return rc;
}

void cw_curve_client_destroy(cw_curve_client_t **cli)
{
    if (!cli || !*cli)
        return;
    zcert_destroy(&(*cli)->cert);
    free(*cli);
    *cli = NULL;
}

bool cw_endpoint_is_local(const char *endpoint)
{
    if (!endpoint)
        return false;
    if (strncmp(endpoint, "ipc://", 6) == 0 || strncmp(endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    const char *colon = strrchr(host, ':');
    if (!colon)
        return false;
    size_t len = (size_t)(colon - host);
    char buf[256];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (strcmp(buf, "localhost") == 0 || strcmp(buf, "lo") == 0 || strcmp(buf, "[::1]") == 0 ||
        strcmp(buf, "::1") == 0)
        return true;
    /* 127.0.0.0/8: four dotted decimal parts, the first 127. */
    unsigned a, b, c, d;
    char tail;
    return sscanf(buf, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 && c < 256 &&
           d < 256;
}

int cw_curve_check_plain_bind(const char *endpoint, bool curve, bool allow_plain_remote, const char *option,
                              cw_error_t *err)
{
    if (curve || allow_plain_remote || cw_endpoint_is_local(endpoint))
        return CW_OK;
    return cw_error_set(err, CW_ERR_INVALID,
                        "refusing to bind %s without CURVE: it is reachable from other machines and events "
                        "would travel unencrypted and unauthenticated; turn curve on, bind a loopback address, "
                        "or set %s = true",
                        endpoint ? endpoint : "(none)", option ? option : "allow_plain_remote");
}

static bool name_ok(const char *name)
{
    if (!name || !*name || name[0] == '.' || strlen(name) > 100)
        return false;
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("-_.", *p))
            return false;
    return true;
}

int cw_curve_keygen(const char *dir, const char *name, char *public_path, char *secret_path, size_t cap,
                    cw_error_t *err)
{
    if (!name_ok(name))
        return cw_error_set(err, CW_ERR_INVALID,
                            "key name '%s': use letters, digits, '-', '_' and '.', not starting with '.'",
                            name ? name : "");
    if (!dir || !*dir)
        dir = ".";
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return cw_error_set(err, CW_ERR_NOT_FOUND, "key directory '%s': not a directory", dir);
    char pub[4096], sec[sizeof pub + sizeof SECRET_SUFFIX];
    int n = snprintf(pub, sizeof pub, "%s/%s.key", dir, name);
    if (n < 0 || (size_t)n >= sizeof pub)
        return cw_error_set(err, CW_ERR_INVALID, "key directory '%s': path too long", dir);
    snprintf(sec, sizeof sec, "%s%s", pub, SECRET_SUFFIX);
    if (access(pub, F_OK) == 0 || access(sec, F_OK) == 0)
        return cw_error_set(err, CW_ERR_BUSY, "%s or %s already exists; not overwriting a key", pub, sec);

    /* The secret file is created 0600 before anything is written to it, so
     * the key is never readable by others, not even for a moment. */
    int fd = open(sec, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0)
        return cw_error_set(err, CW_ERR_IO, "cannot create %s: %s", sec, strerror(errno));
    close(fd);

    int rc = CW_OK;
    cw_curve_context(); /* czmq set up (signals, logging) before it is used */
    zcert_t *cert = zcert_new();
    if (!cert) {
        rc = cw_error_set(err, CW_ERR_INTERNAL, "cannot generate a CURVE key pair");
        goto out;
    }
    zcert_set_meta(cert, "name", "%s", name);
    zcert_set_meta(cert, "created-by", "callwatch keygen");
    if (zcert_save_secret(cert, sec) != 0 || chmod(sec, 0600) != 0) {
        rc = cw_error_set(err, CW_ERR_IO, "cannot write %s: %s", sec, strerror(errno));
        goto out;
    }
    if (zcert_save_public(cert, pub) != 0 || chmod(pub, 0644) != 0) {
        rc = cw_error_set(err, CW_ERR_IO, "cannot write %s: %s", pub, strerror(errno));
        goto out;
    }
    if (public_path && cap)
        snprintf(public_path, cap, "%s", pub);
    if (secret_path && cap)
        snprintf(secret_path, cap, "%s", sec);

out:
    zcert_destroy(&cert);
    if (rc != CW_OK) {
        unlink(sec);
        unlink(pub);
    }
    return rc;
}
