/* cmd_console.c - `callwatch console`: the supervisor's terminal board.
 *
 * Draws a cw_board_t (board.h) with ncurses. One thread, one loop every
 * LOOP_MS: drain the bus into the board, handle the ack channel's replies,
 * ping the daemon, draw, read a key.
 *
 * Connected or not: the console pings the daemon's ack endpoint every
 * PING_EVERY_S (acks.h); no reply for STALE_AFTER_S shows DISCONNECTED. A
 * ping needs no events to flow, so a quiet floor is not mistaken for a dead
 * daemon, and it works wherever the two endpoints are reachable (an SSH
 * tunnel included). ZeroMQ reconnects both sockets by itself; when the
 * daemon that answers is a new one (its instance changed), the calls on the
 * board are forgotten - they ended with the old daemon - and the feed stays.
 */
#include "app.h"

#include "callwatch/acks.h"
#include "callwatch/board.h"
#include "callwatch/bus.h"

#include <curses.h>
#include <getopt.h>
#include <sodium.h>
#include <jansson.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOOP_MS 100
#define PING_EVERY_S 1.0
#define STALE_AFTER_S 3.0
/* A request unanswered this long is given up (the daemon may be gone). */
#define REQUEST_GIVE_UP_S 2.0
/* Bus messages taken per loop, so a burst never freezes the keyboard. */
#define DRAIN_MAX 500
#define HEAT_BAR 10

enum { PAIR_CRIT = 1, PAIR_WARN, PAIR_INFO, PAIR_OK, PAIR_DOWN, PAIR_SEL };
enum focus { FOCUS_CALLS, FOCUS_FEED };
enum mode { MODE_BOARD, MODE_FILTER, MODE_NOTE, MODE_TRANSCRIPT, MODE_PASSWORD };
enum pending { PENDING_NONE, PENDING_PING, PENDING_ACK };

typedef struct console {
    cw_board_t *board;
    cw_bus_sub_t *sub;
    cw_ack_client_t *acks;
    const char *endpoint, *ack_endpoint, *user;
    char *password; /* "" = none: the daemon checks it when it has a users file; 'P' changes it */
    size_t password_cap;

    bool connected;
    bool calls_synced; /* the daemon's list of calls was read since (re)connecting */
    double last_pong_s, last_ping_s;
    char instance[160];
    enum pending pending;
    double pending_since_s;
    char pending_alert[CW_BOARD_ID_MAX];

    enum focus focus;
    enum mode mode;
    size_t sel_call, sel_alert;
    char transcript_call[CW_BOARD_ID_MAX];
    char input[256];
    size_t input_len;
    char message[512];
} console_t;

static void console_usage(FILE *out)
{
    fputs("usage: callwatch console [options]\n"
          "\n"
          "The supervisor's live board (a terminal UI; works over SSH): one row per\n"
          "call with its agent, duration, heat of each leg and worst unacknowledged alert,\n"
          "the most urgent first (ended calls greyed at the bottom for [console]\n"
          "keep_ended_s); the alert feed coloured by severity with the reason and the\n"
          "evidence. Keys:\n"
          "  Tab switch calls/alerts   j/k or arrows select   a acknowledge the alert\n"
          "  A acknowledge with a note   P type the password again\n"
          "  f filter (agent=ID team=NAME kind=KIND)   t transcript of the call   q quit\n"
          "\n"
          "options:\n"
          "  -c, --config FILE       take the endpoints from this configuration's [bus]\n"
          "  -e, --endpoint EP       bus to subscribe to (default: [bus] endpoint)\n"
          "      --ack-endpoint EP   daemon's ack endpoint (default: [bus] ack_endpoint)\n"
          "  -u, --user NAME         who acknowledges (default: $USER); the password is asked\n"
          "                          once on the terminal (no echo), or read from:\n"
          "      --password-file FILE  its first line (the file must be 0600), or\n"
          "                          $" APP_PASSWORD_ENV " (scripts); none = unverified, refused by\n"
          "                          a daemon with a users file ([web] users)\n"
          "      --filter TEXT       start with this filter, e.g. \"team=north\"\n"
          "  -h, --help              this help\n"
          "\n"
          "Without a terminal (scripts): acknowledge one alert and exit\n"
          "      --ack ALERT_ID      the alert's id (the \"id\" of its alert event)\n"
          "      --call CALL_ID      its call (needed with --ack)\n"
          "      --note TEXT         a note with the acknowledgement\n"
          "      --timeout SEC       give up after this long (default 5)\n"
          "  The daemon's (or broker's) answer is printed as JSON on stdout; exit 0 when\n"
          "  acknowledged, 1 when refused (the reason on stderr) or not answered.\n",
          out);
}

static int severity_pair(const char *sev)
{
    if (strcmp(sev, "critical") == 0)
        return PAIR_CRIT;
    if (strcmp(sev, "warning") == 0)
        return PAIR_WARN;
    return PAIR_INFO;
}

static void set_message(console_t *cs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_message(console_t *cs, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cs->message, sizeof cs->message, fmt, ap);
    va_end(ap);
}

/* A pong listing the daemon's calls: add the ones the board missed or knows
 * only from later events (they started before the console), drop the ones the daemon no longer has (they
 * ended while the console was cut off). Calls seen in the last seconds are
 * kept: their call_start may have raced the list. */
static void sync_calls(console_t *cs, json_t *calls, double now_s)
{
    size_t i;
    json_t *call;
    json_array_foreach(calls, i, call) {
        const char *id = json_string_value(json_object_get(call, "call_id"));
        const cw_board_call_t *known = id ? cw_board_find_call(cs->board, id) : NULL;
        /* A call first seen through its transcripts lacks agent and team. */
        if (!id || (known && known->agent_id[0]))
            continue;
        char *text = json_dumps(call, JSON_COMPACT);
        if (text)
            cw_board_apply(cs->board, "call", text, now_s);
        free(text);
    }
    for (size_t k = cw_board_n_calls_all(cs->board); k-- > 0;) {
        const cw_board_call_t *c = cw_board_call_all(cs->board, k);
        bool listed = false;
        json_array_foreach(calls, i, call) {
            const char *id = json_string_value(json_object_get(call, "call_id"));
            if (id && strcmp(id, c->call_id) == 0)
                listed = true;
        }
        if (!listed && !c->ended && now_s - c->first_seen_s > 5.0)
            cw_board_drop_call(cs->board, c->call_id);
    }
    cs->calls_synced = true;
}

/* Writes text at (y, x), cut to the screen width. */
static void put(int y, int x, const char *text)
{
    if (y < 0 || y >= LINES || x >= COLS)
        return;
    mvaddnstr(y, x, text, COLS - x);
}

static void putf(int y, int x, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void putf(int y, int x, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    put(y, x, buf);
}

static void heat_bar(double heat, char *out)
{
    int n = (int)(heat * HEAT_BAR + 0.5);
    for (int i = 0; i < HEAT_BAR; i++)
        out[i] = i < n ? '#' : '.';
    out[HEAT_BAR] = '\0';
}

static void draw_heat(int y, int x, double heat)
{
    char bar[HEAT_BAR + 1];
    heat_bar(heat, bar);
    int pair = heat >= 0.85 ? PAIR_CRIT : heat >= 0.6 ? PAIR_WARN : PAIR_OK;
    attron(COLOR_PAIR(pair));
    putf(y, x, "[%s]", bar);
    attroff(COLOR_PAIR(pair));
}

static void clock_text(double seen_s, double now_s, char *out, size_t cap)
{
    time_t t = time(NULL) - (time_t)(now_s - seen_s);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(out, cap, "%H:%M:%S", &tm);
}

static void draw_title(console_t *cs)
{
    attron(A_BOLD);
    putf(0, 0, "callwatch console  %s", cs->endpoint);
    attroff(A_BOLD);
    const char *state = cs->connected ? " CONNECTED " : " DISCONNECTED - reconnecting ";
    attron(COLOR_PAIR(cs->connected ? PAIR_OK : PAIR_DOWN) | A_BOLD);
    int x = COLS - (int)strlen(state) - 1;
    put(0, x > 0 ? x : 0, state);
    attroff(COLOR_PAIR(cs->connected ? PAIR_OK : PAIR_DOWN) | A_BOLD);
    /* Events this console never got (slow terminal, full queue): the board
     * may lack calls or alerts, and the supervisor must know. */
    char note[64];
    int n = cw_bus_missed_note(cw_bus_sub_missed(cs->sub), note, sizeof note);
    if (n > 0) {
        int mx = x - n - 2;
        attron(COLOR_PAIR(PAIR_WARN) | A_BOLD | A_REVERSE);
        putf(0, mx > 0 ? mx : 0, " %s ", note);
        attroff(COLOR_PAIR(PAIR_WARN) | A_BOLD | A_REVERSE);
    }
    const char *fa = cw_board_filter(cs->board, "agent"), *ft = cw_board_filter(cs->board, "team"),
               *fk = cw_board_filter(cs->board, "kind");
    if (fa[0] || ft[0] || fk[0])
        putf(1, 0, "filter:%s%s%s%s%s%s", fa[0] ? " agent=" : "", fa, ft[0] ? " team=" : "", ft,
             fk[0] ? " kind=" : "", fk);
}

/* The i-th call as the board shows it: most urgent first. */
static const cw_board_call_t *shown_call(const console_t *cs, size_t i)
{
    size_t n = cw_board_n_calls(cs->board);
    if (i >= n)
        return NULL;
    const cw_board_call_t **order = malloc(n * sizeof *order);
    if (!order)
        return cw_board_call(cs->board, i);
    const cw_board_call_t *c = i < cw_board_calls_by_urgency(cs->board, app_monotonic_s(), order, n) ? order[i] : NULL;
    free(order);
    return c;
}

static void draw_call_alert(int y, const cw_board_call_t *c, const cw_board_alert_t *worst)
{
    if (c->ended)
        put(y, 62, "(ended)");
    int x = c->ended ? 70 : 62;
    if (worst) {
        attron(COLOR_PAIR(severity_pair(worst->severity)));
        putf(y, x, "%s %s: %s", worst->severity, worst->kind, worst->text);
        attroff(COLOR_PAIR(severity_pair(worst->severity)));
    } else if (c->latest_kind[0]) {
        attron(A_DIM);
        putf(y, x, "(acknowledged) %s %s", c->latest_severity, c->latest_kind);
        attroff(A_DIM);
    }
}

static int draw_calls(console_t *cs, int y, int rows, double now_s)
{
    size_t n = cw_board_n_calls(cs->board);
    const cw_board_call_t **order = n ? malloc(n * sizeof *order) : NULL;
    n = order ? cw_board_calls_by_urgency(cs->board, now_s, order, n) : 0;
    attron(A_BOLD | (cs->focus == FOCUS_CALLS ? A_UNDERLINE : 0));
    putf(y++, 0, "CALLS (%zu)", n);
    attroff(A_BOLD | A_UNDERLINE);
    attron(A_DIM);
    putf(y++, 0, "  %-14s %-10s %6s  %-12s %-12s %s", "AGENT", "TEAM", "DUR", "AGENT HEAT", "CUST HEAT",
         "WORST UNACKNOWLEDGED ALERT");
    attroff(A_DIM);
    if (cs->sel_call >= n)
        cs->sel_call = n ? n - 1 : 0;
    size_t first = cs->sel_call >= (size_t)rows ? cs->sel_call - (size_t)rows + 1 : 0;
    for (size_t i = first; i < n && y < LINES && (int)(i - first) < rows; i++, y++) {
        const cw_board_call_t *c = order[i];
        bool sel = cs->focus == FOCUS_CALLS && i == cs->sel_call;
        int dur = (int)c->t;
        if (c->ended)
            attron(A_DIM);
        if (sel)
            attron(A_REVERSE);
        putf(y, 0, "%c %-14.14s %-10.10s %3d:%02d", sel ? '>' : ' ', c->agent_id[0] ? c->agent_id : "?", c->team,
             dur / 60, dur % 60);
        if (sel)
            attroff(A_REVERSE);
        draw_heat(y, 36, cw_board_heat(c, 0, now_s));
        draw_heat(y, 49, cw_board_heat(c, 1, now_s));
        draw_call_alert(y, c, cw_board_worst_unacked(cs->board, c->call_id));
        if (c->ended)
            attroff(A_DIM);
    }
    free(order);
    return y;
}

static void draw_feed(console_t *cs, int y, int bottom, double now_s)
{
    size_t n = cw_board_n_feed(cs->board);
    attron(A_BOLD | (cs->focus == FOCUS_FEED ? A_UNDERLINE : 0));
    putf(y++, 0, "ALERTS (%zu)", n);
    attroff(A_BOLD | A_UNDERLINE);
    if (cs->sel_alert >= n)
        cs->sel_alert = n ? n - 1 : 0;
    int per = 2;
    size_t rows = (size_t)((bottom - y) / per);
    size_t first = rows && cs->sel_alert >= rows ? cs->sel_alert - rows + 1 : 0;
    for (size_t i = first; i < n && y + 1 < bottom; i++) {
        const cw_board_alert_t *a = cw_board_feed(cs->board, i);
        bool sel = cs->focus == FOCUS_FEED && i == cs->sel_alert;
        char when[16];
        clock_text(a->seen_s, now_s, when, sizeof when);
        int pair = severity_pair(a->severity);
        attron(COLOR_PAIR(pair) | (sel ? A_REVERSE : 0) | (strcmp(a->severity, "critical") == 0 ? A_BOLD : 0));
        char acked[CW_BOARD_ID_MAX + 16] = "";
        if (a->acked)
            snprintf(acked, sizeof acked, "[ACK %s] ", a->acked_by);
        putf(y, 0, "%c %s %-8s %-11s %-12.12s %s%s", sel ? '>' : ' ', when, a->severity, a->kind,
             a->agent_id[0] ? a->agent_id : "?", acked, a->text);
        attroff(COLOR_PAIR(pair) | A_REVERSE | A_BOLD);
        attron(A_DIM);
        putf(y + 1, 4, "evidence: %s  (%s leg, %.1f-%.1f s, score %.2f)", a->evidence[0] ? a->evidence : "-", a->leg,
             a->t_start, a->t_end, a->score);
        attroff(A_DIM);
        y += per;
    }
}

#define SPOTTED "spotted: "
#define SPOTTED_LEN (sizeof SPOTTED - 1)

static void draw_transcript(console_t *cs)
{
    const cw_board_call_t *c = cw_board_find_call(cs->board, cs->transcript_call);
    attron(A_BOLD);
    putf(0, 0, "Transcript of %s (agent %s)   t or Esc: back", cs->transcript_call,
         c && c->agent_id[0] ? c->agent_id : "?");
    attroff(A_BOLD);
    if (!c) {
        put(2, 0, "(the call is no longer on the board)");
        return;
    }
    /* Lines are wrapped at spaces to the screen width and the newest rows
     * shown, so what the customer said last is always on screen. */
    enum { PREFIX = 21, MAX_ROWS = CW_BOARD_TRANSCRIPT_MAX * CW_BOARD_TEXT_MAX / 8 };
    static struct row {
        const cw_board_line_t *line;
        size_t off, len;
    } rows[MAX_ROWS];
    size_t n = cw_board_n_transcript(c), n_rows = 0;
    size_t full_width = COLS > PREFIX + 8 ? (size_t)(COLS - PREFIX) : 8;
    for (size_t i = 0; i < n; i++) {
        const cw_board_line_t *l = cw_board_transcript(c, i);
        /* Cue mode gives spotted phrases, not speech: said so, so "hell"
         * is not read as what the agent said. */
        size_t width = l->spotted && full_width > SPOTTED_LEN + 8 ? full_width - SPOTTED_LEN : full_width;
        size_t len = strlen(l->text), off = 0;
        do {
            size_t take = len - off;
            if (take > width) {
                size_t at = width;
                while (at > width / 2 && l->text[off + at] != ' ')
                    at--;
                take = l->text[off + at] == ' ' ? at : width;
            }
            if (n_rows < MAX_ROWS)
                rows[n_rows++] = (struct row){l, off, take};
            off += take;
            while (off < len && l->text[off] == ' ')
                off++;
        } while (off < len);
    }
    size_t visible = LINES > 3 ? (size_t)(LINES - 3) : 1;
    int y = 2;
    for (size_t r = n_rows > visible ? n_rows - visible : 0; r < n_rows; r++, y++) {
        const cw_board_line_t *l = rows[r].line;
        bool customer = strcmp(l->leg, "customer") == 0;
        if (customer)
            attron(A_BOLD);
        int x = PREFIX + (l->spotted ? SPOTTED_LEN : 0);
        if (rows[r].off == 0) {
            putf(y, 0, "[%7.1f s] %-8s ", l->t_start, l->leg);
            if (l->spotted) {
                attron(A_DIM);
                put(y, PREFIX, SPOTTED);
                attroff(A_DIM);
            }
        }
        if (x < COLS)
            mvaddnstr(y, x, l->text + rows[r].off, (int)rows[r].len);
        if (customer)
            attroff(A_BOLD);
    }
    if (n == 0)
        put(2, 0, "(no final transcript yet)");
}

static void draw(console_t *cs, double now_s)
{
    erase();
    if (cs->mode == MODE_TRANSCRIPT) {
        draw_transcript(cs);
        refresh();
        return;
    }
    draw_title(cs);
    int call_rows = (LINES - 6) / 3;
    if (call_rows < 1)
        call_rows = 1;
    int y = draw_calls(cs, 2, call_rows, now_s);
    draw_feed(cs, y + 1, LINES - 2, now_s);
    if (cs->mode == MODE_FILTER) {
        attron(A_BOLD);
        putf(LINES - 2, 0, "filter (agent=ID team=NAME kind=KIND; empty clears): %s_", cs->input);
        attroff(A_BOLD);
    } else if (cs->mode == MODE_NOTE) {
        attron(A_BOLD);
        putf(LINES - 2, 0, "note for the acknowledgement (Enter sends, Esc cancels): %s_", cs->input);
        attroff(A_BOLD);
    } else if (cs->mode == MODE_PASSWORD) {
        char stars[sizeof cs->input];
        memset(stars, '*', cs->input_len);
        stars[cs->input_len] = '\0';
        attron(A_BOLD);
        putf(LINES - 2, 0, "password of %s for acknowledgements (Enter sets, Esc cancels): %s_", cs->user, stars);
        attroff(A_BOLD);
    } else if (cs->message[0]) {
        put(LINES - 2, 0, cs->message);
    }
    attron(A_REVERSE);
    putf(LINES - 1, 0, " Tab calls/alerts  j/k select  a ack  A ack+note  f filter  t transcript  P password  q quit  (as %s) ",
         cs->user);
    attroff(A_REVERSE);
    refresh();
}

static void send_request(console_t *cs, const char *json, enum pending kind, double now_s)
{
    cw_error_t err;
    cw_error_clear(&err);
    if (cw_ack_client_send(cs->acks, json, &err) != CW_OK) {
        if (kind == PENDING_ACK)
            set_message(cs, "not acknowledged: %s (%s)", err.msg, cs->ack_endpoint);
        cs->pending = PENDING_NONE;
        return;
    }
    cs->pending = kind;
    cs->pending_since_s = now_s;
}

/* An ack request (password "" = none sent); malloc'd, NULL when a field is
 * not UTF-8 or out of memory. */
static char *ack_request_text(const char *call_id, const char *alert_id, const char *user, const char *password,
                              const char *note)
{
    json_t *req = json_pack("{s:s, s:s, s:s, s:s, s:s}", "type", "ack", "call_id", call_id, "alert_id", alert_id,
                            "by", user, "note", note ? note : "");
    if (req && password && password[0])
        json_object_set_new(req, "password", json_string(password));
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    return text;
}

/* How the daemon took an accepted ack's name: "supervisor, verified" or
 * "unverified: the daemon has no users file". */
static const char *ack_how(json_t *reply, char *buf, size_t cap)
{
    json_t *ack = json_object_get(reply, "ack");
    const char *role = json_string_value(json_object_get(ack, "role"));
    if (json_is_true(json_object_get(ack, "verified")) && role)
        snprintf(buf, cap, "%s, verified", role);
    else
        snprintf(buf, cap, "unverified: the daemon has no users file");
    return buf;
}

/* The alert the 'a' key means: the selected one in the feed, or the worst
 * unacknowledged alert of the selected call (the one its row shows). */
static const cw_board_alert_t *alert_to_ack(console_t *cs)
{
    if (cs->focus == FOCUS_FEED)
        return cw_board_feed(cs->board, cs->sel_alert);
    const cw_board_call_t *c = shown_call(cs, cs->sel_call);
    return c ? cw_board_worst_unacked(cs->board, c->call_id) : NULL;
}

/* note: "" for none. */
static void acknowledge(console_t *cs, const char *note, double now_s)
{
    const cw_board_alert_t *a = alert_to_ack(cs);
    if (!a) {
        set_message(cs, "nothing to acknowledge here");
        return;
    }
    if (cs->pending == PENDING_ACK) {
        set_message(cs, "still waiting for the daemon to confirm the last acknowledgement");
        return;
    }
    char *text = ack_request_text(a->call_id, a->id, cs->user, cs->password, note);
    if (!text) {
        set_message(cs, "out of memory");
        return;
    }
    snprintf(cs->pending_alert, sizeof cs->pending_alert, "%s", a->id);
    set_message(cs, "acknowledging %s ...", a->id);
    send_request(cs, text, PENDING_ACK, now_s);
    free(text);
}

static void handle_reply(console_t *cs, const char *reply, double now_s)
{
    json_t *r = json_loads(reply, 0, NULL);
    bool ok = json_is_true(json_object_get(r, "ok"));
    const char *type = json_string_value(json_object_get(r, "type"));
    if (ok && type && strcmp(type, "pong") == 0) {
        const char *inst = json_string_value(json_object_get(r, "instance"));
        if (inst && cs->instance[0] && strcmp(inst, cs->instance) != 0) {
            cw_board_forget_calls(cs->board);
            cs->calls_synced = false;
            set_message(cs, "the daemon restarted: its earlier calls were cleared from the board");
        }
        json_t *calls = json_object_get(r, "calls");
        if (json_is_array(calls))
            sync_calls(cs, calls, now_s);
        if (inst)
            snprintf(cs->instance, sizeof cs->instance, "%s", inst);
        cs->last_pong_s = now_s;
    } else if (cs->pending == PENDING_ACK) {
        char how[96];
        if (ok)
            set_message(cs, "acknowledged %s as %s (%s)", cs->pending_alert, cs->user, ack_how(r, how, sizeof how));
        else
            set_message(cs, "the daemon refused the acknowledgement: %s%s",
                        json_string_value(json_object_get(r, "error")) ? json_string_value(json_object_get(r, "error"))
                                                                       : reply,
                        strstr(reply, "password") ? " (P: type the password again)" : "");
        cs->last_pong_s = now_s;
    }
    cs->pending = PENDING_NONE;
    json_decref(r);
}

/* Whether a live call on the board is known only from later events: its
 * call_start went out before the subscription was up (a console started or
 * reconnected mid-call), so the daemon's list of calls must fill it in. */
static bool board_has_unnamed_call(const console_t *cs)
{
    for (size_t k = 0; k < cw_board_n_calls_all(cs->board); k++) {
        const cw_board_call_t *c = cw_board_call_all(cs->board, k);
        if (!c->ended && !c->agent_id[0])
            return true;
    }
    return false;
}

static void poll_daemon(console_t *cs, double now_s)
{
    cw_error_t err;
    cw_error_clear(&err);
    char *reply = NULL;
    if (cs->pending != PENDING_NONE && cw_ack_client_recv(cs->acks, &reply, 0, &err) == 1) {
        handle_reply(cs, reply, now_s);
        free(reply);
    }
    if (cs->pending != PENDING_NONE && now_s - cs->pending_since_s > REQUEST_GIVE_UP_S) {
        if (cs->pending == PENDING_ACK)
            set_message(cs, "no answer from the daemon: %s not acknowledged (try again)", cs->pending_alert);
        cs->pending = PENDING_NONE;
    }
    if (cs->pending == PENDING_NONE && now_s - cs->last_ping_s >= PING_EVERY_S) {
        cs->last_ping_s = now_s;
        bool want_calls = !cs->calls_synced || board_has_unnamed_call(cs);
        send_request(cs, want_calls ? "{\"type\":\"ping\",\"calls\":true}" : "{\"type\":\"ping\"}", PENDING_PING,
                     now_s);
    }
    bool was = cs->connected;
    cs->connected = cs->last_pong_s > 0 && now_s - cs->last_pong_s < STALE_AFTER_S;
    if (was && !cs->connected)
        cs->calls_synced = false; /* calls may end while we cannot hear */
}

static int drain_bus(console_t *cs, double now_s, cw_error_t *err)
{
    for (int i = 0; i < DRAIN_MAX; i++) {
        char topic[CW_TOPIC_MAX];
        char *json = NULL;
        int rc = cw_bus_sub_recv(cs->sub, topic, sizeof topic, &json, 0, err);
        if (rc <= 0)
            return rc;
        cw_board_apply(cs->board, topic, json, now_s);
        free(json);
    }
    return 0;
}

/* Leaves a line-input mode; what was typed is wiped (it may be a password). */
static void end_input(console_t *cs)
{
    sodium_memzero(cs->input, sizeof cs->input);
    cs->input_len = 0;
    cs->mode = MODE_BOARD;
}

/* Returns false to quit. */
static bool handle_key(console_t *cs, int ch, double now_s)
{
    if (cs->mode == MODE_FILTER || cs->mode == MODE_NOTE || cs->mode == MODE_PASSWORD) {
        if (ch == '\n' || ch == KEY_ENTER || ch == '\r') {
            if (cs->mode == MODE_PASSWORD) {
                snprintf(cs->password, cs->password_cap, "%s", cs->input);
                set_message(cs, cs->input_len ? "password set: the next acknowledgement sends it"
                                              : "password cleared: acknowledgements go unverified");
            } else if (cs->mode == MODE_NOTE)
                acknowledge(cs, cs->input, now_s);
            else if (cw_board_parse_filter(cs->board, cs->input) != 0)
                set_message(cs, "bad filter '%s': use agent=ID team=NAME kind=KIND", cs->input);
            else
                set_message(cs, cs->input_len ? "filter set" : "filter cleared");
            end_input(cs);
        } else if (ch == 27) {
            end_input(cs);
        } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
            if (cs->input_len)
                cs->input[--cs->input_len] = '\0';
        } else if (ch >= 0x20 && ch < 0x7f && cs->input_len + 1 < sizeof cs->input) {
            cs->input[cs->input_len++] = (char)ch;
            cs->input[cs->input_len] = '\0';
        }
        return true;
    }
    if (cs->mode == MODE_TRANSCRIPT) {
        if (ch == 't' || ch == 27 || ch == 'q')
            cs->mode = MODE_BOARD;
        return true;
    }
    size_t *sel = cs->focus == FOCUS_CALLS ? &cs->sel_call : &cs->sel_alert;
    switch (ch) {
    case 'q': return false;
    case '\t': cs->focus = cs->focus == FOCUS_CALLS ? FOCUS_FEED : FOCUS_CALLS; break;
    case 'j':
    case KEY_DOWN: (*sel)++; break;
    case 'k':
    case KEY_UP:
        if (*sel)
            (*sel)--;
        break;
    case 'a': acknowledge(cs, "", now_s); break;
    case 'A':
        cs->mode = MODE_NOTE;
        cs->input[0] = '\0';
        cs->input_len = 0;
        break;
    case 'f':
        cs->mode = MODE_FILTER;
        cs->input[0] = '\0';
        cs->input_len = 0;
        break;
    case 'P':
        cs->mode = MODE_PASSWORD;
        cs->input[0] = '\0';
        cs->input_len = 0;
        break;
    case 't': {
        const char *call_id = NULL;
        if (cs->focus == FOCUS_CALLS) {
            const cw_board_call_t *c = shown_call(cs, cs->sel_call);
            call_id = c ? c->call_id : NULL;
        } else {
            const cw_board_alert_t *a = cw_board_feed(cs->board, cs->sel_alert);
            call_id = a ? a->call_id : NULL;
        }
        if (call_id) {
            snprintf(cs->transcript_call, sizeof cs->transcript_call, "%s", call_id);
            cs->mode = MODE_TRANSCRIPT;
        } else {
            set_message(cs, "no call selected");
        }
        break;
    }
    default: break;
    }
    return true;
}

static void start_curses(void)
{
    initscr();
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    timeout(LOOP_MS);
    set_escdelay(50);
    if (has_colors()) {
        start_color();
        use_default_colors();
        init_pair(PAIR_CRIT, COLOR_RED, -1);
        init_pair(PAIR_WARN, COLOR_YELLOW, -1);
        init_pair(PAIR_INFO, COLOR_CYAN, -1);
        init_pair(PAIR_OK, COLOR_GREEN, -1);
        init_pair(PAIR_DOWN, COLOR_WHITE, COLOR_RED);
        init_pair(PAIR_SEL, COLOR_BLACK, COLOR_WHITE);
    }
}

/* What --ack and friends asked for. */
typedef struct cli_ack {
    const char *alert, *call, *note;
    double timeout_s;
} cli_ack_t;

/* `console --ack`: one acknowledgement, no terminal. */
static int ack_once(const cli_ack_t *a, const char *ack_ep, const char *user, const char *password,
                    const cw_curve_client_t *curve)
{
    char *text = ack_request_text(a->call, a->alert, user, password, a->note);
    if (!text) {
        app_log("console: --ack: cannot build the request (not UTF-8?)");
        return APP_USAGE;
    }
    cw_error_t err;
    cw_error_clear(&err);
    char *reply = NULL;
    int ms = (int)(a->timeout_s * 1000.0);
    int rc = app_ack_request(ack_ep, curve, text, &reply, ms, ms, &err);
    free(text);
    if (rc != CW_OK) {
        app_log("console: %s not acknowledged: %s", a->alert, err.msg);
        return APP_FAILURE;
    }
    printf("%s\n", reply);
    fflush(stdout);
    json_t *r = json_loads(reply, 0, NULL);
    bool ok = json_is_true(json_object_get(r, "ok"));
    const char *why = json_string_value(json_object_get(r, "error"));
    char how[96];
    if (ok)
        app_log("console: acknowledged %s of call %s as %s (%s; via %s)", a->alert, a->call, user,
                ack_how(r, how, sizeof how), ack_ep);
    else
        app_log("console: %s not acknowledged: %s", a->alert, why ? why : reply);
    json_decref(r);
    free(reply);
    return ok ? APP_OK : APP_FAILURE;
}

/* The options of the non-interactive mode: 0 = fine. */
static int check_cli_ack(const cli_ack_t *a)
{
    if (!a->alert && !a->call && !a->note)
        return APP_OK;
    if (!a->alert || !*a->alert || !a->call || !*a->call) {
        app_log("console: --ack ALERT_ID and --call CALL_ID go together (--note only with them)");
        return APP_USAGE;
    }
    if (strlen(a->alert) > CW_ACK_MAX_FIELD || strlen(a->call) > CW_ACK_MAX_FIELD ||
        (a->note && strlen(a->note) > CW_ACK_MAX_NOTE)) {
        app_log("console: --ack / --call longer than %d bytes, or --note longer than %d", CW_ACK_MAX_FIELD,
                CW_ACK_MAX_NOTE);
        return APP_USAGE;
    }
    if (!(a->timeout_s > 0 && a->timeout_s <= 3600)) {
        app_log("console: --timeout must be a number of seconds in (0, 3600]");
        return APP_USAGE;
    }
    return APP_OK;
}

typedef struct console_args {
    const char *config_path, *endpoint, *ack_endpoint, *filter, *user, *password_file;
    cli_ack_t cli;
} console_args_t;

/* -1 to go on, else the exit status (help printed, or a usage error). */
static int parse_console_args(int argc, char **argv, console_args_t *a)
{
    enum { OPT_ACK = 256, OPT_FILTER, OPT_ACK_ONE, OPT_CALL, OPT_NOTE, OPT_TIMEOUT, OPT_PASSWORD_FILE };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},  {"endpoint", required_argument, NULL, 'e'},
        {"ack-endpoint", required_argument, NULL, OPT_ACK}, {"user", required_argument, NULL, 'u'},
        {"filter", required_argument, NULL, OPT_FILTER}, {"help", no_argument, NULL, 'h'},
        {"ack", required_argument, NULL, OPT_ACK_ONE}, {"call", required_argument, NULL, OPT_CALL},
        {"note", required_argument, NULL, OPT_NOTE}, {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"password-file", required_argument, NULL, OPT_PASSWORD_FILE}, {NULL, 0, NULL, 0},
    };
    char *end = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:e:u:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': a->config_path = optarg; break;
        case 'e': a->endpoint = optarg; break;
        case OPT_ACK: a->ack_endpoint = optarg; break;
        case 'u': a->user = optarg; break;
        case OPT_FILTER: a->filter = optarg; break;
        case OPT_ACK_ONE: a->cli.alert = optarg; break;
        case OPT_CALL: a->cli.call = optarg; break;
        case OPT_NOTE: a->cli.note = optarg; break;
        case OPT_PASSWORD_FILE: a->password_file = optarg; break;
        case OPT_TIMEOUT:
            a->cli.timeout_s = strtod(optarg, &end);
            if (end == optarg || *end)
                a->cli.timeout_s = -1;
            break;
        case 'h': console_usage(stdout); return APP_OK;
        default: console_usage(stderr); return APP_USAGE;
        }
    }
    if (optind < argc) {
        app_log("console: unexpected argument '%s'", argv[optind]);
        return APP_USAGE;
    }
    return -1;
}

/* The console once its options are read (user and password settled). */
static int run_console(const console_args_t *args, const char *user, char *password, size_t cap)
{
    const char *config_path = args->config_path, *endpoint = args->endpoint, *ack_endpoint = args->ack_endpoint;
    const char *filter = args->filter;
    cli_ack_t cli = args->cli;
    cw_config_t *cfg = app_load_config(config_path, false);
    if (!cfg)
        return APP_USAGE;
    char ep[CW_PATH_MAX], ack_ep[CW_PATH_MAX];
    snprintf(ep, sizeof ep, "%s", endpoint ? endpoint : cfg->bus_endpoint);
    snprintf(ack_ep, sizeof ack_ep, "%s", ack_endpoint ? ack_endpoint : cfg->bus_ack_endpoint);
    console_t cs = {.endpoint = ep, .ack_endpoint = ack_ep, .user = user, .password = password, .password_cap = cap};
    cw_error_t err;
    cw_error_clear(&err);
    /* With [bus] curve = on the daemon admits only listed keys, on the bus
     * and the ack channel alike. */
    cw_curve_client_t *curve = NULL;
    if (app_bus_client(cfg, &curve, &err) != CW_OK) {
        app_log("console: %s", err.msg);
        cw_config_destroy(&cfg);
        return APP_USAGE;
    }
    int status = APP_OK;
    double keep_ended_s = cfg->console_keep_ended_s;
    cw_config_destroy(&cfg);
    if (cli.alert) {
        status = ack_once(&cli, ack_ep, user, password, curve);
        cw_curve_client_destroy(&curve);
        cw_bus_shutdown();
        return status;
    }
    cs.board = cw_board_new();
    if (cs.board)
        cw_board_set_linger(cs.board, keep_ended_s);
    if (!cs.board) {
        app_log("out of memory");
        cw_curve_client_destroy(&curve);
        return APP_FAILURE;
    }
    if (filter && cw_board_parse_filter(cs.board, filter) != 0) {
        app_log("console: --filter '%s': use agent=ID team=NAME kind=KIND", filter);
        cw_board_destroy(&cs.board);
        cw_curve_client_destroy(&curve);
        return APP_USAGE;
    }
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        app_log("console: needs a terminal (use `callwatch tap` to read events in a pipe)");
        cw_board_destroy(&cs.board);
        cw_curve_client_destroy(&curve);
        return APP_USAGE;
    }
    cs.sub = cw_bus_sub_new_secure(ep, "", curve, &err);
    if (cs.sub)
        cs.acks = cw_ack_client_new_secure(ack_ep, curve, &err);
    cw_curve_client_destroy(&curve);
    if (!cs.sub || !cs.acks) {
        app_log("console: %s", err.msg);
        status = APP_FAILURE;
        goto out;
    }
    app_install_signals();
    setlocale(LC_ALL, "");
    start_curses();
    while (!app_stop_requested) {
        double now = app_monotonic_s();
        if (drain_bus(&cs, now, &err) < 0) {
            endwin();
            app_log("console: %s", err.msg);
            status = APP_FAILURE;
            goto out;
        }
        poll_daemon(&cs, now);
        cw_board_tick(cs.board, now);
        draw(&cs, now);
        int ch = getch();
        if (ch != ERR && !handle_key(&cs, ch, now))
            break;
    }
    endwin();
out:
    cw_ack_client_destroy(&cs.acks);
    cw_bus_sub_destroy(&cs.sub);
    cw_board_destroy(&cs.board);
    cw_bus_shutdown();
    return status;
}

int cmd_console(int argc, char **argv)
{
    console_args_t args = {.user = getenv("USER"), .cli = {.timeout_s = 5.0}};
    int parsed = parse_console_args(argc, argv, &args);
    if (parsed >= 0)
        return parsed;
    const char *user = args.user;
    if (!user || !user[0])
        user = "supervisor";
    if (strlen(user) > CW_ACK_MAX_FIELD) {
        app_log("console: --user is longer than %d bytes", CW_ACK_MAX_FIELD);
        return APP_USAGE;
    }
    if (check_cli_ack(&args.cli) != APP_OK)
        return APP_USAGE;
    /* Asked once, before the screen is taken; wiped at exit. */
    static char password[CW_USER_PASSWORD_MAX + 2];
    if (app_ack_password(user, args.password_file, password, sizeof password) != APP_OK)
        return APP_USAGE;
    sodium_mlock(password, sizeof password); /* kept out of swap while it lives */
    int status = run_console(&args, user, password, sizeof password);
    sodium_munlock(password, sizeof password); /* wipes it too */
    return status;
}
