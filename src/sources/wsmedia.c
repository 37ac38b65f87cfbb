/* wsmedia.c - see callwatch/wsmedia.h */
#include "callwatch/wsmedia.h"

#include <jansson.h>
#include <sodium.h>

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHY_MAX 256
#define REPLY_MAX 1024
#define MIN_MESSAGE 64
#define MAX_MESSAGE (16u << 20)

/* The only format each JSON protocol sends audio in. */
#define TWILIO_ENCODING "audio/x-mulaw"
#define G711_RATE_HZ 8000
/* Twilio: a track whose media timestamp runs further ahead than this of the
 * audio it sent is broken, not late. */
#define MAX_GAP_MS 60000

struct cw_wsmedia_session {
    cw_wsmedia_protocol protocol;
    size_t max_message;
    bool started, ended, failed;
    char failure[WHY_MAX];
    cw_wsmedia_meta_t meta;
    int channels;                 /* interleaved channels of a binary frame */
    int channel_leg[2];           /* the leg of each interleaved channel */
    int64_t server_seq;           /* AudioHook: seq of our last message */
    int64_t client_seq;           /* AudioHook: seq of the peer's last message */
    char session_id[CW_NAME_MAX]; /* AudioHook: the "id" every message carries */
    uint64_t received[CW_LEG_COUNT]; /* Twilio: samples given out per track, silence included */
    int16_t *pcm[CW_LEG_COUNT];   /* max_message samples each */
    uint8_t *bytes;               /* base64-decoded payloads, max_message bytes */
    char reply[REPLY_MAX];
};

static const char *const protocol_names[CW_WSMEDIA_PROTOCOLS] = {"freeswitch", "twilio", "audiohook"};

const char *cw_wsmedia_protocol_name(cw_wsmedia_protocol protocol)
{
    return protocol >= 0 && protocol < CW_WSMEDIA_PROTOCOLS ? protocol_names[protocol] : "?";
}

int cw_wsmedia_protocol_for_path(const char *path)
{
    if (!path)
        return -1;
    for (int p = 0; p < CW_WSMEDIA_PROTOCOLS; p++) {
        size_t len = strlen(protocol_names[p]);
        if (path[0] == '/' && strncmp(path + 1, protocol_names[p], len) == 0 &&
            (path[1 + len] == '\0' || path[1 + len] == '?' || (path[1 + len] == '/' && path[2 + len] == '\0')))
            return p;
    }
    return -1;
}

int16_t cw_wsmedia_ulaw_decode(uint8_t u)
{
    /* G.711 u-law: sign, 3-bit segment, 4-bit mantissa, stored inverted, bias 0x84. */
    u = (uint8_t)~u;
    int t = ((u & 0x0f) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    return (int16_t)((u & 0x80) ? 0x84 - t : t - 0x84);
}

cw_wsmedia_session_t *cw_wsmedia_session_new(cw_wsmedia_protocol protocol, size_t max_message_bytes)
{
    if (protocol < 0 || protocol >= CW_WSMEDIA_PROTOCOLS || max_message_bytes < MIN_MESSAGE ||
        max_message_bytes > MAX_MESSAGE)
        return NULL;
    cw_wsmedia_session_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->protocol = protocol;
    s->max_message = max_message_bytes;
    s->bytes = malloc(max_message_bytes);
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        s->pcm[leg] = malloc(max_message_bytes * sizeof(int16_t));
    if (!s->bytes || !s->pcm[0] || !s->pcm[1])
        cw_wsmedia_session_destroy(&s);
    return s;
}

void cw_wsmedia_session_destroy(cw_wsmedia_session_t **s)
{
    if (!s || !*s)
        return;
    free((*s)->bytes);
    for (int leg = 0; leg < CW_LEG_COUNT; leg++)
        free((*s)->pcm[leg]);
    free(*s);
    *s = NULL;
}

const cw_wsmedia_meta_t *cw_wsmedia_session_meta(const cw_wsmedia_session_t *s)
{
    return &s->meta;
}

bool cw_wsmedia_session_started(const cw_wsmedia_session_t *s)
{
    return s->started;
}

bool cw_wsmedia_session_ended(const cw_wsmedia_session_t *s)
{
    return s->ended;
}

/* ---- helpers --------------------------------------------------------------- */

static int fail(cw_wsmedia_session_t *s, cw_error_t *err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(cw_wsmedia_session_t *s, cw_error_t *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->failure, sizeof s->failure, fmt, ap);
    va_end(ap);
    s->failed = true;
    return cw_error_set(err, CW_ERR_FORMAT, "%s", s->failure);
}

/* Copies a JSON string member (or a number, as text) into out; "" when absent.
 * Returns false when present but of another type or too long. */
static bool copy_text(const json_t *obj, const char *key, char *out, size_t size)
{
    out[0] = '\0';
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (!v || json_is_null(v))
        return true;
    if (json_is_integer(v))
        return (size_t)snprintf(out, size, "%lld", (long long)json_integer_value(v)) < size;
    if (!json_is_string(v) || json_string_length(v) >= size || strlen(json_string_value(v)) != json_string_length(v))
        return false;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return true;
}

/* An integer member given as a number or a decimal string; def when absent,
 * LLONG_MIN when malformed. */
static long long get_int(const json_t *obj, const char *key, long long def)
{
    const json_t *v = json_object_get(obj, key);
    if (!v)
        return def;
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v)) {
        char *end = NULL;
        long long x = strtoll(json_string_value(v), &end, 10);
        if (end && end != json_string_value(v) && *end == '\0')
            return x;
    }
    return LLONG_MIN;
}

/* Parses a text frame into an object; NULL after fail(). */
static json_t *parse_json(cw_wsmedia_session_t *s, const uint8_t *data, size_t n, cw_error_t *err)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)data, n, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        fail(s, err, "malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        fail(s, err, "the text message is JSON but not an object");
        return NULL;
    }
    return root;
}

static bool rate_supported(long long rate)
{
    return rate == 8000 || rate == 16000;
}

/* Takes agent_id / team from obj; false after fail(). */
static bool take_agent(cw_wsmedia_session_t *s, const json_t *obj, const char *where, cw_error_t *err)
{
    char agent[CW_NAME_MAX], team[CW_NAME_MAX];
    if (!copy_text(obj, "agent_id", agent, sizeof agent) || !copy_text(obj, "team", team, sizeof team)) {
        fail(s, err, "%s: agent_id and team must be strings of under %d bytes", where, CW_NAME_MAX);
        return false;
    }
    if (agent[0])
        memcpy(s->meta.agent_id, agent, sizeof agent);
    if (team[0])
        memcpy(s->meta.team, team, sizeof team);
    return true;
}

static void started(cw_wsmedia_session_t *s, cw_wsmedia_result_t *out)
{
    s->started = true;
    out->events |= CW_WSMEDIA_STARTED;
}

/* Interleaved frames of s->channels channels into the legs' buffers. */
static void deinterleave_l16(cw_wsmedia_session_t *s, const uint8_t *data, size_t n, cw_wsmedia_result_t *out)
{
    size_t frames = n / (2 * (size_t)s->channels);
    for (size_t f = 0; f < frames; f++)
        for (int ch = 0; ch < s->channels; ch++) {
            const uint8_t *b = data + 2 * (f * (size_t)s->channels + (size_t)ch);
            s->pcm[s->channel_leg[ch]][f] = (int16_t)(uint16_t)(b[0] | (uint16_t)b[1] << 8);
        }
    for (int ch = 0; ch < s->channels; ch++) {
        out->samples[s->channel_leg[ch]] = s->pcm[s->channel_leg[ch]];
        out->n[s->channel_leg[ch]] = frames;
    }
    out->events |= CW_WSMEDIA_AUDIO;
}

static void deinterleave_ulaw(cw_wsmedia_session_t *s, const uint8_t *data, size_t n, cw_wsmedia_result_t *out)
{
    size_t frames = n / (size_t)s->channels;
    for (size_t f = 0; f < frames; f++)
        for (int ch = 0; ch < s->channels; ch++)
            s->pcm[s->channel_leg[ch]][f] = cw_wsmedia_ulaw_decode(data[f * (size_t)s->channels + (size_t)ch]);
    for (int ch = 0; ch < s->channels; ch++) {
        out->samples[s->channel_leg[ch]] = s->pcm[s->channel_leg[ch]];
        out->n[s->channel_leg[ch]] = frames;
    }
    out->events |= CW_WSMEDIA_AUDIO;
}

/* ---- FreeSWITCH mod_audio_fork ------------------------------------------------ */

static int fs_layout(cw_wsmedia_session_t *s, const json_t *root, cw_error_t *err)
{
    long long channels = get_int(root, "channels", 0);
    if (channels == 1) {
        char leg[16];
        if (!copy_text(root, "leg", leg, sizeof leg) || (leg[0] && strcmp(leg, "agent") && strcmp(leg, "customer")))
            return fail(s, err, "metadata: leg must be \"agent\" or \"customer\"");
        s->channel_leg[0] = strcmp(leg, "agent") == 0 ? CW_LEG_AGENT : CW_LEG_CUSTOMER;
    } else if (channels == 2) {
        long long agent_channel = get_int(root, "agent_channel", 0);
        if (agent_channel != 0 && agent_channel != 1)
            return fail(s, err, "metadata: agent_channel must be 0 or 1");
        s->channel_leg[agent_channel] = CW_LEG_AGENT;
        s->channel_leg[1 - agent_channel] = CW_LEG_CUSTOMER;
    } else {
        return fail(s, err, "metadata: channels must be 1 (one leg) or 2 (agent and customer interleaved)");
    }
    s->channels = (int)channels;
    for (int ch = 0; ch < s->channels; ch++)
        s->meta.has_leg[s->channel_leg[ch]] = true;
    return CW_OK;
}

static int fs_metadata(cw_wsmedia_session_t *s, const uint8_t *data, size_t n, cw_wsmedia_result_t *out,
                       cw_error_t *err)
{
    json_t *root = parse_json(s, data, n, err);
    if (!root)
        return CW_ERR_FORMAT;
    int rc = CW_OK;
    long long rate = get_int(root, "sample_rate", 0);
    if (!copy_text(root, "call_id", s->meta.call_id, sizeof s->meta.call_id) || !s->meta.call_id[0])
        rc = fail(s, err, "metadata: call_id missing or not a string (put the channel's uuid there)");
    else if (!rate_supported(rate))
        rc = fail(s, err, "metadata: sample_rate %lld not supported (8000 or 16000; L16 audio)", rate);
    else if (take_agent(s, root, "metadata", err))
        rc = fs_layout(s, root, err);
    else
        rc = CW_ERR_FORMAT;
    json_decref(root);
    if (rc != CW_OK)
        return rc;
    s->meta.rate_hz = (int)rate;
    started(s, out);
    return CW_OK;
}

static int fs_feed(cw_wsmedia_session_t *s, bool binary, const uint8_t *data, size_t n, cw_wsmedia_result_t *out,
                   cw_error_t *err)
{
    if (!s->started) {
        if (binary)
            return fail(s, err, "binary audio (%zu bytes) before the metadata text message", n);
        return fs_metadata(s, data, n, out, err);
    }
    if (!binary)
        return CW_OK; /* mod_audio_fork's later text frames carry nothing callwatch needs */
    size_t frame = 2 * (size_t)s->channels;
    if (n % frame != 0)
        return fail(s, err, "binary audio of %zu bytes is not whole %d-channel 16-bit frames", n, s->channels);
    deinterleave_l16(s, data, n, out);
    return CW_OK;
}

/* ---- Twilio Media Streams ------------------------------------------------------ */

static int twilio_start(cw_wsmedia_session_t *s, const json_t *root, cw_wsmedia_result_t *out, cw_error_t *err)
{
    if (s->started)
        return fail(s, err, "a second start message");
    const json_t *start = json_object_get(root, "start");
    if (!json_is_object(start))
        return fail(s, err, "start message without a start object");
    if (!copy_text(start, "callSid", s->meta.call_id, sizeof s->meta.call_id) || !s->meta.call_id[0])
        return fail(s, err, "start: callSid missing or not a string");
    const json_t *fmt = json_object_get(start, "mediaFormat");
    char enc[64];
    if (!json_is_object(fmt) || !copy_text(fmt, "encoding", enc, sizeof enc) || strcmp(enc, TWILIO_ENCODING) != 0 ||
        get_int(fmt, "sampleRate", G711_RATE_HZ) != G711_RATE_HZ || get_int(fmt, "channels", 1) != 1)
        return fail(s, err, "start: mediaFormat must be %s, 8000 Hz, 1 channel", TWILIO_ENCODING);
    const json_t *tracks = json_object_get(start, "tracks");
    size_t i;
    const json_t *t;
    json_array_foreach(tracks, i, t) {
        const char *name = json_string_value(t);
        if (name && strcmp(name, "inbound") == 0)
            s->meta.has_leg[CW_LEG_CUSTOMER] = true;
        else if (name && strcmp(name, "outbound") == 0)
            s->meta.has_leg[CW_LEG_AGENT] = true;
        else
            return fail(s, err, "start: unknown track %s (inbound or outbound)", name ? name : "(not a string)");
    }
    if (!s->meta.has_leg[0] && !s->meta.has_leg[1])
        return fail(s, err, "start: tracks must list \"inbound\" and/or \"outbound\"");
    if (!take_agent(s, json_object_get(start, "customParameters"), "start.customParameters", err))
        return CW_ERR_FORMAT;
    s->meta.rate_hz = G711_RATE_HZ;
    started(s, out);
    return CW_OK;
}

static int twilio_media(cw_wsmedia_session_t *s, const json_t *root, cw_wsmedia_result_t *out, cw_error_t *err)
{
    if (!s->started)
        return fail(s, err, "media before the start message");
    const json_t *media = json_object_get(root, "media");
    const char *track = json_string_value(json_object_get(media, "track"));
    const json_t *payload = json_object_get(media, "payload");
    int leg = track && strcmp(track, "inbound") == 0 ? CW_LEG_CUSTOMER
              : track && strcmp(track, "outbound") == 0 ? CW_LEG_AGENT : -1;
    if (leg < 0 || !s->meta.has_leg[leg])
        return fail(s, err, "media: track %s is not one the start message announced", track ? track : "(missing)");
    if (!json_is_string(payload))
        return fail(s, err, "media: payload missing or not a string");
    size_t got = 0;
    if (sodium_base642bin(s->bytes, s->max_message, json_string_value(payload), json_string_length(payload), NULL,
                          &got, NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        return fail(s, err, "media: payload is not base64");
    long long ts_ms = get_int(media, "timestamp", -1);
    size_t pad = 0;
    if (ts_ms >= 0 && (uint64_t)ts_ms * (G711_RATE_HZ / 1000) > s->received[leg]) {
        uint64_t gap = (uint64_t)ts_ms * (G711_RATE_HZ / 1000) - s->received[leg];
        if (gap > (uint64_t)MAX_GAP_MS * (G711_RATE_HZ / 1000))
            return fail(s, err, "media: %s timestamp %lld ms is over %d s ahead of the audio the track sent",
                        track, ts_ms, MAX_GAP_MS / 1000);
        /* A track that skipped audio (Twilio does not resend it) gets the
         * silence it missed, so both legs keep one timeline; what does not
         * fit this time is owed to the next message. */
        size_t room = s->max_message - got;
        pad = gap < room ? (size_t)gap : room;
    }
    memset(s->pcm[leg], 0, pad * sizeof(int16_t));
    for (size_t k = 0; k < got; k++)
        s->pcm[leg][pad + k] = cw_wsmedia_ulaw_decode(s->bytes[k]);
    s->received[leg] += pad + got;
    out->samples[leg] = s->pcm[leg];
    out->n[leg] = pad + got;
    out->events |= CW_WSMEDIA_AUDIO;
    return CW_OK;
}

static int twilio_feed(cw_wsmedia_session_t *s, bool binary, const uint8_t *data, size_t n, cw_wsmedia_result_t *out,
                       cw_error_t *err)
{
    if (binary)
        return fail(s, err, "a binary message (%zu bytes); Twilio sends JSON text only", n);
    json_t *root = parse_json(s, data, n, err);
    if (!root)
        return CW_ERR_FORMAT;
    const char *event = json_string_value(json_object_get(root, "event"));
    int rc = CW_OK;
    if (!event)
        rc = fail(s, err, "a message without an \"event\" string");
    else if (strcmp(event, "start") == 0)
        rc = twilio_start(s, root, out, err);
    else if (strcmp(event, "media") == 0)
        rc = twilio_media(s, root, out, err);
    else if (strcmp(event, "stop") == 0) {
        s->ended = true;
        out->events |= CW_WSMEDIA_ENDED;
    }
    json_decref(root);
    return rc;
}

/* ---- Genesys AudioHook ----------------------------------------------------------- */

/* Writes our reply of type with parameters (stolen; NULL = {}). */
static int ah_reply(cw_wsmedia_session_t *s, const char *type, json_t *params, cw_wsmedia_result_t *out,
                    cw_error_t *err)
{
    json_t *msg = json_pack("{s:s, s:s, s:I, s:I, s:s, s:o}", "version", "2", "type", type, "seq",
                            (json_int_t)++s->server_seq, "clientseq", (json_int_t)s->client_seq, "id", s->session_id,
                            "parameters", params ? params : json_object());
    if (!msg)
        return fail(s, err, "out of memory building the %s reply", type);
    size_t len = json_dumpb(msg, s->reply, sizeof s->reply - 1, JSON_COMPACT);
    json_decref(msg);
    if (len == 0 || len >= sizeof s->reply)
        return fail(s, err, "the %s reply does not fit in %d bytes", type, REPLY_MAX);
    s->reply[len] = '\0';
    out->reply = s->reply;
    out->events |= CW_WSMEDIA_REPLY;
    return CW_OK;
}

/* Whether offer is PCMU 8 kHz with external/internal channels; sets the layout. */
static bool ah_take_offer(cw_wsmedia_session_t *s, const json_t *offer)
{
    const char *type = json_string_value(json_object_get(offer, "type"));
    const char *format = json_string_value(json_object_get(offer, "format"));
    const json_t *chans = json_object_get(offer, "channels");
    if (!type || strcmp(type, "audio") || !format || strcmp(format, "PCMU") ||
        get_int(offer, "rate", 0) != G711_RATE_HZ || !json_is_array(chans) || json_array_size(chans) < 1 ||
        json_array_size(chans) > 2)
        return false;
    bool seen[CW_LEG_COUNT] = {false, false};
    for (size_t i = 0; i < json_array_size(chans); i++) {
        const char *c = json_string_value(json_array_get(chans, i));
        int leg = c && strcmp(c, "external") == 0 ? CW_LEG_CUSTOMER : c && strcmp(c, "internal") == 0 ? CW_LEG_AGENT : -1;
        if (leg < 0 || seen[leg])
            return false;
        seen[leg] = true;
        s->channel_leg[i] = leg;
    }
    s->channels = (int)json_array_size(chans);
    memcpy(s->meta.has_leg, seen, sizeof seen);
    return true;
}

static int ah_open(cw_wsmedia_session_t *s, const json_t *params, cw_wsmedia_result_t *out, cw_error_t *err)
{
    if (s->started)
        return fail(s, err, "a second open message");
    if (!copy_text(params, "conversationId", s->meta.call_id, sizeof s->meta.call_id) || !s->meta.call_id[0])
        return fail(s, err, "open: parameters.conversationId missing or not a string");
    const json_t *media = json_object_get(params, "media"), *offer = NULL;
    size_t i;
    json_array_foreach(media, i, offer) {
        if (ah_take_offer(s, offer))
            break;
    }
    if (!json_is_array(media) || i == json_array_size(media))
        return fail(s, err, "open: no media offer of PCMU 8000 Hz with channels external/internal");
    if (!take_agent(s, json_object_get(params, "customConfig"), "open: parameters.customConfig", err) ||
        !take_agent(s, json_object_get(params, "inputVariables"), "open: parameters.inputVariables", err))
        return CW_ERR_FORMAT;
    s->meta.rate_hz = G711_RATE_HZ;
    started(s, out);
    json_t *chosen = json_pack("{s:[O]}", "media", offer);
    json_object_set_new(chosen, "startPaused", json_false());
    return ah_reply(s, "opened", chosen, out, err);
}

static int ah_message(cw_wsmedia_session_t *s, const json_t *root, cw_wsmedia_result_t *out, cw_error_t *err)
{
    const char *type = json_string_value(json_object_get(root, "type"));
    long long seq = get_int(root, "seq", -1);
    if (!type || seq < 0)
        return fail(s, err, "a message without a \"type\" string and a \"seq\" number");
    s->client_seq = seq;
    if (strcmp(type, "open") == 0) {
        if (!copy_text(root, "id", s->session_id, sizeof s->session_id) || !s->session_id[0])
            return fail(s, err, "open: id missing or not a string");
        return ah_open(s, json_object_get(root, "parameters"), out, err);
    }
    if (!s->started)
        return fail(s, err, "a %s message before open", type);
    if (strcmp(type, "ping") == 0)
        return ah_reply(s, "pong", NULL, out, err);
    if (strcmp(type, "close") == 0) {
        s->ended = true;
        out->events |= CW_WSMEDIA_ENDED;
        return ah_reply(s, "closed", NULL, out, err);
    }
    return CW_OK;
}

static int ah_feed(cw_wsmedia_session_t *s, bool binary, const uint8_t *data, size_t n, cw_wsmedia_result_t *out,
                   cw_error_t *err)
{
    if (binary) {
        if (!s->started)
            return fail(s, err, "binary audio (%zu bytes) before the open message", n);
        if (n % (size_t)s->channels != 0)
            return fail(s, err, "binary audio of %zu bytes is not whole %d-channel PCMU frames", n, s->channels);
        deinterleave_ulaw(s, data, n, out);
        return CW_OK;
    }
    json_t *root = parse_json(s, data, n, err);
    if (!root)
        return CW_ERR_FORMAT;
    int rc = ah_message(s, root, out, err);
    json_decref(root);
    return rc;
}

const char *cw_wsmedia_session_farewell(cw_wsmedia_session_t *s)
{
    if (s->protocol != CW_WSMEDIA_AUDIOHOOK || !s->failed || !s->session_id[0])
        return NULL;
    cw_wsmedia_result_t r;
    cw_error_t err;
    s->failed = false; /* ah_reply fails through fail(), which sets it again */
    json_t *params = json_pack("{s:s, s:s}", "reason", "error", "info", s->failure);
    int rc = ah_reply(s, "disconnect", params, &r, &err);
    s->failed = true;
    return rc == CW_OK ? r.reply : NULL;
}

/* ---- dispatch ------------------------------------------------------------------------ */

int cw_wsmedia_session_feed(cw_wsmedia_session_t *s, bool binary, const uint8_t *data, size_t n,
                            cw_wsmedia_result_t *out, cw_error_t *err)
{
    memset(out, 0, sizeof *out);
    if (s->failed)
        return cw_error_set(err, CW_ERR_FORMAT, "%s", s->failure);
    if (n > s->max_message)
        return fail(s, err, "a %s message of %zu bytes, over the maximum of %zu", binary ? "binary" : "text", n,
                    s->max_message);
    if (s->ended)
        return fail(s, err, "a %s message after the end of the stream", binary ? "binary" : "text");
    switch (s->protocol) {
    case CW_WSMEDIA_FREESWITCH: return fs_feed(s, binary, data, n, out, err);
    case CW_WSMEDIA_TWILIO: return twilio_feed(s, binary, data, n, out, err);
    default: return ah_feed(s, binary, data, n, out, err);
    }
}
