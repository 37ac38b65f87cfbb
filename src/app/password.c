/* password.c - reading passwords for `callwatch user` and `callwatch
 * console`: from a file, the environment or the terminal without echo, never
 * from the command line. See app.h. */
#include "app.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

bool app_read_line(FILE *f, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, f))
        return false;
    size_t n = strcspn(buf, "\r\n");
    if (buf[n] == '\0' && n + 1 >= cap)
        return false;
    buf[n] = '\0';
    return true;
}

bool app_prompt_password(const char *prompt, char *buf, size_t cap)
{
    struct termios old, quiet;
    /* On the terminal itself, as getpass(3) does, so a redirected stderr
     * does not swallow the question. */
    FILE *tty_out = fopen("/dev/tty", "w");
    FILE *out = tty_out ? tty_out : stderr;
    fputs(prompt, out);
    fflush(out);
    bool tty = tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    bool ok = app_read_line(stdin, buf, cap);
    if (tty)
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', out);
    if (tty_out)
        fclose(tty_out);
    return ok;
}

/* The first line of a password file that only its owner may read. */
static int password_from_file(const char *file, char *buf, size_t cap)
{
    FILE *f = fopen(file, "r");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        app_log("console: --password-file %s: %s", file, strerror(errno));
        if (f)
            fclose(f);
        return APP_USAGE;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        fclose(f);
        app_log("console: --password-file %s: others may read it (mode %03o); chmod 600 it", file,
                (unsigned)(st.st_mode & 0777));
        return APP_USAGE;
    }
    bool ok = app_read_line(f, buf, cap);
    fclose(f);
    if (!ok || !buf[0]) {
        buf[0] = '\0';
        app_log("console: --password-file %s: expected the password on its first line (1..%zu bytes)", file,
                cap - 2);
        return APP_USAGE;
    }
    return APP_OK;
}

int app_ack_password(const char *user, const char *file, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (file)
        return password_from_file(file, buf, cap);
    const char *env = getenv(APP_PASSWORD_ENV);
    if (env) {
        if (strlen(env) + 2 > cap) {
            app_log("console: $%s is longer than %zu bytes", APP_PASSWORD_ENV, cap - 2);
            return APP_USAGE;
        }
        snprintf(buf, cap, "%s", env);
        return APP_OK;
    }
    if (!isatty(STDIN_FILENO))
        return APP_OK;
    char prompt[160];
    snprintf(prompt, sizeof prompt, "password of %.64s for acknowledgements (Enter: none): ", user);
    if (!app_prompt_password(prompt, buf, cap))
        buf[0] = '\0';
    return APP_OK;
}
