/* cmd_devices.c - `callwatch devices` and `callwatch config`. */
#include "app.h"

#include "callwatch/source.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

int cmd_devices(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        puts("usage: callwatch devices\n\n"
             "Lists the audio input devices PortAudio sees: index, name, host API, input\n"
             "channels and default rate. Use the index or a part of the name as `device`\n"
             "in a [line NAME] section of the configuration.");
        return APP_OK;
    }
    if (argc > 1) {
        app_log("devices: unexpected argument '%s'", argv[1]);
        return APP_USAGE;
    }
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_portaudio_init(&err) != CW_OK) {
        app_log("%s", err.msg);
        return APP_FAILURE;
    }
    int rc = cw_portaudio_list_devices(stdout, &err);
    cw_portaudio_terminate();
    if (rc != CW_OK) {
        app_log("%s", err.msg);
        return APP_FAILURE;
    }
    return APP_OK;
}

int cmd_config(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"man", no_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *config_path = NULL;
    bool man = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_path = optarg; break;
        case 'm': man = true; break;
        case 'h':
            puts("usage: callwatch config [-c FILE] [--man]\n\n"
                 "Prints the effective configuration: every option with its value and a\n"
                 "line of documentation, as a valid INI file to start your own from.\n"
                 "--man prints the options as roff instead, the body of callwatch.ini(5).");
            return APP_OK;
        default: return APP_USAGE;
        }
    }
    if (man) {
        cw_config_man(stdout);
        return APP_OK;
    }
    cw_config_t *cfg = app_load_config(config_path, false);
    if (!cfg)
        return APP_USAGE;
    cw_config_dump(cfg, stdout);
    cw_config_destroy(&cfg);
    return APP_OK;
}
