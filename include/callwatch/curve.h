/* curve.h - ZeroMQ CURVE encryption and client authentication for every
 * socket callwatch binds or connects (bus PUB, acknowledgement channel,
 * broker).
 *
 * Keys are czmq certificates (zcert): a public file "NAME.key" holding the
 * Z85 public key and a secret file "NAME.key_secret" (mode 0600) holding both.
 *
 * Server side: cw_curve_server_new() loads the server's secret certificate
 * and starts the process's ZAP handler (RFC 27, a thread answering on
 * inproc://zeromq.zap.01) that admits only CURVE clients whose public
 * certificate is in `clients_dir` (re-read when the directory changes, so
 * keys can be added or removed while running; removal refuses the key's next
 * connection, it does not cut one already up). With several admission lists
 * (cw_curve_server_new_domains()) each server socket names its list by its
 * ZAP domain, so a key is admitted only on the sockets of its list (the
 * broker: node keys at the frontend, subscriber keys at the backend). A CURVE server socket must
 * live in the ZeroMQ context the handler watches: create it with
 * zmq_socket(cw_curve_context(), type), then cw_curve_server_apply() before
 * binding. One server object per process serves every server socket.
 *
 * Client side: cw_curve_client_new() loads the client's secret certificate and
 * the server's public key; cw_curve_client_apply() before connecting. A
 * client's context does not matter.
 *
 * Objects are immutable after creation: apply from any thread. Create and
 * destroy from one thread; destroy servers only after their sockets closed.
 */
#ifndef CALLWATCH_CURVE_H
#define CALLWATCH_CURVE_H

#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>

/* Z85 text of a CURVE key: 40 characters. */
#define CW_CURVE_KEY_TXT 40

typedef struct cw_curve_server cw_curve_server_t;
typedef struct cw_curve_client cw_curve_client_t;

/* The process-wide ZeroMQ context of CURVE server sockets (czmq's, whose
 * signal handling is left to the application). NULL if it cannot be created.
 * Terminated by czmq at process exit: close its sockets before. Thread-safe. */
void *cw_curve_context(void);

/* server_cert: path of the server's secret certificate ("bus.key_secret"; the
 * public "bus.key" is accepted too if "bus.key_secret" is next to it).
 * clients_dir: directory of admitted clients' public certificates; it must
 * exist (an empty one admits nobody). Errors name the file or directory:
 * CW_ERR_NOT_FOUND, CW_ERR_FORMAT (not a certificate / no secret key).
 * At most one server exists per process (ZAP has one handler per context):
 * a second one while the first lives is CW_ERR_BUSY. */
cw_curve_server_t *cw_curve_server_new(const char *server_cert, const char *clients_dir, cw_error_t *err);

/* The admission list cw_curve_server_new() makes, and the one the broker
 * uses for its nodes (its frontend and the nodes' acknowledgement link). */
#define CW_CURVE_DOMAIN_CLIENTS "callwatch"
#define CW_CURVE_DOMAIN_NODES "callwatch-nodes"

/* An admission list: the ZAP domain its sockets name and the directory of
 * the public certificates it admits (as clients_dir). */
typedef struct cw_curve_domain {
    const char *name;
    const char *dir;
} cw_curve_domain_t;

/* Like cw_curve_server_new() with n (1..8) admission lists: a key is
 * admitted on a socket only when it is in the list of the domain that socket
 * was given by cw_curve_server_apply_domain() (cw_curve_server_apply(): the
 * first list). A client of any other list, or of none, fails the handshake
 * (ZAP status 400). Names: 1..63 bytes, distinct. */
cw_curve_server_t *cw_curve_server_new_domains(const char *server_cert, const cw_curve_domain_t *domains, size_t n,
                                               cw_error_t *err);

/* A directory of public certificates looked up by key, outside ZAP: the
 * broker uses it to tell which admitted peers are nodes. `dir` must be a
 * readable directory (CW_ERR_NOT_FOUND naming it). Not thread-safe: one
 * thread uses a list. */
typedef struct cw_curve_keylist cw_curve_keylist_t;
cw_curve_keylist_t *cw_curve_keylist_new(const char *dir, cw_error_t *err);

/* True if the Z85 public key `key` (40 characters) has a certificate in the
 * directory now: the directory is re-read when it changed, so a lookup costs
 * a directory scan; cache answers on hot paths. */
bool cw_curve_keylist_has(cw_curve_keylist_t *list, const char *key);

void cw_curve_keylist_destroy(cw_curve_keylist_t **list);

/* Makes `socket` (a libzmq socket created in cw_curve_context()) a CURVE
 * server with this server's keys, authenticated by the ZAP handler against
 * the server's first admission list. Call before bind. */
int cw_curve_server_apply(const cw_curve_server_t *srv, void *socket, cw_error_t *err);

/* Same, admitting the keys of the list named `domain` (CW_ERR_INVALID when
 * the server has no such list). */
int cw_curve_server_apply_domain(const cw_curve_server_t *srv, void *socket, const char *domain, cw_error_t *err);

/* `domain` if the server has that admission list, else its first list's
 * name (for sockets that serve one role when the server has lists per role,
 * and everyone otherwise). */
const char *cw_curve_server_domain_or_first(const cw_curve_server_t *srv, const char *domain);

/* Z85 public key of the server (40 characters), owned by srv. */
const char *cw_curve_server_public(const cw_curve_server_t *srv);

/* Stops the ZAP handler, frees, NULLs *srv. Accepts NULL. */
void cw_curve_server_destroy(cw_curve_server_t **srv);

/* client_cert: path of the client's secret certificate (as for the server).
 * server_public: the server's Z85 public key (40 characters) or the path of
 * its public certificate. */
cw_curve_client_t *cw_curve_client_new(const char *client_cert, const char *server_public, cw_error_t *err);

/* Makes `socket` a CURVE client of the server. Call before connect. */
int cw_curve_client_apply(const cw_curve_client_t *cli, void *socket, cw_error_t *err);

void cw_curve_client_destroy(cw_curve_client_t **cli);

/* True if a bind to `endpoint` can only be reached from this machine:
 * ipc://, inproc://, or tcp:// on 127.0.0.0/8, ::1, localhost or "lo".
 * False for wildcards ("*", 0.0.0.0), other addresses and interfaces. */
bool cw_endpoint_is_local(const char *endpoint);

/* The rule for binding without CURVE: refused (CW_ERR_INVALID, naming the
 * endpoint and `option`, e.g. "[bus] allow_plain_remote") when the endpoint
 * is not local, unless allow_plain_remote. 0 when curve is on. */
int cw_curve_check_plain_bind(const char *endpoint, bool curve, bool allow_plain_remote, const char *option,
                              cw_error_t *err);

/* Writes a new key pair DIR/NAME.key (public, 0644) and DIR/NAME.key_secret
 * (0600). NAME: letters, digits, '-', '_', '.', not starting with '.'.
 * Existing files are never overwritten (CW_ERR_BUSY). The paths written go
 * to public_path / secret_path (may be NULL) of `cap` bytes. */
int cw_curve_keygen(const char *dir, const char *name, char *public_path, char *secret_path, size_t cap,
                    cw_error_t *err);

#endif
