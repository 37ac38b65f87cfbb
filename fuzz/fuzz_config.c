/* fuzz_config.c - fuzz target: the configuration file parser.
 *
 * Input: the text of an INI file. It is loaded with cw_config_load_string,
 * and when it loads, validated and dumped (the dump must read back). */
#include "callwatch/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    cw_config_t *cfg = cw_config_new();
    if (!text || !cfg)
        goto out;
    memcpy(text, data, size);
    text[size] = '\0';
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_config_load_string(cfg, text, "fuzz.ini", &err) != CW_OK) {
        /* Every refusal says why. */
        if (err.msg[0] == '\0')
            abort();
        goto out;
    }
    (void)cw_config_validate(cfg, &err);
    char *dump = NULL;
    size_t dump_len = 0;
    FILE *out = open_memstream(&dump, &dump_len);
    if (!out)
        goto out;
    cw_config_dump(cfg, out);
    fclose(out);
    /* What callwatch writes as a config, callwatch must read back. */
    cw_config_t *again = cw_config_new();
    if (again && cw_config_load_string(again, dump, "dump", &err) != CW_OK) {
        fprintf(stderr, "dump does not read back: %s\n", err.msg);
        abort();
    }
    cw_config_destroy(&again);
    free(dump);
out:
    cw_config_destroy(&cfg);
    free(text);
    return 0;
}
