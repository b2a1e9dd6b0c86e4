/*
 * Runs a harness once on every file of the directories given: the
 * corpus and the reproducers of findings, as a regression test without
 * libFuzzer.  Prints "<dir...>: N inputs" and exits 0, or aborts at the
 * first finding (the harness prints it).
 */

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fuzz.h"


static int run_file(const char *path);
static void on_abort(int signo);


/* the input being run, named when a finding aborts the run */
static char  current[4096];


int
main(int argc, char **argv)
{
    int             i, n;
    char            path[4096];
    DIR            *dir;
    struct dirent  *de;

    n = 0;

    signal(SIGABRT, on_abort);

    for (i = 1; i < argc; i++) {
        dir = opendir(argv[i]);
        if (dir == NULL) {
            /* no reproducer yet: fuzz/regressions/<target> may be absent */
            continue;
        }

        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.') {
                continue;
            }

            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
            memcpy(current, path, sizeof(current));

            if (run_file(path) != 0) {
                closedir(dir);
                return 1;
            }

            n++;
        }

        closedir(dir);
    }

    printf("%s: %d inputs\n", argc > 1 ? argv[1] : "(none)", n);

    return 0;
}


static int
run_file(const char *path)
{
    FILE         *f;
    size_t        n;
    uint8_t      *buf;
    struct stat   st;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return 0;
    }

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return -1;
    }

    /* an exact allocation, so that ASan sees reads past the input */
    buf = malloc(st.st_size ? st.st_size : 1);
    if (buf == NULL) {
        fclose(f);
        return -1;
    }

    n = fread(buf, 1, st.st_size, f);
    fclose(f);

    if (n != (size_t) st.st_size) {
        fprintf(stderr, "%s: short read\n", path);
        free(buf);
        return -1;
    }

    LLVMFuzzerTestOneInput(buf, n);
    free(buf);

    return 0;
}


static void
on_abort(int signo)
{
    static const char  msg[] = "finding on input: ";

    (void) write(2, msg, sizeof(msg) - 1);
    (void) write(2, current, strlen(current));
    (void) write(2, "\n", 1);

    signal(signo, SIG_DFL);
    raise(signo);
}
