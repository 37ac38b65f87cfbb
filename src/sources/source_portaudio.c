/* source_portaudio.c - live capture from sound devices through PortAudio.
 *
 * One stream per device: a `device` line opens one stream with enough
 * channels to reach both mapped channels; an `agent_device` +
 * `customer_device` line opens two mono streams. Each stream's callback runs
 * on PortAudio's real-time thread and does nothing but copy its leg(s) into
 * per-leg lock-free rings (ring.h): no allocation, lock, log or system call.
 * The consumer thread drains the rings in cw_source_pull and watches for a
 * device that stopped: a stream that is no longer active, or one that claims
 * to run but delivered nothing for capture_stall_timeout_ms (measured with
 * CLOCK_MONOTONIC on the consumer side).
 */
#include "callwatch/source.h"
#include "callwatch/ring.h"

#include <ctype.h>
#include <fcntl.h>
#include <portaudio.h>
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Largest callback buffer the deinterleave scratch is sized for when
 * frames_per_buffer is 0 (PortAudio chooses, and may vary it). */
#define PA_MAX_CALLBACK_FRAMES 16384
#define PA_MIN_RING_FRAMES 4096
#define PA_MAX_STREAMS 2
#define PA_DEVICE_NAME_MAX 256
/* How long closing a source waits for its streams to close before leaving
 * them to a reaper thread (a wedged device may never answer). */
#define PA_CLOSE_WAIT_MS 2000

/* One PortAudio input stream and the legs it feeds. */
typedef struct pa_stream {
    struct pa_source *owner;
    PaStream *stream;
    int device;
    char device_name[PA_DEVICE_NAME_MAX];
    int channels;                       /* opened with this many */
    int channel_of_leg[CW_LEG_COUNT];   /* -1 = this stream does not feed the leg */
    float *scratch;                     /* PA_MAX_CALLBACK_FRAMES, callback only */
    size_t scratch_frames;
    struct timespec last_progress;      /* consumer side: when frames last arrived */
    uint64_t last_written;              /* consumer side: ring total at last_progress */
} pa_stream_t;

typedef struct pa_source {
    pa_stream_t streams[PA_MAX_STREAMS];
    int n_streams;
    cw_ring_t *ring[CW_LEG_COUNT];
    pa_stream_t *stream_of_leg[CW_LEG_COUNT];
    int stall_timeout_ms;
    uint64_t delivered[CW_LEG_COUNT];
} pa_source_t;

static int pa_refcount;

/* Streams of lost devices still being closed on reaper threads. */
static atomic_int pa_reapers_pending;

/* ---- init / terminate ---------------------------------------------------- */

int cw_portaudio_init(cw_error_t *err)
{
    if (pa_refcount > 0) {
        pa_refcount++;
        return CW_OK;
    }
    /* Probing prints pages of ALSA/JACK complaints about absent devices to
     * stderr; they alarm users and say nothing useful. */
    bool quiet = getenv("CALLWATCH_DEBUG") == NULL;
    int saved_stderr = -1;
    if (quiet) {
        fflush(stderr);
        saved_stderr = dup(STDERR_FILENO);
        int devnull = open("/dev/null", O_WRONLY);
        if (saved_stderr >= 0 && devnull >= 0)
            dup2(devnull, STDERR_FILENO);
        if (devnull >= 0)
            close(devnull);
    }
    PaError pe = Pa_Initialize();
    if (saved_stderr >= 0) {
        fflush(stderr);
        dup2(saved_stderr, STDERR_FILENO);
        close(saved_stderr);
    }
    if (pe != paNoError)
        return cw_error_set(err, CW_ERR_DEVICE, "cannot initialise PortAudio: %s", Pa_GetErrorText(pe));
    pa_refcount = 1;
    return CW_OK;
}

void cw_portaudio_terminate(void)
{
    if (pa_refcount <= 0)
        return;
    /* Pa_Terminate closes every stream, and would block on a wedged device
     * that a reaper is still waiting for; process exit releases it instead. */
    if (--pa_refcount == 0 && atomic_load(&pa_reapers_pending) == 0)
        Pa_Terminate();
}

/* ---- device lookup ------------------------------------------------------- */

static const char *host_api_name(const PaDeviceInfo *info)
{
    const PaHostApiInfo *api = Pa_GetHostApiInfo(info->hostApi);
    return api ? api->name : "?";
}

/* Appends "  3: 'name'\n" lines of the input devices to buf. */
static void append_input_devices(char *buf, size_t size)
{
    int n = Pa_GetDeviceCount();
    size_t len = strlen(buf);
    for (int i = 0; i < n && len + 1 < size; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (!info || info->maxInputChannels <= 0)
            continue;
        snprintf(buf + len, size - len, "%s%d '%s'", len ? ", " : "", i, info->name);
        len = strlen(buf);
    }
    if (len == 0)
        snprintf(buf, size, "(none)");
}

static bool contains_ignore_case(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (const char *p = haystack; *p; p++)
        if (strncasecmp(p, needle, n) == 0)
            return true;
    return n == 0;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isdigit((unsigned char)*s))
            return false;
    return true;
}

/* Index of the input device named `name` (index, exact name, or unique
 * case-insensitive substring), or a negative cw_status. */
static int find_input_device(const char *name, cw_error_t *err)
{
    int n = Pa_GetDeviceCount();
    char list[CW_ERROR_MAX / 2] = "";
    if (n < 0)
        return cw_error_set(err, CW_ERR_DEVICE, "cannot list audio devices: %s", Pa_GetErrorText(n));
    if (all_digits(name)) {
        long index = strtol(name, NULL, 10);
        const PaDeviceInfo *info = index < n ? Pa_GetDeviceInfo((int)index) : NULL;
        if (!info || info->maxInputChannels <= 0) {
            append_input_devices(list, sizeof list);
            return cw_error_set(err, CW_ERR_NOT_FOUND, "no input device with index %s; input devices: %s", name,
                                list);
        }
        return (int)index;
    }
    int found = -1, matches = 0;
    char matched[CW_ERROR_MAX / 2] = "";
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (!info || info->maxInputChannels <= 0)
            continue;
        if (strcasecmp(info->name, name) == 0)
            return i; /* an exact name wins over any substring match */
        if (contains_ignore_case(info->name, name)) {
            size_t len = strlen(matched);
            snprintf(matched + len, sizeof matched - len, "%s%d '%s'", matches ? ", " : "", i, info->name);
            found = i;
            matches++;
        }
    }
    if (matches == 1)
        return found;
    if (matches > 1)
        return cw_error_set(err, CW_ERR_INVALID,
                            "device name '%s' is ambiguous: it matches %s; use more of the name or the index",
                            name, matched);
    append_input_devices(list, sizeof list);
    return cw_error_set(err, CW_ERR_NOT_FOUND, "no input device matches '%s'; input devices: %s", name, list);
}

int cw_portaudio_list_devices(FILE *out, cw_error_t *err)
{
    int n = Pa_GetDeviceCount();
    if (n < 0)
        return cw_error_set(err, CW_ERR_DEVICE, "cannot list audio devices: %s", Pa_GetErrorText(n));
    fprintf(out, "%5s  %-40s %-12s %8s %10s\n", "index", "name", "host API", "inputs", "rate (Hz)");
    int shown = 0;
    for (int i = 0; i < n; i++) {
        const PaDeviceInfo *info = Pa_GetDeviceInfo(i);
        if (!info || info->maxInputChannels <= 0)
            continue;
        fprintf(out, "%5d  %-40s %-12s %8d %10.0f\n", i, info->name, host_api_name(info),
                info->maxInputChannels, info->defaultSampleRate);
        shown++;
    }
    if (shown == 0)
        fprintf(out, "(no input devices)\n");
    return CW_OK;
}

/* ---- the real-time callback ---------------------------------------------- */

/* Runs on PortAudio's audio thread: copy only. Ring overruns are counted by
 * the ring itself. */
static int capture_callback(const void *input, void *output, unsigned long frames,
                            const PaStreamCallbackTimeInfo *time_info, PaStreamCallbackFlags flags, void *user)
{
    (void)output;
    (void)time_info;
    (void)flags;
    pa_stream_t *ps = user;
    const float *in = input;
    if (!in)
        return paContinue;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        int ch = ps->channel_of_leg[leg];
        if (ch < 0)
            continue;
        cw_ring_t *ring = ps->owner->ring[leg];
        unsigned long done = 0;
        while (done < frames) {
            unsigned long chunk = frames - done;
            if (chunk > ps->scratch_frames)
                chunk = (unsigned long)ps->scratch_frames;
            const float *src = in + done * (unsigned long)ps->channels + (unsigned long)ch;
            for (unsigned long i = 0; i < chunk; i++)
                ps->scratch[i] = src[i * (unsigned long)ps->channels];
            cw_ring_write(ring, ps->scratch, chunk);
            done += chunk;
        }
    }
    return paContinue;
}

/* ---- pull / stats / destroy ---------------------------------------------- */

static double ms_since(const struct timespec *t0, const struct timespec *now)
{
    return (double)(now->tv_sec - t0->tv_sec) * 1e3 + (double)(now->tv_nsec - t0->tv_nsec) / 1e6;
}

/* CW_OK, or the error of a stream that stopped delivering. */
static int check_stream_alive(pa_stream_t *ps, int stall_timeout_ms, cw_error_t *err)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    uint64_t written = 0;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        if (ps->channel_of_leg[leg] >= 0)
            written += cw_ring_total_written(ps->owner->ring[leg]) + cw_ring_overruns(ps->owner->ring[leg]);
    if (written != ps->last_written) {
        ps->last_written = written;
        ps->last_progress = now;
    }
    double silent_ms = ms_since(&ps->last_progress, &now);
    PaError active = Pa_IsStreamActive(ps->stream);
    if (active <= 0)
        return cw_error_set(err, CW_ERR_DEVICE, "device '%s' stopped delivering audio (stream %s; no samples for %.0f ms)",
                            ps->device_name, active < 0 ? Pa_GetErrorText(active) : "no longer active", silent_ms);
    if (stall_timeout_ms > 0 && silent_ms >= stall_timeout_ms)
        return cw_error_set(err, CW_ERR_DEVICE, "device '%s' stopped delivering audio (no samples for %.0f ms)",
                            ps->device_name, silent_ms);
    return CW_OK;
}

static cw_pull_status pa_pull(void *impl, float *out[CW_LEG_COUNT], size_t cap, size_t n_out[CW_LEG_COUNT],
                              cw_error_t *err)
{
    pa_source_t *src = impl;
    /* Legs of one stream advance together: read the same count from both. */
    for (int s = 0; s < src->n_streams; s++) {
        pa_stream_t *ps = &src->streams[s];
        size_t avail = cap;
        for (int leg = 0; leg < CW_LEG_COUNT; leg++)
            if (ps->channel_of_leg[leg] >= 0 && cw_ring_read_space(src->ring[leg]) < avail)
                avail = cw_ring_read_space(src->ring[leg]);
        for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
            if (ps->channel_of_leg[leg] < 0)
                continue;
            n_out[leg] = cw_ring_read(src->ring[leg], out[leg], avail);
            src->delivered[leg] += n_out[leg];
        }
    }
    for (int s = 0; s < src->n_streams; s++) {
        if (check_stream_alive(&src->streams[s], src->stall_timeout_ms, err) != CW_OK)
            return CW_PULL_ERROR;
    }
    return CW_PULL_OK;
}

static void pa_stats(const void *impl, cw_source_stats_t *stats)
{
    const pa_source_t *src = impl;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        stats->frames_delivered[leg] = src->delivered[leg];
        stats->frames_dropped[leg] = src->ring[leg] ? cw_ring_overruns(src->ring[leg]) : 0;
    }
}

static void pa_close_and_free(pa_source_t *src)
{
    for (int s = 0; s < src->n_streams; s++) {
        pa_stream_t *ps = &src->streams[s];
        if (ps->stream) {
            /* Abort, not stop: a capture has nothing to drain, and abort
             * does not wait for a device that stopped answering. */
            Pa_AbortStream(ps->stream);
            Pa_CloseStream(ps->stream);
        }
        free(ps->scratch);
    }
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        cw_ring_destroy(&src->ring[leg]);
    free(src);
}

/* Hand-over between pa_destroy and its reaper thread: whichever of the two
 * lets go last frees it. */
typedef struct pa_reap_job {
    pa_source_t *src;
    sem_t done;
    atomic_int refs;
} pa_reap_job_t;

static void reap_job_release(pa_reap_job_t *job)
{
    if (atomic_fetch_sub(&job->refs, 1) == 1) {
        sem_destroy(&job->done);
        free(job);
    }
}

static void *pa_reaper(void *arg)
{
    pa_reap_job_t *job = arg;
    pa_close_and_free(job->src);
    atomic_fetch_sub(&pa_reapers_pending, 1);
    sem_post(&job->done);
    reap_job_release(job);
    return NULL;
}

/* A device that stopped answering can block Pa_AbortStream inside the driver
 * until it comes back (seen with ALSA reads that never return). The thread
 * that serves every other line must not wait for it: the streams are closed
 * on a detached reaper thread, waited for at most PA_CLOSE_WAIT_MS (a healthy
 * device closes in a few ms), and otherwise left to finish on their own; the
 * buffers the callback writes live until the stream is really closed. */
static void pa_destroy(void *impl)
{
    pa_source_t *src = impl;
    if (!src)
        return;
    pa_reap_job_t *job = calloc(1, sizeof *job);
    if (job && sem_init(&job->done, 0, 0) == 0) {
        job->src = src;
        atomic_init(&job->refs, 2);
        pthread_attr_t attr;
        pthread_t reaper;
        if (pthread_attr_init(&attr) == 0) {
            pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
            atomic_fetch_add(&pa_reapers_pending, 1);
            int rc = pthread_create(&reaper, &attr, pa_reaper, job);
            pthread_attr_destroy(&attr);
            if (rc == 0) {
                struct timespec deadline;
                clock_gettime(CLOCK_REALTIME, &deadline);
                deadline.tv_sec += PA_CLOSE_WAIT_MS / 1000;
                deadline.tv_nsec += (long)(PA_CLOSE_WAIT_MS % 1000) * 1000000L;
                if (deadline.tv_nsec >= 1000000000L) {
                    deadline.tv_sec++;
                    deadline.tv_nsec -= 1000000000L;
                }
                while (sem_timedwait(&job->done, &deadline) != 0 && errno == EINTR)
                    ;
                reap_job_release(job);
                return;
            }
            atomic_fetch_sub(&pa_reapers_pending, 1);
        }
        sem_destroy(&job->done);
    }
    free(job);
    /* No thread to spare: close here, blocking if we must. */
    pa_close_and_free(src);
}

static const cw_source_ops_t pa_ops = {
    .name = "portaudio",
    .pull = pa_pull,
    .stats = pa_stats,
    .destroy = pa_destroy,
};

/* ---- open ---------------------------------------------------------------- */

/* Opens (not starts) a stream on device_name feeding the legs whose channel
 * is >= 0 in channel_of_leg. */
static int open_stream(pa_source_t *src, pa_stream_t *ps, const char *device_name,
                       const int channel_of_leg[CW_LEG_COUNT], const cw_line_config_t *line,
                       const cw_config_t *cfg, cw_error_t *err)
{
    ps->owner = src;
    int device = find_input_device(device_name, err);
    if (device < 0)
        return device;
    const PaDeviceInfo *info = Pa_GetDeviceInfo(device);
    ps->device = device;
    snprintf(ps->device_name, sizeof ps->device_name, "%s", info->name);

    int needed = 1;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        ps->channel_of_leg[leg] = channel_of_leg[leg];
        if (channel_of_leg[leg] + 1 > needed)
            needed = channel_of_leg[leg] + 1;
    }
    if (needed > info->maxInputChannels)
        return cw_error_set(err, CW_ERR_INVALID,
                            "line '%s': device '%s' has %d input channel%s; channel %d does not exist (channels count from 0)",
                            line->name, info->name, info->maxInputChannels, info->maxInputChannels == 1 ? "" : "s",
                            needed - 1);
    ps->channels = needed;

    double rate = line->sample_rate > 0 ? line->sample_rate : info->defaultSampleRate;
    PaStreamParameters params = {
        .device = device,
        .channelCount = needed,
        .sampleFormat = paFloat32,
        .suggestedLatency = info->defaultHighInputLatency,
        .hostApiSpecificStreamInfo = NULL,
    };
    unsigned long fpb = cfg->capture_frames_per_buffer > 0 ? (unsigned long)cfg->capture_frames_per_buffer
                                                            : paFramesPerBufferUnspecified;
    ps->scratch_frames = fpb != paFramesPerBufferUnspecified && fpb < PA_MAX_CALLBACK_FRAMES ? fpb
                                                                                            : PA_MAX_CALLBACK_FRAMES;
    ps->scratch = calloc(ps->scratch_frames, sizeof(float));
    if (!ps->scratch)
        return cw_error_set(err, CW_ERR_NOMEM, "out of memory");

    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        if (channel_of_leg[leg] < 0)
            continue;
        double ring_s = cfg->capture_ring_s > 0 ? cfg->capture_ring_s : 1.0;
        size_t frames = (size_t)(ring_s * rate);
        src->ring[leg] = cw_ring_new(sizeof(float), frames < PA_MIN_RING_FRAMES ? PA_MIN_RING_FRAMES : frames);
        if (!src->ring[leg])
            return cw_error_set(err, CW_ERR_NOMEM, "out of memory for the %s ring", cw_leg_name((cw_leg_id)leg));
        src->stream_of_leg[leg] = ps;
    }

    PaError pe = Pa_OpenStream(&ps->stream, &params, NULL, rate, fpb, paNoFlag, capture_callback, ps);
    if (pe != paNoError) {
        ps->stream = NULL;
        return cw_error_set(err, CW_ERR_DEVICE, "line '%s': cannot open device '%s' (%d ch, %.0f Hz): %s", line->name,
                            info->name, needed, rate, Pa_GetErrorText(pe));
    }
    const PaStreamInfo *si = Pa_GetStreamInfo(ps->stream);
    if (si && si->sampleRate > 0 && (int)(si->sampleRate + 0.5) != (int)(rate + 0.5))
        return cw_error_set(err, CW_ERR_DEVICE, "line '%s': device '%s' runs at %.0f Hz, not %.0f Hz", line->name,
                            info->name, si->sampleRate, rate);
    return CW_OK;
}

cw_source_t *cw_source_portaudio_new(const cw_line_config_t *line, const cw_config_t *cfg, cw_error_t *err)
{
    if (pa_refcount <= 0) {
        cw_error_set(err, CW_ERR_INTERNAL, "PortAudio is not initialised (call cw_portaudio_init first)");
        return NULL;
    }
    bool one_device = line->device[0] != '\0';
    bool two_devices = line->agent_device[0] != '\0' && line->customer_device[0] != '\0';
    if (one_device == two_devices) {
        cw_error_set(err, CW_ERR_INVALID,
                     "line '%s': give either device or both agent_device and customer_device", line->name);
        return NULL;
    }
    pa_source_t *src = calloc(1, sizeof *src);
    if (!src) {
        cw_error_set(err, CW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    src->stall_timeout_ms = cfg->capture_stall_timeout_ms;
    cw_source_info_t info;
    memset(&info, 0, sizeof info);

    if (one_device) {
        if (line->agent_channel < 0 || line->customer_channel < 0 || line->agent_channel == line->customer_channel) {
            cw_error_set(err, CW_ERR_INVALID, "line '%s': agent_channel %d and customer_channel %d must be two different channels >= 0",
                         line->name, line->agent_channel, line->customer_channel);
            goto error_out;
        }
        int map[CW_LEG_COUNT] = {line->agent_channel, line->customer_channel};
        src->n_streams = 1;
        if (open_stream(src, &src->streams[0], line->device, map, line, cfg, err) != CW_OK)
            goto error_out;
        const PaStreamInfo *si = Pa_GetStreamInfo(src->streams[0].stream);
        /* "%.200s": a description is for people; cut, never fail. */
        snprintf(info.description, sizeof info.description, "%.200s '%.200s' %.0f Hz (agent ch %d, customer ch %d)",
                 line->device, src->streams[0].device_name, si->sampleRate, line->agent_channel,
                 line->customer_channel);
    } else {
        const char *names[CW_LEG_COUNT] = {line->agent_device, line->customer_device};
        src->n_streams = 2;
        for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
            int map[CW_LEG_COUNT] = {-1, -1};
            map[leg] = 0;
            if (open_stream(src, &src->streams[leg], names[leg], map, line, cfg, err) != CW_OK)
                goto error_out;
        }
        snprintf(info.description, sizeof info.description, "agent '%s' + customer '%s' %.0f Hz",
                 src->streams[0].device_name, src->streams[1].device_name,
                 Pa_GetStreamInfo(src->streams[0].stream)->sampleRate);
    }
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        pa_stream_t *ps = src->stream_of_leg[leg];
        info.has_leg[leg] = true;
        info.rate_hz[leg] = (int)(Pa_GetStreamInfo(ps->stream)->sampleRate + 0.5);
    }
    for (int s = 0; s < src->n_streams; s++) {
        pa_stream_t *ps = &src->streams[s];
        clock_gettime(CLOCK_MONOTONIC, &ps->last_progress);
        PaError pe = Pa_StartStream(ps->stream);
        if (pe != paNoError) {
            cw_error_set(err, CW_ERR_DEVICE, "line '%s': cannot start device '%s': %s", line->name, ps->device_name,
                         Pa_GetErrorText(pe));
            goto error_out;
        }
    }
    cw_source_t *source = cw_source_wrap(&pa_ops, src, &info);
    if (!source)
        cw_error_set(err, CW_ERR_NOMEM, "out of memory");
    return source;

error_out:
    pa_destroy(src);
    return NULL;
}
