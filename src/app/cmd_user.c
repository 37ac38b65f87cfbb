/* cmd_user.c - `callwatch user add`: writes the web pages' users file (users.h). */
#include "app.h"

#include "callwatch/users.h"

#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void user_usage(FILE *out)
{
    fputs("usage: callwatch user add --users FILE NAME --role supervisor|qa|agent\n"
          "\n"
          "Adds NAME to the users file of `callwatch web` (or changes their role and\n"
          "password). A daemon whose [web] users names the file accepts acknowledgements\n"
          "only from its supervisors (`callwatch console -u NAME`). The password is read from standard input (one line), or asked\n"
          "twice without echo on a terminal. The file keeps salted Argon2id hashes\n"
          "(libsodium) and is written 0600.\n"
          "\n"
          "roles: supervisor (everything, acknowledges alerts), qa (everything,\n"
          "read-only), agent (only their own prompts).\n",
          out);
}

static bool get_password(char *pw, size_t cap)
{
    if (!isatty(STDIN_FILENO)) {
        if (!app_read_line(stdin, pw, cap)) {
            app_log("user add: expected the password as one line on standard input (at most %d bytes)",
                    CW_USER_PASSWORD_MAX);
            return false;
        }
        return true;
    }
    char again[CW_USER_PASSWORD_MAX + 2];
    bool ok = app_prompt_password("password: ", pw, cap) && app_prompt_password("again: ", again, sizeof again);
    if (ok && strcmp(pw, again) != 0) {
        app_log("user add: the passwords differ; nothing changed");
        ok = false;
    }
    sodium_memzero(again, sizeof again);
    return ok;
}

int cmd_user(int argc, char **argv)
{
    static const struct option opts[] = {
        {"users", required_argument, NULL, 'u'}, {"role", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    const char *users = NULL, *role_text = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:r:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': users = optarg; break;
        case 'r': role_text = optarg; break;
        case 'h': user_usage(stdout); return APP_OK;
        default: user_usage(stderr); return APP_USAGE;
        }
    }
    if (argc - optind != 2 || strcmp(argv[optind], "add") != 0 || !users || !role_text) {
        user_usage(stderr);
        return APP_USAGE;
    }
    const char *name = argv[optind + 1];
    cw_role_t role = cw_role_parse(role_text);
    if (role == CW_ROLE_NONE) {
        app_log("user add: --role '%s': supervisor, qa or agent", role_text);
        return APP_USAGE;
    }
    if (!cw_user_name_ok(name)) {
        app_log("user add: bad name '%s': 1-64 of A-Z a-z 0-9 . _ @ -", name);
        return APP_USAGE;
    }
    char pw[CW_USER_PASSWORD_MAX + 2];
    if (!get_password(pw, sizeof pw))
        return APP_USAGE;
    cw_error_t err;
    cw_error_clear(&err);
    int rc = cw_users_add(users, name, role, pw, &err);
    sodium_memzero(pw, sizeof pw);
    if (rc != CW_OK) {
        app_log("user add: %s", err.msg);
        return rc == CW_ERR_INVALID ? APP_USAGE : APP_FAILURE;
    }
    app_log("user %s (%s) written to %s", name, cw_role_name(role), users);
    return APP_OK;
}
