/* users.h - who may use the web pages (`callwatch web`) and in which role,
 * and who may acknowledge alerts at a daemon that reads the same file (acks.h).
 *
 * A users file is text, one user per line: NAME:ROLE:HASH, where NAME is 1..64
 * of [A-Za-z0-9._@-], ROLE is supervisor, qa or agent and HASH is libsodium's
 * crypto_pwhash_str (Argon2id, salted, its parameters inside the string).
 * Lines starting with '#' and empty lines are ignored. The file is written
 * 0600 (it holds hashes, not passwords, but they can be attacked offline).
 *
 * Roles: a supervisor sees everything and acknowledges alerts; qa sees
 * everything read-only; an agent sees only their own prompts.
 *
 * Not thread-safe for writing; a loaded cw_users_t is read-only and may be
 * read from any thread. Verifying a password costs about 64 MiB and 0.1 s
 * (that is the point): callers limit how many run at once.
 */
#ifndef CALLWATCH_USERS_H
#define CALLWATCH_USERS_H

#include "callwatch/error.h"
#include "callwatch/throttle.h"

#include <stddef.h>

#define CW_USER_NAME_MAX 64
#define CW_USER_PASSWORD_MAX 1024

typedef enum cw_role { CW_ROLE_NONE = 0, CW_ROLE_AGENT = 1, CW_ROLE_QA = 2, CW_ROLE_SUPERVISOR = 3 } cw_role_t;

typedef struct cw_users cw_users_t;

/* "supervisor", "qa", "agent" -> the role; anything else CW_ROLE_NONE. */
cw_role_t cw_role_parse(const char *text);
const char *cw_role_name(cw_role_t role);

/* 1 when name is a valid user name (see above). */
int cw_user_name_ok(const char *name);

/* Loads path. A missing file, a malformed line (named path:line), a bad
 * role or a duplicate name: NULL with err. */
cw_users_t *cw_users_load(const char *path, cw_error_t *err);
void cw_users_destroy(cw_users_t **u);
size_t cw_users_count(const cw_users_t *u);

/* The role of name when password is theirs, else CW_ROLE_NONE (an unknown
 * name costs as much time as a wrong password). Thread-safe. */
cw_role_t cw_users_check(const cw_users_t *u, const char *name, const char *password);

/* cw_users_check() behind a throttle (throttle.h), for a check that
 * anyone who reaches the server may ask for: while key (the name, or name
 * and client address) or the server as a whole must wait, CW_ROLE_NONE with
 * *wait_s > 0 and no password checked; otherwise *wait_s = 0, the check
 * runs and its outcome is recorded under key. t NULL = no throttle.
 * Thread-safe. */
cw_role_t cw_users_check_throttled(const cw_users_t *u, cw_throttle_t *t, const char *key, const char *name,
                                   const char *password, double *wait_s);

/* Signed requests: proof that a holder of the users file (the web pages,
 * which checked the user's password at login) speaks for name, without
 * the password. The key is derived from name's stored hash (BLAKE2b), the
 * signature is HMAC-SHA256 of message, as 64 lowercase hex digits. Only a
 * process that can read the users file can make one; the daemon, reading
 * the same file, checks it (acks.h). */
#define CW_USER_SIG_HEX 64

/* Writes the signature of message by name into hex (65 bytes with the NUL):
 * 0, or -1 when name is not in u. Thread-safe. */
int cw_users_sign(const cw_users_t *u, const char *name, const char *message, char hex[CW_USER_SIG_HEX + 1]);

/* The role of name when hex is name's signature of message (compared in
 * constant time), else CW_ROLE_NONE. Thread-safe. */
cw_role_t cw_users_check_signed(const cw_users_t *u, const char *name, const char *message, const char *hex);

/* Adds name (or replaces its role and password) in the file at path,
 * creating it 0600 when missing; the file is rewritten through a temporary
 * file and rename, so a crash leaves the old or the new file. Errors name
 * the file and what was wrong (bad name, empty or too long password). */
int cw_users_add(const char *path, const char *name, cw_role_t role, const char *password, cw_error_t *err);

#endif
