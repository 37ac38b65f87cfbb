/* cmd_keygen.c - `callwatch keygen NAME`: a CURVE key pair for the bus. */
#include "app.h"

#include <getopt.h>
#include <stdio.h>

static void keygen_usage(FILE *out)
{
    fputs("usage: callwatch keygen [--dir DIR] NAME\n"
          "\n"
          "Makes a ZeroMQ CURVE key pair: DIR/NAME.key (public certificate, give it to the\n"
          "daemon's [bus] curve_clients_dir or to subscribers as curve_server_public) and\n"
          "DIR/NAME.key_secret (secret, mode 0600, stays with its owner). Existing files\n"
          "are never overwritten.\n"
          "\n"
          "options:\n"
          "  -d, --dir DIR   write into DIR (default: the current directory)\n"
          "  -h, --help      this help\n",
          out);
}

int cmd_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = ".";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'h': keygen_usage(stdout); return APP_OK;
        default: keygen_usage(stderr); return APP_USAGE;
        }
    }
    if (optind != argc - 1) {
        app_log("keygen: expected exactly one NAME (try 'callwatch keygen --help')");
        return APP_USAGE;
    }
    cw_error_t err;
    cw_error_clear(&err);
    char pub[CW_PATH_MAX * 2], sec[CW_PATH_MAX * 2];
    int rc = cw_curve_keygen(dir, argv[optind], pub, sec, sizeof pub, &err);
    if (rc != CW_OK) {
        app_log("keygen: %s", err.msg);
        return rc == CW_ERR_INVALID ? APP_USAGE : APP_FAILURE;
    }
    printf("public: %s\nsecret: %s\n", pub, sec);
    return APP_OK;
}
