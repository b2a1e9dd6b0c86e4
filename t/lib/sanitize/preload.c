/*
 * Preloaded into nginx by t/lib/sanitize/nginx (make test-asan).
 *
 * dlclose() keeps the library mapped: a worker unloads the module when it
 * exits (its cycle's pool cleanup), before LeakSanitizer's check at exit;
 * without this the module's frames in a leak report would have no name.
 *
 * UBSan reads its options when it first reports, in a worker, whose
 * environment nginx has emptied by then: UBSAN_OPTIONS is not seen, so
 * the options come from here.
 */

int dlclose(void *handle);
const char *__ubsan_default_options(void);


int
dlclose(void *handle)
{
    (void) handle;

    return 0;
}


const char *
__ubsan_default_options(void)
{
    return "print_stacktrace=1:halt_on_error=1";
}
