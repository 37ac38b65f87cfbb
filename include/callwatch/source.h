/* source.h - where call audio comes from: files and live sound devices.
 *
 * A source delivers the two legs of one call (agent, customer) as float
 * samples in [-1, 1] at the source's native rate per leg. Backends live
 * behind a small function table: source_file.c (libsndfile) and
 * source_portaudio.c (PortAudio input streams); more (a PBX ingest) can be
 * added without touching callers.
 *
 * Threading: a source is driven by one consumer thread (cw_source_pull,
 * cw_source_stats, close). Live backends copy audio from the PortAudio
 * callback into a lock-free ring (ring.h) and never allocate, lock or block
 * in the callback; overruns are counted, never silent.
 */
#ifndef CALLWATCH_SOURCE_H
#define CALLWATCH_SOURCE_H

#include "callwatch/config.h"
#include "callwatch/cue.h"
#include "callwatch/error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "agent" / "customer". */
const char *cw_leg_name(cw_leg_id leg);

typedef struct cw_source_info {
    bool has_leg[CW_LEG_COUNT];  /* which legs this source carries */
    int rate_hz[CW_LEG_COUNT];   /* native sample rate of each present leg */
    char description[CW_PATH_MAX]; /* "file.wav (WAV u-law 8000 Hz 2 ch)", "hw:0 'USB Audio' 48000 Hz" */
    double duration_s;           /* files: length in seconds; live: 0 */
} cw_source_info_t;

typedef enum cw_pull_status {
    CW_PULL_OK = 0,      /* got some frames or none available yet */
    CW_PULL_EOF = 1,     /* no more audio will come (file ended) */
    CW_PULL_ERROR = -1   /* the source failed (device vanished, read error); see err */
} cw_pull_status;

typedef struct cw_source_stats {
    uint64_t frames_delivered[CW_LEG_COUNT]; /* frames handed to the consumer */
    uint64_t frames_dropped[CW_LEG_COUNT];   /* frames lost to ring overrun */
} cw_source_stats_t;

typedef struct cw_source cw_source_t;

/* Options of a file source. */
typedef struct cw_file_source_opts {
    const char *path;
    int agent_channel;   /* for a stereo (or wider) file; default 0 */
    int customer_channel;/* default 1 */
    int mono_leg;        /* for a mono file: CW_LEG_AGENT or CW_LEG_CUSTOMER; -1 = error if mono */
    bool realtime;       /* pace delivery by the wall clock like a live device */
} cw_file_source_opts_t;

/* Opens an audio file with libsndfile (WAV, FLAC, u-law/a-law, any rate).
 * Errors (message names the path): missing/unreadable file, not audio,
 * zero-length or truncated, channel numbers out of range, a mono file without
 * mono_leg, more than 8 channels. */
cw_source_t *cw_source_file_new(const cw_file_source_opts_t *opts, cw_error_t *err);

/* Opens and starts the PortAudio input(s) named by a [line] section: either
 * `device` (channels agent_channel/customer_channel of one device) or
 * `agent_device` + `customer_device` (one mono device each). Devices are named
 * by index or by case-insensitive substring of their name; an unknown or
 * ambiguous name is an error that lists the candidates. Requires
 * cw_portaudio_init() to have succeeded. */
cw_source_t *cw_source_portaudio_new(const cw_line_config_t *line, const cw_config_t *cfg, cw_error_t *err);

/* Initialises / terminates PortAudio once per process (reference counted;
 * silences ALSA's stderr chatter while probing). */
int cw_portaudio_init(cw_error_t *err);
void cw_portaudio_terminate(void);

/* Prints the input devices (index, name, host API, max input channels,
 * default rate) to out. Returns 0 or an error. */
int cw_portaudio_list_devices(FILE *out, cw_error_t *err);

/* Stops the source and frees it; NULLs *src. Accepts NULL. */
void cw_source_destroy(cw_source_t **src);

const cw_source_info_t *cw_source_info(const cw_source_t *src);

/* Moves up to `cap` frames per present leg into out[leg] (out[leg] may be NULL
 * for an absent leg) and sets n_out[leg]. Non-blocking for live and realtime
 * sources (returns what is available now); a plain file source returns up to
 * cap frames per call. The legs of one source advance together (the same
 * number of frames for legs of one device or file). */
cw_pull_status cw_source_pull(cw_source_t *src, float *out[CW_LEG_COUNT], size_t cap,
                              size_t n_out[CW_LEG_COUNT], cw_error_t *err);

void cw_source_get_stats(const cw_source_t *src, cw_source_stats_t *stats);

/* After CW_PULL_EOF: the backend's reason for the end (owned by the source),
 * or NULL when it has none beyond "end of audio". */
const char *cw_source_end_reason(const cw_source_t *src);

/* The function table a backend fills. */
typedef struct cw_source_ops {
    const char *name;
    cw_pull_status (*pull)(void *impl, float *out[CW_LEG_COUNT], size_t cap,
                           size_t n_out[CW_LEG_COUNT], cw_error_t *err);
    void (*stats)(const void *impl, cw_source_stats_t *stats);
    void (*destroy)(void *impl);
    /* Optional: why the source ended ("hangup", "disconnect: ..."), valid
     * until the source is destroyed; NULL or absent = no more to say. */
    const char *(*end_reason)(const void *impl);
} cw_source_ops_t;

/* For backends: wraps impl (ownership passes to the source) with its ops and info. */
cw_source_t *cw_source_wrap(const cw_source_ops_t *ops, void *impl, const cw_source_info_t *info);

#endif
