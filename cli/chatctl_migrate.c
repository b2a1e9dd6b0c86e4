
/*
 * chatctl migrate: applies the migrations of sql/ that a database has not
 * seen, as scripts/chat-migrate does: the version applied is the highest
 * in chat_schema_version (0 without the table), each newer NNN_*.sql is
 * run in its own transaction, in order, and inserts its own version.  A
 * session advisory lock serializes concurrent runs.
 */


#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "chatctl.h"


/* the advisory lock's key: "ngxchat" in ASCII */
#define NGX_CHATCTL_MIGRATE_LOCK  "31084486551839860"

#define NGX_CHATCTL_MIGRATIONS_MAX  1000


enum {
    NGX_CHATCTL_MIGRATE_DIR = 256,
    NGX_CHATCTL_MIGRATE_DRY_RUN
};


typedef struct {
    const char  *dir;
    int          dry_run;
} ngx_chatctl_migrate_t;


static const struct option  ngx_chatctl_migrate_options[] = {
    { "sql-dir", required_argument, NULL, NGX_CHATCTL_MIGRATE_DIR },
    { "dry-run", no_argument,       NULL, NGX_CHATCTL_MIGRATE_DRY_RUN },
    { NULL, 0, NULL, 0 }
};


static int ngx_chatctl_migrate_opt(void *ctx, int opt, const char *arg);
static int ngx_chatctl_migrate_dir(const char *given, char *dir,
    size_t size);
static int ngx_chatctl_migrate_list(const char *dir, char ***names);
static int ngx_chatctl_migrate_cmp(const void *a, const void *b);
static int ngx_chatctl_migrate_apply(PGconn *pg, const char *dir,
    const char *name);
static int ngx_chatctl_exec(PGconn *pg, const char *sql, const char *what);
static long ngx_chatctl_migrate_version(const char *name);


static int
ngx_chatctl_migrate_opt(void *ctx, int opt, const char *arg)
{
    ngx_chatctl_migrate_t  *m;

    m = ctx;

    if (opt == NGX_CHATCTL_MIGRATE_DIR) {
        m->dir = arg;
        return 1;
    }

    if (opt == NGX_CHATCTL_MIGRATE_DRY_RUN) {
        m->dry_run = 1;
        return 1;
    }

    return 0;
}


int
ngx_chatctl_cmd_migrate(ngx_chatctl_conf_t *cf, int argc, char **argv)
{
    int                       rc, i, n;
    long                      have;
    char                      dir[PATH_MAX], **names;
    PGconn                   *pg;
    PGresult                 *r;
    ngx_chatctl_migrate_t     m;
    const ngx_chatctl_cmd_t  *cmd;

    cmd = ngx_chatctl_command("migrate");
    memset(&m, 0, sizeof(ngx_chatctl_migrate_t));

    rc = ngx_chatctl_parse(cf, cmd, argc, argv, ngx_chatctl_migrate_options,
                           ngx_chatctl_migrate_opt, &m);
    if (rc < 0) {
        return ngx_chatctl_parse_exit(rc);
    }

    if (argc - rc != 1) {
        return ngx_chatctl_usage_error(cmd, "migrate takes one CONNINFO");
    }

    if (ngx_chatctl_migrate_dir(m.dir, dir, sizeof(dir)) != 0) {
        return ngx_chatctl_fail("usage", "no sql/ directory found: give "
                                "--sql-dir or CHATCTL_SQL_DIR");
    }

    n = ngx_chatctl_migrate_list(dir, &names);
    if (n < 0) {
        return NGX_CHATCTL_ERROR;
    }

    pg = PQconnectdb(argv[rc]);

    if (PQstatus(pg) != CONNECTION_OK) {
        rc = ngx_chatctl_fail("unavailable", "%s", PQerrorMessage(pg));
        goto done;
    }

    PQsetNoticeProcessor(pg, NULL, NULL);

    /* a run waits for another one to finish, then sees its version */

    rc = ngx_chatctl_exec(pg, "select pg_advisory_lock("
                          NGX_CHATCTL_MIGRATE_LOCK ")", "lock");
    if (rc != NGX_CHATCTL_OK) {
        goto done;
    }

    r = PQexec(pg, "select coalesce(max(version), 0) "
                   "from chat_schema_version");

    have = (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
           ? strtol(PQgetvalue(r, 0, 0), NULL, 10) : 0;
    PQclear(r);

    for (i = 0; i < n; i++) {
        if (ngx_chatctl_migrate_version(names[i]) <= have) {
            continue;
        }

        if (m.dry_run) {
            printf("chatctl: would apply %s\n", names[i]);
            continue;
        }

        rc = ngx_chatctl_migrate_apply(pg, dir, names[i]);
        if (rc != NGX_CHATCTL_OK) {
            goto done;
        }

        printf("chatctl: applied %s\n", names[i]);
    }

    rc = NGX_CHATCTL_OK;

done:

    PQfinish(pg);

    for (i = 0; i < n; i++) {
        free(names[i]);
    }

    free(names);

    return rc;
}


/* --sql-dir, CHATCTL_SQL_DIR, or ../sql from this binary (build/) */

static int
ngx_chatctl_migrate_dir(const char *given, char *dir, size_t size)
{
    char        exe[PATH_MAX], *slash;
    ssize_t     n;
    const char  *env;

    env = getenv("CHATCTL_SQL_DIR");

    if (given == NULL && env != NULL && *env) {
        given = env;
    }

    if (given != NULL) {
        snprintf(dir, size, "%s", given);
        return access(dir, R_OK | X_OK);
    }

    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0) {
        return -1;
    }

    exe[n] = '\0';

    slash = strrchr(exe, '/');
    if (slash == NULL) {
        return -1;
    }

    *slash = '\0';
    if (snprintf(dir, size, "%s/../sql", exe) >= (int) size) {
        return -1;
    }

    return access(dir, R_OK | X_OK);
}


/* the NNN_*.sql names of dir, sorted; their count, or -1 */

static int
ngx_chatctl_migrate_list(const char *dir, char ***names)
{
    int             n;
    DIR            *d;
    size_t          len;
    struct dirent  *e;

    d = opendir(dir);
    if (d == NULL) {
        ngx_chatctl_fail("internal", "%s: %s", dir, strerror(errno));
        return -1;
    }

    *names = calloc(NGX_CHATCTL_MIGRATIONS_MAX, sizeof(char *));
    n = 0;

    while (*names != NULL && (e = readdir(d)) != NULL
           && n < NGX_CHATCTL_MIGRATIONS_MAX)
    {
        len = strlen(e->d_name);

        if (len < 9 || strspn(e->d_name, "0123456789") != 3
            || e->d_name[3] != '_' || strcmp(e->d_name + len - 4, ".sql"))
        {
            continue;
        }

        (*names)[n] = strdup(e->d_name);

        if ((*names)[n] != NULL) {
            n++;
        }
    }

    closedir(d);

    if (*names == NULL) {
        ngx_chatctl_fail("internal", "out of memory");
        return -1;
    }

    qsort(*names, (size_t) n, sizeof(char *), ngx_chatctl_migrate_cmp);

    return n;
}


static int
ngx_chatctl_migrate_cmp(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


static long
ngx_chatctl_migrate_version(const char *name)
{
    return strtol(name, NULL, 10);
}


/* the file's statements in one transaction, as psql --single-transaction */

static int
ngx_chatctl_migrate_apply(PGconn *pg, const char *dir, const char *name)
{
    int       rc;
    char      path[PATH_MAX], *sql;
    long      size;
    FILE     *f;

    if (snprintf(path, sizeof(path), "%s/%s", dir, name)
        >= (int) sizeof(path))
    {
        return ngx_chatctl_fail("internal", "%s: path too long", name);
    }

    f = fopen(path, "r");
    if (f == NULL) {
        return ngx_chatctl_fail("internal", "%s: %s", path, strerror(errno));
    }

    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);

    sql = (size >= 0) ? malloc((size_t) size + 1) : NULL;

    if (sql == NULL || fread(sql, 1, (size_t) size, f) != (size_t) size) {
        fclose(f);
        free(sql);
        return ngx_chatctl_fail("internal", "%s: cannot read", path);
    }

    fclose(f);
    sql[size] = '\0';

    rc = ngx_chatctl_exec(pg, "begin", name);

    if (rc == NGX_CHATCTL_OK) {
        rc = ngx_chatctl_exec(pg, sql, name);
    }

    if (rc == NGX_CHATCTL_OK) {
        rc = ngx_chatctl_exec(pg, "commit", name);

    } else {
        (void) ngx_chatctl_exec(pg, "rollback", name);
    }

    free(sql);

    return rc;
}


static int
ngx_chatctl_exec(PGconn *pg, const char *sql, const char *what)
{
    int             rc;
    PGresult       *r;
    ExecStatusType  st;

    r = PQexec(pg, sql);
    st = PQresultStatus(r);

    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        rc = NGX_CHATCTL_OK;

    } else {
        rc = ngx_chatctl_fail("internal", "%s: %s", what,
                              PQerrorMessage(pg));
    }

    PQclear(r);

    return rc;
}
