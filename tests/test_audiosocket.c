/* test_audiosocket.c - the AudioSocket ingest: the frame decoder fed whole,
 * byte by byte and in odd chunks with every error it must catch, and the
 * server on a real loopback socket: leg pairing and alignment, exact audio,
 * end reasons, each protocol violation closing only its own connection with
 * a logged reason naming the peer, refusal over max_connections. */
#include "callwatch/audiosocket.h"

#include "check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ----------------------------------------------------------------- */

static size_t put_frame(uint8_t *out, int kind, const uint8_t *payload, size_t len)
{
    out[0] = (uint8_t)kind;
    out[1] = (uint8_t)(len >> 8);
    out[2] = (uint8_t)len;
    if (len)
        memcpy(out + 3, payload, len);
    return 3 + len;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct got_frame {
    int kind;
    size_t length;
    uint8_t payload[700];
} got_frame_t;

/* Feeds data in chunks of the sizes in `chunks` (cycled); collects frames. */
static int feed_chunked(cw_audiosocket_parser_t *p, const uint8_t *data, size_t n, const size_t *chunks,
                        size_t n_chunks, got_frame_t *out, int max_out, cw_error_t *err)
{
    int frames = 0;
    size_t pos = 0, ci = 0;
    while (pos < n) {
        size_t len = chunks[ci++ % n_chunks];
        if (len > n - pos)
            len = n - pos;
        size_t off = 0;
        while (off < len) {
            size_t used = 0;
            cw_audiosocket_frame_t f;
            int rc = cw_audiosocket_parser_feed(p, data + pos + off, len - off, &used, &f, err);
            off += used;
            if (rc < 0)
                return rc;
            if (rc == 0)
                break;
            if (frames < max_out) {
                out[frames].kind = f.kind;
                out[frames].length = f.length;
                memcpy(out[frames].payload, f.payload, f.length);
            }
            frames++;
        }
        pos += len;
    }
    return frames;
}

/* ---- decoder ------------------------------------------------------------------ */

static void test_parser_chunking(void)
{
    uint8_t stream[2048];
    size_t n = 0;
    uint8_t uuid[16], audio[641], code = 0x02, digit = '5';
    for (int i = 0; i < 16; i++)
        uuid[i] = (uint8_t)(0xa0 + i);
    for (int i = 0; i < 641; i++)
        audio[i] = (uint8_t)(i * 7 + 3);
    n += put_frame(stream + n, CW_AUDIOSOCKET_UUID, uuid, 16);
    n += put_frame(stream + n, CW_AUDIOSOCKET_AUDIO, audio, 320);
    n += put_frame(stream + n, CW_AUDIOSOCKET_DTMF, &digit, 1);
    n += put_frame(stream + n, CW_AUDIOSOCKET_AUDIO, audio, 0);
    n += put_frame(stream + n, CW_AUDIOSOCKET_AUDIO, audio + 1, 640);
    n += put_frame(stream + n, CW_AUDIOSOCKET_ERROR, &code, 1);
    n += put_frame(stream + n, CW_AUDIOSOCKET_HANGUP, NULL, 0);
    static const int kinds[] = {0x01, 0x10, 0x03, 0x10, 0x10, 0xff, 0x00};
    static const size_t lens[] = {16, 320, 1, 0, 640, 1, 0};
    const uint8_t *payloads[] = {uuid, audio, &digit, audio, audio + 1, &code, NULL};

    static const size_t whole[] = {SIZE_MAX}, bytes[] = {1}, odd[] = {2, 3, 5, 7, 11, 13, 17, 331},
                        across[] = {4, 1, 318, 2, 19};
    const size_t *plans[] = {whole, bytes, odd, across};
    const size_t plan_len[] = {1, 1, 8, 5};
    const char *plan_name[] = {"whole", "byte by byte", "odd chunks", "splits across headers"};
    for (int p = 0; p < 4; p++) {
        cw_audiosocket_parser_t *parser = cw_audiosocket_parser_new(640);
        got_frame_t got[8];
        cw_error_t err;
        cw_error_clear(&err);
        int frames = feed_chunked(parser, stream, n, plans[p], plan_len[p], got, 8, &err);
        CHECK(frames == 7, "%s: %d frames (%s)", plan_name[p], frames, err.msg);
        for (int i = 0; i < 7 && i < frames; i++) {
            CHECK(got[i].kind == kinds[i] && got[i].length == lens[i], "%s: frame %d kind 0x%02x len %zu", plan_name[p],
                  i, got[i].kind, got[i].length);
            CHECK(lens[i] == 0 || memcmp(got[i].payload, payloads[i], lens[i]) == 0, "%s: frame %d payload differs",
                  plan_name[p], i);
        }
        CHECK(cw_audiosocket_parser_pending(parser) == 0, "%s: bytes pending at the end", plan_name[p]);
        cw_audiosocket_parser_destroy(&parser);
        CHECK(parser == NULL, "destroy NULLs");
    }

    /* Half a frame is held, and counted. */
    cw_audiosocket_parser_t *parser = cw_audiosocket_parser_new(640);
    size_t used = 0;
    cw_audiosocket_frame_t f;
    cw_error_t err;
    int rc = cw_audiosocket_parser_feed(parser, stream, 10, &used, &f, &err);
    CHECK(rc == 0 && used == 10 && cw_audiosocket_parser_pending(parser) == 10, "partial: rc %d used %zu pending %zu",
          rc, used, cw_audiosocket_parser_pending(parser));
    cw_audiosocket_parser_destroy(&parser);
    cw_audiosocket_parser_destroy(&parser);
    CHECK(cw_audiosocket_parser_new(0) == NULL && cw_audiosocket_parser_new(65536) == NULL,
          "max payload out of 1..65535 is refused");
}

static void expect_header_error(const uint8_t hdr[3], size_t max, const char *want, const char *what)
{
    /* Fed byte by byte with payload bytes behind: the error must come on the
     * third header byte, before any payload is taken. */
    uint8_t bytes[3 + 64];
    memcpy(bytes, hdr, 3);
    memset(bytes + 3, 0x55, 64);
    cw_audiosocket_parser_t *p = cw_audiosocket_parser_new(max);
    cw_error_t err;
    cw_error_clear(&err);
    int rc = 0;
    size_t consumed = 0;
    for (size_t i = 0; i < sizeof bytes && rc >= 0; i++) {
        size_t used = 0;
        cw_audiosocket_frame_t f;
        rc = cw_audiosocket_parser_feed(p, bytes + i, 1, &used, &f, &err);
        consumed += used;
        if (rc == 1)
            break;
    }
    CHECK(rc == CW_ERR_FORMAT, "%s: rc %d", what, rc);
    CHECK(consumed == 3, "%s: error after %zu bytes, expected at the header's end", what, consumed);
    CHECK(strstr(err.msg, want) != NULL, "%s: message '%s' lacks '%s'", what, err.msg, want);
    size_t used = 0;
    cw_audiosocket_frame_t f;
    cw_error_clear(&err);
    rc = cw_audiosocket_parser_feed(p, bytes + 3, 10, &used, &f, &err);
    CHECK(rc == CW_ERR_FORMAT && used == 0 && strstr(err.msg, want), "%s: a failed decoder stays failed (%d, %s)",
          what, rc, err.msg);
    cw_audiosocket_parser_destroy(&p);
}

static void test_parser_errors(void)
{
    expect_header_error((const uint8_t[]){0x42, 0x00, 0x03}, 640, "unknown message kind 0x42", "garbage kind");
    expect_header_error((const uint8_t[]){0x02, 0x00, 0x06}, 640, "unknown message kind 0x02", "kind 0x02");
    expect_header_error((const uint8_t[]){0x12, 0x01, 0x40}, 640, "kind 0x12 (not 8 kHz) is not supported",
                        "slin16 audio");
    expect_header_error((const uint8_t[]){0x10, 0xff, 0xff}, 640, "declares 65535 payload bytes, over the maximum of 640",
                        "oversize audio");
    expect_header_error((const uint8_t[]){0x10, 0x02, 0x82}, 640, "declares 642 payload bytes", "one sample over");
    expect_header_error((const uint8_t[]){0x10, 0x01, 0x41}, 640, "odd payload of 321 bytes", "odd audio");
    expect_header_error((const uint8_t[]){0x01, 0x00, 0x0f}, 640, "UUID message (0x01) with a 15-byte payload",
                        "short UUID");
    expect_header_error((const uint8_t[]){0x01, 0x00, 0x24}, 640, "with a 36-byte payload; expected 16",
                        "UUID as text");
    expect_header_error((const uint8_t[]){0x03, 0x00, 0x02}, 640, "DTMF message (0x03) with a 2-byte payload",
                        "long DTMF");
    expect_header_error((const uint8_t[]){0x00, 0x00, 0x01}, 640, "hangup message (0x00) with a 1-byte payload",
                        "hangup with payload");
}

static void test_uuid_text(void)
{
    const uint8_t u[16] = {0x40, 0x32, 0x5e, 0xc2, 0x5e, 0xfd, 0x4b, 0xd3,
                           0x80, 0x5f, 0x53, 0x57, 0x6e, 0x58, 0x1d, 0x13};
    char text[CW_AUDIOSOCKET_UUID_TEXT];
    cw_audiosocket_uuid_text(u, text);
    CHECK(strcmp(text, "40325ec2-5efd-4bd3-805f-53576e581d13") == 0, "uuid text %s", text);
}

/* ---- server ------------------------------------------------------------------- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[65536];
static size_t log_len;

static void capture_log(void *user, const char *line)
{
    (void)user;
    pthread_mutex_lock(&log_lock);
    int n = snprintf(log_text + log_len, sizeof log_text - log_len, "%s\n", line);
    if (n > 0 && log_len + (size_t)n < sizeof log_text)
        log_len += (size_t)n;
    pthread_mutex_unlock(&log_lock);
}

/* The log line mentioning both strings, waiting up to 2 s for it. */
static bool log_has(const char *a, const char *b)
{
    double until = mono_s() + 2.0;
    do {
        bool found = false;
        pthread_mutex_lock(&log_lock);
        for (const char *line = log_text; line && *line && !found;) {
            const char *end = strchr(line, '\n');
            size_t len = end ? (size_t)(end - line) : strlen(line);
            char buf[1024];
            snprintf(buf, sizeof buf, "%.*s", (int)len, line);
            found = strstr(buf, a) && (!b || strstr(buf, b));
            line = end ? end + 1 : NULL;
        }
        pthread_mutex_unlock(&log_lock);
        if (found)
            return true;
        sleep_ms(10);
    } while (mono_s() < until);
    return false;
}

static int tcp_connect(int port, char *local, size_t local_size)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    struct sockaddr_in me;
    socklen_t len = sizeof me;
    getsockname(fd, (struct sockaddr *)&me, &len);
    snprintf(local, local_size, "127.0.0.1:%d", ntohs(me.sin_port));
    return fd;
}

static bool send_all(int fd, const uint8_t *data, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, data, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        data += w;
        n -= (size_t)w;
    }
    return true;
}

/* Sends in uneven pieces with pauses, so the server sees split frames. */
static bool send_choppy(int fd, const uint8_t *data, size_t n)
{
    static const size_t pieces[] = {1, 2, 5, 150, 3, 77};
    size_t i = 0;
    while (n > 0) {
        size_t len = pieces[i++ % 6];
        if (len > n)
            len = n;
        if (!send_all(fd, data, len))
            return false;
        data += len;
        n -= len;
        if (i % 4 == 0)
            sleep_ms(1);
    }
    return true;
}

/* True when the server closed fd (EOF or reset) within ms. */
static bool closed_by_server(int fd, int ms)
{
    double until = mono_s() + ms / 1000.0;
    uint8_t buf[256];
    while (mono_s() < until) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r == 0 || (r < 0 && (errno == ECONNRESET || errno == EPIPE)))
            return true;
    }
    return false;
}

static void make_uuid(uint8_t u[16], uint8_t seed, int leg)
{
    for (int i = 0; i < 16; i++)
        u[i] = (uint8_t)(seed * 17 + i * 29);
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[15] = (uint8_t)((u[15] & 0xfe) | (leg == CW_LEG_CUSTOMER));
}

/* UUID message + `samples` audio samples valued base+i, in 160-sample frames. */
static size_t leg_bytes(uint8_t *out, const uint8_t uuid[16], int base, int samples)
{
    size_t n = 0;
    if (uuid)
        n += put_frame(out + n, CW_AUDIOSOCKET_UUID, uuid, 16);
    for (int s = 0; s < samples; s += 160) {
        uint8_t pcm[320];
        int k = samples - s < 160 ? samples - s : 160;
        for (int i = 0; i < k; i++) {
            int16_t v = (int16_t)(base + s + i);
            pcm[2 * i] = (uint8_t)((uint16_t)v & 0xff);
            pcm[2 * i + 1] = (uint8_t)((uint16_t)v >> 8);
        }
        n += put_frame(out + n, CW_AUDIOSOCKET_AUDIO, pcm, (size_t)k * 2);
    }
    return n;
}

/* Takes calls until the one with `id` (others are destroyed), up to ms. */
static cw_source_t *take_call(cw_audiosocket_t *as, const char *id, int ms)
{
    double until = mono_s() + ms / 1000.0;
    while (mono_s() < until) {
        cw_source_t *src = NULL;
        cw_audiosocket_call_t info;
        if (cw_audiosocket_accept_call(as, &src, &info) == 1) {
            if (strcmp(info.call_id, id) == 0)
                return src;
            cw_source_destroy(&src);
            continue;
        }
        sleep_ms(5);
    }
    return NULL;
}

#define MAX_PULL 40000

/* Pulls until EOF or ms; fills per-leg samples. Returns the last status. */
static cw_pull_status pull_all(cw_source_t *src, float *legs[CW_LEG_COUNT], size_t n_legs[CW_LEG_COUNT], int ms)
{
    static float buf[CW_LEG_COUNT][1024];
    float *out[CW_LEG_COUNT] = {buf[0], buf[1]};
    double until = mono_s() + ms / 1000.0;
    cw_pull_status st = CW_PULL_OK;
    while (mono_s() < until) {
        size_t got[CW_LEG_COUNT];
        cw_error_t err;
        st = cw_source_pull(src, out, 1024, got, &err);
        for (int leg = 0; leg < CW_LEG_COUNT; leg++) {
            for (size_t i = 0; i < got[leg] && n_legs[leg] < MAX_PULL; i++)
                legs[leg][n_legs[leg]++] = buf[leg][i];
        }
        if (st != CW_PULL_OK)
            break;
        if (got[0] == 0 && got[1] == 0)
            sleep_ms(5);
    }
    return st;
}

static cw_audiosocket_t *start_server(int max_connections, int pair_ms, int idle_ms)
{
    cw_audiosocket_opts_t o = {
        .listen = "127.0.0.1:0",
        .max_connections = max_connections,
        .first_frame_timeout_ms = 400,
        .idle_timeout_ms = idle_ms,
        .pair_timeout_ms = pair_ms,
        .max_frame_bytes = 640,
        .ring_s = 4,
        .log = capture_log,
    };
    cw_error_t err;
    cw_error_clear(&err);
    cw_audiosocket_t *as = cw_audiosocket_new(&o, &err);
    CHECK(as != NULL, "server: %s", err.msg);
    return as;
}

typedef struct bad_case {
    const char *name;
    bool send_uuid;
    uint8_t bytes[64];
    size_t n;
    bool half_close;
    const char *reason;
} bad_case_t;

/* Every violation, each on its own connection, while the good call (legs
 * fa and fc) is up: each is closed and logged, the call is untouched. */
static void check_bad_connections(int port, int fa, int fc)
{
    static uint8_t bytes[65536];
    char peer[64];
    bad_case_t cases[] = {
        {"garbage kind", true, {0x42, 0x00, 0x01, 0x00}, 4, false, "unknown message kind 0x42"},
        {"oversize", true, {0x10, 0xff, 0xff, 0x00, 0x00}, 5, false, "declares 65535 payload bytes"},
        {"odd audio", true, {0x10, 0x00, 0x03, 1, 2, 3}, 6, false, "odd payload of 3 bytes"},
        {"no UUID first", false, {0x10, 0x00, 0x02, 1, 2}, 5, false, "first message is kind 0x10"},
        {"second UUID", true, {0x01, 0x00, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, 19, false,
         "a second UUID message"},
        {"truncated", true, {0x10, 0x01, 0x40, 1, 2, 3, 4}, 7, true, "closed in the middle of a message (7 bytes"},
        {"closed before UUID", false, {0x01, 0x00}, 2, true, "closed in the middle of a message (2 bytes"},
        {"silent", false, {0}, 0, false, "no UUID within 400 ms"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad_case_t *bc = &cases[i];
        int fd = tcp_connect(port, peer, sizeof peer);
        size_t m = 0;
        if (bc->send_uuid) {
            uint8_t u[16];
            make_uuid(u, (uint8_t)(10 + i), CW_LEG_AGENT);
            m = put_frame(bytes, CW_AUDIOSOCKET_UUID, u, 16);
        }
        memcpy(bytes + m, bc->bytes, bc->n);
        m += bc->n;
        CHECK(send_choppy(fd, bytes, m), "%s: send", bc->name);
        if (bc->half_close)
            shutdown(fd, SHUT_WR);
        CHECK(closed_by_server(fd, 2000), "%s: the server did not close the connection", bc->name);
        CHECK(log_has(peer, bc->reason), "%s: no log line naming %s and '%s'; log:\n%s", bc->name, peer, bc->reason,
              log_text);
        close(fd);
        /* The good call is untouched: both its connections are still open. */
        struct pollfd pfd[2] = {{.fd = fa, .events = POLLIN}, {.fd = fc, .events = POLLIN}};
        CHECK(poll(pfd, 2, 0) == 0, "%s: a good leg was disturbed", bc->name);
    }
}

/* A leg that is already connected (agent leg ua), and one arriving after
 * its call started alone: both closed and logged. */
static void check_extra_legs(int port, const uint8_t ua[16])
{
    static uint8_t bytes[65536];
    char peer[64];
    int fdup = tcp_connect(port, peer, sizeof peer);
    size_t n = leg_bytes(bytes, ua, 0, 0);
    send_all(fdup, bytes, n);
    CHECK(closed_by_server(fdup, 2000), "duplicate leg not closed");
    CHECK(log_has(peer, "the agent leg of call"), "duplicate leg log");
    close(fdup);
    uint8_t lone[16], late[16];
    make_uuid(lone, 99, CW_LEG_CUSTOMER);
    make_uuid(late, 99, CW_LEG_AGENT);
    int flone = tcp_connect(port, peer, sizeof peer);
    n = leg_bytes(bytes, lone, 0, 160);
    send_all(flone, bytes, n);
    sleep_ms(900);
    int flate = tcp_connect(port, peer, sizeof peer);
    n = leg_bytes(bytes, late, 0, 160);
    send_all(flate, bytes, n);
    CHECK(closed_by_server(flate, 2000), "late leg not closed");
    CHECK(log_has(peer, "already started without its agent leg"), "late leg log");
    CHECK(log_has("monitoring the customer leg alone", NULL), "single-leg log");
    close(flate);
    close(flone);
}

/* The good call goes on and ends: agent with a hangup message, customer
 * by closing (what Asterisk does); src delivers both legs exactly. */
static void finish_good_call(int fa, int fc, cw_source_t *src)
{
    static uint8_t bytes[65536];
    size_t n = leg_bytes(bytes, NULL, 1800, 400);
    n += put_frame(bytes + n, CW_AUDIOSOCKET_DTMF, (const uint8_t *)"7", 1);
    n += put_frame(bytes + n, CW_AUDIOSOCKET_HANGUP, NULL, 0);
    CHECK(send_choppy(fa, bytes, n), "agent rest");
    n = leg_bytes(bytes, NULL, -1800, 200);
    CHECK(send_choppy(fc, bytes, n), "customer rest");
    close(fc);
    CHECK(closed_by_server(fa, 2000), "hangup closes");
    close(fa);

    static float agent[MAX_PULL], customer[MAX_PULL];
    float *legs[CW_LEG_COUNT] = {agent, customer};
    size_t got[CW_LEG_COUNT] = {0, 0};
    const cw_source_info_t *info = cw_source_info(src);
    CHECK(info->has_leg[0] && info->has_leg[1] && info->rate_hz[0] == 8000 && info->rate_hz[1] == 8000,
          "info: legs %d %d rates %d %d", info->has_leg[0], info->has_leg[1], info->rate_hz[0], info->rate_hz[1]);
    cw_pull_status st = pull_all(src, legs, got, 3000);
    CHECK(st == CW_PULL_EOF, "call source ends (status %d)", st);
    CHECK(got[0] == 1200, "agent samples %zu, expected 1200", got[0]);
    CHECK(got[1] == 800 + 1400, "customer samples %zu, expected 800 silence + 1400", got[1]);
    bool exact = true;
    for (size_t i = 0; i < got[0] && exact; i++)
        exact = agent[i] == (float)(1000 + (int)i) / 32768.0f;
    CHECK(exact, "agent samples arrive exactly, in order");
    exact = true;
    for (size_t i = 0; i < got[1] && exact; i++) {
        float want = i < 800 ? 0.0f : (float)(-3000 + (int)(i - 800)) / 32768.0f;
        exact = customer[i] == want;
    }
    CHECK(exact, "customer samples: 800 of alignment silence, then exact audio");
    const char *why = cw_source_end_reason(src);
    CHECK(why && strcmp(why, "hangup") == 0, "end reason '%s'", why ? why : "(null)");
    cw_source_stats_t ss;
    cw_source_get_stats(src, &ss);
    CHECK(ss.frames_delivered[0] == 1200 && ss.frames_dropped[0] == 0 && ss.frames_dropped[1] == 0,
          "stats delivered %llu dropped %llu/%llu", (unsigned long long)ss.frames_delivered[0],
          (unsigned long long)ss.frames_dropped[0], (unsigned long long)ss.frames_dropped[1]);
    cw_source_destroy(&src);
}

/* A single-leg call that is reset: its source ends with the reason. */
static void check_reset_leg(cw_audiosocket_t *as, int port)
{
    static uint8_t bytes[65536];
    static float agent[MAX_PULL], customer[MAX_PULL];
    float *legs[CW_LEG_COUNT] = {agent, customer};
    size_t got[CW_LEG_COUNT] = {0, 0};
    char peer[64];
    uint8_t ur[16];
    make_uuid(ur, 42, CW_LEG_CUSTOMER);
    char rid[CW_AUDIOSOCKET_UUID_TEXT];
    uint8_t ur_agent[16];
    memcpy(ur_agent, ur, 16);
    ur_agent[15] &= 0xfe;
    cw_audiosocket_uuid_text(ur_agent, rid);
    int fr = tcp_connect(port, peer, sizeof peer);
    size_t n = leg_bytes(bytes, ur, 5, 320);
    send_all(fr, bytes, n);
    sleep_ms(100);
    struct linger lg = {1, 0};
    setsockopt(fr, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    close(fr);
    cw_source_t *src = take_call(as, rid, 2000);
    CHECK(src != NULL, "single-leg call %s handed out after pair_timeout_ms", rid);
    if (src) {
        const cw_source_info_t *info = cw_source_info(src);
        CHECK(!info->has_leg[0] && info->has_leg[1], "only the customer leg");
        cw_pull_status st = pull_all(src, legs, got, 3000);
        const char *why = cw_source_end_reason(src);
        CHECK(st == CW_PULL_EOF && got[1] == 320, "reset leg: status %d, %zu samples", st, got[1]);
        CHECK(why && strstr(why, "disconnect: customer leg: ") && strstr(why, "reset"), "reset reason '%s'",
              why ? why : "(null)");
        cw_source_destroy(&src);
    }
}

/* A call still streaming when the server goes (destroyed here, *as
 * NULLed): its source ends. */
static void check_shutdown_ends_call(cw_audiosocket_t **as, int port)
{
    static uint8_t bytes[65536];
    static float agent[MAX_PULL], customer[MAX_PULL];
    float *legs[CW_LEG_COUNT] = {agent, customer};
    size_t got[CW_LEG_COUNT] = {0, 0};
    char peer[64];
    uint8_t us[16];
    make_uuid(us, 77, CW_LEG_AGENT);
    char sid[CW_AUDIOSOCKET_UUID_TEXT];
    cw_audiosocket_uuid_text(us, sid);
    int fs = tcp_connect(port, peer, sizeof peer);
    size_t n = leg_bytes(bytes, us, 0, 160);
    send_all(fs, bytes, n);
    cw_source_t *src = take_call(*as, sid, 2000);
    CHECK(src != NULL, "call %s", sid);
    cw_audiosocket_destroy(as);
    CHECK(*as == NULL, "destroy NULLs");
    if (src) {
        cw_pull_status st = pull_all(src, legs, got, 1000);
        const char *why = cw_source_end_reason(src);
        CHECK(st == CW_PULL_EOF && got[0] == 160 && why && strstr(why, "server shutting down"),
              "after shutdown: status %d, %zu samples, reason %s", st, got[0], why ? why : "(null)");
        cw_source_destroy(&src);
    }
    close(fs);
}

static void test_server_call_and_violations(void)
{
    cw_audiosocket_t *as = start_server(16, 600, 10000);
    if (!as)
        return;
    int port = cw_audiosocket_port(as);
    CHECK(port > 0, "bound port %d", port);
    char want_addr[64];
    snprintf(want_addr, sizeof want_addr, "127.0.0.1:%d", port);
    CHECK(strcmp(cw_audiosocket_address(as), want_addr) == 0, "address %s", cw_audiosocket_address(as));

    /* A good call: the agent leg first with 800 samples, then the customer. */
    uint8_t ua[16], uc[16];
    make_uuid(ua, 1, CW_LEG_AGENT);
    make_uuid(uc, 1, CW_LEG_CUSTOMER);
    char call_id[CW_AUDIOSOCKET_UUID_TEXT];
    cw_audiosocket_uuid_text(ua, call_id);
    static uint8_t bytes[65536];
    char peer_a[64], peer_c[64];
    int fa = tcp_connect(port, peer_a, sizeof peer_a);
    CHECK(fa >= 0, "connect agent");
    size_t n = leg_bytes(bytes, ua, 1000, 800);
    CHECK(send_choppy(fa, bytes, n), "send agent");
    sleep_ms(150);
    int fc = tcp_connect(port, peer_c, sizeof peer_c);
    n = leg_bytes(bytes, uc, -3000, 1200);
    CHECK(send_choppy(fc, bytes, n), "send customer");
    cw_source_t *src = take_call(as, call_id, 2000);
    CHECK(src != NULL, "call %s handed out once both legs connected", call_id);
    CHECK(log_has(peer_a, "agent leg of call") && log_has(peer_c, "customer leg of call"), "connect log lines");

    cw_audiosocket_stats_t before, after;
    cw_audiosocket_get_stats(as, &before);
    check_bad_connections(port, fa, fc);
    check_extra_legs(port, ua);
    cw_audiosocket_get_stats(as, &after);
    CHECK(after.protocol_errors - before.protocol_errors == 8, "protocol errors %llu",
          (unsigned long long)(after.protocol_errors - before.protocol_errors));
    CHECK(after.disconnects - before.disconnects == 2, "disconnects %llu",
          (unsigned long long)(after.disconnects - before.disconnects));

    finish_good_call(fa, fc, src);
    check_reset_leg(as, port);
    check_shutdown_ends_call(&as, port);
}

static void test_server_limits(void)
{
    cw_audiosocket_t *as = start_server(1, 500, 300);
    if (!as)
        return;
    int port = cw_audiosocket_port(as);
    char p1[64], p2[64];

    /* A leg that stops sending is closed after idle_timeout_ms. */
    uint8_t u[16], bytes[64];
    make_uuid(u, 5, CW_LEG_AGENT);
    int fi = tcp_connect(port, p1, sizeof p1);
    send_all(fi, bytes, leg_bytes(bytes, u, 0, 0));
    double t0 = mono_s();
    CHECK(closed_by_server(fi, 2000), "idle leg closed");
    double waited = mono_s() - t0;
    CHECK(waited > 0.25 && waited < 1.0, "idle close after %.2f s, expected ~0.3", waited);
    CHECK(log_has(p1, "nothing received for 300 ms"), "idle log");
    close(fi);

    int f1 = tcp_connect(port, p1, sizeof p1);
    sleep_ms(50);
    int f2 = tcp_connect(port, p2, sizeof p2);
    CHECK(closed_by_server(f2, 2000), "the connection over max_connections is closed");
    CHECK(log_has(p2, "refused: 1 connections are open"), "refusal log names the peer");
    cw_audiosocket_stats_t st;
    cw_audiosocket_get_stats(as, &st);
    CHECK(st.refused == 1 && st.open_connections == 1, "refused %llu open %d", (unsigned long long)st.refused,
          st.open_connections);
    close(f1);
    close(f2);

    /* The same port twice, and addresses that make no sense. */
    cw_audiosocket_opts_t o = {.listen = NULL, .max_connections = 4, .first_frame_timeout_ms = 100,
                               .idle_timeout_ms = 100, .pair_timeout_ms = 0, .max_frame_bytes = 640, .ring_s = 1};
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    o.listen = addr;
    cw_error_t err;
    cw_error_clear(&err);
    cw_audiosocket_t *second = cw_audiosocket_new(&o, &err);
    CHECK(!second && err.code == CW_ERR_BUSY && strstr(err.msg, addr) && strstr(err.msg, "in use"),
          "port in use: %s", err.msg);
    cw_audiosocket_destroy(&second);
    static const char *const bad[] = {"nonsense", "127.0.0.1:", "127.0.0.1:99999", "[::1:9092"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.listen = bad[i];
        cw_error_clear(&err);
        second = cw_audiosocket_new(&o, &err);
        CHECK(!second && strstr(err.msg, bad[i]), "listen '%s' refused with its name: %s", bad[i], err.msg);
        cw_audiosocket_destroy(&second);
    }
    cw_audiosocket_destroy(&as);
}

/* Audio faster than the call takes it: the ring keeps what fits, the rest
 * is counted as dropped and logged once, never lost silently. */
static void test_server_overrun(void)
{
    cw_audiosocket_opts_t o = {.listen = "127.0.0.1:0", .max_connections = 4, .first_frame_timeout_ms = 1000,
                               .idle_timeout_ms = 5000, .pair_timeout_ms = 0, .max_frame_bytes = 640,
                               .ring_s = 0.1, .log = capture_log};
    cw_error_t err;
    cw_error_clear(&err);
    cw_audiosocket_t *as = cw_audiosocket_new(&o, &err);
    CHECK(as != NULL, "server: %s", err.msg);
    if (!as)
        return;
    uint8_t u[16];
    make_uuid(u, 123, CW_LEG_AGENT);
    char id[CW_AUDIOSOCKET_UUID_TEXT], peer[64];
    cw_audiosocket_uuid_text(u, id);
    static uint8_t bytes[32768];
    int fd = tcp_connect(cw_audiosocket_port(as), peer, sizeof peer);
    size_t n = leg_bytes(bytes, u, 0, 8000);
    n += put_frame(bytes + n, CW_AUDIOSOCKET_HANGUP, NULL, 0);
    send_all(fd, bytes, n);
    CHECK(closed_by_server(fd, 2000), "hangup");
    close(fd);
    cw_source_t *src = take_call(as, id, 2000);
    CHECK(src != NULL, "call %s", id);
    if (src) {
        static float agent[MAX_PULL], customer[MAX_PULL];
        float *legs[CW_LEG_COUNT] = {agent, customer};
        size_t got[CW_LEG_COUNT] = {0, 0};
        cw_pull_status st = pull_all(src, legs, got, 2000);
        cw_source_stats_t ss;
        cw_source_get_stats(src, &ss);
        CHECK(st == CW_PULL_EOF && got[0] == 4096 && ss.frames_dropped[0] == 8000 - 4096,
              "overrun: status %d, %zu delivered, %llu dropped", st, got[0],
              (unsigned long long)ss.frames_dropped[0]);
        CHECK(got[0] == 4096 && agent[4095] == 4095.0f / 32768.0f, "the oldest audio is kept");
        cw_source_destroy(&src);
    }
    CHECK(log_has(peer, "dropping what does not fit"), "overrun logged");
    cw_audiosocket_destroy(&as);
}

int main(void)
{
    test_parser_chunking();
    test_parser_errors();
    test_uuid_text();
    test_server_call_and_violations();
    test_server_limits();
    test_server_overrun();
    return check_summary("audiosocket");
}
