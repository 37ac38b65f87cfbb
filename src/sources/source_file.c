/* source_file.c - a call recording as a source, read with libsndfile.
 *
 * Promises: every open-time problem is reported before any audio is read,
 * with the path and what is wrong; a file that ends before its header says
 * it should is a CW_PULL_ERROR at the point where the data runs out, never a
 * silently shorter call. Frames come out as float in [-1, 1] at the file's
 * own rate; both legs of a file advance together.
 *
 * realtime: the file is replayed like a live device. The clock starts at the
 * first pull; a pull hands out only the frames whose time has come, so a
 * caller polling in a loop sees audio at the rate a sound card would deliver
 * it.
 */
#include "callwatch/source.h"

#include <errno.h>
#include <sndfile.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* A call has two legs; anything wider than a multitrack recorder's 8 tracks
 * is more likely a wrong file than a call. */
#define FILE_MAX_CHANNELS 8

/* Frames read from libsndfile per read call: bounds the interleaved buffer. */
#define FILE_READ_FRAMES 4096

typedef struct file_source {
    SNDFILE *sf;
    SF_INFO sfinfo;
    char path[CW_PATH_MAX];
    int channel_of_leg[CW_LEG_COUNT]; /* file channel feeding each leg, -1 = absent */
    bool realtime;
    bool clock_started;
    struct timespec t0;               /* first pull (realtime) */
    uint64_t frames_read;             /* frames taken from the file so far */
    float *interleaved;               /* FILE_READ_FRAMES * channels */
} file_source_t;

static double seconds_since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

static const char *major_format_name(int format)
{
    switch (format & SF_FORMAT_TYPEMASK) {
    case SF_FORMAT_WAV: return "WAV";
    case SF_FORMAT_WAVEX: return "WAVEX";
    case SF_FORMAT_RF64: return "RF64";
    case SF_FORMAT_W64: return "W64";
    case SF_FORMAT_FLAC: return "FLAC";
    case SF_FORMAT_OGG: return "Ogg";
    case SF_FORMAT_AIFF: return "AIFF";
    case SF_FORMAT_AU: return "AU";
    case SF_FORMAT_CAF: return "CAF";
    case SF_FORMAT_RAW: return "raw";
    default: return "audio";
    }
}

static const char *subtype_name(int format)
{
    switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8: return "8-bit PCM";
    case SF_FORMAT_PCM_U8: return "8-bit PCM";
    case SF_FORMAT_PCM_16: return "16-bit PCM";
    case SF_FORMAT_PCM_24: return "24-bit PCM";
    case SF_FORMAT_PCM_32: return "32-bit PCM";
    case SF_FORMAT_FLOAT: return "32-bit float";
    case SF_FORMAT_DOUBLE: return "64-bit float";
    case SF_FORMAT_ULAW: return "u-law";
    case SF_FORMAT_ALAW: return "a-law";
    case SF_FORMAT_GSM610: return "GSM 6.10";
    case SF_FORMAT_IMA_ADPCM: return "IMA ADPCM";
    case SF_FORMAT_MS_ADPCM: return "MS ADPCM";
    case SF_FORMAT_VORBIS: return "Vorbis";
    default: return "encoded";
    }
}

/* Bytes per frame of uncompressed formats whose data size follows from the
 * frame count; 0 when it does not (compressed, or unknown). */
static long fixed_bytes_per_frame(int format, int channels)
{
    int bytes;
    switch (format & SF_FORMAT_SUBMASK) {
    case SF_FORMAT_PCM_S8: case SF_FORMAT_PCM_U8:
    case SF_FORMAT_ULAW: case SF_FORMAT_ALAW: bytes = 1; break;
    case SF_FORMAT_PCM_16: bytes = 2; break;
    case SF_FORMAT_PCM_24: bytes = 3; break;
    case SF_FORMAT_PCM_32: case SF_FORMAT_FLOAT: bytes = 4; break;
    case SF_FORMAT_DOUBLE: bytes = 8; break;
    default: return 0;
    }
    return (long)bytes * channels;
}

/* Reads the declared size of the "data" chunk of a RIFF/WAVE file; -1 if the
 * file is not a plain RIFF WAVE or has no data chunk. libsndfile clamps the
 * frame count of a truncated WAV to what is there (only noting it in its log),
 * so the header has to be read directly to notice the truncation. */
static long long wav_declared_data_bytes(FILE *f, long long *data_offset)
{
    unsigned char hdr[12];
    if (fread(hdr, 1, sizeof hdr, f) != sizeof hdr || memcmp(hdr, "RIFF", 4) != 0 ||
        memcmp(hdr + 8, "WAVE", 4) != 0)
        return -1;
    unsigned char chunk[8];
    while (fread(chunk, 1, sizeof chunk, f) == sizeof chunk) {
        unsigned long size = (unsigned long)chunk[4] | (unsigned long)chunk[5] << 8 |
                             (unsigned long)chunk[6] << 16 | (unsigned long)chunk[7] << 24;
        if (memcmp(chunk, "data", 4) == 0) {
            *data_offset = ftell(f);
            return (long long)size;
        }
        /* Chunks are padded to an even size. */
        if (fseek(f, (long)(size + (size & 1)), SEEK_CUR) != 0)
            return -1;
    }
    return -1;
}

/* 0, or an error when the header of a WAV file promises more audio than the
 * file holds. */
static int check_not_truncated(const char *path, const SF_INFO *sfinfo, long long file_bytes,
                               cw_error_t *err)
{
    int major = sfinfo->format & SF_FORMAT_TYPEMASK;
    if (major != SF_FORMAT_WAV && major != SF_FORMAT_WAVEX)
        return CW_OK;
    FILE *f = fopen(path, "rb");
    if (!f)
        return cw_error_set(err, CW_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    long long data_offset = 0;
    long long declared = wav_declared_data_bytes(f, &data_offset);
    fclose(f);
    /* 0 and 0xFFFFFFFF are what streaming writers leave when they never
     * go back to fill in the size: no promise made, nothing to check. */
    if (declared <= 0 || declared == 0xFFFFFFFFLL)
        return CW_OK;
    long long present = file_bytes - data_offset;
    if (present < declared) {
        long bpf = fixed_bytes_per_frame(sfinfo->format, sfinfo->channels);
        if (bpf > 0)
            return cw_error_set(err, CW_ERR_FORMAT,
                                "%s: file is truncated: header declares %lld frames, the file holds %lld",
                                path, declared / bpf, present > 0 ? present / bpf : 0);
        return cw_error_set(err, CW_ERR_FORMAT,
                            "%s: file is truncated: header declares %lld bytes of audio, the file holds %lld",
                            path, declared, present > 0 ? present : 0);
    }
    return CW_OK;
}

static cw_pull_status file_pull(void *impl, float *out[CW_LEG_COUNT], size_t cap,
                                size_t n_out[CW_LEG_COUNT], cw_error_t *err)
{
    file_source_t *fs = impl;
    uint64_t total = (uint64_t)fs->sfinfo.frames;
    if (fs->frames_read >= total)
        return CW_PULL_EOF;

    size_t want = cap;
    if (fs->realtime) {
        if (!fs->clock_started) {
            clock_gettime(CLOCK_MONOTONIC, &fs->t0);
            fs->clock_started = true;
        }
        double due = seconds_since(&fs->t0) * fs->sfinfo.samplerate;
        uint64_t due_frames = due >= (double)total ? total : (uint64_t)due;
        uint64_t ready = due_frames > fs->frames_read ? due_frames - fs->frames_read : 0;
        if (ready < want)
            want = (size_t)ready;
    }
    if (want > total - fs->frames_read)
        want = (size_t)(total - fs->frames_read);

    size_t done = 0;
    while (done < want) {
        size_t chunk = want - done < FILE_READ_FRAMES ? want - done : FILE_READ_FRAMES;
        sf_count_t got = sf_readf_float(fs->sf, fs->interleaved, (sf_count_t)chunk);
        if (got < 0)
            got = 0;
        int channels = fs->sfinfo.channels;
        for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
            int ch = fs->channel_of_leg[leg];
            if (ch < 0)
                continue;
            float *dst = out[leg] + done;
            for (sf_count_t i = 0; i < got; i++)
                dst[i] = fs->interleaved[i * channels + ch];
        }
        done += (size_t)got;
        fs->frames_read += (uint64_t)got;
        if ((size_t)got < chunk) {
            /* The header check at open catches truncated WAVs; this catches
             * the rest (a FLAC cut short, a read error). */
            for (int leg = 0; leg < CW_LEG_COUNT; leg++)
                n_out[leg] = fs->channel_of_leg[leg] >= 0 ? done : 0;
            const char *why = sf_error(fs->sf) ? sf_strerror(fs->sf) : "unexpected end of file";
            cw_error_set(err, CW_ERR_IO, "%s: audio ends early at frame %llu of %llu (%s)", fs->path,
                         (unsigned long long)fs->frames_read, (unsigned long long)total, why);
            return CW_PULL_ERROR;
        }
    }
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        n_out[leg] = fs->channel_of_leg[leg] >= 0 ? done : 0;
    return fs->frames_read >= total ? CW_PULL_EOF : CW_PULL_OK;
}

static void file_stats(const void *impl, cw_source_stats_t *stats)
{
    const file_source_t *fs = impl;
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        stats->frames_delivered[leg] = fs->channel_of_leg[leg] >= 0 ? fs->frames_read : 0;
}

static void file_destroy(void *impl)
{
    file_source_t *fs = impl;
    if (!fs)
        return;
    if (fs->sf)
        sf_close(fs->sf);
    free(fs->interleaved);
    free(fs);
}

static const cw_source_ops_t file_ops = {
    .name = "file",
    .pull = file_pull,
    .stats = file_stats,
    .destroy = file_destroy,
};

/* Decides which file channel feeds which leg; 0 or an error. */
static int map_channels(file_source_t *fs, const cw_file_source_opts_t *opts, cw_error_t *err)
{
    int channels = fs->sfinfo.channels;
    const char *path = fs->path;
    fs->channel_of_leg[CW_LEG_AGENT] = -1;
    fs->channel_of_leg[CW_LEG_CUSTOMER] = -1;
    if (channels == 1) {
        if (opts->mono_leg != CW_LEG_AGENT && opts->mono_leg != CW_LEG_CUSTOMER)
            return cw_error_set(err, CW_ERR_INVALID,
                                "%s is mono: say which leg it is with --leg agent|customer", path);
        fs->channel_of_leg[opts->mono_leg] = 0;
        return CW_OK;
    }
    int agent = opts->agent_channel, customer = opts->customer_channel;
    if (agent < 0 || agent >= channels)
        return cw_error_set(err, CW_ERR_INVALID,
                            "%s: agent channel %d is out of range: the file has %d channels (0..%d)", path,
                            agent, channels, channels - 1);
    if (customer < 0 || customer >= channels)
        return cw_error_set(err, CW_ERR_INVALID,
                            "%s: customer channel %d is out of range: the file has %d channels (0..%d)",
                            path, customer, channels, channels - 1);
    if (agent == customer)
        return cw_error_set(err, CW_ERR_INVALID,
                            "%s: agent and customer channel are both %d; they must differ", path, agent);
    fs->channel_of_leg[CW_LEG_AGENT] = agent;
    fs->channel_of_leg[CW_LEG_CUSTOMER] = customer;
    return CW_OK;
}

cw_source_t *cw_source_file_new(const cw_file_source_opts_t *opts, cw_error_t *err)
{
    if (!opts || !opts->path || !opts->path[0]) {
        cw_error_set(err, CW_ERR_INVALID, "file source: no path given");
        return NULL;
    }
    const char *path = opts->path;
    struct stat st;
    if (stat(path, &st) != 0) {
        cw_error_set(err, errno == ENOENT ? CW_ERR_NOT_FOUND : CW_ERR_IO, "%s: cannot open: %s", path,
                     strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        cw_error_set(err, CW_ERR_IO, "%s: not a regular file", path);
        return NULL;
    }

    file_source_t *fs = calloc(1, sizeof *fs);
    if (!fs) {
        cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    snprintf(fs->path, sizeof fs->path, "%s", path);
    fs->realtime = opts->realtime;

    if (st.st_size == 0) {
        cw_error_set(err, CW_ERR_FORMAT, "%s: file is empty (0 bytes), no audio", path);
        goto error_out;
    }
    fs->sf = sf_open(path, SFM_READ, &fs->sfinfo);
    if (!fs->sf) {
        /* sf_open does not tell unreadable from not-audio by code; errno
         * still holds the open(2) failure when there was one. */
        cw_error_set(err, CW_ERR_FORMAT, "%s: not an audio file libsndfile can read: %s", path,
                     sf_strerror(NULL));
        goto error_out;
    }
    if (fs->sfinfo.frames <= 0) {
        cw_error_set(err, CW_ERR_FORMAT, "%s: file holds no audio (0 frames)", path);
        goto error_out;
    }
    if (fs->sfinfo.channels > FILE_MAX_CHANNELS) {
        cw_error_set(err, CW_ERR_FORMAT, "%s: %d channels; at most %d are supported", path,
                     fs->sfinfo.channels, FILE_MAX_CHANNELS);
        goto error_out;
    }
    if (check_not_truncated(path, &fs->sfinfo, (long long)st.st_size, err) != CW_OK)
        goto error_out;
    if (map_channels(fs, opts, err) != CW_OK)
        goto error_out;
    fs->interleaved = malloc(sizeof(float) * FILE_READ_FRAMES * (size_t)fs->sfinfo.channels);
    if (!fs->interleaved) {
        cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
        goto error_out;
    }

    cw_source_info_t info;
    memset(&info, 0, sizeof info);
    for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
        info.has_leg[leg] = fs->channel_of_leg[leg] >= 0;
        info.rate_hz[leg] = info.has_leg[leg] ? fs->sfinfo.samplerate : 0;
    }
    info.duration_s = (double)fs->sfinfo.frames / fs->sfinfo.samplerate;
    snprintf(info.description, sizeof info.description, "%s (%s %s, %d Hz, %d ch, %.1f s)", base_name(path),
             major_format_name(fs->sfinfo.format), subtype_name(fs->sfinfo.format), fs->sfinfo.samplerate,
             fs->sfinfo.channels, info.duration_s);
    cw_source_t *src = cw_source_wrap(&file_ops, fs, &info);
    if (!src)
        cw_error_set(err, CW_ERR_NOMEM, "%s: out of memory", path);
    return src;

error_out:
    file_destroy(fs);
    return NULL;
}
