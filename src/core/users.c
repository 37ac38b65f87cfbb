/* users.c - see callwatch/users.h */
#include "callwatch/users.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define USERS_MAX 10000
#define LINE_MAX_LEN (CW_USER_NAME_MAX + 16 + crypto_pwhash_STRBYTES + 8)

typedef struct user {
    char name[CW_USER_NAME_MAX + 1];
    cw_role_t role;
    char hash[crypto_pwhash_STRBYTES];
} user_t;

struct cw_users {
    user_t *users;
    size_t n;
    /* Checked against when the name is unknown, so timing does not say
     * which names exist. */
    char dummy_hash[crypto_pwhash_STRBYTES];
};

cw_role_t cw_role_parse(const char *text)
{
    if (!text)
        return CW_ROLE_NONE;
    if (strcmp(text, "supervisor") == 0)
        return CW_ROLE_SUPERVISOR;
    if (strcmp(text, "qa") == 0)
        return CW_ROLE_QA;
    if (strcmp(text, "agent") == 0)
        return CW_ROLE_AGENT;
    return CW_ROLE_NONE;
}

const char *cw_role_name(cw_role_t role)
{
    switch (role) {
    case CW_ROLE_SUPERVISOR: return "supervisor";
    case CW_ROLE_QA: return "qa";
    case CW_ROLE_AGENT: return "agent";
    default: return "none";
    }
}

int cw_user_name_ok(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > CW_USER_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                  c == '_' || c == '@' || c == '-';
        if (!ok)
            return 0;
    }
    return 1;
}

static int init_sodium(cw_error_t *err)
{
    if (sodium_init() < 0)
        return cw_error_set(err, CW_ERR_INTERNAL, "libsodium failed to initialise");
    return CW_OK;
}

/* Parses "NAME:ROLE:HASH" into u; a message in why on failure. */
static bool parse_line(char *line, user_t *u, const char **why)
{
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) {
        *why = "expected NAME:ROLE:HASH";
        return false;
    }
    *c1 = *c2 = '\0';
    if (!cw_user_name_ok(line)) {
        *why = "bad user name (1-64 of A-Z a-z 0-9 . _ @ -)";
        return false;
    }
    u->role = cw_role_parse(c1 + 1);
    if (u->role == CW_ROLE_NONE) {
        *why = "bad role (supervisor, qa or agent)";
        return false;
    }
    const char *hash = c2 + 1;
    if (strncmp(hash, "$argon2", 7) != 0 || strlen(hash) >= sizeof u->hash) {
        *why = "bad password hash (write users with `callwatch user add`)";
        return false;
    }
    snprintf(u->name, sizeof u->name, "%s", line);
    snprintf(u->hash, sizeof u->hash, "%s", hash);
    return true;
}

static int read_users(FILE *f, const char *path, cw_users_t *u, cw_error_t *err)
{
    char line[LINE_MAX_LEN + 2];
    size_t cap = 0;
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len && line[len - 1] != '\n' && !feof(f))
            return cw_error_set(err, CW_ERR_FORMAT, "%s:%d: line too long", path, lineno);
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (u->n >= USERS_MAX)
            return cw_error_set(err, CW_ERR_FORMAT, "%s: more than %d users", path, USERS_MAX);
        if (u->n == cap) {
            cap = cap ? cap * 2 : 16;
            user_t *grown = realloc(u->users, cap * sizeof *grown);
            if (!grown)
                return cw_error_set(err, CW_ERR_NOMEM, "out of memory reading %s", path);
            u->users = grown;
        }
        const char *why = NULL;
        if (!parse_line(line, &u->users[u->n], &why))
            return cw_error_set(err, CW_ERR_FORMAT, "%s:%d: %s", path, lineno, why);
        for (size_t i = 0; i < u->n; i++)
            if (strcmp(u->users[i].name, u->users[u->n].name) == 0)
                return cw_error_set(err, CW_ERR_FORMAT, "%s:%d: user '%s' listed twice", path, lineno,
                                    u->users[i].name);
        u->n++;
    }
    if (ferror(f))
        return cw_error_set(err, CW_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    return CW_OK;
}

cw_users_t *cw_users_load(const char *path, cw_error_t *err)
{
    if (init_sodium(err) != CW_OK)
        return NULL;
    if (!path || !*path) {
        cw_error_set(err, CW_ERR_INVALID, "no users file: set [web] users or --users (see `callwatch user add`)");
        return NULL;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        cw_error_set(err, errno == ENOENT ? CW_ERR_NOT_FOUND : CW_ERR_IO, "cannot open users file %s: %s", path,
                     strerror(errno));
        return NULL;
    }
    cw_users_t *u = calloc(1, sizeof *u);
    if (!u) {
        fclose(f);
        cw_error_set(err, CW_ERR_NOMEM, "out of memory reading %s", path);
        return NULL;
    }
    int rc = read_users(f, path, u, err);
    fclose(f);
    /* A throwaway hash with the same cost as the real ones. */
    if (rc == CW_OK && crypto_pwhash_str(u->dummy_hash, "x", 1, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                         crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        rc = cw_error_set(err, CW_ERR_NOMEM, "out of memory hashing (libsodium needs 64 MiB)");
    if (rc != CW_OK)
        cw_users_destroy(&u);
    return u;
}

void cw_users_destroy(cw_users_t **u)
{
    if (!u || !*u)
        return;
    free((*u)->users);
    free(*u);
    *u = NULL;
}

size_t cw_users_count(const cw_users_t *u)
{
    return u ? u->n : 0;
}

cw_role_t cw_users_check(const cw_users_t *u, const char *name, const char *password)
{
    if (!u || !name || !password)
        return CW_ROLE_NONE;
    size_t plen = strlen(password);
    if (plen > CW_USER_PASSWORD_MAX)
        return CW_ROLE_NONE;
    const user_t *found = NULL;
    for (size_t i = 0; i < u->n; i++)
        if (strcmp(u->users[i].name, name) == 0)
            found = &u->users[i];
    const char *hash = found ? found->hash : u->dummy_hash;
    int ok = crypto_pwhash_str_verify(hash, password, plen) == 0;
    return found && ok ? found->role : CW_ROLE_NONE;
}

cw_role_t cw_users_check_throttled(const cw_users_t *u, cw_throttle_t *t, const char *key, const char *name,
                                   const char *password, double *wait_s)
{
    double now_s = cw_throttle_now_s();
    *wait_s = cw_throttle_wait_s(t, key, now_s);
    if (*wait_s > 0)
        return CW_ROLE_NONE;
    cw_role_t role = cw_users_check(u, name, password);
    if (role == CW_ROLE_NONE)
        cw_throttle_failed(t, key, cw_throttle_now_s());
    else
        cw_throttle_passed(t, key);
    return role;
}

static const user_t *find_user(const cw_users_t *u, const char *name)
{
    for (size_t i = 0; u && name && i < u->n; i++)
        if (strcmp(u->users[i].name, name) == 0)
            return &u->users[i];
    return NULL;
}

/* The signing key of a user: BLAKE2b of their stored hash, under a context
 * of its own so it is no other key derived from it. */
static void sign_key(const user_t *user, unsigned char key[crypto_auth_hmacsha256_KEYBYTES])
{
    static const char context[] = "callwatch signed request v1";
    crypto_generichash(key, crypto_auth_hmacsha256_KEYBYTES, (const unsigned char *)user->hash, strlen(user->hash),
                       (const unsigned char *)context, sizeof context - 1);
}

int cw_users_sign(const cw_users_t *u, const char *name, const char *message, char hex[CW_USER_SIG_HEX + 1])
{
    const user_t *user = find_user(u, name);
    hex[0] = '\0';
    if (!user || !message)
        return -1;
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES], mac[crypto_auth_hmacsha256_BYTES];
    sign_key(user, key);
    crypto_auth_hmacsha256(mac, (const unsigned char *)message, strlen(message), key);
    sodium_bin2hex(hex, CW_USER_SIG_HEX + 1, mac, sizeof mac);
    sodium_memzero(key, sizeof key);
    return 0;
}

cw_role_t cw_users_check_signed(const cw_users_t *u, const char *name, const char *message, const char *hex)
{
    const user_t *user = find_user(u, name);
    unsigned char mac[crypto_auth_hmacsha256_BYTES];
    size_t got = 0;
    if (!user || !message || !hex || strlen(hex) != CW_USER_SIG_HEX ||
        sodium_hex2bin(mac, sizeof mac, hex, CW_USER_SIG_HEX, NULL, &got, NULL) != 0 || got != sizeof mac)
        return CW_ROLE_NONE;
    unsigned char key[crypto_auth_hmacsha256_KEYBYTES];
    sign_key(user, key);
    int ok = crypto_auth_hmacsha256_verify(mac, (const unsigned char *)message, strlen(message), key) == 0;
    sodium_memzero(key, sizeof key);
    return ok ? user->role : CW_ROLE_NONE;
}

/* Copies the users file at path (if any) to out, leaving out name's line. */
static int copy_others(const char *path, FILE *out, const char *name, cw_error_t *err)
{
    FILE *in = fopen(path, "r");
    if (!in)
        return errno == ENOENT ? CW_OK : cw_error_set(err, CW_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    char line[LINE_MAX_LEN + 2];
    size_t nlen = strlen(name);
    while (fgets(line, sizeof line, in)) {
        if (strncmp(line, name, nlen) == 0 && line[nlen] == ':')
            continue;
        fputs(line, out);
    }
    int bad = ferror(in);
    fclose(in);
    return bad ? cw_error_set(err, CW_ERR_IO, "cannot read %s", path) : CW_OK;
}

int cw_users_add(const char *path, const char *name, cw_role_t role, const char *password, cw_error_t *err)
{
    if (init_sodium(err) != CW_OK)
        return err->code;
    if (!cw_user_name_ok(name))
        return cw_error_set(err, CW_ERR_INVALID, "bad user name '%s': 1-64 of A-Z a-z 0-9 . _ @ -",
                            name ? name : "");
    if (role == CW_ROLE_NONE)
        return cw_error_set(err, CW_ERR_INVALID, "bad role: supervisor, qa or agent");
    size_t plen = password ? strlen(password) : 0;
    if (plen == 0 || plen > CW_USER_PASSWORD_MAX)
        return cw_error_set(err, CW_ERR_INVALID, "the password must be 1..%d bytes", CW_USER_PASSWORD_MAX);
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, password, plen, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory hashing the password (libsodium needs 64 MiB)");
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return cw_error_set(err, CW_ERR_INVALID, "users file path too long: %s", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!out) {
        if (fd >= 0)
            close(fd);
        return cw_error_set(err, CW_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    }
    int rc = copy_others(path, out, name, err);
    if (rc == CW_OK)
        fprintf(out, "%s:%s:%s\n", name, cw_role_name(role), hash);
    sodium_memzero(hash, sizeof hash);
    if (fflush(out) != 0 || fsync(fileno(out)) != 0)
        rc = rc ? rc : cw_error_set(err, CW_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
    fclose(out);
    if (rc == CW_OK && rename(tmp, path) != 0)
        rc = cw_error_set(err, CW_ERR_IO, "cannot replace %s: %s", path, strerror(errno));
    if (rc != CW_OK)
        unlink(tmp);
    return rc;
}
