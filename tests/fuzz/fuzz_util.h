/* tests/fuzz/fuzz_util.h: what every libFuzzer target here shares: the input as a C string, one
 * private temporary folder per process (under $TMPDIR, removed at exit), /dev/null as a stream. */
#ifndef BS_FUZZ_UTIL_H
#define BS_FUZZ_UTIL_H

#define _GNU_SOURCE 1
#include <errno.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop the process with a message: an invariant of the code under test is broken. libFuzzer
 * reports the abort as a crash and saves the input. */
#define FUZZ_CHECK(cond)                                                                     \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "%s:%d: fuzz check failed: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                         \
        }                                                                                    \
    } while (0)

/* A NUL-terminated copy of the input (malloc'd; a NUL inside ends the string early, as it does
 * for every C entry point under test). */
static inline char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static inline FILE *fuzz_devnull(void)
{
    static FILE *f;
    if (!f) {
        f = fopen("/dev/null", "w");
        if (!f)
            abort();
    }
    return f;
}

static int fuzz_rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Remove path and everything under it. */
static inline void fuzz_rm_rf(const char *path)
{
    nftw(path, fuzz_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char fuzz_tmp[4096];

static void fuzz_tmp_cleanup(void)
{
    if (fuzz_tmp[0])
        fuzz_rm_rf(fuzz_tmp);
}

/* The process's temporary folder, made on first use: $TMPDIR/bs-fuzz-XXXXXX (TMPDIR defaults to
 * /tmp). Removed when the process exits normally; the runner (run_fuzz.py) points TMPDIR at a
 * folder of its own and removes that too, so a crash leaves nothing behind either. */
static inline const char *fuzz_tmpdir(void)
{
    if (!fuzz_tmp[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(fuzz_tmp, sizeof fuzz_tmp, "%s/bs-fuzz-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(fuzz_tmp)) {
            perror("mkdtemp");
            abort();
        }
        atexit(fuzz_tmp_cleanup);
    }
    return fuzz_tmp;
}

/* Write data to path (truncating); abort on failure (the harness's own fault, not a finding). */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f)) {
        fprintf(stderr, "fuzz: cannot write %s: %s\n", path, strerror(errno));
        abort();
    }
}

/* The session's folders inside the temporary folder: $BACKSTEP_LESSON_DIR = TMP/lessons (written
 * to dir, which holds 4200 bytes) and $XDG_STATE_HOME = TMP, so no run touches the user's own. */
static inline const char *fuzz_session_dirs(char *dir, size_t n)
{
    const char *tmp = fuzz_tmpdir();
    snprintf(dir, n, "%s/lessons", tmp);
    mkdir(dir, 0700);
    setenv("BACKSTEP_LESSON_DIR", dir, 1);
    setenv("XDG_STATE_HOME", tmp, 1);
    return tmp;
}

#endif
