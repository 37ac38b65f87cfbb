/* fuzz_audio.c - fuzz target: audio file loading (libsndfile behind the
 * file source).
 *
 * Input: the bytes of an audio file. They are written to an in-memory file,
 * opened with cw_source_file_new as `callwatch analyze` would (a mono file as
 * the customer leg) and every frame is read until end of file or an error. */
#define _GNU_SOURCE
#include "callwatch/source.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Frames read per pull, and a bound so a header claiming hours of audio
 * cannot make one input run for minutes. */
#define PULL_FRAMES 4096
#define MAX_FRAMES (16000 * 60)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("cw-fuzz-audio", 0);
    if (fd < 0)
        return 0;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            close(fd);
            return 0;
        }
        off += (size_t)n;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    cw_file_source_opts_t opts = {.path = path, .agent_channel = 0, .customer_channel = 1,
                                  .mono_leg = CW_LEG_CUSTOMER, .realtime = false};
    cw_error_t err;
    cw_error_clear(&err);
    cw_source_t *src = cw_source_file_new(&opts, &err);
    if (!src) {
        if (err.msg[0] == '\0')
            abort();
        close(fd);
        return 0;
    }
    static float buf[CW_LEG_COUNT][PULL_FRAMES];
    float *out[CW_LEG_COUNT] = {buf[0], buf[1]};
    size_t total = 0;
    for (;;) {
        size_t n_out[CW_LEG_COUNT] = {0, 0};
        cw_pull_status st = cw_source_pull(src, out, PULL_FRAMES, n_out, &err);
        total += n_out[0] > n_out[1] ? n_out[0] : n_out[1];
        if (st != CW_PULL_OK || total > MAX_FRAMES)
            break;
        if (n_out[0] == 0 && n_out[1] == 0)
            break; /* a plain file source that gives nothing is done */
    }
    cw_source_destroy(&src);
    close(fd);
    return 0;
}
