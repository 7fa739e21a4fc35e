/*
 * What runs underneath: which libtls the addon calls, which crypto library that libtls was built
 * on, and which one its OpenSSL calls really reach. Decided from the loaded objects (dladdr,
 * dlsym through libtls's own dependency scope), not from version strings compiled in.
 *
 * Why it matters: Node.js exports OpenSSL 3's symbols from its executable, and the dynamic linker
 * binds a shared libtls's unversioned OpenSSL calls to them. libretls is built on the same
 * OpenSSL 3 ABI, so that is harmless; a shared LibreSSL (libtls/libssl/libcrypto of another ABI)
 * would hand its own objects to Node's OpenSSL and fail or crash. Such a load is refused at
 * init with a message naming the remedy: LibreSSL linked into the addon with its symbols hidden
 * (`npm install --libtls_static=1`, binding.gyp's `libtls_static`).
 */
#include "addon.h"

#include <stdlib.h>
#include <string.h>

#if defined(__linux__) || defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) ||    \
    defined(__NetBSD__)
#include <dlfcn.h>
#define LT_HAVE_DLADDR 1
#endif

#ifdef LT_STATIC_TLS
/* linked in from libcrypto.a: these are the static library's own (hidden) definitions */
extern const char *OpenSSL_version(int t);
extern unsigned long OpenSSL_version_num(void);
#endif

typedef const char *(*version_text_fn)(int);
typedef unsigned long (*version_num_fn)(void);

typedef struct {
  const char *libtls_file;  /* the object tls_config_new comes from (NULL: unknown) */
  const char *crypto_file;  /* the object libtls's own OpenSSL_version_num comes from */
  const char *crypto_text;  /* OpenSSL_version(OPENSSL_VERSION) of libtls's own crypto library */
  unsigned long crypto_num; /* OpenSSL_version_num() of the same (0: unknown) */
  const char *reach_file;   /* the object a call to SSL_CTX_new by name reaches */
  const char *reach_text;   /* OpenSSL_version() of the library calls reach */
  unsigned long reach_num;  /* OpenSSL_version_num() of the same */
  bool linked_static;       /* libtls is part of the addon itself */
  bool reach_is_program;    /* calls reach the executable (Node's own OpenSSL) */
} lt_backend;

#ifdef LT_HAVE_DLADDR
static const char *object_of(const void *addr) {
  Dl_info di;
  if (addr == NULL || dladdr(addr, &di) == 0)
    return NULL;
  return di.dli_fname;
}

/* a function pointer as the data pointer dladdr/dlsym deal in (POSIX guarantees it round-trips) */
static void *fn_addr(void (*f)(void)) {
  void *p;
  memcpy(&p, &f, sizeof(p));
  return p;
}
#endif

static void probe(lt_backend *b) {
  memset(b, 0, sizeof(*b));
#ifdef LT_STATIC_TLS
  b->linked_static = true;
  b->crypto_text = OpenSSL_version(0);
  b->crypto_num = OpenSSL_version_num();
  b->reach_text = b->crypto_text;
  b->reach_num = b->crypto_num;
#endif
#ifdef LT_HAVE_DLADDR
  b->libtls_file = object_of(fn_addr((void (*)(void))tls_config_new));
  const char *self = object_of(fn_addr((void (*)(void))probe));
  if (b->libtls_file != NULL && self != NULL && strcmp(b->libtls_file, self) == 0)
    b->linked_static = true;
  if (b->linked_static) {
    b->crypto_file = b->reach_file = b->libtls_file;
    return;
  }
  /* libtls's own scope: the library and what it was linked against, in load order */
#ifdef RTLD_NOLOAD
  void *h = b->libtls_file ? dlopen(b->libtls_file, RTLD_LAZY | RTLD_NOLOAD) : NULL;
#else
  void *h = NULL;
#endif
  if (h != NULL) {
    void *num = dlsym(h, "OpenSSL_version_num");
    void *text = dlsym(h, "OpenSSL_version");
    b->crypto_file = object_of(num);
    version_num_fn nf;
    version_text_fn tf;
    if (num != NULL) {
      memcpy(&nf, &num, sizeof(nf));
      b->crypto_num = nf();
    }
    if (text != NULL) {
      memcpy(&tf, &text, sizeof(tf));
      b->crypto_text = tf(0);
    }
    dlclose(h);
  }
  /* the global scope: where libtls's calls by name are bound */
  void *num = dlsym(RTLD_DEFAULT, "OpenSSL_version_num");
  void *text = dlsym(RTLD_DEFAULT, "OpenSSL_version");
  void *ctx_new = dlsym(RTLD_DEFAULT, "SSL_CTX_new");
  b->reach_file = object_of(ctx_new);
  if (num != NULL) {
    version_num_fn nf;
    memcpy(&nf, &num, sizeof(nf));
    b->reach_num = nf();
  }
  if (text != NULL) {
    version_text_fn tf;
    memcpy(&tf, &text, sizeof(tf));
    b->reach_text = tf(0);
  }
  Dl_info di;
  void *main_prog = dlopen(NULL, RTLD_LAZY);
  void *napi = main_prog ? dlsym(main_prog, "napi_create_object") : NULL;
  if (ctx_new != NULL && napi != NULL && dladdr(napi, &di) != 0 && b->reach_file != NULL)
    b->reach_is_program = strcmp(di.dli_fname, b->reach_file) == 0;
  if (main_prog != NULL)
    dlclose(main_prog);
#endif
}

#ifdef __linux__
static bool is_libressl(const char *text) {
  return text != NULL && strncmp(text, "LibreSSL", 8) == 0;
}

/*
 * Whether libtls's calls reach a crypto library of another ABI than the one it was built on:
 * LibreSSL on one side and OpenSSL on the other, or OpenSSL of another major version.
 */
static bool mismatched(const lt_backend *b) {
  if (b->linked_static || b->crypto_file == NULL || b->reach_file == NULL)
    return false;
  if (strcmp(b->crypto_file, b->reach_file) == 0)
    return false;
  if (is_libressl(b->crypto_text) != is_libressl(b->reach_text))
    return true;
  return b->crypto_num != 0 && b->reach_num != 0 && (b->crypto_num >> 28) != (b->reach_num >> 28);
}
#endif

int lt_backend_check(napi_env env) {
#ifdef __linux__
  lt_backend b;
  probe(&b);
  if (!mismatched(&b))
    return 0;
  char msg[1024];
  snprintf(msg, sizeof(msg),
           "libtls: %s is built on %s (%s), but its OpenSSL calls would reach %s (%s), a "
           "library of another ABI; this addon refuses to run that way. Link the TLS library "
           "into the addon instead, with its symbols hidden: "
           "PKG_CONFIG_PATH=<prefix>/lib/pkgconfig npm install --libtls_static=1 "
           "(see docs/backends.md)",
           b.libtls_file, b.crypto_text ? b.crypto_text : "an unknown crypto library",
           b.crypto_file, b.reach_text ? b.reach_text : "another crypto library",
           b.reach_is_program ? "Node's own OpenSSL" : b.reach_file);
  napi_throw_error(env, "ERR_TLS_BACKEND_ABI", msg);
  return -1;
#else
  /* elsewhere (two-level namespaces, a base-system LibreSSL) libtls's calls stay its own */
  (void)env;
  return 0;
#endif
}

static int set_str(napi_env env, napi_value obj, const char *name, const char *s) {
  napi_value v = lt_string_or_null(env, s);
  if (v == NULL)
    return -1;
  NAPI_CALL_INT(env, napi_set_named_property(env, obj, name, v));
  return 0;
}

static int set_num(napi_env env, napi_value obj, const char *name, double d) {
  napi_value v;
  NAPI_CALL_INT(env, napi_create_double(env, d, &v));
  NAPI_CALL_INT(env, napi_set_named_property(env, obj, name, v));
  return 0;
}

static int set_bool(napi_env env, napi_value obj, const char *name, bool on) {
  napi_value v;
  NAPI_CALL_INT(env, napi_get_boolean(env, on, &v));
  NAPI_CALL_INT(env, napi_set_named_property(env, obj, name, v));
  return 0;
}

/* backendInfo(): the facts probe() found, for src/backend.ts */
static napi_value js_backend_info(napi_env env, napi_callback_info info) {
  lt_backend b;
  probe(&b);
  napi_value o;
  NAPI_CALL(env, napi_create_object(env, &o));
  TRY(set_str(env, o, "libtlsFile", b.libtls_file));
  TRY(set_str(env, o, "cryptoFile", b.crypto_file));
  TRY(set_str(env, o, "cryptoVersion", b.crypto_text));
  TRY(set_num(env, o, "cryptoVersionNumber", (double)b.crypto_num));
  TRY(set_str(env, o, "reachFile", b.reach_file));
  TRY(set_str(env, o, "reachVersion", b.reach_text));
  TRY(set_num(env, o, "reachVersionNumber", (double)b.reach_num));
  TRY(set_bool(env, o, "linkedStatically", b.linked_static));
  TRY(set_bool(env, o, "reachesProgram", b.reach_is_program));
#ifdef LT_LIBTLS_VERSION
  TRY(set_str(env, o, "libtlsVersion", LT_LIBTLS_VERSION));
#else
  TRY(set_str(env, o, "libtlsVersion", NULL));
#endif
  return o;
}

napi_status lt_backend_init(napi_env env, napi_value exports) {
  napi_property_descriptor fns[] = {EXPORT_FN("backend_info", js_backend_info)};
  return napi_define_properties(env, exports, 1, fns);
}
